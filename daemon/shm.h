/*
 * shm.h - the memory behind arena pages: sealed memfd segments.
 *
 * The only code in ofad that creates, checks, reopens or releases page
 * memory. A page is an anonymous memfd (memfd_create), backed in full, whose
 * size is sealed (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL): nobody holding
 * a descriptor of it can make it shorter (which would SIGBUS every process
 * that maps it) or longer (memory ofad would not count). It has no name in
 * any file system; it lives as long as some descriptor or mapping of it.
 *
 * Older versions of ofad named their segments "/ofa.<tag>.<arena>.<n>" in
 * /dev/shm (tag: 16 hex digits of FNV-1a-64 of the absolute socket path);
 * shm_sweep removes what such a version left behind.
 */
#ifndef OFAD_SHM_H
#define OFAD_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_TAG_LEN  16
#define SHM_NAME_MAX 128

/* The seals every page carries. */
#define SHM_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* tag = 16 lowercase hex digits of FNV-1a-64(path), NUL-terminated. */
void shm_tag(const char *abs_path, char tag[SHM_TAG_LEN + 1]);

/*
 * Creates a page of len bytes (a multiple of 4096, > 0): a close-on-exec
 * memfd labelled "ofa:<label>" (seen in /proc/PID/fd and /proc/PID/maps),
 * mode 0400 (no reopening read-write through /proc/PID/fd),
 * backed in full (so that no memory is missing when a client touches it
 * later: -ENOMEM now rather than SIGBUS then), then sealed with SHM_SEALS.
 * Returns the read-write fd; -ENOMEM when the memory cannot be backed
 * (RAM, the memory cgroup, RLIMIT_FSIZE); -EMFILE/-ENFILE (no descriptor);
 * -EINVAL (len); another -errno from memfd_create/ftruncate/fcntl. On
 * failure nothing is left. Blocking (fallocate of len bytes): called off the
 * event loop. Thread-safe.
 */
int shm_page_create(const char *label, uint64_t len);

/*
 * Checks that fd (e.g. handed back after a restart) is a page of len bytes:
 * a memfd of exactly len bytes opened read-write and carrying SHM_SEALS.
 * Returns 0 or -EINVAL (not such a page), -errno from fstat/fcntl.
 */
int shm_page_check(int fd, uint64_t len);

/*
 * A new read-only descriptor of the page fd (close-on-exec), reopened
 * through /proc/self/fd: a reader can map it PROT_READ only, and can neither
 * write it nor mprotect a mapping of it to PROT_WRITE. Returns the fd or
 * -errno (-EMFILE, -ENFILE, -ENOENT without /proc).
 */
int shm_page_reader(int fd);

/*
 * Releases a page: punches the whole of it (its memory goes back at once,
 * even while clients still hold descriptors or mappings of it), then closes
 * fd. A process that touches a stale mapping afterwards faults in fresh
 * zeroed memory charged to its own memory cgroup. Returns 0 or the -errno of
 * the punch (the fd is closed either way).
 */
int shm_page_release(int fd, uint64_t len);

/* Called by shm_sweep for a segment it could not remove. */
typedef void shm_sweep_fail_fn(void *ctx, const char *name, int err);

/*
 * Removes every segment of /dev/shm named "ofa.<tag>.*" (left by an older
 * ofad on the same socket); fail (may be NULL) hears of each one that could
 * not be removed (e.g. -EPERM: someone else's, under the sticky bit).
 * Returns how many were removed, or -errno if /dev/shm cannot be read.
 */
int shm_sweep(const char *tag, shm_sweep_fail_fn *fail, void *ctx);

#endif

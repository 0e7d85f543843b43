/*
 * shm.h - the shared-memory segments behind arena pages.
 *
 * The only code in ofad that creates, opens or removes segments. Segment
 * names are "/ofa.<tag>.<arena>.<n>": tag is the 16 hex digits of FNV-1a-64 of
 * the absolute socket path (one daemon per socket, so one tag per daemon), n a
 * number never reused while the daemon runs.
 */
#ifndef OFAD_SHM_H
#define OFAD_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_TAG_LEN  16
#define SHM_NAME_MAX 128

/* tag = 16 lowercase hex digits of FNV-1a-64(path), NUL-terminated. */
void shm_tag(const char *abs_path, char tag[SHM_TAG_LEN + 1]);

/* Writes "/ofa.<tag>.<arena>.<n>" into buf (SHM_NAME_MAX bytes). */
void shm_name(char *buf, const char *tag, const char *arena, uint64_t n);

/*
 * Creates segment name (it must not exist) of len bytes, mode 0600, backed in
 * full, then closes it: ofad never maps pages. Returns 0; -ENOMEM when the
 * file system cannot back it; -EEXIST; other -errno from shm_open/ftruncate.
 * On failure nothing is left behind.
 */
int shm_seg_create(const char *name, uint64_t len);

/* Opens name read-write or read-only, close-on-exec. Returns the fd or -errno. */
int shm_seg_open(const char *name, bool writable);

/* Removes name. Returns 0 or -errno (-ENOENT if already gone). */
int shm_seg_unlink(const char *name);

/* Removes every segment whose name starts with "ofa.<tag>.". Returns how
 * many were removed, or -errno if /dev/shm cannot be read. */
int shm_sweep(const char *tag);

/* Total size of the file system that holds the segments (/dev/shm), in
 * bytes. Returns 0 or -errno. */
int shm_fs_size(uint64_t *out);

#endif

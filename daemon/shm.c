/*
 * shm.c - creates, checks, reopens and releases the memory behind arena
 * pages.
 *
 * Owns: every memfd_create, fallocate and seal of ofad, the reader's
 * read-only reopening, the punch at release, and the sweep of segments older
 * versions left in /dev/shm. Called by arena.c (page creation runs on a
 * worker thread; the rest on the loop), main.c/server.c (sweep at start) and
 * the test harness (sweep).
 *
 * Security: a page has no name, so nobody can open, squat or pre-create it:
 * clients receive a descriptor over the socket (SCM_RIGHTS) after ofad
 * checked the arena's mode, and /proc/<ofad>/fd is closed to other users.
 * Writers get the read-write descriptor; readers a read-only one reopened
 * through /proc/self/fd, whose mappings can never be made writable; the
 * memfd's mode is 0400, so that a reader cannot reopen its descriptor
 * read-write through its own /proc/self/fd either. The
 * seals (SHM_SEALS) stop anyone, writers included, from changing the size;
 * they do not stop a writer from punching holes (FALLOC_FL_PUNCH_HOLE): that
 * only zeroes bytes the writer could overwrite anyway, and frees memory.
 *
 * Backing: a page is allocated in full before it is sealed, so that memory
 * missing (RAM, the memory cgroup) is an -ENOMEM for the allocating client
 * now rather than a SIGBUS for whichever process first touches the page.
 * Memory of a page is charged to the cgroup of the process that faulted it
 * in: ofad's for the backing, and after a release (punched) the cgroup of
 * whoever touches a stale mapping again.
 */
#include "shm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHM_DIR "/dev/shm"

void shm_tag(const char *abs_path, char tag[SHM_TAG_LEN + 1])
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (const unsigned char *p = (const unsigned char *)abs_path; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    snprintf(tag, SHM_TAG_LEN + 1, "%016llx", (unsigned long long)h);
}

int shm_page_create(const char *label, uint64_t len)
{
    char name[SHM_NAME_MAX];
    int fd, rc;

    if (len == 0 || len % 4096 != 0 || len > (uint64_t)INT64_MAX)
        return -EINVAL;
    snprintf(name, sizeof(name), "ofa:%s", label);
    fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    /* A memfd is created 0777: anyone holding a read-only descriptor could
     * reopen it read-write through /proc/self/fd. 0400 allows only the
     * read-only reopening (shm_page_reader), for ofad's user alone. */
    if (fchmod(fd, 0400) < 0 || ftruncate(fd, (off_t)len) < 0) {
        rc = errno == EFBIG ? -ENOMEM : -errno;
        goto fail;
    }
    do {
        rc = posix_fallocate(fd, 0, (off_t)len); /* returns an errno, not -1 */
    } while (rc == EINTR);
    if (rc != 0) {
        /* ENOSPC (memory cgroup or RAM) and EFBIG (RLIMIT_FSIZE) alike mean:
         * no memory for this page. */
        rc = (rc == ENOSPC || rc == EFBIG || rc == ENOMEM) ? -ENOMEM : -rc;
        goto fail;
    }
    if (fcntl(fd, F_ADD_SEALS, SHM_SEALS) < 0) {
        rc = -errno;
        goto fail;
    }
    return fd;

fail:
    close(fd); /* nobody else ever saw it: closing frees it all */
    return rc;
}

int shm_page_check(int fd, uint64_t len)
{
    struct stat st;
    int seals, fl;

    if (fstat(fd, &st) < 0)
        return -errno;
    seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0)
        return errno == EINVAL ? -EINVAL : -errno; /* EINVAL: not a memfd */
    fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != len || (seals & SHM_SEALS) != SHM_SEALS ||
        (fl & O_ACCMODE) != O_RDWR)
        return -EINVAL;
    return 0;
}

int shm_page_reader(int fd)
{
    char path[64];
    int rfd;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    rfd = open(path, O_RDONLY | O_CLOEXEC);
    return rfd < 0 ? -errno : rfd;
}

int shm_page_release(int fd, uint64_t len)
{
    int rc = 0;

    if (len > 0 && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)len) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int shm_sweep(const char *tag, shm_sweep_fail_fn *fail, void *ctx)
{
    char prefix[SHM_TAG_LEN + 8];
    char name[NAME_MAX + 2];
    struct dirent *e;
    size_t plen;
    DIR *d;
    int n = 0;

    plen = (size_t)snprintf(prefix, sizeof(prefix), "ofa.%s.", tag);
    d = opendir(SHM_DIR);
    if (d == NULL)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0)
            continue;
        snprintf(name, sizeof(name), "/%s", e->d_name);
        if (shm_unlink(name) == 0)
            n++;
        else if (errno != ENOENT && fail != NULL)
            fail(ctx, name, -errno);
    }
    closedir(d);
    return n;
}

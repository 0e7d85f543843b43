/*
 * shm.c - creates, opens and removes the POSIX shared-memory segments that
 * hold arena pages.
 *
 * Owns: every shm_open, ftruncate, posix_fallocate and shm_unlink of ofad,
 * and the segment naming scheme. Called by arena.c (create a page, open it to
 * pass its fd, remove it), by server.c (the sweep at start) and by main.c
 * (the size of /dev/shm).
 *
 * Security: segments are created 0600 by ofad's user, and fchmod'ed in case a
 * umask or an ACL default widened them; clients never open them by name but
 * receive a descriptor over the socket (SCM_RIGHTS), so the arena's own mode,
 * checked by ofad, is the only way in.
 *
 * Backing: a page is fully allocated with posix_fallocate when it is made, so
 * that a full /dev/shm is an -ENOMEM for the allocating client now rather
 * than a SIGBUS for whichever process first touches the page later.
 */
#include "shm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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

void shm_name(char *buf, const char *tag, const char *arena, uint64_t n)
{
    snprintf(buf, SHM_NAME_MAX, "/ofa.%s.%s.%llu", tag, arena, (unsigned long long)n);
}

int shm_seg_create(const char *name, uint64_t len)
{
    int fd, rc;

    if (len > (uint64_t)INT64_MAX)
        return -EINVAL;
    fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)len) < 0) {
        rc = errno == EFBIG || errno == ENOSPC ? -ENOMEM : -errno;
        goto fail;
    }
    do {
        rc = posix_fallocate(fd, 0, (off_t)len); /* returns an errno, not -1 */
    } while (rc == EINTR);
    if (rc != 0) {
        /* ENOSPC (tmpfs full) and EFBIG alike mean: no memory for this page. */
        rc = (rc == ENOSPC || rc == EFBIG || rc == ENOMEM) ? -ENOMEM : -rc;
        goto fail;
    }
    close(fd);
    return 0;

fail:
    /* Unlink before closing so that no one can open a half-made page. */
    shm_unlink(name);
    close(fd);
    return rc;
}

int shm_seg_open(const char *name, bool writable)
{
    int fd = shm_open(name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);

    return fd < 0 ? -errno : fd;
}

int shm_seg_unlink(const char *name)
{
    return shm_unlink(name) < 0 ? -errno : 0;
}

int shm_sweep(const char *tag)
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
    }
    closedir(d);
    return n;
}

int shm_fs_size(uint64_t *out)
{
    struct statvfs st;

    if (statvfs(SHM_DIR, &st) < 0)
        return -errno;
    *out = (uint64_t)st.f_blocks * st.f_frsize;
    return 0;
}

/*
 * wake.c - waiting for a 32-bit word of a block to change, and waking those
 * who wait: ofa_wait() and ofa_wake().
 *
 * Both are futex(2) calls on the word's address in this process's mapping
 * of the page, without the private flag: a MAP_SHARED mapping of a shared
 * segment gives every process the same futex key (the segment and the
 * word's place in it), whatever address each mapped it at, so a process
 * that waits here is woken by a FUTEX_WAKE on the same bytes anywhere.
 * The daemon takes no part: a wait and a wake cost one system call each.
 * FUTEX_WAIT only reads the word, so it works on a read-only mapping (a
 * reader's); FUTEX_WAKE does not touch it at all.
 *
 * Deadlines are absolute CLOCK_MONOTONIC times (FUTEX_WAIT_BITSET), so a
 * wait interrupted by a signal resumes with what is left of its timeout
 * instead of starting it again.
 *
 * ofa_wait_addr() and ofa_wake_addr() take an address this process holds
 * mapped (ofa_ptr, or better ofa_pin) instead of an offset: they touch no
 * arena and no connection, so a thread may wait while another uses the
 * connection (language bindings wait on their thread pools this way).
 *
 * Called by users. Resolving the offset (arena.c, ofa__addr) may ask the
 * daemon for the page the first time; after that no call leaves the
 * process but the futex itself.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

/* The word at off, mapped here: -EINVAL unless off is 4-byte aligned and
 * the word lies in a live page of a that this process can map. Connection
 * errors pass through (the page could not be asked for). */
static int word(ofa_arena *a, uint64_t off, uint32_t **out)
{
    void *p;
    int rc;

    if (a == NULL || out == NULL || off == 0 || (off & 3) != 0)
        return -EINVAL;
    rc = ofa__addr(a, off, sizeof(uint32_t), &p);
    if (rc == -ENOENT || rc == -EACCES || rc == -EBADF)
        rc = -EINVAL; /* no page of this arena that we can map holds it */
    if (rc < 0)
        return rc;
    *out = p;
    return 0;
}

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts, uint32_t val3)
{
    return syscall(SYS_futex, uaddr, op, val, ts, NULL, val3);
}

/* The wait itself, on a word mapped here. */
static int wait_word(uint32_t *w, uint32_t expected, int timeout_ms)
{
    struct timespec deadline;
    long r;

    if (timeout_ms == 0)
        return atomic_load_explicit((_Atomic uint32_t *)w, memory_order_acquire) == expected
                   ? -ETIMEDOUT
                   : -EAGAIN;
    if (timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    for (;;) {
        r = futex(w, FUTEX_WAIT_BITSET, expected, timeout_ms > 0 ? &deadline : NULL,
                  FUTEX_BITSET_MATCH_ANY);
        if (r == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == ETIMEDOUT)
            return -errno;
        return -EINVAL; /* EFAULT, EINVAL: not a word we may wait on */
    }
}

int ofa_wait(ofa_arena *a, uint64_t off, uint32_t expected, int timeout_ms)
{
    uint32_t *w;
    int rc;

    rc = word(a, off, &w);
    if (rc < 0)
        return rc;
    return wait_word(w, expected, timeout_ms);
}

int ofa_wait_addr(const void *addr, uint32_t expected, int timeout_ms)
{
    if (addr == NULL || ((uintptr_t)addr & 3) != 0)
        return -EINVAL;
    return wait_word((uint32_t *)addr, expected, timeout_ms);
}

/* The wake itself, on a word mapped here. */
static int wake_word(uint32_t *w, int count)
{
    long r;

    if (count == 0)
        return 0;
    r = futex(w, FUTEX_WAKE, (uint32_t)count, NULL, 0);
    if (r < 0)
        return -EINVAL;
    return (int)r;
}

int ofa_wake(ofa_arena *a, uint64_t off, int count)
{
    uint32_t *w;
    int rc;

    rc = word(a, off, &w);
    if (rc == 0 && count < 0)
        rc = -EINVAL;
    if (rc < 0)
        return rc;
    return wake_word(w, count);
}

int ofa_wake_addr(const void *addr, int count)
{
    if (addr == NULL || ((uintptr_t)addr & 3) != 0 || count < 0)
        return -EINVAL;
    return wake_word((uint32_t *)addr, count);
}

/*
 * ctl.c - an arena's control page: one 32-bit word per client cache, which
 * the cache reads on every call it serves without a round trip.
 *
 * Owns: one memfd of CTL_LEN bytes per arena (made when the first client
 * asks for a cache on it), mapped read-write here only. Clients get the
 * same descriptor and map it read-only: the memfd carries F_SEAL_SHRINK and
 * F_SEAL_GROW (nobody can resize it under a mapping, so nobody can make
 * anyone take SIGBUS) and F_SEAL_FUTURE_WRITE (no write(2), no new writable
 * mapping, no mprotect to writable, no hole punched; our own mapping, made
 * before the seal, keeps writing), then F_SEAL_SEAL.
 *
 * Words: word s is slot s's ticket while the slot is held (never 0), and 0
 * once it is revoked. A cache may serve while its word still holds the ticket
 * ofad gave it; ofad writes 0 before it answers the request that revokes
 * the handle (CLOSE, DROP of the arena, a session's end), so a client told
 * of the revocation through any later message already sees the 0. Tickets
 * count up from 1 and skip 0 when they wrap, so a slot reused by another
 * handle never shows an old owner its own ticket again (unless 2^32 slot
 * grants pass in between).
 *
 * Called by arena.c (the arena owns its page) and session.c (slots of
 * handles).
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

struct ctl {
    int fd;
    volatile uint32_t *words; /* CTL_SLOTS of them, mapped read-write here */
    uint32_t next_ticket;     /* never 0 */
    uint32_t nfree;           /* slots in free[] */
    uint32_t free[CTL_SLOTS]; /* free slots, a stack; slot 0 never in it */
};

int ctl_create(struct ctl **out)
{
    struct ctl *c;
    void *p;
    int rc;

    c = malloc(sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->fd = memfd_create("ofa-ctl", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (c->fd < 0) {
        rc = -errno;
        goto fail_free;
    }
    if (ftruncate(c->fd, CTL_LEN) < 0) {
        rc = -errno;
        goto fail_close;
    }
    p = mmap(NULL, CTL_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
    if (p == MAP_FAILED) {
        rc = -errno;
        goto fail_close;
    }
    if (fcntl(c->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) <
        0) {
        rc = -errno;
        goto fail_unmap;
    }
    c->words = p;
    c->next_ticket = 1;
    /* Lowest slots on top, so that a few handles touch one cache line. */
    c->nfree = 0;
    for (uint32_t s = CTL_SLOTS - 1; s >= 1; s--)
        c->free[c->nfree++] = s;
    *out = c;
    return 0;

fail_unmap:
    munmap(p, CTL_LEN);
fail_close:
    close(c->fd);
fail_free:
    free(c);
    return rc;
}

void ctl_destroy(struct ctl *c, bool revoke)
{
    if (c == NULL)
        return;
    for (uint32_t s = 0; revoke && s < CTL_SLOTS; s++)
        c->words[s] = 0;
    munmap((void *)c->words, CTL_LEN);
    close(c->fd);
    free(c);
}

int ctl_fd(const struct ctl *c)
{
    return c->fd;
}

int ctl_slot_get(struct ctl *c, uint32_t *slot, uint32_t *ticket)
{
    uint32_t s, t;

    if (c->nfree == 0)
        return -EMFILE;
    s = c->free[--c->nfree];
    t = c->next_ticket++;
    if (c->next_ticket == 0)
        c->next_ticket = 1;
    c->words[s] = t;
    *slot = s;
    *ticket = t;
    return 0;
}

void ctl_slot_put(struct ctl *c, uint32_t slot)
{
    if (slot == 0 || slot >= CTL_SLOTS)
        return;
    c->words[slot] = 0;
    c->free[c->nfree++] = slot;
}

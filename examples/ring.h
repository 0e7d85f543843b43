/*
 * ring.h - a single-producer, single-consumer ring of offsets in an ofa
 * arena, found by name and driven by futex wake-ups (ofa_wait/ofa_wake).
 *
 * The ring is one OFA_KEEP block bound to a name. Whoever comes first makes
 * it: it allocates the block, fills in an empty ring, and only then binds
 * the name (a name is visible as soon as it is bound, so binding last means
 * nobody sees a half-made ring). If the other side bound the name first,
 * the loser frees its block and uses the winner's. The other side looks the
 * name up, waiting for it if it comes first (ofa_lookup_wait).
 *
 * The producer writes an offset into the slot at head, then publishes it by
 * advancing head (a release store); the consumer reads slots up to head
 * (an acquire load) and advances tail. Each side sleeps on the other's
 * counter when it has nothing to do: the consumer on head when the ring is
 * empty, the producer on tail when it is full. A side announces that it is
 * about to sleep in a flag, and the other calls ofa_wake() only when it
 * sees the flag, so a busy ring costs no system call at all. Flag and
 * counter are each checked after the other is written, with a full fence
 * on both sides in between (the classic Dekker pattern), so a wake-up is
 * never lost: either the waker sees the flag, or the sleeper sees the new
 * counter before it sleeps, or the futex finds the counter changed
 * (-EAGAIN) and returns at once.
 *
 * Offset 0 is never a block: the producer pushes 0 to say it is done.
 *
 * Everything read from the shared block is written by another process and
 * is checked before use: a slot index is always taken modulo RING_SLOTS,
 * and a count above RING_SLOTS means a damaged ring (-EPROTO).
 */
#ifndef OFA_EXAMPLE_RING_H
#define OFA_EXAMPLE_RING_H

#include <errno.h>
#include <ofaclient.h>
#include <stddef.h>
#include <stdint.h>

#define RING_SLOTS 1024u /* a power of two */
#define RING_MAGIC 0x676e6972u

struct ring_shm {
    uint32_t magic;
    uint32_t slots;
    /* The producer writes head and prod_sleeping; the consumer tail and
     * cons_sleeping. Apart, so that the two sides do not share a line. */
    _Alignas(64) uint32_t head;
    uint32_t cons_sleeping;
    _Alignas(64) uint32_t tail;
    uint32_t prod_sleeping;
    _Alignas(64) uint64_t slot[RING_SLOTS];
};

/* One side's view of a ring. */
struct ring {
    ofa_arena *a;
    uint64_t off; /* of the ring_shm */
    struct ring_shm *r;
};

#define RING_WORD(rg, field) ((rg)->off + offsetof(struct ring_shm, field))

static inline uint32_t ring_load(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void ring_store(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/*
 * Finds the ring called name in a, or makes it. Returns 0; -EPROTO (the
 * name is bound to something that is not a ring); or an error of
 * libofaclient.
 */
static inline int ring_open(ofa_arena *a, const char *name, struct ring *rg)
{
    struct ring_shm *r;
    uint64_t off, size;
    int rc;

    rg->a = a;
    rc = ofa_lookup(a, name, &off, &size);
    if (rc == -ENOENT) {
        /* Make one, fill it in, then bind it. */
        rc = ofa_alloc_ex(a, sizeof(*r), 64, OFA_KEEP | OFA_ZERO, &off);
        if (rc < 0)
            return rc;
        r = ofa_ptr(a, off);
        if (r == NULL) {
            ofa_free(a, off);
            return -ENOMEM;
        }
        r->slots = RING_SLOTS;
        ring_store(&r->magic, RING_MAGIC);
        rc = ofa_name_bind(a, name, off);
        if (rc == -EEXIST) {
            /* The other side was quicker: use its ring. */
            ofa_free(a, off);
            rc = ofa_lookup(a, name, &off, &size);
        } else {
            size = sizeof(*r);
        }
    }
    if (rc < 0)
        return rc;
    if (size < sizeof(*r))
        return -EPROTO;
    r = ofa_ptr(a, off);
    if (r == NULL)
        return -EPROTO;
    if (ring_load(&r->magic) != RING_MAGIC || r->slots != RING_SLOTS)
        return -EPROTO;
    rg->off = off;
    rg->r = r;
    return 0;
}

/* Sleeps while *word holds seen, having announced it in *flag; returns at
 * once if *word moved meanwhile. 0 or an error of ofa_wait. */
static inline int ring_sleep(struct ring *rg, uint32_t *flag, uint64_t word_off,
                             const uint32_t *word, uint32_t seen)
{
    int rc = 0;

    __atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (ring_load(word) == seen) {
        rc = ofa_wait(rg->a, word_off, seen, -1);
        if (rc == -EAGAIN)
            rc = 0; /* it moved before we slept */
    }
    __atomic_store_n(flag, 0, __ATOMIC_RELAXED);
    return rc;
}

/* Wakes the other side if it said it sleeps on the word at word_off. */
static inline int ring_kick(struct ring *rg, const uint32_t *flag, uint64_t word_off)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(flag, __ATOMIC_SEQ_CST) == 0)
        return 0;
    return ofa_wake(rg->a, word_off, 1) < 0 ? -EINVAL : 0;
}

/* Producer: appends off (0: the end), sleeping while the ring is full.
 * 0, -EPROTO (a damaged ring), or an error of ofa_wait/ofa_wake. */
static inline int ring_push(struct ring *rg, uint64_t off)
{
    struct ring_shm *r = rg->r;
    uint32_t head = r->head, tail;
    int rc;

    for (;;) {
        tail = ring_load(&r->tail);
        if (head - tail > RING_SLOTS)
            return -EPROTO;
        if (head - tail < RING_SLOTS)
            break;
        rc = ring_sleep(rg, &r->prod_sleeping, RING_WORD(rg, tail), &r->tail, tail);
        if (rc < 0)
            return rc;
    }
    r->slot[head % RING_SLOTS] = off;
    ring_store(&r->head, head + 1);
    return ring_kick(rg, &r->cons_sleeping, RING_WORD(rg, head));
}

/* Consumer: takes the next offset into *off (0: the producer is done),
 * sleeping while the ring is empty. 0, -EPROTO, or an error of
 * ofa_wait/ofa_wake. */
static inline int ring_pop(struct ring *rg, uint64_t *off)
{
    struct ring_shm *r = rg->r;
    uint32_t tail = r->tail, head;
    int rc;

    for (;;) {
        head = ring_load(&r->head);
        if (head - tail > RING_SLOTS)
            return -EPROTO;
        if (head != tail)
            break;
        rc = ring_sleep(rg, &r->cons_sleeping, RING_WORD(rg, head), &r->head, head);
        if (rc < 0)
            return rc;
    }
    *off = __atomic_load_n(&r->slot[tail % RING_SLOTS], __ATOMIC_RELAXED);
    ring_store(&r->tail, tail + 1);
    return ring_kick(rg, &r->prod_sleeping, RING_WORD(rg, tail));
}

#endif

/*
 * cache.h - the per-handle cache of private blocks as arena.c sees it: the
 * structures, and the two short paths (take a cached block, put one back)
 * that ofa_alloc, ofa_alloc_ex and ofa_free run before anything else. They
 * are inline here, inside the library, so that the exported functions need
 * no call to get a cached block; nothing of this is in ofaclient.h (see
 * cache.c, "Fast path", for why). Never installed.
 */
#ifndef OFA_CLIENT_CACHE_H
#define OFA_CLIENT_CACHE_H

#include <stdint.h>

/* One private block the cache handed out or holds. Records never move
 * (they come in chunks), so stacks and the table point at them. */
struct ofa__blk {
    uint64_t off;
    /* Cached: the next block of its class's stack (NULL: the last).
     * Handed out: OFA__BLK_USED. Unused record: the next unused one. */
    struct ofa__blk *next;
    uint64_t unit; /* its part of the cache's level: OFA__LEVEL(its size, 1) */
    uint32_t cls;  /* its size is (cls + 1) << shift */
};

#define OFA__BLK_USED ((struct ofa__blk *)1)

/* The cache's level, bytes and blocks cached in one word that one add or
 * subtract keeps (bytes <= OFA__CACHE_BYTES_MAX, so blocks < 2^32). */
#define OFA__LEVEL(bytes, blocks) (((uint64_t)(bytes) << 32) | (uint64_t)(blocks))
#define OFA__LEVEL_BYTES(l)       ((l) >> 32)
#define OFA__LEVEL_BLOCKS(l)      ((l) & 0xffffffffu)
#define OFA__CACHE_BYTES_MAX      (1ull << 31)

struct ofa__blk_chunk;

struct ofa__cache {
    /* Read (and the counts written) by every cached call. */
    const volatile uint32_t *word; /* our word in the control page */
    uint32_t ticket;               /* its value while we may serve */
    uint32_t shift;                /* log2 of the arena's alignment */
    uint64_t lim;                  /* requests of 1..lim bytes are served; 0: no cache */
    uint32_t dflt;                 /* OFA_PRIVATE if the arena's default is private, else 0 */
    uint32_t mask;                 /* table size - 1 */
    struct ofa__blk **tab;         /* by offset, open addressing; NULL empty */
    uint64_t level;                /* cached now (not handed out): OFA__LEVEL */
    uint64_t lmax;                 /* OFA__LEVEL(the bound in bytes, 2^32 - 1) */
    /* Slow paths only. */
    void *ctl;          /* the control page's mapping */
    uint64_t max;       /* the bound: cache_max, at most OFA__CACHE_BYTES_MAX */
    uint32_t nclasses;  /* lim >> shift */
    uint32_t tab_n;     /* records in the table */
    struct ofa__blk *spare;        /* unused records */
    struct ofa__blk_chunk *chunks; /* where records live */
    struct ofa__blk *head[];       /* per class: its stack of cached blocks */
};

/* What a handle without a cache points at: lim 0 and a word that never
 * holds its ticket, so both short paths decline at their first test. */
extern struct ofa__cache ofa__cache_none;

static inline uint32_t ofa__cache_hash(uint64_t off)
{
    return (uint32_t)((off * 0x9e3779b97f4a7c15ull) >> 32);
}

/* A cached block of size bytes at the arena's alignment: 0 and *off; 1
 * when this path does not serve it (too large, an empty class, revoked, no
 * cache), and nothing changed. */
static inline int ofa__cache_take(struct ofa__cache *k, uint64_t size, uint64_t *off)
{
    uint64_t i = size - 1; /* size 0 wraps: declined */
    struct ofa__blk *b;

    if (__builtin_expect(i >= k->lim || *k->word != k->ticket, 0))
        return 1;
    i >>= k->shift;
    b = k->head[i];
    if (__builtin_expect(b == NULL, 0))
        return 1;
    k->head[i] = b->next;
    b->next = OFA__BLK_USED;
    k->level -= b->unit;
    *off = b->off;
    return 0;
}

/* Takes back a block the cache handed out: 0; 1 when this path does not
 * (not the cache's, a second free, the bound reached, revoked, no cache),
 * and nothing changed. */
static inline int ofa__cache_put(struct ofa__cache *k, uint64_t off)
{
    uint32_t i = ofa__cache_hash(off) & k->mask;
    struct ofa__blk *b;
    uint64_t level;

    if (__builtin_expect(*k->word != k->ticket, 0))
        return 1;
    while ((b = k->tab[i]) != NULL && b->off != off)
        i = (i + 1) & k->mask;
    if (__builtin_expect(b == NULL || b->next != OFA__BLK_USED, 0))
        return 1;
    level = k->level + b->unit;
    if (__builtin_expect(level > k->lmax, 0))
        return 1;
    b->next = k->head[b->cls];
    k->head[b->cls] = b;
    k->level = level;
    return 0;
}

#endif

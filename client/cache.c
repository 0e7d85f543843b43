/*
 * cache.c - the per-handle cache of private blocks: ofa_alloc and ofa_free
 * of small private blocks without a round trip.
 *
 * Why it may exist. Only the connection that allocated a private block may
 * free it (ofad refuses everyone else), so blocks this connection holds
 * but has not handed out cannot be taken from under it: the library may
 * keep them and hand them out again by itself. ofad still knows every
 * block: a cached block is a live private block of this handle's owner, so
 * ofad's metadata stays out of every client's reach, a kill -9 frees cached
 * and used blocks alike (ofad releases the owner), and bytes_live is what
 * ofad holds for this connection whether it is in use or cached.
 *
 * Design. One cache per writable handle, made at ofa_arena_open from the
 * terms the daemon gives in its CACHE reply (private default, cache_max,
 * a slot in the arena's control page):
 *  - Size classes: one per multiple of the arena's alignment up to
 *    OFA__CACHE_CLASS_MAX bytes (class k holds blocks of (k + 1) << shift
 *    bytes, the size ofad rounds a request of that class to), each a LIFO
 *    stack of block records linked through the records themselves. A
 *    request is served from class (size - 1) >> shift, so a cached block
 *    has exactly the size and alignment ofad would have given. Larger
 *    requests, and alignments above the arena's, take the daemon path
 *    (still private).
 *  - Records: every private block the cache has handed out or holds has a
 *    record (offset, class, its part of the level, and a link that is the
 *    next block of its stack while cached, OFA__BLK_USED while handed out).
 *    Records come in chunks and never move; an open-addressing table finds
 *    them by offset (Fibonacci hash, load at most 1/2, deletion by backward
 *    shift, no tombstones). Alloc pops a record (no hash); free looks the
 *    offset up once: USED goes back on its class's stack, a cached one is a
 *    second free (-EINVAL, nothing changes), and an offset without a record
 *    is not ours to judge and goes to ofad.
 *  - Level: bytes and blocks cached, in one 64-bit word (bytes in the high
 *    half), so that one add or subtract of the record's unit keeps both and
 *    one compare checks the bound; the cache's own bound is cache_max, or
 *    2 GiB if that is less.
 *  - Fill: an empty class asks ofad for a batch (FILL: private blocks of one
 *    size, about OFA__CACHE_FILL_BYTES of them beyond what the call takes,
 *    at most OFA__CACHE_FILL_MAX more), never beyond the bound; a cache that
 *    is full (of other classes) first gives half of itself back. Drain: when
 *    a free would take the cache over its bound, the colder half (the
 *    bottom) of the class stack that holds the most bytes goes back (DRAIN),
 *    again until the cache holds at most 7/8 of its bound. The fullest class
 *    is the one least likely to run empty soon, and a small step back keeps
 *    the rest: on a churn of random sizes over all classes this made 23 %
 *    fewer round trips than halves of every class in turn down to 3/4
 *    (bench/README.md). Both messages tell ofad the cache's level after
 *    them, which it shows as blocks_cached and bytes_cached.
 *  - Many: ofa_alloc_many takes its count from one class, filling what the
 *    class lacks in one FILL; all or none, as ALLOC_N.
 *  - Room and refusals: a FILL the daemon refuses (-ENOMEM, quotas, limits)
 *    sends the call down the daemon path, which makes the ALLOC or ALLOC_N
 *    the caller asked for, so errors are exactly the daemon path's; there an
 *    allocation that fails for lack of room (-ENOMEM) while the cache holds
 *    blocks gives all of them back and tries once more (arena.c).
 *  - Revocation: word `slot` of the arena's control page (read-only here)
 *    holds `ticket` while the cache may serve; ofad zeroes it when the
 *    handle is closed or revoked or the arena dropped, before it answers the
 *    request that did it. Every cached call reads the word first (one load
 *    and a compare); on a mismatch the cache is forgotten (its blocks died
 *    with the handle) and the call takes the daemon path, which reports what
 *    happened.
 *
 * Fast path. ofa_alloc, ofa_alloc_ex and ofa_free run ofa__cache_take and
 * ofa__cache_put (cache.h, inline) before anything else: the argument tests
 * the public contract needs, the control word, a shift for the class, a pop
 * or a push, the level; no lock, no call, no stack frame (the rest of each
 * function is out of line), no message on success. A handle without a
 * cache points at ofa__cache_none, whose tests fail at once, so there is no
 * NULL test either. callgrind: 34 instructions for a cached ofa_alloc_ex
 * and 34 for its ofa_free, 220 before this design (bench/README.md). The
 * target was under 40 for the pair; a static inline path in ofaclient.h
 * would save the calls and the tests of constant arguments: measured with
 * these two paths inlined into the same driver, 60 per pair with the loop
 * against 87, still not under 40, at the price of making struct ofa_arena
 * and this cache part of the ABI (every change to them a new soname, and
 * bindings that mirror the layout). Not worth that; the exported functions
 * stay opaque.
 *
 * Threads: as the whole library, one thread at a time per client and its
 * arenas (ofaclient.h), so the cache takes no lock; a program that shares
 * a client between threads already serialises its calls, and that covers
 * the cache.
 *
 * Bounds: bytes cached <= cache_max after every call (and so, for ofad, at
 * most cache_max per handle of each connection); records and table grow
 * with the private blocks this handle holds from the cache (in use or
 * not), a record 32 bytes and a table slot 8 to 16.
 *
 * Pages: blocks given back may empty a page, which ofad then releases; the
 * mapping here stays until ofa_ptr's next miss or ofa_arena_trim (arena.c)
 * finds it gone. This file calls only conn.c (ofa__call): it knows no
 * mappings, so OFA_ZERO's clearing is arena.c's.
 *
 * Called by arena.c: ofa__cache_open after OPEN; ofa__cache_take and
 * ofa__cache_put inline first on every alloc and free, ofa__cache_alloc and
 * ofa__cache_free when they decline; ofa__cache_drop at close and
 * disconnect.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client.h"

#define OFA__CACHE_CLASS_MAX  4096u  /* largest block size the cache keeps */
#define OFA__CACHE_FILL_BYTES 16384u /* what one FILL asks for, about */
#define OFA__CACHE_FILL_MAX   128u   /* most blocks in one FILL beyond the taken ones */
#define OFA__CACHE_DRAIN_MAX  256u   /* most blocks in one DRAIN */
#define OFA__CACHE_CTL_LEN    16384u /* the control page ofad passes */
#define OFA__CACHE_CHUNK      256u   /* records per chunk, at least */

/* Records come in chunks that never move. */
struct ofa__blk_chunk {
    struct ofa__blk_chunk *next;
    struct ofa__blk v[];
};

static const uint32_t never = 1; /* ofa__cache_none's word: never its ticket (0) */

struct ofa__cache ofa__cache_none = {.word = &never};

/* Table */

static void tab_put(struct ofa__cache *k, struct ofa__blk *b)
{
    uint32_t i = ofa__cache_hash(b->off) & k->mask;

    while (k->tab[i] != NULL)
        i = (i + 1) & k->mask;
    k->tab[i] = b;
    k->tab_n++;
}

static struct ofa__blk *tab_find(const struct ofa__cache *k, uint64_t off)
{
    struct ofa__blk *b;

    for (uint32_t i = ofa__cache_hash(off) & k->mask; (b = k->tab[i]) != NULL;
         i = (i + 1) & k->mask)
        if (b->off == off)
            return b;
    return NULL;
}

/* Removes b from the table: later records of its probe run move back into
 * the hole (no tombstones, so lookups stay short). */
static void tab_del(struct ofa__cache *k, const struct ofa__blk *b)
{
    uint32_t m = k->mask, hole = ofa__cache_hash(b->off) & m;

    while (k->tab[hole] != b)
        hole = (hole + 1) & m;
    for (uint32_t i = (hole + 1) & m; k->tab[i] != NULL; i = (i + 1) & m) {
        uint32_t home = ofa__cache_hash(k->tab[i]->off) & m;
        if (((i - home) & m) >= ((i - hole) & m)) {
            k->tab[hole] = k->tab[i];
            hole = i;
        }
    }
    k->tab[hole] = NULL;
    k->tab_n--;
}

/* Room for n more records: spare records and a table at most half full
 * after them. 0 or -ENOMEM (nothing changed that matters). */
static int room(struct ofa__cache *k, uint32_t n)
{
    uint32_t spare = 0, cap;

    for (struct ofa__blk *b = k->spare; b != NULL && spare < n; b = b->next)
        spare++;
    if (spare < n) {
        uint32_t add = n - spare < OFA__CACHE_CHUNK ? OFA__CACHE_CHUNK : n - spare;
        struct ofa__blk_chunk *c = malloc(sizeof(*c) + (size_t)add * sizeof(c->v[0]));
        if (c == NULL)
            return -ENOMEM;
        c->next = k->chunks;
        k->chunks = c;
        for (uint32_t i = 0; i < add; i++) {
            c->v[i].next = k->spare;
            k->spare = &c->v[i];
        }
    }
    if ((uint64_t)(k->tab_n + n) * 2 > (uint64_t)k->mask + 1) {
        struct ofa__blk **old = k->tab;
        uint32_t old_cap = k->mask + 1;
        cap = old_cap;
        while ((uint64_t)(k->tab_n + n) * 2 > cap)
            cap *= 2;
        k->tab = calloc(cap, sizeof(*k->tab));
        if (k->tab == NULL) {
            k->tab = old;
            return -ENOMEM;
        }
        k->mask = cap - 1;
        k->tab_n = 0;
        for (uint32_t i = 0; i < old_cap; i++)
            if (old[i] != NULL)
                tab_put(k, old[i]);
        free(old);
    }
    return 0;
}

/* A record for a block just filled, cached in class cls (room() made sure
 * there is one). */
static void rec_new(struct ofa__cache *k, uint64_t off, uint32_t cls)
{
    struct ofa__blk *b = k->spare;

    k->spare = b->next;
    b->off = off;
    b->cls = cls;
    b->unit = OFA__LEVEL((uint64_t)(cls + 1) << k->shift, 1);
    b->next = k->head[cls];
    k->head[cls] = b;
    tab_put(k, b);
    k->level += b->unit;
}

/* Forgets the record of a block that went back to ofad. */
static void rec_del(struct ofa__cache *k, struct ofa__blk *b)
{
    tab_del(k, b);
    b->next = k->spare;
    k->spare = b;
}

static void cache_destroy(struct ofa__cache *k)
{
    while (k->chunks != NULL) {
        struct ofa__blk_chunk *c = k->chunks;
        k->chunks = c->next;
        free(c);
    }
    free(k->tab);
    if (k->ctl != NULL)
        munmap(k->ctl, OFA__CACHE_CTL_LEN);
    free(k);
}

void ofa__cache_drop(struct ofa_arena *a)
{
    if (a->cache != &ofa__cache_none)
        cache_destroy(a->cache);
    a->cache = &ofa__cache_none;
}

int ofa__cache_open(struct ofa_arena *a)
{
    struct ofa__cache *k;
    struct proto_req req;
    struct proto_rep rep;
    uint32_t shift = 0, nclasses;
    void *ctl;
    int rc, fd = -1;

    a->cache = &ofa__cache_none;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_CACHE;
    req.u.cache.arena = a->handle;
    rc = ofa__call(a->c, &req, &rep, &fd);
    if (rc < 0)
        return a->c->broken ? rc : 0; /* no cache: the daemon path serves */
    while (shift < 12 && (1u << shift) < a->align)
        shift++;
    if (rep.u.cache.cache_max == 0 || rep.u.cache.slot == 0 ||
        rep.u.cache.slot >= OFA__CACHE_CTL_LEN / 4 || (1u << shift) != a->align) {
        close(fd);
        return 0;
    }
    ctl = mmap(NULL, OFA__CACHE_CTL_LEN, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (ctl == MAP_FAILED)
        return 0;
    nclasses = OFA__CACHE_CLASS_MAX >> shift;
    k = calloc(1, sizeof(*k) + nclasses * sizeof(k->head[0]));
    if (k == NULL)
        goto fail_unmap;
    k->ctl = ctl;
    k->word = (volatile const uint32_t *)ctl + rep.u.cache.slot;
    k->ticket = rep.u.cache.ticket;
    k->dflt = rep.u.cache.private_default ? OFA_PRIVATE : 0;
    k->shift = shift;
    k->lim = OFA__CACHE_CLASS_MAX;
    k->nclasses = nclasses;
    k->max = rep.u.cache.cache_max < OFA__CACHE_BYTES_MAX ? rep.u.cache.cache_max
                                                          : OFA__CACHE_BYTES_MAX;
    k->lmax = OFA__LEVEL(k->max, 0xffffffffu);
    /* A table from the start: lookups need no test for its absence. */
    k->tab = calloc(512, sizeof(*k->tab));
    if (k->tab == NULL)
        goto fail_free;
    k->mask = 511;
    a->cache = k;
    return 0;

fail_free:
    free(k);
fail_unmap:
    munmap(ctl, OFA__CACHE_CTL_LEN);
    return 0;
}

/* The handle was revoked or the arena dropped: forget everything (those
 * blocks went with it) and let the daemon path answer from now on. */
static __attribute__((noinline, cold)) void revoked(struct ofa_arena *a)
{
    ofa__cache_drop(a);
}

/* Sends one DRAIN of offs[0..n) with the cache's level after it. */
static int drain_send(struct ofa_arena *a, const uint64_t *offs, uint32_t n)
{
    struct proto_req req;
    struct proto_rep rep;

    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_DRAIN;
    req.u.drain.arena = a->handle;
    req.u.drain.blocks = OFA__LEVEL_BLOCKS(a->cache->level);
    req.u.drain.bytes = OFA__LEVEL_BYTES(a->cache->level);
    req.u.drain.offs = offs;
    req.u.drain.count = n;
    memset(&rep, 0, sizeof(rep));
    return ofa__call(a->c, &req, &rep, NULL);
}

/* Gives cached blocks back until at most target bytes are cached: the
 * colder half (the bottom) of the class stack holding the most bytes, at
 * least one block, then again; every block for target 0;
 * OFA__CACHE_DRAIN_MAX per DRAIN. 0 or the DRAIN's error (then the blocks of that DRAIN are
 * forgotten: a refusal means the handle is gone, and they with it). */
static int drain(struct ofa_arena *a, uint64_t target)
{
    struct ofa__cache *k = a->cache;
    uint64_t offs[OFA__CACHE_DRAIN_MAX];
    uint32_t n = 0;
    int rc;

    while (OFA__LEVEL_BYTES(k->level) > target) {
        struct ofa__blk **link, *b;
        uint64_t most = 0;
        uint32_t cls = 0, len = 0, keep;

        /* The class holding the most bytes: the one least likely to run
         * empty soon. Everything goes for target 0: any class will do. */
        for (uint32_t c = 0; c < k->nclasses && target == 0 && most == 0; c++) {
            if (k->head[c] != NULL) {
                most = 1;
                cls = c;
            }
        }
        for (uint32_t c = 0; c < k->nclasses && target > 0; c++) {
            uint32_t l = 0;
            for (b = k->head[c]; b != NULL; b = b->next)
                l++;
            if ((uint64_t)l * (c + 1) > most) {
                most = (uint64_t)l * (c + 1);
                cls = c;
                len = l;
            }
        }
        if (most == 0)
            break;
        link = &k->head[cls];
        keep = target == 0 ? 0 : len / 2;
        while (keep-- > 0)
            link = &(*link)->next;
        while ((b = *link) != NULL && OFA__LEVEL_BYTES(k->level) > target) {
            *link = b->next;
            offs[n++] = b->off;
            k->level -= b->unit;
            rec_del(k, b);
            if (n == OFA__CACHE_DRAIN_MAX) {
                rc = drain_send(a, offs, n);
                if (rc < 0)
                    return rc;
                n = 0;
            }
        }
    }
    return n > 0 ? drain_send(a, offs, n) : 0;
}

/* Makes room for a block of size bytes when the cache is full (of other
 * classes, as a rule): half of it goes back. 0 or the DRAIN's error. */
static int make_room(struct ofa_arena *a, uint64_t size)
{
    struct ofa__cache *k = a->cache;

    return OFA__LEVEL_BYTES(k->level) + size > k->max ? drain(a, k->max / 2) : 0;
}

/* Brings blocks of class cls from ofad: take of them, which the caller
 * pops at once together with held blocks the class holds already (neither
 * counts in the level the FILL reports), and up to a batch more for the
 * cache within its bound. 0 (the class then holds at least take + held
 * blocks), or the FILL's error, nothing changed; for a reply that is not
 * what was asked (-EPROTO) the connection is dropped, and the cache. */
static int fill(struct ofa_arena *a, uint32_t cls, uint32_t take, uint32_t held)
{
    struct ofa__cache *k = a->cache;
    uint64_t size = (uint64_t)(cls + 1) << k->shift, bytes = OFA__LEVEL_BYTES(k->level);
    struct proto_req req;
    struct proto_rep rep;
    uint32_t extra = 0, count;
    int rc;

    if (take <= OFA__CACHE_FILL_MAX) {
        extra = OFA__CACHE_FILL_BYTES / (uint32_t)size;
        if (extra > OFA__CACHE_FILL_MAX)
            extra = OFA__CACHE_FILL_MAX;
        extra = extra > take ? extra - take : 0;
        if (bytes + extra * size > k->max)
            extra = bytes < k->max ? (uint32_t)((k->max - bytes) / size) : 0;
    }
    count = take + extra;
    if (room(k, count) < 0)
        return -ENOMEM;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_FILL;
    req.u.fill.arena = a->handle;
    req.u.fill.size = size;
    req.u.fill.count = count;
    req.u.fill.blocks = OFA__LEVEL_BLOCKS(k->level) - held + extra;
    req.u.fill.bytes = bytes - held * size + extra * size;
    rc = ofa__call(a->c, &req, &rep, NULL);
    if (rc < 0)
        return rc;
    if (rep.u.list.count != count)
        goto fail_proto;
    for (uint32_t i = 0; i < count; i++) {
        /* Not a block, or one we hold already (earlier in this reply
         * too): the blocks before it are ours all the same. */
        if (rep.u.list.offs[i] == 0 || tab_find(k, rep.u.list.offs[i]) != NULL)
            goto fail_proto;
        rec_new(k, rep.u.list.offs[i], cls);
    }
    return 0;

fail_proto:
    /* Nothing the cache holds can be trusted after that. */
    ofa__broken(a->c, -EPROTO);
    ofa__cache_drop(a);
    return -EPROTO;
}

/* Whether the cache may serve size bytes at align with flags: 1 yes, 0 no
 * (the daemon path serves), after noticing a revocation. */
static int serves(struct ofa_arena *a, uint64_t size, uint64_t align, unsigned flags)
{
    struct ofa__cache *k = a->cache;

    if (k == &ofa__cache_none)
        return 0;
    if (*k->word != k->ticket) {
        revoked(a);
        return 0;
    }
    if ((flags & (OFA_KEEP | OFA_SHARED)) || !((flags | k->dflt) & OFA_PRIVATE))
        return 0;
    return size - 1 < k->lim && align <= a->align;
}

int ofa__cache_alloc(struct ofa_arena *a, uint64_t size, uint64_t align, unsigned flags,
                     uint32_t count, uint64_t *offs)
{
    struct ofa__cache *k;
    struct ofa__blk *b;
    uint32_t cls, have = 0;
    int rc;

    if (!serves(a, size, align, flags))
        return 1;
    k = a->cache;
    cls = (uint32_t)((size - 1) >> k->shift);
    for (b = k->head[cls]; b != NULL && have < count; b = b->next)
        have++;
    if (have < count) {
        rc = make_room(a, (uint64_t)(cls + 1) << k->shift);
        if (rc < 0)
            return rc;
        for (have = 0, b = k->head[cls]; b != NULL && have < count; b = b->next)
            have++;
    }
    if (have < count) {
        rc = fill(a, cls, count - have, have);
        /* The daemon path gives the answer ALLOC and ALLOC_N give (and
         * tries again once the cache is back, for -ENOMEM). */
        if (rc < 0)
            return a->c->broken ? rc : 1;
    }
    for (uint32_t i = 0; i < count; i++)
        if (ofa__cache_take(k, size, &offs[i]) != 0)
            return -EPROTO; /* cannot be: the class holds them */
    return 0;
}

int ofa__cache_free(struct ofa_arena *a, uint64_t off)
{
    struct ofa__cache *k = a->cache;
    struct ofa__blk *b;

    if (k == &ofa__cache_none)
        return 1;
    if (*k->word != k->ticket) {
        revoked(a);
        return 1;
    }
    b = tab_find(k, off);
    if (b == NULL)
        return 1; /* not ours to judge: ofad answers */
    if (b->next != OFA__BLK_USED)
        return -EINVAL; /* already freed: it sits in the cache */
    /* Over the bound as a rule (the short path declined): keep it, then
     * give the colder part back. */
    b->next = k->head[b->cls];
    k->head[b->cls] = b;
    k->level += b->unit;
    if (OFA__LEVEL_BYTES(k->level) > k->max)
        return drain(a, k->max / 8 * 7);
    return 0;
}

int ofa__cache_room(struct ofa_arena *a)
{
    struct ofa__cache *k = a->cache;

    if (k == &ofa__cache_none || k->level == 0)
        return 0;
    return drain(a, 0) == 0;
}

int ofa__cache_owns(const struct ofa_arena *a, uint64_t off)
{
    return a->cache != &ofa__cache_none && tab_find(a->cache, off) != NULL;
}

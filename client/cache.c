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
 *    bytes, the size ofad rounds a request of that class to), each a stack
 *    of entry indices. A request is served from class (size - 1) >> shift,
 *    so a cached block has exactly the size and alignment ofad would have
 *    given. Larger requests, and alignments above the arena's, take the
 *    daemon path (still private).
 *  - Entries: every private block the cache has handed out or holds has an
 *    entry (offset, class, state USED or CACHED) in an array whose indices
 *    never move, found by offset through an open-addressing table (load at
 *    most 1/2, deletion by backward shift, no tombstones). Alloc pops an
 *    index (no hash); free looks the offset up once: USED goes back on its
 *    class's stack, CACHED is a second free (-EINVAL, nothing changes), and
 *    an offset without an entry is not ours to judge and goes to ofad.
 *  - Fill: an empty class asks ofad for a batch (FILL: private blocks of one
 *    size, about OFA__CACHE_FILL_BYTES of them, 1 to OFA__CACHE_FILL_MAX),
 *    never beyond the bound. Drain: when a free takes the cache over
 *    cache_max, whole halves of class stacks go back (DRAIN) until it holds
 *    at most 3/4 of it. Both messages tell ofad the cache's level after
 *    them, which it shows as blocks_cached and bytes_cached.
 *  - Room: an allocation that fails for lack of room (-ENOMEM) while the
 *    cache holds blocks gives all of them back and tries once more.
 *  - Revocation: word `slot` of the arena's control page (read-only here)
 *    holds `ticket` while the cache may serve; ofad zeroes it when the
 *    handle is closed or revoked or the arena dropped, before it answers the
 *    request that did it. Every cached call reads the word first; on a
 *    mismatch the cache is forgotten (its blocks died with the handle) and
 *    the call takes the daemon path, which reports what happened.
 *
 * Bounds: bytes cached <= cache_max after every call (and so, for ofad, at
 * most cache_max per handle of each connection); a class stack never holds
 * more than cache_max / its block size + 1 entries; entries and table grow
 * with the private blocks this handle holds from the cache (in use or not).
 *
 * Pages: blocks given back may empty a page, which ofad then releases; the
 * mapping here stays until ofa_ptr's next miss or ofa_arena_trim (arena.c)
 * finds it gone. This file calls only conn.c (ofa__call): it knows no
 * mappings, so OFA_ZERO's clearing is arena.c's.
 *
 * Called by arena.c: ofa__cache_open after OPEN, ofa__cache_alloc and
 * ofa__cache_free first on every alloc and free, ofa__cache_drop at close and
 * disconnect. One thread at a time, as the whole client.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client.h"

#define OFA__CACHE_CLASS_MAX  4096u  /* largest block size the cache keeps */
#define OFA__CACHE_FILL_BYTES 16384u /* what one FILL asks for, about */
#define OFA__CACHE_FILL_MAX   128u   /* most blocks in one FILL */
#define OFA__CACHE_DRAIN_MAX  256u   /* most blocks in one DRAIN */
#define OFA__CACHE_CTL_LEN    16384u /* the control page ofad passes */

#define NIL     UINT32_MAX
#define E_USED  1u
#define E_CACHE 2u

struct entry {
    uint64_t off;
    uint32_t cls;   /* size class; next free entry while unused */
    uint32_t state; /* E_USED, E_CACHE, 0 unused */
};

struct stack {
    uint32_t *v; /* entry indices */
    uint32_t n, cap;
};

struct ofa__cache {
    volatile const uint32_t *word; /* our slot's word in the control page */
    uint32_t ticket;               /* its value while we may serve */
    void *ctl;                     /* the control page's mapping */
    int private_default;
    uint32_t shift;         /* log2 of the arena's alignment */
    uint32_t nclasses;      /* OFA__CACHE_CLASS_MAX >> shift */
    uint64_t max;           /* cache_max */
    uint64_t bytes, blocks; /* cached now (not handed out) */
    uint32_t rr;            /* class the next drain starts at */
    struct stack *cls;      /* nclasses of them */
    struct entry *ent;
    uint32_t ent_cap, ent_top, ent_free;
    uint32_t *tab; /* entry index + 1; 0 empty */
    uint32_t tab_cap, tab_n;
};

static inline uint32_t hash(uint64_t off, uint32_t cap)
{
    return (uint32_t)((off * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

static inline uint32_t lookup(const struct ofa__cache *k, uint64_t off)
{
    uint32_t m = k->tab_cap - 1;

    for (uint32_t i = hash(off, k->tab_cap);; i = (i + 1) & m) {
        uint32_t v = k->tab[i];
        if (v == 0)
            return NIL;
        if (k->ent[v - 1].off == off)
            return v - 1;
    }
}

static void tab_put(struct ofa__cache *k, uint32_t e)
{
    uint32_t m = k->tab_cap - 1, i = hash(k->ent[e].off, k->tab_cap);

    while (k->tab[i] != 0)
        i = (i + 1) & m;
    k->tab[i] = e + 1;
    k->tab_n++;
}

/* Removes entry e from the table: later entries of its probe run move
 * back into the hole. */
static void tab_del(struct ofa__cache *k, uint32_t e)
{
    uint32_t m = k->tab_cap - 1, hole = hash(k->ent[e].off, k->tab_cap);

    while (k->tab[hole] != e + 1)
        hole = (hole + 1) & m;
    for (uint32_t i = (hole + 1) & m; k->tab[i] != 0; i = (i + 1) & m) {
        uint32_t home = hash(k->ent[k->tab[i] - 1].off, k->tab_cap);
        if (((i - home) & m) >= ((i - hole) & m)) {
            k->tab[hole] = k->tab[i];
            hole = i;
        }
    }
    k->tab[hole] = 0;
    k->tab_n--;
}

/* Room for n more entries (array, free list and table). 0 or -ENOMEM. */
static int room(struct ofa__cache *k, uint32_t n)
{
    uint32_t avail = k->ent_cap - k->ent_top, cap;

    for (uint32_t f = k->ent_free; f != NIL && avail < n; f = k->ent[f].cls)
        avail++;
    if (avail < n) {
        struct entry *v;
        cap = k->ent_cap ? k->ent_cap : 256;
        while (cap - k->ent_top < n)
            cap *= 2;
        v = realloc(k->ent, (size_t)cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        k->ent = v;
        k->ent_cap = cap;
    }
    if ((uint64_t)(k->tab_n + n) * 2 > k->tab_cap) {
        uint32_t *old = k->tab, old_cap = k->tab_cap;
        cap = old_cap ? old_cap : 512;
        while ((uint64_t)(k->tab_n + n) * 2 > cap)
            cap *= 2;
        k->tab = calloc(cap, sizeof(*k->tab));
        if (k->tab == NULL) {
            k->tab = old;
            return -ENOMEM;
        }
        k->tab_cap = cap;
        k->tab_n = 0;
        for (uint32_t i = 0; i < old_cap; i++)
            if (old[i] != 0)
                tab_put(k, old[i] - 1);
        free(old);
    }
    return 0;
}

/* A new entry (room() made sure there is one). */
static uint32_t ent_new(struct ofa__cache *k, uint64_t off, uint32_t cls)
{
    uint32_t e;

    if (k->ent_free != NIL) {
        e = k->ent_free;
        k->ent_free = k->ent[e].cls;
    } else {
        e = k->ent_top++;
    }
    k->ent[e].off = off;
    k->ent[e].cls = cls;
    k->ent[e].state = E_CACHE;
    return e;
}

static void ent_del(struct ofa__cache *k, uint32_t e)
{
    tab_del(k, e);
    k->ent[e].state = 0;
    k->ent[e].cls = k->ent_free;
    k->ent_free = e;
}

static int stack_room(struct stack *s, uint32_t n)
{
    uint32_t cap;
    uint32_t *v;

    if (s->cap - s->n >= n)
        return 0;
    cap = s->cap ? s->cap : 16;
    while (cap - s->n < n)
        cap *= 2;
    v = realloc(s->v, (size_t)cap * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    s->v = v;
    s->cap = cap;
    return 0;
}

static inline uint64_t cls_size(const struct ofa__cache *k, uint32_t cls)
{
    return (uint64_t)(cls + 1) << k->shift;
}

static void cache_destroy(struct ofa__cache *k)
{
    for (uint32_t i = 0; i < k->nclasses; i++)
        free(k->cls[i].v);
    free(k->cls);
    free(k->ent);
    free(k->tab);
    if (k->ctl != NULL)
        munmap(k->ctl, OFA__CACHE_CTL_LEN);
    free(k);
}

void ofa__cache_drop(struct ofa_arena *a)
{
    if (a->cache != NULL) {
        cache_destroy(a->cache);
        a->cache = NULL;
    }
}

int ofa__cache_open(struct ofa_arena *a)
{
    struct ofa__cache *k;
    struct proto_req req;
    struct proto_rep rep;
    uint32_t shift = 0;
    void *ctl;
    int rc, fd = -1;

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
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        goto fail_unmap;
    k->ctl = ctl;
    k->word = (volatile const uint32_t *)ctl + rep.u.cache.slot;
    k->ticket = rep.u.cache.ticket;
    k->private_default = rep.u.cache.private_default != 0;
    k->shift = shift;
    k->nclasses = OFA__CACHE_CLASS_MAX >> shift;
    k->max = rep.u.cache.cache_max;
    k->ent_free = NIL;
    k->cls = calloc(k->nclasses, sizeof(*k->cls));
    if (k->cls == NULL)
        goto fail_free;
    /* A table from the start: lookups need no test for its absence. */
    k->tab_cap = 512;
    k->tab = calloc(k->tab_cap, sizeof(*k->tab));
    if (k->tab == NULL)
        goto fail_cls;
    a->cache = k;
    return 0;

fail_cls:
    free(k->cls);
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

/* Gives cached blocks back until at most target bytes are cached: halves of
 * class stacks (at least one block each), round robin, OFA__CACHE_DRAIN_MAX
 * per DRAIN. 0 or the DRAIN's error. */
static int drain(struct ofa_arena *a, uint64_t target)
{
    struct ofa__cache *k = a->cache;
    uint64_t offs[OFA__CACHE_DRAIN_MAX];
    struct proto_req req;
    struct proto_rep rep;
    uint32_t n, looked;
    int rc;

    while (k->bytes > target) {
        n = 0;
        for (looked = 0; looked < k->nclasses && n < OFA__CACHE_DRAIN_MAX && k->bytes > target;
             looked++) {
            struct stack *s = &k->cls[k->rr];
            uint32_t take = target == 0 ? s->n : (s->n + 1) / 2;
            while (take-- > 0 && n < OFA__CACHE_DRAIN_MAX) {
                uint32_t e = s->v[--s->n];
                offs[n++] = k->ent[e].off;
                k->bytes -= cls_size(k, k->rr);
                k->blocks--;
                ent_del(k, e);
            }
            if (s->n == 0 || n < OFA__CACHE_DRAIN_MAX)
                k->rr = (k->rr + 1) % k->nclasses;
        }
        memset(&req, 0, sizeof(req));
        req.op = PROTO_OP_DRAIN;
        req.u.drain.arena = a->handle;
        req.u.drain.blocks = k->blocks;
        req.u.drain.bytes = k->bytes;
        req.u.drain.offs = offs;
        req.u.drain.count = n;
        memset(&rep, 0, sizeof(rep));
        rc = ofa__call(a->c, &req, &rep, NULL);
        /* They were live private blocks of ours: a refusal means the
         * handle is gone, and they with it. */
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Fills class cls with a FILL. 0; 1 when the bound leaves no room for one
 * block of it (the caller takes the daemon path); or an error. */
static int fill(struct ofa_arena *a, uint32_t cls)
{
    struct ofa__cache *k = a->cache;
    uint64_t size = cls_size(k, cls);
    struct proto_req req;
    struct proto_rep rep;
    uint32_t count;
    int rc, retried = 0;

    count = OFA__CACHE_FILL_BYTES / (uint32_t)size;
    if (count < 1)
        count = 1;
    if (count > OFA__CACHE_FILL_MAX)
        count = OFA__CACHE_FILL_MAX;
    if (k->bytes + size > k->max) {
        rc = drain(a, k->max / 2);
        if (rc < 0)
            return rc;
    }
    if (k->bytes + size > k->max)
        return 1;
    if (k->bytes + count * size > k->max)
        count = (uint32_t)((k->max - k->bytes) / size);
    if (room(k, count) < 0 || stack_room(&k->cls[cls], count) < 0)
        return -ENOMEM;
again:
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_FILL;
    req.u.fill.arena = a->handle;
    req.u.fill.size = size;
    req.u.fill.count = count;
    /* The level once the allocation that asked for the fill has taken
     * its block. */
    req.u.fill.blocks = k->blocks + count - 1;
    req.u.fill.bytes = k->bytes + (count - 1) * size;
    rc = ofa__call(a->c, &req, &rep, NULL);
    if (rc == -ENOMEM && !retried && (k->blocks > 0 || count > 1)) {
        /* Our own cache may be what the arena lacks; and one block may
         * fit where a batch did not. */
        retried = 1;
        rc = drain(a, 0);
        if (rc < 0)
            return rc;
        count = 1;
        goto again;
    }
    if (rc < 0)
        return rc;
    if (rep.u.list.count != count)
        goto fail_proto;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t off = rep.u.list.offs[i];
        if (lookup(k, off) != NIL)
            goto fail_proto; /* a block we hold already */
        uint32_t e = ent_new(k, off, cls);
        tab_put(k, e);
        k->cls[cls].v[k->cls[cls].n++] = e;
    }
    k->blocks += count;
    k->bytes += count * size;
    return 0;

fail_proto:
    ofa__broken(a->c, -EPROTO);
    return -EPROTO;
}

/* Gives the block of entry e (in use) back to ofad at once. */
static int give(struct ofa_arena *a, uint32_t e)
{
    struct ofa__cache *k = a->cache;
    uint64_t off = k->ent[e].off;
    struct proto_req req;
    struct proto_rep rep;

    ent_del(k, e);
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_DRAIN;
    req.u.drain.arena = a->handle;
    req.u.drain.blocks = k->blocks;
    req.u.drain.bytes = k->bytes;
    req.u.drain.offs = &off;
    req.u.drain.count = 1;
    return ofa__call(a->c, &req, &rep, NULL);
}

int ofa__cache_alloc(struct ofa_arena *a, uint64_t size, unsigned flags, uint64_t *off)
{
    struct ofa__cache *k = a->cache;
    struct stack *s;
    uint32_t cls, e;
    int rc;

    if ((flags & (OFA_KEEP | OFA_SHARED)) || (!(flags & OFA_PRIVATE) && !k->private_default))
        return 1;
    if (size - 1 >= OFA__CACHE_CLASS_MAX) /* size 0 wraps: the daemon says -EINVAL */
        return 1;
    if (__builtin_expect(*k->word != k->ticket, 0)) {
        revoked(a);
        return 1;
    }
    cls = (uint32_t)((size - 1) >> k->shift);
    s = &k->cls[cls];
    if (__builtin_expect(s->n == 0, 0)) {
        rc = fill(a, cls);
        if (rc != 0)
            return rc;
    }
    e = s->v[--s->n];
    k->ent[e].state = E_USED;
    k->blocks--;
    k->bytes -= cls_size(k, cls);
    *off = k->ent[e].off;
    return 0;
}

int ofa__cache_free(struct ofa_arena *a, uint64_t off)
{
    struct ofa__cache *k = a->cache;
    struct entry *en;
    struct stack *s;
    uint32_t e;

    if (__builtin_expect(*k->word != k->ticket, 0)) {
        revoked(a);
        return 1;
    }
    e = lookup(k, off);
    if (e == NIL)
        return 1;
    en = &k->ent[e];
    if (en->state != E_USED)
        return -EINVAL; /* already freed: it sits in the cache */
    s = &k->cls[en->cls];
    if (__builtin_expect(s->n == s->cap, 0) && stack_room(s, 1) < 0)
        return give(a, e); /* no room to keep it */
    en->state = E_CACHE;
    s->v[s->n++] = e;
    k->blocks++;
    k->bytes += cls_size(k, en->cls);
    if (__builtin_expect(k->bytes > k->max, 0))
        return drain(a, k->max / 4 * 3);
    return 0;
}

int ofa__cache_room(struct ofa_arena *a)
{
    struct ofa__cache *k = a->cache;

    if (k == NULL || k->blocks == 0)
        return 0;
    return drain(a, 0) == 0;
}

int ofa__cache_owns(const struct ofa_arena *a, uint64_t off)
{
    return lookup(a->cache, off) != NIL;
}

/*
 * names.c - one arena's directory of names, and the lookups parked until a
 * name is bound.
 *
 * Owns: the entries (one malloc each, the name inline), two chained hash
 * tables over the same entries (by name for lookups and binds, by offset so
 * that freeing a block unbinds its names without a scan), and the list of
 * waiters. Called by arena.c (bind, unbind, free, drop) and session.c
 * (lookups, listings, parking a lookup).
 *
 * Both tables have cap buckets, a power of two, and grow by doubling when
 * count would pass cap (load <= 1), so a lookup, a bind, an unbind and the
 * unbinding of a freed block's names are O(1) expected. A block may carry
 * several names; a name is bound to one block.
 *
 * Waiters: a bind fires every waiter for its name. They are kept in one
 * list per arena and scanned on each bind (O(waiters)); each session parks
 * at most one request, so the list is bounded by the connections. A waiter
 * is unlinked before it is fired, so fire may not find itself listed.
 *
 * Per-uid counts (struct names_uids): one table for the whole daemon, which
 * every directory points to, so that a bound on the names one user binds
 * holds over all arenas. Every path that adds or removes an entry goes
 * through here (bind, unbind, the free of a block, the end of a
 * directory), so the counts follow the entries whoever the caller is. An
 * open-addressing table (linear probing, deletion by moving the following
 * entries back, load <= 1/2) keyed by uid: O(1) expected per bind and
 * unbind. A uid's entry is made by its first name and removed with its
 * last, so the table holds only uids that have names bound.
 *
 * Invariants: every entry is in exactly one by_name chain (the one of its
 * hash) and one by_off chain (the one of its offset); no two entries have
 * the same name; count is the number of entries. For every uid, its count
 * in uids is the number of entries with that uid over every directory that
 * shares the table; used is the number of slots with a count.
 */
#include "names.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NAMES_MIN_CAP 16u
#define UIDS_MIN_CAP  8u

/* FNV-1a: names are short and this is not exposed to an adversary who can
 * choose them to collide at will beyond the directory's own bound. */
static uint64_t name_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint32_t off_bucket(uint64_t off, uint32_t cap)
{
    /* Offsets are multiples of the arena's alignment: Fibonacci hashing
     * spreads their high bits. */
    return (uint32_t)((off * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

/* ---- per-uid counts ---- */

void names_uids_init(struct names_uids *t)
{
    memset(t, 0, sizeof(*t));
}

void names_uids_fini(struct names_uids *t)
{
    assert(t->used == 0);
    free(t->slots);
    names_uids_init(t);
}

/* Where uid's probe starts. Uids are small and dense: Fibonacci hashing
 * spreads them over the table. */
static uint32_t uid_home(uint32_t uid, uint32_t cap)
{
    return (uint32_t)(((uint64_t)uid * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

/* The slot holding uid, or the free slot that ends its probe.
 * pre: cap > 0 (load <= 1/2, so a free slot exists). */
static uint32_t uid_probe(const struct names_uids *t, uint32_t uid)
{
    uint32_t i = uid_home(uid, t->cap);

    while (t->slots[i].count != 0 && t->slots[i].uid != uid)
        i = (i + 1) & (t->cap - 1);
    return i;
}

uint32_t names_uid_count(const struct names_uids *t, uint32_t uid)
{
    return t->cap == 0 ? 0 : t->slots[uid_probe(t, uid)].count;
}

/* Makes room for one more uid, so that uids_add cannot fail. 0 or -ENOMEM
 * (then nothing changed). */
static int uids_reserve(struct names_uids *t)
{
    struct names_uid *v, *old = t->slots;
    uint32_t cap, oldcap = t->cap;

    if (2 * (t->used + 1) <= t->cap)
        return 0;
    cap = t->cap ? 2 * t->cap : UIDS_MIN_CAP;
    v = calloc(cap, sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    t->slots = v;
    t->cap = cap;
    for (uint32_t i = 0; i < oldcap; i++) {
        if (old[i].count != 0)
            v[uid_probe(t, old[i].uid)] = old[i];
    }
    free(old);
    return 0;
}

/* One more name for uid. pre: uids_reserve succeeded since the last add. */
static void uids_add(struct names_uids *t, uint32_t uid)
{
    struct names_uid *u = &t->slots[uid_probe(t, uid)];

    if (u->count == 0) {
        u->uid = uid;
        t->used++;
    }
    u->count++;
}

/* True when slot k lies in the cyclic range (i, j] of a table. */
static int cyclic_in(uint32_t i, uint32_t k, uint32_t j)
{
    return i <= j ? (i < k && k <= j) : (i < k || k <= j);
}

/* One name less for uid, whose entry goes with its last name: the entries
 * after it in its run move back so that no probe crosses a free slot. */
static void uids_sub(struct names_uids *t, uint32_t uid)
{
    uint32_t mask = t->cap - 1, i = uid_probe(t, uid), j = i;

    assert(t->slots[i].count > 0);
    if (--t->slots[i].count > 0)
        return;
    t->used--;
    for (;;) {
        j = (j + 1) & mask;
        if (t->slots[j].count == 0)
            break;
        /* An entry at j whose home lies outside (i, j] is still found
         * after moving to i; one whose home lies inside must stay. */
        if (!cyclic_in(i, uid_home(t->slots[j].uid, t->cap), j)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].count = 0;
}

/* ---- one directory ---- */

void names_init(struct names *n, struct names_uids *uids)
{
    memset(n, 0, sizeof(*n));
    n->uids = uids;
}

void names_fini(struct names *n)
{
    struct name_waiter *w;

    while ((w = n->waiters) != NULL) {
        names_wait_remove(n, w);
        w->fire(w, NULL, -ENOENT);
    }
    for (uint32_t i = 0; i < n->cap; i++) {
        struct name_ent *e = n->by_name[i], *next;
        for (; e != NULL; e = next) {
            next = e->next_name;
            uids_sub(n->uids, e->uid);
            free(e);
        }
    }
    free(n->by_name);
    free(n->by_off);
    names_init(n, n->uids);
}

const struct name_ent *names_find(const struct names *n, const char *name, size_t len)
{
    uint64_t h;

    if (n->cap == 0)
        return NULL;
    h = name_hash(name, len);
    for (const struct name_ent *e = n->by_name[h & (n->cap - 1)]; e != NULL; e = e->next_name)
        if (e->hash == h && e->len == len && memcmp(e->name, name, len) == 0)
            return e;
    return NULL;
}

/* Rehashes every entry into tables of cap buckets. 0 or -ENOMEM (then
 * nothing changed). */
static int grow(struct names *n, uint32_t cap)
{
    struct name_ent **bn = calloc(cap, sizeof(*bn)), **bo = calloc(cap, sizeof(*bo));

    if (bn == NULL || bo == NULL) {
        free(bn);
        free(bo);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < n->cap; i++) {
        struct name_ent *e = n->by_name[i], *next;
        for (; e != NULL; e = next) {
            uint32_t b = (uint32_t)(e->hash & (cap - 1)), o = off_bucket(e->off, cap);
            next = e->next_name;
            e->next_name = bn[b];
            bn[b] = e;
            e->next_off = bo[o];
            bo[o] = e;
        }
    }
    free(n->by_name);
    free(n->by_off);
    n->by_name = bn;
    n->by_off = bo;
    n->cap = cap;
    return 0;
}

int names_bind(struct names *n, const char *name, size_t len, uint64_t off, uint32_t uid,
               int32_t pid, uint32_t max, uint32_t max_uid)
{
    struct name_waiter *w, *next;
    struct name_ent *e;
    uint32_t b;
    int rc;

    if (names_find(n, name, len) != NULL)
        return -EEXIST;
    if (names_uid_count(n->uids, uid) >= max_uid)
        return -EDQUOT;
    if (n->count >= max)
        return -ENOMEM;
    if (n->count >= n->cap) {
        rc = grow(n, n->cap ? 2 * n->cap : NAMES_MIN_CAP);
        if (rc < 0)
            return rc;
    }
    /* Room for the uid first: past the entry's malloc nothing may fail. */
    rc = uids_reserve(n->uids);
    if (rc < 0)
        return rc;
    e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return -ENOMEM;
    e->hash = name_hash(name, len);
    e->off = off;
    e->uid = uid;
    e->pid = pid;
    e->len = (uint32_t)len;
    memcpy(e->name, name, len);
    e->name[len] = '\0';
    b = (uint32_t)(e->hash & (n->cap - 1));
    e->next_name = n->by_name[b];
    n->by_name[b] = e;
    b = off_bucket(off, n->cap);
    e->next_off = n->by_off[b];
    n->by_off[b] = e;
    n->count++;
    uids_add(n->uids, uid);

    for (w = n->waiters; w != NULL; w = next) {
        next = w->next;
        if (w->len == len && memcmp(w->name, name, len) == 0) {
            names_wait_remove(n, w);
            w->fire(w, e, 0);
        }
    }
    return 0;
}

/* Unlinks e from its by_off chain. */
static void off_unlink(struct names *n, const struct name_ent *e)
{
    struct name_ent **pp = &n->by_off[off_bucket(e->off, n->cap)];

    while (*pp != e)
        pp = &(*pp)->next_off;
    *pp = e->next_off;
}

int names_unbind(struct names *n, const char *name, size_t len)
{
    struct name_ent **pp, *e;
    uint64_t h;

    if (n->cap == 0)
        return -ENOENT;
    h = name_hash(name, len);
    for (pp = &n->by_name[h & (n->cap - 1)]; (e = *pp) != NULL; pp = &e->next_name) {
        if (e->hash == h && e->len == len && memcmp(e->name, name, len) == 0) {
            *pp = e->next_name;
            off_unlink(n, e);
            n->count--;
            uids_sub(n->uids, e->uid);
            free(e);
            return 0;
        }
    }
    return -ENOENT;
}

uint32_t names_unbind_off(struct names *n, uint64_t off)
{
    struct name_ent **pp, *e;
    uint32_t removed = 0;

    if (n->count == 0)
        return 0;
    pp = &n->by_off[off_bucket(off, n->cap)];
    while ((e = *pp) != NULL) {
        if (e->off != off) {
            pp = &e->next_off;
            continue;
        }
        *pp = e->next_off;
        {
            struct name_ent **np = &n->by_name[e->hash & (n->cap - 1)];
            while (*np != e)
                np = &(*np)->next_name;
            *np = e->next_name;
        }
        n->count--;
        uids_sub(n->uids, e->uid);
        removed++;
        free(e);
    }
    return removed;
}

int names_each(const struct names *n, names_each_fn *fn, void *ctx)
{
    int rc;

    for (uint32_t i = 0; i < n->cap; i++)
        for (const struct name_ent *e = n->by_name[i]; e != NULL; e = e->next_name)
            if ((rc = fn(ctx, e)) != 0)
                return rc;
    return 0;
}

void names_wait_add(struct names *n, struct name_waiter *w)
{
    w->prev = NULL;
    w->next = n->waiters;
    if (n->waiters != NULL)
        n->waiters->prev = w;
    n->waiters = w;
    n->nwaiters++;
}

void names_wait_remove(struct names *n, struct name_waiter *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        n->waiters = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    n->nwaiters--;
}

/*
 * oracle.c - the simple model of free space (see oracle.h).
 *
 * Pages: an array sorted by base. Free chunks: per page, an array of
 * (off, size) sorted by off, with no two chunks touching (they are merged).
 * Any allocation failure of the model itself aborts: it is test code.
 */
#include "oracle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ochunk {
    uint64_t off, size;
};

struct opage {
    uint64_t base, len;
    struct ochunk *c; /* free chunks, sorted */
    size_t n, cap;
};

struct oracle {
    uint32_t align;
    struct opage *p;
    size_t np, pcap;
};

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) {
        fprintf(stderr, "oracle: out of memory\n");
        abort();
    }
    return p;
}

/* Inserts a chunk at index i of a sorted array. */
static void arr_insert(struct ochunk **a, size_t *n, size_t *cap, size_t i, uint64_t off,
                       uint64_t size)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *a = xrealloc(*a, *cap * sizeof(**a));
    }
    memmove(&(*a)[i + 1], &(*a)[i], (*n - i) * sizeof(**a));
    (*a)[i] = (struct ochunk){off, size};
    (*n)++;
}

static void arr_remove(struct ochunk *a, size_t *n, size_t i)
{
    memmove(&a[i], &a[i + 1], (*n - i - 1) * sizeof(*a));
    (*n)--;
}

/* Number of entries with off <= x (so the one before it is the floor). */
static size_t arr_upper(const struct ochunk *a, size_t n, uint64_t x)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (a[mid].off <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct oracle *oracle_new(uint32_t align)
{
    struct oracle *o = xrealloc(NULL, sizeof(*o));

    memset(o, 0, sizeof(*o));
    o->align = align;
    return o;
}

void oracle_delete(struct oracle *o)
{
    size_t i;

    if (o == NULL)
        return;
    for (i = 0; i < o->np; i++)
        free(o->p[i].c);
    free(o->p);
    free(o);
}

/* The page holding off, or NULL. */
static struct opage *page_of(const struct oracle *o, uint64_t off)
{
    size_t lo = 0, hi = o->np;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (o->p[mid].base <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || off - o->p[lo - 1].base >= o->p[lo - 1].len)
        return NULL;
    return &o->p[lo - 1];
}

int oracle_page_add(struct oracle *o, uint64_t base, uint64_t len)
{
    size_t i;

    for (i = 0; i < o->np; i++)
        if (base < o->p[i].base + o->p[i].len && o->p[i].base < base + len)
            return -EEXIST;
    for (i = 0; i < o->np && o->p[i].base < base; i++)
        ;
    if (o->np == o->pcap) {
        o->pcap = o->pcap ? o->pcap * 2 : 8;
        o->p = xrealloc(o->p, o->pcap * sizeof(*o->p));
    }
    memmove(&o->p[i + 1], &o->p[i], (o->np - i) * sizeof(*o->p));
    o->p[i] = (struct opage){.base = base, .len = len};
    o->np++;
    arr_insert(&o->p[i].c, &o->p[i].n, &o->p[i].cap, 0, base, len);
    return 0;
}

int oracle_page_remove(struct oracle *o, uint64_t base, uint64_t len)
{
    struct opage *pg = page_of(o, base);
    size_t i;

    if (pg == NULL || pg->base != base || pg->len != len)
        return -ENOENT;
    if (pg->n != 1 || pg->c[0].size != len)
        return -EBUSY;
    free(pg->c);
    i = (size_t)(pg - o->p);
    memmove(&o->p[i], &o->p[i + 1], (o->np - i - 1) * sizeof(*o->p));
    o->np--;
    return 0;
}

size_t oracle_pages(const struct oracle *o)
{
    return o->np;
}

size_t oracle_empty_pages(const struct oracle *o, uint64_t *len)
{
    size_t i, n = 0;

    for (i = 0; i < o->np; i++) {
        if (o->p[i].n == 1 && o->p[i].c[0].size == o->p[i].len) {
            n++;
            if (len != NULL)
                *len = o->p[i].len;
        }
    }
    return n;
}

int oracle_take(struct oracle *o, uint64_t off, uint64_t size)
{
    struct opage *pg = page_of(o, off);
    struct ochunk c;
    size_t i;

    if (pg == NULL || size == 0)
        return -ENOENT;
    i = arr_upper(pg->c, pg->n, off);
    if (i == 0)
        return -ENOENT;
    i--;
    c = pg->c[i];
    if (off + size > c.off + c.size || off + size < off)
        return -ENOENT;
    /* Keep the prefix and the suffix, drop the middle. */
    arr_remove(pg->c, &pg->n, i);
    if (off + size < c.off + c.size)
        arr_insert(&pg->c, &pg->n, &pg->cap, i, off + size, c.off + c.size - (off + size));
    if (off > c.off)
        arr_insert(&pg->c, &pg->n, &pg->cap, i, c.off, off - c.off);
    return 0;
}

int oracle_give(struct oracle *o, uint64_t off, uint64_t size)
{
    struct opage *pg = page_of(o, off);
    size_t i;

    if (pg == NULL || size == 0 || off + size > pg->base + pg->len)
        return -ENOENT;
    i = arr_upper(pg->c, pg->n, off); /* chunks [0, i) start at or below off */
    if (i > 0 && pg->c[i - 1].off + pg->c[i - 1].size > off)
        return -EEXIST;
    if (i < pg->n && pg->c[i].off < off + size)
        return -EEXIST;
    if (i > 0 && pg->c[i - 1].off + pg->c[i - 1].size == off) {
        /* Merge into the left neighbour, then maybe the right one too. */
        pg->c[i - 1].size += size;
        if (i < pg->n && pg->c[i].off == off + size) {
            pg->c[i - 1].size += pg->c[i].size;
            arr_remove(pg->c, &pg->n, i);
        }
    } else if (i < pg->n && pg->c[i].off == off + size) {
        pg->c[i].off = off;
        pg->c[i].size += size;
    } else {
        arr_insert(&pg->c, &pg->n, &pg->cap, i, off, size);
    }
    return 0;
}

/* Where a block of size bytes aligned to align would start in c, or UINT64_MAX. */
static uint64_t place(const struct ochunk *c, uint64_t size, uint64_t align)
{
    uint64_t start = c->off + (-c->off & (align - 1));

    if (start - c->off > c->size || c->size - (start - c->off) < size)
        return UINT64_MAX;
    return start;
}

bool oracle_fits(const struct oracle *o, uint64_t size, uint64_t align)
{
    size_t p, i;

    for (p = 0; p < o->np; p++)
        for (i = 0; i < o->p[p].n; i++)
            if (place(&o->p[p].c[i], size, align) != UINT64_MAX)
                return true;
    return false;
}

int oracle_best_fit(const struct oracle *o, uint64_t size, uint64_t align, uint64_t *off)
{
    const struct ochunk *best = NULL;
    uint64_t bsize = UINT64_MAX;
    size_t p, i;

    for (p = 0; p < o->np; p++) {
        const struct ochunk *c = o->p[p].c;
        size_t n = o->p[p].n;

        /* Scanning in address order, a strict < keeps the lowest address.
         * Chunk offsets are multiples of the minimum alignment, so only a
         * larger one needs place(). */
        for (i = 0; i < n; i++) {
            if (c[i].size >= size && c[i].size < bsize &&
                (align <= o->align || place(&c[i], size, align) != UINT64_MAX)) {
                best = &c[i];
                bsize = c[i].size;
            }
        }
    }
    if (best == NULL)
        return -ENOSPC;
    *off = place(best, size, align);
    return 0;
}

size_t oracle_free_chunks(const struct oracle *o)
{
    size_t p, n = 0;

    for (p = 0; p < o->np; p++)
        n += o->p[p].n;
    return n;
}

uint64_t oracle_free_bytes(const struct oracle *o)
{
    size_t p, i;
    uint64_t n = 0;

    for (p = 0; p < o->np; p++)
        for (i = 0; i < o->p[p].n; i++)
            n += o->p[p].c[i].size;
    return n;
}

uint64_t oracle_largest(const struct oracle *o)
{
    size_t p, i;
    uint64_t m = 0;

    for (p = 0; p < o->np; p++)
        for (i = 0; i < o->p[p].n; i++)
            if (o->p[p].c[i].size > m)
                m = o->p[p].c[i].size;
    return m;
}

void oracle_walk(const struct oracle *o, oracle_walk_fn *fn, void *ctx)
{
    size_t p, i;

    for (p = 0; p < o->np; p++)
        for (i = 0; i < o->p[p].n; i++)
            fn(ctx, o->p[p].c[i].off, o->p[p].c[i].size);
}

int oracle_alloc(struct oracle *o, uint64_t size, uint64_t align, uint64_t *off)
{
    uint64_t a = align > o->align ? align : o->align;
    uint64_t s = (size + o->align - 1) & ~(uint64_t)(o->align - 1);
    int rc;

    rc = oracle_best_fit(o, s, a, off);
    if (rc < 0)
        return rc;
    return oracle_take(o, *off, s);
}

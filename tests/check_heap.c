/*
 * check_heap.c - tests of the allocator core (daemon/heap.c).
 *
 * One TCase per topic: unit tests for each behaviour and edge of heap.h, and
 * a randomized differential test against tests/oracle.c (a sorted array of
 * free chunks per page) that mirrors every placement, checks it, and compares
 * the whole free space after every operation. Random cases print their seed;
 * OFA_SEED=<n> replays one.
 */
#include "runner.h"
#include "heap_internal.h"
#include "oracle.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------- */

static void check_valid(const struct heap *h)
{
    char why[256] = "";
    int rc = heap_validate(h, why, sizeof(why));

    ck_assert_msg(rc == 0, "heap_validate: %s", why);
}

static struct heap *mk(uint64_t page_size, uint32_t align)
{
    struct heap *h = NULL;

    ck_assert_int_eq(heap_create(&h, page_size, align), 0);
    ck_assert_ptr_nonnull(h);
    return h;
}

static uint64_t add_page(struct heap *h, uint64_t len)
{
    uint64_t base = 0;

    ck_assert_int_eq(heap_page_add(h, len, &base), 0);
    return base;
}

/* Pages released through the callback. */
struct released {
    unsigned n;
    uint64_t base[64], len[64];
};

static void on_release(void *ctx, uint64_t base, uint64_t len)
{
    struct released *r = ctx;

    ck_assert_uint_lt(r->n, 64);
    r->base[r->n] = base;
    r->len[r->n] = len;
    r->n++;
}

/* Allocates, adding the page the heap asks for when it asks. */
static uint64_t alloc_grow(struct heap *h, uint64_t size, uint64_t align, uint32_t owner)
{
    uint64_t off = 0, need = 0;
    int rc = heap_alloc(h, size, align, owner, &off, &need);

    if (rc == -EAGAIN) {
        add_page(h, need);
        rc = heap_alloc(h, size, align, owner, &off, &need);
    }
    ck_assert_int_eq(rc, 0);
    return off;
}

static uint64_t must_alloc(struct heap *h, uint64_t size, uint64_t align, uint32_t owner)
{
    uint64_t off = 0, need = 0;

    ck_assert_int_eq(heap_alloc(h, size, align, owner, &off, &need), 0);
    return off;
}

static struct heap_stats stats(const struct heap *h)
{
    struct heap_stats st;

    heap_stats(h, &st);
    return st;
}

/* Field by field: the struct has padding. */
static int stats_eq(const struct heap_stats *a, const struct heap_stats *b)
{
    return a->page_size == b->page_size && a->align == b->align && a->pages == b->pages &&
           a->bytes_reserved == b->bytes_reserved && a->bytes_live == b->bytes_live &&
           a->blocks_live == b->blocks_live && a->free_chunks == b->free_chunks &&
           a->largest_free == b->largest_free && a->allocs == b->allocs && a->frees == b->frees &&
           a->alloc_failures == b->alloc_failures;
}

/* Chunks in address order, from heap__walk(). */
struct chunks {
    size_t n, cap;
    struct {
        uint64_t off, size;
        int is_free;
    } * c;
};

static void walk_cb(void *ctx, uint64_t off, uint64_t size, int is_free)
{
    struct chunks *w = ctx;

    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->c = realloc(w->c, w->cap * sizeof(*w->c));
        ck_assert_ptr_nonnull(w->c);
    }
    w->c[w->n].off = off;
    w->c[w->n].size = size;
    w->c[w->n].is_free = is_free;
    w->n++;
}

static struct chunks walk(const struct heap *h)
{
    struct chunks w = {0, 0, NULL};

    heap__walk(h, walk_cb, &w);
    return w;
}

/* Number of free chunks, and whether [off, off+size) is exactly one. */
static int is_free_chunk(const struct heap *h, uint64_t off, uint64_t size)
{
    struct chunks w = walk(h);
    size_t i;
    int found = 0;

    for (i = 0; i < w.n; i++)
        if (w.c[i].is_free && w.c[i].off == off && w.c[i].size == size)
            found = 1;
    free(w.c);
    return found;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* ---- create -------------------------------------------------------------- */

START_TEST(test_create)
{
    struct heap *h = NULL;
    struct heap_stats st;

    ck_assert_int_eq(heap_create(&h, 0, 64), -EINVAL);
    ck_assert_int_eq(heap_create(&h, 2048, 64), -EINVAL);
    ck_assert_int_eq(heap_create(&h, 4096 + 512, 64), -EINVAL);
    ck_assert_int_eq(heap_create(&h, HEAP_MAX_PAGE + 4096, 64), -EINVAL);
    ck_assert_int_eq(heap_create(&h, 4096, 0), -EINVAL);
    ck_assert_int_eq(heap_create(&h, 4096, 4), -EINVAL);
    ck_assert_int_eq(heap_create(&h, 4096, 48), -EINVAL);
    ck_assert_int_eq(heap_create(&h, 4096, 8192), -EINVAL);
    ck_assert_int_eq(heap_create(NULL, 4096, 64), -EINVAL);
    ck_assert_ptr_null(h);

    h = mk(HEAP_MAX_PAGE, 4096);
    heap_destroy(h);
    h = mk(4096, 8);
    st = stats(h);
    ck_assert_uint_eq(st.page_size, 4096);
    ck_assert_uint_eq(st.align, 8);
    ck_assert_uint_eq(st.pages, 0);
    ck_assert_uint_eq(st.bytes_reserved, 0);
    ck_assert_uint_eq(st.blocks_live, 0);
    ck_assert_uint_eq(st.free_chunks, 0);
    ck_assert_uint_eq(st.largest_free, 0);
    check_valid(h);
    heap_destroy(h);
    heap_destroy(NULL);
}
END_TEST

/* ---- pages --------------------------------------------------------------- */

START_TEST(test_pages)
{
    struct heap *h = mk(65536, 64);
    uint64_t b1, b2, b3, b4, base, len;
    struct released rel = {0};

    ck_assert_int_eq(heap_page_add(h, 0, &base), -EINVAL);
    ck_assert_int_eq(heap_page_add(h, 4095, &base), -EINVAL);
    ck_assert_int_eq(heap_page_add(h, 4096 + 64, &base), -EINVAL);
    ck_assert_int_eq(heap_page_add(h, HEAP_MAX_PAGE + 4096, &base), -EINVAL);
    ck_assert_uint_eq(stats(h).pages, 0);

    /* Bases: > 0, aligned to next_pow2(len), increasing, disjoint. */
    b1 = add_page(h, 65536);
    ck_assert_uint_gt(b1, 0);
    ck_assert_uint_eq(b1 % 65536, 0);
    b2 = add_page(h, 3 * 4096);
    ck_assert_uint_eq(b2 % 16384, 0);
    ck_assert_uint_ge(b2, b1 + 65536);
    b3 = add_page(h, 4096);
    ck_assert_uint_eq(b3 % 4096, 0);
    ck_assert_uint_ge(b3, b2 + 3 * 4096);
    ck_assert_uint_eq(stats(h).pages, 3);
    ck_assert_uint_eq(stats(h).bytes_reserved, 65536 + 3 * 4096 + 4096);
    ck_assert_uint_eq(stats(h).free_chunks, 3);
    ck_assert_uint_eq(stats(h).largest_free, 65536);
    check_valid(h);

    /* heap_page_find: any byte of a page; nothing outside. */
    ck_assert_int_eq(heap_page_find(h, b1, &base, &len), 0);
    ck_assert_uint_eq(base, b1);
    ck_assert_uint_eq(len, 65536);
    ck_assert_int_eq(heap_page_find(h, b1 + 65535, &base, &len), 0);
    ck_assert_uint_eq(base, b1);
    ck_assert_int_eq(heap_page_find(h, b2 + 5000, &base, &len), 0);
    ck_assert_uint_eq(base, b2);
    ck_assert_uint_eq(len, 3 * 4096);
    ck_assert_int_eq(heap_page_find(h, b3 + 4096, &base, &len), -ENOENT);
    ck_assert_int_eq(heap_page_find(h, 0, &base, &len), -ENOENT);
    ck_assert_int_eq(heap_page_find(h, b1 - 1, &base, &len), -ENOENT);
    if (b2 > b1 + 65536)
        ck_assert_int_eq(heap_page_find(h, b1 + 65536, &base, &len), -ENOENT);
    ck_assert_int_eq(heap_page_find(h, UINT64_MAX, &base, &len), -ENOENT);

    /* heap_page_next: in base order, from 0. */
    base = 0;
    ck_assert_int_eq(heap_page_next(h, &base, &len), 1);
    ck_assert_uint_eq(base, b1);
    ck_assert_int_eq(heap_page_next(h, &base, &len), 1);
    ck_assert_uint_eq(base, b2);
    ck_assert_int_eq(heap_page_next(h, &base, &len), 1);
    ck_assert_uint_eq(base, b3);
    ck_assert_uint_eq(len, 4096);
    ck_assert_int_eq(heap_page_next(h, &base, &len), 0);
    base = b1 + 100; /* from inside a page: the next one */
    ck_assert_int_eq(heap_page_next(h, &base, &len), 1);
    ck_assert_uint_eq(base, b2);

    /* A released page's base is never handed out again. */
    base = alloc_grow(h, 3 * 4096, 0, HEAP_OWNER_ARENA);
    ck_assert_int_eq(heap_page_find(h, base, &len, NULL), 0);
    ck_assert_int_eq(heap_free(h, base, on_release, &rel), 0);
    ck_assert_uint_eq(rel.n, 1); /* non-standard length: dropped at once */
    ck_assert_uint_eq(rel.base[0], b2);
    ck_assert_uint_eq(rel.len[0], 3 * 4096);
    ck_assert_int_eq(heap_page_find(h, b2, &base, &len), -ENOENT);
    b4 = add_page(h, 3 * 4096);
    ck_assert_uint_gt(b4, b3);
    check_valid(h);
    heap_destroy(h);
}
END_TEST

/* ---- fit and split -------------------------------------------------------- */

/*
 * Which end of a chunk a block is cut from: next to the larger of its live
 * neighbours, the rest staying next to the smaller one or the page's end.
 * Part of the "fit" case.
 */
static void split_end(void)
{
    struct heap *h = mk(65536, 64);
    uint64_t base = add_page(h, 65536), s1, h1, l1, h2, s2, rest, a;

    /* A chunk at the page's start keeps its low end free: blocks come from
     * the top down. Address order: rest, s2, h2, l1, h1, s1. */
    s1 = must_alloc(h, 64, 0, HEAP_OWNER_ARENA);
    h1 = must_alloc(h, 1024, 0, HEAP_OWNER_ARENA);
    l1 = must_alloc(h, 4096, 0, HEAP_OWNER_ARENA);
    h2 = must_alloc(h, 1024, 0, HEAP_OWNER_ARENA);
    s2 = must_alloc(h, 64, 0, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(s1, base + 65536 - 64);
    ck_assert_uint_eq(h1, s1 - 1024);
    ck_assert_uint_eq(l1, h1 - 4096);
    ck_assert_uint_eq(h2, l1 - 1024);
    ck_assert_uint_eq(s2, h2 - 64);
    ck_assert(is_free_chunk(h, base, s2 - base));
    rest = must_alloc(h, s2 - base, 0, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(rest, base);
    ck_assert_uint_eq(stats(h).free_chunks, 0);

    /* Two holes of 1024 bytes: h2 between s2 (64) and l1 (4096), h1
     * between l1 and s1 (64). */
    ck_assert_int_eq(heap_free(h, h2, NULL, NULL), 0);
    ck_assert_int_eq(heap_free(h, h1, NULL, NULL), 0);
    check_valid(h);

    /* Equal holes: the lower one, h2; the block goes next to l1 above it. */
    a = must_alloc(h, 256, 0, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(a, h2 + 1024 - 256);
    ck_assert(is_free_chunk(h, h2, 768));
    check_valid(h);

    /* Too large for the 768 left in h2: h1, where l1 is below. */
    a = must_alloc(h, 896, 0, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(a, h1);
    ck_assert(is_free_chunk(h, h1 + 896, 128));
    check_valid(h);

    /* A chunk at the page's end keeps its high end free: with s1 freed, the
     * 192 bytes at the top of the page give their low end. */
    ck_assert_int_eq(heap_free(h, s1, NULL, NULL), 0);
    ck_assert(is_free_chunk(h, h1 + 896, 192));
    a = must_alloc(h, 64, 0, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(a, h1 + 896);
    ck_assert(is_free_chunk(h, h1 + 960, 128));
    ck_assert_uint_eq(stats(h).free_chunks, 2);
    (void)rest;
    check_valid(h);
    heap_destroy(h);
}

START_TEST(test_fit)
{
    struct heap *h = mk(65536, 64);
    uint64_t base = add_page(h, 65536), x1, x2, y, z, a, b;
    struct heap_stats st;

    /* Holes of 512 and 1024 bytes between live blocks, and a large rest. */
    x1 = must_alloc(h, 512, 0, HEAP_OWNER_ARENA);
    y = must_alloc(h, 64, 0, HEAP_OWNER_ARENA);
    x2 = must_alloc(h, 1024, 0, HEAP_OWNER_ARENA);
    z = must_alloc(h, 64, 0, HEAP_OWNER_ARENA);
    ck_assert_uint_ge(x1, base);
    ck_assert_uint_eq(stats(h).free_chunks, 1);
    ck_assert_int_eq(heap_free(h, x1, NULL, NULL), 0);
    ck_assert_int_eq(heap_free(h, x2, NULL, NULL), 0);
    st = stats(h);
    ck_assert_uint_eq(st.free_chunks, 3);
    ck_assert_uint_eq(st.blocks_live, 2);
    check_valid(h);

    /* Exact fit: each request takes the hole of its size, which disappears. */
    a = must_alloc(h, 1024, 0, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(a, x2);
    ck_assert_uint_eq(stats(h).free_chunks, 2);
    b = must_alloc(h, 500, 0, HEAP_OWNER_ARENA); /* rounds to 512 */
    ck_assert_uint_eq(b, x1);
    ck_assert_uint_eq(heap_block_size(h, b), 512);
    ck_assert_uint_eq(stats(h).free_chunks, 1);
    check_valid(h);

    /* Split: a smaller request takes part of the smallest hole that fits. */
    ck_assert_int_eq(heap_free(h, x2, NULL, NULL), 0);
    a = must_alloc(h, 256, 0, HEAP_OWNER_ARENA);
    ck_assert_uint_ge(a, x2);
    ck_assert_uint_le(a + 256, x2 + 1024);
    st = stats(h);
    ck_assert_uint_eq(st.free_chunks, 2);
    ck_assert_uint_eq(st.bytes_live, 512 + 64 + 64 + 256);
    ck_assert_uint_eq(heap_block_size(h, a), 256);
    (void)y;
    (void)z;
    check_valid(h);
    heap_destroy(h);

    split_end();
}
END_TEST

/* Several chunks of one size class where only the last in its list fits:
 * found, not answered with -EAGAIN. */
START_TEST(test_no_false_full)
{
    struct heap *h = mk(131072, 64);
    uint64_t base = add_page(h, 131072), hole[6], sep[6], rest, off, need;
    struct heap_stats st;
    int i;

    (void)base;
    /* 8256 and 8192 bytes share a size class (129 and 128 units of 64). */
    for (i = 0; i < 6; i++) {
        hole[i] = must_alloc(h, i == 0 ? 8256 : 8192, 0, HEAP_OWNER_ARENA);
        sep[i] = must_alloc(h, 64, 0, HEAP_OWNER_ARENA);
    }
    st = stats(h);
    rest = st.largest_free;
    ck_assert_uint_eq(st.free_chunks, 1);
    must_alloc(h, rest, 0, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(stats(h).free_chunks, 0);
    /* The fitting hole freed first, so it is the deepest in its list. */
    for (i = 0; i < 6; i++)
        ck_assert_int_eq(heap_free(h, hole[i], NULL, NULL), 0);
    ck_assert_uint_eq(stats(h).free_chunks, 6);
    ck_assert_uint_eq(heap__bin_of(h, 8256), heap__bin_of(h, 8192));
    ck_assert_int_eq(heap_alloc(h, 8256, 0, HEAP_OWNER_ARENA, &off, &need), 0);
    ck_assert_uint_eq(off, hole[0]);
    /* Now nothing holds 8256 bytes any more. */
    ck_assert_int_eq(heap_alloc(h, 8256, 0, HEAP_OWNER_ARENA, &off, &need), -EAGAIN);
    ck_assert_uint_eq(need, 131072);
    (void)sep;
    check_valid(h);
    heap_destroy(h);
}
END_TEST

/* ---- merge ----------------------------------------------------------------- */

/* A 4096-byte page filled by four 1024-byte blocks, offsets sorted. */
static struct heap *four_blocks(uint64_t blk[4])
{
    struct heap *h = mk(4096, 64);
    int i;

    add_page(h, 4096);
    for (i = 0; i < 4; i++)
        blk[i] = must_alloc(h, 1024, 0, HEAP_OWNER_ARENA);
    qsort(blk, 4, sizeof(blk[0]), cmp_u64);
    for (i = 1; i < 4; i++)
        ck_assert_uint_eq(blk[i], blk[i - 1] + 1024);
    ck_assert_uint_eq(stats(h).free_chunks, 0);
    return h;
}

START_TEST(test_merge)
{
    uint64_t b[4];
    struct released rel = {0};
    struct heap *h;

    /* No free neighbour, then right, then left. */
    h = four_blocks(b);
    ck_assert_int_eq(heap_free(h, b[2], NULL, NULL), 0);
    ck_assert(is_free_chunk(h, b[2], 1024));
    ck_assert_int_eq(heap_free(h, b[1], NULL, NULL), 0); /* right neighbour free */
    ck_assert(is_free_chunk(h, b[1], 2048));
    ck_assert_uint_eq(stats(h).free_chunks, 1);
    ck_assert_int_eq(heap_free(h, b[3], NULL, NULL), 0); /* left neighbour free */
    ck_assert(is_free_chunk(h, b[1], 3072));
    ck_assert_uint_eq(stats(h).free_chunks, 1);
    ck_assert_uint_eq(stats(h).largest_free, 3072);
    check_valid(h);
    /* Both sides free: the page empties, and becomes the spare. */
    ck_assert_int_eq(heap_free(h, b[0], on_release, &rel), 0);
    ck_assert(is_free_chunk(h, b[0], 4096));
    ck_assert_uint_eq(rel.n, 0);
    ck_assert_uint_eq(stats(h).pages, 1);
    check_valid(h);
    heap_destroy(h);

    /* Both neighbours free, inside the page. */
    h = four_blocks(b);
    ck_assert_int_eq(heap_free(h, b[0], NULL, NULL), 0);
    ck_assert_int_eq(heap_free(h, b[2], NULL, NULL), 0);
    ck_assert_uint_eq(stats(h).free_chunks, 2);
    ck_assert_int_eq(heap_free(h, b[1], NULL, NULL), 0);
    ck_assert(is_free_chunk(h, b[0], 3072));
    ck_assert_uint_eq(stats(h).free_chunks, 1);
    check_valid(h);
    heap_destroy(h);

    /* The first block of a page with a free right neighbour (the page's
     * first chunk changes hands), then the rest. */
    h = four_blocks(b);
    ck_assert_int_eq(heap_free(h, b[1], NULL, NULL), 0);
    ck_assert_int_eq(heap_free(h, b[0], NULL, NULL), 0);
    ck_assert(is_free_chunk(h, b[0], 2048));
    check_valid(h);
    ck_assert_int_eq(heap_free(h, b[3], NULL, NULL), 0);
    ck_assert_int_eq(heap_free(h, b[2], NULL, NULL), 0);
    ck_assert(is_free_chunk(h, b[0], 4096));
    check_valid(h);
    heap_destroy(h);

    /* Chunks never merge across pages, even adjacent ones. */
    h = mk(4096, 64);
    {
        uint64_t p1 = add_page(h, 4096), p2 = add_page(h, 4096), x, y;

        ck_assert_uint_eq(p2, p1 + 4096);
        x = must_alloc(h, 4096, 0, HEAP_OWNER_ARENA);
        y = must_alloc(h, 4096, 0, HEAP_OWNER_ARENA);
        ck_assert_int_eq(heap_free(h, x, on_release, &rel), 0);
        ck_assert_uint_eq(rel.n, 0);
        ck_assert_int_eq(heap_free(h, y, on_release, &rel), 0);
        ck_assert_uint_eq(rel.n, 1);
        ck_assert_uint_eq(stats(h).free_chunks, 1);
        ck_assert_uint_eq(stats(h).largest_free, 4096);
        check_valid(h);
    }
    heap_destroy(h);
}
END_TEST

/* ---- alignment ------------------------------------------------------------- */

START_TEST(test_align)
{
    struct heap *h = mk(65536, 64);
    uint64_t base = add_page(h, 65536), a, b, c, off, need, free_bytes;
    struct heap_stats st;
    uint64_t al;

    /* Up to the page size, from a page that is partly used. */
    must_alloc(h, 64, 0, HEAP_OWNER_ARENA);
    for (al = 128; al <= 8192; al *= 2) {
        a = must_alloc(h, 100, al, HEAP_OWNER_ARENA);
        ck_assert_uint_eq(a % al, 0);
        ck_assert_uint_eq(heap_block_size(h, a), 128);
        check_valid(h);
    }
    /* The bytes skipped for alignment stay free: nothing is lost. */
    st = stats(h);
    ck_assert_uint_eq(st.bytes_live, 64 + 7 * 128);
    {
        struct chunks w = walk(h);
        size_t i;

        free_bytes = 0;
        for (i = 0; i < w.n; i++)
            free_bytes += w.c[i].is_free ? w.c[i].size : 0;
        free(w.c);
    }
    ck_assert_uint_eq(free_bytes, st.bytes_reserved - st.bytes_live);
    heap_destroy(h);

    /* Alignment equal to the page size: only the page base qualifies. */
    h = mk(65536, 64);
    base = add_page(h, 65536);
    a = must_alloc(h, 64, 65536, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(a, base);
    ck_assert(is_free_chunk(h, base + 64, 65536 - 64));
    /* ...and once it is taken, a new page is needed. */
    ck_assert_int_eq(heap_alloc(h, 64, 65536, HEAP_OWNER_ARENA, &off, &need), -EAGAIN);
    ck_assert_uint_eq(need, 65536);
    check_valid(h);

    /* Alignment beyond the page's natural alignment: a longer page. */
    ck_assert_int_eq(heap_alloc(h, 64, 1u << 20, HEAP_OWNER_ARENA, &off, &need), -EAGAIN);
    ck_assert_uint_eq(need, (1u << 19) + 4096);
    add_page(h, need);
    b = must_alloc(h, 64, 1u << 20, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(b % (1u << 20), 0);
    check_valid(h);

    /* A smaller alignment than the heap's means the heap's; bad ones fail. */
    c = must_alloc(h, 8, 8, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(c % 64, 0);
    ck_assert_uint_eq(heap_block_size(h, c), 64);
    st = stats(h);
    ck_assert_int_eq(heap_alloc(h, 64, 3, HEAP_OWNER_ARENA, &off, &need), -EINVAL);
    ck_assert_int_eq(heap_alloc(h, 64, 96, HEAP_OWNER_ARENA, &off, &need), -EINVAL);
    ck_assert_int_eq(heap_alloc(h, 64, HEAP_MAX_ALIGN * 2, HEAP_OWNER_ARENA, &off, &need), -EINVAL);
    ck_assert_uint_eq(stats(h).alloc_failures, st.alloc_failures + 3);
    /* The largest alignment allowed works. */
    ck_assert_int_eq(heap_alloc(h, 64, HEAP_MAX_ALIGN, HEAP_OWNER_ARENA, &off, &need), -EAGAIN);
    ck_assert_uint_eq(need, HEAP_MAX_ALIGN / 2 + 4096);
    add_page(h, need);
    off = must_alloc(h, 64, HEAP_MAX_ALIGN, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(off % HEAP_MAX_ALIGN, 0);
    check_valid(h);
    heap_destroy(h);
}
END_TEST

/* ---- requests larger than the page size ------------------------------------ */

START_TEST(test_big)
{
    struct heap *h = mk(65536, 64);
    struct released rel = {0};
    uint64_t off, need, base, len, big;

    add_page(h, 65536);
    ck_assert_int_eq(heap_alloc(h, 100000, 0, HEAP_OWNER_ARENA, &off, &need), -EAGAIN);
    ck_assert_uint_eq(need, 102400); /* 25 * 4096 */
    ck_assert_uint_eq(stats(h).alloc_failures, 0);
    big = add_page(h, need);
    ck_assert_int_eq(heap_alloc(h, 100000, 0, HEAP_OWNER_ARENA, &off, &need), 0);
    ck_assert_int_eq(heap_page_find(h, off, &base, &len), 0);
    ck_assert_uint_eq(base, big);
    ck_assert_uint_eq(heap_block_size(h, off), 100032);
    ck_assert_uint_eq(stats(h).pages, 2);
    check_valid(h);
    /* A page of its own, not of the standard length: released when empty
     * even though there is no spare. */
    ck_assert_int_eq(heap_free(h, off, on_release, &rel), 0);
    ck_assert_uint_eq(rel.n, 1);
    ck_assert_uint_eq(rel.base[0], big);
    ck_assert_uint_eq(rel.len[0], 102400);
    ck_assert_uint_eq(stats(h).pages, 1);
    ck_assert_uint_eq(stats(h).bytes_reserved, 65536);
    /* The largest page there can be. */
    ck_assert_int_eq(heap_alloc(h, HEAP_MAX_PAGE, 0, HEAP_OWNER_ARENA, &off, &need), -EAGAIN);
    ck_assert_uint_eq(need, HEAP_MAX_PAGE);
    check_valid(h);
    heap_destroy(h);
}
END_TEST

/* ---- page release and the spare --------------------------------------------- */

START_TEST(test_release)
{
    struct heap *h = mk(4096, 64);
    struct released rel = {0};
    uint64_t a, b, c, pa, pb, pc, off, need, d;

    a = alloc_grow(h, 4096, 0, HEAP_OWNER_ARENA);
    b = alloc_grow(h, 4096, 0, HEAP_OWNER_ARENA);
    c = alloc_grow(h, 4096, 0, HEAP_OWNER_ARENA);
    ck_assert_int_eq(heap_page_find(h, a, &pa, NULL), 0);
    ck_assert_int_eq(heap_page_find(h, b, &pb, NULL), 0);
    ck_assert_int_eq(heap_page_find(h, c, &pc, NULL), 0);
    ck_assert_uint_eq(stats(h).pages, 3);

    /* The first page to empty is kept as the spare... */
    ck_assert_int_eq(heap_free(h, a, on_release, &rel), 0);
    ck_assert_uint_eq(rel.n, 0);
    ck_assert_uint_eq(stats(h).pages, 3);
    /* ...the next ones are released. */
    ck_assert_int_eq(heap_free(h, b, on_release, &rel), 0);
    ck_assert_uint_eq(rel.n, 1);
    ck_assert_uint_eq(rel.base[0], pb);
    ck_assert_uint_eq(rel.len[0], 4096);
    ck_assert_int_eq(heap_free(h, c, on_release, &rel), 0);
    ck_assert_uint_eq(rel.n, 2);
    ck_assert_uint_eq(rel.base[1], pc);
    ck_assert_uint_eq(stats(h).pages, 1);
    ck_assert_uint_eq(stats(h).bytes_reserved, 4096);
    check_valid(h);

    /* The spare serves the next request, and is the spare again after. */
    ck_assert_int_eq(heap_alloc(h, 64, 0, HEAP_OWNER_ARENA, &off, &need), 0);
    ck_assert_int_eq(heap_page_find(h, off, &d, NULL), 0);
    ck_assert_uint_eq(d, pa);
    ck_assert_int_eq(heap_free(h, off, on_release, &rel), 0);
    ck_assert_uint_eq(rel.n, 2);
    ck_assert_uint_eq(stats(h).pages, 1);

    /* Used again in full, a new page added, then both emptied: one kept. */
    a = must_alloc(h, 4096, 0, HEAP_OWNER_ARENA);
    b = alloc_grow(h, 4096, 0, HEAP_OWNER_ARENA);
    ck_assert_int_eq(heap_page_find(h, b, &pb, NULL), 0);
    ck_assert_uint_gt(pb, pc); /* bases never reused */
    ck_assert_int_eq(heap_free(h, b, on_release, &rel), 0);
    ck_assert_uint_eq(rel.n, 2);
    ck_assert_int_eq(heap_free(h, a, on_release, &rel), 0);
    ck_assert_uint_eq(rel.n, 3);
    ck_assert_uint_eq(rel.base[2], pa);
    ck_assert_uint_eq(stats(h).pages, 1);
    check_valid(h);

    /* Without a callback the page still goes. */
    a = alloc_grow(h, 4096, 0, HEAP_OWNER_ARENA);
    b = alloc_grow(h, 4096, 0, HEAP_OWNER_ARENA);
    ck_assert_int_eq(heap_free(h, a, NULL, NULL), 0);
    ck_assert_int_eq(heap_free(h, b, NULL, NULL), 0);
    ck_assert_uint_eq(stats(h).pages, 1);
    check_valid(h);
    heap_destroy(h);
}
END_TEST

/* ---- bad frees ---------------------------------------------------------------- */

static void expect_bad_free(struct heap *h, uint64_t off)
{
    struct heap_stats before = stats(h), after;
    struct chunks w0 = walk(h), w1;
    struct released rel = {0};

    ck_assert_int_eq(heap_free(h, off, on_release, &rel), -EINVAL);
    after = stats(h);
    ck_assert(stats_eq(&before, &after));
    w1 = walk(h);
    ck_assert_uint_eq(w0.n, w1.n);
    for (size_t i = 0; i < w0.n; i++) {
        ck_assert_uint_eq(w0.c[i].off, w1.c[i].off);
        ck_assert_uint_eq(w0.c[i].size, w1.c[i].size);
        ck_assert_int_eq(w0.c[i].is_free, w1.c[i].is_free);
    }
    ck_assert_uint_eq(rel.n, 0);
    free(w0.c);
    free(w1.c);
    check_valid(h);
}

START_TEST(test_bad_free)
{
    struct heap *h = mk(4096, 64);
    uint64_t a, b, c, pc, free_start;
    struct chunks w;
    size_t i;

    a = alloc_grow(h, 256, 0, HEAP_OWNER_ARENA);
    b = must_alloc(h, 256, 0, HEAP_OWNER_ARENA);
    c = alloc_grow(h, 4096 * 2, 0, HEAP_OWNER_ARENA); /* a page of its own */
    ck_assert_int_eq(heap_page_find(h, c, &pc, NULL), 0);
    ck_assert_int_eq(heap_free(h, c, NULL, NULL), 0); /* page released */
    ck_assert_int_eq(heap_free(h, b, NULL, NULL), 0);

    expect_bad_free(h, b);           /* twice */
    expect_bad_free(h, a + 64);      /* interior */
    expect_bad_free(h, a + 1);       /* interior, unaligned */
    expect_bad_free(h, a - 64);      /* below the block */
    expect_bad_free(h, 0);           /* null */
    expect_bad_free(h, UINT64_MAX);  /* wild */
    expect_bad_free(h, 0x123456789); /* wild */
    expect_bad_free(h, c);           /* in a released page */
    w = walk(h);
    free_start = 0;
    for (i = 0; i < w.n; i++)
        if (w.c[i].is_free)
            free_start = w.c[i].off;
    free(w.c);
    ck_assert_uint_ne(free_start, 0);
    expect_bad_free(h, free_start); /* start of a free chunk */
    ck_assert_int_eq(heap_free(h, a, NULL, NULL), 0);
    expect_bad_free(h, a);
    heap_destroy(h);
}
END_TEST

/* ---- sizes ------------------------------------------------------------------ */

START_TEST(test_sizes)
{
    struct heap *h = mk(4096, 64);
    uint64_t off = 7, need = 7, a;
    struct heap_stats st;

    add_page(h, 4096);
    st = stats(h);
    ck_assert_int_eq(heap_alloc(h, 0, 0, HEAP_OWNER_ARENA, &off, &need), -EINVAL);
    ck_assert_int_eq(heap_alloc(h, HEAP_MAX_PAGE + 1, 0, HEAP_OWNER_ARENA, &off, &need), -EINVAL);
    ck_assert_int_eq(heap_alloc(h, UINT64_MAX, 0, HEAP_OWNER_ARENA, &off, &need), -EINVAL);
    ck_assert_int_eq(heap_alloc(h, UINT64_MAX - 10, 4096, HEAP_OWNER_ARENA, &off, &need), -EINVAL);
    ck_assert_uint_eq(off, 7); /* untouched */
    ck_assert_uint_eq(need, 7);
    ck_assert_uint_eq(stats(h).alloc_failures, st.alloc_failures + 4);
    ck_assert_uint_eq(stats(h).blocks_live, 0);
    ck_assert_uint_eq(stats(h).allocs, 0);

    /* Rounding to the heap alignment. */
    a = must_alloc(h, 1, 0, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(heap_block_size(h, a), 64);
    ck_assert_uint_eq(a % 64, 0);
    a = must_alloc(h, 65, 0, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(heap_block_size(h, a), 128);
    ck_assert_uint_eq(stats(h).bytes_live, 192);
    /* Exactly the rest of the page, then one byte more than is free. */
    ck_assert_int_eq(heap_alloc(h, 4096 - 192 + 1, 0, HEAP_OWNER_ARENA, &off, &need), -EAGAIN);
    ck_assert_uint_eq(need, 4096);
    a = must_alloc(h, 4096 - 192, 0, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(stats(h).free_chunks, 0);
    ck_assert_uint_eq(stats(h).largest_free, 0);
    ck_assert_uint_eq(stats(h).alloc_failures, st.alloc_failures + 4); /* -EAGAIN not counted */
    check_valid(h);
    heap_destroy(h);
}
END_TEST

/* ---- statistics, step by step ------------------------------------------------- */

START_TEST(test_stats)
{
    struct heap *h = mk(8192, 64);
    struct released rel = {0};
    struct heap_stats st;
    uint64_t a, b, c;

    add_page(h, 8192);
    st = stats(h);
    ck_assert_uint_eq(st.pages, 1);
    ck_assert_uint_eq(st.bytes_reserved, 8192);
    ck_assert_uint_eq(st.free_chunks, 1);
    ck_assert_uint_eq(st.largest_free, 8192);

    a = must_alloc(h, 1000, 0, HEAP_OWNER_ARENA); /* 1024 */
    st = stats(h);
    ck_assert_uint_eq(st.blocks_live, 1);
    ck_assert_uint_eq(st.bytes_live, 1024);
    ck_assert_uint_eq(st.free_chunks, 1);
    ck_assert_uint_eq(st.largest_free, 8192 - 1024);
    ck_assert_uint_eq(st.allocs, 1);
    ck_assert_uint_eq(st.frees, 0);

    b = must_alloc(h, 2048, 0, HEAP_OWNER_ARENA);
    c = must_alloc(h, 64, 0, HEAP_OWNER_ARENA);
    st = stats(h);
    ck_assert_uint_eq(st.blocks_live, 3);
    ck_assert_uint_eq(st.bytes_live, 1024 + 2048 + 64);
    ck_assert_uint_eq(st.largest_free, 8192 - 1024 - 2048 - 64);
    ck_assert_uint_eq(st.allocs, 3);

    ck_assert_int_eq(heap_free(h, b, NULL, NULL), 0);
    st = stats(h);
    ck_assert_uint_eq(st.blocks_live, 2);
    ck_assert_uint_eq(st.bytes_live, 1024 + 64);
    ck_assert_uint_eq(st.free_chunks, 2);
    ck_assert_uint_eq(st.largest_free, 8192 - 1024 - 2048 - 64);
    ck_assert_uint_eq(st.frees, 1);

    ck_assert_int_eq(heap_free(h, c, NULL, NULL), 0); /* merges both ways */
    st = stats(h);
    ck_assert_uint_eq(st.free_chunks, 1);
    ck_assert_uint_eq(st.largest_free, 8192 - 1024);
    ck_assert_int_eq(heap_free(h, a, on_release, &rel), 0);
    st = stats(h);
    ck_assert_uint_eq(st.blocks_live, 0);
    ck_assert_uint_eq(st.bytes_live, 0);
    ck_assert_uint_eq(st.free_chunks, 1);
    ck_assert_uint_eq(st.largest_free, 8192);
    ck_assert_uint_eq(st.pages, 1); /* the spare */
    ck_assert_uint_eq(st.allocs, 3);
    ck_assert_uint_eq(st.frees, 3);
    ck_assert_uint_eq(st.alloc_failures, 0);
    check_valid(h);
    heap_destroy(h);
}
END_TEST

/* ---- owners ------------------------------------------------------------------ */

START_TEST(test_owners)
{
    struct heap *h = mk(4096, 64);
    struct released rel = {0};
    uint32_t o1, o2, o3, who;
    uint64_t a, b, c, d, off, need;
    int i;

    ck_assert_int_eq(heap_owner_new(h, &o1), 0);
    ck_assert_int_eq(heap_owner_new(h, &o2), 0);
    ck_assert_uint_ne(o1, HEAP_OWNER_ARENA);
    ck_assert_uint_ne(o2, HEAP_OWNER_ARENA);
    ck_assert_uint_ne(o1, o2);
    ck_assert_int_eq(heap_alloc(h, 64, 0, o1 + o2 + 100, &off, &need), -EINVAL);

    a = alloc_grow(h, 64, 0, o1);
    b = alloc_grow(h, 64, 0, o1);
    c = alloc_grow(h, 4096, 0, o1); /* fills a page of its own */
    d = alloc_grow(h, 64, 0, o2);
    must_alloc(h, 64, 0, HEAP_OWNER_ARENA);
    ck_assert_uint_eq(heap_owner_blocks(h, o1), 3);
    ck_assert_uint_eq(heap_owner_blocks(h, o2), 1);
    ck_assert_uint_eq(heap_owner_blocks(h, HEAP_OWNER_ARENA), 1);
    ck_assert_int_eq(heap_block_owner(h, a, &who), 0);
    ck_assert_uint_eq(who, o1);
    ck_assert_int_eq(heap_block_owner(h, d, &who), 0);
    ck_assert_uint_eq(who, o2);
    ck_assert_int_eq(heap_block_owner(h, a + 64 * 1000, &who), -EINVAL);

    /* Anyone may free any block. */
    ck_assert_int_eq(heap_free(h, b, NULL, NULL), 0);
    ck_assert_uint_eq(heap_owner_blocks(h, o1), 2);
    check_valid(h);

    /* Releasing o1 frees its blocks only, pages going as usual. */
    heap_owner_release(h, o1, on_release, &rel);
    ck_assert_uint_eq(heap_owner_blocks(h, o1), 0);
    ck_assert_uint_eq(heap_block_size(h, a), 0);
    ck_assert_uint_eq(heap_block_size(h, c), 0);
    ck_assert_uint_eq(heap_block_size(h, d), 64);
    ck_assert_uint_eq(stats(h).blocks_live, 2);
    ck_assert_uint_eq(rel.n, 0); /* c's page emptied: kept as the spare */
    ck_assert_uint_eq(stats(h).pages, 2);
    check_valid(h);
    /* The id is retired: allocating with it fails, releasing it again and
     * releasing the arena do nothing. */
    ck_assert_int_eq(heap_alloc(h, 64, 0, o1, &off, &need), -EINVAL);
    heap_owner_release(h, o1, on_release, &rel);
    heap_owner_release(h, HEAP_OWNER_ARENA, on_release, &rel);
    ck_assert_uint_eq(heap_owner_blocks(h, HEAP_OWNER_ARENA), 1);
    ck_assert_uint_eq(stats(h).blocks_live, 2);
    /* Ids are reused. */
    ck_assert_int_eq(heap_owner_new(h, &o3), 0);
    ck_assert_uint_ne(o3, o2);
    ck_assert_uint_eq(heap_owner_blocks(h, o3), 0);

    /* Many owners, many blocks each. */
    for (i = 0; i < 50; i++) {
        uint32_t o;

        ck_assert_int_eq(heap_owner_new(h, &o), 0);
        alloc_grow(h, 64 * (uint64_t)(i + 1), 0, o);
        alloc_grow(h, 64, 0, o);
        if (i % 2)
            heap_owner_release(h, o, NULL, NULL);
    }
    check_valid(h);
    heap_destroy(h);
}
END_TEST

/* ---- live lookup ------------------------------------------------------------- */

#ifdef OFA_DEBUG_FULL
#define LOOKUP_BLOCKS 4000 /* every operation validates the whole heap */
#else
#define LOOKUP_BLOCKS 20000
#endif

START_TEST(test_lookup)
{
    struct heap *h = mk(1u << 20, 8);
    uint64_t *offs = malloc(LOOKUP_BLOCKS * sizeof(*offs));
    uint32_t who;
    int i;

    ck_assert_ptr_nonnull(offs);
    /* Enough blocks to grow the record pool and the lookup several times. */
    for (i = 0; i < LOOKUP_BLOCKS; i++)
        offs[i] = alloc_grow(h, 8 * (uint64_t)(1 + i % 37), 0, HEAP_OWNER_ARENA);
    check_valid(h);
    for (i = 0; i < LOOKUP_BLOCKS; i++) {
        ck_assert_uint_eq(heap_block_size(h, offs[i]), 8 * (uint64_t)(1 + i % 37));
        ck_assert_int_eq(heap_block_owner(h, offs[i], &who), 0);
        ck_assert_uint_eq(who, HEAP_OWNER_ARENA);
    }
    for (i = 0; i < LOOKUP_BLOCKS; i += 2)
        ck_assert_int_eq(heap_free(h, offs[i], NULL, NULL), 0);
    for (i = 0; i < LOOKUP_BLOCKS; i++)
        ck_assert_uint_eq(heap_block_size(h, offs[i]), i % 2 ? 8 * (uint64_t)(1 + i % 37) : 0);
    ck_assert_uint_eq(heap_block_size(h, 0), 0);
    ck_assert_uint_eq(heap_block_size(h, offs[1] + 8), 0);
    check_valid(h);
    for (i = 1; i < LOOKUP_BLOCKS; i += 2)
        ck_assert_int_eq(heap_free(h, offs[i], NULL, NULL), 0);
    ck_assert_uint_eq(stats(h).blocks_live, 0);
    ck_assert_uint_eq(stats(h).free_chunks, stats(h).pages);
    check_valid(h);
    free(offs);
    heap_destroy(h);
}
END_TEST

/* ---- validate catches corruption --------------------------------------------- */

START_TEST(test_validate)
{
    struct heap *h = mk(65536, 64);
    char why[256];
    uint64_t a, save;
    uint32_t i, save32;

    add_page(h, 65536);
    a = must_alloc(h, 1024, 0, HEAP_OWNER_ARENA);
    must_alloc(h, 64, 0, HEAP_OWNER_ARENA);
    ck_assert_int_eq(heap_free(h, a, NULL, NULL), 0);
    check_valid(h);

    /* A chunk's size. */
    i = h->pages[0].first;
    save = h->rec[i].size;
    h->rec[i].size += 64;
    why[0] = 0;
    ck_assert_int_eq(heap_validate(h, why, sizeof(why)), -EFAULT);
    ck_assert_uint_gt(strlen(why), 0);
    h->rec[i].size = save;
    check_valid(h);

    /* A bin bit. */
    save = h->word_map;
    h->word_map ^= 1;
    ck_assert_int_eq(heap_validate(h, why, sizeof(why)), -EFAULT);
    h->word_map = save;

    /* A free chunk in the wrong bin. */
    save32 = h->rec[i].tag;
    h->rec[i].tag = save32 + 1;
    ck_assert_int_eq(heap_validate(h, NULL, 0), -EFAULT);
    h->rec[i].tag = save32;

    /* A live block missing from the lookup (the newest heads its bucket). */
    {
        uint64_t b = must_alloc(h, 64, 0, HEAP_OWNER_ARENA), k;

        for (k = 0; k < h->nbuckets; k++)
            if (h->bucket[k] != HEAP_NIL && h->rec[h->bucket[k]].off == b)
                break;
        ck_assert_uint_lt(k, h->nbuckets);
        save32 = h->bucket[k];
        h->bucket[k] = h->rec[save32].hnext;
        ck_assert_int_eq(heap_validate(h, why, sizeof(why)), -EFAULT);
        h->bucket[k] = save32;
        check_valid(h);
    }
    /* Statistics. */
    h->st.bytes_live++;
    ck_assert_int_eq(heap_validate(h, why, sizeof(why)), -EFAULT);
    h->st.bytes_live--;
    check_valid(h);
    heap_destroy(h);
}
END_TEST

/* ---- randomized differential test against the oracle --------------------------- */

struct rnd {
    uint64_t s;
};

static uint64_t rnd_next(struct rnd *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rnd_below(struct rnd *r, uint64_t n)
{
    return n ? rnd_next(r) % n : 0;
}

/* Log-uniform in [1, max]. */
static uint64_t rnd_size(struct rnd *r, uint64_t max)
{
    unsigned bits = 64 - (unsigned)__builtin_clzll(max);
    uint64_t top = 1ull << rnd_below(r, bits);
    uint64_t s = top + rnd_below(r, top);

    return s > max ? max : s;
}

struct diff_cfg {
    uint64_t page_size;
    uint32_t align;
    uint64_t max_size;  /* largest ordinary request */
    uint64_t big_size;  /* largest request beyond a page (rare) */
    uint64_t max_align; /* largest requested alignment (0: none) */
    unsigned max_live;  /* the live set wanders between 0 and this */
    unsigned owners;    /* connection owners besides the arena */
    uint64_t ops;
};

struct blk {
    uint64_t off, size;
    uint32_t owner;
};

struct diff {
    const struct diff_cfg *cfg;
    struct heap *h;
    struct oracle *o;
    struct rnd r;
    uint64_t seed, op;
    struct blk *live;
    size_t nlive;
    uint32_t *owners;
    uint64_t *owner_blocks;
    uint64_t freed[16]; /* recently freed offsets, for double frees */
    unsigned nfreed;
    struct chunks hw; /* scratch for comparisons */
    struct chunks ow;
    /* What was exercised, printed at the end. */
    uint64_t n_alloc, n_aligned, n_again, n_free, n_bad, n_owner, n_release, max_pages;
};

#define DIFF_FAIL(d, ...)                                                                          \
    ck_abort_msg("seed %" PRIu64 " op %" PRIu64 ": %s", (d)->seed, (d)->op, __VA_ARGS__)

static void diff_release(void *ctx, uint64_t base, uint64_t len)
{
    struct diff *d = ctx;
    int rc = oracle_page_remove(d->o, base, len);

    if (rc != 0)
        DIFF_FAIL(d, "released a page that is not entirely free");
    d->n_release++;
}

static void walk_free_cb(void *ctx, uint64_t off, uint64_t size, int is_free)
{
    if (is_free)
        walk_cb(ctx, off, size, 1);
}

static void oracle_cb(void *ctx, uint64_t off, uint64_t size)
{
    walk_cb(ctx, off, size, 1);
}

/* After every operation: same free chunks, same totals, at most one empty
 * page and only of the standard length. */
static void diff_compare(struct diff *d)
{
    struct heap_stats st = stats(d->h);
    uint64_t bytes = 0, len = 0;
    size_t i, empty;

    d->hw.n = 0;
    d->ow.n = 0;
    heap__walk(d->h, walk_free_cb, &d->hw);
    oracle_walk(d->o, oracle_cb, &d->ow);
    if (d->hw.n != d->ow.n)
        DIFF_FAIL(d, "free chunk counts differ");
    for (i = 0; i < d->hw.n; i++)
        if (d->hw.c[i].off != d->ow.c[i].off || d->hw.c[i].size != d->ow.c[i].size)
            DIFF_FAIL(d, "free chunks differ");
    for (i = 0; i < d->nlive; i++)
        bytes += d->live[i].size;
    if (st.blocks_live != d->nlive || st.bytes_live != bytes)
        DIFF_FAIL(d, "live totals differ");
    if (st.free_chunks != d->ow.n || st.pages != oracle_pages(d->o))
        DIFF_FAIL(d, "page or chunk totals differ");
    if (st.largest_free != oracle_largest(d->o))
        DIFF_FAIL(d, "largest free chunk differs");
    if (st.bytes_reserved != st.bytes_live + oracle_free_bytes(d->o))
        DIFF_FAIL(d, "reserved bytes do not add up");
    if (st.pages > d->max_pages)
        d->max_pages = st.pages;
    empty = oracle_empty_pages(d->o, &len);
    if (empty > 1 || (empty == 1 && len != d->cfg->page_size))
        DIFF_FAIL(d, "empty pages kept beyond one spare");
}

static void diff_alloc(struct diff *d)
{
    const struct diff_cfg *c = d->cfg;
    uint64_t size, align = 0, a, s, off = 0, need = 0, base, plen;
    uint32_t owner = d->owners[rnd_below(&d->r, c->owners + 1)];
    int rc;

    size = rnd_below(&d->r, 50) == 0 ? rnd_size(&d->r, c->big_size) : rnd_size(&d->r, c->max_size);
    if (c->max_align && rnd_below(&d->r, 4) == 0)
        align = 1ull << rnd_below(&d->r, 64 - (unsigned)__builtin_clzll(c->max_align));
    a = align > c->align ? align : c->align;
    s = (size + c->align - 1) & ~(uint64_t)(c->align - 1);

    d->n_alloc++;
    d->n_aligned += a > c->align;
    rc = heap_alloc(d->h, size, align, owner, &off, &need);
    if (rc == -EAGAIN) {
        d->n_again++;
        if (oracle_fits(d->o, s, a))
            DIFF_FAIL(d, "-EAGAIN while a free chunk could hold the request");
        if (need < c->page_size || need % 4096 || need > HEAP_MAX_PAGE || need < s)
            DIFF_FAIL(d, "bad need");
        ck_assert_int_eq(heap_page_add(d->h, need, &base), 0);
        ck_assert_int_eq(oracle_page_add(d->o, base, need), 0);
        if (!oracle_fits(d->o, s, a))
            DIFF_FAIL(d, "the page asked for cannot hold the request");
        rc = heap_alloc(d->h, size, align, owner, &off, &need);
        if (rc != 0)
            DIFF_FAIL(d, "alloc failed after adding the page asked for");
    } else if (rc != 0) {
        DIFF_FAIL(d, "alloc failed");
    }
    if (off % a != 0)
        DIFF_FAIL(d, "block not aligned");
    if (heap_page_find(d->h, off, &base, &plen) != 0 || off + s > base + plen)
        DIFF_FAIL(d, "block outside a page");
    if (oracle_take(d->o, off, s) != 0)
        DIFF_FAIL(d, "block placed outside the free space");
    if (heap_block_size(d->h, off) != s)
        DIFF_FAIL(d, "block size");
    d->live[d->nlive++] = (struct blk){off, s, owner};
    d->owner_blocks[owner == HEAP_OWNER_ARENA ? 0 : owner]++;
}

static void diff_free(struct diff *d, size_t i)
{
    struct blk b = d->live[i];
    uint32_t who = 0;

    if (heap_block_owner(d->h, b.off, &who) != 0 || who != b.owner)
        DIFF_FAIL(d, "block owner");
    /* The model first: a page the heap releases must be free in it. */
    if (oracle_give(d->o, b.off, b.size) != 0)
        DIFF_FAIL(d, "oracle refused the free");
    if (heap_free(d->h, b.off, diff_release, d) != 0)
        DIFF_FAIL(d, "free of a live block failed");
    d->live[i] = d->live[--d->nlive];
    d->owner_blocks[b.owner]--;
    d->n_free++;
    d->freed[d->nfreed++ % 16] = b.off;
}

static int is_live(const struct diff *d, uint64_t off)
{
    size_t i;

    for (i = 0; i < d->nlive; i++)
        if (d->live[i].off == off)
            return 1;
    return 0;
}

static void diff_bad_free(struct diff *d)
{
    uint64_t off;
    struct heap_stats before = stats(d->h), after;

    switch (rnd_below(&d->r, 4)) {
    case 0:
        off = d->nfreed ? d->freed[rnd_below(&d->r, d->nfreed < 16 ? d->nfreed : 16)] : 0;
        break;
    case 1:
        off = d->nlive ? d->live[rnd_below(&d->r, d->nlive)].off + d->cfg->align : 1;
        break;
    case 2:
        off = rnd_next(&d->r);
        break;
    default:
        off = d->nlive ? d->live[rnd_below(&d->r, d->nlive)].off - 1 : 0;
        break;
    }
    if (is_live(d, off))
        return;
    d->n_bad++;
    if (heap_free(d->h, off, diff_release, d) != -EINVAL)
        DIFF_FAIL(d, "bad free not refused");
    after = stats(d->h);
    if (!stats_eq(&before, &after))
        DIFF_FAIL(d, "bad free changed the heap");
}

static void diff_owner_release(struct diff *d)
{
    unsigned k = 1 + (unsigned)rnd_below(&d->r, d->cfg->owners);
    uint32_t o = d->owners[k], n;
    size_t i;

    for (i = 0; i < d->nlive;) {
        if (d->live[i].owner == o) {
            if (oracle_give(d->o, d->live[i].off, d->live[i].size) != 0)
                DIFF_FAIL(d, "oracle refused an owner's block");
            d->live[i] = d->live[--d->nlive];
        } else {
            i++;
        }
    }
    heap_owner_release(d->h, o, diff_release, d);
    d->owner_blocks[o] = 0;
    d->n_owner++;
    ck_assert_int_eq(heap_owner_new(d->h, &n), 0);
    if (heap_owner_blocks(d->h, n) != 0)
        DIFF_FAIL(d, "new owner holds blocks");
    d->owners[k] = n;
}

static uint64_t base_seed(void)
{
    const char *s = getenv("OFA_SEED");

    return s != NULL ? strtoull(s, NULL, 0) : 0x0fa5eed;
}

static void run_diff_seed(const struct diff_cfg *cfg, uint64_t salt)
{
    struct diff d;
    uint64_t target = 0;
    unsigned k;
    char why[256];

    memset(&d, 0, sizeof(d));
    d.cfg = cfg;
    d.seed = base_seed() + salt;
    d.r.s = d.seed;
    fprintf(stderr, "diff: seed %" PRIu64 " (replay with OFA_SEED=%" PRIu64 ")\n", d.seed,
            d.seed - salt);
    d.h = mk(cfg->page_size, cfg->align);
    d.o = oracle_new(cfg->align);
    d.live = malloc((cfg->max_live + 1) * sizeof(*d.live));
    d.owners = malloc((cfg->owners + 1) * sizeof(*d.owners));
    d.owner_blocks = calloc(cfg->owners * 4 + 64 + 1, sizeof(*d.owner_blocks));
    ck_assert_ptr_nonnull(d.live);
    ck_assert_ptr_nonnull(d.owners);
    ck_assert_ptr_nonnull(d.owner_blocks);
    d.owners[0] = HEAP_OWNER_ARENA;
    for (k = 1; k <= cfg->owners; k++)
        ck_assert_int_eq(heap_owner_new(d.h, &d.owners[k]), 0);

    for (d.op = 0; d.op < cfg->ops; d.op++) {
        uint64_t dice = rnd_below(&d.r, 1000);

        /* The live set wanders: fill up, drain, so pages come and go. */
        if (d.op % 2000 == 0)
            target = rnd_below(&d.r, cfg->max_live + 1);
        if (dice < 20) {
            diff_bad_free(&d);
        } else if (dice < 24 && cfg->owners > 0) {
            diff_owner_release(&d);
        } else if (d.nlive < cfg->max_live &&
                   (d.nlive == 0 || rnd_below(&d.r, 100) < (d.nlive < target ? 70u : 30u))) {
            diff_alloc(&d);
        } else if (d.nlive > 0) {
            diff_free(&d, rnd_below(&d.r, d.nlive));
        }
        diff_compare(&d);
        if (d.op % 1000 == 0 && heap_validate(d.h, why, sizeof(why)) != 0)
            DIFF_FAIL(&d, why);
        if (d.op % 997 == 0) {
            k = (unsigned)rnd_below(&d.r, cfg->owners + 1);
            if (heap_owner_blocks(d.h, d.owners[k]) != d.owner_blocks[k == 0 ? 0 : d.owners[k]])
                DIFF_FAIL(&d, "owner block count");
        }
    }
    /* Drain: every page but one spare goes back. */
    while (d.nlive > 0)
        diff_free(&d, d.nlive - 1);
    diff_compare(&d);
    if (heap_validate(d.h, why, sizeof(why)) != 0)
        DIFF_FAIL(&d, why);
    ck_assert_uint_le(stats(d.h).pages, 1);
    fprintf(stderr,
            "diff: %" PRIu64 " ops: %" PRIu64 " allocs (%" PRIu64 " aligned, %" PRIu64
            " pages asked for), %" PRIu64 " frees, %" PRIu64 " bad frees, %" PRIu64
            " owner releases, %" PRIu64 " pages released, up to %" PRIu64 " pages\n",
            cfg->ops, d.n_alloc, d.n_aligned, d.n_again, d.n_free, d.n_bad, d.n_owner, d.n_release,
            d.max_pages);
    free(d.hw.c);
    free(d.ow.c);
    free(d.live);
    free(d.owners);
    free(d.owner_blocks);
    oracle_delete(d.o);
    heap_destroy(d.h);
}

/* Each configuration with two seeds. */
static void run_diff(const struct diff_cfg *cfg, uint64_t salt)
{
    run_diff_seed(cfg, salt);
    run_diff_seed(cfg, salt + 100);
}

/* Small pages, default alignment, some requests beyond a page. */
START_TEST(test_diff_small)
{
    static const struct diff_cfg cfg = {.page_size = 16384,
                                        .align = 64,
                                        .max_size = 4096,
                                        .big_size = 65536,
                                        .max_align = 0,
                                        .max_live = 300,
                                        .owners = 3,
                                        .ops = 300000};

    run_diff(&cfg, 1);
}
END_TEST

/* Aligned requests, up to beyond the pages' natural alignment. */
START_TEST(test_diff_aligned)
{
    static const struct diff_cfg cfg = {.page_size = 65536,
                                        .align = 8,
                                        .max_size = 16384,
                                        .big_size = 200000,
                                        .max_align = 262144,
                                        .max_live = 200,
                                        .owners = 2,
                                        .ops = 300000};

    run_diff(&cfg, 2);
}
END_TEST

/* Page-sized alignment and granule: every block is one or more pages. */
START_TEST(test_diff_pages)
{
    static const struct diff_cfg cfg = {.page_size = 4096,
                                        .align = 4096,
                                        .max_size = 16384,
                                        .big_size = 65536,
                                        .max_align = 16384,
                                        .max_live = 150,
                                        .owners = 4,
                                        .ops = 300000};

    run_diff(&cfg, 3);
}
END_TEST

/* Larger pages, small granule, many size classes, frequent owner releases. */
START_TEST(test_diff_mixed)
{
    static const struct diff_cfg cfg = {.page_size = 1u << 20,
                                        .align = 16,
                                        .max_size = 65536,
                                        .big_size = 4u << 20,
                                        .max_align = 4096,
                                        .max_live = 400,
                                        .owners = 6,
                                        .ops = 300000};

    run_diff(&cfg, 4);
}
END_TEST

/* ---- suite ---------------------------------------------------------------- */

/* ---- the walk with a cursor -------------------------------------------------- */

struct walk_ref {
    struct heap_walk_ent v[4096];
    size_t n;
    const struct heap *h;
};

/* heap__walk's view, as heap_walk entries (pages from heap_page_next). */
static void walk_ref_fn(void *ctx, uint64_t off, uint64_t size, int is_free)
{
    struct walk_ref *w = ctx;
    uint64_t base = 0, len = 0;
    uint32_t owner = 0;

    ck_assert_uint_lt(w->n + 2, sizeof(w->v) / sizeof(w->v[0]));
    /* A chunk at a page's base starts that page. */
    if (heap_page_find(w->h, off, &base, &len) == 0 && base == off)
        w->v[w->n++] = (struct heap_walk_ent){base, len, HEAP_WALK_PAGE, 0};
    if (!is_free)
        ck_assert_int_eq(heap_block_owner(w->h, off, &owner), 0);
    w->v[w->n++] = (struct heap_walk_ent){off, size, is_free ? HEAP_WALK_FREE : HEAP_WALK_LIVE,
                                          owner};
}

START_TEST(test_walk)
{
    static struct walk_ref ref;
    static struct heap_walk_ent got[4096];
    struct heap *h = mk(16384, 64);
    struct rnd r = {base_seed() + 7};
    uint64_t offs[600], next, from;
    uint32_t o1;
    size_t n, i, k, total, max;
    int with_free;

    fprintf(stderr, "walk: seed %" PRIu64 " (replay with OFA_SEED=%" PRIu64 ")\n", r.s,
            r.s - 7);
    ck_assert_int_eq(heap_owner_new(h, &o1), 0);
    /* Empty heap: nothing, and the end at once. */
    ck_assert_uint_eq(heap_walk(h, 0, true, got, 3, &next), 0);
    ck_assert_uint_eq(next, 0);
    for (i = 0; i < 600; i++)
        offs[i] = alloc_grow(h, rnd_size(&r, 3000), 0, i % 3 ? o1 : HEAP_OWNER_ARENA);
    for (i = 0; i < 600; i += 1 + rnd_below(&r, 3)) {
        ck_assert_int_eq(heap_free(h, offs[i], NULL, NULL), 0);
        offs[i] = 0;
    }
    ref.n = 0;
    ref.h = h;
    heap__walk(h, walk_ref_fn, &ref);
    /* Whole or in parts of every size from 3 up: the same sequence, with
     * or without free chunks. */
    for (with_free = 0; with_free <= 1; with_free++) {
        for (max = 3; max <= 40; max += 1 + max / 8) {
            total = 0;
            from = 0;
            do {
                n = heap_walk(h, from, with_free, got + total, max, &next);
                ck_assert_uint_ge(n, 1);
                ck_assert_uint_le(n, max);
                total += n;
                ck_assert(next == 0 || next > from);
                from = next;
            } while (next != 0);
            for (i = k = 0; i < ref.n; i++) {
                if (!with_free && ref.v[i].kind == HEAP_WALK_FREE)
                    continue;
                ck_assert_uint_lt(k, total);
                ck_assert_uint_eq(got[k].off, ref.v[i].off);
                ck_assert_uint_eq(got[k].size, ref.v[i].size);
                ck_assert_uint_eq(got[k].kind, ref.v[i].kind);
                ck_assert_uint_eq(got[k].owner, ref.v[i].owner);
                k++;
            }
            ck_assert_uint_eq(k, total);
        }
    }
    /* The heap changes between two calls: the walk goes on from the first
     * entry at or after the cursor, in order, never twice. */
    n = heap_walk(h, 0, true, got, 10, &next);
    ck_assert_uint_ne(next, 0);
    ck_assert_int_eq(heap_free(h, next, NULL, NULL), 0); /* the cursor's block goes */
    for (i = 0; i < 600; i++)
        if (offs[i] == next)
            offs[i] = 0;
    from = next;
    n = heap_walk(h, from, true, got, 4096, &next);
    ck_assert_uint_eq(next, 0);
    ck_assert_uint_ge(n, 1);
    ck_assert_uint_ge(got[0].off + got[0].size, from); /* the merged chunk, or what follows */
    for (i = 1; i < n; i++)
        ck_assert_uint_ge(got[i].off, got[i - 1].off);
    /* Owner figures: blocks and bytes. */
    for (i = 0, k = 0, total = 0; i < 600; i++)
        if (offs[i] != 0 && i % 3) {
            k++;
            total += heap_block_size(h, offs[i]);
        }
    ck_assert_uint_eq(heap_owner_blocks(h, o1), k);
    ck_assert_uint_eq(heap_owner_bytes(h, o1), total);
    ck_assert_int_eq(heap_validate(h, NULL, 0), 0);
    heap_destroy(h);
}
END_TEST

/* A heap put back from a listing of another (pages at their bases, then
 * its blocks claimed) is the same heap: the same walk, the same figures. */
START_TEST(test_claim)
{
    static struct heap_walk_ent a[8192], b[8192];
    struct heap *h = mk(16384, 64), *g = mk(16384, 64);
    struct rnd r = {base_seed() + 11};
    uint64_t offs[900], next, got, pbase = 0, plen = 0;
    uint32_t o1, o2, go1, go2;
    size_t na, nb, i, k;
    struct heap_stats sh, sg;

    fprintf(stderr, "claim: seed %" PRIu64 " (replay with OFA_SEED=%" PRIu64 ")\n", r.s,
            r.s - 11);
    ck_assert_int_eq(heap_owner_new(h, &o1), 0);
    ck_assert_int_eq(heap_owner_new(h, &o2), 0);
    ck_assert_int_eq(heap_owner_new(g, &go1), 0);
    ck_assert_int_eq(heap_owner_new(g, &go2), 0);
    for (i = 0; i < 900; i++)
        offs[i] = alloc_grow(h, rnd_size(&r, 5000), i % 7 ? 0 : 256,
                             i % 3 == 0 ? HEAP_OWNER_ARENA : i % 3 == 1 ? o1 : o2);
    for (i = 0; i < 900; i += 1 + rnd_below(&r, 3))
        ck_assert_int_eq(heap_free(h, offs[i], NULL, NULL), 0);
    na = heap_walk(h, 0, false, a, 8192, &next);
    ck_assert_uint_eq(next, 0);

    /* Pages first, at their bases; then the blocks: those of even index in
     * order (the hint), the others afterwards from the top down (the walk). */
    for (i = 0; i < na; i++)
        if (a[i].kind == HEAP_WALK_PAGE) {
            ck_assert_int_eq(heap_page_add_at(g, a[i].size, a[i].off, &got), 0);
            ck_assert_uint_eq(got, a[i].off);
        }
    for (k = 0; k < 2; k++)
        for (i = 0; i < na; i++) {
            size_t j = k == 0 ? i : na - 1 - i;
            uint32_t ow;

            if (a[j].kind != HEAP_WALK_LIVE || j % 2 != k)
                continue;
            ow = a[j].owner == HEAP_OWNER_ARENA ? HEAP_OWNER_ARENA : a[j].owner == o1 ? go1 : go2;
            ck_assert_int_eq(heap_claim(g, a[j].off, a[j].size, ow), 0);
        }
    check_valid(g);
    nb = heap_walk(g, 0, false, b, 8192, &next);
    ck_assert_uint_eq(nb, na);
    for (i = 0; i < na; i++) {
        ck_assert_uint_eq(b[i].off, a[i].off);
        ck_assert_uint_eq(b[i].size, a[i].size);
        ck_assert_uint_eq(b[i].kind, a[i].kind);
        if (a[i].kind == HEAP_WALK_LIVE)
            ck_assert_uint_eq(b[i].owner == HEAP_OWNER_ARENA, a[i].owner == HEAP_OWNER_ARENA);
    }
    ck_assert_uint_eq(heap_owner_blocks(g, go1), heap_owner_blocks(h, o1));
    ck_assert_uint_eq(heap_owner_bytes(g, go2), heap_owner_bytes(h, o2));
    heap_stats(h, &sh);
    heap_set_counts(g, sh.allocs, sh.alloc_failures);
    heap_stats(g, &sg);
    ck_assert_uint_eq(sg.blocks_live, sh.blocks_live);
    ck_assert_uint_eq(sg.bytes_live, sh.bytes_live);
    ck_assert_uint_eq(sg.free_chunks, sh.free_chunks);
    ck_assert_uint_eq(sg.largest_free, sh.largest_free);
    ck_assert_uint_eq(sg.allocs, sh.allocs);
    ck_assert_uint_eq(sg.frees, sh.frees);

    /* What is not free cannot be claimed: a live block, a byte of one, a
     * range running into one, outside every page; nor a misaligned range. */
    for (i = 0; i < na; i++)
        if (a[i].kind == HEAP_WALK_LIVE && a[i].size >= 192)
            break;
    ck_assert_uint_lt(i, na);
    ck_assert_int_eq(heap_claim(g, a[i].off, a[i].size, HEAP_OWNER_ARENA), -EINVAL);
    ck_assert_int_eq(heap_claim(g, a[i].off + 64, 64, HEAP_OWNER_ARENA), -EINVAL);
    ck_assert_int_eq(heap_claim(g, a[i].off - 64, 128, HEAP_OWNER_ARENA),
                     -EINVAL); /* starts free (or in a block), ends in the block */
    for (i = 0; i < na; i++)
        if (a[i].kind == HEAP_WALK_PAGE) {
            pbase = a[i].off;
            plen = a[i].size;
        }
    ck_assert_int_eq(heap_claim(g, pbase + plen, 64, HEAP_OWNER_ARENA), -EINVAL);
    ck_assert_int_eq(heap_claim(g, pbase + 8, 64, HEAP_OWNER_ARENA), -EINVAL);
    ck_assert_int_eq(heap_claim(g, pbase, 0, HEAP_OWNER_ARENA), -EINVAL);
    ck_assert_int_eq(heap_claim(g, pbase, 64, 9999), -EINVAL);
    check_valid(g);

    /* And the heap put back works on: every listed block frees, the rest
     * allocates again. */
    for (i = 0; i < na; i++)
        if (a[i].kind == HEAP_WALK_LIVE)
            ck_assert_int_eq(heap_free(g, a[i].off, NULL, NULL), 0);
    for (i = 0; i < 100; i++)
        alloc_grow(g, rnd_size(&r, 5000), 0, go1);
    check_valid(g);
    heap_destroy(h);
    heap_destroy(g);
}
END_TEST

static Suite *heap_suite(void)
{
    Suite *s = suite_create("heap");
    struct {
        const char *name;
        const TTest *test;
        double timeout;
    } cases[] = {
        {"create", test_create, 10},
        {"pages", test_pages, 10},
        {"fit", test_fit, 10},
        {"no_false_full", test_no_false_full, 10},
        {"merge", test_merge, 10},
        {"align", test_align, 10},
        {"big", test_big, 10},
        {"release", test_release, 10},
        {"bad_free", test_bad_free, 10},
        {"sizes", test_sizes, 10},
        {"stats", test_stats, 10},
        {"owners", test_owners, 10},
        {"lookup", test_lookup, 60},
        {"validate", test_validate, 10},
        {"walk", test_walk, 30},
        {"claim", test_claim, 30},
        {"diff_small", test_diff_small, 240},
        {"diff_aligned", test_diff_aligned, 240},
        {"diff_pages", test_diff_pages, 240},
        {"diff_mixed", test_diff_mixed, 240},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        TCase *tc = tcase_create(cases[i].name);

        tcase_add_test(tc, cases[i].test);
        tcase_set_timeout(tc, cases[i].timeout);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    return ofa_check_run(heap_suite());
}

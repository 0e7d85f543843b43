/*
 * heap.c - the allocator core: free-space index, chunk records, live lookup,
 * owners and pages of one arena. Called by the arena code of ofad (one heap
 * per arena), by the tests and by the benchmark. It calls only libc:
 * malloc/realloc/free to grow its own tables (never per operation in the
 * steady state), snprintf for heap_validate().
 *
 * Design
 * ------
 * Every page is tiled by chunks, each either free or a live block. A chunk is
 * a 40-byte record (struct heap_chunk) in one growable pool, addressed by a
 * 32-bit index; no metadata lives in the pages. Each record knows its address
 * neighbours inside its page, so a freed block merges with free neighbours in
 * O(1), without any address tree.
 *
 * Free chunks are indexed by size, TLSF-style: with u the size in units of the
 * heap alignment, sizes below 2 * 64 units get a bin each (every entry of such
 * a bin has the same size) and larger ones 64 bins per power of two, so the
 * sizes in one bin differ by less than 1/64 (HEAP_SL_BITS). A bitmap of
 * non-empty bins, summarised by one 64-bit word, finds the first non-empty bin
 * at or above any bin in a few instructions. Each bin is a doubly linked list
 * through lprev/lnext, newest first.
 *
 * Allocating s bytes (rounded up to the heap alignment g) at alignment A:
 *   1. among the first HEAP_PROBE entries of the bin s maps to, take the
 *      smallest that fits (a perfect fit at once, else the lowest address on
 *      ties);
 *   2. else the best of the first HEAP_PROBE entries of the first non-empty
 *      bin whose every entry fits: for A = g that is any larger bin; for
 *      A > g a chunk of s + (A - g) bytes or more always fits (its start is
 *      a multiple of g, so it needs at most A - g bytes of padding), and the
 *      closest larger bin is probed first, checking each entry exactly;
 *   3. only before giving up, every remaining entry of the bins that may hold
 *      a fitting chunk is checked exactly.
 * So the heap never asks for a new page while a free chunk could serve the
 * request, steps 1-2 cost O(1), and the choice of chunk is close to exact
 * best fit. Step 3 walks at most the entries of the bins between the
 * request's size and its size plus padding, and only when the answer would
 * otherwise be "a new page".
 *
 * Which end of the chunk the block takes matters as much as which chunk.
 * The neighbours of a free chunk are live blocks (or the page's ends). At
 * A = g the block goes next to the larger neighbour, and the rest of the
 * chunk, often a sliver, stays next to the smaller one (a page's end counts
 * as smallest; on a tie, the high end). The likely reason it helps: once
 * that small block is freed, the two make a hole that the frequent small
 * requests fill again, whereas a sliver next to a large block only pads the
 * large hole that block leaves, and best fit cuts it off again as a sliver.
 * Measured on the fill trace of bench/alloc_bench at H = 0.98, over
 * thousands of seeds, it leaves about 0.0008 of the page more in use at the
 * first failure than exact best fit (which takes the low end) or than
 * always taking the high end (which are on a par), and about as much at
 * H = 0.97 and 0.99; at lower fill levels and the other size ranges tried,
 * it is within 0.0001 of the high end, sometimes above, sometimes below.
 * It adds no instructions per churn pair, only the reads of the two
 * neighbours' records when a chunk is split. For A > g the block is cut at
 * the highest A-aligned offset that fits, and the bytes above it (fewer
 * than A) become a chunk of their own. Either way the rest keeps the
 * chunk's record, and often its bin, so that splitting a large chunk costs
 * almost nothing.
 *
 * Live blocks are found by offset through a chained hash table: a power-of-two
 * array of 32-bit bucket heads (two to four per live block), each a chain of
 * records through hnext. Finding a block and unlinking it is one walk; there
 * is nothing to repair afterwards. Record + buckets: 48 to 56 bytes per live
 * block, 40 per free chunk, plus the record pool's growth slack (it grows by
 * half, so at most a third of it is idle). While live, a
 * block's lprev/lnext chain it in its owner's list, so that releasing an owner
 * costs O(its blocks); the arena's own blocks (owner 0, never released) are in
 * no list at all.
 *
 * The hot paths are shaped for the common cases, measured in instructions:
 * heap_alloc() inlines "the head of the request's own bin fits exactly" (in
 * the bins of small sizes it always does) and hands anything else to
 * out-of-line functions; heap_free() inlines "no free neighbour". blocks_live
 * and free_chunks are not counted but derived (allocs - frees; records in use
 * - blocks_live), and largest_free is read off the top non-empty bin when
 * asked for (a short list: its sizes are within 1/64 of each other).
 *
 * Pages get bases that only grow (see heap.h); the page array is sorted by
 * base (appended, since bases grow; a removal shifts the tail, which is rare).
 * A page is entirely free exactly when a freed chunk ends with no address
 * neighbour. At most one such page of the standard length is kept as the
 * spare (h->spare; its chunk stays in the bins and serves allocations); any
 * other is dropped and reported through the release callback. h->spare is not
 * cleared when the spare gets used (that would cost every allocation a test);
 * have_spare() checks it when a page empties.
 *
 * Invariants (all checked by heap_validate()):
 *   - each page is tiled exactly, in address order, by the chunks reachable
 *     from its first chunk through anext, with aprev mirroring anext;
 *   - no two free chunks are address neighbours;
 *   - every free chunk is in the bin of its size, every bin list is
 *     consistent, and a bitmap bit is set exactly for the non-empty bins and
 *     bitmap words;
 *   - every live block is in the lookup, in the bucket of its offset, and in
 *     its owner's list (arena excepted), and nothing else is; owners' counts
 *     match their lists;
 *   - offsets and sizes are multiples of the heap alignment;
 *   - every record is in a page or on the unused list;
 *   - the statistics equal the sums over pages and chunks;
 *   - the largest free chunk is where largest_free() looks for it.
 *
 * Errors are negative errno values. Every operation checks its arguments and
 * reserves the records and table space it needs before it changes anything,
 * so a failing call changes nothing.
 */
#include "heap_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HEAP_PROBE
#define HEAP_PROBE 4 /* entries looked at in a bin on the fast path */
#endif
#define HEAP_MIN_BUCKETS 64u
#ifndef HEAP_LOAD_SHIFT
#define HEAP_LOAD_SHIFT 1 /* at most nbuckets >> this live blocks (load 1/2) */
#endif
#define HEAP_MIN_RECS 64u
#define HASH_MUL      0x9E3779B97F4A7C15ull /* 2^64 / golden ratio, odd */

/* Hot helpers are inlined whatever the optimiser thinks: a call costs more
 * than most of them do. */
#define HOT static inline __attribute__((always_inline))

#ifdef OFA_DEBUG_FULL
static void debug_check(const struct heap *h)
{
    char why[256];

    if (heap_validate(h, why, sizeof(why)) != 0) {
        /* A broken invariant is our own bug: stop where it happened. */
        fprintf(stderr, "heap: invariant broken: %s\n", why);
        abort();
    }
}
#define DEBUG_CHECK(h) debug_check(h)
#else
#define DEBUG_CHECK(h) ((void)0)
#endif

static inline unsigned log2_u64(uint64_t x)
{
    return 63u - (unsigned)__builtin_clzll(x);
}

static inline uint64_t next_pow2(uint64_t x)
{
    return x <= 1 ? 1 : 1ull << (64 - __builtin_clzll(x - 1));
}

static inline bool is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* The natural alignment of a page of len bytes. */
static inline uint64_t page_align(uint64_t len)
{
    return next_pow2(len < 4096 ? 4096 : len);
}

HOT bool is_free(const struct heap_chunk *c)
{
    return c->tag < HEAP_LIVE;
}

/* Counts that follow from others, so that no operation has to keep them. */
HOT uint64_t live_blocks(const struct heap *h)
{
    return h->st.allocs - h->st.frees;
}

HOT uint64_t free_chunks(const struct heap *h)
{
    /* Records in use (rec_cap - rec_avail) are the chunks of all pages. */
    return (uint64_t)(h->rec_cap - h->rec_avail) - live_blocks(h);
}

/*
 * Whether h->spare is a spare page: an entirely free page of the standard
 * length. It is not cleared when the spare gets used, only checked when it
 * matters (a page empties or is added), which keeps it off the hot paths; a
 * record that now covers another empty standard page serves as well.
 */
static bool have_spare(const struct heap *h)
{
    const struct heap_chunk *c;

    if (h->spare == HEAP_NIL)
        return false;
    c = &h->rec[h->spare];
    return is_free(c) && c->aprev == HEAP_NIL && c->anext == HEAP_NIL && c->size == h->page_size;
}

/* ---- size bins ---------------------------------------------------------- */

/*
 * The bin of a free chunk of size bytes. With u = size / align: u itself
 * below 2 * HEAP_SL; above, HEAP_SL bins per power of two, numbered on from
 * there. Branch-free: fl is at least HEAP_SL_BITS, and for u < 2 * HEAP_SL the
 * formula reduces to u.
 */
HOT uint32_t bin_floor(const struct heap *h, uint64_t size)
{
    uint64_t u = size >> h->shift;
    unsigned fl = log2_u64(u | (2 * HEAP_SL - 1));

    return ((fl - HEAP_SL_BITS) << HEAP_SL_BITS) + (uint32_t)(u >> (fl - HEAP_SL_BITS));
}

/* The smallest size that maps to bin b. */
static inline uint64_t bin_min(const struct heap *h, uint32_t b)
{
    uint64_t u;

    if (b < 2 * HEAP_SL) {
        u = b;
    } else {
        unsigned fl = (b >> HEAP_SL_BITS) + HEAP_SL_BITS - 1;

        u = (uint64_t)(HEAP_SL | (b & (HEAP_SL - 1))) << (fl - HEAP_SL_BITS);
    }
    return u << h->shift;
}

/* The first bin whose every chunk is >= size (HEAP_BINS when none can be). */
static inline uint32_t bin_ceil(const struct heap *h, uint64_t size)
{
    uint32_t b = bin_floor(h, size);

    return bin_min(h, b) == size ? b : b + 1;
}

uint32_t heap__bin_of(const struct heap *h, uint64_t size)
{
    return bin_floor(h, size);
}

uint64_t heap__bin_min(const struct heap *h, uint32_t b)
{
    return bin_min(h, b);
}

/* The first non-empty bin >= b, or HEAP_NIL. */
HOT uint32_t bin_search(const struct heap *h, uint32_t b)
{
    uint32_t w;
    uint64_t m;

    if (b >= HEAP_BINS)
        return HEAP_NIL;
    w = b >> 6;
    m = h->bin_map[w] & (~0ull << (b & 63));
    if (m)
        return (w << 6) | (uint32_t)__builtin_ctzll(m);
    m = h->word_map & ((~0ull << w) << 1);
    if (!m)
        return HEAP_NIL;
    w = (uint32_t)__builtin_ctzll(m);
    return (w << 6) | (uint32_t)__builtin_ctzll(h->bin_map[w]);
}

/* Puts chunk i (off and size set) at the head of the bin of its size. */
HOT void bin_insert(struct heap *h, uint32_t i)
{
    struct heap_chunk *rec = h->rec, *c = &rec[i];
    uint32_t b = bin_floor(h, c->size), head = h->bin_head[b];

    c->tag = b;
    c->lprev = HEAP_NIL;
    c->lnext = head;
    if (head != HEAP_NIL) {
        rec[head].lprev = i;
    } else {
        h->bin_map[b >> 6] |= 1ull << (b & 63);
        h->word_map |= 1ull << (b >> 6);
    }
    h->bin_head[b] = i;
}

HOT void bin_remove(struct heap *h, uint32_t i)
{
    struct heap_chunk *rec = h->rec, *c = &rec[i];
    uint32_t b = c->tag, p = c->lprev, n = c->lnext;

    assert(is_free(c));
    if (p != HEAP_NIL) {
        rec[p].lnext = n;
    } else {
        h->bin_head[b] = n;
        if (n == HEAP_NIL) {
            h->bin_map[b >> 6] &= ~(1ull << (b & 63));
            if (h->bin_map[b >> 6] == 0)
                h->word_map &= ~(1ull << (b >> 6));
        }
    }
    if (n != HEAP_NIL)
        rec[n].lprev = p;
}

/* Gives free chunk i a new offset and size, moving it to another bin only if
 * its size class changes. */
HOT void free_move(struct heap *h, uint32_t i, uint64_t off, uint64_t size)
{
    struct heap_chunk *c = &h->rec[i];

    if (bin_floor(h, size) == c->tag) {
        c->off = off;
        c->size = size;
    } else {
        bin_remove(h, i);
        c->off = off;
        c->size = size;
        bin_insert(h, i);
    }
}

/* ---- record pool -------------------------------------------------------- */

/* Makes the pool cap records (more than now, at most HEAP_NIL). */
static int rec_resize(struct heap *h, uint64_t cap)
{
    struct heap_chunk *nrec = realloc(h->rec, cap * sizeof(*nrec));

    if (nrec == NULL)
        return -ENOMEM;
    h->rec = nrec;
    h->rec_avail += (uint32_t)cap - h->rec_cap;
    h->rec_cap = (uint32_t)cap;
    return 0;
}

/* Grows the pool so that n records can be taken. */
static int rec_grow(struct heap *h, uint32_t n)
{
    /* By half again: amortised O(1) (glibc moves large blocks with mremap,
     * without copying), and at most a third of the pool idle after growing. */
    uint64_t cap = (uint64_t)h->rec_cap + h->rec_cap / 2;

    if (cap < HEAP_MIN_RECS)
        cap = HEAP_MIN_RECS;
    if (cap > HEAP_NIL) /* HEAP_NIL itself is never an index */
        cap = HEAP_NIL;
    if (h->rec_avail + (cap - h->rec_cap) < n)
        return -ENOMEM;
    return rec_resize(h, cap);
}

/* Makes sure n records can be taken without growing. */
HOT int rec_reserve(struct heap *h, uint32_t n)
{
    if (__builtin_expect(h->rec_avail >= n, 1))
        return 0;
    return rec_grow(h, n);
}

/* pre: rec_reserve() made room. */
HOT uint32_t rec_take(struct heap *h)
{
    uint32_t i = h->rec_free;

    assert(h->rec_avail > 0);
    h->rec_avail--;
    if (i != HEAP_NIL) {
        h->rec_free = h->rec[i].lnext;
        return i;
    }
    return h->rec_top++;
}

HOT void rec_put(struct heap *h, uint32_t i)
{
    h->rec[i].tag = HEAP_TAG_UNUSED;
    h->rec[i].lnext = h->rec_free;
    h->rec_free = i;
    h->rec_avail++;
}

/* ---- live lookup -------------------------------------------------------- */

/* Fibonacci hashing: the top bits of off * 2^64 / phi pick the bucket. */
HOT uint32_t *bucket_of(const struct heap *h, uint64_t off)
{
    return &h->bucket[(off * HASH_MUL) >> h->bucket_shift];
}

HOT void hash_put(struct heap *h, uint32_t i, uint64_t off)
{
    uint32_t *b = bucket_of(h, off);

    h->rec[i].hnext = *b;
    *b = i;
}

/* The link (a bucket or an hnext field) that holds the live block at off, or
 * NULL if there is none. */
HOT uint32_t *hash_link(const struct heap *h, uint64_t off)
{
    uint32_t *link = bucket_of(h, off), i;

    while ((i = *link) != HEAP_NIL) {
        if (h->rec[i].off == off)
            return link;
        link = &h->rec[i].hnext;
    }
    return NULL;
}

/* The live block at off, or HEAP_NIL. */
HOT uint32_t hash_find(const struct heap *h, uint64_t off)
{
    uint32_t *link = hash_link(h, off);

    return link == NULL ? HEAP_NIL : *link;
}

/* Doubles the buckets and rehashes every live block. */
static int hash_grow(struct heap *h)
{
    uint64_t n = h->nbuckets, b;
    uint32_t *old = h->bucket, *nb, i, next;

    if (n * 2 > (1ull << 32))
        return -ENOMEM;
    nb = malloc(n * 2 * sizeof(*nb));
    if (nb == NULL)
        return -ENOMEM;
    memset(nb, 0xff, n * 2 * sizeof(*nb));
    h->bucket = nb;
    h->nbuckets = n * 2;
    h->bucket_limit = h->nbuckets >> HEAP_LOAD_SHIFT;
    h->bucket_shift--;
    for (b = 0; b < n; b++) {
        for (i = old[b]; i != HEAP_NIL; i = next) {
            next = h->rec[i].hnext;
            hash_put(h, i, h->rec[i].off);
        }
    }
    free(old);
    return 0;
}

/* Makes sure one more live block keeps the buckets at least as many. */
HOT int hash_reserve(struct heap *h)
{
    if (__builtin_expect(live_blocks(h) < h->bucket_limit, 1))
        return 0;
    return hash_grow(h);
}

/* ---- owners ------------------------------------------------------------- */

HOT bool owner_valid(const struct heap *h, uint32_t owner)
{
    return owner == HEAP_OWNER_ARENA || (owner < h->nowners && h->owners[owner].active);
}

/* Marks block i live for owner and lists it there (the arena keeps no list:
 * its count is blocks_live - owned_blocks). */
HOT void owner_link(struct heap *h, uint32_t owner, uint32_t i)
{
    struct heap_chunk *rec = h->rec;
    struct heap_owner *o;

    rec[i].tag = HEAP_LIVE | owner;
    if (owner == HEAP_OWNER_ARENA)
        return;
    o = &h->owners[owner];
    o->blocks++;
    o->bytes += rec[i].size;
    h->owned_blocks++;
    h->owned_bytes += rec[i].size;
    rec[i].lprev = HEAP_NIL;
    rec[i].lnext = o->head;
    if (o->head != HEAP_NIL)
        rec[o->head].lprev = i;
    o->head = i;
}

HOT void owner_unlink(struct heap *h, uint32_t i)
{
    struct heap_chunk *rec = h->rec, *c = &rec[i];
    uint32_t owner = c->tag & ~HEAP_LIVE;
    struct heap_owner *o;

    if (owner == HEAP_OWNER_ARENA)
        return;
    o = &h->owners[owner];
    o->blocks--;
    o->bytes -= c->size;
    h->owned_blocks--;
    h->owned_bytes -= c->size;
    if (c->lprev != HEAP_NIL)
        rec[c->lprev].lnext = c->lnext;
    else
        o->head = c->lnext;
    if (c->lnext != HEAP_NIL)
        rec[c->lnext].lprev = c->lprev;
}

/* ---- pages -------------------------------------------------------------- */

/* Index of the page with the largest base <= off, or npages if none. */
static size_t page_floor(const struct heap *h, uint64_t off)
{
    size_t lo = 0, hi = h->npages;

    /* Find the first page with base > off; the one before it is the floor. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (h->pages[mid].base <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? h->npages : lo - 1;
}

/*
 * A page just became entirely free: chunk i (in no bin) spans it. Keeps it as
 * the spare if there is none and the page has the standard length; else
 * drops it and tells the caller.
 */
static void page_emptied(struct heap *h, uint32_t i, heap_release_fn *release, void *ctx)
{
    uint64_t base = h->rec[i].off, len = h->rec[i].size;
    size_t p;

    if (len == h->page_size && (h->spare == i || !have_spare(h))) {
        h->spare = i;
        bin_insert(h, i);
        return;
    }
    p = page_floor(h, base);
    assert(p < h->npages && h->pages[p].base == base && h->pages[p].len == len);
    assert(h->pages[p].first == i);
    memmove(&h->pages[p], &h->pages[p + 1], (h->npages - p - 1) * sizeof(h->pages[0]));
    h->npages--;
    rec_put(h, i);
    h->st.pages--;
    h->st.bytes_reserved -= len;
    if (release != NULL)
        release(ctx, base, len);
}

/* ---- create / destroy --------------------------------------------------- */

int heap_create(struct heap **out, uint64_t page_size, uint32_t align)
{
    struct heap *h;

    if (out == NULL || !heap_page_size_valid(page_size) || !heap_align_valid(align))
        return -EINVAL;
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        goto fail;
    h->page_size = page_size;
    h->align = align;
    h->claim_hint = HEAP_NIL;
    h->shift = log2_u64(align);
    h->rec_free = HEAP_NIL;
    h->spare = HEAP_NIL;
    h->owner_free = HEAP_NIL;
    h->next_base = 1; /* so the first base is the page's natural alignment, > 0 */
    memset(h->bin_head, 0xff, sizeof(h->bin_head));
    h->bucket = malloc(HEAP_MIN_BUCKETS * sizeof(*h->bucket));
    if (h->bucket == NULL)
        goto fail_heap;
    memset(h->bucket, 0xff, HEAP_MIN_BUCKETS * sizeof(*h->bucket));
    h->nbuckets = HEAP_MIN_BUCKETS;
    h->bucket_limit = HEAP_MIN_BUCKETS >> HEAP_LOAD_SHIFT;
    h->bucket_shift = 64 - log2_u64(HEAP_MIN_BUCKETS);
    h->owners = malloc(8 * sizeof(*h->owners));
    if (h->owners == NULL)
        goto fail_bucket;
    h->owners_cap = 8;
    h->nowners = 1;
    h->owners[HEAP_OWNER_ARENA] = (struct heap_owner){.head = HEAP_NIL, .active = 1};
    h->st.page_size = page_size;
    h->st.align = align;
    *out = h;
    return 0;

fail_bucket:
    free(h->bucket);
fail_heap:
    free(h);
fail:
    return -ENOMEM;
}

void heap_destroy(struct heap *h)
{
    if (h == NULL)
        return;
    free(h->owners);
    free(h->pages);
    free(h->bucket);
    free(h->rec);
    free(h);
}

/* ---- pages -------------------------------------------------------------- */

int heap_page_add(struct heap *h, uint64_t len, uint64_t *base)
{
    return heap_page_add_at(h, len, 0, base);
}

int heap_page_add_at(struct heap *h, uint64_t len, uint64_t floor, uint64_t *base)
{
    uint64_t a, b, from = floor > h->next_base ? floor : h->next_base;
    uint32_t i;
    int rc;

    if (!heap_page_size_valid(len))
        return -EINVAL;
    a = page_align(len);
    /* Bases only grow; running out of the 64-bit space is running out of
     * memory (it takes 2^24 pages of the largest length). */
    if (from > UINT64_MAX - (a - 1))
        return -ENOMEM;
    b = (from + a - 1) & ~(a - 1);
    if (b > UINT64_MAX - len)
        return -ENOMEM;
    if (h->npages == h->pages_cap) {
        size_t ncap = h->pages_cap ? h->pages_cap * 2 : 8;
        struct heap_page *np = realloc(h->pages, ncap * sizeof(*np));

        if (np == NULL)
            return -ENOMEM;
        h->pages = np;
        h->pages_cap = ncap;
    }
    rc = rec_reserve(h, 1);
    if (rc < 0)
        return rc;
    i = rec_take(h);
    h->rec[i] = (struct heap_chunk){.off = b, .size = len, .aprev = HEAP_NIL, .anext = HEAP_NIL};
    bin_insert(h, i);
    h->pages[h->npages++] = (struct heap_page){.base = b, .len = len, .first = i};
    h->next_base = b + len;
    h->st.pages++;
    h->st.bytes_reserved += len;
    /* A fresh page is empty: count it as the spare, so that no more than one
     * empty standard page is kept once others empty out. */
    if (len == h->page_size && !have_spare(h))
        h->spare = i;
    if (base != NULL)
        *base = b;
    DEBUG_CHECK(h);
    return 0;
}

int heap_page_find(const struct heap *h, uint64_t off, uint64_t *base, uint64_t *len)
{
    size_t p = page_floor(h, off);

    if (p == h->npages || off - h->pages[p].base >= h->pages[p].len)
        return -ENOENT;
    if (base != NULL)
        *base = h->pages[p].base;
    if (len != NULL)
        *len = h->pages[p].len;
    return 0;
}

int heap_page_next(const struct heap *h, uint64_t *base, uint64_t *len)
{
    size_t p = page_floor(h, *base);

    /* page_floor() gives the last page with base <= *base: take the next. */
    p = p == h->npages ? 0 : p + 1;
    if (p >= h->npages)
        return 0;
    *base = h->pages[p].base;
    if (len != NULL)
        *len = h->pages[p].len;
    return 1;
}

/* ---- alloc -------------------------------------------------------------- */

/* Whether chunk c can hold size bytes at alignment a (a power of two). */
HOT bool fits(const struct heap_chunk *c, uint64_t size, uint64_t a)
{
    uint64_t pad = -c->off & (a - 1); /* bytes up to the first a-aligned offset */

    return pad <= c->size && c->size - pad >= size;
}

/*
 * Of the entries of a non-empty bin list from i, looks at n of them (all if
 * n == 0) and returns the smallest that holds size bytes at the heap
 * alignment, HEAP_NIL if none does. A perfect fit ends the search at once
 * (in the bins of small sizes, where all entries have one size, that is the
 * head); otherwise ties go to the lowest address.
 */
HOT uint32_t pick_fit(const struct heap_chunk *rec, uint32_t i, uint64_t size, unsigned n)
{
    uint32_t best = HEAP_NIL;
    uint64_t bsize = UINT64_MAX, boff = 0;

    do {
        const struct heap_chunk *c = &rec[i];
        uint64_t cs = c->size;

        if (cs >= size && (cs < bsize || (cs == bsize && c->off < boff))) {
            if (cs == size)
                return i;
            best = i;
            bsize = cs;
            boff = c->off;
        }
        i = c->lnext;
    } while (--n != 0 && i != HEAP_NIL);
    return best;
}

/* pick_fit() for alignment a (any list, possibly empty). */
static uint32_t pick_aligned(const struct heap_chunk *rec, uint32_t i, uint64_t size, uint64_t a,
                             unsigned n)
{
    uint32_t best = HEAP_NIL;
    uint64_t bsize = UINT64_MAX, boff = 0;

    for (; i != HEAP_NIL; i = rec[i].lnext) {
        const struct heap_chunk *c = &rec[i];

        if (fits(c, size, a) && (c->size < bsize || (c->size == bsize && c->off < boff))) {
            best = i;
            bsize = c->size;
            boff = c->off;
        }
        if (--n == 0)
            break;
    }
    return best;
}

/* The chunk to cut a block of size bytes at the heap alignment from, or
 * HEAP_NIL; b is bin_floor(size). */
HOT uint32_t find_chunk(const struct heap *h, uint64_t size, uint32_t b)
{
    const struct heap_chunk *rec = h->rec;
    uint32_t head = h->bin_head[b], nb, i;

    /* 1. The request's own bin: its head first, the perfect fit of every
     * entry of the small-size bins. */
    if (head != HEAP_NIL) {
        if (rec[head].size == size)
            return head;
        i = pick_fit(rec, head, size, HEAP_PROBE);
        if (i != HEAP_NIL)
            return i;
    }
    /* 2. The first larger non-empty bin: every entry there fits. */
    nb = bin_search(h, b + 1);
    if (nb != HEAP_NIL)
        return pick_fit(rec, h->bin_head[nb], size, HEAP_PROBE);
    /* 3. Before giving up: the rest of the own bin. */
    if (head != HEAP_NIL)
        return pick_fit(rec, head, size, 0);
    return HEAP_NIL;
}

/* The chunk to cut a block of size bytes aligned to a (> heap alignment)
 * from, or HEAP_NIL. */
static uint32_t find_aligned(const struct heap *h, uint64_t size, uint64_t a)
{
    const struct heap_chunk *rec = h->rec;
    uint32_t b = bin_floor(h, size), sure = bin_ceil(h, size + (a - h->align)), nb, i;

    /* 1. The request's own bin. */
    i = pick_aligned(rec, h->bin_head[b], size, a, HEAP_PROBE);
    if (i != HEAP_NIL)
        return i;
    /* 2. The closest larger bin (may well fit), then the first sure one. */
    nb = bin_search(h, b + 1);
    if (nb != HEAP_NIL && nb < sure) {
        i = pick_aligned(rec, h->bin_head[nb], size, a, HEAP_PROBE);
        if (i != HEAP_NIL)
            return i;
    }
    nb = bin_search(h, sure);
    if (nb != HEAP_NIL)
        return pick_aligned(rec, h->bin_head[nb], size, a, HEAP_PROBE);
    /* 3. Before giving up: every entry that might fit; all are in bins
     * b .. sure - 1, since nothing is at or above sure. */
    for (nb = bin_search(h, b); nb != HEAP_NIL; nb = bin_search(h, nb + 1)) {
        i = pick_aligned(rec, h->bin_head[nb], size, a, 0);
        if (i != HEAP_NIL)
            return i;
    }
    return HEAP_NIL;
}

/* The length of a fresh page that surely holds size bytes aligned to a. */
static uint64_t page_need(const struct heap *h, uint64_t size, uint64_t a)
{
    uint64_t len = (size + 4095) & ~4095ull;

    if (len < h->page_size)
        len = h->page_size;
    /* A page's base is aligned to its natural alignment only; beyond it, ask
     * for a page long enough that its natural alignment covers a. */
    if (a > page_align(len) && len < a / 2 + 4096)
        len = a / 2 + 4096;
    return len;
}

/* Links record n into the address list right after record i. */
HOT void addr_insert_after(struct heap *h, uint32_t i, uint32_t n)
{
    struct heap_chunk *rec = h->rec;
    uint32_t nx = rec[i].anext;

    rec[n].aprev = i;
    rec[n].anext = nx;
    if (nx != HEAP_NIL)
        rec[nx].aprev = n;
    rec[i].anext = n;
}

/*
 * Cuts a block of size bytes aligned to a from free chunk ci for owner and
 * returns its offset. The rest keeps the chunk's record and, most of the
 * time, its bin, so that splitting costs little. Which end the block takes
 * (see the design notes above): at the heap alignment, the end next to the
 * larger of the two live neighbours, leaving the rest next to the smaller one
 * or next to the page's end; at a larger alignment, the highest aligned
 * offset that fits, the bytes above it (fewer than a) becoming a chunk.
 * pre: the block fits; two records and one lookup entry are reserved.
 */
HOT uint64_t carve(struct heap *h, uint32_t ci, uint64_t size, uint64_t a, uint32_t owner)
{
    struct heap_chunk *rec = h->rec, *c = &rec[ci];
    uint64_t cend = c->off + c->size, start;
    uint32_t l = c->aprev, r = c->anext, bi, ri;

    if (a == h->align && size < c->size && l != HEAP_NIL &&
        (r == HEAP_NIL || rec[r].size < rec[l].size)) {
        /* The low end, next to the larger neighbour below; the rest above.
         * l exists, so the page's first chunk stays what it is. */
        start = c->off;
        free_move(h, ci, start + size, c->size - size);
        bi = rec_take(h);
        rec[bi].aprev = l;
        rec[bi].anext = ci;
        rec[l].anext = bi;
        rec[ci].aprev = bi;
    } else {
        /* The high end; for a > heap alignment, the bytes above the block
         * (fewer than a) become a chunk of their own. */
        start = (cend - size) & ~(a - 1);
        if (start == c->off) {
            bin_remove(h, ci);
            bi = ci;
        } else {
            free_move(h, ci, c->off, start - c->off);
            bi = rec_take(h);
            addr_insert_after(h, ci, bi);
        }
        if (__builtin_expect(start + size < cend, 0)) {
            ri = rec_take(h);
            rec[ri].off = start + size;
            rec[ri].size = cend - (start + size);
            addr_insert_after(h, bi, ri);
            bin_insert(h, ri);
        }
    }
    rec[bi].off = start;
    rec[bi].size = size;
    owner_link(h, owner, bi);
    hash_put(h, bi, start);
    h->st.bytes_live += size;
    h->st.allocs++;
    DEBUG_CHECK(h);
    return start;
}

/* heap_alloc() for every case: argument checks, table growth, alignment,
 * the page to ask for. */
static __attribute__((noinline)) int alloc_slow(struct heap *h, uint64_t size, uint64_t align,
                                                uint32_t owner, uint64_t *off, uint64_t *need)
{
    uint64_t a, s;
    uint32_t ci;
    int rc = -EINVAL;

    /* size - 1 wraps for 0; align & (align - 1) is 0 for 0 and powers of two. */
    if (size - 1 >= HEAP_MAX_PAGE || (align & (align - 1)) != 0 || align > HEAP_MAX_ALIGN ||
        !owner_valid(h, owner))
        goto fail;
    a = align > h->align ? align : h->align;
    s = (size + h->align - 1) & ~(uint64_t)(h->align - 1);
    /* Up to two new records (an aligned block and the bytes above it) and a
     * lookup entry, reserved first so that a failure changes nothing. */
    rc = rec_reserve(h, 2);
    if (rc == 0)
        rc = hash_reserve(h);
    if (rc < 0)
        goto fail;
    ci = a == h->align ? find_chunk(h, s, bin_floor(h, s)) : find_aligned(h, s, a);
    if (ci == HEAP_NIL) {
        if (need != NULL)
            *need = page_need(h, s, a);
        return -EAGAIN;
    }
    *off = carve(h, ci, s, a, owner);
    return 0;

fail:
    h->st.alloc_failures++;
    return rc;
}

/* heap_alloc() past the checks, for a block of s bytes (rounded) in bin b at
 * the heap alignment, with two records and a lookup entry to spare. */
static __attribute__((noinline)) int alloc_fit(struct heap *h, uint64_t s, uint32_t b,
                                               uint32_t owner, uint64_t *off, uint64_t *need)
{
    uint32_t ci = find_chunk(h, s, b);

    if (ci == HEAP_NIL) {
        if (need != NULL)
            *need = page_need(h, s, h->align);
        return -EAGAIN;
    }
    *off = carve(h, ci, s, h->align, owner);
    return 0;
}

int heap_alloc(struct heap *h, uint64_t size, uint64_t align, uint32_t owner, uint64_t *off,
               uint64_t *need)
{
    struct heap_chunk *c;
    uint64_t s;
    uint32_t b, i;

    /*
     * The common case inline, kept small enough to need no saved registers:
     * no alignment beyond the heap's, a sane size, no table to grow, and the
     * head of the request's own bin a perfect fit (as it always is in the
     * bins of small sizes). Anything else, every error included, takes the
     * long way.
     */
    if (__builtin_expect(align == 0 && size - 1 < HEAP_MAX_PAGE && owner_valid(h, owner) &&
                             h->rec_avail >= 2 && live_blocks(h) < h->bucket_limit,
                         1)) {
        s = (size + h->align - 1) & ~(uint64_t)(h->align - 1);
        b = bin_floor(h, s);
        i = h->bin_head[b];
        if (i != HEAP_NIL && h->rec[i].size == s) {
            c = &h->rec[i];
            assert(c->lprev == HEAP_NIL);
            h->bin_head[b] = c->lnext;
            if (c->lnext != HEAP_NIL) {
                h->rec[c->lnext].lprev = HEAP_NIL;
            } else {
                h->bin_map[b >> 6] &= ~(1ull << (b & 63));
                if (h->bin_map[b >> 6] == 0)
                    h->word_map &= ~(1ull << (b >> 6));
            }
            owner_link(h, owner, i);
            hash_put(h, i, c->off);
            h->st.bytes_live += s;
            h->st.allocs++;
            *off = c->off;
            DEBUG_CHECK(h);
            return 0;
        }
        return alloc_fit(h, s, b, owner, off, need);
    }
    return alloc_slow(h, size, align, owner, off, need);
}

/*
 * heap_claim(): the free chunk that holds [off, off + size), found from the
 * hint (the rest of the chunk the previous claim cut: claims in increasing
 * offset order, as a saved state lists them, cost O(1) each) or else by a walk
 * of the page's chunks. HEAP_NIL if some byte of the range is not free.
 */
static uint32_t claim_chunk(const struct heap *h, uint64_t off, uint64_t size)
{
    const struct heap_chunk *rec = h->rec;
    uint32_t i = h->claim_hint;
    size_t p;

    if (i < h->rec_top && rec[i].tag != HEAP_TAG_UNUSED && is_free(&rec[i]) &&
        rec[i].off <= off && off - rec[i].off < rec[i].size)
        goto found;
    p = page_floor(h, off);
    if (p == h->npages || off - h->pages[p].base >= h->pages[p].len)
        return HEAP_NIL;
    for (i = h->pages[p].first; i != HEAP_NIL && rec[i].off + rec[i].size <= off; i = rec[i].anext)
        ;
    if (i == HEAP_NIL || !is_free(&rec[i]))
        return HEAP_NIL;
found:
    return size <= rec[i].size - (off - rec[i].off) ? i : HEAP_NIL;
}

int heap_reserve(struct heap *h, uint64_t blocks)
{
    uint64_t want = live_blocks(h) + blocks;

    /* Records: two per block at most (a block and the rest it cuts off). */
    if (blocks > HEAP_NIL / 2)
        return -ENOMEM;
    if (h->rec_avail < 2 * blocks) {
        uint64_t cap = (uint64_t)h->rec_cap + 2 * blocks;

        if (cap > HEAP_NIL || rec_resize(h, cap) < 0)
            return -ENOMEM;
    }
    while (want >= h->bucket_limit)
        if (hash_grow(h) < 0)
            return -ENOMEM;
    return 0;
}

int heap_claim(struct heap *h, uint64_t off, uint64_t size, uint32_t owner)
{
    struct heap_chunk *rec;
    uint64_t cend;
    uint32_t ci, bi, ri;
    int rc;

    if (size == 0 || size > HEAP_MAX_PAGE || ((off | size) & (h->align - 1)) != 0 ||
        !owner_valid(h, owner))
        return -EINVAL;
    rc = rec_reserve(h, 2);
    if (rc == 0)
        rc = hash_reserve(h);
    if (rc < 0)
        return rc;
    ci = claim_chunk(h, off, size);
    if (ci == HEAP_NIL)
        return -EINVAL;
    rec = h->rec;
    cend = rec[ci].off + rec[ci].size;
    if (off == rec[ci].off) {
        bin_remove(h, ci);
        bi = ci;
    } else {
        free_move(h, ci, rec[ci].off, off - rec[ci].off);
        bi = rec_take(h);
        addr_insert_after(h, ci, bi);
    }
    h->claim_hint = HEAP_NIL;
    if (off + size < cend) {
        ri = rec_take(h);
        rec[ri].off = off + size;
        rec[ri].size = cend - (off + size);
        addr_insert_after(h, bi, ri);
        bin_insert(h, ri);
        h->claim_hint = ri;
    }
    rec[bi].off = off;
    rec[bi].size = size;
    owner_link(h, owner, bi);
    hash_put(h, bi, off);
    h->st.bytes_live += size;
    h->st.allocs++;
    DEBUG_CHECK(h);
    return 0;
}

void heap_set_counts(struct heap *h, uint64_t allocs, uint64_t alloc_failures)
{
    uint64_t live = live_blocks(h);

    if (allocs < live)
        allocs = live;
    h->st.allocs = allocs;
    h->st.frees = allocs - live;
    h->st.alloc_failures = alloc_failures;
}

/* ---- free --------------------------------------------------------------- */

/*
 * Frees live block i (already out of the lookup): merges it with its free
 * neighbours, then keeps, spares or drops its page. The merged chunk keeps the
 * left neighbour's record if that is free, else the right neighbour's (both
 * are in a bin already: often only offset and size change), else i's.
 */
HOT void block_free(struct heap *h, uint32_t i, heap_release_fn *release, void *ctx)
{
    struct heap_chunk *rec = h->rec, *c = &rec[i];
    uint32_t l = c->aprev, r = c->anext;
    uint64_t off = c->off, size = c->size;

    owner_unlink(h, i);
    h->st.bytes_live -= size;
    h->st.frees++;

    if (l != HEAP_NIL && is_free(&rec[l])) {
        /* Grow the left neighbour over i, and over r if free too. */
        uint32_t nx = r;

        size += rec[l].size;
        if (r != HEAP_NIL && is_free(&rec[r])) {
            size += rec[r].size;
            nx = rec[r].anext;
            bin_remove(h, r);
            rec_put(h, r);
        }
        rec_put(h, i);
        rec[l].anext = nx;
        if (nx != HEAP_NIL) {
            rec[nx].aprev = l;
        } else if (rec[l].aprev == HEAP_NIL) {
            bin_remove(h, l);
            rec[l].size = size;
            page_emptied(h, l, release, ctx);
            return;
        }
        free_move(h, l, rec[l].off, size);
        return;
    }
    if (r != HEAP_NIL && is_free(&rec[r])) {
        /* Grow the right neighbour down over i. */
        rec_put(h, i);
        rec[r].aprev = l;
        size += rec[r].size;
        if (l != HEAP_NIL) {
            rec[l].anext = r;
        } else {
            /* i was its page's first chunk: r takes that role. */
            h->pages[page_floor(h, off)].first = r;
            if (rec[r].anext == HEAP_NIL) {
                bin_remove(h, r);
                rec[r].off = off;
                rec[r].size = size;
                page_emptied(h, r, release, ctx);
                return;
            }
        }
        free_move(h, r, off, size);
        return;
    }
    if (l == HEAP_NIL && r == HEAP_NIL) {
        page_emptied(h, i, release, ctx);
        return;
    }
    bin_insert(h, i);
}

/* block_free() out of line, for heap_free() when a neighbour is free. */
static __attribute__((noinline)) void block_free_merge(struct heap *h, uint32_t i,
                                                       heap_release_fn *release, void *ctx)
{
    block_free(h, i, release, ctx);
}

int heap_free(struct heap *h, uint64_t off, heap_release_fn *release, void *ctx)
{
    struct heap_chunk *rec = h->rec, *c;
    uint32_t *link = hash_link(h, off), i;

    if (link == NULL)
        return -EINVAL;
    i = *link;
    c = &rec[i];
    *link = c->hnext;
    /* Inline the common case: both neighbours live. */
    if ((c->aprev == HEAP_NIL || is_free(&rec[c->aprev])) ||
        (c->anext == HEAP_NIL || is_free(&rec[c->anext]))) {
        block_free_merge(h, i, release, ctx);
    } else {
        owner_unlink(h, i);
        h->st.bytes_live -= c->size;
        h->st.frees++;
        bin_insert(h, i);
    }
    DEBUG_CHECK(h);
    return 0;
}

uint64_t heap_block_size(const struct heap *h, uint64_t off)
{
    uint32_t i = hash_find(h, off);

    return i == HEAP_NIL ? 0 : h->rec[i].size;
}

int heap_block_owner(const struct heap *h, uint64_t off, uint32_t *owner)
{
    uint32_t i = hash_find(h, off);

    if (i == HEAP_NIL)
        return -EINVAL;
    *owner = h->rec[i].tag & ~HEAP_LIVE;
    return 0;
}

/* ---- owners ------------------------------------------------------------- */

int heap_owner_new(struct heap *h, uint32_t *owner)
{
    uint32_t id = h->owner_free;

    if (id != HEAP_NIL) {
        h->owner_free = h->owners[id].head;
    } else {
        if (h->nowners == HEAP_MAX_OWNERS)
            return -ENOMEM;
        if (h->nowners == h->owners_cap) {
            uint64_t ncap = (uint64_t)h->owners_cap * 2;
            struct heap_owner *no;

            if (ncap > HEAP_MAX_OWNERS)
                ncap = HEAP_MAX_OWNERS;
            no = realloc(h->owners, ncap * sizeof(*no));
            if (no == NULL)
                return -ENOMEM;
            h->owners = no;
            h->owners_cap = (uint32_t)ncap;
        }
        id = h->nowners++;
    }
    h->owners[id] = (struct heap_owner){.head = HEAP_NIL, .active = 1};
    *owner = id;
    return 0;
}

void heap_owner_release(struct heap *h, uint32_t owner, heap_release_fn *release, void *ctx)
{
    struct heap_owner *o;

    if (owner == HEAP_OWNER_ARENA || !owner_valid(h, owner))
        return;
    o = &h->owners[owner];
    while (o->head != HEAP_NIL) {
        uint32_t i = o->head, *link = hash_link(h, h->rec[i].off);

        assert(link != NULL && *link == i);
        *link = h->rec[i].hnext;
        block_free(h, i, release, ctx);
    }
    assert(o->blocks == 0);
    o->active = 0;
    o->head = h->owner_free;
    h->owner_free = owner;
    DEBUG_CHECK(h);
}

uint64_t heap_owner_blocks(const struct heap *h, uint32_t owner)
{
    if (owner == HEAP_OWNER_ARENA)
        return live_blocks(h) - h->owned_blocks;
    return owner_valid(h, owner) ? h->owners[owner].blocks : 0;
}

uint64_t heap_owner_bytes(const struct heap *h, uint32_t owner)
{
    if (owner == HEAP_OWNER_ARENA)
        return h->st.bytes_live - h->owned_bytes;
    return owner_valid(h, owner) ? h->owners[owner].bytes : 0;
}

/* ---- walk --------------------------------------------------------------- */

/*
 * The first chunk of page p at an offset >= from (from inside the page).
 * A live block there is found in O(1) through the live lookup, which is
 * where heap_walk() leaves its cursor; anything else (the heap changed since)
 * costs a scan of the page.
 */
static uint32_t walk_resume(const struct heap *h, size_t p, uint64_t from)
{
    uint32_t i = hash_find(h, from);

    if (i != HEAP_NIL)
        return i;
    for (i = h->pages[p].first; i != HEAP_NIL && h->rec[i].off < from; i = h->rec[i].anext)
        ;
    return i;
}

size_t heap_walk(const struct heap *h, uint64_t from, bool with_free, struct heap_walk_ent *v,
                 size_t max, uint64_t *next)
{
    size_t p, n = 0;
    uint32_t i;

    assert(max >= 3);
    *next = 0;
    p = page_floor(h, from);
    if (p == h->npages)
        p = 0; /* from is below every page */
    else if (from >= h->pages[p].base + h->pages[p].len)
        p++;
    for (; p < h->npages; p++) {
        const struct heap_page *pg = &h->pages[p];
        bool first = false;

        if (from <= pg->base) {
            /* A page entry and its first chunk go together, so that a
             * cursor never points at a page whose entry was sent. */
            if (n + 2 > max) {
                *next = pg->base;
                return n;
            }
            v[n++] = (struct heap_walk_ent){pg->base, pg->len, HEAP_WALK_PAGE, 0};
            i = pg->first;
            first = true;
        } else {
            i = walk_resume(h, p, from);
        }
        for (; i != HEAP_NIL; i = h->rec[i].anext, first = false) {
            const struct heap_chunk *c = &h->rec[i];

            if (is_free(c) && !with_free)
                continue;
            /* Stop before a live block, whose offset the next call finds in
             * O(1); a free chunk still fits when one slot is left (two free
             * chunks are never neighbours, so a live block or the page's end
             * comes next). */
            if (!first && (n == max || (n + 1 >= max && !is_free(c)))) {
                *next = c->off;
                return n;
            }
            if (is_free(c))
                v[n++] = (struct heap_walk_ent){c->off, c->size, HEAP_WALK_FREE, 0};
            else
                v[n++] = (struct heap_walk_ent){c->off, c->size, HEAP_WALK_LIVE,
                                                c->tag & ~HEAP_LIVE};
        }
    }
    return n;
}

/* ---- stats -------------------------------------------------------------- */

/*
 * The largest free chunk is in the top non-empty bin, whose sizes differ by
 * less than 1/64: its list is short unless many chunks have about that size
 * (in the bins below 2 * 64 units all entries have one size, so the head is
 * enough). Computed here rather than kept up to date on every operation.
 */
static uint64_t largest_free(const struct heap *h)
{
    uint32_t b, i;
    uint64_t m = 0;

    if (h->word_map == 0)
        return 0;
    b = log2_u64(h->word_map);
    b = (b << 6) | log2_u64(h->bin_map[b]);
    if (b < 2 * HEAP_SL)
        return h->rec[h->bin_head[b]].size;
    for (i = h->bin_head[b]; i != HEAP_NIL; i = h->rec[i].lnext)
        if (h->rec[i].size > m)
            m = h->rec[i].size;
    return m;
}

void heap_stats(const struct heap *h, struct heap_stats *out)
{
    *out = h->st;
    out->blocks_live = live_blocks(h);
    out->free_chunks = free_chunks(h);
    out->largest_free = largest_free(h);
}

/* ---- introspection ------------------------------------------------------ */

void heap__walk(const struct heap *h, heap_walk_fn *fn, void *ctx)
{
    size_t p;
    uint32_t i;

    for (p = 0; p < h->npages; p++)
        for (i = h->pages[p].first; i != HEAP_NIL; i = h->rec[i].anext)
            fn(ctx, h->rec[i].off, h->rec[i].size, is_free(&h->rec[i]));
}

size_t heap_memory(const struct heap *h)
{
    return sizeof(*h) + (size_t)h->rec_cap * sizeof(h->rec[0]) +
           (size_t)h->nbuckets * sizeof(h->bucket[0]) + h->pages_cap * sizeof(h->pages[0]) +
           (size_t)h->owners_cap * sizeof(h->owners[0]);
}

/* ---- validate ----------------------------------------------------------- */

static int broken(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int broken(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL && why_len > 0) {
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return -EFAULT;
}

#define BROKEN(...) return broken(why, why_len, __VA_ARGS__)
#define ULL(x)      ((unsigned long long)(x))

/* What the walk over the pages counted, for the walkers after it. */
struct vcounts {
    uint64_t chunks;       /* chunk records in pages */
    uint64_t free_chunks;  /* of them free */
    uint64_t live_blocks;  /* of them live */
    uint64_t arena_blocks; /* live blocks the arena owns (OFA_KEEP) */
    uint64_t live_bytes;   /* bytes of the live blocks */
    uint64_t reserved;     /* bytes of the pages */
    uint64_t largest_free; /* size of the largest free chunk */
};

/* Pages: sorted, aligned, disjoint; each tiled by its chunks, whose
 * address links, sizes, bins and owners agree. Fills vc. */
static int validate_pages(const struct heap *h, struct vcounts *vc, char *why, size_t why_len)
{
    uint64_t mask = (uint64_t)h->align - 1;
    uint64_t in_page; /* chunks seen in the page, to catch a loop */
    uint32_t i, prev;

    for (size_t p = 0; p < h->npages; p++) {
        const struct heap_page *pg = &h->pages[p];
        uint64_t at = pg->base;

        if (pg->base == 0 || !heap_page_size_valid(pg->len) ||
            pg->base % page_align(pg->len))
            BROKEN("page %zu: base %#llx len %#llx misplaced", p, ULL(pg->base), ULL(pg->len));
        if (p > 0 && pg->base < h->pages[p - 1].base + h->pages[p - 1].len)
            BROKEN("page %zu overlaps the page below", p);
        if (pg->base + pg->len > h->next_base)
            BROKEN("page %zu ends above next_base", p);
        prev = HEAP_NIL;
        in_page = 0;
        for (i = pg->first; i != HEAP_NIL; prev = i, i = h->rec[i].anext) {
            const struct heap_chunk *c = &h->rec[i];

            if (i >= h->rec_top)
                BROKEN("page %zu: chunk index %u out of the pool", p, i);
            if (++in_page > h->rec_top)
                BROKEN("page %zu: address list loops", p);
            if (c->aprev != prev)
                BROKEN("chunk %u: aprev %u, expected %u", i, c->aprev, prev);
            if (c->off != at)
                BROKEN("chunk %u: off %#llx, expected %#llx", i, ULL(c->off), ULL(at));
            if (c->size == 0 || (c->size & mask) || c->size > pg->base + pg->len - at)
                BROKEN("chunk %u: bad size %#llx", i, ULL(c->size));
            if (c->off & mask)
                BROKEN("chunk %u: offset %#llx not aligned", i, ULL(c->off));
            if (is_free(c)) {
                if (prev != HEAP_NIL && is_free(&h->rec[prev]))
                    BROKEN("chunks %u and %u: free neighbours not merged", prev, i);
                if (c->tag != bin_floor(h, c->size))
                    BROKEN("chunk %u: in bin %u, size wants %u", i, c->tag, bin_floor(h, c->size));
                vc->free_chunks++;
                if (c->size > vc->largest_free)
                    vc->largest_free = c->size;
            } else if (c->tag == HEAP_TAG_UNUSED) {
                BROKEN("chunk %u: unused record in page %zu", i, p);
            } else {
                if (!owner_valid(h, c->tag & ~HEAP_LIVE))
                    BROKEN("chunk %u: live with unknown owner %u", i, c->tag & ~HEAP_LIVE);
                if (hash_find(h, c->off) != i)
                    BROKEN("chunk %u: live block %#llx not in the lookup", i, ULL(c->off));
                vc->live_blocks++;
                vc->arena_blocks += c->tag == (HEAP_LIVE | HEAP_OWNER_ARENA);
                vc->live_bytes += c->size;
            }
            at += c->size;
            vc->chunks++;
        }
        if (pg->first == HEAP_NIL || at != pg->base + pg->len)
            BROKEN("page %zu: chunks end at %#llx, page at %#llx", p, ULL(at),
                   ULL(pg->base + pg->len));
        vc->reserved += pg->len;
    }
    return 0;
}

/* Record pool: every record is in a page or on the unused list. */
static int validate_records(const struct heap *h, const struct vcounts *vc, char *why,
                            size_t why_len)
{
    uint64_t unused = 0; /* records on the unused list */

    for (uint32_t i = h->rec_free; i != HEAP_NIL; i = h->rec[i].lnext)
        if (i >= h->rec_top || h->rec[i].tag != HEAP_TAG_UNUSED || ++unused > h->rec_top)
            BROKEN("unused-record list broken at %u", i);
    if (h->rec_top > h->rec_cap || unused + (h->rec_cap - h->rec_top) != h->rec_avail ||
        vc->chunks + unused != h->rec_top)
        BROKEN("records: %llu in pages + %llu unused != %u used", ULL(vc->chunks), ULL(unused),
               h->rec_top);
    if (h->spare != HEAP_NIL && h->spare >= h->rec_top)
        BROKEN("spare %u out of the pool", h->spare);
    return 0;
}

/* Bins and bitmaps: each free chunk in the bin of its size, once; the
 * bitmaps say which bins hold any. */
static int validate_bins(const struct heap *h, const struct vcounts *vc, char *why, size_t why_len)
{
    uint64_t in_bins = 0; /* entries of every bin list */
    uint32_t i, prev;

    for (uint32_t w = 0; w < HEAP_BINS / 64; w++) {
        if (!!(h->word_map & (1ull << w)) != !!h->bin_map[w])
            BROKEN("summary bit %u disagrees with its bins", w);
        for (uint64_t b = (uint64_t)w << 6; b < ((uint64_t)w + 1) << 6; b++) {
            bool bit = h->bin_map[w] & (1ull << (b & 63));

            if (bit != (h->bin_head[b] != HEAP_NIL))
                BROKEN("bin %llu: bit %d, head %u", ULL(b), bit, h->bin_head[b]);
            prev = HEAP_NIL;
            for (i = h->bin_head[b]; i != HEAP_NIL; prev = i, i = h->rec[i].lnext) {
                if (i >= h->rec_top || h->rec[i].tag != b || h->rec[i].lprev != prev)
                    BROKEN("bin %llu: bad entry %u", ULL(b), i);
                if (++in_bins > vc->free_chunks)
                    BROKEN("bins hold more entries than the %llu free chunks", ULL(vc->free_chunks));
            }
        }
    }
    if (HEAP_BINS / 64 < 64 && h->word_map >> (HEAP_BINS / 64 % 64) != 0)
        BROKEN("summary bits beyond the bitmap");
    if (in_bins != vc->free_chunks)
        BROKEN("bins hold %llu entries, pages %llu free chunks", ULL(in_bins),
               ULL(vc->free_chunks));
    return 0;
}

/* Live lookup: only live blocks, each in the bucket of its offset. */
static int validate_lookup(const struct heap *h, const struct vcounts *vc, char *why,
                           size_t why_len)
{
    uint64_t in_lookup = 0; /* entries of every bucket */

    if (!is_pow2(h->nbuckets) || h->bucket_shift != 64 - log2_u64(h->nbuckets) ||
        h->bucket_limit != h->nbuckets >> HEAP_LOAD_SHIFT || vc->live_blocks > h->bucket_limit)
        BROKEN("lookup: %llu buckets, shift %u, %llu live", ULL(h->nbuckets), h->bucket_shift,
               ULL(vc->live_blocks));
    for (uint64_t b = 0; b < h->nbuckets; b++) {
        for (uint32_t i = h->bucket[b]; i != HEAP_NIL; i = h->rec[i].hnext) {
            if (i >= h->rec_top || is_free(&h->rec[i]) || h->rec[i].tag == HEAP_TAG_UNUSED ||
                bucket_of(h, h->rec[i].off) != &h->bucket[b] || ++in_lookup > vc->live_blocks)
                BROKEN("lookup bucket %llu: bad entry %u", ULL(b), i);
        }
    }
    if (in_lookup != vc->live_blocks)
        BROKEN("lookup holds %llu of %llu live blocks", ULL(in_lookup), ULL(vc->live_blocks));
    return 0;
}

/* Owners: each active owner's list holds exactly its live blocks and
 * bytes; with the arena's they are every live block; retired owners are
 * listed once. */
static int validate_owners(const struct heap *h, const struct vcounts *vc, char *why,
                           size_t why_len)
{
    uint64_t owned = 0, owned_bytes = 0; /* blocks and bytes on the owners' lists */
    uint64_t listed, listed_bytes;       /* on one owner's list */
    uint64_t retired = 0;                /* owners on the retired list */
    uint32_t i, prev, owner;

    if (h->nowners == 0 || !h->owners[HEAP_OWNER_ARENA].active ||
        h->owners[HEAP_OWNER_ARENA].head != HEAP_NIL)
        BROKEN("arena owner broken");
    for (owner = 1; owner < h->nowners; owner++) {
        const struct heap_owner *o = &h->owners[owner];

        if (!o->active)
            continue;
        listed = 0;
        prev = HEAP_NIL;
        for (i = o->head; i != HEAP_NIL; prev = i, i = h->rec[i].lnext) {
            if (i >= h->rec_top || h->rec[i].tag != (HEAP_LIVE | owner) ||
                h->rec[i].lprev != prev || ++listed > vc->live_blocks)
                BROKEN("owner %u: bad entry %u", owner, i);
        }
        if (listed != o->blocks)
            BROKEN("owner %u: %llu blocks listed, %llu counted", owner, ULL(listed), ULL(o->blocks));
        for (i = o->head, listed_bytes = 0; i != HEAP_NIL; i = h->rec[i].lnext)
            listed_bytes += h->rec[i].size;
        if (listed_bytes != o->bytes)
            BROKEN("owner %u: %llu bytes listed, %llu counted", owner, ULL(listed_bytes), ULL(o->bytes));
        owned += listed;
        owned_bytes += listed_bytes;
    }
    if (owned_bytes != h->owned_bytes)
        BROKEN("owners hold %llu bytes, owned_bytes %llu", ULL(owned_bytes), ULL(h->owned_bytes));
    if (owned != h->owned_blocks || owned + vc->arena_blocks != vc->live_blocks)
        BROKEN("owners hold %llu + arena %llu of %llu live blocks (owned_blocks %llu)", ULL(owned),
               ULL(vc->arena_blocks), ULL(vc->live_blocks), ULL(h->owned_blocks));
    for (owner = h->owner_free; owner != HEAP_NIL; owner = h->owners[owner].head)
        if (owner >= h->nowners || owner == HEAP_OWNER_ARENA || h->owners[owner].active ||
            ++retired > h->nowners)
            BROKEN("retired-owner list broken at %u", owner);
    return 0;
}

/* Statistics: what heap_stats reports is what the walk counted. */
static int validate_stats(const struct heap *h, const struct vcounts *vc, char *why,
                          size_t why_len)
{
    if (h->st.pages != h->npages || h->st.bytes_reserved != vc->reserved || live_blocks(h) != vc->live_blocks ||
        h->st.bytes_live != vc->live_bytes || free_chunks(h) != vc->free_chunks ||
        h->st.page_size != h->page_size || h->st.align != h->align)
        BROKEN("stats: pages %llu/%zu reserved %llu/%llu blocks %llu/%llu bytes %llu/%llu "
               "free %llu/%llu",
               ULL(h->st.pages), h->npages, ULL(h->st.bytes_reserved), ULL(vc->reserved),
               ULL(live_blocks(h)), ULL(vc->live_blocks), ULL(h->st.bytes_live), ULL(vc->live_bytes),
               ULL(free_chunks(h)), ULL(vc->free_chunks));
    if (largest_free(h) != vc->largest_free)
        BROKEN("largest_free %llu, actual %llu", ULL(largest_free(h)), ULL(vc->largest_free));
    return 0;
}

int heap_validate(const struct heap *h, char *why, size_t why_len)
{
    struct vcounts vc;
    int rc;

    memset(&vc, 0, sizeof(vc));
    rc = validate_pages(h, &vc, why, why_len);
    if (rc == 0)
        rc = validate_records(h, &vc, why, why_len);
    if (rc == 0)
        rc = validate_bins(h, &vc, why, why_len);
    if (rc == 0)
        rc = validate_lookup(h, &vc, why, why_len);
    if (rc == 0)
        rc = validate_owners(h, &vc, why, why_len);
    if (rc == 0)
        rc = validate_stats(h, &vc, why, why_len);
    return rc;
}

/*
 * heap_internal.h - the allocator core's private layout, for heap.c and its
 * tests only (never installed, never included by the daemon).
 *
 * Exposed so that tests can walk every chunk and compare it with a model, and
 * break a record on purpose to check that heap_validate() notices.
 */
#ifndef OFA_HEAP_INTERNAL_H
#define OFA_HEAP_INTERNAL_H

#include "heap.h"

#define HEAP_NIL UINT32_MAX /* "no record" in every u32 link */

/* Size classes: 2^HEAP_SL_BITS bins per power of two (see bin_floor()). */
#ifndef HEAP_SL_BITS
#define HEAP_SL_BITS 6
#endif
#define HEAP_SL (1u << HEAP_SL_BITS)
/* Sizes go up to HEAP_MAX_PAGE, 2^37 units of the smallest alignment (8):
 * the top bin is below (37 - HEAP_SL_BITS + 2) << HEAP_SL_BITS. Rounded up
 * to whole 64-bit bitmap words, at most 64 of them. */
#define HEAP_BINS ((((39u - HEAP_SL_BITS) << HEAP_SL_BITS) + 63) / 64 * 64)

/* heap_chunk.tag: a free chunk holds its bin (< HEAP_BINS), a live block
 * HEAP_LIVE | owner, an unused record HEAP_TAG_UNUSED. */
#define HEAP_LIVE       0x80000000u
#define HEAP_TAG_UNUSED 0xffffffffu
#define HEAP_MAX_OWNERS 0x7fffffffu /* owner ids are below this */

/*
 * One chunk of a page: 40 bytes. Address neighbours (aprev/anext) never cross
 * a page. lprev/lnext chain the chunk in its size bin while it is free, and in
 * its owner's list while it is live (not for the arena's blocks, which are in
 * no list); an unused record keeps the next unused one in lnext. hnext chains
 * a live block in its bucket of the live lookup.
 */
struct heap_chunk {
    uint64_t off;   /* absolute offset of the first byte */
    uint64_t size;  /* bytes, a multiple of the heap's alignment, > 0 */
    uint32_t aprev; /* chunk just below in the same page, or HEAP_NIL */
    uint32_t anext; /* chunk just above in the same page, or HEAP_NIL */
    uint32_t lprev; /* previous in bin or owner list, or HEAP_NIL */
    uint32_t lnext; /* next in bin, owner or unused list, or HEAP_NIL */
    uint32_t tag;   /* see HEAP_LIVE */
    uint32_t hnext; /* next live block in the same lookup bucket, or HEAP_NIL */
};

struct heap_page {
    uint64_t base;  /* offset of the first byte, a multiple of next_pow2(len) */
    uint64_t len;   /* bytes, a multiple of 4096 */
    uint32_t first; /* the chunk at base */
    uint32_t pad_;
};

struct heap_owner {
    uint32_t head;   /* first live block, or HEAP_NIL; next retired id when retired */
    uint32_t active; /* 1 while the id is in use */
    uint64_t blocks; /* live blocks held (not kept for the arena) */
    uint64_t bytes;  /* their sizes, summed */
};

struct heap {
    uint64_t page_size; /* standard page length */
    uint32_t align;     /* minimum block alignment (power of two) */
    uint32_t shift;     /* log2(align) */

    /* Chunk records: rec[0 .. rec_top) have been used; unused ones are chained
     * from rec_free through lnext. rec_avail: records that can be taken
     * without growing (the unused ones plus rec_cap - rec_top). */
    struct heap_chunk *rec;
    uint32_t rec_cap, rec_top, rec_free, rec_avail;

    /* Live lookup: a power-of-two array of buckets, each the head of a chain
     * of live blocks through hnext; doubled when live blocks would exceed bucket_limit. */
    uint32_t *bucket;
    uint64_t nbuckets;
    uint64_t bucket_limit; /* most live blocks before the buckets double */
    uint32_t bucket_shift; /* 64 - log2(nbuckets) */

    /* Size index: bin b lists the free chunks whose size maps to b. Bit b % 64
     * of bin_map[b / 64] is set iff bin b is non-empty; bit w of word_map iff
     * bin_map[w] != 0. */
    uint64_t word_map;
    uint64_t bin_map[HEAP_BINS / 64];
    uint32_t bin_head[HEAP_BINS];

    /* Pages in increasing base order. */
    struct heap_page *pages;
    size_t npages, pages_cap;
    uint64_t next_base; /* lowest offset a new page may start at */
    uint32_t claim_hint; /* heap_claim's guess: a free chunk, or stale, or HEAP_NIL */
    uint32_t spare;     /* the spare page's chunk when set; stale once that
                         * chunk is used (see have_spare() in heap.c) */

    /* Owners: index = id. Retired ids are chained from owner_free. */
    struct heap_owner *owners;
    uint32_t nowners, owners_cap, owner_free;
    uint64_t owned_blocks; /* live blocks of owners other than the arena */
    uint64_t owned_bytes;  /* their sizes, summed */

    /* Counters kept on the way; blocks_live (allocs - frees), free_chunks
     * (records in use - blocks_live) and largest_free are computed on read. */
    struct heap_stats st;
};

/* Calls fn for every chunk of every page in address order. */
typedef void heap_walk_fn(void *ctx, uint64_t off, uint64_t size, int is_free);
void heap__walk(const struct heap *h, heap_walk_fn *fn, void *ctx);

/* The bin a free chunk of size bytes belongs to, and the smallest size of bin b. */
uint32_t heap__bin_of(const struct heap *h, uint64_t size);
uint64_t heap__bin_min(const struct heap *h, uint32_t b);

#endif

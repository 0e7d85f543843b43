/*
 * heap.h - the allocator core: one heap per arena.
 *
 * A heap hands out 64-bit offsets inside a set of pages. It never touches
 * memory of the pages (they live in shared-memory segments it does not know
 * about): all chunk metadata is kept on the side. It does no I/O, takes no
 * locks, reads no clock; it calls malloc/realloc only to grow its own tables,
 * never per operation in the steady state. Not thread-safe: the caller (one
 * event loop) serialises all calls.
 *
 * Offset space: pages are laid out in one 64-bit address space that only ever
 * grows. Every page gets a fresh base, a multiple of its natural alignment
 * (the next power of two >= max(len, 4096)), above the end of every earlier
 * page; the first base is > 0. So offset 0 is never handed out, a page base is
 * never reused (a stale offset can never alias new data), and an alignment up
 * to a page's natural alignment is the same in the page and in the space.
 *
 * Ownership: every live block has an owner id. Owner 0 is the arena itself
 * (blocks allocated with OFA_KEEP); other owners are created with
 * heap_owner_new() (one per connection and arena) and released with
 * heap_owner_release(), which frees every block the owner still holds.
 */
#ifndef OFA_HEAP_H
#define OFA_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEAP_OWNER_ARENA 0u          /* owner of OFA_KEEP blocks */
#define HEAP_MAX_ALIGN   (1ull << 30) /* largest alignment a request may ask for */
#define HEAP_MIN_PAGE    4096ull      /* page lengths: multiples of this, */
#define HEAP_MAX_PAGE    (1ull << 40) /* up to this */
#define HEAP_MIN_ALIGN   8u           /* a heap's own alignment: a power of two from this */
#define HEAP_MAX_UNIT    4096u        /* to this */

/* The bounds of a heap's page_size and align (heap_create), which are
 * those of an arena's (the daemon's flags, config file and CREATE). */
static inline int heap_page_size_valid(uint64_t len)
{
    return len >= HEAP_MIN_PAGE && len <= HEAP_MAX_PAGE && len % HEAP_MIN_PAGE == 0;
}

static inline int heap_align_valid(uint64_t align)
{
    return align >= HEAP_MIN_ALIGN && align <= HEAP_MAX_UNIT && (align & (align - 1)) == 0;
}

struct heap;

struct heap_stats {
    uint64_t page_size;      /* the standard page length */
    uint32_t align;          /* minimum block alignment */
    uint64_t pages;          /* pages currently held (the spare included) */
    uint64_t bytes_reserved; /* sum of the lengths of those pages */
    uint64_t bytes_live;     /* sum of the sizes of live blocks (as rounded) */
    uint64_t blocks_live;    /* live blocks */
    uint64_t free_chunks;    /* free chunks */
    uint64_t largest_free;   /* size of the largest free chunk, 0 if none */
    uint64_t allocs;         /* successful allocations, ever */
    uint64_t frees;          /* successful frees (explicit or by owner release), ever */
    uint64_t alloc_failures; /* heap_alloc calls that returned an error other than -EAGAIN */
};

/* Called once for every page the heap gives up; base identifies it. */
typedef void heap_release_fn(void *ctx, uint64_t base, uint64_t len);

/*
 * Creates an empty heap (no pages). page_size: the standard page length
 * (4096 <= page_size <= HEAP_MAX_PAGE, a multiple of 4096). align: the
 * minimum alignment of every block, a power of two, 8 <= align <= 4096.
 * Returns 0, -EINVAL for a bad argument, -ENOMEM.
 */
int heap_create(struct heap **out, uint64_t page_size, uint32_t align);

/* Frees all metadata. Does not call the release callback: the caller still
 * knows its pages (see heap_page_next) and releases them itself. */
void heap_destroy(struct heap *h);

/*
 * Allocates size bytes aligned to max(heap align, align) for owner.
 * size is rounded up to a multiple of the heap's alignment. align is 0
 * (the heap's) or a power of two <= HEAP_MAX_ALIGN.
 *
 * Returns 0 and sets *off on success. When no free chunk of any held page can
 * hold the request with its alignment, returns -EAGAIN and sets *need to the
 * length of the page to add (page_size, or more for a request that does not fit
 * a standard page); the caller creates that page, calls heap_page_add() and
 * asks again, which then succeeds. Other errors: -EINVAL (size 0, size or
 * alignment over the limits, bad align, unknown owner), -ENOMEM (metadata
 * could not grow). On error nothing changes.
 */
int heap_alloc(struct heap *h, uint64_t size, uint64_t align, uint32_t owner, uint64_t *off,
               uint64_t *need);

/*
 * Adds a page of len bytes (a multiple of 4096, <= HEAP_MAX_PAGE) as one free
 * chunk, and returns its base offset in *base. Returns 0, -EINVAL, -ENOMEM.
 */
int heap_page_add(struct heap *h, uint64_t len, uint64_t *base);

/*
 * As heap_page_add, with a base at or above floor as well: the lowest
 * multiple of the page's natural alignment that is >= floor and above every
 * page the heap ever held. Lets a caller draw the bases of several heaps from
 * one space (no two heaps share an offset), or put a page back at the base it
 * had. Returns 0, -EINVAL, -ENOMEM.
 */
int heap_page_add_at(struct heap *h, uint64_t len, uint64_t floor, uint64_t *base);

/*
 * Frees the live block that starts at off, whoever owns it, merging it with
 * its free neighbours. If a page becomes entirely free and the heap already
 * keeps a spare empty page (or the page is not of the standard length), the
 * page is dropped and release(ctx, base, len) is called for it before
 * returning. Returns 0, or -EINVAL if off is not the start of a live block
 * (then nothing changes).
 */
int heap_free(struct heap *h, uint64_t off, heap_release_fn *release, void *ctx);

/*
 * Makes the size bytes at off a live block of owner, as if heap_alloc had
 * returned it: for putting back the blocks of a saved state (the pages first,
 * with heap_page_add_at at their bases). Every byte of the range must be free
 * in one page; size and off are multiples of the heap's alignment (sizes as
 * heap_alloc rounded them). O(1) when blocks are claimed in increasing
 * offset order, else O(chunks of the page). Returns 0; -EINVAL (a bad
 * argument, or some byte of the range is not free: nothing changes);
 * -ENOMEM.
 */
int heap_claim(struct heap *h, uint64_t off, uint64_t size, uint32_t owner);
/* Makes room for blocks more live blocks (records and lookup) at once, so
 * that claiming them grows nothing. 0 or -ENOMEM. */
int heap_reserve(struct heap *h, uint64_t blocks);
/* Sets the counters a saved state kept: allocs (at least the live blocks;
 * frees follows) and alloc_failures. */
void heap_set_counts(struct heap *h, uint64_t allocs, uint64_t alloc_failures);
/* Bytes of metadata the heap holds (its tables at their capacity): what one
 * arena costs the daemon beyond its pages. */
size_t heap_memory(const struct heap *h);

/* Size of the live block starting at off, or 0 if there is none. O(1). */
uint64_t heap_block_size(const struct heap *h, uint64_t off);

/* Owner of the live block starting at off; -EINVAL if there is none. */
int heap_block_owner(const struct heap *h, uint64_t off, uint32_t *owner);

/* Creates a new owner id (never HEAP_OWNER_ARENA). Returns 0, -ENOMEM. */
int heap_owner_new(struct heap *h, uint32_t *owner);

/* Frees every block owner still holds (pages released through release as in
 * heap_free) and retires the id. Owner HEAP_OWNER_ARENA cannot be released. */
void heap_owner_release(struct heap *h, uint32_t owner, heap_release_fn *release, void *ctx);

/* Live blocks held by owner, and their bytes (HEAP_OWNER_ARENA: the kept
 * ones). O(1). */
uint64_t heap_owner_blocks(const struct heap *h, uint32_t owner);
uint64_t heap_owner_bytes(const struct heap *h, uint32_t owner);

/* One entry of heap_walk(). */
enum { HEAP_WALK_PAGE, HEAP_WALK_LIVE, HEAP_WALK_FREE };
struct heap_walk_ent {
    uint64_t off, size; /* a page: its base and length; a chunk: its place */
    uint32_t kind;      /* HEAP_WALK_* */
    uint32_t owner;     /* a live block's owner (HEAP_OWNER_ARENA: kept) */
};

/*
 * Lists the heap in address order, a part at a time, for tools that show
 * what it holds: every page (an entry at its base, before its chunks) and
 * every live block, and free chunks too when with_free. Starts at the first
 * entry at an offset >= from (0: the beginning) and writes at most max
 * (>= 3) entries to v. Returns how many, and sets *next to the offset to
 * pass as from to go on, or 0 when nothing is left. The heap may change
 * between two calls: the walk then goes on from the first entry at or after
 * *next, so an entry is never listed twice, and anything allocated behind
 * the cursor is not listed. O(entries) per call: the cursor is a live block
 * or a page base, found without a scan unless the heap changed there.
 */
size_t heap_walk(const struct heap *h, uint64_t from, bool with_free, struct heap_walk_ent *v,
                 size_t max, uint64_t *next);

/*
 * Finds the page that holds off (any byte of it). Returns 0 and sets *base
 * and *len, or -ENOENT.
 */
int heap_page_find(const struct heap *h, uint64_t off, uint64_t *base, uint64_t *len);

/*
 * Iterates over held pages in base order: start with *base = 0; each call
 * sets *base and *len to the next page above *base and returns 1, or returns
 * 0 at the end.
 */
int heap_page_next(const struct heap *h, uint64_t *base, uint64_t *len);

/* O(1). */
void heap_stats(const struct heap *h, struct heap_stats *out);

/*
 * Checks every invariant (see heap.c). Returns 0, or -EFAULT after writing a
 * description of the first broken one into why (if why != NULL). O(n).
 */
int heap_validate(const struct heap *h, char *why, size_t why_len);

#endif

/*
 * oracle.h - a deliberately simple model of an arena's free space, used to
 * check the allocator core (tests/check_heap.c) and as the naive baseline of
 * the benchmark (bench/alloc_bench.c).
 *
 * Each page keeps its free chunks in an array sorted by offset; every
 * operation is a binary search plus a memmove, every search a linear scan.
 * Obviously correct, and slow on purpose: nothing in it is clever.
 */
#ifndef OFA_ORACLE_H
#define OFA_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct oracle;

/* align: the minimum block alignment used by oracle_alloc (power of two). */
struct oracle *oracle_new(uint32_t align);
void oracle_delete(struct oracle *o);

/* Adds a page [base, base+len) as one free chunk. -EEXIST if it overlaps a page. */
int oracle_page_add(struct oracle *o, uint64_t base, uint64_t len);
/* Removes a page. -ENOENT if there is no such page, -EBUSY if it is not entirely free. */
int oracle_page_remove(struct oracle *o, uint64_t base, uint64_t len);
/* Number of pages, and of those entirely free (with the length of the last one seen). */
size_t oracle_pages(const struct oracle *o);
size_t oracle_empty_pages(const struct oracle *o, uint64_t *len);

/* Marks [off, off+size) used. -ENOENT unless it lies inside one free chunk. */
int oracle_take(struct oracle *o, uint64_t off, uint64_t size);
/* Marks [off, off+size) free again, merging with free neighbours in its page.
 * -ENOENT if not inside a page, -EEXIST if it overlaps free space. */
int oracle_give(struct oracle *o, uint64_t off, uint64_t size);

/* Whether some free chunk can hold size bytes at an offset aligned to align. */
bool oracle_fits(const struct oracle *o, uint64_t size, uint64_t align);
/* Exact best fit: the smallest free chunk that can hold the request (lowest
 * address on ties), placed at its first aligned offset. -ENOSPC if none. */
int oracle_best_fit(const struct oracle *o, uint64_t size, uint64_t align, uint64_t *off);

/* Free chunks in address order (over pages in base order). */
size_t oracle_free_chunks(const struct oracle *o);
uint64_t oracle_free_bytes(const struct oracle *o);
uint64_t oracle_largest(const struct oracle *o);
typedef void oracle_walk_fn(void *ctx, uint64_t off, uint64_t size);
void oracle_walk(const struct oracle *o, oracle_walk_fn *fn, void *ctx);

/*
 * The naive allocator built on the model: size rounded up to the minimum
 * alignment, exact best fit, the block taken at the chunk's low end.
 * -ENOSPC when nothing fits. Its blocks are freed with oracle_give() and
 * their rounded size.
 */
int oracle_alloc(struct oracle *o, uint64_t size, uint64_t align, uint64_t *off);

#endif

/*
 * pagemap.h - an arena's page map: page base -> (length, memfd).
 *
 * Open addressing with linear probing over a power-of-two table kept at most
 * half full; base 0 marks an empty slot (the heap never hands out base 0).
 * Deletion shifts later entries of the probe run back into the hole, so
 * lookups never meet tombstones and stay short however many pages come and
 * go. No I/O; grows only in pagemap_reserve, so a page's creation can fail
 * before anything else was done for it.
 */
#ifndef OFAD_PAGEMAP_H
#define OFAD_PAGEMAP_H

#include <stdint.h>

struct page_ent {
    uint64_t base; /* 0: empty */
    uint64_t len;
    int fd; /* the page's memfd, read-write, sealed */
    uint64_t key; /* its name in the fd store (state.h), 0: not kept there */
};

struct pagemap {
    struct page_ent *v; /* cap slots, NULL while cap is 0 */
    uint32_t cap, n;
};

/* The slot a base hashes to in a table of cap slots. Bases are multiples of
 * 4096 at least; Fibonacci hashing spreads them. */
static inline uint32_t pagemap_home(uint64_t base, uint32_t cap)
{
    return (uint32_t)(((base >> 12) * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

/* The entry of base, or NULL. */
struct page_ent *pagemap_find(const struct pagemap *m, uint64_t base);

/* Makes room for one more entry (load <= 1/2). Returns 0 or -ENOMEM. */
int pagemap_reserve(struct pagemap *m);

/* Adds e (e->base != 0, not in the map). pre: pagemap_reserve succeeded
 * since the last put. */
void pagemap_put(struct pagemap *m, const struct page_ent *e);

/* Removes e, an entry of m (from pagemap_find). */
void pagemap_del(struct pagemap *m, struct page_ent *e);

void pagemap_free(struct pagemap *m);

#endif

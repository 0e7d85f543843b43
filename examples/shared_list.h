/*
 * shared_list.h - the layout the example producer and consumer agree on.
 *
 * A list of variable-length text records in an ofa arena. Everything that
 * links one part to another is an offset, never a pointer: each process maps
 * the arena at its own addresses, and an offset means the same bytes in all
 * of them. A process turns an offset into an address with ofa_ptr() when it
 * needs one and never stores that address in shared memory.
 *
 *   list_head  (one block; its offset is what the producer publishes)
 *     magic    LIST_MAGIC, written last by the producer
 *     count    number of records
 *     first    offset of record 0 (0: empty list)
 *     bytes    total bytes of record text
 *   list_rec   (one block per record)
 *     next     offset of the next record, 0 after the last
 *     seq      0, 1, 2, ... in list order
 *     len      bytes of text that follow the header
 *     sum      FNV-1a hash of the text, so the consumer can check it
 *     text     len bytes (not NUL-terminated)
 *
 * The fields have fixed sizes and the structs no padding, so the layout is
 * the same in every process of the same architecture.
 */
#ifndef OFA_EXAMPLE_SHARED_LIST_H
#define OFA_EXAMPLE_SHARED_LIST_H

#include <stddef.h>
#include <stdint.h>

#define LIST_NAME "example/list" /* the name the producer publishes by default */
#define LIST_MAGIC       0x7473696c2d61666full /* "ofa-list" in little-endian bytes */
#define LIST_MAX_RECORDS 1000000u              /* the consumer's bound on count */
#define LIST_MAX_TEXT    4096u                 /* the consumer's bound on len */

struct list_head {
    uint64_t magic;
    uint64_t count;
    uint64_t first;
    uint64_t bytes;
};

struct list_rec {
    uint64_t next;
    uint64_t seq;
    uint32_t len;
    uint32_t sum;
    char text[];
};

/* 32-bit FNV-1a: cheap, and enough to notice a torn or overwritten record. */
static inline uint32_t list_hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 16777619u;
    }
    return h;
}

#endif

/*
 * ctl.h - an arena's control page: the words that tell client caches
 * whether they may still serve.
 */
#ifndef OFAD_CTL_H
#define OFAD_CTL_H

#include <stdbool.h>
#include <stdint.h>

#define CTL_LEN   16384u         /* bytes of a control page */
#define CTL_SLOTS (CTL_LEN / 4u) /* 32-bit words; word 0 is never a slot */

struct ctl;

/* Creates a control page: a sealed memfd mapped here read-write. Returns 0,
 * -ENOMEM, or -errno of memfd_create/ftruncate/mmap/fcntl. */
int ctl_create(struct ctl **out);

/* Frees the page here, revoking every slot first (each word becomes 0)
 * when revoke: clients keep their read-only mappings and see the zeros.
 * Without (ofad stops handing its state on), the words stay and the caches
 * serve on after the restart. NULL is fine. */
void ctl_destroy(struct ctl *c, bool revoke);

/* The descriptor to pass to clients: writes through it, and writable
 * mappings of it, are refused by its seals. */
int ctl_fd(const struct ctl *c);

/* Takes a free slot and writes a fresh ticket (never 0) into its word.
 * Returns 0 with *slot and *ticket, or -EMFILE when every slot is taken. */
int ctl_slot_get(struct ctl *c, uint32_t *slot, uint32_t *ticket);

/* Revokes slot (its word becomes 0) and frees it for reuse. */
void ctl_slot_put(struct ctl *c, uint32_t slot);

#endif

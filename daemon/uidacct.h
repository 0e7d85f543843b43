/*
 * uidacct.h - what each local user (uid) holds in ofad right now, for the
 * per-uid bounds: connections, reply bytes queued, blocks.
 */
#ifndef OFAD_UIDACCT_H
#define OFAD_UIDACCT_H

#include <stdint.h>

#include "log.h"

struct uid_acct {
    struct uid_acct *next;
    uint32_t uid;
    uint32_t conns;        /* connections open (each holds a reference) */
    uint64_t out_bytes;    /* reply bytes queued over those connections */
    uint64_t blocks_bound; /* >= blocks the uid holds (see session.c op_alloc) */
    struct log_ratelimit rl; /* lines its connections cause */
};

struct uid_table {
    struct uid_acct *head;
    uint32_t count; /* entries: uids with at least one connection */
};

/* The entry of uid, or NULL when it has no connection. O(uids connected). */
struct uid_acct *uid_acct_find(const struct uid_table *t, uint32_t uid);

/* Takes a reference for a new connection of uid (conns + 1), making the
 * entry if needed. Returns it, or NULL (out of memory). */
struct uid_acct *uid_acct_ref(struct uid_table *t, uint32_t uid);

/* Drops a connection's reference; the entry goes with its last one. */
void uid_acct_unref(struct uid_table *t, struct uid_acct *a);

#endif

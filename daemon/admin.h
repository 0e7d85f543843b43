/*
 * admin.h - the listings operators ask for: connections (CLIENTS) and an
 * arena's pages, blocks and free chunks (BLOCKS).
 */
#ifndef OFAD_ADMIN_H
#define OFAD_ADMIN_H

#include "proto.h"

struct session;

/* Scratch of the listings, kept between requests (one thread, one request
 * at a time): a listing allocates only when it needs more room than any
 * before it. */
struct admin_scratch {
    struct session **sess;
    uint32_t sess_cap;
    struct proto_client_row *rows;
    uint32_t rows_cap;
    struct admin_owner *owners;
    uint32_t owners_cap;
    struct heap_walk_ent *walk;
    uint64_t *ents;
    uint32_t walk_cap;
};

void admin_scratch_free(struct admin_scratch *x);

/*
 * CLIENTS for asker: rows of the connections whose id >= the request's
 * cursor, in id order, as many as fit the asker's message limit (a
 * connection's rows are never split, unless one connection alone has more
 * than fit: then its first rows only). Root and ofad's own user see every
 * connection, anyone else only those of their uid. Returns 0 (r filled,
 * pointing into the scratch) or -ENOMEM.
 */
int admin_clients(const struct session *asker, const struct proto_req *q, struct proto_rep *r);

/*
 * BLOCKS for asker: the arena's pages, live blocks (owner's pid and
 * connection id, or kept) and, with PROTO_BLOCKS_FREE, free chunks, in
 * address order from the request's cursor, as many as fit the asker's
 * message limit. Needs read permission. Returns 0; -ENOENT (no such arena),
 * -EACCES, -ENOMEM.
 */
int admin_blocks(const struct session *asker, const struct proto_req *q, struct proto_rep *r);

#endif

/*
 * client.h - libofaclient internals shared by conn.c, arena.c and admin.c.
 * Never installed: ofaclient.h is the only public header.
 *
 * Layering inside the library:
 *   conn.c   one connection: socket, handshake, framing, received file
 *            descriptors, one request/reply exchange at a time (ofa__call).
 *   arena.c  arena handles, their page mappings, alloc/free, ofa_ptr.
 *   cache.c  the per-handle cache of private blocks that arena.c asks first.
 *   admin.c  requests that name arenas without opening them (create, drop,
 *            stats, lists) and the daemon's record.
 *   wake.c   futex waits and wake-ups on words of mapped blocks.
 *   names.c  named blocks, and waits for names on a connection of their own.
 *   errors.c error names and sentences.
 *   util.c   public helpers (names, sizes, configs) and ofa_errmsg().
 */
#ifndef OFA_CLIENT_INTERNAL_H
#define OFA_CLIENT_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "cache.h"
#include "ofaclient.h"
#include "proto.h"

/* Largest reply payload we accept. Replies are small except ARENAS, whose
 * PROTO_MAX_ARENAS records may run to hundreds of KiB; the receive buffer only
 * grows to what actually arrives. */
#define OFA__MAX_RECV PROTO_MAX_MAX_MSG

/* Room for this many descriptors in one recvmsg(). The daemon sends at most
 * one per PAGE reply and we keep one request in flight, so more than a few is
 * already a protocol violation; the room only has to be large enough that
 * the kernel does not truncate (and silently close) what a confused peer
 * sends before we get to notice and report it. */
#define OFA__RECV_FDS 32

/* Descriptors waiting for their PAGE reply. Anything beyond is hostile. */
#define OFA__MAX_PENDING_FDS 64

/*
 * A pinned page mapping (ofa_pin). Made on the first pin of a mapping and
 * shared by every later pin of it. refs counts the pins plus one while the
 * mapping is still in its handle's table; whoever drops the last reference
 * unmaps it. Atomic because ofa_unpin may run on any thread, while the
 * handle's thread trims or closes.
 */
struct ofa_mapping {
    atomic_ulong refs;
    uint8_t *addr;
    uint64_t len;
};

/* A page of an arena mapped into this process. */
struct ofa__map {
    uint64_t base, len; /* the page's place in the arena's offset space */
    uint8_t *addr;      /* where it is mapped here */
    /* NULL until the page is pinned; then the mapping belongs to it. */
    struct ofa_mapping *pin;
    /* 1 when this process freed a block in the page since it last knew the
     * page to be live: the page may have been released, so ofa_ptr asks the
     * daemon before trusting the mapping again. */
    int suspect;
};

struct ofa_arena {
    struct ofa_client *c;
    struct ofa_arena *prev, *next; /* the client's list of open arenas */
    uint32_t handle;               /* the daemon's id for this open */
    int writable;
    uint32_t align;
    uint64_t page_size, max_bytes;
    char name[PROTO_NAME_MAX + 1];
    struct ofa__map *maps; /* sorted by base, never overlapping */
    size_t nmaps, capmaps;
    struct ofa__cache *cache; /* private blocks kept here (cache.c); never NULL */
};

struct ofa_client {
    int fd;     /* the socket; -1 once the connection is broken */
    int broken; /* 0, or the negative errno every later call returns */
    uint32_t timeout_ms; /* deadline of one exchange; 0: none */
    uint32_t snd_ms, rcv_ms; /* SO_SNDTIMEO, SO_RCVTIMEO in force (ms; 0: none) */
    struct sockaddr_un sa; /* the daemon's socket, to reconnect */
    uint64_t sid, secret;  /* the resumable session; sid 0: none */
    uint64_t next_id;
    uint32_t max_send; /* largest payload the daemon accepts from us */
    uint32_t max_recv; /* largest payload we accept */
    struct proto_buf sbuf;
    /* Received bytes [0, rlen) of a buffer of rcap bytes; the first rdone of
     * them are the last reply, still referenced by its decoded form until
     * the next exchange starts. */
    uint8_t *rbuf;
    size_t rlen, rcap, rdone;
    struct proto_dec *dec;
    int fds[OFA__MAX_PENDING_FDS]; /* received descriptors, oldest first */
    size_t nfds;
    struct ofa_arena *arenas; /* open arena handles */
    struct ofa_client *waitc; /* ofa_lookup_wait's own connection, or NULL */
    char server[32];          /* the daemon's name and version from HELLO */
    char path[108];           /* the socket path, for messages (fits sun_path) */
};

/*
 * Sends req (its id is filled in here) and waits for its reply in *rep.
 * Pointers inside *rep stay valid until the next call on c.
 * Returns 0 when the daemon answered with err 0; the daemon's error as a
 * negative errno (proto_err_to_errno: a code we do not know is -EPROTO, and
 * fails this request only); -EINVAL or -ENOMEM when the request could not be
 * encoded, -EMSGSIZE when it is over the daemon's message limit (nothing is
 * sent, the connection is still usable); a connection error: -EPROTO
 * (the reply was unexpected: wrong op or id, malformed, truncated control
 * data, stray descriptors or bytes; or the daemon's EPROTO reply, after which
 * it hangs up), -ECONNRESET (EOF), -ETIMEDOUT (no whole reply within
 * c->timeout_ms of the start), -EPIPE or another errno of send/recv.
 * After a connection error every later call returns that error at once.
 * fd: for PAGE and CACHE requests, receives the descriptor that came with a
 * successful reply (the caller owns it); NULL for every other request.
 */
int ofa__call(struct ofa_client *c, struct proto_req *req, struct proto_rep *rep, int *fd);

/* Drops the connection with err, closing the socket and every pending
 * descriptor; the client and its arenas stay valid objects. The first error
 * sticks. The only place a connection is dropped. */
void ofa__broken(struct ofa_client *c, int err);

/* 0 or -EINVAL: name is a valid arena name (NUL-terminated). */
int ofa__name_check(const char *name);

/* Copies a decoded arena record. -EPROTO if its name is not a valid name. */
int ofa__info_copy(ofa_arena_info *dst, const struct proto_arena_info *src);

/* The address of len bytes at off in this process, mapping their page on
 * first use (as ofa_ptr). Returns 0 and *out; -EINVAL when the bytes do not
 * all lie in one page; the daemon's error when no live page holds off
 * (-ENOENT) or a connection error. */
int ofa__addr(struct ofa_arena *a, uint64_t off, uint64_t len, void **out);

/* Sets this thread's detailed message (ofa_errmsg) and returns rc. */
int ofa__fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same for a failure about arena name: "arena NAME: <ofa_strerror>",
 * unless the connection broke (then the message ofa__call set stays). */
int ofa__fail_arena(struct ofa_client *c, int rc, const char *name);

/* Ends the connection of c, whose arenas are closed already: BYE to end
 * its session, then the socket and c are freed (arena.c's ofa_disconnect). */
void ofa__conn_close(struct ofa_client *c);

/* The cache of private blocks (cache.c; its short paths in cache.h). */

/* Asks the daemon for a cache on a fresh writable handle (CACHE) and sets
 * a->cache, or &ofa__cache_none when the daemon offers none. Returns 0, or
 * a connection error. */
int ofa__cache_open(struct ofa_arena *a);

/* Forgets a's cache, without a round trip (close, disconnect, revocation:
 * the daemon frees its blocks with the handle); a->cache is
 * &ofa__cache_none after. */
void ofa__cache_drop(struct ofa_arena *a);

/* pre: flags valid, count 1..PROTO_MAX_BATCH.
 * Serves count private blocks of size bytes from the cache, all or none:
 * 0 and offs; 1 when the cache does not take the request (not private,
 * too large, an alignment above the arena's, no cache or revoked, or a
 * FILL the daemon refused: the caller goes to the daemon, which gives the
 * answer ALLOC and ALLOC_N give); or a connection error. OFA_ZERO is the
 * caller's to apply: this file maps nothing. */
int ofa__cache_alloc(struct ofa_arena *a, uint64_t size, uint64_t align, unsigned flags,
                     uint32_t count, uint64_t *offs);

/* Frees a block the cache handed out: 0; -EINVAL when off is a private
 * block the cache holds unused (a second free); 1 when off is not the
 * cache's (the caller goes to the daemon); or an error of the DRAIN it
 * made. */
int ofa__cache_free(struct ofa_arena *a, uint64_t off);

/* 1 when off is a block the cache handed out or holds, else 0. */
int ofa__cache_owns(const struct ofa_arena *a, uint64_t off);

/* Gives every cached block back (an allocation failed for lack of room).
 * Returns 1 when it gave some back (worth trying again), else 0. */
int ofa__cache_room(struct ofa_arena *a);

#endif

/*
 * proto.h - the ofa wire protocol: framing, message codec, validation.
 *
 * Bytes in, structs out; structs in, bytes out. No I/O, no globals, so every
 * function here can be fed hostile input directly (tests, fuzzers). Used by
 * ofad and by libofaclient; proto/PROTOCOL.md is the normative description.
 *
 * Framing: every message is a frame: a 4-byte big-endian payload length N
 * (1 <= N <= the negotiated maximum) followed by N bytes holding exactly one
 * msgpack array:
 *   request: [op, id, args...]
 *   reply:   [op, id, err, results...]     (err 0: results follow)
 * (one exception: a FREE_N reply always carries its count, err or not).
 * op is a PROTO_OP_* value, id is chosen by the client and echoed in the reply
 * (replies come in request order; ids let a client pipeline), err is a
 * PROTO_E* wire code (never an errno number: those differ between systems).
 *
 * File descriptors: a PAGE or CACHE reply with err 0 carries one file descriptor
 * (SCM_RIGHTS). The server attaches it to a sendmsg() whose bytes include the
 * first byte of that reply's frame (or an earlier byte), so it always arrives
 * no later than the frame. A client keeps received descriptors in arrival
 * order and gives the next one to each successful PAGE or CACHE reply it
 * decodes.
 */
#ifndef OFA_PROTO_H
#define OFA_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION          1
#define PROTO_HEADER_LEN       4
#define PROTO_DEFAULT_MAX_MSG  (64u * 1024)   /* default max payload length */
#define PROTO_MIN_MAX_MSG      4096u          /* smallest max either side may set */
#define PROTO_MAX_MAX_MSG      (16u << 20)    /* largest max either side may set */
#define PROTO_MAX_BATCH        4096u          /* offsets in one ALLOC_N/FREE_N */
#define PROTO_MAX_ARENAS       4096u          /* arena records in one ARENAS reply */
#define PROTO_NAME_MAX         63u            /* arena name: 1..63 of [A-Za-z0-9._-] */
#define PROTO_MAX_DEPTH        4              /* nesting depth of any message */
#define PROTO_MAX_PAGES        (1u << 16)     /* page bases in one PAGES reply */
#define PROTO_VERSION_STR_MAX  31u            /* HELLO server string, DAEMON version */
#define PROTO_MAX_CLIENT_ROWS  1024u          /* rows in one CLIENTS reply */
#define PROTO_MAX_BLOCK_ROWS   8192u          /* entries in one BLOCKS reply */
#define PROTO_BLOCK_FIELDS     5u             /* u64s per BLOCKS entry */
#define PROTO_BLOCK_NAME_MAX   255u           /* block name: 1..255 of [A-Za-z0-9._:/-] */
#define PROTO_MAX_NAMES        (1u << 16)     /* entries in one NAMES reply */
#define PROTO_WAIT_FOREVER     UINT64_MAX     /* LOOKUP_WAIT timeout: no limit */

enum proto_op {
    PROTO_OP_HELLO = 1,   /* must be the first request on a connection */
    PROTO_OP_PING = 2,
    PROTO_OP_CREATE = 3,  /* create an arena */
    PROTO_OP_DROP = 4,    /* drop an arena */
    PROTO_OP_OPEN = 5,    /* open an arena: returns a handle for this connection */
    PROTO_OP_CLOSE = 6,   /* close a handle (blocks it owns are freed) */
    PROTO_OP_ALLOC = 7,
    PROTO_OP_FREE = 8,
    PROTO_OP_ALLOC_N = 9, /* count blocks of one size */
    PROTO_OP_FREE_N = 10, /* a list of offsets */
    PROTO_OP_PAGE = 11,   /* the page that holds an offset, with its fd */
    PROTO_OP_PAGES = 12,  /* bases of the pages an arena holds now */
    PROTO_OP_STATS = 13,  /* one arena's record, by name */
    PROTO_OP_ARENAS = 14, /* every arena's record */
    PROTO_OP_DAEMON = 15, /* the daemon's record */
    PROTO_OP_CLIENTS = 16, /* the connections and what they hold, a page at a time */
    PROTO_OP_BLOCKS = 17,  /* an arena's pages, blocks (and free chunks), a page at a time */
    /* 18-19: listings */
    PROTO_OP_VALIDATE = 20, /* check an arena's allocator invariants (root, ofad's user) */
    /* 21-27: named blocks */
    PROTO_OP_ALLOC_NAMED = 21, /* allocate a kept block and bind a name, or find it */
    PROTO_OP_NAME_BIND = 22,   /* bind a name to a live kept block */
    PROTO_OP_NAME_UNBIND = 23,
    PROTO_OP_LOOKUP = 24,      /* a name's block, now */
    PROTO_OP_LOOKUP_WAIT = 25, /* a name's block, once bound (parks the connection) */
    PROTO_OP_NAMES = 26,       /* an arena's names, by arena name */
    PROTO_OP_BLOCK_SIZE = 27,  /* a live block's size */
    /* 28-30: sessions */
    PROTO_OP_SESSION = 28, /* make this connection's session resumable: its id, secret */
    PROTO_OP_RESUME = 29,  /* take over a session whose connection was lost */
    PROTO_OP_BYE = 30,     /* end the session now (its blocks freed), then close */
    PROTO_OP_CACHE = 31,   /* a handle's cache terms, with the arena's control page fd */
    PROTO_OP_FILL = 32,    /* private blocks of one size for the client's cache */
    PROTO_OP_DRAIN = 33,   /* private blocks back from the client's cache */
    PROTO_OP_MAX = 33      /* ops in 1..MAX with no field count are unknown */
};

/*
 * Every error ofa speaks of, once, in the manner of libuv's UV_ERRNO_MAP:
 * XX(name, wire code, sentence). The wire codes, their translation to and
 * from errno, the names in ofad's log lines and libofaclient's ofa_err_name()
 * and ofa_strerror() are all made from these two lists, so a new error is one
 * line here (and PROTO_ERR_MAX, for a wire code). Wire codes 13 and 14 are
 * reserved (quotas, named blocks).
 */
#define PROTO_ERR_MAP(XX)                                                                  \
    XX(EINVAL, 1, "invalid argument, or not the start of a live block")                   \
    XX(ENOENT, 2, "no such arena")                                                         \
    XX(EEXIST, 3, "the arena exists")                                                      \
    XX(EACCES, 4, "not permitted by the arena's owner, group and mode")                    \
    XX(ENOMEM, 5, "an arena or daemon memory limit is reached")                            \
    XX(EPROTO, 6, "the daemon sent something unexpected")                                  \
    XX(EBUSY, 7, "the arena has live blocks")                                              \
    XX(EMSGSIZE, 8, "message too large for the daemon")                                    \
    XX(EBADF, 9, "the arena handle is not open on this connection")                        \
    XX(ENOTSUP, 10, "protocol version not supported")                                      \
    XX(EMFILE, 11, "a per-connection limit of the daemon is reached")                      \
    XX(EIO, 12, "the daemon failed to create or pass a page")                              \
    XX(EDQUOT, 13, "a per-user quota of the daemon is reached")                            \
    XX(ETIMEDOUT, 14, "the time ran out (the daemon did not answer, or nothing came)")     \
    XX(ESRCH, 15, "the daemon no longer knows the session")                                \
    XX(EPERM, 16, "the session belongs to another process")

/* Errors that never travel: the client library meets them on its socket.
 * XX(name, sentence). */
#define PROTO_LOCAL_ERR_MAP(XX)                                                            \
    XX(ECONNRESET, "the connection to the daemon was closed")                              \
    XX(EPIPE, "the daemon is gone")                                                        \
    XX(ECONNREFUSED, "no daemon is listening on the socket")                              \
    XX(EAGAIN, "the word no longer held the expected value")

/* Wire error codes. proto_err_to_errno/proto_errno_to_err translate. */
enum proto_err {
    PROTO_OK = 0,
#define PROTO_ERR_ENUM_(name, code, text) PROTO_##name = code,
    PROTO_ERR_MAP(PROTO_ERR_ENUM_)
#undef PROTO_ERR_ENUM_
    PROTO_ERR_MAX = 16 /* codes in 1..MAX without a line in the map are unknown */
};

/* ALLOC / ALLOC_N request flags (the values of the OFA_ flags of the same names). */
#define PROTO_ALLOC_KEEP    1u  /* the block belongs to the arena (OFA_KEEP) */
#define PROTO_ALLOC_PRIVATE 4u  /* only the allocating session may free it */
#define PROTO_ALLOC_SHARED  16u /* an ordinary block, in an arena whose default is private */
#define PROTO_ALLOC_FLAGS   (PROTO_ALLOC_KEEP | PROTO_ALLOC_PRIVATE | PROTO_ALLOC_SHARED)

#define PROTO_BLOCKS_FREE 1u /* BLOCKS request flag: list free chunks too */

/* BLOCKS entries: [off, size, kind, pid, client], kind one of these. */
enum proto_block_kind {
    PROTO_BLOCK_LIVE = 0, /* a live block owned by a connection (pid, client set) */
    PROTO_BLOCK_KEPT = 1, /* a live block the arena keeps (OFA_KEEP; pid, client 0) */
    PROTO_BLOCK_FREE = 2, /* a free chunk */
    PROTO_BLOCK_PAGE = 3, /* a page: off its base, size its length; its chunks follow */
};
#define PROTO_NAMED_EXCL 8u /* ALLOC_NAMED flag: EEXIST if the name is bound (OFA_EXCL) */

/* A string inside a decoded frame: not NUL-terminated, valid as long as the
 * frame bytes are. */
struct proto_str {
    const char *ptr;
    uint32_t len;
};

/* One arena's public record (STATS, ARENAS). */
struct proto_arena_info {
    struct proto_str name;
    uint32_t uid, gid, mode;
    uint32_t align;
    uint64_t page_size, max_bytes;
    uint64_t pages, bytes_reserved, bytes_live, blocks_live, free_chunks, largest_free;
    uint64_t allocs, frees, alloc_failures;
    uint32_t private_default;             /* 1: ALLOC without KEEP or SHARED makes private blocks */
    uint64_t cache_max;                   /* bytes one handle's client cache may hold */
    uint64_t blocks_cached, bytes_cached; /* in client caches, as the clients last said */
};

/* One bound name (NAMES). */
struct proto_name_info {
    struct proto_str name; /* a block name */
    uint64_t off, size;    /* the block (off never 0) */
    uint32_t uid, pid;     /* who bound it (pid 0: not known) */
};

/* The daemon's record (DAEMON). */
struct proto_daemon_info {
    struct proto_str version;
    uint64_t uptime_s, clients, arenas, bytes_reserved, bytes_limit, pid;
    uint64_t state_age_s; /* seconds since the kept state began; 0: none kept */
};

/* One row of a CLIENTS reply: a connection and one arena it has open (arena
 * empty, blocks and bytes 0, for a connection with none open). A connection
 * with several arenas open has several rows, one after the other. */
struct proto_client_row {
    uint64_t client;      /* the daemon's id of the connection, from 1 */
    uint32_t pid, uid, gid;
    struct proto_str comm; /* /proc/PID/comm at accept: vstr, "" if unknown */
    uint64_t since_s;     /* Unix time of accept */
    uint64_t requests;    /* requests served on the connection */
    struct proto_str arena; /* a name, or empty */
    uint64_t blocks, bytes; /* live blocks it owns in that arena, their bytes */
};

struct proto_req {
    uint32_t op;
    uint64_t id;
    union {
        struct { uint32_t version, max_msg; } hello;
        struct {
            struct proto_str name;
            uint64_t page_size, max_bytes; /* 0: the daemon's default */
            uint32_t align, mode;          /* 0: the daemon's default */
            /* Sent (9 elements instead of 7) when either is not 0. */
            uint32_t private_default; /* 0: the daemon's default; 1 private; 2 shared */
            uint64_t cache_max;       /* 0: the daemon's default */
        } create;
        struct { struct proto_str name; uint32_t force; } drop;
        struct { struct proto_str name; } open, stats, validate, names;
        struct { uint64_t cursor; } clients; /* rows of connections with id >= cursor */
        /* entries at offsets >= cursor (0: from the start) */
        struct { struct proto_str name; uint64_t cursor; uint32_t flags; } blocks;
        struct { uint32_t arena; } close, pages;
        /* ALLOC and ALLOC_N (count = 1 for ALLOC) */
        struct { uint32_t arena; uint64_t size, align; uint32_t flags, count; } alloc;
        struct { uint32_t arena; uint64_t off; } free, page, block;
        /* ALLOC_NAMED: flags 0 or PROTO_NAMED_EXCL; the block is kept */
        struct { uint32_t arena; struct proto_str name; uint64_t size; uint32_t flags; } named;
        /* NAME_BIND; NAME_UNBIND and LOOKUP (off unused) */
        struct { uint32_t arena; struct proto_str name; uint64_t off; } bind;
        /* LOOKUP_WAIT: by arena name; timeout_ms PROTO_WAIT_FOREVER: none */
        struct { struct proto_str arena, name; uint64_t timeout_ms; } wait;
        /* offs points into the decoder's scratch, valid until its next use */
        struct { uint32_t arena; const uint64_t *offs; uint32_t count; } free_n;
        struct { uint64_t session, secret; } resume;
        struct { uint32_t arena; } cache;
        /* FILL: count private blocks of size; DRAIN: give offs back. Both say
         * what the client's cache holds once the exchange is done. */
        struct { uint32_t arena; uint64_t size; uint32_t count; uint64_t blocks, bytes; } fill;
        struct {
            uint32_t arena;
            uint64_t blocks, bytes;
            const uint64_t *offs; /* as free_n's */
            uint32_t count;
        } drain;
    } u;
};

struct proto_rep {
    uint32_t op;
    uint64_t id;
    uint32_t err; /* PROTO_E*; when not 0 no result fields follow on the wire,
                   * except FREE_N's count (set it, 0 when nothing was freed) */
    union {
        struct { uint32_t version, max_msg; struct proto_str server; } hello;
        struct {
            uint32_t arena, writable, align;
            uint64_t page_size, max_bytes;
        } open;
        struct { uint64_t off; } alloc;
        /* ALLOC_N: the offsets allocated (all, or none with err set);
         * FREE_N: count of offsets freed before the first failure (err set
         *         then, offs unused); PAGES: the page bases. */
        struct { const uint64_t *offs; uint32_t count; } list;
        struct { uint64_t base, len; uint32_t writable; } page;
        /* CACHE: comes with the arena's control page fd (read-only); the
         * cache may serve while word `slot` of that page equals `ticket`. */
        struct { uint32_t private_default; uint64_t cache_max; uint32_t slot, ticket; } cache;
        struct proto_arena_info stats;
        struct { const struct proto_arena_info *v; uint32_t count; } arenas;
        struct proto_daemon_info daemon;
        struct { uint64_t session, secret; } session;
        /* next: the cursor of the following page, 0 when this is the last */
        struct { uint64_t next; const struct proto_client_row *v; uint32_t count; } clients;
        /* v holds count entries of PROTO_BLOCK_FIELDS u64s each */
        struct { uint64_t next; const uint64_t *v; uint32_t count; } blocks;
        /* ALLOC_NAMED: off, created; LOOKUP, LOOKUP_WAIT: off, size;
         * BLOCK_SIZE: size */
        struct { uint64_t off, size; uint32_t created; } named;
        /* NAMES: waiting = lookups parked on the arena now */
        struct { uint64_t waiting; const struct proto_name_info *v; uint32_t count; } names;
    } u;
};

/* A growable output buffer. */
struct proto_buf {
    uint8_t *data;
    size_t len, cap;
};

void proto_buf_init(struct proto_buf *b);
void proto_buf_free(struct proto_buf *b);
/* Drops the first n bytes (after they were written out). */
void proto_buf_consume(struct proto_buf *b, size_t n);
/* Makes room for n more bytes after len (e.g. to read into). 0 or -ENOMEM. */
int proto_buf_reserve(struct proto_buf *b, size_t n);

/*
 * Appends one whole frame (header + payload). Returns 0, -EINVAL if the
 * message is not well formed (unknown op, over a PROTO_MAX_* bound, or any
 * value the decoder would refuse: every message that encodes also decodes),
 * -ENOMEM. On error b is left as it was (its capacity may have grown).
 * A reply with err != 0 may carry any op (to answer an unknown one).
 */
int proto_encode_req(struct proto_buf *b, const struct proto_req *r);
int proto_encode_rep(struct proto_buf *b, const struct proto_rep *r);

/*
 * Looks at the start of a byte stream. Returns 1 and sets *frame_len (header
 * included) when a whole frame is there, 0 when more bytes are needed,
 * -EMSGSIZE when the header announces a payload over max_msg or of length 0
 * (the stream is then unusable).
 */
int proto_frame(const uint8_t *p, size_t n, uint32_t max_msg, size_t *frame_len);

/* A decoder: reusable scratch (a msgpack zone, offset arrays). One per
 * connection; not shared between threads. */
struct proto_dec;
int proto_dec_new(struct proto_dec **out);
void proto_dec_free(struct proto_dec *d);

/*
 * Decodes one payload (the frame without its header). Checks the msgpack
 * structure against the bytes present and PROTO_MAX_DEPTH before the msgpack
 * unpacker sees it, then every field's type and range. Pointers in *out point
 * into payload or into d, valid until the next decode with d.
 * Returns 0; -EPROTO for anything malformed (then, if at least op and id
 * could be read, out->op and out->id are set so that an error reply can be
 * addressed, and the function returns -EBADMSG instead); -ENOMEM.
 * An op outside 1..PROTO_OP_MAX counts as read: a request with one is
 * -EBADMSG; a reply with one decodes only as an error reply [op, id, err].
 */
int proto_decode_req(struct proto_dec *d, const uint8_t *payload, size_t len,
                     struct proto_req *out);
int proto_decode_rep(struct proto_dec *d, const uint8_t *payload, size_t len,
                     struct proto_rep *out);

/* Wire code <-> negative errno. Unknown wire codes map to -EPROTO; errnos
 * without a wire code map to PROTO_EIO. */
int proto_err_to_errno(uint32_t err);
uint32_t proto_errno_to_err(int neg_errno);
const char *proto_op_name(uint32_t op);   /* "ALLOC"; "UNKNOWN" */
const char *proto_err_name(uint32_t err); /* "EINVAL"; "UNKNOWN" */

/* The name ("ENOENT") and the sentence ("no such arena") of an errno value,
 * negative as ofa returns them or positive: from the lists above, else the C
 * library's, else "EUNKNOWN" and "unknown error". Never NULL. */
const char *proto_errno_name(int err);
const char *proto_errno_text(int err);

/* How many offsets one FREE_N request or ALLOC_N reply may carry so that its
 * payload surely fits in max_msg bytes (at most PROTO_MAX_BATCH). */
uint32_t proto_batch_fit(uint32_t max_msg);

/* Shared validation and parsing for flags, config files and requests. */

/* 1..PROTO_NAME_MAX bytes of [A-Za-z0-9._-]. Returns 0 or -EINVAL. */
int proto_name_check(const char *name, size_t len);

/* A block name: 1..PROTO_BLOCK_NAME_MAX bytes of [A-Za-z0-9._:/-].
 * Returns 0 or -EINVAL. */
int proto_block_name_check(const char *name, size_t len);

/* "4096", "64K", "16M", "1G", "1T" (K/M/G/T are powers of 1024; a trailing
 * "B" or "iB" is accepted). Returns 0 and *out, or -EINVAL (empty, junk,
 * overflow). */
int proto_parse_size(const char *s, uint64_t *out);

#endif

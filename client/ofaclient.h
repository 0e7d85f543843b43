/*
 * ofaclient.h - the client library of ofa, the shared-memory offset allocator.
 *
 * An ofad daemon owns named arenas of shared memory. A client connects to it,
 * opens an arena, allocates blocks in it and gets 64-bit offsets back. The
 * same offset names the same bytes in every process that opened the arena, so
 * processes share data by passing offsets; ofa_ptr() turns an offset into an
 * address in this process, mapping the page that holds it on first use.
 *
 * Blocks belong to the session that allocated them (an ofa_client, from
 * ofa_connect to ofa_disconnect) and are freed when it ends: at
 * ofa_disconnect or ofa_arena_close, or when the process exits, crashes or
 * is killed. A block allocated with OFA_KEEP belongs to the arena instead,
 * until some client frees it.
 *
 * Every int function returns 0 (or a count where said) or a negative errno:
 *   -ENOENT     no such arena, or no daemon at the socket path
 *   -EEXIST     the arena exists
 *   -EACCES     not permitted by the arena's owner, group and mode
 *   -EINVAL     a bad argument, or an offset that is not a live block
 *   -ENOMEM     an arena or daemon limit is reached (or memory ran out here)
 *   -EBUSY      the arena has live blocks (ofa_arena_drop without force)
 *   -EMFILE     a per-connection limit of the daemon is reached
 *   -EMSGSIZE   a request over the daemon's message limit (nothing was sent)
 *   -EDQUOT     a per-user (uid) quota of the daemon is reached
 *   -EPROTO     the daemon sent something unexpected
 *   -ETIMEDOUT  the daemon did not answer within the client's deadline
 *   -ECONNRESET, -EPIPE  the daemon is gone
 * ofa_strerror() names each; ofa_errmsg() says more about the last failure
 * of this thread (which arena, which offset, which socket path, what to do).
 * The library never prints and never exits.
 * "Connection errors" below means -EPROTO, -ETIMEDOUT, -ECONNRESET, -EPIPE
 * or another errno of send(2)/recv(2): the connection is then dropped, but
 * not the session (see Deadlines).
 *
 * Deadlines: every call that talks to the daemon (ofa_connect and its
 * handshake included) gives up after the client's timeout, OFA_DEFAULT_TIMEOUT_MS
 * unless $OFAD_TIMEOUT_MS (read by ofa_connect; 0 = no deadline) or
 * ofa_set_timeout() say otherwise, and returns -ETIMEDOUT. The connection is
 * then dropped, as after any connection error, and the session stays: the
 * ofa_client and its arenas stay valid, pages already mapped stay mapped,
 * and the daemon keeps the session's blocks while the process lives (for at
 * most its session_grace). The next call reconnects, resumes the session and
 * its arena handles, and carries on, within its own deadline; a request
 * that was in flight takes effect once. If the daemon no longer knows the
 * session (the grace time passed, or the daemon was restarted), that call
 * and every later one return -ECONNRESET.
 *
 * Threads: an ofa_client and its arenas are used by one thread at a time.
 */
#ifndef OFACLIENT_H
#define OFACLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define OFA_EXTERN __attribute__((visibility("default")))
#else
#define OFA_EXTERN
#endif

#define OFA_VERSION_MAJOR 0
#define OFA_VERSION_MINOR 1
#define OFA_VERSION_PATCH 0
/* The version as one number, 0xMMmmpp, comparable with ofa_version(). */
#define OFA_VERSION_HEX ((OFA_VERSION_MAJOR << 16) | (OFA_VERSION_MINOR << 8) | OFA_VERSION_PATCH)

#define OFA_DEFAULT_SOCKET     "/run/ofad/ofad.sock"
#define OFA_SOCKET_ENV         "OFAD_SOCKET"
#define OFA_TIMEOUT_ENV        "OFAD_TIMEOUT_MS"
#define OFA_DEFAULT_TIMEOUT_MS 5000u

/* What ofad accepts for an arena (ofa_arena_config_check() checks them). */
#define OFA_NAME_MAX      63u                     /* arena name: 1..63 of [A-Za-z0-9._-] */
#define OFA_PAGE_SIZE_MIN 4096u                   /* page_size: a multiple of 4096 */
#define OFA_PAGE_SIZE_MAX (1ull << 40)
#define OFA_ALIGN_MIN     8u                      /* align: a power of two */
#define OFA_ALIGN_MAX     4096u
#define OFA_MAX_BYTES_MAX 0x7fffffffffffffffull   /* max_bytes: 2^63 - 1 */

typedef struct ofa_client ofa_client; /* one connection; one thread at a time */
typedef struct ofa_arena ofa_arena;   /* an arena opened on a connection */
typedef struct ofa_mapping ofa_mapping; /* a page mapping kept alive by pins */

/*
 * Structs that grow. Each public struct keeps the fields the spec gives, in
 * that order, inside a union with a fixed amount of room (OFA_ROOM_*): a
 * new field is one line at the end of its struct, and the struct's size and
 * the offsets of every older field never change. A fixed size was chosen
 * over a size field or _ex calls because ofa_arena_list() hands out arrays
 * (their stride must not depend on which header the caller was built with),
 * because programs copy these structs by value, and because the bindings
 * mirror them with one fixed layout.
 *
 * The rules that make it work: the library zeroes every struct it fills,
 * room included, so a field newer than the library reads 0; and a program
 * starts every struct it passes in from zero (= {0} or designated
 * initializers), so a field newer than the program reads 0 in the library,
 * which means "the default". ofa_version() tells which fields a library
 * knows.
 */
#define OFA_ROOM_ARENA_CONFIG 128
#define OFA_ROOM_ARENA_STATS  256
#define OFA_ROOM_ARENA_INFO   512
#define OFA_ROOM_DAEMON_INFO  256
#define OFA_ROOM_NAME_INFO    384

typedef struct ofa_arena_config {
    union {
        struct {
            uint64_t page_size; /* 0: the daemon's default */
            uint64_t max_bytes; /* 0: the daemon's default */
            uint32_t align;     /* 0: the daemon's default (64) */
            uint32_t mode;      /* 0: 0600 */
            /* 1: blocks are private unless OFA_KEEP or OFA_SHARED says
             * otherwise; 0: ordinary blocks unless OFA_PRIVATE. */
            uint32_t private_default;
            uint64_t cache_max; /* bytes one connection may cache; 0: the daemon's default */
        };
        unsigned char ofa_room_[OFA_ROOM_ARENA_CONFIG];
    };
} ofa_arena_config;

typedef struct ofa_arena_stats {
    union {
        struct {
            uint64_t page_size, max_bytes, pages, bytes_reserved, bytes_live, blocks_live,
                free_chunks, largest_free, allocs, frees, alloc_failures;
            uint32_t align;
            uint32_t private_default; /* 1: the arena makes private blocks by default */
            uint64_t cache_max;       /* bytes one connection's cache may hold */
            /* Of blocks_live and bytes_live: what sits in client caches, as
             * the clients said when they last filled or emptied them. */
            uint64_t blocks_cached, bytes_cached;
        };
        unsigned char ofa_room_[OFA_ROOM_ARENA_STATS];
    };
} ofa_arena_stats;

#define OFA_KEEP    1u  /* the block outlives its connection */
#define OFA_ZERO    2u  /* the block is filled with zeros before it is returned */
#define OFA_PRIVATE 4u  /* only this connection may free the block (see ofa_alloc_ex) */
#define OFA_EXCL    8u  /* ofa_alloc_named: fail with -EEXIST if the name is bound */
#define OFA_SHARED  16u /* an ordinary block, in an arena whose default is private */

/*
 * Connects to the daemon at socket_path; NULL means $OFAD_SOCKET, and without
 * it OFA_DEFAULT_SOCKET. Performs the version handshake.
 * Errors: -ENOENT (no socket there), -ECONNREFUSED (no daemon listening),
 * -ENOTSOCK (the path is not a socket: a directory, a file), -EACCES (the
 * socket's group or mode does not admit us), -EINVAL (a path too long for a
 * Unix socket, or out NULL), -EPROTO (not an ofad, or an incompatible
 * version), -ETIMEDOUT (no room in the daemon's backlog, or no answer to the
 * handshake, within the deadline: $OFAD_TIMEOUT_MS or OFA_DEFAULT_TIMEOUT_MS),
 * -ECONNRESET, -EPIPE, -ENOMEM. ofa_errmsg() names the path and what to do.
 */
OFA_EXTERN int ofa_connect(const char *socket_path, ofa_client **out);

/* Sets the deadline of each later call on c, in milliseconds from the start
 * of the call; 0 means no deadline. Returns 0, or -EINVAL (c is NULL). */
OFA_EXTERN int ofa_set_timeout(ofa_client *c, unsigned int ms);

/* Closes the connection: the daemon frees every block it owned that was not
 * allocated with OFA_KEEP. Also closes its arenas and unmaps their pages. */
OFA_EXTERN void ofa_disconnect(ofa_client *c);

/* Creates an arena owned by the caller's uid and primary gid. cfg may be
 * NULL for every default. Errors: -EEXIST; -EINVAL (c NULL, a bad name, or
 * a bad config: page_size not a multiple of 4096 from 4K to 1T, align not a
 * power of two from 8 to 4096, mode over 0777); -ENOMEM (the daemon's arena
 * limit, only the slots it keeps for root and ofad's user left, or no memory
 * there); -EDQUOT (the caller owns as many arenas as the daemon allows one
 * user); -EACCES (the daemon lets only a group create arenas, create_group,
 * and the caller is not in it); connection errors. */
OFA_EXTERN int ofa_arena_create(ofa_client *c, const char *name, const ofa_arena_config *cfg);

/* Opens an arena, read-write if the caller may write to it, else read-only.
 * Errors: -ENOENT, -EACCES (no read permission), -EINVAL (bad name), -EMFILE,
 * -ENOMEM, connection errors. The arena is closed by ofa_arena_close() or
 * ofa_disconnect(). */
OFA_EXTERN int ofa_arena_open(ofa_client *c, const char *name, ofa_arena **out);

/* Closes an arena handle: blocks this connection allocated in it without
 * OFA_KEEP are freed, its pages unmapped here. */
OFA_EXTERN void ofa_arena_close(ofa_arena *a);

/* Drops an arena: refused with -EBUSY while it has live blocks unless force.
 * Only the arena's owner (or root) may drop it (-EACCES). Other errors:
 * -ENOENT, -EINVAL (c NULL, a bad name), connection errors. */
OFA_EXTERN int ofa_arena_drop(ofa_client *c, const char *name, int force);

/* Allocates size bytes aligned to the arena's alignment.
 * Errors: -EINVAL (a NULL argument, size 0, or over the largest page);
 * -ENOMEM (over the arena's max_bytes or block limit or the daemon's limits,
 * or no memory for a page); -EACCES (read-only); -EMFILE (blocks per
 * connection); -EDQUOT (blocks of the caller's user, or page bytes of the
 * arenas of the arena's owner); -ENOENT (the arena was dropped since it was
 * opened); -EIO (the daemon could not make a page); connection errors. */
OFA_EXTERN int ofa_alloc(ofa_arena *a, uint64_t size, uint64_t *off);

/* As ofa_alloc, aligned to max(arena alignment, align) (0 or a power of two
 * up to 2^30) with flags OFA_KEEP, OFA_ZERO, OFA_PRIVATE and OFA_SHARED.
 * OFA_PRIVATE: only this connection (its session, once resumed) may free the
 * block, others get -EACCES; every process that opened the arena may still
 * read it, and write it if its handle may write. The library serves private
 * blocks of up to 4 KiB at the arena's alignment from a cache on this
 * handle, without a round trip. In an arena whose default is private,
 * blocks without OFA_KEEP are private unless OFA_SHARED is given.
 * Errors as ofa_alloc, and -EINVAL for another align, an unknown flag, or
 * OFA_PRIVATE with OFA_KEEP or OFA_SHARED. */
OFA_EXTERN int ofa_alloc_ex(ofa_arena *a, uint64_t size, uint64_t align, unsigned flags,
                            uint64_t *off);

/* Allocates count blocks of one size in one round trip: all or none.
 * Private blocks the cache serves (see ofa_alloc_ex) come from it, with at
 * most one round trip for what it lacks. Errors as ofa_alloc_ex, and
 * -EINVAL (count 0 or over 4096), -EMSGSIZE (count offsets would not fit
 * in one reply of this connection). */
OFA_EXTERN int ofa_alloc_many(ofa_arena *a, uint64_t size, uint64_t align, unsigned flags,
                              size_t count, uint64_t *offs);

/* Frees the block that starts at off. -EINVAL if off is not the start of a
 * live block of this arena, or a private block this connection already
 * freed (then nothing changes), or a is NULL; -EACCES (read-only, or another
 * connection's private block); -ENOENT (the arena was dropped); connection
 * errors. */
OFA_EXTERN int ofa_free(ofa_arena *a, uint64_t off);

/* Frees count blocks in one round trip (none for the cache's private
 * blocks), in order, stopping at the first that fails. Returns the number freed (count when all were), or a negative errno
 * when the request itself failed: -EINVAL (a NULL argument, count over
 * 4096), -EACCES (read-only), -ENOENT (the arena was dropped), connection
 * errors. Requests are cut to fit the daemon's message limit. */
OFA_EXTERN int ofa_free_many(ofa_arena *a, const uint64_t *offs, size_t count);

/* The address of offset off in this process, mapping its page on first use
 * (read-only pages for a read-only arena). NULL if no live page holds off or
 * the page could not be mapped. Any byte of a live block works. */
OFA_EXTERN void *ofa_ptr(ofa_arena *a, uint64_t off);

/*
 * As ofa_ptr, and keeps the mapping of the page that holds [off, off + len)
 * alive until ofa_unpin(*pin): pages the daemon released, ofa_arena_close()
 * and ofa_disconnect() then leave it mapped here. For pointers whose owner
 * outlives the arena handle (a language binding's garbage-collected views).
 * Pins of one page share one mapping and count references; each successful
 * call needs its own ofa_unpin. A pin keeps bytes addressable, not a block
 * allocated: once the block is freed they may belong to another block, and
 * once its page is released they are memory nobody else sees.
 * Errors: -EINVAL (a NULL argument, off 0, or the range leaving the page),
 * -ENOENT (no live page holds off), -ENOMEM, connection errors.
 */
OFA_EXTERN int ofa_pin(ofa_arena *a, uint64_t off, uint64_t len, ofa_mapping **pin, void **ptr);

/* Drops a pin; the last pin of a mapping that left its handle unmaps it.
 * Callable from any thread, and after the arena or the client is closed.
 * NULL is ignored. */
OFA_EXTERN void ofa_unpin(ofa_mapping *pin);

/* The arena's figures now (one round trip). Errors: -EINVAL (a NULL
 * argument); -ENOENT (the arena was dropped); -EACCES (read permission was
 * withdrawn since the open); connection errors. */
OFA_EXTERN int ofa_stats(ofa_arena *a, ofa_arena_stats *out);

/* The arena's name, and whether this handle may write (1) or only read (0). */
OFA_EXTERN const char *ofa_arena_name(const ofa_arena *a);
OFA_EXTERN int ofa_arena_writable(const ofa_arena *a);

/* Introspection, for tools such as ofactl. */

/* Growing as ofa_arena_config does (see above). */
typedef struct ofa_arena_info {
    union {
        struct {
            char name[64];
            uint32_t uid, gid, mode; /* owner, group and permission bits */
            ofa_arena_stats stats;
        };
        unsigned char ofa_room_[OFA_ROOM_ARENA_INFO];
    };
} ofa_arena_info;

typedef struct ofa_daemon_info {
    union {
        struct {
            char version[32];
            uint64_t uptime_s, clients, arenas, bytes_reserved, bytes_limit, pid;
            uint64_t state_age_s; /* since the state ofad keeps began (0: none kept) */
        };
        unsigned char ofa_room_[OFA_ROOM_DAEMON_INFO];
    };
} ofa_daemon_info;

/* One round trip. Errors: -EINVAL (c NULL), connection errors. */
OFA_EXTERN int ofa_ping(ofa_client *c);

/* The daemon's record. Errors: -EINVAL (a NULL argument), connection
 * errors. */
OFA_EXTERN int ofa_daemon_stats(ofa_client *c, ofa_daemon_info *out);

/* One arena's record by name, without opening it. Errors: -ENOENT, -EACCES
 * (no read permission), -EINVAL (a NULL argument, a bad name), connection
 * errors (-EPROTO also for a record whose name is not a valid name). */
OFA_EXTERN int ofa_arena_info_get(ofa_client *c, const char *name, ofa_arena_info *out);

/* Runs the daemon's full check of one arena's allocator invariants (every
 * chunk, size bin, neighbour link and owner list), for tests, soak runs and
 * an operator who suspects a bug. Slow on a large arena, and the daemon
 * serves nobody else meanwhile, so only root and ofad's own user may ask.
 * 0 when every invariant holds; -EIO when one is broken (the daemon logs
 * which); -ENOENT (no such arena), -EACCES (not root or ofad's user),
 * -EINVAL (a bad name), or a connection error. */
OFA_EXTERN int ofa_arena_validate(ofa_client *c, const char *name);

/* Every arena of the daemon, sorted by name, in an array the caller releases
 * with free(). Arenas the caller may not read have only name, uid, gid and
 * mode filled in (their stats are zero). Errors: -EINVAL (a NULL argument),
 * -ENOMEM, connection errors (-EPROTO also for a record whose name is not a
 * valid name); *out is NULL and *count 0 then. */
OFA_EXTERN int ofa_arena_list(ofa_client *c, ofa_arena_info **out, size_t *count);

/* The socket path ofa_connect(socket_path, ...) uses: socket_path unless NULL
 * or empty, else $OFAD_SOCKET unless unset or empty, else OFA_DEFAULT_SOCKET.
 * The result points into the argument, the environment or a constant. */
OFA_EXTERN const char *ofa_socket_path(const char *socket_path);

/* The daemon's name and version as it introduced itself ("ofad 0.1.0"). */
OFA_EXTERN const char *ofa_server_version(const ofa_client *c);

/* Unmaps the pages of a that the daemon no longer holds. ofa_ptr() does this
 * by itself before mapping a new page, and for pages in which this process
 * freed blocks; a page emptied by other processes stays mapped here (its
 * bytes addressable, never a fault) until then or until this call.
 * Returns the number of pages unmapped; -EINVAL (a NULL), -ENOMEM,
 * -ENOENT (the arena was dropped), or a connection error. */
OFA_EXTERN int ofa_arena_trim(ofa_arena *a);

/* Named blocks. A name is 1 to 255 bytes of [A-Za-z0-9._:/-], bound to
 * one live OFA_KEEP block of an arena (a block may carry several names).
 * Freeing the block unbinds its names; dropping the arena drops them. A
 * name is visible to lookups as soon as it is bound: for data that must be
 * complete first, allocate with OFA_KEEP, fill the block, then bind it. */

/*
 * Finds or allocates: if name is bound, stores its block's offset in *off
 * and returns 0 (whatever the block's size: ofa_block_size() tells it);
 * else allocates a kept block of size bytes, binds name to it and returns
 * 1. Atomic with respect to every other client. flags: OFA_EXCL (then a
 * bound name is -EEXIST instead of 0), OFA_KEEP (implied). Errors: -EINVAL
 * (bad name, size or flags), -EEXIST, -EACCES (read-only handle), -ENOMEM
 * (as ofa_alloc, or the arena's limit of names), -EDQUOT (as ofa_alloc, or
 * the caller's user has as many names bound as the daemon allows one user;
 * no block is made then), connection errors.
 */
OFA_EXTERN int ofa_alloc_named(ofa_arena *a, const char *name, uint64_t size, unsigned flags,
                               uint64_t *off);

/* Binds name to the live OFA_KEEP block at off. Errors: -EINVAL (bad name,
 * or off is not the start of a live kept block), -EEXIST (name is bound),
 * -EACCES (read-only handle), -ENOMEM (the arena's limit of names),
 * -EDQUOT (the caller's user has as many names bound, over all arenas, as
 * the daemon allows one user), connection errors. */
OFA_EXTERN int ofa_name_bind(ofa_arena *a, const char *name, uint64_t off);

/* Unbinds name (the block stays). Errors: -ENOENT (not bound), -EINVAL,
 * -EACCES (read-only handle), connection errors. */
OFA_EXTERN int ofa_name_unbind(ofa_arena *a, const char *name);

/* The block bound to name: offset and size (either pointer may be NULL).
 * Errors: -ENOENT (not bound), -EINVAL, connection errors. */
OFA_EXTERN int ofa_lookup(ofa_arena *a, const char *name, uint64_t *off, uint64_t *size);

/*
 * As ofa_lookup, but waits until name is bound, up to timeout_ms
 * milliseconds (< 0: no limit; 0: only looks). The daemon wakes the wait
 * when a bind happens (no polling); the wait travels on a connection of its
 * own, so this client's other calls are not held up by it, and its deadline
 * is timeout_ms, not the client's (ofa_set_timeout). Errors: -ETIMEDOUT
 * (not bound in time), -ENOENT (the arena was dropped), -EACCES, -EINVAL,
 * connection errors (of either connection).
 */
OFA_EXTERN int ofa_lookup_wait(ofa_arena *a, const char *name, int timeout_ms, uint64_t *off,
                               uint64_t *size);

/* The size of the live block that starts at off (as rounded by the arena).
 * Errors: -EINVAL (not the start of a live block), connection errors. */
OFA_EXTERN int ofa_block_size(ofa_arena *a, uint64_t off, uint64_t *size);

typedef struct ofa_name_info {
    union {
        struct {
            char name[256]; /* NUL-terminated */
            uint64_t off, size;
            uint32_t uid; /* who bound it */
            int32_t pid;  /* its process then, 0 if not known */
        };
        unsigned char ofa_room_[OFA_ROOM_NAME_INFO];
    };
} ofa_name_info;

/* Every name of an arena, sorted, in an array the caller releases with
 * free(); *waiting (if not NULL): lookups waiting in that arena now. Needs
 * read permission. Errors: -ENOENT, -EACCES, -EINVAL, -EMSGSIZE (too many
 * names for one reply), connection errors. */
OFA_EXTERN int ofa_name_list(ofa_client *c, const char *arena, ofa_name_info **out,
                             size_t *count, uint64_t *waiting);

/* Wake-ups: a futex on a 32-bit word inside a block, shared by every
 * process that mapped the block's page. No round trip to the daemon (but
 * the first use of a page maps it, as ofa_ptr does). */

/*
 * Sleeps while the 32-bit word at off holds expected, until ofa_wake() on
 * the same word (from any process) or timeout_ms milliseconds (< 0: no
 * limit; 0: only compares). Returns 0 when woken: like any futex wait it may
 * also return 0 spuriously, so callers re-read the word and wait again if
 * it did not change. Errors: -EAGAIN (the word did not hold expected),
 * -ETIMEDOUT (it still held it when the time was up; for timeout 0, it
 * holds it now), -EINVAL (off not 4-byte aligned, 0, or not inside a live
 * page of this arena that this process can map), connection errors (the
 * page had to be asked for). Works on read-only arenas too.
 */
OFA_EXTERN int ofa_wait(ofa_arena *a, uint64_t off, uint32_t expected, int timeout_ms);

/*
 * Wakes at most count (>= 0; INT_MAX for all) processes waiting in
 * ofa_wait() on the word at off. Returns how many were woken (0 when
 * nobody waits), or -EINVAL (as ofa_wait, or count < 0), connection
 * errors. Change the word before waking, or the woken may sleep again.
 */
OFA_EXTERN int ofa_wake(ofa_arena *a, uint64_t off, int count);

/*
 * ofa_wait() and ofa_wake() on the word at addr, an address of this process
 * inside a page it holds mapped: from ofa_pin() while pinned (or ofa_ptr()
 * while its block is live). They use no arena handle and no connection, so
 * any thread may call them while another uses the connection, and after
 * the arena is closed (a pinned word). Returns as ofa_wait() and ofa_wake();
 * -EINVAL for addr NULL or not 4-byte aligned (or count < 0).
 */
OFA_EXTERN int ofa_wait_addr(const void *addr, uint32_t expected, int timeout_ms);
OFA_EXTERN int ofa_wake_addr(const void *addr, int count);

/* Who is connected (ofactl clients, top). */

typedef struct ofa_client_arena {
    char name[64];          /* an arena the connection has open */
    uint64_t blocks, bytes; /* live blocks it owns there (not OFA_KEEP ones), their bytes */
} ofa_client_arena;

#define OFA_ROOM_CLIENT_INFO 256
#define OFA_ROOM_BLOCK_INFO  64

typedef struct ofa_client_info {
    union {
        struct {
            uint64_t id;            /* the daemon's number for the connection, from 1 */
            uint32_t pid, uid, gid; /* the peer, as the kernel said at connect */
            char comm[32];          /* its command name then ("" if ofad could not read it) */
            uint64_t since_s;       /* Unix time it connected */
            uint64_t requests;      /* requests served on it */
            size_t narenas;         /* arenas open, in arenas[] */
            ofa_client_arena *arenas;
        };
        unsigned char ofa_room_[OFA_ROOM_CLIENT_INFO];
    };
} ofa_client_info;

/*
 * Every connection to the daemon this caller may see (root and ofad's own
 * user: all; others: their own uid's), in connection order, in one array the
 * caller releases with free() (the arenas arrays live in the same
 * allocation). Takes as many round trips as the list needs pages.
 * Errors: -ENOMEM, -EINVAL (c, out or count NULL), connection errors.
 */
OFA_EXTERN int ofa_client_list(ofa_client *c, ofa_client_info **out, size_t *count);

/* What an arena holds, block by block (ofactl blocks, map). */

#define OFA_BLOCK_LIVE 0u /* a live block owned by a connection (pid, client set) */
#define OFA_BLOCK_KEPT 1u /* a live block the arena keeps (OFA_KEEP) */
#define OFA_BLOCK_FREE 2u /* a free chunk (listed with OFA_BLOCKS_FREE) */
#define OFA_BLOCK_PAGE 3u /* a page: off is its base, size its length; its chunks follow */

#define OFA_BLOCKS_FREE 1u /* ofa_block_list flag: free chunks too */

typedef struct ofa_block_info {
    union {
        struct {
            uint64_t off, size;
            uint32_t kind;   /* OFA_BLOCK_* */
            uint32_t pid;    /* OFA_BLOCK_LIVE: the owner's pid */
            uint64_t client; /* OFA_BLOCK_LIVE: the owner's connection (ofa_client_info.id) */
        };
        unsigned char ofa_room_[OFA_ROOM_BLOCK_INFO];
    };
} ofa_block_info;

/*
 * One part of the listing of arena's pages and blocks, in address order:
 * the entries at offsets >= *cursor (start with 0). On return *cursor is
 * where the next part starts, 0 when this was the last; *out (released with
 * free()) holds *count entries. A long listing takes several calls; what
 * changes between two calls shows from the cursor on. Needs read
 * permission. Errors: -ENOENT, -EACCES, -EINVAL (bad name or flags, NULL
 * arguments), -ENOMEM, connection errors.
 */
OFA_EXTERN int ofa_block_list(ofa_client *c, const char *arena, unsigned flags, uint64_t *cursor,
                              ofa_block_info **out, size_t *count);

/* 1 if name is a valid arena name (1 to OFA_NAME_MAX bytes of A-Z a-z 0-9
 * . _ -), else 0. */
OFA_EXTERN int ofa_arena_name_valid(const char *name);

/* Parses a size: decimal digits, optionally followed by K, M, G or T
 * (powers of 1024; "KiB", "KB" and a trailing "B" are accepted too), as
 * ofad's flags and config file take them: "4096", "64K", "16M", "1G".
 * Returns 0 and *out; -EINVAL for anything else (empty, a sign, blanks,
 * junk after the number, a value over 2^64 - 1). */
OFA_EXTERN int ofa_parse_size(const char *s, uint64_t *out);

/* Checks cfg as ofad will: page_size 0 or a multiple of 4096 in
 * [OFA_PAGE_SIZE_MIN, OFA_PAGE_SIZE_MAX]; max_bytes at most
 * OFA_MAX_BYTES_MAX; align 0 or a power of two in [OFA_ALIGN_MIN,
 * OFA_ALIGN_MAX]; mode at most 0777. Returns 0 or -EINVAL (ofa_errmsg()
 * names the field). ofa_arena_create() calls it before sending anything. */
OFA_EXTERN int ofa_arena_config_check(const ofa_arena_config *cfg);

/* The version of the library running, as OFA_VERSION_HEX is the version of
 * the header a program was built with: a program that needs a newer
 * library's fields or calls checks ofa_version() >= the version that added
 * them. ofa_version_string() is "MAJOR.MINOR.PATCH". */
OFA_EXTERN unsigned int ofa_version(void);
OFA_EXTERN const char *ofa_version_string(void);

/* A sentence for an error returned by this library ("no such arena"). */
OFA_EXTERN const char *ofa_strerror(int err);
/* The error's symbolic name ("ENOENT"). */
OFA_EXTERN const char *ofa_err_name(int err);

/*
 * A detailed message about the last call of this library that failed in the
 * calling thread, as dlerror() and sqlite3_errmsg() give: it names what the
 * error is about and, for connection failures, what to do
 * ("no ofad listening at /run/ofad/ofad.sock: is it running? set OFAD_SOCKET",
 * "arena frames: no such arena", "arena frames: offset 4160: invalid argument,
 * or not the start of a live block"). Calls that succeed leave it as it was.
 * The string belongs to the thread and stays valid until its next failing
 * call; "no error" before any failure. Never NULL.
 */
OFA_EXTERN const char *ofa_errmsg(void);

#ifdef __cplusplus
}
#endif

#endif

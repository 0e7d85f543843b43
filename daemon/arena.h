/*
 * arena.h - the arenas of one ofad: registry, permissions, limits, pages.
 *
 * An arena is one heap (the allocator core) plus what the core leaves to its
 * caller: a name, an owner/group/mode, the byte limit, and the sealed memfd
 * behind every page (shm.h). The registry holds every arena of the daemon,
 * the daemon-wide limits (arena count, total bytes, pages) and the
 * daemon-wide offset counter: page bases of all arenas come from one space
 * that never goes back, so an offset names at most one block, ever.
 *
 * Sessions refer to an arena by (slot, generation): a dropped arena's slot
 * gets a new generation, so a handle that outlived its arena finds nothing
 * (reg_get returns NULL) instead of a newer arena in the same slot.
 */
#ifndef OFAD_ARENA_H
#define OFAD_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ctl.h"
#include "heap.h"
#include "pagemap.h"
#include "names.h"
#include "shm.h"

#define ARENA_NAME_MAX 63u   /* 1..63 bytes of [A-Za-z0-9._-] */
#define REG_MAX_ARENAS 4096u /* arenas of one daemon */

#define ACC_R 4u /* open read-only, stats, read-only pages */
#define ACC_W 2u /* read-write open, alloc, free, read-write pages */

/* Who is asking: from SO_PEERCRED and SO_PEERGROUPS, never from the client. */
struct cred {
    uint32_t uid, gid;
    int32_t pid;
    uint32_t ngroups;
    uint32_t *groups; /* supplementary groups, ngroups of them */
};

struct arena_params {
    const char *name;
    uint64_t page_size, max_bytes;
    uint32_t align, mode, uid, gid;
    bool private_default; /* ALLOC without KEEP or SHARED makes private blocks */
    uint64_t cache_max;   /* bytes one handle's client cache may hold (0: none) */
};


struct arena {
    char name[ARENA_NAME_MAX + 1];
    uint32_t name_len;
    uint32_t slot, gen;
    uint32_t uid, gid, mode;
    uint64_t page_size, max_bytes;
    uint32_t align;
    struct heap *heap;
    struct registry *reg;
    uint64_t failures;    /* alloc failures the heap did not see (limits, memory) */
    uint64_t making;      /* bytes of pages reserved, not yet added (arena_page_reserve) */
    uint64_t blocks;      /* live blocks, kept or not */
    uint64_t reserved;    /* bytes of its pages, held or being made */
    struct pagemap pages; /* base -> memfd (pagemap.c) */
    struct names names; /* names bound to its kept blocks; lookups waiting */

    /* Private blocks. A private block is owned by a private owner: a heap
     * owner id whose entry in opriv is 1 (0 for ordinary owners), one per
     * handle that made private blocks. npriv counts private owners, so that
     * frees in an arena without any skip the owner lookup. */
    bool private_default;
    uint64_t cache_max;
    uint8_t *opriv;
    uint32_t opriv_cap, npriv;
    uint64_t blocks_cached, bytes_cached; /* what client caches said they hold */
    struct ctl *ctl;                      /* control page, made for the first cache; NULL before */
};

struct registry {
    struct arena *slots[REG_MAX_ARENAS];
    uint32_t gens[REG_MAX_ARENAS];
    uint32_t count;          /* arenas in slots */
    uint32_t max_arenas;     /* <= REG_MAX_ARENAS */
    uint64_t max_total;      /* bytes of pages, all arenas together */
    uint64_t total_reserved; /* bytes of pages held or being made now */
    uint64_t max_pages;      /* pages (one memfd each), all arenas together */
    uint64_t pages;          /* pages held or being made now */
    uint64_t next_base;      /* every page base so far is below it; only grows */
    /* What one local user can make ofad hold. Arenas of root and of
     * daemon_uid (ofad's own user) are exempt from the per-uid bounds and
     * may use the reserves. */
    uint32_t daemon_uid;
    uint64_t blocks_live;          /* live blocks, all arenas */
    uint64_t max_blocks;           /* daemon-wide: the metadata budget */
    uint64_t max_blocks_per_arena; /* one arena's live blocks, kept or not */
    uint64_t max_bytes_per_uid;    /* page bytes of the arenas one uid owns */
    uint64_t reserved_total;       /* of max_total, only for exempt arenas */
    uint64_t user_reserved;        /* page bytes of the arenas not exempt */
    /* Names bound per binding uid, all arenas (names.c); bounded by
     * max_names_per_uid except for root and daemon_uid. Kept here, not per
     * connection: names outlive the connections that bound them. */
    struct names_uids names_uids;
    uint32_t max_names_per_uid;
    /* Asked at reload before an arena takes a new owner, group or mode:
     * the uid of a holder of an open handle on a that would lose access it
     * has, or -1 (session.c answers; NULL: no handle anywhere). */
    int64_t (*access_lost)(void *ctx, const struct arena *a, uint32_t uid, uint32_t gid,
                           uint32_t mode);
    void *access_lost_ctx;
    uint64_t changes;        /* bumped when arenas or bytes change (status line) */
    /* The state kept across restarts (restore.c), when ofad has a state
     * directory: every change is recorded in jn (state.h); a page's
     * descriptor is kept by page_keep under its key when made (on a worker
     * thread) and forgotten through page_forget once its release is
     * recorded. keep: ofad is stopping with its state kept, so pages are
     * closed, never punched. */
    struct journal *jn;
    int (*page_keep)(void *ctx, uint64_t key, int fd);
    void (*page_forget)(void *ctx, uint64_t key);
    void *page_ctx;
    uint64_t next_key; /* the last page key given */
    bool keep;
};

void reg_init(struct registry *r, uint32_t max_arenas, uint64_t max_total, uint64_t max_pages);

/* The daemon-wide offset counter: every page base ever handed out is below
 * it, and the next page's base will be at or above it. */
static inline uint64_t reg_next_base(const struct registry *r)
{
    return r->next_base;
}

/* Restores the counter (e.g. from a saved state); it never goes back, so a
 * value below the current one changes nothing. */
static inline void reg_set_next_base(struct registry *r, uint64_t v)
{
    if (v > r->next_base)
        r->next_base = v;
}

/* Drops every arena, releasing every page. */
void reg_fini(struct registry *r);

/* The arena in slot with generation gen, or NULL (dropped, never existed). */
static inline struct arena *reg_get(const struct registry *r, uint32_t slot, uint32_t gen)
{
    struct arena *a = slot < REG_MAX_ARENAS ? r->slots[slot] : NULL;

    return a != NULL && a->gen == gen ? a : NULL;
}

struct arena *reg_find(const struct registry *r, const char *name, size_t len);

/* Checks params as a CREATE request: name, page_size (heap_page_size_valid),
 * align (heap_align_valid), mode (permission bits only). Returns 0 or
 * -EINVAL. */
int arena_params_check(const struct arena_params *p);

/*
 * Creates an arena. Returns 0 and *out; -EINVAL (arena_params_check), -EEXIST,
 * -ENOMEM (max_arenas reached, or no memory).
 */
int reg_create(struct registry *r, const struct arena_params *p, struct arena **out);

/*
 * Makes the registry what config c says (the daemon's limits, the arenas
 * it names). At start (prev NULL) every configured arena is created, and the
 * first that cannot be is an error: -errno, with a sentence in err. At a
 * reload (prev: the config in force until now) it does what it can and
 * logs the rest, returning 0: limits apply at once (pages already held
 * stay), new arenas are created, existing ones take the new max_bytes, and
 * the new owner, group and mode unless a handle would lose access it has
 * (access_lost) or the owner changes under held pages: then they keep
 * theirs, logged (a page size or alignment cannot change under live
 * pages: refused for that field, logged), and arenas that left the config
 * stay until dropped.
 */
int reg_apply(struct registry *r, const struct cfg *c, const struct cfg *prev, char *err,
              size_t errlen);

/* The "arena created" log line, at priority prio, ending with source
 * ("source=config", "client=7 pid=1234"). */
void arena_log_created(const struct arena *a, int prio, const char *source);

/*
 * Drops a: with live blocks, -EBUSY unless force; with force every block is
 * freed. Every page is removed and a is freed. Returns 0 or -EBUSY.
 */
int reg_drop(struct registry *r, struct arena *a, bool force);

/* Fills v (room for REG_MAX_ARENAS) with the arenas sorted by name;
 * returns their count. */
uint32_t reg_sorted(const struct registry *r, struct arena **v);

/* True when a belongs to root or ofad's own user: exempt from the per-uid
 * bounds, entitled to the reserves. */
static inline bool arena_exempt(const struct arena *a)
{
    return a->uid == 0 || a->uid == a->reg->daemon_uid;
}

/* Arenas uid owns, and the page bytes they hold. O(arenas). */
uint32_t reg_owned(const struct registry *r, uint32_t uid, uint64_t *bytes);

/* Kept (OFA_KEEP) blocks of the arenas uid owns. O(arenas). */
uint64_t reg_owned_kept(const struct registry *r, uint32_t uid);

/* ACC_R / ACC_W bits the caller has on a, like a file's mode: uid 0 all,
 * the owner the owner bits, a member of the group the group bits, the
 * rest the other bits. */
unsigned arena_access(const struct arena *a, const struct cred *c);

/*
 * Allocates a block for owner (HEAP_OWNER_ARENA: the arena keeps it) in the
 * pages a holds; never makes a page (that blocks: see below). Returns 0 and
 * *off; -EAGAIN and *need when no held page can serve it: make a page of
 * *need bytes (arena_page_reserve, shm_page_create, arena_page_add) and ask
 * again, which then succeeds; -EINVAL (size 0, over HEAP_MAX_PAGE, a bad
 * align, unknown owner); -ENOMEM (the arena's max_blocks_per_arena or the
 * daemon's block budget is reached, or no memory for metadata).
 */
int arena_alloc(struct arena *a, uint64_t size, uint64_t align, uint32_t owner, uint64_t *off,
                uint64_t *need);

/* Frees the block that starts at off, unbinding its names. Returns 0 or
 * -EINVAL (nothing changed). */
int arena_free(struct arena *a, uint64_t off);

/*
 * With a state kept, arena_alloc records nothing: the caller records the
 * blocks of a request once it succeeds, all of them in one record
 * (arena_note_alloc), so that a request that fails, or waits for a page
 * when ofad dies, leaves no trace of its blocks; and gives back the blocks
 * of a request that failed with arena_unalloc, which records nothing
 * either. size as asked (rounded here as the heap rounds it).
 */
void arena_note_alloc(struct arena *a, uint32_t owner, uint64_t size, const uint64_t *offs,
                      uint32_t n);
int arena_unalloc(struct arena *a, uint64_t off);

/* The same for frees, in bulk: the caller frees a request's blocks with
 * arena_unalloc and records those freed with one call, before the commit
 * (a free of many costs a copy rather than a record each). */
void arena_note_frees(struct arena *a, const uint64_t *offs, uint32_t n);

/* Size of the live block that starts at off, or 0 if there is none. */
static inline uint64_t arena_block_size(const struct arena *a, uint64_t off)
{
    return heap_block_size(a->heap, off);
}

/*
 * Binds name (checked by the caller) to the live kept (HEAP_OWNER_ARENA)
 * block at off for uid/pid, counts it against uid, and wakes the lookups
 * waiting for it. Every bind, whatever its source, comes here, so every
 * name counts against its binding uid. Returns 0; -EINVAL (off is not the
 * start of a live kept block); -EEXIST (the name is bound); -EDQUOT (uid,
 * neither root nor ofad's user, has max_names_per_uid names bound over
 * all arenas); -ENOMEM (max names in the arena, or no memory). On error
 * nothing changes.
 */
int arena_name_bind(struct arena *a, const char *name, size_t len, uint64_t off, uint32_t uid,
                    int32_t pid, uint32_t max);

/* Whether uid may bind one more name in a now: 0; -EDQUOT, -ENOMEM as
 * arena_name_bind. O(1). For a request that makes a block only to name it,
 * so that it is refused before anything is made. */
int arena_name_room(const struct arena *a, uint32_t uid, uint32_t max);

/* 1 and *owner when off starts a live private block; else 0. O(1), and
 * no lookup at all while the arena has no private owner. */
int arena_private_owner(const struct arena *a, uint64_t off, uint32_t *owner);

/* Owners: one per session handle, and one more for its private blocks
 * (which only the session holding that handle may free: session.c checks).
 * Each returns 0 or -ENOMEM. */
int arena_owner_new(struct arena *a, uint32_t *owner);
int arena_owner_new_private(struct arena *a, uint32_t *owner);
void arena_owner_release(struct arena *a, uint32_t owner);

/* The arena's control page, made on first use. 0, or the errors of
 * ctl_create. */
int arena_ctl(struct arena *a, struct ctl **out);
static inline uint64_t arena_owner_blocks(const struct arena *a, uint32_t owner)
{
    return heap_owner_blocks(a->heap, owner);
}

/*
 * A descriptor of the page that holds off, for a client: a copy of the
 * read-write memfd if writable, else a read-only reopening of it. Returns
 * the fd (the caller passes and closes it) with *base, *len; -ENOENT (no page
 * holds off); -EMFILE (ofad is out of descriptors); -EIO (another failure).
 */
int arena_page_open(struct arena *a, uint64_t off, bool writable, uint64_t *base, uint64_t *len);

/* ---- making pages (arena_alloc says when) ---- */

/*
 * Checks the limits for a page of len bytes (max_bytes of a, max_total and
 * max_pages of the daemon) and counts it as held from now on, so that pages
 * being made are within the limits too. Returns 0; -ENOMEM (a limit, or no
 * memory for the page map). Every reservation ends in arena_page_add or
 * arena_page_unreserve (or reg_page_unreserve, if a went away meanwhile).
 */
int arena_page_reserve(struct arena *a, uint64_t len);
void arena_page_unreserve(struct arena *a, uint64_t len);
void reg_page_unreserve(struct registry *r, uint64_t len);

/*
 * Adds the reserved page of len bytes whose memory is fd (shm_page_create),
 * kept in the fd store under key (0: not kept):
 * it takes the next base of the daemon-wide space and a owns fd from now on.
 * Returns 0 and *base (may be NULL); -ENOMEM, -EIO (the heap refused it: fd
 * is released and the reservation ended).
 */
int arena_page_add(struct arena *a, uint64_t len, int fd, uint64_t key, uint64_t *base);

/*
 * Puts back a page that already exists (e.g. kept across a restart): fd must
 * be a page of len bytes (shm_page_check) and base where it was, a multiple
 * of len's natural alignment at or above reg_next_base(); pages go back in
 * increasing base order. a owns fd on success. Returns 0; -EINVAL (fd is not
 * such a page, or base is not free); -ENOMEM (a limit, or no memory).
 */
int arena_page_adopt(struct arena *a, uint64_t base, uint64_t len, int fd, uint64_t key);

/* Makes the size bytes at off (size rounded as the heap rounds it) a live
 * block of owner again (a saved state's: see heap_claim). 0; -EINVAL (not
 * free, a bad argument); -ENOMEM. */
int arena_claim(struct arena *a, uint64_t off, uint64_t size, uint32_t owner);

/* Room for blocks more blocks at once (heap_reserve). 0 or -ENOMEM. */
static inline int arena_reserve(struct arena *a, uint64_t blocks)
{
    return heap_reserve(a->heap, blocks);
}

/* Unbinds name. 0 or -ENOENT. */
int arena_name_unbind(struct arena *a, const char *name, size_t len);

/* Records a's settings in the state (after a change), if one is kept;
 * arena_note_to writes the same record to jn (a snapshot): 0 or the error
 * that failed jn. */
void arena_note(struct arena *a);
int arena_note_to(const struct arena *a, struct journal *jn);
/* The record of name bound to the block at off by uid/pid, to jn (the
 * journal at a bind, or a snapshot): 0 or the error that failed jn. */
int arena_note_name_to(const struct arena *a, struct journal *jn, const char *name, size_t len,
                       uint64_t off, uint32_t uid, int32_t pid);

/* The read-write memfd of the page at base (owned by a: not to be closed),
 * or -ENOENT. */
int arena_page_fd(const struct arena *a, uint64_t base);

/* Writes up to max page bases into bases, in order. Returns how many pages
 * the arena holds (which may be more than max). */
uint64_t arena_pages(const struct arena *a, uint64_t *bases, uint32_t max);

#endif

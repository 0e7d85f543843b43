/*
 * names.h - one arena's directory of names: name -> block offset, and the
 * requests waiting for a name to be bound; and the count of names each uid
 * has bound, shared by every directory of a daemon.
 *
 * Plain data structure: no I/O, no clock, no knowledge of sessions or of
 * the heap. The caller (arena.c) checks that an offset is a live block
 * before binding it, calls names_unbind_off() when it frees one, and
 * decides which uids are bounded (the per-uid bound given to names_bind).
 */
#ifndef OFAD_NAMES_H
#define OFAD_NAMES_H

#include <stddef.h>
#include <stdint.h>

#define NAMES_NAME_MAX 255u /* bytes of a name */

/* One bound name. */
struct name_ent {
    struct name_ent *next_name; /* chain of its bucket in by_name */
    struct name_ent *next_off;  /* chain of its bucket in by_off */
    uint64_t hash;              /* of the name */
    uint64_t off;               /* the block */
    uint32_t uid;               /* who bound it */
    int32_t pid;                /* 0 when not known (rebuilt state) */
    uint32_t len;
    char name[]; /* len bytes, then a NUL */
};

/*
 * A request waiting for a name. The waiter embeds it, sets name, len and
 * fire, and adds it with names_wait_add(). When the name gets bound, or
 * when the directory goes away, the waiter is taken off the list and fire
 * is called once: with err 0 and the entry, or with -ENOENT (the arena is
 * dropped) and e NULL. fire must not change the directory (it may queue a
 * reply and schedule work).
 */
struct name_waiter {
    struct name_waiter *prev, *next;
    const char *name;
    uint32_t len;
    void (*fire)(struct name_waiter *w, const struct name_ent *e, int err);
};

/* One uid with names bound. */
struct names_uid {
    uint32_t uid;
    uint32_t count; /* names it has bound, all directories; 0: a free slot */
};

/*
 * How many names each uid has bound, over every directory that shares the
 * table (all arenas of a daemon). A uid has an entry exactly while it has a
 * name bound, whether or not it is connected.
 */
struct names_uids {
    struct names_uid *slots; /* cap of them (a power of two), open addressing */
    uint32_t cap;            /* 0 until the first bind */
    uint32_t used;           /* uids with names bound */
};

struct names {
    struct name_ent **by_name; /* buckets, cap of them (a power of two) */
    struct name_ent **by_off;
    uint32_t cap;   /* 0 until the first bind */
    uint32_t count; /* names bound */
    struct name_waiter *waiters;
    uint32_t nwaiters;
    struct names_uids *uids; /* the daemon's per-uid counts */
};

/* An empty table (allocates nothing). */
void names_uids_init(struct names_uids *t);

/* Frees the table. pre: every directory sharing it is gone (it is empty). */
void names_uids_fini(struct names_uids *t);

/* Names uid has bound now, over every directory sharing t. O(1) expected. */
uint32_t names_uid_count(const struct names_uids *t, uint32_t uid);

/* An empty directory (allocates nothing) whose binds count in uids. */
void names_init(struct names *n, struct names_uids *uids);

/* Frees every entry (counted off their uids); every waiter is fired with
 * -ENOENT first. */
void names_fini(struct names *n);

/* The entry of name, or NULL. O(1) expected. */
const struct name_ent *names_find(const struct names *n, const char *name, size_t len);

/*
 * Binds name (1..NAMES_NAME_MAX bytes, checked by the caller) to off for
 * uid/pid, counts it for uid, then fires every waiter for that name.
 * Returns 0; -EEXIST (the name is bound, to whatever block); -EDQUOT (uid
 * has max_uid names bound already, over all directories); -ENOMEM (the
 * directory holds max names already, or no memory). On error nothing
 * changes. This is also how a directory is rebuilt from saved state.
 */
int names_bind(struct names *n, const char *name, size_t len, uint64_t off, uint32_t uid,
               int32_t pid, uint32_t max, uint32_t max_uid);

/* Removes name (counted off its uid). Returns 0 or -ENOENT. */
int names_unbind(struct names *n, const char *name, size_t len);

/* Removes every name bound to off (the block is gone), each counted off
 * its uid. Returns how many. */
uint32_t names_unbind_off(struct names *n, uint64_t off);

/*
 * Calls fn for every entry, in no particular order, until fn returns
 * non-zero (which is then returned). fn must not change the directory.
 */
typedef int names_each_fn(void *ctx, const struct name_ent *e);
int names_each(const struct names *n, names_each_fn *fn, void *ctx);

void names_wait_add(struct names *n, struct name_waiter *w);
void names_wait_remove(struct names *n, struct name_waiter *w);

#endif

/*
 * restore.c - the state kept across restarts: what a new ofad reads back,
 * and the snapshot that starts each generation of the state file.
 *
 * Owns: the image (the state as the records describe it, before it is put
 * back), the order in which it is put back, and the snapshot writer. Called
 * by server.c at start (restore_load, then restore_snapshot), when the
 * journal has grown (restore_snapshot), and at a stop that keeps the state.
 * Calls journal.c (read and write), arena.c (arenas, pages, blocks, names),
 * resume.c (sessions) and the heap's walk.
 *
 * Design
 * ------
 * What outlives ofad: the pages' memory, kept by the fd store (systemd's, or
 * the keeper: see fdstore.c) under a key each, and the state file, a
 * snapshot followed by a journal of changes (journal.c), in the state
 * directory. The file says which pages exist, at which base, under which
 * key; which blocks are live, of which size, for which owner; which names
 * are bound; which sessions exist, with their handles and their last reply.
 *
 * Reading builds an image first, not the registry: records are applied in
 * order to tables keyed by offset (blocks, pages), by (arena, owner)
 * (releases) and by session id, and a record that makes no sense (an arena
 * slot out of range, a name too long) is damage. Each entry carries the
 * sequence number of the record that made it, so that what a later record
 * undid in bulk (an owner released, an arena dropped) is filtered at the end
 * without per-owner lists: a block lives if it was not freed, its arena
 * was made before it and not dropped since, and its owner was not released
 * after it. A name lives if its block does and was allocated before it was
 * bound.
 *
 * Only then is anything put back, in an order the registry accepts: arenas;
 * pages in increasing base order (the daemon-wide offset space only grows),
 * each with the descriptor the store handed back under its key; the
 * sessions' owners (new heap owner ids, mapped from the old ones); blocks
 * in increasing offset order (heap_claim, O(1) each in that order); names;
 * counters; sessions, detached, each checked against its process (pidfd and
 * start time: a session of a process that died while ofad was down ends at
 * once, its blocks freed). Limits are lifted while pages go back (a reload
 * may have lowered them under pages held, which stay) and set by reg_apply
 * afterwards.
 *
 * Stale or damaged: if the file names pages and not one of their
 * descriptors came back, the store was emptied (systemd empties it at a
 * full stop; a reboot empties everything): the state is stale, and the
 * caller starts empty. If some came back and others did not, something
 * else happened (someone removed them from the store): the state is
 * refused like a damaged one, and nothing is changed or removed, so an
 * operator can look (ofad exits 1; --discard-state starts afresh).
 *
 * The snapshot walks the registry and the sessions and writes them as the
 * same records, into a new file that replaces the old one by rename once
 * whole. ofad writes one after every start (the journal then holds the new
 * daemon's owner ids), when the journal has grown to several times the last
 * snapshot, and at a stop that keeps the state.
 */
#include "restore.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "log.h"
#include "resume.h"
#include "session.h"
#include "state.h"

/* ---- a map from 64-bit keys (never 0) to 32-bit values ---- */

struct imap {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap, n; /* cap a power of two, n <= cap / 2 */
};

static inline size_t imap_home(uint64_t k, size_t cap)
{
    return (size_t)((k * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static int imap_grow(struct imap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *k = calloc(cap, sizeof(*k));
    uint32_t *v = malloc(cap * sizeof(*v));

    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        size_t j;

        if (m->keys[i] == 0)
            continue;
        for (j = imap_home(m->keys[i], cap); k[j] != 0; j = (j + 1) & (cap - 1))
            ;
        k[j] = m->keys[i];
        v[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = cap;
    return 0;
}

/* The slot of key k: its own if present, else the empty one it would take. */
static size_t imap_slot(const struct imap *m, uint64_t k)
{
    size_t i;

    for (i = imap_home(k, m->cap); m->keys[i] != 0 && m->keys[i] != k; i = (i + 1) & (m->cap - 1))
        ;
    return i;
}

static int imap_put(struct imap *m, uint64_t k, uint32_t v)
{
    size_t i;

    if ((m->n + 1) * 2 > m->cap && imap_grow(m) < 0)
        return -ENOMEM;
    i = imap_slot(m, k);
    if (m->keys[i] == 0) {
        m->keys[i] = k;
        m->n++;
    }
    m->vals[i] = v;
    return 0;
}

/* 1 and *v if k is in m, else 0. */
static int imap_get(const struct imap *m, uint64_t k, uint32_t *v)
{
    size_t i;

    if (m->cap == 0)
        return 0;
    i = imap_slot(m, k);
    if (m->keys[i] == 0)
        return 0;
    *v = m->vals[i];
    return 1;
}

static void imap_free(struct imap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

/* ---- the image ---- */

struct img_arena {
    bool live;
    uint64_t made; /* seq of the record that made it live */
    struct st_arena rec;
    struct st_counts counts; /* absolute at the last snapshot ... */
    uint64_t allocs_since;   /* ... plus the blocks allocated since */
    uint64_t nlive;          /* its blocks that live, once decided */
    struct arena *a;         /* once put back */
};

struct img_block {
    uint64_t off, size, seq;
    uint32_t slot, owner;
    bool dead;
};

struct img_page {
    uint64_t base, len, key, seq;
    uint32_t slot;
    bool dead;
};

struct img_name {
    uint64_t off, seq;
    uint32_t slot, uid, len;
    int32_t pid;
    bool dead;
    char name[NAMES_NAME_MAX + 1];
};

struct img_session {
    struct st_session rec;
    struct st_handle *handles; /* rec.nhandles */
    uint64_t last_id;
    uint32_t last_op;
    uint8_t *last;
    size_t last_len;
    bool dead;
};

struct image {
    uint64_t seq; /* of the record being applied */
    struct st_daemon daemon;
    struct img_arena arenas[REG_MAX_ARENAS];
    struct img_block *blocks;
    size_t nblocks, blocks_cap;
    struct imap by_off; /* block offset -> its latest entry, from the first free on */
    bool indexed;       /* by_off holds every block */
    struct img_page *pages;
    size_t npages, pages_cap;
    struct imap by_base;  /* page base -> entry */
    struct imap released; /* (slot << 32 | owner) + 1 -> seq of its release */
    struct img_name *names;
    size_t nnames, names_cap;
    struct imap by_name; /* hash of (slot, name) -> entry (chained by probing) */
    struct img_session *sessions;
    size_t nsessions, sessions_cap;
    struct imap by_sid;
    char *err;
    size_t errlen;
};

/* Makes room for one more element of a growable array. */
static int room(void **v, size_t *cap, size_t n, size_t size)
{
    size_t ncap;
    void *nv;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 64;
    nv = realloc(*v, ncap * size);
    if (nv == NULL)
        return -ENOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}

static int damaged(struct image *im, const char *what, uint64_t v)
{
    snprintf(im->err, im->errlen, "%s (%llu) in record %llu", what, (unsigned long long)v,
             (unsigned long long)im->seq);
    return -EBADMSG;
}

static uint64_t name_key(uint32_t slot, const char *name, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull ^ slot;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 0x100000001b3ull;
    return h | 1;
}

/* The live entry of (slot, name), by probing on from its hash's slot. */
static struct img_name *name_find(struct image *im, uint32_t slot, const char *name, size_t len)
{
    const struct imap *m = &im->by_name;
    uint64_t k = name_key(slot, name, len);

    if (m->cap == 0)
        return NULL;
    for (size_t i = imap_home(k, m->cap); m->keys[i] != 0; i = (i + 1) & (m->cap - 1)) {
        struct img_name *e = &im->names[m->vals[i]];

        if (m->keys[i] == k && !e->dead && e->slot == slot && e->len == len &&
            memcmp(e->name, name, len) == 0)
            return e;
    }
    return NULL;
}

static int name_add(struct image *im, const struct img_name *e)
{
    struct imap *m = &im->by_name;
    uint64_t k = name_key(e->slot, e->name, e->len);
    size_t i;

    if (room((void **)&im->names, &im->names_cap, im->nnames, sizeof(*im->names)) < 0)
        return -ENOMEM;
    if ((m->n + 1) * 2 > m->cap && imap_grow(m) < 0)
        return -ENOMEM;
    /* A key may repeat (a name bound again, a hash shared): each entry has
     * a slot of its own. */
    for (i = imap_home(k, m->cap); m->keys[i] != 0; i = (i + 1) & (m->cap - 1))
        ;
    im->names[im->nnames] = *e;
    m->keys[i] = k;
    m->vals[i] = (uint32_t)im->nnames++;
    m->n++;
    return 0;
}

static struct img_session *session_of(struct image *im, uint64_t sid)
{
    uint32_t i;

    return imap_get(&im->by_sid, sid + 1, &i) ? &im->sessions[i] : NULL;
}

/* The arena of slot, live, or NULL. */
static struct img_arena *live_arena(struct image *im, uint32_t slot)
{
    return slot < REG_MAX_ARENAS && im->arenas[slot].live ? &im->arenas[slot] : NULL;
}

#define NEED(len, type) \
    do { \
        if ((len) < sizeof(type)) \
            return damaged(im, "a short record", (len)); \
    } while (0)

static int apply_arena(struct image *im, const uint8_t *p, size_t len)
{
    struct st_arena r;
    struct img_arena *ia;

    NEED(len, r);
    memcpy(&r, p, sizeof(r));
    if (r.slot >= REG_MAX_ARENAS || memchr(r.name, '\0', sizeof(r.name)) == NULL)
        return damaged(im, "a bad arena", r.slot);
    ia = &im->arenas[r.slot];
    if (!ia->live) {
        memset(ia, 0, sizeof(*ia));
        ia->live = true;
        ia->made = im->seq;
    }
    ia->rec = r;
    return 0;
}

static int apply_blocks(struct image *im, const uint8_t *p, size_t len)
{
    struct st_blocks r;
    struct img_arena *ia;
    size_t n;

    NEED(len, r);
    memcpy(&r, p, sizeof(r));
    ia = live_arena(im, r.slot);
    n = (len - sizeof(r)) / sizeof(uint64_t);
    if (ia == NULL || r.size == 0 || (len - sizeof(r)) % sizeof(uint64_t) != 0)
        return damaged(im, "blocks of no arena", r.slot);
    for (size_t i = 0; i < n; i++) {
        uint64_t off;

        memcpy(&off, p + sizeof(r) + i * sizeof(off), sizeof(off));
        if (off == 0)
            return damaged(im, "a block at offset", 0);
        if (room((void **)&im->blocks, &im->blocks_cap, im->nblocks, sizeof(*im->blocks)) < 0 ||
            (im->indexed && imap_put(&im->by_off, off, (uint32_t)im->nblocks) < 0))
            return -ENOMEM;
        im->blocks[im->nblocks++] = (struct img_block){
            .off = off, .size = r.size, .seq = im->seq, .slot = r.slot, .owner = r.owner};
    }
    ia->allocs_since += n;
    return 0;
}

/* The offset index, made at the first free: a snapshot alone (the common
 * state after a SIGTERM) never needs one. */
static int index_blocks(struct image *im)
{
    if (im->indexed)
        return 0;
    while (im->by_off.cap < 2 * (im->nblocks + 1))
        if (imap_grow(&im->by_off) < 0)
            return -ENOMEM;
    for (size_t i = 0; i < im->nblocks; i++)
        if (imap_put(&im->by_off, im->blocks[i].off, (uint32_t)i) < 0)
            return -ENOMEM;
    im->indexed = true;
    return 0;
}

static int apply_frees(struct image *im, const uint8_t *p, size_t len)
{
    struct st_slot r;
    uint32_t b;

    if (index_blocks(im) < 0)
        return -ENOMEM;
    NEED(len, r);
    memcpy(&r, p, sizeof(r));
    if ((len - sizeof(r)) % sizeof(uint64_t) != 0)
        return damaged(im, "a bad free record", len);
    for (size_t i = 0; i < (len - sizeof(r)) / sizeof(uint64_t); i++) {
        uint64_t off;

        memcpy(&off, p + sizeof(r) + i * sizeof(off), sizeof(off));
        if (!imap_get(&im->by_off, off, &b) || im->blocks[b].dead)
            return damaged(im, "a free of no block", off);
        im->blocks[b].dead = true;
    }
    return 0;
}

static int apply_page(struct image *im, uint16_t type, const uint8_t *p, size_t len)
{
    struct st_page r;
    uint32_t i;

    NEED(len, r);
    memcpy(&r, p, sizeof(r));
    if (type == ST_PAGE_DEL) {
        if (imap_get(&im->by_base, r.base, &i))
            im->pages[i].dead = true;
        return 0;
    }
    if (live_arena(im, r.slot) == NULL || r.base == 0 || !heap_page_size_valid(r.len) ||
        r.key == 0)
        return damaged(im, "a bad page", r.base);
    if (room((void **)&im->pages, &im->pages_cap, im->npages, sizeof(*im->pages)) < 0 ||
        imap_put(&im->by_base, r.base, (uint32_t)im->npages) < 0)
        return -ENOMEM;
    im->pages[im->npages++] = (struct img_page){
        .base = r.base, .len = r.len, .key = r.key, .seq = im->seq, .slot = r.slot};
    if (r.base + r.len > im->daemon.next_base)
        im->daemon.next_base = r.base + r.len;
    if (r.key >= im->daemon.next_key)
        im->daemon.next_key = r.key;
    return 0;
}

static int apply_name(struct image *im, uint16_t type, const uint8_t *p, size_t len)
{
    struct img_name e = {0};
    struct img_name *old;

    if (type == ST_NAME) {
        struct st_name r;

        NEED(len, r);
        memcpy(&r, p, sizeof(r));
        if (r.len == 0 || r.len > NAMES_NAME_MAX || r.len > len - sizeof(r) ||
            live_arena(im, r.slot) == NULL)
            return damaged(im, "a bad name", r.len);
        e = (struct img_name){.off = r.off, .seq = im->seq, .slot = r.slot, .uid = r.uid,
                              .len = r.len, .pid = r.pid};
        memcpy(e.name, p + sizeof(r), r.len);
        old = name_find(im, e.slot, e.name, e.len);
        if (old != NULL)
            old->dead = true; /* bound again after its block went */
        return name_add(im, &e);
    } else {
        struct st_unname r;

        NEED(len, r);
        memcpy(&r, p, sizeof(r));
        if (r.len == 0 || r.len > NAMES_NAME_MAX || r.len > len - sizeof(r))
            return damaged(im, "a bad name", r.len);
        old = name_find(im, r.slot, (const char *)p + sizeof(r), r.len);
        if (old != NULL)
            old->dead = true;
        return 0;
    }
}

static int apply_session(struct image *im, const uint8_t *p, size_t len)
{
    struct st_session r;
    struct img_session *s;
    struct st_handle *hv = NULL;

    NEED(len, r);
    memcpy(&r, p, sizeof(r));
    if (r.sid == 0 || r.nhandles > (len - sizeof(r)) / sizeof(struct st_handle))
        return damaged(im, "a bad session", r.sid);
    if (r.nhandles > 0) {
        hv = malloc(r.nhandles * sizeof(*hv));
        if (hv == NULL)
            return -ENOMEM;
        memcpy(hv, p + sizeof(r), r.nhandles * sizeof(*hv));
    }
    for (uint32_t i = 0; i < r.nhandles; i++)
        if (hv[i].slot >= REG_MAX_ARENAS || hv[i].index >= (1u << 20)) {
            uint64_t bad = hv[i].index;
            free(hv);
            return damaged(im, "a bad handle", bad);
        }
    s = session_of(im, r.sid);
    if (s == NULL) {
        if (room((void **)&im->sessions, &im->sessions_cap, im->nsessions,
                 sizeof(*im->sessions)) < 0 ||
            imap_put(&im->by_sid, r.sid + 1, (uint32_t)im->nsessions) < 0) {
            free(hv);
            return -ENOMEM;
        }
        s = &im->sessions[im->nsessions++];
        memset(s, 0, sizeof(*s));
    }
    free(s->handles);
    s->rec = r;
    s->handles = hv;
    if (r.sid > im->daemon.next_sid)
        im->daemon.next_sid = r.sid;
    return 0;
}

static int apply_reply(struct image *im, const uint8_t *p, size_t len)
{
    struct st_reply r;
    struct img_session *s;
    uint8_t *v;

    NEED(len, r);
    memcpy(&r, p, sizeof(r));
    if (r.len > len - sizeof(r) || r.op == 0)
        return damaged(im, "a bad reply", r.len);
    s = session_of(im, r.sid);
    if (s == NULL || s->dead)
        return damaged(im, "the reply of no session", r.sid);
    v = realloc(s->last, r.len ? r.len : 1);
    if (v == NULL)
        return -ENOMEM;
    memcpy(v, p + sizeof(r), r.len);
    s->last = v;
    s->last_len = r.len;
    s->last_id = r.id;
    s->last_op = r.op;
    return 0;
}

static int apply(void *ctx, uint16_t type, const uint8_t *p, size_t len)
{
    struct image *im = ctx;

    im->seq++;
    switch (type) {
    case ST_DAEMON: {
        struct st_daemon r;

        NEED(len, r);
        memcpy(&r, p, sizeof(r));
        if (r.next_base > im->daemon.next_base)
            im->daemon.next_base = r.next_base;
        if (r.next_key > im->daemon.next_key)
            im->daemon.next_key = r.next_key;
        if (r.next_sid > im->daemon.next_sid)
            im->daemon.next_sid = r.next_sid;
        if (im->daemon.since_s == 0)
            im->daemon.since_s = r.since_s;
        return 0;
    }
    case ST_ARENA:
        return apply_arena(im, p, len);
    case ST_ARENA_DROP: {
        struct st_slot r;

        NEED(len, r);
        memcpy(&r, p, sizeof(r));
        if (live_arena(im, r.slot) == NULL)
            return damaged(im, "a drop of no arena", r.slot);
        im->arenas[r.slot].live = false;
        return 0;
    }
    case ST_PAGE:
    case ST_PAGE_DEL:
        return apply_page(im, type, p, len);
    case ST_BLOCKS:
        return apply_blocks(im, p, len);
    case ST_FREES:
        return apply_frees(im, p, len);
    case ST_OWNER_DEL: {
        struct st_owner r;

        NEED(len, r);
        memcpy(&r, p, sizeof(r));
        return imap_put(&im->released, ((uint64_t)r.slot << 32 | r.owner) + 1,
                        (uint32_t)im->seq) < 0
                   ? -ENOMEM
                   : 0;
    }
    case ST_NAME:
    case ST_UNNAME:
        return apply_name(im, type, p, len);
    case ST_SESSION:
        return apply_session(im, p, len);
    case ST_SESSION_END: {
        struct st_sid r;
        struct img_session *s;

        NEED(len, r);
        memcpy(&r, p, sizeof(r));
        s = session_of(im, r.sid);
        if (s != NULL)
            s->dead = true;
        return 0;
    }
    case ST_REPLY:
        return apply_reply(im, p, len);
    case ST_COUNTS: {
        struct st_counts r;

        NEED(len, r);
        memcpy(&r, p, sizeof(r));
        if (live_arena(im, r.slot) == NULL)
            return damaged(im, "the counts of no arena", r.slot);
        im->arenas[r.slot].counts = r;
        im->arenas[r.slot].allocs_since = 0;
        return 0;
    }
    default:
        return damaged(im, "an unknown record type", type);
    }
}

static void image_free(struct image *im)
{
    for (size_t i = 0; i < im->nsessions; i++) {
        free(im->sessions[i].handles);
        free(im->sessions[i].last);
    }
    free(im->sessions);
    free(im->blocks);
    free(im->pages);
    free(im->names);
    imap_free(&im->by_off);
    imap_free(&im->by_base);
    imap_free(&im->released);
    imap_free(&im->by_name);
    imap_free(&im->by_sid);
    free(im);
}

/* ---- deciding what lives ---- */

static bool block_lives(const struct image *im, const struct img_block *b)
{
    const struct img_arena *ia = &im->arenas[b->slot];
    uint32_t rel;

    if (b->dead || !ia->live || b->seq < ia->made)
        return false;
    if (b->owner != HEAP_OWNER_ARENA &&
        imap_get(&im->released, ((uint64_t)b->slot << 32 | b->owner) + 1, &rel) && rel > b->seq)
        return false;
    return true;
}

static bool page_lives(const struct image *im, const struct img_page *p)
{
    const struct img_arena *ia = &im->arenas[p->slot];

    return !p->dead && ia->live && p->seq >= ia->made;
}

/* Blocks by arena, then offset: a snapshot writes them in this order. */
static int by_off(const void *x, const void *y)
{
    const struct img_block *a = *(struct img_block *const *)x, *b = *(struct img_block *const *)y;

    if (a->slot != b->slot)
        return a->slot < b->slot ? -1 : 1;
    return a->off < b->off ? -1 : a->off > b->off;
}

static int by_base(const void *x, const void *y)
{
    const struct img_page *a = *(struct img_page *const *)x, *b = *(struct img_page *const *)y;

    return a->base < b->base ? -1 : a->base > b->base;
}

/* The descriptor handed back for key, taken (its entry's fd set to -1). */
static int take_fd(struct restore_fd *fds, size_t nfds, uint64_t key)
{
    char name[ST_KEY_LEN + 1];

    snprintf(name, sizeof(name), ST_KEY_FMT, (unsigned long long)key);
    for (size_t i = 0; i < nfds; i++) {
        if (fds[i].fd >= 0 && strcmp(fds[i].name, name) == 0) {
            int fd = fds[i].fd;

            fds[i].fd = -1;
            return fd;
        }
    }
    return -ENOENT;
}

static bool key_handed(const struct restore_fd *fds, size_t nfds, uint64_t key)
{
    char name[ST_KEY_LEN + 1];

    snprintf(name, sizeof(name), ST_KEY_FMT, (unsigned long long)key);
    for (size_t i = 0; i < nfds; i++)
        if (fds[i].fd >= 0 && strcmp(fds[i].name, name) == 0)
            return true;
    return false;
}

/* ---- putting it back ---- */

/* The owner a session's handle had, in its new arena. */
struct owner_map {
    struct imap m; /* (slot << 32 | old owner) + 1 -> new owner */
};

static int put_arenas(struct image *im, struct registry *r, struct restore_result *res)
{
    for (uint32_t slot = 0; slot < REG_MAX_ARENAS; slot++) {
        struct img_arena *ia = &im->arenas[slot];
        struct arena_params p;
        int rc;

        if (!ia->live)
            continue;
        p = (struct arena_params){
            .name = ia->rec.name,
            .page_size = ia->rec.page_size,
            .max_bytes = ia->rec.max_bytes,
            .align = ia->rec.align,
            .mode = ia->rec.mode,
            .uid = ia->rec.uid,
            .gid = ia->rec.gid,
            .private_default = ia->rec.private_default != 0,
            .cache_max = ia->rec.cache_max,
        };
        rc = reg_create(r, &p, &ia->a);
        if (rc < 0) {
            snprintf(im->err, im->errlen, "arena %s cannot be made again: %s", ia->rec.name,
                     strerror(-rc));
            return rc == -ENOMEM ? rc : -EBADMSG;
        }
        res->arenas++;
    }
    return 0;
}

/* Pages in increasing base order, each with its descriptor. */
static int put_pages(struct image *im, struct restore_fd *fds, size_t nfds,
                     struct restore_result *res)
{
    struct img_page **v;
    size_t n = 0, i;
    int rc = 0;

    v = malloc((im->npages + 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    for (i = 0; i < im->npages; i++)
        if (page_lives(im, &im->pages[i]))
            v[n++] = &im->pages[i];
    qsort(v, n, sizeof(*v), by_base);
    for (i = 0; i < n && rc == 0; i++) {
        struct arena *a = im->arenas[v[i]->slot].a;
        uint64_t max = a->max_bytes;
        int fd = take_fd(fds, nfds, v[i]->key);

        if (fd < 0) {
            snprintf(im->err, im->errlen, "the descriptor of page %llu (key " ST_KEY_FMT ") of "
                     "arena %s did not come back",
                     (unsigned long long)v[i]->base, (unsigned long long)v[i]->key, a->name);
            rc = -EBADMSG;
            break;
        }
        /* The arena's own bound may have been lowered under its pages. */
        a->max_bytes = UINT64_MAX;
        rc = arena_page_adopt(a, v[i]->base, v[i]->len, fd, v[i]->key);
        a->max_bytes = max;
        if (rc < 0) {
            close(fd);
            snprintf(im->err, im->errlen, "page %llu of arena %s cannot go back: %s",
                     (unsigned long long)v[i]->base, a->name, strerror(-rc));
            rc = rc == -ENOMEM ? rc : -EBADMSG;
            break;
        }
        res->pages++;
    }
    free(v);
    return rc;
}

/* Owners for the handles of the sessions that live, mapped from the old. */
static int put_owners(struct image *im, struct owner_map *om)
{
    for (size_t i = 0; i < im->nsessions; i++) {
        struct img_session *s = &im->sessions[i];

        if (s->dead)
            continue;
        for (uint32_t k = 0; k < s->rec.nhandles; k++) {
            struct st_handle *h = &s->handles[k];
            struct img_arena *ia = live_arena(im, h->slot);
            uint32_t nid;
            int rc;

            if (ia == NULL)
                continue; /* its arena was dropped: the handle only remembers it */
            rc = arena_owner_new(ia->a, &nid);
            if (rc == 0)
                rc = imap_put(&om->m, ((uint64_t)h->slot << 32 | h->owner) + 1, nid);
            if (rc == 0 && h->has_powner) {
                rc = arena_owner_new_private(ia->a, &nid);
                if (rc == 0)
                    rc = imap_put(&om->m, ((uint64_t)h->slot << 32 | h->powner) + 1, nid);
            }
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int put_blocks(struct image *im, struct owner_map *om, struct restore_result *res)
{
    struct img_block **v;
    size_t n = 0, i;
    int rc = 0;

    v = malloc((im->nblocks + 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    for (i = 0; i < im->nblocks; i++)
        if (block_lives(im, &im->blocks[i])) {
            v[n++] = &im->blocks[i];
            im->arenas[im->blocks[i].slot].nlive++;
        }
    for (i = 1; i < n && by_off(&v[i - 1], &v[i]) < 0; i++)
        ;
    if (i < n)
        qsort(v, n, sizeof(*v), by_off);
    for (uint32_t slot = 0; slot < REG_MAX_ARENAS; slot++)
        if (im->arenas[slot].nlive > 0 && arena_reserve(im->arenas[slot].a,
                                                        im->arenas[slot].nlive) < 0) {
            free(v);
            return -ENOMEM;
        }
    for (i = 0; i < n; i++) {
        struct img_block *b = v[i];
        struct arena *a = im->arenas[b->slot].a;
        uint32_t owner = HEAP_OWNER_ARENA;

        if (b->owner != HEAP_OWNER_ARENA &&
            !imap_get(&om->m, ((uint64_t)b->slot << 32 | b->owner) + 1, &owner)) {
            /* Its session is gone (or never was one): nobody can free it. */
            b->dead = true;
            res->orphans++;
            continue;
        }
        rc = arena_claim(a, b->off, b->size, owner);
        if (rc < 0) {
            snprintf(im->err, im->errlen, "block %llu (%llu bytes) of arena %s cannot go back: %s",
                     (unsigned long long)b->off, (unsigned long long)b->size, a->name,
                     rc == -EINVAL ? "not in free space of its pages" : strerror(-rc));
            rc = rc == -ENOMEM ? rc : -EBADMSG;
            break;
        }
        res->blocks++;
    }
    free(v);
    return rc;
}

static int put_names(struct image *im, struct restore_result *res)
{
    if (im->nnames > 0 && index_blocks(im) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < im->nnames; i++) {
        struct img_name *e = &im->names[i];
        struct img_arena *ia = live_arena(im, e->slot);
        uint32_t bi;
        int rc;

        if (e->dead || ia == NULL || e->seq < ia->made || !imap_get(&im->by_off, e->off, &bi) ||
            !block_lives(im, &im->blocks[bi]) || im->blocks[bi].seq > e->seq ||
            im->blocks[bi].owner != HEAP_OWNER_ARENA)
            continue;
        rc = arena_name_bind(ia->a, e->name, e->len, e->off, e->uid, e->pid, UINT32_MAX);
        if (rc < 0) {
            snprintf(im->err, im->errlen, "name %s of arena %s cannot be bound again: %s",
                     e->name, ia->a->name, strerror(-rc));
            return rc == -ENOMEM ? rc : -EBADMSG;
        }
        res->names++;
    }
    return 0;
}

static void put_counts(struct image *im)
{
    for (uint32_t slot = 0; slot < REG_MAX_ARENAS; slot++) {
        struct img_arena *ia = &im->arenas[slot];

        if (!ia->live)
            continue;
        heap_set_counts(ia->a->heap, ia->counts.allocs + ia->allocs_since,
                        ia->counts.alloc_failures);
        ia->a->failures = ia->counts.failures;
    }
}

static int put_sessions(struct image *im, struct sessions *ss, struct owner_map *om,
                        struct restore_result *res)
{
    for (size_t i = 0; i < im->nsessions; i++) {
        struct img_session *s = &im->sessions[i];
        struct handle *hv = NULL;
        uint32_t cap = 0, used = 0;
        struct rsess *rs;
        int rc;

        if (s->dead)
            continue;
        for (uint32_t k = 0; k < s->rec.nhandles; k++)
            if (s->handles[k].index + 1 > cap)
                cap = s->handles[k].index + 1;
        if (cap > 0 && (hv = calloc(cap, sizeof(*hv))) == NULL)
            return -ENOMEM;
        for (uint32_t k = 0; k < s->rec.nhandles; k++) {
            const struct st_handle *sh = &s->handles[k];
            struct img_arena *ia = live_arena(im, sh->slot);
            struct handle *h = &hv[sh->index];

            h->used = true;
            h->writable = sh->writable != 0;
            used++;
            if (ia == NULL) {
                /* Its arena is gone: a handle that finds nothing (reg_get
                 * NULL), as it would have in the old ofad. */
                h->slot = sh->slot;
                h->gen = 0;
                continue;
            }
            h->slot = ia->a->slot;
            h->gen = ia->a->gen;
            imap_get(&om->m, ((uint64_t)sh->slot << 32 | sh->owner) + 1, &h->owner);
            if (sh->has_powner) {
                h->has_powner = true;
                imap_get(&om->m, ((uint64_t)sh->slot << 32 | sh->powner) + 1, &h->powner);
            }
        }
        rc = resume_restore(ss, s->rec.sid, s->rec.secret, s->rec.uid, s->rec.pid, s->rec.start,
                            hv, cap, used, s->last_id, s->last_op, s->last, s->last_len, &rs);
        if (rc < 0)
            return rc;
        if (rs != NULL)
            res->sessions++;
        else
            res->sessions_gone++;
    }
    if (im->daemon.next_sid > ss->next_sid)
        ss->next_sid = im->daemon.next_sid;
    return 0;
}

/* 1 when the file names pages and none of them came back. */
static int stale(const struct image *im, const struct restore_fd *fds, size_t nfds,
                 uint32_t *missing)
{
    size_t live = 0, found = 0;

    for (size_t i = 0; i < im->npages; i++) {
        if (!page_lives(im, &im->pages[i]))
            continue;
        live++;
        found += key_handed(fds, nfds, im->pages[i].key);
    }
    *missing = (uint32_t)(live - found);
    return live > 0 && found == 0;
}

int restore_load(struct registry *r, struct sessions *ss, const char *dir,
                 const struct journal_ident *id, struct restore_fd *fds, size_t nfds,
                 struct restore_result *res, char *err, size_t errlen)
{
    struct owner_map om = {{0}};
    uint64_t max_total = r->max_total, max_pages = r->max_pages;
    uint32_t max_arenas = r->max_arenas;
    char path[PATH_MAX];
    struct image *im;
    int rc;

    memset(res, 0, sizeof(*res));
    err[0] = '\0';
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, RESTORE_FILE) >= sizeof(path))
        return -ENAMETOOLONG;
    im = calloc(1, sizeof(*im));
    if (im == NULL)
        return -ENOMEM;
    im->err = err;
    im->errlen = errlen;
    rc = journal_read(path, id, apply, im, &res->gen, err, errlen);
    if (rc == -ENOENT) {
        rc = 0; /* nothing kept yet */
        goto out;
    }
    if (rc < 0)
        goto out;
    res->since_s = im->daemon.since_s;
    if (stale(im, fds, nfds, &res->pages_missing)) {
        rc = 1;
        goto out;
    }
    /* Put back what was held, whatever the limits in force say now. */
    r->max_total = r->max_pages = UINT64_MAX;
    r->max_arenas = REG_MAX_ARENAS;
    rc = put_arenas(im, r, res);
    if (rc == 0)
        rc = put_pages(im, fds, nfds, res);
    if (rc == 0)
        rc = put_owners(im, &om);
    if (rc == 0)
        rc = put_blocks(im, &om, res);
    if (rc == 0)
        rc = put_names(im, res);
    if (rc == 0) {
        put_counts(im);
        reg_set_next_base(r, im->daemon.next_base);
        if (im->daemon.next_key > r->next_key)
            r->next_key = im->daemon.next_key;
        rc = put_sessions(im, ss, &om, res);
    }
    r->max_total = max_total;
    r->max_pages = max_pages;
    r->max_arenas = max_arenas;
out:
    imap_free(&om.m);
    image_free(im);
    return rc;
}

/* ---- the snapshot ---- */

struct snap {
    struct journal *j;
    const struct arena *a;
};

static int snap_name(void *ctx, const struct name_ent *e)
{
    struct snap *sn = ctx;

    return arena_note_name_to(sn->a, sn->j, e->name, e->len, e->off, e->uid, e->pid);
}

static int snap_arena(struct journal *j, struct arena *a)
{
    struct registry *r = a->reg;
    struct heap_walk_ent w[256];
    struct heap_stats st;
    struct snap sn = {j, a};
    uint64_t base = 0, len, from = 0, next;
    struct st_counts *c;
    int rc;

    rc = arena_note_to(a, j);
    if (rc < 0)
        return rc;
    while (heap_page_next(a->heap, &base, &len)) {
        struct page_ent *e = pagemap_find(&a->pages, base);
        struct st_page *p;

        if (e == NULL)
            return -EIO;
        if (e->key == 0) {
            /* Made before the state was kept (never, today): into the
             * store with it now, or the snapshot would name a page that
             * cannot come back. */
            if (r->page_keep == NULL)
                return -EIO;
            rc = r->page_keep(r->page_ctx, r->next_key + 1, e->fd);
            if (rc < 0)
                return rc;
            e->key = ++r->next_key;
        }
        p = journal_rec(j, ST_PAGE, sizeof(*p));
        if (p == NULL)
            return journal_failed(j);
        *p = (struct st_page){.slot = a->slot, .base = base, .len = len, .key = e->key};
    }
    do {
        size_t n = heap_walk(a->heap, from, false, w, sizeof(w) / sizeof(w[0]), &next);

        for (size_t i = 0; i < n; i++) {
            struct st_blocks *b;
            uint64_t *p;

            if (w[i].kind != HEAP_WALK_LIVE)
                continue;
            /* Runs of one size and owner (batches) share a record. */
            b = journal_last(j, ST_BLOCKS);
            if (b != NULL && b->owner == w[i].owner && b->size == w[i].size &&
                (p = journal_extend(j, sizeof(*p))) != NULL) {
                *p = w[i].off;
                continue;
            }
            b = journal_rec(j, ST_BLOCKS, sizeof(*b) + sizeof(*p));
            if (b == NULL)
                return journal_failed(j);
            *b = (struct st_blocks){.slot = a->slot, .owner = w[i].owner, .size = w[i].size};
            memcpy(b + 1, &w[i].off, sizeof(uint64_t));
        }
        from = next;
    } while (next != 0);
    rc = names_each(&a->names, snap_name, &sn);
    if (rc < 0)
        return rc;
    heap_stats(a->heap, &st);
    c = journal_rec(j, ST_COUNTS, sizeof(*c));
    if (c == NULL)
        return journal_failed(j);
    *c = (struct st_counts){.slot = a->slot, .allocs = st.allocs,
                            .alloc_failures = st.alloc_failures, .failures = a->failures};
    return 0;
}

int restore_snapshot(struct registry *r, struct sessions *ss, const char *dir,
                     const struct journal_ident *id, uint64_t gen, uint64_t since_s,
                     struct journal **old, struct journal **out)
{
    char path[PATH_MAX], final[PATH_MAX], prev[PATH_MAX];
    struct journal *j = *old;
    struct st_daemon *d;
    int rc;

    *old = NULL;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, RESTORE_FILE_NEW) >= sizeof(path) ||
        (size_t)snprintf(final, sizeof(final), "%s/%s", dir, RESTORE_FILE) >= sizeof(final) ||
        (size_t)snprintf(prev, sizeof(prev), "%s/%s", dir, RESTORE_FILE_OLD) >= sizeof(prev)) {
        journal_discard(j);
        return -ENAMETOOLONG;
    }
    if (j != NULL && journal_recycle(j, path, id, gen) < 0) {
        journal_discard(j);
        j = NULL;
    }
    if (j == NULL) {
        rc = journal_create(&j, path, id, gen);
        if (rc < 0)
            return rc;
    }
    d = journal_rec(j, ST_DAEMON, sizeof(*d));
    if (d == NULL) {
        rc = journal_failed(j);
        goto fail;
    }
    *d = (struct st_daemon){.next_base = reg_next_base(r), .next_key = r->next_key,
                            .next_sid = ss->next_sid, .since_s = since_s};
    for (uint32_t slot = 0; slot < REG_MAX_ARENAS; slot++) {
        if (r->slots[slot] == NULL)
            continue;
        rc = snap_arena(j, r->slots[slot]);
        if (rc < 0)
            goto fail;
    }
    for (struct rsess *rs = ss->rsessions; rs != NULL; rs = rs->next) {
        resume_write(rs, j);
        if (rs->last_op != 0) {
            struct st_reply *p = journal_rec(j, ST_REPLY, sizeof(*p) + rs->last_len);
            if (p != NULL) {
                *p = (struct st_reply){.sid = rs->sid, .id = rs->last_id, .op = rs->last_op,
                                       .len = (uint32_t)rs->last_len};
                memcpy(p + 1, rs->last, rs->last_len);
            }
        }
    }
    rc = journal_commit(j);
    if (rc < 0)
        goto fail;
    /* The file in force keeps a second name, so the rename below leaves it
     * for the next generation to recycle. Without it (the link failed), the
     * next generation is a new file: slower, no less right. */
    if (r->jn != NULL && !journal_pending(r->jn) && journal_link(r->jn, prev) == 0)
        *old = r->jn;
    rc = journal_rename(j, final);
    if (rc < 0) {
        if (*old != NULL) {
            /* r->jn's file still has both names: it goes by its first
             * again (a rename between two links of one file does nothing),
             * and the second goes. */
            journal_rename(r->jn, final);
            unlink(prev);
        }
        *old = NULL;
        goto fail;
    }
    *out = j;
    return 0;

fail:
    journal_discard(j);
    return rc < 0 ? rc : -EIO;
}

/*
 * arena.c - the registry of arenas, and everything around one heap that the
 * allocator core leaves to its caller.
 *
 * Owns: arena records (name, owner, group, mode, limits), permission checks,
 * the limits (per arena max_bytes; per daemon max_total and max_pages), the
 * daemon-wide offset space, and the map from a page's base offset to the
 * sealed memfd that holds it (shm.c). Called by session.c (requests) and
 * server.c (start and reload through reg_apply, shutdown).
 *
 * A page is made only when the heap says nothing it holds can serve a
 * request (arena_alloc: -EAGAIN with the length it needs): then the caller
 * checks the limits and reserves the page's bytes (arena_page_reserve), has
 * its memory made off the event loop (shm_page_create on a worker thread: a
 * large page takes long to back), registers it with the heap on the loop
 * (arena_page_add) and asks again. Only the loop thread touches the heap and
 * the registry. Pages go away through the heap's release
 * callback (page_released), which punches and closes the memfd: on free, on
 * owner release (a handle closed, a client gone), and all of them on drop.
 *
 * Private blocks: a handle allocates them through a second heap owner marked
 * in opriv; session.c refuses (-EACCES) a free of such a block by a session
 * that does not hold that owner's handle. The arena's control page (ctl.c) is
 * made for the first client cache and removed with the arena, which zeroes
 * every cache's word first.
 *
 * Offsets: every page's base comes from one daemon-wide counter,
 * registry->next_base, that only grows (heap_page_add_at with it as the
 * floor). So no two arenas ever hand out the same offset, and an offset of a
 * dropped arena never names a block of a later one: FREE of arena A's offset
 * on arena B's handle is -EINVAL, like any offset that is not a block of B.
 * Bases are packed as tightly as each page's natural alignment allows, so
 * the space stays below 2^53 (exact in a double, for JSON and JavaScript)
 * until some 2^53 bytes of pages have been made over the daemon's life.
 *
 * What one user can make ofad hold (the daemon's own memory included): an
 * arena has at most max_blocks_per_arena live blocks and the daemon at most
 * max_blocks (the metadata budget, max_metadata over CFG_BLOCK_COST bytes a
 * block), both -ENOMEM; the arenas one uid owns hold at most
 * max_bytes_per_uid of pages (-EDQUOT) unless the owner is root or ofad's
 * user (arena_exempt); and arenas that are not exempt together leave
 * reserved_total of max_total to those that are (-ENOMEM), so configured
 * arenas and root are never starved by users. Names: an arena holds at most
 * max_names_per_arena (-ENOMEM), and one uid binds at most
 * max_names_per_uid over all arenas (-EDQUOT; root and ofad's user are not
 * bounded). The per-uid count is the registry's (names_uids, kept by
 * names.c on every bind and unbind, the free of a named block and the drop
 * of an arena included), keyed by the uid that bound each name, so it
 * holds whether or not that user is still connected.
 *
 * Invariants: every page the heap holds has exactly one entry in the page
 * map, holding its memfd; registry->total_reserved and registry->pages count
 * every page held plus every page reserved and not yet added, arena->reserved
 * the bytes of its own, registry->user_reserved those of arenas not exempt;
 * arena->blocks is its heap's live block count and registry->blocks_live
 * their sum; every base handed out is below registry->next_base; a slot's
 * generation changes
 * whenever its arena goes away.
 */
#include "arena.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "pagemap.h"
#include "proto.h"
#include "state.h"

_Static_assert(ARENA_NAME_MAX == PROTO_NAME_MAX, "an arena takes every name the wire carries");

void reg_init(struct registry *r, uint32_t max_arenas, uint64_t max_total, uint64_t max_pages)
{
    memset(r, 0, sizeof(*r));
    r->max_arenas = max_arenas;
    r->max_total = max_total;
    r->max_pages = max_pages;
    r->next_base = 1; /* the first base is the first page's natural alignment, > 0 */
    /* No bound beyond those until the caller sets them (reg_apply). */
    r->max_blocks = r->max_blocks_per_arena = r->max_bytes_per_uid = UINT64_MAX;
    r->max_names_per_uid = UINT32_MAX;
    names_uids_init(&r->names_uids);
}

static void arena_bytes_unreserve(struct arena *a, uint64_t len);

/* ---- the state's records (state.h), when one is kept ---- */

/* A record's offsets: one (a request of one block) is a store, not a call
 * to memcpy. */
static inline void put_offs(void *dst, const uint64_t *offs, uint32_t n)
{
    if (n == 1)
        memcpy(dst, offs, sizeof(*offs));
    else
        memcpy(dst, offs, (size_t)n * sizeof(*offs));
}

void arena_note_alloc(struct arena *a, uint32_t owner, uint64_t size, const uint64_t *offs,
                      uint32_t n)
{
    struct journal *jn = a->reg->jn;
    uint64_t rounded = (size + a->align - 1) & ~(uint64_t)(a->align - 1);
    struct st_blocks *b;
    void *p;

    if (jn == NULL || n == 0)
        return;
    /* Requests served in one read share a transaction: a run of one size
     * and owner shares a record too. */
    b = journal_last(jn, ST_BLOCKS);
    if (b != NULL && b->slot == a->slot && b->owner == owner && b->size == rounded &&
        (p = journal_extend(jn, (size_t)n * sizeof(*offs))) != NULL) {
        put_offs(p, offs, n);
        return;
    }
    b = journal_rec(jn, ST_BLOCKS, sizeof(*b) + (size_t)n * sizeof(*offs));
    if (b == NULL)
        return;
    *b = (struct st_blocks){.slot = a->slot, .owner = owner, .size = rounded};
    put_offs(b + 1, offs, n);
}

static inline void note_frees(struct arena *a, const uint64_t *offs, uint32_t n)
{
    struct journal *jn = a->reg->jn;
    size_t bytes = (size_t)n * sizeof(*offs);
    struct st_slot *f;
    void *p;

    if (jn == NULL || n == 0)
        return;
    f = journal_last(jn, ST_FREES);
    if (f != NULL && f->slot == a->slot && (p = journal_extend(jn, bytes)) != NULL) {
        put_offs(p, offs, n);
        return;
    }
    f = journal_rec(jn, ST_FREES, sizeof(*f) + bytes);
    if (f != NULL) {
        *f = (struct st_slot){.slot = a->slot};
        put_offs(f + 1, offs, n);
    }
}

void arena_note_frees(struct arena *a, const uint64_t *offs, uint32_t n)
{
    note_frees(a, offs, n);
}

/* Apart from free_block, which stays lean for the frees that record
 * nothing (those of a free of many, and without a state). */
static __attribute__((noinline)) void note_free(struct arena *a, uint64_t off)
{
    note_frees(a, &off, 1);
}

static void note_page(struct arena *a, uint16_t type, uint64_t base, uint64_t len, uint64_t key)
{
    struct st_page *p = journal_rec(a->reg->jn, type, sizeof(*p));

    if (p != NULL)
        *p = (struct st_page){.slot = a->slot, .base = base, .len = len, .key = key};
}

int arena_note_to(const struct arena *a, struct journal *jn)
{
    struct st_arena *r = journal_rec(jn, ST_ARENA, sizeof(*r));

    if (r == NULL)
        return journal_failed(jn);
    memset(r, 0, sizeof(*r));
    r->slot = a->slot;
    r->uid = a->uid;
    r->gid = a->gid;
    r->mode = a->mode;
    r->page_size = a->page_size;
    r->max_bytes = a->max_bytes;
    r->cache_max = a->cache_max;
    r->align = a->align;
    r->private_default = a->private_default;
    memcpy(r->name, a->name, a->name_len + 1);
    return 0;
}

void arena_note(struct arena *a)
{
    if (a->reg->jn != NULL)
        arena_note_to(a, a->reg->jn);
}

/* Deferred until the page's release is in the state (journal_defer). */
static void page_drop_now(void *ctx, int fd, uint64_t len, uint64_t key)
{
    struct registry *r = ctx;
    int rc = shm_page_release(fd, len);

    if (rc < 0)
        log_warning("page punch failed len=%llu err=%s", (unsigned long long)len,
                    log_errname(rc));
    if (key != 0 && r->page_forget != NULL)
        r->page_forget(r->page_ctx, key);
}

/* The heap gave up a page: its memory goes back now (punched), whoever
 * still holds a descriptor or a mapping of it. With a state kept, once the
 * release is recorded (the page's last block may be put back otherwise);
 * when ofad stops keeping its state, not at all: the next ofad takes the
 * page over. */
static void page_released(void *ctx, uint64_t base, uint64_t len)
{
    struct arena *a = ctx;
    struct registry *r = a->reg;
    struct page_ent *e = pagemap_find(&a->pages, base);
    int rc;

    assert(e != NULL && e->len == len);
    if (e == NULL)
        return;
    if (r->keep) {
        close(e->fd);
    } else if (r->jn != NULL) {
        note_page(a, ST_PAGE_DEL, base, len, e->key);
        journal_defer(r->jn, page_drop_now, r, e->fd, len, e->key);
    } else {
        rc = shm_page_release(e->fd, len);
        if (rc < 0)
            log_warning("page punch failed arena=%s base=%llu err=%s", a->name,
                        (unsigned long long)base, log_errname(rc));
    }
    arena_bytes_unreserve(a, len);
    log_debug("page released arena=%s base=%llu len=%llu", a->name, (unsigned long long)base,
              (unsigned long long)len);
    pagemap_del(&a->pages, e);
}

/* Removes every page of a, and frees a. */
static void arena_destroy(struct arena *a)
{
    uint64_t base = 0, len;

    while (heap_page_next(a->heap, &base, &len))
        page_released(a, base, len);
    /* Pages still being made are given back through the registry alone
     * (reg_page_unreserve) once their work ends: take them off the users'
     * share now, while the arena's owner is known. */
    if (!arena_exempt(a))
        a->reg->user_reserved -= a->making;
    a->reg->blocks_live -= a->blocks;
    /* Waiting lookups learn that the arena is gone (ENOENT) first. */
    names_fini(&a->names);
    heap_destroy(a->heap);
    pagemap_free(&a->pages);
    /* Caches on this arena stop serving before its pages go; unless ofad
     * stops handing its state on: then they serve on after the restart. */
    ctl_destroy(a->ctl, !a->reg->keep);
    free(a->opriv);
    free(a);
}

void reg_fini(struct registry *r)
{
    for (uint32_t i = 0; i < REG_MAX_ARENAS; i++) {
        if (r->slots[i] != NULL) {
            arena_destroy(r->slots[i]);
            r->slots[i] = NULL;
            r->gens[i]++;
        }
    }
    r->count = 0;
    names_uids_fini(&r->names_uids);
}

struct arena *reg_find(const struct registry *r, const char *name, size_t len)
{
    if (len > ARENA_NAME_MAX)
        return NULL;
    for (uint32_t i = 0; i < REG_MAX_ARENAS; i++) {
        struct arena *a = r->slots[i];
        if (a != NULL && a->name_len == len && memcmp(a->name, name, len) == 0)
            return a;
    }
    return NULL;
}

int arena_params_check(const struct arena_params *p)
{
    if (p->name == NULL || proto_name_check(p->name, strlen(p->name)) < 0)
        return -EINVAL;
    if (!heap_page_size_valid(p->page_size) || !heap_align_valid(p->align))
        return -EINVAL;
    if (p->mode & ~CFG_MODE_MASK)
        return -EINVAL;
    /* Figures are exact integers in every client's JSON (signed 64-bit). */
    if (p->max_bytes > (uint64_t)INT64_MAX)
        return -EINVAL;
    return 0;
}

int reg_create(struct registry *r, const struct arena_params *p, struct arena **out)
{
    struct arena *a;
    uint32_t slot;
    int rc;

    rc = arena_params_check(p);
    if (rc < 0)
        return rc;
    if (reg_find(r, p->name, strlen(p->name)) != NULL)
        return -EEXIST;
    if (r->count >= r->max_arenas)
        return -ENOMEM;
    for (slot = 0; slot < REG_MAX_ARENAS && r->slots[slot] != NULL; slot++)
        ;
    if (slot == REG_MAX_ARENAS)
        return -ENOMEM;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    rc = heap_create(&a->heap, p->page_size, p->align);
    if (rc < 0)
        goto fail_heap;
    a->name_len = (uint32_t)strlen(p->name);
    memcpy(a->name, p->name, a->name_len + 1);
    a->slot = slot;
    a->gen = ++r->gens[slot];
    a->uid = p->uid;
    a->gid = p->gid;
    a->mode = p->mode;
    a->page_size = p->page_size;
    a->max_bytes = p->max_bytes;
    a->align = p->align;
    a->private_default = p->private_default;
    a->cache_max = p->cache_max;
    a->reg = r;
    names_init(&a->names, &r->names_uids);
    r->slots[slot] = a;
    r->count++;
    r->changes++;
    arena_note(a);
    *out = a;
    return 0;

fail_heap:
    free(a);
    return rc;
}

void arena_log_created(const struct arena *a, int prio, const char *source)
{
    log_msg(prio, "arena created arena=%s page_size=%llu max=%llu align=%u mode=%04o uid=%u gid=%u %s",
            a->name, (unsigned long long)a->page_size, (unsigned long long)a->max_bytes, a->align,
            a->mode, a->uid, a->gid, source);
}

static int create_configured(struct registry *r, const struct cfg_arena *ca, struct arena **out)
{
    struct arena_params p = {
        .name = ca->name,
        .page_size = ca->page_size,
        .max_bytes = ca->max_bytes,
        .align = ca->align,
        .mode = ca->mode,
        .uid = ca->uid,
        .gid = ca->gid,
        .private_default = ca->private_default,
        .cache_max = ca->cache_max,
    };

    return reg_create(r, &p, out);
}

/* A configured arena that exists already takes what may change under live
 * blocks; what may not is refused, field by field, with a line. */
static void update_configured(struct arena *a, const struct cfg_arena *ca)
{
    if (ca->page_size != a->page_size)
        log_warning("reload: page_size of an existing arena cannot change arena=%s "
                    "page_size=%llu wanted=%llu",
                    a->name, (unsigned long long)a->page_size, (unsigned long long)ca->page_size);
    if (ca->align != a->align)
        log_warning("reload: align of an existing arena cannot change arena=%s align=%u "
                    "wanted=%u",
                    a->name, a->align, ca->align);
    if (ca->private_default != a->private_default || ca->cache_max != a->cache_max) {
        /* New cache terms apply to handles that ask for them from now on. */
        a->private_default = ca->private_default;
        a->cache_max = ca->cache_max;
        log_notice("arena updated arena=%s private=%d cache_max=%llu", a->name,
                   a->private_default, (unsigned long long)a->cache_max);
    }
    if (ca->mode != a->mode || ca->uid != a->uid || ca->gid != a->gid) {
        const struct registry *r = a->reg;
        const char *why = NULL;
        int64_t who = -1;

        /* Never hand an arena over with others' things inside (see the
         * design block of server.c). */
        if (ca->uid != a->uid && a->reserved > 0)
            why = "it holds pages made for its present owner";
        else if (r->access_lost != NULL &&
                 (who = r->access_lost(r->access_lost_ctx, a, ca->uid, ca->gid, ca->mode)) >= 0)
            why = "an open handle would lose the access it has";
        if (why != NULL) {
            log_err("reload: arena keeps its owner, group and mode: %s; drop it and reload to "
                    "hand it over arena=%s uid=%u gid=%u mode=%04o wanted_uid=%u wanted_gid=%u "
                    "wanted_mode=%04o holder_uid=%lld",
                    why, a->name, a->uid, a->gid, a->mode, ca->uid, ca->gid, ca->mode,
                    (long long)who);
        } else {
            a->mode = ca->mode;
            a->uid = ca->uid;
            a->gid = ca->gid;
            log_notice("arena updated arena=%s mode=%04o uid=%u gid=%u", a->name, a->mode, a->uid,
                       a->gid);
        }
    }
    if (ca->max_bytes != a->max_bytes) {
        a->max_bytes = ca->max_bytes;
        log_notice("arena updated arena=%s max=%llu", a->name, (unsigned long long)a->max_bytes);
    }
    arena_note(a);
}

int reg_apply(struct registry *r, const struct cfg *c, const struct cfg *prev, char *err,
              size_t errlen)
{
    struct arena *a;
    int rc;

    r->max_arenas = c->max_arenas;
    r->max_total = c->max_total;
    r->max_pages = c->max_pages;
    if (prev != NULL && r->pages > c->max_pages)
        log_warning("reload: max_pages is below the pages held now; no new pages until they "
                    "are freed max_pages=%llu pages=%llu",
                    (unsigned long long)c->max_pages, (unsigned long long)r->pages);
    r->max_blocks = c->max_metadata / CFG_BLOCK_COST;
    r->max_blocks_per_arena = c->max_blocks_per_arena;
    r->max_bytes_per_uid = cfg_bytes_per_uid(c);
    r->reserved_total = cfg_reserved_total(c);
    if (prev != NULL && c->max_names_per_uid < r->max_names_per_uid)
        log_notice("reload: max_names_per_uid lowered; names bound stay, a user over it binds "
                   "no more until under it max_names_per_uid=%u",
                   c->max_names_per_uid);
    r->max_names_per_uid = c->max_names_per_uid;
    if (prev != NULL && r->total_reserved > c->max_total)
        log_warning("reload: max_total is below the bytes held now; no new pages until they "
                    "are freed max_total=%llu bytes=%llu",
                    (unsigned long long)c->max_total, (unsigned long long)r->total_reserved);
    for (size_t i = 0; i < c->n_arenas; i++) {
        const struct cfg_arena *ca = &c->arenas[i];

        a = reg_find(r, ca->name, strlen(ca->name));
        if (a != NULL) {
            update_configured(a, ca);
            continue;
        }
        rc = create_configured(r, ca, &a);
        if (rc < 0 && prev == NULL) {
            snprintf(err, errlen, "cannot create arena %s: %s", ca->name, strerror(-rc));
            return rc;
        }
        if (rc < 0)
            log_err("reload: arena not created arena=%s err=%s", ca->name, log_errname(rc));
        else
            arena_log_created(a, prev == NULL ? LOGP_INFO : LOGP_NOTICE, "source=config");
    }
    for (size_t i = 0; prev != NULL && i < prev->n_arenas; i++) {
        const char *name = prev->arenas[i].name;
        if (cfg_find_arena(c, name) == NULL && reg_find(r, name, strlen(name)) != NULL)
            log_notice("arena no longer configured, kept until dropped arena=%s", name);
    }
    return 0;
}

int reg_drop(struct registry *r, struct arena *a, bool force)
{
    struct heap_stats st;

    heap_stats(a->heap, &st);
    if (st.blocks_live > 0 && !force)
        return -EBUSY;
    assert(r->slots[a->slot] == a);
    if (r->jn != NULL) {
        struct st_slot *d = journal_rec(r->jn, ST_ARENA_DROP, sizeof(*d));
        if (d != NULL)
            *d = (struct st_slot){.slot = a->slot};
    }
    r->slots[a->slot] = NULL;
    r->gens[a->slot]++;
    r->count--;
    r->changes++;
    arena_destroy(a);
    return 0;
}

static int by_name(const void *x, const void *y)
{
    const struct arena *a = *(struct arena *const *)x, *b = *(struct arena *const *)y;

    return strcmp(a->name, b->name);
}

uint32_t reg_sorted(const struct registry *r, struct arena **v)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < REG_MAX_ARENAS; i++) {
        if (r->slots[i] != NULL)
            v[n++] = r->slots[i];
    }
    qsort(v, n, sizeof(*v), by_name);
    return n;
}

unsigned arena_access(const struct arena *a, const struct cred *c)
{
    unsigned bits;

    if (c->uid == 0)
        return ACC_R | ACC_W;
    if (c->uid == a->uid) {
        bits = a->mode >> 6;
    } else {
        bool member = c->gid == a->gid;
        for (uint32_t i = 0; !member && i < c->ngroups; i++)
            member = c->groups[i] == a->gid;
        bits = member ? a->mode >> 3 : a->mode;
    }
    return bits & (ACC_R | ACC_W);
}

uint32_t reg_owned(const struct registry *r, uint32_t uid, uint64_t *bytes)
{
    uint32_t n = 0;
    uint64_t b = 0;

    for (uint32_t i = 0; i < REG_MAX_ARENAS; i++) {
        const struct arena *a = r->slots[i];
        if (a != NULL && a->uid == uid) {
            n++;
            b += a->reserved;
        }
    }
    if (bytes != NULL)
        *bytes = b;
    return n;
}

uint64_t reg_owned_kept(const struct registry *r, uint32_t uid)
{
    uint64_t n = 0;

    for (uint32_t i = 0; i < REG_MAX_ARENAS; i++) {
        const struct arena *a = r->slots[i];
        if (a != NULL && a->uid == uid)
            n += heap_owner_blocks(a->heap, HEAP_OWNER_ARENA);
    }
    return n;
}

/* The bounds a page of len bytes for a must pass besides max_bytes and
 * max_total: its owner's share, and the room kept for exempt arenas.
 * O(arenas), once per page made. */
static int page_quota(const struct arena *a, uint64_t len)
{
    const struct registry *r = a->reg;
    uint64_t owned;

    if (arena_exempt(a))
        return 0;
    if (r->total_reserved - r->user_reserved < r->reserved_total) {
        /* Exempt arenas have not used their room yet: keep it free. */
        uint64_t room = r->max_total - r->reserved_total;
        if (r->reserved_total > r->max_total || len > room || r->user_reserved > room - len)
            return -ENOMEM;
    }
    reg_owned(r, a->uid, &owned);
    if (len > r->max_bytes_per_uid || owned > r->max_bytes_per_uid - len)
        return -EDQUOT;
    return 0;
}

void reg_page_unreserve(struct registry *r, uint64_t len)
{
    assert(r->pages > 0 && r->total_reserved >= len);
    r->total_reserved -= len;
    r->pages--;
    r->changes++;
}

/* Gives back len bytes of a's pages (held, or reserved and not made). */
static void arena_bytes_unreserve(struct arena *a, uint64_t len)
{
    a->reserved -= len;
    if (!arena_exempt(a))
        a->reg->user_reserved -= len;
    reg_page_unreserve(a->reg, len);
}

int arena_page_reserve(struct arena *a, uint64_t len)
{
    struct registry *r = a->reg;
    struct heap_stats st;
    int rc;

    rc = page_quota(a, len);
    if (rc < 0)
        return rc;
    heap_stats(a->heap, &st);
    if (len > a->max_bytes || st.bytes_reserved + a->making > a->max_bytes - len)
        return -ENOMEM;
    if (len > r->max_total || r->total_reserved > r->max_total - len)
        return -ENOMEM;
    if (r->pages >= r->max_pages)
        return -ENOMEM;
    rc = pagemap_reserve(&a->pages);
    if (rc < 0)
        return rc;
    a->making += len;
    r->total_reserved += len;
    r->pages++;
    a->reserved += len;
    if (!arena_exempt(a))
        r->user_reserved += len;
    r->changes++;
    return 0;
}

void arena_page_unreserve(struct arena *a, uint64_t len)
{
    assert(a->making >= len);
    a->making -= len;
    arena_bytes_unreserve(a, len);
}

int arena_page_add(struct arena *a, uint64_t len, int fd, uint64_t key, uint64_t *base)
{
    struct registry *r = a->reg;
    struct page_ent e;
    int rc;

    assert(a->making >= len);
    a->making -= len;
    rc = pagemap_reserve(&a->pages);
    if (rc == 0)
        rc = heap_page_add_at(a->heap, len, r->next_base, &e.base);
    if (rc < 0) {
        arena_bytes_unreserve(a, len);
        shm_page_release(fd, len);
        if (key != 0 && r->page_forget != NULL)
            r->page_forget(r->page_ctx, key);
        return rc == -ENOMEM ? -ENOMEM : -EIO;
    }
    e.len = len;
    e.fd = fd;
    e.key = key;
    pagemap_put(&a->pages, &e);
    r->next_base = e.base + len;
    if (r->jn != NULL)
        note_page(a, ST_PAGE, e.base, len, key);
    if (base != NULL)
        *base = e.base;
    log_debug("page created arena=%s base=%llu len=%llu", a->name, (unsigned long long)e.base,
              (unsigned long long)len);
    return 0;
}

int arena_page_adopt(struct arena *a, uint64_t base, uint64_t len, int fd, uint64_t key)
{
    struct registry *r = a->reg;
    uint64_t natural = 4096, got = 0;
    int rc;

    rc = shm_page_check(fd, len);
    if (rc < 0)
        return rc;
    while (natural < len)
        natural <<= 1;
    /* Exactly where heap_page_add_at with floor base puts it: the page goes
     * back at its own base, never elsewhere. */
    if (base == 0 || base % natural != 0 || base < r->next_base)
        return -EINVAL;
    rc = arena_page_reserve(a, len);
    if (rc < 0)
        return rc;
    a->making -= len;
    rc = heap_page_add_at(a->heap, len, base, &got);
    if (rc < 0) {
        arena_bytes_unreserve(a, len);
        return rc;
    }
    assert(got == base);
    pagemap_put(&a->pages, &(struct page_ent){.base = base, .len = len, .fd = fd, .key = key});
    r->next_base = base + len;
    if (r->jn != NULL)
        note_page(a, ST_PAGE, base, len, key);
    return 0;
}

int arena_claim(struct arena *a, uint64_t off, uint64_t size, uint32_t owner)
{
    struct registry *r = a->reg;
    int rc;

    if (a->blocks >= r->max_blocks_per_arena || r->blocks_live >= r->max_blocks)
        return -ENOMEM;
    rc = heap_claim(a->heap, off, size, owner);
    if (rc < 0)
        return rc;
    a->blocks++;
    r->blocks_live++;
    if (r->jn != NULL)
        arena_note_alloc(a, owner, size, &off, 1);
    return 0;
}

int arena_alloc(struct arena *a, uint64_t size, uint64_t align, uint32_t owner, uint64_t *off,
                uint64_t *need)
{
    struct registry *r = a->reg;
    int rc;

    if (__builtin_expect(a->blocks >= r->max_blocks_per_arena || r->blocks_live >= r->max_blocks,
                         0)) {
        a->failures++;
        return -ENOMEM;
    }
    rc = heap_alloc(a->heap, size, align, owner, off, need);
    if (__builtin_expect(rc == 0, 1)) {
        a->blocks++;
        r->blocks_live++;
    }
    return rc;
}

static int free_block(struct arena *a, uint64_t off, bool note)
{
    struct registry *r = a->reg;
    int rc;

    rc = heap_free(a->heap, off, page_released, a);
    if (__builtin_expect(rc == 0, 1)) {
        /* After the record of its page's release, if the free released it:
         * the order of the two does not matter to restore.c. */
        if (note && r->jn != NULL)
            note_free(a, off);
        a->blocks--;
        a->reg->blocks_live--;
        /* Only kept blocks carry names, and only explicit frees and drops
         * end those: owner releases never need this. */
        if (a->names.count > 0)
            names_unbind_off(&a->names, off);
    }
    return rc;
}

int arena_free(struct arena *a, uint64_t off)
{
    return free_block(a, off, true);
}

int arena_unalloc(struct arena *a, uint64_t off)
{
    return free_block(a, off, false);
}

/* The most names uid may have bound over all arenas: root and ofad's user
 * are not bounded, like every per-uid bound. */
static uint32_t names_per_uid(const struct registry *r, uint32_t uid)
{
    return uid == 0 || uid == r->daemon_uid ? UINT32_MAX : r->max_names_per_uid;
}

int arena_name_bind(struct arena *a, const char *name, size_t len, uint64_t off, uint32_t uid,
                    int32_t pid, uint32_t max)
{
    uint32_t owner;
    int rc;

    if (heap_block_owner(a->heap, off, &owner) < 0 || owner != HEAP_OWNER_ARENA)
        return -EINVAL;
    rc = names_bind(&a->names, name, len, off, uid, pid, max, names_per_uid(a->reg, uid));
    if (rc == 0 && a->reg->jn != NULL)
        arena_note_name_to(a, a->reg->jn, name, len, off, uid, pid);
    return rc;
}

int arena_note_name_to(const struct arena *a, struct journal *jn, const char *name, size_t len,
                       uint64_t off, uint32_t uid, int32_t pid)
{
    struct st_name *n = journal_rec(jn, ST_NAME, sizeof(*n) + len);

    if (n == NULL)
        return journal_failed(jn);
    *n = (struct st_name){.slot = a->slot, .uid = uid, .pid = pid, .len = (uint32_t)len,
                          .off = off};
    memcpy(n + 1, name, len);
    return 0;
}

int arena_name_unbind(struct arena *a, const char *name, size_t len)
{
    int rc = names_unbind(&a->names, name, len);

    if (rc == 0 && a->reg->jn != NULL) {
        struct st_unname *n = journal_rec(a->reg->jn, ST_UNNAME, sizeof(*n) + len);
        if (n != NULL) {
            *n = (struct st_unname){.slot = a->slot, .len = (uint32_t)len};
            memcpy(n + 1, name, len);
        }
    }
    return rc;
}

int arena_name_room(const struct arena *a, uint32_t uid, uint32_t max)
{
    const struct registry *r = a->reg;

    if (names_uid_count(&r->names_uids, uid) >= names_per_uid(r, uid))
        return -EDQUOT;
    return a->names.count >= max ? -ENOMEM : 0;
}

int arena_private_owner(const struct arena *a, uint64_t off, uint32_t *owner)
{
    if (__builtin_expect(a->npriv == 0, 1))
        return 0;
    if (heap_block_owner(a->heap, off, owner) < 0)
        return 0; /* not a live block: the free says so */
    return *owner < a->opriv_cap && a->opriv[*owner] != 0;
}

int arena_owner_new(struct arena *a, uint32_t *owner)
{
    return heap_owner_new(a->heap, owner);
}

int arena_owner_new_private(struct arena *a, uint32_t *owner)
{
    uint32_t id;
    int rc;

    rc = heap_owner_new(a->heap, &id);
    if (rc < 0)
        return rc;
    if (id >= a->opriv_cap) {
        uint32_t cap = a->opriv_cap ? a->opriv_cap : 16;
        uint8_t *v;
        while (cap <= id)
            cap *= 2;
        v = realloc(a->opriv, cap);
        if (v == NULL) {
            heap_owner_release(a->heap, id, page_released, a);
            return -ENOMEM;
        }
        memset(v + a->opriv_cap, 0, cap - a->opriv_cap);
        a->opriv = v;
        a->opriv_cap = cap;
    }
    a->opriv[id] = 1;
    a->npriv++;
    *owner = id;
    return 0;
}

void arena_owner_release(struct arena *a, uint32_t owner)
{
    uint64_t n = heap_owner_blocks(a->heap, owner);

    if (a->reg->jn != NULL) {
        struct st_owner *o = journal_rec(a->reg->jn, ST_OWNER_DEL, sizeof(*o));
        if (o != NULL)
            *o = (struct st_owner){.slot = a->slot, .owner = owner};
    }
    if (owner < a->opriv_cap && a->opriv[owner] != 0) {
        a->opriv[owner] = 0;
        a->npriv--;
    }
    heap_owner_release(a->heap, owner, page_released, a);
    a->blocks -= n;
    a->reg->blocks_live -= n;
}

int arena_page_fd(const struct arena *a, uint64_t base)
{
    const struct page_ent *e = pagemap_find(&a->pages, base);

    return e != NULL ? e->fd : -ENOENT;
}

int arena_ctl(struct arena *a, struct ctl **out)
{
    int rc;

    if (a->ctl == NULL) {
        rc = ctl_create(&a->ctl);
        if (rc < 0) {
            log_warning("control page not made arena=%s err=%s", a->name, log_errname(rc));
            return rc;
        }
    }
    *out = a->ctl;
    return 0;
}

int arena_page_open(struct arena *a, uint64_t off, bool writable, uint64_t *base, uint64_t *len)
{
    struct page_ent *e;
    int fd;

    if (heap_page_find(a->heap, off, base, len) < 0)
        return -ENOENT;
    e = pagemap_find(&a->pages, *base);
    assert(e != NULL);
    if (e == NULL)
        return -EIO;
    /* Writers get the page's own descriptor (a copy: the caller closes it
     * once sent); readers a read-only one, so that they can never map it
     * writable. */
    fd = writable ? fcntl(e->fd, F_DUPFD_CLOEXEC, 0) : shm_page_reader(e->fd);
    if (writable && fd < 0)
        fd = -errno;
    if (fd < 0) {
        log_warning("page open failed arena=%s base=%llu err=%s", a->name,
                    (unsigned long long)*base, log_errname(fd));
        return fd == -EMFILE || fd == -ENFILE ? -EMFILE : -EIO;
    }
    return fd;
}

uint64_t arena_pages(const struct arena *a, uint64_t *bases, uint32_t max)
{
    uint64_t base = 0, len, n = 0;

    while (heap_page_next(a->heap, &base, &len)) {
        if (n < max)
            bases[n] = base;
        n++;
    }
    return n;
}

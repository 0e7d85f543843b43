/*
 * arena.c - arena handles: alloc and free, and the page mappings behind
 * ofa_ptr().
 *
 * Mappings. Each handle keeps the pages it has mapped in a table sorted by
 * base (pages never overlap: the daemon never reuses a base), so ofa_ptr()
 * of a mapped page is a binary search and no system call. On a miss it asks
 * the daemon for the page that holds the offset (PAGE), maps the descriptor
 * that comes with the reply MAP_SHARED (PROT_WRITE only when both the handle
 * and the daemon say writable) and closes the descriptor: the mapping keeps
 * the segment alive.
 *
 * Released pages. The daemon drops a page when it becomes empty, and the
 * mapping here would then pin dead memory. Before mapping a new page, and
 * whenever asked (ofa_arena_trim), we ask the daemon which pages it still
 * holds (PAGES) and unmap the others, so a long-running client holds at most
 * the pages it used since its last miss. A page in which this process freed
 * a block is marked suspect (the free may have emptied it); ofa_ptr() into a
 * suspect page trims before answering, and a successful alloc in a page
 * proves it live again. So ofa_ptr() is exact with respect to this process's
 * own frees at no cost on the common alloc/ptr/free path. Freeing a block of
 * an oversized page (one made for a large request, released by the daemon
 * as soon as it is empty) trims at once, so that large mappings do not
 * outlive their block. A page emptied by other processes stays mapped here
 * (its bytes still addressable, no fault) until the next miss or trim.
 *
 * Pins. Language bindings hand out views (typed arrays, memoryviews) whose
 * lifetime the garbage collector decides, so a mapping must be able to
 * outlive its place in the table, the handle and the connection. ofa_pin
 * gives a page's entry a refcounted record (struct ofa_mapping) that then
 * owns the mapping: removing the entry (trim, close, disconnect) drops the
 * table's reference instead of unmapping, and the last ofa_unpin unmaps.
 * Unpinned entries have no record, so ofa_ptr's fast path is unchanged.
 *
 * Invariants: maps[0..nmaps) sorted by base, disjoint, each addr a live
 * mapping of len bytes; a handle is on its client's list until closed.
 *
 * Called by: users (the ofa_alloc/free/ptr/stats family); conn.c calls
 * nothing here: ofa_disconnect() closes the arenas here, then hands the
 * connection to conn.c (ofa__conn_close), so calls go one way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"

/* Index of the mapped page holding off, or -1. */
static long map_find(const struct ofa_arena *a, uint64_t off)
{
    size_t lo = 0, hi = a->nmaps, mid;

    /* The last page whose base is <= off is the only candidate. */
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (a->maps[mid].base <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    lo--;
    if (off - a->maps[lo].base >= a->maps[lo].len)
        return -1;
    return (long)lo;
}

/* Drops one reference; the last one unmaps. */
static void mapping_put(struct ofa_mapping *m)
{
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    munmap(m->addr, (size_t)m->len);
    free(m);
}

static void map_remove(struct ofa_arena *a, size_t i)
{
    if (a->maps[i].pin != NULL)
        mapping_put(a->maps[i].pin);
    else
        munmap(a->maps[i].addr, (size_t)a->maps[i].len);
    a->nmaps--;
    memmove(a->maps + i, a->maps + i + 1, (a->nmaps - i) * sizeof(a->maps[0]));
}

/* Unmaps every page of a and frees its table (arena close, disconnect). */
static void unmap_all(struct ofa_arena *a)
{
    while (a->nmaps > 0)
        map_remove(a, a->nmaps - 1);
    free(a->maps);
    a->maps = NULL;
    a->capmaps = 0;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

    return a < b ? -1 : a > b;
}

/* Unmaps the pages the daemon no longer holds; the rest are known live. */
static int trim(struct ofa_arena *a)
{
    struct proto_req req;
    struct proto_rep rep;
    uint64_t *bases = NULL;
    size_t i, n, removed = 0;
    int rc;

    if (a->nmaps == 0)
        return 0;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_PAGES;
    req.u.pages.arena = a->handle;
    rc = ofa__call(a->c, &req, &rep, NULL);
    if (rc < 0)
        return rc;
    n = rep.u.list.count;
    if (n > 0) {
        bases = malloc(n * sizeof(*bases));
        if (bases == NULL)
            return -ENOMEM;
        memcpy(bases, rep.u.list.offs, n * sizeof(*bases));
        qsort(bases, n, sizeof(*bases), cmp_u64);
    }
    for (i = a->nmaps; i-- > 0;) {
        if (n > 0 && bsearch(&a->maps[i].base, bases, n, sizeof(*bases), cmp_u64) != NULL) {
            a->maps[i].suspect = 0;
        } else {
            map_remove(a, i);
            removed++;
        }
    }
    free(bases);
    return (int)(removed > INT32_MAX ? INT32_MAX : removed);
}

int ofa_arena_trim(ofa_arena *a)
{
    if (a == NULL)
        return -EINVAL;
    return trim(a);
}

/* Asks for the page holding off and maps it. */
static int map_page(struct ofa_arena *a, uint64_t off, long *idx)
{
    struct proto_req req;
    struct proto_rep rep;
    struct ofa__map *m;
    struct stat st;
    uint64_t base, len;
    void *addr = MAP_FAILED;
    size_t i, cap;
    int rc, fd = -1, prot;

    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_PAGE;
    req.u.page.arena = a->handle;
    req.u.page.off = off;
    rc = ofa__call(a->c, &req, &rep, &fd);
    if (rc < 0)
        return rc;
    base = rep.u.page.base;
    len = rep.u.page.len;

    /* The page must hold off and not overlap a page we know is live (the
     * table was just trimmed); its segment must be as long as it claims, or
     * touching its end would raise SIGBUS. */
    if (len == 0 || len > SIZE_MAX || base > off || off - base >= len || base + len < base) {
        rc = -EPROTO;
        goto fail_proto;
    }
    for (i = 0; i < a->nmaps; i++) {
        if (a->maps[i].base < base + len && base < a->maps[i].base + a->maps[i].len) {
            rc = -EPROTO;
            goto fail_proto;
        }
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto fail;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size < len) {
        rc = -EPROTO;
        goto fail_proto;
    }

    if (a->nmaps == a->capmaps) {
        cap = a->capmaps ? a->capmaps * 2 : 8;
        m = realloc(a->maps, cap * sizeof(*m));
        if (m == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        a->maps = m;
        a->capmaps = cap;
    }
    prot = PROT_READ;
    if (a->writable && rep.u.page.writable)
        prot |= PROT_WRITE;
    addr = mmap(NULL, (size_t)len, prot, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) {
        rc = -errno;
        goto fail;
    }
    close(fd);

    for (i = a->nmaps; i > 0 && a->maps[i - 1].base > base; i--)
        ;
    memmove(a->maps + i + 1, a->maps + i, (a->nmaps - i) * sizeof(a->maps[0]));
    a->maps[i].base = base;
    a->maps[i].len = len;
    a->maps[i].addr = addr;
    a->maps[i].suspect = 0;
    a->maps[i].pin = NULL;
    a->nmaps++;
    *idx = (long)i;
    return 0;

fail_proto:
    ofa__broken(a->c, rc);
fail:
    close(fd);
    return rc;
}

/* ofa_ptr's slow path, with the reason for a failure: the index in the
 * table of the page holding off, mapped and known live. */
static int ptr_slow(struct ofa_arena *a, uint64_t off, long *idx)
{
    long i;
    int rc;

    /* A daemon may refuse the list (EMSGSIZE: more pages than a reply
     * holds); mapping goes on without the pruning then, trusting the table
     * as it is. */
    rc = trim(a);
    if (rc < 0 && a->c->broken)
        return rc;
    i = map_find(a, off);
    if (i < 0) {
        rc = map_page(a, off, &i);
        if (rc < 0)
            return rc;
    }
    *idx = i;
    return 0;
}

int ofa__addr(struct ofa_arena *a, uint64_t off, uint64_t len, void **out)
{
    long i;
    int rc;

    *out = NULL;
    i = map_find(a, off);
    if (i < 0 || a->maps[i].suspect) {
        rc = ptr_slow(a, off, &i);
        if (rc < 0)
            return rc;
    }
    /* The bytes must all lie in the one page: the next page of the offset
     * space is mapped elsewhere here, if at all. */
    if (a->maps[i].len - (off - a->maps[i].base) < len)
        return -EINVAL;
    *out = a->maps[i].addr + (off - a->maps[i].base);
    return 0;
}

void *ofa_ptr(ofa_arena *a, uint64_t off)
{
    long i;

    if (a == NULL || off == 0)
        return NULL;
    i = map_find(a, off);
    if (i < 0 || a->maps[i].suspect) {
        if (ptr_slow(a, off, &i) < 0)
            return NULL;
    }
    return a->maps[i].addr + (off - a->maps[i].base);
}

int ofa_pin(ofa_arena *a, uint64_t off, uint64_t len, ofa_mapping **pin, void **ptr)
{
    struct ofa__map *e;
    struct ofa_mapping *m;
    long i;
    int rc;

    if (pin != NULL)
        *pin = NULL;
    if (ptr != NULL)
        *ptr = NULL;
    if (a == NULL || pin == NULL || ptr == NULL || off == 0)
        return ofa__fail(-EINVAL, "ofa_pin: %s", off == 0 ? "offset 0" : "a NULL argument");
    /* The same freshness rule as ofa_ptr: a suspect page is checked first. */
    i = map_find(a, off);
    if (i < 0 || a->maps[i].suspect) {
        rc = ptr_slow(a, off, &i);
        if (rc == -ENOENT)
            return ofa__fail(rc, "arena %s: offset %llu: no live page holds it", a->name,
                             (unsigned long long)off);
        if (rc < 0)
            return rc;
    }
    e = &a->maps[i];
    /* Blocks never straddle pages: a range that leaves the page is not a
     * block's, and a view of it would fault past the mapping's end. */
    if (len > e->len - (off - e->base))
        return ofa__fail(-EINVAL, "arena %s: offset %llu: %llu bytes leave its page", a->name,
                         (unsigned long long)off, (unsigned long long)len);
    if (e->pin == NULL) {
        m = malloc(sizeof(*m));
        if (m == NULL)
            return ofa__fail(-ENOMEM, "ofa_pin: out of memory");
        atomic_init(&m->refs, 1); /* the table's */
        m->addr = e->addr;
        m->len = e->len;
        e->pin = m;
    }
    atomic_fetch_add_explicit(&e->pin->refs, 1, memory_order_relaxed);
    *pin = e->pin;
    *ptr = e->addr + (off - e->base);
    return 0;
}

void ofa_unpin(ofa_mapping *pin)
{
    if (pin != NULL)
        mapping_put(pin);
}

/* A block the daemon just gave us proves its page live. */
static void mark_live(struct ofa_arena *a, uint64_t off)
{
    long i = map_find(a, off);

    if (i >= 0)
        a->maps[i].suspect = 0;
}

/* After this process freed the blocks at offs[0..n): their pages may be
 * gone. A page of a length other than the arena's page size is released as
 * soon as it is empty (it holds one large block, as a rule), so it is
 * checked at once, one PAGES for the lot; standard pages are checked lazily. */
static void after_free(struct ofa_arena *a, const uint64_t *offs, size_t n)
{
    size_t k;
    long i;
    int odd = 0;

    for (k = 0; k < n; k++) {
        i = map_find(a, offs[k]);
        if (i < 0)
            continue;
        a->maps[i].suspect = 1;
        if (a->maps[i].len != a->page_size)
            odd = 1;
    }
    if (odd)
        trim(a);
}

int ofa_arena_open(ofa_client *c, const char *name, ofa_arena **out)
{
    struct proto_req req;
    struct proto_rep rep;
    struct ofa_arena *a;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (c == NULL || out == NULL)
        return -EINVAL;
    rc = ofa__name_check(name);
    if (rc < 0)
        return rc;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    a->cache = &ofa__cache_none;

    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_OPEN;
    req.u.open.name.ptr = name;
    req.u.open.name.len = (uint32_t)strlen(name);
    rc = ofa__call(c, &req, &rep, NULL);
    if (rc < 0) {
        ofa__fail_arena(c, rc, name);
        goto fail;
    }
    a->c = c;
    a->handle = rep.u.open.arena;
    a->writable = rep.u.open.writable != 0;
    a->align = rep.u.open.align;
    a->page_size = rep.u.open.page_size;
    a->max_bytes = rep.u.open.max_bytes;
    memcpy(a->name, name, req.u.open.name.len + 1);
    if (a->writable) {
        /* Only a connection error fails here; without a cache the daemon
         * path serves every call. */
        rc = ofa__cache_open(a);
        if (rc < 0)
            goto fail;
    }
    a->next = c->arenas;
    if (c->arenas != NULL)
        c->arenas->prev = a;
    c->arenas = a;
    *out = a;
    return 0;

fail:
    free(a);
    return rc;
}

void ofa_arena_close(ofa_arena *a)
{
    struct proto_req req;
    struct proto_rep rep;
    struct ofa_client *c;

    if (a == NULL)
        return;
    c = a->c;
    /* Failure is harmless: a connection that is gone has no handles. */
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_CLOSE;
    req.u.close.arena = a->handle;
    ofa__call(c, &req, &rep, NULL);
    ofa__cache_drop(a);
    unmap_all(a);
    if (a->prev != NULL)
        a->prev->next = a->next;
    else
        c->arenas = a->next;
    if (a->next != NULL)
        a->next->prev = a->prev;
    free(a);
}

void ofa_disconnect(ofa_client *c)
{
    struct ofa_arena *a, *next;

    if (c == NULL)
        return;
    for (a = c->arenas; a != NULL; a = next) {
        next = a->next;
        ofa__cache_drop(a);
        unmap_all(a);
        free(a);
    }
    c->arenas = NULL;
    if (c->waitc != NULL) {
        ofa_disconnect(c->waitc); /* ofa_lookup_wait's connection */
        c->waitc = NULL;
    }
    ofa__conn_close(c);
}

const char *ofa_arena_name(const ofa_arena *a)
{
    return a != NULL ? a->name : NULL;
}

int ofa_arena_writable(const ofa_arena *a)
{
    return a != NULL && a->writable;
}

#define FLAGS (OFA_KEEP | OFA_ZERO | OFA_PRIVATE | OFA_SHARED)

/* OFA_ZERO: clears the count blocks at offs through our mapping; when a
 * page cannot be mapped here, frees them all (all or none) and returns
 * -ENOMEM with offs zeroed. */
static int zero_blocks(struct ofa_arena *a, uint64_t *offs, size_t count, uint64_t size)
{
    size_t i;
    void *p;

    for (i = 0; i < count; i++) {
        p = ofa_ptr(a, offs[i]);
        if (p == NULL)
            break;
        memset(p, 0, (size_t)size);
    }
    if (i == count)
        return 0;
    /* Best effort: if the connection is gone, so are the blocks. */
    ofa_free_many(a, offs, count);
    memset(offs, 0, count * sizeof(*offs));
    return -ENOMEM;
}

/* ALLOC (one block, many == 0) or ALLOC_N, from the cache when it takes
 * the request, then OFA_ZERO's clearing. */
static int alloc_n(struct ofa_arena *a, uint64_t size, uint64_t align, unsigned flags, size_t count,
                   uint64_t *offs, int many)
{
    struct proto_req req;
    struct proto_rep rep;
    int retried = 0;
    size_t i;
    int rc;

    if (a == NULL || offs == NULL || (flags & ~FLAGS) != 0 || (align & (align - 1)) != 0 ||
        count == 0 || count > PROTO_MAX_BATCH)
        return -EINVAL;
    if ((flags & OFA_PRIVATE) && (flags & (OFA_KEEP | OFA_SHARED)))
        return -EINVAL;
    /* Clearing writes through our mapping: refuse before allocating. */
    if ((flags & OFA_ZERO) && !a->writable)
        return -EACCES;
    rc = ofa__cache_alloc(a, size, align, flags, (uint32_t)count, offs);
    if (rc == 0)
        return flags & OFA_ZERO ? zero_blocks(a, offs, count, size) : 0;
    if (rc != 1)
        return rc;

again:
    /* The encoder reads only the fields of the request's op: no memset of
     * the whole union on this path. */
    req.op = many ? PROTO_OP_ALLOC_N : PROTO_OP_ALLOC;
    req.u.alloc.arena = a->handle;
    req.u.alloc.size = size;
    req.u.alloc.align = align;
    /* The wire flags have the values of the OFA_ ones, OFA_ZERO aside. */
    req.u.alloc.flags = flags & (OFA_KEEP | OFA_PRIVATE | OFA_SHARED);
    req.u.alloc.count = (uint32_t)count;
    rc = ofa__call(a->c, &req, &rep, NULL);
    if (rc == -ENOMEM && !retried && ofa__cache_room(a)) {
        /* Our own cache may be what the arena lacks. */
        retried = 1;
        goto again;
    }
    if (rc < 0) {
        if (a->c->broken == 0)
            ofa__fail(rc, "arena %s: allocating %zu block(s) of %llu bytes: %s", a->name, count,
                      (unsigned long long)size, ofa_strerror(rc));
        return rc;
    }
    if (many) {
        if (rep.u.list.count != count) {
            ofa__broken(a->c, -EPROTO);
            return -EPROTO;
        }
        memcpy(offs, rep.u.list.offs, count * sizeof(*offs));
    } else {
        offs[0] = rep.u.alloc.off;
    }
    for (i = 0; i < count; i++) {
        if (offs[i] == 0) {
            ofa__broken(a->c, -EPROTO);
            return -EPROTO;
        }
        mark_live(a, offs[i]);
    }
    return flags & OFA_ZERO ? zero_blocks(a, offs, count, size) : 0;
}

/* What the cached paths below decline: the full way, out of line so
 * that they need no stack frame of their own. */
static __attribute__((noinline)) int alloc_one(struct ofa_arena *a, uint64_t size, uint64_t align,
                                               unsigned flags, uint64_t *off)
{
    return alloc_n(a, size, align, flags, 1, off, 0);
}

static __attribute__((noinline)) int free_one(struct ofa_arena *a, uint64_t off)
{
    struct proto_req req;
    struct proto_rep rep;
    int rc;

    if (a == NULL)
        return -EINVAL;
    rc = ofa__cache_free(a, off);
    if (rc != 1)
        return rc;
    req.op = PROTO_OP_FREE; /* the encoder reads only FREE's fields */
    req.u.free.arena = a->handle;
    req.u.free.off = off;
    rc = ofa__call(a->c, &req, &rep, NULL);
    if (rc < 0) {
        if (a->c->broken == 0)
            ofa__fail(rc, "arena %s: offset %llu: %s", a->name, (unsigned long long)off,
                      ofa_strerror(rc));
        return rc;
    }
    after_free(a, &off, 1);
    return 0;
}

/*
 * The cached paths: a private block of the arena's alignment from a class
 * that holds one, or its free, is ofa__cache_take or ofa__cache_put
 * (cache.h) inlined here, with only the tests they cannot do before them;
 * everything else (and anything they decline) goes the full way.
 */
int ofa_alloc(ofa_arena *a, uint64_t size, uint64_t *off)
{
    if (__builtin_expect(a == NULL, 0) || __builtin_expect(off == NULL, 0))
        return -EINVAL;
    if (a->cache->dflt != 0 && ofa__cache_take(a->cache, size, off) == 0)
        return 0;
    return alloc_one(a, size, 0, 0, off);
}

int ofa_alloc_ex(ofa_arena *a, uint64_t size, uint64_t align, unsigned flags, uint64_t *off)
{
    if (__builtin_expect(a == NULL, 0) || __builtin_expect(off == NULL, 0))
        return -EINVAL;
    if (align == 0 && (flags | a->cache->dflt) == OFA_PRIVATE &&
        ofa__cache_take(a->cache, size, off) == 0)
        return 0;
    return alloc_one(a, size, align, flags, off);
}

int ofa_alloc_many(ofa_arena *a, uint64_t size, uint64_t align, unsigned flags, size_t count,
                   uint64_t *offs)
{
    return alloc_n(a, size, align, flags, count, offs, 1);
}

int ofa_free(ofa_arena *a, uint64_t off)
{
    if (__builtin_expect(a != NULL, 1) && ofa__cache_put(a->cache, off) == 0)
        return 0;
    return free_one(a, off);
}

/* FREE_N in requests that fit the daemon's message limit (one, unless the
 * daemon runs with a limit below the default), stopping at the first
 * offset that is not a live block. Returns the number freed or an error. */
static int free_n(struct ofa_arena *a, const uint64_t *offs, size_t count)
{
    struct proto_req req;
    struct proto_rep rep;
    size_t done = 0, n, k, fit = proto_batch_fit(a->c->max_send);
    int rc;

    if (fit == 0)
        fit = 1;
    while (done < count) {
        n = count - done < fit ? count - done : fit;
        memset(&req, 0, sizeof(req));
        req.op = PROTO_OP_FREE_N;
        req.u.free_n.arena = a->handle;
        req.u.free_n.offs = offs + done;
        req.u.free_n.count = (uint32_t)n;
        memset(&rep, 0, sizeof(rep));
        rc = ofa__call(a->c, &req, &rep, NULL);
        /* -EINVAL from the daemon: it stopped at the first offset that is
         * not a live block, and says how many went before it. */
        if (rc < 0 && (rc != -EINVAL || rep.op != PROTO_OP_FREE_N))
            return done > 0 ? (int)done : rc;
        k = rc == 0 ? n : rep.u.list.count;
        if (k > n || rep.u.list.count > n || (rc == 0 && rep.u.list.count != n)) {
            ofa__broken(a->c, -EPROTO);
            return -EPROTO;
        }
        after_free(a, offs + done, k);
        done += k;
        if (rc < 0)
            break;
    }
    return (int)done;
}

int ofa_free_many(ofa_arena *a, const uint64_t *offs, size_t count)
{
    size_t done = 0, run;
    int rc;

    if (a == NULL || (offs == NULL && count > 0) || count > PROTO_MAX_BATCH)
        return -EINVAL;
    /* The cache's blocks stay here; runs of the others go in one FREE_N
     * each, in order, stopping at the first failure as a whole FREE_N would. */
    while (done < count && a->cache != &ofa__cache_none) {
        if (ofa__cache_put(a->cache, offs[done]) == 0) {
            done++;
            continue;
        }
        rc = ofa__cache_free(a, offs[done]);
        if (rc == 0) {
            done++;
            continue;
        }
        if (rc == -EINVAL)
            return (int)done; /* a second free: stop there, as FREE_N does */
        if (rc < 0)
            return done > 0 ? (int)done : rc;
        for (run = 1; done + run < count; run++)
            if (a->cache == &ofa__cache_none || ofa__cache_owns(a, offs[done + run]))
                break;
        rc = free_n(a, offs + done, run);
        if (rc < 0)
            return done > 0 ? (int)done : rc;
        done += (size_t)rc;
        if ((size_t)rc < run)
            return (int)done;
    }
    if (done == count)
        return (int)done;
    rc = free_n(a, offs + done, count - done);
    if (rc < 0)
        return done > 0 ? (int)done : rc;
    return (int)(done + (size_t)rc);
}

int ofa_stats(ofa_arena *a, ofa_arena_stats *out)
{
    ofa_arena_info info;
    int rc;

    if (a == NULL || out == NULL)
        return -EINVAL;
    rc = ofa_arena_info_get(a->c, a->name, &info);
    if (rc < 0)
        return rc;
    *out = info.stats;
    return 0;
}

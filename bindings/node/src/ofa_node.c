/*
 * ofa_node.c - the native half of the Node.js package: libofaclient on
 * Node-API, so one build of ofa.node loads in every Node.js release that
 * has Node-API version 8 (Node.js 12.22 and later).
 *
 * What it owns. Connections and arena handles, each behind a JS external
 * whose finalizer closes what the user forgot to close; and page pins
 * (ofa_pin) behind external ArrayBuffers. index.js shapes these functions
 * into the classes users see; nothing here knows about options objects.
 *
 * Views. A view's bytes are a pinned mapping (ofa_pin), and the ArrayBuffer's
 * finalizer drops the pin (ofa_unpin, which is safe on any thread and after
 * the connection is gone). So a view never points at unmapped memory, even
 * after free, close or the daemon releasing its page: the process cannot
 * fault through a view. A read-only handle's pages are mapped without write
 * access and JS has no read-only ArrayBuffer, so a view of one would kill
 * the process on its first write: such views are copies.
 *
 * Wake-ups. wait and waitAsync pin the word's page under the mutex, then
 * wait on the pinned address (ofa_wait_addr) without it: a long wait on the
 * thread pool never holds the connection, so the JS thread's calls go on.
 *
 * Named blocks. lookupWait waits on the thread pool on a connection of its
 * own (the socket path is kept for it), so the wait shares nothing with the
 * JS thread's connection and holds no mutex.
 *
 * Threads. libofaclient serves one thread at a time per connection.
 * allocAsync runs on the libuv thread pool, so every call on a connection
 * holds the connection's mutex (uncontended: tens of nanoseconds); a sync
 * call made while an async one is in flight waits for it.
 *
 * Lifetimes. struct nclient lives while its JS external or any arena opened
 * on it lives (refs; touched on the JS thread only: finalizers and async
 * completions run there). Closing a connection closes its arenas (libofaclient
 * does it), so their handles are cleared under the mutex first. Pending
 * async work holds a reference to its arena's external, so the arena (and
 * through it the connection) outlives the work.
 */
#define NAPI_VERSION 8
#include <errno.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ofaclient.h"

struct narena;

struct nclient {
    pthread_mutex_t lock;  /* held around every libofaclient call */
    ofa_client *c;         /* NULL once closed */
    char *path;            /* the socket path asked for, NULL for the default */
    unsigned refs;         /* the external's, plus one per arena struct */
    struct narena *arenas; /* open or not, until finalized */
};

struct narena {
    struct nclient *nc;
    ofa_arena *a; /* NULL once closed, by itself or with its connection */
    int writable;
    struct narena *prev, *next;
};

#define MAX_ARGS 8

/* ---- errors ---- */

/* An Error whose code is the errno's name and errno the errno; the message
 * is detail (ofa_errmsg() of the failed call) or else the errno's sentence. */
static napi_value make_error_msg(napi_env env, const char *what, int rc, const char *detail)
{
    napi_value err, code, msg, num;
    char text[512];

    snprintf(text, sizeof(text), "%s: %s", what, detail != NULL ? detail : ofa_strerror(rc));
    napi_create_string_utf8(env, ofa_err_name(rc), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &err);
    napi_create_int32(env, rc < 0 ? -rc : rc, &num);
    napi_set_named_property(env, err, "errno", num);
    return err;
}

static napi_value make_error(napi_env env, const char *what, int rc)
{
    return make_error_msg(env, what, rc, NULL);
}

static napi_value throw_msg(napi_env env, const char *what, int rc, const char *detail)
{
    bool pending = false;

    napi_is_exception_pending(env, &pending);
    if (!pending)
        napi_throw(env, make_error_msg(env, what, rc, detail));
    return NULL;
}

/* An error this file found (a closed handle, a bad argument). */
static napi_value throw_rc(napi_env env, const char *what, int rc)
{
    return throw_msg(env, what, rc, NULL);
}

/* An error libofaclient returned just now, on this thread: its message
 * says more than the errno (which arena, which offset, which socket). */
static napi_value throw_lib(napi_env env, const char *what, int rc)
{
    return throw_msg(env, what, rc, ofa_errmsg());
}

/* A bad argument type: a TypeError with code EINVAL, like every other
 * invalid argument. */
static napi_value throw_type(napi_env env, const char *msg)
{
    napi_value err, code, text, num;

    napi_create_string_utf8(env, "EINVAL", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
    napi_create_type_error(env, code, text, &err);
    napi_create_int32(env, EINVAL, &num);
    napi_set_named_property(env, err, "errno", num);
    napi_throw(env, err);
    return NULL;
}

/* ---- arguments ---- */

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
    size_t argc = MAX_ARGS;

    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
        return -1;
    for (; argc < want; argc++)
        napi_get_undefined(env, &argv[argc]);
    return 0;
}

/* A non-negative integer given as a BigInt or a Number. */
static int get_u64(napi_env env, napi_value v, uint64_t *out)
{
    napi_valuetype t;
    bool lossless;
    double d;

    napi_typeof(env, v, &t);
    if (t == napi_bigint) {
        if (napi_get_value_bigint_uint64(env, v, out, &lossless) != napi_ok || !lossless)
            return -1;
        return 0;
    }
    if (t != napi_number || napi_get_value_double(env, v, &d) != napi_ok)
        return -1;
    if (!(d >= 0 && d <= 9007199254740991.0) || d != (double)(uint64_t)d)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out)
{
    uint64_t x;

    if (get_u64(env, v, &x) < 0 || x > UINT32_MAX)
        return -1;
    *out = (uint32_t)x;
    return 0;
}

/* A string argument into buf; -1 if not a string or too long. */
static int get_str(napi_env env, napi_value v, char *buf, size_t cap)
{
    size_t n;

    if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok || n + 1 > cap)
        return -1;
    napi_get_value_string_utf8(env, v, buf, cap, &n);
    return 0;
}

static void *get_external(napi_env env, napi_value v)
{
    void *p = NULL;

    if (napi_get_value_external(env, v, &p) != napi_ok)
        return NULL;
    return p;
}

/* The open connection behind argv[0], locked; NULL after throwing. */
static struct nclient *client_lock(napi_env env, napi_value v)
{
    struct nclient *nc = get_external(env, v);

    if (nc == NULL) {
        throw_type(env, "not a connection");
        return NULL;
    }
    pthread_mutex_lock(&nc->lock);
    if (nc->c == NULL) {
        pthread_mutex_unlock(&nc->lock);
        throw_rc(env, "connection", -ENOTCONN);
        return NULL;
    }
    return nc;
}

/* The open arena behind v, its connection locked; NULL after throwing. */
static struct narena *arena_lock(napi_env env, napi_value v)
{
    struct narena *na = get_external(env, v);

    if (na == NULL) {
        throw_type(env, "not an arena");
        return NULL;
    }
    pthread_mutex_lock(&na->nc->lock);
    if (na->a == NULL) {
        pthread_mutex_unlock(&na->nc->lock);
        throw_rc(env, "arena", -EBADF);
        return NULL;
    }
    return na;
}

static void unlock(struct nclient *nc)
{
    pthread_mutex_unlock(&nc->lock);
}

/* ---- results ---- */

static void set_num(napi_env env, napi_value obj, const char *key, double v)
{
    napi_value x;

    napi_create_double(env, v, &x);
    napi_set_named_property(env, obj, key, x);
}

static void set_str(napi_env env, napi_value obj, const char *key, const char *v)
{
    napi_value x;

    napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &x);
    napi_set_named_property(env, obj, key, x);
}

static napi_value stats_object(napi_env env, const ofa_arena_stats *s)
{
    napi_value o;

    napi_create_object(env, &o);
    set_num(env, o, "pageSize", (double)s->page_size);
    set_num(env, o, "align", (double)s->align);
    set_num(env, o, "maxBytes", (double)s->max_bytes);
    set_num(env, o, "pages", (double)s->pages);
    set_num(env, o, "bytesReserved", (double)s->bytes_reserved);
    set_num(env, o, "bytesLive", (double)s->bytes_live);
    set_num(env, o, "blocksLive", (double)s->blocks_live);
    set_num(env, o, "freeChunks", (double)s->free_chunks);
    set_num(env, o, "largestFree", (double)s->largest_free);
    set_num(env, o, "allocs", (double)s->allocs);
    set_num(env, o, "frees", (double)s->frees);
    set_num(env, o, "allocFailures", (double)s->alloc_failures);
    set_num(env, o, "cacheMax", (double)s->cache_max);
    set_num(env, o, "blocksCached", (double)s->blocks_cached);
    set_num(env, o, "bytesCached", (double)s->bytes_cached);
    {
        napi_value b;
        napi_get_boolean(env, s->private_default != 0, &b);
        napi_set_named_property(env, o, "private", b);
    }
    return o;
}

static napi_value info_object(napi_env env, const ofa_arena_info *info)
{
    napi_value o = stats_object(env, &info->stats), b;

    set_str(env, o, "name", info->name);
    set_num(env, o, "uid", info->uid);
    set_num(env, o, "gid", info->gid);
    set_num(env, o, "mode", info->mode);
    napi_get_boolean(env, info->stats.page_size != 0, &b);
    napi_set_named_property(env, o, "readable", b);
    return o;
}

/* ---- connections ---- */

static void client_release(struct nclient *nc)
{
    if (--nc->refs > 0)
        return;
    pthread_mutex_destroy(&nc->lock);
    free(nc->path);
    free(nc);
}

/* Closes the connection (its arenas with it). Caller holds the lock. */
static void client_close_locked(struct nclient *nc)
{
    struct narena *na;

    if (nc->c == NULL)
        return;
    for (na = nc->arenas; na != NULL; na = na->next)
        na->a = NULL;
    ofa_disconnect(nc->c);
    nc->c = NULL;
}

static void client_finalize(napi_env env, void *data, void *hint)
{
    struct nclient *nc = data;

    (void)env;
    (void)hint;
    pthread_mutex_lock(&nc->lock);
    client_close_locked(nc);
    pthread_mutex_unlock(&nc->lock);
    client_release(nc);
}

/* connect(path?) -> external */
static napi_value js_connect(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], ext;
    napi_valuetype t;
    struct nclient *nc;
    char path[4096];
    ofa_client *c;
    int rc;

    if (get_args(env, info, 1, argv) < 0)
        return NULL;
    napi_typeof(env, argv[0], &t);
    if (t != napi_undefined && t != napi_null && get_str(env, argv[0], path, sizeof(path)) < 0)
        return throw_type(env, "the socket path must be a string");
    rc = ofa_connect(t == napi_string ? path : NULL, &c);
    if (rc < 0)
        return throw_lib(env, "connect", rc);
    nc = calloc(1, sizeof(*nc));
    if (nc == NULL) {
        ofa_disconnect(c);
        return throw_rc(env, "connect", -ENOMEM);
    }
    pthread_mutex_init(&nc->lock, NULL);
    nc->c = c;
    if (t == napi_string && (nc->path = strdup(path)) == NULL) {
        client_finalize(env, nc, NULL);
        return throw_rc(env, "connect", -ENOMEM);
    }
    nc->refs = 1;
    if (napi_create_external(env, nc, client_finalize, NULL, &ext) != napi_ok) {
        client_finalize(env, nc, NULL);
        return NULL;
    }
    return ext;
}

static napi_value js_client_close(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    struct nclient *nc;

    if (get_args(env, info, 1, argv) < 0)
        return NULL;
    nc = get_external(env, argv[0]);
    if (nc == NULL)
        return throw_type(env, "not a connection");
    pthread_mutex_lock(&nc->lock);
    client_close_locked(nc);
    pthread_mutex_unlock(&nc->lock);
    return NULL;
}

static napi_value js_ping(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    struct nclient *nc;
    int rc;

    if (get_args(env, info, 1, argv) < 0 || (nc = client_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_ping(nc->c);
    unlock(nc);
    return rc < 0 ? throw_lib(env, "ping", rc) : NULL;
}

static napi_value js_server_version(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], s;
    struct nclient *nc;

    if (get_args(env, info, 1, argv) < 0 || (nc = client_lock(env, argv[0])) == NULL)
        return NULL;
    napi_create_string_utf8(env, ofa_server_version(nc->c), NAPI_AUTO_LENGTH, &s);
    unlock(nc);
    return s;
}

/* setTimeout(c, ms): the deadline of each later call; 0: none */
static napi_value js_set_timeout(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    struct nclient *nc;
    uint32_t ms;
    int rc;

    if (get_args(env, info, 2, argv) < 0)
        return NULL;
    if (get_u32(env, argv[1], &ms) < 0)
        return throw_type(env, "setTimeout: milliseconds, a non-negative integer");
    if ((nc = client_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_set_timeout(nc->c, ms);
    unlock(nc);
    return rc < 0 ? throw_lib(env, "setTimeout", rc) : NULL;
}

/* createArena(c, name, pageSize, maxBytes, align, mode, private, cacheMax) */
static napi_value js_create_arena(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    ofa_arena_config cfg;
    struct nclient *nc;
    char name[256];
    int rc;

    if (get_args(env, info, 8, argv) < 0)
        return NULL;
    memset(&cfg, 0, sizeof(cfg));
    if (get_str(env, argv[1], name, sizeof(name)) < 0)
        return throw_rc(env, "createArena", -EINVAL);
    if (get_u64(env, argv[2], &cfg.page_size) < 0 || get_u64(env, argv[3], &cfg.max_bytes) < 0 ||
        get_u32(env, argv[4], &cfg.align) < 0 || get_u32(env, argv[5], &cfg.mode) < 0 ||
        get_u32(env, argv[6], &cfg.private_default) < 0 || cfg.private_default > 1 ||
        get_u64(env, argv[7], &cfg.cache_max) < 0)
        return throw_type(env, "createArena: sizes, align and mode are non-negative integers");
    if ((nc = client_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_arena_create(nc->c, name, &cfg);
    unlock(nc);
    return rc < 0 ? throw_lib(env, "createArena", rc) : NULL;
}

/* dropArena(c, name, force) */
static napi_value js_drop_arena(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    struct nclient *nc;
    char name[256];
    bool force = false;
    int rc;

    if (get_args(env, info, 3, argv) < 0)
        return NULL;
    if (get_str(env, argv[1], name, sizeof(name)) < 0)
        return throw_rc(env, "dropArena", -EINVAL);
    napi_get_value_bool(env, argv[2], &force);
    if ((nc = client_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_arena_drop(nc->c, name, force);
    unlock(nc);
    return rc < 0 ? throw_lib(env, "dropArena", rc) : NULL;
}

/* arenas(c) -> [record] */
static napi_value js_arenas(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], arr;
    ofa_arena_info *list = NULL;
    struct nclient *nc;
    size_t i, n = 0;
    int rc;

    if (get_args(env, info, 1, argv) < 0 || (nc = client_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_arena_list(nc->c, &list, &n);
    unlock(nc);
    if (rc < 0)
        return throw_lib(env, "arenas", rc);
    napi_create_array_with_length(env, n, &arr);
    for (i = 0; i < n; i++)
        napi_set_element(env, arr, (uint32_t)i, info_object(env, &list[i]));
    free(list);
    return arr;
}

/* arenaInfo(c, name) -> record */
static napi_value js_arena_info(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    ofa_arena_info rec;
    struct nclient *nc;
    char name[256];
    int rc;

    if (get_args(env, info, 2, argv) < 0)
        return NULL;
    if (get_str(env, argv[1], name, sizeof(name)) < 0)
        return throw_rc(env, "arenaInfo", -EINVAL);
    if ((nc = client_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_arena_info_get(nc->c, name, &rec);
    unlock(nc);
    return rc < 0 ? throw_lib(env, "arenaInfo", rc) : info_object(env, &rec);
}

/* daemonStats(c) -> record */
static napi_value js_daemon_stats(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], o;
    ofa_daemon_info d;
    struct nclient *nc;
    int rc;

    if (get_args(env, info, 1, argv) < 0 || (nc = client_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_daemon_stats(nc->c, &d);
    unlock(nc);
    if (rc < 0)
        return throw_lib(env, "daemonStats", rc);
    napi_create_object(env, &o);
    set_str(env, o, "version", d.version);
    set_num(env, o, "uptimeS", (double)d.uptime_s);
    set_num(env, o, "clients", (double)d.clients);
    set_num(env, o, "arenas", (double)d.arenas);
    set_num(env, o, "bytesReserved", (double)d.bytes_reserved);
    set_num(env, o, "bytesLimit", (double)d.bytes_limit);
    set_num(env, o, "pid", (double)d.pid);
    return o;
}

/* ---- arenas ---- */

static void arena_finalize(napi_env env, void *data, void *hint)
{
    struct narena *na = data;
    struct nclient *nc = na->nc;

    (void)env;
    (void)hint;
    pthread_mutex_lock(&nc->lock);
    if (na->a != NULL)
        ofa_arena_close(na->a);
    if (na->prev != NULL)
        na->prev->next = na->next;
    else
        nc->arenas = na->next;
    if (na->next != NULL)
        na->next->prev = na->prev;
    pthread_mutex_unlock(&nc->lock);
    free(na);
    client_release(nc);
}

/* openArena(c, name) -> external */
static napi_value js_open_arena(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], ext;
    struct nclient *nc;
    struct narena *na;
    char name[256];
    ofa_arena *a;
    int rc;

    if (get_args(env, info, 2, argv) < 0)
        return NULL;
    if (get_str(env, argv[1], name, sizeof(name)) < 0)
        return throw_rc(env, "openArena", -EINVAL);
    na = calloc(1, sizeof(*na));
    if (na == NULL)
        return throw_rc(env, "openArena", -ENOMEM);
    if ((nc = client_lock(env, argv[0])) == NULL) {
        free(na);
        return NULL;
    }
    rc = ofa_arena_open(nc->c, name, &a);
    if (rc < 0) {
        unlock(nc);
        free(na);
        return throw_lib(env, "openArena", rc);
    }
    na->nc = nc;
    na->a = a;
    na->writable = ofa_arena_writable(a);
    na->next = nc->arenas;
    if (nc->arenas != NULL)
        nc->arenas->prev = na;
    nc->arenas = na;
    nc->refs++;
    unlock(nc);
    if (napi_create_external(env, na, arena_finalize, NULL, &ext) != napi_ok) {
        arena_finalize(env, na, NULL);
        return NULL;
    }
    return ext;
}

static napi_value js_arena_close(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    struct narena *na;

    if (get_args(env, info, 1, argv) < 0)
        return NULL;
    na = get_external(env, argv[0]);
    if (na == NULL)
        return throw_type(env, "not an arena");
    pthread_mutex_lock(&na->nc->lock);
    if (na->a != NULL)
        ofa_arena_close(na->a);
    na->a = NULL;
    pthread_mutex_unlock(&na->nc->lock);
    return NULL;
}

static napi_value js_writable(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], b;
    struct narena *na;

    if (get_args(env, info, 1, argv) < 0)
        return NULL;
    na = get_external(env, argv[0]);
    if (na == NULL)
        return throw_type(env, "not an arena");
    napi_get_boolean(env, na->writable, &b);
    return b;
}

/* Size, align and flags of alloc(a, size, align, flags) and allocAsync. */
static int alloc_args(napi_env env, napi_value *argv, uint64_t *size, uint64_t *align,
                      uint32_t *flags)
{
    if (get_u64(env, argv[0], size) < 0 || get_u64(env, argv[1], align) < 0 ||
        get_u32(env, argv[2], flags) < 0) {
        throw_type(env, "alloc: size and align are non-negative integers");
        return -1;
    }
    return 0;
}

/* alloc(a, size, align, flags) -> BigInt */
static napi_value js_alloc(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], r;
    struct narena *na;
    uint64_t size, align, off = 0;
    uint32_t flags;
    int rc;

    if (get_args(env, info, 4, argv) < 0 || alloc_args(env, argv + 1, &size, &align, &flags) < 0)
        return NULL;
    if ((na = arena_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_alloc_ex(na->a, size, align, flags, &off);
    unlock(na->nc);
    if (rc < 0)
        return throw_lib(env, "alloc", rc);
    napi_create_bigint_uint64(env, off, &r);
    return r;
}

struct alloc_work {
    napi_async_work work;
    napi_deferred deferred;
    napi_ref arena; /* keeps the arena's external (and its connection) alive */
    struct narena *na;
    uint64_t size, align, off;
    uint32_t flags;
    int rc;
    char msg[256]; /* ofa_errmsg() of the pool thread's failed call */
};

/* On a pool thread: the blocking call, under the connection's mutex. */
static void alloc_execute(napi_env env, void *data)
{
    struct alloc_work *w = data;
    struct nclient *nc = w->na->nc;

    (void)env;
    pthread_mutex_lock(&nc->lock);
    if (w->na->a == NULL) {
        w->rc = -EBADF;
    } else {
        w->rc = ofa_alloc_ex(w->na->a, w->size, w->align, w->flags, &w->off);
        if (w->rc < 0)
            snprintf(w->msg, sizeof(w->msg), "%s", ofa_errmsg());
    }
    pthread_mutex_unlock(&nc->lock);
}

static void alloc_complete(napi_env env, napi_status status, void *data)
{
    struct alloc_work *w = data;
    napi_value r;

    if (status != napi_ok && w->rc == 0)
        w->rc = -ECANCELED;
    if (w->rc < 0) {
        napi_reject_deferred(env, w->deferred,
                             make_error_msg(env, "allocAsync", w->rc, w->msg[0] ? w->msg : NULL));
    } else {
        napi_create_bigint_uint64(env, w->off, &r);
        napi_resolve_deferred(env, w->deferred, r);
    }
    napi_delete_reference(env, w->arena);
    napi_delete_async_work(env, w->work);
    free(w);
}

/* allocAsync(a, size, align, flags) -> Promise<BigInt> */
static napi_value js_alloc_async(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], promise, name;
    struct alloc_work *w;
    struct narena *na;

    if (get_args(env, info, 4, argv) < 0)
        return NULL;
    na = get_external(env, argv[0]);
    if (na == NULL)
        return throw_type(env, "not an arena");
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return throw_rc(env, "allocAsync", -ENOMEM);
    w->na = na;
    if (alloc_args(env, argv + 1, &w->size, &w->align, &w->flags) < 0)
        goto fail;
    napi_create_string_utf8(env, "ofa.allocAsync", NAPI_AUTO_LENGTH, &name);
    if (napi_create_promise(env, &w->deferred, &promise) != napi_ok)
        goto fail;
    napi_create_reference(env, argv[0], 1, &w->arena);
    napi_create_async_work(env, NULL, name, alloc_execute, alloc_complete, w, &w->work);
    napi_queue_async_work(env, w->work);
    return promise;

fail:
    free(w);
    return NULL;
}

/* allocMany(a, size, count, align, flags) -> BigUint64Array */
static napi_value js_alloc_many(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], ab, arr;
    struct narena *na;
    uint64_t size, align, count;
    uint32_t flags;
    void *data;
    int rc;

    if (get_args(env, info, 5, argv) < 0)
        return NULL;
    if (get_u64(env, argv[1], &size) < 0 || get_u64(env, argv[2], &count) < 0 ||
        get_u64(env, argv[3], &align) < 0 || get_u32(env, argv[4], &flags) < 0)
        return throw_type(env, "allocMany: size, count and align are non-negative integers");
    /* libofaclient bounds count; this only keeps the buffer sane. */
    if (count == 0 || count > 65536)
        return throw_rc(env, "allocMany", -EINVAL);
    if (napi_create_arraybuffer(env, (size_t)count * 8, &data, &ab) != napi_ok)
        return NULL;
    if ((na = arena_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_alloc_many(na->a, size, align, flags, (size_t)count, data);
    unlock(na->nc);
    if (rc < 0)
        return throw_lib(env, "allocMany", rc);
    napi_create_typedarray(env, napi_biguint64_array, (size_t)count, ab, 0, &arr);
    return arr;
}

/* free(a, off) */
static napi_value js_free(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    struct narena *na;
    uint64_t off;
    int rc;

    if (get_args(env, info, 2, argv) < 0)
        return NULL;
    if (get_u64(env, argv[1], &off) < 0)
        return throw_type(env, "free: the offset is a non-negative integer or BigInt");
    if ((na = arena_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_free(na->a, off);
    unlock(na->nc);
    return rc < 0 ? throw_lib(env, "free", rc) : NULL;
}

/* freeMany(a, BigUint64Array) -> number freed */
static napi_value js_free_many(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], r;
    napi_typedarray_type t;
    struct narena *na;
    size_t n = 0;
    void *data = NULL;
    bool is_ta = false;
    int rc;

    if (get_args(env, info, 2, argv) < 0)
        return NULL;
    napi_is_typedarray(env, argv[1], &is_ta);
    if (!is_ta || napi_get_typedarray_info(env, argv[1], &t, &n, &data, NULL, NULL) != napi_ok ||
        t != napi_biguint64_array)
        return throw_type(env, "freeMany: offsets are a BigUint64Array");
    if ((na = arena_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_free_many(na->a, data, n);
    unlock(na->nc);
    if (rc < 0)
        return throw_lib(env, "freeMany", rc);
    napi_create_int32(env, rc, &r);
    return r;
}

static void unpin_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)data;
    ofa_unpin(hint);
}

/* pin(a, off, byteLength) -> ArrayBuffer over the bytes (a copy for a
 * read-only handle) */
static napi_value js_pin(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], ab;
    ofa_mapping *pin;
    struct narena *na;
    uint64_t off, len;
    void *p, *copy;
    int rc, writable;

    if (get_args(env, info, 3, argv) < 0)
        return NULL;
    if (get_u64(env, argv[1], &off) < 0 || get_u64(env, argv[2], &len) < 0)
        return throw_type(env, "view: the offset and length are non-negative integers");
    if (len > SIZE_MAX / 2)
        return throw_rc(env, "view", -EINVAL);
    if ((na = arena_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_pin(na->a, off, len, &pin, &p);
    writable = na->writable;
    unlock(na->nc);
    if (rc < 0)
        return throw_lib(env, "view", rc);
    if (!writable || len == 0) {
        rc = napi_create_arraybuffer(env, (size_t)len, &copy, &ab) == napi_ok ? 0 : -1;
        if (rc == 0 && len > 0)
            memcpy(copy, p, (size_t)len);
        ofa_unpin(pin);
        return rc == 0 ? ab : NULL;
    }
    if (napi_create_external_arraybuffer(env, p, (size_t)len, unpin_finalize, pin, &ab) != napi_ok) {
        ofa_unpin(pin);
        return NULL;
    }
    return ab;
}

static napi_value js_stats(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    ofa_arena_stats s;
    struct narena *na;
    int rc;

    if (get_args(env, info, 1, argv) < 0 || (na = arena_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_stats(na->a, &s);
    unlock(na->nc);
    return rc < 0 ? throw_lib(env, "stats", rc) : stats_object(env, &s);
}

static napi_value js_trim(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], r;
    struct narena *na;
    int rc;

    if (get_args(env, info, 1, argv) < 0 || (na = arena_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_arena_trim(na->a);
    unlock(na->nc);
    if (rc < 0)
        return throw_lib(env, "trim", rc);
    napi_create_int32(env, rc, &r);
    return r;
}

/* blocks(c, arena, withFree) -> [{off, size, kind, pid, client}] in address
 * order: every part of the listing (ofa_block_list's cursor) */
static napi_value js_blocks(napi_env env, napi_callback_info info)
{
    static const char *const kinds[] = {"live", "kept", "free", "page"};
    napi_value argv[MAX_ARGS], arr, o, x;
    ofa_block_info *part;
    struct nclient *nc;
    char arena[256];
    uint64_t cursor = 0;
    uint32_t at = 0;
    size_t i, n;
    bool with_free = false;
    int rc;

    if (get_args(env, info, 3, argv) < 0)
        return NULL;
    if (get_str(env, argv[1], arena, sizeof(arena)) < 0)
        return throw_rc(env, "blocks", -EINVAL);
    napi_get_value_bool(env, argv[2], &with_free);
    napi_create_array(env, &arr);
    do {
        if ((nc = client_lock(env, argv[0])) == NULL)
            return NULL;
        rc = ofa_block_list(nc->c, arena, with_free ? OFA_BLOCKS_FREE : 0, &cursor, &part, &n);
        unlock(nc);
        if (rc < 0)
            return throw_lib(env, "blocks", rc);
        for (i = 0; i < n; i++) {
            napi_create_object(env, &o);
            napi_create_bigint_uint64(env, part[i].off, &x);
            napi_set_named_property(env, o, "off", x);
            set_num(env, o, "size", (double)part[i].size);
            set_str(env, o, "kind", part[i].kind < 4 ? kinds[part[i].kind] : "unknown");
            set_num(env, o, "pid", part[i].pid);
            set_num(env, o, "client", (double)part[i].client);
            napi_set_element(env, arr, at++, o);
        }
        free(part);
    } while (cursor != 0);
    return arr;
}

/* ---- wake-ups ---- */

/* An ofa_wait result as Atomics.wait words it. */
static napi_value wait_result(napi_env env, int rc)
{
    napi_value r;

    napi_create_string_utf8(env, rc == 0 ? "ok" : rc == -EAGAIN ? "not-equal" : "timed-out",
                            NAPI_AUTO_LENGTH, &r);
    return r;
}

/* The futex word at argv[1] of arena argv[0], pinned (the pin keeps it
 * mapped while the wait runs without the connection's mutex). */
static int pin_word(napi_env env, napi_value *argv, const char *what, ofa_mapping **pin, void **p)
{
    struct narena *na;
    uint64_t off;
    int rc;

    if (get_u64(env, argv[1], &off) < 0) {
        throw_type(env, "the offset is a non-negative integer or BigInt");
        return -1;
    }
    if (off % 4 != 0) {
        throw_rc(env, what, -EINVAL);
        return -1;
    }
    if ((na = arena_lock(env, argv[0])) == NULL)
        return -1;
    rc = ofa_pin(na->a, off, 4, pin, p);
    unlock(na->nc);
    if (rc < 0) {
        throw_lib(env, what, rc);
        return -1;
    }
    return 0;
}

/* A timeout in ms: undefined, negative or Infinity wait for ever (-1). */
static int get_timeout(napi_env env, napi_value v, int *ms)
{
    napi_valuetype t;
    double d;

    napi_typeof(env, v, &t);
    if (t == napi_undefined) {
        *ms = -1;
        return 0;
    }
    if (t != napi_number || napi_get_value_double(env, v, &d) != napi_ok || d != d)
        return -1;
    *ms = d < 0 || d > 2147483647.0 ? -1 : (int)d;
    return 0;
}

/* wait(a, off, expected, timeoutMs) -> "ok" | "not-equal" | "timed-out" */
static napi_value js_wait(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    ofa_mapping *pin;
    uint32_t expected;
    void *p;
    int ms, rc;

    if (get_args(env, info, 4, argv) < 0)
        return NULL;
    if (get_u32(env, argv[2], &expected) < 0 || get_timeout(env, argv[3], &ms) < 0)
        return throw_type(env, "wait: expected is a uint32, the timeout a number of ms");
    if (pin_word(env, argv, "wait", &pin, &p) < 0)
        return NULL;
    rc = ofa_wait_addr(p, expected, ms);
    ofa_unpin(pin);
    if (rc < 0 && rc != -EAGAIN && rc != -ETIMEDOUT)
        return throw_rc(env, "wait", rc);
    return wait_result(env, rc);
}

struct wait_work {
    napi_async_work work;
    napi_deferred deferred;
    ofa_mapping *pin;
    void *addr;
    uint32_t expected;
    int ms, rc;
};

/* On a pool thread: the futex wait, holding only the pin. */
static void wait_execute(napi_env env, void *data)
{
    struct wait_work *w = data;

    (void)env;
    w->rc = ofa_wait_addr(w->addr, w->expected, w->ms);
}

static void wait_complete(napi_env env, napi_status status, void *data)
{
    struct wait_work *w = data;

    if (status != napi_ok)
        w->rc = -ECANCELED;
    if (w->rc < 0 && w->rc != -EAGAIN && w->rc != -ETIMEDOUT)
        napi_reject_deferred(env, w->deferred, make_error(env, "waitAsync", w->rc));
    else
        napi_resolve_deferred(env, w->deferred, wait_result(env, w->rc));
    ofa_unpin(w->pin);
    napi_delete_async_work(env, w->work);
    free(w);
}

/* waitAsync(a, off, expected, timeoutMs) -> Promise of wait's result */
static napi_value js_wait_async(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], promise, name;
    struct wait_work *w;

    if (get_args(env, info, 4, argv) < 0)
        return NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return throw_rc(env, "waitAsync", -ENOMEM);
    if (get_u32(env, argv[2], &w->expected) < 0 || get_timeout(env, argv[3], &w->ms) < 0) {
        free(w);
        return throw_type(env, "waitAsync: expected is a uint32, the timeout a number of ms");
    }
    if (pin_word(env, argv, "waitAsync", &w->pin, &w->addr) < 0) {
        free(w);
        return NULL;
    }
    napi_create_string_utf8(env, "ofa.waitAsync", NAPI_AUTO_LENGTH, &name);
    if (napi_create_promise(env, &w->deferred, &promise) != napi_ok) {
        ofa_unpin(w->pin);
        free(w);
        return NULL;
    }
    napi_create_async_work(env, NULL, name, wait_execute, wait_complete, w, &w->work);
    napi_queue_async_work(env, w->work);
    return promise;
}

/* wake(a, off, count) -> number woken */
static napi_value js_wake(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], r;
    ofa_mapping *pin;
    uint32_t count;
    void *p;
    int rc;

    if (get_args(env, info, 3, argv) < 0)
        return NULL;
    if (get_u32(env, argv[2], &count) < 0)
        return throw_type(env, "wake: count is a non-negative integer");
    if (pin_word(env, argv, "wake", &pin, &p) < 0)
        return NULL;
    rc = ofa_wake_addr(p, count > INT32_MAX ? INT32_MAX : (int)count);
    ofa_unpin(pin);
    if (rc < 0)
        return throw_rc(env, "wake", rc);
    napi_create_int32(env, rc, &r);
    return r;
}

/* libraryVersion() -> "MAJOR.MINOR.PATCH" of the libofaclient loaded */
static napi_value js_library_version(napi_env env, napi_callback_info info)
{
    napi_value s;

    (void)info;
    napi_create_string_utf8(env, ofa_version_string(), NAPI_AUTO_LENGTH, &s);
    return s;
}

/* ---- named blocks ---- */

/* A block name argument into buf (names are at most 255 bytes). */
static int get_bname(napi_env env, napi_value v, char *buf, size_t cap)
{
    if (get_str(env, v, buf, cap) < 0) {
        throw_rc(env, "name", -EINVAL);
        return -1;
    }
    return 0;
}

/* allocNamed(a, name, size, excl) -> [off, created] */
static napi_value js_alloc_named(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], r, x;
    struct narena *na;
    char name[512];
    uint64_t size, off = 0;
    bool excl = false;
    int rc;

    if (get_args(env, info, 4, argv) < 0 || get_bname(env, argv[1], name, sizeof(name)) < 0)
        return NULL;
    if (get_u64(env, argv[2], &size) < 0)
        return throw_type(env, "allocNamed: size is a non-negative integer");
    napi_get_value_bool(env, argv[3], &excl);
    if ((na = arena_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_alloc_named(na->a, name, size, excl ? OFA_EXCL : 0, &off);
    unlock(na->nc);
    if (rc < 0)
        return throw_lib(env, "allocNamed", rc);
    napi_create_array_with_length(env, 2, &r);
    napi_create_bigint_uint64(env, off, &x);
    napi_set_element(env, r, 0, x);
    napi_get_boolean(env, rc == 1, &x);
    napi_set_element(env, r, 1, x);
    return r;
}

/* bindName(a, name, off) */
static napi_value js_bind_name(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    struct narena *na;
    char name[512];
    uint64_t off;
    int rc;

    if (get_args(env, info, 3, argv) < 0 || get_bname(env, argv[1], name, sizeof(name)) < 0)
        return NULL;
    if (get_u64(env, argv[2], &off) < 0)
        return throw_type(env, "bindName: the offset is a non-negative integer or BigInt");
    if ((na = arena_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_name_bind(na->a, name, off);
    unlock(na->nc);
    return rc < 0 ? throw_lib(env, "bindName", rc) : NULL;
}

/* unbindName(a, name) */
static napi_value js_unbind_name(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    struct narena *na;
    char name[512];
    int rc;

    if (get_args(env, info, 2, argv) < 0 || get_bname(env, argv[1], name, sizeof(name)) < 0)
        return NULL;
    if ((na = arena_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_name_unbind(na->a, name);
    unlock(na->nc);
    return rc < 0 ? throw_lib(env, "unbindName", rc) : NULL;
}

static napi_value block_object(napi_env env, uint64_t off, uint64_t size)
{
    napi_value o, x;

    napi_create_object(env, &o);
    napi_create_bigint_uint64(env, off, &x);
    napi_set_named_property(env, o, "off", x);
    set_num(env, o, "size", (double)size);
    return o;
}

/* lookup(a, name) -> {off, size} */
static napi_value js_lookup(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS];
    struct narena *na;
    char name[512];
    uint64_t off = 0, size = 0;
    int rc;

    if (get_args(env, info, 2, argv) < 0 || get_bname(env, argv[1], name, sizeof(name)) < 0)
        return NULL;
    if ((na = arena_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_lookup(na->a, name, &off, &size);
    unlock(na->nc);
    return rc < 0 ? throw_lib(env, "lookup", rc) : block_object(env, off, size);
}

/* blockSize(a, off) -> number */
static napi_value js_block_size(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], r;
    struct narena *na;
    uint64_t off, size = 0;
    int rc;

    if (get_args(env, info, 2, argv) < 0)
        return NULL;
    if (get_u64(env, argv[1], &off) < 0)
        return throw_type(env, "blockSize: the offset is a non-negative integer or BigInt");
    if ((na = arena_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_block_size(na->a, off, &size);
    unlock(na->nc);
    if (rc < 0)
        return throw_lib(env, "blockSize", rc);
    napi_create_double(env, (double)size, &r);
    return r;
}

struct lookup_work {
    napi_async_work work;
    napi_deferred deferred;
    char *path; /* NULL: the default socket */
    char arena[256], name[512];
    int ms, rc;
    uint64_t off, size;
    char msg[256];
};

/* On a pool thread: a connection of the wait's own (the arena's is the JS
 * thread's), the arena opened there, the wait, and the connection closed. */
static void lookup_execute(napi_env env, void *data)
{
    struct lookup_work *w = data;
    ofa_client *c = NULL;
    ofa_arena *a;

    (void)env;
    w->rc = ofa_connect(w->path, &c);
    if (w->rc == 0)
        w->rc = ofa_arena_open(c, w->arena, &a);
    if (w->rc == 0)
        w->rc = ofa_lookup_wait(a, w->name, w->ms, &w->off, &w->size);
    if (w->rc < 0)
        snprintf(w->msg, sizeof(w->msg), "%s", ofa_errmsg());
    ofa_disconnect(c);
}

static void lookup_complete(napi_env env, napi_status status, void *data)
{
    struct lookup_work *w = data;

    if (status != napi_ok && w->rc == 0)
        w->rc = -ECANCELED;
    if (w->rc < 0)
        napi_reject_deferred(env, w->deferred,
                             make_error_msg(env, "lookupWait", w->rc, w->msg[0] ? w->msg : NULL));
    else
        napi_resolve_deferred(env, w->deferred, block_object(env, w->off, w->size));
    napi_delete_async_work(env, w->work);
    free(w->path);
    free(w);
}

/* lookupWait(c, arenaName, name, timeoutMs) -> Promise<{off, size}> */
static napi_value js_lookup_wait(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], promise, rname;
    struct lookup_work *w;
    struct nclient *nc;

    if (get_args(env, info, 4, argv) < 0)
        return NULL;
    nc = get_external(env, argv[0]);
    if (nc == NULL)
        return throw_type(env, "not a connection");
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return throw_rc(env, "lookupWait", -ENOMEM);
    if (get_str(env, argv[1], w->arena, sizeof(w->arena)) < 0 ||
        get_str(env, argv[2], w->name, sizeof(w->name)) < 0) {
        free(w);
        return throw_rc(env, "lookupWait", -EINVAL);
    }
    if (get_timeout(env, argv[3], &w->ms) < 0) {
        free(w);
        return throw_type(env, "lookupWait: the timeout is a number of ms");
    }
    if (nc->path != NULL && (w->path = strdup(nc->path)) == NULL) {
        free(w);
        return throw_rc(env, "lookupWait", -ENOMEM);
    }
    napi_create_string_utf8(env, "ofa.lookupWait", NAPI_AUTO_LENGTH, &rname);
    if (napi_create_promise(env, &w->deferred, &promise) != napi_ok) {
        free(w->path);
        free(w);
        return NULL;
    }
    napi_create_async_work(env, NULL, rname, lookup_execute, lookup_complete, w, &w->work);
    napi_queue_async_work(env, w->work);
    return promise;
}

/* names(c, arena) -> [{name, off, size, uid, pid}] */
static napi_value js_names(napi_env env, napi_callback_info info)
{
    napi_value argv[MAX_ARGS], arr, o;
    ofa_name_info *list = NULL;
    struct nclient *nc;
    char arena[256];
    size_t i, n = 0;
    int rc;

    if (get_args(env, info, 2, argv) < 0)
        return NULL;
    if (get_str(env, argv[1], arena, sizeof(arena)) < 0)
        return throw_rc(env, "names", -EINVAL);
    if ((nc = client_lock(env, argv[0])) == NULL)
        return NULL;
    rc = ofa_name_list(nc->c, arena, &list, &n, NULL);
    unlock(nc);
    if (rc < 0)
        return throw_lib(env, "names", rc);
    napi_create_array_with_length(env, n, &arr);
    for (i = 0; i < n; i++) {
        o = block_object(env, list[i].off, list[i].size);
        set_str(env, o, "name", list[i].name);
        set_num(env, o, "uid", list[i].uid);
        set_num(env, o, "pid", list[i].pid);
        napi_set_element(env, arr, (uint32_t)i, o);
    }
    free(list);
    return arr;
}

/* ---- module ---- */

static void export_u32(napi_env env, napi_value exports, const char *name, uint32_t v)
{
    napi_value x;

    napi_create_uint32(env, v, &x);
    napi_set_named_property(env, exports, name, x);
}

NAPI_MODULE_INIT()
{
    static const struct {
        const char *name;
        napi_callback fn;
    } fns[] = {
        {"connect", js_connect},
        {"libraryVersion", js_library_version},
        {"clientClose", js_client_close},
        {"ping", js_ping},
        {"setTimeout", js_set_timeout},
        {"serverVersion", js_server_version},
        {"createArena", js_create_arena},
        {"dropArena", js_drop_arena},
        {"arenas", js_arenas},
        {"arenaInfo", js_arena_info},
        {"daemonStats", js_daemon_stats},
        {"blocks", js_blocks},
        {"openArena", js_open_arena},
        {"arenaClose", js_arena_close},
        {"writable", js_writable},
        {"alloc", js_alloc},
        {"allocAsync", js_alloc_async},
        {"allocMany", js_alloc_many},
        {"free", js_free},
        {"freeMany", js_free_many},
        {"pin", js_pin},
        {"stats", js_stats},
        {"trim", js_trim},
        {"allocNamed", js_alloc_named},
        {"bindName", js_bind_name},
        {"unbindName", js_unbind_name},
        {"lookup", js_lookup},
        {"lookupWait", js_lookup_wait},
        {"blockSize", js_block_size},
        {"names", js_names},
        {"wait", js_wait},
        {"waitAsync", js_wait_async},
        {"wake", js_wake},
    };
    napi_value f;
    size_t i;

    for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok ||
            napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
            return NULL;
    }
    export_u32(env, exports, "KEEP", OFA_KEEP);
    export_u32(env, exports, "ZERO", OFA_ZERO);
    export_u32(env, exports, "PRIVATE", OFA_PRIVATE);
    export_u32(env, exports, "SHARED", OFA_SHARED);
    return exports;
}

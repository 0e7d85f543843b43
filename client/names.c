/*
 * names.c - named blocks: find-or-allocate, bind, unbind, look up, wait for
 * a name, list an arena's names; and a live block's size.
 *
 * Every call is one exchange on the arena's connection, except
 * ofa_lookup_wait() with a timeout other than 0. The daemon answers a
 * connection's requests in order, and a wait for a name that is not bound
 * yet is answered only when it is, so a wait sent on the arena's connection
 * would hold up every later call of this client. Waits go on a connection
 * of their own instead, opened on the first wait and kept until
 * ofa_disconnect(): it names the arena rather than a handle (it has none),
 * and its deadline is the wait's timeout plus the client's own, not the
 * client's alone. A wait that fails on a broken connection closes it; the
 * next wait opens a fresh one.
 *
 * Called by users; ofa_disconnect() (arena.c) closes the wait connection.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

_Static_assert(sizeof(ofa_name_info) == OFA_ROOM_NAME_INFO, "ofa_name_info outgrew its room");

/* 0 or -EINVAL: name is a valid block name (NUL-terminated). */
static int bname(const char *name, struct proto_str *out)
{
    size_t len;

    if (name == NULL)
        return ofa__fail(-EINVAL, "no block name given");
    len = strnlen(name, PROTO_BLOCK_NAME_MAX + 1);
    if (proto_block_name_check(name, len) < 0)
        return ofa__fail(-EINVAL, "invalid block name '%.*s': 1 to %u of A-Z a-z 0-9 . _ : / -",
                         (int)(len > 64 ? 64 : len), name, PROTO_BLOCK_NAME_MAX);
    out->ptr = name;
    out->len = (uint32_t)len;
    return 0;
}

/* The detailed message of a failed request about a name, unless the
 * connection broke (then ofa__call's message stays). */
static int fail(const ofa_arena *a, int rc, const char *name)
{
    if (a->c->broken)
        return rc;
    return ofa__fail(rc, "arena %s: name %s: %s", a->name, name, ofa_strerror(rc));
}

int ofa_alloc_named(ofa_arena *a, const char *name, uint64_t size, unsigned flags, uint64_t *off)
{
    struct proto_req req;
    struct proto_rep rep;
    int rc;

    if (a == NULL || off == NULL || (flags & ~(OFA_KEEP | OFA_EXCL)) != 0)
        return -EINVAL;
    memset(&req, 0, sizeof(req));
    rc = bname(name, &req.u.named.name);
    if (rc < 0)
        return rc;
    req.op = PROTO_OP_ALLOC_NAMED;
    req.u.named.arena = a->handle;
    req.u.named.size = size;
    req.u.named.flags = (flags & OFA_EXCL) ? PROTO_NAMED_EXCL : 0;
    rc = ofa__call(a->c, &req, &rep, NULL);
    if (rc < 0)
        return fail(a, rc, name);
    *off = rep.u.named.off;
    return rep.u.named.created ? 1 : 0;
}

int ofa_name_bind(ofa_arena *a, const char *name, uint64_t off)
{
    struct proto_req req;
    struct proto_rep rep;
    int rc;

    if (a == NULL)
        return -EINVAL;
    memset(&req, 0, sizeof(req));
    rc = bname(name, &req.u.bind.name);
    if (rc < 0)
        return rc;
    req.op = PROTO_OP_NAME_BIND;
    req.u.bind.arena = a->handle;
    req.u.bind.off = off;
    rc = ofa__call(a->c, &req, &rep, NULL);
    return rc < 0 ? fail(a, rc, name) : 0;
}

int ofa_name_unbind(ofa_arena *a, const char *name)
{
    struct proto_req req;
    struct proto_rep rep;
    int rc;

    if (a == NULL)
        return -EINVAL;
    memset(&req, 0, sizeof(req));
    rc = bname(name, &req.u.bind.name);
    if (rc < 0)
        return rc;
    req.op = PROTO_OP_NAME_UNBIND;
    req.u.bind.arena = a->handle;
    rc = ofa__call(a->c, &req, &rep, NULL);
    return rc < 0 ? fail(a, rc, name) : 0;
}

int ofa_lookup(ofa_arena *a, const char *name, uint64_t *off, uint64_t *size)
{
    struct proto_req req;
    struct proto_rep rep;
    int rc;

    if (a == NULL)
        return -EINVAL;
    memset(&req, 0, sizeof(req));
    rc = bname(name, &req.u.bind.name);
    if (rc < 0)
        return rc;
    req.op = PROTO_OP_LOOKUP;
    req.u.bind.arena = a->handle;
    rc = ofa__call(a->c, &req, &rep, NULL);
    if (rc < 0)
        return fail(a, rc, name);
    if (off != NULL)
        *off = rep.u.named.off;
    if (size != NULL)
        *size = rep.u.named.size;
    return 0;
}

int ofa_lookup_wait(ofa_arena *a, const char *name, int timeout_ms, uint64_t *off, uint64_t *size)
{
    struct ofa_client *c, *w;
    struct proto_req req;
    struct proto_rep rep;
    uint64_t limit;
    int rc;

    if (a == NULL)
        return -EINVAL;
    if (timeout_ms == 0) {
        rc = ofa_lookup(a, name, off, size);
        return rc == -ENOENT ? -ETIMEDOUT : rc;
    }
    memset(&req, 0, sizeof(req));
    rc = bname(name, &req.u.wait.name);
    if (rc < 0)
        return rc;
    c = a->c;
    if (c->broken)
        return c->broken;
    if (c->waitc == NULL) {
        rc = ofa_connect(c->path, &c->waitc);
        if (rc < 0)
            return rc;
    }
    w = c->waitc;
    /* The daemon ends the wait at the timeout; our deadline leaves it the
     * client's usual time on top to say so. */
    limit = timeout_ms < 0 || c->timeout_ms == 0 ? 0 : (uint64_t)timeout_ms + c->timeout_ms;
    w->timeout_ms = limit > UINT32_MAX ? 0 : (uint32_t)limit;
    req.op = PROTO_OP_LOOKUP_WAIT;
    req.u.wait.arena.ptr = a->name;
    req.u.wait.arena.len = (uint32_t)strlen(a->name);
    req.u.wait.timeout_ms = timeout_ms < 0 ? PROTO_WAIT_FOREVER : (uint64_t)timeout_ms;
    rc = ofa__call(w, &req, &rep, NULL);
    if (w->broken) {
        ofa_disconnect(w);
        c->waitc = NULL;
    }
    if (rc < 0)
        return fail(a, rc, name);
    if (off != NULL)
        *off = rep.u.named.off;
    if (size != NULL)
        *size = rep.u.named.size;
    return 0;
}

int ofa_block_size(ofa_arena *a, uint64_t off, uint64_t *size)
{
    struct proto_req req;
    struct proto_rep rep;
    int rc;

    if (a == NULL || size == NULL)
        return -EINVAL;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_BLOCK_SIZE;
    req.u.block.arena = a->handle;
    req.u.block.off = off;
    rc = ofa__call(a->c, &req, &rep, NULL);
    if (rc < 0)
        return rc;
    *size = rep.u.named.size;
    return 0;
}

int ofa_name_list(ofa_client *c, const char *arena, ofa_name_info **out, size_t *count,
                  uint64_t *waiting)
{
    struct proto_req req;
    struct proto_rep rep;
    ofa_name_info *v = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    if (c == NULL || out == NULL || count == NULL)
        return -EINVAL;
    rc = ofa__name_check(arena);
    if (rc < 0)
        return rc;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_NAMES;
    req.u.names.name.ptr = arena;
    req.u.names.name.len = (uint32_t)strlen(arena);
    rc = ofa__call(c, &req, &rep, NULL);
    if (rc < 0)
        return ofa__fail_arena(c, rc, arena);
    if (rep.u.names.count > 0) {
        v = calloc(rep.u.names.count, sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
    }
    for (uint32_t i = 0; i < rep.u.names.count; i++) {
        const struct proto_name_info *e = &rep.u.names.v[i];

        memcpy(v[i].name, e->name.ptr, e->name.len);
        v[i].off = e->off;
        v[i].size = e->size;
        v[i].uid = e->uid;
        v[i].pid = e->pid > INT32_MAX ? 0 : (int32_t)e->pid;
    }
    if (waiting != NULL)
        *waiting = rep.u.names.waiting;
    *out = v;
    *count = rep.u.names.count;
    return 0;
}

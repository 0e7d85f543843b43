/*
 * admin.c - requests about arenas as a whole and about the daemon: create,
 * drop, ping, records (STATS, ARENAS, DAEMON).
 *
 * These calls name arenas rather than holding handles, so each one checks
 * the name here first (the daemon checks again: it cannot trust us) and
 * copies the decoded records out of the reply before the next exchange
 * invalidates them. Records from the daemon are checked too: a name that is
 * not a valid arena name is a protocol error, since callers print and index
 * by it.
 *
 * Called by: users, ofactl, and ofa_stats() in arena.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

/* Every field of the public structs fits in the room they keep for growth
 * (ofaclient.h): a field that does not changes the ABI. */
_Static_assert(sizeof(ofa_arena_config) == OFA_ROOM_ARENA_CONFIG, "ofa_arena_config outgrew its room");
_Static_assert(sizeof(ofa_arena_stats) == OFA_ROOM_ARENA_STATS, "ofa_arena_stats outgrew its room");
_Static_assert(sizeof(ofa_arena_info) == OFA_ROOM_ARENA_INFO, "ofa_arena_info outgrew its room");
_Static_assert(sizeof(ofa_daemon_info) == OFA_ROOM_DAEMON_INFO, "ofa_daemon_info outgrew its room");
_Static_assert(sizeof(((ofa_arena_info *)0)->name) == PROTO_NAME_MAX + 1, "a name and its NUL");

int ofa__name_check(const char *name)
{
    if (name == NULL)
        return ofa__fail(-EINVAL, "no arena name given");
    if (proto_name_check(name, strnlen(name, PROTO_NAME_MAX + 1)) < 0)
        return ofa__fail(-EINVAL, "invalid arena name '%.*s': 1 to %u of A-Z a-z 0-9 . _ -",
                         (int)PROTO_NAME_MAX + 1, name, PROTO_NAME_MAX);
    return 0;
}

int ofa__info_copy(ofa_arena_info *dst, const struct proto_arena_info *src)
{
    if (proto_name_check(src->name.ptr, src->name.len) < 0)
        return -EPROTO;
    memset(dst, 0, sizeof(*dst));
    memcpy(dst->name, src->name.ptr, src->name.len);
    dst->name[src->name.len] = '\0';
    dst->uid = src->uid;
    dst->gid = src->gid;
    dst->mode = src->mode;
    dst->stats.page_size = src->page_size;
    dst->stats.max_bytes = src->max_bytes;
    dst->stats.pages = src->pages;
    dst->stats.bytes_reserved = src->bytes_reserved;
    dst->stats.bytes_live = src->bytes_live;
    dst->stats.blocks_live = src->blocks_live;
    dst->stats.free_chunks = src->free_chunks;
    dst->stats.largest_free = src->largest_free;
    dst->stats.allocs = src->allocs;
    dst->stats.frees = src->frees;
    dst->stats.alloc_failures = src->alloc_failures;
    dst->stats.align = src->align;
    dst->stats.private_default = src->private_default;
    dst->stats.cache_max = src->cache_max;
    dst->stats.blocks_cached = src->blocks_cached;
    dst->stats.bytes_cached = src->bytes_cached;
    return 0;
}

int ofa_arena_create(ofa_client *c, const char *name, const ofa_arena_config *cfg)
{
    static const ofa_arena_config defaults;
    struct proto_req req;
    struct proto_rep rep;
    int rc;

    if (c == NULL)
        return -EINVAL;
    rc = ofa__name_check(name);
    if (rc < 0)
        return rc;
    if (cfg == NULL)
        cfg = &defaults;
    rc = ofa_arena_config_check(cfg);
    if (rc < 0)
        return rc;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_CREATE;
    req.u.create.name.ptr = name;
    req.u.create.name.len = (uint32_t)strlen(name);
    req.u.create.page_size = cfg->page_size;
    req.u.create.max_bytes = cfg->max_bytes;
    req.u.create.align = cfg->align;
    req.u.create.mode = cfg->mode;
    req.u.create.private_default = cfg->private_default;
    req.u.create.cache_max = cfg->cache_max;
    rc = ofa__call(c, &req, &rep, NULL);
    return rc < 0 ? ofa__fail_arena(c, rc, name) : 0;
}

int ofa_arena_drop(ofa_client *c, const char *name, int force)
{
    struct proto_req req;
    struct proto_rep rep;
    int rc;

    if (c == NULL)
        return -EINVAL;
    rc = ofa__name_check(name);
    if (rc < 0)
        return rc;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_DROP;
    req.u.drop.name.ptr = name;
    req.u.drop.name.len = (uint32_t)strlen(name);
    req.u.drop.force = force != 0;
    rc = ofa__call(c, &req, &rep, NULL);
    if (rc == -EBUSY)
        return ofa__fail(rc, "arena %s: %s (force drops it with them)", name, ofa_strerror(rc));
    return rc < 0 ? ofa__fail_arena(c, rc, name) : 0;
}

int ofa_ping(ofa_client *c)
{
    struct proto_req req;
    struct proto_rep rep;

    if (c == NULL)
        return -EINVAL;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_PING;
    return ofa__call(c, &req, &rep, NULL);
}

int ofa_daemon_stats(ofa_client *c, ofa_daemon_info *out)
{
    struct proto_req req;
    struct proto_rep rep;
    size_t n;
    int rc;

    if (c == NULL || out == NULL)
        return -EINVAL;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_DAEMON;
    rc = ofa__call(c, &req, &rep, NULL);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    n = rep.u.daemon.version.len;
    if (n >= sizeof(out->version))
        n = sizeof(out->version) - 1;
    if (n > 0)
        memcpy(out->version, rep.u.daemon.version.ptr, n);
    out->uptime_s = rep.u.daemon.uptime_s;
    out->clients = rep.u.daemon.clients;
    out->arenas = rep.u.daemon.arenas;
    out->bytes_reserved = rep.u.daemon.bytes_reserved;
    out->bytes_limit = rep.u.daemon.bytes_limit;
    out->pid = rep.u.daemon.pid;
    out->state_age_s = rep.u.daemon.state_age_s;
    return 0;
}

int ofa_arena_info_get(ofa_client *c, const char *name, ofa_arena_info *out)
{
    struct proto_req req;
    struct proto_rep rep;
    int rc;

    if (c == NULL || out == NULL)
        return -EINVAL;
    rc = ofa__name_check(name);
    if (rc < 0)
        return rc;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_STATS;
    req.u.stats.name.ptr = name;
    req.u.stats.name.len = (uint32_t)strlen(name);
    rc = ofa__call(c, &req, &rep, NULL);
    if (rc < 0)
        return ofa__fail_arena(c, rc, name);
    rc = ofa__info_copy(out, &rep.u.stats);
    if (rc < 0)
        ofa__broken(c, rc);
    return rc;
}

int ofa_arena_validate(ofa_client *c, const char *name)
{
    struct proto_req req;
    struct proto_rep rep;
    int rc;

    if (c == NULL)
        return -EINVAL;
    rc = ofa__name_check(name);
    if (rc < 0)
        return rc;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_VALIDATE;
    req.u.validate.name.ptr = name;
    req.u.validate.name.len = (uint32_t)strlen(name);
    return ofa__call(c, &req, &rep, NULL);
}

static int cmp_info(const void *x, const void *y)
{
    return strcmp(((const ofa_arena_info *)x)->name, ((const ofa_arena_info *)y)->name);
}

int ofa_arena_list(ofa_client *c, ofa_arena_info **out, size_t *count)
{
    struct proto_req req;
    struct proto_rep rep;
    ofa_arena_info *v = NULL;
    size_t i, n;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    if (c == NULL || out == NULL || count == NULL)
        return -EINVAL;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_ARENAS;
    rc = ofa__call(c, &req, &rep, NULL);
    if (rc < 0)
        return rc;
    n = rep.u.arenas.count;
    /* calloc(0) may return NULL; always hand back a pointer free() takes. */
    v = calloc(n ? n : 1, sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    for (i = 0; i < n; i++) {
        rc = ofa__info_copy(&v[i], &rep.u.arenas.v[i]);
        if (rc < 0) {
            ofa__broken(c, rc);
            free(v);
            return rc;
        }
    }
    qsort(v, n, sizeof(*v), cmp_info);
    *out = v;
    *count = n;
    return 0;
}

_Static_assert(OFA_BLOCK_LIVE == PROTO_BLOCK_LIVE && OFA_BLOCK_KEPT == PROTO_BLOCK_KEPT &&
                   OFA_BLOCK_FREE == PROTO_BLOCK_FREE && OFA_BLOCK_PAGE == PROTO_BLOCK_PAGE,
               "block kinds differ between the API and the wire");

/* CLIENTS rows, copied out of one reply after another. */
struct rows {
    struct proto_client_row *v;
    char (*names)[PROTO_NAME_MAX + 1];
    char (*comms)[PROTO_VERSION_STR_MAX + 1];
    size_t n, cap;
};

static int rows_add(struct rows *r, const struct proto_client_row *src, uint32_t count)
{
    size_t cap = r->cap ? r->cap : 64;
    void *p;

    while (cap < r->n + count)
        cap *= 2;
    if (cap != r->cap) {
        if ((p = realloc(r->v, cap * sizeof(*r->v))) == NULL)
            return -ENOMEM;
        r->v = p;
        if ((p = realloc(r->names, cap * sizeof(*r->names))) == NULL)
            return -ENOMEM;
        r->names = p;
        if ((p = realloc(r->comms, cap * sizeof(*r->comms))) == NULL)
            return -ENOMEM;
        r->comms = p;
        r->cap = cap;
    }
    for (uint32_t i = 0; i < count; i++, r->n++) {
        r->v[r->n] = src[i];
        memcpy(r->names[r->n], src[i].arena.ptr, src[i].arena.len);
        r->names[r->n][src[i].arena.len] = '\0';
        memcpy(r->comms[r->n], src[i].comm.ptr, src[i].comm.len);
        r->comms[r->n][src[i].comm.len] = '\0';
    }
    return 0;
}

/* Groups the rows by connection into one allocation. */
static int rows_group(const struct rows *r, ofa_client_info **out, size_t *count)
{
    size_t nc = 0, na = 0, i;
    ofa_client_info *v, *ci = NULL;
    ofa_client_arena *arenas;

    for (i = 0; i < r->n; i++) {
        if (i == 0 || r->v[i].client != r->v[i - 1].client)
            nc++;
        if (r->names[i][0] != '\0')
            na++;
    }
    v = calloc(1, (nc ? nc : 1) * sizeof(*v) + na * sizeof(*arenas));
    if (v == NULL)
        return -ENOMEM;
    arenas = (ofa_client_arena *)(v + (nc ? nc : 1));
    for (i = 0; i < r->n; i++) {
        const struct proto_client_row *row = &r->v[i];

        if (ci == NULL || row->client != ci->id) {
            ci = ci == NULL ? v : ci + 1;
            ci->id = row->client;
            ci->pid = row->pid;
            ci->uid = row->uid;
            ci->gid = row->gid;
            snprintf(ci->comm, sizeof(ci->comm), "%s", r->comms[i]);
            ci->since_s = row->since_s;
            ci->requests = row->requests;
            ci->arenas = arenas;
        }
        if (r->names[i][0] != '\0') {
            memcpy(arenas->name, r->names[i], sizeof(arenas->name));
            arenas->blocks = row->blocks;
            arenas->bytes = row->bytes;
            arenas++;
            ci->narenas++;
        }
    }
    *out = v;
    *count = nc;
    return 0;
}

int ofa_client_list(ofa_client *c, ofa_client_info **out, size_t *count)
{
    struct proto_req req;
    struct proto_rep rep;
    struct rows rows = {0};
    uint64_t cursor = 0;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    if (c == NULL || out == NULL || count == NULL)
        return ofa__fail(-EINVAL, "ofa_client_list: NULL argument");
    do {
        memset(&req, 0, sizeof(req));
        req.op = PROTO_OP_CLIENTS;
        req.u.clients.cursor = cursor;
        rc = ofa__call(c, &req, &rep, NULL);
        if (rc < 0)
            goto out;
        /* A cursor that does not move on would loop forever. */
        if (rep.u.clients.next != 0 && rep.u.clients.next <= cursor) {
            ofa__broken(c, -EPROTO);
            rc = ofa__fail(-EPROTO, "ofad sent a CLIENTS cursor that goes back");
            goto out;
        }
        cursor = rep.u.clients.next;
        rc = rows_add(&rows, rep.u.clients.v, rep.u.clients.count);
        if (rc < 0)
            goto out;
    } while (cursor != 0);
    rc = rows_group(&rows, out, count);
out:
    if (rc == -ENOMEM)
        ofa__fail(rc, "out of memory listing the connections");
    free(rows.v);
    free(rows.names);
    free(rows.comms);
    return rc;
}

int ofa_block_list(ofa_client *c, const char *arena, unsigned flags, uint64_t *cursor,
                   ofa_block_info **out, size_t *count)
{
    struct proto_req req;
    struct proto_rep rep;
    ofa_block_info *v;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (count != NULL)
        *count = 0;
    if (c == NULL || cursor == NULL || out == NULL || count == NULL)
        return ofa__fail(-EINVAL, "ofa_block_list: NULL argument");
    if (flags & ~OFA_BLOCKS_FREE)
        return ofa__fail(-EINVAL, "ofa_block_list: unknown flags 0x%x", flags);
    rc = ofa__name_check(arena);
    if (rc < 0)
        return rc;
    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_BLOCKS;
    req.u.blocks.name.ptr = arena;
    req.u.blocks.name.len = (uint32_t)strlen(arena);
    req.u.blocks.cursor = *cursor;
    req.u.blocks.flags = (flags & OFA_BLOCKS_FREE) ? PROTO_BLOCKS_FREE : 0;
    rc = ofa__call(c, &req, &rep, NULL);
    if (rc < 0)
        return ofa__fail_arena(c, rc, arena);
    if ((rep.u.blocks.next != 0 && rep.u.blocks.next <= *cursor) ||
        (rep.u.blocks.next != 0 && rep.u.blocks.count == 0)) {
        ofa__broken(c, -EPROTO);
        return ofa__fail(-EPROTO, "ofad sent a BLOCKS cursor that does not move on");
    }
    v = calloc(rep.u.blocks.count ? rep.u.blocks.count : 1, sizeof(*v));
    if (v == NULL)
        return ofa__fail(-ENOMEM, "out of memory listing arena %s", arena);
    for (uint32_t i = 0; i < rep.u.blocks.count; i++) {
        const uint64_t *e = &rep.u.blocks.v[i * PROTO_BLOCK_FIELDS];

        if (e[2] > PROTO_BLOCK_PAGE || e[3] > UINT32_MAX) {
            free(v);
            ofa__broken(c, -EPROTO);
            return ofa__fail(-EPROTO, "ofad sent a BLOCKS entry of an unknown kind");
        }
        v[i].off = e[0];
        v[i].size = e[1];
        v[i].kind = (uint32_t)e[2];
        v[i].pid = (uint32_t)e[3];
        v[i].client = e[4];
    }
    *cursor = rep.u.blocks.next;
    *out = v;
    *count = rep.u.blocks.count;
    return 0;
}

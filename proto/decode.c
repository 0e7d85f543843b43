/*
 * decode.c - payloads to structs, and the decoder that holds their scratch.
 *
 * Two paths, chosen by op:
 *
 *  - Fixed shapes (every request, every reply but the records): a typed
 *    reader walks the payload once, straight from its bytes, and accepts
 *    exactly the array it expects: the right element count, each element of
 *    the right msgpack family and range, nothing after the last. A list of
 *    offsets (FREE_N, ALLOC_N, PAGES) is an array of uints read into the
 *    decoder's scratch, after its count was checked against its PROTO_MAX_*
 *    bound and against the bytes left (each entry takes at least one). No
 *    msgpack-c, no allocation in the steady state: an ALLOC request costs
 *    a few dozen instructions, against ~1,000 for msgpack-c's unpacker.
 *    The hottest of them, ALLOC and FREE requests and their successful
 *    replies, are read first by a straight-line reader of the exact shape
 *    their encoders write (fixarray header, fixint op: see the end of this
 *    file); anything else about them goes to the general reader.
 *
 *  - Records (STATS, ARENAS, DAEMON replies) are maps whose unknown keys may
 *    hold any msgpack value, so they go through msgpack-c, but only after
 *    proto__check() accepted the whole payload (sizes against bytes present,
 *    depth, one object) and found at most PROTO__MAX_OBJECTS objects in it.
 *    msgpack_unpack() builds into the decoder's zone, cleared before each
 *    use: after the first record reply, decoding allocates nothing unless
 *    a reply outgrows one zone chunk.
 *
 * Integers: any msgpack integer format (fixint, uint 8..64, int 8..64) is
 * accepted when its value is >= 0 and fits the field, so that encoders of
 * other languages that pick signed formats interoperate. Strings: fixstr or
 * str 8/16/32. Nothing else (nil, bool, float, bin, ext) is ever a field.
 *
 * Errors: -EPROTO until op and id are read (op must fit 32 bits), then
 * -EBADMSG with out->op and out->id set, so that the caller can address an
 * error reply; -ENOMEM when scratch cannot grow.
 *
 * Called by ofad (requests, one decoder per connection) and libofaclient
 * (replies, one per connection).
 */
#include "proto_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct rd {
    const uint8_t *p, *end;
};

static inline __attribute__((always_inline)) uint64_t load_be(const uint8_t *p, unsigned n)
{
    uint16_t v16;
    uint32_t v32;
    uint64_t v64;

    switch (n) {
    case 1:
        return p[0];
    case 2:
        memcpy(&v16, p, 2);
        return __builtin_bswap16(v16);
    case 4:
        memcpy(&v32, p, 4);
        return __builtin_bswap32(v32);
    default:
        memcpy(&v64, p, 8);
        return __builtin_bswap64(v64);
    }
}

/* A non-negative integer. 0 or -1. A positive fixint first (most fields
 * are small), then one switch on the type byte whose every case has its
 * own constant width, so the loads compile to a move and a bswap. */
static inline __attribute__((always_inline)) int rd_uint(struct rd *r, uint64_t *v)
{
    const uint8_t *p = r->p;
    size_t left = (size_t)(r->end - p);

    if (__builtin_expect(left < 1, 0))
        return -1;
    if (p[0] < 0x80) {
        *v = p[0];
        r->p = p + 1;
        return 0;
    }
    switch (p[0]) {
    case 0xcc:
        if (left < 2)
            return -1;
        *v = p[1];
        r->p = p + 2;
        return 0;
    case 0xcd:
        if (left < 3)
            return -1;
        *v = load_be(p + 1, 2);
        r->p = p + 3;
        return 0;
    case 0xce:
        if (left < 5)
            return -1;
        *v = load_be(p + 1, 4);
        r->p = p + 5;
        return 0;
    case 0xcf:
        if (left < 9)
            return -1;
        *v = load_be(p + 1, 8);
        r->p = p + 9;
        return 0;
    /* int 8..64: fine while the value is not negative */
    case 0xd0:
        if (left < 2 || (p[1] & 0x80))
            return -1;
        *v = p[1];
        r->p = p + 2;
        return 0;
    case 0xd1:
        if (left < 3 || (p[1] & 0x80))
            return -1;
        *v = load_be(p + 1, 2);
        r->p = p + 3;
        return 0;
    case 0xd2:
        if (left < 5 || (p[1] & 0x80))
            return -1;
        *v = load_be(p + 1, 4);
        r->p = p + 5;
        return 0;
    case 0xd3:
        if (left < 9 || (p[1] & 0x80))
            return -1;
        *v = load_be(p + 1, 8);
        r->p = p + 9;
        return 0;
    default:
        return -1;
    }
}

static inline __attribute__((always_inline)) int rd_u32(struct rd *r, uint32_t *v)
{
    uint64_t x;

    if (rd_uint(r, &x) != 0 || x > UINT32_MAX)
        return -1;
    *v = (uint32_t)x;
    return 0;
}

/* 0 or 1 only. */
static inline int rd_bool(struct rd *r, uint32_t *v)
{
    uint64_t x;

    if (rd_uint(r, &x) != 0 || x > 1)
        return -1;
    *v = (uint32_t)x;
    return 0;
}

static inline __attribute__((always_inline)) int rd_array(struct rd *r, uint32_t *n)
{
    const uint8_t *p = r->p;
    size_t left = (size_t)(r->end - p);

    if (left < 1)
        return -1;
    if ((p[0] & 0xf0) == 0x90) {
        *n = p[0] & 0x0f;
        r->p = p + 1;
    } else if (p[0] == 0xdc && left >= 3) {
        *n = (uint32_t)load_be(p + 1, 2);
        r->p = p + 3;
    } else if (p[0] == 0xdd && left >= 5) {
        *n = (uint32_t)load_be(p + 1, 4);
        r->p = p + 5;
    } else {
        return -1;
    }
    return 0;
}

static int rd_str(struct rd *r, struct proto_str *s)
{
    const uint8_t *p = r->p;
    size_t left = (size_t)(r->end - p);
    unsigned h;
    uint32_t n;

    if (left < 1)
        return -1;
    if ((p[0] & 0xe0) == 0xa0) {
        h = 1;
        n = p[0] & 0x1f;
    } else if (p[0] >= 0xd9 && p[0] <= 0xdb) {
        unsigned lb = 1u << (p[0] - 0xd9);

        if (left < 1 + lb)
            return -1;
        h = 1 + lb;
        n = (uint32_t)load_be(p + 1, lb);
    } else {
        return -1;
    }
    if (left - h < n)
        return -1;
    s->ptr = (const char *)p + h;
    s->len = n;
    r->p = p + h + n;
    return 0;
}

static int rd_name(struct rd *r, struct proto_str *s)
{
    if (rd_str(r, s) != 0 || proto_name_check(s->ptr, s->len) != 0)
        return -1;
    return 0;
}

static int rd_bname(struct rd *r, struct proto_str *s)
{
    if (rd_str(r, s) != 0 || proto_block_name_check(s->ptr, s->len) != 0)
        return -1;
    return 0;
}

int proto_dec_new(struct proto_dec **out)
{
    struct proto_dec *d = calloc(1, sizeof(*d));

    if (!d)
        return -ENOMEM;
    *out = d;
    return 0;
}

void proto_dec_free(struct proto_dec *d)
{
    if (!d)
        return;
    if (d->zone)
        msgpack_zone_free(d->zone);
    free(d->offs);
    free(d->arenas);
    free(d->clients);
    free(d->names);
    free(d);
}

/* Makes room for n offsets. The callers bound n (PROTO_MAX_BATCH or
 * PROTO_MAX_PAGES) and check it against the bytes present first, so a
 * 5-byte list header cannot make this reserve more than the payload could
 * fill. */
static int offs_room(struct proto_dec *d, uint32_t n)
{
    uint32_t cap = d->offs_cap ? d->offs_cap : 64;
    uint64_t *v;

    if (n <= d->offs_cap)
        return 0;
    while (cap < n)
        cap *= 2;
    v = realloc(d->offs, (size_t)cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    d->offs = v;
    d->offs_cap = cap;
    return 0;
}

/* Reads an array of at most max uints into d->offs. With nonzero, a 0 entry
 * is refused. 0, -EBADMSG or -ENOMEM. */
static int rd_list(struct proto_dec *d, struct rd *r, uint32_t max, int nonzero,
                   const uint64_t **offs, uint32_t *count)
{
    uint32_t n;
    int rc;

    if (rd_array(r, &n) != 0 || n > max || n > (size_t)(r->end - r->p))
        return -EBADMSG;
    rc = offs_room(d, n);
    if (rc != 0)
        return rc;
    for (uint32_t i = 0; i < n; i++)
        if (rd_uint(r, &d->offs[i]) != 0 || (nonzero && d->offs[i] == 0))
            return -EBADMSG;
    *offs = d->offs;
    *count = n;
    return 0;
}

/* Reads a NAMES list, [[name, off, size, uid, pid]...], into d->names,
 * after checking its count against PROTO_MAX_NAMES and against the bytes
 * left (an entry takes at least 7). 0, -EBADMSG or -ENOMEM. */
static int rd_names(struct proto_dec *d, struct rd *r, const struct proto_name_info **v,
                    uint32_t *count)
{
    struct proto_name_info *e;
    uint32_t n, k;

    if (rd_array(r, &n) != 0 || n > PROTO_MAX_NAMES || n > (size_t)(r->end - r->p) / 7)
        return -EBADMSG;
    if (n > d->names_cap) {
        uint32_t cap = d->names_cap ? d->names_cap : 16;
        while (cap < n)
            cap *= 2;
        e = realloc(d->names, (size_t)cap * sizeof(*e));
        if (!e)
            return -ENOMEM;
        d->names = e;
        d->names_cap = cap;
    }
    for (uint32_t i = 0; i < n; i++) {
        e = &d->names[i];
        if (rd_array(r, &k) != 0 || k != 5 || rd_bname(r, &e->name) != 0 ||
            rd_uint(r, &e->off) != 0 || e->off == 0 || rd_uint(r, &e->size) != 0 ||
            rd_u32(r, &e->uid) != 0 || rd_u32(r, &e->pid) != 0)
            return -EBADMSG;
    }
    *v = d->names;
    *count = n;
    return 0;
}

/* Reads the common head: array header, op, id. -EPROTO if they are not
 * there; *n is the array's element count. */
static inline __attribute__((always_inline)) int rd_head(struct rd *r, uint32_t min, uint32_t *n,
                                                         uint32_t *op, uint64_t *id)
{
    uint64_t op64;

    if (rd_array(r, n) != 0 || *n < min || rd_uint(r, &op64) != 0 || op64 > UINT32_MAX ||
        rd_uint(r, id) != 0)
        return -EPROTO;
    *op = (uint32_t)op64;
    return 0;
}

/* The general reader of requests: any op, any accepted form. */
static int decode_req(struct proto_dec *d, const uint8_t *payload, size_t len,
                      struct proto_req *out)
{
    struct rd r = {payload, payload + len};
    uint32_t n, op;
    uint64_t id;
    int rc;

    rc = rd_head(&r, 2, &n, &op, &id);
    if (rc != 0)
        return rc;
    out->op = op;
    out->id = id;
    /* CREATE may carry the cache terms: 7 or 9 elements. */
    if (op == 0 || op > PROTO_OP_MAX || proto__req_fields[op] == 0 ||
        (n != proto__req_fields[op] && !(op == PROTO_OP_CREATE && n == 9)))
        return -EBADMSG;

    switch (op) {
    case PROTO_OP_HELLO:
        if (rd_u32(&r, &out->u.hello.version) != 0 || rd_u32(&r, &out->u.hello.max_msg) != 0 ||
            out->u.hello.max_msg < PROTO_MIN_MAX_MSG || out->u.hello.max_msg > PROTO_MAX_MAX_MSG)
            return -EBADMSG;
        break;
    case PROTO_OP_CREATE:
        if (rd_name(&r, &out->u.create.name) != 0 || rd_uint(&r, &out->u.create.page_size) != 0 ||
            rd_uint(&r, &out->u.create.max_bytes) != 0 || rd_u32(&r, &out->u.create.align) != 0 ||
            rd_u32(&r, &out->u.create.mode) != 0 || out->u.create.mode > 07777)
            return -EBADMSG;
        out->u.create.private_default = 0;
        out->u.create.cache_max = 0;
        if (n == 9 &&
            (rd_u32(&r, &out->u.create.private_default) != 0 || out->u.create.private_default > 2 ||
             rd_uint(&r, &out->u.create.cache_max) != 0))
            return -EBADMSG;
        break;
    case PROTO_OP_CACHE:
        if (rd_u32(&r, &out->u.cache.arena) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_FILL:
        if (rd_u32(&r, &out->u.fill.arena) != 0 || rd_uint(&r, &out->u.fill.size) != 0 ||
            rd_u32(&r, &out->u.fill.count) != 0 || out->u.fill.count > PROTO_MAX_BATCH ||
            rd_uint(&r, &out->u.fill.blocks) != 0 || rd_uint(&r, &out->u.fill.bytes) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_DRAIN:
        if (rd_u32(&r, &out->u.drain.arena) != 0 || rd_uint(&r, &out->u.drain.blocks) != 0 ||
            rd_uint(&r, &out->u.drain.bytes) != 0)
            return -EBADMSG;
        rc = rd_list(d, &r, PROTO_MAX_BATCH, 0, &out->u.drain.offs, &out->u.drain.count);
        if (rc != 0)
            return rc;
        break;
    case PROTO_OP_DROP:
        if (rd_name(&r, &out->u.drop.name) != 0 || rd_bool(&r, &out->u.drop.force) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_OPEN:
        if (rd_name(&r, &out->u.open.name) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_STATS:
    case PROTO_OP_VALIDATE:
        if (rd_name(&r, &out->u.stats.name) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_CLOSE:
        if (rd_u32(&r, &out->u.close.arena) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_CLIENTS:
        if (rd_uint(&r, &out->u.clients.cursor) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_BLOCKS:
        if (rd_name(&r, &out->u.blocks.name) != 0 || rd_uint(&r, &out->u.blocks.cursor) != 0 ||
            rd_u32(&r, &out->u.blocks.flags) != 0 || (out->u.blocks.flags & ~PROTO_BLOCKS_FREE))
            return -EBADMSG;
        break;
    case PROTO_OP_ALLOC_NAMED:
        if (rd_u32(&r, &out->u.named.arena) != 0 || rd_bname(&r, &out->u.named.name) != 0 ||
            rd_uint(&r, &out->u.named.size) != 0 || rd_u32(&r, &out->u.named.flags) != 0 ||
            (out->u.named.flags & ~PROTO_NAMED_EXCL))
            return -EBADMSG;
        break;
    case PROTO_OP_NAME_BIND:
    case PROTO_OP_NAME_UNBIND:
    case PROTO_OP_LOOKUP:
        out->u.bind.off = 0;
        if (rd_u32(&r, &out->u.bind.arena) != 0 || rd_bname(&r, &out->u.bind.name) != 0 ||
            (op == PROTO_OP_NAME_BIND && rd_uint(&r, &out->u.bind.off) != 0))
            return -EBADMSG;
        break;
    case PROTO_OP_LOOKUP_WAIT:
        if (rd_name(&r, &out->u.wait.arena) != 0 || rd_bname(&r, &out->u.wait.name) != 0 ||
            rd_uint(&r, &out->u.wait.timeout_ms) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_NAMES:
        if (rd_name(&r, &out->u.names.name) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_BLOCK_SIZE:
        if (rd_u32(&r, &out->u.block.arena) != 0 || rd_uint(&r, &out->u.block.off) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_PAGES:
        if (rd_u32(&r, &out->u.pages.arena) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_ALLOC:
    case PROTO_OP_ALLOC_N:
        if (rd_u32(&r, &out->u.alloc.arena) != 0 || rd_uint(&r, &out->u.alloc.size) != 0 ||
            rd_uint(&r, &out->u.alloc.align) != 0 || rd_u32(&r, &out->u.alloc.flags) != 0 ||
            (out->u.alloc.flags & ~PROTO_ALLOC_FLAGS))
            return -EBADMSG;
        out->u.alloc.count = 1;
        if (op == PROTO_OP_ALLOC_N &&
            (rd_u32(&r, &out->u.alloc.count) != 0 || out->u.alloc.count > PROTO_MAX_BATCH))
            return -EBADMSG;
        break;
    case PROTO_OP_FREE:
        if (rd_u32(&r, &out->u.free.arena) != 0 || rd_uint(&r, &out->u.free.off) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_PAGE:
        if (rd_u32(&r, &out->u.page.arena) != 0 || rd_uint(&r, &out->u.page.off) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_RESUME:
        if (rd_uint(&r, &out->u.resume.session) != 0 || rd_uint(&r, &out->u.resume.secret) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_FREE_N:
        if (rd_u32(&r, &out->u.free_n.arena) != 0)
            return -EBADMSG;
        rc = rd_list(d, &r, PROTO_MAX_BATCH, 0, &out->u.free_n.offs, &out->u.free_n.count);
        if (rc != 0)
            return rc;
        break;
    default: /* PING, ARENAS, DAEMON, SESSION, BYE: no arguments */
        break;
    }
    return r.p == r.end ? 0 : -EBADMSG;
}

static int arenas_room(struct proto_dec *d, uint32_t n)
{
    uint32_t cap = d->arenas_cap ? d->arenas_cap : 16;
    struct proto_arena_info *v;

    if (n <= d->arenas_cap)
        return 0;
    while (cap < n)
        cap *= 2;
    v = realloc(d->arenas, (size_t)cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    d->arenas = v;
    d->arenas_cap = cap;
    return 0;
}

static int clients_room(struct proto_dec *d, uint32_t n)
{
    uint32_t cap = d->clients_cap ? d->clients_cap : 16;
    struct proto_client_row *v;

    if (n <= d->clients_cap)
        return 0;
    while (cap < n)
        cap *= 2;
    v = realloc(d->clients, (size_t)cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    d->clients = v;
    d->clients_cap = cap;
    return 0;
}

/* STATS, ARENAS, DAEMON replies with err 0: [op, id, 0, record(s)], the
 * head already read and checked by the caller. */
static int decode_records(struct proto_dec *d, const uint8_t *payload, size_t len,
                          struct proto_rep *out)
{
    const msgpack_object *rec;
    msgpack_object top;
    uint32_t objects;
    size_t off = 0;
    msgpack_unpack_return ret;

    if (proto__check(payload, len, PROTO_MAX_DEPTH, &objects) != 0 || objects > PROTO__MAX_OBJECTS)
        return -EBADMSG;
    if (!d->zone) {
        d->zone = msgpack_zone_new(PROTO__ZONE_CHUNK);
        if (!d->zone)
            return -ENOMEM;
    }
    msgpack_zone_clear(d->zone);
    d->unpacks++;
    ret = msgpack_unpack((const char *)payload, len, &off, d->zone, &top);
    /* The payload passed the check above, so the only way left for the
     * unpacker to fail is running out of memory. */
    if (ret != MSGPACK_UNPACK_SUCCESS)
        return -ENOMEM;
    if (top.type != MSGPACK_OBJECT_ARRAY || top.via.array.size != proto__rep_fields[out->op])
        return -EBADMSG;
    rec = &top.via.array.ptr[3];
    if (out->op == PROTO_OP_CLIENTS) {
        /* [op, id, 0, next, [row...]] */
        if (rec->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return -EBADMSG;
        out->u.clients.next = rec->via.u64;
        rec = &top.via.array.ptr[4];
        if (rec->type != MSGPACK_OBJECT_ARRAY || rec->via.array.size > PROTO_MAX_CLIENT_ROWS)
            return -EBADMSG;
        if (clients_room(d, rec->via.array.size) != 0)
            return -ENOMEM;
        for (uint32_t i = 0; i < rec->via.array.size; i++)
            if (proto__parse_client(&rec->via.array.ptr[i], &d->clients[i]) != 0)
                return -EBADMSG;
        out->u.clients.v = d->clients;
        out->u.clients.count = rec->via.array.size;
        return 0;
    }

    switch (out->op) {
    case PROTO_OP_STATS:
        return proto__parse_arena(rec, &out->u.stats) != 0 ? -EBADMSG : 0;
    case PROTO_OP_DAEMON:
        return proto__parse_daemon(rec, &out->u.daemon) != 0 ? -EBADMSG : 0;
    default: /* ARENAS */
        break;
    }
    if (rec->type != MSGPACK_OBJECT_ARRAY || rec->via.array.size > PROTO_MAX_ARENAS)
        return -EBADMSG;
    if (arenas_room(d, rec->via.array.size) != 0)
        return -ENOMEM;
    for (uint32_t i = 0; i < rec->via.array.size; i++)
        if (proto__parse_arena(&rec->via.array.ptr[i], &d->arenas[i]) != 0)
            return -EBADMSG;
    out->u.arenas.v = d->arenas;
    out->u.arenas.count = rec->via.array.size;
    return 0;
}

/* The general reader of replies. */
static int decode_rep(struct proto_dec *d, const uint8_t *payload, size_t len,
                      struct proto_rep *out)
{
    struct rd r = {payload, payload + len};
    uint32_t n, op;
    uint64_t id;
    int rc;

    rc = rd_head(&r, 3, &n, &op, &id);
    if (rc != 0)
        return rc;
    out->op = op;
    out->id = id;
    if (rd_u32(&r, &out->err) != 0)
        return -EBADMSG;

    if (out->err != PROTO_OK) {
        /* No results, but FREE_N and DRAIN say how many offsets went first. */
        if (op == PROTO_OP_FREE_N || op == PROTO_OP_DRAIN) {
            if (n != 4 || rd_u32(&r, &out->u.list.count) != 0 ||
                out->u.list.count > PROTO_MAX_BATCH)
                return -EBADMSG;
            out->u.list.offs = NULL;
        } else if (n != 3) {
            return -EBADMSG;
        }
        return r.p == r.end ? 0 : -EBADMSG;
    }
    if (op == 0 || op > PROTO_OP_MAX || proto__rep_fields[op] == 0 || n != proto__rep_fields[op])
        return -EBADMSG;

    switch (op) {
    case PROTO_OP_HELLO:
        if (rd_u32(&r, &out->u.hello.version) != 0 || rd_u32(&r, &out->u.hello.max_msg) != 0 ||
            out->u.hello.max_msg < PROTO_MIN_MAX_MSG || out->u.hello.max_msg > PROTO_MAX_MAX_MSG ||
            rd_str(&r, &out->u.hello.server) != 0 ||
            proto__version_str_check(out->u.hello.server.ptr, out->u.hello.server.len) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_OPEN:
        if (rd_u32(&r, &out->u.open.arena) != 0 || rd_bool(&r, &out->u.open.writable) != 0 ||
            rd_u32(&r, &out->u.open.align) != 0 || rd_uint(&r, &out->u.open.page_size) != 0 ||
            rd_uint(&r, &out->u.open.max_bytes) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_ALLOC:
        if (rd_uint(&r, &out->u.alloc.off) != 0 || out->u.alloc.off == 0)
            return -EBADMSG;
        break;
    case PROTO_OP_ALLOC_N:
    case PROTO_OP_FILL:
        rc = rd_list(d, &r, PROTO_MAX_BATCH, 1, &out->u.list.offs, &out->u.list.count);
        if (rc != 0)
            return rc;
        break;
    case PROTO_OP_CACHE:
        if (rd_bool(&r, &out->u.cache.private_default) != 0 ||
            rd_uint(&r, &out->u.cache.cache_max) != 0 || rd_u32(&r, &out->u.cache.slot) != 0 ||
            rd_u32(&r, &out->u.cache.ticket) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_PAGES:
        rc = rd_list(d, &r, PROTO_MAX_PAGES, 0, &out->u.list.offs, &out->u.list.count);
        if (rc != 0)
            return rc;
        break;
    case PROTO_OP_FREE_N:
    case PROTO_OP_DRAIN:
        if (rd_u32(&r, &out->u.list.count) != 0 || out->u.list.count > PROTO_MAX_BATCH)
            return -EBADMSG;
        out->u.list.offs = NULL;
        break;
    case PROTO_OP_PAGE:
        if (rd_uint(&r, &out->u.page.base) != 0 || rd_uint(&r, &out->u.page.len) != 0 ||
            out->u.page.len == 0 || rd_bool(&r, &out->u.page.writable) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_SESSION:
        if (rd_uint(&r, &out->u.session.session) != 0 || rd_uint(&r, &out->u.session.secret) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_BLOCKS:
        rc = rd_uint(&r, &out->u.blocks.next) != 0 ? -EBADMSG : 0;
        if (rc == 0)
            rc = rd_list(d, &r, PROTO_MAX_BLOCK_ROWS * PROTO_BLOCK_FIELDS, 0, &out->u.blocks.v,
                         &out->u.blocks.count);
        if (rc == 0 && out->u.blocks.count % PROTO_BLOCK_FIELDS != 0)
            rc = -EBADMSG;
        if (rc != 0)
            return rc;
        out->u.blocks.count /= PROTO_BLOCK_FIELDS;
        break;
    case PROTO_OP_ALLOC_NAMED:
        out->u.named.size = 0;
        if (rd_uint(&r, &out->u.named.off) != 0 || out->u.named.off == 0 ||
            rd_bool(&r, &out->u.named.created) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_LOOKUP:
    case PROTO_OP_LOOKUP_WAIT:
        out->u.named.created = 0;
        if (rd_uint(&r, &out->u.named.off) != 0 || out->u.named.off == 0 ||
            rd_uint(&r, &out->u.named.size) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_BLOCK_SIZE:
        out->u.named.off = 0;
        out->u.named.created = 0;
        if (rd_uint(&r, &out->u.named.size) != 0)
            return -EBADMSG;
        break;
    case PROTO_OP_NAMES:
        if (rd_uint(&r, &out->u.names.waiting) != 0)
            return -EBADMSG;
        rc = rd_names(d, &r, &out->u.names.v, &out->u.names.count);
        if (rc != 0)
            return rc;
        break;
    case PROTO_OP_STATS:
    case PROTO_OP_ARENAS:
    case PROTO_OP_DAEMON:
    case PROTO_OP_CLIENTS:
        return decode_records(d, payload, len, out);
    default: /* PING, CREATE, DROP, CLOSE, FREE, VALIDATE, RESUME, BYE, NAME_BIND,
              * NAME_UNBIND: nothing but err */
        break;
    }
    return r.p == r.end ? 0 : -EBADMSG;
}

/*
 * The hot messages, ALLOC and FREE (requests and successful replies), as
 * their encoders write them: a fixarray header of the right count, then a
 * fixint op. Such a payload is read straight through, without the general
 * readers' dispatch on count and op. Every field is checked exactly as the
 * general reader checks it; anything else (another form of the header, a
 * field out of range, an error reply, a byte too many or too few) goes to
 * the general reader, which then decides, so both paths accept the same
 * payloads with the same results and every error comes from one place.
 */
static inline uint32_t head2(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

int proto_decode_req(struct proto_dec *d, const uint8_t *payload, size_t len, struct proto_req *out)
{
    struct rd r = {payload + 2, payload + len};
    uint64_t id;

    if (len < 2)
        return decode_req(d, payload, len, out);
    switch (head2(payload)) {
    case 0x9600 | PROTO_OP_ALLOC: {
        uint32_t arena, flags;
        uint64_t size, align;

        if (rd_uint(&r, &id) != 0 || rd_u32(&r, &arena) != 0 || rd_uint(&r, &size) != 0 ||
            rd_uint(&r, &align) != 0 || rd_u32(&r, &flags) != 0 || (flags & ~PROTO_ALLOC_FLAGS) ||
            r.p != r.end)
            break;
        out->op = PROTO_OP_ALLOC;
        out->id = id;
        out->u.alloc.arena = arena;
        out->u.alloc.size = size;
        out->u.alloc.align = align;
        out->u.alloc.flags = flags;
        out->u.alloc.count = 1;
        return 0;
    }
    case 0x9400 | PROTO_OP_FREE: {
        uint32_t arena;
        uint64_t off;

        if (rd_uint(&r, &id) != 0 || rd_u32(&r, &arena) != 0 || rd_uint(&r, &off) != 0 ||
            r.p != r.end)
            break;
        out->op = PROTO_OP_FREE;
        out->id = id;
        out->u.free.arena = arena;
        out->u.free.off = off;
        return 0;
    }
    default:
        break;
    }
    return decode_req(d, payload, len, out);
}

int proto_decode_rep(struct proto_dec *d, const uint8_t *payload, size_t len, struct proto_rep *out)
{
    struct rd r = {payload + 2, payload + len};
    uint64_t id, off;

    if (len < 2)
        return decode_rep(d, payload, len, out);
    switch (head2(payload)) {
    case 0x9400 | PROTO_OP_ALLOC:
        /* [7, id, 0, off]: err a fixint 0 */
        if (rd_uint(&r, &id) != 0 || r.p == r.end || *r.p++ != PROTO_OK || rd_uint(&r, &off) != 0 ||
            off == 0 || r.p != r.end)
            break;
        out->op = PROTO_OP_ALLOC;
        out->id = id;
        out->err = PROTO_OK;
        out->u.alloc.off = off;
        return 0;
    case 0x9300 | PROTO_OP_FREE:
        /* [8, id, 0] */
        if (rd_uint(&r, &id) != 0 || r.end - r.p != 1 || *r.p != PROTO_OK)
            break;
        out->op = PROTO_OP_FREE;
        out->id = id;
        out->err = PROTO_OK;
        return 0;
    default:
        break;
    }
    return decode_rep(d, payload, len, out);
}

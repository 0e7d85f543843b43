/*
 * record.c - the map-shaped records: an arena's (STATS, ARENAS) and the
 * daemon's (DAEMON).
 *
 * Also the rows of a CLIENTS reply, which are records of the same kind.
 *
 * A record travels as a msgpack map with string keys, so that a newer
 * server may add keys without breaking older clients: parsers ignore keys
 * they do not know, and require every key they do know, exactly once. One
 * table per record drives both directions, so a field cannot be packed
 * under one name and looked for under another.
 *
 * Packing writes through the caller's msgpack_packer; parsing reads a
 * msgpack_object that msgpack-c built from a payload proto__check()
 * accepted. Called by encode.c and decode.c only.
 */
#include "proto_int.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

enum kind {
    K_NAME,    /* struct proto_str, an arena name */
    K_VERSION, /* struct proto_str, printable, <= PROTO_VERSION_STR_MAX */
    K_U32,     /* uint32_t */
    K_MODE,    /* uint32_t <= 07777 */
    K_U64,     /* uint64_t */
    K_OPTNAME, /* struct proto_str, an arena name or empty */
    K_BOOL,    /* uint32_t, 0 or 1 */
};

struct field {
    const char *key;
    uint8_t key_len;
    uint8_t kind;
    uint16_t off;
};

/* clang-format off */
#define F(k, kind, type, member) {k, sizeof(k) - 1, kind, offsetof(type, member)}
#define A(k, kind, member)       F(k, kind, struct proto_arena_info, member)
#define D(k, kind, member)       F(k, kind, struct proto_daemon_info, member)
#define C(k, kind, member)       F(k, kind, struct proto_client_row, member)
/* clang-format on */

static const struct field arena_fields[] = {
    A("name", K_NAME, name),
    A("uid", K_U32, uid),
    A("gid", K_U32, gid),
    A("mode", K_MODE, mode),
    A("page_size", K_U64, page_size),
    A("align", K_U32, align),
    A("max_bytes", K_U64, max_bytes),
    A("pages", K_U64, pages),
    A("bytes_reserved", K_U64, bytes_reserved),
    A("bytes_live", K_U64, bytes_live),
    A("blocks_live", K_U64, blocks_live),
    A("free_chunks", K_U64, free_chunks),
    A("largest_free", K_U64, largest_free),
    A("allocs", K_U64, allocs),
    A("frees", K_U64, frees),
    A("alloc_failures", K_U64, alloc_failures),
    A("private", K_BOOL, private_default),
    A("cache_max", K_U64, cache_max),
    A("blocks_cached", K_U64, blocks_cached),
    A("bytes_cached", K_U64, bytes_cached),
};

static const struct field daemon_fields[] = {
    D("version", K_VERSION, version),
    D("uptime_s", K_U64, uptime_s),
    D("clients", K_U64, clients),
    D("arenas", K_U64, arenas),
    D("bytes_reserved", K_U64, bytes_reserved),
    D("bytes_limit", K_U64, bytes_limit),
    D("pid", K_U64, pid),
    D("state_age_s", K_U64, state_age_s),
};

static const struct field client_fields[] = {
    C("client", K_U64, client),
    C("pid", K_U32, pid),
    C("uid", K_U32, uid),
    C("gid", K_U32, gid),
    C("comm", K_VERSION, comm),
    C("since_s", K_U64, since_s),
    C("requests", K_U64, requests),
    C("arena", K_OPTNAME, arena),
    C("blocks", K_U64, blocks),
    C("bytes", K_U64, bytes),
};

#define NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

/* The "seen" bitmask of parse() has room for 32 fields. */
_Static_assert(NFIELDS(arena_fields) <= 32, "too many arena fields");
_Static_assert(NFIELDS(daemon_fields) <= 32, "too many daemon fields");
_Static_assert(NFIELDS(client_fields) <= 32, "too many client fields");

static int optname_check(const struct proto_str *s)
{
    return s->len == 0 ? 0 : proto_name_check(s->ptr, s->len);
}

static int valid(const struct field *f, size_t n, const void *rec)
{
    const char *base = rec;

    for (size_t i = 0; i < n; i++) {
        const void *at = base + f[i].off;
        struct proto_str s;
        uint32_t u;

        switch (f[i].kind) {
        case K_NAME:
            memcpy(&s, at, sizeof(s));
            if (proto_name_check(s.ptr, s.len) != 0)
                return -EINVAL;
            break;
        case K_VERSION:
            memcpy(&s, at, sizeof(s));
            if (proto__version_str_check(s.ptr, s.len) != 0)
                return -EINVAL;
            break;
        case K_OPTNAME:
            memcpy(&s, at, sizeof(s));
            if (optname_check(&s) != 0)
                return -EINVAL;
            break;
        case K_MODE:
        case K_BOOL:
            memcpy(&u, at, sizeof(u));
            if (u > (f[i].kind == K_MODE ? 07777u : 1u))
                return -EINVAL;
            break;
        default:
            break;
        }
    }
    return 0;
}

int proto__arena_valid(const struct proto_arena_info *a)
{
    return valid(arena_fields, NFIELDS(arena_fields), a);
}

int proto__daemon_valid(const struct proto_daemon_info *di)
{
    return valid(daemon_fields, NFIELDS(daemon_fields), di);
}

int proto__client_valid(const struct proto_client_row *c)
{
    return valid(client_fields, NFIELDS(client_fields), c);
}

/* Packs a record the caller validated. 0 or -ENOMEM (the only way the
 * packer's callback fails). */
static int pack(msgpack_packer *pk, const struct field *f, size_t n, const void *rec)
{
    const char *base = rec;
    int rc = msgpack_pack_map(pk, n);

    for (size_t i = 0; i < n && rc == 0; i++) {
        const void *at = base + f[i].off;
        struct proto_str s;
        uint32_t u32;
        uint64_t u64;

        rc = msgpack_pack_str_with_body(pk, f[i].key, f[i].key_len);
        if (rc != 0)
            break;
        switch (f[i].kind) {
        case K_NAME:
        case K_VERSION:
        case K_OPTNAME:
            memcpy(&s, at, sizeof(s));
            rc = proto__pack_str(pk, s.ptr, s.len);
            break;
        case K_U32:
        case K_MODE:
        case K_BOOL:
            memcpy(&u32, at, sizeof(u32));
            rc = msgpack_pack_uint32(pk, u32);
            break;
        default:
            memcpy(&u64, at, sizeof(u64));
            rc = msgpack_pack_uint64(pk, u64);
            break;
        }
    }
    return rc == 0 ? 0 : -ENOMEM;
}

int proto__pack_arena(msgpack_packer *pk, const struct proto_arena_info *a)
{
    return pack(pk, arena_fields, NFIELDS(arena_fields), a);
}

int proto__pack_daemon(msgpack_packer *pk, const struct proto_daemon_info *di)
{
    return pack(pk, daemon_fields, NFIELDS(daemon_fields), di);
}

int proto__pack_client(msgpack_packer *pk, const struct proto_client_row *c)
{
    return pack(pk, client_fields, NFIELDS(client_fields), c);
}

static int lookup(const struct field *f, size_t n, const msgpack_object_str *key)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].key_len == key->size && memcmp(f[i].key, key->ptr, key->size) == 0)
            return (int)i;
    return -1;
}

/* Fills rec from map o. -EPROTO for anything but a map with string keys
 * holding every known field once, each of its type and range. */
static int parse(const msgpack_object *o, const struct field *f, size_t n, void *rec)
{
    char *base = rec;
    uint32_t seen = 0;

    if (o->type != MSGPACK_OBJECT_MAP)
        return -EPROTO;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        void *at;
        int j;

        if (k->type != MSGPACK_OBJECT_STR)
            return -EPROTO;
        j = lookup(f, n, &k->via.str);
        if (j < 0)
            continue; /* a newer server's field */
        if (seen & (1u << j))
            return -EPROTO;
        seen |= 1u << j;
        at = base + f[j].off;
        switch (f[j].kind) {
        case K_NAME:
        case K_VERSION:
        case K_OPTNAME: {
            struct proto_str s;

            if (v->type != MSGPACK_OBJECT_STR)
                return -EPROTO;
            s.ptr = v->via.str.ptr;
            s.len = v->via.str.size;
            if (f[j].kind == K_NAME      ? proto_name_check(s.ptr, s.len) != 0
                : f[j].kind == K_OPTNAME ? optname_check(&s) != 0
                                         : proto__version_str_check(s.ptr, s.len) != 0)
                return -EPROTO;
            memcpy(at, &s, sizeof(s));
            break;
        }
        case K_U32:
        case K_MODE:
        case K_BOOL: {
            uint32_t u;
            uint64_t max = f[j].kind == K_MODE ? 07777u : f[j].kind == K_BOOL ? 1u : UINT32_MAX;

            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > max)
                return -EPROTO;
            u = (uint32_t)v->via.u64;
            memcpy(at, &u, sizeof(u));
            break;
        }
        default:
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return -EPROTO;
            memcpy(at, &v->via.u64, sizeof(uint64_t));
            break;
        }
    }
    if (seen != (n == 32 ? UINT32_MAX : (1u << n) - 1))
        return -EPROTO;
    return 0;
}

int proto__parse_arena(const msgpack_object *o, struct proto_arena_info *a)
{
    return parse(o, arena_fields, NFIELDS(arena_fields), a);
}

int proto__parse_daemon(const msgpack_object *o, struct proto_daemon_info *di)
{
    return parse(o, daemon_fields, NFIELDS(daemon_fields), di);
}

int proto__parse_client(const msgpack_object *o, struct proto_client_row *c)
{
    return parse(o, client_fields, NFIELDS(client_fields), c);
}

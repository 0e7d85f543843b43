/*
 * encode.c - structs to frames.
 *
 * Every message is one msgpack array. All but the records are made of
 * unsigned integers, short strings and lists of integers, and those are
 * written here byte by byte (put_*() below), straight into the caller's
 * proto_buf: an ALLOC request or reply is a few dozen instructions. The
 * forms are msgpack's shortest, which is what msgpack-c's packer writes
 * (uint: positive fixint, then uint 8/16/32/64; str: fixstr, then str
 * 8/16/32; array: fixarray, then array 16/32), so the bytes are the same as
 * msgpack-c would produce; the tests check that for every message against
 * msgpack-c itself. Records (STATS, ARENAS, DAEMON replies) are maps of
 * varying size and go through msgpack-c's packer (record.c), appending to
 * the same buffer through buf_write().
 *
 * An encoder first checks the message against everything the decoder would
 * refuse (op, names, ranges, PROTO_MAX_* bounds), so that a message that
 * encodes always decodes and a bug on one side shows up as -EINVAL where it
 * was made, not as a protocol error at the peer. Room for the whole frame
 * is reserved before anything is written (a fixed message is at most
 * FIXED_MAX bytes, a list 9 bytes per entry more), so the writers need no
 * bounds checks of their own; the frame is only committed (b->len moved
 * past it) once it is complete, so on any error the buffer holds what it
 * held before.
 *
 * Called by ofad (replies) and libofaclient (requests); the tests use both.
 */
#include "proto_int.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

/* Room for any fixed-shape message: array header (1), op (5), id (9),
 * err (5), then at most an arena name (2 + 63), a block name (2 + 255) and
 * four integers (4 * 9): 378 bytes (LOOKUP_WAIT carries both names). */
#define FIXED_MAX 384u

/* Room for one NAMES entry besides its name: array header (1), str
 * header (2), four integers (9 + 9 + 5 + 5). */
#define NAME_ENTRY_OVERHEAD 31u

/* Room for a list message besides its entries: the largest head is a
 * FREE_N request's, 1 + 1 + 9 + 5 + 3 = 19 bytes, or a PAGES reply's,
 * 1 + 1 + 9 + 1 + 5 = 17. */
#define LIST_OVERHEAD 32u

/* Largest entry of a list, a uint 64. */
#define LIST_ENTRY_MAX 9u

/* ---- writers: p has room, each returns the end of what it wrote ---- */

static inline uint8_t *put_be16(uint8_t *p, uint16_t v)
{
    v = __builtin_bswap16(v);
    memcpy(p, &v, sizeof(v));
    return p + sizeof(v);
}

static inline uint8_t *put_be32(uint8_t *p, uint32_t v)
{
    v = __builtin_bswap32(v);
    memcpy(p, &v, sizeof(v));
    return p + sizeof(v);
}

static inline uint8_t *put_be64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, sizeof(v));
    return p + sizeof(v);
}

/* A uint in its shortest form. */
static inline __attribute__((always_inline)) uint8_t *put_uint(uint8_t *p, uint64_t v)
{
    if (v < 0x80) {
        *p = (uint8_t)v;
        return p + 1;
    }
    if (v <= UINT8_MAX) {
        p[0] = 0xcc;
        p[1] = (uint8_t)v;
        return p + 2;
    }
    if (v <= UINT16_MAX) {
        *p = 0xcd;
        return put_be16(p + 1, (uint16_t)v);
    }
    if (v <= UINT32_MAX) {
        *p = 0xce;
        return put_be32(p + 1, (uint32_t)v);
    }
    *p = 0xcf;
    return put_be64(p + 1, v);
}

static inline uint8_t *put_array(uint8_t *p, uint32_t n)
{
    if (n < 16) {
        *p = (uint8_t)(0x90 | n);
        return p + 1;
    }
    if (n <= UINT16_MAX) {
        *p = 0xdc;
        return put_be16(p + 1, (uint16_t)n);
    }
    *p = 0xdd;
    return put_be32(p + 1, n);
}

/* A string the caller checked (a name, a block name or a version string:
 * < 256 bytes). */
static uint8_t *put_str(uint8_t *p, const struct proto_str *s)
{
    assert(s->len <= UINT8_MAX);
    if (s->len < 32) {
        *p++ = (uint8_t)(0xa0 | s->len);
    } else {
        *p++ = 0xd9;
        *p++ = (uint8_t)s->len;
    }
    if (s->len) /* memcpy() from NULL is undefined even for 0 bytes */
        memcpy(p, s->ptr, s->len);
    return p + s->len;
}

/* A fixed-size array's header, op and id: every message starts so. n < 16. */
static inline __attribute__((always_inline)) uint8_t *put_head(uint8_t *p, uint32_t n, uint32_t op,
                                                               uint64_t id)
{
    *p = (uint8_t)(0x90 | n);
    return put_uint(put_uint(p + 1, op), id);
}

/* A list of uints. With nonzero, a 0 entry makes it return NULL. */
static uint8_t *put_list(uint8_t *p, const uint64_t *v, uint32_t count, int nonzero)
{
    p = put_array(p, count);
    for (uint32_t i = 0; i < count; i++) {
        if (nonzero && v[i] == 0)
            return NULL;
        p = put_uint(p, v[i]);
    }
    return p;
}

/* ---- frames ---- */

/* Makes room for a frame of at most room payload bytes; returns where its
 * header goes (b->len is not moved). NULL: no memory. */
static inline __attribute__((always_inline)) uint8_t *frame_room(struct proto_buf *b, size_t room)
{
    if (__builtin_expect(b->cap - b->len < PROTO_HEADER_LEN + room, 0) &&
        proto_buf_reserve(b, PROTO_HEADER_LEN + room) != 0)
        return NULL;
    return b->data + b->len;
}

/* Writes the header of the frame at h whose payload ends at end, and
 * appends the frame to b. */
static inline __attribute__((always_inline)) void frame_commit(struct proto_buf *b, uint8_t *h,
                                                               const uint8_t *end)
{
    size_t n = (size_t)(end - h) - PROTO_HEADER_LEN;

    /* Bounded by the PROTO_MAX_* limits the message was checked against:
     * the largest (4096 arena records) stays under 2 MiB. */
    put_be32(h, (uint32_t)n);
    b->len += (size_t)(end - h);
    assert(b->len <= b->cap);
}

/*
 * The packer's write callback, for records. It lives here, static, and the
 * packer that uses it is a local initialised with it, so that the compiler
 * can inline it into msgpack-c's inline pack functions, where each write
 * has a constant length.
 */
static inline int buf_write(void *data, const char *buf, size_t len)
{
    struct proto_buf *b = data;

    if (b->cap - b->len < len && proto_buf_reserve(b, len) != 0)
        return -1;
    memcpy(b->data + b->len, buf, len);
    b->len += len;
    return 0;
}

/* ---- requests ---- */

int proto_encode_req(struct proto_buf *b, const struct proto_req *r)
{
    size_t room = FIXED_MAX;
    uint8_t *h, *p;
    int rc;

    if (r->op == PROTO_OP_FREE_N) {
        if (r->u.free_n.count > PROTO_MAX_BATCH || (r->u.free_n.count && !r->u.free_n.offs))
            return -EINVAL;
        room = LIST_OVERHEAD + LIST_ENTRY_MAX * (size_t)r->u.free_n.count;
    } else if (r->op == PROTO_OP_DRAIN) {
        if (r->u.drain.count > PROTO_MAX_BATCH || (r->u.drain.count && !r->u.drain.offs))
            return -EINVAL;
        /* Its head holds two more uint 64 than FREE_N's. */
        room = LIST_OVERHEAD + 2 * LIST_ENTRY_MAX + LIST_ENTRY_MAX * (size_t)r->u.drain.count;
    }
    h = frame_room(b, room);
    if (!h)
        return -ENOMEM;
    p = h + PROTO_HEADER_LEN;

    /* The common requests first; each case checks what the decoder would
     * refuse before it writes (nothing is committed before the end). */
    switch (r->op) {
    case PROTO_OP_ALLOC:
    case PROTO_OP_ALLOC_N:
        if (r->u.alloc.flags & ~PROTO_ALLOC_FLAGS)
            return -EINVAL;
        if (r->op == PROTO_OP_ALLOC_N && r->u.alloc.count > PROTO_MAX_BATCH)
            return -EINVAL;
        p = put_head(p, proto__req_fields[r->op], r->op, r->id);
        p = put_uint(p, r->u.alloc.arena);
        p = put_uint(p, r->u.alloc.size);
        p = put_uint(p, r->u.alloc.align);
        p = put_uint(p, r->u.alloc.flags);
        if (r->op == PROTO_OP_ALLOC_N)
            p = put_uint(p, r->u.alloc.count);
        break;
    case PROTO_OP_FREE:
        p = put_head(p, 4, r->op, r->id);
        p = put_uint(p, r->u.free.arena);
        p = put_uint(p, r->u.free.off);
        break;
    case PROTO_OP_PAGE:
        p = put_head(p, 4, r->op, r->id);
        p = put_uint(p, r->u.page.arena);
        p = put_uint(p, r->u.page.off);
        break;
    case PROTO_OP_FREE_N:
        p = put_head(p, 4, r->op, r->id);
        p = put_uint(p, r->u.free_n.arena);
        p = put_list(p, r->u.free_n.offs, r->u.free_n.count, 0);
        break;
    case PROTO_OP_PING:
    case PROTO_OP_ARENAS:
    case PROTO_OP_DAEMON:
    case PROTO_OP_SESSION:
    case PROTO_OP_BYE:
        p = put_head(p, 2, r->op, r->id);
        break;
    case PROTO_OP_RESUME:
        p = put_head(p, 4, r->op, r->id);
        p = put_uint(p, r->u.resume.session);
        p = put_uint(p, r->u.resume.secret);
        break;
    case PROTO_OP_HELLO:
        if (r->u.hello.max_msg < PROTO_MIN_MAX_MSG || r->u.hello.max_msg > PROTO_MAX_MAX_MSG)
            return -EINVAL;
        p = put_head(p, 4, r->op, r->id);
        p = put_uint(p, r->u.hello.version);
        p = put_uint(p, r->u.hello.max_msg);
        break;
    case PROTO_OP_CREATE: {
        /* The cache terms travel only when set, so that a plain CREATE
         * keeps its 7 elements. */
        int terms = r->u.create.private_default != 0 || r->u.create.cache_max != 0;

        rc = proto_name_check(r->u.create.name.ptr, r->u.create.name.len);
        if (rc != 0 || r->u.create.mode > 07777 || r->u.create.private_default > 2)
            return -EINVAL;
        p = put_head(p, terms ? 9 : 7, r->op, r->id);
        p = put_str(p, &r->u.create.name);
        p = put_uint(p, r->u.create.page_size);
        p = put_uint(p, r->u.create.max_bytes);
        p = put_uint(p, r->u.create.align);
        p = put_uint(p, r->u.create.mode);
        if (terms) {
            p = put_uint(p, r->u.create.private_default);
            p = put_uint(p, r->u.create.cache_max);
        }
        break;
    }
    case PROTO_OP_CACHE:
        p = put_head(p, 3, r->op, r->id);
        p = put_uint(p, r->u.cache.arena);
        break;
    case PROTO_OP_FILL:
        if (r->u.fill.count > PROTO_MAX_BATCH)
            return -EINVAL;
        p = put_head(p, 7, r->op, r->id);
        p = put_uint(p, r->u.fill.arena);
        p = put_uint(p, r->u.fill.size);
        p = put_uint(p, r->u.fill.count);
        p = put_uint(p, r->u.fill.blocks);
        p = put_uint(p, r->u.fill.bytes);
        break;
    case PROTO_OP_DRAIN:
        p = put_head(p, 6, r->op, r->id);
        p = put_uint(p, r->u.drain.arena);
        p = put_uint(p, r->u.drain.blocks);
        p = put_uint(p, r->u.drain.bytes);
        p = put_list(p, r->u.drain.offs, r->u.drain.count, 0);
        break;
    case PROTO_OP_DROP:
        rc = proto_name_check(r->u.drop.name.ptr, r->u.drop.name.len);
        if (rc != 0 || r->u.drop.force > 1)
            return -EINVAL;
        p = put_head(p, 4, r->op, r->id);
        p = put_str(p, &r->u.drop.name);
        p = put_uint(p, r->u.drop.force);
        break;
    case PROTO_OP_OPEN:
        if (proto_name_check(r->u.open.name.ptr, r->u.open.name.len) != 0)
            return -EINVAL;
        p = put_head(p, 3, r->op, r->id);
        p = put_str(p, &r->u.open.name);
        break;
    case PROTO_OP_STATS:
    case PROTO_OP_VALIDATE:
        if (proto_name_check(r->u.stats.name.ptr, r->u.stats.name.len) != 0)
            return -EINVAL;
        p = put_head(p, 3, r->op, r->id);
        p = put_str(p, &r->u.stats.name);
        break;
    case PROTO_OP_CLOSE:
        p = put_head(p, 3, r->op, r->id);
        p = put_uint(p, r->u.close.arena);
        break;
    case PROTO_OP_CLIENTS:
        p = put_head(p, 3, r->op, r->id);
        p = put_uint(p, r->u.clients.cursor);
        break;
    case PROTO_OP_BLOCKS:
        if (proto_name_check(r->u.blocks.name.ptr, r->u.blocks.name.len) != 0 ||
            (r->u.blocks.flags & ~PROTO_BLOCKS_FREE))
            return -EINVAL;
        p = put_head(p, 5, r->op, r->id);
        p = put_str(p, &r->u.blocks.name);
        p = put_uint(p, r->u.blocks.cursor);
        p = put_uint(p, r->u.blocks.flags);
        break;
    case PROTO_OP_ALLOC_NAMED:
        if (proto_block_name_check(r->u.named.name.ptr, r->u.named.name.len) != 0 ||
            (r->u.named.flags & ~PROTO_NAMED_EXCL))
            return -EINVAL;
        p = put_head(p, 6, r->op, r->id);
        p = put_uint(p, r->u.named.arena);
        p = put_str(p, &r->u.named.name);
        p = put_uint(p, r->u.named.size);
        p = put_uint(p, r->u.named.flags);
        break;
    case PROTO_OP_NAME_BIND:
    case PROTO_OP_NAME_UNBIND:
    case PROTO_OP_LOOKUP:
        if (proto_block_name_check(r->u.bind.name.ptr, r->u.bind.name.len) != 0)
            return -EINVAL;
        p = put_head(p, proto__req_fields[r->op], r->op, r->id);
        p = put_uint(p, r->u.bind.arena);
        p = put_str(p, &r->u.bind.name);
        if (r->op == PROTO_OP_NAME_BIND)
            p = put_uint(p, r->u.bind.off);
        break;
    case PROTO_OP_LOOKUP_WAIT:
        if (proto_name_check(r->u.wait.arena.ptr, r->u.wait.arena.len) != 0 ||
            proto_block_name_check(r->u.wait.name.ptr, r->u.wait.name.len) != 0)
            return -EINVAL;
        p = put_head(p, 5, r->op, r->id);
        p = put_str(p, &r->u.wait.arena);
        p = put_str(p, &r->u.wait.name);
        p = put_uint(p, r->u.wait.timeout_ms);
        break;
    case PROTO_OP_NAMES:
        if (proto_name_check(r->u.names.name.ptr, r->u.names.name.len) != 0)
            return -EINVAL;
        p = put_head(p, 3, r->op, r->id);
        p = put_str(p, &r->u.names.name);
        break;
    case PROTO_OP_BLOCK_SIZE:
        p = put_head(p, 4, r->op, r->id);
        p = put_uint(p, r->u.block.arena);
        p = put_uint(p, r->u.block.off);
        break;
    case PROTO_OP_PAGES:
        p = put_head(p, 3, r->op, r->id);
        p = put_uint(p, r->u.pages.arena);
        break;
    default:
        return -EINVAL;
    }
    assert((size_t)(p - h) <= PROTO_HEADER_LEN + room);
    frame_commit(b, h, p);
    return 0;
}

/* ---- replies ---- */

/* Replies whose size varies (lists, records): checked and sized apart. */
#define VARIABLE_REPS                                                                              \
    (1u << PROTO_OP_ALLOC_N | 1u << PROTO_OP_PAGES | 1u << PROTO_OP_STATS |                        \
     1u << PROTO_OP_ARENAS | 1u << PROTO_OP_DAEMON | 1u << PROTO_OP_CLIENTS |                       \
     1u << PROTO_OP_BLOCKS | 1u << PROTO_OP_NAMES)

/* A BLOCKS reply with err 0: [op, id, 0, next, [u64...]]. */
static int encode_blocks_rep(struct proto_buf *b, const struct proto_rep *r)
{
    uint32_t n = r->u.blocks.count * PROTO_BLOCK_FIELDS;
    uint8_t *h, *p;

    if (r->u.blocks.count > PROTO_MAX_BLOCK_ROWS || (n && !r->u.blocks.v))
        return -EINVAL;
    h = frame_room(b, LIST_OVERHEAD + LIST_ENTRY_MAX * ((size_t)n + 1));
    if (!h)
        return -ENOMEM;
    p = put_head(h + PROTO_HEADER_LEN, 5, r->op, r->id);
    *p++ = PROTO_OK;
    p = put_uint(p, r->u.blocks.next);
    p = put_list(p, r->u.blocks.v, n, 0);
    frame_commit(b, h, p);
    return 0;
}

/* ALLOC_N and PAGES replies with err 0. */
static __attribute__((noinline)) int encode_list_rep(struct proto_buf *b, const struct proto_rep *r)
{
    int blocks = r->op == PROTO_OP_ALLOC_N || r->op == PROTO_OP_FILL;
    uint32_t max = blocks ? PROTO_MAX_BATCH : PROTO_MAX_PAGES;
    uint8_t *h, *p;

    if (r->op == PROTO_OP_BLOCKS)
        return encode_blocks_rep(b, r);

    if (r->u.list.count > max || (r->u.list.count && !r->u.list.offs))
        return -EINVAL;
    h = frame_room(b, LIST_OVERHEAD + LIST_ENTRY_MAX * (size_t)r->u.list.count);
    if (!h)
        return -ENOMEM;
    p = put_head(h + PROTO_HEADER_LEN, 4, r->op, r->id);
    *p++ = PROTO_OK;
    p = put_list(p, r->u.list.offs, r->u.list.count, blocks);
    if (!p)
        return -EINVAL; /* a 0 offset in an ALLOC_N or FILL reply */
    frame_commit(b, h, p);
    return 0;
}

/* NAMES replies with err 0: the count of waiters, then one array per
 * name, [name, off, size, uid, pid]. */
static __attribute__((noinline)) int encode_names_rep(struct proto_buf *b,
                                                      const struct proto_rep *r)
{
    const struct proto_name_info *v = r->u.names.v;
    uint32_t n = r->u.names.count;
    size_t room = LIST_OVERHEAD + 9;
    uint8_t *h, *p;

    if (n > PROTO_MAX_NAMES || (n && !v))
        return -EINVAL;
    for (uint32_t i = 0; i < n; i++) {
        if (proto_block_name_check(v[i].name.ptr, v[i].name.len) != 0 || v[i].off == 0)
            return -EINVAL;
        room += NAME_ENTRY_OVERHEAD + v[i].name.len;
    }
    h = frame_room(b, room);
    if (!h)
        return -ENOMEM;
    p = put_head(h + PROTO_HEADER_LEN, 5, r->op, r->id);
    *p++ = PROTO_OK;
    p = put_uint(p, r->u.names.waiting);
    p = put_array(p, n);
    for (uint32_t i = 0; i < n; i++) {
        *p++ = 0x95;
        p = put_str(p, &v[i].name);
        p = put_uint(p, v[i].off);
        p = put_uint(p, v[i].size);
        p = put_uint(p, v[i].uid);
        p = put_uint(p, v[i].pid);
    }
    assert((size_t)(p - h) <= PROTO_HEADER_LEN + room);
    frame_commit(b, h, p);
    return 0;
}

/*
 * STATS, ARENAS and DAEMON replies with err 0, through msgpack-c: the head
 * is written and committed first, then the packer appends (growing the
 * buffer as it needs: the room reserved is only an estimate), and the
 * header is patched at the end.
 */
static __attribute__((noinline)) int encode_record_rep(struct proto_buf *b,
                                                       const struct proto_rep *r)
{
    msgpack_packer pk;
    size_t start = b->len, room;
    uint8_t *h, *p;
    int rc = 0;

    switch (r->op) {
    case PROTO_OP_STATS:
        rc = proto__arena_valid(&r->u.stats);
        room = 512;
        break;
    case PROTO_OP_DAEMON:
        rc = proto__daemon_valid(&r->u.daemon);
        room = 256;
        break;
    case PROTO_OP_CLIENTS:
        if (r->u.clients.count > PROTO_MAX_CLIENT_ROWS || (r->u.clients.count && !r->u.clients.v))
            return -EINVAL;
        for (uint32_t i = 0; i < r->u.clients.count && rc == 0; i++)
            rc = proto__client_valid(&r->u.clients.v[i]);
        room = LIST_OVERHEAD + 160 * (size_t)r->u.clients.count;
        break;
    default: /* ARENAS */
        if (r->u.arenas.count > PROTO_MAX_ARENAS || (r->u.arenas.count && !r->u.arenas.v))
            return -EINVAL;
        for (uint32_t i = 0; i < r->u.arenas.count && rc == 0; i++)
            rc = proto__arena_valid(&r->u.arenas.v[i]);
        /* A typical record takes ~250 bytes; the packer grows the rest. */
        room = LIST_OVERHEAD + 256 * (size_t)r->u.arenas.count;
        break;
    }
    if (rc != 0)
        return -EINVAL;
    h = frame_room(b, room);
    if (!h)
        return -ENOMEM;
    p = put_head(h + PROTO_HEADER_LEN, proto__rep_fields[r->op], r->op, r->id);
    *p++ = PROTO_OK;
    if (r->op == PROTO_OP_ARENAS)
        p = put_array(p, r->u.arenas.count);
    if (r->op == PROTO_OP_CLIENTS) {
        p = put_uint(p, r->u.clients.next);
        p = put_array(p, r->u.clients.count);
    }
    b->len += (size_t)(p - h);

    msgpack_packer_init(&pk, b, buf_write);
    switch (r->op) {
    case PROTO_OP_STATS:
        rc = proto__pack_arena(&pk, &r->u.stats);
        break;
    case PROTO_OP_DAEMON:
        rc = proto__pack_daemon(&pk, &r->u.daemon);
        break;
    case PROTO_OP_CLIENTS:
        for (uint32_t i = 0; i < r->u.clients.count && rc == 0; i++)
            rc = proto__pack_client(&pk, &r->u.clients.v[i]);
        break;
    default:
        for (uint32_t i = 0; i < r->u.arenas.count && rc == 0; i++)
            rc = proto__pack_arena(&pk, &r->u.arenas.v[i]);
        break;
    }
    if (rc != 0) {
        b->len = start;
        return -ENOMEM;
    }
    /* The packer may have moved the data. */
    put_be32(b->data + start, (uint32_t)(b->len - start - PROTO_HEADER_LEN));
    return 0;
}

int proto_encode_rep(struct proto_buf *b, const struct proto_rep *r)
{
    uint8_t *h, *p;

    if (r->err == PROTO_OK && r->op < 32 && ((1u << r->op) & VARIABLE_REPS))
        return r->op == PROTO_OP_ALLOC_N || r->op == PROTO_OP_PAGES || r->op == PROTO_OP_BLOCKS
                   ? encode_list_rep(b, r)
               : r->op == PROTO_OP_NAMES ? encode_names_rep(b, r)
                                         : encode_record_rep(b, r);
    if (r->err == PROTO_OK && r->op == PROTO_OP_FILL)
        return encode_list_rep(b, r);
    /* Every other reply fits in FIXED_MAX. */
    h = frame_room(b, FIXED_MAX);
    if (!h)
        return -ENOMEM;
    p = h + PROTO_HEADER_LEN;

    if (r->err != PROTO_OK) {
        /* [op, id, err], any op (the server answers unknown ones too);
         * FREE_N's and DRAIN's count travels with their errors. */
        int fcount = r->op == PROTO_OP_FREE_N || r->op == PROTO_OP_DRAIN;

        if (fcount && r->u.list.count > PROTO_MAX_BATCH)
            return -EINVAL;
        p = put_head(p, 3u + (uint32_t)fcount, r->op, r->id);
        p = put_uint(p, r->err);
        if (fcount)
            p = put_uint(p, r->u.list.count);
        frame_commit(b, h, p);
        return 0;
    }

    /* Each case checks what the decoder would refuse before it writes
     * (nothing is committed before the end). */
    switch (r->op) {
    case PROTO_OP_ALLOC:
        if (r->u.alloc.off == 0)
            return -EINVAL;
        p = put_head(p, 4, r->op, r->id);
        *p++ = PROTO_OK;
        p = put_uint(p, r->u.alloc.off);
        break;
    case PROTO_OP_FREE:
    case PROTO_OP_PING:
    case PROTO_OP_CREATE:
    case PROTO_OP_DROP:
    case PROTO_OP_CLOSE:
    case PROTO_OP_VALIDATE:
    case PROTO_OP_RESUME:
    case PROTO_OP_BYE:
    case PROTO_OP_NAME_BIND:
    case PROTO_OP_NAME_UNBIND:
        p = put_head(p, 3, r->op, r->id);
        *p++ = PROTO_OK;
        break;
    case PROTO_OP_SESSION:
        p = put_head(p, 5, r->op, r->id);
        *p++ = PROTO_OK;
        p = put_uint(p, r->u.session.session);
        p = put_uint(p, r->u.session.secret);
        break;
    case PROTO_OP_FREE_N:
    case PROTO_OP_DRAIN:
        if (r->u.list.count > PROTO_MAX_BATCH)
            return -EINVAL;
        p = put_head(p, 4, r->op, r->id);
        *p++ = PROTO_OK;
        p = put_uint(p, r->u.list.count);
        break;
    case PROTO_OP_PAGE:
        if (r->u.page.len == 0 || r->u.page.writable > 1)
            return -EINVAL;
        p = put_head(p, 6, r->op, r->id);
        *p++ = PROTO_OK;
        p = put_uint(p, r->u.page.base);
        p = put_uint(p, r->u.page.len);
        p = put_uint(p, r->u.page.writable);
        break;
    case PROTO_OP_ALLOC_NAMED:
        if (r->u.named.off == 0 || r->u.named.created > 1)
            return -EINVAL;
        p = put_head(p, 5, r->op, r->id);
        *p++ = PROTO_OK;
        p = put_uint(p, r->u.named.off);
        p = put_uint(p, r->u.named.created);
        break;
    case PROTO_OP_LOOKUP:
    case PROTO_OP_LOOKUP_WAIT:
        if (r->u.named.off == 0)
            return -EINVAL;
        p = put_head(p, 5, r->op, r->id);
        *p++ = PROTO_OK;
        p = put_uint(p, r->u.named.off);
        p = put_uint(p, r->u.named.size);
        break;
    case PROTO_OP_BLOCK_SIZE:
        p = put_head(p, 4, r->op, r->id);
        *p++ = PROTO_OK;
        p = put_uint(p, r->u.named.size);
        break;
    case PROTO_OP_CACHE:
        if (r->u.cache.private_default > 1)
            return -EINVAL;
        p = put_head(p, 7, r->op, r->id);
        *p++ = PROTO_OK;
        p = put_uint(p, r->u.cache.private_default);
        p = put_uint(p, r->u.cache.cache_max);
        p = put_uint(p, r->u.cache.slot);
        p = put_uint(p, r->u.cache.ticket);
        break;
    case PROTO_OP_OPEN:
        if (r->u.open.writable > 1)
            return -EINVAL;
        p = put_head(p, 8, r->op, r->id);
        *p++ = PROTO_OK;
        p = put_uint(p, r->u.open.arena);
        p = put_uint(p, r->u.open.writable);
        p = put_uint(p, r->u.open.align);
        p = put_uint(p, r->u.open.page_size);
        p = put_uint(p, r->u.open.max_bytes);
        break;
    case PROTO_OP_HELLO:
        if (r->u.hello.max_msg < PROTO_MIN_MAX_MSG || r->u.hello.max_msg > PROTO_MAX_MAX_MSG ||
            proto__version_str_check(r->u.hello.server.ptr, r->u.hello.server.len) != 0)
            return -EINVAL;
        p = put_head(p, 6, r->op, r->id);
        *p++ = PROTO_OK;
        p = put_uint(p, r->u.hello.version);
        p = put_uint(p, r->u.hello.max_msg);
        p = put_str(p, &r->u.hello.server);
        break;
    default:
        return -EINVAL;
    }
    assert((size_t)(p - h) <= PROTO_HEADER_LEN + FIXED_MAX);
    frame_commit(b, h, p);
    return 0;
}

/*
 * check_proto.c - the wire codec: framing, every message both ways, and
 * everything a hostile peer could send.
 *
 * The expected wire layout of each message is written here a second time,
 * independently of the codec: as a list of values packed with msgpack-c's
 * own packer in the order PROTOCOL.md gives. The codec must decode those
 * bytes to the expected struct, and encode that struct back to the very same
 * bytes. Then each field is replaced with values of every wrong type and
 * out of range, fields are dropped and added, payloads truncated at every
 * length, and random bytes and random mutations of valid messages are fed
 * in: every one must be refused with the documented error, and whatever is
 * accepted must encode and decode back to itself.
 *
 * Random cases print their seed; OFA_SEED=<n> replays one.
 */
#include "runner.h"
#include "proto.h"
#include "proto_int.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Values as the test packs them, independently of the codec. */

enum vk {
    V_U,   /* uint u */
    V_NEG, /* negative integer (int64)u */
    V_STR, /* str s, n bytes */
    V_NIL,
    V_TRUE,
    V_FLOAT,
    V_BIN,
    V_MAP0,   /* {} */
    V_LIST,   /* array of n uints at p */
    V_ARENA,  /* arena record map from *p */
    V_ARENAS, /* array of n arena records at p */
    V_DAEMON, /* daemon record map from *p */
    V_RAW,    /* n bytes at p, verbatim */
    V_NAMES,  /* array of n NAMES entries at p */
};

struct val {
    enum vk k;
    uint64_t u;
    const char *s;
    uint32_t n;
    const void *p;
};

#define U(x)         ((struct val){V_U, (uint64_t)(x), NULL, 0, NULL})
#define STR(x)       ((struct val){V_STR, 0, (x), (uint32_t)strlen(x), NULL})
#define LIST(v, c)   ((struct val){V_LIST, 0, NULL, (c), (v)})
#define RAW(b)       ((struct val){V_RAW, 0, NULL, sizeof(b) - 1, (b)})
#define ARENA(a)     ((struct val){V_ARENA, 0, NULL, 0, (a)})
#define ARENAS(v, c) ((struct val){V_ARENAS, 0, NULL, (c), (v)})
#define DAEMON(d)    ((struct val){V_DAEMON, 0, NULL, 0, (d)})
#define NAMES(v, c)  ((struct val){V_NAMES, 0, NULL, (c), (v)})

#define ARENA_KEYS 20
static const char *const arena_keys[ARENA_KEYS] = {
    "name",           "uid",         "gid",          "mode",           "page_size",
    "align",          "max_bytes",   "pages",        "bytes_reserved", "bytes_live",
    "blocks_live",    "free_chunks", "largest_free", "allocs",         "frees",
    "alloc_failures", "private",     "cache_max",    "blocks_cached",  "bytes_cached"};
#define DAEMON_KEYS 8
static const char *const daemon_keys[DAEMON_KEYS] = {
    "version", "uptime_s", "clients", "arenas", "bytes_reserved", "bytes_limit", "pid",
    "state_age_s"};

static void raw(msgpack_packer *pk, const void *p, size_t n)
{
    if (n)
        pk->callback(pk->data, p, n);
}

static void pstr(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    if (n)
        msgpack_pack_str_body(pk, s, n);
}

/* How to spoil a record: skip key i, repeat key i, give key i a wrong value,
 * add an unknown key with raw value bytes, or a non-string key. */
struct spoil {
    int skip, dup, bad;
    const void *extra;
    size_t extra_len;
    int uint_key;
    int reverse;
};
static const struct spoil no_spoil = {-1, -1, -1, NULL, 0, 0, 0};

static void arena_value(msgpack_packer *pk, const struct proto_arena_info *a, int i)
{
    const uint64_t v[ARENA_KEYS] = {0,
                                    a->uid,
                                    a->gid,
                                    a->mode,
                                    a->page_size,
                                    a->align,
                                    a->max_bytes,
                                    a->pages,
                                    a->bytes_reserved,
                                    a->bytes_live,
                                    a->blocks_live,
                                    a->free_chunks,
                                    a->largest_free,
                                    a->allocs,
                                    a->frees,
                                    a->alloc_failures,
                                    a->private_default,
                                    a->cache_max,
                                    a->blocks_cached,
                                    a->bytes_cached};

    if (i == 0)
        pstr(pk, a->name.ptr, a->name.len);
    else
        msgpack_pack_uint64(pk, v[i]);
}

static void daemon_value(msgpack_packer *pk, const struct proto_daemon_info *d, int i)
{
    const uint64_t v[DAEMON_KEYS] = {0,        d->uptime_s,    d->clients,
                                     d->arenas, d->bytes_reserved, d->bytes_limit,
                                     d->pid,    d->state_age_s};

    if (i == 0)
        pstr(pk, d->version.ptr, d->version.len);
    else
        msgpack_pack_uint64(pk, v[i]);
}

static void pack_record(msgpack_packer *pk, const void *rec, int daemon, const struct spoil *sp)
{
    int n = daemon ? DAEMON_KEYS : ARENA_KEYS;
    const char *const *keys = daemon ? daemon_keys : arena_keys;
    int entries = n - (sp->skip >= 0) + (sp->dup >= 0) + (sp->extra != NULL) + sp->uint_key;

    msgpack_pack_map(pk, (size_t)entries);
    if (sp->uint_key) {
        msgpack_pack_uint32(pk, 1);
        msgpack_pack_uint32(pk, 1);
    }
    if (sp->extra) {
        pstr(pk, "zz_future_key", 13);
        raw(pk, sp->extra, sp->extra_len);
    }
    for (int j = 0; j < n; j++) {
        int i = sp->reverse ? n - 1 - j : j;

        if (i == sp->skip)
            continue;
        for (int rep = 0; rep < 1 + (i == sp->dup); rep++) {
            pstr(pk, keys[i], strlen(keys[i]));
            if (i == sp->bad) {
                /* a string where a number goes and the other way round,
                 * or a value out of range */
                if (i == 0)
                    msgpack_pack_uint32(pk, 7);
                else if (!daemon && (i == 1 || i == 2 || i == 5))
                    msgpack_pack_uint64(pk, 1ull << 32);
                else if (!daemon && i == 3)
                    msgpack_pack_uint32(pk, 010000);
                else if (!daemon && i == 16)
                    msgpack_pack_uint32(pk, 2); /* private is 0 or 1 */
                else
                    pstr(pk, "7", 1);
            } else if (daemon) {
                daemon_value(pk, rec, i);
            } else {
                arena_value(pk, rec, i);
            }
        }
    }
}

static void pack_val(msgpack_packer *pk, const struct val *v)
{
    static const uint8_t bin[] = {0xc4, 0x01, 0x78};

    switch (v->k) {
    case V_U:
        msgpack_pack_uint64(pk, v->u);
        break;
    case V_NEG:
        msgpack_pack_int64(pk, (int64_t)v->u);
        break;
    case V_STR:
        pstr(pk, v->s, v->n);
        break;
    case V_NIL:
        msgpack_pack_nil(pk);
        break;
    case V_TRUE:
        msgpack_pack_true(pk);
        break;
    case V_FLOAT:
        msgpack_pack_double(pk, 1.5);
        break;
    case V_BIN:
        raw(pk, bin, sizeof(bin));
        break;
    case V_MAP0:
        msgpack_pack_map(pk, 0);
        break;
    case V_LIST: {
        const uint64_t *l = v->p;

        msgpack_pack_array(pk, v->n);
        for (uint32_t i = 0; i < v->n; i++)
            msgpack_pack_uint64(pk, l[i]);
        break;
    }
    case V_ARENA:
        pack_record(pk, v->p, 0, &no_spoil);
        break;
    case V_ARENAS: {
        const struct proto_arena_info *a = v->p;

        msgpack_pack_array(pk, v->n);
        for (uint32_t i = 0; i < v->n; i++)
            pack_record(pk, &a[i], 0, &no_spoil);
        break;
    }
    case V_DAEMON:
        pack_record(pk, v->p, 1, &no_spoil);
        break;
    case V_RAW:
        raw(pk, v->p, v->n);
        break;
    case V_NAMES: {
        const struct proto_name_info *e = v->p;

        msgpack_pack_array(pk, v->n);
        for (uint32_t i = 0; i < v->n; i++) {
            msgpack_pack_array(pk, 5);
            pstr(pk, e[i].name.ptr, e[i].name.len);
            msgpack_pack_uint64(pk, e[i].off);
            msgpack_pack_uint64(pk, e[i].size);
            msgpack_pack_uint64(pk, e[i].uid);
            msgpack_pack_uint64(pk, e[i].pid);
        }
        break;
    }
    }
}

/* Packs an array of n values into sb (cleared first). */
static void pack_vals(msgpack_sbuffer *sb, const struct val *v, int n)
{
    msgpack_packer pk;

    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, (size_t)n);
    for (int i = 0; i < n; i++)
        pack_val(&pk, &v[i]);
}

/* ------------------------------------------------------------------ */
/* Field types, and the sample messages. */

enum ft {
    FT_OP,
    FT_ID,
    FT_ERR,
    FT_U32,
    FT_U64,
    FT_NZ64,   /* u64, not 0 */
    FT_BOOL,   /* 0 or 1 */
    FT_PRIV,   /* CREATE's private default: 0, 1 or 2 */
    FT_FLAGS,  /* bits of PROTO_ALLOC_FLAGS */
    FT_MODE,   /* <= 07777 */
    FT_MAXMSG, /* PROTO_MIN_MAX_MSG..PROTO_MAX_MAX_MSG */
    FT_COUNT,  /* <= PROTO_MAX_BATCH */
    FT_NAME,
    FT_VSTR,
    FT_LIST,   /* <= PROTO_MAX_BATCH uints */
    FT_NZLIST, /* <= PROTO_MAX_BATCH uints, none 0 */
    FT_PLIST,  /* <= PROTO_MAX_PAGES uints */
    FT_RECORD,
    FT_RECORDS,
    FT_DRECORD,
    FT_BNAME,  /* block name */
    FT_NFLAGS, /* PROTO_NAMED_EXCL or 0 */
    FT_NAMES,  /* NAMES entries */
};

#define MAXF 9

struct tmsg {
    char name[40];
    int rep;
    int nf;
    enum ft ft[MAXF];
    struct val v[MAXF];
    struct proto_req req; /* what it decodes to (rep == 0) */
    struct proto_rep rp;  /* (rep == 1) */
};

static uint64_t offs_a[5] = {64, 0x7f, 0x80, 0xffffffffull, UINT64_MAX};
static uint64_t offs_max[PROTO_MAX_BATCH];
static uint64_t offs_over[PROTO_MAX_PAGES + 1];
static struct proto_arena_info arena_a, arena_b, arenas3[3];
static struct proto_daemon_info daemon_a;
static const char name63[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.";
static char bname255[256]; /* 255 bytes of every block name character */
static struct proto_name_info names3[3];

static struct tmsg samples[64];
static int nsamples;

/* A message of op with only its head: op, id (and err 0 for a reply). */
static void msg_init(struct tmsg *m, const char *name, int rep, uint32_t op, uint64_t id)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->rep = rep;
    m->ft[0] = FT_OP;
    m->v[0] = U(op);
    m->ft[1] = FT_ID;
    m->v[1] = U(id);
    m->nf = 2;
    if (rep) {
        m->rp.op = op;
        m->rp.id = id;
        m->ft[2] = FT_ERR;
        m->v[2] = U(0);
        m->nf = 3;
    } else {
        m->req.op = op;
        m->req.id = id;
    }
}

static struct tmsg *add(const char *name, int rep, uint32_t op, uint64_t id)
{
    struct tmsg *m = &samples[nsamples++];

    ck_assert_int_le(nsamples, (int)(sizeof(samples) / sizeof(samples[0])));
    msg_init(m, name, rep, op, id);
    return m;
}

static void f(struct tmsg *m, enum ft t, struct val v)
{
    ck_assert_int_lt(m->nf, MAXF);
    m->ft[m->nf] = t;
    m->v[m->nf] = v;
    m->nf++;
}

static struct proto_str pstr_of(const char *s)
{
    return (struct proto_str){s, (uint32_t)strlen(s)};
}

static void fill_arena(struct proto_arena_info *a, const char *name, uint64_t k)
{
    a->name = pstr_of(name);
    a->uid = (uint32_t)(1000 + k);
    a->gid = UINT32_MAX - (uint32_t)k;
    a->mode = 0640;
    a->align = 64;
    a->page_size = 1ull << 20;
    a->max_bytes = UINT64_MAX - k;
    a->pages = 3 + k;
    a->bytes_reserved = 3ull << 20;
    a->bytes_live = 123456 + k;
    a->blocks_live = 99;
    a->free_chunks = 7;
    a->largest_free = 800000;
    a->allocs = 1ull << 40;
    a->frees = (1ull << 40) - 99;
    a->alloc_failures = k;
    a->private_default = (uint32_t)(k % 2);
    a->cache_max = 1ull << 20;
    a->blocks_cached = 12 + k;
    a->bytes_cached = 768 + k;
}

static void build_samples(void)
{
    struct tmsg *m;

    nsamples = 0;
    for (uint32_t i = 0; i < PROTO_MAX_BATCH; i++)
        offs_max[i] = UINT64_MAX - i;
    for (uint32_t i = 0; i <= PROTO_MAX_PAGES; i++)
        offs_over[i] = 4096ull * (i + 1);
    fill_arena(&arena_a, "frames", 0);
    fill_arena(&arena_b, name63, 5);
    fill_arena(&arenas3[0], "a", 1);
    fill_arena(&arenas3[1], "b.c", 2);
    fill_arena(&arenas3[2], "default", 3);
    arenas3[2].pages = arenas3[2].bytes_live = 0; /* as for an arena the caller may not read */
    daemon_a =
        (struct proto_daemon_info){pstr_of("0.1.0"), 86400, 3, 2, 1ull << 33, 1ull << 40, 4242, 600};

    /* Requests, in op order; ids and handles at their edges. */
    m = add("req HELLO", 0, PROTO_OP_HELLO, 0);
    f(m, FT_U32, U(PROTO_VERSION));
    f(m, FT_MAXMSG, U(PROTO_DEFAULT_MAX_MSG));
    m->req.u.hello.version = PROTO_VERSION;
    m->req.u.hello.max_msg = PROTO_DEFAULT_MAX_MSG;

    m = add("req PING", 0, PROTO_OP_PING, 1);

    m = add("req CREATE", 0, PROTO_OP_CREATE, 127);
    f(m, FT_NAME, STR("frames"));
    f(m, FT_U64, U(1 << 20));
    f(m, FT_U64, U(1ull << 34));
    f(m, FT_U32, U(4096));
    f(m, FT_MODE, U(0660));
    m->req.u.create.name = pstr_of("frames");
    m->req.u.create.page_size = 1 << 20;
    m->req.u.create.max_bytes = 1ull << 34;
    m->req.u.create.align = 4096;
    m->req.u.create.mode = 0660;

    m = add("req CREATE defaults", 0, PROTO_OP_CREATE, 128);
    f(m, FT_NAME, STR(name63));
    f(m, FT_U64, U(0));
    f(m, FT_U64, U(0));
    f(m, FT_U32, U(0));
    f(m, FT_MODE, U(07777));
    m->req.u.create.name = pstr_of(name63);
    m->req.u.create.mode = 07777;

    m = add("req CREATE cache terms", 0, PROTO_OP_CREATE, 129);
    f(m, FT_NAME, STR("small"));
    f(m, FT_U64, U(0));
    f(m, FT_U64, U(0));
    f(m, FT_U32, U(0));
    f(m, FT_MODE, U(0600));
    f(m, FT_PRIV, U(1));
    f(m, FT_U64, U(UINT64_MAX));
    m->req.u.create.name = pstr_of("small");
    m->req.u.create.mode = 0600;
    m->req.u.create.private_default = 1;
    m->req.u.create.cache_max = UINT64_MAX;

    m = add("req DROP", 0, PROTO_OP_DROP, 255);
    f(m, FT_NAME, STR("x"));
    f(m, FT_BOOL, U(1));
    m->req.u.drop.name = pstr_of("x");
    m->req.u.drop.force = 1;

    m = add("req OPEN", 0, PROTO_OP_OPEN, 256);
    f(m, FT_NAME, STR("a-b_c.d"));
    m->req.u.open.name = pstr_of("a-b_c.d");

    m = add("req CLOSE", 0, PROTO_OP_CLOSE, 65535);
    f(m, FT_U32, U(UINT32_MAX));
    m->req.u.close.arena = UINT32_MAX;

    m = add("req ALLOC", 0, PROTO_OP_ALLOC, 65536);
    f(m, FT_U32, U(1));
    f(m, FT_U64, U(4096));
    f(m, FT_U64, U(0));
    f(m, FT_FLAGS, U(0));
    m->req.u.alloc.arena = 1;
    m->req.u.alloc.size = 4096;
    m->req.u.alloc.count = 1;

    m = add("req ALLOC keep", 0, PROTO_OP_ALLOC, UINT32_MAX);
    f(m, FT_U32, U(0));
    f(m, FT_U64, U(UINT64_MAX));
    f(m, FT_U64, U(1ull << 30));
    f(m, FT_FLAGS, U(PROTO_ALLOC_KEEP));
    m->req.u.alloc.size = UINT64_MAX;
    m->req.u.alloc.align = 1ull << 30;
    m->req.u.alloc.flags = PROTO_ALLOC_KEEP;
    m->req.u.alloc.count = 1;

    m = add("req FREE", 0, PROTO_OP_FREE, 1ull << 32);
    f(m, FT_U32, U(7));
    f(m, FT_U64, U(0x10040));
    m->req.u.free.arena = 7;
    m->req.u.free.off = 0x10040;

    m = add("req ALLOC_N", 0, PROTO_OP_ALLOC_N, UINT64_MAX);
    f(m, FT_U32, U(2));
    f(m, FT_U64, U(64));
    f(m, FT_U64, U(128));
    f(m, FT_FLAGS, U(0));
    f(m, FT_COUNT, U(PROTO_MAX_BATCH));
    m->req.u.alloc.arena = 2;
    m->req.u.alloc.size = 64;
    m->req.u.alloc.align = 128;
    m->req.u.alloc.count = PROTO_MAX_BATCH;

    m = add("req FREE_N", 0, PROTO_OP_FREE_N, 9);
    f(m, FT_U32, U(3));
    f(m, FT_LIST, LIST(offs_a, 5));
    m->req.u.free_n.arena = 3;
    m->req.u.free_n.offs = offs_a;
    m->req.u.free_n.count = 5;

    m = add("req FREE_N max", 0, PROTO_OP_FREE_N, UINT64_MAX);
    f(m, FT_U32, U(UINT32_MAX));
    f(m, FT_LIST, LIST(offs_max, PROTO_MAX_BATCH));
    m->req.u.free_n.arena = UINT32_MAX;
    m->req.u.free_n.offs = offs_max;
    m->req.u.free_n.count = PROTO_MAX_BATCH;

    m = add("req FREE_N empty", 0, PROTO_OP_FREE_N, 10);
    f(m, FT_U32, U(3));
    f(m, FT_LIST, LIST(offs_a, 0));
    m->req.u.free_n.arena = 3;

    m = add("req PAGE", 0, PROTO_OP_PAGE, 11);
    f(m, FT_U32, U(4));
    f(m, FT_U64, U(1ull << 40));
    m->req.u.page.arena = 4;
    m->req.u.page.off = 1ull << 40;

    m = add("req PAGES", 0, PROTO_OP_PAGES, 12);
    f(m, FT_U32, U(5));
    m->req.u.pages.arena = 5;

    m = add("req STATS", 0, PROTO_OP_STATS, 13);
    f(m, FT_NAME, STR("default"));
    m->req.u.stats.name = pstr_of("default");

    add("req ARENAS", 0, PROTO_OP_ARENAS, 14);
    add("req DAEMON", 0, PROTO_OP_DAEMON, 15);

    m = add("req ALLOC private", 0, PROTO_OP_ALLOC, 30);
    f(m, FT_U32, U(1));
    f(m, FT_U64, U(64));
    f(m, FT_U64, U(0));
    f(m, FT_FLAGS, U(PROTO_ALLOC_PRIVATE));
    m->req.u.alloc.arena = 1;
    m->req.u.alloc.size = 64;
    m->req.u.alloc.flags = PROTO_ALLOC_PRIVATE;
    m->req.u.alloc.count = 1;

    m = add("req CACHE", 0, PROTO_OP_CACHE, 31);
    f(m, FT_U32, U(UINT32_MAX));
    m->req.u.cache.arena = UINT32_MAX;

    m = add("req FILL", 0, PROTO_OP_FILL, 32);
    f(m, FT_U32, U(2));
    f(m, FT_U64, U(4096));
    f(m, FT_COUNT, U(PROTO_MAX_BATCH));
    f(m, FT_U64, U(1ull << 33));
    f(m, FT_U64, U(UINT64_MAX));
    m->req.u.fill.arena = 2;
    m->req.u.fill.size = 4096;
    m->req.u.fill.count = PROTO_MAX_BATCH;
    m->req.u.fill.blocks = 1ull << 33;
    m->req.u.fill.bytes = UINT64_MAX;

    m = add("req DRAIN", 0, PROTO_OP_DRAIN, 33);
    f(m, FT_U32, U(3));
    f(m, FT_U64, U(0));
    f(m, FT_U64, U(200));
    f(m, FT_LIST, LIST(offs_a, 5));
    m->req.u.drain.arena = 3;
    m->req.u.drain.bytes = 200;
    m->req.u.drain.offs = offs_a;
    m->req.u.drain.count = 5;

    /* Replies. */
    m = add("rep HELLO", 1, PROTO_OP_HELLO, 0);
    f(m, FT_U32, U(PROTO_VERSION));
    f(m, FT_MAXMSG, U(PROTO_MAX_MAX_MSG));
    f(m, FT_VSTR, STR("ofad 0.1.0"));
    m->rp.u.hello.version = PROTO_VERSION;
    m->rp.u.hello.max_msg = PROTO_MAX_MAX_MSG;
    m->rp.u.hello.server = pstr_of("ofad 0.1.0");

    m = add("rep HELLO empty", 1, PROTO_OP_HELLO, 1);
    f(m, FT_U32, U(UINT32_MAX));
    f(m, FT_MAXMSG, U(PROTO_MIN_MAX_MSG));
    f(m, FT_VSTR, STR(""));
    m->rp.u.hello.version = UINT32_MAX;
    m->rp.u.hello.max_msg = PROTO_MIN_MAX_MSG;
    m->rp.u.hello.server = pstr_of("");

    add("rep PING", 1, PROTO_OP_PING, 2);
    add("rep CREATE", 1, PROTO_OP_CREATE, 3);
    add("rep DROP", 1, PROTO_OP_DROP, 4);

    m = add("rep OPEN", 1, PROTO_OP_OPEN, 5);
    f(m, FT_U32, U(17));
    f(m, FT_BOOL, U(1));
    f(m, FT_U32, U(64));
    f(m, FT_U64, U(1 << 20));
    f(m, FT_U64, U(1ull << 36));
    m->rp.u.open.arena = 17;
    m->rp.u.open.writable = 1;
    m->rp.u.open.align = 64;
    m->rp.u.open.page_size = 1 << 20;
    m->rp.u.open.max_bytes = 1ull << 36;

    add("rep CLOSE", 1, PROTO_OP_CLOSE, 6);

    m = add("rep ALLOC", 1, PROTO_OP_ALLOC, 7);
    f(m, FT_NZ64, U(0x10040));
    m->rp.u.alloc.off = 0x10040;

    add("rep FREE", 1, PROTO_OP_FREE, 8);

    m = add("rep ALLOC_N", 1, PROTO_OP_ALLOC_N, 9);
    f(m, FT_NZLIST, LIST(offs_a, 5));
    m->rp.u.list.offs = offs_a;
    m->rp.u.list.count = 5;

    m = add("rep ALLOC_N max", 1, PROTO_OP_ALLOC_N, UINT64_MAX);
    f(m, FT_NZLIST, LIST(offs_max, PROTO_MAX_BATCH));
    m->rp.u.list.offs = offs_max;
    m->rp.u.list.count = PROTO_MAX_BATCH;

    m = add("rep FREE_N", 1, PROTO_OP_FREE_N, 10);
    f(m, FT_COUNT, U(PROTO_MAX_BATCH));
    m->rp.u.list.count = PROTO_MAX_BATCH;

    m = add("rep PAGE", 1, PROTO_OP_PAGE, 11);
    f(m, FT_U64, U(1ull << 21));
    f(m, FT_NZ64, U(1ull << 20));
    f(m, FT_BOOL, U(0));
    m->rp.u.page.base = 1ull << 21;
    m->rp.u.page.len = 1ull << 20;

    m = add("rep PAGES", 1, PROTO_OP_PAGES, 12);
    f(m, FT_PLIST, LIST(offs_a, 5));
    m->rp.u.list.offs = offs_a;
    m->rp.u.list.count = 5;

    m = add("rep PAGES max", 1, PROTO_OP_PAGES, 12);
    f(m, FT_PLIST, LIST(offs_over, PROTO_MAX_PAGES));
    m->rp.u.list.offs = offs_over;
    m->rp.u.list.count = PROTO_MAX_PAGES;

    m = add("rep STATS", 1, PROTO_OP_STATS, 13);
    f(m, FT_RECORD, ARENA(&arena_a));
    m->rp.u.stats = arena_a;

    m = add("rep STATS long name", 1, PROTO_OP_STATS, 13);
    f(m, FT_RECORD, ARENA(&arena_b));
    m->rp.u.stats = arena_b;

    m = add("rep ARENAS", 1, PROTO_OP_ARENAS, 14);
    f(m, FT_RECORDS, ARENAS(arenas3, 3));
    m->rp.u.arenas.v = arenas3;
    m->rp.u.arenas.count = 3;

    m = add("rep ARENAS none", 1, PROTO_OP_ARENAS, 14);
    f(m, FT_RECORDS, ARENAS(arenas3, 0));

    m = add("rep DAEMON", 1, PROTO_OP_DAEMON, 15);
    f(m, FT_DRECORD, DAEMON(&daemon_a));
    m->rp.u.daemon = daemon_a;

    m = add("rep CACHE", 1, PROTO_OP_CACHE, 31);
    f(m, FT_BOOL, U(1));
    f(m, FT_U64, U(1 << 20));
    f(m, FT_U32, U(4095));
    f(m, FT_U32, U(UINT32_MAX));
    m->rp.u.cache.private_default = 1;
    m->rp.u.cache.cache_max = 1 << 20;
    m->rp.u.cache.slot = 4095;
    m->rp.u.cache.ticket = UINT32_MAX;

    m = add("rep FILL", 1, PROTO_OP_FILL, 32);
    f(m, FT_NZLIST, LIST(offs_a, 5));
    m->rp.u.list.offs = offs_a;
    m->rp.u.list.count = 5;

    m = add("rep DRAIN", 1, PROTO_OP_DRAIN, 33);
    f(m, FT_COUNT, U(3));
    m->rp.u.list.count = 3;

    m = add("rep DRAIN EACCES", 1, PROTO_OP_DRAIN, 34);
    m->v[2] = U(PROTO_EACCES);
    f(m, FT_COUNT, U(2));
    m->rp.err = PROTO_EACCES;
    m->rp.u.list.count = 2;

    /* Error replies: no results, but FREE_N's count; any op. */
    m = add("rep ALLOC ENOMEM", 1, PROTO_OP_ALLOC, 16);
    m->v[2] = U(PROTO_ENOMEM);
    m->rp.err = PROTO_ENOMEM;

    m = add("rep HELLO ENOTSUP", 1, PROTO_OP_HELLO, 0);
    m->v[2] = U(PROTO_ENOTSUP);
    m->rp.err = PROTO_ENOTSUP;

    m = add("rep FREE_N EINVAL", 1, PROTO_OP_FREE_N, 17);
    m->v[2] = U(PROTO_EINVAL);
    f(m, FT_COUNT, U(17));
    m->rp.err = PROTO_EINVAL;
    m->rp.u.list.count = 17;

    m = add("rep unknown op EPROTO", 1, 99, 18);
    m->v[2] = U(PROTO_EPROTO);
    m->rp.err = PROTO_EPROTO;

    /* Named blocks. */
    for (int i = 0; i < 255; i++)
        bname255[i] = "abcXYZ019._:/-"[i % 14];
    names3[0] = (struct proto_name_info){pstr_of("a"), 64, 8, 0, 0};
    names3[1] = (struct proto_name_info){pstr_of("jobs/q:1"), 1ull << 40, 1ull << 33, 1000, 4242};
    names3[2] = (struct proto_name_info){pstr_of(bname255), UINT64_MAX, 0, UINT32_MAX, UINT32_MAX};

    m = add("req ALLOC_NAMED", 0, PROTO_OP_ALLOC_NAMED, 21);
    f(m, FT_U32, U(2));
    f(m, FT_BNAME, STR("frames/0:left"));
    f(m, FT_U64, U(4096));
    f(m, FT_NFLAGS, U(PROTO_NAMED_EXCL));
    m->req.u.named.arena = 2;
    m->req.u.named.name = pstr_of("frames/0:left");
    m->req.u.named.size = 4096;
    m->req.u.named.flags = PROTO_NAMED_EXCL;

    m = add("req NAME_BIND", 0, PROTO_OP_NAME_BIND, 22);
    f(m, FT_U32, U(0));
    f(m, FT_BNAME, STR(bname255));
    f(m, FT_U64, U(UINT64_MAX));
    m->req.u.bind.name = pstr_of(bname255);
    m->req.u.bind.off = UINT64_MAX;

    m = add("req LOOKUP_WAIT", 0, PROTO_OP_LOOKUP_WAIT, 25);
    f(m, FT_NAME, STR("default"));
    f(m, FT_BNAME, STR("x"));
    f(m, FT_U64, U(PROTO_WAIT_FOREVER));
    m->req.u.wait.arena = pstr_of("default");
    m->req.u.wait.name = pstr_of("x");
    m->req.u.wait.timeout_ms = PROTO_WAIT_FOREVER;

    m = add("rep ALLOC_NAMED", 1, PROTO_OP_ALLOC_NAMED, 21);
    f(m, FT_NZ64, U(0x10040));
    f(m, FT_BOOL, U(1));
    m->rp.u.named.off = 0x10040;
    m->rp.u.named.created = 1;

    m = add("rep LOOKUP", 1, PROTO_OP_LOOKUP, 24);
    f(m, FT_NZ64, U(1ull << 40));
    f(m, FT_U64, U(4096));
    m->rp.u.named.off = 1ull << 40;
    m->rp.u.named.size = 4096;

    m = add("rep NAMES", 1, PROTO_OP_NAMES, 26);
    f(m, FT_U64, U(2));
    f(m, FT_NAMES, NAMES(names3, 3));
    m->rp.u.names.waiting = 2;
    m->rp.u.names.v = names3;
    m->rp.u.names.count = 3;

    m = add("rep future err", 1, PROTO_OP_STATS, 19);
    m->v[2] = U(1000);
    m->rp.err = 1000;
}

/* ------------------------------------------------------------------ */
/* Equality. */

static int str_eq(struct proto_str a, struct proto_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int list_eq(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

static int arena_eq(const struct proto_arena_info *a, const struct proto_arena_info *b)
{
    return str_eq(a->name, b->name) && a->uid == b->uid && a->gid == b->gid && a->mode == b->mode &&
           a->align == b->align && a->page_size == b->page_size && a->max_bytes == b->max_bytes &&
           a->pages == b->pages && a->bytes_reserved == b->bytes_reserved &&
           a->bytes_live == b->bytes_live && a->blocks_live == b->blocks_live &&
           a->free_chunks == b->free_chunks && a->largest_free == b->largest_free &&
           a->allocs == b->allocs && a->frees == b->frees &&
           a->alloc_failures == b->alloc_failures && a->private_default == b->private_default &&
           a->cache_max == b->cache_max && a->blocks_cached == b->blocks_cached &&
           a->bytes_cached == b->bytes_cached;
}

static int req_eq(const struct proto_req *a, const struct proto_req *b)
{
    if (a->op != b->op || a->id != b->id)
        return 0;
    switch (a->op) {
    case PROTO_OP_HELLO:
        return a->u.hello.version == b->u.hello.version && a->u.hello.max_msg == b->u.hello.max_msg;
    case PROTO_OP_CREATE:
        return str_eq(a->u.create.name, b->u.create.name) &&
               a->u.create.page_size == b->u.create.page_size &&
               a->u.create.max_bytes == b->u.create.max_bytes &&
               a->u.create.align == b->u.create.align && a->u.create.mode == b->u.create.mode &&
               a->u.create.private_default == b->u.create.private_default &&
               a->u.create.cache_max == b->u.create.cache_max;
    case PROTO_OP_DROP:
        return str_eq(a->u.drop.name, b->u.drop.name) && a->u.drop.force == b->u.drop.force;
    case PROTO_OP_OPEN:
        return str_eq(a->u.open.name, b->u.open.name);
    case PROTO_OP_STATS:
    case PROTO_OP_VALIDATE:
        return str_eq(a->u.stats.name, b->u.stats.name);
    case PROTO_OP_CLOSE:
        return a->u.close.arena == b->u.close.arena;
    case PROTO_OP_PAGES:
        return a->u.pages.arena == b->u.pages.arena;
    case PROTO_OP_ALLOC:
    case PROTO_OP_ALLOC_N:
        return a->u.alloc.arena == b->u.alloc.arena && a->u.alloc.size == b->u.alloc.size &&
               a->u.alloc.align == b->u.alloc.align && a->u.alloc.flags == b->u.alloc.flags &&
               a->u.alloc.count == b->u.alloc.count;
    case PROTO_OP_FREE:
        return a->u.free.arena == b->u.free.arena && a->u.free.off == b->u.free.off;
    case PROTO_OP_PAGE:
        return a->u.page.arena == b->u.page.arena && a->u.page.off == b->u.page.off;
    case PROTO_OP_FREE_N:
        return a->u.free_n.arena == b->u.free_n.arena &&
               list_eq(a->u.free_n.offs, a->u.free_n.count, b->u.free_n.offs, b->u.free_n.count);
    case PROTO_OP_RESUME:
        return a->u.resume.session == b->u.resume.session &&
               a->u.resume.secret == b->u.resume.secret;
    case PROTO_OP_CLIENTS:
        return a->u.clients.cursor == b->u.clients.cursor;
    case PROTO_OP_BLOCKS:
        return str_eq(a->u.blocks.name, b->u.blocks.name) &&
               a->u.blocks.cursor == b->u.blocks.cursor && a->u.blocks.flags == b->u.blocks.flags;
    case PROTO_OP_ALLOC_NAMED:
        return a->u.named.arena == b->u.named.arena && str_eq(a->u.named.name, b->u.named.name) &&
               a->u.named.size == b->u.named.size && a->u.named.flags == b->u.named.flags;
    case PROTO_OP_NAME_BIND:
    case PROTO_OP_NAME_UNBIND:
    case PROTO_OP_LOOKUP:
        return a->u.bind.arena == b->u.bind.arena && str_eq(a->u.bind.name, b->u.bind.name) &&
               (a->op != PROTO_OP_NAME_BIND || a->u.bind.off == b->u.bind.off);
    case PROTO_OP_LOOKUP_WAIT:
        return str_eq(a->u.wait.arena, b->u.wait.arena) && str_eq(a->u.wait.name, b->u.wait.name) &&
               a->u.wait.timeout_ms == b->u.wait.timeout_ms;
    case PROTO_OP_NAMES:
        return str_eq(a->u.names.name, b->u.names.name);
    case PROTO_OP_BLOCK_SIZE:
        return a->u.block.arena == b->u.block.arena && a->u.block.off == b->u.block.off;
    case PROTO_OP_CACHE:
        return a->u.cache.arena == b->u.cache.arena;
    case PROTO_OP_FILL:
        return a->u.fill.arena == b->u.fill.arena && a->u.fill.size == b->u.fill.size &&
               a->u.fill.count == b->u.fill.count && a->u.fill.blocks == b->u.fill.blocks &&
               a->u.fill.bytes == b->u.fill.bytes;
    case PROTO_OP_DRAIN:
        return a->u.drain.arena == b->u.drain.arena && a->u.drain.blocks == b->u.drain.blocks &&
               a->u.drain.bytes == b->u.drain.bytes &&
               list_eq(a->u.drain.offs, a->u.drain.count, b->u.drain.offs, b->u.drain.count);
    default:
        return 1;
    }
}

static int rep_eq(const struct proto_rep *a, const struct proto_rep *b)
{
    if (a->op != b->op || a->id != b->id || a->err != b->err)
        return 0;
    if (a->err != PROTO_OK)
        return (a->op != PROTO_OP_FREE_N && a->op != PROTO_OP_DRAIN) ||
               a->u.list.count == b->u.list.count;
    switch (a->op) {
    case PROTO_OP_HELLO:
        return a->u.hello.version == b->u.hello.version &&
               a->u.hello.max_msg == b->u.hello.max_msg &&
               str_eq(a->u.hello.server, b->u.hello.server);
    case PROTO_OP_OPEN:
        return a->u.open.arena == b->u.open.arena && a->u.open.writable == b->u.open.writable &&
               a->u.open.align == b->u.open.align && a->u.open.page_size == b->u.open.page_size &&
               a->u.open.max_bytes == b->u.open.max_bytes;
    case PROTO_OP_ALLOC:
        return a->u.alloc.off == b->u.alloc.off;
    case PROTO_OP_ALLOC_N:
    case PROTO_OP_PAGES:
    case PROTO_OP_FILL:
        return list_eq(a->u.list.offs, a->u.list.count, b->u.list.offs, b->u.list.count);
    case PROTO_OP_FREE_N:
    case PROTO_OP_DRAIN:
        return a->u.list.count == b->u.list.count;
    case PROTO_OP_CACHE:
        return a->u.cache.private_default == b->u.cache.private_default &&
               a->u.cache.cache_max == b->u.cache.cache_max && a->u.cache.slot == b->u.cache.slot &&
               a->u.cache.ticket == b->u.cache.ticket;
    case PROTO_OP_PAGE:
        return a->u.page.base == b->u.page.base && a->u.page.len == b->u.page.len &&
               a->u.page.writable == b->u.page.writable;
    case PROTO_OP_STATS:
        return arena_eq(&a->u.stats, &b->u.stats);
    case PROTO_OP_ALLOC_NAMED:
        return a->u.named.off == b->u.named.off && a->u.named.created == b->u.named.created;
    case PROTO_OP_LOOKUP:
    case PROTO_OP_LOOKUP_WAIT:
        return a->u.named.off == b->u.named.off && a->u.named.size == b->u.named.size;
    case PROTO_OP_BLOCK_SIZE:
        return a->u.named.size == b->u.named.size;
    case PROTO_OP_NAMES:
        if (a->u.names.waiting != b->u.names.waiting || a->u.names.count != b->u.names.count)
            return 0;
        for (uint32_t i = 0; i < a->u.names.count; i++) {
            const struct proto_name_info *x = &a->u.names.v[i], *y = &b->u.names.v[i];
            if (!str_eq(x->name, y->name) || x->off != y->off || x->size != y->size ||
                x->uid != y->uid || x->pid != y->pid)
                return 0;
        }
        return 1;
    case PROTO_OP_ARENAS:
        if (a->u.arenas.count != b->u.arenas.count)
            return 0;
        for (uint32_t i = 0; i < a->u.arenas.count; i++)
            if (!arena_eq(&a->u.arenas.v[i], &b->u.arenas.v[i]))
                return 0;
        return 1;
    case PROTO_OP_BLOCKS:
        return a->u.blocks.next == b->u.blocks.next &&
               list_eq(a->u.blocks.v, a->u.blocks.count * PROTO_BLOCK_FIELDS, b->u.blocks.v,
                       b->u.blocks.count * PROTO_BLOCK_FIELDS);
    case PROTO_OP_CLIENTS:
        if (a->u.clients.next != b->u.clients.next || a->u.clients.count != b->u.clients.count)
            return 0;
        for (uint32_t i = 0; i < a->u.clients.count; i++) {
            const struct proto_client_row *x = &a->u.clients.v[i], *y = &b->u.clients.v[i];

            if (x->client != y->client || x->pid != y->pid || x->uid != y->uid ||
                x->gid != y->gid || !str_eq(x->comm, y->comm) || x->since_s != y->since_s ||
                x->requests != y->requests || !str_eq(x->arena, y->arena) ||
                x->blocks != y->blocks || x->bytes != y->bytes)
                return 0;
        }
        return 1;
    case PROTO_OP_DAEMON:
        return str_eq(a->u.daemon.version, b->u.daemon.version) &&
               a->u.daemon.uptime_s == b->u.daemon.uptime_s &&
               a->u.daemon.clients == b->u.daemon.clients &&
               a->u.daemon.arenas == b->u.daemon.arenas &&
               a->u.daemon.bytes_reserved == b->u.daemon.bytes_reserved &&
               a->u.daemon.bytes_limit == b->u.daemon.bytes_limit &&
               a->u.daemon.pid == b->u.daemon.pid;
    case PROTO_OP_SESSION:
        return a->u.session.session == b->u.session.session &&
               a->u.session.secret == b->u.session.secret;
    default:
        return 1;
    }
}

/* ------------------------------------------------------------------ */
/* Fixture: two decoders (so that a second decode does not overwrite the
 * first's scratch), a buffer, a packing buffer. */

static struct proto_dec *dec, *dec2;
static struct proto_buf buf;
static msgpack_sbuffer sb;

static void setup(void)
{
    ck_assert_int_eq(proto_dec_new(&dec), 0);
    ck_assert_int_eq(proto_dec_new(&dec2), 0);
    proto_buf_init(&buf);
    msgpack_sbuffer_init(&sb);
    build_samples();
}

static void teardown(void)
{
    proto_dec_free(dec);
    proto_dec_free(dec2);
    proto_buf_free(&buf);
    msgpack_sbuffer_destroy(&sb);
}

/* Decodes a payload as the sample's direction would. */
static int decode_as(struct proto_dec *d, int rep, const void *p, size_t n, struct proto_req *q,
                     struct proto_rep *r)
{
    return rep ? proto_decode_rep(d, p, n, r) : proto_decode_req(d, p, n, q);
}

/* Decodes p (len n) as a request and a reply. Whatever decodes must encode,
 * and decode back to itself. Returns how many of the two were accepted. */
static int roundtrip_any(const uint8_t *p, size_t n, const char *what)
{
    struct proto_req q, q2;
    struct proto_rep r, r2;
    struct proto_buf b;
    size_t fl;
    int rc, ok = 0;

    proto_buf_init(&b);
    rc = proto_decode_req(dec, p, n, &q);
    ck_assert_msg(rc == 0 || rc == -EPROTO || rc == -EBADMSG, "%s: req rc %d", what, rc);
    if (rc == 0) {
        ok++;
        ck_assert_int_eq(proto_encode_req(&b, &q), 0);
        ck_assert_int_eq(proto_frame(b.data, b.len, PROTO_MAX_MAX_MSG, &fl), 1);
        ck_assert_uint_eq(fl, b.len);
        ck_assert_int_eq(proto_decode_req(dec2, b.data + 4, b.len - 4, &q2), 0);
        ck_assert_msg(req_eq(&q, &q2), "%s: request does not round-trip", what);
    }
    b.len = 0;
    rc = proto_decode_rep(dec, p, n, &r);
    ck_assert_msg(rc == 0 || rc == -EPROTO || rc == -EBADMSG, "%s: rep rc %d", what, rc);
    if (rc == 0) {
        ok++;
        ck_assert_int_eq(proto_encode_rep(&b, &r), 0);
        ck_assert_int_eq(proto_frame(b.data, b.len, PROTO_MAX_MAX_MSG, &fl), 1);
        ck_assert_int_eq(proto_decode_rep(dec2, b.data + 4, b.len - 4, &r2), 0);
        ck_assert_msg(rep_eq(&r, &r2), "%s: reply does not round-trip", what);
    }
    proto_buf_free(&b);
    return ok;
}

/* Bytes of a uint in its shortest msgpack form. */
static size_t uint_size(uint64_t v)
{
    return v < 128 ? 1 : v <= UINT8_MAX ? 2 : v <= UINT16_MAX ? 3 : v <= UINT32_MAX ? 5 : 9;
}

/* ------------------------------------------------------------------ */
/* Random numbers: xorshift64*, seeded from OFA_SEED or the clock. */

static uint64_t rng;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

static void seed(const char *tc)
{
    const char *e = getenv("OFA_SEED");
    uint64_t s = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    printf("%s: seed %" PRIu64 " (replay with OFA_SEED=%" PRIu64 ")\n", tc, s, s);
    fflush(stdout);
    rng = s ? s : 1;
}

/* ------------------------------------------------------------------ */
/* frame */

START_TEST(frame_headers)
{
    uint8_t p[16] = {0};
    size_t fl = 12345;

    for (size_t n = 0; n < 4; n++)
        ck_assert_int_eq(proto_frame(p, n, 65536, &fl), 0);
    /* length 0 */
    ck_assert_int_eq(proto_frame(p, 4, 65536, &fl), -EMSGSIZE);
    ck_assert_int_eq(proto_frame(p, 16, 65536, &fl), -EMSGSIZE);
    /* max + 1, 2 GiB, 4 GiB - 1: refused on the header alone */
    p[1] = 0x01, p[2] = 0x00, p[3] = 0x01;
    ck_assert_int_eq(proto_frame(p, 4, 65536, &fl), -EMSGSIZE);
    memcpy(p, "\x80\x00\x00\x00", 4);
    ck_assert_int_eq(proto_frame(p, 4, PROTO_MAX_MAX_MSG, &fl), -EMSGSIZE);
    memcpy(p, "\xff\xff\xff\xff", 4);
    ck_assert_int_eq(proto_frame(p, 16, PROTO_MAX_MAX_MSG, &fl), -EMSGSIZE);
    /* ...but waited for when the limit allows it */
    ck_assert_int_eq(proto_frame(p, 16, UINT32_MAX, &fl), 0);
    /* exactly max */
    memcpy(p, "\x00\x01\x00\x00", 4);
    ck_assert_int_eq(proto_frame(p, 4, 65536, &fl), 0);
    /* complete frames, with more bytes behind */
    memcpy(p, "\x00\x00\x00\x05", 4);
    ck_assert_int_eq(proto_frame(p, 8, 65536, &fl), 0);
    ck_assert_uint_eq(fl, 12345);
    ck_assert_int_eq(proto_frame(p, 9, 65536, &fl), 1);
    ck_assert_uint_eq(fl, 9);
    fl = 0;
    ck_assert_int_eq(proto_frame(p, 16, 65536, &fl), 1);
    ck_assert_uint_eq(fl, 9);
    /* max_msg 0 refuses everything */
    ck_assert_int_eq(proto_frame(p, 16, 0, &fl), -EMSGSIZE);
}
END_TEST

START_TEST(frame_buffer)
{
    struct proto_req q = {.op = PROTO_OP_PING, .id = 1};
    size_t len;

    ck_assert_ptr_null(buf.data);
    ck_assert_int_eq(proto_buf_reserve(&buf, 10), 0);
    ck_assert_uint_ge(buf.cap, 10);
    ck_assert_uint_eq(buf.len, 0);
    ck_assert_int_eq(proto_buf_reserve(&buf, SIZE_MAX), -ENOMEM);
    /* three frames back to back, as pipelined requests */
    for (int i = 0; i < 3; i++) {
        q.id = (uint64_t)i;
        ck_assert_int_eq(proto_encode_req(&buf, &q), 0);
    }
    len = buf.len;
    ck_assert_uint_eq(len, 3 * 7);
    ck_assert_mem_eq(buf.data, "\x00\x00\x00\x03\x92\x02\x00", 7);
    /* an invalid message leaves the buffer as it was */
    q.op = 0;
    ck_assert_int_eq(proto_encode_req(&buf, &q), -EINVAL);
    q.op = PROTO_OP_OPEN;
    q.u.open.name = pstr_of("no/slash");
    ck_assert_int_eq(proto_encode_req(&buf, &q), -EINVAL);
    ck_assert_uint_eq(buf.len, len);
    /* drained from the front */
    proto_buf_consume(&buf, 7);
    ck_assert_uint_eq(buf.len, 14);
    ck_assert_mem_eq(buf.data, "\x00\x00\x00\x03\x92\x02\x01", 7);
    for (size_t off = 0, fl; off < buf.len; off += fl) {
        struct proto_req out;

        ck_assert_int_eq(proto_frame(buf.data + off, buf.len - off, 4096, &fl), 1);
        ck_assert_int_eq(proto_decode_req(dec, buf.data + off + 4, fl - 4, &out), 0);
        ck_assert_uint_eq(out.id, 1 + off / 7);
    }
    proto_buf_consume(&buf, 14);
    ck_assert_uint_eq(buf.len, 0);
    proto_buf_free(&buf);
    ck_assert_ptr_null(buf.data);
    ck_assert_uint_eq(buf.cap, 0);
}
END_TEST

START_TEST(frame_batch_fit)
{
    const uint32_t maxes[] = {PROTO_MIN_MAX_MSG, 5000, 10000, 36000, 36900, PROTO_DEFAULT_MAX_MSG};

    ck_assert_uint_eq(proto_batch_fit(0), 0);
    ck_assert_uint_eq(proto_batch_fit(PROTO_DEFAULT_MAX_MSG), PROTO_MAX_BATCH);
    ck_assert_uint_eq(proto_batch_fit(PROTO_MIN_MAX_MSG), 451);
    for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
        uint32_t n = proto_batch_fit(maxes[i]);
        struct proto_req q = {.op = PROTO_OP_FREE_N, .id = UINT64_MAX};
        struct proto_rep r = {.op = PROTO_OP_ALLOC_N, .id = UINT64_MAX};

        q.u.free_n.arena = UINT32_MAX;
        q.u.free_n.offs = offs_max;
        q.u.free_n.count = n;
        r.u.list.offs = offs_max;
        r.u.list.count = n;
        buf.len = 0;
        ck_assert_int_eq(proto_encode_req(&buf, &q), 0);
        ck_assert_uint_le(buf.len - 4, maxes[i]);
        buf.len = 0;
        ck_assert_int_eq(proto_encode_rep(&buf, &r), 0);
        ck_assert_uint_le(buf.len - 4, maxes[i]);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* roundtrip */

START_TEST(roundtrip_samples)
{
    for (int i = 0; i < nsamples; i++) {
        const struct tmsg *m = &samples[i];
        struct proto_req q, q2;
        struct proto_rep r, r2;
        size_t fl;
        int rc;

        /* the layout written in this file decodes to the expected struct */
        pack_vals(&sb, m->v, m->nf);
        rc = decode_as(dec, m->rep, sb.data, sb.size, &q, &r);
        ck_assert_msg(rc == 0, "%s: decode of the reference layout: %d", m->name, rc);
        ck_assert_msg(m->rep ? rep_eq(&r, &m->rp) : req_eq(&q, &m->req), "%s: decoded wrong",
                      m->name);
        /* the codec encodes the struct to those very bytes */
        buf.len = 0;
        rc = m->rep ? proto_encode_rep(&buf, &m->rp) : proto_encode_req(&buf, &m->req);
        ck_assert_msg(rc == 0, "%s: encode: %d", m->name, rc);
        ck_assert_int_eq(proto_frame(buf.data, buf.len, PROTO_MAX_MAX_MSG, &fl), 1);
        ck_assert_uint_eq(fl, buf.len);
        ck_assert_msg(buf.len - 4 == sb.size && memcmp(buf.data + 4, sb.data, sb.size) == 0,
                      "%s: encoded layout differs", m->name);
        /* and back */
        rc = decode_as(dec2, m->rep, buf.data + 4, buf.len - 4, &q2, &r2);
        ck_assert_int_eq(rc, 0);
        ck_assert_msg(m->rep ? rep_eq(&r2, &m->rp) : req_eq(&q2, &m->req), "%s", m->name);
    }
}
END_TEST

START_TEST(roundtrip_int_forms)
{
    /* Any integer format holding a non-negative value is accepted:
     * [7, 1, 2, 4096, 0, 0] with each field in another form. */
    static const uint8_t forms[] = {0x96, 0xd0, 0x07,                      /* int8 7 */
                                    0xcf, 0,    0,    0, 0, 0, 0, 0, 0x01, /* uint64 1 */
                                    0xd3, 0,    0,    0, 0, 0, 0, 0, 0x02, /* int64 2 */
                                    0xd1, 0x10, 0x00,                      /* int16 4096 */
                                    0xcc, 0x00,                            /* uint8 0 */
                                    0xd2, 0,    0,    0, 0};               /* int32 0 */
    static const uint8_t neg_id[] = {0x96, 0x07, 0xd0, 0xff, 0x02, 0xcd, 0x10, 0x00, 0, 0};
    static const uint8_t array16[] = {0xdc, 0x00, 0x02, 0x02, 0x05};
    struct proto_req q;

    ck_assert_int_eq(proto_decode_req(dec, forms, sizeof(forms), &q), 0);
    ck_assert_uint_eq(q.op, PROTO_OP_ALLOC);
    ck_assert_uint_eq(q.id, 1);
    ck_assert_uint_eq(q.u.alloc.arena, 2);
    ck_assert_uint_eq(q.u.alloc.size, 4096);
    ck_assert_uint_eq(q.u.alloc.align, 0);
    ck_assert_uint_eq(q.u.alloc.flags, 0);
    ck_assert_uint_eq(q.u.alloc.count, 1);
    /* a negative id cannot address a reply */
    ck_assert_int_eq(proto_decode_req(dec, neg_id, sizeof(neg_id), &q), -EPROTO);
    /* array 16 for a short array is fine */
    ck_assert_int_eq(proto_decode_req(dec, array16, sizeof(array16), &q), 0);
    ck_assert_uint_eq(q.op, PROTO_OP_PING);
    ck_assert_uint_eq(q.id, 5);
}
END_TEST

START_TEST(roundtrip_worked_example)
{
    /* The bytes PROTOCOL.md shows. */
    static const uint8_t req[] = {0x00, 0x00, 0x00, 0x09, 0x96, 0x07, 0x05,
                                  0x01, 0xcd, 0x10, 0x00, 0x00, 0x00};
    static const uint8_t rep[] = {0x00, 0x00, 0x00, 0x09, 0x94, 0x07, 0x05,
                                  0x00, 0xce, 0x00, 0x01, 0x00, 0x40};
    struct proto_req q = {.op = PROTO_OP_ALLOC, .id = 5};
    struct proto_rep r = {.op = PROTO_OP_ALLOC, .id = 5, .err = 0};

    q.u.alloc.arena = 1;
    q.u.alloc.size = 4096;
    r.u.alloc.off = 0x10040;
    ck_assert_int_eq(proto_encode_req(&buf, &q), 0);
    ck_assert_uint_eq(buf.len, sizeof(req));
    ck_assert_mem_eq(buf.data, req, sizeof(req));
    buf.len = 0;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), 0);
    ck_assert_uint_eq(buf.len, sizeof(rep));
    ck_assert_mem_eq(buf.data, rep, sizeof(rep));
}
END_TEST

/* The largest fixed-shape request, LOOKUP_WAIT with both names at their
 * longest, fits the room the encoder reserves (a fresh buffer: anything
 * written past it is a heap overflow under the sanitizers, and the
 * encoder's own assertion in debug builds) and decodes back. */
START_TEST(roundtrip_longest_names)
{
    static char arena[PROTO_NAME_MAX + 1], name[PROTO_BLOCK_NAME_MAX + 1];
    struct proto_buf b;
    struct proto_dec *d;
    struct proto_req q = {.op = PROTO_OP_LOOKUP_WAIT, .id = UINT64_MAX}, q2;

    memset(arena, 'a', PROTO_NAME_MAX);
    memset(name, 'n', PROTO_BLOCK_NAME_MAX);
    q.u.wait.arena = pstr_of(arena);
    q.u.wait.name = pstr_of(name);
    q.u.wait.timeout_ms = PROTO_WAIT_FOREVER;
    proto_buf_init(&b);
    ck_assert_int_eq(proto_dec_new(&d), 0);
    ck_assert_int_eq(proto_encode_req(&b, &q), 0);
    ck_assert_int_eq(proto_decode_req(d, b.data + 4, b.len - 4, &q2), 0);
    ck_assert(req_eq(&q, &q2));
    proto_dec_free(d);
    proto_buf_free(&b);
}
END_TEST

START_TEST(roundtrip_encode_refuses)
{
    struct proto_req q;
    struct proto_rep r;
    uint64_t zero_off[2] = {5, 0};
    struct proto_arena_info bad = arena_a;

    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    q.op = PROTO_OP_MAX + 1;
    ck_assert_int_eq(proto_encode_req(&buf, &q), -EINVAL);
    q.op = PROTO_OP_HELLO;
    q.u.hello.max_msg = PROTO_MIN_MAX_MSG - 1;
    ck_assert_int_eq(proto_encode_req(&buf, &q), -EINVAL);
    q.u.hello.max_msg = PROTO_MAX_MAX_MSG + 1;
    ck_assert_int_eq(proto_encode_req(&buf, &q), -EINVAL);
    q.op = PROTO_OP_CREATE;
    q.u.create.name = pstr_of("ok");
    q.u.create.mode = 010000;
    ck_assert_int_eq(proto_encode_req(&buf, &q), -EINVAL);
    q.u.create.mode = 0;
    q.u.create.name = pstr_of("");
    ck_assert_int_eq(proto_encode_req(&buf, &q), -EINVAL);
    q.op = PROTO_OP_DROP;
    q.u.drop.name = pstr_of("ok");
    q.u.drop.force = 2;
    ck_assert_int_eq(proto_encode_req(&buf, &q), -EINVAL);
    q.op = PROTO_OP_ALLOC;
    q.u.alloc.flags = 2; /* OFA_ZERO is the client's business, not the wire's */
    ck_assert_int_eq(proto_encode_req(&buf, &q), -EINVAL);
    q.op = PROTO_OP_ALLOC_N;
    q.u.alloc.flags = 0;
    q.u.alloc.count = PROTO_MAX_BATCH + 1;
    ck_assert_int_eq(proto_encode_req(&buf, &q), -EINVAL);
    q.op = PROTO_OP_FREE_N;
    q.u.free_n.offs = offs_max;
    q.u.free_n.count = PROTO_MAX_BATCH + 1;
    ck_assert_int_eq(proto_encode_req(&buf, &q), -EINVAL);
    q.u.free_n.offs = NULL;
    q.u.free_n.count = 1;
    ck_assert_int_eq(proto_encode_req(&buf, &q), -EINVAL);

    r.op = 0;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    r.op = PROTO_OP_ALLOC;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL); /* offset 0 */
    r.op = PROTO_OP_ALLOC_N;
    r.u.list.offs = zero_off;
    r.u.list.count = 2;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    r.u.list.offs = offs_max;
    r.u.list.count = PROTO_MAX_BATCH + 1;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    r.op = PROTO_OP_PAGES;
    r.u.list.offs = offs_over;
    r.u.list.count = PROTO_MAX_PAGES + 1;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    r.op = PROTO_OP_FREE_N;
    r.err = PROTO_EINVAL;
    r.u.list.count = PROTO_MAX_BATCH + 1;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    r.err = 0;
    r.op = PROTO_OP_OPEN;
    r.u.open.writable = 2;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    r.op = PROTO_OP_PAGE;
    r.u.page.len = 0;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    r.op = PROTO_OP_HELLO;
    r.u.hello.max_msg = PROTO_DEFAULT_MAX_MSG;
    r.u.hello.server = pstr_of("0123456789abcdef0123456789abcdef"); /* 32 */
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    r.u.hello.server = pstr_of("tab\there");
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    r.op = PROTO_OP_STATS;
    bad.mode = 010000;
    r.u.stats = bad;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    bad = arena_a;
    bad.name = pstr_of("sp ace");
    r.op = PROTO_OP_ARENAS;
    r.u.arenas.v = &bad;
    r.u.arenas.count = 1;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    r.u.arenas.v = arenas3;
    r.u.arenas.count = PROTO_MAX_ARENAS + 1;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    r.op = PROTO_OP_DAEMON;
    r.u.daemon = daemon_a;
    r.u.daemon.version = pstr_of("\x7f");
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    ck_assert_uint_eq(buf.len, 0);
}
END_TEST

START_TEST(roundtrip_arenas_max)
{
    static struct proto_arena_info many[PROTO_MAX_ARENAS];
    struct proto_rep r = {.op = PROTO_OP_ARENAS, .id = 1}, out;
    char names[PROTO_MAX_ARENAS][8];

    for (uint32_t i = 0; i < PROTO_MAX_ARENAS; i++) {
        snprintf(names[i], sizeof(names[i]), "a%u", i);
        fill_arena(&many[i], names[i], i);
    }
    r.u.arenas.v = many;
    r.u.arenas.count = PROTO_MAX_ARENAS;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), 0);
    ck_assert_uint_le(buf.len, PROTO_MAX_MAX_MSG);
    ck_assert_int_eq(proto_decode_rep(dec, buf.data + 4, buf.len - 4, &out), 0);
    ck_assert(rep_eq(&r, &out));
    /* decoding again reuses the zone and the scratch */
    ck_assert_int_eq(proto_decode_rep(dec, buf.data + 4, buf.len - 4, &out), 0);
    ck_assert(rep_eq(&r, &out));
    ck_assert_uint_eq(dec->unpacks, 2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* encode: the codec's byte writers against msgpack-c's packer, for every
 * fixed-shape message and random values at every integer width's edges */

/* A u64 field's value: half the time an edge of a msgpack uint width (the
 * largest fixint, uint 8, 16, 32, and the values on either side), else a
 * random value of a random bit length. */
static uint64_t any_u64(void)
{
    static const uint64_t edges[] = {0,
                                     1,
                                     0x7e,
                                     0x7f,
                                     0x80,
                                     0x81,
                                     0xfe,
                                     0xff,
                                     0x100,
                                     0x101,
                                     0xfffe,
                                     0xffff,
                                     0x10000,
                                     0x10001,
                                     0xfffffffeull,
                                     0xffffffffull,
                                     0x100000000ull,
                                     0x100000001ull,
                                     UINT64_MAX - 1,
                                     UINT64_MAX};

    if (rnd() % 2)
        return edges[rnd() % (sizeof(edges) / sizeof(edges[0]))];
    return rnd() >> (rnd() % 64);
}

static uint32_t any_u32(void)
{
    uint64_t v = any_u64();

    return (uint32_t)(v > UINT32_MAX ? v >> 32 : v);
}

static uint64_t any_nz64(void)
{
    uint64_t v = any_u64();

    return v ? v : 1;
}

/* Lists of 0..40 entries: 15 and 16 are the fixarray / array 16 edge. */
static uint32_t any_count(void)
{
    static const uint32_t edges[] = {0, 1, 15, 16, 17, 40};

    return rnd() % 2 ? edges[rnd() % 6] : (uint32_t)(rnd() % 41);
}

static const char *any_name(void)
{
    static const char *const names[] = {"a", "default", "abcdefghijklmnopqrstuvwxyz01234",
                                        "abcdefghijklmnopqrstuvwxyz012345", name63};

    return names[rnd() % 5];
}

static const char *any_bname(void)
{
    static const char *const names[] = {"a", "jobs/42:out", "abcdefghijklmnopqrstuvwxyz01234",
                                        "abcdefghijklmnopqrstuvwxyz012345", bname255};

    return names[rnd() % 5];
}

static const char *any_vstr(void)
{
    static const char *const v[] = {"", "ofad 0.1.0", "~ 31 printable bytes, no more !"};

    return v[rnd() % 3];
}

/* Fills m with a random well-formed message of op (a request unless rep;
 * with err for replies), as its struct and as the values the test packs. */
static void random_msg(struct tmsg *m, int rep, uint32_t op, uint32_t err, uint64_t *list)
{
    uint32_t n;

    msg_init(m, "random", rep, op, any_u64());
    if (rep && err != PROTO_OK) {
        m->rp.err = err;
        m->v[2] = U(err);
        if (op == PROTO_OP_FREE_N || op == PROTO_OP_DRAIN) {
            m->rp.u.list.count = (uint32_t)(rnd() % (PROTO_MAX_BATCH + 1));
            f(m, FT_COUNT, U(m->rp.u.list.count));
        }
        return;
    }
    if (!rep) {
        struct proto_req *q = &m->req;

        switch (op) {
        case PROTO_OP_HELLO:
            q->u.hello.version = any_u32();
            q->u.hello.max_msg = PROTO_MIN_MAX_MSG;
            if (rnd() % 2)
                q->u.hello.max_msg +=
                    (uint32_t)(rnd() % (PROTO_MAX_MAX_MSG - PROTO_MIN_MAX_MSG + 1));
            f(m, FT_U32, U(q->u.hello.version));
            f(m, FT_MAXMSG, U(q->u.hello.max_msg));
            break;
        case PROTO_OP_CREATE:
            q->u.create.name = pstr_of(any_name());
            q->u.create.page_size = any_u64();
            q->u.create.max_bytes = any_u64();
            q->u.create.align = any_u32();
            q->u.create.mode = (uint32_t)(rnd() % 2 ? rnd() % 010000 : 07777);
            f(m, FT_NAME, STR(q->u.create.name.ptr));
            f(m, FT_U64, U(q->u.create.page_size));
            f(m, FT_U64, U(q->u.create.max_bytes));
            f(m, FT_U32, U(q->u.create.align));
            f(m, FT_MODE, U(q->u.create.mode));
            if (rnd() % 2) {
                /* the cache terms: sent when either is set */
                q->u.create.private_default = (uint32_t)(rnd() % 3);
                q->u.create.cache_max = q->u.create.private_default ? any_u64() : any_nz64();
                f(m, FT_PRIV, U(q->u.create.private_default));
                f(m, FT_U64, U(q->u.create.cache_max));
            }
            break;
        case PROTO_OP_CACHE:
            q->u.cache.arena = any_u32();
            f(m, FT_U32, U(q->u.cache.arena));
            break;
        case PROTO_OP_FILL:
            q->u.fill.arena = any_u32();
            q->u.fill.size = any_u64();
            q->u.fill.count = (uint32_t)(rnd() % (PROTO_MAX_BATCH + 1));
            q->u.fill.blocks = any_u64();
            q->u.fill.bytes = any_u64();
            f(m, FT_U32, U(q->u.fill.arena));
            f(m, FT_U64, U(q->u.fill.size));
            f(m, FT_COUNT, U(q->u.fill.count));
            f(m, FT_U64, U(q->u.fill.blocks));
            f(m, FT_U64, U(q->u.fill.bytes));
            break;
        case PROTO_OP_DRAIN:
            n = any_count();
            for (uint32_t i = 0; i < n; i++)
                list[i] = any_u64();
            q->u.drain.arena = any_u32();
            q->u.drain.blocks = any_u64();
            q->u.drain.bytes = any_u64();
            q->u.drain.offs = list;
            q->u.drain.count = n;
            f(m, FT_U32, U(q->u.drain.arena));
            f(m, FT_U64, U(q->u.drain.blocks));
            f(m, FT_U64, U(q->u.drain.bytes));
            f(m, FT_LIST, LIST(list, n));
            break;
        case PROTO_OP_DROP:
            q->u.drop.name = pstr_of(any_name());
            q->u.drop.force = (uint32_t)(rnd() % 2);
            f(m, FT_NAME, STR(q->u.drop.name.ptr));
            f(m, FT_BOOL, U(q->u.drop.force));
            break;
        case PROTO_OP_OPEN:
        case PROTO_OP_STATS:
        case PROTO_OP_VALIDATE:
            q->u.open.name = pstr_of(any_name());
            if (op != PROTO_OP_OPEN)
                q->u.stats.name = q->u.open.name;
            f(m, FT_NAME, STR(q->u.open.name.ptr));
            break;
        case PROTO_OP_CLOSE:
            q->u.close.arena = any_u32();
            f(m, FT_U32, U(q->u.close.arena));
            break;
        case PROTO_OP_PAGES:
            q->u.pages.arena = any_u32();
            f(m, FT_U32, U(q->u.pages.arena));
            break;
        case PROTO_OP_ALLOC:
        case PROTO_OP_ALLOC_N:
            q->u.alloc.arena = any_u32();
            q->u.alloc.size = any_u64();
            q->u.alloc.align = any_u64();
            /* any combination of the known bits: their meaning is ofad's */
            q->u.alloc.flags = (uint32_t)(rnd() % 32) & PROTO_ALLOC_FLAGS;
            q->u.alloc.count = op == PROTO_OP_ALLOC ? 1 : (uint32_t)(rnd() % (PROTO_MAX_BATCH + 1));
            f(m, FT_U32, U(q->u.alloc.arena));
            f(m, FT_U64, U(q->u.alloc.size));
            f(m, FT_U64, U(q->u.alloc.align));
            f(m, FT_FLAGS, U(q->u.alloc.flags));
            if (op == PROTO_OP_ALLOC_N)
                f(m, FT_COUNT, U(q->u.alloc.count));
            break;
        case PROTO_OP_FREE:
            q->u.free.arena = any_u32();
            q->u.free.off = any_u64();
            f(m, FT_U32, U(q->u.free.arena));
            f(m, FT_U64, U(q->u.free.off));
            break;
        case PROTO_OP_PAGE:
            q->u.page.arena = any_u32();
            q->u.page.off = any_u64();
            f(m, FT_U32, U(q->u.page.arena));
            f(m, FT_U64, U(q->u.page.off));
            break;
        case PROTO_OP_CLIENTS:
            q->u.clients.cursor = any_u64();
            f(m, FT_U64, U(q->u.clients.cursor));
            break;
        case PROTO_OP_BLOCKS:
            q->u.blocks.name = pstr_of(any_name());
            q->u.blocks.cursor = any_u64();
            q->u.blocks.flags = (uint32_t)(rnd() % 2);
            f(m, FT_NAME, STR(q->u.blocks.name.ptr));
            f(m, FT_U64, U(q->u.blocks.cursor));
            f(m, FT_FLAGS, U(q->u.blocks.flags));
            break;
        case PROTO_OP_ALLOC_NAMED:
            q->u.named.arena = any_u32();
            q->u.named.name = pstr_of(any_bname());
            q->u.named.size = any_u64();
            q->u.named.flags = rnd() % 2 ? PROTO_NAMED_EXCL : 0;
            f(m, FT_U32, U(q->u.named.arena));
            f(m, FT_BNAME, STR(q->u.named.name.ptr));
            f(m, FT_U64, U(q->u.named.size));
            f(m, FT_NFLAGS, U(q->u.named.flags));
            break;
        case PROTO_OP_NAME_BIND:
        case PROTO_OP_NAME_UNBIND:
        case PROTO_OP_LOOKUP:
            q->u.bind.arena = any_u32();
            q->u.bind.name = pstr_of(any_bname());
            q->u.bind.off = op == PROTO_OP_NAME_BIND ? any_u64() : 0;
            f(m, FT_U32, U(q->u.bind.arena));
            f(m, FT_BNAME, STR(q->u.bind.name.ptr));
            if (op == PROTO_OP_NAME_BIND)
                f(m, FT_U64, U(q->u.bind.off));
            break;
        case PROTO_OP_LOOKUP_WAIT:
            q->u.wait.arena = pstr_of(any_name());
            q->u.wait.name = pstr_of(any_bname());
            q->u.wait.timeout_ms = any_u64();
            f(m, FT_NAME, STR(q->u.wait.arena.ptr));
            f(m, FT_BNAME, STR(q->u.wait.name.ptr));
            f(m, FT_U64, U(q->u.wait.timeout_ms));
            break;
        case PROTO_OP_NAMES:
            q->u.names.name = pstr_of(any_name());
            f(m, FT_NAME, STR(q->u.names.name.ptr));
            break;
        case PROTO_OP_BLOCK_SIZE:
            q->u.block.arena = any_u32();
            q->u.block.off = any_u64();
            f(m, FT_U32, U(q->u.block.arena));
            f(m, FT_U64, U(q->u.block.off));
            break;
        case PROTO_OP_FREE_N:
            n = any_count();
            for (uint32_t i = 0; i < n; i++)
                list[i] = any_u64();
            q->u.free_n.arena = any_u32();
            q->u.free_n.offs = list;
            q->u.free_n.count = n;
            f(m, FT_U32, U(q->u.free_n.arena));
            f(m, FT_LIST, LIST(list, n));
            break;
        case PROTO_OP_RESUME:
            q->u.resume.session = any_u64();
            q->u.resume.secret = any_u64();
            f(m, FT_U64, U(q->u.resume.session));
            f(m, FT_U64, U(q->u.resume.secret));
            break;
        default: /* PING, ARENAS, DAEMON, SESSION, BYE */
            break;
        }
        return;
    }
    switch (op) {
    case PROTO_OP_HELLO:
        m->rp.u.hello.version = any_u32();
        m->rp.u.hello.max_msg = rnd() % 2 ? PROTO_MIN_MAX_MSG : PROTO_MAX_MAX_MSG;
        m->rp.u.hello.server = pstr_of(any_vstr());
        f(m, FT_U32, U(m->rp.u.hello.version));
        f(m, FT_MAXMSG, U(m->rp.u.hello.max_msg));
        f(m, FT_VSTR, STR(m->rp.u.hello.server.ptr));
        break;
    case PROTO_OP_OPEN:
        m->rp.u.open.arena = any_u32();
        m->rp.u.open.writable = (uint32_t)(rnd() % 2);
        m->rp.u.open.align = any_u32();
        m->rp.u.open.page_size = any_u64();
        m->rp.u.open.max_bytes = any_u64();
        f(m, FT_U32, U(m->rp.u.open.arena));
        f(m, FT_BOOL, U(m->rp.u.open.writable));
        f(m, FT_U32, U(m->rp.u.open.align));
        f(m, FT_U64, U(m->rp.u.open.page_size));
        f(m, FT_U64, U(m->rp.u.open.max_bytes));
        break;
    case PROTO_OP_ALLOC:
        m->rp.u.alloc.off = any_nz64();
        f(m, FT_NZ64, U(m->rp.u.alloc.off));
        break;
    case PROTO_OP_ALLOC_N:
    case PROTO_OP_PAGES:
    case PROTO_OP_FILL:
        n = any_count();
        for (uint32_t i = 0; i < n; i++)
            list[i] = op != PROTO_OP_PAGES ? any_nz64() : any_u64();
        m->rp.u.list.offs = list;
        m->rp.u.list.count = n;
        f(m, op != PROTO_OP_PAGES ? FT_NZLIST : FT_PLIST, LIST(list, n));
        break;
    case PROTO_OP_CACHE:
        m->rp.u.cache.private_default = (uint32_t)(rnd() % 2);
        m->rp.u.cache.cache_max = any_u64();
        m->rp.u.cache.slot = any_u32();
        m->rp.u.cache.ticket = any_u32();
        f(m, FT_BOOL, U(m->rp.u.cache.private_default));
        f(m, FT_U64, U(m->rp.u.cache.cache_max));
        f(m, FT_U32, U(m->rp.u.cache.slot));
        f(m, FT_U32, U(m->rp.u.cache.ticket));
        break;
    case PROTO_OP_DRAIN:
    case PROTO_OP_FREE_N:
        m->rp.u.list.count = (uint32_t)(rnd() % (PROTO_MAX_BATCH + 1));
        f(m, FT_COUNT, U(m->rp.u.list.count));
        break;
    case PROTO_OP_BLOCKS:
        n = any_count() / PROTO_BLOCK_FIELDS * PROTO_BLOCK_FIELDS;
        for (uint32_t i = 0; i < n; i++)
            list[i] = any_u64();
        m->rp.u.blocks.next = any_u64();
        m->rp.u.blocks.v = list;
        m->rp.u.blocks.count = n / PROTO_BLOCK_FIELDS;
        f(m, FT_U64, U(m->rp.u.blocks.next));
        f(m, FT_PLIST, LIST(list, n));
        break;
    case PROTO_OP_ALLOC_NAMED:
        m->rp.u.named.off = any_nz64();
        m->rp.u.named.created = (uint32_t)(rnd() % 2);
        f(m, FT_NZ64, U(m->rp.u.named.off));
        f(m, FT_BOOL, U(m->rp.u.named.created));
        break;
    case PROTO_OP_LOOKUP:
    case PROTO_OP_LOOKUP_WAIT:
        m->rp.u.named.off = any_nz64();
        m->rp.u.named.size = any_u64();
        f(m, FT_NZ64, U(m->rp.u.named.off));
        f(m, FT_U64, U(m->rp.u.named.size));
        break;
    case PROTO_OP_BLOCK_SIZE:
        m->rp.u.named.size = any_u64();
        f(m, FT_U64, U(m->rp.u.named.size));
        break;
    case PROTO_OP_NAMES: {
        static struct proto_name_info v[17];

        n = (uint32_t)(rnd() % 2 ? rnd() % 18 : rnd() % 3);
        for (uint32_t i = 0; i < n; i++)
            v[i] = (struct proto_name_info){pstr_of(any_bname()), any_nz64(), any_u64(), any_u32(),
                                            any_u32()};
        m->rp.u.names.waiting = any_u64();
        m->rp.u.names.v = v;
        m->rp.u.names.count = n;
        f(m, FT_U64, U(m->rp.u.names.waiting));
        f(m, FT_NAMES, NAMES(v, n));
        break;
    }
    case PROTO_OP_PAGE:
        m->rp.u.page.base = any_u64();
        m->rp.u.page.len = any_nz64();
        m->rp.u.page.writable = (uint32_t)(rnd() % 2);
        f(m, FT_U64, U(m->rp.u.page.base));
        f(m, FT_NZ64, U(m->rp.u.page.len));
        f(m, FT_BOOL, U(m->rp.u.page.writable));
        break;
    case PROTO_OP_SESSION:
        m->rp.u.session.session = any_u64();
        m->rp.u.session.secret = any_u64();
        f(m, FT_U64, U(m->rp.u.session.session));
        f(m, FT_U64, U(m->rp.u.session.secret));
        break;
    default: /* PING, CREATE, DROP, CLOSE, FREE, RESUME, BYE: err only */
        break;
    }
}

/* Op codes are allocated in ranges, so PROTO_OP_MAX may leave holes. */
static int op_in_use(uint32_t op)
{
    return strcmp(proto_op_name(op), "UNKNOWN") != 0;
}

/* Replies packed as records by msgpack-c (roundtrip_samples has them). */
static int op_is_record(uint32_t op)
{
    return op == PROTO_OP_STATS || op == PROTO_OP_ARENAS || op == PROTO_OP_DAEMON ||
           op == PROTO_OP_CLIENTS;
}

START_TEST(encode_random_values)
{
    static uint64_t list[64];
    struct tmsg m;
    int iters = 4000, checked = 0;

    seed("encode_random_values");
    for (int it = 0; it < iters; it++) {
        for (uint32_t op = 1; op <= PROTO_OP_MAX; op++) {
            if (!op_in_use(op))
                continue;
            for (int rep = 0; rep < 2; rep++) {
                /* Records (STATS, ARENAS, DAEMON replies with err 0) are
                 * packed by msgpack-c itself: roundtrip_samples has them. */
                uint32_t err =
                    rep && (it % 2 || op_is_record(op)) ? 1 + any_u32() % UINT32_MAX : PROTO_OK;
                uint32_t eop = op;
                struct proto_req q;
                struct proto_rep r;
                size_t fl;
                int rc;

                /* error replies may carry any op, known or not */
                if (err != PROTO_OK && rnd() % 4 == 0)
                    eop = any_u32();
                random_msg(&m, rep, eop, err, list);
                pack_vals(&sb, m.v, m.nf);
                buf.len = 0;
                rc = rep ? proto_encode_rep(&buf, &m.rp) : proto_encode_req(&buf, &m.req);
                ck_assert_msg(rc == 0, "op %u rep %d err %u: encode %d", eop, rep, err, rc);
                ck_assert_int_eq(proto_frame(buf.data, buf.len, PROTO_MAX_MAX_MSG, &fl), 1);
                ck_assert_uint_eq(fl, buf.len);
                ck_assert_msg(buf.len - 4 == sb.size && memcmp(buf.data + 4, sb.data, sb.size) == 0,
                              "op %u rep %d err %u id %" PRIu64 ": bytes differ from msgpack-c's",
                              eop, rep, err, rep ? m.rp.id : m.req.id);
                rc = decode_as(dec, rep, buf.data + 4, buf.len - 4, &q, &r);
                ck_assert_msg(rc == 0, "op %u rep %d err %u: decode %d", eop, rep, err, rc);
                ck_assert_msg(rep ? rep_eq(&r, &m.rp) : req_eq(&q, &m.req),
                              "op %u rep %d err %u: decoded differently", eop, rep, err);
                checked++;
            }
        }
    }
    printf("encode_random_values: %d messages\n", checked);
}
END_TEST

START_TEST(encode_appends_whole_frames)
{
    /* Frames appended after others, the buffer growing under them, and
     * an invalid message between them that leaves nothing behind. */
    static uint64_t list[64];
    struct proto_buf b;
    struct tmsg m;
    size_t at = 0, fl;

    seed("encode_appends_whole_frames");
    proto_buf_init(&b);
    for (int i = 0; i < 2000; i++) {
        struct proto_rep bad = {.op = PROTO_OP_ALLOC, .id = 1}; /* off 0 */
        size_t len = b.len;
        uint32_t op = 1 + (uint32_t)(rnd() % PROTO_OP_MAX);
        int rep = (int)(rnd() % 2);

        if (!op_in_use(op) || (rep && op_is_record(op)))
            op = PROTO_OP_ALLOC;
        random_msg(&m, rep, op, PROTO_OK, list);
        ck_assert_int_eq(proto_encode_rep(&b, &bad), -EINVAL);
        ck_assert_uint_eq(b.len, len);
        ck_assert_int_eq(rep ? proto_encode_rep(&b, &m.rp) : proto_encode_req(&b, &m.req), 0);
        pack_vals(&sb, m.v, m.nf);
        ck_assert_int_eq(proto_frame(b.data + len, b.len - len, PROTO_MAX_MAX_MSG, &fl), 1);
        ck_assert_uint_eq(fl, b.len - len);
        ck_assert_uint_eq(fl - 4, sb.size);
        ck_assert_mem_eq(b.data + len + 4, sb.data, sb.size);
    }
    /* and every frame is still there, in order */
    while (at < b.len) {
        ck_assert_int_eq(proto_frame(b.data + at, b.len - at, PROTO_MAX_MAX_MSG, &fl), 1);
        at += fl;
    }
    ck_assert_uint_eq(at, b.len);
    proto_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* fast: the decoders read ALLOC and FREE (requests, successful replies)
 * with a fixarray header on a path of their own; the same message with an
 * array 16 header goes the general way. Both must agree on everything:
 * result, error, the op and id of an error, every field. */

/* Appends v in a random form that holds it: the shortest, a wider uint, or
 * a signed int (the decoders accept any non-negative integer). */
static void put_any_form(uint8_t **pp, uint64_t v)
{
    static const struct {
        uint8_t tag, width; /* tag 0: positive fixint */
        uint64_t max;
    } forms[] = {{0x00, 0, 0x7f},       {0xcc, 1, 0xff},       {0xcd, 2, 0xffff},
                 {0xce, 4, 0xffffffff}, {0xcf, 8, UINT64_MAX}, {0xd0, 1, 0x7f},
                 {0xd1, 2, 0x7fff},     {0xd2, 4, 0x7fffffff}, {0xd3, 8, INT64_MAX}};
    uint8_t *p = *pp;
    size_t i;

    do
        i = rnd() % (sizeof(forms) / sizeof(forms[0]));
    while (v > forms[i].max);
    if (forms[i].tag == 0) {
        *p++ = (uint8_t)v;
    } else {
        *p++ = forms[i].tag;
        for (unsigned k = forms[i].width; k-- > 0;)
            *p++ = (uint8_t)(v >> (8 * k));
    }
    *pp = p;
}

/* Something a field must not be: a negative int of every width, nil, true,
 * a float, a string, an array. */
static void put_wrong(uint8_t **pp)
{
    static const uint8_t bad[][10] = {
        {1, 0xff},                /* -1 */
        {2, 0xd0, 0x80},          /* int 8 -128 */
        {3, 0xd1, 0xff, 0x7f},    /* int 16 -129 */
        {5, 0xd2, 0x80, 0, 0, 0}, /* int 32 -2^31 */
        {9, 0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe},
        {1, 0xc0},                               /* nil */
        {1, 0xc3},                               /* true */
        {9, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}, /* 1.5 */
        {2, 0xa1, 'x'},
        {1, 0x90},
    };
    const uint8_t *b = bad[rnd() % (sizeof(bad) / sizeof(bad[0]))];

    memcpy(*pp, b + 1, b[0]);
    *pp += b[0];
}

START_TEST(fast_path_agrees)
{
    enum { A_REQ, F_REQ, A_REP, F_REP };
    enum { S_NONE, S_TYPE, S_VALUE, S_LENGTH };
    static const uint32_t ops[] = {PROTO_OP_ALLOC, PROTO_OP_FREE, PROTO_OP_ALLOC, PROTO_OP_FREE};
    static const uint32_t nfields[] = {6, 4, 4, 3};
    int iters = 200000, accepted = 0;

    seed("fast_path_agrees");
    for (int it = 0; it < iters; it++) {
        int shape = (int)(rnd() % 4), rep = shape >= A_REP;
        int spoil = rnd() % 2 ? S_NONE : (int)(1 + rnd() % 3);
        uint32_t n = nfields[shape], hn = n;
        /* the field spoiled: one after op and id */
        uint32_t at = 2 + (uint32_t)(rnd() % (n - 2));
        uint64_t v[6];
        uint8_t body[96], *p = body, *a, *b;
        size_t blen;
        struct proto_req qa, qb;
        struct proto_rep ra, rb;
        int rc_a, rc_b, want = 0;

        /* the fields, each valid */
        v[0] = ops[shape];
        v[1] = any_u64();
        switch (shape) {
        case A_REQ:
            v[2] = any_u32();
            v[3] = any_u64();
            v[4] = any_u64();
            v[5] = rnd() % 2;
            break;
        case F_REQ:
            v[2] = any_u32();
            v[3] = any_u64();
            break;
        case A_REP:
            v[2] = PROTO_OK;
            v[3] = any_nz64();
            break;
        default:
            v[2] = PROTO_OK;
            break;
        }
        if (spoil == S_TYPE)
            want = -EBADMSG;
        if (spoil == S_VALUE) {
            /* just out of range for the field, where it has a range */
            want = -EBADMSG;
            if (shape == A_REQ && at == 5)
                v[5] = (const uint64_t[]){2, 32, 64}[rnd() % 3]; /* bits that are no flag */
            else if (!rep && at == 2)
                v[2] = 0x100000000ull + rnd() % 4;
            else if (rep && at == 2)
                v[2] = 1 + rnd() % PROTO_ERR_MAX; /* FREE: a valid error reply */
            else if (shape == A_REP && at == 3)
                v[3] = 0;
            else
                want = 1; /* no range to leave: the result is not known here */
            if (shape == F_REP && at == 2)
                want = 0;
        }
        for (uint32_t i = 0; i < n; i++) {
            if (spoil == S_TYPE && i == at)
                put_wrong(&p);
            else
                put_any_form(&p, v[i]);
        }
        blen = (size_t)(p - body);
        if (spoil == S_LENGTH) {
            /* a byte too many, or too few, or a count that is not the op's */
            want = 1;
            switch (rnd() % 3) {
            case 0:
                body[blen++] = (uint8_t)rnd();
                want = -EBADMSG;
                break;
            case 1:
                blen = (size_t)(rnd() % blen);
                break;
            default:
                hn = rnd() % 2 ? n + 1 : n - 1;
                break;
            }
        }
        /* the same body behind either header; tight copies for ASan */
        a = malloc(1 + blen);
        b = malloc(3 + blen);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        a[0] = (uint8_t)(0x90 | hn);
        b[0] = 0xdc, b[1] = 0, b[2] = (uint8_t)hn;
        memcpy(a + 1, body, blen);
        memcpy(b + 3, body, blen);
        rc_a = decode_as(dec, rep, a, 1 + blen, &qa, &ra);
        rc_b = decode_as(dec2, rep, b, 3 + blen, &qb, &rb);
        ck_assert_msg(rc_a == rc_b, "iteration %d shape %d spoil %d: %d against %d", it, shape,
                      spoil, rc_a, rc_b);
        if (want <= 0)
            ck_assert_msg(rc_a == want, "iteration %d shape %d spoil %d field %u: %d, not %d", it,
                          shape, spoil, at, rc_a, want);
        if (rc_a == 0) {
            ck_assert(rep ? rep_eq(&ra, &rb) : req_eq(&qa, &qb));
            accepted++;
        } else if (rc_a == -EBADMSG) {
            ck_assert_uint_eq(rep ? ra.op : qa.op, rep ? rb.op : qb.op);
            ck_assert_uint_eq(rep ? ra.id : qa.id, rep ? rb.id : qb.id);
            ck_assert_uint_eq(rep ? ra.op : qa.op, v[0]);
            ck_assert_uint_eq(rep ? ra.id : qa.id, v[1]);
        }
        /* what was not spoiled decodes to its values */
        if (spoil == S_NONE) {
            ck_assert_uint_eq(rep ? ra.op : qa.op, v[0]);
            ck_assert_uint_eq(rep ? ra.id : qa.id, v[1]);
            switch (shape) {
            case A_REQ:
                ck_assert_uint_eq(qa.u.alloc.arena, v[2]);
                ck_assert_uint_eq(qa.u.alloc.size, v[3]);
                ck_assert_uint_eq(qa.u.alloc.align, v[4]);
                ck_assert_uint_eq(qa.u.alloc.flags, v[5]);
                ck_assert_uint_eq(qa.u.alloc.count, 1);
                break;
            case F_REQ:
                ck_assert_uint_eq(qa.u.free.arena, v[2]);
                ck_assert_uint_eq(qa.u.free.off, v[3]);
                break;
            case A_REP:
                ck_assert_uint_eq(ra.err, PROTO_OK);
                ck_assert_uint_eq(ra.u.alloc.off, v[3]);
                break;
            default:
                ck_assert_uint_eq(ra.err, PROTO_OK);
                break;
            }
        }
        free(a);
        free(b);
    }
    printf("fast_path_agrees: %d of %d accepted\n", accepted, iters);
}
END_TEST

/* ------------------------------------------------------------------ */
/* truncated */

START_TEST(truncated_every_length)
{
    for (int i = 0; i < nsamples; i++) {
        const struct tmsg *m = &samples[i];
        size_t head = 1 + uint_size(m->v[0].u) + uint_size(m->v[1].u);
        struct proto_req q;
        struct proto_rep r;
        uint8_t *p;

        pack_vals(&sb, m->v, m->nf);
        p = malloc(sb.size + 1);
        ck_assert_ptr_nonnull(p);
        /* a copy of exactly each length, so that ASan sees any overread;
         * past 600 bytes (the long lists) every 97th length and the last 16 */
        for (size_t n = 0; n < sb.size; n += (n < 600 || n + 16 >= sb.size) ? 1 : 97) {
            uint8_t *t = malloc(n ? n : 1);
            int rc;

            ck_assert_ptr_nonnull(t);
            memcpy(t, sb.data, n);
            rc = decode_as(dec, m->rep, t, n, &q, &r);
            ck_assert_msg(rc == (n < head ? -EPROTO : -EBADMSG), "%s: length %zu of %zu: %d",
                          m->name, n, sb.size, rc);
            if (rc == -EBADMSG) {
                ck_assert_uint_eq(m->rep ? r.op : q.op, m->v[0].u);
                ck_assert_uint_eq(m->rep ? r.id : q.id, m->v[1].u);
            }
            free(t);
        }
        /* and one byte too many */
        memcpy(p, sb.data, sb.size);
        p[sb.size] = 0;
        ck_assert_int_eq(decode_as(dec, m->rep, p, sb.size + 1, &q, &r), -EBADMSG);
        free(p);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* types: every field, every wrong type and range */

static int wrong_values(enum ft t, struct val *w)
{
    static const char long_name[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-";
    static const uint8_t list_str[] = "\x91\xa1x";
    static const uint8_t list_neg[] = "\x91\xff";
    static const uint8_t list_nil[] = "\x91\xc0";
    static const uint8_t list_float[] = "\x92\x01\xca\x3f\xc0\x00\x00";
    static const uint8_t list_nested[] = "\x91\x91\x01";
    static uint64_t with_zero[2] = {5, 0};
    int n = 0;
    int is_str = t == FT_NAME || t == FT_VSTR || t == FT_BNAME;
    int is_list = t == FT_LIST || t == FT_NZLIST || t == FT_PLIST || t == FT_NAMES;
    int is_rec = t == FT_RECORD || t == FT_RECORDS || t == FT_DRECORD;

    w[n++] = (struct val){.k = V_NIL};
    w[n++] = (struct val){.k = V_TRUE};
    w[n++] = (struct val){.k = V_FLOAT};
    w[n++] = (struct val){.k = V_NEG, .u = (uint64_t)-1};
    w[n++] = (struct val){.k = V_NEG, .u = (uint64_t)INT64_MIN};
    w[n++] = (struct val){.k = V_BIN};
    w[n++] = (struct val){.k = V_MAP0};
    if (!is_str)
        w[n++] = STR("1");
    if (!is_list && !is_rec)
        w[n++] = LIST(offs_a, 1);
    if (is_str || is_list || is_rec)
        w[n++] = U(1);
    switch (t) {
    case FT_OP:
        w[n++] = U(1ull << 32);
        break;
    case FT_ERR:
    case FT_U32:
        w[n++] = U(1ull << 32);
        w[n++] = U(UINT64_MAX);
        break;
    case FT_NZ64:
        w[n++] = U(0);
        break;
    case FT_BOOL:
        w[n++] = U(2);
        w[n++] = U(1ull << 32);
        break;
    case FT_PRIV:
        w[n++] = U(3);
        w[n++] = U(1ull << 32);
        break;
    case FT_FLAGS:
        w[n++] = U(2);
        w[n++] = U(1u << 31);
        w[n++] = U(1ull << 32);
        break;
    case FT_MODE:
        w[n++] = U(010000);
        w[n++] = U(UINT32_MAX);
        break;
    case FT_MAXMSG:
        w[n++] = U(0);
        w[n++] = U(PROTO_MIN_MAX_MSG - 1);
        w[n++] = U(PROTO_MAX_MAX_MSG + 1);
        break;
    case FT_COUNT:
        w[n++] = U(PROTO_MAX_BATCH + 1);
        w[n++] = U(1ull << 32);
        break;
    case FT_NAME:
        w[n++] = STR("");
        w[n++] = STR("a b");
        w[n++] = STR("a/b");
        w[n++] = STR("a\nb");
        w[n++] = STR("\xc3\xa9t\xc3\xa9");
        w[n++] = (struct val){.k = V_STR, .s = "a\0b", .n = 3};
        w[n++] = STR(long_name);
        break;
    case FT_BNAME: {
        static char b256[257];

        memset(b256, 'b', 256);
        w[n++] = STR("");
        w[n++] = STR("a b");
        w[n++] = STR("a\nb");
        w[n++] = STR("a\\b");
        w[n++] = STR("\xc3\xa9t\xc3\xa9");
        w[n++] = (struct val){.k = V_STR, .s = "a\0b", .n = 3};
        w[n++] = STR(b256);
        break;
    }
    case FT_NFLAGS:
        w[n++] = U(PROTO_ALLOC_KEEP);
        w[n++] = U(PROTO_NAMED_EXCL | 1);
        w[n++] = U(1u << 31);
        w[n++] = U(1ull << 32);
        break;
    case FT_NAMES: {
        static struct proto_name_info bad[4];

        bad[0] = (struct proto_name_info){pstr_of("a b"), 1, 1, 1, 1};
        bad[1] = (struct proto_name_info){pstr_of("a"), 0, 1, 1, 1};
        bad[2] = (struct proto_name_info){pstr_of("a"), 1, 1, 1, 1};
        w[n++] = NAMES(&bad[0], 1); /* a bad name */
        w[n++] = NAMES(&bad[1], 1); /* offset 0 */
        w[n++] = LIST(offs_a, 1);   /* an offset where an entry goes */
        break;
    }
    case FT_VSTR:
        w[n++] = STR("0123456789abcdef0123456789abcdef");
        w[n++] = STR("a\tb");
        w[n++] = STR("\x7f");
        w[n++] = STR("\xc3\xa9");
        break;
    case FT_NZLIST:
        w[n++] = LIST(with_zero, 2);
        /* fall through */
    case FT_LIST:
        w[n++] = LIST(offs_over, PROTO_MAX_BATCH + 1);
        break;
    case FT_PLIST:
        w[n++] = LIST(offs_over, PROTO_MAX_PAGES + 1);
        break;
    case FT_RECORDS:
        w[n++] = LIST(offs_a, 1);
        w[n++] = ARENA(&arena_a); /* one record where a list of them goes */
        break;
    case FT_RECORD:
        w[n++] = ARENAS(arenas3, 1);
        w[n++] = DAEMON(&daemon_a);
        break;
    case FT_DRECORD:
        w[n++] = ARENA(&arena_a);
        break;
    default: /* FT_ID, FT_U64: any uint is fine */
        break;
    }
    if (is_list) {
        w[n++] = RAW(list_str);
        w[n++] = RAW(list_neg);
        w[n++] = RAW(list_nil);
        w[n++] = RAW(list_float);
        w[n++] = RAW(list_nested);
    }
    return n;
}

START_TEST(types_each_field)
{
    int tried = 0;

    for (int i = 0; i < nsamples; i++) {
        const struct tmsg *m = &samples[i];

        for (int fi = 0; fi < m->nf; fi++) {
            struct val w[32];
            int nw = wrong_values(m->ft[fi], w);

            /* An error reply's err cannot be "wrong" by value alone. */
            if (m->rep && fi == 2 && m->v[2].u != 0)
                continue;
            for (int k = 0; k < nw; k++) {
                struct val v[MAXF];
                struct proto_req q;
                struct proto_rep r;
                int want = fi < 2 ? -EPROTO : -EBADMSG;
                int rc;

                memcpy(v, m->v, sizeof(v));
                v[fi] = w[k];
                pack_vals(&sb, v, m->nf);
                rc = decode_as(dec, m->rep, sb.data, sb.size, &q, &r);
                ck_assert_msg(rc == want, "%s: field %d, wrong value %d (kind %d): %d", m->name, fi,
                              k, w[k].k, rc);
                if (rc == -EBADMSG) {
                    ck_assert_uint_eq(m->rep ? r.id : q.id, m->v[1].u);
                    ck_assert_uint_eq(m->rep ? r.op : q.op, m->v[0].u);
                }
                tried++;
            }
        }
    }
    printf("types: %d wrong fields refused\n", tried);
}
END_TEST

START_TEST(types_missing_extra)
{
    for (int i = 0; i < nsamples; i++) {
        const struct tmsg *m = &samples[i];
        struct proto_req q;
        struct proto_rep r;
        struct val v[MAXF + 1];
        int rc;

        /* each field from the third on dropped (not a reply's err: without
         * it the next uint reads as one) */
        for (int fi = m->rep ? 3 : 2; fi < m->nf; fi++) {
            int n = 0;

            for (int j = 0; j < m->nf; j++)
                if (j != fi)
                    v[n++] = m->v[j];
            pack_vals(&sb, v, n);
            rc = decode_as(dec, m->rep, sb.data, sb.size, &q, &r);
            ck_assert_msg(rc == -EBADMSG, "%s: without field %d: %d", m->name, fi, rc);
        }
        /* one more field of any kind */
        memcpy(v, m->v, sizeof(m->v));
        v[m->nf] = U(0);
        pack_vals(&sb, v, m->nf + 1);
        ck_assert_int_eq(decode_as(dec, m->rep, sb.data, sb.size, &q, &r), -EBADMSG);
        v[m->nf] = (struct val){.k = V_NIL};
        pack_vals(&sb, v, m->nf + 1);
        ck_assert_int_eq(decode_as(dec, m->rep, sb.data, sb.size, &q, &r), -EBADMSG);
        /* an element count that does not match the elements (below the
         * head's own count, op and id cannot be trusted: -EPROTO) */
        pack_vals(&sb, m->v, m->nf);
        sb.data[0] = (char)(0x90 | (m->nf + 1));
        ck_assert_int_eq(decode_as(dec, m->rep, sb.data, sb.size, &q, &r), -EBADMSG);
        sb.data[0] = (char)(0x90 | (m->nf - 1));
        rc = decode_as(dec, m->rep, sb.data, sb.size, &q, &r);
        ck_assert_int_eq(rc, m->nf - 1 < (m->rep ? 3 : 2) ? -EPROTO : -EBADMSG);
    }
}
END_TEST

START_TEST(types_heads)
{
    static const struct {
        const char *bytes;
        size_t len;
        int req, rep;
    } t[] = {
        {"", 0, -EPROTO, -EPROTO},
        {"\x90", 1, -EPROTO, -EPROTO},               /* [] */
        {"\x91\x02", 2, -EPROTO, -EPROTO},           /* [2] */
        {"\x81\x02\x01", 3, -EPROTO, -EPROTO},       /* {2: 1}, not an array */
        {"\x02", 1, -EPROTO, -EPROTO},               /* a bare uint */
        {"\x92\x00\x01", 3, -EBADMSG, -EPROTO},      /* op 0 */
        {"\x93\x00\x01\x06", 4, -EBADMSG, 0},        /* op 0, as an error reply */
        {"\x92\x12\x01", 3, -EBADMSG, -EPROTO},      /* op 18, unused */
        {"\x93\x12\x01\x00", 4, -EBADMSG, -EBADMSG}, /* op 18 reply, err 0 */
        {"\x92\xce\xff\xff\xff\xff\x01", 7, -EBADMSG, -EPROTO},
        {"\x92\xcf\x00\x00\x00\x01\x00\x00\x00\x00\x01", 11, -EPROTO, -EPROTO}, /* op 2^32 */
        {"\x92\x02\xc0", 3, -EPROTO, -EPROTO},                                  /* id nil */
        {"\x92\x02\xff", 3, -EPROTO, -EPROTO},                                  /* id -1 */
        {"\x92\x02\xcb\x3f\xf0\0\0\0\0\0\0", 11, -EPROTO, -EPROTO},             /* id 1.0 */
        {"\x92\x02\x01", 3, 0, -EPROTO},                    /* PING request; a reply needs err */
        {"\x92\x02\x01\x92\x02\x01", 6, -EBADMSG, -EPROTO}, /* two objects */
        {"\xc1", 1, -EPROTO, -EPROTO},
    };
    struct proto_req q;
    struct proto_rep r;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        ck_assert_msg(proto_decode_req(dec, (const uint8_t *)t[i].bytes, t[i].len, &q) == t[i].req,
                      "case %zu req", i);
        ck_assert_msg(proto_decode_rep(dec, (const uint8_t *)t[i].bytes, t[i].len, &r) == t[i].rep,
                      "case %zu rep", i);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* limits */

START_TEST(limits_bomb)
{
    /* An array header claiming 1,048,576 elements: 5 bytes that would cost
     * msgpack-c's unpacker ~33 MB. */
    static const uint8_t bomb[] = {0xdd, 0x00, 0x10, 0x00, 0x00};
    /* The same inside a STATS reply, where msgpack-c would be used: as the
     * record (a map of 1M entries), and as the outer array. */
    static const uint8_t in_stats[] = {0x94, 0x0d, 0x01, 0x00, 0xdf, 0x00, 0x10, 0x00, 0x00};
    static const uint8_t outer[] = {0xdd, 0x00, 0x10, 0x00, 0x00, 0x0d, 0x01, 0x00};
    /* A FREE_N whose list claims 4096 offsets, with none there. */
    static const uint8_t free_n[] = {0x94, 0x0a, 0x01, 0x01, 0xdc, 0x10, 0x00};
    /* 2^32-1 of them. */
    static const uint8_t free_n32[] = {0x94, 0x0a, 0x01, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff};
    struct proto_req q;
    struct proto_rep r;
    uint32_t objects;

    ck_assert_int_eq(proto_decode_req(dec, bomb, sizeof(bomb), &q), -EPROTO);
    ck_assert_int_eq(proto_decode_rep(dec, bomb, sizeof(bomb), &r), -EPROTO);
    ck_assert_int_eq(proto__check(bomb, sizeof(bomb), PROTO_MAX_DEPTH, &objects), -EPROTO);
    ck_assert_int_eq(proto_decode_rep(dec, in_stats, sizeof(in_stats), &r), -EBADMSG);
    ck_assert_uint_eq(r.op, PROTO_OP_STATS);
    ck_assert_int_eq(proto_decode_rep(dec, outer, sizeof(outer), &r), -EBADMSG);
    ck_assert_int_eq(proto_decode_req(dec, free_n, sizeof(free_n), &q), -EBADMSG);
    ck_assert_int_eq(proto_decode_req(dec, free_n32, sizeof(free_n32), &q), -EBADMSG);
    ck_assert_int_eq(proto_decode_rep(dec, free_n32, sizeof(free_n32), &r), -EBADMSG);
    /* msgpack-c never saw any of it, and no scratch was reserved for it */
    ck_assert_uint_eq(dec->unpacks, 0);
    ck_assert_ptr_null(dec->zone);
    ck_assert_uint_eq(dec->offs_cap, 0);
}
END_TEST

START_TEST(limits_counts)
{
    struct proto_rep r;
    struct val v[4] = {U(PROTO_OP_ARENAS), U(1), U(0), U(0)};
    static struct proto_arena_info many[PROTO_MAX_ARENAS + 1];
    char names[8] = "n";

    for (uint32_t i = 0; i <= PROTO_MAX_ARENAS; i++)
        fill_arena(&many[i], names, i);
    v[3] = ARENAS(many, PROTO_MAX_ARENAS + 1);
    pack_vals(&sb, v, 4);
    ck_assert_int_eq(proto_decode_rep(dec, (const uint8_t *)sb.data, sb.size, &r), -EBADMSG);
    v[3] = ARENAS(many, PROTO_MAX_ARENAS);
    pack_vals(&sb, v, 4);
    ck_assert_int_eq(proto_decode_rep(dec, (const uint8_t *)sb.data, sb.size, &r), 0);
    ck_assert_uint_eq(r.u.arenas.count, PROTO_MAX_ARENAS);
}
END_TEST

START_TEST(limits_objects)
{
    /* A STATS reply whose record carries an unknown key holding more
     * objects than msgpack-c is ever given: refused before it. */
    uint32_t n = PROTO__MAX_OBJECTS;
    uint8_t *extra = malloc(5 + n);
    struct spoil sp = no_spoil;
    msgpack_packer pk;
    struct proto_rep r;

    ck_assert_ptr_nonnull(extra);
    extra[0] = 0xdd;
    extra[1] = (uint8_t)(n >> 24);
    extra[2] = (uint8_t)(n >> 16);
    extra[3] = (uint8_t)(n >> 8);
    extra[4] = (uint8_t)n;
    memset(extra + 5, 0, n);
    sp.extra = extra;
    sp.extra_len = 5 + n;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, PROTO_OP_STATS);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_uint32(&pk, 0);
    pack_record(&pk, &arena_a, 0, &sp);
    ck_assert_int_eq(proto_decode_rep(dec, (const uint8_t *)sb.data, sb.size, &r), -EBADMSG);
    ck_assert_uint_eq(dec->unpacks, 0);
    /* a tenth of it is fine */
    n /= 10;
    extra[1] = (uint8_t)(n >> 24);
    extra[2] = (uint8_t)(n >> 16);
    extra[3] = (uint8_t)(n >> 8);
    extra[4] = (uint8_t)n;
    sp.extra_len = 5 + n;
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, PROTO_OP_STATS);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_uint32(&pk, 0);
    pack_record(&pk, &arena_a, 0, &sp);
    ck_assert_int_eq(proto_decode_rep(dec, (const uint8_t *)sb.data, sb.size, &r), 0);
    ck_assert_uint_eq(dec->unpacks, 1);
    ck_assert(arena_eq(&r.u.stats, &arena_a));
    free(extra);
}
END_TEST

/* ------------------------------------------------------------------ */
/* records */

static int decode_record(int daemon, const struct spoil *sp, struct proto_rep *r)
{
    msgpack_packer pk;

    msgpack_sbuffer_clear(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, daemon ? PROTO_OP_DAEMON : PROTO_OP_STATS);
    msgpack_pack_uint32(&pk, 77);
    msgpack_pack_uint32(&pk, 0);
    pack_record(&pk, daemon ? (const void *)&daemon_a : (const void *)&arena_a, daemon, sp);
    return proto_decode_rep(dec, (const uint8_t *)sb.data, sb.size, r);
}

START_TEST(records_keys)
{
    struct proto_rep r;
    struct spoil sp;

    for (int daemon = 0; daemon < 2; daemon++) {
        int n = daemon ? DAEMON_KEYS : ARENA_KEYS;

        sp = no_spoil;
        ck_assert_int_eq(decode_record(daemon, &sp, &r), 0);
        sp.reverse = 1; /* any key order */
        ck_assert_int_eq(decode_record(daemon, &sp, &r), 0);
        ck_assert(daemon ? str_eq(r.u.daemon.version, daemon_a.version) && r.u.daemon.pid == 4242
                         : arena_eq(&r.u.stats, &arena_a));
        for (int i = 0; i < n; i++) {
            sp = no_spoil;
            sp.skip = i;
            ck_assert_msg(decode_record(daemon, &sp, &r) == -EBADMSG, "%d: without key %d", daemon,
                          i);
            ck_assert_uint_eq(r.id, 77);
            sp = no_spoil;
            sp.dup = i;
            ck_assert_msg(decode_record(daemon, &sp, &r) == -EBADMSG, "%d: key %d twice", daemon,
                          i);
            sp = no_spoil;
            sp.bad = i;
            ck_assert_msg(decode_record(daemon, &sp, &r) == -EBADMSG, "%d: key %d wrong", daemon,
                          i);
        }
        sp = no_spoil;
        sp.uint_key = 1;
        ck_assert_int_eq(decode_record(daemon, &sp, &r), -EBADMSG);
    }
}
END_TEST

START_TEST(records_unknown_keys)
{
    static const struct {
        const char *bytes;
        size_t len;
        int rc;
    } t[] = {
        {"\x01", 1, 0},
        {"\xc0", 1, 0},
        {"\xa3xyz", 4, 0},
        {"\xcb\x3f\xf0\0\0\0\0\0\0", 9, 0},
        {"\xd4\x01\x02", 3, 0},                /* fixext 1 */
        {"\xc7\x02\x05\x01\x02", 5, 0},        /* ext 8 */
        {"\xc4\x00", 2, 0},                    /* empty bin */
        {"\x91\x01", 2, 0},                    /* [1]: depth 3 */
        {"\x91\x81\x01\x02", 4, 0},            /* [{1: 2}]: depth 4 */
        {"\x92\x01\x91\x01", 4, 0},            /* [1, [1]]: depth 4 */
        {"\x91\x91\x91\x01", 4, -EBADMSG},     /* depth 5 */
        {"\x81\x01\x91\x91\x01", 5, -EBADMSG}, /* {1: [[1]]}: depth 5 */
        {"\xc1", 1, -EBADMSG},
        {"\x92\x01", 2, -EBADMSG}, /* array short of an element */
        {"\xa5xy", 3, -EBADMSG},   /* str longer than the payload */
        {"\xdb\xff\xff\xff\xff", 5, -EBADMSG},
        {"\xc6\x7f\xff\xff\xff", 5, -EBADMSG},
        {"\xc9\x00\x00\x00\x10\x01", 6, -EBADMSG},
        {"\xd8\x01", 2, -EBADMSG},
    };
    struct proto_rep r;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct spoil sp = no_spoil;
        int rc;

        sp.extra = t[i].bytes;
        sp.extra_len = t[i].len;
        rc = decode_record(0, &sp, &r);
        /* STATS is [op, id, err, {...}]: the record map is depth 2, a
         * container as a value in it depth 3, one inside that depth 4:
         * the deepest allowed. */
        ck_assert_msg(rc == t[i].rc, "case %zu: %d", i, rc);
        if (rc == 0)
            ck_assert(arena_eq(&r.u.stats, &arena_a));
    }
}
END_TEST

START_TEST(records_arenas_depth)
{
    /* ARENAS: [op, id, err, [{...}]]: a container as a record's value is
     * depth 4, the deepest allowed, so [1] is fine there and [[1]] not. */
    struct spoil sp = no_spoil;
    msgpack_packer pk;
    struct proto_rep r;

    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    sp.extra = "\x91\x01";
    sp.extra_len = 2;
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, PROTO_OP_ARENAS);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_array(&pk, 1);
    pack_record(&pk, &arena_a, 0, &sp);
    ck_assert_int_eq(proto_decode_rep(dec, (const uint8_t *)sb.data, sb.size, &r), 0);
    ck_assert_uint_eq(r.u.arenas.count, 1);
    ck_assert(arena_eq(&r.u.arenas.v[0], &arena_a));
    msgpack_sbuffer_clear(&sb);
    sp.extra = "\x91\x91\x01";
    sp.extra_len = 3;
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, PROTO_OP_ARENAS);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_array(&pk, 1);
    pack_record(&pk, &arena_a, 0, &sp);
    ck_assert_int_eq(proto_decode_rep(dec, (const uint8_t *)sb.data, sb.size, &r), -EBADMSG);
}
END_TEST

/* ------------------------------------------------------------------ */
/* check: the structural validator on its own */

START_TEST(check_structure)
{
    static const struct {
        const char *bytes;
        size_t len;
        int depth;
        int rc;
        uint32_t objects;
    } t[] = {
        {"\x01", 1, 0, 0, 1},
        {"\x90", 1, 1, 0, 1},
        {"\x90", 1, 0, -EPROTO, 0},
        {"\x91\x91\x91\x91\x01", 5, 4, 0, 5},
        {"\x91\x91\x91\x91\x91\x01", 6, 4, -EPROTO, 0},
        {"\x91\x91\x91\x91\x91\x01", 6, 5, 0, 6},
        {"\x82\x01\x02\x03\x04", 5, 1, 0, 5},
        {"\x82\x01\x02\x03", 4, 1, -EPROTO, 0},
        {"\xde\x00\x01\x01\x02", 5, 1, 0, 3},
        {"\xdc\x00\x02\x01\x02", 5, 1, 0, 3},
        {"\xdc\x00\x03\x01\x02", 5, 1, -EPROTO, 0},
        {"\x92\x92\x01", 3, 2, -EPROTO, 0}, /* owed 3, bytes left 1 */
        {"\x92\x91\x01\x01", 4, 2, 0, 4},
        {"\xa2xy", 3, 0, 0, 1},
        {"\xa2x", 2, 0, -EPROTO, 0},
        {"\xd9\x02xy", 4, 0, 0, 1},
        {"\xda\x00\x02xy", 5, 0, 0, 1},
        {"\xdb\x00\x00\x00\x02xy", 7, 0, 0, 1},
        {"\xdb\x00\x00\x00", 4, 0, -EPROTO, 0},
        {"\xc4\x01\x00", 3, 0, 0, 1},
        {"\xc5\x00\x01\x00", 4, 0, 0, 1},
        {"\xc6\x00\x00\x00\x01\x00", 6, 0, 0, 1},
        {"\xc7\x01\x05\x00", 4, 0, 0, 1},
        {"\xc7\x01\x05", 3, 0, -EPROTO, 0},
        {"\xc8\x00\x00\x05", 4, 0, 0, 1},
        {"\xc9\x00\x00\x00\x00\x05", 6, 0, 0, 1},
        {"\xd4\x05\x00", 3, 0, 0, 1},
        {"\xd8\x05"
         "0123456789abcdef",
         18, 0, 0, 1},
        {"\xd8\x05"
         "0123456789abcde",
         17, 0, -EPROTO, 0},
        {"\xca\0\0\0\0", 5, 0, 0, 1},
        {"\xcb\0\0\0\0\0\0\0", 8, 0, -EPROTO, 0},
        {"\xcf\0\0\0\0\0\0\0\0", 9, 0, 0, 1},
        {"\xd3\0\0\0\0\0\0\0", 8, 0, -EPROTO, 0},
        {"\xc0", 1, 0, 0, 1},
        {"\xc1", 1, 0, -EPROTO, 0},
        {"\x91\xc1", 2, 1, -EPROTO, 0},
        {"\x01\x02", 2, 0, -EPROTO, 0},     /* two objects */
        {"\x91\x01\x02", 3, 1, -EPROTO, 0}, /* trailing byte */
        {"", 0, 0, -EPROTO, 0},
        {"\xdd\x00\x10\x00\x00", 5, 4, -EPROTO, 0},
        {"\xdf\x00\x10\x00\x00", 5, 4, -EPROTO, 0},
        {"\xe0", 1, 0, 0, 1},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint32_t objects = 0;
        int rc = proto__check((const uint8_t *)t[i].bytes, t[i].len, t[i].depth, &objects);

        ck_assert_msg(rc == t[i].rc, "case %zu: %d", i, rc);
        if (rc == 0)
            ck_assert_msg(objects == t[i].objects, "case %zu: %u objects", i, objects);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* random */

START_TEST(random_bytes)
{
    /* Mostly bytes that look like msgpack headers, so that the decoders get
     * past the first byte now and then. */
    static const uint8_t heads[] = {0x90, 0x91, 0x92, 0x93, 0x94, 0x96, 0x97, 0xdc, 0xdd, 0x00,
                                    0x01, 0x07, 0x0a, 0x0d, 0x0e, 0x0f, 0xcc, 0xcd, 0xce, 0xcf,
                                    0xd0, 0xd3, 0xa3, 0xd9, 0xdb, 0x80, 0x81, 0xde, 0xdf, 0xc0,
                                    0xc1, 0xc3, 0xff, 0xcb, 0xc7, 0xd4, 0xc4};
    uint8_t p[600];
    int accepted = 0, iters = 200000;

    seed("random_bytes");
    for (int it = 0; it < iters; it++) {
        size_t n = rnd() % (it % 100 == 0 ? sizeof(p) : 48);
        uint8_t *t;
        size_t fl;
        int rc;

        for (size_t i = 0; i < n; i++)
            p[i] = (rnd() % 3) ? heads[rnd() % sizeof(heads)] : (uint8_t)rnd();
        /* a tight copy, so that ASan catches a read past the end */
        t = malloc(n ? n : 1);
        ck_assert_ptr_nonnull(t);
        memcpy(t, p, n);
        accepted += roundtrip_any(t, n, "random");
        rc = proto_frame(t, n, PROTO_DEFAULT_MAX_MSG, &fl);
        ck_assert(rc == 0 || rc == 1 || rc == -EMSGSIZE);
        if (rc == 1)
            ck_assert_uint_le(fl, n);
        free(t);
    }
    printf("random_bytes: %d of %d accepted\n", accepted, 2 * iters);
}
END_TEST

START_TEST(random_mutations)
{
    int accepted = 0, iters = 0;

    seed("random_mutations");
    for (int round = 0; round < 500; round++) {
        for (int i = 0; i < nsamples; i++) {
            uint8_t *t;
            size_t n;

            /* the long lists make slow rounds and teach nothing new */
            if (samples[i].nf > 3 && samples[i].v[3].k == V_LIST && samples[i].v[3].n > 100)
                continue;
            pack_vals(&sb, samples[i].v, samples[i].nf);
            n = sb.size;
            t = malloc(n + 8);
            ck_assert_ptr_nonnull(t);
            memcpy(t, sb.data, n);
            for (int k = 1 + (int)(rnd() % 4); k > 0; k--) {
                size_t at = n ? rnd() % n : 0;
                static const uint8_t magic[] = {0x00, 0x7f, 0x80, 0xff, 0xc0, 0xc1, 0xcc,
                                                0xcf, 0xd0, 0xd3, 0xdc, 0xdd, 0xdf, 0x9f};

                switch (rnd() % 6) {
                case 0: /* flip a bit */
                    if (n)
                        t[at] ^= (uint8_t)(1u << (rnd() % 8));
                    break;
                case 1: /* an interesting byte */
                    if (n)
                        t[at] = magic[rnd() % sizeof(magic)];
                    break;
                case 2: /* a random byte */
                    if (n)
                        t[at] = (uint8_t)rnd();
                    break;
                case 3: /* insert a byte */
                    if (n < sb.size + 8) {
                        memmove(t + at + 1, t + at, n - at);
                        t[at] = (uint8_t)rnd();
                        n++;
                    }
                    break;
                case 4: /* delete a byte */
                    if (n) {
                        memmove(t + at, t + at + 1, n - at - 1);
                        n--;
                    }
                    break;
                default: /* truncate */
                    n = at;
                    break;
                }
            }
            {
                uint8_t *tight = malloc(n ? n : 1);

                ck_assert_ptr_nonnull(tight);
                memcpy(tight, t, n);
                accepted += roundtrip_any(tight, n, samples[i].name);
                free(tight);
            }
            free(t);
            iters++;
        }
    }
    printf("random_mutations: %d decodes of %d mutants accepted\n", accepted, iters);
}
END_TEST

/* ------------------------------------------------------------------ */
/* parse */

START_TEST(parse_size)
{
    static const struct {
        const char *s;
        int rc;
        uint64_t v;
    } t[] = {
        {"0", 0, 0},
        {"4096", 0, 4096},
        {"007", 0, 7},
        {"64K", 0, 64 << 10},
        {"64k", 0, 64 << 10},
        {"64KB", 0, 64 << 10},
        {"64kb", 0, 64 << 10},
        {"64KiB", 0, 64 << 10},
        {"64kib", 0, 64 << 10},
        {"16M", 0, 16 << 20},
        {"16MiB", 0, 16 << 20},
        {"1G", 0, 1ull << 30},
        {"1g", 0, 1ull << 30},
        {"1T", 0, 1ull << 40},
        {"1TB", 0, 1ull << 40},
        {"4096B", 0, 4096},
        {"4096b", 0, 4096},
        {"18446744073709551615", 0, UINT64_MAX},
        {"16777215T", 0, 16777215ull << 40},
        {"", -EINVAL, 0},
        {"K", -EINVAL, 0},
        {"B", -EINVAL, 0},
        {"-1", -EINVAL, 0},
        {"+1", -EINVAL, 0},
        {" 1", -EINVAL, 0},
        {"1 ", -EINVAL, 0},
        {"1 K", -EINVAL, 0},
        {"0x10", -EINVAL, 0},
        {"1.5K", -EINVAL, 0},
        {"4096iB", -EINVAL, 0},
        {"1Ki", -EINVAL, 0},
        {"1KBB", -EINVAL, 0},
        {"1P", -EINVAL, 0},
        {"1KK", -EINVAL, 0},
        {"18446744073709551616", -EINVAL, 0},
        {"99999999999999999999999", -EINVAL, 0},
        {"16777216T", -EINVAL, 0},
        {"17179869184G", -EINVAL, 0},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint64_t v = 12345;
        int rc = proto_parse_size(t[i].s, &v);

        ck_assert_msg(rc == t[i].rc, "\"%s\": %d", t[i].s, rc);
        if (rc == 0)
            ck_assert_msg(v == t[i].v, "\"%s\": %" PRIu64, t[i].s, v);
        else
            ck_assert_uint_eq(v, 12345);
    }
    ck_assert_int_eq(proto_parse_size(NULL, NULL), -EINVAL);
}
END_TEST

START_TEST(parse_name)
{
    static const struct {
        const char *s;
        int rc;
    } t[] = {
        {"a", 0},
        {"default", 0},
        {"A-Z_a-z.0-9", 0},
        {".", 0},
        {"..", 0},
        {"-", 0},
        {"", -EINVAL},
        {"a b", -EINVAL},
        {"a/b", -EINVAL},
        {"a\\b", -EINVAL},
        {"a:b", -EINVAL},
        {"a\tb", -EINVAL},
        {"\xc3\xa9", -EINVAL},
        {"a*", -EINVAL},
        {"a\x7f", -EINVAL},
    };
    char n64[65];

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        ck_assert_msg(proto_name_check(t[i].s, strlen(t[i].s)) == t[i].rc, "\"%s\"", t[i].s);
    memset(n64, 'x', 64);
    n64[64] = 0;
    ck_assert_int_eq(proto_name_check(n64, 63), 0);
    ck_assert_int_eq(proto_name_check(n64, 64), -EINVAL);
    ck_assert_int_eq(proto_name_check("a\0b", 3), -EINVAL);
    ck_assert_int_eq(proto_name_check("ab", 1), 0); /* only len bytes count */
    ck_assert_int_eq(proto_name_check(NULL, 0), -EINVAL);
    ck_assert_int_eq(proto_name_check(NULL, 3), -EINVAL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* errors */

START_TEST(errors_mapping)
{
    static const struct {
        uint32_t wire;
        int err;
        const char *name;
    } t[] = {
        {PROTO_OK, 0, "OK"},
        {PROTO_EINVAL, -EINVAL, "EINVAL"},
        {PROTO_ENOENT, -ENOENT, "ENOENT"},
        {PROTO_EEXIST, -EEXIST, "EEXIST"},
        {PROTO_EACCES, -EACCES, "EACCES"},
        {PROTO_ENOMEM, -ENOMEM, "ENOMEM"},
        {PROTO_EPROTO, -EPROTO, "EPROTO"},
        {PROTO_EBUSY, -EBUSY, "EBUSY"},
        {PROTO_EMSGSIZE, -EMSGSIZE, "EMSGSIZE"},
        {PROTO_EBADF, -EBADF, "EBADF"},
        {PROTO_ENOTSUP, -ENOTSUP, "ENOTSUP"},
        {PROTO_EMFILE, -EMFILE, "EMFILE"},
        {PROTO_EIO, -EIO, "EIO"},
        {PROTO_EDQUOT, -EDQUOT, "EDQUOT"},
        {PROTO_ETIMEDOUT, -ETIMEDOUT, "ETIMEDOUT"},
        {PROTO_ESRCH, -ESRCH, "ESRCH"},
        {PROTO_EPERM, -EPERM, "EPERM"},
    };

    ck_assert_uint_eq(t[sizeof(t) / sizeof(t[0]) - 1].wire, PROTO_ERR_MAX);
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        ck_assert_int_eq(proto_err_to_errno(t[i].wire), t[i].err);
        if (strcmp(t[i].name, "UNKNOWN") != 0)
            ck_assert_uint_eq(proto_errno_to_err(t[i].err), t[i].wire);
        ck_assert_str_eq(proto_err_name(t[i].wire), t[i].name);
    }
    /* unknown wire codes: the peer is newer or broken */
    ck_assert_int_eq(proto_err_to_errno(PROTO_ERR_MAX + 1), -EPROTO);
    for (uint32_t w = 1; w < PROTO_ERR_MAX; w++) {
        int named = 0;
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
            named |= t[i].wire == w;
        if (!named) { /* a code no one has taken yet is unknown, not success */
            ck_assert_int_eq(proto_err_to_errno(w), -EPROTO);
            ck_assert_str_eq(proto_err_name(w), "UNKNOWN");
        }
    }
    ck_assert_int_eq(proto_err_to_errno(UINT32_MAX), -EPROTO);
    ck_assert_str_eq(proto_err_name(PROTO_ERR_MAX + 1), "UNKNOWN");
    /* errnos without their own code */
    ck_assert_uint_eq(proto_errno_to_err(-EBADMSG), PROTO_EPROTO);
    ck_assert_uint_eq(proto_errno_to_err(-ENOSPC), PROTO_ENOMEM);
    ck_assert_uint_eq(proto_errno_to_err(-ECONNRESET), PROTO_EIO);
    ck_assert_uint_eq(proto_errno_to_err(-EAGAIN), PROTO_EIO);
    ck_assert_uint_eq(proto_errno_to_err(-9999), PROTO_EIO);
    ck_assert_uint_eq(proto_errno_to_err(EINVAL), PROTO_EIO); /* positive: a bug, not EINVAL */
}
END_TEST

/* The one error list: every table made from it agrees with it. */
START_TEST(errors_one_list)
{
    static const struct {
        uint32_t wire;
        int err;
        const char *name, *text;
    } wire[] = {
#define WIRE_ROW(name, code, text) {code, -name, #name, text},
        PROTO_ERR_MAP(WIRE_ROW)
#undef WIRE_ROW
    };
    static const struct {
        int err;
        const char *name, *text;
    } local[] = {
#define LOCAL_ROW(name, text) {-name, #name, text},
        PROTO_LOCAL_ERR_MAP(LOCAL_ROW)
#undef LOCAL_ROW
    };

    ck_assert_uint_eq(wire[sizeof(wire) / sizeof(wire[0]) - 1].wire, PROTO_ERR_MAX);
    for (size_t i = 0; i < sizeof(wire) / sizeof(wire[0]); i++) {
        ck_assert_uint_gt(wire[i].wire, i > 0 ? wire[i - 1].wire : 0); /* in order */
        ck_assert_int_eq(proto_err_to_errno(wire[i].wire), wire[i].err);
        ck_assert_uint_eq(proto_errno_to_err(wire[i].err), wire[i].wire);
        ck_assert_str_eq(proto_err_name(wire[i].wire), wire[i].name);
        ck_assert_str_eq(proto_errno_name(wire[i].err), wire[i].name);
        ck_assert_str_eq(proto_errno_name(-wire[i].err), wire[i].name);
        ck_assert_str_eq(proto_errno_text(wire[i].err), wire[i].text);
    }
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        /* Never on the wire: a daemon that met one says EIO. */
        ck_assert_uint_eq(proto_errno_to_err(local[i].err), PROTO_EIO);
        ck_assert_str_eq(proto_errno_name(local[i].err), local[i].name);
        ck_assert_str_eq(proto_errno_text(local[i].err), local[i].text);
    }
    ck_assert_str_eq(proto_errno_name(0), "OK");
    ck_assert_str_eq(proto_errno_text(0), "success");
    /* Outside the list: the C library's words, else a fixed one. */
    ck_assert_str_eq(proto_errno_name(-ENOSPC), "ENOSPC");
    ck_assert_str_eq(proto_errno_text(-ENOSPC), strerror(ENOSPC));
    ck_assert_str_eq(proto_errno_name(-99999), "EUNKNOWN");
    ck_assert_str_eq(proto_errno_text(-99999), "unknown error");
    ck_assert_str_eq(proto_errno_name(INT_MIN), "EUNKNOWN");
}
END_TEST

START_TEST(errors_op_names)
{
    static const char *const names[PROTO_OP_MAX + 1] = {
        [PROTO_OP_HELLO] = "HELLO",     [PROTO_OP_PING] = "PING",       [PROTO_OP_CREATE] = "CREATE",
        [PROTO_OP_DROP] = "DROP",       [PROTO_OP_OPEN] = "OPEN",       [PROTO_OP_CLOSE] = "CLOSE",
        [PROTO_OP_ALLOC] = "ALLOC",     [PROTO_OP_FREE] = "FREE",       [PROTO_OP_ALLOC_N] = "ALLOC_N",
        [PROTO_OP_FREE_N] = "FREE_N",   [PROTO_OP_PAGE] = "PAGE",       [PROTO_OP_PAGES] = "PAGES",
        [PROTO_OP_STATS] = "STATS",     [PROTO_OP_ARENAS] = "ARENAS",   [PROTO_OP_DAEMON] = "DAEMON",
        [PROTO_OP_VALIDATE] = "VALIDATE", [PROTO_OP_SESSION] = "SESSION",
        [PROTO_OP_RESUME] = "RESUME",     [PROTO_OP_BYE] = "BYE",
        [PROTO_OP_CLIENTS] = "CLIENTS",   [PROTO_OP_BLOCKS] = "BLOCKS",
        [PROTO_OP_ALLOC_NAMED] = "ALLOC_NAMED", [PROTO_OP_NAME_BIND] = "NAME_BIND",
        [PROTO_OP_NAME_UNBIND] = "NAME_UNBIND", [PROTO_OP_LOOKUP] = "LOOKUP",
        [PROTO_OP_LOOKUP_WAIT] = "LOOKUP_WAIT", [PROTO_OP_NAMES] = "NAMES",
        [PROTO_OP_BLOCK_SIZE] = "BLOCK_SIZE",
        [PROTO_OP_CACHE] = "CACHE",       [PROTO_OP_FILL] = "FILL",     [PROTO_OP_DRAIN] = "DRAIN",
    };

    /* Every op code in use has its name; the holes between ranges are UNKNOWN. */
    for (uint32_t op = 1; op <= PROTO_OP_MAX; op++)
        ck_assert_str_eq(proto_op_name(op), names[op] ? names[op] : "UNKNOWN");
    ck_assert_str_eq(proto_op_name(0), "UNKNOWN");
    ck_assert_str_eq(proto_op_name(PROTO_OP_MAX + 1), "UNKNOWN");
    ck_assert_str_eq(proto_op_name(UINT32_MAX), "UNKNOWN");
}
END_TEST

START_TEST(records_clients)
{
    struct proto_client_row rows[3] = {
        {.client = 1, .pid = 42, .uid = 1000, .gid = 100, .comm = {"producer", 8},
         .since_s = 1700000000, .requests = 9, .arena = {"frames", 6}, .blocks = 3, .bytes = 3072},
        {.client = 1, .pid = 42, .uid = 1000, .gid = 100, .comm = {"producer", 8},
         .since_s = 1700000000, .requests = 9, .arena = {"t", 1}, .blocks = 0, .bytes = 0},
        {.client = UINT64_MAX, .pid = UINT32_MAX, .comm = {"", 0}, .arena = {"", 0},
         .blocks = UINT64_MAX, .bytes = UINT64_MAX},
    };
    struct proto_rep r = {.op = PROTO_OP_CLIENTS, .id = 7}, out;
    uint8_t *p;
    size_t len;

    /* Rows with names, with none (no arena open), extremes; a cursor. */
    r.u.clients.next = 2;
    r.u.clients.v = rows;
    r.u.clients.count = 3;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), 0);
    ck_assert_int_eq(proto_decode_rep(dec, buf.data + 4, buf.len - 4, &out), 0);
    ck_assert(rep_eq(&out, &r));
    /* None at all. */
    buf.len = 0;
    r.u.clients.count = 0;
    r.u.clients.next = 0;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), 0);
    ck_assert_int_eq(proto_decode_rep(dec, buf.data + 4, buf.len - 4, &out), 0);
    ck_assert_uint_eq(out.u.clients.count, 0);
    /* What the decoder would refuse is not encoded: a command name with a
     * control character, an arena name with a blank, too many rows. */
    buf.len = 0;
    r.u.clients.count = 1;
    rows[0].comm = (struct proto_str){"evil\x1b[2J", 9};
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    rows[0].comm = (struct proto_str){"ok", 2};
    rows[0].arena = (struct proto_str){"a b", 3};
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    r.u.clients.count = PROTO_MAX_CLIENT_ROWS + 1;
    ck_assert_int_eq(proto_encode_rep(&buf, &r), -EINVAL);
    ck_assert_uint_eq(buf.len, 0);
    /* A row without its "arena" key, from a hostile peer: refused. */
    {
        msgpack_sbuffer sbuf;
        msgpack_packer pk;

        msgpack_sbuffer_init(&sbuf);
        msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 5);
        msgpack_pack_uint32(&pk, PROTO_OP_CLIENTS);
        msgpack_pack_uint32(&pk, 1);
        msgpack_pack_uint32(&pk, 0);
        msgpack_pack_uint32(&pk, 0);
        msgpack_pack_array(&pk, 1);
        msgpack_pack_map(&pk, 1);
        msgpack_pack_str_with_body(&pk, "client", 6);
        msgpack_pack_uint32(&pk, 1);
        p = (uint8_t *)sbuf.data;
        len = sbuf.size;
        ck_assert_int_eq(proto_decode_rep(dec, p, len, &out), -EBADMSG);
        msgpack_sbuffer_destroy(&sbuf);
    }
    /* BLOCKS: a list that is not whole entries is refused. */
    {
        static const uint8_t bad[] = {0x95, 0x11, 0x01, 0x00, 0x00, 0x93, 0x01, 0x02, 0x03};

        ck_assert_int_eq(proto_decode_rep(dec, bad, sizeof(bad), &out), -EBADMSG);
    }
}
END_TEST

/* ------------------------------------------------------------------ */

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *proto_suite(void)
{
    Suite *s = suite_create("proto");
    TCase *tc;

    tc = tcase(s, "frame");
    tcase_add_test(tc, frame_headers);
    tcase_add_test(tc, frame_buffer);
    tcase_add_test(tc, frame_batch_fit);
    tc = tcase(s, "roundtrip");
    tcase_add_test(tc, roundtrip_samples);
    tcase_add_test(tc, roundtrip_int_forms);
    tcase_add_test(tc, roundtrip_worked_example);
    tcase_add_test(tc, roundtrip_encode_refuses);
    tcase_add_test(tc, roundtrip_longest_names);
    tcase_add_test(tc, roundtrip_arenas_max);
    tc = tcase(s, "encode");
    tcase_add_test(tc, encode_random_values);
    tcase_add_test(tc, encode_appends_whole_frames);
    tc = tcase(s, "fast");
    tcase_add_test(tc, fast_path_agrees);
    tc = tcase(s, "truncated");
    tcase_add_test(tc, truncated_every_length);
    tc = tcase(s, "types");
    tcase_add_test(tc, types_each_field);
    tcase_add_test(tc, types_missing_extra);
    tcase_add_test(tc, types_heads);
    tc = tcase(s, "limits");
    tcase_add_test(tc, limits_bomb);
    tcase_add_test(tc, limits_counts);
    tcase_add_test(tc, limits_objects);
    tc = tcase(s, "records");
    tcase_add_test(tc, records_keys);
    tcase_add_test(tc, records_unknown_keys);
    tcase_add_test(tc, records_arenas_depth);
    tcase_add_test(tc, records_clients);
    tc = tcase(s, "check");
    tcase_add_test(tc, check_structure);
    tc = tcase(s, "random");
    tcase_add_test(tc, random_bytes);
    tcase_add_test(tc, random_mutations);
    tc = tcase(s, "parse");
    tcase_add_test(tc, parse_size);
    tcase_add_test(tc, parse_name);
    tc = tcase(s, "errors");
    tcase_add_test(tc, errors_mapping);
    tcase_add_test(tc, errors_op_names);
    tcase_add_test(tc, errors_one_list);
    return s;
}

int main(void)
{
    return ofa_check_run(proto_suite());
}

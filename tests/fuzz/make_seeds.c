/*
 * make_seeds.c - writes the starting corpus of the fuzz targets.
 *
 *   fuzz_seeds DIR     writes the files of DIR/proto and DIR/session
 *
 * Proto seeds are single frames: every request and every reply the encoder
 * makes. Session seeds are what a client sends on one connection: HELLO,
 * then a conversation (open, alloc, page, free, batches, create and drop,
 * listings, validate). The checked-in corpus (tests/fuzz/corpus) started
 * from these and grew by fuzzing (libFuzzer -merge=1 keeps the inputs that
 * add coverage).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static struct proto_buf b;
static uint64_t next_id;

static void req(struct proto_req q)
{
    q.id = ++next_id;
    if (proto_encode_req(&b, &q) != 0)
        abort();
}

static void rep(struct proto_rep r)
{
    r.id = ++next_id;
    if (proto_encode_rep(&b, &r) != 0)
        abort();
}

static struct proto_str S(const char *s)
{
    struct proto_str v = {s, (uint32_t)strlen(s)};
    return v;
}

static void hello(void)
{
    struct proto_req q = {.op = PROTO_OP_HELLO};
    q.u.hello.version = PROTO_VERSION;
    q.u.hello.max_msg = PROTO_DEFAULT_MAX_MSG;
    req(q);
}

static void put(const char *dir, const char *kind, const char *name)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s/seed-%s", dir, kind, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    b.len = 0;
    next_id = 0;
}

int main(int argc, char **argv)
{
    static const uint64_t offs[] = {64, 128, 4096, 65536 + 64};
    struct proto_req q;
    struct proto_rep r;
    const char *dir = argc > 1 ? argv[1] : ".";

    proto_buf_init(&b);

    /* ---- proto: one frame each ---- */
    hello();
    put(dir, "proto", "hello");
    req((struct proto_req){.op = PROTO_OP_PING});
    put(dir, "proto", "ping");
    q = (struct proto_req){.op = PROTO_OP_CREATE};
    q.u.create.name = S("g");
    q.u.create.page_size = 65536;
    q.u.create.max_bytes = 1 << 20;
    q.u.create.align = 64;
    q.u.create.mode = 0640;
    req(q);
    put(dir, "proto", "create");
    q = (struct proto_req){.op = PROTO_OP_ALLOC};
    q.u.alloc.size = 100;
    q.u.alloc.flags = PROTO_ALLOC_KEEP;
    req(q);
    put(dir, "proto", "alloc");
    q.op = PROTO_OP_ALLOC_N;
    q.u.alloc.count = 8;
    req(q);
    put(dir, "proto", "alloc_n");
    q = (struct proto_req){.op = PROTO_OP_FREE_N};
    q.u.free_n.offs = offs;
    q.u.free_n.count = 4;
    req(q);
    put(dir, "proto", "free_n");
    q = (struct proto_req){.op = PROTO_OP_STATS};
    q.u.stats.name = S("f");
    req(q);
    put(dir, "proto", "stats");
    r = (struct proto_rep){.op = PROTO_OP_ALLOC};
    r.u.alloc.off = 4160;
    rep(r);
    put(dir, "proto", "rep_alloc");
    r = (struct proto_rep){.op = PROTO_OP_PAGE};
    r.u.page.base = 1 << 20;
    r.u.page.len = 65536;
    r.u.page.writable = 1;
    rep(r);
    put(dir, "proto", "rep_page");
    r = (struct proto_rep){.op = PROTO_OP_ALLOC_N};
    r.u.list.offs = offs;
    r.u.list.count = 4;
    rep(r);
    put(dir, "proto", "rep_alloc_n");
    r = (struct proto_rep){.op = PROTO_OP_DAEMON};
    r.u.daemon.version = S("0.1.0");
    r.u.daemon.uptime_s = 5;
    rep(r);
    put(dir, "proto", "rep_daemon");
    r = (struct proto_rep){.op = PROTO_OP_STATS};
    r.u.stats.name = S("f");
    r.u.stats.page_size = 65536;
    r.u.stats.align = 64;
    rep(r);
    put(dir, "proto", "rep_stats");
    r = (struct proto_rep){.op = PROTO_OP_FREE_N, .err = PROTO_EINVAL};
    r.u.list.count = 2;
    rep(r);
    put(dir, "proto", "rep_free_n_err");

    /* ---- session: conversations ---- */
    hello();
    put(dir, "session", "hello");

    hello();
    q = (struct proto_req){.op = PROTO_OP_OPEN};
    q.u.open.name = S("f");
    req(q);
    for (int i = 0; i < 4; i++) {
        q = (struct proto_req){.op = PROTO_OP_ALLOC};
        q.u.alloc.size = 100u << i;
        q.u.alloc.flags = i == 3 ? PROTO_ALLOC_KEEP : 0;
        req(q);
    }
    q = (struct proto_req){.op = PROTO_OP_PAGE};
    q.u.page.off = offs[0];
    req(q);
    q = (struct proto_req){.op = PROTO_OP_FREE};
    q.u.free.off = offs[1];
    req(q);
    q = (struct proto_req){.op = PROTO_OP_PAGES};
    req(q);
    q = (struct proto_req){.op = PROTO_OP_CLOSE};
    req(q);
    put(dir, "session", "alloc_free");

    hello();
    q = (struct proto_req){.op = PROTO_OP_OPEN};
    q.u.open.name = S("f");
    req(q);
    q = (struct proto_req){.op = PROTO_OP_ALLOC_N};
    q.u.alloc.size = 64;
    q.u.alloc.count = 16;
    req(q);
    q = (struct proto_req){.op = PROTO_OP_FREE_N};
    q.u.free_n.offs = offs;
    q.u.free_n.count = 4;
    req(q);
    q = (struct proto_req){.op = PROTO_OP_ALLOC};
    q.u.alloc.size = 200000; /* a page of its own */
    req(q);
    q = (struct proto_req){.op = PROTO_OP_STATS};
    q.u.stats.name = S("f");
    req(q);
    put(dir, "session", "batches");

    hello();
    q = (struct proto_req){.op = PROTO_OP_CREATE};
    q.u.create.name = S("g");
    q.u.create.page_size = 65536;
    q.u.create.align = 8;
    req(q);
    q = (struct proto_req){.op = PROTO_OP_OPEN};
    q.u.open.name = S("g");
    req(q);
    q = (struct proto_req){.op = PROTO_OP_ALLOC};
    q.u.alloc.size = 24;
    q.u.alloc.flags = PROTO_ALLOC_KEEP;
    req(q);
    req((struct proto_req){.op = PROTO_OP_ARENAS});
    req((struct proto_req){.op = PROTO_OP_DAEMON});
    q = (struct proto_req){.op = PROTO_OP_VALIDATE};
    q.u.validate.name = S("g");
    req(q);
    q = (struct proto_req){.op = PROTO_OP_DROP};
    q.u.drop.name = S("g");
    q.u.drop.force = 1;
    req(q);
    req((struct proto_req){.op = PROTO_OP_PING});
    put(dir, "session", "create_drop");

    proto_buf_free(&b);
    return 0;
}

/*
 * bench_proto.c - the codec's cost per message, for callgrind.
 *
 * Not a test: it checks nothing but its own round trips and prints nothing
 * but a checksum. Run it under callgrind and read the inclusive cost of the
 * *_step functions, each of which is one message's work on one side:
 *
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out ./bench_proto alloc 100000
 *   callgrind_annotate --inclusive=yes cg.out | grep _step
 *
 * divided by the iteration count. Modes:
 *   alloc   server: frame + decode an ALLOC request + encode its reply;
 *           client: encode the request + frame + decode the reply
 *   free_n  the same for FREE_N of 4096 offsets (per message, not offset)
 *   stats   the same for STATS (the msgpack-c path, client side)
 */
#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct proto_dec *dec_server, *dec_client;
static struct proto_buf wire_req, wire_rep;
static uint64_t offs[PROTO_MAX_BATCH];
static uint64_t sink;

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_proto: %s: %d\n", what, rc);
    exit(1);
}

/* One request frame in wire_req -> one reply frame in wire_rep. */
__attribute__((noinline)) static void server_step(void)
{
    struct proto_req req;
    struct proto_rep rep;
    size_t flen;
    int rc;

    rc = proto_frame(wire_req.data, wire_req.len, PROTO_DEFAULT_MAX_MSG, &flen);
    if (rc != 1)
        die("frame", rc);
    rc = proto_decode_req(dec_server, wire_req.data + PROTO_HEADER_LEN, flen - PROTO_HEADER_LEN,
                          &req);
    if (rc != 0)
        die("decode_req", rc);
    rep.op = req.op;
    rep.id = req.id;
    rep.err = PROTO_OK;
    switch (req.op) {
    case PROTO_OP_ALLOC:
        rep.u.alloc.off = 0x10000 + req.u.alloc.size;
        break;
    case PROTO_OP_FREE_N:
        rep.u.list.offs = NULL;
        rep.u.list.count = req.u.free_n.count;
        break;
    default: {
        static const struct proto_arena_info info = {.name = {"frames", 6},
                                                     .uid = 1000,
                                                     .gid = 1000,
                                                     .mode = 0640,
                                                     .align = 64,
                                                     .page_size = 1 << 20,
                                                     .max_bytes = 1ull << 30,
                                                     .pages = 3,
                                                     .bytes_reserved = 3 << 20,
                                                     .bytes_live = 123456,
                                                     .blocks_live = 99,
                                                     .free_chunks = 7,
                                                     .largest_free = 800000,
                                                     .allocs = 1000000,
                                                     .frees = 999901,
                                                     .alloc_failures = 0};
        rep.u.stats = info;
        break;
    }
    }
    wire_rep.len = 0;
    rc = proto_encode_rep(&wire_rep, &rep);
    if (rc != 0)
        die("encode_rep", rc);
}

__attribute__((noinline)) static void client_encode_step(const struct proto_req *req)
{
    int rc;

    wire_req.len = 0;
    rc = proto_encode_req(&wire_req, req);
    if (rc != 0)
        die("encode_req", rc);
}

__attribute__((noinline)) static void client_decode_step(void)
{
    struct proto_rep rep;
    size_t flen;
    int rc;

    rc = proto_frame(wire_rep.data, wire_rep.len, PROTO_MAX_MAX_MSG, &flen);
    if (rc != 1)
        die("frame", rc);
    rc = proto_decode_rep(dec_client, wire_rep.data + PROTO_HEADER_LEN, flen - PROTO_HEADER_LEN,
                          &rep);
    if (rc != 0)
        die("decode_rep", rc);
    sink += rep.id + rep.u.alloc.off;
}

int main(int argc, char **argv)
{
    struct proto_req req;
    const char *mode = argc > 1 ? argv[1] : "alloc";
    long iters = argc > 2 ? atol(argv[2]) : 100000;

    if (proto_dec_new(&dec_server) != 0 || proto_dec_new(&dec_client) != 0)
        die("dec_new", -ENOMEM);
    proto_buf_init(&wire_req);
    proto_buf_init(&wire_rep);
    for (uint32_t i = 0; i < PROTO_MAX_BATCH; i++)
        offs[i] = 0x100000000ull + 64ull * i;

    memset(&req, 0, sizeof(req));
    if (strcmp(mode, "alloc") == 0) {
        req.op = PROTO_OP_ALLOC;
        req.u.alloc.arena = 1;
        req.u.alloc.size = 4096;
    } else if (strcmp(mode, "free_n") == 0) {
        req.op = PROTO_OP_FREE_N;
        req.u.free_n.arena = 1;
        req.u.free_n.offs = offs;
        req.u.free_n.count = PROTO_MAX_BATCH;
    } else if (strcmp(mode, "stats") == 0) {
        req.op = PROTO_OP_STATS;
        req.u.stats.name.ptr = "frames";
        req.u.stats.name.len = 6;
    } else {
        fprintf(stderr, "usage: bench_proto alloc|free_n|stats [iterations]\n");
        return 2;
    }
    for (long i = 0; i < iters; i++) {
        req.id = 1000000 + (uint64_t)i;
        client_encode_step(&req);
        server_step();
        client_decode_step();
    }
    printf("%s %ld %llu\n", mode, iters, (unsigned long long)sink);
    proto_buf_free(&wire_req);
    proto_buf_free(&wire_rep);
    proto_dec_free(dec_server);
    proto_dec_free(dec_client);
    return 0;
}

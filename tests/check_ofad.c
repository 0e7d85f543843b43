/*
 * check_ofad.c - integration tests of ofad: a real daemon on a temporary
 * socket (harness.c), raw protocol clients built on proto, real child
 * processes, kill -9.
 *
 * One TCase per topic: handshake, hostile, backpressure, ownership, errors,
 * limits, permissions, pages, lifecycle, flags, reload, activation.
 * Random inputs print their seed; OFA_SEED replays one.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define OK(x) ck_assert_int_eq((x), 0)

static struct ofad D;

static void start(const char *const *args)
{
    int rc = ofad_start(&D, args);

    ck_assert_msg(rc == 0, "ofad did not start: %s", strerror(-rc));
}

static void start_config(const char *text, const char *const *args)
{
    struct ofad_opts o = {.args = args, .with_config = true};
    int rc;

    OK(ofad_prepare(&D));
    OK(ofad_write_config(&D, text));
    o.reuse = true;
    rc = ofad_start_opts(&D, &o);
    ck_assert_msg(rc == 0, "ofad did not start: %s", strerror(-rc));
}

static void hello(struct rawc *c)
{
    OK(rawc_connect(c, D.socket));
    OK(rawc_hello(c));
}

static void stats(struct rawc *c, const char *name, struct proto_arena_info *st)
{
    OK(rawc_stats(c, name, st));
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Waits until arena `name` has `blocks` live blocks. A client's end is seen by
 * ofad asynchronously (its EOF may be served after our request), so this
 * asks again until the deadline: the condition is asserted, not the time.
 */
static void wait_blocks(struct rawc *c, const char *name, uint64_t blocks)
{
    uint64_t deadline = now_ms() + HARNESS_WAIT_MS;
    struct proto_arena_info st;

    for (;;) {
        stats(c, name, &st);
        if (st.blocks_live == blocks)
            return;
        ck_assert_msg(now_ms() < deadline, "blocks_live stays %llu, expected %llu",
                      (unsigned long long)st.blocks_live, (unsigned long long)blocks);
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void wait_clients(struct rawc *c, uint64_t clients)
{
    uint64_t deadline = now_ms() + HARNESS_WAIT_MS;
    struct proto_daemon_info di;

    for (;;) {
        OK(rawc_daemon(c, &di));
        if (di.clients == clients)
            return;
        ck_assert_msg(now_ms() < deadline, "clients stays %llu, expected %llu",
                      (unsigned long long)di.clients, (unsigned long long)clients);
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Expects one error reply, then the daemon closing the connection. */
static void expect_err_then_close(struct rawc *c, uint32_t err)
{
    struct proto_rep r;

    OK(rawc_recv(c, &r, NULL));
    ck_assert_uint_eq(r.err, err);
    OK(rawc_wait_eof(c));
}

static unsigned seed(void)
{
    const char *s = getenv("OFA_SEED");
    unsigned v = s ? (unsigned)strtoul(s, NULL, 0) : (unsigned)time(NULL) ^ (unsigned)getpid();

    fprintf(stderr, "seed %u (OFA_SEED=%u replays it)\n", v, v);
    return v;
}

/* ================= handshake ================= */

START_TEST(handshake_ok)
{
    struct proto_req q = {.op = PROTO_OP_HELLO};
    struct proto_rep r;
    struct rawc c;

    start(NULL);
    OK(rawc_connect(&c, D.socket));
    q.u.hello.version = PROTO_VERSION;
    q.u.hello.max_msg = PROTO_DEFAULT_MAX_MSG;
    OK(rawc_call(&c, &q, &r, NULL));
    ck_assert_uint_eq(r.u.hello.version, PROTO_VERSION);
    ck_assert_uint_eq(r.u.hello.max_msg, 65536);
    ck_assert_msg(r.u.hello.server.len > 5 && memcmp(r.u.hello.server.ptr, "ofad ", 5) == 0,
                  "server string");
    OK(rawc_ping(&c));
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
}
END_TEST

START_TEST(handshake_before_hello)
{
    struct proto_req q = {.op = PROTO_OP_PING, .id = 9};
    struct proto_rep r;
    struct rawc c, good;

    start(NULL);
    OK(rawc_connect(&c, D.socket));
    OK(rawc_send(&c, &q));
    OK(rawc_recv(&c, &r, NULL));
    ck_assert_uint_eq(r.err, PROTO_EPROTO);
    ck_assert_uint_eq(r.id, 9);
    OK(rawc_wait_eof(&c));
    rawc_close(&c);
    hello(&good);
    OK(rawc_ping(&good));
    rawc_close(&good);
}
END_TEST

START_TEST(handshake_bad_version)
{
    struct rawc c;

    start(NULL);
    OK(rawc_connect(&c, D.socket));
    ck_assert_int_eq(rawc_hello_v(&c, PROTO_VERSION + 98, PROTO_DEFAULT_MAX_MSG), -ENOTSUP);
    OK(rawc_wait_eof(&c));
    rawc_close(&c);
}
END_TEST

START_TEST(handshake_second_hello)
{
    struct rawc c;

    start(NULL);
    hello(&c);
    ck_assert_int_eq(rawc_hello(&c), -EPROTO);
    OK(rawc_wait_eof(&c));
    rawc_close(&c);
}
END_TEST

START_TEST(handshake_pipelined)
{
    struct proto_buf b;
    struct proto_rep r;
    struct rawc c;

    start(NULL);
    OK(rawc_connect(&c, D.socket));
    proto_buf_init(&b);
    {
        struct proto_req q = {.op = PROTO_OP_HELLO, .id = 1};
        q.u.hello.version = PROTO_VERSION;
        q.u.hello.max_msg = PROTO_DEFAULT_MAX_MSG;
        OK(proto_encode_req(&b, &q));
    }
    for (uint64_t i = 2; i <= 500; i++) {
        struct proto_req q = {.op = PROTO_OP_PING, .id = i};
        OK(proto_encode_req(&b, &q));
    }
    OK(rawc_send_raw(&c, b.data, b.len));
    proto_buf_free(&b);
    for (uint64_t i = 1; i <= 500; i++) {
        OK(rawc_recv(&c, &r, NULL));
        ck_assert_uint_eq(r.id, i);
        ck_assert_uint_eq(r.err, 0);
    }
    rawc_close(&c);
}
END_TEST

/* ================= hostile ================= */

static void send_frame(struct rawc *c, uint32_t len, const void *payload, size_t n)
{
    uint8_t h[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};

    OK(rawc_send_raw(c, h, 4));
    if (n > 0)
        OK(rawc_send_raw(c, payload, n));
}

START_TEST(hostile_garbage)
{
    static const uint8_t junk[5] = {0xc1, 0xc1, 0xc1, 0xc1, 0xc1};
    struct rawc c, good;

    start(NULL);
    hello(&good);
    OK(rawc_connect(&c, D.socket));
    send_frame(&c, sizeof(junk), junk, sizeof(junk));
    expect_err_then_close(&c, PROTO_EPROTO);
    rawc_close(&c);
    OK(rawc_ping(&good));
    /* The same after the handshake. */
    hello(&c);
    send_frame(&c, sizeof(junk), junk, sizeof(junk));
    expect_err_then_close(&c, PROTO_EPROTO);
    rawc_close(&c);
    OK(rawc_ping(&good));
    rawc_close(&good);
}
END_TEST

START_TEST(hostile_addressed)
{
    /* [ALLOC, 5, "x", 1, 0, 0]: an arena handle must be an integer. */
    static const uint8_t bad[] = {0x96, 0x07, 0x05, 0xa1, 'x', 0x01, 0x00, 0x00};
    struct proto_rep r;
    struct rawc c, good;

    start(NULL);
    hello(&good);
    hello(&c);
    send_frame(&c, sizeof(bad), bad, sizeof(bad));
    OK(rawc_recv(&c, &r, NULL));
    ck_assert_uint_eq(r.err, PROTO_EPROTO);
    ck_assert_uint_eq(r.id, 5);
    OK(rawc_wait_eof(&c));
    rawc_close(&c);
    OK(rawc_ping(&good));
    rawc_close(&good);
}
END_TEST

START_TEST(hostile_sizes)
{
    /* An array that claims a million elements, in 5 bytes. */
    static const uint8_t million[5] = {0xdd, 0x00, 0x10, 0x00, 0x00};
    struct rawc c, good;
    long rss0, rss1;

    start(NULL);
    hello(&good);
    rss0 = harness_rss_kib(D.pid);
    ck_assert_int_gt(rss0, 0);

    hello(&c);
    send_frame(&c, 65537, NULL, 0); /* one over the limit */
    expect_err_then_close(&c, PROTO_EMSGSIZE);
    rawc_close(&c);

    hello(&c);
    send_frame(&c, 0x80000000u, NULL, 0); /* 2 GiB */
    expect_err_then_close(&c, PROTO_EMSGSIZE);
    rawc_close(&c);

    OK(rawc_connect(&c, D.socket));
    send_frame(&c, 0xffffffffu, NULL, 0);
    expect_err_then_close(&c, PROTO_EMSGSIZE);
    rawc_close(&c);

    hello(&c);
    send_frame(&c, 0, NULL, 0); /* empty */
    expect_err_then_close(&c, PROTO_EMSGSIZE);
    rawc_close(&c);

    hello(&c);
    send_frame(&c, sizeof(million), million, sizeof(million));
    expect_err_then_close(&c, PROTO_EPROTO);
    rawc_close(&c);

    OK(rawc_ping(&good));
    rss1 = harness_rss_kib(D.pid);
    ck_assert_msg(rss1 - rss0 < 64 * 1024, "ofad grew from %ld to %ld KiB", rss0, rss1);
    rawc_close(&good);
}
END_TEST

START_TEST(hostile_half_sent)
{
    static const uint8_t part[50] = {0x92};
    struct rawc c, good;
    uint32_t h;
    uint64_t off;

    start(NULL);
    hello(&good);
    OK(rawc_open(&good, "default", &h, NULL));
    hello(&c);
    send_frame(&c, 100, part, sizeof(part)); /* 50 of 100 bytes, then silence */
    OK(rawc_alloc(&good, h, 100, 0, &off));
    OK(rawc_free(&good, h, off));
    wait_clients(&good, 2);
    rawc_close(&c); /* and gone mid-frame */
    wait_clients(&good, 1);
    OK(rawc_ping(&good));
    rawc_close(&good);
}
END_TEST

START_TEST(hostile_random)
{
    unsigned s = seed();
    struct rawc good;

    start(NULL);
    hello(&good);
    srand(s);
    for (int round = 0; round < 50; round++) {
        uint8_t junk[256];
        size_t n = 1 + (size_t)(rand() % (int)sizeof(junk));
        struct rawc c;
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)rand();
        if (round % 2 == 0) {
            /* A plausible header, so the junk reaches the decoder. */
            uint32_t len = (uint32_t)n - 4;
            if (n < 5)
                continue;
            junk[0] = (uint8_t)(len >> 24);
            junk[1] = (uint8_t)(len >> 16);
            junk[2] = (uint8_t)(len >> 8);
            junk[3] = (uint8_t)len;
        }
        if (round % 3 == 0)
            hello(&c);
        else
            OK(rawc_connect(&c, D.socket));
        OK(rawc_send_raw(&c, junk, n));
        shutdown(c.fd, SHUT_WR); /* a frame left incomplete ends here */
        OK(rawc_wait_eof(&c));
        rawc_close(&c);
        OK(rawc_ping(&good));
    }
    wait_clients(&good, 1);
    rawc_close(&good);
    ck_assert_int_eq(ofad_stop(&D), 0);
}
END_TEST

/* ================= backpressure ================= */

START_TEST(backpressure_never_reads)
{
    const uint64_t first_id = 1u << 16; /* every id then takes 5 bytes: fixed-size frames */
    struct rawc a, b;
    struct proto_buf chunk;
    size_t frame_len, sent = 0, chunk_off = 0;
    uint64_t next = first_id, complete;
    long rss0, rss1;
    uint32_t h;
    uint64_t off;
    struct proto_rep r;

    start(NULL);
    hello(&a);
    hello(&b);
    rss0 = harness_rss_kib(D.pid);
    proto_buf_init(&chunk);
    {
        struct proto_req q = {.op = PROTO_OP_PING, .id = next};
        OK(proto_encode_req(&chunk, &q));
        frame_len = chunk.len;
        chunk.len = 0;
    }
    fcntl(a.fd, F_SETFL, fcntl(a.fd, F_GETFL) | O_NONBLOCK);
    /* Send pings and never read: ofad must stop reading us, so that our
     * sends block long before 64 MiB. */
    for (;;) {
        ssize_t w;
        if (chunk_off == chunk.len) {
            chunk.len = 0;
            chunk_off = 0;
            for (int i = 0; i < 4096; i++) {
                struct proto_req q = {.op = PROTO_OP_PING, .id = next++};
                OK(proto_encode_req(&chunk, &q));
            }
            ck_assert_uint_eq(chunk.len, 4096 * frame_len);
        }
        w = send(a.fd, chunk.data + chunk_off, chunk.len - chunk_off, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            chunk_off += (size_t)w;
            ck_assert_msg(sent < (64u << 20), "ofad kept reading a client that never reads");
            continue;
        }
        ck_assert_int_eq(errno, EAGAIN);
        struct pollfd p = {.fd = a.fd, .events = POLLOUT};
        if (poll(&p, 1, 1000) == 0)
            break; /* blocked: ofad stopped reading us */
    }
    /* Meanwhile everyone else is served. */
    OK(rawc_open(&b, "default", &h, NULL));
    OK(rawc_alloc(&b, h, 4096, 0, &off));
    OK(rawc_free(&b, h, off));
    OK(rawc_ping(&b));
    rss1 = harness_rss_kib(D.pid);
    ck_assert_msg(rss1 - rss0 < 64 * 1024, "ofad grew from %ld to %ld KiB", rss0, rss1);

    /* Now read: every complete request was answered, in order. */
    fcntl(a.fd, F_SETFL, fcntl(a.fd, F_GETFL) & ~O_NONBLOCK);
    complete = sent / frame_len;
    for (uint64_t i = 0; i < complete; i++) {
        OK(rawc_recv(&a, &r, NULL));
        ck_assert_uint_eq(r.id, first_id + i);
        ck_assert_uint_eq(r.err, 0);
    }
    proto_buf_free(&chunk);
    rawc_close(&a);
    wait_clients(&b, 1);
    rawc_close(&b);
}
END_TEST

START_TEST(backpressure_linger)
{
    static const uint8_t junk[5] = {0xc1, 0xc1, 0xc1, 0xc1, 0xc1};
    struct proto_buf b;
    struct rawc a, good;

    start(NULL);
    hello(&good);
    hello(&a);
    /* Requests whose replies outweigh any socket buffer, then a bad frame:
     * ofad closes the connection but cannot flush to a client that does not
     * read. It must not wait for it forever. */
    proto_buf_init(&b);
    for (uint64_t i = 0; i < 4000; i++) {
        struct proto_req q = {.op = PROTO_OP_STATS, .id = i};
        q.u.stats.name.ptr = "default";
        q.u.stats.name.len = 7;
        OK(proto_encode_req(&b, &q));
    }
    OK(rawc_send_raw(&a, b.data, b.len));
    proto_buf_free(&b);
    send_frame(&a, sizeof(junk), junk, sizeof(junk));
    wait_clients(&good, 1); /* after SESSION_LINGER_MS */
    ck_assert(ofad_log_has(&D, "unsent replies dropped"));
    OK(rawc_ping(&good));
    rawc_close(&a);
    rawc_close(&good);
}
END_TEST

/* ================= ownership ================= */

START_TEST(ownership_kill9)
{
    struct rawc c;
    struct proto_arena_info before, during, after;
    uint32_t h;
    int pipefd[2];
    pid_t pid;
    char ok;

    start(NULL);
    hello(&c);
    OK(rawc_open(&c, "default", &h, NULL));
    stats(&c, "default", &before);
    ck_assert_int_eq(pipe(pipefd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rawc k;
        uint32_t kh;
        uint64_t off;
        int bad = 0;
        close(pipefd[0]);
        if (rawc_connect(&k, D.socket) || rawc_hello(&k) || rawc_open(&k, "default", &kh, NULL))
            _exit(1);
        for (int i = 0; i < 200; i++)
            bad |= rawc_alloc(&k, kh, 64 + (uint64_t)i * 1000, 0, &off);
        for (int i = 0; i < 3; i++)
            bad |= rawc_alloc(&k, kh, 512, PROTO_ALLOC_KEEP, &off);
        if (bad)
            _exit(2);
        if (write(pipefd[1], "k", 1) != 1)
            _exit(3);
        pause();
        _exit(0);
    }
    close(pipefd[1]);
    ck_assert_int_eq(read(pipefd[0], &ok, 1), 1);
    close(pipefd[0]);
    stats(&c, "default", &during);
    ck_assert_uint_eq(during.blocks_live, before.blocks_live + 203);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* Its 200 blocks die with it; the 3 kept ones stay. */
    wait_blocks(&c, "default", before.blocks_live + 3);
    stats(&c, "default", &after);
    ck_assert_uint_eq(after.bytes_live, 3 * 512);
    wait_clients(&c, 1);
    OK(rawc_ping(&c));
    rawc_close(&c);
}
END_TEST

START_TEST(ownership_close_and_keep)
{
    struct rawc a, b;
    struct proto_arena_info st;
    uint32_t ha, hb;
    uint64_t offs[10], kept;

    start(NULL);
    hello(&a);
    hello(&b);
    OK(rawc_open(&a, "default", &ha, NULL));
    OK(rawc_open(&b, "default", &hb, NULL));
    for (int i = 0; i < 10; i++)
        OK(rawc_alloc(&a, ha, 100, 0, &offs[i]));
    OK(rawc_alloc(&a, ha, 100, PROTO_ALLOC_KEEP, &kept));
    stats(&b, "default", &st);
    ck_assert_uint_eq(st.blocks_live, 11);
    /* Any writer may free any live block. */
    OK(rawc_free(&b, hb, offs[0]));
    ck_assert_int_eq(rawc_free(&a, ha, offs[0]), -EINVAL);
    /* CLOSE frees the handle's blocks, not the kept one. */
    OK(rawc_close_handle(&a, ha));
    stats(&b, "default", &st);
    ck_assert_uint_eq(st.blocks_live, 1);
    ck_assert_int_eq(rawc_alloc(&a, ha, 100, 0, NULL), -EBADF);
    ck_assert_int_eq(rawc_close_handle(&a, ha), -EBADF);
    rawc_close(&a);
    /* A kept block outlives its connection until someone frees it. */
    wait_clients(&b, 1);
    stats(&b, "default", &st);
    ck_assert_uint_eq(st.blocks_live, 1);
    OK(rawc_free(&b, hb, kept));
    stats(&b, "default", &st);
    ck_assert_uint_eq(st.blocks_live, 0);
    rawc_close(&b);
}
END_TEST

/* ================= errors ================= */

static const char *const small_arena[] = {"--arena", "small,page_size=64K,max=256K", NULL};

START_TEST(errors_free_invalid)
{
    struct rawc c;
    struct proto_arena_info st0, st1;
    uint32_t h;
    uint64_t off;

    start(small_arena);
    hello(&c);
    OK(rawc_open(&c, "small", &h, NULL));
    OK(rawc_alloc(&c, h, 1000, 0, &off));
    stats(&c, "small", &st0);
    ck_assert_int_eq(rawc_free(&c, h, off + 64), -EINVAL);
    ck_assert_int_eq(rawc_free(&c, h, off + 1), -EINVAL);
    ck_assert_int_eq(rawc_free(&c, h, 0), -EINVAL);
    ck_assert_int_eq(rawc_free(&c, h, 123456789), -EINVAL);
    ck_assert_int_eq(rawc_free(&c, h, UINT64_MAX), -EINVAL);
    stats(&c, "small", &st1);
    ck_assert_uint_eq(st1.blocks_live, st0.blocks_live);
    ck_assert_uint_eq(st1.bytes_live, st0.bytes_live);
    ck_assert_uint_eq(st1.frees, st0.frees);
    ck_assert_uint_eq(st1.free_chunks, st0.free_chunks);
    OK(rawc_free(&c, h, off));
    ck_assert_int_eq(rawc_free(&c, h, off), -EINVAL); /* twice */
    stats(&c, "small", &st1);
    ck_assert_uint_eq(st1.frees, st0.frees + 1);
    ck_assert_uint_eq(st1.blocks_live, 0);
    rawc_close(&c);
}
END_TEST

START_TEST(errors_unknown)
{
    struct proto_arena_info st;
    struct proto_req q = {.op = PROTO_OP_PAGE};
    struct proto_rep r;
    struct rawc c;
    uint32_t h;

    start(NULL);
    hello(&c);
    ck_assert_int_eq(rawc_open(&c, "nosuch", &h, NULL), -ENOENT);
    ck_assert_int_eq(rawc_stats(&c, "nosuch", &st), -ENOENT);
    ck_assert_int_eq(rawc_drop(&c, "nosuch", 1), -ENOENT);
    ck_assert_int_eq(rawc_alloc(&c, 7, 100, 0, NULL), -EBADF);
    ck_assert_int_eq(rawc_free(&c, 7, 4096), -EBADF);
    ck_assert_int_eq(rawc_close_handle(&c, 7), -EBADF);
    q.u.page.arena = 7;
    q.u.page.off = 4096;
    ck_assert_int_eq(rawc_call(&c, &q, &r, NULL), -EBADF);
    OK(rawc_ping(&c));
    rawc_close(&c);
}
END_TEST

START_TEST(errors_bad_names)
{
    static const char *const names[] = {
        "bad/name",
        "with space",
        "",
        "0123456789012345678901234567890123456789012345678901234567890123",
        "caf\xc3\xa9",
    };
    struct rawc good;

    start(NULL);
    hello(&good);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct rawc c;
        uint8_t buf[256];
        /* The codec will not encode a bad name: build the frame by hand,
         * [CREATE, 77, name, 0, 0, 0, 0]. */
        size_t n = strlen(names[i]), len = 0;
        buf[len++] = 0x97;
        buf[len++] = PROTO_OP_CREATE;
        buf[len++] = 77;
        buf[len++] = 0xd9;
        buf[len++] = (uint8_t)n;
        memcpy(buf + len, names[i], n);
        len += n;
        for (int k = 0; k < 4; k++)
            buf[len++] = 0;
        hello(&c);
        send_frame(&c, (uint32_t)len, buf, len);
        /* A name outside 1..63 of [A-Za-z0-9._-] is a malformed message. */
        expect_err_then_close(&c, PROTO_EPROTO);
        rawc_close(&c);
    }
    OK(rawc_ping(&good));
    rawc_close(&good);
}
END_TEST

START_TEST(errors_create_drop)
{
    struct proto_arena_info st;
    struct rawc c, d;
    uint32_t h, h2;
    uint64_t off;

    start(NULL);
    hello(&c);
    hello(&d);
    ck_assert_int_eq(rawc_create(&c, "x", 5000, 0, 0, 0), -EINVAL);
    ck_assert_int_eq(rawc_create(&c, "x", 0, 0, 3, 0), -EINVAL);
    ck_assert_int_eq(rawc_create(&c, "x", 0, 0, 8192, 0), -EINVAL);
    ck_assert_int_eq(rawc_create(&c, "x", 0, 0, 0, 01000), -EINVAL);
    ck_assert_int_eq(rawc_create(&c, "x", 2ull << 40, 0, 0, 0), -EINVAL);
    OK(rawc_create(&c, "x", 65536, 1 << 20, 128, 0));
    ck_assert_int_eq(rawc_create(&c, "x", 0, 0, 0, 0), -EEXIST);
    stats(&c, "x", &st);
    ck_assert_uint_eq(st.page_size, 65536);
    ck_assert_uint_eq(st.max_bytes, 1 << 20);
    ck_assert_uint_eq(st.align, 128);
    ck_assert_uint_eq(st.mode, 0600);
    ck_assert_uint_eq(st.uid, getuid());
    OK(rawc_open(&c, "x", &h, NULL));
    OK(rawc_open(&d, "x", &h2, NULL));
    OK(rawc_alloc(&c, h, 100, 0, &off));
    ck_assert_uint_eq(off % 128, 0);
    ck_assert_int_eq(rawc_drop(&c, "x", 0), -EBUSY);
    ck_assert_int_eq(ofad_pages(&D), 1);
    OK(rawc_drop(&c, "x", 1));
    ck_assert_int_eq(ofad_pages(&D), 0);
    /* Handles left on a dropped arena answer ENOENT, even once a new
     * arena of the same name exists. */
    ck_assert_int_eq(rawc_alloc(&d, h2, 100, 0, NULL), -ENOENT);
    OK(rawc_create(&c, "x", 0, 0, 0, 0));
    ck_assert_int_eq(rawc_alloc(&d, h2, 100, 0, NULL), -ENOENT);
    ck_assert_int_eq(rawc_free(&c, h, off), -ENOENT);
    OK(rawc_close_handle(&d, h2));
    stats(&c, "x", &st);
    ck_assert_uint_eq(st.blocks_live, 0);
    rawc_close(&c);
    rawc_close(&d);
}
END_TEST

START_TEST(errors_sizes)
{
    struct proto_arena_info st0, st1;
    struct rawc c;
    uint32_t h;
    uint64_t off, n = 0;

    start(small_arena);
    hello(&c);
    OK(rawc_open(&c, "small", &h, NULL));
    stats(&c, "small", &st0);
    ck_assert_int_eq(rawc_alloc(&c, h, 512 * 1024, 0, NULL), -ENOMEM);
    ck_assert_int_eq(rawc_alloc(&c, h, 300 * 1024, 0, NULL), -ENOMEM);
    stats(&c, "small", &st1);
    ck_assert_uint_eq(st1.alloc_failures, st0.alloc_failures + 2);
    ck_assert_int_eq(rawc_alloc(&c, h, 0, 0, NULL), -EINVAL);
    ck_assert_int_eq(rawc_alloc(&c, h, 1ull << 41, 0, NULL), -EINVAL);
    stats(&c, "small", &st1);
    ck_assert_uint_eq(st1.blocks_live, 0);
    ck_assert_uint_eq(st1.bytes_reserved, 0);
    /* A block larger than a page gets a page of its own. */
    OK(rawc_alloc(&c, h, 100 * 1024, 0, &off));
    OK(rawc_free(&c, h, off));
    /* Fill up to max: never more than 256K reserved. */
    while (rawc_alloc(&c, h, 16 * 1024, 0, &off) == 0)
        n++;
    stats(&c, "small", &st1);
    ck_assert_uint_le(st1.bytes_reserved, 256 * 1024);
    ck_assert_uint_ge(n, 8);
    rawc_close(&c);
}
END_TEST

START_TEST(errors_no_backing)
{
    static const char *const args[] = {"--arena", "big,page_size=64K,max=64M", NULL};
    struct rlimit old, rl;
    struct proto_arena_info st;
    struct rawc c;
    uint32_t h;
    uint64_t off;

    /* A file size limit stands in for a full /dev/shm: pages over 1 MiB
     * cannot be backed. ofad inherits it. */
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    rl = old;
    rl.rlim_cur = 1 << 20;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    start(args);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    hello(&c);
    OK(rawc_open(&c, "big", &h, NULL));
    ck_assert_int_eq(rawc_alloc(&c, h, 2 << 20, 0, NULL), -ENOMEM);
    ck_assert_int_eq(ofad_pages(&D), 0); /* nothing half made left behind */
    stats(&c, "big", &st);
    ck_assert_uint_eq(st.pages, 0);
    ck_assert_uint_eq(st.alloc_failures, 1);
    OK(rawc_alloc(&c, h, 1000, 0, &off));
    OK(rawc_free(&c, h, off));
    ck_assert(ofad_log_has(&D, "page create failed arena=big"));
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
}
END_TEST

START_TEST(errors_batches)
{
    struct proto_req q = {.op = PROTO_OP_ALLOC_N};
    struct proto_arena_info st;
    struct proto_rep r;
    uint64_t offs[3];
    struct rawc c;
    uint32_t h;

    start(small_arena);
    hello(&c);
    OK(rawc_open(&c, "small", &h, NULL));
    /* All or nothing. */
    q.u.alloc.arena = h;
    q.u.alloc.size = 60 * 1024;
    q.u.alloc.count = 5;
    ck_assert_int_eq(rawc_call(&c, &q, &r, NULL), -ENOMEM);
    stats(&c, "small", &st);
    ck_assert_uint_eq(st.blocks_live, 0);
    q.u.alloc.size = 1000;
    q.u.alloc.count = 100;
    OK(rawc_call(&c, &q, &r, NULL));
    ck_assert_uint_eq(r.u.list.count, 100);
    for (uint32_t i = 0; i < 100; i++) {
        ck_assert_uint_eq(r.u.list.offs[i] % 64, 0);
        if (i > 0)
            ck_assert_uint_ne(r.u.list.offs[i], r.u.list.offs[i - 1]);
    }
    memcpy(offs, r.u.list.offs, sizeof(offs));
    q.u.alloc.count = 0;
    ck_assert_int_eq(rawc_call(&c, &q, &r, NULL), -EINVAL);
    /* FREE_N stops at the first failure and says how many went. */
    {
        struct proto_req f = {.op = PROTO_OP_FREE_N};
        uint64_t list[3] = {offs[0], 999, offs[2]};
        f.u.free_n.arena = h;
        f.u.free_n.offs = list;
        f.u.free_n.count = 3;
        ck_assert_int_eq(rawc_call(&c, &f, &r, NULL), -EINVAL);
        ck_assert_uint_eq(r.u.list.count, 1);
    }
    stats(&c, "small", &st);
    ck_assert_uint_eq(st.blocks_live, 99);
    OK(rawc_free(&c, h, offs[2]));
    rawc_close(&c);
}
END_TEST

/* ================= limits ================= */

static const char limits_conf[] = "[ofad]\n"
                                  "max_blocks_per_client = 10\n"
                                  "max_handles_per_client = 2\n"
                                  "max_arenas = 3\n"
                                  "max_clients = 4\n"
                                  "max_total = 1M\n"
                                  "[arena default]\n"
                                  "page_size = 64K\n"
                                  "[arena big]\n"
                                  "page_size = 256K\n"
                                  "max = 16M\n";

START_TEST(limits_blocks_handles_arenas)
{
    struct rawc c;
    uint32_t h, h2, h3;
    uint64_t offs[10], off;

    start_config(limits_conf, NULL);
    hello(&c);
    OK(rawc_open(&c, "default", &h, NULL));
    for (int i = 0; i < 10; i++)
        OK(rawc_alloc(&c, h, 100, 0, &offs[i]));
    ck_assert_int_eq(rawc_alloc(&c, h, 100, 0, NULL), -EMFILE);
    /* Kept blocks are the arena's, bounded by its max instead. */
    OK(rawc_alloc(&c, h, 100, PROTO_ALLOC_KEEP, &off));
    /* The limit is per connection, over all its handles. */
    OK(rawc_open(&c, "default", &h2, NULL));
    ck_assert_int_eq(rawc_alloc(&c, h2, 100, 0, NULL), -EMFILE);
    ck_assert_int_eq(rawc_open(&c, "big", &h3, NULL), -EMFILE);
    OK(rawc_free(&c, h, offs[0]));
    OK(rawc_alloc(&c, h2, 100, 0, &offs[0]));
    OK(rawc_close_handle(&c, h2));
    OK(rawc_open(&c, "big", &h3, NULL));
    /* max_arenas = 3: two configured, one more. */
    OK(rawc_create(&c, "third", 0, 0, 0, 0));
    ck_assert_int_eq(rawc_create(&c, "fourth", 0, 0, 0, 0), -ENOMEM);
    OK(rawc_drop(&c, "third", 0));
    OK(rawc_create(&c, "fourth", 0, 0, 0, 0));
    rawc_close(&c);
}
END_TEST

START_TEST(limits_total)
{
    struct proto_daemon_info di;
    struct rawc c;
    uint32_t h;
    uint64_t off;
    int n = 0;

    start_config(limits_conf, NULL);
    hello(&c);
    OK(rawc_open(&c, "big", &h, NULL));
    /* 256K pages under a 1M daemon total: four pages at most. */
    while (rawc_alloc(&c, h, 200 * 1024, PROTO_ALLOC_KEEP, &off) == 0)
        n++;
    ck_assert_int_eq(n, 4);
    OK(rawc_daemon(&c, &di));
    ck_assert_uint_eq(di.bytes_reserved, 1 << 20);
    ck_assert_uint_eq(di.bytes_limit, 1 << 20);
    ck_assert_int_eq(ofad_pages(&D), 4);
    rawc_close(&c);
}
END_TEST

START_TEST(limits_clients)
{
    struct rawc c[4], extra;
    struct proto_rep r;

    start_config(limits_conf, NULL);
    for (int i = 0; i < 4; i++)
        hello(&c[i]);
    OK(rawc_connect(&extra, D.socket));
    /* Over max_clients: accepted and closed at once, without a word. */
    ck_assert_int_eq(rawc_recv(&extra, &r, NULL), -ECONNRESET);
    rawc_close(&extra);
    ck_assert(ofad_log_has(&D, "too many clients"));
    rawc_close(&c[3]);
    wait_clients(&c[0], 3);
    hello(&extra);
    OK(rawc_ping(&extra));
    rawc_close(&extra);
    for (int i = 0; i < 3; i++)
        rawc_close(&c[i]);
}
END_TEST

/* ================= permissions ================= */

struct perm_ctx {
    const char *socket;
    char segs[8][300]; /* /proc paths of ofad's page descriptors */
    int nsegs;
    uint64_t pub_off; /* a block of "pub" holding a pattern */
};

/* The /proc paths of the page descriptors ofad holds. */
static int list_segments(const struct ofad *d, char names[][300], int max)
{
    char dir[64], path[128], link[PATH_MAX];
    struct dirent *e;
    int n = 0;
    DIR *fds;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)d->pid);
    fds = opendir(dir);
    while (fds != NULL && (e = readdir(fds)) != NULL && n < max) {
        ssize_t len;
        snprintf(path, sizeof(path), "%s/%.32s", dir, e->d_name);
        len = readlink(path, link, sizeof(link) - 1);
        if (len > 0 && (link[len] = '\0', strncmp(link, "/memfd:ofa:", 11) == 0))
            snprintf(names[n++], 300, "%s", path);
    }
    if (fds != NULL)
        closedir(fds);
    return n;
}

/* As nobody. Returns 0, or the number of the first check that failed. */
static int as_nobody(void *arg)
{
    struct perm_ctx *p = arg;
    struct proto_arena_info st;
    struct proto_req q = {.op = PROTO_OP_ARENAS};
    struct proto_rep r;
    struct rawc c;
    uint32_t h;
    int w = -1, fd;
    uint8_t *m;

    if (rawc_connect(&c, p->socket) != 0 || rawc_hello(&c) != 0)
        return 1;
    if (rawc_open(&c, "priv", &h, NULL) != -EACCES)
        return 2;
    if (rawc_stats(&c, "priv", &st) != -EACCES)
        return 3;
    if (rawc_drop(&c, "priv", 1) != -EACCES)
        return 4;
    if (rawc_call(&c, &q, &r, NULL) != 0)
        return 5;
    for (uint32_t i = 0; i < r.u.arenas.count; i++) {
        const struct proto_arena_info *a = &r.u.arenas.v[i];
        if (a->name.len == 4 && memcmp(a->name.ptr, "priv", 4) == 0 &&
            (a->blocks_live != 0 || a->pages != 0 || a->mode != 0600 || a->uid != 0))
            return 6;
    }
    /* No way around ofad: its page descriptors are closed to us. */
    for (int i = 0; i < p->nsegs; i++) {
        fd = open(p->segs[i], O_RDONLY);
        if (fd >= 0 || errno != EACCES)
            return 7;
    }
    if (rawc_open(&c, "pub", &h, &w) != 0 || w != 0)
        return 8;
    if (rawc_alloc(&c, h, 100, 0, NULL) != -EACCES)
        return 9;
    if (rawc_free(&c, h, p->pub_off) != -EACCES)
        return 10;
    if (rawc_stats(&c, "pub", &st) != 0 || st.blocks_live != 1)
        return 11;
    {
        struct proto_req pq = {.op = PROTO_OP_PAGE};
        pq.u.page.arena = h;
        pq.u.page.off = p->pub_off;
        if (rawc_call(&c, &pq, &r, &fd) != 0 || fd < 0 || r.u.page.writable != 0)
            return 12;
        if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDONLY)
            return 13;
        if (mmap(NULL, r.u.page.len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) != MAP_FAILED)
            return 14;
        m = mmap(NULL, r.u.page.len, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED || memcmp(m + (p->pub_off - r.u.page.base), "shared!", 8) != 0)
            return 15;
        close(fd);
    }
    /* Anyone may create an arena; it is theirs. */
    if (rawc_create(&c, "mine", 0, 0, 0, 0) != 0)
        return 16;
    if (rawc_stats(&c, "mine", &st) != 0 || st.uid != getuid() || st.gid != getgid() ||
        st.mode != 0600)
        return 17;
    if (rawc_open(&c, "mine", &h, &w) != 0 || w != 1 || rawc_alloc(&c, h, 100, 0, NULL) != 0)
        return 18;
    if (rawc_open(&c, "grp", &h, &w) != -EACCES)
        return 19;
    rawc_close(&c);
    return 0;
}

/* As nobody with the supplementary group of arena "grp". */
static int as_nobody_in_group(void *arg)
{
    struct perm_ctx *p = arg;
    struct rawc c;
    uint32_t h;
    int w = -1;
    uint64_t off;

    if (rawc_connect(&c, p->socket) != 0 || rawc_hello(&c) != 0)
        return 1;
    if (rawc_open(&c, "grp", &h, &w) != 0 || w != 1)
        return 2;
    if (rawc_alloc(&c, h, 100, 0, &off) != 0 || rawc_free(&c, h, off) != 0)
        return 3;
    if (rawc_open(&c, "priv", &h, &w) != -EACCES)
        return 4;
    rawc_close(&c);
    return 0;
}

START_TEST(permissions_other_uid)
{
    static const char *const args[] = {"--arena", "priv,page_size=64K",
                                       "--arena", "pub,page_size=64K,mode=0644",
                                       "--arena", "grp,page_size=64K,mode=0060,group=4242",
                                       NULL};
    struct perm_ctx p;
    struct proto_req q = {.op = PROTO_OP_PAGE};
    struct proto_rep r;
    struct rawc c;
    uint32_t hp, hq;
    uint64_t off;
    uint8_t *m;
    int fd, rc;

    start(args);
    OK(ofad_open_to_all(&D));
    hello(&c);
    OK(rawc_open(&c, "priv", &hp, NULL));
    OK(rawc_alloc(&c, hp, 100, 0, &off));
    OK(rawc_open(&c, "pub", &hq, NULL));
    OK(rawc_alloc(&c, hq, 100, 0, &p.pub_off));
    /* Write through our own mapping of pub's page. */
    q.u.page.arena = hq;
    q.u.page.off = p.pub_off;
    OK(rawc_call(&c, &q, &r, &fd));
    ck_assert_int_ge(fd, 0);
    ck_assert_uint_eq(r.u.page.writable, 1);
    m = mmap(NULL, r.u.page.len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    memcpy(m + (p.pub_off - r.u.page.base), "shared!", 8);
    close(fd);

    p.socket = D.socket;
    /* Two pages (a copy of one, just sent to us, may not be closed yet). */
    p.nsegs = list_segments(&D, p.segs, 8);
    ck_assert_int_ge(p.nsegs, 2);
    rc = harness_as_user("nobody", (gid_t)-1, as_nobody, &p);
    ck_assert_msg(rc == 0, "check %d failed as nobody", rc);
    rc = harness_as_user("nobody", 4242, as_nobody_in_group, &p);
    ck_assert_msg(rc == 0, "check %d failed as nobody in group 4242", rc);
    /* Nothing of ours changed. */
    {
        struct proto_arena_info st;
        stats(&c, "priv", &st);
        ck_assert_uint_eq(st.blocks_live, 1);
    }
    rawc_close(&c);
}
END_TEST

/* ================= validate ================= */

/* As nobody: may use the arena (mode 0666), may not run the check. */
static int as_nobody_validate(void *arg)
{
    const char *socket = arg;
    struct rawc c;
    uint32_t h;

    if (rawc_connect(&c, socket) != 0 || rawc_hello(&c) != 0)
        return 1;
    if (rawc_open(&c, "pub", &h, NULL) != 0 || rawc_alloc(&c, h, 100, 0, NULL) != 0)
        return 2;
    if (rawc_validate(&c, "pub") != -EACCES)
        return 3;
    rawc_close(&c);
    return 0;
}

START_TEST(validate_request)
{
    static const char *const args[] = {"--arena", "pub,page_size=64K,mode=0666", NULL};
    uint64_t offs[500];
    struct rawc c;
    uint32_t h;
    unsigned rs = seed();
    int rc;

    start(args);
    OK(ofad_open_to_all(&D));
    hello(&c);
    OK(rawc_open(&c, "pub", &h, NULL));
    /* A heap with holes, merges and several pages to walk. */
    for (int i = 0; i < 500; i++)
        OK(rawc_alloc(&c, h, 1 + rand_r(&rs) % 3000, i % 7 == 0 ? PROTO_ALLOC_KEEP : 0, &offs[i]));
    for (int i = 0; i < 500; i += 1 + (int)(rand_r(&rs) % 3))
        OK(rawc_free(&c, h, offs[i]));
    OK(rawc_validate(&c, "pub"));
    ck_assert_int_eq(rawc_validate(&c, "nope"), -ENOENT);
    rc = harness_as_user("nobody", (gid_t)-1, as_nobody_validate, D.socket);
    ck_assert_msg(rc == 0, "check %d failed as nobody", rc);
    /* nobody's connection is gone, its block freed: still consistent. */
    OK(rawc_validate(&c, "pub"));
    rawc_close(&c);
}
END_TEST

/* ================= pages ================= */

START_TEST(pages_fd_and_sharing)
{
    static const char *const args[] = {"--arena", "p,page_size=64K", NULL};
    struct proto_req q = {.op = PROTO_OP_PAGE};
    struct proto_rep r;
    struct rawc a, b;
    struct stat st;
    uint32_t ha, hb;
    uint64_t off, base, len;
    uint8_t *ma, *mb;
    int fa, fb;

    start(args);
    hello(&a);
    hello(&b);
    OK(rawc_open(&a, "p", &ha, NULL));
    OK(rawc_open(&b, "p", &hb, NULL));
    OK(rawc_alloc(&a, ha, 1000, 0, &off));
    q.u.page.arena = ha;
    q.u.page.off = off + 999; /* any byte of the block */
    OK(rawc_call(&a, &q, &r, &fa));
    base = r.u.page.base;
    len = r.u.page.len;
    ck_assert_uint_eq(len, 65536);
    ck_assert(base <= off && off + 1000 <= base + len);
    ck_assert_int_eq(fstat(fa, &st), 0);
    ck_assert_int_eq(st.st_size, (off_t)len);
    /* Nobody may reopen it writable through /proc/self/fd, not even ofad's
     * own user: 0400. */
    ck_assert_uint_eq(st.st_mode & 0777, 0400);
    /* Fully backed when made. */
    ck_assert_int_ge((long long)st.st_blocks * 512, (long long)len);
    ma = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fa, 0);
    ck_assert_ptr_ne(ma, MAP_FAILED);
    memcpy(ma + (off - base), "hello, offsets", 15);
    q.u.page.arena = hb;
    q.u.page.off = off;
    OK(rawc_call(&b, &q, &r, &fb));
    mb = mmap(NULL, len, PROT_READ, MAP_SHARED, fb, 0);
    ck_assert_ptr_ne(mb, MAP_FAILED);
    ck_assert_str_eq((const char *)mb + (off - base), "hello, offsets");
    /* No page there. */
    q.u.page.off = base + len + 12345;
    ck_assert_int_eq(rawc_call(&b, &q, &r, NULL), -ENOENT);
    {
        struct proto_req pq = {.op = PROTO_OP_PAGES};
        pq.u.pages.arena = ha;
        OK(rawc_call(&a, &pq, &r, NULL));
        ck_assert_uint_eq(r.u.list.count, 1);
        ck_assert_uint_eq(r.u.list.offs[0], base);
    }
    close(fa);
    close(fb);
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

START_TEST(pages_many_fds_pipelined)
{
    static const char *const args[] = {"--arena", "p,page_size=64K", NULL};
    enum { N = 80 };
    struct proto_buf b;
    struct proto_rep r;
    struct rawc c;
    uint64_t offs[N], bases[N];
    ino_t inos[N];
    uint32_t h;

    start(args);
    hello(&c);
    OK(rawc_open(&c, "p", &h, NULL));
    for (int i = 0; i < N; i++)
        OK(rawc_alloc(&c, h, 65536, 0, &offs[i])); /* a page each */
    ck_assert_int_eq(ofad_pages(&D), N);
    /* 80 PAGE requests in one write: more descriptors than one sendmsg
     * carries and than ofad queues at once. Each must come with its reply. */
    proto_buf_init(&b);
    for (int i = 0; i < N; i++) {
        struct proto_req q = {.op = PROTO_OP_PAGE, .id = 1000 + (uint64_t)i};
        q.u.page.arena = h;
        q.u.page.off = offs[i] + 10;
        OK(proto_encode_req(&b, &q));
    }
    OK(rawc_send_raw(&c, b.data, b.len));
    proto_buf_free(&b);
    for (int i = 0; i < N; i++) {
        struct stat st;
        int fd;
        OK(rawc_recv(&c, &r, &fd));
        ck_assert_uint_eq(r.id, 1000 + (uint64_t)i);
        ck_assert_uint_eq(r.err, 0);
        ck_assert_int_ge(fd, 0);
        bases[i] = r.u.page.base;
        ck_assert_uint_eq(bases[i], offs[i]);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_int_eq(st.st_size, 65536);
        inos[i] = st.st_ino;
        for (int k = 0; k < i; k++)
            ck_assert_uint_ne(inos[k], inos[i]);
        close(fd);
    }
    ck_assert_int_eq(c.nfds, 0);
    rawc_close(&c);
}
END_TEST

START_TEST(pages_release)
{
    static const char *const args[] = {"--arena", "p,page_size=64K", NULL};
    struct proto_arena_info st;
    struct rawc c;
    uint32_t h;
    uint64_t offs[20];

    start(args);
    hello(&c);
    OK(rawc_open(&c, "p", &h, NULL));
    for (int i = 0; i < 20; i++)
        OK(rawc_alloc(&c, h, 30000, 0, &offs[i]));
    stats(&c, "p", &st);
    ck_assert_int_eq(ofad_pages(&D), (int)st.pages);
    ck_assert_uint_ge(st.pages, 10);
    for (int i = 0; i < 20; i++)
        OK(rawc_free(&c, h, offs[i]));
    stats(&c, "p", &st);
    /* Empty pages go back to the OS but one spare. */
    ck_assert_uint_le(st.pages, 1);
    ck_assert_int_eq(ofad_pages(&D), (int)st.pages);
    rawc_close(&c);
}
END_TEST

/* ================= lifecycle ================= */

static void fill_pages(int pages)
{
    static struct rawc c;
    uint32_t h;

    hello(&c);
    OK(rawc_open(&c, "p", &h, NULL));
    for (int i = 0; i < pages; i++)
        OK(rawc_alloc(&c, h, 65536, PROTO_ALLOC_KEEP, NULL));
    rawc_close(&c);
}

/*
 * A service manager that does not read its notify socket must not stop the
 * daemon: with the socket's queue full, status changes keep coming (clients
 * come and go over several one-second ticks) and every request is answered.
 * The daemon's own uptime says when ticks have passed; a daemon stuck in a
 * blocking send would leave the ping unanswered (rawc's bounded wait).
 */
START_TEST(lifecycle_notify_full)
{
    static const char *const args[] = {"--arena", "p,page_size=64K", NULL};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct proto_daemon_info di;
    struct rawc c, other;
    uint64_t t0;
    int fd, queued = 0;

    start(args);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    memcpy(sa.sun_path, D.notify, strlen(D.notify) + 1);
    while (sendto(fd, "X=1", 3, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof(sa)) == 3)
        queued++;
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_gt(queued, 0);
    hello(&c);
    OK(rawc_daemon(&c, &di));
    t0 = di.uptime_s;
    for (int i = 0; di.uptime_s < t0 + 3; i++) {
        /* One more client for a while: the status line changes. */
        hello(&other);
        OK(rawc_ping(&other));
        rawc_close(&other);
        OK(rawc_ping(&c));
        OK(rawc_daemon(&c, &di));
        ck_assert_int_lt(i, 100000);
        poll(NULL, 0, 20); /* pacing only */
    }
    rawc_close(&c);
    close(fd);
}
END_TEST

START_TEST(lifecycle_sigterm)
{
    static const char *const args[] = {"--arena", "p,page_size=64K", NULL};
    struct rawc c;
    struct stat st;

    start(args);
    ck_assert_str_eq(D.status_line, "arenas=1 clients=0 bytes=0");
    ck_assert_int_eq(stat(D.socket, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0660);
    fill_pages(5);
    /* STATUS= follows the daemon's state (sent on change, once a second at most). */
    OK(ofad_wait_notify(&D, "STATUS=arenas=1 clients=0 bytes=327680"));
    hello(&c); /* a client still connected at shutdown */
    ck_assert_int_eq(ofad_pages(&D), 5);
    ck_assert_int_eq(ofad_stop(&D), 0);
    ck_assert_int_eq(ofad_segments(D.tag), 0);
    ck_assert_int_eq(stat(D.socket, &st), -1);
    ck_assert_int_eq(errno, ENOENT);
    OK(rawc_wait_eof(&c));
    rawc_close(&c);
}
END_TEST

START_TEST(lifecycle_sigint)
{
    start(NULL);
    OK(ofad_signal(&D, SIGINT));
    ck_assert_int_eq(ofad_wait_exit(&D), 0);
    ck_assert_int_eq(access(D.socket, F_OK), -1);
}
END_TEST

START_TEST(lifecycle_second_refuses)
{
    const char *args[] = {"--socket", NULL, NULL};
    char out[4096];
    struct rawc c;

    start(NULL);
    args[1] = D.socket;
    ck_assert_int_eq(ofad_run(args, out, sizeof(out)), 1);
    ck_assert_msg(strstr(out, "ofad: another ofad is serving") != NULL, "%s", out);
    ck_assert_int_eq(access(D.socket, F_OK), 0);
    hello(&c);
    OK(rawc_ping(&c));
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
}
END_TEST

START_TEST(lifecycle_kill9_sweep)
{
    static const char *const args[] = {"--arena", "p,page_size=64K", NULL};
    struct ofad_opts o = {.args = args, .reuse = true};
    char name[128];
    struct rawc c;

    start(args);
    fill_pages(3);
    /* Pages are nameless memfds: nothing in /dev/shm, and they die with
     * the last descriptor, so a killed ofad leaves none. */
    ck_assert_int_eq(ofad_pages(&D), 3);
    ck_assert_int_eq(ofad_segments(D.tag), 0);
    ofad_kill9(&D);
    /* What an older version left in /dev/shm is still swept at start. */
    for (int i = 1; i <= 3; i++) {
        int fd;
        snprintf(name, sizeof(name), "/ofa.%s.p.%d", D.tag, i);
        fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
    }
    ck_assert_int_eq(ofad_segments(D.tag), 3);
    ck_assert_int_eq(access(D.socket, F_OK), 0); /* stale */
    OK(ofad_start_opts(&D, &o));
    ck_assert_int_eq(ofad_segments(D.tag), 0);
    ck_assert(ofad_log_has(&D, "old segments removed count=3"));
    ck_assert_int_eq(ofad_pages(&D), 0);
    hello(&c);
    OK(rawc_ping(&c));
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
}
END_TEST

START_TEST(lifecycle_path_taken)
{
    const char *args[] = {"--socket", NULL, NULL};
    char path[PATH_MAX + 64], out[4096];
    int fd;

    OK(ofad_prepare(&D));
    /* Someone else listens there. */
    fd = harness_listen(D.socket);
    ck_assert_int_ge(fd, 0);
    args[1] = D.socket;
    ck_assert_int_eq(ofad_run(args, out, sizeof(out)), 1);
    ck_assert_msg(strstr(out, "another process is listening") != NULL, "%s", out);
    close(fd);
    /* A file that is not a socket. */
    snprintf(path, sizeof(path), "%s/plain", D.dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    args[1] = path;
    ck_assert_int_eq(ofad_run(args, out, sizeof(out)), 2);
    ck_assert_msg(strstr(out, "not a socket") != NULL, "%s", out);
    ck_assert_int_eq(access(path, F_OK), 0);
}
END_TEST

/* ================= flags ================= */

static const struct {
    const char *args[4];
    int code;
    const char *text;
} flag_cases[] = {
    {{"--bogus"}, 2, "unknown option"},
    {{"--arena", "bad/name"}, 2, "bad arena name"},
    {{"--arena", "x,page_size=5"}, 2, "page_size"},
    {{"--arena", "x,nokey=5"}, 2, "unknown key"},
    {{"--log-level", "loud"}, 2, "log-level"},
    {{"--config", "/nonexistent-ofa/x.conf"}, 2, "/nonexistent-ofa/x.conf"},
    {{"stray"}, 2, "unexpected argument"},
    {{"--socket"}, 2, "needs a value"},
    {{"--socket", "/nonexistent-ofa/ofad.sock"}, 2, "cannot bind"},
    {{"--socket", "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock"},
     2,
     "too long"},
    {{"--version"}, 0, "ofad " OFA_VERSION "\n"},
    {{"--help"}, 0, "usage: ofad"},
};

START_TEST(flags_table)
{
    char out[8192];
    int rc = ofad_run(flag_cases[_i].args, out, sizeof(out));

    ck_assert_msg(rc == flag_cases[_i].code, "case %d: exit %d, output: %s", _i, rc, out);
    ck_assert_msg(strstr(out, flag_cases[_i].text) != NULL, "case %d: output: %s", _i, out);
    if (rc == 2) {
        /* One clear line. */
        ck_assert_msg(strncmp(out, "ofad: ", 6) == 0, "case %d: %s", _i, out);
        ck_assert_msg(strchr(out, '\n') == out + strlen(out) - 1, "case %d: %s", _i, out);
    }
}
END_TEST

START_TEST(flags_bad_config)
{
    const char *args[] = {"--config", NULL, NULL};
    char out[4096], where[PATH_MAX + 64];

    OK(ofad_prepare(&D));
    OK(ofad_write_config(&D, "[ofad]\nmax_arenas = 4\npage = 3\n"));
    args[1] = D.config;
    ck_assert_int_eq(ofad_run(args, out, sizeof(out)), 2);
    snprintf(where, sizeof(where), "ofad: %s:3: ", D.config);
    ck_assert_msg(strncmp(out, where, strlen(where)) == 0, "%s", out);
    ck_assert_int_eq(ofad_segments(D.tag), 0);
}
END_TEST

START_TEST(flags_socket_sources)
{
    struct ofad_opts o = {.no_socket_flag = true, .reuse = true, .with_config = true};
    char text[PATH_MAX + 64];
    struct rawc c;

    /* From the config file... */
    OK(ofad_prepare(&D));
    snprintf(text, sizeof(text), "[ofad]\nsocket = %s\n", D.socket);
    OK(ofad_write_config(&D, text));
    unsetenv("OFAD_SOCKET");
    OK(ofad_start_opts(&D, &o));
    hello(&c);
    OK(rawc_ping(&c));
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
    /* ...and $OFAD_SOCKET before it. */
    OK(ofad_write_config(&D, "[ofad]\nsocket = /nonexistent-ofa/s\n"));
    setenv("OFAD_SOCKET", D.socket, 1);
    OK(ofad_start_opts(&D, &o));
    unsetenv("OFAD_SOCKET");
    hello(&c);
    OK(rawc_ping(&c));
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
}
END_TEST

/* ================= reload ================= */

START_TEST(reload_applies)
{
    struct proto_arena_info st;
    struct rawc c;
    uint32_t h;
    uint64_t off;

    start_config("[arena a]\npage_size = 64K\n[arena b]\n", NULL);
    hello(&c);
    OK(rawc_open(&c, "a", &h, NULL));
    OK(rawc_alloc(&c, h, 100, 0, &off));
    ck_assert_int_eq(rawc_stats(&c, "c", &st), -ENOENT);

    OK(ofad_write_config(&D, "[arena a]\npage_size = 128K\nmode = 0644\nmax = 2M\n"
                             "[arena c]\nmode = 0640\n"));
    OK(ofad_signal(&D, SIGHUP));
    OK(ofad_wait_notify(&D, "READY=1"));
    stats(&c, "c", &st);
    ck_assert_uint_eq(st.mode, 0640);
    stats(&c, "a", &st);
    ck_assert_uint_eq(st.mode, 0644);
    ck_assert_uint_eq(st.max_bytes, 2 << 20);
    ck_assert_uint_eq(st.page_size, 65536); /* cannot change under live pages */
    ck_assert_uint_eq(st.blocks_live, 1);   /* nothing live lost */
    ck_assert(ofad_log_has(&D, "page_size of an existing arena cannot change arena=a"));
    /* b left the file: it stays until dropped. */
    stats(&c, "b", &st);
    ck_assert(ofad_log_has(&D, "no longer configured, kept until dropped arena=b"));
    OK(rawc_free(&c, h, off));
    rawc_close(&c);
}
END_TEST

START_TEST(reload_bad_file)
{
    struct proto_arena_info st;
    struct rawc c;

    start_config("[ofad]\nmax_arenas = 8\n[arena a]\n", NULL);
    hello(&c);
    OK(ofad_write_config(&D, "[arena a]\nmode = 0666\n[arena z]\n[ofad]\nbogus = 1\n"));
    OK(ofad_signal(&D, SIGHUP));
    OK(ofad_wait_notify(&D, "READY=1"));
    ck_assert(ofad_log_has(&D, "reload refused"));
    ck_assert_int_eq(rawc_stats(&c, "z", &st), -ENOENT);
    stats(&c, "a", &st);
    ck_assert_uint_eq(st.mode, 0600);
    /* A good file after a bad one still applies. */
    OK(ofad_write_config(&D, "[arena a]\nmode = 0666\n[arena z]\n"));
    OK(ofad_signal(&D, SIGHUP));
    OK(ofad_wait_notify(&D, "READY=1"));
    stats(&c, "z", &st);
    stats(&c, "a", &st);
    ck_assert_uint_eq(st.mode, 0666);
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
}
END_TEST

START_TEST(reload_flags_win)
{
    static const char *const args[] = {"--arena", "a,mode=0640", NULL};
    struct proto_arena_info st;
    struct rawc c;

    start_config("[arena a]\nmode = 0600\n", args);
    hello(&c);
    stats(&c, "a", &st);
    ck_assert_uint_eq(st.mode, 0640);
    OK(ofad_write_config(&D, "[arena a]\nmode = 0644\n"));
    OK(ofad_signal(&D, SIGHUP));
    OK(ofad_wait_notify(&D, "READY=1"));
    stats(&c, "a", &st);
    ck_assert_uint_eq(st.mode, 0640);
    rawc_close(&c);
}
END_TEST

/* ================= activation ================= */

START_TEST(activation_listen_fds)
{
    struct ofad_opts o = {.no_socket_flag = true, .reuse = true};
    struct rawc c;
    int fd;

    OK(ofad_prepare(&D));
    fd = harness_listen(D.socket);
    ck_assert_int_ge(fd, 0);
    o.listen_fd = fd;
    OK(ofad_start_opts(&D, &o)); /* READY=1 through NOTIFY_SOCKET */
    close(fd);
    ck_assert_str_eq(D.status_line, "arenas=1 clients=0 bytes=0");
    hello(&c);
    OK(rawc_ping(&c));
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
    /* The socket is systemd's: ofad leaves it where it was. */
    ck_assert_int_eq(access(D.socket, F_OK), 0);
    ck_assert_int_eq(ofad_segments(D.tag), 0);
}
END_TEST

/* --log-format json: every line one JSON object, message and pairs as
 * members, for log shippers. */
START_TEST(flags_log_json)
{
    const char *args[] = {"--log-format", "json", NULL};
    const char *bad[] = {"--log-format", "xml", NULL};
    char out[4096], *text, *line, *save = NULL;
    struct rawc c;
    FILE *f;
    long n;
    int lines = 0, connected = 0;

    ck_assert_int_eq(ofad_run(bad, out, sizeof(out)), 2);
    ck_assert_msg(strstr(out, "bad --log-format 'xml'") != NULL, "%s", out);
    OK(ofad_start(&D, args));
    OK(rawc_connect(&c, D.socket));
    OK(rawc_hello(&c));
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
    f = fopen(D.log, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    text = calloc(1, (size_t)n + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        ck_assert_msg(strncmp(line, "{\"ts\":\"", 7) == 0, "%s", line);
        ck_assert_msg(line[strlen(line) - 1] == '}', "%s", line);
        ck_assert_msg(strstr(line, "\"priority\":") != NULL, "%s", line);
        ck_assert_msg(strstr(line, "\"message\":\"") != NULL, "%s", line);
        if (strstr(line, "\"message\":\"client connected\",\"client\":\"1\"") != NULL)
            connected++;
        lines++;
    }
    ck_assert_int_ge(lines, 3);
    ck_assert_int_eq(connected, 1);
    free(text);
    ofad_cleanup(&D);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ofad");
    TCase *tc;

#define CASE(name) (tc = tcase_create(name), tcase_set_timeout(tc, 60), suite_add_tcase(s, tc))
    CASE("handshake");
    tcase_add_test(tc, handshake_ok);
    tcase_add_test(tc, handshake_before_hello);
    tcase_add_test(tc, handshake_bad_version);
    tcase_add_test(tc, handshake_second_hello);
    tcase_add_test(tc, handshake_pipelined);

    CASE("hostile");
    tcase_add_test(tc, hostile_garbage);
    tcase_add_test(tc, hostile_addressed);
    tcase_add_test(tc, hostile_sizes);
    tcase_add_test(tc, hostile_half_sent);
    tcase_add_test(tc, hostile_random);

    CASE("backpressure");
    tcase_add_test(tc, backpressure_never_reads);
    tcase_add_test(tc, backpressure_linger);

    CASE("ownership");
    tcase_add_test(tc, ownership_kill9);
    tcase_add_test(tc, ownership_close_and_keep);

    CASE("errors");
    tcase_add_test(tc, errors_free_invalid);
    tcase_add_test(tc, errors_unknown);
    tcase_add_test(tc, errors_bad_names);
    tcase_add_test(tc, errors_create_drop);
    tcase_add_test(tc, errors_sizes);
    tcase_add_test(tc, errors_no_backing);
    tcase_add_test(tc, errors_batches);

    CASE("limits");
    tcase_add_test(tc, limits_blocks_handles_arenas);
    tcase_add_test(tc, limits_total);
    tcase_add_test(tc, limits_clients);

    CASE("permissions");
    tcase_add_test(tc, permissions_other_uid);

    CASE("validate");
    tcase_add_test(tc, validate_request);

    CASE("pages");
    tcase_add_test(tc, pages_fd_and_sharing);
    tcase_add_test(tc, pages_many_fds_pipelined);
    tcase_add_test(tc, pages_release);

    CASE("lifecycle");
    tcase_add_test(tc, lifecycle_notify_full);
    tcase_add_test(tc, lifecycle_sigterm);
    tcase_add_test(tc, lifecycle_sigint);
    tcase_add_test(tc, lifecycle_second_refuses);
    tcase_add_test(tc, lifecycle_kill9_sweep);
    tcase_add_test(tc, lifecycle_path_taken);

    CASE("flags");
    tcase_add_test(tc, flags_log_json);
    tcase_add_loop_test(tc, flags_table, 0, (int)(sizeof(flag_cases) / sizeof(flag_cases[0])));
    tcase_add_test(tc, flags_bad_config);
    tcase_add_test(tc, flags_socket_sources);

    CASE("reload");
    tcase_add_test(tc, reload_applies);
    tcase_add_test(tc, reload_bad_file);
    tcase_add_test(tc, reload_flags_win);

    CASE("activation");
    tcase_add_test(tc, activation_listen_fds);
#undef CASE

    return harness_run_suite(s);
}

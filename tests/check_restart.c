/*
 * check_restart.c - ofad restarted under its clients (--state-dir): what
 * a producer left with OFA_KEEP, what a live client holds, and the
 * allocator's state come back whole after kill -9 or SIGTERM; a request in
 * flight takes effect once; a damaged or foreign state is refused and
 * destroys nothing; a stale one is discarded; --discard-state starts
 * afresh; without a state directory nothing is kept; the same through
 * systemd's fd store, played by this test.
 *
 * Everything is real: ofad processes (tests/harness.h starts them, with
 * their state directory and its keeper process), client processes forked
 * from the test that use libofaclient and talk to the test over pipes,
 * kill -9 of ofad, of clients and of the keeper. Waiting is for an event,
 * always bounded (HARNESS_WAIT_MS): a byte on a pipe, READY=1, a line in
 * ofad's log (inotify), a process's exit (pidfd). Children report by exit
 * status and leave with _exit. Each test ends by stopping ofad, removing
 * its state directory and waiting for its keeper to exit; a test that
 * fails is cleaned up by the harness (the state directory goes, then the
 * keeper).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "ofaclient.h"

#define ARENA     "t"
#define ARENA_ARG ARENA ",page_size=64K,max=16M"
#define NKEEP     24 /* KEEP blocks a producer leaves */

static struct ofad d;
static const char *const arena_args[] = {"--arena", ARENA_ARG, NULL};

/* ---- helpers ---- */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t rnd_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t seed_of(const char *test)
{
    const char *env = getenv("OFA_SEED");
    uint64_t seed =
        env != NULL ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);

    fprintf(stderr, "check_restart %s: seed %" PRIu64 " (OFA_SEED=%" PRIu64 " replays)\n", test,
            seed, seed);
    return seed;
}

/* Byte i of the block at off written by whoever uses salt: differs from
 * byte to byte, from block to block and from writer to writer. */
static uint8_t pat(uint64_t off, uint64_t i, unsigned salt)
{
    return (uint8_t)((off * 0x9e3779b1u >> 24) ^ i ^ (i >> 8) ^ (salt * 0x35u));
}

static void fill(uint8_t *p, uint64_t off, uint64_t size, unsigned salt)
{
    for (uint64_t i = 0; i < size; i++)
        p[i] = pat(off, i, salt);
}

static bool intact(const uint8_t *p, uint64_t off, uint64_t size, unsigned salt)
{
    if (p == NULL)
        return false;
    for (uint64_t i = 0; i < size; i++)
        if (p[i] != pat(off, i, salt))
            return false;
    return true;
}

struct blk {
    uint64_t off, size;
};

/* Starts ofad on a fresh directory, keeping its state in d.state. */
static void start_kept(void)
{
    struct ofad_opts o = {.args = arena_args, .state_dir = d.state};

    ck_assert_int_eq(ofad_start_opts(&d, &o), 0);
    ck_assert(ofad_log_has(&d, "store=keeper"));
}

static void restart(void)
{
    int rc = ofad_restart(&d, arena_args);

    ck_assert_msg(rc == 0, "restart: %s (status %d)", strerror(-rc), d.status);
}

static void raw_start(struct rawc *c)
{
    ck_assert_int_eq(rawc_connect(c, d.socket), 0);
    ck_assert_int_eq(rawc_hello(c), 0);
}

static struct proto_arena_info arena_stats(const char *name)
{
    struct proto_arena_info st;
    struct rawc c;

    raw_start(&c);
    ck_assert_int_eq(rawc_stats(&c, name, &st), 0);
    rawc_close(&c);
    return st;
}

static uint64_t live_blocks(void)
{
    return arena_stats(ARENA).blocks_live;
}

/* The full allocator invariant check of the arena. */
static void validate(void)
{
    struct rawc c;

    raw_start(&c);
    ck_assert_int_eq(rawc_validate(&c, ARENA), 0);
    rawc_close(&c);
}

/* Waits for ofad to log the end of pid's session (reason why). */
static void wait_session_end(pid_t pid, const char *why)
{
    char needle[128];

    snprintf(needle, sizeof(needle), "pid=%d reason=%s", (int)pid, why);
    ck_assert_msg(ofad_wait_log(&d, needle, 1) == 0, "no \"%s\" in the log", needle);
}

/* Live blocks ofad lists for the process pid (its owner). */
static unsigned blocks_of_pid(pid_t pid)
{
    uint64_t cursor = 0;
    unsigned found = 0;
    ofa_client *c;

    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    do {
        ofa_block_info *v;
        size_t n;
        ck_assert_int_eq(ofa_block_list(c, ARENA, 0, &cursor, &v, &n), 0);
        for (size_t j = 0; j < n; j++)
            found += v[j].kind == OFA_BLOCK_LIVE && v[j].pid == (uint32_t)pid;
        free(v);
    } while (cursor != 0);
    ofa_disconnect(c);
    return found;
}

/* Stops ofad, removes its state directory and waits for its keeper: the
 * end of every test that kept a state. Nothing may be left. */
static void finish(void)
{
    struct stat st;
    pid_t keeper;

    ck_assert_int_eq(ofad_stop(&d), 0);
    keeper = harness_keeper_pid(d.state);
    if (stat(d.state, &st) == 0)
        ck_assert_int_gt(keeper, 0);
    ck_assert_int_eq(harness_state_remove(d.state), 0);
    ck_assert_int_ne(stat(d.state, &st), 0);
    ck_assert_int_eq(ofad_segments(d.tag), 0);
    ofad_cleanup(&d);
    ck_assert_int_ne(stat(d.socket, &st), 0);
}

/* ---- client processes ---- */

/* A forked client: it reads the test's messages on one pipe and writes
 * its own on another, and ends with the test (PR_SET_PDEATHSIG). */
struct kid {
    pid_t pid;
    int to, from; /* the test's ends */
};

typedef int kid_fn(int rfd, int wfd, void *arg);

/* The test's ends of every child's pipes: a child closes the others'
 * (fork copies them), or a child would never see its input end. */
static int kid_fds[32];
static int nkid_fds;

static void kid_start(struct kid *k, kid_fn *fn, void *arg)
{
    int down[2], up[2];
    pid_t parent = getpid();

    ck_assert_int_eq(pipe2(down, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(up, O_CLOEXEC), 0);
    fflush(NULL);
    k->pid = fork();
    ck_assert_int_ge(k->pid, 0);
    if (k->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        close(down[1]);
        close(up[0]);
        for (int i = 0; i < nkid_fds; i++)
            close(kid_fds[i]);
        _exit(fn(down[0], up[1], arg));
    }
    close(down[0]);
    close(up[1]);
    k->to = down[1];
    k->from = up[0];
    ck_assert_int_le(nkid_fds + 2, 32);
    kid_fds[nkid_fds++] = k->to;
    kid_fds[nkid_fds++] = k->from;
}

static void kid_close(int fd)
{
    for (int i = 0; i < nkid_fds; i++) {
        if (kid_fds[i] == fd) {
            kid_fds[i] = kid_fds[--nkid_fds];
            break;
        }
    }
    close(fd);
}

/* Blocking, whole reads and writes of the child's side. */
static int get(int fd, void *p, size_t n)
{
    uint8_t *b = p;

    while (n > 0) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static int put(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;

    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static void kid_put(struct kid *k, const void *p, size_t n)
{
    ck_assert_int_eq(put(k->to, p, n), 0);
}

/* The test's read of the child's message: bounded; a child that died
 * instead fails the test with its exit status. */
static void kid_get(struct kid *k, void *p, size_t n)
{
    int64_t end = now_ms() + HARNESS_WAIT_MS;
    uint8_t *b = p;

    while (n > 0) {
        struct pollfd pf = {.fd = k->from, .events = POLLIN};
        int64_t left = end - now_ms();
        ssize_t r;

        ck_assert_msg(left > 0, "client %d: no answer", (int)k->pid);
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        r = read(k->from, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int st;
            ck_assert_int_eq(waitpid(k->pid, &st, 0), k->pid);
            ck_abort_msg("client %d ended early: status %d", (int)k->pid,
                         WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        }
        b += r;
        n -= (size_t)r;
    }
}

/* Waits for the child's exit; its code (128 + signal if killed). */
static int kid_end(struct kid *k)
{
    int st;

    kid_close(k->to);
    kid_close(k->from);
    while (waitpid(k->pid, &st, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static ofa_arena *kid_open(ofa_client **c)
{
    ofa_arena *a;

    if (ofa_connect(d.socket, c) != 0)
        _exit(100);
    /* Long enough for ofad to come back after a kill, under ASan too. */
    if (ofa_set_timeout(*c, HARNESS_WAIT_MS) != 0 || ofa_arena_open(*c, ARENA, &a) != 0)
        _exit(101);
    return a;
}

/* Leaves NKEEP KEEP blocks with patterns, sends their list, disconnects. */
static int producer(int rfd, int wfd, void *arg)
{
    struct blk v[NKEEP];
    ofa_client *c;
    ofa_arena *a = kid_open(&c);

    (void)rfd;
    (void)arg;
    for (int i = 0; i < NKEEP; i++) {
        v[i].size = 64 + ((uint64_t)i * 7919) % 40000;
        if (ofa_alloc_ex(a, v[i].size, 0, OFA_KEEP, &v[i].off) != 0)
            return 10;
        fill(ofa_ptr(a, v[i].off), v[i].off, v[i].size, 1);
    }
    /* The consumer finds the list's first block by name. */
    if (ofa_name_bind(a, "handoff", v[0].off) != 0)
        return 12;
    if (put(wfd, v, sizeof(v)) != 0)
        return 11;
    ofa_disconnect(c);
    return 0;
}

/* Reads the list, checks every block's bytes and size, frees them. */
static int consumer(int rfd, int wfd, void *arg)
{
    struct blk v[NKEEP];
    ofa_client *c;
    ofa_arena *a = kid_open(&c);

    uint64_t off;

    (void)wfd;
    (void)arg;
    if (get(rfd, v, sizeof(v)) != 0)
        return 10;
    if (ofa_lookup(a, "handoff", &off, NULL) != 0 || off != v[0].off)
        return 14;
    for (int i = 0; i < NKEEP; i++) {
        uint64_t size;
        if (!intact(ofa_ptr(a, v[i].off), v[i].off, v[i].size, 1))
            return 11;
        if (ofa_block_size(a, v[i].off, &size) != 0 || size < v[i].size)
            return 12;
        if (ofa_free(a, v[i].off) != 0)
            return 13;
    }
    /* The name went with its block. */
    if (ofa_lookup(a, "handoff", &off, NULL) != -ENOENT)
        return 15;
    ofa_disconnect(c);
    return 0;
}

static void produce(struct blk *v)
{
    struct kid k;

    kid_start(&k, producer, NULL);
    kid_get(&k, v, sizeof(struct blk) * NKEEP);
    ck_assert_int_eq(kid_end(&k), 0);
    ck_assert_uint_eq(live_blocks(), NKEEP);
}

static void consume(const struct blk *v)
{
    struct kid k;

    kid_start(&k, consumer, NULL);
    kid_put(&k, v, sizeof(struct blk) * NKEEP);
    ck_assert_int_eq(kid_end(&k), 0);
    ck_assert_uint_eq(live_blocks(), 0);
    validate();
}

static void assert_taken_over(int times, uint64_t blocks)
{
    char needle[64];

    ck_assert_int_eq(ofad_log_count(&d, "state taken over"), times);
    snprintf(needle, sizeof(needle), " blocks=%" PRIu64 " names=", blocks);
    ck_assert_msg(ofad_log_has(&d, needle), "no \"%s\" in the log", needle);
}

/* ---- keep ---- */

static void keep_case(bool kill9)
{
    char needle[96];
    struct blk v[NKEEP];
    struct proto_arena_info st;

    start_kept();
    produce(v);
    st = arena_stats(ARENA);
    if (kill9) {
        ofad_kill9(&d);
    } else {
        ck_assert_int_eq(ofad_stop(&d), 0);
        ck_assert(ofad_log_has(&d, "state kept for the next ofad"));
    }
    restart();
    assert_taken_over(1, NKEEP);
    ck_assert(ofad_log_has(&d, " names=1 "));
    /* While no ofad ran, the keeper held every page. */
    snprintf(needle, sizeof(needle), "keeper: descriptors handed back count=%" PRIu64 "\n",
             st.pages);
    ck_assert_int_eq(ofad_wait_log(&d, needle, 1), 0);
    {
        struct proto_arena_info now = arena_stats(ARENA);
        ck_assert_uint_eq(now.pages, st.pages);
        ck_assert_uint_eq(now.bytes_live, st.bytes_live);
        ck_assert_uint_eq(now.bytes_reserved, st.bytes_reserved);
        /* The counters too (the stats just read changed none). */
        ck_assert_uint_eq(now.allocs, st.allocs);
        ck_assert_uint_eq(now.frees, st.frees);
    }
    validate();
    consume(v);
    finish();
}

START_TEST(test_keep_kill9)
{
    keep_case(true);
}
END_TEST

START_TEST(test_keep_sigterm)
{
    keep_case(false);
}
END_TEST

/* ---- the keeper killed under a running ofad ---- */

/* The keeper is killed while ofad runs: ofad starts a new one at its next
 * tick and puts every page it holds into it, so a kill -9 of ofad after
 * that still loses nothing. */
START_TEST(test_keeper_lost)
{
    struct blk v[NKEEP];
    pid_t old;

    start_kept();
    produce(v);
    old = harness_keeper_pid(d.state);
    ck_assert_int_gt(old, 0);
    ck_assert_int_eq(kill(old, SIGKILL), 0);
    ck_assert_int_eq(harness_wait_pid_exit(old, 10000), 0);
    ck_assert_int_eq(ofad_wait_log(&d, "fd store opened again", 1), 0);
    ck_assert(ofad_log_has(&d, "failed=0\n"));
    ck_assert_int_gt(harness_keeper_pid(d.state), 0);
    ck_assert_int_ne(harness_keeper_pid(d.state), old);
    ofad_kill9(&d);
    restart();
    assert_taken_over(1, NKEEP);
    validate();
    consume(v);
    finish();
}
END_TEST

/* ---- ride through ---- */

#define NOWN      16
#define PRIV_SIZE 8192 /* over the client cache's 4 KiB: a block of its own */

/* Holds NOWN owned blocks and a private one through the test's restart,
 * then carries on; checks its bytes at each step. Steps: 'r' (ready) ->
 * wait 'g'; alloc/free, check -> 'a'; wait 'c' (the arena was filled by
 * another), check -> 'b'; wait for the end of its pipe, exit holding
 * every block. */
static int holder(int rfd, int wfd, void *arg)
{
    struct blk v[NOWN + 1];
    uint8_t *ptr[NOWN + 1];
    ofa_client *c;
    ofa_arena *a = kid_open(&c);
    uint64_t off;
    char cmd;

    (void)arg;
    for (int i = 0; i <= NOWN; i++) {
        int priv = i == NOWN;
        v[i].size = priv ? PRIV_SIZE : 200 + (uint64_t)i * 373;
        if (ofa_alloc_ex(a, v[i].size, 0, priv ? OFA_PRIVATE : 0, &v[i].off) != 0)
            return 10;
        ptr[i] = ofa_ptr(a, v[i].off);
        fill(ptr[i], v[i].off, v[i].size, 2);
    }
    if (put(wfd, "r", 1) != 0 || get(rfd, &cmd, 1) != 0 || cmd != 'g')
        return 11;
    /* ofad was killed and started again: nothing special to do. */
    if (ofa_alloc(a, 3000, &off) != 0)
        return 12;
    fill(ofa_ptr(a, off), off, 3000, 2);
    if (ofa_free(a, off) != 0)
        return 13;
    /* The mappings and pointers it held are still good. */
    for (int i = 0; i <= NOWN; i++)
        if (ofa_ptr(a, v[i].off) != ptr[i] || !intact(ptr[i], v[i].off, v[i].size, 2))
            return 14;
    if (put(wfd, "a", 1) != 0 || get(rfd, &cmd, 1) != 0 || cmd != 'c')
        return 15;
    for (int i = 0; i <= NOWN; i++)
        if (!intact(ofa_ptr(a, v[i].off), v[i].off, v[i].size, 2))
            return 16;
    if (put(wfd, "b", 1) != 0)
        return 17;
    /* Until the test closes the pipe; then exit, blocks and all. */
    while (read(rfd, &cmd, 1) > 0)
        ;
    return 0;
}

#define FILL_SIZE 4096

/* Allocates until the arena is full (-ENOMEM, bounded by max/FILL_SIZE),
 * writing each block; sends the count, checks its blocks when told, and
 * exits holding them. */
static int filler(int rfd, int wfd, void *arg)
{
    static uint64_t offs[(16u << 20) / FILL_SIZE + 1];
    ofa_client *c;
    ofa_arena *a = kid_open(&c);
    uint32_t n = 0;
    char cmd;
    int rc = 0;

    (void)arg;
    while (n < sizeof(offs) / sizeof(offs[0]) && (rc = ofa_alloc(a, FILL_SIZE, &offs[n])) == 0) {
        fill(ofa_ptr(a, offs[n]), offs[n], FILL_SIZE, 3);
        n++;
    }
    if (rc != -ENOMEM)
        return 10;
    if (put(wfd, &n, sizeof(n)) != 0 || get(rfd, &cmd, 1) != 0)
        return 11;
    for (uint32_t i = 0; i < n; i++)
        if (!intact(ofa_ptr(a, offs[i]), offs[i], FILL_SIZE, 3))
            return 12;
    return 0;
}

static void ride_case(bool kill_holder)
{
    struct kid h, f;
    char b;

    start_kept();
    kid_start(&h, holder, NULL);
    kid_get(&h, &b, 1);
    ck_assert_int_eq(b, 'r');
    ck_assert_uint_eq(live_blocks(), NOWN + 1);
    ofad_kill9(&d);
    restart();
    assert_taken_over(1, NOWN + 1);
    ck_assert(ofad_log_has(&d, " sessions=1 sessions_ended=0"));
    if (kill_holder) {
        /* Killed before it came back: the new ofad watches the process
         * of the session it restored, and frees its blocks. */
        ck_assert_int_eq(kill(h.pid, SIGKILL), 0);
        ck_assert_int_eq(kid_end(&h), 128 + SIGKILL);
        wait_session_end(h.pid, "process exited");
        ck_assert_uint_eq(live_blocks(), 0);
        validate();
        finish();
        return;
    }
    kid_put(&h, "g", 1);
    kid_get(&h, &b, 1);
    ck_assert_int_eq(b, 'a');
    ck_assert_int_ge(ofad_log_count(&d, "session resumed"), 1);
    ck_assert_uint_eq(live_blocks(), NOWN + 1);
    /* Each of them its own still, the private one too. */
    ck_assert_uint_eq(blocks_of_pid(h.pid), NOWN + 1);

    /* Another client takes every byte left: none of the holder's. */
    {
        uint32_t n;
        struct proto_arena_info st;
        kid_start(&f, filler, NULL);
        kid_get(&f, &n, sizeof(n));
        ck_assert_uint_gt(n, 0);
        st = arena_stats(ARENA);
        ck_assert_uint_eq(st.blocks_live, NOWN + 1 + n);
        ck_assert_uint_gt(st.alloc_failures, 0);
    }
    kid_put(&h, "c", 1);
    kid_get(&h, &b, 1);
    ck_assert_int_eq(b, 'b');
    kid_put(&f, "q", 1);
    ck_assert_int_eq(kid_end(&f), 0);
    wait_session_end(f.pid, "process exited");
    ck_assert_uint_eq(live_blocks(), NOWN + 1);
    validate();
    /* Its process ends: so does its session, and every block of it. */
    ck_assert_int_eq(kid_end(&h), 0);
    wait_session_end(h.pid, "process exited");
    ck_assert_uint_eq(live_blocks(), 0);
    validate();
    finish();
}

START_TEST(test_ride_through)
{
    ride_case(false);
}
END_TEST

START_TEST(test_ride_killed)
{
    ride_case(true);
}
END_TEST

/* ---- random kills ---- */

#define RK_CLIENTS   3
#define RK_KILLS     15
#define RK_OPS       1500
#define RK_HELD      48
#define RK_ARENA     ARENA ",page_size=16K,max=8M"
#define RK_CACHED    0    /* the client whose small private blocks are cached */
#define RK_CACHE_MAX 4096 /* the largest block a client cache holds */

struct rk_arg {
    uint64_t seed;
    unsigned index;
};

/* Random allocs (some private) and frees with a pattern per client,
 * checked before each free and at the end; a new block must not overlap
 * one it holds. Writes "c" once connected, a byte per operation done, then
 * (told to, after a ping) how many blocks it holds and which; exits holding
 * them when its input closes.
 * Every call after the connect must succeed, whatever happens to ofad
 * meanwhile. */
static int rk_client(int rfd, int wfd, void *arg)
{
    const struct rk_arg *ra = arg;
    struct blk held[RK_HELD];
    uint64_t s = ra->seed;
    unsigned n = 0, salt = 10 + ra->index;
    ofa_client *c;
    ofa_arena *a = kid_open(&c);
    char b;

    /* Connected (ofa_connect does not wait for an ofad that is down). */
    if (put(wfd, "c", 1) != 0)
        return 18;
    for (int op = 0; op < RK_OPS; op++) {
        uint64_t r = rnd_next(&s);
        int rc;
        if (n < RK_HELD && (n == 0 || r % 2 == 0)) {
            struct blk nb = {0, 16 + rnd_next(&s) % 12000};
            /* Client 0 also takes small private blocks, which its cache
             * serves; the others' private ones are over the cache's 4 KiB,
             * so that what ofad holds for them is exactly what they hold. */
            unsigned flags =
                r % 8 < 2 && (ra->index == RK_CACHED || nb.size > RK_CACHE_MAX) ? OFA_PRIVATE : 0;
            rc = ofa_alloc_ex(a, nb.size, 0, flags, &nb.off);
            if (rc != 0) {
                fprintf(stderr, "client %u: alloc %" PRIu64 ": %s\n", ra->index, nb.size,
                        ofa_err_name(rc));
                return 10;
            }
            for (unsigned k = 0; k < n; k++)
                if (nb.off < held[k].off + held[k].size && held[k].off < nb.off + nb.size) {
                    fprintf(stderr,
                            "client %u: [%" PRIu64 ",+%" PRIu64 ") overlaps [%" PRIu64 ",+%" PRIu64
                            ")\n",
                            ra->index, nb.off, nb.size, held[k].off, held[k].size);
                    return 11;
                }
            if (ofa_ptr(a, nb.off) == NULL)
                return 12;
            fill(ofa_ptr(a, nb.off), nb.off, nb.size, salt);
            held[n++] = nb;
        } else {
            unsigned k = (unsigned)(rnd_next(&s) % n);
            if (!intact(ofa_ptr(a, held[k].off), held[k].off, held[k].size, salt)) {
                fprintf(stderr, "client %u: block %" PRIu64 " changed\n", ra->index, held[k].off);
                return 13;
            }
            rc = ofa_free(a, held[k].off);
            if (rc != 0) {
                fprintf(stderr, "client %u: free %" PRIu64 ": %s\n", ra->index, held[k].off,
                        ofa_err_name(rc));
                return 14;
            }
            held[k] = held[--n];
        }
        if (put(wfd, "o", 1) != 0)
            return 15;
    }
    for (unsigned k = 0; k < n; k++)
        if (!intact(ofa_ptr(a, held[k].off), held[k].off, held[k].size, salt))
            return 16;
    /* Done, perhaps long before the last kill: the next call resumes. */
    if (get(rfd, &b, 1) != 0 || ofa_ping(c) != 0)
        return 19;
    if (put(wfd, &n, sizeof(n)) != 0 || put(wfd, held, n * sizeof(held[0])) != 0)
        return 17;
    while (read(rfd, &b, 1) > 0)
        ;
    return 0;
}

/* Reads progress bytes of the clients until total reaches target or every
 * client is done; done[i] counts client i's operations. */
static void rk_progress(struct kid *k, int *done, int *total, int target, uint64_t seed)
{
    int64_t end = now_ms() + HARNESS_WAIT_MS;

    while (*total < target) {
        struct pollfd pf[RK_CLIENTS];
        int np = 0, idx[RK_CLIENTS];
        int64_t left = end - now_ms();

        for (int i = 0; i < RK_CLIENTS; i++) {
            if (done[i] < RK_OPS) {
                pf[np] = (struct pollfd){.fd = k[i].from, .events = POLLIN};
                idx[np++] = i;
            }
        }
        if (np == 0)
            return;
        ck_assert_msg(left > 0, "clients made no progress (seed %" PRIu64 ")", seed);
        if (poll(pf, (nfds_t)np, (int)left) <= 0)
            continue;
        for (int j = 0; j < np; j++) {
            char buf[256];
            int i = idx[j], want = RK_OPS - done[i];
            ssize_t r;
            if (!(pf[j].revents & (POLLIN | POLLHUP)))
                continue;
            r = read(k[i].from, buf, (size_t)(want < (int)sizeof(buf) ? want : (int)sizeof(buf)));
            if (r <= 0) {
                int st;
                ck_assert_int_eq(waitpid(k[i].pid, &st, 0), k[i].pid);
                ck_abort_msg("client %d failed: status %d (seed %" PRIu64 ")", i,
                             WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), seed);
            }
            done[i] += (int)r;
            *total += (int)r;
        }
    }
}

/* The live blocks ofad lists against what the clients hold: every held
 * block live, of its client's pid, at least its size; every other live
 * block a cached one of client RK_CACHED (small, not in use); none kept. */
static void rk_check_owners(const struct kid *k, struct blk (*held)[RK_HELD],
                            const unsigned *held_n, uint64_t seed)
{
    unsigned found[RK_CLIENTS] = {0}, extra[RK_CLIENTS] = {0};
    uint64_t cursor = 0;
    ofa_client *c;

    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    do {
        ofa_block_info *v;
        size_t n;
        ck_assert_int_eq(ofa_block_list(c, ARENA, 0, &cursor, &v, &n), 0);
        for (size_t j = 0; j < n; j++) {
            int i, h = -1;
            if (v[j].kind == OFA_BLOCK_PAGE)
                continue;
            ck_assert_msg(v[j].kind == OFA_BLOCK_LIVE,
                          "block %" PRIu64 " of kind %u (seed %" PRIu64 ")", v[j].off, v[j].kind,
                          seed);
            for (i = 0; i < RK_CLIENTS && k[i].pid != (pid_t)v[j].pid; i++)
                ;
            ck_assert_msg(i < RK_CLIENTS,
                          "block %" PRIu64 " of pid %u, no client's (seed %" PRIu64 ")", v[j].off,
                          v[j].pid, seed);
            for (unsigned x = 0; x < held_n[i] && h < 0; x++)
                if (held[i][x].off == v[j].off)
                    h = (int)x;
            if (h >= 0) {
                ck_assert_uint_ge(v[j].size, held[i][h].size);
                found[i]++;
            } else {
                ck_assert_msg(i == RK_CACHED && v[j].size <= RK_CACHE_MAX,
                              "block %" PRIu64 " (%" PRIu64 " bytes) of client %d, which does "
                              "not hold it (seed %" PRIu64 ")",
                              v[j].off, v[j].size, i, seed);
                extra[i]++;
            }
        }
        free(v);
    } while (cursor != 0);
    ofa_disconnect(c);
    for (int i = 0; i < RK_CLIENTS; i++)
        ck_assert_msg(found[i] == held_n[i],
                      "client %d holds %u blocks, %u live (seed %" PRIu64 ")", i, held_n[i],
                      found[i], seed);
    fprintf(stderr, "check_restart random_kills: %u blocks cached by client %d\n", extra[RK_CACHED],
            RK_CACHED);
}

/* The load and the kills; gens: a new generation of the state file every
 * few dozen requests (OFAD_SNAPSHOT_BYTES), so that kills also land while
 * one is written and in files written again (recycled). */
static void random_kills(const char *name, bool gens)
{
    uint64_t seed = seed_of(name), s;
    static struct blk held[RK_CLIENTS][RK_HELD];
    unsigned held_n[RK_CLIENTS];
    const char *const args[] = {"--arena", RK_ARENA, NULL};
    struct ofad_opts o = {.args = args, .state_dir = d.state};
    struct rk_arg ra[RK_CLIENTS];
    struct kid k[RK_CLIENTS];
    int done[RK_CLIENTS] = {0}, total = 0, kills = 0;
    /* Kills far enough apart that all RK_KILLS happen before the clients
     * are done. */
    const int gap = RK_CLIENTS * RK_OPS / (RK_KILLS + 1) - 10;

    s = seed;
    if (gens)
        ck_assert_int_eq(setenv("OFAD_SNAPSHOT_BYTES", "4096", 1), 0);
    ck_assert_int_eq(ofad_start_opts(&d, &o), 0);
    for (int i = 0; i < RK_CLIENTS; i++) {
        ra[i] = (struct rk_arg){seed + 7919u * (uint64_t)(i + 1), (unsigned)i};
        kid_start(&k[i], rk_client, &ra[i]);
    }
    for (int i = 0; i < RK_CLIENTS; i++) {
        char b;
        kid_get(&k[i], &b, 1);
        ck_assert_int_eq(b, 'c');
    }
    for (kills = 0; kills < RK_KILLS; kills++) {
        struct timespec jitter = {0, (long)(rnd_next(&s) % 1000) * 1000};
        int rc;

        rk_progress(k, done, &total, total + 10 + (int)(rnd_next(&s) % (uint64_t)gap), seed);
        ck_assert_msg(total < RK_CLIENTS * RK_OPS, "clients done after %d kills (seed %" PRIu64 ")",
                      kills, seed);
        /* The instant: a random few hundred microseconds into whatever
         * the clients are doing now. */
        nanosleep(&jitter, NULL);
        ofad_kill9(&d);
        rc = ofad_restart(&d, args);
        ck_assert_msg(rc == 0, "restart %d: %s (seed %" PRIu64 ")", kills + 1, strerror(-rc), seed);
        ck_assert_int_eq(ofad_log_count(&d, "state taken over"), kills + 1);
        {
            struct rawc c;
            raw_start(&c);
            ck_assert_msg(rawc_validate(&c, ARENA) == 0,
                          "invariants broken after restart %d (seed %" PRIu64 ")", kills + 1, seed);
            rawc_close(&c);
        }
    }
    rk_progress(k, done, &total, RK_CLIENTS * RK_OPS, seed);
    if (gens) {
        /* The last generation's file, kept to be written again: new
         * generations came, and files were recycled, since the last
         * start. */
        char old[PATH_MAX + 16];

        snprintf(old, sizeof(old), "%s/state.old", d.state);
        ck_assert_msg(access(old, F_OK) == 0, "no state.old (seed %" PRIu64 ")", seed);
    }
    for (int i = 0; i < RK_CLIENTS; i++) {
        kid_put(&k[i], "p", 1);
        kid_get(&k[i], &held_n[i], sizeof(held_n[i]));
        kid_get(&k[i], held[i], held_n[i] * sizeof(held[i][0]));
    }
    /* What the clients hold is live, each block for its client, and
     * nothing else is but client 0's cache: no request took effect twice
     * or not at all across the kills, and every block kept its owner. */
    rk_check_owners(k, held, held_n, seed);
    validate();
    for (int i = 0; i < RK_CLIENTS; i++) {
        int rc = kid_end(&k[i]);
        ck_assert_msg(rc == 0, "client %d: status %d (seed %" PRIu64 ")", i, rc, seed);
        wait_session_end(k[i].pid, "process exited");
    }
    ck_assert_uint_eq(live_blocks(), 0);
    validate();
    finish();
}

START_TEST(test_random_kills)
{
    random_kills("random_kills", false);
}
END_TEST

START_TEST(test_random_kills_gens)
{
    random_kills("random_kills_gens", true);
}
END_TEST

/* ---- exactly once ---- */

/* A new connection that resumes session sid. */
static void raw_resume(struct rawc *c, uint64_t sid, uint64_t secret)
{
    raw_start(c);
    ck_assert_int_eq(rawc_resume(c, sid, secret), 0);
}

START_TEST(test_exactly_once)
{
    uint64_t sid, secret, off, off2, id_alloc, id_free;
    struct rawc c;
    uint32_t h;

    start_kept();
    raw_start(&c);
    ck_assert_int_eq(rawc_session(&c, &sid, &secret), 0);
    ck_assert_int_eq(rawc_open(&c, ARENA, &h, NULL), 0);
    ck_assert_int_eq(rawc_alloc(&c, h, 1000, 0, &off), 0);
    id_alloc = c.next_id;
    ck_assert_uint_eq(live_blocks(), 1);

    /* ofad dies after the reply: the client could not know whether it
     * came, and sends the ALLOC again, same id, to the next ofad. */
    ofad_kill9(&d);
    rawc_close(&c);
    restart();
    raw_resume(&c, sid, secret);
    c.next_id = id_alloc - 1;
    ck_assert_int_eq(rawc_alloc(&c, h, 1000, 0, &off2), 0);
    ck_assert_uint_eq(off2, off);
    ck_assert_uint_eq(live_blocks(), 1);
    ck_assert(ofad_log_has(&d, "resent request answered again op=ALLOC"));
    /* A new request is new. */
    ck_assert_int_eq(rawc_alloc(&c, h, 1000, 0, &off2), 0);
    ck_assert_uint_ne(off2, off);
    ck_assert_uint_eq(live_blocks(), 2);
    ck_assert_int_eq(rawc_free(&c, h, off2), 0);

    ck_assert_int_eq(rawc_free(&c, h, off), 0);
    id_free = c.next_id;
    ck_assert_uint_eq(live_blocks(), 0);
    ofad_kill9(&d);
    rawc_close(&c);
    restart();
    raw_resume(&c, sid, secret);
    c.next_id = id_free - 1;
    /* The resent FREE is answered as it was, not -EINVAL. */
    ck_assert_int_eq(rawc_free(&c, h, off), 0);
    ck_assert_uint_eq(live_blocks(), 0);
    ck_assert(ofad_log_has(&d, "resent request answered again op=FREE"));
    /* ...and only that one: a new FREE of it is refused. */
    ck_assert_int_eq(rawc_free(&c, h, off), -EINVAL);
    rawc_close(&c);
    validate();
    finish();
}
END_TEST

/* A free of many that stops at a block it cannot free: the blocks before
 * it are freed, and recorded together, so they stay freed across kill -9;
 * those from it on stay live. */
START_TEST(test_free_many_prefix)
{
    uint64_t offs[8], bad[8];
    ofa_client *c;
    ofa_arena *a;

    start_kept();
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, ARENA, &a), 0);
    ck_assert_int_ge(ofa_alloc_many(a, 256, 0, OFA_KEEP, 8, offs), 0);
    memcpy(bad, offs, sizeof(bad));
    bad[3] += 8; /* inside a block: not one */
    ck_assert_int_eq(ofa_free_many(a, bad, 8), 3);
    ck_assert_uint_eq(live_blocks(), 5);
    ofa_disconnect(c);

    ofad_kill9(&d);
    restart();
    ck_assert_uint_eq(live_blocks(), 5);
    validate();
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, ARENA, &a), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ofa_free(a, offs[i]), -EINVAL);
    ck_assert_int_eq(ofa_free_many(a, offs + 3, 5), 5);
    ck_assert_uint_eq(live_blocks(), 0);
    ofa_disconnect(c);
    validate();
    finish();
}
END_TEST

/* ---- corrupt and foreign states ---- */

#define TXN_FIRST 64u /* bytes of the state file's header (journal.c) */

struct txn {
    uint32_t pos, len;
};

/* The committed transactions of a state file image: {u32 len, u32 crc}
 * and a body each, back to back after the header, up to a len of 0. */
static int txns_of(const uint8_t *m, size_t size, struct txn *v, int cap)
{
    int n = 0;

    for (size_t pos = TXN_FIRST; size - pos >= 8 && n < cap;) {
        uint32_t len;
        memcpy(&len, m + pos, 4);
        if (len == 0)
            break;
        ck_assert_uint_ge(len, 8);
        ck_assert_uint_le(len, size - pos);
        v[n++] = (struct txn){(uint32_t)pos, len};
        pos += len;
    }
    return n;
}

static uint8_t *read_file(const char *path, size_t *size)
{
    struct stat st;
    uint8_t *m;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    m = malloc((size_t)st.st_size);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(pread(fd, m, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    *size = (size_t)st.st_size;
    return m;
}

static void write_file(const char *path, const uint8_t *m, size_t size)
{
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, m, size, 0), (ssize_t)size);
    close(fd);
}

/* Starts ofad on the damaged state: it must exit 1 with the refusal in
 * its log, and leave the keeper, its pages and the file as they were. */
static void expect_refused(const char *what, const char *path, pid_t keeper, int pages)
{
    int before = ofad_log_count(&d, "state refused"), rc;
    struct stat st;

    rc = ofad_restart(&d, arena_args);
    ck_assert_msg(rc == -ECHILD, "%s: start returned %d", what, rc);
    ck_assert_msg(WIFEXITED(d.status) && WEXITSTATUS(d.status) == 1, "%s: status %d", what,
                  d.status);
    ck_assert_msg(ofad_log_count(&d, "state refused, nothing changed") == before + 1,
                  "%s: no refusal in the log", what);
    ck_assert_int_eq(harness_keeper_pid(d.state), keeper);
    ck_assert_int_eq(harness_pages_of(keeper), pages);
    ck_assert_int_eq(stat(path, &st), 0);
}

START_TEST(test_corrupt)
{
    char path[PATH_MAX + 8];
    struct txn t[256];
    struct blk v[NKEEP];
    uint8_t *orig, *m;
    size_t size;
    pid_t keeper;
    int n, pages;

    start_kept();
    produce(v);
    pages = (int)arena_stats(ARENA).pages;
    ofad_kill9(&d);
    keeper = harness_keeper_pid(d.state);
    ck_assert_int_gt(keeper, 0);
    snprintf(path, sizeof(path), "%s/state", d.state);
    orig = read_file(path, &size);
    n = txns_of(orig, size, t, 256);
    /* The snapshot of the start, the producer's requests. */
    ck_assert_int_ge(n, 3);
    m = malloc(size);
    ck_assert_ptr_nonnull(m);

    /* A byte flipped in the middle of a committed transaction's body. */
    memcpy(m, orig, size);
    m[t[n / 2].pos + 8 + (t[n / 2].len - 8) / 2] ^= 0x5a;
    write_file(path, m, size);
    expect_refused("flipped byte", path, keeper, pages);
    ck_assert(ofad_log_has(&d, "checksum mismatch"));

    /* A committed transaction's checksum word. */
    memcpy(m, orig, size);
    m[t[n - 1].pos + 4] ^= 0x01;
    write_file(path, m, size);
    expect_refused("checksum word", path, keeper, pages);

    /* The header (its uid field, under the header's checksum). */
    memcpy(m, orig, size);
    m[12] ^= 0x80;
    write_file(path, m, size);
    expect_refused("header", path, keeper, pages);

    /* Cut in the middle of a committed transaction. */
    write_file(path, orig, t[n / 2].pos + t[n / 2].len / 2);
    expect_refused("cut in a transaction", path, keeper, pages);

    /* Cut inside a committed transaction's header. */
    write_file(path, orig, t[n / 2].pos + 4);
    expect_refused("cut in a transaction header", path, keeper, pages);

    /* Cut right after a committed transaction: the end mark (a zero
     * length) is gone, so is whatever followed. */
    write_file(path, orig, t[n / 2].pos + t[n / 2].len);
    expect_refused("cut at a transaction's end", path, keeper, pages);

    /* The file as it was: everything is there. */
    write_file(path, orig, size);
    restart();
    assert_taken_over(1, NKEEP);
    consume(v);
    free(m);
    free(orig);
    finish();
}
END_TEST

START_TEST(test_foreign)
{
    struct ofad other;
    struct blk v[NKEEP];
    struct ofad_opts o = {.args = arena_args, .state_dir = d.state};
    pid_t keeper;
    int pages, rc;

    start_kept();
    produce(v);
    pages = (int)arena_stats(ARENA).pages;
    ck_assert_int_eq(ofad_stop(&d), 0);
    keeper = harness_keeper_pid(d.state);

    /* Another socket, the same state directory. */
    rc = ofad_start_opts(&other, &o);
    ck_assert_msg(rc == -ECHILD, "foreign state: start returned %d", rc);
    ck_assert_msg(WIFEXITED(other.status) && WEXITSTATUS(other.status) == 1, "status %d",
                  other.status);
    ck_assert(ofad_log_has(&other, "state refused, nothing changed"));
    ck_assert(ofad_log_has(&other, "another socket"));
    ofad_cleanup(&other);
    ck_assert_int_eq(harness_keeper_pid(d.state), keeper);
    ck_assert_int_eq(harness_pages_of(keeper), pages);

    /* Its own ofad takes it over whole. */
    restart();
    assert_taken_over(1, NKEEP);
    consume(v);
    finish();
}
END_TEST

/* ---- stale ---- */

START_TEST(test_stale)
{
    struct proto_arena_info st;
    struct blk v[NKEEP];
    struct rawc c;
    pid_t keeper;

    start_kept();
    raw_start(&c);
    ck_assert_int_eq(rawc_create(&c, "u", 65536, 1 << 20, 0, 0600), 0);
    rawc_close(&c);
    produce(v);
    ofad_kill9(&d);
    /* The keeper dies too, and the pages with it: as after a reboot. */
    keeper = harness_keeper_pid(d.state);
    ck_assert_int_gt(keeper, 0);
    ck_assert_int_eq(kill(keeper, SIGKILL), 0);
    ck_assert_int_eq(harness_wait_pid_exit(keeper, HARNESS_WAIT_MS), 0);
    restart();
    ck_assert(ofad_log_has(&d, "stale state discarded"));
    ck_assert_int_eq(ofad_log_count(&d, "state taken over"), 0);
    /* The configured arena, empty; the other one is gone. */
    st = arena_stats(ARENA);
    ck_assert_uint_eq(st.blocks_live, 0);
    ck_assert_uint_eq(st.pages, 0);
    raw_start(&c);
    ck_assert_int_eq(rawc_stats(&c, "u", &st), -ENOENT);
    rawc_close(&c);
    /* A new keeper, and a state that works from here. */
    ck_assert_int_gt(harness_keeper_pid(d.state), 0);
    ck_assert_int_ne(harness_keeper_pid(d.state), keeper);
    produce(v);
    ofad_kill9(&d);
    restart();
    assert_taken_over(1, NKEEP);
    consume(v);
    finish();
}
END_TEST

/* ---- discard ---- */

START_TEST(test_discard)
{
    const char *const args[] = {"--arena", ARENA_ARG, "--discard-state", NULL};
    struct ofad_opts o = {.args = args, .reuse = true, .state_dir = d.state};
    struct proto_arena_info st;
    struct blk v[NKEEP];
    char needle[96];
    pid_t keeper;
    int pages;

    start_kept();
    produce(v);
    pages = (int)arena_stats(ARENA).pages;
    ck_assert_int_gt(pages, 0);
    ofad_kill9(&d);
    keeper = harness_keeper_pid(d.state);
    ck_assert_int_gt(keeper, 0);
    ck_assert_int_eq(ofad_start_opts(&d, &o), 0);
    ck_assert(ofad_log_has(&d, "state discarded on request"));
    ck_assert_int_eq(ofad_log_count(&d, "state taken over"), 0);
    st = arena_stats(ARENA);
    ck_assert_uint_eq(st.blocks_live, 0);
    ck_assert_uint_eq(st.pages, 0);
    validate();
    /* The keeper lets go of every old page (their memory goes with them):
     * it says so, and the next ofad gets nothing back from it (it serves
     * one request after another: the discard is done by then). */
    snprintf(needle, sizeof(needle), "keeper: every descriptor discarded count=%d\n", pages);
    ck_assert_int_eq(ofad_wait_log(&d, needle, 1), 0);
    ck_assert_int_eq(ofad_stop(&d), 0);
    restart();
    ck_assert_int_eq(ofad_wait_log(&d, "keeper: descriptors handed back count=0\n", 2), 0);
    ck_assert_int_eq(harness_keeper_pid(d.state), keeper);
    ck_assert_int_eq(harness_pages_of(keeper), 0);
    ck_assert_int_eq(ofad_log_count(&d, "state taken over"), 1);
    assert_taken_over(1, 0);
    finish();
}
END_TEST

/* ---- without a state directory ---- */

START_TEST(test_no_state_dir)
{
    struct ofad_opts o = {.args = arena_args, .reuse = true};
    struct proto_daemon_info di;
    struct proto_arena_info st;
    struct blk v[NKEEP];
    struct stat sb;
    struct rawc c;

    ck_assert_int_eq(ofad_start(&d, arena_args), 0);
    produce(v);
    raw_start(&c);
    ck_assert_int_eq(rawc_daemon(&c, &di), 0);
    ck_assert_uint_eq(di.state_age_s, 0);
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&d), 0);
    /* Nothing kept: no state directory, no keeper, no segment. */
    ck_assert(!ofad_log_has(&d, "keeper"));
    ck_assert(!ofad_log_has(&d, "state kept"));
    ck_assert_int_ne(stat(d.state, &sb), 0);
    ck_assert_int_eq(ofad_segments(d.tag), 0);
    ck_assert_int_eq(ofad_start_opts(&d, &o), 0);
    st = arena_stats(ARENA);
    ck_assert_uint_eq(st.blocks_live, 0);
    ck_assert_uint_eq(st.pages, 0);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ck_assert_int_ne(stat(d.state, &sb), 0);
    ck_assert_int_eq(ofad_segments(d.tag), 0);
    ofad_cleanup(&d);
}
END_TEST

/* ---- systemd's fd store, played by the test ---- */

#define MGR_MAX 64

/* The manager: NOTIFY_SOCKET, and the descriptors it keeps by name. */
struct mgr {
    int fd;
    char path[PATH_MAX];
    int n, removes;
    char names[MGR_MAX][65];
    int fds[MGR_MAX];
    bool ready;
};

static void mgr_open(struct mgr *m)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    memset(m, 0, sizeof(*m));
    snprintf(m->path, sizeof(m->path), "%s/manager", d.dir);
    m->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(m->fd, 0);
    ck_assert_uint_lt(strlen(m->path), sizeof(sa.sun_path));
    memcpy(sa.sun_path, m->path, strlen(m->path) + 1);
    ck_assert_int_eq(bind(m->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void mgr_close(struct mgr *m)
{
    for (int i = 0; i < m->n; i++)
        close(m->fds[i]);
    m->n = 0;
    close(m->fd);
}

/* The value of key in a notification (lines key=value), or NULL. */
static const char *field(const char *msg, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);

    for (const char *l = msg; *l != '\0'; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != '\0')) {
        if (strncmp(l, key, kl) == 0 && l[kl] == '=') {
            size_t vl = strcspn(l + kl + 1, "\n");
            if (vl >= cap)
                vl = cap - 1;
            memcpy(out, l + kl + 1, vl);
            out[vl] = '\0';
            return out;
        }
    }
    return NULL;
}

/* Takes one notification if one comes within ms and acts on it as
 * systemd does: FDSTORE=1 keeps its descriptor under FDNAME,
 * FDSTOREREMOVE=1 closes those of FDNAME, READY=1 is noted. Returns 1, or
 * 0 if none came. */
static int mgr_pump(struct mgr *m, int ms)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } cm;
    char msg[4096], name[65], val[16];
    struct iovec iov = {msg, sizeof(msg) - 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf)};
    struct pollfd p = {.fd = m->fd, .events = POLLIN};
    int fds[8], nfds = 0;
    ssize_t r;

    if (poll(&p, 1, ms) <= 0)
        return 0;
    r = recvmsg(m->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (r < 0)
        return 0;
    msg[r] = '\0';
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h != NULL; h = CMSG_NXTHDR(&mh, h)) {
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
            int k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k && nfds < 8; i++)
                memcpy(&fds[nfds++], CMSG_DATA(h) + i * sizeof(int), sizeof(int));
        }
    }
    if (field(msg, "FDSTORE", val, sizeof(val)) != NULL && strcmp(val, "1") == 0) {
        ck_assert_ptr_nonnull(field(msg, "FDNAME", name, sizeof(name)));
        ck_assert_int_eq(nfds, 1);
        ck_assert_int_lt(m->n, MGR_MAX);
        snprintf(m->names[m->n], sizeof(m->names[0]), "%s", name);
        m->fds[m->n++] = fds[0];
        nfds = 0;
    } else if (field(msg, "FDSTOREREMOVE", val, sizeof(val)) != NULL && strcmp(val, "1") == 0) {
        ck_assert_ptr_nonnull(field(msg, "FDNAME", name, sizeof(name)));
        for (int i = 0; i < m->n;) {
            if (strcmp(m->names[i], name) == 0) {
                close(m->fds[i]);
                m->fds[i] = m->fds[--m->n];
                memcpy(m->names[i], m->names[m->n], sizeof(m->names[0]));
            } else {
                i++;
            }
        }
        m->removes++;
    }
    if (field(msg, "READY", val, sizeof(val)) != NULL && strcmp(val, "1") == 0)
        m->ready = true;
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    return 1;
}

/* Every notification queued now. */
static void mgr_drain(struct mgr *m)
{
    while (mgr_pump(m, 0) == 1)
        ;
}

/* Starts ofad as systemd would: the activation socket (lsock) first, then
 * the descriptors the manager keeps, with LISTEN_FDS, LISTEN_FDNAMES and
 * LISTEN_PID (the child's own pid, set before exec); waits for READY=1
 * while keeping what it stores. */
static void mgr_start_ofad(struct mgr *m, int lsock)
{
    int64_t end;
    pid_t pid;

    m->ready = false;
    fflush(NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char names[MGR_MAX * 66 + 16] = "ofad.socket", num[16];
        const char *argv[] = {OFAD_PATH, "--socket", d.socket,  "--state-dir",
                              d.state,   "--arena",  ARENA_ARG, NULL};
        int log = open(d.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644), hi[MGR_MAX + 1];
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        setpgid(0, 0);
        if (log < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
            _exit(126);
        /* Out of the way of 3.. first, then in place (dup2 clears CLOEXEC). */
        hi[0] = fcntl(lsock, F_DUPFD_CLOEXEC, 100);
        for (int i = 0; i < m->n; i++)
            hi[i + 1] = fcntl(m->fds[i], F_DUPFD_CLOEXEC, 100);
        for (int i = 0; i <= m->n; i++)
            if (hi[i] < 0 || dup2(hi[i], 3 + i) < 0)
                _exit(126);
        for (int i = 0; i < m->n; i++) {
            strcat(names, ":");
            strcat(names, m->names[i]);
        }
        snprintf(num, sizeof(num), "%d", m->n + 1);
        setenv("LISTEN_FDS", num, 1);
        setenv("LISTEN_FDNAMES", names, 1);
        snprintf(num, sizeof(num), "%d", (int)getpid());
        setenv("LISTEN_PID", num, 1);
        setenv("NOTIFY_SOCKET", m->path, 1);
        unsetenv("OFAD_FDSTORE");
        execv(OFAD_PATH, (char *const *)argv);
        _exit(127);
    }
    d.pid = pid;
    end = now_ms() + HARNESS_WAIT_MS;
    while (!m->ready) {
        int st;
        ck_assert_msg(now_ms() < end, "ofad sent no READY=1");
        ck_assert_int_eq(waitpid(pid, &st, WNOHANG), 0);
        mgr_pump(m, 100);
    }
}

START_TEST(test_fdstore_systemd)
{
    struct proto_arena_info st;
    struct blk v[NKEEP];
    struct rawc c;
    struct mgr m;
    int64_t end;
    int lsock;

    ck_assert_int_eq(ofad_prepare(&d), 0);
    mgr_open(&m);
    lsock = harness_listen(d.socket);
    ck_assert_int_gt(lsock, 0);
    mgr_start_ofad(&m, lsock);
    ck_assert(ofad_log_has(&d, "store=systemd"));
    produce(v);
    /* A page is stored before any record names it, and before the reply
     * that hands out its block: the producer is done, so are the puts. */
    mgr_drain(&m);
    st = arena_stats(ARENA);
    ck_assert_int_eq(m.n, (int)st.pages);

    /* The pages of a dropped arena leave the store. */
    raw_start(&c);
    ck_assert_int_eq(rawc_create(&c, "u", 65536, 1 << 20, 0, 0600), 0);
    {
        uint32_t h;
        uint64_t off;
        ck_assert_int_eq(rawc_open(&c, "u", &h, NULL), 0);
        ck_assert_int_eq(rawc_alloc(&c, h, 1000, 0, &off), 0);
        ck_assert_int_eq(rawc_free(&c, h, off), 0);
        ck_assert_int_eq(rawc_close_handle(&c, h), 0);
    }
    ck_assert_int_eq(rawc_drop(&c, "u", 0), 0);
    rawc_close(&c);
    end = now_ms() + HARNESS_WAIT_MS;
    while (m.removes == 0 || m.n != (int)st.pages) {
        ck_assert_msg(now_ms() < end, "store: %d descriptors, %d removes", m.n, m.removes);
        mgr_pump(&m, 100);
    }

    ofad_kill9(&d);
    mgr_drain(&m);
    ck_assert_int_eq(m.n, (int)st.pages);
    /* systemd starts it again with its socket and what it stored. */
    mgr_start_ofad(&m, lsock);
    assert_taken_over(1, NKEEP);
    ck_assert_int_eq(ofad_log_count(&d, "store=systemd"), 2);
    consume(v);
    ck_assert_int_eq(ofad_stop(&d), 0);
    mgr_drain(&m);
    /* systemd's store, never the keeper. */
    ck_assert_int_eq(harness_keeper_pid(d.state), -1);
    mgr_close(&m);
    close(lsock);
    ck_assert_int_eq(ofad_segments(d.tag), 0);
    ofad_cleanup(&d);
}
END_TEST

static Suite *restart_suite(void)
{
    Suite *s = suite_create("restart");
    TCase *tc;

    tc = tcase_create("keep");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_keep_kill9);
    tcase_add_test(tc, test_keep_sigterm);
    suite_add_tcase(s, tc);

    tc = tcase_create("keeper_lost");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_keeper_lost);
    suite_add_tcase(s, tc);

    tc = tcase_create("ride_through");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ride_through);
    tcase_add_test(tc, test_ride_killed);
    suite_add_tcase(s, tc);

    tc = tcase_create("random_kills");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_random_kills);
    suite_add_tcase(s, tc);

    tc = tcase_create("random_kills_gens");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_random_kills_gens);
    suite_add_tcase(s, tc);

    tc = tcase_create("exactly_once");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_exactly_once);
    tcase_add_test(tc, test_free_many_prefix);
    suite_add_tcase(s, tc);

    tc = tcase_create("corrupt");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_corrupt);
    tcase_add_test(tc, test_foreign);
    suite_add_tcase(s, tc);

    tc = tcase_create("stale");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stale);
    suite_add_tcase(s, tc);

    tc = tcase_create("discard");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_discard);
    suite_add_tcase(s, tc);

    tc = tcase_create("no_state_dir");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_no_state_dir);
    suite_add_tcase(s, tc);

    tc = tcase_create("fdstore_systemd");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fdstore_systemd);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(restart_suite());
}

/*
 * check_names.c - named blocks against a real ofad, between real processes:
 * find-or-allocate races, waits for names (parked in the daemon, woken by a
 * bind, ended by a timeout, a drop or the waiter's death), permissions,
 * names going away with their blocks and arenas, the per-arena bound, and
 * the per-uid bound (max_names_per_uid) against a real `nobody` child.
 *
 * What the daemon holds is observed through its own listing
 * (ofa_name_list: the names, and the lookups waiting now), polled with a
 * bound when it changes asynchronously to us (a parked wait, a killed
 * client): no sleeps that hope.
 *
 * The per-uid bound also holds for the names a new ofad rebuilds from its
 * state directory (uidrestart). The counts behind it are checked on names.c
 * itself too (uidcount), against counts kept by the test, with a printed
 * seed (OFA_SEED replays a run).
 *
 * Children stand for independent programs; they report through their exit
 * status and pipes only and leave with _exit().
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "names.h"
#include "ofaclient.h"

#define ARENA "n"

static struct ofad d;

static void start_with(const char *config)
{
    const char *args[] = {"--arena", ARENA ",page_size=64K,max=16M,mode=0644", NULL};
    struct ofad_opts o = {.args = args};

    if (config != NULL) {
        ck_assert_int_eq(ofad_prepare(&d), 0);
        ck_assert_int_eq(ofad_write_config(&d, config), 0);
        o.with_config = true;
        o.reuse = true;
    }
    ck_assert_int_eq(ofad_start_opts(&d, &o), 0);
}

static void start(void)
{
    start_with(NULL);
}

static void stop(void)
{
    ck_assert_int_eq(ofad_stop(&d), 0);
    ck_assert_int_eq(ofad_segments(d.tag), 0);
    ofad_cleanup(&d);
}

static void conn_open(ofa_client **c, ofa_arena **a)
{
    ck_assert_int_eq(ofa_connect(d.socket, c), 0);
    ck_assert_int_eq(ofa_arena_open(*c, ARENA, a), 0);
}

static pid_t fork_child(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(fn(arg));
    }
    return pid;
}

static int wait_child(pid_t pid)
{
    int st;

    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Lookups parked in the arena now, as the daemon says. */
static uint64_t waiting(void)
{
    ofa_name_info *v;
    ofa_client *c;
    uint64_t w = UINT64_MAX;
    size_t n;

    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_name_list(c, ARENA, &v, &n, &w), 0);
    free(v);
    ofa_disconnect(c);
    return w;
}

/* Polls until want lookups are parked (the daemon parks and unparks them
 * as its loop gets to it). */
static void wait_waiting(uint64_t want)
{
    struct timespec ms = {0, 1000000};
    uint64_t w = 0;

    for (int i = 0; i < HARNESS_WAIT_MS; i++) {
        w = waiting();
        if (w == want)
            break;
        nanosleep(&ms, NULL);
    }
    ck_assert_uint_eq(w, want);
}

static uint64_t pattern(uint64_t i)
{
    return (i + 1) * 0x9e3779b97f4a7c15ull;
}

/* ------------------------------------------------------------------ */
/* wait: a consumer that starts first waits for its producer's name     */

#define SLOTS 512

static int consumer(void *arg)
{
    const char *name = arg;
    uint64_t off, size, *p;
    ofa_client *c;
    ofa_arena *a;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    if (ofa_lookup_wait(a, name, -1, &off, &size) != 0)
        return 2;
    if (size < SLOTS * sizeof(uint64_t))
        return 3;
    p = ofa_ptr(a, off);
    if (p == NULL)
        return 4;
    /* Bound after it was filled: the whole block is there. */
    for (uint64_t i = 0; i < SLOTS; i++)
        if (p[i] != pattern(i))
            return 5;
    ofa_disconnect(c);
    return 0;
}

static int producer(void *arg)
{
    const char *name = arg;
    uint64_t off, *p;
    ofa_client *c;
    ofa_arena *a;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    if (ofa_alloc_ex(a, SLOTS * sizeof(uint64_t), 0, OFA_KEEP, &off) != 0)
        return 2;
    p = ofa_ptr(a, off);
    if (p == NULL)
        return 3;
    for (uint64_t i = 0; i < SLOTS; i++)
        p[i] = pattern(i);
    if (ofa_name_bind(a, name, off) != 0)
        return 4;
    ofa_disconnect(c);
    return 0;
}

START_TEST(test_consumer_first)
{
    char name[] = "jobs/frames:0";
    pid_t cons[2], prod;

    start();
    cons[0] = fork_child(consumer, name);
    cons[1] = fork_child(consumer, name);
    wait_waiting(2);
    prod = fork_child(producer, name);
    ck_assert_int_eq(wait_child(prod), 0);
    ck_assert_int_eq(wait_child(cons[0]), 0);
    ck_assert_int_eq(wait_child(cons[1]), 0);
    ck_assert_uint_eq(waiting(), 0);
    stop();
}
END_TEST

/* A wait does not hold up the client's other calls: they go on while a
 * child binds the name later. */
START_TEST(test_wait_other_calls)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t off, got, size;

    start();
    conn_open(&c, &a);
    /* Another process waits; this client allocates, binds, frees as it
     * likes meanwhile. */
    pid_t w = fork_child(consumer, "later");
    wait_waiting(1);
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(ofa_alloc(a, 64, &off), 0);
        ck_assert_int_eq(ofa_free(a, off), 0);
    }
    ck_assert_int_eq(ofa_alloc_ex(a, SLOTS * 8, 0, OFA_KEEP, &off), 0);
    uint64_t *p = ofa_ptr(a, off);
    ck_assert_ptr_nonnull(p);
    for (uint64_t i = 0; i < SLOTS; i++)
        p[i] = pattern(i);
    ck_assert_int_eq(ofa_name_bind(a, "later", off), 0);
    ck_assert_int_eq(wait_child(w), 0);
    /* This client's own wait, on a bound name: at once. */
    ck_assert_int_eq(ofa_lookup_wait(a, "later", -1, &got, &size), 0);
    ck_assert_uint_eq(got, off);
    ck_assert_uint_ge(size, SLOTS * 8);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* race: find-or-construct from 4 processes at once                     */

#define RACERS 4

struct racer {
    int go;  /* read end: one byte each, the start signal */
    int out; /* write end: rc and offset */
};

static int racer(void *arg)
{
    struct racer *r = arg;
    ofa_client *c;
    ofa_arena *a;
    uint64_t res[2] = {0, 0};
    char b;
    int rc;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    if (read(r->go, &b, 1) != 1)
        return 2;
    rc = ofa_alloc_named(a, "shared/table", 4096, 0, &res[1]);
    res[0] = (uint64_t)(int64_t)rc;
    if (write(r->out, res, sizeof(res)) != sizeof(res))
        return 3;
    ofa_disconnect(c);
    return 0;
}

START_TEST(test_race)
{
    int go[2], out[2], created = 0;
    uint64_t res[2], first = 0, off, size;
    struct racer r;
    pid_t pid[RACERS];
    ofa_client *c;
    ofa_arena *a;

    start();
    for (int round = 0; round < 20; round++) {
        ck_assert_int_eq(pipe(go), 0);
        ck_assert_int_eq(pipe(out), 0);
        r.go = go[0];
        r.out = out[1];
        for (int i = 0; i < RACERS; i++)
            pid[i] = fork_child(racer, &r);
        ck_assert_int_eq(write(go[1], "gggg", RACERS), RACERS);
        created = 0;
        for (int i = 0; i < RACERS; i++) {
            ck_assert_int_eq(read(out[0], res, sizeof(res)), sizeof(res));
            ck_assert_msg(res[0] == 0 || res[0] == 1, "ofa_alloc_named: %d", (int)res[0]);
            created += (int)res[0];
            if (i == 0)
                first = res[1];
            ck_assert_uint_ne(res[1], 0);
            ck_assert_uint_eq(res[1], first);
        }
        for (int i = 0; i < RACERS; i++)
            ck_assert_int_eq(wait_child(pid[i]), 0);
        ck_assert_int_eq(created, 1);
        close(go[0]);
        close(go[1]);
        close(out[0]);
        close(out[1]);
        /* The block is kept: the racers are gone, the name stays. */
        conn_open(&c, &a);
        ck_assert_int_eq(ofa_lookup(a, "shared/table", &off, &size), 0);
        ck_assert_uint_eq(off, first);
        ck_assert_uint_ge(size, 4096);
        ck_assert_int_eq(ofa_free(a, off), 0);
        ofa_disconnect(c);
    }
    stop();
}
END_TEST

START_TEST(test_excl)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t off, again, size;

    start();
    conn_open(&c, &a);
    ck_assert_int_eq(ofa_alloc_named(a, "cfg", 100, OFA_EXCL, &off), 1);
    ck_assert_int_eq(ofa_alloc_named(a, "cfg", 100, OFA_EXCL, &again), -EEXIST);
    /* Found: whatever size was asked, the existing block. */
    ck_assert_int_eq(ofa_alloc_named(a, "cfg", 1 << 20, 0, &again), 0);
    ck_assert_uint_eq(again, off);
    ck_assert_int_eq(ofa_alloc_named(a, "cfg", 1, OFA_KEEP, &again), 0);
    ck_assert_uint_eq(again, off);
    ck_assert_int_eq(ofa_block_size(a, off, &size), 0);
    ck_assert_uint_ge(size, 100);
    ck_assert_uint_lt(size, 1 << 20);
    ck_assert_int_eq(ofa_block_size(a, off + 8, &size), -EINVAL);
    ck_assert_int_eq(ofa_alloc_named(a, "cfg", 100, OFA_ZERO, &again), -EINVAL);
    ck_assert_int_eq(ofa_alloc_named(a, "cfg", 100, 16, &again), -EINVAL);
    ck_assert_int_eq(ofa_alloc_named(a, "new", 0, 0, &again), -EINVAL); /* size 0 */
    ck_assert_int_eq(ofa_lookup(a, "new", NULL, NULL), -ENOENT);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* kill9: a waiter that dies leaves nothing parked                      */

static int waiter_forever(void *arg)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;

    (void)arg;
    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    ofa_lookup_wait(a, "never", -1, &off, NULL);
    return 2; /* never gets here: it is killed */
}

START_TEST(test_kill9)
{
    ofa_daemon_info before, after;
    struct timespec ms = {0, 1000000};
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;
    pid_t pid;
    int i;

    start();
    conn_open(&c, &a);
    ck_assert_int_eq(ofa_daemon_stats(c, &before), 0);
    pid = fork_child(waiter_forever, NULL);
    wait_waiting(1);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(wait_child(pid), 128 + SIGKILL);
    wait_waiting(0);
    for (i = 0; i < HARNESS_WAIT_MS; i++) {
        ck_assert_int_eq(ofa_daemon_stats(c, &after), 0);
        if (after.clients == before.clients)
            break;
        nanosleep(&ms, NULL);
    }
    ck_assert_uint_eq(after.clients, before.clients);
    /* A bind now finds nobody to wake, and nothing goes wrong. */
    ck_assert_int_eq(ofa_alloc_named(a, "never", 64, 0, &off), 1);
    ck_assert_uint_eq(waiting(), 0);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* timeouts                                                             */

START_TEST(test_timeouts)
{
    struct timespec t0, t1;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off, got;
    long ms;

    start();
    conn_open(&c, &a);
    /* 0 only looks. */
    ck_assert_int_eq(ofa_lookup_wait(a, "t", 0, &got, NULL), -ETIMEDOUT);
    /* A timed wait ends with ETIMEDOUT from the daemon, not before. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(ofa_lookup_wait(a, "t", 100, &got, NULL), -ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    ck_assert_int_ge(ms, 100);
    ck_assert_uint_eq(waiting(), 0);
    /* The client's own deadline is shorter than the wait: the wait still
     * gets its whole time, and the daemon's answer. */
    ck_assert_int_eq(ofa_set_timeout(c, 20), 0);
    ck_assert_int_eq(ofa_lookup_wait(a, "t", 150, &got, NULL), -ETIMEDOUT);
    ck_assert_int_eq(ofa_set_timeout(c, 5000), 0);
    /* Both connections still work. */
    ck_assert_int_eq(ofa_alloc_named(a, "t", 64, 0, &off), 1);
    ck_assert_int_eq(ofa_lookup_wait(a, "t", 0, &got, NULL), 0);
    ck_assert_uint_eq(got, off);
    ck_assert_int_eq(ofa_lookup_wait(a, "t", 100, &got, NULL), 0);
    ck_assert_uint_eq(got, off);
    ck_assert_int_eq(ofa_lookup_wait(a, "bad name", 100, &got, NULL), -EINVAL);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* A wait on an arena that is dropped ends with ENOENT. */
static int waiter_dropped(void *arg)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;

    (void)arg;
    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    return ofa_lookup_wait(a, "gone", -1, &off, NULL) == -ENOENT ? 0 : 2;
}

START_TEST(test_wait_drop)
{
    ofa_client *c;
    pid_t pid;

    start();
    pid = fork_child(waiter_dropped, NULL);
    wait_waiting(1);
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_drop(c, ARENA, 1), 0);
    ck_assert_int_eq(wait_child(pid), 0);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* permissions: a reader looks up and waits, never binds                */

struct reader_args {
    uint64_t off;
};

static int reader(void *arg)
{
    struct reader_args *ra = arg;
    ofa_name_info *v;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off, size;
    size_t n;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0 ||
        ofa_arena_writable(a) != 0)
        return 1;
    if (ofa_lookup(a, "pub", &off, &size) != 0 || off != ra->off)
        return 2;
    if (ofa_lookup_wait(a, "pub", 1000, &off, &size) != 0 || off != ra->off)
        return 3;
    if (ofa_name_bind(a, "mine", ra->off) != -EACCES)
        return 4;
    if (ofa_name_unbind(a, "pub") != -EACCES)
        return 5;
    if (ofa_alloc_named(a, "mine", 64, 0, &off) != -EACCES)
        return 6;
    if (ofa_alloc_named(a, "pub", 64, 0, &off) != -EACCES)
        return 7;
    if (ofa_block_size(a, ra->off, &size) != 0)
        return 8;
    if (ofa_name_list(c, ARENA, &v, &n, NULL) != 0 || n != 1 || strcmp(v[0].name, "pub") != 0)
        return 9;
    free(v);
    /* No read permission at all: nothing. */
    if (ofa_name_list(c, "priv", &v, &n, NULL) != -EACCES)
        return 10;
    ofa_disconnect(c);
    return 0;
}

static int reader_as_nobody(void *arg)
{
    return harness_as_user("nobody", (gid_t)-1, reader, arg);
}

START_TEST(test_permissions)
{
    const char *args[] = {"--arena", ARENA ",page_size=64K,max=16M,mode=0644", "--arena",
                          "priv,mode=0600", NULL};
    struct reader_args ra;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;

    ck_assert_int_eq(ofad_start(&d, args), 0);
    ck_assert_int_eq(ofad_open_to_all(&d), 0);
    conn_open(&c, &a);
    ck_assert_int_eq(ofa_alloc_named(a, "pub", 64, 0, &ra.off), 1);
    ck_assert_int_eq(wait_child(fork_child(reader_as_nobody, &ra)), 0);
    ck_assert_int_eq(ofa_lookup(a, "mine", &off, NULL), -ENOENT);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* unbind: by hand, with the block, with the arena                      */

START_TEST(test_unbind)
{
    ofa_name_info *v;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off, tmp, got;
    size_t n;

    start();
    conn_open(&c, &a);
    ck_assert_int_eq(ofa_alloc_ex(a, 256, 0, OFA_KEEP, &off), 0);
    /* Several names for one block; one name for one block only. */
    ck_assert_int_eq(ofa_name_bind(a, "x", off), 0);
    ck_assert_int_eq(ofa_name_bind(a, "y:1", off), 0);
    ck_assert_int_eq(ofa_name_bind(a, "x", off), -EEXIST);
    /* Only live kept blocks can be named. */
    ck_assert_int_eq(ofa_alloc(a, 64, &tmp), 0);
    ck_assert_int_eq(ofa_name_bind(a, "z", tmp), -EINVAL);
    ck_assert_int_eq(ofa_name_bind(a, "z", off + 64), -EINVAL);
    ck_assert_int_eq(ofa_name_bind(a, "z", 0), -EINVAL);
    ck_assert_int_eq(ofa_free(a, tmp), 0);
    /* Names: 1..255 of [A-Za-z0-9._:/-]. */
    ck_assert_int_eq(ofa_name_bind(a, "", off), -EINVAL);
    ck_assert_int_eq(ofa_name_bind(a, "a b", off), -EINVAL);
    ck_assert_int_eq(ofa_name_bind(a, NULL, off), -EINVAL);
    ck_assert_int_eq(ofa_lookup(a, "\xc3\xa9", &got, NULL), -EINVAL);
    {
        char longest[257];
        memset(longest, 'L', 256);
        longest[256] = '\0';
        ck_assert_int_eq(ofa_name_bind(a, longest, off), -EINVAL);
        longest[255] = '\0';
        ck_assert_int_eq(ofa_name_bind(a, longest, off), 0);
        ck_assert_int_eq(ofa_lookup(a, longest, &got, NULL), 0);
        ck_assert_uint_eq(got, off);
        ck_assert_int_eq(ofa_name_unbind(a, longest), 0);
    }
    /* The listing: sorted, with who bound them. */
    ck_assert_int_eq(ofa_name_list(c, ARENA, &v, &n, NULL), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(v[0].name, "x");
    ck_assert_str_eq(v[1].name, "y:1");
    ck_assert_uint_eq(v[0].off, off);
    ck_assert_uint_ge(v[0].size, 256);
    ck_assert_uint_eq(v[0].uid, getuid());
    ck_assert_int_eq(v[0].pid, getpid());
    free(v);
    /* By hand. */
    ck_assert_int_eq(ofa_name_unbind(a, "x"), 0);
    ck_assert_int_eq(ofa_name_unbind(a, "x"), -ENOENT);
    ck_assert_int_eq(ofa_lookup(a, "x", &got, NULL), -ENOENT);
    ck_assert_int_eq(ofa_lookup(a, "y:1", &got, NULL), 0);
    /* With the block: every name it had. */
    ck_assert_int_eq(ofa_name_bind(a, "x", off), 0);
    ck_assert_int_eq(ofa_free(a, off), 0);
    ck_assert_int_eq(ofa_lookup(a, "x", &got, NULL), -ENOENT);
    ck_assert_int_eq(ofa_lookup(a, "y:1", &got, NULL), -ENOENT);
    ck_assert_int_eq(ofa_name_list(c, ARENA, &v, &n, NULL), 0);
    ck_assert_uint_eq(n, 0);
    free(v);
    /* A new block at the same offset is not the old name's. */
    ck_assert_int_eq(ofa_alloc_named(a, "w", 256, 0, &off), 1);
    /* With the arena: dropped, made again, empty. */
    ck_assert_int_eq(ofa_arena_drop(c, ARENA, 1), 0);
    ck_assert_int_eq(ofa_lookup(a, "w", &got, NULL), -ENOENT); /* the handle's arena is gone */
    ck_assert_int_eq(ofa_arena_create(c, ARENA, NULL), 0);
    ofa_arena_close(a);
    ck_assert_int_eq(ofa_arena_open(c, ARENA, &a), 0);
    ck_assert_int_eq(ofa_lookup(a, "w", &got, NULL), -ENOENT);
    ck_assert_int_eq(ofa_lookup_wait(a, "w", 0, &got, NULL), -ETIMEDOUT);
    ck_assert_int_eq(ofa_arena_drop(c, ARENA, 1), 0);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* The per-arena bound: a bind over it fails, and a find-or-allocate that
 * cannot bind leaves no block behind. */
START_TEST(test_limit)
{
    ofa_arena_stats st;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off, other;

    start_with("[ofad]\nmax_names_per_arena = 2\n");
    conn_open(&c, &a);
    ck_assert_int_eq(ofa_alloc_named(a, "a", 64, 0, &off), 1);
    ck_assert_int_eq(ofa_name_bind(a, "b", off), 0);
    ck_assert_int_eq(ofa_name_bind(a, "c", off), -ENOMEM);
    ck_assert_int_eq(ofa_stats(a, &st), 0);
    ck_assert_uint_eq(st.blocks_live, 1);
    ck_assert_int_eq(ofa_alloc_named(a, "c", 64, 0, &other), -ENOMEM);
    ck_assert_int_eq(ofa_stats(a, &st), 0);
    ck_assert_uint_eq(st.blocks_live, 1);
    ck_assert_int_eq(ofa_name_unbind(a, "b"), 0);
    ck_assert_int_eq(ofa_alloc_named(a, "c", 64, 0, &other), 1);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* uidbound: the names one user binds, over every arena                 */

/* Two arenas every user may write, of root (configured). */
#define UID_ARENAS                                                                                 \
    "[arena u1]\npage_size = 64K\nmode = 0666\n"                                                   \
    "[arena u2]\npage_size = 64K\nmode = 0666\n"

static void reload(const char *config)
{
    ck_assert_int_eq(ofad_write_config(&d, config), 0);
    ck_assert_int_eq(ofad_signal(&d, SIGHUP), 0);
    ck_assert_int_eq(ofad_wait_notify(&d, "READY=1"), 0);
}

/* Live blocks of an arena, as the daemon counts them; UINT64_MAX on error. */
static uint64_t live_blocks(ofa_arena *a)
{
    ofa_arena_stats st;

    return ofa_stats(a, &st) == 0 ? st.blocks_live : UINT64_MAX;
}

/* As nobody, bound 3: binds up to it across u1 and an arena of its own,
 * is refused the next bind and find-or-allocate with nothing changed, and
 * leaves its names bound when it goes. Returns 0 or the failed step. */
static int nobody_fill(void *arg)
{
    static const ofa_arena_config small = {.page_size = 64 << 10};
    uint64_t off, k, got;
    ofa_client *c;
    ofa_arena *u1, *mine;

    (void)arg;
    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, "u1", &u1) != 0)
        return 1;
    if (ofa_arena_create(c, "mine", &small) != 0 || ofa_arena_open(c, "mine", &mine) != 0)
        return 2;
    if (ofa_alloc_named(u1, "a", 64, 0, &off) != 1)
        return 3;
    if (ofa_alloc_ex(mine, 64, 0, OFA_KEEP, &k) != 0 || ofa_name_bind(mine, "b", k) != 0 ||
        ofa_name_bind(mine, "c", k) != 0)
        return 4;
    /* Three names over two arenas: the bound, in either arena. */
    if (ofa_name_bind(u1, "d", off) != -EDQUOT || ofa_name_bind(mine, "d", k) != -EDQUOT)
        return 5;
    if (ofa_alloc_named(u1, "d", 64, 0, &got) != -EDQUOT ||
        ofa_alloc_named(mine, "d", 64, OFA_EXCL, &got) != -EDQUOT)
        return 6;
    /* Nothing changed: no block made, no name bound. */
    if (live_blocks(u1) != 1 || live_blocks(mine) != 1 ||
        ofa_lookup(u1, "d", &got, NULL) != -ENOENT || ofa_lookup(mine, "d", &got, NULL) != -ENOENT)
        return 7;
    /* Finding a bound name binds nothing: not refused. */
    if (ofa_alloc_named(u1, "a", 64, 0, &got) != 0 || got != off)
        return 8;
    ofa_disconnect(c);
    return 0;
}

/* As nobody, later, on new connections: its names still count; each way a
 * name goes gives its room back. Returns 0 or the failed step. */
static int nobody_room(void *arg)
{
    uint64_t a, k, pair[2], got;
    ofa_client *c;
    ofa_arena *u1, *u2, *mine;

    (void)arg;
    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, "u1", &u1) != 0 ||
        ofa_arena_open(c, "u2", &u2) != 0 || ofa_arena_open(c, "mine", &mine) != 0)
        return 1;
    /* Counted whether or not the user was connected meanwhile. */
    if (ofa_lookup(u1, "a", &a, NULL) != 0 || ofa_lookup(mine, "b", &k, NULL) != 0)
        return 2;
    if (ofa_name_bind(u1, "e", a) != -EDQUOT || ofa_alloc_named(u2, "e", 64, 0, &got) != -EDQUOT)
        return 3;
    /* Unbind: one name back. */
    if (ofa_name_unbind(mine, "c") != 0 || ofa_alloc_named(u2, "e", 64, 0, &got) != 1 ||
        ofa_name_bind(u2, "f", got) != -EDQUOT)
        return 4;
    /* Freeing a named block: its names back (e). */
    if (ofa_free(u2, got) != 0 || ofa_lookup(u2, "e", &got, NULL) != -ENOENT)
        return 5;
    /* FREE_N: two named blocks freed in one request, both back. */
    if (ofa_alloc_ex(u2, 64, 0, OFA_KEEP, &pair[0]) != 0 ||
        ofa_alloc_ex(u2, 64, 0, OFA_KEEP, &pair[1]) != 0 || ofa_name_bind(u2, "f", pair[0]) != 0 ||
        ofa_name_bind(u2, "g", pair[1]) != -EDQUOT)
        return 6;
    if (ofa_free_many(u2, pair, 2) != 2 || ofa_name_bind(u1, "g", a) != 0 ||
        ofa_name_bind(u1, "h", a) != -EDQUOT)
        return 7;
    /* Dropping an arena: its names back (b). */
    ofa_arena_close(mine);
    if (ofa_arena_drop(c, "mine", 1) != 0)
        return 8;
    if (ofa_name_bind(u1, "h", a) != 0 || ofa_name_bind(u1, "i", a) != -EDQUOT)
        return 9;
    ofa_disconnect(c);
    return 0;
}

/* Runs fn as nobody, which must return 0 (else the step that failed). */
static void as_nobody(int (*fn)(void *))
{
    int rc = harness_as_user("nobody", (gid_t)-1, fn, NULL);

    ck_assert_msg(rc == 0, "step %d failed as nobody", rc);
}

/* ofad with config, its socket open to every user. */
static void start_open(const char *config)
{
    start_with(config);
    ck_assert_int_eq(ofad_open_to_all(&d), 0);
}

START_TEST(test_uid_bound)
{
    ofa_name_info *v;
    ofa_client *c;
    ofa_arena *u1, *u2;
    uint64_t off, got;
    size_t n;

    start_open("[ofad]\nmax_names_per_uid = 3\n" UID_ARENAS);
    as_nobody(nobody_fill);
    ck_assert(ofad_log_has(&d, "name bind refused arena=u1 err=EDQUOT limit=max_names_per_uid"));

    /* Root is not bounded, and not held back by nobody's names. */
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "u1", &u1), 0);
    ck_assert_int_eq(ofa_arena_open(c, "u2", &u2), 0);
    ck_assert_int_eq(ofa_alloc_named(u2, "r0", 64, 0, &off), 1);
    for (int i = 1; i < 8; i++) {
        char name[8];
        snprintf(name, sizeof(name), "r%d", i);
        ck_assert_int_eq(ofa_name_bind(u2, name, off), 0);
        ck_assert_int_eq(ofa_alloc_named(u1, name, 64, 0, &got), 1);
    }
    /* Nobody's names are listed as its own, and stayed when it left. */
    ck_assert_int_eq(ofa_name_list(c, "u1", &v, &n, NULL), 0);
    ck_assert_uint_eq(n, 8);
    ck_assert_str_eq(v[0].name, "a");
    ck_assert_uint_eq(v[0].uid, getpwnam("nobody")->pw_uid);
    ck_assert_uint_eq(v[1].uid, 0);
    free(v);

    as_nobody(nobody_room);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* As nobody, bound 4: binds 4 names in u1. */
static int nobody_four(void *arg)
{
    uint64_t off;
    ofa_client *c;
    ofa_arena *u1;

    (void)arg;
    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, "u1", &u1) != 0)
        return 1;
    if (ofa_alloc_named(u1, "n1", 64, 0, &off) != 1 || ofa_name_bind(u1, "n2", off) != 0 ||
        ofa_name_bind(u1, "n3", off) != 0 || ofa_name_bind(u1, "n4", off) != 0)
        return 2;
    if (ofa_name_bind(u1, "n5", off) != -EDQUOT)
        return 3;
    ofa_disconnect(c);
    return 0;
}

/* As nobody, after the bound went down to 2: its 4 names stay; it binds
 * again only once under the new bound. */
static int nobody_after_reload(void *arg)
{
    uint64_t off, got;
    ofa_client *c;
    ofa_arena *u1;

    (void)arg;
    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, "u1", &u1) != 0)
        return 1;
    for (int i = 1; i <= 4; i++) {
        char name[8];
        snprintf(name, sizeof(name), "n%d", i);
        if (ofa_lookup(u1, name, &got, NULL) != 0)
            return 2;
    }
    off = got;
    if (ofa_name_bind(u1, "n5", off) != -EDQUOT ||
        ofa_alloc_named(u1, "n5", 64, 0, &got) != -EDQUOT)
        return 3;
    /* 3 names, still not under 2. */
    if (ofa_name_unbind(u1, "n4") != 0 || ofa_name_bind(u1, "n5", off) != -EDQUOT)
        return 4;
    /* 1 name: room for one. */
    if (ofa_name_unbind(u1, "n3") != 0 || ofa_name_unbind(u1, "n2") != 0 ||
        ofa_name_bind(u1, "n5", off) != 0 || ofa_name_bind(u1, "n6", off) != -EDQUOT)
        return 5;
    ofa_disconnect(c);
    return 0;
}

START_TEST(test_uid_reload)
{
    start_open("[ofad]\nmax_names_per_uid = 4\n" UID_ARENAS);
    as_nobody(nobody_four);
    reload("[ofad]\nmax_names_per_uid = 2\n" UID_ARENAS);
    ck_assert(ofad_log_has(&d, "reload: max_names_per_uid lowered"));
    as_nobody(nobody_after_reload);
    stop();
}
END_TEST

/* As nobody, bound 3: binds 3 names in u1 and u2 before a restart. */
static int nobody_three(void *arg)
{
    uint64_t off, got;
    ofa_client *c;
    ofa_arena *u1, *u2;

    (void)arg;
    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, "u1", &u1) != 0 ||
        ofa_arena_open(c, "u2", &u2) != 0)
        return 1;
    if (ofa_alloc_named(u1, "s1", 64, 0, &off) != 1 || ofa_name_bind(u1, "s2", off) != 0 ||
        ofa_alloc_named(u2, "s3", 64, 0, &got) != 1)
        return 2;
    if (ofa_name_bind(u1, "s4", off) != -EDQUOT)
        return 3;
    ofa_disconnect(c);
    return 0;
}

/* As nobody, after the restart: its names came back and still count. */
static int nobody_restored(void *arg)
{
    uint64_t off, got;
    ofa_client *c;
    ofa_arena *u1, *u2;

    (void)arg;
    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, "u1", &u1) != 0 ||
        ofa_arena_open(c, "u2", &u2) != 0)
        return 1;
    if (ofa_lookup(u1, "s1", &off, NULL) != 0 || ofa_lookup(u1, "s2", &got, NULL) != 0 ||
        got != off || ofa_lookup(u2, "s3", &got, NULL) != 0)
        return 2;
    if (ofa_name_bind(u1, "s4", off) != -EDQUOT ||
        ofa_alloc_named(u2, "s4", 64, 0, &got) != -EDQUOT)
        return 3;
    if (ofa_name_unbind(u1, "s2") != 0 || ofa_name_bind(u1, "s4", off) != 0 ||
        ofa_name_bind(u1, "s5", off) != -EDQUOT)
        return 4;
    ofa_disconnect(c);
    return 0;
}

/* The keeper process of a state directory, from its pid file, or -1. */
static pid_t keeper_of(const char *state)
{
    char path[PATH_MAX], line[32] = "";
    FILE *f;

    snprintf(path, sizeof(path), "%s/keeper.pid", state);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fgets(line, sizeof(line), f) == NULL)
        line[0] = '\0';
    fclose(f);
    return atoi(line) > 0 ? atoi(line) : -1;
}

/* Names rebuilt from a state directory by a new ofad count against the
 * uids that bound them, like names bound by requests. */
START_TEST(test_uid_restart)
{
    static const char conf[] = "[ofad]\nmax_names_per_uid = 3\n" UID_ARENAS;
    char state[sizeof(d.dir) + 8];
    const char *args[] = {"--state-dir", state, NULL};
    struct ofad_opts o = {.args = args, .with_config = true, .reuse = true};
    pid_t keeper;
    int pfd, gone;

    /* No service manager here: the pages wait in ofad's keeper process. */
    setenv("OFAD_FDSTORE", "keeper", 1);
    ck_assert_int_eq(ofad_prepare(&d), 0);
    snprintf(state, sizeof(state), "%s/state", d.dir);
    ck_assert_int_eq(ofad_write_config(&d, conf), 0);
    ck_assert_int_eq(ofad_start_opts(&d, &o), 0);
    ck_assert_int_eq(ofad_open_to_all(&d), 0);
    as_nobody(nobody_three);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ck_assert_int_eq(ofad_start_opts(&d, &o), 0);
    ck_assert_int_eq(ofad_open_to_all(&d), 0);
    as_nobody(nobody_restored);
    ck_assert_int_eq(ofad_stop(&d), 0);
    /* Removing the state directory ends the keeper, with the pages. */
    keeper = keeper_of(state);
    ck_assert_int_gt(keeper, 0);
    pfd = (int)syscall(SYS_pidfd_open, keeper, 0);
    ofad_cleanup(&d);
    gone = pfd < 0 || poll(&(struct pollfd){.fd = pfd, .events = POLLIN}, 1, HARNESS_WAIT_MS) == 1;
    if (!gone)
        kill(keeper, SIGKILL);
    if (pfd >= 0)
        close(pfd);
    unsetenv("OFAD_FDSTORE");
    ck_assert_msg(gone, "the keeper outlived its state directory");
}
END_TEST

/* ------------------------------------------------------------------ */
/* uidcount: the daemon's per-uid counts (names.c itself, white-box)    */

#define UC_DIRS  3
#define UC_NAMES 400 /* names of each directory: "n<i>" */
#define UC_UIDS  64
#define UC_BOUND 30

/* The block of name i: names i, i + 50, ... share one. */
static uint64_t uc_off(uint32_t i)
{
    return (uint64_t)(i % 50 + 1) * 64;
}

/* Half the uids small and dense, half crowded onto the last 4 homes of
 * the table at every size it takes here (16 to 128 slots), so that runs
 * wrap around its end and deletions move entries across it. */
static void uc_uids(uint32_t *uids)
{
    uint32_t n = 0;

    for (uint32_t u = 0; n < UC_UIDS / 2; u++)
        uids[n++] = u;
    for (uint32_t u = 1000; n < UC_UIDS; u++) {
        if ((((uint64_t)u * 0x9e3779b97f4a7c15ull) >> 32 & 127) >= 124)
            uids[n++] = u;
    }
}

/* Random binds, unbinds, frees of blocks and ends of directories, over
 * directories sharing one table, against counts kept here. */
START_TEST(test_uid_counts)
{
    const char *env = getenv("OFA_SEED");
    uint64_t seed = env != NULL ? strtoull(env, NULL, 0) : 0x5eed0000u + (uint64_t)_i;
    uint64_t x = seed | 1;
    static uint32_t owner[UC_DIRS][UC_NAMES]; /* index of the binding uid, or UC_UIDS */
    uint32_t uids[UC_UIDS], want[UC_UIDS] = {0};
    struct names dir[UC_DIRS];
    struct names_uids t;

    fprintf(stderr, "check_names: uidcount seed %llu\n", (unsigned long long)seed);
    uc_uids(uids);
    names_uids_init(&t);
    for (int k = 0; k < UC_DIRS; k++) {
        names_init(&dir[k], &t);
        for (int i = 0; i < UC_NAMES; i++)
            owner[k][i] = UC_UIDS;
    }
    for (uint32_t step = 0; step < 200000; step++) {
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        uint64_t r = x * 0x2545f4914f6cdd1dull;
        uint32_t k = (uint32_t)(r % UC_DIRS), i = (uint32_t)(r >> 8) % UC_NAMES;
        uint32_t u = (uint32_t)(r >> 20) % UC_UIDS, op = (uint32_t)(r >> 32) % 8;
        char name[16];
        int len = snprintf(name, sizeof(name), "n%u", i), rc;

        if (op < 4) {
            int expect = owner[k][i] != UC_UIDS ? -EEXIST : want[u] >= UC_BOUND ? -EDQUOT : 0;
            rc =
                names_bind(&dir[k], name, (size_t)len, uc_off(i), uids[u], 0, UINT32_MAX, UC_BOUND);
            if (rc != expect)
                ck_abort_msg("step %u: bind %s: %d, not %d", step, name, rc, expect);
            if (rc == 0) {
                owner[k][i] = u;
                want[u]++;
            }
        } else if (op < 6) {
            rc = names_unbind(&dir[k], name, (size_t)len);
            if (rc != (owner[k][i] == UC_UIDS ? -ENOENT : 0))
                ck_abort_msg("step %u: unbind %s: %d", step, name, rc);
            if (rc == 0) {
                want[owner[k][i]]--;
                owner[k][i] = UC_UIDS;
            }
        } else if (op < 7 || (r >> 40) % 256 != 0) {
            /* The block of name i is freed: every name on it goes. */
            uint32_t gone = 0;
            for (uint32_t j = i % 50; j < UC_NAMES; j += 50) {
                if (owner[k][j] != UC_UIDS) {
                    want[owner[k][j]]--;
                    owner[k][j] = UC_UIDS;
                    gone++;
                }
            }
            if (names_unbind_off(&dir[k], uc_off(i)) != gone)
                ck_abort_msg("step %u: free of %s's block: not %u names", step, name, gone);
        } else {
            /* The arena is dropped. */
            names_fini(&dir[k]);
            for (int j = 0; j < UC_NAMES; j++) {
                if (owner[k][j] != UC_UIDS)
                    want[owner[k][j]]--;
                owner[k][j] = UC_UIDS;
            }
        }
        if (step % 97 == 0 || op >= 6) {
            uint32_t used = 0;
            for (int v = 0; v < UC_UIDS; v++) {
                if (names_uid_count(&t, uids[v]) != want[v])
                    ck_abort_msg("step %u: uid %u has %u names, not %u", step, uids[v],
                                 names_uid_count(&t, uids[v]), want[v]);
                used += want[v] > 0;
            }
            if (t.used != used)
                ck_abort_msg("step %u: %u uids in the table, not %u", step, t.used, used);
        }
    }
    for (int k = 0; k < UC_DIRS; k++)
        names_fini(&dir[k]);
    ck_assert_uint_eq(t.used, 0);
    for (int v = 0; v < UC_UIDS; v++)
        ck_assert_uint_eq(names_uid_count(&t, uids[v]), 0);
    names_uids_fini(&t);
}
END_TEST

static Suite *names_suite(void)
{
    Suite *s = suite_create("names");
    TCase *tc;

    tc = tcase_create("wait");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_consumer_first);
    tcase_add_test(tc, test_wait_other_calls);
    tcase_add_test(tc, test_wait_drop);
    suite_add_tcase(s, tc);

    tc = tcase_create("race");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_race);
    tcase_add_test(tc, test_excl);
    suite_add_tcase(s, tc);

    tc = tcase_create("kill9");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_kill9);
    suite_add_tcase(s, tc);

    tc = tcase_create("timeouts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_timeouts);
    suite_add_tcase(s, tc);

    tc = tcase_create("permissions");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_permissions);
    suite_add_tcase(s, tc);

    tc = tcase_create("unbind");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_unbind);
    tcase_add_test(tc, test_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("uidbound");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_uid_bound);
    tcase_add_test(tc, test_uid_reload);
    suite_add_tcase(s, tc);

    tc = tcase_create("uidrestart");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_uid_restart);
    suite_add_tcase(s, tc);

    tc = tcase_create("uidcount");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_uid_counts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(names_suite());
}

/*
 * check_resume.c - resumable sessions against a real ofad: a lost
 * connection keeps a session's blocks, RESUME proves the process, a resent
 * request takes effect once, and a session ends with BYE, with its process
 * or after the grace time. The library resumes by itself.
 *
 * Each test starts its own ofad (tests/harness.h). Child processes report
 * through their exit status and leave with _exit(). Waiting for the daemon
 * to notice a closed connection or a dead process is a bounded poll of the
 * arena's statistics, not a sleep.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "ofaclient.h"

#define ARENA "t"

static struct ofad d;

static void start(const char *const *extra)
{
    const char *args[8] = {"--arena", ARENA ",page_size=64K,max=16M"};
    int n = 2;

    for (; extra != NULL && *extra != NULL && n < 7; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    ck_assert_int_eq(ofad_start(&d, args), 0);
}

static void stop(void)
{
    ck_assert_int_eq(ofad_stop(&d), 0);
    ck_assert_int_eq(ofad_segments(d.tag), 0);
    ofad_cleanup(&d);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t live_blocks(void)
{
    struct proto_arena_info st;
    struct rawc c;

    ck_assert_int_eq(rawc_connect(&c, d.socket), 0);
    ck_assert_int_eq(rawc_hello(&c), 0);
    ck_assert_int_eq(rawc_stats(&c, ARENA, &st), 0);
    rawc_close(&c);
    return st.blocks_live;
}

/* The daemon notices closes and deaths asynchronously: poll, bounded. */
static void wait_blocks(uint64_t want)
{
    int64_t end = now_ms() + HARNESS_WAIT_MS;
    uint64_t n;

    while ((n = live_blocks()) != want && now_ms() < end) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    ck_assert_uint_eq(n, want);
}

static void raw_start(struct rawc *c)
{
    ck_assert_int_eq(rawc_connect(c, d.socket), 0);
    ck_assert_int_eq(rawc_hello(c), 0);
}

/* ---- wire ---- */

START_TEST(test_resent_requests_once)
{
    uint64_t sid, secret, off, off2, id_alloc, id_free, id_open;
    struct proto_req q;
    struct proto_rep r;
    uint32_t h, h2;
    struct rawc c;

    start(NULL);
    raw_start(&c);
    ck_assert_int_eq(rawc_session(&c, &sid, &secret), 0);
    ck_assert_uint_ne(sid, 0);
    ck_assert_int_eq(rawc_open(&c, ARENA, &h, NULL), 0);
    ck_assert_int_eq(rawc_alloc(&c, h, 100, 0, &off), 0);
    id_alloc = c.next_id;
    /* The connection is lost (no BYE): the block stays. */
    rawc_close(&c);
    ck_assert_uint_eq(live_blocks(), 1);

    /* The same process resumes and resends the ALLOC it got no answer
     * to: same offset, nothing allocated twice. */
    raw_start(&c);
    ck_assert_int_eq(rawc_resume(&c, sid, secret), 0);
    c.next_id = id_alloc - 1;
    ck_assert_int_eq(rawc_alloc(&c, h, 100, 0, &off2), 0);
    ck_assert_uint_eq(off2, off);
    ck_assert_uint_eq(live_blocks(), 1);
    /* The handle still works: a new request is served as new. */
    ck_assert_int_eq(rawc_alloc(&c, h, 100, 0, &off2), 0);
    ck_assert_uint_ne(off2, off);
    ck_assert_uint_eq(live_blocks(), 2);
    ck_assert_int_eq(rawc_free(&c, h, off2), 0);
    ck_assert_int_eq(rawc_free(&c, h, off), 0);
    id_free = c.next_id;
    rawc_close(&c);

    /* A resent FREE does not come back EINVAL. */
    raw_start(&c);
    ck_assert_int_eq(rawc_resume(&c, sid, secret), 0);
    c.next_id = id_free - 1;
    ck_assert_int_eq(rawc_free(&c, h, off), 0);
    ck_assert_uint_eq(live_blocks(), 0);
    /* ...but only the resent one: a new FREE of it is refused. */
    ck_assert_int_eq(rawc_free(&c, h, off), -EINVAL);

    /* OPEN resent: the same handle, not a second one. */
    memset(&q, 0, sizeof(q));
    q.op = PROTO_OP_OPEN;
    q.u.open.name.ptr = ARENA;
    q.u.open.name.len = 1;
    ck_assert_int_eq(rawc_call(&c, &q, &r, NULL), 0);
    h2 = r.u.open.arena;
    id_open = c.next_id;
    rawc_close(&c);
    raw_start(&c);
    ck_assert_int_eq(rawc_resume(&c, sid, secret), 0);
    c.next_id = id_open - 1;
    ck_assert_int_eq(rawc_call(&c, &q, &r, NULL), 0);
    ck_assert_uint_eq(r.u.open.arena, h2);
    ck_assert_int_eq(rawc_alloc(&c, h2, 64, 0, &off), 0);

    /* BYE ends it: the block goes, and the session cannot come back. */
    memset(&q, 0, sizeof(q));
    q.op = PROTO_OP_BYE;
    ck_assert_int_eq(rawc_call(&c, &q, &r, NULL), 0);
    ck_assert_int_eq(rawc_wait_eof(&c), 0);
    rawc_close(&c);
    ck_assert_uint_eq(live_blocks(), 0);
    raw_start(&c);
    ck_assert_int_eq(rawc_resume(&c, sid, secret), -ESRCH);
    rawc_close(&c);
    stop();
}
END_TEST

/* Resumes sid as another process (a child): the kernel's pid says no. */
static int resume_from_child(uint64_t sid, uint64_t secret)
{
    pid_t pid = fork();
    int st;

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rawc c;
        int rc;
        if (rawc_connect(&c, d.socket) != 0 || rawc_hello(&c) != 0)
            _exit(100);
        rc = rawc_resume(&c, sid, secret);
        _exit(rc == -EPERM ? 0 : 101);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int resume_as_nobody(void *arg)
{
    const uint64_t *v = arg;
    struct rawc c;

    if (rawc_connect(&c, d.socket) != 0 || rawc_hello(&c) != 0)
        return 100;
    return rawc_resume(&c, v[0], v[1]) == -EPERM ? 0 : 101;
}

START_TEST(test_resume_refused)
{
    uint64_t sid, secret, off, v[2];
    uint32_t h;
    struct rawc c, c2;

    start(NULL);
    raw_start(&c);
    ck_assert_int_eq(rawc_session(&c, &sid, &secret), 0);
    ck_assert_int_eq(rawc_open(&c, ARENA, &h, NULL), 0);
    ck_assert_int_eq(rawc_alloc(&c, h, 100, 0, &off), 0);
    rawc_close(&c);

    raw_start(&c2);
    /* Unknown session; wrong secret. */
    ck_assert_int_eq(rawc_resume(&c2, sid + 1000, secret), -ESRCH);
    ck_assert_int_eq(rawc_resume(&c2, sid, secret ^ 1), -EPERM);
    rawc_close(&c2);
    /* The right secret from another process, or another user. */
    ck_assert_int_eq(resume_from_child(sid, secret), 0);
    v[0] = sid;
    v[1] = secret;
    if (geteuid() == 0) {
        ck_assert_int_eq(ofad_open_to_all(&d), 0);
        ck_assert_int_eq(harness_as_user("nobody", (gid_t)-1, resume_as_nobody, v), 0);
    }
    ck_assert_uint_eq(live_blocks(), 1);

    /* A connection that holds a handle of its own cannot take another's
     * session. */
    raw_start(&c2);
    ck_assert_int_eq(rawc_open(&c2, ARENA, &h, NULL), 0);
    ck_assert_int_eq(rawc_resume(&c2, sid, secret), -EINVAL);
    rawc_close(&c2);

    /* Still the owner's to take. */
    raw_start(&c2);
    ck_assert_int_eq(rawc_resume(&c2, sid, secret), 0);
    ck_assert_int_eq(rawc_free(&c2, h, off), 0);
    rawc_close(&c2);
    stop();
}
END_TEST

START_TEST(test_plain_connection_unchanged)
{
    uint64_t off;
    uint32_t h;
    struct rawc c;

    /* No SESSION: the blocks go with the connection, as they always did. */
    start(NULL);
    raw_start(&c);
    ck_assert_int_eq(rawc_open(&c, ARENA, &h, NULL), 0);
    ck_assert_int_eq(rawc_alloc(&c, h, 100, 0, &off), 0);
    ck_assert_int_eq(rawc_alloc(&c, h, 100, PROTO_ALLOC_KEEP, &off), 0);
    rawc_close(&c);
    wait_blocks(1); /* the KEEP block */
    stop();
}
END_TEST

/* ---- lifetime ---- */

START_TEST(test_ends_with_process)
{
    int go[2], st;
    pid_t pid;
    char b;

    start(NULL);
    ck_assert_int_eq(pipe(go), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ofa_client *c;
        ofa_arena *a;
        uint64_t off;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(go[0]);
        if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
            _exit(100);
        for (int i = 0; i < 5; i++)
            if (ofa_alloc(a, 256, &off) != 0)
                _exit(101);
        if (write(go[1], "k", 1) != 1)
            _exit(102);
        pause();
        _exit(0);
    }
    close(go[1]);
    ck_assert_int_eq(read(go[0], &b, 1), 1);
    close(go[0]);
    ck_assert_uint_eq(live_blocks(), 5);
    /* kill -9: the connection is lost, and so is the process: the session
     * must not wait for a resume that cannot come. */
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    wait_blocks(0);
    ck_assert(ofad_log_has(&d, "reason=process exited"));
    stop();
}
END_TEST

START_TEST(test_ends_after_grace)
{
    uint64_t sid, secret, off;
    uint32_t h;
    struct rawc c;

    ck_assert_int_eq(ofad_prepare(&d), 0);
    ck_assert_int_eq(ofad_write_config(&d, "[ofad]\nsession_grace = 1\n"), 0);
    {
        const char *args[] = {"--arena", ARENA ",page_size=64K,max=16M", "--config", d.config,
                              NULL};
        struct ofad_opts o = {.args = args, .reuse = true};
        ck_assert_int_eq(ofad_start_opts(&d, &o), 0);
    }
    raw_start(&c);
    ck_assert_int_eq(rawc_session(&c, &sid, &secret), 0);
    ck_assert_int_eq(rawc_open(&c, ARENA, &h, NULL), 0);
    ck_assert_int_eq(rawc_alloc(&c, h, 100, 0, &off), 0);
    rawc_close(&c);
    /* This process lives on but never resumes: after the grace time the
     * session ends and its block is freed. */
    wait_blocks(0);
    ck_assert(ofad_log_has(&d, "reason=grace time passed"));
    raw_start(&c);
    ck_assert_int_eq(rawc_resume(&c, sid, secret), -ESRCH);
    rawc_close(&c);
    stop();
}
END_TEST

START_TEST(test_disconnect_ends_session)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;

    start(NULL);
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, ARENA, &a), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ofa_alloc(a, 256, &off), 0);
    ck_assert_uint_eq(live_blocks(), 3);
    ofa_disconnect(c); /* BYE: this process lives on, its blocks go */
    wait_blocks(0);
    ck_assert(ofad_log_has(&d, "reason=bye"));
    stop();
}
END_TEST

/* ---- library ---- */

/* Shuts down every connection of this process to the daemon's socket, as
 * a lost connection looks from both ends. Returns how many. */
static int cut_connections(void)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    ck_assert_ptr_nonnull(dir);
    while ((e = readdir(dir)) != NULL) {
        struct sockaddr_un sa;
        socklen_t len = sizeof(sa);
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dirfd(dir))
            continue;
        memset(&sa, 0, sizeof(sa));
        if (getpeername(fd, (struct sockaddr *)&sa, &len) == 0 && sa.sun_family == AF_UNIX &&
            strcmp(sa.sun_path, d.socket) == 0) {
            shutdown(fd, SHUT_RDWR);
            n++;
        }
    }
    closedir(dir);
    return n;
}

/* Allocates n blocks of size bytes, block i filled with byte base + i. */
static void fill_blocks(ofa_arena *a, uint64_t *offs, int n, uint64_t size, int base)
{
    for (int i = 0; i < n; i++) {
        uint8_t *p;
        ck_assert_int_eq(ofa_alloc(a, size, &offs[i]), 0);
        p = ofa_ptr(a, offs[i]);
        ck_assert_ptr_nonnull(p);
        memset(p, base + i, size);
    }
}

/* Checks what fill_blocks wrote. */
static void check_blocks(ofa_arena *a, const uint64_t *offs, int n, uint64_t size, int base)
{
    for (int i = 0; i < n; i++) {
        const uint8_t *p = ofa_ptr(a, offs[i]);
        ck_assert_ptr_nonnull(p);
        for (uint64_t k = 0; k < size; k++)
            ck_assert_uint_eq(p[k], (uint8_t)(base + i));
    }
}

START_TEST(test_library_rides_through)
{
    uint64_t offs[8], off;
    ofa_client *c;
    ofa_arena *a;

    start(NULL);
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, ARENA, &a), 0);
    fill_blocks(a, offs, 8, 1000, 0x40);
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(cut_connections(), 1);
        /* The next call finds the connection gone, resumes, and succeeds;
         * the program does nothing special. */
        ck_assert_int_eq(ofa_alloc(a, 500, &off), 0);
        ck_assert_int_eq(ofa_free(a, off), 0);
        ck_assert_uint_eq(live_blocks(), 8);
    }
    check_blocks(a, offs, 8, 1000, 0x40);
    ck_assert_int_eq(cut_connections(), 1);
    ck_assert_int_eq(ofa_free_many(a, offs, 8), 8);
    ck_assert_uint_eq(live_blocks(), 0);
    ck_assert(ofad_log_has(&d, "session resumed"));
    ofa_disconnect(c);
    stop();
}
END_TEST

START_TEST(test_library_after_timeout)
{
    uint64_t offs[4], off;
    ofa_client *c;
    ofa_arena *a;

    start(NULL);
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, ARENA, &a), 0);
    fill_blocks(a, offs, 4, 2000, 0x70);
    /* The daemon stops answering: the call runs out of time and drops the
     * connection, not the session. */
    ck_assert_int_eq(ofa_set_timeout(c, 300), 0);
    ck_assert_int_eq(ofad_signal(&d, SIGSTOP), 0);
    ck_assert_int_eq(ofa_alloc(a, 100, &off), -ETIMEDOUT);
    ck_assert_int_eq(ofad_signal(&d, SIGCONT), 0);
    /* The next call reconnects, resumes and carries on with every block. */
    ck_assert_int_eq(ofa_set_timeout(c, HARNESS_WAIT_MS), 0);
    ck_assert_int_eq(ofa_alloc(a, 100, &off), 0);
    ck_assert_int_eq(ofa_free(a, off), 0);
    /* The request that timed out was an ALLOC the daemon may have served
     * when it woke: at most that one block more, which the session owns
     * and the disconnect frees. */
    ck_assert_uint_le(live_blocks(), 5);
    ck_assert_uint_ge(live_blocks(), 4);
    check_blocks(a, offs, 4, 2000, 0x70);
    ck_assert_int_eq(ofa_free_many(a, offs, 4), 4);
    ofa_disconnect(c);
    wait_blocks(0);
    stop();
}
END_TEST

/* ---- random cuts under load ---- */

#define CUT_CLIENTS 4
#define CUT_OPS     3000
#define CUT_HELD    64

static uint64_t rnd_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct cutter {
    volatile int stop;
    uint64_t seed;
    int cuts;
};

/* Cuts this process's connection at random instants, most often while the
 * main thread is inside a call: before the request went, after the daemon
 * did it but before the reply came, or in the middle of a resume. */
static void *cutter_main(void *arg)
{
    struct cutter *ct = arg;

    while (!ct->stop) {
        struct timespec ts = {0, (long)(200000 + rnd_next(&ct->seed) % 3000000)};
        nanosleep(&ts, NULL);
        ct->cuts += cut_connections();
    }
    return NULL;
}

static uint8_t pattern_of(uint64_t off)
{
    return (uint8_t)(off >> 6 ^ off >> 14 ^ 0x5a);
}

/* One client: random allocs and frees with patterns, every call expected to
 * succeed while its connection is cut under it. Writes its live block count
 * to wfd, waits for the parent to close rfd's other end, exits holding them. */
static int cut_client(uint64_t seed, int wfd, int rfd)
{
    uint64_t held[CUT_HELD], sizes[CUT_HELD], s = seed;
    struct cutter ct = {0, seed ^ 0xc0ffee, 0};
    unsigned n = 0;
    pthread_t th;
    ofa_client *c;
    ofa_arena *a;
    uint8_t *p;
    char b;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 10;
    ofa_set_timeout(c, HARNESS_WAIT_MS);
    if (pthread_create(&th, NULL, cutter_main, &ct) != 0)
        return 11;
    for (int op = 0; op < CUT_OPS; op++) {
        uint64_t r = rnd_next(&s);
        if (n < CUT_HELD && (n == 0 || r % 2 == 0)) {
            uint64_t size = 16 + rnd_next(&s) % 4000, off;
            int rc = ofa_alloc(a, size, &off);
            if (rc != 0) {
                fprintf(stderr, "alloc failed: %s\n", ofa_err_name(rc));
                return 12;
            }
            p = ofa_ptr(a, off);
            if (p == NULL)
                return 13;
            memset(p, pattern_of(off), size);
            held[n] = off;
            sizes[n++] = size;
        } else {
            unsigned k = (unsigned)(rnd_next(&s) % n);
            int rc;
            p = ofa_ptr(a, held[k]);
            for (uint64_t i = 0; p != NULL && i < sizes[k]; i++)
                if (p[i] != pattern_of(held[k]))
                    return 14; /* someone else wrote into our block */
            rc = ofa_free(a, held[k]);
            if (rc != 0) {
                fprintf(stderr, "free failed: %s\n", ofa_err_name(rc));
                return 15;
            }
            held[k] = held[--n];
            sizes[k] = sizes[n];
        }
    }
    ct.stop = 1;
    pthread_join(th, NULL);
    for (unsigned k = 0; k < n; k++) {
        p = ofa_ptr(a, held[k]);
        for (uint64_t i = 0; p != NULL && i < sizes[k]; i++)
            if (p[i] != pattern_of(held[k]))
                return 16;
    }
    if (ct.cuts == 0)
        return 17;
    if (write(wfd, &n, sizeof(n)) != (ssize_t)sizeof(n))
        return 18;
    close(wfd); /* the parent's reads end when every client has written or gone */
    /* Exit holding the blocks: the process's end ends the session. */
    while (read(rfd, &b, 1) < 0 && errno == EINTR)
        ;
    return 0;
}

START_TEST(test_random_cuts)
{
    const char *env = getenv("OFA_SEED");
    uint64_t seed = env != NULL ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    int counts[2], release[2], st;
    pid_t pids[CUT_CLIENTS];
    uint64_t total = 0;
    ofa_client *c;

    fprintf(stderr, "check_resume random_cuts: seed %" PRIu64 " (OFA_SEED=%" PRIu64 " replays)\n",
            seed, seed);
    start(NULL);
    ck_assert_int_eq(pipe(counts), 0);
    ck_assert_int_eq(pipe(release), 0);
    for (int i = 0; i < CUT_CLIENTS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            close(counts[0]);
            close(release[1]);
            _exit(cut_client(seed + (uint64_t)i * 7919, counts[1], release[0]));
        }
    }
    close(counts[1]);
    close(release[0]);
    for (int i = 0; i < CUT_CLIENTS; i++) {
        unsigned n;
        ssize_t k = read(counts[0], &n, sizeof(n));
        if (k != (ssize_t)sizeof(n)) {
            /* a client failed: its exit status says how */
            for (int j = 0; j < CUT_CLIENTS; j++) {
                ck_assert_int_eq(waitpid(pids[j], &st, 0), pids[j]);
                ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                              "client %d failed (status %d, seed %" PRIu64 ")", j, st, seed);
            }
            ck_abort_msg("a client left without a count");
        }
        total += n;
    }
    /* Every resent request took effect once: exactly the blocks the clients
     * hold are live, and the allocator's invariants hold. */
    ck_assert_uint_eq(live_blocks(), total);
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_validate(c, ARENA), 0);
    ofa_disconnect(c);
    close(release[1]);
    for (int i = 0; i < CUT_CLIENTS; i++) {
        ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client %d: status %d (seed %" PRIu64
                      ")", i, st, seed);
    }
    close(counts[0]);
    wait_blocks(0);
    /* Whether some cut fell between a request's reply and its reading (a
     * resend answered from the kept reply) is up to timing: the count above
     * is what must hold either way; resent_requests_once makes that case
     * happen on purpose. */
    stop();
}
END_TEST

static Suite *resume_suite(void)
{
    Suite *s = suite_create("resume");
    TCase *tc;

    tc = tcase_create("wire");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_resent_requests_once);
    tcase_add_test(tc, test_resume_refused);
    tcase_add_test(tc, test_plain_connection_unchanged);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifetime");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ends_with_process);
    tcase_add_test(tc, test_ends_after_grace);
    tcase_add_test(tc, test_disconnect_ends_session);
    suite_add_tcase(s, tc);

    tc = tcase_create("library");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_library_rides_through);
    tcase_add_test(tc, test_library_after_timeout);
    suite_add_tcase(s, tc);

    tc = tcase_create("random");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_random_cuts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(resume_suite());
}

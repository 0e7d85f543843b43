/*
 * check_wake.c - ofa_wait()/ofa_wake(): futex wake-ups on a word of a block,
 * between real processes that mapped the page through a real ofad.
 *
 * The ping-pong passes a counter back and forth a million times; each side
 * checks, every time it wakes, that the word holds exactly the value the
 * other side was to write next, so a lost or a doubled wake-up, or a wait
 * that returned without the word having changed and was not re-checked,
 * fails it (a lost wake-up hangs it until the TCase's timeout).
 *
 * Children report through their exit status only and leave with _exit().
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "ofaclient.h"

#define ARENA "w"
#define ROUNDS 1000000u

static struct ofad d;

static void start(void)
{
    const char *args[] = {"--arena", ARENA ",page_size=64K,max=16M,mode=0644", NULL};

    ck_assert_int_eq(ofad_start(&d, args), 0);
}

static void stop(void)
{
    ck_assert_int_eq(ofad_stop(&d), 0);
    ck_assert_int_eq(ofad_segments(d.tag), 0);
    ofad_cleanup(&d);
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

static uint32_t load(const void *p)
{
    return atomic_load_explicit((_Atomic uint32_t *)p, memory_order_acquire);
}

static void store(void *p, uint32_t v)
{
    atomic_store_explicit((_Atomic uint32_t *)p, v, memory_order_release);
}

/* Waits until the word leaves cur; returns what it holds then, or
 * UINT32_MAX after an error. */
static uint32_t wait_change(ofa_arena *a, uint64_t off, const void *p, uint32_t cur)
{
    uint32_t v;
    int rc;

    for (;;) {
        v = load(p);
        if (v != cur)
            return v;
        rc = ofa_wait(a, off, cur, -1);
        if (rc != 0 && rc != -EAGAIN)
            return UINT32_MAX;
    }
}

/* One side of the ping-pong: side 0 writes odd values, side 1 even ones. */
struct side {
    uint64_t off;
    int side;
};

static int pingpong(void *arg)
{
    struct side *sd = arg;
    ofa_client *c;
    ofa_arena *a;
    uint32_t i, v, want;
    void *p;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    p = ofa_ptr(a, sd->off);
    if (p == NULL)
        return 2;
    for (i = 0; i < ROUNDS; i++) {
        if (sd->side == 0) {
            store(p, 2 * i + 1);
            if (ofa_wake(a, sd->off, 1) < 0)
                return 3;
            want = 2 * i + 2;
            v = wait_change(a, sd->off, p, 2 * i + 1);
        } else {
            want = 2 * i + 1;
            v = wait_change(a, sd->off, p, 2 * i);
        }
        if (v != want)
            return 4; /* a value skipped, repeated or torn */
        if (sd->side == 1) {
            store(p, 2 * i + 2);
            if (ofa_wake(a, sd->off, 1) < 0)
                return 5;
        }
    }
    ofa_disconnect(c);
    return 0;
}

START_TEST(test_pingpong)
{
    struct side s0, s1;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;
    pid_t p0, p1;
    void *p;

    start();
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, ARENA, &a), 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, OFA_KEEP | OFA_ZERO, &off), 0);
    s0.off = s1.off = off;
    s0.side = 0;
    s1.side = 1;
    p1 = fork_child(pingpong, &s1);
    p0 = fork_child(pingpong, &s0);
    ck_assert_int_eq(wait_child(p0), 0);
    ck_assert_int_eq(wait_child(p1), 0);
    p = ofa_ptr(a, off);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(load(p), 2 * ROUNDS);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* A child that waits on the word for ever (read-only handle) and reports
 * what it saw when woken. */
static int reader_waits(void *arg)
{
    uint64_t off = *(uint64_t *)arg;
    ofa_client *c;
    ofa_arena *a;
    void *p;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0 ||
        ofa_arena_writable(a) != 0)
        return 1;
    p = ofa_ptr(a, off);
    if (p == NULL)
        return 2;
    if (wait_change(a, off, p, 0) != 7)
        return 3;
    ofa_disconnect(c);
    return 0;
}

static int as_nobody(void *arg)
{
    return reader_waits(arg);
}

START_TEST(test_readonly)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;
    struct timespec ms = {0, 1000000};
    pid_t pid;
    void *p;
    int rc, woken = 0, i;

    start();
    ck_assert_int_eq(ofad_open_to_all(&d), 0);
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, ARENA, &a), 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, OFA_KEEP | OFA_ZERO, &off), 0);
    p = ofa_ptr(a, off);
    ck_assert_ptr_nonnull(p);

    /* A reader (another uid: a read-only mapping) sleeps on the word;
     * wakes are repeated until one finds it asleep, then the word changes
     * and a last wake lets it out. */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        rc = harness_as_user("nobody", (gid_t)-1, as_nobody, &off);
        _exit(rc);
    }
    for (i = 0; i < HARNESS_WAIT_MS && woken == 0; i++) {
        rc = ofa_wake(a, off, 1);
        ck_assert_int_ge(rc, 0);
        woken = rc;
        if (woken == 0)
            nanosleep(&ms, NULL);
    }
    /* The reader was asleep once and woke to an unchanged word: it sleeps
     * again; now the word changes. */
    ck_assert_int_eq(woken, 1);
    store(p, 7);
    for (i = 0; i < HARNESS_WAIT_MS; i++) {
        ck_assert_int_ge(ofa_wake(a, off, 1), 0);
        if (waitpid(pid, &rc, WNOHANG) == pid)
            break;
        nanosleep(&ms, NULL);
    }
    ck_assert(WIFEXITED(rc));
    ck_assert_int_eq(WEXITSTATUS(rc), 0);
    ofa_disconnect(c);
    stop();
}
END_TEST

START_TEST(test_timeouts)
{
    struct timespec t0, t1;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;
    void *p;

    start();
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, ARENA, &a), 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, OFA_KEEP | OFA_ZERO, &off), 0);
    p = ofa_ptr(a, off);
    ck_assert_ptr_nonnull(p);
    store(p, 5);

    /* 0 only compares. */
    ck_assert_int_eq(ofa_wait(a, off, 5, 0), -ETIMEDOUT);
    ck_assert_int_eq(ofa_wait(a, off, 4, 0), -EAGAIN);
    /* Another value than expected: at once, whatever the timeout. */
    ck_assert_int_eq(ofa_wait(a, off, 4, -1), -EAGAIN);
    ck_assert_int_eq(ofa_wait(a, off, 4, 1000), -EAGAIN);
    /* Nobody wakes it: the time runs out, and not before it. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(ofa_wait(a, off, 5, 50), -ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_ge((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 50);
    ck_assert_uint_eq(load(p), 5);
    ofa_disconnect(c);
    stop();
}
END_TEST

START_TEST(test_errors)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t off, big;

    start();
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, ARENA, &a), 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, OFA_KEEP | OFA_ZERO, &off), 0);

    /* A wake with nobody waiting wakes nobody. */
    ck_assert_int_eq(ofa_wake(a, off, 1), 0);
    ck_assert_int_eq(ofa_wake(a, off, INT32_MAX), 0);
    ck_assert_int_eq(ofa_wake(a, off, 0), 0);
    ck_assert_int_eq(ofa_wake(a, off, -1), -EINVAL);

    /* Misaligned, 0, NULL arena, outside every page of the arena. */
    ck_assert_int_eq(ofa_wait(a, off + 2, 0, 0), -EINVAL);
    ck_assert_int_eq(ofa_wake(a, off + 1, 1), -EINVAL);
    ck_assert_int_eq(ofa_wait(a, 0, 0, 0), -EINVAL);
    ck_assert_int_eq(ofa_wait(NULL, off, 0, 0), -EINVAL);
    ck_assert_int_eq(ofa_wake(NULL, off, 1), -EINVAL);
    ck_assert_int_eq(ofa_wait(a, (uint64_t)1 << 60, 0, 0), -EINVAL);
    ck_assert_int_eq(ofa_wake(a, (uint64_t)1 << 60, 1), -EINVAL);
    /* The last word of the page is a word; one past it is another page's. */
    ck_assert_int_eq(ofa_alloc_ex(a, 64 * 1024, 0, OFA_KEEP, &big), 0);
    ck_assert_int_eq(ofa_wait(a, big + 64 * 1024 - 4, 1, 0), -EAGAIN);
    ck_assert_int_eq(ofa_wake(a, big + 64 * 1024 - 4, 1), 0);
    ck_assert_int_eq(ofa_free(a, big), 0);

    /* Still a working connection after all that. */
    ck_assert_int_eq(ofa_wait(a, off, 0, 0), -ETIMEDOUT);
    ofa_disconnect(c);
    stop();
}
END_TEST

static Suite *wake_suite(void)
{
    Suite *s = suite_create("wake");
    TCase *tc;

    tc = tcase_create("pingpong");
    tcase_set_timeout(tc, 280);
    tcase_add_test(tc, test_pingpong);
    suite_add_tcase(s, tc);

    tc = tcase_create("readonly");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_readonly);
    suite_add_tcase(s, tc);

    tc = tcase_create("timeouts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_timeouts);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(wake_suite());
}

/*
 * check_examples.c - the example programs (examples/) against a real ofad.
 *
 * The list pair is run as a user would run it: the producer builds a list
 * of OFA_KEEP records linked by offsets, publishes its head under a name
 * and exits; the consumer, another process, finds the list by that name
 * (waiting for it when it starts first), walks it, checks every record and
 * frees them all, which unbinds the name. Between the steps the arena's
 * counters and names, read through libofaclient, say what must have
 * happened: the records outlived the producer's connection, a check-only
 * walk changed nothing, the consumer left nothing behind. Also checked: a
 * consumer given a name bound to something that is not a list, or no list
 * at all, fails without freeing anything, and a producer that runs out of
 * room (or finds its name taken) frees what it had allocated (OFA_KEEP
 * blocks would otherwise leak).
 *
 * The ring pair passes blocks through a ring of offsets with futex
 * wake-ups, started in either order.
 *
 * PRODUCER_PATH, CONSUMER_PATH and RING_PATH come from tests/CMakeLists.txt.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "ofaclient.h"

/* A program started in the background, its stdout on a pipe. */
struct proc {
    pid_t pid;
    int out;
};

static void start_proc(struct proc *p, const char *const *argv)
{
    int pfd[2];

    ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
    p->pid = fork();
    ck_assert_int_ge(p->pid, 0);
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], STDOUT_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    p->out = pfd[0];
}

/* Collects its stdout in out and waits for it. Returns the exit code, or
 * 128 + signal. */
static int finish_proc(struct proc *p, char *out, size_t outlen)
{
    size_t len = 0;
    int st;

    for (;;) {
        char sink[256];
        char *dst = len + 1 < outlen ? out + len : sink;
        size_t room = len + 1 < outlen ? outlen - 1 - len : sizeof(sink);
        ssize_t n = read(p->out, dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != sink)
            len += (size_t)n;
    }
    close(p->out);
    out[len] = '\0';
    ck_assert_int_eq(waitpid(p->pid, &st, 0), p->pid);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

/* Runs argv to completion, stdout in out (stderr passed through, so a
 * failing example explains itself in the test log). */
static int run(const char *const *argv, char *out, size_t outlen)
{
    struct proc p;

    start_proc(&p, argv);
    return finish_proc(&p, out, outlen);
}

static int produce(const struct ofad *d, const char *arena, const char *count, const char *name)
{
    const char *const argv[] = {PRODUCER_PATH, "-s", d->socket, "-a", arena, "-n", count, name,
                                NULL};
    char out[256];

    return run(argv, out, sizeof(out));
}

/* The consumer's arguments: -k when keep, -t timeout unless NULL. */
static void consumer_argv(const char **argv, const struct ofad *d, const char *arena,
                          const char *name, bool keep, const char *timeout)
{
    int n = 0;

    argv[n++] = CONSUMER_PATH;
    argv[n++] = "-s";
    argv[n++] = d->socket;
    argv[n++] = "-a";
    argv[n++] = arena;
    if (keep)
        argv[n++] = "-k";
    if (timeout != NULL) {
        argv[n++] = "-t";
        argv[n++] = timeout;
    }
    argv[n++] = name;
    argv[n] = NULL;
}

static int consume(const struct ofad *d, const char *arena, const char *name, bool keep,
                   const char *timeout, char *out, size_t outlen)
{
    const char *argv[12];

    consumer_argv(argv, d, arena, name, keep, timeout);
    return run(argv, out, outlen);
}

static uint64_t blocks_live(const struct ofad *d, const char *arena)
{
    ofa_client *c;
    ofa_arena_info info;

    ck_assert_int_eq(ofa_connect(d->socket, &c), 0);
    ck_assert_int_eq(ofa_arena_info_get(c, arena, &info), 0);
    ofa_disconnect(c);
    return info.stats.blocks_live;
}

/* Names bound in arena now, and lookups waiting there (*waiting). */
static size_t names(const struct ofad *d, const char *arena, uint64_t *waiting)
{
    ofa_name_info *v;
    ofa_client *c;
    size_t n;

    ck_assert_int_eq(ofa_connect(d->socket, &c), 0);
    ck_assert_int_eq(ofa_name_list(c, arena, &v, &n, waiting), 0);
    free(v);
    ofa_disconnect(c);
    return n;
}

/* Polls until a lookup waits in arena (the consumer got there). */
static void wait_for_waiter(const struct ofad *d, const char *arena)
{
    struct timespec ms = {0, 1000000};
    uint64_t w = 0;

    for (int i = 0; i < HARNESS_WAIT_MS && w == 0; i++) {
        names(d, arena, &w);
        if (w == 0)
            nanosleep(&ms, NULL);
    }
    ck_assert_uint_eq(w, 1);
}

/* --- pair: the producer hands a list to the consumer, by name --- */

START_TEST(test_pair)
{
    static const char *const args[] = {"--arena", "list,page_size=256K", NULL};
    char out[512];
    struct ofad d;

    ck_assert_int_eq(ofad_start(&d, args), 0);
    ck_assert_int_eq(produce(&d, "list", "2000", "frames/today"), 0);
    /* The producer is gone; its OFA_KEEP blocks are not: 2000 records and
     * the head, which carries the name. */
    ck_assert_uint_eq(blocks_live(&d, "list"), 2001);
    ck_assert_uint_eq(names(&d, "list", NULL), 1);

    ck_assert_int_eq(consume(&d, "list", "frames/today", true, NULL, out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "2000 records") != NULL, "consumer -k said: %s", out);
    ck_assert_uint_eq(blocks_live(&d, "list"), 2001);

    ck_assert_int_eq(consume(&d, "list", "frames/today", false, NULL, out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "2000 records") != NULL && strstr(out, "freed") != NULL,
                  "consumer said: %s", out);
    ck_assert_uint_eq(blocks_live(&d, "list"), 0);
    ck_assert_uint_eq(names(&d, "list", NULL), 0); /* freeing the head unbound it */

    /* Consumed once: a second consumer finds no list (and waits no longer
     * than it was told). */
    ck_assert_int_eq(consume(&d, "list", "frames/today", false, "0", out, sizeof(out)), 1);
    ck_assert_int_eq(consume(&d, "list", "frames/today", false, "50", out, sizeof(out)), 1);
    ck_assert_uint_eq(blocks_live(&d, "list"), 0);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ofad_cleanup(&d);
}
END_TEST

/* The consumer starts first and waits for the name; the producer comes
 * later. The default name on both sides. */
START_TEST(test_consumer_first)
{
    const char *argv[12];
    char out[512];
    struct proc cons;
    struct ofad d;

    ck_assert_int_eq(ofad_start(&d, NULL), 0);
    consumer_argv(argv, &d, "default", NULL, false, NULL);
    start_proc(&cons, argv);
    wait_for_waiter(&d, "default");
    {
        const char *const pargv[] = {PRODUCER_PATH, "-s", d.socket, "-a", "default", "-n", "300",
                                     NULL};
        ck_assert_int_eq(run(pargv, out, sizeof(out)), 0);
    }
    ck_assert_int_eq(finish_proc(&cons, out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "300 records") != NULL && strstr(out, "freed") != NULL,
                  "consumer said: %s", out);
    ck_assert_uint_eq(blocks_live(&d, "default"), 0);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ofad_cleanup(&d);
}
END_TEST

/* An empty list is a list: a head with no records. */
START_TEST(test_pair_empty)
{
    char out[512];
    struct ofad d;

    ck_assert_int_eq(ofad_start(&d, NULL), 0);
    ck_assert_int_eq(produce(&d, "default", "0", "empty"), 0);
    ck_assert_uint_eq(blocks_live(&d, "default"), 1);
    ck_assert_int_eq(consume(&d, "default", "empty", false, NULL, out, sizeof(out)), 0);
    ck_assert_uint_eq(blocks_live(&d, "default"), 0);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ofad_cleanup(&d);
}
END_TEST

/* --- bad_input: the consumer changes nothing it cannot check --- */

START_TEST(test_consumer_bad_name)
{
    char out[512];
    struct ofad d;
    ofa_client *c;
    ofa_arena *a;
    uint64_t head, junk;
    const uint64_t *h;

    ck_assert_int_eq(ofad_start(&d, NULL), 0);
    ck_assert_int_eq(produce(&d, "default", "50", "good"), 0);
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "default", &a), 0);
    ck_assert_int_eq(ofa_lookup(a, "good", &head, NULL), 0);

    /* A name bound to a record (not a list head), or to a block of
     * zeros: refused, nothing freed. */
    h = ofa_ptr(a, head);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(ofa_name_bind(a, "record", h[2]), 0); /* shared_list.h: first */
    ck_assert_int_eq(consume(&d, "default", "record", false, "0", out, sizeof(out)), 1);
    ck_assert_int_eq(ofa_alloc_ex(a, 4096, 0, OFA_KEEP | OFA_ZERO, &junk), 0);
    ck_assert_int_eq(ofa_name_bind(a, "zeros", junk), 0);
    ck_assert_int_eq(consume(&d, "default", "zeros", false, "0", out, sizeof(out)), 1);
    /* Not bound; not a valid name; no such arena; a bad timeout. */
    ck_assert_int_eq(consume(&d, "default", "nobody", false, "0", out, sizeof(out)), 1);
    ck_assert_int_eq(consume(&d, "default", "a b", false, "0", out, sizeof(out)), 1);
    ck_assert_int_eq(consume(&d, "nosuch", "good", false, "0", out, sizeof(out)), 1);
    ck_assert_int_eq(consume(&d, "default", "good", false, "soon", out, sizeof(out)), 2);
    ck_assert_uint_eq(blocks_live(&d, "default"), 52);

    ck_assert_int_eq(consume(&d, "default", "good", false, NULL, out, sizeof(out)), 0);
    ck_assert_uint_eq(blocks_live(&d, "default"), 1);
    ck_assert_int_eq(ofa_free(a, junk), 0);
    ck_assert_uint_eq(names(&d, "default", NULL), 0);
    ofa_disconnect(c);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ofad_cleanup(&d);
}
END_TEST

/* --- producer_full: a failed producer frees its OFA_KEEP blocks --- */

START_TEST(test_producer_out_of_room)
{
    static const char *const args[] = {"--arena", "small,page_size=64K,max=128K", NULL};
    struct ofad d;

    ck_assert_int_eq(ofad_start(&d, args), 0);
    /* 5000 records of 40 to 240 bytes cannot fit in 128 KiB. */
    ck_assert_int_eq(produce(&d, "small", "5000", "big"), 1);
    ck_assert_uint_eq(blocks_live(&d, "small"), 0);
    ck_assert_uint_eq(names(&d, "small", NULL), 0);
    /* And the arena is usable afterwards. */
    ck_assert_int_eq(produce(&d, "small", "10", "ten"), 0);
    ck_assert_uint_eq(blocks_live(&d, "small"), 11);
    /* A name that is taken: this list goes again, the first stays. */
    ck_assert_int_eq(produce(&d, "small", "10", "ten"), 1);
    ck_assert_uint_eq(blocks_live(&d, "small"), 11);
    ck_assert_uint_eq(names(&d, "small", NULL), 1);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ofad_cleanup(&d);
}
END_TEST

/* --- ring: blocks through a ring of offsets, either side first --- */

static void ring_pair(const struct ofad *d, bool consumer_first)
{
    const char *const cargv[] = {RING_PATH, "-s", d->socket, "consume", "q/1", NULL};
    const char *const pargv[] = {RING_PATH, "-s", d->socket, "-n", "5000", "-z", "100",
                                 "produce", "q/1", NULL};
    struct proc cons, prod;
    char out[512];

    if (consumer_first) {
        start_proc(&cons, cargv);
        start_proc(&prod, pargv);
    } else {
        start_proc(&prod, pargv);
        start_proc(&cons, cargv);
    }
    ck_assert_int_eq(finish_proc(&prod, out, sizeof(out)), 0);
    ck_assert_int_eq(finish_proc(&cons, out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "5000 blocks received, checked and freed") != NULL,
                  "ring consume said: %s", out);
    /* Every block freed, the ring too, its name with it. */
    ck_assert_uint_eq(blocks_live(d, "default"), 0);
    ck_assert_uint_eq(names(d, "default", NULL), 0);
}

START_TEST(test_ring)
{
    struct ofad d;

    ck_assert_int_eq(ofad_start(&d, NULL), 0);
    ring_pair(&d, true);
    ring_pair(&d, false);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ofad_cleanup(&d);
}
END_TEST

/* A name bound to something that is not a ring: both sides refuse it. */
START_TEST(test_ring_not_a_ring)
{
    const char *const argv[] = {RING_PATH, "-s", NULL, "consume", "q/1", NULL};
    const char *v[6];
    char out[256];
    struct ofad d;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;

    ck_assert_int_eq(ofad_start(&d, NULL), 0);
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "default", &a), 0);
    ck_assert_int_eq(ofa_alloc_named(a, "q/1", 64, 0, &off), 1);
    memcpy(v, argv, sizeof(v));
    v[2] = d.socket;
    ck_assert_int_eq(run(v, out, sizeof(out)), 1);
    v[3] = "produce";
    ck_assert_int_eq(run(v, out, sizeof(out)), 1);
    ck_assert_uint_eq(blocks_live(&d, "default"), 1);
    ofa_disconnect(c);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ofad_cleanup(&d);
}
END_TEST

static Suite *examples_suite(void)
{
    Suite *s = suite_create("examples");
    TCase *tc;

    tc = tcase_create("pair");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pair);
    tcase_add_test(tc, test_consumer_first);
    tcase_add_test(tc, test_pair_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_input");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_consumer_bad_name);
    suite_add_tcase(s, tc);

    tc = tcase_create("producer_full");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_producer_out_of_room);
    suite_add_tcase(s, tc);

    tc = tcase_create("ring");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ring);
    tcase_add_test(tc, test_ring_not_a_ring);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(examples_suite());
}

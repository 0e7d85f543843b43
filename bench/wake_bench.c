/*
 * wake_bench.c - cross-process wake-ups, side by side in one run:
 *
 *   socket  bare Unix-socket ping-pong: two processes, a socketpair, one
 *           32-byte message each way per round trip (the floor any
 *           daemon round trip stands on);
 *   futex   ofa_wait/ofa_wake ping-pong on a word of a block: the counter
 *           goes 2i+1 one way, 2i+2 back, each side sleeping until it sees
 *           the other's value;
 *   ring    the SPSC ring of examples/ring.h passing offsets it does not
 *           allocate (the ring alone), then as examples/ring.c uses it: the
 *           producer allocates each block through ofad, the consumer frees
 *           it (two daemon round trips per item, one on each side).
 *
 *   wake_bench [-n ROUNDS] [-r REPEATS]
 *
 * It starts its own ofad (the one built with it) on a socket in a
 * temporary directory, with one arena, and stops it at the end. Each
 * figure is the median of REPEATS runs, and the futex's is also given as
 * a ratio of the socket's measured in the same repeat. A program that
 * measures, not a test: bench/README.md has the figures.
 */
#include <errno.h>
#include <inttypes.h>
#include <ofaclient.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"

#define ARENA "bench"

#ifndef OFA_BENCH_OFAD
#define OFA_BENCH_OFAD "ofad" /* from PATH */
#endif

static char g_sock[256];

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "wake_bench: %s: %s\n", what, ofa_strerror(rc));
    exit(1);
}

static void conn(ofa_client **c, ofa_arena **a)
{
    int rc = ofa_connect(g_sock, c);

    if (rc == 0)
        rc = ofa_arena_open(*c, ARENA, a);
    if (rc < 0)
        die("connect", rc);
}

static int wait_child(pid_t pid)
{
    int st;

    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "wake_bench: a child failed\n");
        exit(1);
    }
    return 0;
}

/* --- socket ping-pong --- */

static double bench_socket(uint32_t rounds)
{
    char msg[32] = {0};
    int sv[2];
    double t0, t;
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        exit(1);
    pid = fork();
    if (pid == 0) {
        close(sv[0]);
        for (uint32_t i = 0; i < rounds; i++)
            if (recv(sv[1], msg, sizeof(msg), MSG_WAITALL) != sizeof(msg) ||
                send(sv[1], msg, sizeof(msg), 0) != sizeof(msg))
                _exit(1);
        _exit(0);
    }
    close(sv[1]);
    t0 = now_s();
    for (uint32_t i = 0; i < rounds; i++)
        if (send(sv[0], msg, sizeof(msg), 0) != sizeof(msg) ||
            recv(sv[0], msg, sizeof(msg), MSG_WAITALL) != sizeof(msg))
            exit(1);
    t = now_s() - t0;
    close(sv[0]);
    wait_child(pid);
    return rounds / t;
}

/* --- futex ping-pong --- */

static uint32_t wait_change(ofa_arena *a, uint64_t off, const uint32_t *p, uint32_t cur)
{
    uint32_t v;
    int rc;

    while ((v = __atomic_load_n(p, __ATOMIC_ACQUIRE)) == cur) {
        rc = ofa_wait(a, off, cur, -1);
        if (rc < 0 && rc != -EAGAIN)
            die("ofa_wait", rc);
    }
    return v;
}

static void pong(uint64_t off, uint32_t rounds)
{
    ofa_client *c;
    ofa_arena *a;
    uint32_t *p;

    conn(&c, &a);
    p = ofa_ptr(a, off);
    for (uint32_t i = 0; i < rounds; i++) {
        if (wait_change(a, off, p, 2 * i) != 2 * i + 1)
            _exit(1);
        __atomic_store_n(p, 2 * i + 2, __ATOMIC_RELEASE);
        ofa_wake(a, off, 1);
    }
    ofa_disconnect(c);
}

static double bench_futex(ofa_arena *a, uint32_t rounds)
{
    uint64_t off;
    uint32_t *p;
    double t0, t;
    pid_t pid;
    int rc;

    rc = ofa_alloc_ex(a, 64, 0, OFA_KEEP | OFA_ZERO, &off);
    if (rc < 0)
        die("alloc", rc);
    p = ofa_ptr(a, off);
    pid = fork();
    if (pid == 0) {
        pong(off, rounds);
        _exit(0);
    }
    t0 = now_s();
    for (uint32_t i = 0; i < rounds; i++) {
        __atomic_store_n(p, 2 * i + 1, __ATOMIC_RELEASE);
        ofa_wake(a, off, 1);
        if (wait_change(a, off, p, 2 * i + 1) != 2 * i + 2)
            exit(1);
    }
    t = now_s() - t0;
    wait_child(pid);
    ofa_free(a, off);
    return rounds / t;
}

/* --- ring --- */

/* Producer side, in a child: count items, allocated through ofad or not. */
static void ring_producer(const char *name, uint32_t count, int alloc)
{
    struct ring rg;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;
    int rc;

    conn(&c, &a);
    rc = ring_open(a, name, &rg);
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        off = i + 1;
        if (alloc) {
            rc = ofa_alloc_ex(a, 256, 0, OFA_KEEP, &off);
            if (rc == 0)
                *(uint64_t *)ofa_ptr(a, off) = i;
        }
        if (rc == 0)
            rc = ring_push(&rg, off);
    }
    if (rc == 0)
        rc = ring_push(&rg, 0);
    if (rc < 0)
        die("producer", rc);
    ofa_disconnect(c);
}

static double bench_ring(ofa_arena *a, uint32_t count, int alloc)
{
    static int seq;
    struct ring rg;
    char name[64];
    uint64_t off, n = 0;
    double t0, t;
    pid_t pid;
    int rc;

    snprintf(name, sizeof(name), "bench/ring.%d", seq++);
    rc = ring_open(a, name, &rg);
    if (rc < 0)
        die("ring_open", rc);
    t0 = now_s();
    pid = fork();
    if (pid == 0) {
        ring_producer(name, count, alloc);
        _exit(0);
    }
    for (;;) {
        rc = ring_pop(&rg, &off);
        if (rc < 0)
            die("ring_pop", rc);
        if (off == 0)
            break;
        if (alloc) {
            if (*(uint64_t *)ofa_ptr(a, off) != n)
                exit(1);
            rc = ofa_free(a, off);
            if (rc < 0)
                die("free", rc);
        } else if (off != n + 1) {
            exit(1);
        }
        n++;
    }
    t = now_s() - t0;
    wait_child(pid);
    ofa_free(a, rg.off);
    if (n != count)
        exit(1);
    return count / t;
}

/* --- the daemon, and the runs --- */

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;

    return (a > b) - (a < b);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    uint32_t rounds = 200000, reps = 5;
    char dir[] = "/tmp/wake_bench.XXXXXX";
    double sock[16], fut[16], ratio[16], ring[16], ringa[16];
    ofa_client *c = NULL;
    ofa_arena *a;
    pid_t ofad;
    int opt, rc = -1;

    while ((opt = getopt(argc, argv, "n:r:")) != -1) {
        if (opt == 'n')
            rounds = (uint32_t)strtoul(optarg, NULL, 10);
        else if (opt == 'r')
            reps = (uint32_t)strtoul(optarg, NULL, 10);
        else
            return 2;
    }
    if (rounds == 0 || reps == 0 || reps > 16)
        return 2;
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(g_sock, sizeof(g_sock), "%s/ofad.sock", dir);
    ofad = fork();
    if (ofad == 0) {
        char *args[] = {OFA_BENCH_OFAD, "--socket", g_sock, "--arena", ARENA ",page_size=1M",
                        "--log-level", "warning", NULL};
        execvp(args[0], args);
        _exit(127);
    }
    /* A bench, not a test: wait for the socket by trying, for a while. */
    for (int i = 0; i < 2000 && rc < 0; i++) {
        rc = ofa_connect(g_sock, &c);
        if (rc < 0)
            usleep(5000);
    }
    if (rc < 0)
        die("ofad did not come up", rc);
    rc = ofa_arena_open(c, ARENA, &a);
    if (rc < 0)
        die("open", rc);

    for (uint32_t r = 0; r < reps; r++) {
        sock[r] = bench_socket(rounds);
        fut[r] = bench_futex(a, rounds);
        ratio[r] = fut[r] / sock[r];
        ring[r] = bench_ring(a, rounds * 5, 0);
        ringa[r] = bench_ring(a, rounds / 4, 1);
    }
    printf("wake_bench: %u round trips (ring: %u offsets, %u allocated blocks), median of %u\n",
           rounds, rounds * 5, rounds / 4, reps);
    printf("  socket ping-pong          %10.0f round trips/s\n", median(sock, (int)reps));
    printf("  futex ping-pong           %10.0f round trips/s  (%.2f x socket)\n",
           median(fut, (int)reps), median(ratio, (int)reps));
    printf("  ring, offsets only        %10.0f items/s\n", median(ring, (int)reps));
    printf("  ring, alloc/free by ofad  %10.0f items/s\n", median(ringa, (int)reps));

    ofa_disconnect(c);
    kill(ofad, SIGTERM);
    waitpid(ofad, NULL, 0);
    unlink(g_sock);
    rmdir(dir);
    return 0;
}

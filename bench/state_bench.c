/*
 * state_bench - what keeping the state across restarts costs (ofad
 * --state-dir), measured side by side in one run:
 *
 *   cost:    the same load against two ofads started alike, one with a
 *            state directory and one without, in alternating rounds:
 *            synchronous ofa_alloc + ofa_free pairs, and batches
 *            (ofa_alloc_many + ofa_free_many of 256 blocks). For each:
 *            calls per second (median of the rounds) and ofad's own CPU
 *            time per call (utime + stime of the daemon over the rounds,
 *            from /proc/PID/stat), and the ratio of the two daemons.
 *   restart: an ofad with a state directory holding N live kept blocks
 *            (1,000,000 by default) is killed with SIGKILL, and a new one
 *            started on the same state: the time until it answers, and
 *            the CPU time it spent getting there (its work, whatever the
 *            machine does besides); then a SIGTERM stop with its last
 *            snapshot, and the state file's size.
 *
 * usage: state_bench [--ofad PATH] [--rounds N] [--seconds S] [--blocks N]
 *                    [--only cost|restart]
 * Figures go to stdout, one "name value unit" line each. A benchmark, not
 * a test: it asserts nothing; see bench/README.md for figures and method.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ofaclient.h"
#include "procstat.h"

#ifndef OFA_BENCH_OFAD
#define OFA_BENCH_OFAD "ofad"
#endif

#define BATCH 256

static const char *ofad_path = OFA_BENCH_OFAD;
/* In memory, as the unit's /run is: a state directory on a disk would
 * measure the disk's writeback too. $OFA_STATE_BENCH_DIR overrides. */
static char dir[PATH_MAX - 64] = "/dev/shm/ofa-state-bench.XXXXXX";

struct daemon {
    pid_t pid;
    char sock[PATH_MAX];
    char state[PATH_MAX]; /* "" : no state directory */
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ticks_ns(uint64_t t)
{
    return (double)t * 1e9 / (double)sysconf(_SC_CLK_TCK);
}

static int daemon_start(struct daemon *d, const char *arena)
{
    char *argv[16];
    int n = 0;

    argv[n++] = (char *)ofad_path;
    argv[n++] = "--socket";
    argv[n++] = d->sock;
    argv[n++] = "--arena";
    argv[n++] = (char *)arena;
    argv[n++] = "--log-level";
    argv[n++] = "err";
    if (d->state[0] != '\0') {
        argv[n++] = "--state-dir";
        argv[n++] = d->state;
    }
    argv[n] = NULL;
    d->pid = fork();
    if (d->pid < 0)
        return -errno;
    if (d->pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    /* Until it answers. */
    for (int i = 0; i < 20000; i++) {
        ofa_client *c;

        if (ofa_connect(d->sock, &c) == 0) {
            ofa_disconnect(c);
            return 0;
        }
        if (waitpid(d->pid, NULL, WNOHANG) == d->pid)
            return -ECHILD;
        usleep(500);
    }
    return -ETIMEDOUT;
}

static void daemon_stop(struct daemon *d, int sig)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, sig);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One round of kind (0 sync, 1 batch) for seconds against d: calls done. */
static uint64_t round_run(struct daemon *d, int kind, double seconds)
{
    uint64_t end = now_ns() + (uint64_t)(seconds * 1e9), calls = 0, offs[BATCH], off;
    ofa_client *c;
    ofa_arena *a;

    if (ofa_connect(d->sock, &c) < 0 || ofa_arena_open(c, "b", &a) < 0) {
        fprintf(stderr, "state_bench: cannot reach %s\n", d->sock);
        exit(1);
    }
    while (now_ns() < end) {
        for (int i = 0; i < 64; i++) {
            if (kind == 0) {
                if (ofa_alloc(a, 64, &off) < 0 || ofa_free(a, off) < 0)
                    exit(1);
                calls += 2;
            } else {
                if (ofa_alloc_many(a, 64, 0, 0, BATCH, offs) < 0 ||
                    ofa_free_many(a, offs, BATCH) < 0)
                    exit(1);
                calls += 2 * BATCH;
            }
        }
    }
    ofa_arena_close(a);
    ofa_disconnect(c);
    return calls;
}

static void cost(int rounds, double seconds)
{
    static const char *const kinds[2] = {"sync", "batch"};
    struct daemon d[2] = {{0}, {0}};
    double rate[2][2][64];
    uint64_t calls[2][2] = {{0}}, cpu[2][2] = {{0}};

    snprintf(d[0].sock, sizeof(d[0].sock), "%s/plain.sock", dir);
    snprintf(d[1].sock, sizeof(d[1].sock), "%s/state.sock", dir);
    snprintf(d[1].state, sizeof(d[1].state), "%s/state", dir);
    for (int k = 0; k < 2; k++)
        if (daemon_start(&d[k], "b,page_size=16M,max=4G") < 0) {
            fprintf(stderr, "state_bench: ofad did not start\n");
            exit(1);
        }
    if (rounds > 64)
        rounds = 64;
    for (int r = 0; r < rounds; r++)
        for (int kind = 0; kind < 2; kind++)
            for (int k0 = 0; k0 < 2; k0++) {
                int k = (k0 + r) % 2; /* alternate which goes first */
                uint64_t t0 = procstat_cpu_ticks(d[k].pid), w0 = now_ns(), n;

                n = round_run(&d[k], kind, seconds);
                rate[kind][k][r] = (double)n * 1e9 / (double)(now_ns() - w0);
                calls[kind][k] += n;
                cpu[kind][k] += procstat_cpu_ticks(d[k].pid) - t0;
            }
    for (int kind = 0; kind < 2; kind++) {
        double m[2], c[2];

        for (int k = 0; k < 2; k++) {
            m[k] = median(rate[kind][k], rounds);
            c[k] = ticks_ns(cpu[kind][k]) / (double)calls[kind][k];
        }
        printf("%s_calls_per_s_plain %.0f calls/s\n", kinds[kind], m[0]);
        printf("%s_calls_per_s_state %.0f calls/s\n", kinds[kind], m[1]);
        printf("%s_ratio_state_to_plain %.3f x\n", kinds[kind], m[1] / m[0]);
        printf("%s_ofad_cpu_per_call_plain %.0f ns\n", kinds[kind], c[0]);
        printf("%s_ofad_cpu_per_call_state %.0f ns\n", kinds[kind], c[1]);
        printf("%s_ofad_cpu_ratio_state_to_plain %.3f x\n", kinds[kind], c[1] / c[0]);
    }
    for (int k = 0; k < 2; k++)
        daemon_stop(&d[k], SIGTERM);
}

static void restart(uint64_t blocks)
{
    struct daemon d = {0};
    uint64_t *offs = malloc(BATCH * sizeof(*offs)), t0, ticks;
    char path[PATH_MAX + 16];
    struct stat st;
    ofa_client *c;
    ofa_arena *a;

    snprintf(d.sock, sizeof(d.sock), "%s/restart.sock", dir);
    snprintf(d.state, sizeof(d.state), "%s/rstate", dir);
    if (offs == NULL || daemon_start(&d, "r,page_size=64M,max=16G") < 0 ||
        ofa_connect(d.sock, &c) < 0 || ofa_arena_open(c, "r", &a) < 0) {
        fprintf(stderr, "state_bench: ofad did not start\n");
        exit(1);
    }
    t0 = now_ns();
    for (uint64_t n = 0; n < blocks; n += BATCH) {
        size_t k = blocks - n < BATCH ? blocks - n : BATCH;

        if (ofa_alloc_many(a, 64, 0, OFA_KEEP, k, offs) < 0) {
            fprintf(stderr, "state_bench: alloc failed\n");
            exit(1);
        }
    }
    printf("restart_fill_s %.3f s\n", (double)(now_ns() - t0) / 1e9);
    ofa_arena_close(a);
    ofa_disconnect(c);
    snprintf(path, sizeof(path), "%s/state", d.state);
    if (stat(path, &st) == 0)
        printf("restart_state_file_bytes %lld bytes\n", (long long)st.st_size);

    daemon_stop(&d, SIGKILL);
    t0 = now_ns();
    if (daemon_start(&d, "r,page_size=64M,max=16G") < 0) {
        fprintf(stderr, "state_bench: the new ofad did not start\n");
        exit(1);
    }
    ticks = procstat_cpu_ticks(d.pid);
    printf("restart_blocks %llu blocks\n", (unsigned long long)blocks);
    printf("restart_after_kill_wall_s %.3f s\n", (double)(now_ns() - t0) / 1e9);
    printf("restart_after_kill_ofad_cpu_s %.3f s\n", ticks_ns(ticks) / 1e9);
    if (ofa_connect(d.sock, &c) == 0) {
        ofa_arena_info info;

        if (ofa_arena_info_get(c, "r", &info) == 0)
            printf("restart_blocks_back %llu blocks\n",
                   (unsigned long long)info.stats.blocks_live);
        ofa_disconnect(c);
    }
    t0 = now_ns();
    ticks = procstat_cpu_ticks(d.pid);
    kill(d.pid, SIGTERM);
    waitpid(d.pid, NULL, 0);
    d.pid = 0;
    printf("stop_with_snapshot_wall_s %.3f s\n", (double)(now_ns() - t0) / 1e9);
    t0 = now_ns();
    if (daemon_start(&d, "r,page_size=64M,max=16G") == 0) {
        printf("restart_after_sigterm_wall_s %.3f s\n", (double)(now_ns() - t0) / 1e9);
        printf("restart_after_sigterm_ofad_cpu_s %.3f s\n",
               ticks_ns(procstat_cpu_ticks(d.pid)) / 1e9);
        /* The last one releases everything (no state kept past the run). */
        daemon_stop(&d, SIGTERM);
    }
    (void)ticks;
    free(offs);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ofad", required_argument, NULL, 'o'},   {"rounds", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'}, {"blocks", required_argument, NULL, 'b'},
        {"only", required_argument, NULL, 'O'},   {NULL, 0, NULL, 0},
    };
    int rounds = 5, c;
    double seconds = 1.0;
    uint64_t blocks = 1000000;
    const char *only = NULL;
    char cmd[PATH_MAX + 16];

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o': ofad_path = optarg; break;
        case 'r': rounds = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case 's': seconds = atof(optarg) > 0 ? atof(optarg) : 1.0; break;
        case 'b': blocks = strtoull(optarg, NULL, 10); break;
        case 'O': only = optarg; break;
        default:
            fprintf(stderr, "usage: state_bench [--ofad PATH] [--rounds N] [--seconds S] "
                            "[--blocks N] [--only cost|restart]\n");
            return 2;
        }
    }
    if (getenv("OFA_STATE_BENCH_DIR") != NULL)
        snprintf(dir, sizeof(dir), "%s/ofa-state-bench.XXXXXX", getenv("OFA_STATE_BENCH_DIR"));
    if (mkdtemp(dir) == NULL) {
        perror("state_bench: mkdtemp");
        return 1;
    }
    setenv("OFAD_TIMEOUT_MS", "30000", 1);
    if (only == NULL || strcmp(only, "cost") == 0)
        cost(rounds, seconds);
    if (only == NULL || strcmp(only, "restart") == 0)
        restart(blocks);
    /* The state directories go, and with them the keeper and its pages. */
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}

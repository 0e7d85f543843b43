/*
 * ofad_bench.c - daemon-level benchmarks: ofad measured side by side with a
 * bare Unix-socket echo server (and, with --boost, Boost.Interprocess) in one
 * run, because these machines are shared and only ratios taken in the same
 * run mean anything.
 *
 * What it owns: the measuring harness, not a test. It starts its own servers
 * (ofad, and the echo server, which is this program run as --serve-echo) on
 * sockets in a private temporary directory, waits for each to report READY=1
 * on a NOTIFY_SOCKET of ours, drives them from forked client processes, and
 * on exit (normal, error or SIGINT/SIGTERM) stops every server it started,
 * removes its sockets and directory. A daemon that had to be killed leaves
 * segments behind; the harness then starts ofad once more on the same socket,
 * whose start-up sweep removes them, and stops it cleanly.
 *
 * Phases (--only takes a comma list of these names):
 *   ping   bare echo, 1 client, 32-byte messages, one at a time
 *   uv     the same echo on a libuv loop (--serve-uv-echo), ping-pong and
 *          pipelined: what an event loop costs by itself
 *   sync   ofad, 1 client, ofa_alloc then ofa_free
 *   pipe   bare echo, 128 messages of 32 bytes per write, 1 and N clients
 *   batch  ofad, ofa_alloc_many/ofa_free_many of 128, 1 and N clients
 *   raw    ofad, a client built on proto: 128 ALLOC requests in flight, then
 *          128 FREE requests, 1 and N clients
 *   state  batch and raw again, each right after its plain row (which it
 *          turns on), against a second ofad started alike plus --state-dir
 *          (a fresh directory in /dev/shm, or in $OFA_BENCH_STATE_DIR; in
 *          memory, as the unit's /run is, lest a disk's writeback be
 *          measured) and $OFAD_FDSTORE=keeper (our NOTIFY_SOCKET is not
 *          systemd's fd store): calls/s and the ratio to the plain ofad's.
 *          Also each daemon's own CPU time per call (utime + stime from
 *          /proc/PID/stat, read around each of those runs and summed over
 *          the 1- and N-client runs of every round, in clock ticks: so the
 *          longer the run, the finer): the steadier figure on a busy
 *          machine. The keeper's CPU time is not counted: it holds page
 *          descriptors and is idle while requests are served. Skipped
 *          with --socket (it needs daemons of its own). At the end the
 *          state ofad gets SIGTERM (which keeps the state) and its
 *          directory is removed, upon which its keeper exits.
 *   mem    ofad's RSS before and after a million live blocks, and with page
 *          bytes that it never maps
 *   boost  (--boost) 1 and 2 processes: ofad batch and raw against
 *          Boost.Interprocess managed_shared_memory (bip_bench), two patterns
 *   private (--boost) 1 and 2 processes: private blocks from the client's
 *          cache against Boost.Interprocess on a LIFO of 128 blocks and a
 *          churn of random sizes 16..4096, and glibc malloc on both
 *   callgrind (--callgrind) server instructions per request, echo, libuv echo
 *          and ofad, counted by valgrind --tool=callgrind over a fixed number
 *          of requests (difference of two runs, so start-up cancels out)
 *   cgpriv (--callgrind) client instructions per cached private alloc+free
 *          pair: this program run with --pairs under callgrind, likewise
 *
 * Throughput phases run in rounds (--rounds); a figure is the best round,
 * a ratio the ratio of two best figures (see run_rounds). OFAD_BENCH_DEBUG
 * in the environment prints every round's figure on stderr.
 *
 * Units: a "call" is one alloc or one free; in the raw client each call is
 * one request on the wire, in the batched client 128 calls share a request.
 * Ratios compare calls/s with the bare server's requests/s, and the state
 * rows' calls/s with the plain ofad's.
 *
 * Every multi-client phase forks its clients; each connects and warms up,
 * then all start together (a pipe closed by the parent) and run for the same
 * wall time, so the total is the sum of their rates. Figures are printed as
 * a table and then as key=value lines for scripts.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "ofaclient.h"
#include "procstat.h"
#include "proto.h"

#define MSG_LEN     32   /* bare echo message */
#define DEPTH       128  /* requests in flight when pipelining */
#define MAX_CLIENTS 64
#define LAT_CAP     (1u << 22) /* latency samples kept per client */
#define MEM_BATCH   4096u      /* ofa_alloc_many count in the memory phase */
#define MAX_ROUNDS  15

/* ------------------------------------------------------------------ */
/* Options                                                             */

struct opts {
    double seconds;
    int rounds;
    int clients;
    const char *only;
    const char *ofad;
    const char *bip;
    const char *socket;   /* an existing daemon instead of our own */
    const char *cg_out;   /* keep callgrind files here */
    const char *ofad_log; /* ofad --log-level */
    int boost;
    int callgrind;
    uint64_t size;
    uint64_t blocks;
    uint64_t big_bytes;
    uint64_t cg_reqs;
    uint64_t iters; /* fixed iterations per client instead of --seconds */
    uint64_t pairs; /* --pairs: run the cached-pair driver and exit */
    int churn_run;  /* --churn-steps given: run the churn driver and exit */
    uint64_t churn_steps;
};

static struct opts O = {
    .seconds = 1.0,
    .rounds = 5,
    .clients = 8,
    .size = 64,
    .blocks = 1000000,
    .big_bytes = 1ull << 30,
    .cg_reqs = 65536,
};

static const char *ARENA = "bench";
static const char *ARENA_MEM = "bench.mem";
static const char *ARENA_BIG = "bench.big";
/* The private churn's second arena: a cache bound for its working set. */
static const char *ARENA_CACHE = "bench.cache";
#define CACHE_BIG (4ull << 20)
#define PAGE_MEM (256ull << 20)
#define PAGE_BIG (64ull << 20)

/* ------------------------------------------------------------------ */
/* Small utilities                                                     */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnx_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ofad_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

static int read_full(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t k = read(fd, c, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -ECONNRESET;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

static int unix_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return -ENAMETOOLONG;
    strcpy(sa->sun_path, path);
    return 0;
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sa;
    int fd, rc = unix_addr(&sa, path);
    if (rc < 0)
        return rc;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

static int phase_on(const char *name)
{
    if (!O.only) {
        if (!strcmp(name, "boost") || !strcmp(name, "private"))
            return O.boost;
        if (!strcmp(name, "callgrind") || !strcmp(name, "cgpriv"))
            return O.callgrind;
        return 1;
    }
    size_t n = strlen(name);
    for (const char *p = O.only; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Results: table rows and key=value lines                             */

struct row {
    char name[48];
    int clients;
    double value;
    char unit[16];
    char extra[40];
    double ratio; /* NAN: none */
    char target[24];
    int met;      /* -1: no target */
};

static struct row rows[96];
static int nrows;
static char kvs[192][80];
static int nkv;

static void add_row(const char *name, int clients, double value, const char *unit,
                    const char *extra, double ratio, const char *target, int met)
{
    if (nrows == (int)(sizeof(rows) / sizeof(rows[0])))
        return;
    struct row *r = &rows[nrows++];
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->clients = clients;
    r->value = value;
    snprintf(r->unit, sizeof(r->unit), "%s", unit);
    snprintf(r->extra, sizeof(r->extra), "%s", extra ? extra : "");
    r->ratio = ratio;
    snprintf(r->target, sizeof(r->target), "%s", target ? target : "");
    r->met = met;
}

static void add_kv(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void add_kv(const char *fmt, ...)
{
    va_list ap;
    if (nkv == (int)(sizeof(kvs) / sizeof(kvs[0])))
        return;
    va_start(ap, fmt);
    vsnprintf(kvs[nkv++], sizeof(kvs[0]), fmt, ap);
    va_end(ap);
}

static void print_results(void)
{
    printf("\n%-42s %7s %14s %-10s %-24s %7s  %s\n", "measurement", "clients", "value",
           "unit", "", "ratio", "target");
    for (int i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        char ratio[16] = "";
        if (!isnan(r->ratio))
            snprintf(ratio, sizeof(ratio), "%.3f", r->ratio);
        char clients[16] = "1+N"; /* 0: the 1- and N-client rows together */
        if (r->clients)
            snprintf(clients, sizeof(clients), "%d", r->clients);
        printf("%-42s %7s %14.0f %-10s %-24s %7s  %s%s\n", r->name, clients, r->value,
               r->unit, r->extra, ratio, r->target,
               r->met < 0 ? "" : (r->met ? "  met" : "  MISSED"));
    }
    printf("\n");
    for (int i = 0; i < nkv; i++)
        printf("%s\n", kvs[i]);
    fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* Clean-up of what we started, also from a signal handler             */

static pid_t g_pids[8];
static int g_npids;
static char g_dir[512]; /* short: socket paths live in it */
static char g_state[256]; /* the state ofad's directory ("": none) */
static volatile sig_atomic_t g_child;

static void track_pid(pid_t p)
{
    for (int i = 0; i < g_npids; i++)
        if (g_pids[i] == 0) {
            g_pids[i] = p;
            return;
        }
    if (g_npids < (int)(sizeof(g_pids) / sizeof(g_pids[0])))
        g_pids[g_npids++] = p;
}

static void untrack_pid(pid_t p)
{
    for (int i = 0; i < g_npids; i++)
        if (g_pids[i] == p)
            g_pids[i] = 0;
}

/* Empties and removes directory name of parent, and the directories in it
 * down to depth levels, with getdents64 and unlinkat, which a signal
 * handler may call. A pass over a directory that is being emptied may miss
 * entries (tmpfs), so it is read again until a pass removes nothing. */
static void remove_at(int parent, const char *name, int depth)
{
    char buf[2048];
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    for (int pass = 0, more = 1; more && pass < 8; pass++) {
        more = 0;
        lseek(fd, 0, SEEK_SET);
        for (;;) {
            long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
            if (n <= 0)
                break;
            for (long off = 0; off < n;) {
                struct dirent64 *de = (struct dirent64 *)(buf + off);
                off += de->d_reclen;
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                    continue;
                more = 1;
                if (unlinkat(fd, de->d_name, 0) < 0 && errno == EISDIR && depth > 0)
                    remove_at(fd, de->d_name, depth - 1);
            }
        }
    }
    close(fd);
    unlinkat(parent, name, AT_REMOVEDIR);
}

/* Our directory (sockets, logs, callgrind files). */
static void remove_dir(void)
{
    remove_at(AT_FDCWD, g_dir, 0);
}

/* Whether process pid is gone (or a zombie) as /proc shows it; open, read
 * and no stdio, for the signal handler. */
static int proc_gone(pid_t pid)
{
    char buf[256];
    const char *p = procstat_read(pid, buf, sizeof(buf));

    return p == NULL || p[1] == 'Z' || p[1] == 'X';
}

/* Removes the state directory; its keeper (not our child: ofad detaches
 * it) then exits, closing the pages it holds; waits up to 5 s for that.
 * Async-signal-safe, as remove_dir. Returns 0, or -EBUSY if the keeper is
 * still there. */
static int state_dir_remove(void)
{
    char buf[32];
    pid_t keeper = 0;
    int fd, rc = 0;
    if (!g_state[0])
        return 0;
    fd = openat(AT_FDCWD, g_state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        int pfd = openat(fd, "keeper.pid", O_RDONLY | O_CLOEXEC);
        if (pfd >= 0) {
            ssize_t n = read(pfd, buf, sizeof(buf) - 1);
            for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
                keeper = keeper * 10 + (buf[i] - '0');
            close(pfd);
        }
        close(fd);
    }
    remove_at(AT_FDCWD, g_state, 4);
    for (int i = 0; keeper > 0 && i < 500 && !proc_gone(keeper); i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    if (keeper > 0 && !proc_gone(keeper))
        rc = -EBUSY;
    g_state[0] = 0;
    return rc;
}

/* Async-signal-safe: kill, waitpid, open, read, getdents64, unlinkat and
 * nanosleep only. The servers remove their own segments on SIGTERM; the
 * state ofad keeps its state, which goes with its directory. */
static void cleanup_now(void)
{
    for (int i = 0; i < g_npids; i++)
        if (g_pids[i] > 0)
            kill(g_pids[i], SIGTERM);
    for (int i = 0; i < g_npids; i++)
        if (g_pids[i] > 0) {
            while (waitpid(g_pids[i], NULL, 0) < 0 && errno == EINTR)
                ;
            g_pids[i] = 0;
        }
    if (g_dir[0])
        remove_dir();
    state_dir_remove();
}

static void on_signal(int sig)
{
    if (!g_child)
        cleanup_now();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ------------------------------------------------------------------ */
/* Servers: start with NOTIFY_SOCKET, wait for READY=1, stop           */

struct server {
    pid_t pid;
    char sock[PATH_MAX];
    char log[PATH_MAX];
    int status; /* wait status once stopped */
};

static void show_log(const struct server *s)
{
    char line[512];
    FILE *f = fopen(s->log, "r");
    if (!f)
        return;
    fprintf(stderr, "--- %s\n", s->log);
    while (fgets(line, sizeof(line), f))
        fputs(line, stderr);
    fclose(f);
}

/*
 * Starts argv (argv[0] a path) with stdout/stderr to s->log, NOTIFY_SOCKET
 * set and the NAME=VALUE strings of env (NULL: none) added to its
 * environment; waits for READY=1 up to timeout_s. 0 or -errno.
 */
static int server_start(struct server *s, char *const argv[], char *const env[], const char *tag,
                        int timeout_s)
{
    char notify[PATH_MAX];
    struct sockaddr_un sa;
    int nfd, rc;
    pid_t pid;

    snprintf(notify, sizeof(notify), "%s/%s.notify", g_dir, tag);
    snprintf(s->log, sizeof(s->log), "%s/%s.log", g_dir, tag);
    rc = unix_addr(&sa, notify);
    if (rc < 0)
        return rc;
    nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (nfd < 0)
        return -errno;
    unlink(notify);
    if (bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        goto out;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto out;
    }
    if (pid == 0) {
        int lfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        signal(SIGINT, SIG_IGN); /* the harness stops it: no half-dead daemon on ^C */
        signal(SIGTERM, SIG_DFL);
        if (lfd >= 0) {
            dup2(lfd, 1);
            dup2(lfd, 2);
        }
        setenv("NOTIFY_SOCKET", notify, 1);
        for (int i = 0; env && env[i]; i++)
            putenv(env[i]);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    s->pid = pid;
    track_pid(pid);
    uint64_t deadline = now_ns() + (uint64_t)timeout_s * 1000000000u;
    for (;;) {
        struct pollfd p = {.fd = nfd, .events = POLLIN};
        char msg[4096];
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            untrack_pid(pid);
            s->pid = 0;
            warnx_("%s exited before READY=1 (status %d)", argv[0], st);
            show_log(s);
            rc = -ECHILD;
            goto out;
        }
        if (now_ns() > deadline) {
            warnx_("%s: no READY=1 within %d s", argv[0], timeout_s);
            show_log(s);
            rc = -ETIMEDOUT;
            goto out;
        }
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(nfd, msg, sizeof(msg) - 1, 0);
        if (n <= 0)
            continue;
        msg[n] = 0;
        for (char *l = msg; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
            if (!strncmp(l, "READY=1", 7)) {
                rc = 0;
                goto out;
            }
    }
out:
    close(nfd);
    unlink(notify);
    return rc;
}

/* SIGTERM, then SIGKILL after timeout_s. Returns 0 if it exited 0. */
static int server_stop(struct server *s, int timeout_s)
{
    uint64_t deadline = now_ns() + (uint64_t)timeout_s * 1000000000u;
    int st = 0;
    if (s->pid <= 0)
        return 0;
    kill(s->pid, SIGTERM);
    for (;;) {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid)
            break;
        if (r < 0 && errno != EINTR)
            break;
        if (now_ns() > deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            break;
        }
        usleep(10000);
    }
    untrack_pid(s->pid);
    s->pid = 0;
    s->status = st;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static char self_exe[PATH_MAX];

/* ofad on s->sock, optionally under a wrapper (valgrind ...), and with
 * --state-dir state_dir unless that is NULL. With a state directory, its
 * page descriptors go to ofad's own keeper process: our NOTIFY_SOCKET
 * would otherwise be taken for systemd's file descriptor store. */
static int ofad_start(struct server *s, const char *tag, char *const wrapper[],
                      char *const arenas[], const char *state_dir, int timeout_s)
{
    static char keeper_env[] = "OFAD_FDSTORE=keeper";
    char *const env[] = {keeper_env, NULL};
    char *argv[40];
    int n = 0;
    for (int i = 0; wrapper && wrapper[i]; i++)
        argv[n++] = wrapper[i];
    argv[n++] = (char *)O.ofad;
    argv[n++] = "--socket";
    argv[n++] = s->sock;
    if (O.ofad_log) {
        argv[n++] = "--log-level";
        argv[n++] = (char *)O.ofad_log;
    }
    if (state_dir) {
        argv[n++] = "--state-dir";
        argv[n++] = (char *)state_dir;
    }
    for (int i = 0; arenas && arenas[i] && n < 36; i++) {
        argv[n++] = "--arena";
        argv[n++] = arenas[i];
    }
    argv[n] = NULL;
    return server_start(s, argv, state_dir ? env : NULL, tag, timeout_s);
}

/* Stops ofad; if it did not exit cleanly, a second ofad on the same socket
 * sweeps the segments the first one left. */
static void ofad_stop(struct server *s)
{
    char tag[32];
    if (server_stop(s, 20) == 0) {
        unlink(s->sock);
        return;
    }
    warnx_("ofad did not exit cleanly (wait status %d); sweeping its segments", s->status);
    show_log(s);
    snprintf(tag, sizeof(tag), "sweep%d", (int)getpid());
    if (ofad_start(s, tag, NULL, NULL, NULL, 20) == 0)
        server_stop(s, 20);
    unlink(s->sock);
}

/* Stops the ofad with a state directory (SIGTERM keeps the state for a
 * next ofad) and removes the directory, which ends its keeper: nothing of
 * it is left. Its pages are memfds, not segments, so there is no sweep. */
static void state_ofad_stop(struct server *s)
{
    if (server_stop(s, 20) != 0) {
        warnx_("the ofad with --state-dir did not exit cleanly (wait status %d)", s->status);
        show_log(s);
    }
    unlink(s->sock);
    if (state_dir_remove() < 0)
        warnx_("the state directory's keeper still runs 5 s after the directory was removed");
}

static int echo_start(struct server *s, const char *tag, char *const wrapper[], int timeout_s,
                      int uv)
{
    char *argv[24];
    int n = 0;
    for (int i = 0; wrapper && wrapper[i]; i++)
        argv[n++] = wrapper[i];
    argv[n++] = self_exe;
    argv[n++] = uv ? "--serve-uv-echo" : "--serve-echo";
    argv[n++] = s->sock;
    argv[n] = NULL;
    return server_start(s, argv, NULL, tag, timeout_s);
}

static void echo_stop(struct server *s)
{
    server_stop(s, 20);
    unlink(s->sock);
}

/* ------------------------------------------------------------------ */
/* The bare echo server (run as: ofad_bench --serve-echo PATH)         */

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static __thread char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || write_all(fd, buf, (size_t)n) < 0)
            break;
    }
    close(fd);
    return NULL;
}

static volatile sig_atomic_t echo_stop_flag;

static void echo_on_term(int sig)
{
    (void)sig;
    echo_stop_flag = 1;
}

/* One thread per connection, plain blocking read and write: the floor any
 * socket server pays. SIGTERM ends it with exit 0, so that tools such as
 * callgrind write their output. */
static int serve_echo(const char *path)
{
    struct sockaddr_un sa;
    struct sigaction act;
    const char *ns = getenv("NOTIFY_SOCKET");
    int lfd;

    memset(&act, 0, sizeof(act));
    act.sa_handler = echo_on_term; /* no SA_RESTART: accept returns EINTR */
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);

    if (unix_addr(&sa, path) < 0)
        return 2;
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(path);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 128) < 0) {
        perror("echo server");
        return 1;
    }
    if (ns) {
        struct sockaddr_un na;
        int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (nfd >= 0 && unix_addr(&na, ns) == 0)
            sendto(nfd, "READY=1", 7, 0, (struct sockaddr *)&na, sizeof(na));
        if (nfd >= 0)
            close(nfd);
    }
    for (;;) {
        pthread_t t;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (echo_stop_flag) {
            unlink(path);
            return 0;
        }
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("accept");
            return 1;
        }
        /* Only the accepting thread takes SIGTERM, so that it sees EINTR. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        int prc = pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)fd);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (prc != 0) {
            close(fd);
            continue;
        }
        pthread_detach(t);
    }
}

/* The same echo on a libuv loop (run as: ofad_bench --serve-uv-echo PATH):
 * one loop thread, replies with uv_try_write first. It separates what any
 * event-loop server pays (a wake-up through epoll, then read, then write)
 * from what ofad itself adds. */
struct uv_conn {
    uv_pipe_t pipe;
    uv_write_t wr;
    char buf[65536];
    char *pend; /* bytes uv_try_write left, being written by uv_write */
};

static uv_signal_t uv_term;

static void uv_on_close(uv_handle_t *h)
{
    free(h->data);
}

static void uv_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct uv_conn *c = h->data;
    (void)hint;
    *b = uv_buf_init(c->buf, sizeof(c->buf));
}

static void uv_on_written(uv_write_t *w, int status)
{
    struct uv_conn *c = w->data;
    free(c->pend);
    c->pend = NULL;
    if (status < 0)
        uv_close((uv_handle_t *)&c->pipe, uv_on_close);
    else
        uv_read_start((uv_stream_t *)&c->pipe, uv_on_alloc, NULL);
}

static void uv_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct uv_conn *c = st->data;
    if (n < 0) {
        uv_close((uv_handle_t *)st, uv_on_close);
        return;
    }
    if (n == 0)
        return;
    uv_buf_t out = uv_buf_init(b->base, (unsigned)n);
    int k = uv_try_write(st, &out, 1);
    if (k == n)
        return;
    if (k < 0 && k != UV_EAGAIN) {
        uv_close((uv_handle_t *)st, uv_on_close);
        return;
    }
    if (k < 0)
        k = 0;
    /* Rare: the socket is full. Stop reading until the rest is out. */
    c->pend = malloc((size_t)(n - k));
    if (!c->pend) {
        uv_close((uv_handle_t *)st, uv_on_close);
        return;
    }
    memcpy(c->pend, b->base + k, (size_t)(n - k));
    out = uv_buf_init(c->pend, (unsigned)(n - k));
    c->wr.data = c;
    uv_read_stop(st);
    uv_write(&c->wr, st, &out, 1, uv_on_written);
}

static void uv_on_conn(uv_stream_t *srv, int status)
{
    struct uv_conn *c;
    if (status < 0 || !(c = calloc(1, sizeof(*c))))
        return;
    uv_pipe_init(srv->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(srv, (uv_stream_t *)&c->pipe) < 0) {
        uv_close((uv_handle_t *)&c->pipe, uv_on_close);
        return;
    }
    uv_read_start((uv_stream_t *)&c->pipe, uv_on_alloc, uv_on_read);
}

static void uv_on_term(uv_signal_t *h, int sig)
{
    (void)sig;
    uv_stop(h->loop);
}

static int serve_uv_echo(const char *path)
{
    uv_loop_t *loop = uv_default_loop();
    uv_pipe_t srv;
    const char *ns = getenv("NOTIFY_SOCKET");

    unlink(path);
    uv_pipe_init(loop, &srv, 0);
    if (uv_pipe_bind(&srv, path) < 0 || uv_listen((uv_stream_t *)&srv, 128, uv_on_conn) < 0) {
        fprintf(stderr, "uv echo server: cannot listen on %s\n", path);
        return 1;
    }
    uv_signal_init(loop, &uv_term);
    uv_signal_start(&uv_term, uv_on_term, SIGTERM);
    if (ns) {
        struct sockaddr_un na;
        int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (nfd >= 0 && unix_addr(&na, ns) == 0)
            sendto(nfd, "READY=1", 7, 0, (struct sockaddr *)&na, sizeof(na));
        if (nfd >= 0)
            close(nfd);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    unlink(path);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Client processes                                                    */

struct worker {
    int idx;
    uint64_t iters;    /* fixed number of iterations, or 0: run for O.seconds */
    uint64_t t0, deadline;
    int ready_fd, go_fd, started;
    uint64_t ops;
    uint32_t *lat;
    size_t nlat;
};

struct result {
    int32_t idx, err;
    uint64_t ops, ns, p50, p99, nlat;
};

struct agg {
    int n, failed;
    uint64_t ops;
    double rate;     /* sum of the clients' ops/s */
    uint64_t max_ns; /* the longest client run */
    double p50, p99; /* ns, client 0 */
    int err;
    uint64_t cpu;    /* cpu_pid's CPU ticks from the start to the last result */
};

typedef int (*client_fn)(struct worker *w, const void *arg);

/* The daemon whose CPU time run_clients takes over the timed part of the
 * clients' runs, warm-ups left out (0: none). */
static pid_t cpu_pid;

/* Called by a client once set up: all clients start at once. */
static int worker_go(struct worker *w)
{
    char c = 'r';
    if (write_all(w->ready_fd, &c, 1) < 0)
        return -EPIPE;
    w->started = 1;
    while (read(w->go_fd, &c, 1) < 0 && errno == EINTR)
        ;
    w->t0 = now_ns();
    w->deadline = w->t0 + (uint64_t)(O.seconds * 1e9);
    return 0;
}

static int worker_more(const struct worker *w, uint64_t i)
{
    return w->iters ? i < w->iters : now_ns() < w->deadline;
}

static void lat_add(struct worker *w, uint64_t ns)
{
    if (!w->lat) {
        w->lat = malloc(LAT_CAP * sizeof(*w->lat));
        if (!w->lat)
            return;
    }
    if (w->nlat < LAT_CAP)
        w->lat[w->nlat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void worker_main(int idx, client_fn fn, const void *arg, uint64_t iters, int ready_fd,
                        int go_fd, int res_fd)
{
    struct worker w = {.idx = idx, .iters = iters, .ready_fd = ready_fd, .go_fd = go_fd};
    struct result r = {.idx = idx};
    int rc = fn(&w, arg);
    uint64_t t1 = now_ns();
    if (!w.started) {
        char c = 'f';
        write_all(ready_fd, &c, 1);
    }
    r.err = rc;
    r.ops = w.ops;
    r.ns = w.started ? t1 - w.t0 : 0;
    if (w.nlat) {
        qsort(w.lat, w.nlat, sizeof(*w.lat), cmp_u32);
        r.p50 = w.lat[w.nlat / 2];
        r.p99 = w.lat[(size_t)((double)w.nlat * 0.99)];
        r.nlat = w.nlat;
    }
    write_all(res_fd, &r, sizeof(r));
    _exit(rc < 0 ? 1 : 0);
}

/*
 * Runs n client processes of fn together; each runs O.seconds, or iters
 * iterations when iters > 0. 0, or -errno when a client failed.
 */
static int run_clients(int n, client_fn fn, const void *arg, uint64_t iters, struct agg *out)
{
    int rp[2], gp[2], sp[2];
    pid_t pids[MAX_CLIENTS];
    int started = 0, failed = 0;
    uint64_t cpu0;

    memset(out, 0, sizeof(*out));
    out->n = n;
    if (n > MAX_CLIENTS)
        n = MAX_CLIENTS;
    if (pipe2(rp, O_CLOEXEC) < 0 || pipe2(gp, O_CLOEXEC) < 0 || pipe2(sp, O_CLOEXEC) < 0)
        return -errno;
    fflush(NULL);
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            n = i;
            failed = 1;
            break;
        }
        if (pids[i] == 0) {
            g_child = 1;
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            close(rp[0]);
            close(gp[1]);
            close(sp[0]);
            worker_main(i, fn, arg, iters, rp[1], gp[0], sp[1]);
        }
    }
    close(rp[1]);
    close(gp[0]);
    close(sp[1]);
    /* Every client says ready ('r') or failed ('f') before the start; one
     * that dies without a word shows as EOF. */
    while (started < n) {
        struct pollfd p = {.fd = rp[0], .events = POLLIN};
        char c;
        int k = poll(&p, 1, 300000);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        ssize_t m = read(rp[0], &c, 1);
        if (m < 0 && errno == EINTR)
            continue;
        if (m <= 0)
            break;
        started++;
        if (c != 'r')
            failed = 1;
    }
    cpu0 = cpu_pid > 0 ? procstat_cpu_ticks(cpu_pid) : 0;
    close(gp[1]); /* go */
    for (;;) {
        struct result r;
        int rc = read_full(sp[0], &r, sizeof(r));
        if (rc < 0)
            break;
        if (r.err < 0) {
            failed = 1;
            out->err = r.err;
            continue;
        }
        out->ops += r.ops;
        if (r.ns)
            out->rate += (double)r.ops * 1e9 / (double)r.ns;
        if (r.ns > out->max_ns)
            out->max_ns = r.ns;
        if (r.idx == 0) {
            out->p50 = (double)r.p50;
            out->p99 = (double)r.p99;
        }
    }
    if (cpu_pid > 0)
        out->cpu = procstat_cpu_ticks(cpu_pid) - cpu0;
    for (int i = 0; i < n; i++) {
        int st;
        while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed = 1;
    }
    close(rp[0]);
    close(sp[0]);
    out->failed = failed;
    if (getenv("OFAD_BENCH_DEBUG"))
        fprintf(stderr, "  [%d clients: %" PRIu64 " ops, rate sum %.0f/s, ops/longest %.0f/s]\n", n,
                out->ops, out->rate, out->max_ns ? (double)out->ops * 1e9 / (double)out->max_ns : 0.0);
    if (failed && !out->err)
        out->err = -EIO;
    return failed ? out->err : 0;
}

/* ------------------------------------------------------------------ */
/* Bare echo clients                                                   */

static int c_ping(struct worker *w, const void *arg)
{
    char msg[MSG_LEN];
    int fd = unix_connect(arg), rc = 0;
    if (fd < 0)
        return fd;
    memset(msg, 'p', sizeof(msg));
    for (int i = 0; i < 1000 && rc == 0; i++) /* warm-up */
        if ((rc = write_all(fd, msg, MSG_LEN)) == 0)
            rc = read_full(fd, msg, MSG_LEN);
    if (rc == 0)
        rc = worker_go(w);
    for (uint64_t i = 0; rc == 0 && worker_more(w, i); i++) {
        uint64_t t = now_ns();
        rc = write_all(fd, msg, MSG_LEN);
        if (rc == 0)
            rc = read_full(fd, msg, MSG_LEN);
        lat_add(w, now_ns() - t);
        w->ops++;
    }
    close(fd);
    return rc;
}

static int c_pipe(struct worker *w, const void *arg)
{
    static char buf[DEPTH * MSG_LEN];
    int fd = unix_connect(arg), rc = 0;
    if (fd < 0)
        return fd;
    memset(buf, 'p', sizeof(buf));
    for (int i = 0; i < 100 && rc == 0; i++)
        if ((rc = write_all(fd, buf, sizeof(buf))) == 0)
            rc = read_full(fd, buf, sizeof(buf));
    if (rc == 0)
        rc = worker_go(w);
    /* Two pipelined writes per iteration, as the ofad clients do (128
     * ALLOC, then 128 FREE). */
    for (uint64_t i = 0; rc == 0 && worker_more(w, i); i++) {
        for (int k = 0; k < 2 && rc == 0; k++) {
            rc = write_all(fd, buf, sizeof(buf));
            if (rc == 0)
                rc = read_full(fd, buf, sizeof(buf));
        }
        w->ops += 2 * DEPTH;
    }
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------ */
/* ofad clients through libofaclient                                   */

static int lib_open(ofa_client **c, ofa_arena **a, const char *arena)
{
    int rc = ofa_connect(O.socket, c);
    if (rc < 0)
        return rc;
    rc = ofa_arena_open(*c, arena, a);
    if (rc < 0) {
        ofa_disconnect(*c);
        *c = NULL;
    }
    return rc;
}

static int c_sync(struct worker *w, const void *arg)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;
    int rc = lib_open(&c, &a, arg);
    if (rc < 0)
        return rc;
    for (int i = 0; i < 1000 && rc == 0; i++)
        if ((rc = ofa_alloc(a, O.size, &off)) == 0)
            rc = ofa_free(a, off);
    if (rc == 0)
        rc = worker_go(w);
    for (uint64_t i = 0; rc == 0 && worker_more(w, i); i++) {
        uint64_t t0 = now_ns(), t1, t2;
        rc = ofa_alloc(a, O.size, &off);
        t1 = now_ns();
        if (rc == 0)
            rc = ofa_free(a, off);
        t2 = now_ns();
        lat_add(w, t1 - t0);
        lat_add(w, t2 - t1);
        w->ops += 2;
    }
    ofa_disconnect(c);
    return rc;
}

static int c_batch(struct worker *w, const void *arg)
{
    uint64_t offs[DEPTH];
    ofa_client *c;
    ofa_arena *a;
    int rc = lib_open(&c, &a, arg);
    if (rc < 0)
        return rc;
    for (int i = 0; i < 100 && rc == 0; i++)
        if ((rc = ofa_alloc_many(a, O.size, 0, 0, DEPTH, offs)) == 0)
            rc = ofa_free_many(a, offs, DEPTH) == DEPTH ? 0 : -EIO;
    if (rc == 0)
        rc = worker_go(w);
    for (uint64_t i = 0; rc == 0 && worker_more(w, i); i++) {
        rc = ofa_alloc_many(a, O.size, 0, 0, DEPTH, offs);
        if (rc == 0) {
            int k = ofa_free_many(a, offs, DEPTH);
            rc = k == DEPTH ? 0 : (k < 0 ? k : -EIO);
        }
        w->ops += 2 * DEPTH;
    }
    ofa_disconnect(c);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Private blocks from the client's cache, and glibc malloc             */

/* Churn: CHURN_LIVE blocks of random sizes in 1..CHURN_MAX; a step frees
 * DEPTH random ones and allocates as many: the raw client's (requests in
 * flight) and bip_bench --pattern churn. */
#define CHURN_LIVE 10000
#define CHURN_MAX  256

/* xorshift64*, as bip_bench: the same sequence in every run. */
static uint64_t xrnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Draws DEPTH random slots of live[CHURN_LIVE]: the n distinct ones that
 * hold a block go to slot[] and their blocks to offs[], and are emptied (a
 * slot drawn twice in a step counts once). Returns n. */
static int churn_pick(uint64_t *live, uint64_t *seed, uint32_t *slot, uint64_t *offs)
{
    int n = 0;
    for (int i = 0; i < DEPTH; i++) {
        uint32_t k = (uint32_t)(xrnd(seed) % CHURN_LIVE);
        if (!live[k])
            continue;
        slot[n] = k;
        offs[n++] = live[k];
        live[k] = 0;
    }
    return n;
}

/* Churn of private blocks: CHURN_LIVE blocks of random sizes in
 * PRIV_MIN..PRIV_MAX per process; a step frees DEPTH random ones and
 * allocates as many (bip_bench --pattern churn --min-size 16 --size 4096). */
#define PRIV_MIN 16
#define PRIV_MAX 4096

/* LIFO: DEPTH private blocks allocated one by one, freed in reverse. */
static int priv_lifo(ofa_arena *a, uint64_t *offs)
{
    int rc;
    for (int k = 0; k < DEPTH; k++)
        if ((rc = ofa_alloc_ex(a, O.size, 0, OFA_PRIVATE, &offs[k])) < 0)
            return rc;
    for (int k = DEPTH; k-- > 0;)
        if ((rc = ofa_free(a, offs[k])) < 0)
            return rc;
    return 0;
}

/* The same DEPTH blocks in one ofa_alloc_many and one ofa_free_many. */
static int priv_many(ofa_arena *a, uint64_t *offs)
{
    int rc = ofa_alloc_many(a, O.size, 0, OFA_PRIVATE, DEPTH, offs);
    if (rc < 0)
        return rc;
    rc = ofa_free_many(a, offs, DEPTH);
    return rc == DEPTH ? 0 : rc < 0 ? rc : -EIO;
}

/* One churn step over live[CHURN_LIVE]; returns the calls made or an
 * error. */
static int priv_churn(ofa_arena *a, uint64_t *live, uint64_t *seed)
{
    uint64_t offs[DEPTH];
    uint32_t slot[DEPTH];
    int n = churn_pick(live, seed, slot, offs), rc;
    for (int i = 0; i < n; i++)
        if ((rc = ofa_free(a, offs[i])) < 0)
            return rc;
    for (int i = 0; i < n; i++) {
        uint64_t size = PRIV_MIN + xrnd(seed) % (PRIV_MAX - PRIV_MIN + 1);
        if ((rc = ofa_alloc_ex(a, size, 0, OFA_PRIVATE, &live[slot[i]])) < 0)
            return rc;
    }
    return 2 * n;
}

enum priv_kind { PRIV_LIFO, PRIV_MANY, PRIV_CHURN };

struct priv_arg {
    enum priv_kind kind;
    const char *arena;
};

/* One iteration of kind: the calls it made, or an error. */
static int priv_step(enum priv_kind kind, ofa_arena *a, uint64_t *offs, uint64_t *live,
                     uint64_t *seed)
{
    int rc;
    if (kind == PRIV_CHURN)
        return priv_churn(a, live, seed);
    rc = kind == PRIV_LIFO ? priv_lifo(a, offs) : priv_many(a, offs);
    return rc < 0 ? rc : 2 * DEPTH;
}

static int c_private(struct worker *w, const void *arg)
{
    const struct priv_arg *pa = arg;
    enum priv_kind kind = pa->kind;
    uint64_t offs[DEPTH], *live = NULL, seed = 0x9e3779b97f4a7c15ull * (uint64_t)(w->idx + 1);
    ofa_client *c;
    ofa_arena *a;
    int k, rc = lib_open(&c, &a, pa->arena);
    if (rc < 0)
        return rc;
    if (kind == PRIV_CHURN) {
        live = calloc(CHURN_LIVE, sizeof(*live));
        rc = live ? 0 : -ENOMEM;
        for (int i = 0; rc == 0 && i < CHURN_LIVE; i++)
            rc = ofa_alloc_ex(a, PRIV_MIN + xrnd(&seed) % (PRIV_MAX - PRIV_MIN + 1), 0,
                              OFA_PRIVATE, &live[i]);
    }
    for (int i = 0; i < 100 && rc == 0; i++)
        if ((k = priv_step(kind, a, offs, live, &seed)) < 0)
            rc = k;
    if (rc == 0)
        rc = worker_go(w);
    for (uint64_t i = 0; rc == 0 && worker_more(w, i); i++) {
        if ((k = priv_step(kind, a, offs, live, &seed)) < 0)
            rc = k;
        else
            w->ops += (uint64_t)k;
    }
    ofa_disconnect(c);
    free(live);
    return rc;
}

/* The same patterns on glibc malloc, in the process (the churn's live
 * blocks as addresses in integers, to share churn_pick). */
static int malloc_step(enum priv_kind kind, uint64_t *live, uint64_t *seed)
{
    void *volatile p[DEPTH]; /* volatile: the pairs cannot be optimised away */
    uint64_t offs[DEPTH];
    uint32_t slot[DEPTH];
    int n;

    if (kind != PRIV_CHURN) {
        for (int k = 0; k < DEPTH; k++)
            if (!(p[k] = malloc(O.size)))
                return -ENOMEM;
        for (int k = DEPTH; k-- > 0;)
            free(p[k]);
        return 2 * DEPTH;
    }
    n = churn_pick(live, seed, slot, offs);
    for (int k = 0; k < n; k++)
        free((void *)(uintptr_t)offs[k]);
    for (int k = 0; k < n; k++) {
        void *q = malloc(PRIV_MIN + xrnd(seed) % (PRIV_MAX - PRIV_MIN + 1));
        if (!q)
            return -ENOMEM;
        live[slot[k]] = (uintptr_t)q;
    }
    return 2 * n;
}

static int c_malloc(struct worker *w, const void *arg)
{
    enum priv_kind kind = ((const struct priv_arg *)arg)->kind;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(w->idx + 1), *live = NULL;
    int k, rc = 0;

    if (kind == PRIV_CHURN) {
        live = calloc(CHURN_LIVE, sizeof(*live));
        rc = live ? 0 : -ENOMEM;
        for (int i = 0; rc == 0 && i < CHURN_LIVE; i++)
            if (!(live[i] = (uintptr_t)malloc(PRIV_MIN + xrnd(&seed) % (PRIV_MAX - PRIV_MIN + 1))))
                rc = -ENOMEM;
    }
    for (int i = 0; i < 100 && rc == 0; i++)
        if ((k = malloc_step(kind, live, &seed)) < 0)
            rc = k;
    if (rc == 0)
        rc = worker_go(w);
    for (uint64_t i = 0; rc == 0 && worker_more(w, i); i++) {
        if ((k = malloc_step(kind, live, &seed)) < 0)
            rc = k;
        else
            w->ops += (uint64_t)k;
    }
    if (live)
        for (int i = 0; i < CHURN_LIVE; i++)
            free((void *)(uintptr_t)live[i]);
    free(live);
    return rc;
}

/* --churn-steps N: the private churn of one process (CHURN_LIVE blocks
 * set up, then N steps) in this process, for counting its round trips to
 * ofad (strace -c -e trace=sendto, N against 0). */
static int run_churn(uint64_t n)
{
    uint64_t *live = calloc(CHURN_LIVE, sizeof(*live)), seed = 0x9e3779b97f4a7c15ull;
    ofa_client *c;
    ofa_arena *a;
    int rc = live ? lib_open(&c, &a, ARENA) : -ENOMEM;
    if (rc < 0) {
        free(live);
        return rc;
    }
    for (int i = 0; rc == 0 && i < CHURN_LIVE; i++)
        rc = ofa_alloc_ex(a, PRIV_MIN + xrnd(&seed) % (PRIV_MAX - PRIV_MIN + 1), 0, OFA_PRIVATE,
                          &live[i]);
    for (uint64_t i = 0; rc == 0 && i < n; i++) {
        int k = priv_churn(a, live, &seed);
        rc = k < 0 ? k : 0;
    }
    ofa_disconnect(c);
    free(live);
    return rc;
}

/* --pairs N: N cached ofa_alloc_ex + ofa_free pairs of one private block
 * of O.size bytes, after 1,000 to warm up, in this process: the driver the
 * callgrind phase runs under valgrind to count the client's instructions. */
static int run_pairs(uint64_t n)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;
    int rc = lib_open(&c, &a, ARENA);
    if (rc < 0)
        return rc;
    for (uint64_t i = 0; rc == 0 && i < 1000 + n; i++)
        if ((rc = ofa_alloc_ex(a, O.size, 0, OFA_PRIVATE, &off)) == 0)
            rc = ofa_free(a, off);
    ofa_disconnect(c);
    return rc;
}

/* ------------------------------------------------------------------ */
/* A raw pipelined client built on proto                               */

struct raw {
    int fd;
    struct proto_buf out;
    struct proto_dec *dec;
    uint8_t *in;
    size_t in_len, in_off, in_cap;
    uint32_t max_msg, arena;
    uint64_t id;
};

static int raw_flush(struct raw *r)
{
    int rc = write_all(r->fd, r->out.data, r->out.len);
    proto_buf_consume(&r->out, r->out.len);
    return rc;
}

/* The next reply; its pointers live until the next call. */
static int raw_recv(struct raw *r, struct proto_rep *rep)
{
    for (;;) {
        size_t flen;
        int rc = proto_frame(r->in + r->in_off, r->in_len - r->in_off, r->max_msg, &flen);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            const uint8_t *p = r->in + r->in_off + PROTO_HEADER_LEN;
            r->in_off += flen;
            rc = proto_decode_rep(r->dec, p, flen - PROTO_HEADER_LEN, rep);
            return rc < 0 ? rc : 0;
        }
        if (r->in_off) {
            memmove(r->in, r->in + r->in_off, r->in_len - r->in_off);
            r->in_len -= r->in_off;
            r->in_off = 0;
        }
        ssize_t n = read(r->fd, r->in + r->in_len, r->in_cap - r->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -ECONNRESET;
        r->in_len += (size_t)n;
    }
}

/* Sends one request and waits for its reply (set-up only). */
static int raw_call(struct raw *r, struct proto_req *q, struct proto_rep *rep)
{
    int rc;
    q->id = r->id++;
    if ((rc = proto_encode_req(&r->out, q)) < 0 || (rc = raw_flush(r)) < 0 ||
        (rc = raw_recv(r, rep)) < 0)
        return rc;
    if (rep->op != q->op || rep->id != q->id)
        return -EPROTO;
    return rep->err ? proto_err_to_errno(rep->err) : 0;
}

static void raw_close(struct raw *r)
{
    if (r->fd >= 0)
        close(r->fd);
    proto_buf_free(&r->out);
    if (r->dec)
        proto_dec_free(r->dec);
    free(r->in);
}

static int raw_open(struct raw *r, const char *sock, const char *arena)
{
    struct proto_req q;
    struct proto_rep rep;
    int rc;

    memset(r, 0, sizeof(*r));
    proto_buf_init(&r->out);
    r->max_msg = PROTO_DEFAULT_MAX_MSG;
    r->id = 1;
    r->fd = unix_connect(sock);
    if (r->fd < 0)
        return r->fd;
    if ((rc = proto_dec_new(&r->dec)) < 0)
        return rc;
    r->in_cap = PROTO_MAX_MAX_MSG + PROTO_HEADER_LEN;
    r->in = malloc(r->in_cap);
    if (!r->in)
        return -ENOMEM;
    memset(&q, 0, sizeof(q));
    q.op = PROTO_OP_HELLO;
    q.u.hello.version = PROTO_VERSION;
    q.u.hello.max_msg = PROTO_DEFAULT_MAX_MSG;
    if ((rc = raw_call(r, &q, &rep)) < 0)
        return rc;
    if (rep.u.hello.max_msg >= PROTO_MIN_MAX_MSG && rep.u.hello.max_msg <= PROTO_MAX_MAX_MSG)
        r->max_msg = rep.u.hello.max_msg;
    memset(&q, 0, sizeof(q));
    q.op = PROTO_OP_OPEN;
    q.u.open.name.ptr = arena;
    q.u.open.name.len = (uint32_t)strlen(arena);
    if ((rc = raw_call(r, &q, &rep)) < 0)
        return rc;
    r->arena = rep.u.open.arena;
    return 0;
}

/* 128 ALLOC requests in flight, then 128 FREE requests. */
static int raw_cycle(struct raw *r, uint64_t *offs)
{
    struct proto_req q;
    struct proto_rep rep;
    uint64_t first = r->id;
    int rc;

    memset(&q, 0, sizeof(q));
    q.op = PROTO_OP_ALLOC;
    q.u.alloc.arena = r->arena;
    q.u.alloc.size = O.size;
    q.u.alloc.count = 1;
    for (int i = 0; i < DEPTH; i++) {
        q.id = r->id++;
        if ((rc = proto_encode_req(&r->out, &q)) < 0)
            return rc;
    }
    if ((rc = raw_flush(r)) < 0)
        return rc;
    for (int i = 0; i < DEPTH; i++) {
        if ((rc = raw_recv(r, &rep)) < 0)
            return rc;
        if (rep.op != PROTO_OP_ALLOC || rep.id != first + (uint64_t)i)
            return -EPROTO;
        if (rep.err)
            return proto_err_to_errno(rep.err);
        offs[i] = rep.u.alloc.off;
    }
    first = r->id;
    memset(&q, 0, sizeof(q));
    q.op = PROTO_OP_FREE;
    q.u.free.arena = r->arena;
    for (int i = 0; i < DEPTH; i++) {
        q.id = r->id++;
        q.u.free.off = offs[i];
        if ((rc = proto_encode_req(&r->out, &q)) < 0)
            return rc;
    }
    if ((rc = raw_flush(r)) < 0)
        return rc;
    for (int i = 0; i < DEPTH; i++) {
        if ((rc = raw_recv(r, &rep)) < 0)
            return rc;
        if (rep.op != PROTO_OP_FREE || rep.id != first + (uint64_t)i)
            return -EPROTO;
        if (rep.err)
            return proto_err_to_errno(rep.err);
    }
    return 0;
}

static int raw_send_recv(struct raw *r, struct proto_req *q, int n, uint64_t *offs,
                         const uint64_t *sizes)
{
    struct proto_rep rep;
    uint64_t first = r->id;
    int rc;
    for (int i = 0; i < n; i++) {
        q->id = r->id++;
        if (q->op == PROTO_OP_FREE)
            q->u.free.off = offs[i];
        else
            q->u.alloc.size = sizes[i];
        if ((rc = proto_encode_req(&r->out, q)) < 0)
            return rc;
    }
    if ((rc = raw_flush(r)) < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        if ((rc = raw_recv(r, &rep)) < 0)
            return rc;
        if (rep.op != q->op || rep.id != first + (uint64_t)i)
            return -EPROTO;
        if (rep.err)
            return proto_err_to_errno(rep.err);
        if (q->op == PROTO_OP_ALLOC)
            offs[i] = rep.u.alloc.off;
    }
    return 0;
}

static int raw_churn_step(struct raw *r, uint64_t *live, uint64_t *seed)
{
    struct proto_req q;
    uint64_t offs[DEPTH], sizes[DEPTH] = {0};
    uint32_t slot[DEPTH];
    /* Distinct slots, so that no offset is freed twice in one step. */
    int n = churn_pick(live, seed, slot, offs), rc;

    memset(&q, 0, sizeof(q));
    q.op = PROTO_OP_FREE;
    q.u.free.arena = r->arena;
    if ((rc = raw_send_recv(r, &q, n, offs, NULL)) < 0)
        return rc;
    for (int i = 0; i < n; i++)
        sizes[i] = 1 + xrnd(seed) % CHURN_MAX;
    memset(&q, 0, sizeof(q));
    q.op = PROTO_OP_ALLOC;
    q.u.alloc.arena = r->arena;
    q.u.alloc.count = 1;
    if ((rc = raw_send_recv(r, &q, n, offs, sizes)) < 0)
        return rc;
    for (int i = 0; i < n; i++)
        live[slot[i]] = offs[i];
    return 2 * n;
}

struct raw_arg {
    const char *sock, *arena;
    int churn;
};

static int c_raw(struct worker *w, const void *arg)
{
    const struct raw_arg *ra = arg;
    uint64_t offs[DEPTH], seed = 0x9e3779b97f4a7c15ull * (uint64_t)(w->idx + 1);
    uint64_t *live = NULL;
    struct raw r;
    int rc = raw_open(&r, ra->sock, ra->arena);
    if (rc == 0 && ra->churn) {
        live = calloc(CHURN_LIVE, sizeof(*live));
        if (!live)
            rc = -ENOMEM;
        for (int i = 0; rc == 0 && i < CHURN_LIVE; i += DEPTH) {
            uint64_t sizes[DEPTH];
            struct proto_req q;
            int n = CHURN_LIVE - i < DEPTH ? CHURN_LIVE - i : DEPTH;
            for (int k = 0; k < n; k++)
                sizes[k] = 1 + xrnd(&seed) % CHURN_MAX;
            memset(&q, 0, sizeof(q));
            q.op = PROTO_OP_ALLOC;
            q.u.alloc.arena = r.arena;
            q.u.alloc.count = 1;
            rc = raw_send_recv(&r, &q, n, live + i, sizes);
        }
    }
    for (int i = 0; i < 100 && rc == 0; i++)
        rc = ra->churn ? (raw_churn_step(&r, live, &seed) < 0) : raw_cycle(&r, offs);
    if (rc == 0)
        rc = worker_go(w);
    for (uint64_t i = 0; rc == 0 && worker_more(w, i); i++) {
        if (ra->churn) {
            int k = raw_churn_step(&r, live, &seed);
            if (k < 0)
                rc = k;
            else
                w->ops += (uint64_t)k;
        } else {
            rc = raw_cycle(&r, offs);
            w->ops += 2 * DEPTH;
        }
    }
    raw_close(&r);
    free(live);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Phases                                                              */

static double ratio(double a, double b)
{
    return isnan(a) || isnan(b) || b == 0 ? NAN : a / b;
}

static int met(double r, double target)
{
    return isnan(r) ? -1 : r >= target;
}

/*
 * The throughput measurements, run in rounds: each round runs every enabled
 * measurement once, in this order. A figure is the best over rounds: on a
 * shared machine other processes only ever slow a run down, so the fastest
 * of a few runs is the closest to what the code itself can do, and taking
 * the best of both sides keeps a ratio fair. The median is printed too.
 */
struct meas {
    const char *phase, *label, *key, *unit;
    int bare;    /* 1: the echo server, 2: the libuv echo server, 0: ofad */
    int state;   /* 1: the ofad with --state-dir */
    client_fn fn;
    int clients; /* 0: O.clients */
    const char *base; /* key of the row compared with (same clients), or NULL */
    int n, err;
    int round[MAX_ROUNDS];
    double rate[MAX_ROUNDS], p50[MAX_ROUNDS], p99[MAX_ROUNDS];
    uint64_t cpu, calls; /* the daemon's CPU ticks and the calls, over rounds */
};

/* The two ofads of the throughput rows: ours or --socket's, and the one
 * with a state directory (pid 0: not running). */
static struct raw_arg ofad_raw_arg, state_raw_arg;
static pid_t ofad_pid, state_pid;

#define MEAS(ph, lab, k, u, b, f, nc, bk) \
    { .phase = ph, .label = lab, .key = k, .unit = u, .bare = b, .fn = f, .clients = nc, \
      .base = bk }
#define STATE(lab, k, f, nc, bk) \
    { .phase = "state", .label = lab, .key = k, .unit = "calls/s", .state = 1, .fn = f, \
      .clients = nc, .base = bk }

/* Each ofad row runs in the same round as the bare row it is compared with,
 * and each state row right after its plain ofad row, so that both sides of
 * a ratio see the machine alike. */
static struct meas M[] = {
    MEAS("ping", "bare ping-pong 32 B", "bare_ping", "rt/s", 1, c_ping, 1, NULL),
    MEAS("uv", "libuv echo ping-pong 32 B", "uv_ping", "rt/s", 2, c_ping, 1, "bare_ping"),
    MEAS("sync", "ofad sync alloc, free", "ofad_sync", "rt/s", 0, c_sync, 1, "bare_ping"),
    MEAS("pipe", "bare pipelined 128 x 32 B", "bare_pipe", "req/s", 1, c_pipe, 1, NULL),
    MEAS("uv", "libuv echo pipelined 128 x 32 B", "uv_pipe", "req/s", 2, c_pipe, 1, "bare_pipe"),
    MEAS("batch", "ofad alloc_many/free_many 128", "ofad_batch", "calls/s", 0, c_batch, 1,
         "bare_pipe"),
    STATE("ofad alloc_many/free_many 128, --state-dir", "ofad_batch_state", c_batch, 1,
          "ofad_batch"),
    MEAS("raw", "ofad raw pipelined 128", "ofad_raw", "calls/s", 0, c_raw, 1, "bare_pipe"),
    STATE("ofad raw pipelined 128, --state-dir", "ofad_raw_state", c_raw, 1, "ofad_raw"),
    MEAS("pipe", "bare pipelined 128 x 32 B", "bare_pipe", "req/s", 1, c_pipe, 0, NULL),
    MEAS("batch", "ofad alloc_many/free_many 128", "ofad_batch", "calls/s", 0, c_batch, 0,
         "bare_pipe"),
    STATE("ofad alloc_many/free_many 128, --state-dir", "ofad_batch_state", c_batch, 0,
          "ofad_batch"),
    MEAS("raw", "ofad raw pipelined 128", "ofad_raw", "calls/s", 0, c_raw, 0, "bare_pipe"),
    STATE("ofad raw pipelined 128, --state-dir", "ofad_raw_state", c_raw, 0, "ofad_raw"),
};
#define NMEAS ((int)(sizeof(M) / sizeof(M[0])))

/* The index of the measurement M[i] is compared with, or -1. */
static int meas_base(int i)
{
    for (int j = 0; M[i].base && j < NMEAS; j++)
        if (!strcmp(M[j].key, M[i].base) && M[j].clients == M[i].clients)
            return j;
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double t[MAX_ROUNDS];
    if (n == 0)
        return NAN;
    memcpy(t, v, (size_t)n * sizeof(*t));
    qsort(t, (size_t)n, sizeof(*t), cmp_double);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static int meas_clients(const struct meas *m)
{
    return m->clients ? m->clients : O.clients;
}

/* The plain batch and raw rows also run for the state rows, which are
 * compared with them. */
static int meas_on(const struct meas *m, int have_echo, int have_uv, int have_ofad)
{
    int on = phase_on(m->phase);
    if (!on && !m->bare && (m->fn == c_batch || m->fn == c_raw))
        on = state_pid > 0;
    if (!on || !(m->bare == 1 ? have_echo : m->bare ? have_uv : m->state ? state_pid > 0
                                                                          : have_ofad))
        return 0;
    return m->clients || O.clients > 1;
}

static void run_rounds(const char *echo_sock, int have_echo, const char *uv_sock, int have_uv,
                       int have_ofad)
{
    const char *plain_sock = O.socket;
    for (int round = 0; round < O.rounds; round++) {
        for (int i = 0; i < NMEAS; i++) {
            struct meas *m = &M[i];
            const void *arg = m->bare == 1 ? (const void *)echo_sock
                              : m->bare      ? (const void *)uv_sock
                              : m->fn == c_raw ? (const void *)(m->state ? &state_raw_arg
                                                                         : &ofad_raw_arg)
                                               : (const void *)ARENA;
            struct agg g;
            pid_t pid;
            int rc;
            if (!meas_on(m, have_echo, have_uv, have_ofad) || m->err)
                continue;
            /* The daemon's CPU time over the rows the state rows compare. */
            pid = m->bare || state_pid <= 0 || (m->fn != c_batch && m->fn != c_raw) ? 0
                  : m->state ? state_pid : ofad_pid;
            cpu_pid = pid;
            O.socket = m->state ? state_raw_arg.sock : plain_sock; /* libofaclient's */
            rc = run_clients(meas_clients(m), m->fn, arg, O.iters, &g);
            O.socket = plain_sock;
            cpu_pid = 0;
            if (rc < 0) {
                m->err = g.err ? g.err : -EIO;
                warnx_("%s (%d clients): %s", m->label, meas_clients(m), ofa_strerror(m->err));
                continue;
            }
            if (pid > 0) {
                m->cpu += g.cpu;
                m->calls += g.ops;
            }
            m->round[m->n] = round;
            m->rate[m->n] = g.rate;
            m->p50[m->n] = g.p50;
            m->p99[m->n] = g.p99;
            m->n++;
            if (getenv("OFAD_BENCH_DEBUG"))
                fprintf(stderr, "  round %d: %s (%d clients): %.0f %s\n", round, m->label,
                        meas_clients(m), g.rate, m->unit);
        }
    }
}

static double best(const double *v, int n)
{
    double b = NAN;
    for (int i = 0; i < n; i++)
        if (isnan(b) || v[i] > b)
            b = v[i];
    return b;
}

/* The best rate of measurement i, or NAN. */
static double meas_rate(int i)
{
    return M[i].err ? NAN : best(M[i].rate, M[i].n);
}

/* Measurement i's best rate over its base's. */
static double meas_ratio(int i)
{
    int b = meas_base(i);
    return b < 0 ? NAN : ratio(meas_rate(i), meas_rate(b));
}

/* Each daemon's CPU time per call over the batch (resp. raw) rows of the
 * state phase, 1 and N clients and every round together, and their ratio. */
static void report_cpu(client_fn fn, const char *what, const char *key)
{
    uint64_t cpu[2] = {0, 0}, calls[2] = {0, 0};
    double ns[2], r;
    char label[48], extra[40];
    for (int i = 0; i < NMEAS; i++)
        if (M[i].fn == fn && !M[i].bare && !M[i].err) {
            cpu[M[i].state] += M[i].cpu;
            calls[M[i].state] += M[i].calls;
        }
    if (!calls[0] || !calls[1])
        return;
    for (int k = 0; k < 2; k++)
        ns[k] = (double)cpu[k] * 1e9 / (double)sysconf(_SC_CLK_TCK) / (double)calls[k];
    r = ratio(ns[1], ns[0]);
    snprintf(label, sizeof(label), "ofad %s CPU per call, --state-dir", what);
    snprintf(extra, sizeof(extra), "plain %.1f ns/call", ns[0]);
    add_row(label, 0, ns[1], "ns/call", extra, r, "", -1);
    add_kv("%s_cpu_ns_per_call_plain=%.1f", key, ns[0]);
    add_kv("%s_cpu_ns_per_call_state=%.1f", key, ns[1]);
    add_kv("%s_cpu_ratio=%.3f", key, r);
}

static void report_rounds(void)
{
    for (int i = 0; i < NMEAS; i++) {
        const struct meas *m = &M[i];
        int nc = meas_clients(m);
        int bi = 0; /* the best round, whose latencies are shown */
        for (int k = 1; k < m->n; k++)
            if (m->rate[k] > m->rate[bi])
                bi = k;
        double v = meas_rate(i), r = NAN, p50 = m->p50[bi] / 1e3, p99 = m->p99[bi] / 1e3;
        char extra[40] = "", target[24] = "";
        int ok = -1;
        if (!m->n && !m->err)
            continue;
        if (m->err) {
            add_row(m->label, nc, NAN, "failed", ofa_err_name(m->err), NAN, "", -1);
            continue;
        }
        if (m->fn == c_ping || m->fn == c_sync)
            snprintf(extra, sizeof(extra), "p50 %.1f us p99 %.1f us", p50, p99);
        if (m->fn == c_sync) {
            r = meas_ratio(i);
            snprintf(target, sizeof(target), ">= 0.90");
            ok = met(r, 0.90);
        } else if (m->bare == 2) {
            r = meas_ratio(i);
        } else if (m->state) {
            /* Against the plain ofad's row: what the state directory costs. */
            r = meas_ratio(i);
            snprintf(extra, sizeof(extra), "%.0f allocs/s", v / 2);
            snprintf(target, sizeof(target), ">= 0.90");
            ok = met(r, 0.90);
        } else if (!m->bare) {
            /* Calls are allocs and frees in equal numbers. */
            r = meas_ratio(i);
            snprintf(extra, sizeof(extra), "%.0f allocs/s", v / 2);
            snprintf(target, sizeof(target), ">= 0.60, >= 2e6");
            ok = isnan(r) ? -1 : (r >= 0.60 && v >= 2e6);
        }
        add_row(m->label, nc, v, m->unit, extra, r, target, ok);
        if (m->fn == c_ping || m->fn == c_sync) {
            add_kv("%s_rtps=%.0f", m->key, v);
            add_kv("%s_p50_us=%.2f", m->key, p50);
            add_kv("%s_p99_us=%.2f", m->key, p99);
        } else {
            add_kv("%s_%dc_%s=%.0f", m->key, nc, m->bare ? "rps" : "calls_per_s", v);
        }
        add_kv("%s_%dc_median=%.0f", m->key, nc, median(m->rate, m->n));
        if (!isnan(r) && m->fn == c_sync)
            add_kv("%s_ratio=%.3f", m->key, r);
        else if (!isnan(r))
            add_kv("%s_%dc_ratio=%.3f", m->key, nc, r);
    }
    report_cpu(c_batch, "batch", "ofad_batch");
    report_cpu(c_raw, "raw", "ofad_raw");
}

/* --- memory --- */

struct mem {
    long vm_rss, rss_anon, rss_file, rss_shmem, vm_hwm; /* kB, /proc/PID/status */
    long sm_rss, sm_anon, sm_heap, sm_file, sm_shm;     /* kB, /proc/PID/smaps */
    int shm_maps;                                       /* mappings of /dev/shm */
};

static int mem_read(pid_t pid, struct mem *m)
{
    char path[64], line[512];
    FILE *f;
    int cls = 0; /* 0 anon, 1 heap, 2 file, 3 shm */

    memset(m, 0, sizeof(*m));
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r")))
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        sscanf(line, "VmRSS: %ld", &m->vm_rss);
        sscanf(line, "RssAnon: %ld", &m->rss_anon);
        sscanf(line, "RssFile: %ld", &m->rss_file);
        sscanf(line, "RssShmem: %ld", &m->rss_shmem);
        sscanf(line, "VmHWM: %ld", &m->vm_hwm);
    }
    fclose(f);
    snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
    if (!(f = fopen(path, "r")))
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        char name[400] = "";
        long kb;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %399[^\n]", &lo, &hi, name) >= 2) {
            if (!strncmp(name, "/dev/shm/", 9) || !strncmp(name, "/memfd:ofa:", 11)) {
                cls = 3;
                m->shm_maps++;
            } else if (!strcmp(name, "[heap]")) {
                cls = 1;
            } else if (name[0] == '/') {
                cls = 2;
            } else {
                cls = 0;
            }
        } else if (sscanf(line, "Rss: %ld kB", &kb) == 1) {
            m->sm_rss += kb;
            if (cls == 0)
                m->sm_anon += kb;
            else if (cls == 1)
                m->sm_heap += kb;
            else if (cls == 2)
                m->sm_file += kb;
            else
                m->sm_shm += kb;
        }
    }
    fclose(f);
    return 0;
}

static void mem_print(const char *when, const struct mem *m)
{
    printf("  %-28s VmRSS %7ld kB  RssAnon %7ld  RssFile %6ld  RssShmem %5ld | smaps: "
           "heap %7ld  anon %7ld  file %6ld  /dev/shm maps %d (%ld kB)\n",
           when, m->vm_rss, m->rss_anon, m->rss_file, m->rss_shmem, m->sm_heap, m->sm_anon,
           m->sm_file, m->shm_maps, m->sm_shm);
}

/* Allocates O.blocks blocks of O.size bytes in batches; flags as given.
 * Returns 0, or -errno with *got the blocks allocated. */
static int mem_fill(ofa_arena *a, unsigned flags, uint64_t *offs, uint64_t *got)
{
    *got = 0;
    while (*got < O.blocks) {
        size_t k = O.blocks - *got > MEM_BATCH ? MEM_BATCH : (size_t)(O.blocks - *got);
        int rc = ofa_alloc_many(a, O.size, 0, flags, k, offs + *got);
        if (rc < 0)
            return rc;
        *got += k;
    }
    return 0;
}

static int mem_free(ofa_arena *a, const uint64_t *offs, uint64_t n)
{
    for (uint64_t i = 0; i < n; i += MEM_BATCH) {
        size_t k = n - i > MEM_BATCH ? MEM_BATCH : (size_t)(n - i);
        int rc = ofa_free_many(a, offs + i, k);
        if (rc < 0)
            return rc;
        if ((size_t)rc != k)
            return -EINVAL;
    }
    return 0;
}

static void phase_mem(pid_t pid)
{
    ofa_client *c = NULL;
    ofa_arena *a = NULL, *b = NULL;
    ofa_arena_stats st;
    struct mem m0, m1, m2, m3, m4;
    uint64_t *offs = NULL, got = 0, nbig, *big = NULL, bgot = 0;
    const char *mode = "owned by the connection";
    unsigned flags = 0;
    int rc;

    printf("memory: ofad pid %d, %" PRIu64 " blocks of %" PRIu64 " bytes\n", (int)pid, O.blocks,
           O.size);
    offs = calloc(O.blocks, sizeof(*offs));
    if (!offs) {
        warnx_("memory phase: out of memory");
        return;
    }
    if ((rc = lib_open(&c, &a, ARENA_MEM)) < 0) {
        warnx_("memory phase: open %s: %s", ARENA_MEM, ofa_strerror(rc));
        goto out;
    }
    mem_read(pid, &m0);
    mem_print("before", &m0);
    rc = mem_fill(a, flags, offs, &got);
    if (rc == -EMFILE || rc == -ENOMEM) {
        /* A per-connection block limit below O.blocks: the blocks then
         * belong to the arena (OFA_KEEP), which the daemon tracks too. */
        warnx_("memory phase: %s after %" PRIu64 " connection-owned blocks; retrying with "
               "OFA_KEEP", ofa_err_name(rc), got);
        mem_free(a, offs, got);
        flags = OFA_KEEP;
        mode = "OFA_KEEP";
        rc = mem_fill(a, flags, offs, &got);
    }
    if (rc < 0) {
        warnx_("memory phase: alloc failed after %" PRIu64 " blocks: %s", got, ofa_strerror(rc));
        goto out;
    }
    mem_read(pid, &m1);
    mem_print("live blocks", &m1);
    if (ofa_stats(a, &st) == 0)
        printf("  arena %s: blocks_live %" PRIu64 " pages %" PRIu64 " bytes_reserved %" PRIu64
               " free_chunks %" PRIu64 "\n",
               ARENA_MEM, st.blocks_live, st.pages, st.bytes_reserved, st.free_chunks);
    double per = (double)(m1.vm_rss - m0.vm_rss) * 1024.0 / (double)got;
    double per_anon = (double)(m1.rss_anon - m0.rss_anon) * 1024.0 / (double)got;
    char extra[40];
    snprintf(extra, sizeof(extra), "anon %.1f B; %s", per_anon, flags ? "KEEP" : "owned");
    add_row("ofad RSS per live block", 1, per, "bytes", extra, NAN, "<= 96", per <= 96.0);
    add_kv("mem_blocks=%" PRIu64, got);
    add_kv("mem_block_mode=%s", flags ? "keep" : "owned");
    add_kv("mem_rss_before_kb=%ld", m0.vm_rss);
    add_kv("mem_rss_after_kb=%ld", m1.vm_rss);
    add_kv("mem_bytes_per_block=%.1f", per);
    add_kv("mem_anon_bytes_per_block=%.1f", per_anon);
    printf("  %.1f bytes of RSS per live block (%s)\n", per, mode);
    if ((rc = mem_free(a, offs, got)) < 0)
        warnx_("memory phase: free: %s", ofa_strerror(rc));
    mem_read(pid, &m2);
    mem_print("after freeing them", &m2);

    /* Page bytes: blocks the size of a page, each on a page of its own. */
    if ((rc = ofa_arena_open(c, ARENA_BIG, &b)) < 0) {
        warnx_("memory phase: open %s: %s", ARENA_BIG, ofa_strerror(rc));
        goto out;
    }
    nbig = O.big_bytes / PAGE_BIG;
    big = calloc(nbig ? nbig : 1, sizeof(*big));
    if (!big)
        goto out;
    mem_read(pid, &m3);
    for (bgot = 0; bgot < nbig; bgot++)
        if ((rc = ofa_alloc(b, PAGE_BIG, &big[bgot])) < 0) {
            warnx_("memory phase: big alloc %" PRIu64 ": %s", bgot, ofa_strerror(rc));
            break;
        }
    mem_read(pid, &m4);
    memset(&st, 0, sizeof(st));
    ofa_stats(b, &st);
    mem_print("before page bytes", &m3);
    mem_print("with page bytes", &m4);
    printf("  arena %s: pages %" PRIu64 " bytes_reserved %" PRIu64 " (%.0f MiB); RSS delta %ld kB\n",
           ARENA_BIG, st.pages, st.bytes_reserved, (double)st.bytes_reserved / 1048576.0,
           m4.vm_rss - m3.vm_rss);
    snprintf(extra, sizeof(extra), "for %.0f MiB of pages", (double)st.bytes_reserved / 1048576.0);
    add_row("ofad RSS growth with page bytes", 1, (double)(m4.vm_rss - m3.vm_rss), "kB", extra,
            NAN, "~0, no shm maps", m4.shm_maps == 0 && m4.vm_rss - m3.vm_rss < 1024);
    add_kv("mem_page_bytes=%" PRIu64, st.bytes_reserved);
    add_kv("mem_rss_growth_with_pages_kb=%ld", m4.vm_rss - m3.vm_rss);
    add_kv("mem_shm_mappings=%d", m4.shm_maps);
    for (uint64_t i = 0; i < bgot; i++)
        ofa_free(b, big[i]);
out:
    if (c)
        ofa_disconnect(c);
    free(big);
    free(offs);
}

/* --- Boost.Interprocess --- */

/* Runs bip_bench (sizes min..max; lifo: max) and returns its calls/s, or
 * NAN. */
static double run_bip(int procs, int churn, uint64_t min, uint64_t max)
{
    char sp[16], ss[32], sz[32], smin[32], line[256];
    char *argv[] = {(char *)O.bip, "--procs", sp, "--seconds", ss, "--size", sz, "--min-size",
                    smin, "--batch", "128", "--pattern", churn ? "churn" : "lifo", "--live",
                    "10000", NULL};
    double v = NAN;
    int p[2], st;
    pid_t pid;
    FILE *f;

    snprintf(sp, sizeof(sp), "%d", procs);
    snprintf(ss, sizeof(ss), "%g", O.seconds);
    snprintf(sz, sizeof(sz), "%" PRIu64, max);
    snprintf(smin, sizeof(smin), "%" PRIu64, min);
    if (pipe2(p, O_CLOEXEC) < 0)
        return NAN;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        g_child = 1;
        dup2(p[1], 1);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return NAN;
    }
    track_pid(pid);
    f = fdopen(p[0], "r");
    while (f && fgets(line, sizeof(line), f)) {
        const char *k = strstr(line, "calls_per_s=");
        if (k)
            v = strtod(k + 12, NULL);
    }
    if (f)
        fclose(f);
    waitpid(pid, &st, 0);
    untrack_pid(pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return NAN;
    return v;
}

/*
 * Both patterns, 1 and 2 processes: lifo (128 blocks of O.size allocated,
 * then freed: ofad batched and raw) and churn (10,000 live blocks of random
 * sizes per process, 128 freed and reallocated per step: ofad raw), each in
 * rounds. Here a figure is the median of the rounds, not the best: what is
 * measured is contention, and on a shared machine the best round of two
 * Boost processes tends to be one where the scheduler happened to run them
 * one after the other, with no contention at all.
 */
static void phase_boost(const char *sock)
{
    struct raw_arg ra = {sock, ARENA, 0}, rc_ = {sock, ARENA, 1};
    for (int churn = 0; churn <= 1; churn++) {
        for (int procs = 1; procs <= 2; procs++) {
            const char *pat = churn ? "churn" : "lifo";
            char label[48];
            double vb[MAX_ROUNDS], vo[MAX_ROUNDS], vr[MAX_ROUNDS];
            int nb = 0, no = 0, nr = 0;
            for (int round = 0; round < O.rounds; round++) {
                struct agg g;
                double v = churn ? run_bip(procs, 1, 1, CHURN_MAX) : run_bip(procs, 0, O.size, O.size);
                if (!isnan(v))
                    vb[nb++] = v;
                if (!churn && run_clients(procs, c_batch, ARENA, 0, &g) == 0)
                    vo[no++] = g.rate;
                if (run_clients(procs, c_raw, churn ? &rc_ : &ra, 0, &g) == 0)
                    vr[nr++] = g.rate;
            }
            double bip = median(vb, nb), ob = median(vo, no), orw = median(vr, nr);
            if (isnan(bip)) {
                warnx_("bip_bench (%s, %d processes) failed", pat, procs);
                continue;
            }
            snprintf(label, sizeof(label), "boost %s", churn ? "churn 10k live" : "lifo 128");
            add_row(label, procs, bip, "calls/s", "median of rounds", NAN, "", -1);
            add_kv("bip_%s_%dp_calls_per_s=%.0f", pat, procs, bip);
            add_kv("bip_%s_%dp_best=%.0f", pat, procs, best(vb, nb));
            if (!churn) {
                add_row("  ofad alloc_many/free_many 128", procs, ob, "calls/s", "vs boost",
                        ratio(ob, bip), procs == 2 ? ">= 5" : "",
                        procs == 2 ? met(ratio(ob, bip), 5) : -1);
                add_kv("boost_ofad_batch_%dp_calls_per_s=%.0f", procs, ob);
                add_kv("boost_ofad_batch_%dp_best=%.0f", procs, best(vo, no));
                add_kv("boost_ratio_batch_%dp=%.2f", procs, ratio(ob, bip));
            }
            snprintf(label, sizeof(label), "  ofad raw %s", churn ? "churn 10k live" : "lifo 128");
            add_row(label, procs, orw, "calls/s", "vs boost", ratio(orw, bip),
                    procs == 2 ? ">= 5" : "", procs == 2 ? met(ratio(orw, bip), 5) : -1);
            add_kv("boost_ofad_raw_%s_%dp_calls_per_s=%.0f", pat, procs, orw);
            add_kv("boost_ofad_raw_%s_%dp_best=%.0f", pat, procs, best(vr, nr));
            add_kv("boost_ratio_raw_%s_%dp=%.2f", pat, procs, ratio(orw, bip));
        }
    }
}

/*
 * Private blocks (OFA_PRIVATE, served by the client's cache) against
 * Boost.Interprocess and glibc malloc on the same patterns: lifo (DEPTH
 * blocks of O.size bytes allocated one by one, then freed in reverse; for
 * ofad also as one ofa_alloc_many and one ofa_free_many) and churn
 * (CHURN_LIVE live blocks of PRIV_MIN..PRIV_MAX bytes per process), with 1
 * and 2 processes, each process its own connection and handle on the same
 * arena (Boost: the same segment). The churn runs twice: in ARENA, at the
 * daemon's default cache bound, and in ARENA_CACHE, whose bound fits its
 * working set. glibc malloc, the in-process reference, runs with 1
 * process. As in phase_boost, every figure is the median of its rounds.
 */
static void phase_private(void)
{
    static const struct priv_arg lifo = {PRIV_LIFO, "bench"}, many = {PRIV_MANY, "bench"},
                                 churn_d = {PRIV_CHURN, "bench"},
                                 churn_c = {PRIV_CHURN, "bench.cache"};
    for (int churn = 0; churn <= 1; churn++) {
        for (int procs = 1; procs <= 2; procs++) {
            const char *pat = churn ? "churn" : "lifo";
            const struct priv_arg *k = churn ? &churn_d : &lifo;
            double vb[MAX_ROUNDS], vo[MAX_ROUNDS], vm[MAX_ROUNDS], vg[MAX_ROUNDS];
            double vc[MAX_ROUNDS];
            int nb = 0, no = 0, nm = 0, ng = 0, nc = 0;
            char label[64];
            for (int round = 0; round < O.rounds; round++) {
                struct agg g;
                double v = NAN;
                if (O.bip)
                    v = churn ? run_bip(procs, 1, PRIV_MIN, PRIV_MAX)
                              : run_bip(procs, 0, O.size, O.size);
                if (!isnan(v))
                    vb[nb++] = v;
                if (run_clients(procs, c_private, k, 0, &g) == 0)
                    vo[no++] = g.rate;
                else
                    warnx_("private %s (%d processes): %s", pat, procs, ofa_strerror(g.err));
                if (!churn && run_clients(procs, c_private, &many, 0, &g) == 0)
                    vm[nm++] = g.rate;
                if (churn && run_clients(procs, c_private, &churn_c, 0, &g) == 0)
                    vc[nc++] = g.rate;
                if (procs == 1 && run_clients(1, c_malloc, k, 0, &g) == 0)
                    vg[ng++] = g.rate;
            }
            double bip = median(vb, nb), ofad = median(vo, no), om = median(vm, nm);
            double oc = median(vc, nc), gm = median(vg, ng), target = churn || procs == 1 ? 1 : 5;
            const char *tg = target == 5 ? ">= 5" : ">= 1";
            if (churn)
                snprintf(label, sizeof(label), "boost churn %d..%d, 10k live", PRIV_MIN, PRIV_MAX);
            else
                snprintf(label, sizeof(label), "boost lifo 128 x %" PRIu64 " B", O.size);
            if (nb)
                add_row(label, procs, bip, "calls/s", "median of rounds", NAN, "", -1);
            add_kv("priv_bip_%s_%dp_calls_per_s=%.0f", pat, procs, bip);
            snprintf(label, sizeof(label), "  ofad private %s", churn ? "churn, cache 1M" : "lifo 128");
            add_row(label, procs, ofad, "calls/s", "vs boost", ratio(ofad, bip), tg,
                    met(ratio(ofad, bip), target));
            add_kv("priv_ofad_%s_%dp_calls_per_s=%.0f", pat, procs, ofad);
            add_kv("priv_ratio_%s_%dp=%.2f", pat, procs, ratio(ofad, bip));
            if (!churn) {
                add_row("  ofad private alloc_many/free_many", procs, om, "calls/s", "vs boost",
                        ratio(om, bip), "", -1);
                add_kv("priv_ofad_many_%dp_calls_per_s=%.0f", procs, om);
                add_kv("priv_ratio_many_%dp=%.2f", procs, ratio(om, bip));
            } else {
                add_row("  ofad private churn, cache 4M", procs, oc, "calls/s", "vs boost",
                        ratio(oc, bip), tg, met(ratio(oc, bip), target));
                add_kv("priv_ofad_churn4m_%dp_calls_per_s=%.0f", procs, oc);
                add_kv("priv_ratio_churn4m_%dp=%.2f", procs, ratio(oc, bip));
            }
            if (procs == 1) {
                snprintf(label, sizeof(label), "glibc malloc %s", churn ? "churn" : "lifo 128");
                add_row(label, 1, gm, "calls/s", "ofad private / malloc", ratio(ofad, gm),
                        churn ? "" : ">= 0.5 stretch", churn ? -1 : met(ratio(ofad, gm), 0.5));
                add_kv("priv_malloc_%s_calls_per_s=%.0f", pat, gm);
                add_kv("priv_ratio_malloc_%s=%.3f", pat, ratio(ofad, gm));
            }
        }
    }
}

/* --- callgrind --- */

/* The program's total instructions from a callgrind output file. */
static double cg_total(const char *path)
{
    char line[256];
    double v = NAN;
    FILE *f = fopen(path, "r");
    if (!f)
        return NAN;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "summary:", 8) || !strncmp(line, "totals:", 7))
            v = strtod(strchr(line, ':') + 1, NULL);
    }
    fclose(f);
    return v;
}

/* One server run under callgrind with `iters` client iterations; its total
 * instructions, or NAN. */
static double cg_run(int kind, client_fn fn, const void *arg, uint64_t iters,
                     const char *tag, struct server *s)
{
    char outf[PATH_MAX], opt[PATH_MAX + 32];
    char *wrap[] = {"valgrind", "--tool=callgrind", opt, NULL};
    char *arenas[] = {"bench,page_size=16M,max=4G", NULL};
    struct agg g;
    int rc;

    snprintf(outf, sizeof(outf), "%s/callgrind.%s.out", O.cg_out ? O.cg_out : g_dir, tag);
    snprintf(opt, sizeof(opt), "--callgrind-out-file=%s", outf);
    if (!O.cg_out)
    unlink(outf);
    rc = kind == 1 ? ofad_start(s, tag, wrap, arenas, NULL, 120)
                   : echo_start(s, tag, wrap, 120, kind == 2);
    if (rc < 0)
        return NAN;
    O.socket = s->sock; /* for the clients through libofaclient */
    rc = run_clients(1, fn, arg, iters, &g);
    O.socket = NULL;
    if (kind == 1)
        ofad_stop(s);
    else
        echo_stop(s);
    if (rc < 0) {
        warnx_("callgrind %s: client failed: %s", tag, ofa_strerror(rc));
        return NAN;
    }
    return cg_total(outf);
}

/* Instructions per request from two runs of n and 2n iterations, each
 * iteration `per` requests. */
static void cg_measure(const char *what, const char *key, int kind, client_fn fn,
                       const void *arg, uint64_t n, unsigned per, struct server *s)
{
    char t1[64], t2[64];
    snprintf(t1, sizeof(t1), "%s.1", key);
    snprintf(t2, sizeof(t2), "%s.2", key);
    double a = cg_run(kind, fn, arg, n, t1, s);
    double b = cg_run(kind, fn, arg, 2 * n, t2, s);
    double per_req = (b - a) / (double)(n * per);
    if (isnan(per_req)) {
        warnx_("callgrind %s: no figure", what);
        return;
    }
    add_row(what, 1, per_req, !strcmp(key, "ofad_batch") ? "instr/call" : "instr/req",
            "server, callgrind", NAN, "", -1);
    add_kv("cg_%s_instr_per_req=%.0f", key, per_req);
    if (O.cg_out)
        printf("callgrind %s: %s/callgrind.%s.out (callgrind_annotate it)\n", what, O.cg_out, t2);
}

/* One run of `ofad_bench --pairs n` under callgrind against the ofad on
 * sock; its total instructions, or NAN. */
static double cg_pairs(const char *sock, uint64_t n, const char *tag)
{
    char outf[PATH_MAX], opt[PATH_MAX + 32], sn[32], sz[32];
    char *argv[] = {"valgrind", "--tool=callgrind", opt, self_exe, "--socket", (char *)sock,
                    "--size", sz, "--pairs", sn, NULL};
    int st;
    pid_t pid;

    snprintf(outf, sizeof(outf), "%s/callgrind.%s.out", O.cg_out ? O.cg_out : g_dir, tag);
    snprintf(opt, sizeof(opt), "--callgrind-out-file=%s", outf);
    snprintf(sn, sizeof(sn), "%" PRIu64, n);
    snprintf(sz, sizeof(sz), "%" PRIu64, O.size);
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return NAN;
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
        g_child = 1;
        if (nul >= 0) {
            dup2(nul, 1);
            dup2(nul, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    track_pid(pid);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    untrack_pid(pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        warnx_("callgrind %s: the client failed (wait status %d)", tag, st);
        return NAN;
    }
    return cg_total(outf);
}

/* Client instructions per cached ofa_alloc_ex(OFA_PRIVATE) + ofa_free pair
 * of an O.size block: --pairs runs of n and 2n pairs under callgrind
 * against an ofad of our own, their difference over n. */
static void cg_client(void)
{
    struct server s;
    char *arenas[] = {"bench,page_size=16M,max=4G", NULL};
    uint64_t n = O.cg_reqs;
    double a, b, per;

    memset(&s, 0, sizeof(s));
    snprintf(s.sock, sizeof(s.sock), "%s/cgc.sock", g_dir);
    if (ofad_start(&s, "cgc", NULL, arenas, NULL, 20) < 0) {
        warnx_("callgrind client: could not start ofad");
        return;
    }
    printf("callgrind: %" PRIu64 " + %" PRIu64 " cached pairs in the client\n", n, 2 * n);
    fflush(stdout);
    a = cg_pairs(s.sock, n, "pairs.1");
    b = cg_pairs(s.sock, 2 * n, "pairs.2");
    ofad_stop(&s);
    per = (b - a) / (double)n;
    if (isnan(per)) {
        warnx_("callgrind client: no figure");
        return;
    }
    add_row("client cached alloc_ex+free", 1, per, "instr/pair", "client, callgrind", NAN, "< 40",
            per < 40);
    add_kv("cg_client_cached_pair_instr=%.1f", per);
    if (O.cg_out)
        printf("callgrind client: %s/callgrind.pairs.2.out (callgrind_annotate it)\n", O.cg_out);
}

static void phase_callgrind(void)
{
    struct server s;
    struct raw_arg ra = {s.sock, ARENA, 0};
    uint64_t pipe_iters = O.cg_reqs / (2 * DEPTH), sync_iters = O.cg_reqs / 16;

    if (pipe_iters == 0)
        pipe_iters = 1;
    if (sync_iters == 0)
        sync_iters = 1;
    memset(&s, 0, sizeof(s));
    snprintf(s.sock, sizeof(s.sock), "%s/cg.sock", g_dir);
    printf("callgrind: %" PRIu64 " + %" PRIu64 " pipelined iterations, %" PRIu64 " + %" PRIu64
           " synchronous ones, per server\n",
           pipe_iters, 2 * pipe_iters, sync_iters, 2 * sync_iters);
    fflush(stdout);
    cg_measure("echo server, pipelined 128", "echo_pipe", 0, c_pipe, s.sock, pipe_iters,
               2 * DEPTH, &s);
    cg_measure("echo server, ping-pong", "echo_ping", 0, c_ping, s.sock, sync_iters, 1, &s);
    cg_measure("libuv echo, pipelined 128", "uv_pipe", 2, c_pipe, s.sock, pipe_iters, 2 * DEPTH,
               &s);
    cg_measure("libuv echo, ping-pong", "uv_ping", 2, c_ping, s.sock, sync_iters, 1, &s);
    if (O.ofad) {
        cg_measure("ofad raw pipelined 128", "ofad_raw", 1, c_raw, &ra, pipe_iters, 2 * DEPTH,
                   &s);
        cg_measure("ofad sync alloc, free", "ofad_sync", 1, c_sync, ARENA, sync_iters, 2, &s);
        /* per call: 128 calls share a request here */
        cg_measure("ofad alloc_many/free_many 128", "ofad_batch", 1, c_batch, ARENA, pipe_iters,
                   2 * DEPTH, &s);
    }
}

/* ------------------------------------------------------------------ */

/* With --socket: the arenas we need, created if missing. */
static int ensure_arenas(void)
{
    ofa_client *c;
    ofa_arena_config cfg = {.page_size = 16ull << 20, .max_bytes = 4ull << 30};
    int rc = ofa_connect(O.socket, &c);
    if (rc < 0)
        return rc;
    rc = ofa_arena_create(c, ARENA, &cfg);
    if (rc == 0 || rc == -EEXIST) {
        cfg.cache_max = CACHE_BIG;
        rc = ofa_arena_create(c, ARENA_CACHE, &cfg);
        cfg.cache_max = 0;
    }
    if (rc == 0 || rc == -EEXIST) {
        cfg.page_size = PAGE_MEM;
        cfg.max_bytes = 2ull << 30;
        rc = ofa_arena_create(c, ARENA_MEM, &cfg);
    }
    if (rc == 0 || rc == -EEXIST) {
        cfg.page_size = PAGE_BIG;
        cfg.max_bytes = O.big_bytes + PAGE_BIG;
        rc = ofa_arena_create(c, ARENA_BIG, &cfg);
    }
    ofa_disconnect(c);
    return rc == -EEXIST ? 0 : rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ofad_bench [options]\n"
            "  --seconds S       time of one measurement (default 1)\n"
            "  --iterations N    a fixed number of iterations per client instead (ping and sync:\n"
            "                    one request, resp. an alloc and a free; pipe, batch, raw: 256 calls)\n"
            "  --rounds R        rounds of the throughput phases; figures are the best (default 5)\n"
            "  --clients N       clients of the multi-client rows (default 8)\n"
            "  --only LIST       phases: ping,uv,sync,pipe,batch,raw,state,mem,boost,private,\n"
            "                    callgrind,cgpriv\n"
            "                    (state: batch and raw against a second ofad with --state-dir,\n"
            "                    a fresh directory in $OFA_BENCH_STATE_DIR, else /dev/shm)\n"
            "  --boost           add the Boost.Interprocess comparisons (boost, private)\n"
            "  --callgrind       add instructions per request (valgrind: callgrind, cgpriv)\n"
            "  --callgrind-out DIR  keep the callgrind files there\n"
            "  --cg-requests N   requests of the smaller callgrind run (default 65536)\n"
            "  --size B          block size (default 64)\n"
            "  --blocks N        live blocks of the memory phase (default 1000000)\n"
            "  --big-bytes SIZE  page bytes of the memory phase (default 1G)\n"
            "  --ofad PATH       the daemon (default: the one built with this program)\n"
            "  --bip PATH        bip_bench (default: the one built with this program)\n"
            "  --socket PATH     use a running ofad instead of starting one\n"
            "  --ofad-log LEVEL  ofad --log-level\n"
            "  --pairs N         with --socket: N cached private alloc+free pairs of --size\n"
            "                    bytes in this process, then exit (cgpriv's client)\n"
            "  --churn-steps N   with --socket: the private churn of one process, N steps, in\n"
            "                    arena bench, then exit (to count its round trips)\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"seconds", 1, 0, 's'},       {"rounds", 1, 0, 'r'},        {"iterations", 1, 0, 'I'},
        {"clients", 1, 0, 'c'},       {"only", 1, 0, 'o'},          {"boost", 0, 0, 'B'},
        {"callgrind", 0, 0, 'G'},     {"callgrind-out", 1, 0, 'g'}, {"cg-requests", 1, 0, 'q'},
        {"size", 1, 0, 'z'},          {"blocks", 1, 0, 'n'},        {"big-bytes", 1, 0, 'b'},
        {"ofad", 1, 0, 'd'},          {"bip", 1, 0, 'i'},           {"socket", 1, 0, 'S'},
        {"ofad-log", 1, 0, 'l'},      {"serve-echo", 1, 0, 'E'},    {"serve-uv-echo", 1, 0, 'U'},
        {"pairs", 1, 0, 'P'},         {"churn-steps", 1, 0, 'C'},   {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    struct server d, e, u, st;
    int opt, rc = 0;
    ssize_t k;

#ifdef OFA_BENCH_OFAD
    O.ofad = OFA_BENCH_OFAD;
#endif
#ifdef OFA_BENCH_BIP
    O.bip = OFA_BENCH_BIP;
#endif
    while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (opt) {
        case 's': O.seconds = strtod(optarg, NULL); break;
        case 'c': O.clients = atoi(optarg); break;
        case 'r': O.rounds = atoi(optarg); break;
        case 'I': O.iters = strtoull(optarg, NULL, 0); break;
        case 'o': O.only = optarg; break;
        case 'B': O.boost = 1; break;
        case 'G': O.callgrind = 1; break;
        case 'g': O.cg_out = optarg; break;
        case 'q': O.cg_reqs = strtoull(optarg, NULL, 0); break;
        case 'z': O.size = strtoull(optarg, NULL, 0); break;
        case 'n': O.blocks = strtoull(optarg, NULL, 0); break;
        case 'P': O.pairs = strtoull(optarg, NULL, 0); break;
        case 'C':
            O.churn_run = 1;
            O.churn_steps = strtoull(optarg, NULL, 0);
            break;
        case 'b':
            if (proto_parse_size(optarg, &O.big_bytes) < 0) {
                usage(stderr);
                return 2;
            }
            break;
        case 'd': O.ofad = optarg; break;
        case 'i': O.bip = optarg; break;
        case 'S': O.socket = optarg; break;
        case 'l': O.ofad_log = optarg; break;
        case 'E': return serve_echo(optarg);
        case 'U': return serve_uv_echo(optarg);
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || O.seconds <= 0 || O.clients < 1 || O.clients > MAX_CLIENTS ||
        O.rounds < 1 || O.rounds > MAX_ROUNDS ||
        O.size == 0 || O.blocks == 0 || ((O.pairs || O.churn_run) && !O.socket)) {
        usage(stderr);
        return 2;
    }
    if (O.pairs || O.churn_run) {
        int prc = O.pairs ? run_pairs(O.pairs) : run_churn(O.churn_steps);
        if (prc < 0)
            warnx_("%s: %s", O.pairs ? "--pairs" : "--churn-steps", ofa_strerror(prc));
        return prc < 0;
    }
    k = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    if (k <= 0) {
        warnx_("cannot find my own path");
        return 1;
    }
    self_exe[k] = 0;
    signal(SIGPIPE, SIG_IGN);

    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof(g_dir), "%s/ofad_bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        warnx_("mkdtemp %s: %s", g_dir, strerror(errno));
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);

    memset(&d, 0, sizeof(d));
    memset(&e, 0, sizeof(e));
    memset(&u, 0, sizeof(u));
    memset(&st, 0, sizeof(st));
    snprintf(st.sock, sizeof(st.sock), "%s/ofad-state.sock", g_dir);
    snprintf(u.sock, sizeof(u.sock), "%s/uvecho.sock", g_dir);
    snprintf(e.sock, sizeof(e.sock), "%s/echo.sock", g_dir);
    snprintf(d.sock, sizeof(d.sock), "%s/ofad.sock", g_dir);

    printf("ofad_bench: %d rounds of %.3g s per measurement, %d clients, %" PRIu64 "-byte blocks, %ld CPUs\n",
           O.rounds, O.seconds, O.clients, O.size, sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);

    int want_echo = phase_on("ping") || phase_on("pipe") || phase_on("uv");
    int want_uv = phase_on("uv"), have_uv = 0;
    int want_ofad = phase_on("sync") || phase_on("batch") || phase_on("raw") ||
                    phase_on("state") || phase_on("boost") || phase_on("private");
    int have_echo = 0, have_ofad = 0;
    if ((want_ofad || phase_on("mem") || phase_on("callgrind") || phase_on("cgpriv")) &&
        !O.socket && !O.ofad) {
        warnx_("no ofad: give --ofad PATH or --socket PATH");
        rc = 1;
        want_ofad = 0;
    }
    if (want_echo) {
        have_echo = echo_start(&e, "echo", NULL, 20, 0) == 0;
        if (!have_echo)
            rc = 1;
    }
    if (want_uv) {
        have_uv = echo_start(&u, "uvecho", NULL, 20, 1) == 0;
        if (!have_uv)
            rc = 1;
    }
    if (want_ofad) {
        char *arenas[] = {"bench,page_size=16M,max=4G", "bench.cache,page_size=16M,max=4G,cache_max=4M",
                          NULL};
        const char *sd = getenv("OFA_BENCH_STATE_DIR");
        if (O.socket) {
            have_ofad = ensure_arenas() == 0;
            if (phase_on("state"))
                warnx_("state: skipped with --socket (it needs an ofad with and one without "
                       "--state-dir of its own)");
        } else if (ofad_start(&d, "ofad", NULL, arenas, NULL, 20) == 0) {
            O.socket = d.sock;
            ofad_pid = d.pid;
            have_ofad = 1;
        }
        if (!have_ofad) {
            warnx_("could not start or reach ofad");
            rc = 1;
        } else if (d.pid && phase_on("state")) {
            /* The same ofad, plus a state directory. */
            if ((size_t)snprintf(g_state, sizeof(g_state), "%s/ofad_bench-state.XXXXXX",
                                 sd && *sd ? sd : "/dev/shm") >= sizeof(g_state)) {
                warnx_("state: $OFA_BENCH_STATE_DIR is too long");
                g_state[0] = 0;
                rc = 1;
            } else if (!mkdtemp(g_state)) {
                warnx_("state: cannot make a state directory %s: %s", g_state, strerror(errno));
                g_state[0] = 0;
                rc = 1;
            } else if (ofad_start(&st, "ofad-state", NULL, arenas, g_state, 20) == 0) {
                state_pid = st.pid;
            } else {
                warnx_("state: could not start ofad --state-dir %s", g_state);
                state_ofad_stop(&st);
                rc = 1;
            }
        }
    }
    ofad_raw_arg.sock = O.socket;
    ofad_raw_arg.arena = ARENA;
    ofad_raw_arg.churn = 0;
    state_raw_arg.sock = st.sock;
    state_raw_arg.arena = ARENA;
    state_raw_arg.churn = 0;
    run_rounds(e.sock, have_echo, u.sock, have_uv, have_ofad);
    report_rounds();
    if (state_pid) {
        state_ofad_stop(&st);
        state_pid = 0;
    }
    if (have_echo)
        echo_stop(&e);
    if (have_uv)
        echo_stop(&u);
    if (have_ofad && phase_on("boost")) {
        if (O.bip)
            phase_boost(O.socket);
        else
            warnx_("boost: bip_bench was not built (no Boost headers); give --bip PATH");
    }
    if (have_ofad && phase_on("private")) {
        if (!O.bip)
            warnx_("private: no bip_bench (no Boost headers; give --bip PATH): ofad and malloc only");
        phase_private();
    }
    if (d.pid) {
        ofad_stop(&d);
        O.socket = NULL;
    }

    if (phase_on("mem") && (O.socket || O.ofad)) {
        char *arenas[3];
        char a1[96], a2[96];
        snprintf(a1, sizeof(a1), "%s,page_size=%llu,max=2G", ARENA_MEM, (unsigned long long)PAGE_MEM);
        snprintf(a2, sizeof(a2), "%s,page_size=%llu,max=%llu", ARENA_BIG,
                 (unsigned long long)PAGE_BIG, (unsigned long long)(O.big_bytes + PAGE_BIG));
        arenas[0] = a1;
        arenas[1] = a2;
        arenas[2] = NULL;
        if (O.socket) {
            ofa_client *c;
            ofa_daemon_info di;
            if (ensure_arenas() == 0 && ofa_connect(O.socket, &c) == 0) {
                if (ofa_daemon_stats(c, &di) == 0)
                    phase_mem((pid_t)di.pid);
                ofa_disconnect(c);
            }
        } else if (ofad_start(&d, "ofad-mem", NULL, arenas, NULL, 20) == 0) {
            O.socket = d.sock;
            phase_mem(d.pid);
            ofad_stop(&d);
            O.socket = NULL;
        } else {
            rc = 1;
        }
    }

    if (phase_on("callgrind"))
        phase_callgrind();
    if (phase_on("cgpriv") && O.ofad)
        cg_client();

    print_results();
    cleanup_now();
    return rc;
}

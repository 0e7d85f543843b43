/*
 * check_soak.c - a bounded soak of a real ofad: many clients, random kills,
 * garbage and never-reading connections at once, then the invariant check.
 *
 * For OFA_SOAK_SECONDS (default 10; CI runs a longer one) the test keeps
 * running, all against one daemon:
 *  - SOAK_WORKERS client processes on libofaclient doing random alloc, free,
 *    batched alloc/free, zeroed allocs, handle close/reopen and stats. Every
 *    block is filled with a pattern of its own (worker, sequence number) and
 *    checked when it is freed: a block handed to two processes, or bytes
 *    changed by anyone but the owner, shows as a broken pattern. One worker
 *    is never killed and also allocates OFA_KEEP blocks, freeing them itself.
 *  - the parent kill -9s a random other worker every few tens of
 *    milliseconds and starts a new one in its place;
 *  - a garbage process opens connection after connection and sends random
 *    bytes, mutated frames and half frames;
 *  - a never-reading process pipelines requests without ever reading replies,
 *    holds the connection a while, and starts over.
 * Then every worker is told to stop: each frees what it holds (checking every
 * pattern) and exits 0. The daemon must then hold no live block, pass the
 * allocator's full invariant check (VALIDATE) on the arena, serve nobody but
 * the checker, and (outside sanitizer builds, whose quarantine keeps freed
 * memory resident) be back within a bound of the RSS it had after warm-up.
 * The figures are printed: operations, kills, garbage connections, never-
 * reading clients, corrupt and lost blocks (both must be 0).
 *
 * The clock only bounds how long the load runs; no assertion depends on it.
 * The random choices print their seed; OFA_SEED=<n> replays the parent's and
 * every child's sequence of choices (timing still varies).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "ofaclient.h"

#define ARENA        "soak"
#define SOAK_WORKERS 6    /* worker 0 is never killed */
#define MAX_LIVE     1500 /* blocks one worker holds at most */
#define MAX_SIZE     8192
#define RSS_SLACK_KIB (16 * 1024)

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* Shared with every child (an anonymous MAP_SHARED page made before the
 * forks): counters survive a worker's kill -9, the stop flag reaches all. */
struct shared {
    atomic_int stop;
    atomic_ullong ops, corrupt, errors, garbage_conns, nonreaders, keep_blocks;
    atomic_int last_error; /* the last unexpected errno a worker saw */
    atomic_int last_where;
};

static struct shared *sh;
static struct ofad d;

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pause_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ---------------- workers ---------------- */

struct blk {
    uint64_t off, size;
    uint32_t tag;
    unsigned keep;
};

static uint8_t pat(uint32_t tag, uint64_t i)
{
    return (uint8_t)(tag * 2654435761u >> 24 ^ (uint32_t)i * 131u);
}

static void fill(uint8_t *p, const struct blk *b)
{
    for (uint64_t i = 0; i < b->size; i++)
        p[i] = pat(b->tag, i);
}

static int intact(const uint8_t *p, const struct blk *b)
{
    for (uint64_t i = 0; i < b->size; i++)
        if (p[i] != pat(b->tag, i))
            return 0;
    return 1;
}

static void note_error(int where, int rc)
{
    atomic_fetch_add(&sh->errors, 1);
    atomic_store(&sh->last_error, -rc);
    atomic_store(&sh->last_where, where);
}

struct worker {
    int id;
    unsigned seed;
    ofa_client *c;
    ofa_arena *a;
    struct blk live[MAX_LIVE];
    int n;
    uint32_t next_tag;
};

/* Checks a block's pattern, then frees it. 0, or an exit code. */
static int check_and_free(struct worker *w, int i)
{
    struct blk b = w->live[i];
    uint8_t *p = ofa_ptr(w->a, b.off);
    int rc;

    if (p == NULL) {
        note_error(1, -EFAULT);
        return 11;
    }
    if (!intact(p, &b)) {
        atomic_fetch_add(&sh->corrupt, 1);
        return 10;
    }
    rc = ofa_free(w->a, b.off);
    if (rc != 0) {
        note_error(2, rc);
        return 12;
    }
    w->live[i] = w->live[--w->n];
    return 0;
}

static int add_block(struct worker *w, uint64_t off, uint64_t size, unsigned flags)
{
    struct blk *b = &w->live[w->n];
    uint8_t *p = ofa_ptr(w->a, off);

    if (p == NULL) {
        note_error(3, -EFAULT);
        return 13;
    }
    if (flags & OFA_ZERO) {
        for (uint64_t i = 0; i < size; i++)
            if (p[i] != 0) {
                atomic_fetch_add(&sh->corrupt, 1);
                return 14;
            }
    }
    b->off = off;
    b->size = size;
    b->tag = (uint32_t)w->id << 24 | (w->next_tag++ & 0xffffff);
    b->keep = (flags & OFA_KEEP) != 0;
    fill(p, b);
    w->n++;
    if (b->keep)
        atomic_fetch_add(&sh->keep_blocks, 1);
    return 0;
}

static int worker_step(struct worker *w)
{
    unsigned r = (unsigned)rand_r(&w->seed) % 100;
    uint64_t off, size;
    int rc;

    if (w->n > 0 && (w->n >= MAX_LIVE || (r >= 45 && r < 88))) {
        return check_and_free(w, (int)((unsigned)rand_r(&w->seed) % (unsigned)w->n));
    }
    if (r < 45 || w->n == 0) {
        unsigned flags = 0;
        size = 1 + (unsigned)rand_r(&w->seed) % (r < 30 ? 256u : (unsigned)MAX_SIZE);
        if (r % 10 == 0)
            flags |= OFA_ZERO;
        if (w->id == 0 && r % 7 == 0)
            flags |= OFA_KEEP;
        rc = ofa_alloc_ex(w->a, size, r % 9 == 0 ? 256 : 0, flags, &off);
        if (rc != 0) {
            note_error(4, rc);
            return 15;
        }
        return add_block(w, off, size, flags);
    }
    if (r < 94) {
        /* A batch of small blocks, then a batch free of some of them. */
        uint64_t offs[16];
        size_t k = 1 + (unsigned)rand_r(&w->seed) % 16;
        if (w->n + (int)k > MAX_LIVE)
            return 0;
        rc = ofa_alloc_many(w->a, 64, 0, 0, k, offs);
        if (rc != 0) {
            note_error(5, rc);
            return 16;
        }
        for (size_t i = 0; i < k; i++)
            if ((rc = add_block(w, offs[i], 64, 0)) != 0)
                return rc;
        /* Free the last few added, with one FREE_N. */
        k = (unsigned)rand_r(&w->seed) % (k + 1);
        for (size_t i = 0; i < k; i++) {
            struct blk *b = &w->live[w->n - 1 - (int)i];
            const uint8_t *q = ofa_ptr(w->a, b->off);
            if (q == NULL) {
                note_error(10, -EFAULT);
                return 11;
            }
            if (!intact(q, b)) {
                atomic_fetch_add(&sh->corrupt, 1);
                return 10;
            }
            offs[i] = b->off;
        }
        rc = ofa_free_many(w->a, offs, k);
        if (rc != (int)k) {
            note_error(6, rc < 0 ? rc : -EIO);
            return 17;
        }
        w->n -= (int)k;
        return 0;
    }
    if (r < 97 && w->id != 0) {
        /* Close the handle (its blocks die with it) and open it again. */
        ofa_arena_close(w->a);
        w->a = NULL;
        w->n = 0;
        rc = ofa_arena_open(w->c, ARENA, &w->a);
        if (rc != 0) {
            note_error(7, rc);
            return 18;
        }
        return 0;
    }
    {
        ofa_arena_stats st;
        rc = ofa_stats(w->a, &st);
        if (rc != 0 || st.blocks_live < (uint64_t)w->n) {
            note_error(8, rc != 0 ? rc : -EIO);
            return 19;
        }
    }
    return 0;
}

static void worker_main(int id, unsigned seed)
{
    static struct worker w; /* one per process */
    int rc;

    w.id = id;
    w.seed = seed;
    rc = ofa_connect(d.socket, &w.c);
    if (rc == 0)
        rc = ofa_arena_open(w.c, ARENA, &w.a);
    if (rc != 0) {
        note_error(9, rc);
        _exit(20);
    }
    while (!atomic_load(&sh->stop)) {
        rc = worker_step(&w);
        if (rc != 0)
            _exit(rc);
        atomic_fetch_add(&sh->ops, 1);
    }
    while (w.n > 0) {
        rc = check_and_free(&w, w.n - 1);
        if (rc != 0)
            _exit(rc);
    }
    ofa_disconnect(w.c);
    _exit(0);
}

static pid_t spawn_worker(int id, unsigned seed)
{
    pid_t pid = fork();

    if (pid == 0)
        worker_main(id, seed);
    return pid;
}

/* ---------------- hostile connections ---------------- */

/* Connection after connection of random bytes, mutated frames and half
 * frames, each read until the daemon closes it (bounded). */
static void garbage_main(unsigned seed)
{
    uint8_t buf[512];

    while (!atomic_load(&sh->stop)) {
        struct rawc c;
        unsigned kind = (unsigned)rand_r(&seed) % 4;
        size_t n = 1 + (unsigned)rand_r(&seed) % sizeof(buf);

        if (rawc_connect(&c, d.socket) != 0) {
            pause_ms(5);
            continue;
        }
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand_r(&seed);
        if (kind == 1 || kind == 2) {
            /* A plausible frame: a length that matches, then junk or a
             * valid HELLO with some bytes flipped. */
            struct proto_buf b;
            struct proto_req q = {.op = PROTO_OP_HELLO, .id = 1};
            q.u.hello.version = PROTO_VERSION;
            q.u.hello.max_msg = PROTO_DEFAULT_MAX_MSG;
            proto_buf_init(&b);
            if (proto_encode_req(&b, &q) == 0 && b.len <= sizeof(buf)) {
                memcpy(buf, b.data, b.len);
                n = b.len;
                if (kind == 2) {
                    /* HELLO is fine; an ALLOC with a flipped byte follows. */
                    size_t at = n;
                    q.op = PROTO_OP_ALLOC;
                    q.id = 2;
                    q.u.alloc.arena = 0;
                    q.u.alloc.size = 64;
                    b.len = 0;
                    if (proto_encode_req(&b, &q) == 0 && at + b.len <= sizeof(buf)) {
                        memcpy(buf + at, b.data, b.len);
                        n = at + b.len;
                        buf[at + 4 + (unsigned)rand_r(&seed) % (b.len - 4)] ^=
                            (uint8_t)(1 + rand_r(&seed) % 255);
                    }
                } else {
                    buf[(unsigned)rand_r(&seed) % n] ^= (uint8_t)(1 + rand_r(&seed) % 255);
                }
            }
            proto_buf_free(&b);
        } else if (kind == 3) {
            /* Half a frame, then gone. */
            buf[0] = 0;
            buf[1] = 0;
            buf[2] = 1;
            buf[3] = 0;
            n = 4 + (unsigned)rand_r(&seed) % 100;
        }
        (void)rawc_send_raw(&c, buf, n);
        if (kind != 3) {
            /* End of input: a frame still incomplete can never complete. */
            shutdown(c.fd, SHUT_WR);
            (void)rawc_wait_eof(&c);
        }
        rawc_close(&c);
        atomic_fetch_add(&sh->garbage_conns, 1);
    }
    _exit(0);
}

/* Pipelines STATS requests and never reads a reply, until the socket will
 * take no more; holds the connection, then starts over. */
static void nonreader_main(void)
{
    while (!atomic_load(&sh->stop)) {
        struct rawc c;
        struct proto_buf b;
        struct proto_req q = {.op = PROTO_OP_STATS};
        uint32_t h;
        int flags;

        if (rawc_connect(&c, d.socket) != 0 || rawc_hello(&c) != 0 ||
            rawc_open(&c, ARENA, &h, NULL) != 0) {
            rawc_close(&c);
            pause_ms(5);
            continue;
        }
        q.u.stats.name.ptr = ARENA;
        q.u.stats.name.len = (uint32_t)strlen(ARENA);
        proto_buf_init(&b);
        for (int i = 0; i < 64; i++) {
            q.id = 100 + (uint64_t)i;
            (void)proto_encode_req(&b, &q);
        }
        flags = fcntl(c.fd, F_GETFL);
        fcntl(c.fd, F_SETFL, flags | O_NONBLOCK);
        /* Fill the daemon's output for us and our socket's buffers... */
        for (int round = 0; round < 100000 && !atomic_load(&sh->stop); round++) {
            ssize_t k = send(c.fd, b.data, b.len, MSG_NOSIGNAL);
            if (k < 0)
                break;
        }
        /* ...then hold the connection a while, unread (the daemon may close
         * it meanwhile), and start over. */
        for (int held = 0; held < 4 && !atomic_load(&sh->stop); held++) {
            struct pollfd p = {c.fd, POLLRDHUP, 0};
            if (poll(&p, 1, 250) > 0)
                break;
        }
        proto_buf_free(&b);
        rawc_close(&c);
        atomic_fetch_add(&sh->nonreaders, 1);
    }
    _exit(0);
}

/* ---------------- the run ---------------- */

static unsigned soak_seconds(void)
{
    const char *e = getenv("OFA_SOAK_SECONDS");
    long v = e ? strtol(e, NULL, 10) : 0;

    return v > 0 && v <= 3600 ? (unsigned)v : 10;
}

static unsigned soak_seed(void)
{
    const char *e = getenv("OFA_SEED");
    unsigned v = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)(now_ms() ^ (uint64_t)getpid());

    fprintf(stderr, "soak: seed %u (OFA_SEED=%u replays it)\n", v, v);
    return v;
}

/* Waits for pid; 1 if it exited 0. */
static int reap_ok(pid_t pid, const char *what)
{
    int st;

    if (waitpid(pid, &st, 0) != pid)
        return 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 1;
    fprintf(stderr, "soak: %s pid %d ended with %s %d (last error %s at step %d)\n", what,
            (int)pid, WIFEXITED(st) ? "exit" : "signal",
            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
            ofa_err_name(-atomic_load(&sh->last_error)), atomic_load(&sh->last_where));
    return 0;
}

START_TEST(soak_run)
{
    static const char *const args[] = {"--arena", ARENA ",page_size=1M,max=512M", NULL};
    pid_t workers[SOAK_WORKERS], garbage, nonreader;
    unsigned seed = soak_seed(), secs = soak_seconds();
    uint64_t start, deadline, warm_at, kills = 0;
    long rss_warm = -1, rss_end;
    struct proto_arena_info st;
    struct proto_daemon_info di;
    struct rawc c;
    int ok = 1;

    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(sh, MAP_FAILED);
    memset(sh, 0, sizeof(*sh));
    ck_assert_int_eq(ofad_start(&d, args), 0);

    for (int i = 0; i < SOAK_WORKERS; i++)
        ck_assert_int_gt(workers[i] = spawn_worker(i, seed + (unsigned)i), 0);
    ck_assert_int_gt(garbage = fork(), -1);
    if (garbage == 0)
        garbage_main(seed ^ 0x9e3779b9u);
    ck_assert_int_gt(nonreader = fork(), -1);
    if (nonreader == 0)
        nonreader_main();

    start = now_ms();
    deadline = start + secs * 1000ull;
    warm_at = start + secs * 200ull; /* a fifth of the run: pools have grown */
    while (now_ms() < deadline) {
        int victim = 1 + (int)((unsigned)rand_r(&seed) % (SOAK_WORKERS - 1));
        int st_w;

        pause_ms(20 + (unsigned)rand_r(&seed) % 80);
        if (rss_warm < 0 && now_ms() >= warm_at)
            rss_warm = harness_rss_kib(d.pid);
        /* A worker that already failed on its own is a finding, not a kill. */
        if (waitpid(workers[victim], &st_w, WNOHANG) == workers[victim]) {
            fprintf(stderr, "soak: worker %d ended by itself: %s %d\n", victim,
                    WIFEXITED(st_w) ? "exit" : "signal",
                    WIFEXITED(st_w) ? WEXITSTATUS(st_w) : WTERMSIG(st_w));
            ok = 0;
            break;
        }
        kill(workers[victim], SIGKILL);
        waitpid(workers[victim], NULL, 0);
        kills++;
        workers[victim] = spawn_worker(victim, seed + (unsigned)kills * SOAK_WORKERS);
        ck_assert_int_gt(workers[victim], 0);
    }
    atomic_store(&sh->stop, 1);
    for (int i = 0; i < SOAK_WORKERS; i++)
        ok &= reap_ok(workers[i], "worker");
    ok &= reap_ok(garbage, "garbage sender");
    ok &= reap_ok(nonreader, "never-reading client");

    /* The daemon notices closed connections on its own schedule: poll its
     * record until only this checker is connected (bounded). */
    ck_assert_int_eq(rawc_connect(&c, d.socket), 0);
    ck_assert_int_eq(rawc_hello(&c), 0);
    for (uint64_t until = now_ms() + HARNESS_WAIT_MS;;) {
        ck_assert_int_eq(rawc_daemon(&c, &di), 0);
        ck_assert_int_eq(rawc_stats(&c, ARENA, &st), 0);
        if ((di.clients == 1 && st.blocks_live == 0) || now_ms() > until)
            break;
        pause_ms(10);
    }
    ck_assert_int_eq(rawc_validate(&c, ARENA), 0);
    rss_end = harness_rss_kib(d.pid);

    printf("soak: %u s, %d workers, ops=%llu kills=%llu garbage_connections=%llu "
           "never_reading_clients=%llu keep_blocks=%llu errors=%llu corrupt=%llu lost=%llu "
           "daemon_rss_kib warm=%ld end=%ld%s\n",
           secs, SOAK_WORKERS, (unsigned long long)atomic_load(&sh->ops),
           (unsigned long long)kills, (unsigned long long)atomic_load(&sh->garbage_conns),
           (unsigned long long)atomic_load(&sh->nonreaders),
           (unsigned long long)atomic_load(&sh->keep_blocks),
           (unsigned long long)atomic_load(&sh->errors),
           (unsigned long long)atomic_load(&sh->corrupt), (unsigned long long)st.blocks_live,
           rss_warm, rss_end, SANITIZED ? " (sanitizer build: RSS not bounded)" : "");
    fflush(stdout);

    ck_assert_msg(ok, "a soak process failed (see above)");
    ck_assert_uint_eq(atomic_load(&sh->corrupt), 0);
    ck_assert_uint_eq(atomic_load(&sh->errors), 0);
    ck_assert_uint_eq(st.blocks_live, 0);
    ck_assert_uint_eq(st.bytes_live, 0);
    ck_assert_uint_eq(di.clients, 1);
    ck_assert_uint_gt(atomic_load(&sh->ops), 0);
    ck_assert_uint_gt(kills, 0);
    ck_assert_uint_gt(atomic_load(&sh->garbage_conns), 0);
    if (!SANITIZED && rss_warm > 0)
        ck_assert_msg(rss_end <= rss_warm + RSS_SLACK_KIB,
                      "daemon RSS grew from %ld KiB to %ld KiB", rss_warm, rss_end);
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ofad_cleanup(&d);
    munmap(sh, sizeof(*sh));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("soak");
    TCase *tc = tcase_create("soak");

    /* The run's own length plus the wind-down; OFA_SOAK_SECONDS may be long. */
    tcase_set_timeout(tc, (double)soak_seconds() + 120.0);
    tcase_add_test(tc, soak_run);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}

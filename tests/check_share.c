/*
 * check_share.c - libofaclient against a real ofad: processes sharing bytes
 * through offsets, ownership when clients exit or are killed, concurrent
 * clients, errors, permissions, page mappings, pins and batches.
 *
 * Each test starts its own ofad on a temporary socket (tests/harness.h) and
 * stops it at the end, checking that it exits 0 and leaves no segment; the
 * harness kills and cleans up a daemon a failed test leaves behind.
 *
 * Child processes stand for independent programs. They report through their
 * exit status and pipes, never through Check (a failing assertion in a child
 * would run the parent's exit handlers), and leave with _exit().
 *
 * Waiting for the daemon to notice a closed connection is a bounded poll of
 * its statistics (the close is asynchronous to us), not a sleep.
 *
 * The random test prints its seed; OFA_SEED=<n> replays it.
 */
#include <check.h>
#include <dirent.h>
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

#define ARENA "t"
#define PAGE  (64u * 1024)

static struct ofad d;

/* Starts ofad with arena "t" (64 KiB pages, 16 MiB) and whatever else. */
static void start(const char *extra_arena)
{
    const char *args[6] = {"--arena", ARENA ",page_size=64K,max=16M", NULL, NULL, NULL, NULL};

    if (extra_arena != NULL) {
        args[2] = "--arena";
        args[3] = extra_arena;
    }
    ck_assert_int_eq(ofad_start(&d, args), 0);
}

static void stop(void)
{
    ck_assert_int_eq(ofad_stop(&d), 0);
    ck_assert_int_eq(ofad_segments(d.tag), 0);
    ofad_cleanup(&d);
}

static void conn_open(ofa_client **c, ofa_arena **a, const char *arena)
{
    ck_assert_int_eq(ofa_connect(d.socket, c), 0);
    ck_assert_int_eq(ofa_arena_open(*c, arena, a), 0);
}

static ofa_arena_stats stats_of(const char *arena)
{
    ofa_arena_info info;
    ofa_client *c;

    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_info_get(c, arena, &info), 0);
    ofa_disconnect(c);
    return info.stats;
}

/* Polls until the arena's live blocks are back to want (the daemon frees a
 * closed connection's blocks when its loop sees the close). */
static ofa_arena_stats wait_blocks(const char *arena, uint64_t want)
{
    struct timespec ms = {0, 1000000};
    ofa_arena_stats s;
    int i;

    for (i = 0; i < HARNESS_WAIT_MS; i++) {
        s = stats_of(arena);
        if (s.blocks_live == want)
            break;
        nanosleep(&ms, NULL);
    }
    ck_assert_uint_eq(s.blocks_live, want);
    return s;
}

/* --- patterns: what a block of size bytes at off holds for owner --- */

static uint64_t pat_word(uint64_t owner, uint64_t off, uint64_t i)
{
    uint64_t x = (owner << 40) ^ (off + i * 8) ^ 0x9e3779b97f4a7c15ull;

    x ^= x >> 29;
    return x * 0xbf58476d1ce4e5b9ull;
}

static void pat_fill(void *p, uint64_t owner, uint64_t off, uint64_t size)
{
    uint8_t *b = p;
    uint64_t i, w;

    for (i = 0; i < size; i += 8) {
        w = pat_word(owner, off, i / 8);
        memcpy(b + i, &w, size - i < 8 ? size - i : 8);
    }
}

static int pat_check(const void *p, uint64_t owner, uint64_t off, uint64_t size)
{
    const uint8_t *b = p;
    uint64_t i, w;

    for (i = 0; i < size; i += 8) {
        w = pat_word(owner, off, i / 8);
        if (memcmp(b + i, &w, size - i < 8 ? size - i : 8) != 0)
            return -1;
    }
    return 0;
}

/* Mappings of ofad pages (memfds labelled "ofa:<arena>") in this process. */
static int count_mappings(void)
{
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0;

    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, "/memfd:ofa:") != NULL)
            n++;
    fclose(f);
    return n;
}

/* The permissions ("rw-s") of the mapping that holds p, or "" if none. */
static void mapping_perms(const void *p, char perms[5])
{
    char line[512];
    unsigned long lo, hi;
    FILE *f = fopen("/proc/self/maps", "r");

    perms[0] = '\0';
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && (unsigned long)p >= lo &&
            (unsigned long)p < hi)
            break;
        perms[0] = '\0';
    }
    fclose(f);
}

static pid_t fork_child(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* A test that fails leaves at once: its children go with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(fn(arg));
    }
    return pid;
}

static int wait_child(pid_t pid)
{
    int st;

    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

static void read_full(int fd, void *p, size_t n)
{
    ssize_t k;

    while (n > 0) {
        k = read(fd, p, n);
        ck_assert_int_gt(k, 0);
        p = (char *)p + k;
        n -= (size_t)k;
    }
}

/* In children: 0 or exit(1). */
static int write_full(int fd, const void *p, size_t n)
{
    ssize_t k;

    while (n > 0) {
        k = write(fd, p, n);
        if (k <= 0)
            return -1;
        p = (const char *)p + k;
        n -= (size_t)k;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* share: a producer hands a block to a consumer through its offset     */

struct producer {
    int out;            /* pipe: the offsets go here */
    uint64_t kept_size; /* OFA_KEEP block */
};

static int producer(void *arg)
{
    struct producer *p = arg;
    uint64_t offs[2];
    ofa_client *c;
    ofa_arena *a;
    void *m;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    if (ofa_alloc_ex(a, p->kept_size, 0, OFA_KEEP, &offs[0]) != 0 ||
        ofa_alloc(a, 1000, &offs[1]) != 0)
        return 2;
    if ((m = ofa_ptr(a, offs[0])) == NULL)
        return 3;
    pat_fill(m, 1, offs[0], p->kept_size);
    if ((m = ofa_ptr(a, offs[1])) == NULL)
        return 3;
    pat_fill(m, 1, offs[1], 1000);
    if (write_full(p->out, offs, sizeof(offs)) != 0)
        return 4;
    ofa_disconnect(c); /* offs[1] dies with us, offs[0] stays */
    return 0;
}

struct consumer {
    uint64_t offs[2];
    uint64_t kept_size;
};

static int consumer(void *arg)
{
    struct consumer *k = arg;
    ofa_client *c;
    ofa_arena *a;
    void *m;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    m = ofa_ptr(a, k->offs[0]);
    if (m == NULL || pat_check(m, 1, k->offs[0], k->kept_size) != 0)
        return 2;
    /* A byte in the middle of the block maps to the same place. */
    if (ofa_ptr(a, k->offs[0] + k->kept_size - 1) != (char *)m + k->kept_size - 1)
        return 3;
    if (ofa_free(a, k->offs[1]) != -EINVAL) /* freed when the producer left */
        return 4;
    if (ofa_free(a, k->offs[0]) != 0)
        return 5;
    if (ofa_free(a, k->offs[0]) != -EINVAL) /* twice */
        return 6;
    ofa_disconnect(c);
    return 0;
}

START_TEST(test_producer_consumer)
{
    ofa_arena_stats base, s;
    struct producer p;
    struct consumer k;
    int fds[2];
    pid_t pid;

    start(NULL);
    base = stats_of(ARENA);
    ck_assert_int_eq(pipe(fds), 0);
    p.out = fds[1];
    p.kept_size = 5000;
    pid = fork_child(producer, &p);
    close(fds[1]);
    read_full(fds[0], k.offs, sizeof(k.offs));
    close(fds[0]);
    ck_assert_int_eq(wait_child(pid), 0);
    ck_assert_uint_ne(k.offs[0], 0);
    ck_assert_uint_eq(k.offs[0] % 64, 0);

    /* Only the kept block outlives the producer. */
    s = wait_blocks(ARENA, base.blocks_live + 1);
    ck_assert_uint_ge(s.bytes_live, base.bytes_live + 5000);

    k.kept_size = p.kept_size;
    ck_assert_int_eq(wait_child(fork_child(consumer, &k)), 0);
    s = stats_of(ARENA);
    ck_assert_uint_eq(s.blocks_live, base.blocks_live);
    ck_assert_uint_eq(s.bytes_live, base.bytes_live);
    stop();
}
END_TEST

/* Two live processes write to each other through one block. */
struct pingpong {
    int to_peer[2], to_main[2];
};

static int pong(void *arg)
{
    struct pingpong *pp = arg;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;
    char *m;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    if (read(pp->to_peer[0], &off, sizeof(off)) != sizeof(off))
        return 2;
    m = ofa_ptr(a, off);
    if (m == NULL || strcmp(m, "ping") != 0)
        return 3;
    strcpy(m, "pong");
    if (write_full(pp->to_main[1], &off, sizeof(off)) != 0)
        return 4;
    ofa_disconnect(c);
    return 0;
}

START_TEST(test_two_live_processes)
{
    struct pingpong pp;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off, back;
    char *m;
    pid_t pid;

    start(NULL);
    ck_assert_int_eq(pipe(pp.to_peer), 0);
    ck_assert_int_eq(pipe(pp.to_main), 0);
    pid = fork_child(pong, &pp);
    conn_open(&c, &a, ARENA);
    ck_assert_int_eq(ofa_alloc(a, 64, &off), 0);
    m = ofa_ptr(a, off);
    ck_assert_ptr_nonnull(m);
    strcpy(m, "ping");
    ck_assert_int_eq(write_full(pp.to_peer[1], &off, sizeof(off)), 0);
    read_full(pp.to_main[0], &back, sizeof(back));
    ck_assert_uint_eq(back, off);
    ck_assert_str_eq(m, "pong");
    ck_assert_int_eq(wait_child(pid), 0);
    ck_assert_int_eq(ofa_free(a, off), 0);
    ofa_disconnect(c);
    close(pp.to_peer[0]);
    close(pp.to_peer[1]);
    close(pp.to_main[0]);
    close(pp.to_main[1]);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* kill9: a client killed while holding blocks                          */

struct holder {
    int ready;
    int nblocks;
};

static int holder(void *arg)
{
    struct holder *h = arg;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;
    void *m;
    int i;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    for (i = 0; i < h->nblocks; i++) {
        if (ofa_alloc(a, 3000 + (uint64_t)i * 100, &off) != 0 || (m = ofa_ptr(a, off)) == NULL)
            return 2;
        memset(m, 0x5a, 3000);
    }
    /* A big one too: a page of its own. */
    if (ofa_alloc(a, 3 * PAGE, &off) != 0 || ofa_ptr(a, off) == NULL)
        return 3;
    if (write_full(h->ready, "r", 1) != 0)
        return 4;
    for (;;)
        pause(); /* until kill -9 */
}

START_TEST(test_kill9)
{
    ofa_arena_stats base, s;
    struct holder h;
    ofa_client *c;
    ofa_arena *a;
    uint64_t mine, off;
    char r;
    int fds[2];
    void *m;
    pid_t pid;

    start(NULL);
    /* Another client, holding a block through it all. */
    conn_open(&c, &a, ARENA);
    ck_assert_int_eq(ofa_alloc(a, 4000, &mine), 0);
    m = ofa_ptr(a, mine);
    ck_assert_ptr_nonnull(m);
    pat_fill(m, 7, mine, 4000);
    base = stats_of(ARENA);

    ck_assert_int_eq(pipe(fds), 0);
    h.ready = fds[1];
    h.nblocks = 50;
    pid = fork_child(holder, &h);
    close(fds[1]);
    read_full(fds[0], &r, 1);
    close(fds[0]);
    s = stats_of(ARENA);
    ck_assert_uint_eq(s.blocks_live, base.blocks_live + 51);
    ck_assert_uint_gt(s.bytes_reserved, base.bytes_reserved);

    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(wait_child(pid), 128 + SIGKILL);

    s = wait_blocks(ARENA, base.blocks_live);
    ck_assert_uint_eq(s.bytes_live, base.bytes_live);
    ck_assert_uint_eq(s.frees, base.frees + 51);
    /* The big page went back to the OS; at most one spare page stays. */
    ck_assert_uint_le(s.bytes_reserved, base.bytes_reserved + PAGE);

    /* The other client carries on. */
    ck_assert_int_eq(pat_check(m, 7, mine, 4000), 0);
    ck_assert_int_eq(ofa_ping(c), 0);
    ck_assert_int_eq(ofa_alloc(a, 100, &off), 0);
    ck_assert_int_eq(ofa_free(a, off), 0);
    ck_assert_int_eq(ofa_free(a, mine), 0);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* concurrent: processes allocating and freeing at once                 */

#define STRESS_PROCS 4
#define STRESS_LIVE  48

struct blk {
    uint64_t off, size;
};

struct stresser {
    unsigned idx;
    uint64_t seed;
    int ops;
    int result;   /* pipe: the blocks still held at the end */
    int go;       /* pipe: closed by the parent when it has checked them */
    int go_write; /* its other end, which this process must not hold */
};

static uint64_t rnd(uint64_t *s)
{
    /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static int overlaps(const struct blk *v, int n, uint64_t off, uint64_t size)
{
    int i;

    for (i = 0; i < n; i++)
        if (off < v[i].off + v[i].size && v[i].off < off + size)
            return 1;
    return 0;
}

static int stresser(void *arg)
{
    struct stresser *st = arg;
    struct blk live[STRESS_LIVE];
    uint64_t s = st->seed * 0x9e3779b97f4a7c15ull + st->idx + 1, me = (uint64_t)getpid();
    uint64_t off, size;
    ofa_client *c;
    ofa_arena *a;
    int n = 0, i, k, rc;
    char go;
    void *m;

    close(st->go_write);
    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    for (i = 0; i < st->ops; i++) {
        if (n == 0 || (n < STRESS_LIVE && rnd(&s) % 2 == 0)) {
            size = rnd(&s) % 50 == 0 ? PAGE + rnd(&s) % (2 * PAGE) : 1 + rnd(&s) % 6000;
            rc = ofa_alloc(a, size, &off);
            if (rc == -ENOMEM)
                continue; /* the arena is full for now */
            if (rc != 0)
                return 2;
            if (off % 64 != 0 || overlaps(live, n, off, size))
                return 3;
            if ((m = ofa_ptr(a, off)) == NULL)
                return 4;
            pat_fill(m, me, off, size);
            live[n].off = off;
            live[n].size = size;
            n++;
        } else {
            k = (int)(rnd(&s) % (uint64_t)n);
            if ((m = ofa_ptr(a, live[k].off)) == NULL)
                return 5;
            if (pat_check(m, me, live[k].off, live[k].size) != 0)
                return 6; /* somebody else wrote into our block */
            if (ofa_free(a, live[k].off) != 0)
                return 7;
            live[k] = live[--n];
        }
    }
    if (write_full(st->result, &n, sizeof(n)) != 0 ||
        write_full(st->result, live, (size_t)n * sizeof(live[0])) != 0)
        return 8;
    /* Hold the blocks while the parent compares everybody's. */
    if (read(st->go, &go, 1) != 0)
        return 9;
    for (k = 0; k < n; k++)
        if ((m = ofa_ptr(a, live[k].off)) == NULL || pat_check(m, me, live[k].off, live[k].size))
            return 10;
    ofa_disconnect(c);
    return 0;
}

static int cmp_blk(const void *x, const void *y)
{
    const struct blk *a = x, *b = y;

    return a->off < b->off ? -1 : a->off > b->off;
}

START_TEST(test_concurrent)
{
    struct stresser st[STRESS_PROCS];
    struct blk all[STRESS_PROCS * STRESS_LIVE];
    int res[STRESS_PROCS][2], go[2], n, total = 0, i, rc;
    pid_t pids[STRESS_PROCS];
    const char *env = getenv("OFA_SEED");
    ofa_arena_stats base;
    uint64_t seed;

    seed = env != NULL ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    fprintf(stderr, "check_share concurrent: seed %" PRIu64 " (OFA_SEED=%" PRIu64 " replays)\n",
            seed, seed);
    start(NULL);
    base = stats_of(ARENA);
    ck_assert_int_eq(pipe(go), 0);
    for (i = 0; i < STRESS_PROCS; i++) {
        ck_assert_int_eq(pipe(res[i]), 0);
        st[i].idx = (unsigned)i;
        st[i].seed = seed;
        st[i].ops = 1500;
        st[i].result = res[i][1];
        st[i].go = go[0];
        st[i].go_write = go[1];
        pids[i] = fork_child(stresser, &st[i]);
        close(res[i][1]);
    }
    close(go[0]);
    for (i = 0; i < STRESS_PROCS; i++) {
        rc = (int)read(res[i][0], &n, sizeof(n));
        if (rc != sizeof(n)) {
            close(go[1]);
            ck_abort_msg("process %d failed with %d (seed %" PRIu64 ")", i, wait_child(pids[i]),
                         seed);
        }
        ck_assert_int_le(n, STRESS_LIVE);
        read_full(res[i][0], all + total, (size_t)n * sizeof(all[0]));
        total += n;
        close(res[i][0]);
    }
    /* Everybody's live blocks at one moment: none overlaps another. */
    qsort(all, (size_t)total, sizeof(all[0]), cmp_blk);
    for (i = 1; i < total; i++)
        ck_assert_msg(all[i - 1].off + all[i - 1].size <= all[i].off,
                      "blocks overlap: %" PRIu64 "+%" PRIu64 " and %" PRIu64 " (seed %" PRIu64 ")",
                      all[i - 1].off, all[i - 1].size, all[i].off, seed);
    ck_assert_uint_eq(stats_of(ARENA).blocks_live, base.blocks_live + (uint64_t)total);
    close(go[1]);
    for (i = 0; i < STRESS_PROCS; i++) {
        rc = wait_child(pids[i]);
        ck_assert_msg(rc == 0, "process %d failed with %d (seed %" PRIu64 ")", i, rc, seed);
    }
    wait_blocks(ARENA, base.blocks_live);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* errors: each gets its error and changes nothing                      */

START_TEST(test_errors)
{
    ofa_arena_config cfg = {.page_size = PAGE, .max_bytes = 4 * PAGE};
    ofa_arena_stats before, after;
    ofa_arena_info info;
    ofa_client *c;
    ofa_arena *a, *small, *x;
    uint64_t off, o2, offs[8];
    char longname[65];
    int i, rc;

    start(NULL);
    conn_open(&c, &a, ARENA);
    ck_assert_int_eq(ofa_alloc(a, 256, &off), 0);
    before = stats_of(ARENA);

    /* Frees of anything that is not the start of a live block. */
    ck_assert_int_eq(ofa_free(a, off + 64), -EINVAL);
    ck_assert_int_eq(ofa_free(a, off + 1), -EINVAL);
    ck_assert_int_eq(ofa_free(a, 0), -EINVAL);
    ck_assert_int_eq(ofa_free(a, UINT64_MAX), -EINVAL);
    ck_assert_int_eq(ofa_free(a, 1ull << 50), -EINVAL);
    after = stats_of(ARENA);
    ck_assert_uint_eq(after.blocks_live, before.blocks_live);
    ck_assert_uint_eq(after.frees, before.frees);
    ck_assert_int_eq(ofa_free(a, off), 0);
    ck_assert_int_eq(ofa_free(a, off), -EINVAL); /* twice */
    ck_assert_uint_eq(stats_of(ARENA).frees, before.frees + 1);

    /* Unknown arenas, bad names, existing names. */
    ck_assert_int_eq(ofa_arena_open(c, "nosuch", &x), -ENOENT);
    ck_assert_ptr_null(x);
    ck_assert_int_eq(ofa_arena_info_get(c, "nosuch", &info), -ENOENT);
    ck_assert_int_eq(ofa_arena_drop(c, "nosuch", 1), -ENOENT);
    memset(longname, 'x', 64);
    longname[64] = '\0';
    {
        const char *bad[] = {"", "a b", "a/b", "../x", "é", longname};
        for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
            ck_assert_int_eq(ofa_arena_open(c, bad[i], &x), -EINVAL);
            ck_assert_int_eq(ofa_arena_create(c, bad[i], NULL), -EINVAL);
            ck_assert_int_eq(ofa_arena_drop(c, bad[i], 0), -EINVAL);
            ck_assert_int_eq(ofa_arena_info_get(c, bad[i], &info), -EINVAL);
        }
    }
    longname[63] = '\0'; /* 63 is the longest valid name */
    ck_assert_int_eq(ofa_arena_create(c, longname, NULL), 0);
    ck_assert_int_eq(ofa_arena_drop(c, longname, 0), 0);
    ck_assert_int_eq(ofa_arena_create(c, ARENA, NULL), -EEXIST);
    {
        ofa_arena_config bad_align = {.align = 48}, bad_page = {.page_size = 1000};
        ck_assert_int_eq(ofa_arena_create(c, "cfg", &bad_align), -EINVAL);
        ck_assert_int_eq(ofa_arena_create(c, "cfg", &bad_page), -EINVAL);
    }

    /* Sizes: 0, over max_bytes, and filling the arena up. */
    ck_assert_int_eq(ofa_arena_create(c, "small", &cfg), 0);
    ck_assert_int_eq(ofa_arena_open(c, "small", &small), 0);
    before = stats_of("small");
    ck_assert_uint_eq(before.max_bytes, 4 * PAGE);
    ck_assert_int_eq(ofa_alloc(small, 0, &o2), -EINVAL);
    ck_assert_int_eq(ofa_alloc(small, 4 * PAGE + 1, &o2), -ENOMEM);
    ck_assert_int_eq(ofa_alloc(small, 1ull << 62, &o2), -EINVAL); /* over any page */
    after = stats_of("small");
    ck_assert_uint_eq(after.blocks_live, 0);
    ck_assert_uint_eq(after.bytes_reserved, 0);
    for (i = 0; i < 8; i++) {
        rc = ofa_alloc(small, PAGE, &offs[i]);
        if (rc != 0)
            break;
    }
    ck_assert_int_eq(rc, -ENOMEM);
    ck_assert_int_eq(i, 4);
    after = stats_of("small");
    ck_assert_uint_eq(after.blocks_live, 4);
    ck_assert_uint_eq(after.bytes_reserved, 4 * PAGE);
    ck_assert_uint_ge(after.alloc_failures, before.alloc_failures + 1);

    /* An offset of another arena. */
    ck_assert_int_eq(ofa_alloc(a, 64, &off), 0);
    ck_assert_int_eq(ofa_free(small, off), -EINVAL);
    ck_assert_int_eq(ofa_free(a, off), 0);

    /* Drop: refused with live blocks, unless forced. */
    ck_assert_int_eq(ofa_arena_drop(c, "small", 0), -EBUSY);
    ck_assert_uint_eq(stats_of("small").blocks_live, 4);
    ck_assert_int_eq(ofa_arena_drop(c, "small", 1), 0);
    ck_assert_int_eq(ofa_arena_info_get(c, "small", &info), -ENOENT);
    ck_assert_int_ne(ofa_alloc(small, 64, &o2), 0); /* the handle is dead */
    ofa_arena_close(small);
    ck_assert_int_eq(ofa_ping(c), 0);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* permissions: another uid (nobody)                                    */

struct nobody_args {
    uint64_t priv_off, pub_off;
    uint64_t size;
};

/* No page of this daemon can be opened directly (its descriptors, seen in
 * /proc/PID/fd, are closed to other users): no route around the daemon's
 * permission checks. */
static int nobody_no_segments(void *arg)
{
    char dir[64], path[300];
    DIR *fds;
    int fd;

    (void)arg;
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)d.pid);
    fds = opendir(dir);
    if (fds != NULL) {
        closedir(fds);
        return 2; /* we could list them */
    }
    if (errno != EACCES)
        return 1;
    for (int i = 3; i < 64; i++) {
        snprintf(path, sizeof(path), "%s/%d", dir, i);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 || errno != EACCES) {
            if (fd >= 0)
                close(fd);
            return 3;
        }
    }
    return 0;
}

static int nobody_client(void *arg)
{
    struct nobody_args *na = arg;
    ofa_arena_info info;
    ofa_client *c;
    ofa_arena *a, *x;
    uint64_t off, offs[2];
    char perms[5];
    void *m;

    if (ofa_connect(d.socket, &c) != 0)
        return 1;
    /* 0600 root's: nothing at all. */
    if (ofa_arena_open(c, "priv", &x) != -EACCES || x != NULL)
        return 2;
    if (ofa_arena_info_get(c, "priv", &info) != -EACCES)
        return 3;
    if (ofa_arena_drop(c, "priv", 1) != -EACCES)
        return 4;
    /* 0644 root's: read-only. */
    if (ofa_arena_open(c, "pub", &a) != 0 || ofa_arena_writable(a) != 0)
        return 5;
    if (ofa_alloc(a, 64, &off) != -EACCES || ofa_alloc_ex(a, 64, 0, OFA_ZERO, &off) != -EACCES ||
        ofa_alloc_many(a, 64, 0, 0, 2, offs) != -EACCES)
        return 6;
    if (ofa_free(a, na->pub_off) != -EACCES)
        return 7;
    offs[0] = na->pub_off;
    if (ofa_free_many(a, offs, 1) != -EACCES)
        return 8;
    if (ofa_arena_drop(c, "pub", 1) != -EACCES)
        return 9;
    m = ofa_ptr(a, na->pub_off);
    if (m == NULL || pat_check(m, 3, na->pub_off, na->size) != 0)
        return 10;
    mapping_perms(m, perms);
    if (strcmp(perms, "r--s") != 0)
        return 11;
    if (ofa_arena_info_get(c, "pub", &info) != 0 || info.stats.blocks_live != 1)
        return 12;
    ofa_disconnect(c);
    return 0;
}

START_TEST(test_permissions)
{
    ofa_arena_config priv = {.mode = 0600}, pub = {.mode = 0644};
    struct nobody_args na;
    ofa_arena_stats ps, us, s;
    ofa_client *c;
    ofa_arena *pa, *ua;
    int rc;

    start(NULL);
    ck_assert_int_eq(ofad_open_to_all(&d), 0);
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_create(c, "priv", &priv), 0);
    ck_assert_int_eq(ofa_arena_create(c, "pub", &pub), 0);
    ck_assert_int_eq(ofa_arena_open(c, "priv", &pa), 0);
    ck_assert_int_eq(ofa_arena_open(c, "pub", &ua), 0);
    ck_assert_int_eq(ofa_arena_writable(pa), 1);
    na.size = 1000;
    ck_assert_int_eq(ofa_alloc(pa, na.size, &na.priv_off), 0);
    pat_fill(ofa_ptr(pa, na.priv_off), 3, na.priv_off, na.size);

    /* Only priv has pages now: nobody opens none of them by name. */
    rc = harness_as_user("nobody", (gid_t)-1, nobody_no_segments, NULL);
    ck_assert_int_eq(rc, 0);

    ck_assert_int_eq(ofa_alloc(ua, na.size, &na.pub_off), 0);
    pat_fill(ofa_ptr(ua, na.pub_off), 3, na.pub_off, na.size);
    ps = stats_of("priv");
    us = stats_of("pub");
    rc = harness_as_user("nobody", (gid_t)-1, nobody_client, &na);
    ck_assert_int_eq(rc, 0);

    /* Nothing changed. */
    s = stats_of("priv");
    ck_assert_uint_eq(s.blocks_live, ps.blocks_live);
    ck_assert_uint_eq(s.allocs, ps.allocs);
    ck_assert_uint_eq(s.frees, ps.frees);
    s = stats_of("pub");
    ck_assert_uint_eq(s.blocks_live, us.blocks_live);
    ck_assert_uint_eq(s.allocs, us.allocs);
    ck_assert_uint_eq(s.frees, us.frees);
    ck_assert_int_eq(pat_check(ofa_ptr(pa, na.priv_off), 3, na.priv_off, na.size), 0);
    ck_assert_int_eq(ofa_free(pa, na.priv_off), 0);
    ck_assert_int_eq(ofa_free(ua, na.pub_off), 0);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* pages: mapping, unmapping, pointers                                  */

START_TEST(test_pages)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t off, big, std[3];
    ofa_arena_stats s;
    char *m, *e, perms[5];
    int i, n;

    start(NULL);
    conn_open(&c, &a, ARENA);
    ck_assert_int_eq(count_mappings(), 0);
    ck_assert_int_eq(ofa_alloc(a, 1000, &off), 0);
    m = ofa_ptr(a, off);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(count_mappings(), 1);
    mapping_perms(m, perms);
    ck_assert_str_eq(perms, "rw-s");
    /* Any byte of the block. */
    ck_assert_ptr_eq(ofa_ptr(a, off + 999), m + 999);
    ck_assert_ptr_eq(ofa_ptr(a, off + 500), m + 500);
    memset(m, 0x11, 1000);

    /* A block larger than a page gets a page of its own, mapped on use and
     * unmapped when it is freed (the daemon releases such a page at once). */
    ck_assert_int_eq(ofa_alloc(a, 3 * PAGE + 5, &big), 0);
    e = ofa_ptr(a, big + 3 * PAGE + 4);
    ck_assert_ptr_nonnull(e);
    *e = 1;
    ck_assert_int_eq(count_mappings(), 2);
    ck_assert_int_eq(ofa_free(a, big), 0);
    ck_assert_ptr_null(ofa_ptr(a, big));
    ck_assert_ptr_null(ofa_ptr(a, big + PAGE));
    ck_assert_int_eq(count_mappings(), 1);

    /* Standard pages: three blocks that fill a page each. */
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(ofa_alloc(a, PAGE, &std[i]), 0);
        ck_assert_ptr_nonnull(ofa_ptr(a, std[i]));
    }
    ck_assert_int_eq(count_mappings(), 4);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(ofa_free(a, std[i]), 0);
    /* The daemon keeps at most one spare: at least two were released. */
    n = 0;
    for (i = 0; i < 3; i++)
        n += ofa_ptr(a, std[i]) == NULL;
    ck_assert_int_ge(n, 2);
    s = stats_of(ARENA);
    ck_assert_int_eq(count_mappings(), (int)s.pages);
    ck_assert_int_eq(ofa_arena_trim(a), 0); /* already done */

    /* The first block was never disturbed. */
    ck_assert_ptr_eq(ofa_ptr(a, off), m);
    for (i = 0; i < 1000; i++)
        ck_assert_int_eq(m[i], 0x11);
    ck_assert_int_eq(ofa_free(a, off), 0);

    /* Closing the arena unmaps its pages; so does disconnecting. */
    ofa_arena_close(a);
    ck_assert_int_eq(count_mappings(), 0);
    ck_assert_int_eq(ofa_arena_open(c, ARENA, &a), 0);
    ck_assert_int_eq(ofa_alloc(a, 64, &off), 0);
    ck_assert_ptr_nonnull(ofa_ptr(a, off));
    ck_assert_int_eq(count_mappings(), 1);
    ofa_disconnect(c);
    ck_assert_int_eq(count_mappings(), 0);
    stop();
}
END_TEST

/* A page another process empties stays mapped until a trim. */
static int free_it(void *arg)
{
    ofa_client *c;
    ofa_arena *a;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    if (ofa_free(a, *(uint64_t *)arg) != 0)
        return 2;
    ofa_disconnect(c);
    return 0;
}

START_TEST(test_trim)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t big, small;
    char *m;

    start(NULL);
    conn_open(&c, &a, ARENA);
    ck_assert_int_eq(ofa_alloc(a, 100, &small), 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 2 * PAGE, 0, OFA_KEEP, &big), 0);
    m = ofa_ptr(a, big);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(ofa_ptr(a, small));
    ck_assert_int_eq(count_mappings(), 2);
    ck_assert_int_eq(wait_child(fork_child(free_it, &big)), 0);
    /* Still mapped here, and still addressable. */
    ck_assert_int_eq(count_mappings(), 2);
    m[0] = 1;
    ck_assert_int_eq(ofa_arena_trim(a), 1);
    ck_assert_int_eq(count_mappings(), 1);
    ck_assert_ptr_null(ofa_ptr(a, big));
    ck_assert_ptr_nonnull(ofa_ptr(a, small));
    ofa_disconnect(c);
    stop();
}
END_TEST

START_TEST(test_alignment_and_zero)
{
    ofa_arena_config cfg = {.page_size = PAGE, .align = 256};
    ofa_client *c;
    ofa_arena *a, *b;
    uint64_t off, off2;
    unsigned char *m;
    int i;

    start(NULL);
    conn_open(&c, &a, ARENA);
    ck_assert_int_eq(ofa_alloc(a, 10, &off), 0);
    ck_assert_uint_eq(off % 64, 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 10, 4096, 0, &off2), 0);
    ck_assert_uint_eq(off2 % 4096, 0);
    ck_assert_int_eq(ofa_free(a, off2), 0);
    ck_assert_int_eq(ofa_free(a, off), 0);

    ck_assert_int_eq(ofa_arena_create(c, "a256", &cfg), 0);
    ck_assert_int_eq(ofa_arena_open(c, "a256", &b), 0);
    for (i = 0; i < 10; i++) {
        ck_assert_int_eq(ofa_alloc(b, 1 + (uint64_t)i * 7, &off), 0);
        ck_assert_uint_eq(off % 256, 0);
    }

    /* OFA_ZERO: dirty a block, free it, ask for a zeroed one. */
    ck_assert_int_eq(ofa_alloc(a, 3000, &off), 0);
    m = ofa_ptr(a, off);
    memset(m, 0xee, 3000);
    ck_assert_int_eq(ofa_free(a, off), 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 3000, 0, OFA_ZERO, &off2), 0);
    m = ofa_ptr(a, off2);
    ck_assert_ptr_nonnull(m);
    for (i = 0; i < 3000; i++)
        ck_assert_int_eq(m[i], 0);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* batch: ofa_alloc_many / ofa_free_many                                */

START_TEST(test_batch)
{
    static uint64_t offs[4096];
    ofa_arena_config cfg = {.page_size = PAGE, .max_bytes = 4 * PAGE};
    ofa_arena_stats base, s;
    struct blk v[200];
    ofa_client *c;
    ofa_arena *a, *small;
    uint64_t three[3];
    unsigned char *m;
    int i, j;

    start(NULL);
    conn_open(&c, &a, ARENA);
    base = stats_of(ARENA);
    ck_assert_int_eq(ofa_alloc_many(a, 100, 0, 0, 200, offs), 0);
    for (i = 0; i < 200; i++) {
        ck_assert_uint_ne(offs[i], 0);
        ck_assert_uint_eq(offs[i] % 64, 0);
        v[i].off = offs[i];
        v[i].size = 100;
        m = ofa_ptr(a, offs[i]);
        ck_assert_ptr_nonnull(m);
        pat_fill(m, 9, offs[i], 100);
    }
    qsort(v, 200, sizeof(v[0]), cmp_blk);
    for (i = 1; i < 200; i++)
        ck_assert_uint_le(v[i - 1].off + v[i - 1].size, v[i].off);
    for (i = 0; i < 200; i++)
        ck_assert_int_eq(pat_check(ofa_ptr(a, offs[i]), 9, offs[i], 100), 0);
    ck_assert_uint_eq(stats_of(ARENA).blocks_live, base.blocks_live + 200);

    /* Free half; then a list with a bad offset in the middle stops there. */
    ck_assert_int_eq(ofa_free_many(a, offs, 100), 100);
    three[0] = offs[100];
    three[1] = offs[0]; /* already freed */
    three[2] = offs[101];
    ck_assert_int_eq(ofa_free_many(a, three, 3), 1);
    ck_assert_int_eq(ofa_free(a, offs[100]), -EINVAL); /* went */
    ck_assert_int_eq(ofa_free(a, offs[101]), 0);       /* stayed */
    ck_assert_int_eq(ofa_free_many(a, offs + 102, 98), 98);
    ck_assert_uint_eq(stats_of(ARENA).blocks_live, base.blocks_live);

    /* The largest batch. */
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, 0, 4096, offs), 0);
    ck_assert_int_eq(ofa_free_many(a, offs, 4096), 4096);
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, 0, 4097, offs), -EINVAL);

    /* All or none. */
    ck_assert_int_eq(ofa_arena_create(c, "small", &cfg), 0);
    ck_assert_int_eq(ofa_arena_open(c, "small", &small), 0);
    ck_assert_int_eq(ofa_alloc_many(small, PAGE, 0, 0, 10, offs), -ENOMEM);
    s = stats_of("small");
    ck_assert_uint_eq(s.blocks_live, 0);

    /* Zeroed and kept. */
    ck_assert_int_eq(ofa_alloc_many(a, 500, 0, OFA_ZERO | OFA_KEEP, 20, offs), 0);
    for (i = 0; i < 20; i++) {
        m = ofa_ptr(a, offs[i]);
        ck_assert_ptr_nonnull(m);
        for (j = 0; j < 500; j++)
            ck_assert_int_eq(m[j], 0);
    }
    ofa_disconnect(c);
    ck_assert_uint_eq(stats_of(ARENA).blocks_live, base.blocks_live + 20);
    conn_open(&c, &a, ARENA);
    ck_assert_int_eq(ofa_free_many(a, offs, 20), 20);
    ofa_disconnect(c);
    ck_assert_uint_eq(stats_of(ARENA).blocks_live, base.blocks_live);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* pins: mappings that outlive the block, the page, the handle, the     */
/* connection                                                           */

/* A child reads the first word of the block at *arg. */
static int read_word(void *arg)
{
    const uint64_t *q = arg;
    ofa_client *c;
    ofa_arena *a;
    uint32_t *p;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    if ((p = ofa_ptr(a, q[0])) == NULL)
        return 2;
    return *p == (uint32_t)q[1] ? 0 : 3;
}

START_TEST(test_pin)
{
    ofa_client *c;
    ofa_arena *a;
    ofa_mapping *p1, *p2, *p3;
    uint64_t off, big, msg[2];
    uint32_t *v, *w, *x;
    void *q;

    start(NULL);
    conn_open(&c, &a, ARENA);
    ck_assert_int_eq(ofa_alloc(a, 256, &off), 0);
    ck_assert_int_eq(ofa_pin(a, off, 256, &p1, &q), 0);
    v = q;
    ck_assert_ptr_eq(v, ofa_ptr(a, off));
    /* The pinned address is the block's, shared with other processes. */
    v[0] = 0xfeed;
    msg[0] = off;
    msg[1] = 0xfeed;
    ck_assert_int_eq(wait_child(fork_child(read_word, msg)), 0);
    /* A second pin of the same page shares its mapping. */
    ck_assert_int_eq(ofa_pin(a, off + 128, 128, &p2, &q), 0);
    ck_assert_ptr_eq(p2, p1);
    ck_assert_ptr_eq(q, (char *)v + 128);
    ck_assert_int_eq(count_mappings(), 1);

    /* A block with a page of its own: freeing it releases the page, which
     * the library takes out of its table (ofa_ptr says so) but leaves
     * mapped for the pin. */
    ck_assert_int_eq(ofa_alloc(a, 2 * PAGE, &big), 0);
    ck_assert_int_eq(ofa_pin(a, big, 2 * PAGE, &p3, &q), 0);
    x = q;
    x[2 * PAGE / 4 - 1] = 7;
    ck_assert_int_eq(count_mappings(), 2);
    ck_assert_int_eq(ofa_free(a, big), 0);
    ck_assert_ptr_null(ofa_ptr(a, big));
    ck_assert_int_eq(count_mappings(), 2);
    /* The daemon punched the released page: its memory went back to the
     * system, and the pinned mapping reads zeroes, without a fault. */
    ck_assert_int_eq(x[2 * PAGE / 4 - 1], 0);
    x[0] = 8; /* no fault: fresh memory, ours alone */
    ck_assert_int_eq(x[0], 8);
    ofa_unpin(p3);
    ck_assert_int_eq(count_mappings(), 1);

    /* Closing the handle and the connection leaves the pinned page mapped
     * until its last pin goes. */
    ck_assert_int_eq(ofa_free(a, off), 0);
    ofa_arena_close(a);
    ck_assert_int_eq(count_mappings(), 1);
    ck_assert_int_eq(v[0], 0xfeed);
    ck_assert_int_eq(ofa_arena_open(c, ARENA, &a), 0);
    ck_assert_int_eq(ofa_alloc(a, 64, &off), 0);
    ck_assert_int_eq(ofa_pin(a, off, 64, &p3, &q), 0);
    w = q;
    ofa_disconnect(c);
    w[0] = 1;
    v[1] = 2;
    ofa_unpin(p1);
    ck_assert_int_eq(v[1], 2); /* p2 still holds it */
    ofa_unpin(p2);
    ofa_unpin(p3);
    ck_assert_int_eq(count_mappings(), 0);
    ofa_unpin(NULL);
    stop();
}
END_TEST

/* A child waits on a pinned word with no arena call; the parent changes
 * the word and wakes it the same way. Whether the child sleeps before the
 * wake (woken: 0) or after (the word changed: -EAGAIN), it sees 1. */
static int wait_pinned(void *arg)
{
    const uint64_t *off = arg;
    ofa_client *c;
    ofa_arena *a;
    ofa_mapping *m;
    void *p;
    int rc;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0 ||
        ofa_pin(a, *off, 4, &m, &p) != 0)
        return 1;
    ofa_disconnect(c); /* the pin alone keeps the word */
    do
        rc = ofa_wait_addr(p, 0, 20000);
    while (rc == 0 && *(volatile uint32_t *)p == 0);
    if ((rc != 0 && rc != -EAGAIN) || *(volatile uint32_t *)p != 1)
        return 2;
    ofa_unpin(m);
    return 0;
}

START_TEST(test_pin_wait)
{
    ofa_client *c;
    ofa_arena *a;
    ofa_mapping *m;
    uint64_t off;
    pid_t pid;
    void *p;

    start(NULL);
    conn_open(&c, &a, ARENA);
    ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, OFA_ZERO, &off), 0);
    ck_assert_int_eq(ofa_pin(a, off, 64, &m, &p), 0);
    ck_assert_int_eq(ofa_wait_addr(p, 0, 0), -ETIMEDOUT);
    ck_assert_int_eq(ofa_wait_addr(p, 5, 0), -EAGAIN);
    ck_assert_int_eq(ofa_wait_addr(p, 0, 1), -ETIMEDOUT);
    ck_assert_int_eq(ofa_wait_addr((char *)p + 2, 0, 0), -EINVAL);
    ck_assert_int_eq(ofa_wait_addr(NULL, 0, 0), -EINVAL);
    ck_assert_int_eq(ofa_wake_addr((char *)p + 1, 1), -EINVAL);
    ck_assert_int_eq(ofa_wake_addr(p, -1), -EINVAL);
    ck_assert_int_eq(ofa_wake_addr(p, 0), 0);
    pid = fork_child(wait_pinned, &off);
    __atomic_store_n((uint32_t *)p, 1, __ATOMIC_RELEASE);
    ck_assert_int_ge(ofa_wake_addr(p, INT32_MAX), 0);
    ck_assert_int_eq(wait_child(pid), 0);
    /* After the connection is gone the pinned word still works. */
    ofa_disconnect(c);
    ck_assert_int_eq(ofa_wait_addr(p, 1, 0), -ETIMEDOUT);
    ck_assert_int_eq(ofa_wake_addr(p, 1), 0);
    ofa_unpin(m);
    stop();
}
END_TEST

START_TEST(test_pin_errors)
{
    ofa_client *c;
    ofa_arena *a;
    ofa_mapping *p;
    uint64_t off;
    void *q;

    start(NULL);
    conn_open(&c, &a, ARENA);
    ck_assert_int_eq(ofa_alloc(a, 100, &off), 0);
    ck_assert_int_eq(ofa_pin(NULL, off, 1, &p, &q), -EINVAL);
    ck_assert_int_eq(ofa_pin(a, off, 1, NULL, &q), -EINVAL);
    ck_assert_int_eq(ofa_pin(a, off, 1, &p, NULL), -EINVAL);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(ofa_pin(a, 0, 1, &p, &q), -EINVAL);
    ck_assert_ptr_null(q);
    /* An offset far beyond every page of the daemon. */
    ck_assert_int_eq(ofa_pin(a, UINT64_C(1) << 60, 1, &p, &q), -ENOENT);
    /* The whole rest of the page, and one byte more. */
    ck_assert_int_eq(ofa_pin(a, off, PAGE, &p, &q), -EINVAL);
    ck_assert_int_eq(ofa_pin(a, off, UINT64_MAX, &p, &q), -EINVAL);
    ck_assert_int_eq(count_mappings(), 1);
    ck_assert_int_eq(ofa_pin(a, off, 0, &p, &q), 0);
    ofa_unpin(p);
    ofa_disconnect(c);
    ck_assert_int_eq(count_mappings(), 0);
    stop();
}
END_TEST

static Suite *share_suite(void)
{
    Suite *s = suite_create("share");
    TCase *tc;

    tc = tcase_create("share");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_producer_consumer);
    tcase_add_test(tc, test_two_live_processes);
    suite_add_tcase(s, tc);

    tc = tcase_create("kill9");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_kill9);
    suite_add_tcase(s, tc);

    tc = tcase_create("concurrent");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_concurrent);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("permissions");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_permissions);
    suite_add_tcase(s, tc);

    tc = tcase_create("pages");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pages);
    tcase_add_test(tc, test_trim);
    tcase_add_test(tc, test_alignment_and_zero);
    suite_add_tcase(s, tc);

    tc = tcase_create("pin");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pin);
    tcase_add_test(tc, test_pin_errors);
    tcase_add_test(tc, test_pin_wait);
    suite_add_tcase(s, tc);

    tc = tcase_create("batch");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_batch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(share_suite());
}

/*
 * check_cache.c - private blocks (OFA_PRIVATE) and the client's cache of
 * them, against a real ofad with real processes: who may free a private
 * block, second frees, flags, the arena default, kill -9 of a process
 * holding used and cached blocks, processes allocating at once, a cache
 * that gives its blocks back when the arena runs out of room, a cache
 * that stops serving once its arena is dropped, and ofa_alloc_many and
 * ofa_free_many of private blocks, mixed with the daemon path.
 *
 * Each test starts its own ofad (tests/harness.h) and stops it, checking
 * that it exits 0 and leaves no segment. Child processes stand for other
 * programs: they report through exit codes and pipes, never through Check,
 * and leave with _exit(). Waiting for ofad to notice a closed connection is
 * a bounded poll of its statistics, not a sleep.
 *
 * The random test prints its seed; OFA_SEED=<n> replays it.
 */
#include <check.h>
#include <errno.h>
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

static struct ofad d;

static void start(const char *arena_spec)
{
    const char *args[] = {"--arena", arena_spec, NULL};

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

/* Polls until the arena's live blocks are back to want. */
static ofa_arena_stats wait_blocks(const char *arena, uint64_t want)
{
    struct timespec ms = {0, 1000000};
    ofa_arena_stats s;

    for (int i = 0; i < HARNESS_WAIT_MS; i++) {
        s = stats_of(arena);
        if (s.blocks_live == want)
            break;
        nanosleep(&ms, NULL);
    }
    ck_assert_uint_eq(s.blocks_live, want);
    return s;
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

static void pat_fill(void *p, uint64_t owner, uint64_t off, uint64_t size)
{
    uint8_t *b = p;

    for (uint64_t i = 0; i < size; i++)
        b[i] = (uint8_t)((owner * 131) ^ (off >> 3) ^ (i * 7));
}

static int pat_check(const void *p, uint64_t owner, uint64_t off, uint64_t size)
{
    const uint8_t *b = p;

    for (uint64_t i = 0; i < size; i++)
        if (b[i] != (uint8_t)((owner * 131) ^ (off >> 3) ^ (i * 7)))
            return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* rules: who may free a private block, second frees, flags            */

struct other {
    uint64_t offs[2], sizes[2];
};

/* Another program: reads both private blocks, may not free them. */
static int other_frees(void *arg)
{
    const struct other *o = arg;
    ofa_client *c;
    ofa_arena *a;
    void *p;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    for (int i = 0; i < 2; i++) {
        p = ofa_ptr(a, o->offs[i]);
        if (p == NULL || pat_check(p, 1, o->offs[i], o->sizes[i]) != 0)
            return 2;
        if (ofa_free(a, o->offs[i]) != -EACCES)
            return 3;
        if (ofa_free_many(a, &o->offs[i], 1) != -EACCES)
            return 4;
    }
    ofa_disconnect(c);
    return 0;
}

START_TEST(test_rules)
{
    struct other o = {{0, 0}, {64, 20000}};
    ofa_arena_stats base, s;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off, big, keep;
    uint8_t *p;

    start(ARENA ",page_size=64K,max=16M");
    base = stats_of(ARENA);
    ck_assert_uint_eq(base.private_default, 0);
    ck_assert_uint_eq(base.cache_max, 1u << 20);
    conn_open(&c, &a, ARENA);

    /* A small one (from the cache) and a large one (from ofad). */
    ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, OFA_PRIVATE, &o.offs[0]), 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 20000, 0, OFA_PRIVATE, &o.offs[1]), 0);
    for (int i = 0; i < 2; i++) {
        p = ofa_ptr(a, o.offs[i]); /* at once, the cached one too */
        ck_assert_ptr_nonnull(p);
        pat_fill(p, 1, o.offs[i], o.sizes[i]);
    }
    s = stats_of(ARENA);
    ck_assert_uint_gt(s.blocks_cached, 0); /* the fill's report */
    ck_assert_uint_gt(s.bytes_cached, 0);
    ck_assert_uint_le(s.bytes_cached, s.cache_max);
    ck_assert_uint_le(s.blocks_cached, s.blocks_live);
    ck_assert_int_eq(wait_child(fork_child(other_frees, &o)), 0);
    /* Nothing changed: still ours, intact. */
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pat_check(ofa_ptr(a, o.offs[i]), 1, o.offs[i], o.sizes[i]), 0);

    /* Second frees. */
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(ofa_free(a, o.offs[i]), 0);
        ck_assert_int_eq(ofa_free(a, o.offs[i]), -EINVAL);
        ck_assert_int_eq(ofa_free_many(a, &o.offs[i], 1), 0); /* none freed */
    }

    /* Flags. */
    ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, OFA_PRIVATE | OFA_KEEP, &off), -EINVAL);
    ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, OFA_PRIVATE | OFA_SHARED, &off), -EINVAL);
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, OFA_PRIVATE | OFA_KEEP, 2, o.offs), -EINVAL);
    ck_assert_int_eq(ofa_alloc_ex(a, 0, 0, OFA_PRIVATE, &off), -EINVAL);

    /* OFA_ZERO on a block the cache hands out again, dirty. */
    ck_assert_int_eq(ofa_alloc_ex(a, 100, 0, OFA_PRIVATE, &off), 0);
    p = ofa_ptr(a, off);
    memset(p, 0xff, 100);
    ck_assert_int_eq(ofa_free(a, off), 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 100, 0, OFA_PRIVATE | OFA_ZERO, &big), 0);
    ck_assert_uint_eq(big, off); /* the same block: last in, first out */
    p = ofa_ptr(a, big);
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(p[i], 0);
    /* Alignment above the arena's: as on the daemon path. */
    ck_assert_int_eq(ofa_alloc_ex(a, 100, 1024, OFA_PRIVATE, &keep), 0);
    ck_assert_uint_eq(keep % 1024, 0);
    ck_assert_int_eq(ofa_free(a, keep), 0);
    ck_assert_int_eq(ofa_free(a, big), 0);

    /* Closing the handle gives everything back, cached blocks too. */
    ofa_arena_close(a);
    s = wait_blocks(ARENA, base.blocks_live);
    ck_assert_uint_eq(s.blocks_cached, 0);
    ck_assert_uint_eq(s.bytes_cached, 0);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* default: an arena whose blocks are private unless asked otherwise   */

struct frees {
    const char *arena;
    uint64_t priv, shared, kept;
};

static int other_frees_default(void *arg)
{
    const struct frees *f = arg;
    ofa_client *c;
    ofa_arena *a;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, f->arena, &a) != 0)
        return 1;
    if (ofa_free(a, f->priv) != -EACCES)
        return 2;
    if (ofa_free(a, f->shared) != 0)
        return 3;
    if (ofa_free(a, f->kept) != 0)
        return 4;
    ofa_disconnect(c);
    return 0;
}

static void check_default(const char *arena)
{
    struct frees f = {arena, 0, 0, 0};
    ofa_client *c;
    ofa_arena *a;

    ck_assert_uint_eq(stats_of(arena).private_default, 1);
    conn_open(&c, &a, arena);
    ck_assert_int_eq(ofa_alloc(a, 48, &f.priv), 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 48, 0, OFA_SHARED, &f.shared), 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 48, 0, OFA_KEEP, &f.kept), 0);
    ck_assert_int_eq(wait_child(fork_child(other_frees_default, &f)), 0);
    ck_assert_int_eq(ofa_free(a, f.priv), 0);
    ck_assert_int_eq(ofa_free(a, f.priv), -EINVAL);
    ofa_disconnect(c);
}

START_TEST(test_default)
{
    ofa_arena_config cfg = {.private_default = 1, .cache_max = 64 * 1024};
    ofa_client *c;

    start("conf,private=yes,cache_max=256K");
    ck_assert_uint_eq(stats_of("conf").cache_max, 256 * 1024);
    check_default("conf");
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_create(c, "made", &cfg), 0);
    cfg.private_default = 2;
    ck_assert_int_eq(ofa_arena_create(c, "bad", &cfg), -EINVAL);
    ofa_disconnect(c);
    ck_assert_uint_eq(stats_of("made").cache_max, 64 * 1024);
    check_default("made");
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* kill9: a process holding used and cached private blocks              */

struct holder {
    int ready;
};

static int holder(void *arg)
{
    struct holder *h = arg;
    uint64_t offs[40];
    ofa_client *c;
    ofa_arena *a;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    for (int i = 0; i < 40; i++)
        if (ofa_alloc_ex(a, 64 + (uint64_t)(i % 4) * 512, 0, OFA_PRIVATE, &offs[i]) != 0 ||
            ofa_ptr(a, offs[i]) == NULL)
            return 2;
    /* Half of them back into the cache. */
    for (int i = 0; i < 40; i += 2)
        if (ofa_free(a, offs[i]) != 0)
            return 3;
    if (write(h->ready, "r", 1) != 1)
        return 4;
    for (;;)
        pause();
}

/* Starts holder fn, which says ready once it holds at least `held`
 * private blocks, used and cached; kills it with SIGKILL: every block goes
 * back, and the cached figures to 0. */
static void check_kill9(int (*fn)(void *), uint64_t held)
{
    ofa_arena_stats base, s;
    struct holder h;
    int fds[2];
    pid_t pid;
    char r;

    start(ARENA ",page_size=64K,max=16M");
    base = stats_of(ARENA);
    ck_assert_int_eq(pipe(fds), 0);
    h.ready = fds[1];
    pid = fork_child(fn, &h);
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], &r, 1), 1);
    close(fds[0]);
    s = stats_of(ARENA);
    /* In use, cached (the level of the last FILL or DRAIN: frees into the
     * cache tell ofad nothing), and what the fills brought beyond that. */
    ck_assert_uint_ge(s.blocks_live, base.blocks_live + held);
    ck_assert_uint_gt(s.blocks_cached, 0);

    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(wait_child(pid), 128 + SIGKILL);
    s = wait_blocks(ARENA, base.blocks_live);
    ck_assert_uint_eq(s.bytes_live, base.bytes_live);
    ck_assert_uint_eq(s.blocks_cached, 0);
    ck_assert_uint_eq(s.bytes_cached, 0);
    stop();
}

START_TEST(test_kill9)
{
    check_kill9(holder, 40);
}
END_TEST

/* ------------------------------------------------------------------ */
/* concurrent: processes doing random private allocs and frees at once  */

#define PROCS 4
#define LIVE  300
#define OPS   20000

struct stresser {
    uint64_t seed;
    int id;
};

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random private allocs and frees with patterns: a block another process
 * was also given would show its pattern here (or ours there). */
static int stresser(void *arg)
{
    struct stresser *st = arg;
    uint64_t offs[LIVE] = {0}, sizes[LIVE] = {0}, rng = st->seed;
    ofa_client *c;
    ofa_arena *a;
    int rc = 0;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    for (int op = 0; op < OPS && rc == 0; op++) {
        int i = (int)(xorshift(&rng) % LIVE);
        void *p;

        if (offs[i] != 0) {
            p = ofa_ptr(a, offs[i]);
            if (p == NULL || pat_check(p, (uint64_t)st->id, offs[i], sizes[i]) != 0)
                rc = 2;
            else if (ofa_free(a, offs[i]) != 0)
                rc = 3;
            offs[i] = 0;
        } else {
            sizes[i] = 1 + xorshift(&rng) % (xorshift(&rng) % 8 == 0 ? 9000 : 600);
            if (ofa_alloc_ex(a, sizes[i], 0, OFA_PRIVATE, &offs[i]) != 0)
                rc = 4;
            else if ((p = ofa_ptr(a, offs[i])) == NULL)
                rc = 5;
            else
                pat_fill(p, (uint64_t)st->id, offs[i], sizes[i]);
        }
    }
    for (int i = 0; i < LIVE && rc == 0; i++)
        if (offs[i] != 0 && pat_check(ofa_ptr(a, offs[i]), (uint64_t)st->id, offs[i], sizes[i]))
            rc = 6;
    ofa_disconnect(c);
    return rc;
}

START_TEST(test_concurrent)
{
    struct stresser st[PROCS];
    uint64_t seed = (uint64_t)time(NULL);
    const char *env = getenv("OFA_SEED");
    ofa_arena_stats base;
    pid_t pids[PROCS];

    if (env != NULL)
        seed = strtoull(env, NULL, 10);
    printf("test_concurrent: seed %" PRIu64 " (OFA_SEED=%" PRIu64 " replays it)\n", seed, seed);
    fflush(stdout);
    start(ARENA ",page_size=256K,max=64M,cache_max=64K");
    base = stats_of(ARENA);
    for (int i = 0; i < PROCS; i++) {
        st[i].seed = seed * 4 + (uint64_t)i + 1;
        st[i].id = i + 1;
        pids[i] = fork_child(stresser, &st[i]);
    }
    for (int i = 0; i < PROCS; i++) {
        int rc = wait_child(pids[i]);
        ck_assert_msg(rc == 0, "process %d failed with %d (seed %" PRIu64 ")", i, rc, seed);
    }
    wait_blocks(ARENA, base.blocks_live);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* room: a cache near max_bytes gives its blocks back                  */

START_TEST(test_room)
{
    uint64_t offs[24], big, off;
    ofa_arena_stats s;
    ofa_client *c;
    ofa_arena *a;

    /* Two 64 KiB pages at most; a cache that may hold 96 KiB. */
    start(ARENA ",page_size=64K,max=128K,cache_max=96K");
    conn_open(&c, &a, ARENA);
    for (int i = 0; i < 24; i++)
        ck_assert_int_eq(ofa_alloc_ex(a, 4096, 0, OFA_PRIVATE, &offs[i]), 0);
    for (int i = 0; i < 24; i++)
        ck_assert_int_eq(ofa_free(a, offs[i]), 0);
    s = stats_of(ARENA);
    ck_assert_uint_eq(s.pages, 2);
    ck_assert_uint_eq(s.blocks_live, 24); /* all of them in the cache */
    /* 60 KiB in one piece needs a page of its own: only once the cache
     * has given its blocks back. */
    ck_assert_int_eq(ofa_alloc(a, 60 * 1024, &big), 0);
    s = stats_of(ARENA);
    ck_assert_uint_eq(s.blocks_live, 1);
    ck_assert_uint_eq(s.blocks_cached, 0);
    ck_assert_int_eq(ofa_free(a, big), 0);
    /* Through the cache: one page taken by a large private block, the
     * other filled with small ones to the last block, then given back. */
    ck_assert_int_eq(ofa_alloc_ex(a, 60 * 1024, 0, OFA_PRIVATE, &big), 0);
    for (int i = 0; i < 17; i++)
        ck_assert_int_eq(ofa_alloc_ex(a, 4096, 0, OFA_PRIVATE, &offs[i]), 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 4096, 0, OFA_PRIVATE, &offs[17]), -ENOMEM);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(ofa_free(a, offs[i]), 0);
    s = stats_of(ARENA);
    ck_assert_uint_eq(s.blocks_live, 18);
    /* Another size: no room but what our own cache holds. */
    ck_assert_int_eq(ofa_alloc_ex(a, 2048, 0, OFA_PRIVATE, &off), 0);
    s = stats_of(ARENA);
    ck_assert_uint_eq(s.blocks_live, 11);
    ck_assert_uint_eq(s.blocks_cached, 0);
    ck_assert_int_eq(ofa_free(a, off), 0);
    for (int i = 8; i < 17; i++)
        ck_assert_int_eq(ofa_free(a, offs[i]), 0);
    ck_assert_int_eq(ofa_free(a, big), 0);
    ofa_disconnect(c);
    wait_blocks(ARENA, 0);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* drop: a cache stops serving within one call of its arena's drop     */

START_TEST(test_drop)
{
    ofa_client *c, *owner;
    ofa_arena *a;
    uint64_t used, freed, off;

    start(ARENA ",page_size=64K,max=16M");
    conn_open(&c, &a, ARENA);
    ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, OFA_PRIVATE, &used), 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, OFA_PRIVATE, &freed), 0);
    ck_assert_int_eq(ofa_free(a, freed), 0); /* the cache holds it and more */
    ck_assert_int_eq(ofa_connect(d.socket, &owner), 0);
    ck_assert_int_eq(ofa_arena_drop(owner, ARENA, 1), 0);
    ofa_disconnect(owner);
    /* The very next calls see it: nothing comes from the cache. */
    ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, OFA_PRIVATE, &off), -ENOENT);
    ck_assert_int_eq(ofa_free(a, used), -ENOENT);
    ck_assert_int_eq(ofa_alloc(a, 64, &off), -ENOENT);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* many: ofa_alloc_many and ofa_free_many of private blocks            */

#define MANY 300 /* more than one FILL brings for one class */

struct many_other {
    const char *arena;
    uint64_t offs[4];
};

/* Another program: reads the private blocks, may free none of them, in a
 * batch or alone. */
static int other_frees_many(void *arg)
{
    const struct many_other *o = arg;
    ofa_client *c;
    ofa_arena *a;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, o->arena, &a) != 0)
        return 1;
    for (int i = 0; i < 4; i++) {
        const uint8_t *p = ofa_ptr(a, o->offs[i]);
        if (p == NULL || pat_check(p, 2, o->offs[i], 64) != 0)
            return 2;
    }
    if (ofa_free_many(a, o->offs, 4) != -EACCES)
        return 3;
    if (ofa_free(a, o->offs[3]) != -EACCES)
        return 4;
    ofa_disconnect(c);
    return 0;
}

/* The blocks at offs are count distinct blocks of at least size bytes at
 * the arena's alignment, each with its pattern intact. */
static void check_blocks(ofa_arena *a, const uint64_t *offs, int count, uint64_t size)
{
    for (int i = 0; i < count; i++) {
        uint64_t bs;
        ck_assert_uint_eq(offs[i] % 64, 0);
        ck_assert_int_eq(ofa_block_size(a, offs[i], &bs), 0);
        ck_assert_uint_ge(bs, size);
        ck_assert_int_eq(pat_check(ofa_ptr(a, offs[i]), 2, offs[i], size), 0);
        for (int j = 0; j < i; j++)
            ck_assert_uint_ne(offs[i], offs[j]);
    }
}

START_TEST(test_many)
{
    static uint64_t offs[MANY], again[MANY];
    struct many_other o = {ARENA, {0}};
    uint64_t mixed[6], big, shared, bs;
    ofa_arena_stats base, s, s2;
    ofa_client *c;
    ofa_arena *a;
    uint8_t *p;

    start(ARENA ",page_size=256K,max=16M");
    base = stats_of(ARENA);
    conn_open(&c, &a, ARENA);

    /* From the cache: the blocks it holds beyond them are the FILL's. */
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, OFA_PRIVATE, 8, offs), 0);
    s = stats_of(ARENA);
    ck_assert_uint_gt(s.blocks_cached, 0);
    ck_assert_uint_eq(s.blocks_live, base.blocks_live + 8 + s.blocks_cached);
    /* More, within what the cache holds: nothing new from ofad. */
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, OFA_PRIVATE, 8, offs + 8), 0);
    ck_assert_uint_eq(stats_of(ARENA).blocks_live, s.blocks_live);
    /* More than the class holds: one FILL for what it lacks. */
    ck_assert_int_eq(ofa_alloc_many(a, 50, 0, OFA_PRIVATE, MANY - 16, offs + 16), 0);
    s = stats_of(ARENA);
    ck_assert_uint_eq(s.blocks_live, base.blocks_live + MANY + s.blocks_cached);
    for (int i = 0; i < MANY; i++)
        pat_fill(ofa_ptr(a, offs[i]), 2, offs[i], 64);
    check_blocks(a, offs, MANY, 64);

    /* Theirs to read, not to free. */
    memcpy(o.offs, offs + 10, sizeof(o.offs));
    ck_assert_int_eq(wait_child(fork_child(other_frees_many, &o)), 0);
    check_blocks(a, offs, MANY, 64);

    /* Back in one call, all from the cache; a second time stops at once. */
    ck_assert_int_eq(ofa_free_many(a, offs, MANY), MANY);
    ck_assert_uint_eq(stats_of(ARENA).blocks_live, s.blocks_live); /* all kept here */
    ck_assert_int_eq(ofa_free_many(a, offs, MANY), 0);
    ck_assert_int_eq(ofa_free(a, offs[5]), -EINVAL);
    /* Again, LIFO: the same blocks. */
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, OFA_PRIVATE, MANY, again), 0);
    for (int i = 0; i < MANY; i++) {
        int found = 0;
        for (int j = 0; j < MANY && !found; j++)
            found = again[i] == offs[j];
        ck_assert(found);
    }
    ck_assert_uint_eq(stats_of(ARENA).blocks_live, s.blocks_live);

    /* Mixed with the daemon path, in one free: a large private block, an
     * ordinary one, cached ones around them; a second free in the middle
     * of a batch stops it there. */
    ck_assert_int_eq(ofa_alloc_ex(a, 20000, 0, OFA_PRIVATE, &big), 0);
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, 0, 1, &shared), 0);
    mixed[0] = again[0];
    mixed[1] = big;
    mixed[2] = again[1];
    mixed[3] = shared;
    mixed[4] = again[2];
    mixed[5] = again[0]; /* freed at [0] already */
    ck_assert_int_eq(ofa_free_many(a, mixed, 6), 5);
    ck_assert_int_eq(ofa_free(a, big), -EINVAL);
    ck_assert_int_eq(ofa_free(a, shared), -EINVAL);

    /* The daemon path's rules: sizes, alignment, flags, counts, OFA_ZERO. */
    ck_assert_int_eq(ofa_alloc_many(a, 0, 0, OFA_PRIVATE, 4, offs), -EINVAL);
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, OFA_PRIVATE, 0, offs), -EINVAL);
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, OFA_PRIVATE, 4097, offs), -EINVAL);
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, OFA_PRIVATE | OFA_KEEP, 4, offs), -EINVAL);
    ck_assert_int_eq(ofa_alloc_many(a, 64, 3, OFA_PRIVATE, 4, offs), -EINVAL);
    ck_assert_int_eq(ofa_alloc_many(a, 100, 1024, OFA_PRIVATE, 4, offs), 0);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(offs[i] % 1024, 0);
        ck_assert_int_eq(ofa_block_size(a, offs[i], &bs), 0);
        ck_assert_uint_eq(bs, 128);
    }
    ck_assert_int_eq(ofa_free_many(a, offs, 4), 4);
    for (int i = 3; i < MANY; i++) /* dirty blocks back in the cache */
        memset(ofa_ptr(a, again[i]), 0xff, 64);
    ck_assert_int_eq(ofa_free_many(a, again + 3, MANY - 3), MANY - 3);
    s2 = stats_of(ARENA);
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, OFA_PRIVATE | OFA_ZERO, 200, offs), 0);
    ck_assert_uint_eq(stats_of(ARENA).blocks_live, s2.blocks_live); /* from the cache */
    for (int i = 0; i < 200; i++) {
        p = ofa_ptr(a, offs[i]);
        ck_assert_int_eq(ofa_block_size(a, offs[i], &bs), 0);
        ck_assert_uint_eq(bs, 64);
        for (int k = 0; k < 64; k++)
            ck_assert_uint_eq(p[k], 0);
    }
    ck_assert_int_eq(ofa_free_many(a, offs, 200), 200);

    ofa_disconnect(c);
    s = wait_blocks(ARENA, base.blocks_live);
    ck_assert_uint_eq(s.blocks_cached, 0);
    stop();
}
END_TEST

/* An arena whose default is private: alloc_many without flags. */
START_TEST(test_many_default)
{
    struct many_other o = {"conf", {0}};
    uint64_t offs[16], shared[2];
    ofa_client *c;
    ofa_arena *a;

    start("conf,private=yes,page_size=64K");
    conn_open(&c, &a, "conf");
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, 0, 16, offs), 0);
    ck_assert_uint_gt(stats_of("conf").blocks_cached, 0);
    for (int i = 0; i < 16; i++)
        pat_fill(ofa_ptr(a, offs[i]), 2, offs[i], 64);
    memcpy(o.offs, offs, sizeof(o.offs));
    ck_assert_int_eq(wait_child(fork_child(other_frees_many, &o)), 0);
    /* OFA_SHARED: ordinary blocks, anyone's to free. */
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, OFA_SHARED, 2, shared), 0);
    ck_assert_int_eq(ofa_free_many(a, offs, 16), 16);
    ck_assert_int_eq(ofa_free_many(a, offs, 16), 0);
    ck_assert_int_eq(ofa_free_many(a, shared, 2), 2);
    ofa_disconnect(c);
    wait_blocks("conf", 0);
    stop();
}
END_TEST

/* kill -9 of a process holding blocks of alloc_many, used and cached. */
static int many_holder(void *arg)
{
    struct holder *h = arg;
    uint64_t offs[200];
    ofa_client *c;
    ofa_arena *a;

    if (ofa_connect(d.socket, &c) != 0 || ofa_arena_open(c, ARENA, &a) != 0)
        return 1;
    if (ofa_alloc_many(a, 64, 0, OFA_PRIVATE, 200, offs) != 0 ||
        ofa_alloc_many(a, 1000, 0, OFA_PRIVATE, 10, offs + 100) != 0)
        return 2;
    if (ofa_free_many(a, offs, 100) != 100) /* back into the cache */
        return 3;
    if (write(h->ready, "r", 1) != 1)
        return 4;
    for (;;)
        pause();
}

START_TEST(test_many_kill9)
{
    check_kill9(many_holder, 210);
}
END_TEST

static Suite *cache_suite(void)
{
    Suite *s = suite_create("cache");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"rules", test_rules},           {"default", test_default}, {"kill9", test_kill9},
        {"concurrent", test_concurrent}, {"room", test_room},       {"drop", test_drop},
        {"many", test_many},             {"many_default", test_many_default},
        {"many_kill9", test_many_kill9},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    return harness_run_suite(cache_suite());
}

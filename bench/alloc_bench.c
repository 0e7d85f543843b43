/*
 * alloc_bench.c - speed and placement quality of the allocator core, side by
 * side with the naive design (tests/oracle.c: sorted arrays, exact best fit).
 *
 * Traces (see bench/README.md for the commands and the latest figures):
 *   churn  one 16 GiB page; 100,000 blocks with sizes log-uniform in
 *          [16, 65536) rounded up to 16; then each step frees a uniformly
 *          random live block and allocates a new random size in its slot.
 *          Figure: ns per alloc+free pair in the steady state.
 *   fill   one 256 MiB page; sizes log-uniform in [64, 1 MiB); twenty cycles
 *          of "allocate until live >= H x page, then free random live blocks
 *          until live <= 0.5 x page", then allocate until the first failure.
 *          Figure: live bytes / page at that failure, mean over seeds 1-5,
 *          for H = 0.90 and 0.98. Both allocators see the same request
 *          sequence (same seed), so with both a '#' line also gives their
 *          paired difference over the seeds and its standard error. A
 *          failure during a cycle ends that cycle's allocation phase; such
 *          early failures are counted and printed.
 *
 * Human-readable lines start with '#'; each trace ends with one line of
 * key=value pairs for scripts.
 */
#include "heap.h"
#include "oracle.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHURN_PAGE  (16ull << 30)
#define CHURN_LIVE  100000u
#define FILL_PAGE   (256ull << 20)
#define FILL_CYCLES 20
#define ALIGN       64u
#define IMPL_OFA    1u
#define IMPL_NAIVE  2u

/* ---- random numbers ------------------------------------------------------ */

/* wyrand: one multiply per draw (so the harness stays small next to the
 * allocator in instruction counts), identical for both allocators. */
struct rng {
    uint64_t s;
};

static void rng_seed(struct rng *r, uint64_t seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ull + 1;
}

static inline uint64_t rng_next(struct rng *r)
{
    __uint128_t t;

    r->s += 0xa0761d6478bd642full;
    t = (__uint128_t)r->s * (r->s ^ 0xe7037ed1a0b428dbull);
    return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

/* Uniform in [0, n), from 32 random bits. */
static inline uint32_t below(uint32_t bits, uint32_t n)
{
    return (uint32_t)(((uint64_t)bits * n) >> 32);
}

static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
    return below((uint32_t)(rng_next(r) >> 32), n);
}

/* 2^(i/1024) in 2.30 fixed point, for log-uniform sizes without libm in the
 * timed loop. */
static uint64_t pow2_frac[1024];

static void pow2_init(void)
{
    int i;

    for (i = 0; i < 1024; i++)
        pow2_frac[i] = (uint64_t)llround(ldexp(exp2(i / 1024.0), 30));
}

/* Log-uniform in [lo, lo << octaves) from 32 random bits, rounded up to a
 * multiple of round. */
static inline uint64_t log_size(uint32_t bits, uint64_t lo, unsigned octaves, uint64_t round)
{
    uint32_t t = below(bits, octaves << 10);
    uint64_t s = ((lo << (t >> 10)) * pow2_frac[t & 1023]) >> 30;

    return (s + round - 1) & ~(round - 1);
}

static inline uint64_t rng_size(struct rng *r, uint64_t lo, unsigned octaves, uint64_t round)
{
    return log_size((uint32_t)(rng_next(r) >> 32), lo, octaves, round);
}

/* ---- the two allocators behind one face ---------------------------------- */

struct impl {
    unsigned kind;
    struct heap *h;
    struct oracle *o;
};

static void no_release(void *ctx, uint64_t base, uint64_t len)
{
    (void)ctx;
    (void)base;
    (void)len;
}

static int impl_open(struct impl *im, unsigned kind, uint64_t page)
{
    uint64_t base;
    int rc;

    memset(im, 0, sizeof(*im));
    im->kind = kind;
    rc = heap_create(&im->h, page, ALIGN);
    if (rc < 0)
        return rc;
    rc = heap_page_add(im->h, page, &base);
    if (rc < 0)
        return rc;
    if (kind == IMPL_NAIVE) {
        im->o = oracle_new(ALIGN);
        rc = oracle_page_add(im->o, base, page);
    }
    return rc;
}

static void impl_close(struct impl *im)
{
    heap_destroy(im->h);
    oracle_delete(im->o);
}

/* 0, or < 0 when nothing fits (no page is ever added after the first). */
static inline int impl_alloc(struct impl *im, uint64_t size, uint64_t *off)
{
    uint64_t need;

    if (im->kind == IMPL_NAIVE)
        return oracle_alloc(im->o, size, 0, off);
    return heap_alloc(im->h, size, 0, HEAP_OWNER_ARENA, off, &need);
}

/* The naive design is given the size back (it keeps no live blocks), which
 * only flatters it. */
static inline int impl_free(struct impl *im, uint64_t off, uint64_t size)
{
    if (im->kind == IMPL_NAIVE)
        return oracle_give(im->o, off, (size + ALIGN - 1) & ~(uint64_t)(ALIGN - 1));
    return heap_free(im->h, off, no_release, NULL);
}

static const char *impl_name(unsigned kind)
{
    return kind == IMPL_NAIVE ? "naive" : "ofa";
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "alloc_bench: %s: %s\n", what, strerror(-rc));
    exit(1);
}

/* ---- churn --------------------------------------------------------------- */

struct churn {
    struct impl im;
    struct rng r;
    uint64_t *live;  /* offsets of the live blocks */
    uint64_t *sizes; /* their sizes, for the naive design's free */
};

static void churn_open(struct churn *ch, unsigned kind, uint64_t seed)
{
    uint32_t i;
    int rc;

    ch->live = malloc(CHURN_LIVE * sizeof(*ch->live));
    ch->sizes = malloc(CHURN_LIVE * sizeof(*ch->sizes));
    if (ch->live == NULL || ch->sizes == NULL)
        die("churn", -ENOMEM);
    rc = impl_open(&ch->im, kind, CHURN_PAGE);
    if (rc < 0)
        die("churn: open", rc);
    rng_seed(&ch->r, seed);
    for (i = 0; i < CHURN_LIVE; i++) {
        ch->sizes[i] = rng_size(&ch->r, 16, 12, 16);
        rc = impl_alloc(&ch->im, ch->sizes[i], &ch->live[i]);
        if (rc < 0)
            die("churn: fill", rc);
    }
}

/*
 * n steps of churn. One draw per step: the victim from the high half, the
 * new size from the low half. The allocator calls are direct (no dispatch)
 * so that the loop around them stays small.
 */
static void churn_ofa(struct churn *ch, uint64_t n)
{
    struct heap *h = ch->im.h;
    uint64_t need;
    int rc;

    while (n-- > 0) {
        uint64_t x = rng_next(&ch->r);
        uint64_t *slot = &ch->live[below((uint32_t)(x >> 32), CHURN_LIVE)];

        rc = heap_free(h, *slot, NULL, NULL);
        if (rc == 0)
            rc = heap_alloc(h, log_size((uint32_t)x, 16, 12, 16), 0, HEAP_OWNER_ARENA, slot, &need);
        if (rc < 0)
            die("churn", rc);
    }
}

static void churn_naive(struct churn *ch, uint64_t n)
{
    int rc;

    while (n-- > 0) {
        uint64_t x = rng_next(&ch->r);
        uint32_t v = below((uint32_t)(x >> 32), CHURN_LIVE);

        rc = impl_free(&ch->im, ch->live[v], ch->sizes[v]);
        ch->sizes[v] = log_size((uint32_t)x, 16, 12, 16);
        if (rc == 0)
            rc = impl_alloc(&ch->im, ch->sizes[v], &ch->live[v]);
        if (rc < 0)
            die("churn", rc);
    }
}

/* Times n steps; returns ns per pair. */
static double churn_round(struct churn *ch, uint64_t n)
{
    double t0 = now_ns(), t1;

    if (ch->im.kind == IMPL_OFA)
        churn_ofa(ch, n);
    else
        churn_naive(ch, n);
    t1 = now_ns();
    return n ? (t1 - t0) / (double)n : 0;
}

static void churn_close(struct churn *ch, uint64_t steps)
{
    if (ch->im.kind == IMPL_OFA) {
        struct heap_stats st;

        heap_stats(ch->im.h, &st);
        printf("# churn ofa: %" PRIu64 " steps, %" PRIu64 " live blocks, %" PRIu64
               " free chunks, %.1f MiB live, metadata %.1f bytes per live block\n",
               steps, st.blocks_live, st.free_chunks, (double)st.bytes_live / (1 << 20),
               (double)heap_memory(ch->im.h) / (double)st.blocks_live);
    } else {
        printf("# churn naive: %" PRIu64 " steps, %zu free chunks\n", steps,
               oracle_free_chunks(ch->im.o));
    }
    impl_close(&ch->im);
    free(ch->live);
    free(ch->sizes);
}

/* ---- fill ---------------------------------------------------------------- */

struct fill_result {
    double util;
    unsigned early; /* failures before the final phase */
};

static struct fill_result fill(unsigned kind, double high, uint64_t seed)
{
    struct fill_result res = {0, 0};
    struct impl im;
    struct rng r;
    struct blk {
        uint64_t off, size;
    } *live = NULL;
    size_t n = 0, cap = 0;
    uint64_t bytes = 0, off, size;
    int cycle, rc;

    rc = impl_open(&im, kind, FILL_PAGE);
    if (rc < 0)
        die("fill: open", rc);
    rng_seed(&r, seed);
    for (cycle = 0; cycle <= FILL_CYCLES; cycle++) {
        /* Allocate until live >= high (or, in the last phase, until failure). */
        for (;;) {
            if (cycle < FILL_CYCLES && (double)bytes >= high * (double)FILL_PAGE)
                break;
            size = rng_size(&r, 64, 14, ALIGN);
            rc = impl_alloc(&im, size, &off);
            if (rc < 0) {
                if (cycle == FILL_CYCLES)
                    goto done;
                res.early++;
                break;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                live = realloc(live, cap * sizeof(*live));
                if (live == NULL)
                    die("fill", -ENOMEM);
            }
            live[n++] = (struct blk){off, size};
            bytes += size;
        }
        /* Free random blocks until live <= half the page. */
        while ((double)bytes > 0.5 * (double)FILL_PAGE) {
            uint32_t v = rng_below(&r, (uint32_t)n);

            rc = impl_free(&im, live[v].off, live[v].size);
            if (rc < 0)
                die("fill: free", rc);
            bytes -= live[v].size;
            live[v] = live[--n];
        }
    }
done:
    res.util = (double)bytes / (double)FILL_PAGE;
    impl_close(&im);
    free(live);
    return res;
}

/* ---- main ---------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: alloc_bench [--impl ofa|naive|both] [--trace churn|fill|all]\n"
                    "                   [--steps N] [--naive-steps N] [--naive-warmup N]\n"
                    "                   [--rounds R] [--seed S] [--fill-seeds N]\n"
                    "  --steps N         churn steps for ofa (default 5000000)\n"
                    "  --naive-steps N   timed churn steps for the naive design (default 20000)\n"
                    "  --naive-warmup N  untimed steps before those, so that the naive design\n"
                    "                    is timed in its steady state (default 300000)\n"
                    "  --rounds R        churn timed in R alternating rounds, best kept (5)\n"
                    "  --seed S         churn seed (default 1)\n"
                    "  --fill-seeds N   fill runs seeds 1..N (default 5)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    unsigned impls = IMPL_OFA | IMPL_NAIVE;
    uint64_t steps = 5000000, naive_steps = 20000, naive_warmup = 300000, seed = 1;
    uint64_t fill_seeds = 5;
    unsigned rounds = 5;
    int do_churn = 1, do_fill = 1, i;

    /* Options come in pairs: --name value. */
    for (i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL)
            usage();
        if (strcmp(a, "--impl") == 0) {
            if (strcmp(v, "ofa") == 0)
                impls = IMPL_OFA;
            else if (strcmp(v, "naive") == 0)
                impls = IMPL_NAIVE;
            else if (strcmp(v, "both") == 0)
                impls = IMPL_OFA | IMPL_NAIVE;
            else
                usage();
        } else if (strcmp(a, "--trace") == 0) {
            do_churn = strcmp(v, "churn") == 0 || strcmp(v, "all") == 0;
            do_fill = strcmp(v, "fill") == 0 || strcmp(v, "all") == 0;
            if (!do_churn && !do_fill)
                usage();
        } else if (strcmp(a, "--steps") == 0) {
            steps = strtoull(v, NULL, 0);
        } else if (strcmp(a, "--naive-steps") == 0) {
            naive_steps = strtoull(v, NULL, 0);
        } else if (strcmp(a, "--naive-warmup") == 0) {
            naive_warmup = strtoull(v, NULL, 0);
        } else if (strcmp(a, "--rounds") == 0) {
            rounds = (unsigned)strtoul(v, NULL, 0);
            if (rounds == 0)
                usage();
        } else if (strcmp(a, "--fill-seeds") == 0) {
            fill_seeds = strtoull(v, NULL, 0);
            if (fill_seeds == 0)
                usage();
        } else if (strcmp(a, "--seed") == 0) {
            seed = strtoull(v, NULL, 0);
        } else {
            usage();
        }
    }
    pow2_init();

    if (do_churn) {
        /* Both run side by side in rounds, and each keeps its best round:
         * on a shared machine, noise only ever adds time. The naive design
         * first runs its warm-up, to be timed in its steady state. */
        struct churn co, cn;
        double ofa = 1e300, naive = 1e300;
        unsigned r;

        if (impls & IMPL_OFA)
            churn_open(&co, IMPL_OFA, seed);
        if (impls & IMPL_NAIVE) {
            churn_open(&cn, IMPL_NAIVE, seed);
            churn_naive(&cn, naive_warmup);
        }
        for (r = 0; r < rounds; r++) {
            if (impls & IMPL_OFA)
                ofa = fmin(ofa, churn_round(&co, steps / rounds));
            if (impls & IMPL_NAIVE)
                naive = fmin(naive, churn_round(&cn, naive_steps / rounds));
        }
        if (impls & IMPL_OFA)
            churn_close(&co, steps / rounds * rounds);
        if (impls & IMPL_NAIVE)
            churn_close(&cn, naive_warmup + naive_steps / rounds * rounds);
        printf("trace=churn");
        if (impls & IMPL_OFA)
            printf(" ofa_ns=%.1f", ofa);
        if (impls & IMPL_NAIVE)
            printf(" naive_ns=%.1f", naive);
        if (impls == (IMPL_OFA | IMPL_NAIVE))
            printf(" speedup=%.1f", ofa > 0 ? naive / ofa : 0.0);
        printf("\n");
        fflush(stdout);
    }
    if (do_fill) {
        static const double highs[] = {0.90, 0.98};
        double *util[3] = {NULL, NULL, NULL};
        size_t hi;

        util[IMPL_OFA] = calloc(fill_seeds, sizeof(double));
        util[IMPL_NAIVE] = calloc(fill_seeds, sizeof(double));
        if (util[IMPL_OFA] == NULL || util[IMPL_NAIVE] == NULL)
            die("fill", -ENOMEM);
        for (hi = 0; hi < sizeof(highs) / sizeof(highs[0]); hi++) {
            double sum[3] = {0, 0, 0};
            unsigned early[3] = {0, 0, 0}, k;
            uint64_t s;

            for (k = IMPL_OFA; k <= IMPL_NAIVE; k++) {
                if (!(impls & k))
                    continue;
                printf("# fill %s high=%.2f:", impl_name(k), highs[hi]);
                for (s = 1; s <= fill_seeds; s++) {
                    struct fill_result fr = fill(k, highs[hi], s);

                    printf(" %.4f", fr.util);
                    util[k][s - 1] = fr.util;
                    sum[k] += fr.util;
                    early[k] += fr.early;
                }
                printf(" (early failures %u)\n", early[k]);
            }
            if (impls == (IMPL_OFA | IMPL_NAIVE) && fill_seeds > 1) {
                /* Both ran on the same requests: the paired difference and
                 * its standard error say how much the seeds decide. */
                double n = (double)fill_seeds, m = 0, v = 0;

                for (s = 0; s < fill_seeds; s++)
                    m += util[IMPL_OFA][s] - util[IMPL_NAIVE][s];
                m /= n;
                for (s = 0; s < fill_seeds; s++) {
                    double d = util[IMPL_OFA][s] - util[IMPL_NAIVE][s] - m;

                    v += d * d;
                }
                printf("# fill high=%.2f: ofa - naive %+.5f, standard error %.5f (%" PRIu64
                       " seeds)\n",
                       highs[hi], m, sqrt(v / (n - 1) / n), fill_seeds);
            }
            printf("trace=fill high=%.2f", highs[hi]);
            if (impls & IMPL_OFA)
                printf(" ofa_util=%.4f", sum[IMPL_OFA] / (double)fill_seeds);
            if (impls & IMPL_NAIVE)
                printf(" naive_util=%.4f", sum[IMPL_NAIVE] / (double)fill_seeds);
            printf("\n");
            fflush(stdout);
        }
        free(util[IMPL_OFA]);
        free(util[IMPL_NAIVE]);
    }
    return 0;
}

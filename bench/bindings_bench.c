/*
 * bindings_bench.c - the C side of the bindings' benchmark
 * (bindings_bench.sh): the loop the Node.js and Python programs
 * (bindings_bench.js, bindings_bench.py) run, written against libofaclient
 * directly, so their figures have a yardstick measured in the same run.
 *
 *   bindings_bench SOCKET ARENA N
 *
 * Two loops of N iterations on an open arena, each timed on CLOCK_MONOTONIC:
 *   roundtrip  alloc 64 bytes, pin a view of them, write a byte, unpin,
 *              free: two round trips to ofad plus the view;
 *   view       pin and unpin a view of a live block and write a byte: the
 *              view alone, no daemon involved.
 * Prints "lang=c roundtrip_ns=X view_ns=Y" (ns per iteration).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ofaclient.h"

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "bindings_bench: %s: %s\n", what, ofa_strerror(rc));
    return 1;
}

int main(int argc, char **argv)
{
    ofa_client *c;
    ofa_arena *a;
    ofa_mapping *m;
    uint64_t off;
    double t0, rt, view;
    void *p;
    long i, n;
    int rc;

    if (argc != 4 || (n = atol(argv[3])) <= 0) {
        fputs("usage: bindings_bench SOCKET ARENA N\n", stderr);
        return 2;
    }
    if ((rc = ofa_connect(argv[1], &c)) < 0)
        return fail("connect", rc);
    if ((rc = ofa_arena_open(c, argv[2], &a)) < 0)
        return fail("open", rc);
    t0 = now_ns();
    for (i = 0; i < n; i++) {
        if ((rc = ofa_alloc(a, 64, &off)) < 0)
            return fail("alloc", rc);
        if ((rc = ofa_pin(a, off, 64, &m, &p)) < 0)
            return fail("pin", rc);
        *(volatile uint8_t *)p = (uint8_t)i;
        ofa_unpin(m);
        if ((rc = ofa_free(a, off)) < 0)
            return fail("free", rc);
    }
    rt = (now_ns() - t0) / (double)n;
    if ((rc = ofa_alloc(a, 64, &off)) < 0)
        return fail("alloc", rc);
    t0 = now_ns();
    for (i = 0; i < n; i++) {
        if ((rc = ofa_pin(a, off, 64, &m, &p)) < 0)
            return fail("pin", rc);
        *(volatile uint8_t *)p = (uint8_t)i;
        ofa_unpin(m);
    }
    view = (now_ns() - t0) / (double)n;
    printf("lang=c roundtrip_ns=%.0f view_ns=%.0f\n", rt, view);
    ofa_disconnect(c);
    return 0;
}

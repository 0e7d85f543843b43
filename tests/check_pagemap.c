/*
 * check_pagemap.c - the arena page map (daemon/pagemap.c): lookups after
 * every kind of deletion, above all map_del's backward shift. Keys are
 * chosen by their home slot (pagemap_home) so that probe runs collide, wrap
 * around the table's end and are cut in their middle; a seeded random run
 * (OFA_SEED replays one; the seed is printed) checks the map against a
 * plain list after every operation.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagemap.h"
#include "runner.h"

/* The n-th base (n >= 1) whose home is slot in a table of cap slots. */
static uint64_t base_at(uint32_t slot, uint32_t cap, unsigned n)
{
    for (uint64_t b = 4096;; b += 4096) {
        if (pagemap_home(b, cap) == slot && --n == 0)
            return b;
    }
}

static void put(struct pagemap *m, uint64_t base)
{
    struct page_ent e = {.base = base, .len = 4096, .fd = (int)(base / 4096)};

    ck_assert_int_eq(pagemap_reserve(m), 0);
    pagemap_put(m, &e);
}

/* Every key of want[0..n) is found with its own entry, and the map holds n. */
static void check_all(const struct pagemap *m, const uint64_t *want, size_t n)
{
    ck_assert_uint_eq(m->n, n);
    for (size_t i = 0; i < n; i++) {
        struct page_ent *e = pagemap_find(m, want[i]);
        ck_assert_msg(e != NULL, "base %" PRIu64 " lost", want[i]);
        ck_assert_int_eq(e->fd, (int)(want[i] / 4096));
    }
}

static void del(struct pagemap *m, uint64_t base)
{
    struct page_ent *e = pagemap_find(m, base);

    ck_assert_ptr_nonnull(e);
    pagemap_del(m, e);
    ck_assert_ptr_null(pagemap_find(m, base));
}

/* One run of five keys sharing home slot 3: deleting the first, a middle
 * one and the last each leaves the others findable. */
START_TEST(shift_in_one_run)
{
    for (unsigned victim = 0; victim < 5; victim++) {
        struct pagemap m = {0};
        uint64_t k[5], rest[4];
        size_t n = 0;

        put(&m, 4096 * 1000003ull); /* cap 16 from the first reserve */
        del(&m, 4096 * 1000003ull);
        ck_assert_uint_eq(m.cap, 16);
        for (unsigned i = 0; i < 5; i++) {
            k[i] = base_at(3, 16, i + 1);
            put(&m, k[i]);
        }
        del(&m, k[victim]);
        for (unsigned i = 0; i < 5; i++)
            if (i != victim)
                rest[n++] = k[i];
        check_all(&m, rest, n);
        pagemap_free(&m);
    }
}
END_TEST

/* Two interleaved runs: a deletion must not pull an entry of slot 5 back
 * before its home while closing a hole left by slot 4's run. */
START_TEST(shift_respects_home)
{
    struct pagemap m = {0};
    uint64_t a1, a2, a3, b1, b2, want[4];

    put(&m, 4096 * 999983ull);
    del(&m, 4096 * 999983ull);
    a1 = base_at(4, 16, 1);
    a2 = base_at(4, 16, 2);
    b1 = base_at(5, 16, 1);
    a3 = base_at(4, 16, 3);
    b2 = base_at(5, 16, 2);
    /* slots: 4 a1, 5 a2, 6 b1, 7 a3, 8 b2 */
    put(&m, a1);
    put(&m, a2);
    put(&m, b1);
    put(&m, a3);
    put(&m, b2);
    ck_assert_uint_eq(m.v[6].base, b1);
    del(&m, a1);
    want[0] = a2, want[1] = b1, want[2] = a3, want[3] = b2;
    check_all(&m, want, 4);
    /* b1 may not sit in slot 4 (before its home 5). */
    ck_assert_uint_ne(m.v[4].base, b1);
    pagemap_free(&m);
}
END_TEST

/* A run that wraps from the last slot to the first. */
START_TEST(shift_across_the_end)
{
    struct pagemap m = {0};
    uint64_t k[4], want[3];

    put(&m, 4096 * 999979ull);
    del(&m, 4096 * 999979ull);
    for (unsigned i = 0; i < 4; i++) {
        k[i] = base_at(14, 16, i + 1); /* slots 14, 15, 0, 1 */
        put(&m, k[i]);
    }
    ck_assert_uint_eq(m.v[0].base, k[2]);
    del(&m, k[1]);
    want[0] = k[0], want[1] = k[2], want[2] = k[3];
    check_all(&m, want, 3);
    ck_assert_uint_eq(m.v[0].base, k[3]); /* shifted back across the end */
    ck_assert_uint_eq(m.v[1].base, 0);
    pagemap_free(&m);
}
END_TEST

/* Random puts and deletes against a list, keys crowded onto few homes. */
START_TEST(random_against_list)
{
    const char *env = getenv("OFA_SEED");
    uint64_t seed = env != NULL ? strtoull(env, NULL, 0) : 0x9a9e0000u + (uint64_t)_i;
    uint64_t x = seed | 1, *keys = calloc(4096, sizeof(*keys));
    struct pagemap m = {0};
    size_t n = 0;

    fprintf(stderr, "check_pagemap: seed %" PRIu64 "\n", seed);
    ck_assert_ptr_nonnull(keys);
    for (unsigned op = 0; op < 20000; op++) {
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        uint64_t r = x * 0x2545f4914f6cdd1dull;
        if (n == 0 || (n < 4000 && (r & 3) != 0)) {
            /* A base on one of 8 homes of a 16-slot table: runs collide
             * at every size the table grows to. */
            uint64_t b = base_at((uint32_t)(r >> 8) & 7, 16, 1 + (unsigned)((r >> 16) % 64));
            bool dup = pagemap_find(&m, b) != NULL;
            if (!dup) {
                put(&m, b);
                keys[n++] = b;
            }
        } else {
            size_t i = (size_t)((r >> 20) % n);
            del(&m, keys[i]);
            keys[i] = keys[--n];
        }
        if (op % 97 == 0 || n < 8)
            check_all(&m, keys, n);
    }
    check_all(&m, keys, n);
    pagemap_free(&m);
    free(keys);
}
END_TEST

static Suite *pagemap_suite(void)
{
    Suite *s = suite_create("pagemap");
    TCase *tc = tcase_create("delete");

    tcase_add_test(tc, shift_in_one_run);
    tcase_add_test(tc, shift_respects_home);
    tcase_add_test(tc, shift_across_the_end);
    tcase_add_loop_test(tc, random_against_list, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ofa_check_run(pagemap_suite());
}

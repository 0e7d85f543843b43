/*
 * check_shm.c - segment naming and the start-up sweep (daemon/shm.c): the
 * tag that names one daemon's segments, and the sweep that removes what an
 * older ofad on the same socket left in /dev/shm, and nobody else's. Real
 * segments under tags made from this run's process id, removed whatever
 * the outcome.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runner.h"
#include "shm.h"

static pid_t run_pid; /* the runner's, also in its forked tests */

/* A tag no other run uses: from a path naming this run. */
static void test_tag(const char *what, char tag[SHM_TAG_LEN + 1])
{
    char path[128];

    snprintf(path, sizeof(path), "/tmp/check_shm.%d.%s/ofad.sock", (int)run_pid, what);
    shm_tag(path, tag);
}

/* A segment as an older ofad named it: "/ofa.<tag>.<arena>.<n>". */
static void old_segment(const char *tag, const char *arena, unsigned n)
{
    char name[SHM_NAME_MAX];
    int fd;

    snprintf(name, sizeof(name), "/ofa.%s.%s.%u", tag, arena, n);
    fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static int exists(const char *tag, const char *arena, unsigned n)
{
    char name[SHM_NAME_MAX];
    int fd;

    snprintf(name, sizeof(name), "/ofa.%s.%s.%u", tag, arena, n);
    fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

START_TEST(naming_tag)
{
    char a[SHM_TAG_LEN + 1], b[SHM_TAG_LEN + 1];

    /* FNV-1a-64 of the default socket path, as every ofad computes it. */
    shm_tag("/run/ofad/ofad.sock", a);
    ck_assert_str_eq(a, "d29a857719151d1d");
    shm_tag("", a);
    ck_assert_str_eq(a, "cbf29ce484222325");
    /* One byte apart, another tag. */
    shm_tag("/run/ofad/ofad.sock2", b);
    ck_assert_str_ne(a, b);
    ck_assert_uint_eq(strlen(b), SHM_TAG_LEN);
    ck_assert_uint_eq(strspn(b, "0123456789abcdef"), SHM_TAG_LEN);
}
END_TEST

static int fails;

static void count_fail(void *ctx, const char *name, int err)
{
    (void)ctx;
    (void)name;
    (void)err;
    fails++;
}

/* The sweep takes every segment of its tag, whatever the arena's name (dots
 * included), and none of another tag's. */
START_TEST(sweep_own_tag_only)
{
    static const char *const arenas[] = {"a", "a.b", "frames", "x-1"};
    char mine[SHM_TAG_LEN + 1], other[SHM_TAG_LEN + 1];

    test_tag("mine", mine);
    test_tag("other", other);
    for (unsigned i = 0; i < sizeof(arenas) / sizeof(arenas[0]); i++)
        old_segment(mine, arenas[i], i + 1);
    old_segment(other, "a", 1);

    fails = 0;
    ck_assert_int_eq(shm_sweep(mine, count_fail, NULL), 4);
    ck_assert_int_eq(fails, 0);
    ck_assert_int_eq(shm_sweep(mine, NULL, NULL), 0);
    ck_assert(!exists(mine, "a.b", 2));
    ck_assert(exists(other, "a", 1));
    ck_assert_int_eq(shm_sweep(other, NULL, NULL), 1);
    ck_assert(!exists(other, "a", 1));
}
END_TEST

/* Whatever a failed test left. */
static void sweep_ours(void)
{
    static const char *const what[] = {"mine", "other"};
    char tag[SHM_TAG_LEN + 1];

    for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
        test_tag(what[i], tag);
        (void)shm_sweep(tag, NULL, NULL);
    }
}

static Suite *shm_suite(void)
{
    Suite *s = suite_create("shm");
    TCase *tc;

    tc = tcase_create("naming");
    tcase_add_test(tc, naming_tag);
    suite_add_tcase(s, tc);

    tc = tcase_create("sweep");
    tcase_add_unchecked_fixture(tc, sweep_ours, sweep_ours);
    tcase_add_test(tc, sweep_own_tag_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    run_pid = getpid();
    return ofa_check_run(shm_suite());
}

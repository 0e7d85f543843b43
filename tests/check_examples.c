/*
 * check_examples.c - the example producer and consumer (examples/) against
 * a real ofad.
 *
 * The pair is run as a user would run it: the producer builds a list of
 * OFA_KEEP records linked by offsets, prints the head's offset and exits;
 * the consumer, another process, walks the list from that number, checks
 * every record and frees them all. Between the steps the arena's counters,
 * read through libofaclient, say what must have happened: the records
 * outlived the producer's connection, a check-only walk changed nothing,
 * the consumer left nothing behind. Also checked: a consumer given a bad
 * offset or an already-consumed list fails without freeing anything, and
 * a producer that runs out of room frees what it had allocated (OFA_KEEP
 * blocks would otherwise leak).
 *
 * PRODUCER_PATH and CONSUMER_PATH come from tests/CMakeLists.txt.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "ofaclient.h"

/* Runs argv with stdout captured in out and stderr passed through (so a
 * failing example explains itself in the test log). Returns the exit code,
 * or 128 + signal. */
static int run(const char *const *argv, char *out, size_t outlen)
{
    int pfd[2], st;
    size_t len = 0;
    pid_t pid;

    ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pfd[1], STDOUT_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    for (;;) {
        char sink[256];
        char *dst = len + 1 < outlen ? out + len : sink;
        size_t room = len + 1 < outlen ? outlen - 1 - len : sizeof(sink);
        ssize_t n = read(pfd[0], dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != sink)
            len += (size_t)n;
    }
    close(pfd[0]);
    out[len] = '\0';
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

/* Runs the producer; on success returns the head offset it printed. */
static int produce(const struct ofad *d, const char *arena, const char *count, uint64_t *head)
{
    const char *const argv[] = {PRODUCER_PATH, "-s", d->socket, "-a", arena, "-n", count, NULL};
    char out[256], *end;
    int rc = run(argv, out, sizeof(out));

    if (rc == 0) {
        errno = 0;
        *head = strtoull(out, &end, 10);
        ck_assert_msg(errno == 0 && end != out && *end == '\n' && end[1] == '\0' && *head != 0,
                      "the producer printed '%s', not one offset", out);
    }
    return rc;
}

static int consume(const struct ofad *d, const char *arena, const char *head, bool keep, char *out,
                   size_t outlen)
{
    const char *const argv[] = {
        CONSUMER_PATH, "-s", d->socket, "-a", arena, keep ? "-k" : head, keep ? head : NULL, NULL};

    return run(argv, out, outlen);
}

static uint64_t blocks_live(const struct ofad *d, const char *arena)
{
    ofa_client *c;
    ofa_arena_info info;

    ck_assert_int_eq(ofa_connect(d->socket, &c), 0);
    ck_assert_int_eq(ofa_arena_info_get(c, arena, &info), 0);
    ofa_disconnect(c);
    return info.stats.blocks_live;
}

/* --- pair: the producer hands a list to the consumer --- */

START_TEST(test_pair)
{
    static const char *const args[] = {"--arena", "list,page_size=256K", NULL};
    char out[512], head[32];
    struct ofad d;
    uint64_t off;

    ck_assert_int_eq(ofad_start(&d, args), 0);
    ck_assert_int_eq(produce(&d, "list", "2000", &off), 0);
    snprintf(head, sizeof(head), "%" PRIu64, off);
    /* The producer is gone; its OFA_KEEP blocks are not: 2000 records and
     * the head. */
    ck_assert_uint_eq(blocks_live(&d, "list"), 2001);

    ck_assert_int_eq(consume(&d, "list", head, true, out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "2000 records") != NULL, "consumer -k said: %s", out);
    ck_assert_uint_eq(blocks_live(&d, "list"), 2001);

    ck_assert_int_eq(consume(&d, "list", head, false, out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "2000 records") != NULL && strstr(out, "freed") != NULL,
                  "consumer said: %s", out);
    ck_assert_uint_eq(blocks_live(&d, "list"), 0);

    /* Consumed once: a second consumer finds no list it can free. */
    ck_assert_int_eq(consume(&d, "list", head, false, out, sizeof(out)), 1);
    ck_assert_uint_eq(blocks_live(&d, "list"), 0);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ofad_cleanup(&d);
}
END_TEST

/* An empty list is a list: a head with no records. */
START_TEST(test_pair_empty)
{
    char out[512], head[32];
    struct ofad d;
    uint64_t off;

    ck_assert_int_eq(ofad_start(&d, NULL), 0);
    ck_assert_int_eq(produce(&d, "default", "0", &off), 0);
    ck_assert_uint_eq(blocks_live(&d, "default"), 1);
    snprintf(head, sizeof(head), "%" PRIu64, off);
    ck_assert_int_eq(consume(&d, "default", head, false, out, sizeof(out)), 0);
    ck_assert_uint_eq(blocks_live(&d, "default"), 0);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ofad_cleanup(&d);
}
END_TEST

/* --- bad_input: the consumer changes nothing it cannot check --- */

START_TEST(test_consumer_bad_offset)
{
    char out[512], head[32], wrong[32];
    struct ofad d;
    uint64_t off;

    ck_assert_int_eq(ofad_start(&d, NULL), 0);
    ck_assert_int_eq(produce(&d, "default", "50", &off), 0);
    snprintf(head, sizeof(head), "%" PRIu64, off);

    /* Inside the list's page but not a list head: a record's offset, or a
     * byte past the head. Refused, nothing freed. */
    snprintf(wrong, sizeof(wrong), "%" PRIu64, off + 8);
    ck_assert_int_eq(consume(&d, "default", wrong, false, out, sizeof(out)), 1);
    /* No page there at all. */
    ck_assert_int_eq(consume(&d, "default", "1099511627776", false, out, sizeof(out)), 1);
    /* Not a number: usage. */
    ck_assert_int_eq(consume(&d, "default", "12abc", false, out, sizeof(out)), 2);
    ck_assert_int_eq(consume(&d, "default", "0", false, out, sizeof(out)), 2);
    /* No such arena. */
    ck_assert_int_eq(consume(&d, "nosuch", head, false, out, sizeof(out)), 1);
    ck_assert_uint_eq(blocks_live(&d, "default"), 51);

    ck_assert_int_eq(consume(&d, "default", head, false, out, sizeof(out)), 0);
    ck_assert_uint_eq(blocks_live(&d, "default"), 0);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ofad_cleanup(&d);
}
END_TEST

/* --- producer_full: a failed producer frees its OFA_KEEP blocks --- */

START_TEST(test_producer_out_of_room)
{
    static const char *const args[] = {"--arena", "small,page_size=64K,max=128K", NULL};
    struct ofad d;
    uint64_t off = 0;

    ck_assert_int_eq(ofad_start(&d, args), 0);
    /* 5000 records of 40 to 240 bytes cannot fit in 128 KiB. */
    ck_assert_int_eq(produce(&d, "small", "5000", &off), 1);
    ck_assert_uint_eq(blocks_live(&d, "small"), 0);
    /* And the arena is usable afterwards. */
    ck_assert_int_eq(produce(&d, "small", "10", &off), 0);
    ck_assert_uint_eq(blocks_live(&d, "small"), 11);
    ck_assert_int_eq(ofad_stop(&d), 0);
    ofad_cleanup(&d);
}
END_TEST

static Suite *examples_suite(void)
{
    Suite *s = suite_create("examples");
    TCase *tc;

    tc = tcase_create("pair");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pair);
    tcase_add_test(tc, test_pair_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_input");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_consumer_bad_offset);
    suite_add_tcase(s, tc);

    tc = tcase_create("producer_full");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_producer_out_of_room);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(examples_suite());
}

/*
 * check_log.c - the log's rate limiter (log_ratelimit_ok): what one client
 * can make ofad write. Time is passed in, so windows are crossed exactly,
 * without sleeping.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "runner.h"

/* A burst passes, the rest of the window is counted, and the first line
 * of the next window carries the count. */
START_TEST(rl_burst_then_count)
{
    struct log_ratelimit rl;
    uint32_t dropped = 77;
    uint64_t t0 = 1000000;

    memset(&rl, 0, sizeof(rl));
    for (uint32_t i = 0; i < LOG_RL_BURST; i++) {
        ck_assert(log_ratelimit_ok(&rl, t0 + i, &dropped));
        ck_assert_uint_eq(dropped, 0);
    }
    for (uint32_t i = 0; i < 12; i++)
        ck_assert(!log_ratelimit_ok(&rl, t0 + LOG_RL_WINDOW_MS - 1, &dropped));
    ck_assert_uint_eq(dropped, 0); /* untouched when refused */
    ck_assert(log_ratelimit_ok(&rl, t0 + LOG_RL_WINDOW_MS, &dropped));
    ck_assert_uint_eq(dropped, 12);
    /* Said once: the next line owes nothing. */
    ck_assert(log_ratelimit_ok(&rl, t0 + LOG_RL_WINDOW_MS + 1, &dropped));
    ck_assert_uint_eq(dropped, 0);
}
END_TEST

/* The window starts at the first line, not at a fixed grid. */
START_TEST(rl_window_from_first_line)
{
    struct log_ratelimit rl;
    uint32_t dropped;
    uint64_t t0 = 123457;

    memset(&rl, 0, sizeof(rl));
    for (uint32_t i = 0; i < LOG_RL_BURST; i++)
        ck_assert(log_ratelimit_ok(&rl, t0, &dropped));
    ck_assert(!log_ratelimit_ok(&rl, t0 + LOG_RL_WINDOW_MS - 1, &dropped));
    ck_assert(log_ratelimit_ok(&rl, t0 + LOG_RL_WINDOW_MS, &dropped));
    ck_assert_uint_eq(dropped, 1);
}
END_TEST

/* Each client has its own: one that floods does not silence another. */
START_TEST(rl_independent)
{
    struct log_ratelimit a, b;
    uint32_t dropped;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    for (uint32_t i = 0; i < 100; i++)
        log_ratelimit_ok(&a, 5000, &dropped);
    ck_assert(!log_ratelimit_ok(&a, 5000, &dropped));
    ck_assert(log_ratelimit_ok(&b, 5000, &dropped));
    ck_assert_uint_eq(dropped, 0);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("ratelimit");

    tcase_add_test(tc, rl_burst_then_count);
    tcase_add_test(tc, rl_window_from_first_line);
    tcase_add_test(tc, rl_independent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ofa_check_run(log_suite());
}

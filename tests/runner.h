/*
 * runner.h - the one main of every Check suite: runs it and fails when a
 * test failed or when no test ran at all (a CK_RUN_CASE that names no TCase
 * would otherwise pass with nothing checked).
 */
#ifndef OFA_TEST_RUNNER_H
#define OFA_TEST_RUNNER_H

#include <check.h>

/* Runs every test of s that CK_RUN_CASE / CK_RUN_SUITE select and frees s.
 * Returns EXIT_SUCCESS, or EXIT_FAILURE when a test failed or none ran. */
int ofa_check_run(Suite *s);

#endif

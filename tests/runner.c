/*
 * runner.c - runs a Check suite for a test program's main (see runner.h).
 *
 * CTest runs one TCase per entry by setting CK_RUN_CASE; a name that
 * matches no TCase (a case renamed in the source but not in
 * tests/CMakeLists.txt) makes Check run nothing and report success. Counting
 * the tests that ran turns that into a failure that names the case.
 */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>

int ofa_check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    const char *only = getenv("CK_RUN_CASE");
    int ran, failed;

    srunner_run_all(sr, CK_NORMAL);
    ran = srunner_ntests_run(sr);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (ran == 0) {
        fprintf(stderr, "no test ran (CK_RUN_CASE=%s names no test case of the suite)\n",
                only != NULL ? only : "");
        return EXIT_FAILURE;
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

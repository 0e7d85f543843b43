/*
 * xlang_peer.c - the C side of the bindings' cross-language tests: a
 * program that opens an arena and checks and writes three float slots of a
 * block another language handed it by offset, as the Node.js and Python
 * peers of those tests do.
 *
 *   xlang_peer SOCKET ARENA OFF EXPECT SLOT VALUE [free|wake]
 *
 * EXPECT is "a,b,c": the value each of the block's first three floats must
 * hold, "*" for any. Then VALUE is written to float SLOT (0-2; -1 writes
 * nothing); with "free" the block is then freed (a kept block changing
 * hands), with "wake" the waiters on the slot's word are woken.
 * Exit: 0 done, 1 usage, 2 connection or arena error, 3 a slot differs,
 * 4 free or wake failed. Messages on stderr.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ofaclient.h"

static int check(const float *f, char *expect)
{
    char *tok, *save = NULL;
    int i = 0;

    for (tok = strtok_r(expect, ",", &save); tok != NULL && i < 3;
         tok = strtok_r(NULL, ",", &save), i++) {
        if (strcmp(tok, "*") != 0 && f[i] != strtof(tok, NULL)) {
            fprintf(stderr, "xlang_peer: slot %d holds %g, not %s\n", i, (double)f[i], tok);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    ofa_client *c = NULL;
    ofa_arena *a = NULL;
    unsigned long long off;
    float *f;
    int slot, rc, status = 0;

    if (argc < 7 || argc > 8 ||
        (argc == 8 && strcmp(argv[7], "free") != 0 && strcmp(argv[7], "wake") != 0)) {
        fputs("usage: xlang_peer SOCKET ARENA OFF EXPECT SLOT VALUE [free|wake]\n", stderr);
        return 1;
    }
    off = strtoull(argv[3], NULL, 0);
    slot = atoi(argv[5]);
    if ((rc = ofa_connect(argv[1], &c)) < 0 || (rc = ofa_arena_open(c, argv[2], &a)) < 0) {
        fprintf(stderr, "xlang_peer: %s\n", ofa_strerror(rc));
        status = 2;
        goto out;
    }
    f = ofa_ptr(a, off);
    if (f == NULL) {
        fprintf(stderr, "xlang_peer: no block at %llu\n", off);
        status = 2;
        goto out;
    }
    if (check(f, argv[4]) < 0) {
        status = 3;
        goto out;
    }
    if (slot >= 0 && slot < 3)
        f[slot] = strtof(argv[6], NULL);
    if (argc == 8 && strcmp(argv[7], "free") == 0 && (rc = ofa_free(a, off)) < 0) {
        fprintf(stderr, "xlang_peer: free: %s\n", ofa_strerror(rc));
        status = 4;
    }
    if (argc == 8 && strcmp(argv[7], "wake") == 0 && slot >= 0 && slot < 3 &&
        (rc = ofa_wake(a, off + 4 * (unsigned)slot, INT_MAX)) < 0) {
        fprintf(stderr, "xlang_peer: wake: %s\n", ofa_strerror(rc));
        status = 4;
    }
out:
    ofa_disconnect(c);
    return status;
}

/*
 * replay.c - runs a libFuzzer target's inputs without libFuzzer.
 *
 *   replay_<target> FILE|DIR...
 *
 * Feeds every file named (every regular file of every directory named) to
 * LLVMFuzzerTestOneInput once, in name order. Built in every configuration,
 * so the checked-in corpus of each target is a regression test under gcc,
 * clang and the sanitizers alike, and a crash found by fuzzing stays fixed.
 * Exits 0 when every input ran; a finding aborts (or a sanitizer stops the
 * process) with the input's name printed first.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto fail;
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        goto fail;
    fclose(f);
    fprintf(stderr, "replay: %s\n", path);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
fail:
    fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
    if (f != NULL)
        fclose(f);
    free(buf);
    return -1;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    int ran = 0;

    for (int i = 1; i < argc; i++) {
        struct dirent **ents;
        struct stat st;
        int n;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) != 0)
                return 1;
            ran++;
            continue;
        }
        n = scandir(argv[i], &ents, NULL, by_name);
        if (n < 0)
            return 1;
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], ents[k]->d_name);
            if (ents[k]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (run_file(path) != 0)
                    return 1;
                ran++;
            }
            free(ents[k]);
        }
        free(ents);
    }
    printf("replay: %d inputs, no finding\n", ran);
    /* A corpus that ran nothing proves nothing. */
    return ran > 0 ? 0 : 1;
}

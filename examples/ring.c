/*
 * ring.c - blocks handed from one process to another through a ring of
 * offsets (ring.h): no daemon round trip to pass them, a futex wake-up
 * when the other side sleeps.
 *
 *   ring [-s SOCKET] [-a ARENA] [-n COUNT] [-z SIZE] produce [NAME]
 *   ring [-s SOCKET] [-a ARENA] consume [NAME]
 *
 * Start them in either order: both find the ring by NAME (default
 * "example/ring"), and the first makes it. The producer allocates COUNT
 * blocks of SIZE bytes (OFA_KEEP: they outlive it), writes a numbered
 * pattern into each, pushes its offset and, at the end, pushes 0. The
 * consumer pops offsets, checks each block's number and pattern, frees it,
 * and at the end frees the ring (which unbinds its name).
 *
 * Exit status: 0 done (the consumer: every block checked and freed), 1 an
 * error or a failed check (message on stderr), 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <ofaclient.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring.h"

struct item {
    uint64_t seq;
    uint64_t size;
    uint64_t sum; /* of the bytes after the header */
};

static void usage(void)
{
    fprintf(stderr, "usage: ring [-s SOCKET] [-a ARENA] [-n COUNT] [-z SIZE] produce|consume "
                    "[NAME]\n");
}

static uint64_t fill(uint8_t *p, uint64_t n, uint64_t seq)
{
    uint64_t sum = 0;

    for (uint64_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(seq * 31 + i);
        sum = sum * 131 + p[i];
    }
    return sum;
}

static uint64_t sum_of(const uint8_t *p, uint64_t n)
{
    uint64_t sum = 0;

    for (uint64_t i = 0; i < n; i++)
        sum = sum * 131 + p[i];
    return sum;
}

static int produce(struct ring *rg, uint64_t count, uint64_t size)
{
    struct item *it;
    uint64_t off;
    int rc;

    for (uint64_t seq = 0; seq < count; seq++) {
        rc = ofa_alloc_ex(rg->a, size, 0, OFA_KEEP, &off);
        if (rc < 0)
            return rc;
        it = ofa_ptr(rg->a, off);
        if (it == NULL) {
            ofa_free(rg->a, off);
            return -ENOMEM;
        }
        it->seq = seq;
        it->size = size;
        it->sum = fill((uint8_t *)(it + 1), size - sizeof(*it), seq);
        rc = ring_push(rg, off);
        if (rc < 0) {
            ofa_free(rg->a, off);
            return rc;
        }
    }
    return ring_push(rg, 0);
}

static int consume(struct ring *rg, uint64_t *count)
{
    const struct item *it;
    uint64_t off, size;
    int rc;

    for (*count = 0;; (*count)++) {
        rc = ring_pop(rg, &off);
        if (rc < 0)
            return rc;
        if (off == 0)
            return ofa_free(rg->a, rg->off); /* the ring, and its name */
        /* The block's size from the daemon, not from the block: what the
         * producer wrote is checked against it. */
        rc = ofa_block_size(rg->a, off, &size);
        if (rc < 0)
            return rc;
        it = ofa_ptr(rg->a, off);
        if (it == NULL || size < sizeof(*it) || it->seq != *count || it->size > size ||
            it->size < sizeof(*it) || sum_of((const uint8_t *)(it + 1), it->size - sizeof(*it)) !=
                                          it->sum) {
            fprintf(stderr, "ring: block %" PRIu64 " at offset %" PRIu64 " is not what was sent\n",
                    *count, off);
            return -EPROTO;
        }
        rc = ofa_free(rg->a, off);
        if (rc < 0)
            return rc;
    }
}

int main(int argc, char **argv)
{
    const char *socket_path = NULL, *arena = "default", *name = "example/ring", *mode;
    uint64_t count = 1000, size = 256, done = 0;
    ofa_client *c = NULL;
    ofa_arena *a = NULL;
    struct ring rg;
    uint64_t v;
    char *end;
    int opt, rc;

    while ((opt = getopt(argc, argv, "s:a:n:z:h")) != -1) {
        switch (opt) {
        case 's':
            socket_path = optarg;
            break;
        case 'a':
            arena = optarg;
            break;
        case 'n':
        case 'z':
            errno = 0;
            v = strtoull(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || optarg[0] == '-' ||
                (opt == 'z' && (v < sizeof(struct item) || v > (1u << 20)))) {
                fprintf(stderr, "ring: bad -%c '%s'\n", opt, optarg);
                return 2;
            }
            if (opt == 'n')
                count = v;
            else
                size = v;
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return 2;
        }
    }
    if (optind == argc || argc - optind > 2 ||
        (strcmp(argv[optind], "produce") != 0 && strcmp(argv[optind], "consume") != 0)) {
        usage();
        return 2;
    }
    mode = argv[optind];
    if (argc - optind == 2)
        name = argv[optind + 1];

    rc = ofa_connect(socket_path, &c);
    if (rc < 0) {
        fprintf(stderr, "ring: %s\n", ofa_errmsg());
        return 1;
    }
    rc = ofa_arena_open(c, arena, &a);
    if (rc == 0)
        rc = ring_open(a, name, &rg);
    if (rc == 0 && mode[0] == 'p')
        rc = produce(&rg, count, size);
    else if (rc == 0)
        rc = consume(&rg, &done);
    if (rc < 0)
        fprintf(stderr, "ring: %s %s: %s\n", mode, name,
                rc == -EPROTO ? "not a ring, or a damaged one" : ofa_errmsg());
    else if (mode[0] == 'c')
        printf("%" PRIu64 " blocks received, checked and freed\n", done);
    ofa_disconnect(c);
    return rc < 0 ? 1 : 0;
}

/*
 * consumer.c - walks a list a producer left in an ofa arena, checks it and
 * frees it.
 *
 *   consumer [-s SOCKET] [-a ARENA] [-k] [-t MS] [NAME]
 *
 * NAME (default "example/list") is the name the producer binds to the
 * list head. The consumer may start first: it waits until the name is bound
 * (ofa_lookup_wait), for MS milliseconds (-t; default: for ever; 0: only
 * look). It follows the
 * records by their offsets, turning each into an address of its own with
 * ofa_ptr(), and checks every record: its sequence number, that its whole
 * text lies in mapped memory, and its hash. Only when the entire list is
 * sound does it free the records and the head (-k: check only, free
 * nothing), so a name bound to something else, or a damaged list, changes
 * nothing. Freeing the head unbinds its name.
 *
 * Shared memory is written by other processes: nothing read from it is
 * trusted. Counts and lengths are bounded, a cycle cannot run past the
 * declared count, and a record's bytes are read only once ofa_ptr() of its
 * last byte has shown them mapped, contiguous with its first.
 *
 * Exit status: 0 the list checked out (and was freed), 1 a failed check or
 * an error (message on stderr), 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <ofaclient.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared_list.h"

#define FREE_BATCH 4096 /* most offsets ofa_free_many takes at once */

static void usage(void)
{
    fprintf(stderr, "usage: consumer [-s SOCKET] [-a ARENA] [-k] [-t MS] [NAME]\n");
}

/* The address of [off, off + size) if both ends are mapped in this process
 * and contiguous, else NULL. Blocks never straddle pages, so a sound record
 * always passes; a length that points past the page fails instead of
 * reading whatever is mapped next. */
static void *span(ofa_arena *a, uint64_t off, uint64_t size)
{
    char *first = ofa_ptr(a, off);
    char *last;

    if (first == NULL || size == 0 || off + size - 1 < off)
        return NULL;
    last = ofa_ptr(a, off + size - 1);
    return last == first + (size - 1) ? first : NULL;
}

/*
 * Walks and checks the list at head_off. On success stores the offsets of
 * the records (in list order, malloc'd, the caller frees) in *offs and the
 * totals in *count and *bytes. Returns 0 or -EINVAL (a failed check, said on
 * stderr), -ENOMEM.
 */
static int check_list(ofa_arena *a, uint64_t head_off, uint64_t **offs, uint64_t *count,
                      uint64_t *bytes)
{
    const struct list_head *h = span(a, head_off, sizeof(*h));
    uint64_t n, off, total = 0, *v = NULL;

    if (h == NULL) {
        fprintf(stderr, "consumer: no list head at offset %" PRIu64 "\n", head_off);
        return -EINVAL;
    }
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != LIST_MAGIC) {
        fprintf(stderr, "consumer: offset %" PRIu64 " holds no published list\n", head_off);
        return -EINVAL;
    }
    n = h->count;
    if (n > LIST_MAX_RECORDS) {
        fprintf(stderr, "consumer: list claims %" PRIu64 " records\n", n);
        return -EINVAL;
    }
    v = malloc((n ? n : 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    off = h->first;
    for (uint64_t i = 0; i < n; i++) {
        const struct list_rec *r = span(a, off, sizeof(*r));
        if (r == NULL || r->seq != i || r->len > LIST_MAX_TEXT ||
            span(a, off, sizeof(*r) + r->len) == NULL) {
            fprintf(stderr, "consumer: record %" PRIu64 " at offset %" PRIu64 " is damaged\n", i,
                    off);
            goto bad;
        }
        if (list_hash(r->text, r->len) != r->sum) {
            fprintf(stderr, "consumer: record %" PRIu64 " fails its hash\n", i);
            goto bad;
        }
        v[i] = off;
        total += r->len;
        off = r->next;
    }
    if (off != 0 || total != h->bytes) {
        fprintf(stderr,
                "consumer: the list does not end after %" PRIu64 " records, %" PRIu64 " bytes\n", n,
                h->bytes);
        goto bad;
    }
    *offs = v;
    *count = n;
    *bytes = total;
    return 0;

bad:
    free(v);
    return -EINVAL;
}

/* Frees the records, then the head: the head goes last so that the list
 * stays reachable for as long as any part of it is live. */
static int free_list(ofa_arena *a, uint64_t head_off, const uint64_t *offs, uint64_t count)
{
    for (uint64_t i = 0; i < count; i += FREE_BATCH) {
        size_t n = count - i < FREE_BATCH ? (size_t)(count - i) : FREE_BATCH;
        int rc = ofa_free_many(a, offs + i, n);
        if (rc < 0)
            return rc;
        if ((size_t)rc != n)
            return -EINVAL; /* a block another process freed meanwhile */
    }
    return ofa_free(a, head_off);
}

int main(int argc, char **argv)
{
    const char *socket_path = NULL, *arena = "default", *name = LIST_NAME;
    uint64_t head_off = 0, count = 0, bytes = 0, *offs = NULL;
    long timeout = -1;
    ofa_client *c = NULL;
    ofa_arena *a = NULL;
    int opt, keep = 0, rc;
    char *end;

    while ((opt = getopt(argc, argv, "s:a:kt:h")) != -1) {
        switch (opt) {
        case 's':
            socket_path = optarg;
            break;
        case 'a':
            arena = optarg;
            break;
        case 'k':
            keep = 1;
            break;
        case 't':
            errno = 0;
            timeout = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || end == optarg || timeout < 0 ||
                timeout > 86400000) {
                fprintf(stderr, "consumer: -t takes milliseconds, 0 to 86400000\n");
                return 2;
            }
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return 2;
        }
    }
    if (argc - optind > 1) {
        usage();
        return 2;
    }
    if (optind < argc)
        name = argv[optind];

    rc = ofa_connect(socket_path, &c);
    if (rc < 0) {
        fprintf(stderr, "consumer: connect %s: %s\n", ofa_socket_path(socket_path),
                ofa_strerror(rc));
        return 1;
    }
    rc = ofa_arena_open(c, arena, &a);
    if (rc < 0) {
        fprintf(stderr, "consumer: open arena %s: %s\n", arena, ofa_strerror(rc));
        goto out;
    }
    rc = ofa_lookup_wait(a, name, (int)timeout, &head_off, NULL);
    if (rc < 0) {
        fprintf(stderr, "consumer: no list named %s: %s\n", name,
                rc == -ETIMEDOUT ? "not published in time" : ofa_strerror(rc));
        goto out;
    }
    rc = check_list(a, head_off, &offs, &count, &bytes);
    if (rc < 0) {
        if (rc != -EINVAL)
            fprintf(stderr, "consumer: %s\n", ofa_strerror(rc));
        goto out;
    }
    if (!keep) {
        rc = free_list(a, head_off, offs, count);
        if (rc < 0) {
            fprintf(stderr, "consumer: freeing the list: %s\n", ofa_strerror(rc));
            goto out;
        }
    }
    printf("%" PRIu64 " records, %" PRIu64 " bytes of text checked%s\n", count, bytes,
           keep ? "" : ", freed");

out:
    free(offs);
    ofa_disconnect(c);
    return rc < 0 ? 1 : 0;
}

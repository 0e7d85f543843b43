/*
 * producer.c - builds a linked list of records in an ofa arena, publishes it
 * under a name and exits.
 *
 *   producer [-s SOCKET] [-a ARENA] [-n COUNT] [NAME]
 *
 * Every block is allocated with OFA_KEEP, so it belongs to the arena rather
 * than to this connection and outlives the process. The records are linked
 * by offsets (see shared_list.h). When the list is complete, the producer
 * binds NAME (default "example/list") to its head: that is all the consumer
 * needs, and it may have been started first, waiting for the name:
 *
 *   consumer & producer -n 1000
 *
 * The name is bound last: a name is visible to lookups as soon as it is
 * bound, so binding it after the list is built means nobody ever finds a
 * half-built list. A name that is bound already (an earlier list nobody
 * consumed) is an error: this list is freed again.
 *
 * Because OFA_KEEP blocks are not freed when the connection closes, the
 * producer frees what it allocated itself when it fails half-way; otherwise
 * a failed run would leak shared memory until someone freed it by hand.
 *
 * Exit status: 0 the list is published, 1 an error (message on stderr),
 * 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <ofaclient.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared_list.h"

static void usage(void)
{
    fprintf(stderr, "usage: producer [-s SOCKET] [-a ARENA] [-n COUNT] [NAME]\n");
}

/* Fills rec's text for record seq of count: a line of varying length. */
static uint32_t fill_text(char *text, uint64_t seq, uint64_t count)
{
    int n = snprintf(text, LIST_MAX_TEXT, "record %" PRIu64 " of %" PRIu64 ":", seq, count);
    uint32_t len = (uint32_t)n + 1 + (uint32_t)(seq * 37 % 200);

    for (uint32_t i = (uint32_t)n; i < len; i++)
        text[i] = (char)('a' + (seq + i) % 26);
    return len;
}

/* Frees the records linked from head, then head itself. Best effort: it runs
 * on the failure path, where the first error is the one reported. */
static void free_list(ofa_arena *a, uint64_t head_off)
{
    struct list_head *h = ofa_ptr(a, head_off);
    uint64_t off = h != NULL ? h->first : 0;

    while (off != 0) {
        struct list_rec *r = ofa_ptr(a, off);
        uint64_t next = r != NULL ? r->next : 0;
        ofa_free(a, off);
        off = next;
    }
    ofa_free(a, head_off);
}

/* Builds the list; on success stores the head's offset in *out. */
static int build_list(ofa_arena *a, uint64_t count, uint64_t *out)
{
    char text[LIST_MAX_TEXT];
    struct list_head *h;
    uint64_t head_off, prev_off = 0, bytes = 0;
    int rc;

    rc = ofa_alloc_ex(a, sizeof(*h), 0, OFA_KEEP | OFA_ZERO, &head_off);
    if (rc < 0)
        return rc;
    h = ofa_ptr(a, head_off);
    if (h == NULL) {
        rc = -EPROTO;
        goto fail;
    }
    for (uint64_t seq = 0; seq < count; seq++) {
        uint32_t len = fill_text(text, seq, count);
        struct list_rec *r;
        uint64_t off;

        rc = ofa_alloc_ex(a, sizeof(*r) + len, 0, OFA_KEEP, &off);
        if (rc < 0)
            goto fail;
        r = ofa_ptr(a, off);
        if (r == NULL) {
            ofa_free(a, off);
            rc = -EPROTO;
            goto fail;
        }
        r->next = 0;
        r->seq = seq;
        r->len = len;
        memcpy(r->text, text, len);
        r->sum = list_hash(text, len);
        /* Link it: the previous record (or the head) stores the offset. */
        if (prev_off == 0) {
            h->first = off;
        } else {
            struct list_rec *prev = ofa_ptr(a, prev_off);
            if (prev == NULL) {
                ofa_free(a, off);
                rc = -EPROTO;
                goto fail;
            }
            prev->next = off;
        }
        prev_off = off;
        bytes += len;
    }
    h->count = count;
    h->bytes = bytes;
    /* The magic goes last: a reader that sees it sees a complete list. The
     * consumer runs after we exit, but a concurrent reader would need this
     * ordering, so it costs nothing to get right. */
    __atomic_store_n(&h->magic, LIST_MAGIC, __ATOMIC_RELEASE);
    *out = head_off;
    return 0;

fail:
    free_list(a, head_off);
    return rc;
}

int main(int argc, char **argv)
{
    const char *socket_path = NULL, *arena = "default", *name = LIST_NAME;
    uint64_t count = 100, head_off = 0;
    ofa_client *c = NULL;
    ofa_arena *a = NULL;
    char *end;
    int opt, rc;

    while ((opt = getopt(argc, argv, "s:a:n:h")) != -1) {
        switch (opt) {
        case 's':
            socket_path = optarg;
            break;
        case 'a':
            arena = optarg;
            break;
        case 'n':
            errno = 0;
            count = strtoull(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || optarg[0] == '-' || count > LIST_MAX_RECORDS) {
                fprintf(stderr, "producer: -n takes 0 to %u\n", LIST_MAX_RECORDS);
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
        fprintf(stderr, "producer: connect %s: %s\n", ofa_socket_path(socket_path),
                ofa_strerror(rc));
        return 1;
    }
    rc = ofa_arena_open(c, arena, &a);
    if (rc < 0) {
        fprintf(stderr, "producer: open arena %s: %s\n", arena, ofa_strerror(rc));
        goto out;
    }
    rc = build_list(a, count, &head_off);
    if (rc < 0) {
        fprintf(stderr, "producer: building %" PRIu64 " records in %s: %s\n", count, arena,
                ofa_strerror(rc));
        goto out;
    }
    rc = ofa_name_bind(a, name, head_off);
    if (rc < 0) {
        /* Nobody can find the list: it would be unreachable. */
        fprintf(stderr, "producer: publishing the list as %s: %s\n", name,
                rc == -EEXIST ? "that name is bound already" : ofa_strerror(rc));
        free_list(a, head_off);
        goto out;
    }
    printf("%" PRIu64 " records published as %s\n", count, name);

out:
    ofa_disconnect(c); /* the OFA_KEEP blocks stay */
    return rc < 0 ? 1 : 0;
}

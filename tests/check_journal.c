/*
 * check_journal.c - the state file's journal (daemon/journal.c) on its own:
 * its checksum against the published CRC-32C check values, the hardware
 * path against the software one, transactions read whole or not at all,
 * batches that share a record, calls deferred to a commit, and damage
 * refused. The daemon's use of it (kill -9, restarts) is check_restart's.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "runner.h"

static char dir[] = "/tmp/ofa-journal.XXXXXX";
static char path[sizeof(dir) + 16];
static const struct journal_ident id = {.uid = 1234, .tag = "0123456789abcdef"};

static void setup(void)
{
    strcpy(dir, "/tmp/ofa-journal.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/state", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

/* What a read saw: record types and their first payload byte, in order. */
struct seen {
    uint16_t type[64];
    uint8_t first[64];
    size_t len[64];
    int n;
};

static int collect(void *ctx, uint16_t type, const uint8_t *p, size_t len)
{
    struct seen *s = ctx;

    ck_assert_int_lt(s->n, 64);
    s->type[s->n] = type;
    s->first[s->n] = len > 0 ? p[0] : 0;
    s->len[s->n] = len;
    s->n++;
    return 0;
}

static int read_back(struct seen *s, uint64_t *gen)
{
    char err[256];

    memset(s, 0, sizeof(*s));
    return journal_read(path, &id, collect, s, gen, err, sizeof(err));
}

START_TEST(crc_values)
{
    static const char check[] = "123456789";
    uint8_t buf[1031];

    /* The check value of CRC-32C (RFC 3720, B.4 lists the iSCSI vectors). */
    ck_assert_uint_eq(journal_crc(check, 9), 0xe3069283u);
    ck_assert_uint_eq(journal_crc_soft(check, 9), 0xe3069283u);
    memset(buf, 0, 32);
    ck_assert_uint_eq(journal_crc(buf, 32), 0x8a9136aau);
    memset(buf, 0xff, 32);
    ck_assert_uint_eq(journal_crc(buf, 32), 0x62a8ab43u);
    /* Every length and alignment: the 8-byte path and the tail agree with
     * the byte-at-a-time reference. */
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= sizeof(buf); n += 1 + n / 7)
            ck_assert_uint_eq(journal_crc(buf + off, n), journal_crc_soft(buf + off, n));
}
END_TEST

START_TEST(transactions)
{
    struct journal *j;
    struct seen s;
    uint64_t gen = 0, *p;
    uint8_t *r;

    ck_assert_int_eq(journal_create(&j, path, &id, 7), 0);
    ck_assert_int_eq(journal_put(j, 3, "\x01xyz", 4), 0);
    ck_assert_int_eq(journal_put(j, 4, "\x02", 1), 0);
    ck_assert(journal_pending(j));
    ck_assert_int_eq(journal_commit(j), 0);
    ck_assert(!journal_pending(j));
    /* A batch: one record grows by 8 bytes a block. */
    p = journal_rec(j, 5, 8);
    ck_assert_ptr_nonnull(p);
    *p = 0x11;
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(journal_last(j, 5));
        ck_assert_ptr_null(journal_last(j, 6));
        p = journal_extend(j, 8);
        ck_assert_ptr_nonnull(p);
        *p = 0x22;
    }
    ck_assert_int_eq(journal_commit(j), 0);
    /* An open transaction a killed writer left: never read. */
    r = journal_rec(j, 9, 3);
    ck_assert_ptr_nonnull(r);
    memcpy(r, "abc", 3);
    ck_assert_int_eq(read_back(&s, &gen), 0);
    ck_assert_uint_eq(gen, 7);
    ck_assert_int_eq(s.n, 3);
    ck_assert_uint_eq(s.type[0], 3);
    ck_assert_uint_eq(s.first[0], 1);
    ck_assert_uint_eq(s.len[0], 4);
    ck_assert_uint_eq(s.type[1], 4);
    ck_assert_uint_eq(s.type[2], 5);
    ck_assert_uint_eq(s.len[2], 32);
    ck_assert_uint_eq(s.first[2], 0x11);
    /* Committed now: read. */
    ck_assert_int_eq(journal_commit(j), 0);
    ck_assert_int_eq(read_back(&s, &gen), 0);
    ck_assert_int_eq(s.n, 4);
    ck_assert_uint_eq(s.type[3], 9);
    journal_close(j);
}
END_TEST

static int calls;
static void after(void *ctx, int fd, uint64_t a, uint64_t b)
{
    ck_assert_ptr_eq(ctx, &calls);
    ck_assert_int_eq(fd, 5);
    ck_assert_uint_eq(a + 1, b);
    calls++;
}

START_TEST(deferred)
{
    struct journal *j;

    calls = 0;
    ck_assert_int_eq(journal_create(&j, path, &id, 1), 0);
    journal_defer(j, after, &calls, 5, 1, 2); /* nothing open: at once */
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(journal_put(j, 3, "x", 1), 0);
    journal_defer(j, after, &calls, 5, 2, 3);
    journal_defer(j, after, &calls, 5, 3, 4);
    ck_assert_int_eq(calls, 1); /* the change is not safe yet */
    ck_assert_int_eq(journal_commit(j), 0);
    ck_assert_int_eq(calls, 3);
    journal_close(j);
}
END_TEST

static int dues;
static void on_due(void *ctx)
{
    ck_assert_ptr_eq(ctx, &dues);
    dues++;
}

/* The owner is told once, at the first commit that reaches the size it
 * gave, and never from inside an open transaction. */
START_TEST(due)
{
    struct journal *j;

    dues = 0;
    ck_assert_int_eq(journal_create(&j, path, &id, 1), 0);
    journal_set_due(j, journal_size(j) + 64, on_due, &dues);
    ck_assert_int_eq(journal_put(j, 3, "abcdefgh", 8), 0);
    ck_assert_int_eq(journal_commit(j), 0); /* 24 bytes more: not yet */
    ck_assert_int_eq(dues, 0);
    ck_assert_int_eq(journal_put(j, 3, "abcdefgh", 8), 0);
    ck_assert_int_eq(journal_put(j, 3, "abcdefgh", 8), 0);
    ck_assert_int_eq(dues, 0);
    ck_assert_int_eq(journal_commit(j), 0); /* 64 bytes more */
    ck_assert_int_eq(dues, 1);
    ck_assert_int_eq(journal_put(j, 3, "abcdefgh", 8), 0);
    ck_assert_int_eq(journal_commit(j), 0);
    ck_assert_int_eq(dues, 1);
    journal_close(j);
}
END_TEST

/* Flips one byte of the file at off. */
static void flip(uint64_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t b;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
    b ^= 0x40;
    ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

START_TEST(damage)
{
    static const struct journal_ident other = {.uid = 1234, .tag = "fedcba9876543210"};
    struct journal *j;
    struct seen s;
    uint64_t gen;
    char err[256];

    ck_assert_int_eq(journal_create(&j, path, &id, 1), 0);
    ck_assert_int_eq(journal_put(j, 3, "abcdefgh", 8), 0);
    ck_assert_int_eq(journal_commit(j), 0);
    ck_assert_int_eq(journal_put(j, 4, "ijklmnop", 8), 0);
    ck_assert_int_eq(journal_commit(j), 0);
    journal_close(j);
    ck_assert_int_eq(read_back(&s, &gen), 0);
    ck_assert_int_eq(s.n, 2);
    /* Another socket's state, another user's: foreign. */
    ck_assert_int_eq(journal_read(path, &other, collect, &s, &gen, err, sizeof(err)), -EPROTO);
    /* A byte of the first transaction's body (header 64, txn header 8,
     * record header 8): its checksum no longer holds. */
    flip(64 + 8 + 8 + 2);
    ck_assert_int_eq(read_back(&s, &gen), -EBADMSG);
    flip(64 + 8 + 8 + 2);
    ck_assert_int_eq(read_back(&s, &gen), 0);
    /* The header. */
    flip(20);
    ck_assert_int_eq(read_back(&s, &gen), -EBADMSG);
    flip(20);
    /* Not a state file at all. */
    flip(0);
    ck_assert_int_eq(read_back(&s, &gen), -EPROTO);
    flip(0);
    /* No file. */
    unlink(path);
    ck_assert_int_eq(read_back(&s, &gen), -ENOENT);
}
END_TEST

/* A file written again by a later generation (journal_recycle): what the
 * older one left past the new end is never read, though its transactions
 * are whole and their checksums hold; the name kept by journal_link
 * survives a rename over the first one. */
START_TEST(recycle)
{
    char kept[sizeof(path) + 8], next[sizeof(path) + 8];
    struct journal *j, *k;
    struct seen s;
    uint64_t gen = 0;
    uint8_t *r;

    snprintf(kept, sizeof(kept), "%s.old", path);
    snprintf(next, sizeof(next), "%s.new", path);
    ck_assert_int_eq(journal_create(&j, path, &id, 1), 0);
    /* Generation 1: twenty transactions of one 8-byte record each. */
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(journal_put(j, 3, "\001ghijklm", 8), 0);
        ck_assert_int_eq(journal_commit(j), 0);
    }
    ck_assert_int_eq(read_back(&s, &gen), 0);
    ck_assert_int_eq(s.n, 20);
    /* Generation 2 in a new file takes the name; generation 1's file
     * keeps the second name it was given. */
    ck_assert_int_eq(journal_link(j, kept), 0);
    ck_assert_int_eq(journal_create(&k, next, &id, 2), 0);
    ck_assert_int_eq(journal_put(k, 4, "\x02", 1), 0);
    ck_assert_int_eq(journal_commit(k), 0);
    ck_assert_int_eq(journal_rename(k, path), 0);
    ck_assert_int_eq(read_back(&s, &gen), 0);
    ck_assert_uint_eq(gen, 2);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(access(kept, F_OK), 0);
    /* Generation 3 recycles generation 1's file: written under the next
     * name, then renamed over. Its first transaction has the size of
     * generation 1's, so an old transaction, whole, follows it. */
    ck_assert_int_eq(journal_recycle(j, next, &id, 3), 0);
    ck_assert_int_ne(access(kept, F_OK), 0);
    ck_assert_uint_eq(journal_size(j), 64);
    /* Killed before the first commit: nothing, not the old generation. */
    r = journal_rec(j, 3, 8);
    ck_assert_ptr_nonnull(r);
    memcpy(r, "\003ghijklm", 8);
    ck_assert_int_eq(journal_rename(j, path), 0);
    ck_assert_int_eq(read_back(&s, &gen), 0);
    ck_assert_uint_eq(gen, 3);
    ck_assert_int_eq(s.n, 0);
    /* Committed: that one transaction, and none of the twenty. */
    ck_assert_int_eq(journal_commit(j), 0);
    ck_assert_int_eq(read_back(&s, &gen), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_uint_eq(s.first[0], 3);
    /* A second record written over the old ones, not committed. */
    r = journal_rec(j, 5, 8);
    ck_assert_ptr_nonnull(r);
    memcpy(r, "\005ghijklm", 8);
    ck_assert_int_eq(read_back(&s, &gen), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(journal_commit(j), 0);
    ck_assert_int_eq(read_back(&s, &gen), 0);
    ck_assert_int_eq(s.n, 2);
    ck_assert_uint_eq(s.first[1], 5);
    /* A journal with a transaction open is not recycled. */
    ck_assert_int_eq(journal_put(j, 3, "x", 1), 0);
    ck_assert_int_eq(journal_recycle(j, next, &id, 4), -EBUSY);
    ck_assert_int_eq(journal_commit(j), 0);
    journal_close(k); /* generation 2's file went with the rename */
    ck_assert_int_eq(read_back(&s, &gen), 0);
    ck_assert_int_eq(s.n, 3);
    /* Discarded: closed, and its file removed. */
    journal_discard(j);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_ne(access(next, F_OK), 0);
    ck_assert_int_ne(access(kept, F_OK), 0);
}
END_TEST

static Suite *journal_suite(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("journal");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, crc_values);
    tcase_add_test(tc, transactions);
    tcase_add_test(tc, deferred);
    tcase_add_test(tc, damage);
    tcase_add_test(tc, recycle);
    tcase_add_test(tc, due);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ofa_check_run(journal_suite());
}

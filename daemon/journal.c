/*
 * journal.c - the state file: a log of changes in a memory-mapped file.
 *
 * Owns: the file of one generation of the state, its mapping, the open
 * transaction and the calls deferred until it is committed. Called by
 * arena.c, resume.c and session.c (records), restore.c (reading, and the
 * snapshot that starts each generation) and server.c (commit, size). Calls
 * libc only.
 *
 * Why a mapped file: ofad must not lose a change it has answered for when it
 * is killed (kill -9, a crash, the OOM killer), and it must not pay a system
 * call per request for that. A store into a MAP_SHARED mapping of a file is
 * in the kernel's page cache the moment it is made, and the page cache is not
 * the process's: it survives the process, whatever kills it. So a record is
 * safe once written, at the cost of a memcpy. (A reboot loses the file's
 * latest writes unless they reached the disk, and loses the pages too: state
 * and memory go together, which is why a state directory in memory, /run,
 * is the natural place, and why nothing here calls fsync.)
 *
 * Format: a header (magic, version, uid, socket tag, generation, CRC-32C),
 * then transactions back to back, each {u32 len, u32 CRC-32C of the body} and
 * a body of records {u16 type, u16 0, u32 len, payload padded to 8 bytes},
 * then an end mark: a transaction header of zeros. Past the end mark the
 * file holds zeros (a new file, made with fallocate) or an older
 * generation's bytes (a recycled one: journal_recycle), never read.
 *
 * Transactions: records go into the open transaction, whose len word stays
 * 0 (it is the end mark the last commit wrote); commit writes the crc and
 * the next end mark, then the len with a release store. A process
 * dies between two instructions, so the len word, aligned, is either 0 or
 * whole: a reader takes a transaction whole (len set: crc must match, else
 * the file is damaged) or not at all (len 0: the end). The end mark is
 * always in the file (it grows before a record would leave no room for
 * it), so a file that ends without one was cut short: damaged too.
 * session.c makes one transaction of the changes of the requests of one
 * read and the last reply kept, before any of their replies is sent, so
 * that after a restart a resent request is either answered from the kept
 * reply or done for the first time, never both (see resume.h).
 *
 * Deferred calls: what must not happen before the change that causes it is
 * in a committed transaction waits in a queue until the commit. A page whose
 * last block is freed is punched only then: were ofad killed before the
 * commit, the next one would put that block back, and its bytes must still
 * be there.
 *
 * Recycling: a generation's file, once the next one is in force, is kept
 * (under a second name, journal_link) and becomes the file of the one after
 * (journal_recycle), so the journal is written into pages that are already
 * the process's. A page new to the process costs a fault at its first store
 * even when populated in advance (the page tables of a virtual machine's
 * host are filled lazily: about 4 us per 4 KiB page measured under one);
 * at a batch's 10 to 20 bytes of records per call, that was a fifth of the
 * daemon's time per call, and recycling removes it once the first two
 * generations are written.
 *
 * Growth: the file grows by doubling, with posix_fallocate so that a full
 * file system is an error here (-ENOSPC) rather than a SIGBUS on a store
 * into a hole; the mapping follows with mremap, and is populated at once
 * (MADV_POPULATE_WRITE): one call per doubling instead of a page fault per
 * page on the request path. A journal that cannot grow
 * fails: it records nothing more and says so (journal_failed), and the
 * daemon goes on without a usable state (server.c logs it and removes the
 * file, so the next start is clean rather than wrong).
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#define JOURNAL_MAGIC    "OFASTATE"
#define JOURNAL_MIN_SIZE (1u << 20)
#define JOURNAL_HDR      64u /* bytes before the first transaction */

struct journal_hdr {
    char magic[8];
    uint32_t version;
    uint32_t uid;
    char tag[JOURNAL_TAG_LEN];
    uint64_t gen;
    uint64_t created; /* Unix time */
    uint32_t hdr_len; /* JOURNAL_HDR */
    uint32_t crc;     /* CRC-32C of the bytes above */
};
_Static_assert(sizeof(struct journal_hdr) <= JOURNAL_HDR, "header room");

struct txn_hdr {
    uint32_t len; /* bytes of the transaction, this header included; 0: none */
    uint32_t crc; /* CRC-32C of the body */
};

#define rec_hdr journal_rec_hdr

struct deferred {
    journal_after_fn *fn;
    void *ctx;
    int fd;
    uint64_t a, b;
};

static inline uint64_t pad8(uint64_t n)
{
    return (n + 7) & ~7ull;
}

/*
 * CRC-32C (Castagnoli) of the transactions and the header. On the request
 * path of every change, so it must cost little for a few dozen bytes: the
 * SSE 4.2 instruction does 8 bytes at a time where the processor has it
 * (zlib's crc32, the IEEE polynomial, measured about 220 instructions for a
 * one-allocation transaction under callgrind, a sixth of the request); the
 * same function in software, one byte at a time through a table, elsewhere
 * and as the reference. Both give the same value, so a file reads the same
 * on any x86-64 or other machine.
 */
#define CRC32C_POLY 0x82f63b78u /* reversed */

static uint32_t crc_table[256];

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;

        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc_soft(uint32_t c, const uint8_t *b, size_t n)
{
    while (n-- > 0)
        c = crc_table[(c ^ *b++) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const uint8_t *b, size_t n)
{
    uint64_t c64 = c;

    for (; n >= 8; n -= 8, b += 8) {
        uint64_t w;

        memcpy(&w, b, 8);
        c64 = __builtin_ia32_crc32di(c64, w);
    }
    c = (uint32_t)c64;
    while (n-- > 0)
        c = __builtin_ia32_crc32qi(c, *b++);
    return c;
}
#endif

static uint32_t (*crc_fn)(uint32_t, const uint8_t *, size_t);

static void crc_pick(void)
{
    crc_table_init();
    crc_fn = crc_soft;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2"))
        crc_fn = crc_hw;
#endif
}

static inline uint32_t crc_of(const void *p, size_t n)
{
    /* Only the loop thread (and tests) compute checksums: no lock. */
    if (__builtin_expect(crc_fn == NULL, 0))
        crc_pick();
    return ~crc_fn(~0u, p, n);
}

uint32_t journal_crc(const void *p, size_t n)
{
    return crc_of(p, n);
}

uint32_t journal_crc_soft(const void *p, size_t n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, crc_table_init);
    return ~crc_soft(~0u, p, n);
}

/* Makes j's file an empty generation gen of id's state: the header, and the
 * end mark after it. The bytes past it may be an older generation's (a
 * recycled file): the end mark stops a reader before them. */
static void start_file(struct journal *j, const struct journal_ident *id, uint64_t gen)
{
    struct journal_hdr h;

    memset(&h, 0, sizeof(h));
    memcpy(h.magic, JOURNAL_MAGIC, 8);
    h.version = JOURNAL_VERSION;
    h.uid = id->uid;
    memcpy(h.tag, id->tag, JOURNAL_TAG_LEN);
    h.gen = gen;
    h.created = (uint64_t)time(NULL);
    h.hdr_len = JOURNAL_HDR;
    h.crc = crc_of(&h, offsetof(struct journal_hdr, crc));
    memset(j->map, 0, JOURNAL_HDR + sizeof(struct txn_hdr));
    memcpy(j->map, &h, sizeof(h));
    j->pos = j->tpos = JOURNAL_HDR;
    j->last = 0;
    j->open = false;
    j->gen = gen;
    j->due = UINT64_MAX;
    j->due_fn = NULL;
}

int journal_create(struct journal **out, const char *path, const struct journal_ident *id,
                   uint64_t gen)
{
    struct journal *j = calloc(1, sizeof(*j));
    int rc;

    if (j == NULL || (j->path = strdup(path)) == NULL) {
        free(j);
        return -ENOMEM;
    }
    j->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (j->fd < 0) {
        rc = -errno;
        free(j->path);
        free(j);
        return rc;
    }
    rc = posix_fallocate(j->fd, 0, JOURNAL_MIN_SIZE);
    if (rc != 0) {
        rc = -rc;
        goto fail;
    }
    j->cap = JOURNAL_MIN_SIZE;
    j->map = mmap(NULL, j->cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, j->fd, 0);
    if (j->map == MAP_FAILED) {
        rc = -errno;
        goto fail;
    }
    start_file(j, id, gen);
    *out = j;
    return 0;

fail:
    close(j->fd);
    unlink(path);
    free(j->path);
    free(j);
    return rc;
}

int journal_recycle(struct journal *j, const char *path, const struct journal_ident *id,
                    uint64_t gen)
{
    int rc;

    if (j->open || j->ndq > 0 || j->failed)
        return -EBUSY;
    rc = journal_rename(j, path);
    if (rc < 0)
        return rc;
    start_file(j, id, gen);
    return 0;
}

/* j's file takes the name path (replacing a file there): instead of its
 * name (rename), or beside it (link). The name j goes by becomes path. */
static int name_to(struct journal *j, const char *path, bool beside)
{
    char *np = strdup(path);
    int rc = 0;

    if (np == NULL)
        return -ENOMEM;
    if (beside)
        rc = (unlink(path) < 0 && errno != ENOENT) || link(j->path, path) < 0 ? -errno : 0;
    else
        rc = rename(j->path, path) < 0 ? -errno : 0;
    if (rc < 0) {
        free(np);
        return rc;
    }
    free(j->path);
    j->path = np;
    return 0;
}

int journal_rename(struct journal *j, const char *path)
{
    return name_to(j, path, false);
}

int journal_link(struct journal *j, const char *path)
{
    return name_to(j, path, true);
}

void journal_discard(struct journal *j)
{
    if (j == NULL)
        return;
    unlink(j->path);
    journal_close(j);
}

uint64_t journal_cap(const struct journal *j)
{
    return j->cap;
}


static void run_deferred(struct journal *j)
{
    /* A call may defer again (it should not): take the queue first. */
    while (j->ndq > 0) {
        struct deferred d = j->dq[0];

        memmove(&j->dq[0], &j->dq[1], (j->ndq - 1) * sizeof(j->dq[0]));
        j->ndq--;
        d.fn(d.ctx, d.fd, d.a, d.b);
    }
}

void journal_close(struct journal *j)
{
    if (j == NULL)
        return;
    journal_commit(j);
    run_deferred(j);
    free(j->dq);
    if (j->map != NULL && j->map != MAP_FAILED)
        munmap(j->map, j->cap);
    close(j->fd);
    free(j->path);
    free(j);
}

/* Makes the file hold n more bytes past tpos, plus an empty transaction
 * header after them (the end mark must stay readable as 0). */
static int grow(struct journal *j, uint64_t n)
{
    uint64_t want = j->tpos + n + sizeof(struct txn_hdr), cap = j->cap;
    void *m;
    int rc;

    if (want <= j->cap)
        return 0;
    if (j->failed)
        return j->failed;
    while (cap < want)
        cap *= 2;
    rc = posix_fallocate(j->fd, (off_t)j->cap, (off_t)(cap - j->cap));
    if (rc != 0) {
        j->failed = -rc;
        return -rc;
    }
    m = mremap(j->map, j->cap, cap, MREMAP_MAYMOVE);
    if (m == MAP_FAILED) {
        j->failed = -ENOMEM;
        return -ENOMEM;
    }
    /* Mapped now, in one go: a fault per page as records reach it would
     * cost a request path several times what the records do. */
    madvise((uint8_t *)m + j->cap, cap - j->cap, MADV_POPULATE_WRITE);
    j->map = m;
    j->cap = cap;
    return 0;
}

void *journal_rec_slow(struct journal *j, uint16_t type, size_t len)
{
    uint64_t need = sizeof(struct rec_hdr) + pad8(len);

    if (j->failed)
        return NULL;
    if (!j->open) {
        if (grow(j, sizeof(struct txn_hdr) + need) < 0)
            return NULL;
        j->open = true;
        j->tpos = j->pos + sizeof(struct txn_hdr);
    } else if (grow(j, need) < 0) {
        return NULL;
    }
    return journal_rec_at_end(j, type, len, need);
}

void *journal_extend_slow(struct journal *j, size_t add)
{
    struct rec_hdr *r;
    uint64_t end;

    if (!j->open || j->last == 0 || j->failed || add % 8 != 0)
        return NULL;
    r = (struct rec_hdr *)(j->map + j->last);
    if (r->len % 8 != 0 || (uint64_t)r->len + add > UINT32_MAX)
        return NULL;
    end = j->last + sizeof(*r) + r->len;
    if (grow(j, add) < 0)
        return NULL;
    r = (struct rec_hdr *)(j->map + j->last); /* the mapping may have moved */
    r->len += (uint32_t)add;
    j->tpos = end + add;
    return j->map + end;
}

int journal_put(struct journal *j, uint16_t type, const void *p, size_t len)
{
    void *d = journal_rec(j, type, len);

    if (d == NULL)
        return j->failed;
    memcpy(d, p, len);
    return 0;
}

void journal_defer(struct journal *j, journal_after_fn *fn, void *ctx, int fd, uint64_t a,
                   uint64_t b)
{
    if (j->ndq == j->dq_cap) {
        size_t ncap = j->dq_cap ? j->dq_cap * 2 : 16;
        struct deferred *nq = realloc(j->dq, ncap * sizeof(*nq));

        if (nq == NULL) {
            journal_commit(j);
            fn(ctx, fd, a, b);
            return;
        }
        j->dq = nq;
        j->dq_cap = ncap;
    }
    j->dq[j->ndq++] = (struct deferred){fn, ctx, fd, a, b};
    if (!j->open)
        run_deferred(j);
}

int journal_commit(struct journal *j)
{
    j->last = 0;
    if (j->open && !j->failed) {
        struct txn_hdr *t = (struct txn_hdr *)(j->map + j->pos);
        uint64_t len = j->tpos - j->pos;

        t->crc = crc_of(t + 1, len - sizeof(*t));
        /* The next end mark first (the file past it may hold an older
         * generation's bytes: a recycled file), then the len word, in one
         * aligned store: a reader sees the whole transaction or none of
         * it, and stops after it. grow() left room for the mark. */
        memset(j->map + j->tpos, 0, sizeof(*t));
        __atomic_store_n(&t->len, (uint32_t)len, __ATOMIC_RELEASE);
        j->pos = j->tpos;
    }
    j->open = false;
    if (j->ndq > 0)
        run_deferred(j);
    if (__builtin_expect(j->pos >= j->due, 0) && j->due_fn != NULL) {
        j->due = UINT64_MAX;
        j->due_fn(j->due_ctx);
    }
    return j->failed;
}

void journal_set_due(struct journal *j, uint64_t size, void (*fn)(void *ctx), void *ctx)
{
    j->due = size;
    j->due_fn = fn;
    j->due_ctx = ctx;
}

uint64_t journal_gen(const struct journal *j)
{
    return j->gen;
}

int journal_failed(const struct journal *j)
{
    return j->failed;
}

static int bad(char *err, size_t errlen, int rc, const char *fmt, uint64_t at)
{
    snprintf(err, errlen, fmt, (unsigned long long)at);
    return rc;
}

/* The records of one transaction's body. */
static int read_body(const uint8_t *p, uint64_t n, uint64_t at, journal_rec_fn *fn, void *ctx,
                     char *err, size_t errlen)
{
    uint64_t i = 0;
    int rc;

    while (i < n) {
        const struct rec_hdr *r = (const struct rec_hdr *)(p + i);

        if (n - i < sizeof(*r) || r->type == 0 || r->zero != 0 ||
            pad8(r->len) > n - i - sizeof(*r))
            return bad(err, errlen, -EBADMSG, "a bad record at byte %llu", at + i);
        rc = fn(ctx, r->type, (const uint8_t *)(r + 1), r->len);
        if (rc < 0) {
            if (err[0] == '\0')
                bad(err, errlen, rc, "the record at byte %llu cannot be applied", at + i);
            return rc;
        }
        i += sizeof(*r) + pad8(r->len);
    }
    return 0;
}

static int read_map(const uint8_t *m, uint64_t size, const struct journal_ident *id,
                    journal_rec_fn *fn, void *ctx, uint64_t *gen, char *err, size_t errlen)
{
    struct journal_hdr h;
    uint64_t pos;
    int rc;

    if (size < JOURNAL_HDR)
        return bad(err, errlen, -EPROTO, "not a state file (%llu bytes)", size);
    memcpy(&h, m, sizeof(h));
    if (memcmp(h.magic, JOURNAL_MAGIC, 8) != 0)
        return bad(err, errlen, -EPROTO, "not a state file (no magic at byte %llu)", 0);
    if (h.crc != crc_of(&h, offsetof(struct journal_hdr, crc)) || h.hdr_len != JOURNAL_HDR)
        return bad(err, errlen, -EBADMSG, "a damaged header (byte %llu)", 0);
    if (h.version != JOURNAL_VERSION)
        return bad(err, errlen, -EPROTO, "a state of another version (%llu)", h.version);
    if (h.uid != id->uid)
        return bad(err, errlen, -EPROTO, "the state of another user (uid %llu)", h.uid);
    if (memcmp(h.tag, id->tag, JOURNAL_TAG_LEN) != 0)
        return bad(err, errlen, -EPROTO, "the state of a daemon on another socket%.0llu", 0);
    *gen = h.gen;
    for (pos = JOURNAL_HDR;;) {
        const struct txn_hdr *t = (const struct txn_hdr *)(m + pos);
        uint32_t len;

        /* The writer always leaves room for the end mark (grow): a file
         * that stops before one was cut, and what followed is lost. */
        if (size - pos < sizeof(struct txn_hdr))
            return bad(err, errlen, -EBADMSG, "no end mark: the file is cut at byte %llu", size);
        len = __atomic_load_n(&t->len, __ATOMIC_ACQUIRE);
        if (len == 0)
            break;
        if (len < sizeof(*t) || len % 8 != 0 || len > size - pos)
            return bad(err, errlen, -EBADMSG, "a bad transaction length at byte %llu", pos);
        if (t->crc != crc_of(t + 1, len - sizeof(*t)))
            return bad(err, errlen, -EBADMSG, "a checksum mismatch at byte %llu", pos);
        rc = read_body((const uint8_t *)(t + 1), len - sizeof(*t), pos + sizeof(*t), fn, ctx, err,
                       errlen);
        if (rc < 0)
            return rc;
        pos += len;
    }
    return 0;
}

int journal_read(const char *path, const struct journal_ident *id, journal_rec_fn *fn, void *ctx,
                 uint64_t *gen, char *err, size_t errlen)
{
    struct stat st;
    void *m;
    int fd, rc;

    err[0] = '\0';
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return bad(err, errlen, -EPROTO, "not a regular file (mode %llo)", st.st_mode);
    }
    if (st.st_size < (off_t)JOURNAL_HDR) {
        close(fd);
        return bad(err, errlen, -EPROTO, "not a state file (%llu bytes)", (uint64_t)st.st_size);
    }
    m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    rc = m == MAP_FAILED ? -errno : 0;
    close(fd);
    if (rc < 0)
        return rc;
    rc = read_map(m, (uint64_t)st.st_size, id, fn, ctx, gen, err, errlen);
    munmap(m, (size_t)st.st_size);
    return rc;
}

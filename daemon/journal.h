/*
 * journal.h - the state file of an ofad run with a state directory: a log of
 * changes in a memory-mapped file, read back by the next ofad.
 *
 * See journal.c for the format and the guarantees. This layer knows records
 * (a type and bytes), transactions and files; what the records mean is
 * restore.c's, and who writes them is arena.c's, resume.c's and session.c's.
 */
#ifndef OFAD_JOURNAL_H
#define OFAD_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_VERSION 1u
#define JOURNAL_TAG_LEN 16 /* the socket's tag (shm_tag): 16 hex digits */

/* Whose state a file is: a state is taken over only by an ofad of the same
 * user serving the same socket. */
struct journal_ident {
    uint32_t uid;
    char tag[JOURNAL_TAG_LEN + 1];
};

struct journal;

/* Called after the transaction that was open when it was deferred is
 * committed (journal_defer). */
typedef void journal_after_fn(void *ctx, int fd, uint64_t a, uint64_t b);

/*
 * Creates the file path (replacing one that is there) for generation gen of
 * the state of id, with room to grow. Returns 0 and *out; -errno (the file
 * system's: -ENOSPC, -EACCES, ...).
 */
int journal_create(struct journal **out, const char *path, const struct journal_ident *id,
                   uint64_t gen);

/* Renames j's file to path, atomically replacing the file there. 0 or -errno. */
int journal_rename(struct journal *j, const char *path);

/*
 * Makes j's file the file of generation gen of id's state, renamed to path:
 * a journal no longer written (its transactions committed, no call
 * deferred), whose pages are then written again rather than new ones (see
 * journal.c, Recycling). Returns 0; -EBUSY (j is still in use), or rename's
 * -errno (j is unchanged).
 */
int journal_recycle(struct journal *j, const char *path, const struct journal_ident *id,
                    uint64_t gen);

/* Gives j's file the name path too (replacing a file there), and makes it
 * the name j goes by: the file then outlives a rename over its first name.
 * 0 or -errno (of unlink or link). */
int journal_link(struct journal *j, const char *path);

/* Closes j and removes its file (by the name j goes by). */
void journal_discard(struct journal *j);

/* Bytes of the file. */
uint64_t journal_cap(const struct journal *j);

/* Unmaps and closes j; its file stays. Deferred calls not yet run are run. */
void journal_close(struct journal *j);



/* A record's header (private to journal.c: here for the inline paths). */
struct journal_rec_hdr {
    uint16_t type;
    uint16_t zero;
    uint32_t len; /* payload bytes, without the padding */
};

struct deferred;

/* Private to journal.c: here for the inline paths below. */
struct journal {
    char *path;
    int fd;
    uint8_t *map;
    uint64_t cap;  /* bytes of the file and of the mapping */
    uint64_t pos;  /* end of the last committed transaction */
    uint64_t tpos; /* end of the open transaction's records */
    uint64_t last; /* start of the open transaction's last record, 0: none */
    bool open;
    int failed;
    uint64_t gen;
    uint64_t due;              /* size that calls due_fn (journal_set_due) */
    void (*due_fn)(void *ctx);
    void *due_ctx;
    struct deferred *dq;
    size_t ndq, dq_cap;
};

/* The payload of the open transaction's last record if it is of type, else
 * NULL: consecutive changes of one kind (the blocks of one batch) may then
 * share it (journal_extend). Valid until the next call on j. */
static inline void *journal_last(struct journal *j, uint16_t type)
{
    struct journal_rec_hdr *r;

    if (!j->open || j->last == 0)
        return NULL;
    r = (struct journal_rec_hdr *)(j->map + j->last);
    return r->type == type ? r + 1 : NULL;
}

void *journal_extend_slow(struct journal *j, size_t add);

/*
 * Room for a record of type (1..65535) with len payload bytes in the open
 * transaction (one is opened if none is): the caller writes the payload there
 * before the next call on j. NULL when the file cannot grow (then j is
 * failed: see journal_failed).
 */
void *journal_rec_slow(struct journal *j, uint16_t type, size_t len);

/* Writes a record's header at the end of the open transaction, which has
 * room for need bytes: the payload goes at the pointer returned. */
static inline void *journal_rec_at_end(struct journal *j, uint16_t type, size_t len,
                                       uint64_t need)
{
    struct journal_rec_hdr *r = (struct journal_rec_hdr *)(j->map + j->tpos);

    r->type = type;
    r->zero = 0;
    r->len = (uint32_t)len;
    j->last = j->tpos;
    j->tpos += need;
    return r + 1;
}

static inline void *journal_rec(struct journal *j, uint16_t type, size_t len)
{
    uint64_t need = sizeof(struct journal_rec_hdr) + ((len + 7) & ~(size_t)7);

    /* Inline while the file has room (for a transaction header if none is
     * open, and for the 8 bytes of the end mark after the record). */
    if (!j->open) {
        if (__builtin_expect(j->failed || j->pos + 8 + need + 8 > j->cap, 0))
            return journal_rec_slow(j, type, len);
        j->open = true;
        j->tpos = j->pos + 8;
    } else if (__builtin_expect(j->failed || j->tpos + need + 8 > j->cap, 0)) {
        return journal_rec_slow(j, type, len);
    }
    return journal_rec_at_end(j, type, len, need);
}

/* True when a transaction is open (records written, not yet committed) or
 * calls wait for a commit. */
static inline bool journal_pending(const struct journal *j)
{
    return j->open || j->ndq > 0;
}

/* Bytes in use: the header and every committed transaction. */
static inline uint64_t journal_size(const struct journal *j)
{
    return j->pos;
}

/* Makes the open transaction's last record (its payload a multiple of 8
 * bytes) add bytes longer (a multiple of 8) and returns where they go; NULL
 * when there is no such record or the file cannot grow (j failed). Inline
 * while the file has room: a batch's blocks cost a few stores each. */
static inline void *journal_extend(struct journal *j, size_t add)
{
    struct journal_rec_hdr *r;

    if (__builtin_expect(j->open && j->last != 0 && add % 8 == 0 &&
                             j->tpos + add + 8 <= j->cap,
                         1)) {
        r = (struct journal_rec_hdr *)(j->map + j->last);
        if (r->len % 8 == 0 && r->len <= UINT32_MAX - add &&
            j->last + sizeof(*r) + r->len == j->tpos) {
            void *p = j->map + j->tpos;

            r->len += (uint32_t)add;
            j->tpos += add;
            return p;
        }
    }
    return journal_extend_slow(j, add);
}

/* Same, with the payload copied from p. 0 or -ENOSPC/-ENOMEM (j failed). */
int journal_put(struct journal *j, uint16_t type, const void *p, size_t len);

/*
 * Runs fn(ctx, fd, a, b) once the open transaction is committed (at once if
 * none is open). For what must not happen before the change that causes it
 * is safe in the file: a page's memory is punched only after its release is
 * recorded. Never fails: without memory for the queue, the transaction is
 * committed early and fn runs at once.
 */
void journal_defer(struct journal *j, journal_after_fn *fn, void *ctx, int fd, uint64_t a,
                   uint64_t b);

/*
 * Commits the open transaction, if any: from now on a reader sees all of its
 * records or, had ofad died a moment before, none. Then runs the deferred
 * calls. Returns 0, or the error that failed j.
 */
int journal_commit(struct journal *j);


/* Calls fn(ctx) once, after the first commit that leaves j at least size
 * bytes long (journal_size): its owner then starts the next generation,
 * from the loop rather than from inside a commit. A compare per commit. */
void journal_set_due(struct journal *j, uint64_t size, void (*fn)(void *ctx), void *ctx);

/* The generation given at creation. */
uint64_t journal_gen(const struct journal *j);

/* 0, or the -errno that made j stop recording (e.g. -ENOSPC): the file no
 * longer follows the daemon. */
int journal_failed(const struct journal *j);

/* CRC-32C of n bytes at p (the hardware's instruction where there is one),
 * and the same in software alone (to check the first against). */
uint32_t journal_crc(const void *p, size_t n);
uint32_t journal_crc_soft(const void *p, size_t n);

/* Called for each record of a file, in order. A negative return stops the
 * reading with that error. */
typedef int journal_rec_fn(void *ctx, uint16_t type, const uint8_t *p, size_t len);

/*
 * Reads path: checks its header against id, then calls fn for every record of
 * every committed transaction (an uncommitted tail, left by a process killed
 * while writing it, is not read). Returns 0 with *gen; -ENOENT (no file);
 * -EPROTO (not a state file, another version, or another user's or socket's
 * state: err says which); -EBADMSG (damaged: err says where); -errno of
 * open/mmap; or fn's error.
 */
int journal_read(const char *path, const struct journal_ident *id, journal_rec_fn *fn, void *ctx,
                 uint64_t *gen, char *err, size_t errlen);

#endif

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

/* Unmaps and closes j; its file stays. Deferred calls not yet run are run. */
void journal_close(struct journal *j);

/*
 * Room for a record of type (1..65535) with len payload bytes in the open
 * transaction (one is opened if none is): the caller writes the payload there
 * before the next call on j. NULL when the file cannot grow (then j is
 * failed: see journal_failed).
 */
void *journal_rec(struct journal *j, uint16_t type, size_t len);

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

/* True when a transaction is open (records written, not yet committed). */
bool journal_pending(const struct journal *j);

/* Bytes in use: the header and every committed transaction. */
uint64_t journal_size(const struct journal *j);

/* The generation given at creation. */
uint64_t journal_gen(const struct journal *j);

/* 0, or the -errno that made j stop recording (e.g. -ENOSPC): the file no
 * longer follows the daemon. */
int journal_failed(const struct journal *j);

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

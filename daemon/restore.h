/*
 * restore.h - the state kept across restarts: reading it back into a new
 * ofad, and writing the snapshot that starts each generation of the file.
 */
#ifndef OFAD_RESTORE_H
#define OFAD_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"

struct registry;
struct sessions;

#define RESTORE_FILE     "state"     /* in the state directory */
#define RESTORE_FILE_NEW "state.new" /* the next generation, until complete */
#define RESTORE_FILE_OLD "state.old" /* the last generation, to be recycled */

/* A descriptor handed back by the fd store, by name. restore_load sets fd
 * to -1 for each one it takes. */
struct restore_fd {
    const char *name;
    int fd;
};

/* What restore_load found. */
struct restore_result {
    uint64_t gen;                          /* of the file read; 0: none */
    uint64_t since_s;                      /* when the state was first kept; 0: not said */
    uint32_t arenas, sessions, sessions_gone, names;
    uint64_t pages, blocks, orphans;       /* orphans: blocks of no session, freed */
    uint32_t pages_missing;                /* pages whose descriptor did not come back */
};

/*
 * Reads the state file of dir (RESTORE_FILE) and puts back into r and ss
 * (empty, and recording nothing: r->jn NULL) every arena, page (its
 * descriptor taken from fds by its key), live block, name and session it
 * holds. Returns
 *   0: restored (res says what; nothing at all if there was no file);
 *   1: stale: the state names pages of which no descriptor came back (the
 *      fd store was emptied: a full stop, a reboot): nothing was restored,
 *      and the caller starts empty;
 *   -EPROTO: a foreign file (not a state, another version, user or
 *      socket), -EBADMSG: a damaged or inconsistent one (some descriptors
 *      missing, a record that cannot apply): err says what, and r, ss and
 *      the file must be left alone (ofad exits 1);
 *   -ENOMEM, another -errno.
 */
int restore_load(struct registry *r, struct sessions *ss, const char *dir,
                 const struct journal_ident *id, struct restore_fd *fds, size_t nfds,
                 struct restore_result *res, char *err, size_t errlen);

/*
 * Starts generation gen of the state file of dir: writes all of r and ss
 * to RESTORE_FILE_NEW, then renames it over RESTORE_FILE (so the file at
 * that name is always whole: the old generation, or the new one).
 *
 * *old: in, the journal of an older generation whose file is to be written
 * again (journal_recycle), or NULL for a new file; it is taken in any case.
 * Out, on success: r->jn, the journal in force until now, if its file was
 * kept under RESTORE_FILE_OLD for the caller to recycle next time (else
 * NULL: its file went with the rename; the caller closes it either way).
 *
 * Returns 0 and *out, the new journal to record the changes from now on;
 * -errno (nothing changed: the old file and journal stay in force).
 */
int restore_snapshot(struct registry *r, struct sessions *ss, const char *dir,
                     const struct journal_ident *id, uint64_t gen, uint64_t since_s,
                     struct journal **old, struct journal **out);

#endif

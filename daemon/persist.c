/*
 * persist.c - what an ofad with a state directory keeps for the next one.
 *
 * Owns: the state directory's use (the fd store, the state file's
 * generations), the page callbacks of the registry (page_keep, page_forget),
 * and the order of a take-over. Called by server.c (start, each turn of the
 * loop, stop); calls fdstore.c, journal.c and restore.c.
 *
 * Design
 * ------
 * Two things outlive ofad, and they must agree: the pages' descriptors, held
 * by the fd store (systemd's, or the keeper process: fdstore.c), and the
 * state file, which says what those pages hold (restore.c, journal.c). The
 * rules that keep them in agreement whatever instant ofad is killed at:
 *   - a page goes into the store (on the worker thread that made it) before
 *     any record names it; a page the file names is always in the store;
 *   - a page leaves the store, and its memory is punched, only after the
 *     record of its release is committed (journal_defer); until then the
 *     file may still name it, and it is whole;
 *   - a descriptor in the store that the file does not name (its record was
 *     not committed when ofad died, or its removal was dropped) is taken
 *     back at the next start, unclaimed, and removed.
 * So a page is whole or gone, never half, and a live block's page is never
 * swept.
 *
 * Start: the store hands back what it holds; the file is read back into the
 * registry and the sessions (restore_load); then a new generation of the
 * file is written at once (a snapshot of what was put back, with the new
 * daemon's owner ids) and the journal records from there. A foreign or
 * damaged file, or a store missing some of the file's pages, is refused:
 * ofad exits 1 and changes nothing (the file, the store and the pages stay
 * for an operator to look at; --discard-state starts afresh on purpose). A
 * stale file (the store came back empty: a full stop under systemd, a
 * reboot, the keeper gone) is discarded with a line, and ofad starts empty.
 *
 * Requests commit their own changes, with their replies (session.c, one
 * transaction per read). Once a second (the tick, not every turn of the loop:
 * that would cost a system call a turn) whatever was recorded outside a
 * request is committed (a session that ended with its process, an arena of a
 * reload: if ofad dies first, the next one redoes the former and rereads the
 * latter). When the journal has grown past four times the last snapshot (at
 * least 16 MiB, or $OFAD_SNAPSHOT_BYTES), a new snapshot starts the next
 * generation, so the file stays proportional to the state; the commit that
 * reaches that size wakes the loop for it (journal_set_due, a compare per
 * commit; server.c runs persist_turn after that turn of the loop), so a busy
 * second does not overshoot it. The new generation is written into the file of
 * the one before last, kept under RESTORE_FILE_OLD (journal.c, Recycling): the
 * journal then writes into memory the process has written before, which costs
 * far less than new pages; the spare goes at a stop, and when the state has
 * shrunk far below it. A journal that failed (the file system is full) makes
 * the file useless: it is removed, with a line, and ofad goes on serving; the
 * next start is then an empty one, never a wrong one.
 *
 * The keeper killed under a running ofad (it never leaves on its own while the
 * state directory exists): the tick sees its connection hang up (or page_keep
 * hears -EPIPE first), and opens the store again (a new keeper) and puts every
 * page held into it, so that a later restart still finds them all. Pages asked
 * for in between fail for their clients.
 *
 * Stop: SIGTERM with a state directory writes a last snapshot (so the
 * counters are exact) and hands everything on: pages are closed, never
 * punched, and sessions are kept, detached, for their processes to resume
 * with the next ofad.
 */
#include "persist.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "fdstore.h"
#include "log.h"
#include "restore.h"
#include "session.h"
#include "state.h"

#define SNAP_MIN_BYTES (16ull << 20) /* the journal may grow to this before a snapshot */
                                     /* ($OFAD_SNAPSHOT_BYTES) */
#define SNAP_GROWTH    4u            /* ... or to this many times the last snapshot */
#define SNAP_SPARE_MAX 4u            /* a file kept to recycle: at most this many next_snap */

static void key_name(char name[ST_KEY_LEN + 1], uint64_t key)
{
    snprintf(name, ST_KEY_LEN + 1, ST_KEY_FMT, (unsigned long long)key);
}

/* The registry's page_keep: on a worker thread (fdstore_put is thread-safe;
 * the lock keeps the store from being replaced under it). */
static int page_keep(void *ctx, uint64_t key, int fd)
{
    struct persist *p = ctx;
    char name[ST_KEY_LEN + 1];
    int rc;

    key_name(name, key);
    pthread_mutex_lock(&p->lock);
    rc = p->fds != NULL ? fdstore_put(p->fds, name, fd) : -EPIPE;
    pthread_mutex_unlock(&p->lock);
    if (rc == -EPIPE)
        __atomic_store_n(&p->lost, 1, __ATOMIC_RELAXED);
    return rc;
}

/* The keeper died under us (killed: it never leaves a live ofad
 * otherwise): a new one, holding every page again, so that the state
 * stays whole. Pages made meanwhile failed for their clients. */
static void store_again(struct persist *p)
{
    struct fdstore_ent *v = NULL;
    char err[256], name[ST_KEY_LEN + 1];
    uint64_t kept = 0, failed = 0;
    size_t n = 0;
    int rc;

    pthread_mutex_lock(&p->lock);
    __atomic_store_n(&p->lost, 0, __ATOMIC_RELAXED);
    if (p->fds != NULL)
        fdstore_close(p->fds);
    rc = fdstore_open(&p->fds, p->dir, NULL, err, sizeof(err));
    if (rc < 0) {
        /* Tried again at the next tick: the old keeper may still have been
         * dying (its socket taking a connection it then reset). */
        p->fds = NULL;
        __atomic_store_n(&p->lost, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&p->lock);
        if (!p->reopen_failed)
            log_err("fd store not opened again, trying each second dir=%s err=%s "
                    "reason=\"%s\"",
                    p->dir, log_errname(rc), err);
        p->reopen_failed = true;
        return;
    }
    p->reopen_failed = false;
    fdstore_taken(p->fds, &v, &n);
    for (size_t i = 0; i < n; i++)
        close(v[i].fd);
    free(v);
    for (uint32_t slot = 0; slot < REG_MAX_ARENAS; slot++) {
        const struct arena *a = p->reg->slots[slot];

        for (uint32_t i = 0; a != NULL && i < a->pages.cap; i++) {
            const struct page_ent *e = &a->pages.v[i];

            if (e->base == 0 || e->key == 0)
                continue;
            key_name(name, e->key);
            if (fdstore_put(p->fds, name, e->fd) == 0)
                kept++;
            else
                failed++;
        }
    }
    pthread_mutex_unlock(&p->lock);
    log_notice("fd store opened again, pages kept again dir=%s store=%s pages=%llu failed=%llu",
               p->dir, fdstore_kind(p->fds), (unsigned long long)kept,
               (unsigned long long)failed);
}

static void page_forget(void *ctx, uint64_t key)
{
    struct persist *p = ctx;
    char name[ST_KEY_LEN + 1];
    int rc;

    if (p->fds == NULL)
        return;
    key_name(name, key);
    rc = fdstore_remove(p->fds, name);
    if (rc < 0)
        log_debug("page not removed from the fd store now key=%s err=%s", name,
                  log_errname(rc));
}

static void on_due(void *ctx)
{
    struct persist *p = ctx;

    if (p->wake != NULL)
        p->wake(p->wake_ctx);
}

static void next_snapshot_at(struct persist *p)
{
    uint64_t n = journal_size(p->reg->jn) * SNAP_GROWTH;

    p->next_snap = n > p->snap_min ? n : p->snap_min;
    journal_set_due(p->reg->jn, p->next_snap, on_due, p);
}

void persist_set_wake(struct persist *p, void (*fn)(void *ctx), void *ctx)
{
    p->wake = fn;
    p->wake_ctx = ctx;
}

/* $OFAD_SNAPSHOT_BYTES: the journal size that calls for a snapshot, at
 * least (bytes, 4096 to 1 TiB; SNAP_MIN_BYTES when unset). */
static int snap_min_get(uint64_t *out, char *err, size_t errlen)
{
    const char *v = getenv("OFAD_SNAPSHOT_BYTES");
    unsigned long long n;
    char *end;

    *out = SNAP_MIN_BYTES;
    if (v == NULL)
        return 0;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n < 4096 || n > (1ull << 40)) {
        snprintf(err, errlen, "bad $OFAD_SNAPSHOT_BYTES '%.32s' (bytes, 4096 to 1099511627776)", v);
        return -EINVAL;
    }
    *out = n;
    return 0;
}

/* Removes the files a generation leaves while it is made or kept for the
 * next (RESTORE_FILE_NEW, RESTORE_FILE_OLD), and forgets the spare. */
static void drop_spare(struct persist *p)
{
    char path[PATH_MAX];

    journal_discard(p->spare);
    p->spare = NULL;
    snprintf(path, sizeof(path), "%s/%s", p->dir, RESTORE_FILE_OLD);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s", p->dir, RESTORE_FILE_NEW);
    unlink(path);
}

/* A new generation: a snapshot in the file of the one before last (or a
 * new file), which takes the old one's place and becomes the journal; the
 * old one's file is kept to be written again by the next. */
static int snapshot(struct persist *p)
{
    struct journal *old = p->reg->jn, *j, *spare = p->spare;
    uint64_t gen = old != NULL ? journal_gen(old) + 1 : 1;
    bool recycled;
    int rc;

    if (old != NULL)
        journal_commit(old);
    p->spare = NULL;
    recycled = spare != NULL;
    rc = restore_snapshot(p->reg, p->ss, p->dir, &p->id, gen, p->since_s, &spare, &j);
    if (rc < 0)
        return rc;
    p->reg->jn = j;
    next_snapshot_at(p);
    log_debug("state generation started generation=%llu bytes=%llu next_at=%llu recycled=%d",
              (unsigned long long)gen, (unsigned long long)journal_size(j),
              (unsigned long long)p->next_snap, recycled);
    if (spare == NULL) {
        journal_close(old);
    } else if (journal_cap(spare) > SNAP_SPARE_MAX * p->next_snap &&
               journal_cap(spare) > SNAP_SPARE_MAX * SNAP_MIN_BYTES) {
        /* From a time the state was much larger: not worth its memory. */
        journal_discard(spare);
    } else {
        p->spare = spare;
    }
    return 0;
}

/* Closes and forgets the descriptors the store handed back that nobody
 * claimed. */
static void drop_unclaimed(struct persist *p, struct fdstore_ent *v, size_t n)
{
    uint32_t dropped = 0;

    for (size_t i = 0; i < n; i++) {
        if (v[i].fd < 0)
            continue;
        close(v[i].fd);
        v[i].fd = -1;
        fdstore_remove(p->fds, v[i].name);
        dropped++;
    }
    if (dropped > 0)
        log_notice("descriptors the state does not name removed from the fd store count=%u",
                   dropped);
}

static int take_over(struct persist *p, bool discard, struct fdstore_ent *v, size_t n, uint64_t *gen,
                     char *err, size_t errlen)
{
    struct restore_result res;
    struct restore_fd *rf;
    char path[PATH_MAX];
    int rc;

    snprintf(path, sizeof(path), "%s/%s", p->dir, RESTORE_FILE);
    if (discard) {
        rc = fdstore_discard(p->fds);
        if (rc < 0)
            log_warning("fd store not emptied err=%s", log_errname(rc));
        for (size_t i = 0; i < n; i++) {
            close(v[i].fd);
            v[i].fd = -1;
        }
        if (unlink(path) == 0 || errno == ENOENT)
            log_notice("state discarded on request dir=%s pages=%zu", p->dir, n);
        return 0;
    }
    rf = calloc(n + 1, sizeof(*rf));
    if (rf == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        rf[i] = (struct restore_fd){v[i].name, v[i].fd};
    rc = restore_load(p->reg, p->ss, p->dir, &p->id, rf, n, &res, err, errlen);
    for (size_t i = 0; i < n; i++)
        v[i].fd = rf[i].fd; /* those taken are -1 now */
    free(rf);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        log_notice("stale state discarded: none of its pages came back (a full stop or a "
                   "reboot emptied the fd store) dir=%s generation=%llu pages=%u",
                   p->dir, (unsigned long long)res.gen, res.pages_missing);
        return 0;
    }
    if (res.gen == 0) {
        log_info("no state to take over dir=%s", p->dir);
        return 0;
    }
    *gen = res.gen;
    if (res.since_s != 0)
        p->since_s = res.since_s;
    log_notice("state taken over dir=%s generation=%llu arenas=%u pages=%llu blocks=%llu "
               "names=%u sessions=%u sessions_ended=%u orphans=%llu",
               p->dir, (unsigned long long)res.gen, res.arenas, (unsigned long long)res.pages,
               (unsigned long long)res.blocks, res.names, res.sessions, res.sessions_gone,
               (unsigned long long)res.orphans);
    return 0;
}

int persist_start(struct persist *p, struct registry *reg, struct sessions *ss, const char *dir,
                  uint32_t uid, const char *tag, bool discard, struct fdstore_handed *handed,
                  char *err, size_t errlen)
{
    struct fdstore_ent *v = NULL;
    uint64_t gen = 0;
    size_t n = 0;
    int rc;

    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    if ((size_t)snprintf(p->dir, sizeof(p->dir), "%s", dir) >= sizeof(p->dir))
        return -ENAMETOOLONG;
    p->reg = reg;
    p->ss = ss;
    p->id.uid = uid;
    memcpy(p->id.tag, tag, JOURNAL_TAG_LEN);
    p->id.tag[JOURNAL_TAG_LEN] = '\0';
    p->since_s = (uint64_t)time(NULL);
    rc = snap_min_get(&p->snap_min, err, errlen);
    if (rc < 0)
        return rc;
    rc = fdstore_open(&p->fds, dir, handed, err, errlen);
    if (rc < 0)
        return rc;
    fdstore_taken(p->fds, &v, &n);
    rc = take_over(p, discard, v, n, &gen, err, errlen);
    if (rc < 0) {
        /* Refused: the descriptors go back unread (the store still holds
         * its own), the file stays, and the registry keeps what it put
         * back only to close it, never to punch it. */
        for (size_t i = 0; i < n; i++)
            if (v[i].fd >= 0)
                close(v[i].fd);
        free(v);
        reg->keep = true;
        fdstore_close(p->fds);
        p->fds = NULL;
        return rc;
    }
    drop_unclaimed(p, v, n);
    free(v);
    reg->page_keep = page_keep;
    reg->page_forget = page_forget;
    reg->page_ctx = p;
    reg->jn = NULL;
    drop_spare(p); /* a generation an older ofad was making or kept */
    rc = restore_snapshot(reg, ss, p->dir, &p->id, gen + 1, p->since_s, &p->spare, &reg->jn);
    if (rc < 0) {
        snprintf(err, errlen, "cannot write the state file in %s: %s", dir, strerror(-rc));
        reg->keep = true;
        fdstore_close(p->fds);
        p->fds = NULL;
        return rc;
    }
    next_snapshot_at(p);
    log_info("state kept dir=%s store=%s generation=%llu", dir, fdstore_kind(p->fds),
             (unsigned long long)journal_gen(reg->jn));
    return 0;
}

void persist_turn(struct persist *p)
{
    struct journal *j;
    char path[PATH_MAX];
    int rc;

    if (p->reg == NULL)
        return; /* no state kept */
    j = p->reg->jn;
    if (__atomic_load_n(&p->lost, __ATOMIC_RELAXED) || (p->fds != NULL && fdstore_lost(p->fds)))
        store_again(p);
    if (j == NULL || p->fds == NULL)
        return;
    /* Requests committed their own changes. */
    if (!journal_pending(j) && journal_failed(j) == 0 && journal_size(j) < p->next_snap)
        return;
    rc = journal_commit(j);
    if (rc < 0) {
        /* The file no longer follows the daemon: a restart from it would
         * bring back blocks freed since. Better none. */
        snprintf(path, sizeof(path), "%s/%s", p->dir, RESTORE_FILE);
        unlink(path);
        log_err("state no longer kept: the state file cannot grow; removed, a restart will "
                "start empty dir=%s err=%s",
                p->dir, log_errname(rc));
        p->reg->jn = NULL;
        journal_close(j);
        drop_spare(p);
        return;
    }
    if (journal_size(j) >= p->next_snap) {
        rc = snapshot(p);
        if (rc < 0) {
            /* Goes on with the journal as it is, and tries again later. */
            p->next_snap = journal_size(j) * 2;
            log_warning("state snapshot failed dir=%s err=%s", p->dir, log_errname(rc));
        }
    }
}

void persist_stop(struct persist *p, bool keep)
{
    struct registry *r = p->reg;
    int rc = 0;

    if (r == NULL)
        return;
    if (p->fds == NULL)
        keep = false; /* the pages cannot be kept: nothing to hand on */
    if (r->jn != NULL && keep) {
        rc = snapshot(p);
        if (rc < 0)
            log_warning("last state snapshot failed, the journal stands dir=%s err=%s", p->dir,
                        log_errname(rc));
    }
    if (r->jn != NULL) {
        journal_close(r->jn);
        r->jn = NULL;
    }
    drop_spare(p); /* the next ofad reads the state file alone */
    if (keep) {
        r->keep = true;
        log_notice("state kept for the next ofad dir=%s", p->dir);
    }
    if (p->fds != NULL)
        fdstore_close(p->fds);
    p->fds = NULL;
    p->reg = NULL;
    pthread_mutex_destroy(&p->lock);
}

uint64_t persist_age_s(const struct persist *p)
{
    uint64_t now = (uint64_t)time(NULL);

    return p->fds != NULL && now > p->since_s ? now - p->since_s : 0;
}

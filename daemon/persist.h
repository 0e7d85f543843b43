/*
 * persist.h - what an ofad with a state directory keeps for the next one:
 * the fd store, the state file, and the order of taking over, recording and
 * handing on. See persist.c.
 */
#ifndef OFAD_PERSIST_H
#define OFAD_PERSIST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "journal.h"

struct registry;
struct sessions;
struct fdstore;
struct fdstore_handed;

struct persist {
    char dir[4096 - 64];       /* the state directory; "" when none */
    struct journal_ident id;   /* whose state it is */
    struct fdstore *fds;
    struct registry *reg;
    struct sessions *ss;
    uint64_t since_s;          /* Unix time the state was first kept */
    uint64_t next_snap;        /* journal size that calls for a snapshot */
    uint64_t snap_min;         /* ... at least */
    void (*wake)(void *ctx);   /* persist_set_wake */
    void *wake_ctx;
    struct journal *spare;     /* the last generation's, for the next to recycle */
    pthread_mutex_t lock;      /* fds against its reopening (page_keep runs on workers) */
    int lost;                  /* the store is gone (the keeper died): open it again */
    bool reopen_failed;        /* the last try to open it again failed (said once) */
};

/*
 * Takes over the state kept in dir (a private directory, made by the caller)
 * for the daemon of uid serving the socket of tag: opens the fd store
 * (handed: what systemd passed at start), reads the state back into reg and
 * ss (empty, before the config's arenas), or discards it (discard: on
 * purpose; or when it is stale), then starts a new generation of the file
 * and records every change from now on (reg->jn). Returns 0; -EPROTO or
 * -EBADMSG (a foreign or damaged state, refused: nothing was destroyed,
 * ofad exits 1); another -errno. err says why.
 */
int persist_start(struct persist *p, struct registry *reg, struct sessions *ss, const char *dir,
                  uint32_t uid, const char *tag, bool discard, struct fdstore_handed *handed,
                  char *err, size_t errlen);

/* fn(ctx) is called (from inside a commit) when the journal has reached
 * the size that calls for a snapshot: the caller then has persist_turn run
 * soon, from the loop (else the tick does it within a second). */
void persist_set_wake(struct persist *p, void (*fn)(void *ctx), void *ctx);

/* Once a second (the tick), and when woken: commits what was recorded
 * outside a request (requests commit their own), writes a new snapshot when the journal
 * has grown, notices a journal that failed, and replaces a lost store. */
void persist_turn(struct persist *p);

/*
 * ofad stops. keep: the state is handed on (a last snapshot; pages are
 * closed, never punched, from now on). Either way nothing is recorded
 * afterwards, and the file stays as it is.
 */
void persist_stop(struct persist *p, bool keep);

/* Seconds since the state was first kept (a restart does not reset it);
 * 0 without a state. */
uint64_t persist_age_s(const struct persist *p);

#endif

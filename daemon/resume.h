/*
 * resume.h - resumable sessions: what outlives a lost connection.
 *
 * A connection that asks for it (SESSION) gets a session: an id, a secret,
 * and the process that opened it. Its arena handles, and so its blocks,
 * belong to the session. When the connection is lost without BYE the
 * session waits, detached, until the same process RESUMEs it on a new
 * connection, the process dies, or the grace time passes. See resume.c.
 */
#ifndef OFAD_RESUME_H
#define OFAD_RESUME_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct sessions;
struct session;
struct handle;

struct rsess {
    struct rsess *prev, *next; /* srv->rsessions, newest first */
    struct sessions *set;
    uint64_t sid, secret;
    uint32_t uid;
    int32_t pid;
    uint64_t start;         /* the process's start time (resume_proc_start), 0: unknown */
    int pidfd;              /* the client's process; readable once it has exited */
    uv_poll_t pidw;         /* watches pidfd while detached */
    bool pidw_on;
    struct session *conn;   /* the connection it is attached to; NULL: detached */
    uint64_t lost_ms;       /* when it was detached (loop clock) */

    /* A detached session's handles, taken from its lost connection. */
    struct handle *handles;
    uint32_t handles_cap, handles_used;

    /* The reply to the last request that changed something, as encoded, so
     * that a request resent after RESUME is answered, not done twice. */
    uint64_t last_id;
    uint32_t last_op; /* 0: none */
    bool replay;      /* RESUMEd: the next request may be a resent one */
    uint8_t *last;
    size_t last_len, last_cap;
};

/* Releases every used handle of v (their blocks freed) and marks it unused. */
void handles_release(struct sessions *ss, struct handle *v, uint32_t cap);

/*
 * Makes a session for a connection of process pid (uid), watched through
 * pidfd (taken over: closed with the session). Returns 0 and *out, -ENOMEM.
 */
int resume_new(struct sessions *ss, uint32_t uid, int32_t pid, int pidfd, struct rsess **out);

/* The session with that id, attached or not, or NULL. */
struct rsess *resume_find(struct sessions *ss, uint64_t sid);

/* Its connection was lost: keeps the handles given (the caller's array is
 * taken over) and starts watching the process. If the process is gone
 * already, the session ends at once. */
void resume_detach(struct rsess *rs, struct handle *handles, uint32_t cap, uint32_t used);

/* Ends the session: its handles are released (blocks freed), it is freed. */
void resume_end(struct rsess *rs, const char *why);

/* True when req op changes state (its reply is kept for a resend). */
static inline bool resume_keeps(uint32_t op)
{
    /* CREATE .. FREE_N; ALLOC_NAMED, NAME_BIND, NAME_UNBIND; a client
     * cache's FILL and DRAIN */
    return (op >= 3 && op <= 10) || (op >= 21 && op <= 23) || op == 32 || op == 33;
}

/* Keeps the reply bytes p[0..n) of request (op, id). Returns 0, -ENOMEM
 * (then nothing is kept: a resent request would be done again). */
int resume_keep_reply(struct rsess *rs, uint32_t op, uint64_t id, const uint8_t *p, size_t n);

/* Records in the state's open transaction the kept reply that is not there
 * yet, if any (called before each commit of requests' changes). */
void resume_note_reply(struct sessions *ss);

/* Records the session and its handles in the state, if one is kept
 * (after SESSION, and after each change of its handles). */
void resume_note(struct rsess *rs);

/* Writes the record of the session and its handles to jn (a snapshot). */
struct journal;
void resume_write(struct rsess *rs, struct journal *jn);

/* The start time of process pid (field 22 of /proc/PID/stat, clock ticks
 * since boot): with the pid, it names one process for ever. 0 if unknown. */
uint64_t resume_proc_start(int32_t pid);

/*
 * Puts back a detached session of a saved state, with its handles (taken
 * over) and its kept reply (copied): its process is pid if still running
 * and started at start, and is watched from now on; if it is gone, the
 * session is not made (its handles released) and 0 returned with *out NULL.
 * Returns 0; -ENOMEM.
 */
int resume_restore(struct sessions *ss, uint64_t sid, uint64_t secret, uint32_t uid, int32_t pid,
                   uint64_t start, struct handle *handles, uint32_t cap, uint32_t used,
                   uint64_t last_id, uint32_t last_op, const uint8_t *last, size_t last_len,
                   struct rsess **out);

/* Once a second: ends detached sessions past the grace time. */
void resume_tick(struct sessions *ss);

/* Ends every session (shutdown). */
void resume_end_all(struct sessions *ss);

#endif

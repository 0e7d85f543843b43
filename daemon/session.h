/*
 * session.h - one client connection: its identity, handles, buffers.
 */
#ifndef OFAD_SESSION_H
#define OFAD_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "admin.h"
#include "arena.h"
#include "config.h"
#include "log.h"
#include "proto.h"
#include "uidacct.h"

struct rsess;
struct page_job;   /* session.c */
struct alloc_wait; /* session.c */

/* Descriptors waiting to be sent with the reply they belong to. */
#define SESSION_MAX_FDS      32u   /* pending per session; more pauses decoding */
#define SESSION_FDS_PER_SEND 16u   /* per sendmsg */
#define SESSION_MAX_INFLIGHT 64u   /* sent, maybe not yet received (session.c) */
#define SESSION_LINGER_MS    5000u /* a session closing with unsent bytes waits this long */

struct handle {
    uint32_t slot, gen;       /* the arena (reg_get) */
    uint32_t owner;           /* heap owner of the blocks allocated through it */
    uint32_t powner;          /* heap owner of its private blocks, once has_powner */
    uint32_t ctl_slot;        /* its word in the arena's control page; 0: no cache */
    uint32_t ticket;          /* what that word holds while the cache may serve */
    uint64_t cblocks, cbytes; /* what its client cache last said it holds */
    bool used;
    bool writable;
    bool has_powner;
};

struct pending_fd {
    int fd;
    uint64_t pos; /* stream position of the first byte of its reply */
};

struct session {
    uv_poll_t poll;
    struct sessions *set;
    struct registry *reg;  /* set->reg and set->cfg, one load nearer: */
    const struct cfg *cfg; /* every request reads them */
    struct session *prev, *next;
    uint64_t id; /* for logs */
    int fd;
    int events; /* UV_READABLE/UV_WRITABLE being watched */
    struct cred cred;
    struct uid_acct *ua; /* its uid's entry (a reference held) */
    bool privileged;     /* root or ofad's own user: exempt from per-uid bounds */
    int pidfd;         /* the peer process (pidfd_open at accept), -1 if none */
    struct rsess *rs;  /* resumable session (resume.c), or NULL */
    struct page_job *job;     /* a page being made for the request at in[0] */
    struct alloc_wait *batch; /* that request's blocks so far, or NULL */

    uint8_t *in; /* received bytes not yet decoded */
    size_t in_len, in_cap;
    struct proto_buf out;                   /* encoded replies not yet sent */
    uint64_t out_base;                      /* stream position of out.data[0] */
    uint64_t out_counted; /* of out.len, what ua->out_bytes and out_total hold */
    uint64_t out_moved;   /* ms: output last empty or last sent a byte */
    struct pending_fd fdq[SESSION_MAX_FDS]; /* ring */
    uint32_t fdq_head, fdq_n;
    uint32_t inflight; /* descriptors sent since the socket was last seen read empty */
    bool fd_wait;      /* a descriptor waits for the client to read (or the kernel) */
    struct proto_dec *dec;

    uint32_t max_msg;  /* largest request payload we accept */
    uint32_t peer_max; /* largest reply payload the client accepts */
    struct handle *handles;
    uint32_t handles_cap; /* grows up to max_handles_per_client */
    uint32_t handles_used;
    uint64_t blocks_bound; /* >= blocks this connection owns (see op_alloc) */

    uint64_t accepted; /* ms */
    char comm[16];          /* /proc/PID/comm at accept, printable ASCII ("" if unknown) */
    uint64_t since_s;       /* Unix time of accept */
    uint64_t requests;      /* requests served */

    /* A LOOKUP_WAIT parked until its name is bound (see session.c): no
     * later request of this connection is served meanwhile. */
    bool parked;
    struct name_waiter wait;     /* on the arena's list while parked */
    uint32_t wait_slot, wait_gen; /* that arena */
    uint64_t wait_id;            /* the request's id */
    uv_timer_t *wait_timer;      /* made on the first timed wait */
    char wait_name[NAMES_NAME_MAX + 1];

    bool hello;             /* handshake done */
    bool eof;               /* the client shut down its sending side */
    bool closing;           /* flush what is queued, then close */
    bool ending;            /* the session ends with the connection (BYE, turned away) */
    uint64_t closing_since; /* ms */
    struct log_ratelimit rl;
};

/*
 * What every session shares, and the list of them. server.c owns one and
 * calls the functions below; a session never sees the server, only the loop,
 * the registry and the config in force that this set points to.
 */
struct sessions {
    uv_loop_t *loop;
    struct registry *reg;
    const struct cfg *cfg; /* in force: a reload replaces *cfg in place */
    uint64_t start_ms;     /* uv_now when serving began (DAEMON's uptime) */
    uint64_t state_since_s; /* Unix time the kept state began, 0: none kept */
    uint32_t daemon_uid;   /* ofad's own user (VALIDATE) */
    struct session *head;  /* doubly linked, newest first */
    uint32_t count;
    uint64_t next_id;
    struct uid_table uids; /* per-uid connections, output, blocks */
    struct log_ratelimit refuse_rl; /* connections refused at admission */
    struct log_ratelimit conn_rl;   /* lines all connections cause */
    uint64_t out_total;    /* reply bytes queued, all sessions (as counted) */
    struct rsess *rsessions; /* resumable sessions (resume.c), newest first */
    struct rsess *reply_due; /* its kept reply is not in the state file yet */
    uint32_t nrsessions, ndetached;
    uint64_t next_sid; /* id of the last resumable session made */

    /* Reply scratch shared by all sessions (one thread, one request at a
     * time): a request never allocates. */
    uint64_t offs[PROTO_MAX_BATCH];
    struct arena *sorted[REG_MAX_ARENAS];
    struct proto_arena_info infos[REG_MAX_ARENAS];
    uint64_t *bases; /* PAGES, grown on demand up to PROTO_MAX_PAGES */
    uint32_t bases_cap;
    struct admin_scratch admin; /* CLIENTS, BLOCKS (admin.c) */
    struct proto_name_info *names; /* NAMES, grown on demand */
    uint32_t names_cap;
};

/* Points ss at what sessions serve; no session yet. */
void sessions_init(struct sessions *ss, uv_loop_t *loop, struct registry *reg,
                   const struct cfg *cfg, uint32_t daemon_uid);

/* Closes every session now (shutdown) and frees the reply scratch. */
void sessions_fini(struct sessions *ss);

/* Connected clients. */
static inline uint32_t sessions_count(const struct sessions *ss)
{
    return ss->count;
}

/* Takes a connected socket (non-blocking, close-on-exec) and serves it.
 * On failure the socket is closed and a line logged. */
void session_accept(struct sessions *ss, int fd);

/* Closes every session now (shutdown). */
void session_close_all(struct sessions *ss);

/* Whether an open handle on a, of a connection or a detached session,
 * would lose access it has if a had this uid, gid and mode (a reload).
 * Returns the uid of the first such holder, or -1. */
int64_t sessions_access_lost(const struct sessions *ss, const struct arena *a, uint32_t uid,
                             uint32_t gid, uint32_t mode);

/* Once a second: closes sessions that have lingered too long with unsent
 * bytes while closing, that sent no HELLO within handshake_timeout, and
 * that hold output over a shared bound (per uid, daemon-wide) without
 * letting any of it be sent for output_timeout. */
void session_tick(struct sessions *ss);

#endif

/*
 * session.c - one client connection: read -> decode -> dispatch -> encode ->
 * write.
 *
 * Owns: a connection's socket, its identity (SO_PEERCRED, SO_PEERGROUPS, read
 * once at accept), its arena handles, its input and output buffers and the
 * page descriptors waiting to be sent; the set of sessions (struct
 * sessions: the list, the client count, the reply scratch they share).
 * Called by server.c (accept, shutdown, the one-second tick) and by libuv
 * (readiness of the socket); it calls arena.c and never server.c.
 *
 * The path of a batch: one read(2) into the input buffer; every complete
 * frame in it is decoded, served and its reply appended to the output
 * buffer; then one send(2) sends the lot (sendmsg(2) when descriptors go
 * with it). No allocation, no log line and no other system call per
 * request, and none per wake-up beyond that read and that send: no second
 * read to hear EAGAIN (the loop is level-triggered and says when more bytes
 * come), no second send after a short one (we wait for UV_WRITABLE), and
 * the poll watcher is restarted only when the events it waits for change.
 * The input buffer holds at most one largest frame more than it needs (it
 * starts small and grows to max_message plus the header only when a frame
 * needs it).
 *
 * Pages off the loop: an ALLOC or ALLOC_N that needs a new page reserves it
 * within the limits (arena_page_reserve) and has it made on the libuv
 * thread pool (uv_queue_work: memfd_create, fallocate, seals; nothing else
 * runs there), since backing a large page takes long. Meanwhile the session
 * is parked: its frame stays at the head of the input buffer and nothing
 * behind it is decoded (replies stay in request order), while every other
 * session is served. When the page is made, job_done (on the loop) gives it
 * to the arena and serves the frame again, which goes on from the blocks it
 * had (struct alloc_wait: an ALLOC_N may park once per page it needs, and
 * stays all or none). A session closed or lost meanwhile abandons the job
 * (the page is released when made) and frees the blocks its request had; an
 * arena dropped meanwhile gets its page released likewise, and the request
 * ENOENT. Only the loop thread touches the heap, the registry and sessions.
 *
 * Descriptors: a PAGE reply carries a page's fd. It is queued with the
 * stream position of its reply's first byte and sent, SCM_RIGHTS, by the
 * sendmsg whose data starts at or before that position; a sendmsg never
 * carries more than SESSION_FDS_PER_SEND of them and never sends past the
 * reply of the first fd it could not carry. So a client gets each fd no
 * later than the first byte of its reply (see proto.h).
 *
 * Descriptors in flight: at most SESSION_MAX_INFLIGHT descriptors are sent
 * to a connection and possibly still unread in its socket (the kernel holds
 * them, and for a non-root ofad counts them against its RLIMIT_NOFILE for
 * every connection at once). Past that, the next PAGE reply waits until the
 * socket holds no unsent byte of ours (SIOCOUTQ 0: all read), checked on the
 * connection's next event and on the tick; sendmsg refusing descriptors
 * (ETOOMANYREFS, EMFILE, ENFILE) is the same wait for that connection, never
 * its end nor anyone else's.
 *
 * Back-pressure: while more than max_output bytes of replies wait (the
 * client does not read), or SESSION_MAX_FDS descriptors do, the session stops
 * decoding and stops reading its socket. That bounds what one client can
 * make ofad hold to about max_output plus one reply, and everyone else is
 * served meanwhile. Many clients of one user, or of many users, are bounded
 * together the same way: the bytes queued over all connections of a uid
 * (max_output_per_uid) and over all connections (max_output_total) are
 * counted (out_account), and while either is over its bound a session that
 * has replies waiting stops decoding and reading too. A session whose output
 * is empty is always served (its replies go out at once), so a client that
 * reads its replies is never held back by others that do not; and a session
 * held back that lets nothing be sent for output_timeout seconds is dropped
 * (session_tick), so the bytes it pins are given back.
 *
 * Admission (session_accept): connections past max_clients minus
 * reserved_clients, and a uid's connections past max_clients_per_uid, are
 * refused, except for root and ofad's own user, so the administrator's
 * ofactl always gets in. A connection that has not sent HELLO within
 * handshake_timeout seconds is closed (session_tick).
 *
 * Client caches: CACHE gives a writable handle a slot in its arena's
 * control page and the page's descriptor (queued like a PAGE reply's);
 * FILL and DRAIN are ALLOC_N and FREE_N of private blocks that also carry
 * the cache's level, kept per handle for the arena record's cached figures.
 *
 * Errors: a request that fails gets an error reply and the session goes on.
 * A frame that cannot be trusted (malformed, oversized, before HELLO) gets an
 * error reply if it can be addressed, then the session closes: its handles
 * are released at once (its blocks freed), the queued bytes are flushed for
 * at most SESSION_LINGER_MS, and the socket is closed.
 */
#include "session.h"
#include "journal.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "resume.h"
#include "shm.h"

_Static_assert(REG_MAX_ARENAS <= PROTO_MAX_ARENAS, "one ARENAS reply carries every arena");

#define IN_INITIAL 16384u       /* first input buffer */
#define OUT_KEEP   (256u << 10) /* an emptied output buffer larger than this is freed */

/* What an error from the poll watcher means. libuv reports POLLERR as
 * UV_EBADF, which on a client socket is not a bad descriptor: the peer went
 * away (reset, or closed with replies of ours still unread). The socket's
 * pending error says which when it has one. */
static const char *poll_error(struct session *s, int status)
{
    int e = 0;
    socklen_t len = sizeof(e);

    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e != 0)
        return log_errname(e);
    if (status == UV_EBADF)
        return s->out.len > 0 ? "reset by client, replies unread" : "reset by client";
    return uv_err_name(status);
}

static void on_poll(uv_poll_t *p, int status, int events);
static void session_destroy(struct session *s, const char *why);
static void set_events(struct session *s);
static void serve(struct session *s);
static void job_abandon(struct session *s);
static void unpark(struct session *s);

/* ---- per-client log lines, rate limited ---- */

/* A line a client causes: limited for the connection (with_own; not for
 * its connect and disconnect lines), its uid and the daemon together. */
static bool slog_ok(struct session *s, bool with_own, uint32_t *dropped)
{
    struct log_ratelimit *rl[3] = {&s->rl, &s->ua->rl, &s->set->conn_rl};
    static const uint32_t burst[3] = {LOG_RL_BURST, LOG_RL_UID_BURST, LOG_RL_ALL_BURST};
    size_t skip = with_own ? 0 : 1;

    return log_ratelimit_all(rl + skip, burst + skip, 3 - skip, uv_now(s->set->loop), dropped);
}

static void slog(struct session *s, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void slog(struct session *s, int prio, const char *fmt, ...)
{
    char msg[512];
    uint32_t dropped = 0;
    va_list ap;

    if (!log_on(prio) || !slog_ok(s, true, &dropped))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (dropped)
        log_msg(prio, "%s client=%llu uid=%u pid=%d suppressed=%u", msg, (unsigned long long)s->id,
                s->cred.uid, s->cred.pid, dropped);
    else
        log_msg(prio, "%s client=%llu uid=%u pid=%d", msg, (unsigned long long)s->id, s->cred.uid,
                s->cred.pid);
}

/* ---- output bounds shared between connections ---- */

/* Brings the per-uid and daemon-wide counts of queued reply bytes up to date
 * with s->out.len. Called wherever a wake-up of s ends. */
static inline void out_account(struct session *s)
{
    struct sessions *ss = s->set;
    uint64_t now_len = s->out.len;

    if (__builtin_expect(now_len == s->out_counted, 1))
        return;
    s->ua->out_bytes = s->ua->out_bytes - s->out_counted + now_len;
    ss->out_total = ss->out_total - s->out_counted + now_len;
    if (s->out_counted == 0)
        s->out_moved = uv_now(ss->loop); /* it starts waiting now */
    s->out_counted = now_len;
}

/* True when the bytes queued for s's uid, or for everyone, are over their
 * bound, s's current queue counted in. */
static bool over_shared(const struct session *s)
{
    const struct sessions *ss = s->set;
    uint64_t uid_out = s->ua->out_bytes - s->out_counted + s->out.len;
    uint64_t total = ss->out_total - s->out_counted + s->out.len;

    return uid_out > ss->cfg->max_output_per_uid || total > ss->cfg->max_output_total;
}

/* True when s may not queue more replies for now. */
static inline bool out_full(const struct session *s)
{
    if (__builtin_expect(s->out.len == 0, 1))
        return false;
    return s->out.len > s->cfg->max_output || over_shared(s);
}

/* ---- handles ---- */

static void release_handles(struct session *s)
{
    handles_release(s->set, s->handles, s->handles_cap);
    s->handles_used = 0;
}

static inline int handle_get(struct session *s, uint32_t id, struct handle **h, struct arena **a)
{
    if (__builtin_expect(id >= s->handles_cap || !s->handles[id].used, 0))
        return -EBADF;
    *h = &s->handles[id];
    *a = reg_get(s->reg, (*h)->slot, (*h)->gen);
    return *a != NULL ? 0 : -ENOENT; /* the arena was dropped under the handle */
}

/* Blocks held through the used handles of v. */
static uint64_t handles_blocks(const struct registry *reg, const struct handle *v, uint32_t cap)
{
    uint64_t n = 0;

    for (uint32_t i = 0; i < cap; i++) {
        struct arena *a;
        if (v[i].used && (a = reg_get(reg, v[i].slot, v[i].gen)) != NULL) {
            n += arena_owner_blocks(a, v[i].owner);
            if (v[i].has_powner)
                n += arena_owner_blocks(a, v[i].powner);
        }
    }
    return n;
}

/* Blocks this connection owns, over all its handles. */
static uint64_t session_blocks(struct session *s)
{
    return handles_blocks(s->reg, s->handles, s->handles_cap);
}

/* Blocks uid holds: those of all its connections and of its detached
 * sessions (resume.c), and the kept blocks of the arenas it owns.
 * O(connections + sessions + arenas); only when the upper bound kept in
 * op_alloc reaches the quota, and at a uid's first connection. */
static uint64_t uid_blocks(struct sessions *ss, uint32_t uid)
{
    uint64_t n = reg_owned_kept(ss->reg, uid);

    for (struct session *o = ss->head; o != NULL; o = o->next) {
        if (o->cred.uid == uid)
            n += session_blocks(o);
    }
    for (struct rsess *rs = ss->rsessions; rs != NULL; rs = rs->next) {
        if (rs->conn == NULL && rs->uid == uid)
            n += handles_blocks(ss->reg, rs->handles, rs->handles_cap);
    }
    return n;
}

/* Whether a connection or a detached session has a handle on a that would
 * lose access it has (read, or write for a read-write handle) if a had uid,
 * gid and mode. Returns the uid of the first one found, or -1. A detached
 * session's groups are not known any more: only its uid is checked, which
 * errs on the side of keeping the arena as it is. */
int64_t sessions_access_lost(const struct sessions *ss, const struct arena *a, uint32_t uid,
                             uint32_t gid, uint32_t mode)
{
    struct arena na = *a;

    na.uid = uid;
    na.gid = gid;
    na.mode = mode;
    for (const struct session *s = ss->head; s != NULL; s = s->next) {
        for (uint32_t i = 0; i < s->handles_cap; i++) {
            const struct handle *h = &s->handles[i];
            unsigned acc;
            if (!h->used || h->slot != a->slot || h->gen != a->gen)
                continue;
            acc = arena_access(&na, &s->cred);
            if (!(acc & ACC_R) || (h->writable && !(acc & ACC_W)))
                return s->cred.uid;
        }
    }
    for (const struct rsess *rs = ss->rsessions; rs != NULL; rs = rs->next) {
        struct cred c = {.uid = rs->uid, .gid = UINT32_MAX};
        if (rs->conn != NULL)
            continue; /* its handles are its connection's, seen above */
        for (uint32_t i = 0; i < rs->handles_cap; i++) {
            const struct handle *h = &rs->handles[i];
            unsigned acc;
            if (!h->used || h->slot != a->slot || h->gen != a->gen)
                continue;
            acc = arena_access(&na, &c);
            if (!(acc & ACC_R) || (h->writable && !(acc & ACC_W)))
                return rs->uid;
        }
    }
    return -1;
}

/* ---- closing ---- */

/* The session ends with this connection: its blocks go now. */
static void end_session(struct session *s, const char *why)
{
    s->ending = true;
    release_handles(s);
    if (s->rs != NULL)
        resume_end(s->rs, why);
}

static void begin_close(struct session *s)
{
    if (s->closing)
        return;
    s->closing = true;
    s->closing_since = uv_now(s->set->loop);
    job_abandon(s);
    /* The client is being turned away: its blocks go now, not when the
     * last bytes of the goodbye have been flushed, and a confused client
     * is not resumed. */
    if (!s->ending)
        end_session(s, "closed by ofad");
    s->in_len = 0;
}

static void on_closed(uv_handle_t *h)
{
    struct session *s = h->data;

    free(s);
}

static void session_destroy(struct session *s, const char *why)
{
    struct sessions *ss = s->set;
    uint32_t dropped = 0;

    if (log_on(LOGP_INFO) && slog_ok(s, false, &dropped))
        log_info("client disconnected client=%llu uid=%u pid=%d reason=%s suppressed=%u",
                 (unsigned long long)s->id, s->cred.uid, s->cred.pid, why, dropped);
    job_abandon(s);
    if (s->rs != NULL && !s->ending) {
        /* Lost, not ended: the session keeps the handles and waits. */
        struct rsess *rs = s->rs;
        s->rs = NULL;
        resume_detach(rs, s->handles, s->handles_cap, s->handles_used);
        s->handles = NULL;
        s->handles_cap = s->handles_used = 0;
    } else {
        end_session(s, why);
    }
    if (s->pidfd >= 0)
        close(s->pidfd);
    unpark(s);
    if (s->wait_timer != NULL)
        uv_close((uv_handle_t *)s->wait_timer, (uv_close_cb)free);
    while (s->fdq_n > 0) {
        close(s->fdq[s->fdq_head].fd);
        s->fdq_head = (s->fdq_head + 1) % SESSION_MAX_FDS;
        s->fdq_n--;
    }
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        ss->head = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    ss->count--;
    s->ua->out_bytes -= s->out_counted;
    ss->out_total -= s->out_counted;
    uid_acct_unref(&ss->uids, s->ua);
    free(s->handles);
    free(s->cred.groups);
    free(s->in);
    proto_buf_free(&s->out);
    proto_dec_free(s->dec);
    /* uv_close stops the watcher (and removes the fd from epoll) at once;
     * only then may the descriptor be closed. */
    uv_close((uv_handle_t *)&s->poll, on_closed);
    close(s->fd);
}

/* ---- output ---- */

/* One sendmsg() of the head of the output with the descriptors that must
 * go with it (s->fdq_n > 0). Returns what sendmsg() returned; *nfd_out: how
 * many descriptors went, if any byte did; *len_out: how many bytes were
 * offered. */
static ssize_t send_fds(struct session *s, uint32_t *nfd_out, size_t *len_out)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * SESSION_FDS_PER_SEND)];
        struct cmsghdr align;
    } cm;
    struct msghdr mh;
    struct iovec iov;
    struct cmsghdr *c;
    size_t len = s->out.len;
    uint32_t nfd = 0, room = SESSION_MAX_INFLIGHT - s->inflight;

    if (room < SESSION_FDS_PER_SEND) {
        /* Descriptors sent earlier may still sit unread in the socket.
         * Only when it holds no byte of ours (SIOCOUTQ 0: the client read
         * all, descriptors with it) do they all count as received. */
        int unread = 1;
        if (ioctl(s->fd, SIOCOUTQ, &unread) == 0 && unread == 0) {
            s->inflight = 0;
            room = SESSION_MAX_INFLIGHT;
        }
    }
    while (nfd < s->fdq_n && nfd < SESSION_FDS_PER_SEND && nfd < room &&
           s->fdq[(s->fdq_head + nfd) % SESSION_MAX_FDS].pos < s->out_base + len)
        nfd++;
    if (nfd < s->fdq_n) {
        uint64_t pos = s->fdq[(s->fdq_head + nfd) % SESSION_MAX_FDS].pos;
        /* An fd this message cannot carry: stop before its reply. */
        if (pos < s->out_base + len)
            len = (size_t)(pos - s->out_base);
    }
    *nfd_out = nfd;
    *len_out = len;
    if (len == 0) {
        /* The next reply's descriptor must wait until the client reads. */
        s->fd_wait = true;
        errno = EAGAIN;
        return -1;
    }
    *nfd_out = nfd;
    *len_out = len;
    if (nfd == 0)
        return send(s->fd, s->out.data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    memset(&mh, 0, sizeof(mh));
    memset(&cm, 0, sizeof(cm));
    iov.iov_base = s->out.data;
    iov.iov_len = len;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfd);
    c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfd);
    for (uint32_t i = 0; i < nfd; i++) {
        int fd = s->fdq[(s->fdq_head + i) % SESSION_MAX_FDS].fd;
        memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(int));
    }
    return sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/*
 * Sends what is queued. Returns 0 (all sent, or the socket is full: then
 * the caller watches UV_WRITABLE), or -errno when the client is gone.
 * A send that takes fewer bytes than offered means the socket is full (or
 * a signal came): the next one would most likely fail with EAGAIN, so we
 * wait for UV_WRITABLE instead of asking.
 */
static int flush(struct session *s)
{
    while (s->out.len > 0) {
        size_t len = s->out.len;
        uint32_t nfd = 0;
        ssize_t n;

        if (__builtin_expect(s->fdq_n == 0, 1))
            n = send(s->fd, s->out.data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        else
            n = send_fds(s, &nfd, &len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (nfd > 0 && (errno == ETOOMANYREFS || errno == EMFILE || errno == ENFILE)) {
                /* Too many descriptors in flight (for ofad's user, or the
                 * system): this connection waits and tries again, nobody
                 * else is hurt. */
                slog(s, LOGP_NOTICE, "descriptors held back err=%s", log_errname(-errno));
                s->fd_wait = true;
                return 0;
            }
            return -errno;
        }
        s->inflight += nfd;
        s->out_moved = uv_now(s->set->loop);
        /* Any byte sent means the descriptors went with the first one. */
        for (uint32_t i = 0; i < nfd; i++) {
            close(s->fdq[s->fdq_head].fd);
            s->fdq_head = (s->fdq_head + 1) % SESSION_MAX_FDS;
            s->fdq_n--;
        }
        s->out_base += (uint64_t)n;
        if ((size_t)n == s->out.len) {
            s->out.len = 0;
            break;
        }
        proto_buf_consume(&s->out, (size_t)n);
        if ((size_t)n < len)
            return 0; /* the socket is full */
    }
    if (s->out.len == 0 && s->out.cap > OUT_KEEP) {
        proto_buf_free(&s->out);
        proto_buf_init(&s->out);
    }
    return 0;
}

/* reply()'s slow half: r did not encode, or is over the client's limit
 * (rc -EMSGSIZE, nothing appended). Kept apart so that the common path
 * stays a call and a compare. */
static __attribute__((noinline, cold)) int reply_failed(struct session *s, struct proto_rep *r,
                                                        size_t before, int rc)
{
    if (rc == -ENOMEM) {
        slog(s, LOGP_ERR, "reply failed, closing op=%s err=ENOMEM", proto_op_name(r->op));
        begin_close(s);
        return rc;
    }
    slog(s, LOGP_WARNING, "reply too large op=%s id=%llu limit=%u", proto_op_name(r->op),
         (unsigned long long)r->id, s->peer_max);
    r->err = PROTO_EMSGSIZE;
    r->u.list.count = 0; /* FREE_N's count travels with errors */
    if (proto_encode_rep(&s->out, r) < 0) {
        s->out.len = before;
        begin_close(s);
        return -ENOMEM;
    }
    return -EMSGSIZE;
}

/*
 * Appends a reply. Returns 0 when r itself was encoded. When it does not fit
 * the client's limit (or breaks a bound of the codec), an EMSGSIZE error reply
 * for the same request replaces it and -EMSGSIZE is returned; -ENOMEM when
 * nothing could be encoded (the session is then closing).
 */
static inline int reply(struct session *s, struct proto_rep *r)
{
    size_t before = s->out.len;
    int rc = proto_encode_rep(&s->out, r);

    if (__builtin_expect(rc == 0, 1)) {
        if (__builtin_expect(s->out.len - before - PROTO_HEADER_LEN <= s->peer_max, 1))
            return 0;
        s->out.len = before;
        rc = -EMSGSIZE;
    }
    return reply_failed(s, r, before, rc);
}

static void reply_err(struct session *s, uint32_t op, uint64_t id, uint32_t err)
{
    struct proto_rep r;

    memset(&r, 0, sizeof(r));
    r.op = op;
    r.id = id;
    r.err = err;
    reply(s, &r);
}

/* ---- requests ---- */

static int op_hello(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    if (q->u.hello.version != PROTO_VERSION) {
        slog(s, LOGP_NOTICE, "protocol version not supported, closing version=%u",
             q->u.hello.version);
        begin_close(s);
        return -ENOTSUP;
    }
    /* The decoder took only [PROTO_MIN_MAX_MSG, PROTO_MAX_MAX_MSG]. */
    s->peer_max = q->u.hello.max_msg;
    s->hello = true;
    r->u.hello.version = PROTO_VERSION;
    r->u.hello.max_msg = s->max_msg;
    r->u.hello.server.ptr = "ofad " OFA_VERSION;
    r->u.hello.server.len = (uint32_t)strlen(r->u.hello.server.ptr);
    return 0;
}

static bool in_group(const struct cred *c, uint32_t gid)
{
    if (c->gid == gid)
        return true;
    for (uint32_t i = 0; i < c->ngroups; i++) {
        if (c->groups[i] == gid)
            return true;
    }
    return false;
}

/* What a user (not root, not ofad's user) must pass to create an arena:
 * membership of create_group (-EACCES), a slot outside those reserved for
 * configured arenas and root (-ENOMEM), its max_arenas_per_uid (-EDQUOT).
 * Its alignment is raised to min_align, the smallest granularity users get:
 * a larger alignment serves every request a smaller one would. */
static int create_quota(struct session *s, struct arena_params *p)
{
    const struct cfg *c = s->cfg;
    const struct registry *reg = s->reg;

    if (c->create_gid >= 0 && !in_group(&s->cred, (uint32_t)c->create_gid))
        return -EACCES;
    if (reg->count >= c->max_arenas - cfg_reserved_arenas(c))
        return -ENOMEM;
    if (reg_owned(reg, s->cred.uid, NULL) >= c->max_arenas_per_uid)
        return -EDQUOT;
    if (p->align >= 8 && (p->align & (p->align - 1)) == 0 && p->align < c->min_align)
        p->align = c->min_align;
    return 0;
}

static int op_create(struct session *s, const struct proto_req *q)
{
    const struct cfg *c = s->cfg;
    struct arena_params p;
    char name[PROTO_NAME_MAX + 1];
    struct arena *a;
    int rc;

    memcpy(name, q->u.create.name.ptr, q->u.create.name.len);
    name[q->u.create.name.len] = '\0';
    p.name = name;
    p.page_size = q->u.create.page_size ? q->u.create.page_size : c->default_page_size;
    p.max_bytes = q->u.create.max_bytes ? q->u.create.max_bytes : c->default_max_bytes;
    p.align = q->u.create.align ? q->u.create.align : c->default_align;
    p.mode = q->u.create.mode ? q->u.create.mode : CFG_DEFAULT_MODE;
    p.private_default = q->u.create.private_default == 1;
    p.cache_max = q->u.create.cache_max ? q->u.create.cache_max : CFG_DEFAULT_CACHE_MAX;
    p.uid = s->cred.uid;
    p.gid = s->cred.gid;
    rc = s->privileged ? 0 : create_quota(s, &p);
    if (rc == 0)
        rc = reg_create(s->reg, &p, &a);
    if (rc < 0) {
        slog(s, rc == -EEXIST ? LOGP_INFO : LOGP_NOTICE, "create refused arena=%s err=%s", name,
             log_errname(rc));
        return rc;
    }
    if (log_on(LOGP_NOTICE)) {
        char source[64];
        snprintf(source, sizeof(source), "client=%llu pid=%d", (unsigned long long)s->id,
                 s->cred.pid);
        arena_log_created(a, LOGP_NOTICE, source);
    }
    return 0;
}

static int op_drop(struct session *s, const struct proto_req *q)
{
    struct arena *a = reg_find(s->reg, q->u.drop.name.ptr, q->u.drop.name.len);
    char name[PROTO_NAME_MAX + 1];
    struct heap_stats st;
    int rc;

    if (a == NULL)
        return -ENOENT;
    if (s->cred.uid != 0 && s->cred.uid != a->uid)
        return -EACCES;
    memcpy(name, a->name, a->name_len + 1);
    heap_stats(a->heap, &st);
    rc = reg_drop(s->reg, a, q->u.drop.force != 0);
    if (rc < 0)
        return rc;
    log_notice("arena dropped arena=%s blocks_freed=%llu client=%llu uid=%u pid=%d", name,
               (unsigned long long)st.blocks_live, (unsigned long long)s->id, s->cred.uid,
               s->cred.pid);
    return 0;
}

static int op_open(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    struct arena *a = reg_find(s->reg, q->u.open.name.ptr, q->u.open.name.len);
    struct handle *h;
    unsigned acc;
    uint32_t i;
    int rc;

    if (a == NULL)
        return -ENOENT; /* the decoder refused invalid names */
    /* Like opening a file to map it: read permission is needed either way,
     * write permission makes the handle read-write. */
    acc = arena_access(a, &s->cred);
    if (!(acc & ACC_R))
        return -EACCES;
    if (s->handles_used >= s->cfg->max_handles_per_client)
        return -EMFILE;
    for (i = 0; i < s->handles_cap && s->handles[i].used; i++)
        ;
    if (i == s->handles_cap) {
        uint32_t cap = s->handles_cap ? 2 * s->handles_cap : 4;
        struct handle *v = realloc(s->handles, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        memset(v + s->handles_cap, 0, (cap - s->handles_cap) * sizeof(*v));
        s->handles = v;
        s->handles_cap = cap;
    }
    h = &s->handles[i];
    rc = arena_owner_new(a, &h->owner);
    if (rc < 0)
        return rc;
    h->slot = a->slot;
    h->gen = a->gen;
    h->has_powner = false;
    h->ctl_slot = 0;
    h->cblocks = h->cbytes = 0;
    h->writable = (acc & ACC_W) != 0;
    h->used = true;
    s->handles_used++;
    if (s->rs != NULL)
        resume_note(s->rs);
    r->u.open.arena = i;
    r->u.open.writable = h->writable;
    r->u.open.align = a->align;
    r->u.open.page_size = a->page_size;
    r->u.open.max_bytes = a->max_bytes;
    log_debug("arena opened arena=%s handle=%u writable=%d client=%llu", a->name, i, h->writable,
              (unsigned long long)s->id);
    return 0;
}

static int op_close(struct session *s, const struct proto_req *q)
{
    uint32_t id = q->u.close.arena;
    struct handle *h;

    if (id >= s->handles_cap || !s->handles[id].used)
        return -EBADF;
    h = &s->handles[id];
    /* Closing a handle whose arena was dropped succeeds: it only forgets it. */
    handles_release(s->set, h, 1);
    s->handles_used--;
    if (s->rs != NULL)
        resume_note(s->rs);
    return 0;
}

/* ---- pages made off the loop ---- */

/* An ALLOC or ALLOC_N waiting for a page: the blocks it has so far. */
struct alloc_wait {
    uint64_t id;        /* the request's */
    uint32_t slot, gen; /* its arena */
    uint32_t count, done;
    int err;         /* the page could not be made: the request fails so */
    uint64_t offs[]; /* count; the first done are live blocks */
};

/* A page being made on the libuv thread pool. The worker thread touches
 * nothing but its own memfd; the rest is done on the loop (job_done). */
struct page_job {
    uv_work_t work;
    struct session *s; /* NULL once the session went away */
    struct registry *reg;
    uint32_t slot, gen; /* the arena: it may be dropped meanwhile */
    uint64_t len;
    uint64_t key; /* its name in the fd store, 0: none kept */
    int fd;       /* the page's memfd, or -errno */
    char label[ARENA_NAME_MAX + 1];
};

static void job_work(uv_work_t *w)
{
    struct page_job *j = w->data;
    int rc;

    j->fd = shm_page_create(j->label, j->len);
    /* With a state kept, the page is in the fd store before anything of it
     * is recorded: a page the state names always comes back. */
    if (j->fd >= 0 && j->key != 0) {
        rc = j->reg->page_keep(j->reg->page_ctx, j->key, j->fd);
        if (rc < 0) {
            shm_page_release(j->fd, j->len);
            j->fd = rc;
        }
    }
}

/* On the loop: the page goes to its arena (if both the arena and the
 * session still want it), and the session asks again. */
static void job_done(uv_work_t *w, int status)
{
    struct page_job *j = w->data;
    struct arena *a = reg_get(j->reg, j->slot, j->gen);
    struct session *s = j->s;
    int rc = status < 0 ? -EIO : j->fd;

    /* A client causes it (a page the memory cannot back): limited like its
     * other lines; nobody is told when the client is gone. */
    if (rc < 0 && s != NULL)
        slog(s, LOGP_WARNING, "page create failed arena=%s len=%llu err=%s", j->label,
             (unsigned long long)j->len, log_errname(rc));
    if (a == NULL || s == NULL || rc < 0) {
        /* Nobody wants it (arena dropped, client gone) or there is none. */
        if (a != NULL)
            arena_page_unreserve(a, j->len);
        else
            reg_page_unreserve(j->reg, j->len);
        if (rc >= 0) {
            shm_page_release(j->fd, j->len);
            if (j->key != 0 && j->reg->page_forget != NULL)
                j->reg->page_forget(j->reg->page_ctx, j->key);
        }
        if (a != NULL && rc < 0)
            a->failures++;
        rc = rc < 0 ? (rc == -ENOMEM ? -ENOMEM : -EIO) : -ENOENT;
    } else {
        rc = arena_page_add(a, j->len, j->fd, j->key, NULL);
    }
    free(j);
    if (s == NULL)
        return;
    s->job = NULL;
    if (rc < 0 && s->batch != NULL)
        s->batch->err = rc;
    serve(s);
}

/* The session goes away or is turned away: its page job goes on without
 * it, and the blocks of a half-served ALLOC_N are freed (before the
 * session's handles go: their blocks might be handed out again). */
static void job_abandon(struct session *s)
{
    struct alloc_wait *b = s->batch;

    if (s->job != NULL) {
        s->job->s = NULL;
        s->job = NULL;
    }
    if (b != NULL) {
        struct arena *a = reg_get(s->reg, b->slot, b->gen);
        for (uint32_t i = 0; a != NULL && i < b->done; i++)
            arena_unalloc(a, b->offs[i]);
        free(b);
        s->batch = NULL;
    }
}

/*
 * The request at in[0] needs a page of need bytes of a: reserve it within
 * the limits, keep the done blocks so far, and have the page made off the
 * loop. Returns 0 (the session waits, serving nothing else meanwhile, and
 * asks again when the page is there), or -errno for the request.
 */
static int park(struct session *s, const struct proto_req *q, struct arena *a, uint64_t need,
                const uint64_t *offs, uint32_t count, uint32_t done)
{
    struct page_job *j;
    int rc;

    rc = arena_page_reserve(a, need);
    if (rc < 0) {
        a->failures++;
        return rc;
    }
    j = calloc(1, sizeof(*j));
    if (s->batch == NULL) {
        s->batch = malloc(sizeof(*s->batch) + count * sizeof(uint64_t));
        if (s->batch != NULL) {
            s->batch->id = q->id;
            s->batch->slot = a->slot;
            s->batch->gen = a->gen;
            s->batch->count = count;
            s->batch->err = 0;
            memcpy(s->batch->offs, offs, done * sizeof(uint64_t));
        }
    }
    if (j == NULL || s->batch == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    s->batch->done = done;
    j->work.data = j;
    j->s = s;
    j->reg = s->reg;
    j->slot = a->slot;
    j->gen = a->gen;
    j->len = need;
    j->key = s->reg->page_keep != NULL ? ++s->reg->next_key : 0;
    j->fd = -EIO;
    memcpy(j->label, a->name, a->name_len + 1);
    if (uv_queue_work(s->set->loop, &j->work, job_work, job_done) != 0) {
        rc = -EIO;
        goto fail;
    }
    s->job = j;
    return 0;

fail:
    free(j);
    arena_page_unreserve(a, need);
    return rc;
}

/* Frees off through handle h, unless it is a private block of another
 * session: those belong to the powner of a handle this session does not
 * hold (its other handles on the same arena are its own). -EACCES then,
 * else as arena_free (arena_unalloc unless note: the caller records it). */
static int free_one(struct session *s, struct handle *h, struct arena *a, uint64_t off,
                    bool note)
{
    uint32_t owner;

    if (__builtin_expect(arena_private_owner(a, off, &owner), 0) &&
        !(h->has_powner && h->powner == owner)) {
        bool mine = false;
        for (uint32_t i = 0; i < s->handles_cap && !mine; i++) {
            const struct handle *o = &s->handles[i];
            mine = o->used && o->has_powner && o->powner == owner && o->slot == h->slot &&
                   o->gen == h->gen;
        }
        if (!mine)
            return -EACCES;
    }
    return note ? arena_free(a, off) : arena_unalloc(a, off);
}

/* The owner of h's private blocks, made on first use. 0 or -ENOMEM. */
static int handle_powner(struct session *s, struct handle *h, struct arena *a)
{
    int rc;

    if (__builtin_expect(h->has_powner, 1))
        return 0;
    rc = arena_owner_new_private(a, &h->powner);
    if (rc < 0)
        return rc;
    h->has_powner = true;
    if (s->rs != NULL)
        resume_note(s->rs);
    return 0;
}

static int op_alloc(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    struct sessions *ss = s->set;
    uint32_t count = q->op == PROTO_OP_ALLOC ? 1 : q->u.alloc.count;
    uint32_t flags = q->u.alloc.flags;
    bool keep = (flags & PROTO_ALLOC_KEEP) != 0;
    bool charged;
    uint32_t owner;
    struct alloc_wait *b = s->batch;
    uint64_t *offs = NULL, need = 0;
    struct handle *h;
    struct arena *a = NULL;
    uint32_t i = 0;
    int rc;

    if (__builtin_expect(b != NULL, 0) && (b->id != q->id || b->count != count))
        job_abandon(s); /* not the request it was made for: a guard */
    b = s->batch;
    rc = handle_get(s, q->u.alloc.arena, &h, &a);
    if (rc < 0)
        goto fail;
    if (__builtin_expect(!h->writable, 0)) {
        rc = -EACCES;
        goto fail;
    }
    /* A kept block exists to be handed off, so it is never private; and a
     * block is either private or shared. */
    if (__builtin_expect((flags & ~PROTO_ALLOC_FLAGS) != 0 || count == 0 ||
                             count > PROTO_MAX_BATCH ||
                             ((flags & PROTO_ALLOC_PRIVATE) &&
                              (flags & (PROTO_ALLOC_KEEP | PROTO_ALLOC_SHARED))),
                         0)) {
        rc = -EINVAL;
        goto fail;
    }
    owner = keep ? HEAP_OWNER_ARENA : h->owner;
    if ((flags & PROTO_ALLOC_PRIVATE) ||
        (a->private_default && !(flags & (PROTO_ALLOC_KEEP | PROTO_ALLOC_SHARED)))) {
        rc = handle_powner(s, h, a);
        if (rc < 0)
            goto fail;
        owner = h->powner;
    }
    if (count > 1 && count > proto_batch_fit(s->peer_max)) {
        rc = -EMSGSIZE;
        goto fail;
    }
    /* Blocks the arena keeps (OFA_KEEP) are bounded by its max_bytes, not
     * by this connection's block limit. Others may free our blocks, so the
     * count only ever falls behind our back: an upper bound kept up to date
     * here is exact enough until it reaches the limit, and only then are
     * the handles counted (O(handles), not per request). */
    if (b == NULL && !keep && s->blocks_bound + count > s->cfg->max_blocks_per_client) {
        s->blocks_bound = session_blocks(s);
        if (s->blocks_bound + count > s->cfg->max_blocks_per_client) {
            slog(s, LOGP_NOTICE, "alloc refused arena=%s err=EMFILE limit=max_blocks_per_client",
                 a->name);
            return -EMFILE;
        }
    }
    /* The same for the uid: the blocks of all its connections, and the kept
     * blocks of the arenas it owns (kept blocks elsewhere are their arena
     * owner's). Root and ofad's user are not counted. */
    charged = !s->privileged && (!keep || a->uid == s->cred.uid);
    if (b == NULL && charged && s->ua->blocks_bound + count > s->cfg->max_blocks_per_uid) {
        s->ua->blocks_bound = uid_blocks(ss, s->cred.uid);
        if (s->ua->blocks_bound + count > s->cfg->max_blocks_per_uid) {
            slog(s, LOGP_NOTICE, "alloc refused arena=%s err=EDQUOT limit=max_blocks_per_uid",
                 a->name);
            return -EDQUOT;
        }
    }
    if (b != NULL) {
        /* Asked again: the page came, or could not be made. */
        offs = b->offs;
        i = b->done;
        rc = b->err;
        if (rc < 0)
            goto fail;
    } else {
        offs = q->op == PROTO_OP_ALLOC ? &r->u.alloc.off : ss->offs;
    }
    for (; i < count; i++) {
        rc = arena_alloc(a, q->u.alloc.size, q->u.alloc.align, owner, &offs[i], &need);
        if (__builtin_expect(rc == -EAGAIN, 0)) {
            rc = park(s, q, a, need, offs, count, i);
            if (rc == 0)
                return -EINPROGRESS;
        }
        if (__builtin_expect(rc < 0, 0))
            goto fail;
    }
    if (q->op == PROTO_OP_ALLOC) {
        if (b != NULL)
            r->u.alloc.off = b->offs[0];
    } else {
        if (b != NULL)
            memcpy(ss->offs, b->offs, count * sizeof(uint64_t));
        r->u.list.offs = ss->offs;
        r->u.list.count = count;
    }
    free(b);
    s->batch = NULL;
    arena_note_alloc(a, owner, q->u.alloc.size,
                     q->op == PROTO_OP_ALLOC ? &r->u.alloc.off : ss->offs, count);
    if (!keep)
        s->blocks_bound += count;
    if (charged)
        s->ua->blocks_bound += count;
    return 0;

fail:
    /* All or none: the blocks made for this request go again (those of
     * earlier rounds are in b, this round's in offs up to i). */
    if (b != NULL) {
        a = reg_get(ss->reg, b->slot, b->gen);
        offs = b->offs;
        if (i < b->done)
            i = b->done;
    }
    for (uint32_t k = 0; a != NULL && k < i; k++)
        arena_unalloc(a, offs[k]);
    free(s->batch);
    s->batch = NULL;
    if (q->op == PROTO_OP_ALLOC_N) {
        r->u.list.offs = ss->offs;
        r->u.list.count = count;
    }
    if (rc != -EINVAL && rc != -EBADF && rc != -ENOENT && rc != -EACCES)
        slog(s, LOGP_NOTICE, "alloc failed size=%llu count=%u err=%s",
             (unsigned long long)q->u.alloc.size, count, log_errname(rc));
    return rc;
}

static int op_free(struct session *s, const struct proto_req *q)
{
    struct handle *h;
    struct arena *a;
    int rc;

    rc = handle_get(s, q->u.free.arena, &h, &a);
    if (rc < 0)
        return rc;
    if (__builtin_expect(!h->writable, 0))
        return -EACCES;
    rc = free_one(s, h, a, q->u.free.off, true);
    if (__builtin_expect(rc < 0, 0))
        slog(s, LOGP_INFO, "free refused arena=%s off=%llu err=%s", a->name,
             (unsigned long long)q->u.free.off, log_errname(rc));
    return rc;
}

static int op_free_n(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    struct handle *h;
    struct arena *a;
    uint32_t i;
    int rc;

    r->u.list.offs = NULL;
    r->u.list.count = 0;
    rc = handle_get(s, q->u.free_n.arena, &h, &a);
    if (rc < 0)
        return rc;
    if (!h->writable)
        return -EACCES;
    /* Recorded together once done: those freed are the first i. */
    for (i = 0; i < q->u.free_n.count; i++) {
        rc = free_one(s, h, a, q->u.free_n.offs[i], false);
        if (rc < 0) {
            slog(s, LOGP_INFO, "free refused arena=%s off=%llu err=%s", a->name,
                 (unsigned long long)q->u.free_n.offs[i], log_errname(rc));
            break;
        }
    }
    arena_note_frees(a, q->u.free_n.offs, i);
    r->u.list.count = i;
    return rc;
}

/* ---- client caches of private blocks ---- */

/* Records what h's client cache says it holds, bounded by what the daemon
 * knows: no more blocks than h's private ones, no more bytes than the
 * arena's cache_max. Only the cached figures of the arena record depend on
 * it. */
static void cache_level(struct handle *h, struct arena *a, uint64_t blocks, uint64_t bytes)
{
    uint64_t held = h->has_powner ? arena_owner_blocks(a, h->powner) : 0;

    if (blocks > held)
        blocks = held;
    if (bytes > a->cache_max)
        bytes = a->cache_max;
    if (blocks == 0)
        bytes = 0;
    a->blocks_cached += blocks - h->cblocks;
    a->bytes_cached += bytes - h->cbytes;
    h->cblocks = blocks;
    h->cbytes = bytes;
}

/* CACHE: the terms of a cache on this handle, with a slot in the arena's
 * control page. Returns the control page's fd (>= 0, a duplicate for the
 * caller to queue) or -errno. */
static int op_cache(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    struct handle *h;
    struct arena *a;
    struct ctl *ctl;
    int rc, fd;

    rc = handle_get(s, q->u.cache.arena, &h, &a);
    if (rc < 0)
        return rc;
    if (!h->writable)
        return -EACCES;
    rc = arena_ctl(a, &ctl);
    if (rc < 0)
        return rc == -ENOMEM ? rc : -EIO;
    if (h->ctl_slot == 0) {
        rc = ctl_slot_get(ctl, &h->ctl_slot, &h->ticket);
        if (rc < 0)
            return rc;
    }
    fd = fcntl(ctl_fd(ctl), F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -EIO;
    r->u.cache.private_default = a->private_default;
    r->u.cache.cache_max = a->cache_max;
    r->u.cache.slot = h->ctl_slot;
    r->u.cache.ticket = h->ticket;
    return fd;
}

/* FILL: an ALLOC_N of private blocks at the arena's alignment, and the
 * cache's level once they arrive. */
static int op_fill(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    struct proto_req n;
    struct handle *h;
    struct arena *a;
    int rc;

    memset(&n, 0, sizeof(n));
    n.op = PROTO_OP_ALLOC_N;
    n.id = q->id;
    n.u.alloc.arena = q->u.fill.arena;
    n.u.alloc.size = q->u.fill.size;
    n.u.alloc.flags = PROTO_ALLOC_PRIVATE;
    n.u.alloc.count = q->u.fill.count;
    rc = op_alloc(s, &n, r);
    if (rc == 0 && handle_get(s, q->u.fill.arena, &h, &a) == 0)
        cache_level(h, a, q->u.fill.blocks, q->u.fill.bytes);
    return rc;
}

/* DRAIN: a FREE_N of blocks the cache gives back, and its level after. */
static int op_drain(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    struct proto_req n;
    struct handle *h;
    struct arena *a;
    int rc;

    memset(&n, 0, sizeof(n));
    n.op = PROTO_OP_FREE_N;
    n.id = q->id;
    n.u.free_n.arena = q->u.drain.arena;
    n.u.free_n.offs = q->u.drain.offs;
    n.u.free_n.count = q->u.drain.count;
    rc = op_free_n(s, &n, r);
    if (handle_get(s, q->u.drain.arena, &h, &a) == 0)
        cache_level(h, a, q->u.drain.blocks, q->u.drain.bytes);
    return rc;
}

/* Returns the page's fd (>= 0) for the caller to queue, or -errno. */
static int op_page(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    struct handle *h;
    struct arena *a;
    int rc;

    rc = handle_get(s, q->u.page.arena, &h, &a);
    if (rc < 0)
        return rc;
    rc = arena_page_open(a, q->u.page.off, h->writable, &r->u.page.base, &r->u.page.len);
    if (rc < 0)
        return rc;
    r->u.page.writable = h->writable;
    return rc;
}

static int op_pages(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    struct sessions *ss = s->set;
    struct handle *h;
    struct arena *a;
    uint64_t n;
    int rc;

    rc = handle_get(s, q->u.pages.arena, &h, &a);
    if (rc < 0)
        return rc;
    n = arena_pages(a, ss->bases, ss->bases_cap);
    /* The client's own limit is checked when the reply is encoded. */
    if (n > PROTO_MAX_PAGES)
        return -EMSGSIZE;
    if (n > ss->bases_cap) {
        uint64_t *v = realloc(ss->bases, n * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        ss->bases = v;
        ss->bases_cap = (uint32_t)n;
        n = arena_pages(a, ss->bases, ss->bases_cap);
    }
    r->u.list.offs = ss->bases;
    r->u.list.count = (uint32_t)n;
    return 0;
}

/* The arena's wire record; stats are zero unless with_stats. name points
 * into a. */
static void arena_record(const struct arena *a, bool with_stats, struct proto_arena_info *out)
{
    struct heap_stats st;

    memset(out, 0, sizeof(*out));
    out->name.ptr = a->name;
    out->name.len = a->name_len;
    out->uid = a->uid;
    out->gid = a->gid;
    out->mode = a->mode;
    if (!with_stats)
        return;
    heap_stats(a->heap, &st);
    out->align = a->align;
    out->page_size = a->page_size;
    out->max_bytes = a->max_bytes;
    out->pages = st.pages;
    out->bytes_reserved = st.bytes_reserved;
    out->bytes_live = st.bytes_live;
    out->blocks_live = st.blocks_live;
    out->free_chunks = st.free_chunks;
    out->largest_free = st.largest_free;
    out->allocs = st.allocs;
    out->frees = st.frees;
    out->alloc_failures = st.alloc_failures + a->failures;
    out->private_default = a->private_default;
    out->cache_max = a->cache_max;
    out->blocks_cached = a->blocks_cached;
    out->bytes_cached = a->bytes_cached;
}

static int op_stats(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    struct arena *a = reg_find(s->reg, q->u.stats.name.ptr, q->u.stats.name.len);

    if (a == NULL)
        return -ENOENT; /* the decoder refused invalid names */
    if (!(arena_access(a, &s->cred) & ACC_R))
        return -EACCES;
    arena_record(a, true, &r->u.stats);
    return 0;
}

/*
 * Runs the allocator's full invariant check on one arena (heap_validate: every
 * chunk, bin, neighbour link, owner list and the live map). O(chunks) and it
 * holds the loop meanwhile, so it is for root and ofad's own user only: the
 * soak and the tests check the daemon's real heap with it, and an operator
 * can when something looks wrong. A broken invariant is logged with what
 * broke and answered EIO.
 */
static int op_validate(struct session *s, const struct proto_req *q)
{
    struct arena *a;
    char why[256];

    if (s->cred.uid != 0 && s->cred.uid != s->set->daemon_uid)
        return -EACCES;
    a = reg_find(s->reg, q->u.validate.name.ptr, q->u.validate.name.len);
    if (a == NULL)
        return -ENOENT;
    if (heap_validate(a->heap, why, sizeof(why)) != 0) {
        log_msg(LOGP_ERR, "allocator invariant broken arena=%s why=%s", a->name, why);
        return -EIO;
    }
    return 0;
}

static int op_arenas(struct session *s, struct proto_rep *r)
{
    struct sessions *ss = s->set;
    uint32_t n = reg_sorted(ss->reg, ss->sorted);

    for (uint32_t i = 0; i < n; i++)
        arena_record(ss->sorted[i], (arena_access(ss->sorted[i], &s->cred) & ACC_R) != 0,
                   &ss->infos[i]);
    r->u.arenas.v = ss->infos;
    r->u.arenas.count = n;
    return 0;
}

static int op_daemon(struct session *s, struct proto_rep *r)
{
    struct sessions *ss = s->set;

    r->u.daemon.version.ptr = OFA_VERSION;
    r->u.daemon.version.len = (uint32_t)strlen(OFA_VERSION);
    r->u.daemon.uptime_s = (uv_now(ss->loop) - ss->start_ms) / 1000;
    r->u.daemon.clients = ss->count;
    r->u.daemon.arenas = ss->reg->count;
    r->u.daemon.bytes_reserved = ss->reg->total_reserved;
    r->u.daemon.bytes_limit = ss->reg->max_total;
    r->u.daemon.pid = (uint64_t)getpid();
    r->u.daemon.state_age_s = 0; /* r is the caller's, uninitialised */
    if (ss->state_since_s != 0) {
        uint64_t now = (uint64_t)time(NULL);
        r->u.daemon.state_age_s = now > ss->state_since_s ? now - ss->state_since_s : 0;
    }
    return 0;
}

/* ---- sessions (resume.c) ---- */

static int op_session(struct session *s, struct proto_rep *r)
{
    struct rsess *rs = s->rs;
    int rc;

    if (rs == NULL) {
        /* Without a handle on the process, its death could not be seen. */
        if (s->pidfd < 0)
            return -ESRCH;
        rc = resume_new(s->set, s->cred.uid, s->cred.pid, s->pidfd, &rs);
        if (rc < 0)
            return rc;
        s->pidfd = -1;
        rs->conn = s;
        s->rs = rs;
        resume_note(rs);
        log_debug("session made session=%llu client=%llu", (unsigned long long)rs->sid,
                  (unsigned long long)s->id);
    }
    r->u.session.session = rs->sid;
    r->u.session.secret = rs->secret;
    return 0;
}

static int op_resume(struct session *s, const struct proto_req *q)
{
    struct sessions *ss = s->set;
    struct rsess *rs;

    /* A connection resumes before it holds anything of its own. */
    if (s->rs != NULL || s->handles_used > 0)
        return -EINVAL;
    rs = resume_find(ss, q->u.resume.session);
    if (rs == NULL)
        return -ESRCH;
    if (rs->uid != s->cred.uid || rs->pid != s->cred.pid || rs->secret != q->u.resume.secret) {
        slog(s, LOGP_NOTICE, "resume refused session=%llu err=EPERM",
             (unsigned long long)q->u.resume.session);
        return -EPERM;
    }
    free(s->handles);
    if (rs->conn != NULL) {
        /* The client gave up on its old connection before ofad noticed:
         * the handles move over, the old connection is shut down. */
        struct session *old = rs->conn;
        s->handles = old->handles;
        s->handles_cap = old->handles_cap;
        s->handles_used = old->handles_used;
        old->handles = NULL;
        old->handles_cap = old->handles_used = 0;
        old->rs = NULL;
        old->ending = true;
        shutdown(old->fd, SHUT_RDWR);
    } else {
        s->handles = rs->handles;
        s->handles_cap = rs->handles_cap;
        s->handles_used = rs->handles_used;
        rs->handles = NULL;
        ss->ndetached--;
        if (rs->pidw_on) {
            uv_poll_stop(&rs->pidw);
            rs->pidw_on = false;
        }
    }
    rs->conn = s;
    rs->replay = true;
    s->rs = rs;
    s->blocks_bound = session_blocks(s);
    if (s->pidfd >= 0) { /* the session watches the same process */
        close(s->pidfd);
        s->pidfd = -1;
    }
    log_info("session resumed session=%llu client=%llu uid=%u pid=%d handles=%u",
             (unsigned long long)rs->sid, (unsigned long long)s->id, s->cred.uid, s->cred.pid,
             s->handles_used);
    return 0;
}

/* A request resent after RESUME whose reply was kept: send it again. */
static __attribute__((noinline)) bool replayed(struct session *s, const struct proto_req *q)
{
    struct rsess *rs = s->rs;

    rs->replay = false;
    if (rs->last_op == 0 || q->id != rs->last_id || q->op != rs->last_op)
        return false;
    if (proto_buf_reserve(&s->out, rs->last_len) < 0) {
        begin_close(s);
        return true;
    }
    memcpy(s->out.data + s->out.len, rs->last, rs->last_len);
    s->out.len += rs->last_len;
    slog(s, LOGP_INFO, "resent request answered again op=%s id=%llu", proto_op_name(q->op),
         (unsigned long long)q->id);
    return true;
}

/* ---- names ---- */

/* The handle's arena, for a request that changes its names (write
 * permission) or reads them (any handle). */
static int names_handle(struct session *s, uint32_t id, bool write, struct arena **a)
{
    struct handle *h;
    int rc = handle_get(s, id, &h, a);

    if (rc == 0 && write && !h->writable)
        rc = -EACCES;
    return rc;
}

/* The arena a request names, which the caller may read. */
static int names_arena(struct session *s, const struct proto_str *name, struct arena **a)
{
    *a = reg_find(s->set->reg, name->ptr, name->len);
    if (*a == NULL)
        return proto_name_check(name->ptr, name->len) < 0 ? -EINVAL : -ENOENT;
    return arena_access(*a, &s->cred) & ACC_R ? 0 : -EACCES;
}

/* The line of a bind the bounds refused (rate limited like every line a
 * client causes): which bound, so the administrator knows what to raise. */
static void name_refused(struct session *s, const struct arena *a, int rc)
{
    if (rc == -EDQUOT)
        slog(s, LOGP_NOTICE, "name bind refused arena=%s err=EDQUOT limit=max_names_per_uid",
             a->name);
    else if (rc == -ENOMEM && a->names.count >= s->set->cfg->max_names_per_arena)
        slog(s, LOGP_NOTICE, "name bind refused arena=%s err=ENOMEM limit=max_names_per_arena",
             a->name);
    else if (rc != -EEXIST && rc != -EINVAL)
        slog(s, LOGP_NOTICE, "name bind failed arena=%s err=%s", a->name, log_errname(rc));
}

/* Find or construct, in one step of the loop: nobody can bind the name
 * between the look and the allocation. */
static int op_alloc_named(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    struct alloc_wait *b = s->batch;
    const struct name_ent *e;
    struct arena *a;
    bool charged;
    uint64_t off, need = 0;
    int rc;

    if (b != NULL) {
        /* Asked again after a page was made for it (or could not be):
         * look the name up again, someone may have bound it meanwhile. */
        rc = b->err;
        free(b);
        s->batch = NULL;
        if (rc < 0)
            return rc;
    }
    rc = names_handle(s, q->u.named.arena, true, &a);
    if (rc < 0)
        return rc;
    e = names_find(&a->names, q->u.named.name.ptr, q->u.named.name.len);
    if (e != NULL) {
        if (q->u.named.flags & PROTO_NAMED_EXCL)
            return -EEXIST;
        r->u.named.off = e->off;
        r->u.named.created = 0;
        return 0;
    }
    /* No block is made for a name that could not be bound. */
    rc = arena_name_room(a, s->cred.uid, s->set->cfg->max_names_per_arena);
    if (rc < 0)
        goto refused;
    /* A kept block: charged to the uid as op_alloc charges one. */
    charged = !s->privileged && a->uid == s->cred.uid;
    if (charged && s->ua->blocks_bound + 1 > s->set->cfg->max_blocks_per_uid) {
        s->ua->blocks_bound = uid_blocks(s->set, s->cred.uid);
        if (s->ua->blocks_bound + 1 > s->set->cfg->max_blocks_per_uid)
            return -EDQUOT;
    }
    rc = arena_alloc(a, q->u.named.size, 0, HEAP_OWNER_ARENA, &off, &need);
    if (rc == -EAGAIN) {
        /* No held page can serve it: one is made off the loop, as for
         * ALLOC, and the request is asked again then. */
        rc = park(s, q, a, need, &off, 1, 0);
        if (rc == 0)
            return -EINPROGRESS;
    }
    if (rc < 0)
        return rc;
    arena_note_alloc(a, HEAP_OWNER_ARENA, q->u.named.size, &off, 1);
    rc = arena_name_bind(a, q->u.named.name.ptr, q->u.named.name.len, off, s->cred.uid,
                         s->cred.pid, s->set->cfg->max_names_per_arena);
    if (rc < 0) {
        arena_free(a, off);
        goto refused;
    }
    if (charged)
        s->ua->blocks_bound++;
    r->u.named.off = off;
    r->u.named.created = 1;
    return 0;

refused:
    name_refused(s, a, rc);
    return rc;
}

static int op_name_bind(struct session *s, const struct proto_req *q)
{
    struct arena *a;
    int rc;

    rc = names_handle(s, q->u.bind.arena, true, &a);
    if (rc < 0)
        return rc;
    rc = arena_name_bind(a, q->u.bind.name.ptr, q->u.bind.name.len, q->u.bind.off, s->cred.uid,
                         s->cred.pid, s->set->cfg->max_names_per_arena);
    if (rc < 0)
        name_refused(s, a, rc);
    return rc;
}

static int op_name_unbind(struct session *s, const struct proto_req *q)
{
    struct arena *a;
    int rc;

    rc = names_handle(s, q->u.bind.arena, true, &a);
    if (rc < 0)
        return rc;
    return arena_name_unbind(a, q->u.bind.name.ptr, q->u.bind.name.len);
}

static void lookup_reply(const struct arena *a, const struct name_ent *e, struct proto_rep *r)
{
    r->u.named.off = e->off;
    r->u.named.size = arena_block_size(a, e->off);
    r->u.named.created = 0;
}

static int op_lookup(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    const struct name_ent *e;
    struct arena *a;
    int rc;

    rc = names_handle(s, q->u.bind.arena, false, &a);
    if (rc < 0)
        return rc;
    e = names_find(&a->names, q->u.bind.name.ptr, q->u.bind.name.len);
    if (e == NULL)
        return -ENOENT;
    lookup_reply(a, e, r);
    return 0;
}

static int op_block_size(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    struct arena *a;
    int rc;

    rc = names_handle(s, q->u.block.arena, false, &a);
    if (rc < 0)
        return rc;
    r->u.named.off = 0;
    r->u.named.created = 0;
    r->u.named.size = arena_block_size(a, q->u.block.off);
    return r->u.named.size != 0 ? 0 : -EINVAL;
}

/*
 * Parking. A LOOKUP_WAIT whose name is not bound yet gets no reply now: the
 * session puts its waiter on the arena's list and stops serving its
 * requests (replies go in request order, so later ones wait behind it;
 * libofaclient sends waits on a connection of their own). It keeps reading
 * its socket, so a client that goes away, kill -9 included, ends the
 * session and takes the waiter off at once. It is unparked by a bind of the
 * name (the reply carries the block), by its timer (ETIMEDOUT), or by the
 * arena's drop (ENOENT); then it serves what queued up behind the wait.
 */
static void unpark(struct session *s)
{
    struct arena *a;

    if (!s->parked)
        return;
    s->parked = false;
    if (s->wait_timer != NULL)
        uv_timer_stop(s->wait_timer);
    /* A waiter still listed means its arena is alive: a drop fires (and
     * so unlists) every waiter before the arena goes. */
    if (s->wait.fire != NULL && (a = reg_get(s->set->reg, s->wait_slot, s->wait_gen)) != NULL &&
        (s->wait.prev != NULL || a->names.waiters == &s->wait))
        names_wait_remove(&a->names, &s->wait);
}

static void wait_answer(struct session *s, const struct name_ent *e, int err)
{
    struct proto_rep r;
    struct arena *a;

    memset(&r, 0, sizeof(r));
    r.op = PROTO_OP_LOOKUP_WAIT;
    r.id = s->wait_id;
    if (err == 0 && (a = reg_get(s->set->reg, s->wait_slot, s->wait_gen)) != NULL)
        lookup_reply(a, e, &r);
    else
        r.err = proto_errno_to_err(err < 0 ? err : -ENOENT);
    unpark(s);
    reply(s, &r);
}

/* Called from inside a bind or a drop (another session's request): only
 * queue the reply and ask the loop to come back to this session. */
static void on_wait_fire(struct name_waiter *w, const struct name_ent *e, int err)
{
    struct session *s = (struct session *)((char *)w - offsetof(struct session, wait));

    wait_answer(s, e, err);
    set_events(s);
}

static void on_wait_timer(uv_timer_t *t)
{
    struct session *s = t->data;

    wait_answer(s, NULL, -ETIMEDOUT); /* unpark takes the waiter off its list */
    serve(s);
}

/* Returns 1 when the request is parked (no reply now). */
static int op_lookup_wait(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    const struct name_ent *e;
    struct arena *a;
    uint64_t ms = q->u.wait.timeout_ms;
    int rc;

    rc = names_arena(s, &q->u.wait.arena, &a);
    if (rc < 0)
        return rc;
    e = names_find(&a->names, q->u.wait.name.ptr, q->u.wait.name.len);
    if (e != NULL) {
        lookup_reply(a, e, r);
        return 0;
    }
    if (ms == 0)
        return -ETIMEDOUT;
    if (ms != PROTO_WAIT_FOREVER && s->wait_timer == NULL) {
        s->wait_timer = malloc(sizeof(*s->wait_timer));
        if (s->wait_timer == NULL)
            return -ENOMEM;
        uv_timer_init(s->set->loop, s->wait_timer);
        s->wait_timer->data = s;
    }
    memcpy(s->wait_name, q->u.wait.name.ptr, q->u.wait.name.len);
    s->wait.name = s->wait_name;
    s->wait.len = q->u.wait.name.len;
    s->wait.fire = on_wait_fire;
    s->wait_slot = a->slot;
    s->wait_gen = a->gen;
    s->wait_id = q->id;
    names_wait_add(&a->names, &s->wait);
    s->parked = true;
    if (ms != PROTO_WAIT_FOREVER)
        uv_timer_start(s->wait_timer, on_wait_timer, ms, 0);
    return 1;
}

static int by_entry_name(const void *x, const void *y)
{
    const struct proto_name_info *a = x, *b = y;
    int c = memcmp(a->name.ptr, b->name.ptr, a->name.len < b->name.len ? a->name.len : b->name.len);

    return c != 0 ? c : (a->name.len > b->name.len) - (a->name.len < b->name.len);
}

struct names_fill {
    const struct arena *a;
    struct proto_name_info *v;
    uint32_t n;
};

static int names_fill_one(void *ctx, const struct name_ent *e)
{
    struct names_fill *f = ctx;
    struct proto_name_info *o = &f->v[f->n++];

    o->name.ptr = e->name;
    o->name.len = e->len;
    o->off = e->off;
    o->size = arena_block_size(f->a, e->off);
    o->uid = e->uid;
    o->pid = (uint32_t)(e->pid > 0 ? e->pid : 0);
    return 0;
}

/* Every name of an arena, sorted, with the lookups waiting on it. The
 * client's max_msg bounds the reply (EMSGSIZE when it does not fit). */
static int op_names(struct session *s, const struct proto_req *q, struct proto_rep *r)
{
    struct sessions *ss = s->set;
    struct names_fill f;
    struct arena *a;
    int rc;

    rc = names_arena(s, &q->u.names.name, &a);
    if (rc < 0)
        return rc;
    if (a->names.count > PROTO_MAX_NAMES)
        return -EMSGSIZE;
    if (a->names.count > ss->names_cap) {
        struct proto_name_info *v = realloc(ss->names, a->names.count * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        ss->names = v;
        ss->names_cap = a->names.count;
    }
    f.a = a;
    f.v = ss->names;
    f.n = 0;
    names_each(&a->names, names_fill_one, &f);
    if (f.n > 1)
        qsort(f.v, f.n, sizeof(*f.v), by_entry_name);
    r->u.names.waiting = a->names.nwaiters;
    r->u.names.v = f.v;
    r->u.names.count = f.n;
    return 0;
}

static void dispatch(struct session *s, const struct proto_req *q)
{
    struct proto_rep r;
    int fd = -1;
    int rc;

    r.op = q->op;
    r.id = q->id;
    r.err = PROTO_OK;
    s->requests++;
    if (__builtin_expect(!s->hello, 0) && q->op != PROTO_OP_HELLO) {
        slog(s, LOGP_WARNING, "request before HELLO, closing op=%s", proto_op_name(q->op));
        reply_err(s, q->op, q->id, PROTO_EPROTO);
        begin_close(s);
        return;
    }
    if (__builtin_expect(s->rs != NULL, 0) && s->rs->replay && replayed(s, q))
        return;
    switch (q->op) {
    case PROTO_OP_ALLOC:
    case PROTO_OP_ALLOC_N:
        rc = op_alloc(s, q, &r);
        break;
    case PROTO_OP_FREE:
        rc = op_free(s, q);
        break;
    case PROTO_OP_FREE_N:
        rc = op_free_n(s, q, &r);
        break;
    case PROTO_OP_PING:
        rc = 0;
        break;
    case PROTO_OP_PAGE:
        rc = op_page(s, q, &r);
        if (rc >= 0) {
            fd = rc;
            rc = 0;
        }
        break;
    case PROTO_OP_PAGES:
        rc = op_pages(s, q, &r);
        break;
    case PROTO_OP_FILL:
        rc = op_fill(s, q, &r);
        break;
    case PROTO_OP_DRAIN:
        rc = op_drain(s, q, &r);
        break;
    case PROTO_OP_CACHE:
        rc = op_cache(s, q, &r);
        if (rc >= 0) {
            fd = rc;
            rc = 0;
        }
        break;
    case PROTO_OP_OPEN:
        rc = op_open(s, q, &r);
        break;
    case PROTO_OP_CLOSE:
        rc = op_close(s, q);
        break;
    case PROTO_OP_CREATE:
        rc = op_create(s, q);
        break;
    case PROTO_OP_DROP:
        rc = op_drop(s, q);
        break;
    case PROTO_OP_STATS:
        rc = op_stats(s, q, &r);
        break;
    case PROTO_OP_ARENAS:
        rc = op_arenas(s, &r);
        break;
    case PROTO_OP_DAEMON:
        rc = op_daemon(s, &r);
        break;
    case PROTO_OP_VALIDATE:
        rc = op_validate(s, q);
        break;
    case PROTO_OP_SESSION:
        rc = op_session(s, &r);
        break;
    case PROTO_OP_RESUME:
        rc = op_resume(s, q);
        break;
    case PROTO_OP_BYE:
        end_session(s, "bye");
        begin_close(s);
        rc = 0;
        break;
    case PROTO_OP_CLIENTS:
        rc = admin_clients(s, q, &r);
        break;
    case PROTO_OP_BLOCKS:
        rc = admin_blocks(s, q, &r);
        break;
    case PROTO_OP_ALLOC_NAMED:
        rc = op_alloc_named(s, q, &r);
        break;
    case PROTO_OP_NAME_BIND:
        rc = op_name_bind(s, q);
        break;
    case PROTO_OP_NAME_UNBIND:
        rc = op_name_unbind(s, q);
        break;
    case PROTO_OP_LOOKUP:
        rc = op_lookup(s, q, &r);
        break;
    case PROTO_OP_LOOKUP_WAIT:
        rc = op_lookup_wait(s, q, &r);
        if (rc == 1)
            return; /* parked: the reply comes later */
        break;
    case PROTO_OP_NAMES:
        rc = op_names(s, q, &r);
        break;
    case PROTO_OP_BLOCK_SIZE:
        rc = op_block_size(s, q, &r);
        break;
    case PROTO_OP_HELLO:
        if (s->hello) {
            slog(s, LOGP_WARNING, "second HELLO, closing");
            rc = -EPROTO;
            begin_close(s);
        } else {
            rc = op_hello(s, q, &r);
        }
        break;
    default:
        /* The codec refuses unknown ops; this is a guard, not a path. */
        rc = -EPROTO;
        begin_close(s);
        break;
    }
    if (__builtin_expect(rc == -EINPROGRESS, 0))
        return; /* answered when its page is made (job_done) */
    if (__builtin_expect(rc < 0, 0))
        r.err = proto_errno_to_err(rc);
    if (fd < 0) {
        size_t before = s->out.len;
        if (reply(s, &r) != -ENOMEM && __builtin_expect(s->rs != NULL, 0) &&
            resume_keeps(q->op))
            resume_keep_reply(s->rs, q->op, q->id, s->out.data + before, s->out.len - before);
        return;
    }
    {
        uint64_t pos = s->out_base + s->out.len;
        if (reply(s, &r) == 0) {
            uint32_t tail = (s->fdq_head + s->fdq_n) % SESSION_MAX_FDS;
            assert(s->fdq_n < SESSION_MAX_FDS);
            s->fdq[tail].fd = fd;
            s->fdq[tail].pos = pos;
            s->fdq_n++;
        } else {
            close(fd);
        }
    }
}

static void handle_frame(struct session *s, const uint8_t *p, size_t len)
{
    struct proto_req q;
    int rc = proto_decode_req(s->dec, p, len, &q);

    if (__builtin_expect(rc == 0, 1)) {
        dispatch(s, &q);
        return;
    }
    if (rc == -EBADMSG) {
        slog(s, LOGP_WARNING, "malformed request, closing op=%s id=%llu", proto_op_name(q.op),
             (unsigned long long)q.id);
        reply_err(s, q.op, q.id, PROTO_EPROTO);
    } else if (rc == -EPROTO) {
        slog(s, LOGP_WARNING, "malformed frame, closing len=%zu", len);
        reply_err(s, 0, 0, PROTO_EPROTO);
    } else {
        slog(s, LOGP_ERR, "decode failed, closing err=%s", log_errname(rc));
    }
    begin_close(s);
}

/* Serves every complete frame in the input buffer, as long as the output
 * and the descriptor queue have room. Returns true when it stopped for want
 * of room (frames may be waiting), false when it served all it could. */
static bool process(struct session *s)
{
    size_t pos = 0;
    bool full = false;

    while (pos < s->in_len && !s->closing && !s->parked) {
        size_t flen;
        int rc;
        if (s->job != NULL)
            break; /* waiting for a page: replies go in request order */
        if (out_full(s) || s->fdq_n == SESSION_MAX_FDS) {
            full = true;
            break;
        }
        rc = proto_frame(s->in + pos, s->in_len - pos, s->max_msg, &flen);
        if (rc == 0)
            break;
        if (rc < 0) {
            slog(s, LOGP_WARNING, "frame over the limit, closing limit=%u", s->max_msg);
            reply_err(s, 0, 0, PROTO_EMSGSIZE);
            begin_close(s);
            break;
        }
        handle_frame(s, s->in + pos + PROTO_HEADER_LEN, flen - PROTO_HEADER_LEN);
        if (s->job != NULL)
            break; /* that frame is served again when its page is made */
        pos += flen;
    }
    /* The changes of the requests just served and the last kept reply, as
     * one transaction, before any of their replies can leave (serve sends
     * them only after this): after a restart, a request took effect with
     * its reply kept, or not at all (see journal.c). One commit per read,
     * not per request: a pipelined run costs one checksum and one reply
     * record. */
    if (__builtin_expect(s->reg->jn != NULL, 0)) {
        resume_note_reply(s->set);
        journal_commit(s->reg->jn);
    }
    if (s->closing) {
        s->in_len = 0;
        return false;
    }
    if (pos > 0) {
        s->in_len -= pos;
        if (s->in_len > 0)
            memmove(s->in, s->in + pos, s->in_len);
    }
    if (s->in_len == 0 && s->in_cap > IN_INITIAL) {
        /* A large frame came and went: give its room back. */
        free(s->in);
        s->in = NULL;
        s->in_cap = 0;
    } else if (s->in_len == s->in_cap && s->in_cap < (size_t)s->max_msg + PROTO_HEADER_LEN) {
        /* A frame larger than the buffer is arriving (its length was
         * checked against max_msg): make room for the largest one. */
        size_t cap = (size_t)s->max_msg + PROTO_HEADER_LEN;
        uint8_t *v = realloc(s->in, cap);
        if (v == NULL) {
            slog(s, LOGP_ERR, "no memory for a large frame, closing len=%zu", cap);
            begin_close(s);
            return false;
        }
        s->in = v;
        s->in_cap = cap;
    }
    return full;
}

static bool want_read(const struct session *s)
{
    return !s->closing && !s->eof && !out_full(s) && s->fdq_n < SESSION_MAX_FDS &&
           (s->in == NULL || s->in_len < s->in_cap);
}

/* Returns bytes read, 0 at end of stream, -EAGAIN, or -errno. */
static ssize_t read_in(struct session *s)
{
    ssize_t n;

    if (s->in == NULL) {
        s->in = malloc(IN_INITIAL);
        if (s->in == NULL)
            return -ENOMEM;
        s->in_cap = IN_INITIAL;
        s->in_len = 0;
    }
    n = read(s->fd, s->in + s->in_len, s->in_cap - s->in_len);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
    s->in_len += (size_t)n;
    return n;
}

static void set_events(struct session *s)
{
    int ev = 0;

    if (want_read(s))
        ev |= UV_READABLE;
    if (s->out.len > 0 && !s->fd_wait)
        ev |= UV_WRITABLE; /* while descriptors wait, the socket is writable but useless */
    if (ev == s->events)
        return;
    if (ev == 0)
        uv_poll_stop(&s->poll);
    else
        uv_poll_start(&s->poll, ev, on_poll);
    s->events = ev;
}

/* Decodes what is buffered, sends what is queued, and decides what to wait
 * for next; may destroy s. */
static void serve(struct session *s)
{
    bool full;
    int rc;

    s->fd_wait = false; /* any event, or the tick, tries the descriptors again */
    do {
        full = process(s);
        if (s->out.len > 0) {
            rc = flush(s);
            if (rc < 0) {
                session_destroy(s, log_errname(rc));
                return;
            }
        }
        /* Everything sent made room: serve what waited behind the limit. */
    } while (full && s->out.len == 0);
    if (s->out.len == 0 && (s->closing || (s->eof && s->job == NULL))) {
        session_destroy(s, s->closing ? "closed by ofad" : "closed by client");
        return;
    }
    out_account(s);
    set_events(s);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct session *s = p->data;
    ssize_t n;
    int rc;

    if (status < 0) {
        session_destroy(s, poll_error(s, status));
        return;
    }
    if ((events & UV_WRITABLE) && s->out.len > 0) {
        rc = flush(s);
        if (rc < 0) {
            session_destroy(s, log_errname(rc));
            return;
        }
    }
    if ((events & UV_READABLE) && want_read(s)) {
        n = read_in(s);
        if (n == 0) {
            s->eof = true;
        } else if (n < 0 && n != -EAGAIN) {
            session_destroy(s, log_errname((int)n));
            return;
        }
    }
    serve(s);
}

/* Supplementary groups of the peer, as the kernel saw them at connect. */
static int peer_groups(int fd, struct cred *c)
{
    gid_t small[64];
    gid_t *v = small;
    socklen_t len = sizeof(small);
    int rc = 0;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, v, &len) < 0) {
        if (errno == ENOPROTOOPT)
            return 0; /* old kernel: primary group only */
        if (errno != ERANGE)
            return -errno;
        v = malloc(len);
        if (v == NULL)
            return -ENOMEM;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, v, &len) < 0) {
            rc = -errno;
            goto out;
        }
    }
    c->ngroups = len / sizeof(gid_t);
    if (c->ngroups > 0) {
        c->groups = malloc(c->ngroups * sizeof(*c->groups));
        if (c->groups == NULL) {
            c->ngroups = 0;
            rc = -ENOMEM;
            goto out;
        }
        for (uint32_t i = 0; i < c->ngroups; i++)
            c->groups[i] = v[i];
    }
out:
    if (v != small)
        free(v);
    return rc;
}

/* The connection slots: everyone shares max_clients minus reserved_clients
 * and may hold max_clients_per_uid of them; root and ofad's own user may
 * take every slot, so the administrator can always connect. Returns true
 * when s may stay, else logs (rate limited across connections). */
static bool admit(struct sessions *ss, const struct session *s)
{
    const struct cfg *c = ss->cfg;
    const struct uid_acct *ua;
    uint32_t dropped = 0;

    if (s->privileged)
        return true;
    if (ss->count >= c->max_clients - cfg_reserved_clients(c)) {
        if (log_ratelimit_ok(&ss->refuse_rl, uv_now(ss->loop), &dropped))
            log_warning("client refused: the rest of the connections are reserved for root and "
                        "ofad's user uid=%u pid=%d clients=%u reserved_clients=%u suppressed=%u",
                        s->cred.uid, s->cred.pid, ss->count, cfg_reserved_clients(c), dropped);
        return false;
    }
    ua = uid_acct_find(&ss->uids, s->cred.uid);
    if (ua != NULL && ua->conns >= cfg_clients_per_uid(c)) {
        if (log_ratelimit_ok(&ss->refuse_rl, uv_now(ss->loop), &dropped))
            log_warning("client refused: too many connections of one user uid=%u pid=%d "
                        "max_clients_per_uid=%u suppressed=%u",
                        s->cred.uid, s->cred.pid, cfg_clients_per_uid(c), dropped);
        return false;
    }
    return true;
}

/*
 * The peer's command name, for CLIENTS: read once here, while the pid is
 * surely the peer's (a pid read later may belong to another process).
 * Anything but printable ASCII becomes '?', since it ends up on terminals.
 * Needs /proc/PID of other users to be visible to ofad (the unit must not
 * set ProtectProc=invisible); when it is not, the name stays empty.
 */
static void peer_comm(int32_t pid, char *comm, size_t len)
{
    char path[32];
    ssize_t n;
    int fd;

    comm[0] = '\0';
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = read(fd, comm, len - 1);
    close(fd);
    if (n <= 0)
        return;
    if (comm[n - 1] == '\n')
        n--;
    comm[n] = '\0';
    for (ssize_t i = 0; i < n; i++)
        if (comm[i] < 0x20 || comm[i] > 0x7e)
            comm[i] = '?';
}

void session_accept(struct sessions *ss, int fd)
{
    struct session *s;
    struct ucred uc;
    socklen_t sl = sizeof(uc);
    uint32_t dropped = 0;
    int rc;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    s->pidfd = -1;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &sl) < 0) {
        rc = -errno;
        goto fail_free;
    }
    s->cred.uid = uc.uid;
    s->cred.gid = uc.gid;
    s->cred.pid = uc.pid;
    s->privileged = uc.uid == 0 || uc.uid == ss->daemon_uid;
    if (!admit(ss, s)) {
        free(s);
        close(fd);
        return;
    }
    /* The process, watched if it asks for a resumable session: taken now,
     * before any request, while the pid surely still names the peer. */
    s->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)uc.pid, 0);
    peer_comm(uc.pid, s->comm, sizeof(s->comm));
    s->since_s = (uint64_t)time(NULL);
    rc = peer_groups(fd, &s->cred);
    if (rc < 0)
        goto fail_free;
    s->ua = uid_acct_ref(&ss->uids, s->cred.uid);
    if (s->ua == NULL) {
        rc = -ENOMEM;
        goto fail_groups;
    }
    /* The uid's first connection: its kept blocks, and those of its
     * detached sessions, are there already. */
    if (s->ua->conns == 1)
        s->ua->blocks_bound = uid_blocks(ss, s->cred.uid);
    rc = proto_dec_new(&s->dec);
    if (rc < 0)
        goto fail_ua;
    rc = uv_poll_init(ss->loop, &s->poll, fd);
    if (rc < 0) {
        rc = -EIO;
        goto fail_dec;
    }
    s->poll.data = s;
    s->set = ss;
    s->reg = ss->reg;
    s->cfg = ss->cfg;
    s->fd = fd;
    s->id = ++ss->next_id;
    s->max_msg = ss->cfg->max_message;
    s->peer_max = PROTO_MIN_MAX_MSG; /* until HELLO says more */
    s->accepted = uv_now(ss->loop);
    proto_buf_init(&s->out);
    s->events = UV_READABLE;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    s->next = ss->head;
    if (s->next != NULL)
        s->next->prev = s;
    ss->head = s;
    ss->count++;
    if (log_on(LOGP_INFO) && slog_ok(s, false, &dropped))
        log_info("client connected client=%llu uid=%u gid=%u pid=%d suppressed=%u",
                 (unsigned long long)s->id, s->cred.uid, s->cred.gid, s->cred.pid, dropped);
    return;

fail_dec:
    proto_dec_free(s->dec);
fail_ua:
    uid_acct_unref(&ss->uids, s->ua);
fail_groups:
    free(s->cred.groups);
fail_free:
    if (s->pidfd >= 0)
        close(s->pidfd);
    free(s);
fail:
    log_err("client dropped at accept err=%s", log_errname(rc));
    close(fd);
}

void sessions_init(struct sessions *ss, uv_loop_t *loop, struct registry *reg,
                   const struct cfg *cfg, uint32_t daemon_uid)
{
    memset(ss, 0, sizeof(*ss));
    ss->loop = loop;
    ss->reg = reg;
    ss->cfg = cfg;
    ss->daemon_uid = daemon_uid;
    ss->start_ms = uv_now(loop);
}

/* Says how many lines clients caused that the daemon-wide limit dropped
 * and no later line reported: once their window is over (force: now, at
 * shutdown), so a flood that stopped is still counted in the log. */
static void conn_log_flush(struct sessions *ss, bool force)
{
    struct log_ratelimit *rl = &ss->conn_rl;

    if (rl->suppressed == 0)
        return;
    if (!force && uv_now(ss->loop) - rl->window_start < LOG_RL_WINDOW_MS)
        return;
    log_notice("client log lines suppressed suppressed=%u", rl->suppressed);
    rl->suppressed = 0;
}

void sessions_fini(struct sessions *ss)
{
    session_close_all(ss);
    conn_log_flush(ss, true);
    free(ss->bases);
    ss->bases = NULL;
    ss->bases_cap = 0;
    admin_scratch_free(&ss->admin);
    free(ss->names);
    ss->names = NULL;
    ss->names_cap = 0;
}

void session_close_all(struct sessions *ss)
{
    while (ss->head != NULL)
        session_destroy(ss->head, "shutdown");
    resume_end_all(ss);
}

void session_tick(struct sessions *ss)
{
    uint64_t now = uv_now(ss->loop);

    resume_tick(ss);
    conn_log_flush(ss, false);
    struct session *s, *next;

    uint64_t hello_ms = (uint64_t)ss->cfg->handshake_timeout * 1000;
    uint64_t stall_ms = (uint64_t)ss->cfg->output_timeout * 1000;

    for (s = ss->head; s != NULL; s = next) {
        next = s->next;
        if (s->closing) {
            if (now - s->closing_since >= SESSION_LINGER_MS)
                session_destroy(s, "closed by ofad, unsent replies dropped");
        } else if (!s->hello && now - s->accepted >= hello_ms) {
            session_destroy(s, "no HELLO in time");
        } else if (s->out.len > 0 && now - s->out_moved >= stall_ms && over_shared(s)) {
            /* It pins output others need room for, and reads nothing. */
            session_destroy(s, "replies not read, over a shared output bound");
        } else if (s->fd_wait) {
            serve(s);
        }
    }
}

/*
 * resume.c - resumable sessions: a client's blocks outlive its connection,
 * not its process.
 *
 * Owns: every struct rsess (ss->rsessions), the pidfd of each session's
 * process and its watcher, the grace timer of detached sessions, and the
 * reply kept per session for exactly-once resends. Called by session.c
 * (SESSION, RESUME, BYE, a connection lost or turned away, every reply to
 * a request that changes something, the tick, shutdown).
 * It calls arena.c to release handles, never session.c.
 *
 * Design
 * ------
 * Identity. A session is created by SESSION on a connection that finished
 * HELLO. It records the peer's uid and pid (SO_PEERCRED, read at accept)
 * and a pidfd of that process (pidfd_open at accept, before any request:
 * the narrowest window in which the pid could have been reused), and hands
 * the client its id (a counter, not secret) and a 64-bit secret from
 * getrandom(2). RESUME proves all three: the new connection's uid and pid,
 * which the kernel reports and nobody can forge, must be the session's, and
 * the secret must match. So another process cannot adopt a session even if
 * it learns the secret, and the same process cannot be impersonated after
 * its death (the session ends with it).
 *
 * Lifetime. Attached, a session's handles live in its connection (the hot
 * path does not change). When the connection is lost (EOF, reset, a write
 * error) the handles move here and the session is detached: its blocks stay
 * allocated. It ends, its blocks freed, when
 *   - the client says BYE (ofa_disconnect) or ofad turns the connection
 *     away (a malformed frame: a confused client is not resumed);
 *   - its process exits: the pidfd becomes readable, the loop notices at
 *     once (a uv_poll on it while detached; at detach time it is also
 *     polled directly, so a process killed before its socket closed ends
 *     its session without a round through the loop);
 *   - it stays detached longer than session_grace seconds (a process that
 *     lost its connection and never came back, say a library that does
 *     not resume, must not pin memory for its whole life);
 *   - detached sessions exceed max_clients: the oldest ends (a process
 *     cannot pile up empty sessions by reconnecting in a loop).
 * A connection that never sent SESSION keeps the old rule: its blocks go
 * with it, so raw protocol clients see no change.
 *
 * Exactly once. The library has one request in flight and resends it, with
 * the same id, after RESUME when the connection died before the reply came.
 * Each reply to a request that changes state (CREATE .. FREE_N) is copied
 * here as encoded (a few dozen bytes; up to 36 KiB for a full ALLOC_N);
 * after RESUME, the first request is compared with it by id and op: if it
 * is the one answered, the kept bytes are sent again and nothing is done.
 * So a resent ALLOC does not allocate twice, a resent FREE does not come
 * back EINVAL, a resent OPEN returns the same handle. Requests that change
 * nothing (PING, PAGE, STATS...) are simply served again.
 *
 * Invariants: a session is in ss->rsessions exactly once; conn != NULL
 * iff it is attached, and then conn->rs == it and handles == NULL; pidw
 * runs only while detached; its pidfd is closed exactly when it ends.
 */
#include "resume.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "journal.h"
#include "session.h"
#include "state.h"

#include <stdio.h>
#include <sys/syscall.h>

void handles_release(struct sessions *ss, struct handle *v, uint32_t cap)
{
    for (uint32_t i = 0; i < cap; i++) {
        struct handle *h = &v[i];
        struct arena *a;
        if (!h->used)
            continue;
        a = reg_get(ss->reg, h->slot, h->gen);
        if (a != NULL) {
            arena_owner_release(a, h->owner);
            /* Its private blocks, its client cache's control word and
             * share of the cached figures go with it. */
            if (h->has_powner)
                arena_owner_release(a, h->powner);
            if (h->ctl_slot != 0 && a->ctl != NULL && !ss->reg->keep)
                ctl_slot_put(a->ctl, h->ctl_slot);
            a->blocks_cached -= h->cblocks;
            a->bytes_cached -= h->cbytes;
        }
        memset(h, 0, sizeof(*h));
    }
}

static int random_u64(uint64_t *out)
{
    size_t got = 0;

    while (got < sizeof(*out)) {
        ssize_t n = getrandom((uint8_t *)out + got, sizeof(*out) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    return 0;
}

int resume_new(struct sessions *ss, uint32_t uid, int32_t pid, int pidfd, struct rsess **out)
{
    struct rsess *rs = calloc(1, sizeof(*rs));
    int rc;

    if (rs == NULL)
        return -ENOMEM;
    rc = random_u64(&rs->secret);
    if (rc < 0) {
        free(rs);
        return rc;
    }
    rc = uv_poll_init(ss->loop, &rs->pidw, pidfd);
    if (rc < 0) {
        free(rs);
        return -ENOMEM;
    }
    rs->pidw.data = rs;
    rs->set = ss;
    rs->sid = ++ss->next_sid;
    rs->uid = uid;
    rs->pid = pid;
    rs->start = resume_proc_start(pid);
    rs->pidfd = pidfd;
    rs->next = ss->rsessions;
    if (rs->next != NULL)
        rs->next->prev = rs;
    ss->rsessions = rs;
    ss->nrsessions++;
    *out = rs;
    return 0;
}

struct rsess *resume_find(struct sessions *ss, uint64_t sid)
{
    /* RESUME is rare (once per lost connection): a walk is enough. */
    for (struct rsess *rs = ss->rsessions; rs != NULL; rs = rs->next)
        if (rs->sid == sid)
            return rs;
    return NULL;
}

static void on_freed(uv_handle_t *h)
{
    free(h->data);
}

void resume_end(struct rsess *rs, const char *why)
{
    struct sessions *ss = rs->set;

    log_info("session ended session=%llu uid=%u pid=%d reason=%s", (unsigned long long)rs->sid,
             rs->uid, rs->pid, why);
    if (ss->reply_due == rs)
        ss->reply_due = NULL; /* it ends: its reply will never be asked for */
    if (ss->reg->jn != NULL) {
        struct st_sid *e = journal_rec(ss->reg->jn, ST_SESSION_END, sizeof(*e));
        if (e != NULL)
            e->sid = rs->sid;
    }
    if (rs->conn != NULL)
        rs->conn->rs = NULL;
    if (rs->handles != NULL) {
        handles_release(ss, rs->handles, rs->handles_cap);
        free(rs->handles);
        ss->ndetached--;
    }
    if (rs->prev != NULL)
        rs->prev->next = rs->next;
    else
        ss->rsessions = rs->next;
    if (rs->next != NULL)
        rs->next->prev = rs->prev;
    ss->nrsessions--;
    free(rs->last);
    /* The watcher leaves epoll at uv_close; only then may its fd close. */
    uv_close((uv_handle_t *)&rs->pidw, on_freed);
    close(rs->pidfd);
}

static void on_exit_seen(uv_poll_t *p, int status, int events)
{
    struct rsess *rs = p->data;

    (void)status;
    (void)events;
    resume_end(rs, "process exited");
}

static bool process_gone(int pidfd)
{
    struct pollfd pf = {.fd = pidfd, .events = POLLIN};

    return poll(&pf, 1, 0) == 1;
}

/* The oldest detached session (the list is newest first). */
static struct rsess *oldest_detached(struct sessions *ss)
{
    struct rsess *found = NULL;

    for (struct rsess *rs = ss->rsessions; rs != NULL; rs = rs->next)
        if (rs->conn == NULL)
            found = rs;
    return found;
}

void resume_detach(struct rsess *rs, struct handle *handles, uint32_t cap, uint32_t used)
{
    struct sessions *ss = rs->set;

    rs->conn = NULL;
    /* A session without handles still keeps its last reply: store an
     * empty array so that "detached" always means handles != NULL. */
    if (handles == NULL) {
        handles = calloc(1, sizeof(*handles));
        cap = handles != NULL;
        if (handles == NULL) {
            resume_end(rs, "no memory");
            return;
        }
    }
    rs->handles = handles;
    rs->handles_cap = cap;
    rs->handles_used = used;
    rs->lost_ms = uv_now(ss->loop);
    ss->ndetached++;
    if (process_gone(rs->pidfd)) {
        resume_end(rs, "process exited");
        return;
    }
    uv_poll_start(&rs->pidw, UV_READABLE, on_exit_seen);
    rs->pidw_on = true;
    log_info("session detached session=%llu uid=%u pid=%d handles=%u", (unsigned long long)rs->sid,
             rs->uid, rs->pid, used);
    if (ss->ndetached > ss->cfg->max_clients) {
        struct rsess *old = oldest_detached(ss);
        if (old != NULL)
            resume_end(old, "too many detached sessions");
    }
}

int resume_keep_reply(struct rsess *rs, uint32_t op, uint64_t id, const uint8_t *p, size_t n)
{
    if (n > rs->last_cap) {
        size_t cap = n < 64 ? 64 : n;
        uint8_t *v = realloc(rs->last, cap);
        if (v == NULL) {
            rs->last_op = 0;
            return -ENOMEM;
        }
        rs->last = v;
        rs->last_cap = cap;
    }
    memcpy(rs->last, p, n);
    rs->last_len = n;
    rs->last_op = op;
    rs->last_id = id;
    if (rs->set->reg->jn != NULL) {
        /* Recorded once, before the commit that ends this read's requests
         * (resume_note_reply): a pipelined run of requests keeps only its
         * last reply, so only that one needs writing. */
        if (rs->set->reply_due != NULL && rs->set->reply_due != rs)
            resume_note_reply(rs->set);
        rs->set->reply_due = rs;
    }
    return 0;
}

void resume_note_reply(struct sessions *ss)
{
    struct rsess *rs = ss->reply_due;
    struct st_reply *r;

    ss->reply_due = NULL;
    if (rs == NULL || rs->last_op == 0 || ss->reg->jn == NULL)
        return;
    /* In the transaction of the requests' changes (session.c commits after
     * this, before any reply leaves): after a restart, both or neither. */
    r = journal_rec(ss->reg->jn, ST_REPLY, sizeof(*r) + rs->last_len);
    if (r != NULL) {
        *r = (struct st_reply){.sid = rs->sid, .id = rs->last_id, .op = rs->last_op,
                               .len = (uint32_t)rs->last_len};
        memcpy(r + 1, rs->last, rs->last_len);
    }
}

uint64_t resume_proc_start(int32_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long start = 0;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command may hold spaces and parentheses: fields go on after the
     * last ')'. Then state is field 3, start time field 22. */
    p = strrchr(buf, ')');
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
                                   "%*d %*d %*d %*d %llu",
                            &start) != 1)
        return 0;
    return start;
}

void resume_note(struct rsess *rs)
{
    if (rs->set->reg->jn != NULL)
        resume_write(rs, rs->set->reg->jn);
}

void resume_write(struct rsess *rs, struct journal *jn)
{
    const struct handle *v = rs->conn != NULL ? rs->conn->handles : rs->handles;
    uint32_t cap = rs->conn != NULL ? rs->conn->handles_cap : rs->handles_cap, n = 0, i;
    struct st_session *r;
    struct st_handle *h;

    for (i = 0; i < cap; i++)
        n += v[i].used;
    r = journal_rec(jn, ST_SESSION, sizeof(*r) + n * sizeof(*h));
    if (r == NULL)
        return;
    *r = (struct st_session){.sid = rs->sid, .secret = rs->secret, .start = rs->start,
                             .uid = rs->uid, .pid = rs->pid, .nhandles = n};
    h = (struct st_handle *)(r + 1);
    for (i = 0; i < cap; i++) {
        if (!v[i].used)
            continue;
        *h++ = (struct st_handle){.index = i, .slot = v[i].slot, .owner = v[i].owner,
                                  .powner = v[i].powner, .has_powner = v[i].has_powner,
                                  .writable = v[i].writable};
    }
}

int resume_restore(struct sessions *ss, uint64_t sid, uint64_t secret, uint32_t uid, int32_t pid,
                   uint64_t start, struct handle *handles, uint32_t cap, uint32_t used,
                   uint64_t last_id, uint32_t last_op, const uint8_t *last, size_t last_len,
                   struct rsess **out)
{
    struct rsess *rs;
    int pidfd, rc;

    *out = NULL;
    if (sid > ss->next_sid)
        ss->next_sid = sid;
    /* The pidfd first, then the start time: if that is still the
     * session's, the pidfd is of the session's process (a pid reused
     * meanwhile would show another start time). */
    pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (pidfd < 0 || start == 0 || resume_proc_start(pid) != start || process_gone(pidfd)) {
        if (pidfd >= 0)
            close(pidfd);
        log_info("session ended session=%llu uid=%u pid=%d reason=\"process gone while ofad was "
                 "down\"",
                 (unsigned long long)sid, uid, pid);
        handles_release(ss, handles, cap);
        free(handles);
        return 0;
    }
    rc = resume_new(ss, uid, pid, pidfd, &rs);
    if (rc < 0) {
        close(pidfd);
        handles_release(ss, handles, cap);
        free(handles);
        return rc;
    }
    /* resume_new gave the next id: take the saved one back. */
    ss->next_sid--;
    rs->sid = sid;
    rs->secret = secret;
    rs->start = start;
    if (last_op != 0 && resume_keep_reply(rs, last_op, last_id, last, last_len) < 0)
        rs->last_op = 0;
    if (handles == NULL) {
        handles = calloc(1, sizeof(*handles));
        cap = handles != NULL;
    }
    if (handles == NULL) {
        resume_end(rs, "no memory");
        return -ENOMEM;
    }
    rs->handles = handles;
    rs->handles_cap = cap;
    rs->handles_used = used;
    rs->lost_ms = uv_now(ss->loop);
    ss->ndetached++;
    uv_poll_start(&rs->pidw, UV_READABLE, on_exit_seen);
    rs->pidw_on = true;
    *out = rs;
    return 0;
}

void resume_tick(struct sessions *ss)
{
    uint64_t now = uv_now(ss->loop), grace = (uint64_t)ss->cfg->session_grace * 1000;
    struct rsess *rs, *next;

    if (ss->ndetached == 0)
        return;
    for (rs = ss->rsessions; rs != NULL; rs = next) {
        next = rs->next;
        if (rs->conn == NULL && now - rs->lost_ms >= grace)
            resume_end(rs, "grace time passed");
    }
}

void resume_end_all(struct sessions *ss)
{
    while (ss->rsessions != NULL)
        resume_end(ss->rsessions, "shutdown");
}

/*
 * conn.c - one connection to ofad: socket, handshake, framing, the
 * descriptors that come with PAGE replies, and the request/reply exchange.
 *
 * Model. Every public call is one blocking exchange: encode the request, send
 * it whole, read until the reply's frame is complete, decode, check. Only one
 * request is ever in flight, so a reply must carry the op and id of the
 * request just sent, arrive alone (no bytes after it) and come with a
 * descriptor exactly when it is a successful PAGE or CACHE reply. Anything
 * else means the daemon and this library no longer agree on the state of
 * the stream:
 * the connection is then "broken", its socket and pending descriptors are
 * closed at once, and every later call returns the error that broke it
 * without touching the socket. That rule is what keeps a confused or hostile
 * peer from making us hang (we never wait for a reply that cannot come after
 * a desynchronisation), crash (every length is bounded before we allocate
 * for it: proto_frame checks the header against max_recv) or leak (a
 * descriptor that is not claimed by its PAGE reply is closed).
 *
 * Descriptors. The daemon attaches a page's descriptor to a sendmsg() whose
 * bytes include the first byte of the PAGE reply or an earlier one, so by the
 * time a reply's frame is complete its descriptor has arrived. recvmsg() has
 * room for OFA__RECV_FDS of them per call and asks for MSG_CMSG_CLOEXEC; they
 * queue in c->fds in arrival order until a reply claims them. MSG_CTRUNC (the
 * kernel dropped some) breaks the connection: we can no longer tell which
 * reply a descriptor belongs to.
 *
 * Buffers. c->rbuf holds received bytes. The reply just decoded stays at its
 * start (c->rdone bytes) because its decoded form points into it; it is
 * dropped when the next exchange begins. The buffer grows to the largest
 * frame seen, never beyond max_recv plus the header.
 *
 * Deadlines. Every exchange has one: c->timeout_ms from its start (0: none),
 * OFA_DEFAULT_TIMEOUT_MS unless $OFAD_TIMEOUT_MS or ofa_set_timeout() say
 * otherwise. The socket stays blocking (a synchronous round trip is one
 * send and one receive, nothing more), with the kernel's own limits on each
 * wait, SO_SNDTIMEO and SO_RCVTIMEO, set to what is left of the deadline
 * (set_wait), so a daemon that accepts and never answers, answers a byte at
 * a time, or is stopped (SIGSTOP) costs the caller at most the deadline, not
 * forever. connect() itself is bounded
 * the same way through SO_SNDTIMEO (a Unix socket's connect waits for room
 * in the listener's backlog, and that wait honours the send timeout).
 * Running out of time in the middle of an exchange leaves the stream in an
 * unknown place, so it drops the connection like any other connection error
 * (-ETIMEDOUT).
 *
 * Dropping the connection happens in exactly one place, ofa__broken(): the
 * socket and pending descriptors are closed, the error is remembered, and
 * the ofa_client and its ofa_arena objects stay valid (their mappings stay
 * mapped, every later call fails fast with that error) until the caller
 * closes them.
 *
 * Called by: arena.c and admin.c through ofa__call(), arena.c's
 * ofa_disconnect() through ofa__conn_close(); users through ofa_connect(),
 * ofa_socket_path(), ofa_set_timeout(). It calls nothing of arena.c or
 * admin.c: the library's files call downwards (arena.c -> admin.c -> conn.c).
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

#define RECV_CHUNK (64u * 1024) /* initial receive buffer and smallest read */

const char *ofa_socket_path(const char *socket_path)
{
    const char *env;

    if (socket_path != NULL && socket_path[0] != '\0')
        return socket_path;
    env = getenv(OFA_SOCKET_ENV);
    if (env != NULL && env[0] != '\0')
        return env;
    return OFA_DEFAULT_SOCKET;
}

/* Milliseconds on the monotonic clock. */
static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The deadline of an exchange that starts now: 0 for none. */
static uint64_t deadline_from_now(const struct ofa_client *c)
{
    return c->timeout_ms ? now_ms() + c->timeout_ms : 0;
}

/*
 * Makes the kernel's wait of the next send or receive (opt: SO_SNDTIMEO,
 * SO_RCVTIMEO) end at the deadline (0: no deadline). The value in force is
 * remembered, so an exchange that starts with the usual timeout and gets its
 * reply in one piece makes no call here: only a reply that comes in pieces,
 * or the first exchange after one, pays for a setsockopt. Returns 0,
 * -ETIMEDOUT (the deadline has passed), or -errno.
 */
static int set_wait(struct ofa_client *c, int opt, uint64_t deadline)
{
    uint32_t *cur = opt == SO_SNDTIMEO ? &c->snd_ms : &c->rcv_ms;
    uint32_t want = 0;
    struct timeval tv;

    if (deadline != 0) {
        uint64_t now = now_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        want = (uint32_t)(deadline - now);
        /* Within a millisecond is close enough: no call. */
        if (*cur != 0 && *cur >= want && *cur - want <= 1)
            return 0;
    }
    if (*cur == want)
        return 0;
    tv.tv_sec = (time_t)(want / 1000);
    tv.tv_usec = (suseconds_t)(want % 1000) * 1000;
    if (setsockopt(c->fd, SOL_SOCKET, opt, &tv, sizeof(tv)) < 0)
        return -errno;
    *cur = want;
    return 0;
}

/* The $OFAD_TIMEOUT_MS of ofaclient.h, or the default when it is unset or
 * not a number of milliseconds. */
static uint32_t timeout_from_env(void)
{
    const char *s = getenv(OFA_TIMEOUT_ENV);
    unsigned long long v;
    char *end;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return OFA_DEFAULT_TIMEOUT_MS;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > UINT32_MAX)
        return OFA_DEFAULT_TIMEOUT_MS;
    return (uint32_t)v;
}

int ofa_set_timeout(ofa_client *c, unsigned int ms)
{
    if (c == NULL)
        return -EINVAL;
    c->timeout_ms = ms;
    return 0;
}

/*
 * The connection is dropped here and nowhere else: on a protocol error, a
 * transport error, a deadline that passed. The ofa_client and its arenas
 * stay valid objects; what is gone is the socket (and the descriptors that
 * came on it). The first error sticks and is what every later call returns.
 */
void ofa__broken(struct ofa_client *c, int err)
{
    size_t i;

    if (c->broken == 0)
        c->broken = err;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    for (i = 0; i < c->nfds; i++)
        close(c->fds[i]);
    c->nfds = 0;
}

static int send_all(struct ofa_client *c, const uint8_t *p, size_t n, uint64_t deadline)
{
    ssize_t k;
    int rc;

    while (n > 0) {
        /* MSG_NOSIGNAL: a daemon that went away must give us EPIPE, not
         * kill the host process with SIGPIPE. */
        rc = set_wait(c, SO_SNDTIMEO, deadline);
        if (rc < 0)
            return rc;
        k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            /* EAGAIN: the wait ran out; set_wait says whether the deadline
             * did too. */
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* One recvmsg() into the free end of rbuf, queueing any descriptors;
 * waits for bytes until the deadline. */
static int recv_some(struct ofa_client *c, uint64_t deadline)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * OFA__RECV_FDS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov;
    struct msghdr mh;
    struct cmsghdr *cm;
    ssize_t n;
    size_t i, k;
    int fd, rc = 0;

    iov.iov_base = c->rbuf + c->rlen;
    iov.iov_len = c->rcap - c->rlen;
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);
    for (;;) {
        rc = set_wait(c, SO_RCVTIMEO, deadline);
        if (rc < 0)
            return rc;
        n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
        if (n >= 0)
            break;
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
    }

    for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < k; i++) {
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (c->nfds < OFA__MAX_PENDING_FDS) {
                c->fds[c->nfds++] = fd;
            } else {
                close(fd);
                rc = -EPROTO;
            }
        }
    }
    if (mh.msg_flags & MSG_CTRUNC)
        rc = -EPROTO;
    if (rc < 0)
        return rc;
    if (n == 0)
        return -ECONNRESET;
    c->rlen += (size_t)n;
    return 0;
}

static int rbuf_reserve(struct ofa_client *c, size_t need)
{
    uint8_t *p;
    size_t cap;

    if (need <= c->rcap)
        return 0;
    cap = c->rcap ? c->rcap : RECV_CHUNK;
    while (cap < need)
        cap *= 2;
    p = realloc(c->rbuf, cap);
    if (p == NULL)
        return -ENOMEM;
    c->rbuf = p;
    c->rcap = cap;
    return 0;
}

/* Reads until rbuf starts with a whole frame; its length goes to *flen. */
static int recv_frame(struct ofa_client *c, size_t *flen, uint64_t deadline)
{
    uint32_t plen;
    int rc;

    for (;;) {
        /* Fewer than a header's bytes (the usual state when a call starts,
         * the previous reply having been dropped): nothing to look at. */
        if (c->rlen >= PROTO_HEADER_LEN) {
            rc = proto_frame(c->rbuf, c->rlen, c->max_recv, flen);
            if (rc == 1)
                return 0;
            if (rc < 0)
                return -EPROTO; /* a length over our limit, or zero */
            /* The header passed proto_frame, so this is bounded. */
            plen = (uint32_t)c->rbuf[0] << 24 | (uint32_t)c->rbuf[1] << 16 |
                   (uint32_t)c->rbuf[2] << 8 | (uint32_t)c->rbuf[3];
            rc = rbuf_reserve(c, PROTO_HEADER_LEN + (size_t)plen);
        } else {
            rc = rbuf_reserve(c, RECV_CHUNK);
        }
        if (rc < 0)
            return rc;
        if (c->rlen == c->rcap) {
            rc = rbuf_reserve(c, c->rcap + RECV_CHUNK);
            if (rc < 0)
                return rc;
        }
        rc = recv_some(c, deadline);
        if (rc < 0)
            return rc;
    }
}

/* One exchange of req (its id already set) on the current connection, by
 * the deadline (0: none). */
static int exchange(struct ofa_client *c, struct proto_req *req, struct proto_rep *rep, int *fd,
                    uint64_t deadline)
{
    size_t flen;
    int rc, pfd = -1;

    if (fd != NULL)
        *fd = -1;
    if (c->broken)
        return ofa__fail(c->broken, "connection to ofad at %s lost earlier: %s", c->path,
                         ofa_strerror(c->broken));

    /* The previous reply is no longer referenced: drop its bytes. It came
     * alone (anything after it breaks the connection), so as a rule this
     * empties the buffer. */
    if (c->rdone > 0) {
        if (c->rlen > c->rdone)
            memmove(c->rbuf, c->rbuf + c->rdone, c->rlen - c->rdone);
        c->rlen -= c->rdone;
        c->rdone = 0;
    }

    c->sbuf.len = 0;
    rc = proto_encode_req(&c->sbuf, req);
    if (rc < 0)
        return ofa__fail(rc, "request %s not sent: %s", proto_op_name(req->op),
                         rc == -ENOMEM ? "out of memory" : "a value out of the protocol's range");
    if (c->sbuf.len - PROTO_HEADER_LEN > c->max_send)
        return ofa__fail(-EMSGSIZE, "request %s not sent: %zu bytes, over ofad's limit of %u",
                         proto_op_name(req->op), c->sbuf.len - PROTO_HEADER_LEN, c->max_send);

    rc = send_all(c, c->sbuf.data, c->sbuf.len, deadline);
    if (rc < 0)
        goto broken;
    rc = recv_frame(c, &flen, deadline);
    if (rc < 0)
        goto broken;
    c->rdone = flen;
    rc = proto_decode_rep(c->dec, c->rbuf + PROTO_HEADER_LEN, flen - PROTO_HEADER_LEN, rep);
    if (rc < 0) {
        if (rc != -ENOMEM)
            rc = -EPROTO;
        goto broken;
    }
    if (rep->op != req->op || rep->id != req->id || c->rlen != flen) {
        /* Not our reply, or bytes nobody asked for: out of step. */
        rc = -EPROTO;
        goto broken;
    }
    if ((rep->op == PROTO_OP_PAGE || rep->op == PROTO_OP_CACHE) && rep->err == PROTO_OK) {
        if (c->nfds == 0) {
            rc = -EPROTO;
            goto broken;
        }
        pfd = c->fds[0];
        c->nfds--;
        memmove(c->fds, c->fds + 1, c->nfds * sizeof(int));
    }
    if (c->nfds > 0) {
        rc = -EPROTO; /* descriptors no reply claims */
        goto broken;
    }
    if (rep->err != PROTO_OK) {
        rc = proto_err_to_errno(rep->err);
        /* The daemon closes the connection after an EPROTO reply: later
         * calls must not wait on it. A code we do not know (a newer daemon)
         * fails this request only, as -EPROTO; so does EMSGSIZE for a reply
         * that would not have fitted (a frame over a limit is answered with
         * op and id 0, which we refuse above). */
        if (rep->err == PROTO_EPROTO)
            goto broken;
        return ofa__fail(rc, "%s", ofa_strerror(rc));
    }
    if (fd != NULL)
        *fd = pfd;
    else if (pfd >= 0)
        close(pfd);
    return 0;

broken:
    if (pfd >= 0)
        close(pfd);
    ofa__broken(c, rc);
    if (rc == -EPROTO)
        return ofa__fail(rc, "ofad at %s sent something unexpected; the connection is closed",
                         c->path);
    if (rc == -ETIMEDOUT)
        return ofa__fail(rc, "ofad at %s did not answer within %u ms; the connection is closed",
                         c->path, (unsigned)c->timeout_ms);
    return ofa__fail(rc, "connection to ofad at %s lost: %s", c->path, ofa_strerror(rc));
}

/* Errors that mean "the connection is gone", not "the daemon said no":
 * a session survives them. */
static int is_loss(int rc)
{
    return rc == -ECONNRESET || rc == -EPIPE || rc == -ENOTCONN || rc == -ECONNABORTED ||
           rc == -ETIMEDOUT;
}

/* A new socket connected to c->sa in c->fd, by the deadline (0: none). */
static int dial(struct ofa_client *c, uint64_t deadline)
{
    int rc;

    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    c->snd_ms = c->rcv_ms = 0; /* a new socket waits without limit */
    /* A full backlog (a stopped or swamped daemon) makes connect() wait for
     * room, as long as the send timeout allows. */
    rc = set_wait(c, SO_SNDTIMEO, deadline);
    while (rc == 0 && connect(c->fd, (const struct sockaddr *)&c->sa, sizeof(c->sa)) < 0) {
        if (errno == EINTR)
            continue;
        rc = errno == EISCONN ? 0 : -errno; /* an interrupted connect completed */
        if (rc == -EAGAIN || rc == -EINPROGRESS)
            rc = -ETIMEDOUT; /* the send timeout ran out waiting for the backlog */
        break;
    }
    if (rc < 0) {
        close(c->fd);
        c->fd = -1;
    }
    return rc;
}

/* One request of the library's own (handshake, session): a fresh id. */
static int own_call(struct ofa_client *c, struct proto_req *req, struct proto_rep *rep,
                    uint64_t deadline)
{
    req->id = c->next_id++;
    return exchange(c, req, rep, NULL, deadline);
}

static int hello(struct ofa_client *c, uint64_t deadline)
{
    struct proto_req req;
    struct proto_rep rep;
    size_t n;
    int rc;

    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_HELLO;
    req.u.hello.version = PROTO_VERSION;
    req.u.hello.max_msg = c->max_recv;
    rc = own_call(c, &req, &rep, deadline);
    if (rc == -ENOTSUP)
        return -EPROTO; /* a daemon that speaks another version */
    if (rc < 0)
        return rc;
    if (rep.u.hello.version != PROTO_VERSION || rep.u.hello.max_msg < PROTO_MIN_MAX_MSG ||
        rep.u.hello.max_msg > PROTO_MAX_MAX_MSG)
        return -EPROTO;
    c->max_send = rep.u.hello.max_msg;
    n = rep.u.hello.server.len;
    if (n >= sizeof(c->server))
        n = sizeof(c->server) - 1;
    if (n > 0)
        memcpy(c->server, rep.u.hello.server.ptr, n);
    c->server[n] = '\0';
    return 0;
}

/*
 * The detailed message of a failed connect, in the terms of what the user
 * can do about it. The errno stays what connect() said, except that a path
 * which is not a socket at all (connect says ECONNREFUSED for a directory)
 * becomes -ENOTSOCK.
 */
static int connect_failed(const char *path, int rc)
{
    struct stat st;
    struct group *gr;

    if (rc == -ENOENT || rc == -ECONNREFUSED) {
        if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
            return ofa__fail(-ENOTSOCK, "%s is %s, not ofad's socket: set OFAD_SOCKET", path,
                             S_ISDIR(st.st_mode) ? "a directory" : "not a socket");
        return ofa__fail(rc, "no ofad listening at %s: is it running? set OFAD_SOCKET", path);
    }
    if (rc == -EACCES || rc == -EPERM) {
        /* The socket's group is who may connect (mode 0660); when the
         * socket cannot even be looked at, its directory's group. */
        gr = NULL;
        if (stat(path, &st) == 0)
            gr = getgrgid(st.st_gid);
        if (gr != NULL)
            return ofa__fail(rc, "permission denied on %s: join group %s", path, gr->gr_name);
        return ofa__fail(rc, "permission denied on %s: ask who runs ofad to let you in", path);
    }
    if (rc == -EPROTO)
        return ofa__fail(rc, "%s does not answer as ofad (another program, or another protocol "
                             "version)", path);
    return ofa__fail(rc, "cannot connect to ofad at %s: %s", path, ofa_strerror(rc));
}

/*
 * The connection was lost (c is broken with a loss): connects again,
 * waiting up to the call's timeout for a daemon to accept (one being
 * restarted behind the socket), and resumes the session. Handles, offsets
 * and mappings stay as they are: the session keeps them. Returns 0; the
 * loss error when no daemon came back in time; -ECONNRESET when the
 * daemon no longer knows the session (its blocks are gone: nothing to
 * carry on with, and no later call tries again).
 */
static int resume(struct ofa_client *c, int loss, uint64_t deadline)
{
    long delay_ms = 2;
    struct proto_req req;
    struct proto_rep rep;
    int rc;

    for (;;) {
        c->broken = 0;
        c->rlen = c->rdone = 0;
        rc = dial(c, deadline);
        if (rc == 0)
            rc = hello(c, deadline);
        if (rc == 0) {
            memset(&req, 0, sizeof(req));
            req.op = PROTO_OP_RESUME;
            req.u.resume.session = c->sid;
            req.u.resume.secret = c->secret;
            rc = own_call(c, &req, &rep, deadline);
            if (rc == 0)
                return 0;
            if (rc == -ESRCH || rc == -EPERM) {
                c->sid = 0;
                ofa__broken(c, -ECONNRESET);
                c->broken = -ECONNRESET;
                return -ECONNRESET;
            }
        }
        ofa__broken(c, rc);
        c->broken = loss;
        /* Nobody listening yet, or a daemon that went away again: wait. */
        if (!(rc == -ECONNREFUSED || rc == -ENOENT || rc == -EAGAIN || is_loss(rc)) ||
            (deadline != 0 && now_ms() >= deadline))
            return loss;
        {
            struct timespec ts = {0, delay_ms * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (delay_ms < 100)
            delay_ms *= 2;
    }
}

int ofa__call(struct ofa_client *c, struct proto_req *req, struct proto_rep *rep, int *fd)
{
    uint64_t deadline;
    int rc;

    if (c->broken && !(c->sid != 0 && is_loss(c->broken))) {
        if (fd != NULL)
            *fd = -1;
        return c->broken;
    }
    req->id = c->next_id++;
    deadline = deadline_from_now(c);
    /* A lost connection is resumed and the request sent again with the
     * same id, for as long as the deadline allows: the daemon answers a
     * request it had already done from the reply it kept, so it takes
     * effect once. */
    for (;;) {
        if (c->broken) {
            rc = resume(c, c->broken, deadline);
            if (rc < 0) {
                if (fd != NULL)
                    *fd = -1;
                return rc;
            }
        }
        rc = exchange(c, req, rep, fd, deadline);
        if (!(rc < 0 && c->sid != 0 && is_loss(rc)) || rc == -ETIMEDOUT ||
            (deadline != 0 && now_ms() >= deadline))
            break;
    }
    return rc;
}

/* Frees c; its arenas are gone already (arena.c's ofa_disconnect). */
static void client_free(struct ofa_client *c)
{
    ofa__broken(c, -EPIPE);
    proto_buf_free(&c->sbuf);
    if (c->dec != NULL)
        proto_dec_free(c->dec);
    free(c->rbuf);
    free(c);
}

/* Asks for a resumable session. A daemon that cannot watch this process
 * says ESRCH: the connection then works as a plain one. */
static int open_session(struct ofa_client *c, uint64_t deadline)
{
    struct proto_req req;
    struct proto_rep rep;
    int rc;

    memset(&req, 0, sizeof(req));
    req.op = PROTO_OP_SESSION;
    rc = own_call(c, &req, &rep, deadline);
    if (rc == -ESRCH)
        return 0;
    if (rc < 0)
        return rc;
    c->sid = rep.u.session.session;
    c->secret = rep.u.session.secret;
    return 0;
}

int ofa_connect(const char *socket_path, ofa_client **out)
{
    struct ofa_client *c;
    uint64_t deadline;
    const char *path;
    size_t plen;
    int rc;

    if (out == NULL)
        return ofa__fail(-EINVAL, "ofa_connect: out is NULL");
    *out = NULL;
    path = ofa_socket_path(socket_path);
    plen = strlen(path);
    if (plen >= sizeof(c->sa.sun_path))
        return ofa__fail(-EINVAL, "socket path too long: %zu bytes, at most %zu: %s", plen,
                         sizeof(c->sa.sun_path) - 1, path);

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->sa.sun_family = AF_UNIX;
    memcpy(c->sa.sun_path, path, plen);
    c->fd = -1;
    c->next_id = 1;
    c->max_recv = OFA__MAX_RECV;
    c->max_send = PROTO_DEFAULT_MAX_MSG;
    memcpy(c->path, path, plen + 1);
    proto_buf_init(&c->sbuf);
    rc = rbuf_reserve(c, RECV_CHUNK);
    if (rc < 0)
        goto fail;
    rc = proto_dec_new(&c->dec);
    if (rc < 0)
        goto fail;
    c->timeout_ms = timeout_from_env();
    deadline = deadline_from_now(c);
    rc = dial(c, deadline);
    if (rc < 0)
        goto fail_connect;
    rc = hello(c, deadline);
    if (rc < 0)
        goto fail_connect;
    rc = open_session(c, deadline);
    if (rc < 0)
        goto fail_connect;
    *out = c;
    return 0;

fail_connect:
    client_free(c);
    return connect_failed(path, rc);
fail:
    client_free(c);
    return ofa__fail(rc, "connecting to %s: %s", path, ofa_strerror(rc));
}

void ofa__conn_close(struct ofa_client *c)
{
    struct proto_req req;

    if (c->fd >= 0 && c->sid != 0) {
        /* BYE ends the session now (its blocks freed). Not waited for: the
         * daemon reads it before it sees the connection close. */
        memset(&req, 0, sizeof(req));
        req.op = PROTO_OP_BYE;
        req.id = c->next_id++;
        c->sbuf.len = 0;
        if (proto_encode_req(&c->sbuf, &req) == 0)
            (void)send_all(c, c->sbuf.data, c->sbuf.len, deadline_from_now(c));
    }
    client_free(c);
}

const char *ofa_server_version(const ofa_client *c)
{
    return c != NULL ? c->server : "";
}

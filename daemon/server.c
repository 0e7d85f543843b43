/*
 * server.c - the event loop: listener, accept, signals, notifications, timers,
 * config reload.
 *
 * Owns: the listening socket (systemd's or our own file, mode 0660), the
 * single-instance lock, the libuv loop and its signal and timer handles, the
 * client count, the STATUS= line, and the order of start and shutdown.
 * Called by main.c (server_start, server_run); calls session.c for each
 * connection and arena.c for the arenas of the config.
 *
 * systemd passes the activation socket and, after a restart, the
 * descriptors its fd store kept (pages of the state) together in
 * LISTEN_FDS: the listening Unix stream socket is served, the others wait in
 * srv->handed, by name, for the state (or are dropped without one).
 *
 * Single instance: before touching anything (segments, socket file) ofad
 * takes flock(LOCK_EX) on "ofad.<tag>.lock", tag being derived from the
 * absolute socket path, in a runtime directory that only ofad's user may
 * enter (runtime_dir; else systemd's RuntimeDirectory=, $RUNTIME_DIRECTORY;
 * else /run/ofad/private for root, $XDG_RUNTIME_DIR/ofad for others; made
 * 0700 if missing, refused unless it is ofad's and mode 0?00). Anyone who
 * can open a file can flock it, so the directory is what keeps other users
 * from taking the lock first and stopping ofad from starting (an abstract
 * socket name, the former lock, could be bound by any local user). The
 * kernel releases the lock when the process dies however it dies, so a
 * killed ofad never blocks the next one, and two daemons can never both own
 * a socket path: the second gets EADDRINUSE and leaves. Only the holder
 * sweeps the /dev/shm segments of that tag that an older version of ofad
 * left (pages are nameless memfds now: they die with the last descriptor,
 * so a killed ofad leaves none), and replaces a stale socket file.
 *
 * Shutdown (SIGTERM, SIGINT): stop accepting, close every session (their
 * blocks freed), drop every arena (every page released), remove the socket
 * file if ofad made it and it is still that file, exit 0. With a state
 * directory (persist.c) the state is handed on instead: a last snapshot,
 * then pages are closed but not released and sessions stay resumable, for
 * the next ofad to take over.
 *
 * Start with a state directory: after the lock (so that one ofad at a time
 * touches the state) and before the config's arenas (which then meet the
 * arenas taken over as a reload would), persist_start takes the state over.
 *
 * The one-second tick (lingering sessions, STATUS= updates) is a timerfd
 * watched like a socket, not a libuv timer: with a timer armed, every
 * epoll_wait carries a timeout, and arming and cancelling that kernel timer
 * on each wake-up costs a synchronous client several percent of its round
 * trips. A timerfd leaves epoll_wait blocking with no timeout.
 *
 * Reload (SIGHUP): the file is read into a fresh config and checked whole
 * before anything changes; a bad file changes nothing. Then the registry
 * takes it (reg_apply in arena.c: limits, new arenas, new owners and modes)
 * and it becomes the config in force.
 *
 * An arena is never handed over at reload: a user may create "payroll"
 * before the administrator configures it for root, and keep a read-write
 * handle on it. A change of owner, group or mode is refused, and logged,
 * when an open handle (of a connection, or of a detached session) would lose
 * access it has (the registry asks the sessions through access_lost), or
 * when the owner changes while the arena holds pages (made, and perhaps
 * mapped, under the present owner: their descriptors cannot be taken back).
 * The administrator drops such an arena and reloads, and gets it created
 * anew, empty. Tightening a mode no handle depends on, or giving an empty
 * arena to its configured owner, applies at once.
 */
#include "server.h"

#include "fdstore.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>


#define ACCEPTS_PER_WAKEUP 64
#define TICK_MS            1000
#define NOTIFY_WAIT_MS     2000 /* longest wait for room to send READY/STOPPING */

/* ---- status ---- */

/*
 * Sends one notification to the service manager, waiting at most wait_ms.
 * sd_notify() sends on a blocking socket, and a notify socket whose queue is
 * full (a manager slow to read; net.unix.max_dgram_qlen is 10 by default)
 * would stop the whole loop inside it, for ever. So: a non-blocking socket
 * connected to NOTIFY_SOCKET (a connected datagram socket polls writable
 * when the peer's queue has room), one try, then at most wait_ms of waiting
 * for room. STATUS= lines are only information and never wait (one that
 * cannot go is dropped; the next tick sends the line of that moment);
 * READY, RELOADING and STOPPING, rare and needed by the manager, wait a
 * little. Returns 0, -EAGAIN (dropped), -ENOENT (no NOTIFY_SOCKET), -errno.
 */
static int notify_send(int wait_ms, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int notify_send(int wait_ms, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    int fd, rc = 0;

    fd = fdstore_notify_socket();
    if (fd < 0)
        return fd;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (int tries = 0;; tries++) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (send(fd, msg, strlen(msg), MSG_NOSIGNAL) >= 0)
            break;
        rc = errno == EWOULDBLOCK ? -EAGAIN : -errno;
        if (rc != -EAGAIN || tries > 0 || wait_ms <= 0 || poll(&p, 1, wait_ms) <= 0)
            break;
        rc = 0;
    }
    close(fd);
    return rc;
}

/* The STATUS= text, one format for READY=1 and every later update. */
static void status_format(const struct server *srv, char *buf, size_t len)
{
    snprintf(buf, len, "arenas=%u clients=%u bytes=%llu", srv->reg.count,
             sessions_count(&srv->sessions), (unsigned long long)srv->reg.total_reserved);
}

static void status_update(struct server *srv)
{
    char buf[sizeof(srv->status)];

    status_format(srv, buf, sizeof(buf));
    if (strcmp(buf, srv->status) == 0)
        return;
    /* Not recorded as sent unless it went: the next tick tries again. */
    if (notify_send(0, "STATUS=%s", buf) != -EAGAIN)
        memcpy(srv->status, buf, sizeof(buf));
}

/* ---- listener ---- */

static void on_listen(uv_poll_t *p, int status, int events)
{
    struct server *srv = p->data;
    uint32_t dropped = 0;

    (void)events;
    if (status < 0) {
        log_err("listener failed err=%s", uv_err_name(status));
        return;
    }
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return;
            if ((e == EMFILE || e == ENFILE) && srv->reserve_fd >= 0) {
                /* Out of descriptors: the pending connection would wake us
                 * forever. Use the spare to take it and turn it away. */
                close(srv->reserve_fd);
                fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0)
                    close(fd);
                srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (log_ratelimit_ok(&srv->accept_rl, uv_now(&srv->loop), &dropped))
                    log_err("client refused: out of file descriptors suppressed=%u", dropped);
                continue;
            }
            if (log_ratelimit_ok(&srv->accept_rl, uv_now(&srv->loop), &dropped))
                log_err("accept failed err=%s suppressed=%u", log_errname(e), dropped);
            return;
        }
        if (sessions_count(&srv->sessions) >= srv->cfg.max_clients) {
            if (log_ratelimit_ok(&srv->accept_rl, uv_now(&srv->loop), &dropped))
                log_warning("client refused: too many clients max_clients=%u suppressed=%u",
                            srv->cfg.max_clients, dropped);
            close(fd);
            continue;
        }
        session_accept(&srv->sessions, fd);
    }
}

/* The directory of the instance lock (see the design block). Fills dir;
 * -ENOENT when none can be chosen. */
static int runtime_dir_choose(const struct server *srv, char *dir, size_t len)
{
    const char *env;

    if (srv->cfg.runtime_dir[0] != '\0')
        return (size_t)snprintf(dir, len, "%s", srv->cfg.runtime_dir) < len ? 0 : -ENAMETOOLONG;
    env = getenv(CFG_RUNTIME_ENV);
    if (env != NULL && env[0] == '/') {
        /* systemd may list several, separated by ':': the first is ours. */
        int n = (int)strcspn(env, ":");
        return (size_t)snprintf(dir, len, "%.*s", n, env) < len ? 0 : -ENAMETOOLONG;
    }
    if (geteuid() == 0) {
        snprintf(dir, len, "%s", CFG_DEFAULT_RUNTIME_DIR);
        return 0;
    }
    env = getenv("XDG_RUNTIME_DIR");
    if (env != NULL && env[0] == '/')
        return (size_t)snprintf(dir, len, "%s/ofad", env) < len ? 0 : -ENAMETOOLONG;
    return -ENOENT;
}

/* Makes dir (and, 0755, its missing parents) and checks that it is ours
 * alone: a directory, owned by our uid, no access for group or others.
 * what names it in messages. */
static int private_dir_make(const char *dir, const char *what, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct stat st;

    if ((size_t)snprintf(path, sizeof(path), "%s", dir) >= sizeof(path))
        return -ENAMETOOLONG;
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            log_errbuf(err, errlen, "cannot make %s: %s", path, strerror(errno));
            return -errno;
        }
        *p = '/';
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        log_errbuf(err, errlen, "cannot make the %s %s: %s", what, dir, strerror(errno));
        return -errno;
    }
    if (lstat(dir, &st) < 0) {
        log_errbuf(err, errlen, "cannot use the %s %s: %s", what, dir, strerror(errno));
        return -errno;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        log_errbuf(err, errlen,
                   "the %s %s must be a directory of ofad's user (uid %u) that no "
                   "one else may enter (mode 0700); it is %s, uid %u, mode %04o",
                   what, dir, (unsigned)geteuid(),
                   S_ISDIR(st.st_mode) ? "a directory" : "not a directory", (unsigned)st.st_uid,
                   (unsigned)(st.st_mode & 07777));
        return -EPERM;
    }
    return 0;
}

/* Takes the instance lock (see the design block). Returns 0, -EADDRINUSE
 * (another ofad holds it), or -errno with a message in err. */
static int take_lock(struct server *srv, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    struct stat a, b;
    int fd, rc;

    rc = runtime_dir_choose(srv, dir, sizeof(dir));
    if (rc < 0) {
        log_errbuf(err, errlen, "%s",
                   rc == -ENAMETOOLONG
                       ? "the runtime directory's path is too long"
                       : "no runtime directory for the instance lock: set runtime_dir, "
                         "$RUNTIME_DIRECTORY or $XDG_RUNTIME_DIR");
        return rc;
    }
    rc = private_dir_make(dir, "runtime directory", err, errlen);
    if (rc < 0)
        return rc;
    if ((size_t)snprintf(srv->lock_path, sizeof(srv->lock_path), "%s/ofad.%s.lock", dir,
                         srv->tag) >= sizeof(srv->lock_path)) {
        log_errbuf(err, errlen, "the runtime directory's path is too long: %s", dir);
        return -ENAMETOOLONG;
    }
    for (;;) {
        fd = open(srv->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            rc = -errno;
            log_errbuf(err, errlen, "cannot open the lock %s: %s", srv->lock_path, strerror(-rc));
            return rc;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            rc = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
            log_errbuf(err, errlen, "cannot lock %s: %s", srv->lock_path, strerror(errno));
            close(fd);
            return rc;
        }
        /* A holder that was exiting may have removed the file between our
         * open and our flock: then we hold a lock nobody else will look
         * at. Only the file that is at the path counts. */
        if (fstat(fd, &a) == 0 && stat(srv->lock_path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            break;
        close(fd);
    }
    srv->lock_fd = fd;
    return 0;
}

/* Binds srv->socket_path: mode 0660 through the umask, never over a live
 * listener, replacing a stale socket file (a killed ofad's). */
static int bind_socket(struct server *srv, char *err, size_t errlen)
{
    const char *path = srv->socket_path;
    struct sockaddr_un sa;
    struct stat st;
    mode_t old;
    int fd, rc;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        log_errbuf(err, errlen, "socket path too long (at most %zu bytes): %s",
                   sizeof(sa.sun_path) - 1, path);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_errbuf(err, errlen, "%s exists and is not a socket", path);
            return -EEXIST;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            rc = -errno;
            log_errbuf(err, errlen, "socket: %s", strerror(errno));
            return rc;
        }
        rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
        close(fd);
        if (rc == 0 || rc == -EAGAIN) {
            log_errbuf(err, errlen, "another process is listening on %s", path);
            return -EADDRINUSE;
        }
        if (rc != -ECONNREFUSED && rc != -ENOENT) {
            log_errbuf(err, errlen, "cannot check the socket %s: %s", path, strerror(-rc));
            return rc;
        }
        /* We hold the lock, so no ofad serves it: a killed one left it. */
        if (unlink(path) < 0 && errno != ENOENT) {
            rc = -errno;
            log_errbuf(err, errlen, "cannot remove the stale socket %s: %s", path, strerror(errno));
            return rc;
        }
        log_notice("stale socket removed socket=%s", path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        log_errbuf(err, errlen, "socket: %s", strerror(errno));
        return rc;
    }
    /* Sockets are created 0777 & ~umask: this gives 0660, owner and group. */
    old = umask(0117);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
    umask(old);
    if (rc < 0) {
        log_errbuf(err, errlen, "cannot bind %s: %s", path, strerror(-rc));
        goto fail;
    }
    if (stat(path, &st) < 0 || listen(fd, SOMAXCONN) < 0) {
        rc = -errno;
        log_errbuf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
        unlink(path);
        goto fail;
    }
    srv->sock_dev = st.st_dev;
    srv->sock_ino = st.st_ino;
    srv->own_socket_file = true;
    srv->listen_fd = fd;
    return 0;

fail:
    close(fd);
    return rc;
}

/*
 * What systemd passed (LISTEN_FDS, names in LISTEN_FDNAMES): the activation
 * socket, at most one listening Unix stream socket, and the descriptors of
 * its fd store (pages kept across a restart), which go to srv->handed with
 * their names. None is inherited by a child (FD_CLOEXEC).
 */
static int take_activated(struct server *srv, int n, char **names, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    socklen_t len = sizeof(sa);
    int fd, fl, rc;

    rc = fdstore_split_listen(n, names, &fd, &srv->handed);
    if (rc < 0) {
        log_errbuf(err, errlen,
                   rc == -ENOMEM ? "out of memory"
                                 : "systemd passed two listening sockets, ofad takes one");
        return rc;
    }
    if (fd < 0)
        return 0; /* only stored descriptors: ofad binds its socket itself */
    /* The tag must follow the path clients use: take it from the socket. */
    memset(&sa, 0, sizeof(sa));
    if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0 &&
        len > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0] != '\0') {
        if (strcmp(sa.sun_path, srv->socket_path) != 0)
            log_notice("socket from systemd differs from the configured one socket=%s "
                       "configured=%s",
                       sa.sun_path, srv->socket_path);
        snprintf(srv->socket_path, sizeof(srv->socket_path), "%s", sa.sun_path);
    }
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        log_errbuf(err, errlen, "cannot set up the socket passed by systemd: %s", strerror(errno));
        return -errno;
    }
    srv->listen_fd = fd;
    srv->activated = true;
    return 0;
}

/* Undoes server_start (and is the end of a run). */
static void server_release(struct server *srv)
{
    struct stat st;

    reg_fini(&srv->reg);
    if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
        srv->listen_fd = -1;
    }
    /* Only the file we bound: an operator may have put another there. */
    if (srv->own_socket_file && lstat(srv->socket_path, &st) == 0 && st.st_dev == srv->sock_dev &&
        st.st_ino == srv->sock_ino)
        unlink(srv->socket_path);
    srv->own_socket_file = false;
    if (srv->reserve_fd >= 0) {
        close(srv->reserve_fd);
        srv->reserve_fd = -1;
    }
    if (srv->lock_fd >= 0) {
        /* Removed while still held, so that whoever opens the path next
         * makes a new file (take_lock checks it locked the file at the
         * path): no lock file outlives a clean stop. */
        unlink(srv->lock_path);
        close(srv->lock_fd);
        srv->lock_fd = -1;
    }
    if (srv->tick_fd >= 0) {
        close(srv->tick_fd);
        srv->tick_fd = -1;
    }
}

/* ---- config ---- */

static void reload(struct server *srv)
{
    char err[CFG_ERR_LEN];
    struct cfg nc;
    int rc;

    if (srv->config_path == NULL) {
        log_notice("reload: no config file given, nothing to read");
        return;
    }
    cfg_init(&nc, srv->mem_size);
    rc = cfg_load_file(&nc, srv->config_path, err, sizeof(err));
    for (size_t i = 0; rc == 0 && i < srv->n_flag_arenas; i++)
        rc = cfg_put_arena(&nc, &srv->flag_arenas[i]);
    if (rc == 0)
        rc = cfg_finish(&nc, srv->uid, srv->gid, err, sizeof(err));
    if (rc == 0)
        rc = cfg_fit_nofile(&nc, srv->nofile, err, sizeof(err));
    if (rc < 0) {
        if (rc == -ENOMEM)
            snprintf(err, sizeof(err), "out of memory");
        log_err("reload refused, old config kept file=%s err=%s reason=\"%s\"", srv->config_path,
                log_errname(rc), err);
        cfg_free(&nc);
        return;
    }

    if (!srv->socket_fixed && strcmp(nc.socket, srv->cfg.socket) != 0)
        log_warning("reload: a new socket path takes effect at restart socket=%s",
                    nc.socket[0] ? nc.socket : CFG_DEFAULT_SOCKET);
    if (!srv->log_level_fixed)
        log_level = nc.log_level >= 0 ? nc.log_level : LOGP_INFO;
    if (nc.max_message != srv->cfg.max_message)
        log_notice("reload: max_message applies to new connections max_message=%u", nc.max_message);
    reg_apply(&srv->reg, &nc, &srv->cfg, NULL, 0);
    cfg_free(&srv->cfg);
    srv->cfg = nc;
    log_notice("config reloaded file=%s arenas=%u", srv->config_path, srv->reg.count);
    status_update(srv);
}

/* ---- signals and timer ---- */

static void on_signal(uv_signal_t *h, int signum)
{
    struct server *srv = h->data;

    if (signum == SIGHUP) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        /* The reload protocol of systemd (Type=notify-reload): RELOADING=1
         * with the time, then READY=1 once done, whatever the outcome. */
        notify_send(NOTIFY_WAIT_MS, "RELOADING=1\nMONOTONIC_USEC=%llu",
                    (unsigned long long)ts.tv_sec * 1000000ull +
                        (unsigned long long)ts.tv_nsec / 1000);
        log_notice("SIGHUP received, reloading");
        reload(srv);
        notify_send(NOTIFY_WAIT_MS, "READY=1\nSTATUS=%s", srv->status);
        return;
    }
    if (srv->stopping)
        return;
    srv->stopping = true;
    log_notice("shutting down signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    notify_send(NOTIFY_WAIT_MS, "STOPPING=1");
    uv_stop(&srv->loop);
}

static void on_tick(uv_poll_t *t, int status, int events)
{
    struct server *srv = t->data;
    uint64_t expirations;

    (void)status;
    (void)events;
    /* Drain the counter; a spurious wake-up (EAGAIN) has nothing to do. */
    if (read(srv->tick_fd, &expirations, sizeof(expirations)) != (ssize_t)sizeof(expirations))
        return;
    session_tick(&srv->sessions);
    persist_turn(&srv->persist);
    status_update(srv);
}

/* After the turn of the loop in which the journal reached its size: the
 * next generation starts now rather than at the tick (a second of a busy
 * loop's records would overshoot it by tens of megabytes). */
static void on_turn(uv_check_t *h)
{
    struct server *srv = h->data;

    uv_check_stop(h);
    persist_turn(&srv->persist);
}

/* From inside a commit (persist_set_wake): only asks for on_turn. */
static void state_due(void *ctx)
{
    struct server *srv = ctx;

    uv_check_start(&srv->turn, on_turn);
}

/* A segment an older ofad left that we cannot remove (someone else's, under
 * /dev/shm's sticky bit): say so; it costs memory but no page of ours can
 * ever be confused with it (pages have no names). */
static void sweep_failed(void *ctx, const char *name, int err)
{
    (void)ctx;
    log_warning("old segment not removed segment=%s err=%s", name, log_errname(err));
}

/* The registry's question at reload, answered by the sessions. */
static int64_t access_lost(void *ctx, const struct arena *a, uint32_t uid, uint32_t gid,
                           uint32_t mode)
{
    return sessions_access_lost(ctx, a, uid, gid, mode);
}

/* The one-second tick: a timerfd (see the top of this file). */
static int start_tick(struct server *srv, char *err, size_t errlen)
{
    const struct timespec period = {TICK_MS / 1000, (TICK_MS % 1000) * 1000000L};
    const struct itimerspec its = {period, period};
    int rc;

    srv->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (srv->tick_fd < 0) {
        rc = -errno;
        log_errbuf(err, errlen, "cannot create the tick timer: %s", strerror(-rc));
        return rc;
    }
    if (timerfd_settime(srv->tick_fd, 0, &its, NULL) < 0) {
        rc = -errno;
        log_errbuf(err, errlen, "cannot start the tick timer: %s", strerror(-rc));
        return rc;
    }
    return 0;
}

/* The loop and its handles: listener, signals, tick. */
static int start_loop(struct server *srv, char *err, size_t errlen)
{
    int rc;

    rc = uv_loop_init(&srv->loop);
    if (rc < 0) {
        log_errbuf(err, errlen, "cannot start the event loop: %s", uv_strerror(rc));
        return -ENOMEM;
    }
    uv_poll_init(&srv->loop, &srv->listen_poll, srv->listen_fd);
    srv->listen_poll.data = srv;
    uv_signal_init(&srv->loop, &srv->sig_term);
    uv_signal_init(&srv->loop, &srv->sig_int);
    uv_signal_init(&srv->loop, &srv->sig_hup);
    srv->sig_term.data = srv->sig_int.data = srv->sig_hup.data = srv;
    uv_poll_init(&srv->loop, &srv->tick, srv->tick_fd);
    srv->tick.data = srv;
    uv_check_init(&srv->loop, &srv->turn);
    srv->turn.data = srv;
    uv_poll_start(&srv->listen_poll, UV_READABLE, on_listen);
    uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
    uv_signal_start(&srv->sig_int, on_signal, SIGINT);
    uv_signal_start(&srv->sig_hup, on_signal, SIGHUP);
    uv_poll_start(&srv->tick, UV_READABLE, on_tick);
    return 0;
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void close_all(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, close_cb);
}

/* The state directory: made private if missing, then taken over. */
static int start_state(struct server *srv, char *err, size_t errlen)
{
    int rc;

    if (srv->state_dir[0] == '\0' && srv->cfg.state_dir[0] != '\0')
        snprintf(srv->state_dir, sizeof(srv->state_dir), "%s", srv->cfg.state_dir);
    if (srv->state_dir[0] == '\0') {
        /* Descriptors of systemd's fd store, and no state to restore them
         * into: closed and removed from the store (one line logged). */
        fdstore_drop_handed(&srv->handed);
        if (srv->discard_state)
            log_notice("--discard-state: no state directory, nothing to discard");
        return 0;
    }
    rc = private_dir_make(srv->state_dir, "state directory", err, errlen);
    if (rc < 0)
        return rc;
    rc = persist_start(&srv->persist, &srv->reg, &srv->sessions, srv->state_dir, srv->uid,
                       srv->tag, srv->discard_state, &srv->handed, err, errlen);
    if (rc < 0)
        return rc;
    persist_set_wake(&srv->persist, state_due, srv);
    srv->sessions.state_since_s = srv->persist.since_s;
    return 0;
}

int server_start(struct server *srv, char *err, size_t errlen)
{
    char **names = NULL;
    int n, rc;

    srv->listen_fd = srv->lock_fd = srv->reserve_fd = srv->tick_fd = -1;
    n = sd_listen_fds_with_names(1, &names);
    if (n < 0) {
        log_errbuf(err, errlen, "bad LISTEN_FDS from systemd: %s", strerror(-n));
        return -EINVAL;
    }
    rc = n > 0 ? take_activated(srv, n, names, err, errlen) : 0;
    for (int i = 0; names != NULL && i < n; i++)
        free(names[i]);
    free(names);
    if (rc < 0)
        return rc;
    shm_tag(srv->socket_path, srv->tag);
    reg_init(&srv->reg, srv->cfg.max_arenas, srv->cfg.max_total, srv->cfg.max_pages);
    srv->reg.daemon_uid = srv->uid;
    srv->reg.access_lost = access_lost;
    srv->reg.access_lost_ctx = &srv->sessions;

    rc = take_lock(srv, err, errlen);
    if (rc < 0) {
        if (rc == -EADDRINUSE)
            log_errbuf(err, errlen, "another ofad is serving %s", srv->socket_path);
        goto fail;
    }
    n = shm_sweep(srv->tag, sweep_failed, NULL);
    if (n < 0)
        log_warning("cannot sweep old segments err=%s", log_errname(n));
    else
        log_msg(n > 0 ? LOGP_NOTICE : LOGP_DEBUG, "old segments removed count=%d tag=%s", n,
                srv->tag);
    if (!srv->activated) {
        rc = bind_socket(srv, err, errlen);
        if (rc < 0)
            goto fail;
    }
    srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    rc = start_tick(srv, err, errlen);
    if (rc == 0)
        rc = start_loop(srv, err, errlen);
    if (rc < 0)
        goto fail;
    sessions_init(&srv->sessions, &srv->loop, &srv->reg, &srv->cfg, srv->uid);
    rc = start_state(srv, err, errlen);
    if (rc == 0)
        rc = reg_apply(&srv->reg, &srv->cfg, NULL, err, errlen);
    if (rc < 0)
        goto fail_loop;
    return 0;

fail_loop:
    sessions_fini(&srv->sessions);
    persist_stop(&srv->persist, false);
    uv_walk(&srv->loop, close_all, NULL);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    uv_loop_close(&srv->loop);
fail:
    server_release(srv);
    return rc;
}

void server_run(struct server *srv)
{
    log_notice("serving socket=%s arenas=%u max_total=%llu pid=%d%s", srv->socket_path,
               srv->reg.count, (unsigned long long)srv->reg.max_total, (int)getpid(),
               srv->activated ? " activated=1" : "");
    status_format(srv, srv->status, sizeof(srv->status));
    notify_send(NOTIFY_WAIT_MS, "READY=1\nSTATUS=%s", srv->status);

    uv_run(&srv->loop, UV_RUN_DEFAULT);

    /* The state goes to the next ofad before anything is torn down. */
    persist_stop(&srv->persist, true);
    /* Stop accepting first, so no one connects into a dying daemon. */
    uv_close((uv_handle_t *)&srv->listen_poll, close_cb);
    close(srv->listen_fd);
    srv->listen_fd = -1;
    sessions_fini(&srv->sessions);
    uv_close((uv_handle_t *)&srv->sig_term, close_cb);
    uv_close((uv_handle_t *)&srv->sig_int, close_cb);
    uv_close((uv_handle_t *)&srv->sig_hup, close_cb);
    uv_close((uv_handle_t *)&srv->tick, close_cb);
    uv_close((uv_handle_t *)&srv->turn, close_cb);
    uv_run(&srv->loop, UV_RUN_DEFAULT); /* runs the close callbacks */
    uv_loop_close(&srv->loop);
    server_release(srv);
    cfg_free(&srv->cfg);
    log_notice("stopped");
}

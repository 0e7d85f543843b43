/*
 * fdstore.c - descriptors that outlive ofad: systemd's file descriptor store,
 * or a keeper process of ofad's own.
 *
 * Owns: the connection to the store (one socket), the names this ofad knows
 * stored under systemd, the keeper process and its protocol. Called by
 * server.c (fdstore_split_listen at start, fdstore_drop_handed) and by the
 * state code (open at start, put from the thread pool right after a page is
 * made, remove from the loop, close at exit); main() runs fdstore_keeper_main
 * when its first argument is "--fd-keeper".
 *
 * Why: a page is a nameless sealed memfd. It lives while a descriptor or a
 * mapping of it does, and nothing can reopen it by name. For the pages to
 * outlive ofad (kill -9, a crash, an upgrade), another process must hold a
 * descriptor of each while no ofad runs, and hand them to the next one.
 *
 * systemd backend ($NOTIFY_SOCKET set, $OFAD_FDSTORE not "keeper"): a put is
 * one datagram "FDSTORE=1\nFDNAME=<name>\nFDPOLL=0" with the descriptor in
 * SCM_RIGHTS, a remove "FDSTOREREMOVE=1\nFDNAME=<name>". The socket is
 * non-blocking and connected, so a full notify queue is seen as POLLOUT not
 * ready: a put waits at most FDSTORE_PUT_WAIT_MS, a remove never waits.
 * systemd reads its notify socket before it reaps a dead process, so a
 * datagram queued right before a kill -9 is still taken. systemd keeps
 * several descriptors under one name, so a put of a name stored already
 * removes the old one first. The descriptors come back at the next start
 * as LISTEN_FDS with LISTEN_FDNAMES, beside the activation socket
 * (fdstore_split_listen tells them apart: the listening Unix stream socket
 * is the activation socket, everything else is stored). systemd 252 keeps
 * the store across restarts and crashes with Restart=, empties it at a full
 * stop; the unit's FileDescriptorStoreMax= bounds it.
 *
 * keeper backend (by hand, or $OFAD_FDSTORE=keeper): a small process that
 * holds the descriptors and takes no client input (the postmaster pattern).
 * ofad starts it when nothing answers on <state_dir>/keeper.sock: ofad binds
 * that SOCK_SEQPACKET socket (mode 0600; a stale file is unlinked only after
 * connect() got ECONNREFUSED), forks, calls setsid, forks again (so the
 * keeper is neither ofad's child nor in its process group or session, and a
 * kill -9 of ofad or of its group leaves it) and execs
 * "/proc/self/exe --fd-keeper STATE_DIR" with the socket as descriptor 3.
 * The keeper closes every other descriptor (stdin and stdout become
 * /dev/null, stderr too when it is a pipe, whose reader would otherwise wait
 * for the keeper's end), chdir("/"), ignores SIGINT, SIGHUP and SIGPIPE,
 * raises RLIMIT_NOFILE to its hard limit, writes <state_dir>/keeper.pid and
 * logs through log.c with lines that begin "keeper".
 *
 * Protocol: one SOCK_SEQPACKET message per request, a letter then a name
 * (1..FDSTORE_NAME_MAX bytes of [A-Za-z0-9._-], no NUL), from ofad to the
 * keeper:
 *   "P" name, with exactly one descriptor  store (replaces that name)
 *   "R" name, no descriptor               forget name (close the copy)
 *   "G", no descriptor                     hand back everything
 *   "D", no descriptor                     forget everything
 * and from the keeper, answering G: one "F" name message with its
 * descriptor per entry, then "E". Nothing else is answered: a put is
 * delivered once sendmsg returns, because the message and its descriptor
 * then sit in the keeper's receive queue, which the kernel keeps whatever
 * happens to the sender; the keeper reads all that is queued on a
 * connection before acting on its end. Every message is checked (length,
 * letter, name, the number of descriptors, MSG_TRUNC, MSG_CTRUNC); one that
 * fails is logged and dropped, every descriptor it carried closed, and the
 * keeper goes on serving. Only connections whose SO_PEERCRED uid is the
 * keeper's own are served; others are closed at once and logged. One
 * connection is served at a time: a new one (the next ofad's) replaces the
 * old one, after everything queued on the old one has been read.
 *
 * The keeper exits, closing all it holds (which releases the memory of
 * every page no one else maps), when the state directory is removed or
 * moved away or keeper.sock is deleted (inotify), so removing the state
 * directory is a full clean-up; it exits on SIGTERM too, and then removes
 * keeper.pid and keeper.sock itself.
 *
 * Security: the state directory is ofad's and mode 0700, the socket 0600,
 * and the keeper checks the peer's uid: only ofad's user reaches the
 * descriptors (see docs/SECURITY.md).
 */
#include "fdstore.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define KEEPER_SOCK    "keeper.sock"
#define KEEPER_PID     "keeper.pid"
#define KEEPER_ARG     "--fd-keeper"
#define OPEN_WAIT_MS   5000 /* longest silence of the keeper while it hands back */
#define KEEPER_SEND_MS 5000 /* longest the keeper waits for room to answer */
#define MSG_MAX        (1 + FDSTORE_NAME_MAX)
#define FDS_MAX        4 /* descriptors read per message (extra ones are dropped) */

enum { KIND_SYSTEMD, KIND_KEEPER };

bool fdstore_name_valid(const char *name)
{
    size_t n = strnlen(name, FDSTORE_NAME_MAX + 1);

    if (n == 0 || n > FDSTORE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void close_fds(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* ---- a table of names (open addressing, linear probing) ----
 * The keeper's name -> descriptor map, and under systemd the names this ofad
 * knows stored. An empty slot has name[0] == '\0'. */

struct tab {
    struct fdstore_ent *v;
    size_t cap; /* a power of two, or 0 */
    size_t n;
};

static size_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (size_t)(h ^ (h >> 32));
}

static struct fdstore_ent *tab_find(const struct tab *t, const char *name)
{
    size_t mask = t->cap - 1;

    if (t->cap == 0)
        return NULL;
    for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask) {
        if (t->v[i].name[0] == '\0')
            return NULL;
        if (strcmp(t->v[i].name, name) == 0)
            return &t->v[i];
    }
}

static int tab_grow(struct tab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    struct fdstore_ent *v = calloc(cap, sizeof(*v));

    if (v == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        size_t j;
        if (t->v[i].name[0] == '\0')
            continue;
        for (j = name_hash(t->v[i].name) & (cap - 1); v[j].name[0] != '\0'; j = (j + 1) & (cap - 1))
            ;
        v[j] = t->v[i];
    }
    free(t->v);
    t->v = v;
    t->cap = cap;
    return 0;
}

/* Sets name to fd. *old: the descriptor it replaces, or -1 when the name is
 * new. Returns 0 or -ENOMEM. */
static int tab_put(struct tab *t, const char *name, int fd, int *old)
{
    struct fdstore_ent *e = tab_find(t, name);
    size_t i;

    if (e != NULL) {
        *old = e->fd;
        e->fd = fd;
        return 0;
    }
    *old = -1;
    if ((t->n + 1) * 4 > t->cap * 3 && tab_grow(t) < 0)
        return -ENOMEM;
    for (i = name_hash(name) & (t->cap - 1); t->v[i].name[0] != '\0'; i = (i + 1) & (t->cap - 1))
        ;
    snprintf(t->v[i].name, sizeof(t->v[i].name), "%s", name);
    t->v[i].fd = fd;
    t->n++;
    return 0;
}

/* Removes name; returns its descriptor, or -1 when it is not there. The
 * entries after it in its run move back, so that no search stops early. */
static int tab_del(struct tab *t, const char *name)
{
    struct fdstore_ent *e = tab_find(t, name);
    size_t mask = t->cap - 1, i, j;
    int fd;

    if (e == NULL)
        return -1;
    fd = e->fd;
    i = (size_t)(e - t->v);
    for (j = (i + 1) & mask; t->v[j].name[0] != '\0'; j = (j + 1) & mask) {
        size_t k = name_hash(t->v[j].name) & mask;
        /* v[j] may move to the hole at i unless its home k lies in (i, j]. */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        t->v[i] = t->v[j];
        i = j;
    }
    t->v[i].name[0] = '\0';
    t->n--;
    return fd;
}

static void tab_free(struct tab *t)
{
    free(t->v);
    memset(t, 0, sizeof(*t));
}

/* ---- sending ---- */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Sends len bytes of buf (and fd, unless it is -1) on the non-blocking,
 * connected socket sock, waiting at most wait_ms for room (0: no wait).
 * Returns 0, -EAGAIN (no room and no wait), -ETIMEDOUT, -errno of sendmsg.
 */
static int send_msg(int sock, const void *buf, size_t len, int fd, int wait_ms)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    int64_t deadline = now_ms() + wait_ms;

    if (fd >= 0) {
        struct cmsghdr *c;
        memset(&u, 0, sizeof(u));
        m.msg_control = u.buf;
        m.msg_controllen = sizeof(u.buf);
        c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    for (;;) {
        struct pollfd p = {.fd = sock, .events = POLLOUT};
        int64_t left;

        if (sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        if (wait_ms <= 0)
            return -EAGAIN;
        left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            return -errno;
    }
}

/*
 * Reads one message queued on sock, without waiting, into buf (MSG_MAX + 1
 * bytes, NUL-terminated after what fits) and its descriptors into fds (at
 * most FDS_MAX, close-on-exec; the kernel drops more and sets MSG_CTRUNC).
 * *flags: the message's MSG_TRUNC and MSG_CTRUNC. Returns its length (0:
 * the end of the connection), -EAGAIN (nothing queued), -errno.
 */
static ssize_t recv_msg(int sock, char *buf, int *fds, size_t *nfds, int *flags)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * FDS_MAX)];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = buf, .iov_len = MSG_MAX + 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    ssize_t len;

    *nfds = 0;
    do
        len = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    while (len < 0 && errno == EINTR);
    if (len < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && *nfds < FDS_MAX; i++)
            memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    buf[len <= MSG_MAX ? len : MSG_MAX] = '\0';
    *flags = m.msg_flags & (MSG_TRUNC | MSG_CTRUNC);
    return len;
}

/* ---- systemd ---- */

int fdstore_notify_socket(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socklen_t salen;
    size_t n;
    int fd;

    if (path == NULL || (path[0] != '/' && path[0] != '@'))
        return -ENOENT;
    n = strlen(path);
    if (n < 2 || n >= sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract: no terminating NUL counted */
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, salen) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* "FDSTOREREMOVE=1\nFDNAME=<name>" on sock, never waiting. name is checked
 * by the caller (systemd refuses names with control characters or ':'). */
static int systemd_remove(int sock, const char *name, int wait_ms)
{
    char msg[64 + 256];
    int n = snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);

    if (n < 0 || (size_t)n >= sizeof(msg))
        return -EINVAL;
    return send_msg(sock, msg, (size_t)n, -1, wait_ms);
}

/* Asks systemd to forget the n names of v (no store open). */
static void systemd_forget(const struct fdstore_ent *v, size_t n)
{
    int sock = n > 0 ? fdstore_notify_socket() : -ENOENT;

    for (size_t i = 0; sock >= 0 && i < n; i++)
        (void)systemd_remove(sock, v[i].name, FDSTORE_PUT_WAIT_MS);
    if (sock >= 0)
        close(sock);
}

int fdstore_split_listen(int n, char **names, int *listen_fd, struct fdstore_handed *out)
{
    struct fdstore_ent *v;
    int lfd = -1;

    *listen_fd = -1;
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
            continue;
        if (lfd >= 0)
            return -EINVAL;
        lfd = fd;
    }
    if (n <= 0)
        return 0;
    v = realloc(out->v, (out->n + (size_t)n) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    out->v = v;
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        const char *name = names != NULL && names[i] != NULL ? names[i] : "";

        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        if (fd == lfd)
            continue;
        if (!fdstore_name_valid(name)) {
            int sock = fdstore_notify_socket();
            log_warning("descriptor from systemd with a name ofad does not store, closed "
                        "fd=%d name=\"%.64s\"",
                        fd, name);
            /* Gone from systemd's store too, when systemd can hear the name. */
            if (sock >= 0) {
                if (name[0] != '\0' && strlen(name) <= 255 && strpbrk(name, "\n:") == NULL)
                    (void)systemd_remove(sock, name, FDSTORE_PUT_WAIT_MS);
                close(sock);
            }
            close(fd);
            continue;
        }
        snprintf(v[out->n].name, sizeof(v[out->n].name), "%s", name);
        v[out->n].fd = fd;
        out->n++;
    }
    *listen_fd = lfd;
    return 0;
}

void fdstore_drop_handed(struct fdstore_handed *h)
{
    if (h == NULL)
        return;
    if (h->n > 0) {
        log_notice("descriptors from systemd's fd store dropped, not restored count=%zu", h->n);
        systemd_forget(h->v, h->n);
        for (size_t i = 0; i < h->n; i++)
            close(h->v[i].fd);
    }
    free(h->v);
    h->v = NULL;
    h->n = 0;
}

/* ---- the store ---- */

struct fdstore {
    int kind;
    int sock;                  /* notify socket, or the connection to the keeper */
    pthread_mutex_t lock;      /* names, under systemd (puts come from the pool) */
    struct tab names;          /* systemd: names stored (handed back, or put since) */
    struct fdstore_ent *taken; /* handed back at open, until fdstore_taken */
    size_t n_taken;
    int lost; /* the keeper's end is gone (said once in the log) */
    /* systemd: removals that found the notify queue full, sent later by a
     * put (which may wait), discard or close. Under lock. */
    char (*pending)[FDSTORE_NAME_MAX + 1];
    size_t n_pending, cap_pending;
};

bool fdstore_lost(struct fdstore *s)
{
    struct pollfd pf = {.fd = s->sock, .events = POLLIN};

    if (s->kind != KIND_KEEPER)
        return false;
    if (__atomic_load_n(&s->lost, __ATOMIC_RELAXED))
        return true;
    /* The keeper never writes to this connection unasked: anything to
     * read, or a hang-up, is its end going away. */
    if (poll(&pf, 1, 0) == 1 && (pf.revents & (POLLIN | POLLHUP | POLLERR))) {
        if (!__atomic_exchange_n(&s->lost, 1, __ATOMIC_RELAXED))
            log_err("fd keeper gone: its pages are no longer kept until the store is opened "
                    "again");
        return true;
    }
    return false;
}

const char *fdstore_kind(const struct fdstore *s)
{
    return s->kind == KIND_SYSTEMD ? "systemd" : "keeper";
}

void fdstore_taken(struct fdstore *s, struct fdstore_ent **v, size_t *n)
{
    *v = s->taken;
    *n = s->n_taken;
    s->taken = NULL;
    s->n_taken = 0;
}

static int open_systemd(struct fdstore *s, struct fdstore_handed *handed, char *err, size_t errlen)
{
    int rc = fdstore_notify_socket();

    if (rc < 0) {
        log_errbuf(err, errlen, "cannot reach systemd's notify socket %s: %s",
                   getenv("NOTIFY_SOCKET") ? getenv("NOTIFY_SOCKET") : "(unset)", strerror(-rc));
        return rc;
    }
    s->sock = rc;
    for (size_t i = 0; handed != NULL && i < handed->n; i++) {
        int old;
        if (tab_put(&s->names, handed->v[i].name, 0, &old) < 0) {
            log_errbuf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    if (handed != NULL) {
        s->taken = handed->v;
        s->n_taken = handed->n;
        handed->v = NULL;
        handed->n = 0;
    }
    return 0;
}

/* A blocking connection to the keeper at path, made non-blocking once
 * established and checked to be served by our own uid. Returns the socket,
 * -ENOENT or -ECONNREFUSED (no keeper), -EPERM (another uid's), -errno. */
static int keeper_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {FDSTORE_PUT_WAIT_MS / 1000, 0};
    struct ucred cr;
    socklen_t len = sizeof(cr);
    int fd, rc;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* connect() waits for room in a full backlog: not for ever. */
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = errno == EINPROGRESS || errno == EAGAIN ? -ETIMEDOUT : -errno;
        goto fail;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
        rc = -errno;
        goto fail;
    }
    if (cr.uid != geteuid()) {
        rc = -EPERM;
        goto fail;
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        rc = -errno;
        goto fail;
    }
    return fd;

fail:
    close(fd);
    return rc;
}

/*
 * Starts a keeper on path: binds and listens (0600), then forks, setsid,
 * forks again and execs ourselves as the keeper with the socket as fd 3.
 * Returns 0 once the keeper process exists (it may not have run yet: the
 * socket queues connections meanwhile), -EADDRINUSE (someone bound path
 * first), -errno.
 */
static int keeper_spawn(const char *state_dir, const char *path, char *err, size_t errlen)
{
    char *argv[] = {"ofad", KEEPER_ARG, (char *)state_dir, NULL};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, rc, status;
    mode_t old;
    pid_t pid;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        log_errbuf(err, errlen, "cannot make the keeper's socket: %s", strerror(-rc));
        return rc;
    }
    old = umask(0177);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
    umask(old);
    if (rc == 0 && listen(fd, 16) < 0) {
        rc = -errno;
        unlink(path);
    }
    if (rc < 0) {
        log_errbuf(err, errlen, "cannot bind the keeper's socket %s: %s", path, strerror(-rc));
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        rc = -errno;
        unlink(path);
        log_errbuf(err, errlen, "cannot start the keeper: fork: %s", strerror(-rc));
        goto out;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls from here: ofad may have threads. */
        pid_t k;
        if (setsid() < 0)
            _exit(1);
        k = fork();
        if (k != 0)
            _exit(k < 0 ? 1 : 0);
        if (fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(fd, 3) < 0)
            _exit(1);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        rc = -ECHILD;
        unlink(path);
        log_errbuf(err, errlen, "cannot start the keeper: its first child failed");
        goto out;
    }
    log_notice("fd keeper started socket=%s", path);
out:
    /* Closed before anyone connects: a keeper that failed to start leaves
     * no listener, and the connect sees ECONNREFUSED, not a silent queue. */
    close(fd);
    return rc;
}

/* Asks the keeper for everything it holds, into s->taken. */
static int keeper_get_all(struct fdstore *s, char *err, size_t errlen)
{
    size_t cap = 0;
    int rc;

    rc = send_msg(s->sock, "G", 1, -1, FDSTORE_PUT_WAIT_MS);
    if (rc < 0) {
        log_errbuf(err, errlen, "cannot ask the keeper for its descriptors: %s", strerror(-rc));
        return rc;
    }
    for (;;) {
        struct pollfd p = {.fd = s->sock, .events = POLLIN};
        char buf[MSG_MAX + 1];
        int fds[FDS_MAX], flags;
        size_t nfds;
        ssize_t len;

        rc = poll(&p, 1, OPEN_WAIT_MS);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            rc = rc == 0 ? -ETIMEDOUT : -errno;
            log_errbuf(err, errlen, "the keeper did not hand back its descriptors: %s",
                       strerror(-rc));
            return rc;
        }
        len = recv_msg(s->sock, buf, fds, &nfds, &flags);
        if (len == -EAGAIN)
            continue;
        if (len <= 0) {
            close_fds(fds, nfds);
            rc = len == 0 ? -EPIPE : (int)len;
            log_errbuf(err, errlen, "the keeper did not hand back its descriptors: %s",
                       strerror(-rc));
            return rc;
        }
        if (len == 1 && buf[0] == 'E' && nfds == 0 && flags == 0)
            return 0;
        if (buf[0] != 'F' || len < 2 || nfds != 1 || strlen(buf) != (size_t)len ||
            !fdstore_name_valid(buf + 1) || flags != 0) {
            close_fds(fds, nfds);
            log_errbuf(err, errlen, "the keeper's answer is malformed");
            return -EINVAL;
        }
        if (s->n_taken == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct fdstore_ent *v = realloc(s->taken, ncap * sizeof(*v));
            if (v == NULL) {
                close(fds[0]);
                log_errbuf(err, errlen, "out of memory");
                return -ENOMEM;
            }
            s->taken = v;
            cap = ncap;
        }
        snprintf(s->taken[s->n_taken].name, sizeof(s->taken[0].name), "%s", buf + 1);
        s->taken[s->n_taken++].fd = fds[0];
    }
}

static int open_keeper(struct fdstore *s, const char *state_dir, char *err, size_t errlen)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int rc;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, KEEPER_SOCK) >= sizeof(path)) {
        log_errbuf(err, errlen, "the state directory's path is too long for %s: %s", KEEPER_SOCK,
                   state_dir);
        return -ENAMETOOLONG;
    }
    for (int tries = 0;; tries++) {
        rc = keeper_connect(path);
        if (rc >= 0)
            break;
        if ((rc != -ECONNREFUSED && rc != -ENOENT) || tries == 2) {
            log_errbuf(err, errlen,
                       rc == -EPERM ? "%s is served by another user"
                                    : "cannot reach the keeper at %s: %s",
                       path, strerror(-rc));
            return rc;
        }
        /* Refused: nobody listens, the file is a dead keeper's. */
        if (rc == -ECONNREFUSED && unlink(path) < 0 && errno != ENOENT) {
            rc = -errno;
            log_errbuf(err, errlen, "cannot remove the stale %s: %s", path, strerror(-rc));
            return rc;
        }
        rc = keeper_spawn(state_dir, path, err, errlen);
        if (rc < 0 && rc != -EADDRINUSE)
            return rc;
    }
    s->sock = rc;
    return keeper_get_all(s, err, errlen);
}

int fdstore_open(struct fdstore **out, const char *state_dir, struct fdstore_handed *handed,
                 char *err, size_t errlen)
{
    const char *want = getenv("OFAD_FDSTORE"), *notify = getenv("NOTIFY_SOCKET");
    struct fdstore *s;
    int rc;

    *out = NULL;
    if (want != NULL && want[0] != '\0' && strcmp(want, "keeper") != 0 &&
        strcmp(want, "systemd") != 0) {
        log_errbuf(err, errlen, "bad $OFAD_FDSTORE '%s' (keeper or systemd)", want);
        return -EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        log_errbuf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->sock = -1;
    pthread_mutex_init(&s->lock, NULL);
    if (want != NULL && strcmp(want, "systemd") == 0)
        s->kind = KIND_SYSTEMD;
    else if (want != NULL && strcmp(want, "keeper") == 0)
        s->kind = KIND_KEEPER;
    else
        s->kind =
            notify != NULL && (notify[0] == '/' || notify[0] == '@') ? KIND_SYSTEMD : KIND_KEEPER;
    if (s->kind == KIND_SYSTEMD) {
        rc = open_systemd(s, handed, err, errlen);
    } else {
        /* systemd's store, if any, is not ours to restore from now. */
        fdstore_drop_handed(handed);
        rc = open_keeper(s, state_dir, err, errlen);
    }
    if (rc < 0) {
        fdstore_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Remembers a removal to send later (under systemd). Without memory it is
 * left to the next start, which removes what it does not claim. */
static void pending_add(struct fdstore *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    if (s->n_pending == s->cap_pending) {
        size_t cap = s->cap_pending ? s->cap_pending * 2 : 16;
        void *v = realloc(s->pending, cap * sizeof(*s->pending));
        if (v != NULL) {
            s->pending = v;
            s->cap_pending = cap;
        }
    }
    if (s->n_pending < s->cap_pending)
        snprintf(s->pending[s->n_pending++], sizeof(s->pending[0]), "%s", name);
    pthread_mutex_unlock(&s->lock);
}

/* Sends the removals left pending, waiting for room (not on the loop
 * thread). Stops at the first that cannot go; it and the rest stay pending. */
static void pending_flush(struct fdstore *s)
{
    char(*v)[FDSTORE_NAME_MAX + 1];
    size_t n, i;

    pthread_mutex_lock(&s->lock);
    v = s->pending;
    n = s->n_pending;
    s->pending = NULL;
    s->n_pending = s->cap_pending = 0;
    pthread_mutex_unlock(&s->lock);
    for (i = 0; i < n; i++) {
        if (systemd_remove(s->sock, v[i], FDSTORE_PUT_WAIT_MS) < 0)
            break;
        pthread_mutex_lock(&s->lock);
        (void)tab_del(&s->names, v[i]);
        pthread_mutex_unlock(&s->lock);
    }
    for (; i < n; i++)
        pending_add(s, v[i]);
    free(v);
}

/* A send to the keeper failed with rc: when the keeper is gone (killed; it
 * never leaves a live ofad otherwise, except when the state directory is
 * removed), says so once, and -EPIPE. */
static int keeper_sent(struct fdstore *s, int rc)
{
    if (rc != -EPIPE && rc != -ECONNRESET && rc != -ENOTCONN)
        return rc;
    if (!__atomic_exchange_n(&s->lost, 1, __ATOMIC_RELAXED))
        log_err("fd keeper gone: its pages are no longer kept until the store is opened "
                "again");
    return -EPIPE;
}

int fdstore_put(struct fdstore *s, const char *name, int fd)
{
    char msg[64 + FDSTORE_NAME_MAX];
    int rc, old = -1, n;

    if (!fdstore_name_valid(name) || fd < 0)
        return -EINVAL;
    if (s->kind == KIND_KEEPER) {
        n = snprintf(msg, sizeof(msg), "P%s", name);
        return keeper_sent(s, send_msg(s->sock, msg, (size_t)n, fd, FDSTORE_PUT_WAIT_MS));
    }
    pending_flush(s);
    /* The table's descriptors are 0 under systemd: old is -1 for a new name. */
    pthread_mutex_lock(&s->lock);
    rc = tab_put(&s->names, name, 0, &old);
    pthread_mutex_unlock(&s->lock);
    if (rc < 0)
        return rc;
    /* systemd would keep both under the name: the old one goes first. */
    n = snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
    if (old != -1)
        rc = send_msg(s->sock, msg, (size_t)n, -1, FDSTORE_PUT_WAIT_MS);
    n = snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s\nFDPOLL=0", name);
    if (rc == 0)
        rc = send_msg(s->sock, msg, (size_t)n, fd, FDSTORE_PUT_WAIT_MS);
    if (rc < 0 && old == -1) {
        pthread_mutex_lock(&s->lock);
        (void)tab_del(&s->names, name);
        pthread_mutex_unlock(&s->lock);
    }
    return rc;
}

int fdstore_remove(struct fdstore *s, const char *name)
{
    char msg[1 + FDSTORE_NAME_MAX];
    int rc;

    if (!fdstore_name_valid(name))
        return -EINVAL;
    if (s->kind == KIND_KEEPER) {
        int n = snprintf(msg, sizeof(msg), "R%s", name);
        return keeper_sent(s, send_msg(s->sock, msg, (size_t)n, -1, 0));
    }
    rc = systemd_remove(s->sock, name, 0);
    if (rc == 0) {
        pthread_mutex_lock(&s->lock);
        (void)tab_del(&s->names, name);
        pthread_mutex_unlock(&s->lock);
    } else if (rc == -EAGAIN) {
        pending_add(s, name);
    }
    return rc;
}

int fdstore_discard(struct fdstore *s)
{
    int rc = 0;

    if (s->kind == KIND_KEEPER)
        return keeper_sent(s, send_msg(s->sock, "D", 1, -1, FDSTORE_PUT_WAIT_MS));
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->names.cap && rc == 0; i++) {
        char msg[64 + FDSTORE_NAME_MAX];
        int n;
        if (s->names.v[i].name[0] == '\0')
            continue;
        n = snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", s->names.v[i].name);
        rc = send_msg(s->sock, msg, (size_t)n, -1, FDSTORE_PUT_WAIT_MS);
    }
    if (rc == 0) {
        tab_free(&s->names);
        s->n_pending = 0; /* every name went */
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void fdstore_close(struct fdstore *s)
{
    if (s == NULL)
        return;
    if (s->kind == KIND_SYSTEMD && s->sock >= 0)
        pending_flush(s);
    if (s->sock >= 0)
        close(s->sock);
    for (size_t i = 0; i < s->n_taken; i++)
        close(s->taken[i].fd);
    free(s->taken);
    free(s->pending);
    tab_free(&s->names);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- the keeper process ---- */

struct keeper {
    struct tab held; /* name -> the descriptor held */
    int conn;        /* the connection served, or -1 */
};

/* Answers G: every entry, then "E". Returns 0 or -errno (the connection
 * is then dropped; the keeper holds what it held). */
static int keeper_hand_back(struct keeper *k)
{
    char msg[MSG_MAX];
    int rc;

    for (size_t i = 0; i < k->held.cap; i++) {
        const struct fdstore_ent *e = &k->held.v[i];
        int n;

        if (e->name[0] == '\0')
            continue;
        n = snprintf(msg, sizeof(msg), "F%s", e->name);
        rc = send_msg(k->conn, msg, (size_t)n, e->fd, KEEPER_SEND_MS);
        if (rc < 0)
            return rc;
    }
    return send_msg(k->conn, "E", 1, -1, KEEPER_SEND_MS);
}

/* Why a message is refused, or NULL when it is well formed. */
static const char *keeper_check(const char *buf, ssize_t len, size_t nfds, int flags)
{
    if (flags & MSG_TRUNC)
        return "too long";
    if (flags & MSG_CTRUNC)
        return "too many descriptors";
    switch (buf[0]) {
    case 'P':
    case 'R':
        if (len < 2 || strlen(buf) != (size_t)len || !fdstore_name_valid(buf + 1))
            return "bad name";
        if (nfds != (buf[0] == 'P' ? 1u : 0u))
            return buf[0] == 'P' ? "a put needs exactly one descriptor"
                                 : "descriptors where none belong";
        return NULL;
    case 'G':
    case 'D':
        if (len != 1)
            return "bad length";
        return nfds != 0 ? "descriptors where none belong" : NULL;
    default:
        return "unknown request";
    }
}

/*
 * Reads and acts on every message queued on the connection. Returns 0 once
 * the queue is empty (EAGAIN), 1 at its end or when it failed (the caller
 * closes it).
 */
static int keeper_serve(struct keeper *k)
{
    for (;;) {
        char buf[MSG_MAX + 1];
        int fds[FDS_MAX], flags, old;
        const char *why;
        size_t nfds;
        ssize_t len;

        len = recv_msg(k->conn, buf, fds, &nfds, &flags);
        if (len == -EAGAIN)
            return 0;
        if (len <= 0) {
            /* The end (a zero-length message looks the same: it is dropped
             * with the connection). */
            close_fds(fds, nfds);
            if (len < 0)
                log_warning("keeper: connection failed err=%s", log_errname((int)len));
            return 1;
        }
        why = keeper_check(buf, len, nfds, flags);
        if (why != NULL) {
            log_warning("keeper: request refused reason=\"%s\" len=%zd fds=%zu", why, len, nfds);
            close_fds(fds, nfds);
            continue;
        }
        switch (buf[0]) {
        case 'P':
            if (tab_put(&k->held, buf + 1, fds[0], &old) < 0) {
                log_err("keeper: out of memory, descriptor not kept name=%s", buf + 1);
                close(fds[0]);
            } else if (old >= 0) {
                close(old);
            }
            break;
        case 'R':
            old = tab_del(&k->held, buf + 1);
            if (old >= 0)
                close(old);
            break;
        case 'G':
            old = keeper_hand_back(k);
            if (old < 0) {
                log_warning("keeper: cannot hand back the descriptors err=%s", log_errname(old));
                return 1;
            }
            log_info("keeper: descriptors handed back count=%zu", k->held.n);
            break;
        case 'D':
            log_notice("keeper: every descriptor discarded count=%zu", k->held.n);
            for (size_t i = 0; i < k->held.cap; i++)
                if (k->held.v[i].name[0] != '\0')
                    close(k->held.v[i].fd);
            tab_free(&k->held);
            break;
        }
    }
}

static void keeper_drop_conn(struct keeper *k)
{
    if (k->conn >= 0)
        close(k->conn);
    k->conn = -1;
}

/* A new connection: served when it is our own uid's, after everything the
 * one it replaces had queued. */
static void keeper_accept(struct keeper *k, int lfd)
{
    struct timeval tv = {KEEPER_SEND_MS / 1000, 0};
    struct ucred cr;
    socklen_t len = sizeof(cr);
    int fd;

    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            log_warning("keeper: accept failed err=%s", log_errname(-errno));
        return;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.uid != geteuid()) {
        log_warning("keeper: connection of another user refused uid=%u pid=%d", (unsigned)cr.uid,
                    (int)cr.pid);
        close(fd);
        return;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (k->conn >= 0) {
        (void)keeper_serve(k);
        keeper_drop_conn(k);
    }
    k->conn = fd;
}

/* Stdin and stdout to /dev/null; stderr too when it is a pipe or FIFO, whose
 * reader would wait for the keeper to end. Everything else closed. */
static void keeper_fds(void)
{
    struct stat st;
    int null = open("/dev/null", O_RDWR);

    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (fstat(STDERR_FILENO, &st) < 0 || S_ISFIFO(st.st_mode))
            dup2(null, STDERR_FILENO);
        if (null > 3)
            close(null);
    }
    if (close_range(4, ~0u, 0) < 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = 4; fd < (max > 0 ? max : 1024); fd++)
            close((int)fd);
    }
}

/* Writes keeper.pid (through a temporary file, so no reader sees half). */
static int keeper_write_pid(const char *dir)
{
    char tmp[PATH_MAX], path[PATH_MAX], line[32];
    int fd, n, rc = 0;

    snprintf(tmp, sizeof(tmp), "%s/.%s.%d", dir, KEEPER_PID, (int)getpid());
    snprintf(path, sizeof(path), "%s/%s", dir, KEEPER_PID);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
    if (write(fd, line, (size_t)n) != n || rename(tmp, path) < 0) {
        rc = errno ? -errno : -EIO;
        unlink(tmp);
    }
    close(fd);
    return rc;
}

/* Reads the inotify events: true when the keeper must go (the directory or
 * its socket is gone). */
static bool keeper_gone(int ino)
{
    union {
        char buf[4096];
        struct inotify_event align;
    } u;
    ssize_t n;

    while ((n = read(ino, u.buf, sizeof(u.buf))) > 0) {
        for (char *p = u.buf; p < u.buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT))
                return true;
            if ((ev->mask & (IN_DELETE | IN_MOVED_FROM)) && ev->len > 0 &&
                strcmp(ev->name, KEEPER_SOCK) == 0)
                return true;
            p += sizeof(*ev) + ev->len;
        }
    }
    return false;
}

int fdstore_keeper_main(int argc, char **argv)
{
    struct keeper k = {.conn = -1};
    char sock_path[PATH_MAX], pid_path[PATH_MAX];
    const char *dir;
    struct rlimit rl;
    struct stat st;
    sigset_t term;
    int ino = -1, sfd = -1, rc = 1;
    bool tidy = true; /* remove keeper.pid and keeper.sock at exit */

    if (argc != 3 || strcmp(argv[1], KEEPER_ARG) != 0 || argv[2][0] != '/') {
        fprintf(stderr, "ofad: %s is started by ofad itself\n", KEEPER_ARG);
        return 2;
    }
    dir = argv[2];
    keeper_fds();
    if (sd_is_socket_unix(3, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
        log_err("keeper: descriptor 3 is not a listening socket, exiting");
        return 2;
    }
    snprintf(sock_path, sizeof(sock_path), "%s/%s", dir, KEEPER_SOCK);
    snprintf(pid_path, sizeof(pid_path), "%s/%s", dir, KEEPER_PID);
    (void)fcntl(3, F_SETFD, FD_CLOEXEC);
    (void)fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK);
    if (chdir("/") < 0)
        log_warning("keeper: chdir / failed err=%s", log_errname(-errno));
    /* Signals: ofad's terminal or group is not ours to die with; SIGTERM
     * is a clean exit, read in the loop. The mask inherited from ofad's
     * thread is reset. */
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_SETMASK, &term, NULL);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    sfd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);
    ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (sfd < 0 || ino < 0) {
        log_err("keeper: cannot watch signals or the state directory err=%s", log_errname(-errno));
        goto out;
    }
    if (inotify_add_watch(ino, dir,
                          IN_DELETE_SELF | IN_MOVE_SELF | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR |
                              IN_DONT_FOLLOW) < 0) {
        log_err("keeper: cannot watch the state directory dir=%s err=%s", dir, log_errname(-errno));
        tidy = false;
        goto out;
    }
    /* Gone before the watch began: nobody will reach this keeper. */
    if (lstat(sock_path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        log_notice("keeper: its socket is gone before it started, exiting socket=%s", sock_path);
        tidy = false;
        goto out;
    }
    if (keeper_write_pid(dir) < 0)
        log_warning("keeper: cannot write %s err=%s", pid_path, log_errname(-errno));
    log_notice("keeper: started pid=%d dir=%s", (int)getpid(), dir);

    for (;;) {
        struct pollfd p[4] = {
            {.fd = 3, .events = POLLIN},
            {.fd = ino, .events = POLLIN},
            {.fd = sfd, .events = POLLIN},
            {.fd = k.conn, .events = POLLIN},
        };

        if (poll(p, k.conn >= 0 ? 4 : 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_err("keeper: poll failed err=%s", log_errname(-errno));
            break;
        }
        /* Whatever a connection had queued is read before anything else. */
        if (k.conn >= 0 && p[3].revents != 0 && keeper_serve(&k) != 0)
            keeper_drop_conn(&k);
        if (p[0].revents & POLLIN)
            keeper_accept(&k, 3);
        if ((p[1].revents & POLLIN) && keeper_gone(ino)) {
            log_notice("keeper: state directory or socket gone, exiting count=%zu dir=%s", k.held.n,
                       dir);
            tidy = false;
            rc = 0;
            break;
        }
        if (p[2].revents & POLLIN) {
            log_notice("keeper: SIGTERM, exiting count=%zu", k.held.n);
            rc = 0;
            break;
        }
    }
out:
    if (tidy) {
        unlink(pid_path);
        unlink(sock_path);
    }
    keeper_drop_conn(&k);
    for (size_t i = 0; i < k.held.cap; i++)
        if (k.held.v[i].name[0] != '\0')
            close(k.held.v[i].fd);
    tab_free(&k.held);
    if (ino >= 0)
        close(ino);
    if (sfd >= 0)
        close(sfd);
    close(3);
    return rc;
}

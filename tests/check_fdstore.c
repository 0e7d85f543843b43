/*
 * check_fdstore.c - descriptors that outlive ofad (daemon/fdstore.c).
 *
 * keeper: a real keeper process, started by fdstore_open as ofad starts it
 * (this program execs itself with --fd-keeper, as ofad does), in a fresh
 * directory: page descriptors put, the store closed, opened again as the
 * next ofad would, and the same memory found (same inode, same bytes); a
 * put right before a kill -9 of its process is kept; remove and discard; a
 * real nobody process cannot reach the descriptors; hostile messages are
 * refused, their descriptors closed, and the keeper goes on serving;
 * removing the directory ends the keeper.
 * systemd: this test plays the manager: a datagram NOTIFY_SOCKET that
 * receives what fdstore_put and fdstore_remove send, and the hand-back at
 * the next start (LISTEN_FDS with LISTEN_FDNAMES, beside the activation
 * socket) split as server.c splits it.
 * End to end, a real ofad --state-dir: restarted by the test playing systemd
 * (its fd store handed back with the socket), and killed -9 and started
 * again by hand (the keeper): a kept block comes back with its bytes.
 *
 * Every case runs in a directory of its own, removed by the runner whatever
 * the outcome, and the keeper is waited for until it has exited.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "fdstore.h"
#include "harness.h"
#include "ofaclient.h"
#include "runner.h"

#define PAGE_LEN 8192
#define WAIT_MS  10000 /* a bound for a keeper that never exits: a hang, not a timing */

static char dir[64]; /* this case's state directory (made by the runner) */
static char err[256];

/* ---- helpers ---- */

/* A memfd of PAGE_LEN bytes, byte i = seed + i. */
static int make_page(unsigned seed)
{
    unsigned char buf[PAGE_LEN];
    int fd = memfd_create("check_fdstore", MFD_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(seed + i);
    ck_assert_int_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    return fd;
}

/* true when fd is a page made by make_page(seed): its bytes, read through a
 * mapping. */
static bool page_has(int fd, unsigned seed)
{
    struct stat st;
    unsigned char *p;
    bool ok = true;

    if (fstat(fd, &st) < 0 || st.st_size != PAGE_LEN)
        return false;
    p = mmap(NULL, PAGE_LEN, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return false;
    for (size_t i = 0; i < PAGE_LEN && ok; i++)
        ok = p[i] == (unsigned char)(seed + i);
    munmap(p, PAGE_LEN);
    return ok;
}

static bool same_file(int a, int b)
{
    struct stat x, y;

    return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* The entry named name in v, or NULL. */
static struct fdstore_ent *find(struct fdstore_ent *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

static void free_taken(struct fdstore_ent *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(v[i].fd);
    free(v);
}

/* Opens the keeper store of dir; *v, *n what it handed back. */
static struct fdstore *open_keeper(struct fdstore_ent **v, size_t *n)
{
    struct fdstore_handed none = {NULL, 0};
    struct fdstore *s;

    setenv("OFAD_FDSTORE", "keeper", 1);
    ck_assert_msg(fdstore_open(&s, dir, &none, err, sizeof(err)) == 0, "open: %s", err);
    ck_assert_str_eq(fdstore_kind(s), "keeper");
    fdstore_taken(s, v, n);
    return s;
}

/* The pid in keeper.pid of the directory sub of dir ("" for dir), or -1. */
static pid_t keeper_pid_in(const char *sub)
{
    char path[128], line[32] = "";
    FILE *f;

    snprintf(path, sizeof(path), "%s%s/keeper.pid", dir, sub);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fgets(line, sizeof(line), f) == NULL)
        line[0] = '\0';
    fclose(f);
    return atoi(line) > 0 ? atoi(line) : -1;
}

static pid_t keeper_pid(void)
{
    return keeper_pid_in("");
}

/* Waits for pid (not our child) to exit: its pidfd polls readable. Returns
 * 0, -ETIMEDOUT, or -ESRCH when it was gone already. */
static int wait_exit(pid_t pid, int ms)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0), rc;
    struct pollfd p;

    if (pfd < 0)
        return -errno;
    p = (struct pollfd){.fd = pfd, .events = POLLIN};
    rc = poll(&p, 1, ms) == 1 ? 0 : -ETIMEDOUT;
    close(pfd);
    return rc;
}

/* Descriptors pid holds (/proc/PID/fd). */
static int count_fds(pid_t pid)
{
    char path[64], link[64];
    int n = 0;

    for (int fd = 0; fd < 4096; fd++) {
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
        if (readlink(path, link, sizeof(link)) >= 0)
            n++;
    }
    return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* The runner's, per case: a fresh 0700 directory; afterwards it is removed
 * and its keeper, if any, waited for (killed if it outlived the bound). */
static void dir_make(void)
{
    snprintf(dir, sizeof(dir), "/tmp/check_fdstore.%d.XXXXXX", (int)getpid());
    if (mkdtemp(dir) == NULL)
        abort();
}

static void dir_remove(void)
{
    pid_t pids[2] = {keeper_pid(), keeper_pid_in("/state")};

    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    for (int i = 0; i < 2; i++) {
        if (pids[i] > 0 && wait_exit(pids[i], WAIT_MS) == -ETIMEDOUT) {
            fprintf(stderr, "keeper %d outlived its directory: killed\n", (int)pids[i]);
            kill(pids[i], SIGKILL);
        }
    }
}

/* A raw connection to the keeper (as ofad's uid). */
static int raw_connect(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/keeper.sock", dir);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* Sends len bytes with nfds descriptors. */
static int raw_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

    if (nfds > 0) {
        struct cmsghdr *c;
        memset(&u, 0, sizeof(u));
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    return sendmsg(sock, &m, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* Receives one message (waiting up to WAIT_MS) into buf, NUL-terminated;
 * *fd gets its one descriptor or -1. Returns its length, 0 at the end,
 * -ETIMEDOUT, -errno. */
static ssize_t raw_recv(int sock, char *buf, size_t cap, int *fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = buf, .iov_len = cap - 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct pollfd p = {.fd = sock, .events = POLLIN};
    struct cmsghdr *c;
    ssize_t n;

    *fd = -1;
    if (poll(&p, 1, WAIT_MS) != 1)
        return -ETIMEDOUT;
    n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    c = CMSG_FIRSTHDR(&m);
    if (c != NULL && c->cmsg_type == SCM_RIGHTS)
        memcpy(fd, CMSG_DATA(c), sizeof(int));
    return n;
}

/* Sends G on sock and reads the answer: the names, comma-separated in
 * order of arrival, into names; returns how many, or -1 if malformed. */
static int raw_get(int sock, char *names, size_t cap)
{
    char buf[256];
    int n = 0, fd;

    names[0] = '\0';
    ck_assert_int_eq(raw_send(sock, "G", 1, NULL, 0), 0);
    for (;;) {
        ssize_t len = raw_recv(sock, buf, sizeof(buf), &fd);
        if (len == 1 && buf[0] == 'E' && fd < 0)
            return n;
        if (len < 2 || buf[0] != 'F' || fd < 0)
            return -1;
        close(fd);
        if (n++ > 0)
            strncat(names, ",", cap - strlen(names) - 1);
        strncat(names, buf + 1, cap - strlen(names) - 1);
    }
}

/* ---- keeper ---- */

START_TEST(keeper_restart)
{
    struct fdstore_ent *v;
    struct fdstore *s;
    size_t n;
    int pages[3];
    pid_t pid;

    s = open_keeper(&v, &n);
    ck_assert_uint_eq(n, 0);
    free(v);
    pid = keeper_pid();
    ck_assert_int_gt(pid, 0);
    /* Not our child, nor in our process group or session. */
    ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
    ck_assert_int_ne(getpgid(pid), getpgid(0));
    ck_assert_int_ne(getsid(pid), getsid(0));
    for (unsigned i = 0; i < 3; i++) {
        char name[32];
        pages[i] = make_page(i * 7 + 1);
        snprintf(name, sizeof(name), "page.%u", i);
        ck_assert_int_eq(fdstore_put(s, name, pages[i]), 0);
    }
    fdstore_close(s);

    /* The next ofad: the same three pages, the very same memory. */
    s = open_keeper(&v, &n);
    ck_assert_int_eq(keeper_pid(), pid);
    ck_assert_uint_eq(n, 3);
    for (unsigned i = 0; i < 3; i++) {
        char name[32];
        struct fdstore_ent *e;
        snprintf(name, sizeof(name), "page.%u", i);
        e = find(v, n, name);
        ck_assert_ptr_nonnull(e);
        ck_assert(same_file(e->fd, pages[i]));
        ck_assert(page_has(e->fd, i * 7 + 1));
        ck_assert_int_ne(fcntl(e->fd, F_GETFD) & FD_CLOEXEC, 0);
    }
    free_taken(v, n);
    /* A put of a stored name replaces it. */
    ck_assert_int_eq(fdstore_put(s, "page.2", pages[0]), 0);
    ck_assert_int_eq(fdstore_remove(s, "page.1"), 0);
    ck_assert_int_eq(fdstore_remove(s, "no/such"), -EINVAL);
    ck_assert_int_eq(fdstore_put(s, "", pages[0]), -EINVAL);
    fdstore_close(s);

    s = open_keeper(&v, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_ptr_null(find(v, n, "page.1"));
    ck_assert(same_file(find(v, n, "page.0")->fd, pages[0]));
    ck_assert(same_file(find(v, n, "page.2")->fd, pages[0]));
    free_taken(v, n);
    ck_assert_int_eq(fdstore_discard(s), 0);
    fdstore_close(s);

    s = open_keeper(&v, &n);
    ck_assert_uint_eq(n, 0);
    free(v);
    fdstore_close(s);
    for (unsigned i = 0; i < 3; i++)
        close(pages[i]);
}
END_TEST

START_TEST(keeper_kill9)
{
    struct fdstore_ent *v;
    struct fdstore *s;
    int page, status;
    size_t n;
    pid_t pid;

    s = open_keeper(&v, &n);
    free(v);
    fdstore_close(s);
    page = make_page(42);
    /* A process that puts and dies the next instant, as ofad under kill -9. */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct fdstore_handed none = {NULL, 0};
        struct fdstore *c;
        if (fdstore_open(&c, dir, &none, err, sizeof(err)) < 0)
            _exit(1);
        fdstore_taken(c, &v, &n);
        if (fdstore_put(c, "made.just.now", page) < 0)
            _exit(2);
        raise(SIGKILL);
        _exit(3);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    s = open_keeper(&v, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(v[0].name, "made.just.now");
    ck_assert(same_file(v[0].fd, page));
    ck_assert(page_has(v[0].fd, 42));
    free_taken(v, n);
    fdstore_close(s);
    close(page);
}
END_TEST

/* As nobody: connect to keeper.sock and ask for everything. Exit codes:
 * 0 nothing got, 10 connect refused by permissions, 20 got a descriptor. */
static int nobody_get(void *arg)
{
    char buf[256];
    int sock = raw_connect(), fd;
    ssize_t n;

    (void)arg;
    if (sock == -EACCES)
        return 10;
    if (sock < 0)
        return 30;
    /* The keeper may close before G is even sent (EPIPE): nothing got. */
    (void)raw_send(sock, "G", 1, NULL, 0);
    n = raw_recv(sock, buf, sizeof(buf), &fd);
    close(sock);
    if (fd >= 0)
        return 20;
    return n == 0 || n == -ECONNRESET ? 0 : 40;
}

START_TEST(keeper_nobody)
{
    char path[128];
    struct fdstore_ent *v;
    struct fdstore *s;
    size_t n;
    int page = make_page(9);

    s = open_keeper(&v, &n);
    free(v);
    ck_assert_int_eq(fdstore_put(s, "secret", page), 0);
    /* The directory (0700) keeps nobody out. */
    ck_assert_int_eq(harness_as_user("nobody", (gid_t)-1, nobody_get, NULL), 10);
    /* Opened by mistake to all: the keeper still serves only its own uid. */
    snprintf(path, sizeof(path), "%s/keeper.sock", dir);
    ck_assert_int_eq(chmod(dir, 0711), 0);
    ck_assert_int_eq(chmod(path, 0666), 0);
    ck_assert_int_eq(harness_as_user("nobody", (gid_t)-1, nobody_get, NULL), 0);
    ck_assert_int_eq(chmod(dir, 0700), 0);
    fdstore_close(s);
    /* And it goes on serving ofad. */
    s = open_keeper(&v, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert(same_file(v[0].fd, page));
    free_taken(v, n);
    fdstore_close(s);
    close(page);
}
END_TEST

START_TEST(keeper_hostile)
{
    static char huge[100000];
    struct fdstore_ent *v;
    struct fdstore *s;
    char names[512];
    int sock, before, a = make_page(1), b = make_page(2);
    int two[2] = {a, b};
    pid_t pid;
    size_t n;

    s = open_keeper(&v, &n);
    free(v);
    ck_assert_int_eq(fdstore_put(s, "kept", a), 0);
    fdstore_close(s);
    pid = keeper_pid();
    sock = raw_connect();
    ck_assert_int_ge(sock, 0);
    ck_assert_int_eq(raw_get(sock, names, sizeof(names)), 1);
    before = count_fds(pid);

    ck_assert_int_eq(raw_send(sock, "Pnofd", 5, NULL, 0), 0);   /* put, no fd */
    ck_assert_int_eq(raw_send(sock, "Ptwo", 4, two, 2), 0);     /* two fds */
    ck_assert_int_eq(raw_send(sock, "Pbad/name", 9, &a, 1), 0); /* bad name */
    ck_assert_int_eq(raw_send(sock, "Pnul\0x", 6, &a, 1), 0);   /* NUL in it */
    ck_assert_int_eq(raw_send(sock, "P", 1, &a, 1), 0);         /* no name */
    memset(huge, 'x', sizeof(huge));
    huge[0] = 'P';
    ck_assert_int_eq(raw_send(sock, huge, sizeof(huge), &a, 1), 0);         /* huge */
    ck_assert_int_eq(raw_send(sock, huge, FDSTORE_NAME_MAX + 2, &a, 1), 0); /* name 65 */
    ck_assert_int_eq(raw_send(sock, "Rkept", 5, &a, 1), 0);                 /* fd on remove */
    ck_assert_int_eq(raw_send(sock, "Gx", 2, NULL, 0), 0);                  /* G with more */
    ck_assert_int_eq(raw_send(sock, "Zzz", 3, &b, 1), 0);                   /* unknown */
    ck_assert_int_eq(raw_send(sock, "Pok", 3, &b, 1), 0);                   /* a good one */
    ck_assert_int_eq(raw_get(sock, names, sizeof(names)), 2);
    ck_assert(strcmp(names, "kept,ok") == 0 || strcmp(names, "ok,kept") == 0);
    /* Of all those descriptors it kept one, the good put's. */
    ck_assert_int_eq(count_fds(pid), before + 1);
    close(sock);
    close(a);
    close(b);
}
END_TEST

START_TEST(keeper_rm)
{
    struct fdstore_ent *v;
    struct fdstore *s;
    size_t n;
    pid_t pid;
    int page = make_page(3);

    s = open_keeper(&v, &n);
    free(v);
    ck_assert_int_eq(fdstore_put(s, "p", page), 0);
    fdstore_close(s);
    pid = keeper_pid();
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
    ck_assert_int_eq(wait_exit(pid, WAIT_MS), 0);
    close(page);
}
END_TEST

/* SIGTERM: the keeper leaves tidily (no keeper.pid, no keeper.sock); the
 * ofad it served hears -EPIPE; the next open starts a new keeper. */
START_TEST(keeper_term)
{
    char path[128];
    struct fdstore_ent *v;
    struct fdstore *s, *s2;
    int page = make_page(8);
    size_t n;
    pid_t pid;

    s = open_keeper(&v, &n);
    free(v);
    pid = keeper_pid();
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    ck_assert_int_eq(wait_exit(pid, WAIT_MS), 0);
    ck_assert_int_eq(keeper_pid(), -1);
    snprintf(path, sizeof(path), "%s/keeper.sock", dir);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(fdstore_put(s, "p", page), -EPIPE);
    ck_assert_int_eq(fdstore_remove(s, "p"), -EPIPE);
    s2 = open_keeper(&v, &n);
    ck_assert_uint_eq(n, 0);
    free(v);
    ck_assert_int_gt(keeper_pid(), 0);
    ck_assert_int_ne(keeper_pid(), pid);
    ck_assert_int_eq(fdstore_put(s2, "p", page), 0);
    fdstore_close(s2);
    fdstore_close(s);
    close(page);
}
END_TEST

START_TEST(keeper_stale_socket)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct fdstore_ent *v;
    struct fdstore *s;
    size_t n;
    int fd;

    /* A dead keeper's socket file: bound, then closed. */
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/keeper.sock", dir);
    fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    s = open_keeper(&v, &n);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_gt(keeper_pid(), 0);
    free(v);
    fdstore_close(s);
}
END_TEST

/* ---- systemd ---- */

/* The manager's notify socket in dir, and NOTIFY_SOCKET naming it. */
static int manager_socket(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setenv("NOTIFY_SOCKET", sa.sun_path, 1);
    unsetenv("OFAD_FDSTORE");
    return fd;
}

/* Receives one notification; *fd its descriptor or -1. */
static void manager_recv(int m, char *buf, size_t cap, int *fd)
{
    ssize_t n = raw_recv(m, buf, cap, fd);

    ck_assert_int_gt(n, 0);
}

START_TEST(systemd_put)
{
    struct fdstore_handed none = {NULL, 0};
    struct fdstore_ent *v;
    struct fdstore *s;
    int m = manager_socket(), page = make_page(5), other = make_page(6), fd, rc, nput;
    char buf[256];
    size_t n;

    ck_assert_msg(fdstore_open(&s, dir, &none, err, sizeof(err)) == 0, "open: %s", err);
    ck_assert_str_eq(fdstore_kind(s), "systemd");
    fdstore_taken(s, &v, &n);
    ck_assert_uint_eq(n, 0);
    free(v);

    ck_assert_int_eq(fdstore_put(s, "page.1", page), 0);
    manager_recv(m, buf, sizeof(buf), &fd);
    ck_assert_str_eq(buf, "FDSTORE=1\nFDNAME=page.1\nFDPOLL=0");
    ck_assert(same_file(fd, page));
    ck_assert(page_has(fd, 5));
    close(fd);
    /* systemd keeps several under a name: a second put removes first. */
    ck_assert_int_eq(fdstore_put(s, "page.1", other), 0);
    manager_recv(m, buf, sizeof(buf), &fd);
    ck_assert_str_eq(buf, "FDSTOREREMOVE=1\nFDNAME=page.1");
    ck_assert_int_eq(fd, -1);
    manager_recv(m, buf, sizeof(buf), &fd);
    ck_assert_str_eq(buf, "FDSTORE=1\nFDNAME=page.1\nFDPOLL=0");
    ck_assert(same_file(fd, other));
    close(fd);
    ck_assert_int_eq(fdstore_remove(s, "page.1"), 0);
    manager_recv(m, buf, sizeof(buf), &fd);
    ck_assert_str_eq(buf, "FDSTOREREMOVE=1\nFDNAME=page.1");
    ck_assert_int_eq(fdstore_put(s, "bad name", page), -EINVAL);

    /* discard: every name stored. */
    ck_assert_int_eq(fdstore_put(s, "a", page), 0);
    ck_assert_int_eq(fdstore_put(s, "b", page), 0);
    for (int i = 0; i < 2; i++) {
        manager_recv(m, buf, sizeof(buf), &fd);
        close(fd);
    }
    ck_assert_int_eq(fdstore_discard(s), 0);
    manager_recv(m, buf, sizeof(buf), &fd);
    ck_assert(strcmp(buf, "FDSTOREREMOVE=1\nFDNAME=a") == 0 ||
              strcmp(buf, "FDSTOREREMOVE=1\nFDNAME=b") == 0);
    manager_recv(m, buf + 128, sizeof(buf) - 128, &fd);
    ck_assert(strncmp(buf + 128, "FDSTOREREMOVE=1\nFDNAME=", 23) == 0);
    ck_assert_str_ne(buf, buf + 128);

    /* A manager that reads nothing: puts end in -ETIMEDOUT, never a hang,
     * and a remove says -EAGAIN at once. */
    for (nput = 0, rc = 0; rc == 0 && nput < 100000; nput++) {
        char name[32];
        snprintf(name, sizeof(name), "full.%d", nput);
        rc = fdstore_put(s, name, page);
    }
    ck_assert_int_eq(rc, -ETIMEDOUT);
    ck_assert_int_eq(fdstore_remove(s, "full.0"), -EAGAIN);
    /* Once the manager reads again, the next put sends that removal first. */
    for (struct pollfd p = {.fd = m, .events = POLLIN}; poll(&p, 1, 0) == 1;) {
        manager_recv(m, buf, sizeof(buf), &fd);
        if (fd >= 0)
            close(fd);
    }
    ck_assert_int_eq(fdstore_put(s, "after", page), 0);
    manager_recv(m, buf, sizeof(buf), &fd);
    ck_assert_str_eq(buf, "FDSTOREREMOVE=1\nFDNAME=full.0");
    manager_recv(m, buf, sizeof(buf), &fd);
    ck_assert_str_eq(buf, "FDSTORE=1\nFDNAME=after\nFDPOLL=0");
    close(fd);
    fdstore_close(s);
    close(m);
    close(page);
    close(other);
}
END_TEST

/* In a child, as ofad started by systemd: fds at 3.. with LISTEN_FDS,
 * LISTEN_PID and LISTEN_FDNAMES. Exit codes name the check that failed. */
static int handback_child(void)
{
    int sock, p1 = make_page(11), p2 = make_page(12), bad = make_page(13), lfd, rc;
    struct fdstore_handed h = {NULL, 0};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct fdstore_ent *v;
    struct fdstore *s;
    char pid[16], **names = NULL;
    size_t n;
    int n_fds;

    sock = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/ofad.sock", dir);
    if (bind(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(sock, 4) < 0)
        return 1;
    /* Out of the way of 3..6 first. */
    sock = fcntl(sock, F_DUPFD_CLOEXEC, 20);
    p1 = fcntl(p1, F_DUPFD_CLOEXEC, 20);
    p2 = fcntl(p2, F_DUPFD_CLOEXEC, 20);
    bad = fcntl(bad, F_DUPFD_CLOEXEC, 20);
    if (dup2(p1, 3) < 0 || dup2(sock, 4) < 0 || dup2(p2, 5) < 0 || dup2(bad, 6) < 0)
        return 2;
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("LISTEN_FDS", "4", 1);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDNAMES", "page.1:ofad.socket:page.2:not a name", 1);
    n_fds = sd_listen_fds_with_names(1, &names);
    if (n_fds != 4)
        return 3;
    if (fdstore_split_listen(n_fds, names, &lfd, &h) != 0 || lfd != 4)
        return 4;
    if (h.n != 2 || strcmp(h.v[0].name, "page.1") != 0 || h.v[0].fd != 3 ||
        strcmp(h.v[1].name, "page.2") != 0 || h.v[1].fd != 5)
        return 5;
    if (!same_file(3, p1) || !page_has(3, 11) || !same_file(5, p2) || !page_has(5, 12))
        return 6;
    for (int fd = 3; fd <= 5; fd++)
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
            return 7;
    if (fcntl(6, F_GETFD) != -1 || errno != EBADF) /* the bad name's: closed */
        return 8;
    /* The store takes them over and hands them to its caller. */
    rc = fdstore_open(&s, dir, &h, err, sizeof(err));
    if (rc != 0 || h.n != 0 || h.v != NULL)
        return 9;
    fdstore_taken(s, &v, &n);
    if (n != 2 || v[0].fd != 3 || v[1].fd != 5)
        return 10;
    free(v);
    fdstore_close(s);
    for (int i = 0; i < n_fds; i++)
        free(names[i]);
    free(names);
    return 0;
}

START_TEST(systemd_handback)
{
    char buf[256];
    int m = manager_socket(), status, fd;
    pid_t pid;

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(handback_child());
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status), 0);
    /* The descriptor it could not take is gone from the manager's store. */
    manager_recv(m, buf, sizeof(buf), &fd);
    ck_assert_str_eq(buf, "FDSTOREREMOVE=1\nFDNAME=not a name");
    close(m);
}
END_TEST

/* Two listening sockets: refused, nothing taken. */
static int two_listeners_child(void)
{
    struct fdstore_handed h = {NULL, 0};
    int a = socket(AF_UNIX, SOCK_STREAM, 0), b = socket(AF_UNIX, SOCK_STREAM, 0), lfd;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/a.sock", dir);
    if (bind(a, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(a, 1) < 0)
        return 1;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/b.sock", dir);
    if (bind(b, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(b, 1) < 0)
        return 1;
    if (dup2(a, 3) < 0 || dup2(b, 4) < 0)
        return 2;
    if (fdstore_split_listen(2, NULL, &lfd, &h) != -EINVAL || h.n != 0)
        return 3;
    return 0;
}

START_TEST(systemd_two_listeners)
{
    int status;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(two_listeners_child());
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(WIFEXITED(status) ? WEXITSTATUS(status) : 100, 0);
}
END_TEST

/* Without state, what systemd handed back is closed and removed. */
START_TEST(systemd_drop)
{
    struct fdstore_handed h = {NULL, 0};
    char buf[256];
    int m = manager_socket(), fd;

    h.v = calloc(2, sizeof(*h.v));
    ck_assert_ptr_nonnull(h.v);
    h.n = 2;
    snprintf(h.v[0].name, sizeof(h.v[0].name), "x.1");
    h.v[0].fd = make_page(1);
    snprintf(h.v[1].name, sizeof(h.v[1].name), "x.2");
    h.v[1].fd = make_page(2);
    fd = h.v[1].fd;
    fdstore_drop_handed(&h);
    ck_assert_uint_eq(h.n, 0);
    ck_assert_ptr_null(h.v);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
    manager_recv(m, buf, sizeof(buf), &fd);
    ck_assert_str_eq(buf, "FDSTOREREMOVE=1\nFDNAME=x.1");
    manager_recv(m, buf, sizeof(buf), &fd);
    ck_assert_str_eq(buf, "FDSTOREREMOVE=1\nFDNAME=x.2");
    close(m);
}
END_TEST

/* The listening socket the service manager holds, at sa (dir/ofad.sock). */
static int listen_at(struct sockaddr_un *sa)
{
    int lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/ofad.sock", dir);
    ck_assert_int_ge(lsock, 0);
    ck_assert_int_eq(bind(lsock, (struct sockaddr *)sa, sizeof(*sa)), 0);
    ck_assert_int_eq(listen(lsock, 8), 0);
    return lsock;
}

/* A real ofad started as systemd would after a restart: its activation
 * socket and a stored page at 3 and 4, named in LISTEN_FDNAMES. Keeping no
 * state, it serves the socket and asks the manager to forget the page. */
START_TEST(systemd_ofad)
{
    char path[128], buf[256], log[128];
    bool removed = false, ready = false;
    int m = manager_socket(), lsock, page = make_page(4), status, fd;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    pid_t pid;

    snprintf(path, sizeof(path), "%s/run", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(log, sizeof(log), "%s/ofad.log", dir);
    lsock = listen_at(&sa);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char pidbuf[16];
        int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        /* Ends with the test, whatever happens to it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        lsock = fcntl(lsock, F_DUPFD_CLOEXEC, 20);
        page = fcntl(page, F_DUPFD_CLOEXEC, 20);
        if (out < 0 || lsock < 0 || page < 0 || dup2(out, 2) < 0 || dup2(lsock, 3) < 0 ||
            dup2(page, 4) < 0)
            _exit(126);
        snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
        setenv("LISTEN_FDS", "2", 1);
        setenv("LISTEN_PID", pidbuf, 1);
        setenv("LISTEN_FDNAMES", "ofad.socket:page.x", 1);
        setenv("RUNTIME_DIRECTORY", path, 1);
        execl(OFAD_PATH, "ofad", (char *)NULL);
        _exit(127);
    }
    close(lsock);
    while (!(removed && ready)) {
        manager_recv(m, buf, sizeof(buf), &fd);
        if (strcmp(buf, "FDSTOREREMOVE=1\nFDNAME=page.x") == 0)
            removed = true;
        else if (strncmp(buf, "READY=1", 7) == 0)
            ready = true;
        else
            ck_assert_msg(strncmp(buf, "STATUS=", 7) == 0, "unexpected: %s", buf);
    }
    /* It serves the socket it was given. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "ofad status %d", status);
    close(m);
    close(page);
}
END_TEST

/* ---- systemd, end to end: a restart behind a manager that keeps fds ---- */

#define STORE_MAX 16

/* The manager's fd store, as systemd keeps one for the service. */
struct mstore {
    char name[STORE_MAX][FDSTORE_NAME_MAX + 1];
    int fd[STORE_MAX];
    int n;
};

/* Reads notifications until one begins with until (NULL: until none is
 * queued), keeping what FDSTORE=1 stores and dropping what FDSTOREREMOVE=1
 * removes. */
static void manager_pump(int m, struct mstore *st, const char *until)
{
    for (;;) {
        char buf[512], name[FDSTORE_NAME_MAX + 1] = "";
        struct pollfd p = {.fd = m, .events = POLLIN};
        const char *nm;
        int fd;

        if (until == NULL && poll(&p, 1, 0) != 1)
            return;
        manager_recv(m, buf, sizeof(buf), &fd);
        nm = strstr(buf, "FDNAME=");
        if (nm != NULL)
            sscanf(nm + 7, "%64[A-Za-z0-9._-]", name);
        if (strncmp(buf, "FDSTORE=1\n", 10) == 0) {
            ck_assert_int_ge(fd, 0);
            ck_assert_int_lt(st->n, STORE_MAX);
            snprintf(st->name[st->n], sizeof(st->name[0]), "%s", name);
            st->fd[st->n++] = fd;
            continue;
        }
        ck_assert_int_eq(fd, -1);
        if (strncmp(buf, "FDSTOREREMOVE=1\n", 16) == 0) {
            for (int i = 0; i < st->n; i++) {
                if (strcmp(st->name[i], name) != 0)
                    continue;
                close(st->fd[i]);
                st->fd[i] = st->fd[--st->n];
                memcpy(st->name[i], st->name[st->n], sizeof(st->name[0]));
                i--;
            }
        }
        if (until != NULL && strncmp(buf, until, strlen(until)) == 0)
            return;
    }
}

/* Starts ofad --state-dir with the listening socket at 3 and the manager's
 * store after it, as systemd starts the service. */
static pid_t start_ofad(int lsock, const struct mstore *st)
{
    char run[128], state[128], log[128];
    pid_t pid;

    snprintf(run, sizeof(run), "%s/run", dir);
    snprintf(state, sizeof(state), "%s/state", dir);
    snprintf(log, sizeof(log), "%s/ofad.log", dir);
    (void)mkdir(run, 0700);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char pidbuf[16], nfds[16], names[STORE_MAX * (FDSTORE_NAME_MAX + 1) + 16] = "ofad.socket";
        int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600), fds[STORE_MAX + 1];
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        fds[0] = fcntl(lsock, F_DUPFD_CLOEXEC, 40);
        for (int i = 0; i < st->n; i++) {
            fds[i + 1] = fcntl(st->fd[i], F_DUPFD_CLOEXEC, 40);
            strcat(names, ":");
            strcat(names, st->name[i]);
        }
        for (int i = 0; i <= st->n; i++)
            if (fds[i] < 0 || dup2(fds[i], 3 + i) < 0)
                _exit(126);
        if (out < 0 || dup2(out, 2) < 0)
            _exit(126);
        snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
        snprintf(nfds, sizeof(nfds), "%d", st->n + 1);
        setenv("LISTEN_FDS", nfds, 1);
        setenv("LISTEN_PID", pidbuf, 1);
        setenv("LISTEN_FDNAMES", names, 1);
        setenv("RUNTIME_DIRECTORY", run, 1);
        execl(OFAD_PATH, "ofad", "--state-dir", state, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void stop_ofad(pid_t pid)
{
    int status;

    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "ofad status %d", status);
}

/* A kept 4 KiB block of arena "default" of the ofad at path, filled with
 * bytes i * mul + add; returns its offset. */
static uint64_t kept_block(const char *path, unsigned mul, unsigned add)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;
    unsigned char *p;

    ck_assert_int_eq(ofa_connect(path, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "default", &a), 0);
    ck_assert_int_eq(ofa_alloc_ex(a, 4096, 0, OFA_KEEP, &off), 0);
    p = ofa_ptr(a, off);
    ck_assert_ptr_nonnull(p);
    for (unsigned i = 0; i < 4096; i++)
        p[i] = (unsigned char)(i * mul + add);
    ofa_disconnect(c);
    return off;
}

/* The block of kept_block, its bytes intact, freed. */
static void kept_block_check(const char *path, uint64_t off, unsigned mul, unsigned add)
{
    ofa_client *c;
    ofa_arena *a;
    unsigned char *p;

    ck_assert_int_eq(ofa_connect(path, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "default", &a), 0);
    p = ofa_ptr(a, off);
    ck_assert_ptr_nonnull(p);
    for (unsigned i = 0; i < 4096; i++)
        ck_assert_uint_eq(p[i], (unsigned char)(i * mul + add));
    ck_assert_int_eq(ofa_free(a, off), 0);
    ofa_disconnect(c);
}

START_TEST(systemd_restart)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct mstore st = {.n = 0};
    int m = manager_socket(), lsock = listen_at(&sa);
    uint64_t off;
    pid_t pid;

    pid = start_ofad(lsock, &st);
    manager_pump(m, &st, "READY=1");
    off = kept_block(sa.sun_path, 3, 1);
    /* The page went to the manager's store before the block was given. */
    manager_pump(m, &st, NULL);
    ck_assert_int_ge(st.n, 1);
    stop_ofad(pid);
    manager_pump(m, &st, NULL);
    ck_assert_int_ge(st.n, 1);

    /* systemd restarts the service: the store comes back beside the socket. */
    pid = start_ofad(lsock, &st);
    for (int i = 0; i < st.n; i++)
        close(st.fd[i]);
    st.n = 0;
    manager_pump(m, &st, "READY=1");
    kept_block_check(sa.sun_path, off, 3, 1);
    stop_ofad(pid);
    manager_pump(m, &st, NULL);
    for (int i = 0; i < st.n; i++)
        close(st.fd[i]);
    close(lsock);
    close(m);
}
END_TEST

/* By hand (the keeper): kill -9 of ofad, a new ofad, the block intact;
 * removing the directory ends the keeper. NOTIFY_SOCKET only tells when
 * ofad is ready. */
START_TEST(keeper_ofad)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct mstore st = {.n = 0};
    int m = manager_socket(), lsock = listen_at(&sa), status;
    uint64_t off;
    pid_t pid, keeper;

    setenv("OFAD_FDSTORE", "keeper", 1);
    pid = start_ofad(lsock, &st);
    manager_pump(m, &st, "READY=1");
    off = kept_block(sa.sun_path, 5, 2);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    keeper = keeper_pid_in("/state");
    ck_assert_int_gt(keeper, 0);
    ck_assert_int_eq(kill(keeper, 0), 0);
    ck_assert_int_eq(st.n, 0); /* nothing went to systemd's store */

    pid = start_ofad(lsock, &st);
    manager_pump(m, &st, "READY=1");
    ck_assert_int_eq(keeper_pid_in("/state"), keeper);
    kept_block_check(sa.sun_path, off, 5, 2);
    stop_ofad(pid);
    close(lsock);
    close(m);
    ck_assert_int_eq(nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
    ck_assert_int_eq(wait_exit(keeper, WAIT_MS), 0);
}
END_TEST

/* One TCase per topic, each in a directory of its own. */
#define ADD_CASE(s, name, fn)                                                                      \
    do {                                                                                           \
        TCase *tc_ = tcase_create(name);                                                           \
        tcase_add_unchecked_fixture(tc_, dir_make, dir_remove);                                    \
        tcase_set_timeout(tc_, 60);                                                                \
        tcase_add_test(tc_, fn);                                                                   \
        suite_add_tcase(s, tc_);                                                                   \
    } while (0)

static Suite *fdstore_suite(void)
{
    Suite *s = suite_create("fdstore");

    ADD_CASE(s, "keeper_restart", keeper_restart);
    ADD_CASE(s, "keeper_kill9", keeper_kill9);
    ADD_CASE(s, "keeper_nobody", keeper_nobody);
    ADD_CASE(s, "keeper_hostile", keeper_hostile);
    ADD_CASE(s, "keeper_rm", keeper_rm);
    ADD_CASE(s, "keeper_stale", keeper_stale_socket);
    ADD_CASE(s, "keeper_term", keeper_term);
    ADD_CASE(s, "systemd_put", systemd_put);
    ADD_CASE(s, "systemd_handback", systemd_handback);
    ADD_CASE(s, "systemd_two", systemd_two_listeners);
    ADD_CASE(s, "systemd_drop", systemd_drop);
    ADD_CASE(s, "systemd_ofad", systemd_ofad);
    ADD_CASE(s, "systemd_restart", systemd_restart);
    ADD_CASE(s, "keeper_ofad", keeper_ofad);
    return s;
}

int main(int argc, char **argv)
{
    /* fdstore_open starts the keeper as /proc/self/exe --fd-keeper DIR:
     * here that is this program, which must be it, as ofad is. */
    if (argc > 1 && strcmp(argv[1], "--fd-keeper") == 0)
        return fdstore_keeper_main(argc, argv);
    return ofa_check_run(fdstore_suite());
}

/*
 * check_client.c - libofaclient on its own: error tables, socket path
 * resolution, connection failures, and a hostile peer.
 *
 * The hostile peer is a forked child listening on a temporary socket that
 * answers the library's requests with what a broken or malicious daemon
 * might send: garbage, wrong ids and ops, truncated frames, oversized
 * lengths, descriptors nobody asked for, PAGE replies without one. It speaks
 * through the real codec (ofa_proto) so that its replies are well formed
 * except where a test makes them wrong on purpose. Every case checks the
 * exact error, that later calls fail at once instead of waiting, and that no
 * descriptor is left open in this process (/proc/self/fd before and after).
 *
 * Deadlines: peers that accept and never answer, answer the handshake and
 * then nothing, dribble a reply a byte at a time, or never accept (a full
 * backlog); each call must come back with -ETIMEDOUT, drop the connection
 * and leave the handle's objects usable to close.
 *
 * The library under test is the shared libofaclient: only its exported API.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"
#include "ofaclient.h"
#include "proto.h"

/* --- helpers --- */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* A scratch directory for the peer's socket, made and removed by the
 * runner process (an unchecked fixture), so that it goes away even when a
 * test fails: a failing test's own process exits without cleaning up. */
static char tmpdir[64];
static char sockpath[128];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ofa-check-client-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(sockpath, sizeof(sockpath), "%s/s", tmpdir);
}

static void remove_tmpdir(void)
{
    unlink(sockpath);
    rmdir(tmpdir);
}

static int listen_on(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    /* A test that failed before removing its socket left it here. */
    unlink(path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    return fd;
}

/* --- the hostile peer (runs in the child; plain exits, no Check calls) --- */

static int srv_fd = -1;
static struct proto_dec *srv_dec;
static uint8_t srv_frame[1 << 16];

static void srv_die(void)
{
    _exit(99);
}

static void srv_write(const void *p, size_t n)
{
    const uint8_t *b = p;
    ssize_t k;

    while (n > 0) {
        k = send(srv_fd, b, n, MSG_NOSIGNAL);
        if (k <= 0)
            _exit(0); /* the client went away: fine */
        b += k;
        n -= (size_t)k;
    }
}

static void srv_read(void *p, size_t n)
{
    uint8_t *b = p;
    ssize_t k;

    while (n > 0) {
        k = read(srv_fd, b, n);
        if (k <= 0)
            _exit(0);
        b += k;
        n -= (size_t)k;
    }
}

/* Reads and decodes the next request. */
static void srv_req(struct proto_req *req)
{
    uint32_t len;

    srv_read(srv_frame, 4);
    len = (uint32_t)srv_frame[0] << 24 | (uint32_t)srv_frame[1] << 16 |
          (uint32_t)srv_frame[2] << 8 | srv_frame[3];
    if (len == 0 || len > sizeof(srv_frame) - 4)
        srv_die();
    srv_read(srv_frame + 4, len);
    if (proto_decode_req(srv_dec, srv_frame + 4, len, req) != 0)
        srv_die();
}

/* Sends bytes with n_fds descriptors attached (copies of fd). */
static void srv_send_fds(const void *p, size_t n, int fd, int n_fds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 64)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {(void *)p, n};
    struct msghdr mh;
    struct cmsghdr *cm;
    int i;

    memset(&mh, 0, sizeof(mh));
    memset(&ctl, 0, sizeof(ctl));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n_fds);
    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n_fds);
    for (i = 0; i < n_fds; i++)
        memcpy(CMSG_DATA(cm) + i * sizeof(int), &fd, sizeof(int));
    if (sendmsg(srv_fd, &mh, MSG_NOSIGNAL) != (ssize_t)n)
        _exit(0);
}

static void srv_rep_fds(const struct proto_rep *rep, int fd, int n_fds)
{
    struct proto_buf b;

    proto_buf_init(&b);
    if (proto_encode_rep(&b, rep) != 0)
        srv_die();
    if (n_fds > 0)
        srv_send_fds(b.data, b.len, fd, n_fds);
    else
        srv_write(b.data, b.len);
    proto_buf_free(&b);
}

/* A descriptor to pass around where any will do. */
static int any_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        srv_die();
    return fd;
}

static void srv_rep(const struct proto_rep *rep)
{
    srv_rep_fds(rep, -1, 0);
}

/* A reply of the request's op and id. */
static void rep_for(struct proto_rep *rep, const struct proto_req *req, uint32_t err)
{
    memset(rep, 0, sizeof(*rep));
    rep->op = req->op;
    rep->id = req->id;
    rep->err = err;
}

static void srv_hello(void)
{
    struct proto_req req;
    struct proto_rep rep;

    srv_req(&req);
    if (req.op != PROTO_OP_HELLO)
        srv_die();
    rep_for(&rep, &req, 0);
    rep.u.hello.version = PROTO_VERSION;
    rep.u.hello.max_msg = PROTO_DEFAULT_MAX_MSG;
    rep.u.hello.server.ptr = "fake 0";
    rep.u.hello.server.len = 6;
    srv_rep(&rep);
    /* The library asks for a resumable session next; this peer cannot
     * keep one (ESRCH), so the connection is a plain one whose errors
     * are final: what these tests look at. */
    srv_req(&req);
    if (req.op != PROTO_OP_SESSION)
        srv_die();
    rep_for(&rep, &req, PROTO_ESRCH);
    srv_rep(&rep);
}

/* Answers OPEN with handle 1, read-write, 4096-byte pages. */
static void srv_open(void)
{
    struct proto_req req;
    struct proto_rep rep;

    srv_req(&req);
    if (req.op != PROTO_OP_OPEN)
        srv_die();
    rep_for(&rep, &req, 0);
    rep.u.open.arena = 1;
    rep.u.open.writable = 1;
    rep.u.open.align = 64;
    rep.u.open.page_size = 4096;
    rep.u.open.max_bytes = 1 << 20;
    srv_rep(&rep);
    /* A writable handle asks for a cache next: none here, so every later
     * call takes the daemon path this peer scripts. */
    srv_req(&req);
    if (req.op != PROTO_OP_CACHE)
        srv_die();
    rep_for(&rep, &req, PROTO_EINVAL);
    srv_rep(&rep);
}

/* Keeps the connection open until the client closes it, so that the
 * client's errors come from what it received, not from our leaving. */
static void srv_linger(void)
{
    char buf[256];

    while (read(srv_fd, buf, sizeof(buf)) > 0)
        ;
    _exit(0);
}

typedef void script_fn(void);

static pid_t peer_pid;

/* Starts the peer on sockpath, running script on the first connection. */
static void peer_start(script_fn *script)
{
    int lfd = listen_on(sockpath);

    peer_pid = fork();
    ck_assert_int_ge(peer_pid, 0);
    if (peer_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        alarm(20);
        srv_fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (srv_fd < 0 || proto_dec_new(&srv_dec) != 0)
            srv_die();
        close(lfd);
        script();
        srv_linger();
    }
    close(lfd);
}

static void peer_wait(void)
{
    int st;

    ck_assert_int_eq(waitpid(peer_pid, &st, 0), peer_pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the fake peer failed (status %d)", st);
}

/* --- scripts: the handshake answered wrongly --- */

static void s_eof_at_once(void)
{
    _exit(0);
}

static void s_garbage(void)
{
    static const uint8_t junk[] = {0, 0, 0, 8, 0xc1, 0xc1, 0xc1, 0xc1, 0xff, 0xff, 0xff, 0xff};
    struct proto_req req;

    srv_req(&req);
    srv_write(junk, sizeof(junk));
}

static void s_wrong_id(void)
{
    struct proto_req req;
    struct proto_rep rep;

    srv_req(&req);
    rep_for(&rep, &req, 0);
    rep.id = req.id + 1;
    rep.u.hello.version = PROTO_VERSION;
    rep.u.hello.max_msg = PROTO_DEFAULT_MAX_MSG;
    srv_rep(&rep);
}

static void s_wrong_op(void)
{
    struct proto_req req;
    struct proto_rep rep;

    srv_req(&req);
    rep_for(&rep, &req, 0);
    rep.op = PROTO_OP_PING;
    srv_rep(&rep);
}

static void s_truncated(void)
{
    static const uint8_t part[] = {0, 0, 0, 40, 0x96, 0x01};
    struct proto_req req;

    srv_req(&req);
    srv_write(part, sizeof(part));
    _exit(0);
}

static void s_oversize(void)
{
    static const uint8_t hdr[] = {0x7f, 0xff, 0xff, 0xff, 0x96};
    struct proto_req req;

    srv_req(&req);
    srv_write(hdr, sizeof(hdr));
}

static void s_zero_length(void)
{
    static const uint8_t hdr[] = {0, 0, 0, 0};
    struct proto_req req;

    srv_req(&req);
    srv_write(hdr, sizeof(hdr));
}

static void s_bad_version(void)
{
    struct proto_req req;
    struct proto_rep rep;

    srv_req(&req);
    rep_for(&rep, &req, PROTO_ENOTSUP);
    srv_rep(&rep);
}

static const struct {
    const char *name;
    script_fn *script;
    int err;
    int err_alt; /* another correct answer, or 0 */
} handshake_cases[] = {
    /* The peer may close before the HELLO is sent (EPIPE) or after (EOF on
     * the reply: ECONNRESET): both say the daemon is gone. */
    {"eof", s_eof_at_once, -ECONNRESET, -EPIPE},
    {"garbage", s_garbage, -EPROTO, 0},
    {"wrong id", s_wrong_id, -EPROTO, 0},
    {"wrong op", s_wrong_op, -EPROTO, 0},
    {"truncated then eof", s_truncated, -ECONNRESET, 0},
    {"oversize length", s_oversize, -EPROTO, 0},
    {"zero length", s_zero_length, -EPROTO, 0},
    {"unsupported version", s_bad_version, -EPROTO, 0},
};

/* --- scripts: after a good handshake --- */

static void s_ping_ok(void)
{
    struct proto_req req;
    struct proto_rep rep;

    srv_hello();
    srv_req(&req);
    rep_for(&rep, &req, 0);
    srv_rep(&rep);
}

/* The reply to PING carries a descriptor nobody asked for. */
static void s_stray_fd(void)
{
    struct proto_req req;
    struct proto_rep rep;

    srv_hello();
    srv_req(&req);
    rep_for(&rep, &req, 0);
    srv_rep_fds(&rep, any_fd(), 1);
}

/* More descriptors than the client has room for in one recvmsg. */
static void s_fd_flood(void)
{
    struct proto_req req;
    struct proto_rep rep;

    srv_hello();
    srv_req(&req);
    rep_for(&rep, &req, 0);
    srv_rep_fds(&rep, any_fd(), 60);
}

/* Descriptors spread over many messages before the reply. */
static void s_fd_trickle(void)
{
    struct proto_req req;
    struct proto_rep rep;
    struct proto_buf b;
    size_t i;
    int fd;

    srv_hello();
    srv_req(&req);
    rep_for(&rep, &req, 0);
    proto_buf_init(&b);
    if (proto_encode_rep(&b, &rep) != 0)
        srv_die();
    fd = any_fd();
    for (i = 0; i < b.len; i++)
        srv_send_fds(b.data + i, 1, fd, 16);
    proto_buf_free(&b);
}

/* The right reply followed by bytes nobody asked for. */
static void s_extra_bytes(void)
{
    struct proto_req req;
    struct proto_rep rep;

    struct proto_buf b;

    srv_hello();
    srv_req(&req);
    rep_for(&rep, &req, 0);
    proto_buf_init(&b);
    if (proto_encode_rep(&b, &rep) != 0 || proto_encode_rep(&b, &rep) != 0)
        srv_die();
    srv_write(b.data, b.len); /* one write: one read gets both */
    proto_buf_free(&b);
}

/* An error code that means the daemon will hang up. */
static void s_eproto_reply(void)
{
    struct proto_req req;
    struct proto_rep rep;

    srv_hello();
    srv_req(&req);
    rep_for(&rep, &req, PROTO_EPROTO);
    srv_rep(&rep);
}

/* A wire error code outside the table (a newer daemon's): the request
 * fails, the connection carries on. */
static void s_unknown_err(void)
{
    static const uint8_t raw[] = {0, 0, 0, 4, 0x93, 0x02, 0x03, 0x7f};
    struct proto_req req;
    struct proto_rep rep;

    srv_hello();
    srv_req(&req);
    if (req.id != 3) /* after HELLO and SESSION */
        srv_die();
    srv_write(raw, sizeof(raw)); /* [PING, 3, 127] */
    srv_req(&req);
    rep_for(&rep, &req, 0);
    srv_rep(&rep);
}

/* EMSGSIZE for a reply that would not have fitted: nothing was done, the
 * connection carries on. */
static void s_emsgsize_reply(void)
{
    struct proto_req req;
    struct proto_rep rep;

    srv_hello();
    srv_req(&req);
    rep_for(&rep, &req, PROTO_EMSGSIZE);
    srv_rep(&rep);
    srv_req(&req);
    rep_for(&rep, &req, 0);
    srv_rep(&rep);
}

/* A frame over the limit is answered [0, 0, EMSGSIZE] before the close. */
static void s_emsgsize_anon(void)
{
    static const uint8_t raw[] = {0, 0, 0, 4, 0x93, 0x00, 0x00, 0x08};
    struct proto_req req;

    srv_hello();
    srv_req(&req);
    srv_write(raw, sizeof(raw));
}

/* The reply dribbles in one byte at a time: slow is not wrong. */
static void s_dribble(void)
{
    struct proto_req req;
    struct proto_rep rep;
    struct proto_buf b;
    size_t i;

    srv_hello();
    srv_req(&req);
    rep_for(&rep, &req, 0);
    proto_buf_init(&b);
    if (proto_encode_rep(&b, &rep) != 0)
        srv_die();
    for (i = 0; i < b.len; i++) {
        srv_write(b.data + i, 1);
        usleep(1000);
    }
    proto_buf_free(&b);
}

static const struct {
    const char *name;
    script_fn *script;
    int err;
} ping_cases[] = {
    {"ping ok", s_ping_ok, 0},
    {"dribble", s_dribble, 0},
    {"stray fd", s_stray_fd, -EPROTO},
    {"fd flood", s_fd_flood, -EPROTO},
    {"fd trickle", s_fd_trickle, -EPROTO},
    {"extra bytes", s_extra_bytes, -EPROTO},
    {"EPROTO reply", s_eproto_reply, -EPROTO},
    {"error reply for nobody", s_emsgsize_anon, -EPROTO},
};

/* Replies that fail the request and leave the connection usable. */
static const struct {
    const char *name;
    script_fn *script;
    int err;
} soft_cases[] = {
    {"unknown error code", s_unknown_err, -EPROTO},
    {"EMSGSIZE reply", s_emsgsize_reply, -EMSGSIZE},
};

/* --- scripts: PAGE replies --- */

static void page_reply(uint64_t base, uint64_t len, int fd, int n_fds)
{
    struct proto_req req;
    struct proto_rep rep;

    srv_hello();
    srv_open();
    srv_req(&req);
    if (req.op != PROTO_OP_PAGE)
        srv_die();
    rep_for(&rep, &req, 0);
    rep.u.page.base = base;
    rep.u.page.len = len;
    rep.u.page.writable = 1;
    srv_rep_fds(&rep, fd, n_fds);
}

static int page_fd(off_t size)
{
    char path[] = "/tmp/ofa-check-client-page-XXXXXX";
    int fd = mkstemp(path);

    if (fd < 0 || unlink(path) != 0 || ftruncate(fd, size) != 0)
        srv_die();
    return fd;
}

static void s_page_no_fd(void)
{
    page_reply(4096, 4096, -1, 0);
}

static void s_page_two_fds(void)
{
    page_reply(4096, 4096, page_fd(4096), 2);
}

static void s_page_short_segment(void)
{
    page_reply(4096, 8192, page_fd(4096), 1); /* touching its end would be SIGBUS */
}

static void s_page_elsewhere(void)
{
    page_reply(65536, 4096, page_fd(4096), 1); /* does not hold the offset */
}

/* Raw bytes of a reply to the fifth request (HELLO, SESSION, OPEN and
 * CACHE came first), for values the codec would refuse to encode. */
static void srv_raw_fifth(const uint8_t *raw, size_t n, int fd)
{
    struct proto_req req;

    srv_hello();
    srv_open();
    srv_req(&req);
    if (req.id != 5)
        srv_die();
    if (fd >= 0)
        srv_send_fds(raw, n, fd, 1);
    else
        srv_write(raw, n);
}

static void s_page_empty(void)
{
    /* [PAGE, 5, 0, base 4096, len 0, writable 1] */
    static const uint8_t raw[] = {0, 0, 0, 9, 0x96, 0x0b, 0x05, 0x00, 0xcd, 0x10, 0x00, 0x00, 0x01};

    srv_raw_fifth(raw, sizeof(raw), page_fd(4096));
}

static void s_page_enoent(void)
{
    struct proto_req req;
    struct proto_rep rep;

    srv_hello();
    srv_open();
    srv_req(&req);
    rep_for(&rep, &req, PROTO_ENOENT);
    srv_rep(&rep);
    srv_req(&req); /* the connection stays usable: a PING */
    rep_for(&rep, &req, 0);
    srv_rep(&rep);
}

static void s_alloc_n_short(void)
{
    static const uint64_t offs[2] = {4096, 4160};
    struct proto_req req;
    struct proto_rep rep;

    srv_hello();
    srv_open();
    srv_req(&req);
    rep_for(&rep, &req, 0);
    rep.u.list.offs = offs;
    rep.u.list.count = 2; /* three were asked for */
    srv_rep(&rep);
}

/* Answers OPEN as srv_open does, then CACHE with a cache: a control page
 * (a memfd) whose word 1 holds ticket 7. */
static void srv_open_cached(void)
{
    struct proto_req req;
    struct proto_rep rep;
    uint32_t word[2] = {0, 7};
    int fd;

    srv_req(&req);
    if (req.op != PROTO_OP_OPEN)
        srv_die();
    rep_for(&rep, &req, 0);
    rep.u.open.arena = 1;
    rep.u.open.writable = 1;
    rep.u.open.align = 64;
    rep.u.open.page_size = 4096;
    rep.u.open.max_bytes = 1 << 20;
    srv_rep(&rep);
    srv_req(&req);
    if (req.op != PROTO_OP_CACHE)
        srv_die();
    fd = memfd_create("ctl", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 16384) != 0 || pwrite(fd, word, sizeof(word), 0) != sizeof(word))
        srv_die();
    rep_for(&rep, &req, 0);
    rep.u.cache.cache_max = 1 << 20;
    rep.u.cache.slot = 1;
    rep.u.cache.ticket = 7;
    srv_rep_fds(&rep, fd, 1);
    close(fd);
}

/* A FILL answered with what the peer's variant says is wrong with it:
 * 0 a block given twice, 1 one block short. (An offset 0 the encoder
 * refuses to write; ALLOC's raw case covers the decoding side.) */
static void s_fill(int how)
{
    static uint64_t offs[PROTO_MAX_BATCH];
    struct proto_req req;
    struct proto_rep rep;

    srv_hello();
    srv_open_cached();
    srv_req(&req);
    if (req.op != PROTO_OP_FILL || req.u.fill.count < 2 || req.u.fill.count > PROTO_MAX_BATCH)
        srv_die();
    for (uint32_t i = 0; i < req.u.fill.count; i++)
        offs[i] = 4096 + 64 * (uint64_t)i;
    rep_for(&rep, &req, 0);
    rep.u.list.offs = offs;
    rep.u.list.count = req.u.fill.count;
    if (how == 0)
        offs[req.u.fill.count - 1] = offs[0];
    else
        rep.u.list.count--;
    srv_rep(&rep);
}

static void s_fill_twice(void)
{
    s_fill(0);
}

static void s_fill_short(void)
{
    s_fill(1);
}

static void s_alloc_zero_off(void)
{
    /* [ALLOC, 5, 0, off 0] */
    static const uint8_t raw[] = {0, 0, 0, 5, 0x94, 0x07, 0x05, 0x00, 0x00};

    srv_raw_fifth(raw, sizeof(raw), -1);
}

static void s_free_n_overcount(void)
{
    struct proto_req req;
    struct proto_rep rep;

    srv_hello();
    srv_open();
    srv_req(&req);
    rep_for(&rep, &req, PROTO_EINVAL);
    rep.u.list.count = 7; /* of two */
    srv_rep(&rep);
}

/* --- the test cases --- */

START_TEST(test_errors)
{
    static const struct {
        int err;
        const char *name;
    } known[] = {
        {ENOENT, "ENOENT"},
        {EEXIST, "EEXIST"},
        {EACCES, "EACCES"},
        {EINVAL, "EINVAL"},
        {ENOMEM, "ENOMEM"},
        {EBUSY, "EBUSY"},
        {EMFILE, "EMFILE"},
        {EPROTO, "EPROTO"},
        {ECONNRESET, "ECONNRESET"},
        {EPIPE, "EPIPE"},
        {ECONNREFUSED, "ECONNREFUSED"},
        {EBADF, "EBADF"},
        {EMSGSIZE, "EMSGSIZE"},
        {ENOTSUP, "ENOTSUP"},
        {EIO, "EIO"},
        {ETIMEDOUT, "ETIMEDOUT"},
    };
    size_t i, j;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        ck_assert_str_eq(ofa_err_name(-known[i].err), known[i].name);
        ck_assert_str_eq(ofa_err_name(known[i].err), known[i].name);
        ck_assert_ptr_nonnull(ofa_strerror(-known[i].err));
        ck_assert_str_eq(ofa_strerror(-known[i].err), ofa_strerror(known[i].err));
        /* Each its own sentence, in ofa's terms. */
        for (j = 0; j < i; j++)
            ck_assert_str_ne(ofa_strerror(-known[i].err), ofa_strerror(-known[j].err));
    }
    ck_assert_str_eq(ofa_strerror(-ENOENT), "no such arena");
    ck_assert_str_eq(ofa_err_name(0), "OK");
    /* Others: the C library's words, never NULL. */
    ck_assert_str_eq(ofa_err_name(-ENOSPC), "ENOSPC");
    ck_assert_str_eq(ofa_strerror(-ENOSPC), strerror(ENOSPC));
    ck_assert_ptr_nonnull(ofa_strerror(-99999));
    ck_assert_ptr_nonnull(ofa_err_name(-99999));
    ck_assert_ptr_nonnull(ofa_strerror(-2147483647 - 1));
    ck_assert_ptr_nonnull(ofa_err_name(-2147483647 - 1));
}
END_TEST

START_TEST(test_socket_path)
{
    unsetenv(OFA_SOCKET_ENV);
    ck_assert_str_eq(ofa_socket_path(NULL), OFA_DEFAULT_SOCKET);
    ck_assert_str_eq(ofa_socket_path(""), OFA_DEFAULT_SOCKET);
    ck_assert_str_eq(ofa_socket_path("/x/a.sock"), "/x/a.sock");
    setenv(OFA_SOCKET_ENV, "", 1);
    ck_assert_str_eq(ofa_socket_path(NULL), OFA_DEFAULT_SOCKET);
    setenv(OFA_SOCKET_ENV, "/y/env.sock", 1);
    ck_assert_str_eq(ofa_socket_path(NULL), "/y/env.sock");
    ck_assert_str_eq(ofa_socket_path("/x/a.sock"), "/x/a.sock");
    unsetenv(OFA_SOCKET_ENV);
}
END_TEST

START_TEST(test_connect_errors)
{
    char longpath[200];
    ofa_client *c = (ofa_client *)&c;
    int fds = count_fds(), lfd;

    /* Nothing there. */
    ck_assert_int_eq(ofa_connect(sockpath, &c), -ENOENT);
    ck_assert_ptr_null(c);
    /* The environment is followed when the argument is NULL. */
    setenv(OFA_SOCKET_ENV, sockpath, 1);
    ck_assert_int_eq(ofa_connect(NULL, &c), -ENOENT);
    unsetenv(OFA_SOCKET_ENV);
    /* A socket file nobody listens on (its daemon died). */
    lfd = listen_on(sockpath);
    close(lfd);
    ck_assert_int_eq(ofa_connect(sockpath, &c), -ECONNREFUSED);
    /* A regular file is not a socket (connect says ECONNREFUSED). */
    unlink(sockpath);
    close(open(sockpath, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    ck_assert_int_eq(ofa_connect(sockpath, &c), -ENOTSOCK);
    /* Too long for sun_path; no out. */
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    ck_assert_int_eq(ofa_connect(longpath, &c), -EINVAL);
    ck_assert_int_eq(ofa_connect(sockpath, NULL), -EINVAL);
    ck_assert_int_eq(count_fds(), fds);
    ofa_disconnect(NULL); /* harmless */
}
END_TEST

START_TEST(test_hostile_handshake)
{
    size_t i;
    ofa_client *c;
    int fds = count_fds(), rc;

    for (i = 0; i < sizeof(handshake_cases) / sizeof(handshake_cases[0]); i++) {
        peer_start(handshake_cases[i].script);
        c = (ofa_client *)&c;
        rc = ofa_connect(sockpath, &c);
        ck_assert_msg(rc == handshake_cases[i].err ||
                          (handshake_cases[i].err_alt != 0 && rc == handshake_cases[i].err_alt),
                      "%s: got %s, want %s", handshake_cases[i].name,
                      ofa_err_name(rc), ofa_err_name(handshake_cases[i].err));
        ck_assert_ptr_null(c);
        peer_wait();
        unlink(sockpath);
        ck_assert_msg(count_fds() == fds, "%s: descriptors leaked", handshake_cases[i].name);
    }
}
END_TEST

START_TEST(test_hostile_replies)
{
    ofa_arena_info *v;
    ofa_daemon_info d;
    ofa_arena *a;
    ofa_client *c;
    size_t i, n;
    int fds = count_fds(), rc, want;

    for (i = 0; i < sizeof(ping_cases) / sizeof(ping_cases[0]); i++) {
        want = ping_cases[i].err;
        peer_start(ping_cases[i].script);
        ck_assert_int_eq(ofa_connect(sockpath, &c), 0);
        ck_assert_str_eq(ofa_server_version(c), "fake 0");
        rc = ofa_ping(c);
        ck_assert_msg(rc == want, "%s: got %s, want %s", ping_cases[i].name, ofa_err_name(rc),
                      ofa_err_name(want));
        if (want != 0) {
            /* Broken for good, and nothing waits on the socket any more:
             * the peer lingers, so a read would hang this test. */
            ck_assert_int_eq(ofa_ping(c), want);
            ck_assert_int_eq(ofa_daemon_stats(c, &d), want);
            ck_assert_int_eq(ofa_arena_list(c, &v, &n), want);
            ck_assert_int_eq(ofa_arena_open(c, "x", &a), want);
            ck_assert_ptr_null(a);
            ck_assert_int_eq(ofa_arena_create(c, "x", NULL), want);
        }
        ofa_disconnect(c);
        peer_wait();
        unlink(sockpath);
        ck_assert_msg(count_fds() == fds, "%s: descriptors leaked", ping_cases[i].name);
    }
    for (i = 0; i < sizeof(soft_cases) / sizeof(soft_cases[0]); i++) {
        peer_start(soft_cases[i].script);
        ck_assert_int_eq(ofa_connect(sockpath, &c), 0);
        rc = ofa_ping(c);
        ck_assert_msg(rc == soft_cases[i].err, "%s: got %s", soft_cases[i].name, ofa_err_name(rc));
        ck_assert_int_eq(ofa_ping(c), 0);
        ofa_disconnect(c);
        peer_wait();
        unlink(sockpath);
        ck_assert_msg(count_fds() == fds, "%s: descriptors leaked", soft_cases[i].name);
    }
}
END_TEST

static const struct {
    const char *name;
    script_fn *script;
} page_cases[] = {
    {"page without fd", s_page_no_fd},
    {"page with two fds", s_page_two_fds},
    {"segment shorter than the page", s_page_short_segment},
    {"page that does not hold the offset", s_page_elsewhere},
    {"empty page", s_page_empty},
};

START_TEST(test_hostile_pages)
{
    ofa_arena *a;
    ofa_client *c;
    uint64_t off;
    size_t i;
    int fds = count_fds();

    for (i = 0; i < sizeof(page_cases) / sizeof(page_cases[0]); i++) {
        peer_start(page_cases[i].script);
        ck_assert_int_eq(ofa_connect(sockpath, &c), 0);
        ck_assert_int_eq(ofa_arena_open(c, "a", &a), 0);
        ck_assert_int_eq(ofa_arena_writable(a), 1);
        ck_assert_str_eq(ofa_arena_name(a), "a");
        ck_assert_msg(ofa_ptr(a, 4096 + 64) == NULL, "%s: mapped", page_cases[i].name);
        ck_assert_msg(ofa_ping(c) == -EPROTO, "%s: not broken", page_cases[i].name);
        ck_assert_int_eq(ofa_alloc(a, 64, &off), -EPROTO);
        ck_assert_int_eq(ofa_free(a, 4096), -EPROTO);
        ck_assert_int_eq(ofa_arena_trim(a), 0); /* nothing mapped: no request */
        ofa_arena_close(a);
        ofa_disconnect(c);
        peer_wait();
        unlink(sockpath);
        ck_assert_msg(count_fds() == fds, "%s: descriptors leaked", page_cases[i].name);
    }

    /* ENOENT for the page is an answer, not a failure of the connection. */
    peer_start(s_page_enoent);
    ck_assert_int_eq(ofa_connect(sockpath, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "a", &a), 0);
    ck_assert_ptr_null(ofa_ptr(a, 4096));
    ck_assert_ptr_null(ofa_ptr(a, 0)); /* 0 is never a block: no request */
    ck_assert_int_eq(ofa_ping(c), 0);
    ofa_disconnect(c); /* closes a too */
    peer_wait();
    unlink(sockpath);
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

START_TEST(test_hostile_batches)
{
    static const uint64_t two[2] = {4096, 4160};
    uint64_t offs[3] = {1, 1, 1}, off = 1;
    ofa_arena *a;
    ofa_client *c;
    int fds = count_fds();

    peer_start(s_alloc_n_short);
    ck_assert_int_eq(ofa_connect(sockpath, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "a", &a), 0);
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, 0, 3, offs), -EPROTO);
    ck_assert_int_eq(ofa_ping(c), -EPROTO);
    ofa_disconnect(c);
    peer_wait();
    unlink(sockpath);

    peer_start(s_alloc_zero_off);
    ck_assert_int_eq(ofa_connect(sockpath, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "a", &a), 0);
    ck_assert_int_eq(ofa_alloc(a, 64, &off), -EPROTO);
    ofa_disconnect(c);
    peer_wait();
    unlink(sockpath);

    peer_start(s_free_n_overcount);
    ck_assert_int_eq(ofa_connect(sockpath, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "a", &a), 0);
    ck_assert_int_eq(ofa_free_many(a, two, 2), -EPROTO);
    ofa_disconnect(c);
    peer_wait();
    unlink(sockpath);

    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* A cache's FILL answered wrongly: the call fails with EPROTO, the
 * connection is dropped, no block is handed out twice. */
START_TEST(test_hostile_fill)
{
    static void (*const scripts[])(void) = {s_fill_twice, s_fill_short};
    uint64_t off, offs[4];
    ofa_arena *a;
    ofa_client *c;
    int fds = count_fds();

    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        peer_start(scripts[i]);
        ck_assert_int_eq(ofa_connect(sockpath, &c), 0);
        ck_assert_int_eq(ofa_arena_open(c, "a", &a), 0);
        off = 1;
        if (i == 1)
            ck_assert_int_eq(ofa_alloc_many(a, 64, 0, OFA_PRIVATE, 4, offs), -EPROTO);
        else
            ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, OFA_PRIVATE, &off), -EPROTO);
        ck_assert_uint_eq(off, 1);
        ck_assert_int_eq(ofa_ping(c), -EPROTO);
        ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, OFA_PRIVATE, &off), -EPROTO);
        ofa_disconnect(c);
        peer_wait();
        unlink(sockpath);
    }
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* Arguments refused before anything is sent: the peer sees no request. */
static void s_hello_only(void)
{
    srv_hello();
    srv_open();
}

START_TEST(test_local_checks)
{
    uint64_t offs[2], off;
    ofa_arena_info info;
    ofa_arena *a, *b;
    ofa_client *c;
    char name[80];

    peer_start(s_hello_only);
    ck_assert_int_eq(ofa_connect(sockpath, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "a", &a), 0);
    ck_assert_int_eq(ofa_arena_open(c, "bad name", &b), -EINVAL);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(ofa_arena_open(c, "", &b), -EINVAL);
    ck_assert_int_eq(ofa_arena_open(c, NULL, &b), -EINVAL);
    memset(name, 'n', sizeof(name) - 1);
    name[64] = '\0';
    ck_assert_int_eq(ofa_arena_create(c, name, NULL), -EINVAL);
    ck_assert_int_eq(ofa_arena_drop(c, "a/b", 0), -EINVAL);
    ck_assert_int_eq(ofa_arena_info_get(c, "..\n", &info), -EINVAL);
    ck_assert_int_eq(ofa_alloc_ex(a, 64, 48, 0, &off), -EINVAL);     /* align */
    ck_assert_int_eq(ofa_alloc_ex(a, 64, 0, 0x80, &off), -EINVAL);   /* flags */
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, 0, 0, offs), -EINVAL); /* count 0 */
    ck_assert_int_eq(ofa_alloc_many(a, 64, 0, 0, PROTO_MAX_BATCH + 1, offs), -EINVAL);
    ck_assert_int_eq(ofa_free_many(a, offs, PROTO_MAX_BATCH + 1), -EINVAL);
    ck_assert_int_eq(ofa_free_many(a, offs, 0), 0);
    ck_assert_int_eq(ofa_alloc(NULL, 64, &off), -EINVAL);
    ck_assert_int_eq(ofa_alloc(a, 64, NULL), -EINVAL);
    ck_assert_ptr_null(ofa_ptr(NULL, 4096));
    ck_assert_int_eq(ofa_arena_trim(NULL), -EINVAL);
    ck_assert_int_eq(ofa_stats(a, NULL), -EINVAL);
    ofa_disconnect(c);
    peer_wait();
}
END_TEST

/* --- deadlines --- */

/* Reads requests and never answers. */
static void s_silent(void)
{
    srv_linger();
}

/* Answers the handshake, then nothing. */
static void s_hello_then_silent(void)
{
    srv_hello();
    srv_linger();
}

/* Answers the handshake and OPEN, then nothing. */
static void s_open_then_silent(void)
{
    srv_hello();
    srv_open();
    srv_linger();
}

/* Answers the handshake, then sends the reply to PING one byte every 50 ms:
 * always some progress, never a whole frame in time. */
static void s_dribble_forever(void)
{
    static const uint8_t head[] = {0, 0, 0x40, 0};
    struct proto_req req;
    const struct timespec pause = {0, 50 * 1000 * 1000};

    srv_hello();
    srv_req(&req);
    for (size_t i = 0;; i++) {
        srv_write(i < sizeof(head) ? &head[i] : &head[3], 1);
        nanosleep(&pause, NULL);
    }
}

START_TEST(test_deadline_handshake)
{
    int fds = count_fds();
    ofa_client *c = (ofa_client *)&c;

    setenv(OFA_TIMEOUT_ENV, "300", 1);
    peer_start(s_silent);
    ck_assert_int_eq(ofa_connect(sockpath, &c), -ETIMEDOUT);
    ck_assert_ptr_null(c);
    peer_wait();
    unlink(sockpath);
    ck_assert_int_eq(count_fds(), fds);
    unsetenv(OFA_TIMEOUT_ENV);
}
END_TEST

START_TEST(test_deadline_backlog)
{
    struct sockaddr_un sa;
    int fds = count_fds(), lfd, first;
    ofa_client *c = (ofa_client *)&c;

    /* A listener that never accepts, with its backlog taken: connect(2)
     * would wait for room forever. */
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, sockpath);
    unlink(sockpath);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 0), 0);
    first = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ck_assert_int_eq(connect(first, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setenv(OFA_TIMEOUT_ENV, "300", 1);
    ck_assert_int_eq(ofa_connect(sockpath, &c), -ETIMEDOUT);
    ck_assert_ptr_null(c);
    unsetenv(OFA_TIMEOUT_ENV);
    close(first);
    close(lfd);
    unlink(sockpath);
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

START_TEST(test_deadline_calls)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;
    int fds = count_fds();

    ck_assert_int_eq(ofa_set_timeout(NULL, 10), -EINVAL);

    /* A request the daemon never answers: -ETIMEDOUT, the connection is
     * dropped (later calls fail at once, the peer still being there), and
     * the arena object stays valid until closed. */
    unsetenv(OFA_TIMEOUT_ENV);
    peer_start(s_open_then_silent);
    ck_assert_int_eq(ofa_connect(sockpath, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "x", &a), 0);
    ck_assert_int_eq(ofa_set_timeout(c, 200), 0);
    ck_assert_int_eq(ofa_alloc(a, 64, &off), -ETIMEDOUT);
    ck_assert_int_eq(ofa_alloc(a, 64, &off), -ETIMEDOUT);
    ck_assert_int_eq(ofa_ping(c), -ETIMEDOUT);
    ck_assert_str_eq(ofa_arena_name(a), "x");
    ck_assert_int_eq(ofa_arena_writable(a), 1);
    ofa_arena_close(a);
    ofa_disconnect(c);
    peer_wait();
    unlink(sockpath);

    /* A timeout set after connect applies to the next call. */
    peer_start(s_hello_then_silent);
    ck_assert_int_eq(ofa_connect(sockpath, &c), 0);
    ck_assert_int_eq(ofa_set_timeout(c, 150), 0);
    ck_assert_int_eq(ofa_ping(c), -ETIMEDOUT);
    ofa_disconnect(c);
    peer_wait();
    unlink(sockpath);

    /* The deadline is the whole exchange's, not each read's. */
    peer_start(s_dribble_forever);
    ck_assert_int_eq(ofa_connect(sockpath, &c), 0);
    ck_assert_int_eq(ofa_set_timeout(c, 400), 0);
    ck_assert_int_eq(ofa_ping(c), -ETIMEDOUT);
    ofa_disconnect(c);
    peer_wait();
    unlink(sockpath);
    ck_assert_int_eq(count_fds(), fds);
    ck_assert_str_eq(ofa_err_name(-ETIMEDOUT), "ETIMEDOUT");
}
END_TEST

/* --- the public helpers and the structs that grow --- */

START_TEST(test_version)
{
    char want[32];

    ck_assert_uint_eq(ofa_version(), OFA_VERSION_HEX);
    snprintf(want, sizeof(want), "%d.%d.%d", OFA_VERSION_MAJOR, OFA_VERSION_MINOR,
             OFA_VERSION_PATCH);
    ck_assert_str_eq(ofa_version_string(), want);
    /* The header's numbers are the build's. */
    ck_assert_str_eq(ofa_version_string(), OFA_VERSION);
}
END_TEST

START_TEST(test_name_valid)
{
    static const struct {
        const char *name;
        int valid;
    } t[] = {
        {"a", 1},
        {"frames.v2_x-1", 1},
        {"ABCxyz0189", 1},
        {"012345678901234567890123456789012345678901234567890123456789012", 1}, /* 63 */
        {"0123456789012345678901234567890123456789012345678901234567890123", 0}, /* 64 */
        {"", 0},
        {"a/b", 0},
        {"a b", 0},
        {"a\n", 0},
        {"caf\xc3\xa9", 0},
        {"-", 1},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        ck_assert_msg(ofa_arena_name_valid(t[i].name) == t[i].valid, "%s", t[i].name);
    ck_assert_int_eq(ofa_arena_name_valid(NULL), 0);
}
END_TEST

/* The spec's fields stay where they were; only the room behind them fills. */
START_TEST(test_struct_layout)
{
    ofa_arena_config cfg = {.page_size = 1 << 20, .mode = 0640};

    ck_assert_uint_eq(sizeof(ofa_arena_config), 128);
    ck_assert_uint_eq(offsetof(ofa_arena_config, page_size), 0);
    ck_assert_uint_eq(offsetof(ofa_arena_config, max_bytes), 8);
    ck_assert_uint_eq(offsetof(ofa_arena_config, align), 16);
    ck_assert_uint_eq(offsetof(ofa_arena_config, mode), 20);
    ck_assert_uint_eq(cfg.max_bytes, 0);
    ck_assert_uint_eq(cfg.align, 0);

    ck_assert_uint_eq(sizeof(ofa_arena_stats), 256);
    ck_assert_uint_eq(offsetof(ofa_arena_stats, page_size), 0);
    ck_assert_uint_eq(offsetof(ofa_arena_stats, alloc_failures), 80);
    ck_assert_uint_eq(offsetof(ofa_arena_stats, align), 88);

    ck_assert_uint_eq(sizeof(ofa_arena_info), 512);
    ck_assert_uint_eq(offsetof(ofa_arena_info, name), 0);
    ck_assert_uint_eq(offsetof(ofa_arena_info, uid), 64);
    ck_assert_uint_eq(offsetof(ofa_arena_info, mode), 72);
    ck_assert_uint_eq(offsetof(ofa_arena_info, stats), 80);

    ck_assert_uint_eq(sizeof(ofa_daemon_info), 256);
    ck_assert_uint_eq(offsetof(ofa_daemon_info, version), 0);
    ck_assert_uint_eq(offsetof(ofa_daemon_info, uptime_s), 32);
    ck_assert_uint_eq(offsetof(ofa_daemon_info, pid), 72);
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc;

    tc = tcase_create("errors");
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_name_valid);
    tcase_add_test(tc, test_struct_layout);
    suite_add_tcase(s, tc);

    tc = tcase_create("socket_path");
    tcase_add_test(tc, test_socket_path);
    suite_add_tcase(s, tc);

    tc = tcase_create("connect");
    tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
    tcase_add_test(tc, test_connect_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hostile_handshake);
    tcase_add_test(tc, test_hostile_replies);
    tcase_add_test(tc, test_hostile_pages);
    tcase_add_test(tc, test_hostile_batches);
    tcase_add_test(tc, test_hostile_fill);
    tcase_add_test(tc, test_local_checks);
    suite_add_tcase(s, tc);

    tc = tcase_create("deadline");
    tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_deadline_handshake);
    tcase_add_test(tc, test_deadline_backlog);
    tcase_add_test(tc, test_deadline_calls);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* the library must never raise it */
    return ofa_check_run(client_suite());
}

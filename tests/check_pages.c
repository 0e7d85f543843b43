/*
 * check_pages.c - ofad's pages under attack: a real ofad, a real root
 * client, and a real `nobody` child doing what a hostile local user would.
 *
 * Topics (one TCase each):
 *   seals    a writer cannot shrink or grow a page (no SIGBUS for anyone,
 *            no memory outside the accounting), nor change its seals;
 *   readers  a reader's descriptor cannot write, be mapped or mprotect'ed
 *            writable, punch, or be reopened read-write;
 *   squat    names pre-created in /dev/shm change nothing (pages have none);
 *   limits   max_pages, its bound by RLIMIT_NOFILE, max_total from RAM;
 *   release  a client that keeps descriptors and mappings of a dropped arena
 *            keeps no memory: ofad's bytes_reserved and the pages' own
 *            blocks (fstat on the client's descriptors) agree on zero;
 *   inflight a client that asks for pages and never reads gets a bounded
 *            number of descriptors sent its way, and others carry on;
 *   offload  a large page is made off ofad's loop: other clients are served
 *            while it is being made, its own connection's later requests
 *            wait (replies in order), and a client gone or an arena
 *            dropped meanwhile leaves nothing behind;
 *   offsets  one daemon-wide offset space: another arena's offset, live or
 *            dropped, is no block of mine (FREE -EINVAL, PAGE -ENOENT).
 *
 * Children report through their exit code (the number of the first check
 * that failed), never through Check, and leave with _exit().
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define OK(x) ck_assert_int_eq((x), 0)

static struct ofad D;

static void start(const char *const *args)
{
    int rc = ofad_start(&D, args);

    ck_assert_msg(rc == 0, "ofad did not start: %s", strerror(-rc));
    OK(ofad_open_to_all(&D));
}

static void start_config(const char *text, const char *const *args)
{
    struct ofad_opts o = {.args = args, .with_config = true, .reuse = true};
    int rc;

    OK(ofad_prepare(&D));
    OK(ofad_write_config(&D, text));
    rc = ofad_start_opts(&D, &o);
    ck_assert_msg(rc == 0, "ofad did not start: %s", strerror(-rc));
}

static void stop(void)
{
    ck_assert_int_eq(ofad_stop(&D), 0);
    ck_assert_int_eq(ofad_segments(D.tag), 0);
    ofad_cleanup(&D);
}

static void hello(struct rawc *c)
{
    OK(rawc_connect(c, D.socket));
    OK(rawc_hello(c));
}

/* PAGE for off through handle h: the descriptor, and the page's base/len. */
static int page_fd(struct rawc *c, uint32_t h, uint64_t off, uint64_t *base, uint64_t *len)
{
    struct proto_req q = {.op = PROTO_OP_PAGE};
    struct proto_rep r;
    int fd = -1, rc;

    q.u.page.arena = h;
    q.u.page.off = off;
    rc = rawc_call(c, &q, &r, &fd);
    if (rc < 0)
        return rc;
    if (base != NULL)
        *base = r.u.page.base;
    if (len != NULL)
        *len = r.u.page.len;
    return fd;
}

/* What root set up for the child. */
struct ctx {
    const char *socket;
    const char *arena;
    uint64_t off; /* a block of root's holding "pattern" */
    int pipe_in, pipe_out; /* to and from the child, where used */
};

/* Root's block off, written with a pattern through a writable mapping that
 * stays (the test touches all of it after the attack). */
static uint8_t *map_pattern(struct rawc *c, uint32_t h, uint64_t off, uint64_t *len)
{
    uint64_t base;
    uint8_t *m;
    int fd = page_fd(c, h, off, &base, len);

    ck_assert_int_ge(fd, 0);
    m = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    close(fd);
    memcpy(m + (off - base), "pattern", 8);
    return m + (off - base);
}

/* ================= seals ================= */

/* As nobody with write access: every way to change the page's size fails. */
static int writer_resizes(void *arg)
{
    const struct ctx *x = arg;
    struct stat st;
    struct rawc c;
    uint64_t len;
    uint32_t h;
    int w = -1, fd;

    if (rawc_connect(&c, x->socket) != 0 || rawc_hello(&c) != 0)
        return 1;
    if (rawc_open(&c, x->arena, &h, &w) != 0 || w != 1)
        return 2;
    fd = page_fd(&c, h, x->off, NULL, &len);
    if (fd < 0 || (fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR)
        return 3;
    if (ftruncate(fd, 0) == 0 || errno != EPERM)
        return 4; /* would SIGBUS every process mapping the page */
    if (ftruncate(fd, (off_t)len - 4096) == 0 || errno != EPERM)
        return 5;
    if (ftruncate(fd, 2 * (off_t)len) == 0 || errno != EPERM)
        return 6; /* memory ofad would not count */
    if (fallocate(fd, 0, 0, 2 * (off_t)len) == 0 || errno != EPERM)
        return 7;
    if (pwrite(fd, "x", 1, (off_t)len) >= 0 || errno != EPERM)
        return 8;
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == 0 || errno != EPERM)
        return 9; /* F_SEAL_SEAL: nobody can freeze the writers out */
    if ((fcntl(fd, F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) !=
        (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
        return 10;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != len)
        return 11;
    close(fd);
    rawc_close(&c);
    return 0;
}

START_TEST(seals_writer_cannot_resize)
{
    static const char *const args[] = {"--arena", "w,page_size=64K,mode=0666", NULL};
    struct ctx x = {.arena = "w"};
    struct rawc c;
    uint64_t len;
    uint32_t h;
    uint8_t *p, *page;
    unsigned sum = 0;
    int rc;

    start(args);
    hello(&c);
    OK(rawc_open(&c, "w", &h, NULL));
    OK(rawc_alloc(&c, h, 100, 0, &x.off));
    p = map_pattern(&c, h, x.off, &len);
    x.socket = D.socket;
    rc = harness_as_user("nobody", (gid_t)-1, writer_resizes, &x);
    ck_assert_msg(rc == 0, "check %d failed as nobody", rc);
    /* Every byte of the page is still there for us: no SIGBUS (it would
     * end this test), and our bytes unchanged. */
    page = p - (x.off & (len - 1));
    for (uint64_t i = 0; i < len; i += 4096)
        sum += page[i];
    (void)sum;
    ck_assert_str_eq((const char *)p, "pattern");
    rawc_close(&c);
    stop();
}
END_TEST

/* ================= readers ================= */

/* As nobody with read access only. */
static int reader_writes(void *arg)
{
    const struct ctx *x = arg;
    char path[64];
    struct rawc c;
    uint64_t base, len;
    uint8_t *m;
    uint32_t h;
    int w = -1, fd, fd2;

    if (rawc_connect(&c, x->socket) != 0 || rawc_hello(&c) != 0)
        return 1;
    if (rawc_open(&c, x->arena, &h, &w) != 0 || w != 0)
        return 2;
    fd = page_fd(&c, h, x->off, &base, &len);
    if (fd < 0 || (fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDONLY)
        return 3;
    if (pwrite(fd, "x", 1, 0) >= 0 || errno != EBADF)
        return 4;
    if (mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) != MAP_FAILED ||
        errno != EACCES)
        return 5;
    m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED || memcmp(m + (x->off - base), "pattern", 8) != 0)
        return 6;
    if (mprotect(m, len, PROT_READ | PROT_WRITE) == 0 || errno != EACCES)
        return 7;
    /* Its own /proc/self/fd is no way back to a writable descriptor. */
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    fd2 = open(path, O_RDWR);
    if (fd2 >= 0 || errno != EACCES)
        return 8;
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)len) == 0 ||
        errno != EBADF)
        return 9;
    if (ftruncate(fd, 0) == 0)
        return 10;
    if (memcmp(m + (x->off - base), "pattern", 8) != 0)
        return 11;
    munmap(m, len);
    close(fd);
    rawc_close(&c);
    return 0;
}

START_TEST(readers_cannot_write)
{
    static const char *const args[] = {"--arena", "r,page_size=64K,mode=0644", NULL};
    struct ctx x = {.arena = "r"};
    struct rawc c;
    uint64_t len;
    uint32_t h;
    uint8_t *p;
    int rc;

    start(args);
    hello(&c);
    OK(rawc_open(&c, "r", &h, NULL));
    OK(rawc_alloc(&c, h, 100, 0, &x.off));
    p = map_pattern(&c, h, x.off, &len);
    x.socket = D.socket;
    rc = harness_as_user("nobody", (gid_t)-1, reader_writes, &x);
    ck_assert_msg(rc == 0, "check %d failed as nobody", rc);
    ck_assert_str_eq((const char *)p, "pattern");
    rawc_close(&c);
    stop();
}
END_TEST

/* ================= squat ================= */

/* As nobody: pre-create the names older versions gave pages. */
static int squat_names(void *arg)
{
    const char *tag = arg;
    char name[128];

    for (int n = 1; n <= 50; n++) {
        int fd;
        snprintf(name, sizeof(name), "/ofa.%s.p.%d", tag, n);
        fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0644);
        if (fd < 0)
            return 1;
        close(fd);
    }
    return 0;
}

START_TEST(squat_names_change_nothing)
{
    static const char *const args[] = {"--arena", "p,page_size=64K,mode=0666", NULL};
    struct rawc c;
    uint64_t off;
    uint32_t h;
    int rc;

    start(args);
    rc = harness_as_user("nobody", (gid_t)-1, squat_names, D.tag);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(ofad_segments(D.tag), 50);
    hello(&c);
    OK(rawc_open(&c, "p", &h, NULL));
    for (int i = 0; i < 60; i++)
        OK(rawc_alloc(&c, h, 65536, 0, &off)); /* a page each */
    ck_assert_int_eq(ofad_pages(&D), 60);
    rawc_close(&c);
    /* What looks like an older version's leftovers goes at the next start
     * (ofad as root may remove them all). */
    ck_assert_int_eq(ofad_stop(&D), 0);
    {
        struct ofad_opts o = {.args = args, .reuse = true};
        OK(ofad_start_opts(&D, &o));
    }
    ck_assert_int_eq(ofad_segments(D.tag), 0);
    ck_assert(ofad_log_has(&D, "old segments removed count=50"));
    stop();
}
END_TEST

/* ================= limits ================= */

START_TEST(limits_max_pages)
{
    struct proto_daemon_info di;
    struct rawc c;
    uint64_t off;
    uint32_t h;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

    start_config("[ofad]\nmax_pages = 3\n[arena p]\npage_size = 64K\n", NULL);
    hello(&c);
    OK(rawc_open(&c, "p", &h, NULL));
    for (int i = 0; i < 3; i++)
        OK(rawc_alloc(&c, h, 65536, 0, &off));
    /* A daemon-wide limit: -ENOMEM. */
    ck_assert_int_eq(rawc_alloc(&c, h, 65536, 0, &off), -ENOMEM);
    ck_assert_int_eq(ofad_pages(&D), 3);
    OK(rawc_free(&c, h, off));
    OK(rawc_alloc(&c, h, 65536, 0, &off));
    /* max_total's default: half the machine's memory (pages are memfds). */
    OK(rawc_daemon(&c, &di));
    ck_assert_uint_eq(di.bytes_limit, (uint64_t)pages * (uint64_t)psize / 2);
    rawc_close(&c);
    stop();
}
END_TEST

START_TEST(limits_max_pages_over_nofile)
{
    const char *args[] = {"--config", NULL, NULL};
    char out[4096];

    /* The test's own descriptor limit is what ofad inherits (it raises the
     * soft limit to the hard one). */
    OK(ofad_prepare(&D));
    OK(ofad_write_config(&D, "[ofad]\nmax_pages = 16777216\n"));
    args[1] = D.config;
    ck_assert_int_eq(ofad_run(args, out, sizeof(out)), 2);
    ck_assert_msg(strstr(out, "max_pages 16777216 does not fit the descriptor limit") != NULL,
                  "%s", out);
    ofad_cleanup(&D);
}
END_TEST

/* ================= release ================= */

/* As nobody: make pages in an arena of its own, keep their descriptors and
 * mappings, drop the arena. */
static int keep_dropped(void *arg)
{
    const struct ctx *x = arg;
    struct proto_daemon_info di;
    struct stat st;
    struct rawc c;
    uint64_t off, base, len;
    uint8_t *m[4];
    uint32_t h;
    int fds[4];

    if (rawc_connect(&c, x->socket) != 0 || rawc_hello(&c) != 0)
        return 1;
    if (rawc_create(&c, "mine", 1 << 20, 0, 0, 0) != 0 || rawc_open(&c, "mine", &h, NULL) != 0)
        return 2;
    for (int i = 0; i < 4; i++) {
        if (rawc_alloc(&c, h, 1 << 20, 0, &off) != 0)
            return 3;
        fds[i] = page_fd(&c, h, off, &base, &len);
        if (fds[i] < 0 || fstat(fds[i], &st) != 0 || (uint64_t)st.st_blocks * 512 < len)
            return 4; /* backed in full when made */
        m[i] = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
        if (m[i] == MAP_FAILED)
            return 5;
        memset(m[i], 0x5a, len);
    }
    if (rawc_daemon(&c, &di) != 0 || di.bytes_reserved != 4 << 20)
        return 6;
    if (rawc_drop(&c, "mine", 1) != 0)
        return 7;
    /* ofad counts nothing, and nothing is held: the pages were punched
     * although we still have them open and mapped. */
    if (rawc_daemon(&c, &di) != 0 || di.bytes_reserved != 0)
        return 8;
    for (int i = 0; i < 4; i++) {
        if (fstat(fds[i], &st) != 0 || st.st_blocks != 0)
            return 9;
        if (m[i][0] != 0 || m[i][len - 1] != 0)
            return 10; /* zeroes, and no SIGBUS */
    }
    /* Touching a stale mapping again takes fresh memory: ours, one page of
     * it per page touched, not ofad's. */
    m[0][0] = 1;
    if (fstat(fds[0], &st) != 0 || st.st_blocks == 0 || (uint64_t)st.st_blocks * 512 >= len)
        return 11;
    for (int i = 0; i < 4; i++) {
        munmap(m[i], len);
        close(fds[i]);
    }
    rawc_close(&c);
    return 0;
}

START_TEST(release_kept_fds_hold_nothing)
{
    static const char *const args[] = {"--arena", "p,page_size=64K", NULL};
    struct ctx x = {0};
    int rc;

    start(args);
    x.socket = D.socket;
    rc = harness_as_user("nobody", (gid_t)-1, keep_dropped, &x);
    ck_assert_msg(rc == 0, "check %d failed as nobody", rc);
    stop();
}
END_TEST

/* ================= inflight ================= */

#define PAGE_REQS 600

/* As nobody: ask for PAGE_REQS descriptors without reading, tell the
 * parent, wait, then count the descriptors that were in flight. */
static int hoard_fds(void *arg)
{
    const struct ctx *x = arg;
    struct proto_buf b;
    struct rawc c;
    uint32_t h;
    int unread = 0, got = 0;
    char go;

    if (rawc_connect(&c, x->socket) != 0 || rawc_hello(&c) != 0 ||
        rawc_open(&c, x->arena, &h, NULL) != 0)
        return 1;
    proto_buf_init(&b);
    for (int i = 0; i < PAGE_REQS; i++) {
        struct proto_req q = {.op = PROTO_OP_PAGE, .id = 100 + (uint64_t)i};
        q.u.page.arena = h;
        q.u.page.off = x->off;
        if (proto_encode_req(&b, &q) != 0)
            return 2;
    }
    if (rawc_send_raw(&c, b.data, b.len) != 0)
        return 3;
    proto_buf_free(&b);
    if (write(x->pipe_out, "s", 1) != 1 || read(x->pipe_in, &go, 1) != 1)
        return 4;
    /* What sits in our socket now: its bytes, and the descriptors with them. */
    if (ioctl(c.fd, FIONREAD, &unread) != 0 || unread <= 0)
        return 5;
    while (unread > 0) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * 256)];
            struct cmsghdr align;
        } cm;
        char data[65536];
        struct iovec iov = {.iov_base = data,
                            .iov_len = (size_t)unread < sizeof(data) ? (size_t)unread : sizeof(data)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
                            .msg_controllen = sizeof(cm.buf)};
        ssize_t n = recvmsg(c.fd, &mh, MSG_CMSG_CLOEXEC);
        if (n <= 0)
            return 6;
        for (struct cmsghdr *m = CMSG_FIRSTHDR(&mh); m != NULL; m = CMSG_NXTHDR(&mh, m)) {
            int k = (int)((m->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(m) + i * sizeof(int), sizeof(int));
                close(fd);
            }
            got += k;
        }
        unread -= (int)n;
    }
    rawc_close(&c);
    return got > 0 && got <= 64 ? 0 : 10 + (got > 200 ? 200 : got) / 10;
}

START_TEST(inflight_bounded)
{
    static const char *const args[] = {"--arena", "p,page_size=64K,mode=0666", NULL};
    struct ctx x = {.arena = "p"};
    int to_child[2], from_child[2];
    struct rawc c;
    uint32_t h;
    char ch;
    pid_t pid;
    int status, fd;

    start(args);
    hello(&c);
    OK(rawc_open(&c, "p", &h, NULL));
    OK(rawc_alloc(&c, h, 100, 0, &x.off));
    x.socket = D.socket;
    OK(pipe(to_child));
    OK(pipe(from_child));
    x.pipe_in = to_child[0];
    x.pipe_out = from_child[1];
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(harness_as_user("nobody", (gid_t)-1, hoard_fds, &x));
    close(from_child[1]); /* a child that dies early gives EOF, not a hang */
    close(to_child[0]);
    ck_assert_int_eq(read(from_child[0], &ch, 1), 1);
    /* Meanwhile everyone else is served, descriptors included. */
    for (int i = 0; i < 100; i++) {
        fd = page_fd(&c, h, x.off, NULL, NULL);
        ck_assert_int_ge(fd, 0);
        close(fd);
    }
    ck_assert_int_eq(write(to_child[1], "g", 1), 1);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "nobody's check %d failed (10+: descriptors in flight / 10)",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    close(to_child[1]);
    close(from_child[0]);
    OK(rawc_ping(&c));
    rawc_close(&c);
    stop();
}
END_TEST

/* ================= offload ================= */

#define BIG (2ull << 30) /* a page that takes ofad a while to back */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits until the daemon's bytes_reserved is at least (above) or at most
 * (!above) v: pages being made count from the start. The condition is
 * asserted, not the time. */
static void wait_reserved(struct rawc *c, uint64_t v, bool above)
{
    uint64_t deadline = now_ms() + HARNESS_WAIT_MS;
    struct proto_daemon_info di;

    for (;;) {
        OK(rawc_daemon(c, &di));
        if (above ? di.bytes_reserved >= v : di.bytes_reserved <= v)
            return;
        ck_assert_msg(now_ms() < deadline, "bytes_reserved stays at %llu",
                      (unsigned long long)di.bytes_reserved);
    }
}

static bool readable(const struct rawc *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};

    return c->len > c->off || poll(&p, 1, 0) == 1;
}

static void send_alloc(struct rawc *c, uint32_t h, uint64_t size, uint64_t id)
{
    struct proto_req q = {.op = PROTO_OP_ALLOC, .id = id};

    q.u.alloc.arena = h;
    q.u.alloc.size = size;
    OK(rawc_send(c, &q));
}

START_TEST(offload_others_served)
{
    static const char *const args[] = {"--arena", "big,page_size=64K,max=8G", NULL};
    struct proto_req ping = {.op = PROTO_OP_PING, .id = 2};
    struct proto_rep r;
    struct rawc a, b;
    uint32_t h;

    start(args);
    hello(&a);
    hello(&b);
    OK(rawc_open(&a, "big", &h, NULL));
    /* a asks for a big page, then pings on the same connection. */
    send_alloc(&a, h, BIG, 1);
    OK(rawc_send(&a, &ping));
    /* The page is being made (its bytes are reserved already)... */
    wait_reserved(&b, BIG, true);
    /* ...and b is answered meanwhile, while a still waits: on the loop,
     * a's reply would have come first. */
    OK(rawc_ping(&b));
    ck_assert_msg(!readable(&a), "a's page was made before b was served");
    /* a's replies come in request order once the page is there. */
    OK(rawc_recv(&a, &r, NULL));
    ck_assert_uint_eq(r.id, 1);
    ck_assert_uint_eq(r.err, 0);
    OK(rawc_recv(&a, &r, NULL));
    ck_assert_uint_eq(r.id, 2);
    ck_assert_uint_eq(r.err, 0);
    ck_assert_int_eq(ofad_pages(&D), 1);
    rawc_close(&a);
    rawc_close(&b);
    stop();
}
END_TEST

START_TEST(offload_gone_meanwhile)
{
    static const char *const args[] = {"--arena", "big,page_size=64K,max=8G", NULL};
    struct proto_arena_info st;
    struct proto_rep r;
    struct rawc a, b;
    uint32_t h;

    start(args);
    hello(&a);
    hello(&b);
    /* A client that leaves while its page is being made. */
    OK(rawc_open(&a, "big", &h, NULL));
    send_alloc(&a, h, BIG, 1);
    wait_reserved(&b, BIG, true);
    rawc_close(&a);
    wait_reserved(&b, 0, false);
    OK(rawc_stats(&b, "big", &st));
    ck_assert_uint_eq(st.pages, 0);
    ck_assert_uint_eq(st.blocks_live, 0);
    ck_assert_int_eq(ofad_pages(&D), 0);
    /* An arena dropped while its page is being made. */
    OK(rawc_create(&b, "gone", 65536, 8ull << 30, 0, 0));
    hello(&a);
    OK(rawc_open(&a, "gone", &h, NULL));
    send_alloc(&a, h, BIG, 1);
    wait_reserved(&b, BIG, true);
    OK(rawc_drop(&b, "gone", 1));
    OK(rawc_recv(&a, &r, NULL));
    ck_assert_uint_eq(r.id, 1);
    ck_assert_int_eq(proto_err_to_errno(r.err), -ENOENT);
    wait_reserved(&b, 0, false);
    ck_assert_int_eq(ofad_pages(&D), 0);
    OK(rawc_ping(&a));
    rawc_close(&a);
    rawc_close(&b);
    stop();
}
END_TEST

/* ================= offsets ================= */

/* As nobody, in an arena of its own: root's offsets name nothing here. */
static int free_foreign(void *arg)
{
    const struct ctx *x = arg;
    struct rawc c;
    uint64_t mine, base, len;
    uint32_t h;
    int fd;

    if (rawc_connect(&c, x->socket) != 0 || rawc_hello(&c) != 0)
        return 1;
    if (rawc_create(&c, "mine", 65536, 0, 0, 0) != 0 || rawc_open(&c, "mine", &h, NULL) != 0)
        return 2;
    /* Enough blocks that the arena's pages cover the same slot numbers,
     * sizes and layout as root's. */
    for (int i = 0; i < 4; i++)
        if (rawc_alloc(&c, h, 100, 0, &mine) != 0)
            return 3;
    if (rawc_free(&c, h, x->off) != -EINVAL)
        return 4;
    fd = page_fd(&c, h, x->off, &base, &len);
    if (fd != -ENOENT)
        return 5;
    if (mine == x->off)
        return 6;
    rawc_close(&c);
    return 0;
}

START_TEST(offsets_cross_arena)
{
    static const char *const args[] = {"--arena", "priv,page_size=64K", NULL};
    struct proto_arena_info st;
    struct ctx x = {.arena = "priv"};
    struct rawc c;
    uint64_t off_a, off_b, off_c, base_a = 0, base_b = 0, base_c = 0, len;
    uint32_t ha, hb, hc;
    uint8_t *p;
    int rc;

    start(args);
    hello(&c);
    OK(rawc_open(&c, "priv", &ha, NULL));
    OK(rawc_alloc(&c, ha, 100, 0, &x.off));
    p = map_pattern(&c, ha, x.off, &len);
    x.socket = D.socket;
    rc = harness_as_user("nobody", (gid_t)-1, free_foreign, &x);
    ck_assert_msg(rc == 0, "check %d failed as nobody", rc);
    OK(rawc_stats(&c, "priv", &st));
    ck_assert_uint_eq(st.blocks_live, 1);
    ck_assert_str_eq((const char *)p, "pattern");

    /* Same page size, same first request: different offsets, pages apart. */
    OK(rawc_create(&c, "a", 65536, 0, 0, 0));
    OK(rawc_create(&c, "b", 65536, 0, 0, 0));
    OK(rawc_open(&c, "a", &ha, NULL));
    OK(rawc_open(&c, "b", &hb, NULL));
    OK(rawc_alloc(&c, ha, 100, 0, &off_a));
    OK(rawc_alloc(&c, hb, 100, 0, &off_b));
    ck_assert_uint_ne(off_a, off_b);
    close(page_fd(&c, ha, off_a, &base_a, &len));
    close(page_fd(&c, hb, off_b, &base_b, &len));
    ck_assert(base_a + len <= base_b || base_b + len <= base_a);
    ck_assert_int_eq(rawc_free(&c, hb, off_a), -EINVAL);
    OK(rawc_stats(&c, "a", &st));
    ck_assert_uint_eq(st.blocks_live, 1);
    /* Over time: b's slot goes to a new arena, whose offsets are new too. */
    OK(rawc_drop(&c, "b", 1));
    OK(rawc_create(&c, "c", 65536, 0, 0, 0));
    OK(rawc_open(&c, "c", &hc, NULL));
    OK(rawc_alloc(&c, hc, 100, 0, &off_c));
    close(page_fd(&c, hc, off_c, &base_c, &len));
    ck_assert_uint_gt(base_c, base_a);
    ck_assert_uint_gt(base_c, base_b);
    ck_assert_int_eq(rawc_free(&c, hc, off_b), -EINVAL);
    ck_assert_int_eq(page_fd(&c, hc, off_b, NULL, NULL), -ENOENT);
    /* Far below 2^53: exact in JSON and JavaScript numbers. */
    ck_assert_uint_lt(off_c, 1ull << 53);
    OK(rawc_free(&c, hc, off_c));
    OK(rawc_free(&c, ha, off_a));
    rawc_close(&c);
    stop();
}
END_TEST

static Suite *pages_suite(void)
{
    Suite *s = suite_create("pages");
    TCase *tc;

#define CASE(name) (tc = tcase_create(name), tcase_set_timeout(tc, 60), suite_add_tcase(s, tc))
    CASE("seals");
    tcase_add_test(tc, seals_writer_cannot_resize);
    CASE("readers");
    tcase_add_test(tc, readers_cannot_write);
    CASE("squat");
    tcase_add_test(tc, squat_names_change_nothing);
    CASE("limits");
    tcase_add_test(tc, limits_max_pages);
    tcase_add_test(tc, limits_max_pages_over_nofile);
    CASE("release");
    tcase_add_test(tc, release_kept_fds_hold_nothing);
    CASE("inflight");
    tcase_add_test(tc, inflight_bounded);
    CASE("offload");
    tcase_add_test(tc, offload_others_served);
    tcase_add_test(tc, offload_gone_meanwhile);
    CASE("offsets");
    tcase_add_test(tc, offsets_cross_arena);
#undef CASE
    return s;
}

int main(void)
{
    return harness_run_suite(pages_suite());
}

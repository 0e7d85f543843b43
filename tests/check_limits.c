/*
 * check_limits.c - what one hostile local user can do to ofad and to the
 * other users of it, performed for real: a real ofad (tests/harness.h), real
 * processes, and the attacker a real `nobody` child.
 *
 * One TCase per defence:
 *   lock       nobody squats the old abstract lock name and tries the lock
 *              file: ofad starts anyway; a runtime directory others may
 *              enter is refused.
 *   clients    nobody opens connections until refused: it gets its share
 *              (max_clients_per_uid) or what the reserve leaves, root
 *              still connects; connections that never say HELLO are closed.
 *   quotas     nobody (and the user daemon) against the per-uid quotas:
 *              arenas, page bytes and blocks (-EDQUOT), the arena slots and
 *              bytes kept for configured arenas and root (-ENOMEM), and
 *              create_group (-EACCES).
 *   budgets    nobody's tiny blocks: raised to min_align, bounded per arena,
 *              and the daemon-wide metadata budget (-ENOMEM).
 *   reload     nobody creates "payroll" first and holds a read-write handle;
 *              the administrator configures it for root and reloads: the
 *              arena is not handed over (nor a configured one's mode
 *              tightened under nobody's handle) until it is dropped.
 *   logs       nobody opens a thousand connections that send garbage: the
 *              log stays short, with suppressed=N counts; a client that
 *              goes away with replies unread is logged as what it is
 *              (ECONNRESET), not as libuv's EBADF.
 *   output     nobody's connections pipeline requests and never read: the
 *              replies ofad holds for them stay under the per-uid bound
 *              (RSS), root is served meanwhile, and the stuck connections
 *              are dropped.
 *
 * A nobody child runs as a process of its own (nobody_start) that reports
 * to the test over a pipe and holds what it took (connections, names) until
 * the test tells it to go, so the test can act while the attack is on.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define OK(x) ck_assert_int_eq((x), 0)

static struct ofad D;

/* ---- a nobody process that lives while the test acts ---- */

struct nobody {
    pid_t pid;
    int to;   /* the test writes here: a byte tells the child to go on */
    int from; /* the child writes here: one byte per step, its result */
};

/* fn runs as nobody with the two pipe ends; its return is the exit code. */
typedef int nobody_fn(int in, int out, void *arg);

static void nobody_start(struct nobody *n, nobody_fn *fn, void *arg)
{
    struct passwd *pw = getpwnam("nobody");
    int a[2], b[2];

    ck_assert_ptr_nonnull(pw);
    OK(pipe2(a, O_CLOEXEC));
    OK(pipe2(b, O_CLOEXEC));
    fflush(NULL);
    n->pid = fork();
    ck_assert_int_ge(n->pid, 0);
    if (n->pid == 0) {
        gid_t g = pw->pw_gid;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(a[1]);
        close(b[0]);
        if (setgroups(1, &g) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
            _exit(126);
        _exit(fn(a[0], b[1], arg) & 0xff);
    }
    close(a[0]);
    close(b[1]);
    n->to = a[1];
    n->from = b[0];
}

/* The child's next report (a byte), waiting at most HARNESS_WAIT_MS. */
static int nobody_report(struct nobody *n)
{
    struct pollfd p = {.fd = n->from, .events = POLLIN};
    unsigned char c;

    if (poll(&p, 1, HARNESS_WAIT_MS) != 1 || read(n->from, &c, 1) != 1)
        return -1;
    return c;
}

/* Tells the child to finish, and returns its exit code. */
static int nobody_end(struct nobody *n)
{
    int st;

    (void)!write(n->to, "e", 1);
    close(n->to);
    close(n->from);
    ck_assert_int_eq(waitpid(n->pid, &st, 0), n->pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void nobody_go(struct nobody *n)
{
    ck_assert_int_eq(write(n->to, "g", 1), 1);
}

/* In the child: sends a report, then waits for the test's byte. */
static int child_step(int in, int out, unsigned char report)
{
    char c;

    if (write(out, &report, 1) != 1 || read(in, &c, 1) != 1)
        return -1;
    return c;
}

static void start_opts(const char *config, const char *const *args)
{
    struct ofad_opts o = {.args = args, .reuse = true};
    int rc;

    if (config != NULL) {
        OK(ofad_write_config(&D, config));
        o.with_config = true;
    }
    rc = ofad_start_opts(&D, &o);
    ck_assert_msg(rc == 0, "ofad did not start: %s", strerror(-rc));
}

static void hello(struct rawc *c)
{
    OK(rawc_connect(c, D.socket));
    OK(rawc_hello(c));
}

/* ================= lock ================= */

/* As nobody: binds the abstract name the instance lock used to be, and
 * tries to make, open and lock the lock file itself. Reports 0 when it holds
 * the name and could touch nothing in the runtime directory. */
static int squat(int in, int out, void *arg)
{
    const char *tag = arg;
    const char *dir = getenv("RUNTIME_DIRECTORY");
    struct sockaddr_un sa;
    char path[PATH_MAX];
    socklen_t len;
    int fd, lfd, n, report = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "ofad.%s", tag);
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0)
        report = 1;
    snprintf(path, sizeof(path), "%s/ofad.%s.lock", dir, tag);
    lfd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) == 0)
        report = 2; /* it took the lock: ofad cannot start */
    else if (lfd >= 0 || errno != EACCES)
        report = 3;
    child_step(in, out, (unsigned char)report);
    return 0;
}

START_TEST(lock_squatted)
{
    const char *args[] = {"--socket", NULL, NULL};
    struct nobody n;
    struct rawc c;
    struct stat st;
    char out[4096], path[PATH_MAX + 64];

    OK(ofad_prepare(&D));
    nobody_start(&n, squat, D.tag);
    ck_assert_int_eq(nobody_report(&n), 0);
    /* The squatter holds the old name all along. */
    start_opts(NULL, NULL);
    hello(&c);
    OK(rawc_ping(&c));
    rawc_close(&c);
    /* The lock still keeps a second ofad out. */
    args[1] = D.socket;
    ck_assert_int_eq(ofad_run(args, out, sizeof(out)), 1);
    ck_assert_msg(strstr(out, "another ofad is serving") != NULL, "%s", out);
    snprintf(path, sizeof(path), "%s/ofad.%s.lock", getenv("RUNTIME_DIRECTORY"), D.tag);
    OK(stat(path, &st));
    ck_assert_int_eq(ofad_stop(&D), 0);
    ck_assert_int_eq(nobody_end(&n), 0);
    /* A clean stop leaves no lock file. */
    ck_assert_int_eq(stat(path, &st), -1);
    ofad_cleanup(&D);
}
END_TEST

START_TEST(lock_dir_open_to_others)
{
    const char *args[] = {"--socket", NULL, "--config", NULL, NULL};
    char out[4096], dir[PATH_MAX + 16], conf[PATH_MAX + 64];

    OK(ofad_prepare(&D));
    snprintf(dir, sizeof(dir), "%s/run", D.dir);
    OK(mkdir(dir, 0700));
    OK(chmod(dir, 0711)); /* others may enter: they could open a lock file */
    snprintf(conf, sizeof(conf), "[ofad]\nruntime_dir = %s\n", dir);
    OK(ofad_write_config(&D, conf));
    args[1] = D.socket;
    args[3] = D.config;
    ck_assert_int_eq(ofad_run(args, out, sizeof(out)), 2);
    ck_assert_msg(strstr(out, "no one else may enter") != NULL, "%s", out);
    /* Made 0700 by ofad when it does not exist. */
    OK(rmdir(dir));
    start_opts(conf, NULL);
    {
        struct stat st;
        OK(stat(dir, &st));
        ck_assert_int_eq(st.st_mode & 0777, 0700);
    }
    ck_assert_int_eq(ofad_stop(&D), 0);
    ofad_cleanup(&D);
}
END_TEST

/* ================= clients ================= */

/* As nobody: connects and says HELLO until refused (at most 200 times),
 * reports how many it holds (saturated at 255), keeps them until told to go
 * on, checks they still answer, then closes them. */
static int grab_connections(int in, int out, void *arg)
{
    static struct rawc c[200];
    const char *sock = arg;
    int n = 0, rc = 0;

    while (n < 200 && rawc_connect(&c[n], sock) == 0) {
        if (rawc_hello(&c[n]) != 0) {
            rawc_close(&c[n]);
            break;
        }
        n++;
    }
    if (child_step(in, out, (unsigned char)n) < 0)
        rc = 1;
    for (int i = 0; i < n; i++) {
        if (rawc_ping(&c[i]) != 0)
            rc = 2;
        rawc_close(&c[i]);
    }
    return rc;
}

START_TEST(clients_per_uid)
{
    static const char conf[] = "[ofad]\nmax_clients = 64\nmax_clients_per_uid = 10\n";
    struct nobody n;
    struct rawc c[12];

    OK(ofad_prepare(&D));
    start_opts(conf, NULL);
    OK(ofad_open_to_all(&D));
    nobody_start(&n, grab_connections, D.socket);
    ck_assert_int_eq(nobody_report(&n), 10);
    /* Root is not held back by nobody's share, nor by its own. */
    for (int i = 0; i < 12; i++) {
        hello(&c[i]);
        OK(rawc_ping(&c[i]));
    }
    ck_assert(ofad_log_has(&D, "too many connections of one user uid=65534"));
    nobody_go(&n);
    ck_assert_int_eq(nobody_end(&n), 0);
    for (int i = 0; i < 12; i++)
        rawc_close(&c[i]);
    ck_assert_int_eq(ofad_stop(&D), 0);
    ofad_cleanup(&D);
}
END_TEST

START_TEST(clients_reserve)
{
    static const char conf[] = "[ofad]\nmax_clients = 12\nreserved_clients = 4\n"
                               "max_clients_per_uid = 100\n";
    struct nobody n;
    struct rawc c[4], extra;
    struct proto_rep r;

    OK(ofad_prepare(&D));
    start_opts(conf, NULL);
    OK(ofad_open_to_all(&D));
    nobody_start(&n, grab_connections, D.socket);
    ck_assert_int_eq(nobody_report(&n), 8);
    /* The last four are root's. */
    for (int i = 0; i < 4; i++) {
        hello(&c[i]);
        OK(rawc_ping(&c[i]));
    }
    /* And max_clients holds for root too. */
    OK(rawc_connect(&extra, D.socket));
    ck_assert_int_eq(rawc_recv(&extra, &r, NULL), -ECONNRESET);
    rawc_close(&extra);
    nobody_go(&n);
    ck_assert_int_eq(nobody_end(&n), 0);
    for (int i = 0; i < 4; i++)
        rawc_close(&c[i]);
    ck_assert_int_eq(ofad_stop(&D), 0);
    ofad_cleanup(&D);
}
END_TEST

/* As nobody: opens connections and says nothing; reports 0 once ofad has
 * closed every one of them. */
static int silent_connections(int in, int out, void *arg)
{
    struct rawc c[5];
    const char *sock = arg;
    int rc = 0;

    for (int i = 0; i < 5; i++) {
        if (rawc_connect(&c[i], sock) != 0)
            return 1;
    }
    for (int i = 0; i < 5; i++) {
        if (rawc_wait_eof(&c[i]) != 0)
            rc = 2;
        rawc_close(&c[i]);
    }
    child_step(in, out, (unsigned char)rc);
    return 0;
}

START_TEST(clients_handshake_deadline)
{
    static const char conf[] = "[ofad]\nhandshake_timeout = 1\n";
    struct nobody n;
    struct rawc early;

    OK(ofad_prepare(&D));
    start_opts(conf, NULL);
    OK(ofad_open_to_all(&D));
    /* Connected and greeted before the silent ones: it outlives them. */
    hello(&early);
    nobody_start(&n, silent_connections, D.socket);
    ck_assert_int_eq(nobody_report(&n), 0);
    OK(rawc_ping(&early));
    ck_assert(ofad_log_has(&D, "reason=no HELLO in time"));
    ck_assert_int_eq(nobody_end(&n), 0);
    rawc_close(&early);
    ck_assert_int_eq(ofad_stop(&D), 0);
    ofad_cleanup(&D);
}
END_TEST

/* ================= output ================= */

#define OUT_CONNS 10

struct flood {
    const char *sock;
    int conns; /* at most OUT_CONNS */
};

/* As nobody: opens f->conns connections and on each sends ARENAS requests
 * without ever reading, until the socket takes no more for a second (ofad
 * stopped reading it). Reports 0 then; after the test's go, waits for each
 * connection to be hung up by ofad, without reading (reading would drain
 * the replies and let it go on), and reports how many were. */
static int flood_output(int in, int out, void *arg)
{
    static struct rawc c[OUT_CONNS];
    const struct flood *f = arg;
    struct proto_buf b;
    struct proto_req q;
    int ended = 0;

    proto_buf_init(&b);
    memset(&q, 0, sizeof(q));
    q.op = PROTO_OP_ARENAS;
    for (int i = 0; i < 200000; i++) {
        q.id = (uint64_t)i + 100;
        if (proto_encode_req(&b, &q) != 0)
            return 1;
    }
    for (int i = 0; i < f->conns; i++) {
        size_t off = 0;
        if (rawc_connect(&c[i], f->sock) != 0 || rawc_hello(&c[i]) != 0)
            return 2;
        while (off < b.len) {
            struct pollfd p = {.fd = c[i].fd, .events = POLLOUT};
            ssize_t k;
            if (poll(&p, 1, 1000) != 1)
                break;
            k = send(c[i].fd, b.data + off, b.len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (k <= 0)
                break;
            off += (size_t)k;
        }
        if (off == b.len)
            return 3; /* every request went in: nothing held it back */
    }
    proto_buf_free(&b);
    if (child_step(in, out, 0) < 0)
        return 4;
    for (int i = 0; i < f->conns; i++) {
        struct pollfd p = {.fd = c[i].fd, .events = POLLRDHUP};
        if (poll(&p, 1, HARNESS_WAIT_MS) == 1 && (p.revents & (POLLHUP | POLLRDHUP)))
            ended++;
    }
    child_step(in, out, (unsigned char)ended);
    for (int i = 0; i < f->conns; i++)
        rawc_close(&c[i]);
    return 0;
}

/* 40 readable arenas make an ARENAS reply of a few KiB. */
static void start_many_arenas(const char *ofad_section)
{
    char conf[8192];
    size_t len = (size_t)snprintf(conf, sizeof(conf), "%s", ofad_section);

    for (int i = 0; i < 40; i++)
        len += (size_t)snprintf(conf + len, sizeof(conf) - len,
                                "[arena a%02d]\npage_size = 64K\nmode = 0644\n", i);
    OK(ofad_prepare(&D));
    start_opts(conf, NULL);
    OK(ofad_open_to_all(&D));
}

START_TEST(output_per_uid)
{
    struct flood f = {.conns = OUT_CONNS};
    long rss0, rss1;
    struct nobody n;
    struct rawc c;

    /* Without the shared bounds each of nobody's connections would pin
     * max_output: 40 MiB. output_timeout is long enough not to drop any
     * of them while the test looks. */
    start_many_arenas("[ofad]\nmax_output = 4M\nmax_output_per_uid = 1M\n"
                      "max_output_total = 64M\noutput_timeout = 3600\nmax_arenas = 64\n");
    f.sock = D.socket;
    hello(&c);
    OK(rawc_ping(&c));
    rss0 = harness_rss_kib(D.pid);
    ck_assert_int_gt(rss0, 0);
    nobody_start(&n, flood_output, &f);
    if (nobody_report(&n) != 0)
        ck_abort_msg("the flood failed (exit %d)", nobody_end(&n));
    rss1 = harness_rss_kib(D.pid);
    ck_assert_msg(rss1 - rss0 < 12 * 1024, "ofad grew by %ld KiB for one user's unread replies",
                  rss1 - rss0);
    /* Root is served while nobody's connections are held back. */
    OK(rawc_ping(&c));
    rawc_close(&c);
    kill(n.pid, SIGKILL);
    nobody_end(&n);
    ck_assert_int_eq(ofad_stop(&D), 0);
    ofad_cleanup(&D);
}
END_TEST

START_TEST(output_dropped)
{
    struct flood f = {.conns = 1};
    struct nobody n;
    struct rawc c;

    start_many_arenas("[ofad]\nmax_output_per_uid = 64K\noutput_timeout = 1\nmax_arenas = 64\n");
    f.sock = D.socket;
    nobody_start(&n, flood_output, &f);
    if (nobody_report(&n) != 0)
        ck_abort_msg("the flood failed (exit %d)", nobody_end(&n));
    nobody_go(&n);
    /* Over its bound and never read: dropped. */
    ck_assert_int_eq(nobody_report(&n), 1);
    ck_assert_int_eq(nobody_end(&n), 0);
    ck_assert(ofad_log_has(&D, "reason=replies not read, over a shared output bound"));
    hello(&c);
    OK(rawc_ping(&c));
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
    ofad_cleanup(&D);
}
END_TEST

/* ================= quotas ================= */

static const char quota_conf[] = "[ofad]\n"
                                 "max_arenas = 7\n"
                                 "reserved_arenas = 2\n"
                                 "max_arenas_per_uid = 3\n"
                                 "max_total = 4M\n"
                                 "reserved_total = 1M\n"
                                 "max_bytes_per_uid = 2M\n"
                                 "max_blocks_per_uid = 100\n"
                                 "[arena shared]\n"
                                 "page_size = 256K\n"
                                 "mode = 0666\n";

/* Allocates size-byte blocks with flags until one fails; returns how many
 * succeeded, and the failure in *err. */
static int alloc_until(struct rawc *c, uint32_t h, uint64_t size, uint32_t flags, int *err)
{
    uint64_t off;
    int n = 0, rc;

    while ((rc = rawc_alloc(c, h, size, flags, &off)) == 0 && n < 100000)
        n++;
    *err = rc;
    return n;
}

/* As nobody. Returns 0, or the number of the first check that failed. */
static int nobody_quotas(void *arg)
{
    const char *sock = arg;
    struct rawc c;
    uint32_t h;
    uint64_t off;
    int err;

    if (rawc_connect(&c, sock) != 0 || rawc_hello(&c) != 0)
        return 1;
    /* Arenas per uid. */
    if (rawc_create(&c, "q1", 256 << 10, 0, 0, 0) != 0 || rawc_create(&c, "q2", 64 << 10, 0, 0, 0) ||
        rawc_create(&c, "q3", 64 << 10, 0, 0, 0) != 0)
        return 2;
    if (rawc_create(&c, "q4", 0, 0, 0, 0) != -EDQUOT)
        return 3;
    /* Blocks per uid, kept blocks of its own arena counted. */
    if (rawc_open(&c, "q2", &h, NULL) != 0)
        return 4;
    for (int i = 0; i < 50; i++) {
        if (rawc_alloc(&c, h, 64, PROTO_ALLOC_KEEP, &off) != 0)
            return 5;
    }
    if (alloc_until(&c, h, 64, 0, &err) != 50 || err != -EDQUOT)
        return 6;
    if (rawc_close_handle(&c, h) != 0 || rawc_drop(&c, "q2", 1) != 0)
        return 7;
    /* Page bytes of the arenas it owns: 2M of 256K pages. */
    if (rawc_open(&c, "q1", &h, NULL) != 0)
        return 8;
    if (alloc_until(&c, h, 250000, PROTO_ALLOC_KEEP, &err) != 8 || err != -EDQUOT)
        return 9;
    rawc_close(&c);
    return 0;
}

/* As the user daemon, after nobody. */
static int daemon_user_quotas(void *arg)
{
    const char *sock = arg;
    struct rawc c;
    uint32_t h;
    int err;

    if (rawc_connect(&c, sock) != 0 || rawc_hello(&c) != 0)
        return 1;
    /* shared, q1, q3 and these two: the last two slots are reserved. */
    if (rawc_create(&c, "d1", 256 << 10, 0, 0, 0) != 0 || rawc_create(&c, "d2", 0, 0, 0, 0) != 0)
        return 2;
    if (rawc_create(&c, "d3", 0, 0, 0, 0) != -ENOMEM)
        return 3;
    /* Users together get max_total less reserved_total: nobody holds 2M,
     * so 1M is left for this user, under its own 2M. */
    if (rawc_open(&c, "d1", &h, NULL) != 0)
        return 4;
    if (alloc_until(&c, h, 250000, PROTO_ALLOC_KEEP, &err) != 4 || err != -ENOMEM)
        return 5;
    rawc_close(&c);
    return 0;
}

START_TEST(quotas_per_uid)
{
    struct rawc c;
    uint32_t h;
    int err, rc;

    OK(ofad_prepare(&D));
    start_opts(quota_conf, NULL);
    OK(ofad_open_to_all(&D));
    rc = harness_as_user("nobody", (gid_t)-1, nobody_quotas, D.socket);
    ck_assert_msg(rc == 0, "check %d failed as nobody", rc);
    rc = harness_as_user("daemon", (gid_t)-1, daemon_user_quotas, D.socket);
    ck_assert_msg(rc == 0, "check %d failed as daemon", rc);
    ck_assert(ofad_log_has(&D, "err=EDQUOT limit=max_blocks_per_uid"));
    /* Root still creates in the reserved slots and fills the reserved
     * bytes of its configured arena. */
    hello(&c);
    OK(rawc_create(&c, "r1", 0, 0, 0, 0));
    OK(rawc_create(&c, "r2", 0, 0, 0, 0));
    ck_assert_int_eq(rawc_create(&c, "r3", 0, 0, 0, 0), -ENOMEM); /* max_arenas */
    OK(rawc_open(&c, "shared", &h, NULL));
    ck_assert_int_eq(alloc_until(&c, h, 250000, PROTO_ALLOC_KEEP, &err), 4);
    ck_assert_int_eq(err, -ENOMEM); /* max_total */
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
    ofad_cleanup(&D);
}
END_TEST

static int try_create(void *arg)
{
    struct rawc c;
    int rc;

    if (rawc_connect(&c, arg) != 0 || rawc_hello(&c) != 0)
        return 100;
    rc = rawc_create(&c, "mine", 0, 0, 0, 0);
    rawc_close(&c);
    return rc == 0 ? 0 : rc == -EACCES ? 1 : 2;
}

START_TEST(quotas_create_group)
{
    struct rawc c;

    OK(ofad_prepare(&D));
    start_opts("[ofad]\ncreate_group = 4242\n", NULL);
    OK(ofad_open_to_all(&D));
    ck_assert_int_eq(harness_as_user("nobody", (gid_t)-1, try_create, D.socket), 1);
    ck_assert_int_eq(harness_as_user("nobody", 4242, try_create, D.socket), 0);
    hello(&c);
    OK(rawc_create(&c, "roots", 0, 0, 0, 0));
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
    ofad_cleanup(&D);
}
END_TEST

/* ================= budgets ================= */

static const char budget_conf[] = "[ofad]\n"
                                  "max_blocks_per_arena = 600\n"
                                  "max_metadata = 64K\n" /* 1024 blocks */
                                  "min_align = 256\n"
                                  "[arena pub]\n"
                                  "page_size = 1M\n"
                                  "mode = 0666\n"
                                  "[arena own]\n"
                                  "page_size = 1M\n";

static int nobody_budgets(void *arg)
{
    struct proto_arena_info st;
    struct rawc c;
    uint32_t h;
    int err;

    if (rawc_connect(&c, arg) != 0 || rawc_hello(&c) != 0)
        return 1;
    /* An arena of 8-byte granularity is made one of min_align's. */
    if (rawc_create(&c, "tiny", 64 << 10, 0, 8, 0) != 0 || rawc_stats(&c, "tiny", &st) != 0)
        return 2;
    if (st.align != 256)
        return 3;
    /* Kept blocks in someone else's arena: bounded per arena. */
    if (rawc_open(&c, "pub", &h, NULL) != 0)
        return 4;
    if (alloc_until(&c, h, 8, PROTO_ALLOC_KEEP, &err) != 600 || err != -ENOMEM)
        return 5;
    rawc_close(&c);
    return 0;
}

START_TEST(budgets_blocks)
{
    struct rawc c;
    uint32_t h;
    int rc, err;

    OK(ofad_prepare(&D));
    start_opts(budget_conf, NULL);
    OK(ofad_open_to_all(&D));
    rc = harness_as_user("nobody", (gid_t)-1, nobody_budgets, D.socket);
    ck_assert_msg(rc == 0, "check %d failed as nobody", rc);
    /* The daemon-wide budget holds for root too: 1024 blocks in all. */
    hello(&c);
    OK(rawc_open(&c, "own", &h, NULL));
    ck_assert_int_eq(alloc_until(&c, h, 64, 0, &err), 1024 - 600);
    ck_assert_int_eq(err, -ENOMEM);
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
    ofad_cleanup(&D);
}
END_TEST

/* ================= reload ================= */

/* As nobody: creates (or opens) arena arg, holds a read-write handle with a
 * block in it, reports 0; at each go, allocates again and reports the
 * error (0, or its errno). */
static int hold_arena(int in, int out, void *arg)
{
    const char *name = arg;
    struct rawc c;
    uint32_t h;
    uint64_t off;
    int w = 0;

    if (rawc_connect(&c, D.socket) != 0 || rawc_hello(&c) != 0)
        return 1;
    if (strcmp(name, "payroll") == 0 && rawc_create(&c, name, 64 << 10, 0, 0, 0600) != 0)
        return 2;
    if (rawc_open(&c, name, &h, &w) != 0 || !w || rawc_alloc(&c, h, 100, 0, &off) != 0)
        return 3;
    for (int rc = 0;; rc = -rawc_alloc(&c, h, 100, 0, &off)) {
        if (child_step(in, out, (unsigned char)rc) != 'g')
            break;
    }
    rawc_close(&c);
    return 0;
}

static int try_open(void *arg)
{
    struct rawc c;
    uint32_t h;
    int rc;

    if (rawc_connect(&c, D.socket) != 0 || rawc_hello(&c) != 0)
        return 100;
    rc = rawc_open(&c, arg, &h, NULL);
    rawc_close(&c);
    return rc == 0 ? 0 : rc == -EACCES ? 1 : 2;
}

static void reload(const char *config)
{
    OK(ofad_write_config(&D, config));
    OK(ofad_signal(&D, SIGHUP));
    OK(ofad_wait_notify(&D, "READY=1"));
}

START_TEST(reload_hijack)
{
    static const char payroll[] = "[arena payroll]\nowner = root\nmode = 0600\n";
    struct proto_arena_info st;
    struct nobody n;
    struct rawc c;

    OK(ofad_prepare(&D));
    start_opts("[ofad]\n", NULL);
    OK(ofad_open_to_all(&D));
    nobody_start(&n, hold_arena, "payroll");
    ck_assert_int_eq(nobody_report(&n), 0);
    /* The administrator claims the name for root. */
    reload(payroll);
    ck_assert(ofad_log_has(&D, "reload: arena keeps its owner, group and mode"));
    hello(&c);
    OK(rawc_stats(&c, "payroll", &st));
    ck_assert_uint_eq(st.uid, 65534);
    ck_assert_uint_eq(st.mode, 0600);
    /* Nothing of root's went to nobody: its handle still works on its own
     * arena, as before. */
    nobody_go(&n);
    ck_assert_int_eq(nobody_report(&n), 0);
    ck_assert_int_eq(nobody_end(&n), 0);
    /* Its connection gone, the arena still holds pages made for nobody. */
    reload(payroll);
    OK(rawc_stats(&c, "payroll", &st));
    ck_assert_uint_eq(st.uid, 65534);
    /* Dropped and reloaded, it is root's, new and empty. */
    OK(rawc_drop(&c, "payroll", 1));
    reload(payroll);
    OK(rawc_stats(&c, "payroll", &st));
    ck_assert_uint_eq(st.uid, 0);
    ck_assert_uint_eq(st.blocks_live, 0);
    ck_assert_int_eq(harness_as_user("nobody", (gid_t)-1, try_open, "payroll"), 1);
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
    ofad_cleanup(&D);
}
END_TEST

START_TEST(reload_mode_under_handle)
{
    struct proto_arena_info st;
    struct nobody n;
    struct rawc c;

    OK(ofad_prepare(&D));
    start_opts("[arena pub]\npage_size = 64K\nmode = 0666\n", NULL);
    OK(ofad_open_to_all(&D));
    nobody_start(&n, hold_arena, "pub");
    ck_assert_int_eq(nobody_report(&n), 0);
    /* Taking write away from others while nobody writes: refused. */
    reload("[arena pub]\npage_size = 64K\nmode = 0644\n");
    ck_assert(ofad_log_has(&D, "an open handle would lose the access it has"));
    hello(&c);
    OK(rawc_stats(&c, "pub", &st));
    ck_assert_uint_eq(st.mode, 0666);
    nobody_go(&n);
    ck_assert_int_eq(nobody_report(&n), 0);
    ck_assert_int_eq(nobody_end(&n), 0);
    /* No handle depends on it any more: applied (same owner, so the
     * pages do not matter). */
    reload("[arena pub]\npage_size = 64K\nmode = 0644\n");
    OK(rawc_stats(&c, "pub", &st));
    ck_assert_uint_eq(st.mode, 0644);
    ck_assert_int_eq(harness_as_user("nobody", (gid_t)-1, try_open, "pub"), 0);
    rawc_close(&c);
    ck_assert_int_eq(ofad_stop(&D), 0);
    ofad_cleanup(&D);
}
END_TEST

/* ================= logs ================= */

#define GARBAGE_CONNS 1000

/* As nobody: GARBAGE_CONNS connections, one after the other, each sending
 * a frame that is not msgpack and waiting for ofad to close it. */
static int garbage_connections(void *arg)
{
    static const uint8_t junk[] = {0, 0, 0, 4, 0xc1, 0xc1, 0xc1, 0xc1};

    for (int i = 0; i < GARBAGE_CONNS; i++) {
        struct rawc c;
        if (rawc_connect(&c, arg) != 0)
            return 1;
        if (rawc_send_raw(&c, junk, sizeof(junk)) != 0 || rawc_wait_eof(&c) != 0)
            return 2;
        rawc_close(&c);
    }
    return 0;
}

/* As nobody: pipelines requests whose replies it never reads, then closes
 * with them unread. */
static int leave_unread(void *arg)
{
    struct proto_buf b;
    struct proto_req q;
    struct rawc c;
    int rc = 0;

    proto_buf_init(&b);
    memset(&q, 0, sizeof(q));
    q.op = PROTO_OP_ARENAS;
    for (int i = 0; i < 2000; i++) {
        q.id = (uint64_t)i + 100;
        if (proto_encode_req(&b, &q) != 0)
            return 1;
    }
    if (rawc_connect(&c, arg) != 0 || rawc_hello(&c) != 0)
        return 2;
    if (rawc_send_raw(&c, b.data, b.len) != 0)
        rc = 3;
    /* One more behind them, then go with every reply unread. */
    {
        struct proto_req p = {.op = PROTO_OP_PING, .id = 99999};
        if (rawc_send(&c, &p) != 0)
            rc = 4;
    }
    proto_buf_free(&b);
    rawc_close(&c);
    return rc;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, ch;

    ck_assert_ptr_nonnull(f);
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

START_TEST(logs_flood)
{
    int rc, lines;

    OK(ofad_prepare(&D));
    start_opts(NULL, NULL);
    OK(ofad_open_to_all(&D));
    rc = harness_as_user("nobody", (gid_t)-1, garbage_connections, D.socket);
    ck_assert_msg(rc == 0, "check %d failed as nobody", rc);
    ck_assert_int_eq(ofad_stop(&D), 0);
    /* Three lines each unbounded: connected, malformed, disconnected. */
    lines = count_lines(D.log);
    ck_assert_msg(lines < GARBAGE_CONNS / 2, "%d log lines for %d garbage connections", lines,
                  GARBAGE_CONNS);
    /* And the lines that were printed say how many were not. */
    {
        bool counted = false;
        for (char d = '1'; d <= '9' && !counted; d++) {
            char needle[] = " suppressed=0";
            needle[sizeof(needle) - 2] = d;
            counted = ofad_log_has(&D, needle);
        }
        ck_assert(counted);
    }
    ofad_cleanup(&D);
}
END_TEST

START_TEST(logs_reset_reason)
{
    int rc;

    OK(ofad_prepare(&D));
    start_opts(NULL, NULL);
    OK(ofad_open_to_all(&D));
    rc = harness_as_user("nobody", (gid_t)-1, leave_unread, D.socket);
    ck_assert_msg(rc == 0, "check %d failed as nobody", rc);
    ck_assert_int_eq(ofad_stop(&D), 0);
    ck_assert(!ofad_log_has(&D, "reason=EBADF"));
    ck_assert(ofad_log_has(&D, "uid=65534") && (ofad_log_has(&D, "reason=ECONNRESET") ||
                                                 ofad_log_has(&D, "reason=EPIPE")));
    ofad_cleanup(&D);
}
END_TEST

static Suite *limits_suite(void)
{
    Suite *s = suite_create("limits");
    TCase *tc;

    tc = tcase_create("lock");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, lock_squatted);
    tcase_add_test(tc, lock_dir_open_to_others);
    suite_add_tcase(s, tc);

    tc = tcase_create("clients");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, clients_per_uid);
    tcase_add_test(tc, clients_reserve);
    tcase_add_test(tc, clients_handshake_deadline);
    suite_add_tcase(s, tc);

    tc = tcase_create("quotas");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, quotas_per_uid);
    tcase_add_test(tc, quotas_create_group);
    suite_add_tcase(s, tc);

    tc = tcase_create("budgets");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, budgets_blocks);
    suite_add_tcase(s, tc);

    tc = tcase_create("reload");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reload_hijack);
    tcase_add_test(tc, reload_mode_under_handle);
    suite_add_tcase(s, tc);

    tc = tcase_create("logs");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, logs_flood);
    tcase_add_test(tc, logs_reset_reason);
    suite_add_tcase(s, tc);

    tc = tcase_create("output");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, output_per_uid);
    tcase_add_test(tc, output_dropped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a child that died must not kill the test */
    return harness_run_suite(limits_suite());
}

/*
 * check_limits.c - what one hostile local user can do to ofad and to the
 * other users of it, performed for real: a real ofad (tests/harness.h), real
 * processes, and the attacker a real `nobody` child.
 *
 * One TCase per defence:
 *   lock       nobody squats the old abstract lock name and tries the lock
 *              file: ofad starts anyway; a runtime directory others may
 *              enter is refused.
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

static Suite *limits_suite(void)
{
    Suite *s = suite_create("limits");
    TCase *tc;

    tc = tcase_create("lock");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, lock_squatted);
    tcase_add_test(tc, lock_dir_open_to_others);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(limits_suite());
}

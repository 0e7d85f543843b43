/*
 * check_ofactl.c - the ofactl tool against a real ofad: every command, in
 * human and JSON form (parsed with jansson), and every exit status
 * (0 done, 1 refused, 2 usage, 3 no daemon).
 *
 * ofactl runs as a child process with its stdout and stderr captured; the
 * daemon comes from tests/harness.h and is stopped (and checked to leave no
 * segment) at the end of each test.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdbool.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "ofaclient.h"

#ifndef OFACTL_PATH
#error "OFACTL_PATH must name the ofactl binary under test"
#endif

static struct ofad d;

struct run {
    int status; /* exit code, or 128 + signal */
    char out[1 << 16], err[1 << 13];
};

/* Runs ofactl with the arguments (NULL-terminated) to completion. In
 * children of the test too, so it reports failures as status -1. */
static int run_path(struct run *r, const char *path, const char *const *args);

static int run_v(struct run *r, const char *const *args)
{
    return run_path(r, OFACTL_PATH, args);
}

/* Runs the program at path with the arguments, as run_v does ofactl. */
static int run_path(struct run *r, const char *path, const char *const *args)
{
    const char *argv[32];
    int po[2], pe[2], st, n = 0, open_fds = 2;
    size_t lo = 0, le = 0;
    struct pollfd pf[2];
    ssize_t k;
    pid_t pid;

    argv[n++] = path;
    while (*args != NULL && n < 31)
        argv[n++] = *args++;
    argv[n] = NULL;
    r->status = -1;
    r->out[0] = r->err[0] = '\0';
    if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    pf[0].fd = po[0];
    pf[1].fd = pe[0];
    pf[0].events = pf[1].events = POLLIN;
    while (open_fds > 0) {
        if (poll(pf, 2, HARNESS_WAIT_MS) <= 0)
            break; /* ofactl hangs: the status stays -1 */
        if (pf[0].revents) {
            k = read(po[0], r->out + lo, sizeof(r->out) - 1 - lo);
            if (k <= 0) {
                pf[0].fd = -1;
                open_fds--;
            } else {
                lo += (size_t)k;
            }
        }
        if (pf[1].revents) {
            k = read(pe[0], r->err + le, sizeof(r->err) - 1 - le);
            if (k <= 0) {
                pf[1].fd = -1;
                open_fds--;
            } else {
                le += (size_t)k;
            }
        }
    }
    r->out[lo] = '\0';
    r->err[le] = '\0';
    close(po[0]);
    close(pe[0]);
    if (open_fds > 0)
        kill(pid, SIGKILL);
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    if (open_fds > 0)
        return -1;
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r->status;
}

/* ofactl --socket <the daemon's> args... */
#define RUN(r, ...) run_v((r), (const char *const[]){"--socket", d.socket, __VA_ARGS__, NULL})
/* ofactl args... (no --socket) */
#define RUN_BARE(r, ...) run_v((r), (const char *const[]){__VA_ARGS__, NULL})

static struct run R; /* large: not on the stack */

static void start(void)
{
    const char *args[] = {"--arena", "t,page_size=64K,max=16M", NULL};

    ck_assert_int_eq(ofad_start(&d, args), 0);
}

static void stop(void)
{
    ck_assert_int_eq(ofad_stop(&d), 0);
    ck_assert_int_eq(ofad_segments(d.tag), 0);
    ofad_cleanup(&d);
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);

    ck_assert_msg(j != NULL, "not JSON (%s): %s", e.text, text);
    ck_assert(json_is_object(j));
    /* One object on one line. */
    ck_assert_ptr_eq(strchr(text, '\n'), text + strlen(text) - 1);
    return j;
}

static json_int_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    ck_assert_msg(json_is_integer(v), "key %s is not an integer", key);
    return json_integer_value(v);
}

static json_t *find_arena(json_t *root, const char *name)
{
    json_t *list = json_object_get(root, "arenas"), *a;
    size_t i;

    ck_assert(json_is_array(list));
    json_array_foreach(list, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "name")), name) == 0)
            return a;
    }
    return NULL;
}

static const char *const arena_keys[] = {
    "name",           "page_size",  "align",          "max_bytes",   "pages",
    "bytes_reserved", "bytes_live", "blocks_live",    "free_chunks", "largest_free",
    "allocs",         "frees",      "alloc_failures", NULL};

static void check_arena_keys(json_t *a)
{
    int i;

    ck_assert(json_is_string(json_object_get(a, "name")));
    for (i = 1; arena_keys[i] != NULL; i++)
        ck_assert_int_ge(jint(a, arena_keys[i]), 0);
}

/* --- ping --- */

START_TEST(test_ping)
{
    struct ofad_opts o = {0};
    const char *args[] = {"--arena", "t", NULL};
    struct run *w;
    pid_t pid;
    int st;

    start();
    ck_assert_int_eq(RUN(&R, "ping"), 0);
    ck_assert_ptr_nonnull(strstr(R.out, "ofad " OFA_VERSION));
    /* The socket from the environment. */
    setenv("OFAD_SOCKET", d.socket, 1);
    ck_assert_int_eq(RUN_BARE(&R, "ping"), 0);
    unsetenv("OFAD_SOCKET");
    ck_assert_int_eq(RUN(&R, "ping", "--wait", "5"), 0);
    stop();

    /* No daemon: 3 at once, and 3 when a wait runs out. */
    ck_assert_int_eq(RUN(&R, "ping"), 3);
    ck_assert_ptr_nonnull(strstr(R.err, "ENOENT"));
    ck_assert_int_eq(RUN(&R, "ping", "--wait", "0.2"), 3);

    /* ping --wait returns once a daemon that starts later answers. */
    ck_assert_int_eq(ofad_prepare(&d), 0);
    w = malloc(sizeof(*w));
    ck_assert_ptr_nonnull(w);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(RUN(w, "ping", "--wait", "30") == 0 ? 0 : 1);
    }
    o.args = args;
    o.reuse = true;
    ck_assert_int_eq(ofad_start_opts(&d, &o), 0);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(w);
    stop();
}
END_TEST

/* --- arenas, stats, create, drop --- */

START_TEST(test_commands)
{
    json_t *j, *a, *dm;
    ofa_client *c;
    ofa_arena *h;
    uint64_t off;

    start();
    /* A client holding a block in t. */
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "t", &h), 0);
    ck_assert_int_eq(ofa_alloc(h, 1000, &off), 0);

    ck_assert_int_eq(RUN(&R, "arenas", "--json"), 0);
    j = parse(R.out);
    a = find_arena(j, "t");
    ck_assert_ptr_nonnull(a);
    check_arena_keys(a);
    ck_assert_int_eq(jint(a, "uid"), (json_int_t)getuid());
    ck_assert_int_eq(jint(a, "gid"), (json_int_t)getgid());
    ck_assert_str_eq(json_string_value(json_object_get(a, "mode")), "0600");
    ck_assert(json_is_true(json_object_get(a, "readable")));
    ck_assert_int_eq(jint(a, "page_size"), 65536);
    ck_assert_int_eq(jint(a, "max_bytes"), 16 << 20);
    ck_assert_int_eq(jint(a, "align"), 64);
    ck_assert_int_eq(jint(a, "blocks_live"), 1);
    json_decref(j);

    ck_assert_int_eq(RUN(&R, "stats", "--json"), 0);
    j = parse(R.out);
    dm = json_object_get(j, "daemon");
    ck_assert(json_is_object(dm));
    ck_assert_str_eq(json_string_value(json_object_get(dm, "version")), OFA_VERSION);
    ck_assert_int_ge(jint(dm, "uptime_s"), 0);
    ck_assert_int_ge(jint(dm, "clients"), 2); /* our client and ofactl */
    ck_assert_int_eq(jint(dm, "arenas"), 1);
    ck_assert_int_ge(jint(dm, "bytes_reserved"), 65536);
    ck_assert_int_gt(jint(dm, "bytes_limit"), 0);
    ck_assert_int_eq(jint(dm, "pid"), d.pid);
    a = find_arena(j, "t");
    ck_assert_ptr_nonnull(a);
    check_arena_keys(a);
    ck_assert_int_eq(jint(a, "blocks_live"), 1);
    ck_assert_int_ge(jint(a, "bytes_live"), 1000);
    ck_assert_int_eq(jint(a, "allocs"), 1);
    json_decref(j);

    /* create with every option, then look at it. */
    ck_assert_int_eq(RUN(&R, "create", "n1", "--page-size", "128K", "--max=2M", "--align", "128",
                         "--mode", "0640"),
                     0);
    ck_assert_int_eq(RUN(&R, "stats", "n1", "--json"), 0);
    j = parse(R.out);
    ck_assert_int_eq(json_array_size(json_object_get(j, "arenas")), 1);
    a = find_arena(j, "n1");
    ck_assert_ptr_nonnull(a);
    check_arena_keys(a);
    ck_assert_int_eq(jint(a, "page_size"), 128 << 10);
    ck_assert_int_eq(jint(a, "max_bytes"), 2 << 20);
    ck_assert_int_eq(jint(a, "align"), 128);
    ck_assert_int_eq(jint(a, "blocks_live"), 0);
    ck_assert_int_eq(jint(json_object_get(j, "daemon"), "arenas"), 2);
    json_decref(j);
    ck_assert_int_eq(RUN(&R, "arenas", "--json"), 0);
    j = parse(R.out);
    ck_assert_str_eq(json_string_value(json_object_get(find_arena(j, "n1"), "mode")), "0640");
    ck_assert_int_eq(json_array_size(json_object_get(j, "arenas")), 2);
    json_decref(j);

    /* The daemon says no: 1, with the arena named and the error's name. */
    ck_assert_int_eq(RUN(&R, "create", "n1"), 1);
    ck_assert_str_eq(R.err, "ofactl: arena n1: the arena exists (EEXIST)\n");
    ck_assert_int_eq(RUN(&R, "stats", "nosuch"), 1);
    ck_assert_str_eq(R.err, "ofactl: arena nosuch: no such arena (ENOENT)\n");
    ck_assert_int_eq(RUN(&R, "drop", "nosuch"), 1);
    ck_assert_str_eq(R.err, "ofactl: arena nosuch: no such arena (ENOENT)\n");

    /* drop: refused while t has a live block, unless --force. */
    ck_assert_int_eq(RUN(&R, "drop", "t"), 1);
    ck_assert_str_eq(R.err, "ofactl: arena t: the arena has live blocks (force drops it with "
                            "them) (EBUSY)\n");
    ck_assert_int_eq(RUN(&R, "drop", "n1"), 0);
    ck_assert_int_eq(RUN(&R, "drop", "t", "--force"), 0);
    ck_assert_int_eq(RUN(&R, "arenas", "--json"), 0);
    j = parse(R.out);
    ck_assert_int_eq(json_array_size(json_object_get(j, "arenas")), 0);
    json_decref(j);
    ofa_disconnect(c);
    stop();
}
END_TEST

START_TEST(test_human)
{
    char *nl;

    start();
    ck_assert_int_eq(RUN(&R, "create", "wide-name.with_chars", "--page-size", "16M"), 0);
    ck_assert_str_eq(R.out, "created arena wide-name.with_chars\n");
    ck_assert_int_eq(RUN(&R, "arenas"), 0);
    ck_assert_int_eq(strncmp(R.out, "NAME ", 5), 0);
    ck_assert_ptr_nonnull(strstr(R.out, "OWNER"));
    ck_assert_ptr_nonnull(strstr(R.out, "\nt "));
    ck_assert_ptr_nonnull(strstr(R.out, "0600"));
    ck_assert_ptr_nonnull(strstr(R.out, "64.0K"));
    ck_assert_ptr_nonnull(strstr(R.out, "16.0M"));
    /* Aligned: every line as long as the header. */
    nl = strchr(R.out, '\n');
    ck_assert_ptr_nonnull(nl);
    {
        size_t w = (size_t)(nl - R.out);
        char *p = nl + 1, *q;

        while ((q = strchr(p, '\n')) != NULL) {
            ck_assert_uint_eq((size_t)(q - p), w);
            p = q + 1;
        }
    }
    ck_assert_int_eq(RUN(&R, "stats"), 0);
    ck_assert_int_eq(strncmp(R.out, "ofad " OFA_VERSION, 5 + strlen(OFA_VERSION)), 0);
    ck_assert_ptr_nonnull(strstr(R.out, "\nNAME "));
    ck_assert_ptr_nonnull(strstr(R.out, "LARGEST_FREE"));
    ck_assert_int_eq(RUN(&R, "stats", "t"), 0);
    ck_assert_ptr_null(strstr(R.out, "wide-name"));
    stop();
}
END_TEST

START_TEST(test_names)
{
    ofa_client *c;
    ofa_arena *a;
    uint64_t off, off2;
    json_t *j, *list, *e;

    start();
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "t", &a), 0);
    ck_assert_int_eq(RUN(&R, "names", "t", "--json"), 0);
    j = parse(R.out);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "names")), 0);
    ck_assert_int_eq(jint(j, "waiting"), 0);
    json_decref(j);

    ck_assert_int_eq(ofa_alloc_named(a, "zeta/queue:1", 4096, 0, &off), 1);
    ck_assert_int_eq(ofa_alloc_named(a, "alpha", 100, 0, &off2), 1);
    ck_assert_int_eq(RUN(&R, "names", "t", "--json"), 0);
    j = parse(R.out);
    list = json_object_get(j, "names");
    ck_assert_uint_eq(json_array_size(list), 2);
    e = json_array_get(list, 0); /* sorted by name */
    ck_assert_str_eq(json_string_value(json_object_get(e, "name")), "alpha");
    ck_assert_int_eq(jint(e, "offset"), (json_int_t)off2);
    ck_assert_int_eq(jint(e, "size"), 128); /* rounded to the arena's alignment */
    ck_assert_int_eq(jint(e, "uid"), getuid());
    ck_assert_int_eq(jint(e, "pid"), getpid());
    e = json_array_get(list, 1);
    ck_assert_str_eq(json_string_value(json_object_get(e, "name")), "zeta/queue:1");
    ck_assert_int_eq(jint(e, "offset"), (json_int_t)off);
    ck_assert_int_eq(jint(e, "size"), 4096);
    json_decref(j);

    ck_assert_int_eq(RUN(&R, "names", "t"), 0);
    ck_assert_int_eq(strncmp(R.out, "NAME ", 5), 0);
    ck_assert_ptr_nonnull(strstr(R.out, "\nalpha "));
    ck_assert_ptr_nonnull(strstr(R.out, "\nzeta/queue:1 "));
    ck_assert_ptr_nonnull(strstr(R.out, "4.0K"));
    ck_assert_int_eq(RUN(&R, "names", "nosuch"), 1);
    ck_assert_ptr_nonnull(strstr(R.err, "ENOENT"));
    ck_assert_int_eq(RUN(&R, "names"), 2);
    ck_assert_int_eq(RUN(&R, "names", "bad name"), 2);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* --- usage errors: 2, and nothing sent --- */

START_TEST(test_usage)
{
    start();
    ck_assert_int_eq(RUN_BARE(&R, "--help"), 0);
    ck_assert_ptr_nonnull(strstr(R.out, "usage: ofactl"));
    ck_assert_int_eq(RUN_BARE(&R, "--version"), 0);
    ck_assert_str_eq(R.out, "ofactl " OFA_VERSION "\n");

    ck_assert_int_eq(run_v(&R, (const char *const[]){NULL}), 2);
    ck_assert_ptr_nonnull(strstr(R.err, "ofactl: "));
    ck_assert_int_eq(RUN(&R, "frobnicate"), 2);
    ck_assert_int_eq(RUN(&R, "create"), 2);
    ck_assert_int_eq(RUN(&R, "create", "a", "b"), 2);
    ck_assert_int_eq(RUN(&R, "create", "bad name"), 2);
    ck_assert_int_eq(RUN(&R, "create", "x", "--page-size", "junk"), 2);
    ck_assert_int_eq(RUN(&R, "create", "x", "--max", "-1"), 2);
    ck_assert_int_eq(RUN(&R, "create", "x", "--mode", "9"), 2);
    ck_assert_int_eq(RUN(&R, "create", "x", "--mode", "1777"), 2);
    ck_assert_int_eq(RUN(&R, "create", "x", "--json"), 2);
    ck_assert_int_eq(RUN(&R, "drop"), 2);
    ck_assert_int_eq(RUN(&R, "drop", "t", "--mode", "600"), 2);
    ck_assert_int_eq(RUN(&R, "arenas", "--force"), 2);
    ck_assert_int_eq(RUN(&R, "arenas", "extra"), 2);
    ck_assert_int_eq(RUN(&R, "stats", "a", "b"), 2);
    ck_assert_int_eq(RUN(&R, "stats", "a b"), 2);
    ck_assert_int_eq(RUN(&R, "ping", "--wait", "soon"), 2);
    ck_assert_int_eq(RUN(&R, "ping", "--bogus"), 2);
    ck_assert_int_eq(RUN_BARE(&R, "ping", "--socket"), 2);
    ck_assert_int_eq(RUN_BARE(&R, "--socket", "", "ping"), 2);

    /* Values ofad would refuse are refused here, with what is wrong. */
    ck_assert_int_eq(RUN(&R, "create", "x", "--page-size", "1000"), 2);
    ck_assert_str_eq(R.err, "ofactl: --page-size: 1000 is not a multiple of 4096 from 4K to 1T\n"
                            "Try 'ofactl --help'.\n");
    ck_assert_int_eq(RUN(&R, "create", "x", "--page-size", "1k"), 2);
    ck_assert_int_eq(RUN(&R, "create", "x", "--page-size", "2T"), 2);
    ck_assert_int_eq(RUN(&R, "create", "x", "--page-size", "0"), 2);
    ck_assert_int_eq(RUN(&R, "create", "x", "--align", "3"), 2);
    ck_assert_str_eq(R.err, "ofactl: --align: 3 is not a power of two from 8 to 4096\n"
                            "Try 'ofactl --help'.\n");
    ck_assert_int_eq(RUN(&R, "create", "x", "--align", "8192"), 2);
    ck_assert_int_eq(RUN(&R, "create", "x", "--align", "48"), 2);
    ck_assert_int_eq(RUN(&R, "create", "x", "--align", "4"), 2);
    ck_assert_int_eq(RUN(&R, "create", "x", "--max", "0"), 2);
    ck_assert_int_eq(RUN(&R, "create", "x", "--max", "17179869183G"), 2); /* over 2^63 - 1 */
    ck_assert_str_eq(R.err, "ofactl: --max: 17179869183G is over 2^63 - 1 bytes\n"
                            "Try 'ofactl --help'.\n");
    ck_assert_int_eq(RUN(&R, "create", "x", "--max", "17179869184G"), 2); /* over 2^64 - 1 */
    ck_assert_int_eq(RUN(&R, "create", "x", "--mode", "-1"), 2);
    ck_assert_int_eq(RUN(&R, "create", "x", "--mode", "0"), 2);
    /* Names that start with '-': an unknown option, or refused after "--". */
    ck_assert_int_eq(RUN(&R, "create", "-x"), 2);
    ck_assert_int_eq(RUN(&R, "create", "--", "-x"), 2);
    ck_assert_str_eq(R.err, "ofactl: invalid arena name '-x': it may not start with '-'\n"
                            "Try 'ofactl --help'.\n");
    /* An option that takes no value. */
    ck_assert_int_eq(RUN(&R, "drop", "t", "--force=yes"), 2);
    ck_assert_str_eq(R.err, "ofactl: option '--force' doesn't allow an argument\n"
                            "Try 'ofactl --help'.\n");
    ck_assert_int_eq(RUN(&R, "stats", "--json=1"), 2);
    /* Socket paths that cannot be a socket. */
    {
        char longpath[121];

        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = '\0';
        ck_assert_int_eq(RUN_BARE(&R, "--socket", longpath, "ping"), 2);
        ck_assert_int_eq(strncmp(R.err, "ofactl: socket path too long: 120 bytes, at most 107: /a",
                                 56),
                         0);
        ck_assert_int_eq(RUN_BARE(&R, "--socket", d.dir, "arenas"), 2);
        ck_assert_int_eq(strncmp(R.err, "ofactl: ", 8), 0);
        ck_assert_ptr_nonnull(strstr(R.err, " is a directory, not ofad's socket\n"));
        setenv("OFAD_SOCKET", d.dir, 1);
        ck_assert_int_eq(RUN_BARE(&R, "ping"), 2);
        unsetenv("OFAD_SOCKET");
    }
    /* Nothing of that reached the daemon. */
    ck_assert_int_eq(RUN(&R, "arenas", "--json"), 0);
    {
        json_t *j = parse(R.out);
        ck_assert_int_eq(json_array_size(json_object_get(j, "arenas")), 1);
        json_decref(j);
    }
    stop();
}
END_TEST

/* --- no daemon: 3 --- */

START_TEST(test_no_daemon)
{
    struct sockaddr_un sa;
    int fd;

    start();
    ck_assert_int_eq(RUN(&R, "arenas"), 0);
    stop();
    /* The socket is gone. */
    ck_assert_int_eq(RUN(&R, "arenas"), 3);
    {
        char want[PATH_MAX + 128];

        snprintf(want, sizeof(want),
                 "ofactl: no ofad listening at %s: is it running? set OFAD_SOCKET (ENOENT)\n",
                 d.socket);
        ck_assert_str_eq(R.err, want);
    }
    ck_assert_int_eq(RUN(&R, "stats", "--json"), 3);
    ck_assert_str_eq(R.out, "");
    ck_assert_int_eq(RUN(&R, "create", "x"), 3);
    ck_assert_int_eq(RUN(&R, "drop", "x"), 3);
    /* A socket file nobody listens on. */
    ck_assert_int_eq(ofad_prepare(&d), 0);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, d.socket);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    ck_assert_int_eq(RUN(&R, "ping"), 3);
    {
        char want[PATH_MAX + 128];

        snprintf(want, sizeof(want),
                 "ofactl: no ofad listening at %s: is it running? set OFAD_SOCKET (ECONNREFUSED)\n",
                 d.socket);
        ck_assert_str_eq(R.err, want);
    }
    ofad_cleanup(&d);
}
END_TEST

/* --- another user --- */

static int as_nobody(void *arg)
{
    static struct run r;
    json_t *j, *a;

    (void)arg;
    if (RUN(&r, "stats", "t") != 1 || strstr(r.err, "EACCES") == NULL)
        return 1;
    if (RUN(&r, "drop", "t", "--force") != 1)
        return 2;
    if (RUN(&r, "arenas", "--json") != 0 || (j = json_loads(r.out, 0, NULL)) == NULL)
        return 3;
    a = find_arena(j, "t");
    if (a == NULL || !json_is_false(json_object_get(a, "readable")) ||
        json_integer_value(json_object_get(a, "uid")) != 0)
        return 4;
    json_decref(j);
    /* Its own arena. */
    if (RUN(&r, "create", "mine") != 0 || RUN(&r, "stats", "mine", "--json") != 0)
        return 5;
    if (RUN(&r, "stats", "--json") != 0 || (j = json_loads(r.out, 0, NULL)) == NULL)
        return 6;
    /* stats lists only what the caller may read. */
    if (json_array_size(json_object_get(j, "arenas")) != 1 || find_arena(j, "mine") == NULL)
        return 7;
    json_decref(j);
    return 0;
}

START_TEST(test_other_user)
{
    json_t *j;

    start();
    ck_assert_int_eq(ofad_open_to_all(&d), 0);
    ck_assert_int_eq(harness_as_user("nobody", (gid_t)-1, as_nobody, NULL), 0);
    ck_assert_int_eq(RUN(&R, "arenas", "--json"), 0);
    j = parse(R.out);
    ck_assert_int_eq(jint(find_arena(j, "mine"), "uid"), 65534);
    json_decref(j);
    stop();
}
END_TEST

/* --- deadlines --- */

START_TEST(test_timeout_stopped)
{
    start();
    /* A daemon stopped with SIGSTOP: its socket accepts (the kernel does),
     * nothing answers. Every form gives up in time with status 3. */
    ck_assert_int_eq(ofad_signal(&d, SIGSTOP), 0);
    ck_assert_int_eq(RUN(&R, "--timeout", "0.3", "ping"), 3);
    ck_assert_ptr_nonnull(strstr(R.err, "ETIMEDOUT"));
    ck_assert_int_eq(RUN(&R, "ping", "--wait", "1"), 3);
    ck_assert_ptr_nonnull(strstr(R.err, "ETIMEDOUT"));
    /* --wait bounds the attempt even when --timeout says never. */
    ck_assert_int_eq(RUN(&R, "--timeout", "0", "ping", "--wait", "0.5"), 3);
    ck_assert_int_eq(RUN(&R, "--timeout=0.3", "stats", "--json"), 3);
    ck_assert_str_eq(R.out, "");
    ck_assert_int_eq(ofad_signal(&d, SIGCONT), 0);
    ck_assert_int_eq(RUN(&R, "--timeout", "5", "ping", "--wait", "5"), 0);
    stop();
    ck_assert_int_eq(RUN_BARE(&R, "--timeout", "soon", "ping"), 2);
    ck_assert_int_eq(RUN_BARE(&R, "--timeout", "-1", "ping"), 2);
}
END_TEST

START_TEST(test_timeout_silent_server)
{
    pid_t pid;
    int lfd, st;

    /* A server that accepts every connection, reads, and never answers. */
    ck_assert_int_eq(ofad_prepare(&d), 0);
    lfd = harness_listen(d.socket);
    ck_assert_int_ge(lfd, 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char buf[256];
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) {
            int fd = accept(lfd, NULL, NULL);
            if (fd >= 0)
                while (read(fd, buf, sizeof(buf)) > 0)
                    ;
        }
    }
    close(lfd);
    ck_assert_int_eq(RUN(&R, "ping", "--wait", "1"), 3);
    ck_assert_ptr_nonnull(strstr(R.err, "ETIMEDOUT"));
    ck_assert_int_eq(RUN(&R, "--timeout", "0.2", "arenas"), 3);
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ofad_cleanup(&d);
}
END_TEST

/* --- clients and blocks --- */

static int leaker_fd = -1; /* closing it ends the leaker */

/* A real client process: names itself "leaker", connects, allocates n
 * blocks of 1000 bytes in t (every fourth OFA_KEEP), writes the first
 * block's offset and the first kept one's to the pipe, then waits for the
 * test to close its end. */
static pid_t leaker(int n, uint64_t offs[2])
{
    int up[2], down[2];
    pid_t pid;
    char c;

    ck_assert_int_eq(pipe2(up, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(down, O_CLOEXEC), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ofa_client *cl;
        ofa_arena *a;
        uint64_t off, out[2] = {0, 0};

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, "leaker");
        close(up[0]);
        close(down[1]);
        if (ofa_connect(d.socket, &cl) < 0 || ofa_arena_open(cl, "t", &a) < 0)
            _exit(1);
        for (int i = 0; i < n; i++) {
            if (ofa_alloc_ex(a, 1000, 0, i % 4 == 3 ? OFA_KEEP : 0, &off) < 0)
                _exit(2);
            if (i == 0)
                out[0] = off;
            if (i == 3)
                out[1] = off;
        }
        if (write(up[1], out, sizeof(out)) != sizeof(out))
            _exit(3);
        (void)read(down[0], &c, 1); /* until the test is done */
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    ck_assert_int_eq(read(up[0], offs, 2 * sizeof(uint64_t)), 2 * sizeof(uint64_t));
    close(up[0]);
    leaker_fd = down[1];
    return pid;
}

START_TEST(test_clients)
{
    json_t *j, *list, *cl, *ar, *mine = NULL;
    uint64_t offs[2];
    size_t i;
    pid_t pid;
    int st;

    start();
    pid = leaker(40, offs);
    ck_assert_int_eq(RUN(&R, "clients", "--json"), 0);
    j = parse(R.out);
    list = json_object_get(j, "clients");
    ck_assert(json_is_array(list));
    json_array_foreach(list, i, cl)
    {
        if (jint(cl, "pid") == pid)
            mine = cl;
    }
    ck_assert_ptr_nonnull(mine);
    ck_assert_str_eq(json_string_value(json_object_get(mine, "comm")), "leaker");
    ck_assert_int_eq(jint(mine, "uid"), (json_int_t)getuid());
    ck_assert_int_ge(jint(mine, "requests"), 42); /* HELLO, OPEN, 40 ALLOC */
    ck_assert_int_gt(jint(mine, "since_s"), 1600000000);
    ar = json_array_get(json_object_get(mine, "arenas"), 0);
    ck_assert_ptr_nonnull(ar);
    ck_assert_str_eq(json_string_value(json_object_get(ar, "name")), "t");
    ck_assert_int_eq(jint(ar, "blocks"), 30); /* the kept ten are the arena's */
    ck_assert_int_eq(jint(ar, "bytes"), 30 * 1024);
    json_decref(j);
    /* The table names the command and the arena. */
    ck_assert_int_eq(RUN(&R, "clients"), 0);
    ck_assert_int_eq(strncmp(R.out, "ID ", 3), 0);
    ck_assert_ptr_nonnull(strstr(R.out, " leaker "));
    ck_assert_ptr_nonnull(strstr(R.out, " t "));
    ck_assert_int_eq(RUN(&R, "clients", "extra"), 2);
    ck_assert_int_eq(RUN(&R, "clients", "--free"), 2);

    /* blocks finds the first block with its owner, and the kept one. */
    ck_assert_int_eq(RUN(&R, "blocks", "t", "--json"), 0);
    j = parse(R.out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "arena")), "t");
    ck_assert_int_eq(jint(j, "total"), 40);
    list = json_object_get(j, "blocks");
    ck_assert_int_eq(json_array_size(list), 40);
    {
        int seen = 0;

        json_array_foreach(list, i, cl)
        {
            if ((uint64_t)jint(cl, "off") == offs[0]) {
                ck_assert_str_eq(json_string_value(json_object_get(cl, "kind")), "live");
                ck_assert_int_eq(jint(cl, "pid"), pid);
                ck_assert(json_is_false(json_object_get(cl, "keep")));
                ck_assert_int_eq(jint(cl, "size"), 1024);
                seen |= 1;
            }
            if ((uint64_t)jint(cl, "off") == offs[1]) {
                ck_assert_str_eq(json_string_value(json_object_get(cl, "kind")), "kept");
                ck_assert(json_is_true(json_object_get(cl, "keep")));
                ck_assert_ptr_null(json_object_get(cl, "pid"));
                seen |= 2;
            }
            /* Address order. */
            if (i > 0)
                ck_assert_int_gt(jint(cl, "off"), jint(json_array_get(list, i - 1), "off"));
        }
        ck_assert_int_eq(seen, 3);
    }
    json_decref(j);
    /* --free adds the free chunks; --limit and --sort bound and order. */
    ck_assert_int_eq(RUN(&R, "blocks", "t", "--json", "--free"), 0);
    j = parse(R.out);
    ck_assert_int_gt(jint(j, "total"), 40);
    json_decref(j);
    ck_assert_int_eq(RUN(&R, "blocks", "t", "--json", "--sort", "owner", "--limit", "3"), 0);
    j = parse(R.out);
    ck_assert_int_eq(jint(j, "total"), 40);
    ck_assert_int_eq(json_array_size(json_object_get(j, "blocks")), 3);
    ck_assert_int_eq(jint(json_array_get(json_object_get(j, "blocks"), 0), "pid"), pid);
    json_decref(j);
    ck_assert_int_eq(RUN(&R, "blocks", "t", "--sort", "owner", "--limit", "2"), 0);
    ck_assert_int_eq(strncmp(R.out, "OFFSET ", 7), 0);
    ck_assert_ptr_nonnull(strstr(R.out, "(2 of 40 shown)"));
    ck_assert_int_eq(RUN(&R, "blocks", "t", "--sort", "age"), 2);
    ck_assert_int_eq(RUN(&R, "blocks", "t", "--limit", "0"), 2);
    ck_assert_int_eq(RUN(&R, "blocks"), 2);
    ck_assert_int_eq(RUN(&R, "blocks", "nosuch"), 1);
    ck_assert_str_eq(R.err, "ofactl: arena nosuch: no such arena (ENOENT)\n");

    close(leaker_fd);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* Its blocks went with it; the kept ones stay, owned by the arena. */
    ck_assert_int_eq(RUN(&R, "blocks", "t", "--json"), 0);
    j = parse(R.out);
    ck_assert_int_eq(jint(j, "total"), 10);
    json_decref(j);
    stop();
}
END_TEST

/* A listing longer than one reply comes in parts: the daemon's cursors. */
START_TEST(test_listing_pages)
{
    struct rawc rc[20], me;
    struct proto_req q;
    struct proto_rep r;
    uint64_t cursor = 0, last = 0, blocks = 0, from = 0, prev_end = 0;
    uint32_t h, rows = 0, parts = 0;
    int wr;
    ofa_client *c;
    ofa_arena *a;
    uint64_t offs[4096];

    start();
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(rawc_connect(&rc[i], d.socket), 0);
        ck_assert_int_eq(rawc_hello(&rc[i]), 0);
    }
    /* With the smallest message limit, a reply holds 15 rows. */
    ck_assert_int_eq(rawc_connect(&me, d.socket), 0);
    ck_assert_int_eq(rawc_hello_v(&me, PROTO_VERSION, PROTO_MIN_MAX_MSG), 0);
    do {
        memset(&q, 0, sizeof(q));
        q.op = PROTO_OP_CLIENTS;
        q.u.clients.cursor = cursor;
        ck_assert_int_eq(rawc_call(&me, &q, &r, NULL), 0);
        ck_assert_uint_le(r.u.clients.count, 15);
        for (uint32_t i = 0; i < r.u.clients.count; i++) {
            ck_assert_uint_gt(r.u.clients.v[i].client, last); /* in order, never twice */
            last = r.u.clients.v[i].client;
        }
        rows += r.u.clients.count;
        parts++;
        ck_assert(r.u.clients.next == 0 || r.u.clients.next > cursor);
        cursor = r.u.clients.next;
    } while (cursor != 0);
    ck_assert_uint_eq(rows, 21);
    ck_assert_uint_ge(parts, 2);

    /* 8,000 blocks through BLOCKS at 4 KiB a reply: many parts, each in
     * address order after the last, adding up to every block. */
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "t", &a), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(ofa_alloc_many(a, 64, 0, 0, 4000, offs), 0);
    ck_assert_int_eq(rawc_open(&me, "t", &h, &wr), 0);
    parts = 0;
    do {
        memset(&q, 0, sizeof(q));
        q.op = PROTO_OP_BLOCKS;
        q.u.blocks.name.ptr = "t";
        q.u.blocks.name.len = 1;
        q.u.blocks.cursor = from;
        ck_assert_int_eq(rawc_call(&me, &q, &r, NULL), 0);
        ck_assert_uint_ge(r.u.blocks.count, 1);
        for (uint32_t i = 0; i < r.u.blocks.count; i++) {
            const uint64_t *e = &r.u.blocks.v[i * PROTO_BLOCK_FIELDS];

            ck_assert_uint_ge(e[0], prev_end);
            if (e[2] == PROTO_BLOCK_PAGE)
                continue;
            ck_assert_uint_eq(e[2], PROTO_BLOCK_LIVE);
            prev_end = e[0] + e[1];
            blocks++;
        }
        parts++;
        ck_assert(r.u.blocks.next == 0 || r.u.blocks.next > from);
        from = r.u.blocks.next;
    } while (from != 0);
    ck_assert_uint_eq(blocks, 8000);
    ck_assert_uint_ge(parts, 80);
    /* ofactl pages through the same with the library. */
    ck_assert_int_eq(RUN(&R, "blocks", "t", "--json", "--limit", "1"), 0);
    {
        json_t *j = parse(R.out);
        ck_assert_int_eq(jint(j, "total"), 8000);
        json_decref(j);
    }
    /* Not readable, no such arena. */
    memset(&q, 0, sizeof(q));
    q.op = PROTO_OP_BLOCKS;
    q.u.blocks.name.ptr = "zz";
    q.u.blocks.name.len = 2;
    ck_assert_int_eq(rawc_call(&me, &q, &r, NULL), -ENOENT);
    ofa_disconnect(c);
    rawc_close(&me);
    for (int i = 0; i < 20; i++)
        rawc_close(&rc[i]);
    stop();
}
END_TEST

static int clients_as_nobody(void *arg)
{
    static struct run r;
    json_t *j, *list, *cl;
    size_t i;

    (void)arg;
    if (RUN(&r, "clients", "--json") != 0 || (j = json_loads(r.out, 0, NULL)) == NULL)
        return 1;
    list = json_object_get(j, "clients");
    /* Only nobody's own connection (this ofactl), not root's client. */
    if (json_array_size(list) != 1)
        return 2;
    json_array_foreach(list, i, cl)
    {
        if (json_integer_value(json_object_get(cl, "uid")) != 65534)
            return 3;
    }
    json_decref(j);
    if (RUN(&r, "blocks", "t") != 1 || strstr(r.err, "(EACCES)") == NULL)
        return 4;
    return 0;
}

START_TEST(test_clients_other_user)
{
    ofa_client *c;

    start();
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofad_open_to_all(&d), 0);
    ck_assert_int_eq(harness_as_user("nobody", (gid_t)-1, clients_as_nobody, NULL), 0);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* --- live views: stats --watch, --prometheus, top --- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_watch_prometheus)
{
    char prom[PATH_MAX], js[PATH_MAX], *line, *save = NULL;
    ofa_client *c;
    ofa_arena *a;
    uint64_t offs[100];
    int lines = 0;

    start();
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "t", &a), 0);
    ck_assert_int_eq(ofa_alloc_many(a, 1000, 0, 0, 100, offs), 0);
    ck_assert_int_eq(ofa_free_many(a, offs, 50), 50); /* some free space, in pieces */

    /* --watch: a header, then one line per arena and interval. */
    ck_assert_int_eq(RUN(&R, "stats", "--watch", "0.05", "--count", "3"), 0);
    for (line = strtok_r(R.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (lines == 0)
            ck_assert_int_eq(strncmp(line, "TIME ", 5), 0);
        else
            ck_assert_ptr_nonnull(strstr(line, "  t  "));
        lines++;
    }
    ck_assert_int_eq(lines, 4);
    ck_assert_int_eq(RUN(&R, "stats", "--watch", "0"), 2);
    ck_assert_int_eq(RUN(&R, "stats", "--count", "3"), 2);
    ck_assert_int_eq(RUN(&R, "stats", "--watch", "1", "--json"), 2);

    /* --prometheus: parsed by the Prometheus client's own parser, equal to
     * stats --json taken right after (nothing changes in between: our
     * client is idle, and neither command allocates). */
    ck_assert_int_eq(RUN(&R, "stats", "--prometheus"), 0);
    snprintf(prom, sizeof(prom), "%s/metrics.prom", d.dir);
    write_file(prom, R.out);
    ck_assert_int_eq(RUN(&R, "stats", "--json"), 0);
    snprintf(js, sizeof(js), "%s/stats.json", d.dir);
    write_file(js, R.out);
    ck_assert_int_eq(run_path(&R, "/usr/bin/python3",
                              (const char *const[]){OFA_TESTS_DIR "/prom_check.py", prom, js, NULL}),
                     0);
    ck_assert_int_eq(strncmp(R.out, "prom_check: ", 12), 0);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* tmux, on a server of the test's own (-L), so that nothing else is seen. */
static int tmux(const char *sock, const char *const *args)
{
    const char *argv[16] = {"-L", sock};
    int n = 2;

    while (*args != NULL && n < 15)
        argv[n++] = *args++;
    argv[n] = NULL;
    return run_path(&R, "/usr/bin/tmux", argv);
}

/* Polls the screen until it holds needle (and, if then is set, a line
 * with needle whose allocs/s column is not 0 or -). Bounded by
 * HARNESS_WAIT_MS. */
static bool screen_shows(const char *sock, const char *needle, bool rate)
{
    for (int waited = 0; waited < HARNESS_WAIT_MS; waited += 20) {
        const char *p;

        if (tmux(sock, (const char *const[]){"capture-pane", "-p", "-t", "top", NULL}) == 0 &&
            (p = strstr(R.out, needle)) != NULL) {
            char name[64], live[16], res[16], frag[16], allocs[32];

            if (!rate)
                return true;
            if (sscanf(p, "%63s %15s %15s %15s %31s", name, live, res, frag, allocs) == 5 &&
                strcmp(allocs, "-") != 0 && strcmp(allocs, "0") != 0)
                return true;
        }
        usleep(20000);
    }
    return false;
}

START_TEST(test_top)
{
    char sock[64], cmd[PATH_MAX + 128];
    ofa_client *c;
    ofa_arena *a;
    uint64_t offs[1025];
    pid_t churn;
    int i, st;

    start();
    snprintf(sock, sizeof(sock), "ofa-top-%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "%s --socket %s top --watch 0.2", OFACTL_PATH, d.socket);
    ck_assert_int_eq(tmux(sock, (const char *const[]){"new-session", "-d", "-s", "top", "-x", "80",
                                                      "-y", "24", cmd, NULL}),
                     0);
    /* The arena is on the screen, in an 80x24 terminal. */
    ck_assert(screen_shows(sock, "ARENA", false));
    ck_assert(screen_shows(sock, "\nt ", false));
    /* A client allocating in a steady stream (a real process, killed at
     * the end) shows as a rate; and it is among the top clients, by the
     * command name it gave itself. */
    churn = fork();
    ck_assert_int_ge(churn, 0);
    if (churn == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_NAME, "churner");
        if (ofa_connect(d.socket, &c) < 0 || ofa_arena_open(c, "t", &a) < 0 ||
            ofa_alloc(a, 100000, offs) < 0)
            _exit(1);
        for (;;)
            if (ofa_alloc_many(a, 64, 0, 0, 1024, offs + 1) < 0 ||
                ofa_free_many(a, offs + 1, 1024) != 1024)
                _exit(2);
    }
    ck_assert(screen_shows(sock, "\nt ", true));
    ck_assert(screen_shows(sock, "churner", false));
    kill(churn, SIGKILL);
    ck_assert_int_eq(waitpid(churn, &st, 0), churn);
    /* q quits: the session ends with the program. */
    ck_assert_int_eq(tmux(sock, (const char *const[]){"send-keys", "-t", "top", "q", NULL}), 0);
    for (i = 0; i < HARNESS_WAIT_MS / 20 &&
                tmux(sock, (const char *const[]){"has-session", "-t", "top", NULL}) == 0;
         i++)
        usleep(20000);
    ck_assert_int_ne(tmux(sock, (const char *const[]){"has-session", "-t", "top", NULL}), 0);
    tmux(sock, (const char *const[]){"kill-server", NULL});
    /* Not on a terminal: a usage error, pointing to stats --watch. */
    ck_assert_int_eq(RUN(&R, "top"), 2);
    ck_assert_ptr_nonnull(strstr(R.err, "stats --watch"));
    stop();
}
END_TEST

/* --- map --svg --- */

START_TEST(test_map)
{
    static uint64_t offs[4000];
    char svg[PATH_MAX], png[PATH_MAX];
    ofa_client *c;
    ofa_arena *a;
    struct stat st;
    int i;

    start();
    /* 100,000 blocks of 64 bytes in one 16 MiB page, every third freed,
     * some kept: the map must stay small and valid. */
    ck_assert_int_eq(RUN(&R, "create", "big", "--page-size", "16M"), 0);
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "big", &a), 0);
    for (i = 0; i < 25; i++) {
        ck_assert_int_eq(ofa_alloc_many(a, 64, 0, i == 3 ? OFA_KEEP : 0, 4000, offs), 0);
        for (int k = 0; k < 4000; k += 3)
            ck_assert_int_eq(ofa_free(a, offs[k]), 0);
    }
    snprintf(svg, sizeof(svg), "%s/big.svg", d.dir);
    snprintf(png, sizeof(png), "%s/big.png", d.dir);
    ck_assert_int_eq(RUN(&R, "map", "big", "--svg", svg), 0);
    ck_assert_int_eq(strncmp(R.out, "wrote ", 6), 0);
    ck_assert_ptr_nonnull(strstr(R.out, ": 1 pages, "));
    /* Runs of tiny blocks are merged: a few rectangles per pixel, not one
     * per block. */
    ck_assert_int_eq(stat(svg, &st), 0);
    ck_assert_int_lt(st.st_size, 300 * 1024);
    ck_assert_int_eq(run_path(&R, "/usr/bin/xmllint", (const char *const[]){"--noout", svg, NULL}),
                     0);
    ck_assert_int_eq(run_path(&R, "/usr/bin/rsvg-convert",
                              (const char *const[]){"-o", png, svg, NULL}),
                     0);
    ck_assert_int_eq(stat(png, &st), 0);
    ck_assert_int_gt(st.st_size, 1000);
    /* The legend and the figures. */
    ck_assert_int_eq(run_path(&R, "/usr/bin/xmllint",
                              (const char *const[]){"--xpath", "string(//*[local-name()='text'][1])",
                                                    svg, NULL}),
                     0);
    ck_assert_ptr_nonnull(strstr(R.out, "arena big: 1 pages"));
    ck_assert_ptr_nonnull(strstr(R.out, "66650 blocks (2666 kept)"));
    /* Usage. */
    ck_assert_int_eq(RUN(&R, "map", "big"), 2);
    ck_assert_int_eq(RUN(&R, "map", "nosuch", "--svg", svg), 1);
    ofa_disconnect(c);
    stop();
}
END_TEST

/* --- bash completion --- */

/* The words bash would complete on the line `ofactl --socket SOCK line`
 * (the last word the one being completed), through client/ofactl.bash. */
static const char *complete(const char *line)
{
    char script[PATH_MAX * 2 + 512], dir[PATH_MAX];
    char *slash;

    snprintf(dir, sizeof(dir), "%s", OFACTL_PATH);
    slash = strrchr(dir, '/');
    ck_assert_ptr_nonnull(slash);
    *slash = '\0';
    snprintf(script, sizeof(script),
             ". '%s/../client/ofactl.bash'; PATH='%s':$PATH; "
             "COMP_WORDS=(ofactl --socket '%s' %s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
             "case '%s' in *' ') COMP_WORDS+=(''); COMP_CWORD=$((COMP_CWORD + 1)) ;; esac; "
             "_ofactl; echo \"${COMPREPLY[*]}\"",
             OFA_TESTS_DIR, dir, d.socket, line, line);
    ck_assert_int_eq(run_path(&R, "/bin/bash", (const char *const[]){"-c", script, NULL}), 0);
    return R.out;
}

START_TEST(test_completion)
{
    start();
    ck_assert_int_eq(RUN(&R, "create", "frames"), 0);
    ck_assert_str_eq(complete("bl"), "blocks\n");
    ck_assert_str_eq(complete("c"), "create clients\n");
    /* Arena names come from the daemon. */
    ck_assert_str_eq(complete("blocks "), "frames t\n");
    ck_assert_str_eq(complete("stats f"), "frames\n");
    ck_assert_str_eq(complete("drop "), "frames t\n");
    /* Options of the command; values of --sort. */
    ck_assert_str_eq(complete("blocks t --s"), "--socket --sort\n");
    ck_assert_str_eq(complete("blocks t --sort "), "size owner\n");
    ck_assert_str_eq(complete("stats --p"), "--prometheus\n");
    ck_assert_str_eq(complete("create x --"),
                     "--socket --timeout --help --version --page-size --max --align --mode\n");
    stop();
}
END_TEST

/* --- the wording of errors, in ofactl and through ofa_errmsg() --- */

struct denied {
    const char *socket, *group;
};

/* As nobody, on a socket of mode 0660 whose group nobody is not in. */
static int denied_as_nobody(void *arg)
{
    static struct run r;
    const struct denied *x = arg;
    char want[PATH_MAX + 128];
    ofa_client *c;

    snprintf(want, sizeof(want), "permission denied on %s: join group %s", x->socket, x->group);
    if (ofa_connect(x->socket, &c) != -EACCES || strcmp(ofa_errmsg(), want) != 0)
        return 1;
    strcat(want, " (EACCES)\n");
    if (run_v(&r, (const char *const[]){"--socket", x->socket, "ping", NULL}) != 3 ||
        strncmp(r.err, "ofactl: ", 8) != 0 || strcmp(r.err + 8, want) != 0)
        return 2;
    return 0;
}

START_TEST(test_wording)
{
    char want[PATH_MAX + 128];
    struct denied x;
    struct group *gr;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;

    /* Before any failure. */
    ck_assert_str_eq(ofa_errmsg(), "no error");
    start();
    /* What the README's hello.c prints for each way it can fail. */
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "frames", &a), -ENOENT);
    ck_assert_str_eq(ofa_errmsg(), "arena frames: no such arena");
    ck_assert_int_eq(ofa_arena_open(c, "t", &a), 0);
    ck_assert_int_eq(ofa_free(a, 12345), -EINVAL);
    ck_assert_str_eq(ofa_errmsg(),
                     "arena t: offset 12345: invalid argument, or not the start of a live block");
    ck_assert_int_eq(ofa_alloc(a, 1ull << 41, &off), -EINVAL);
    ck_assert_str_eq(ofa_errmsg(), "arena t: allocating 1 block(s) of 2199023255552 bytes: invalid "
                                   "argument, or not the start of a live block");
    /* A success leaves the message as it was. */
    ck_assert_int_eq(ofa_alloc(a, 64, &off), 0);
    ck_assert_str_eq(ofa_errmsg(), "arena t: allocating 1 block(s) of 2199023255552 bytes: invalid "
                                   "argument, or not the start of a live block");
    {
        ofa_arena_config cfg = {.page_size = 1000};

        ck_assert_int_eq(ofa_arena_create(c, "y", &cfg), -EINVAL);
        ck_assert_str_eq(ofa_errmsg(), "page size 1000: not a multiple of 4096 between 4K and 1T");
        cfg.page_size = 0;
        cfg.align = 3;
        ck_assert_int_eq(ofa_arena_config_check(&cfg), -EINVAL);
        ck_assert_str_eq(ofa_errmsg(), "alignment 3: not a power of two between 8 and 4096");
    }
    ck_assert_int_eq(ofa_arena_open(c, "bad name", &a), -EINVAL);
    ck_assert_str_eq(ofa_errmsg(), "invalid arena name 'bad name': 1 to 63 of A-Z a-z 0-9 . _ -");
    ofa_disconnect(c);

    /* The socket's group is named when its mode keeps another user out. */
    ck_assert_int_eq(chmod(d.dir, 0755), 0);
    ck_assert_int_eq(chmod(d.socket, 0660), 0);
    gr = getgrgid(getgid());
    ck_assert_ptr_nonnull(gr);
    x.socket = d.socket;
    x.group = gr->gr_name;
    ck_assert_int_eq(harness_as_user("nobody", (gid_t)-1, denied_as_nobody, &x), 0);
    stop();

    /* No daemon: the path and what to do. */
    ck_assert_int_eq(ofa_connect(d.socket, &c), -ENOENT);
    snprintf(want, sizeof(want), "no ofad listening at %s: is it running? set OFAD_SOCKET",
             d.socket);
    ck_assert_str_eq(ofa_errmsg(), want);
    /* A directory is not a socket. */
    ck_assert_int_eq(ofa_connect("/", &c), -ENOTSOCK);
    ck_assert_str_eq(ofa_errmsg(), "/ is a directory, not ofad's socket: set OFAD_SOCKET");
    /* Syntax helpers. */
    ck_assert_int_eq(ofa_arena_name_valid("frames.1_a-b"), 1);
    ck_assert_int_eq(ofa_arena_name_valid("a b"), 0);
    ck_assert_int_eq(ofa_arena_name_valid(""), 0);
    ck_assert_int_eq(ofa_arena_name_valid(NULL), 0);
    ck_assert_int_eq(ofa_parse_size("16M", &off), 0);
    ck_assert_uint_eq(off, 16u << 20);
    ck_assert_int_eq(ofa_parse_size("-1", &off), -EINVAL);
    ck_assert_str_eq(ofa_errmsg(), "not a size: '-1' (digits, then K, M, G or T)");
}
END_TEST

static Suite *ofactl_suite(void)
{
    Suite *s = suite_create("ofactl");
    TCase *tc;

    tc = tcase_create("ping");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ping);
    suite_add_tcase(s, tc);

    tc = tcase_create("commands");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_commands);
    tcase_add_test(tc, test_human);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_other_user);
    suite_add_tcase(s, tc);

    tc = tcase_create("exit_codes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_usage);
    tcase_add_test(tc, test_no_daemon);
    suite_add_tcase(s, tc);

    tc = tcase_create("timeout");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_timeout_stopped);
    tcase_add_test(tc, test_timeout_silent_server);
    suite_add_tcase(s, tc);

    tc = tcase_create("listings");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_clients);
    tcase_add_test(tc, test_listing_pages);
    tcase_add_test(tc, test_clients_other_user);
    suite_add_tcase(s, tc);

    tc = tcase_create("live");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_watch_prometheus);
    tcase_add_test(tc, test_top);
    suite_add_tcase(s, tc);

    tc = tcase_create("map");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_map);
    suite_add_tcase(s, tc);

    tc = tcase_create("completion");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_completion);
    suite_add_tcase(s, tc);

    tc = tcase_create("wording");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_wording);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(ofactl_suite());
}

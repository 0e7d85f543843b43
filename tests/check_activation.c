/*
 * check_activation.c - ofad under socket activation, as systemd runs it,
 * without systemd.
 *
 * What systemd-socket-activate or a .socket unit does is done here by the
 * harness: it binds a listening Unix socket in a temporary directory, makes
 * a datagram NOTIFY_SOCKET, and execs ofad with the listener as fd 3,
 * LISTEN_FDS=1 and LISTEN_PID set to the child's own pid after fork. ofad
 * gets no --socket, like the service unit's ExecStart. Checked:
 *   - readiness: READY=1 with a STATUS= line, and the STATUS= line kept
 *     current (a client and its page show up in it);
 *   - the passed socket serves ofactl and libofaclient;
 *   - SIGTERM: STOPPING=1, exit 0, every segment removed, and the socket
 *     file (systemd's, not ofad's) left in place;
 *   - the same listening socket serves a second ofad after the first
 *     stopped, as when systemd restarts the service behind its socket;
 *   - a second ofad started by hand on the activated socket's path refuses
 *     (exit 1) and leaves socket and daemon alone;
 *   - the shipped example configuration (every key uncommented at its
 *     documented default) is accepted and gives the documented values.
 *
 * OFACTL_PATH and OFA_EXAMPLE_CONF come from tests/CMakeLists.txt.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "ofaclient.h"

/* --- helpers --- */

/*
 * Runs argv to completion with stdout and stderr captured in out (NUL
 * terminated, cut at outlen - 1). Returns the exit code, or 128 + signal.
 */
static int run(const char *const *argv, char *out, size_t outlen)
{
    int pfd[2], st;
    size_t len = 0;
    pid_t pid;

    ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pfd[1], STDOUT_FILENO);
        dup2(pfd[1], STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    for (;;) {
        char sink[256];
        char *dst = len + 1 < outlen ? out + len : sink;
        size_t room = len + 1 < outlen ? outlen - 1 - len : sizeof(sink);
        ssize_t n = read(pfd[0], dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != sink)
            len += (size_t)n;
    }
    close(pfd[0]);
    out[len] = '\0';
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

static int ofactl(const char *sock, const char *cmd, const char *arg, char *out, size_t outlen)
{
    const char *argv[] = {OFACTL_PATH, "--socket", sock, cmd, arg, NULL};

    return run(argv, out, outlen);
}

static bool is_socket(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Starts ofad on d the way the service unit does: the listener at fd 3, no
 * --socket; extra arguments in args. Returns the listener (kept by the
 * caller, as systemd keeps it). */
static int start_activated(struct ofad *d, const char *const *args, bool with_config)
{
    struct ofad_opts o;
    int lfd, rc;

    ck_assert_int_eq(ofad_prepare(d), 0);
    lfd = harness_listen(d->socket);
    ck_assert_int_gt(lfd, 0);
    memset(&o, 0, sizeof(o));
    o.args = args;
    o.with_config = with_config;
    o.no_socket_flag = true;
    o.listen_fd = lfd;
    o.reuse = true;
    rc = ofad_start_opts(d, &o);
    ck_assert_msg(rc == 0, "activated ofad did not report READY=1: %s", strerror(-rc));
    return lfd;
}

/* SIGTERM; STOPPING=1 must come before the exit, and the exit code be 0. */
static void stop_activated(struct ofad *d)
{
    ck_assert_int_eq(ofad_signal(d, SIGTERM), 0);
    ck_assert_int_eq(ofad_wait_notify(d, "STOPPING=1"), 0);
    ck_assert_int_eq(ofad_wait_exit(d), 0);
}

/* --- ready: readiness, status, service through the passed socket --- */

START_TEST(test_ready_status_stop)
{
    static const char *const args[] = {"--arena", "act,page_size=64K", NULL};
    char out[8192];
    struct ofad d;
    ofa_client *c;
    ofa_arena *a;
    uint64_t off;
    int lfd;

    lfd = start_activated(&d, args, false);
    /* READY=1 came with the first STATUS= line: one arena, nothing used. */
    ck_assert_msg(strstr(d.status_line, "arenas=1 clients=0 bytes=0") != NULL,
                  "first STATUS= line: '%s'", d.status_line);
    ck_assert(ofad_log_has(&d, "activated=1"));

    ck_assert_int_eq(ofactl(d.socket, "ping", NULL, out, sizeof(out)), 0);
    ck_assert_int_eq(ofactl(d.socket, "stats", "--json", out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "\"daemon\"") != NULL && strstr(out, "\"act\"") != NULL,
                  "stats --json: %s", out);

    /* The STATUS= line follows the daemon: a client holding one block of
     * the 64 KiB-page arena shows up as one client and one page. */
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_open(c, "act", &a), 0);
    ck_assert_int_eq(ofa_alloc(a, 4096, &off), 0);
    ck_assert_int_eq(ofad_wait_notify(&d, "STATUS=arenas=1 clients=1 bytes=65536"), 0);
    ck_assert_int_ge(ofad_pages(&d), 1);
    ofa_disconnect(c);

    stop_activated(&d);
    ck_assert_int_eq(ofad_segments(d.tag), 0);
    /* The socket belongs to systemd: ofad must not remove it. */
    ck_assert_msg(is_socket(d.socket), "ofad removed the activated socket file");
    close(lfd);
    ofad_cleanup(&d);
}
END_TEST

/* --- restart: one listening socket, two daemons in turn --- */

START_TEST(test_restart_same_socket)
{
    char out[4096];
    struct ofad d;
    struct ofad_opts o;
    int lfd;

    lfd = start_activated(&d, NULL, false);
    ck_assert_int_eq(ofactl(d.socket, "ping", NULL, out, sizeof(out)), 0);
    stop_activated(&d);
    ck_assert(is_socket(d.socket));

    /* systemd keeps listening and hands the same socket to the next run. */
    memset(&o, 0, sizeof(o));
    o.no_socket_flag = true;
    o.listen_fd = lfd;
    o.reuse = true;
    ck_assert_int_eq(ofad_start_opts(&d, &o), 0);
    ck_assert_int_eq(ofactl(d.socket, "ping", NULL, out, sizeof(out)), 0);
    ck_assert_int_eq(ofactl(d.socket, "arenas", NULL, out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "default") != NULL, "arenas: %s", out);
    stop_activated(&d);
    ck_assert(is_socket(d.socket));
    close(lfd);
    ofad_cleanup(&d);
}
END_TEST

/* --- second: a hand-started ofad on the activated path refuses --- */

START_TEST(test_second_instance_refused)
{
    char out[4096];
    struct ofad d;
    int lfd, rc;

    lfd = start_activated(&d, NULL, false);
    {
        const char *const args[] = {"--socket", d.socket, NULL};
        rc = ofad_run(args, out, sizeof(out));
    }
    ck_assert_msg(rc == 1, "second ofad exited %d: %s", rc, out);
    ck_assert_msg(strstr(out, "another ofad") != NULL, "second ofad said: %s", out);
    ck_assert(is_socket(d.socket));
    ck_assert_int_eq(ofactl(d.socket, "ping", NULL, out, sizeof(out)), 0);
    stop_activated(&d);
    close(lfd);
    ofad_cleanup(&d);
}
END_TEST

/* --- config: the shipped example configuration --- */

/*
 * The example config with every "#key = value" line of a setting made live,
 * except those that depend on the machine: socket (activation decides),
 * runtime_dir (the harness gives a private one), state_dir (a state kept
 * for the next ofad is another test's matter), owner, group and
 * create_group (the ofad user and group may not exist here).
 */
static char *example_config_uncommented(void)
{
    FILE *f = fopen(OFA_EXAMPLE_CONF, "r");
    char line[1024], key[64];
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(text);
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = line;
        size_t n;
        /* "#key = value": a commented-out setting, not prose. */
        if (sscanf(line, "#%63[a-z_] = %*s", key) == 1 && strchr(line, '=') != NULL &&
            strcmp(key, "socket") != 0 && strcmp(key, "owner") != 0 && strcmp(key, "group") != 0 &&
            strcmp(key, "runtime_dir") != 0 && strcmp(key, "state_dir") != 0 &&
            strcmp(key, "create_group") != 0)
            p = line + 1;
        n = strlen(p);
        ck_assert_uint_lt(len + n + 1, cap);
        memcpy(text + len, p, n);
        len += n;
    }
    text[len] = '\0';
    fclose(f);
    return text;
}

START_TEST(test_example_config)
{
    char *conf = example_config_uncommented();
    struct ofad d;
    ofa_client *c;
    ofa_arena_info info;
    ofa_daemon_info di;
    int lfd;

    /* Every key of [ofad] and of an arena section is in the example, live
     * now at its documented default. */
    static const char *const keys[] = {"log_level",
                                       "max_message",
                                       "max_arenas",
                                       "max_total",
                                       "max_clients",
                                       "max_blocks_per_client",
                                       "max_handles_per_client",
                                       "max_output",
                                       "max_pages",
                                       "handshake_timeout",
                                       "max_clients_per_uid",
                                       "reserved_clients",
                                       "max_output_per_uid",
                                       "max_output_total",
                                       "output_timeout",
                                       "max_blocks_per_arena",
                                       "max_metadata",
                                       "max_blocks_per_uid",
                                       "max_names_per_arena",
                                       "max_names_per_uid",
                                       "max_bytes_per_uid",
                                       "reserved_total",
                                       "max_arenas_per_uid",
                                       "reserved_arenas",
                                       "min_align",
                                       "default_page_size",
                                       "default_max_bytes",
                                       "default_align",
                                       "page_size",
                                       "max",
                                       "align",
                                       "mode"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char pat[80];
        snprintf(pat, sizeof(pat), "\n%s = ", keys[i]);
        ck_assert_msg(strstr(conf, pat) != NULL, "example config lacks a live '%s'", keys[i]);
    }

    ck_assert_int_eq(ofad_prepare(&d), 0);
    ck_assert_int_eq(ofad_write_config(&d, conf), 0);
    free(conf);
    {
        struct ofad_opts o;
        memset(&o, 0, sizeof(o));
        o.with_config = true;
        o.no_socket_flag = true;
        o.listen_fd = lfd = harness_listen(d.socket);
        o.reuse = true;
        ck_assert_int_gt(lfd, 0);
        ck_assert_msg(ofad_start_opts(&d, &o) == 0, "ofad refused the example config");
    }

    /* The documented defaults, read back from the daemon. */
    ck_assert_int_eq(ofa_connect(d.socket, &c), 0);
    ck_assert_int_eq(ofa_arena_info_get(c, "default", &info), 0);
    ck_assert_uint_eq(info.mode, 0660);
    ck_assert_uint_eq(info.uid, getuid());
    ck_assert_uint_eq(info.stats.page_size, 16ull << 20);
    ck_assert_uint_eq(info.stats.max_bytes, 1ull << 30);
    ck_assert_uint_eq(info.stats.align, 64);
    ck_assert_int_eq(ofa_daemon_stats(c, &di), 0);
    ck_assert_uint_eq(di.arenas, 1);
    ck_assert_uint_eq(di.bytes_limit, 4ull << 30); /* the example's max_total */
    ofa_disconnect(c);

    stop_activated(&d);
    close(lfd);
    ofad_cleanup(&d);
}
END_TEST

static Suite *activation_suite(void)
{
    Suite *s = suite_create("activation");
    TCase *tc;

    tc = tcase_create("ready");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ready_status_stop);
    suite_add_tcase(s, tc);

    tc = tcase_create("restart");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_restart_same_socket);
    suite_add_tcase(s, tc);

    tc = tcase_create("second");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_second_instance_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("config");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_example_config);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(activation_suite());
}

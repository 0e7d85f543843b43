/*
 * harness.c - starts and stops real ofad processes for the tests, and speaks
 * the wire protocol to them without libofaclient (so that tests can send
 * anything, including what no library would).
 *
 * Owns: the temporary directories of the daemons it starts and everything
 * in them (a state directory too, and the keeper process that holds its
 * pages: it exits when the directory goes, and is waited for), the daemons'
 * segments in /dev/shm (removed at exit whatever happened), and the raw
 * client connections. Used by check_ofad.c and by
 * the other integration tests.
 *
 * Waiting is always for an event with a deadline (HARNESS_WAIT_MS): READY=1
 * on the notify socket, a pidfd becoming readable at exit, bytes on a
 * socket. Nothing sleeps in the hope that something happened.
 */
#include "harness.h"
#include "runner.h"
#include "shm.h"

#include <check.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef OFAD_PATH
#error "OFAD_PATH must name the ofad binary under test"
#endif

#define MAX_TRACKED 16

static struct ofad *tracked[MAX_TRACKED];

int harness_pages_of(pid_t pid)
{
    char dir[64], path[PATH_MAX], link[PATH_MAX];
    struct dirent *e;
    DIR *fds;
    int n = 0;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    fds = opendir(dir);
    if (fds == NULL)
        return -errno;
    while ((e = readdir(fds)) != NULL) {
        ssize_t len;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        len = readlink(path, link, sizeof(link) - 1);
        if (len <= 0)
            continue;
        link[len] = '\0';
        if (strncmp(link, "/memfd:ofa:", 11) == 0)
            n++;
    }
    closedir(fds);
    return n;
}

int ofad_pages(const struct ofad *d)
{
    int n;

    if (d->pid <= 0)
        return 0;
    n = harness_pages_of(d->pid);
    return n < 0 ? 0 : n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw);
static bool atexit_done;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cleanup_all(void)
{
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (tracked[i] != NULL)
            ofad_cleanup(tracked[i]);
    }
}

static void track(struct ofad *d)
{
    if (!atexit_done) {
        atexit(cleanup_all);
        atexit_done = true;
    }
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (tracked[i] == d)
            return;
    }
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (tracked[i] == NULL) {
            tracked[i] = d;
            return;
        }
    }
}

static void untrack(struct ofad *d)
{
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (tracked[i] == d)
            tracked[i] = NULL;
    }
}

/*
 * A test that fails exits on the spot (Check's fork mode calls _exit), so
 * its atexit cleanup never runs; its daemons notice (PR_SET_PDEATHSIG) and
 * shut down cleanly, but its directory stays, and so do the segments of a
 * daemon it had killed with -9. Directories are named after the test's pid:
 * those of dead tests are swept, with their segments, here.
 */
static void sweep_stale(void)
{
    struct dirent *e;
    DIR *dir = opendir("/tmp");

    if (dir == NULL)
        return;
    while ((e = readdir(dir)) != NULL) {
        char path[PATH_MAX], sock[PATH_MAX + 16], tag[17];
        char *end;
        long pid;
        if (strncmp(e->d_name, "ofa-test.", 9) != 0)
            continue;
        pid = strtol(e->d_name + 9, &end, 10);
        if (*end != '.' || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(path, sizeof(path), "/tmp/%s", e->d_name);
        snprintf(sock, sizeof(sock), "%s/ofad.sock", path);
        shm_tag(sock, tag);
        (void)shm_sweep(tag, NULL, NULL);
        snprintf(sock, sizeof(sock), "%s/state", path);
        (void)harness_state_remove(sock);
        nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
    closedir(dir);
}

int harness_run_suite(Suite *s)
{
    char run[64];
    int rc;

    /* Every ofad of the suite keeps its instance lock in one private
     * directory of ours (what systemd's RuntimeDirectory= gives the
     * service), removed with whatever a killed daemon left in it. */
    snprintf(run, sizeof(run), "/tmp/ofa-run.%d.XXXXXX", (int)getpid());
    if (mkdtemp(run) == NULL)
        return EXIT_FAILURE;
    setenv("RUNTIME_DIRECTORY", run, 1);
    rc = ofa_check_run(s);
    sweep_stale();
    nftw(run, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return rc;
}

int ofad_prepare(struct ofad *d)
{
    sweep_stale();
    memset(d, 0, sizeof(*d));
    d->notify_fd = -1;
    snprintf(d->dir, sizeof(d->dir), "/tmp/ofa-test.%d.XXXXXX", (int)getpid());
    if (mkdtemp(d->dir) == NULL)
        return -errno;
    snprintf(d->socket, sizeof(d->socket), "%s/ofad.sock", d->dir);
    snprintf(d->config, sizeof(d->config), "%s/ofad.conf", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/ofad.log", d->dir);
    snprintf(d->notify, sizeof(d->notify), "%s/notify", d->dir);
    snprintf(d->state, sizeof(d->state), "%s/state", d->dir);
    shm_tag(d->socket, d->tag);
    track(d);
    return 0;
}

int ofad_write_config(struct ofad *d, const char *text)
{
    char tmp[PATH_MAX + 8];
    FILE *f;

    /* Write then rename, so that a reload never reads half a file. */
    snprintf(tmp, sizeof(tmp), "%s.new", d->config);
    f = fopen(tmp, "w");
    if (f == NULL)
        return -errno;
    fputs(text, f);
    if (fclose(f) != 0)
        return -errno;
    return rename(tmp, d->config) < 0 ? -errno : 0;
}

static int notify_open(struct ofad *d)
{
    struct sockaddr_un sa;
    int fd;

    if (d->notify_fd >= 0)
        close(d->notify_fd);
    unlink(d->notify);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(d->notify) >= sizeof(sa.sun_path)) {
        close(fd);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, d->notify, strlen(d->notify) + 1);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    d->notify_fd = fd;
    return 0;
}

/* Reaps d if it has exited. Returns true if it has. */
static bool reap(struct ofad *d, bool block)
{
    pid_t r;

    if (d->pid <= 0)
        return true;
    do {
        r = waitpid(d->pid, &d->status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == d->pid || (r < 0 && errno == ECHILD)) {
        d->pid = 0;
        return true;
    }
    return false;
}

int ofad_wait_notify(struct ofad *d, const char *line)
{
    int64_t deadline = now_ms() + HARNESS_WAIT_MS;
    char buf[4096];

    for (;;) {
        struct pollfd p = {.fd = d->notify_fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        ssize_t n;

        if (left <= 0)
            return -ETIMEDOUT;
        /* Short slices so that a daemon that died is noticed. */
        if (poll(&p, 1, left < 100 ? (int)left : 100) < 0 && errno != EINTR)
            return -errno;
        while ((n = recv(d->notify_fd, buf, sizeof(buf) - 1, 0)) > 0) {
            bool found = false;
            buf[n] = '\0';
            for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l != NULL;
                 l = strtok_r(NULL, "\n", &save)) {
                if (strncmp(l, "STATUS=", 7) == 0)
                    snprintf(d->status_line, sizeof(d->status_line), "%s", l + 7);
                if (strcmp(l, line) == 0)
                    found = true;
            }
            if (found)
                return 0;
        }
        if (reap(d, false))
            return -ECHILD;
    }
}

static void set_cloexec(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFD);

    if (fl >= 0)
        fcntl(fd, F_SETFD, on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC);
}

int ofad_start_opts(struct ofad *d, const struct ofad_opts *o)
{
    const char *argv[64];
    int argc = 0, rc;
    pid_t parent = getpid();

    if (!o->reuse) {
        rc = ofad_prepare(d);
        if (rc < 0)
            return rc;
    } else {
        track(d);
    }
    rc = notify_open(d);
    if (rc < 0)
        return rc;
    argv[argc++] = OFAD_PATH;
    if (!o->no_socket_flag) {
        argv[argc++] = "--socket";
        argv[argc++] = d->socket;
    }
    if (o->with_config) {
        argv[argc++] = "--config";
        argv[argc++] = d->config;
    }
    if (o->state_dir != NULL) {
        argv[argc++] = "--state-dir";
        argv[argc++] = o->state_dir;
    }
    for (int i = 0; o->args != NULL && o->args[i] != NULL && argc < 62; i++)
        argv[argc++] = o->args[i];
    argv[argc] = NULL;

    d->pid = fork();
    if (d->pid < 0)
        return -errno;
    if (d->pid == 0) {
        char pidbuf[32];
        int log;
        /* If the test dies, so does its daemon (and it cleans up after
         * itself on SIGTERM). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        /* Out of the test's process group, which Check kills with SIGKILL
         * when the test ends: SIGTERM lets the daemon clean up. */
        setpgid(0, 0);
        log = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log >= 0) {
            dup2(log, STDERR_FILENO);
            dup2(log, STDOUT_FILENO);
        }
        setenv("NOTIFY_SOCKET", d->notify, 1);
        /* NOTIFY_SOCKET is ours, for READY=1: the keeper keeps the pages. */
        if (o->state_dir != NULL)
            setenv("OFAD_FDSTORE", "keeper", 1);
        if (o->listen_fd > 0) {
            if (o->listen_fd != 3)
                dup2(o->listen_fd, 3);
            set_cloexec(3, false);
            snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
            setenv("LISTEN_FDS", "1", 1);
            setenv("LISTEN_PID", pidbuf, 1);
        } else {
            unsetenv("LISTEN_FDS");
            unsetenv("LISTEN_PID");
        }
        execv(OFAD_PATH, (char *const *)argv);
        _exit(127);
    }
    rc = ofad_wait_notify(d, "READY=1");
    if (rc == -ETIMEDOUT) {
        ofad_kill9(d);
        return rc;
    }
    return rc;
}

int ofad_start(struct ofad *d, const char *const *args)
{
    struct ofad_opts o = {.args = args};

    return ofad_start_opts(d, &o);
}

int ofad_restart(struct ofad *d, const char *const *args)
{
    struct ofad_opts o = {.args = args, .reuse = true, .state_dir = d->state};

    return ofad_start_opts(d, &o);
}

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -EINVAL;
}

static void dump_log(const struct ofad *d)
{
    char buf[4096];
    ssize_t n;
    int fd = open(d->log, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    fprintf(stderr, "---- ofad log %s ----\n", d->log);
    fflush(stderr);
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (write(STDERR_FILENO, buf, (size_t)n) < 0)
            break;
    }
    close(fd);
}

int ofad_wait_exit(struct ofad *d)
{
    int64_t deadline = now_ms() + HARNESS_WAIT_MS;
    int pfd;

    if (d->pid <= 0)
        return exit_code(d->status);
    pfd = (int)syscall(SYS_pidfd_open, d->pid, 0);
    while (!reap(d, false)) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            if (pfd >= 0)
                close(pfd);
            return -ETIMEDOUT;
        }
        if (pfd >= 0) {
            struct pollfd p = {.fd = pfd, .events = POLLIN};
            poll(&p, 1, (int)left);
        } else {
            /* No pidfd (old kernel): fall back to polling the child. */
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (pfd >= 0)
        close(pfd);
    return exit_code(d->status);
}

int ofad_signal(struct ofad *d, int sig)
{
    if (d->pid <= 0)
        return -ESRCH;
    return kill(d->pid, sig) < 0 ? -errno : 0;
}

int ofad_stop(struct ofad *d)
{
    int rc;

    if (d->pid > 0)
        kill(d->pid, SIGTERM);
    rc = ofad_wait_exit(d);
    if (rc == -ETIMEDOUT)
        ofad_kill9(d);
    dump_log(d);
    return rc;
}

void ofad_kill9(struct ofad *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGKILL);
    reap(d, true);
}

int ofad_segments(const char *tag)
{
    char prefix[32];
    struct dirent *e;
    size_t plen;
    DIR *dir;
    int n = 0;

    plen = (size_t)snprintf(prefix, sizeof(prefix), "ofa.%s.", tag);
    dir = opendir("/dev/shm");
    if (dir == NULL)
        return -errno;
    while ((e = readdir(dir)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) == 0)
            n++;
    }
    closedir(dir);
    return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void ofad_cleanup(struct ofad *d)
{
    ofad_kill9(d);
    if (d->notify_fd >= 0) {
        close(d->notify_fd);
        d->notify_fd = -1;
    }
    if (d->tag[0] != '\0')
        (void)shm_sweep(d->tag, NULL, NULL);
    if (d->state[0] != '\0')
        (void)harness_state_remove(d->state);
    if (d->dir[0] != '\0')
        nftw(d->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    untrack(d);
}

pid_t harness_keeper_pid(const char *state_dir)
{
    char path[PATH_MAX], line[32] = "";
    long pid;
    FILE *f;

    snprintf(path, sizeof(path), "%s/keeper.pid", state_dir);
    f = fopen(path, "re");
    if (f == NULL)
        return -1;
    if (fgets(line, sizeof(line), f) == NULL)
        line[0] = '\0';
    fclose(f);
    pid = strtol(line, NULL, 10);
    return pid > 0 && pid < INT_MAX ? (pid_t)pid : -1;
}

/* true when the process of pidfd (pid) is the keeper of state_dir: its
 * command line says so, and it was still running after it was read (so
 * the pid was not reused by another process meanwhile). */
static bool is_keeper_of(int pidfd, pid_t pid, const char *state_dir)
{
    char path[64], cmd[PATH_MAX + 64];
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    size_t n = 0, i;
    bool arg = false, dir = false;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    f = fopen(path, "re");
    if (f == NULL)
        return false;
    n = fread(cmd, 1, sizeof(cmd) - 1, f);
    fclose(f);
    cmd[n] = '\0';
    for (i = 0; i < n; i += strlen(cmd + i) + 1) {
        arg = arg || strcmp(cmd + i, "--fd-keeper") == 0;
        dir = dir || strcmp(cmd + i, state_dir) == 0;
    }
    return arg && dir && poll(&p, 1, 0) == 0;
}

int harness_wait_pid_exit(pid_t pid, int ms)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0), rc;
    struct pollfd p;

    if (pfd < 0)
        return -errno;
    p = (struct pollfd){.fd = pfd, .events = POLLIN};
    do {
        rc = poll(&p, 1, ms);
    } while (rc < 0 && errno == EINTR);
    close(pfd);
    return rc == 1 ? 0 : -ETIMEDOUT;
}

int harness_state_remove(const char *state_dir)
{
    pid_t pid = harness_keeper_pid(state_dir);
    int pfd = -1, rc = 0;

    /* The pidfd before the directory goes: then the pid cannot be another
     * process's by the time it is waited for. */
    if (pid > 0) {
        pfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pfd >= 0 && !is_keeper_of(pfd, pid, state_dir)) {
            close(pfd);
            pfd = -1;
        }
    }
    if (nftw(state_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        rc = -errno;
    if (pfd >= 0) {
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        int n;
        do {
            n = poll(&p, 1, HARNESS_WAIT_MS);
        } while (n < 0 && errno == EINTR);
        if (n != 1) {
            fprintf(stderr, "harness: keeper %d outlived %s: killed\n", (int)pid, state_dir);
            syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
            rc = -ETIMEDOUT;
        }
        close(pfd);
    }
    return rc;
}

/* The daemon's log, NUL-terminated (the caller frees it), or NULL. */
static char *log_read(const struct ofad *d)
{
    char *buf = NULL;
    long n;
    FILE *f = fopen(d->log, "re");

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf != NULL)
            buf[fread(buf, 1, (size_t)n, f)] = '\0';
    }
    fclose(f);
    return buf;
}

int ofad_log_count(const struct ofad *d, const char *needle)
{
    char *buf = log_read(d);
    int n = 0;

    for (const char *p = buf; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(buf);
    return n;
}

int ofad_wait_log(const struct ofad *d, const char *needle, int count)
{
    int64_t deadline = now_ms() + HARNESS_WAIT_MS;
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), rc = -ETIMEDOUT;

    /* Watch first, then look: a line written in between still wakes us.
     * Without inotify, the log is looked at again every few ms. */
    if (in >= 0 && inotify_add_watch(in, d->log, IN_MODIFY) < 0) {
        close(in);
        in = -1;
    }
    for (;;) {
        struct pollfd p = {.fd = in, .events = POLLIN};
        int64_t left = deadline - now_ms();
        char ev[4096];

        if (ofad_log_count(d, needle) >= count) {
            rc = 0;
            break;
        }
        if (left <= 0)
            break;
        if (in >= 0) {
            if (poll(&p, 1, (int)left) > 0)
                while (read(in, ev, sizeof(ev)) > 0)
                    ;
        } else {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (in >= 0)
        close(in);
    return rc;
}

bool ofad_log_has(const struct ofad *d, const char *needle)
{
    return ofad_log_count(d, needle) > 0;
}

int ofad_open_to_all(struct ofad *d)
{
    if (chmod(d->dir, 0755) < 0 || chmod(d->socket, 0666) < 0)
        return -errno;
    return 0;
}

long harness_rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -ENOENT;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    }
    fclose(f);
    return kib;
}

int ofad_run(const char *const *args, char *out, size_t outlen)
{
    const char *argv[64];
    int argc = 0, pipefd[2], status;
    int64_t deadline = now_ms() + HARNESS_WAIT_MS;
    size_t got = 0;
    pid_t pid;

    argv[argc++] = OFAD_PATH;
    for (int i = 0; args != NULL && args[i] != NULL && argc < 63; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -errno;
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        unsetenv("NOTIFY_SOCKET");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_PID");
        execv(OFAD_PATH, (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    for (;;) {
        struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
        int64_t left = deadline - now_ms();
        char buf[1024];
        ssize_t n;

        if (left <= 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            close(pipefd[0]);
            return -ETIMEDOUT;
        }
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        n = read(pipefd[0], buf, sizeof(buf));
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && got + 1 < outlen; i++)
            out[got++] = buf[i];
    }
    if (outlen > 0)
        out[got] = '\0';
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return exit_code(status);
}

int harness_as_user(const char *user, gid_t extra_gid, int (*fn)(void *), void *arg)
{
    struct passwd *pw = getpwnam(user);
    int status;
    pid_t pid;

    if (pw == NULL)
        return -ENOENT;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        gid_t groups[2] = {pw->pw_gid, extra_gid};
        int n = extra_gid == (gid_t)-1 ? 1 : 2;
        if (setgroups((size_t)n, groups) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
            _exit(126);
        /* _exit: the test's atexit handlers belong to the test process. */
        _exit(fn(arg) & 0xff);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return exit_code(status);
}

int harness_listen(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    if (fd < 0)
        return -errno;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        close(fd);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* ---- raw client ---- */

int rawc_connect(struct rawc *c, const char *path)
{
    struct sockaddr_un sa;
    int rc;

    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->max_send = PROTO_DEFAULT_MAX_MSG;
    rc = proto_dec_new(&c->dec);
    if (rc < 0)
        return rc;
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -errno;
    return 0;
}

void rawc_close(struct rawc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    for (int i = 0; i < c->nfds; i++)
        close(c->fds[i]);
    c->nfds = 0;
    free(c->buf);
    c->buf = NULL;
    if (c->dec != NULL)
        proto_dec_free(c->dec);
    c->dec = NULL;
}

int rawc_send_raw(struct rawc *c, const void *p, size_t n)
{
    const uint8_t *b = p;

    while (n > 0) {
        ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int rawc_send(struct rawc *c, const struct proto_req *q)
{
    struct proto_buf b;
    int rc;

    proto_buf_init(&b);
    rc = proto_encode_req(&b, q);
    if (rc == 0)
        rc = rawc_send_raw(c, b.data, b.len);
    proto_buf_free(&b);
    return rc;
}

/* Reads more bytes (and descriptors). 0, -ECONNRESET, -ETIMEDOUT, -errno. */
static int rawc_fill(struct rawc *c, int64_t deadline)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 64)];
        struct cmsghdr align;
    } cm;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    struct msghdr mh;
    struct iovec iov;
    int64_t left;
    ssize_t n;

    if (c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->cap - c->len < 65536) {
        size_t cap = c->cap ? c->cap * 2 : 131072;
        uint8_t *v = realloc(c->buf, cap);
        if (v == NULL)
            return -ENOMEM;
        c->buf = v;
        c->cap = cap;
    }
    left = deadline - now_ms();
    if (left <= 0)
        return -ETIMEDOUT;
    n = poll(&p, 1, (int)left);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (n == 0)
        return -ETIMEDOUT;
    memset(&mh, 0, sizeof(mh));
    iov.iov_base = c->buf + c->len;
    iov.iov_len = c->cap - c->len;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.buf;
    mh.msg_controllen = sizeof(cm.buf);
    n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return 0;
        return errno == ECONNRESET ? -ECONNRESET : -errno;
    }
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h != NULL; h = CMSG_NXTHDR(&mh, h)) {
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
            int k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
                if (c->nfds < (int)(sizeof(c->fds) / sizeof(c->fds[0])))
                    c->fds[c->nfds++] = fd;
                else
                    close(fd);
            }
        }
    }
    if (mh.msg_flags & MSG_CTRUNC)
        return -EPROTO;
    if (n == 0)
        return -ECONNRESET;
    c->len += (size_t)n;
    return 0;
}

int rawc_recv(struct rawc *c, struct proto_rep *r, int *fd)
{
    int64_t deadline = now_ms() + HARNESS_WAIT_MS;

    if (fd != NULL)
        *fd = -1;
    for (;;) {
        size_t flen;
        int rc = c->len > c->off
                     ? proto_frame(c->buf + c->off, c->len - c->off, PROTO_MAX_MAX_MSG, &flen)
                     : 0;
        if (rc < 0)
            return -EPROTO;
        if (rc == 1) {
            const uint8_t *payload = c->buf + c->off + PROTO_HEADER_LEN;
            c->off += flen;
            rc = proto_decode_rep(c->dec, payload, flen - PROTO_HEADER_LEN, r);
            if (rc < 0)
                return -EPROTO;
            if (r->op == PROTO_OP_PAGE && r->err == PROTO_OK) {
                /* Its descriptor came no later than its first byte. */
                if (c->nfds == 0)
                    return -EPROTO;
                if (fd != NULL)
                    *fd = c->fds[0];
                else
                    close(c->fds[0]);
                memmove(c->fds, c->fds + 1, (size_t)(c->nfds - 1) * sizeof(int));
                c->nfds--;
            }
            return 0;
        }
        rc = rawc_fill(c, deadline);
        if (rc < 0)
            return rc;
    }
}

int rawc_call(struct rawc *c, struct proto_req *q, struct proto_rep *r, int *fd)
{
    int rc;

    q->id = ++c->next_id;
    rc = rawc_send(c, q);
    if (rc < 0)
        return rc;
    rc = rawc_recv(c, r, fd);
    if (rc < 0)
        return rc;
    if (r->id != q->id || r->op != q->op)
        return -EPROTO;
    return proto_err_to_errno(r->err);
}

int rawc_wait_eof(struct rawc *c)
{
    int64_t deadline = now_ms() + HARNESS_WAIT_MS;

    for (;;) {
        int rc;
        c->off = c->len = 0; /* discard */
        rc = rawc_fill(c, deadline);
        if (rc == -ECONNRESET)
            return 0;
        if (rc == -ETIMEDOUT)
            return rc;
        if (rc < 0 && rc != -EPROTO)
            return 0; /* any other socket error: the connection is gone */
    }
}

int rawc_hello_v(struct rawc *c, uint32_t version, uint32_t max_msg)
{
    struct proto_req q = {.op = PROTO_OP_HELLO};
    struct proto_rep r;
    int rc;

    q.u.hello.version = version;
    q.u.hello.max_msg = max_msg;
    rc = rawc_call(c, &q, &r, NULL);
    if (rc == 0)
        c->max_send = r.u.hello.max_msg;
    return rc;
}

int rawc_hello(struct rawc *c)
{
    return rawc_hello_v(c, PROTO_VERSION, PROTO_MAX_MAX_MSG);
}

int rawc_ping(struct rawc *c)
{
    struct proto_req q = {.op = PROTO_OP_PING};
    struct proto_rep r;

    return rawc_call(c, &q, &r, NULL);
}

static void set_name(struct proto_str *s, const char *name)
{
    s->ptr = name;
    s->len = (uint32_t)strlen(name);
}

int rawc_open(struct rawc *c, const char *name, uint32_t *handle, int *writable)
{
    struct proto_req q = {.op = PROTO_OP_OPEN};
    struct proto_rep r;
    int rc;

    set_name(&q.u.open.name, name);
    rc = rawc_call(c, &q, &r, NULL);
    if (rc == 0) {
        *handle = r.u.open.arena;
        if (writable != NULL)
            *writable = (int)r.u.open.writable;
    }
    return rc;
}

int rawc_close_handle(struct rawc *c, uint32_t handle)
{
    struct proto_req q = {.op = PROTO_OP_CLOSE};
    struct proto_rep r;

    q.u.close.arena = handle;
    return rawc_call(c, &q, &r, NULL);
}

int rawc_alloc(struct rawc *c, uint32_t handle, uint64_t size, uint32_t flags, uint64_t *off)
{
    struct proto_req q = {.op = PROTO_OP_ALLOC};
    struct proto_rep r;
    int rc;

    q.u.alloc.arena = handle;
    q.u.alloc.size = size;
    q.u.alloc.flags = flags;
    q.u.alloc.count = 1;
    rc = rawc_call(c, &q, &r, NULL);
    if (rc == 0 && off != NULL)
        *off = r.u.alloc.off;
    return rc;
}

int rawc_free(struct rawc *c, uint32_t handle, uint64_t off)
{
    struct proto_req q = {.op = PROTO_OP_FREE};
    struct proto_rep r;

    q.u.free.arena = handle;
    q.u.free.off = off;
    return rawc_call(c, &q, &r, NULL);
}

int rawc_create(struct rawc *c, const char *name, uint64_t page_size, uint64_t max_bytes,
                uint32_t align, uint32_t mode)
{
    struct proto_req q = {.op = PROTO_OP_CREATE};
    struct proto_rep r;

    set_name(&q.u.create.name, name);
    q.u.create.page_size = page_size;
    q.u.create.max_bytes = max_bytes;
    q.u.create.align = align;
    q.u.create.mode = mode;
    return rawc_call(c, &q, &r, NULL);
}

int rawc_drop(struct rawc *c, const char *name, int force)
{
    struct proto_req q = {.op = PROTO_OP_DROP};
    struct proto_rep r;

    set_name(&q.u.drop.name, name);
    q.u.drop.force = (uint32_t)force;
    return rawc_call(c, &q, &r, NULL);
}

int rawc_stats(struct rawc *c, const char *name, struct proto_arena_info *out)
{
    struct proto_req q = {.op = PROTO_OP_STATS};
    struct proto_rep r;
    int rc;

    set_name(&q.u.stats.name, name);
    rc = rawc_call(c, &q, &r, NULL);
    if (rc == 0) {
        *out = r.u.stats;
        out->name.ptr = NULL;
    }
    return rc;
}

int rawc_validate(struct rawc *c, const char *name)
{
    struct proto_req q = {.op = PROTO_OP_VALIDATE};
    struct proto_rep r;

    q.u.validate.name.ptr = name;
    q.u.validate.name.len = (uint32_t)strlen(name);
    return rawc_call(c, &q, &r, NULL);
}

int rawc_session(struct rawc *c, uint64_t *sid, uint64_t *secret)
{
    struct proto_req q = {.op = PROTO_OP_SESSION};
    struct proto_rep r;
    int rc = rawc_call(c, &q, &r, NULL);

    if (rc == 0) {
        *sid = r.u.session.session;
        *secret = r.u.session.secret;
    }
    return rc;
}

int rawc_resume(struct rawc *c, uint64_t sid, uint64_t secret)
{
    struct proto_req q = {.op = PROTO_OP_RESUME};
    struct proto_rep r;

    q.u.resume.session = sid;
    q.u.resume.secret = secret;
    return rawc_call(c, &q, &r, NULL);
}

int rawc_daemon(struct rawc *c, struct proto_daemon_info *out)
{
    struct proto_req q = {.op = PROTO_OP_DAEMON};
    struct proto_rep r;
    int rc;

    rc = rawc_call(c, &q, &r, NULL);
    if (rc == 0) {
        *out = r.u.daemon;
        out->version.ptr = NULL;
    }
    return rc;
}

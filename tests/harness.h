/*
 * harness.h - test helpers: a real ofad on a temporary socket, and a raw
 * protocol client built on proto.
 *
 * ofad_start() forks and execs the ofad built with the tests (OFAD_PATH), in
 * a fresh mkdtemp directory that holds its socket, its log (stderr) and its
 * config file, and waits for READY=1 on a NOTIFY_SOCKET of its own (a bounded
 * wait, no sleeps). Every daemon started is tracked: at exit any one still
 * running is killed, its segments removed from /dev/shm and its directory
 * deleted, so a failed test leaves nothing behind. A daemon also gets
 * SIGTERM if the test process dies first (PR_SET_PDEATHSIG). A state
 * directory (ofad_opts.state_dir, d->state) goes with the directory, and
 * the keeper process that holds its pages is waited for until it exits.
 *
 * Link with ofa_harness (tests/CMakeLists.txt), which brings ofa_proto and
 * the OFAD_PATH definition.
 */
#ifndef OFA_TEST_HARNESS_H
#define OFA_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

#define HARNESS_WAIT_MS 20000 /* longest wait for anything (ASan, busy CI) */

struct ofad {
    pid_t pid;             /* 0 once reaped */
    int status;            /* wait status once reaped */
    int notify_fd;         /* our end of NOTIFY_SOCKET */
    char dir[128];         /* the temporary directory */
    char socket[PATH_MAX]; /* dir/ofad.sock (absolute) */
    char config[PATH_MAX]; /* dir/ofad.conf (written by ofad_write_config) */
    char log[PATH_MAX];    /* dir/ofad.log: ofad's stderr */
    char notify[PATH_MAX]; /* dir/notify */
    char state[PATH_MAX];  /* dir/state: a state directory, when a test asks for one */
    char tag[17];          /* segment tag of socket */
    char status_line[256]; /* the last STATUS= received */
};

struct ofad_opts {
    const char *const *args; /* extra arguments (NULL-terminated), or NULL */
    bool with_config;        /* pass --config d->config (write it first) */
    bool no_socket_flag;     /* do not pass --socket (activation, env tests) */
    int listen_fd;           /* > 0: pass it as fd 3 with LISTEN_FDS=1 */
    bool reuse;              /* d already has a directory (a restart): keep it */
    /* Pass --state-dir state_dir (usually d->state), with the pages kept by
     * ofad's keeper process ($OFAD_FDSTORE=keeper): the harness's notify
     * socket only takes READY=1, it is no fd store. */
    const char *state_dir;
};

/*
 * Runs a Check suite and returns the process exit status (EXIT_SUCCESS when
 * every test passed). Afterwards it removes what failed tests left: a test
 * that fails in fork mode ends with _exit, so its own cleanup never runs
 * (its daemons stop themselves, see above); its directory and the segments
 * of any daemon it killed with -9 are swept here, once the test is gone.
 */
struct Suite;
int harness_run_suite(struct Suite *s);

/* Prepares d (a fresh directory, paths, tag) without starting anything.
 * Returns 0 or -errno. ofad_start() calls it unless opts->reuse. */
int ofad_prepare(struct ofad *d);

/* Writes text to d->config. Returns 0 or -errno. */
int ofad_write_config(struct ofad *d, const char *text);

/*
 * Starts ofad and waits for READY=1. Returns 0; -ECHILD if it exited first
 * (d->status holds its wait status); -ETIMEDOUT (it is killed then); -errno.
 */
int ofad_start(struct ofad *d, const char *const *args);
int ofad_start_opts(struct ofad *d, const struct ofad_opts *o);

/* Waits for a notification holding the line `line` (e.g. "READY=1"); keeps
 * the last STATUS= seen in d->status_line. 0 or -ETIMEDOUT. */
int ofad_wait_notify(struct ofad *d, const char *line);

/* SIGTERM, then waits for the exit. Returns the exit code (0..255), 128 +
 * signal if killed, -ETIMEDOUT. Prints the daemon's log to stderr. */
int ofad_stop(struct ofad *d);

/* kill -9 and reap; segments and socket file stay (for sweep tests). */
void ofad_kill9(struct ofad *d);

/* Sends sig. 0 or -errno. */
int ofad_signal(struct ofad *d, int sig);

/* Waits for the daemon to exit on its own. Exit code as ofad_stop. */
int ofad_wait_exit(struct ofad *d);

/* Removes d's segments, socket file and directory (after a stop/kill),
 * its state directory first (harness_state_remove). */
void ofad_cleanup(struct ofad *d);

/*
 * Starts ofad again on d's socket and directory with its state directory
 * d->state (a restart: after ofad_kill9 or ofad_stop). Returns as
 * ofad_start_opts: -ECHILD when it exited before READY=1 (a state refused).
 */
int ofad_restart(struct ofad *d, const char *const *args);

/* The pid in state_dir/keeper.pid (the keeper process of ofad's fd store),
 * or -1 when there is none. */
pid_t harness_keeper_pid(const char *state_dir);

/*
 * Removes state_dir and everything in it, then waits (a pidfd, bounded)
 * for its keeper to exit, as it does when its directory goes; one that
 * does not is killed. Returns 0 (no keeper, or it exited), -ETIMEDOUT
 * (it had to be killed), -errno.
 */
int harness_state_remove(const char *state_dir);

/* Waits for pid (any process, not only a child) to exit: 0, -ETIMEDOUT,
 * -ESRCH (gone already), -errno. */
int harness_wait_pid_exit(pid_t pid, int ms);

/* Page descriptors ("memfd:ofa:...") process pid holds, or -errno. */
int harness_pages_of(pid_t pid);

/* How many times the daemon's log holds needle. */
int ofad_log_count(const struct ofad *d, const char *needle);

/* Waits until the daemon's log holds needle at least count times (woken by
 * inotify on the log, bounded by HARNESS_WAIT_MS). 0 or -ETIMEDOUT. */
int ofad_wait_log(const struct ofad *d, const char *needle, int count);

/* true when the daemon's log holds needle. */
bool ofad_log_has(const struct ofad *d, const char *needle);

/* Segments in /dev/shm of this tag ("ofa.<tag>.", as older versions named
 * their pages): none may ever be left. */
int ofad_segments(const char *tag);

/* Pages the running ofad d holds: its memfd descriptors ("memfd:ofa:..."
 * in /proc/PID/fd, harness_pages_of); 0 when it is not running. */
int ofad_pages(const struct ofad *d);

/* Opens the directory and socket to every user (for tests of another uid). */
int ofad_open_to_all(struct ofad *d);

/* Resident set size of pid in KiB, or -errno. */
long harness_rss_kib(pid_t pid);

/*
 * Runs ofad with args to completion (it must exit by itself: bad flags,
 * --version...), its stderr (and stdout) captured in out. Returns its exit
 * code, 128 + signal, or -ETIMEDOUT.
 */
int ofad_run(const char *const *args, char *out, size_t outlen);

/*
 * Runs fn(arg) in a child process as user `user` (groups: the user's primary
 * group, plus extra_gid if it is not (gid_t)-1). Returns fn's return value
 * (its exit code, 0..255), 128 + signal, or -errno.
 */
int harness_as_user(const char *user, gid_t extra_gid, int (*fn)(void *), void *arg);

/* A listening Unix stream socket at path (for socket activation). */
int harness_listen(const char *path);

/* ---- a raw protocol client ---- */

struct rawc {
    int fd;
    struct proto_dec *dec;
    uint8_t *buf; /* received, not yet consumed */
    size_t len, cap, off;
    int fds[256]; /* received descriptors not yet handed out */
    int nfds;
    uint64_t next_id;
    uint32_t max_send; /* the daemon's limit, from HELLO */
};

/* Connects (no handshake). 0 or -errno. */
int rawc_connect(struct rawc *c, const char *path);
void rawc_close(struct rawc *c);

/* HELLO with version and max_msg. Returns the reply's error (0 or -errno). */
int rawc_hello_v(struct rawc *c, uint32_t version, uint32_t max_msg);
int rawc_hello(struct rawc *c);

/* Encodes and sends q (blocking). 0 or -errno. */
int rawc_send(struct rawc *c, const struct proto_req *q);
/* Sends bytes as they are. 0 or -errno. */
int rawc_send_raw(struct rawc *c, const void *p, size_t n);

/*
 * Receives one reply (waiting up to HARNESS_WAIT_MS). *r is valid until the
 * next receive. If fd != NULL and the reply is a successful PAGE, *fd gets
 * its descriptor (the caller closes it). Returns 0, -ECONNRESET (the daemon
 * closed), -ETIMEDOUT, -EPROTO (undecodable), -errno.
 */
int rawc_recv(struct rawc *c, struct proto_rep *r, int *fd);

/* Sends q with the next id, receives its reply, checks the id. Returns the
 * reply's error as a negative errno (0 on success), or a transport error. */
int rawc_call(struct rawc *c, struct proto_req *q, struct proto_rep *r, int *fd);

/* Waits until the daemon closes the connection, discarding replies.
 * 0, or -ETIMEDOUT. */
int rawc_wait_eof(struct rawc *c);

/* Shorthands over rawc_call. */
int rawc_ping(struct rawc *c);
int rawc_open(struct rawc *c, const char *name, uint32_t *handle, int *writable);
int rawc_close_handle(struct rawc *c, uint32_t handle);
int rawc_alloc(struct rawc *c, uint32_t handle, uint64_t size, uint32_t flags, uint64_t *off);
int rawc_free(struct rawc *c, uint32_t handle, uint64_t off);
int rawc_create(struct rawc *c, const char *name, uint64_t page_size, uint64_t max_bytes,
                uint32_t align, uint32_t mode);
int rawc_drop(struct rawc *c, const char *name, int force);
/* The arena's record (name pointer cleared: it does not outlive the call). */
int rawc_stats(struct rawc *c, const char *name, struct proto_arena_info *out);
int rawc_daemon(struct rawc *c, struct proto_daemon_info *out);
/* VALIDATE: 0 when the arena's allocator invariants hold, -EIO when not. */
int rawc_validate(struct rawc *c, const char *name);
/* SESSION: this connection's session id and secret. */
int rawc_session(struct rawc *c, uint64_t *sid, uint64_t *secret);
/* RESUME of session sid with its secret: 0, or the daemon's error. */
int rawc_resume(struct rawc *c, uint64_t sid, uint64_t secret);

#endif

/*
 * server.h - the daemon as a whole: its loop, listener, config in force,
 * arenas and sessions. One struct server per process (main.c owns it).
 */
#ifndef OFAD_SERVER_H
#define OFAD_SERVER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "arena.h"
#include "config.h"
#include "fdstore.h"
#include "log.h"
#include "persist.h"
#include "session.h"
#include "shm.h"

struct server {
    uv_loop_t loop;
    struct cfg cfg;                      /* in force (file + flags, finished) */
    const char *config_path;             /* NULL: no file (SIGHUP has nothing to read) */
    const struct cfg_arena *flag_arenas; /* --arena, re-applied over every reload */
    size_t n_flag_arenas;
    bool log_level_fixed; /* --log-level given: the file does not change it */
    bool socket_fixed;    /* --socket or $OFAD_SOCKET given */
    uint64_t mem_size;    /* physical memory (max_total default) */
    uint64_t nofile;      /* RLIMIT_NOFILE in force (max_pages bound) */
    uid_t uid;            /* ofad's own, owner of configured arenas by default */
    gid_t gid;

    char socket_path[PATH_MAX]; /* absolute */
    char tag[SHM_TAG_LEN + 1];
    int listen_fd;
    bool activated;       /* listen_fd came from systemd: never unlink it */
    bool own_socket_file; /* we bound it: unlink at exit */
    dev_t sock_dev;       /* the file we bound, to unlink only that one */
    ino_t sock_ino;
    int lock_fd;    /* flock'ed lock_path, held for life */
    char lock_path[PATH_MAX]; /* <runtime dir>/ofad.<tag>.lock */
    int reserve_fd; /* spare descriptor for EMFILE on accept */
    struct fdstore_handed handed; /* systemd's fd store, handed back at start */

    uv_poll_t listen_poll;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_poll_t tick; /* watches tick_fd, a one-second timerfd */
    uv_check_t turn; /* after each turn of the loop: a state snapshot due */
    int tick_fd;

    struct registry reg;
    struct sessions sessions;
    /* The state kept across restarts: with a state directory (--state-dir
     * or state_dir), persist.c keeps it; discard_state: start afresh. */
    char state_dir[PATH_MAX];
    bool discard_state;
    struct persist persist;
    bool stopping;

    struct log_ratelimit accept_rl;
    char status[128]; /* the last STATUS= sent */

};

/*
 * Takes the single-instance lock, sweeps old segments, gets the listening
 * socket (systemd's, or binds socket_path mode 0660), creates the configured
 * arenas and installs signal handlers and timers. Returns 0; -EADDRINUSE when
 * another ofad serves the socket (exit 1); another -errno with a message in
 * err when the socket path is unusable or anything else fails (exit 2).
 */
int server_start(struct server *srv, char *err, size_t errlen);

/* Runs until SIGTERM/SIGINT, then shuts down: stops accepting, closes every
 * session, removes every page and the socket file. */
void server_run(struct server *srv);

#endif

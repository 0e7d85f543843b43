/*
 * fdstore.h - descriptors that outlive ofad: systemd's file descriptor store,
 * or a keeper process of ofad's own when there is no systemd.
 *
 * Pages are nameless sealed memfds: they live only while some process holds
 * a descriptor. The store is that process while no ofad runs. Thread-safe
 * where said; everything else is for the loop thread (or start-up).
 */
#ifndef OFAD_FDSTORE_H
#define OFAD_FDSTORE_H

#include <stdbool.h>
#include <stddef.h>

#define FDSTORE_NAME_MAX    64   /* a name: 1..64 bytes of [A-Za-z0-9._-] */
#define FDSTORE_PUT_WAIT_MS 2000 /* longest wait of fdstore_put for room */

struct fdstore;
struct fdstore_ent {
    char name[FDSTORE_NAME_MAX + 1];
    int fd;
};

/* Descriptors handed to this process at start (systemd: LISTEN_FDS with
 * LISTEN_FDNAMES) other than the listening socket; server.c's take_activated
 * collects them (fdstore_split_listen). v is malloc'ed. */
struct fdstore_handed {
    struct fdstore_ent *v;
    size_t n;
};

/* A non-blocking datagram socket connected to $NOTIFY_SOCKET (a path, or
 * '@' for an abstract name), close-on-exec: it polls writable when the
 * manager's queue has room. Returns it, -ENOENT (not set, or not a Unix
 * socket address), -EINVAL (too long), -errno of socket or connect. */
int fdstore_notify_socket(void);

/* true when name is 1..FDSTORE_NAME_MAX bytes of [A-Za-z0-9._-]. */
bool fdstore_name_valid(const char *name);

/*
 * Splits the n descriptors systemd passed (SD_LISTEN_FDS_START on, names[i]
 * from sd_listen_fds_with_names; names may be NULL): the listening Unix
 * stream socket goes to *listen_fd (-1 when there is none), every other one,
 * with its name, to out (appended; FD_CLOEXEC set on all). A descriptor whose
 * name is not a valid store name is closed and removed from systemd's store.
 * Returns 0; -EINVAL (two listening sockets: nothing taken, out unchanged);
 * -ENOMEM.
 */
int fdstore_split_listen(int n, char **names, int *listen_fd, struct fdstore_handed *out);

/* For an ofad that keeps no state: closes every handed descriptor, asks
 * systemd (if $NOTIFY_SOCKET is set) to forget each name, logs one line,
 * and empties h (which may be NULL). */
void fdstore_drop_handed(struct fdstore_handed *h);

/*
 * Opens the store for the daemon whose state lives in state_dir (a 0700
 * directory of ofad's user, made by the caller). Backend: systemd's fd store
 * when $NOTIFY_SOCKET names a Unix socket, unless $OFAD_FDSTORE=keeper;
 * else the keeper process of state_dir, started if none answers there
 * ($OFAD_FDSTORE=systemd insists on systemd's). What the store hands back is taken now: systemd's
 * from handed (taken over: handed is emptied), the keeper's by asking it
 * (handed is then dropped, as by fdstore_drop_handed). handed may be NULL
 * (nothing handed). Returns 0; -EINVAL
 * (a bad $OFAD_FDSTORE or $NOTIFY_SOCKET, a malformed answer of the keeper);
 * -ENAMETOOLONG (state_dir too long for a socket path); -EPERM (the keeper's
 * socket answers for another uid); -ETIMEDOUT (the keeper did not answer);
 * -ENOMEM; another -errno of socket, bind, connect, fork. A sentence in err.
 */
int fdstore_open(struct fdstore **out, const char *state_dir, struct fdstore_handed *handed,
                 char *err, size_t errlen);

/* What was handed back at open: the caller takes the array (free it) and the
 * descriptors (it closes what it does not use, and fdstore_remove's the names
 * it does not claim). A second call gets nothing. */
void fdstore_taken(struct fdstore *s, struct fdstore_ent **v, size_t *n);

/*
 * Stores a copy of fd under name (replacing one of that name). Thread-safe:
 * called from the libuv thread pool right after a page is made. When it
 * returns 0 the store holds the fd even if ofad is killed the next instant.
 * Blocks at most FDSTORE_PUT_WAIT_MS. fd stays the caller's. Returns 0;
 * -EINVAL (name); -ETIMEDOUT (no room in that time); -EPIPE (the keeper is
 * gone); another -errno of sendmsg.
 */
int fdstore_put(struct fdstore *s, const char *name, int fd);

/*
 * Forgets name (the store closes its copy). Loop thread; never blocks.
 * Returns 0; -EINVAL (name); -EAGAIN when it cannot be sent now (under
 * systemd it is sent by the next fdstore_put, fdstore_discard or
 * fdstore_close; if ofad dies first, the next start removes what it does not
 * claim); -EPIPE (the keeper is gone); another -errno of send. A name
 * removed is not to be put again by another thread at the same time.
 */
int fdstore_remove(struct fdstore *s, const char *name);

/* Forgets everything stored (--discard-state): every name handed back at
 * open or put since. Returns 0; -EAGAIN, -EPIPE, -ETIMEDOUT or another
 * -errno of send (some may be left: the next start removes them). */
int fdstore_discard(struct fdstore *s);

/* ofad stopping or dying: the store keeps what it holds for the next ofad.
 * Frees s (and what fdstore_taken was not asked for). s may be NULL. */
void fdstore_close(struct fdstore *s);

/* "systemd" or "keeper". */
const char *fdstore_kind(const struct fdstore *s);

/* True when the store is gone: the keeper's connection hung up (it was
 * killed) or a send found it gone. Never under systemd. Loop thread. */
bool fdstore_lost(struct fdstore *s);

/*
 * The keeper process: main() calls it first thing when argv[1] is
 * "--fd-keeper" (fdstore_open starts "/proc/self/exe --fd-keeper STATE_DIR"
 * with its listening socket as descriptor 3). Returns the exit status.
 */
int fdstore_keeper_main(int argc, char **argv);

#endif

/*
 * log.h - ofad's log: one line per event on stderr, journald-style.
 *
 * Every line starts with the "<N>" priority prefix that journald reads when
 * stderr is the journal (3 err, 4 warning, 5 notice, 6 info, 7 debug), then the
 * message, then key=value pairs:  "<4>alloc failed arena=frames size=4096 err=ENOMEM".
 * Lines above the current level cost one integer compare (log_on()), so hot
 * paths may test it before formatting anything.
 */
#ifndef OFAD_LOG_H
#define OFAD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_prio {
    LOGP_ERR = 3,
    LOGP_WARNING = 4,
    LOGP_NOTICE = 5,
    LOGP_INFO = 6,
    LOGP_DEBUG = 7,
};

/* Line formats: "<N>message key=value" (a timestamp after <N> when
 * stderr is a terminal), or one JSON object per line. */
enum { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Chooses the format; call once stderr is what it will stay. */
void log_setup(int format);

/* "text" or "json": LOG_FORMAT_*, or -EINVAL. */
int log_format_parse(const char *s);

/* The most verbose priority printed; LOGP_INFO unless set. */
extern int log_level;

#define log_on(prio) ((prio) <= log_level)

/* Writes one line (a newline is added) with one write(2), so that lines of
 * concurrent writers never interleave. Lines longer than 1 KiB are cut. */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)     log_msg(LOGP_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOGP_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOGP_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOGP_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_on(LOGP_DEBUG))                                                                    \
            log_msg(LOGP_DEBUG, __VA_ARGS__);                                                      \
    } while (0)

/* "err", "warning", "notice", "info", "debug" (or the digit 3..7) to a
 * priority. Returns the priority or -EINVAL. */
int log_level_parse(const char *s);

/* The symbolic name of a negative (or positive) errno: "ENOMEM"
 * (proto_errno_name: the names of ofa's one error list). */
const char *log_errname(int err);

/* Formats into err (errlen bytes; nothing when err is NULL) the message a
 * start-up function leaves for its caller to report: the err/errlen
 * convention of config.c, server.c and fdstore.c. */
void log_errbuf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A rate limit for lines one client can cause: at most LOG_RL_BURST lines per
 * LOG_RL_WINDOW_MS. Zero-initialise it.
 */
#define LOG_RL_BURST     5u
#define LOG_RL_WINDOW_MS 10000u

struct log_ratelimit {
    uint64_t window_start; /* ms, monotonic */
    uint32_t printed;      /* lines printed in this window */
    uint32_t suppressed;   /* lines dropped since the last printed one */
};

/* Returns true when a line may be printed at time now (ms), and then sets
 * *dropped to the lines dropped since the last one allowed (the caller says so
 * in its line). Returns false (and counts the line) otherwise. */
bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t now, uint32_t *dropped);

/*
 * Lines that clients cause are also limited across connections: per uid
 * (LOG_RL_UID_BURST a window) and daemon-wide (LOG_RL_ALL_BURST), so that
 * many connections, of one user or of many, cannot flood the log either.
 */
#define LOG_RL_UID_BURST 20u
#define LOG_RL_ALL_BURST 100u

/*
 * A line checked against n limiters at once, innermost first (a
 * connection's, its uid's, the daemon's), burst[i] lines a window for
 * rl[i]. Returns true when every one has room: the line is counted in each
 * and *dropped is the lines dropped since the last one printed. Otherwise
 * returns false and counts the line as dropped in the outermost limiter,
 * rl[n - 1], which so holds every line dropped since the last printed one
 * (what a summary line reports when no line comes after a flood).
 */
bool log_ratelimit_all(struct log_ratelimit *const *rl, const uint32_t *burst, size_t n,
                       uint64_t now, uint32_t *dropped);

#endif

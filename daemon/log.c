/*
 * log.c - formats and writes ofad's log lines.
 *
 * Owns: the log level and the line format. ofad runs in the foreground with
 * stderr as its log (a terminal, a file, or the journal under systemd), so
 * there is no syslog connection, no timestamp (journald adds its own) and no
 * buffering: a line is formatted on the stack and written with one write(2).
 * Called from every daemon file; never from the allocator core or proto.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto.h"

int log_level = LOGP_INFO;

static const char *const level_names[] = {
    [LOGP_ERR] = "err",   [LOGP_WARNING] = "warning", [LOGP_NOTICE] = "notice",
    [LOGP_INFO] = "info", [LOGP_DEBUG] = "debug",
};

void log_msg(int prio, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;
    int saved = errno; /* callers often log between a failure and its errno use */

    if (!log_on(prio))
        return;
    line[0] = '<';
    line[1] = (char)('0' + (prio & 7));
    line[2] = '>';
    va_start(ap, fmt);
    n = vsnprintf(line + 3, sizeof(line) - 4, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    n += 3;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* A failed log write has nowhere to be reported. */
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(STDERR_FILENO, line + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += w;
    }
    errno = saved;
}

int log_level_parse(const char *s)
{
    if (s == NULL)
        return -EINVAL;
    for (int p = LOGP_ERR; p <= LOGP_DEBUG; p++) {
        if (strcasecmp(s, level_names[p]) == 0)
            return p;
    }
    if (s[0] >= '3' && s[0] <= '7' && s[1] == '\0')
        return s[0] - '0';
    /* Accept the syslog spellings too; operators type them. */
    if (strcasecmp(s, "error") == 0)
        return LOGP_ERR;
    if (strcasecmp(s, "warn") == 0)
        return LOGP_WARNING;
    return -EINVAL;
}

const char *log_errname(int err)
{
    return proto_errno_name(err);
}

bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t now, uint32_t *dropped)
{
    if (now - rl->window_start >= LOG_RL_WINDOW_MS || rl->window_start == 0) {
        rl->window_start = now ? now : 1;
        rl->printed = 0;
    }
    if (rl->printed >= LOG_RL_BURST) {
        rl->suppressed++;
        return false;
    }
    rl->printed++;
    *dropped = rl->suppressed;
    rl->suppressed = 0;
    return true;
}

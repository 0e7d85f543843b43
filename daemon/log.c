/*
 * log.c - formats and writes ofad's log lines.
 *
 * Owns: the log level and the line format. ofad runs in the foreground with
 * stderr as its log (a terminal, a file, or the journal under systemd), so
 * there is no syslog connection and no buffering: a line is formatted on
 * the stack and written with one write(2). Under journald (or into a file
 * or pipe) a line is "<N>message key=value...", which the journal reads;
 * on a terminal it carries a timestamp after the priority, since nothing
 * else adds one there. With LOG_FORMAT_JSON every line is one JSON object
 * for log shippers: ts (RFC 3339, UTC, ms), priority, level, message, and
 * each key=value pair as a string member (a value runs up to the next
 * " key=", so values with blanks survive).
 * Called from every daemon file; never from the allocator core or proto.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

int log_level = LOGP_INFO;

static const char *const level_names[] = {
    [LOGP_ERR] = "err",   [LOGP_WARNING] = "warning", [LOGP_NOTICE] = "notice",
    [LOGP_INFO] = "info", [LOGP_DEBUG] = "debug",
};
static int log_format = LOG_FORMAT_TEXT;
static bool log_stamp; /* text lines get a timestamp (stderr is a terminal) */

void log_setup(int format)
{
    log_format = format;
    log_stamp = format == LOG_FORMAT_TEXT && isatty(STDERR_FILENO);
}

int log_format_parse(const char *s)
{
    if (s != NULL && strcmp(s, "text") == 0)
        return LOG_FORMAT_TEXT;
    if (s != NULL && strcmp(s, "json") == 0)
        return LOG_FORMAT_JSON;
    return -EINVAL;
}

/* "2026-12-03T20:30:01.123Z" (json) or "2026-12-03 20:30:01.123" (local). */
static size_t stamp(char *buf, size_t len, bool utc)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    if ((utc ? gmtime_r(&ts.tv_sec, &tm) : localtime_r(&ts.tv_sec, &tm)) == NULL)
        return 0;
    n = strftime(buf, len, utc ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
    if (n == 0)
        return 0;
    return n + (size_t)snprintf(buf + n, len - n, utc ? ".%03ldZ" : ".%03ld", ts.tv_nsec / 1000000);
}

/* Appends s[0, n) as JSON string content. */
static size_t json_str(char *out, size_t pos, size_t cap, const char *s, size_t n)
{
    for (size_t i = 0; i < n && pos + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            out[pos++] = '\\';
            out[pos++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            pos += (size_t)snprintf(out + pos, cap - pos, "\\u%04x", c);
        } else {
            out[pos++] = (char)c;
        }
    }
    return pos;
}

/* Where the next " key=" starts in text (key: [a-z_]+), or NULL. */
static const char *next_pair(const char *text)
{
    for (const char *p = strchr(text, ' '); p != NULL; p = strchr(p + 1, ' ')) {
        const char *k = p + 1;

        while ((*k >= 'a' && *k <= 'z') || *k == '_')
            k++;
        if (k > p + 1 && *k == '=')
            return p;
    }
    return NULL;
}

/* One JSON object for the formatted message text, into out. */
static size_t json_line(char *out, size_t cap, int prio, const char *text)
{
    const char *end = next_pair(text), *p, *eq, *next;
    size_t pos;

    pos = (size_t)snprintf(out, cap, "{\"ts\":\"");
    pos += stamp(out + pos, cap - pos, true);
    pos += (size_t)snprintf(out + pos, cap - pos, "\",\"priority\":%d,\"level\":\"%s\",\"message\":\"",
                            prio, level_names[prio]);
    pos = json_str(out, pos, cap, text, end != NULL ? (size_t)(end - text) : strlen(text));
    for (p = end; p != NULL && pos + 16 < cap; p = next) {
        eq = strchr(p, '=');
        next = next_pair(eq);
        pos += (size_t)snprintf(out + pos, cap - pos, "\",\"");
        pos = json_str(out, pos, cap, p + 1, (size_t)(eq - p - 1));
        pos += (size_t)snprintf(out + pos, cap - pos, "\":\"");
        pos = json_str(out, pos, cap, eq + 1,
                       next != NULL ? (size_t)(next - eq - 1) : strlen(eq + 1));
    }
    if (pos + 3 > cap)
        pos = cap - 3;
    out[pos++] = '"';
    out[pos++] = '}';
    return pos;
}


void log_msg(int prio, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;
    int saved = errno; /* callers often log between a failure and its errno use */

    size_t head = 3;

    if (!log_on(prio))
        return;
    line[0] = '<';
    line[1] = (char)('0' + (prio & 7));
    line[2] = '>';
    if (log_stamp) {
        head += stamp(line + 3, sizeof(line) - 3, false);
        line[head++] = ' ';
    }
    va_start(ap, fmt);
    n = vsnprintf(line + head, sizeof(line) - head - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    n += (int)head;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    if (log_format == LOG_FORMAT_JSON) {
        char json[2048];

        line[n] = '\0';
        n = (int)json_line(json, sizeof(json) - 1, prio & 7, line + 3);
        memcpy(line, json, (size_t)n < sizeof(line) - 1 ? (size_t)n : sizeof(line) - 2);
        if ((size_t)n > sizeof(line) - 2)
            n = (int)sizeof(line) - 2;
    }
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

/* Starts a new window when the last one is over; true when rl has room
 * for one more line of burst. */
static bool rl_room(struct log_ratelimit *rl, uint64_t now, uint32_t burst)
{
    if (now - rl->window_start >= LOG_RL_WINDOW_MS || rl->window_start == 0) {
        rl->window_start = now ? now : 1;
        rl->printed = 0;
    }
    return rl->printed < burst;
}

bool log_ratelimit_all(struct log_ratelimit *const *rl, const uint32_t *burst, size_t n,
                       uint64_t now, uint32_t *dropped)
{
    uint32_t d = 0;

    for (size_t i = 0; i < n; i++) {
        if (!rl_room(rl[i], now, burst[i])) {
            rl[n - 1]->suppressed++;
            return false;
        }
    }
    for (size_t i = 0; i < n; i++) {
        rl[i]->printed++;
        d += rl[i]->suppressed;
        rl[i]->suppressed = 0;
    }
    *dropped = d;
    return true;
}

bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t now, uint32_t *dropped)
{
    const uint32_t burst = LOG_RL_BURST;

    return log_ratelimit_all(&rl, &burst, 1, now, dropped);
}

void log_errbuf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

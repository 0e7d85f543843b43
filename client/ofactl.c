/*
 * ofactl - the command-line tool of ofa, on libofaclient's public API alone
 * (ofaclient.h; it builds against the installed libofaclient.so).
 *
 *   ofactl [--socket PATH] [--timeout SECONDS] ping [--wait SECONDS]
 *   ofactl [--socket PATH] arenas [--json]
 *   ofactl [--socket PATH] stats [ARENA] [--json | --prometheus |
 *                                       --watch SECONDS [--count N]]
 *   ofactl [--socket PATH] top [--watch SECONDS]
 *   ofactl [--socket PATH] map ARENA --svg FILE
 *   ofactl [--socket PATH] create NAME [--page-size SIZE] [--max SIZE]
 *                                      [--align N] [--mode OCTAL]
 *   ofactl [--socket PATH] drop NAME [--force]
 *   ofactl [--socket PATH] names ARENA [--json]
 *   ofactl [--socket PATH] clients [--json]
 *   ofactl [--socket PATH] blocks ARENA [--json] [--free] [--limit N]
 *                                       [--sort size|owner]
 *
 * Exit status, which scripts rely on: 0 done; 1 the daemon refused (the
 * library's detailed message and the error's name on stderr); 2 a usage
 * error: a bad option or value, found before anything is sent; 3 no daemon
 * answering (no socket, refused, reset, or a reply that is not the
 * protocol's).
 *
 * Arguments: one getopt_long() pass over a table of every option; each
 * command then says which options apply to it (a bit mask) and how many
 * operands it takes. Options may come anywhere after the program name
 * (GNU getopt permutes), "--" ends them. Every value is checked here with
 * the library's own checks (ofa_parse_size, ofa_arena_name_valid,
 * ofa_arena_config_check) before the daemon is asked anything.
 *
 * Output: human tables are aligned, with sizes in binary units (16.0M);
 * --json prints one object on one line, built with jansson, where every
 * number is a JSON integer, exact: values come from uint64_t fields that
 * ofad keeps below 2^63 (jansson's integers are signed 64-bit); a value
 * above that is refused rather than written as an inexact real.
 * In JSON, mode is a string of four octal digits ("0600") because that is how
 * people read and write modes; uid and gid are numbers.
 *
 * Deadlines: every request has the library's deadline, --timeout's when
 * given (which ofactl hands to libofaclient through $OFAD_TIMEOUT_MS, read
 * at connect, so the handshake has it too). ping --wait S bounds each
 * attempt by what is left of S as well, so it returns within S whatever the
 * daemon does (absent, stopped, or accepting and never answering).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <grp.h>
#include <inttypes.h>
#include <stddef.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <limits.h>

#include <curses.h>
#include <jansson.h>

#include "ofaclient.h"

enum {
    EXIT_OK = 0,
    EXIT_REFUSED = 1, /* the daemon said no */
    EXIT_USAGE = 2,
    EXIT_NODAEMON = 3, /* nobody answering */
};

/* Sun path of a Unix socket: 108 bytes with its NUL. */
#define SOCKET_PATH_MAX 107u

static const char usage_text[] =
    "usage: ofactl [--socket PATH] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  ping [--wait SECONDS]        succeed once the daemon answers, waiting up to\n"
    "                               SECONDS for it to come up (default: no wait)\n"
    "  arenas [--json]              list the arenas\n"
    "  stats [ARENA] [--json]       the daemon's figures and every readable arena's\n"
    "                               (or ARENA's only)\n"
    "  stats [ARENA] --prometheus   the same in Prometheus' text format\n"
    "  stats [ARENA] --watch S [--count N]\n"
    "                               a line per arena every S seconds (N times)\n"
    "  top [--watch S]              a live view of arenas and clients, every S\n"
    "                               seconds (default 1); q quits\n"
    "  map ARENA --svg FILE         draw the arena's pages, blocks and free chunks\n"
    "  create NAME [--page-size SIZE] [--max SIZE] [--align N] [--mode OCTAL] [--private]\n"
    "                               create an arena (defaults: the daemon's, mode 0600;\n"
    "                               --private: its blocks are private by default)\n"
    "  drop NAME [--force]          drop an arena; refused while it has live blocks\n"
    "                               unless --force\n"
    "  clients [--json]             the connections: pid, user, command, since when,\n"
    "                               requests, and blocks and bytes per arena open\n"
    "  blocks ARENA [--json] [--free] [--limit N] [--sort size|owner]\n"
    "                               the arena's live blocks (and free chunks) with\n"
    "                               their owner's pid, or kept (OFA_KEEP)\n"
    "  names ARENA [--json]         the arena's named blocks: offset, size, who bound\n"
    "                               them; and the lookups waiting for a name\n"
    "\n"
    "options:\n"
    "  --socket PATH    the daemon's socket (default: $OFAD_SOCKET, else " OFA_DEFAULT_SOCKET ")\n"
    "  --timeout SECONDS  give up on a daemon that does not answer within SECONDS\n"
    "                   (default: $OFAD_TIMEOUT_MS milliseconds, else 5; 0: never)\n"
    "  --json           print one JSON object (sizes in bytes, mode as \"0600\")\n"
    "  --help           print this help\n"
    "  --version        print the version\n"
    "\n"
    "SIZE: bytes, or with a suffix K, M, G, T (powers of 1024): 4096, 64K, 16M, 1G\n"
    "\n"
    "exit status: 0 ok, 1 the daemon refused, 2 usage error (nothing sent),\n"
    "3 no daemon answering\n";

/* Options, as bits of the mask each command accepts. */
enum {
    O_JSON = 1u << 0,
    O_FORCE = 1u << 1,
    O_WAIT = 1u << 2,
    O_PAGE_SIZE = 1u << 3,
    O_MAX = 1u << 4,
    O_ALIGN = 1u << 5,
    O_MODE = 1u << 6,
    O_FREE = 1u << 7,
    O_LIMIT = 1u << 8,
    O_SORT = 1u << 9,
    O_WATCH = 1u << 10,
    O_COUNT = 1u << 11,
    O_PROMETHEUS = 1u << 12,
    O_SVG = 1u << 13,
    O_PRIVATE = 1u << 14,
};

/* getopt_long values: the bit of an option that takes no value is its
 * own; values start above every bit. */
enum { V_SOCKET = 1 << 20, V_HELP, V_VERSION, V_TIMEOUT };

static const struct option long_opts[] = {
    {"socket", required_argument, NULL, V_SOCKET},
    {"timeout", required_argument, NULL, V_TIMEOUT},
    {"help", no_argument, NULL, V_HELP},
    {"version", no_argument, NULL, V_VERSION},
    {"json", no_argument, NULL, O_JSON},
    {"force", no_argument, NULL, O_FORCE},
    {"wait", required_argument, NULL, O_WAIT},
    {"page-size", required_argument, NULL, O_PAGE_SIZE},
    {"max", required_argument, NULL, O_MAX},
    {"align", required_argument, NULL, O_ALIGN},
    {"mode", required_argument, NULL, O_MODE},
    {"free", no_argument, NULL, O_FREE},
    {"limit", required_argument, NULL, O_LIMIT},
    {"sort", required_argument, NULL, O_SORT},
    {"watch", required_argument, NULL, O_WATCH},
    {"count", required_argument, NULL, O_COUNT},
    {"prometheus", no_argument, NULL, O_PROMETHEUS},
    {"svg", required_argument, NULL, O_SVG},
    {"private", no_argument, NULL, O_PRIVATE},
    {NULL, 0, NULL, 0},
};

struct opts {
    const char *socket; /* as given, or NULL */
    long long timeout_ms; /* --timeout in ms, -1 when not given */
    unsigned given;     /* O_* bits seen */
    const char *wait, *page_size, *max, *align, *mode, *limit, *sort, *watch, *count, *svg;
    char **args; /* operands after the command */
    int nargs;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("ofactl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'ofactl --help'.\n", stderr);
    return EXIT_USAGE;
}

/* Errors that mean nobody (or no ofad) is answering, as opposed to a refusal. */
static int is_conn_error(int rc)
{
    return rc == -ECONNRESET || rc == -EPIPE || rc == -EPROTO || rc == -ECONNREFUSED ||
           rc == -ENOTCONN || rc == -ENOTSOCK || rc == -ETIMEDOUT;
}

/* Makes ms the deadline of the calls of the next connection: libofaclient
 * reads it from the environment at connect, handshake included. */
static void set_timeout_env(long long ms)
{
    char v[24];

    snprintf(v, sizeof(v), "%lld", ms);
    setenv(OFA_TIMEOUT_ENV, v, 1);
}

/* The library's detailed message for rc, and the error's name for scripts. */
static int report(int rc)
{
    fprintf(stderr, "ofactl: %s (%s)\n", ofa_errmsg(), ofa_err_name(rc));
    return is_conn_error(rc) ? EXIT_NODAEMON : EXIT_REFUSED;
}

/* The socket path is checked before connecting: a path too long for a Unix
 * socket, or a directory, is a usage error, not a missing daemon. */
static int check_socket(const struct opts *o)
{
    const char *path = ofa_socket_path(o->socket);
    struct stat st;
    size_t n = strlen(path);

    if (n > SOCKET_PATH_MAX)
        return usage_error("socket path too long: %zu bytes, at most %u: %s", n, SOCKET_PATH_MAX,
                           path);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return usage_error("%s is a directory, not ofad's socket", path);
    if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
        return usage_error("%s is not a socket", path);
    return EXIT_OK;
}

static int connect_or_report(const struct opts *o, ofa_client **c)
{
    int rc = ofa_connect(o->socket, c);

    if (rc < 0) {
        fprintf(stderr, "ofactl: %s (%s)\n", ofa_errmsg(), ofa_err_name(rc));
        return EXIT_NODAEMON;
    }
    return EXIT_OK;
}

/* --- formatting --- */

/* Sizes as people read them: 512, 4.0K, 16.0M, 1.5G. */
static void human(char *buf, size_t n, uint64_t v)
{
    static const char units[] = "KMGTPE";
    double d = (double)v;
    int u = -1;

    if (v < 1024) {
        snprintf(buf, n, "%" PRIu64, v);
        return;
    }
    while (d >= 1024 && u < 5) {
        d /= 1024;
        u++;
    }
    snprintf(buf, n, "%.1f%c", d, units[u]);
}

static void duration(char *buf, size_t n, uint64_t s)
{
    if (s >= 86400)
        snprintf(buf, n, "%" PRIu64 "d %02" PRIu64 "h%02" PRIu64 "m", s / 86400, s / 3600 % 24,
                 s / 60 % 60);
    else if (s >= 3600)
        snprintf(buf, n, "%" PRIu64 "h%02" PRIu64 "m%02" PRIu64 "s", s / 3600, s / 60 % 60, s % 60);
    else if (s >= 60)
        snprintf(buf, n, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
    else
        snprintf(buf, n, "%" PRIu64 "s", s);
}

static void user_name(char *buf, size_t n, uint32_t uid)
{
    struct passwd *pw = getpwuid(uid);

    if (pw != NULL)
        snprintf(buf, n, "%s", pw->pw_name);
    else
        snprintf(buf, n, "%" PRIu32, uid);
}

static void group_name(char *buf, size_t n, uint32_t gid)
{
    struct group *gr = getgrgid(gid);

    if (gr != NULL)
        snprintf(buf, n, "%s", gr->gr_name);
    else
        snprintf(buf, n, "%" PRIu32, gid);
}

/* A table of strings printed with aligned columns: the columns in the
 * `left` mask (words: names, users, modes) left aligned, the others (numbers)
 * right aligned. */
#define CELL     72 /* fits an arena name (63) and any number */
#define MAX_COLS 16

struct table {
    size_t ncols, nrows, cap;
    unsigned left; /* bit i: column i is left aligned */
    char (*cells)[CELL];
};

static int table_row(struct table *t, const char *const *row)
{
    char(*p)[CELL];
    size_t i, cap;

    if (t->nrows == t->cap) {
        cap = t->cap ? t->cap * 2 : 16;
        p = realloc(t->cells, cap * t->ncols * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        t->cells = p;
        t->cap = cap;
    }
    for (i = 0; i < t->ncols; i++)
        snprintf(t->cells[t->nrows * t->ncols + i], CELL, "%s", row[i]);
    t->nrows++;
    return 0;
}

static void table_print(const struct table *t)
{
    size_t w[MAX_COLS] = {0}, r, i, len;
    const char *s;

    for (r = 0; r < t->nrows; r++)
        for (i = 0; i < t->ncols; i++) {
            len = strlen(t->cells[r * t->ncols + i]);
            if (len > w[i])
                w[i] = len;
        }
    for (r = 0; r < t->nrows; r++) {
        for (i = 0; i < t->ncols; i++) {
            s = t->cells[r * t->ncols + i];
            if (i > 0)
                fputs("  ", stdout);
            if (t->left & (1u << i))
                printf("%-*s", (int)w[i], s);
            else
                printf("%*s", (int)w[i], s);
        }
        putchar('\n');
    }
}

/* An exact JSON integer, or NULL (which jset turns into a failure) for a
 * value jansson cannot hold exactly. */
static json_t *jnum(uint64_t v)
{
    if (v > (uint64_t)INT64_MAX)
        return NULL;
    return json_integer((json_int_t)v);
}

/* Adds v under key; -1 when v is NULL or the object cannot take it. */
static int jset(json_t *obj, const char *key, json_t *v)
{
    return v == NULL || json_object_set_new(obj, key, v) < 0 ? -1 : 0;
}

static int readable(const ofa_arena_info *a)
{
    /* Records of arenas the caller may not read carry no figures, and every
     * real arena has a page size. */
    return a->stats.page_size != 0;
}

static json_t *arena_json(const ofa_arena_info *a)
{
    const ofa_arena_stats *s = &a->stats;
    json_t *o = json_object();
    char mode[8];
    int rc = 0;

    if (o == NULL)
        return NULL;
    snprintf(mode, sizeof(mode), "%04" PRIo32, a->mode & 07777);
    rc |= jset(o, "name", json_string(a->name));
    rc |= jset(o, "uid", jnum(a->uid));
    rc |= jset(o, "gid", jnum(a->gid));
    rc |= jset(o, "mode", json_string(mode));
    rc |= jset(o, "readable", json_boolean(readable(a)));
    rc |= jset(o, "page_size", jnum(s->page_size));
    rc |= jset(o, "align", jnum(s->align));
    rc |= jset(o, "max_bytes", jnum(s->max_bytes));
    rc |= jset(o, "pages", jnum(s->pages));
    rc |= jset(o, "bytes_reserved", jnum(s->bytes_reserved));
    rc |= jset(o, "bytes_live", jnum(s->bytes_live));
    rc |= jset(o, "blocks_live", jnum(s->blocks_live));
    rc |= jset(o, "free_chunks", jnum(s->free_chunks));
    rc |= jset(o, "largest_free", jnum(s->largest_free));
    rc |= jset(o, "allocs", jnum(s->allocs));
    rc |= jset(o, "frees", jnum(s->frees));
    rc |= jset(o, "alloc_failures", jnum(s->alloc_failures));
    rc |= jset(o, "private", json_boolean(s->private_default));
    rc |= jset(o, "cache_max", jnum(s->cache_max));
    rc |= jset(o, "blocks_cached", jnum(s->blocks_cached));
    rc |= jset(o, "bytes_cached", jnum(s->bytes_cached));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int json_failed(void)
{
    fputs("ofactl: cannot build the JSON output (out of memory, or a value over 2^63 - 1)\n",
          stderr);
    return EXIT_REFUSED;
}

static int json_print(json_t *root)
{
    int rc = json_dumpf(root, stdout, JSON_COMPACT) == 0 && putchar('\n') != EOF;

    json_decref(root);
    return rc ? EXIT_OK : EXIT_REFUSED;
}

static int out_of_memory(void)
{
    fputs("ofactl: out of memory\n", stderr);
    return EXIT_REFUSED;
}

/* --- commands --- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts;

    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Seconds: a decimal number, 0 to a million. */
static int parse_seconds(const char *opt, const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(*out >= 0) || *out > 1e6)
        return usage_error("%s: not a number of seconds: '%s'", opt, s);
    return EXIT_OK;
}

/* What one attempt of ping --wait may take: what is left of the wait, no
 * more (and no more than --timeout). */
static long long attempt_ms(const struct opts *o, double deadline)
{
    long long ms = (long long)((deadline - now_s()) * 1000 + 0.999);

    if (ms < 1)
        ms = 1;
    if (o->timeout_ms > 0 && o->timeout_ms < ms)
        ms = o->timeout_ms;
    return ms;
}

static int cmd_ping(const struct opts *o)
{
    ofa_client *c = NULL;
    double wait = 0, deadline, t0, left, pause = 0.01;
    int rc;

    if (o->wait != NULL && parse_seconds("--wait", o->wait, &wait) != EXIT_OK)
        return EXIT_USAGE;
    deadline = now_s() + wait;
    for (;;) {
        if (o->wait != NULL)
            set_timeout_env(attempt_ms(o, deadline));
        rc = ofa_connect(o->socket, &c);
        /* The daemon may be starting: no socket yet, or not listening yet,
         * or too busy to answer this attempt in time. */
        if (rc == 0 || !(rc == -ENOENT || rc == -ECONNREFUSED || rc == -ECONNRESET ||
                         rc == -EPIPE || rc == -EAGAIN || rc == -ETIMEDOUT))
            break;
        left = deadline - now_s();
        if (left <= 0)
            break;
        if (pause > left)
            pause = left;
        sleep_s(pause);
        if (pause < 0.25)
            pause *= 2;
    }
    if (rc < 0) {
        fprintf(stderr, "ofactl: %s (%s)\n", ofa_errmsg(), ofa_err_name(rc));
        return EXIT_NODAEMON;
    }
    if (o->wait != NULL)
        ofa_set_timeout(c, (unsigned int)attempt_ms(o, deadline));
    t0 = now_s();
    rc = ofa_ping(c);
    if (rc == 0)
        printf("%s answering on %s (%.0f us)\n", ofa_server_version(c), ofa_socket_path(o->socket),
               (now_s() - t0) * 1e6);
    ofa_disconnect(c);
    return rc < 0 ? report(rc) : EXIT_OK;
}

static int cmd_arenas(const struct opts *o)
{
    static const char *const head[] = {"NAME", "OWNER", "GROUP",    "MODE", "PAGE",  "ALIGN",
                                       "MAX",  "PAGES", "RESERVED", "LIVE", "BLOCKS"};
    ofa_client *c;
    ofa_arena_info *v = NULL;
    size_t n = 0, i, k;
    struct table t = {.ncols = 11, .left = 0xf}; /* NAME OWNER GROUP MODE */
    char cell[11][CELL];
    const char *row[11];
    json_t *root, *list, *a;
    int rc;

    rc = connect_or_report(o, &c);
    if (rc != EXIT_OK)
        return rc;
    rc = ofa_arena_list(c, &v, &n);
    ofa_disconnect(c);
    if (rc < 0)
        return report(rc);

    if (o->given & O_JSON) {
        root = json_object();
        list = json_array();
        if (root == NULL || list == NULL || json_object_set_new(root, "arenas", list) < 0)
            goto bad_json;
        for (i = 0; i < n; i++) {
            a = arena_json(&v[i]);
            if (a == NULL || json_array_append_new(list, a) < 0)
                goto bad_json;
        }
        free(v);
        return json_print(root);
    bad_json:
        json_decref(root);
        free(v);
        return json_failed();
    }

    if (table_row(&t, head) < 0)
        goto oom;
    for (i = 0; i < n; i++) {
        const ofa_arena_stats *s = &v[i].stats;

        for (k = 0; k < 11; k++) {
            row[k] = cell[k];
            strcpy(cell[k], "-");
        }
        snprintf(cell[0], CELL, "%s", v[i].name);
        user_name(cell[1], CELL, v[i].uid);
        group_name(cell[2], CELL, v[i].gid);
        snprintf(cell[3], CELL, "%04" PRIo32, v[i].mode & 07777);
        if (readable(&v[i])) {
            human(cell[4], CELL, s->page_size);
            snprintf(cell[5], CELL, "%" PRIu32, s->align);
            human(cell[6], CELL, s->max_bytes);
            snprintf(cell[7], CELL, "%" PRIu64, s->pages);
            human(cell[8], CELL, s->bytes_reserved);
            human(cell[9], CELL, s->bytes_live);
            snprintf(cell[10], CELL, "%" PRIu64, s->blocks_live);
        }
        if (table_row(&t, row) < 0)
            goto oom;
    }
    table_print(&t);
    free(t.cells);
    free(v);
    return EXIT_OK;
oom:
    free(t.cells);
    free(v);
    return out_of_memory();
}

/* The daemon's record and the arenas the caller may read (name: that one
 * only). Returns an exit status; on EXIT_OK *v holds *n records. */
static int fetch_stats(ofa_client *c, const char *name, ofa_daemon_info *d, ofa_arena_info **v,
                       size_t *n)
{
    size_t i, k;
    int rc;

    *v = NULL;
    *n = 0;
    rc = ofa_daemon_stats(c, d);
    if (rc == 0) {
        if (name != NULL) {
            *v = calloc(1, sizeof(**v));
            rc = *v == NULL ? -ENOMEM : ofa_arena_info_get(c, name, *v);
            *n = 1;
        } else {
            rc = ofa_arena_list(c, v, n);
        }
    }
    if (rc < 0) {
        free(*v);
        *v = NULL;
        *n = 0;
        return report(rc);
    }
    /* Without a name: the arenas whose figures the caller may read. */
    for (i = k = 0; i < *n; i++)
        if (readable(&(*v)[i]))
            (*v)[k++] = (*v)[i];
    *n = k;
    return EXIT_OK;
}

static json_t *daemon_json(const ofa_daemon_info *d)
{
    json_t *o = json_object();
    int rc = 0;

    if (o == NULL)
        return NULL;
    rc |= jset(o, "version", json_string(d->version));
    rc |= jset(o, "uptime_s", jnum(d->uptime_s));
    rc |= jset(o, "clients", jnum(d->clients));
    rc |= jset(o, "arenas", jnum(d->arenas));
    rc |= jset(o, "bytes_reserved", jnum(d->bytes_reserved));
    rc |= jset(o, "bytes_limit", jnum(d->bytes_limit));
    rc |= jset(o, "pid", jnum(d->pid));
    rc |= jset(o, "state_age_s", jnum(d->state_age_s));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int stats_json(const ofa_daemon_info *d, const ofa_arena_info *v, size_t n)
{
    json_t *root = json_object(), *list = json_array(), *a;
    size_t i;

    if (root == NULL || list == NULL) {
        json_decref(list);
        goto bad;
    }
    if (json_object_set_new(root, "arenas", list) < 0 || jset(root, "daemon", daemon_json(d)) < 0)
        goto bad;
    for (i = 0; i < n; i++) {
        a = arena_json(&v[i]);
        if (a == NULL || json_array_append_new(list, a) < 0)
            goto bad;
    }
    return json_print(root);
bad:
    json_decref(root);
    return json_failed();
}

static int stats_table(const ofa_daemon_info *d, const ofa_arena_info *v, size_t n)
{
    static const char *const head[] = {"NAME",     "PAGE",  "ALIGN",  "MAX",         "PAGES",
                                       "RESERVED", "LIVE",  "BLOCKS", "FREE_CHUNKS", "LARGEST_FREE",
                                       "ALLOCS",   "FREES", "FAILED", "CACHED"};
    struct table t = {.ncols = 14, .left = 0x1}; /* NAME */
    char cell[14][CELL], up[32], res[16], lim[16], age[48] = "";
    const char *row[14];
    size_t i, k;

    duration(up, sizeof(up), d->uptime_s);
    human(res, sizeof(res), d->bytes_reserved);
    human(lim, sizeof(lim), d->bytes_limit);
    if (d->state_age_s > 0) {
        char a[32];
        duration(a, sizeof(a), d->state_age_s);
        snprintf(age, sizeof(age), "  state %s", a);
    }
    printf("ofad %s  pid %" PRIu64 "  up %s%s  clients %" PRIu64 "  arenas %" PRIu64
           "  reserved %s of %s\n\n",
           d->version, d->pid, up, age, d->clients, d->arenas, res, lim);
    if (table_row(&t, head) < 0)
        goto oom;
    for (i = 0; i < n; i++) {
        const ofa_arena_stats *s = &v[i].stats;

        for (k = 0; k < 14; k++)
            row[k] = cell[k];
        snprintf(cell[0], CELL, "%s", v[i].name);
        human(cell[1], CELL, s->page_size);
        snprintf(cell[2], CELL, "%" PRIu32, s->align);
        human(cell[3], CELL, s->max_bytes);
        snprintf(cell[4], CELL, "%" PRIu64, s->pages);
        human(cell[5], CELL, s->bytes_reserved);
        human(cell[6], CELL, s->bytes_live);
        snprintf(cell[7], CELL, "%" PRIu64, s->blocks_live);
        snprintf(cell[8], CELL, "%" PRIu64, s->free_chunks);
        human(cell[9], CELL, s->largest_free);
        snprintf(cell[10], CELL, "%" PRIu64, s->allocs);
        snprintf(cell[11], CELL, "%" PRIu64, s->frees);
        snprintf(cell[12], CELL, "%" PRIu64, s->alloc_failures);
        human(cell[13], CELL, s->bytes_cached); /* of LIVE, in client caches */
        if (table_row(&t, row) < 0)
            goto oom;
    }
    table_print(&t);
    free(t.cells);
    return EXIT_OK;
oom:
    free(t.cells);
    return out_of_memory();
}

static int stats_prometheus(const ofa_daemon_info *d, const ofa_arena_info *v, size_t n);
static int stats_watch(const struct opts *o, const char *name);

static int cmd_stats(const struct opts *o)
{
    const char *name = o->nargs > 0 ? o->args[0] : NULL;
    ofa_client *c;
    ofa_daemon_info d;
    ofa_arena_info *v;
    size_t n;
    int rc;

    if (__builtin_popcount(o->given & (O_JSON | O_PROMETHEUS | O_WATCH)) > 1)
        return usage_error("--json, --prometheus and --watch go alone");
    if ((o->given & O_COUNT) && !(o->given & O_WATCH))
        return usage_error("--count goes with --watch");
    if (o->given & O_WATCH)
        return stats_watch(o, name);
    rc = connect_or_report(o, &c);
    if (rc != EXIT_OK)
        return rc;
    rc = fetch_stats(c, name, &d, &v, &n);
    ofa_disconnect(c);
    if (rc != EXIT_OK)
        return rc;
    if (o->given & O_JSON)
        rc = stats_json(&d, v, n);
    else if (o->given & O_PROMETHEUS)
        rc = stats_prometheus(&d, v, n);
    else
        rc = stats_table(&d, v, n);
    free(v);
    return rc;
}

/* --- metrics: the Prometheus text format 0.0.4 --- */

/* 1 - largest free chunk / free bytes: 0 when the free space is one piece
 * (or there is none), towards 1 as it is cut into small ones. */
static double fragmentation(const ofa_arena_stats *s)
{
    uint64_t free_bytes = s->bytes_reserved - s->bytes_live;

    if (s->bytes_reserved <= s->bytes_live || free_bytes == 0)
        return 0;
    return 1.0 - (double)s->largest_free / (double)free_bytes;
}

struct metric {
    const char *name, *type, *help;
    size_t off; /* of a uint64_t in ofa_arena_stats */
};

#define M(n, t, h, f) {n, t, h, offsetof(ofa_arena_stats, f)}
static const struct metric arena_metrics[] = {
    M("ofa_arena_page_size_bytes", "gauge", "Standard page length of the arena.", page_size),
    M("ofa_arena_max_bytes", "gauge", "Most bytes the arena may reserve.", max_bytes),
    M("ofa_arena_pages", "gauge", "Pages the arena holds (a spare included).", pages),
    M("ofa_arena_reserved_bytes", "gauge", "Bytes of the pages the arena holds.", bytes_reserved),
    M("ofa_arena_live_bytes", "gauge", "Bytes in live blocks.", bytes_live),
    M("ofa_arena_live_blocks", "gauge", "Live blocks.", blocks_live),
    M("ofa_arena_free_chunks", "gauge", "Free chunks.", free_chunks),
    M("ofa_arena_largest_free_bytes", "gauge", "Size of the largest free chunk.", largest_free),
    M("ofa_arena_allocs_total", "counter", "Successful allocations.", allocs),
    M("ofa_arena_frees_total", "counter", "Successful frees.", frees),
    M("ofa_arena_alloc_failures_total", "counter", "Failed allocations.", alloc_failures),
};
#undef M

static int stats_prometheus(const ofa_daemon_info *d, const ofa_arena_info *v, size_t n)
{
    size_t i, k;

    printf("# HELP ofa_daemon_info The daemon's version.\n# TYPE ofa_daemon_info gauge\n"
           "ofa_daemon_info{version=\"%s\"} 1\n",
           d->version);
    printf("# HELP ofa_daemon_uptime_seconds Seconds since ofad started.\n"
           "# TYPE ofa_daemon_uptime_seconds gauge\nofa_daemon_uptime_seconds %" PRIu64 "\n",
           d->uptime_s);
    printf("# HELP ofa_daemon_clients Connections now.\n# TYPE ofa_daemon_clients gauge\n"
           "ofa_daemon_clients %" PRIu64 "\n",
           d->clients);
    printf("# HELP ofa_daemon_arenas Arenas now.\n# TYPE ofa_daemon_arenas gauge\n"
           "ofa_daemon_arenas %" PRIu64 "\n",
           d->arenas);
    printf("# HELP ofa_daemon_reserved_bytes Shared memory held, all arenas.\n"
           "# TYPE ofa_daemon_reserved_bytes gauge\nofa_daemon_reserved_bytes %" PRIu64 "\n",
           d->bytes_reserved);
    printf("# HELP ofa_daemon_limit_bytes Limit of the shared memory held.\n"
           "# TYPE ofa_daemon_limit_bytes gauge\nofa_daemon_limit_bytes %" PRIu64 "\n",
           d->bytes_limit);
    /* Arena names are [A-Za-z0-9._-]: nothing in them needs escaping. */
    for (k = 0; k < sizeof(arena_metrics) / sizeof(arena_metrics[0]); k++) {
        const struct metric *m = &arena_metrics[k];

        printf("# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, m->type);
        for (i = 0; i < n; i++) {
            uint64_t val;

            memcpy(&val, (const char *)&v[i].stats + m->off, sizeof(val));
            printf("%s{arena=\"%s\"} %" PRIu64 "\n", m->name, v[i].name, val);
        }
    }
    printf("# HELP ofa_arena_align_bytes Minimum block alignment.\n"
           "# TYPE ofa_arena_align_bytes gauge\n");
    for (i = 0; i < n; i++)
        printf("ofa_arena_align_bytes{arena=\"%s\"} %" PRIu32 "\n", v[i].name, v[i].stats.align);
    printf("# HELP ofa_arena_fragmentation_ratio 1 - largest free chunk / free bytes.\n"
           "# TYPE ofa_arena_fragmentation_ratio gauge\n");
    for (i = 0; i < n; i++)
        printf("ofa_arena_fragmentation_ratio{arena=\"%s\"} %.6f\n", v[i].name,
               fragmentation(&v[i].stats));
    return EXIT_OK;
}

/* --- stats --watch: a line per arena and interval --- */

/* An arena's counters at the last look, to make rates of. */
struct seen {
    char name[64];
    uint64_t allocs, frees;
};

static const struct seen *seen_find(const struct seen *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

static int stats_watch(const struct opts *o, const char *name)
{
    double every, t_prev = 0, t, dt;
    uint64_t count = 0, done = 0;
    struct seen *prev = NULL, *cur;
    size_t nprev = 0, n, i;
    ofa_daemon_info d;
    ofa_arena_info *v;
    ofa_client *c;
    char tbuf[16], live[16], res[16];
    time_t now;
    int rc;

    if (parse_seconds("--watch", o->watch, &every) != EXIT_OK)
        return EXIT_USAGE;
    if (every < 0.01)
        return usage_error("--watch: at least 0.01 seconds");
    if (o->count != NULL && (ofa_parse_size(o->count, &count) < 0 || count == 0))
        return usage_error("--count: not a positive count: '%s'", o->count);
    rc = connect_or_report(o, &c);
    if (rc != EXIT_OK)
        return rc;
    printf("%-8s  %-20s  %9s  %9s  %9s  %10s  %10s  %5s\n", "TIME", "ARENA", "LIVE", "RESERVED",
           "BLOCKS", "ALLOCS/S", "FREES/S", "FRAG");
    for (;;) {
        rc = fetch_stats(c, name, &d, &v, &n);
        if (rc != EXIT_OK)
            break;
        t = now_s();
        dt = t - t_prev;
        now = time(NULL);
        strftime(tbuf, sizeof(tbuf), "%H:%M:%S", localtime(&now));
        cur = calloc(n ? n : 1, sizeof(*cur));
        if (cur == NULL) {
            free(v);
            rc = out_of_memory();
            break;
        }
        for (i = 0; i < n; i++) {
            const ofa_arena_stats *s = &v[i].stats;
            const struct seen *p = seen_find(prev, nprev, v[i].name);
            char ar[16] = "-", fr[16] = "-";

            snprintf(cur[i].name, sizeof(cur[i].name), "%s", v[i].name);
            cur[i].allocs = s->allocs;
            cur[i].frees = s->frees;
            if (p != NULL && dt > 0) {
                snprintf(ar, sizeof(ar), "%.0f", (double)(s->allocs - p->allocs) / dt);
                snprintf(fr, sizeof(fr), "%.0f", (double)(s->frees - p->frees) / dt);
            }
            human(live, sizeof(live), s->bytes_live);
            human(res, sizeof(res), s->bytes_reserved);
            printf("%-8s  %-20s  %9s  %9s  %9" PRIu64 "  %10s  %10s  %5.2f\n", tbuf, v[i].name, live,
                   res, s->blocks_live, ar, fr, fragmentation(s));
        }
        free(v);
        free(prev);
        prev = cur;
        nprev = n;
        t_prev = t;
        if (fflush(stdout) != 0) {
            rc = EXIT_REFUSED;
            break;
        }
        if (count != 0 && ++done >= count)
            break;
        sleep_s(every);
    }
    free(prev);
    ofa_disconnect(c);
    return rc;
}

/* A size option: ofa_parse_size's syntax. */
static int parse_size_opt(const char *opt, const char *s, uint64_t *out)
{
    if (ofa_parse_size(s, out) < 0)
        return usage_error("%s: not a size: '%s' (bytes, or a number with K, M, G or T)", opt, s);
    return EXIT_OK;
}

/* The arena configuration of create's options, checked as ofad will. */
static int create_config(const struct opts *o, ofa_arena_config *cfg)
{
    uint64_t v;
    unsigned long mode;
    char *end;

    memset(cfg, 0, sizeof(*cfg));
    if (o->page_size != NULL) {
        if (parse_size_opt("--page-size", o->page_size, &cfg->page_size) != EXIT_OK)
            return EXIT_USAGE;
        if (cfg->page_size == 0 || ofa_arena_config_check(cfg) < 0)
            return usage_error("--page-size: %s is not a multiple of 4096 from 4K to 1T",
                               o->page_size);
    }
    if (o->max != NULL) {
        if (parse_size_opt("--max", o->max, &cfg->max_bytes) != EXIT_OK)
            return EXIT_USAGE;
        /* 0 asks the daemon for its default: say so rather than surprise. */
        if (cfg->max_bytes == 0)
            return usage_error("--max: 0 would admit no block (leave --max out for the "
                               "daemon's default)");
        if (ofa_arena_config_check(cfg) < 0)
            return usage_error("--max: %s is over 2^63 - 1 bytes", o->max);
    }
    if (o->align != NULL) {
        if (parse_size_opt("--align", o->align, &v) != EXIT_OK)
            return EXIT_USAGE;
        cfg->align = v <= OFA_ALIGN_MAX ? (uint32_t)v : 0;
        if (cfg->align == 0 || ofa_arena_config_check(cfg) < 0)
            return usage_error("--align: %s is not a power of two from %u to %u", o->align,
                               OFA_ALIGN_MIN, OFA_ALIGN_MAX);
    }
    if (o->mode != NULL) {
        errno = 0;
        mode = strtoul(o->mode, &end, 8);
        if (errno != 0 || end == o->mode || *end != '\0' || o->mode[0] < '0' ||
            o->mode[0] > '7' || mode > 0777)
            return usage_error("--mode: not an octal mode up to 0777: '%s'", o->mode);
        /* 0 asks for the default; an explicit 0 is a mode nobody can use. */
        if (mode == 0)
            return usage_error("--mode: 0 would admit nobody, not even the owner");
        cfg->mode = (uint32_t)mode;
    }
    cfg->private_default = (o->given & O_PRIVATE) != 0;
    return EXIT_OK;
}

static int cmd_create(const struct opts *o)
{
    const char *name = o->args[0];
    ofa_arena_config cfg;
    ofa_client *c;
    int rc;

    /* Such a name could only ever be used after "--". */
    if (name[0] == '-')
        return usage_error("invalid arena name '%s': it may not start with '-'", name);
    rc = create_config(o, &cfg);
    if (rc != EXIT_OK)
        return rc;
    rc = connect_or_report(o, &c);
    if (rc != EXIT_OK)
        return rc;
    rc = ofa_arena_create(c, name, &cfg);
    ofa_disconnect(c);
    if (rc < 0)
        return report(rc);
    printf("created arena %s\n", name);
    return EXIT_OK;
}

static int cmd_drop(const struct opts *o)
{
    const char *name = o->args[0];
    ofa_client *c;
    int rc;

    rc = connect_or_report(o, &c);
    if (rc != EXIT_OK)
        return rc;
    rc = ofa_arena_drop(c, name, (o->given & O_FORCE) != 0);
    ofa_disconnect(c);
    if (rc < 0)
        return report(rc);
    printf("dropped arena %s\n", name);
    return EXIT_OK;
}

static void since(char *buf, size_t n, uint64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (localtime_r(&tt, &tm) == NULL || strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, n, "%" PRIu64, t);
}

static json_t *clients_json(const ofa_client_info *v, size_t n)
{
    json_t *root = json_object(), *list = json_array(), *o, *arenas, *a;
    int rc = 0;

    if (root == NULL || list == NULL || json_object_set_new(root, "clients", list) < 0) {
        json_decref(list);
        json_decref(root);
        return NULL;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        o = json_object();
        arenas = json_array();
        if (o == NULL || arenas == NULL || json_array_append_new(list, o) < 0 ||
            json_object_set_new(o, "arenas", arenas) < 0) {
            rc = -1;
            break;
        }
        rc |= jset(o, "id", jnum(v[i].id));
        rc |= jset(o, "pid", jnum(v[i].pid));
        rc |= jset(o, "uid", jnum(v[i].uid));
        rc |= jset(o, "gid", jnum(v[i].gid));
        rc |= jset(o, "comm", json_string(v[i].comm));
        rc |= jset(o, "since_s", jnum(v[i].since_s));
        rc |= jset(o, "requests", jnum(v[i].requests));
        for (size_t k = 0; k < v[i].narenas && rc == 0; k++) {
            a = json_object();
            if (a == NULL || json_array_append_new(arenas, a) < 0) {
                rc = -1;
                break;
            }
            rc |= jset(a, "name", json_string(v[i].arenas[k].name));
            rc |= jset(a, "blocks", jnum(v[i].arenas[k].blocks));
            rc |= jset(a, "bytes", jnum(v[i].arenas[k].bytes));
        }
    }
    if (rc != 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static int cmd_clients(const struct opts *o)
{
    static const char *const head[] = {"ID",       "PID",   "USER",   "COMMAND", "SINCE",
                                       "REQUESTS", "ARENA", "BLOCKS", "BYTES"};
    struct table t = {.ncols = 9, .left = 0x4c}; /* USER COMMAND ARENA */
    char cell[9][CELL];
    const char *row[9];
    ofa_client_info *v;
    ofa_client *c;
    json_t *root;
    size_t n, i, k;
    int rc;

    rc = connect_or_report(o, &c);
    if (rc != EXIT_OK)
        return rc;
    rc = ofa_client_list(c, &v, &n);
    ofa_disconnect(c);
    if (rc < 0)
        return report(rc);
    if (o->given & O_JSON) {
        root = clients_json(v, n);
        free(v);
        return root != NULL ? json_print(root) : json_failed();
    }
    if (table_row(&t, head) < 0)
        goto oom;
    for (i = 0; i < n; i++) {
        for (k = 0; k == 0 || k < v[i].narenas; k++) {
            for (size_t j = 0; j < 9; j++) {
                row[j] = cell[j];
                strcpy(cell[j], "-");
            }
            snprintf(cell[0], CELL, "%" PRIu64, v[i].id);
            snprintf(cell[1], CELL, "%" PRIu32, v[i].pid);
            user_name(cell[2], CELL, v[i].uid);
            snprintf(cell[3], CELL, "%s", v[i].comm[0] ? v[i].comm : "?");
            since(cell[4], CELL, v[i].since_s);
            snprintf(cell[5], CELL, "%" PRIu64, v[i].requests);
            if (k < v[i].narenas) {
                snprintf(cell[6], CELL, "%s", v[i].arenas[k].name);
                snprintf(cell[7], CELL, "%" PRIu64, v[i].arenas[k].blocks);
                human(cell[8], CELL, v[i].arenas[k].bytes);
            }
            if (table_row(&t, row) < 0)
                goto oom;
        }
    }
    table_print(&t);
    free(t.cells);
    free(v);
    return EXIT_OK;
oom:
    free(t.cells);
    free(v);
    return out_of_memory();
}

/* Every entry of arena's listing (pages included), page after page. */
static int fetch_blocks(ofa_client *c, const char *arena, unsigned flags, ofa_block_info **out,
                        size_t *count)
{
    ofa_block_info *all = NULL, *part, *p;
    size_t n = 0, k;
    uint64_t cursor = 0;
    int rc;

    do {
        rc = ofa_block_list(c, arena, flags, &cursor, &part, &k);
        if (rc < 0) {
            free(all);
            return rc;
        }
        p = realloc(all, (n + k + 1) * sizeof(*all));
        if (p == NULL) {
            free(part);
            free(all);
            return -ENOMEM;
        }
        all = p;
        memcpy(all + n, part, k * sizeof(*part));
        n += k;
        free(part);
    } while (cursor != 0);
    *out = all;
    *count = n;
    return 0;
}

static int cmp_size_desc(const void *x, const void *y)
{
    const ofa_block_info *a = x, *b = y;

    if (a->size != b->size)
        return a->size > b->size ? -1 : 1;
    return a->off < b->off ? -1 : a->off > b->off;
}

/* Owner order: connections by pid, then kept blocks, then free chunks. */
static int cmp_owner(const void *x, const void *y)
{
    const ofa_block_info *a = x, *b = y;

    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    if (a->client != b->client)
        return a->client < b->client ? -1 : 1;
    return a->off < b->off ? -1 : a->off > b->off;
}

static const char *kind_name(uint32_t kind)
{
    switch (kind) {
    case OFA_BLOCK_LIVE:
        return "live";
    case OFA_BLOCK_KEPT:
        return "kept";
    case OFA_BLOCK_FREE:
        return "free";
    default:
        return "page";
    }
}

static int blocks_json(const char *arena, const ofa_block_info *v, size_t n, size_t total)
{
    json_t *root = json_object(), *list = json_array(), *b;
    int rc = 0;

    if (root == NULL || list == NULL || json_object_set_new(root, "blocks", list) < 0) {
        json_decref(list);
        goto bad;
    }
    rc |= jset(root, "arena", json_string(arena));
    rc |= jset(root, "total", jnum(total));
    for (size_t i = 0; i < n && rc == 0; i++) {
        b = json_object();
        if (b == NULL || json_array_append_new(list, b) < 0)
            goto bad;
        rc |= jset(b, "off", jnum(v[i].off));
        rc |= jset(b, "size", jnum(v[i].size));
        rc |= jset(b, "kind", json_string(kind_name(v[i].kind)));
        rc |= jset(b, "keep", json_boolean(v[i].kind == OFA_BLOCK_KEPT));
        if (v[i].kind == OFA_BLOCK_LIVE) {
            rc |= jset(b, "pid", jnum(v[i].pid));
            rc |= jset(b, "client", jnum(v[i].client));
        }
    }
    if (rc != 0)
        goto bad;
    return json_print(root);
bad:
    json_decref(root);
    return json_failed();
}

static int cmd_blocks(const struct opts *o)
{
    static const char *const head[] = {"OFFSET", "SIZE", "OWNER", "CLIENT", "FLAGS"};
    struct table t = {.ncols = 5, .left = 0x10}; /* FLAGS */
    const char *arena = o->args[0];
    char cell[5][CELL];
    const char *row[5];
    ofa_block_info *v;
    size_t n, i, k, limit = SIZE_MAX, total;
    ofa_client *c;
    uint64_t lim;
    int rc, by_size = 0, by_owner = 0;

    if (o->limit != NULL) {
        if (ofa_parse_size(o->limit, &lim) < 0 || lim == 0)
            return usage_error("--limit: not a positive count: '%s'", o->limit);
        limit = lim > SIZE_MAX ? SIZE_MAX : (size_t)lim;
    }
    if (o->sort != NULL) {
        by_size = strcmp(o->sort, "size") == 0;
        by_owner = strcmp(o->sort, "owner") == 0;
        if (!by_size && !by_owner)
            return usage_error("--sort: 'size' or 'owner', not '%s'", o->sort);
    }
    rc = connect_or_report(o, &c);
    if (rc != EXIT_OK)
        return rc;
    rc = fetch_blocks(c, arena, (o->given & O_FREE) ? OFA_BLOCKS_FREE : 0, &v, &n);
    ofa_disconnect(c);
    if (rc < 0)
        return report(rc);
    /* Pages are for the map; a listing shows what is in them. */
    for (i = k = 0; i < n; i++)
        if (v[i].kind != OFA_BLOCK_PAGE)
            v[k++] = v[i];
    n = total = k;
    if (by_size)
        qsort(v, n, sizeof(*v), cmp_size_desc);
    else if (by_owner)
        qsort(v, n, sizeof(*v), cmp_owner);
    if (n > limit)
        n = limit;
    if (o->given & O_JSON) {
        rc = blocks_json(arena, v, n, total);
        free(v);
        return rc;
    }
    if (table_row(&t, head) < 0)
        goto oom;
    for (i = 0; i < n; i++) {
        for (k = 0; k < 5; k++) {
            row[k] = cell[k];
            strcpy(cell[k], "-");
        }
        snprintf(cell[0], CELL, "%" PRIu64, v[i].off);
        snprintf(cell[1], CELL, "%" PRIu64, v[i].size);
        if (v[i].kind == OFA_BLOCK_LIVE) {
            snprintf(cell[2], CELL, "%" PRIu32, v[i].pid);
            snprintf(cell[3], CELL, "%" PRIu64, v[i].client);
            cell[4][0] = '\0';
        } else if (v[i].kind == OFA_BLOCK_KEPT) {
            strcpy(cell[2], "kept");
            strcpy(cell[4], "KEEP");
        } else {
            strcpy(cell[4], "FREE");
        }
        if (table_row(&t, row) < 0)
            goto oom;
    }
    table_print(&t);
    if (n < total)
        printf("(%zu of %zu shown)\n", n, total);
    free(t.cells);
    free(v);
    return EXIT_OK;
oom:
    free(t.cells);
    free(v);
    return out_of_memory();
}

/* --- top: a live view, drawn with ncurses --- */

/* One client's share of one arena, for the "top clients" lines. */
struct holder {
    uint32_t pid, uid;
    char comm[32], arena[64];
    uint64_t blocks, bytes;
};

static int cmp_holder(const void *x, const void *y)
{
    const struct holder *a = x, *b = y;

    return a->bytes != b->bytes ? (a->bytes > b->bytes ? -1 : 1) : 0;
}

/* Draws one frame; rates from the counters of the previous one. */
static void top_frame(const ofa_daemon_info *d, const ofa_arena_info *v, size_t n,
                      const struct seen *prev, size_t nprev, double dt,
                      const ofa_client_info *cl, size_t ncl)
{
    char up[32], res[16], lim[16], live[16], rsv[16], ar[16], fr[16], b[16];
    struct holder *h;
    size_t nh = 0, i, k;
    int row = 0, rows = LINES;

    erase();
    duration(up, sizeof(up), d->uptime_s);
    human(res, sizeof(res), d->bytes_reserved);
    human(lim, sizeof(lim), d->bytes_limit);
    mvprintw(row++, 0, "ofad %s  pid %" PRIu64 "  up %s  clients %" PRIu64 "  reserved %s of %s",
             d->version, d->pid, up, d->clients, res, lim);
    mvprintw(row++, 0, "q quits");
    row++;
    attron(A_REVERSE);
    mvprintw(row++, 0, "%-20s %9s %9s %5s %9s %9s %9s", "ARENA", "LIVE", "RESERVED", "FRAG",
             "ALLOCS/S", "FREES/S", "BLOCKS");
    attroff(A_REVERSE);
    /* Arenas take at most half the screen; clients get the rest. */
    for (i = 0; i < n && row < rows / 2 + 2; i++) {
        const ofa_arena_stats *s = &v[i].stats;
        const struct seen *p = seen_find(prev, nprev, v[i].name);

        if (!readable(&v[i]))
            continue;
        strcpy(ar, "-");
        strcpy(fr, "-");
        if (p != NULL && dt > 0) {
            snprintf(ar, sizeof(ar), "%.0f", (double)(s->allocs - p->allocs) / dt);
            snprintf(fr, sizeof(fr), "%.0f", (double)(s->frees - p->frees) / dt);
        }
        human(live, sizeof(live), s->bytes_live);
        human(rsv, sizeof(rsv), s->bytes_reserved);
        mvprintw(row++, 0, "%-20.20s %9s %9s %5.2f %9s %9s %9" PRIu64, v[i].name, live, rsv,
                 fragmentation(s), ar, fr, s->blocks_live);
    }
    row++;
    for (i = 0; i < ncl; i++)
        nh += cl[i].narenas;
    h = calloc(nh ? nh : 1, sizeof(*h));
    if (h != NULL) {
        nh = 0;
        for (i = 0; i < ncl; i++)
            for (k = 0; k < cl[i].narenas; k++, nh++) {
                h[nh].pid = cl[i].pid;
                h[nh].uid = cl[i].uid;
                snprintf(h[nh].comm, sizeof(h[nh].comm), "%s", cl[i].comm);
                snprintf(h[nh].arena, sizeof(h[nh].arena), "%s", cl[i].arenas[k].name);
                h[nh].blocks = cl[i].arenas[k].blocks;
                h[nh].bytes = cl[i].arenas[k].bytes;
            }
        qsort(h, nh, sizeof(*h), cmp_holder);
        if (row < rows) {
            attron(A_REVERSE);
            mvprintw(row++, 0, "%-8s %-10s %-16s %-20s %9s %9s", "PID", "USER", "COMMAND",
                     "ARENA", "BLOCKS", "BYTES");
            attroff(A_REVERSE);
        }
        for (i = 0; i < nh && row < rows; i++) {
            char user[32];

            user_name(user, sizeof(user), h[i].uid);
            human(b, sizeof(b), h[i].bytes);
            mvprintw(row++, 0, "%-8" PRIu32 " %-10.10s %-16.16s %-20.20s %9" PRIu64 " %9s",
                     h[i].pid, user, h[i].comm, h[i].arena, h[i].blocks, b);
        }
        free(h);
    }
    refresh();
}

static int cmd_top(const struct opts *o)
{
    double every = 1, t_prev = 0, t;
    struct seen *prev = NULL, *cur;
    size_t nprev = 0, n, ncl, i;
    ofa_client_info *cl;
    ofa_daemon_info d;
    ofa_arena_info *v;
    ofa_client *c;
    int rc = EXIT_OK, key, err = 0;

    if (o->watch != NULL && parse_seconds("--watch", o->watch, &every) != EXIT_OK)
        return EXIT_USAGE;
    if (every < 0.1)
        return usage_error("--watch: at least 0.1 seconds");
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return usage_error("top needs a terminal (stats --watch writes lines for a pipe)");
    rc = connect_or_report(o, &c);
    if (rc != EXIT_OK)
        return rc;
    if (initscr() == NULL) {
        ofa_disconnect(c);
        fputs("ofactl: cannot set up the terminal\n", stderr);
        return EXIT_USAGE;
    }
    cbreak();
    noecho();
    curs_set(0);
    keypad(stdscr, TRUE);
    timeout((int)(every * 1000));
    for (;;) {
        err = ofa_daemon_stats(c, &d);
        v = NULL;
        cl = NULL;
        n = ncl = 0;
        if (err == 0)
            err = ofa_arena_list(c, &v, &n);
        if (err == 0)
            err = ofa_client_list(c, &cl, &ncl);
        if (err < 0) {
            free(v);
            break;
        }
        t = now_s();
        top_frame(&d, v, n, prev, nprev, t - t_prev, cl, ncl);
        cur = calloc(n ? n : 1, sizeof(*cur));
        for (i = 0; cur != NULL && i < n; i++) {
            snprintf(cur[i].name, sizeof(cur[i].name), "%s", v[i].name);
            cur[i].allocs = v[i].stats.allocs;
            cur[i].frees = v[i].stats.frees;
        }
        free(prev);
        prev = cur;
        nprev = cur != NULL ? n : 0;
        t_prev = t;
        free(v);
        free(cl);
        /* Waits up to the interval for a key; any other key redraws. */
        key = getch();
        if (key == 'q' || key == 'Q')
            break;
    }
    endwin();
    free(prev);
    ofa_disconnect(c);
    return err < 0 ? report(err) : EXIT_OK;
}

/* --- map: the arena as a picture (SVG) --- */

#define MAP_W     900.0 /* width of a page's bar, in px */
#define MAP_LEFT  150.0 /* room for the page's label */
#define MAP_BAR   16.0
#define MAP_GAP   6.0
#define MAP_TOP   70.0
#define MAP_PAL   10

static const char *const map_palette[MAP_PAL] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79",
};
#define MAP_KEPT "#d62728"
#define MAP_FREE "#e6e6e6"

/*
 * A run of neighbouring chunks drawn as one rectangle: chunks of one colour
 * always, and chunks too thin to see (under a pixel) whatever their colour,
 * painted in the colour that holds most of the run's bytes. So a page
 * costs at most about two rectangles per pixel of its bar, whatever its
 * block count: 100,000 blocks still make a small file that renders at once.
 */
struct run {
    double x0, x1;        /* in px */
    uint64_t bytes[MAP_PAL + 2]; /* per colour: palette, kept, free */
    bool open;
};

static int colour_index(const ofa_block_info *b)
{
    return b->kind == OFA_BLOCK_FREE ? MAP_PAL + 1
         : b->kind == OFA_BLOCK_KEPT ? MAP_PAL
                                     : (int)(b->client % MAP_PAL);
}

static void run_flush(FILE *f, struct run *r, double y)
{
    int best = 0;

    if (!r->open)
        return;
    for (int i = 1; i < MAP_PAL + 2; i++)
        if (r->bytes[i] > r->bytes[best])
            best = i;
    fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"/>\n",
            MAP_LEFT + r->x0, y, r->x1 - r->x0 < 0.05 ? 0.05 : r->x1 - r->x0, MAP_BAR,
            best == MAP_PAL + 1 ? MAP_FREE : best == MAP_PAL ? MAP_KEPT : map_palette[best]);
    memset(r, 0, sizeof(*r));
}

static int map_write(FILE *f, const char *arena, const ofa_arena_info *info,
                     const ofa_block_info *v, size_t n)
{
    size_t i, pages = 0, live = 0, kept = 0;
    uint64_t base = 0, len = 1;
    double y = MAP_TOP - MAP_BAR - MAP_GAP, height;
    struct run r = {0};
    uint64_t seen_clients[MAP_PAL] = {0};
    uint32_t seen_pids[MAP_PAL] = {0};
    char lv[16], rs[16], fr[16];

    for (i = 0; i < n; i++) {
        pages += v[i].kind == OFA_BLOCK_PAGE;
        live += v[i].kind == OFA_BLOCK_LIVE || v[i].kind == OFA_BLOCK_KEPT;
        kept += v[i].kind == OFA_BLOCK_KEPT;
        if (v[i].kind == OFA_BLOCK_LIVE && seen_clients[v[i].client % MAP_PAL] == 0) {
            seen_clients[v[i].client % MAP_PAL] = v[i].client;
            seen_pids[v[i].client % MAP_PAL] = v[i].pid;
        }
    }
    height = MAP_TOP + (double)pages * (MAP_BAR + MAP_GAP) + 60;
    human(lv, sizeof(lv), info->stats.bytes_live);
    human(rs, sizeof(rs), info->stats.bytes_reserved);
    human(fr, sizeof(fr), info->stats.bytes_reserved - info->stats.bytes_live);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "font-family=\"monospace\" font-size=\"12\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            MAP_LEFT + MAP_W + 20, height);
    fprintf(f, "<text x=\"10\" y=\"20\" font-size=\"15\">arena %s: %zu pages, %s reserved, "
               "%s live in %zu blocks (%zu kept), %s free in %" PRIu64 " chunks, "
               "fragmentation %.2f</text>\n",
            arena, pages, rs, lv, live, kept, fr, info->stats.free_chunks,
            fragmentation(&info->stats));
    /* The legend: free, kept, and each owner's colour (by connection). */
    {
        double x = 10;

        fprintf(f, "<rect x=\"%.0f\" y=\"32\" width=\"12\" height=\"12\" fill=\"%s\" "
                   "stroke=\"#999\"/><text x=\"%.0f\" y=\"43\">free</text>\n",
                x, MAP_FREE, x + 16);
        x += 60;
        fprintf(f, "<rect x=\"%.0f\" y=\"32\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                   "<text x=\"%.0f\" y=\"43\">kept (OFA_KEEP)</text>\n",
                x, MAP_KEPT, x + 16);
        x += 140;
        for (i = 0; i < MAP_PAL; i++) {
            if (seen_clients[i] == 0)
                continue;
            fprintf(f, "<rect x=\"%.0f\" y=\"32\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                       "<text x=\"%.0f\" y=\"43\">pid %" PRIu32 "</text>\n",
                    x, map_palette[i], x + 16, seen_pids[i]);
            x += 100;
        }
    }
    for (i = 0; i < n; i++) {
        const ofa_block_info *b = &v[i];
        double x0, x1;

        if (b->kind == OFA_BLOCK_PAGE) {
            run_flush(f, &r, y);
            y += MAP_BAR + MAP_GAP;
            base = b->off;
            len = b->size ? b->size : 1;
            human(rs, sizeof(rs), b->size);
            fprintf(f, "<text x=\"10\" y=\"%.1f\">%" PRIu64 " (%s)</text>\n"
                       "<rect x=\"%.0f\" y=\"%.1f\" width=\"%.0f\" height=\"%.1f\" "
                       "fill=\"none\" stroke=\"#999\"/>\n",
                    y + MAP_BAR - 4, b->off, rs, MAP_LEFT, y, MAP_W, MAP_BAR);
            continue;
        }
        x0 = (double)(b->off - base) / (double)len * MAP_W;
        x1 = (double)(b->off - base + b->size) / (double)len * MAP_W;
        /* A run goes on while its colour holds, or while it is thin. */
        if (r.open && !(r.x1 - r.x0 < 1.0 || x1 - x0 < 1.0)) {
            int ci = colour_index(b), only = -1;

            for (int k = 0; k < MAP_PAL + 2; k++)
                if (r.bytes[k] != 0)
                    only = only == -1 ? k : -2;
            if (only != ci)
                run_flush(f, &r, y);
        }
        if (!r.open) {
            r.open = true;
            r.x0 = x0;
        }
        r.x1 = x1;
        r.bytes[colour_index(b)] += b->size;
    }
    run_flush(f, &r, y);
    fprintf(f, "</svg>\n");
    return ferror(f) ? -EIO : 0;
}

static int cmd_map(const struct opts *o)
{
    const char *arena = o->args[0];
    ofa_arena_info info;
    ofa_block_info *v;
    ofa_client *c;
    size_t n, pages = 0, i;
    FILE *f;
    int rc;

    if (o->svg == NULL || o->svg[0] == '\0')
        return usage_error("map needs --svg FILE");
    rc = connect_or_report(o, &c);
    if (rc != EXIT_OK)
        return rc;
    rc = ofa_arena_info_get(c, arena, &info);
    if (rc == 0)
        rc = fetch_blocks(c, arena, OFA_BLOCKS_FREE, &v, &n);
    ofa_disconnect(c);
    if (rc < 0)
        return report(rc);
    f = fopen(o->svg, "w");
    if (f == NULL) {
        fprintf(stderr, "ofactl: cannot write %s: %s\n", o->svg, strerror(errno));
        free(v);
        return EXIT_REFUSED;
    }
    rc = map_write(f, arena, &info, v, n);
    if (fclose(f) != 0 || rc < 0) {
        fprintf(stderr, "ofactl: writing %s failed\n", o->svg);
        free(v);
        return EXIT_REFUSED;
    }
    for (i = 0; i < n; i++)
        pages += v[i].kind == OFA_BLOCK_PAGE;
    printf("wrote %s: %zu pages, %zu entries\n", o->svg, pages, n - pages);
    free(v);
    return EXIT_OK;
}

static int cmd_names(const struct opts *o)
{
    ofa_client *c;
    ofa_name_info *v = NULL;
    size_t n = 0, i, w = 4;
    uint64_t waiting = 0;
    json_t *root, *list, *e;
    char user[CELL], size[CELL];
    int rc;

    rc = connect_or_report(o, &c);
    if (rc != EXIT_OK)
        return rc;
    rc = ofa_name_list(c, o->args[0], &v, &n, &waiting);
    if (rc < 0) {
        rc = report(rc);
        ofa_disconnect(c);
        return rc;
    }
    ofa_disconnect(c);
    if (o->given & O_JSON) {
        root = json_object();
        list = json_array();
        if (root == NULL || list == NULL || json_object_set_new(root, "names", list) < 0 ||
            jset(root, "waiting", jnum(waiting)) < 0)
            goto oom_json;
        for (i = 0; i < n; i++) {
            e = json_object();
            if (e == NULL || json_array_append_new(list, e) < 0 ||
                jset(e, "name", json_string(v[i].name)) < 0 ||
                jset(e, "offset", jnum(v[i].off)) < 0 || jset(e, "size", jnum(v[i].size)) < 0 ||
                jset(e, "uid", jnum(v[i].uid)) < 0 || jset(e, "pid", json_integer(v[i].pid)) < 0)
                goto oom_json;
        }
        free(v);
        return json_print(root);
    oom_json:
        json_decref(root);
        free(v);
        return out_of_memory();
    }
    /* Names run to 255 bytes: the table helper's cells are for arena
     * names, so this one lays its lines out itself. */
    for (i = 0; i < n; i++)
        if (strlen(v[i].name) > w)
            w = strlen(v[i].name);
    printf("%-*s  %18s  %8s  %-12s  %s\n", (int)w, "NAME", "OFFSET", "SIZE", "OWNER", "PID");
    for (i = 0; i < n; i++) {
        user_name(user, sizeof(user), v[i].uid);
        human(size, sizeof(size), v[i].size);
        printf("%-*s  %#18" PRIx64 "  %8s  %-12s  %" PRId32 "\n", (int)w, v[i].name, v[i].off,
               size, user, v[i].pid);
    }
    if (waiting > 0)
        printf("%" PRIu64 " lookup%s waiting\n", waiting, waiting == 1 ? "" : "s");
    free(v);
    return EXIT_OK;
}

/* --- arguments --- */

struct command {
    const char *name;
    int (*run)(const struct opts *o);
    unsigned opts;            /* O_* bits that apply */
    int min_args, max_args;   /* operands */
    bool arena_arg;           /* the first operand is an arena name */
};

static const struct command commands[] = {
    {"ping", cmd_ping, O_WAIT, 0, 0, false},
    {"arenas", cmd_arenas, O_JSON, 0, 0, false},
    {"stats", cmd_stats, O_JSON | O_PROMETHEUS | O_WATCH | O_COUNT, 0, 1, true},
    {"top", cmd_top, O_WATCH, 0, 0, false},
    {"map", cmd_map, O_SVG, 1, 1, true},
    {"create", cmd_create, O_PAGE_SIZE | O_MAX | O_ALIGN | O_MODE | O_PRIVATE, 1, 1, true},
    {"drop", cmd_drop, O_FORCE, 1, 1, true},
    {"clients", cmd_clients, O_JSON, 0, 0, false},
    {"blocks", cmd_blocks, O_JSON | O_FREE | O_LIMIT | O_SORT, 1, 1, true},
    {"names", cmd_names, O_JSON, 1, 1, true},
};

static const char *opt_name(unsigned bit)
{
    for (const struct option *p = long_opts; p->name != NULL; p++)
        if ((unsigned)p->val == bit)
            return p->name;
    return "?";
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, struct opts *o, const struct command **cmd)
{
    size_t i;
    int c;

    argv[0] = (char *)"ofactl"; /* getopt's own messages name the program */
    opterr = 1;
    while ((c = getopt_long(argc, argv, "hV", long_opts, NULL)) != -1) {
        switch (c) {
        case V_SOCKET:
            o->socket = optarg;
            break;
        case V_TIMEOUT: {
            double t;

            if (parse_seconds("--timeout", optarg, &t) != EXIT_OK)
                return EXIT_USAGE;
            if (t > UINT_MAX / 1000)
                return usage_error("--timeout: too long: '%s'", optarg);
            o->timeout_ms = (long long)(t * 1000 + 0.999);
            set_timeout_env(o->timeout_ms);
            break;
        }
        case 'h':
        case V_HELP:
            fputs(usage_text, stdout);
            return EXIT_OK;
        case 'V':
        case V_VERSION:
            printf("ofactl %d.%d.%d\n", OFA_VERSION_MAJOR, OFA_VERSION_MINOR, OFA_VERSION_PATCH);
            return EXIT_OK;
        case O_WAIT:
            o->wait = optarg;
            break;
        case O_PAGE_SIZE:
            o->page_size = optarg;
            break;
        case O_MAX:
            o->max = optarg;
            break;
        case O_ALIGN:
            o->align = optarg;
            break;
        case O_MODE:
            o->mode = optarg;
            break;
        case O_LIMIT:
            o->limit = optarg;
            break;
        case O_SORT:
            o->sort = optarg;
            break;
        case O_WATCH:
            o->watch = optarg;
            break;
        case O_COUNT:
            o->count = optarg;
            break;
        case O_SVG:
            o->svg = optarg;
            break;
        case O_JSON:
        case O_FORCE:
        case O_FREE:
        case O_PROMETHEUS:
        case O_PRIVATE:
            break;
        default:
            /* getopt said what was wrong (unknown option, a missing value,
             * a value given to an option that takes none). */
            fputs("Try 'ofactl --help'.\n", stderr);
            return EXIT_USAGE;
        }
        if (c < V_SOCKET)
            o->given |= (unsigned)c;
    }
    if (o->socket != NULL && o->socket[0] == '\0')
        return usage_error("--socket: empty path");
    if (optind >= argc)
        return usage_error("no command given");
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[optind], commands[i].name) == 0)
            *cmd = &commands[i];
    if (*cmd == NULL)
        return usage_error("unknown command '%s'", argv[optind]);
    o->args = argv + optind + 1;
    o->nargs = argc - optind - 1;
    if (o->nargs < (*cmd)->min_args || o->nargs > (*cmd)->max_args) {
        if ((*cmd)->max_args == 0)
            return usage_error("%s takes no operand", (*cmd)->name);
        if ((*cmd)->min_args == (*cmd)->max_args)
            return usage_error("%s needs exactly one arena name", (*cmd)->name);
        return usage_error("%s takes at most one arena name", (*cmd)->name);
    }
    for (unsigned bit = 1; bit < V_SOCKET; bit <<= 1)
        if ((o->given & bit) && !((*cmd)->opts & bit))
            return usage_error("--%s does not apply to '%s'", opt_name(bit), (*cmd)->name);
    if ((*cmd)->arena_arg && o->nargs > 0 && !ofa_arena_name_valid(o->args[0]))
        return usage_error("invalid arena name '%s' (1 to %u of A-Z a-z 0-9 . _ -)", o->args[0],
                           OFA_NAME_MAX);
    return -1;
}

int main(int argc, char **argv)
{
    const struct command *cmd = NULL;
    struct opts o;
    int rc;

    memset(&o, 0, sizeof(o));
    o.timeout_ms = -1;
    rc = parse_args(argc, argv, &o, &cmd);
    if (rc >= 0)
        return rc;
    rc = check_socket(&o);
    if (rc != EXIT_OK)
        return rc;
    rc = cmd->run(&o);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "ofactl: writing the output: %s\n", strerror(errno));
        return EXIT_REFUSED;
    }
    return rc;
}

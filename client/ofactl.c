/*
 * ofactl - the command-line tool of ofa, on libofaclient's public API.
 *
 *   ofactl [--socket PATH] [--timeout SECONDS] ping [--wait SECONDS]
 *   ofactl [--socket PATH] arenas [--json]
 *   ofactl [--socket PATH] stats [ARENA] [--json]
 *   ofactl [--socket PATH] create NAME [--page-size SIZE] [--max SIZE]
 *                                      [--align N] [--mode OCTAL]
 *   ofactl [--socket PATH] drop NAME [--force]
 *
 * Exit status, which scripts rely on: 0 done; 1 the daemon refused (its
 * error's name and sentence on stderr); 2 a usage error (nothing was sent);
 * 3 no daemon answering (no socket, refused, reset, or a reply that is not
 * the protocol's).
 *
 * Output: human tables are aligned, with sizes in binary units (16.0M);
 * --json prints one object on one line with exact numbers (bytes), built
 * with jansson.
 * In JSON, mode is a string of four octal digits ("0600") because that is how
 * people read and write modes; uid and gid are numbers.
 *
 * Options may appear anywhere after the program name; "--" ends them.
 *
 * Deadlines: every request has the library's deadline, --timeout's when
 * given (which ofactl hands to libofaclient through $OFAD_TIMEOUT_MS, read
 * at connect, so the handshake has it too). ping --wait S bounds each
 * attempt by what is left of S as well, so it returns within S whatever the
 * daemon does (absent, stopped, or accepting and never answering).
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ofaclient.h"
#include "proto.h"

enum {
    EXIT_OK = 0,
    EXIT_REFUSED = 1, /* the daemon said no */
    EXIT_USAGE = 2,
    EXIT_NODAEMON = 3, /* nobody answering */
};

static const char usage_text[] =
    "usage: ofactl [--socket PATH] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  ping [--wait SECONDS]        succeed once the daemon answers, waiting up to\n"
    "                               SECONDS for it to come up (default: no wait)\n"
    "  arenas [--json]              list the arenas\n"
    "  stats [ARENA] [--json]       the daemon's figures and every readable arena's\n"
    "                               (or ARENA's only)\n"
    "  create NAME [--page-size SIZE] [--max SIZE] [--align N] [--mode OCTAL]\n"
    "                               create an arena (defaults: the daemon's, mode 0600)\n"
    "  drop NAME [--force]          drop an arena; refused while it has live blocks\n"
    "                               unless --force\n"
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
    "exit status: 0 ok, 1 the daemon refused, 2 usage error, 3 no daemon answering\n";

struct opts {
    const char *socket;
    int json, force;
    const char *wait, *page_size, *max, *align, *mode, *timeout;
    long long timeout_ms; /* --timeout in ms, -1 when not given */
    const char *pos[3]; /* command and its operands */
    int npos;
};

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
           rc == -ENOTCONN || rc == -ETIMEDOUT;
}

/* Makes ms the deadline of the calls of the next connection: libofaclient
 * reads it from the environment at connect, handshake included. */
static void set_timeout_env(long long ms)
{
    char v[24];

    snprintf(v, sizeof(v), "%lld", ms);
    setenv(OFA_TIMEOUT_ENV, v, 1);
}

static int report(int rc)
{
    fprintf(stderr, "ofactl: %s: %s\n", ofa_err_name(rc), ofa_strerror(rc));
    return is_conn_error(rc) ? EXIT_NODAEMON : EXIT_REFUSED;
}

static int connect_or_report(const struct opts *o, ofa_client **c)
{
    int rc = ofa_connect(o->socket, c);

    if (rc < 0) {
        /* ENOENT from connect is about the socket, not an arena. */
        fprintf(stderr, "ofactl: cannot reach ofad at %s: %s: %s\n", ofa_socket_path(o->socket),
                ofa_err_name(rc), rc == -ENOENT ? "no socket there" : ofa_strerror(rc));
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

/* jansson integers are signed 64-bit; counters never get near, but a limit
 * meaning "unbounded" may. Such a value is written as a real number. */
static json_t *jnum(uint64_t v)
{
    if (v > (uint64_t)INT64_MAX)
        return json_real((double)v);
    return json_integer((json_int_t)v);
}

static int jset(json_t *obj, const char *key, json_t *v)
{
    return v == NULL || json_object_set_new(obj, key, v) < 0 ? -ENOMEM : 0;
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
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
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

static int cmd_ping(const struct opts *o)
{
    ofa_client *c = NULL;
    double wait = 0, deadline, t0, left, pause = 0.01;
    struct timespec ts;
    char *end;
    int rc;

    if (o->wait != NULL) {
        errno = 0;
        wait = strtod(o->wait, &end);
        if (errno != 0 || end == o->wait || *end != '\0' || !(wait >= 0) || wait > 1e6)
            return usage_error("--wait: not a number of seconds: '%s'", o->wait);
    }
    deadline = now_s() + wait;
    for (;;) {
        if (o->wait != NULL) {
            /* This attempt may take what is left of the wait, no more (and
             * no more than --timeout). */
            long long ms = (long long)((deadline - now_s()) * 1000 + 0.999);
            if (ms < 1)
                ms = 1;
            if (o->timeout_ms > 0 && o->timeout_ms < ms)
                ms = o->timeout_ms;
            set_timeout_env(ms);
        }
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
        ts.tv_sec = (time_t)pause;
        ts.tv_nsec = (long)((pause - (double)ts.tv_sec) * 1e9);
        nanosleep(&ts, NULL);
        if (pause < 0.25)
            pause *= 2;
    }
    if (rc < 0) {
        fprintf(stderr, "ofactl: cannot reach ofad at %s: %s: %s\n", ofa_socket_path(o->socket),
                ofa_err_name(rc), rc == -ENOENT ? "no socket there" : ofa_strerror(rc));
        return EXIT_NODAEMON;
    }
    if (o->wait != NULL) {
        long long ms = (long long)((deadline - now_s()) * 1000 + 0.999);
        if (ms < 1)
            ms = 1;
        if (o->timeout_ms > 0 && o->timeout_ms < ms)
            ms = o->timeout_ms;
        ofa_set_timeout(c, (unsigned int)ms);
    }
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

    if (o->json) {
        root = json_object();
        list = json_array();
        if (root == NULL || list == NULL || json_object_set_new(root, "arenas", list) < 0)
            goto oom_json;
        for (i = 0; i < n; i++) {
            a = arena_json(&v[i]);
            if (a == NULL || json_array_append_new(list, a) < 0)
                goto oom_json;
        }
        free(v);
        return json_print(root);
    oom_json:
        json_decref(root);
        free(v);
        return out_of_memory();
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

static int cmd_stats(const struct opts *o)
{
    static const char *const head[] = {"NAME",     "PAGE",  "ALIGN",  "MAX",         "PAGES",
                                       "RESERVED", "LIVE",  "BLOCKS", "FREE_CHUNKS", "LARGEST_FREE",
                                       "ALLOCS",   "FREES", "FAILED"};
    const char *name = o->npos > 1 ? o->pos[1] : NULL;
    ofa_client *c;
    ofa_daemon_info d;
    ofa_arena_info *v = NULL;
    size_t n = 0, i, k;
    struct table t = {.ncols = 13, .left = 0x1}; /* NAME */
    char cell[13][CELL], up[32], res[16], lim[16];
    const char *row[13];
    json_t *root = NULL, *dj = NULL, *list, *a;
    int rc;

    if (name != NULL && proto_name_check(name, strlen(name)) < 0)
        return usage_error("invalid arena name '%s' (1 to %u of A-Z a-z 0-9 . _ -)", name,
                           PROTO_NAME_MAX);
    rc = connect_or_report(o, &c);
    if (rc != EXIT_OK)
        return rc;
    rc = ofa_daemon_stats(c, &d);
    if (rc == 0) {
        if (name != NULL) {
            v = calloc(1, sizeof(*v));
            rc = v == NULL ? -ENOMEM : ofa_arena_info_get(c, name, v);
            n = 1;
        } else {
            rc = ofa_arena_list(c, &v, &n);
        }
    }
    ofa_disconnect(c);
    if (rc < 0) {
        free(v);
        return report(rc);
    }
    /* Without a name: the arenas whose figures the caller may read. */
    for (i = k = 0; i < n; i++)
        if (readable(&v[i]))
            v[k++] = v[i];
    n = k;

    if (o->json) {
        root = json_object();
        dj = json_object();
        list = json_array();
        if (root == NULL || dj == NULL || list == NULL ||
            json_object_set_new(root, "daemon", dj) < 0) {
            json_decref(dj);
            json_decref(list);
            goto oom_json;
        }
        if (json_object_set_new(root, "arenas", list) < 0)
            goto oom_json;
        rc = jset(dj, "version", json_string(d.version));
        rc |= jset(dj, "uptime_s", jnum(d.uptime_s));
        rc |= jset(dj, "clients", jnum(d.clients));
        rc |= jset(dj, "arenas", jnum(d.arenas));
        rc |= jset(dj, "bytes_reserved", jnum(d.bytes_reserved));
        rc |= jset(dj, "bytes_limit", jnum(d.bytes_limit));
        rc |= jset(dj, "pid", jnum(d.pid));
        if (rc != 0)
            goto oom_json;
        for (i = 0; i < n; i++) {
            a = arena_json(&v[i]);
            if (a == NULL || json_array_append_new(list, a) < 0)
                goto oom_json;
        }
        free(v);
        return json_print(root);
    oom_json:
        json_decref(root);
        free(v);
        return out_of_memory();
    }

    duration(up, sizeof(up), d.uptime_s);
    human(res, sizeof(res), d.bytes_reserved);
    human(lim, sizeof(lim), d.bytes_limit);
    printf("ofad %s  pid %" PRIu64 "  up %s  clients %" PRIu64 "  arenas %" PRIu64
           "  reserved %s of %s\n\n",
           d.version, d.pid, up, d.clients, d.arenas, res, lim);
    if (table_row(&t, head) < 0)
        goto oom;
    for (i = 0; i < n; i++) {
        const ofa_arena_stats *s = &v[i].stats;

        for (k = 0; k < 13; k++)
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

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    if (proto_parse_size(s, out) < 0 || *out > max)
        return usage_error("%s: not a valid size: '%s'", opt, s);
    return EXIT_OK;
}

static int cmd_create(const struct opts *o)
{
    const char *name = o->pos[1];
    ofa_arena_config cfg;
    ofa_client *c;
    uint64_t v;
    unsigned long mode;
    char *end;
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    if (o->page_size != NULL &&
        parse_u64("--page-size", o->page_size, UINT64_MAX, &cfg.page_size) != EXIT_OK)
        return EXIT_USAGE;
    if (o->max != NULL && parse_u64("--max", o->max, UINT64_MAX, &cfg.max_bytes) != EXIT_OK)
        return EXIT_USAGE;
    if (o->align != NULL) {
        if (parse_u64("--align", o->align, UINT32_MAX, &v) != EXIT_OK)
            return EXIT_USAGE;
        cfg.align = (uint32_t)v;
    }
    if (o->mode != NULL) {
        errno = 0;
        mode = strtoul(o->mode, &end, 8);
        if (errno != 0 || end == o->mode || *end != '\0' || o->mode[0] == '-' || mode > 0777)
            return usage_error("--mode: not an octal mode: '%s'", o->mode);
        /* 0 asks for the default; an explicit 0 is a mode nobody can use. */
        if (mode == 0)
            return usage_error("--mode: 0 would admit nobody, not even the owner");
        cfg.mode = (uint32_t)mode;
    }
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
    const char *name = o->pos[1];
    ofa_client *c;
    int rc;

    rc = connect_or_report(o, &c);
    if (rc != EXIT_OK)
        return rc;
    rc = ofa_arena_drop(c, name, o->force);
    ofa_disconnect(c);
    if (rc < 0) {
        int status = report(rc);

        if (rc == -EBUSY)
            fputs("ofactl: (--force drops an arena with live blocks)\n", stderr);
        return status;
    }
    printf("dropped arena %s\n", name);
    return EXIT_OK;
}

/* --- arguments --- */

/* Options that take a value, where they are stored in struct opts. */
static const char **value_slot(struct opts *o, const char *name)
{
    if (strcmp(name, "socket") == 0)
        return &o->socket;
    if (strcmp(name, "wait") == 0)
        return &o->wait;
    if (strcmp(name, "timeout") == 0)
        return &o->timeout;
    if (strcmp(name, "page-size") == 0)
        return &o->page_size;
    if (strcmp(name, "max") == 0)
        return &o->max;
    if (strcmp(name, "align") == 0)
        return &o->align;
    if (strcmp(name, "mode") == 0)
        return &o->mode;
    return NULL;
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    const char **slot;
    const char *arg, *eq;
    char name[32];
    size_t len;
    int i, only_pos = 0;

    for (i = 1; i < argc; i++) {
        arg = argv[i];
        if (only_pos || arg[0] != '-' || arg[1] == '\0') {
            if (o->npos == 3)
                return usage_error("unexpected argument '%s'", arg);
            o->pos[o->npos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        }
        if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
            printf("ofactl %s\n", OFA_VERSION);
            return EXIT_OK;
        }
        if (strcmp(arg, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(arg, "--force") == 0) {
            o->force = 1;
            continue;
        }
        if (arg[1] != '-')
            return usage_error("unknown option '%s'", arg);
        eq = strchr(arg, '=');
        len = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (len >= sizeof(name))
            return usage_error("unknown option '%s'", arg);
        memcpy(name, arg + 2, len);
        name[len] = '\0';
        slot = value_slot(o, name);
        if (slot == NULL)
            return usage_error("unknown option '--%s'", name);
        if (eq != NULL) {
            *slot = eq + 1;
        } else {
            if (i + 1 >= argc)
                return usage_error("--%s needs a value", name);
            *slot = argv[++i];
        }
    }
    return -1;
}

/* Options each command accepts, beyond --socket. */
static int check_opts(const struct opts *o, const char *cmd, int json, int wait, int create,
                      int force)
{
    const char *bad = NULL;

    if (o->json && !json)
        bad = "--json";
    else if (o->wait && !wait)
        bad = "--wait";
    else if (o->page_size && !create)
        bad = "--page-size";
    else if (o->max && !create)
        bad = "--max";
    else if (o->align && !create)
        bad = "--align";
    else if (o->mode && !create)
        bad = "--mode";
    else if (o->force && !force)
        bad = "--force";
    if (bad != NULL)
        return usage_error("%s does not apply to '%s'", bad, cmd);
    return -1;
}

int main(int argc, char **argv)
{
    struct opts o;
    const char *cmd;
    int rc;

    memset(&o, 0, sizeof(o));
    rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (o.socket != NULL && o.socket[0] == '\0')
        return usage_error("--socket: empty path");
    o.timeout_ms = -1;
    if (o.timeout != NULL) {
        double t;
        char *end;

        errno = 0;
        t = strtod(o.timeout, &end);
        if (errno != 0 || end == o.timeout || *end != '\0' || !(t >= 0) || t > UINT_MAX / 1000)
            return usage_error("--timeout: not a number of seconds: '%s'", o.timeout);
        o.timeout_ms = (long long)(t * 1000 + 0.999);
        set_timeout_env(o.timeout_ms);
    }
    if (o.npos == 0)
        return usage_error("no command given");
    cmd = o.pos[0];

    if (strcmp(cmd, "ping") == 0) {
        if (o.npos > 1)
            return usage_error("ping takes no argument");
        rc = check_opts(&o, cmd, 0, 1, 0, 0);
        if (rc < 0)
            rc = cmd_ping(&o);
    } else if (strcmp(cmd, "arenas") == 0) {
        if (o.npos > 1)
            return usage_error("arenas takes no argument");
        rc = check_opts(&o, cmd, 1, 0, 0, 0);
        if (rc < 0)
            rc = cmd_arenas(&o);
    } else if (strcmp(cmd, "stats") == 0) {
        if (o.npos > 2)
            return usage_error("stats takes at most one arena name");
        rc = check_opts(&o, cmd, 1, 0, 0, 0);
        if (rc < 0)
            rc = cmd_stats(&o);
    } else if (strcmp(cmd, "create") == 0 || strcmp(cmd, "drop") == 0) {
        if (o.npos != 2)
            return usage_error("%s needs exactly one arena name", cmd);
        if (proto_name_check(o.pos[1], strlen(o.pos[1])) < 0)
            return usage_error("invalid arena name '%s' (1 to %u of A-Z a-z 0-9 . _ -)", o.pos[1],
                               PROTO_NAME_MAX);
        rc = check_opts(&o, cmd, 0, 0, cmd[0] == 'c', cmd[0] == 'd');
        if (rc < 0)
            rc = cmd[0] == 'c' ? cmd_create(&o) : cmd_drop(&o);
    } else {
        return usage_error("unknown command '%s'", cmd);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "ofactl: writing the output: %s\n", strerror(errno));
        return EXIT_REFUSED;
    }
    return rc;
}

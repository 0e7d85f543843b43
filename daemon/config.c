/*
 * config.c - defaults, the INI config file and --arena specs.
 *
 * Owns: the meaning of every setting and its bounds. The file is read with
 * inih (ini_parse_stream) through a reader that counts lines, so that every
 * error names its line, and that notices section headers: inih only reports
 * keys, and an "[arena NAME]" section with no keys must still define an arena
 * (with every default). The first error wins and is the one reported.
 *
 * Invariants: every value stored in a struct cfg is within its documented
 * bounds; cfg_finish() leaves no arena field unset. Nothing here logs, binds
 * or maps: main.c and server.c decide what an error means (exit 2 at start,
 * a refused reload on SIGHUP).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* The bounds ofaclient.h publishes are these, checked where both are seen. */
_Static_assert(OFA_PAGE_SIZE_MIN == HEAP_MIN_PAGE && OFA_PAGE_SIZE_MAX == HEAP_MAX_PAGE,
               "page_size bounds: heap.h and ofaclient.h");
_Static_assert(OFA_ALIGN_MIN == HEAP_MIN_ALIGN && OFA_ALIGN_MAX == HEAP_MAX_UNIT,
               "align bounds: heap.h and ofaclient.h");
_Static_assert(OFA_NAME_MAX == PROTO_NAME_MAX, "arena names: proto.h and ofaclient.h");

void cfg_init(struct cfg *c, uint64_t mem_size)
{
    memset(c, 0, sizeof(*c));
    c->log_level = -1;
    c->max_message = PROTO_DEFAULT_MAX_MSG;
    c->max_arenas = CFG_DEFAULT_MAX_ARENAS;
    c->max_total = mem_size >= 2 * 4096 ? mem_size / 2 : (1ull << 30);
    c->max_clients = CFG_DEFAULT_MAX_CLIENTS;
    c->max_blocks_per_client = CFG_DEFAULT_MAX_BLOCKS;
    c->max_handles_per_client = CFG_DEFAULT_MAX_HANDLES;
    c->max_names_per_arena = CFG_DEFAULT_MAX_NAMES;
    c->max_names_per_uid = CFG_DEFAULT_NAMES_UID;
    c->max_output = CFG_DEFAULT_MAX_OUTPUT;
    c->handshake_timeout = CFG_DEFAULT_HANDSHAKE_S;
    c->reserved_clients = CFG_DEFAULT_RESERVED_CLIENTS;
    c->max_output_per_uid = CFG_DEFAULT_OUTPUT_UID;
    c->max_output_total = CFG_DEFAULT_OUTPUT_TOTAL;
    c->output_timeout = CFG_DEFAULT_OUTPUT_TIMEOUT_S;
    c->session_grace = CFG_DEFAULT_GRACE;
    c->max_blocks_per_arena = CFG_DEFAULT_BLOCKS_ARENA;
    c->max_blocks_per_uid = CFG_DEFAULT_BLOCKS_UID;
    {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        uint64_t mem = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
        c->max_metadata = mem / 8 > (64ull << 20) ? mem / 8 : (64ull << 20);
    }
    c->min_align = CFG_DEFAULT_MIN_ALIGN;
    c->max_arenas_per_uid = CFG_DEFAULT_ARENAS_UID;
    c->reserved_arenas = CFG_DEFAULT_RESERVED_ARENAS;
    c->create_gid = -1;
    c->reserved_total = CFG_AUTO;
    c->default_page_size = CFG_DEFAULT_PAGE_SIZE;
    c->default_max_bytes = CFG_DEFAULT_MAX_BYTES;
    c->default_align = CFG_DEFAULT_ALIGN;
}

uint32_t cfg_clients_per_uid(const struct cfg *c)
{
    uint32_t q = c->max_clients / 4 ? c->max_clients / 4 : 1;

    return c->max_clients_per_uid ? c->max_clients_per_uid : q;
}

uint32_t cfg_reserved_clients(const struct cfg *c)
{
    return c->reserved_clients < c->max_clients / 2 ? c->reserved_clients : c->max_clients / 2;
}

uint32_t cfg_reserved_arenas(const struct cfg *c)
{
    return c->reserved_arenas < c->max_arenas / 2 ? c->reserved_arenas : c->max_arenas / 2;
}

uint64_t cfg_bytes_per_uid(const struct cfg *c)
{
    return c->max_bytes_per_uid ? c->max_bytes_per_uid : c->max_total / 4;
}

uint64_t cfg_reserved_total(const struct cfg *c)
{
    if (c->reserved_total == CFG_AUTO)
        return c->max_total / 4;
    return c->reserved_total < c->max_total ? c->reserved_total : c->max_total;
}

void cfg_free(struct cfg *c)
{
    free(c->arenas);
    c->arenas = NULL;
    c->n_arenas = c->cap_arenas = 0;
}

/* ---- values ---- */

int cfg_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int cfg_parse_page_size(const char *s, uint64_t *out)
{
    uint64_t v;

    if (proto_parse_size(s, &v) < 0 || !heap_page_size_valid(v))
        return -EINVAL;
    *out = v;
    return 0;
}

int cfg_parse_align(const char *s, uint32_t *out)
{
    uint64_t v;

    if (proto_parse_size(s, &v) < 0 || !heap_align_valid(v))
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

int cfg_parse_mode(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v;

    if (s == NULL || s[0] < '0' || s[0] > '7')
        return -EINVAL;
    errno = 0;
    v = strtoul(s, &end, 8);
    if (errno != 0 || *end != '\0' || v > CFG_MODE_MASK)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

int cfg_parse_user(const char *s, uint32_t *uid, uint32_t *primary_gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    uint64_t n;

    if (s == NULL || s[0] == '\0')
        return -EINVAL;
    if (isdigit((unsigned char)s[0])) {
        if (cfg_parse_count(s, 0, UINT32_MAX - 1, &n) < 0)
            return -EINVAL;
        *uid = (uint32_t)n;
        /* A number needs no passwd entry; without one the group is unknown. */
        if (getpwuid_r((uid_t)n, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
            *primary_gid = res->pw_gid;
        else
            *primary_gid = UINT32_MAX;
        return 0;
    }
    if (getpwnam_r(s, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
        return -ENOENT;
    *uid = res->pw_uid;
    *primary_gid = res->pw_gid;
    return 0;
}

int cfg_parse_group(const char *s, uint32_t *gid)
{
    struct group gr, *res = NULL;
    char buf[8192];
    uint64_t n;

    if (s == NULL || s[0] == '\0')
        return -EINVAL;
    if (isdigit((unsigned char)s[0])) {
        if (cfg_parse_count(s, 0, UINT32_MAX - 1, &n) < 0)
            return -EINVAL;
        *gid = (uint32_t)n;
        return 0;
    }
    if (getgrnam_r(s, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
        return -ENOENT;
    *gid = res->gr_gid;
    return 0;
}

/*
 * One arena key (shared by the file and --arena). Returns 0, -EINVAL with a
 * message (without location) in err, or 1 when the key is unknown.
 */
static int arena_key(struct cfg_arena *a, const char *key, const char *val, char *err,
                     size_t errlen)
{
    unsigned bit;
    int rc;

    if (strcmp(key, "page_size") == 0) {
        bit = CFG_A_PAGE_SIZE;
        rc = cfg_parse_page_size(val, &a->page_size);
        if (rc < 0)
            log_errbuf(err, errlen, "bad page_size '%s' (a multiple of 4096 from 4K to 1T)", val);
    } else if (strcmp(key, "max") == 0) {
        bit = CFG_A_MAX;
        rc = proto_parse_size(val, &a->max_bytes);
        if (rc == 0 && a->max_bytes == 0)
            rc = -EINVAL;
        if (rc < 0)
            log_errbuf(err, errlen, "bad max '%s' (a size such as 64M or 1G, not 0)", val);
    } else if (strcmp(key, "align") == 0) {
        bit = CFG_A_ALIGN;
        rc = cfg_parse_align(val, &a->align);
        if (rc < 0)
            log_errbuf(err, errlen, "bad align '%s' (a power of two from 8 to 4096)", val);
    } else if (strcmp(key, "mode") == 0) {
        bit = CFG_A_MODE;
        rc = cfg_parse_mode(val, &a->mode);
        if (rc < 0)
            log_errbuf(err, errlen, "bad mode '%s' (octal, at most 0777)", val);
    } else if (strcmp(key, "private") == 0) {
        bit = CFG_A_PRIVATE;
        rc = 0;
        if (strcmp(val, "yes") == 0 || strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
            a->private_default = true;
        else if (strcmp(val, "no") == 0 || strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
            a->private_default = false;
        else
            rc = -EINVAL;
        if (rc < 0)
            log_errbuf(err, errlen, "bad private '%s' (yes or no)", val);
    } else if (strcmp(key, "cache_max") == 0) {
        bit = CFG_A_CACHE_MAX;
        rc = proto_parse_size(val, &a->cache_max);
        if (rc < 0)
            log_errbuf(err, errlen, "bad cache_max '%s' (a size such as 256K or 1M; 0 for none)",
                       val);
    } else if (strcmp(key, "owner") == 0) {
        uint32_t pgid;
        bit = CFG_A_OWNER;
        rc = cfg_parse_user(val, &a->uid, &pgid);
        if (rc < 0)
            log_errbuf(err, errlen, "unknown owner '%s'", val);
        else if (!(a->set & CFG_A_GROUP))
            a->gid = pgid; /* the owner's primary group, unless group= says */
        if (rc < 0)
            rc = -EINVAL;
    } else if (strcmp(key, "group") == 0) {
        bit = CFG_A_GROUP;
        rc = cfg_parse_group(val, &a->gid);
        if (rc < 0) {
            log_errbuf(err, errlen, "unknown group '%s'", val);
            rc = -EINVAL;
        }
    } else {
        return 1;
    }
    if (rc < 0)
        return -EINVAL;
    if (a->set & bit) {
        log_errbuf(err, errlen, "'%s' given twice", key);
        return -EINVAL;
    }
    a->set |= bit;
    return 0;
}

int cfg_parse_arena_spec(const char *spec, struct cfg_arena *out, char *err, size_t errlen)
{
    char buf[1024];
    char *p, *item, *save = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (strlen(spec) >= sizeof(buf)) {
        log_errbuf(err, errlen, "arena spec too long");
        return -EINVAL;
    }
    strcpy(buf, spec);
    p = strchr(buf, ',');
    if (p != NULL)
        *p++ = '\0';
    if (proto_name_check(buf, strlen(buf)) < 0) {
        log_errbuf(err, errlen, "bad arena name '%s' (1 to 63 of A-Z a-z 0-9 . _ -)", buf);
        return -EINVAL;
    }
    strcpy(out->name, buf);
    if (p == NULL)
        return 0;
    for (item = strtok_r(p, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        char msg[CFG_ERR_LEN];
        if (eq == NULL) {
            log_errbuf(err, errlen, "arena %s: '%s' is not KEY=VALUE", out->name, item);
            return -EINVAL;
        }
        *eq = '\0';
        rc = arena_key(out, item, eq + 1, msg, sizeof(msg));
        if (rc == 1) {
            log_errbuf(err, errlen, "arena %s: unknown key '%s'", out->name, item);
            return -EINVAL;
        }
        if (rc < 0) {
            log_errbuf(err, errlen, "arena %s: %s", out->name, msg);
            return -EINVAL;
        }
    }
    /* "a,,b" or a trailing comma leaves an empty item strtok_r skips. */
    if (spec[strlen(spec) - 1] == ',' || strstr(spec, ",,") != NULL) {
        log_errbuf(err, errlen, "arena %s: empty item in '%s'", out->name, spec);
        return -EINVAL;
    }
    return 0;
}

struct cfg_arena *cfg_find_arena(const struct cfg *c, const char *name)
{
    for (size_t i = 0; i < c->n_arenas; i++) {
        if (strcmp(c->arenas[i].name, name) == 0)
            return &c->arenas[i];
    }
    return NULL;
}

int cfg_put_arena(struct cfg *c, const struct cfg_arena *a)
{
    struct cfg_arena *old = cfg_find_arena(c, a->name);

    if (old != NULL) {
        *old = *a;
        return 0;
    }
    if (c->n_arenas == c->cap_arenas) {
        size_t cap = c->cap_arenas ? 2 * c->cap_arenas : 8;
        struct cfg_arena *v = realloc(c->arenas, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        c->arenas = v;
        c->cap_arenas = cap;
    }
    c->arenas[c->n_arenas++] = *a;
    return 0;
}

/* ---- the INI file ---- */

enum section_kind { SEC_NONE, SEC_OFAD, SEC_ARENA };

struct ini_ctx {
    struct cfg *c;
    const char *name; /* the file, for messages */
    FILE *f;          /* when reading a file */
    const char *text; /* when reading a string */
    unsigned line;    /* lines handed to inih so far */
    int rc;           /* first error (0: none) */
    char *err;
    size_t errlen;
    enum section_kind sec;
    struct cfg_arena *arena; /* the arena of the current [arena NAME] */
    uint64_t ofad_keys;      /* bit per [ofad] key seen, to refuse duplicates */
    bool ofad_seen;
};

static void ctx_fail(struct ini_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ctx_fail(struct ini_ctx *x, const char *fmt, ...)
{
    char msg[CFG_ERR_LEN];
    va_list ap;

    if (x->rc != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    x->rc = -EINVAL;
    log_errbuf(x->err, x->errlen, "%s:%u: %s", x->name, x->line, msg);
}

/* A section header line: "[ofad]" or "[arena NAME]" (spaces around words
 * allowed). Called by the reader, before inih sees the line. */
static void section_begin(struct ini_ctx *x, const char *line)
{
    char buf[INI_MAX_LINE + 1];
    const char *end = strchr(line, ']');
    char *s, *word, *rest;
    size_t n;

    x->sec = SEC_NONE;
    x->arena = NULL;
    if (end == NULL)
        return; /* inih reports the missing ']' */
    n = (size_t)(end - line - 1);
    memcpy(buf, line + 1, n);
    buf[n] = '\0';
    for (s = buf; isspace((unsigned char)*s); s++)
        ;
    word = s;
    while (*s && !isspace((unsigned char)*s))
        s++;
    rest = s;
    if (*rest) {
        *rest++ = '\0';
        while (isspace((unsigned char)*rest))
            rest++;
        for (char *t = rest + strlen(rest); t > rest && isspace((unsigned char)t[-1]);)
            *--t = '\0';
    }
    if (strcmp(word, "ofad") == 0 && *rest == '\0') {
        if (x->ofad_seen) {
            ctx_fail(x, "section [ofad] given twice");
            return;
        }
        x->ofad_seen = true;
        x->sec = SEC_OFAD;
        return;
    }
    if (strcmp(word, "arena") == 0) {
        struct cfg_arena a;
        if (proto_name_check(rest, strlen(rest)) < 0) {
            ctx_fail(x, "bad arena name '%s' (1 to 63 of A-Z a-z 0-9 . _ -)", rest);
            return;
        }
        if (cfg_find_arena(x->c, rest) != NULL) {
            ctx_fail(x, "arena %s defined twice", rest);
            return;
        }
        memset(&a, 0, sizeof(a));
        strcpy(a.name, rest);
        a.line = x->line;
        if (cfg_put_arena(x->c, &a) < 0) {
            if (x->rc == 0)
                x->rc = -ENOMEM;
            return;
        }
        x->sec = SEC_ARENA;
        x->arena = cfg_find_arena(x->c, rest);
        return;
    }
    ctx_fail(x, "unknown section [%s] (expected [ofad] or [arena NAME])", buf);
}

/* Hands inih one line at a time, counting them and spotting section
 * headers. A line longer than inih's buffer is an error of its own. */
static char *ini_reader_fn(char *str, int num, void *stream)
{
    struct ini_ctx *x = stream;
    size_t len;
    const char *p;

    if (x->f != NULL) {
        if (fgets(str, num, x->f) == NULL)
            return NULL;
        len = strlen(str);
    } else {
        const char *nl;
        if (*x->text == '\0')
            return NULL;
        nl = strchr(x->text, '\n');
        len = nl ? (size_t)(nl - x->text) + 1 : strlen(x->text);
        if (len > (size_t)num - 1)
            len = (size_t)num - 1;
        memcpy(str, x->text, len);
        str[len] = '\0';
        x->text += len;
    }
    x->line++;
    if (len == (size_t)num - 1 && str[len - 1] != '\n') {
        ctx_fail(x, "line too long (at most %d bytes)", num - 2);
        /* Swallow the rest of the line so that the count stays right. */
        if (x->f != NULL) {
            int ch;
            while ((ch = fgetc(x->f)) != EOF && ch != '\n')
                ;
        } else {
            while (*x->text && *x->text != '\n')
                x->text++;
            if (*x->text)
                x->text++;
        }
        str[0] = '\0';
        return str;
    }
    /* inih would take an indented line for the continuation of the previous
     * value; operators indent keys under their section, so strip it. */
    for (p = str; isspace((unsigned char)*p) && *p != '\n'; p++)
        ;
    if (p != str)
        memmove(str, p, strlen(p) + 1);
    if (str[0] == '[' && x->rc == 0)
        section_begin(x, str);
    return str;
}

enum {
    K_SOCKET,
    K_RUNTIME_DIR,
    K_STATE_DIR,
    K_LOG_LEVEL,
    K_MAX_MESSAGE,
    K_MAX_ARENAS,
    K_MAX_TOTAL,
    K_MAX_CLIENTS,
    K_MAX_BLOCKS,
    K_MAX_HANDLES,
    K_MAX_OUTPUT,
    K_HANDSHAKE,
    K_CLIENTS_UID,
    K_RESERVED_CLIENTS,
    K_OUTPUT_UID,
    K_OUTPUT_TOTAL,
    K_OUTPUT_TIMEOUT,
    K_GRACE,
    K_BLOCKS_ARENA,
    K_BLOCKS_UID,
    K_METADATA,
    K_MIN_ALIGN,
    K_ARENAS_UID,
    K_RESERVED_ARENAS,
    K_BYTES_UID,
    K_RESERVED_TOTAL,
    K_CREATE_GROUP,
    K_MAX_NAMES,
    K_NAMES_UID,
    K_DEF_PAGE,
    K_DEF_MAX,
    K_DEF_ALIGN,
    K_MAX_PAGES,
};

static const char *const ofad_keys[] = {
    [K_SOCKET] = "socket",
    [K_RUNTIME_DIR] = "runtime_dir",
    [K_STATE_DIR] = "state_dir",
    [K_LOG_LEVEL] = "log_level",
    [K_MAX_MESSAGE] = "max_message",
    [K_MAX_ARENAS] = "max_arenas",
    [K_MAX_TOTAL] = "max_total",
    [K_MAX_CLIENTS] = "max_clients",
    [K_MAX_BLOCKS] = "max_blocks_per_client",
    [K_MAX_HANDLES] = "max_handles_per_client",
    [K_MAX_NAMES] = "max_names_per_arena",
    [K_NAMES_UID] = "max_names_per_uid",
    [K_MAX_OUTPUT] = "max_output",
    [K_HANDSHAKE] = "handshake_timeout",
    [K_CLIENTS_UID] = "max_clients_per_uid",
    [K_RESERVED_CLIENTS] = "reserved_clients",
    [K_OUTPUT_UID] = "max_output_per_uid",
    [K_OUTPUT_TOTAL] = "max_output_total",
    [K_OUTPUT_TIMEOUT] = "output_timeout",
    [K_GRACE] = "session_grace",
    [K_BLOCKS_ARENA] = "max_blocks_per_arena",
    [K_BLOCKS_UID] = "max_blocks_per_uid",
    [K_METADATA] = "max_metadata",
    [K_MIN_ALIGN] = "min_align",
    [K_ARENAS_UID] = "max_arenas_per_uid",
    [K_RESERVED_ARENAS] = "reserved_arenas",
    [K_BYTES_UID] = "max_bytes_per_uid",
    [K_RESERVED_TOTAL] = "reserved_total",
    [K_CREATE_GROUP] = "create_group",
    [K_DEF_PAGE] = "default_page_size",
    [K_DEF_MAX] = "default_max_bytes",
    [K_DEF_ALIGN] = "default_align",
    [K_MAX_PAGES] = "max_pages",
};

static int size_in(const char *val, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v;

    if (proto_parse_size(val, &v) < 0 || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* The [ofad] keys that are one bounded number, a size ("64K") or a count,
 * stored in a uint32_t or uint64_t field of struct cfg. */
struct limit {
    bool size;
    uint64_t min, max;
    size_t off;
    bool wide;
    const char *range; /* the bounds, for the error message */
};

#define FIELD32(f) offsetof(struct cfg, f), false
#define FIELD64(f) offsetof(struct cfg, f), true

static const struct limit limits[] = {
    [K_MAX_MESSAGE] = {true, PROTO_MIN_MAX_MSG, PROTO_MAX_MAX_MSG, FIELD32(max_message),
                       "from 4K to 16M"},
    [K_MAX_ARENAS] = {false, 1, PROTO_MAX_ARENAS, FIELD32(max_arenas), "from 1 to 4096"},
    [K_MAX_TOTAL] = {true, 4096, UINT64_MAX, FIELD64(max_total), "a size of at least 4K"},
    [K_MAX_CLIENTS] = {false, 1, 1u << 20, FIELD32(max_clients), "from 1 to 1048576"},
    [K_MAX_BLOCKS] = {false, 1, UINT32_MAX, FIELD64(max_blocks_per_client),
                      "from 1 to 4294967295"},
    [K_MAX_HANDLES] = {false, 1, 65536, FIELD32(max_handles_per_client), "from 1 to 65536"},
    [K_MAX_NAMES] = {false, 1, 1u << 20, FIELD32(max_names_per_arena), "from 1 to 1048576"},
    [K_NAMES_UID] = {false, 0, 1u << 24, FIELD32(max_names_per_uid), "from 0 to 16777216"},
    [K_MAX_OUTPUT] = {true, 4096, 1ull << 30, FIELD64(max_output), "from 4K to 1G"},
    [K_HANDSHAKE] = {false, 1, 3600, FIELD32(handshake_timeout), "seconds, from 1 to 3600"},
    [K_CLIENTS_UID] = {false, 0, 1u << 20, FIELD32(max_clients_per_uid), "from 0 to 1048576"},
    [K_RESERVED_CLIENTS] = {false, 0, 1u << 20, FIELD32(reserved_clients), "from 0 to 1048576"},
    [K_OUTPUT_UID] = {true, 4096, 1ull << 40, FIELD64(max_output_per_uid), "from 4K to 1T"},
    [K_OUTPUT_TOTAL] = {true, 4096, 1ull << 40, FIELD64(max_output_total), "from 4K to 1T"},
    [K_OUTPUT_TIMEOUT] = {false, 1, 86400, FIELD32(output_timeout), "seconds, from 1 to 86400"},
    [K_GRACE] = {false, 1, 86400, FIELD32(session_grace), "seconds, from 1 to 86400"},
    [K_MAX_PAGES] = {false, 1, 1u << 24, FIELD64(max_pages), "from 1 to 16777216"},
    [K_BLOCKS_ARENA] = {false, 1, UINT32_MAX, FIELD64(max_blocks_per_arena),
                        "from 1 to 4294967295"},
    [K_BLOCKS_UID] = {false, 1, UINT32_MAX, FIELD64(max_blocks_per_uid), "from 1 to 4294967295"},
    [K_METADATA] = {true, 1ull << 16, UINT64_MAX, FIELD64(max_metadata), "a size of at least 64K"},
    [K_ARENAS_UID] = {false, 0, PROTO_MAX_ARENAS, FIELD32(max_arenas_per_uid), "from 0 to 4096"},
    [K_RESERVED_ARENAS] = {false, 0, PROTO_MAX_ARENAS, FIELD32(reserved_arenas),
                           "from 0 to 4096"},
    [K_BYTES_UID] = {true, 0, UINT64_MAX, FIELD64(max_bytes_per_uid), "a size"},
    [K_RESERVED_TOTAL] = {true, 0, UINT64_MAX - 1, FIELD64(reserved_total), "a size"},
};

_Static_assert(PROTO_MAX_ARENAS == 4096, "the max_arenas message states the bound");

static void limit_key(struct ini_ctx *x, size_t k, const char *val)
{
    const struct limit *l = &limits[k];
    char *field = (char *)x->c + l->off;
    uint64_t v;
    int rc;

    rc = l->size ? size_in(val, l->min, l->max, &v) : cfg_parse_count(val, l->min, l->max, &v);
    if (rc < 0) {
        ctx_fail(x, "bad %s '%s' (%s)", ofad_keys[k], val, l->range);
        return;
    }
    if (l->wide) {
        memcpy(field, &v, sizeof(v));
    } else {
        uint32_t v32 = (uint32_t)v;
        memcpy(field, &v32, sizeof(v32));
    }
}

static void ofad_key(struct ini_ctx *x, const char *key, const char *val)
{
    struct cfg *c = x->c;
    size_t k;

    for (k = 0; k < sizeof(ofad_keys) / sizeof(ofad_keys[0]); k++) {
        if (strcmp(key, ofad_keys[k]) == 0)
            break;
    }
    if (k == sizeof(ofad_keys) / sizeof(ofad_keys[0])) {
        ctx_fail(x, "unknown key '%s' in [ofad]", key);
        return;
    }
    if (x->ofad_keys & (1ull << k)) {
        ctx_fail(x, "'%s' given twice", key);
        return;
    }
    x->ofad_keys |= 1ull << k;
    switch (k) {
    case K_SOCKET:
        if (val[0] == '\0' || strlen(val) >= sizeof(c->socket)) {
            ctx_fail(x, "bad socket path '%s'", val);
            return;
        }
        strcpy(c->socket, val);
        return;
    case K_RUNTIME_DIR:
        if (val[0] != '/' || strlen(val) >= sizeof(c->runtime_dir) - 64) {
            ctx_fail(x, "bad runtime_dir '%s' (an absolute path)", val);
            return;
        }
        strcpy(c->runtime_dir, val);
        return;
    case K_STATE_DIR:
        if (val[0] != '/' || strlen(val) >= sizeof(c->state_dir) - 64) {
            ctx_fail(x, "bad state_dir '%s' (an absolute path)", val);
            return;
        }
        strcpy(c->state_dir, val);
        return;
    case K_LOG_LEVEL: {
        int l = log_level_parse(val);
        if (l < 0) {
            ctx_fail(x, "bad log_level '%s' (err, warning, notice, info or debug)", val);
            return;
        }
        c->log_level = l;
        return;
    }
    case K_MAX_MESSAGE:
    case K_MAX_ARENAS:
    case K_MAX_TOTAL:
    case K_MAX_CLIENTS:
    case K_MAX_BLOCKS:
    case K_MAX_HANDLES:
    case K_MAX_OUTPUT:
    case K_HANDSHAKE:
    case K_CLIENTS_UID:
    case K_RESERVED_CLIENTS:
    case K_OUTPUT_UID:
    case K_OUTPUT_TOTAL:
    case K_OUTPUT_TIMEOUT:
    case K_GRACE:
    case K_MAX_PAGES:
    case K_BLOCKS_ARENA:
    case K_BLOCKS_UID:
    case K_METADATA:
    case K_ARENAS_UID:
    case K_RESERVED_ARENAS:
    case K_BYTES_UID:
    case K_RESERVED_TOTAL:
    case K_MAX_NAMES:
    case K_NAMES_UID:
        limit_key(x, k, val);
        return;
    case K_MIN_ALIGN:
        if (cfg_parse_align(val, &c->min_align) < 0)
            ctx_fail(x, "bad min_align '%s' (a power of two from 8 to 4096)", val);
        return;
    case K_CREATE_GROUP: {
        uint32_t gid;
        int rc = cfg_parse_group(val, &gid);
        if (rc < 0) {
            ctx_fail(x, "bad create_group '%s' (%s)", val,
                     rc == -ENOENT ? "no such group" : "a group name or number");
            return;
        }
        c->create_gid = gid;
        return;
    }
    case K_DEF_PAGE:
        if (cfg_parse_page_size(val, &c->default_page_size) < 0)
            ctx_fail(x, "bad default_page_size '%s' (a multiple of 4096 from 4K to 1T)", val);
        return;
    case K_DEF_MAX:
        if (size_in(val, 1, UINT64_MAX, &c->default_max_bytes) < 0)
            ctx_fail(x, "bad default_max_bytes '%s' (a size, not 0)", val);
        return;
    case K_DEF_ALIGN:
        if (cfg_parse_align(val, &c->default_align) < 0)
            ctx_fail(x, "bad default_align '%s' (a power of two from 8 to 4096)", val);
        return;
    }
}

static int ini_handler_fn(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *x = user;
    char msg[CFG_ERR_LEN];
    int rc;

    (void)section; /* the reader has already classified it */
    if (x->rc != 0)
        return 1; /* the first error is the one reported */
    switch (x->sec) {
    case SEC_NONE:
        ctx_fail(x, "key '%s' outside a section", name);
        return 1;
    case SEC_OFAD:
        ofad_key(x, name, value);
        return 1;
    case SEC_ARENA:
        rc = arena_key(x->arena, name, value, msg, sizeof(msg));
        if (rc == 1)
            ctx_fail(x, "unknown key '%s' in [arena %s]", name, x->arena->name);
        else if (rc < 0)
            ctx_fail(x, "%s", msg);
        return 1;
    }
    return 1;
}

static int ini_run(struct ini_ctx *x)
{
    int rc = ini_parse_stream(ini_reader_fn, x, ini_handler_fn, x);

    if (x->rc != 0)
        return x->rc;
    if (rc > 0) {
        /* inih's own syntax error (no '=', no ']'): it names the line. */
        x->line = (unsigned)rc;
        ctx_fail(x, "syntax error (expected [section] or key = value)");
        return x->rc;
    }
    if (rc < 0) {
        log_errbuf(x->err, x->errlen, "%s: cannot parse (out of memory)", x->name);
        return -ENOMEM;
    }
    return 0;
}

int cfg_load_string(struct cfg *c, const char *text, const char *name, char *err, size_t errlen)
{
    struct ini_ctx x;

    memset(&x, 0, sizeof(x));
    x.c = c;
    x.name = name;
    x.text = text;
    x.err = err;
    x.errlen = errlen;
    return ini_run(&x);
}

int cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen)
{
    struct ini_ctx x;
    int rc;

    memset(&x, 0, sizeof(x));
    x.c = c;
    x.name = path;
    x.err = err;
    x.errlen = errlen;
    x.f = fopen(path, "re");
    if (x.f == NULL) {
        rc = -errno;
        log_errbuf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    rc = ini_run(&x);
    if (rc == 0 && ferror(x.f)) {
        log_errbuf(err, errlen, "%s: read error", path);
        rc = -EIO;
    }
    fclose(x.f);
    return rc;
}

int cfg_fit_nofile(struct cfg *c, uint64_t nofile, char *err, size_t errlen)
{
    uint64_t other = (uint64_t)c->max_clients + CFG_NOFILE_SPARE;
    uint64_t room = nofile > other ? nofile - other : 0;

    if (c->max_pages == 0) {
        /* Clients may take fewer than max_clients; never leave pages out. */
        c->max_pages = room >= 16 ? room : (nofile / 4 > 0 ? nofile / 4 : 1);
        if (c->max_pages > CFG_DEFAULT_MAX_PAGES)
            c->max_pages = CFG_DEFAULT_MAX_PAGES;
        return 0;
    }
    if (c->max_pages > room) {
        log_errbuf(err, errlen,
                   "max_pages %llu does not fit the descriptor limit %llu (max_clients %u and %u "
                   "more are needed besides; raise LimitNOFILE= or lower max_pages)",
                   (unsigned long long)c->max_pages, (unsigned long long)nofile, c->max_clients,
                   CFG_NOFILE_SPARE);
        return -EINVAL;
    }
    return 0;
}

int cfg_finish(struct cfg *c, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    if (c->n_arenas == 0) {
        struct cfg_arena a;
        memset(&a, 0, sizeof(a));
        strcpy(a.name, CFG_DEFAULT_ARENA);
        if (cfg_put_arena(c, &a) < 0) {
            log_errbuf(err, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    if (c->n_arenas > c->max_arenas) {
        log_errbuf(err, errlen, "%zu arenas configured but max_arenas is %u", c->n_arenas,
                   c->max_arenas);
        return -EINVAL;
    }
    for (size_t i = 0; i < c->n_arenas; i++) {
        struct cfg_arena *a = &c->arenas[i];
        if (!(a->set & CFG_A_PAGE_SIZE))
            a->page_size = c->default_page_size;
        if (!(a->set & CFG_A_MAX))
            a->max_bytes = c->default_max_bytes;
        if (!(a->set & CFG_A_ALIGN))
            a->align = c->default_align;
        if (!(a->set & CFG_A_MODE))
            a->mode = CFG_DEFAULT_MODE;
        if (!(a->set & CFG_A_CACHE_MAX))
            a->cache_max = CFG_DEFAULT_CACHE_MAX;
        if (!(a->set & CFG_A_OWNER))
            a->uid = (uint32_t)uid;
        if (!(a->set & CFG_A_GROUP)) {
            if (!(a->set & CFG_A_OWNER) || a->gid == UINT32_MAX)
                a->gid = (uint32_t)gid;
        }
    }
    return 0;
}

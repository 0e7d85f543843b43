/*
 * parse.c - small shared tables and parsers: arena names, sizes with unit
 * suffixes, version strings, the wire error codes and op names.
 *
 * Everything here is a pure function of its arguments. The wire error table
 * is the single place where PROTO_E* codes meet errno values: errno numbers
 * differ between systems, so they never travel on the wire.
 *
 * The errors themselves are listed once, in proto.h (PROTO_ERR_MAP); every
 * table and name lookup here is made from that list.
 *
 * Called by the codec (names and version strings inside messages), by ofad
 * (flags, config file, error replies, logs) and by libofaclient (errors).
 */
#include "proto_int.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

int proto_name_check(const char *name, size_t len)
{
    if (!name || len == 0 || len > PROTO_NAME_MAX)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '_' || c == '-')
            continue;
        return -EINVAL;
    }
    return 0;
}

int proto_block_name_check(const char *name, size_t len)
{
    if (!name || len == 0 || len > PROTO_BLOCK_NAME_MAX)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '_' || c == '-' || c == ':' || c == '/')
            continue;
        return -EINVAL;
    }
    return 0;
}

int proto__version_str_check(const char *s, size_t len)
{
    if (len > PROTO_VERSION_STR_MAX || (len && !s))
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        /* Printable ASCII only: these strings end up on terminals. */
        if (c < 0x20 || c > 0x7e)
            return -EINVAL;
    }
    return 0;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int proto_parse_size(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    unsigned shift = 0;
    const char *p = s;

    /* Digits only at the start: no sign, no blank, no "0x" (strtoull would
     * take all three, and "-1" would wrap to 16 EiB). */
    if (!p || *p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');

        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    switch (lower(*p)) {
    case 'k':
        shift = 10;
        break;
    case 'm':
        shift = 20;
        break;
    case 'g':
        shift = 30;
        break;
    case 't':
        shift = 40;
        break;
    default:
        break;
    }
    if (shift) {
        p++;
        if (lower(*p) == 'i') {
            p++;
            if (lower(*p) != 'b')
                return -EINVAL;
        }
    }
    if (lower(*p) == 'b')
        p++;
    if (*p != '\0')
        return -EINVAL;
    if (v > (UINT64_MAX >> shift))
        return -EINVAL;
    *out = v << shift;
    return 0;
}

const uint8_t proto__req_fields[PROTO_OP_MAX + 1] = {
    [PROTO_OP_HELLO] = 4,   /* op id version max_msg */
    [PROTO_OP_PING] = 2,    /* op id */
    [PROTO_OP_CREATE] = 7,  /* op id name page_size max_bytes align mode */
    [PROTO_OP_DROP] = 4,    /* op id name force */
    [PROTO_OP_OPEN] = 3,    /* op id name */
    [PROTO_OP_CLOSE] = 3,   /* op id arena */
    [PROTO_OP_ALLOC] = 6,   /* op id arena size align flags */
    [PROTO_OP_FREE] = 4,    /* op id arena off */
    [PROTO_OP_ALLOC_N] = 7, /* op id arena size align flags count */
    [PROTO_OP_FREE_N] = 4,  /* op id arena [off...] */
    [PROTO_OP_PAGE] = 4,    /* op id arena off */
    [PROTO_OP_PAGES] = 3,   /* op id arena */
    [PROTO_OP_STATS] = 3,   /* op id name */
    [PROTO_OP_ARENAS] = 2,  /* op id */
    [PROTO_OP_DAEMON] = 2,  /* op id */
    [PROTO_OP_CLIENTS] = 3,  /* op id cursor */
    [PROTO_OP_BLOCKS] = 5,   /* op id name cursor flags */
    [PROTO_OP_VALIDATE] = 3, /* op id name */
    [PROTO_OP_ALLOC_NAMED] = 6, /* op id arena name size flags */
    [PROTO_OP_NAME_BIND] = 5,   /* op id arena name off */
    [PROTO_OP_NAME_UNBIND] = 4, /* op id arena name */
    [PROTO_OP_LOOKUP] = 4,      /* op id arena name */
    [PROTO_OP_LOOKUP_WAIT] = 5, /* op id arena_name name timeout_ms */
    [PROTO_OP_NAMES] = 3,       /* op id arena_name */
    [PROTO_OP_BLOCK_SIZE] = 4,  /* op id arena off */
    [PROTO_OP_SESSION] = 2, /* op id */
    [PROTO_OP_RESUME] = 4,  /* op id session secret */
    [PROTO_OP_BYE] = 2,     /* op id */
    [PROTO_OP_CACHE] = 3,   /* op id arena */
    [PROTO_OP_FILL] = 7,    /* op id arena size count blocks bytes */
    [PROTO_OP_DRAIN] = 6,   /* op id arena blocks bytes [off...] */
};

const uint8_t proto__rep_fields[PROTO_OP_MAX + 1] = {
    [PROTO_OP_HELLO] = 6,   /* op id err version max_msg server */
    [PROTO_OP_PING] = 3,    /* op id err */
    [PROTO_OP_CREATE] = 3,  /* op id err */
    [PROTO_OP_DROP] = 3,    /* op id err */
    [PROTO_OP_OPEN] = 8,    /* op id err arena writable align page_size max_bytes */
    [PROTO_OP_CLOSE] = 3,   /* op id err */
    [PROTO_OP_ALLOC] = 4,   /* op id err off */
    [PROTO_OP_FREE] = 3,    /* op id err */
    [PROTO_OP_ALLOC_N] = 4, /* op id err [off...] */
    [PROTO_OP_FREE_N] = 4,  /* op id err count (also when err != 0) */
    [PROTO_OP_PAGE] = 6,    /* op id err base len writable */
    [PROTO_OP_PAGES] = 4,   /* op id err [base...] */
    [PROTO_OP_STATS] = 4,   /* op id err {record} */
    [PROTO_OP_ARENAS] = 4,  /* op id err [{record}...] */
    [PROTO_OP_DAEMON] = 4,  /* op id err {record} */
    [PROTO_OP_CLIENTS] = 5,  /* op id err next [{row}...] */
    [PROTO_OP_BLOCKS] = 5,   /* op id err next [u64...] */
    [PROTO_OP_VALIDATE] = 3, /* op id err */
    [PROTO_OP_ALLOC_NAMED] = 5, /* op id err off created */
    [PROTO_OP_NAME_BIND] = 3,   /* op id err */
    [PROTO_OP_NAME_UNBIND] = 3, /* op id err */
    [PROTO_OP_LOOKUP] = 5,      /* op id err off size */
    [PROTO_OP_LOOKUP_WAIT] = 5, /* op id err off size */
    [PROTO_OP_NAMES] = 5,       /* op id err waiting [[name off size uid pid]...] */
    [PROTO_OP_BLOCK_SIZE] = 4,  /* op id err size */
    [PROTO_OP_SESSION] = 5, /* op id err session secret */
    [PROTO_OP_RESUME] = 3,  /* op id err */
    [PROTO_OP_BYE] = 3,     /* op id err */
    [PROTO_OP_CACHE] = 7,   /* op id err private cache_max slot ticket */
    [PROTO_OP_FILL] = 4,    /* op id err [off...] */
    [PROTO_OP_DRAIN] = 4,   /* op id err count (also when err != 0) */
};

/* Indexed by wire code. */
static const struct {
    const char *name;
    int neg_errno;
} err_table[PROTO_ERR_MAX + 1] = {
    [PROTO_OK] = {"OK", 0},
#define ERR_ENTRY(name, code, text) [PROTO_##name] = {#name, -name},
    PROTO_ERR_MAP(ERR_ENTRY)
#undef ERR_ENTRY
};

/* PROTO_ERR_MAX is the last wire code of the map (codes between may be
 * reserved: their table entries stay empty and read as unknown). */
#define ERR_MAX_OF(name, code, text) ((code) > PROTO_ERR_MAX ? -1000 : (code) == PROTO_ERR_MAX) +
_Static_assert(PROTO_ERR_MAP(ERR_MAX_OF) 0 == 1, "PROTO_ERR_MAX is the last wire code");
#undef ERR_MAX_OF

int proto_err_to_errno(uint32_t err)
{
    if (err > PROTO_ERR_MAX || (err != PROTO_OK && err_table[err].name == NULL))
        return -EPROTO;
    return err_table[err].neg_errno;
}

uint32_t proto_errno_to_err(int neg_errno)
{
    switch (neg_errno) {
    case 0:
        return PROTO_OK;
    case -EBADMSG: /* what the decoder says of a malformed request */
        return PROTO_EPROTO;
    case -ENOSPC: /* a full /dev/shm is a limit reached, as the spec says */
        return PROTO_ENOMEM;
    default:
        break;
    }
    for (uint32_t i = 1; i <= PROTO_ERR_MAX; i++)
        if (err_table[i].name != NULL && err_table[i].neg_errno == neg_errno)
            return i;
    return PROTO_EIO;
}

const char *proto_err_name(uint32_t err)
{
    return err <= PROTO_ERR_MAX && err_table[err].name != NULL ? err_table[err].name : "UNKNOWN";
}

const char *proto_errno_name(int err)
{
    const char *s;

    if (err > 0)
        err = -err; /* never overflows, unlike negating a negative int */
    switch (err) {
    case 0:
        return "OK";
#define NAME_CASE(name, code, text)                                                            \
    case -name:                                                                                \
        return #name;
        PROTO_ERR_MAP(NAME_CASE)
#undef NAME_CASE
#define LOCAL_NAME_CASE(name, text)                                                            \
    case -name:                                                                                \
        return #name;
        PROTO_LOCAL_ERR_MAP(LOCAL_NAME_CASE)
#undef LOCAL_NAME_CASE
    default:
        break;
    }
    s = err == INT_MIN ? NULL : strerrorname_np(-err);
    return s != NULL ? s : "EUNKNOWN";
}

const char *proto_errno_text(int err)
{
    const char *s;

    if (err > 0)
        err = -err;
    switch (err) {
    case 0:
        return "success";
#define TEXT_CASE(name, code, text)                                                            \
    case -name:                                                                                \
        return text;
        PROTO_ERR_MAP(TEXT_CASE)
#undef TEXT_CASE
#define LOCAL_TEXT_CASE(name, text)                                                            \
    case -name:                                                                                \
        return text;
        PROTO_LOCAL_ERR_MAP(LOCAL_TEXT_CASE)
#undef LOCAL_TEXT_CASE
    default:
        break;
    }
    s = err == INT_MIN ? NULL : strerrordesc_np(-err);
    return s != NULL ? s : "unknown error";
}

static const char *const op_names[PROTO_OP_MAX + 1] = {
    [PROTO_OP_HELLO] = "HELLO",   [PROTO_OP_PING] = "PING",     [PROTO_OP_CREATE] = "CREATE",
    [PROTO_OP_DROP] = "DROP",     [PROTO_OP_OPEN] = "OPEN",     [PROTO_OP_CLOSE] = "CLOSE",
    [PROTO_OP_ALLOC] = "ALLOC",   [PROTO_OP_FREE] = "FREE",     [PROTO_OP_ALLOC_N] = "ALLOC_N",
    [PROTO_OP_FREE_N] = "FREE_N", [PROTO_OP_PAGE] = "PAGE",     [PROTO_OP_PAGES] = "PAGES",
    [PROTO_OP_STATS] = "STATS",   [PROTO_OP_ARENAS] = "ARENAS", [PROTO_OP_DAEMON] = "DAEMON",
    [PROTO_OP_CLIENTS] = "CLIENTS",
    [PROTO_OP_BLOCKS] = "BLOCKS",
    [PROTO_OP_VALIDATE] = "VALIDATE",
    [PROTO_OP_ALLOC_NAMED] = "ALLOC_NAMED", [PROTO_OP_NAME_BIND] = "NAME_BIND",
    [PROTO_OP_NAME_UNBIND] = "NAME_UNBIND", [PROTO_OP_LOOKUP] = "LOOKUP",
    [PROTO_OP_LOOKUP_WAIT] = "LOOKUP_WAIT", [PROTO_OP_NAMES] = "NAMES",
    [PROTO_OP_BLOCK_SIZE] = "BLOCK_SIZE",
    [PROTO_OP_SESSION] = "SESSION", [PROTO_OP_RESUME] = "RESUME", [PROTO_OP_BYE] = "BYE",
    [PROTO_OP_CACHE] = "CACHE",   [PROTO_OP_FILL] = "FILL",     [PROTO_OP_DRAIN] = "DRAIN",
};

const char *proto_op_name(uint32_t op)
{
    /* The table has holes where op codes are not (or no longer) in use. */
    return op >= 1 && op <= PROTO_OP_MAX && op_names[op] ? op_names[op] : "UNKNOWN";
}

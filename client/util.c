/*
 * util.c - public helpers that need no daemon: arena names, sizes, arena
 * configurations, and the detailed message of the last failure.
 *
 * The checks here are the daemon's own (proto_name_check, proto_parse_size,
 * the arena bounds), offered to users so that a tool can refuse a bad value
 * before it connects: ofactl exits 2 and sends nothing.
 *
 * The detailed message lives in thread-local storage, one buffer per thread,
 * written only on failure paths (the fast paths never touch it). Internal
 * callers set it with ofa__fail(); ofa__call() sets a first one for every
 * failed exchange and the calls that know more (the arena's name, the
 * offset) write over it.
 *
 * Called by: users, ofactl, and the rest of the library (ofa__fail).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client.h"

_Static_assert(OFA_NAME_MAX == PROTO_NAME_MAX, "public and wire name limits differ");

static _Thread_local char last_msg[512];

int ofa__fail(int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
    va_end(ap);
    return rc;
}

int ofa__fail_arena(struct ofa_client *c, int rc, const char *name)
{
    /* A broken connection is about the daemon, not the arena: ofa__call
     * said so already. */
    if (c != NULL && c->broken != 0)
        return rc;
    return ofa__fail(rc, "arena %s: %s", name != NULL ? name : "(null)", ofa_strerror(rc));
}

const char *ofa_errmsg(void)
{
    return last_msg[0] != '\0' ? last_msg : "no error";
}

int ofa_arena_name_valid(const char *name)
{
    return name != NULL && proto_name_check(name, strnlen(name, PROTO_NAME_MAX + 1)) == 0;
}

int ofa_parse_size(const char *s, uint64_t *out)
{
    if (out == NULL)
        return ofa__fail(-EINVAL, "no place for the size");
    if (proto_parse_size(s, out) < 0)
        return ofa__fail(-EINVAL, "not a size: '%s' (digits, then K, M, G or T)",
                         s != NULL ? s : "(null)");
    return 0;
}

int ofa_arena_config_check(const ofa_arena_config *cfg)
{
    if (cfg == NULL)
        return 0;
    if (cfg->page_size != 0 &&
        (cfg->page_size < OFA_PAGE_SIZE_MIN || cfg->page_size > OFA_PAGE_SIZE_MAX ||
         cfg->page_size % OFA_PAGE_SIZE_MIN != 0))
        return ofa__fail(-EINVAL,
                         "page size %llu: not a multiple of 4096 between 4K and 1T",
                         (unsigned long long)cfg->page_size);
    if (cfg->max_bytes > OFA_MAX_BYTES_MAX)
        return ofa__fail(-EINVAL, "max bytes %llu: over 2^63 - 1",
                         (unsigned long long)cfg->max_bytes);
    if (cfg->align != 0 && (cfg->align < OFA_ALIGN_MIN || cfg->align > OFA_ALIGN_MAX ||
                            (cfg->align & (cfg->align - 1)) != 0))
        return ofa__fail(-EINVAL, "alignment %u: not a power of two between 8 and 4096",
                         cfg->align);
    if (cfg->mode > 0777)
        return ofa__fail(-EINVAL, "mode %04o: only permission bits (at most 0777)", cfg->mode);
    if (cfg->private_default > 1)
        return ofa__fail(-EINVAL, "private default %u: 0 or 1", cfg->private_default);
    return 0;
}

/*
 * errors.c - names and sentences for the errors libofaclient returns.
 *
 * The table covers every errno the API documents, with a sentence in the
 * terms of ofa (an ENOENT from this library means "no such arena", not "no
 * such file or directory"). Other values get the C library's description,
 * through the thread-safe glibc functions that return constant strings.
 * Both functions take the negative value the API returns; a positive errno
 * is accepted too, since callers holding errno-style values are common.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "ofaclient.h"

struct err_entry {
    int err;
    const char *name;
    const char *text;
};

static const struct err_entry table[] = {
    {0, "OK", "success"},
    {ENOENT, "ENOENT", "no such arena"},
    {EEXIST, "EEXIST", "the arena exists"},
    {EACCES, "EACCES", "not permitted by the arena's owner, group and mode"},
    {EINVAL, "EINVAL", "invalid argument, or not the start of a live block"},
    {ENOMEM, "ENOMEM", "an arena or daemon memory limit is reached"},
    {EBUSY, "EBUSY", "the arena has live blocks"},
    {EMFILE, "EMFILE", "a per-connection limit of the daemon is reached"},
    {EPROTO, "EPROTO", "the daemon sent something unexpected"},
    {ECONNRESET, "ECONNRESET", "the connection to the daemon was closed"},
    {EPIPE, "EPIPE", "the daemon is gone"},
    {ECONNREFUSED, "ECONNREFUSED", "no daemon is listening on the socket"},
    {EBADF, "EBADF", "the arena handle is not open on this connection"},
    {EMSGSIZE, "EMSGSIZE", "message too large for the daemon"},
    {ENOTSUP, "ENOTSUP", "protocol version not supported"},
    {EIO, "EIO", "the daemon failed to create or pass a page"},
    {ETIMEDOUT, "ETIMEDOUT", "the time ran out (the daemon did not answer, or nothing came)"},
    {EAGAIN, "EAGAIN", "the word no longer held the expected value"},
};

static const struct err_entry *lookup(int err)
{
    size_t i;

    if (err > 0)
        err = -err; /* never overflows, unlike negating a negative int */
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (-table[i].err == err)
            return &table[i];
    return NULL;
}

const char *ofa_strerror(int err)
{
    const struct err_entry *e = lookup(err);
    const char *s;

    if (e != NULL)
        return e->text;
    s = err == INT_MIN ? NULL : strerrordesc_np(err < 0 ? -err : err);
    return s != NULL ? s : "unknown error";
}

const char *ofa_err_name(int err)
{
    const struct err_entry *e = lookup(err);
    const char *s;

    if (e != NULL)
        return e->name;
    s = err == INT_MIN ? NULL : strerrorname_np(err < 0 ? -err : err);
    return s != NULL ? s : "EUNKNOWN";
}

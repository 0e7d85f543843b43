/*
 * errors.c - names and sentences for the errors libofaclient returns.
 *
 * The errors and their sentences are listed once, in proto.h
 * (PROTO_ERR_MAP, PROTO_LOCAL_ERR_MAP), in the terms of ofa: an ENOENT from
 * this library means "no such arena", not "no such file or directory".
 * Other values get the C library's name and description, through the
 * thread-safe glibc functions that return constant strings. Both functions
 * take the negative value the API returns; a positive errno is accepted too,
 * since callers holding errno-style values are common.
 */
#include "client.h"

const char *ofa_strerror(int err)
{
    return proto_errno_text(err);
}

const char *ofa_err_name(int err)
{
    return proto_errno_name(err);
}

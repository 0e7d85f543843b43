/*
 * fuzz_proto.c - libFuzzer harness for the wire codec.
 *
 * Built only with clang and -DOFA_FUZZ=ON (target fuzz_proto). Feeds each
 * input to proto_frame() and to both decoders. Whatever a decoder accepts
 * must encode, and the encoding must be a fixed point: decoding it and
 * encoding again gives the same bytes. Any crash, sanitizer report or
 * abort() is a finding.
 *
 *   ./fuzz_proto -max_len=4096 corpus/
 */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct proto_dec *d1, *d2;

static void check_rc(int rc)
{
    if (rc != 0 && rc != -EPROTO && rc != -EBADMSG)
        abort();
}

/* Encodes, decodes, encodes again: the two encodings must match. */
static void fixed_point(int rep, const struct proto_req *q, const struct proto_rep *r)
{
    struct proto_buf a, b;
    struct proto_req q2;
    struct proto_rep r2;

    proto_buf_init(&a);
    proto_buf_init(&b);
    if ((rep ? proto_encode_rep(&a, r) : proto_encode_req(&a, q)) != 0)
        abort();
    if ((rep ? proto_decode_rep(d2, a.data + 4, a.len - 4, &r2)
             : proto_decode_req(d2, a.data + 4, a.len - 4, &q2)) != 0)
        abort();
    if ((rep ? proto_encode_rep(&b, &r2) : proto_encode_req(&b, &q2)) != 0)
        abort();
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort();
    proto_buf_free(&a);
    proto_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_req q;
    struct proto_rep r;
    size_t fl;
    int rc;

    if (!d1 && (proto_dec_new(&d1) != 0 || proto_dec_new(&d2) != 0))
        abort();
    rc = proto_frame(data, size, PROTO_DEFAULT_MAX_MSG, &fl);
    if (rc != 0 && rc != 1 && rc != -EMSGSIZE)
        abort();
    if (rc == 1 && fl > size)
        abort();
    rc = proto_decode_req(d1, data, size, &q);
    check_rc(rc);
    if (rc == 0)
        fixed_point(0, &q, NULL);
    rc = proto_decode_rep(d1, data, size, &r);
    check_rc(rc);
    if (rc == 0)
        fixed_point(1, NULL, &r);
    return 0;
}

/*
 * frame.c - framing and the output buffer.
 *
 * Owns struct proto_buf (a growable byte array that encoders append whole
 * frames to and that callers drain from the front) and proto_frame(), which
 * finds the boundary of the next frame in a byte stream.
 *
 * A frame is a 4-byte big-endian payload length N followed by N payload
 * bytes, 1 <= N <= the receiver's max_msg. proto_frame() judges a frame by
 * its header alone, as soon as the 4 header bytes are there: a peer that
 * announces 2 GiB is refused before anyone reserves a byte for it, and
 * proto_frame() itself never allocates.
 *
 * Invariants of proto_buf: len <= cap; data is NULL exactly when cap is 0.
 * Growth doubles, so appending n bytes one message at a time costs O(n).
 *
 * Called by the encoders (encode.c's msgpack_packer callback appends through
 * proto_buf_reserve), by ofad and by libofaclient.
 */
#include "proto_int.h"

#include <assert.h>
#include <stdint.h>
#include <stddef.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 256u

void proto_buf_init(struct proto_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void proto_buf_free(struct proto_buf *b)
{
    free(b->data);
    proto_buf_init(b);
}

void proto_buf_consume(struct proto_buf *b, size_t n)
{
    assert(n <= b->len);
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* The slow half of proto_buf_reserve, kept out of line so that the check in
 * the hot write path stays small. */
static int buf_grow(struct proto_buf *b, size_t n)
{
    size_t need, cap;
    uint8_t *data;

    /* No object may exceed PTRDIFF_MAX bytes; asking malloc for more is an
     * error under sanitizers rather than a NULL. */
    if (n > PTRDIFF_MAX - b->len)
        return -ENOMEM;
    need = b->len + n;
    cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need) {
        if (cap > PTRDIFF_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    data = realloc(b->data, cap);
    if (!data)
        return -ENOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

int proto_buf_reserve(struct proto_buf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    return buf_grow(b, n);
}

int proto_frame(const uint8_t *p, size_t n, uint32_t max_msg, size_t *frame_len)
{
    uint32_t len;

    if (n < PROTO_HEADER_LEN)
        return 0;
    memcpy(&len, p, sizeof(len));
    len = __builtin_bswap32(len); /* big-endian on the wire; Linux hosts are little */
    if (len == 0 || len > max_msg)
        return -EMSGSIZE;
    /* len <= UINT32_MAX, so this sum cannot wrap a 64-bit size_t; on a
     * 32-bit one, compare without adding. */
    if (n - PROTO_HEADER_LEN < len)
        return 0;
    *frame_len = (size_t)len + PROTO_HEADER_LEN;
    return 1;
}

uint32_t proto_batch_fit(uint32_t max_msg)
{
    /* Besides its offsets (at most 9 bytes each), a FREE_N request holds an
     * array header, op, id, handle and list header: 1+1+9+5+3 = 19 bytes;
     * an ALLOC_N reply 1+1+9+1+3 = 15. 32 leaves a margin. */
    uint32_t n;

    if (max_msg <= 32)
        return 0;
    n = (max_msg - 32) / 9;
    return n < PROTO_MAX_BATCH ? n : PROTO_MAX_BATCH;
}

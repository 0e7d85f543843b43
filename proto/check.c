/*
 * check.c - structural validation of msgpack bytes before msgpack-c sees them.
 *
 * msgpack-c's unpacker trusts the sizes it reads: an array header claiming a
 * million elements (5 bytes: dd 00 10 00 00) makes it reserve room for a
 * million objects (~33 MB with its own stack) before it has seen a second
 * byte. proto__check() walks a payload first, reading only headers, with
 * no allocation and no recursion, and accepts it only if every claim is
 * covered by the bytes actually present:
 *
 *  - every str/bin/ext body lies inside the payload;
 *  - every element a container declares is there: the walk visits each
 *    one. So the sum of all declared container sizes is below the payload
 *    length, and what msgpack-c allocates for them is at most that many
 *    objects. "owed", the number of elements open containers still expect,
 *    must never exceed the bytes left (each element takes at least one), so
 *    that a lying header is refused where it stands, not after a walk to
 *    the end;
 *  - nesting stays within max_depth (the stack below is that deep);
 *  - exactly one object, ending at the last byte;
 *  - no 0xc1 (the one byte msgpack never uses).
 *
 * Called by the record decoders (decode.c) on every payload they hand to
 * msgpack_unpack(). The fixed-shape messages never reach msgpack-c: their
 * typed reader (decode.c) accepts only the exact sequence of scalars it
 * expects, which is a stricter check than this one.
 */
#include "proto_int.h"

#include <errno.h>

#define CHECK_MAX_DEPTH 16 /* room of the stack; callers pass PROTO_MAX_DEPTH */

static uint32_t be(const uint8_t *p, unsigned n)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int proto__check(const uint8_t *p, size_t len, int max_depth, uint32_t *objects)
{
    /* rem[d]: elements still expected by the open container at depth d;
     * rem[0] is the payload itself, which expects one object. */
    uint64_t rem[CHECK_MAX_DEPTH + 1];
    uint64_t owed = 1;
    uint32_t count = 0;
    size_t pos = 0;
    int depth = 0;

    if (max_depth < 0 || max_depth > CHECK_MAX_DEPTH || len == 0 || len > UINT32_MAX)
        return -EPROTO;
    rem[0] = 1;
    while (depth >= 0) {
        uint8_t b;
        uint64_t body = 0;  /* bytes after the header to skip */
        uint64_t elems = 0; /* elements of a container */
        int container = 0;
        unsigned lenb = 0; /* bytes of an explicit length field */

        if (rem[depth] == 0) {
            depth--;
            continue;
        }
        if (pos >= len)
            return -EPROTO;
        b = p[pos++];
        rem[depth]--;
        owed--;
        count++;

        if (b <= 0x7f || b >= 0xe0) {
            /* positive or negative fixint */
        } else if (b <= 0x8f) {
            container = 1;
            elems = 2u * (b & 0x0f);
        } else if (b <= 0x9f) {
            container = 1;
            elems = b & 0x0f;
        } else if (b <= 0xbf) {
            body = b & 0x1f;
        } else {
            switch (b) {
            case 0xc0: /* nil */
            case 0xc2: /* false */
            case 0xc3: /* true */
                break;
            case 0xc4: /* bin 8, 16, 32 */
            case 0xc5:
            case 0xc6:
                lenb = 1u << (b - 0xc4);
                break;
            case 0xc7: /* ext 8, 16, 32: length, then a type byte */
            case 0xc8:
            case 0xc9:
                lenb = 1u << (b - 0xc7);
                body = 1;
                break;
            case 0xca: /* float 32 */
                body = 4;
                break;
            case 0xcb: /* float 64 */
                body = 8;
                break;
            case 0xcc: /* uint 8..64 */
            case 0xcd:
            case 0xce:
            case 0xcf:
                body = 1u << (b - 0xcc);
                break;
            case 0xd0: /* int 8..64 */
            case 0xd1:
            case 0xd2:
            case 0xd3:
                body = 1u << (b - 0xd0);
                break;
            case 0xd4: /* fixext 1..16: a type byte and the data */
            case 0xd5:
            case 0xd6:
            case 0xd7:
            case 0xd8:
                body = 1 + (1u << (b - 0xd4));
                break;
            case 0xd9: /* str 8, 16, 32 */
            case 0xda:
            case 0xdb:
                lenb = 1u << (b - 0xd9);
                break;
            case 0xdc: /* array 16, 32 */
            case 0xdd:
                container = 1;
                lenb = b == 0xdc ? 2 : 4;
                break;
            case 0xde: /* map 16, 32 */
            case 0xdf:
                container = 2;
                lenb = b == 0xde ? 2 : 4;
                break;
            default: /* 0xc1 */
                return -EPROTO;
            }
        }
        if (lenb) {
            uint32_t n;

            if (len - pos < lenb)
                return -EPROTO;
            n = be(p + pos, lenb);
            pos += lenb;
            if (container == 1)
                elems = n;
            else if (container == 2)
                elems = 2 * (uint64_t)n;
            else
                body += n;
        }
        if (body > len - pos)
            return -EPROTO;
        pos += (size_t)body;
        if (container) {
            if (depth + 1 > max_depth)
                return -EPROTO;
            owed += elems;
            if (owed > len - pos)
                return -EPROTO;
            rem[++depth] = elems;
        }
    }
    if (pos != len)
        return -EPROTO;
    *objects = count;
    return 0;
}

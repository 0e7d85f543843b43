/*
 * proto_int.h - what the files of the proto module share and nothing else
 * sees: the decoder's layout, the structural validator, the record tables.
 * Never installed, never included outside proto/ (the tests excepted, which
 * look at the decoder's counters).
 */
#ifndef OFA_PROTO_INT_H
#define OFA_PROTO_INT_H

#include "proto.h"

#include <msgpack.h>

/*
 * Most msgpack objects a payload handed to msgpack-c may hold. The validator
 * already guarantees that declared container sizes fit the bytes present, so
 * msgpack-c's zone stays under ~24 bytes per payload byte; this caps it in
 * absolute terms too (~6 MiB) whatever the peer's max message. The largest
 * legitimate record reply (4096 arena records of 33 objects) needs ~135,000.
 */
#define PROTO__MAX_OBJECTS (1u << 18)

/* Chunk size of the decoder's msgpack zone. One STATS or DAEMON reply fits
 * in it with room to spare; msgpack_zone_clear() keeps one chunk, so steady
 * state decoding allocates nothing. */
#define PROTO__ZONE_CHUNK 16384u

struct proto_dec {
    /* Created on the first record reply: a daemon, which decodes only
     * requests, never pays for it. */
    msgpack_zone *zone;
    uint64_t *offs; /* FREE_N offsets, ALLOC_N offsets, PAGES bases */
    uint32_t offs_cap;
    struct proto_arena_info *arenas; /* ARENAS records */
    uint32_t arenas_cap;
    struct proto_client_row *clients; /* CLIENTS rows */
    uint32_t clients_cap;
    struct proto_name_info *names; /* NAMES entries */
    uint32_t names_cap;
    /* Payloads handed to msgpack_unpack(): the tests use it to prove that a
     * hostile payload never got that far. */
    uint64_t unpacks;
};

/* Number of elements of the top-level array per op (index: op): requests,
 * successful replies. Error replies have 3 (FREE_N's 4). parse.c. */
extern const uint8_t proto__req_fields[PROTO_OP_MAX + 1];
extern const uint8_t proto__rep_fields[PROTO_OP_MAX + 1];

/*
 * Walks one payload without allocating anything and returns 0 only if it is
 * exactly one msgpack object that fills it, nested at most max_depth deep
 * (a top-level scalar is depth 0, a top-level array depth 1), whose every
 * str/bin/ext length lies inside the payload and whose declared container
 * sizes could all be satisfied by the bytes left (each pending element
 * needs at least one byte, so the sum of all container sizes is <= len).
 * *objects: how many msgpack objects it holds. Returns -EPROTO otherwise.
 */
int proto__check(const uint8_t *p, size_t len, int max_depth, uint32_t *objects);

/* Record maps (STATS, ARENAS, DAEMON): packing and parsing, record.c. */
int proto__arena_valid(const struct proto_arena_info *a);
int proto__daemon_valid(const struct proto_daemon_info *di);
int proto__pack_arena(msgpack_packer *pk, const struct proto_arena_info *a);
int proto__pack_daemon(msgpack_packer *pk, const struct proto_daemon_info *di);
int proto__parse_arena(const msgpack_object *o, struct proto_arena_info *a);
int proto__parse_daemon(const msgpack_object *o, struct proto_daemon_info *di);
int proto__client_valid(const struct proto_client_row *c);
int proto__pack_client(msgpack_packer *pk, const struct proto_client_row *c);
int proto__parse_client(const msgpack_object *o, struct proto_client_row *c);

/* 0..PROTO_VERSION_STR_MAX bytes of printable ASCII. 0 or -EINVAL. */
int proto__version_str_check(const char *s, size_t len);

/* msgpack_pack_str_with_body() hands an empty body to the callback too, and
 * memcpy() from a NULL pointer is undefined even for 0 bytes. */
static inline int proto__pack_str(msgpack_packer *pk, const char *s, uint32_t len)
{
    int rc = msgpack_pack_str(pk, len);

    if (rc == 0 && len)
        rc = msgpack_pack_str_body(pk, s, len);
    return rc;
}

#endif

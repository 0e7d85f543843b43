/*
 * state.h - the records of the state file (journal.h), shared by those who
 * write them (arena.c, resume.c) and the one who reads them (restore.c).
 *
 * Every record is a fixed struct, in the byte order of the machine that
 * wrote it (a state never leaves its machine: its pages cannot), followed
 * for some by a variable part. Arenas are named by the slot they had in the
 * daemon that wrote the record, owners by their heap owner id there, blocks
 * and pages by their offset (unique in the daemon-wide offset space):
 * restore.c maps slots and owners to the new daemon's.
 *
 * A generation of the file starts with a snapshot (restore.c writes the
 * whole state as records) and goes on with the changes since.
 */
#ifndef OFAD_STATE_H
#define OFAD_STATE_H

#include <stdint.h>

enum {
    ST_DAEMON = 1, /* struct st_daemon: counters of the daemon */
    ST_ARENA,      /* struct st_arena: an arena made, or its settings now */
    ST_ARENA_DROP, /* struct st_slot */
    ST_PAGE,       /* struct st_page: a page added */
    ST_PAGE_DEL,   /* struct st_page: a page released */
    ST_BLOCKS,     /* struct st_blocks + offsets: blocks allocated */
    ST_FREES,      /* struct st_slot + offsets: blocks freed */
    ST_OWNER_DEL,  /* struct st_owner: an owner released, its blocks freed */
    ST_NAME,       /* struct st_name + the name */
    ST_UNNAME,     /* struct st_unname + the name */
    ST_SESSION,    /* struct st_session + nhandles struct st_handle */
    ST_SESSION_END, /* struct st_sid */
    ST_REPLY,      /* struct st_reply + the reply's bytes */
    ST_COUNTS,     /* struct st_counts: an arena's counters (snapshots) */
};

struct st_daemon {
    uint64_t next_base; /* the daemon-wide offset counter */
    uint64_t next_key;  /* page keys are below it */
    uint64_t next_sid;  /* session ids are at most it */
    uint64_t since_s;   /* Unix time the state was first kept */
};

struct st_arena {
    uint32_t slot, uid, gid, mode;
    uint64_t page_size, max_bytes, cache_max;
    uint32_t align, private_default;
    char name[64]; /* NUL-terminated */
};

struct st_slot {
    uint32_t slot, pad;
};

struct st_page {
    uint32_t slot, pad;
    uint64_t base, len;
    uint64_t key; /* its descriptor's name in the fd store: "p<key in hex>" */
};

/* Blocks of one size and owner (a batch, or a run of a snapshot): the
 * record's length says how many uint64_t offsets follow. */
struct st_blocks {
    uint32_t slot, owner; /* owner 0: kept (HEAP_OWNER_ARENA) */
    uint64_t size;        /* as the heap rounded it */
};

struct st_owner {
    uint32_t slot, owner;
};

struct st_name {
    uint32_t slot, uid;
    int32_t pid;
    uint32_t len;
    uint64_t off;
    /* len bytes of name follow */
};

struct st_unname {
    uint32_t slot, len;
    /* len bytes of name follow */
};

struct st_handle {
    uint32_t index; /* the client's arena handle */
    uint32_t slot;
    uint32_t owner, powner; /* powner valid when has_powner */
    uint8_t has_powner, writable, pad[6];
};

struct st_session {
    uint64_t sid, secret;
    uint64_t start; /* the process's start time (clock ticks since boot) */
    uint32_t uid;
    int32_t pid;
    uint32_t nhandles, pad;
    /* nhandles struct st_handle follow */
};

struct st_sid {
    uint64_t sid;
};

struct st_reply {
    uint64_t sid, id;
    uint32_t op, len;
    /* len bytes of the reply, as encoded, follow */
};

struct st_counts {
    uint32_t slot, pad;
    uint64_t allocs, alloc_failures, failures;
};

/* The fd store's name of page key k. */
#define ST_KEY_FMT "p%016llx"
#define ST_KEY_LEN 17

#endif

/*
 * config.h - ofad's settings: defaults, the INI file, --arena specs.
 *
 * Pure parsing and validation: no logging, no sockets, no shared memory.
 * Errors come back as a negative errno plus one line of text for the
 * operator ("ofad.conf:12: unknown key 'pagesize' in [arena frames]").
 */
#ifndef OFAD_CONFIG_H
#define OFAD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "heap.h"
#include "ofaclient.h"
#include "proto.h"

#define CFG_ERR_LEN 512

/* page_size and align: heap_page_size_valid(), heap_align_valid() (heap.h)
 * are the one definition, for flags, the file, CREATE and the heap. */
#define CFG_MODE_MASK    0777u /* an arena's mode: permission bits only */
#define CFG_DEFAULT_MODE 0600u

/* Which fields of a cfg_arena were given (the rest take the defaults). */
enum {
    CFG_A_PAGE_SIZE = 1u << 0,
    CFG_A_MAX = 1u << 1,
    CFG_A_ALIGN = 1u << 2,
    CFG_A_MODE = 1u << 3,
    CFG_A_OWNER = 1u << 4,
    CFG_A_GROUP = 1u << 5,
    CFG_A_PRIVATE = 1u << 6,
    CFG_A_CACHE_MAX = 1u << 7,
};

struct cfg_arena {
    char name[PROTO_NAME_MAX + 1];
    unsigned set;       /* CFG_A_* */
    uint64_t page_size; /* multiple of 4096 in [4096, 1T] */
    uint64_t max_bytes;
    uint32_t align; /* power of two in [8, 4096] */
    uint32_t mode;  /* <= 0777 */
    uint32_t uid, gid;
    bool private_default; /* blocks are private unless asked otherwise */
    uint64_t cache_max;   /* bytes one handle's client cache may hold */
    unsigned line;        /* line of its section in the file; 0 for a flag */
};

struct cfg {
    char socket[PATH_MAX];           /* "" when the file does not say */
    char runtime_dir[PATH_MAX];      /* "" when the file does not say */
    char state_dir[PATH_MAX];        /* "": no state kept across restarts */
    int log_level;                   /* -1 when the file does not say */
    uint32_t max_message;            /* [PROTO_MIN_MAX_MSG, PROTO_MAX_MAX_MSG] */
    uint32_t max_arenas;             /* [1, PROTO_MAX_ARENAS] */
    uint64_t max_total;              /* >= 4096 */
    uint64_t max_pages;              /* 0: derived from RLIMIT_NOFILE (cfg_fit_nofile) */
    uint32_t max_clients;            /* >= 1 */
    uint64_t max_blocks_per_client;  /* >= 1 */
    uint32_t max_handles_per_client; /* >= 1 */
    uint32_t max_names_per_arena;    /* >= 1 */
    uint64_t max_output;             /* >= 4096 */
    /* Bounds on what one local user (uid) can take; root and ofad's own
     * user are exempt from the per-uid ones and from the reserves. */
    uint32_t handshake_timeout;   /* s: a connection without HELLO is closed */
    uint32_t max_clients_per_uid; /* 0: a quarter of max_clients */
    uint32_t reserved_clients;    /* slots only root and ofad's user take */
    uint64_t max_output_per_uid;  /* reply bytes queued, a uid's connections */
    uint64_t max_output_total;    /* reply bytes queued, all connections */
    uint32_t output_timeout;      /* s: over a shared bound, not drained: dropped */
    uint32_t session_grace;          /* s a lost connection's session waits, [1, 86400] */
    uint64_t max_blocks_per_arena; /* live blocks of one arena, kept or not */
    uint64_t max_blocks_per_uid;   /* blocks a uid's connections hold, plus the
                                      kept blocks of the arenas it owns */
    uint64_t max_metadata;         /* bytes of block records, daemon-wide */
    uint32_t min_align;            /* smallest align of arenas users create */
    uint32_t max_arenas_per_uid;   /* arenas a uid owns */
    uint32_t reserved_arenas;      /* arena slots users cannot take */
    uint64_t max_bytes_per_uid;    /* page bytes of arenas a uid owns; 0: max_total/4 */
    uint32_t max_names_per_uid;    /* names a uid has bound, all arenas */
    uint64_t reserved_total;       /* of max_total, only for arenas of root and
                                      ofad's user; CFG_AUTO: a quarter */
    int64_t create_gid;            /* group allowed to CREATE; -1: everyone */
    uint64_t default_page_size;
    uint64_t default_max_bytes;
    uint32_t default_align;
    struct cfg_arena *arenas; /* in the order they were defined */
    size_t n_arenas, cap_arenas;
};

#define CFG_DEFAULT_MAX_ARENAS  64u
#define CFG_DEFAULT_MAX_CLIENTS 1024u
#define CFG_DEFAULT_MAX_BLOCKS  4194304ull
#define CFG_DEFAULT_MAX_HANDLES 64u
#define CFG_DEFAULT_MAX_NAMES   65536u
#define CFG_DEFAULT_NAMES_UID   16384u /* a quarter of an arena's */
#define CFG_DEFAULT_MAX_OUTPUT  (1ull << 20)
#define CFG_DEFAULT_HANDSHAKE_S 5u
#define CFG_DEFAULT_RESERVED_CLIENTS 16u
#define CFG_DEFAULT_OUTPUT_UID  (16ull << 20)
#define CFG_DEFAULT_OUTPUT_TOTAL (256ull << 20)
#define CFG_DEFAULT_OUTPUT_TIMEOUT_S 30u
#define CFG_DEFAULT_GRACE       60u
#define CFG_DEFAULT_BLOCKS_ARENA 8388608ull
#define CFG_DEFAULT_BLOCKS_UID  4194304ull
#define CFG_DEFAULT_MIN_ALIGN   64u
#define CFG_DEFAULT_ARENAS_UID  8u
#define CFG_DEFAULT_RESERVED_ARENAS 8u
/* What a live block is counted as against max_metadata: the allocator's
 * record with its share of the hash buckets and pool slack (heap.c). */
#define CFG_BLOCK_COST          64u
#define CFG_AUTO                UINT64_MAX /* a bound derived from another */
#define CFG_DEFAULT_PAGE_SIZE   (16ull << 20)
#define CFG_DEFAULT_MAX_BYTES   (1ull << 30)
#define CFG_DEFAULT_ALIGN       64u
#define CFG_DEFAULT_CACHE_MAX   (1ull << 20)
#define CFG_DEFAULT_ARENA       "default"
/* Where clients look for ofad: ofaclient.h's, which users build against. */
#define CFG_DEFAULT_SOCKET      OFA_DEFAULT_SOCKET
#define CFG_SOCKET_ENV          OFA_SOCKET_ENV
/* The private directory of the instance lock: runtime_dir, else systemd's
 * $RUNTIME_DIRECTORY (RuntimeDirectory=), else this one for root, else
 * $XDG_RUNTIME_DIR/ofad. */
#define CFG_RUNTIME_ENV         "RUNTIME_DIRECTORY"
#define CFG_DEFAULT_RUNTIME_DIR "/run/ofad/private"

#define CFG_DEFAULT_MAX_PAGES   65536ull
#define CFG_NOFILE_SPARE        64u /* descriptors kept for ofad itself */

/* Sets every default. max_total is half of mem_size (the machine's physical
 * memory: pages are memfds, charged to RAM and ofad's memory cgroup), or
 * 1 GiB when mem_size is 0 (unknown); max_metadata an eighth of the
 * machine's memory (at least 64 MiB). */
void cfg_init(struct cfg *c, uint64_t mem_size);

/*
 * ofad holds one descriptor per page and one per client: checks that
 * max_pages + max_clients + CFG_NOFILE_SPARE fit under nofile (ofad's
 * RLIMIT_NOFILE), and when max_pages was not set, sets it to what fits
 * (at most CFG_DEFAULT_MAX_PAGES). Returns 0, or -EINVAL with a message in
 * err when an explicit max_pages does not fit.
 */
int cfg_fit_nofile(struct cfg *c, uint64_t nofile, char *err, size_t errlen);
void cfg_free(struct cfg *c);

/*
 * Reads an INI file into c (which holds the defaults): section [ofad] and
 * sections [arena NAME]. Errors: -EINVAL (syntax, unknown section or key,
 * a bad value, a duplicate: err says "path:line: ..."), -errno when the file
 * cannot be read, -ENOMEM. On error c may hold part of the file: discard it.
 */
int cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen);
/* The same for text in memory; name stands for the file in messages. */
int cfg_load_string(struct cfg *c, const char *text, const char *name, char *err, size_t errlen);

/*
 * Parses NAME[,page_size=SIZE][,max=SIZE][,align=N][,mode=OCTAL][,owner=USER]
 * [,group=GROUP][,private=yes|no][,cache_max=SIZE]. Returns 0, or -EINVAL with a message in err.
 */
int cfg_parse_arena_spec(const char *spec, struct cfg_arena *out, char *err, size_t errlen);

/* Adds a, replacing an arena of the same name. Returns 0, -ENOMEM. */
int cfg_put_arena(struct cfg *c, const struct cfg_arena *a);

/* The bounds that derive from others: max_clients_per_uid (a quarter of
 * max_clients when 0), reserved_clients (at most half of max_clients),
 * reserved_arenas (at most half of max_arenas), max_bytes_per_uid (a
 * quarter of max_total when 0), reserved_total. */
uint32_t cfg_clients_per_uid(const struct cfg *c);
uint32_t cfg_reserved_clients(const struct cfg *c);
uint32_t cfg_reserved_arenas(const struct cfg *c);
uint64_t cfg_bytes_per_uid(const struct cfg *c);
/* reserved_total: a quarter of max_total unless given, never over it. */
uint64_t cfg_reserved_total(const struct cfg *c);

/* The arena of that name, or NULL. */
struct cfg_arena *cfg_find_arena(const struct cfg *c, const char *name);

/*
 * Completes c: fills every unset arena field from the defaults (owner uid and
 * group gid; when only the owner is given, the group is the owner's primary
 * group), adds the arena "default" when none is configured, and checks the
 * arena count against max_arenas. Returns 0, -EINVAL (message in err),
 * -ENOMEM.
 */
int cfg_finish(struct cfg *c, uid_t uid, gid_t gid, char *err, size_t errlen);

/* Helpers shared with the flag parser. Each returns 0 or -EINVAL. */
int cfg_parse_page_size(const char *s, uint64_t *out);
int cfg_parse_align(const char *s, uint32_t *out);
int cfg_parse_mode(const char *s, uint32_t *out);
int cfg_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A user or group name, or a number. -ENOENT when no such user/group. */
int cfg_parse_user(const char *s, uint32_t *uid, uint32_t *primary_gid);
int cfg_parse_group(const char *s, uint32_t *gid);

#endif

/*
 * admin.c - the operator's listings: who is connected and what they hold
 * (CLIENTS), and where every block of an arena lies and who owns it
 * (BLOCKS). ofactl clients, blocks, top and map are built on them.
 *
 * Both are paged: a reply carries as many rows as fit the asker's message
 * limit (PROTO_MAX_CLIENT_ROWS, PROTO_MAX_BLOCK_ROWS at most) and a cursor
 * for the next request, so a listing of any length never makes a reply
 * over the limit, and one request costs the loop O(rows sent) (plus
 * O(connections) to find them): other clients are never stalled for long.
 * Between two pages the state may change; a cursor is a position (a
 * connection id, an offset), so the listing goes on from there without
 * repeating anything.
 *
 * Who sees what: CLIENTS shows every connection to root and to ofad's own
 * user, and to anyone else only the connections of their uid (pids and
 * command names of other users are theirs). BLOCKS needs read permission on
 * the arena, as STATS does; owners appear as pids and connection ids.
 *
 * Owns: the scratch of the listings (struct admin_scratch, in the session
 * set). Reads the sessions and the registry; changes nothing. Called by
 * session.c's dispatch.
 */
#include "admin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "heap.h"
#include "session.h"

/* Bytes one row takes at most in a reply: keys, two strings, numbers. */
#define CLIENT_ROW_MAX 256u
/* A reply's head, the cursor, the array headers. */
#define REPLY_HEAD 64u

/* A live block's owner as a connection sees it. */
struct admin_owner {
    uint32_t owner;
    uint32_t pid;
    uint64_t client;
};

void admin_scratch_free(struct admin_scratch *x)
{
    free(x->sess);
    free(x->rows);
    free(x->owners);
    free(x->walk);
    free(x->ents);
    memset(x, 0, sizeof(*x));
}

/* Grows *v to hold n elements of size sz. 0 or -ENOMEM. */
static int room(void **v, uint32_t *cap, uint32_t n, size_t sz)
{
    uint32_t c = *cap ? *cap : 16;
    void *p;

    if (n <= *cap)
        return 0;
    while (c < n)
        c *= 2;
    p = realloc(*v, (size_t)c * sz);
    if (p == NULL)
        return -ENOMEM;
    *v = p;
    *cap = c;
    return 0;
}

static bool sees_all(const struct session *s)
{
    return s->cred.uid == 0 || s->cred.uid == s->set->daemon_uid;
}

/* The row of connection s for handle h (NULL: no arena). */
static void client_row(const struct session *s, const struct handle *h,
                       struct proto_client_row *row)
{
    const struct arena *a = h != NULL ? reg_get(s->set->reg, h->slot, h->gen) : NULL;

    memset(row, 0, sizeof(*row));
    row->client = s->id;
    row->pid = (uint32_t)s->cred.pid;
    row->uid = s->cred.uid;
    row->gid = s->cred.gid;
    row->comm.ptr = s->comm;
    row->comm.len = (uint32_t)strlen(s->comm);
    row->since_s = s->since_s;
    row->requests = s->requests;
    row->arena.ptr = "";
    if (a != NULL) {
        row->arena.ptr = a->name;
        row->arena.len = a->name_len;
        row->blocks = heap_owner_blocks(a->heap, h->owner);
        row->bytes = heap_owner_bytes(a->heap, h->owner);
    }
}

/* Rows a connection takes: one per arena it has open, at least one. */
static uint32_t rows_of(const struct session *s)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < s->handles_cap; i++)
        if (s->handles[i].used && reg_get(s->set->reg, s->handles[i].slot, s->handles[i].gen))
            n++;
    return n ? n : 1;
}

int admin_clients(const struct session *asker, const struct proto_req *q, struct proto_rep *r)
{
    struct sessions *ss = asker->set;
    struct admin_scratch *x = &ss->admin;
    uint64_t cursor = q->u.clients.cursor;
    uint32_t limit, ns = 0, nr = 0, first, k;
    struct session *s;
    int rc;

    limit = (asker->peer_max - REPLY_HEAD) / CLIENT_ROW_MAX;
    if (limit > PROTO_MAX_CLIENT_ROWS)
        limit = PROTO_MAX_CLIENT_ROWS;
    /* The list is newest first: gather, then serve in id order. */
    rc = room((void **)&x->sess, &x->sess_cap, ss->count, sizeof(*x->sess));
    if (rc < 0)
        return rc;
    for (s = ss->head; s != NULL && ns < x->sess_cap; s = s->next)
        if (s->id >= cursor && (sees_all(asker) || s->cred.uid == asker->cred.uid))
            x->sess[ns++] = s;
    rc = room((void **)&x->rows, &x->rows_cap, limit, sizeof(*x->rows));
    if (rc < 0)
        return rc;
    r->u.clients.next = 0;
    for (k = ns; k-- > 0;) {
        s = x->sess[k];
        if (nr > 0 && nr + rows_of(s) > limit) {
            r->u.clients.next = s->id;
            break;
        }
        first = nr;
        for (uint32_t i = 0; i < s->handles_cap && nr < limit; i++) {
            const struct handle *h = &s->handles[i];

            if (h->used && reg_get(ss->reg, h->slot, h->gen) != NULL)
                client_row(s, h, &x->rows[nr++]);
        }
        if (nr == first) /* no arena open (or only dropped ones) */
            client_row(s, NULL, &x->rows[nr++]);
        if (nr == limit && k > 0) {
            /* One connection filled the reply: go on after it. */
            r->u.clients.next = s->id + 1;
            break;
        }
    }
    r->u.clients.v = x->rows;
    r->u.clients.count = nr;
    return 0;
}

static int cmp_owner(const void *a, const void *b)
{
    uint32_t x = ((const struct admin_owner *)a)->owner, y = ((const struct admin_owner *)b)->owner;

    return x < y ? -1 : x > y;
}

/* The owners of a's blocks that are connections' handles (a handle's
 * ordinary blocks and its private ones have an owner each), sorted. */
static int owners_of(const struct session *asker, const struct arena *a, uint32_t *n_out)
{
    struct sessions *ss = asker->set;
    struct admin_scratch *x = &ss->admin;
    const struct session *s;
    uint32_t n = 0;
    int rc;

    for (s = ss->head; s != NULL; s = s->next)
        for (uint32_t i = 0; i < s->handles_cap; i++) {
            const struct handle *h = &s->handles[i];

            if (!h->used || h->slot != a->slot || h->gen != a->gen)
                continue;
            rc = room((void **)&x->owners, &x->owners_cap, n + 2, sizeof(*x->owners));
            if (rc < 0)
                return rc;
            x->owners[n++] = (struct admin_owner){h->owner, (uint32_t)s->cred.pid, s->id};
            if (h->has_powner)
                x->owners[n++] = (struct admin_owner){h->powner, (uint32_t)s->cred.pid, s->id};
        }
    if (n > 1)
        qsort(x->owners, n, sizeof(*x->owners), cmp_owner);
    *n_out = n;
    return 0;
}

int admin_blocks(const struct session *asker, const struct proto_req *q, struct proto_rep *r)
{
    struct sessions *ss = asker->set;
    struct admin_scratch *x = &ss->admin;
    struct arena *a = reg_find(ss->reg, q->u.blocks.name.ptr, q->u.blocks.name.len);
    uint32_t limit, nowners, cap;
    size_t n;
    int rc;

    if (a == NULL)
        return -ENOENT;
    if (!(arena_access(a, &asker->cred) & ACC_R))
        return -EACCES;
    limit = (asker->peer_max - REPLY_HEAD) / (PROTO_BLOCK_FIELDS * 9);
    if (limit > PROTO_MAX_BLOCK_ROWS)
        limit = PROTO_MAX_BLOCK_ROWS;
    rc = owners_of(asker, a, &nowners);
    if (rc < 0)
        return rc;
    if (limit > x->walk_cap) {
        cap = limit;
        struct heap_walk_ent *w = realloc(x->walk, cap * sizeof(*w));
        if (w == NULL)
            return -ENOMEM;
        x->walk = w;
        uint64_t *e = realloc(x->ents, (size_t)cap * PROTO_BLOCK_FIELDS * sizeof(*e));
        if (e == NULL)
            return -ENOMEM;
        x->ents = e;
        x->walk_cap = cap;
    }
    n = heap_walk(a->heap, q->u.blocks.cursor, (q->u.blocks.flags & PROTO_BLOCKS_FREE) != 0,
                  x->walk, limit, &r->u.blocks.next);
    for (size_t i = 0; i < n; i++) {
        const struct heap_walk_ent *w = &x->walk[i];
        uint64_t *e = &x->ents[i * PROTO_BLOCK_FIELDS];
        struct admin_owner key = {.owner = w->owner}, *o = NULL;

        e[0] = w->off;
        e[1] = w->size;
        e[3] = e[4] = 0;
        if (w->kind == HEAP_WALK_PAGE) {
            e[2] = PROTO_BLOCK_PAGE;
        } else if (w->kind == HEAP_WALK_FREE) {
            e[2] = PROTO_BLOCK_FREE;
        } else if (w->owner == HEAP_OWNER_ARENA) {
            e[2] = PROTO_BLOCK_KEPT;
        } else {
            e[2] = PROTO_BLOCK_LIVE;
            if (nowners > 0)
                o = bsearch(&key, x->owners, nowners, sizeof(*o), cmp_owner);
            if (o != NULL) {
                e[3] = o->pid;
                e[4] = o->client;
            }
        }
    }
    r->u.blocks.v = x->ents;
    r->u.blocks.count = (uint32_t)n;
    return 0;
}

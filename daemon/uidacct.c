/*
 * uidacct.c - the per-uid table behind the bounds that hold one local user
 * back (connections per uid, reply bytes queued per uid, blocks per uid).
 *
 * Owns: one entry per uid that has a connection open, found at accept and
 * then held by pointer by each of its sessions (session.c), so no request
 * ever looks a uid up. An entry lives exactly as long as its uid has a
 * connection: made by the first, freed with the last, so the table holds at
 * most max_clients entries and nothing stays behind a user who left.
 * A linked list: it is searched once per accepted connection, among the
 * uids connected at that moment, which on any machine is a short list.
 */
#include "uidacct.h"

#include <stdlib.h>

struct uid_acct *uid_acct_find(const struct uid_table *t, uint32_t uid)
{
    for (struct uid_acct *a = t->head; a != NULL; a = a->next) {
        if (a->uid == uid)
            return a;
    }
    return NULL;
}

struct uid_acct *uid_acct_ref(struct uid_table *t, uint32_t uid)
{
    struct uid_acct *a = uid_acct_find(t, uid);

    if (a == NULL) {
        a = calloc(1, sizeof(*a));
        if (a == NULL)
            return NULL;
        a->uid = uid;
        a->next = t->head;
        t->head = a;
        t->count++;
    }
    a->conns++;
    return a;
}

void uid_acct_unref(struct uid_table *t, struct uid_acct *a)
{
    struct uid_acct **p;

    if (--a->conns > 0)
        return;
    for (p = &t->head; *p != a; p = &(*p)->next)
        ;
    *p = a->next;
    t->count--;
    free(a);
}

/*
 * pagemap.c - an arena's page map (see pagemap.h). Owned by one arena;
 * called by arena.c when a page is made, opened and released.
 *
 * Invariant: every entry sits in its home slot or after it in an unbroken
 * run of full slots (no empty slot between home and entry), which is what
 * lets pagemap_find stop at the first empty slot. pagemap_del keeps it by
 * moving an entry of the run back into the hole unless its home lies in
 * (hole, slot], where moving it would put it before its home.
 */
#include "pagemap.h"

#include <errno.h>
#include <stdlib.h>

struct page_ent *pagemap_find(const struct pagemap *m, uint64_t base)
{
    if (m->cap == 0)
        return NULL;
    for (uint32_t i = pagemap_home(base, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->v[i].base == base)
            return &m->v[i];
        if (m->v[i].base == 0)
            return NULL;
    }
}

void pagemap_put(struct pagemap *m, const struct page_ent *e)
{
    uint32_t i = pagemap_home(e->base, m->cap);

    while (m->v[i].base != 0)
        i = (i + 1) & (m->cap - 1);
    m->v[i] = *e;
    m->n++;
}

int pagemap_reserve(struct pagemap *m)
{
    struct page_ent *old = m->v;
    uint32_t old_cap = m->cap, cap;

    if ((m->n + 1) * 2 <= m->cap)
        return 0;
    cap = old_cap ? old_cap * 2 : 16;
    m->v = calloc(cap, sizeof(*m->v));
    if (m->v == NULL) {
        m->v = old;
        return -ENOMEM;
    }
    m->cap = cap;
    m->n = 0;
    for (uint32_t i = 0; i < old_cap; i++) {
        if (old[i].base != 0)
            pagemap_put(m, &old[i]);
    }
    free(old);
    return 0;
}

void pagemap_del(struct pagemap *m, struct page_ent *e)
{
    uint32_t mask = m->cap - 1;
    uint32_t hole = (uint32_t)(e - m->v);

    for (uint32_t i = (hole + 1) & mask; m->v[i].base != 0; i = (i + 1) & mask) {
        uint32_t home = pagemap_home(m->v[i].base, m->cap);
        /* The entry may move to the hole if its home is not in (hole, i]. */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            m->v[hole] = m->v[i];
            hole = i;
        }
    }
    m->v[hole].base = 0;
    m->n--;
}

void pagemap_free(struct pagemap *m)
{
    free(m->v);
    m->v = NULL;
    m->cap = m->n = 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * kind.c -- kinds of resources (struct rgn_kind): what a region remembers
 * of the kind of each resource, the order a close takes by the kinds'
 * priorities, and the calls that register, check and ask a kind.
 *
 * A kind's cleanup is what the slot holds, so a resource of a kind costs
 * what any resource costs: release, move and close need no second step.
 * A region remembers kinds in its tracking state, beside the audit's
 * records (kinds[i] is slot i's), once it is tracked -- audited, or
 * measuring lifetimes -- or holds a kind of another priority than 0 or
 * with a before_exec (exec.c reads it), which makes it tracked.
 * Elsewhere a kind is only its cleanup, and a check of one compares the
 * cleanup.
 *
 * Owns tracking->kinds.  May call: the allocator, audit.c's tracking
 * state, the slot map and resource.c's registration path.
 *
 * Floor 1, the region core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <stdlib.h>

bool rgn__kinds_reserve(rgn_t *r, uint32_t i, const struct rgn_kind *k)
{
    struct rgn_tracking *t = r->tracking;
    if (!t || (!t->kinds && !k) || i < t->kinds_cap)
        return true;
    uint32_t cap = r->slots.cap > i ? r->slots.cap : i + 1;
    const struct rgn_kind **v = rgn__realloc(t->kinds, cap * sizeof *v);
    if (!v)
        return false;
    memset(v + t->kinds_cap, 0, (cap - t->kinds_cap) * sizeof *v);
    t->kinds = v;
    t->kinds_cap = cap;
    rgn__audit_relean(t); /* no lean calls once kinds are remembered */
    return true;
}

void rgn__kinds_set(rgn_t *r, uint32_t i, const struct rgn_kind *k)
{
    struct rgn_tracking *t = r->tracking;
    if (!t || !t->kinds || i >= t->kinds_cap)
        return; /* no kinds remembered: rgn__kinds_reserve made sure */
    t->kinds[i] = k;
    if (k && k->priority)
        t->priorities = true;
}

const struct rgn_kind *rgn__kind_at(const rgn_t *r, uint32_t i)
{
    const struct rgn_tracking *t = r->tracking;
    return t && t->kinds && i < t->kinds_cap ? t->kinds[i] : NULL;
}

/* ---- the order of a close --------------------------------------------------- */

struct ranked {
    int priority;
    uint32_t seq; /* newest first: 0 is the newest */
    uint32_t slot;
};

static int by_rank(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return x->seq < y->seq ? -1 : 1;
}

/*
 * Relinks r's live list so that the close, which pops the newest first,
 * meets the higher priorities first and, within one, the newest first.
 * It allocates an array of the live resources; out of memory, the close
 * keeps plain newest-first order (the cleanups still all run).
 */
void rgn__kinds_order(rgn_t *r)
{
    struct rgn_tracking *t = r->tracking;
    if (!t || !t->priorities || r->slots.live < 2)
        return;
    struct rgn_slots *s = &r->slots;
    size_t n = s->live;
    struct ranked *v = rgn__malloc(n * sizeof *v);
    if (!v)
        return;
    size_t k = 0;
    for (uint32_t i = rgn__slot_newest(s); i && k < n;
         i = rgn__ln(s, i)->next, k++) {
        const struct rgn_kind *kind = rgn__kind_at(r, i);
        v[k] = (struct ranked){kind ? kind->priority : 0, (uint32_t)k, i};
    }
    qsort(v, k, sizeof *v, by_rank);
    /* The head (slot 0) links to v[0], v[0] to v[1] ... and back. */
    uint32_t prev = 0;
    for (size_t j = 0; j < k; j++) {
        rgn__ln(s, prev)->next = v[j].slot;
        rgn__ln(s, v[j].slot)->prev = prev;
        prev = v[j].slot;
    }
    rgn__ln(s, prev)->next = 0;
    rgn__ln(s, 0)->prev = prev;
    rgn__free(v);
}

/* ---- the calls ------------------------------------------------------------- */

int rgn_unprotect_kind(rgn_t *r, rgn_key_t key, const struct rgn_kind *kind,
                       void **resource)
{
    if (!r || !kind)
        return rgn__refused(-EINVAL);
    rgn__lock(r);
    uint32_t i = rgn__slot_find(&r->slots, key);
    int rc = 0;
    /* A resource registered before r remembered kinds has none: it is
     * judged by its cleanup, as where r remembers none. */
    const struct rgn_kind *k = i ? rgn__kind_at(r, i) : NULL;
    if (!i)
        rc = -ENOENT;
    else if (k ? k != kind : rgn__cb(&r->slots, i)->fn != kind->cleanup)
        rc = -EPROTOTYPE;
    rgn__unlock(r);
    if (rc)
        return rgn__refused(
            rc == -ENOENT ? rgn__closed_use(r, "rgn_unprotect_kind", NULL, rc)
                          : rc);
    /* Between the check and the take another thread may have taken it:
     * rgn_unprotect says so (-ENOENT). */
    return rgn_unprotect(r, key, NULL, resource);
}

const struct rgn_kind *rgn_kind_of(rgn_t *r, rgn_key_t key)
{
    if (!r)
        return rgn__refused_null(EINVAL);
    rgn__lock(r);
    uint32_t i = rgn__slot_find(&r->slots, key);
    const struct rgn_kind *k = i ? rgn__kind_at(r, i) : NULL;
    rgn__unlock(r);
    if (!i)
        return rgn__refused_null(ENOENT);
    errno = 0;
    return k;
}

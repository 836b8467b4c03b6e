/* SPDX-License-Identifier: MIT */
/*
 * exec.c -- exec safety: rgn_forget_for_exec, with which a child process
 * after fork() lets go of a region it inherited without running the
 * parent's cleanups, once the kinds' exec-time hooks (struct rgn_kind's
 * before_exec) have run, as APR's apr_pool_cleanup_for_exec runs child
 * cleanups.  That descriptors are close-on-exec is decided where they
 * are opened (convenience.c, ready.c).
 *
 * The walk is the close's (region.c, close_loop) with the hooks in place
 * of the cleanups: a child region met in the live list is entered in the
 * same loop, the regions being walked linked through close_outer, so a
 * chain of nested children takes constant stack.  Each region is marked
 * closing before its walk begins, so a hook's calls on it are refused as
 * during a close, and ordered by its kinds' priorities as a close orders
 * it.  Nothing is reported: the resources are the parent's.  rgn's own
 * memory is freed -- the blocks of rgn_malloc & co., as the arena, and
 * the records of ready.c's resources -- and nothing else.  Freeing the region is region.c's (which unlists an
 * audited region and keeps it for the use-after-close check).
 *
 * May call: the slot map, the region's lock, kind.c (kinds, their
 * order), child.c (detach, orphan), region.c (freeing), the audit's
 * hooks (a resource leaving its tally), ready.c (its records).
 *
 * Floor 2, above the core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <pthread.h>

struct walk {
    rgn_t *volatile top; /* the innermost region walked; locked but while
                            a hook runs */
    int result;          /* the first non-zero hook result */
    volatile bool hooks; /* false once a hook threw: forget the rest */
    int cancel_state;    /* the caller's, given back at the end */
};

/* Starts the walk of r, locked: closing from now on, its resources in
 * the order a close would take them. */
static void enter(rgn_t *r, rgn_t *outer)
{
    rgn__set_state(r, RGN_CLOSING);
    r->close_outer = outer;
    if (RGN_UNLIKELY(r->tracking != NULL))
        rgn__kinds_order(r);
}

/* Runs a hook with errno kept, as a cleanup runs. */
static int run_hook(int (*hook)(void *resource), void *resource)
{
    int *err = rgn__errno();
    int saved = *err;
    int rc = hook(resource);
    *err = saved;
    return rc;
}

/*
 * Takes r's live resources one by one, newest (by priority) first,
 * running each one's before_exec with r unlocked and freeing rgn's own
 * blocks; returns the first child region met (its slot taken), or NULL
 * once r is empty.  r locked.
 */
static rgn_t *forget_resources(struct walk *w, rgn_t *r)
{
    for (;;) {
        uint32_t i = rgn__slot_newest(&r->slots);
        const struct rgn_kind *kind = i ? rgn__kind_at(r, i) : NULL;
        if (i && RGN_UNLIKELY(r->tracking != NULL))
            rgn__audit_leave(r, i);
        struct rgn_cb cb;
        if (!rgn__slot_pop(&r->slots, &cb))
            return NULL;
        r->removed++; /* forgotten, as if unprotected */
        const struct rgn_own *own = rgn__own_of(cb.fn);
        if (own->nests)
            return cb.resource;
        if (own->forget) { /* rgn's own memory, as the arena is */
            own->forget(cb.resource);
            continue;
        }
        rgn_forget_fn *record = rgn__ready_forget(cb.fn);
        if (record) { /* a ready-made resource's record: rgn's too */
            record(cb.resource);
            continue;
        }
        if (kind && kind->before_exec && w->hooks) {
            rgn__unlock(r);
            int rc = run_hook(kind->before_exec, cb.resource);
            if (rc && !w->result)
                w->result = rc;
            rgn__lock(r);
        }
    }
}

/* Walks w->top (locked, entered) and every region below it, until the
 * outermost is freed. */
static void walk(struct walk *w)
{
    for (;;) {
        rgn_t *r = w->top;
        rgn_t *child = forget_resources(w, r);
        if (child) {
            rgn__unlock(r);
            rgn__child_orphan(child);
            rgn__lock(child);
            enter(child, r);
            w->top = child;
            continue;
        }
        rgn_t *outer = r->close_outer;
        rgn__unlock(r);
        rgn__region_free(r);
        if (!outer)
            return;
        rgn__lock(outer);
        w->top = outer;
    }
}

/* A hook threw: what is left is forgotten, no other hook run, while the
 * exception unwinds (cancellation is disabled: nothing else unwinds),
 * and the caller's cancellation state comes back. */
static void finish_unwound(void *arg)
{
    struct walk *w = arg;
    w->hooks = false;
    rgn__lock(w->top);
    walk(w);
    pthread_setcancelstate(w->cancel_state, NULL);
}

int rgn_forget_for_exec(rgn_t *r)
{
    if (!r)
        return rgn__refused(-EINVAL);
    rgn__lock(r);
    if (r->state != RGN_OPEN) {
        rgn__unlock(r);
        return rgn__refused(
            rgn__closed_use(r, "rgn_forget_for_exec", NULL, -ECANCELED));
    }
    /* Out of its parent first, so the parent never reaches a freed child.
     * A parent that took the slot already is mid-close in a thread the
     * child does not have: its slot is gone either way. */
    if (atomic_load_explicit(&r->parent, memory_order_relaxed) != NULL)
        (void)rgn__child_detach(r);
    enter(r, NULL);
    struct walk w = {r, 0, true, 0};
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &w.cancel_state);
    pthread_cleanup_push(finish_unwound, &w);
    walk(&w);
    pthread_cleanup_pop(0);
    pthread_setcancelstate(w.cancel_state, NULL);
    rgn__audit_flush();
    return w.result ? rgn__failed(w.result, RGN_FROM_CLEANUP) : 0;
}

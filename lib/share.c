/* SPDX-License-Identifier: MIT */
/*
 * share.c -- regions shared across threads: references, threads that hold
 * one (resourcet's resourceForkIO).  The lock a shared region takes is
 * lock.c's.
 *
 * A region starts unshared: one thread uses it and rgn never takes its
 * lock or touches an atomic.  rgn_share sets the flag, in the one thread
 * that owns the region, holding no rgn lock; it is never cleared, so
 * reading it unlocked is safe: other threads first see the region after
 * it was set.
 *
 * Sharing a child region takes it out of its parent first.  So a child
 * that sits in a parent always has exactly one reference, the one
 * rgn_new_child returned, and exactly one of its owner and its parent
 * drops it.  And an unshared child of a shared parent is touched by its
 * owner only -- or by the thread that drops the parent's last reference,
 * which it can only do after the owner let go of the parent.
 *
 * May call: the region's lock, region.c (dropping references), child.c
 * (taking a child out), the audit's hooks, cause.c (a failed thread's
 * drop, with its cause).
 *
 * Floor 1, the region core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <semaphore.h>
#include <stdlib.h>

/* ---- references --------------------------------------------------------- */

/*
 * From now on r's users take its real lock.  A listed r may be read by a
 * reader meanwhile, which decides between the biased and the real lock by
 * `shared`: so the flag changes inside a biased section, where no reader
 * holds the claim, and as an atomic store, as readers load it unclaimed
 * (lock.c).  `locked` is written only when it changes, for the same
 * reason; other threads see both through the handoff of the new
 * reference.
 */
static void become_shared(rgn_t *r)
{
    if (r->locked && rgn__biased(r)) {
        bool biased = rgn__bias_enter(&r->bias, &r->lock);
        __atomic_store_n(&r->shared, true, __ATOMIC_RELAXED);
        if (biased)
            rgn__bias_exit(&r->bias); /* wakes a reader that waited */
        else /* a reader turned the bias off meanwhile */
            rgn__lock_give(&r->lock);
        return;
    }
    __atomic_store_n(&r->shared, true, __ATOMIC_RELAXED);
    if (!r->locked) {
        r->locked = true;
        rgn__race_region(r, true);
    }
}

/*
 * One more reference to r.  rgn_share takes a child out of its parent
 * first (leave_parent): the caller's reference and the new one are then
 * plain references, and whoever closes a child in its parent would
 * otherwise take it out of a parent that other threads use.
 * rgn_thread_create leaves it there: the parent keeps the reference the
 * child had, the thread gets the new one and drops it with a plain drop
 * that never touches the parent, and whichever drops last -- the
 * parent's close (or the creator's rgn_close, which takes the child out)
 * or the thread -- runs the child's cleanups.
 */
static rgn_t *share(rgn_t *r, bool leave_parent)
{
    if (!r)
        return rgn__refused_null(EINVAL);
    if (!r->shared) {
        /* Unshared: only this thread uses r, and readers of a listed r
         * (under its lock). */
        rgn__lock(r);
        bool closing = r->state != RGN_OPEN;
        rgn__unlock(r);
        if (closing) {
            rgn__closed_use(r, "rgn_share", NULL, 0);
            return rgn__refused_null(ECANCELED);
        }
        if (leave_parent &&
            atomic_load_explicit(&r->parent, memory_order_relaxed))
            rgn__detach(r);
        become_shared(r);
    }
    rgn__lock(r);
    int err = 0;
    if (r->state != RGN_OPEN)
        err = ECANCELED;
    else if (r->refs == UINT32_MAX)
        err = EOVERFLOW;
    else
        r->refs++;
    rgn__unlock(r);
    if (err)
        return rgn__refused_null(err);
    return r;
}

rgn_t *rgn_share(rgn_t *r)
{
    return share(r, true);
}

/* ---- threads ------------------------------------------------------------ */

/*
 * The new thread waits at `go` until its creator has shared r with it:
 * so a thread that cannot be created leaves r as it was -- a child still
 * in its parent -- and a share refused after the thread started (r began
 * closing meanwhile) sends the thread away without running fn.
 */
struct start {
    rgn_t *r;
    int (*fn)(rgn_t *r, void *arg);
    void *arg;
    bool run; /* false: the share was refused, return at once */
    sem_t go;
};

/* A thread cancelled inside fn still drops its reference, as an error. */
static void drop_on_cancel(void *r)
{
    rgn__drop_cause(r, -ECANCELED, "thread function was cancelled");
}

static void *thread_main(void *p)
{
    struct start *sp = p;
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    while (sem_wait(&sp->go) != 0) /* EINTR */
        ;
    pthread_setcancelstate(state, NULL);
    struct start s = *sp;
    sem_destroy(&sp->go);
    rgn__free(sp);
    if (!s.run)
        return NULL;
    int rc;
    pthread_cleanup_push(drop_on_cancel, s.r);
    rc = s.fn(s.r, s.arg);
    pthread_cleanup_pop(0);
    /* fn is done: a cancellation now must not cut the close short, nor
     * turn its result into PTHREAD_CANCELED. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    int closed = rc ? rgn__drop_failed(s.r, rc, "thread function")
                    : rgn__drop_ref(s.r, RGN_RELEASE_NORMAL);
    pthread_setcancelstate(state, NULL);
    return (void *)(intptr_t)(rc ? rc : closed);
}

/* Waits for a thread that was sent away, unless attr made it detached. */
static void reap(pthread_t t, const pthread_attr_t *attr)
{
    int detached = PTHREAD_CREATE_JOINABLE;
    if (attr)
        pthread_attr_getdetachstate(attr, &detached);
    if (detached == PTHREAD_CREATE_JOINABLE)
        pthread_join(t, NULL);
}

int rgn_thread_create(pthread_t *t, const pthread_attr_t *attr, rgn_t *r,
                      int (*fn)(rgn_t *r, void *arg), void *arg)
{
    if (!t || !r || !fn)
        return rgn__failed(-EINVAL, RGN_FROM_RGN);
    struct start *s = rgn__malloc(sizeof *s);
    if (!s)
        return rgn__failed(-ENOMEM, RGN_FROM_RGN);
    s->fn = fn;
    s->arg = arg;
    if (sem_init(&s->go, 0, 0) != 0) {
        rgn__free(s);
        return rgn__failed(-errno, RGN_FROM_SYSTEM);
    }
    int err = pthread_create(t, attr, thread_main, s);
    if (err) {
        sem_destroy(&s->go);
        rgn__free(s);
        return rgn__failed(-err, RGN_FROM_SYSTEM); /* nothing was shared */
    }
    s->r = share(r, false);
    s->run = s->r != NULL;
    err = s->run ? 0 : errno;
    sem_post(&s->go); /* s is the thread's from here on */
    if (err) {
        reap(*t, attr);
        return rgn__failed(-err, RGN_FROM_RGN);
    }
    return 0;
}

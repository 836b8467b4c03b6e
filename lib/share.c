/*
 * share.c -- regions shared across threads: references, threads that hold
 * one (resourcet's resourceForkIO), and the lock a shared region takes.
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
 */
#include "internal.h"

#include <sched.h>
#include <stdlib.h>

/* ---- the lock ------------------------------------------------------------ */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/*
 * A test-and-test-and-set lock.  Critical sections are a few dozen
 * instructions and never run user code, so a short spin beats sleeping;
 * a holder that was preempted is waited for with sched_yield rather than
 * by burning the core it needs.
 */
void rgn__lock_slow(rgn_lock_t *l)
{
    for (unsigned spins = 0;; spins++) {
        if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0) {
            int expected = 0;
            if (atomic_compare_exchange_weak_explicit(
                    &l->word, &expected, 1, memory_order_acquire,
                    memory_order_relaxed))
                return;
        }
        if (spins < 100)
            cpu_relax();
        else
            sched_yield();
    }
}

/* ---- references ---------------------------------------------------------- */

rgn_t *rgn_share(rgn_t *r)
{
    if (!r) {
        errno = EINVAL;
        return NULL;
    }
    if (!r->shared) {
        /* Unshared: only this thread can see r, no lock is needed. */
        if (r->state != RGN_OPEN) {
            errno = ECANCELED;
            return NULL;
        }
        if (r->parent)
            rgn__detach(r);
        r->shared = true;
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
    if (err) {
        errno = err;
        return NULL;
    }
    return r;
}

/* ---- threads ------------------------------------------------------------- */

struct start {
    rgn_t *r;
    int (*fn)(rgn_t *r, void *arg);
    void *arg;
};

/* A thread cancelled inside fn still drops its reference, as an error. */
static void drop_on_cancel(void *r)
{
    rgn__drop_ref(r, RGN_RELEASE_ERROR);
}

/* The thread's reference is a share: r is out of any parent by now. */

static void *thread_main(void *p)
{
    struct start s = *(struct start *)p;
    rgn__free(p);
    int rc;
    pthread_cleanup_push(drop_on_cancel, s.r);
    rc = s.fn(s.r, s.arg);
    pthread_cleanup_pop(0);
    int closed = rgn__drop_ref(s.r, rc ? RGN_RELEASE_ERROR
                                       : RGN_RELEASE_NORMAL);
    return (void *)(intptr_t)(rc ? rc : closed);
}

int rgn_thread_create(pthread_t *t, const pthread_attr_t *attr, rgn_t *r,
                      int (*fn)(rgn_t *r, void *arg), void *arg)
{
    if (!t || !r || !fn)
        return -EINVAL;
    struct start *s = rgn__malloc(sizeof *s);
    if (!s)
        return -ENOMEM;
    if (!rgn_share(r)) {
        int err = errno;
        rgn__free(s);
        return -err;
    }
    *s = (struct start){r, fn, arg};
    int err = pthread_create(t, attr, thread_main, s);
    if (err) {
        rgn__free(s);
        rgn__drop_ref(r, RGN_RELEASE_NORMAL); /* never the last: ours */
        return -err;
    }
    return 0;
}

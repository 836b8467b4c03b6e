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
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* ---- the lock ------------------------------------------------------------ */

/* Sleeps while l->word is still `held`; returns at once if it is not. */
static void wait_while_contended(rgn_lock_t *l, unsigned held)
{
#ifdef __linux__
    syscall(SYS_futex, &l->word, FUTEX_WAIT_PRIVATE, held, NULL, NULL, 0);
#else
    (void)l;
    (void)held;
    sched_yield();
#endif
}

atomic_uint rgn__lock_epoch;

/*
 * The lock is a futex, as glibc's mutex is.  A waiter sleeps at once
 * rather than spinning: while it polls, the lock's cache line is pulled
 * away from the holder on every turn, and two threads hammering one region
 * spend their time moving that line.  A test-and-test-and-set lock that
 * spun (100 pauses, then sched_yield) measured 2-2.7x the mutex baseline
 * in `make bench`; spinning 16 times before sleeping, 1.2x; sleeping at
 * once, 1.0x.
 *
 * A word held under an older fork epoch was taken by a thread of the
 * parent process that the forked child does not have: nobody will ever
 * let it go, so the child takes it over.  Sections under a region's lock
 * are a few dozen instructions of rgn's own (or the allocator), so the
 * region is consistent unless fork() struck inside one of them.
 */
void rgn__lock_slow(rgn_lock_t *l)
{
    unsigned epoch = atomic_load_explicit(&rgn__lock_epoch,
                                          memory_order_relaxed);
    /* Taken as "waiters", not "held": this thread cannot know whether
     * others sleep, so its unlock must wake one in case they do. */
    unsigned old;
    while ((old = atomic_exchange_explicit(&l->word, epoch | 2u,
                                           memory_order_acquire)) != 0) {
        if ((old & ~3u) != epoch)
            return; /* abandoned at a fork: ours now */
        wait_while_contended(l, epoch | 2u);
    }
}

/*
 * Wakes one sleeper.  The region may already be freed by the time this
 * runs (another thread can take the lock, drop the last reference and
 * free it once the word is 0): a private futex wake only hashes the
 * address, it never touches the memory, and a sleeper woken for nothing
 * simply sleeps again.
 */
void rgn__lock_wake(rgn_lock_t *l)
{
#ifdef __linux__
    syscall(SYS_futex, &l->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
    (void)l;
#endif
}

/* In a forked child: every lock word taken before is abandoned. */
void rgn__lock_after_fork(void)
{
    atomic_fetch_add_explicit(&rgn__lock_epoch, 4u, memory_order_relaxed);
}

/* ---- references ---------------------------------------------------------- */

rgn_t *rgn_share(rgn_t *r)
{
    if (!r) {
        errno = EINVAL;
        return NULL;
    }
    if (!r->shared) {
        /* Unshared: only this thread uses r (a listed one is read by
         * reports too, under its lock, but they never read `shared`). */
        rgn__lock(r);
        bool closing = r->state != RGN_OPEN;
        rgn__unlock(r);
        if (closing) {
            errno = ECANCELED;
            return NULL;
        }
        if (atomic_load_explicit(&r->parent, memory_order_relaxed))
            rgn__detach(r);
        r->shared = true;
        /* Seen by other threads through the handoff.  Written only when
         * it changes: a listed region's readers read it meanwhile. */
        if (!r->locked)
            r->locked = true;
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
    /* fn is done: a cancellation now must not cut the close short, nor
     * turn its result into PTHREAD_CANCELED. */
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    int closed = rgn__drop_ref(s.r, rc ? RGN_RELEASE_ERROR
                                       : RGN_RELEASE_NORMAL);
    pthread_setcancelstate(state, NULL);
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

/* SPDX-License-Identifier: MIT */
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
#include <semaphore.h>
#include <stdlib.h>
#ifdef __linux__
#include <linux/futex.h>
#include <linux/membarrier.h>
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

/* ---- the biased lock of listed regions nobody shares ------------------------
 *
 * Such a region has one user thread, its owner, and now and then a reader
 * (metrics, reports), which holds the registry's lock, so there is one
 * reader at a time.  The owner marks itself busy for the length of each
 * call and checks for a claim; the reader claims, then waits until the
 * owner is not busy.  That is Dekker's handshake, which needs a full
 * fence on both sides between the store and the load.  The owner's side
 * has none -- it runs on every audited register and release -- and the
 * reader's membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) puts one into
 * every running thread of the process at once: after it, either the
 * reader sees the owner busy and waits, or the owner sees the claim and
 * steps aside (rgn__bias_enter_slow) until the reader is done.
 */
bool rgn__bias_ok;

static long membarrier(int cmd)
{
#if defined(__linux__) && defined(SYS_membarrier)
    return syscall(SYS_membarrier, cmd, 0, 0);
#else
    (void)cmd;
    return -1;
#endif
}

#if defined(__SANITIZE_THREAD__)
#define RGN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RGN_TSAN 1
#endif
#endif

/* ThreadSanitizer cannot see the fence membarrier makes, so under it the
 * owner takes the real lock, and the real lock is what TSan checks. */
static void choose_bias(void)
{
#if defined(__linux__) && defined(SYS_membarrier) && !defined(RGN_TSAN)
    rgn__bias_ok =
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
#else
    rgn__bias_ok = false;
#endif
}

__attribute__((constructor)) static void bias_init(void)
{
    choose_bias();
}

static void futex_wait(atomic_uint *word, unsigned val)
{
#ifdef __linux__
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#else
    (void)word;
    (void)val;
    sched_yield();
#endif
}

static void futex_wake(atomic_uint *word)
{
#ifdef __linux__
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
    (void)word;
#endif
}

/* The owner found a claim: it steps aside until the reader is done. */
void rgn__bias_enter_slow(rgn_t *r)
{
    for (;;) {
        atomic_store_explicit(&r->bias_busy, 0, memory_order_release);
        futex_wake(&r->bias_busy);
        while (atomic_load_explicit(&r->bias_claim, memory_order_acquire))
            futex_wait(&r->bias_claim, 1);
        atomic_store_explicit(&r->bias_busy, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        if (!atomic_load_explicit(&r->bias_claim, memory_order_relaxed))
            return;
    }
}

void rgn__bias_wake_reader(rgn_t *r)
{
    futex_wake(&r->bias_busy);
}

void rgn__reader_lock(rgn_t *r)
{
    if (!rgn__bias_ok) { /* every user of r takes the real lock */
        rgn__lock_shared(r);
        return;
    }
    atomic_store_explicit(&r->bias_claim, 1, memory_order_relaxed);
    membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    while (atomic_load_explicit(&r->bias_busy, memory_order_acquire))
        futex_wait(&r->bias_busy, 1);
    /* Shared (which only changes inside the owner's biased section): the
     * real lock is what its users take. */
    if (!rgn__biased(r))
        rgn__lock_shared(r);
}

void rgn__reader_unlock(rgn_t *r)
{
    if (!rgn__biased(r))
        rgn__unlock_shared(r);
    if (rgn__bias_ok) { /* (rgn__biased is false without bias) */
        atomic_store_explicit(&r->bias_claim, 0, memory_order_release);
        futex_wake(&r->bias_claim);
    }
}

/* In a forked child: every lock word taken before is abandoned, and the
 * membarrier registration, which belongs to the parent's address space,
 * is made again. */
void rgn__lock_after_fork(void)
{
    atomic_fetch_add_explicit(&rgn__lock_epoch, 4u, memory_order_relaxed);
    if (rgn__bias_ok)
        choose_bias();
}

/* ---- references ---------------------------------------------------------- */

/*
 * From now on r's users take its real lock.  A listed r may be read by a
 * reader meanwhile, which decides between the biased and the real lock by
 * `shared`: so the flag changes inside a biased section, where no reader
 * is.  `locked` is written only when it changes, for the same reason;
 * other threads see both through the handoff of the new reference.
 */
static void become_shared(rgn_t *r)
{
    if (r->locked && rgn__biased(r)) {
        rgn__bias_enter(r);
        r->shared = true;
        rgn__bias_exit(r); /* wakes a reader that waited meanwhile */
        return;
    }
    r->shared = true;
    if (!r->locked)
        r->locked = true;
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
    if (!r) {
        errno = EINVAL;
        return NULL;
    }
    if (!r->shared) {
        /* Unshared: only this thread uses r, and readers of a listed r
         * (under its lock). */
        rgn__lock(r);
        bool closing = r->state != RGN_OPEN;
        rgn__unlock(r);
        if (closing) {
            rgn__closed_use(r, "rgn_share", NULL, 0);
            errno = ECANCELED;
            return NULL;
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
    if (err) {
        errno = err;
        return NULL;
    }
    return r;
}

rgn_t *rgn_share(rgn_t *r)
{
    return share(r, true);
}

/* ---- threads ------------------------------------------------------------- */

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
    bool run;       /* false: the share was refused, return at once */
    sem_t go;
};

/* A thread cancelled inside fn still drops its reference, as an error. */
static void drop_on_cancel(void *r)
{
    rgn__drop_ref(r, RGN_RELEASE_ERROR);
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
    int closed = rgn__drop_ref(s.r, rc ? RGN_RELEASE_ERROR
                                       : RGN_RELEASE_NORMAL);
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

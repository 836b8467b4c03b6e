/* SPDX-License-Identifier: MIT */
/*
 * lock.c -- the locks of lock.h: the futex lock word a shared region
 * takes, the biased lock of a listed region nobody shares, and how a
 * process-wide reader (the audit's reports, metrics) locks a region
 * another thread owns.  It calls nothing of rgn's but the region's
 * fields; it runs no user code.
 */
#include "internal.h"

#include <sched.h>
#ifdef __linux__
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* ---- the lock ----------------------------------------------------------- */

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
    unsigned epoch =
        atomic_load_explicit(&rgn__lock_epoch, memory_order_relaxed);
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

/* ---- the biased lock of listed regions nobody shares -----------------------
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

/* ThreadSanitizer cannot see the fence membarrier makes, so under it --
 * in a library built with it, or in a process it runs -- the owner takes
 * the real lock, and the real lock is what TSan checks. */
static void choose_bias(void)
{
#if defined(__linux__) && defined(SYS_membarrier) && !defined(RGN_TSAN)
    rgn__bias_ok = !rgn__tsan() &&
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
void rgn__bias_enter_slow(struct rgn_bias *b)
{
    for (;;) {
        atomic_store_explicit(&b->busy, 0, memory_order_release);
        futex_wake(&b->busy);
        while (atomic_load_explicit(&b->claim, memory_order_acquire))
            futex_wait(&b->claim, 1);
        atomic_store_explicit(&b->busy, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        if (!atomic_load_explicit(&b->claim, memory_order_relaxed))
            return;
    }
}

void rgn__bias_wake_reader(struct rgn_bias *b)
{
    futex_wake(&b->busy);
}

void rgn__bias_claim(struct rgn_bias *b)
{
    atomic_store_explicit(&b->claim, 1, memory_order_relaxed);
    membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    while (atomic_load_explicit(&b->busy, memory_order_acquire))
        futex_wait(&b->busy, 1);
}

void rgn__bias_unclaim(struct rgn_bias *b)
{
    atomic_store_explicit(&b->claim, 0, memory_order_release);
    futex_wake(&b->claim);
}

/* ---- a process-wide reader of a region --------------------------------- */

void rgn__reader_lock(rgn_t *r)
{
    if (!rgn__bias_ok) { /* every user of r takes the real lock */
        rgn__lock_take(&r->lock);
        return;
    }
    rgn__bias_claim(&r->bias);
    /* Shared (which only changes inside the owner's biased section): the
     * real lock is what its users take. */
    if (!rgn__biased(r))
        rgn__lock_take(&r->lock);
}

void rgn__reader_unlock(rgn_t *r)
{
    if (!rgn__biased(r))
        rgn__lock_give(&r->lock);
    if (rgn__bias_ok) /* (rgn__biased is false without bias) */
        rgn__bias_unclaim(&r->bias);
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

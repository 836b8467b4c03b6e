/* SPDX-License-Identifier: MIT */
/*
 * lock.h -- the two locks a region may take (lock.c), as data structures
 * of their own: a futex lock word, and the biased lock of a region one
 * thread owns and a process-wide reader visits now and then.  How a
 * region chooses between them is region.h's.
 */
#ifndef RGN_LOCK_H
#define RGN_LOCK_H

#include "base.h"

/*
 * ThreadSanitizer.  A program built with -fsanitize=thread sees none of
 * the loads and stores of a librgn that was not: only its interceptors
 * (malloc, realloc, free, memcpy, the pthread calls) and its own code.
 * Every hand-off rgn makes through its own atomics -- a region's lock,
 * the allocator's freeze -- would read as a data race between the
 * threads on either side.  So rgn announces them through these two,
 * declared weak: they exist in a process ThreadSanitizer runs, and are
 * NULL in any other.  Only paths that take a lock (or a mutex) anyway
 * test for them; in such a process the biased lock is off (lock.c).
 */
void __tsan_acquire(void *addr) __attribute__((weak));
void __tsan_release(void *addr) __attribute__((weak));

/* One runtime defines both. */
static inline bool rgn__tsan(void)
{
    return RGN_UNLIKELY(__tsan_acquire != NULL);
}

/* word is 0 when free; otherwise the fork epoch of the holder's process
 * (rgn__lock_epoch, a multiple of 4) plus 1 when held, or plus 2 when held
 * and a waiter may be asleep on it. */
typedef struct rgn_lock {
    atomic_uint word;
} rgn_lock_t;

/* The fork epoch, times 4: bumped in a forked child, so that a lock word
 * a thread of the parent left held is known for abandoned. */
RGN_HIDDEN extern atomic_uint rgn__lock_epoch;
RGN_HIDDEN void rgn__lock_slow(rgn_lock_t *l);
RGN_HIDDEN void rgn__lock_wake(rgn_lock_t *l);
/* In a forked child: every lock taken before the fork is abandoned. */
RGN_HIDDEN void rgn__lock_after_fork(void);

static inline void rgn__lock_take(rgn_lock_t *l)
{
    unsigned expected = 0;
    unsigned held =
        atomic_load_explicit(&rgn__lock_epoch, memory_order_relaxed) | 1u;
    if (!atomic_compare_exchange_weak_explicit(&l->word, &expected, held,
                                               memory_order_acquire,
                                               memory_order_relaxed))
        rgn__lock_slow(l);
    if (rgn__tsan())
        __tsan_acquire(&l->word);
}

/* The release is announced before the word is let go: a moment after,
 * another thread may take the lock and free the region. */
static inline void rgn__lock_give(rgn_lock_t *l)
{
    if (rgn__tsan())
        __tsan_release(&l->word);
    if ((atomic_exchange_explicit(&l->word, 0, memory_order_release) & 3u) ==
        2u)
        rgn__lock_wake(l);
}

/*
 * The biased lock.  Its owner takes it with a store and a load on entry,
 * a store and a load on exit, no atomic read-modify-write; the one reader
 * at a time pays for both sides with a membarrier() (lock.c).  Where
 * membarrier is missing, or in a process ThreadSanitizer runs (it cannot
 * see the fence), rgn__bias_ok is false and the owner takes the real
 * lock instead.
 */
struct rgn_bias {
    atomic_uint busy;  /* its owner thread is inside a call */
    atomic_uint claim; /* a reader holds it, or waits for it */
};
RGN_HIDDEN extern bool rgn__bias_ok;
RGN_HIDDEN void rgn__bias_enter_slow(struct rgn_bias *b);
RGN_HIDDEN void rgn__bias_wake_reader(struct rgn_bias *b);
/* The reader's side: claims b and waits until its owner is out. */
RGN_HIDDEN void rgn__bias_claim(struct rgn_bias *b);
RGN_HIDDEN void rgn__bias_unclaim(struct rgn_bias *b);

static inline void rgn__bias_enter(struct rgn_bias *b)
{
    atomic_store_explicit(&b->busy, 1, memory_order_relaxed);
    /* Only the compiler is kept from reordering: the reader's membarrier
     * supplies the processor's fence on this side. */
    atomic_signal_fence(memory_order_seq_cst);
    if (RGN_UNLIKELY(atomic_load_explicit(&b->claim, memory_order_relaxed)))
        rgn__bias_enter_slow(b);
    atomic_signal_fence(memory_order_seq_cst);
}

static inline void rgn__bias_exit(struct rgn_bias *b)
{
    atomic_store_explicit(&b->busy, 0, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    if (RGN_UNLIKELY(atomic_load_explicit(&b->claim, memory_order_relaxed)))
        rgn__bias_wake_reader(b);
}

#endif /* RGN_LOCK_H */

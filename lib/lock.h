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
#include "race.h"

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
    rgn__race_acquire(&l->word);
}

/* The release is announced before the word is let go: a moment after,
 * another thread may take the lock and free the region. */
static inline void rgn__lock_give(rgn_lock_t *l)
{
    rgn__race_release(&l->word);
    if ((atomic_exchange_explicit(&l->word, 0, memory_order_release) & 3u) ==
        2u)
        rgn__lock_wake(l);
}

/*
 * The biased lock.  Its owner takes it with a store and a load on entry,
 * a store and a load on exit, no atomic read-modify-write; the one reader
 * at a time pays for both sides with a heavy fence (lock.c).  Where
 * membarrier is missing at start-up, or in a process a race detector runs
 * (none can see the fence: race.h), rgn__bias_ok is false and the owner
 * takes the real lock instead.  Where membarrier fails later, one region after the
 * other turns to its real lock for good (claim RGN_BIAS_OFF; lock.c says
 * how).
 */
enum {
    RGN_BIAS_FREE = 0,    /* no reader */
    RGN_BIAS_CLAIMED = 1, /* a reader holds it, or waits for the owner */
    RGN_BIAS_ASKED = 2,   /* a reader that could not fence asks the owner
                             to turn to the real lock, and did not read */
    RGN_BIAS_OFF = 3      /* the real lock, for owner and readers alike */
};
struct rgn_bias {
    atomic_uint busy;  /* its owner thread is inside a call */
    atomic_uint claim; /* RGN_BIAS_*; only the owner moves it from ASKED */
};
RGN_HIDDEN extern bool rgn__bias_ok;
RGN_HIDDEN bool rgn__bias_enter_slow(struct rgn_bias *b, rgn_lock_t *l);
RGN_HIDDEN void rgn__bias_exit_slow(struct rgn_bias *b);

/* What a reader got (rgn__bias_claim). */
enum rgn_bias_read {
    RGN_READ_SKIP, /* nothing: the owner has yet to turn to the real lock */
    RGN_READ_REAL, /* the real lock l (the bias is off) */
    RGN_READ_BIAS  /* the claim: the owner is out until rgn__bias_unclaim */
};
/* The reader's side, one reader at a time: never waits for an owner that
 * is not inside a call. */
RGN_HIDDEN enum rgn_bias_read rgn__bias_claim(struct rgn_bias *b,
                                              rgn_lock_t *l);
RGN_HIDDEN void rgn__bias_unclaim(struct rgn_bias *b);

/* A build of tests/check_bias.c models the processor's store buffer: the
 * owner's store of busy stays invisible to the reader until a fence. */
#ifdef RGN_BIAS_MODEL
RGN_HIDDEN extern atomic_bool rgn__model_membarrier_fails;
RGN_HIDDEN extern atomic_bool rgn__model_mprotect_fails;
RGN_HIDDEN extern atomic_bool rgn__model_slow_drain;
RGN_HIDDEN void rgn__model_store_busy(struct rgn_bias *b);
RGN_HIDDEN void rgn__model_drain(void);
#define RGN_BIAS_SET_BUSY(b) rgn__model_store_busy(b)
#define RGN_BIAS_DRAIN() rgn__model_drain()
#else
#define RGN_BIAS_SET_BUSY(b)                                                  \
    atomic_store_explicit(&(b)->busy, 1, memory_order_relaxed)
#define RGN_BIAS_DRAIN() ((void)0)
#endif

/*
 * The owner's side.  It takes the biased lock while rgn__bias_on(b), else
 * the real lock; and gives back what that test says at the end of the
 * section: it cannot change inside the section but where the section
 * itself turned to the real lock (rgn__bias_enter returned false).  A
 * reader turns a region off only once its owner is out, and the owner's
 * test comes before its release store of `busy`.
 */
static inline bool rgn__bias_on(const struct rgn_bias *b)
{
    return atomic_load_explicit(&b->claim, memory_order_relaxed) !=
           RGN_BIAS_OFF;
}

/* Enters the owner's section; true in the biased lock, false when the
 * region turned to its real lock l, which the caller now holds. */
static inline bool rgn__bias_enter(struct rgn_bias *b, rgn_lock_t *l)
{
    RGN_BIAS_SET_BUSY(b);
    /* Only the compiler is kept from reordering: the reader's heavy fence
     * supplies the processor's fence on this side. */
    atomic_signal_fence(memory_order_seq_cst);
    if (RGN_UNLIKELY(atomic_load_explicit(&b->claim, memory_order_relaxed)))
        return rgn__bias_enter_slow(b, l);
    atomic_signal_fence(memory_order_seq_cst);
    return true;
}

/* Leaves the biased section. */
static inline void rgn__bias_exit(struct rgn_bias *b)
{
    RGN_BIAS_DRAIN();
    atomic_store_explicit(&b->busy, 0, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    if (RGN_UNLIKELY(atomic_load_explicit(&b->claim, memory_order_relaxed)))
        rgn__bias_exit_slow(b);
}

#endif /* RGN_LOCK_H */

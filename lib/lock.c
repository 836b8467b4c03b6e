/* SPDX-License-Identifier: MIT */
/*
 * lock.c -- the locks of lock.h: the futex lock word a shared region
 * takes, the biased lock of a listed region nobody shares, and how a
 * process-wide reader (the audit's reports, metrics) locks a region
 * another thread owns.  It calls nothing of rgn's but the region's
 * fields; it runs no user code.
 *
 * Floor 0: never sees a region (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <sched.h>
#ifdef __linux__
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#endif

/* ---- the lock ----------------------------------------------------------- */

/* The one pair of futex calls: sleeps while *word is still val (returns
 * at once if it is not), and wakes one sleeper on word.  A private futex
 * hashes the address and never touches the memory, so a wake after the
 * word's owner was freed is harmless.  Elsewhere a wait is a yield. */
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
        futex_wait(&l->word, epoch | 2u);
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
    futex_wake(&l->word);
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
 * reader's heavy fence puts one into every running thread of the process
 * at once: after it, either the reader sees the owner busy and waits, or
 * the owner sees the claim and steps aside (rgn__bias_enter_slow) until
 * the reader is done.
 *
 * The heavy fence is membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED),
 * registered at start-up.  It can fail later: a seccomp filter installed
 * by the program (sandboxes do) makes it return EPERM.  Without a fence
 * the reader cannot tell an idle owner from one that is inside with its
 * store of `busy` still in its processor's store buffer, so the region
 * leaves the biased lock, for good, and both sides take its real lock:
 *
 *   - If another heavy fence works -- on x86, an mprotect() that takes
 *     write permission from a private page, which the kernel completes by
 *     interrupting every processor the process runs on to flush its TLB
 *     (folly's asymmetricHeavyBarrier does the same) -- the reader makes
 *     it, waits for the owner as after a membarrier, takes the real lock
 *     and marks the region RGN_BIAS_OFF.  An owner stepping aside
 *     meanwhile wakes, finds it off and takes the real lock.
 *   - Else (another architecture, a processor that flushes other TLBs
 *     without interrupting them, or mprotect refused too) the reader
 *     marks the region RGN_BIAS_ASKED and does not read it.  The owner's
 *     next entry or exit sees the mark and marks it off itself: from its
 *     next call on it takes the real lock, and so do readers.  Until then
 *     readers pass the region by: a reader never waits for an owner that
 *     is not inside a call.
 *
 * Once membarrier failed, readers go straight to the second fence.
 */
bool rgn__bias_ok;
static atomic_bool membarrier_failed;

#ifdef RGN_BIAS_MODEL
/* tests/check_bias.c's processor: one store of `busy` it holds back, and
 * the outcome of the two heavy fences, which drain it when they work. */
atomic_bool rgn__model_membarrier_fails, rgn__model_mprotect_fails;
atomic_bool rgn__model_slow_drain;
static _Atomic(struct rgn_bias *) model_pending;

void rgn__model_store_busy(struct rgn_bias *b)
{
    atomic_store(&model_pending, b);
}

/* A drain is one step: taking the held store and making it visible.  A
 * reader's fence that took it, then was preempted, must not land its
 * busy = 1 after the owner's own later busy = 0 -- a processor drains a
 * thread's stores in order -- or the reader waits for an owner that is
 * out, and that owner for the reader: the hang CI once saw. */
static atomic_flag model_draining = ATOMIC_FLAG_INIT;

void rgn__model_drain(void)
{
    while (atomic_flag_test_and_set(&model_draining))
        sched_yield();
    struct rgn_bias *b = atomic_exchange(&model_pending, NULL);
    if (b) {
        if (atomic_load(&rgn__model_slow_drain))
            for (int i = 0; i < 3; i++) /* widens the window above */
                sched_yield();
        atomic_store(&b->busy, 1);
    }
    atomic_flag_clear(&model_draining);
}
#endif

static long membarrier(int cmd)
{
#ifdef RGN_BIAS_MODEL
    if (cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED) {
        if (atomic_load(&rgn__model_membarrier_fails))
            return -1;
        rgn__model_drain();
        return 0;
    }
#endif
#if defined(__linux__) && defined(SYS_membarrier)
    return syscall(SYS_membarrier, cmd, 0, 0);
#else
    (void)cmd;
    return -1;
#endif
}

/* ---- the second heavy fence ---------------------------------------------- */

#if defined(__linux__) && !defined(RGN_BIAS_MODEL)
/* A page of our own whose write permission each fence takes away, or
 * NULL where that is no fence; mapped when first needed (fence_page_tried
 * set), by a reader -- one at a time, under the registry's lock. */
static volatile int *fence_page;
static size_t fence_page_size;
static bool fence_page_tried;

/*
 * The kernel's TLB shootdown is a fence where it interrupts the other
 * processors: on x86, unless the processor can invalidate other TLBs by
 * itself (AMD's INVLPGB, CPUID 0x80000008 EBX bit 3), which recent
 * kernels use instead of interrupts.  ARM and others broadcast TLB
 * invalidations in hardware: no fence at all.
 */
static bool shootdown_interrupts(void)
{
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    unsigned a, b, c, d;
    if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000008u &&
        __get_cpuid(0x80000008u, &a, &b, &c, &d) && (b & (1u << 3)))
        return false;
    return true;
#else
    return false;
#endif
}

static void fence_page_init(void)
{
    if (!shootdown_interrupts())
        return;
    long page = sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    (void)mlock(p, (size_t)page); /* kept present; a hint only */
    fence_page_size = (size_t)page;
    fence_page = p;
}
#endif

/*
 * The page is made writable and written, so that its translation is
 * present and dirty, then read-only: the kernel must flush it from every
 * processor the process may run on, interrupting them, and waits until
 * they did.  Readers come one at a time (the registry's lock).
 */
static bool mprotect_fence(void)
{
#ifdef RGN_BIAS_MODEL
    if (atomic_load(&rgn__model_mprotect_fails))
        return false;
    rgn__model_drain();
    return true;
#elif defined(__linux__)
    if (!fence_page_tried) {
        fence_page_tried = true;
        fence_page_init();
    }
    if (!fence_page || mprotect((void *)fence_page, fence_page_size,
                                PROT_READ | PROT_WRITE) != 0)
        return false;
    __atomic_fetch_add(fence_page, 1, __ATOMIC_SEQ_CST);
    return mprotect((void *)fence_page, fence_page_size, PROT_READ) == 0;
#else
    return false;
#endif
}

enum fence {
    FENCE_NONE,
    FENCE_MEMBARRIER,
    FENCE_OTHER
};

static enum fence heavy_fence(void)
{
    if (!atomic_load_explicit(&membarrier_failed, memory_order_relaxed)) {
        if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
            return FENCE_MEMBARRIER;
        atomic_store_explicit(&membarrier_failed, true, memory_order_relaxed);
    }
    return mprotect_fence() ? FENCE_OTHER : FENCE_NONE;
}

/* ---- choosing ------------------------------------------------------------ */

#if defined(__SANITIZE_THREAD__)
#define RGN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RGN_TSAN 1
#endif
#endif

/* No race detector sees the fence membarrier makes, so under one -- a
 * library built with ThreadSanitizer, or a process that it, helgrind or
 * DRD runs (race.h) -- the owner takes the real lock, and the real lock
 * is what the detector checks.  (The model of tests/check_bias.c makes
 * its own fences, which TSan sees.) */
static void choose_bias(void)
{
#if defined(RGN_BIAS_MODEL)
    rgn__bias_ok = true;
#elif defined(__linux__) && defined(SYS_membarrier) && !defined(RGN_TSAN)
    (void)rgn__race_find(); /* before its constructor, perhaps */
    rgn__bias_ok = !rgn__races() &&
                   membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
#else
    rgn__bias_ok = false;
#endif
    atomic_store_explicit(&membarrier_failed, false, memory_order_relaxed);
}

__attribute__((constructor)) static void bias_init(void)
{
    choose_bias();
}

/* ---- the owner's side ----------------------------------------------------- */

/*
 * The owner found a claim: it steps aside until the reader is done, or
 * turns to the real lock (returning false, l held) if the region is off
 * or a reader asked it to.
 */
bool rgn__bias_enter_slow(struct rgn_bias *b, rgn_lock_t *l)
{
    RGN_BIAS_DRAIN();
    for (;;) {
        unsigned c = atomic_load_explicit(&b->claim, memory_order_acquire);
        if (c == RGN_BIAS_ASKED) {
            /* Only this thread moves the claim on from ASKED, and the
             * reader that asked did not read: off, from this call on. */
            atomic_store_explicit(&b->claim, RGN_BIAS_OFF,
                                  memory_order_release);
            c = RGN_BIAS_OFF;
        }
        if (c == RGN_BIAS_OFF) {
            atomic_store_explicit(&b->busy, 0, memory_order_relaxed);
            rgn__lock_take(l);
            return false;
        }
        atomic_store_explicit(&b->busy, 0, memory_order_release);
        futex_wake(&b->busy);
        while ((c = atomic_load_explicit(&b->claim, memory_order_acquire)) ==
               RGN_BIAS_CLAIMED)
            futex_wait(&b->claim, RGN_BIAS_CLAIMED);
        if (c != RGN_BIAS_FREE)
            continue; /* asked, or off: see above */
        atomic_store_explicit(&b->busy, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        if (!atomic_load_explicit(&b->claim, memory_order_relaxed))
            return true;
    }
}

/* The owner left its biased section with a claim set: a reader waits
 * for it, or asked it to turn to the real lock -- done now, the owner
 * being out.  (Off meanwhile: a reader saw it out and turned it.) */
void rgn__bias_exit_slow(struct rgn_bias *b)
{
    unsigned c = atomic_load_explicit(&b->claim, memory_order_acquire);
    if (c == RGN_BIAS_ASKED)
        atomic_store_explicit(&b->claim, RGN_BIAS_OFF, memory_order_release);
    else if (c == RGN_BIAS_CLAIMED)
        futex_wake(&b->busy);
}

/* ---- the reader's side ------------------------------------------------------ */

enum rgn_bias_read rgn__bias_claim(struct rgn_bias *b, rgn_lock_t *l)
{
    unsigned c = atomic_load_explicit(&b->claim, memory_order_acquire);
    if (c == RGN_BIAS_OFF) {
        rgn__lock_take(l);
        return RGN_READ_REAL;
    }
    if (c == RGN_BIAS_ASKED) /* its owner has not been in since */
        return RGN_READ_SKIP;
    RGN_ASSERT(c == RGN_BIAS_FREE); /* one reader at a time */
    atomic_store_explicit(&b->claim, RGN_BIAS_CLAIMED, memory_order_relaxed);
    enum fence fence = heavy_fence();
    if (fence == FENCE_NONE) {
        /* The owner may be inside unseen.  It is asked to turn to the
         * real lock, and woken if it waits for this claim. */
        atomic_store_explicit(&b->claim, RGN_BIAS_ASKED, memory_order_release);
        futex_wake(&b->claim);
        return RGN_READ_SKIP;
    }
    while (atomic_load_explicit(&b->busy, memory_order_acquire))
        futex_wait(&b->busy, 1);
    if (fence == FENCE_OTHER) {
        /* membarrier is gone: the owner is out, and from now on it takes
         * the real lock, as the reader does. */
        rgn__lock_take(l);
        atomic_store_explicit(&b->claim, RGN_BIAS_OFF, memory_order_release);
        futex_wake(&b->claim);
        return RGN_READ_REAL;
    }
    return RGN_READ_BIAS;
}

void rgn__bias_unclaim(struct rgn_bias *b)
{
    atomic_store_explicit(&b->claim, RGN_BIAS_FREE, memory_order_release);
    futex_wake(&b->claim);
}

/* ---- a process-wide reader of a region --------------------------------- */

bool rgn__reader_lock(rgn_t *r)
{
    /* Every user of r takes the real lock without bias, and once it is
     * shared: `shared` is set inside the owner's biased section and
     * never cleared, and a reader that sees it set takes the real lock
     * while the section ends (it touches nothing else). */
    if (!rgn__bias_ok || !rgn__unshared(r)) {
        rgn__lock_take(&r->lock);
        return true;
    }
    switch (rgn__bias_claim(&r->bias, &r->lock)) {
    case RGN_READ_SKIP:
        return false;
    case RGN_READ_REAL:
        return true;
    case RGN_READ_BIAS:
        break;
    }
    /* Shared before the claim: the real lock is what its users take. */
    if (!rgn__unshared(r))
        rgn__lock_take(&r->lock);
    return true;
}

void rgn__reader_unlock(rgn_t *r)
{
    /* Only this reader sets CLAIMED, and clears it here. */
    bool claimed = rgn__bias_ok && atomic_load_explicit(
                                       &r->bias.claim, memory_order_relaxed) ==
                                       RGN_BIAS_CLAIMED;
    if (!claimed || !rgn__unshared(r))
        rgn__lock_give(&r->lock);
    if (claimed)
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

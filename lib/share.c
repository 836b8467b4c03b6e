/*
 * share.c -- regions shared across threads.
 *
 * A region starts unshared and never touches its lock.  Once shared, every
 * call takes a small test-and-test-and-set lock: critical sections are a
 * few dozen instructions and never run user code, so spinning briefly
 * beats sleeping; a holder that was preempted is waited for with
 * sched_yield rather than burning its core.
 */
#include "internal.h"

#include <sched.h>

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

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
        if (spins < 64)
            cpu_relax();
        else
            sched_yield();
    }
}

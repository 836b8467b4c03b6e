/* SPDX-License-Identifier: MIT */
/*
 * race.h -- the race detectors a process may run under (race.c):
 * ThreadSanitizer, and valgrind's helgrind and DRD.  None of them sees a
 * hand-off rgn makes through its own atomics -- a region's futex lock
 * word, the allocator's freeze, a slot map's pages moved by mremap or
 * passed through the spare exchange -- so each would report the accesses
 * on either side of it as racing.  rgn tells them instead: a release
 * where a thread lets something go, an acquire where another takes it,
 * both naming the same address.
 *
 * ThreadSanitizer is found through two weak symbols, which only a
 * process it runs defines: a program built with -fsanitize=thread sees
 * none of the loads and stores of a librgn that was not, only its
 * interceptors and the program's own code.  helgrind and DRD are found
 * through valgrind's client requests when the library loads (race.c),
 * and told through helgrind's happens-before requests, which DRD honours
 * too.  In a process with none of them each announcement is a load and
 * a branch, on paths that take a lock (or a mutex) anyway (make
 * bench-ir: a pair on a shared region 312 -> 314 instructions, where
 * ThreadSanitizer's symbol alone was tested).  Where one runs, the
 * biased lock is off too (lock.c): none can see the fence it relies on.
 * Each call here runs no user code and takes no lock.
 */
#ifndef RGN_RACE_H
#define RGN_RACE_H

#include "base.h"

#include <pthread.h>

void __tsan_acquire(void *addr) __attribute__((weak));
void __tsan_release(void *addr) __attribute__((weak));

/* How the detector that runs the process is told: ThreadSanitizer's own
 * calls from the start (NULL where it does not run), helgrind's requests
 * from the load on where helgrind or DRD was found (race.c); NULL in
 * every other process.  One pointer, so that each announcement costs a
 * load and a branch where none runs. */
struct rgn_race_hooks {
    void (*acquire)(void *addr);
    void (*release)(void *addr);
};
RGN_HIDDEN extern struct rgn_race_hooks rgn__race_hooks;
/* helgrind or DRD runs the process: set when the library loads. */
RGN_HIDDEN extern bool rgn__race_vg;
/* Looks for helgrind and DRD, once (the load's constructor does); true
 * when one runs the process. */
RGN_HIDDEN bool rgn__race_find(void);
/*
 * Where helgrind or DRD runs: the n bytes at addr are read and written
 * only with atomic operations from now on (atomic true), or are plain
 * memory again (false, before they go back to the allocator).
 * ThreadSanitizer sees the atomics of the library's own code as such;
 * helgrind and DRD take an atomic exchange on a lock word for a race with
 * the next thread's, so they are told to leave those bytes alone -- and
 * to watch them again once the memory may be anything else, or they
 * would miss a race there.
 */
RGN_HIDDEN void rgn__race_vg_atomic(void *addr, size_t n, bool atomic);

/* Whether a race detector runs the process. */
static inline bool rgn__races(void)
{
    return RGN_UNLIKELY(rgn__race_hooks.acquire != NULL);
}

/* What another thread released at addr is this thread's now. */
static inline void rgn__race_acquire(void *addr)
{
    if (rgn__races())
        rgn__race_hooks.acquire(addr);
}

/* What this thread wrote is handed over at addr: announced before the
 * hand-off itself, after which the memory may be another thread's. */
static inline void rgn__race_release(void *addr)
{
    if (rgn__races())
        rgn__race_hooks.release(addr);
}

/* pthread_once(once, init) as helgrind sees it too: it does not take the
 * call for the hand-off it is, so init ends with rgn__race_release(once)
 * and each caller acquires it.  (ThreadSanitizer and DRD see it.) */
static inline void rgn__once(pthread_once_t *once, void (*init)(void))
{
    pthread_once(once, init);
    rgn__race_acquire(once);
}

#endif /* RGN_RACE_H */

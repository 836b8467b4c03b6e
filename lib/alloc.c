/* SPDX-License-Identifier: MIT */
/*
 * alloc.c -- the process-wide allocator every byte of rgn comes from.
 *
 * It may change only until the first region exists: after that, memory
 * from one allocator could be handed to another's free.  A mutex guards
 * the change; once frozen, constructors pay a single acquire load.  The
 * fork handlers hold the mutex across fork().  Calls nothing of rgn's
 * but the race detectors' announcements (race.h).
 *
 * Floor 0: never sees a region (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>

rgn_allocator rgn__alloc = {malloc, realloc, free};
atomic_bool rgn__alloc_frozen; /* constructors may skip the slow path */
static atomic_bool fixed;      /* no change any more; set under `setting` */
static pthread_mutex_t setting = PTHREAD_MUTEX_INITIALIZER;

int rgn_set_allocator(const rgn_allocator *a)
{
    if (a && (!a->malloc || !a->realloc || !a->free))
        return rgn__refused(-EINVAL);
    int rc = 0;
    pthread_mutex_lock(&setting);
    if (atomic_load_explicit(&fixed, memory_order_relaxed)) {
        rc = -EBUSY;
    } else {
        rgn__alloc = a ? *a : (rgn_allocator){malloc, realloc, free};
        rgn__race_release(&rgn__alloc); /* for freeze_slow's constructors */
    }
    pthread_mutex_unlock(&setting);
    return rgn__refused(rc);
}

/*
 * The first constructor fixes the allocator.  In a process that a race
 * detector runs (race.h), it cannot see the fast path's acquire load, and
 * the allocator's own state, written by the thread that set it, would
 * read as raced by every thread that makes a region: there
 * rgn__alloc_frozen stays false, and every constructor comes here to
 * announce the acquire instead.  Not by taking the mutex: that would
 * order every region made in the process after the one made before,
 * hiding the program's own races from the detector.
 */
void rgn__allocator_freeze_slow(void)
{
    if (rgn__races() && atomic_load_explicit(&fixed, memory_order_acquire)) {
        rgn__race_acquire(&rgn__alloc);
        return;
    }
    pthread_mutex_lock(&setting);
    atomic_store_explicit(&fixed, true, memory_order_release);
    if (!rgn__races())
        atomic_store_explicit(&rgn__alloc_frozen, true, memory_order_release);
    pthread_mutex_unlock(&setting);
}

/* Under a race detector freeze_slow reads `fixed` without the mutex, as
 * an atomic: helgrind and DRD are told so at load (race.h). */
__attribute__((constructor)) static void fixed_is_atomic(void)
{
    if (rgn__race_find())
        rgn__race_vg_atomic(&fixed, sizeof fixed, true);
}

/* A fork while another thread held the mutex would leave it held for good
 * in the child, whose first rgn_new would wait on it for ever. */
void rgn__alloc_fork_prepare(void)
{
    pthread_mutex_lock(&setting);
}

/* In the parent and in the child alike: the forking thread holds it. */
void rgn__alloc_fork_release(void)
{
    pthread_mutex_unlock(&setting);
}

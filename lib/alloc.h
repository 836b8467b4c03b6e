/* SPDX-License-Identifier: MIT */
/*
 * alloc.h -- the process-wide allocator (alloc.c): every byte rgn takes
 * from the heap goes through these, so rgn_set_allocator can redirect
 * them all.  It may change only until the first region is made.
 */
#ifndef RGN_ALLOC_H
#define RGN_ALLOC_H

#include "base.h"

/* The allocator; it only changes before the first region is made, after
 * which rgn__alloc_frozen is set (except under ThreadSanitizer, alloc.c). */
RGN_HIDDEN extern rgn_allocator rgn__alloc;
RGN_HIDDEN extern atomic_bool rgn__alloc_frozen;
RGN_HIDDEN void rgn__allocator_freeze_slow(void);

static inline void *rgn__malloc(size_t n)
{
    return rgn__alloc.malloc(n);
}

static inline void *rgn__realloc(void *p, size_t n)
{
    return rgn__alloc.realloc(p, n);
}

static inline void rgn__free(void *p)
{
    if (p)
        rgn__alloc.free(p);
}

/* The fork handlers (report.c) hold the setting mutex across fork(), the
 * last lock they take: nothing is taken under it.  The child lets it go,
 * so its first region can freeze the allocator. */
RGN_HIDDEN void rgn__alloc_fork_prepare(void);
RGN_HIDDEN void rgn__alloc_fork_release(void);

/* Called by every region constructor: no allocator change after this. */
static inline void rgn__allocator_freeze(void)
{
    if (RGN_UNLIKELY(
            !atomic_load_explicit(&rgn__alloc_frozen, memory_order_acquire)))
        rgn__allocator_freeze_slow();
}

#endif /* RGN_ALLOC_H */

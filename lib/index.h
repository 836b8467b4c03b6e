/* SPDX-License-Identifier: MIT */
/*
 * index.h -- a region's index of its resources by value (index.c): the
 * (cleanup, resource) pairs of its live slots, for rgn_find and
 * rgn_release_value, and the hook that keeps it up to date.
 *
 * The index lives in the region's tracking state (tracking->index) from
 * the first rgn_find on.  Having tracking state, such a region takes the
 * general paths of registration and release from then on, and only they
 * know of the index: a region that never asked pays nothing.
 */
#ifndef RGN_INDEX_H
#define RGN_INDEX_H

#include "base.h"
#include "audit.h"
#include "region.h"

/* Slot i (just linked, r locked) joins r's index; out of memory, the
 * index is dropped, and the next find builds it again. */
RGN_HIDDEN void rgn__index_insert(rgn_t *r, uint32_t i);
static inline void rgn__index_add(rgn_t *r, uint32_t i)
{
    if (RGN_UNLIKELY(r->tracking->index != NULL))
        rgn__index_insert(r, i);
}

/* rgn_realloc gave slot i of r (locked, tracked) a new resource in the
 * place of old: its entry follows. */
RGN_HIDDEN void rgn__index_moved(rgn_t *r, uint32_t i, const void *old);
static inline void rgn__index_rehome(rgn_t *r, uint32_t i, const void *old)
{
    if (RGN_UNLIKELY(r->tracking->index != NULL))
        rgn__index_moved(r, i, old);
}

/* Live slot i of r (r locked, tracked) is about to leave it by a
 * release, an unprotect, a move or a child's detach: its entry goes.  A
 * close's and a clear's slots are left to go stale. */
RGN_HIDDEN void rgn__index_delete(rgn_t *r, uint32_t i);
static inline void rgn__index_remove(rgn_t *r, uint32_t i)
{
    if (RGN_UNLIKELY(r->tracking->index != NULL))
        rgn__index_delete(r, i);
}

#endif /* RGN_INDEX_H */

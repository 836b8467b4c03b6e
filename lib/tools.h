/* SPDX-License-Identifier: MIT */
/*
 * tools.h -- the memory tools a process may run under, found once when
 * the library loads (tools.c): AddressSanitizer, valgrind's memcheck, and
 * RGN_ARENA_FILL.  Its one user is the arena (arena.c): where any of them
 * is on, every allocation takes the arena's slow path, which tells the
 * tool what it hands out and what it takes back.  Elsewhere none of this
 * costs anything: the bump in rgn_alloc never reads it.
 */
#ifndef RGN_TOOLS_H
#define RGN_TOOLS_H

#include "base.h"

#define RGN_TOOL_ASAN 1u     /* poisoning through ASan's interface */
#define RGN_TOOL_MEMCHECK 2u /* valgrind's memcheck: mempools */
#define RGN_TOOL_FILL 4u     /* RGN_ARENA_FILL: patterns and sentinels */
#define RGN_TOOL_UNSET                                                        \
    128u /* not looked for yet (before the load's
                                constructor, in a static build) */

/* Which tools are on: RGN_TOOL_* bits, fixed once found; 0 in a normal
 * process.  Read with rgn__tools_on(). */
RGN_HIDDEN extern unsigned rgn__tools;
/* The room a new region's arena shows rgn_alloc's inline bump: its
 * inline bytes, or none when a tool is on (so that every allocation
 * takes the slow path), and none until the tools were looked for. */
RGN_HIDDEN extern unsigned rgn__inline_room;
/* RGN_ARENA_FILL's byte; the sentinels after allocations hold its
 * complement. */
RGN_HIDDEN extern unsigned char rgn__fill;

/* Looks for the tools, once; returns rgn__tools. */
RGN_HIDDEN unsigned rgn__tools_find(void);
static inline unsigned rgn__tools_on(void)
{
    unsigned t = __atomic_load_n(&rgn__tools, __ATOMIC_RELAXED);
    if (RGN_UNLIKELY(t & RGN_TOOL_UNSET))
        t = rgn__tools_find();
    return t;
}

/*
 * What the tools are told; each is a no-op for a tool that is off.
 * hide: the bytes may not be touched (ASan: poisoned; memcheck:
 * no-access).  show: rgn itself reads or writes them next (unpoisoned;
 * defined).  give: they go back to the allocator, or become the caller's
 * as uninitialised memory (unpoisoned; undefined).
 */
RGN_HIDDEN void rgn__tool_hide(const void *p, size_t n);
RGN_HIDDEN void rgn__tool_show(const void *p, size_t n);
RGN_HIDDEN void rgn__tool_give(const void *p, size_t n);

/* A memcheck mempool anchored at `pool` (a region's tool state): made,
 * given a chunk of n bytes at p (undefined, with the allocating stack
 * remembered for memcheck's reports; ASan: unpoisoned), emptied of every
 * chunk (no-access again), and destroyed.  Each chunk has `redzone`
 * bytes of no access before and after it, which the caller leaves free:
 * memcheck tells an access there as one before or after that chunk,
 * naming its allocation, rather than as one inside the block the chunk
 * was cut from. */
RGN_HIDDEN void rgn__tool_pool_new(const void *pool, size_t redzone);
RGN_HIDDEN void rgn__tool_pool_alloc(const void *pool, const void *p,
                                     size_t n);
RGN_HIDDEN void rgn__tool_pool_empty(const void *pool);
RGN_HIDDEN void rgn__tool_pool_destroy(const void *pool);

#endif /* RGN_TOOLS_H */

/* SPDX-License-Identifier: MIT */
/*
 * map.c -- the cold half of the slot map (map.h): growing the slot
 * arrays and freeing them.  It calls only the allocator (alloc.h), the
 * system's mmap family and the race detectors' announcements (race.h).
 *
 * Floor 0: never sees a region (doc/HACKING, "Floors").
 */
#include "alloc.h"
#include "lock.h"
#include "map.h"

#include <stdlib.h>
#include <sys/mman.h>

/*
 * Where the slot arrays live, by capacity:
 *   - RGN_INLINE_SLOTS: the owner's storage, inside the region (no
 *     allocation at all);
 *   - up to MAP_SLOTS, or always with a program's allocator: one block
 *     holding cb[cap] then ln[cap], so a region of up to 31 resources
 *     costs one allocation beyond its own, and one growth;
 *   - past MAP_SLOTS with libc's allocator: cb[] and ln[] each in pages
 *     of their own, grown by mremap, which moves page tables instead of
 *     copying.  Copying grew a region to 10^6 slots by copying about nine
 *     times its final arrays (28 MB): a fill of 10^6 resources in a warm
 *     heap cost 12x APR's.  glibc does the same for its big blocks, but
 *     only past its mmap threshold, which it raises to 32 MB once big
 *     blocks have been freed -- in a long-running process, never.
 * The capacity alone says which, so nothing else is stored.
 */
#define MAP_SLOTS 32768u

#if defined(MREMAP_MAYMOVE) && !defined(RGN_NO_MREMAP)
static bool mapped(uint32_t cap)
{
    return cap > MAP_SLOTS && rgn__alloc.malloc == malloc;
}

static size_t pages(size_t n)
{
    size_t page = 4096;
    return (n + page - 1) & ~(page - 1);
}

/*
 * No race detector sees mremap: the pages a move leaves keep, to it,
 * the writes of the thread that moved them away, and the next region the
 * kernel moves there, in another thread, reads as racing with them.
 * The kernel hands those pages over; each move announces it (race.h).
 */
static char remapped;

static void *map_grow(void *old, size_t was, size_t n)
{
    if (old)
        rgn__race_release(&remapped);
    void *p = old ? mremap(old, pages(was), pages(n), MREMAP_MAYMOVE)
                  : mmap(NULL, pages(n), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (old)
        rgn__race_acquire(&remapped);
#ifdef MADV_POPULATE_WRITE
    /* The new pages are about to be written, slot after slot: fault them
     * in with one call rather than one trap each (a trap costs micro-
     * seconds in a virtual machine).  Only a hint: failure is harmless. */
    size_t from = old ? pages(was) : 0;
    (void)madvise((char *)p + from, pages(n) - from, MADV_POPULATE_WRITE);
#endif
    return p;
}

static void map_free(void *p, size_t n)
{
    munmap(p, pages(n));
}

/*
 * The arrays of the last big region freed, kept for the next big region:
 * a long-running program that fills and closes big regions would
 * otherwise fault in fresh pages every time, and a fault costs
 * microseconds in a virtual machine (glibc and APR keep freed big blocks
 * for the same reason).  One pair at most, so at most one region's arrays
 * stay mapped.  The pair is described in the first bytes of its cb pages
 * and handed over by one atomic exchange: no lock, safe across fork; a
 * hand-off the race detectors are told of (race.h), as the pages go from one
 * thread's region to another's.
 */
struct spare {
    size_t cb_bytes;
    struct rgn_link *ln;
    size_t ln_bytes;
};
static _Atomic(struct spare *) spare_pages;

/* Unmaps a pair that left the exchange (its description goes with it). */
static void spare_drop(struct spare *sp)
{
    struct spare d = *sp;
    munmap(d.ln, d.ln_bytes);
    munmap(sp, d.cb_bytes);
}

static void spare_put(struct rgn_cb *cb, size_t cb_bytes, struct rgn_link *ln,
                      size_t ln_bytes)
{
    struct spare *sp = (struct spare *)cb;
    *sp = (struct spare){pages(cb_bytes), ln, pages(ln_bytes)};
    rgn__race_release(&spare_pages);
    struct spare *old = atomic_exchange(&spare_pages, sp);
    if (old) {
        rgn__race_acquire(&spare_pages);
        spare_drop(old);
    }
}

/* Takes the spare pair for at least cap slots, trimmed to the most slots
 * both arrays hold; returns that capacity, or 0 (none, or too small). */
static uint32_t spare_take(uint32_t cap, struct rgn_cb **cb,
                           struct rgn_link **ln)
{
    struct spare *sp = atomic_exchange(&spare_pages, NULL);
    if (!sp)
        return 0;
    rgn__race_acquire(&spare_pages);
    struct spare d = *sp;
    size_t fit = d.cb_bytes / sizeof **cb;
    if (d.ln_bytes / sizeof **ln < fit)
        fit = d.ln_bytes / sizeof **ln;
    if (fit > RGN_MAX_SLOTS)
        fit = RGN_MAX_SLOTS;
    if (fit < cap) {
        spare_drop(sp);
        return 0;
    }
    /* Shrinking in place cannot fail. */
    *cb = mremap(sp, d.cb_bytes, pages(fit * sizeof **cb), 0);
    *ln = mremap(d.ln, d.ln_bytes, pages(fit * sizeof **ln), 0);
    return (uint32_t)fit;
}
/* Grows the arrays into (or within) pages of their own; returns the new
 * capacity, at least cap, or 0. */
static uint32_t to_pages(struct rgn_slots *s, uint32_t cap)
{
    bool was_mapped = mapped(s->cap);
    size_t was_cb = s->cap * sizeof *s->cb, was_ln = s->cap * sizeof *s->ln;
    struct rgn_cb *cb = NULL;
    struct rgn_link *ln = NULL;
    uint32_t got = was_mapped ? 0 : spare_take(cap, &cb, &ln);
    if (got) {
        cap = got;
    } else {
        cb = map_grow(was_mapped ? s->cb : NULL, was_cb, cap * sizeof *cb);
        if (!cb)
            return 0;
        ln = map_grow(was_mapped ? s->ln : NULL, was_ln, cap * sizeof *ln);
    }
    if (!ln) {
        /* cb grew alone: shrink it back (in place, which cannot fail), or
         * give back the new pages. */
        if (was_mapped)
            s->cb = mremap(cb, pages(cap * sizeof *cb), pages(was_cb), 0);
        else
            map_free(cb, cap * sizeof *cb);
        return 0;
    }
    if (!was_mapped) {
        memcpy(cb, s->cb, s->used * sizeof *cb);
        memcpy(ln, s->ln, s->used * sizeof *ln);
        if (s->cap != RGN_INLINE_SLOTS)
            rgn__free(s->cb);
    }
    s->cb = cb;
    s->ln = ln;
    return cap;
}
#else
/* Without mremap's MREMAP_MAYMOVE (or with -DRGN_NO_MREMAP, which
 * tests/nomremap.sh builds) the arrays stay in one block whatever their
 * size: nothing is ever mapped, so neither function below is called.
 * They are functions, not macros, so that both halves define the same
 * names the same way and the code after them compiles either way. */
static bool mapped(uint32_t cap)
{
    (void)cap;
    return false;
}

static uint32_t to_pages(struct rgn_slots *s, uint32_t cap)
{
    (void)s;
    (void)cap;
    return 0;
}

static void spare_put(struct rgn_cb *cb, size_t cb_bytes, struct rgn_link *ln,
                      size_t ln_bytes)
{
    (void)cb;
    (void)cb_bytes;
    (void)ln;
    (void)ln_bytes;
}
#endif

/* Moves the arrays into one block of cap slots: out of the region, or
 * by growing their block (ln[] then moves up to its new place). */
static bool to_block(struct rgn_slots *s, uint32_t cap)
{
    size_t slot = sizeof *s->cb + sizeof *s->ln;
    if (s->cap == RGN_INLINE_SLOTS) {
        struct rgn_cb *cb = rgn__malloc(cap * slot);
        if (!cb)
            return false;
        memcpy(cb, s->cb, s->used * sizeof *cb);
        memcpy(cb + cap, s->ln, s->used * sizeof *s->ln);
        s->cb = cb;
        s->ln = (struct rgn_link *)(cb + cap);
        return true;
    }
    struct rgn_cb *cb = rgn__realloc(s->cb, cap * slot);
    if (!cb)
        return false;
    struct rgn_link *ln = (struct rgn_link *)(cb + cap);
    memmove(ln, cb + s->cap, s->used * sizeof *ln);
    s->cb = cb;
    s->ln = ln;
    return true;
}

/*
 * The next capacity: 32 slots at once when leaving the region (a region
 * of up to 31 resources grows once, into one block of 896 bytes, which
 * glibc's per-thread cache still serves: at 64 slots the block left it,
 * and closing 25,000 regions of 16 resources cost 45 ns a resource
 * instead of 21), doubling up to 4096 slots (at most
 * 113 KB unused), then an eighth more at a time, so that past that at
 * most an eighth of the arrays is unused and a live resource costs at
 * most 31.5 bytes.  Growth stays O(1) amortised.  A flat array keeps the
 * pair fast: fixed blocks past a flat prefix would copy nothing either,
 * but they put a table lookup in front of every slot of a big region, and
 * measured, its register+release pairs cost 40% more.
 */
static uint32_t next_cap(uint32_t cap)
{
    if (cap < RGN_FIRST_BLOCK)
        return RGN_FIRST_BLOCK;
    uint32_t more = cap < 4096 ? cap : cap / 8;
    return more < RGN_MAX_SLOTS - cap ? cap + more : RGN_MAX_SLOTS;
}

bool rgn__slots_grow(struct rgn_slots *s)
{
    uint32_t cap = next_cap(s->cap);
    size_t n = cap;
    if (cap == s->cap || n > SIZE_MAX / (sizeof *s->cb + sizeof *s->ln))
        return false;
    if (mapped(cap))
        cap = to_pages(s, cap);
    else if (!to_block(s, cap))
        cap = 0;
    if (cap)
        s->cap = cap;
    return cap != 0;
}

void rgn__slots_free(struct rgn_slots *s)
{
    if (mapped(s->cap)) {
        spare_put(s->cb, s->cap * sizeof *s->cb, s->ln,
                  s->cap * sizeof *s->ln);
    } else {
        rgn__free(s->cb); /* the one block */
    }
}

/*
 * map.c -- the cold half of the slot map: growing storage by blocks that
 * never move, and freeing it.  The O(1) operations are inline in map.h.
 */
#include "internal.h"

__thread int *rgn__errno_at __attribute__((tls_model("initial-exec")));

/* Moves the arrays out of the region into allocations of cap slots. */
static bool leave_inline(rgn_t *r, uint32_t cap)
{
    struct rgn_cb *cb = rgn__malloc(cap * sizeof *cb);
    struct rgn_link *ln = cb ? rgn__malloc(cap * sizeof *ln) : NULL;
    if (!ln) {
        rgn__free(cb);
        return false;
    }
    memcpy(cb, r->cb, r->used * sizeof *cb);
    memcpy(ln, r->ln, r->used * sizeof *ln);
    r->cb = cb;
    r->ln = ln;
    return true;
}

/* Grows allocated arrays to cap slots.  When only cb[] could grow, it
 * stays bigger than cap says: harmless, and the next attempt reuses it. */
static bool grow_allocated(rgn_t *r, uint32_t cap)
{
    struct rgn_cb *cb = rgn__realloc(r->cb, cap * sizeof *cb);
    if (!cb)
        return false;
    r->cb = cb;
    struct rgn_link *ln = rgn__realloc(r->ln, cap * sizeof *ln);
    if (!ln)
        return false;
    r->ln = ln;
    return true;
}

/*
 * The next capacity: doubling up to 4096 slots (at most 57 KB unused),
 * then an eighth more at a time, so that past that at most an eighth of
 * the arrays is unused and a live resource costs at most 31.5 bytes.
 * Growth stays O(1) amortised; glibc's realloc moves arrays past its mmap
 * threshold by remapping their pages rather than copying them.  Below that
 * threshold (which glibc raises to as much as 32 MB once big blocks are
 * freed) they are copied: growing to 10^6 slots then copies about nine
 * times the final arrays, once.  Fixed blocks past a flat prefix would
 * copy nothing, but they put a table lookup in front of every slot of a
 * big region: measured, its register+release pairs cost 40% more, and
 * pairs are what a long-lived region spends its life on.
 */
static uint32_t next_cap(uint32_t cap)
{
    uint32_t more = cap < 4096 ? cap : cap / 8;
    return more < RGN_MAX_SLOTS - cap ? cap + more : RGN_MAX_SLOTS;
}

bool rgn__slots_grow(rgn_t *r)
{
    uint32_t cap = next_cap(r->cap);
    size_t n = cap;
    if (cap == r->cap || n > SIZE_MAX / sizeof *r->cb)
        return false;
    bool grown = r->cb == r->inline_cb ? leave_inline(r, cap)
                                       : grow_allocated(r, cap);
    if (grown)
        r->cap = cap;
    return grown;
}

void rgn__slots_free(rgn_t *r)
{
    rgn__free(r->cb);
    rgn__free(r->ln);
}

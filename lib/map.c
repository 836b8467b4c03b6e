/*
 * map.c -- the cold half of the slot map: growing storage by blocks that
 * never move, and freeing it.  The O(1) operations are inline in map.h.
 */
#include "internal.h"

__thread int *rgn__errno_at __attribute__((tls_model("initial-exec")));

/* Groups in block k: 1, 2, 4, ... up to RGN_BLOCK_MAX_GROUPS.  Small
 * regions that outgrow the inline group stay small; big ones grow by a
 * fixed 256 slots, so at most one block's worth is ever unused. */
static uint32_t block_groups(uint32_t k)
{
    return k < 5 ? 1u << k : RGN_BLOCK_MAX_GROUPS;
}

/* Makes room for n more entries in the group table. */
static bool table_reserve(rgn_t *r, uint32_t n)
{
    if (r->ngroups + n <= r->groups_cap)
        return true;
    uint32_t cap = r->groups_cap * 2;
    while (cap < r->ngroups + n)
        cap *= 2;
    struct rgn_group **t;
    if (r->groups == r->inline_table) {
        t = rgn__malloc(cap * sizeof *t);
        if (t)
            memcpy(t, r->groups, r->ngroups * sizeof *t);
    } else {
        t = rgn__realloc(r->groups, cap * sizeof *t);
    }
    if (!t)
        return false;
    r->groups = t;
    r->groups_cap = cap;
    return true;
}

bool rgn__slots_grow(rgn_t *r)
{
    uint32_t n = block_groups(r->nblocks);
    if (r->ngroups > (RGN_MAX_SLOTS - n * RGN_GROUP_SLOTS) / RGN_GROUP_SLOTS)
        return false;
    if (!table_reserve(r, n))
        return false;
    struct rgn_group *b = rgn__malloc(n * sizeof *b);
    if (!b)
        return false;
    for (uint32_t g = 0; g < n; g++)
        r->groups[r->ngroups++] = &b[g];
    r->nblocks++;
    return true;
}

void rgn__slots_free(rgn_t *r)
{
    /* A block starts where the one before it ended. */
    uint32_t g = 1;
    for (uint32_t k = 0; k < r->nblocks; k++) {
        rgn__free(r->groups[g]);
        g += block_groups(k);
    }
    if (r->groups != r->inline_table)
        rgn__free(r->groups);
}

/* SPDX-License-Identifier: MIT */
/*
 * index.c -- finding and releasing resources by value, (cleanup,
 * resource), in O(1) on average: rgn_find and rgn_release_value, over a
 * per-region hash table built by the first find.
 *
 * devres (devres_find, devres_remove) and APR (apr_pool_cleanup_kill)
 * walk a list.  Here a region that is asked gets an open-addressing
 * table (linear probing) of its live slots by pair: 8 bytes a bucket, a
 * slot index and the pair's 32-bit hash, the pair itself being read from
 * the slot map, so a lookup is a hash, a probe or two and one slot's
 * cleanup compared.  Its upkeep is on the general paths alone (hooks in
 * resource.c and child.c): a slot linked in goes in (registration,
 * allocate, a move in), one released, unprotected, moved away or
 * detached as a child goes out, by backward-shift deletion (no
 * tombstones), and rgn_realloc's new address follows.  A close's and a
 * clear's slots are not taken out one by one: their buckets go stale,
 * and every bucket is validated where it is used -- its slot must be
 * live and hold its pair -- so a stale one is passed over, and goes at
 * the next rebuild.
 *
 * The same pair registered more than once has one bucket per
 * registration, and the newest first along their probe path: an
 * insertion that meets a valid bucket of its own pair takes its place
 * and carries that one on behind it.  So the first valid bucket a lookup
 * meets is the newest registration, and the lookup stops there.  Buckets
 * of one pair share their home, so backward-shift deletion never moves
 * one past another; a build inserts the live list oldest first.  A stale
 * bucket whose slot is reused for the same pair turns valid again, but
 * never ahead of a newer registration's: that slot's new registration
 * was inserted ahead of every valid bucket of the pair, and any later
 * one ahead of it.
 *
 * The table is rebuilt, from the live list, when its buckets in use --
 * live and stale -- reach half: to the smallest power of two the live
 * slots fill no more than 3/8 of, so at least an eighth of the table is
 * added before the next rebuild, an O(1) share a registration, and 16 to
 * 43 bytes a live resource (of its peak, after a clear).
 *
 * Floor 1.  Owns tracking->index.  May call: the allocator, the slot
 * map, audit.c's tracking state, the region's lock, rgn_release.
 */
#include "internal.h"

struct rgn_bucket {
    uint32_t slot; /* 0: empty */
    uint32_t tag;  /* hash of the pair; its top bits are the home */
};

struct rgn_index {
    uint32_t mask;  /* buckets - 1; buckets a power of two */
    uint32_t shift; /* 32 - log2(buckets): tag >> shift is the home */
    uint32_t used;  /* buckets in use: the live slots, and stale ones */
    struct rgn_bucket b[];
};

#define MIN_BUCKETS 16u
#define MAX_BUCKETS (1u << 30)

/* Fibonacci hashing: the top bits of a product, which every bit of the
 * pointers (aligned, so alike in their low bits) reaches. */
static inline uint32_t tag_of(rgn_cleanup_fn fn, const void *resource)
{
    uint64_t v = (uint64_t)(uintptr_t)resource +
                 (uint64_t)(uintptr_t)fn * 0x9E3779B97F4A7C15u;
    v ^= v >> 29;
    return (uint32_t)((v * 0xBF58476D1CE4E5B9u) >> 32);
}

static inline uint32_t home(const struct rgn_index *x, uint32_t tag)
{
    return x->shift < 32 ? tag >> x->shift : 0;
}

/* Whether bucket e is one of (fn, resource) -- whose tag is tag -- that
 * names a live slot. */
static inline bool holds(struct rgn_slots *s, struct rgn_bucket e,
                         rgn_cleanup_fn fn, const void *resource, uint32_t tag)
{
    if (e.tag != tag || e.slot >= s->used || !(rgn__ln(s, e.slot)->gen & 1))
        return false;
    const struct rgn_cb *cb = rgn__cb(s, e.slot);
    return cb->fn == fn && cb->resource == resource;
}

/* Buckets for n live slots: a power of two that n fills at most 3/8 of;
 * 0 past the largest. */
static uint32_t buckets_for(size_t n)
{
    if (n > MAX_BUCKETS / 8 * 3)
        return 0;
    uint32_t cap = MIN_BUCKETS;
    while (cap / 8 * 3 < n)
        cap *= 2;
    return cap;
}

/* Puts slot i in x, newest of its pair; x has an empty bucket. */
static void place(struct rgn_index *x, struct rgn_slots *s, uint32_t i)
{
    const struct rgn_cb *cb = rgn__cb(s, i);
    struct rgn_bucket in = {i, tag_of(cb->fn, cb->resource)};
    for (uint32_t h = home(x, in.tag);; h = (h + 1) & x->mask) {
        struct rgn_bucket *e = &x->b[h];
        if (e->slot == 0) {
            *e = in;
            x->used++;
            return;
        }
        if (holds(s, *e, cb->fn, cb->resource, in.tag)) {
            struct rgn_bucket older = *e; /* carried on, behind */
            *e = in;
            in = older;
        }
    }
}

/* A table of r's live slots, but for `but` (0: none), in a table of at
 * least `room` buckets' worth: false when out of memory (or too many).
 * Replaces r's index, if it had one.  r locked, tracked. */
static bool build(rgn_t *r, uint32_t but, size_t room)
{
    struct rgn_slots *s = &r->slots;
    uint32_t cap = buckets_for(room);
    struct rgn_index *x =
        cap ? rgn__malloc(sizeof *x + (size_t)cap * sizeof x->b[0]) : NULL;
    if (!x)
        return false;
    x->mask = cap - 1;
    x->shift = 32;
    for (uint32_t c = cap; c > 1; c /= 2)
        x->shift--;
    x->used = 0;
    memset(x->b, 0, (size_t)cap * sizeof x->b[0]);
    for (uint32_t i = rgn__slot_oldest(s); i; i = rgn__ln(s, i)->prev)
        if (i != but)
            place(x, s, i);
    rgn__free(r->tracking->index);
    r->tracking->index = x;
    rgn__audit_relean(r->tracking); /* no lean calls while it exists */
    return true;
}

void rgn__index_insert(rgn_t *r, uint32_t i)
{
    struct rgn_index *x = r->tracking->index;
    if (RGN_UNLIKELY(x->used >= (x->mask + 1) / 2)) {
        if (!build(r, i, r->slots.live)) { /* i is linked already */
            /* The index holds every live slot or none: without it, the
             * next find builds it again, or walks. */
            rgn__free(x);
            r->tracking->index = NULL;
            rgn__audit_relean(r->tracking);
            return;
        }
        x = r->tracking->index;
    }
    place(x, &r->slots, i);
}

/* Empties bucket j, moving back the buckets after it whose probe paths
 * pass through it. */
static void erase(struct rgn_index *x, uint32_t j)
{
    uint32_t m = x->mask;
    for (uint32_t k = (j + 1) & m; x->b[k].slot != 0; k = (k + 1) & m) {
        uint32_t h = home(x, x->b[k].tag);
        if (((k - h) & m) >= ((k - j) & m)) { /* j lies on its path */
            x->b[j] = x->b[k];
            j = k;
        }
    }
    x->b[j].slot = 0;
    x->used--;
}

/* Takes slot i's bucket, of the pair whose tag is tag, out of x (the
 * first such: a stale one of an earlier registration in slot i, if one
 * comes first, leaving the other stale in its place). */
static void take_out(struct rgn_index *x, uint32_t i, uint32_t tag)
{
    for (uint32_t h = home(x, tag); x->b[h].slot != 0; h = (h + 1) & x->mask)
        if (x->b[h].slot == i && x->b[h].tag == tag) {
            erase(x, h);
            return;
        }
}

void rgn__index_delete(rgn_t *r, uint32_t i)
{
    const struct rgn_cb *cb = rgn__cb(&r->slots, i);
    take_out(r->tracking->index, i, tag_of(cb->fn, cb->resource));
}

void rgn__index_moved(rgn_t *r, uint32_t i, const void *old)
{
    const struct rgn_cb *cb = rgn__cb(&r->slots, i);
    take_out(r->tracking->index, i, tag_of(cb->fn, old));
    rgn__index_insert(r, i); /* the newest of its new pair */
}

/* The newest live slot of (fn, resource) in r's index, or 0. */
static uint32_t lookup(rgn_t *r, rgn_cleanup_fn fn, const void *resource)
{
    struct rgn_index *x = r->tracking->index;
    struct rgn_slots *s = &r->slots;
    uint32_t tag = tag_of(fn, resource);
    for (uint32_t h = home(x, tag); x->b[h].slot != 0; h = (h + 1) & x->mask)
        if (holds(s, x->b[h], fn, resource, tag))
            return x->b[h].slot;
    return 0;
}

/* The same by walking r's live list, newest first: where r has no index
 * and cannot have one (closing, out of memory). */
static uint32_t walk(rgn_t *r, rgn_cleanup_fn fn, const void *resource)
{
    struct rgn_slots *s = &r->slots;
    for (uint32_t i = rgn__slot_newest(s); i; i = rgn__ln(s, i)->next) {
        const struct rgn_cb *cb = rgn__cb(s, i);
        if (cb->fn == fn && cb->resource == resource)
            return i;
    }
    return 0;
}

static bool indexed(const rgn_t *r)
{
    return r->tracking && r->tracking->index;
}

/* The key of r's newest live registration of (fn, resource), or
 * RGN_KEY_NONE: built into r's index the first time, when r is open. */
static rgn_key_t find(rgn_t *r, rgn_cleanup_fn fn, const void *resource)
{
    rgn__lock(r);
    if (!indexed(r) && r->state == RGN_OPEN) {
        /* Tracking state puts r's calls on their general path, which
         * keeps the index up to date; it may not be had (closing since,
         * out of memory): then r is walked. */
        rgn__unlock(r);
        if (rgn__tracking_lock(r) == 0 && !indexed(r))
            (void)build(r, 0, r->slots.live);
    }
    uint32_t i = indexed(r) ? lookup(r, fn, resource) : walk(r, fn, resource);
    rgn_key_t k = RGN_KEY_NONE;
    if (i)
        k = (rgn_key_t){r->slots.id, i, rgn__ln(&r->slots, i)->gen};
    rgn__unlock(r);
    rgn__audit_flush(); /* a report of two threads at once */
    return k;
}

int rgn_find(rgn_t *r, rgn_cleanup_fn fn, void *resource, rgn_key_t *key)
{
    if (key)
        *key = RGN_KEY_NONE;
    if (!r || !fn)
        return rgn__refused(-EINVAL);
    rgn_key_t k = find(r, fn, resource);
    if (rgn_key_is_none(k))
        return rgn__refused(rgn__closed_use(r, "rgn_find", NULL, -ENOENT));
    if (key)
        rgn__key_store(key, k);
    return 0;
}

int rgn_release_value(rgn_t *r, rgn_cleanup_fn fn, void *resource)
{
    if (!r || !fn)
        return rgn__refused(-EINVAL);
    for (;;) {
        rgn_key_t k = find(r, fn, resource);
        if (rgn_key_is_none(k))
            return rgn__refused(
                rgn__closed_use(r, "rgn_release_value", NULL, -ENOENT));
        int rc = rgn_release(r, k);
        /* -ENOENT of rgn's own: another thread took that one between
         * the find and the release; look again.  A cleanup's -ENOENT is
         * its result. */
        if (rc != -ENOENT || rgn__last.origin != RGN_FROM_RGN)
            return rc;
    }
}

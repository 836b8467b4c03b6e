/* SPDX-License-Identifier: MIT */
/*
 * sketch.h -- a relative-error streaming quantile sketch (private).
 *
 * An implementation of the REQ sketch of Cormode, Karnin, Liberty, Thaler
 * and Vesely, "Relative Error Streaming Quantiles" (PODS 2021), in its
 * high-rank-accuracy form: the error of a rank is proportional to the
 * distance from the top, so p99 and p99.9 of resource lifetimes -- where
 * leaks show -- are the most accurate figures.
 *
 * The sketch is a stack of compactors.  Level h holds items of weight 2^h.
 * When the sketch holds more than its nominal capacity, a full level is
 * sorted and a section of its smallest items is compacted: every other
 * one (the odd or the even ones, by a coin that is fair every other
 * compaction) moves one level up with twice the weight.  The largest half
 * of every level is never compacted, which is what keeps the top ranks
 * accurate.  The number of sections a level compacts from follows the
 * binary counter of its compactions, and sections get more numerous and
 * smaller as that counter grows; this is the paper's device that bounds
 * the error relative to the rank.
 *
 * Memory is bounded whatever the input: the items held never exceed the
 * sum of the levels' nominal capacities (each at most 2 * 6 * 4 = 48
 * items) plus one batch of RGN_SKETCH_STAGE, and there is one level per
 * doubling of the stream past the first few dozen items.  One value
 * inserted 10^8 times leaves about a thousand items.  With k = 6 the
 * value returned for quantile q has a true rank within 0.2 * (1 - q) * n
 * of q * n (measured: at most 0.15, typically 0.05, over 24 streams of
 * 10^6 uniform, log-normal and Pareto values) -- at p99 of a million
 * lifetimes, within 2,000 ranks of the 10,000 above it.
 *
 * Values are 64-bit unsigned integers (the tallies': lifetimes in clock
 * ticks, clock.h).  A sketch is not locked: its owner serialises access.
 */
#ifndef RGN_SKETCH_H
#define RGN_SKETCH_H

#include "base.h"

/* The section size a new level starts with: the accuracy parameter k. */
#ifndef RGN_SKETCH_K
#define RGN_SKETCH_K 6u
#endif

struct rgn_sketch_level {
    uint64_t *v; /* items; sorted, except level 0 past `sorted` */
    uint32_t n, cap;
    uint32_t sorted;   /* level 0: v[0 .. sorted) is in order */
    uint32_t sections; /* sections of the compactable half */
    uint32_t section;  /* items per section: even, at least 4 */
    float section_f;   /* the section size before rounding */
    bool coin;         /* the last coin: reused, flipped, every other */
    uint64_t state;    /* compactions so far, read as a binary counter */
};

struct rgn_sketch {
    struct rgn_sketch_level *lv; /* never NULL: an empty shared level
                                    stands in until the first insert */
    uint32_t nlevels, lv_cap;
    uint32_t room;    /* level 0 takes items as they come while its n
                         is below this (see set_room in sketch.c) */
    uint32_t above;   /* items held in levels 1 and up */
    uint32_t nominal; /* sum of the levels' nominal capacities */
    /* Totals of the items counted so far: all but level 0's unsorted
     * tail, which is counted when it is sorted, so that an insert is one
     * comparison and one store. */
    uint64_t n, min, max;
    uint64_t sum_lo, sum_hi; /* the sum of the values, 128 bits */
    uint64_t rng;
};

/* Items past the nominal capacity before the sketch compacts: sorting
 * and compacting in batches of this many is what keeps an insert cheap,
 * and fewer, larger compactions also err less. */
#ifndef RGN_SKETCH_STAGE
#define RGN_SKETCH_STAGE 64u
#endif

/* An empty sketch; allocates nothing. */
RGN_HIDDEN void rgn__sketch_init(struct rgn_sketch *s);

/* Frees what s holds; s is then empty again. */
RGN_HIDDEN void rgn__sketch_free(struct rgn_sketch *s);

/* Inserts v.  False when memory ran out: v is not counted, s unchanged. */
RGN_HIDDEN bool rgn__sketch_add_slow(struct rgn_sketch *s, uint64_t v);
static inline bool rgn__sketch_add(struct rgn_sketch *s, uint64_t v)
{
    struct rgn_sketch_level *l0 = s->lv;
    if (__builtin_expect(l0->n < s->room, 1)) {
        l0->v[l0->n++] = ~v; /* stored complemented: see sketch.c */
        return true;
    }
    return rgn__sketch_add_slow(s, v);
}

/* Values inserted. */
static inline uint64_t rgn__sketch_count(const struct rgn_sketch *s)
{
    return s->n + (s->lv->n - s->lv->sorted);
}

/* Items held now. */
static inline uint32_t rgn__sketch_retained(const struct rgn_sketch *s)
{
    return s->above + s->lv->n;
}

/* The sum, the smallest and the largest of the values inserted (0 for
 * an empty sketch). */
RGN_HIDDEN double rgn__sketch_sum(const struct rgn_sketch *s);
RGN_HIDDEN uint64_t rgn__sketch_min(const struct rgn_sketch *s);
RGN_HIDDEN uint64_t rgn__sketch_max(const struct rgn_sketch *s);

/* Adds everything `from` holds to `into`.  0, or -ENOMEM with `into`
 * holding what it held before. */
RGN_HIDDEN int rgn__sketch_merge(struct rgn_sketch *into,
                                 const struct rgn_sketch *from);

/* The smallest value whose estimated rank reaches q * n (0 <= q <= 1);
 * q = 1 gives the exact maximum.  0 when s is empty. */
RGN_HIDDEN uint64_t rgn__sketch_quantile(const struct rgn_sketch *s, double q);

/* The same for several sketches taken as one, without merging them:
 * count sketches at first, (char *)first + stride, ... */
RGN_HIDDEN uint64_t rgn__sketch_quantile_set(const struct rgn_sketch *first,
                                             size_t count, size_t stride,
                                             double q);

/* Estimated number of inserted values <= v. */
RGN_HIDDEN uint64_t rgn__sketch_rank(const struct rgn_sketch *s, uint64_t v);

/* Bytes s has allocated. */
RGN_HIDDEN size_t rgn__sketch_bytes(const struct rgn_sketch *s);

#endif /* RGN_SKETCH_H */

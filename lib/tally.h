/* SPDX-License-Identifier: MIT */
/*
 * tally.h -- per-site tallies (tally.c): for each registration site and
 * label of a region, how many of its resources are live, how many of
 * those are meant to live with their owner, their bytes, how long the
 * released ones lived, and what the audit's watchers (watch.c) remember
 * of the site.  A data structure of its own, knowing nothing of regions
 * or locks: its owner (a region's tracking state) serialises access.
 *
 * Tallies are found by site pointer and label text, and kept in a dense
 * array whose indices never change, so that an audit record names its
 * tally by index and a release costs no lookup.  A region keeps at most
 * RGN_TALLIES_MAX of them: a program that labels every resource with a
 * string of its own would otherwise grow the table without bound.
 */
#ifndef RGN_TALLY_H
#define RGN_TALLY_H

#include "base.h"
#include "sketch.h"

#define RGN_TALLIES_MAX 4096u
#define RGN_TALLY_NONE                                                        \
    UINT32_MAX /* no tally: the table is full, or no
                                     memory */

/* A site's lifetimes feed its sketch in full for its first
 * RGN_SAMPLE_AFTER releases, then about one in RGN_SAMPLE_EVERY (at
 * random gaps): the sketch's insert is most of what an audited release
 * costs, and a sample of a thousand keeps p50 and p99 where they were.
 * The count, sum and maximum stay exact. */
#define RGN_SAMPLE_AFTER 1000u
#define RGN_SAMPLE_EVERY 16u

struct rgn_tally {
    /* What every registration and release of the site touches. */
    const struct rgn_site *site;       /* NULL: unknown */
    const char *label;                 /* NULL: none; not copied */
    uint64_t live;                     /* live resources counted here */
    uint64_t owned;                    /* of those, meant to live with their
                                    owner (rgn_expect_close & co.) */
    uint64_t bytes;                    /* bytes of the live ones */
    uint64_t newest_released;          /* the latest birth among the released:
                                    an older live one was passed by it */
    uint64_t released;                 /* lifetimes measured, exactly */
    uint64_t life_max;                 /* the longest of them, ticks */
    uint64_t life_sum_lo, life_sum_hi; /* their sum, 128 bits */
    uint64_t rng;                      /* picks the sampled lifetimes */
    uint32_t sample_in;     /* releases until the next sampled one */
    uint32_t grow_rises;    /* looks in a row that saw it rise */
    struct rgn_sketch life; /* lifetimes (ticks), sampled as above */
    /* The watchers' state (watch.c). */
    uint64_t grow_mark;    /* live count a growth line needs twice of */
    uint64_t grow_mark_at; /* when the count first reached the mark */
    uint64_t grow_prev;    /* live count at the last look */
    bool grow_seen;        /* grow_prev is known: a look saw the site */
    uint64_t held;         /* resources found held so far */
    uint64_t held_next;    /* held count of the next held line */
    /* What one look found (watch.c), cleared after it. */
    uint64_t look_oldest; /* earliest birth seen past the floor, 0: none */
    uint64_t look_held;   /* held resources seen, new or not */
    uint64_t look_new;    /* newly held ones */
};

/* Tallies, found by a linear look while they are few and through an
 * index once there are more; the first lives inside the table, so a
 * region of one site allocates nothing for it. */
#define RGN_TALLY_SCAN 8u

struct rgn_tallies {
    struct rgn_tally *v; /* v[0 .. n); `first` until it grows */
    uint32_t n, cap;
    uint32_t *index;    /* open addressing: 1 + index into v, 0: empty;
                           NULL while n <= RGN_TALLY_SCAN */
    uint32_t index_cap; /* a power of two, at least twice n */
    uint32_t last;      /* the tally found last (valid when n > 0) */
    struct rgn_tally first;
};

/* An empty table (it may move only while empty, as it points into
 * itself). */
static inline void rgn__tallies_init(struct rgn_tallies *t)
{
    t->v = &t->first;
    t->n = t->index_cap = t->last = 0;
    t->cap = 1;
    t->index = NULL;
}

/* Frees what t holds; t is then empty again. */
RGN_HIDDEN void rgn__tallies_free(struct rgn_tallies *t);

/* The tally of (site, label), made when it is new, or RGN_TALLY_NONE. */
RGN_HIDDEN uint32_t rgn__tally_find_slow(struct rgn_tallies *t,
                                         const struct rgn_site *site,
                                         const char *label);
static inline uint32_t rgn__tally_find(struct rgn_tallies *t,
                                       const struct rgn_site *site,
                                       const char *label)
{
    /* Registrations mostly come from the site the last one came from. */
    if (RGN_LIKELY(t->n != 0)) {
        const struct rgn_tally *e = &t->v[t->last];
        if (RGN_LIKELY(e->site == site && e->label == label))
            return t->last;
    }
    return rgn__tally_find_slow(t, site, label);
}

/* The tally of (site, label) if there is one, or NULL; t is unchanged. */
RGN_HIDDEN const struct rgn_tally *
rgn__tally_lookup(const struct rgn_tallies *t, const struct rgn_site *site,
                  const char *label);

/* The next sampled release of e is after 1 to 2 * RGN_SAMPLE_EVERY more,
 * RGN_SAMPLE_EVERY on average. */
RGN_HIDDEN uint32_t rgn__tally_gap(struct rgn_tally *e);

/* Counts a lifetime of e (ticks): exactly, and in the sketch when it is
 * sampled.  Out of memory the sketch misses it; the count does not. */
static inline void rgn__tally_lifetime(struct rgn_tally *e, uint64_t life)
{
    e->released++;
    if (life > e->life_max)
        e->life_max = life;
    e->life_sum_lo += life;
    e->life_sum_hi += e->life_sum_lo < life;
    if (RGN_LIKELY(e->released > RGN_SAMPLE_AFTER)) {
        if (RGN_LIKELY(--e->sample_in != 0))
            return;
        e->sample_in = rgn__tally_gap(e);
    }
    rgn__sketch_add(&e->life, life);
}

/* The sum of e's lifetimes (ticks). */
static inline double rgn__tally_life_sum(const struct rgn_tally *e)
{
    return (double)e->life_sum_hi * 18446744073709551616.0 +
           (double)e->life_sum_lo;
}

/* Lifetime quantile q (0..1) of every tally of t taken as one, ticks;
 * q = 1 is the exact maximum. */
RGN_HIDDEN uint64_t rgn__tallies_quantile(const struct rgn_tallies *t,
                                          double q);
/* Items the lifetime sketches of t hold now. */
RGN_HIDDEN size_t rgn__tallies_retained(const struct rgn_tallies *t);
/* Forgets every live count, keeping sites, labels and lifetimes: the
 * records that made them are gone (the audit was turned on afresh). */
RGN_HIDDEN void rgn__tallies_uncount(struct rgn_tallies *t);

#endif /* RGN_TALLY_H */

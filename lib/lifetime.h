/* SPDX-License-Identifier: MIT */
/*
 * lifetime.h -- how long released resources lived, per registration site
 * (lifetime.c): one quantile sketch per site in a region's tracking
 * state, fed by early releases from the records' birth times.
 */
#ifndef RGN_LIFETIME_H
#define RGN_LIFETIME_H

#include "base.h"
#include "audit.h"
#include "clock.h"
#include "sketch.h"

/* The lifetimes of the resources one site registered. */
struct rgn_site_life {
    const struct rgn_site *site;
    bool used;
    struct rgn_sketch life; /* nanoseconds, one per early release */
};

/* Adds a lifetime to site's sketch in t; false when memory ran out. */
RGN_HIDDEN bool rgn__lifetime_add_slow(struct rgn_tracking *t,
                                       const struct rgn_site *site,
                                       uint64_t ns);
static inline bool rgn__lifetime_add(struct rgn_tracking *t,
                                     const struct rgn_site *site, uint64_t ns)
{
    /* Releases mostly come from the site the last one came from. */
    if (RGN_LIKELY(t->sites_cap != 0)) {
        struct rgn_site_life *e = &t->sites[t->last_site];
        if (RGN_LIKELY(e->site == site && e->used))
            return rgn__sketch_add(&e->life, ns);
    }
    return rgn__lifetime_add_slow(t, site, ns);
}

/*
 * Called under r's lock before live slot i is released early: feeds its
 * lifetime to its site's sketch when r measures lifetimes, and returns
 * the time it read (0 when it fed nothing).  Out of memory, the lifetime
 * goes unrecorded: a release must not fail for the sake of a statistic.
 */
static inline uint64_t rgn__lifetime_release(rgn_t *r, uint32_t i)
{
    struct rgn_tracking *t = r->tracking;
    if (!t->lifetimes || i >= t->recs_cap)
        return 0;
    const struct rgn_arec *rec = &t->recs[i];
    if (!rec->born)
        return 0; /* registered before lifetimes were measured */
    uint64_t now = rgn__now();
    rgn__lifetime_add(t, rec->site, now > rec->born ? now - rec->born : 0);
    return now;
}

/* The sketch of site's lifetimes in t, or NULL when it has none. */
RGN_HIDDEN const struct rgn_sketch *
rgn__lifetime_of(const struct rgn_tracking *t, const struct rgn_site *site);
/* Fills the lifetime fields of *out from t (which may be NULL). */
RGN_HIDDEN void rgn__lifetime_stats(const struct rgn_tracking *t,
                                    rgn_stats *out);
/* Frees t's sketches (t may be NULL). */
RGN_HIDDEN void rgn__lifetime_free(struct rgn_tracking *t);

#endif /* RGN_LIFETIME_H */

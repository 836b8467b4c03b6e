/* SPDX-License-Identifier: MIT */
/*
 * audit.h -- what a region tracks beyond its slots, and the process
 * defaults for it (audit.c): per-resource records (site, label, birth),
 * a limit, whether lifetimes are measured, and its place in the registry
 * of listed regions that process-wide readers walk.  The reports made
 * from all this are report.c's; the lifetimes, lifetime.c's.
 */
#ifndef RGN_AUDIT_H
#define RGN_AUDIT_H

#include "base.h"
#include "region.h"

/* What the audit remembers of one resource. */
struct rgn_arec {
    const struct rgn_site *site; /* NULL: unknown */
    const char *label;
    uint64_t born;  /* rgn__now() at registration, 0: unknown */
    uint32_t flags; /* RGN_AREC_* */
};
#define RGN_AREC_EXPECTED 1u /* rgn_expect_close: not a leak */
#define RGN_AREC_HELD 2u     /* reported as held once already */

struct rgn_site_life;

/* A region's tracking state (r->tracking): exists while it is audited,
 * measures lifetimes or has a limit. */
struct rgn_tracking {
    rgn_audit_mode mode;
    bool lifetimes;              /* early releases feed the sketches */
    struct rgn_site_life *sites; /* lifetime.c: open addressing on the
                                    site pointer */
    uint32_t sites_cap, nsites;
    uint32_t last_site;    /* index of the site seen last */
    size_t limit;          /* 0: none */
    size_t next_warn;      /* live count of the next warning */
    struct rgn_arec *recs; /* recs[i]: the record of slot i */
    uint32_t recs_cap;     /* slots recs[] has room for */
    rgn_t *region;
    struct rgn_tracking *prev, *next; /* the registry of listed regions */
    bool listed;
    bool inherited;           /* made before this process forked:
                                 no reader here touches it */
    bool ignored;             /* rgn_audit_ignore_open: left out of
                                 open-region and exit reports */
    uint64_t next_held_check; /* rgn__now() of the next look for
                                 held resources (report.c) */
    /* What rgn_clear took out of the region's counters, which start again
     * at each clear (stats.c): the metrics' _total counters add it back,
     * so that they never go down.  Written and read under r's lock. */
    struct {
        uint64_t registered, released_early, removed;
    } cleared;
};

/* Whether new regions need tracking state at all: -1 until the
 * environment was read, so creating a region pays one load when not. */
RGN_HIDDEN extern atomic_int rgn__audit_defaults;
/* Gives a new region the tracking state the process defaults ask for;
 * false when memory ran out. */
RGN_HIDDEN bool rgn__audit_new_slow(rgn_t *r);
static inline bool rgn__audit_new(rgn_t *r)
{
    if (RGN_LIKELY(atomic_load_explicit(&rgn__audit_defaults,
                                        memory_order_relaxed) == 0))
        return true;
    return rgn__audit_new_slow(r);
}
/* The process default of rgn_lifetimes_set_default (lifetime.c). */
RGN_HIDDEN void rgn__audit_set_lifetimes_default(bool on);
/* RGN_AUDIT_HELD, or rgn_audit_set_held's: nanoseconds, 0 for off. */
RGN_HIDDEN extern _Atomic uint64_t rgn__held_floor;

/* Whether t keeps a record per resource: for the audit's reports, or for
 * the birth times lifetimes are measured from.  A limit alone keeps
 * none. */
static inline bool rgn__audit_records(const struct rgn_tracking *t)
{
    return t->mode != RGN_AUDIT_OFF || t->lifetimes;
}

/* Makes sure slot i has a record when r keeps records; false when
 * memory ran out.  The records may move: no pointer to one is kept
 * across this call. */
RGN_HIDDEN bool rgn__audit_reserve_slow(rgn_t *r, uint32_t i);
static inline bool rgn__audit_reserve(rgn_t *r, uint32_t i)
{
    const struct rgn_tracking *t = r->tracking;
    if (!rgn__audit_records(t) || RGN_LIKELY(i < t->recs_cap))
        return true;
    return rgn__audit_reserve_slow(r, i);
}

/* The record of slot i when r keeps one, else NULL; r locked. */
static inline struct rgn_arec *rgn__audit_record(rgn_t *r, uint32_t i)
{
    struct rgn_tracking *t = r->tracking;
    if (!t || !rgn__audit_records(t) || i >= t->recs_cap)
        return NULL;
    return &t->recs[i];
}

/* Carries slot i's record of `from` over to slot j of `to`, both locked,
 * j reserved. */
RGN_HIDDEN void rgn__audit_move_record(rgn_t *from, uint32_t i, rgn_t *to,
                                       uint32_t j);

/* Locks r and gives it tracking state (mode, when new) if r is open;
 * returns 0, -ECANCELED or -ENOMEM, r locked either way. */
RGN_HIDDEN int rgn__tracking_lock(rgn_t *r, rgn_audit_mode mode);
/* About to keep records: clears any left from an earlier spell. */
RGN_HIDDEN void rgn__tracking_keep_records(struct rgn_tracking *t);
/* Lists r, which keeps records, for process-wide readers; from then on
 * every call on r takes its lock.  Called holding no lock. */
RGN_HIDDEN void rgn__tracking_list(rgn_t *r);
/* A region being freed leaves the registry (its counters go to
 * metrics.c's totals, its lifetimes included); then its lifetimes are
 * freed (rgn__lifetime_free), then its tracking state: rgn__audit_free
 * returns the audit mode it had (RGN_AUDIT_OFF when it had none). */
RGN_HIDDEN void rgn__audit_unlist(rgn_t *r);
RGN_HIDDEN rgn_audit_mode rgn__audit_free(rgn_t *r);

/* Calls f(r, arg) for every listed region that keeps records (closing
 * ones included), r locked, until f returns non-zero, then done(arg),
 * all under the registry's lock; returns f's result, or 0.  Neither may
 * call rgn. */
RGN_HIDDEN int rgn__audit_each(int (*f)(rgn_t *r, void *arg),
                               void (*done)(void *arg), void *arg);
/* The registry's lock, for the fork handlers (report.c); after a fork,
 * in the child, rgn__registry_forked marks every listed region
 * inherited, the registry locked. */
RGN_HIDDEN void rgn__registry_lock(void);
RGN_HIDDEN void rgn__registry_unlock(void);
RGN_HIDDEN void rgn__registry_forked(void);
/* Adds the counters of r, a named region leaving the registry, to its
 * name's totals (metrics.c); registry locked. */
RGN_HIDDEN void rgn__metrics_retire(rgn_t *r);
/* Arms the exit report (report.c), once, when a first region is listed. */
RGN_HIDDEN void rgn__report_arm_exit(void);

/* Keeps r, freed but for its struct and name, in the quarantine of
 * closed audited regions (state RGN_FREED), freeing the oldest there. */
RGN_HIDDEN void rgn__audit_bury(rgn_t *r, rgn_audit_mode mode);

#endif /* RGN_AUDIT_H */

/* SPDX-License-Identifier: MIT */
/*
 * audit.h -- what a region tracks beyond its slots, and the process
 * defaults for it (audit.c): a record per resource (its tally, birth,
 * bytes, registering thread, flags), per-site tallies (tally.h), a limit,
 * whether lifetimes are measured, and its place in the registry of
 * listed regions that process-wide readers walk.  The reports made from
 * all this are report.c's and watch.c's.
 */
#ifndef RGN_AUDIT_H
#define RGN_AUDIT_H

#include "base.h"
#include "clock.h"
#include "race.h"
#include "region.h"
#include "tally.h"

/* What the audit remembers of one resource. */
struct rgn_arec {
    uint64_t born;   /* rgn__now() at registration, 0: unknown */
    uint64_t bytes;  /* its size, counted in its tally */
    uint32_t tally;  /* its site's tally, when RGN_AREC_COUNTED */
    uint32_t thread; /* rgn__thread_no() of the thread that registered */
    uint32_t flags;  /* RGN_AREC_*; 0 once its resource left */
    uint32_t weight; /* resources it stands for in its tally: 1, or the
                        sampling rate when sites are sampled */
};
#define RGN_AREC_EXPECTED                                                     \
    1u                      /* lives with its owner: not a leak, never
                                held or growing (rgn_expect_close) */
#define RGN_AREC_HELD 2u    /* found held once already */
#define RGN_AREC_COUNTED 4u /* counted in tallies.v[tally] */
#define RGN_AREC_SIZED 8u   /* its bytes are counted in the region's */
#define RGN_AREC_UNSAMPLED                                                    \
    16u /* its site was not sampled: no tally, no
                                  age (RGN_AUDIT_SAMPLE) */
#define RGN_AREC_LIVE                                                         \
    32u /* the record is of the slot's live resource; without it the
           slot's resource is a lean one (below) or the slot is not live */

struct rgn_index; /* index.c */

/* A region's tracking state (r->tracking): exists while it is audited,
 * measures lifetimes or has a limit. */
struct rgn_tracking {
    /* First, on one cache line: what rgn__audit_lean and the lean calls
     * read, and what they write (resource.c). */
    rgn_audit_mode mode;
    bool lifetimes; /* early releases feed the sketches */
    bool lean;      /* rgn__audit_lean's answer, kept by rgn__audit_relean
                       at every change of what it depends on */
    size_t limit;   /* 0: none */
    struct rgn_arec *recs; /* recs[i]: the record of slot i */
    /* The kinds of its resources, kinds[i] slot i's (kind.c): exists
     * once a kind was registered in the region. */
    const struct rgn_kind **kinds;
    /* Its live resources by (cleanup, resource), from the first rgn_find
     * on (index.c); NULL before, or when memory ran out. */
    struct rgn_index *index;
    uint32_t recs_cap; /* slots recs[] has room for */
    uint32_t kinds_cap;
    uint64_t bytes;   /* of the live resources with records */
    size_t next_warn; /* live count of the next warning */
    uint64_t sample_rng;
    rgn_t *region;
    struct rgn_tracking *prev, *next; /* the registry of listed regions */
    bool listed;
    bool inherited;     /* made before this process forked:
                           no reader here touches it */
    bool ignored;       /* rgn_audit_ignore_open: left out of
                           open-region and exit reports */
    bool priorities;    /* a kind of priority other than 0 was registered:
                           the close orders by priority */
    uint64_t next_look; /* rgn__now() of the watchers' next look at the
                           region (watch.c) */
    /* What rgn_clear took out of the region's counters, which start again
     * at each clear (stats.c): the metrics' _total counters add it back,
     * so that they never go down.  Written and read under r's lock. */
    struct {
        uint64_t registered, released_early, removed;
    } cleared;
    /* The most the metrics have shown of its registrations (metrics.c),
     * under the registry's lock: counted while lean calls run, they may
     * come out short by a release in flight, and a counter must never
     * go down. */
    uint64_t registered_shown;
    /* Last: what a tally holds is set when it is made, not zeroed with
     * the rest (audit.c). */
    struct rgn_tallies tallies; /* per site and label */
};

/* Whether a registration of kind k (NULL: none) in a region tracked as t
 * has a kind to remember: t remembers kinds, or k is one.  Inline, so
 * that a tracked region that never saw a kind -- an audited one, most
 * often -- makes no call for kinds (rgn__kinds_reserve, rgn__kinds_set):
 * 21 instructions of an audited pair. */
static inline bool rgn__kinds_wanted(const struct rgn_tracking *t,
                                     const struct rgn_kind *k)
{
    return k != NULL || t->kinds != NULL;
}

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
/* "off" or "0" (0), seconds ("1", "0.5") or "<n>ms", "<n>us", "<n>s":
 * the durations the environment gives. */
RGN_HIDDEN bool rgn__parse_duration(const char *v, uint64_t *ns);
/* RGN_AUDIT_HELD, or rgn_audit_set_held's: nanoseconds, 0 for off. */
RGN_HIDDEN extern _Atomic uint64_t rgn__held_floor;
/* RGN_AUDIT_SAMPLE, or rgn_audit_set_sample's: about one registration
 * in this many records its site; 1 (or 0): every one. */
RGN_HIDDEN extern atomic_uint rgn__sample_every;
/* The most RGN_AUDIT_SAMPLE and rgn_audit_set_sample take. */
#define RGN_SAMPLE_MAX (1u << 20)
/* 2 * rgn__sample_every when sites are sampled, else 0: a lean
 * registration may move a countdown `in` when in - 2 < span, that is
 * when the general path would find its site not sampled (hooks.h). */
RGN_HIDDEN extern atomic_uint rgn__sample_span;
/* A span of 0, where a region's lean_span points when lean calls may not
 * apply (region.h). */
RGN_HIDDEN extern const atomic_uint rgn__no_span;
/* Registrations until t's next sampled one, at random (hooks.h). */
RGN_HIDDEN uint32_t rgn__sample_gap(struct rgn_tracking *t, uint32_t every);
/* RGN_AUDIT_GROWTH, or rgn_audit_set_growth's: live resources, 0: off. */
RGN_HIDDEN extern atomic_size_t rgn__growth_floor;

/* The calling thread's number, never 0: records say who registered. */
RGN_HIDDEN extern __thread uint32_t rgn__thread_no_
    __attribute__((tls_model("initial-exec")));
RGN_HIDDEN uint32_t rgn__thread_no_slow(void);
static inline uint32_t rgn__thread_no(void)
{
    uint32_t n = rgn__thread_no_;
    return RGN_LIKELY(n != 0) ? n : rgn__thread_no_slow();
}

/* The calling thread's intent for what it registers (rgn_audit_intent):
 * RGN_LIVES_WITH_OWNER marks it expected at close.  Exported: rgn.h's
 * inline lean registration reads it too. */
RGN_API extern __thread unsigned rgn__intent
    __attribute__((tls_model("initial-exec")));

/* The calling thread's checkpoint (since.c): its last rgn_audit_mark,
 * what it said it runs (rgn_audit_mark_named), and how many leaks that
 * closes in this thread reported were registered after the mark. */
struct rgn_thread_mark {
    uint64_t at; /* 0: none */
    const char *running;
    uint64_t closed_leaks;
    bool closed_estimated; /* of sampled sites: ~closed_leaks */
};
RGN_HIDDEN extern __thread struct rgn_thread_mark rgn__mark
    __attribute__((tls_model("initial-exec")));

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

/* The storage of slot i's record when r keeps records and it is
 * reserved, live or not, else NULL; r locked. */
static inline struct rgn_arec *rgn__audit_rec_at(rgn_t *r, uint32_t i)
{
    struct rgn_tracking *t = r->tracking;
    if (!t || !rgn__audit_records(t) || i >= t->recs_cap)
        return NULL;
    return &t->recs[i];
}

/* The record of slot i's live resource when it has one, else NULL; r
 * locked.  NULL in a region that keeps records means a lean resource. */
static inline struct rgn_arec *rgn__audit_record(rgn_t *r, uint32_t i)
{
    struct rgn_arec *rec = rgn__audit_rec_at(r, i);
    return rec && (rec->flags & RGN_AREC_LIVE) ? rec : NULL;
}

/*
 * Lean resources (issue 24: the sampled audit left on).  In a region that
 * keeps records, a registration whose site is not sampled -- one of an
 * ordinary cleanup, no bytes, no kind, no intent -- may take a slot at
 * hand and link it without the region's lock, and its release unlink it
 * so (resource.c); it has no record (rgn__audit_record gives NULL).  That
 * is safe because every reader on another thread -- the open-region
 * report, checkpoints, snapshots, metrics -- reads of such a region only
 * what lean calls never write: the records (by index, rgn__audit_walk),
 * the cleanups of slots that have a record, the tallies, and the counts,
 * which the map keeps as relaxed atomics.  A lean call never grows the
 * slot map or the records, so nothing a reader holds moves.  The owner
 * alone reads a lean slot (its own calls, the close, dump and visit), and
 * the slot map's order.  So a region is lean-capable while it keeps
 * records and has no kinds, no index and no limit; only its owner changes
 * that, under its lock, so a reader that finds it so holding the lock
 * finds it so until it lets go.  What lean calls skip: the check for two
 * threads at once on an unshared region (it stays on every locked call),
 * and the watchers' look (made at sampled calls instead).  What they read
 * and write besides the slot map sits in the region's hot prefix, the
 * owner's alone (region.h: sample_in, lean_span), where rgn.h's inline
 * registration, a lean call compiled into the program, finds it too: the
 * one test of a lean registration, there and in resource.c, is the mode
 * listed, the countdown short of its sampled registration by the span
 * lean_span points to (0 when not lean or sampling is off) and no
 * intent.
 */
static inline bool rgn__audit_lean_now(const struct rgn_tracking *t)
{
    /* Never where helgrind or DRD runs: a reader on another thread takes
     * the lock that lean calls skip, and those detectors see no other
     * order between them (race.h). */
    return rgn__audit_records(t) && t->limit == 0 && t->kinds == NULL &&
           t->index == NULL && !rgn__race_vg;
}
/* Called, t's region locked, after each change of t's mode, lifetimes,
 * limit, kinds or index: one byte to test on the lean paths instead of
 * five fields (14 instructions of a sampled pair). */
static inline void rgn__audit_relean(struct rgn_tracking *t)
{
    t->lean = rgn__audit_lean_now(t);
    atomic_store_explicit(&t->region->lean_span,
                          t->lean ? &rgn__sample_span : &rgn__no_span,
                          memory_order_relaxed);
}
/* The span r's lean calls compare with (region.h): 0 when they may not
 * apply. */
static inline uint32_t rgn__lean_span(const rgn_t *r)
{
    const atomic_uint *span =
        atomic_load_explicit(&r->lean_span, memory_order_relaxed);
    return atomic_load_explicit(span, memory_order_relaxed);
}
static inline bool rgn__audit_lean(const struct rgn_tracking *t)
{
    RGN_ASSERT(t->lean == rgn__audit_lean_now(t));
    return t->lean;
}

/* Calls f(r, i, rec, arg) for every live resource of r (locked) that has
 * a record, in an order a reader on any thread may take (rgn__audit_lean:
 * by index when lean resources may come and go meanwhile, else newest
 * first), rec NULL for every one of r when r keeps no records; returns
 * how many live resources had no record to give (lean ones). */
RGN_HIDDEN size_t rgn__audit_walk(rgn_t *r,
                                  void (*f)(rgn_t *r, uint32_t i,
                                            struct rgn_arec *rec, void *arg),
                                  void *arg);

/* The tally rec is counted in, or NULL. */
static inline struct rgn_tally *rgn__audit_tally(struct rgn_tracking *t,
                                                 const struct rgn_arec *rec)
{
    return rec && (rec->flags & RGN_AREC_COUNTED) ? &t->tallies.v[rec->tally]
                                                  : NULL;
}

/* The site and label of rec (NULL, NULL when unknown). */
static inline const struct rgn_site *
rgn__audit_site(struct rgn_tracking *t, const struct rgn_arec *rec)
{
    const struct rgn_tally *e = rgn__audit_tally(t, rec);
    return e ? e->site : NULL;
}
static inline const char *rgn__audit_label(struct rgn_tracking *t,
                                           const struct rgn_arec *rec)
{
    const struct rgn_tally *e = rgn__audit_tally(t, rec);
    return e ? e->label : NULL;
}

/* How many resources rec stands for: its weight, or 1 for a record made
 * without one (of unknown site, or unsampled). */
static inline uint32_t rgn__audit_weight(const struct rgn_arec *rec)
{
    return rec->weight ? rec->weight : 1;
}

/* What a counted record's bytes stand for in its tally: a sampled one
 * stands for `weight` resources of its site, bytes and all, as in its
 * count (the region's bytes count each resource's own, exactly). */
static inline uint64_t rgn__audit_tally_bytes(const struct rgn_arec *rec,
                                              uint64_t bytes)
{
    return bytes * rec->weight;
}

/* Counts rec in the region's bytes and in the tally of (site, label);
 * rec->flags and bytes are set.  Out of tallies, rec is counted in no
 * tally (its site is unknown), its bytes still in the region's. */
static inline void rgn__audit_count(struct rgn_tracking *t,
                                    struct rgn_arec *rec,
                                    const struct rgn_site *site,
                                    const char *label)
{
    t->bytes += rec->bytes;
    rec->flags |= RGN_AREC_SIZED;
    uint32_t k = rgn__tally_find(&t->tallies, site, label);
    if (RGN_UNLIKELY(k == RGN_TALLY_NONE))
        return;
    struct rgn_tally *e = &t->tallies.v[k];
    rec->tally = k;
    rec->flags |= RGN_AREC_COUNTED;
    e->live += rec->weight;
    e->owned += (rec->flags & RGN_AREC_EXPECTED) ? rec->weight : 0;
    e->bytes += rgn__audit_tally_bytes(rec, rec->bytes);
}

/* Takes rec out of its tally. */
static inline void rgn__audit_uncount(struct rgn_tracking *t,
                                      struct rgn_arec *rec)
{
    if (rec->flags & RGN_AREC_SIZED) {
        RGN_ASSERT(t->bytes >= rec->bytes);
        t->bytes -= rec->bytes;
        rec->flags &= ~RGN_AREC_SIZED;
    }
    struct rgn_tally *e = rgn__audit_tally(t, rec);
    if (!e)
        return;
    uint64_t bytes = rgn__audit_tally_bytes(rec, rec->bytes);
    RGN_ASSERT(e->live >= rec->weight && e->bytes >= bytes);
    e->live -= rec->weight;
    e->owned -= (rec->flags & RGN_AREC_EXPECTED) ? rec->weight : 0;
    e->bytes -= bytes;
    rec->flags &= ~RGN_AREC_COUNTED;
}

/* rec's resource is now `bytes` big (rgn_realloc). */
static inline void rgn__audit_resize(struct rgn_tracking *t,
                                     struct rgn_arec *rec, uint64_t bytes)
{
    if (rec->flags & RGN_AREC_SIZED)
        t->bytes = t->bytes - rec->bytes + bytes;
    struct rgn_tally *e = rgn__audit_tally(t, rec);
    if (e)
        e->bytes = e->bytes - rgn__audit_tally_bytes(rec, rec->bytes) +
                   rgn__audit_tally_bytes(rec, bytes);
    rec->bytes = bytes;
}

/* Carries slot i's record of `from` over to slot j of `to`, both locked,
 * j reserved; the record leaves from's tally for its namesake in to's,
 * or for none where `to` keeps no records. */
RGN_HIDDEN void rgn__audit_move_record(rgn_t *from, uint32_t i, rgn_t *to,
                                       uint32_t j);

/* Locks r and gives it tracking state (keeping no records, when new) if
 * r is open; returns 0, -ECANCELED or -ENOMEM, r locked either way. */
RGN_HIDDEN int rgn__tracking_lock(rgn_t *r);
/* Lists r, which keeps records, for process-wide readers; from then on
 * every call on r takes its lock.  Called holding no lock. */
RGN_HIDDEN void rgn__tracking_list(rgn_t *r);
/* A region being freed leaves the registry (its counters go to
 * metrics.c's totals, its lifetimes included), then its tracking state
 * is freed: rgn__audit_free returns the audit mode it had (RGN_AUDIT_OFF
 * when it had none). */
RGN_HIDDEN void rgn__audit_unlist(rgn_t *r);
RGN_HIDDEN rgn_audit_mode rgn__audit_free(rgn_t *r);

/* Calls f(r, arg) for every listed region that keeps records (closing
 * ones included), r locked, until f returns non-zero, then done(arg),
 * all under the registry's lock; returns f's result, or 0.  Neither may
 * call rgn.  Regions a forked child inherited are the parent's to report
 * and are left out, unless `inherited` (rgn_audit_since: what the child
 * registered in them after its mark is its own). */
RGN_HIDDEN int rgn__audit_each(int (*f)(rgn_t *r, void *arg),
                               void (*done)(void *arg), void *arg,
                               bool inherited);
/* The registry's lock, for the fork handlers (fork.c); after a fork,
 * in the child, rgn__registry_forked marks every listed region
 * inherited, the registry locked. */
RGN_HIDDEN void rgn__registry_lock(void);
RGN_HIDDEN void rgn__registry_unlock(void);
RGN_HIDDEN void rgn__registry_forked(void);

/* Keeps r, freed but for its struct and name, in the quarantine of
 * closed audited regions (state RGN_FREED), freeing the oldest there. */
RGN_HIDDEN void rgn__audit_bury(rgn_t *r, rgn_audit_mode mode);

/* Writes what the calling thread was running (rgn_audit_mark_named), if
 * it said, and aborts: every abort of the audit goes through here. */
RGN_HIDDEN _Noreturn void rgn__audit_abort(void);

#endif /* RGN_AUDIT_H */

/* SPDX-License-Identifier: MIT */
/*
 * hooks.h -- how the calls on a region reach the audit: a registration
 * fills its record and gives the watchers a chance to look (watch.c); a
 * release feeds a lifetime; a resource leaving by other ways leaves its
 * tally; a close reports what was left (report.c); a refused call on a
 * closed region may be a use after close (misuse.c).  Reports met under
 * a lock are queued (sink.h) and written by rgn__audit_flush once the
 * caller holds no lock.  Region code calls the audit through these only.
 */
#ifndef RGN_HOOKS_H
#define RGN_HOOKS_H

#include "base.h"
#include "audit.h"
#include "clock.h"
#include "sink.h"

/* The watchers' look at r (locked): held resources, growing sites, made
 * a few times a second at most, on r's own calls, so that no thread is
 * needed (watch.c, through above.h).  Whether it looked: the look takes
 * time, up to a millisecond for the first one, which measures the
 * clock. */
static inline bool rgn__audit_tick(rgn_t *r, uint64_t now)
{
    if (RGN_LIKELY(now < r->tracking->next_look))
        return false;
    rgn__above()->look(r, now);
    return true;
}

/* Makes the limit warning of r, locked, for rgn__audit_flush. */
static inline void rgn__audit_check_limit(rgn_t *r)
{
    const struct rgn_tracking *t = r->tracking;
    if (RGN_UNLIKELY(t->limit && r->slots.live > t->next_warn))
        rgn__above()->limit_warning(r);
}

/*
 * Fills slot i's record for a new registration and counts it in its
 * site's tally; checks the limit.  The slot may have been taken before r
 * kept records (an rgn_allocate in flight while the audit was turned
 * on): its record is made now, or the resource stays of unknown site.
 */
static inline void rgn__audit_note(rgn_t *r, uint32_t i,
                                   const struct rgn_site *site,
                                   const char *label, uint64_t bytes)
{
    struct rgn_tracking *t = r->tracking;
    if (rgn__audit_records(t) && rgn__audit_reserve(r, i)) {
        struct rgn_arec *rec = &t->recs[i];
        uint32_t flags =
            RGN_AREC_LIVE |
            ((rgn__intent & RGN_LIVES_WITH_OWNER) ? RGN_AREC_EXPECTED : 0);
        uint32_t every =
            atomic_load_explicit(&rgn__sample_every, memory_order_relaxed);
        if (RGN_UNLIKELY(every > 1) && --r->sample_in != 0 &&
            r->sample_in <= 2 * every) {
            /* Not this one's site: its bytes count, nothing else. */
            *rec = (struct rgn_arec){
                0, bytes, 0, 0, flags | RGN_AREC_UNSAMPLED, 0};
            t->bytes += bytes;
            rec->flags |= RGN_AREC_SIZED;
        } else {
            if (RGN_UNLIKELY(every > 1))
                r->sample_in = rgn__sample_gap(t, every);
            uint64_t now = rgn__now();
            *rec = (struct rgn_arec){now,   bytes, 0, rgn__thread_no(),
                                     flags, every};
            rgn__audit_count(t, rec, site, label);
            if (rgn__audit_tick(r, now))
                rec->born = rgn__now(); /* the look is no part of its life */
        }
    }
    rgn__audit_check_limit(r);
}

/* Slot i of r (locked) is about to leave other than by an early
 * release -- unprotected, taken out as a child, cleared: it leaves its
 * tally. */
static inline void rgn__audit_leave(rgn_t *r, uint32_t i)
{
    struct rgn_arec *rec = rgn__audit_record(r, i);
    if (rec) {
        rgn__audit_uncount(r->tracking, rec);
        rec->flags = 0; /* of no live resource now */
    }
}

/*
 * Slot i of r (locked) is about to be released early: it leaves its
 * tally, its lifetime feeds the tally's sketch when r measures
 * lifetimes, and the watchers look when a look is due.  Out of memory,
 * the lifetime goes unrecorded: a release must not fail for the sake of
 * a statistic.
 */
static inline void rgn__audit_release(rgn_t *r, uint32_t i)
{
    struct rgn_tracking *t = r->tracking;
    struct rgn_arec *rec = rgn__audit_record(r, i);
    if (!rec)
        return;
    /* The clock first: on a KVM guest its reading takes 10 ns (clock.c)
     * that the work below overlaps when nothing waits for it; read
     * where it is used, the audited pair cost 29 ns, read here 26. */
    uint64_t now = t->lifetimes && rec->born ? rgn__now() : 0;
    struct rgn_tally *e = rgn__audit_tally(t, rec);
    rgn__audit_uncount(t, rec);
    rec->flags = 0; /* of no live resource now */
    if (!e || !rec->born)
        return; /* registered before records were kept, or unsampled */
    if (rec->born > e->newest_released)
        e->newest_released = rec->born;
    if (!t->lifetimes)
        return;
    rgn__tally_lifetime(e, now > rec->born ? now - rec->born : 0);
    (void)rgn__audit_tick(r, now);
}

/* Slot i of `from` moved to slot j of `to`, both locked, one of them
 * tracked. */
static inline void rgn__audit_move(rgn_t *from, uint32_t i, rgn_t *to,
                                   uint32_t j)
{
    rgn__audit_move_record(from, i, to, j);
    if (to->tracking)
        rgn__audit_check_limit(to);
}

/* Writes the reports this thread queued under a lock; called by every
 * caller of the hooks above, and of rgn__lock, once it holds no lock.
 * A report of abort mode aborts once everything queued is written. */
static inline void rgn__audit_flush(void)
{
    if (RGN_UNLIKELY(rgn__deferred != NULL) && rgn__deferred_write())
        rgn__audit_abort();
}

/* The last reference went, r locked: makes the report of what r still
 * holds (NORMAL closes of audited owners).  True when the program must
 * abort once the report is written (report.c, through above.h). */
static inline bool rgn__audit_close(rgn_t *r, rgn_release_type how,
                                    struct rgn_report *rep)
{
    return rgn__above()->close_report(r, how, rep);
}

/* The result of `call` refused on a region that is not open: rc,
 * reporting a use after close first when r is RGN_FREED (and aborting
 * under RGN_AUDIT=abort).  Called holding no lock (misuse.c, through
 * above.h). */
static inline int rgn__closed_use(rgn_t *r, const char *call,
                                  const struct rgn_site *site, int rc)
{
    /* A buried region's state never changes again. */
    if (RGN_UNLIKELY(__atomic_load_n(&r->state, __ATOMIC_RELAXED) ==
                     RGN_FREED))
        return rgn__above()->closed_use(r, call, site, rc);
    return rc;
}

#endif /* RGN_HOOKS_H */

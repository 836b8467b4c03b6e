/* SPDX-License-Identifier: MIT */
/*
 * report.h -- the audit's reports (report.c), and the hooks through
 * which the calls on a region set them off: a registration fills its
 * record and may pass the limit or find held resources; a release feeds
 * a lifetime; a close reports what was left.  Reports met under a lock
 * are made there and written by rgn__audit_flush once the caller holds
 * no lock.
 */
#ifndef RGN_REPORT_H
#define RGN_REPORT_H

#include "base.h"
#include "audit.h"
#include "clock.h"
#include "lifetime.h"
#include "sink.h"

/* Looks for held resources in r (locked), a few times a second at most:
 * the look is made on r's own calls, so it needs no thread of its own. */
RGN_HIDDEN void rgn__audit_held_check(rgn_t *r, uint64_t now);
static inline void rgn__audit_tick(rgn_t *r, uint64_t now)
{
    if (RGN_UNLIKELY(now >= r->tracking->next_held_check))
        rgn__audit_held_check(r, now);
}

/* Makes the limit warning of r, locked, for rgn__audit_flush. */
RGN_HIDDEN void rgn__audit_limit_warning(rgn_t *r);
static inline void rgn__audit_check_limit(rgn_t *r)
{
    const struct rgn_tracking *t = r->tracking;
    if (RGN_UNLIKELY(t->limit && r->slots.live > t->next_warn))
        rgn__audit_limit_warning(r);
}

/*
 * Fills slot i's record for a new registration; checks the limit.  The
 * slot may have been taken before r kept records (an rgn_allocate in
 * flight while the audit was turned on): its record is made now, or the
 * resource stays of unknown site.
 */
static inline void rgn__audit_note(rgn_t *r, uint32_t i,
                                   const struct rgn_site *site,
                                   const char *label)
{
    struct rgn_tracking *t = r->tracking;
    if (rgn__audit_records(t) && rgn__audit_reserve(r, i)) {
        uint64_t now = rgn__now();
        t->recs[i] = (struct rgn_arec){site, label, now, 0};
        rgn__audit_tick(r, now);
    }
    rgn__audit_check_limit(r);
}

/* Slot i of r is about to be released early: its lifetime, if r
 * measures them, and a look for held resources when one is due. */
static inline void rgn__audit_release(rgn_t *r, uint32_t i)
{
    uint64_t now = rgn__lifetime_release(r, i);
    if (now)
        rgn__audit_tick(r, now);
}

/* Slot i of `from` moved to slot j of `to` (tracked), both locked. */
static inline void rgn__audit_move(rgn_t *from, uint32_t i, rgn_t *to,
                                   uint32_t j)
{
    rgn__audit_move_record(from, i, to, j);
    rgn__audit_check_limit(to);
}

/* Reports this thread made under a lock, not yet written. */
struct rgn_deferred;
RGN_HIDDEN extern __thread struct rgn_deferred *rgn__deferred
    __attribute__((tls_model("initial-exec")));
RGN_HIDDEN void rgn__audit_flush_slow(void);
/* Writes them; called by every caller of the hooks above, and of
 * rgn__lock, once it holds no lock. */
static inline void rgn__audit_flush(void)
{
    if (RGN_UNLIKELY(rgn__deferred != NULL))
        rgn__audit_flush_slow();
}

/* The last reference went, r locked: makes the report of what r still
 * holds (NORMAL closes of audited regions).  True when the program must
 * abort once the report is written. */
RGN_HIDDEN bool rgn__audit_close(rgn_t *r, rgn_release_type how,
                                 struct rgn_report *rep);

/* The result of `call` refused on a region that is not open: rc,
 * reporting a use after close first when r is RGN_FREED (and aborting
 * under RGN_AUDIT=abort).  Called holding no lock. */
RGN_HIDDEN int rgn__closed_use_slow(rgn_t *r, const char *call,
                                    const struct rgn_site *site, int rc);
static inline int rgn__closed_use(rgn_t *r, const char *call,
                                  const struct rgn_site *site, int rc)
{
    /* A buried region's state never changes again. */
    if (RGN_UNLIKELY(__atomic_load_n(&r->state, __ATOMIC_RELAXED) ==
                     RGN_FREED))
        return rgn__closed_use_slow(r, call, site, rc);
    return rc;
}

#endif /* RGN_REPORT_H */

/* SPDX-License-Identifier: MIT */
/*
 * stats.c -- a region's counters, read under its lock.
 *
 * The counters live in the region itself and are bumped by the slot map
 * as a side effect of what it does anyway; registrations are not counted
 * at all but derived, so statistics add no work to register or release.
 * They describe the region since it was made or last cleared: a clear
 * starts them again (peak and cleanup_errors go on from the creation),
 * so that registered == live + released_early + removed holds for every
 * open region.  Lifetime quantiles come from the per-site sketches of the
 * tallies.  May call: the region's lock, tally.c, the audit's flush.
 *
 * Floor 1, the region core (doc/HACKING, "Floors").
 */
#include "internal.h"

void rgn__counters(const rgn_t *r, rgn_stats *out)
{
    memset(out, 0, sizeof *out);
    /* A reader on another thread (the metrics) may read the counts of a
     * sampled region while its owner's lean calls change them unlocked
     * (audit.h): those are read as atomics, as lean calls write them --
     * the releases first, with acquire (see take_lean). */
    out->released_early =
        __atomic_load_n(&r->released_early, __ATOMIC_ACQUIRE);
    out->live = rgn__slots_live(&r->slots); /* after: see take_lean */
    out->peak = rgn__slots_peak(&r->slots);
    out->removed = r->removed;
    out->registered = out->live + out->released_early + r->removed + r->closed;
    out->cleanup_errors =
        atomic_load_explicit(&r->cleanup_errors, memory_order_relaxed);
}

void rgn__counters_restart(rgn_t *r)
{
    RGN_ASSERT(r->slots.live == 0);
    struct rgn_tracking *t = r->tracking;
    if (RGN_UNLIKELY(t != NULL)) {
        t->cleared.registered += r->released_early + r->removed + r->closed;
        t->cleared.released_early += r->released_early;
        t->cleared.removed += r->removed;
    }
    r->released_early = r->removed = r->closed = 0;
}

/* The lifetime fields of *out from t (which may be NULL). */
static void lifetime_stats(const struct rgn_tracking *t, rgn_stats *out)
{
    if (!t || !t->tallies.n)
        return;
    /* The sketches hold ticks of the audit's clock (clock.c). */
    static const double q[4] = {0.5, 0.9, 0.99, 1};
    double tick_ns = rgn__tick_ns();
    for (int k = 0; k < 4; k++) {
        double ns = (double)rgn__tallies_quantile(&t->tallies, q[k]) * tick_ns;
        out->lifetime_ns[k] = ns >= 1.8e19 ? UINT64_MAX : (uint64_t)ns;
    }
    out->lifetime_retained = rgn__tallies_retained(&t->tallies);
}

int rgn_get_stats(const rgn_t *region, rgn_stats *out)
{
    if (!region || !out)
        return rgn__refused(-EINVAL);
    rgn_t *r = (rgn_t *)region; /* the lock is not part of the value */
    rgn__lock(r);
    rgn__counters(r, out);
    lifetime_stats(r->tracking, out);
    if (r->tracking)
        out->bytes = r->tracking->bytes;
    out->arena_bytes = rgn__arena_bytes(r);
    rgn__unlock(r);
    rgn__audit_flush();
    return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * above.h -- what the region core asks of the floors above it.  The core
 * (floor 1, doc/HACKING "Floors") never names a file above it; where it
 * must make one react -- report a use after close or two threads on an
 * unshared region, make the leak report of a close, let the watchers
 * look, arm the exit report, hand a leaving region's counters to the
 * metrics -- it calls through this table, as PostgreSQL's mcxt.c calls a
 * context's methods.
 *
 * The public constructors (new.c, floor 2) install the table before they
 * make a region, and nothing calls through it without a region: so it is
 * never empty where it is read, and a static link that makes a region
 * links the reports too.  Installed once and never changed; read with a
 * relaxed load (every install stores the same address).
 */
#ifndef RGN_ABOVE_H
#define RGN_ABOVE_H

#include "base.h"
#include "sink.h"

struct rgn_above {
    /* A second thread found inside a call of r, which nobody shared
     * (misuse.c); r locked. */
    void (*two_threads)(rgn_t *r, const struct rgn_site *other);
    /* `call` refused on a region that is not open and was buried:
     * reports the use after close, returns rc (misuse.c); no lock. */
    int (*closed_use)(rgn_t *r, const char *call, const struct rgn_site *site,
                      int rc);
    /* The last reference went, r locked: the report of what r still
     * holds; true when the program must abort once it is written
     * (report.c). */
    bool (*close_report)(rgn_t *r, rgn_release_type how,
                         struct rgn_report *rep);
    /* The watchers' look at r, locked (watch.c). */
    void (*look)(rgn_t *r, uint64_t now);
    /* The limit warning of r, locked (watch.c). */
    void (*limit_warning)(rgn_t *r);
    /* A named region leaves the registry: its counters stay counted
     * (metrics.c); registry locked. */
    void (*retire)(rgn_t *r);
    /* The first listing: arms the exit report, once (report.c). */
    void (*arm_exit)(void);
};

RGN_HIDDEN extern const struct rgn_above *rgn__above_table;

/* Installs a, the only table there is (new.c); idempotent.  Inline: a
 * region's creation pays one load and a test. */
static inline void rgn__above_install(const struct rgn_above *a)
{
    if (RGN_UNLIKELY(__atomic_load_n(&rgn__above_table, __ATOMIC_RELAXED) !=
                     a))
        __atomic_store_n(&rgn__above_table, a, __ATOMIC_RELAXED);
}

static inline const struct rgn_above *rgn__above(void)
{
    const struct rgn_above *a =
        __atomic_load_n(&rgn__above_table, __ATOMIC_RELAXED);
    RGN_ASSERT(a != NULL); /* a region exists, so new.c installed it */
    return a;
}

#endif /* RGN_ABOVE_H */

/* SPDX-License-Identifier: MIT */
/*
 * misuse.c -- what the audit catches that would otherwise corrupt memory
 * quietly: a region used after its last close (found in the quarantine
 * audit.c keeps), and a region nobody shared used by two threads at once
 * (found by region.h's lock).  Each is reported once, through the sink.
 *
 * Floor 2: the core reaches both through its table (above.h).  Calls
 * group.c for the text and sink.c to write it; the abort of abort mode
 * goes through rgn__audit_abort (audit.c).
 */
#include "internal.h"

#include <stdio.h>

int rgn__closed_use_slow(rgn_t *r, const char *call,
                         const struct rgn_site *site, int rc)
{
    char region[320], where[300];
    rgn__fmt_region(region, sizeof region, r);
    rgn__fmt_at(where, sizeof where, site);
    rgn__emit("rgn: use after close: %s%s on %s, after its last close", call,
              where, region);
    if (r->freed_mode == RGN_AUDIT_ABORT)
        rgn__audit_abort();
    return rc;
}

/* This thread found another inside a call of r, which nobody shared:
 * made with r's lock taken (but the other thread may be inside too, so
 * only what does not change is read), written by rgn__audit_flush. */
void rgn__two_threads(rgn_t *r, const struct rgn_site *other)
{
    struct rgn_tracking *a = r->tracking;
    if (!a || a->mode == RGN_AUDIT_OFF || r->two_threads_seen)
        return;
    r->two_threads_seen = true;
    int saved = errno;
    struct rgn_report *rep = rgn__defer(a->mode == RGN_AUDIT_ABORT);
    if (rep) {
        char region[320], mine[300], theirs[300];
        rgn__fmt_region(region, sizeof region, r);
        rgn__fmt_at(mine, sizeof mine, rgn__call_site);
        rgn__fmt_at(theirs, sizeof theirs, other);
        rgn__report_line(rep,
                         "rgn: two threads: %s was used by two threads "
                         "at once, but nobody shared it (rgn_share, "
                         "rgn_thread_create): one called rgn%s while another "
                         "was inside a call%s",
                         region, mine, theirs);
    }
    errno = saved;
}

/* SPDX-License-Identifier: MIT */
/*
 * since.c -- checkpoints: what did this test, request or job leave
 * behind?  rgn_audit_mark() names a point in the process's order of
 * registrations; rgn_audit_since() counts, and reports, what was
 * registered after it and is still live in any audited region, owners
 * included -- so a test whose leak went into a long-lived owner fails in
 * that test, whatever framework runs it.
 *
 * A mark is a reading of the audit's clock, the clock every record's
 * birth is read from (under its region's lock, in registration order on
 * each thread), so nothing needs to be counted at registration: a
 * resource was registered after the mark exactly when it was born after
 * it.  Resources registered before the mark are never counted, whatever
 * region they are in or move to.
 *
 * Walks the registry (audit.c) as the other process-wide readers do, and
 * writes through group.c and sink.c once the registry is let go.
 *
 * Floor 2, above the core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>

rgn_mark_t rgn_audit_mark_named(const char *running)
{
    /* Leaks counted at closes before the mark are shown now, and the
     * next close of any site reports at once: they are not the next
     * test's to be told of. */
    struct rgn_report rep;
    rgn__report_init(&rep);
    rgn__digest_flush(&rep, true);
    rgn__report_print(&rep, NULL, NULL);
    uint64_t now = rgn__now();
    rgn__mark = (struct rgn_thread_mark){now, running, 0, false};
    return now;
}

rgn_mark_t rgn_audit_mark(void)
{
    return rgn_audit_mark_named(NULL);
}

struct since {
    uint64_t mark;
    uint32_t thread; /* 0: every thread's */
    struct rgn_groups g;
    size_t held;             /* counted, each region's no more than it
                                holds */
    struct rgn_groups *into; /* the region's, while one is read */
};

/* Groups one resource of r that was registered after the mark. */
static void since_resource(rgn_t *r, uint32_t i, struct rgn_arec *rec,
                           void *arg)
{
    struct since *s = arg;
    struct rgn_tracking *t = r->tracking;
    if (!rgn__left_since(r, i, rec, s->mark) ||
        (s->thread && rec->thread != s->thread))
        return;
    rgn__groups_add(s->into, rgn__audit_site(t, rec), rgn__audit_label(t, rec),
                    rec->born, rec->bytes, rgn__audit_weight(rec));
}

/* Groups what r (locked) holds that was registered after the mark: its
 * resources with records (a lean one has no birth to compare).  Sampled
 * ones stand for others, but never for more than r holds: r's groups
 * are capped before they join the others. */
static int since_region(rgn_t *r, void *arg)
{
    struct since *s = arg;
    struct rgn_tracking *t = r->tracking;
    if (t->mode == RGN_AUDIT_OFF || r->state != RGN_OPEN)
        return 0;
    struct rgn_groups g;
    rgn__groups_init(&g);
    s->into = &g;
    (void)rgn__audit_walk(r, since_resource, arg);
    size_t live = rgn__slots_live(&r->slots);
    rgn__groups_sort(&g);
    rgn__groups_cap(&g, live, t->bytes);
    s->held += g.total < live ? g.total : live;
    rgn__groups_merge(&s->g, &g);
    rgn__groups_free(&g);
    return 0;
}

#define SINCE_FLAGS                                                           \
    (RGN_SINCE_QUIET | RGN_SINCE_THIS_THREAD | RGN_SINCE_CLOSED)

long rgn_audit_since(rgn_mark_t mark, unsigned flags)
{
    if (flags & ~SINCE_FLAGS)
        return rgn__refused(-EINVAL);
    int saved = errno;
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    struct since s = {mark,
                      (flags & RGN_SINCE_THIS_THREAD) ? rgn__thread_no() : 0,
                      {0},
                      0,
                      NULL};
    rgn__groups_init(&s.g);
    rgn__audit_each(since_region, NULL, &s, true);
    rgn__groups_sort(&s.g);
    uint64_t closed = 0;
    if ((flags & RGN_SINCE_CLOSED) && mark == rgn__mark.at)
        closed = rgn__mark.closed_leaks;
    long n = (long)(s.held + closed);
    if (!(flags & RGN_SINCE_QUIET)) {
        struct rgn_report rep;
        rgn__report_init(&rep);
        rgn__digest_flush(&rep, false);
        size_t sites = rgn__out_groups(&rep, "leak", &s.g, SIZE_MAX);
        if (n) {
            char running[160] = "", also[96] = "";
            if (rgn__mark.running && mark == rgn__mark.at) {
                char q[140];
                rgn__fmt_quoted(q, sizeof q, rgn__mark.running);
                snprintf(running, sizeof running, " of %s", q);
            }
            if (closed)
                snprintf(also, sizeof also,
                         " (and %s%llu more reported at closes)",
                         rgn__mark.closed_estimated ? "~" : "",
                         (unsigned long long)closed);
            rgn__report_line(
                &rep,
                "rgn: leak summary: %s%zu live %s from %zu %s registered "
                "since the mark%s%s",
                s.g.estimated ? "~" : "", s.held,
                rgn__plural(s.held, "resource", "resources"), sites,
                rgn__plural(sites, "site", "sites"), running, also);
        }
        rgn__report_print(&rep, NULL, NULL);
    }
    rgn__groups_free(&s.g);
    pthread_setcancelstate(state, NULL);
    errno = saved;
    return n;
}

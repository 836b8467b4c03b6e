/* SPDX-License-Identifier: MIT */
/*
 * report.c -- the audit's reports of what regions hold: leaks at an
 * owner's close (digested across regions), the open-region report and
 * the exit report, rgn_audit_dump and rgn_audit_visit.
 *
 * It reads what audit.c keeps, under the locks audit.c's order allows,
 * makes its text with group.c and writes it through sink.c once every
 * region lock is let go.  Region code reaches it through hooks.h; audit.c
 * only arms the exit report; fork.c holds the digest's lock across a
 * fork.
 *
 * Floor 2, above the core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Sites a leak report lists before it sums up the rest. */
#define REPORT_SITES 50

static long report_open(bool *abort_now);

/* ---- the exit report ---------------------------------------------------- */

static pid_t exit_pid; /* the process the exit report is for */

static void report_at_exit(void)
{
    if (getpid() != exit_pid)
        return;
    bool abort_now = false;
    if (report_open(&abort_now) > 0 && abort_now)
        rgn__audit_abort();
}

/* Run once, by the first listing (audit.c). */
void rgn__report_arm_exit(void)
{
    exit_pid = getpid();
    atexit(report_at_exit);
}

void rgn__report_forked(void)
{
    if (exit_pid)
        exit_pid = getpid();
}

/* ---- leaks at close, digested across regions ---------------------------
 *
 * A program that makes many short-lived owners with the same leak (an
 * owner per request, say) would print a report per region.  So a site
 * and label whose leak was printed in the last second is not printed
 * again by the next close: it is counted here, and the count is printed
 * as one line -- at the next close that prints the site, at
 * rgn_audit_report_open, rgn_audit_mark, rgn_audit_since, or at exit.
 * The table is small and fixed: a site that finds no room is printed as
 * before.  Its lock is taken under a region's lock and takes no other:
 * it is the innermost lock there is.
 */
#define DIGEST_SITES 128
#define DIGEST_WINDOW_NS 1000000000u

struct digest {
    const struct rgn_site *site;
    char label[64]; /* a copy: the label may not outlive us */
    bool used, labelled;
    uint64_t printed_at;   /* rgn__now() of the last printed line */
    size_t count, regions; /* counted since then, not yet printed */
    bool estimated;        /* count is of sampled sites: ~count */
    uint64_t oldest_ns;    /* the greatest age among them */
};

static pthread_mutex_t digest_lock = PTHREAD_MUTEX_INITIALIZER;
static struct digest digests[DIGEST_SITES];

static size_t digest_hash(const struct rgn_site *site, const char *label)
{
    uint64_t h = (uint64_t)(uintptr_t)site * 0x9E3779B97F4A7C15u;
    for (const char *p = label; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001B3u;
    return (size_t)(h ^ (h >> 29));
}

static struct digest *digest_of(const struct rgn_site *site, const char *label)
{
    size_t h = digest_hash(site, label) & (DIGEST_SITES - 1);
    for (size_t k = 0; k < DIGEST_SITES; k++) {
        struct digest *d = &digests[(h + k) & (DIGEST_SITES - 1)];
        if (!d->used) {
            d->used = true;
            d->site = site;
            d->labelled = label != NULL;
            snprintf(d->label, sizeof d->label, "%s", label ? label : "");
            d->printed_at = 0;
            return d;
        }
        if (d->site == site && d->labelled == (label != NULL) &&
            (!label || strncmp(d->label, label, sizeof d->label - 1) == 0))
            return d;
    }
    return NULL;
}

/* One line for what was counted at d since its last line. */
static void digest_line(struct rgn_report *rep, struct digest *d)
{
    char where[256], label[160], age[32];
    rgn__fmt_site(where, sizeof where, label, sizeof label, d->site,
                  d->labelled ? d->label : NULL);
    rgn__fmt_age(age, sizeof age, d->oldest_ns);
    rgn__report_line(rep,
                     "rgn: leak: %s:%s %s%zu live at the close of %zu more "
                     "%s, the oldest %s",
                     where, label, d->estimated ? "~" : "", d->count,
                     d->regions, rgn__plural(d->regions, "region", "regions"),
                     age);
    d->count = d->regions = 0;
    d->estimated = false;
    d->oldest_ns = 0;
}

/*
 * Whether group e of a closing region may be left out of its report:
 * its site was printed less than a second ago.  Then it is counted.
 * Otherwise the site's counted leaks, if any, are written to rep first,
 * and the caller prints e.
 */
static bool digest_defer(struct rgn_report *rep, const struct rgn_group *e,
                         const struct rgn_when *w)
{
    pthread_mutex_lock(&digest_lock);
    struct digest *d = digest_of(e->site, e->label);
    bool defer = false;
    if (d) {
        uint64_t age = rgn__age_ns(w, e->oldest);
        uint64_t since = rgn__span_ns(w, w->now - d->printed_at);
        if (d->printed_at && since < DIGEST_WINDOW_NS) {
            d->count += e->count;
            d->estimated |= e->estimated;
            d->regions++;
            if (age > d->oldest_ns)
                d->oldest_ns = age;
            defer = true;
        } else {
            if (d->count)
                digest_line(rep, d);
            d->printed_at = w->now;
        }
    }
    pthread_mutex_unlock(&digest_lock);
    return defer;
}

void rgn__digest_hold(bool hold)
{
    if (hold)
        pthread_mutex_lock(&digest_lock);
    else
        pthread_mutex_unlock(&digest_lock);
}

void rgn__digest_forget(void)
{
    for (size_t k = 0; k < DIGEST_SITES; k++) {
        digests[k].count = digests[k].regions = 0;
        digests[k].estimated = false;
    }
}

void rgn__digest_flush(struct rgn_report *rep, bool restart)
{
    pthread_mutex_lock(&digest_lock);
    for (size_t k = 0; k < DIGEST_SITES; k++) {
        if (digests[k].used && digests[k].count)
            digest_line(rep, &digests[k]);
        if (restart)
            digests[k].printed_at = 0;
    }
    pthread_mutex_unlock(&digest_lock);
}

/* Counts for the thread's checkpoint the leaked resources of r (locked)
 * registered after its mark (rgn_audit_since's RGN_SINCE_CLOSED): a
 * sampled one for as many as it stands for, and no more than the `held`
 * possible leaks r has. */
static void count_since_mark(rgn_t *r, size_t held)
{
    uint64_t mark = rgn__mark.at;
    if (!mark)
        return;
    size_t n = 0, counted = 0;
    for (uint32_t i = rgn__slot_newest(&r->slots); i;
         i = rgn__ln(&r->slots, i)->next) {
        const struct rgn_arec *rec = rgn__audit_record(r, i);
        if (rgn__left_since(r, i, rec, mark)) {
            n += rgn__audit_weight(rec);
            counted++;
        }
    }
    rgn__mark.closed_leaks += n < held ? n : held;
    rgn__mark.closed_estimated |= n != counted;
}

bool rgn__report_close(rgn_t *r, rgn_release_type how, struct rgn_report *rep)
{
    rgn__report_init(rep);
    struct rgn_tracking *a = r->tracking;
    if (!a || a->mode == RGN_AUDIT_OFF || how != RGN_RELEASE_NORMAL ||
        r->scope || !rgn__slot_newest(&r->slots))
        return false;
    int saved = errno;
    struct rgn_groups g;
    struct rgn_apart apart;
    rgn__groups_init(&g);
    rgn__groups_collect(r, true, &g, &apart);
    /* With sites sampled, the groups may be none at all. */
    size_t exact = rgn__groups_held(r, &apart);
    if (!g.total && exact) {
        char region[320];
        rgn__fmt_region(region, sizeof region, r);
        rgn__report_line(rep,
                         "rgn: leak summary: %zu live %s at close of %s, "
                         "none of them from a sampled site "
                         "(RGN_AUDIT_SAMPLE)",
                         exact, rgn__plural(exact, "resource", "resources"),
                         region);
    }
    if (g.total) {
        count_since_mark(r, exact);
        /* An abort is never put off: it must say why. */
        struct rgn_when w = rgn__when_now();
        size_t sites = 0, shown = 0, counted = 0;
        for (size_t i = 0; i < g.n; i++) {
            if (a->mode != RGN_AUDIT_ABORT && digest_defer(rep, &g.v[i], &w)) {
                counted += g.v[i].count;
                continue;
            }
            if (sites++ < REPORT_SITES) {
                rgn__out_group(rep, "leak", &g.v[i], &w, "");
                shown += g.v[i].count;
            }
        }
        /* Sampled, the groups are estimates (each no more than exact):
         * the summary gives the exact count, all of it. */
        const char *about = g.estimated ? "~" : "";
        size_t rest =
            g.total > counted + shown ? g.total - counted - shown : 0;
        if (rest)
            rgn__report_line(rep,
                             "rgn: leak: ... and %s%zu more from %zu more "
                             "sites",
                             about, rest,
                             sites > REPORT_SITES ? sites - REPORT_SITES : 0);
        if (sites) {
            char region[320], also[128] = "", unrecorded[96] = "";
            rgn__fmt_region(region, sizeof region, r);
            /* Resources whose sites were never recorded (registered while
             * sites were sampled, before a new rate) are counted too. */
            bool whole = g.estimated || exact > g.total;
            size_t n = whole ? exact : g.total - counted;
            if (counted)
                snprintf(also, sizeof also,
                         " (%s%s%zu %s at sites reported in the last second, "
                         "counted for later)",
                         whole ? "" : "and ", about, counted,
                         whole ? "of them" : "more");
            if (!g.estimated && exact > g.total)
                snprintf(unrecorded, sizeof unrecorded,
                         ", %zu of them from no recorded site "
                         "(RGN_AUDIT_SAMPLE)",
                         exact - g.total);
            rgn__report_line(rep,
                             "rgn: leak summary: %zu live %s from %zu %s%s "
                             "at close of %s%s%s",
                             n, rgn__plural(n, "resource", "resources"), sites,
                             g.estimated ? "sampled " : "",
                             rgn__plural(sites, "site", "sites"), region,
                             unrecorded, also);
        }
    }
    bool leaked = g.total != 0 || exact != 0;
    rgn__groups_free(&g);
    errno = saved;
    return leaked && a->mode == RGN_AUDIT_ABORT;
}

/* ---- on demand ------------------------------------------------------------ */

long rgn_audit_dump(rgn_t *r, rgn_audit_sink sink, void *arg)
{
    if (!r)
        return rgn__refused(-EINVAL);
    int saved = errno;
    char region[320];
    struct rgn_groups g;
    struct rgn_apart apart;
    rgn__groups_init(&g);
    struct rgn_report rep;
    rgn__report_init(&rep);
    rgn__lock(r);
    rgn__fmt_region(region, sizeof region, r);
    rgn__groups_collect(r, false, &g, &apart);
    size_t sites = rgn__out_groups(&rep, "live", &g, SIZE_MAX);
    char also[96] = "", bytes[48] = "";
    rgn__fmt_apart(also, sizeof also, &apart);
    uint64_t sized = r->tracking ? r->tracking->bytes : 0;
    if (sized) {
        char b[32];
        rgn__fmt_bytes(b, sizeof b, sized);
        snprintf(bytes, sizeof bytes, ", %s", b);
    }
    rgn__report_line(&rep,
                     "rgn: live summary: %zu live %s%s%s from %zu %s%s in %s",
                     (size_t)r->slots.live,
                     rgn__plural(r->slots.live, "resource", "resources"),
                     bytes, also, sites, g.estimated ? "sampled " : "",
                     rgn__plural(sites, "site", "sites"), region);
    rgn__unlock(r);
    rgn__report_print(&rep, sink, arg);
    /* The count of possible leaks, as the close would see them: exact,
     * each resource once, sampled or not. */
    long unexpected =
        (long)(g.records + g.unsampled - apart.expected - apart.children);
    rgn__groups_free(&g);
    errno = saved;
    return unexpected;
}

/* What rgn_audit_report_open gathers, region by region. */
struct open_report {
    struct rgn_report rep;
    size_t total, regions;
    bool abort_now;
};

/* Reports one listed region for rgn_audit_report_open, r locked, unless
 * it is closing, not audited or ignored.  An empty region is not
 * reported: a region meant to live as long as the process (a global one)
 * holds nothing at exit once every job released what it took. */
static int report_open_region(rgn_t *r, void *arg)
{
    struct open_report *o = arg;
    const struct rgn_tracking *t = r->tracking;
    if (t->ignored || r->state != RGN_OPEN || t->mode == RGN_AUDIT_OFF)
        return 0;
    struct rgn_groups g;
    struct rgn_apart apart;
    rgn__groups_init(&g);
    rgn__groups_collect(r, true, &g, &apart);
    /* Exact, sampled or not: the sites' lines are the estimates. */
    size_t n = rgn__groups_held(r, &apart);
    if (n) {
        char region[320];
        rgn__fmt_region(region, sizeof region, r);
        rgn__report_line(&o->rep,
                         "rgn: leak: %s was never closed and holds "
                         "%zu live %s",
                         region, n, rgn__plural(n, "resource", "resources"));
        rgn__out_groups(&o->rep, "leak", &g, REPORT_SITES);
        if (t->mode == RGN_AUDIT_ABORT)
            o->abort_now = true;
        o->total += n;
        o->regions++;
    }
    rgn__groups_free(&g);
    return 0;
}

/* The regions another process made are not this one's to report. */
static long report_open(bool *abort_now)
{
    int saved = errno;
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    struct open_report o = {.total = 0, .regions = 0, .abort_now = false};
    rgn__report_init(&o.rep);
    rgn__audit_each(report_open_region, NULL, &o, false);
    if (o.regions)
        rgn__report_line(
            &o.rep,
            "rgn: leak summary: %zu live %s in %zu "
            "audited %s never closed",
            o.total, rgn__plural(o.total, "resource", "resources"), o.regions,
            rgn__plural(o.regions, "region", "regions"));
    rgn__digest_flush(&o.rep, false); /* counted at closes, not yet shown */
    rgn__report_print(&o.rep, NULL, NULL);
    pthread_setcancelstate(state, NULL);
    errno = saved;
    *abort_now = o.abort_now;
    return (long)o.total;
}

long rgn_audit_report_open(void)
{
    bool abort_now = false;
    return report_open(&abort_now);
}

/* r's live resources, newest first, copied under its lock. */
static struct rgn_audit_entry *snapshot(rgn_t *r, size_t *n)
{
    struct rgn_when w = rgn__when_now();
    struct rgn_audit_entry *v = NULL;
    rgn__lock(r);
    struct rgn_tracking *t = r->tracking;
    size_t live = r->slots.live;
    if (live)
        v = rgn__malloc(live * sizeof *v);
    size_t k = 0;
    for (uint32_t i = rgn__slot_newest(&r->slots); v && i;
         i = rgn__ln(&r->slots, i)->next) {
        struct rgn_arec *rec = rgn__audit_record(r, i);
        struct rgn_audit_entry e = {
            {r->slots.id, i, rgn__ln(&r->slots, i)->gen},
            NULL,
            NULL,
            0,
            NULL,
            0,
            0};
        if (rec) {
            const struct rgn_site *site = rgn__audit_site(t, rec);
            if (site) {
                e.file = site->file;
                e.func = site->func;
                e.line = site->line;
            }
            e.label = rgn__audit_label(t, rec);
            e.age_ns = rgn__age_ns(&w, rec->born);
            e.expected = (rec->flags & RGN_AREC_EXPECTED) != 0;
        }
        v[k++] = e;
    }
    rgn__unlock(r);
    *n = live;
    return v;
}

int rgn_audit_visit(rgn_t *r,
                    int (*visit)(const struct rgn_audit_entry *e, void *arg),
                    void *arg)
{
    if (!r || !visit)
        return rgn__refused(-EINVAL);
    size_t n;
    struct rgn_audit_entry *v = snapshot(r, &n);
    if (n && !v)
        return rgn__refused(-ENOMEM);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = visit(&v[i], arg);
    rgn__free(v);
    /* The visitor's value is passed through, as a cleanup's is. */
    return rc ? rgn__failed(rc, RGN_FROM_CALLER) : 0;
}

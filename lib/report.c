/* SPDX-License-Identifier: MIT */
/*
 * report.c -- the audit's reports: leaks at close (digested across
 * regions), limit warnings, held resources, two threads on an unshared
 * region, a use after close, rgn_audit_dump and rgn_audit_visit, the
 * open-region and exit reports, and the fork handlers that keep their
 * locks whole.  Resources are grouped by (site, label) in a small hash
 * table that starts on the stack: a report of a million leaked resources
 * from a handful of sites needs no allocation and prints a handful of
 * lines.
 *
 * It reads what audit.c and lifetime.c keep and writes through sink.c.
 * Region code reaches it through report.h (and the region's lock, for a
 * report of two threads); audit.c only arms the exit report.  Every
 * report is collected under the locks it needs and printed after
 * unlocking (audit.c states the lock order).
 */
#include "internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* The held-resource rule (see rgn__audit_held_check); the floor is
 * rgn__held_floor (audit.c). */
#define HELD_MULTIPLE 10u           /* times the site's p99 lifetime */
#define HELD_MIN_RELEASES 100u      /* releases before a site's p99 counts */
#define HELD_INTERVAL_NS 250000000u /* between two looks at one region */
#define HELD_MAX_STEPS 4096u        /* resources one look examines, at most */

static void fmt_region(char *buf, size_t n, rgn_t *r);
static void digest_forget(void);
static void digest_hold(bool hold);
static long report_open(bool *abort_now);

/* ---- the exit report ---------------------------------------------------- */

static pid_t exit_pid; /* the process the exit report is for */

static void report_at_exit(void)
{
    if (getpid() != exit_pid)
        return;
    bool abort_now = false;
    if (report_open(&abort_now) > 0 && abort_now)
        abort();
}

/* Run once, by the first listing (audit.c). */
void rgn__report_arm_exit(void)
{
    exit_pid = getpid();
    atexit(report_at_exit);
}

/* ---- fork ------------------------------------------------------------------
 *
 * The handlers audit.c's opening comment describes, with the rest of the
 * lock order: every lock that is not a region's, outermost first, held
 * across fork() and let go in both processes.
 */
static void fork_prepare(void)
{
    rgn__sink_enter();
    rgn__registry_lock();
    digest_hold(true);
    rgn__alloc_fork_prepare();
}

static void fork_parent(void)
{
    rgn__alloc_fork_release();
    digest_hold(false);
    rgn__registry_unlock();
    rgn__sink_leave();
}

/* The child's one thread is the one that took the locks in
 * fork_prepare: it lets them go, as the parent does. */
static void fork_child(void)
{
    rgn__lock_after_fork();
    rgn__alloc_fork_release();
    digest_forget();
    digest_hold(false);
    rgn__registry_forked();
    if (exit_pid)
        exit_pid = getpid();
    rgn__registry_unlock();
    rgn__sink_leave();
}

__attribute__((constructor)) static void install_fork_handlers(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* " at file:line in func()", or "" for a call that records no site. */
static void fmt_at(char *buf, size_t n, const struct rgn_site *s)
{
    if (s)
        snprintf(buf, n, " at %s:%d in %s()", s->file, s->line, s->func);
    else
        buf[0] = '\0';
}

int rgn__closed_use_slow(rgn_t *r, const char *call,
                         const struct rgn_site *site, int rc)
{
    char region[320], where[300];
    fmt_region(region, sizeof region, r);
    fmt_at(where, sizeof where, site);
    rgn__emit("rgn: use after close: %s%s on %s, after its last close", call,
              where, region);
    if (r->freed_mode == RGN_AUDIT_ABORT)
        abort();
    return rc;
}

/* ---- grouping by site and label ----------------------------------------- */

struct group {
    const struct rgn_site *site;
    const char *label;
    size_t count;
    uint64_t oldest;             /* earliest birth */
    uint64_t released, p50, p99; /* lifetimes of the site's releases */
};

#define STACK_GROUPS 64

struct groups {
    struct group *v; /* open addressing; site == label == NULL and
                        count == 0 marks an empty entry */
    size_t cap, n;
    size_t other; /* resources that found no room in the table */
    uint64_t other_oldest;
    size_t total; /* resources grouped, other included */
    struct group stack[STACK_GROUPS];
};

static void groups_init(struct groups *g)
{
    memset(g->stack, 0, sizeof g->stack);
    g->v = g->stack;
    g->cap = STACK_GROUPS;
    g->n = g->other = g->total = 0;
    g->other_oldest = UINT64_MAX;
}

static void groups_free(struct groups *g)
{
    if (g->v != g->stack)
        rgn__free(g->v);
}

static bool same_label(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static size_t group_hash(const struct rgn_site *site, const char *label)
{
    uint64_t h = (uint64_t)(uintptr_t)site * 0x9E3779B97F4A7C15u;
    for (const char *p = label; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001B3u;
    return (size_t)(h ^ (h >> 29));
}

static struct group *group_slot(struct group *v, size_t cap,
                                const struct rgn_site *site, const char *label)
{
    size_t i = group_hash(site, label) & (cap - 1);
    while (v[i].count && !(v[i].site == site && same_label(v[i].label, label)))
        i = (i + 1) & (cap - 1);
    return &v[i];
}

/* Doubles the table; keeps the old one when memory runs out. */
static void groups_grow(struct groups *g)
{
    size_t cap = g->cap * 2;
    struct group *v = rgn__malloc(cap * sizeof *v);
    if (!v)
        return;
    memset(v, 0, cap * sizeof *v);
    for (size_t i = 0; i < g->cap; i++)
        if (g->v[i].count)
            *group_slot(v, cap, g->v[i].site, g->v[i].label) = g->v[i];
    groups_free(g);
    g->v = v;
    g->cap = cap;
}

static void groups_add(struct groups *g, const struct rgn_site *site,
                       const char *label, uint64_t born)
{
    g->total++;
    if (2 * (g->n + 1) > g->cap)
        groups_grow(g);
    struct group *e = group_slot(g->v, g->cap, site, label);
    if (!e->count) {
        if (2 * (g->n + 1) > g->cap) { /* no room left: count it apart */
            g->other++;
            if (born < g->other_oldest)
                g->other_oldest = born;
            return;
        }
        *e = (struct group){site, label, 0, born, 0, 0, 0};
        g->n++;
    }
    e->count++;
    if (born < e->oldest)
        e->oldest = born;
}

static int by_count(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    if (!x->site || !y->site)
        return !x->site - !y->site;
    int c = strcmp(x->site->file, y->site->file);
    return c ? c : x->site->line - y->site->line;
}

/* Packs the used entries to the front, most numerous first. */
static void groups_sort(struct groups *g)
{
    size_t n = 0;
    for (size_t i = 0; i < g->cap; i++)
        if (g->v[i].count)
            g->v[n++] = g->v[i];
    memset(g->v + n, 0, (g->cap - n) * sizeof *g->v);
    qsort(g->v, n, sizeof *g->v, by_count);
}

/* Gives each group its site's lifetimes in r. */
static void add_lifetimes(rgn_t *r, struct groups *g)
{
    for (size_t i = 0; i < g->n; i++) {
        const struct rgn_sketch *life =
            rgn__lifetime_of(r->tracking, g->v[i].site);
        if (life) {
            g->v[i].released = rgn__sketch_count(life);
            g->v[i].p50 = rgn__sketch_quantile(life, 0.5);
            g->v[i].p99 = rgn__sketch_quantile(life, 0.99);
        }
    }
}

/* Groups r's live resources, r locked; counts the expected ones apart. */
static void collect(rgn_t *r, bool only_unexpected, struct groups *g,
                    size_t *expected)
{
    *expected = 0;
    for (uint32_t i = rgn__slot_newest(&r->slots); i;
         i = rgn__ln(&r->slots, i)->next) {
        struct rgn_arec *rec = rgn__audit_record(r, i);
        /* A child region is its own region's business, never a leak of
         * its parent's: its contents are judged at its own close. */
        if ((rec && (rec->flags & RGN_AREC_EXPECTED)) ||
            rgn__cb(&r->slots, i)->fn == rgn__child_cleanup) {
            ++*expected;
            if (only_unexpected)
                continue;
        }
        groups_add(g, rec ? rec->site : NULL, rec ? rec->label : NULL,
                   rec && rec->born ? rec->born : UINT64_MAX);
    }
    groups_sort(g);
    add_lifetimes(r, g);
}

/* ---- formatting --------------------------------------------------------- */

/* An age or a lifetime with units that fit: 420ns, 850us, 2.1ms, 12ms,
 * 2.1s, 3m05s, 2h01m. */
static void fmt_age(char *buf, size_t n, uint64_t ns)
{
    uint64_t us = ns / 1000u, ms = ns / 1000000u;
    if (ns < 1000)
        snprintf(buf, n, "%" PRIu64 "ns", ns);
    else if (us < 1000)
        snprintf(buf, n, "%" PRIu64 "us", us);
    else if (us < 10000)
        snprintf(buf, n, "%" PRIu64 ".%" PRIu64 "ms", us / 1000,
                 us % 1000 / 100);
    else if (ms < 1000)
        snprintf(buf, n, "%" PRIu64 "ms", ms);
    else if (ms < 60000)
        snprintf(buf, n, "%" PRIu64 ".%" PRIu64 "s", ms / 1000,
                 ms % 1000 / 100);
    else if (ms < 3600000)
        snprintf(buf, n, "%" PRIu64 "m%02" PRIu64 "s", ms / 60000,
                 ms / 1000 % 60);
    else
        snprintf(buf, n, "%" PRIu64 "h%02" PRIu64 "m", ms / 3600000,
                 ms / 60000 % 60);
}

/* How a report names a region: by its name, and by where it was made,
 * never by its address. */
static void fmt_region(char *buf, size_t n, rgn_t *r)
{
    const struct rgn_site *s = r->made_at;
    char name[160];
    if (r->name)
        rgn__fmt_quoted(name, sizeof name, r->name);
    if (r->name && s)
        snprintf(buf, n, "region %s (made at %s:%d in %s())", name, s->file,
                 s->line, s->func);
    else if (r->name)
        snprintf(buf, n, "region %s", name);
    else if (s)
        snprintf(buf, n, "region made at %s:%d in %s()", s->file, s->line,
                 s->func);
    else
        snprintf(buf, n,
                 "an unnamed region (made where no site was "
                 "recorded)");
}

/* "file:line: func()" (or "(unknown site)") and " "label":" (or ""): the
 * front of every line about a site. */
static void fmt_site(char *where, size_t nw, char *label, size_t nl,
                     const struct rgn_site *site, const char *text)
{
    if (site)
        snprintf(where, nw, "%s:%d: %s()", site->file, site->line, site->func);
    else
        snprintf(where, nw, "(unknown site)");
    label[0] = '\0';
    if (text) {
        char q[150];
        rgn__fmt_quoted(q, sizeof q, text);
        snprintf(label, nl, " %s:", q);
    }
}

/* One line of a group; tail ends it (may be ""). */
/* The time of a report: now on the audit's clock, and how many
 * nanoseconds a tick is, read once for all its lines. */
struct when {
    uint64_t now;
    double tick_ns;
};

static struct when when_now(void)
{
    return (struct when){rgn__now(), rgn__tick_ns()};
}

static uint64_t span_ns(const struct when *w, uint64_t ticks)
{
    double ns = (double)ticks * w->tick_ns;
    return ns >= 1.8e19 ? UINT64_MAX : (uint64_t)ns;
}

static void out_group(struct rgn_report *o, const char *prefix,
                      const struct group *e, const struct when *w,
                      const char *tail)
{
    char age[40], where[256], label[160] = "";
    if (e->oldest == UINT64_MAX)
        snprintf(age, sizeof age, "age unknown");
    else {
        char a[32];
        fmt_age(a, sizeof a,
                span_ns(w, w->now > e->oldest ? w->now - e->oldest : 0));
        snprintf(age, sizeof age, "oldest %s", a);
    }
    fmt_site(where, sizeof where, label, sizeof label, e->site, e->label);
    char life[96] = "";
    if (e->released) {
        char p50[32], p99[32];
        fmt_age(p50, sizeof p50, span_ns(w, e->p50));
        fmt_age(p99, sizeof p99, span_ns(w, e->p99));
        snprintf(life, sizeof life,
                 "; %" PRIu64 " released, lifetime p50 "
                 "%s p99 %s",
                 e->released, p50, p99);
    }
    rgn__report_line(o, "rgn: %s: %s:%s %zu live, %s%s%s", prefix, where,
                     label, e->count, age, life, tail);
}

/* Writes the groups; returns how many sites there were. */
static size_t out_groups(struct rgn_report *o, const char *prefix,
                         const struct groups *g, size_t max_lines)
{
    struct when w = when_now();
    size_t shown = 0;
    for (size_t i = 0; i < g->n && shown < max_lines; i++, shown++)
        out_group(o, prefix, &g->v[i], &w, "");
    size_t rest = 0;
    for (size_t i = shown; i < g->n; i++)
        rest += g->v[i].count;
    if (rest)
        rgn__report_line(o, "rgn: %s: ... and %zu more from %zu more sites",
                         prefix, rest, g->n - shown);
    if (g->other)
        rgn__report_line(o,
                         "rgn: %s: ... and %zu more from sites not counted "
                         "apart (out of memory)",
                         prefix, g->other);
    return g->n;
}

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* Sites a leak report lists before it sums up the rest. */
#define REPORT_SITES 50

/* ---- reports ------------------------------------------------------------ */

/* ---- leaks at close, digested across regions ---------------------------
 *
 * A program that makes many short-lived owners with the same leak (an
 * owner per request, say) would print a report per region.  So a site
 * and label whose leak was printed in the last second is not printed
 * again by the next close: it is counted here, and the count is printed
 * as one line -- at the next close that prints the site, at
 * rgn_audit_report_open, or at exit.  The table is small and fixed: a
 * site that finds no room is printed as before.  Its lock is taken under
 * a region's lock and takes no other: it is the innermost lock there is.
 */
#define DIGEST_SITES 128
#define DIGEST_WINDOW_NS 1000000000u

struct digest {
    const struct rgn_site *site;
    char label[64]; /* a copy: the label may not outlive us */
    bool used, labelled;
    uint64_t printed_at;   /* rgn__now() of the last printed line */
    size_t count, regions; /* counted since then, not yet printed */
    uint64_t oldest_ns;    /* the greatest age among them */
};

static pthread_mutex_t digest_lock = PTHREAD_MUTEX_INITIALIZER;
static struct digest digests[DIGEST_SITES];

static struct digest *digest_of(const struct rgn_site *site, const char *label)
{
    size_t h = group_hash(site, label) & (DIGEST_SITES - 1);
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
    fmt_site(where, sizeof where, label, sizeof label, d->site,
             d->labelled ? d->label : NULL);
    fmt_age(age, sizeof age, d->oldest_ns);
    rgn__report_line(rep,
                     "rgn: leak: %s:%s %zu live at the close of %zu more "
                     "%s, the oldest %s",
                     where, label, d->count, d->regions,
                     plural(d->regions, "region", "regions"), age);
    d->count = d->regions = 0;
    d->oldest_ns = 0;
}

/*
 * Whether group e of a closing region may be left out of its report:
 * its site was printed less than a second ago.  Then it is counted.
 * Otherwise the site's counted leaks, if any, are written to rep first,
 * and the caller prints e.
 */
static bool digest_defer(struct rgn_report *rep, const struct group *e,
                         const struct when *w)
{
    pthread_mutex_lock(&digest_lock);
    struct digest *d = digest_of(e->site, e->label);
    bool defer = false;
    if (d) {
        uint64_t age = e->oldest == UINT64_MAX || w->now <= e->oldest
                           ? 0
                           : span_ns(w, w->now - e->oldest);
        uint64_t since = span_ns(w, w->now - d->printed_at);
        if (d->printed_at && since < DIGEST_WINDOW_NS) {
            d->count += e->count;
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

/* fork: the lock is taken around it (see fork_prepare), and the
 * parent's counts are the parent's to print. */
static void digest_hold(bool hold)
{
    if (hold)
        pthread_mutex_lock(&digest_lock);
    else
        pthread_mutex_unlock(&digest_lock);
}

static void digest_forget(void)
{
    for (size_t k = 0; k < DIGEST_SITES; k++)
        digests[k].count = digests[k].regions = 0;
}

/* Writes every count not yet printed (report_open, the exit report). */
static void digest_flush(struct rgn_report *rep)
{
    pthread_mutex_lock(&digest_lock);
    for (size_t k = 0; k < DIGEST_SITES; k++)
        if (digests[k].used && digests[k].count)
            digest_line(rep, &digests[k]);
    pthread_mutex_unlock(&digest_lock);
}

bool rgn__audit_close(rgn_t *r, rgn_release_type how, struct rgn_report *rep)
{
    rgn__report_init(rep);
    struct rgn_tracking *a = r->tracking;
    if (!a || a->mode == RGN_AUDIT_OFF || how != RGN_RELEASE_NORMAL ||
        r->scope || !rgn__slot_newest(&r->slots))
        return false;
    int saved = errno;
    struct groups g;
    size_t expected;
    groups_init(&g);
    collect(r, true, &g, &expected);
    if (g.total) {
        /* An abort is never put off: it must say why. */
        struct when w = when_now();
        size_t sites = 0, shown = 0, counted = 0;
        for (size_t i = 0; i < g.n; i++) {
            if (a->mode != RGN_AUDIT_ABORT && digest_defer(rep, &g.v[i], &w)) {
                counted += g.v[i].count;
                continue;
            }
            if (sites++ < REPORT_SITES) {
                out_group(rep, "leak", &g.v[i], &w, "");
                shown += g.v[i].count;
            }
        }
        if (g.total - counted - shown)
            rgn__report_line(rep,
                             "rgn: leak: ... and %zu more from %zu more "
                             "sites",
                             g.total - counted - shown,
                             sites > REPORT_SITES ? sites - REPORT_SITES : 0);
        if (sites) {
            char region[320], also[128] = "";
            fmt_region(region, sizeof region, r);
            if (counted)
                snprintf(also, sizeof also,
                         " (and %zu more at sites "
                         "reported in the last second, counted for later)",
                         counted);
            rgn__report_line(
                rep,
                "rgn: leak summary: %zu live %s from %zu %s "
                "at close of %s%s",
                g.total - counted,
                plural(g.total - counted, "resource", "resources"), sites,
                plural(sites, "site", "sites"), region, also);
        }
    }
    bool leaked = g.total != 0;
    groups_free(&g);
    errno = saved;
    return leaked && a->mode == RGN_AUDIT_ABORT;
}

/* A limit warning made under r's lock, waiting to be written. */
struct rgn_deferred {
    struct rgn_deferred *next;
    struct rgn_report rep;
    bool abort_after; /* RGN_AUDIT=abort: abort once it is written */
};

__thread struct rgn_deferred *rgn__deferred
    __attribute__((tls_model("initial-exec")));

void rgn__audit_flush_slow(void)
{
    struct rgn_deferred *d;
    while ((d = rgn__deferred) != NULL) {
        rgn__deferred = d->next;
        rgn__report_print(&d->rep, NULL, NULL);
        bool abort_now = d->abort_after;
        rgn__free(d);
        if (abort_now)
            abort();
    }
}

/* A report to make under a lock and write later, or NULL when memory
 * ran out (the report is lost, not what set it off). */
static struct rgn_deferred *deferred_new(bool abort_after)
{
    struct rgn_deferred *d = rgn__malloc(sizeof *d);
    if (d) {
        rgn__report_init(&d->rep);
        d->abort_after = abort_after;
    }
    return d;
}

/* Queues a report for rgn__audit_flush, in the order made. */
static void defer(struct rgn_deferred *d)
{
    struct rgn_deferred **tail = &rgn__deferred;
    while (*tail)
        tail = &(*tail)->next;
    d->next = NULL;
    *tail = d;
}

__thread char rgn__self_tag __attribute__((tls_model("initial-exec")));
__thread const struct rgn_site *rgn__call_site
    __attribute__((tls_model("initial-exec")));

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
    struct rgn_deferred *d = deferred_new(a->mode == RGN_AUDIT_ABORT);
    if (d) {
        char region[320], mine[300], theirs[300];
        fmt_region(region, sizeof region, r);
        fmt_at(mine, sizeof mine, rgn__call_site);
        fmt_at(theirs, sizeof theirs, other);
        rgn__report_line(&d->rep,
                         "rgn: two threads: %s was used by two threads "
                         "at once, but nobody shared it (rgn_share, "
                         "rgn_thread_create): one called rgn%s while another "
                         "was inside a call%s",
                         region, mine, theirs);
        defer(d);
    }
    errno = saved;
}

/* Makes the warning under r's lock, for rgn__audit_flush to write; out
 * of memory, the warning is lost, not the registration. */
void rgn__audit_limit_warning(rgn_t *r)
{
    struct rgn_tracking *a = r->tracking;
    int saved = errno;
    struct rgn_deferred *d = deferred_new(false);
    if (d) {
        char region[320];
        fmt_region(region, sizeof region, r);
        struct groups g;
        size_t expected;
        groups_init(&g);
        collect(r, false, &g, &expected);
        rgn__report_line(&d->rep,
                         "rgn: limit: %s has %zu live resources, past "
                         "its limit of %zu%s",
                         region, r->slots.live, a->limit,
                         a->next_warn > a->limit ? " (doubled again)" : "");
        if (a->mode != RGN_AUDIT_OFF)
            out_groups(&d->rep, "limit", &g, 5);
        groups_free(&g);
        defer(d);
    }
    /* Next at twice the count that set this one off, so a region that
     * grows without bound warns O(log n) times. */
    while (a->next_warn < r->slots.live)
        a->next_warn =
            a->next_warn > SIZE_MAX / 2 ? SIZE_MAX : 2 * a->next_warn;
    errno = saved;
}

/*
 * Whether live resource i is held: live longer than the floor, and longer
 * than HELD_MULTIPLE times the p99 lifetime of its site's resources, once
 * the site has HELD_MIN_RELEASES early releases to go by.  *site_cache
 * and *limit keep the last site's threshold (UINT64_MAX: never held).
 */
static bool is_held(rgn_t *r, const struct rgn_arec *rec, uint64_t age,
                    const struct rgn_site **site_cache, uint64_t *limit)
{
    if (rec->flags & (RGN_AREC_EXPECTED | RGN_AREC_HELD))
        return false;
    if (rec->site != *site_cache || *limit == 0) {
        const struct rgn_sketch *life =
            rgn__lifetime_of(r->tracking, rec->site);
        *site_cache = rec->site;
        *limit = UINT64_MAX;
        if (life && rgn__sketch_count(life) >= HELD_MIN_RELEASES) {
            uint64_t p99 = rgn__sketch_quantile(life, 0.99);
            *limit = p99 > UINT64_MAX / HELD_MULTIPLE ? UINT64_MAX
                                                      : p99 * HELD_MULTIPLE;
        }
    }
    return age > *limit;
}

/*
 * Looks for held resources from the oldest live one on, up to the floor
 * or HELD_MAX_STEPS resources; each is reported once, on a "rgn: held:"
 * line per site and label, written once r's lock is let go.
 */
void rgn__audit_held_check(rgn_t *r, uint64_t now)
{
    struct rgn_tracking *a = r->tracking;
    struct when w = {now, rgn__tick_ns()};
    a->next_held_check =
        now + (uint64_t)((double)HELD_INTERVAL_NS / w.tick_ns);
    uint64_t floor_ns =
        atomic_load_explicit(&rgn__held_floor, memory_order_relaxed);
    if (a->mode == RGN_AUDIT_OFF || floor_ns == 0)
        return;
    uint64_t floor = (uint64_t)((double)floor_ns / w.tick_ns);
    int saved = errno;
    struct groups g;
    groups_init(&g);
    const struct rgn_site *site = NULL;
    uint64_t limit = 0;
    uint32_t steps = 0;
    for (uint32_t i = rgn__slot_oldest(&r->slots); i && steps < HELD_MAX_STEPS;
         i = rgn__ln(&r->slots, i)->prev, steps++) {
        struct rgn_arec *rec = rgn__audit_record(r, i);
        if (!rec || !rec->born ||
            rgn__cb(&r->slots, i)->fn == rgn__child_cleanup)
            continue;
        uint64_t age = now > rec->born ? now - rec->born : 0;
        if (age < floor)
            break; /* the rest are younger */
        if (age > floor && is_held(r, rec, age, &site, &limit)) {
            rec->flags |= RGN_AREC_HELD;
            groups_add(&g, rec->site, rec->label, rec->born);
        }
    }
    struct rgn_deferred *d = g.total ? deferred_new(false) : NULL;
    if (d) {
        groups_sort(&g);
        add_lifetimes(r, &g);
        char region[320], tail[340];
        fmt_region(region, sizeof region, r);
        snprintf(tail, sizeof tail, "; in %s", region);
        for (size_t k = 0; k < g.n; k++)
            out_group(&d->rep, "held", &g.v[k], &w, tail);
        defer(d);
    }
    groups_free(&g);
    errno = saved;
}

long rgn_audit_dump(rgn_t *r, rgn_audit_sink sink, void *arg)
{
    if (!r)
        return -EINVAL;
    int saved = errno;
    char region[320];
    struct groups g;
    size_t expected;
    groups_init(&g);
    struct rgn_report rep;
    rgn__report_init(&rep);
    rgn__lock(r);
    fmt_region(region, sizeof region, r);
    collect(r, false, &g, &expected);
    size_t sites = out_groups(&rep, "live", &g, SIZE_MAX);
    char also[48] = "";
    if (expected)
        snprintf(also, sizeof also, " (%zu expected at close)", expected);
    rgn__report_line(&rep,
                     "rgn: live summary: %zu live %s%s from %zu %s in %s",
                     g.total, plural(g.total, "resource", "resources"), also,
                     sites, plural(sites, "site", "sites"), region);
    rgn__unlock(r);
    rgn__report_print(&rep, sink, arg);
    long unexpected = (long)(g.total - expected);
    groups_free(&g);
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
    struct groups g;
    size_t expected;
    groups_init(&g);
    collect(r, true, &g, &expected);
    size_t n = g.total;
    if (n) {
        char region[320];
        fmt_region(region, sizeof region, r);
        rgn__report_line(&o->rep,
                         "rgn: leak: %s was never closed and holds "
                         "%zu live %s",
                         region, n, plural(n, "resource", "resources"));
        out_groups(&o->rep, "leak", &g, REPORT_SITES);
        if (t->mode == RGN_AUDIT_ABORT)
            o->abort_now = true;
        o->total += n;
        o->regions++;
    }
    groups_free(&g);
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
    rgn__audit_each(report_open_region, NULL, &o);
    if (o.regions)
        rgn__report_line(&o.rep,
                         "rgn: leak summary: %zu live %s in %zu "
                         "audited %s never closed",
                         o.total, plural(o.total, "resource", "resources"),
                         o.regions, plural(o.regions, "region", "regions"));
    digest_flush(&o.rep); /* leaks at closes, counted and not yet shown */
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
    struct when w = when_now();
    struct rgn_audit_entry *v = NULL;
    rgn__lock(r);
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
            if (rec->site) {
                e.file = rec->site->file;
                e.func = rec->site->func;
                e.line = rec->site->line;
            }
            e.label = rec->label;
            e.age_ns = rec->born && w.now > rec->born
                           ? span_ns(&w, w.now - rec->born)
                           : 0;
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
        return -EINVAL;
    size_t n;
    struct rgn_audit_entry *v = snapshot(r, &n);
    if (n && !v)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = visit(&v[i], arg);
    rgn__free(v);
    return rc;
}

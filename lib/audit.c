/* SPDX-License-Identifier: MIT */
/*
 * audit.c -- the leak audit: per-resource records, and the reports made
 * from them at close, on demand, past a limit and at process exit.
 *
 * The records of a region sit in groups of 8 slots, found by slot index,
 * and exist only while the region is audited, so the audit costs nothing
 * when it is off.  Reports group resources by (site, label) in a small hash
 * table that starts on the stack: a report of a million leaked resources
 * from a handful of sites needs no allocation and prints a handful of
 * lines.
 *
 * The process-wide state here is what the audit needs and nothing more:
 * the default mode (from RGN_AUDIT), the sink, and the registry of open
 * audited regions that process-wide readers walk (the exit report,
 * rgn_audit_report_open, rgn_metrics_write).
 *
 * Locking.  A region in the registry is `locked` (internal.h): every call
 * on it takes its lock, shared or not, so a reader in another thread may
 * lock it and read it while its owner goes on.  Regions outside the
 * registry -- unaudited ones, the fast path -- take no lock until shared.
 * The lock order of the whole library, outermost first:
 *
 *   sink lock  >  registry lock  >  a child's lock  >  its parent's lock
 *   (two unrelated regions, as rgn_move takes them: lower id first)
 *   >  the digest of leaks at close (taken under a region's lock, last)
 *
 * Every report is made under the locks it needs and written after they
 * are all let go, so no sink, no stdio and no other user code ever runs
 * under a region or registry lock (the allocator aside).  The sink lock is
 * held only around writing one report, so reports never interleave; it
 * is reentrant in its thread, so a sink that reports again or calls
 * exit() -- whose exit report writes too -- does not deadlock.  Reports
 * run with thread cancellation disabled: a report always ends, its locks
 * let go.
 */
#include "internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- the default mode ------------------------------------------------------ */

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static atomic_int default_mode;
static atomic_size_t default_limit;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* -1 until the environment was read; then whether new regions need audit
 * state at all, so that creating a region pays one load when they do not. */
atomic_int rgn__audit_defaults = -1;

/* Publishes whether new regions need audit state at all. */
static void publish_defaults(rgn_audit_mode mode)
{
    atomic_store(&rgn__audit_defaults,
                 mode != RGN_AUDIT_OFF || atomic_load(&default_limit) != 0 ||
                     atomic_load(&rgn__lifetimes_default));
}

/* The held-resource rule (see held_check). */
#define HELD_FLOOR_NS 1000000000u   /* RGN_AUDIT_HELD's default: 1 s       */
#define HELD_MULTIPLE 10u           /* times the site's p99 lifetime        */
#define HELD_MIN_RELEASES 100u      /* releases before a site's p99 counts */
#define HELD_INTERVAL_NS 250000000u /* between two looks at one region     */
#define HELD_MAX_STEPS 4096u        /* resources one look examines, at most */
static _Atomic uint64_t held_floor = HELD_FLOOR_NS;

static void fmt_quoted(char *buf, size_t n, const char *s);
static void fmt_region(char *buf, size_t n, rgn_t *r);
static void read_env(void);
static void start_listing(rgn_t *r);
static void digest_forget(void);
static void digest_hold(bool hold);

/* "off" or "0" (0), seconds ("1", "0.5") or "<n>ms", "<n>us", "<n>s". */
static bool parse_duration(const char *v, uint64_t *ns)
{
    if (!strcasecmp(v, "off") || !strcmp(v, "0")) {
        *ns = 0;
        return true;
    }
    if (!(v[0] >= '0' && v[0] <= '9'))
        return false;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    double unit = 1e9;
    if (!strcmp(end, "ms"))
        unit = 1e6;
    else if (!strcmp(end, "us"))
        unit = 1e3;
    else if (*end && strcmp(end, "s"))
        return false;
    if (errno == ERANGE || !(x * unit < 1.8e19))
        return false;
    *ns = (uint64_t)(x * unit);
    return true;
}

int rgn_audit_set_held(uint64_t floor_ns)
{
    pthread_once(&env_once, read_env); /* so the environment cannot undo it */
    atomic_store(&held_floor, floor_ns);
    return 0;
}

static void read_env(void)
{
    const char *v = getenv("RGN_AUDIT");
    rgn_audit_mode mode = RGN_AUDIT_OFF;
    if (!v || !*v || !strcasecmp(v, "off") || !strcmp(v, "0") ||
        !strcasecmp(v, "no") || !strcasecmp(v, "false"))
        mode = RGN_AUDIT_OFF;
    else if (!strcasecmp(v, "report") || !strcmp(v, "1") ||
             !strcasecmp(v, "on") || !strcasecmp(v, "yes") ||
             !strcasecmp(v, "true"))
        mode = RGN_AUDIT_REPORT;
    else if (!strcasecmp(v, "abort"))
        mode = RGN_AUDIT_ABORT;
    else {
        /* Guessing would be worse than nothing: "false" once meant
         * "report".  Say what is accepted and keep the default. */
        char q[96];
        fmt_quoted(q, sizeof q, v);
        emit("rgn: audit: ignoring RGN_AUDIT=%s: use off, report or abort",
             q);
    }
    atomic_store(&default_mode, mode);

    const char *l = getenv("RGN_AUDIT_LIMIT");
    if (l && *l) {
        /* Digits only: strtoull would take "-1" for 2^64 - 1. */
        char *end = NULL;
        errno = 0;
        unsigned long long n = l[0] >= '0' && l[0] <= '9'
                                   ? strtoull(l, &end, 10) : 0;
        if (!end || *end || n == 0 || errno == ERANGE || n > SIZE_MAX) {
            char q[96];
            fmt_quoted(q, sizeof q, l);
            emit("rgn: audit: ignoring RGN_AUDIT_LIMIT=%s: not a positive "
                 "number", q);
        } else {
            atomic_store(&default_limit, (size_t)n);
        }
    }
    const char *h = getenv("RGN_AUDIT_HELD");
    if (h && *h) {
        uint64_t ns;
        if (parse_duration(h, &ns)) {
            atomic_store(&held_floor, ns);
        } else {
            char q[96];
            fmt_quoted(q, sizeof q, h);
            emit("rgn: audit: ignoring RGN_AUDIT_HELD=%s: not a duration "
                 "(\"off\", or seconds such as 1, 0.5, 250ms)", q);
        }
    }
    publish_defaults(mode);
}

/* For rgn_lifetimes_set_default: republishes with the current mode. */
void rgn__audit_republish(void)
{
    pthread_once(&env_once, read_env);
    publish_defaults((rgn_audit_mode)atomic_load(&default_mode));
}

rgn_audit_mode rgn_audit_default(void)
{
    pthread_once(&env_once, read_env);
    return (rgn_audit_mode)atomic_load_explicit(&default_mode,
                                                memory_order_relaxed);
}

static bool valid_mode(rgn_audit_mode mode)
{
    return mode == RGN_AUDIT_OFF || mode == RGN_AUDIT_REPORT ||
           mode == RGN_AUDIT_ABORT;
}

int rgn_audit_set_default(rgn_audit_mode mode)
{
    if (!valid_mode(mode))
        return -EINVAL;
    pthread_once(&env_once, read_env); /* so the environment cannot undo it */
    atomic_store(&default_mode, mode);
    publish_defaults(mode);
    return 0;
}

/* ---- the sink --------------------------------------------------------------- */

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread unsigned sink_depth; /* this thread holds sink_lock */
static rgn_audit_sink sink_fn;
static void *sink_arg;

static void sink_enter(void)
{
    if (sink_depth++ == 0)
        pthread_mutex_lock(&sink_lock);
}

static void sink_leave(void)
{
    if (--sink_depth == 0)
        pthread_mutex_unlock(&sink_lock);
}

void rgn_audit_set_sink(rgn_audit_sink sink, void *arg)
{
    sink_enter();
    sink_fn = sink;
    sink_arg = arg;
    sink_leave();
}

void rgn_audit_get_sink(rgn_audit_sink *sink, void **arg)
{
    sink_enter();
    if (sink)
        *sink = sink_fn;
    if (arg)
        *arg = sink_arg;
    sink_leave();
}

/* ---- reports: made under locks, written after -------------------------- */

void rgn__report_init(struct rgn_report *rep)
{
    rep->text = rep->stack;
    rep->len = 0;
    rep->cap = sizeof rep->stack;
    rep->cut = false;
}

/* Room for n more bytes; false (and the report marked cut) when memory
 * ran out. */
static bool report_room(struct rgn_report *rep, size_t n)
{
    if (rep->len + n <= rep->cap)
        return true;
    size_t cap = rep->cap;
    while (cap < rep->len + n)
        cap *= 2;
    char *t = rep->text == rep->stack ? rgn__malloc(cap)
                                      : rgn__realloc(rep->text, cap);
    if (!t) {
        rep->cut = true;
        return false;
    }
    if (rep->text == rep->stack)
        memcpy(t, rep->stack, rep->len);
    rep->text = t;
    rep->cap = cap;
    return true;
}

static void report_vline(struct rgn_report *rep, const char *fmt,
                         va_list ap)
{
    char line[512];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n
                                                    : sizeof line - 1;
    if (rep->cut || !report_room(rep, len + 1))
        return;
    memcpy(rep->text + rep->len, line, len);
    rep->text[rep->len + len] = '\n';
    rep->len += len + 1;
}

static void report_line(struct rgn_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void report_line(struct rgn_report *rep, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_vline(rep, fmt, ap);
    va_end(ap);
}

static void report_free(struct rgn_report *rep)
{
    if (rep->text != rep->stack)
        rgn__free(rep->text);
    rgn__report_init(rep);
}

static void write_line(rgn_audit_sink fn, void *arg, const char *line)
{
    if (fn) {
        fn(line, arg);
    } else {
        fprintf(stderr, "%s\n", line);
        fflush(stderr);
    }
}

void rgn__report_print(struct rgn_report *rep, rgn_audit_sink sink,
                       void *arg)
{
    if (rep->len == 0 && !rep->cut)
        return;
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    int saved = errno;
    bool installed = sink == NULL;
    if (installed) {
        sink_enter();
        sink = sink_fn;
        arg = sink_arg;
    }
    char *text = rep->text;
    size_t len = rep->len;
    for (size_t at = 0; at < len;) {
        char *nl = memchr(text + at, '\n', len - at);
        *nl = '\0';
        write_line(sink, arg, text + at);
        at = (size_t)(nl - text) + 1;
    }
    if (rep->cut)
        write_line(sink, arg, "rgn: audit: report cut short: out of memory");
    if (installed)
        sink_leave();
    report_free(rep);
    errno = saved;
    pthread_setcancelstate(state, NULL);
}

/* One line to the installed sink, outside any report. */
static void emit(const char *fmt, ...)
{
    struct rgn_report rep;
    rgn__report_init(&rep);
    va_list ap;
    va_start(ap, fmt);
    report_vline(&rep, fmt, ap);
    va_end(ap);
    rgn__report_print(&rep, NULL, NULL);
}

/* ---- the registry of open audited regions -------------------------------- */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rgn_audit *registry;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static pid_t exit_pid; /* the process the exit report is for */

static void report_at_exit(void);

static void install_exit_report(void)
{
    exit_pid = getpid();
    atexit(report_at_exit);
}

/* Called holding no lock; a's region is already `locked`. */
static void list(struct rgn_audit *a)
{
    pthread_once(&exit_once, install_exit_report);
    pthread_mutex_lock(&registry_lock);
    if (!a->listed) {
        a->prev = NULL;
        a->next = registry;
        if (registry)
            registry->prev = a;
        registry = a;
        a->listed = true;
    }
    pthread_mutex_unlock(&registry_lock);
}

static void unlist(struct rgn_audit *a)
{
    pthread_mutex_lock(&registry_lock);
    if (a->listed) {
        if (!a->inherited && rgn__audit_records(a))
            rgn__metrics_retire(a->region); /* its counters stay counted */
        if (a->prev)
            a->prev->next = a->next;
        else
            registry = a->next;
        if (a->next)
            a->next->prev = a->prev;
        a->listed = false;
    }
    pthread_mutex_unlock(&registry_lock);
}

/* ---- fork ---------------------------------------------------------------------
 *
 * fork() takes the sink and registry locks first, so the child gets both
 * free and the registry whole.  In the child, region locks that threads
 * of the parent held are taken over (share.c), and the regions the parent
 * had are marked inherited: they are the parent's to report, so neither
 * the child's exit report nor rgn_audit_report_open names them.  Regions
 * the child makes itself are reported at its exit as usual.
 */
static void fork_prepare(void)
{
    sink_enter();
    pthread_mutex_lock(&registry_lock);
    digest_hold(true);
}

static void fork_parent(void)
{
    digest_hold(false);
    pthread_mutex_unlock(&registry_lock);
    sink_leave();
}

/* The child's one thread is the one that took both locks in
 * fork_prepare: it lets them go, as the parent does. */
static void fork_child(void)
{
    rgn__lock_after_fork();
    digest_forget();
    digest_hold(false);
    for (struct rgn_audit *a = registry; a; a = a->next)
        a->inherited = true;
    if (exit_pid)
        exit_pid = getpid();
    pthread_mutex_unlock(&registry_lock);
    sink_leave();
}

__attribute__((constructor)) static void install_fork_handlers(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---- records ---------------------------------------------------------------- */

static struct rgn_audit *audit_create(rgn_t *r, rgn_audit_mode mode,
                                      size_t limit)
{
    struct rgn_audit *a = rgn__malloc(sizeof *a);
    if (!a)
        return NULL;
    memset(a, 0, sizeof *a);
    a->mode = mode;
    a->limit = a->next_warn = limit;
    a->next_held_check = 0; /* at the first registration */
    a->region = r;
    return a;
}

bool rgn__audit_new_slow(rgn_t *r)
{
    rgn_audit_mode mode = rgn_audit_default();
    size_t limit = atomic_load_explicit(&default_limit, memory_order_relaxed);
    bool lifetimes = mode != RGN_AUDIT_OFF ||
                     atomic_load_explicit(&rgn__lifetimes_default,
                                          memory_order_relaxed);
    if (!lifetimes && limit == 0)
        return true;
    r->audit = audit_create(r, mode, limit);
    if (!r->audit)
        return false;
    r->audit->lifetimes = lifetimes;
    r->audited = true;
    if (rgn__audit_records(r->audit))
        start_listing(r);
    return true;
}

bool rgn__audit_reserve_slow(rgn_t *r, uint32_t i)
{
    struct rgn_audit *a = r->audit;
    uint32_t g = i >> RGN_GROUP_SHIFT;
    if (g >= a->recs_cap) {
        uint32_t want = r->cap >> RGN_GROUP_SHIFT;
        uint32_t cap = want > g ? want : g + 1;
        struct rgn_arec **t = rgn__realloc(a->recs, cap * sizeof *t);
        if (!t)
            return false;
        memset(t + a->recs_cap, 0, (cap - a->recs_cap) * sizeof *t);
        a->recs = t;
        a->recs_cap = cap;
    }
    if (!a->recs[g]) {
        /* Zeroed: a slot live before the audit was turned on reads as
         * "unknown site, unknown age", never as garbage. */
        size_t n = RGN_GROUP_SLOTS * sizeof **a->recs;
        a->recs[g] = rgn__malloc(n);
        if (!a->recs[g])
            return false;
        memset(a->recs[g], 0, n);
    }
    return true;
}

/* Warns when r's live count just passed its next mark. */
static inline void check_limit(rgn_t *r)
{
    struct rgn_audit *a = r->audit;
    if (RGN_UNLIKELY(a->limit && r->live > a->next_warn))
        rgn__audit_limit_warning(r);
}

/* The record of slot i when r keeps one, else NULL. */
static struct rgn_arec *record_of(rgn_t *r, uint32_t i)
{
    struct rgn_audit *a = r->audit;
    if (!a || !rgn__audit_records(a))
        return NULL;
    uint32_t g = i >> RGN_GROUP_SHIFT;
    if (g >= a->recs_cap || !a->recs[g])
        return NULL;
    return rgn__arec(r, i);
}

void rgn__audit_move(rgn_t *from, uint32_t i, rgn_t *to, uint32_t j)
{
    struct rgn_arec *src = record_of(from, i);
    struct rgn_arec *dst = record_of(to, j);
    if (dst)
        *dst = src ? *src : (struct rgn_arec){NULL, NULL, rgn__now(), 0};
    check_limit(to); /* called only when to->audit exists */
}

rgn_audit_mode rgn__audit_free(rgn_t *r)
{
    struct rgn_audit *a = r->audit;
    if (!a)
        return RGN_AUDIT_OFF;
    rgn_audit_mode mode = a->mode;
    unlist(a);
    rgn__lifetime_free(a);
    for (uint32_t g = 0; g < a->recs_cap; g++)
        rgn__free(a->recs[g]);
    rgn__free(a->recs);
    rgn__free(a);
    r->audit = NULL;
    r->audited = false;
    return mode;
}

/* ---- use after the last close ---------------------------------------------
 *
 * An audited region is not given back at its last close: it waits, empty
 * and marked RGN_FREED, in a quarantine of the last QUARANTINE_MAX such
 * regions, so that a call reaching it through a stale pointer -- a second
 * close, a registration into a closed region -- is reported (talloc's
 * "access after free") instead of corrupting the heap.  Every call's
 * slow path sees the state (it is not RGN_OPEN, so the fast paths never
 * apply).  Older regions are freed for real; past them, and without the
 * audit, a use after close is undefined.  The ring is guarded by the
 * registry's lock, which fork handlers already take.
 */
#define QUARANTINE_MAX 256
static rgn_t *quarantine[QUARANTINE_MAX];
static unsigned quarantine_next;

void rgn__audit_bury(rgn_t *r, rgn_audit_mode mode)
{
    r->freed_mode = (uint8_t)mode;
    rgn__set_state(r, RGN_FREED);
    pthread_mutex_lock(&registry_lock);
    rgn_t *old = quarantine[quarantine_next];
    quarantine[quarantine_next] = r;
    quarantine_next = (quarantine_next + 1) % QUARANTINE_MAX;
    pthread_mutex_unlock(&registry_lock);
    if (old) {
        rgn__free(old->name);
        rgn__free(old);
    }
}

size_t rgn_audit_forget_closed(void)
{
    rgn_t *gone[QUARANTINE_MAX];
    size_t n = 0;
    pthread_mutex_lock(&registry_lock);
    for (unsigned i = 0; i < QUARANTINE_MAX; i++) {
        if (quarantine[i])
            gone[n++] = quarantine[i];
        quarantine[i] = NULL;
    }
    quarantine_next = 0;
    pthread_mutex_unlock(&registry_lock);
    for (size_t i = 0; i < n; i++) {
        rgn__free(gone[i]->name);
        rgn__free(gone[i]);
    }
    return n;
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
    emit("rgn: use after close: %s%s on %s, after its last close", call,
         where, region);
    if (r->freed_mode == RGN_AUDIT_ABORT)
        abort();
    return rc;
}

/* ---- grouping by site and label ------------------------------------------ */

struct group {
    const struct rgn_site *site;
    const char *label;
    size_t count;
    uint64_t oldest; /* earliest birth */
    uint64_t released, p50, p99; /* lifetimes of the site's releases */
};

#define STACK_GROUPS 64

struct groups {
    struct group *v;       /* open addressing; site == label == NULL and
                              count == 0 marks an empty entry             */
    size_t cap, n;
    size_t other;          /* resources that found no room in the table  */
    uint64_t other_oldest;
    size_t total;          /* resources grouped, other included           */
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
                                const struct rgn_site *site,
                                const char *label)
{
    size_t i = group_hash(site, label) & (cap - 1);
    while (v[i].count && !(v[i].site == site && same_label(v[i].label,
                                                           label)))
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
        const struct rgn_sketch *life = rgn__lifetime_of(r->audit,
                                                         g->v[i].site);
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
    for (uint32_t i = rgn__slot_newest(r); i; i = rgn__ln(r, i)->next) {
        struct rgn_arec *rec = record_of(r, i);
        /* A child region is its own region's business, never a leak of
         * its parent's: its contents are judged at its own close. */
        if ((rec && (rec->flags & RGN_AREC_EXPECTED)) ||
            rgn__cb(r, i)->fn == rgn__child_cleanup) {
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

/* ---- formatting -------------------------------------------------------------- */

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

/* s between double quotes, with quotes, backslashes and every byte that
 * is not printable ASCII escaped, so that no name or label can forge a
 * line of a report or break a reader of it. */
static void fmt_quoted(char *buf, size_t n, const char *s)
{
    size_t k = 0;
    buf[k++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (k + 6 >= n)
            break;
        if (*p == '"' || *p == '\\') {
            buf[k++] = '\\';
            buf[k++] = (char)*p;
        } else if (*p < 0x20 || *p > 0x7e) {
            k += (size_t)snprintf(buf + k, n - k, "\\x%02x", *p);
        } else {
            buf[k++] = (char)*p;
        }
    }
    buf[k++] = '"';
    buf[k] = '\0';
}

/* How a report names a region: by its name, and by where it was made,
 * never by its address. */
static void fmt_region(char *buf, size_t n, rgn_t *r)
{
    const struct rgn_site *s = r->made_at;
    char name[160];
    if (r->name)
        fmt_quoted(name, sizeof name, r->name);
    if (r->name && s)
        snprintf(buf, n, "region %s (made at %s:%d in %s())", name, s->file,
                 s->line, s->func);
    else if (r->name)
        snprintf(buf, n, "region %s", name);
    else if (s)
        snprintf(buf, n, "region made at %s:%d in %s()", s->file, s->line,
                 s->func);
    else
        snprintf(buf, n, "an unnamed region (made where no site was "
                 "recorded)");
}

/* "file:line: func()" (or "(unknown site)") and " "label":" (or ""): the
 * front of every line about a site. */
static void fmt_site(char *where, size_t nw, char *label, size_t nl,
                     const struct rgn_site *site, const char *text)
{
    if (site)
        snprintf(where, nw, "%s:%d: %s()", site->file, site->line,
                 site->func);
    else
        snprintf(where, nw, "(unknown site)");
    label[0] = '\0';
    if (text) {
        char q[150];
        fmt_quoted(q, sizeof q, text);
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
        snprintf(life, sizeof life, "; %" PRIu64 " released, lifetime p50 "
                 "%s p99 %s", e->released, p50, p99);
    }
    report_line(o, "rgn: %s: %s:%s %zu live, %s%s%s", prefix, where, label,
                e->count, age, life, tail);
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
        report_line(o, "rgn: %s: ... and %zu more from %zu more sites",
                    prefix, rest, g->n - shown);
    if (g->other)
        report_line(o, "rgn: %s: ... and %zu more from sites not counted "
                    "apart (out of memory)", prefix, g->other);
    return g->n;
}

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* Sites a leak report lists before it sums up the rest. */
#define REPORT_SITES 50

/* ---- reports ------------------------------------------------------------------ */

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
    char label[64];          /* a copy: the label may not outlive us  */
    bool used, labelled;
    uint64_t printed_at;     /* rgn__now() of the last printed line   */
    size_t count, regions;   /* counted since then, not yet printed   */
    uint64_t oldest_ns;      /* the greatest age among them           */
};

static pthread_mutex_t digest_lock = PTHREAD_MUTEX_INITIALIZER;
static struct digest digests[DIGEST_SITES];

static struct digest *digest_of(const struct rgn_site *site,
                                const char *label)
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
    report_line(rep, "rgn: leak: %s:%s %zu live at the close of %zu more "
                "%s, the oldest %s", where, label, d->count, d->regions,
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
                           ? 0 : span_ns(w, w->now - e->oldest);
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
    struct rgn_audit *a = r->audit;
    if (!a || a->mode == RGN_AUDIT_OFF || how != RGN_RELEASE_NORMAL ||
        r->scope || !rgn__slot_newest(r))
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
            if (a->mode != RGN_AUDIT_ABORT &&
                digest_defer(rep, &g.v[i], &w)) {
                counted += g.v[i].count;
                continue;
            }
            if (sites++ < REPORT_SITES) {
                out_group(rep, "leak", &g.v[i], &w, "");
                shown += g.v[i].count;
            }
        }
        if (g.total - counted - shown)
            report_line(rep, "rgn: leak: ... and %zu more from %zu more "
                        "sites", g.total - counted - shown,
                        sites > REPORT_SITES ? sites - REPORT_SITES : 0);
        if (sites) {
            char region[320], also[128] = "";
            fmt_region(region, sizeof region, r);
            if (counted)
                snprintf(also, sizeof also, " (and %zu more at sites "
                         "reported in the last second, counted for later)",
                         counted);
            report_line(rep, "rgn: leak summary: %zu live %s from %zu %s "
                        "at close of %s%s", g.total - counted,
                        plural(g.total - counted, "resource", "resources"),
                        sites, plural(sites, "site", "sites"), region, also);
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
    bool abort_after;   /* RGN_AUDIT=abort: abort once it is written */
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
    struct rgn_audit *a = r->audit;
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
        report_line(&d->rep, "rgn: two threads: %s was used by two threads "
                    "at once, but nobody shared it (rgn_share, "
                    "rgn_thread_create): one called rgn%s while another "
                    "was inside a call%s", region, mine, theirs);
        defer(d);
    }
    errno = saved;
}

/* Makes the warning under r's lock, for rgn__audit_flush to write; out
 * of memory, the warning is lost, not the registration. */
void rgn__audit_limit_warning(rgn_t *r)
{
    struct rgn_audit *a = r->audit;
    int saved = errno;
    struct rgn_deferred *d = deferred_new(false);
    if (d) {
        char region[320];
        fmt_region(region, sizeof region, r);
        struct groups g;
        size_t expected;
        groups_init(&g);
        collect(r, false, &g, &expected);
        report_line(&d->rep, "rgn: limit: %s has %zu live resources, past "
                    "its limit of %zu%s", region, r->live, a->limit,
                    a->next_warn > a->limit ? " (doubled again)" : "");
        if (a->mode != RGN_AUDIT_OFF)
            out_groups(&d->rep, "limit", &g, 5);
        groups_free(&g);
        defer(d);
    }
    /* Next at twice the count that set this one off, so a region that
     * grows without bound warns O(log n) times. */
    while (a->next_warn < r->live)
        a->next_warn = a->next_warn > SIZE_MAX / 2 ? SIZE_MAX
                                                    : 2 * a->next_warn;
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
        const struct rgn_sketch *life = rgn__lifetime_of(r->audit,
                                                         rec->site);
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
    struct rgn_audit *a = r->audit;
    struct when w = {now, rgn__tick_ns()};
    a->next_held_check = now + (uint64_t)((double)HELD_INTERVAL_NS /
                                          w.tick_ns);
    uint64_t floor_ns = atomic_load_explicit(&held_floor,
                                             memory_order_relaxed);
    if (a->mode == RGN_AUDIT_OFF || floor_ns == 0)
        return;
    uint64_t floor = (uint64_t)((double)floor_ns / w.tick_ns);
    int saved = errno;
    struct groups g;
    groups_init(&g);
    const struct rgn_site *site = NULL;
    uint64_t limit = 0;
    uint32_t steps = 0;
    for (uint32_t i = rgn__head(r)->prev; i && steps < HELD_MAX_STEPS;
         i = rgn__ln(r, i)->prev, steps++) {
        struct rgn_arec *rec = record_of(r, i);
        if (!rec || !rec->born || rgn__cb(r, i)->fn == rgn__child_cleanup)
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
    report_line(&rep, "rgn: live summary: %zu live %s%s from %zu %s in %s",
                g.total, plural(g.total, "resource", "resources"), also,
                sites, plural(sites, "site", "sites"), region);
    rgn__unlock(r);
    rgn__report_print(&rep, sink, arg);
    long unexpected = (long)(g.total - expected);
    groups_free(&g);
    errno = saved;
    return unexpected;
}

/* Reports one open region for rgn_audit_report_open, r locked; returns
 * its unexpected live count.  An empty region is not reported: a region
 * meant to live as long as the process (a global one) holds nothing at
 * exit once every job released what it took. */
static size_t report_open_region(struct rgn_report *o, rgn_t *r,
                                 bool *abort_now)
{
    struct groups g;
    size_t expected;
    groups_init(&g);
    collect(r, true, &g, &expected);
    size_t n = g.total;
    if (n) {
        char region[320];
        fmt_region(region, sizeof region, r);
        report_line(o, "rgn: leak: %s was never closed and holds %zu live "
                    "%s", region, n, plural(n, "resource", "resources"));
        out_groups(o, "leak", &g, REPORT_SITES);
        if (r->audit->mode == RGN_AUDIT_ABORT)
            *abort_now = true;
    }
    groups_free(&g);
    return n;
}

/* The regions another process made are not this one's to report. */
static long report_open(bool *abort_now)
{
    int saved = errno;
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    size_t total = 0, regions = 0;
    struct rgn_report rep;
    rgn__report_init(&rep);
    pthread_mutex_lock(&registry_lock);
    for (struct rgn_audit *a = registry; a; a = a->next) {
        if (a->inherited || a->ignored)
            continue;
        rgn_t *r = a->region;
        rgn__reader_lock(r);
        if (r->state == RGN_OPEN && a->mode != RGN_AUDIT_OFF) {
            size_t n = report_open_region(&rep, r, abort_now);
            total += n;
            regions += n != 0;
        }
        rgn__reader_unlock(r);
    }
    pthread_mutex_unlock(&registry_lock);
    if (regions)
        report_line(&rep, "rgn: leak summary: %zu live %s in %zu audited "
                    "%s never closed", total,
                    plural(total, "resource", "resources"), regions,
                    plural(regions, "region", "regions"));
    digest_flush(&rep); /* leaks at closes, counted and not yet shown */
    rgn__report_print(&rep, NULL, NULL);
    pthread_setcancelstate(state, NULL);
    errno = saved;
    return (long)total;
}

int rgn__audit_each(int (*f)(rgn_t *r, void *arg), void (*done)(void *arg),
                    void *arg)
{
    int rc = 0;
    pthread_mutex_lock(&registry_lock);
    for (struct rgn_audit *a = registry; a && !rc; a = a->next) {
        if (a->inherited) /* a forked child's copy: the parent's to show */
            continue;
        rgn_t *r = a->region;
        rgn__reader_lock(r);
        /* Closing ones too: they leave only when freed (and retired). */
        if (rgn__audit_records(a))
            rc = f(r, arg);
        rgn__reader_unlock(r);
    }
    if (done)
        done(arg);
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

long rgn_audit_ignore_open(void)
{
    long n = 0;
    pthread_mutex_lock(&registry_lock);
    for (struct rgn_audit *a = registry; a; a = a->next)
        if (!a->inherited && !a->ignored) {
            a->ignored = true;
            n++;
        }
    pthread_mutex_unlock(&registry_lock);
    return n;
}

long rgn_audit_report_open(void)
{
    bool abort_now = false;
    return report_open(&abort_now);
}

static void report_at_exit(void)
{
    if (getpid() != exit_pid)
        return;
    bool abort_now = false;
    if (report_open(&abort_now) > 0 && abort_now)
        abort();
}

/* ---- per-region settings -------------------------------------------------- */

/* Gives r audit state if it has none; r locked. */
static int ensure_audit(rgn_t *r, rgn_audit_mode mode)
{
    if (r->audit)
        return 0;
    r->audit = audit_create(r, mode, 0);
    if (!r->audit)
        return -ENOMEM;
    r->audited = true;
    return 0;
}

/* Locks r and gives it audit state (mode, when new) if r is open;
 * returns 0, -ECANCELED or -ENOMEM, r locked either way. */
static int lock_audit(rgn_t *r, rgn_audit_mode mode)
{
    rgn__lock(r);
    return r->state != RGN_OPEN ? -ECANCELED : ensure_audit(r, mode);
}

/* About to keep records: any left from an earlier spell are stale. */
static void keep_records(struct rgn_audit *a)
{
    if (rgn__audit_records(a))
        return;
    for (uint32_t g = 0; g < a->recs_cap; g++)
        if (a->recs[g])
            memset(a->recs[g], 0, RGN_GROUP_SLOTS * sizeof *a->recs[g]);
}

/*
 * Puts r in the registry, where other threads' reports read it.  From
 * now on every call on r takes its lock.  Called by r's owner holding no
 * lock (the registry comes before regions): until r is listed no reader
 * can see it, and the flag reaches readers through the registry's lock.
 */
static void start_listing(rgn_t *r)
{
    if (!r->locked) { /* once listed, readers read it */
        atomic_init(&r->bias_busy, 0);
        atomic_init(&r->bias_claim, 0);
        r->locked = true;
    }
    list(r->audit);
}

int rgn_lifetimes_set(rgn_t *r, int on)
{
    if (!r)
        return -EINVAL;
    int rc = lock_audit(r, RGN_AUDIT_OFF);
    struct rgn_audit *a = r->audit;
    if (rc == 0) {
        if (on)
            keep_records(a);
        a->lifetimes = on != 0;
    }
    rgn__unlock(r);
    if (rc == 0 && rgn__audit_records(a))
        start_listing(r);
    return rc;
}

int rgn_audit_set(rgn_t *r, rgn_audit_mode mode)
{
    if (!r || !valid_mode(mode))
        return -EINVAL;
    int rc = lock_audit(r, mode);
    struct rgn_audit *a = r->audit;
    if (rc == 0 && mode != RGN_AUDIT_OFF)
        keep_records(a);
    if (rc == 0) {
        a->mode = mode;
        a->lifetimes |= mode != RGN_AUDIT_OFF; /* the audit measures them */
    }
    rgn__unlock(r);
    if (rc == 0 && rgn__audit_records(a))
        start_listing(r);
    return rc;
}

int rgn_audit_limit(rgn_t *r, size_t limit)
{
    if (!r)
        return -EINVAL;
    int rc = lock_audit(r, RGN_AUDIT_OFF);
    if (rc == 0)
        r->audit->limit = r->audit->next_warn = limit;
    rgn__unlock(r);
    return rc;
}

/* Applies f to the record of key's slot, if r keeps records. */
static int with_record(rgn_t *r, rgn_key_t key,
                       void (*f)(struct rgn_arec *rec, const void *arg),
                       const void *arg)
{
    if (!r)
        return -EINVAL;
    rgn__lock(r);
    uint32_t i = rgn__slot_find(r, key);
    struct rgn_arec *rec = i ? record_of(r, i) : NULL;
    if (rec)
        f(rec, arg);
    rgn__unlock(r);
    return i ? 0 : -ENOENT;
}

static void set_label(struct rgn_arec *rec, const void *label)
{
    rec->label = label;
}

static void set_expected(struct rgn_arec *rec, const void *unused)
{
    (void)unused;
    rec->flags |= RGN_AREC_EXPECTED;
}

int rgn_label(rgn_t *r, rgn_key_t key, const char *label)
{
    return with_record(r, key, set_label, label);
}

int rgn_expect_close(rgn_t *r, rgn_key_t key)
{
    return with_record(r, key, set_expected, NULL);
}

/* r's live resources, newest first, copied under its lock. */
static struct rgn_audit_entry *snapshot(rgn_t *r, size_t *n)
{
    struct when w = when_now();
    struct rgn_audit_entry *v = NULL;
    rgn__lock(r);
    size_t live = r->live;
    if (live)
        v = rgn__malloc(live * sizeof *v);
    size_t k = 0;
    for (uint32_t i = rgn__slot_newest(r); v && i; i = rgn__ln(r, i)->next) {
        struct rgn_arec *rec = record_of(r, i);
        struct rgn_audit_entry e = {
            {r->id, i, rgn__ln(r, i)->gen}, NULL, NULL, 0, NULL, 0, 0};
        if (rec) {
            if (rec->site) {
                e.file = rec->site->file;
                e.func = rec->site->func;
                e.line = rec->site->line;
            }
            e.label = rec->label;
            e.age_ns = rec->born && w.now > rec->born
                           ? span_ns(&w, w.now - rec->born) : 0;
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

/* SPDX-License-Identifier: MIT */
/*
 * audit.c -- what a region tracks beyond its slots (struct rgn_tracking,
 * audit.h), and the process-wide state the audit needs and nothing more:
 * the defaults for new regions (from RGN_AUDIT and its friends), the
 * registry of listed regions that process-wide readers walk (the exit
 * report, rgn_audit_report_open, rgn_metrics_write), and the quarantine
 * of closed audited regions.  The reports are report.c's.
 *
 * A region's records sit in one array indexed like its slots, and exist
 * only while it keeps records, so tracking costs nothing when it is off.
 *
 * It calls down only (sink.c for the environment's warnings, the region's
 * lock), except for two notifications up: the first listing arms the exit
 * report (report.c), and a named region leaving the registry leaves its
 * counters to metrics.c.
 *
 * Locking: the whole of it, here and nowhere else in lib/ (rgn(7) says
 * it for users; tests/check_threads.c tries each rule).  A region in the
 * registry is `locked` (region.h): every call on it takes its lock,
 * shared or not, so a reader in another thread may lock it and read it
 * while its owner goes on -- but for the lean calls of a sampled region
 * nobody shares (audit.h), which take none and change only what no
 * reader reads, its counts excepted, which they store atomically.
 * Regions outside the registry -- untracked
 * ones, the fast path -- take no lock until shared.  A region's lock is
 * its futex word, or, for a listed region nobody shares, the biased lock
 * (lock.c), which stands in the same place in the order.  The lock order
 * of the whole library, outermost first:
 *
 *   sink lock  >  registry lock  >  a child's lock  >  its parent's lock
 *   (two unrelated regions, as rgn_move takes them: lower id first)
 *   >  the digest of leaks at close  >  the allocator's setting mutex
 *
 * rgn_move alone never waits for a region while it holds another that
 * is shared (resource.c, lock_pair): no order of two regions is safe
 * against the closes of a chain of children, which each hold a child and
 * wait for its parent.
 *
 * The digest (report.c) is taken under a region's lock.  The setting
 * mutex (alloc.c) is taken by rgn_set_allocator and by the first region's
 * constructor -- under the sink lock when a sink makes that region -- and
 * nothing is taken under it.
 *
 * User code.  Every report is made under the locks it needs and written
 * after they are all let go, so no sink, no stdio and no cleanup, acquire
 * function, hook or visitor ever runs under a region, registry or digest
 * lock.  The exceptions are the allocator (rgn_set_allocator), called
 * under all three, and a kind's describe, called under a region's lock
 * when a report or dump is made: neither may call rgn.
 *
 * The sink runs under the sink lock alone, held around writing one report
 * so that reports never interleave, and reentrant in its thread: a sink
 * may call any rgn function -- make, fill and close regions, report again
 * (the nested report's lines come to it in turn), read the registry
 * (rgn_audit_report_open, rgn_metrics_write), set the sink, call fork()
 * or exit(), whose exit report writes too.  It must not wait for another
 * thread that may report: that thread waits for the sink lock the sink
 * holds.  Reports run with thread cancellation disabled: a report always
 * ends, its locks let go.
 *
 * fork().  The handlers (fork.c) take every lock that is not a
 * region's, in the order above -- sink, registry, digest, setting mutex
 * -- so the child gets each free and what it guards whole, and let them
 * go in both processes.  In the child, a region lock that a thread of the
 * parent held is taken over at its first use (the fork epoch, lock.c),
 * the membarrier registration is made again, the digest's counts are
 * forgotten, and every listed region is marked inherited: the parent's
 * to report, left out of the child's readers.
 *
 * Floor 1, the region core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ---- the default mode --------------------------------------------------- */

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static atomic_int default_mode;

/*
 * The environment's warnings.  read_env runs inside pthread_once, and a
 * sink may call rgn -- rgn_new, rgn_audit_default -- which reaches the
 * same pthread_once: written from inside it, a warning deadlocked the
 * thread on itself (and a sink in another thread, holding the sink's
 * lock, against it).  So read_env only collects them, and the thread
 * that ran it writes them once pthread_once has returned, holding no
 * lock (env_ready).  env_reader tells that thread.
 */
static struct rgn_report env_warnings;
static __thread bool env_reader __attribute__((tls_model("initial-exec")));
static atomic_size_t default_limit;

static atomic_bool lifetimes_default;

/* -1 until the environment was read; then whether new regions need
 * tracking state at all, so that creating a region pays one load when
 * they do not. */
atomic_int rgn__audit_defaults = -1;

/* Publishes whether new regions need tracking state at all. */
static void publish_defaults(rgn_audit_mode mode)
{
    atomic_store(&rgn__audit_defaults, mode != RGN_AUDIT_OFF ||
                                           atomic_load(&default_limit) != 0 ||
                                           atomic_load(&lifetimes_default));
}

/* RGN_AUDIT_HELD's default: 1 s; RGN_AUDIT_GROWTH's: 128 live
 * resources (watch.c has the rest of the rules). */
_Atomic uint64_t rgn__held_floor = 1000000000u;
atomic_size_t rgn__growth_floor = 128u;

static void read_env(void);

/* "off" or "0" (0), seconds ("1", "0.5") or "<n>ms", "<n>us", "<n>s". */
bool rgn__parse_duration(const char *v, uint64_t *ns)
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

/* The environment is read, and its warnings written by the thread that
 * read it.  Called holding no lock. */
static void env_ready(void)
{
    rgn__once(&env_once, read_env);
    if (RGN_UNLIKELY(env_reader)) {
        env_reader = false;
        rgn__report_print(&env_warnings, NULL, NULL);
    }
}

int rgn_audit_set_held(uint64_t floor_ns)
{
    env_ready(); /* so the environment cannot undo it */
    atomic_store(&rgn__held_floor, floor_ns);
    return 0;
}

int rgn_audit_set_growth(size_t floor)
{
    env_ready(); /* so the environment cannot undo it */
    atomic_store(&rgn__growth_floor, floor);
    return 0;
}

/* A count of live resources: "off" or "0" (0), or digits. */
static bool parse_count(const char *v, size_t *n)
{
    if (!strcasecmp(v, "off")) {
        *n = 0;
        return true;
    }
    if (!(v[0] >= '0' && v[0] <= '9'))
        return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || errno == ERANGE || x > SIZE_MAX)
        return false;
    *n = (size_t)x;
    return true;
}

atomic_uint rgn__sample_every = 1;
atomic_uint rgn__sample_span;
const atomic_uint rgn__no_span = 0;

/* The rate, and the span of countdowns a lean registration may move
 * (audit.h), stored one after the other: a registration that sees one
 * new and one old decides once as the other rate would. */
static void set_sample(unsigned every)
{
    atomic_store(&rgn__sample_every, every);
    atomic_store(&rgn__sample_span, every > 1 ? 2 * every : 0);
}

static void read_env(void)
{
    rgn__report_init(&env_warnings);
    env_reader = true;
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
        rgn__fmt_quoted(q, sizeof q, v);
        rgn__report_line(
            &env_warnings,
            "rgn: audit: ignoring RGN_AUDIT=%s: use off, report or abort", q);
    }
    atomic_store(&default_mode, mode);

    const char *l = getenv("RGN_AUDIT_LIMIT");
    if (l && *l) {
        /* Digits only: strtoull would take "-1" for 2^64 - 1. */
        char *end = NULL;
        errno = 0;
        unsigned long long n =
            l[0] >= '0' && l[0] <= '9' ? strtoull(l, &end, 10) : 0;
        if (!end || *end || n == 0 || errno == ERANGE || n > SIZE_MAX) {
            char q[96];
            rgn__fmt_quoted(q, sizeof q, l);
            rgn__report_line(
                &env_warnings,
                "rgn: audit: ignoring RGN_AUDIT_LIMIT=%s: not a positive "
                "number",
                q);
        } else {
            atomic_store(&default_limit, (size_t)n);
        }
    }
    const char *h = getenv("RGN_AUDIT_HELD");
    if (h && *h) {
        uint64_t ns;
        if (rgn__parse_duration(h, &ns)) {
            atomic_store(&rgn__held_floor, ns);
        } else {
            char q[96];
            rgn__fmt_quoted(q, sizeof q, h);
            rgn__report_line(
                &env_warnings,
                "rgn: audit: ignoring RGN_AUDIT_HELD=%s: not a duration "
                "(\"off\", or seconds such as 1, 0.5, 250ms)",
                q);
        }
    }
    const char *sv = getenv("RGN_AUDIT_SAMPLE");
    if (sv && *sv) {
        size_t n;
        if (parse_count(sv, &n) && n >= 1 && n <= RGN_SAMPLE_MAX) {
            set_sample((unsigned)n);
        } else {
            char q[96];
            rgn__fmt_quoted(q, sizeof q, sv);
            rgn__report_line(&env_warnings,
                             "rgn: audit: ignoring RGN_AUDIT_SAMPLE=%s: not a "
                             "rate from 1 to 1048576 (one site recorded in N "
                             "registrations)",
                             q);
        }
    }
    const char *g = getenv("RGN_AUDIT_GROWTH");
    if (g && *g) {
        size_t n;
        if (parse_count(g, &n)) {
            atomic_store(&rgn__growth_floor, n);
        } else {
            char q[96];
            rgn__fmt_quoted(q, sizeof q, g);
            rgn__report_line(
                &env_warnings,
                "rgn: audit: ignoring RGN_AUDIT_GROWTH=%s: not a count "
                "of live resources (\"off\", or a number such as 128)",
                q);
        }
    }
    publish_defaults(mode);
    rgn__race_release(&env_once);
}

rgn_audit_mode rgn_audit_default(void)
{
    env_ready();
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
        return rgn__refused(-EINVAL);
    env_ready(); /* so the environment cannot undo it */
    atomic_store(&default_mode, mode);
    publish_defaults(mode);
    return 0;
}

/* ---- the registry of listed regions ------------------------------------ */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rgn_tracking *registry;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

void rgn__registry_lock(void)
{
    pthread_mutex_lock(&registry_lock);
}

void rgn__registry_unlock(void)
{
    pthread_mutex_unlock(&registry_lock);
}

/* In the child only the forking thread is left, and it was in no rgn
 * call (fork is user code): an inherited region's biased lock and
 * two-threads tag may still say that a thread of the parent was inside
 * one, which nobody would ever undo. */
void rgn__registry_forked(void)
{
    for (struct rgn_tracking *a = registry; a; a = a->next) {
        a->inherited = true;
        atomic_store_explicit(&a->region->bias.busy, 0, memory_order_relaxed);
        atomic_store_explicit(&a->region->bias.claim, 0, memory_order_relaxed);
        atomic_store_explicit(&a->region->user, 0, memory_order_relaxed);
    }
}

/* The exit report, armed by the first listing (report.c). */
static void arm_exit(void)
{
    rgn__above()->arm_exit();
    rgn__race_release(&exit_once);
}

/* Called holding no lock; a's region is already `locked`. */
static void list(struct rgn_tracking *a)
{
    rgn__once(&exit_once, arm_exit);
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

void rgn__audit_unlist(rgn_t *r)
{
    struct rgn_tracking *a = r->tracking;
    pthread_mutex_lock(&registry_lock);
    if (a->listed) {
        if (!a->inherited && rgn__audit_records(a))
            rgn__above()->retire(a->region); /* its counters stay counted */
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

/* ---- tracking state and its records ------------------------------------- */

static struct rgn_tracking *audit_create(rgn_t *r, rgn_audit_mode mode,
                                         size_t limit)
{
    struct rgn_tracking *a = rgn__malloc(sizeof *a);
    if (!a)
        return NULL;
    rgn__zero(a, offsetof(struct rgn_tracking, tallies));
    a->mode = mode;
    a->limit = a->next_warn = limit;
    rgn__tallies_init(&a->tallies);
    a->next_look = 0; /* at the first registration */
    a->region = r;
    rgn__audit_relean(a);
    return a;
}

bool rgn__audit_new_slow(rgn_t *r)
{
    rgn_audit_mode mode = rgn_audit_default();
    size_t limit = atomic_load_explicit(&default_limit, memory_order_relaxed);
    bool lifetimes =
        mode != RGN_AUDIT_OFF ||
        atomic_load_explicit(&lifetimes_default, memory_order_relaxed);
    if (!lifetimes && limit == 0)
        return true;
    r->tracking = audit_create(r, mode, limit);
    if (!r->tracking)
        return false;
    r->tracking->lifetimes = lifetimes;
    rgn__audit_relean(r->tracking);
    rgn__set_tracked(r, true);
    /* rgn__audit_records(r->tracking), from the values just stored: read
     * back, its one load of the two fields waited for both stores (they
     * cannot be forwarded to it), a tenth of an audited create+close. */
    if (mode != RGN_AUDIT_OFF || lifetimes)
        rgn__tracking_list(r);
    return true;
}

bool rgn__audit_reserve_slow(rgn_t *r, uint32_t i)
{
    struct rgn_tracking *t = r->tracking;
    uint32_t cap = r->slots.cap > i ? r->slots.cap : i + 1;
    struct rgn_arec *recs = rgn__realloc(t->recs, (size_t)cap * sizeof *recs);
    if (!recs)
        return false;
    /* Zeroed: a slot live before the audit was turned on reads as
     * "unknown site, unknown age", never as garbage. */
    memset(recs + t->recs_cap, 0, (size_t)(cap - t->recs_cap) * sizeof *recs);
    t->recs = recs;
    t->recs_cap = cap;
    return true;
}

uint32_t rgn__sample_gap(struct rgn_tracking *t, uint32_t every)
{
    /* Gaps from 1 to 2 * every - 1, each as likely: one in `every` on
     * average, with no period a program's pattern could line up with. */
    uint64_t x = t->sample_rng
                     ? t->sample_rng
                     : (uint64_t)(uintptr_t)t * 0x9E3779B97F4A7C15u | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    t->sample_rng = x;
    return 1u + (uint32_t)((x >> 33) % (2u * every - 1u));
}

int rgn_audit_set_sample(unsigned every)
{
    if (every > RGN_SAMPLE_MAX)
        return rgn__refused(-EINVAL);
    env_ready(); /* so the environment cannot undo it */
    set_sample(every ? every : 1u);
    return 0;
}

/* An unsampled resource's record: what a lean one gets when it needs a
 * record after all (moved to a region that keeps records, expected). */
static const struct rgn_arec unsampled_rec = {
    0, 0, 0, 0, RGN_AREC_LIVE | RGN_AREC_UNSAMPLED, 0};

void rgn__audit_move_record(rgn_t *from, uint32_t i, rgn_t *to, uint32_t j)
{
    RGN_ASSERT(from->tracking || to->tracking);
    struct rgn_arec *src = rgn__audit_record(from, i);
    struct rgn_arec *dst = rgn__audit_rec_at(to, j);
    const struct rgn_site *site = rgn__audit_site(from->tracking, src);
    const char *label = rgn__audit_label(from->tracking, src);
    bool counted = src && (src->flags & RGN_AREC_COUNTED);
    bool lean = !src && from->tracking && rgn__audit_records(from->tracking);
    struct rgn_arec moved = unsampled_rec;
    if (src) {
        rgn__audit_uncount(from->tracking, src);
        moved = *src; /* uncounted now */
        src->flags = 0;
    }
    if (!dst)
        return;
    if (src || lean)
        *dst = moved;
    else
        *dst = (struct rgn_arec){rgn__now(),    0, 0, rgn__thread_no(),
                                 RGN_AREC_LIVE, 1};
    /* A resource of unknown site in `from` stays so in `to`, an unsampled
     * one unsampled; one from a region that keeps no records is of
     * unknown site from now on. */
    if (counted || (!src && !lean))
        rgn__audit_count(to->tracking, dst, site, label);
}

size_t rgn__audit_walk(rgn_t *r,
                       void (*f)(rgn_t *r, uint32_t i, struct rgn_arec *rec,
                                 void *arg),
                       void *arg)
{
    struct rgn_tracking *t = r->tracking;
    if (!t || !rgn__audit_records(t)) {
        for (uint32_t i = rgn__slot_newest(&r->slots); i;
             i = rgn__ln(&r->slots, i)->next)
            f(r, i, NULL, arg);
        return 0;
    }
    size_t seen = 0;
    if (rgn__audit_lean(t)) {
        /* Its owner may link and unlink lean slots meanwhile: not one
         * link is read, only the records, which lean calls never write. */
        for (uint32_t i = 1; i < t->recs_cap; i++)
            if (t->recs[i].flags & RGN_AREC_LIVE) {
                seen++;
                f(r, i, &t->recs[i], arg);
            }
    } else {
        for (uint32_t i = rgn__slot_newest(&r->slots); i;
             i = rgn__ln(&r->slots, i)->next) {
            struct rgn_arec *rec = rgn__audit_record(r, i);
            if (rec) {
                seen++;
                f(r, i, rec, arg);
            }
        }
    }
    size_t live = rgn__slots_live(&r->slots);
    return live > seen ? live - seen : 0;
}

rgn_audit_mode rgn__audit_free(rgn_t *r)
{
    struct rgn_tracking *a = r->tracking;
    if (!a)
        return RGN_AUDIT_OFF;
    rgn_audit_mode mode = a->mode;
    RGN_ASSERT(!a->listed); /* rgn__audit_unlist came first */
    rgn__tallies_free(&a->tallies);
    rgn__free(a->kinds);
    rgn__free(a->index);
    rgn__free(a->recs);
    rgn__free(a);
    r->tracking = NULL;
    rgn__set_tracked(r, false);
    atomic_store_explicit(&r->lean_span, &rgn__no_span, memory_order_relaxed);
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
        rgn__region_memory_free(old);
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
        rgn__region_memory_free(gone[i]);
    }
    return n;
}

int rgn__audit_each(int (*f)(rgn_t *r, void *arg), void (*done)(void *arg),
                    void *arg, bool inherited)
{
    int rc = 0;
    pthread_mutex_lock(&registry_lock);
    for (struct rgn_tracking *a = registry; a && !rc; a = a->next) {
        if (a->inherited && !inherited) /* the parent's to show */
            continue;
        rgn_t *r = a->region;
        if (!rgn__reader_lock(r)) /* its owner must answer first */
            continue;
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
    for (struct rgn_tracking *a = registry; a; a = a->next)
        if (!a->inherited && !a->ignored) {
            a->ignored = true;
            n++;
        }
    pthread_mutex_unlock(&registry_lock);
    return n;
}

/* ---- per-region settings ------------------------------------------------ */

/* Gives r tracking state if it has none; r locked. */
static int ensure_tracking(rgn_t *r)
{
    if (r->tracking)
        return 0;
    r->tracking = audit_create(r, RGN_AUDIT_OFF, 0);
    if (!r->tracking)
        return -ENOMEM;
    rgn__set_tracked(r, true);
    return 0;
}

int rgn__tracking_lock(rgn_t *r)
{
    rgn__lock(r);
    return r->state != RGN_OPEN ? -ECANCELED : ensure_tracking(r);
}

/* About to keep records, r locked: what records there are left from an
 * earlier spell are stale (registrations meanwhile wrote none), so every
 * live resource becomes of unknown site, counted in no tally. */
static int keep_records(rgn_t *r)
{
    struct rgn_tracking *t = r->tracking;
    if (rgn__audit_records(t))
        return 0;
    /* Each live resource gets a record now, of unknown site: a slot with
     * no record would read as a lean resource (audit.h). */
    if (r->slots.used > t->recs_cap &&
        !rgn__audit_reserve_slow(r, r->slots.used - 1))
        return -ENOMEM;
    if (t->recs_cap)
        memset(t->recs, 0, (size_t)t->recs_cap * sizeof *t->recs);
    for (uint32_t i = rgn__slot_newest(&r->slots); i;
         i = rgn__ln(&r->slots, i)->next)
        t->recs[i] = (struct rgn_arec){0, 0, 0, 0, RGN_AREC_LIVE, 1};
    rgn__tallies_uncount(&t->tallies);
    t->bytes = 0;
    return 0;
}

/*
 * From now on every call on r takes its lock.  Called by r's owner
 * holding no lock (the registry comes before regions): until r is listed
 * no reader can see it, and the flag reaches readers through the
 * registry's lock.
 */
void rgn__tracking_list(rgn_t *r)
{
    if (!r->locked) { /* once listed, readers read it */
        r->locked = true;
        rgn__race_region(r, true);
    }
    list(r->tracking);
}

int rgn_audit_set(rgn_t *r, rgn_audit_mode mode)
{
    if (!r || !valid_mode(mode))
        return rgn__refused(-EINVAL);
    int rc = rgn__tracking_lock(r);
    struct rgn_tracking *a = r->tracking;
    if (rc == 0 && mode != RGN_AUDIT_OFF)
        rc = keep_records(r);
    if (rc == 0) {
        a->mode = mode;
        a->lifetimes |= mode != RGN_AUDIT_OFF; /* the audit measures them */
        rgn__audit_relean(a);
    }
    rgn__unlock(r);
    if (rc == 0 && rgn__audit_records(a))
        rgn__tracking_list(r);
    return rgn__refused(rc);
}

int rgn_audit_limit(rgn_t *r, size_t limit)
{
    if (!r)
        return rgn__refused(-EINVAL);
    int rc = rgn__tracking_lock(r);
    if (rc == 0) {
        r->tracking->limit = r->tracking->next_warn = limit;
        rgn__audit_relean(r->tracking);
    }
    rgn__unlock(r);
    return rgn__refused(rc);
}

/* Applies f to the record of key's slot, if r keeps records. */
static int with_record(rgn_t *r, rgn_key_t key,
                       void (*f)(struct rgn_tracking *t, struct rgn_arec *rec,
                                 const void *arg),
                       const void *arg)
{
    if (!r)
        return rgn__refused(-EINVAL);
    rgn__lock(r);
    uint32_t i = rgn__slot_find(&r->slots, key);
    struct rgn_arec *rec = i ? rgn__audit_record(r, i) : NULL;
    if (i && !rec && r->tracking && rgn__audit_reserve(r, i) &&
        (rec = rgn__audit_rec_at(r, i)))
        *rec = unsampled_rec; /* a lean one: now it can say more */
    if (rec)
        f(r->tracking, rec, arg);
    rgn__unlock(r);
    return i ? 0 : rgn__refused(-ENOENT);
}

/* A new label moves the resource to the tally of its site and label. */
static void set_label(struct rgn_tracking *t, struct rgn_arec *rec,
                      const void *label)
{
    if (!(rec->flags & RGN_AREC_COUNTED))
        return; /* of unknown site: a label would name nothing */
    const struct rgn_site *site = rgn__audit_site(t, rec);
    rgn__audit_uncount(t, rec);
    rgn__audit_count(t, rec, site, label);
}

static void set_expected(struct rgn_tracking *t, struct rgn_arec *rec,
                         const void *unused)
{
    (void)unused;
    struct rgn_tally *e = rgn__audit_tally(t, rec);
    if (e && !(rec->flags & RGN_AREC_EXPECTED))
        e->owned += rec->weight;
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

/* ---- lifetimes ------------------------------------------------------------ */

void rgn_lifetimes_set_default(int on)
{
    env_ready();
    atomic_store(&lifetimes_default, on != 0);
    publish_defaults((rgn_audit_mode)atomic_load(&default_mode));
}

int rgn_lifetimes_set(rgn_t *r, int on)
{
    if (!r)
        return rgn__refused(-EINVAL);
    int rc = rgn__tracking_lock(r);
    struct rgn_tracking *a = r->tracking;
    if (rc == 0 && on)
        rc = keep_records(r);
    if (rc == 0) {
        a->lifetimes = on != 0;
        rgn__audit_relean(a);
    }
    rgn__unlock(r);
    if (rc == 0 && rgn__audit_records(a))
        rgn__tracking_list(r);
    return rgn__refused(rc);
}

/* ---- the calling thread ----------------------------------------------------- */

__thread uint32_t rgn__thread_no_ __attribute__((tls_model("initial-exec")));
__thread unsigned rgn__intent __attribute__((tls_model("initial-exec")));
__thread struct rgn_thread_mark rgn__mark
    __attribute__((tls_model("initial-exec")));

uint32_t rgn__thread_no_slow(void)
{
    static atomic_uint next = 1;
    uint32_t n;
    do /* 0 means "not yet": skipped when the count wraps */
        n = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed);
    while (n == 0);
    return rgn__thread_no_ = n;
}

#define INTENTS RGN_LIVES_WITH_OWNER

unsigned rgn_audit_intent(unsigned flags)
{
    unsigned old = rgn__intent;
    rgn__intent = flags & INTENTS;
    return old;
}

void rgn__audit_abort(void)
{
    if (rgn__mark.running) {
        char q[160];
        rgn__fmt_quoted(q, sizeof q, rgn__mark.running);
        rgn__emit("rgn: audit: aborting (RGN_AUDIT=abort) while running %s",
                  q);
    }
    abort();
}

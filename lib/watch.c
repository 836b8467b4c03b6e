/* SPDX-License-Identifier: MIT */
/*
 * watch.c -- what the audit notices while a program runs, with no close
 * needed: a region past its live-count limit, resources held much longer
 * than their site's resources usually live, and sites whose live count
 * keeps growing.  The last two are found by a look a region takes at
 * itself on its own registrations and releases, a few times a second at
 * most (hooks.h), so no thread of the audit's own is needed; a region in
 * use reports within about a second.
 *
 * The held rule.  A live resource is held when it is older than the held
 * floor (RGN_AUDIT_HELD, 1 s) and than HELD_MULTIPLE times the p99
 * lifetime of the resources its site released early, once the site has
 * HELD_MIN_RELEASES of them -- and a newer resource of its site has been
 * released since it was registered: the program has moved past it.  So
 * the last value of a replace-and-free site, kept across a lull in the
 * traffic that sets its lifetimes, is not held; a connection that an
 * HTTP client forgot while later ones came and went is.  Each resource is
 * found held once; a site's "rgn: held:" line is written the first time,
 * then each time the number of its resources found held doubles.
 *
 * The growth rule.  A site grows when its live count (resources not meant
 * to live with their owner) is at least the growth floor
 * (RGN_AUDIT_GROWTH, 128), at least twice what it was at the site's last
 * "rgn: growing:" line (at the first, twice half the floor), rose at
 * each of the last two looks, and the site holds a resource older than
 * the held floor (1 s when held reports are off).  A pool of 16
 * connections or a listener never reaches the floor; a start-up burst
 * rises at one look and then holds still; a spike of short requests
 * holds nothing old.
 * The worker loop whose jobs forget a descriptor each is reported about a
 * second after it starts, and again each time its count doubles.
 *
 * Reports are made under the region's lock and queued (sink.h), written
 * by the caller's rgn__audit_flush.  Calls group.c and sink.c.
 *
 * Floor 2, above the core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>

#define HELD_MULTIPLE 10u           /* times the site's p99 lifetime */
#define HELD_MIN_RELEASES 100u      /* releases before a site's p99 counts */
#define LOOK_INTERVAL_NS 250000000u /* between two looks at one region */
#define LOOK_MAX_STEPS 4096u        /* resources one look examines, at most */
#define GROWTH_AGE_NS 1000000000u   /* the age floor when held is off */

/* Whether sites are sampled: then a site's counts are estimates. */
static bool sampled(void)
{
    return atomic_load_explicit(&rgn__sample_every, memory_order_relaxed) > 1;
}

/* ---- the limit ---------------------------------------------------------- */

/* Makes the warning under r's lock, for rgn__audit_flush to write; out
 * of memory, the warning is lost, not the registration. */
void rgn__audit_limit_warning(rgn_t *r)
{
    struct rgn_tracking *a = r->tracking;
    int saved = errno;
    struct rgn_report *rep = rgn__defer(false);
    if (rep) {
        char region[320];
        rgn__fmt_region(region, sizeof region, r);
        struct rgn_groups g;
        struct rgn_apart apart;
        rgn__groups_init(&g);
        rgn__groups_collect(r, false, &g, &apart);
        rgn__report_line(rep,
                         "rgn: limit: %s has %zu live resources, past "
                         "its limit of %zu%s",
                         region, r->slots.live, a->limit,
                         a->next_warn > a->limit ? " (doubled again)" : "");
        if (a->mode != RGN_AUDIT_OFF)
            rgn__out_groups(rep, "limit", &g, 5);
        rgn__groups_free(&g);
    }
    /* Next at twice the count that set this one off, so a region that
     * grows without bound warns O(log n) times. */
    while (a->next_warn < r->slots.live)
        a->next_warn =
            a->next_warn > SIZE_MAX / 2 ? SIZE_MAX : 2 * a->next_warn;
    errno = saved;
}

/* ---- held resources ----------------------------------------------------- */

/* The age past which a resource of e is held (UINT64_MAX: never), in
 * ticks, from its lifetimes. */
static uint64_t held_limit(const struct rgn_tally *e)
{
    if (e->released < HELD_MIN_RELEASES)
        return UINT64_MAX;
    uint64_t p99 = rgn__sketch_quantile(&e->life, 0.99);
    return p99 > UINT64_MAX / HELD_MULTIPLE ? UINT64_MAX : p99 * HELD_MULTIPLE;
}

/* Whether rec (of tally e, age ticks old, past the floor) is newly
 * held.  *cache_tally and *cache_limit keep the last tally's limit. */
static bool newly_held(const struct rgn_tally *e, const struct rgn_arec *rec,
                       uint64_t age, const struct rgn_tally **cache_tally,
                       uint64_t *cache_limit)
{
    if (rec->flags & RGN_AREC_HELD)
        return false;
    if (e != *cache_tally) {
        *cache_tally = e;
        *cache_limit = held_limit(e);
    }
    return age > *cache_limit && rec->born < e->newest_released;
}

/* ---- the look ------------------------------------------------------------- */

struct look {
    struct rgn_when w;
    uint64_t floor;   /* ticks past which a resource counts as old */
    bool held;        /* held reports are on */
    bool truncated;   /* the walk stopped at LOOK_MAX_STEPS */
    char region[320]; /* how the lines name r, made once */
    bool region_made;
    struct rgn_report *rep; /* queued, made at the first line */
};

static const char *look_region(struct look *k, rgn_t *r)
{
    if (!k->region_made) {
        rgn__fmt_region(k->region, sizeof k->region, r);
        k->region_made = true;
    }
    return k->region;
}

static struct rgn_report *look_report(struct look *k)
{
    if (!k->rep)
        k->rep = rgn__defer(false);
    return k->rep;
}

/* Walks r's resources from the oldest while they are older than the
 * floor, noting in each tally the oldest one seen and finding the held
 * ones. */
static void walk_old(rgn_t *r, struct look *k)
{
    struct rgn_tracking *t = r->tracking;
    const struct rgn_tally *cache_tally = NULL;
    uint64_t cache_limit = 0;
    uint32_t steps = 0;
    for (uint32_t i = rgn__slot_oldest(&r->slots); i;
         i = rgn__ln(&r->slots, i)->prev) {
        if (++steps > LOOK_MAX_STEPS) {
            k->truncated = true;
            break;
        }
        struct rgn_arec *rec = rgn__audit_record(r, i);
        struct rgn_tally *e = rgn__audit_tally(t, rec);
        if (!e || !rec->born || (rec->flags & RGN_AREC_EXPECTED))
            continue;
        uint64_t age = k->w.now > rec->born ? k->w.now - rec->born : 0;
        if (age < k->floor)
            break; /* the rest are younger: registered later */
        if (!e->look_oldest || rec->born < e->look_oldest)
            e->look_oldest = rec->born;
        if (!k->held || rgn__own_of(rgn__cb(&r->slots, i)->fn)->nests)
            continue;
        if (newly_held(e, rec, age, &cache_tally, &cache_limit)) {
            rec->flags |= RGN_AREC_HELD;
            e->held += rec->weight;
            e->look_new += rec->weight;
        }
        e->look_held += (rec->flags & RGN_AREC_HELD) ? rec->weight : 0;
    }
}

/* A site's held line, when its count of held resources has doubled. */
static void held_line(rgn_t *r, struct rgn_tally *e, struct look *k)
{
    if (!e->look_new || e->held < e->held_next)
        return;
    e->held_next = e->held > UINT64_MAX / 2 ? UINT64_MAX : 2 * e->held;
    struct rgn_report *rep = look_report(k);
    if (!rep)
        return;
    struct rgn_group g = {.site = e->site,
                          .label = e->label,
                          .count = e->look_held,
                          .oldest = e->look_oldest,
                          .released = e->released,
                          .p50 = rgn__sketch_quantile(&e->life, 0.5),
                          .p99 = rgn__sketch_quantile(&e->life, 0.99),
                          .estimated = sampled()};
    char tail[340];
    snprintf(tail, sizeof tail, "; in %s", look_region(k, r));
    rgn__out_group(rep, "held", &g, &k->w, tail);
}

/* "860", "12", "0.5": a rate that reads well. */
static void fmt_rate(char *buf, size_t n, double per_s)
{
    if (per_s >= 10)
        snprintf(buf, n, "%.0f", per_s);
    else
        snprintf(buf, n, "%.1f", per_s);
}

/* A site's growing line, when the growth rule says so. */
static void growth_line(rgn_t *r, struct rgn_tally *e, struct look *k,
                        uint64_t floor_count)
{
    uint64_t cur = e->live - e->owned;
    e->grow_rises = e->grow_seen && cur > e->grow_prev ? e->grow_rises + 1 : 0;
    e->grow_prev = cur;
    e->grow_seen = true;
    if (!e->grow_mark) {
        e->grow_mark = floor_count / 2 ? floor_count / 2 : 1;
        e->grow_mark_at = 0;
    }
    if (!e->grow_mark_at && cur >= e->grow_mark)
        e->grow_mark_at = k->w.now;
    bool old = e->look_oldest != 0 || k->truncated;
    if (e->grow_rises < 2 || cur < floor_count || cur / 2 < e->grow_mark ||
        !old)
        return;
    uint64_t from = e->grow_mark, from_at = e->grow_mark_at;
    e->grow_mark = cur;
    e->grow_mark_at = k->w.now;
    struct rgn_report *rep = look_report(k);
    if (!rep)
        return;
    uint64_t span = rgn__span_ns(&k->w, k->w.now - from_at);
    char rate[32], ago[32], tail[480];
    fmt_rate(rate, sizeof rate,
             span ? (double)(cur - from) * 1e9 / (double)span : 0);
    rgn__fmt_age(ago, sizeof ago, span);
    snprintf(tail, sizeof tail,
             "; growing by %s a second, from %s%" PRIu64 " %s ago; in %s",
             rate, sampled() ? "~" : "", from, ago, look_region(k, r));
    struct rgn_group g = {.site = e->site,
                          .label = e->label,
                          .count = (size_t)cur,
                          .oldest =
                              e->look_oldest ? e->look_oldest : UINT64_MAX,
                          .bytes = e->bytes,
                          .released = e->released,
                          .p50 = rgn__sketch_quantile(&e->life, 0.5),
                          .p99 = rgn__sketch_quantile(&e->life, 0.99),
                          .estimated = sampled()};
    rgn__out_group(rep, "growing", &g, &k->w, tail);
}

void rgn__audit_look(rgn_t *r, uint64_t now)
{
    struct rgn_tracking *a = r->tracking;
    double tick_ns = rgn__tick_ns();
    a->next_look = now + (uint64_t)((double)LOOK_INTERVAL_NS / tick_ns);
    if (a->mode == RGN_AUDIT_OFF)
        return;
    uint64_t held_ns =
        atomic_load_explicit(&rgn__held_floor, memory_order_relaxed);
    uint64_t growth =
        atomic_load_explicit(&rgn__growth_floor, memory_order_relaxed);
    if (held_ns == 0 && growth == 0)
        return;
    int saved = errno;
    struct look k = {
        .w = {now, tick_ns},
        .floor =
            (uint64_t)((double)(held_ns ? held_ns : GROWTH_AGE_NS) / tick_ns),
        .held = held_ns != 0};
    walk_old(r, &k);
    struct rgn_tallies *ts = &a->tallies;
    for (uint32_t i = 0; i < ts->n; i++) {
        struct rgn_tally *e = &ts->v[i];
        held_line(r, e, &k);
        if (growth)
            growth_line(r, e, &k, growth);
        e->look_oldest = e->look_held = e->look_new = 0;
    }
    errno = saved;
}

/* SPDX-License-Identifier: MIT */
/*
 * metrics.c -- the statistics of named, audited regions in the Prometheus
 * text exposition format, version 0.0.4.
 *
 * Regions that share a name (one per job, say) make one series: their
 * counters add up and their lifetime sketches are merged, so a scrape
 * shows a bounded number of series however many regions come and go.
 * Everything is gathered first, each region under its own lock, and
 * written afterwards, so no lock is held while the stream blocks.
 *
 * Owns the totals of named regions that left the registry.  May call:
 * the registry walk (audit.c), the tallies' sketches, stats.c.
 *
 * Floor 2, above the core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* The counters of a name: they only ever grow. */
struct totals {
    uint64_t registered, released, removed, errors;
};

static void add_totals(struct totals *t, const struct totals *more)
{
    t->registered += more->registered;
    t->released += more->released;
    t->removed += more->removed;
    t->errors += more->errors;
}

/* The totals of r, locked and tracked: its counters since its last
 * clear, and what its clears took out of them.  Registrations are
 * derived from counts its lean calls may be changing (stats.c): short by
 * a release in flight at most, never above the truth, and shown no lower
 * than before. */
static struct totals totals_of(rgn_t *r)
{
    rgn_stats st;
    rgn__counters(r, &st);
    struct rgn_tracking *a = r->tracking;
    uint64_t registered = st.registered + a->cleared.registered;
    if (registered < a->registered_shown)
        registered = a->registered_shown;
    a->registered_shown = registered;
    return (struct totals){registered,
                           st.released_early + a->cleared.released_early,
                           st.removed + a->cleared.removed, st.cleanup_errors};
}

struct series {
    char *name;
    uint64_t live, peak;
    struct totals n;
    struct rgn_sketch life;
    uint64_t life_count; /* lifetimes measured, exactly */
    double life_sum;
};

/*
 * The totals of named regions that are gone, per name, so that a name's
 * counters never go down while the process lives: Prometheus reads a
 * counter that decreases as a reset.  A fixed table of 64 names, guarded
 * by the registry's lock (the region is retired as it leaves the
 * registry, so a scrape sees it either open or retired, never both, never
 * neither).  Each entry keeps a copy of the whole name, made when the
 * name first retires and kept for the life of the process: the series a
 * scrape writes is the whole name's, so the totals must be told apart by
 * the whole name too (a 64-byte copy put a longer name's totals in a
 * second, truncated series, and merged names that share 63 bytes).  Past
 * 64 names, or when the copy cannot be made, the counters of further
 * names may go down when their regions close.
 */
#define RETIRED_NAMES 64
static struct retired {
    char *name; /* the whole name, from rgn__malloc, never freed */
    struct totals n;
    uint64_t life_count;
    double life_sum;
} retired[RETIRED_NAMES];
static size_t nretired;

static struct retired *retired_for(const char *name)
{
    for (size_t i = 0; i < nretired; i++)
        if (strcmp(retired[i].name, name) == 0)
            return &retired[i];
    if (nretired == RETIRED_NAMES)
        return NULL;
    size_t len = strlen(name) + 1;
    char *copy = rgn__malloc(len); /* the allocator, not user code */
    if (!copy)
        return NULL;
    memcpy(copy, name, len);
    struct retired *t = &retired[nretired++];
    *t = (struct retired){copy, {0, 0, 0, 0}, 0, 0};
    return t;
}

void rgn__metrics_retire(rgn_t *r)
{
    if (!r->name)
        return;
    struct retired *t = retired_for(r->name);
    if (!t)
        return;
    struct totals more = totals_of(r);
    add_totals(&t->n, &more);
    const struct rgn_tracking *a = r->tracking;
    for (uint32_t i = 0; i < a->tallies.n; i++) {
        t->life_count += a->tallies.v[i].released;
        t->life_sum += rgn__tally_life_sum(&a->tallies.v[i]);
    }
}

struct gather {
    struct series *v;
    size_t n, cap;
    int err;
};

static struct series *series_for(struct gather *g, const char *name)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->v[i].name, name) == 0)
            return &g->v[i];
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 8;
        struct series *v = rgn__realloc(g->v, cap * sizeof *v);
        if (!v)
            return NULL;
        g->v = v;
        g->cap = cap;
    }
    size_t len = strlen(name) + 1;
    char *copy = rgn__malloc(len);
    if (!copy)
        return NULL;
    memcpy(copy, name, len);
    struct series *s = &g->v[g->n++];
    memset(s, 0, sizeof *s);
    s->name = copy;
    rgn__sketch_init(&s->life);
    return s;
}

/* Adds one region (locked by rgn__audit_each) to its series. */
static int gather_region(rgn_t *r, void *arg)
{
    struct gather *g = arg;
    if (!r->name)
        return 0;
    struct series *s = series_for(g, r->name);
    if (!s)
        return g->err = -ENOMEM;
    rgn_stats st;
    rgn__counters(r, &st);
    s->live += st.live;
    s->peak += st.peak;
    struct totals more = totals_of(r);
    add_totals(&s->n, &more);
    struct rgn_tracking *a = r->tracking;
    for (uint32_t i = 0; i < a->tallies.n; i++) {
        const struct rgn_tally *e = &a->tallies.v[i];
        /* Count and sum exactly; the sketches, sampled, for quantiles. */
        s->life_count += e->released;
        s->life_sum += rgn__tally_life_sum(e);
        if (rgn__sketch_merge(&s->life, &e->life))
            return g->err = -ENOMEM;
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct series *)a)->name,
                  ((const struct series *)b)->name);
}

/* The length of the valid UTF-8 sequence at p, or 0 when there is none
 * (stray, overlong, surrogate or out-of-range bytes). */
static size_t utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = p[0] >= 0xf0 && p[0] <= 0xf4   ? 4
               : p[0] >= 0xe0                 ? 3
               : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
                                              : 0;
    if (n == 0 || (n == 3 && p[0] > 0xef))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
        return 0;
    return n;
}

/* A label value as the format wants it: valid UTF-8 (an invalid byte
 * becomes U+FFFD, so that no name makes a scraper reject the page), with
 * \, " and newline escaped. */
static void put_value(FILE *out, const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p;) {
        size_t n = utf8_len(p);
        if (n == 0) {
            fputs("\xef\xbf\xbd", out);
            p++;
            continue;
        }
        if (*p == '\\' || *p == '"')
            fputc('\\', out);
        if (*p == '\n')
            fputs("\\n", out);
        else
            fwrite(p, 1, n, out);
        p += n;
    }
}

static void put_label(FILE *out, const char *v)
{
    fputs("{region=\"", out);
    put_value(out, v);
    fputc('"', out);
}

static void family(FILE *out, const char *metric, const char *type,
                   const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

/* One value per series, for a counter or a gauge. */
static void simple(FILE *out, const struct gather *g, size_t offset,
                   const char *metric, const char *type, const char *help)
{
    family(out, metric, type, help);
    for (size_t i = 0; i < g->n; i++) {
        fputs(metric, out);
        put_label(out, g->v[i].name);
        fprintf(out, "} %" PRIu64 "\n",
                *(const uint64_t *)((const char *)&g->v[i] + offset));
    }
}

static const double summary_quantiles[] = {0.5, 0.9, 0.99, 0.999};

static void lifetimes(FILE *out, const struct gather *g)
{
    const char *m = "rgn_resource_lifetime_seconds";
    double tick_s = rgn__tick_ns() / 1e9; /* the sketches hold ticks */
    family(out, m, "summary",
           "How long resources released early had been registered.");
    for (size_t i = 0; i < g->n; i++) {
        const struct series *s = &g->v[i];
        for (size_t j = 0; j < 4; j++) {
            fputs(m, out);
            put_label(out, s->name);
            fprintf(out, ",quantile=\"%g\"} ", summary_quantiles[j]);
            /* No observations: NaN, as the format says. */
            if (rgn__sketch_count(&s->life))
                fprintf(out, "%.9g\n",
                        (double)rgn__sketch_quantile(&s->life,
                                                     summary_quantiles[j]) *
                            tick_s);
            else
                fputs("NaN\n", out);
        }
        fprintf(out, "%s_sum", m);
        put_label(out, s->name);
        fprintf(out, "} %.9g\n", s->life_sum * tick_s);
        fprintf(out, "%s_count", m);
        put_label(out, s->name);
        fprintf(out, "} %" PRIu64 "\n", s->life_count);
    }
}

#define FIELD(f) offsetof(struct series, f)

static void write_all(FILE *out, const struct gather *g)
{
    simple(out, g, FIELD(live), "rgn_resources_live", "gauge",
           "Resources live in the region now.");
    simple(out, g, FIELD(peak), "rgn_resources_peak", "gauge",
           "Most resources live at once (summed over regions of the name).");
    simple(out, g, FIELD(n.registered), "rgn_resources_registered_total",
           "counter", "Resources registered.");
    simple(out, g, FIELD(n.released), "rgn_resources_released_total",
           "counter", "Resources released early by rgn_release.");
    simple(out, g, FIELD(n.removed), "rgn_resources_removed_total", "counter",
           "Resources unprotected or moved away.");
    simple(out, g, FIELD(n.errors), "rgn_cleanup_errors_total", "counter",
           "Cleanups that returned non-zero.");
    lifetimes(out, g);
}

/* Adds the totals of regions gone to the series of their names, making
 * series for names whose regions are all gone; registry locked. */
static void gather_retired(void *arg)
{
    struct gather *g = arg;
    for (size_t i = 0; i < nretired && !g->err; i++) {
        struct series *s = series_for(g, retired[i].name);
        if (!s) {
            g->err = -ENOMEM;
            return;
        }
        add_totals(&s->n, &retired[i].n);
        s->life_count += retired[i].life_count;
        s->life_sum += retired[i].life_sum;
    }
}

/* ---- per site --------------------------------------------------------------
 *
 * Each named, audited region's sites, as gauges labelled region, site
 * ("file:line", or "unknown") and label: what a dashboard splits a
 * region's growth by.  A program whose labels or sites vary without end
 * must not make a scrape grow without end, so the SITE_SERIES sites
 * holding the most resources are written as they are and the rest of
 * each region add up into its series site="other".
 */
#define SITE_SERIES 256

static void site_labels(FILE *out, const struct rgn_snap_row *r, bool other)
{
    fputs("{region=\"", out);
    put_value(out, r->region);
    fputs("\",site=\"", out);
    if (other)
        fputs("other", out);
    else if (r->site)
        fprintf(out, "%s:%d", r->site->file, r->site->line);
    else
        fputs("unknown", out);
    fputs("\",label=\"", out);
    if (r->label && !other)
        put_value(out, r->label);
    fputs("\"}", out);
}

static int by_count_only(const void *a, const void *b)
{
    const struct rgn_snap_row *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

static int by_region(const void *a, const void *b)
{
    return strcmp(((const struct rgn_snap_row *)a)->region,
                  ((const struct rgn_snap_row *)b)->region);
}

/* The site families, from a snapshot: rows of named regions only. */
static void write_sites(FILE *out, struct rgn_snapshot *s)
{
    size_t n = 0, arenas;
    for (size_t i = 0; i < s->n; i++) /* keep named sites, then arenas */
        if (s->v[i].named && !s->v[i].arena)
            s->v[n++] = s->v[i];
    arenas = n;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].named && s->v[i].arena)
            s->v[arenas++] = s->v[i];
    if (n > 1) /* s->v is NULL when nothing was seen */
        qsort(s->v, n, sizeof *s->v, by_count_only);
    size_t shown = n < SITE_SERIES ? n : SITE_SERIES;
    /* The rest, a row per region: summed into the first of each. */
    if (n - shown > 1)
        qsort(s->v + shown, n - shown, sizeof *s->v, by_region);
    size_t others = shown;
    for (size_t i = shown; i < n; i++) {
        if (others > shown &&
            strcmp(s->v[others - 1].region, s->v[i].region) == 0) {
            s->v[others - 1].count += s->v[i].count;
            s->v[others - 1].bytes += s->v[i].bytes;
        } else {
            s->v[others++] = s->v[i];
        }
    }
    family(out, "rgn_audit_sample_rate", "gauge",
           "One registration in this many records its site "
           "(RGN_AUDIT_SAMPLE); above 1, the rgn_site series are "
           "estimates.");
    fprintf(out, "rgn_audit_sample_rate %u\n", (unsigned)s->sample_every);
    static const char *const metric[2] = {"rgn_site_resources_live",
                                          "rgn_site_bytes_live"};
    static const char *const help[2] = {
        "Resources live now, by registration site and label.",
        "Bytes of the resources live now, by registration site and label."};
    for (int k = 0; k < 2; k++) {
        family(out, metric[k], "gauge", help[k]);
        for (size_t i = 0; i < others; i++) {
            fputs(metric[k], out);
            site_labels(out, &s->v[i], i >= shown);
            fprintf(out, " %" PRIu64 "\n", k ? s->v[i].bytes : s->v[i].count);
        }
    }
    family(out, "rgn_arena_bytes", "gauge",
           "Bytes the regions' arenas hold (rgn_alloc).");
    for (size_t i = n; i < arenas; i++) {
        fputs("rgn_arena_bytes", out);
        put_label(out, s->v[i].region);
        fprintf(out, "} %" PRIu64 "\n", s->v[i].bytes);
    }
}

int rgn_metrics_write(FILE *out)
{
    if (!out)
        return rgn__refused(-EINVAL);
    struct gather g = {NULL, 0, 0, 0};
    rgn__audit_each(gather_region, gather_retired, &g, false);
    int rc = g.err;
    if (rc == 0 && g.n) {
        qsort(g.v, g.n, sizeof *g.v, by_name);
        write_all(out, &g);
        struct rgn_snapshot s;
        rc = rgn__snapshot_take(&s);
        if (rc == 0)
            write_sites(out, &s);
        rgn__snapshot_free(&s);
        if (rc == 0)
            rc = fflush(out) != 0 || ferror(out) ? -EIO : (int)g.n;
    }
    for (size_t i = 0; i < g.n; i++) {
        rgn__free(g.v[i].name);
        rgn__sketch_free(&g.v[i].life);
    }
    rgn__free(g.v);
    return rc < 0 ? rgn__refused(rc) : rc;
}

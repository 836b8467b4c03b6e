/* SPDX-License-Identifier: MIT */
/*
 * group.c -- the text of the audit's reports (group.h): grouping a
 * region's live resources by site and label, and formatting what one
 * line says of a group, a region, a site, an age or a size.
 *
 * It reads a region's slots and records (the caller holds the region's
 * lock) and writes into report buffers (sink.h); it calls nothing else
 * of rgn's and writes to no sink itself.
 *
 * Floor 1, the region core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- grouping by site and label ----------------------------------------- */

void rgn__groups_init(struct rgn_groups *g)
{
    for (size_t i = 0; i < RGN_STACK_GROUPS; i++) /* empty: count 0 */
        g->stack[i].count = 0;
    g->v = g->stack;
    g->cap = RGN_STACK_GROUPS;
    g->n = g->other = g->total = g->unsampled = g->records = 0;
    g->estimated = false;
    g->other_oldest = UINT64_MAX;
    g->sorted = false;
}

void rgn__groups_free(struct rgn_groups *g)
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

static struct rgn_group *group_slot(struct rgn_group *v, size_t cap,
                                    const struct rgn_site *site,
                                    const char *label)
{
    size_t i = group_hash(site, label) & (cap - 1);
    while (v[i].count && !(v[i].site == site && same_label(v[i].label, label)))
        i = (i + 1) & (cap - 1);
    return &v[i];
}

/* Doubles the table; keeps the old one when memory runs out. */
static void groups_grow(struct rgn_groups *g)
{
    size_t cap = g->cap * 2;
    struct rgn_group *v = rgn__malloc(cap * sizeof *v);
    if (!v)
        return;
    memset(v, 0, cap * sizeof *v);
    for (size_t i = 0; i < g->cap; i++)
        if (g->v[i].count)
            *group_slot(v, cap, g->v[i].site, g->v[i].label) = g->v[i];
    rgn__groups_free(g);
    g->v = v;
    g->cap = cap;
}

/* Adds count resources of `bytes` in all to the group of (site, label),
 * made by `records` records. */
static struct rgn_group *add_n(struct rgn_groups *g,
                               const struct rgn_site *site, const char *label,
                               uint64_t born, size_t count, uint64_t bytes,
                               size_t records, bool estimated)
{
    g->total += count;
    g->records += records;
    g->estimated |= estimated;
    RGN_ASSERT(!g->sorted);
    if (2 * (g->n + 1) > g->cap)
        groups_grow(g);
    struct rgn_group *e = group_slot(g->v, g->cap, site, label);
    if (!e->count) {
        if (2 * (g->n + 1) > g->cap) { /* no room left: count it apart */
            g->other += count;
            if (born < g->other_oldest)
                g->other_oldest = born;
            return NULL;
        }
        e->site = site;
        e->label = label;
        e->count = 0;
        e->oldest = born;
        e->bytes = e->released = e->p50 = e->p99 = 0;
        e->estimated = false;
        e->ndesc = 0;
        g->n++;
    }
    e->count += count;
    e->estimated |= estimated;
    e->bytes += bytes;
    if (born < e->oldest)
        e->oldest = born;
    return e;
}

struct rgn_group *rgn__groups_add(struct rgn_groups *g,
                                  const struct rgn_site *site,
                                  const char *label, uint64_t born,
                                  uint64_t bytes, uint32_t weight)
{
    /* A sampled one stands for its site's next ones, bytes and all. */
    return add_n(g, site, label, born, weight, bytes * weight, 1, weight > 1);
}

void rgn__groups_merge(struct rgn_groups *to, const struct rgn_groups *from)
{
    RGN_ASSERT(from->sorted);
    for (size_t i = 0; i < from->n; i++) {
        const struct rgn_group *e = &from->v[i];
        if (e->count)
            (void)add_n(to, e->site, e->label, e->oldest, e->count, e->bytes,
                        0, e->estimated);
    }
    to->total += from->other;
    to->other += from->other;
    if (from->other_oldest < to->other_oldest)
        to->other_oldest = from->other_oldest;
    to->records += from->records;
    to->unsampled += from->unsampled;
    to->estimated |= from->estimated;
}

/* Keeps what kind says of resource in e, as the oldest so far: a
 * collection walks from the newest, so the last three kept are the
 * oldest three.  describe runs under the region's lock (rgn.h). */
static void describe_into(struct rgn_group *e, const struct rgn_kind *kind,
                          void *resource)
{
    char d[sizeof e->desc[0]];
    int n = kind->describe(resource, d, sizeof d);
    if (n < 0)
        return;
    d[sizeof d - 1] = '\0';
    if (e->ndesc == 3)
        memmove(e->desc[0], e->desc[1], 2 * sizeof e->desc[0]);
    else
        e->ndesc++;
    memcpy(e->desc[e->ndesc - 1], d, sizeof d);
}

static int by_count(const void *a, const void *b)
{
    const struct rgn_group *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    if (!x->site || !y->site)
        return !x->site - !y->site;
    int c = strcmp(x->site->file, y->site->file);
    return c ? c : x->site->line - y->site->line;
}

/* Sorts by site, so that the groups of one site lie side by side. */
static int by_site(const void *a, const void *b)
{
    const struct rgn_group *x = a, *y = b;
    if (x->site != y->site)
        return (uintptr_t)x->site < (uintptr_t)y->site ? -1 : 1;
    return (x->label != NULL) - (y->label != NULL);
}

/* The unlabelled group of a site that has exactly one labelled group
 * joins it: the resource was labelled after it registered, or not yet
 * when the report was made. */
static size_t fold_unlabelled(struct rgn_group *v, size_t n)
{
    qsort(v, n, sizeof *v, by_site);
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].site == v[i].site)
            j++;
        /* v[i .. j) share a site; an unlabelled one sorts first. */
        if (v[i].site && !v[i].label && j - i == 2) {
            struct rgn_group *to = &v[i + 1];
            to->count += v[i].count;
            to->bytes += v[i].bytes;
            to->estimated |= v[i].estimated;
            if (v[i].oldest < to->oldest && v[i].ndesc) { /* its are older */
                memcpy(to->desc, v[i].desc, sizeof to->desc);
                to->ndesc = v[i].ndesc;
            }
            if (v[i].oldest < to->oldest)
                to->oldest = v[i].oldest;
            i++;
        }
        while (i < j)
            v[out++] = v[i++];
    }
    return out;
}

void rgn__groups_sort(struct rgn_groups *g)
{
    g->sorted = true;
    size_t n = 0;
    for (size_t i = 0; i < g->cap; i++)
        if (g->v[i].count)
            g->v[n++] = g->v[i];
    /* The table is packed for good: nothing is added after a sort, so
     * the entries past n need not be marked empty again. */
    g->n = fold_unlabelled(g->v, n);
    /* The joined groups left copies behind them, past g->n. */
    qsort(g->v, g->n, sizeof *g->v, by_count);
}

void rgn__groups_cap(struct rgn_groups *g, size_t most, uint64_t most_bytes)
{
    RGN_ASSERT(g->sorted);
    if (!g->estimated)
        return; /* every resource counted once: none can pass */
    size_t total = g->other = g->other < most ? g->other : most;
    for (size_t i = 0; i < g->n; i++) {
        struct rgn_group *e = &g->v[i];
        if (e->estimated && e->count > most)
            e->count = most;
        if (e->estimated && e->bytes > most_bytes)
            e->bytes = most_bytes;
        total += e->count;
    }
    g->total = total;
}

void rgn__groups_lifetimes(struct rgn_groups *g, const struct rgn_tracking *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < g->n; i++) {
        const struct rgn_tally *e =
            rgn__tally_lookup(&t->tallies, g->v[i].site, g->v[i].label);
        if (e && e->released) {
            g->v[i].released = e->released;
            g->v[i].p50 = rgn__sketch_quantile(&e->life, 0.5);
            g->v[i].p99 = rgn__sketch_quantile(&e->life, 0.99);
        }
    }
}

struct collect {
    bool only_unexpected;
    struct rgn_groups *g;
    struct rgn_apart *apart;
};

/* Groups one live resource of r; rec NULL where r keeps no records. */
static void collect_one(rgn_t *r, uint32_t i, struct rgn_arec *rec, void *arg)
{
    struct collect *c = arg;
    struct rgn_tracking *t = r->tracking;
    /* A child region is its own region's business, never a leak of its
     * parent's: its contents are judged at its own close. */
    bool child = rgn__own_of(rgn__cb(&r->slots, i)->fn)->nests;
    bool unsampled = rec && (rec->flags & RGN_AREC_UNSAMPLED);
    if (unsampled)
        c->g->unsampled++; /* the sampled ones stand for it in groups */
    if (child || (rec && (rec->flags & RGN_AREC_EXPECTED))) {
        if (child)
            c->apart->children++;
        else
            c->apart->expected++;
        if (c->only_unexpected)
            return;
    }
    if (unsampled)
        return;
    struct rgn_group *e = rgn__groups_add(
        c->g, rgn__audit_site(t, rec), rgn__audit_label(t, rec),
        rec && rec->born ? rec->born : UINT64_MAX, rec ? rec->bytes : 0,
        rec ? rgn__audit_weight(rec) : 1);
    const struct rgn_kind *kind = rgn__kind_at(r, i);
    if (e && kind && kind->describe)
        describe_into(e, kind, rgn__cb(&r->slots, i)->resource);
}

void rgn__groups_collect(rgn_t *r, bool only_unexpected, struct rgn_groups *g,
                         struct rgn_apart *apart)
{
    *apart = (struct rgn_apart){0, 0};
    struct collect c = {only_unexpected, g, apart};
    /* Lean resources have no record: unsampled, as far as a report
     * goes. */
    g->unsampled += rgn__audit_walk(r, collect_one, &c);
    rgn__groups_sort(g);
    rgn__groups_cap(g,
                    only_unexpected ? rgn__groups_held(r, apart)
                                    : rgn__slots_live(&r->slots),
                    r->tracking ? r->tracking->bytes : 0);
    rgn__groups_lifetimes(g, r->tracking);
}

/* ---- formatting --------------------------------------------------------- */

void rgn__fmt_apart(char *buf, size_t n, const struct rgn_apart *apart)
{
    char e[40] = "", c[40] = "";
    if (apart->expected)
        snprintf(e, sizeof e, "%zu expected at close", apart->expected);
    if (apart->children)
        snprintf(c, sizeof c, "%zu child %s", apart->children,
                 rgn__plural(apart->children, "region", "regions"));
    if (*e || *c)
        snprintf(buf, n, " (%s%s%s)", e, *e && *c ? ", " : "", c);
    else
        *buf = '\0';
}

struct rgn_when rgn__when_now(void)
{
    return (struct rgn_when){rgn__now(), rgn__tick_ns()};
}

uint64_t rgn__span_ns(const struct rgn_when *w, uint64_t ticks)
{
    double ns = (double)ticks * w->tick_ns;
    return ns >= 1.8e19 ? UINT64_MAX : (uint64_t)ns;
}

uint64_t rgn__age_ns(const struct rgn_when *w, uint64_t born)
{
    if (born == 0 || born == UINT64_MAX || w->now <= born)
        return 0;
    return rgn__span_ns(w, w->now - born);
}

void rgn__fmt_age(char *buf, size_t n, uint64_t ns)
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

void rgn__fmt_bytes(char *buf, size_t n, uint64_t bytes)
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        snprintf(buf, n, "%" PRIu64 " B", bytes);
        return;
    }
    double v = (double)bytes / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof unit / sizeof *unit) {
        v /= 1024;
        u++;
    }
    if (v < 10)
        snprintf(buf, n, "%.1f %s", v, unit[u]);
    else
        snprintf(buf, n, "%.0f %s", v, unit[u]);
}

void rgn__fmt_region(char *buf, size_t n, const rgn_t *r)
{
    const struct rgn_site *s = r->made_at;
    char name[160];
    if (r->name)
        rgn__fmt_quoted(name, sizeof name, r->name);
    if (r->name && s)
        snprintf(buf, n, "region %s (made at %s:%d in %s%s)", name, s->file,
                 s->line, s->func, rgn__fn_parens(s->func));
    else if (r->name)
        snprintf(buf, n, "region %s", name);
    else if (s)
        snprintf(buf, n, "region made at %s:%d in %s%s", s->file, s->line,
                 s->func, rgn__fn_parens(s->func));
    else
        snprintf(buf, n,
                 "an unnamed region (made where no site was "
                 "recorded)");
}

void rgn__fmt_at(char *buf, size_t n, const struct rgn_site *s)
{
    if (s)
        snprintf(buf, n, " at %s:%d in %s%s", s->file, s->line, s->func,
                 rgn__fn_parens(s->func));
    else
        buf[0] = '\0';
}

void rgn__fmt_site(char *where, size_t nw, char *label, size_t nl,
                   const struct rgn_site *site, const char *text)
{
    if (site)
        snprintf(where, nw, "%s:%d: %s%s", site->file, site->line, site->func,
                 rgn__fn_parens(site->func));
    else
        snprintf(where, nw, "(unknown site)");
    label[0] = '\0';
    if (text) {
        char q[150];
        rgn__fmt_quoted(q, sizeof q, text);
        snprintf(label, nl, " %s:", q);
    }
}

void rgn__out_group(struct rgn_report *o, const char *prefix,
                    const struct rgn_group *e, const struct rgn_when *w,
                    const char *tail)
{
    char age[40], where[256], label[160] = "", bytes[48] = "";
    if (e->oldest == UINT64_MAX) {
        snprintf(age, sizeof age, "age unknown");
    } else {
        char a[32];
        rgn__fmt_age(a, sizeof a, rgn__age_ns(w, e->oldest));
        snprintf(age, sizeof age, "oldest %s", a);
    }
    if (e->bytes) {
        char b[32];
        rgn__fmt_bytes(b, sizeof b, e->bytes);
        snprintf(bytes, sizeof bytes, " %s%s,", e->estimated ? "~" : "", b);
    }
    rgn__fmt_site(where, sizeof where, label, sizeof label, e->site, e->label);
    char life[128] = "";
    if (e->released) {
        char p50[32], p99[32];
        rgn__fmt_age(p50, sizeof p50, rgn__span_ns(w, e->p50));
        rgn__fmt_age(p99, sizeof p99, rgn__span_ns(w, e->p99));
        /* Sampled, only the sampled resources' releases are measured. */
        snprintf(life, sizeof life,
                 "; %" PRIu64 " released%s, lifetime p50 "
                 "%s p99 %s",
                 e->released, e->estimated ? " (sampled)" : "", p50, p99);
    }
    char descs[200] = "";
    if (e->ndesc) {
        size_t k = (size_t)snprintf(descs, sizeof descs, ":");
        for (int d = e->ndesc - 1; d >= 0 && k < sizeof descs; d--)
            k += (size_t)snprintf(descs + k, sizeof descs - k, " %s%s",
                                  e->desc[d], d ? "," : "");
        if (e->count > e->ndesc && k < sizeof descs)
            snprintf(descs + k, sizeof descs - k, " and %zu more",
                     e->count - e->ndesc);
    }
    rgn__report_line(o, "rgn: %s: %s:%s %s%zu live,%s %s%s%s%s", prefix, where,
                     label, e->estimated ? "~" : "", e->count, bytes, age,
                     descs, life, tail);
}

size_t rgn__out_groups(struct rgn_report *o, const char *prefix,
                       const struct rgn_groups *g, size_t max_lines)
{
    struct rgn_when w = rgn__when_now();
    size_t shown = 0;
    for (size_t i = 0; i < g->n && shown < max_lines; i++, shown++)
        rgn__out_group(o, prefix, &g->v[i], &w, "");
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

/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c -- every audited region by site and label, at one moment
 * (snapshot.h): a reader of the registry, as the exit report and the
 * metrics are.  Regions of one name add up into one set of rows, so a
 * program with a region per connection shows one row per site, not one
 * per connection.  Each region's tallies give its rows at O(sites), not
 * O(resources); what its tallies do not hold (resources registered
 * before it was audited) is a row of unknown site, and its arena a row of
 * its own.
 *
 * Calls the registry walk (audit.c), the tallies and the arena's size,
 * under the locks they take; nothing here writes anywhere.
 *
 * Floor 2, above the core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (const char *p = s; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001B3u;
    return h;
}

static bool same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static size_t row_hash(const char *region, const struct rgn_site *site,
                       const char *label, bool arena)
{
    uint64_t h = str_hash(region) ^ str_hash(label) * 31u;
    h ^= (uint64_t)(uintptr_t)site * 0x9E3779B97F4A7C15u;
    return (size_t)(h ^ (h >> 29) ^ arena);
}

/* A copy of s kept with the snapshot, or NULL (out of memory: err). */
static const char *keep(struct rgn_snapshot *s, const char *text)
{
    if (!text)
        return NULL;
    if (s->nstrings == s->strings_cap) {
        size_t cap = s->strings_cap ? 2 * s->strings_cap : 16;
        char **v = rgn__realloc(s->strings, cap * sizeof *v);
        if (!v) {
            s->err = -ENOMEM;
            return NULL;
        }
        s->strings = v;
        s->strings_cap = cap;
    }
    size_t n = strlen(text) + 1;
    char *c = rgn__malloc(n);
    if (!c) {
        s->err = -ENOMEM;
        return NULL;
    }
    memcpy(c, text, n);
    return s->strings[s->nstrings++] = c;
}

static uint32_t *index_slot(const struct rgn_snapshot *s, const char *region,
                            const struct rgn_site *site, const char *label,
                            bool arena)
{
    size_t mask = s->index_cap - 1;
    for (size_t i = row_hash(region, site, label, arena) & mask;;
         i = (i + 1) & mask) {
        uint32_t *e = &s->index[i];
        if (*e == 0)
            return e;
        const struct rgn_snap_row *r = &s->v[*e - 1];
        if (r->site == site && r->arena == arena && same(r->region, region) &&
            same(r->label, label))
            return e;
    }
}

static bool room(struct rgn_snapshot *s)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        struct rgn_snap_row *v = rgn__realloc(s->v, cap * sizeof *v);
        if (!v)
            return false;
        s->v = v;
        s->cap = cap;
    }
    if (2 * (s->n + 1) <= s->index_cap)
        return true;
    size_t cap = s->index_cap ? 2 * s->index_cap : 64;
    uint32_t *index = rgn__malloc(cap * sizeof *index);
    if (!index)
        return false;
    memset(index, 0, cap * sizeof *index);
    rgn__free(s->index);
    s->index = index;
    s->index_cap = cap;
    for (size_t i = 0; i < s->n; i++)
        *index_slot(s, s->v[i].region, s->v[i].site, s->v[i].label,
                    s->v[i].arena) = (uint32_t)i + 1;
    return true;
}

/* Adds count and bytes to the row of (region, site, label). */
static void add(struct rgn_snapshot *s, const char *region, bool named,
                const struct rgn_site *site, const char *label, bool arena,
                uint64_t count, uint64_t bytes)
{
    if (!count && !bytes)
        return;
    if (s->index_cap) {
        uint32_t *e = index_slot(s, region, site, label, arena);
        if (*e) {
            s->v[*e - 1].count += count;
            s->v[*e - 1].bytes += bytes;
            return;
        }
    }
    const char *l = label ? keep(s, label) : NULL;
    if ((label && !l) || !room(s)) {
        s->err = -ENOMEM;
        return;
    }
    s->v[s->n] =
        (struct rgn_snap_row){region, site, l, arena, named, count, bytes};
    *index_slot(s, region, site, l, arena) = (uint32_t)++s->n;
}

/* The name rows give a region: its own, or where it was made. */
static const char *region_name(struct rgn_snapshot *s, const rgn_t *r)
{
    char made[300];
    const char *name = r->name;
    if (!name) {
        const struct rgn_site *m = r->made_at;
        if (m)
            snprintf(made, sizeof made, "made at %s:%d in %s%s", m->file,
                     m->line, m->func, rgn__fn_parens(m->func));
        else
            snprintf(made, sizeof made, "unnamed");
        name = made;
    }
    /* Regions of one name usually come one after another: reuse. */
    for (size_t i = s->nstrings; i-- > 0 && i + 8 >= s->nstrings;)
        if (strcmp(s->strings[i], name) == 0)
            return s->strings[i];
    return keep(s, name);
}

static int take_region(rgn_t *r, void *arg)
{
    struct rgn_snapshot *s = arg;
    struct rgn_tracking *t = r->tracking;
    if (t->mode == RGN_AUDIT_OFF)
        return 0;
    const char *region = region_name(s, r);
    bool named = r->name != NULL;
    if (!region)
        return 0;
    s->regions++;
    uint64_t counted = 0, counted_bytes = 0;
    uint64_t live = rgn__slots_live(&r->slots);
    for (uint32_t i = 0; i < t->tallies.n; i++) {
        const struct rgn_tally *e = &t->tallies.v[i];
        /* A sampled site's estimate says no more than the region holds;
         * what the estimates fall short of is of no known site. */
        uint64_t n = e->live < live ? e->live : live;
        uint64_t b = e->bytes < t->bytes ? e->bytes : t->bytes;
        add(s, region, named, e->site, e->label, false, n, b);
        counted += n;
        counted_bytes += b;
    }
    if (live > counted || t->bytes > counted_bytes)
        add(s, region, named, NULL, NULL, false,
            live > counted ? live - counted : 0,
            t->bytes > counted_bytes ? t->bytes - counted_bytes : 0);
    add(s, region, named, NULL, NULL, true, 0, rgn__arena_bytes(r));
    return 0;
}

int rgn__snapshot_take(struct rgn_snapshot *s)
{
    memset(s, 0, sizeof *s);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->at_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    s->sample_every =
        atomic_load_explicit(&rgn__sample_every, memory_order_relaxed);
    rgn__audit_each(take_region, NULL, s, false);
    return s->err;
}

void rgn__snapshot_free(struct rgn_snapshot *s)
{
    for (size_t i = 0; i < s->nstrings; i++)
        rgn__free(s->strings[i]);
    rgn__free(s->strings);
    rgn__free(s->v);
    rgn__free(s->index);
    memset(s, 0, sizeof *s);
}

static int by_region_count(const void *a, const void *b)
{
    const struct rgn_snap_row *x = a, *y = b;
    int c = strcmp(x->region, y->region);
    if (c)
        return c;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

void rgn__snapshot_sort(struct rgn_snapshot *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof *s->v, by_region_count);
    rgn__free(s->index); /* the rows moved */
    s->index = NULL;
    s->index_cap = 0;
}

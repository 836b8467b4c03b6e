/* SPDX-License-Identifier: MIT */
/*
 * tally.c -- the per-site tallies of tally.h: finding a site's tally, and
 * reading the lifetimes of all of them at once.
 *
 * The table is a dense array (indices stay, so records can name a tally
 * by index) with an open-addressing index on it.  A label is matched by
 * its text, not its address: two copies of "connection" are one site.
 * Reading a region's lifetimes adds up the ranks of every tally's sketch
 * (sketch.c), so a release feeds one sketch and reading merges nothing.
 * Calls only the allocator and the sketch.
 *
 * Floor 0: never sees a region (doc/HACKING, "Floors").
 */
#include "alloc.h"
#include "tally.h"

static bool same_label(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static uint32_t hash(const struct rgn_site *site, const char *label)
{
    uint64_t h = (uint64_t)(uintptr_t)site * 0x9E3779B97F4A7C15u;
    for (const char *p = label; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001B3u;
    return (uint32_t)(h ^ (h >> 32));
}

/* Where (site, label) sits in the index, or the empty entry it would
 * take. */
static uint32_t *index_slot(const struct rgn_tallies *t,
                            const struct rgn_site *site, const char *label)
{
    uint32_t mask = t->index_cap - 1;
    for (uint32_t i = hash(site, label) & mask;; i = (i + 1) & mask) {
        uint32_t *e = &t->index[i];
        if (*e == 0)
            return e;
        const struct rgn_tally *v = &t->v[*e - 1];
        if (v->site == site && same_label(v->label, label))
            return e;
    }
}

/* Builds the index over v[0 .. n), twice as big as needed at least;
 * false when memory ran out (the old index, if any, stays). */
static bool index_build(struct rgn_tallies *t, uint32_t cap)
{
    uint32_t *index = rgn__malloc(cap * sizeof *index);
    if (!index)
        return false;
    memset(index, 0, cap * sizeof *index);
    uint32_t *old = t->index;
    t->index = index;
    t->index_cap = cap;
    for (uint32_t i = 0; i < t->n; i++)
        *index_slot(t, t->v[i].site, t->v[i].label) = i + 1;
    rgn__free(old);
    return true;
}

/* Room for one more tally: the array, and past RGN_TALLY_SCAN tallies an
 * index at most half full. */
static bool make_room(struct rgn_tallies *t)
{
    if (t->n == t->cap) {
        uint32_t cap = t->cap < 4 ? 4 : 2 * t->cap;
        struct rgn_tally *v = t->v == &t->first
                                  ? rgn__malloc(cap * sizeof *v)
                                  : rgn__realloc(t->v, cap * sizeof *v);
        if (!v)
            return false;
        if (t->v == &t->first)
            memcpy(v, &t->first, sizeof *v * t->n);
        t->v = v;
        t->cap = cap;
    }
    if (t->n + 1 <= RGN_TALLY_SCAN || 2 * (t->n + 1) <= t->index_cap)
        return true;
    return index_build(t,
                       t->index_cap ? 2 * t->index_cap : 4 * RGN_TALLY_SCAN);
}

/* The index of (site, label) in t, or RGN_TALLY_NONE. */
static uint32_t find(const struct rgn_tallies *t, const struct rgn_site *site,
                     const char *label)
{
    if (t->index) {
        uint32_t *e = index_slot(t, site, label);
        return *e ? *e - 1 : RGN_TALLY_NONE;
    }
    for (uint32_t i = 0; i < t->n; i++)
        if (t->v[i].site == site && same_label(t->v[i].label, label))
            return i;
    return RGN_TALLY_NONE;
}

const struct rgn_tally *rgn__tally_lookup(const struct rgn_tallies *t,
                                          const struct rgn_site *site,
                                          const char *label)
{
    uint32_t i = find(t, site, label);
    return i == RGN_TALLY_NONE ? NULL : &t->v[i];
}

uint32_t rgn__tally_find_slow(struct rgn_tallies *t,
                              const struct rgn_site *site, const char *label)
{
    uint32_t i = find(t, site, label);
    if (i != RGN_TALLY_NONE) {
        t->last = i;
        return i;
    }
    if (t->n == RGN_TALLIES_MAX || !make_room(t))
        return RGN_TALLY_NONE;
    i = t->n++;
    struct rgn_tally *v = &t->v[i];
    memset(v, 0, sizeof *v);
    v->site = site;
    v->label = label;
    v->rng = ((uint64_t)(uintptr_t)t ^ hash(site, label)) | 1u;
    v->sample_in = 1;
    rgn__sketch_init(&v->life);
    if (t->index)
        *index_slot(t, site, label) = i + 1;
    t->last = i;
    return i;
}

uint32_t rgn__tally_gap(struct rgn_tally *e)
{
    /* xorshift64: any gap from 1 to 2 * RGN_SAMPLE_EVERY - 1 is as
     * likely, so no pattern in the releases lines up with the samples. */
    uint64_t x = e->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    e->rng = x;
    return 1u + (uint32_t)((x >> 33) % (2 * RGN_SAMPLE_EVERY - 1));
}

void rgn__tallies_free(struct rgn_tallies *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        rgn__sketch_free(&t->v[i].life);
    if (t->v != &t->first)
        rgn__free(t->v);
    rgn__free(t->index);
    rgn__tallies_init(t);
}

void rgn__tallies_uncount(struct rgn_tallies *t)
{
    for (uint32_t i = 0; i < t->n; i++) {
        struct rgn_tally *v = &t->v[i];
        v->live = v->owned = v->bytes = 0;
        v->grow_prev = 0;
        v->grow_rises = 0;
        v->grow_seen = false;
    }
}

uint64_t rgn__tallies_quantile(const struct rgn_tallies *t, double q)
{
    if (!t->n)
        return 0;
    if (q >= 1) {
        uint64_t max = 0;
        for (uint32_t i = 0; i < t->n; i++)
            if (t->v[i].life_max > max)
                max = t->v[i].life_max;
        return max;
    }
    return rgn__sketch_quantile_set(&t->v[0].life, t->n, sizeof *t->v, q);
}

size_t rgn__tallies_retained(const struct rgn_tallies *t)
{
    size_t n = 0;
    for (uint32_t i = 0; i < t->n; i++)
        n += rgn__sketch_retained(&t->v[i].life);
    return n;
}

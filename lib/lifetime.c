/* SPDX-License-Identifier: MIT */
/*
 * lifetime.c -- how long released resources lived, per registration site.
 *
 * A region that tracks lifetimes (every audited one, and any other that
 * asks) keeps one quantile sketch per site in a small hash table on the
 * site pointer; the site a release comes from is usually the one before
 * it, so the last one found is tried first.  The region's own figures
 * are the union of its sites', read by adding up ranks (sketch.c), so
 * each release feeds one sketch and reading allocates nothing.
 *
 * It owns the sketches of a region's tracking state and the lifetime
 * settings (rgn_lifetimes_set, rgn_lifetimes_set_default); it calls
 * audit.c for the tracking state and sketch.c.  The reports read it;
 * nothing here calls them.
 */
#include "internal.h"

void rgn_lifetimes_set_default(int on)
{
    rgn__audit_set_lifetimes_default(on != 0);
}

int rgn_lifetimes_set(rgn_t *r, int on)
{
    if (!r)
        return rgn__refused(-EINVAL);
    int rc = rgn__tracking_lock(r, RGN_AUDIT_OFF);
    struct rgn_tracking *a = r->tracking;
    if (rc == 0) {
        if (on)
            rgn__tracking_keep_records(a);
        a->lifetimes = on != 0;
    }
    rgn__unlock(r);
    if (rc == 0 && rgn__audit_records(a))
        rgn__tracking_list(r);
    return rgn__refused(rc);
}

static size_t site_hash(const struct rgn_site *site)
{
    uint64_t h = (uint64_t)(uintptr_t)site * 0x9E3779B97F4A7C15u;
    return (size_t)(h >> 32);
}

/* Where site is, or the empty entry where it would go. */
static uint32_t site_slot(const struct rgn_site_life *t, uint32_t cap,
                          const struct rgn_site *site)
{
    uint32_t i = (uint32_t)(site_hash(site) & (cap - 1));
    while (t[i].used && t[i].site != site)
        i = (i + 1) & (cap - 1);
    return i;
}

/* Doubles the table (at most half full), moving the sketches over. */
static bool sites_grow(struct rgn_tracking *a)
{
    uint32_t cap = a->sites_cap ? 2 * a->sites_cap : 4;
    struct rgn_site_life *t = rgn__malloc(cap * sizeof *t);
    if (!t)
        return false;
    for (uint32_t i = 0; i < cap; i++) {
        t[i].used = false;
        t[i].site = NULL;
        rgn__sketch_init(&t[i].life);
    }
    for (uint32_t i = 0; i < a->sites_cap; i++)
        if (a->sites[i].used)
            t[site_slot(t, cap, a->sites[i].site)] = a->sites[i];
    rgn__free(a->sites);
    a->sites = t;
    a->sites_cap = cap;
    a->last_site = 0;
    return true;
}

static struct rgn_site_life *site_life(struct rgn_tracking *a,
                                       const struct rgn_site *site)
{
    if (2 * (a->nsites + 1) > a->sites_cap && !sites_grow(a))
        return NULL;
    uint32_t i = site_slot(a->sites, a->sites_cap, site);
    if (!a->sites[i].used) {
        a->sites[i].used = true;
        a->sites[i].site = site;
        a->nsites++;
    }
    a->last_site = i;
    return &a->sites[i];
}

/* Not the last site: find it, or make room for it. */
bool rgn__lifetime_add_slow(struct rgn_tracking *a,
                            const struct rgn_site *site, uint64_t ns)
{
    struct rgn_site_life *e = site_life(a, site);
    return e && rgn__sketch_add(&e->life, ns);
}

const struct rgn_sketch *rgn__lifetime_of(const struct rgn_tracking *a,
                                          const struct rgn_site *site)
{
    if (!a || !a->sites_cap)
        return NULL;
    const struct rgn_site_life *e =
        &a->sites[site_slot(a->sites, a->sites_cap, site)];
    return e->used && rgn__sketch_count(&e->life) ? &e->life : NULL;
}

void rgn__lifetime_stats(const struct rgn_tracking *a, rgn_stats *out)
{
    if (!a || !a->sites_cap)
        return;
    const struct rgn_sketch *first = &a->sites[0].life;
    size_t n = a->sites_cap, stride = sizeof *a->sites;
    /* The sketches hold ticks of the audit's clock (clock.c). */
    static const double q[4] = {0.5, 0.9, 0.99, 1};
    double tick_ns = rgn__tick_ns();
    for (int k = 0; k < 4; k++) {
        double ns =
            (double)rgn__sketch_quantile_set(first, n, stride, q[k]) * tick_ns;
        out->lifetime_ns[k] = ns >= 1.8e19 ? UINT64_MAX : (uint64_t)ns;
    }
    out->lifetime_retained = 0;
    for (uint32_t i = 0; i < a->sites_cap; i++)
        out->lifetime_retained += rgn__sketch_retained(&a->sites[i].life);
}

void rgn__lifetime_free(struct rgn_tracking *a)
{
    if (!a) /* as lifetime.h promises, like the readers above */
        return;
    for (uint32_t i = 0; i < a->sites_cap; i++)
        rgn__sketch_free(&a->sites[i].life);
    rgn__free(a->sites);
    a->sites = NULL;
    a->sites_cap = a->nsites = 0;
}

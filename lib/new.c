/* SPDX-License-Identifier: MIT */
/*
 * new.c -- the public constructors: rgn_new, rgn_new_scope and
 * rgn_new_child, and their twins.
 *
 * Glue, floor 2 (doc/HACKING, "Floors"): before making a region each
 * hands the region core the table of what it asks of the floors above
 * it (above.h) -- the reports of misuse, the close's leak report, the
 * watchers, the exit report, the metrics -- so the core names none of
 * them, and a program linked statically that makes a region links them
 * too.  A region comes from here or not at all.
 *
 * Thread contract: as rgn_new's (rgn.h); installing the table is one
 * relaxed load, and a store of the same address the first time.
 */
#include "internal.h"

static const struct rgn_above above = {
    .two_threads = rgn__two_threads,
    .closed_use = rgn__closed_use_slow,
    .close_report = rgn__report_close,
    .look = rgn__audit_look,
    .limit_warning = rgn__audit_limit_warning,
    .retire = rgn__metrics_retire,
    .arm_exit = rgn__report_arm_exit,
};

/* Every creation reads the table without a lock, as a relaxed atomic,
 * and the first stores it: helgrind and DRD are told so at load, before
 * any thread creates (race.h). */
__attribute__((constructor)) static void table_is_atomic(void)
{
    if (rgn__race_find())
        rgn__race_vg_atomic(&rgn__above_table, sizeof rgn__above_table, true);
}

static inline rgn_t *create(const struct rgn_site *site)
{
    rgn__above_install(&above);
    return rgn__region_create(site);
}

rgn_t *rgn_new_at(const struct rgn_site *site)
{
    return create(site);
}

rgn_t *rgn_new_scope_at(const struct rgn_site *site)
{
    rgn_t *r = create(site);
    if (r)
        r->scope = true;
    return r;
}

rgn_t *rgn_new_child_at(rgn_t *parent, const struct rgn_site *site)
{
    if (!parent)
        return rgn__refused_null(EINVAL);
    rgn_t *c = create(site);
    if (!c)
        return NULL;
    c->scope = true; /* it ends with its parent, or before */
    /* On failure the child's cleanup has run, which freed it. */
    int rc = rgn__child_attach(parent, c, NULL, "rgn_new_child", site);
    if (rc)
        return rgn__refused_null(-rc);
    return c;
}

/* ---- the function twins of the macros, which record no site ----------
 *
 * Last in the file: each #undef takes away the macro, so the definition
 * needs no parentheses around its name, and nothing after it could call
 * the twin where it meant the macro.
 */

#undef rgn_new
rgn_t *rgn_new(void)
{
    return create(NULL);
}

#undef rgn_new_scope
rgn_t *rgn_new_scope(void)
{
    return rgn_new_scope_at(NULL);
}

#undef rgn_new_child
rgn_t *rgn_new_child(rgn_t *parent)
{
    return rgn_new_child_at(parent, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h -- what every audited region holds, by site and label, at
 * one moment (snapshot.c): the rows that profiles, timelines and the
 * per-site metrics are written from.  Rows are copied under each
 * region's lock, names and labels with them, so the writers hold no lock
 * and read nothing a program may free meanwhile.
 */
#ifndef RGN_SNAPSHOT_H
#define RGN_SNAPSHOT_H

#include "base.h"

/* Resources of one site and label in the regions of one name. */
struct rgn_snap_row {
    const char *region;          /* the regions' name (or where they were
                                    made); points into the snapshot */
    const struct rgn_site *site; /* NULL: unknown, or the arena */
    const char *label;           /* NULL: none; into the snapshot */
    bool arena;                  /* the regions' arena memory, no site */
    bool named;                  /* region is a name rgn_set_name gave */
    uint64_t count;              /* live resources (an estimate when the
                                    regions sample their sites) */
    uint64_t bytes;              /* their bytes */
};

struct rgn_snapshot {
    struct rgn_snap_row *v;
    size_t n, cap;
    uint32_t *index; /* open addressing over v: 1 + row, 0: empty */
    size_t index_cap;
    char **strings; /* the copied names and labels, each allocated once */
    size_t nstrings, strings_cap;
    uint64_t at_ns;        /* CLOCK_REALTIME of the snapshot */
    uint32_t sample_every; /* the sampling rate then: above 1, counts by
                              site are estimates (RGN_AUDIT_SAMPLE) */
    size_t regions;        /* regions read */
    int err;               /* -ENOMEM when a row or string could not be kept */
};

/* Reads every audited region, open or closing, that this process made
 * (not a forked child's inherited ones); takes the registry's lock and
 * each region's in turn.  0, or -ENOMEM (the snapshot holds what fit). */
RGN_HIDDEN int rgn__snapshot_take(struct rgn_snapshot *s);
RGN_HIDDEN void rgn__snapshot_free(struct rgn_snapshot *s);
/* Sorts the rows by region, then most resources first. */
RGN_HIDDEN void rgn__snapshot_sort(struct rgn_snapshot *s);

#endif /* RGN_SNAPSHOT_H */

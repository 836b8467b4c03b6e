/* SPDX-License-Identifier: MIT */
/*
 * ir.c -- `make bench-ir`: instructions per operation for the main rows of
 * `make bench`, counted by valgrind's callgrind.  bench/ir.sh runs this
 * program under callgrind once per implementation and prints the table.
 * Counts do not move with the machine's noise as times do, so they show
 * a change of a few instructions that no time on a shared machine can.
 *
 * Fixed numbers of operations and no clock (none of bench.c's timed
 * loops): each row makes its own state, runs a short warm-up, zeroes
 * callgrind's counts, runs its operations and dumps the counts with the
 * label "index|name|unit|operations", which ir.sh divides by.  Counts are
 * of user space only: a page fault after glibc trimmed its heap costs
 * time (bench's server-shape rows show it), not instructions here.  The
 * operations go through bench.h's table, as in bench: a few instructions
 * of indirect calls per operation, the same for every implementation.
 *
 * Usage: ir rgn|rgn+audit|rgn+sample|floor|baseline
 * rgn+audit runs only the audited pair, rgn+sample only the sampled one
 * (the audit on, one registration in 64 recording its site); floor and
 * baseline, which have no audit, run those rows as their plain pair, so
 * that they have a ratio.  The
 * rows by value (rgn_release_value, and pairs in a region indexed by it)
 * are rgn's alone.
 * Exits 77 when built without <valgrind/callgrind.h>.
 */
#include "bench.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined __has_include
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif
#ifndef HAVE_CALLGRIND
#define HAVE_CALLGRIND 0
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_DUMP_STATS_AT(label) ((void)(label))
#endif

struct irow {
    const char *name;
    const char *unit;
    /* Runs the row's operations between begin() and end(label). */
    void (*run)(const struct bench_impl *im, const struct irow *row,
                const char *label);
    size_t regions; /* alive at once (1 for the rows of one region) */
    size_t per;     /* resources in each */
    size_t reps;    /* times the whole is done */
    int audited;    /* 1: rgn+audit's only row, 2: rgn+sample's */
    int value;      /* by value: rgn's alone */
};

static void begin(void)
{
    CALLGRIND_ZERO_STATS;
}

static void end(const char *label)
{
    CALLGRIND_DUMP_STATS_AT(label);
}

/* reps register+release pairs on s, after an untimed thousand. */
static void pairs(const struct bench_impl *im, void *s, size_t reps,
                  const char *label)
{
    for (size_t i = 0; i < 1000; i++)
        im->release(s, im->add(s, NULL));
    begin();
    for (size_t i = 0; i < reps; i++)
        im->release(s, im->add(s, NULL));
    end(label);
}

/* Register+release pairs on one region, nothing else live: reps pairs. */
static void run_pair(const struct bench_impl *im, const struct irow *row,
                     const char *label)
{
    void *s = im->create();
    pairs(im, s, row->reps, label);
    im->close(s);
}

/* Register+release pairs on a region shared once (rgn_share), nothing
 * else live: every call takes the region's lock, uncontended here (the
 * instructions of bench's "2 threads, one shared region" without its
 * cache-line traffic).  rgn's alone: the floor and the baseline do not
 * share.  reps pairs. */
static void run_shared_pair(const struct bench_impl *im,
                            const struct irow *row, const char *label)
{
    void *s = im->create();
    void *t = im->share(s);
    pairs(im, s, row->reps, label);
    im->close(t);
    im->close(s);
}

/* The by-value rows are rgn's alone, and call it directly: an indexed
 * region of per resources, each registered with a pointer of its own,
 * and a find of one it does not hold, which builds the index. */
static int value_cleanup(void *res, rgn_release_type how)
{
    (void)res;
    (void)how;
    bench_cleaned++;
    return 0;
}

static rgn_t *indexed(const struct irow *row, uintptr_t *ring,
                      uintptr_t *next)
{
    rgn_t *r = rgn_new();
    for (size_t i = 0; i < row->per; i++)
        rgn_register(r, value_cleanup, (void *)(ring[i] = ++*next * 16),
                     NULL);
    rgn_find(r, value_cleanup, (void *)(uintptr_t)8, NULL);
    return r;
}

/* Register+release pairs by key in an indexed region: reps pairs. */
static void run_indexed_pair(const struct bench_impl *im,
                             const struct irow *row, const char *label)
{
    (void)im;
    uintptr_t *ring = malloc(row->per * sizeof *ring), next = 0;
    rgn_t *r = indexed(row, ring, &next);
    rgn_key_t k;
    for (int warm = 1; warm >= 0; warm--) {
        size_t reps = warm ? 1000 : row->reps;
        if (!warm)
            begin();
        for (size_t i = 0; i < reps; i++) {
            rgn_register(r, value_cleanup, (void *)(++next * 16), &k);
            rgn_release(r, k);
        }
    }
    end(label);
    rgn_close(r);
    free(ring);
}

/* bench's by-value row: the oldest released by its pointer and a new one
 * registered, round robin over per live: reps pairs. */
static void run_value_pair(const struct bench_impl *im, const struct irow *row,
                           const char *label)
{
    (void)im;
    uintptr_t *ring = malloc(row->per * sizeof *ring), next = 0;
    rgn_t *r = indexed(row, ring, &next);
    size_t head = 0;
    for (int warm = 1; warm >= 0; warm--) {
        size_t reps = warm ? 1000 : row->reps;
        if (!warm)
            begin();
        for (size_t i = 0; i < reps; i++) {
            rgn_release_value(r, value_cleanup, (void *)ring[head]);
            rgn_register(r, value_cleanup, (void *)(ring[head] = ++next * 16),
                         NULL);
            if (++head == row->per)
                head = 0;
        }
    }
    end(label);
    rgn_close(r);
    free(ring);
}

/* A region made, filled with per resources and closed, reps times: per
 * resource (per region for the empty one). */
static void run_fill_close(const struct bench_impl *im, const struct irow *row,
                           const char *label)
{
    for (int warm = 1; warm >= 0; warm--) {
        size_t reps = warm ? 100 : row->reps;
        if (!warm)
            begin();
        for (size_t j = 0; j < reps; j++) {
            void *s = im->create();
            for (size_t i = 0; i < row->per; i++)
                im->add(s, NULL);
            im->close(s);
        }
    }
    end(label);
}

static void regions_fill(const struct bench_impl *im, void **r, size_t regions,
                         size_t per)
{
    for (size_t j = 0; j < regions; j++)
        r[j] = im->create();
    for (size_t i = 0; i < per; i++)
        for (size_t j = 0; j < regions; j++)
            im->add(r[j], NULL);
}

static void regions_close(const struct bench_impl *im, void **r,
                          size_t regions)
{
    for (size_t j = 0; j < regions; j++)
        im->close(r[j]);
}

/* bench's server shape: all the regions made and filled, then closed
 * together, reps times after one cycle of warm-up; per resource. */
static void run_regions(const struct bench_impl *im, const struct irow *row,
                        const char *label)
{
    void **r = malloc(row->regions * sizeof *r);
    regions_fill(im, r, row->regions, row->per);
    regions_close(im, r, row->regions);
    begin();
    for (size_t k = 0; k < row->reps; k++) {
        regions_fill(im, r, row->regions, row->per);
        regions_close(im, r, row->regions);
    }
    end(label);
    free(r);
}

/* The same cycles with only the closes counted: collection is off while
 * the regions fill. */
static void run_close(const struct bench_impl *im, const struct irow *row,
                      const char *label)
{
    void **r = malloc(row->regions * sizeof *r);
    regions_fill(im, r, row->regions, row->per);
    regions_close(im, r, row->regions);
    begin();
    for (size_t k = 0; k < row->reps; k++) {
        CALLGRIND_TOGGLE_COLLECT;
        regions_fill(im, r, row->regions, row->per);
        CALLGRIND_TOGGLE_COLLECT;
        regions_close(im, r, row->regions);
    }
    end(label);
    free(r);
}

static const struct irow rows[] = {
    {"register+release, 1 live", "pair", run_pair, 1, 1, 200000, 0, 0},
    {"register+release, audit on", "pair", run_pair, 1, 1, 200000, 1, 0},
    {"register+release, audit 1/64", "pair", run_pair, 1, 1, 200000, 2, 0},
    {"register+release, shared", "pair", run_shared_pair, 1, 1, 200000, 0,
     0},
    {"fill+close, N=16", "resource", run_fill_close, 1, 16, 20000, 0, 0},
    {"create+close, empty", "region", run_fill_close, 1, 0, 100000, 0, 0},
    {"fill+close, 4096 regions of 1", "resource", run_regions, 4096, 1, 10, 0,
     0},
    {"close per resource, N=16", "resource", run_close, 1000, 16, 10, 0, 0},
    {"close per resource, N=1e3", "resource", run_close, 10, 1000, 10, 0, 0},
    {"close, 4096 regions of 1", "resource", run_close, 4096, 1, 10, 0, 0},
    {"pair, indexed region, N=1e3", "pair", run_indexed_pair, 1, 1000,
     200000, 0, 1},
    {"by value, oldest, N=1e3", "pair", run_value_pair, 1, 1000, 200000, 0,
     1},
};
#define NROWS (sizeof rows / sizeof rows[0])

static size_t ops(const struct irow *row)
{
    if (row->run == run_pair || row->run == run_shared_pair || row->value)
        return row->reps;
    return row->regions * (row->per ? row->per : 1) * row->reps;
}

static void *idle_thread(void *arg)
{
    return arg;
}

int main(int argc, char **argv)
{
    static const struct bench_impl *const impls[] = {
        &bench_rgn, &bench_rgn_audit, &bench_rgn_sample, &bench_floor,
        &bench_baseline};
    const struct bench_impl *im = NULL;
    for (size_t i = 0; argc == 2 && i < sizeof impls / sizeof impls[0]; i++)
        if (strcmp(argv[1], impls[i]->name) == 0)
            im = impls[i];
    if (!im) {
        fprintf(stderr, "usage: %s rgn|rgn+audit|rgn+sample|floor|baseline\n",
                argv[0]);
        return 2;
    }
    if (!HAVE_CALLGRIND) {
        fprintf(stderr, "%s: built without <valgrind/callgrind.h>\n", argv[0]);
        return 77;
    }
    /* As in bench: libc on its multi-threaded paths, as in the programs
     * rgn is for. */
    pthread_t t;
    if (pthread_create(&t, NULL, idle_thread, NULL) == 0)
        pthread_join(t, NULL);
    if (im->init)
        im->init();
    int audit = im == &bench_rgn_audit ? 1 : im == &bench_rgn_sample ? 2 : 0;
    for (size_t i = 0; i < NROWS; i++) {
        if (audit ? rows[i].audited != audit
                  : rows[i].audited && im == &bench_rgn)
            continue;
        if ((rows[i].value || rows[i].run == run_shared_pair) &&
            im != &bench_rgn)
            continue;
        char label[128];
        snprintf(label, sizeof label, "%zu|%s|%s|%zu", i, rows[i].name,
                 rows[i].unit, ops(&rows[i]));
        rows[i].run(im, &rows[i], label);
    }
    return 0;
}

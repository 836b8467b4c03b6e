/* SPDX-License-Identifier: MIT */
/*
 * value.c -- `make bench`'s rows of resources released by value: the
 * oldest of N released by its pointer and a new one registered, round
 * robin, with rgn_release_value (through the region's index) and with
 * APR's apr_pool_cleanup_run (which walks the pool's list, and is how
 * APR releases anyway); and, for the cost of keeping the index, rgn's
 * keyed pair of the same shape in a plain region and in an indexed one.
 *
 * A program of its own, so that bench/bench's code keeps its layout:
 * this machine's timings move by several percent with the alignment of
 * a loop.  As there: each round in a fresh child, the median of 7, the
 * implementations interleaved within a round, and ratios to read.
 *
 * Usage: value [--quick]
 */
#include <config.h>

#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef HAVE_APR
#include <apr_general.h>
#include <apr_pools.h>
#endif

#define ROUNDS 7

static int quick;
volatile uint64_t bench_cleaned;

static int count_cleanup(void *res, rgn_release_type how)
{
    (void)res;
    (void)how;
    bench_cleaned++;
    return 0;
}

#ifdef HAVE_APR
static apr_status_t apr_cleanup(void *data)
{
    (void)data;
    bench_cleaned++;
    return APR_SUCCESS;
}
#endif

/* The resources' pointers: distinct, never dereferenced. */
static void *nth(uintptr_t i)
{
    return (void *)(i * 16);
}

enum how { KEYED, INDEXED, BY_VALUE, APR, NHOW };
static const char *const names[NHOW] = {"rgn, by key", "rgn, indexed",
                                        "rgn, by value", "apr, by value"};

/* One round: time per pair, releasing the oldest of n and registering
 * another, for at most iters pairs or a time budget (APR's is O(n)). */
static double round_of(enum how how, size_t n, size_t iters)
{
    uintptr_t *ring = malloc(n * sizeof *ring), next = 0;
    rgn_key_t *key = malloc(n * sizeof *key);
#ifdef HAVE_APR
    apr_pool_t *pool = NULL;
    if (how == APR) {
        apr_initialize();
        apr_pool_create(&pool, NULL);
    }
#endif
    rgn_t *r = how == APR ? NULL : rgn_new();
    for (size_t i = 0; i < n; i++) {
        ring[i] = ++next;
        if (r)
            rgn_register(r, count_cleanup, nth(ring[i]), &key[i]);
#ifdef HAVE_APR
        else
            apr_pool_cleanup_register(pool, nth(ring[i]), apr_cleanup,
                                      apr_pool_cleanup_null);
#endif
    }
    if (how == INDEXED || how == BY_VALUE) /* builds the index */
        rgn_find(r, count_cleanup, nth(0), NULL);
    size_t head = 0, done = 0;
    double budget = quick ? 0.05e9 : 0.3e9, t = 0, t0 = now_ns();
    while (done < iters) {
        for (size_t b = 0; b < 1024; b++) {
            void *old = nth(ring[head]), *p = nth(ring[head] = ++next);
            switch (how) {
            case KEYED:
            case INDEXED:
                rgn_release(r, key[head]);
                rgn_register(r, count_cleanup, p, &key[head]);
                break;
            case BY_VALUE:
                rgn_release_value(r, count_cleanup, old);
                rgn_register(r, count_cleanup, p, NULL);
                break;
            default:
#ifdef HAVE_APR
                apr_pool_cleanup_run(pool, old, apr_cleanup);
                apr_pool_cleanup_register(pool, p, apr_cleanup,
                                          apr_pool_cleanup_null);
#endif
                break;
            }
            if (++head == n)
                head = 0;
        }
        done += 1024;
        if ((t = now_ns() - t0) > budget)
            break;
    }
    if (r)
        rgn_close(r);
#ifdef HAVE_APR
    if (pool)
        apr_pool_destroy(pool);
#endif
    free(key);
    free(ring);
    return t / (double)done;
}

struct round_call {
    enum how how;
    size_t n;
};

static double round_body(const void *arg)
{
    const struct round_call *c = arg;
    return round_of(c->how, c->n, quick ? 200000 : 2000000);
}

static double in_child(enum how how, size_t n)
{
    struct round_call c = {how, n};
    return bench_in_child(round_body, &c);
}

int main(int argc, char **argv)
{
    quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
#ifdef HAVE_APR
    int with_apr = 1;
#else
    int with_apr = 0;
#endif
    static const size_t ns[] = {1000, 100000};
    printf("\nby value: release the oldest of N by its pointer, register "
           "another; ns per pair\n\n%-26s", "case");
    for (int h = 0; h < NHOW; h++)
        printf(" %14s", names[h]);
    printf(" %9s %9s\n", "val/key", "val/apr");
    for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
        double v[NHOW][ROUNDS], med[NHOW];
        int rounds = quick ? 3 : ROUNDS;
        for (int k = 0; k < rounds; k++)
            for (int h = 0; h < NHOW; h++)
                v[h][k] = h == APR && !with_apr ? NAN : in_child(h, ns[c]);
        char name[64];
        snprintf(name, sizeof name, "oldest of N=%zu", ns[c]);
        printf("%-26s", name);
        for (int h = 0; h < NHOW; h++) {
            med[h] = isnan(v[h][0]) ? NAN : median(v[h], rounds);
            if (isnan(med[h]))
                printf(" %14s", "-");
            else
                printf(" %14.2f", med[h]);
        }
        printf(" %8.2fx", med[BY_VALUE] / med[KEYED]);
        if (isnan(med[APR]))
            printf(" %9s\n", "-");
        else
            printf(" %8.4fx\n", med[BY_VALUE] / med[APR]);
    }
    printf("\n\"rgn, indexed\" is the keyed pair in a region that a find has "
           "indexed:\nwhat keeping the index costs the region's other "
           "calls.\n");
    return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * sketch.c -- `make bench`, second part: the cost of one insert into the
 * lifetime sketch (lib/sketch.c, built into this program), for the
 * streams a region's lifetimes make: one repeated value (everything under
 * the clock's tick), ascending, uniform and log-normal values.  Each
 * figure is the median of 7 rounds of 10^6 inserts into a fresh sketch,
 * next to appending to an array, the least any record of the values costs.
 */
#include "sketch.h"

#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { N = 1000000, ROUNDS = 7 };

static uint64_t rng = 88172645463325252u;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fill(uint64_t *v, int kind)
{
    for (size_t i = 0; i < N; i++) {
        double u = ((double)(next() >> 11) + 0.5) / 9007199254740992.0;
        double w = ((double)(next() >> 11) + 0.5) / 9007199254740992.0;
        v[i] = kind == 0   ? 4000000
               : kind == 1 ? i * 1000
               : kind == 2 ? next() % 1000000000
                           : (uint64_t)exp(13 + 2 * sqrt(-2 * log(u)) *
                                                    cos(2 * M_PI * w));
    }
}

/* ns per insert; *held gets the items held at the end. */
static double sketch_round(const uint64_t *v, size_t *held)
{
    struct rgn_sketch s;
    rgn__sketch_init(&s);
    double t0 = now_ns();
    for (size_t i = 0; i < N; i++)
        rgn__sketch_add(&s, v[i]);
    double t = (now_ns() - t0) / N;
    *held = rgn__sketch_retained(&s);
    rgn__sketch_free(&s);
    return t;
}

static double array_round(const uint64_t *v)
{
    uint64_t *a = malloc(N * sizeof *a);
    double t0 = now_ns();
    for (size_t i = 0; i < N; i++)
        a[i] = v[i];
    __asm__ volatile("" : : "r"(a) : "memory");
    double t = (now_ns() - t0) / N;
    free(a);
    return t;
}

int main(void)
{
    static const char *names[] = {"one repeated value", "ascending",
                                  "uniform", "log-normal"};
    uint64_t *v = malloc(N * sizeof *v);
    if (!v)
        return 1;
    printf("\nlifetime sketch: ns per insert, median of %d rounds of 1e6\n",
           ROUNDS);
    printf("%-20s %10s %10s %8s %10s\n", "stream", "sketch", "array",
           "ratio", "items held");
    for (int kind = 0; kind < 4; kind++) {
        fill(v, kind);
        double s[ROUNDS], a[ROUNDS];
        size_t held = 0;
        for (int r = 0; r < ROUNDS; r++) {
            s[r] = sketch_round(v, &held);
            a[r] = array_round(v);
        }
        double ms = median(s, ROUNDS), ma = median(a, ROUNDS);
        printf("%-20s %10.2f %10.2f %7.1fx %10zu\n", names[kind], ms, ma,
               ms / ma, held);
    }
    free(v);
    return 0;
}

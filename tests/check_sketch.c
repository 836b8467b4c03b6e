/* SPDX-License-Identifier: MIT */
/* check_sketch.c -- the lifetime quantile sketch (lib/sketch.c), built
 * into this binary from the library's sources: accuracy against exact
 * quantiles, bounded memory on adversarial streams, merging, and running
 * out of memory.  RGN_SOAK_CYCLES shortens the 10^8-item stream under
 * valgrind and the sanitizers. */
#include "sketch.h"

#include "helpers.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The sketch's stated accuracy (sketch.h): the true rank of the value
 * returned for q is within EPS * (1 - q) * n of q * n. */
#define EPS 0.2

static uint64_t rng_state;

static uint64_t next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static double unit(void) /* in (0, 1) */
{
    return ((double)(next() >> 11) + 0.5) / 9007199254740992.0;
}

enum dist { UNIFORM, LOGNORMAL, PARETO };

static uint64_t draw(enum dist d)
{
    switch (d) {
    case UNIFORM:
        return next() % 1000000000u;
    case LOGNORMAL: { /* lifetimes around 0.4 ms, spread over decades */
        double z = sqrt(-2 * log(unit())) * cos(2 * M_PI * unit());
        return (uint64_t)exp(13 + 2 * z);
    }
    default: /* Pareto, alpha 1.1: a heavy tail with a barely finite mean */
        return (uint64_t)(1000.0 / pow(unit(), 1 / 1.1));
    }
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* How far (in units of (1 - q) * n) the value v is from rank q of the
 * sorted exact[0..n): 0 when some copy of v sits at rank q. */
static double rank_error(const uint64_t *exact, size_t n, double q,
                         uint64_t v)
{
    size_t below = 0, upto = 0, lo, hi;
    for (lo = 0, hi = n; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;
        if (exact[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    below = lo;
    for (lo = below, hi = n; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;
        if (exact[mid] <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    upto = lo;
    double want = q * (double)n, err = 0;
    if (want < (double)below)
        err = (double)below - want;
    else if (want > (double)upto)
        err = want - (double)upto;
    return err / ((1 - q) * (double)n);
}

static const double quantiles[] = {0.5, 0.9, 0.99, 0.999};

static void check_accuracy(const struct rgn_sketch *s, uint64_t *exact,
                           size_t n, const char *what)
{
    qsort(exact, n, sizeof *exact, by_value);
    ck_assert_uint_eq(rgn__sketch_count(s), n);
    for (size_t j = 0; j < sizeof quantiles / sizeof *quantiles; j++) {
        double q = quantiles[j];
        uint64_t v = rgn__sketch_quantile(s, q);
        double e = rank_error(exact, n, q, v);
        ck_assert_msg(e <= EPS, "%s: p%g = %llu is %.3f (1-q)n off rank "
                      "(allowed %.2f)", what, 100 * q,
                      (unsigned long long)v, e, EPS);
    }
    ck_assert_uint_eq(rgn__sketch_quantile(s, 1), exact[n - 1]);
    ck_assert_uint_eq(rgn__sketch_quantile(s, 0), exact[0]);
}

static uint64_t long_stream(void);

/* full, or reduced under valgrind and the sanitizers (which set
 * RGN_SOAK_CYCLES). */
static size_t scaled(size_t full, size_t reduced)
{
    return long_stream() >= 100000000u ? full : reduced;
}

static void accuracy_of(enum dist d, const char *what)
{
    const size_t ACCURACY_N = scaled(300000, 60000);
    uint64_t *exact = malloc(ACCURACY_N * sizeof *exact);
    ck_assert_ptr_nonnull(exact);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        rng_state = 0x9E3779B97F4A7C15u * seed;
        struct rgn_sketch s;
        rgn__sketch_init(&s);
        size_t failed = 0; /* counted: see stream_bounded */
        for (size_t i = 0; i < ACCURACY_N; i++) {
            exact[i] = draw(d);
            failed += !rgn__sketch_add(&s, exact[i]);
        }
        ck_assert_uint_eq(failed, 0);
        check_accuracy(&s, exact, ACCURACY_N, what);
        rgn__sketch_free(&s);
    }
    free(exact);
}

START_TEST(accurate_on_uniform)
{
    accuracy_of(UNIFORM, "uniform");
}
END_TEST

START_TEST(accurate_on_lognormal)
{
    accuracy_of(LOGNORMAL, "log-normal");
}
END_TEST

START_TEST(accurate_on_heavy_tail)
{
    accuracy_of(PARETO, "Pareto 1.1");
}
END_TEST

START_TEST(exact_while_small)
{
    /* Below its first compaction the sketch holds every item. */
    struct rgn_sketch s;
    rgn__sketch_init(&s);
    ck_assert_uint_eq(rgn__sketch_quantile(&s, 0.5), 0);
    ck_assert_uint_eq(rgn__sketch_rank(&s, 100), 0);
    for (uint64_t i = 0; i < 40; i++)
        ck_assert(rgn__sketch_add(&s, (i * 17) % 40 + 1)); /* 1..40 */
    ck_assert_uint_eq(rgn__sketch_retained(&s), 40);
    ck_assert_uint_eq(rgn__sketch_quantile(&s, 0.5), 20);
    ck_assert_uint_eq(rgn__sketch_quantile(&s, 0.9), 36);
    ck_assert_uint_eq(rgn__sketch_quantile(&s, 1), 40);
    ck_assert_uint_eq(rgn__sketch_quantile(&s, 0), 1);
    ck_assert_uint_eq(rgn__sketch_rank(&s, 10), 10);
    ck_assert_uint_eq(rgn__sketch_rank(&s, 0), 0);
    ck_assert(rgn__sketch_sum(&s) == 820.0);
    rgn__sketch_free(&s);
    ck_assert_uint_eq(rgn__sketch_count(&s), 0);
    ck_assert_uint_eq(rgn__sketch_bytes(&s), 0);
}
END_TEST

START_TEST(sum_does_not_wrap)
{
    struct rgn_sketch s;
    rgn__sketch_init(&s);
    for (int i = 0; i < 1000; i++)
        ck_assert(rgn__sketch_add(&s, UINT64_MAX / 2));
    double want = 1000.0 * (double)(UINT64_MAX / 2);
    ck_assert(fabs(rgn__sketch_sum(&s) - want) <= want * 1e-12);
    ck_assert_uint_eq(rgn__sketch_quantile(&s, 0.99), UINT64_MAX / 2);
    rgn__sketch_free(&s);
}
END_TEST

/* The items a sketch of n inserts may hold: one level per doubling past
 * the first, each at most 2 * 6 * 4 = 48 items, plus the batch level 0
 * collects before compacting.  Logarithmic in n. */
static size_t bound(uint64_t n)
{
    size_t levels = 1;
    while ((24ull << levels) < n)
        levels++;
    return 48 * (levels + 1) + RGN_SKETCH_STAGE;
}

enum stream { SAME, ASCENDING, DESCENDING, ALTERNATING };

static uint64_t item(enum stream k, uint64_t i)
{
    switch (k) {
    case SAME:
        return 42;
    case ASCENDING:
        return i;
    case DESCENDING:
        return UINT64_MAX - i;
    default:
        return i & 1 ? 1u << 20 : i;
    }
}

/* Streams n items of kind k, checking at every doubling that the items
 * and bytes held stay within the logarithmic bound; returns the most
 * items ever held. */
static size_t stream_bounded(enum stream k, uint64_t n)
{
    struct rgn_sketch s;
    rgn__sketch_init(&s);
    size_t most = 0;
    /* Failed inserts are counted, not asserted one by one: every Check
     * assertion is a message to the parent process, and 10^8 of them
     * took most of the five minutes this case may run. */
    uint64_t failed = 0;
    for (uint64_t i = 0, check = 1; i < n; i++) {
        failed += !rgn__sketch_add(&s, item(k, i));
        if (rgn__sketch_retained(&s) > most)
            most = rgn__sketch_retained(&s);
        if (i + 1 == check || i + 1 == n) {
            ck_assert_msg(most <= bound(i + 1), "%zu items held after %llu "
                          "inserts (bound %zu)", most,
                          (unsigned long long)(i + 1), bound(i + 1));
            /* Each level's buffer has at most half again its most
             * items as slack; a level may briefly hold more than its
             * share while others hold less. */
            ck_assert_uint_le(rgn__sketch_bytes(&s),
                              3 * 8 * bound(i + 1) +
                                  s.lv_cap * sizeof *s.lv);
            check *= 2;
        }
    }
    ck_assert_uint_eq(failed, 0);
    ck_assert_uint_eq(rgn__sketch_count(&s), n);
    ck_assert_uint_eq(rgn__sketch_rank(&s, UINT64_MAX), n);
    if (k == SAME) {
        ck_assert_uint_eq(rgn__sketch_quantile(&s, 0.5), 42);
        ck_assert_uint_eq(rgn__sketch_quantile(&s, 0.999), 42);
    }
    rgn__sketch_free(&s);
    return most;
}

static uint64_t long_stream(void)
{
    const char *env = getenv("RGN_SOAK_CYCLES");
    return env ? strtoull(env, NULL, 10) : 100000000u;
}

START_TEST(one_value_1e8_times_holds_about_1000)
{
    /* The stream that made CKMS summaries keep every observation. */
    uint64_t n = long_stream();
    size_t most = stream_bounded(SAME, n);
    if (n >= 100000000u)
        ck_assert_msg(most <= 1050, "%zu items held after 1e8 inserts",
                      most);
}
END_TEST

START_TEST(monotonic_and_alternating_streams_stay_bounded)
{
    uint64_t n = long_stream() / 10;
    stream_bounded(ASCENDING, n);
    stream_bounded(DESCENDING, n);
    stream_bounded(ALTERNATING, n);
}
END_TEST

START_TEST(ascending_stream_top_is_exact)
{
    /* High-rank accuracy: the largest values are kept exactly. */
    const uint64_t n = scaled(1000000, 100000);
    struct rgn_sketch s;
    rgn__sketch_init(&s);
    uint64_t failed = 0; /* counted: see stream_bounded */
    for (uint64_t i = 1; i <= n; i++)
        failed += !rgn__sketch_add(&s, i);
    ck_assert_uint_eq(failed, 0);
    ck_assert_uint_eq(rgn__sketch_quantile(&s, 1), n);
    ck_assert_uint_eq(rgn__sketch_rank(&s, n - 10), n - 10);
    ck_assert_uint_eq(rgn__sketch_rank(&s, n - 1), n - 1);
    uint64_t p50 = rgn__sketch_quantile(&s, 0.5);
    ck_assert_uint_le(p50 > n / 2 ? p50 - n / 2 : n / 2 - p50,
                      (uint64_t)(EPS * (double)(n / 2)));
    rgn__sketch_free(&s);
}
END_TEST

START_TEST(merge_stays_accurate)
{
    /* Two sketches of different shapes (a region and its child, say):
     * the merge answers for the union. */
    const size_t N = scaled(200000, 50000);
    uint64_t *exact = malloc(2 * N * sizeof *exact);
    ck_assert_ptr_nonnull(exact);
    rng_state = 12345;
    struct rgn_sketch a, b, empty;
    rgn__sketch_init(&a);
    rgn__sketch_init(&b);
    rgn__sketch_init(&empty);
    size_t failed = 0; /* counted: see stream_bounded */
    for (size_t i = 0; i < N; i++) {
        exact[i] = draw(LOGNORMAL);
        exact[N + i] = draw(PARETO);
        failed += !rgn__sketch_add(&a, exact[i]);
        failed += !rgn__sketch_add(&b, exact[N + i]);
    }
    ck_assert_uint_eq(failed, 0);
    double sum_a = rgn__sketch_sum(&a), sum_b = rgn__sketch_sum(&b);
    uint64_t max_a = rgn__sketch_max(&a), max_b = rgn__sketch_max(&b);
    ck_assert_int_eq(rgn__sketch_merge(&a, &empty), 0);
    ck_assert_uint_eq(rgn__sketch_count(&a), N);
    ck_assert_int_eq(rgn__sketch_merge(&a, &b), 0);
    ck_assert_uint_le(rgn__sketch_retained(&a), bound(2 * N));
    ck_assert(fabs(rgn__sketch_sum(&a) - (sum_a + sum_b)) <=
              1e-12 * (sum_a + sum_b));
    ck_assert_uint_eq(rgn__sketch_max(&a), max_a > max_b ? max_a : max_b);
    
    check_accuracy(&a, exact, 2 * N, "merged");

    /* Into an empty sketch, a merge is a copy. */
    ck_assert_int_eq(rgn__sketch_merge(&empty, &b), 0);
    ck_assert_uint_eq(rgn__sketch_count(&empty), rgn__sketch_count(&b));
    ck_assert_uint_eq(rgn__sketch_quantile(&empty, 0.99),
                      rgn__sketch_quantile(&b, 0.99));
    rgn__sketch_free(&a);
    rgn__sketch_free(&b);
    rgn__sketch_free(&empty);
    free(exact);
}
END_TEST

START_TEST(many_small_merges_stay_accurate)
{
    /* Per-site rollups: many small sketches folded into one. */
    const size_t PARTS = scaled(300, 60), EACH = 1000;
    uint64_t *exact = malloc(PARTS * EACH * sizeof *exact);
    ck_assert_ptr_nonnull(exact);
    rng_state = 777;
    struct rgn_sketch total;
    rgn__sketch_init(&total);
    for (size_t p = 0; p < PARTS; p++) {
        struct rgn_sketch part;
        rgn__sketch_init(&part);
        size_t failed = 0; /* counted: see stream_bounded */
        for (size_t i = 0; i < EACH; i++) {
            exact[p * EACH + i] = draw(p % 2 ? UNIFORM : LOGNORMAL);
            failed += !rgn__sketch_add(&part, exact[p * EACH + i]);
        }
        ck_assert_uint_eq(failed, 0);
        ck_assert_int_eq(rgn__sketch_merge(&total, &part), 0);
        rgn__sketch_free(&part);
    }
    ck_assert_uint_le(rgn__sketch_retained(&total), bound(PARTS * EACH));
    check_accuracy(&total, exact, PARTS * EACH, "rolled up");
    rgn__sketch_free(&total);
    free(exact);
}
END_TEST

START_TEST(out_of_memory_loses_only_the_new_item)
{
    ck_assert_int_eq(rgn_set_allocator(&tight_allocator), 0);
    for (long allowed = 0; allowed < 40; allowed++) {
        tight_budget = allowed;
        struct rgn_sketch s;
        rgn__sketch_init(&s);
        uint64_t counted = 0;
        for (uint64_t i = 0; i < 20000; i++)
            counted += rgn__sketch_add(&s, i % 977);
        /* Whatever was refused was not counted; what was is all there. */
        ck_assert_uint_eq(rgn__sketch_count(&s), counted);
        ck_assert_uint_eq(rgn__sketch_rank(&s, UINT64_MAX), counted);
        ck_assert_uint_le(rgn__sketch_retained(&s),
                          bound(counted ? counted : 1));

        tight_budget = allowed;
        struct rgn_sketch into;
        rgn__sketch_init(&into);
        for (uint64_t i = 0; i < 100 && tight_budget > 0; i++)
            rgn__sketch_add(&into, i);
        uint64_t before = rgn__sketch_count(&into);
        uint64_t rank = rgn__sketch_rank(&into, 50);
        int rc = rgn__sketch_merge(&into, &s);
        if (rc) {
            ck_assert_int_eq(rc, -ENOMEM);
            ck_assert_uint_eq(rgn__sketch_count(&into), before);
            ck_assert_uint_eq(rgn__sketch_rank(&into, 50), rank);
        } else {
            ck_assert_uint_eq(rgn__sketch_count(&into),
                              before + rgn__sketch_count(&s));
        }
        rgn__sketch_free(&s);
        rgn__sketch_free(&into);
    }
    ck_assert_int_eq(rgn_set_allocator(NULL), 0);
}
END_TEST

static Suite *sketch_suite(void)
{
    Suite *s = suite_create("sketch");
    TCase *t = tcase_create("accuracy");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, exact_while_small);
    tcase_add_test(t, sum_does_not_wrap);
    tcase_add_test(t, accurate_on_uniform);
    tcase_add_test(t, accurate_on_lognormal);
    tcase_add_test(t, accurate_on_heavy_tail);
    tcase_add_test(t, ascending_stream_top_is_exact);
    tcase_add_test(t, merge_stays_accurate);
    tcase_add_test(t, many_small_merges_stay_accurate);
    suite_add_tcase(s, t);
    t = tcase_create("memory");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, one_value_1e8_times_holds_about_1000);
    tcase_add_test(t, monotonic_and_alternating_streams_stay_bounded);
    tcase_add_test(t, out_of_memory_loses_only_the_new_item);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suites(sketch_suite(), NULL);
}

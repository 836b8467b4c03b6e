/* SPDX-License-Identifier: MIT */
/* check_stats.c -- rgn_get_stats: exact counters (lib/stats.c). */
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <pthread.h>

static rgn_stats stats_of(rgn_t *r)
{
    rgn_stats s;
    ck_assert_int_eq(rgn_get_stats(r, &s), 0);
    /* The invariant every test relies on, checked at every read. */
    ck_assert_uint_eq(s.registered, s.live + s.released_early + s.removed);
    ck_assert_uint_eq(s.live, rgn_live(r));
    ck_assert_uint_ge(s.peak, s.live);
    return s;
}

static int fails(void *res, rgn_release_type how)
{
    (void)res;
    (void)how;
    return -EIO;
}

static int acquire_ok(void *arg, void **out)
{
    *out = arg;
    return 0;
}

static int acquire_fails(void *arg, void **out)
{
    (void)arg;
    (void)out;
    return -EAGAIN;
}

START_TEST(new_region_counts_nothing)
{
    rgn_t *r = rgn_new();
    rgn_stats s = stats_of(r);
    ck_assert_uint_eq(s.live, 0);
    ck_assert_uint_eq(s.peak, 0);
    ck_assert_uint_eq(s.registered, 0);
    ck_assert_uint_eq(s.cleanup_errors, 0);
    ck_assert_uint_eq(s.lifetime_ns[3], 0); /* not tracked (lifetime.c) */
    ck_assert_uint_eq(s.lifetime_retained, 0);
    rgn_close(r);
}
END_TEST

START_TEST(every_call_is_counted_where_it_belongs)
{
    rgn_t *r = rgn_new(), *other = rgn_new();
    rgn_key_t k[10];
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k[i]), 0);
    rgn_stats s = stats_of(r);
    ck_assert_uint_eq(s.registered, 10);
    ck_assert_uint_eq(s.peak, 10);

    ck_assert_int_eq(rgn_release(r, k[0]), 0);
    ck_assert_int_eq(rgn_release(r, k[0]), -ENOENT); /* not counted twice */
    ck_assert_int_eq(rgn_unprotect(r, k[1], NULL, NULL), 0);
    ck_assert_int_eq(rgn_move(r, k[2], other, NULL), 0);
    void *res;
    ck_assert_int_eq(rgn_allocate(r, acquire_ok, &res, noop_cleanup, &res, NULL),
                     0);
    ck_assert_int_eq(rgn_allocate(r, acquire_fails, NULL, noop_cleanup, NULL,
                                  NULL), -EAGAIN);
    rgn_t *c = rgn_new_child(r);
    ck_assert_ptr_nonnull(c);

    s = stats_of(r);
    ck_assert_uint_eq(s.registered, 12); /* 10 + allocate + child */
    ck_assert_uint_eq(s.live, 9);
    ck_assert_uint_eq(s.released_early, 1);
    ck_assert_uint_eq(s.removed, 2);
    ck_assert_uint_eq(s.peak, 10);

    /* A child closed first leaves its parent: removed, not released. */
    ck_assert_int_eq(rgn_close(c), 0);
    s = stats_of(r);
    ck_assert_uint_eq(s.removed, 3);
    ck_assert_uint_eq(s.live, 8);

    rgn_stats o = stats_of(other);
    ck_assert_uint_eq(o.registered, 1); /* the move in */
    ck_assert_uint_eq(o.live, 1);
    rgn_close(other);
    rgn_close(r);
}
END_TEST

START_TEST(failed_calls_count_nothing)
{
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k), 0);
    rgn_stats before = stats_of(r);
    ck_assert_int_eq(rgn_release(r, RGN_KEY_NONE), -ENOENT);
    ck_assert_int_eq(rgn_unprotect(r, RGN_KEY_NONE, NULL, NULL), -ENOENT);
    ck_assert_int_eq(rgn_move(r, RGN_KEY_NONE, r, NULL), -ENOENT);
    ck_assert_int_eq(rgn_register(r, NULL, NULL, NULL), -EINVAL);
    rgn_stats after = stats_of(r);
    ck_assert_mem_eq(&before, &after, sizeof before);
    rgn_close(r);
}
END_TEST

START_TEST(peak_is_the_high_water_mark)
{
    rgn_t *r = rgn_new();
    rgn_key_t k[50];
    for (int round = 0; round < 3; round++) {
        int n = round == 1 ? 50 : 20;
        for (int i = 0; i < n; i++)
            ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k[i]), 0);
        for (int i = 0; i < n; i++)
            ck_assert_int_eq(rgn_release(r, k[i]), 0);
    }
    rgn_stats s = stats_of(r);
    ck_assert_uint_eq(s.peak, 50);
    ck_assert_uint_eq(s.live, 0);
    ck_assert_uint_eq(s.registered, 90);
    ck_assert_uint_eq(s.released_early, 90);
    rgn_close(r);
}
END_TEST

START_TEST(cleanup_errors_count_failed_cleanups)
{
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, fails, NULL, &k), 0);
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    ck_assert_int_eq(rgn_release(r, k), -EIO);
    rgn_stats s = stats_of(r);
    ck_assert_uint_eq(s.cleanup_errors, 1);
    rgn_close(r);
}
END_TEST

/* From a cleanup of the closing region: the close's own work is the gap. */
struct during {
    rgn_t *r;
    rgn_stats s;
    int rc;
};

static int read_stats(void *arg, rgn_release_type how)
{
    (void)how;
    struct during *d = arg;
    d->rc = rgn_get_stats(d->r, &d->s);
    return 0;
}

START_TEST(stats_from_a_cleanup_during_close)
{
    struct during d = {rgn_new(), {0}, -1};
    ck_assert_int_eq(rgn_register(d.r, read_stats, &d, NULL), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rgn_register(d.r, noop_cleanup, NULL, NULL), 0);
    ck_assert_int_eq(rgn_close(d.r), 0);
    ck_assert_int_eq(d.rc, 0);
    ck_assert_uint_eq(d.s.registered, 4);
    ck_assert_uint_eq(d.s.live, 0);
    ck_assert_uint_eq(d.s.registered - d.s.live - d.s.released_early -
                          d.s.removed, 4);
}
END_TEST

/* rgn_clear ran cleanups and counted them as closed, so an open region
 * broke registered == live + released_early + removed after its first
 * clear (3 != 0 here).  The counters now describe the region since the
 * clear; peak and cleanup_errors keep counting from its creation.  Both
 * of the clear's paths: with cleanups to run, and the empty region's. */
START_TEST(counters_start_again_at_a_clear)
{
    rgn_t *r = rgn_new();
    rgn_key_t k[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(rgn_register(r, i == 3 ? fails : noop_cleanup, NULL,
                                      &k[i]), 0);
    ck_assert_int_eq(rgn_release(r, k[0]), 0);
    ck_assert_int_eq(rgn_unprotect(r, k[1], NULL, NULL), 0);
    ck_assert_int_eq(rgn_clear(r), -EIO);
    rgn_stats s = stats_of(r);
    ck_assert_uint_eq(s.registered, 0);
    ck_assert_uint_eq(s.released_early, 0);
    ck_assert_uint_eq(s.removed, 0);
    ck_assert_uint_eq(s.peak, 4);
    ck_assert_uint_eq(s.cleanup_errors, 1);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k[i]), 0);
    ck_assert_int_eq(rgn_release(r, k[0]), 0);
    s = stats_of(r);
    ck_assert_uint_eq(s.registered, 2);
    ck_assert_uint_eq(s.released_early, 1);
    /* Nothing live: the clear has no cleanup to run. */
    ck_assert_int_eq(rgn_release(r, k[1]), 0);
    ck_assert_int_eq(rgn_clear(r), 0);
    s = stats_of(r);
    ck_assert_uint_eq(s.registered, 0);
    ck_assert_uint_eq(s.released_early, 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* The same for a region that takes its lock (shared), whose clear runs
 * the cleanups between lock and unlock. */
START_TEST(counters_start_again_at_a_clear_of_a_shared_region)
{
    rgn_t *r = rgn_new();
    ck_assert_ptr_eq(rgn_share(r), r);
    rgn_key_t k[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k[i]), 0);
    ck_assert_int_eq(rgn_release(r, k[0]), 0);
    ck_assert_int_eq(rgn_clear(r), 0);
    rgn_stats s = stats_of(r);
    ck_assert_uint_eq(s.registered, 0);
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    s = stats_of(r);
    ck_assert_uint_eq(s.registered, 1);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

START_TEST(bad_input)
{
    rgn_stats s;
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_get_stats(NULL, &s), -EINVAL);
    ck_assert_int_eq(rgn_get_stats(r, NULL), -EINVAL);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* Threads registering and releasing on one shared region: the counters
 * add up exactly. */
#define THREADS 4
#define OPS 20000

static void *churn(void *arg)
{
    rgn_t *r = arg;
    rgn_key_t keep[OPS / 100];
    int kept = 0;
    for (int i = 0; i < OPS; i++) {
        rgn_key_t k;
        if (rgn_register(r, noop_cleanup, NULL, &k) != 0)
            return (void *)1;
        if (i % 100 == 0)
            keep[kept++] = k;
        else if (rgn_release(r, k) != 0)
            return (void *)1;
    }
    (void)keep;
    rgn_close(r);
    return NULL;
}

START_TEST(counters_are_exact_across_threads)
{
    rgn_t *r = rgn_new();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ck_assert_ptr_eq(rgn_share(r), r);
        ck_assert_int_eq(pthread_create(&t[i], NULL, churn, r), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        ck_assert_ptr_null(rv);
    }
    rgn_stats s = stats_of(r);
    ck_assert_uint_eq(s.registered, THREADS * OPS);
    ck_assert_uint_eq(s.live, THREADS * OPS / 100);
    ck_assert_uint_eq(s.released_early, THREADS * OPS / 100 * 99);
    ck_assert_uint_ge(s.peak, s.live);
    ck_assert_uint_le(s.peak, s.live + THREADS);
    rgn_close(r);
}
END_TEST

/* Bytes: what rgn_malloc & co. and rgn_register_sized give, counted in
 * a region that keeps records through realloc, free, move and clear;
 * none in one that keeps none; the arena's always. */
START_TEST(bytes_follow_sized_resources)
{
    rgn_t *r = rgn_new();
    rgn_stats st;
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    char *a = rgn_malloc(r, 100);
    char *b = rgn_strdup(r, "seven!");
    rgn_key_t k;
    ck_assert_int_eq(rgn_register_sized(r, noop_cleanup, NULL, &k, 4096), 0);
    ck_assert_int_eq(rgn_get_stats(r, &st), 0);
    ck_assert_uint_eq(st.bytes, 100 + 7 + 4096);
    a = rgn_realloc(r, a, 1000);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(rgn_get_stats(r, &st), 0);
    ck_assert_uint_eq(st.bytes, 1000 + 7 + 4096);
    ck_assert_int_eq(rgn_free(r, b), 0);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert_int_eq(rgn_get_stats(r, &st), 0);
    ck_assert_uint_eq(st.bytes, 1000);
    rgn_t *to = audited_region(NULL);
    ck_assert_int_eq(rgn_move(r, rgn_mem_key(a), to, NULL), 0);
    ck_assert_int_eq(rgn_get_stats(r, &st), 0);
    ck_assert_uint_eq(st.bytes, 0);
    ck_assert_int_eq(rgn_get_stats(to, &st), 0);
    ck_assert_uint_eq(st.bytes, 1000);
    ck_assert_ptr_nonnull(rgn_malloc(to, 24));
    ck_assert_int_eq(rgn_clear(to), 0);
    ck_assert_int_eq(rgn_get_stats(to, &st), 0);
    ck_assert_uint_eq(st.bytes, 0);
    /* The arena: what it holds, in any region. */
    rgn_t *plain = rgn_new();
    ck_assert_int_eq(rgn_get_stats(plain, &st), 0);
    ck_assert_uint_eq(st.arena_bytes, 0);
    char *ten = rgn_alloc(plain, 10);
    ck_assert_ptr_nonnull(ten);
    ck_assert_int_eq(rgn_get_stats(plain, &st), 0);
    /* Without a memory tool the next allocation follows at once.  Under
     * ASan or memcheck a red zone of 16 bytes comes before the area's
     * first allocation and after each (the 10 bytes take 32), and one
     * more byte starts a chunk. */
    char *next = rgn_alloc(plain, 1);
    ck_assert_ptr_nonnull(next);
    ck_assert_msg(next == ten + st.arena_bytes || st.arena_bytes == 16 + 32,
                  "arena_bytes %" PRIu64 ", next at %td", st.arena_bytes,
                  next - ten);
    ck_assert_uint_ge(st.arena_bytes, 16);
    ck_assert_ptr_nonnull(rgn_alloc(plain, 5000));
    ck_assert_int_eq(rgn_get_stats(plain, &st), 0);
    ck_assert_uint_ge(st.arena_bytes, 5000);
    ck_assert_ptr_nonnull(rgn_malloc(plain, 64)); /* no records: no bytes */
    ck_assert_int_eq(rgn_get_stats(plain, &st), 0);
    ck_assert_uint_eq(st.bytes, 0);
    ck_assert_int_eq(rgn_close(plain), 0);
    ck_assert_int_eq(rgn_close(to), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* Sampled sites: what a region holds stays exact, a site's count is an
 * estimate (marked ~) near the truth, and rate 1 records every site. */
START_TEST(sampled_sites_keep_region_counts_exact)
{
    ck_assert_int_eq(rgn_audit_set_sample(16), 0);
    rgn_t *r = audited_region(NULL);
    const struct rgn_site *site = rgn_site_make("sampled.c", 1, "f");
    rgn_key_t k[16000];
    for (int i = 0; i < 16000; i++)
        ck_assert_int_eq(rgn_register_sized_at(r, noop_cleanup, NULL, &k[i],
                                               10, site),
                         0);
    for (int i = 0; i < 8000; i++) /* half of them go */
        ck_assert_int_eq(rgn_release(r, k[2 * i]), 0);
    rgn_stats st;
    ck_assert_int_eq(rgn_get_stats(r, &st), 0);
    ck_assert_uint_eq(st.live, 8000);
    ck_assert_uint_eq(st.bytes, 80000);
    static struct capture c;
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)), 8000);
    const char *p = strstr(c.text, "sampled.c:1: f(): ~");
    ck_assert_msg(p != NULL, "%s", c.text);
    long est = strtol(p + strlen("sampled.c:1: f(): ~"), NULL, 10);
    ck_assert_msg(est > 6000 && est < 10000, "estimate %ld: %s", est, c.text);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

/* What an open region holds is counted exactly in its report, sampled
 * or not: the sites' lines are the estimates.  It was the sum of the
 * estimates -- 64 times the sampled ones, never 1000. */
START_TEST(open_report_counts_a_sampled_region_exactly)
{
    ck_assert_int_eq(rgn_audit_set_sample(64), 0);
    static struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    rgn_t *r = audited_region(NULL);
    rgn_key_t k;
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(
            rgn_register_labeled(r, noop_cleanup, NULL, NULL, "kept"), 0);
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k), 0);
    ck_assert_int_eq(rgn_expect_close(r, k), 0); /* not a leak */
    ck_assert_int_eq(rgn_audit_report_open(), 1000);
    ck_assert_msg(strstr(c.text, "holds 1000 live resources") != NULL, "%s",
                  c.text);
    ck_assert_msg(strstr(c.text, "leak summary: 1000 live resources in 1 "
                                 "audited region") != NULL,
                  "%s", c.text);
    ck_assert_msg(strstr(c.text, "\"kept\": ~") != NULL, "%s", c.text);
    rgn_audit_set_sink(NULL, NULL);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

/* A close reports what was left even when none of it was sampled: the
 * region's count is exact.  It reported nothing (a region's first
 * registration is sampled; here it is expected at close). */
START_TEST(close_reports_leaks_none_of_them_sampled)
{
    ck_assert_int_eq(rgn_audit_set_sample(1u << 20), 0);
    static struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    rgn_t *r = audited_region("unsampled");
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k), 0);
    ck_assert_int_eq(rgn_expect_close(r, k), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_msg(strstr(c.text, "rgn: leak summary: 5 live resources at "
                                 "close of region \"unsampled\"") != NULL,
                  "%s", c.text);
    rgn_audit_set_sink(NULL, NULL);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
}
END_TEST

/* A rate past RGN_AUDIT_SAMPLE's range is refused and changes nothing:
 * it was taken, and doubled in 32 bits where the gaps are drawn. */
START_TEST(sample_rate_out_of_range_is_refused)
{
    ck_assert_int_eq(rgn_audit_set_sample(UINT_MAX), -EINVAL);
    ck_assert_int_eq(rgn_audit_set_sample((1u << 20) + 1), -EINVAL);
    rgn_t *r = audited_region(NULL);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(
            rgn_register_labeled(r, noop_cleanup, NULL, NULL, "each"), 0);
    static struct capture c;
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)), 100);
    ck_assert_msg(strstr(c.text, "\"each\": 100 live") != NULL, "%s",
                  c.text); /* every one recorded: no estimate */
    ck_assert_int_eq(rgn_audit_set_sample(1u << 20), 0);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

/* Lean resources -- unsampled plain registrations, which a sampled
 * region links without its lock (lib/audit.h) -- have no record, yet the
 * region's counts stay exact, the site's estimate near, and one that is
 * then expected at close, or moved, is what a recorded unsampled one is:
 * expected, or unsampled where it went (not of unknown site). */
START_TEST(lean_resources_keep_region_counts_exact)
{
    ck_assert_int_eq(rgn_audit_set_sample(16), 0);
    rgn_t *r = audited_region(NULL), *to = audited_region(NULL);
    enum { N = 16000 };
    static rgn_key_t k[N];
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(
            rgn_register_labeled(r, noop_cleanup, NULL, &k[i], "lean"), 0);
    for (int i = 0; i < N / 2; i++) /* half of them go */
        ck_assert_int_eq(rgn_release(r, k[2 * i]), 0);
    rgn_stats st = stats_of(r);
    ck_assert_uint_eq(st.live, N / 2);
    ck_assert_uint_eq(st.registered, N);
    ck_assert_uint_eq(st.released_early, N / 2);
    static struct capture c;
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)),
                     N / 2);
    const char *p = strstr(c.text, "\"lean\": ~");
    ck_assert_msg(p != NULL, "%s", c.text);
    long est = strtol(p + strlen("\"lean\": ~"), NULL, 10);
    ck_assert_msg(est > 6000 && est < 10000, "estimate %ld: %s", est, c.text);
    /* Expected at close: no longer counted as a possible leak. */
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(rgn_expect_close(r, k[2 * i + 1]), 0);
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)),
                     N / 2 - 100);
    /* Moved: counted in the region they went to, of no unknown site. */
    for (int i = 100; i < 150; i++) {
        rgn_key_t moved;
        ck_assert_int_eq(rgn_move(r, k[2 * i + 1], to, &moved), 0);
    }
    ck_assert_uint_eq(stats_of(r).live, N / 2 - 50);
    ck_assert_uint_eq(stats_of(to).live, 50);
    ck_assert_int_eq(rgn_audit_dump(to, rgn_ck_buf_sink, capturing(&c)), 50);
    ck_assert_msg(strstr(c.text, "unknown site") == NULL, "%s", c.text);
    /* Released after all that, each once. */
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(rgn_release(r, k[2 * i + 1]), 0);
    for (int i = 150; i < N / 2; i++)
        ck_assert_int_eq(rgn_release(r, k[2 * i + 1]), 0);
    ck_assert_uint_eq(stats_of(r).live, 0);
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)), 0);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
    ck_assert_int_eq(rgn_close_error(to), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* With sites sampled a site's group is an estimate ("~"): what a sampled
 * resource stands for.  What the reports say of a region is never more
 * than it holds: the close's summary is exact, a site's line and a
 * checkpoint's count (live, or left at a close: RGN_SINCE_CLOSED, by the
 * sampled resources' weights) go no higher than the region's count.  At
 * one in 2^20 the first registration is sampled and stands for 2^20. */
START_TEST(sampled_reports_say_no_more_than_a_region_holds)
{
    ck_assert_int_eq(rgn_audit_set_sample(1u << 20), 0);
    static struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    rgn_mark_t m = rgn_audit_mark();
    rgn_t *r = audited_region("sampled");
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(
            rgn_register_labeled(r, noop_cleanup, NULL, NULL, "held"), 0);
    ck_assert_int_eq(rgn_audit_since(m, 0), 10);
    ck_assert_msg(strstr(c.text, "rgn: leak summary: ~10 live resources "
                                 "from 1 site registered since the "
                                 "mark") != NULL,
                  "%s", c.text);
    capturing(&c);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_msg(strstr(c.text, "rgn: leak summary: 10 live resources "
                                 "from 1 sampled site at close of region "
                                 "\"sampled\"") != NULL,
                  "%s", c.text);
    ck_assert_msg(strstr(c.text, "\"held\": ~10 live") != NULL, "%s",
                  c.text);
    ck_assert_msg(strstr(c.text, "1048576") == NULL, "%s", c.text);
    ck_assert_int_eq(rgn_audit_since(m, RGN_SINCE_QUIET | RGN_SINCE_CLOSED),
                     10);
    rgn_audit_set_sink(NULL, NULL);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
}
END_TEST

/* At one in 64, the leaks a close adds to RGN_SINCE_CLOSED are its
 * sampled ones by their weights: about the 4000 left, not one per
 * sample (some 63). */
START_TEST(since_closed_weighs_sampled_leaks)
{
    ck_assert_int_eq(rgn_audit_set_sample(64), 0);
    static struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    rgn_mark_t m = rgn_audit_mark();
    rgn_t *r = audited_region(NULL);
    for (int i = 0; i < 4000; i++)
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    long n = rgn_audit_since(m, RGN_SINCE_QUIET | RGN_SINCE_CLOSED);
    ck_assert_msg(n >= 2500 && n <= 4000, "%ld", n);
    capturing(&c);
    ck_assert_int_eq(rgn_audit_since(m, RGN_SINCE_CLOSED), n);
    char also[64];
    snprintf(also, sizeof also, "(and ~%ld more reported at closes)", n);
    ck_assert_msg(strstr(c.text, also) != NULL, "%s", c.text);
    rgn_audit_set_sink(NULL, NULL);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
}
END_TEST

/* A resource moved out of an audited region leaves nothing there, where
 * it went to keep no records too: not its site's count, not its bytes. */
START_TEST(moving_out_of_an_audited_region_leaves_nothing_behind)
{
    rgn_t *a = audited_region(NULL), *plain = rgn_new();
    rgn_key_t k[100];
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(
            rgn_register_labeled(a, noop_cleanup, NULL, &k[i], "stays"), 0);
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(rgn_move(a, k[i], plain, NULL), 0);
    rgn_key_t bk;
    ck_assert_int_eq(rgn_register_sized(a, noop_cleanup, NULL, &bk, 1000), 0);
    ck_assert_uint_eq(stats_of(a).bytes, 1000);
    ck_assert_int_eq(rgn_move(a, bk, plain, NULL), 0);
    ck_assert_uint_eq(stats_of(a).bytes, 0);
    static struct capture c;
    ck_assert_int_eq(rgn_audit_dump(a, rgn_ck_buf_sink, capturing(&c)), 50);
    ck_assert_msg(strstr(c.text, "\"stays\": 50 live") != NULL, "%s",
                  c.text);
    ck_assert_uint_eq(stats_of(plain).live, 51);
    ck_assert_int_eq(rgn_close_error(plain), 0);
    for (int i = 50; i < 100; i++)
        ck_assert_int_eq(rgn_release(a, k[i]), 0);
    ck_assert_int_eq(rgn_audit_dump(a, rgn_ck_buf_sink, capturing(&c)), 0);
    ck_assert_msg(strstr(c.text, "\"stays\"") == NULL, "%s", c.text);
    ck_assert_int_eq(rgn_close_error(a), 0);
}
END_TEST

/* A lean registration -- inline from rgn.h, or the library's -- is never
 * made for a resource meant to live with its owner (rgn_audit_intent):
 * it has a record that says so, and the close finds no leak.  At one in
 * 2^20 only the region's first registration is sampled. */
START_TEST(lean_registration_keeps_the_threads_intent)
{
    ck_assert_int_eq(rgn_audit_set_sample(1u << 20), 0);
    static struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    rgn_t *r = audited_region(NULL);
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k), 0);
    ck_assert_int_eq(rgn_release(r, k), 0); /* the sampled one */
    ck_assert_uint_eq(rgn_audit_intent(RGN_LIVES_WITH_OWNER), 0);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
        ck_assert_int_eq(
            rgn_register_labeled(r, noop_cleanup, NULL, NULL, "owned"), 0);
    }
    ck_assert_uint_eq(rgn_audit_intent(0), RGN_LIVES_WITH_OWNER);
    ck_assert_uint_eq(stats_of(r).live, 20);
    ck_assert_int_eq(rgn_audit_dump(r, NULL, NULL), 0); /* none a leak */
    capturing(&c);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_msg(c.text[0] == '\0', "%s", c.text);
    rgn_audit_set_sink(NULL, NULL);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
}
END_TEST

/* A new rate holds from the next registration on, in a region whose
 * countdown to its next sampled site had long to go: lean calls, inline
 * or not, stop at once when every site is to be recorded. */
START_TEST(a_new_rate_holds_from_the_next_registration)
{
    ck_assert_int_eq(rgn_audit_set_sample(1u << 20), 0);
    rgn_t *r = audited_region(NULL);
    for (int i = 0; i < 6; i++) /* the first sampled, then lean ones */
        ck_assert_int_eq(
            rgn_register_labeled(r, noop_cleanup, NULL, NULL, "before"), 0);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(
            rgn_register_labeled(r, noop_cleanup, NULL, NULL, "after"), 0);
    static struct capture c;
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)), 9);
    ck_assert_msg(strstr(c.text, "\"after\": 3 live") != NULL, "%s", c.text);
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

/* A sampled site's bytes are estimates as its count is: a sampled
 * resource stands for its site's next ones, bytes and all ("~"), rather
 * than the site showing its samples' own bytes and "unknown" the rest.
 * 6400 resources of 100 bytes from one site, one in 64 sampled. */
START_TEST(sampled_sites_estimate_their_bytes)
{
    ck_assert_int_eq(rgn_audit_set_sample(64), 0);
    rgn_t *r = audited_region("sized");
    for (int i = 0; i < 6400; i++)
        ck_assert_int_eq(
            rgn_register_sized(r, noop_cleanup, NULL, NULL, 100), 0);
    ck_assert_uint_eq(stats_of(r).bytes, 640000); /* the region's: exact */
    static struct capture c;
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)),
                     6400);
    const char *p = strstr(c.text, " live, ~");
    ck_assert_msg(p != NULL, "%s", c.text);
    double kib = strtod(p + strlen(" live, ~"), NULL);
    ck_assert_msg(kib > 400 && kib < 900 && strstr(p, " KiB,") != NULL,
                  "%s", c.text);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ck_assert_int_ge(rgn_metrics_write(out), 1);
    fclose(out);
    const char *u = strstr(text, "rgn_site_bytes_live{region=\"sized\","
                                 "site=\"unknown\"");
    ck_assert_msg(u == NULL || strtod(strchr(u, ' ') + 1, NULL) < 320000,
                  "%s", text); /* not the most of them */
    free(text);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

/* The close's summary counts every possible leak, those whose sites were
 * recorded and those that were not, whatever rate each was registered
 * at: here lean leaks from before the rate went to 1, beside recorded
 * ones from after.  It counted only the recorded ones. */
START_TEST(close_summary_counts_leaks_of_either_rate)
{
    ck_assert_int_eq(rgn_audit_set_sample(1u << 20), 0);
    static struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    rgn_t *r = audited_region("mixed");
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k), 0);
    ck_assert_int_eq(rgn_release(r, k), 0); /* the sampled one */
    for (int i = 0; i < 37; i++)
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(
            rgn_register_labeled(r, noop_cleanup, NULL, NULL, "after"), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_msg(strstr(c.text, "rgn: leak summary: 42 live resources from "
                                 "1 site at close of region \"mixed\"") !=
                      NULL,
                  "%s", c.text);
    rgn_audit_set_sink(NULL, NULL);
}
END_TEST

/* A checkpoint's line for a site says no more than the site's region
 * holds, with another region holding more beside it. */
START_TEST(since_lines_say_no_more_than_their_region_holds)
{
    ck_assert_int_eq(rgn_audit_set_sample(1u << 20), 0);
    static struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    rgn_mark_t m = rgn_audit_mark();
    rgn_t *a = audited_region(NULL), *b = audited_region(NULL);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(
            rgn_register_labeled(a, noop_cleanup, NULL, NULL, "in-a"), 0);
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(
            rgn_register_labeled(b, noop_cleanup, NULL, NULL, "in-b"), 0);
    ck_assert_int_eq(rgn_audit_since(m, 0), 55);
    ck_assert_msg(strstr(c.text, "\"in-a\": ~5 live") != NULL &&
                      strstr(c.text, "\"in-b\": ~50 live") != NULL,
                  "%s", c.text);
    rgn_audit_set_sink(NULL, NULL);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
    ck_assert_int_eq(rgn_close_error(a), 0);
    ck_assert_int_eq(rgn_close_error(b), 0);
}
END_TEST

/* With sites sampled, a site's releases in its line are those of its
 * sampled resources, the ones whose lifetimes were measured: the line
 * says so, beside its estimated count. */
START_TEST(sampled_releases_are_named_so)
{
    ck_assert_int_eq(rgn_audit_set_sample(64), 0);
    rgn_t *r = audited_region(NULL);
    const struct rgn_site *site = rgn_site_make("sampled.c", 1, "f");
    for (int i = 0; i < 2000; i++) {
        rgn_key_t k;
        ck_assert_int_eq(rgn_register_at(r, noop_cleanup, NULL, &k, site), 0);
        ck_assert_int_eq(rgn_release(r, k), 0);
    }
    for (int i = 0; i < 640; i++)
        ck_assert_int_eq(rgn_register_at(r, noop_cleanup, NULL, NULL, site),
                         0);
    static struct capture c;
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)), 640);
    ck_assert_msg(strstr(c.text, " released (sampled), lifetime p50 ") !=
                      NULL,
                  "%s", c.text);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("counters");
    tcase_add_test(tc, new_region_counts_nothing);
    tcase_add_test(tc, every_call_is_counted_where_it_belongs);
    tcase_add_test(tc, failed_calls_count_nothing);
    tcase_add_test(tc, peak_is_the_high_water_mark);
    tcase_add_test(tc, cleanup_errors_count_failed_cleanups);
    tcase_add_test(tc, stats_from_a_cleanup_during_close);
    tcase_add_test(tc, counters_start_again_at_a_clear);
    tcase_add_test(tc, counters_start_again_at_a_clear_of_a_shared_region);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, counters_are_exact_across_threads);
    tcase_add_test(tc, bytes_follow_sized_resources);
    tcase_add_test(tc, sampled_sites_keep_region_counts_exact);
    tcase_add_test(tc, lean_resources_keep_region_counts_exact);
    tcase_add_test(tc, sample_rate_out_of_range_is_refused);
    tcase_add_test(tc, open_report_counts_a_sampled_region_exactly);
    tcase_add_test(tc, close_reports_leaks_none_of_them_sampled);
    tcase_add_test(tc, sampled_reports_say_no_more_than_a_region_holds);
    tcase_add_test(tc, since_closed_weighs_sampled_leaks);
    tcase_add_test(tc, moving_out_of_an_audited_region_leaves_nothing_behind);
    tcase_add_test(tc, lean_registration_keeps_the_threads_intent);
    tcase_add_test(tc, a_new_rate_holds_from_the_next_registration);
    tcase_add_test(tc, sampled_sites_estimate_their_bytes);
    tcase_add_test(tc, close_summary_counts_leaks_of_either_rate);
    tcase_add_test(tc, since_lines_say_no_more_than_their_region_holds);
    tcase_add_test(tc, sampled_releases_are_named_so);
    suite_add_tcase(s, tc);
    return s;
}

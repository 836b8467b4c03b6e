/* SPDX-License-Identifier: MIT */
/* check_lifetime.c -- lifetimes of released resources (lib/lifetime.c):
 * when they are tracked, what rgn_get_stats and the audit's dump say of
 * them, and that their memory stays bounded. */
#include "helpers.h"

#include <rgn_check.h>
#include "suites.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000ull

static rgn_stats stats_of(rgn_t *r)
{
    rgn_stats s;
    ck_assert_int_eq(rgn_get_stats(r, &s), 0);
    return s;
}

/* Registers n resources and returns their keys (caller frees). */
static rgn_key_t *fill(rgn_t *r, int n)
{
    rgn_key_t *k = calloc((size_t)n, sizeof *k);
    ck_assert_ptr_nonnull(k);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k[i]), 0);
    return k;
}

static void release_all(rgn_t *r, rgn_key_t *k, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(rgn_release(r, k[i]), 0);
    free(k);
}

START_TEST(not_tracked_unless_asked)
{
    rgn_t *r = rgn_new();
    release_all(r, fill(r, 10), 10);
    rgn_stats s = stats_of(r);
    ck_assert_uint_eq(s.released_early, 10);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(s.lifetime_ns[i], 0);
    ck_assert_uint_eq(s.lifetime_retained, 0);
    rgn_close(r);
}
END_TEST

/* 10 resources held 300 ms and 90 released at once: p50 and p90 are
 * short, p99 and the maximum are the held ones.  (Short is under half
 * the hold: valgrind makes "at once" take tens of milliseconds.) */
static void check_held_and_short(rgn_t *r)
{
    rgn_key_t *held = fill(r, 10);
    sleep_ms(300); /* >= 280 ms on a clock ticking every 10 ms */
    release_all(r, fill(r, 90), 90);
    release_all(r, held, 10);
    rgn_stats s = stats_of(r);
    ck_assert_uint_gt(s.lifetime_retained, 0); /* compacting already */
    ck_assert_uint_le(s.lifetime_retained, 100);
    ck_assert_uint_lt(s.lifetime_ns[0], 150 * MS);
    ck_assert_uint_lt(s.lifetime_ns[1], 150 * MS);
    ck_assert_uint_ge(s.lifetime_ns[2], 280 * MS);
    ck_assert_uint_ge(s.lifetime_ns[3], s.lifetime_ns[2]);
    ck_assert_uint_lt(s.lifetime_ns[3], 10000 * MS);
}

START_TEST(audit_tracks_lifetimes)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    check_held_and_short(r);
    rgn_close(r);
}
END_TEST

START_TEST(switched_on_per_region)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_lifetimes_set(r, 1), 0);
    check_held_and_short(r);
    size_t held = stats_of(r).lifetime_retained;
    /* Off: later releases are not measured, earlier figures stay. */
    ck_assert_int_eq(rgn_lifetimes_set(r, 0), 0);
    release_all(r, fill(r, 50), 50);
    ck_assert_uint_eq(stats_of(r).lifetime_retained, held);
    ck_assert_uint_ge(stats_of(r).lifetime_ns[3], 280 * MS);
    rgn_close(r);
}
END_TEST

START_TEST(switched_on_for_the_process)
{
    rgn_lifetimes_set_default(1);
    rgn_t *r = rgn_new();
    rgn_lifetimes_set_default(0);
    rgn_t *plain = rgn_new();
    release_all(r, fill(r, 5), 5);
    release_all(plain, fill(plain, 5), 5);
    ck_assert_uint_eq(stats_of(r).lifetime_retained, 5);
    ck_assert_uint_eq(stats_of(plain).lifetime_retained, 0);
    rgn_close(r);
    rgn_close(plain);
}
END_TEST

START_TEST(only_early_releases_end_a_lifetime)
{
    rgn_t *r = rgn_new(), *other = rgn_new();
    ck_assert_int_eq(rgn_lifetimes_set(r, 1), 0);
    rgn_key_t before;
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &before), 0);
    rgn_key_t *k = fill(r, 3);
    /* Unprotected, moved: not released, so no lifetime. */
    ck_assert_int_eq(rgn_unprotect(r, k[0], NULL, NULL), 0);
    rgn_key_t moved;
    ck_assert_int_eq(rgn_move(r, k[1], other, &moved), 0);
    ck_assert_int_eq(rgn_release(r, k[2]), 0);
    free(k);
    ck_assert_uint_eq(stats_of(r).lifetime_retained, 1);
    /* Registered before tracking began: its birth is unknown. */
    rgn_t *late = rgn_new();
    ck_assert_int_eq(rgn_register(late, noop_cleanup, NULL, &before), 0);
    ck_assert_int_eq(rgn_lifetimes_set(late, 1), 0);
    ck_assert_int_eq(rgn_release(late, before), 0);
    ck_assert_uint_eq(stats_of(late).lifetime_retained, 0);
    ck_assert_int_eq(rgn_release(late, before), -ENOENT); /* still so */
    rgn_close(late);
    rgn_close(other);
    rgn_close(r);
}
END_TEST

START_TEST(bad_arguments)
{
    ck_assert_int_eq(rgn_lifetimes_set(NULL, 1), -EINVAL);
}
END_TEST

START_TEST(a_million_releases_stay_small)
{
    /* The job loop of the first production story, audited: the sketch
     * of its one site stays at about a thousand values.  (A hundredth of
     * RGN_SOAK_CYCLES when set: valgrind and the sanitizers.) */
    const char *env = getenv("RGN_SOAK_CYCLES");
    int n = env ? (int)(atol(env) / 100) : 1000000;
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    for (int i = 0; i < n; i++) {
        rgn_key_t k;
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k), 0);
        ck_assert_int_eq(rgn_release(r, k), 0);
    }
    rgn_stats s = stats_of(r);
    ck_assert_uint_eq(s.released_early, (uint64_t)n);
    ck_assert_uint_le(s.lifetime_retained, 1000);
    rgn_close(r);
}
END_TEST

START_TEST(dump_shows_each_sites_lifetimes)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    rgn_key_t *k = NULL;
    for (int round = 0; round < 2; round++) {
        free(k);
        k = fill(r, 4); /* one site: this line */
        if (round == 0) {
            sleep_ms(40);
            for (int i = 0; i < 4; i++)
                ck_assert_int_eq(rgn_release(r, k[i]), 0);
        }
    }
    static char text[8192];
    struct rgn_ck_buf b = {text, sizeof text, 0};
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, &b), 4);
    ck_assert_msg(strstr(text, "4 live, oldest ") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "; 4 released, lifetime p50 ") != NULL, "%s",
                  text);
    const char *p99 = strstr(text, " p99 ");
    ck_assert_msg(p99 && strncmp(p99 + 5, "0ms", 3) != 0, "%s", text);
    free(k);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_OFF), 0);
    rgn_close(r);
}
END_TEST

/* Allocations fail from the n-th on: a release must still succeed.  In
 * a child process: the allocator is process-wide and cannot be put back
 * once a region exists, so the test must not leave it in this one. */
static void releases_with_tight_memory(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&tight_allocator) == 0);
    for (long allowed = 3; allowed < 12; allowed++) {
        tight_budget = 1000;
        rgn_t *r = rgn_new();
        CHILD_REQUIRE(r != NULL);
        CHILD_REQUIRE(rgn_lifetimes_set(r, 1) == 0);
        rgn_key_t k[20];
        for (int i = 0; i < 20; i++)
            CHILD_REQUIRE(rgn_register(r, noop_cleanup, NULL, &k[i]) == 0);
        /* Enough for the sketch's table, levels and items, or not. */
        tight_budget = allowed - 3;
        for (int i = 0; i < 20; i++)
            CHILD_REQUIRE(rgn_release(r, k[i]) == 0);
        rgn_stats s;
        CHILD_REQUIRE(rgn_get_stats(r, &s) == 0);
        CHILD_REQUIRE(s.released_early == 20);
        CHILD_REQUIRE(s.lifetime_retained <= 20);
        tight_budget = 1000;
        rgn_close(r);
    }
}

START_TEST(out_of_memory_never_fails_a_release)
{
    ck_assert_int_eq(in_child(releases_with_tight_memory), 0);
}
END_TEST

Suite *lifetime_suite(void)
{
    Suite *s = suite_create("lifetime");
    TCase *t = tcase_create("lifetime");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, not_tracked_unless_asked);
    tcase_add_test(t, audit_tracks_lifetimes);
    tcase_add_test(t, switched_on_per_region);
    tcase_add_test(t, switched_on_for_the_process);
    tcase_add_test(t, only_early_releases_end_a_lifetime);
    tcase_add_test(t, bad_arguments);
    tcase_add_test(t, a_million_releases_stay_small);
    tcase_add_test(t, dump_shows_each_sites_lifetimes);
    tcase_add_test(t, out_of_memory_never_fails_a_release);
    suite_add_tcase(s, t);
    return s;
}

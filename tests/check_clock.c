/* SPDX-License-Identifier: MIT */
/*
 * check_clock.c -- the audit's clock (lib/clock.c) when its thread is
 * descheduled while it calibrates.  Built from the library's sources with
 * RGN_CLOCK_DESCHEDULE_NS (see Makefile.am): a 20 ms sleep between the
 * readings of each calibration pair's first attempt, as a preemption at
 * the worst moment.  The TSC rate was measured from one pair at load and
 * one at the first conversion, so such a sleep made every age, lifetime
 * and held floor wrong, for the life of the process.  Ages and lifetimes
 * must lie between the monotonic spans measured around them, whatever
 * the machine's speed.
 */
#include "helpers.h"

#include <stdint.h>
#include <time.h>

/* What may separate rgn's span from CLOCK_MONOTONIC's: the rate's
 * error, which clock.c bounds at 1e-3, and rounding. */
#define SLACK 0.01

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Returns once at least ns have passed since from. */
static void wait_past(uint64_t from, uint64_t ns)
{
    while (mono_ns() - from < ns)
        sleep_ms(1);
}

static int age_of_first(const struct rgn_audit_entry *e, void *arg)
{
    *(uint64_t *)arg = e->age_ns;
    return 1;
}

/* inner <= span measured by rgn <= outer, within SLACK. */
static void assert_between(uint64_t got, uint64_t inner, uint64_t outer)
{
    ck_assert_msg((double)got >= (double)inner * (1 - SLACK) &&
                      (double)got <= (double)outer * (1 + SLACK),
                  "rgn measured %llu ns; CLOCK_MONOTONIC between %llu and "
                  "%llu ns",
                  (unsigned long long)got, (unsigned long long)inner,
                  (unsigned long long)outer);
}

START_TEST(ages_are_right_after_a_deschedule_in_calibration)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    uint64_t t0 = mono_ns();
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    uint64_t t1 = mono_ns();
    wait_past(t1, 30000000u);
    /* The first conversion: the rate is measured here. */
    uint64_t t2 = mono_ns(), age = 0;
    ck_assert_int_eq(rgn_audit_visit(r, age_of_first, &age), 1);
    uint64_t t3 = mono_ns();
    assert_between(age, t2 - t1, t3 - t0);

    /* Later ages use the same rate, and are right too. */
    wait_past(t3, 20000000u);
    uint64_t t4 = mono_ns();
    ck_assert_int_eq(rgn_audit_visit(r, age_of_first, &age), 1);
    uint64_t t5 = mono_ns();
    assert_between(age, t4 - t1, t5 - t0);
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

START_TEST(lifetimes_are_right_after_a_deschedule_in_calibration)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_lifetimes_set(r, 1), 0);
    rgn_key_t k;
    uint64_t t0 = mono_ns();
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k), 0);
    uint64_t t1 = mono_ns();
    wait_past(t1, 30000000u);
    uint64_t t2 = mono_ns();
    ck_assert_int_eq(rgn_release(r, k), 0);
    uint64_t t3 = mono_ns();
    rgn_stats st;
    ck_assert_int_eq(rgn_get_stats(r, &st), 0);
    assert_between(st.lifetime_ns[3], t2 - t1, t3 - t0); /* the max */
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* The first audited registration of a process makes the audit's first
 * look, which measures the clock's rate and so waits (20 ms and more in
 * this build, about a millisecond in others): that wait is no part of
 * the resource's lifetime.  It was: a resource released at once lived
 * 0.96 ms, and at one site in 64 sampled, a small region's only
 * lifetime said so. */
START_TEST(the_first_look_is_no_part_of_a_lifetime)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k), 0);
    uint64_t t1 = mono_ns();
    ck_assert_int_eq(rgn_release(r, k), 0);
    uint64_t t3 = mono_ns();
    rgn_stats st;
    ck_assert_int_eq(rgn_get_stats(r, &st), 0);
    /* Born between the look and the registration's return: 10 ms is
     * half the wait, and far more than the rest of the call. */
    ck_assert_msg(st.lifetime_ns[3] <= (t3 - t1) + 10000000u,
                  "lived %llu ns, released within %llu ns",
                  (unsigned long long)st.lifetime_ns[3],
                  (unsigned long long)(t3 - t1));
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("clock");
    TCase *t = tcase_create("calibration");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, ages_are_right_after_a_deschedule_in_calibration);
    tcase_add_test(t, lifetimes_are_right_after_a_deschedule_in_calibration);
    tcase_add_test(t, the_first_look_is_no_part_of_a_lifetime);
    suite_add_tcase(s, t);
    return run_suites(s, NULL);
}

/* SPDX-License-Identifier: MIT */
/* check_map.c -- slots and keys: key values, slot reuse, growth (into
 * one block, then into pages of their own), and keys that must stay
 * dead. */
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>


START_TEST(key_helpers)
{
    rgn_key_t none = RGN_KEY_NONE;
    ck_assert(rgn_key_is_none(none));
    rgn_key_t a = {1, 2, 3}, b = {1, 2, 3}, c = {1, 2, 4}, d = {2, 2, 3};
    ck_assert(!rgn_key_is_none(a));
    ck_assert(rgn_key_equal(a, b));
    ck_assert(!rgn_key_equal(a, c));
    ck_assert(!rgn_key_equal(a, d));
}
END_TEST

START_TEST(keys_differ_for_every_live_resource)
{
    enum { N = 600 };
    static struct probe p[N];
    static rgn_key_t k[N];
    rgn_t *r = rgn_new();
    for (int i = 0; i < N; i++) {
        probe_init(&p[i], i);
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[i], &k[i]), 0);
        ck_assert_uint_ne(k[i].region, 0);
        ck_assert_uint_eq(k[i].region, k[0].region);
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            ck_assert(!rgn_key_equal(k[i], k[j]));
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

START_TEST(regions_get_distinct_ids)
{
    rgn_key_t k1, k2;
    struct probe p;
    probe_init(&p, 1);
    rgn_t *a = rgn_new(), *b = rgn_new();
    ck_assert_int_eq(rgn_register(a, probe_cleanup, &p, &k1), 0);
    ck_assert_int_eq(rgn_register(b, probe_cleanup, &p, &k2), 0);
    ck_assert_uint_ne(k1.region, k2.region);
    ck_assert_int_eq(rgn_close(a), 0);
    ck_assert_int_eq(rgn_close(b), 0);
}
END_TEST

START_TEST(freed_slots_are_reused_newest_freed_first)
{
    struct probe p[4];
    rgn_key_t k[4];
    rgn_t *r = rgn_new();
    for (int i = 0; i < 3; i++) {
        probe_init(&p[i], i);
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[i], &k[i]), 0);
    }
    ck_assert_int_eq(rgn_release(r, k[0]), 0);
    ck_assert_int_eq(rgn_release(r, k[2]), 0);
    probe_init(&p[3], 3);
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[3], &k[3]), 0);
    ck_assert_uint_eq(k[3].slot, k[2].slot); /* warm in cache */
    ck_assert_uint_ne(k[3].gen, k[2].gen);
    ck_assert_int_eq(rgn_release(r, k[2]), -ENOENT);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p[3].runs, 1);
    ck_assert_int_eq(p[1].runs, 1);
}
END_TEST

START_TEST(shuffled_release_then_refill_across_growths)
{
    enum { N = 3000 };
    static struct probe p[N];
    static rgn_key_t k[N];
    static int order[N];
    rgn_t *r = rgn_new();
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            probe_init(&p[i], i);
            ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[i], &k[i]), 0);
            order[i] = i;
        }
        srand(7 + round);
        for (int i = N - 1; i > 0; i--) {
            int j = rand() % (i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int i = 0; i < N; i++) {
            ck_assert_int_eq(rgn_release(r, k[order[i]]), 0);
            ck_assert_int_eq(rgn_release(r, k[order[i]]), -ENOENT);
            ck_assert_uint_eq(rgn_live(r), (size_t)(N - 1 - i));
        }
        for (int i = 0; i < N; i++)
            ck_assert_int_eq(p[i].runs, 1);
    }
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* Past 32768 slots a region's arrays live in pages of their own, grown
 * by remapping: every key stays valid across each growth, releases in any
 * order work, and the close runs the rest newest first. */
static int seen_at[200000];
static int seen_n;

static int note_order(void *resource, rgn_release_type how)
{
    (void)how;
    seen_at[seen_n++] = (int)(intptr_t)resource;
    return 0;
}

START_TEST(a_region_of_200k_keeps_its_keys_through_growth)
{
    enum { N = 200000 };
    static rgn_key_t k[N];
    rgn_t *r = rgn_new();
    seen_n = 0;
    int bad = 0; /* counted: an assertion per step is slow under ASan */
    for (int i = 0; i < N; i++)
        bad += rgn_register(r, note_order, (void *)(intptr_t)i, &k[i]) != 0;
    /* Every third, from the oldest: each key found after all growth. */
    for (int i = 0; i < N; i += 3)
        bad += rgn_release(r, k[i]) != 0;
    ck_assert_int_eq(bad, 0);
    ck_assert_uint_eq(rgn_live(r), N - (N + 2) / 3);
    int released = seen_n;
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(seen_n, N);
    for (int i = N - 1, at = released; i >= 0; i--)
        if (i % 3)
            bad += seen_at[at++] != i;
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(forged_keys_never_reach_free_or_live_slots)
{
    struct probe p[3];
    rgn_key_t k[3];
    rgn_t *r = rgn_new();
    for (int i = 0; i < 3; i++) {
        probe_init(&p[i], i + 1);
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[i], &k[i]), 0);
    }
    ck_assert_int_eq(rgn_release(r, k[1]), 0);
    /* Every generation near the freed slot's and the live slots' own,
     * except the live keys themselves, is refused. */
    for (int s = 0; s < 3; s++) {
        for (uint32_t g = 0; g < 64; g++) {
            rgn_key_t f = {k[s].region, k[s].slot, g};
            if (s != 1 && g == k[s].gen)
                continue;
            ck_assert_int_eq(rgn_release(r, f), -ENOENT);
            ck_assert_int_eq(rgn_unprotect(r, f, NULL, NULL), -ENOENT);
        }
    }
    ck_assert_uint_eq(rgn_live(r), 2);
    log_reset();
    ck_assert_int_eq(rgn_close(r), 0);
    ASSERT_LOG(3, 1);
}
END_TEST

Suite *map_suite(void)
{
    Suite *s = suite_create("map");
    TCase *t = tcase_create("keys");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_add_test(t, key_helpers);
    tcase_add_test(t, keys_differ_for_every_live_resource);
    tcase_add_test(t, regions_get_distinct_ids);
    tcase_add_test(t, freed_slots_are_reused_newest_freed_first);
    tcase_add_test(t, shuffled_release_then_refill_across_growths);
    tcase_add_test(t, forged_keys_never_reach_free_or_live_slots);
    tcase_add_test(t, a_region_of_200k_keeps_its_keys_through_growth);
    suite_add_tcase(s, t);
    return s;
}

/* SPDX-License-Identifier: MIT */
/*
 * check_retire.c -- slot retirement.  Built from the library's sources with
 * RGN_GEN_MAX lowered to 999 (see Makefile.am).  Live generations are odd,
 * so a slot carries generations 1, 3, ..., 999: 500 uses instead of 2^31.
 * Being built from the sources, it also tests the private calls whose
 * contract no public call reaches.
 */
#include "helpers.h"


#include <errno.h>
#include <stdlib.h>

START_TEST(a_worn_out_slot_is_retired_not_reused)
{
    struct probe p;
    probe_init(&p, 1);
    rgn_t *r = rgn_new();
    enum { USES = 500 };
    static rgn_key_t k[USES];
    for (int i = 0; i < USES; i++) {
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &k[i]), 0);
        ck_assert_uint_eq(k[i].slot, k[0].slot);
        ck_assert_uint_eq(k[i].gen, 2u * (unsigned)i + 1);
        ck_assert_int_eq(rgn_release(r, k[i]), 0);
    }
    /* Generation 999 was the last: the next registration takes another
     * slot, and every key the old slot ever had stays dead. */
    rgn_key_t next;
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &next), 0);
    ck_assert_uint_ne(next.slot, k[0].slot);
    for (int i = 0; i < USES; i++)
        ck_assert_int_eq(rgn_release(r, k[i]), -ENOENT);
    /* Keys forged with any generation near the retired slot's match
     * nothing, and touch nothing. */
    for (uint32_t g = 0; g < 1100; g++) {
        rgn_key_t forged = k[0];
        forged.gen = g;
        ck_assert_int_eq(rgn_release(r, forged), -ENOENT);
    }
    ck_assert_uint_eq(rgn_live(r), 1);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p.runs, USES + 1);
}
END_TEST

START_TEST(retirement_across_many_slots_keeps_order)
{
    struct probe p[3];
    for (int i = 0; i < 3; i++)
        probe_init(&p[i], i + 1);
    rgn_t *r = rgn_new();
    rgn_key_t k;
    /* Wear out several slots, with live resources around them. */
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[0], NULL), 0);
    for (int i = 0; i < 5000; i++) {
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[2], &k), 0);
        ck_assert_int_eq(rgn_release(r, k), 0);
    }
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[1], NULL), 0);
    log_reset();
    ck_assert_int_eq(rgn_close(r), 0);
    ASSERT_LOG(2, 1);
}
END_TEST


int main(void)
{
    Suite *s = suite_create("retire");
    TCase *t = tcase_create("retire");
    tcase_add_test(t, a_worn_out_slot_is_retired_not_reused);
    tcase_add_test(t, retirement_across_many_slots_keeps_order);
    suite_add_tcase(s, t);
    t = tcase_create("private calls");
    suite_add_tcase(s, t);
    return run_suites(s, NULL);
}

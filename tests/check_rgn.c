/* SPDX-License-Identifier: MIT */
/* check_rgn.c -- runs every suite; exit status 0 only if all pass. */
#include "suites.h"

#include <stdlib.h>

int main(void)
{
    SRunner *sr = srunner_create(map_suite());
    srunner_add_suite(sr, region_suite());
    srunner_add_suite(sr, resource_suite());
    srunner_add_suite(sr, share_suite());
    srunner_add_suite(sr, threads_suite());
    srunner_add_suite(sr, audit_suite());
    srunner_add_suite(sr, stats_suite());
    srunner_add_suite(sr, lifetime_suite());
    srunner_add_suite(sr, metrics_suite());
    srunner_add_suite(sr, convenience_suite());
    srunner_add_suite(sr, arena_suite());
    srunner_add_suite(sr, alloc_suite());
    srunner_add_suite(sr, error_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

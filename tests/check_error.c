/* SPDX-License-Identifier: MIT */
/* check_error.c -- rgn_strerror and rgn_version. */
#include <config.h>

#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <string.h>

START_TEST(rgn_errors_have_their_own_text)
{
    ck_assert_str_eq(rgn_strerror(0), "success");
    ck_assert_str_eq(rgn_strerror(-ENOENT), "key is not live in this region");
    ck_assert_str_eq(rgn_strerror(-ECANCELED), "region is closing");
    ck_assert_str_eq(rgn_strerror(-ENOMEM), "out of memory");
    ck_assert_ptr_nonnull(strstr(rgn_strerror(-EINVAL), "invalid argument"));
    ck_assert_ptr_nonnull(strstr(rgn_strerror(-EBUSY), "allocator"));
}
END_TEST

START_TEST(other_values_are_described)
{
    /* Other errno values come from cleanups: the system's text. */
    ck_assert_str_eq(rgn_strerror(-EPIPE), strerror(EPIPE));
    ck_assert_str_eq(rgn_strerror(17), "cleanup result 17");
    ck_assert_ptr_nonnull(rgn_strerror(-99999));
    ck_assert_ptr_nonnull(rgn_strerror(-2147483647 - 1));
}
END_TEST

START_TEST(version_macros_match_the_library)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", RGN_VERSION_MAJOR,
             RGN_VERSION_MINOR, RGN_VERSION_PATCH);
    ck_assert_str_eq(rgn_version(), want);
    /* The header and configure.ac's AC_INIT must be bumped together. */
    ck_assert_str_eq(rgn_version(), PACKAGE_VERSION);
}
END_TEST

Suite *error_suite(void)
{
    Suite *s = suite_create("error");
    TCase *t = tcase_create("strerror");
    tcase_add_test(t, rgn_errors_have_their_own_text);
    tcase_add_test(t, other_values_are_described);
    tcase_add_test(t, version_macros_match_the_library);
    suite_add_tcase(s, t);
    return s;
}

/* SPDX-License-Identifier: MIT */
/* check_error.c -- rgn_strerror and rgn_version. */
#include <config.h>

#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

START_TEST(rgn_errors_have_their_own_text)
{
    rgn_release(NULL, RGN_KEY_NONE); /* the last failure is rgn's own */
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

/* ---- telling rgn's refusals from what it passes through ------------------ */

static int fails_with(void *res, rgn_release_type how)
{
    (void)how;
    return (int)(intptr_t)res;
}

START_TEST(release_tells_a_dead_key_from_a_failing_cleanup)
{
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, fails_with, (void *)(intptr_t)-ENOENT,
                                  &k), 0);
    /* The cleanup's unlink failed: -ENOENT, from the cleanup. */
    ck_assert_int_eq(rgn_release(r, k), -ENOENT);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_CLEANUP);
    char want[128];
    snprintf(want, sizeof want, "%s (from a cleanup)", strerror(ENOENT));
    ck_assert_str_eq(rgn_strerror(-ENOENT), want);
    /* The key is dead now: -ENOENT again, rgn's own this time. */
    ck_assert_int_eq(rgn_release(r, k), -ENOENT);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_RGN);
    ck_assert_str_eq(rgn_strerror(-ENOENT), "key is not live in this region");
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

struct failures {
    int n;
    int result[8];
    void *resource[8];
    rgn_release_type how[8];
};

static void note_failure(void *arg, int result, void *resource,
                         rgn_release_type how)
{
    struct failures *f = arg;
    if (f->n < 8) {
        f->result[f->n] = result;
        f->resource[f->n] = resource;
        f->how[f->n] = how;
    }
    f->n++;
}

START_TEST(close_shows_every_failing_cleanup)
{
    struct failures f = {0};
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_on_cleanup_error(r, note_failure, &f), 0);
    int results[] = {-EIO, 0, -ENOENT, 7};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(rgn_register(r, fails_with,
                                      (void *)(intptr_t)results[i], NULL),
                         0);
    /* The close returns the first failure it met (newest first)... */
    ck_assert_int_eq(rgn_close(r), 7);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_CLEANUP);
    /* ...and the hook saw each, in the order they ran. */
    ck_assert_int_eq(f.n, 3);
    ck_assert_int_eq(f.result[0], 7);
    ck_assert_int_eq(f.result[1], -ENOENT);
    ck_assert_int_eq(f.result[2], -EIO);
    ck_assert_ptr_eq(f.resource[1], (void *)(intptr_t)-ENOENT);
    ck_assert_int_eq(f.how[2], RGN_RELEASE_NORMAL);
}
END_TEST

START_TEST(hook_sees_release_clear_and_children)
{
    struct failures fp = {0}, fc = {0};
    rgn_t *p = rgn_new();
    ck_assert_int_eq(rgn_on_cleanup_error(p, note_failure, &fp), 0);
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(p, fails_with, (void *)(intptr_t)-EPIPE,
                                  &k), 0);
    ck_assert_int_eq(rgn_release(p, k), -EPIPE);
    ck_assert_int_eq(fp.n, 1);
    ck_assert_int_eq(fp.how[0], RGN_RELEASE_EARLY);
    ck_assert_int_eq(rgn_register(p, fails_with, (void *)(intptr_t)-EIO,
                                  NULL), 0);
    ck_assert_int_eq(rgn_clear(p), -EIO);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_CLEANUP);
    ck_assert_int_eq(fp.n, 2);
    /* A child's failing cleanups go to its hook; its failed close is one
     * failure of the parent. */
    rgn_t *c = rgn_new_child(p);
    ck_assert_int_eq(rgn_on_cleanup_error(c, note_failure, &fc), 0);
    ck_assert_int_eq(rgn_register(c, fails_with, (void *)(intptr_t)-EIO,
                                  NULL), 0);
    ck_assert_int_eq(rgn_register(c, fails_with, (void *)(intptr_t)-EBUSY,
                                  NULL), 0);
    ck_assert_int_eq(rgn_close(p), -EBUSY);
    ck_assert_int_eq(fc.n, 2);
    ck_assert_int_eq(fp.n, 3);
    ck_assert_int_eq(fp.result[2], -EBUSY);
    ck_assert_ptr_eq(fp.resource[2], c);
    /* -EBUSY from a cleanup is not "allocator already in use". */
    ck_assert_ptr_null(strstr(rgn_strerror(-EBUSY), "allocator"));
}
END_TEST

START_TEST(hook_bad_input)
{
    ck_assert_int_eq(rgn_on_cleanup_error(NULL, note_failure, NULL),
                     -EINVAL);
    struct failures f = {0};
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_on_cleanup_error(r, note_failure, &f), 0);
    ck_assert_int_eq(rgn_on_cleanup_error(r, NULL, NULL), 0); /* removed */
    ck_assert_int_eq(rgn_register(r, fails_with, (void *)(intptr_t)-EIO,
                                  NULL), 0);
    ck_assert_int_eq(rgn_close(r), -EIO);
    ck_assert_int_eq(f.n, 0);
}
END_TEST

static int acquire_busy(void *arg, void **out)
{
    (void)arg;
    (void)out;
    return -EBUSY;
}

static int body_enoent(rgn_t *r, void *arg)
{
    (void)r;
    (void)arg;
    return -ENOENT;
}

START_TEST(open_allocate_and_with_say_where_their_failure_came_from)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_open(r, "/nonexistent/rgn-test", O_RDONLY, 0, NULL),
                     -ENOENT);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_SYSTEM);
    ck_assert_ptr_nonnull(strstr(rgn_strerror(-ENOENT), "from the system"));
    errno = 0;
    ck_assert_ptr_null(rgn_fopen(r, "/nonexistent/rgn-test", "r", NULL));
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_SYSTEM);
    ck_assert_int_eq(rgn_allocate(r, acquire_busy, NULL, fails_with, NULL,
                                  NULL), -EBUSY);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_CALLER);
    ck_assert_ptr_null(strstr(rgn_strerror(-EBUSY), "allocator"));
    ck_assert_int_eq(rgn_allocate(r, NULL, NULL, fails_with, NULL, NULL),
                     -EINVAL);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_RGN);
    ck_assert_int_eq(rgn_with(body_enoent, NULL), -ENOENT);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_CALLER);
    ck_assert_int_eq(rgn_close(r), 0);
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

    t = tcase_create("origin");
    tcase_add_test(t, release_tells_a_dead_key_from_a_failing_cleanup);
    tcase_add_test(t, close_shows_every_failing_cleanup);
    tcase_add_test(t, hook_sees_release_clear_and_children);
    tcase_add_test(t, hook_bad_input);
    tcase_add_test(t, open_allocate_and_with_say_where_their_failure_came_from);
    suite_add_tcase(s, t);
    return s;
}

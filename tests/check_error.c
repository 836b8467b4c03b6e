/* SPDX-License-Identifier: MIT */
/* check_error.c -- rgn_strerror and rgn_version. */
#include <config.h>

#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rgn_strerror(-ENOENT): a dead key's, and rgn_find's not found. */
#define ENOENT_TEXT                                                           \
    "not live in this region (no such key, or no resource of that "          \
    "cleanup and pointer)"

START_TEST(rgn_errors_have_their_own_text)
{
    rgn_release(NULL, RGN_KEY_NONE); /* the last failure is rgn's own */
    ck_assert_str_eq(rgn_strerror(0), "success");
    ck_assert_str_eq(rgn_strerror(-ENOENT), ENOENT_TEXT);
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
    ck_assert_str_eq(rgn_strerror(-ENOENT), ENOENT_TEXT);
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

/* ---- rgn's own refusals are never taken for what it passed through ------ */

/* Leaves the thread's last failure at err, from a cleanup, as a release
 * whose cleanup failed does. */
static void fail_a_cleanup_with(int err)
{
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, fails_with, (void *)(intptr_t)err, &k),
                     0);
    ck_assert_int_eq(rgn_release(r, k), err);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_CLEANUP);
    ck_assert_int_eq(rgn_close(r), 0);
}

/* What each refusal below works on. */
static rgn_t *subject;
static rgn_key_t subject_block_key;
static void *subject_block;

static int constructor(const void *p)
{
    return p ? 0 : -errno;
}

static int refuse_move(void) { return rgn_move(NULL, RGN_KEY_NONE, subject, NULL); }
static int refuse_move_key(void) { return rgn_move(subject, RGN_KEY_NONE, subject, NULL); }
static int refuse_set_name(void) { return rgn_set_name(NULL, "x"); }
static int refuse_set_scope(void) { return rgn_set_scope(NULL, 1); }
static int refuse_hook(void) { return rgn_on_cleanup_error(NULL, NULL, NULL); }
static int refuse_register(void) { return rgn_register(subject, NULL, NULL, NULL); }
static int refuse_register_null(void) { return rgn_register(NULL, noop_cleanup, NULL, NULL); }
static int refuse_labeled(void) { return rgn_register_labeled(NULL, noop_cleanup, NULL, NULL, "l"); }
static int refuse_plain(void) { return rgn_register_plain(subject, NULL, NULL, NULL); }
static int refuse_unprotect(void) { return rgn_unprotect(NULL, RGN_KEY_NONE, NULL, NULL); }
static int refuse_unprotect_key(void) { return rgn_unprotect(subject, RGN_KEY_NONE, NULL, NULL); }
static int refuse_stats(void) { rgn_stats st; return rgn_get_stats(NULL, &st); }
static int refuse_lifetimes(void) { return rgn_lifetimes_set(NULL, 1); }
static int refuse_audit_set(void) { return rgn_audit_set(subject, (rgn_audit_mode)99); }
static int refuse_audit_default(void) { return rgn_audit_set_default((rgn_audit_mode)99); }
static int refuse_audit_limit(void) { return rgn_audit_limit(NULL, 1); }
static int refuse_label(void) { return rgn_label(subject, RGN_KEY_NONE, "l"); }
static int refuse_expect(void) { return rgn_expect_close(NULL, RGN_KEY_NONE); }
static int refuse_dump(void) { return (int)rgn_audit_dump(NULL, NULL, NULL); }
static int refuse_visit(void) { return rgn_audit_visit(subject, NULL, NULL); }
static int refuse_metrics(void) { return rgn_metrics_write(NULL); }
static int refuse_free(void) { return rgn_free(NULL, subject_block); }
static int refuse_free_other(void) { rgn_t *o = rgn_new(); int rc = rgn_free(o, subject_block); rgn_close(o); return rc; }
static int refuse_adopt_fd(void) { return rgn_adopt_fd(subject, -1, NULL); }
static int refuse_adopt_file(void) { return rgn_adopt_file(subject, NULL, NULL); }
static int refuse_open(void) { return rgn_open(NULL, "/", 0, 0, NULL); }
static int refuse_allocate(void) { return rgn_allocate(NULL, NULL, NULL, NULL, NULL, NULL); }
static int refuse_thread(void) { return rgn_thread_create(NULL, NULL, subject, NULL, NULL); }
static int refuse_with(void) { return rgn_with(NULL, NULL); }
static int refuse_close(void) { return rgn_close(NULL); }
static int refuse_clear(void) { return rgn_clear(NULL); }
static int refuse_release(void) { return rgn_release(subject, RGN_KEY_NONE); }
static int refuse_new_child(void) { return constructor(rgn_new_child(NULL)); }
static int refuse_share(void) { return constructor(rgn_share(NULL)); }
static int refuse_malloc(void) { return constructor(rgn_malloc(NULL, 8)); }
static int refuse_calloc(void) { return constructor(rgn_calloc(subject, SIZE_MAX, 2)); }
static int refuse_strdup(void) { return constructor(rgn_strdup(subject, NULL)); }
static int refuse_realloc(void) { return constructor(rgn_realloc(NULL, subject_block, 8)); }
static int refuse_realloc_other(void) { rgn_t *o = rgn_new(); int rc = constructor(rgn_realloc(o, subject_block, 8)); rgn_close(o); return rc; }
static int refuse_alloc(void) { return constructor(rgn_alloc(NULL, 8)); }
static int refuse_zalloc(void) { return constructor(rgn_zalloc(NULL, 8)); }
static int refuse_memdup(void) { return constructor(rgn_memdup(subject, NULL, 8)); }
static int refuse_strndup(void) { return constructor(rgn_strndup(subject, NULL, 8)); }
static int refuse_asprintf(void) { return constructor(rgn_asprintf(NULL, "x")); }
static int refuse_fopen(void) { return constructor(rgn_fopen(NULL, "/", "r", NULL)); }

static int refuse_allocator(void) { rgn_allocator a = {NULL, realloc, free}; return rgn_set_allocator(&a); }
static int refuse_allocator_busy(void) { return rgn_set_allocator(NULL); }
static int refuse_since(void) { return (int)rgn_audit_since(0, 64); }
static int refuse_sized(void) { return rgn_register_sized(NULL, noop_cleanup, NULL, NULL, 8); }
static int refuse_plain_labeled(void) { return rgn_register_plain_labeled(subject, NULL, NULL, NULL, "l"); }
static int refuse_site(void) { return constructor(rgn_site_make(NULL, 1, "f")); }

static int visitor_einval(const struct rgn_audit_entry *e, void *arg)
{
    (void)e;
    (void)arg;
    return -EINVAL;
}

static const struct refusal {
    const char *call;
    int (*fn)(void);
    int err;
} refusals[] = {
    {"rgn_move", refuse_move, -EINVAL},
    {"rgn_move (key)", refuse_move_key, -ENOENT},
    {"rgn_set_name", refuse_set_name, -EINVAL},
    {"rgn_set_scope", refuse_set_scope, -EINVAL},
    {"rgn_on_cleanup_error", refuse_hook, -EINVAL},
    {"rgn_register", refuse_register, -EINVAL},
    {"rgn_register (region)", refuse_register_null, -EINVAL},
    {"rgn_register_labeled", refuse_labeled, -EINVAL},
    {"rgn_register_plain", refuse_plain, -EINVAL},
    {"rgn_unprotect", refuse_unprotect, -EINVAL},
    {"rgn_unprotect (key)", refuse_unprotect_key, -ENOENT},
    {"rgn_get_stats", refuse_stats, -EINVAL},
    {"rgn_lifetimes_set", refuse_lifetimes, -EINVAL},
    {"rgn_audit_set", refuse_audit_set, -EINVAL},
    {"rgn_audit_set_default", refuse_audit_default, -EINVAL},
    {"rgn_audit_limit", refuse_audit_limit, -EINVAL},
    {"rgn_label", refuse_label, -ENOENT},
    {"rgn_expect_close", refuse_expect, -EINVAL},
    {"rgn_audit_dump", refuse_dump, -EINVAL},
    {"rgn_audit_visit", refuse_visit, -EINVAL},
    {"rgn_metrics_write", refuse_metrics, -EINVAL},
    {"rgn_free", refuse_free, -EINVAL},
    {"rgn_free (region)", refuse_free_other, -ENOENT},
    {"rgn_adopt_fd", refuse_adopt_fd, -EBADF},
    {"rgn_adopt_file", refuse_adopt_file, -EINVAL},
    {"rgn_open", refuse_open, -EINVAL},
    {"rgn_allocate", refuse_allocate, -EINVAL},
    {"rgn_thread_create", refuse_thread, -EINVAL},
    {"rgn_with", refuse_with, -EINVAL},
    {"rgn_close", refuse_close, -EINVAL},
    {"rgn_clear", refuse_clear, -EINVAL},
    {"rgn_release", refuse_release, -ENOENT},
    {"rgn_new_child", refuse_new_child, -EINVAL},
    {"rgn_share", refuse_share, -EINVAL},
    {"rgn_malloc", refuse_malloc, -EINVAL},
    {"rgn_calloc", refuse_calloc, -ENOMEM},
    {"rgn_strdup", refuse_strdup, -EINVAL},
    {"rgn_realloc", refuse_realloc, -EINVAL},
    {"rgn_realloc (region)", refuse_realloc_other, -ENOENT},
    {"rgn_alloc", refuse_alloc, -EINVAL},
    {"rgn_zalloc", refuse_zalloc, -EINVAL},
    {"rgn_memdup", refuse_memdup, -EINVAL},
    {"rgn_strndup", refuse_strndup, -EINVAL},
    {"rgn_asprintf", refuse_asprintf, -EINVAL},
    {"rgn_fopen", refuse_fopen, -EINVAL},
    {"rgn_audit_since", refuse_since, -EINVAL},
    {"rgn_set_allocator", refuse_allocator, -EINVAL},
    {"rgn_set_allocator (in use)", refuse_allocator_busy, -EBUSY},
    {"rgn_register_sized", refuse_sized, -EINVAL},
    {"rgn_register_plain_labeled", refuse_plain_labeled, -EINVAL},
    {"rgn_site_make", refuse_site, -EINVAL},
};

/* After a cleanup's -EINVAL passed through rgn_release, rgn_move(NULL,
 * ...) and rgn_set_name(NULL, ...) returned -EINVAL that rgn_strerror
 * called "Invalid argument (from a cleanup)", and rgn_error_origin said
 * RGN_FROM_CLEANUP: only some calls noted their failures.  Every call
 * that refuses notes the refusal as rgn's own. */
START_TEST(every_refusal_is_rgn_s_own)
{
    subject = rgn_new();
    subject_block = rgn_malloc(subject, 8);
    ck_assert_ptr_nonnull(subject_block);
    subject_block_key = rgn_mem_key(subject_block);
    for (size_t i = 0; i < sizeof refusals / sizeof *refusals; i++) {
        const struct refusal *t = &refusals[i];
        fail_a_cleanup_with(t->err);
        ck_assert_msg(t->fn() == t->err, "%s did not fail with %d",
                      t->call, t->err);
        ck_assert_msg(rgn_error_origin() == RGN_FROM_RGN,
                      "%s: its refusal is taken for a cleanup's", t->call);
        ck_assert_msg(!strstr(rgn_strerror(t->err), "from a cleanup"),
                      "%s: %s", t->call, rgn_strerror(t->err));
    }
    /* A visitor's result is passed through, as the caller's own. */
    fail_a_cleanup_with(-EINVAL);
    ck_assert_int_eq(rgn_audit_visit(subject, visitor_einval, NULL), -EINVAL);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_CALLER);
    ck_assert_int_eq(rgn_close(subject), 0);
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
    tcase_add_test(t, every_refusal_is_rgn_s_own);
    suite_add_tcase(s, t);
    return s;
}

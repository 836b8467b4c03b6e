/* SPDX-License-Identifier: MIT */
/*
 * rgn_check.h -- rgn's leak audit inside Check test suites.
 *
 *   #include <rgn_check.h>
 *
 *   START_TEST(request_releases_its_connection)
 *   {
 *       rgn_t *r = rgn_new();
 *       handle_request(r);
 *       rgn_ck_assert_no_leaks(r);    // fails listing what is still live
 *       rgn_close(r);
 *   }
 *   END_TEST
 *
 *   TCase *tc = tcase_create("requests");
 *   rgn_ck_tcase_audit(tc);           // every test of tc runs audited and
 *                                     // fails if anything leaked
 *
 * Header-only: it needs Check, which rgn itself does not link.
 */
#ifndef RGN_CHECK_H
#define RGN_CHECK_H

#include <check.h>
#include <rgn.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A fixed buffer that audit lines are appended to, truncated when full. */
struct rgn_ck_buf {
    char *text;
    size_t size;
    size_t used;
};

static inline void rgn_ck_buf_sink(const char *line, void *arg)
{
    struct rgn_ck_buf *b = (struct rgn_ck_buf *)arg;
    size_t n = strlen(line);
    if (b->used + n + 2 > b->size)
        n = b->used + 2 < b->size ? b->size - b->used - 2 : 0;
    memcpy(b->text + b->used, line, n);
    b->used += n;
    if (b->used + 1 < b->size)
        b->text[b->used++] = '\n';
    b->text[b->used] = '\0';
}

/*
 * Fails the test unless r holds nothing but resources marked with
 * rgn_expect_close(); the message lists r's live resources by site.  Marks
 * and sites are kept only while r is audited (rgn_audit_set, RGN_AUDIT or
 * rgn_ck_tcase_audit): in a region that is not, every live resource
 * counts, at an unknown site.  On failure it first drops the test's
 * reference to r with rgn_close_error(), so that without CK_FORK the
 * region does not outlive the failed test (r is evaluated once).
 */
#define rgn_ck_assert_no_leaks(r)                                             \
    do {                                                                      \
        rgn_t *rgn_ck_r_ = (r);                                               \
        char rgn_ck_text_[4096] = "";                                         \
        struct rgn_ck_buf rgn_ck_b_ = {rgn_ck_text_, sizeof rgn_ck_text_, 0}; \
        long rgn_ck_n_ =                                                      \
            rgn_audit_dump(rgn_ck_r_, rgn_ck_buf_sink, &rgn_ck_b_);           \
        if (rgn_ck_n_ != 0)                                                   \
            rgn_close_error(rgn_ck_r_);                                       \
        ck_assert_msg(rgn_ck_n_ == 0,                                         \
                      "%ld live resource(s) not released in %s:\n%s",         \
                      rgn_ck_n_, #r, rgn_ck_text_);                           \
    } while (0)

#if defined(__GNUC__)
#define RGN_CK_UNUSED_ __attribute__((unused))
#else
#define RGN_CK_UNUSED_
#endif

/* What the audit reported during the test, for the teardown below, the
 * test's checkpoint, and the program's own audit settings, put back after
 * each test. */
static char rgn_ck_report_[8192] RGN_CK_UNUSED_;
static struct rgn_ck_buf rgn_ck_reported_ RGN_CK_UNUSED_ = {
    rgn_ck_report_, sizeof rgn_ck_report_, 0};
static rgn_mark_t rgn_ck_mark_ RGN_CK_UNUSED_;
static rgn_audit_mode rgn_ck_saved_mode_ RGN_CK_UNUSED_;
static rgn_audit_sink rgn_ck_saved_sink_ RGN_CK_UNUSED_;
static void *rgn_ck_saved_arg_ RGN_CK_UNUSED_;

/* Checked-fixture setup: regions made by the test are audited, the
 * audit's reports are kept for the teardown, and a checkpoint is taken
 * (rgn_audit_mark): what was registered before the test -- by the
 * program, or by an earlier test that failed -- is not this test's. */
static inline void rgn_ck_audit_setup(void)
{
    rgn_ck_reported_.used = 0;
    rgn_ck_report_[0] = '\0';
    rgn_ck_saved_mode_ = rgn_audit_default();
    rgn_audit_get_sink(&rgn_ck_saved_sink_, &rgn_ck_saved_arg_);
    rgn_audit_set_sink(rgn_ck_buf_sink, &rgn_ck_reported_);
    rgn_audit_set_default(RGN_AUDIT_REPORT);
    rgn_ck_mark_ = rgn_audit_mark();
}

/* Checked-fixture teardown: fails the test if anything it registered is
 * still live in an audited region -- an owner that outlives the test
 * included -- or was reported as a leak at a close, or if the audit
 * reported anything else meanwhile (a use after close, two threads),
 * with the audit's report as the message.  Regions the test left open
 * are then left out of later open-region and exit reports, and the
 * program's audit default and sink are put back: with or without
 * CK_FORK, a failing test fails alone. */
static inline void rgn_ck_audit_teardown(void)
{
    long left = rgn_audit_since(rgn_ck_mark_, RGN_SINCE_CLOSED);
    rgn_audit_ignore_open();
    rgn_audit_set_default(rgn_ck_saved_mode_);
    rgn_audit_set_sink(rgn_ck_saved_sink_, rgn_ck_saved_arg_);
    ck_assert_msg(rgn_ck_reported_.used == 0 && left == 0, "rgn audit:\n%s",
                  rgn_ck_report_);
}

/* Runs every test of tc with the audit on, failing those that leak. */
#define rgn_ck_tcase_audit(tc)                                                \
    tcase_add_checked_fixture((tc), rgn_ck_audit_setup, rgn_ck_audit_teardown)

#ifdef __cplusplus
}
#endif

#endif /* RGN_CHECK_H */

/* SPDX-License-Identifier: MIT */
/*
 * check_since.c -- checkpoints (lib/since.c), intent at registration
 * (lib/audit.c), sites made at run time (lib/site.c) and labelled plain
 * registrations (lib/plain.c): what a test harness and a wrapper need to
 * find what was left behind, and who left it.
 */
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct capture cap;

static void since_setup(void)
{
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&cap));
}

static void since_teardown(void)
{
    rgn_audit_set_sink(NULL, NULL);
    rgn_audit_intent(0);
}

static rgn_t *audited(const char *name, int scope)
{
    rgn_t *r = scope ? rgn_new_scope() : rgn_new();
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    ck_assert_int_eq(rgn_set_name(r, name), 0);
    return r;
}

static int line_x, line_y;
static int at_x(rgn_t *r, rgn_key_t *k)
{
    line_x = __LINE__ + 1;
    return rgn_register_labeled(r, noop_cleanup, NULL, k, "x");
}
static int at_y(rgn_t *r, rgn_key_t *k)
{
    line_y = __LINE__ + 1;
    return rgn_register(r, noop_cleanup, NULL, k);
}

/* ---- checkpoints -------------------------------------------------------- */

/* An owner made before the mark (a server, say) with two resources of its
 * own; after the mark, a "request" leaves two of three in the owner and
 * one in a scope it forgot to close.  Exactly those three are counted,
 * one line per site, whatever region they sit in. */
START_TEST(since_counts_what_was_registered_after_the_mark)
{
    rgn_t *server = audited("server", 0);
    rgn_key_t k;
    ck_assert_int_eq(at_x(server, NULL), 0);
    ck_assert_int_eq(at_y(server, NULL), 0);
    rgn_mark_t m = rgn_audit_mark();
    ck_assert_int_eq(rgn_audit_since(m, 0), 0);
    ck_assert_int_eq(lines_in(&cap), 0); /* nothing: nothing is printed */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(at_x(server, &k), 0);
    ck_assert_int_eq(rgn_release(server, k), 0);
    rgn_t *scope = audited("request", 1);
    ck_assert_int_eq(at_y(scope, NULL), 0);

    ck_assert_int_eq(rgn_audit_since(m, RGN_SINCE_QUIET), 3);
    ck_assert_int_eq(lines_in(&cap), 0);
    ck_assert_int_eq(rgn_audit_since(m, 0), 3);
    char x[96], y[96];
    snprintf(x, sizeof x, "check_since.c:%d: at_x(): \"x\": 2 live, oldest ",
             line_x);
    snprintf(y, sizeof y, "check_since.c:%d: at_y(): 1 live, oldest ", line_y);
    ck_assert_msg(count_lines(cap.text, "rgn: leak: ", x, NULL) == 1 &&
                      count_lines(cap.text, "rgn: leak: ", y, NULL) == 1 &&
                      count_lines(cap.text,
                                  "rgn: leak summary: 3 live resources from 2 "
                                  "sites registered since the mark",
                                  NULL) == 1,
                  "%s", cap.text);
    ck_assert_int_eq(lines_in(&cap), 3);
    /* A later mark sees none of them. */
    ck_assert_int_eq(rgn_audit_since(rgn_audit_mark(), 0), 0);
    ck_assert_int_eq(rgn_close(scope), 0);
    ck_assert_int_eq(rgn_close_error(server), 0);
}
END_TEST

static int child_fn(rgn_t *r, void *arg)
{
    (void)r;
    (void)arg;
    return 0;
}

/* What is meant to go with its owner, child regions, regions that are
 * not audited and resources released or moved in from before the mark
 * are not counted. */
START_TEST(since_leaves_out_what_is_not_left_behind)
{
    rgn_t *r = audited("owner", 0);
    rgn_t *plain = rgn_new();
    ck_assert_ptr_nonnull(plain);
    rgn_key_t early, k;
    ck_assert_int_eq(at_x(r, &early), 0);
    rgn_mark_t m = rgn_audit_mark();
    ck_assert_int_eq(at_x(r, &k), 0);
    ck_assert_int_eq(rgn_expect_close(r, k), 0);
    RGN_WITH_OWNER { ck_assert_int_eq(at_y(r, NULL), 0); }
    ck_assert_ptr_nonnull(rgn_new_child(r));
    ck_assert_int_eq(at_y(plain, NULL), 0);
    ck_assert_int_eq(rgn_move(r, early, r, &early), 0); /* still from before */
    ck_assert_int_eq(rgn_with(child_fn, NULL), 0);
    ck_assert_int_eq(rgn_audit_since(m, 0), 0);
    ck_assert_int_eq(at_y(r, NULL), 0);
    ck_assert_int_eq(rgn_audit_since(m, RGN_SINCE_QUIET), 1);
    ck_assert_int_eq(rgn_audit_since(m, 8), -EINVAL);
    ck_assert_int_eq(rgn_audit_since(m, ~0u), -EINVAL);
    ck_assert_int_eq(rgn_close_error(r), 0);
    ck_assert_int_eq(rgn_close(plain), 0);
}
END_TEST

struct other {
    rgn_t *r;
    rgn_mark_t m;
    long mine;
};

static void *register_two(void *arg)
{
    struct other *o = arg;
    at_x(o->r, NULL);
    at_x(o->r, NULL);
    o->mine = rgn_audit_since(o->m, RGN_SINCE_THIS_THREAD | RGN_SINCE_QUIET);
    return NULL;
}

/* RGN_SINCE_THIS_THREAD counts what the calling thread registered. */
START_TEST(since_this_thread_counts_the_callers_own)
{
    rgn_t *r = audited("shared", 0);
    rgn_t *again = rgn_share(r);
    ck_assert_ptr_eq(again, r);
    struct other o = {r, rgn_audit_mark(), -1};
    ck_assert_int_eq(at_y(r, NULL), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, register_two, &o), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(o.mine, 2);
    ck_assert_int_eq(
        rgn_audit_since(o.m, RGN_SINCE_THIS_THREAD | RGN_SINCE_QUIET), 1);
    ck_assert_int_eq(rgn_audit_since(o.m, RGN_SINCE_QUIET), 3);
    ck_assert_int_eq(rgn_close(again), 0);
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

/* A leak an owner's close reported in this thread since the thread's
 * latest mark counts with RGN_SINCE_CLOSED, once it is gone. */
START_TEST(since_closed_counts_leaks_closes_reported)
{
    rgn_mark_t older = rgn_audit_mark();
    rgn_mark_t m = rgn_audit_mark();
    rgn_t *r = audited("short-lived owner", 0);
    ck_assert_int_eq(at_x(r, NULL), 0);
    ck_assert_int_eq(at_y(r, NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(count_lines(cap.text, "rgn: leak summary: 2 live", NULL),
                     1);
    ck_assert_int_eq(rgn_audit_since(m, RGN_SINCE_QUIET), 0);
    ck_assert_int_eq(rgn_audit_since(m, RGN_SINCE_QUIET | RGN_SINCE_CLOSED),
                     2);
    /* Not the thread's latest mark: closes are not counted for it. */
    ck_assert_int_eq(
        rgn_audit_since(older, RGN_SINCE_QUIET | RGN_SINCE_CLOSED), 0);
    capturing(&cap);
    ck_assert_int_eq(rgn_audit_since(m, RGN_SINCE_CLOSED), 2);
    ck_assert_msg(count_lines(cap.text, "rgn: leak summary: 0 live resources "
                              "from 0 sites registered since the mark (and 2 "
                              "more reported at closes)",
                              NULL) == 1,
                  "%s", cap.text);
}
END_TEST

/* A named mark is named by the summary. */
START_TEST(since_names_what_the_thread_runs)
{
    rgn_t *r = audited("owner", 0);
    rgn_mark_t m = rgn_audit_mark_named("test \"fetch\"");
    ck_assert_int_eq(at_x(r, NULL), 0);
    ck_assert_int_eq(rgn_audit_since(m, 0), 1);
    ck_assert_msg(count_lines(cap.text, "rgn: leak summary: 1 live resource "
                              "from 1 site registered since the mark of "
                              "\"test \\\"fetch\\\"\"",
                              NULL) == 1,
                  "%s", cap.text);
    rgn_audit_mark();
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

/* ---- intent ------------------------------------------------------------- */

/* RGN_WITH_OWNER marks what its block registers as living with its
 * owner: no leak at the owner's close; the thread's intent comes back
 * however the block is left. */
START_TEST(with_owner_block_marks_what_it_registers)
{
    rgn_t *r = audited("server", 0);
    ck_assert_uint_eq(rgn_audit_intent(0), 0);
    RGN_WITH_OWNER {
        ck_assert_uint_eq(rgn_audit_intent(RGN_LIVES_WITH_OWNER),
                          RGN_LIVES_WITH_OWNER);
        ck_assert_int_eq(at_x(r, NULL), 0);
        ck_assert_ptr_nonnull(rgn_strdup(r, "cached value"));
    }
    ck_assert_uint_eq(rgn_audit_intent(0), 0);
    for (int i = 0; i < 3; i++) {
        RGN_WITH_OWNER {
            if (i == 1)
                break;
        }
    }
    ck_assert_uint_eq(rgn_audit_intent(0), 0);
    ck_assert_uint_eq(rgn_audit_intent(0xff), 0);
    ck_assert_uint_eq(rgn_audit_intent(0), RGN_LIVES_WITH_OWNER);
    ck_assert_int_eq(at_y(r, NULL), 0); /* not owned: the one leak */
    ck_assert_int_eq(rgn_audit_dump(r, NULL, NULL), 1);
    ck_assert_int_eq(count_lines(cap.text, "rgn: live summary: 3 live "
                                 "resources, 13 B (2 expected at close)",
                                 NULL),
                     1);
    capturing(&cap);
    ck_assert_int_eq(rgn_close(r), 0);
    char y[64];
    snprintf(y, sizeof y, "check_since.c:%d: at_y(): 1 live", line_y);
    ck_assert_msg(count_lines(cap.text, "rgn: leak: ", y, NULL) == 1 &&
                      count_lines(cap.text, "rgn: leak: ", NULL) == 1,
                  "%s", cap.text);
}
END_TEST

/* ---- sites made at run time, labels -------------------------------------- */

START_TEST(site_make_gives_one_site_per_call_site)
{
    static const char file[] = "wrapper.c";
    char same_text[] = "wrapper.c"; /* equal text, another address */
    const struct rgn_site *a = rgn_site_make(file, 10, "own");
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->file, "wrapper.c");
    ck_assert_str_eq(a->func, "own");
    ck_assert_int_eq(a->line, 10);
    ck_assert_ptr_eq(rgn_site_make(file, 10, "own"), a);
    ck_assert_ptr_eq(rgn_site_make(same_text, 10, "own"), a);
    ck_assert_ptr_ne(rgn_site_make(file, 11, "own"), a);
    ck_assert_ptr_ne(rgn_site_make(file, 10, "own2"), a);
    errno = 0;
    ck_assert_ptr_null(rgn_site_make(NULL, 1, "f"));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(rgn_site_make("f.c", 1, NULL));
    /* Many sites: the table grows and keeps every one. */
    static char names[300][16];
    const struct rgn_site *made[300];
    for (int i = 0; i < 300; i++) {
        snprintf(names[i], sizeof names[i], "f%d.c", i);
        made[i] = rgn_site_make(names[i], i, "g");
    }
    int same = 0;
    for (int i = 0; i < 300; i++)
        same += rgn_site_make(names[i], i, "g") == made[i] &&
                made[i]->line == i;
    ck_assert_int_eq(same, 300);
    ck_assert_ptr_eq(rgn_site_make(file, 10, "own"), a);

    /* A registration at a made site is reported there. */
    rgn_t *r = audited("wrapped", 0);
    ck_assert_int_eq(rgn_register_at(r, noop_cleanup, NULL, NULL,
                                     rgn_site_make("caller.c", 42, "main")),
                     0);
    ck_assert_int_eq(rgn_audit_dump(r, NULL, NULL), 1);
    ck_assert_msg(count_lines(cap.text, "rgn: live: caller.c:42: main(): 1 "
                              "live",
                              NULL) == 1,
                  "%s", cap.text);
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

static int plain_runs;
static void plain_free(void *p)
{
    (void)p;
    plain_runs++;
}

START_TEST(plain_labeled_registers_with_its_label)
{
    rgn_t *r = audited("plain", 0);
    rgn_key_t k;
    plain_runs = 0;
    ck_assert_int_eq(
        rgn_register_plain_labeled(r, plain_free, NULL, &k, "buffer"), 0);
    ck_assert_int_eq(rgn_audit_dump(r, NULL, NULL), 1);
    ck_assert_msg(count_lines(cap.text, "rgn: live: ", "\"buffer\": 1 live",
                              NULL) == 1,
                  "%s", cap.text);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert_int_eq(plain_runs, 1);
    /* On failure the plain function runs at once, as rgn_register's. */
    ck_assert_int_eq(
        rgn_register_plain_labeled(NULL, plain_free, NULL, &k, "buffer"),
        -EINVAL);
    ck_assert_int_eq(plain_runs, 2);
    ck_assert(rgn_key_is_none(k));
    ck_assert_int_eq(rgn_register_plain_labeled(r, NULL, NULL, &k, "x"),
                     -EINVAL);
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq((rgn_register_plain_labeled)(r, plain_free, NULL, NULL,
                                                  "twin"),
                     0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(plain_runs, 3);
}
END_TEST

/* A resource labelled after it was registered -- rgn_register_plain,
 * then rgn_label -- is in its site's group even in the limit warning
 * that its very registration set off, before the label was given.
 * (Issue 23: the limit report split one site into two groups.) */
START_TEST(labelling_after_registering_never_splits_a_site)
{
    rgn_t *r = audited("labelled later", 0);
    ck_assert_int_eq(rgn_audit_limit(r, 3), 0);
    int line = 0;
    for (int i = 0; i < 4; i++) {
        rgn_key_t k;
        line = __LINE__ + 1;
        ck_assert_int_eq(rgn_register_plain(r, plain_free, NULL, &k), 0);
        ck_assert_int_eq(rgn_label(r, k, "connection"), 0);
    }
    char where[96];
    snprintf(where, sizeof where, "check_since.c:%d: ", line);
    ck_assert_msg(count_lines(cap.text, "rgn: limit: ", where,
                              "\"connection\": 4 live", NULL) == 1 &&
                      count_lines(cap.text, "rgn: limit: ", where, NULL) == 1,
                  "%s", cap.text);
    capturing(&cap);
    ck_assert_int_eq(rgn_audit_dump(r, NULL, NULL), 4);
    ck_assert_msg(count_lines(cap.text, "rgn: live: ", where,
                              "\"connection\": 4 live", NULL) == 1,
                  "%s", cap.text);
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

/* Sites whose unlabelled group joins their one labelled group, beside
 * sites that have more: every site is reported once, with its count.
 * (The sort once ran over the table as it stood before the joins, so the
 * entries left behind by them pushed real groups out, and a site showed
 * twice.)  The sites lie in one array, in the order groups are joined. */
START_TEST(joined_groups_leave_no_site_out_or_twice)
{
    static const struct rgn_site sites[6] = {
        {"joined.c", "f", 1}, {"joined.c", "f", 2}, {"joined.c", "f", 3},
        {"joined.c", "f", 4}, {"joined.c", "f", 5}, {"joined.c", "f", 6}};
    rgn_t *r = audited("joined", 0);
    for (int s = 0; s < 3; s++) {
        rgn_key_t k;
        ck_assert_int_eq(rgn_register_at(r, noop_cleanup, NULL, &k, &sites[s]),
                         0);
        ck_assert_int_eq(rgn_label(r, k, "later"), 0);
        ck_assert_int_eq(
            rgn_register_at(r, noop_cleanup, NULL, NULL, &sites[s]), 0);
    }
    for (int s = 3; s < 6; s++)
        for (int i = 0; i < 7 + s; i++)
            ck_assert_int_eq(
                rgn_register_at(r, noop_cleanup, NULL, NULL, &sites[s]), 0);
    capturing(&cap);
    ck_assert_int_eq(rgn_audit_dump(r, NULL, NULL), 6 + 10 + 11 + 12);
    for (int s = 0; s < 6; s++) {
        char where[64], count[32];
        snprintf(where, sizeof where, "joined.c:%d: ", s + 1);
        snprintf(count, sizeof count, ": %d live", s < 3 ? 2 : 7 + s);
        ck_assert_msg(count_lines(cap.text, "rgn: live: ", where, NULL) == 1 &&
                          count_lines(cap.text, "rgn: live: ", where, count,
                                      NULL) == 1,
                      "site %d: %s", s + 1, cap.text);
    }
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

Suite *since_suite(void)
{
    Suite *s = suite_create("since");
    TCase *marks = tcase_create("checkpoints");
    tcase_add_checked_fixture(marks, since_setup, since_teardown);
    tcase_add_test(marks, since_counts_what_was_registered_after_the_mark);
    tcase_add_test(marks, since_leaves_out_what_is_not_left_behind);
    tcase_add_test(marks, since_this_thread_counts_the_callers_own);
    tcase_add_test(marks, since_closed_counts_leaks_closes_reported);
    tcase_add_test(marks, since_names_what_the_thread_runs);
    suite_add_tcase(s, marks);
    TCase *intent = tcase_create("intent and sites");
    tcase_add_checked_fixture(intent, since_setup, since_teardown);
    tcase_add_test(intent, with_owner_block_marks_what_it_registers);
    tcase_add_test(intent, site_make_gives_one_site_per_call_site);
    tcase_add_test(intent, plain_labeled_registers_with_its_label);
    tcase_add_test(intent, labelling_after_registering_never_splits_a_site);
    tcase_add_test(intent, joined_groups_leave_no_site_out_or_twice);
    suite_add_tcase(s, intent);
    return s;
}

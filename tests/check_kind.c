/* SPDX-License-Identifier: MIT */
/*
 * check_kind.c -- kinds of resources (lib/kind.c): a kind's cleanup runs
 * as any cleanup does, priorities order a close and a clear, describe
 * names leaked resources in reports, and a resource is taken back only as
 * the kind it is.
 */
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int describe_probe(void *p, char *buf, size_t size)
{
    return snprintf(buf, size, "probe %d", ((struct probe *)p)->id);
}

static const struct rgn_kind plain_kind = {.name = "probe",
                                           .cleanup = probe_cleanup,
                                           .describe = describe_probe};
static const struct rgn_kind early_kind = {.name = "early",
                                           .cleanup = probe_cleanup,
                                           .priority = RGN_PRIORITY_EARLY};
static const struct rgn_kind late_kind = {.name = "late",
                                          .cleanup = probe_cleanup,
                                          .priority = RGN_PRIORITY_LATE};

START_TEST(a_kind_s_cleanup_runs_once)
{
    log_reset();
    struct probe p[3];
    for (int i = 0; i < 3; i++)
        probe_init(&p[i], i);
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register_kind(r, &plain_kind, &p[0], &k), 0);
    ck_assert_int_eq(rgn_register_kind(r, &plain_kind, &p[1], NULL), 0);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert_int_eq(p[0].how, RGN_RELEASE_EARLY);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p[0].runs + p[1].runs, 2);
    /* Failures: the cleanup runs at once, or nothing when there is none. */
    ck_assert_int_eq(rgn_register_kind(NULL, &plain_kind, &p[2], &k), -EINVAL);
    ck_assert_int_eq(p[2].runs, 1);
    ck_assert_int_eq(p[2].how, RGN_RELEASE_ERROR);
    ck_assert(rgn_key_is_none(k));
    r = rgn_new();
    static const struct rgn_kind none = {.name = "none"};
    ck_assert_int_eq(rgn_register_kind(r, &none, &p[2], &k), -EINVAL);
    ck_assert_int_eq(rgn_register_kind(r, NULL, &p[2], &k), -EINVAL);
    ck_assert_int_eq(p[2].runs, 1);
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* A close meets the higher priorities first, newest first within one;
 * ordinary cleanups and child regions keep their place among those of
 * 0.  A clear does the same.  Audited or not. */
static void order_of(rgn_t *r, int (*end)(rgn_t *))
{
    log_reset();
    static struct probe p[8];
    for (int i = 0; i < 8; i++)
        probe_init(&p[i], i);
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[0], NULL), 0);
    ck_assert_int_eq(rgn_register_kind(r, &early_kind, &p[1], NULL), 0);
    ck_assert_int_eq(rgn_register_kind(r, &plain_kind, &p[2], NULL), 0);
    ck_assert_int_eq(rgn_register_kind(r, &late_kind, &p[3], NULL), 0);
    rgn_t *child = rgn_new_child(r);
    ck_assert_ptr_nonnull(child);
    ck_assert_int_eq(rgn_register(child, probe_cleanup, &p[4], NULL), 0);
    ck_assert_int_eq(rgn_register_kind(r, &early_kind, &p[5], NULL), 0);
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[6], NULL), 0);
    ck_assert_int_eq(rgn_register_kind(r, &late_kind, &p[7], NULL), 0);
    ck_assert_int_eq(end(r), 0);
    ASSERT_LOG(5, 1, 6, 4, 2, 0, 7, 3);
}

static int close_it(rgn_t *r)
{
    return rgn_close(r);
}

START_TEST(priorities_order_a_close_and_a_clear)
{
    order_of(rgn_new(), close_it);
    rgn_t *r = rgn_new();
    order_of(r, rgn_clear);
    /* After the clear the region goes on in plain order. */
    log_reset();
    struct probe a, b;
    probe_init(&a, 10);
    probe_init(&b, 11);
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &a, NULL), 0);
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &b, NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ASSERT_LOG(11, 10);
    rgn_t *audited = rgn_new();
    ck_assert_int_eq(rgn_audit_set(audited, RGN_AUDIT_REPORT), 0);
    static struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    order_of(audited, rgn_close_error);
    rgn_audit_set_sink(NULL, NULL);
}
END_TEST

/* A leak report and a dump show what describe says of the oldest of a
 * group's resources; ready-made resources describe themselves. */
START_TEST(describe_names_leaked_resources)
{
    static struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    static struct probe p[5];
    for (int i = 0; i < 5; i++) {
        probe_init(&p[i], 40 + i);
        ck_assert_int_eq(rgn_register_kind(r, &plain_kind, &p[i], NULL), 0);
    }
    int fd = rgn_open(r, "/dev/null", O_RDONLY, 0, NULL);
    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_nonnull(rgn_strdup(r, "10.0.0.7:443"));
    ck_assert_int_eq(rgn_audit_dump(r, NULL, NULL), 7);
    char fdtext[64];
    snprintf(fdtext, sizeof fdtext, ": fd %d -> /dev/null", fd);
    ck_assert_msg(count_lines(c.text, "rgn: live: ", "\"probe\": 5 live,",
                              ": probe 40, probe 41, probe 42 and 2 more",
                              NULL) == 1 &&
                      count_lines(c.text, "rgn: live: ", fdtext, NULL) == 1 &&
                      count_lines(c.text, "rgn: live: ",
                                  ": \"10.0.0.7:443\"", NULL) == 1,
                  "%s", c.text);
    capturing(&c);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_msg(count_lines(c.text, "rgn: leak: ", "\"probe\": 5 live,",
                              ": probe 40, probe 41, probe 42 and 2 more",
                              NULL) == 1,
                  "%s", c.text);
    rgn_audit_set_sink(NULL, NULL);
}
END_TEST

/* A resource is taken back only as the kind it is; rgn_kind_of says
 * which, in a region that remembers kinds; a move keeps it. */
START_TEST(unprotect_kind_refuses_another_kind)
{
    struct probe p;
    probe_init(&p, 1);
    for (int audited = 0; audited < 2; audited++) {
        rgn_t *r = rgn_new();
        if (audited)
            ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
        rgn_key_t k;
        ck_assert_int_eq(rgn_register_kind(r, &plain_kind, &p, &k), 0);
        static const struct rgn_kind other = {.name = "other",
                                              .cleanup = noop_cleanup};
        void *got = NULL;
        ck_assert_int_eq(rgn_unprotect_kind(r, k, &other, &got), -EPROTOTYPE);
        ck_assert_ptr_null(got);
        ck_assert_uint_eq(rgn_live(r), 1);
        errno = 0;
        const struct rgn_kind *kind = rgn_kind_of(r, k);
        ck_assert_ptr_eq(kind, audited ? &plain_kind : NULL);
        ck_assert_int_eq(errno, 0);
        ck_assert_ptr_null(rgn_kind_of(r, RGN_KEY_NONE));
        ck_assert_int_eq(errno, ENOENT);
        if (audited) {
            rgn_t *to = rgn_new();
            ck_assert_int_eq(rgn_audit_set(to, RGN_AUDIT_REPORT), 0);
            ck_assert_int_eq(rgn_move(r, k, to, &k), 0);
            ck_assert_ptr_eq(rgn_kind_of(to, k), &plain_kind);
            ck_assert_int_eq(rgn_unprotect_kind(to, k, &plain_kind, &got), 0);
            ck_assert_int_eq(rgn_close(to), 0);
        } else {
            ck_assert_int_eq(rgn_unprotect_kind(r, k, &plain_kind, &got), 0);
        }
        ck_assert_ptr_eq(got, &p);
        ck_assert_int_eq(rgn_unprotect_kind(r, k, &plain_kind, &got), -ENOENT);
        ck_assert_int_eq(rgn_unprotect_kind(NULL, k, &plain_kind, &got),
                         -EINVAL);
        ck_assert_int_eq(rgn_unprotect_kind(r, k, NULL, &got), -EINVAL);
        ck_assert_int_eq(rgn_close(r), 0);
    }
    ck_assert_int_eq(p.runs, 0);
    ck_assert_str_eq(rgn_strerror(-EPROTOTYPE), "resource is of another kind");
}
END_TEST

struct mover {
    rgn_t *from;
    rgn_key_t key;
    int rc;
    rgn_t *to;
};

static int move_in_while_closing(void *arg, rgn_release_type how)
{
    (void)how;
    struct mover *m = arg;
    rgn_key_t k;
    m->rc = rgn_move(m->from, m->key, m->to, &k);
    return 0;
}

/* A resource of a priority moved into a region that remembered no kinds
 * keeps its kind there, and with it its place in the close: the region
 * is given what it needs to remember it, as registering it would. */
START_TEST(a_move_keeps_a_priority)
{
    struct probe p[3];
    for (int i = 0; i < 3; i++)
        probe_init(&p[i], i + 1);
    rgn_t *from = rgn_new();
    rgn_t *to = rgn_new(); /* remembers no kinds */
    rgn_key_t k, moved;
    ck_assert_int_eq(rgn_register(to, probe_cleanup, &p[0], NULL), 0);
    ck_assert_int_eq(rgn_register_kind(from, &early_kind, &p[1], &k), 0);
    ck_assert_int_eq(rgn_move(from, k, to, &moved), 0);
    ck_assert_int_eq(rgn_register(to, probe_cleanup, &p[2], NULL), 0);
    ck_assert_ptr_eq(rgn_kind_of(to, moved), &early_kind);
    ck_assert_int_eq(rgn_close(to), 0);
    ASSERT_LOG(2, 3, 1); /* early first, though 3 is newer */
    ck_assert_int_eq(rgn_close(from), 0);
    /* Into a closing region: refused as any move is, nothing moved. */
    struct mover m = {rgn_new(), RGN_KEY_NONE, 0, NULL};
    ck_assert_int_eq(rgn_register_kind(m.from, &early_kind, &p[1], &m.key), 0);
    to = rgn_new();
    ck_assert_int_eq(rgn_register(to, move_in_while_closing, &m, NULL), 0);
    m.to = to;
    ck_assert_int_eq(rgn_close(to), 0);
    ck_assert_int_eq(m.rc, -ECANCELED);
    ck_assert_uint_eq(rgn_live(m.from), 1);
    ck_assert_int_eq(rgn_close(m.from), 0);
}
END_TEST

/* A resource of a kind registered before its region remembered kinds --
 * which it begins to at its first kind of another priority than 0, or
 * when it is audited -- is taken back as that kind, by its cleanup, as
 * it was before: it was refused as "of another kind" once other kinds
 * were remembered. */
START_TEST(unprotect_kind_of_a_resource_from_before_kinds_were_kept)
{
    struct probe p[2];
    probe_init(&p[0], 1);
    probe_init(&p[1], 2);
    for (int how = 0; how < 2; how++) {
        rgn_t *r = rgn_new();
        rgn_key_t k;
        ck_assert_int_eq(rgn_register_kind(r, &plain_kind, &p[0], &k), 0);
        if (how == 0)
            ck_assert_int_eq(rgn_register_kind(r, &early_kind, &p[1], NULL),
                             0);
        else
            ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
        static const struct rgn_kind other = {.name = "other",
                                              .cleanup = noop_cleanup};
        void *got = NULL;
        ck_assert_int_eq(rgn_unprotect_kind(r, k, &other, &got), -EPROTOTYPE);
        ck_assert_int_eq(rgn_unprotect_kind(r, k, &plain_kind, &got), 0);
        ck_assert_ptr_eq(got, &p[0]);
        ck_assert_int_eq(rgn_close(r), 0);
    }
    ck_assert_int_eq(p[0].runs, 0);
    ck_assert_int_eq(p[1].runs, 1);
}
END_TEST

Suite *kind_suite(void)
{
    Suite *s = suite_create("kind");
    TCase *t = tcase_create("kinds");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_add_test(t, a_kind_s_cleanup_runs_once);
    tcase_add_test(t, priorities_order_a_close_and_a_clear);
    tcase_add_test(t, describe_names_leaked_resources);
    tcase_add_test(t, unprotect_kind_refuses_another_kind);
    tcase_add_test(t, a_move_keeps_a_priority);
    tcase_add_test(t, unprotect_kind_of_a_resource_from_before_kinds_were_kept);
    suite_add_tcase(s, t);
    return s;
}

/* SPDX-License-Identifier: MIT */
/*
 * check_ready.c -- exec safety and the ready-made resources of
 * lib/ready.c: a forked child forgets what it inherited
 * (rgn_forget_for_exec, lib/exec.c) after the kinds' before_exec; an
 * exec'd program inherits only what the program handed on; and each
 * ready-made resource -- temporary files and directories, mappings,
 * child processes, sockets, directory streams, libraries, mutex guards,
 * getline buffers, RGN_AUTOFREE -- is given back at close, describes
 * itself, and on every failure registers and keeps nothing.
 */
#define _GNU_SOURCE 1
#include "helpers.h"
#include "suites.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#define RUN_IN_CHILD(fn) ck_assert_int_eq(in_child(fn), 0)
/* An argument vector's string: posix_spawn takes char *, writes none. */
#define ARG(s) ((char *)(s))

/* ---- rgn_forget_for_exec ---------------------------------------------------- */

/* before_exec hooks note the probe's id; id 99 fails with -EIO. */
static int exec_log[64];
static int exec_n;

static int note_exec(void *res)
{
    struct probe *p = res;
    exec_log[exec_n++] = p->id;
    errno = EBADF; /* rgn keeps the caller's */
    return p->id == 99 ? -EIO : 0;
}

static const struct rgn_kind exec_kind = {
    .name = "exec", .cleanup = probe_cleanup, .before_exec = note_exec};
static const struct rgn_kind exec_early_kind = {.name = "exec-early",
                                                .cleanup = probe_cleanup,
                                                .priority =
                                                    RGN_PRIORITY_EARLY,
                                                .before_exec = note_exec};

static struct probe pa, pb, pc, e1, e2, e3, e4;
static rgn_t *inherited;

static void forget_the_inherited(void)
{
    exec_n = 0;
    CHILD_REQUIRE(rgn_forget_for_exec(inherited) == 0);
    /* Priority first, then newest first, children in their place. */
    CHILD_REQUIRE(exec_n == 4);
    CHILD_REQUIRE(exec_log[0] == e2.id && exec_log[1] == e4.id &&
                  exec_log[2] == e3.id && exec_log[3] == e1.id);
    CHILD_REQUIRE(run_count == 0); /* no cleanup ran */
    CHILD_REQUIRE(pa.runs + pb.runs + pc.runs + e1.runs + e4.runs == 0);
}

START_TEST(a_forked_child_runs_before_exec_and_no_cleanup)
{
    log_reset();
    exec_n = 0;
    struct probe *all[] = {&pa, &pb, &pc, &e1, &e2, &e3, &e4};
    for (int i = 0; i < 7; i++)
        probe_init(all[i], i + 1);
    rgn_t *r = inherited = rgn_new();
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &pa, NULL), 0);
    ck_assert_int_eq(rgn_register_kind(r, &exec_kind, &e1, NULL), 0);
    rgn_t *c = rgn_new_child(r);
    ck_assert_int_eq(rgn_register_kind(c, &exec_kind, &e3, NULL), 0);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &pc, NULL), 0);
    rgn_t *g = rgn_new_child(c);
    ck_assert_int_eq(rgn_register_kind(g, &exec_kind, &e4, NULL), 0);
    ck_assert_int_eq(rgn_register_kind(r, &exec_early_kind, &e2, NULL), 0);
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &pb, NULL), 0);
    RUN_IN_CHILD(forget_the_inherited);
    /* The parent's region is its own: nothing happened to it. */
    ck_assert_int_eq(exec_n, 0);
    ck_assert_int_eq(run_count, 0);
    ck_assert_uint_eq(rgn_live(r), 5);
    ck_assert_int_eq(rgn_close(r), 0);
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(all[i]->runs, 1);
    ck_assert_int_eq(exec_n, 0); /* a close runs no before_exec */
}
END_TEST

static rgn_t *parent_of, *child_of;
static struct probe p1, p2, c1;

static void forget_a_child(void)
{
    CHILD_REQUIRE(rgn_forget_for_exec(child_of) == 0);
    CHILD_REQUIRE(rgn_live(parent_of) == 2);
    CHILD_REQUIRE(rgn_close(parent_of) == 0);
    CHILD_REQUIRE(p1.runs == 1 && p2.runs == 1 && c1.runs == 0);
}

START_TEST(a_forgotten_child_leaves_its_parent)
{
    probe_init(&p1, 1);
    probe_init(&p2, 2);
    probe_init(&c1, 3);
    parent_of = rgn_new();
    ck_assert_int_eq(rgn_register(parent_of, probe_cleanup, &p1, NULL), 0);
    child_of = rgn_new_child(parent_of);
    ck_assert_int_eq(rgn_register(child_of, probe_cleanup, &c1, NULL), 0);
    ck_assert_int_eq(rgn_register(parent_of, probe_cleanup, &p2, NULL), 0);
    RUN_IN_CHILD(forget_a_child);
    ck_assert_int_eq(rgn_close(parent_of), 0);
    ck_assert_int_eq(p1.runs + p2.runs + c1.runs, 3);
}
END_TEST

/* 100,000 nested children, forgotten by a thread with 256 KB of stack:
 * a walk that recursed once per level would overflow it. */
#define DEEP 100000
static struct probe deep_probe, deep_exec;

static void *forget_deep(void *root)
{
    return (void *)(intptr_t)rgn_forget_for_exec(root);
}

START_TEST(a_chain_of_100k_children_is_forgotten_in_constant_stack)
{
    probe_init(&deep_probe, 1);
    probe_init(&deep_exec, 2);
    exec_n = 0;
    rgn_t *root = rgn_new(), *r = root;
    int bad = 0;
    for (int i = 0; i < DEEP && r; i++) {
        bad += rgn_register(r, probe_cleanup, &deep_probe, NULL) != 0;
        r = rgn_new_child(r);
    }
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(rgn_register_kind(r, &exec_kind, &deep_exec, NULL), 0);
    pthread_attr_t a;
    pthread_attr_init(&a);
    ck_assert_int_eq(pthread_attr_setstacksize(&a, 256 * 1024), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, &a, forget_deep, root), 0);
    void *rc;
    ck_assert_int_eq(pthread_join(t, &rc), 0);
    pthread_attr_destroy(&a);
    ck_assert_int_eq((int)(intptr_t)rc, 0);
    ck_assert_int_eq(exec_n, 1);
    ck_assert_int_eq(deep_probe.runs + deep_exec.runs, 0);
}
END_TEST

struct self_forget {
    rgn_t *r;
    int rc;
};

static int forget_from_cleanup(void *arg, rgn_release_type how)
{
    (void)how;
    struct self_forget *f = arg;
    f->rc = rgn_forget_for_exec(f->r);
    return 0;
}

START_TEST(forgetting_null_or_a_closing_region_is_refused)
{
    ck_assert_int_eq(rgn_forget_for_exec(NULL), -EINVAL);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_RGN);
    struct probe p;
    probe_init(&p, 1);
    for (int clear = 0; clear < 2; clear++) {
        struct self_forget f = {rgn_new(), 1};
        p.runs = 0;
        ck_assert_int_eq(rgn_register(f.r, probe_cleanup, &p, NULL), 0);
        ck_assert_int_eq(rgn_register(f.r, forget_from_cleanup, &f, NULL), 0);
        ck_assert_int_eq(clear ? rgn_clear(f.r) : rgn_close(f.r), 0);
        ck_assert_int_eq(f.rc, -ECANCELED);
        ck_assert_int_eq(p.runs, 1); /* the close or clear went on */
        if (clear)
            ck_assert_int_eq(rgn_close(f.r), 0);
    }
}
END_TEST

/* A before_exec that calls rgn on its region finds it closing. */
static struct probe late_probe;
static int late_rc;
static rgn_t *forgetting;

static int register_late(void *res)
{
    (void)res;
    late_rc = rgn_register(forgetting, probe_cleanup, &late_probe, NULL);
    return 0;
}

static const struct rgn_kind calling_kind = {
    .name = "calling", .cleanup = probe_cleanup, .before_exec = register_late};

static struct probe x1, x99, x2, x3;

static void forget_with_failures(void)
{
    exec_n = 0;
    errno = 1234;
    CHILD_REQUIRE(rgn_forget_for_exec(forgetting) == -EIO);
    CHILD_REQUIRE(errno == 1234);
    CHILD_REQUIRE(rgn_error_origin() == RGN_FROM_CLEANUP);
    CHILD_REQUIRE(exec_n == 3); /* the failure stopped none */
    CHILD_REQUIRE(late_rc == -ECANCELED && late_probe.runs == 1);
    CHILD_REQUIRE(x1.runs + x99.runs + x2.runs + x3.runs == 0);
}

START_TEST(before_exec_results_and_calls)
{
    probe_init(&x1, 1);
    probe_init(&x99, 99);
    probe_init(&x2, 2);
    probe_init(&x3, 3);
    probe_init(&late_probe, 4);
    forgetting = rgn_new();
    ck_assert_int_eq(rgn_register_kind(forgetting, &exec_kind, &x1, NULL), 0);
    ck_assert_int_eq(rgn_register_kind(forgetting, &exec_kind, &x99, NULL),
                     0);
    ck_assert_int_eq(rgn_register_kind(forgetting, &calling_kind, &x3, NULL),
                     0);
    ck_assert_int_eq(rgn_register_kind(forgetting, &exec_kind, &x2, NULL), 0);
    RUN_IN_CHILD(forget_with_failures);
    ck_assert_int_eq(rgn_close(forgetting), 0);
    ck_assert_int_eq(x1.runs + x99.runs + x2.runs + x3.runs, 4);
}
END_TEST

/* An audited region the child inherited, shared in the parent: forgotten
 * whatever its references, reported by nobody, and kept to catch a use
 * after it. */
static rgn_t *audited_inherited;
static struct probe leaked;

static void forget_audited(void)
{
    static struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    CHILD_REQUIRE(rgn_forget_for_exec(audited_inherited) == 0);
    CHILD_REQUIRE(rgn_audit_report_open() == 0);
    CHILD_REQUIRE(count_lines(c.text, "rgn: leak", NULL) == 0);
    CHILD_REQUIRE(rgn_close(audited_inherited) == -ECANCELED);
    CHILD_REQUIRE(count_lines(c.text, "rgn: use after close: ", NULL) == 1);
    CHILD_REQUIRE(leaked.runs == 0);
}

START_TEST(an_audited_shared_region_is_forgotten_unreported)
{
    probe_init(&leaked, 1);
    audited_inherited = rgn_new();
    ck_assert_int_eq(rgn_audit_set(audited_inherited, RGN_AUDIT_REPORT), 0);
    ck_assert_int_eq(
        rgn_register(audited_inherited, probe_cleanup, &leaked, NULL), 0);
    ck_assert_ptr_eq(rgn_share(audited_inherited), audited_inherited);
    RUN_IN_CHILD(forget_audited);
    /* The parent's two references: the first drop runs nothing, the
     * last closes the owner, which reports its leak. */
    ck_assert_int_eq(rgn_close(audited_inherited), 0);
    ck_assert_int_eq(leaked.runs, 0);
    static struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    ck_assert_int_eq(rgn_close(audited_inherited), 0);
    rgn_audit_set_sink(NULL, NULL);
    ck_assert_int_eq(leaked.runs, 1);
    ck_assert_int_eq(count_lines(c.text, "rgn: leak: ", NULL), 1);
}
END_TEST

/* A resource with a before_exec keeps its kind when it moves into a
 * region that remembered none (tests/check_kind.c has the priority). */
static rgn_t *moved_to;
static struct probe m1;

static void forget_moved(void)
{
    exec_n = 0;
    CHILD_REQUIRE(rgn_forget_for_exec(moved_to) == 0);
    CHILD_REQUIRE(exec_n == 1 && exec_log[0] == m1.id);
    CHILD_REQUIRE(m1.runs == 0);
}

START_TEST(a_move_keeps_a_before_exec)
{
    probe_init(&m1, 1);
    rgn_t *from = rgn_new();
    moved_to = rgn_new();
    rgn_key_t k, moved;
    ck_assert_int_eq(rgn_register_kind(from, &exec_kind, &m1, &k), 0);
    ck_assert_int_eq(rgn_move(from, k, moved_to, &moved), 0);
    ck_assert_ptr_eq(rgn_kind_of(moved_to, moved), &exec_kind);
    RUN_IN_CHILD(forget_moved);
    ck_assert_int_eq(rgn_close(moved_to), 0);
    ck_assert_int_eq(m1.runs, 1);
    ck_assert_int_eq(rgn_close(from), 0);
}
END_TEST

Suite *ready_suite(void)
{
    Suite *s = suite_create("ready");
    TCase *t = tcase_create("exec");
    tcase_add_test(t, a_forked_child_runs_before_exec_and_no_cleanup);
    tcase_add_test(t, a_forgotten_child_leaves_its_parent);
    tcase_add_test(t, forgetting_null_or_a_closing_region_is_refused);
    tcase_add_test(t, before_exec_results_and_calls);
    tcase_add_test(t, an_audited_shared_region_is_forgotten_unreported);
    tcase_add_test(t, a_move_keeps_a_before_exec);
    suite_add_tcase(s, t);

    t = tcase_create("deep");
    tcase_set_timeout(t, 120); /* 100,000 regions under the sanitizers */
    tcase_add_test(t, a_chain_of_100k_children_is_forgotten_in_constant_stack);
    suite_add_tcase(s, t);

    return s;
}

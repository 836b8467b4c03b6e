/* SPDX-License-Identifier: MIT */
/*
 * check_audit.c -- the leak audit (lib/audit.c).
 *
 * What the audit prints depends on the environment read once per process
 * and on what happens at exit, so the reporting cases run the programs of
 * tests/audit_scenarios.c in a child process with a chosen RGN_AUDIT and
 * read their stdout and stderr.  The on-demand calls (dump, visit, labels,
 * names) run in process through a capturing sink.
 */
#include "helpers.h"

#include <rgn_check.h>
#include "suites.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- running a scenario ------------------------------------------------ */

struct run {
    int status;   /* exit status, or 128 + signal */
    char out[65536];
    char err[65536];
};

static void slurp(int fd, char *buf, size_t size)
{
    size_t n = 0;
    ssize_t k;
    lseek(fd, 0, SEEK_SET);
    while (n + 1 < size && (k = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = '\0';
    close(fd);
}

static int temp_file(void)
{
    char name[] = "/tmp/rgn-audit-XXXXXX";
    int fd = mkstemp(name);
    ck_assert_int_ge(fd, 0);
    unlink(name);
    return fd;
}

/* Runs "audit_scenarios NAME" with RGN_AUDIT=audit (NULL: unset) and
 * RGN_AUDIT_LIMIT=limit (NULL: unset). */
static struct run *scenario(const char *name, const char *audit,
                            const char *limit)
{
    static struct run r;
    const char *top = getenv("top_builddir");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/audit_scenarios", top ? top : ".");
    int out = temp_file(), err = temp_file();
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(out, 1);
        dup2(err, 2);
        if (audit)
            setenv("RGN_AUDIT", audit, 1);
        else
            unsetenv("RGN_AUDIT");
        if (limit)
            setenv("RGN_AUDIT_LIMIT", limit, 1);
        else
            unsetenv("RGN_AUDIT_LIMIT");
        /* The scenario's own Check runs, not a selection of ours. */
        unsetenv("CK_RUN_SUITE");
        unsetenv("CK_RUN_CASE");
        execl(path, path, name, (char *)NULL);
        fprintf(stderr, "cannot run %s\n", path);
        _exit(96);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status)
                                 : 128 + WTERMSIG(status);
    slurp(out, r.out, sizeof r.out);
    slurp(err, r.err, sizeof r.err);
    ck_assert_msg(r.status != 96 && r.status != 98 && r.status != 99,
                  "scenario %s did not run (%d): %s%s", name, r.status,
                  r.out, r.err);
    return &r;
}

/* The line the scenario printed for site `name` ("site NAME LINE"). */
static int site_line(const struct run *r, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "site %s ", name);
    const char *p = strstr(r->out, key);
    ck_assert_msg(p != NULL, "scenario named no site %s", name);
    return atoi(p + strlen(key));
}

/* "audit_scenarios.c:LINE: FUNC():" for a site of the scenario. */
static const char *where(const struct run *r, const char *site,
                         const char *func)
{
    static char buf[4][128];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "audit_scenarios.c:%d: %s():",
             site_line(r, site), func);
    return b;
}

#define ASSERT_SILENT(run)                                                \
    ck_assert_msg((run)->err[0] == '\0', "expected no output, got:\n%s",  \
                  (run)->err)

/* Scenario `name` with the audit off runs cleanly and says nothing. */
static void assert_silent_when_off(const char *name)
{
    struct run *r = scenario(name, NULL, NULL);
    ck_assert_int_eq(r->status, 0);
    ASSERT_SILENT(r);
}

/* Scenario `name` under RGN_AUDIT=abort aborts after exactly one line
 * starting with `line`; returns its run for further checks. */
static struct run *assert_aborts_after(const char *name, const char *line)
{
    struct run *r = scenario(name, "abort", NULL);
    ck_assert_int_eq(r->status, 128 + SIGABRT);
    ck_assert_int_eq(count_lines(r->err, line, NULL), 1);
    return r;
}

/* The report of scenario "leak": sites a (2 live) and b ("conn", 1). */
static void assert_leak_report(const struct run *r)
{
    ck_assert_msg(count_lines(r->err, "rgn: leak: ",
                              where(r, "a", "leaky_region"),
                              " 2 live, oldest ", NULL) == 1,
                  "no line for site a:\n%s", r->err);
    ck_assert_msg(count_lines(r->err, "rgn: leak: ",
                              where(r, "b", "leaky_region"),
                              " \"conn\": 1 live, oldest ", NULL) == 1,
                  "no line for site b:\n%s", r->err);
    ck_assert_msg(count_lines(r->err, "rgn: leak summary: 3 live resources "
                              "from 2 sites at close of region ", NULL) == 1,
                  "no summary:\n%s", r->err);
    ck_assert_int_eq(count_lines(r->err, "rgn: ", NULL), 3);
}

/* ---- the environment ------------------------------------------------------ */

START_TEST(unset_or_off_is_silent)
{
    const char *values[] = {NULL, "", "off", "OFF", "0", "no", "false"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        struct run *r = scenario("leak", values[i], NULL);
        ck_assert_int_eq(r->status, 0);
        ASSERT_SILENT(r);
    }
}
END_TEST

START_TEST(report_and_its_synonyms_report)
{
    const char *values[] = {"report", "1", "on", "yes", "true", "Report"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        struct run *r = scenario("leak", values[i], NULL);
        ck_assert_int_eq(r->status, 0);
        assert_leak_report(r);
    }
}
END_TEST

START_TEST(unknown_value_warns_once_and_is_ignored)
{
    /* A value rgn does not document is not guessed at: one warning naming
     * the accepted values, and the default (off) stays. */
    const char *values[] = {"verbose", "2", "abrot", "-1"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        struct run *r = scenario("leak", values[i], NULL);
        ck_assert_int_eq(r->status, 0);
        ck_assert_int_eq(count_lines(r->err, "rgn: audit: ignoring "
                                     "RGN_AUDIT=\"", values[i], "\"", NULL),
                         1);
        ck_assert_int_eq(count_lines(r->err, "rgn: ", NULL), 1);
    }
}
END_TEST

/* The warnings about the environment go to a sink that calls rgn; it
 * hung, deadlocked on the pthread_once that read the environment. */
START_TEST(sink_may_call_rgn_while_warned_about_the_environment)
{
    struct run *r = scenario("sink_calls_rgn", NULL, NULL);
    ck_assert_msg(r->status == 0, "status %d: %s%s", r->status, r->out,
                  r->err);
    const char *vars[] = {"RGN_AUDIT=\"sometimes\"", "RGN_AUDIT_LIMIT=\"lots\"",
                          "RGN_AUDIT_HELD=\"soon\""};
    for (size_t i = 0; i < 3; i++)
        ck_assert_msg(count_lines(r->out, "SINK: rgn: audit: ignoring ",
                                  vars[i], NULL) == 1, "%s", r->out);
    ck_assert_msg(count_lines(r->out, "back with 3 sink calls", NULL) == 1,
                  "%s", r->out);
}
END_TEST

START_TEST(abort_aborts_only_when_something_is_live)
{
    struct run *r = scenario("leak", "abort", NULL);
    ck_assert_int_eq(r->status, 128 + SIGABRT);
    assert_leak_report(r); /* the report comes first */

    const char *quiet[] = {"clean", "expected", "error_close"};
    for (size_t i = 0; i < 3; i++) {
        r = scenario(quiet[i], "abort", NULL);
        ck_assert_msg(r->status == 0, "%s under abort: status %d", quiet[i],
                      r->status);
        ASSERT_SILENT(r);
    }
}
END_TEST

START_TEST(error_close_and_expected_resources_are_quiet)
{
    struct run *r = scenario("error_close", "report", NULL);
    ck_assert_int_eq(r->status, 0);
    ASSERT_SILENT(r);
    r = scenario("expected", "report", NULL);
    ck_assert_int_eq(r->status, 0);
    ASSERT_SILENT(r);
    r = scenario("clean", "report", NULL);
    ASSERT_SILENT(r);
}
END_TEST

START_TEST(exit_reports_regions_never_closed)
{
    struct run *r = scenario("never_closed", "report", NULL);
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(count_lines(r->err, "rgn: leak: region \"forever\" (made at "
                              "", "audit_scenarios.c:",
                              ") was never closed and holds 3 live resources",
                              NULL) == 1, "%s", r->err);
    ck_assert_int_eq(count_lines(r->err, "rgn: leak: ",
                                 where(r, "a", "leaky_region"), " 2 live",
                                 NULL), 1);
    ck_assert_int_eq(count_lines(r->err, "rgn: leak: ",
                                 where(r, "b", "leaky_region"),
                                 "\"conn\": 1 live", NULL), 1);
    /* The empty region never closed holds noop_cleanup, so only one. */
    ck_assert_int_eq(count_lines(r->err, "rgn: leak summary: 3 live "
                                 "resources in 1 audited region never "
                                 "closed", NULL), 1);

    r = scenario("never_closed", "abort", NULL);
    ck_assert_int_eq(r->status, 128 + SIGABRT);
    assert_silent_when_off("never_closed");
}
END_TEST

START_TEST(limit_warns_once_per_doubling)
{
    struct run *r = scenario("limit", NULL, NULL);
    ck_assert_int_eq(r->status, 0);
    /* Audit off: counts only, at 11, 21, 41 and 81 live, never again. */
    ck_assert_msg(count_lines(r->err, "rgn: limit: region ",
                              "past its limit of 10", NULL) == 4, "%s",
                  r->err);
    ck_assert_int_eq(count_lines(r->err, "rgn: limit: region ",
                                 "has 11 live resources, past its limit of "
                                 "10", NULL), 1);
    ck_assert_int_eq(count_lines(r->err, "rgn: limit: region ",
                                 "has 81 live resources", NULL), 1);
    ck_assert_int_eq(count_lines(r->err, "rgn: ", NULL), 4);

    /* Audit on: each warning names the top sites too. */
    r = scenario("limit", "report", NULL);
    ck_assert_int_eq(count_lines(r->err, "rgn: limit: region ", NULL), 4);
    ck_assert_int_eq(count_lines(r->err, "rgn: limit: ",
                                 where(r, "limit", "limit"), " 11 live",
                                 NULL), 1);
    ck_assert_int_eq(count_lines(r->err, "rgn: limit: ",
                                 where(r, "limit", "limit"), " 81 live",
                                 NULL), 1);
}
END_TEST

START_TEST(limit_from_the_environment)
{
    /* 20 live at most: warnings at 6 and 11. */
    struct run *r = scenario("clean", NULL, "5");
    ck_assert_int_eq(r->status, 0);
    ck_assert_int_eq(count_lines(r->err, "rgn: limit: region ",
                                 "past its limit of 5", NULL), 2);
    r = scenario("clean", NULL, "lots");
    ck_assert_int_eq(count_lines(r->err, "rgn: audit: ignoring "
                                 "RGN_AUDIT_LIMIT=\"lots\"", NULL), 1);
    ck_assert_int_eq(count_lines(r->err, "rgn: ", NULL), 1);
    /* Signs, blanks, units and values past size_t's range are refused,
     * not read as "about 2^64" (which puts every region on the slow path). */
    const char *bad[] = {"-1", "-100", "99999999999999999999", " 5", "5k",
                         "0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = scenario("clean", NULL, bad[i]);
        ck_assert_int_eq(r->status, 0);
        ck_assert_int_eq(count_lines(r->err, "rgn: audit: ignoring "
                                     "RGN_AUDIT_LIMIT=\"", bad[i], "\"",
                                     NULL), 1);
        ck_assert_int_eq(count_lines(r->err, "rgn: ", NULL), 1);
    }
}
END_TEST

START_TEST(one_line_per_site_however_many)
{
    struct run *r = scenario("many", "report", NULL);
    ck_assert_int_eq(r->status, 0);
    ck_assert_int_eq(count_lines(r->err, "rgn: leak: ",
                                 where(r, "many", "many"),
                                 " 100000 live, oldest ", NULL), 1);
    ck_assert_int_eq(count_lines(r->err, "rgn: ", NULL), 2);
}
END_TEST

/* The same leak in many short-lived owners: the first close prints its
 * block, the next ones within a second are counted, and the count comes
 * out as one line with the number of regions -- here, at exit. */
START_TEST(one_line_per_site_across_many_regions)
{
    struct run *r = scenario("many_owners", "report", NULL);
    ck_assert_int_eq(r->status, 0);
    const char *at = where(r, "owner", "many_owners");
    ck_assert_msg(count_lines(r->err, "rgn: leak: ", at, " 1 live, 11 B, oldest ",
                              NULL) == 1, "%s", r->err);
    ck_assert_int_eq(count_lines(r->err, "rgn: leak summary: 1 live ",
                                 NULL), 1);
    /* The rest: all 999, or (on a slow machine, past the second) what
     * came after the last block; every resource is counted once. */
    long blocks = count_lines(r->err, "rgn: leak summary: ", NULL);
    ck_assert_msg(count_lines(r->err, "rgn: leak: ", at,
                              " live at the close of ", " more regions, "
                              "the oldest ", NULL) >= 1, "%s", r->err);
    ck_assert_msg(count_lines(r->err, "rgn: ", NULL) <= 3 * blocks + 1,
                  "%s", r->err);
}
END_TEST

START_TEST(sink_receives_the_report)
{
    struct run *r = scenario("sink", "report", NULL);
    ck_assert_int_eq(r->status, 0);
    ASSERT_SILENT(r);
    ck_assert_int_eq(count_lines(r->out, "SINK: rgn: leak: ",
                                 where(r, "b", "leaky_region"), NULL), 1);
    ck_assert_int_eq(count_lines(r->out, "SINK: rgn: leak summary: 3 live",
                                 NULL), 1);
}
END_TEST

START_TEST(setters_override_the_environment)
{
    struct run *r = scenario("set_default", NULL, NULL);
    ck_assert_int_eq(r->status, 0);
    assert_leak_report(r);

    r = scenario("set_region", NULL, NULL);
    ck_assert_int_eq(count_lines(r->err, "rgn: leak: ",
                                 where(r, "loud", "set_region"), NULL), 1);
    ck_assert_int_eq(count_lines(r->err, "rgn: leak summary: ", NULL), 1);
    r = scenario("set_region", "report", NULL); /* quiet stays quiet */
    ck_assert_int_eq(count_lines(r->err, "rgn: leak summary: ", NULL), 1);
}
END_TEST

START_TEST(moved_resource_keeps_its_site_and_label)
{
    struct run *r = scenario("move", "report", NULL);
    ck_assert_int_eq(count_lines(r->err, "rgn: leak: ",
                                 where(r, "moved", "move"),
                                 "\"travels\": 1 live", NULL), 1);
    ck_assert_int_eq(count_lines(r->err, "rgn: leak summary: ", NULL), 1);
}
END_TEST

START_TEST(child_region_is_never_a_leak_of_its_parent)
{
    struct run *r = scenario("child", "abort", NULL);
    ck_assert_int_eq(r->status, 0);
    ASSERT_SILENT(r);
    r = scenario("child_owner", "report", NULL);
    ck_assert_int_eq(r->status, 0);
    ck_assert_int_eq(count_lines(r->err, "rgn: leak: ",
                                 where(r, "child", "child_owner"), NULL), 0);
    ck_assert_msg(count_lines(r->err, "rgn: leak: ",
                              where(r, "inner", "child_owner"), "1 live",
                              NULL) == 1, "%s", r->err);
    ck_assert_int_eq(count_lines(r->err, "rgn: leak summary: ", NULL), 1);
}
END_TEST

START_TEST(use_after_close_is_reported_with_the_audit_on)
{
    /* report: one line per stale call, naming the call and the region,
     * and each call fails as on a closing region. */
    struct run *r = scenario("closed_use", "report", NULL);
    ck_assert_msg(r->status == 0, "status %d: %s", r->status, r->out);
    char made[96];
    snprintf(made, sizeof made, "audit_scenarios.c:%d in closed_use()),",
             site_line(r, "made"));
    const char *calls[] = {"rgn_close ",       "rgn_release ",
                           "rgn_alloc ",       "rgn_zalloc ",
                           "rgn_memdup ",      "rgn_strndup ",
                           "rgn_asprintf ",    "rgn_share ",
                           "rgn_register ",    "rgn_close_cause ",
                           "rgn_strdup ",      "rgn_socket ",
                           "rgn_new_child "};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        ck_assert_msg(count_lines(r->err, "rgn: use after close: ", calls[i],
                                  "on region \"session\" (made at ", made,
                                  NULL) == 1,
                      "%s: %s", calls[i], r->err);
    /* A call that records its site also says where it was made: a
     * registration, and an allocation from the arena. */
    const char *sited[][2] = {{"register", "rgn_register at "},
                              {"alloc", "rgn_alloc at "},
                              {"zalloc", "rgn_zalloc at "}};
    for (size_t i = 0; i < sizeof sited / sizeof sited[0]; i++) {
        char at[96];
        snprintf(at, sizeof at, "audit_scenarios.c:%d in closed_use() on ",
                 site_line(r, sited[i][0]));
        ck_assert_msg(count_lines(r->err, "rgn: use after close: ",
                                  sited[i][1], at, NULL) == 1,
                      "%s: %s", sited[i][1], r->err);
    }
    ck_assert_int_eq(count_lines(r->err, "rgn: ", NULL), 13);
    /* abort: the first stale call (the second close) ends the program. */
    r = assert_aborts_after("closed_use", "rgn: use after close: rgn_close ");
    ck_assert_int_eq(count_lines(r->err, "rgn: ", NULL), 1);
    /* off: nothing is checked (and the scenario makes no stale call). */
    assert_silent_when_off("closed_use");
}
END_TEST

START_TEST(two_threads_on_an_unshared_region_are_reported)
{
    /* One line, naming the region and the call the other thread was in;
     * the hand-over between calls afterwards is not reported. */
    struct run *r = scenario("two_threads", "report", NULL);
    ck_assert_msg(r->status == 0, "status %d: %s%s", r->status, r->out,
                  r->err);
    char at[96];
    snprintf(at, sizeof at, "audit_scenarios.c:%d in two_threads()",
             site_line(r, "grow"));
    ck_assert_msg(count_lines(r->err, "rgn: two threads: region \"worker\"",
                              "nobody shared it", "while another was "
                              "inside a call at ", at, NULL) == 1,
                  "%s", r->err);
    ck_assert_int_eq(count_lines(r->err, "rgn: ", NULL), 1);
    assert_aborts_after("two_threads", "rgn: two threads: ");
    assert_silent_when_off("two_threads");
}
END_TEST

START_TEST(scopes_report_nothing_at_their_close)
{
    struct run *r = scenario("scopes", "abort", NULL);
    ck_assert_int_eq(r->status, 0);
    ASSERT_SILENT(r);
}
END_TEST

/* With and without CK_FORK: the two leaking tests fail, naming their
 * sites; the three clean ones pass (a leak left open by a failed test
 * used to fail every later test without CK_FORK); and the program's own
 * audit default and sink are put back, not reset. */
static void assert_check_helpers(const char *name)
{
    struct run *r = scenario(name, NULL, NULL);
    ck_assert_int_eq(r->status, 0);
    char ck[64], tcase[64], owner[64];
    snprintf(ck, sizeof ck, "audit_scenarios.c:%d:", site_line(r, "ck"));
    snprintf(tcase, sizeof tcase, "audit_scenarios.c:%d:",
             site_line(r, "tcase"));
    snprintf(owner, sizeof owner, "audit_scenarios.c:%d:",
             site_line(r, "owner") - 1);
    const char *p = strstr(r->out, "result plain fail\n");
    ck_assert_msg(p && strstr(p, "1 live resource(s) not released in r") &&
                      strstr(p, ck), "%s", r->out);
    ck_assert_int_eq(count_lines(r->out, "result plain pass", NULL), 1);
    p = strstr(r->out, "result audited fail\n");
    ck_assert_msg(p && strstr(p, "rgn audit:") && strstr(p, tcase), "%s",
                  r->out);
    /* The leak into the long-lived owner fails its own test, naming it. */
    p = strstr(p + 1, "result audited fail\n");
    ck_assert_msg(p && strstr(p, "rgn audit:") && strstr(p, owner) &&
                      strstr(p, "registered since the mark"),
                  "%s", r->out);
    ck_assert_msg(count_lines(r->out, "result audited fail", NULL) == 2,
                  "%s: %s", name, r->out);
    ck_assert_msg(count_lines(r->out, "result audited pass", NULL) == 2,
                  "%s: %s", name, r->out);
    ck_assert_msg(count_lines(r->out, "result ", NULL) == 6, "%s", r->out);
    ck_assert_msg(count_lines(r->out, "restored yes", NULL) == 1, "%s: %s",
                  name, r->out);
    ck_assert_msg(!strstr(r->err, "program sink:"), "%s", r->err);
}

/* An abort of RGN_AUDIT=abort names what the thread runs, when it said
 * so with rgn_audit_mark_named: a test binary killed by the audit says
 * which test it was running. */
START_TEST(abort_names_what_was_running)
{
    struct run *r = scenario("abort_named", "abort", NULL);
    ck_assert_int_eq(r->status, 128 + SIGABRT);
    ck_assert_msg(count_lines(r->err, "rgn: audit: aborting (RGN_AUDIT=abort) "
                              "while running \"fetch handles a short body\"",
                              NULL) == 1 &&
                      count_lines(r->err, "rgn: leak summary: ", NULL) == 1,
                  "%s", r->err);
}
END_TEST

/* RGN_AUDIT_GROWTH: a number is the floor, "off" turns growth reports
 * off, anything else warns once and keeps the default. */
START_TEST(growth_floor_from_the_environment)
{
    struct run *r = scenario("growth_default", "report", NULL);
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(count_lines(r->err, "rgn: growing: ", NULL) >= 1, "%s",
                  r->err);
    r = scenario("growth_off", "report", NULL);
    ck_assert_int_eq(r->status, 0);
    ASSERT_SILENT(r);
    r = scenario("growth_bad", "report", NULL);
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(count_lines(r->err, "rgn: audit: ignoring "
                              "RGN_AUDIT_GROWTH=\"12x\": not a count",
                              NULL) == 1 &&
                      count_lines(r->err, "rgn: growing: ", NULL) >= 1,
                  "%s", r->err);
}
END_TEST

START_TEST(check_helpers_fail_tests_that_leak)
{
    assert_check_helpers("check_helpers");
    assert_check_helpers("check_helpers_nofork");
}
END_TEST

/* ---- in process: dump, visit, labels, names, bad input -------------------- */

START_TEST(dump_groups_live_resources_by_site)
{
    rgn_t *r = audited_region(NULL);
    rgn_key_t k[5];
    int line_a = 0, line_b = 0;
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k[i]), 0); line_a = __LINE__;
    }
    rgn_key_t kb;
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &kb), 0); line_b = __LINE__;
    ck_assert_int_eq(rgn_label(r, kb, "socket"), 0);
    ck_assert_int_eq(rgn_expect_close(r, k[0]), 0);
    ck_assert_int_eq(rgn_release(r, k[4]), 0);
    ck_assert_int_eq(rgn_set_name(r, "dumped"), 0);

    struct capture c;
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)), 4); /* 5 - 1 */
    char a[64], b[64];
    snprintf(a, sizeof a, "check_audit.c:%d: ", line_a);
    snprintf(b, sizeof b, "check_audit.c:%d: ", line_b);
    ck_assert_msg(count_lines(c.text, "rgn: live: ", a,
                              "dump_groups_live_resources_by_site_fn(): 4 live",
                              NULL) == 1, "%s", c.text);
    ck_assert_int_eq(count_lines(c.text, "rgn: live: ", b,
                                 "\"socket\": 1 live", NULL), 1);
    ck_assert_int_eq(count_lines(c.text, "rgn: live summary: 5 live "
                                 "resources (1 expected at close) from 2 "
                                 "sites in region \"dumped\"", NULL), 1);
    ck_assert_int_eq(lines_in(&c), 3);
    ck_assert_uint_eq(rgn_live(r), 5); /* a dump changes nothing */
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_OFF), 0); /* quiet close */
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* A function name with its parameters -- C++20's source_location gives
 * "void handle(conn*)" -- is shown as it is; rgn wrote "void
 * handle(conn*)()", so that one caller read differently in C++17 and
 * C++20. */
START_TEST(function_names_with_parameters_get_no_second_pair)
{
    const struct rgn_site *made = rgn_site_make("srv.cc", 7, "int main()");
    const struct rgn_site *at = rgn_site_make("srv.cc", 12,
                                              "void handle(conn*)");
    ck_assert_ptr_nonnull(made);
    ck_assert_ptr_nonnull(at);
    rgn_t *r = rgn_new_at(made);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    ck_assert_int_eq(rgn_register_at(r, noop_cleanup, NULL, NULL, at), 0);
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);

    struct capture c;
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)), 2);
    ck_assert_msg(count_lines(c.text, "rgn: live: srv.cc:12: void "
                              "handle(conn*): 1 live", NULL) == 1,
                  "%s", c.text);
    ck_assert_msg(count_lines(c.text, "rgn: live summary: ",
                              "in region made at srv.cc:7 in int main()",
                              NULL) == 1,
                  "%s", c.text);
    ck_assert_msg(count_lines(c.text, "rgn: live: ",
                              "function_names_with_parameters_get_"
                              "no_second_pair_fn(): 1 live",
                              NULL) == 1,
                  "%s", c.text); /* C's __func__ still gets its pair */
    ck_assert_ptr_null(strstr(c.text, ")()"));
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_OFF), 0); /* quiet close */
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* A child region is never a leak of its parent, so the dump's result
 * leaves it out; the summary counts it apart, so that the line and the
 * result agree (it said "(1 expected at close)" for a child, and the
 * result "the number not marked with rgn_expect_close" did not say). */
START_TEST(dump_counts_child_regions_apart)
{
    rgn_t *r = audited_region(NULL);
    ck_assert_ptr_nonnull(rgn_new_child(r));
    struct capture c;
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)), 0);
    ck_assert_msg(count_lines(c.text, "rgn: live summary: 1 live resource "
                              "(1 child region) from 1 site in ",
                              NULL) == 1, "%s", c.text);
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k), 0);
    ck_assert_int_eq(rgn_expect_close(r, k), 0);
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    ck_assert_ptr_nonnull(rgn_new_child(r));
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)), 1);
    ck_assert_msg(count_lines(c.text, "rgn: live summary: 4 live resources "
                              "(1 expected at close, 2 child regions) ",
                              NULL) == 1, "%s", c.text);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_OFF), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

struct seen {
    int n;
    struct rgn_audit_entry e[8];
    int stop_after;
};

static int remember(const struct rgn_audit_entry *e, void *arg)
{
    struct seen *s = arg;
    s->e[s->n++] = *e;
    return s->n == s->stop_after ? 42 : 0;
}

START_TEST(visit_sees_every_live_resource_newest_first)
{
    rgn_t *r = audited_region(NULL);
    rgn_key_t k[3];
    int line = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k[i]), 0); line = __LINE__;
    }
    ck_assert_int_eq(rgn_label(r, k[1], "middle"), 0);
    ck_assert_int_eq(rgn_expect_close(r, k[0]), 0);
    struct seen s = {0, {{{0, 0, 0}, 0, 0, 0, 0, 0, 0}}, 0};
    ck_assert_int_eq(rgn_audit_visit(r, remember, &s), 0);
    ck_assert_int_eq(s.n, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert(rgn_key_equal(s.e[i].key, k[2 - i]));
        ck_assert_ptr_nonnull(s.e[i].file);
        ck_assert_ptr_nonnull(strstr(s.e[i].file, "check_audit.c"));
        ck_assert_int_eq(s.e[i].line, line);
        ck_assert_str_eq(s.e[i].func,
                         "visit_sees_every_live_resource_newest_first_fn");
    }
    ck_assert_ptr_null(s.e[0].label);
    ck_assert_str_eq(s.e[1].label, "middle");
    ck_assert_int_eq(s.e[0].expected, 0);
    ck_assert_int_eq(s.e[2].expected, 1);
    /* A visitor's non-zero result stops the walk and comes back. */
    s.n = 0;
    s.stop_after = 2;
    ck_assert_int_eq(rgn_audit_visit(r, remember, &s), 42);
    ck_assert_int_eq(s.n, 2);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_OFF), 0);
    rgn_close(r);
}
END_TEST

START_TEST(visit_without_audit_knows_keys_only)
{
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k), 0);
    ck_assert_int_eq(rgn_label(r, k, "ignored"), 0); /* nothing recorded */
    struct seen s = {0, {{{0, 0, 0}, 0, 0, 0, 0, 0, 0}}, 0};
    ck_assert_int_eq(rgn_audit_visit(r, remember, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert(rgn_key_equal(s.e[0].key, k));
    ck_assert_ptr_null(s.e[0].file);
    ck_assert_ptr_null(s.e[0].label);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* Dumps r, which must hold `live` resources, each of a and b on exactly
 * one "rgn: live:" line; then closes it quietly. */
static void dump_shows_then_close(rgn_t *r, long live, const char *a,
                                  const char *b)
{
    struct capture c;
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)), live);
    ck_assert_msg(count_lines(c.text, "rgn: live: ", a, NULL) == 1, "%s",
                  c.text);
    ck_assert_msg(count_lines(c.text, "rgn: live: ", b, NULL) == 1, "%s",
                  c.text);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_OFF), 0);
    rgn_close(r);
}

START_TEST(records_follow_slots_through_growth_and_reuse)
{
    rgn_t *r = audited_region(NULL);
    enum { N = 3000 };
    static rgn_key_t k[N];
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k[i]), 0);
    for (int i = 0; i < N; i += 2)
        ck_assert_int_eq(rgn_release(r, k[i]), 0);
    for (int i = 0; i < N; i += 2) { /* reuse the freed slots */
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k[i]), 0);
        ck_assert_int_eq(rgn_label(r, k[i], "second"), 0);
    }
    dump_shows_then_close(r, N, "\"second\": 1500 live", "(): 1500 live");
}
END_TEST

START_TEST(turning_audit_on_late_reports_unknown_sites)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    /* Off and on again: records made while nothing was recorded (the
     * audit off, and the lifetimes it turned on) are not trusted. */
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_OFF), 0);
    ck_assert_int_eq(rgn_lifetimes_set(r, 0), 0);
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    struct capture c;
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)), 3);
    ck_assert_msg(count_lines(c.text, "rgn: live: (unknown site): 3 live",
                              NULL) == 1, "%s", c.text);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_OFF), 0);
    rgn_close(r);
}
END_TEST

/* Records sit in one array indexed like the slots and grow with them:
 * an audit turned on in a big region must know every new resource's
 * site, and none of the old ones', across the growths and the releases
 * that recycle slots from either side. */
START_TEST(audit_turned_on_in_a_big_region_records_only_what_follows)
{
    enum { OLD = 5000, NEW = 3000 };
    static rgn_key_t old[OLD], fresh[NEW];
    rgn_t *r = rgn_new();
    for (int i = 0; i < OLD; i++)
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &old[i]), 0);
    for (int i = 0; i < OLD; i += 2) /* free slots below the records */
        ck_assert_int_eq(rgn_release(r, old[i]), 0);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    int failed = 0;
    for (int i = 0; i < NEW; i++)
        failed += rgn_register_labeled(r, noop_cleanup, NULL, &fresh[i],
                                       "fresh") != 0;
    for (int i = 0; i < NEW; i += 3)
        failed += rgn_release(r, fresh[i]) != 0;
    for (int i = 1; i < OLD; i += 4)
        failed += rgn_release(r, old[i]) != 0;
    ck_assert_int_eq(failed, 0);
    dump_shows_then_close(r, OLD / 4 + NEW - NEW / 3,
                          "(unknown site): 1250 live", "\"fresh\": 2000 live");
}
END_TEST

START_TEST(close_report_goes_to_the_installed_sink)
{
    struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    rgn_t *r = audited_region(NULL);
    ck_assert_int_eq(rgn_set_name(r, "closing"), 0);
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    rgn_audit_set_sink(NULL, NULL);
    ck_assert_int_eq(lines_in(&c), 2);
    ck_assert_int_eq(count_lines(c.text, "rgn: leak summary: 1 live resource "
                                 "from 1 site at close of region \"closing\"",
                                 NULL), 1);
}
END_TEST

START_TEST(names_are_copied_and_removable)
{
    rgn_t *r = rgn_new();
    char name[] = "first";
    ck_assert_ptr_null(rgn_name(r));
    ck_assert_int_eq(rgn_set_name(r, name), 0);
    name[0] = 'X';
    ck_assert_str_eq(rgn_name(r), "first");
    ck_assert_int_eq(rgn_set_name(r, "second"), 0);
    ck_assert_str_eq(rgn_name(r), "second");
    ck_assert_int_eq(rgn_set_name(r, NULL), 0);
    ck_assert_ptr_null(rgn_name(r));
    ck_assert_int_eq(rgn_set_name(NULL, "x"), -EINVAL);
    ck_assert_ptr_null(rgn_name(NULL));
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

static int no_visit(const struct rgn_audit_entry *e, void *arg)
{
    (void)e;
    (void)arg;
    return 0;
}

START_TEST(bad_input_is_refused_and_changes_nothing)
{
    struct probe p;
    probe_init(&p, 1);
    rgn_t *r = audited_region(NULL);
    rgn_key_t k, gone;
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &k), 0);
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &gone), 0);
    ck_assert_int_eq(rgn_release(r, gone), 0);

    ck_assert_int_eq(rgn_audit_set(NULL, RGN_AUDIT_REPORT), -EINVAL);
    ck_assert_int_eq(rgn_audit_set(r, (rgn_audit_mode)7), -EINVAL);
    ck_assert_int_eq(rgn_audit_set_default((rgn_audit_mode)-1), -EINVAL);
    ck_assert_int_eq(rgn_audit_limit(NULL, 5), -EINVAL);
    ck_assert_int_eq(rgn_label(NULL, k, "x"), -EINVAL);
    ck_assert_int_eq(rgn_label(r, RGN_KEY_NONE, "x"), -ENOENT);
    ck_assert_int_eq(rgn_label(r, gone, "x"), -ENOENT);
    ck_assert_int_eq(rgn_expect_close(NULL, k), -EINVAL);
    ck_assert_int_eq(rgn_expect_close(r, gone), -ENOENT);
    ck_assert_int_eq(rgn_audit_dump(NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(rgn_audit_visit(NULL, no_visit, NULL), -EINVAL);
    ck_assert_int_eq(rgn_audit_visit(r, NULL, NULL), -EINVAL);

    /* The region is as it was: one live resource, unmarked, unlabelled. */
    ck_assert_uint_eq(rgn_live(r), 1);
    struct seen s = {0, {{{0, 0, 0}, 0, 0, 0, 0, 0, 0}}, 0};
    ck_assert_int_eq(rgn_audit_visit(r, remember, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_ptr_null(s.e[0].label);
    ck_assert_int_eq(s.e[0].expected, 0);
    ck_assert_int_eq(p.runs, 0);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert_int_eq(p.runs, 1);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* Settings are refused while the region closes. */
struct self {
    rgn_t *r;
    int set, limit;
};

static int set_while_closing(void *arg, rgn_release_type how)
{
    (void)how;
    struct self *s = arg;
    s->set = rgn_audit_set(s->r, RGN_AUDIT_REPORT);
    s->limit = rgn_audit_limit(s->r, 3);
    return 0;
}

START_TEST(settings_refused_while_closing)
{
    struct self s = {rgn_new(), 0, 0};
    ck_assert_int_eq(rgn_register(s.r, set_while_closing, &s, NULL), 0);
    ck_assert_int_eq(rgn_close(s.r), 0);
    ck_assert_int_eq(s.set, -ECANCELED);
    ck_assert_int_eq(s.limit, -ECANCELED);
}
END_TEST

START_TEST(default_setter_round_trips)
{
    rgn_audit_mode was = rgn_audit_default();
    ck_assert_int_eq(rgn_audit_set_default(RGN_AUDIT_ABORT), 0);
    ck_assert_int_eq(rgn_audit_default(), RGN_AUDIT_ABORT);
    ck_assert_int_eq(rgn_audit_set_default(RGN_AUDIT_OFF), 0);
    ck_assert_int_eq(rgn_audit_default(), RGN_AUDIT_OFF);
    /* A region made now is not audited: a late setting does not leak
     * into it, and its close says nothing. */
    struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    rgn_audit_set_sink(NULL, NULL);
    ck_assert_int_eq(lines_in(&c), 0);
    ck_assert_int_eq(rgn_audit_set_default(was), 0);
}
END_TEST

/* Releasing a child's key closes the child as rgn_close would: its
 * cleanups see RGN_RELEASE_NORMAL, and an owner child reports what it
 * still holds (a release was an EARLY close, which reported nothing). */
START_TEST(child_released_by_key_closes_normally)
{
    static struct capture c;
    memset(&c, 0, sizeof c);
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    rgn_t *p = rgn_new();
    rgn_t *child = rgn_new_child(p);
    ck_assert_int_eq(rgn_audit_set(child, RGN_AUDIT_REPORT), 0);
    ck_assert_int_eq(rgn_set_scope(child, 0), 0); /* an owner */
    struct probe inner;
    probe_init(&inner, 1);
    ck_assert_int_eq(rgn_register_labeled(child, probe_cleanup, &inner,
                                          NULL, "inner"), 0);
    ck_assert_int_eq(rgn_release(p, rgn_child_key(child)), 0);
    ck_assert_int_eq(inner.runs, 1);
    ck_assert_int_eq(inner.how, RGN_RELEASE_NORMAL);
    ck_assert_msg(strstr(c.text, "rgn: leak: ") &&
                      strstr(c.text, "\"inner\": 1 live"), "%s", c.text);
    ck_assert_int_eq(rgn_close(p), 0);
    rgn_audit_set_sink(NULL, NULL);
}
END_TEST

/* Names and labels are quoted and escaped: none can forge a line of a
 * report (they were printed as they were). */
START_TEST(names_and_labels_cannot_forge_report_lines)
{
    static struct capture c;
    memset(&c, 0, sizeof c);
    rgn_t *r = audited_region(NULL);
    ck_assert_int_eq(rgn_set_name(r, "x\nrgn: leak summary: 0 live "
                                      "resources, all clean"), 0);
    ck_assert_int_eq(rgn_register_labeled(r, noop_cleanup, NULL, NULL,
                                          "a\"b\\c\x01"), 0);
    ck_assert_int_eq(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)), 1);
    ck_assert_int_eq(lines_in(&c), 2);
    ck_assert_msg(!strstr(c.text, "\nrgn: leak summary: 0") &&
                      strstr(c.text, "region \"x\\x0argn: leak summary") &&
                      strstr(c.text, "\"a\\\"b\\\\c\\x01\": 1 live"),
                  "%s", c.text);
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

Suite *audit_suite(void)
{
    Suite *s = suite_create("audit");
    TCase *env = tcase_create("reports");
    tcase_set_timeout(env, 60);
    tcase_add_test(env, unset_or_off_is_silent);
    tcase_add_test(env, report_and_its_synonyms_report);
    tcase_add_test(env, unknown_value_warns_once_and_is_ignored);
    tcase_add_test(env, sink_may_call_rgn_while_warned_about_the_environment);
    tcase_add_test(env, abort_aborts_only_when_something_is_live);
    tcase_add_test(env, error_close_and_expected_resources_are_quiet);
    tcase_add_test(env, exit_reports_regions_never_closed);
    tcase_add_test(env, limit_warns_once_per_doubling);
    tcase_add_test(env, limit_from_the_environment);
    tcase_add_test(env, one_line_per_site_however_many);
    tcase_add_test(env, one_line_per_site_across_many_regions);
    tcase_add_test(env, sink_receives_the_report);
    tcase_add_test(env, setters_override_the_environment);
    tcase_add_test(env, moved_resource_keeps_its_site_and_label);
    tcase_add_test(env, child_region_is_never_a_leak_of_its_parent);
    tcase_add_test(env, scopes_report_nothing_at_their_close);
    tcase_add_test(env, use_after_close_is_reported_with_the_audit_on);
    tcase_add_test(env, two_threads_on_an_unshared_region_are_reported);
    tcase_add_test(env, check_helpers_fail_tests_that_leak);
    tcase_add_test(env, abort_names_what_was_running);
    tcase_add_test(env, growth_floor_from_the_environment);
    suite_add_tcase(s, env);

    TCase *live = tcase_create("on demand");
    tcase_add_test(live, dump_groups_live_resources_by_site);
    tcase_add_test(live, function_names_with_parameters_get_no_second_pair);
    tcase_add_test(live, dump_counts_child_regions_apart);
    tcase_add_test(live, visit_sees_every_live_resource_newest_first);
    tcase_add_test(live, visit_without_audit_knows_keys_only);
    tcase_add_test(live, records_follow_slots_through_growth_and_reuse);
    tcase_add_test(live, turning_audit_on_late_reports_unknown_sites);
    tcase_add_test(live, audit_turned_on_in_a_big_region_records_only_what_follows);
    tcase_add_test(live, close_report_goes_to_the_installed_sink);
    tcase_add_test(live, names_are_copied_and_removable);
    tcase_add_test(live, bad_input_is_refused_and_changes_nothing);
    tcase_add_test(live, settings_refused_while_closing);
    tcase_add_test(live, default_setter_round_trips);
    tcase_add_test(live, child_released_by_key_closes_normally);
    tcase_add_test(live, names_and_labels_cannot_forge_report_lines);
    suite_add_tcase(s, live);
    return s;
}

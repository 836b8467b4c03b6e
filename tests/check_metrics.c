/* SPDX-License-Identifier: MIT */
/* check_metrics.c -- rgn_metrics_write (lib/metrics.c): which regions it
 * writes, the figures, and that the output is valid Prometheus text
 * format 0.0.4 -- checked by promtool when it is installed, and always by
 * the parser here. */
#include "helpers.h"
#include "suites.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs rgn_metrics_write into a string (caller frees); *rc gets its
 * result. */
static char *metrics(int *rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    *rc = rgn_metrics_write(f);
    fclose(f);
    return text;
}

static bool name_char(int c, bool first)
{
    return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

/* Reads a metric name at *p; returns its length, 0 if none. */
static size_t metric_name(const char *p)
{
    size_t n = 0;
    while (name_char((unsigned char)p[n], n == 0))
        n++;
    return n;
}

/* The families declared so far and their types. */
struct family {
    char name[128];
    char type[16];
};

static struct family *family_of(struct family *f, size_t n, const char *name,
                                size_t len)
{
    for (size_t i = 0; i < n; i++) {
        size_t fl = strlen(f[i].name);
        if (len >= fl && strncmp(name, f[i].name, fl) == 0 &&
            (len == fl || (strcmp(f[i].type, "summary") == 0 &&
                           ((len == fl + 4 && !strncmp(name + fl, "_sum", 4)) ||
                            (len == fl + 6 &&
                             !strncmp(name + fl, "_count", 6))))))
            return &f[i];
    }
    return NULL;
}

/* Parses labels at p ("{...}"), checking the escapes; returns the end,
 * sets *has_quantile. */
static const char *labels(const char *p, bool *has_quantile)
{
    *has_quantile = false;
    ck_assert_msg(*p == '{', "labels expected at: %s", p);
    p++;
    while (*p != '}') {
        size_t n = metric_name(p);
        ck_assert_msg(n > 0, "label name expected at: %s", p);
        if (n == 8 && strncmp(p, "quantile", 8) == 0)
            *has_quantile = true;
        p += n;
        ck_assert_msg(p[0] == '=' && p[1] == '"', "=\" expected at: %s", p);
        for (p += 2; *p != '"'; p++) {
            ck_assert_msg(*p && *p != '\n', "unterminated label value");
            if (*p == '\\') {
                p++;
                ck_assert_msg(*p == '\\' || *p == '"' || *p == 'n',
                              "bad escape \\%c", *p);
            }
        }
        p++;
        if (*p == ',')
            p++;
    }
    return p + 1;
}

/* Checks text against the 0.0.4 text format; returns the samples. */
static int validate(const char *text)
{
    struct family fam[32];
    size_t nfam = 0;
    int samples = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        ck_assert_msg(end != NULL, "last line lacks its newline");
        if (strncmp(line, "# TYPE ", 7) == 0) {
            size_t n = metric_name(line + 7);
            ck_assert(n > 0 && n < sizeof fam[0].name && nfam < 32);
            ck_assert_msg(!family_of(fam, nfam, line + 7, n),
                          "second TYPE for %.*s", (int)n, line + 7);
            memcpy(fam[nfam].name, line + 7, n);
            fam[nfam].name[n] = 0;
            int tl = (int)(end - (line + 8 + n));
            snprintf(fam[nfam].type, sizeof fam[nfam].type, "%.*s", tl,
                     line + 8 + n);
            ck_assert_msg(!strcmp(fam[nfam].type, "counter") ||
                              !strcmp(fam[nfam].type, "gauge") ||
                              !strcmp(fam[nfam].type, "summary"),
                          "type %s", fam[nfam].type);
            if (!strcmp(fam[nfam].type, "counter"))
                ck_assert_msg(n > 6 && !strncmp(line + 7 + n - 6, "_total", 6),
                              "counter %s lacks _total", fam[nfam].name);
            nfam++;
        } else if (strncmp(line, "# HELP ", 7) == 0) {
            ck_assert(metric_name(line + 7) > 0);
        } else {
            size_t n = metric_name(line);
            ck_assert_msg(n > 0, "sample expected: %.*s", (int)(end - line),
                          line);
            struct family *f = family_of(fam, nfam, line, n);
            ck_assert_msg(f != NULL, "sample before its TYPE: %.*s",
                          (int)(end - line), line);
            bool q = false; /* a series of the process has no labels */
            const char *p = line[n] == ' ' ? line + n : labels(line + n, &q);
            bool base = strlen(f->name) == n;
            ck_assert_msg(q == (!strcmp(f->type, "summary") && base),
                          "quantile label misplaced: %.*s",
                          (int)(end - line), line);
            ck_assert(*p == ' ');
            char *vend;
            strtod(p + 1, &vend);
            ck_assert_msg(vend == end, "bad value: %.*s", (int)(end - line),
                          line);
            samples++;
        }
        line = end + 1;
    }
    return samples;
}

/* promtool's verdict when it is installed: 1 valid, 0 not, -1 absent. */
static int promtool(const char *text)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        return -1;
    char path[] = "/tmp/rgn-metrics-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    int st = system(cmd);
    unlink(path);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* The value of the sample that starts with prefix (whole line up to the
 * value), or NAN when there is none. */
static double value_of(const char *text, const char *prefix)
{
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l)
        if (strncmp(l, prefix, strlen(prefix)) == 0 &&
            l[strlen(prefix)] == ' ')
            return strtod(l + strlen(prefix) + 1, NULL);
    return NAN;
}

START_TEST(nothing_to_write)
{
    rgn_t *plain = rgn_new();
    ck_assert_int_eq(rgn_set_name(plain, "plain"), 0); /* not audited */
    int rc;
    char *text = metrics(&rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(text, "");
    free(text);
    ck_assert_int_eq(rgn_metrics_write(NULL), -EINVAL);
    rgn_close(plain);
}
END_TEST

START_TEST(named_audited_regions_are_written_and_valid)
{
    rgn_t *a = rgn_new(), *b = rgn_new(), *odd = rgn_new(),
          *anon = rgn_new(), *plain = rgn_new();
    ck_assert_int_eq(rgn_set_name(a, "jobs"), 0);
    ck_assert_int_eq(rgn_set_name(b, "jobs"), 0);
    ck_assert_int_eq(rgn_set_name(odd, "we\"ird\\name\n"), 0);
    ck_assert_int_eq(rgn_set_name(plain, "plain"), 0);
    ck_assert_int_eq(rgn_audit_set(a, RGN_AUDIT_REPORT), 0);
    ck_assert_int_eq(rgn_lifetimes_set(b, 1), 0); /* tracked, not audited */
    ck_assert_int_eq(rgn_audit_set(odd, RGN_AUDIT_REPORT), 0);
    ck_assert_int_eq(rgn_audit_set(anon, RGN_AUDIT_REPORT), 0);
    rgn_key_t k[6];
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(rgn_register(i < 4 ? a : b, noop_cleanup, NULL,
                                      &k[i]), 0);
        ck_assert_int_eq(rgn_expect_close(i < 4 ? a : b, k[i]), 0);
    }
    ck_assert_int_eq(rgn_release(a, k[0]), 0);
    ck_assert_int_eq(rgn_release(b, k[4]), 0);
    ck_assert_int_eq(rgn_unprotect(a, k[1], NULL, NULL), 0);

    int rc;
    char *text = metrics(&rc);
    ck_assert_int_eq(rc, 2); /* "jobs" (a and b) and the odd name */
    /* Six families of each name, the sampling rate, and the one site of
     * the audited "jobs" region, live and bytes. */
    ck_assert_int_eq(validate(text), 2 * (6 + 6) + 1 + 2);
    ck_assert_int_eq(count_lines(text, "rgn_site_resources_live{region=\"jobs\",",
                                 NULL),
                     1);
    ck_assert_int_ne(promtool(text), 0);
    ck_assert_msg(strstr(text, "{region=\"we\\\"ird\\\\name\\n\"}") != NULL,
                  "%s", text);
    ck_assert(!strstr(text, "plain"));
    ck_assert(value_of(text, "rgn_resources_live{region=\"jobs\"}") == 3);
    ck_assert(value_of(text, "rgn_resources_registered_total"
                             "{region=\"jobs\"}") == 6);
    ck_assert(value_of(text, "rgn_resources_released_total"
                             "{region=\"jobs\"}") == 2);
    ck_assert(value_of(text, "rgn_resources_removed_total"
                             "{region=\"jobs\"}") == 1);
    ck_assert(value_of(text, "rgn_resource_lifetime_seconds_count"
                             "{region=\"jobs\"}") == 2);
    double p99 = value_of(text, "rgn_resource_lifetime_seconds"
                                "{region=\"jobs\",quantile=\"0.99\"}");
    ck_assert(p99 >= 0 && p99 < 10);
    /* Nothing released: the quantiles are NaN, the count 0. */
    ck_assert(isnan(value_of(text, "rgn_resource_lifetime_seconds{region="
                                   "\"we\\\"ird\\\\name\\n\",quantile="
                                   "\"0.5\"}")));
    free(text);

    /* A closed region's figures leave its series. */
    ck_assert_int_eq(rgn_close(b), 0);
    text = metrics(&rc);
    ck_assert_int_eq(rc, 2);
    ck_assert(value_of(text, "rgn_resources_live{region=\"jobs\"}") == 2);
    free(text);
    rgn_close(a);
    rgn_close(odd);
    rgn_close(anon);
    rgn_close(plain);
}
END_TEST

/* The counters a scrape must never see go down. */
static const char *const counter_families[] = {
    "rgn_resources_registered_total",
    "rgn_resources_released_total",
    "rgn_resource_lifetime_seconds_count",
    "rgn_resource_lifetime_seconds_sum",
};
enum { COUNTERS = sizeof counter_families / sizeof *counter_families };

/* value_of the counter family f for the series of region name. */
static double counter_of(const char *text, size_t f, const char *name)
{
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s{region=\"%s\"}", counter_families[f],
             name);
    return value_of(text, prefix);
}

/*
 * Makes a region per name in names[0..n-1] (names may repeat), each with
 * 100 registrations of which 50 were released, then closes them one by
 * one, scraping before and after each close: every name's counters must
 * stay in the name's own series, never go down, and no other series may
 * appear.  `distinct` is the number of different names.
 */
static void counters_never_decrease(const char *const *names, int n,
                                    int distinct)
{
    rgn_t *r[4];
    ck_assert_int_le(n, 4);
    for (int i = 0; i < n; i++) {
        r[i] = rgn_new();
        ck_assert_int_eq(rgn_set_name(r[i], names[i]), 0);
        ck_assert_int_eq(rgn_lifetimes_set(r[i], 1), 0);
        for (int j = 0; j < 100; j++) {
            rgn_key_t k;
            ck_assert_int_eq(rgn_register(r[i], noop_cleanup, NULL, &k), 0);
            if (j % 2)
                ck_assert_int_eq(rgn_release(r[i], k), 0);
        }
    }
    int rc;
    char *before = metrics(&rc);
    ck_assert_int_eq(rc, distinct);
    for (int i = 0; i < n; i++)
        ck_assert(counter_of(before, 0, names[i]) >= 100);
    for (int closed = 0; closed < n; closed++) {
        ck_assert_int_eq(rgn_close(r[closed]), 0);
        char *after = metrics(&rc); /* all gone at the end: series stay */
        ck_assert_int_eq(rc, distinct);
        ck_assert_int_ne(validate(after), -1);
        for (int i = 0; i < n; i++)
            for (size_t f = 0; f < COUNTERS; f++) {
                double b = counter_of(before, f, names[i]),
                       a = counter_of(after, f, names[i]);
                ck_assert_msg(a >= b, "%s of %s: %g, then %g after close %d",
                              counter_families[f], names[i], b, a, closed);
            }
        free(before);
        before = after;
    }
    for (int i = 0; i < n; i++) {
        char live[512];
        snprintf(live, sizeof live, "rgn_resources_live{region=\"%s\"}",
                 names[i]);
        ck_assert(value_of(before, live) == 0);
    }
    free(before);
}

/* Counters of a name never go down while the process lives: closing one
 * of two same-named regions took its counts out of the series (200 ->
 * 101 here), which Prometheus reads as a reset. */
START_TEST(counters_never_decrease_when_a_region_of_the_name_closes)
{
    static const char *const names[] = {"conn", "conn"};
    counters_never_decrease(names, 2, 1);
}
END_TEST

/* Retired totals were kept under the name's first 63 bytes: a longer
 * name's counts left its series at a close and landed in a second,
 * truncated one -- with one name, and when two names share those 63
 * bytes, in one series for both. */
#define LONG_NAME                                                         \
    "a-region-name-of-far-more-than-sixty-three-bytes-as-made-from-a-"   \
    "path-and-a-job"
START_TEST(counters_of_long_names_never_decrease)
{
    ck_assert_int_gt(strlen(LONG_NAME), 64);
    static const char *const one[] = {LONG_NAME, LONG_NAME};
    counters_never_decrease(one, 2, 1);
}
END_TEST

START_TEST(counters_of_names_sharing_63_bytes_stay_apart)
{
    static const char *const two[] = {LONG_NAME "-1", LONG_NAME "-2",
                                      LONG_NAME "-1"};
    counters_never_decrease(two, 3, 2);
}
END_TEST

/* A clear starts a region's counters again (rgn_get_stats), but the
 * _total counters of its series must not go down: what the clear ran
 * into stays counted, and goes to the name's totals at the close. */
START_TEST(counters_never_decrease_across_a_clear)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_set_name(r, "pool"), 0);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    rgn_key_t k[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k[i]), 0);
    ck_assert_int_eq(rgn_release(r, k[0]), 0);
    ck_assert_int_eq(rgn_unprotect(r, k[1], NULL, NULL), 0);
    int rc;
    char *before = metrics(&rc);
    ck_assert_int_eq(rc, 1);
    ck_assert(counter_of(before, 0, "pool") == 4);
    ck_assert_int_eq(rgn_clear(r), 0);
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k[0]), 0);
    ck_assert_int_eq(rgn_release(r, k[0]), 0);
    char *cleared = metrics(&rc);
    ck_assert_int_eq(rgn_close(r), 0);
    char *closed = metrics(&rc);
    ck_assert_int_eq(rc, 1);
    static const char *const more[] = {
        "rgn_resources_removed_total{region=\"pool\"}",
    };
    ck_assert_msg(counter_of(cleared, 0, "pool") == 5 &&
                      counter_of(cleared, 1, "pool") == 2 &&
                      value_of(cleared, more[0]) == 1,
                  "%s", cleared);
    ck_assert(counter_of(closed, 0, "pool") == 5);
    ck_assert(counter_of(closed, 1, "pool") == 2);
    ck_assert(value_of(closed, more[0]) == 1);
    free(before);
    free(cleared);
    free(closed);
}
END_TEST

/* A name that is not UTF-8 made promtool reject the whole page: invalid
 * bytes are written as U+FFFD, valid sequences as they are. */
START_TEST(names_that_are_not_utf8_are_made_valid)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_set_name(r, "caf\xc3\xa9-\xff\xc3"), 0);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    int rc;
    char *text = metrics(&rc);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(text, "{region=\"caf\xc3\xa9-\xef\xbf\xbd"
                               "\xef\xbf\xbd\"}") != NULL, "%s", text);
    ck_assert_int_ne(promtool(text), 0);
    free(text);
    rgn_close(r);
}
END_TEST

START_TEST(write_errors_are_reported)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_set_name(r, "r"), 0);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        ck_assert_int_eq(rgn_metrics_write(full), -EIO);
        fclose(full);
    }
    rgn_close(r);
}
END_TEST

/* Sites of named, audited regions are gauges labelled region, site and
 * label, with their bytes; past 256 sites the rest of a region add up
 * into its site="other" series, and the page stays valid. */
START_TEST(sites_are_series_of_their_own_and_bounded)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    ck_assert_int_eq(rgn_set_name(r, "sites"), 0);
    rgn_t *quiet = rgn_new(); /* unnamed: no series */
    ck_assert_int_eq(rgn_audit_set(quiet, RGN_AUDIT_REPORT), 0);
    ck_assert_int_eq(rgn_register(quiet, noop_cleanup, NULL, NULL), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(rgn_register_sized_at(r, noop_cleanup, NULL, NULL,
                                               100, rgn_site_make("hot.c", 7,
                                                                  "serve")),
                         0);
    for (int i = 0; i < 300; i++)
        ck_assert_int_eq(rgn_register_labeled_at(
                             r, noop_cleanup, NULL, NULL, "cold",
                             rgn_site_make("cold.c", 1000 + i, "f")),
                         0);
    int rc;
    char *text = metrics(&rc);
    ck_assert_int_eq(rc, 1);
    ck_assert_int_gt(validate(text), 0);
    ck_assert_double_eq(value_of(text, "rgn_site_resources_live{region=\"sites\","
                                       "site=\"hot.c:7\",label=\"\"}"),
                        5);
    ck_assert_double_eq(value_of(text, "rgn_site_bytes_live{region=\"sites\","
                                       "site=\"hot.c:7\",label=\"\"}"),
                        500);
    /* 256 sites shown: hot and 255 cold ones; 45 cold in "other". */
    ck_assert_int_eq(count_lines(text, "rgn_site_resources_live{", NULL), 257);
    ck_assert_int_eq(count_lines(text, "rgn_site_resources_live{", "cold",
                                 NULL),
                     255);
    ck_assert_double_eq(value_of(text, "rgn_site_resources_live{region=\"sites\","
                                       "site=\"other\",label=\"\"}"),
                        45);
    ck_assert_msg(promtool(text) != 0, "promtool rejects:\n%s", text);
    free(text);
    ck_assert_int_eq(rgn_close_error(r), 0);
    ck_assert_int_eq(rgn_close_error(quiet), 0);
}
END_TEST

/* The sampling rate is a series of its own, so that a dashboard knows
 * when the site series are estimates: 1 when every site is recorded. */
START_TEST(the_sampling_rate_is_written)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    ck_assert_int_eq(rgn_set_name(r, "rate"), 0);
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    int rc;
    char *text = metrics(&rc);
    ck_assert_int_eq(rc, 1);
    ck_assert_double_eq(value_of(text, "rgn_audit_sample_rate"), 1);
    free(text);
    ck_assert_int_eq(rgn_audit_set_sample(64), 0);
    text = metrics(&rc);
    ck_assert_double_eq(value_of(text, "rgn_audit_sample_rate"), 64);
    ck_assert_int_gt(validate(text), 0);
    ck_assert_msg(promtool(text) != 0, "promtool rejects:\n%s", text);
    free(text);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *t = tcase_create("prometheus");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, nothing_to_write);
    tcase_add_test(t, named_audited_regions_are_written_and_valid);
    tcase_add_test(t, write_errors_are_reported);
    tcase_add_test(t, counters_never_decrease_when_a_region_of_the_name_closes);
    tcase_add_test(t, counters_of_long_names_never_decrease);
    tcase_add_test(t, counters_of_names_sharing_63_bytes_stay_apart);
    tcase_add_test(t, counters_never_decrease_across_a_clear);
    tcase_add_test(t, names_that_are_not_utf8_are_made_valid);
    tcase_add_test(t, sites_are_series_of_their_own_and_bounded);
    tcase_add_test(t, the_sampling_rate_is_written);
    suite_add_tcase(s, t);
    return s;
}

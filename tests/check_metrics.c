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
            bool q;
            const char *p = labels(line + n, &q);
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
    ck_assert_int_eq(validate(text), 2 * (6 + 6));
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

/* Counters of a name never go down while the process lives: closing one
 * of two same-named regions took its counts out of the series (200 ->
 * 101 here), which Prometheus reads as a reset. */
START_TEST(counters_never_decrease_when_a_region_of_the_name_closes)
{
    rgn_t *r[2];
    for (int i = 0; i < 2; i++) {
        r[i] = rgn_new();
        ck_assert_int_eq(rgn_set_name(r[i], "conn"), 0);
        ck_assert_int_eq(rgn_lifetimes_set(r[i], 1), 0);
        for (int j = 0; j < 100; j++) {
            rgn_key_t k;
            ck_assert_int_eq(rgn_register(r[i], noop_cleanup, NULL, &k), 0);
            if (j % 2)
                ck_assert_int_eq(rgn_release(r[i], k), 0);
        }
    }
    static const char *const counters[] = {
        "rgn_resources_registered_total{region=\"conn\"}",
        "rgn_resources_released_total{region=\"conn\"}",
        "rgn_resource_lifetime_seconds_count{region=\"conn\"}",
        "rgn_resource_lifetime_seconds_sum{region=\"conn\"}",
    };
    int rc;
    char *before = metrics(&rc);
    ck_assert_int_eq(rc, 1);
    ck_assert(value_of(before, counters[0]) == 200);
    ck_assert_int_eq(rgn_close(r[0]), 0);
    char *mid = metrics(&rc);
    ck_assert_int_eq(rgn_close(r[1]), 0);
    char *after = metrics(&rc); /* all gone: the series stays */
    ck_assert_int_eq(rc, 1);
    ck_assert_int_ne(validate(after), -1);
    for (size_t i = 0; i < sizeof counters / sizeof *counters; i++) {
        double b = value_of(before, counters[i]), m = value_of(mid, counters[i]),
               a = value_of(after, counters[i]);
        ck_assert_msg(m >= b && a >= m, "%s: %g, %g, %g", counters[i], b, m,
                      a);
    }
    ck_assert(value_of(after, "rgn_resources_live{region=\"conn\"}") == 0);
    free(before);
    free(mid);
    free(after);
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

Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *t = tcase_create("prometheus");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, nothing_to_write);
    tcase_add_test(t, named_audited_regions_are_written_and_valid);
    tcase_add_test(t, write_errors_are_reported);
    tcase_add_test(t, counters_never_decrease_when_a_region_of_the_name_closes);
    tcase_add_test(t, names_that_are_not_utf8_are_made_valid);
    suite_add_tcase(s, t);
    return s;
}

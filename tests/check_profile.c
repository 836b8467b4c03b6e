/* SPDX-License-Identifier: MIT */
/*
 * check_profile.c -- rgn_profile_write (lib/profile.c, lib/snapshot.c):
 * folded stacks read back line by line, a pprof profile that gunzip
 * accepts and protoc decodes (when installed), regions of one name added
 * up, and bad input refused with nothing written.  tests/profile.sh asks
 * a running program from outside.
 */
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

static void profile_setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/rgn-profile-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void profile_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *slurp_file(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Two regions of one name add up; an unaudited region is not there. */
START_TEST(folded_stacks_name_region_site_and_label)
{
    rgn_t *a = audited_region("pool"), *b = audited_region("pool"), *plain = rgn_new();
    const struct rgn_site *conn = rgn_site_make("srv.c", 12, "accept_one");
    const struct rgn_site *buf = rgn_site_make("srv.c", 40, "read_req");
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rgn_register_labeled_at(a, noop_cleanup, NULL, NULL,
                                                 "conn", conn),
                         0);
    ck_assert_int_eq(rgn_register_labeled_at(b, noop_cleanup, NULL, NULL,
                                             "conn", conn),
                     0);
    ck_assert_ptr_nonnull(rgn_malloc_at(b, 100, buf));
    ck_assert_int_eq(rgn_register(plain, noop_cleanup, NULL, NULL), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/p.folded", dir);
    ck_assert_int_eq(rgn_profile_write(path, RGN_PROFILE_FOLDED), 0);
    const char *text = slurp_file(path);
    ck_assert_msg(count_lines(text, "pool;srv.c:12 accept_one() conn 4",
                              NULL) == 1 &&
                      count_lines(text, "pool;srv.c:40 read_req() 1", NULL) ==
                          1 &&
                      count_lines(text, "", NULL) == 2,
                  "%s", text);
    ck_assert_int_eq(rgn_close_error(a), 0);
    ck_assert_int_eq(rgn_close_error(b), 0);
    ck_assert_int_eq(rgn_close(plain), 0);
}
END_TEST

/* A pprof profile is a whole gzip member (gunzip checks its CRC and
 * size) whose samples protoc reads: resources and bytes per site, the
 * arena apart. */
START_TEST(pprof_is_gzip_that_protoc_decodes)
{
    rgn_t *r = audited_region("server");
    const struct rgn_site *site = rgn_site_make("srv.c", 7, "handle");
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_nonnull(rgn_malloc_at(r, 1000, site));
    ck_assert_ptr_nonnull(rgn_alloc(r, 3000));
    char path[128], cmd[512];
    snprintf(path, sizeof path, "%s/p.pb.gz", dir);
    ck_assert_int_eq(rgn_profile_write(path, RGN_PROFILE_PPROF), 0);
    snprintf(cmd, sizeof cmd, "gunzip -t < '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
    const char *proto = "/usr/share/gocode/src/github.com/google/pprof/proto";
    struct stat st;
    if (system("command -v protoc >/dev/null 2>&1") == 0 &&
        stat(proto, &st) == 0) {
        const char *top = getenv("top_srcdir");
        snprintf(cmd, sizeof cmd,
                 "gunzip -c '%s' | protoc --decode=perftools.profiles.Profile "
                 "-I %s profile.proto | awk -f '%s/tests/pprof-sites.awk' > "
                 "'%s/samples'",
                 path, proto, top ? top : ".", dir);
        ck_assert_int_eq(system(cmd), 0);
        snprintf(path, sizeof path, "%s/samples", dir);
        const char *text = slurp_file(path);
        ck_assert_msg(count_lines(text, "srv.c:7\t\tserver\t5\t5000", NULL) ==
                              1 &&
                          count_lines(text, "arena\t\tserver\t0\t", NULL) == 1,
                      "%s", text);
    }
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

/* Where sites are sampled a profile says so, as a comment pprof shows
 * (-comments): its counts are estimates.  A profile of every site has
 * none. */
START_TEST(a_sampled_profile_says_its_counts_are_estimates)
{
    const char *proto = "/usr/share/gocode/src/github.com/google/pprof/proto";
    struct stat st;
    if (system("command -v protoc >/dev/null 2>&1") != 0 ||
        stat(proto, &st) != 0)
        return; /* nothing to read it with */
    rgn_t *r = audited_region("sampled");
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    char path[128], cmd[512];
    for (int every = 1; every <= 64; every *= 64) {
        ck_assert_int_eq(rgn_audit_set_sample((unsigned)every), 0);
        snprintf(path, sizeof path, "%s/p%d.pb.gz", dir, every);
        ck_assert_int_eq(rgn_profile_write(path, RGN_PROFILE_PPROF), 0);
        snprintf(cmd, sizeof cmd,
                 "gunzip -c '%s' | protoc --decode=perftools.profiles.Profile "
                 "-I %s profile.proto > '%s/text'",
                 path, proto, dir);
        ck_assert_int_eq(system(cmd), 0);
        snprintf(path, sizeof path, "%s/text", dir);
        const char *text = slurp_file(path);
        int said = strstr(text, "\"rgn: sites sampled 1 in 64 "
                                 "(RGN_AUDIT_SAMPLE): counts and bytes by "
                                 "site are estimates\"") != NULL;
        ck_assert_msg(said == (every > 1) &&
                          (strstr(text, "comment:") != NULL) == (every > 1),
                      "1 in %d: %s", every, text);
    }
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
    ck_assert_int_eq(rgn_close_error(r), 0);
}
END_TEST

START_TEST(bad_input_writes_nothing)
{
    char path[128];
    snprintf(path, sizeof path, "%s/p", dir);
    ck_assert_int_eq(rgn_profile_write(NULL, RGN_PROFILE_PPROF), -EINVAL);
    ck_assert_int_eq(rgn_profile_write(path, 0), -EINVAL);
    ck_assert_int_eq(rgn_profile_write(path, 99), -EINVAL);
    ck_assert_int_ne(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/no/such/dir/p", dir);
    ck_assert_int_eq(rgn_profile_write(path, RGN_PROFILE_FOLDED), -ENOENT);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_SYSTEM);
    /* Nothing audited: an empty profile, still a valid file. */
    snprintf(path, sizeof path, "%s/empty.pb.gz", dir);
    ck_assert_int_eq(rgn_profile_write(path, RGN_PROFILE_PPROF), 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "gunzip -t < '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *profile_suite(void)
{
    Suite *s = suite_create("profile");
    TCase *t = tcase_create("write");
    tcase_add_checked_fixture(t, profile_setup, profile_teardown);
    tcase_add_test(t, folded_stacks_name_region_site_and_label);
    tcase_add_test(t, pprof_is_gzip_that_protoc_decodes);
    tcase_add_test(t, a_sampled_profile_says_its_counts_are_estimates);
    tcase_add_test(t, bad_input_writes_nothing);
    suite_add_tcase(s, t);
    return s;
}

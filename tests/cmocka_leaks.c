/* SPDX-License-Identifier: MIT */
/*
 * cmocka_leaks.c -- rgn's checkpoints in a cmocka suite, as
 * rgn_audit_mark(3) shows them: five lines of setup and teardown, and a
 * test that leaves something behind fails alone, naming the site --
 * though what it left went into a long-lived owner made before any test.
 * tests/frameworks.sh runs it under RGN_AUDIT=report and reads it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <rgn.h>

static rgn_t *server; /* lives as long as the program */

/* The adoption: five lines. */
static rgn_mark_t mark;
static int rgn_setup(void **s) { (void)s; mark = rgn_audit_mark(); return 0; }
static int rgn_teardown(void **s)
{ (void)s; return rgn_audit_since(mark, RGN_SINCE_CLOSED) ? -1 : 0; }

/* One request: the peer's name goes into the server's region, and is
 * freed when the request is done -- unless `leak`. */
static void handle_request(int leak)
{
    char *peer = rgn_strdup(server, "10.0.0.1"); /* LEAK-SITE */
    assert_non_null(peer);
    if (!leak)
        assert_int_equal(rgn_free(server, peer), 0);
}

static void leaky_handler(void **s)
{
    (void)s;
    handle_request(1);
}

static void clean_handler(void **s)
{
    (void)s;
    handle_request(0);
}

int main(void)
{
    server = rgn_new();
    if (!server)
        return 99;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(leaky_handler, rgn_setup, rgn_teardown),
        cmocka_unit_test_setup_teardown(clean_handler, rgn_setup, rgn_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    rgn_close_error(server); /* the program ends: nothing to report */
    return failed;
}

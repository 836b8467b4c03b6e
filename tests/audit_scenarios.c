/* SPDX-License-Identifier: MIT */
/*
 * audit_scenarios.c -- small programs for check_audit.c to run in a child
 * process with a chosen environment, reading what the audit writes.
 *
 *   audit_scenarios NAME
 *
 * Each scenario prints "site NAME LINE" on stdout for every registration
 * site the test should find in a report, then does its work; the audit's
 * output goes to stderr (or, in "sink", to stdout through a sink).
 */
#include <rgn.h>
#include <rgn_check.h>

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

static int nothing(void *res, rgn_release_type how)
{
    (void)res;
    (void)how;
    return 0;
}

static int count_run(void *res, rgn_release_type how)
{
    (void)how;
    ++*(int *)res;
    return 0;
}

static void site(const char *name, int line)
{
    printf("site %s %d\n", name, line);
    fflush(stdout);
}

static int must(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stdout, "FAILED: %s: %s\n", what, rgn_strerror(rc));
        exit(99);
    }
    return rc;
}

/* Two resources from site "a", one labelled "conn" from site "b", one
 * released: three are left live at a normal close. */
static rgn_t *leaky_region(rgn_key_t *extra)
{
    rgn_t *r = rgn_new();
    rgn_key_t k;
    if (!r)
        exit(99);
    for (int i = 0; i < 3; i++) {
        must(rgn_register(r, nothing, NULL, &k), "a"); site("a", __LINE__);
    }
    must(rgn_release(r, k), "release");
    must(rgn_register(r, nothing, NULL, &k), "b"); site("b", __LINE__);
    must(rgn_label(r, k, "conn"), "label");
    if (extra)
        *extra = k;
    return r;
}

static int leak(void)
{
    return rgn_close(leaky_region(NULL));
}

static int clean(void)
{
    rgn_t *r = rgn_new();
    rgn_key_t k[20];
    for (int i = 0; i < 20; i++)
        must(rgn_register(r, nothing, NULL, &k[i]), "register");
    for (int i = 0; i < 20; i++)
        must(rgn_release(r, k[i]), "release");
    return rgn_close(r);
}

static int error_close(void)
{
    return rgn_close_error(leaky_region(NULL));
}

/* Everything left is marked as meant for the close. */
static int expected(void)
{
    rgn_t *r = rgn_new();
    rgn_key_t k;
    for (int i = 0; i < 3; i++) {
        must(rgn_register(r, nothing, NULL, &k), "register");
        must(rgn_expect_close(r, k), "expect");
    }
    return rgn_close(r);
}

/* A region held in a global, never closed: only the exit report sees it.
 * An empty region never closed is not reported. */
/* volatile: kept, so leak checkers see the regions are still reachable. */
static rgn_t *volatile forever, *volatile forever_empty;
static int never_closed(void)
{
    forever = leaky_region(NULL);
    forever_empty = rgn_new();
    return rgn_set_name(forever, "forever");
}

/* Limit 10, then 100 live: warnings at 11, 21, 41 and 81 -- four.  Then
 * down to 0 and up to 100 again: nothing new, 160 is the next mark. */
static int limit(void)
{
    static rgn_key_t k[100];
    rgn_t *r = rgn_new();
    must(rgn_audit_limit(r, 10), "limit");
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100; i++) {
            must(rgn_register(r, nothing, NULL, &k[i]), "register");
            if (i == 0 && round == 0)
                site("limit", __LINE__ - 2);
        }
        for (int i = 0; i < 100; i++)
            must(rgn_release(r, k[i]), "release");
    }
    return rgn_close(r);
}

/* 100,000 leaks from one site make one report line. */
static int many(void)
{
    rgn_t *r = rgn_new();
    for (int i = 0; i < 100000; i++)
        must(rgn_register(r, nothing, NULL, NULL), "register");
    site("many", __LINE__ - 1);
    return rgn_close(r);
}

/* 1,000 short-lived owners, each leaking one string at the same site:
 * one block for the first, one line for the rest, at exit. */
static int many_owners(void)
{
    for (int i = 0; i < 1000; i++) {
        rgn_t *r = rgn_new();
        if (!r || !rgn_strdup(r, "request id")) /* not freed: a leak */
            return -1;
        site("owner", __LINE__ - 2);
        must(rgn_close(r), "close");
    }
    return 0; /* the exit report prints the count */
}

static void to_stdout(const char *line, void *arg)
{
    printf("%s: %s\n", (const char *)arg, line);
}

static int sink(void)
{
    static char prefix[] = "SINK";
    rgn_audit_set_sink(to_stdout, prefix);
    return rgn_close(leaky_region(NULL));
}

/* A sink that calls rgn -- which rgn.h allows -- while it is handed the
 * environment's warnings: each of its calls reaches the pthread_once
 * that reads the environment, which wrote the warnings from inside
 * itself, and waited for itself for ever.  The alarm turns a hang into
 * a failure the test can see. */
static atomic_int sink_calls;

static void sink_that_calls_rgn(const char *line, void *arg)
{
    (void)arg;
    printf("SINK: %s\n", line);
    fflush(stdout);
    if (rgn_audit_default() != RGN_AUDIT_OFF)
        exit(96);
    rgn_t *r = rgn_new();
    if (!r || rgn_close(r) != 0 || rgn_audit_set_held(2000000000u) != 0)
        exit(95);
    atomic_fetch_add(&sink_calls, 1);
}

static int sink_calls_rgn(void)
{
    alarm(20);
    setenv("RGN_AUDIT", "sometimes", 1);
    setenv("RGN_AUDIT_LIMIT", "lots", 1);
    setenv("RGN_AUDIT_HELD", "soon", 1);
    rgn_audit_set_sink(sink_that_calls_rgn, NULL);
    rgn_t *r = rgn_new(); /* reads the environment */
    if (!r)
        return 1;
    printf("back with %d sink calls\n", atomic_load(&sink_calls));
    return rgn_close(r);
}

/* The process-wide setter turns the audit on without the environment. */
static int set_default(void)
{
    must(rgn_audit_set_default(RGN_AUDIT_REPORT), "set default");
    return rgn_close(leaky_region(NULL));
}

/* The per-region setter turns one region's audit off, another's on. */
static int set_region(void)
{
    rgn_t *quiet = rgn_new(), *loud = rgn_new();
    rgn_key_t k;
    must(rgn_audit_set(quiet, RGN_AUDIT_OFF), "set quiet");
    must(rgn_audit_set(loud, RGN_AUDIT_REPORT), "set loud");
    must(rgn_register(quiet, nothing, NULL, &k), "quiet");
    must(rgn_register(loud, nothing, NULL, &k), "loud"); site("loud", __LINE__);
    rgn_close(quiet);
    return rgn_close(loud);
}

/* A resource moved keeps the site where it was registered. */
static int move(void)
{
    rgn_t *a = rgn_new(), *b = rgn_new();
    rgn_key_t k;
    must(rgn_register(a, nothing, NULL, &k), "register"); site("moved", __LINE__);
    must(rgn_label(a, k, "travels"), "label");
    must(rgn_move(a, k, b, NULL), "move");
    rgn_close(a); /* nothing left: silent */
    return rgn_close(b);
}

/* A child region left open in its parent is the parent's to close, not
 * its leak; the child is a scope, so what it holds goes with its close
 * too: nothing is reported. */
static int child(void)
{
    rgn_t *p = rgn_new();
    rgn_t *c = rgn_new_child(p); site("child", __LINE__);
    must(rgn_register(c, nothing, NULL, NULL), "in child"); site("inner", __LINE__);
    return rgn_close(p);
}

/* The same child made an owner: its own leak is reported at its close,
 * which the parent's close runs -- and still not the child itself. */
static int child_owner(void)
{
    rgn_t *p = rgn_new();
    rgn_t *c = rgn_new_child(p); site("child", __LINE__);
    must(rgn_set_scope(c, 0), "owner");
    must(rgn_register(c, nothing, NULL, NULL), "in child"); site("inner", __LINE__);
    return rgn_close(p);
}

/* A region used after its last close, the ways programs do it: a second
 * close, a registration, a release by an old key, an arena allocation, a
 * share, a close with a cause, a block, a ready-made resource, a child.  Only with the audit on: without it the calls are undefined. */
static int closed_use(void)
{
    if (rgn_audit_default() == RGN_AUDIT_OFF)
        return 0;
    rgn_t *r = rgn_new(); site("made", __LINE__);
    must(rgn_set_name(r, "session"), "name");
    rgn_key_t k;
    must(rgn_register(r, nothing, NULL, &k), "register");
    must(rgn_release(r, k), "release");
    must(rgn_close(r), "close");
    if (rgn_close(r) != -ECANCELED)
        return 1;
    int ran = 0;
    int rc = rgn_register(r, count_run, &ran, NULL); site("register", __LINE__);
    if (rc != -ECANCELED || ran != 1)
        return 1;
    if (rgn_release(r, k) != -ENOENT)
        return 1;
    errno = 0;
    void *p = rgn_alloc(r, 16); site("alloc", __LINE__);
    if (p != NULL || errno != ECANCELED)
        return 1;
    /* The arena's other calls are named as themselves. */
    errno = 0;
    p = rgn_zalloc(r, 16); site("zalloc", __LINE__);
    if (p != NULL || errno != ECANCELED)
        return 1;
    if (rgn_memdup(r, "x", 1) != NULL || errno != ECANCELED)
        return 1;
    if (rgn_strndup(r, "stale", 3) != NULL || errno != ECANCELED)
        return 1;
    if (rgn_asprintf(r, "%d", 1) != NULL || errno != ECANCELED)
        return 1;
    if (rgn_share(r) != NULL || errno != ECANCELED)
        return 1;
    /* Each report names the call the program made, not the one it
     * made in turn. */
    if (rgn_close_cause(r, -EIO, "stale") != -ECANCELED)
        return 1;
    if (rgn_strdup(r, "stale") != NULL || errno != ECANCELED)
        return 1;
    if (rgn_socket(r, AF_UNIX, SOCK_STREAM, 0, NULL) != -ECANCELED)
        return 1;
    errno = 0;
    if (rgn_new_child(r) != NULL || errno != ECANCELED)
        return 1;
    /* Kept regions can be given back; a new region works as ever. */
    if (rgn_audit_forget_closed() < 1)
        return 1;
    rgn_t *again = rgn_new();
    rgn_key_t k2;
    must(rgn_register(again, nothing, NULL, &k2), "again");
    must(rgn_release(again, k2), "again: release");
    return rgn_close(again);
}

/* An unshared region used by two threads at once.  Thread A registers a
 * resource whose slot growth calls the allocator under the region's lock;
 * the allocator lets B know A is inside and waits a little; B reads the
 * region's statistics meanwhile.  (With a real lock, B waits for A, whose
 * wait times out: no deadlock either way.) */
static sem_t a_inside, b_done;
static atomic_int block_next;

static void *slow_malloc(size_t n)
{
    if (atomic_exchange(&block_next, 0)) {
        sem_post(&a_inside);
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += 200000000;
        if (t.tv_nsec >= 1000000000) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000;
        }
        while (sem_timedwait(&b_done, &t) != 0 && errno == EINTR)
            ;
    }
    return malloc(n);
}

static void *reads_stats(void *arg)
{
    sem_wait(&a_inside);
    rgn_stats st;
    rgn_get_stats(arg, &st);
    sem_post(&b_done);
    return NULL;
}

static int two_threads(void)
{
    if (rgn_audit_default() == RGN_AUDIT_OFF)
        return 0;
    static const rgn_allocator slow = {slow_malloc, realloc, free};
    must(rgn_set_allocator(&slow), "allocator");
    sem_init(&a_inside, 0, 0);
    sem_init(&b_done, 0, 0);
    rgn_t *r = rgn_new();
    must(rgn_set_name(r, "worker"), "name");
    rgn_key_t k[8];
    for (int i = 0; i < 7; i++) /* the inline slots */
        must(rgn_register(r, nothing, NULL, &k[i]), "register");
    pthread_t b;
    pthread_create(&b, NULL, reads_stats, r);
    atomic_store(&block_next, 1);
    must(rgn_register(r, nothing, NULL, &k[7]), "grow"); site("grow", __LINE__);
    pthread_join(b, NULL);
    for (int i = 0; i < 8; i++)
        must(rgn_release(r, k[i]), "release");
    /* Handed over between calls, as a queue does: not reported. */
    pthread_create(&b, NULL, reads_stats, r);
    sem_post(&a_inside);
    pthread_join(b, NULL);
    return rgn_close(r);
}

/* Everything left to the close of scopes made every way there is: no
 * report, even under RGN_AUDIT=abort. */
static int body(rgn_t *r, void *arg)
{
    (void)arg;
    return rgn_strdup(r, "scratch") ? 0 : -1;
}

static int scopes(void)
{
    must(rgn_with(body, NULL), "with");
    {
        RGN_SCOPE(s);
        if (!s || !rgn_malloc(s, 64))
            return -1;
    }
    rgn_t *r = rgn_new_scope();
    must(rgn_register(r, nothing, NULL, NULL), "in scope");
    rgn_t *o = rgn_new();
    must(rgn_set_scope(o, 1), "scope");
    must(rgn_register(o, nothing, NULL, NULL), "in switched");
    must(rgn_close(o), "close switched");
    return rgn_close(r);
}

/* rgn_check.h: a test that leaks fails with the site in its message; a
 * clean one passes; the audited tcase catches a leak at close. */
START_TEST(ck_leaks)
{
    rgn_t *r = rgn_new();
    must(rgn_audit_set(r, RGN_AUDIT_REPORT), "audit");
    must(rgn_register(r, nothing, NULL, NULL), "register"); site("ck", __LINE__);
    rgn_ck_assert_no_leaks(r);
    rgn_close(r);
}
END_TEST

START_TEST(ck_clean)
{
    rgn_t *r = rgn_new();
    rgn_key_t k;
    must(rgn_audit_set(r, RGN_AUDIT_REPORT), "audit");
    must(rgn_register(r, nothing, NULL, &k), "register");
    must(rgn_expect_close(r, k), "expect");
    rgn_ck_assert_no_leaks(r);
    rgn_close(r);
}
END_TEST

START_TEST(ck_audited_leak)
{
    rgn_t *r = rgn_new();
    must(rgn_register(r, nothing, NULL, NULL), "register"); site("tcase", __LINE__);
    rgn_close(r);
}
END_TEST

START_TEST(ck_audited_clean)
{
    rgn_t *r = rgn_new();
    rgn_key_t k;
    must(rgn_register(r, nothing, NULL, &k), "register");
    must(rgn_release(r, k), "release");
    rgn_close(r);
}
END_TEST

/* A request handler whose leak goes into a long-lived owner made before
 * any test: the test that leaked fails, not a later one, nor the owner's
 * close long after. */
static rgn_t *long_lived;

START_TEST(ck_audited_leak_into_owner)
{
    must(rgn_register(long_lived, nothing, NULL, NULL), "register");
    site("owner", __LINE__);
}
END_TEST

static int program_sink_marker;

static void program_sink(const char *line, void *arg)
{
    (void)arg;
    fprintf(stderr, "program sink: %s\n", line);
}

/* Runs the four tests above under Check in the given fork mode and
 * prints each result; then whether the program's own audit default and
 * sink, installed before, are in place again. */
static int run_check_helpers(enum fork_status fork)
{
    rgn_audit_set_default(RGN_AUDIT_OFF);
    rgn_audit_set_sink(program_sink, &program_sink_marker);
    long_lived = rgn_new();
    must(rgn_audit_set(long_lived, RGN_AUDIT_REPORT), "audit owner");
    Suite *s = suite_create("rgn_check");
    TCase *plain = tcase_create("plain");
    tcase_add_test(plain, ck_leaks);
    tcase_add_test(plain, ck_clean);
    suite_add_tcase(s, plain);
    TCase *audited = tcase_create("audited");
    rgn_ck_tcase_audit(audited);
    tcase_add_test(audited, ck_audited_leak);
    tcase_add_test(audited, ck_audited_clean);
    tcase_add_test(audited, ck_audited_leak_into_owner);
    tcase_add_test(audited, ck_audited_clean);
    suite_add_tcase(s, audited);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, fork);
    srunner_run_all(sr, CK_SILENT);
    TestResult **tr = srunner_results(sr);
    for (int i = 0; i < srunner_ntests_run(sr); i++)
        printf("result %s %s\n%s\n", tr_tcname(tr[i]),
               tr_rtype(tr[i]) == CK_PASS ? "pass" : "fail", tr_msg(tr[i]));
    free(tr);
    srunner_free(sr);
    rgn_audit_sink now;
    void *arg;
    rgn_audit_get_sink(&now, &arg);
    printf("restored %s\n", now == program_sink && arg == &program_sink_marker
                                  && rgn_audit_default() == RGN_AUDIT_OFF
                              ? "yes" : "no");
    rgn_close_error(long_lived);
    return 0;
}

static int check_helpers(void)
{
    return run_check_helpers(CK_FORK);
}

static int check_helpers_nofork(void)
{
    return run_check_helpers(CK_NOFORK);
}

/* Under RGN_AUDIT=abort, an abort names what the thread said it runs. */
static int abort_named(void)
{
    rgn_audit_mark_named("fetch handles a short body");
    rgn_t *r = rgn_new();
    must(rgn_register(r, nothing, NULL, NULL), "register");
    return rgn_close(r);
}

/* A site never released, registered once a millisecond for 900 ms with
 * a held floor of 200 ms: growing by the default rule, under
 * RGN_AUDIT_GROWTH as the environment sets it. */
static int grow_with_env(const char *value)
{
    setenv("RGN_AUDIT_GROWTH", value, 1);
    rgn_audit_set_held(200000000u); /* reads the environment first */
    rgn_t *r = rgn_new();
    for (int i = 0; i < 900; i++) {
        must(rgn_register(r, nothing, NULL, NULL), "register");
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return rgn_close_error(r);
}

static int growth_default(void)
{
    return grow_with_env("128");
}

static int growth_off(void)
{
    return grow_with_env("off");
}

static int growth_bad(void)
{
    return grow_with_env("12x");
}

static const struct {
    const char *name;
    int (*run)(void);
} scenarios[] = {
    {"leak", leak},
    {"clean", clean},
    {"error_close", error_close},
    {"expected", expected},
    {"never_closed", never_closed},
    {"limit", limit},
    {"many", many},
    {"many_owners", many_owners},
    {"sink", sink},
    {"sink_calls_rgn", sink_calls_rgn},
    {"set_default", set_default},
    {"set_region", set_region},
    {"move", move},
    {"child", child},
    {"child_owner", child_owner},
    {"scopes", scopes},
    {"closed_use", closed_use},
    {"two_threads", two_threads},
    {"check_helpers", check_helpers},
    {"check_helpers_nofork", check_helpers_nofork},
    {"abort_named", abort_named},
    {"growth_default", growth_default},
    {"growth_off", growth_off},
    {"growth_bad", growth_bad},
};

int main(int argc, char **argv)
{
    if (argc != 2)
        return 98;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(argv[1], scenarios[i].name) == 0)
            return scenarios[i].run() == 0 ? 0 : 97;
    return 98;
}

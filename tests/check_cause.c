/* SPDX-License-Identifier: MIT */
/*
 * check_cause.c -- close causes (lib/cause.c): what rgn_cause() shows each
 * cleanup of a close with a cause, and of closes, clears and releases
 * nested inside one; the text copied before the first cleanup; drops that
 * are not the last; the causes of rgn_thread_create's and rgn_with's error
 * closes, cancelled ones included; a close cancelled inside a cleanup.
 */
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* What one cleanup saw. */
struct seen {
    int runs;
    rgn_release_type how;
    int has;   /* rgn_cause() was not NULL */
    int code;
    char text[96]; /* "(null)" for a cause without text */
};

static void look(struct seen *s, rgn_release_type how)
{
    const struct rgn_cause *c = rgn_cause();
    s->runs++;
    s->how = how;
    s->has = c != NULL;
    s->code = c ? c->code : 0;
    snprintf(s->text, sizeof s->text, "%s",
             c && c->text ? c->text : "(null)");
}

static int seeing(void *p, rgn_release_type how)
{
    look(p, how);
    return 0;
}

#define ASSERT_SEEN(s, c, t)                                              \
    do {                                                                  \
        ck_assert_int_eq((s).runs, 1);                                    \
        ck_assert_int_eq((s).has, 1);                                     \
        ck_assert_int_eq((s).how, RGN_RELEASE_ERROR);                     \
        ck_assert_int_eq((s).code, (c));                                  \
        ck_assert_str_eq((s).text, (t));                                  \
    } while (0)
#define ASSERT_NONE(s)                                                    \
    do {                                                                  \
        ck_assert_int_eq((s).runs, 1);                                    \
        ck_assert_int_eq((s).has, 0);                                     \
    } while (0)

START_TEST(every_cleanup_of_the_close_sees_its_cause)
{
    struct seen s[3] = {{0}};
    rgn_t *r = rgn_new();
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rgn_register(r, seeing, &s[i], NULL), 0);
    ck_assert_ptr_null(rgn_cause());
    ck_assert_int_eq(rgn_close_cause(r, -EIO, "disk full"), 0);
    for (int i = 0; i < 3; i++)
        ASSERT_SEEN(s[i], -EIO, "disk full");
    ck_assert_ptr_null(rgn_cause()); /* the close is over */

    /* No text: the code alone. */
    memset(s, 0, sizeof s);
    r = rgn_new();
    ck_assert_int_eq(rgn_register(r, seeing, &s[0], NULL), 0);
    ck_assert_int_eq(rgn_close_cause(r, 42, NULL), 0);
    ASSERT_SEEN(s[0], 42, "(null)");
}
END_TEST

/* Closes without a cause show none: rgn_close, rgn_close_error,
 * rgn_clear, a release. */
START_TEST(closes_without_a_cause_show_none)
{
    struct seen s[4] = {{0}};
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, seeing, &s[0], &k), 0);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ASSERT_NONE(s[0]);
    ck_assert_int_eq(rgn_register(r, seeing, &s[1], NULL), 0);
    ck_assert_int_eq(rgn_clear(r), 0);
    ASSERT_NONE(s[1]);
    ck_assert_int_eq(rgn_register(r, seeing, &s[2], NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ASSERT_NONE(s[2]);
    r = rgn_new();
    ck_assert_int_eq(rgn_register(r, seeing, &s[3], NULL), 0);
    ck_assert_int_eq(rgn_close_error(r), 0);
    ASSERT_NONE(s[3]);
    ck_assert_int_eq(s[3].how, RGN_RELEASE_ERROR);
}
END_TEST

/* The text is copied before the first cleanup runs: a cleanup that
 * overwrites or frees the caller's text does not change what the next
 * one sees. */
static char scratch[32];

static int scribble(void *p, rgn_release_type how)
{
    look(p, how);
    memset(scratch, 'X', sizeof scratch - 1);
    return 0;
}

START_TEST(the_text_is_copied_before_the_first_cleanup)
{
    struct seen s[3] = {{0}};
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, seeing, &s[0], NULL), 0);
    ck_assert_int_eq(rgn_register(r, seeing, &s[1], NULL), 0);
    ck_assert_int_eq(rgn_register(r, scribble, &s[2], NULL), 0);
    snprintf(scratch, sizeof scratch, "request %d failed", 17);
    ck_assert_int_eq(rgn_close_cause(r, -EPIPE, scratch), 0);
    ASSERT_SEEN(s[2], -EPIPE, "request 17 failed");
    ASSERT_SEEN(s[1], -EPIPE, "request 17 failed");
    ASSERT_SEEN(s[0], -EPIPE, "request 17 failed");

    /* Text in the closing region's own memory, freed by its cleanup
     * (newest, so first): under ASan a read of it after would fail. */
    memset(s, 0, sizeof s);
    r = rgn_new();
    ck_assert_int_eq(rgn_register(r, seeing, &s[0], NULL), 0);
    char *text = rgn_strdup(r, "in the region");
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(rgn_close_cause(r, -1, text), 0);
    ASSERT_SEEN(s[0], -1, "in the region");
}
END_TEST

/* Children closed by a close with a cause see its cause, to any depth. */
START_TEST(child_regions_see_their_parent_s_cause)
{
    struct seen s[4] = {{0}};
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, seeing, &s[0], NULL), 0);
    rgn_t *parent = r;
    for (int d = 1; d < 4; d++) {
        rgn_t *c = rgn_new_child(parent);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(rgn_register(c, seeing, &s[d], NULL), 0);
        parent = c;
    }
    ck_assert_int_eq(rgn_close_cause(r, -ETIMEDOUT, "deadline"), 0);
    for (int d = 0; d < 4; d++)
        ASSERT_SEEN(s[d], -ETIMEDOUT, "deadline");
}
END_TEST

/* Inside a cleanup of a close with a cause: a release, a close and a
 * clear of other regions show their own (none, or the one given), and
 * the outer cause shows again afterwards. */
struct nest {
    rgn_t *r;          /* the closing region */
    rgn_key_t other;   /* a resource of r, released from the cleanup */
    rgn_t *plain;      /* closed with rgn_close_error */
    rgn_t *caused;     /* closed with rgn_close_cause */
    rgn_t *cleared;    /* cleared */
    struct seen before, after;
};

static int nesting(void *p, rgn_release_type how)
{
    struct nest *n = p;
    look(&n->before, how);
    ck_assert_int_eq(rgn_release(n->r, n->other), 0);
    ck_assert_int_eq(rgn_close_error(n->plain), 0);
    ck_assert_int_eq(rgn_close_cause(n->caused, -2, "inner"), 0);
    ck_assert_int_eq(rgn_clear(n->cleared), 0);
    look(&n->after, how);
    return 0;
}

START_TEST(nested_releases_closes_and_clears_show_their_own)
{
    struct seen released = {0}, plain = {0}, caused = {0}, cleared = {0};
    struct seen last = {0};
    struct nest n = {0};
    n.r = rgn_new();
    n.plain = rgn_new();
    n.caused = rgn_new();
    n.cleared = rgn_new();
    ck_assert_int_eq(rgn_register(n.r, seeing, &last, NULL), 0);
    ck_assert_int_eq(rgn_register(n.r, seeing, &released, &n.other), 0);
    ck_assert_int_eq(rgn_register(n.r, nesting, &n, NULL), 0);
    ck_assert_int_eq(rgn_register(n.plain, seeing, &plain, NULL), 0);
    ck_assert_int_eq(rgn_register(n.caused, seeing, &caused, NULL), 0);
    ck_assert_int_eq(rgn_register(n.cleared, seeing, &cleared, NULL), 0);
    ck_assert_int_eq(rgn_close_cause(n.r, -1, "outer"), 0);
    ASSERT_SEEN(n.before, -1, "outer");
    ASSERT_NONE(released);
    ck_assert_int_eq(released.how, RGN_RELEASE_EARLY);
    ASSERT_NONE(plain);
    ASSERT_SEEN(caused, -2, "inner");
    ASSERT_NONE(cleared);
    ASSERT_SEEN(n.after, -1, "outer");
    ASSERT_SEEN(last, -1, "outer");
    ck_assert_int_eq(rgn_close(n.cleared), 0);
    ck_assert_ptr_null(rgn_cause());
}
END_TEST

/* A registration refused inside a close with a cause gives its resource
 * back with RGN_RELEASE_ERROR, and no cause: the error is the refusal. */
static struct seen refused;

static int registers(void *p, rgn_release_type how)
{
    look(p, how);
    ck_assert_int_eq(rgn_register(NULL, seeing, &refused, NULL), -EINVAL);
    return 0;
}

START_TEST(a_refused_registration_inside_shows_no_cause)
{
    struct seen s = {0};
    memset(&refused, 0, sizeof refused);
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, registers, &s, NULL), 0);
    ck_assert_int_eq(rgn_close_cause(r, -3, "x"), 0);
    ASSERT_SEEN(s, -3, "x");
    ASSERT_NONE(refused);
    ck_assert_int_eq(refused.how, RGN_RELEASE_ERROR);
}
END_TEST

/* A drop that is not the last passes nothing on: the last drop's release
 * type and cause are the close's. */
START_TEST(only_the_last_drop_s_cause_counts)
{
    struct seen s = {0};
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, seeing, &s, NULL), 0);
    ck_assert_ptr_eq(rgn_share(r), r);
    ck_assert_int_eq(rgn_close_cause(r, -EIO, "first"), 0);
    ck_assert_int_eq(s.runs, 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ASSERT_NONE(s);
    ck_assert_int_eq(s.how, RGN_RELEASE_NORMAL);

    memset(&s, 0, sizeof s);
    r = rgn_new();
    ck_assert_int_eq(rgn_register(r, seeing, &s, NULL), 0);
    ck_assert_ptr_eq(rgn_share(r), r);
    ck_assert_int_eq(rgn_close_cause(r, -EIO, "first"), 0);
    ck_assert_int_eq(rgn_close_cause(r, -EPIPE, "last"), 0);
    ASSERT_SEEN(s, -EPIPE, "last");
}
END_TEST

START_TEST(bad_input_is_einval_and_leaves_the_region)
{
    struct seen s = {0};
    ck_assert_int_eq(rgn_close_cause(NULL, -EIO, "x"), -EINVAL);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_RGN);
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, seeing, &s, NULL), 0);
    ck_assert_int_eq(rgn_close_cause(r, 0, "no failure"), -EINVAL);
    ck_assert_int_eq(s.runs, 0);
    ck_assert_uint_eq(rgn_live(r), 1);
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0); /* r was open, and still ours */
    ASSERT_NONE(s);
}
END_TEST

/* A cleanup's failure is the close's result, as with rgn_close_error. */
static int failing(void *p, rgn_release_type how)
{
    look(p, how);
    return -ENOSPC;
}

START_TEST(the_close_returns_what_rgn_close_error_would)
{
    struct seen s = {0};
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, failing, &s, NULL), 0);
    ck_assert_int_eq(rgn_close_cause(r, -EIO, "x"), -ENOSPC);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_CLEANUP);
    ASSERT_SEEN(s, -EIO, "x");
}
END_TEST

/* ---- threads and scopes ------------------------------------------------ */

struct job {
    int ret;
    sem_t closed; /* the creator dropped its reference */
    struct seen s;
};

/* (No ck_assert outside the test's own thread: a failed registration
 * shows as a cleanup that never ran with the expected cause.) */
static int job_fn(rgn_t *r, void *arg)
{
    struct job *j = arg;
    (void)rgn_register(r, seeing, &j->s, NULL);
    while (sem_wait(&j->closed) != 0)
        ;
    return j->ret;
}

/* The thread's drop is the last: it closes with fn's failure as cause. */
START_TEST(a_failed_thread_function_is_the_cause)
{
    struct job j = {.ret = -5};
    ck_assert_int_eq(sem_init(&j.closed, 0, 0), 0);
    rgn_t *r = rgn_new();
    pthread_t t;
    ck_assert_int_eq(rgn_thread_create(&t, NULL, r, job_fn, &j), 0);
    ck_assert_int_eq(rgn_close(r), 0); /* not the last */
    sem_post(&j.closed);
    void *ret;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_int_eq((int)(intptr_t)ret, -5);
    ASSERT_SEEN(j.s, -5, "thread function returned -5");

    /* Success: a normal close, no cause. */
    memset(&j.s, 0, sizeof j.s);
    j.ret = 0;
    r = rgn_new();
    ck_assert_int_eq(rgn_thread_create(&t, NULL, r, job_fn, &j), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    sem_post(&j.closed);
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ASSERT_NONE(j.s);
    ck_assert_int_eq(j.s.how, RGN_RELEASE_NORMAL);
    sem_destroy(&j.closed);
}
END_TEST

static sem_t inside;

static int waits_to_be_cancelled(rgn_t *r, void *arg)
{
    (void)rgn_register(r, seeing, arg, NULL);
    sem_post(&inside);
    for (;;)
        pause(); /* a cancellation point */
    return 0;
}

START_TEST(a_cancelled_thread_function_is_the_cause)
{
    struct seen s = {0};
    ck_assert_int_eq(sem_init(&inside, 0, 0), 0);
    rgn_t *r = rgn_new();
    pthread_t t;
    ck_assert_int_eq(
        rgn_thread_create(&t, NULL, r, waits_to_be_cancelled, &s), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    while (sem_wait(&inside) != 0)
        ;
    ck_assert_int_eq(pthread_cancel(t), 0);
    void *ret;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_ptr_eq(ret, PTHREAD_CANCELED);
    ASSERT_SEEN(s, -ECANCELED, "thread function was cancelled");
    sem_destroy(&inside);
}
END_TEST

static int failing_body(rgn_t *r, void *arg)
{
    ck_assert_int_eq(rgn_register(r, seeing, arg, NULL), 0);
    return -7;
}

START_TEST(a_failed_rgn_with_body_is_the_cause)
{
    struct seen s = {0};
    ck_assert_int_eq(rgn_with(failing_body, &s), -7);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_CALLER);
    ASSERT_SEEN(s, -7, "rgn_with body returned -7");
}
END_TEST

static void *runs_a_scope(void *arg)
{
    rgn_with(waits_to_be_cancelled, arg);
    return NULL;
}

START_TEST(a_cancelled_rgn_with_body_is_the_cause)
{
    struct seen s = {0};
    ck_assert_int_eq(sem_init(&inside, 0, 0), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, runs_a_scope, &s), 0);
    while (sem_wait(&inside) != 0)
        ;
    ck_assert_int_eq(pthread_cancel(t), 0);
    void *ret;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_ptr_eq(ret, PTHREAD_CANCELED);
    ASSERT_SEEN(s, -ECANCELED, "rgn_with body was cancelled or threw");
    sem_destroy(&inside);
}
END_TEST

/* A close cancelled inside one of its cleanups runs the others as the
 * thread unwinds: they still see the cause, and once the close is done
 * the thread shows none. */
struct cancelled_close {
    struct seen older, newer;
    struct seen after; /* what a handler of the thread saw, after */
};

static int blocks(void *p, rgn_release_type how)
{
    look(p, how);
    sem_post(&inside);
    for (;;)
        pause(); /* a cancellation point */
    return 0;
}

static void after_unwinding(void *p)
{
    struct cancelled_close *c = p;
    c->after.runs++;
    c->after.has = rgn_cause() != NULL;
}

static void *closes_with_a_cause(void *p)
{
    struct cancelled_close *c = p;
    rgn_t *r = rgn_new();
    (void)rgn_register(r, seeing, &c->older, NULL);
    (void)rgn_register(r, blocks, &c->newer, NULL);
    pthread_cleanup_push(after_unwinding, c);
    rgn_close_cause(r, -EINTR, "shutting down");
    pthread_cleanup_pop(0);
    return NULL;
}

START_TEST(a_cancelled_close_shows_its_cause_as_it_unwinds)
{
    struct cancelled_close c;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(sem_init(&inside, 0, 0), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, closes_with_a_cause, &c), 0);
    while (sem_wait(&inside) != 0)
        ;
    ck_assert_int_eq(pthread_cancel(t), 0);
    void *ret;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_ptr_eq(ret, PTHREAD_CANCELED);
    ASSERT_SEEN(c.newer, -EINTR, "shutting down");
    ASSERT_SEEN(c.older, -EINTR, "shutting down");
    ASSERT_NONE(c.after);
    sem_destroy(&inside);
}
END_TEST

/* A cause is the closing thread's: a close that another thread runs
 * meanwhile, while a cleanup of a close with a cause waits for it, shows
 * none. */
struct two {
    rgn_t *other;
    struct seen other_seen;
};

static void *closes_other(void *p)
{
    struct two *w = p;
    (void)rgn_close_error(w->other);
    return NULL;
}

static int closes_elsewhere(void *p, rgn_release_type how)
{
    (void)how;
    struct two *w = p;
    pthread_t t;
    /* Handed to the thread between calls, and waited for. */
    if (pthread_create(&t, NULL, closes_other, w) == 0)
        pthread_join(t, NULL);
    return 0;
}

START_TEST(a_cause_belongs_to_the_closing_thread)
{
    struct two w = {0};
    w.other = rgn_new();
    ck_assert_int_eq(rgn_register(w.other, seeing, &w.other_seen, NULL), 0);
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, closes_elsewhere, &w, NULL), 0);
    ck_assert_int_eq(rgn_close_cause(r, -1, "here"), 0);
    ASSERT_NONE(w.other_seen);
    ck_assert_int_eq(w.other_seen.how, RGN_RELEASE_ERROR);
}
END_TEST

Suite *cause_suite(void)
{
    Suite *s = suite_create("cause");
    TCase *t = tcase_create("causes");
    tcase_add_test(t, every_cleanup_of_the_close_sees_its_cause);
    tcase_add_test(t, closes_without_a_cause_show_none);
    tcase_add_test(t, the_text_is_copied_before_the_first_cleanup);
    tcase_add_test(t, child_regions_see_their_parent_s_cause);
    tcase_add_test(t, nested_releases_closes_and_clears_show_their_own);
    tcase_add_test(t, a_refused_registration_inside_shows_no_cause);
    tcase_add_test(t, only_the_last_drop_s_cause_counts);
    tcase_add_test(t, bad_input_is_einval_and_leaves_the_region);
    tcase_add_test(t, the_close_returns_what_rgn_close_error_would);
    suite_add_tcase(s, t);

    t = tcase_create("threads");
    tcase_add_test(t, a_failed_thread_function_is_the_cause);
    tcase_add_test(t, a_cancelled_thread_function_is_the_cause);
    tcase_add_test(t, a_failed_rgn_with_body_is_the_cause);
    tcase_add_test(t, a_cancelled_rgn_with_body_is_the_cause);
    tcase_add_test(t, a_cancelled_close_shows_its_cause_as_it_unwinds);
    tcase_add_test(t, a_cause_belongs_to_the_closing_thread);
    suite_add_tcase(s, t);
    return s;
}

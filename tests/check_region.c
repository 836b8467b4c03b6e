/* SPDX-License-Identifier: MIT */
/* check_region.c -- a region's life: close order, release types, results,
 * reentrant calls from cleanups, and child regions. */
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>


/* Registers probes p[0..n-1] (ids as set) in r. */
static void register_all(rgn_t *r, struct probe *p, int n, rgn_key_t *keys)
{
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[i],
                                      keys ? &keys[i] : NULL), 0);
}

START_TEST(empty_region_closes_cleanly)
{
    rgn_t *r = rgn_new();
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(run_count, 0);
}
END_TEST

START_TEST(close_runs_newest_first_with_normal)
{
    struct probe p[20];
    for (int i = 0; i < 20; i++)
        probe_init(&p[i], i + 1);
    rgn_t *r = rgn_new();
    register_all(r, p, 20, NULL); /* spans inline slots and a block */
    ck_assert_uint_eq(rgn_live(r), 20);
    ck_assert_int_eq(rgn_close(r), 0);
    ASSERT_LOG(20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
               3, 2, 1);
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(p[i].runs, 1);
        ck_assert_int_eq(p[i].how, RGN_RELEASE_NORMAL);
    }
}
END_TEST

START_TEST(close_error_runs_with_error)
{
    struct probe p[3];
    for (int i = 0; i < 3; i++)
        probe_init(&p[i], i + 1);
    rgn_t *r = rgn_new();
    register_all(r, p, 3, NULL);
    ck_assert_int_eq(rgn_close_error(r), 0);
    ASSERT_LOG(3, 2, 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(p[i].how, RGN_RELEASE_ERROR);
}
END_TEST

START_TEST(lifo_survives_interleaved_releases)
{
    struct probe p[6];
    rgn_key_t k[6];
    for (int i = 0; i < 6; i++)
        probe_init(&p[i], i + 1);
    rgn_t *r = rgn_new();
    register_all(r, p, 4, k);
    ck_assert_int_eq(rgn_release(r, k[1]), 0); /* 2 */
    register_all(r, p + 4, 2, k + 4);
    ck_assert_int_eq(rgn_release(r, k[4]), 0); /* 5 */
    ck_assert_int_eq(rgn_release(r, k[0]), 0); /* 1 */
    ck_assert_uint_eq(rgn_live(r), 3);
    ck_assert_int_eq(rgn_close(r), 0);
    ASSERT_LOG(2, 5, 1, 6, 4, 3);
    ck_assert_int_eq(p[1].how, RGN_RELEASE_EARLY);
    ck_assert_int_eq(p[5].how, RGN_RELEASE_NORMAL);
}
END_TEST

START_TEST(every_cleanup_runs_and_first_failure_is_returned)
{
    struct probe p[4];
    for (int i = 0; i < 4; i++)
        probe_init(&p[i], i + 1);
    p[0].ret = -EIO;
    p[2].ret = 7;
    p[3].ret = 0;
    rgn_t *r = rgn_new();
    register_all(r, p, 4, NULL);
    /* Newest first: 4 (ok), 3 (7), 2 (ok), 1 (-EIO): 7 came first. */
    ck_assert_int_eq(rgn_close(r), 7);
    ASSERT_LOG(4, 3, 2, 1);
}
END_TEST

static int clobber_errno(void *res, rgn_release_type how)
{
    (void)res;
    (void)how;
    errno = EPIPE;
    return -EPIPE;
}

START_TEST(errno_survives_cleanups)
{
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, clobber_errno, NULL, &k), 0);
    ck_assert_int_eq(rgn_register(r, clobber_errno, NULL, NULL), 0);
    errno = 1234;
    ck_assert_int_eq(rgn_release(r, k), -EPIPE);
    ck_assert_int_eq(errno, 1234);
    ck_assert_int_eq(rgn_close(r), -EPIPE);
    ck_assert_int_eq(errno, 1234);
}
END_TEST

struct first_release {
    rgn_t *r;
    rgn_key_t k;
    int rc, err;
};

static void *release_first_thing(void *arg)
{
    struct first_release *f = arg;
    errno = 4321;
    f->rc = rgn_release(f->r, f->k); /* this thread's first rgn call */
    f->err = errno;
    return NULL;
}

/* A thread's first release finds errno's address before it runs the
 * cleanup (lib/resource.c, release_first): errno survives that one too,
 * in a plain region, an audited one, and a sampled audited one whose
 * later registrations are lean (each path finds the address apart). */
START_TEST(errno_survives_a_threads_first_release)
{
    for (int way = 0; way < 3; way++) {
        if (way == 2)
            ck_assert_int_eq(rgn_audit_set_sample(64), 0);
        rgn_t *r = rgn_new();
        if (way > 0)
            ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
        rgn_key_t k[4];
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(rgn_register(r, clobber_errno, NULL, &k[i]), 0);
        for (int i = 0; i < 4; i++) {
            /* The region passes from thread to thread, one at a time. */
            struct first_release f = {r, k[i], 0, 0};
            pthread_t t;
            ck_assert_int_eq(pthread_create(&t, NULL, release_first_thing, &f),
                             0);
            ck_assert_int_eq(pthread_join(t, NULL), 0);
            ck_assert_int_eq(f.rc, -EPIPE);
            ck_assert_int_eq(f.err, 4321);
        }
        ck_assert_uint_eq(rgn_live(r), 0);
        ck_assert_int_eq(rgn_close(r), 0);
        ck_assert_int_eq(rgn_audit_set_sample(1), 0);
    }
}
END_TEST

START_TEST(close_null_is_einval)
{
    ck_assert_int_eq(rgn_close(NULL), -EINVAL);
    ck_assert_int_eq(rgn_close_error(NULL), -EINVAL);
    ck_assert_uint_eq(rgn_live(NULL), 0);
}
END_TEST

/* ---- reentrant calls from cleanups while the region closes ------------ */

struct reentry {
    rgn_t *r;
    rgn_key_t key;
    struct probe *extra;
    int rc;            /* what the reentrant call returned */
    rgn_key_t got_key;
    rgn_cleanup_fn got_fn;
    void *got_res;
    int runs;
};

static int closes_own_region(void *arg, rgn_release_type how)
{
    struct reentry *e = arg;
    (void)how;
    e->runs++;
    e->rc = rgn_close(e->r);
    return 0;
}

START_TEST(closing_a_closing_region_is_ecanceled)
{
    struct probe p;
    probe_init(&p, 1);
    struct reentry e = {0};
    e.r = rgn_new();
    ck_assert_int_eq(rgn_register(e.r, probe_cleanup, &p, NULL), 0);
    ck_assert_int_eq(rgn_register(e.r, closes_own_region, &e, NULL), 0);
    ck_assert_int_eq(rgn_close(e.r), 0);
    ck_assert_int_eq(e.rc, -ECANCELED);
    ck_assert_int_eq(e.runs, 1);
    ck_assert_int_eq(p.runs, 1); /* the close went on */
}
END_TEST

/* A cleanup that closes its own region, then fails. */
static int closes_own_region_and_fails(void *arg, rgn_release_type how)
{
    struct reentry *e = arg;
    (void)how;
    e->runs++;
    e->rc = rgn_close(e->r);
    return -EIO;
}

static void count_failure(void *arg, int result, void *resource,
                          rgn_release_type how)
{
    (void)result;
    (void)resource;
    (void)how;
    ++*(int *)arg;
}

/* rgn_release returns the failure of a cleanup that freed the region
 * it was released from, and counts it nowhere: the region is gone (its
 * memory the next region's).  The close that freed it ran the region's
 * other cleanups. */
START_TEST(a_release_whose_cleanup_freed_its_region_counts_nothing_there)
{
    for (int shared = 0; shared < 2; shared++) {
        struct probe p;
        probe_init(&p, 1);
        struct reentry e = {0};
        int failures = 0;
        e.r = rgn_new();
        rgn_t *other = shared ? rgn_share(e.r) : NULL;
        ck_assert_int_eq(rgn_on_cleanup_error(e.r, count_failure, &failures),
                         0);
        ck_assert_int_eq(rgn_register(e.r, probe_cleanup, &p, NULL), 0);
        rgn_key_t k;
        ck_assert_int_eq(
            rgn_register(e.r, closes_own_region_and_fails, &e, &k), 0);
        if (other)
            ck_assert_int_eq(rgn_close(other), 0); /* e.r's is the last */
        ck_assert_int_eq(rgn_release(e.r, k), -EIO);
        ck_assert_int_eq(rgn_error_origin(), RGN_FROM_CLEANUP);
        ck_assert_int_eq(e.runs, 1);
        ck_assert_int_eq(e.rc, 0);
        ck_assert_int_eq(p.runs, 1);
        ck_assert_int_eq(failures, 0);
        /* The next region may be the same memory: it starts clean. */
        rgn_t *next = rgn_new();
        struct rgn_stats st;
        ck_assert_int_eq(rgn_get_stats(next, &st), 0);
        ck_assert_uint_eq(st.cleanup_errors, 0);
        ck_assert_int_eq(rgn_close(next), 0);
    }
}
END_TEST

static int registers_during_close(void *arg, rgn_release_type how)
{
    struct reentry *e = arg;
    (void)how;
    e->got_key.slot = 12345;
    e->rc = rgn_register(e->r, probe_cleanup, e->extra, &e->got_key);
    return 0;
}

START_TEST(register_while_closing_is_refused_and_cleaned)
{
    struct probe extra;
    probe_init(&extra, 9);
    struct reentry e = {0};
    e.r = rgn_new();
    e.extra = &extra;
    ck_assert_int_eq(rgn_register(e.r, registers_during_close, &e, NULL), 0);
    ck_assert_int_eq(rgn_close(e.r), 0);
    ck_assert_int_eq(e.rc, -ECANCELED);
    ck_assert_int_eq(extra.runs, 1);
    ck_assert_int_eq(extra.how, RGN_RELEASE_ERROR);
    ck_assert(rgn_key_is_none(e.got_key));
}
END_TEST

static int releases_during_close(void *arg, rgn_release_type how)
{
    struct reentry *e = arg;
    (void)how;
    e->rc = rgn_release(e->r, e->key);
    if (run_count < LOG_MAX)
        run_log[run_count++] = 100;
    return 0;
}

START_TEST(release_while_closing_runs_once_at_that_moment)
{
    struct probe p[3];
    for (int i = 0; i < 3; i++)
        probe_init(&p[i], i + 1);
    struct reentry e = {0};
    e.r = rgn_new();
    rgn_key_t k[3];
    register_all(e.r, p, 3, k);
    e.key = k[0];
    ck_assert_int_eq(rgn_register(e.r, releases_during_close, &e, NULL), 0);
    ck_assert_int_eq(rgn_close(e.r), 0);
    ck_assert_int_eq(e.rc, 0);
    /* The releaser (100) ran first and released 1 inside it; 1 never ran
     * again; 3 and 2 followed in order. */
    ASSERT_LOG(1, 100, 3, 2);
    ck_assert_int_eq(p[0].runs, 1);
    ck_assert_int_eq(p[0].how, RGN_RELEASE_EARLY);
}
END_TEST

static int releases_a_closed_key(void *arg, rgn_release_type how)
{
    struct reentry *e = arg;
    (void)how;
    e->rc = rgn_release(e->r, e->key);
    return 0;
}

START_TEST(release_of_an_already_closed_key_is_enoent)
{
    struct probe p;
    probe_init(&p, 1);
    struct reentry e = {0};
    e.r = rgn_new();
    ck_assert_int_eq(rgn_register(e.r, releases_a_closed_key, &e, NULL), 0);
    ck_assert_int_eq(rgn_register(e.r, probe_cleanup, &p, &e.key), 0);
    ck_assert_int_eq(rgn_close(e.r), 0);
    ck_assert_int_eq(e.rc, -ENOENT);
    ck_assert_int_eq(p.runs, 1);
}
END_TEST

static int unprotects_during_close(void *arg, rgn_release_type how)
{
    struct reentry *e = arg;
    (void)how;
    e->rc = rgn_unprotect(e->r, e->key, &e->got_fn, &e->got_res);
    return 0;
}

START_TEST(unprotect_while_closing_hands_the_resource_back)
{
    struct probe p;
    probe_init(&p, 1);
    struct reentry e = {0};
    e.r = rgn_new();
    ck_assert_int_eq(rgn_register(e.r, probe_cleanup, &p, &e.key), 0);
    ck_assert_int_eq(rgn_register(e.r, unprotects_during_close, &e, NULL), 0);
    ck_assert_int_eq(rgn_close(e.r), 0);
    ck_assert_int_eq(e.rc, 0);
    ck_assert_int_eq(p.runs, 0);
    ck_assert_ptr_eq(e.got_res, &p);
    ck_assert(e.got_fn == probe_cleanup);
}
END_TEST

struct census {
    rgn_t *r;
    size_t seen, live;
    int calls;
};

static int count_entry(const struct rgn_audit_entry *e, void *arg)
{
    struct census *c = arg;
    (void)e;
    c->seen++;
    return 0;
}

/* From a cleanup: what the region shows of itself must be what is live. */
static int counts_during_close(void *arg, rgn_release_type how)
{
    struct census *c = arg;
    (void)how;
    c->seen = 0;
    c->live = rgn_live(c->r);
    ck_assert_int_eq(rgn_audit_visit(c->r, count_entry, c), 0);
    ck_assert_uint_eq(c->seen, c->live);
    c->calls++;
    return 0;
}

START_TEST(a_closing_region_shows_only_what_is_left)
{
    struct census c = {rgn_new(), 0, 0, 0};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(rgn_register(c.r, counts_during_close, &c, NULL),
                         0);
        ck_assert_int_eq(rgn_register(c.r, noop_cleanup, NULL, NULL), 0);
    }
    ck_assert_int_eq(rgn_close(c.r), 0);
    ck_assert_int_eq(c.calls, 5);
    ck_assert_uint_eq(c.live, 0); /* the last ran with nothing older */
}
END_TEST

/* ---- child regions -------------------------------------------------- */

START_TEST(parent_closes_child_in_its_place)
{
    struct probe a, x, y, b;
    probe_init(&a, 1);
    probe_init(&x, 2);
    probe_init(&y, 3);
    probe_init(&b, 4);
    rgn_t *p = rgn_new();
    ck_assert_int_eq(rgn_register(p, probe_cleanup, &a, NULL), 0);
    rgn_t *c = rgn_new_child(p);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(rgn_live(p), 2);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &x, NULL), 0);
    ck_assert_int_eq(rgn_register(p, probe_cleanup, &b, NULL), 0);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &y, NULL), 0);
    ck_assert_int_eq(rgn_close(p), 0);
    /* b is newer than the child; the child's own are newest first; a is
     * older than the child. */
    ASSERT_LOG(4, 3, 2, 1);
    ck_assert_int_eq(x.how, RGN_RELEASE_NORMAL);
}
END_TEST

START_TEST(parent_close_error_reaches_the_child)
{
    struct probe x;
    probe_init(&x, 1);
    rgn_t *p = rgn_new();
    rgn_t *c = rgn_new_child(p);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &x, NULL), 0);
    ck_assert_int_eq(rgn_close_error(p), 0);
    ck_assert_int_eq(x.runs, 1);
    ck_assert_int_eq(x.how, RGN_RELEASE_ERROR);
}
END_TEST

START_TEST(child_closed_first_leaves_its_parent)
{
    struct probe a, x;
    probe_init(&a, 1);
    probe_init(&x, 2);
    rgn_t *p = rgn_new();
    ck_assert_int_eq(rgn_register(p, probe_cleanup, &a, NULL), 0);
    rgn_t *c = rgn_new_child(p);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &x, NULL), 0);
    x.ret = 5;
    ck_assert_int_eq(rgn_close(c), 5);
    ck_assert_int_eq(x.runs, 1);
    ck_assert_uint_eq(rgn_live(p), 1);
    ck_assert_int_eq(rgn_close(p), 0);
    ASSERT_LOG(2, 1);
}
END_TEST

/* The cleanup rgn_unprotect hands back for a child, registered again
 * with rgn_register (rgn.h's inline path, which must leave it to the
 * library), makes the region a child of its new parent: its own close
 * then leaves that parent, and the parent's close does not close it
 * again. */
START_TEST(unprotected_child_registered_again_is_a_child_again)
{
    struct probe x;
    probe_init(&x, 1);
    rgn_t *p = rgn_new(), *q = rgn_new();
    rgn_t *c = rgn_new_child(p);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &x, NULL), 0);
    rgn_cleanup_fn fn;
    void *res;
    ck_assert_int_eq(rgn_unprotect(p, rgn_child_key(c), &fn, &res), 0);
    ck_assert_ptr_eq(res, c);
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(q, fn, res, &k), 0);
    ck_assert(rgn_key_equal(k, rgn_child_key(c)));
    ck_assert_uint_eq(rgn_live(q), 1);
    ck_assert_int_eq(rgn_close(c), 0);
    ck_assert_int_eq(x.runs, 1);
    ck_assert_uint_eq(rgn_live(q), 0); /* it left q */
    ck_assert_int_eq(rgn_close(q), 0);
    ck_assert_int_eq(rgn_close(p), 0);
    ck_assert_int_eq(x.runs, 1);
}
END_TEST

START_TEST(grandchildren_close_with_the_root)
{
    struct probe x, y;
    probe_init(&x, 1);
    probe_init(&y, 2);
    rgn_t *root = rgn_new();
    rgn_t *c = rgn_new_child(root);
    rgn_t *g = rgn_new_child(c);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &x, NULL), 0);
    ck_assert_int_eq(rgn_register(g, probe_cleanup, &y, NULL), 0);
    ck_assert_int_eq(rgn_close(root), 0);
    ASSERT_LOG(1, 2); /* x is newer in c than the grandchild */
}
END_TEST

START_TEST(child_result_reaches_the_parent_close)
{
    struct probe x;
    probe_init(&x, 1);
    x.ret = -EIO;
    rgn_t *p = rgn_new();
    rgn_t *c = rgn_new_child(p);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &x, NULL), 0);
    ck_assert_int_eq(rgn_close(p), -EIO);
}
END_TEST

START_TEST(new_child_of_null_is_einval)
{
    errno = 0;
    ck_assert_ptr_null(rgn_new_child(NULL));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

struct child_attempt {
    rgn_t *parent;
    rgn_t *child;
    int err;
};

static int makes_child_during_close(void *arg, rgn_release_type how)
{
    struct child_attempt *a = arg;
    (void)how;
    errno = 0;
    a->child = rgn_new_child(a->parent);
    a->err = errno;
    return 0;
}

START_TEST(new_child_of_closing_parent_is_ecanceled)
{
    struct child_attempt a = {rgn_new(), NULL, 0};
    ck_assert_int_eq(rgn_register(a.parent, makes_child_during_close, &a,
                                  NULL), 0);
    ck_assert_int_eq(rgn_close(a.parent), 0);
    ck_assert_ptr_null(a.child);
    ck_assert_int_eq(a.err, ECANCELED);
}
END_TEST

static int closes_child(void *arg, rgn_release_type how)
{
    (void)how;
    return rgn_close(arg);
}

/* A cleanup of one region closes another: the other's cleanups run at
 * that moment, inside the first close, and both closes complete. */
struct closer {
    rgn_t *other;
    int rc;
};

static int close_other(void *arg, rgn_release_type how)
{
    (void)how;
    struct closer *c = arg;
    c->rc = rgn_close(c->other);
    return 0;
}

START_TEST(cleanup_that_closes_another_region)
{
    struct probe p[4];
    for (int i = 0; i < 4; i++)
        probe_init(&p[i], i + 1);
    rgn_t *a = rgn_new(), *b = rgn_new();
    struct closer c = {b, -1};
    ck_assert_int_eq(rgn_register(a, probe_cleanup, &p[0], NULL), 0);
    ck_assert_int_eq(rgn_register(a, close_other, &c, NULL), 0);
    ck_assert_int_eq(rgn_register(a, probe_cleanup, &p[1], NULL), 0);
    ck_assert_int_eq(rgn_register(b, probe_cleanup, &p[2], NULL), 0);
    ck_assert_int_eq(rgn_register(b, probe_cleanup, &p[3], NULL), 0);
    ck_assert_int_eq(rgn_close(a), 0);
    ck_assert_int_eq(c.rc, 0);
    ASSERT_LOG(2, 4, 3, 1); /* b's close nests inside a's, newest first */
}
END_TEST

START_TEST(child_closed_by_a_cleanup_of_its_closing_parent_runs_once)
{
    struct probe x;
    probe_init(&x, 1);
    rgn_t *p = rgn_new();
    rgn_t *c = rgn_new_child(p);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &x, NULL), 0);
    ck_assert_int_eq(rgn_register(p, closes_child, c, NULL), 0);
    ck_assert_int_eq(rgn_close(p), 0);
    ck_assert_int_eq(x.runs, 1);
    ck_assert_int_eq(x.how, RGN_RELEASE_NORMAL);
}
END_TEST

/* ---- deep chains ------------------------------------------------------ */

/* Each level of a chain holds one resource made before its child and one
 * after; a cleanup writes its number into the next place of `order`. */
#define DEEP 100000
static int *order;
static int order_n;

static int record(void *resource, rgn_release_type how)
{
    (void)how;
    order[order_n++] = (int)(intptr_t)resource;
    return (intptr_t)resource == 2 * (DEEP / 2) + 1 ? -EIO : 0;
}

/* Builds a chain of `depth` nested children under root: level i
 * registers 2i+1 (older), its child, then 2i+2 (newer). */
static rgn_t *build_chain(rgn_t *root, int depth)
{
    ck_assert_ptr_nonnull(root);
    rgn_t *r = root;
    int bad = 0; /* counted: one assertion per level would be 300,000 */
    for (int i = 0; i < depth && r; i++) {
        bad += rgn_register(r, record, (void *)(intptr_t)(2 * i + 1),
                            NULL) != 0;
        rgn_t *c = rgn_new_child(r);
        bad += rgn_register(r, record, (void *)(intptr_t)(2 * i + 2),
                            NULL) != 0;
        r = c;
    }
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(bad, 0);
    return root;
}

/* Newer resources from the root down, then the older ones from the
 * deepest level up: newest first at every level. */
static void check_chain_order(int depth)
{
    ck_assert_int_eq(order_n, 2 * depth);
    int bad = 0;
    for (int i = 0; i < depth; i++) {
        bad += order[i] != 2 * i + 2;
        bad += order[depth + i] != 2 * (depth - 1 - i) + 1;
    }
    ck_assert_int_eq(bad, 0);
}

START_TEST(a_chain_of_100k_children_closes_in_order)
{
    /* The close recursed once per level: this overflowed the stack.
     * Building it was quadratic: every rgn_new_child walked the chain. */
    order = malloc(2 * DEEP * sizeof *order);
    order_n = 0;
    rgn_t *root = build_chain(rgn_new(), DEEP);
    /* A failure half-way down reaches the root's close. */
    ck_assert_int_eq(rgn_close(root), -EIO);
    check_chain_order(DEEP);
    free(order);
}
END_TEST

START_TEST(a_deep_chain_released_by_key_or_audited_closes_in_order)
{
    order = malloc(2 * DEEP * sizeof *order);
    /* Released by key from a parent: the same walk, started by release. */
    order_n = 0;
    rgn_t *top = rgn_new();
    rgn_t *root = build_chain(rgn_new_child(top), DEEP);
    ck_assert_int_eq(rgn_release(top, rgn_child_key(root)), -EIO);
    check_chain_order(DEEP);
    ck_assert_int_eq(rgn_close(top), 0);
    /* Audited (every region locked and recorded): same order, no report
     * -- children are scopes. */
    rgn_audit_mode was = rgn_audit_default();
    ck_assert_int_eq(rgn_audit_set_default(RGN_AUDIT_ABORT), 0);
    order_n = 0;
    root = build_chain(rgn_new_scope(), DEEP / 10);
    ck_assert_int_eq(rgn_close(root), 0);
    check_chain_order(DEEP / 10);
    ck_assert_int_eq(rgn_audit_set_default(was), 0);
    free(order);
}
END_TEST

Suite *region_suite(void)
{
    Suite *s = suite_create("region");
    TCase *t = tcase_create("close");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_add_test(t, empty_region_closes_cleanly);
    tcase_add_test(t, close_runs_newest_first_with_normal);
    tcase_add_test(t, close_error_runs_with_error);
    tcase_add_test(t, lifo_survives_interleaved_releases);
    tcase_add_test(t, every_cleanup_runs_and_first_failure_is_returned);
    tcase_add_test(t, errno_survives_cleanups);
    tcase_add_test(t, errno_survives_a_threads_first_release);
    tcase_add_test(t, close_null_is_einval);
    suite_add_tcase(s, t);

    t = tcase_create("reentrant");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_add_test(t, closing_a_closing_region_is_ecanceled);
    tcase_add_test(t, register_while_closing_is_refused_and_cleaned);
    tcase_add_test(t, release_while_closing_runs_once_at_that_moment);
    tcase_add_test(t, release_of_an_already_closed_key_is_enoent);
    tcase_add_test(t, unprotect_while_closing_hands_the_resource_back);
    tcase_add_test(t, a_closing_region_shows_only_what_is_left);
    suite_add_tcase(s, t);

    t = tcase_create("children");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_add_test(t, parent_closes_child_in_its_place);
    tcase_add_test(t, parent_close_error_reaches_the_child);
    tcase_add_test(t, child_closed_first_leaves_its_parent);
    tcase_add_test(t, unprotected_child_registered_again_is_a_child_again);
    tcase_add_test(t, grandchildren_close_with_the_root);
    tcase_add_test(t, child_result_reaches_the_parent_close);
    tcase_add_test(t, new_child_of_null_is_einval);
    tcase_add_test(t, new_child_of_closing_parent_is_ecanceled);
    tcase_add_test(t, child_closed_by_a_cleanup_of_its_closing_parent_runs_once);
    tcase_add_test(t, cleanup_that_closes_another_region);
    tcase_add_test(t,
                   a_release_whose_cleanup_freed_its_region_counts_nothing_there);
    suite_add_tcase(s, t);

    t = tcase_create("deep");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_set_timeout(t, 120); /* 100,000 regions under the sanitizers */
    tcase_add_test(t, a_chain_of_100k_children_closes_in_order);
    tcase_add_test(t, a_deep_chain_released_by_key_or_audited_closes_in_order);
    suite_add_tcase(s, t);
    return s;
}

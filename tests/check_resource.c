/* SPDX-License-Identifier: MIT */
/* check_resource.c -- register, allocate, release, unprotect and move, with
 * the bad inputs each must refuse without touching anything. */
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


/* ---- register ------------------------------------------------------- */

START_TEST(register_sets_a_live_key)
{
    struct probe p;
    probe_init(&p, 1);
    rgn_t *r = rgn_new();
    rgn_key_t k = RGN_KEY_NONE;
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &k), 0);
    ck_assert(!rgn_key_is_none(k));
    ck_assert_uint_eq(rgn_live(r), 1);
    ck_assert_int_eq(p.runs, 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p.runs, 1);
}
END_TEST

START_TEST(register_without_key_pointer_works)
{
    struct probe p;
    probe_init(&p, 1);
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, NULL), 0);
    ck_assert_int_eq((rgn_register)(r, probe_cleanup, &p, NULL), 0);
    ck_assert_uint_eq(rgn_live(r), 2);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p.runs, 2);
}
END_TEST

START_TEST(register_null_function_is_einval_and_changes_nothing)
{
    rgn_t *r = rgn_new();
    rgn_key_t k = {1, 2, 3};
    ck_assert_int_eq(rgn_register(r, NULL, &k, &k), -EINVAL);
    ck_assert(rgn_key_is_none(k));
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

START_TEST(register_in_null_region_cleans_up_at_once)
{
    struct probe p;
    probe_init(&p, 1);
    rgn_key_t k = {1, 2, 3};
    ck_assert_int_eq(rgn_register(NULL, probe_cleanup, &p, &k), -EINVAL);
    ck_assert_int_eq(p.runs, 1);
    ck_assert_int_eq(p.how, RGN_RELEASE_ERROR);
    ck_assert(rgn_key_is_none(k));
}
END_TEST

START_TEST(many_live_resources_close_in_order)
{
    enum { N = 100000 };
    static struct probe p[N];
    rgn_t *r = rgn_new();
    for (int i = 0; i < N; i++) {
        probe_init(&p[i], i);
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[i], NULL), 0);
    }
    ck_assert_uint_eq(rgn_live(r), N);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(run_count, LOG_MAX);
    for (int i = 0; i < LOG_MAX; i++)
        ck_assert_int_eq(run_log[i], N - 1 - i);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(p[i].runs, 1);
}
END_TEST

/* ---- release ---------------------------------------------------------- */

START_TEST(release_returns_the_cleanup_result_once)
{
    struct probe p;
    probe_init(&p, 1);
    p.ret = 42;
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &k), 0);
    ck_assert_int_eq(rgn_release(r, k), 42);
    ck_assert_int_eq(p.runs, 1);
    ck_assert_int_eq(p.how, RGN_RELEASE_EARLY);
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_release(r, k), -ENOENT);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p.runs, 1);
}
END_TEST

START_TEST(release_of_no_key_or_null_region)
{
    struct probe p;
    probe_init(&p, 1);
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &k), 0);
    ck_assert_int_eq(rgn_release(r, RGN_KEY_NONE), -ENOENT);
    ck_assert_int_eq(rgn_release(NULL, k), -EINVAL);
    rgn_key_t forged = k;
    forged.slot = 100000; /* beyond anything allocated */
    ck_assert_int_eq(rgn_release(r, forged), -ENOENT);
    ck_assert_int_eq(p.runs, 0);
    ck_assert_uint_eq(rgn_live(r), 1);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p.runs, 1);
}
END_TEST

START_TEST(foreign_key_touches_nothing)
{
    struct probe a, b;
    probe_init(&a, 1);
    probe_init(&b, 2);
    rgn_t *ra = rgn_new(), *rb = rgn_new();
    rgn_key_t ka, kb;
    ck_assert_int_eq(rgn_register(ra, probe_cleanup, &a, &ka), 0);
    ck_assert_int_eq(rgn_register(rb, probe_cleanup, &b, &kb), 0);
    /* Same slot and generation in both regions: only the region differs. */
    ck_assert_uint_eq(ka.slot, kb.slot);
    ck_assert_uint_eq(ka.gen, kb.gen);
    ck_assert_int_eq(rgn_release(rb, ka), -ENOENT);
    ck_assert_int_eq(rgn_unprotect(rb, ka, NULL, NULL), -ENOENT);
    ck_assert_int_eq(a.runs + b.runs, 0);
    ck_assert_uint_eq(rgn_live(ra), 1);
    ck_assert_uint_eq(rgn_live(rb), 1);
    ck_assert_int_eq(rgn_close(ra), 0);
    ck_assert_int_eq(rgn_close(rb), 0);
    ck_assert_int_eq(a.runs, 1);
    ck_assert_int_eq(b.runs, 1);
}
END_TEST

START_TEST(key_of_a_closed_region_is_dead_in_its_successor)
{
    struct probe a, b;
    probe_init(&a, 1);
    probe_init(&b, 2);
    rgn_t *ra = rgn_new();
    rgn_key_t ka;
    ck_assert_int_eq(rgn_register(ra, probe_cleanup, &a, &ka), 0);
    ck_assert_int_eq(rgn_close(ra), 0);
    /* The allocator usually hands the same memory to the next region. */
    rgn_t *rb = rgn_new();
    rgn_key_t kb;
    ck_assert_int_eq(rgn_register(rb, probe_cleanup, &b, &kb), 0);
    ck_assert_int_eq(rgn_release(rb, ka), -ENOENT);
    ck_assert_int_eq(b.runs, 0);
    ck_assert_int_eq(rgn_close(rb), 0);
    ck_assert_int_eq(b.runs, 1);
    ck_assert_int_eq(a.runs, 1);
}
END_TEST

START_TEST(stale_key_stays_dead_after_100k_recyclings)
{
    struct probe old, cur;
    probe_init(&old, 1);
    probe_init(&cur, 2);
    rgn_t *r = rgn_new();
    rgn_key_t stale, k;
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &old, &stale), 0);
    ck_assert_int_eq(rgn_release(r, stale), 0);
    /* Counted, then asserted once: an assertion per step is a message to
     * Check's parent process, 400,000 of them too slow under ASan. */
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        bad += rgn_register(r, probe_cleanup, &cur, &k) != 0;
        bad += k.slot != stale.slot; /* the slot is recycled */
        bad += rgn_release(r, stale) != -ENOENT;
        bad += rgn_release(r, k) != 0;
    }
    ck_assert_int_eq(bad, 0);
    /* One more, left live: the stale key must not reach it. */
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &cur, &k), 0);
    ck_assert_int_eq(rgn_release(r, stale), -ENOENT);
    ck_assert_int_eq(rgn_unprotect(r, stale, NULL, NULL), -ENOENT);
    ck_assert_int_eq(cur.runs, 100000);
    ck_assert_int_eq(old.runs, 1);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(cur.runs, 100001);
}
END_TEST

START_TEST(release_in_any_order_among_many)
{
    enum { N = 5000 };
    static struct probe p[N];
    static rgn_key_t k[N];
    rgn_t *r = rgn_new();
    for (int i = 0; i < N; i++) {
        probe_init(&p[i], i);
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[i], &k[i]), 0);
    }
    /* Release every third, oldest first, then every other survivor. */
    for (int i = 0; i < N; i += 3)
        ck_assert_int_eq(rgn_release(r, k[i]), 0);
    for (int i = N - 1; i >= 0; i--)
        if (i % 3 != 0 && i % 2 == 0)
            ck_assert_int_eq(rgn_release(r, k[i]), 0);
    size_t left = 0;
    for (int i = 0; i < N; i++)
        left += p[i].runs == 0;
    ck_assert_uint_eq(rgn_live(r), left);
    log_reset();
    ck_assert_int_eq(rgn_close(r), 0);
    /* The survivors ran newest first. */
    for (int i = 1; i < run_count; i++)
        ck_assert_int_gt(run_log[i - 1], run_log[i]);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(p[i].runs, 1);
}
END_TEST

/* ---- unprotect ------------------------------------------------------- */

START_TEST(unprotect_hands_back_without_running)
{
    struct probe p;
    probe_init(&p, 1);
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &k), 0);
    rgn_cleanup_fn fn = NULL;
    void *res = NULL;
    ck_assert_int_eq(rgn_unprotect(r, k, &fn, &res), 0);
    ck_assert(fn == probe_cleanup);
    ck_assert_ptr_eq(res, &p);
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_release(r, k), -ENOENT);
    /* A failed unprotect leaves the out-parameters alone. */
    fn = NULL;
    res = &fn;
    ck_assert_int_eq(rgn_unprotect(r, k, &fn, &res), -ENOENT);
    ck_assert(fn == NULL);
    ck_assert_ptr_eq(res, &fn);
    ck_assert_int_eq(rgn_unprotect(NULL, k, NULL, NULL), -EINVAL);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p.runs, 0);
}
END_TEST

START_TEST(unprotect_with_null_outputs)
{
    struct probe p;
    probe_init(&p, 1);
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &k), 0);
    ck_assert_int_eq(rgn_unprotect(r, k, NULL, NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p.runs, 0);
}
END_TEST

/* ---- move -------------------------------------------------------------- */

START_TEST(moved_resource_is_newest_in_target)
{
    struct probe t1, t2, x, f;
    probe_init(&t1, 1);
    probe_init(&t2, 2);
    probe_init(&x, 3);
    probe_init(&f, 4);
    rgn_t *from = rgn_new(), *to = rgn_new();
    rgn_key_t kx, nk;
    ck_assert_int_eq(rgn_register(from, probe_cleanup, &x, &kx), 0);
    ck_assert_int_eq(rgn_register(from, probe_cleanup, &f, NULL), 0);
    ck_assert_int_eq(rgn_register(to, probe_cleanup, &t1, NULL), 0);
    ck_assert_int_eq(rgn_register(to, probe_cleanup, &t2, NULL), 0);
    ck_assert_int_eq(rgn_move(from, kx, to, &nk), 0);
    ck_assert_uint_eq(rgn_live(from), 1);
    ck_assert_uint_eq(rgn_live(to), 3);
    ck_assert_int_eq(rgn_release(from, kx), -ENOENT); /* old key is dead */
    ck_assert_int_eq(rgn_release(to, kx), -ENOENT);
    ck_assert_int_eq(rgn_close(from), 0);
    ASSERT_LOG(4);
    ck_assert_int_eq(rgn_close(to), 0);
    ASSERT_LOG(4, 3, 2, 1);
    ck_assert_int_eq(x.how, RGN_RELEASE_NORMAL);
}
END_TEST

START_TEST(new_key_releases_in_target)
{
    struct probe x;
    probe_init(&x, 1);
    rgn_t *from = rgn_new(), *to = rgn_new();
    rgn_key_t kx, nk;
    ck_assert_int_eq(rgn_register(from, probe_cleanup, &x, &kx), 0);
    ck_assert_int_eq(rgn_move(from, kx, to, &nk), 0);
    ck_assert_int_eq(rgn_release(from, nk), -ENOENT);
    ck_assert_int_eq(rgn_release(to, nk), 0);
    ck_assert_int_eq(x.how, RGN_RELEASE_EARLY);
    ck_assert_int_eq(rgn_close(from), 0);
    ck_assert_int_eq(rgn_close(to), 0);
    ck_assert_int_eq(x.runs, 1);
}
END_TEST

START_TEST(move_within_a_region_makes_it_newest)
{
    struct probe a, b;
    probe_init(&a, 1);
    probe_init(&b, 2);
    rgn_t *r = rgn_new();
    rgn_key_t ka, nk;
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &a, &ka), 0);
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &b, NULL), 0);
    ck_assert_int_eq(rgn_move(r, ka, r, &nk), 0);
    ck_assert(!rgn_key_equal(ka, nk));
    ck_assert_int_eq(rgn_release(r, ka), -ENOENT);
    ck_assert_uint_eq(rgn_live(r), 2);
    ck_assert_int_eq(rgn_close(r), 0);
    ASSERT_LOG(1, 2);
}
END_TEST

START_TEST(failed_move_changes_nothing)
{
    struct probe x;
    probe_init(&x, 1);
    rgn_t *from = rgn_new(), *to = rgn_new();
    rgn_key_t kx, nk = {7, 7, 7};
    ck_assert_int_eq(rgn_register(from, probe_cleanup, &x, &kx), 0);
    ck_assert_int_eq(rgn_move(from, RGN_KEY_NONE, to, &nk), -ENOENT);
    ck_assert_int_eq(rgn_move(to, kx, from, &nk), -ENOENT); /* foreign */
    ck_assert_int_eq(rgn_move(NULL, kx, to, &nk), -EINVAL);
    ck_assert_int_eq(rgn_move(from, kx, NULL, &nk), -EINVAL);
    ck_assert_uint_eq(nk.slot, 7);
    ck_assert_uint_eq(rgn_live(from), 1);
    ck_assert_uint_eq(rgn_live(to), 0);
    ck_assert_int_eq(rgn_release(from, kx), 0); /* still there */
    ck_assert_int_eq(rgn_close(from), 0);
    ck_assert_int_eq(rgn_close(to), 0);
    ck_assert_int_eq(x.runs, 1);
}
END_TEST

struct mover {
    rgn_t *from;
    rgn_key_t key;
    rgn_t *to;
    int rc;
};

static int moves_into_closing(void *arg, rgn_release_type how)
{
    struct mover *m = arg;
    (void)how;
    m->rc = rgn_move(m->from, m->key, m->to, NULL);
    return 0;
}

START_TEST(move_into_closing_region_is_ecanceled)
{
    struct probe x;
    probe_init(&x, 1);
    struct mover m = {rgn_new(), RGN_KEY_NONE, rgn_new(), 0};
    ck_assert_int_eq(rgn_register(m.from, probe_cleanup, &x, &m.key), 0);
    ck_assert_int_eq(rgn_register(m.to, moves_into_closing, &m, NULL), 0);
    ck_assert_int_eq(rgn_close(m.to), 0);
    ck_assert_int_eq(m.rc, -ECANCELED);
    ck_assert_int_eq(x.runs, 0);
    ck_assert_uint_eq(rgn_live(m.from), 1);
    ck_assert_int_eq(rgn_close(m.from), 0);
    ck_assert_int_eq(x.runs, 1);
}
END_TEST

START_TEST(move_out_of_closing_region_is_allowed)
{
    struct probe x;
    probe_init(&x, 1);
    struct mover m = {rgn_new(), RGN_KEY_NONE, rgn_new(), 0};
    ck_assert_int_eq(rgn_register(m.from, probe_cleanup, &x, &m.key), 0);
    ck_assert_int_eq(rgn_register(m.from, moves_into_closing, &m, NULL), 0);
    ck_assert_int_eq(rgn_close(m.from), 0);
    ck_assert_int_eq(m.rc, 0);
    ck_assert_int_eq(x.runs, 0);
    ck_assert_uint_eq(rgn_live(m.to), 1);
    ck_assert_int_eq(rgn_close(m.to), 0);
    ck_assert_int_eq(x.runs, 1);
}
END_TEST

START_TEST(moving_a_child_region_reparents_it)
{
    struct probe x, y;
    probe_init(&x, 1);
    probe_init(&y, 2);
    rgn_t *p1 = rgn_new(), *p2 = rgn_new();
    rgn_t *c = rgn_new_child(p1);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &x, NULL), 0);
    ck_assert_int_eq(rgn_register(p2, probe_cleanup, &y, NULL), 0);
    rgn_key_t ck = rgn_child_key(c), nk;
    ck_assert(!rgn_key_is_none(ck));
    ck_assert_int_eq(rgn_move(p1, ck, p2, &nk), 0);
    ck_assert(rgn_key_equal(rgn_child_key(c), nk));
    ck_assert_uint_eq(rgn_live(p1), 0);
    ck_assert_uint_eq(rgn_live(p2), 2);
    ck_assert_int_eq(rgn_close(p1), 0);
    ck_assert_int_eq(x.runs, 0);
    ck_assert_int_eq(rgn_close(p2), 0);
    ASSERT_LOG(1, 2); /* the child moved in after y, so it closed first */
}
END_TEST

START_TEST(moved_child_closed_first_leaves_its_new_parent)
{
    rgn_t *p1 = rgn_new(), *p2 = rgn_new();
    rgn_t *c = rgn_new_child(p1);
    ck_assert_int_eq(rgn_move(p1, rgn_child_key(c), p2, NULL), 0);
    ck_assert_int_eq(rgn_close(c), 0);
    ck_assert_uint_eq(rgn_live(p2), 0);
    ck_assert_int_eq(rgn_close(p1), 0);
    ck_assert_int_eq(rgn_close(p2), 0);
}
END_TEST

START_TEST(child_cannot_be_moved_under_itself)
{
    rgn_t *root = rgn_new();
    rgn_t *c = rgn_new_child(root);
    rgn_t *g = rgn_new_child(c);
    rgn_key_t ck = rgn_child_key(c);
    ck_assert_int_eq(rgn_move(root, ck, c, NULL), -EINVAL);
    ck_assert_int_eq(rgn_move(root, ck, g, NULL), -EINVAL);
    ck_assert(rgn_key_equal(rgn_child_key(c), ck));
    ck_assert_uint_eq(rgn_live(root), 1);
    ck_assert_uint_eq(rgn_live(c), 1);
    ck_assert_int_eq(rgn_close(root), 0);
}
END_TEST

START_TEST(child_key_of_a_detached_or_plain_region_is_none)
{
    rgn_t *r = rgn_new();
    ck_assert(rgn_key_is_none(rgn_child_key(r)));
    ck_assert(rgn_key_is_none(rgn_child_key(NULL)));
    rgn_t *c = rgn_new_child(r);
    rgn_key_t ck = rgn_child_key(c);
    /* Unprotecting the child's slot hands the child back to the caller. */
    rgn_cleanup_fn fn;
    void *res;
    ck_assert_int_eq(rgn_unprotect(r, ck, &fn, &res), 0);
    ck_assert_ptr_eq(res, c);
    ck_assert(rgn_key_is_none(rgn_child_key(c)));
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(rgn_close(c), 0);
}
END_TEST

START_TEST(unprotected_child_registered_elsewhere_is_a_child_there)
{
    struct probe x;
    probe_init(&x, 1);
    rgn_t *p = rgn_new(), *q = rgn_new();
    rgn_t *c = rgn_new_child(p);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &x, NULL), 0);
    rgn_cleanup_fn fn;
    void *res;
    ck_assert_int_eq(rgn_unprotect(p, rgn_child_key(c), &fn, &res), 0);
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(q, fn, res, &k), 0);
    ck_assert(rgn_key_equal(rgn_child_key(c), k));
    ck_assert_int_eq(rgn_close(p), 0);
    ck_assert_int_eq(x.runs, 0);
    /* Closing the child first leaves q, which then has nothing. */
    ck_assert_int_eq(rgn_close(c), 0);
    ck_assert_int_eq(x.runs, 1);
    ck_assert_uint_eq(rgn_live(q), 0);
    ck_assert_int_eq(rgn_close(q), 0);
}
END_TEST

START_TEST(regions_that_cannot_be_adopted_are_refused_untouched)
{
    struct probe x;
    probe_init(&x, 1);
    rgn_t *p = rgn_new();
    rgn_t *c = rgn_new_child(p);
    rgn_t *d = rgn_new_child(p);
    ck_assert_int_eq(rgn_register(d, probe_cleanup, &x, NULL), 0);
    rgn_cleanup_fn fn;
    void *res;
    ck_assert_int_eq(rgn_unprotect(p, rgn_child_key(c), &fn, &res), 0);
    rgn_key_t k = {1, 1, 1};
    /* d still sits in p. */
    ck_assert_int_eq(rgn_register(c, fn, d, &k), -EINVAL);
    ck_assert(rgn_key_is_none(k));
    /* c would own itself, or one of its own children would own it. */
    ck_assert_int_eq(rgn_register(c, fn, c, NULL), -EINVAL);
    rgn_t *g = rgn_new_child(c);
    ck_assert_int_eq(rgn_register(g, fn, c, NULL), -EINVAL);
    ck_assert_int_eq(rgn_close(g), 0);
    /* A shared region has other owners. */
    ck_assert_ptr_eq(rgn_share(c), c);
    ck_assert_int_eq(rgn_register(p, fn, c, NULL), -EINVAL);
    ck_assert_int_eq(rgn_register(p, fn, NULL, NULL), -EINVAL);
    ck_assert_int_eq(x.runs, 0);
    ck_assert_uint_eq(rgn_live(p), 1);
    ck_assert_int_eq(rgn_close(c), 0);
    ck_assert_int_eq(rgn_close(c), 0);
    ck_assert_int_eq(rgn_close(p), 0);
    ck_assert_int_eq(x.runs, 1);
}
END_TEST

/* ---- allocate ---------------------------------------------------------- */

struct acq {
    int calls;
    int fail_with;
    int cancel_state;
    struct probe *give;
    rgn_t *close_me;
};

static int acquire_probe(void *arg, void **out)
{
    struct acq *a = arg;
    a->calls++;
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &a->cancel_state);
    pthread_setcancelstate(a->cancel_state, NULL);
    if (a->close_me)
        rgn_close(a->close_me);
    if (a->fail_with)
        return a->fail_with;
    *out = a->give;
    return 0;
}

START_TEST(allocate_registers_what_acquire_returns)
{
    struct probe p;
    probe_init(&p, 1);
    struct acq a = {0, 0, -1, &p, NULL};
    rgn_t *r = rgn_new();
    void *res = NULL;
    rgn_key_t k;
    ck_assert_int_eq(rgn_allocate(r, acquire_probe, &a, probe_cleanup, &res,
                                  &k), 0);
    ck_assert_int_eq(a.calls, 1);
    ck_assert_int_eq(a.cancel_state, PTHREAD_CANCEL_DISABLE);
    ck_assert_ptr_eq(res, &p);
    ck_assert_uint_eq(rgn_live(r), 1);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert_int_eq(p.how, RGN_RELEASE_EARLY);
    /* Cancellation is enabled again afterwards. */
    int st;
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &st);
    ck_assert_int_eq(st, PTHREAD_CANCEL_ENABLE);
    ck_assert_int_eq(rgn_allocate(r, acquire_probe, &a, probe_cleanup, NULL,
                                  NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p.runs, 2);
}
END_TEST

START_TEST(allocate_passes_acquire_failure_and_registers_nothing)
{
    struct probe p;
    probe_init(&p, 1);
    struct acq a = {0, 77, -1, &p, NULL};
    rgn_t *r = rgn_new();
    void *res = &a;
    rgn_key_t k = {1, 1, 1};
    ck_assert_int_eq(rgn_allocate(r, acquire_probe, &a, probe_cleanup, &res,
                                  &k), 77);
    ck_assert_ptr_null(res);
    ck_assert(rgn_key_is_none(k));
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p.runs, 0);
}
END_TEST

START_TEST(allocate_bad_arguments_never_acquire)
{
    struct probe p;
    probe_init(&p, 1);
    struct acq a = {0, 0, -1, &p, NULL};
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_allocate(NULL, acquire_probe, &a, probe_cleanup,
                                  NULL, NULL), -EINVAL);
    ck_assert_int_eq(rgn_allocate(r, NULL, &a, probe_cleanup, NULL, NULL),
                     -EINVAL);
    ck_assert_int_eq(rgn_allocate(r, acquire_probe, &a, NULL, NULL, NULL),
                     -EINVAL);
    ck_assert_int_eq(a.calls, 0);
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

struct closing_alloc {
    rgn_t *r;
    struct acq *a;
    int rc;
};

static int allocates_during_close(void *arg, rgn_release_type how)
{
    struct closing_alloc *c = arg;
    (void)how;
    c->rc = rgn_allocate(c->r, acquire_probe, c->a, probe_cleanup, NULL,
                         NULL);
    return 0;
}

START_TEST(allocate_in_closing_region_never_acquires)
{
    struct probe p;
    probe_init(&p, 1);
    struct acq a = {0, 0, -1, &p, NULL};
    struct closing_alloc c = {rgn_new(), &a, 0};
    ck_assert_int_eq(rgn_register(c.r, allocates_during_close, &c, NULL), 0);
    ck_assert_int_eq(rgn_close(c.r), 0);
    ck_assert_int_eq(c.rc, -ECANCELED);
    ck_assert_int_eq(a.calls, 0);
    ck_assert_int_eq(p.runs, 0);
}
END_TEST

START_TEST(allocate_whose_acquire_closes_the_region)
{
    struct probe p, q;
    probe_init(&p, 1);
    probe_init(&q, 2);
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &q, NULL), 0);
    struct acq a = {0, 0, -1, &p, r};
    ck_assert_int_eq(rgn_allocate(r, acquire_probe, &a, probe_cleanup, NULL,
                                  NULL), -ECANCELED);
    /* q ran in the close; p was cleaned up at once, with the close's type;
     * the region was freed by rgn_allocate (ASan and valgrind check). */
    ASSERT_LOG(2, 1);
    ck_assert_int_eq(p.how, RGN_RELEASE_NORMAL);
}
END_TEST

/* ---- plain cleanups --------------------------------------------------- */

/* Plain functions as a program has them: take the resource, return
 * nothing.  Each logs its probe's id, the way probe_cleanup does. */
static void plain_log(void *resource)
{
    struct probe *p = resource;
    p->runs++;
    if (run_count < LOG_MAX)
        run_log[run_count++] = p->id;
}

static void plain_log_negated(void *resource)
{
    struct probe *p = resource;
    p->runs++;
    if (run_count < LOG_MAX)
        run_log[run_count++] = -p->id;
}

START_TEST(plain_cleanups_run_once_in_order_with_other_cleanups)
{
    struct probe p[4];
    for (int i = 0; i < 4; i++)
        probe_init(&p[i], i + 1);
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register_plain(r, plain_log, &p[0], NULL), 0);
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p[1], NULL), 0);
    ck_assert_int_eq(rgn_register_plain(r, plain_log_negated, &p[2], &k), 0);
    ck_assert_int_eq(rgn_register_plain(r, plain_log, &p[3], NULL), 0);
    ck_assert(!rgn_key_is_none(k));
    ck_assert_uint_eq(rgn_live(r), 4);
    /* Released early: runs now, counts as 0, and only once. */
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert_int_eq(rgn_release(r, k), -ENOENT);
    ck_assert_int_eq(rgn_close(r), 0);
    ASSERT_LOG(-3, 4, 2, 1);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(p[i].runs, 1);
}
END_TEST

START_TEST(plain_cleanup_frees_real_memory)
{
    /* free itself, no wrapper: ASan and valgrind see it freed. */
    rgn_t *r = rgn_new();
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(rgn_register_plain(r, free, malloc(32), NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

START_TEST(plain_bad_input)
{
    struct probe p;
    probe_init(&p, 1);
    rgn_t *r = rgn_new();
    rgn_key_t k = {1, 2, 3};
    /* No function: nothing to run, the region untouched. */
    ck_assert_int_eq(rgn_register_plain(r, NULL, &p, &k), -EINVAL);
    ck_assert(rgn_key_is_none(k));
    ck_assert_uint_eq(rgn_live(r), 0);
    /* No region: the resource is given back at once. */
    ck_assert_int_eq(rgn_register_plain(NULL, plain_log, &p, &k), -EINVAL);
    ck_assert_int_eq(p.runs, 1);
    ck_assert(rgn_key_is_none(k));
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

START_TEST(plain_unprotect_hands_back_the_resource_and_a_working_cleanup)
{
    struct probe p;
    probe_init(&p, 7);
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_register_plain(r, plain_log, &p, &k), 0);
    rgn_cleanup_fn fn = NULL;
    void *res = NULL;
    ck_assert_int_eq(rgn_unprotect(r, k, &fn, &res), 0);
    ck_assert_ptr_eq(res, &p);
    ck_assert_int_eq(p.runs, 0);
    ck_assert_int_eq(fn(res, RGN_RELEASE_EARLY), 0);
    ck_assert_int_eq(p.runs, 1);
    /* And it moves like any other resource. */
    rgn_t *to = rgn_new();
    ck_assert_int_eq(rgn_register_plain(r, plain_log_negated, &p, &k), 0);
    ck_assert_int_eq(rgn_move(r, k, to, &k), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p.runs, 1);
    ck_assert_int_eq(rgn_close(to), 0);
    ASSERT_LOG(7, -7);
}
END_TEST

/* 257 distinct plain functions: one more than the process may have. */
static int many_ran;
#define PF(n) static void pf##n(void *p) { (void)p; many_ran++; }
#define PF16(h) PF(h##0) PF(h##1) PF(h##2) PF(h##3) PF(h##4) PF(h##5)      \
    PF(h##6) PF(h##7) PF(h##8) PF(h##9) PF(h##a) PF(h##b) PF(h##c)        \
    PF(h##d) PF(h##e) PF(h##f)
PF16(0) PF16(1) PF16(2) PF16(3) PF16(4) PF16(5) PF16(6) PF16(7)
PF16(8) PF16(9) PF16(a) PF16(b) PF16(c) PF16(d) PF16(e) PF16(f)
PF(x)
#define PN(n) pf##n,
#define PN16(h) PN(h##0) PN(h##1) PN(h##2) PN(h##3) PN(h##4) PN(h##5)      \
    PN(h##6) PN(h##7) PN(h##8) PN(h##9) PN(h##a) PN(h##b) PN(h##c)        \
    PN(h##d) PN(h##e) PN(h##f)
static rgn_plain_fn const many_fns[] = {
    PN16(0) PN16(1) PN16(2) PN16(3) PN16(4) PN16(5) PN16(6) PN16(7)
    PN16(8) PN16(9) PN16(a) PN16(b) PN16(c) PN16(d) PN16(e) PN16(f)
    PN(x)
};

START_TEST(plain_functions_past_the_table_are_enospc_and_still_run)
{
    /* The table is process-wide and never shrinks: fill it only in a
     * forked test process. */
    const char *fork_mode = getenv("CK_FORK");
    if (fork_mode && !strcmp(fork_mode, "no"))
        return;
    rgn_t *r = rgn_new();
    size_t n = sizeof many_fns / sizeof many_fns[0];
    int refused = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = rgn_register_plain(r, many_fns[i], NULL, NULL);
        ck_assert(rc == 0 || rc == -ENOSPC);
        refused += rc == -ENOSPC;
    }
    /* Earlier tests in this process may have used a few entries. */
    ck_assert_int_ge(refused, 1);
    ck_assert_int_eq(many_ran, refused); /* each refused one ran at once */
    /* Functions already in the table keep working. */
    ck_assert_int_eq(rgn_register_plain(r, many_fns[0], NULL, NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(many_ran, (int)n + 1);
}
END_TEST

Suite *resource_suite(void)
{
    Suite *s = suite_create("resource");
    TCase *t = tcase_create("register");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_add_test(t, register_sets_a_live_key);
    tcase_add_test(t, register_without_key_pointer_works);
    tcase_add_test(t, register_null_function_is_einval_and_changes_nothing);
    tcase_add_test(t, register_in_null_region_cleans_up_at_once);
    tcase_add_test(t, many_live_resources_close_in_order);
    suite_add_tcase(s, t);

    t = tcase_create("release");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_add_test(t, release_returns_the_cleanup_result_once);
    tcase_add_test(t, release_of_no_key_or_null_region);
    tcase_add_test(t, foreign_key_touches_nothing);
    tcase_add_test(t, key_of_a_closed_region_is_dead_in_its_successor);
    tcase_add_test(t, stale_key_stays_dead_after_100k_recyclings);
    tcase_add_test(t, release_in_any_order_among_many);
    suite_add_tcase(s, t);

    t = tcase_create("unprotect");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_add_test(t, unprotect_hands_back_without_running);
    tcase_add_test(t, unprotect_with_null_outputs);
    suite_add_tcase(s, t);

    t = tcase_create("move");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_add_test(t, moved_resource_is_newest_in_target);
    tcase_add_test(t, new_key_releases_in_target);
    tcase_add_test(t, move_within_a_region_makes_it_newest);
    tcase_add_test(t, failed_move_changes_nothing);
    tcase_add_test(t, move_into_closing_region_is_ecanceled);
    tcase_add_test(t, move_out_of_closing_region_is_allowed);
    tcase_add_test(t, moving_a_child_region_reparents_it);
    tcase_add_test(t, moved_child_closed_first_leaves_its_new_parent);
    tcase_add_test(t, child_cannot_be_moved_under_itself);
    tcase_add_test(t, child_key_of_a_detached_or_plain_region_is_none);
    tcase_add_test(t, unprotected_child_registered_elsewhere_is_a_child_there);
    tcase_add_test(t, regions_that_cannot_be_adopted_are_refused_untouched);
    suite_add_tcase(s, t);

    t = tcase_create("plain");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_add_test(t, plain_cleanups_run_once_in_order_with_other_cleanups);
    tcase_add_test(t, plain_cleanup_frees_real_memory);
    tcase_add_test(t, plain_bad_input);
    tcase_add_test(t,
                   plain_unprotect_hands_back_the_resource_and_a_working_cleanup);
    tcase_add_test(t, plain_functions_past_the_table_are_enospc_and_still_run);
    suite_add_tcase(s, t);

    t = tcase_create("allocate");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_add_test(t, allocate_registers_what_acquire_returns);
    tcase_add_test(t, allocate_passes_acquire_failure_and_registers_nothing);
    tcase_add_test(t, allocate_bad_arguments_never_acquire);
    tcase_add_test(t, allocate_in_closing_region_never_acquires);
    tcase_add_test(t, allocate_whose_acquire_closes_the_region);
    suite_add_tcase(s, t);
    return s;
}

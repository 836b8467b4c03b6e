/* SPDX-License-Identifier: MIT */
/* check_share.c -- regions shared across threads: references, threads that
 * hold one, concurrent calls, and shared trees of regions. */
#define _GNU_SOURCE 1 /* RUSAGE_THREAD */
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* A probe that also records which thread ran it. */
struct tprobe {
    struct probe p;
    pthread_t ran_in;
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static int tprobe_cleanup(void *res, rgn_release_type how)
{
    struct tprobe *t = res;
    pthread_mutex_lock(&log_lock);
    t->ran_in = pthread_self();
    int rc = probe_cleanup(&t->p, how);
    pthread_mutex_unlock(&log_lock);
    return rc;
}


/* ---- resourcet's own case ------------------------------------------------ */

struct fork_case {
    struct tprobe q;
    sem_t parent_closed;
    pthread_t self;
    int ret;
};

static int child_body(rgn_t *r, void *arg)
{
    struct fork_case *f = arg;
    f->self = pthread_self();
    sem_wait(&f->parent_closed);
    ck_assert_int_eq(rgn_register(r, tprobe_cleanup, &f->q, NULL), 0);
    return f->ret;
}

START_TEST(last_sharer_runs_everything_newest_first)
{
    struct tprobe p;
    struct fork_case f;
    probe_init(&p.p, 1);
    probe_init(&f.q.p, 2);
    f.ret = 0;
    sem_init(&f.parent_closed, 0, 0);
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, tprobe_cleanup, &p, NULL), 0);
    pthread_t t;
    ck_assert_int_eq(rgn_thread_create(&t, NULL, r, child_body, &f), 0);
    ck_assert_int_eq(rgn_close(r), 0); /* not the last reference */
    ck_assert_int_eq(run_count, 0);
    sem_post(&f.parent_closed);
    void *ret;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_ptr_eq(ret, NULL);
    ASSERT_LOG(2, 1);
    ck_assert(pthread_equal(p.ran_in, f.self));
    ck_assert(pthread_equal(f.q.ran_in, f.self));
    ck_assert_int_eq(p.p.how, RGN_RELEASE_NORMAL);
    sem_destroy(&f.parent_closed);
}
END_TEST

START_TEST(failing_thread_closes_with_error_and_exits_with_its_result)
{
    struct tprobe p;
    struct fork_case f;
    probe_init(&p.p, 1);
    probe_init(&f.q.p, 2);
    f.ret = -EPROTO;
    sem_init(&f.parent_closed, 0, 1);
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, tprobe_cleanup, &p, NULL), 0);
    pthread_t t;
    ck_assert_int_eq(rgn_thread_create(&t, NULL, r, child_body, &f), 0);
    void *ret;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_int_eq((int)(intptr_t)ret, -EPROTO);
    ck_assert_int_eq(run_count, 0); /* the parent still holds r */
    ck_assert_int_eq(rgn_close_error(r), 0);
    ASSERT_LOG(2, 1);
    ck_assert_int_eq(p.p.how, RGN_RELEASE_ERROR);
    sem_destroy(&f.parent_closed);
}
END_TEST

START_TEST(error_drop_that_is_last_runs_cleanups_with_error)
{
    struct tprobe p;
    struct fork_case f;
    probe_init(&p.p, 1);
    probe_init(&f.q.p, 2);
    f.ret = 5;
    sem_init(&f.parent_closed, 0, 0);
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, tprobe_cleanup, &p, NULL), 0);
    pthread_t t;
    ck_assert_int_eq(rgn_thread_create(&t, NULL, r, child_body, &f), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    sem_post(&f.parent_closed);
    void *ret;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_int_eq((int)(intptr_t)ret, 5);
    ASSERT_LOG(2, 1);
    ck_assert_int_eq(p.p.how, RGN_RELEASE_ERROR);
    ck_assert_int_eq(f.q.p.how, RGN_RELEASE_ERROR);
    sem_destroy(&f.parent_closed);
}
END_TEST

static int returns_zero(rgn_t *r, void *arg)
{
    (void)r;
    (void)arg;
    return 0;
}

static int waits_then_returns_zero(rgn_t *r, void *arg)
{
    (void)r;
    sem_wait(arg);
    return 0;
}

START_TEST(thread_exit_value_is_the_close_result_when_fn_succeeds)
{
    struct tprobe p;
    probe_init(&p.p, 1);
    p.p.ret = 33;
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, tprobe_cleanup, &p, NULL), 0);
    sem_t go;
    sem_init(&go, 0, 0);
    pthread_t t;
    ck_assert_int_eq(rgn_thread_create(&t, NULL, r, waits_then_returns_zero,
                                       &go), 0);
    ck_assert_int_eq(rgn_close(r), 0); /* the thread now holds the last */
    sem_post(&go);
    void *ret;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_int_eq((int)(intptr_t)ret, 33);
    ck_assert_int_eq(p.p.runs, 1);
    sem_destroy(&go);
}
END_TEST

START_TEST(thread_that_cannot_start_shares_nothing)
{
    struct tprobe p;
    probe_init(&p.p, 1);
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, tprobe_cleanup, &p, NULL), 0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    /* No machine has this much stack to give. */
    ck_assert_int_eq(pthread_attr_setstacksize(&attr, (size_t)1 << 46), 0);
    pthread_t t;
    int rc = rgn_thread_create(&t, &attr, r, returns_zero, NULL);
    pthread_attr_destroy(&attr);
    ck_assert_int_lt(rc, 0);
    ck_assert_int_eq(p.p.runs, 0);
    /* Ours is the only reference: this close runs the cleanup. */
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(p.p.runs, 1);
}
END_TEST

/* A child whose thread cannot be created stays in its parent: the
 * parent's close still closes it (it was taken out first, and leaked). */
START_TEST(child_stays_in_its_parent_when_its_thread_cannot_start)
{
    struct tprobe p;
    probe_init(&p.p, 1);
    rgn_t *parent = rgn_new();
    rgn_t *c = rgn_new_child(parent);
    ck_assert_int_eq(rgn_register(c, tprobe_cleanup, &p, NULL), 0);
    rgn_key_t k = rgn_child_key(c);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    ck_assert_int_eq(pthread_attr_setstacksize(&attr, (size_t)1 << 46), 0);
    pthread_t t;
    ck_assert_int_lt(rgn_thread_create(&t, &attr, c, returns_zero, NULL),
                     0);
    pthread_attr_destroy(&attr);
    ck_assert(rgn_key_equal(rgn_child_key(c), k));
    ck_assert_uint_eq(rgn_live(parent), 1);
    ck_assert_int_eq(rgn_close(parent), 0);
    ck_assert_int_eq(p.p.runs, 1);
}
END_TEST

START_TEST(thread_create_bad_arguments)
{
    rgn_t *r = rgn_new();
    pthread_t t;
    ck_assert_int_eq(rgn_thread_create(NULL, NULL, r, returns_zero, NULL),
                     -EINVAL);
    ck_assert_int_eq(rgn_thread_create(&t, NULL, NULL, returns_zero, NULL),
                     -EINVAL);
    ck_assert_int_eq(rgn_thread_create(&t, NULL, r, NULL, NULL), -EINVAL);
    errno = 0;
    ck_assert_ptr_null(rgn_share(NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* ---- refused while closing ------------------------------------------------ */

struct closing_try {
    rgn_t *r;
    rgn_t *shared;
    int share_err;
    rgn_t *child;
    int child_err;
    int thread_rc;
};

static int tries_during_close(void *arg, rgn_release_type how)
{
    struct closing_try *c = arg;
    (void)how;
    errno = 0;
    c->shared = rgn_share(c->r);
    c->share_err = errno;
    errno = 0;
    c->child = rgn_new_child(c->r);
    c->child_err = errno;
    pthread_t t;
    c->thread_rc = rgn_thread_create(&t, NULL, c->r, returns_zero, NULL);
    return 0;
}

static void closing_region_refuses(int share_first)
{
    struct closing_try c = {0};
    c.r = rgn_new();
    if (share_first) {
        ck_assert_ptr_eq(rgn_share(c.r), c.r);
        ck_assert_int_eq(rgn_close(c.r), 0);
    }
    ck_assert_int_eq(rgn_register(c.r, tries_during_close, &c, NULL), 0);
    ck_assert_int_eq(rgn_close(c.r), 0);
    ck_assert_ptr_null(c.shared);
    ck_assert_int_eq(c.share_err, ECANCELED);
    ck_assert_ptr_null(c.child);
    ck_assert_int_eq(c.child_err, ECANCELED);
    ck_assert_int_eq(c.thread_rc, -ECANCELED);
}

START_TEST(share_child_and_thread_refused_while_closing)
{
    closing_region_refuses(0);
    closing_region_refuses(1);
}
END_TEST

/* ---- concurrent calls ---------------------------------------------------- */

struct racer {
    rgn_t *r;
    rgn_key_t key;
    pthread_barrier_t *go;
    int rc;
};

static void *release_racer(void *arg)
{
    struct racer *x = arg;
    pthread_barrier_wait(x->go);
    x->rc = rgn_release(x->r, x->key);
    return NULL;
}

START_TEST(two_threads_releasing_one_key_run_it_once)
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    rgn_t *r = rgn_new();
    ck_assert_ptr_eq(rgn_share(r), r);
    for (int round = 0; round < 500; round++) {
        struct probe p;
        probe_init(&p, round);
        rgn_key_t k;
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &k), 0);
        struct racer a = {r, k, &go, 1}, b = {r, k, &go, 1};
        pthread_t ta, tb;
        pthread_create(&ta, NULL, release_racer, &a);
        pthread_create(&tb, NULL, release_racer, &b);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        ck_assert_int_eq(p.runs, 1);
        ck_assert((a.rc == 0 && b.rc == -ENOENT) ||
                  (a.rc == -ENOENT && b.rc == 0));
    }
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    pthread_barrier_destroy(&go);
}
END_TEST

struct ordered {
    rgn_t *r;
    struct tprobe *probe;
    sem_t *wait_for;
    sem_t *then_post;
};

static void *register_in_turn(void *arg)
{
    struct ordered *o = arg;
    if (o->wait_for)
        sem_wait(o->wait_for);
    ck_assert_int_eq(rgn_register(o->r, tprobe_cleanup, o->probe, NULL), 0);
    if (o->then_post)
        sem_post(o->then_post);
    return NULL;
}

START_TEST(close_order_follows_happens_before_across_threads)
{
    enum { T = 6 };
    struct tprobe p[T];
    sem_t turn[T];
    struct ordered o[T];
    pthread_t t[T];
    rgn_t *r = rgn_new();
    ck_assert_ptr_eq(rgn_share(r), r);
    for (int i = 0; i < T; i++) {
        probe_init(&p[i].p, i + 1);
        sem_init(&turn[i], 0, 0);
    }
    /* Thread i registers after thread i-1 did, through a semaphore; the
     * threads are started in reverse to make the order not a given. */
    for (int i = 0; i < T; i++)
        o[i] = (struct ordered){r, &p[i], i ? &turn[i - 1] : NULL,
                                &turn[i]};
    for (int i = T - 1; i >= 0; i--)
        pthread_create(&t[i], NULL, register_in_turn, &o[i]);
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ASSERT_LOG(6, 5, 4, 3, 2, 1);
    for (int i = 0; i < T; i++)
        sem_destroy(&turn[i]);
}
END_TEST

/* ---- rgn_allocate and cancellation ------------------------------------- */

struct cancel_case {
    rgn_t *r;
    sem_t in_acquire;
    sem_t may_finish;
    struct probe res;
    int allocate_rc;
    int reached_after;
};

static int slow_acquire(void *arg, void **out)
{
    struct cancel_case *c = arg;
    sem_post(&c->in_acquire);
    /* sem_wait is a cancellation point: it must not act here. */
    while (sem_wait(&c->may_finish) != 0)
        ;
    *out = &c->res;
    return 0;
}

static void *allocating_thread(void *arg)
{
    struct cancel_case *c = arg;
    c->allocate_rc = rgn_allocate(c->r, slow_acquire, c, probe_cleanup, NULL,
                                  NULL);
    c->reached_after = 1;
    pthread_testcancel(); /* the pending cancel takes effect here */
    c->reached_after = 2;
    return NULL;
}

START_TEST(cancel_during_acquire_cannot_leak)
{
    struct cancel_case c;
    c.r = rgn_new();
    c.allocate_rc = 99;
    c.reached_after = 0;
    probe_init(&c.res, 1);
    sem_init(&c.in_acquire, 0, 0);
    sem_init(&c.may_finish, 0, 0);
    ck_assert_ptr_eq(rgn_share(c.r), c.r);
    pthread_t t;
    pthread_create(&t, NULL, allocating_thread, &c);
    sem_wait(&c.in_acquire);
    ck_assert_int_eq(pthread_cancel(t), 0);
    sem_post(&c.may_finish);
    void *ret;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_ptr_eq(ret, PTHREAD_CANCELED);
    ck_assert_int_eq(c.allocate_rc, 0);
    ck_assert_int_eq(c.reached_after, 1);
    ck_assert_uint_eq(rgn_live(c.r), 1); /* registered, not leaked */
    ck_assert_int_eq(rgn_close(c.r), 0);
    ck_assert_int_eq(rgn_close(c.r), 0);
    ck_assert_int_eq(c.res.runs, 1);
    sem_destroy(&c.in_acquire);
    sem_destroy(&c.may_finish);
}
END_TEST

/* Waits to be cancelled at an explicit cancellation point.  (Not in
 * sem_wait: ThreadSanitizer loses track of a thread cancelled inside one
 * of its intercepted blocking calls and then reports false races.) */
static int waits_forever(rgn_t *r, void *arg)
{
    (void)r;
    (void)arg;
    for (;;) {
        pthread_testcancel();
        sched_yield();
    }
    return 0;
}

START_TEST(cancelled_thread_drops_its_reference_as_an_error)
{
    struct tprobe p;
    probe_init(&p.p, 1);
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_register(r, tprobe_cleanup, &p, NULL), 0);
    pthread_t t;
    ck_assert_int_eq(rgn_thread_create(&t, NULL, r, waits_forever, NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(pthread_cancel(t), 0);
    void *ret;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_ptr_eq(ret, PTHREAD_CANCELED);
    ck_assert_int_eq(p.p.runs, 1);
    ck_assert_int_eq(p.p.how, RGN_RELEASE_ERROR);
}
END_TEST

/* ---- stress ---------------------------------------------------------------- */

enum { STRESS_THREADS = 8, STRESS_OPS = 50000, STRESS_KEEP = 64 };

static atomic_int stress_runs[STRESS_THREADS][STRESS_OPS];

static int stress_cleanup(void *res, rgn_release_type how)
{
    (void)how;
    atomic_fetch_add((atomic_int *)res, 1);
    return 0;
}

struct stresser {
    rgn_t *r;
    int id;
    int registered;
    int released;
};

static void *stress_thread(void *arg)
{
    struct stresser *s = arg;
    rgn_key_t keys[STRESS_KEEP];
    int held = 0;
    unsigned x = 2654435761u * (unsigned)(s->id + 1);
    for (int op = 0; op < STRESS_OPS; op++) {
        x = x * 1664525u + 1013904223u;
        if (held < STRESS_KEEP && (held == 0 || (x >> 16) % 3 != 0)) {
            int rc = rgn_register(s->r, stress_cleanup,
                                  &stress_runs[s->id][s->registered],
                                  &keys[held]);
            if (rc != 0)
                return (void *)1;
            held++;
            s->registered++;
        } else {
            int j = (int)((x >> 8) % (unsigned)held);
            if (rgn_release(s->r, keys[j]) != 0)
                return (void *)2;
            if (rgn_release(s->r, keys[j]) != -ENOENT)
                return (void *)3;
            keys[j] = keys[--held];
            s->released++;
        }
    }
    return NULL; /* what is still held is left to the close */
}

/* One thread releases keys while another drops its reference, in a race
 * for who is last: every cleanup runs exactly once, early or at the
 * close, never both and never lost. */
enum { RACE_N = 64 };
struct race {
    rgn_t *r;
    rgn_key_t k[RACE_N];
    atomic_int runs[RACE_N];
};

static int count_run(void *arg, rgn_release_type how)
{
    (void)how;
    atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

static void *release_then_close(void *arg)
{
    struct race *rc = arg;
    for (int i = 0; i < RACE_N; i++)
        rgn_release(rc->r, rc->k[i]); /* 0, or -ENOENT once closed */
    rgn_close(rc->r);
    return NULL;
}

/*
 * A thread that finds a shared region's lock held sleeps until it is let
 * go; it does not spin on a core.  No user code runs under the lock but
 * the allocator, which grows a region's slots under it: an allocator that
 * waits keeps the lock held while another thread registers.  The
 * registration must wait for it (wall time) by sleeping: its thread
 * gives up the CPU of its own accord (a voluntary context switch, counted
 * by getrusage), which a spinning waiter never does -- preempted, its
 * switches are involuntary.  Not a measure of CPU time, which a busy
 * machine makes noisy.  In a child process, where the allocator can be
 * set.
 */
enum { HOLD_MS = 300 };

static double ms_of(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long voluntary_switches(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nvcsw;
}

static sem_t lock_held;
static atomic_bool hold_next_malloc;

/* malloc, except that when armed it signals and waits HOLD_MS first. */
static void *holding_malloc(size_t n)
{
    if (atomic_exchange(&hold_next_malloc, false)) {
        sem_post(&lock_held);
        sleep_ms(HOLD_MS);
    }
    return malloc(n);
}

static void *grow_holding_the_lock(void *r)
{
    atomic_store(&hold_next_malloc, true);
    /* The inline slots are full: this one grows them, under the lock. */
    return (void *)(intptr_t)rgn_register((rgn_t *)r, noop_cleanup, NULL,
                                          NULL);
}

static void waiter_sleeps(void)
{
    static const rgn_allocator a = {holding_malloc, realloc, free};
    CHILD_REQUIRE(rgn_set_allocator(&a) == 0);
    sem_init(&lock_held, 0, 0);
    rgn_t *r = rgn_new();
    for (int i = 0; i < 7; i++)
        CHILD_REQUIRE(rgn_register(r, noop_cleanup, NULL, NULL) == 0);
    CHILD_REQUIRE(rgn_share(r) == r);
    pthread_t t;
    pthread_create(&t, NULL, grow_holding_the_lock, r);
    sem_wait(&lock_held);

    double wall = ms_of(CLOCK_MONOTONIC);
    long slept = voluntary_switches();
    CHILD_REQUIRE(rgn_register(r, noop_cleanup, NULL, NULL) == 0);
    slept = voluntary_switches() - slept;
    wall = ms_of(CLOCK_MONOTONIC) - wall;

    void *ret;
    pthread_join(t, &ret);
    CHILD_REQUIRE((intptr_t)ret == 0);
    CHILD_REQUIRE(wall >= HOLD_MS / 2); /* it waited */
    CHILD_REQUIRE(slept >= 1);          /* asleep, not spinning */
    CHILD_REQUIRE(rgn_live(r) == 9);
    CHILD_REQUIRE(rgn_close(r) == 0);
    CHILD_REQUIRE(rgn_close(r) == 0);
}

START_TEST(a_waiter_sleeps_until_the_lock_is_let_go)
{
    ck_assert_int_eq(in_child(waiter_sleeps), 0);
}
END_TEST

START_TEST(release_racing_the_last_close)
{
    static struct race rc;
    for (int round = 0; round < 200; round++) {
        rc.r = rgn_new();
        for (int i = 0; i < RACE_N; i++) {
            atomic_store(&rc.runs[i], 0);
            ck_assert_int_eq(rgn_register(rc.r, count_run, &rc.runs[i],
                                          &rc.k[i]), 0);
        }
        ck_assert_ptr_eq(rgn_share(rc.r), rc.r);
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, release_then_close, &rc),
                         0);
        if (round % 2)
            sched_yield();
        ck_assert_int_eq(rgn_close(rc.r), 0);
        pthread_join(t, NULL);
        for (int i = 0; i < RACE_N; i++)
            ck_assert_int_eq(atomic_load(&rc.runs[i]), 1);
    }
}
END_TEST

START_TEST(eight_threads_hammering_one_region_lose_nothing)
{
    rgn_t *r = rgn_new();
    struct stresser s[STRESS_THREADS];
    pthread_t t[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        s[i] = (struct stresser){rgn_share(r), i, 0, 0};
        ck_assert_ptr_eq(s[i].r, r);
        for (int j = 0; j < STRESS_OPS; j++)
            atomic_store(&stress_runs[i][j], 0);
    }
    for (int i = 0; i < STRESS_THREADS; i++)
        pthread_create(&t[i], NULL, stress_thread, &s[i]);
    size_t registered = 0, released = 0;
    for (int i = 0; i < STRESS_THREADS; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        ck_assert_ptr_null(ret);
        registered += (size_t)s[i].registered;
        released += (size_t)s[i].released;
    }
    ck_assert_uint_eq(rgn_live(r), registered - released);
    for (int i = 0; i <= STRESS_THREADS; i++)
        ck_assert_int_eq(rgn_close(r), 0);
    for (int i = 0; i < STRESS_THREADS; i++)
        for (int j = 0; j < STRESS_OPS; j++)
            ck_assert_int_eq(atomic_load(&stress_runs[i][j]),
                             j < s[i].registered ? 1 : 0);
}
END_TEST

/* ---- child regions and sharing ------------------------------------------ */

struct child_user {
    struct tprobe *probe;
    sem_t *parent_gone;
};

static int uses_child_after_parent(rgn_t *c, void *arg)
{
    struct child_user *u = arg;
    sem_wait(u->parent_gone);
    ck_assert_int_eq(rgn_register(c, tprobe_cleanup, u->probe, NULL), 0);
    return 0;
}

/* A server's connection: the child stays in the server region, which
 * keeps a reference while the thread holds another.  The server closes
 * first here: the connection's cleanups wait for the thread's end and run
 * in the thread (this was a leak: the thread took the child out). */
START_TEST(thread_child_stays_in_its_parent_and_outlives_its_close)
{
    struct tprobe x, y, z;
    probe_init(&x.p, 1);
    probe_init(&y.p, 2);
    probe_init(&z.p, 3);
    sem_t gone;
    sem_init(&gone, 0, 0);
    rgn_t *p = rgn_new();
    ck_assert_int_eq(rgn_register(p, tprobe_cleanup, &z, NULL), 0);
    rgn_t *c = rgn_new_child(p);
    ck_assert_int_eq(rgn_register(c, tprobe_cleanup, &x, NULL), 0);
    struct child_user u = {&y, &gone};
    pthread_t t;
    ck_assert_int_eq(rgn_thread_create(&t, NULL, c, uses_child_after_parent,
                                       &u), 0);
    ck_assert(!rgn_key_is_none(rgn_child_key(c))); /* still in p */
    ck_assert_uint_eq(rgn_live(p), 2);
    ck_assert_int_eq(rgn_close(p), 0); /* drops p's reference to c */
    ASSERT_LOG(3);
    sem_post(&gone);
    pthread_join(t, NULL);
    ASSERT_LOG(3, 2, 1); /* the thread's drop was last: newest first */
    ck_assert(pthread_equal(x.ran_in, t));
    sem_destroy(&gone);
}
END_TEST

static int registers_and_returns(rgn_t *c, void *arg)
{
    return rgn_register(c, tprobe_cleanup, arg, NULL);
}

/* The thread ends first: the child lives on in its parent, and the
 * parent's close runs it at its place, newest first. */
START_TEST(thread_child_done_first_closes_with_its_parent)
{
    struct tprobe w, x, y;
    probe_init(&w.p, 1);
    probe_init(&x.p, 2);
    probe_init(&y.p, 3);
    rgn_t *p = rgn_new();
    rgn_t *c = rgn_new_child(p);
    ck_assert_int_eq(rgn_register(c, tprobe_cleanup, &x, NULL), 0);
    pthread_t t;
    ck_assert_int_eq(rgn_thread_create(&t, NULL, c, registers_and_returns,
                                       &y), 0);
    void *ret;
    pthread_join(t, &ret);
    ck_assert_ptr_null(ret);
    ck_assert_int_eq(x.p.runs + y.p.runs, 0);
    ck_assert_uint_eq(rgn_live(p), 1);
    ck_assert_int_eq(rgn_register(p, tprobe_cleanup, &w, NULL), 0);
    ck_assert_int_eq(rgn_close(p), 0);
    ASSERT_LOG(1, 3, 2);
    ck_assert(pthread_equal(x.ran_in, pthread_self()));
}
END_TEST

/* The creator's own close drops the parent's reference and takes the
 * child out; the thread's end then closes it. */
START_TEST(creator_closing_a_thread_child_takes_it_out)
{
    struct tprobe x, y;
    probe_init(&x.p, 1);
    probe_init(&y.p, 2);
    sem_t go;
    sem_init(&go, 0, 0);
    rgn_t *p = rgn_new();
    rgn_t *c = rgn_new_child(p);
    ck_assert_int_eq(rgn_register(c, tprobe_cleanup, &x, NULL), 0);
    struct child_user u = {&y, &go};
    pthread_t t;
    ck_assert_int_eq(rgn_thread_create(&t, NULL, c, uses_child_after_parent,
                                       &u), 0);
    ck_assert_int_eq(rgn_close(c), 0);
    ck_assert_uint_eq(rgn_live(p), 0);
    ck_assert_int_eq(rgn_close(p), 0);
    ck_assert_int_eq(run_count, 0);
    sem_post(&go);
    pthread_join(t, NULL);
    ASSERT_LOG(2, 1);
    ck_assert(pthread_equal(x.ran_in, t));
    sem_destroy(&go);
}
END_TEST

START_TEST(shared_child_is_closed_by_its_references_only)
{
    struct probe x;
    probe_init(&x, 1);
    rgn_t *p = rgn_new();
    rgn_t *c = rgn_new_child(p);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &x, NULL), 0);
    ck_assert_ptr_eq(rgn_share(c), c);
    ck_assert(rgn_key_is_none(rgn_child_key(c)));
    ck_assert_int_eq(rgn_close(p), 0);
    ck_assert_int_eq(x.runs, 0);
    ck_assert_int_eq(rgn_close(c), 0);
    ck_assert_int_eq(x.runs, 0);
    ck_assert_int_eq(rgn_close(c), 0);
    ck_assert_int_eq(x.runs, 1);
}
END_TEST

/* Worker threads each make a child of one shared region per job, close it,
 * and sometimes leave a job's child to the parent; meanwhile they register
 * in the parent directly.  Every cleanup runs once. */
enum { JOB_THREADS = 4, JOBS = 2000 };
static atomic_int job_runs;

static int count_job_cleanup(void *res, rgn_release_type how)
{
    (void)res;
    (void)how;
    atomic_fetch_add(&job_runs, 1);
    return 0;
}

static void *job_worker(void *arg)
{
    rgn_t *g = arg;
    for (int j = 0; j < JOBS; j++) {
        rgn_t *job = rgn_new_child(g);
        if (!job)
            return (void *)1;
        for (int k = 0; k < 3; k++)
            if (rgn_register(job, count_job_cleanup, NULL, NULL) != 0)
                return (void *)2;
        if (rgn_register(g, count_job_cleanup, NULL, NULL) != 0)
            return (void *)3;
        if (j % 5 != 0 && rgn_close(job) != 0) /* every 5th: the parent's */
            return (void *)4;
    }
    return NULL;
}

START_TEST(children_of_a_shared_region_in_many_threads)
{
    atomic_store(&job_runs, 0);
    rgn_t *g = rgn_new();
    pthread_t t[JOB_THREADS];
    for (int i = 0; i < JOB_THREADS; i++) {
        ck_assert_ptr_eq(rgn_share(g), g);
        pthread_create(&t[i], NULL, job_worker, g);
    }
    for (int i = 0; i < JOB_THREADS; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        ck_assert_ptr_null(ret);
        ck_assert_int_eq(rgn_close(g), 0);
    }
    /* Jobs left open sit in g with their own resources. */
    ck_assert_uint_eq(rgn_live(g), JOB_THREADS * (JOBS + JOBS / 5));
    ck_assert_int_eq(rgn_close(g), 0);
    ck_assert_int_eq(atomic_load(&job_runs), JOB_THREADS * JOBS * 4);
}
END_TEST

Suite *share_suite(void)
{
    Suite *s = suite_create("share");
    TCase *t = tcase_create("threads");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, last_sharer_runs_everything_newest_first);
    tcase_add_test(t, failing_thread_closes_with_error_and_exits_with_its_result);
    tcase_add_test(t, error_drop_that_is_last_runs_cleanups_with_error);
    tcase_add_test(t, thread_exit_value_is_the_close_result_when_fn_succeeds);
    tcase_add_test(t, thread_that_cannot_start_shares_nothing);
    tcase_add_test(t, child_stays_in_its_parent_when_its_thread_cannot_start);
    tcase_add_test(t, thread_create_bad_arguments);
    tcase_add_test(t, share_child_and_thread_refused_while_closing);
    tcase_add_test(t, cancel_during_acquire_cannot_leak);
    tcase_add_test(t, cancelled_thread_drops_its_reference_as_an_error);
    suite_add_tcase(s, t);

    t = tcase_create("concurrency");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, two_threads_releasing_one_key_run_it_once);
    tcase_add_test(t, close_order_follows_happens_before_across_threads);
    tcase_add_test(t, eight_threads_hammering_one_region_lose_nothing);
    tcase_add_test(t, release_racing_the_last_close);
    tcase_add_test(t, a_waiter_sleeps_until_the_lock_is_let_go);
    suite_add_tcase(s, t);

    t = tcase_create("children");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, thread_child_stays_in_its_parent_and_outlives_its_close);
    tcase_add_test(t, thread_child_done_first_closes_with_its_parent);
    tcase_add_test(t, creator_closing_a_thread_child_takes_it_out);
    tcase_add_test(t, shared_child_is_closed_by_its_references_only);
    tcase_add_test(t, children_of_a_shared_region_in_many_threads);
    suite_add_tcase(s, t);
    return s;
}

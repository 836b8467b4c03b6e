/* SPDX-License-Identifier: MIT */
/* check_bias.c -- the biased lock (lib/lock.c) against the processor it
 * has to be right on, built into this binary from the library's sources
 * with RGN_BIAS_MODEL: the owner's store of `busy` stays in a modelled
 * store buffer, invisible to the reader, until a fence drains it -- the
 * reordering the owner's missing fence allows and the reader's heavy
 * fence undoes.  Each heavy fence (membarrier, mprotect) can be made to
 * fail, as a seccomp filter makes membarrier fail.  An owner and a reader
 * must never be inside at once, and a reader must never wait for an
 * owner that is not inside. */
#include "internal.h"

#include "helpers.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>

static struct rgn_bias b;
static rgn_lock_t l;
static atomic_int owner_in, reader_in, overlaps;

/* Times owner and reader were found inside at once. */
static int overlapped(void)
{
    return atomic_load(&overlaps);
}

static void reset(bool membarrier_fails, bool mprotect_fails)
{
    atomic_init(&b.busy, 0);
    atomic_init(&b.claim, RGN_BIAS_FREE);
    atomic_init(&l.word, 0);
    atomic_store(&owner_in, 0);
    atomic_store(&reader_in, 0);
    atomic_store(&overlaps, 0);
    atomic_store(&rgn__model_membarrier_fails, membarrier_fails);
    atomic_store(&rgn__model_mprotect_fails, mprotect_fails);
    atomic_store(&rgn__model_slow_drain, false);
}

/* The owner's lock and unlock, as region.h's rgn__lock and rgn__unlock
 * take them for a listed region nobody shares. */
static void owner_lock(void)
{
    if (rgn__bias_on(&b))
        (void)rgn__bias_enter(&b, &l);
    else
        rgn__lock_take(&l);
    atomic_store(&owner_in, 1);
    if (atomic_load(&reader_in))
        atomic_fetch_add(&overlaps, 1);
}

static void owner_unlock(void)
{
    atomic_store(&owner_in, 0);
    if (rgn__bias_on(&b))
        rgn__bias_exit(&b);
    else
        rgn__lock_give(&l);
}

/* A reader, as rgn__reader_lock takes an unshared region. */
static enum rgn_bias_read reader_lock(void)
{
    enum rgn_bias_read got = rgn__bias_claim(&b, &l);
    if (got != RGN_READ_SKIP) {
        atomic_store(&reader_in, 1);
        if (atomic_load(&owner_in))
            atomic_fetch_add(&overlaps, 1);
    }
    return got;
}

static void reader_unlock(enum rgn_bias_read got)
{
    atomic_store(&reader_in, 0);
    if (got == RGN_READ_BIAS)
        rgn__bias_unclaim(&b);
    else if (got == RGN_READ_REAL)
        rgn__lock_give(&l);
}

/* ---- an owner inside, its store of busy not yet seen ----------------- */

static sem_t inside, go;
static atomic_int reader_got, reader_done;

static void *owner_inside(void *arg)
{
    (void)arg;
    owner_lock(); /* busy = 1 sits in the store buffer */
    sem_post(&inside);
    while (sem_wait(&go) != 0)
        ;
    owner_unlock();
    return NULL;
}

static void *one_read(void *arg)
{
    (void)arg;
    enum rgn_bias_read got = reader_lock();
    atomic_store(&reader_got, (int)got);
    reader_unlock(got);
    atomic_store(&reader_done, 1);
    return NULL;
}

/* Runs a reader against an owner that is inside, its store held back;
 * lets the owner go once the reader either drained the store with a
 * fence (and so waits) or returned.  Returns what the reader got. */
static enum rgn_bias_read read_while_owner_inside(void)
{
    sem_init(&inside, 0, 0);
    sem_init(&go, 0, 0);
    atomic_store(&reader_done, 0);
    pthread_t o, r;
    ck_assert_int_eq(pthread_create(&o, NULL, owner_inside, NULL), 0);
    while (sem_wait(&inside) != 0)
        ;
    ck_assert_uint_eq(atomic_load(&b.busy), 0); /* not seen yet */
    ck_assert_int_eq(pthread_create(&r, NULL, one_read, NULL), 0);
    while (!atomic_load(&reader_done) && atomic_load(&b.busy) == 0)
        sched_yield();
    sem_post(&go);
    pthread_join(o, NULL);
    pthread_join(r, NULL);
    sem_destroy(&inside);
    sem_destroy(&go);
    ck_assert_int_eq(overlapped(), 0);
    return (enum rgn_bias_read)atomic_load(&reader_got);
}

/* membarrier drains the owner's store: the reader sees it inside, waits
 * for it, and reads in the biased lock. */
START_TEST(reader_waits_for_an_owner_whose_store_it_cannot_see)
{
    reset(false, false);
    ck_assert_int_eq(read_while_owner_inside(), RGN_READ_BIAS);
    ck_assert_uint_eq(atomic_load(&b.claim), RGN_BIAS_FREE);
}
END_TEST

/* membarrier fails (a seccomp filter): the reader used to take its
 * failure for a fence, saw busy 0 and read while the owner was inside.
 * The mprotect fence drains the store instead; the region then turns to
 * its real lock for good. */
START_TEST(failed_membarrier_falls_back_to_mprotect_and_the_real_lock)
{
    reset(true, false);
    ck_assert_int_eq(read_while_owner_inside(), RGN_READ_REAL);
    ck_assert_uint_eq(atomic_load(&b.claim), RGN_BIAS_OFF);
    ck_assert(!rgn__bias_on(&b));
    /* Both sides take the real lock from now on. */
    owner_lock();
    ck_assert_uint_ne(atomic_load(&l.word), 0);
    owner_unlock();
    ck_assert_uint_eq(atomic_load(&l.word), 0);
    enum rgn_bias_read got = reader_lock();
    ck_assert_int_eq(got, RGN_READ_REAL);
    reader_unlock(got);
    ck_assert_int_eq(overlapped(), 0);
}
END_TEST

/* No fence at all: the reader cannot tell whether the owner is inside, so
 * it does not read; the owner turns the region off as it leaves. */
START_TEST(no_fence_the_reader_passes_and_the_owner_turns_off)
{
    reset(true, true);
    ck_assert_int_eq(read_while_owner_inside(), RGN_READ_SKIP);
    ck_assert_uint_eq(atomic_load(&b.claim), RGN_BIAS_OFF);
    enum rgn_bias_read got = reader_lock();
    ck_assert_int_eq(got, RGN_READ_REAL);
    reader_unlock(got);
    owner_lock();
    ck_assert_uint_ne(atomic_load(&l.word), 0);
    owner_unlock();
    ck_assert_int_eq(overlapped(), 0);
}
END_TEST

/* No fence, and an idle owner: readers pass it by, never waiting, until
 * its next call turns it to the real lock. */
START_TEST(no_fence_an_idle_owner_never_holds_a_reader)
{
    reset(true, true);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(reader_lock(), RGN_READ_SKIP);
    ck_assert_uint_eq(atomic_load(&b.claim), RGN_BIAS_ASKED);
    owner_lock(); /* turns it off, and takes the real lock */
    ck_assert_uint_eq(atomic_load(&b.claim), RGN_BIAS_OFF);
    ck_assert_uint_ne(atomic_load(&l.word), 0);
    owner_unlock();
    ck_assert_uint_eq(atomic_load(&l.word), 0);
    enum rgn_bias_read got = reader_lock();
    ck_assert_int_eq(got, RGN_READ_REAL);
    reader_unlock(got);
}
END_TEST

/* An idle owner with the mprotect fence: read at once, and turned off. */
START_TEST(failed_membarrier_an_idle_owner_is_read_at_once)
{
    reset(true, false);
    enum rgn_bias_read got = reader_lock();
    ck_assert_int_eq(got, RGN_READ_REAL);
    reader_unlock(got);
    ck_assert_uint_eq(atomic_load(&b.claim), RGN_BIAS_OFF);
}
END_TEST

/* ---- many rounds, owner and reader in threads -------------------------- */

enum {
    ROUNDS = 20000
};
static atomic_bool stop;

static void *owner_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        owner_lock();
        owner_unlock();
    }
    return NULL;
}

/* Readers against a busy owner while the fences fail from some round
 * on: never both inside, the reader never stuck, and the region ends
 * on its real lock. */
static void rounds(bool mprotect_fails)
{
    reset(false, mprotect_fails);
    atomic_store(&stop, false);
    pthread_t o;
    ck_assert_int_eq(pthread_create(&o, NULL, owner_loop, NULL), 0);
    for (int i = 0; i < ROUNDS; i++) {
        if (i == ROUNDS / 4)
            atomic_store(&rgn__model_membarrier_fails, true);
        enum rgn_bias_read got = reader_lock();
        reader_unlock(got);
    }
    while (atomic_load(&b.claim) != RGN_BIAS_OFF) /* asked: it answers */
        sched_yield();
    atomic_store(&stop, true);
    pthread_join(o, NULL);
    ck_assert_int_eq(overlapped(), 0);
    ck_assert_uint_eq(atomic_load(&b.claim), RGN_BIAS_OFF);
}

START_TEST(readers_against_a_busy_owner_as_membarrier_breaks)
{
    rounds(false);
    rounds(true);
}
END_TEST

/* A reader's fence preempted between taking the owner's held store and
 * making it visible: its busy = 1 used to land after the owner's own
 * busy = 0, and reader and owner then waited for each other for ever
 * (the test timed out, as it once did on a loaded CI machine). */
START_TEST(a_preempted_fence_lands_no_stale_store)
{
    reset(false, false);
    atomic_store(&rgn__model_slow_drain, true);
    atomic_store(&stop, false);
    pthread_t o;
    ck_assert_int_eq(pthread_create(&o, NULL, owner_loop, NULL), 0);
    for (int i = 0; i < ROUNDS / 4; i++) {
        enum rgn_bias_read got = reader_lock();
        ck_assert_int_eq(got, RGN_READ_BIAS);
        reader_unlock(got);
    }
    atomic_store(&stop, true);
    pthread_join(o, NULL);
    ck_assert_int_eq(overlapped(), 0);
    ck_assert_uint_eq(atomic_load(&b.claim), RGN_BIAS_FREE);
}
END_TEST

static Suite *bias_suite(void)
{
    Suite *s = suite_create("bias");
    TCase *t = tcase_create("model");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, reader_waits_for_an_owner_whose_store_it_cannot_see);
    tcase_add_test(t,
                   failed_membarrier_falls_back_to_mprotect_and_the_real_lock);
    tcase_add_test(t, no_fence_the_reader_passes_and_the_owner_turns_off);
    tcase_add_test(t, no_fence_an_idle_owner_never_holds_a_reader);
    tcase_add_test(t, failed_membarrier_an_idle_owner_is_read_at_once);
    tcase_add_test(t, readers_against_a_busy_owner_as_membarrier_breaks);
    tcase_add_test(t, a_preempted_fence_lands_no_stale_store);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suites(bias_suite(), NULL);
}

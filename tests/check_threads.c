/* SPDX-License-Identifier: MIT */
/* check_threads.c -- the rare paths of the thread contract: process-wide
 * readers against regions other threads own, the lock order, what a sink
 * may call, thread cancellation inside rgn, and fork() -- each rule of
 * the locking comment at the top of lib/audit.c.  Most tests reproduce a
 * defect that crashed, hung or lost a cleanup (see the ChangeLog); the
 * ones that could hang run in a child process with an alarm. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* REG_RAX */
#endif
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

/* valgrind runs one thread at a time: two tests change course there. */
static bool under_valgrind(void)
{
#ifdef RUNNING_ON_VALGRIND
    return RUNNING_ON_VALGRIND;
#else
    return false;
#endif
}

/* Seconds a child may take before its alarm calls it hung. */
enum { HANG_SECONDS = 20 };

static atomic_long sink_lines;

static void counting_sink(const char *line, void *arg)
{
    (void)line;
    (void)arg;
    atomic_fetch_add(&sink_lines, 1);
}

static void teardown(void)
{
    rgn_audit_set_sink(NULL, NULL);
    rgn_audit_set_default(RGN_AUDIT_OFF);
    rgn_lifetimes_set_default(0);
}

/* ---- readers against owners ------------------------------------------ */

enum { JOBS = 300, JOB_KEYS = 16 };

static atomic_bool jobs_done;

/* An owner thread: named, audited regions of its own, made, used and
 * closed, as a worker does with one region per job. */
static void *owner_jobs(void *arg)
{
    (void)arg;
    for (int j = 0; j < JOBS; j++) {
        rgn_t *r = rgn_new();
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(rgn_set_name(r, "job"), 0);
        ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
        rgn_key_t k[JOB_KEYS];
        for (int i = 0; i < JOB_KEYS; i++)
            ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k[i]), 0);
        for (int i = 0; i < JOB_KEYS; i++)
            ck_assert_int_eq(rgn_release(r, k[i]), 0);
        ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &k[0]), 0);
        ck_assert_int_eq(rgn_expect_close(r, k[0]), 0);
        ck_assert_int_eq(rgn_close(r), 0);
    }
    atomic_store(&jobs_done, true);
    return NULL;
}

/* Metrics scrapes and open-region reports read every listed region while
 * its owner changes it: they must lock it.  They did not for unshared
 * regions (heap corruption; ThreadSanitizer: use-after-free in the
 * sketch merge). */
START_TEST(readers_race_owners_of_unshared_regions)
{
    rgn_audit_set_sink(counting_sink, NULL);
    atomic_store(&jobs_done, false);
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(devnull);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, owner_jobs, NULL), 0);
    long scrapes = 0;
    while (!atomic_load(&jobs_done) || scrapes == 0) {
        ck_assert_int_ge(rgn_metrics_write(devnull), 0);
        ck_assert_int_ge(rgn_audit_report_open(), 0);
        scrapes++;
    }
    pthread_join(t, NULL);
    fclose(devnull);
}
END_TEST

/* The sampled audit's lean calls change a region without its lock while
 * readers read it (lib/audit.h): a long-lived region, as the worker-loop
 * story's global one, registers and releases job after job, some
 * resources left behind, while another thread scrapes metrics, writes
 * profiles, reports open regions and asks a checkpoint.  Under
 * ThreadSanitizer (the tsan build of the whole tree) a lean call that
 * touched what a reader reads is a reported race; anywhere, the counts
 * at the end are exact. */
enum { LEAN_JOBS = 2000, LEAN_KEYS = 8 };

static void *owner_sampled_region(void *arg)
{
    rgn_t *r = arg;
    for (int j = 0; j < LEAN_JOBS; j++) {
        rgn_key_t k[LEAN_KEYS];
        for (int i = 0; i < LEAN_KEYS; i++)
            ck_assert_int_eq(
                rgn_register_labeled(r, noop_cleanup, NULL, &k[i], "job"), 0);
        if (j % 100 == 0) /* a recorded resource among the lean ones */
            ck_assert_ptr_nonnull(rgn_malloc(r, 32));
        for (int i = 1; i < LEAN_KEYS; i++) /* k[0] is left behind */
            ck_assert_int_eq(rgn_release(r, k[i]), 0);
        if (j % 50 == 0)
            ck_assert_int_eq(rgn_expect_close(r, k[0]), 0);
    }
    atomic_store(&jobs_done, true);
    return NULL;
}

START_TEST(readers_race_lean_calls_of_a_sampled_region)
{
    rgn_audit_set_sink(counting_sink, NULL);
    ck_assert_int_eq(rgn_audit_set_sample(8), 0);
    atomic_store(&jobs_done, false);
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_set_name(r, "global"), 0);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    char path[] = "/tmp/rgn-lean-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    rgn_mark_t mark = rgn_audit_mark();
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, owner_sampled_region, r), 0);
    long scrapes = 0;
    unsigned long long shown = 0; /* a counter never goes down */
    static const char total[] =
        "rgn_resources_registered_total{region=\"global\"} ";
    while (!atomic_load(&jobs_done) || scrapes == 0) {
        char *text = NULL;
        size_t size = 0;
        FILE *mem = open_memstream(&text, &size);
        ck_assert_ptr_nonnull(mem);
        ck_assert_int_ge(rgn_metrics_write(mem), 0);
        ck_assert_int_eq(fclose(mem), 0);
        const char *at = strstr(text, total);
        ck_assert_msg(at != NULL, "%s", text);
        unsigned long long n = strtoull(at + strlen(total), NULL, 10);
        ck_assert_msg(n >= shown, "registered_total went from %llu to %llu",
                      shown, n);
        shown = n;
        free(text);
        ck_assert_int_ge(rgn_audit_report_open(), 0);
        ck_assert_int_ge(rgn_audit_since(mark, RGN_SINCE_QUIET), 0);
        ck_assert_int_eq(rgn_profile_write(path, RGN_PROFILE_FOLDED), 0);
        scrapes++;
    }
    pthread_join(t, NULL);
    rgn_stats st;
    ck_assert_int_eq(rgn_get_stats(r, &st), 0);
    ck_assert_uint_eq(st.live, LEAN_JOBS + LEAN_JOBS / 100);
    ck_assert_uint_eq(st.released_early, LEAN_JOBS * (LEAN_KEYS - 1));
    ck_assert_uint_le(shown, st.registered); /* never above the truth */
    /* Every one left behind, but the expected ones, is a possible leak. */
    ck_assert_int_eq(rgn_audit_dump(r, NULL, NULL),
                     LEAN_JOBS + LEAN_JOBS / 100 - LEAN_JOBS / 50);
    ck_assert_int_eq(rgn_audit_set_sample(1), 0);
    ck_assert_int_eq(rgn_close_error(r), 0);
    unlink(path);
}
END_TEST

/* A region closing with leaks reports under no lock, so a reader taking
 * the sink, the registry and then regions cannot deadlock with it; nor
 * with a limit warning, made during a registration. */
static void *leaky_closer(void *arg)
{
    (void)arg;
    for (int j = 0; j < JOBS; j++) {
        rgn_t *r = rgn_new();
        rgn_audit_set(r, RGN_AUDIT_REPORT);
        rgn_audit_limit(r, 1);
        rgn_share(r); /* its lock is taken, then */
        for (int i = 0; i < 3; i++)
            rgn_register(r, noop_cleanup, NULL, NULL);
        rgn_close(r);
        rgn_close(r);
    }
    return NULL;
}

static void reports_do_not_deadlock(void)
{
    alarm(HANG_SECONDS);
    rgn_audit_set_sink(counting_sink, NULL);
    rgn_t *held = rgn_new(); /* something for report_open to report */
    rgn_audit_set(held, RGN_AUDIT_REPORT);
    rgn_register(held, noop_cleanup, NULL, NULL);
    pthread_t t;
    pthread_create(&t, NULL, leaky_closer, NULL);
    for (int i = 0; i < JOBS; i++)
        CHILD_REQUIRE(rgn_audit_report_open() >= 1);
    pthread_join(t, NULL);
    CHILD_REQUIRE(rgn_close_error(held) == 0);
    /* Each close: 1 leak line and a summary; each warning, 2 lines. */
    CHILD_REQUIRE(atomic_load(&sink_lines) >= 4L * JOBS + 2L * JOBS);
}

START_TEST(report_open_and_closing_reports_do_not_deadlock)
{
    ck_assert_int_eq(in_child(reports_do_not_deadlock), 0);
}
END_TEST

/* An allocator whose blocks are never zero, as a heap's reused ones are
 * not: state rgn forgets to initialise reads as 0xa5 bytes. */
static void *dirty_malloc(size_t n)
{
    void *p = malloc(n);
    if (p)
        memset(p, 0xa5, n);
    return p;
}

static const rgn_allocator dirty_allocator = {dirty_malloc, realloc, free};

static atomic_bool sharing_done;

static void *scrape_until_done(void *arg)
{
    FILE *devnull = arg;
    while (!atomic_load(&sharing_done)) {
        CHILD_REQUIRE(rgn_metrics_write(devnull) >= 0);
        CHILD_REQUIRE(rgn_audit_report_open() >= 0);
    }
    return NULL;
}

/* Regions shared first and audited (or given lifetimes) afterwards, while
 * a reader scrapes: the region was locked already when it was listed, so
 * the biased lock's words were left as the allocator gave them, and the
 * reader waited for ever for an owner that was never inside. */
static void share_then_audit_while_readers_run(void)
{
    alarm(HANG_SECONDS);
    CHILD_REQUIRE(rgn_set_allocator(&dirty_allocator) == 0);
    rgn_audit_set_sink(counting_sink, NULL);
    FILE *devnull = fopen("/dev/null", "w");
    CHILD_REQUIRE(devnull != NULL);
    atomic_store(&sharing_done, false);
    pthread_t t;
    CHILD_REQUIRE(pthread_create(&t, NULL, scrape_until_done, devnull) == 0);
    for (int j = 0; j < JOBS; j++) {
        rgn_t *r = rgn_new();
        CHILD_REQUIRE(r != NULL);
        CHILD_REQUIRE(rgn_share(r) == r);
        if (j % 2)
            CHILD_REQUIRE(rgn_lifetimes_set(r, 1) == 0);
        else
            CHILD_REQUIRE(rgn_audit_set(r, RGN_AUDIT_REPORT) == 0);
        rgn_key_t k;
        CHILD_REQUIRE(rgn_register(r, noop_cleanup, NULL, &k) == 0);
        CHILD_REQUIRE(rgn_release(r, k) == 0);
        CHILD_REQUIRE(rgn_register(r, noop_cleanup, NULL, &k) == 0);
        CHILD_REQUIRE(rgn_expect_close(r, k) == 0);
        /* This thread reads it too, as a reader. */
        CHILD_REQUIRE(rgn_audit_report_open() >= 0);
        CHILD_REQUIRE(rgn_close(r) == 0);
        CHILD_REQUIRE(rgn_close(r) == 0);
    }
    atomic_store(&sharing_done, true);
    pthread_join(t, NULL);
    fclose(devnull);
}

START_TEST(audit_turned_on_after_sharing_while_readers_run)
{
    ck_assert_int_eq(in_child(share_then_audit_while_readers_run), 0);
}
END_TEST

/* ---- membarrier failing after start-up ---------------------------------- */

#if defined(__linux__) && defined(__NR_membarrier) &&                         \
    defined(__x86_64__) && defined(REG_RAX)
#define MEMBARRIER_FILTER 1
static atomic_int membarrier_traps;

/* valgrind dies of a SIGSYS raised by a seccomp filter; there the
 * filter fails membarrier without trapping, and counts nothing. */
static bool traps_counted(void)
{
    return !under_valgrind();
}

/* The filter traps this thread's membarrier calls: counted, and failed
 * with EPERM, as a sandbox's filter fails them. */
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    if (si->si_syscall == __NR_membarrier) {
        ((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RAX] = -EPERM;
        atomic_fetch_add(&membarrier_traps, 1);
    }
}

/* Installs it for the calling thread only, as a program's sandbox may. */
static void fail_membarrier_in_this_thread(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    CHILD_REQUIRE(sigaction(SIGSYS, &sa, NULL) == 0);
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K,
                 traps_counted() ? SECCOMP_RET_TRAP
                                 : SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof code / sizeof code[0], code};
    CHILD_REQUIRE(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHILD_REQUIRE(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
}

enum { BUSY_OWNERS = 2, BUSY_HELD = 3, IDLE_HELD = 5, OWN_HELD = 7 };
static atomic_bool owners_stop;
static sem_t idle_ready, idle_poke, idle_answered, idle_finish;

static rgn_t *audited_holding(int n)
{
    rgn_t *r = rgn_new();
    CHILD_REQUIRE(r != NULL);
    CHILD_REQUIRE(rgn_audit_set(r, RGN_AUDIT_REPORT) == 0);
    for (int i = 0; i < n; i++)
        CHILD_REQUIRE(rgn_register(r, noop_cleanup, NULL, NULL) == 0);
    return r;
}

static void *busy_owner(void *arg)
{
    sem_t *ready = arg;
    rgn_t *r = audited_holding(BUSY_HELD);
    sem_post(ready);
    while (!atomic_load(&owners_stop))
        CHILD_REQUIRE(rgn_live(r) == BUSY_HELD); /* in and out, all along */
    CHILD_REQUIRE(rgn_close_error(r) == 0);
    return NULL;
}

/* Makes no call between being ready and being poked. */
static void *idle_owner(void *arg)
{
    (void)arg;
    rgn_t *r = audited_holding(IDLE_HELD);
    sem_post(&idle_ready);
    while (sem_wait(&idle_poke) != 0)
        ;
    CHILD_REQUIRE(rgn_live(r) == IDLE_HELD);
    sem_post(&idle_answered);
    while (sem_wait(&idle_finish) != 0)
        ;
    CHILD_REQUIRE(rgn_close_error(r) == 0);
    return NULL;
}

/* membarrier starts failing in the reader (a seccomp filter after
 * start-up): rgn__bias_claim ignored the failure, took it for a fence and
 * went on calling it, so owner and reader could be inside at once.  Now
 * it tries once, then uses the other fence or asks the owner to turn
 * to its real lock; readers go on, never held up by an idle owner, and
 * read every region once its owner answered. */
static void membarrier_fails_after_start_up(void)
{
    alarm(HANG_SECONDS);
    rgn_audit_set_sink(counting_sink, NULL);
    FILE *devnull = fopen("/dev/null", "w");
    CHILD_REQUIRE(devnull != NULL);
    atomic_store(&owners_stop, false);
    sem_t ready;
    sem_init(&ready, 0, 0);
    sem_init(&idle_ready, 0, 0);
    sem_init(&idle_poke, 0, 0);
    sem_init(&idle_answered, 0, 0);
    sem_init(&idle_finish, 0, 0);
    pthread_t busy[BUSY_OWNERS], idle;
    for (int i = 0; i < BUSY_OWNERS; i++)
        CHILD_REQUIRE(pthread_create(&busy[i], NULL, busy_owner, &ready) ==
                      0);
    CHILD_REQUIRE(pthread_create(&idle, NULL, idle_owner, NULL) == 0);
    for (int i = 0; i < BUSY_OWNERS; i++)
        sem_wait(&ready);
    sem_wait(&idle_ready);
    rgn_t *own = audited_holding(OWN_HELD);
    const long all = BUSY_OWNERS * BUSY_HELD + IDLE_HELD + OWN_HELD;
    CHILD_REQUIRE(rgn_audit_report_open() == all); /* membarrier works */

    fail_membarrier_in_this_thread();
    for (int i = 0; i < 50; i++) {
        long n = rgn_audit_report_open();
        CHILD_REQUIRE(n >= 0 && n <= all);
        CHILD_REQUIRE(rgn_metrics_write(devnull) >= 0);
    }
    /* Tried once, never again: its result is not ignored.  (This count
     * would be 0 if the bias were off, with membarrier missing at load or
     * ThreadSanitizer's build of the library.) */
    CHILD_REQUIRE(atomic_load(&membarrier_traps) <= 1);
    /* Each owner makes a call: every region is read from then on, on
     * its real lock where the reader could not fence. */
    sem_post(&idle_poke);
    sem_wait(&idle_answered);
    CHILD_REQUIRE(rgn_live(own) == OWN_HELD);
    for (int i = 0; i < 5; i++)
        CHILD_REQUIRE(rgn_audit_report_open() == all);
    CHILD_REQUIRE(atomic_load(&membarrier_traps) <= 1);

    atomic_store(&owners_stop, true);
    sem_post(&idle_finish);
    for (int i = 0; i < BUSY_OWNERS; i++)
        pthread_join(busy[i], NULL);
    pthread_join(idle, NULL);
    CHILD_REQUIRE(rgn_close_error(own) == 0);
    CHILD_REQUIRE(rgn_audit_report_open() == 0);
    fclose(devnull);
}

START_TEST(membarrier_failing_after_start_up)
{
    ck_assert_int_eq(in_child(membarrier_fails_after_start_up), 0);
}
END_TEST
#endif

/* ---- allocations in flight -------------------------------------------- */

static int turn_audit_on(void *arg, void **res)
{
    rgn_audit_set(arg, RGN_AUDIT_REPORT);
    *res = NULL;
    return 0;
}

/* The slot was reserved before the region kept records: the record is
 * made when the registration lands (it wrote through a NULL table). */
START_TEST(audit_turned_on_while_an_allocate_is_in_flight)
{
    rgn_t *r = rgn_new();
    rgn_key_t k;
    ck_assert_int_eq(rgn_allocate(r, turn_audit_on, r, noop_cleanup, NULL,
                                  &k), 0);
    ck_assert_uint_eq(rgn_live(r), 1);
    ck_assert_int_eq(rgn_label(r, k, "late"), 0);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

enum { IN_FLIGHT = 8 };

struct flight {
    rgn_t *r;
    sem_t started, go;
    atomic_int runs;
    atomic_int how_normal;
    int rc[IN_FLIGHT];
};

static int slow_acquire(void *arg, void **res)
{
    struct flight *f = arg;
    sem_post(&f->started);
    sem_wait(&f->go);
    *res = f;
    return 0;
}

static int count_cleanup(void *res, rgn_release_type how)
{
    struct flight *f = res;
    atomic_fetch_add(&f->runs, 1);
    if (how == RGN_RELEASE_NORMAL)
        atomic_fetch_add(&f->how_normal, 1);
    return 0;
}

static void *allocate_in_flight(void *arg)
{
    struct flight *f = arg;
    intptr_t rc = rgn_allocate(f->r, slow_acquire, f, count_cleanup, NULL,
                               NULL);
    return (void *)rc;
}

/* Several rgn_allocate calls hold reservations while the last reference
 * drops: each finds the region drained and cleans up what it acquired
 * with the close's release type.  The last to settle frees the region;
 * the others read the release type after it did. */
START_TEST(allocations_in_flight_when_the_last_reference_drops)
{
    for (int round = 0; round < 50; round++) {
        struct flight f;
        f.r = rgn_new();
        sem_init(&f.started, 0, 0);
        sem_init(&f.go, 0, 0);
        atomic_init(&f.runs, 0);
        atomic_init(&f.how_normal, 0);
        ck_assert_ptr_eq(rgn_share(f.r), f.r);
        ck_assert_int_eq(rgn_close(f.r), 0); /* one reference left */
        pthread_t t[IN_FLIGHT];
        for (int i = 0; i < IN_FLIGHT; i++)
            pthread_create(&t[i], NULL, allocate_in_flight, &f);
        for (int i = 0; i < IN_FLIGHT; i++)
            sem_wait(&f.started);
        ck_assert_int_eq(rgn_close(f.r), 0);
        for (int i = 0; i < IN_FLIGHT; i++)
            sem_post(&f.go);
        for (int i = 0; i < IN_FLIGHT; i++) {
            void *rc;
            pthread_join(t[i], &rc);
            ck_assert_int_eq((int)(intptr_t)rc, -ECANCELED);
        }
        ck_assert_int_eq(atomic_load(&f.runs), IN_FLIGHT);
        ck_assert_int_eq(atomic_load(&f.how_normal), IN_FLIGHT);
        sem_destroy(&f.started);
        sem_destroy(&f.go);
    }
}
END_TEST

/* ---- children ---------------------------------------------------------- */

static int close_region_and_fail(void *region, rgn_release_type how)
{
    (void)how;
    rgn_close(region);
    return -EIO;
}

/* The cleanup closes the parent, and with it the region the key was
 * released from: the release must not count the failure in it after
 * (AddressSanitizer: heap-use-after-free). */
START_TEST(release_whose_cleanup_closes_the_parent)
{
    rgn_t *p = rgn_new();
    rgn_t *c = rgn_new_child(p);
    struct probe older;
    probe_init(&older, 1);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &older, NULL), 0);
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(c, close_region_and_fail, p, &k), 0);
    ck_assert_int_eq(rgn_release(c, k), -EIO);
    ck_assert_int_eq(older.runs, 1); /* c closed with p */
}
END_TEST

struct tug {
    rgn_t *p;
    rgn_key_t k;
    pthread_barrier_t start;
    int moved, released;
    rgn_key_t moved_to;
};

static void *tug_move(void *arg)
{
    struct tug *t = arg;
    pthread_barrier_wait(&t->start);
    t->moved = rgn_move(t->p, t->k, t->p, &t->moved_to);
    return NULL;
}

static void *tug_release(void *arg)
{
    struct tug *t = arg;
    pthread_barrier_wait(&t->start);
    t->released = rgn_release(t->p, t->k);
    return NULL;
}

/* A move of a child's key and a release of the same key, on a shared
 * parent: exactly one wins, and the child is closed exactly once -- by
 * the release, or by its owner after the move.  The move used to touch
 * the child after letting go of the parent (heap-use-after-free). */
START_TEST(move_of_a_child_key_races_its_release)
{
    rgn_t *p = rgn_new();
    ck_assert_ptr_eq(rgn_share(p), p);
    for (int round = 0; round < 2000; round++) {
        struct tug t;
        rgn_t *c = rgn_new_child(p);
        ck_assert_ptr_nonnull(c);
        struct probe inside;
        probe_init(&inside, 1);
        ck_assert_int_eq(rgn_register(c, probe_cleanup, &inside, NULL), 0);
        t.p = p;
        t.k = rgn_child_key(c);
        pthread_barrier_init(&t.start, NULL, 2);
        pthread_t a, b;
        pthread_create(&a, NULL, tug_move, &t);
        pthread_create(&b, NULL, tug_release, &t);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        pthread_barrier_destroy(&t.start);
        ck_assert_msg((t.moved == 0) != (t.released == 0),
                      "move %d, release %d", t.moved, t.released);
        if (t.moved == 0) {
            ck_assert(rgn_key_equal(rgn_child_key(c), t.moved_to));
            ck_assert_int_eq(inside.runs, 0);
            ck_assert_int_eq(rgn_close(c), 0);
        }
        ck_assert_int_eq(inside.runs, 1);
    }
    ck_assert_uint_eq(rgn_live(p), 0);
    ck_assert_int_eq(rgn_close(p), 0);
    ck_assert_int_eq(rgn_close(p), 0);
}
END_TEST

/* ---- the model stress: closes against moves and clears --------------------
 *
 * The patterns that found deadlocks and lost children (issue 27): moves
 * between a parent and its child while the child's owner closes it, and
 * clears of a child racing its parent's close.  Each round checks that
 * every resource ran exactly once and every region was closed; the ones
 * that could hang run in a child process with an alarm.
 */

enum { STRESS_ROUNDS = 300, STRESS_MOVES = 400 };

struct tussle {
    rgn_t *p, *c;       /* a shared parent, and its child */
    rgn_t *p_ref;       /* the mover's reference to p */
    struct probe ball;  /* moved back and forth between them */
    struct probe stays; /* the child's own */
    atomic_int moving;
};

static void *moves_between_parent_and_child(void *arg)
{
    struct tussle *t = arg;
    rgn_key_t k;
    CHILD_REQUIRE(rgn_register(t->p, probe_cleanup, &t->ball, &k) == 0);
    atomic_store(&t->moving, 1);
    bool in_p = true;
    for (int i = 0; i < STRESS_MOVES; i++) {
        rgn_t *from = in_p ? t->p : t->c, *to = in_p ? t->c : t->p;
        CHILD_REQUIRE(rgn_move(from, k, to, &k) == 0);
        in_p = !in_p;
    }
    CHILD_REQUIRE(rgn_close(t->p_ref) == 0);
    return NULL;
}

static int mover_holds_the_child(rgn_t *c, void *arg)
{
    struct tussle *t = arg;
    t->c = c;
    moves_between_parent_and_child(t);
    return 0;
}

/* The close of a child locks it, then its parent; a move between the
 * two locked the lower id first -- the parent: each waited for the
 * other for ever. */
static void moves_against_closes(void)
{
    alarm(HANG_SECONDS);
    for (int round = 0; round < STRESS_ROUNDS; round++) {
        struct tussle t;
        probe_init(&t.ball, 1);
        probe_init(&t.stays, 2);
        atomic_init(&t.moving, 0);
        t.p = rgn_new();
        t.p_ref = rgn_share(t.p);
        rgn_t *c = rgn_new_child(t.p);
        CHILD_REQUIRE(c && t.p_ref);
        t.c = c;
        CHILD_REQUIRE(rgn_register(c, probe_cleanup, &t.stays, NULL) == 0);
        pthread_t th;
        CHILD_REQUIRE(rgn_thread_create(&th, NULL, c, mover_holds_the_child,
                                        &t) == 0);
        while (!atomic_load(&t.moving))
            sched_yield();
        CHILD_REQUIRE(rgn_close(c) == 0); /* leaves its parent */
        void *ret;
        pthread_join(th, &ret);
        CHILD_REQUIRE(ret == NULL);
        CHILD_REQUIRE(t.stays.runs == 1); /* the thread's end closed c */
        CHILD_REQUIRE(rgn_close(t.p) == 0);
        CHILD_REQUIRE(t.ball.runs == 1);
    }
}

START_TEST(moves_between_a_parent_and_its_child_during_closes)
{
    ck_assert_int_eq(in_child(moves_against_closes), 0);
}
END_TEST

struct race {
    rgn_t *p_ref; /* the other thread's reference to the parent */
    pthread_barrier_t go;
};

static void *closes_the_parent(void *arg)
{
    struct race *r = arg;
    pthread_barrier_wait(&r->go);
    ck_assert_int_eq(rgn_close(r->p_ref), 0);
    return NULL;
}

static int drops_the_parent(void *p, rgn_release_type how)
{
    (void)how;
    return rgn_close(p);
}

static int returns_at_once(rgn_t *r, void *arg)
{
    (void)r;
    (void)arg;
    return 0;
}

/* The child's owner clears it, and a cleanup of the clear lets go of its
 * reference to the parent, while another thread lets go of its own:
 * whichever is last closes the parent, and that close reaches the child
 * during the clear, or after it.  Refused during the clear, its drop
 * left the child open for good.  The child is audited, so its close
 * shows in the quarantine of closed regions; shared (by a thread that
 * ended at once), so that both threads may lock it. */
START_TEST(clears_race_their_parent_s_close)
{
    rgn_audit_forget_closed();
    for (int round = 0; round < STRESS_ROUNDS; round++) {
        struct race r;
        rgn_t *p = rgn_new();
        r.p_ref = rgn_share(p);
        rgn_t *c = rgn_new_child(p);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(rgn_audit_set(c, RGN_AUDIT_REPORT), 0);
        pthread_t t;
        ck_assert_int_eq(rgn_thread_create(&t, NULL, c, returns_at_once,
                                           NULL),
                         0);
        pthread_join(t, NULL);
        struct probe older, newer;
        probe_init(&older, 1);
        probe_init(&newer, 2);
        ck_assert_int_eq(rgn_register(c, probe_cleanup, &older, NULL), 0);
        ck_assert_int_eq(rgn_register(c, drops_the_parent, p, NULL), 0);
        ck_assert_int_eq(rgn_register(c, probe_cleanup, &newer, NULL), 0);
        pthread_barrier_init(&r.go, NULL, 2);
        ck_assert_int_eq(pthread_create(&t, NULL, closes_the_parent, &r), 0);
        pthread_barrier_wait(&r.go);
        ck_assert_int_eq(rgn_clear(c), 0); /* c may be gone after this */
        pthread_join(t, NULL);
        pthread_barrier_destroy(&r.go);
        ck_assert_int_eq(older.runs, 1);
        ck_assert_int_eq(newer.runs, 1);
        ck_assert_msg(rgn_audit_forget_closed() == 1,
                      "round %d: the child was never closed", round);
    }
}
END_TEST

/* ---- cancellation ---------------------------------------------------------- */

static atomic_int slow_cleanup_started;

/* Waits at an explicit cancellation point until cancelled.  (Not in a
 * sleep: ThreadSanitizer loses track of threads cancelled inside its
 * intercepted blocking calls.) */
static int cancelled_cleanup(void *res, rgn_release_type how)
{
    (void)res;
    (void)how;
    atomic_store(&slow_cleanup_started, 1);
    for (;;) {
        pthread_testcancel();
        sched_yield();
    }
    return 0;
}

struct cancel_close {
    struct probe older, newer;
    int closed;
};

static void *closes_its_region(void *arg)
{
    struct cancel_close *c = arg;
    rgn_t *r = rgn_new();
    rgn_register(r, probe_cleanup, &c->older, NULL);
    rgn_register(r, cancelled_cleanup, NULL, NULL);
    rgn_register(r, probe_cleanup, &c->newer, NULL);
    c->closed = rgn_close(r);
    return NULL;
}

/* A close cancelled inside one of its cleanups still runs the others: it
 * used to abandon them and leave the region closing for good. */
START_TEST(close_cancelled_inside_a_cleanup_runs_the_rest)
{
    log_reset();
    struct cancel_close c;
    probe_init(&c.older, 1);
    probe_init(&c.newer, 3);
    c.closed = 99;
    atomic_store(&slow_cleanup_started, 0);
    pthread_t t;
    pthread_create(&t, NULL, closes_its_region, &c);
    while (!atomic_load(&slow_cleanup_started))
        sched_yield();
    ck_assert_int_eq(pthread_cancel(t), 0);
    void *ret;
    pthread_join(t, &ret);
    ck_assert_ptr_eq(ret, PTHREAD_CANCELED);
    ck_assert_int_eq(c.closed, 99); /* rgn_close never returned */
    ck_assert_int_eq(c.newer.runs, 1);
    ck_assert_int_eq(c.older.runs, 1);
    ASSERT_LOG(3, 1);
}
END_TEST

static int body_cancelled_inside(rgn_t *r, void *probe)
{
    rgn_register(r, probe_cleanup, probe, NULL);
    atomic_store(&slow_cleanup_started, 1);
    for (;;) {
        pthread_testcancel();
        sched_yield();
    }
    return 0;
}

static void *runs_a_scope(void *probe)
{
    rgn_with(body_cancelled_inside, probe);
    return NULL;
}

/* resourcet's runResourceT closes its scope on any exception: a thread
 * cancelled inside rgn_with's body left the scope open, its cleanups
 * never run (0 of 1) and the region lost. */
START_TEST(scope_of_a_body_cancelled_inside_rgn_with_is_closed)
{
    struct probe p;
    probe_init(&p, 1);
    atomic_store(&slow_cleanup_started, 0);
    pthread_t t;
    pthread_create(&t, NULL, runs_a_scope, &p);
    while (!atomic_load(&slow_cleanup_started))
        sched_yield();
    ck_assert_int_eq(pthread_cancel(t), 0);
    void *ret;
    pthread_join(t, &ret);
    ck_assert_ptr_eq(ret, PTHREAD_CANCELED);
    ck_assert_int_eq(p.runs, 1);
    ck_assert_int_eq(p.how, RGN_RELEASE_ERROR);
}
END_TEST

enum { FINAL_CLEANUPS = 5 };
static atomic_int final_runs;

/* A cleanup with a cancellation point in it, as close() is. */
static int reaches_a_cancellation_point(void *res, rgn_release_type how)
{
    (void)res;
    (void)how;
    pthread_testcancel();
    atomic_fetch_add(&final_runs, 1);
    return 0;
}

static sem_t main_closed;

static int registers_then_is_cancelled(rgn_t *r, void *arg)
{
    (void)arg;
    sem_wait(&main_closed); /* so that this thread's close is the last */
    for (int i = 0; i < FINAL_CLEANUPS; i++)
        rgn_register(r, reaches_a_cancellation_point, NULL, NULL);
    pthread_cancel(pthread_self()); /* pending: fn has no point after */
    return 0;
}

/* The thread's final close runs with cancellation disabled: all five
 * cleanups ran (none did: the first one's cancellation point ended it). */
START_TEST(thread_cancelled_after_its_function_still_closes)
{
    atomic_store(&final_runs, 0);
    sem_init(&main_closed, 0, 0);
    rgn_t *r = rgn_new();
    pthread_t t;
    ck_assert_int_eq(rgn_thread_create(&t, NULL, r,
                                       registers_then_is_cancelled, NULL),
                     0);
    ck_assert_int_eq(rgn_close(r), 0);
    sem_post(&main_closed);
    void *ret;
    pthread_join(t, &ret);
    ck_assert_ptr_eq(ret, (void *)0);
    ck_assert_int_eq(atomic_load(&final_runs), FINAL_CLEANUPS);
}
END_TEST

static atomic_int sink_waiting;

/* A sink that reaches a cancellation point while its thread is
 * cancelled: the report goes on, and its locks are let go. */
static void sink_with_a_cancellation_point(const char *line, void *arg)
{
    (void)line;
    (void)arg;
    atomic_store(&sink_waiting, 1);
    for (int i = 0; i < 1000; i++) {
        pthread_testcancel();
        sched_yield();
    }
    atomic_fetch_add(&sink_lines, 1);
}

static void *dumps_then_exits(void *r)
{
    rgn_audit_dump(r, NULL, NULL);
    for (;;)
        pthread_testcancel();
    return NULL;
}

static void cancelled_report(void)
{
    alarm(HANG_SECONDS);
    rgn_audit_set_sink(sink_with_a_cancellation_point, NULL);
    rgn_t *r = rgn_new();
    rgn_audit_set(r, RGN_AUDIT_REPORT);
    rgn_register(r, noop_cleanup, NULL, NULL);
    CHILD_REQUIRE(rgn_share(r) == r);
    pthread_t t;
    pthread_create(&t, NULL, dumps_then_exits, r);
    while (!atomic_load(&sink_waiting))
        sched_yield();
    pthread_cancel(t);
    void *ret;
    pthread_join(t, &ret);
    CHILD_REQUIRE(ret == PTHREAD_CANCELED);
    CHILD_REQUIRE(atomic_load(&sink_lines) == 2); /* the whole dump */
    rgn_audit_set_sink(counting_sink, NULL);
    /* Neither the region nor the sink was left locked. */
    CHILD_REQUIRE(rgn_audit_dump(r, NULL, NULL) == 1);
    CHILD_REQUIRE(rgn_close(r) == 0);
    CHILD_REQUIRE(rgn_close_error(r) == 0);
}

START_TEST(report_cancelled_in_its_sink_finishes_and_unlocks)
{
    ck_assert_int_eq(in_child(cancelled_report), 0);
}
END_TEST

/* ---- exit and fork -------------------------------------------------------- */

static void sink_that_exits(const char *line, void *arg)
{
    (void)line;
    (void)arg;
    static int exiting;
    if (!exiting) {
        exiting = 1;
        exit(3);
    }
}

/* exit() from the sink runs the exit report, which writes to the sink
 * again: the sink lock must let the same thread in. */
static void sink_calls_exit(void)
{
    alarm(HANG_SECONDS);
    rgn_audit_set_sink(sink_that_exits, NULL);
    rgn_t *held = rgn_new(); /* for the exit report */
    rgn_audit_set(held, RGN_AUDIT_REPORT);
    rgn_register(held, noop_cleanup, NULL, NULL);
    rgn_t *r = rgn_new();
    rgn_audit_set(r, RGN_AUDIT_REPORT);
    rgn_register(r, noop_cleanup, NULL, NULL);
    rgn_close(r);
    child_fail(__FILE__, __LINE__, "the sink did not exit");
}

START_TEST(sink_that_calls_exit_does_not_hang)
{
    ck_assert_int_eq(in_child(sink_calls_exit), 3);
}
END_TEST

static atomic_int nested_lines, sink_forks_ok, sink_reads_ok;
static bool in_busy_sink, busy_sink_done;

/* A sink that does everything rgn(7) says a sink may do, the first time
 * it is called; the reports that makes come back to it, nested. */
static void busy_sink(const char *line, void *arg)
{
    (void)line;
    (void)arg;
    if (in_busy_sink) {
        atomic_fetch_add(&nested_lines, 1);
        return;
    }
    if (busy_sink_done)
        return;
    in_busy_sink = busy_sink_done = true;
    rgn_t *r = rgn_new();
    CHILD_REQUIRE(r && rgn_audit_set(r, RGN_AUDIT_REPORT) == 0);
    CHILD_REQUIRE(rgn_register(r, noop_cleanup, NULL, NULL) == 0);
    CHILD_REQUIRE(rgn_close(r) == 0); /* reports a leak: to this sink */
    FILE *devnull = fopen("/dev/null", "w");
    CHILD_REQUIRE(devnull != NULL);
    long open = rgn_audit_report_open();
    int series = rgn_metrics_write(devnull);
    if (open >= 1 && series >= 1)
        atomic_fetch_add(&sink_reads_ok, 1);
    fclose(devnull);
    rgn_audit_set_sink(busy_sink, NULL);
    pid_t pid = fork();
    CHILD_REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(HANG_SECONDS);
        rgn_t *c = rgn_new();
        if (!c || rgn_audit_set(c, RGN_AUDIT_REPORT) != 0 ||
            rgn_register(c, noop_cleanup, NULL, NULL) != 0 ||
            rgn_close(c) != 0)
            _exit(1);
        _exit(0);
    }
    int status;
    CHILD_REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        atomic_fetch_add(&sink_forks_ok, 1);
    in_busy_sink = false;
}

static void sink_calls_rgn(void)
{
    alarm(HANG_SECONDS);
    rgn_audit_set_sink(busy_sink, NULL);
    rgn_t *held = rgn_new(); /* for the sink's readers to find */
    CHILD_REQUIRE(rgn_set_name(held, "held") == 0);
    CHILD_REQUIRE(rgn_audit_set(held, RGN_AUDIT_REPORT) == 0);
    CHILD_REQUIRE(rgn_register(held, noop_cleanup, NULL, NULL) == 0);
    CHILD_REQUIRE(rgn_audit_dump(held, NULL, NULL) == 1); /* to the sink */
    CHILD_REQUIRE(atomic_load(&sink_reads_ok) == 1);
    CHILD_REQUIRE(atomic_load(&sink_forks_ok) == 1);
    /* The sink's own close reported, and so did its report_open. */
    CHILD_REQUIRE(atomic_load(&nested_lines) >= 3);
    CHILD_REQUIRE(rgn_close_error(held) == 0);
}

/* The sink runs under the sink's lock alone, which lets its thread back
 * in: it may make and close regions, report again, read the registry,
 * set the sink and fork (the fork handlers take the sink's lock too). */
START_TEST(sink_that_calls_rgn_and_forks_does_not_hang)
{
    ck_assert_int_eq(in_child(sink_calls_rgn), 0);
}
END_TEST

static sem_t lock_held, may_let_go;
static atomic_bool hold_next_malloc;

static void *holding_malloc(size_t n)
{
    if (atomic_exchange(&hold_next_malloc, false)) {
        sem_post(&lock_held);
        sem_wait(&may_let_go);
    }
    return malloc(n);
}

static void *grow_holding_the_lock(void *r)
{
    atomic_store(&hold_next_malloc, true);
    rgn_register(r, noop_cleanup, NULL, NULL); /* grows, under the lock */
    return NULL;
}

/* fork() while another thread holds a region's lock: the forked child's
 * first call on the region takes the abandoned lock over (it hung). */
static void fork_while_locked(void)
{
    alarm(HANG_SECONDS);
    static const rgn_allocator a = {holding_malloc, realloc, free};
    CHILD_REQUIRE(rgn_set_allocator(&a) == 0);
    sem_init(&lock_held, 0, 0);
    sem_init(&may_let_go, 0, 0);
    rgn_t *r = rgn_new();
    for (int i = 0; i < 7; i++)
        rgn_register(r, noop_cleanup, NULL, NULL);
    CHILD_REQUIRE(rgn_share(r) == r);
    pthread_t t;
    pthread_create(&t, NULL, grow_holding_the_lock, r);
    sem_wait(&lock_held);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(HANG_SECONDS);
        struct probe p;
        probe_init(&p, 1);
        if (rgn_register(r, probe_cleanup, &p, NULL) != 0)
            _exit(1);
        if (rgn_close(r) != 0 || rgn_close_error(r) != 0 || p.runs != 1)
            _exit(2);
        _exit(0);
    }
    int status;
    CHILD_REQUIRE(waitpid(pid, &status, 0) == pid);
    sem_post(&may_let_go);
    pthread_join(t, NULL);
    CHILD_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHILD_REQUIRE(rgn_live(r) == 8);
    CHILD_REQUIRE(rgn_close(r) == 0);
    CHILD_REQUIRE(rgn_close(r) == 0);
}

START_TEST(forked_child_takes_over_a_lock_held_at_fork)
{
    ck_assert_int_eq(in_child(fork_while_locked), 0);
}
END_TEST

enum { SETUP_FORKS = 50 };
static atomic_bool setting_done;

/* A program still choosing its allocator: no region yet, so each call
 * takes the allocator's setting mutex and lets it go. */
static void *keeps_setting_the_allocator(void *arg)
{
    (void)arg;
    bool yield = under_valgrind(); /* or the forking thread barely runs */
    while (!atomic_load(&setting_done)) {
        CHILD_REQUIRE(rgn_set_allocator(NULL) == 0);
        if (yield)
            sched_yield();
    }
    return NULL;
}

/* fork() while another thread sets the allocator: the setting mutex is
 * held at many of these forks, and a child whose first rgn_new found it
 * held waited for ever -- the fork handlers did not take it. */
static void fork_during_allocator_setup(void)
{
    alarm(HANG_SECONDS);
    atomic_store(&setting_done, false);
    pthread_t t;
    CHILD_REQUIRE(pthread_create(&t, NULL, keeps_setting_the_allocator,
                                 NULL) == 0);
    for (int i = 0; i < SETUP_FORKS; i++) {
        pid_t pid = fork();
        CHILD_REQUIRE(pid >= 0);
        if (pid == 0) {
            alarm(HANG_SECONDS);
            rgn_t *r = rgn_new(); /* freezes the allocator: its mutex */
            if (!r || rgn_register(r, noop_cleanup, NULL, NULL) != 0 ||
                rgn_close(r) != 0)
                _exit(1);
            _exit(rgn_set_allocator(NULL) == -EBUSY ? 0 : 2);
        }
        int status;
        CHILD_REQUIRE(waitpid(pid, &status, 0) == pid);
        CHILD_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    atomic_store(&setting_done, true);
    pthread_join(t, NULL);
}

START_TEST(fork_while_another_thread_sets_the_allocator)
{
    ck_assert_int_eq(in_child(fork_during_allocator_setup), 0);
}
END_TEST

/* Runs in a child, as a pre-forking server's master: a region held open
 * with a leak, then two workers that exit.  The first leaves the master's
 * region alone and must exit 0 (it died of SIGABRT, reporting the
 * master's region as never closed); the second leaks a region of its own
 * and must report it. */
static int worker(bool leak_own)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (leak_own) {
            rgn_t *mine = rgn_new();
            rgn_register(mine, noop_cleanup, NULL, NULL);
        }
        exit(0); /* runs the exit report */
    }
    int status;
    waitpid(pid, &status, 0);
    return status;
}

static void pre_forking_master(void)
{
    alarm(HANG_SECONDS);
    rgn_audit_set_sink(counting_sink, NULL);
    rgn_audit_set_default(RGN_AUDIT_ABORT);
    rgn_t *master = rgn_new();
    rgn_register(master, noop_cleanup, NULL, NULL);
    int status = worker(false);
    CHILD_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    status = worker(true);
    CHILD_REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHILD_REQUIRE(rgn_audit_report_open() == 1); /* the master's own */
    CHILD_REQUIRE(rgn_close_error(master) == 0);
}

START_TEST(forked_child_reports_only_its_own_regions_at_exit)
{
    ck_assert_int_eq(in_child(pre_forking_master), 0);
}
END_TEST

Suite *threads_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *t = tcase_create("readers");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, readers_race_owners_of_unshared_regions);
    tcase_add_test(t, readers_race_lean_calls_of_a_sampled_region);
    tcase_add_test(t, report_open_and_closing_reports_do_not_deadlock);
    tcase_add_test(t, audit_turned_on_after_sharing_while_readers_run);
#ifdef MEMBARRIER_FILTER
    tcase_add_test(t, membarrier_failing_after_start_up);
#endif
    tcase_add_test(t, audit_turned_on_while_an_allocate_is_in_flight);
    tcase_add_test(t, allocations_in_flight_when_the_last_reference_drops);
    tcase_add_test(t, release_whose_cleanup_closes_the_parent);
    tcase_add_test(t, move_of_a_child_key_races_its_release);
    suite_add_tcase(s, t);

    t = tcase_create("stress");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_set_timeout(t, 240);
    tcase_add_test(t, moves_between_a_parent_and_its_child_during_closes);
    tcase_add_test(t, clears_race_their_parent_s_close);
    suite_add_tcase(s, t);

    t = tcase_create("cancellation");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, close_cancelled_inside_a_cleanup_runs_the_rest);
    tcase_add_test(t, scope_of_a_body_cancelled_inside_rgn_with_is_closed);
    tcase_add_test(t, thread_cancelled_after_its_function_still_closes);
    tcase_add_test(t, report_cancelled_in_its_sink_finishes_and_unlocks);
    suite_add_tcase(s, t);

    t = tcase_create("exit and fork");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, sink_that_calls_exit_does_not_hang);
    tcase_add_test(t, sink_that_calls_rgn_and_forks_does_not_hang);
    tcase_add_test(t, forked_child_takes_over_a_lock_held_at_fork);
    tcase_add_test(t, fork_while_another_thread_sets_the_allocator);
    tcase_add_test(t, forked_child_reports_only_its_own_regions_at_exit);
    suite_add_tcase(s, t);
    return s;
}

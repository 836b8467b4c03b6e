/* SPDX-License-Identifier: MIT */
/*
 * check_alloc.c -- rgn_set_allocator: every byte goes through it, it can
 * only be set before the first region, and any allocation may fail without
 * losing a resource or changing a region.  Each test runs in its own
 * child process, because the allocator is fixed once a region exists.
 */
#include "helpers.h"
#include "suites.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a counting allocator that can be told to fail -------------------- */

static size_t bytes_now, bytes_peak, calls;
static long fail_at = -1; /* fail the call with this number (1-based) */

/* Each block's header; the live ones are listed, so that what rgn keeps
 * for good (the names the metrics keep) is reachable from a pointer to
 * its start, as valgrind wants, and not "possibly lost". */
struct hdr {
    size_t size;
    struct hdr *prev, *next;
    size_t pad; /* 16-byte alignment, as malloc's */
};
static struct hdr live_blocks = {0, &live_blocks, &live_blocks, 0};

static void link_block(struct hdr *h)
{
    h->next = live_blocks.next;
    h->prev = &live_blocks;
    live_blocks.next->prev = h;
    live_blocks.next = h;
}

static void unlink_block(struct hdr *h)
{
    h->prev->next = h->next;
    h->next->prev = h->prev;
}

static void *count_malloc(size_t n)
{
    if (++calls == (size_t)fail_at)
        return NULL;
    struct hdr *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->size = n;
    link_block(h);
    bytes_now += n;
    if (bytes_now > bytes_peak)
        bytes_peak = bytes_now;
    return h + 1;
}

static void count_free(void *p)
{
    if (!p)
        return;
    struct hdr *h = (struct hdr *)p - 1;
    bytes_now -= h->size;
    unlink_block(h);
    free(h);
}

static void *count_realloc(void *p, size_t n)
{
    if (!p)
        return count_malloc(n);
    if (++calls == (size_t)fail_at)
        return NULL;
    struct hdr *old = (struct hdr *)p - 1;
    size_t was = old->size;
    unlink_block(old);
    struct hdr *h = realloc(old, sizeof *h + n);
    if (!h) {
        link_block(old);
        return NULL;
    }
    h->size = n;
    link_block(h);
    bytes_now = bytes_now - was + n;
    if (bytes_now > bytes_peak)
        bytes_peak = bytes_now;
    return h + 1;
}

static const rgn_allocator counting = {count_malloc, count_realloc, count_free};

#define RUN_IN_CHILD(fn) ck_assert_int_eq(in_child(fn), 0)

/* ---- setting it ----------------------------------------------------------- */

static void set_before_first_region(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    struct probe p[40];
    rgn_t *r = rgn_new();
    CHILD_REQUIRE(r && calls == 1);
    for (int i = 0; i < 40; i++) {
        probe_init(&p[i], i);
        CHILD_REQUIRE(rgn_register(r, probe_cleanup, &p[i], NULL) == 0);
    }
    CHILD_REQUIRE(calls > 1); /* a block beyond the inline slots */
    CHILD_REQUIRE(bytes_now > 0);
    CHILD_REQUIRE(rgn_close(r) == 0);
    rgn_trim(); /* what the thread keeps for reuse */
    CHILD_REQUIRE(bytes_now == 0); /* everything went back */
}

START_TEST(every_byte_goes_through_the_allocator)
{
    RUN_IN_CHILD(set_before_first_region);
}
END_TEST

static void set_after_first_region(void)
{
    rgn_t *r = rgn_new();
    CHILD_REQUIRE(rgn_set_allocator(&counting) == -EBUSY);
    CHILD_REQUIRE(rgn_set_allocator(NULL) == -EBUSY);
    CHILD_REQUIRE(rgn_close(r) == 0);
    CHILD_REQUIRE(calls == 0); /* the change was refused */
    rgn_t *s = rgn_new();
    CHILD_REQUIRE(calls == 0);
    rgn_close(s);
}

START_TEST(allocator_is_fixed_once_a_region_exists)
{
    RUN_IN_CHILD(set_after_first_region);
}
END_TEST

static void set_incomplete(void)
{
    rgn_allocator bad = counting;
    bad.realloc = NULL;
    CHILD_REQUIRE(rgn_set_allocator(&bad) == -EINVAL);
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    CHILD_REQUIRE(rgn_set_allocator(NULL) == 0); /* libc's again */
    rgn_t *r = rgn_new();
    CHILD_REQUIRE(r && calls == 0);
    rgn_close(r);
}

START_TEST(incomplete_allocator_is_einval_and_null_restores_libc)
{
    RUN_IN_CHILD(set_incomplete);
}
END_TEST

/* ---- failures ------------------------------------------------------------- */

static void new_fails(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    fail_at = 1;
    errno = 0;
    CHILD_REQUIRE(rgn_new() == NULL);
    CHILD_REQUIRE(errno == ENOMEM);
    rgn_t *r = rgn_new(); /* the next call succeeds */
    CHILD_REQUIRE(r != NULL);
    fail_at = (long)calls + 1;
    errno = 0;
    CHILD_REQUIRE(rgn_new_child(r) == NULL);
    CHILD_REQUIRE(errno == ENOMEM);
    CHILD_REQUIRE(rgn_live(r) == 0);
    CHILD_REQUIRE(rgn_close(r) == 0);
    rgn_trim(); /* what the thread keeps for reuse */
    CHILD_REQUIRE(bytes_now == 0);
}

START_TEST(constructors_fail_with_enomem)
{
    RUN_IN_CHILD(new_fails);
}
END_TEST

static void register_fails_when_growing(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    struct probe p[9];
    rgn_t *r = rgn_new();
    for (int i = 0; i < 9; i++)
        probe_init(&p[i], i + 1);
    for (int i = 0; i < 7; i++) /* the inline slots */
        CHILD_REQUIRE(rgn_register(r, probe_cleanup, &p[i], NULL) == 0);
    CHILD_REQUIRE(calls == 1);
    fail_at = (long)calls + 1;
    rgn_key_t k = {1, 1, 1};
    CHILD_REQUIRE(rgn_register(r, probe_cleanup, &p[7], &k) == -ENOMEM);
    CHILD_REQUIRE(p[7].runs == 1 && p[7].how == RGN_RELEASE_ERROR);
    CHILD_REQUIRE(rgn_key_is_none(k));
    CHILD_REQUIRE(rgn_live(r) == 7);
    /* Memory back: the same growth succeeds, and the region works on. */
    fail_at = -1;
    CHILD_REQUIRE(rgn_register(r, probe_cleanup, &p[8], &k) == 0);
    CHILD_REQUIRE(rgn_live(r) == 8);
    log_reset();
    CHILD_REQUIRE(rgn_close(r) == 0);
    CHILD_REQUIRE(run_count == 8 && run_log[0] == 9);
    for (int i = 0; i < 7; i++)
        CHILD_REQUIRE(run_log[i + 1] == 7 - i && p[i].runs == 1);
    rgn_trim(); /* what the thread keeps for reuse */
    CHILD_REQUIRE(bytes_now == 0);
}

START_TEST(register_that_cannot_grow_cleans_up_and_keeps_the_region)
{
    RUN_IN_CHILD(register_fails_when_growing);
}
END_TEST

static int acquired;

static int acquire_count(void *arg, void **out)
{
    acquired++;
    *out = arg;
    return 0;
}

static void allocate_and_move_fail_cleanly(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    struct probe p[16];
    rgn_t *a = rgn_new(), *b = rgn_new();
    rgn_key_t k[16];
    for (int i = 0; i < 16; i++)
        probe_init(&p[i], i + 1);
    for (int i = 0; i < 7; i++) {
        CHILD_REQUIRE(rgn_register(a, probe_cleanup, &p[i], &k[i]) == 0);
        CHILD_REQUIRE(rgn_register(b, probe_cleanup, &p[8 + i], NULL) == 0);
    }
    fail_at = (long)calls + 1;
    CHILD_REQUIRE(rgn_allocate(a, acquire_count, &p[7], probe_cleanup, NULL,
                               NULL) == -ENOMEM);
    CHILD_REQUIRE(acquired == 0 && p[7].runs == 0 && rgn_live(a) == 7);
    /* b is full too: a move into it needs a block and fails. */
    fail_at = (long)calls + 1;
    rgn_key_t nk = {5, 5, 5};
    CHILD_REQUIRE(rgn_move(a, k[3], b, &nk) == -ENOMEM);
    CHILD_REQUIRE(nk.slot == 5);
    CHILD_REQUIRE(rgn_live(a) == 7 && rgn_live(b) == 7);
    CHILD_REQUIRE(rgn_release(a, k[3]) == 0); /* still in a */
    CHILD_REQUIRE(p[3].how == RGN_RELEASE_EARLY);
    CHILD_REQUIRE(rgn_close(a) == 0 && rgn_close(b) == 0);
    for (int i = 0; i < 15; i++)
        CHILD_REQUIRE(p[i].runs == (i == 7 ? 0 : 1));
    rgn_trim(); /* what the thread keeps for reuse */
    CHILD_REQUIRE(bytes_now == 0);
}

START_TEST(allocate_and_move_fail_before_changing_anything)
{
    RUN_IN_CHILD(allocate_and_move_fail_cleanly);
}
END_TEST

/*
 * Fails the k-th allocation of a scenario using the core calls, for every
 * k until the scenario runs without reaching k.  Whichever call failed,
 * every probe handed to rgn must have run exactly once by the end, and no
 * byte may be left allocated.
 */
enum { SWEEP_N = 600 };
static struct probe sweep_p[SWEEP_N];

/* Returns how many probes were handed to rgn. */
static int sweep_scenario(void)
{
    for (int i = 0; i < SWEEP_N; i++)
        probe_init(&sweep_p[i], i);
    rgn_t *a = rgn_new();
    rgn_t *b = rgn_new();
    if (!a || !b) {
        CHILD_REQUIRE(errno == ENOMEM);
        if (a)
            CHILD_REQUIRE(rgn_close(a) == 0);
        if (b)
            CHILD_REQUIRE(rgn_close(b) == 0);
        return 0;
    }
    rgn_t *c = rgn_new_child(a);
    CHILD_REQUIRE(c || errno == ENOMEM);
    rgn_key_t k[SWEEP_N];
    for (int i = 0; i < SWEEP_N; i++) {
        rgn_t *into = (i % 3 == 0 && c) ? c : a;
        int rc = rgn_register(into, probe_cleanup, &sweep_p[i], &k[i]);
        CHILD_REQUIRE(rc == 0 || rc == -ENOMEM);
        CHILD_REQUIRE(rc == 0 || sweep_p[i].runs == 1);
    }
    for (int i = 1; i < SWEEP_N; i += 2) {
        size_t before_a = rgn_live(a), before_b = rgn_live(b);
        int rc = rgn_move(a, k[i], b, &k[i]);
        CHILD_REQUIRE(rc == 0 || rc == -ENOMEM || rc == -ENOENT);
        if (rc) /* a failed move changes nothing */
            CHILD_REQUIRE(rgn_live(a) == before_a && rgn_live(b) == before_b);
    }
    CHILD_REQUIRE(rgn_close(a) == 0);
    CHILD_REQUIRE(rgn_close(b) == 0);
    return SWEEP_N;
}

static void sweep(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    for (long k = 1;; k++) {
        calls = 0;
        fail_at = k;
        int handed = sweep_scenario();
        rgn_trim(); /* what the thread keeps for reuse */
        CHILD_REQUIRE(bytes_now == 0);
        for (int i = 0; i < SWEEP_N; i++)
            CHILD_REQUIRE(sweep_p[i].runs == (i < handed ? 1 : 0));
        if ((long)calls < k)
            break; /* the scenario no longer reaches allocation k */
        CHILD_REQUIRE(k < 1000);
    }
}

START_TEST(failing_each_allocation_in_turn_loses_nothing)
{
    RUN_IN_CHILD(sweep);
}
END_TEST

/*
 * The same discipline over every other public call: the audit (records,
 * labels, names, limits, dumps), statistics, rgn_allocate, rgn_unprotect,
 * sharing and threads, the ready-made resources, and both kinds of close.
 */
enum { WIDE_N = 40 };
static struct probe wide_p[WIDE_N];
static bool wide_handed[WIDE_N]; /* given to rgn: must run once */
static int acquired, acquire_calls;

static int acquire_probe(void *arg, void **out)
{
    acquire_calls++;
    *out = arg;
    acquired++;
    return 0;
}

static void discard_line(const char *line, void *arg)
{
    (void)line;
    (void)arg;
}

static int thread_body(rgn_t *r, void *arg)
{
    return rgn_register(r, probe_cleanup, arg, NULL) == 0 ? 0 : 1;
}

static int with_body(rgn_t *r, void *arg)
{
    (void)arg;
    return rgn_strdup(r, "scoped") ? 0 : -ENOMEM;
}

#define ENOMEM_OR_OK(expr)                                                \
    do {                                                                  \
        int rc_ = (expr);                                                 \
        CHILD_REQUIRE(rc_ == 0 || rc_ == -ENOMEM);                        \
    } while (0)

static struct probe forget_p, forget_q;
static int forget_hooks;

static int count_hook(void *res)
{
    (void)res;
    forget_hooks++;
    return 0;
}

static const struct rgn_kind hooked_kind = {
    .name = "hooked", .cleanup = probe_cleanup, .before_exec = count_hook};

/* A region forgotten, as a forked child would: its hooks run, no
 * cleanup, and every byte it had goes back, its blocks' and arena's
 * too. */
static void wide_forget(void)
{
    probe_init(&forget_p, 1);
    probe_init(&forget_q, 2);
    forget_hooks = 0;
    rgn_t *f = rgn_new();
    CHILD_REQUIRE(f || errno == ENOMEM);
    if (f) {
        int hooked = rgn_register_kind(f, &hooked_kind, &forget_p, NULL);
        ENOMEM_OR_OK(hooked);
        rgn_t *fc = rgn_new_child(f);
        CHILD_REQUIRE(fc || errno == ENOMEM);
        int plain = fc ? rgn_register(fc, probe_cleanup, &forget_q, NULL) : 1;
        /* rgn's own memory goes with the regions. */
        CHILD_REQUIRE(rgn_strdup(f, "forgotten") || errno == ENOMEM);
        CHILD_REQUIRE(!fc || rgn_malloc(fc, 100) || errno == ENOMEM);
        CHILD_REQUIRE(!fc || rgn_alloc(fc, 3000) || errno == ENOMEM);
        CHILD_REQUIRE(rgn_forget_for_exec(f) == 0);
        CHILD_REQUIRE(forget_p.runs == (hooked != 0));
        CHILD_REQUIRE(forget_hooks == (hooked == 0));
        CHILD_REQUIRE(forget_q.runs == (plain < 0));
    }
}

/*
 * The ready-made resources of lib/ready.c: a registration that fails
 * gives each resource back -- no file, mapping,
 * descriptor, child process, library, lock or buffer is left -- and
 * what succeeded goes at the scenario's close.  What the scenario leaves
 * is checked after it (wide_sweep).
 */
static char wide_file[256], wide_dir[256];
static bool wide_dir_made;
static char *wide_buffer;
static pthread_mutex_t wide_mutex = PTHREAD_MUTEX_INITIALIZER;
/* Whether any mapping of the process covers p, from /proc/self/maps
 * (a system call on an unmapped address is an error to valgrind). */
static bool mapped(const void *p)
{
    FILE *f = fopen("/proc/self/maps", "re");
    CHILD_REQUIRE(f != NULL);
    uintptr_t a = (uintptr_t)p, lo, hi;
    bool found = false;
    char line[512];
    while (!found && fgets(line, sizeof line, f))
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2)
            found = lo <= a && a < hi;
    fclose(f);
    return found;
}

/* tests/ready_module.c, built beside the tests (NULL if it is not). */
static const char *sweep_module(void)
{
    static char path[4096];
    const char *b = getenv("top_builddir");
    snprintf(path, sizeof path, "%s/tests/.libs/ready_module.so",
             b ? b : ".");
    return access(path, R_OK) == 0 ? path : NULL;
}

/* A child of r that keeps records, so that a registration in it
 * allocates (its records) and can fail; r itself when memory ran out. */
static rgn_t *fresh(rgn_t *r)
{
    rgn_t *c = rgn_new_child(r);
    if (!c)
        return r;
    ENOMEM_OR_OK(rgn_audit_set(c, RGN_AUDIT_REPORT));
    return c;
}

static void wide_ready(rgn_t *r)
{
    const char *dir = getenv("TMPDIR");
    dir = dir && *dir ? dir : "/tmp";
    snprintf(wide_file, sizeof wide_file, "%s/rgn-sweep.XXXXXX", dir);
    int fd = rgn_mkstemp(fresh(r), wide_file, 0, NULL);
    CHILD_REQUIRE(fd >= 0 || fd == -ENOMEM);
    CHILD_REQUIRE(fd >= 0 || access(wide_file, F_OK) != 0);
    snprintf(wide_dir, sizeof wide_dir, "%s/rgn-sweep-dir.XXXXXX", dir);
    /* Kept at close, but not when it could not be registered. */
    char *d = rgn_mkdtemp(fresh(r), wide_dir, RGN_TMP_KEEP, NULL);
    CHILD_REQUIRE(d || errno == ENOMEM);
    CHILD_REQUIRE(d || access(wide_dir, F_OK) != 0);
    wide_dir_made = d != NULL;

    /* Where the kernel takes the hint, the mapping lands at a spot seen
     * free just before, which a failure leaves unmapped again. */
    long pg = sysconf(_SC_PAGESIZE);
    void *spot = mmap(NULL, (size_t)pg, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHILD_REQUIRE(spot != MAP_FAILED && munmap(spot, (size_t)pg) == 0);
    void *m = rgn_mmap(fresh(r), spot, (size_t)pg, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, NULL);
    CHILD_REQUIRE(m || errno == ENOMEM);
    if (!m)
        CHILD_REQUIRE(!mapped(spot));

    static char *argv[] = {(char *)"true", NULL};
    pid_t pid = rgn_spawn(fresh(r), "/bin/true", argv, NULL, NULL, NULL, 0, NULL);
    CHILD_REQUIRE(pid > 0 || pid == -ENOMEM);
    if (pid < 0) /* ended and reaped at once */
        CHILD_REQUIRE(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);

    int s = rgn_socket(fresh(r), AF_UNIX, SOCK_STREAM, 0, NULL);
    CHILD_REQUIRE(s >= 0 || s == -ENOMEM);
    DIR *dd = rgn_opendir(fresh(r), "/", NULL);
    CHILD_REQUIRE(dd || errno == ENOMEM);
    const char *module = sweep_module();
    if (module) {
        void *h = rgn_dlopen(fresh(r), module, RTLD_NOW, NULL);
        CHILD_REQUIRE(h || errno == ENOMEM);
        if (!h)
            CHILD_REQUIRE(dlopen(module, RTLD_NOW | RTLD_NOLOAD) == NULL);
    }
    rgn_key_t k;
    rgn_t *g = fresh(r);
    int rc = rgn_mutex_lock(g, &wide_mutex, &k);
    ENOMEM_OR_OK(rc);
    if (rc == 0)
        CHILD_REQUIRE(rgn_release(g, k) == 0);
    CHILD_REQUIRE(pthread_mutex_trylock(&wide_mutex) == 0);
    pthread_mutex_unlock(&wide_mutex);
    wide_buffer = malloc(32);
    rc = rgn_adopt_buffer(fresh(r), &wide_buffer, NULL);
    ENOMEM_OR_OK(rc);
    if (rc)
        CHILD_REQUIRE(wide_buffer == NULL);

}

/* What wide_ready left is gone with the scenario's close. */
static void wide_ready_gone(int fd_before)
{
    CHILD_REQUIRE(access(wide_file, F_OK) != 0);
    if (wide_dir_made)
        CHILD_REQUIRE(rmdir(wide_dir) == 0);
    wide_dir_made = false;
    CHILD_REQUIRE(wide_buffer == NULL);
    CHILD_REQUIRE(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
    const char *module = sweep_module();
    if (module)
        CHILD_REQUIRE(dlopen(module, RTLD_NOW | RTLD_NOLOAD) == NULL);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHILD_REQUIRE(fd == fd_before); /* no descriptor left open */
    close(fd);
}

static void wide_scenario(void)
{
    for (int i = 0; i < WIDE_N; i++) {
        probe_init(&wide_p[i], i);
        wide_handed[i] = false;
    }
    acquired = acquire_calls = 0;
    rgn_t *r = rgn_new();
    if (!r) {
        CHILD_REQUIRE(errno == ENOMEM);
        return;
    }
    int rc = rgn_audit_set(r, RGN_AUDIT_REPORT);
    ENOMEM_OR_OK(rc);
    ENOMEM_OR_OK(rgn_set_name(r, "wide"));
    ENOMEM_OR_OK(rgn_audit_limit(r, 4));
    rgn_key_t k[WIDE_N];
    for (int i = 0; i < 20; i++) {
        wide_handed[i] = true;
        rc = rgn_register(r, probe_cleanup, &wide_p[i], &k[i]);
        ENOMEM_OR_OK(rc);
        CHILD_REQUIRE(rc == 0 || (wide_p[i].runs == 1 &&
                                  rgn_key_is_none(k[i])));
        if (rc == 0) {
            CHILD_REQUIRE(rgn_label(r, k[i], "probe") == 0);
            if (i % 4 == 0)
                CHILD_REQUIRE(rgn_expect_close(r, k[i]) == 0);
        }
    }
    for (int i = 20; i < 30; i++) {
        void *res = NULL;
        int calls_before = acquire_calls;
        rc = rgn_allocate(r, acquire_probe, &wide_p[i], probe_cleanup, &res,
                          &k[i]);
        ENOMEM_OR_OK(rc);
        if (rc) /* failed before acquire: acquire never ran */
            CHILD_REQUIRE(acquire_calls == calls_before && res == NULL);
        else
            wide_handed[i] = true;
    }
    /* Lifetimes: a release never fails for want of memory to measure. */
    ENOMEM_OR_OK(rgn_lifetimes_set(r, 1));
    for (int i = 2; i < 4; i++)
        if (!rgn_key_is_none(k[i]))
            CHILD_REQUIRE(rgn_release(r, k[i]) == 0);
    FILE *sink = fopen("/dev/null", "w");
    CHILD_REQUIRE(sink != NULL);
    rc = rgn_metrics_write(sink);
    CHILD_REQUIRE(rc == 0 || rc == 1 || rc == -ENOMEM);
    fclose(sink);
    rgn_stats st;
    CHILD_REQUIRE(rgn_get_stats(r, &st) == 0);
    CHILD_REQUIRE(st.registered == st.live + st.released_early + st.removed);
    long shown = rgn_audit_dump(r, discard_line, NULL);
    CHILD_REQUIRE(shown >= 0 && (size_t)shown <= rgn_live(r));

    /* Take one back and hand it back again. */
    rgn_cleanup_fn fn;
    void *res;
    if (wide_p[1].runs == 0 && rgn_unprotect(r, k[1], &fn, &res) == 0) {
        rc = rgn_register(r, fn, res, &k[1]);
        ENOMEM_OR_OK(rc);
    }
    /* Memory and a scope. */
    char *m = rgn_strdup(r, "x");
    CHILD_REQUIRE(m || errno == ENOMEM);
    if (m)
        CHILD_REQUIRE(rgn_free(r, m) == 0);
    rc = rgn_with(with_body, NULL);
    ENOMEM_OR_OK(rc);
    wide_ready(r);
    wide_forget();

    /* The arena: small allocations across chunks, a big one, the
     * helpers, a block resized, and a child region cleared for reuse. */
    for (int i = 0; i < 40; i++)
        CHILD_REQUIRE(rgn_alloc(r, 100) || errno == ENOMEM);
    CHILD_REQUIRE(rgn_alloc(r, 100000) || errno == ENOMEM);
    CHILD_REQUIRE(rgn_asprintf(r, "%0300d", 7) || errno == ENOMEM);
    CHILD_REQUIRE(rgn_strndup(r, "abcdef", 3) || errno == ENOMEM);
    char *blk = rgn_malloc(r, 8);
    CHILD_REQUIRE(blk || errno == ENOMEM);
    if (blk) {
        char *grown = rgn_realloc(r, blk, 4000);
        CHILD_REQUIRE(grown || errno == ENOMEM);
        CHILD_REQUIRE(rgn_free(r, grown ? grown : blk) == 0);
    }
    rgn_t *c = rgn_new_child(r);
    CHILD_REQUIRE(c || errno == ENOMEM);
    if (c) {
        wide_handed[31] = true;
        rc = rgn_register(c, probe_cleanup, &wide_p[31], NULL);
        ENOMEM_OR_OK(rc);
        CHILD_REQUIRE(rgn_alloc(c, 2000) || errno == ENOMEM);
        CHILD_REQUIRE(rgn_clear(c) == 0);
        CHILD_REQUIRE(wide_p[31].runs == 1);
        CHILD_REQUIRE(rgn_alloc(c, 3000) || errno == ENOMEM);
    }

    /* Threads: a shared reference and a thread that registers one probe
     * (handed to rgn only if the thread started). */
    rgn_t *again = rgn_share(r);
    CHILD_REQUIRE(again == r);
    pthread_t t;
    rc = rgn_thread_create(&t, NULL, r, thread_body, &wide_p[30]);
    ENOMEM_OR_OK(rc);
    if (rc == 0) {
        void *ret;
        pthread_join(t, &ret);
        /* The thread's own registration may have failed: then the probe
         * ran at once, and the thread closed with an error. */
        CHILD_REQUIRE(ret == NULL || wide_p[30].runs == 1);
        wide_handed[30] = true;
    }
    CHILD_REQUIRE(rgn_close(again) == 0);
    CHILD_REQUIRE(rgn_close_error(r) == 0);
}

static void wide_sweep(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    rgn_audit_set_sink(discard_line, NULL);
    /* A first round that fails nothing leaves allocated what rgn keeps
     * for good: the copy of the name "wide", under which the metrics
     * keep the counters of its closed regions.  Every round after must
     * leave exactly that. */
    int fd_before = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHILD_REQUIRE(fd_before >= 0);
    close(fd_before);
    wide_scenario();
    wide_ready_gone(fd_before);
    rgn_audit_forget_closed();
    rgn_trim();
    size_t kept = bytes_now;
    CHILD_REQUIRE(kept > 0 && kept < 64);
    for (long k = 1;; k++) {
        calls = 0;
        fail_at = k;
        wide_scenario();
        wide_ready_gone(fd_before);
        rgn_audit_forget_closed(); /* the audited regions it closed */
        rgn_trim(); /* the chunks its closes kept */
        CHILD_REQUIRE(bytes_now == kept);
        for (int i = 0; i < WIDE_N; i++)
            CHILD_REQUIRE(wide_p[i].runs == (wide_handed[i] ? 1 : 0));
        if ((long)calls < k)
            break;
        CHILD_REQUIRE(k < 2000);
    }
}

START_TEST(failing_each_allocation_of_every_call_loses_nothing)
{
    RUN_IN_CHILD(wide_sweep);
}
END_TEST

/*
 * Finding and releasing by value, and close causes, under the same
 * discipline: neither rgn_find nor rgn_release_value ever fails for want
 * of memory (without its index a region is walked), and a close whose
 * text could not be copied shows its code alone.
 */
enum { VALUE_N = 120 };
static struct probe value_p[VALUE_N];
static int value_tries[VALUE_N]; /* registrations tried: each runs once */
static int cause_code_seen, cause_text_ok, cause_seen;
static int codes_alone; /* closes whose text could not be copied */

static int cause_probe(void *p, rgn_release_type how)
{
    const struct rgn_cause *c = rgn_cause();
    cause_seen++;
    if (c) {
        cause_code_seen = c->code;
        cause_text_ok += !c->text || strcmp(c->text, "closing: disk full") == 0;
        codes_alone += !c->text;
    }
    return probe_cleanup(p, how);
}

static int failing_with_body(rgn_t *r, void *arg)
{
    value_tries[VALUE_N - 2]++;
    int rc = rgn_register(r, cause_probe, arg, NULL);
    return rc ? rc : -EPIPE;
}

static void value_scenario(void)
{
    for (int i = 0; i < VALUE_N; i++) {
        probe_init(&value_p[i], i);
        value_tries[i] = 0;
    }
    cause_code_seen = cause_text_ok = cause_seen = 0;
    rgn_t *r = rgn_new();
    if (!r) {
        CHILD_REQUIRE(errno == ENOMEM);
        return;
    }
    rgn_key_t k[VALUE_N];
    for (int i = 0; i < VALUE_N - 2; i++) {
        /* Pairs 0..9 twice (as i and i + 10): duplicates, the newest
         * found first.  Pairs 10..19 are not used. */
        int pair = i < 20 ? i % 10 : i;
        value_tries[pair]++;
        int rc = rgn_register(r, probe_cleanup, &value_p[pair], &k[i]);
        CHILD_REQUIRE(rc == 0 || rc == -ENOMEM);
        CHILD_REQUIRE(rc == 0 || rgn_key_is_none(k[i]));
        if (i == 30 || i == 90) { /* builds the index, or walks */
            rgn_key_t got;
            int f = rgn_find(r, probe_cleanup, &value_p[25], &got);
            CHILD_REQUIRE(f == (rgn_key_is_none(k[25]) ? -ENOENT : 0));
            CHILD_REQUIRE(f != 0 || rgn_key_equal(got, k[25]));
        }
    }
    for (int i = 20; i < VALUE_N - 2; i++) {
        rgn_key_t got;
        int f = rgn_find(r, probe_cleanup, &value_p[i], &got);
        CHILD_REQUIRE(f == (rgn_key_is_none(k[i]) ? -ENOENT : 0));
        CHILD_REQUIRE(f != 0 || rgn_key_equal(got, k[i]));
        if (i % 3 == 0) {
            f = rgn_release_value(r, probe_cleanup, &value_p[i]);
            CHILD_REQUIRE(f == (rgn_key_is_none(k[i]) ? -ENOENT : 0));
        }
    }
    for (int i = 0; i < 10; i++) { /* the newer of each duplicate first */
        rgn_key_t got, newest = rgn_key_is_none(k[i + 10]) ? k[i] : k[i + 10];
        int f = rgn_find(r, probe_cleanup, &value_p[i], &got);
        CHILD_REQUIRE(f == (rgn_key_is_none(newest) ? -ENOENT : 0));
        CHILD_REQUIRE(f != 0 || rgn_key_equal(got, newest));
        f = rgn_release_value(r, probe_cleanup, &value_p[i]);
        CHILD_REQUIRE(f == (rgn_key_is_none(newest) ? -ENOENT : 0));
        CHILD_REQUIRE(f != 0 || rgn_release(r, newest) == -ENOENT);
    }
    /* A scope whose body fails, and a close with a cause. */
    int rc = rgn_with(failing_with_body, &value_p[VALUE_N - 2]);
    CHILD_REQUIRE(rc == -EPIPE || rc == -ENOMEM);
    CHILD_REQUIRE(rc != -EPIPE || cause_code_seen == -EPIPE);
    cause_code_seen = cause_seen = cause_text_ok = 0;
    value_tries[VALUE_N - 1]++;
    rc = rgn_register(r, cause_probe, &value_p[VALUE_N - 1], NULL);
    CHILD_REQUIRE(rc == 0 || rc == -ENOMEM);
    if (rc)
        cause_seen = 0; /* it ran at once, given back */
    char *text = rgn_strdup(r, "closing: disk full");
    CHILD_REQUIRE(
        rgn_close_cause(r, -EIO, text ? text : "closing: disk full") == 0);
    if (rc == 0) /* the text, or out of memory the code alone */
        CHILD_REQUIRE(cause_seen == 1 && cause_code_seen == -EIO &&
                      cause_text_ok == 1);
}

static void value_sweep(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    for (long k = 1;; k++) {
        calls = 0;
        fail_at = k;
        value_scenario();
        rgn_trim();
        CHILD_REQUIRE(bytes_now == 0);
        for (int i = 0; i < VALUE_N; i++)
            CHILD_REQUIRE(value_p[i].runs == value_tries[i]);
        if ((long)calls < k)
            break;
        CHILD_REQUIRE(k < 1000);
    }
    CHILD_REQUIRE(codes_alone > 0); /* the sweep reached the copy */
}

START_TEST(failing_each_allocation_of_find_and_causes_loses_nothing)
{
    RUN_IN_CHILD(value_sweep);
}
END_TEST

/* The index stays within a constant factor of the live count, however
 * many pairs come and go: one table, and a second while it is rebuilt. */
static void index_bounded(void)
{
    enum { LIVE = 1000, CYCLES = 200000 };
    static char pairs[LIVE * 4];
    static rgn_key_t k[LIVE];
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    rgn_t *r = rgn_new();
    for (int i = 0; i < LIVE; i++)
        CHILD_REQUIRE(rgn_register(r, noop_cleanup, &pairs[i], &k[i]) == 0);
    size_t filled = bytes_now;
    CHILD_REQUIRE(rgn_find(r, noop_cleanup, &pairs[0], NULL) == 0);
    size_t indexed = bytes_now, index = indexed - filled;
    bytes_peak = bytes_now;
    unsigned x = 2463534242u;
    for (int i = 0; i < CYCLES; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        unsigned j = x % LIVE;
        /* A new pair each time: every entry left behind is stale. */
        CHILD_REQUIRE(rgn_release(r, k[j]) == 0);
        CHILD_REQUIRE(rgn_register(r, noop_cleanup, &pairs[x % sizeof pairs],
                                   &k[j]) == 0);
    }
    CHILD_REQUIRE(bytes_now == indexed);
    CHILD_REQUIRE(bytes_peak <= indexed + index);
    CHILD_REQUIRE(index <= 48u * LIVE); /* bytes a live resource */
    CHILD_REQUIRE(rgn_close(r) == 0);
    rgn_trim(); /* the region the thread's cache kept */
    CHILD_REQUIRE(bytes_now == 0);
}

START_TEST(the_index_does_not_grow_with_registrations)
{
    RUN_IN_CHILD(index_bounded);
}
END_TEST

/* ---- memory is bounded by the live count ------------------------------- */

static void bounded_by_peak(void)
{
    enum { LIVE = 1000, CYCLES = 1000000 };
    static struct probe p;
    static rgn_key_t k[LIVE];
    probe_init(&p, 1);
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    rgn_t *r = rgn_new();
    for (int i = 0; i < LIVE; i++)
        CHILD_REQUIRE(rgn_register(r, probe_cleanup, &p, &k[i]) == 0);
    size_t filled = bytes_now;
    /* Release and replace a pseudo-random live resource, over and over. */
    unsigned x = 12345;
    for (int i = 0; i < CYCLES; i++) {
        x = x * 1103515245u + 12345u;
        int j = (int)((x >> 8) % LIVE);
        CHILD_REQUIRE(rgn_release(r, k[j]) == 0);
        CHILD_REQUIRE(rgn_register(r, probe_cleanup, &p, &k[j]) == 0);
    }
    CHILD_REQUIRE(bytes_peak == filled);
    CHILD_REQUIRE(bytes_now == filled);
    CHILD_REQUIRE(rgn_close(r) == 0);
    CHILD_REQUIRE(p.runs == LIVE + CYCLES);
}

START_TEST(memory_does_not_grow_with_registrations)
{
    RUN_IN_CHILD(bounded_by_peak);
}
END_TEST

static void bytes_per_resource(void)
{
    enum { N = 100000 };
    static struct probe p;
    probe_init(&p, 1);
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    rgn_t *r = rgn_new();
    for (int i = 0; i < N; i++)
        CHILD_REQUIRE(rgn_register(r, probe_cleanup, &p, NULL) == 0);
    /* At most 32 bytes per live resource, region and tables included. */
    if (bytes_now > 32u * N) {
        fprintf(stderr, "%zu bytes for %d resources\n", bytes_now, N);
        CHILD_REQUIRE(bytes_now <= 32u * N);
    }
    CHILD_REQUIRE(rgn_close(r) == 0);
}

/*
 * The soak: 100 million register/release cycles on a region holding 1,000
 * live resources, with memory measured through the allocator rgn uses for
 * everything.  It must not grow by a single byte after the fill -- any
 * per-cycle cost, however small, would show after 10^8 cycles.  Not
 * timed; RGN_SOAK_CYCLES shortens it under valgrind and the sanitizers.
 */
static void soak(void)
{
    enum { LIVE = 1000 };
    const char *env = getenv("RGN_SOAK_CYCLES");
    long cycles = env ? atol(env) : 100000000L;
    static rgn_key_t k[LIVE];
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    rgn_t *r = rgn_new();
    for (int i = 0; i < LIVE; i++)
        CHILD_REQUIRE(rgn_register(r, noop_cleanup, NULL, &k[i]) == 0);
    size_t filled = bytes_now;
    unsigned x = 2463534242u;
    for (long i = 0; i < cycles; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        unsigned j = x % LIVE;
        if (rgn_release(r, k[j]) != 0 ||
            rgn_register(r, noop_cleanup, NULL, &k[j]) != 0)
            child_fail(__FILE__, __LINE__, "cycle failed");
    }
    CHILD_REQUIRE(bytes_now == filled);
    CHILD_REQUIRE(bytes_peak == filled);
    rgn_stats st;
    CHILD_REQUIRE(rgn_get_stats(r, &st) == 0);
    CHILD_REQUIRE(st.live == LIVE && st.peak == LIVE);
    CHILD_REQUIRE(st.registered == (uint64_t)LIVE + (uint64_t)cycles);
    CHILD_REQUIRE(rgn_close(r) == 0);
}

START_TEST(soak_memory_stays_flat)
{
    RUN_IN_CHILD(soak);
}
END_TEST

START_TEST(at_most_32_bytes_per_live_resource)
{
    RUN_IN_CHILD(bytes_per_resource);
}
END_TEST

/* ---- arena chunks kept for reuse, within bounds ---------------------- */

/* Where a memory tool is on (ASan, memcheck, RGN_ARENA_FILL), every
 * allocation is followed by a red zone, and closes keep nothing. */
static bool arena_tools_on(void)
{
    rgn_t *r = rgn_new();
    char *a = rgn_alloc(r, 16), *b = rgn_alloc(r, 16);
    rgn_close(r);
    rgn_trim(); /* the probe's region is not the test's */
    return b - a != 16;
}

static void fill(rgn_t *r, size_t bytes)
{
    for (size_t i = 0; i < bytes / 64; i++)
        CHILD_REQUIRE(rgn_alloc(r, 64) != NULL);
}

/* A region cleared each round keeps the biggest chunks its round used,
 * so that once it has one chunk more of that size (the second round, which
 * starts in one) rounds as big allocate nothing, and fault no page in:
 * the bench's 64 MB row.  A smaller round lets go of what it did not
 * reach. */
static void cleared_rounds(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    rgn_t *r = rgn_new();
    size_t used = 0;
    for (int round = 0; round < 5; round++) {
        size_t before = calls;
        fill(r, 4u << 20);
        if (round == 0)
            used = bytes_now;
        else if (round == 1)
            CHILD_REQUIRE(calls <= before + 1);
        else
            CHILD_REQUIRE(calls == before);
        CHILD_REQUIRE(rgn_clear(r) == 0);
        CHILD_REQUIRE(bytes_now <= used + (256u << 10));
    }
    fill(r, 64);
    CHILD_REQUIRE(rgn_clear(r) == 0);
    rgn_trim();
    CHILD_REQUIRE(bytes_now < used / 2);
    CHILD_REQUIRE(rgn_close(r) == 0);
    rgn_trim();
    CHILD_REQUIRE(bytes_now == 0);
}

START_TEST(cleared_rounds_allocate_nothing_after_the_first)
{
    RUN_IN_CHILD(cleared_rounds);
}
END_TEST

/* A close gives its chunks to the thread's cache, at most 4 MB of them,
 * and the thread's next region takes them; rgn_trim gives them
 * back.  Where a tool is on nothing is kept. */
static void closed_chunks(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    bool tools = arena_tools_on();
    rgn_t *r = rgn_new();
    fill(r, 64u << 10);
    CHILD_REQUIRE(rgn_close(r) == 0);
    size_t kept = bytes_now;
    CHILD_REQUIRE(tools ? kept == 0 : kept >= 64u << 10);
    size_t before = calls;
    r = rgn_new();
    fill(r, 64u << 10);
    if (!tools)
        CHILD_REQUIRE(calls == before); /* all from the thread's caches */
    CHILD_REQUIRE(rgn_close(r) == 0);
    CHILD_REQUIRE(bytes_now == kept);
    r = rgn_new();
    fill(r, 16u << 20);
    CHILD_REQUIRE(rgn_close(r) == 0);
    size_t held = bytes_now;
    /* 4 MB of chunks, and the closed region (with its first slot block,
     * under 2 KB) in its own cache. */
    CHILD_REQUIRE(held <= (4u << 20) + 2048);
    CHILD_REQUIRE(rgn_trim() == held);
    CHILD_REQUIRE(bytes_now == 0);
    CHILD_REQUIRE(rgn_trim() == 0);
}

/* Regions a thread closes are kept for its next ones, the first slot
 * block still attached: closing a hundred regions of 16 and making as
 * many again allocates nothing.  rgn_trim gives them back.  Where a tool
 * is on nothing is kept. */
static void kept_regions(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    bool tools = arena_tools_on();
    static rgn_t *r[100];
    for (int round = 0; round < 3; round++) {
        size_t before = calls;
        for (int i = 0; i < 100; i++) {
            CHILD_REQUIRE((r[i] = rgn_new()) != NULL);
            for (int k = 0; k < 16; k++)
                CHILD_REQUIRE(rgn_register(r[i], noop_cleanup, NULL, NULL) ==
                              0);
        }
        if (round > 0 && !tools)
            CHILD_REQUIRE(calls == before);
        for (int i = 0; i < 100; i++)
            CHILD_REQUIRE(rgn_close(r[i]) == 0);
    }
    size_t held = bytes_now;
    CHILD_REQUIRE(tools ? held == 0 : held > 100 * 1000);
    CHILD_REQUIRE(rgn_trim() == held);
    CHILD_REQUIRE(bytes_now == 0);
}

/* Makes n regions at once and closes them all; the bytes the thread then
 * keeps. */
static size_t make_and_close(rgn_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        CHILD_REQUIRE((v[i] = rgn_new()) != NULL);
    for (size_t i = 0; i < n; i++)
        CHILD_REQUIRE(rgn_close(v[i]) == 0);
    return bytes_now;
}

/* The server's round: 20,000 regions made, all closed, 20,000 made
 * again.  Past the first 4 MB, the cache keeps as many as the thread had
 * to make (it made them all: the cache was empty), so the second round
 * allocates nothing -- with a fixed 4 MB it allocated 12,000 regions
 * again, and glibc faulted their pages in again.  At most 64 MB; rgn_trim
 * gives back all of it. */
static void kept_as_made(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    bool tools = arena_tools_on();
    static rgn_t *v[150000];
    size_t held = make_and_close(v, 20000);
    CHILD_REQUIRE(tools ? held == 0 : held > 20000 * 500);
    size_t before = calls;
    CHILD_REQUIRE(make_and_close(v, 20000) == held);
    if (!tools)
        CHILD_REQUIRE(calls == before); /* every region from the cache */
    CHILD_REQUIRE(rgn_trim() == held);
    CHILD_REQUIRE(bytes_now == 0);
    /* The bound: 150,000 (some 84 MB) closed at once keep 64 MB. */
    held = make_and_close(v, 150000);
    CHILD_REQUIRE(held <= 64u << 20);
    CHILD_REQUIRE(tools || held > 60u << 20);
    CHILD_REQUIRE(rgn_trim() == held);
    CHILD_REQUIRE(bytes_now == 0);
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What grew comes back: after 40,000 regions closed at once (22 MB
 * kept), a thread that goes on with one region at a time gives back half
 * of what it kept unused each second, down to the first 4 MB (less what
 * 4,096 regions might have taken between two looks). */
static void grown_cache_gives_back(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    if (arena_tools_on())
        return; /* nothing kept: nothing to give back */
    static rgn_t *v[40000];
    size_t held = make_and_close(v, 40000);
    CHILD_REQUIRE(held > 20u << 20);
    double start = seconds_now();
    size_t seen = held;
    while (seen > held / 2 && seconds_now() - start < 30) {
        for (int i = 0; i < 4096; i++) {
            rgn_t *r = rgn_new();
            CHILD_REQUIRE(r != NULL);
            CHILD_REQUIRE(rgn_close(r) == 0);
        }
        CHILD_REQUIRE(bytes_now <= seen); /* it never grows again */
        seen = bytes_now;
    }
    CHILD_REQUIRE(seen <= held / 2);
    CHILD_REQUIRE(seen >= 4u << 20); /* the first bound stays */
    CHILD_REQUIRE(rgn_trim() == seen);
    CHILD_REQUIRE(bytes_now == 0);
}

/* An allocator whose free fills the block with a pattern and keeps it:
 * memory rgn gave back that rgn writes again shows as a changed byte. */
struct kept_block {
    struct kept_block *next;
    size_t size;
    size_t pad[2]; /* 16-byte alignment, as malloc's */
};
static struct kept_block *given_back;
#define GIVEN_BACK 0xa5

static void *quarantine_malloc(size_t n)
{
    struct kept_block *b = malloc(sizeof *b + n);
    if (!b)
        return NULL;
    b->size = n;
    return b + 1;
}

static void quarantine_free(void *p)
{
    if (!p)
        return;
    struct kept_block *b = (struct kept_block *)p - 1;
    memset(p, GIVEN_BACK, b->size);
    b->next = given_back;
    given_back = b;
}

static void *quarantine_realloc(void *p, size_t n)
{
    void *q = quarantine_malloc(n);
    if (q && p) {
        size_t was = ((struct kept_block *)p - 1)->size;
        memcpy(q, p, was < n ? was : n);
        quarantine_free(p);
    }
    return q;
}

static bool given_back_untouched(void)
{
    for (struct kept_block *b = given_back; b; b = b->next) {
        const unsigned char *c = (const unsigned char *)(b + 1);
        for (size_t i = 0; i < b->size; i++)
            if (c[i] != GIVEN_BACK)
                return false;
    }
    return true;
}

/* A region that grew past its first slot block is kept with its inline
 * slots again: the next region from the cache writes none of the bytes
 * its big block had. */
static void grown_then_kept(void)
{
    static const rgn_allocator quarantine = {
        quarantine_malloc, quarantine_realloc, quarantine_free};
    CHILD_REQUIRE(rgn_set_allocator(&quarantine) == 0);
    rgn_t *r = rgn_new();
    CHILD_REQUIRE(r != NULL);
    for (int i = 0; i < 100; i++)
        CHILD_REQUIRE(rgn_register(r, noop_cleanup, NULL, NULL) == 0);
    CHILD_REQUIRE(rgn_close(r) == 0);
    CHILD_REQUIRE(given_back != NULL); /* the grown block */
    r = rgn_new();
    CHILD_REQUIRE(r != NULL);
    struct probe p[5];
    rgn_key_t k[5];
    for (int i = 0; i < 5; i++) {
        probe_init(&p[i], i);
        CHILD_REQUIRE(rgn_register(r, probe_cleanup, &p[i], &k[i]) == 0);
    }
    CHILD_REQUIRE(rgn_release(r, k[1]) == 0);
    CHILD_REQUIRE(rgn_close(r) == 0);
    for (int i = 0; i < 5; i++)
        CHILD_REQUIRE(p[i].runs == 1);
    CHILD_REQUIRE(given_back_untouched());
}

START_TEST(a_grown_region_is_kept_without_its_big_block)
{
    RUN_IN_CHILD(grown_then_kept);
}
END_TEST

START_TEST(closed_regions_are_kept_for_the_thread)
{
    RUN_IN_CHILD(kept_regions);
}
END_TEST

START_TEST(a_thread_keeps_as_many_regions_as_it_had_to_make)
{
    RUN_IN_CHILD(kept_as_made);
}
END_TEST

START_TEST(a_grown_cache_gives_back_what_nobody_takes)
{
    RUN_IN_CHILD(grown_cache_gives_back);
}
END_TEST

START_TEST(closes_keep_chunks_for_the_thread_within_4_mb)
{
    RUN_IN_CHILD(closed_chunks);
}
END_TEST

static size_t held_in_thread;

static void *closes_a_region(void *arg)
{
    (void)arg;
    rgn_t *r = rgn_new();
    fill(r, 256u << 10);
    CHILD_REQUIRE(rgn_close(r) == 0);
    held_in_thread = bytes_now;
    return NULL;
}

static void thread_exit(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    bool tools = arena_tools_on();
    pthread_t t;
    CHILD_REQUIRE(pthread_create(&t, NULL, closes_a_region, NULL) == 0);
    CHILD_REQUIRE(pthread_join(t, NULL) == 0);
    CHILD_REQUIRE(tools || held_in_thread > 0);
    CHILD_REQUIRE(bytes_now == 0); /* given back as the thread ended */
}

START_TEST(a_threads_cache_goes_at_its_exit)
{
    RUN_IN_CHILD(thread_exit);
}
END_TEST

/* A forked child uses, and gives back, the cache it inherited. */
static void forked(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    bool tools = arena_tools_on();
    rgn_t *r = rgn_new();
    fill(r, 64u << 10);
    CHILD_REQUIRE(rgn_close(r) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHILD_REQUIRE(pid >= 0);
    if (pid == 0) {
        size_t before = calls;
        r = rgn_new();
        fill(r, 64u << 10);
        if (!tools)
            CHILD_REQUIRE(calls == before); /* all from the thread's caches */
        CHILD_REQUIRE(rgn_close(r) == 0);
        rgn_trim();
        CHILD_REQUIRE(bytes_now == 0);
        _exit(0);
    }
    int status;
    CHILD_REQUIRE(waitpid(pid, &status, 0) == pid);
    CHILD_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    rgn_trim();
    CHILD_REQUIRE(bytes_now == 0);
}

START_TEST(a_forked_child_uses_the_inherited_cache)
{
    RUN_IN_CHILD(forked);
}
END_TEST

/* A forked child that forgets a region gives back every byte of rgn's
 * it held: the records of the ready-made resources too, which it used
 * to keep (a leak in a child that exits rather than execs).  The
 * parent's files and processes are left to the parent's close. */
static void forgotten_records(void)
{
    CHILD_REQUIRE(rgn_set_allocator(&counting) == 0);
    rgn_t *r = rgn_new();
    CHILD_REQUIRE(r != NULL);
    const char *dir = getenv("TMPDIR");
    dir = dir && *dir ? dir : "/tmp";
    char f[256], d[256];
    snprintf(f, sizeof f, "%s/rgn-forget.XXXXXX", dir);
    snprintf(d, sizeof d, "%s/rgn-forget-dir.XXXXXX", dir);
    CHILD_REQUIRE(rgn_mkstemp(r, f, 0, NULL) >= 0);
    CHILD_REQUIRE(rgn_mkdtemp(r, d, 0, NULL) != NULL);
    static char *argv[] = {(char *)"true", NULL};
    CHILD_REQUIRE(rgn_spawn(r, "/bin/true", argv, NULL, NULL, NULL, 0,
                            NULL) > 0);
    CHILD_REQUIRE(rgn_dlopen(r, NULL, RTLD_NOW, NULL) != NULL);
    CHILD_REQUIRE(rgn_strdup(r, "and a block") != NULL);
    pid_t pid = fork();
    CHILD_REQUIRE(pid >= 0);
    if (pid == 0) {
        int rc = rgn_forget_for_exec(r);
        rgn_trim();
        _exit(rc == 0 && bytes_now == 0 ? 0 : 1);
    }
    int status;
    CHILD_REQUIRE(waitpid(pid, &status, 0) == pid);
    CHILD_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHILD_REQUIRE(access(f, F_OK) == 0 && access(d, F_OK) == 0);
    CHILD_REQUIRE(rgn_close(r) == 0);
    CHILD_REQUIRE(access(f, F_OK) != 0 && access(d, F_OK) != 0);
    rgn_trim();
    CHILD_REQUIRE(bytes_now == 0);
}

START_TEST(a_forgotten_region_gives_back_its_ready_made_records)
{
    RUN_IN_CHILD(forgotten_records);
}
END_TEST

Suite *alloc_suite(void)
{
    Suite *s = suite_create("alloc");
    TCase *t = tcase_create("set");
    tcase_add_test(t, every_byte_goes_through_the_allocator);
    tcase_add_test(t, allocator_is_fixed_once_a_region_exists);
    tcase_add_test(t, incomplete_allocator_is_einval_and_null_restores_libc);
    suite_add_tcase(s, t);

    t = tcase_create("failure");
    tcase_add_test(t, constructors_fail_with_enomem);
    tcase_add_test(t, register_that_cannot_grow_cleans_up_and_keeps_the_region);
    tcase_add_test(t, allocate_and_move_fail_before_changing_anything);
    tcase_add_test(t, failing_each_allocation_in_turn_loses_nothing);
    tcase_add_test(t, failing_each_allocation_of_every_call_loses_nothing);
    tcase_add_test(t, failing_each_allocation_of_find_and_causes_loses_nothing);
    suite_add_tcase(s, t);

    t = tcase_create("memory");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, memory_does_not_grow_with_registrations);
    tcase_add_test(t, the_index_does_not_grow_with_registrations);
    tcase_add_test(t, at_most_32_bytes_per_live_resource);
    tcase_add_test(t, soak_memory_stays_flat);
    suite_add_tcase(s, t);

    t = tcase_create("arena");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, cleared_rounds_allocate_nothing_after_the_first);
    tcase_add_test(t, closes_keep_chunks_for_the_thread_within_4_mb);
    tcase_add_test(t, closed_regions_are_kept_for_the_thread);
    tcase_add_test(t, a_thread_keeps_as_many_regions_as_it_had_to_make);
    tcase_add_test(t, a_grown_cache_gives_back_what_nobody_takes);
    tcase_add_test(t, a_threads_cache_goes_at_its_exit);
    tcase_add_test(t, a_grown_region_is_kept_without_its_big_block);
    tcase_add_test(t, a_forked_child_uses_the_inherited_cache);
    tcase_add_test(t, a_forgotten_region_gives_back_its_ready_made_records);
    suite_add_tcase(s, t);
    return s;
}

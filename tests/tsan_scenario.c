/* SPDX-License-Identifier: MIT */
/*
 * tsan_scenario.c -- a threaded program built with -fsanitize=thread
 * against a librgn that is not (tests/tsan.sh builds and runs it with
 * RGN_AUDIT=report): ThreadSanitizer sees none of rgn's own loads and
 * stores, only what its interceptors see (malloc, realloc, free, memcpy,
 * the pthread calls) and this program's code.  rgn hands memory and
 * resources from thread to thread through its own locks; unless it tells
 * ThreadSanitizer about them, every hand-off reads as a data race.
 *
 * What it does, each part a hand-off that has to be seen:
 *   - the allocator: one thread sets it and freezes it with the first
 *     region; another learns that only from a relaxed flag (no
 *     synchronisation of this program's own), makes regions, and rgn
 *     calls the allocator, which reads what the first thread wrote;
 *   - a shared region: WORKERS threads register resources they wrote,
 *     release some (the cleanups run in the releasing thread), grow the
 *     slot arrays and records under the region's lock, allocate from its
 *     arena and rgn_malloc, and leave the rest to whichever thread drops
 *     the last reference;
 *   - unshared audited regions, one per job, in each worker (the biased
 *     lock where there is one);
 *   - a reader calling rgn_metrics_write and rgn_audit_report_open
 *     meanwhile;
 *   - with libc's allocator, big regions, whose slot arrays live in pages
 *     that the next big region takes over, in another thread.
 * The allocator's part and the pages' exclude each other (the pages are
 * kept only with libc's allocator): argv[1] says which runs.
 * Exits 0 when every cleanup ran once; ThreadSanitizer makes it exit 66
 * on any report.  tests/race_tools.sh builds it plainly too and runs it
 * under valgrind's helgrind and DRD, which must report nothing either:
 * neither knows C11 atomics, so this program's own relaxed flags are
 * named to them as such (rgn names its own).
 */
#include <rgn.h>

#include <pthread.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<valgrind/helgrind.h>)
#include <valgrind/helgrind.h>
#define ATOMIC_FOR_TOOLS(v) VALGRIND_HG_DISABLE_CHECKING(&(v), sizeof(v))
#endif
#endif
#ifndef ATOMIC_FOR_TOOLS
#define ATOMIC_FOR_TOOLS(v) ((void)0)
#endif

enum { WORKERS = 4, ROUNDS = 300, JOBS = 40, BIG = 40000 };

/* argv[1]: "allocator" sets one (the hand-off of its state); "default"
 * keeps libc's, whose big regions keep their slot arrays in pages. */
static bool big_regions;

/* ---- the allocator: its state is written before it is set ------------- */

struct pool {
    int magic;
    const char *name;
};
static struct pool pool; /* written by the setter, read by every call */

static void check_pool(void)
{
    if (pool.magic != 0x5eed || strcmp(pool.name, "tsan pool") != 0)
        abort();
}

static void *pool_malloc(size_t n)
{
    check_pool();
    return malloc(n);
}

static void *pool_realloc(void *p, size_t n)
{
    check_pool();
    return realloc(p, n);
}

static void pool_free(void *p)
{
    check_pool();
    free(p);
}

static const rgn_allocator pool_allocator = {pool_malloc, pool_realloc,
                                             pool_free};
static atomic_int frozen; /* relaxed: says nothing to ThreadSanitizer */

static void *set_allocator(void *arg)
{
    (void)arg;
    pool.magic = 0x5eed;
    pool.name = "tsan pool";
    if (rgn_set_allocator(&pool_allocator) != 0)
        abort();
    rgn_t *r = rgn_new(); /* freezes it */
    if (!r || rgn_close(r) != 0)
        abort();
    atomic_store_explicit(&frozen, 1, memory_order_relaxed);
    return NULL;
}

/* ---- resources written in one thread, cleaned up in another ---------- */

struct item {
    int value;
    char text[24];
};
static atomic_long cleanups, registered;

static int item_cleanup(void *res, rgn_release_type how)
{
    (void)how;
    struct item *it = res;
    if (it->value < 0 || strncmp(it->text, "item", 4) != 0)
        abort();
    it->value = -1;
    free(it);
    atomic_fetch_add_explicit(&cleanups, 1, memory_order_relaxed);
    return 0;
}

static struct item *new_item(int value)
{
    struct item *it = malloc(sizeof *it);
    if (!it)
        abort();
    it->value = value;
    snprintf(it->text, sizeof it->text, "item %d", value);
    return it;
}

static void big_region(void);

static int worker(rgn_t *r, void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        rgn_key_t k;
        if (rgn_register(r, item_cleanup, new_item(i), &k) != 0)
            abort();
        atomic_fetch_add_explicit(&registered, 1, memory_order_relaxed);
        if (i % 2 == 0 && rgn_release(r, k) != 0) /* cleanup runs here */
            abort();
        char *s = rgn_asprintf(r, "worker %d round %d", id, i);
        char *m = rgn_malloc(r, 32);
        if (!s || !m)
            abort();
        memcpy(m, s, strlen(s) < 31 ? strlen(s) + 1 : 31);
        m[31] = '\0';
        if (i % 3 == 0 && rgn_free(r, m) != 0)
            abort();
    }
    if (big_regions) /* audited, slot arrays in pages */
        big_region();
    for (int j = 0; j < JOBS; j++) { /* unshared regions of its own */
        rgn_t *own = rgn_new();
        if (!own || rgn_set_name(own, "job") != 0)
            abort();
        for (int i = 0; i < 20; i++) {
            if (rgn_register(own, item_cleanup, new_item(i), NULL) != 0)
                abort();
            atomic_fetch_add_explicit(&registered, 1, memory_order_relaxed);
        }
        if (rgn_close(own) != 0)
            abort();
    }
    return 0;
}

/* ---- the slot pages of a big region, kept for the next one ------------ */

static atomic_int spare_kept; /* relaxed, as `frozen` */

static void big_region(void)
{
    rgn_t *r = rgn_new();
    if (!r)
        abort();
    for (int i = 0; i < BIG; i++) {
        if (rgn_register(r, item_cleanup, new_item(i), NULL) != 0)
            abort();
        atomic_fetch_add_explicit(&registered, 1, memory_order_relaxed);
    }
    if (rgn_close(r) != 0)
        abort();
}

static void *keeps_spare_pages(void *arg)
{
    (void)arg;
    big_region();
    atomic_store_explicit(&spare_kept, 1, memory_order_relaxed);
    return NULL;
}

static void *takes_spare_pages(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&spare_kept, memory_order_relaxed))
        ;
    big_region();
    return NULL;
}

/* Two unaudited big regions in two threads with nothing else between
 * them: the second takes the pages the first left. */
static void spare_pages_hand_off(void)
{
    rgn_audit_mode mode = rgn_audit_default();
    rgn_audit_set_default(RGN_AUDIT_OFF);
    pthread_t a, b;
    if (pthread_create(&b, NULL, takes_spare_pages, NULL) != 0 ||
        pthread_create(&a, NULL, keeps_spare_pages, NULL) != 0)
        abort();
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    rgn_audit_set_default(mode);
}

/* ---- the reader -------------------------------------------------------- */

static atomic_int workers_done;

static void quiet_sink(const char *line, void *arg)
{
    (void)line;
    (void)arg;
}

static void *reader(void *arg)
{
    FILE *devnull = arg;
    long scrapes = 0;
    while (atomic_load(&workers_done) < WORKERS || scrapes < 2) {
        if (rgn_metrics_write(devnull) < 0 || rgn_audit_report_open() < 0)
            abort();
        scrapes++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "allocator") != 0 &&
                      strcmp(argv[1], "default") != 0)) {
        fprintf(stderr, "usage: tsan_scenario allocator|default\n");
        return 2;
    }
    big_regions = strcmp(argv[1], "default") == 0;
    ATOMIC_FOR_TOOLS(frozen);
    ATOMIC_FOR_TOOLS(spare_kept);
    ATOMIC_FOR_TOOLS(workers_done);
    ATOMIC_FOR_TOOLS(cleanups);
    ATOMIC_FOR_TOOLS(registered);
    rgn_audit_set_sink(quiet_sink, NULL);
    pthread_t setter;
    if (!big_regions) {
        if (pthread_create(&setter, NULL, set_allocator, NULL) != 0)
            return 1;
        while (!atomic_load_explicit(&frozen, memory_order_relaxed))
            ;
    } else {
        spare_pages_hand_off();
    }
    rgn_t *r = rgn_new(); /* calls the allocator the setter wrote */
    if (!r || rgn_set_name(r, "shared") != 0)
        return 1;

    FILE *devnull = fopen("/dev/null", "w");
    if (!devnull)
        return 1;
    pthread_t rd, w[WORKERS];
    if (pthread_create(&rd, NULL, reader, devnull) != 0)
        return 1;
    for (int i = 0; i < WORKERS; i++)
        if (rgn_thread_create(&w[i], NULL, r, worker, (void *)(intptr_t)i))
            return 1;
    if (rgn_close(r) != 0) /* a worker's drop may be the last */
        return 1;
    for (int i = 0; i < WORKERS; i++) {
        void *rc;
        pthread_join(w[i], &rc);
        if (rc != NULL)
            return 1;
        atomic_fetch_add(&workers_done, 1);
    }
    pthread_join(rd, NULL);
    if (!big_regions)
        pthread_join(setter, NULL);
    fclose(devnull);
    if (atomic_load(&cleanups) != atomic_load(&registered)) {
        fprintf(stderr, "tsan_scenario: %ld cleanups for %ld resources\n",
                atomic_load(&cleanups), atomic_load(&registered));
        return 1;
    }
    return 0;
}

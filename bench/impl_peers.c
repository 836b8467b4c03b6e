/* SPDX-License-Identifier: MIT */
/*
 * impl_peers.c -- what programs use instead of rgn, behind the same table:
 * talloc (a child context per resource with a destructor, freed to
 * release) and APR pools (apr_pool_cleanup_register, released with
 * apr_pool_cleanup_run).  Each is built when configure found it; the
 * bench says which it skipped and why.
 */
#include <config.h>

#include "bench.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Bytes in use: what malloc handed out (glibc's own count, mmapped blocks
 * included) or, when more, the growth of the resident set -- APR's
 * allocator may take its memory with mmap, which malloc never sees. */
static size_t rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/* Bytes a peer holds per live resource: n of them in a fresh process, less
 * the empty scope. */
static double heap_bytes_per_live(void *(*create)(void),
                                  bench_handle (*add)(void *, void *),
                                  void (*close)(void *), size_t n)
{
    void *s = create();
    size_t heap0 = heap_in_use(), rss0 = rss_bytes();
    for (size_t i = 0; i < n; i++)
        add(s, NULL);
    size_t heap = heap_in_use() - heap0, rss = rss_bytes() - rss0;
    close(s);
    return (double)(heap > rss ? heap : rss) / (double)n;
}

/* ---- talloc --------------------------------------------------------------- */

#ifdef HAVE_TALLOC
#include <talloc.h>

struct tholder {
    void *res;
};

static int talloc_destructor(struct tholder *h)
{
    (void)h;
    bench_cleaned++;
    return 0;
}

static void *t_create(void)
{
    return talloc_new(NULL);
}

static bench_handle t_add(void *scope, void *res)
{
    struct tholder *h = talloc(scope, struct tholder);
    h->res = res;
    talloc_set_destructor(h, talloc_destructor);
    return (bench_handle){.p = h};
}

static void t_rel(void *scope, bench_handle h)
{
    (void)scope;
    talloc_free(h.p);
}

static void t_end(void *scope)
{
    talloc_free(scope);
}

static double t_bytes(size_t n)
{
    return heap_bytes_per_live(t_create, t_add, t_end, n);
}

/* talloc's arena: talloc_size on a context, freed with it; a cleared
 * context frees its children. */
static void *t_alloc(void *scope, size_t size)
{
    return talloc_size(scope, size);
}

static void t_clear(void *scope)
{
    talloc_free_children(scope);
}

static const struct bench_arena talloc_arena = {
    t_create, t_alloc, t_end, t_clear,
};

const struct bench_impl bench_talloc = {
    "talloc", NULL, t_create, t_add, t_rel, t_end, NULL, t_bytes, NULL,
    &talloc_arena,
};

/* talloc_pool: one allocation for the context, its children carved out
 * of it -- talloc's answer to a pool.  Sized for the largest scope the
 * cases make (256 allocations of 64 bytes, with talloc's headers). */
static void *tp_create(void)
{
    return talloc_pool(NULL, 256 * 160);
}

static const struct bench_arena talloc_pool_arena = {
    tp_create, t_alloc, t_end, t_clear,
};

const struct bench_impl bench_talloc_pool = {
    .name = "tpool", .arena = &talloc_pool_arena,
};
#else
const struct bench_impl bench_talloc = {
    "talloc", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    "configure did not find talloc (Debian: apt-get install libtalloc-dev)",
    NULL,
};
const struct bench_impl bench_talloc_pool = {
    .name = "tpool",
    .skipped = "configure did not find talloc "
               "(Debian: apt-get install libtalloc-dev)",
};
#endif

/* ---- APR pools -------------------------------------------------------------- */

#ifdef HAVE_APR
#include <apr_general.h>
#include <apr_pools.h>

/* apr_pool_cleanup_run finds a cleanup by its data pointer, so each
 * registration gets a distinct one (a counter; no allocation). */
static uintptr_t apr_next_token;

static apr_status_t apr_cleanup(void *data)
{
    (void)data;
    bench_cleaned++;
    return APR_SUCCESS;
}

static void a_init(void)
{
    apr_initialize();
}

static void *a_create(void)
{
    apr_pool_t *p = NULL;
    apr_pool_create(&p, NULL);
    return p;
}

static bench_handle a_add(void *scope, void *res)
{
    (void)res;
    void *token = (void *)++apr_next_token;
    apr_pool_cleanup_register(scope, token, apr_cleanup,
                              apr_pool_cleanup_null);
    return (bench_handle){.p = token};
}

static void a_rel(void *scope, bench_handle h)
{
    apr_pool_cleanup_run(scope, h.p, apr_cleanup);
}

static void a_end(void *scope)
{
    apr_pool_destroy(scope);
}

static double a_bytes(size_t n)
{
    return heap_bytes_per_live(a_create, a_add, a_end, n);
}

/* APR's arena: a subpool of one long-lived pool per scope, apr_palloc,
 * apr_pool_destroy; apr_pool_clear to reuse it. */
static apr_pool_t *apr_root;

static void *ap_create(void)
{
    if (!apr_root)
        apr_pool_create(&apr_root, NULL);
    apr_pool_t *p = NULL;
    apr_pool_create(&p, apr_root);
    return p;
}

static void *ap_alloc(void *scope, size_t size)
{
    return apr_palloc(scope, size);
}

static void ap_clear(void *scope)
{
    apr_pool_clear(scope);
}

static const struct bench_arena apr_arena = {
    ap_create, ap_alloc, a_end, ap_clear,
};

const struct bench_impl bench_apr = {
    "apr", a_init, a_create, a_add, a_rel, a_end, NULL, a_bytes, NULL,
    &apr_arena,
};
#else
const struct bench_impl bench_apr = {
    "apr", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    "configure did not find apr-1 (Debian: apt-get install libapr1-dev)",
    NULL,
};
#endif

/* SPDX-License-Identifier: MIT */
/*
 * impl_core.c -- rgn and the in-file baseline behind the bench table.
 *
 * The baseline is the least a region could do: a generational slot array
 * (one realloc'd array, a free list, no locking, no order, no audit).
 * Every rgn figure is reported as a ratio to it, measured in the same run.
 */
#include "bench.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

volatile uint64_t bench_cleaned;

static int count_cleanup(void *res, rgn_release_type how)
{
    (void)res;
    (void)how;
    bench_cleaned++;
    return 0;
}

/* ---- rgn ---------------------------------------------------------------- */

static void *rgn_create(void)
{
    return rgn_new();
}

static bench_handle rgn_add(void *scope, void *res)
{
    bench_handle h;
    rgn_register(scope, count_cleanup, res, &h.key);
    return h;
}

static void rgn_rel(void *scope, bench_handle h)
{
    rgn_release(scope, h.key);
}

static void rgn_end(void *scope)
{
    rgn_close(scope);
}

static void *rgn_sh(void *scope)
{
    return rgn_share(scope);
}

/* Counts what rgn asks its allocator for. */
static size_t counted;

struct hdr {
    size_t n;
    size_t pad;
};

static void *cmalloc(size_t n)
{
    struct hdr *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->n = n;
    counted += n;
    return h + 1;
}

static void cfree(void *p)
{
    if (p) {
        struct hdr *h = (struct hdr *)p - 1;
        counted -= h->n;
        free(h);
    }
}

static void *crealloc(void *p, size_t n)
{
    if (!p)
        return cmalloc(n);
    struct hdr *h = (struct hdr *)p - 1;
    size_t was = h->n;
    h = realloc(h, sizeof *h + n);
    if (!h)
        return NULL;
    counted += n - was;
    h->n = n;
    return h + 1;
}

/* Runs in a fresh child: the allocator can be set before any region. */
static double rgn_bytes(size_t n)
{
    static const rgn_allocator counting = {cmalloc, crealloc, cfree};
    if (rgn_set_allocator(&counting) != 0)
        return 0;
    rgn_t *r = rgn_new();
    for (size_t i = 0; i < n; i++)
        rgn_register(r, count_cleanup, NULL, NULL);
    double per = (double)counted / (double)n;
    rgn_close(r);
    return per;
}

/* The arena: a scope per request, memory by bump allocation. */
static void *rgn_scope(void)
{
    return rgn_new_scope();
}

static void *rgn_bump(void *scope, size_t size)
{
    return rgn_alloc(scope, size);
}

static void rgn_clear_scope(void *scope)
{
    rgn_clear(scope);
}

static const struct bench_arena rgn_arena = {
    rgn_scope, rgn_bump, rgn_end, rgn_clear_scope,
};

const struct bench_impl bench_rgn = {
    "rgn", NULL, rgn_create, rgn_add, rgn_rel, rgn_end, rgn_sh, rgn_bytes,
    NULL, &rgn_arena,
};

/* rgn with the leak audit on for every region: each registration records
 * its site and birth time, and each close with live resources builds its
 * report -- sent here to a sink that drops it, so the cost is rgn's
 * alone, not the terminal's. */
static void discard(const char *line, void *arg)
{
    (void)line;
    (void)arg;
}

static void audit_init(void)
{
    rgn_audit_set_default(RGN_AUDIT_REPORT);
    rgn_audit_set_sink(discard, NULL);
}

const struct bench_impl bench_rgn_audit = {
    "rgn+audit", audit_init, rgn_create, rgn_add, rgn_rel, rgn_end, rgn_sh,
    rgn_bytes, NULL, &rgn_arena,
};

/* The same audit sampled, as left on in production (RGN_AUDIT_SAMPLE=64):
 * about one registration in 64 records its site, birth time and thread;
 * the others count only towards their region's totals.  Issue 24 wants
 * its pair within 1.3x of rgn's unaudited one. */
static void sample_init(void)
{
    audit_init();
    rgn_audit_set_sample(64);
}

const struct bench_impl bench_rgn_sample = {
    "rgn+sample", sample_init, rgn_create, rgn_add, rgn_rel, rgn_end,
    rgn_sh, rgn_bytes, NULL, &rgn_arena,
};

/* ---- the baseline -------------------------------------------------------- */

struct bslot {
    rgn_cleanup_fn fn;
    void *res;
    uint32_t gen; /* odd while live */
    uint32_t next;
};

struct base {
    struct bslot *s;
    uint32_t cap, used, free;
};

static void *base_create(void)
{
    struct base *b = malloc(sizeof *b);
    if (b)
        *b = (struct base){NULL, 0, 0, UINT32_MAX};
    return b;
}

static bench_handle base_add(void *scope, void *res)
{
    struct base *b = scope;
    uint32_t i = b->free;
    if (i != UINT32_MAX) {
        b->free = b->s[i].next;
    } else {
        if (b->used == b->cap) {
            uint32_t cap = b->cap ? 2 * b->cap : 8;
            struct bslot *s = realloc(b->s, cap * sizeof *s);
            if (!s)
                abort();
            b->s = s;
            b->cap = cap;
        }
        i = b->used++;
        b->s[i].gen = 0;
    }
    struct bslot *s = &b->s[i];
    s->fn = count_cleanup;
    s->res = res;
    s->gen++;
    return (bench_handle){.u = (uint64_t)s->gen << 32 | i};
}

static void base_rel(void *scope, bench_handle h)
{
    struct base *b = scope;
    uint32_t i = (uint32_t)h.u, gen = (uint32_t)(h.u >> 32);
    if (i >= b->used || b->s[i].gen != gen)
        return;
    struct bslot *s = &b->s[i];
    s->gen++;
    s->next = b->free;
    b->free = i;
    s->fn(s->res, RGN_RELEASE_EARLY);
}

static void base_end(void *scope)
{
    struct base *b = scope;
    for (uint32_t i = b->used; i-- > 0;)
        if (b->s[i].gen & 1)
            b->s[i].fn(b->s[i].res, RGN_RELEASE_NORMAL);
    free(b->s);
    free(b);
}

static double base_bytes(size_t n)
{
    size_t cap = 8;
    while (cap < n)
        cap *= 2;
    return (double)(cap * sizeof(struct bslot) + sizeof(struct base)) /
           (double)n;
}

/* The baseline's arena is malloc and free: a scope is the list of the
 * blocks it handed out, freed at its end. */
struct mscope {
    void **v;
    size_t n, cap;
};

static void *m_create(void)
{
    return calloc(1, sizeof(struct mscope));
}

static void *m_alloc(void *scope, size_t size)
{
    struct mscope *m = scope;
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->v = realloc(m->v, m->cap * sizeof *m->v);
    }
    return m->v[m->n++] = malloc(size);
}

static void m_clear(void *scope)
{
    struct mscope *m = scope;
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i]);
    m->n = 0;
}

static void m_close(void *scope)
{
    m_clear(scope);
    free(((struct mscope *)scope)->v);
    free(scope);
}

static const struct bench_arena malloc_arena = {
    m_create, m_alloc, m_close, m_clear,
};

const struct bench_impl bench_baseline = {
    "baseline", NULL, base_create, base_add, base_rel, base_end, NULL,
    base_bytes, NULL, &malloc_arena,
};

/* ---- the baseline under one mutex: what sharing costs done plainly ----- */

struct locked {
    pthread_mutex_t lock;
    struct base *b;
    int refs;
};

static void *mutex_create(void)
{
    struct locked *l = malloc(sizeof *l);
    pthread_mutex_init(&l->lock, NULL);
    l->b = base_create();
    l->refs = 1;
    return l;
}

static bench_handle mutex_add(void *scope, void *res)
{
    struct locked *l = scope;
    pthread_mutex_lock(&l->lock);
    bench_handle h = base_add(l->b, res);
    pthread_mutex_unlock(&l->lock);
    return h;
}

static void mutex_rel(void *scope, bench_handle h)
{
    struct locked *l = scope;
    pthread_mutex_lock(&l->lock);
    uint32_t i = (uint32_t)h.u, gen = (uint32_t)(h.u >> 32);
    struct bslot s = {0};
    if (i < l->b->used && l->b->s[i].gen == gen) { /* unlink, run unlocked */
        s = l->b->s[i];
        l->b->s[i].gen++;
        l->b->s[i].next = l->b->free;
        l->b->free = i;
    }
    pthread_mutex_unlock(&l->lock);
    if (s.fn)
        s.fn(s.res, RGN_RELEASE_EARLY);
}

static void mutex_end(void *scope)
{
    struct locked *l = scope;
    pthread_mutex_lock(&l->lock);
    int last = --l->refs == 0;
    pthread_mutex_unlock(&l->lock);
    if (last) {
        base_end(l->b);
        pthread_mutex_destroy(&l->lock);
        free(l);
    }
}

static void *mutex_share(void *scope)
{
    struct locked *l = scope;
    pthread_mutex_lock(&l->lock);
    l->refs++;
    pthread_mutex_unlock(&l->lock);
    return l;
}

const struct bench_impl bench_mutex = {
    "mutex", NULL, mutex_create, mutex_add, mutex_rel, mutex_end,
    mutex_share, NULL, NULL, NULL,
};

/* SPDX-License-Identifier: MIT */
/*
 * impl_floor.c -- the slot-map floor behind the bench table: the least a
 * region with rgn's semantics can do, so that rgn's figures can be read
 * against what those semantics cost, not against less (the baseline of
 * impl_core.c has no order and 8-byte handles).  It keeps what a program
 * relies on:
 *
 *   - 16-byte keys (rgn_key_t) carrying the region's process-unique id,
 *     so a key of one region fails in another;
 *   - generations, odd while a slot is live, so a stale, forged or
 *     released key fails, and a slot whose generation would wrap is
 *     retired instead of reused;
 *   - newest-first order on close, through a doubly linked live list (slot
 *     0 is its head), so any resource is released in O(1).
 *
 * And nothing else: no locks, no audit, no counters, no errno, no error
 * returns (out of memory aborts).  Slots are 32 bytes; a region is one
 * malloc of 96 bytes holding the list's head and room for one resource, a
 * size glibc keeps in its fastbins, so regions of one resource never reach
 * the top of the heap however many close together; past that the slots
 * move to an array of 32, doubled by realloc.  glibc's malloc serves it
 * all, as it serves rgn.
 */
#include "bench.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct fslot {
    rgn_cleanup_fn fn;
    void *res;
    uint32_t gen;  /* odd while live */
    uint32_t prev; /* live list: the next newer resource, 0 for the head */
    uint32_t next; /* live list: the next older one; free stack */
};

/* Slots in the region itself: the list's head and one resource, so a
 * region of one resource is one allocation of 96 bytes, a size glibc keeps
 * in its fastbins. */
#define FLOOR_INLINE 2u
/* Slots of the first array, when the inline ones are full. */
#define FLOOR_FIRST 32u

struct floor {
    struct fslot *s; /* inl until the slots outgrow it */
    uint64_t id;
    uint32_t used; /* slots handed out at least once, the head included */
    uint32_t cap;
    uint32_t free; /* top of the free stack, 0 when empty */
    struct fslot inl[FLOOR_INLINE];
};

static int floor_cleanup(void *res, rgn_release_type how)
{
    (void)res;
    (void)how;
    bench_cleaned++;
    return 0;
}

/* Process-unique ids, never 0, without an atomic per region: each thread
 * takes blocks of 1024. */
static atomic_uint_fast64_t id_blocks;
static _Thread_local uint64_t id_next, id_end;

static uint64_t floor_id(void)
{
    if (__builtin_expect(id_next == id_end, 0)) {
        id_next =
            atomic_fetch_add_explicit(&id_blocks, 1, memory_order_relaxed) *
                1024 +
            1;
        id_end = id_next + 1024;
    }
    return id_next++;
}

static void *floor_create(void)
{
    struct floor *f = malloc(sizeof *f);
    if (!f)
        abort();
    f->s = f->inl;
    f->id = floor_id();
    f->used = 1;
    f->cap = FLOOR_INLINE;
    f->free = 0;
    f->inl[0] = (struct fslot){NULL, NULL, 0, 0, 0};
    return f;
}

static __attribute__((noinline)) void floor_grow(struct floor *f)
{
    struct fslot *s;
    if (f->s == f->inl) {
        s = malloc(FLOOR_FIRST * sizeof *s);
        if (!s)
            abort();
        memcpy(s, f->inl, sizeof f->inl);
        f->cap = FLOOR_FIRST;
    } else {
        s = realloc(f->s, 2 * (size_t)f->cap * sizeof *s);
        if (!s)
            abort();
        f->cap *= 2;
    }
    f->s = s;
}

static bench_handle floor_add(void *scope, void *res)
{
    struct floor *f = scope;
    uint32_t i = f->free;
    if (i) {
        f->free = f->s[i].next;
    } else {
        if (f->used == f->cap)
            floor_grow(f);
        i = f->used++;
        f->s[i].gen = 0;
    }
    struct fslot *s = f->s, *x = &s[i];
    x->fn = floor_cleanup;
    x->res = res;
    x->gen++;
    x->prev = 0;
    x->next = s[0].next;
    s[s[0].next].prev = i;
    s[0].next = i;
    return (bench_handle){.key = {f->id, i, x->gen}};
}

static void floor_rel(void *scope, bench_handle h)
{
    struct floor *f = scope;
    rgn_key_t k = h.key;
    /* The head's generation stays 0, never odd. */
    if (k.region != f->id || k.slot >= f->used || !(k.gen & 1) ||
        f->s[k.slot].gen != k.gen)
        return;
    struct fslot *s = f->s, *x = &s[k.slot];
    s[x->prev].next = x->next;
    s[x->next].prev = x->prev;
    if (x->gen++ != UINT32_MAX) { /* else retired: never reused */
        x->next = f->free;
        f->free = k.slot;
    }
    x->fn(x->res, RGN_RELEASE_EARLY);
}

static void floor_end(void *scope)
{
    struct floor *f = scope;
    struct fslot *s = f->s;
    for (uint32_t i = s[0].next; i; i = s[i].next)
        s[i].fn(s[i].res, RGN_RELEASE_NORMAL);
    if (s != f->inl)
        free(s);
    free(f);
}

static double floor_bytes(size_t n)
{
    size_t cap = FLOOR_FIRST;
    while (cap < n + 1)
        cap *= 2;
    return (double)(cap * sizeof(struct fslot) + sizeof(struct floor)) /
           (double)n;
}

const struct bench_impl bench_floor = {
    "floor",   NULL, floor_create, floor_add, floor_rel,
    floor_end, NULL, floor_bytes,  NULL,      NULL,
};

/* SPDX-License-Identifier: MIT */
/*
 * cache.c -- regions kept for reuse, per thread.
 *
 * A server that keeps a region per connection closes thousands of them
 * together and makes as many again.  Given back to malloc, a region (544
 * bytes) and its first slot block (896) are past glibc's fastbins: many
 * freed at once merge into the top of the heap, glibc trims it, and the
 * next round faults the pages in again -- fill+close of 4,096 regions of
 * one resource cost six times APR's.  So a closed region goes to its
 * thread's cache, its first slot block still attached (a bigger one is
 * given back), and the thread's next region comes from there: no
 * allocation, no fault.  The cache is bounded (CACHE_BYTES a thread),
 * emptied at thread exit and by rgn_trim, and left out where ASan or
 * memcheck watch the program, so that a region used after its close is
 * still a use after free to them.  A forked child keeps the forking
 * thread's cache.
 *
 * Regions of rgn's own only: audited ones wait in the audit's quarantine
 * instead.  Calls the allocator and the arena's trim.
 *
 * Floor 1, the region core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <pthread.h>

#define CACHE_BYTES (4u << 20)
#define BLOCK_SLOTS 32u /* the slot map's first block (map.c) */

struct region_cache {
    rgn_t *head; /* linked through close_outer */
    size_t bytes;
    bool gone; /* the thread is exiting: keep nothing more */
    bool key_set;
};

static __thread struct region_cache cache
    __attribute__((tls_model("initial-exec")));
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_key_made;

static size_t footprint(const rgn_t *r)
{
    size_t slot = sizeof(struct rgn_cb) + sizeof(struct rgn_link);
    return sizeof *r + (r->slots.cap == BLOCK_SLOTS ? BLOCK_SLOTS * slot : 0);
}

static size_t cache_empty(struct region_cache *k)
{
    size_t bytes = k->bytes;
    rgn_t *r = k->head;
    k->head = NULL;
    k->bytes = 0;
    while (r) {
        rgn_t *next = r->close_outer;
        rgn__slots_destroy(&r->slots);
        rgn__free(r);
        r = next;
    }
    return bytes;
}

static void cache_at_exit(void *arg)
{
    struct region_cache *k = arg;
    k->gone = true;
    cache_empty(k);
}

static void cache_key_make(void)
{
    cache_key_made = pthread_key_create(&cache_key, cache_at_exit) == 0;
}

bool rgn__cache_keep(rgn_t *r)
{
    struct region_cache *k = &cache;
    if (RGN_UNLIKELY(k->gone || rgn__tools_on()))
        return false;
    if (r->slots.cap != BLOCK_SLOTS && r->slots.cap != RGN_INLINE_SLOTS) {
        rgn__slots_destroy(&r->slots); /* only the first block stays */
        r->slots.cap = RGN_INLINE_SLOTS;
    }
    size_t size = footprint(r);
    if (k->bytes + size > CACHE_BYTES)
        return false;
    if (RGN_UNLIKELY(!k->key_set)) {
        pthread_once(&cache_once, cache_key_make);
        if (!cache_key_made || pthread_setspecific(cache_key, k) != 0)
            return false;
        k->key_set = true;
    }
    r->close_outer = k->head;
    k->head = r;
    k->bytes += size;
    return true;
}

rgn_t *rgn__cache_take(void)
{
    struct region_cache *k = &cache;
    rgn_t *r = k->head;
    if (RGN_LIKELY(r != NULL)) {
        k->head = r->close_outer;
        k->bytes -= footprint(r);
    }
    return r;
}

size_t rgn_trim(void)
{
    return cache_empty(&cache) + rgn__arena_trim();
}

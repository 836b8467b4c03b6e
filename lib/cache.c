/* SPDX-License-Identifier: MIT */
/*
 * cache.c -- regions kept for reuse, per thread.
 *
 * A server that keeps a region per connection closes thousands of them
 * together and makes as many again.  Given back to malloc, a region (560
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
 * The keep and the take are inline in region.h, where a region's close
 * and creation make them (so creating and closing an empty region cost
 * 145 instructions against 178 for the slot-map floor's malloc and free,
 * make bench-ir); this file opens the cache on a thread's first keep and
 * empties it.  Regions of rgn's own only: audited ones wait in the
 * audit's quarantine instead.  Calls the allocator and the arena's trim.
 *
 * Floor 1, the region core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <pthread.h>

#define CACHE_BYTES (4u << 20)

__thread struct rgn_cache rgn__cache
    __attribute__((tls_model("initial-exec")));
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_key_made;

/* Frees what k keeps; returns how many bytes that was. */
static size_t cache_empty(struct rgn_cache *k)
{
    size_t bytes = k->limit - k->room;
    rgn_t *r = k->head;
    k->head = NULL;
    k->room = k->limit;
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
    struct rgn_cache *k = arg;
    cache_empty(k);
    k->limit = k->room = 0; /* the thread is exiting: keep nothing more */
}

static void cache_key_make(void)
{
    cache_key_made = pthread_key_create(&cache_key, cache_at_exit) == 0;
}

/*
 * The thread's first keep (room 0 and no limit yet): opens the cache,
 * unless a tool watches or the key that empties it at thread exit cannot
 * be set, and keeps r; else, or when the cache is full, or the thread
 * exits, false.  So the inline keep tests only the room.
 */
bool rgn__cache_keep_slow(rgn_t *r)
{
    struct rgn_cache *k = &rgn__cache;
    if (k->limit != 0 || k->opened)
        return false; /* full, or the thread is exiting */
    k->opened = true;
    if (rgn__tools_on())
        return false;
    pthread_once(&cache_once, cache_key_make);
    if (!cache_key_made || pthread_setspecific(cache_key, k) != 0)
        return false;
    k->limit = k->room = CACHE_BYTES;
    return rgn__cache_keep(r);
}

size_t rgn_trim(void)
{
    return cache_empty(&rgn__cache) + rgn__arena_trim();
}

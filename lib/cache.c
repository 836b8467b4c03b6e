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
 * allocation, no fault.
 *
 * The bound follows the thread's demand, as jemalloc's and tcmalloc's
 * thread caches do.  It starts at CACHE_BYTES (4 MB: some 7,400 regions
 * of up to 8 resources).  Each region made while the cache had none to
 * give lets a later keep that finds it full grow it by one region, up to
 * CACHE_MAX (64 MB): a thread that closes 65,536 regions together keeps
 * them all, where with a fixed 4 MB the rest went back to glibc, which
 * trimmed its heap, and the next round faulted 8,200 pages in again (241
 * ns a region against 39 kept).  What grows comes back: the thread's
 * region making looks every 4,096 regions (rgn__cache_look), and once a
 * second at most gives back half of what the cache kept at every look
 * of the second, less a region's struct for each of the 4,096 takes that
 * may have come between two looks -- what nobody needed (tcmalloc's
 * low-water mark) -- down to the first bound.  A thread that stops
 * making regions keeps what it holds until it exits or calls rgn_trim,
 * which gives back everything and the growth.  Emptied at thread exit
 * and left out where ASan or memcheck watch the program, so that a
 * region used after its close is still a use after free to them.  A
 * forked child keeps the forking thread's cache.
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
#include <time.h>

#define CACHE_BYTES (4u << 20)
#define CACHE_MAX (64u << 20)
/* How often, at most, a look gives back. */
#define CACHE_WINDOW_NS 1000000000u

__thread struct rgn_cache rgn__cache
    __attribute__((tls_model("initial-exec")));
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_key_made;

/* Frees k's newest region; returns the bytes it held. */
static size_t cache_free_one(struct rgn_cache *k)
{
    rgn_t *r = k->head;
    size_t size = rgn__cache_size(r);
    k->head = r->close_outer;
    k->room += size;
    rgn__slots_destroy(&r->slots);
    rgn__region_memory_free(r);
    return size;
}

/* Frees what k keeps, and forgets its growth; returns how many bytes it
 * kept. */
static size_t cache_empty(struct rgn_cache *k)
{
    size_t bytes = 0;
    while (k->head)
        bytes += cache_free_one(k);
    if (k->limit > CACHE_BYTES)
        k->limit = k->room = CACHE_BYTES;
    k->owed = 0;
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
    rgn__race_release(&cache_once);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* a read of the vDSO */
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Opens the cache on the thread's first keep, unless a tool watches or
 * the key that empties it at thread exit cannot be set. */
static bool cache_open(struct rgn_cache *k)
{
    k->opened = true;
    if (rgn__tools_on())
        return false;
    rgn__once(&cache_once, cache_key_make);
    if (!cache_key_made || pthread_setspecific(cache_key, k) != 0)
        return false;
    k->limit = k->room = CACHE_BYTES;
    return true;
}

/*
 * A keep that found no room: the thread's first (room 0 and no limit
 * yet) opens the cache; a full cache grows by r when a region made while
 * it was empty is owed, up to CACHE_MAX; else, and where a tool watches
 * or the thread exits, false.  So the inline keep tests only the room.
 */
bool rgn__cache_keep_slow(rgn_t *r)
{
    struct rgn_cache *k = &rgn__cache;
    if (k->limit == 0) {
        if (k->opened || !cache_open(k))
            return false; /* a tool watches, or the thread is exiting */
        return rgn__cache_keep(r);
    }
    size_t size = rgn__cache_size(r);
    if (k->owed == 0 || k->limit - k->room + size > CACHE_MAX)
        return false;
    k->owed--;
    k->limit += size;
    k->room += size;
    return rgn__cache_keep(r);
}

void rgn__cache_look(size_t made)
{
    struct rgn_cache *k = &rgn__cache;
    if (k->limit <= CACHE_BYTES) {
        k->window_at = 0; /* not grown (or not open): nothing to give */
        return;
    }
    size_t kept = k->limit - k->room;
    uint64_t now = now_ns();
    if (k->window_at == 0) { /* grown since the last look */
        k->window_at = now;
        k->low = kept;
        return;
    }
    if (kept < k->low)
        k->low = kept;
    if (now - k->window_at < CACHE_WINDOW_NS)
        return;
    /* Between two looks `made` takes may have dipped further: by a
     * region's struct each, as most are.  Where they held first slot
     * blocks too, half of the low still leaves them room. */
    size_t dip = made * sizeof(rgn_t);
    size_t idle = k->low > dip ? k->low - dip : 0;
    size_t give = idle / 2, grown = k->limit - CACHE_BYTES;
    if (give > grown)
        give = grown;
    size_t freed = 0;
    while (freed < give && k->head)
        freed += cache_free_one(k);
    /* The bound shrinks by what went, not below the first (the last
     * region freed may overshoot give); the room follows from it. */
    kept -= freed;
    k->limit = k->limit - freed > CACHE_BYTES ? k->limit - freed : CACHE_BYTES;
    k->room = k->limit - kept;
    k->low = kept;
    k->window_at = now;
}

size_t rgn_trim(void)
{
    return cache_empty(&rgn__cache) + rgn__arena_trim();
}

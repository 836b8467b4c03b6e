/* SPDX-License-Identifier: MIT */
/*
 * resource.h -- what the files that register resources share: the
 * registration path of resource.c, handing keys to callers, the
 * rgn_malloc block header (convenience.c), the arena's hooks (arena.c)
 * and a region's counters (stats.c).
 */
#ifndef RGN_RESOURCE_H
#define RGN_RESOURCE_H

#include "base.h"
#include "region.h"
#include "tools.h"

/* Where a registration comes from, for the audit. */
struct rgn_from {
    const struct rgn_site *site;
    const char *label;
    uint64_t bytes;              /* its size, 0 when it has none */
    const struct rgn_kind *kind; /* NULL: an ordinary cleanup */
    const char *call; /* the public call, for a use-after-close report;
                         NULL: rgn_register */
};

/* Registers fn(resource) in r with its origin; on failure runs it at once
 * (RGN_RELEASE_ERROR) and returns the error, as rgn_register does, but
 * without rgn_register's dispatch on children and blocks. */
RGN_HIDDEN int rgn__register_slot(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                                  rgn_key_t *key, const struct rgn_from *o);

/* rgn__register_slot that also keeps the key in *kept (an rgn_malloc
 * block's header): *kept is written only once the resource is in r; on
 * failure the resource is given back at once, *key is RGN_KEY_NONE. */
RGN_HIDDEN int rgn__register_keeping(rgn_t *r, rgn_cleanup_fn fn,
                                     void *resource, rgn_key_t *kept,
                                     rgn_key_t *key, const struct rgn_from *o);

/*
 * Stores a key for the caller.  Callers pass keys by value, which loads
 * the key as two 64-bit words, usually right after this store.  The load
 * is forwarded from the store only if each word was stored whole: two
 * 32-bit stores of slot and gen, or one 128-bit store of the whole key
 * (which compilers like to merge the two into), stall it instead.  That
 * stall doubled the cost of a register+release pair on these machines.
 */
static inline void rgn__key_store(rgn_key_t *dst, rgn_key_t k)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t slot_gen = (uint64_t)k.gen << 32 | k.slot;
    dst->region = k.region;
    __asm__("" : : "r"(dst) : "memory"); /* keep the stores apart */
    memcpy((char *)dst + offsetof(rgn_key_t, slot), &slot_gen,
           sizeof slot_gen);
#else
    *dst = k;
#endif
}

/* The cleanup of an rgn_malloc block, whose resource is the caller's
 * pointer and whose header, just before it, holds its key: registering
 * and moving store the key there (resource.c). */
#define RGN_BLOCK_HEADER 16u
/* rgn__free_block is declared in rgn.h, exported for the inline paths. */
static inline rgn_key_t *rgn__block_key(void *p)
{
    return (rgn_key_t *)((char *)p - RGN_BLOCK_HEADER);
}
/* rgn_realloc's move of a block's slot to its new address. */
RGN_HIDDEN int rgn__resource_realloc(rgn_t *r, rgn_key_t key, void *old,
                                     size_t bytes, void **moved);

/* rgn_alloc_at when the bump does not fit, r needs its lock, or a
 * memory tool is on; site as rgn_alloc_at's, call the public call's name
 * for a use after close. */
RGN_HIDDEN void *rgn__arena_alloc_slow(rgn_t *r, size_t size,
                                       const struct rgn_site *site,
                                       const char *call);
/* Gives back r's arena (the region is being freed; no lock held):
 * checks RGN_ARENA_FILL's sentinels, reporting and aborting as `audited`
 * (the audit mode r had) says. */
RGN_HIDDEN void rgn__arena_free(rgn_t *r, rgn_audit_mode audited);
/* Empties the calling thread's cache of arena chunks; its bytes. */
RGN_HIDDEN size_t rgn__arena_trim(void);
/* Bytes r's arena holds: its chunks, and what it used of the region's
 * own; r locked or unshared. */
RGN_HIDDEN uint64_t rgn__arena_bytes(const rgn_t *r);
/* Empties r's arena for reuse, keeping the chunks of this round's
 * largest size (rgn_clear); r locked and clearing, or unshared. */
RGN_HIDDEN void rgn__arena_reset(rgn_t *r);
/* The arena of a region kept closed in the audit's quarantine: empty,
 * and, where a memory tool is on, its inline bytes out of bounds. */
RGN_HIDDEN void rgn__arena_bury(rgn_t *r);
/* A new region's arena: its inline bytes, which rgn_alloc's bump sees
 * only where no memory tool is on (tools.h). */
static inline void rgn__arena_init(rgn_t *r)
{
    r->arena_at = r->arena_inline;
    r->arena_end =
        r->arena_inline + __atomic_load_n(&rgn__inline_room, __ATOMIC_RELAXED);
    r->chunks = r->kept = NULL;
}

/* A registration by one of rgn's ready-made resources: of kind (its
 * describe, for reports; no label) and bytes, as rgn_register_sized;
 * call is the public call's name, for a use-after-close report. */
RGN_HIDDEN int rgn__register_kinded(rgn_t *r, rgn_cleanup_fn fn,
                                    void *resource, rgn_key_t *key,
                                    uint64_t bytes,
                                    const struct rgn_kind *kind,
                                    const char *call,
                                    const struct rgn_site *site);

/* ---- kinds (kind.c) ---------------------------------------------------- */

/* Room to remember slot i's kind when r remembers kinds or k is one;
 * false when memory ran out.  r locked, tracked. */
RGN_HIDDEN bool rgn__kinds_reserve(rgn_t *r, uint32_t i,
                                   const struct rgn_kind *k);
/* Slot i (reserved) now holds a resource of kind k (NULL: none). */
RGN_HIDDEN void rgn__kinds_set(rgn_t *r, uint32_t i, const struct rgn_kind *k);
/* The kind slot i's resource was registered with, if r remembers it. */
RGN_HIDDEN const struct rgn_kind *rgn__kind_at(const rgn_t *r, uint32_t i);
/* Before a close or clear runs r's cleanups (r locked): orders its live
 * resources by their kinds' priorities, newest first within one. */
RGN_HIDDEN void rgn__kinds_order(rgn_t *r);

/* Fills *out with r's counters (lifetimes 0); r locked or unshared. */
RGN_HIDDEN void rgn__counters(const rgn_t *r, rgn_stats *out);
/* rgn_clear's: r's counters start again, r locked or unshared, holding
 * nothing live; a tracked r keeps what they were in tracking->cleared. */
RGN_HIDDEN void rgn__counters_restart(rgn_t *r);

#endif /* RGN_RESOURCE_H */

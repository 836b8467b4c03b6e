/* SPDX-License-Identifier: MIT */
/*
 * map.h -- the slot map: a region's resources by key.  A data structure
 * of its own, knowing nothing of regions, locks or the audit; its owner
 * (struct rgn) serialises access.  The O(1) operations that run on every
 * register and release are inline here; growing and freeing the storage
 * are in map.c.
 *
 * Slot i has two halves:
 *   cb[i]  the cleanup and its resource (what close needs),
 *   ln[i]  the slot's generation and its links (what keys and order need),
 * so a slot costs 28 bytes with no padding.  Live slots form a circular
 * doubly linked list through ln[].prev/next with slot 0 as the head:
 * head.next is the newest resource, so close pops from the head and any
 * slot can be unlinked in O(1).  Free slots form a stack through ln[].next.
 *
 * cb[] and ln[] are two flat arrays, so slot i is one load of the array's
 * base away: every register and release touches several slots, and a
 * table of blocks in between would put a dependent load in front of each.
 * The first RGN_INLINE_SLOTS slots are storage the owner provides (inside
 * the region, so a small region costs one allocation); beyond them both
 * arrays grow (map.c).  Nothing keeps a slot's address across a call that
 * may grow the arrays: slots are named by index everywhere.
 *
 * A slot's generation is odd while it holds a live resource and even while
 * it is free, reserved or retired; keys carry odd generations only.  So no
 * key -- stale, forged or uninitialised -- can ever match a slot that is
 * not live.  RGN_GEN_MAX is the last live generation a slot may carry;
 * tests lower it to reach retirement quickly.
 *
 * An owner may let a reader on another thread read the counts `live`
 * and `peak`, and nothing else of the map, while it changes the map
 * without serialising: rgn__slots_live reads them as relaxed atomics,
 * and the _published link and unlink store them so (the audit's lean
 * resources, audit.h).  The other calls store them plainly: as a memory
 * operand, `live--` is one instruction, its atomic store three, and a
 * plain register+release pair paid 7 more for that.
 */
#ifndef RGN_MAP_H
#define RGN_MAP_H

#include "base.h"

#ifndef RGN_GEN_MAX
#define RGN_GEN_MAX UINT32_MAX
#endif

/* Slots in the owner's own storage, before the arrays first grow. */
#define RGN_INLINE_SLOTS 8u
/* Slots in the block the arrays first grow into (map.c, next_cap). */
#define RGN_FIRST_BLOCK 32u
/* How far ahead rgn__slot_pop_from fetches, in slots (see there). */
#define RGN_POP_AHEAD 64u
/* Slot indices are 32-bit; the arrays stop growing here. */
#define RGN_MAX_SLOTS (UINT32_MAX - 1u)

struct rgn_cb {
    rgn_cleanup_fn fn;
    void *resource;
};

struct rgn_link {
    uint32_t gen;  /* bumped each time the slot's resource leaves */
    uint32_t prev; /* live list; unused while free */
    uint32_t next; /* live list, or the free stack */
};

/* Every field is touched by a register and a release (56 bytes). */
struct rgn_slots {
    struct rgn_cb *cb; /* the owner's inline storage until grown */
    struct rgn_link *ln;
    uint64_t id;        /* the map's name in its keys, never 0 */
    uint32_t free_head; /* top of the free stack, 0 when empty */
    uint32_t used;      /* slots handed out at least once */
    uint32_t cap;       /* slots cb[] and ln[] have room for;
                           RGN_INLINE_SLOTS: still the inline ones */
    size_t live;        /* linked slots */
    size_t peak;        /* the most there ever were */
};

static inline struct rgn_link *rgn__ln(struct rgn_slots *s, uint32_t i)
{
    return &s->ln[i];
}

static inline struct rgn_cb *rgn__cb(struct rgn_slots *s, uint32_t i)
{
    return &s->cb[i];
}

/* The live list's head: slot 0. */
static inline struct rgn_link *rgn__head(struct rgn_slots *s)
{
    return &s->ln[0];
}

/* An empty map named id in the owner's RGN_INLINE_SLOTS slots.  Slots
 * beyond the head are initialised when first used. */
static inline void rgn__slots_init(struct rgn_slots *s, uint64_t id,
                                   struct rgn_cb *cb, struct rgn_link *ln)
{
    s->cb = cb;
    s->ln = ln;
    s->id = id;
    s->free_head = 0;
    s->used = 1; /* slot 0 is the live list's head */
    s->cap = RGN_INLINE_SLOTS;
    s->live = s->peak = 0;
    ln[0] = (struct rgn_link){0, 0, 0};
}

/* An empty map named id in the storage s already has (a map kept for
 * reuse): nothing is allocated or freed. */
static inline void rgn__slots_reuse(struct rgn_slots *s, uint64_t id)
{
    s->id = id;
    s->free_head = 0;
    s->used = 1;
    s->live = s->peak = 0;
    s->ln[0] = (struct rgn_link){0, 0, 0};
}

/* Adds storage for at least one more slot; false when out of memory. */
RGN_HIDDEN bool rgn__slots_grow(struct rgn_slots *s);
/* Frees storage the map grew into. */
RGN_HIDDEN void rgn__slots_free(struct rgn_slots *s);
static inline void rgn__slots_destroy(struct rgn_slots *s)
{
    if (s->cap != RGN_INLINE_SLOTS)
        rgn__slots_free(s);
}

/* Index of a free slot taken without growing the arrays, or 0 when none
 * is at hand.  The slot is reserved: dead to every key until
 * rgn__slot_link.  It makes no call, so a caller's fast path need not. */
static inline uint32_t rgn__slot_take_at_hand(struct rgn_slots *s)
{
    uint32_t i = s->free_head;
    if (RGN_LIKELY(i)) {
        s->free_head = rgn__ln(s, i)->next;
        return i;
    }
    /* Never-used slots are handed out lazily, so growing costs no writes
     * beyond the copy until the new slots are needed. */
    if (s->used == s->cap)
        return 0;
    i = s->used++;
    rgn__ln(s, i)->gen = 0;
    return i;
}

/* Index of a free slot, growing the arrays when none is at hand; 0 when
 * memory ran out.  Reserved, as above. */
static inline uint32_t rgn__slot_take(struct rgn_slots *s)
{
    uint32_t i = rgn__slot_take_at_hand(s);
    if (RGN_LIKELY(i) || !rgn__slots_grow(s))
        return i;
    return rgn__slot_take_at_hand(s);
}

/* Returns a reserved, never-linked slot to the free stack. */
static inline void rgn__slot_untake(struct rgn_slots *s, uint32_t i)
{
    rgn__ln(s, i)->next = s->free_head;
    s->free_head = i;
}

/* Stores a count a reader may read meanwhile (published), or plainly. */
#define RGN_SLOTS_COUNT_(field, value, published)                             \
    do {                                                                      \
        if (published)                                                        \
            __atomic_store_n(&(field), (value), __ATOMIC_RELAXED);            \
        else                                                                  \
            (field) = (value);                                                \
    } while (0)

static inline __attribute__((always_inline)) rgn_key_t
rgn__slot_link_(struct rgn_slots *s, uint32_t i, rgn_cleanup_fn fn,
                void *resource, bool published)
{
    struct rgn_link *head = rgn__head(s);
    struct rgn_link *l = rgn__ln(s, i);
    struct rgn_cb *cb = rgn__cb(s, i);
    RGN_ASSERT(i != 0 && i < s->used && !(l->gen & 1)); /* reserved */

    cb->fn = fn;
    cb->resource = resource;
    l->gen++; /* odd: live */
    l->prev = 0;
    l->next = head->next;
    rgn__ln(s, head->next)->prev = i;
    head->next = i;

    size_t live = s->live + 1;
    RGN_SLOTS_COUNT_(s->live, live, published);
    if (live > s->peak)
        RGN_SLOTS_COUNT_(s->peak, live, published);
    return (rgn_key_t){s->id, i, l->gen};
}

/* Makes reserved slot i the newest live resource and returns its key. */
static inline rgn_key_t rgn__slot_link(struct rgn_slots *s, uint32_t i,
                                       rgn_cleanup_fn fn, void *resource)
{
    return rgn__slot_link_(s, i, fn, resource, false);
}
static inline rgn_key_t rgn__slot_link_published(struct rgn_slots *s,
                                                 uint32_t i, rgn_cleanup_fn fn,
                                                 void *resource)
{
    return rgn__slot_link_(s, i, fn, resource, true);
}

/* Slot index of key when it is live in s, else 0. */
static inline uint32_t rgn__slot_find(struct rgn_slots *s, rgn_key_t key)
{
    /* Slot 0 needs no test: the head's generation stays 0, never odd. */
    if (key.region != s->id || key.slot >= s->used || !(key.gen & 1) ||
        rgn__ln(s, key.slot)->gen != key.gen)
        return 0;
    /* Matched, so not the head: callers need not test the slot again. */
    if (key.slot == 0)
        __builtin_unreachable();
    return key.slot;
}

static inline __attribute__((always_inline)) struct rgn_cb
rgn__slot_unlink_(struct rgn_slots *s, uint32_t i, bool published)
{
    struct rgn_link *l = rgn__ln(s, i);
    struct rgn_cb cb = *rgn__cb(s, i);
    RGN_ASSERT(i != 0 && (l->gen & 1) && s->live > 0); /* live */
    RGN_ASSERT(rgn__ln(s, l->prev)->next == i);

    rgn__ln(s, l->prev)->next = l->next;
    rgn__ln(s, l->next)->prev = l->prev;
    RGN_SLOTS_COUNT_(s->live, s->live - 1, published);

    /* A slot whose generation would wrap is retired rather than reused:
     * reuse could let a key issued 2^31 lives ago match again. */
    bool worn_out = l->gen >= RGN_GEN_MAX;
    l->gen++; /* even: dead */
    if (RGN_LIKELY(!worn_out)) {
        l->next = s->free_head;
        s->free_head = i;
    }
    return cb;
}

/* Unlinks live slot i, kills its key and frees it; returns its cleanup. */
static inline struct rgn_cb rgn__slot_unlink(struct rgn_slots *s, uint32_t i)
{
    return rgn__slot_unlink_(s, i, false);
}
static inline struct rgn_cb rgn__slot_unlink_published(struct rgn_slots *s,
                                                       uint32_t i)
{
    return rgn__slot_unlink_(s, i, true);
}

/*
 * Pops the newest live resource for a closing owner, or returns false
 * when none is left.  Cheaper than rgn__slot_unlink: the slot's prev is
 * the head, and the slot is not put back on the free stack, because a
 * closing region takes no new registrations.  Its generation still turns
 * even, so a cleanup that releases it again gets -ENOENT.
 *
 * The map's arrays are given, ln and cb, which must be s's (RGN_ASSERT
 * checks): a closing owner's map never grows, so its loop reads them
 * once, not after every cleanup.  rgn__slot_pop reads them itself.
 *
 * ahead, a constant in the caller, for a map of more than RGN_POP_AHEAD
 * slots (rgn__slots_big): the walk is a chain of dependent loads, and a
 * big map is out of the cache when it closes.  Slots are handed out in
 * rising order, so a walk newest first usually descends, and the slots
 * RGN_POP_AHEAD below are fetched while the cleanup runs.  make bench's
 * "close per resource, N=1e3" (1,000 regions of 1,000, all closed) went
 * from 6.3-7.3 ns a resource to 3.0-3.7, the baseline's array 2.7 (in a
 * loop of its own: 16 slots ahead 4 ns, 32 3.3, 64 and 128 2.7; the
 * close of a map that fits in the cache gains nothing).  A guess: where the
 * order is another, it fetches lines of the arrays that are not needed
 * yet.  Tested in every pop, it cost a small region's close three
 * instructions a resource; the owner tests once.
 */
static inline __attribute__((always_inline)) bool
rgn__slot_pop_from(struct rgn_slots *s, struct rgn_link *ln,
                   const struct rgn_cb *cb, struct rgn_cb *out, bool ahead)
{
    RGN_ASSERT(ln == s->ln && cb == s->cb);
    uint32_t i = ln[0].next;
    if (!i)
        return false;
    struct rgn_link *l = &ln[i];
    RGN_ASSERT((l->gen & 1) && l->prev == 0 && s->live > 0);
    *out = cb[i];
    ln[0].next = l->next;
    ln[l->next].prev = 0;
    l->gen++;
    s->live--;
    if (ahead && i > RGN_POP_AHEAD) {
        __builtin_prefetch(&ln[i - RGN_POP_AHEAD], 1);
        __builtin_prefetch(&cb[i - RGN_POP_AHEAD]);
    }
    return true;
}

/* Whether a closing owner's pops should fetch ahead (above). */
static inline bool rgn__slots_big(const struct rgn_slots *s)
{
    return s->cap > RGN_POP_AHEAD;
}

static inline bool rgn__slot_pop(struct rgn_slots *s, struct rgn_cb *out)
{
    return rgn__slot_pop_from(s, s->ln, s->cb, out, false);
}

/* The live count and the peak, as a reader on another thread may read
 * them while the owner changes the map. */
static inline size_t rgn__slots_live(const struct rgn_slots *s)
{
    return __atomic_load_n(&s->live, __ATOMIC_RELAXED);
}
static inline size_t rgn__slots_peak(const struct rgn_slots *s)
{
    return __atomic_load_n(&s->peak, __ATOMIC_RELAXED);
}

/* The newest live slot, or 0 when none is live; ln[i].next is the next
 * older one, ln[i].prev the next newer one. */
static inline uint32_t rgn__slot_newest(struct rgn_slots *s)
{
    return rgn__head(s)->next;
}

/* The oldest live slot, or 0 when none is live. */
static inline uint32_t rgn__slot_oldest(struct rgn_slots *s)
{
    return rgn__head(s)->prev;
}

#endif /* RGN_MAP_H */

/* SPDX-License-Identifier: MIT */
/*
 * map.h -- a region's slot map: the free stack, generational keys and the
 * newest-first live list.  Every operation here is O(1) and runs on each
 * register and release, so they are inline; growing and destroying the
 * storage are in map.c.  The caller holds the region's lock.
 *
 * A slot's generation is odd while it holds a live resource and even while
 * it is free, reserved or retired; keys carry odd generations only.  So no
 * key -- stale, forged or uninitialised -- can ever match a slot that is
 * not live.  RGN_GEN_MAX is the last live generation a slot may carry;
 * tests lower it to reach retirement quickly.
 */
#ifndef RGN_MAP_H
#define RGN_MAP_H

#ifndef RGN_GEN_MAX
#define RGN_GEN_MAX UINT32_MAX
#endif

static inline struct rgn_link *rgn__ln(rgn_t *r, uint32_t i)
{
    return &r->ln[i];
}

static inline struct rgn_cb *rgn__cb(rgn_t *r, uint32_t i)
{
    return &r->cb[i];
}

/* The live list's head: slot 0. */
static inline struct rgn_link *rgn__head(rgn_t *r)
{
    return &r->ln[0];
}

/* Adds storage for at least one more slot; false when out of memory. */
RGN_HIDDEN bool rgn__slots_grow(rgn_t *r);
/* Frees the arrays once they have left the region; the region itself is
 * freed by the caller. */
RGN_HIDDEN void rgn__slots_free(rgn_t *r);
static inline void rgn__slots_destroy(rgn_t *r)
{
    if (r->cb != r->inline_cb)
        rgn__slots_free(r);
}

/* Index of a free slot taken off the free stack, or 0 when memory ran out.
 * The slot is reserved: dead to every key until rgn__slot_link. */
static inline uint32_t rgn__slot_take(rgn_t *r)
{
    uint32_t i = r->free_head;
    if (RGN_LIKELY(i)) {
        r->free_head = rgn__ln(r, i)->next;
        return i;
    }
    /* Never-used slots are handed out lazily, so growing costs no writes
     * beyond the copy until the new slots are needed. */
    if (r->used == r->cap && !rgn__slots_grow(r))
        return 0;
    i = r->used++;
    rgn__ln(r, i)->gen = 0;
    return i;
}

/* Returns a reserved, never-linked slot to the free stack. */
static inline void rgn__slot_untake(rgn_t *r, uint32_t i)
{
    rgn__ln(r, i)->next = r->free_head;
    r->free_head = i;
}

/* Makes reserved slot i the newest live resource and returns its key. */
static inline rgn_key_t rgn__slot_link(rgn_t *r, uint32_t i,
                                       rgn_cleanup_fn fn, void *resource)
{
    struct rgn_link *head = rgn__head(r);
    struct rgn_link *l = rgn__ln(r, i);
    struct rgn_cb *cb = rgn__cb(r, i);
    RGN_ASSERT(i != 0 && i < r->used && !(l->gen & 1)); /* reserved */

    cb->fn = fn;
    cb->resource = resource;
    l->gen++; /* odd: live */
    l->prev = 0;
    l->next = head->next;
    rgn__ln(r, head->next)->prev = i;
    head->next = i;

    if (++r->live > r->peak)
        r->peak = r->live;
    return (rgn_key_t){r->id, i, l->gen};
}

/* Slot index of key when it is live in r, else 0. */
static inline uint32_t rgn__slot_find(rgn_t *r, rgn_key_t key)
{
    /* Slot 0 needs no test: the head's generation stays 0, never odd. */
    if (key.region != r->id || key.slot >= r->used || !(key.gen & 1))
        return 0;
    return rgn__ln(r, key.slot)->gen == key.gen ? key.slot : 0;
}

/* Unlinks live slot i, kills its key and frees it; returns its cleanup. */
static inline struct rgn_cb rgn__slot_unlink(rgn_t *r, uint32_t i)
{
    struct rgn_link *l = rgn__ln(r, i);
    struct rgn_cb cb = *rgn__cb(r, i);
    RGN_ASSERT(i != 0 && (l->gen & 1) && r->live > 0); /* live */
    RGN_ASSERT(rgn__ln(r, l->prev)->next == i);

    rgn__ln(r, l->prev)->next = l->next;
    rgn__ln(r, l->next)->prev = l->prev;
    r->live--;

    /* A slot whose generation would wrap is retired rather than reused:
     * reuse could let a key issued 2^31 lives ago match again. */
    bool worn_out = l->gen >= RGN_GEN_MAX;
    l->gen++; /* even: dead */
    if (RGN_LIKELY(!worn_out)) {
        l->next = r->free_head;
        r->free_head = i;
    }
    return cb;
}

/*
 * Pops the newest live resource for a closing region, or returns false
 * when none is left.  Cheaper than rgn__slot_unlink: the slot's prev is
 * the head, and the slot is not put back on the free stack, because a
 * closing region takes no new registrations.  Its generation still turns
 * even, so a cleanup that releases it again gets -ENOENT.
 */
static inline bool rgn__slot_pop(rgn_t *r, struct rgn_cb *out)
{
    struct rgn_link *head = rgn__head(r);
    uint32_t i = head->next;
    if (!i)
        return false;
    struct rgn_link *l = rgn__ln(r, i);
    RGN_ASSERT((l->gen & 1) && l->prev == 0 && r->live > 0);
    *out = *rgn__cb(r, i);
    head->next = l->next;
    rgn__ln(r, l->next)->prev = 0;
    l->gen++;
    r->live--;
    r->closed++;
    return true;
}

/* The newest live slot, or 0 when none is live. */
static inline uint32_t rgn__slot_newest(rgn_t *r)
{
    return rgn__head(r)->next;
}

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

/* Runs a cleanup and counts a non-zero result in r (which may be NULL).
 * The caller preserves errno. */
static inline int rgn__run_raw(rgn_t *r, struct rgn_cb cb,
                               rgn_release_type how)
{
    int rc = cb.fn(cb.resource, how);
    if (RGN_UNLIKELY(rc != 0) && r)
        rgn__cleanup_failed(r, rc, cb.resource, how);
    return rc;
}

/* errno's address for this thread, found once: &errno is a call into libc
 * on every use, and a release would pay it twice. */
RGN_HIDDEN extern __thread int *rgn__errno_at
    __attribute__((tls_model("initial-exec")));

static inline int *rgn__errno(void)
{
    int *e = rgn__errno_at;
    if (RGN_UNLIKELY(!e))
        e = rgn__errno_at = &errno;
    return e;
}

/* Runs one cleanup with errno preserved around it. */
static inline int rgn__run(rgn_t *r, struct rgn_cb cb, rgn_release_type how)
{
    int *err = rgn__errno();
    int saved = *err;
    int rc = rgn__run_raw(r, cb, how);
    *err = saved;
    return rc;
}

#endif /* RGN_MAP_H */

/* SPDX-License-Identifier: MIT */
/*
 * resource.c -- registering, releasing, unprotecting and moving resources.
 * Cleanups always run outside the region's lock, so they may call rgn on
 * the same region.
 *
 * Owns the registration path (rgn__register_slot) and the per-call
 * counters.  May call: the slot map, the region's lock, region.c,
 * child.c (a handed-back child registered again), the audit's hooks
 * (hooks.h), convenience.c's block header, index.c's hook.
 *
 * Floor 1, the region core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <pthread.h>

/* A failed registration gives the resource back at once, as promised,
 * and notes the refusal (after the cleanup, whatever it returned). */
static int refuse(rgn_t *r, rgn_cleanup_fn fn, void *resource, rgn_key_t *key,
                  int err)
{
    if (key)
        *key = RGN_KEY_NONE;
    if (fn)
        rgn__run(r, (struct rgn_cb){fn, resource}, RGN_RELEASE_ERROR,
                 RGN_RUN_FRAMED);
    return rgn__failed(err, RGN_FROM_RGN);
}

/* A free slot with room for its audit record and kind; 0 when memory
 * ran out. */
static inline uint32_t take_slot(rgn_t *r, const struct rgn_kind *kind)
{
    RGN_ASSERT(rgn__held(r));
    uint32_t i = rgn__slot_take(&r->slots);
    if (RGN_UNLIKELY(r->tracking != NULL) && i &&
        (!rgn__audit_reserve(r, i) || (rgn__kinds_wanted(r->tracking, kind) &&
                                       !rgn__kinds_reserve(r, i, kind)))) {
        rgn__slot_untake(&r->slots, i);
        return 0;
    }
    return i;
}

/* Links a slot from take_slot and records where it came from. */
static inline rgn_key_t link_slot(rgn_t *r, uint32_t i, rgn_cleanup_fn fn,
                                  void *resource, struct rgn_from o)
{
    rgn_key_t k = rgn__slot_link(&r->slots, i, fn, resource);
    if (RGN_UNLIKELY(r->tracking != NULL)) {
        rgn__index_add(r, i);
        if (rgn__kinds_wanted(r->tracking, o.kind))
            rgn__kinds_set(r, i, o.kind);
        rgn__audit_note(r, i, o.site, o.label, o.bytes);
    }
    return k;
}

/* Registers in an open region the caller has locked, or need not lock. */
static inline int add_locked(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                             rgn_key_t *key, struct rgn_from o)
{
    uint32_t i = take_slot(r, o.kind);
    if (RGN_UNLIKELY(!i))
        return -ENOMEM;
    rgn_key_t k = link_slot(r, i, fn, resource, o);
    if (key)
        rgn__key_store(key, k);
    return 0;
}

/* The general case: shared, tracked, closing, or out of slots.  Inline
 * in the functions that take it (register_slow, and the two that
 * register rgn's own kinds), whose callers' fast paths call them apart:
 * a call less on the locked path of every shared or audited
 * registration. */
static inline __attribute__((always_inline)) int
add_general(rgn_t *r, rgn_cleanup_fn fn, void *resource, rgn_key_t *key,
            const struct rgn_from *o)
{
    rgn__call_site = o->site; /* for a report of two threads at once */
    rgn__lock(r);
    int rc = r->state == RGN_OPEN ? add_locked(r, fn, resource, key, *o)
                                  : -ECANCELED;
    rgn__unlock(r);
    rgn__call_site = NULL;
    if (rc == -ECANCELED)
        rgn__closed_use(r, o->call ? o->call : "rgn_register", o->site, rc);
    rgn__audit_flush(); /* a limit warning, written outside the lock */
    return rc;
}

/*
 * The common registration -- into an open region nobody shares or
 * tracks, with a slot at hand -- makes no call at all.  So its callers
 * save no registers for it: with the general path inlined next to it,
 * every registration pushed and popped six of them, a sixth of a
 * register+release pair.  False when the general path must decide.
 */
static inline bool add_at_hand(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                               rgn_key_t *key)
{
    if (RGN_UNLIKELY(rgn__mode(r) != 0))
        return false;
    uint32_t i = rgn__slot_take_at_hand(&r->slots);
    if (RGN_UNLIKELY(!i))
        return false;
    rgn_key_t k = rgn__slot_link(&r->slots, i, fn, resource);
    if (key)
        rgn__key_store(key, k);
    return true;
}

/* Not one of rgn's own kinds, which register_with dispatches. */
static inline bool ordinary(rgn_t *r, rgn_cleanup_fn fn)
{
    return r != NULL && fn != NULL && !rgn__own_special(fn);
}

/*
 * A lean registration (audit.h): one whose site is not sampled, in an
 * audited region nobody shares, made without the region's lock -- the
 * sampled audit left on costs little more than no audit.  Its site is
 * not sampled exactly when rgn__audit_note's countdown would find so.
 * False, having changed nothing, when the general path must decide.
 */
static inline __attribute__((always_inline)) bool
add_lean(rgn_t *r, rgn_cleanup_fn fn, void *resource, rgn_key_t *key)
{
    /* Not lean or sampling off, the commonest way to be refused, is
     * tested first, as a span of 0: the audited pair pays four
     * instructions for this path. */
    uint32_t span = rgn__lean_span(r);
    if (RGN_LIKELY(span == 0) ||
        RGN_UNLIKELY(rgn__mode(r) != rgn__mode_listed()))
        return false;
    RGN_ASSERT(rgn__audit_lean(r->tracking));
    uint32_t in = r->sample_in;
    if (in - 2 >= span || (rgn__intent & RGN_LIVES_WITH_OWNER))
        return false;
    uint32_t i = rgn__slot_take_at_hand(&r->slots); /* never grows */
    if (RGN_UNLIKELY(!i))
        return false;
    r->sample_in = in - 1;
    rgn_key_t k = rgn__slot_link_published(&r->slots, i, fn, resource);
    if (key)
        rgn__key_store(key, k);
    return true;
}

/* The registrations a lean one may stand for: an ordinary cleanup, no
 * bytes, no kind (rgn_register, rgn_register_labeled). */
static inline bool add_plain(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                             rgn_key_t *key)
{
    return ordinary(r, fn) && (add_at_hand(r, fn, resource, key) ||
                               add_lean(r, fn, resource, key));
}

/* Registers without running the cleanup on failure. */
static inline int add(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                      rgn_key_t *key, const struct rgn_from *o)
{
    if (RGN_LIKELY(add_at_hand(r, fn, resource, key)))
        return 0;
    return add_general(r, fn, resource, key, o);
}

/* Registers, running the cleanup at once on failure. */
static inline int add_or_refuse(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                                rgn_key_t *key, const struct rgn_from *o)
{
    int rc = add(r, fn, resource, key, o);
    return RGN_LIKELY(rc == 0) ? 0 : refuse(r, fn, resource, key, rc);
}

int rgn__register_keeping(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                          rgn_key_t *kept, rgn_key_t *key,
                          const struct rgn_from *o)
{
    int rc = add(r, fn, resource, kept, o);
    if (rc)
        return refuse(r, fn, resource, key, rc);
    if (key)
        *key = *kept;
    return 0;
}

/* Every registration from outside: rgn's own kinds, which rgn_unprotect
 * hands back as a cleanup and resource (a child region, an rgn_malloc
 * block), are taken back as what they were (own.h), labelled or not. */
static inline int register_with(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                                rgn_key_t *key, const struct rgn_from *o)
{
    if (RGN_UNLIKELY(!r || !fn))
        return refuse(NULL, fn, resource, key, -EINVAL);
    const struct rgn_own *own = rgn__own_of(fn);
    if (RGN_UNLIKELY(own->attach != NULL))
        return own->attach(r, resource, key, o);
    return add_or_refuse(r, fn, resource, key, o);
}

/*
 * register_with, kept apart from the callers' fast path, and flattened:
 * every registration of a shared or audited region comes here, and GCC
 * otherwise calls the lock's body and the audit's note apart (an audited
 * register+release pair cost 40 instructions more, make bench-ir; the
 * library's text grows by 1 KB).  The same for take_slow below.
 */
static __attribute__((noinline, flatten)) int
register_slow(rgn_t *r, rgn_cleanup_fn fn, void *resource, rgn_key_t *key,
              const struct rgn_from *o)
{
    return register_with(r, fn, resource, key, o);
}

int rgn_register_at(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                    rgn_key_t *key, const struct rgn_site *site)
{
    if (RGN_LIKELY(add_plain(r, fn, resource, key)))
        return 0;
    return register_slow(r, fn, resource, key,
                         &(struct rgn_from){site, NULL, 0, NULL, NULL});
}

int rgn__register_slot(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                       rgn_key_t *key, const struct rgn_from *o)
{
    return add_or_refuse(r, fn, resource, key, o);
}

int rgn_register_labeled_at(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                            rgn_key_t *key, const char *label,
                            const struct rgn_site *site)
{
    if (RGN_LIKELY(add_plain(r, fn, resource, key)))
        return 0;
    return register_slow(r, fn, resource, key,
                         &(struct rgn_from){site, label, 0, NULL, NULL});
}

int rgn_register_sized_at(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                          rgn_key_t *key, size_t bytes,
                          const struct rgn_site *site)
{
    /* A region that keeps no records counts no bytes: the fast path. */
    if (RGN_LIKELY(ordinary(r, fn) && add_at_hand(r, fn, resource, key)))
        return 0;
    return register_slow(r, fn, resource, key,
                         &(struct rgn_from){site, NULL, bytes, NULL, NULL});
}

int rgn__register_kinded(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                         rgn_key_t *key, uint64_t bytes,
                         const struct rgn_kind *kind, const char *call,
                         const struct rgn_site *site)
{
    if (RGN_LIKELY(ordinary(r, fn) && add_at_hand(r, fn, resource, key)))
        return 0;
    return register_slow(r, fn, resource, key,
                         &(struct rgn_from){site, NULL, bytes, kind, call});
}

/* Whether a resource of kind must be known by its kind where it lives:
 * a close orders it by priority, rgn_forget_for_exec runs its
 * before_exec. */
static inline bool kind_matters(const struct rgn_kind *kind)
{
    return kind->priority != 0 || kind->before_exec != NULL;
}

/* Such a kind needs r to remember kinds. */
static int track_for(rgn_t *r, const struct rgn_kind *kind)
{
    if (!kind_matters(kind) || r->tracking)
        return 0;
    int rc = rgn__tracking_lock(r);
    rgn__unlock(r);
    return rc;
}

int rgn_register_kind_at(rgn_t *r, const struct rgn_kind *kind, void *resource,
                         rgn_key_t *key, const struct rgn_site *site)
{
    if (RGN_UNLIKELY(!kind || !kind->cleanup)) {
        if (key)
            *key = RGN_KEY_NONE;
        return rgn__refused(-EINVAL);
    }
    rgn_cleanup_fn fn = kind->cleanup;
    if (RGN_LIKELY(ordinary(r, fn) && !kind_matters(kind) &&
                   add_at_hand(r, fn, resource, key)))
        return 0;
    int rc = r ? track_for(r, kind) : -EINVAL;
    if (rc)
        return refuse(r, fn, resource, key, rgn__refused(rc));
    return register_slow(r, fn, resource, key,
                         &(struct rgn_from){site, kind->name, 0, kind, NULL});
}

/* Takes a slot for rgn_allocate before acquire runs. */
static int reserve(rgn_t *r, uint32_t *slot)
{
    rgn__lock(r);
    int rc = 0;
    if (r->state != RGN_OPEN)
        rc = -ECANCELED;
    else if (!(*slot = take_slot(r, NULL)))
        rc = -ENOMEM;
    else
        r->pending++;
    rgn__unlock(r);
    return rc;
}

/*
 * Ends a reservation.  acquired says whether acquire succeeded.  Returns
 * the key, or RGN_KEY_NONE when the region drained while acquire ran; then
 * *late is set, the resource must be cleaned up by the caller and, when
 * this was the last reservation, the region is freed by the caller.
 */
static rgn_key_t settle(rgn_t *r, uint32_t slot, bool acquired,
                        rgn_cleanup_fn fn, void *res, struct rgn_from o,
                        bool *late, bool *free_region, rgn_release_type *how)
{
    rgn_key_t k = RGN_KEY_NONE;
    rgn__lock(r);
    RGN_ASSERT(r->pending > 0); /* this reservation's */
    r->pending--;
    *late = r->state == RGN_DRAINED;
    *free_region = *late && r->pending == 0;
    *how = r->close_how; /* read now: r may be freed once unlocked */
    /* While the region is still closing, a linked slot is popped by the
     * closer like any other, so only a drained region refuses it. */
    if (acquired && !*late)
        k = link_slot(r, slot, fn, res, o);
    else if (!*late)
        rgn__slot_untake(&r->slots, slot);
    rgn__unlock(r);
    return k;
}

/* An acquire that unwinds instead of returning (a C++ exception): the
 * reservation ends with nothing acquired, so the region is not left
 * waiting for it, and the caller's cancellation state comes back. */
struct abandoned {
    rgn_t *r;
    uint32_t slot;
    int cancel_state;
    const struct rgn_site *site;
};

static void abandon(void *arg)
{
    struct abandoned *a = arg;
    bool late, free_region;
    rgn_release_type how;
    settle(a->r, a->slot, false, NULL, NULL,
           (struct rgn_from){a->site, NULL, 0, NULL, NULL}, &late,
           &free_region, &how);
    if (free_region)
        rgn__region_free(a->r);
    pthread_setcancelstate(a->cancel_state, NULL);
}

int rgn_allocate_at(rgn_t *r, rgn_acquire_fn acquire, void *arg,
                    rgn_cleanup_fn fn, void **resource, rgn_key_t *key,
                    const struct rgn_site *site)
{
    if (resource)
        *resource = NULL;
    if (key)
        *key = RGN_KEY_NONE;
    if (!r || !acquire || !fn)
        return rgn__failed(-EINVAL, RGN_FROM_RGN);
    uint32_t slot;
    int rc = reserve(r, &slot);
    if (rc)
        return rgn__refused(rgn__closed_use(r, "rgn_allocate", site, rc));

    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    void *res = NULL;
    struct abandoned ab = {r, slot, cancel_state, site};
    pthread_cleanup_push(abandon, &ab);
    rc = acquire(arg, &res);
    pthread_cleanup_pop(0);
    bool late, free_region;
    rgn_release_type how;
    rgn_key_t k = settle(r, slot, rc == 0, fn, res,
                         (struct rgn_from){site, NULL, 0, NULL, NULL}, &late,
                         &free_region, &how);
    if (rc != 0)
        rgn__failed(rc, RGN_FROM_CALLER);
    if (late && rc == 0) {
        rgn__run(NULL, (struct rgn_cb){fn, res}, how, RGN_RUN_ERRNO);
        rc = rgn__failed(-ECANCELED, RGN_FROM_RGN);
    }
    if (free_region)
        rgn__region_free(r);
    rgn__audit_flush();
    pthread_setcancelstate(cancel_state, NULL);

    if (rc == 0) {
        if (resource)
            *resource = res;
        if (key)
            rgn__key_store(key, k);
    }
    return rc;
}

/* Takes slot i's resource (none when i is 0) out of r, which the caller
 * has locked or need not lock, counting it in *counter; returns its
 * cleanup (fn NULL when there is none). */
static inline struct rgn_cb take_at(rgn_t *r, uint32_t i, uint64_t *counter)
{
    RGN_ASSERT(rgn__held(r));
    if (RGN_UNLIKELY(!i))
        return (struct rgn_cb){NULL, NULL};
    (*counter)++;
    return rgn__slot_unlink(&r->slots, i);
}

/* The general case of a release: shared, audited or closing; inline in
 * release_locked, apart from the common case, which so pays nothing for
 * what this one needs. */
static inline __attribute__((always_inline)) struct rgn_cb
take_slow(rgn_t *r, rgn_key_t key)
{
    rgn__lock(r);
    uint32_t i = rgn__slot_find(&r->slots, key);
    if (i && RGN_UNLIKELY(r->tracking != NULL)) {
        rgn__index_remove(r, i);
        rgn__audit_release(r, i); /* its lifetime, if tracked */
    }
    struct rgn_cb cb = take_at(r, i, &r->released_early);
    rgn__unlock(r);
    rgn__audit_flush(); /* a report of two threads at once */
    if (!i)
        rgn__closed_use(r, "rgn_release", NULL, 0);
    return cb;
}

/* A released resource's cleanup, run as rgn_release promises.  Inline:
 * apart, with the release tail-calling it, a pair cost 6 instructions
 * more (the unlink saved registers of its own). */
static inline int run_released_at(rgn_t *r, struct rgn_cb cb, int *err)
{
    int rc = rgn__run_at(r, cb, RGN_RELEASE_EARLY, RGN_RUN_FRAMED, err);
    return RGN_LIKELY(rc == 0) ? 0 : rgn__failed(rc, RGN_FROM_CLEANUP);
}

/*
 * A release's cleanup runs with errno saved around it, at the address
 * rgn__run_state.errno_at caches (error.h).  The plain and the lean
 * release read the cache themselves and, on a thread's first release,
 * leave for release_first, which fills it and starts again: so no call
 * but the cleanup's is left in them, and the values that the lookup's
 * call, made in the middle, kept alive no longer took registers of
 * their own (make bench-ir: the plain pair 148 -> 144 instructions, the
 * sampled 185 -> 183).  The locked release looks it up as before: given
 * the address, it saved one more register (audited pair +10).
 */
static __attribute__((noinline)) int release_first(rgn_t *r, rgn_key_t key)
{
    (void)rgn__errno();
    return rgn_release(r, key);
}

/* The slot of key when it holds a lean resource (audit.h), else 0. */
static inline uint32_t lean_slot(rgn_t *r, rgn_key_t key)
{
    const struct rgn_tracking *t = r->tracking;
    /* With sampling off no lean registration is made: a lean resource
     * made before is released on the general path, which finds it as
     * well (it has no record there either). */
    if (rgn__lean_span(r) == 0 || rgn__mode(r) != rgn__mode_listed())
        return 0;
    RGN_ASSERT(rgn__audit_lean(t));
    uint32_t i = rgn__slot_find(&r->slots, key);
    /* Lean implies records (rgn__audit_record, without its tests). */
    return i && (i >= t->recs_cap || !(t->recs[i].flags & RGN_AREC_LIVE)) ? i
                                                                          : 0;
}

/* A lean resource leaves as it came, without the lock.  Inline in
 * rgn_release: in take_slow, a lean release paid that function's 21
 * instructions of saved registers (in release_locked, 17). */
static inline struct rgn_cb take_lean(rgn_t *r, uint32_t i)
{
    struct rgn_cb cb = rgn__slot_unlink_published(&r->slots, i);
    /* After the live count, and a release store: a reader that sees the
     * release counted sees it gone from the live count, so that the
     * registrations it derives (stats.c) are never one too many. */
    __atomic_store_n(&r->released_early, r->released_early + 1,
                     __ATOMIC_RELEASE);
    return cb;
}

/* A release under the lock (shared, audited but not lean, closing),
 * its cleanup run here too: the locked path is one call, flattened as
 * register_slow is. */
static __attribute__((noinline, flatten)) int release_locked(rgn_t *r,
                                                             rgn_key_t key)
{
    struct rgn_cb cb = take_slow(r, key);
    if (RGN_UNLIKELY(!cb.fn))
        return rgn__failed(-ENOENT, RGN_FROM_RGN);
    return run_released_at(r, cb, rgn__errno());
}

/*
 * The plain release: r open and nobody shares, tracks or lists it.
 * Inline in rgn_release, now that it keeps three registers across its
 * cleanup's call: GCC saves them past the test of the mode, where every
 * other release has left for release_other (make bench-ir: the plain
 * pair 142 -> 140, the others unchanged).  With the six it kept before,
 * GCC saved them at rgn_release's entry, and the audited, sampled and
 * shared pairs paid 14 instructions for them: it was apart then.
 */
static inline __attribute__((always_inline)) int release_plain(rgn_t *r,
                                                               rgn_key_t key)
{
    int *err = rgn__run_state.errno_at;
    if (RGN_UNLIKELY(!err))
        return release_first(r, key);
    /* A live slot always has a cleanup: found, nothing more to test
     * (take_at's "none" cost the pair two tests of fn). */
    uint32_t i = rgn__slot_find(&r->slots, key);
    if (RGN_UNLIKELY(!i))
        return rgn__failed(-ENOENT, RGN_FROM_RGN);
    r->released_early++;
    return run_released_at(r, rgn__slot_unlink(&r->slots, i), err);
}

/* Every other release: lean, or under the lock. */
static __attribute__((noinline)) int release_other(rgn_t *r, rgn_key_t key)
{
    uint32_t lean = lean_slot(r, key);
    if (!lean)
        return release_locked(r, key); /* finds errno's address itself */
    int *err = rgn__run_state.errno_at;
    if (RGN_UNLIKELY(!err))
        return release_first(r, key);
    return run_released_at(r, take_lean(r, lean), err);
}

int rgn_release(rgn_t *r, rgn_key_t key)
{
    if (RGN_UNLIKELY(!r))
        return rgn__failed(-EINVAL, RGN_FROM_RGN);
    if (RGN_LIKELY(rgn__mode(r) == 0))
        return release_plain(r, key);
    return release_other(r, key);
}

int rgn_unprotect(rgn_t *r, rgn_key_t key, rgn_cleanup_fn *fn, void **resource)
{
    if (!r)
        return rgn__refused(-EINVAL);
    rgn__lock(r);
    uint32_t i = rgn__slot_find(&r->slots, key);
    if (i && RGN_UNLIKELY(r->tracking != NULL)) {
        rgn__index_remove(r, i);
        rgn__audit_leave(r, i);
    }
    struct rgn_cb cb = take_at(r, i, &r->removed);
    const struct rgn_own *own = rgn__own_of(cb.fn);
    if (own->unprotected)
        own->unprotected(cb.resource); /* the caller owns it now */
    rgn__unlock(r);
    rgn__audit_flush();
    if (!cb.fn)
        return rgn__refused(
            rgn__closed_use(r, "rgn_unprotect", NULL, -ENOENT));
    if (fn)
        *fn = cb.fn;
    if (resource)
        *resource = cb.resource;
    return 0;
}

/* rgn_realloc: reallocates key's resource, which must be `old`, to
 * bytes, and makes the slot hold the new address; the key stays.  The
 * allocator runs under r's lock, as it does when slots grow.  -ENOENT
 * (key not live in r, or not old's), -ENOMEM (old is left as it was). */
int rgn__resource_realloc(rgn_t *r, rgn_key_t key, void *old, size_t bytes,
                          void **moved)
{
    rgn__lock(r);
    uint32_t i = rgn__slot_find(&r->slots, key);
    int rc = -ENOENT;
    if (i && rgn__cb(&r->slots, i)->resource == old) {
        char *h = rgn__realloc((char *)old - RGN_BLOCK_HEADER, bytes);
        rc = h ? 0 : -ENOMEM;
        if (h)
            rgn__cb(&r->slots, i)->resource = *moved = h + RGN_BLOCK_HEADER;
        if (h && r->tracking)
            rgn__index_rehome(r, i, old); /* by its new address */
        struct rgn_arec *rec = h ? rgn__audit_record(r, i) : NULL;
        if (rec)
            rgn__audit_resize(r->tracking, rec, bytes - RGN_BLOCK_HEADER);
    }
    rgn__unlock(r);
    return rc;
}

/* Takes r's lock as the second of a pair: false, taking nothing, when
 * another thread holds it and might be waiting for the first.  Only a
 * shared region's lock can be held so: an unshared one is contended by
 * process-wide readers alone, and a reader waits for no region while it
 * holds one (audit.c), so it is waited for. */
static bool lock_second(rgn_t *r)
{
    if (rgn__unshared(r)) {
        rgn__lock(r);
        return true;
    }
    return rgn__lock_try_shared(r);
}

/*
 * Locks the two regions of a move.  No order of the two is safe alone: a
 * child's close holds the child while it waits for its parent, and moves
 * between the regions of a chain -- a parent and its child (the two
 * deadlocked when the move took the parent first, being lower in id), a
 * region and its grandchild -- meet those closes in every order.  So the
 * move takes a child before its parent, other pairs lower id first (the
 * order two moves agree on), and never waits for the second while it
 * holds the first: when the second is held it lets go, waits for that one
 * first and tries the other.  The parent read here may change under a
 * concurrent move; that only costs a retry, never a deadlock.
 */
static void lock_pair(rgn_t *a, rgn_t *b)
{
    if (a == b) {
        rgn__lock(a);
        return;
    }
    rgn_t *pa = atomic_load_explicit(&a->parent, memory_order_relaxed);
    rgn_t *pb = atomic_load_explicit(&b->parent, memory_order_relaxed);
    bool a_first = pa == b || (pb != a && a->slots.id < b->slots.id);
    rgn_t *first = a_first ? a : b, *second = a_first ? b : a;
    for (;;) {
        rgn__lock(first);
        if (lock_second(second))
            return;
        rgn__unlock(first);
        rgn_t *held = second;
        second = first;
        first = held;
    }
}

static void unlock_pair(rgn_t *a, rgn_t *b)
{
    rgn__unlock(a);
    if (a != b)
        rgn__unlock(b);
}

static int move_locked(rgn_t *from, rgn_key_t key, rgn_t *to,
                       rgn_key_t *new_key)
{
    uint32_t i = rgn__slot_find(&from->slots, key);
    if (!i)
        return -ENOENT;
    if (to->state != RGN_OPEN)
        return -ECANCELED;
    /* rgn's own kinds are told where they now sit (a child region, for
     * its own close to find its slot; a block, for rgn_free); the slot
     * cannot leave `from` while we hold the lock, so the resource stays
     * valid here. */
    struct rgn_cb cb = *rgn__cb(&from->slots, i);
    const struct rgn_own *own = rgn__own_of(cb.fn);
    if (own->may_move && own->may_move(cb.resource, to) != 0)
        return -EINVAL;
    /* Take the target slot first: after this nothing can fail. */
    const struct rgn_kind *kind = rgn__kind_at(from, i);
    uint32_t j = take_slot(to, kind);
    if (!j)
        return -ENOMEM;
    if (RGN_UNLIKELY(from->tracking != NULL))
        rgn__index_remove(from, i);
    rgn__slot_unlink(&from->slots, i);
    from->removed++;
    *new_key = rgn__slot_link(&to->slots, j, cb.fn, cb.resource);
    if (RGN_UNLIKELY(to->tracking != NULL)) {
        rgn__index_add(to, j);
        rgn__kinds_set(to, j, kind);
    }
    /* The record travels along, or leaves `from` where `to` keeps none:
     * its site's count and its bytes are of `from` no more. */
    if (RGN_UNLIKELY(from->tracking != NULL || to->tracking != NULL))
        rgn__audit_move(from, i, to, j);
    if (own->moved)
        own->moved(cb.resource, to, *new_key);
    return 0;
}

/*
 * A resource whose kind matters (a priority, a before_exec) keeps its
 * kind in `to` only if `to` remembers kinds: it is given tracking state
 * first, as its registration there would have.  Only a region that
 * remembers kinds can hold such a kind, so an untracked `from` costs a
 * look at its mode.  The move itself finds out whether key is still live.
 */
static int keep_kind(rgn_t *from, rgn_key_t key, rgn_t *to)
{
    if (RGN_LIKELY(rgn__mode(from) == 0))
        return 0;
    rgn__lock(from);
    uint32_t i = rgn__slot_find(&from->slots, key);
    const struct rgn_kind *kind = i ? rgn__kind_at(from, i) : NULL;
    rgn__unlock(from);
    if (!kind || !kind_matters(kind))
        return 0;
    int rc = rgn__tracking_lock(to);
    rgn__unlock(to);
    return rc;
}

int rgn_move(rgn_t *from, rgn_key_t key, rgn_t *to, rgn_key_t *new_key)
{
    if (!from || !to)
        return rgn__refused(-EINVAL);
    int kept = keep_kind(from, key, to);
    if (RGN_UNLIKELY(kept != 0)) {
        if (kept == -ECANCELED)
            rgn__closed_use(to, "rgn_move", NULL, kept);
        return rgn__refused(kept);
    }
    rgn_key_t k;
    lock_pair(from, to);
    int rc = move_locked(from, key, to, &k);
    unlock_pair(from, to);
    if (RGN_UNLIKELY(rc == -ENOENT || rc == -ECANCELED))
        rgn__closed_use(rc == -ENOENT ? from : to, "rgn_move", NULL, rc);
    rgn__audit_flush();
    if (rc != 0)
        return rgn__refused(rc);
    if (new_key)
        rgn__key_store(new_key, k);
    return 0;
}

/* ---- the function twins of the macros, which record no site ----------
 *
 * Last in the file: each #undef takes away the macro, so the definition
 * needs no parentheses around its name, and nothing after it could call
 * the twin where it meant the macro.
 */

#undef rgn_register
int rgn_register(rgn_t *r, rgn_cleanup_fn fn, void *resource, rgn_key_t *key)
{
    return rgn_register_at(r, fn, resource, key, NULL);
}

#undef rgn_register_labeled
int rgn_register_labeled(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                         rgn_key_t *key, const char *label)
{
    return rgn_register_labeled_at(r, fn, resource, key, label, NULL);
}

#undef rgn_allocate
int rgn_allocate(rgn_t *r, rgn_acquire_fn acquire, void *arg,
                 rgn_cleanup_fn fn, void **resource, rgn_key_t *key)
{
    return rgn_allocate_at(r, acquire, arg, fn, resource, key, NULL);
}

#undef rgn_register_sized
int rgn_register_sized(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                       rgn_key_t *key, size_t bytes)
{
    return rgn_register_sized_at(r, fn, resource, key, bytes, NULL);
}

#undef rgn_register_kind
int rgn_register_kind(rgn_t *r, const struct rgn_kind *kind, void *resource,
                      rgn_key_t *key)
{
    return rgn_register_kind_at(r, kind, resource, key, NULL);
}

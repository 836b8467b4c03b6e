/* SPDX-License-Identifier: MIT */
/*
 * region.c -- a region's life: creation, references, the newest-first
 * close (which also runs the closes of the children it reaches, see
 * close_loop) and rgn_clear.  Child regions themselves are child.c's.
 * Owns the fields of struct rgn that region.h gives no other file, the
 * thread's tags for the two-threads check, and the table of what the
 * core asks of the floors above it (above.h).  Floor 1.  May call: the
 * slot map, the audit's hooks (hooks.h) and tracking state (audit.h),
 * the arena, child.c, and the floors above only through the table.  The
 * public constructors are new.c's.
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/*
 * Region ids make keys of one region dead in every other, including a
 * region later allocated at the same address.  Each thread takes ids in
 * blocks from one atomic counter, so creating a region costs no atomic
 * operation in the common case.  This is the only global state of the core.
 */
const struct rgn_above *rgn__above_table;

__thread char rgn__self_tag __attribute__((tls_model("initial-exec")));
__thread const struct rgn_site *rgn__call_site
    __attribute__((tls_model("initial-exec")));

#define RGN_ID_BLOCK 4096u
static atomic_uint_fast64_t next_id_block = 1;
/* One thread-local object, so one address to look up. */
static __thread struct {
    uint64_t next, end;
} ids __attribute__((tls_model("initial-exec")));

/* The thread's next block of ids.  The cache's look (cache.c) rides on
 * the refill, every RGN_ID_BLOCK regions: no region pays for it.  Apart,
 * so that new_id stays inline in region_create. */
static __attribute__((noinline)) uint64_t new_id_block(void)
{
    uint64_t id = atomic_fetch_add_explicit(&next_id_block, RGN_ID_BLOCK,
                                            memory_order_relaxed);
    ids.next = id + 1;
    ids.end = id + RGN_ID_BLOCK;
    rgn__cache_look(RGN_ID_BLOCK);
    return id;
}

static inline __attribute__((always_inline)) uint64_t new_id(void)
{
    uint64_t id = ids.next;
    if (RGN_UNLIKELY(id == ids.end))
        return new_id_block();
    ids.next = id + 1;
    return id;
}

static inline __attribute__((always_inline)) rgn_t *
region_create(const struct rgn_site *site)
{
    rgn__allocator_freeze();
    rgn_t *r = rgn__cache_take();
    if (RGN_LIKELY(r != NULL)) {
        rgn__slots_reuse(&r->slots, new_id()); /* its storage kept */
    } else {
        rgn__cache_missed();
        if (!(r = rgn__malloc(sizeof *r)))
            return rgn__refused_null(ENOMEM);
        /* Slots are initialised when first used.  The id first: taken
         * as an argument, its refill's call kept the arrays' addresses
         * in registers every creation saved (4 instructions). */
        uint64_t id = new_id();
        rgn__slots_init(&r->slots, id, r->inline_cb, r->inline_ln);
    }
    r->mode = 0;      /* open, not shared */
    r->sample_in = 0; /* the first registration is sampled */
    atomic_init(&r->lean_span, &rgn__no_span);
    rgn__arena_init(r);
    /* From the lock to the inline slots a region starts as zeros
     * (region.h): a dozen vector stores, where a store a field cost
     * about as many instructions more, and a memset a `rep stos` slower
     * than both.  (After the arena's start, whose zeroes it repeats: so
     * the compiler drops those.) */
    rgn__zero(&r->lock, RGN_ZEROED_BYTES);
    /* The fields that start otherwise are stored over the zeroes: let
     * GCC fold them into its vector stores and it split those into
     * overlapping ones that the close's loads straddle, and a load that
     * spans two stores waits for both to reach the cache. */
    __asm__("" ::: "memory");
    r->refs = 1;
    r->made_at = site;
    r->close_how = RGN_RELEASE_NORMAL;
    if (RGN_UNLIKELY(!rgn__audit_new(r))) {
        rgn__slots_destroy(&r->slots);
        rgn__region_memory_free(r);
        return rgn__refused_null(ENOMEM);
    }
    return r;
}

/* Empties a closed audited region for the quarantine: no key finds a
 * slot, the arena is empty, and the name stays for the report. */
static void bury(rgn_t *r, rgn_audit_mode mode)
{
    size_t peak = r->slots.peak;
    rgn__slots_init(&r->slots, r->slots.id, r->inline_cb, r->inline_ln);
    r->slots.peak = peak;
    rgn__arena_bury(r);
    rgn__audit_bury(r, mode);
}

static inline __attribute__((always_inline)) void region_free(rgn_t *r)
{
    /* Everything it held is gone: cleaned up, or forgotten (exec.c). */
    RGN_ASSERT(r->slots.live == 0);
    /* A release in this thread may be running a cleanup of r's. */
    for (struct rgn_frame *f = rgn__run_state.frames; f; f = f->up)
        if (f->r == r)
            f->r = NULL;
    rgn_audit_mode audited = RGN_AUDIT_OFF;
    if (RGN_UNLIKELY(r->tracking != NULL)) {
        rgn__audit_unlist(r);
        audited = rgn__audit_free(r);
    }
    if (RGN_UNLIKELY(r->chunks != NULL || r->kept != NULL))
        rgn__arena_free(r, audited);
    if (RGN_UNLIKELY(audited != RGN_AUDIT_OFF)) {
        rgn__slots_destroy(&r->slots);
        bury(r, audited); /* to catch a use after close */
        return;
    }
    rgn__free(r->name);
    if (RGN_LIKELY(rgn__cache_keep(r)))
        return; /* for this thread's next region */
    rgn__slots_destroy(&r->slots);
    rgn__region_memory_free(r);
}

void rgn__region_memory_free(rgn_t *r)
{
    rgn__race_region(r, false);
    rgn__free(r);
}

void rgn__race_region_vg(rgn_t *r, bool atomic)
{
    rgn__race_vg_atomic(&r->mode, sizeof r->mode, atomic);
    rgn__race_vg_atomic(&r->lean_span, sizeof r->lean_span, atomic);
    rgn__race_vg_atomic(&r->lock, sizeof r->lock, atomic);
    rgn__race_vg_atomic(&r->user, sizeof r->user, atomic);
    rgn__race_vg_atomic(&r->user_site, sizeof r->user_site, atomic);
    rgn__race_vg_atomic(&r->cleanup_errors, sizeof r->cleanup_errors, atomic);
    rgn__race_vg_atomic(&r->on_error, sizeof r->on_error, atomic);
    rgn__race_vg_atomic(&r->on_error_arg, sizeof r->on_error_arg, atomic);
}

void rgn__region_free(rgn_t *r)
{
    region_free(r);
}

rgn_t *rgn__region_create(const struct rgn_site *site)
{
    return region_create(site);
}

int rgn_set_scope(rgn_t *r, int scope)
{
    if (!r)
        return rgn__refused(-EINVAL);
    rgn__lock(r);
    int rc = r->state == RGN_OPEN ? 0 : -ECANCELED;
    if (rc == 0)
        r->scope = scope != 0;
    rgn__unlock(r);
    return rc ? rgn__refused(rgn__closed_use(r, "rgn_set_scope", NULL, rc))
              : 0;
}

/*
 * Pops and runs r's live cleanups, newest first, each with r unlocked so
 * that it may call rgn on r, folding the first non-zero result into
 * r->close_result.  Stops at a child region's slot and returns the child
 * (its slot taken, r still locked), for close_loop to close; returns NULL
 * when none is left.  locked is r->locked, which cannot change while r
 * is closing: inlined with it as a constant, the loop of an unshared
 * region has no locking in it at all.
 */
static inline __attribute__((always_inline)) rgn_t *
run_cleanups_(rgn_t *r, bool locked, bool big)
{
    rgn_release_type how = r->close_how;
    struct rgn_link *ln = r->slots.ln; /* fixed while r closes */
    const struct rgn_cb *cbs = r->slots.cb;
    struct rgn_cb cb;
    while (rgn__slot_pop_from(&r->slots, ln, cbs, &cb, big)) {
        r->closed++;
        if (RGN_UNLIKELY(rgn__own_of(cb.fn)->nests))
            return cb.resource;
        if (locked)
            rgn__unlock(r);
        int rc = rgn__run(r, cb, how, RGN_RUN_BARE);
        if (RGN_UNLIKELY(rc != 0) && !r->close_result)
            r->close_result = rc;
        if (locked)
            rgn__lock(r);
    }
    return NULL;
}

/* run_cleanups_ with big a constant too: a big map's pops fetch ahead
 * (map.h, rgn__slot_pop_from), a small one's test nothing for it. */
static inline __attribute__((always_inline)) rgn_t *run_cleanups(rgn_t *r,
                                                                 bool locked)
{
    return rgn__slots_big(&r->slots) ? run_cleanups_(r, locked, true)
                                     : run_cleanups_(r, locked, false);
}

/* Frees r when the close is done with it -- unless an rgn_allocate still
 * holds a reservation: the last one frees r.  Called with r locked. */
static inline __attribute__((always_inline)) void close_done(rgn_t *r)
{
    /* Every cleanup ran: nothing live, and the counters add up. */
    RGN_ASSERT(r->slots.live == 0 && rgn__slot_newest(&r->slots) == 0);
    RGN_ASSERT(r->state == RGN_CLOSING);
    RGN_ASSERT(r->refs == 0); /* the close was the last reference's */
    bool reserved = r->pending != 0;
    if (reserved)
        r->state = RGN_DRAINED;
    rgn__unlock(r);
    if (!reserved) {
        region_free(r);
    }
}

void rgn__cleanup_failed(rgn_t *r, int rc, void *resource,
                         rgn_release_type how)
{
    atomic_fetch_add_explicit(&r->cleanup_errors, 1, memory_order_relaxed);
    rgn_failure_fn fn = __atomic_load_n(&r->on_error, __ATOMIC_ACQUIRE);
    if (fn)
        fn(__atomic_load_n(&r->on_error_arg, __ATOMIC_RELAXED), rc, resource,
           how);
}

int rgn_on_cleanup_error(rgn_t *r, rgn_failure_fn fn, void *arg)
{
    if (!r)
        return rgn__refused(-EINVAL);
    rgn__lock(r);
    int rc = r->state == RGN_OPEN ? 0 : -ECANCELED;
    if (rc == 0) {
        __atomic_store_n(&r->on_error_arg, arg, __ATOMIC_RELAXED);
        __atomic_store_n(&r->on_error, fn, __ATOMIC_RELEASE);
    }
    rgn__unlock(r);
    return rc ? rgn__refused(
                    rgn__closed_use(r, "rgn_on_cleanup_error", NULL, rc))
              : 0;
}

/* What a child's close gives the region whose close closed it: the
 * child's result stands for its cleanup's.  r unlocked; returns with it
 * locked. */
static void fold_result(rgn_t *r, int rc, rgn_t *child)
{
    if (RGN_UNLIKELY(rc != 0))
        rgn__cleanup_failed(r, rc, child, r->close_how);
    rgn__lock(r);
    if (RGN_UNLIKELY(rc != 0) && !r->close_result)
        r->close_result = rc;
}

/*
 * Runs the closes of *top and of the regions below it, until the
 * outermost is freed; returns its result.  *top is locked and closing.
 *
 * Closing a child from inside its parent's loop would recurse once per
 * level, and a chain of 100,000 nested children overflowed the stack.  So
 * the loop starts a child's close itself: the child goes on top of a
 * stack of closing regions linked through close_outer, and the loop goes
 * on with it, the parent unlocked meanwhile, as while any cleanup runs.
 * When the child's last cleanup has run, its result is folded into its
 * parent's, as its cleanup's result would have been.  *top always names
 * the innermost close, for finish_cancelled_close.
 */
static int close_loop(rgn_t *volatile *top)
{
    for (;;) {
        rgn_t *r = *top;
        RGN_ASSERT(r->state == RGN_CLOSING);
        rgn_t *child =
            r->locked ? run_cleanups(r, true) : run_cleanups(r, false);
        if (RGN_UNLIKELY(child != NULL)) {
            rgn__unlock(r);
            int rc;
            if (rgn__child_begins_close(child, r->close_how, &rc)) {
                child->close_outer = r;
                *top = child;
            } else {
                fold_result(r, rc, child);
            }
            continue;
        }
        rgn_t *outer = r->close_outer;
        int rc = r->close_result;
        close_done(r); /* r is freed: only its address is passed on */
        if (!outer)
            return rc;
        *top = outer;
        fold_result(outer, rc, r);
    }
}

/*
 * The thread was cancelled inside one of the close's cleanups.  A close
 * finishes what it started, as resourcet runs its cleanups masked: the
 * remaining cleanups run here, while the cancellation unwinds (glibc acts
 * on no further cancellation point meanwhile), and the regions are freed.
 */
static void finish_cancelled_close(void *arg)
{
    rgn_t *volatile *top = arg;
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    rgn__lock(*top);
    close_loop(top);
    pthread_setcancelstate(state, NULL);
}

/*
 * close_last's rest, when r holds something: runs every live cleanup
 * newest first, then frees r (see close_done).  Called with r locked and
 * closing; returns with it unlocked.  errno is saved once for the whole
 * close rather than around every cleanup.  The cancellation frame costs
 * a few stores where the library is built with -fexceptions (configure
 * adds it), a sigsetjmp elsewhere.
 */
static int close_run(rgn_t *r, rgn_release_type how)
{
    if (RGN_UNLIKELY(rgn__cause_wanted(r))) /* in a frame of its own */
        return rgn__cause_close(r, how, close_run);
    int *err = rgn__errno();
    int saved = *err;
    rgn_t *volatile top = r;
    int result;
    pthread_cleanup_push(finish_cancelled_close, (void *)&top);
    result = close_loop(&top);
    pthread_cleanup_pop(0);
    *err = saved;
    return result;
}

/* close_run's start, inline: an empty region is freed at once. */
static inline __attribute__((always_inline)) int
close_last(rgn_t *r, rgn_release_type how)
{
    r->close_how = how;
    r->close_result = 0;
    r->close_outer = NULL;
    if (RGN_UNLIKELY(rgn__slot_newest(&r->slots) != 0))
        return close_run(r, how);
    close_done(r);
    return 0;
}

/* The audit's report of what r still holds, made under r's lock and
 * written with it unlocked: no sink runs under an rgn lock.  r is closing,
 * so nothing can free it meanwhile. */
static __attribute__((noinline)) void audit_close(rgn_t *r,
                                                  rgn_release_type how)
{
    struct rgn_report rep;
    bool abort_now = rgn__audit_close(r, how, &rep);
    rgn__unlock(r);
    rgn__report_print(&rep, NULL, NULL);
    if (abort_now)
        rgn__audit_abort();
    rgn__lock(r);
}

/* Drops one reference of an open region, r locked.  Returns true when
 * it was the last: r is then closing and still locked, and the caller
 * runs its close.  Else r is unlocked. */
static bool drop_begins_close(rgn_t *r, rgn_release_type how)
{
    RGN_ASSERT(rgn__held(r) && r->refs > 0 && r->state == RGN_OPEN);
    if (--r->refs) {
        rgn__unlock(r);
        return false;
    }
    r->state = RGN_CLOSING;
    r->close_how = how;
    if (RGN_UNLIKELY(r->tracking != NULL)) {
        audit_close(r, how); /* what was never released, first */
        rgn__kinds_order(r); /* then by priority, newest first in each */
    }
    return true;
}

static int drop_locked(rgn_t *r, rgn_release_type how)
{
    return drop_begins_close(r, how) ? close_last(r, how) : 0;
}

/*
 * A drop while r is being cleared; r locked and clearing.  The clearing
 * thread need not hold a reference: the parent's close may reach a child
 * being cleared, and a cleanup of the clear may close r.  So the last
 * drop is not refused (refused, it left r open with a reference nobody
 * held, and nothing ever closed it): it leaves r with none, and the
 * clearing thread closes r with this drop's release type once the clear
 * is done (clear_done).  A drop after that one finds no reference left:
 * r is closing.
 */
static int drop_while_clearing(rgn_t *r, rgn_release_type how)
{
    int rc = 0;
    if (r->refs == 0)
        rc = -ECANCELED;
    else if (--r->refs == 0)
        r->close_how = how;
    rgn__unlock(r);
    return rc;
}

/* rgn__drop_ref up to the close: true with r locked and closing when
 * the reference was the last, else false with *rc the result. */
bool rgn__drop_ref_begins_close(rgn_t *r, rgn_release_type how, int *rc)
{
    rgn__lock(r);
    *rc = 0;
    if (RGN_UNLIKELY(r->state == RGN_CLEARING)) {
        *rc = drop_while_clearing(r, how);
        return false;
    }
    if (r->state != RGN_OPEN) {
        rgn__unlock(r);
        *rc = -ECANCELED;
        return false;
    }
    return drop_begins_close(r, how);
}

int rgn__drop_ref(rgn_t *r, rgn_release_type how)
{
    int rc;
    return rgn__drop_ref_begins_close(r, how, &rc) ? close_last(r, how) : rc;
}

/* What a close gives its caller for its cleanups' result rc. */
static inline int closed(int rc)
{
    rgn__audit_flush();
    return RGN_LIKELY(rc == 0) ? 0 : rgn__failed(rc, RGN_FROM_CLEANUP);
}

/* Every close but close_as's own. */
static __attribute__((noinline)) int close_with(rgn_t *r, rgn_release_type how,
                                                const char *call)
{
    if (!r)
        return rgn__failed(-EINVAL, RGN_FROM_RGN);
    rgn__lock(r);
    bool clearing = RGN_UNLIKELY(r->state == RGN_CLEARING);
    if (r->state != RGN_OPEN && !(clearing && r->refs != 0)) {
        rgn__unlock(r);
        return rgn__failed(rgn__closed_use(r, call, NULL, -ECANCELED),
                           RGN_FROM_RGN);
    }
    /* A child's explicit close takes it out of its parent first, so the
     * parent never drops a reference its owner already dropped -- also
     * while r is being cleared: left in its parent, r would be freed by
     * its last drop while the parent still held it. */
    if (RGN_UNLIKELY(atomic_load_explicit(&r->parent, memory_order_relaxed) !=
                     NULL) &&
        !rgn__child_detach(r)) {
        rgn__unlock(r);
        return 0;
    }
    if (clearing)
        return rgn__refused(drop_while_clearing(r, how));
    return closed(drop_locked(r, how));
}

/*
 * The close of an open region in no parent that nobody shares, tracks or
 * lists: the caller's is its one reference, and no other thread sees it,
 * so no lock is taken and nothing reported.  Inline in each public
 * close, whose other cases call close_with; an empty region is freed
 * without a call.
 */
static inline __attribute__((always_inline)) int
close_as(rgn_t *r, rgn_release_type how, const char *call)
{
    if (RGN_UNLIKELY(r == NULL) || RGN_UNLIKELY(rgn__mode(r) != 0) ||
        RGN_UNLIKELY(atomic_load_explicit(&r->parent, memory_order_relaxed) !=
                     NULL))
        return close_with(r, how, call);
    RGN_ASSERT(r->refs == 1 && !r->locked);
    r->refs = 0;
    r->state = RGN_CLOSING;
    return closed(close_last(r, how));
}

/* ---- clearing for reuse ------------------------------------------------ */

/* Runs r's cleanups newest first until none is left, each with r
 * unlocked; r locked and clearing.  Slots go back to the free stack with
 * their generations bumped: keys issued before are dead for good. */
static int clear_cleanups(rgn_t *r)
{
    int result = 0;
    uint32_t i;
    while ((i = rgn__slot_newest(&r->slots)) != 0) {
        if (RGN_UNLIKELY(r->tracking != NULL))
            rgn__audit_leave(r, i);
        struct rgn_cb cb = rgn__slot_unlink(&r->slots, i);
        r->closed++;
        rgn__unlock(r);
        int rc = rgn__run(r, cb, RGN_RELEASE_NORMAL, RGN_RUN_BARE);
        if (RGN_UNLIKELY(rc != 0) && !result)
            result = rc;
        rgn__lock(r);
    }
    return result;
}

/*
 * The clear's last cleanup has run; r locked and clearing, empty.  When
 * r's last reference went meanwhile (drop_while_clearing), r closes now,
 * with that drop's release type, and is freed: returns the close's
 * result.  Else the arena goes (after the last cleanup, which may have
 * used it), the counters start again (stats.c) and r is open.  Returns
 * with r unlocked.
 */
static int clear_done(rgn_t *r)
{
    if (RGN_UNLIKELY(r->refs == 0)) {
        rgn_release_type how = r->close_how;
        r->state = RGN_CLOSING;
        if (RGN_UNLIKELY(r->tracking != NULL))
            audit_close(r, how);
        return close_last(r, how);
    }
    rgn__arena_reset(r);
    rgn__counters_restart(r);
    rgn__set_state(r, RGN_OPEN);
    rgn__unlock(r);
    return 0;
}

/* Cancelled inside a cleanup: the clear finishes as it unwinds. */
static void finish_cancelled_clear(void *arg)
{
    rgn_t *r = arg;
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    rgn__lock(r);
    clear_cleanups(r);
    (void)clear_done(r);
    pthread_setcancelstate(state, NULL);
}

int rgn_clear(rgn_t *r)
{
    if (!r)
        return rgn__failed(-EINVAL, RGN_FROM_RGN);
    if (rgn__mode(r) == 0 && !rgn__slot_newest(&r->slots)) {
        /* Open, unshared, unaudited and empty: only the arena to reset,
         * as a region reused for memory alone is, round after round, and
         * the counters. */
        rgn__arena_reset(r);
        rgn__counters_restart(r);
        return 0;
    }
    if (RGN_UNLIKELY(rgn__cause_wanted(r))) /* hides an outer cause */
        return rgn__cause_clear(r, rgn_clear);
    rgn__lock(r);
    if (r->state != RGN_OPEN) {
        rgn__unlock(r);
        return rgn__failed(rgn__closed_use(r, "rgn_clear", NULL, -ECANCELED),
                           RGN_FROM_RGN);
    }
    rgn__set_state(r, RGN_CLEARING);
    if (RGN_UNLIKELY(r->tracking != NULL))
        rgn__kinds_order(r);
    int *err = rgn__errno();
    int saved = *err;
    int result;
    pthread_cleanup_push(finish_cancelled_clear, r);
    result = clear_cleanups(r);
    pthread_cleanup_pop(0);
    *err = saved;
    int closed = clear_done(r); /* r may be gone after this */
    if (!result)
        result = closed;
    return RGN_LIKELY(result == 0) ? 0 : rgn__failed(result, RGN_FROM_CLEANUP);
}

int rgn_close(rgn_t *r)
{
    return close_as(r, RGN_RELEASE_NORMAL, "rgn_close");
}

int rgn_close_error(rgn_t *r)
{
    return close_as(r, RGN_RELEASE_ERROR, "rgn_close_error");
}

int rgn__close_as(rgn_t *r, rgn_release_type how, const char *call)
{
    return close_as(r, how, call);
}

/* A region's name is its own, not the audit's: reports, dumps and the
 * metrics read it (under r's lock), and so can a program. */
int rgn_set_name(rgn_t *r, const char *name)
{
    if (!r)
        return rgn__refused(-EINVAL);
    char *copy = NULL;
    if (name) {
        size_t n = strlen(name) + 1;
        copy = rgn__malloc(n);
        if (!copy)
            return rgn__refused(-ENOMEM);
        memcpy(copy, name, n);
    }
    rgn__lock(r);
    char *old = r->name;
    r->name = copy;
    rgn__unlock(r);
    rgn__free(old);
    return 0;
}

const char *rgn_name(const rgn_t *r)
{
    return r ? r->name : NULL;
}

size_t rgn_live(const rgn_t *r)
{
    if (!r)
        return 0;
    rgn_t *m = (rgn_t *)r; /* the lock is not part of the value */
    rgn__lock(m);
    size_t n = m->slots.live;
    rgn__unlock(m);
    return n;
}

/* SPDX-License-Identifier: MIT */
/*
 * region.h -- struct rgn and what every file that works on a region
 * needs: its state word, its lock, running its cleanups, and the calls of
 * region.c (life, references, close) and child.c (child regions).
 *
 * The fields of a region are owned as follows: the slot map (map.h) by
 * whoever holds the region's lock; the arena fields by arena.c; the
 * tracking state (`tracking`) by audit.c; `parent` and `parent_key` by
 * child.c; everything else by region.c.
 */
#ifndef RGN_REGION_H
#define RGN_REGION_H

#include "base.h"
#include "error.h"
#include "lock.h"
#include "race.h"
#include "map.h"
#include "above.h"

#include <pthread.h>

/* Arena bytes inside the region itself (arena.c).  Every byte here is
 * paid by every region: with 256, closing 60,000 regions of 16 resources
 * cost 38 ns a resource instead of 22 at 64 (and 16 at none) -- more
 * memory to walk at each free.  64 holds a small request's strings. */
#define RGN_ARENA_INLINE 64u

enum rgn_state {
    RGN_OPEN,     /* accepts registrations */
    RGN_CLEARING, /* rgn_clear is running the cleanups: as CLOSING, but
                     references that are not the last may be dropped */
    RGN_CLOSING,  /* last reference gone; cleanups are running */
    RGN_DRAINED,  /* cleanups done, but an rgn_allocate still holds a
                     reservation: the region is freed when it finishes */
    RGN_FREED     /* closed for good, kept empty in the audit's
                     quarantine to catch a use after close (audit.c) */
};

struct rgn_tracking;
struct rgn_chunk;
struct rgn_arena_tool;

struct rgn {
    /* Hot.  rgn_alloc reads the arena's bump and the mode word and
     * nothing else; every call reads the mode word; register and
     * release read the slot map's fields, and in an audited region the
     * lean ones: the first 88 bytes. */
    char *arena_at;  /* the arena's bump pointer (arena.c) */
    char *arena_end; /* the end of its current chunk */
    union {
        struct {
            uint8_t state; /* enum rgn_state */
            bool shared;   /* rgn_share was called: references count */
            bool tracked;  /* tracking != NULL */
            bool locked;   /* every call takes the lock: shared, or
                              listed where process-wide readers see it
                              (see lock.c); never cleared */
        };
        uint32_t mode; /* all at once: 0 = the fast path applies */
    };
    /* Lean registrations (audit.h), rgn.h's inline one among them, read
     * and write this and lean_span below: the owner's alone, read by no
     * reader on another thread, so lean calls write them without the
     * lock.  In the word beside the mode's, and at the end of the slot
     * map's header, so that the first two cache lines still hold the
     * release's counter and the lock. */
    uint32_t sample_in;     /* registrations until the next sampled site
                               (0: this one, as a region starts) */
    struct rgn_slots slots; /* its resources; slots.id is the region's
                               process-unique id */
    /* A lean call may apply while sample_in - 2 < *lean_span: it points
     * to rgn__sample_span while tracking->lean holds, else to a 0
     * (rgn__audit_relean keeps it so, under the lock).  A relaxed atomic:
     * the library reads it before it knows the region is unshared, while
     * another thread of a shared one may be making its tracking state
     * (ThreadSanitizer saw it); rgn.h reads it only after the mode said
     * the region is unshared, its owner's. */
    const atomic_uint *_Atomic lean_span;
    /* From the lock on: every field up to the inline slots starts a
     * region's life as 0 (region_create zeroes them together, then sets
     * the few that start otherwise), so a field added here starts as 0
     * unless region_create says otherwise.
     *
     * The lock, and what a locked call reads and writes beside it, next
     * to the slot map's header: with the lock 60 bytes further on and the
     * arena's fields in between, a locked register or release of a shared
     * region touched five cache lines, a mutex-guarded array three. */
    rgn_lock_t lock;
    struct rgn_bias bias; /* a listed region that is not shared */
    /* Registrations are not counted: their number is always
     * slots.live + released_early + removed + closed. */
    uint64_t released_early;
    /* What the region tracks beyond its slots -- audit records, a limit,
     * lifetimes, its place in the registry of listed regions -- or NULL
     * when it tracks none of them (audit.h). */
    struct rgn_tracking *tracking;
    /* The thread inside a call of a listed region nobody shares (its
     * rgn__self tag, 0 when none), and the site of that call if it has
     * one: a second thread that finds another inside is using a region
     * that was never shared (rgn__lock).  Relaxed atomics: a diagnostic
     * that may miss a race, never reports one that did not happen. */
    _Atomic uintptr_t user;
    const struct rgn_site *_Atomic user_site;
    struct rgn_chunk *chunks; /* arena chunks in use, newest first */
    union {
        struct rgn_chunk *kept;      /* kept by rgn_clear for this round */
        struct rgn_arena_tool *tool; /* where a memory tool is on: the
                                        arena's state (arena.c) */
    };
    uint64_t removed; /* unprotected or moved away */
    uint64_t closed;  /* cleaned up by the close */
    atomic_uint_fast64_t cleanup_errors;

    /* Cold. */
    bool two_threads_seen; /* reported once per region */
    uint32_t refs;
    uint32_t pending;   /* rgn_allocate reservations in flight */
    bool scope;         /* its close is the intended end of all it
                           holds: the audit reports nothing then */
    uint8_t freed_mode; /* RGN_FREED: the audit mode it closed with */
    const struct rgn_site *made_at; /* where rgn_new & co. were called */
    rgn_failure_fn on_error;        /* rgn_on_cleanup_error's hook, or NULL */
    void *on_error_arg;
    rgn_release_type close_how;
    int close_result;   /* the first non-zero cleanup result so far */
    rgn_t *close_outer; /* the closing region whose loop closes this
                           one, or NULL (region.c, close_loop) */
    char *name;         /* rgn_set_name, or NULL */
    /* Where this child sits: written under the lock of the parent it
     * sits in (both parents' for a move), read through that lock too
     * (child.c says how a child finds it). */
    rgn_t *_Atomic parent;
    rgn_key_t parent_key;

    /* Up to here from the lock, region_create's zeroes.  The live
     * list's head next, in the line where they end: creating and closing
     * an empty region touches one cache line fewer.  Slot 1's cleanup,
     * a one-resource region's, aligned: unaligned, it straddled two. */
    struct rgn_link inline_ln[RGN_INLINE_SLOTS]; /* [0] is the head */
    _Alignas(16) struct rgn_cb inline_cb[RGN_INLINE_SLOTS];
    /* The arena's first bytes: a small region allocates nothing more. */
    _Alignas(16) char arena_inline[RGN_ARENA_INLINE];
};

#define RGN_ZEROED_BYTES                                                      \
    (offsetof(struct rgn, inline_ln) - offsetof(struct rgn, lock))

/*
 * rgn.h's inline fast paths read and write the region's first bytes
 * through struct rgn_hot_, compiled into programs: every field there is
 * this struct's, at the same place, for the life of librgn.so.1.  The
 * numbers are the released layout (LP64): a change that moves one is an
 * ABI break, and needs a new soname and a new hot prefix (doc/HACKING).
 */
#define RGN_HOT_(field, hot, at)                                              \
    _Static_assert(                                                           \
        offsetof(struct rgn, field) == offsetof(struct rgn_hot_, hot) &&      \
            (sizeof(void *) != 8 || offsetof(struct rgn_hot_, hot) == (at)),  \
        "rgn.h's struct rgn_hot_ is ABI: " #field)
RGN_HOT_(arena_at, arena_at, 0);
RGN_HOT_(arena_end, arena_end, 8);
RGN_HOT_(mode, mode, 16);
RGN_HOT_(slots.cb, cb, 24);
RGN_HOT_(slots.ln, ln, 32);
RGN_HOT_(slots.id, id, 40);
RGN_HOT_(slots.free_head, free_head, 48);
RGN_HOT_(slots.used, used, 52);
RGN_HOT_(slots.cap, cap, 56);
RGN_HOT_(slots.live, live, 64);
RGN_HOT_(slots.peak, peak, 72);
RGN_HOT_(sample_in, sample_in, 20);
RGN_HOT_(lean_span, lean_span, 80);
#undef RGN_HOT_
_Static_assert(sizeof(struct rgn_cb) == sizeof(struct rgn_hot_cb_) &&
                   offsetof(struct rgn_cb, resource) ==
                       offsetof(struct rgn_hot_cb_, resource),
               "a slot's cleanup is ABI");
_Static_assert(sizeof(struct rgn_link) == sizeof(struct rgn_hot_ln_) &&
                   offsetof(struct rgn_link, prev) ==
                       offsetof(struct rgn_hot_ln_, prev) &&
                   offsetof(struct rgn_link, next) ==
                       offsetof(struct rgn_hot_ln_, next),
               "a slot's links are ABI");

/*
 * The fields of r that threads other than its owner read or write
 * atomically without its lock, once r is shared or listed: the lock
 * word, the mode word, the lean span, the failure hook and its count,
 * the two-threads check's.  helgrind and DRD would take each of those
 * accesses for a race (race.h), so they are told to leave them alone
 * from then on (atomic true), and to watch them again before r's memory
 * may be anything else (false).
 */
RGN_HIDDEN void rgn__race_region_vg(rgn_t *r, bool atomic);
/* Gives r's memory back to the allocator, the fields helgrind and DRD
 * left alone watched again first: every region's memory leaves so. */
RGN_HIDDEN void rgn__region_memory_free(rgn_t *r);
static inline void rgn__race_region(rgn_t *r, bool atomic)
{
    if (RGN_UNLIKELY(rgn__race_vg))
        rgn__race_region_vg(r, atomic);
}

/*
 * The fast paths' test of r->mode, made without r's lock: 0 means open,
 * unshared, untracked and unlisted.  On a shared region another thread
 * may change `state` meanwhile (rgn_clear does, under the lock), so the
 * word is read, and written by rgn_clear, as a relaxed atomic: a plain
 * load on the machines rgn runs on, and no data race.  The answer cannot
 * change under the caller: `shared` is set for good.
 */
static inline uint32_t rgn__mode(const rgn_t *r)
{
    return __atomic_load_n(&r->mode, __ATOMIC_RELAXED);
}

/* The mode word of an open region nobody shares, tracked and listed: an
 * audited one, where lean calls may apply (audit.h).  rgn.h's inline
 * lean registration compares with it: ABI. */
static inline uint32_t rgn__mode_listed(void)
{
    _Static_assert(RGN_OPEN == 0 && offsetof(struct rgn, state) == 16 &&
                       offsetof(struct rgn, shared) == 17 &&
                       offsetof(struct rgn, tracked) == 18 &&
                       offsetof(struct rgn, locked) == 19,
                   "the mode word's bytes, as RGN_MODE_LISTED_ has them");
    return RGN_MODE_LISTED_; /* tracked and locked, in byte order */
}

/* Sets r's state, r locked, as an atomic store of its byte: the other
 * bytes of the word (`locked`, read plainly) are not written. */
static inline void rgn__set_state(rgn_t *r, enum rgn_state st)
{
    __atomic_store_n(&r->state, (uint8_t)st, __ATOMIC_RELAXED);
}

/* Sets whether r has tracking state, r locked, as an atomic store of the
 * mode word's byte: on a shared region other threads read the word
 * meanwhile without the lock (rgn.h's inline paths; the `shared` byte
 * sends them to the library).  Written plainly, ThreadSanitizer
 * reported the first rgn_find of a shared region racing with another
 * thread's rgn_register. */
static inline void rgn__set_tracked(rgn_t *r, bool tracked)
{
    __atomic_store_n(&r->tracked, tracked, __ATOMIC_RELAXED);
}

/* ---- the region's lock: free for regions never shared or listed -------- */

/*
 * A listed region that is not shared is used by one thread, its owner,
 * and read now and then by a process-wide reader: its owner takes the
 * biased lock (lock.h).  Without bias, or once a reader turned it off,
 * such a region takes its real lock like a shared one.
 */
static inline bool rgn__biased(const rgn_t *r)
{
    /* No read of `shared` without bias. */
    return rgn__bias_ok && !r->shared && rgn__bias_on(&r->bias);
}

static inline bool rgn__unshared(const rgn_t *r)
{
    return !__atomic_load_n(&r->shared, __ATOMIC_RELAXED);
}

/*
 * Two threads at once on a region nobody shared corrupt it: the biased
 * lock keeps out readers, not a second owner.  So a listed, unshared
 * region notes which thread is inside a call, and a thread that finds
 * another there reports it (misuse.c, through above.h, after taking
 * the lock).
 * A region handed from one thread to another between calls is not
 * reported: the first left no mark.  The tag is the address of a
 * thread-local byte; the site is the call's, when it has one
 * (rgn__call_site, set by registrations).
 */
RGN_HIDDEN extern __thread char rgn__self_tag
    __attribute__((tls_model("initial-exec")));
RGN_HIDDEN extern __thread const struct rgn_site *rgn__call_site
    __attribute__((tls_model("initial-exec")));

/* Marks this thread inside r; returns true when another thread was. */
static inline bool rgn__user_enter(rgn_t *r, const struct rgn_site **other)
{
    uintptr_t self = (uintptr_t)&rgn__self_tag;
    uintptr_t u = atomic_load_explicit(&r->user, memory_order_relaxed);
    bool clash = u != 0 && u != self;
    if (RGN_UNLIKELY(clash))
        *other = atomic_load_explicit(&r->user_site, memory_order_relaxed);
    atomic_store_explicit(&r->user, self, memory_order_relaxed);
    atomic_store_explicit(&r->user_site, rgn__call_site, memory_order_relaxed);
    return clash;
}

/* A shared region is tested for first: its calls take the real lock
 * and nothing else (an uncontended shared pair tested `shared` eight
 * times).  `shared` cannot change between a lock and its unlock:
 * become_shared (share.c) runs outside them. */
static inline void rgn__lock(rgn_t *r)
{
    if (RGN_UNLIKELY(r->locked)) {
        if (!rgn__unshared(r)) {
            rgn__lock_take(&r->lock);
            return;
        }
        const struct rgn_site *other = NULL;
        bool clash = rgn__user_enter(r, &other);
        if (rgn__bias_ok && rgn__bias_on(&r->bias))
            (void)rgn__bias_enter(&r->bias, &r->lock); /* (see lock.h) */
        else
            rgn__lock_take(&r->lock);
        if (RGN_UNLIKELY(clash))
            rgn__above()->two_threads(r, other);
    }
}

/* For RGN_ASSERT: r's lock is held, by someone -- the caller, where a
 * function says "r locked" -- or r needs none (never shared or listed).
 * Only the real lock can be told held: a biased region's section may
 * have been left by a second thread that should never have been inside,
 * which rgn reports (rgn__two_threads) and must not turn into an abort
 * here. */
static inline bool rgn__held(const rgn_t *r)
{
    return !r->locked || rgn__biased(r) ||
           atomic_load_explicit(&r->lock.word, memory_order_relaxed) != 0;
}

static inline void rgn__unlock(rgn_t *r)
{
    RGN_ASSERT(rgn__held(r));
    if (RGN_UNLIKELY(r->locked)) {
        if (!rgn__unshared(r)) {
            rgn__lock_give(&r->lock);
            return;
        }
        atomic_store_explicit(&r->user, 0, memory_order_relaxed);
        if (rgn__bias_ok && rgn__bias_on(&r->bias))
            rgn__bias_exit(&r->bias);
        else
            rgn__lock_give(&r->lock);
    }
}

/*
 * Takes the lock of r, a shared region, only if no thread holds it: true
 * when taken.  A move holds one region while it takes another, and must
 * not wait for a thread that may be waiting for it (resource.c,
 * lock_pair).  As rgn__lock_take's first attempt: a word left held by a
 * thread of a parent process is not taken here, but by the wait that
 * follows a refusal.
 */
static inline bool rgn__lock_try_shared(rgn_t *r)
{
    unsigned expected = 0;
    unsigned held =
        atomic_load_explicit(&rgn__lock_epoch, memory_order_relaxed) | 1u;
    return atomic_compare_exchange_strong_explicit(&r->lock.word, &expected,
                                                   held, memory_order_acquire,
                                                   memory_order_relaxed);
}

/* What a process-wide reader (the audit's reports, metrics; under the
 * registry's lock) takes to read a listed region another thread may own
 * (lock.c).  False when it may not read r now, holding nothing: r's
 * owner has yet to answer a reader that could not fence. */
RGN_HIDDEN bool rgn__reader_lock(rgn_t *r);
RGN_HIDDEN void rgn__reader_unlock(rgn_t *r);

/* ---- running cleanups ------------------------------------------------- */

/*
 * Cleanups run by rgn_release may free the very region they were
 * released from (by closing its parent).  Each such run is a frame on a
 * per-thread stack; freeing a region clears it from the frames, so the
 * release knows whether it may still count a failure in the region.
 */
struct rgn_frame {
    rgn_t *r; /* NULL once r was freed */
    struct rgn_frame *up;
};
/* The stack's top is rgn__run_state.frames (error.h). */

/* A cleanup of r returned rc (non-zero): counts it and calls r's hook.
 * r unlocked (its hook cannot change while its cleanups run). */
RGN_HIDDEN void rgn__cleanup_failed(rgn_t *r, int rc, void *resource,
                                    rgn_release_type how);

/* How rgn__run runs a cleanup. */
enum rgn_run {
    RGN_RUN_BARE,  /* the caller saves errno around many (a close) */
    RGN_RUN_ERRNO, /* errno saved around it */
    RGN_RUN_FRAMED /* errno saved, and inside a frame: the cleanup may
                       free r, which then counts nothing (rgn_release) */
};

/* A thread cancelled inside a framed cleanup takes its frame off the
 * stack as it unwinds. */
static inline void rgn__frame_pop(void *f)
{
    rgn__run_state.frames = ((struct rgn_frame *)f)->up;
}

/*
 * The one way rgn runs a cleanup that has left r: calls it, and counts a
 * non-zero result in r (which may be NULL) -- for a framed run, only if r
 * still exists afterwards.  `way` is a constant at every call, so each
 * inlined copy holds only what its way needs.  err is errno's address
 * (rgn__errno), unused for RGN_RUN_BARE: rgn__run finds it itself.
 */
static inline __attribute__((always_inline)) int
rgn__run_at(rgn_t *r, struct rgn_cb cb, rgn_release_type how, enum rgn_run way,
            int *err)
{
    if (way == RGN_RUN_BARE) {
        int rc = cb.fn(cb.resource, how);
        if (RGN_UNLIKELY(rc != 0) && r)
            rgn__cleanup_failed(r, rc, cb.resource, how);
        return rc;
    }
    int saved = *err;
    int rc;
    if (way == RGN_RUN_FRAMED) {
        struct rgn_frame f = {r, rgn__run_state.frames};
        rgn__run_state.frames = &f;
        pthread_cleanup_push(rgn__frame_pop, &f);
        rc = cb.fn(cb.resource, how);
        pthread_cleanup_pop(0);
        rgn__run_state.frames = f.up;
        /* errno's address read again, through the register that holds
         * the thread's state, rather than kept in one of its own. */
        err = rgn__run_state.errno_at;
        if (RGN_UNLIKELY(rc != 0) && f.r)
            rgn__cleanup_failed(f.r, rc, cb.resource, how);
    } else {
        rc = cb.fn(cb.resource, how);
        if (RGN_UNLIKELY(rc != 0) && r)
            rgn__cleanup_failed(r, rc, cb.resource, how);
    }
    *err = saved;
    return rc;
}

static inline __attribute__((always_inline)) int
rgn__run(rgn_t *r, struct rgn_cb cb, rgn_release_type how, enum rgn_run way)
{
    return rgn__run_at(r, cb, how, way,
                       way == RGN_RUN_BARE ? NULL : rgn__errno());
}

/* ---- cache.c: regions kept for reuse, per thread ------------------------- */

/* Inline here, as a region's creation and close are; cache.c opens the
 * cache, empties it at thread exit and for rgn_trim. */
struct rgn_cache {
    rgn_t *head;  /* linked through close_outer */
    size_t room;  /* the bytes it may keep still */
    size_t limit; /* its bound now (cache.c); 0 before it opens, where a
                     tool watches, and once the thread exits */
    bool opened;  /* the first keep has looked */
    /* cache.c's: how the bound follows the thread's demand. */
    size_t owed;        /* regions made while the cache was empty */
    size_t low;         /* the least it kept at a look this window */
    uint64_t window_at; /* when the window began, ns */
};
RGN_HIDDEN extern __thread struct rgn_cache rgn__cache
    __attribute__((tls_model("initial-exec")));
/* A keep that finds no room: opens the cache the first time, grows it
 * when the thread's demand says so (cache.c), else false. */
RGN_HIDDEN bool rgn__cache_keep_slow(rgn_t *r);
/* Gives back what the cache kept and nobody took for a while; region.c
 * calls it every `made` regions the thread makes.  No lock held. */
RGN_HIDDEN void rgn__cache_look(size_t made);

/* A region was made while the cache had none to give: one the cache may
 * grow by (cache.c). */
static inline void rgn__cache_missed(void)
{
    rgn__cache.owed++;
}

/* The bytes a kept region holds: its struct, and its first slot block
 * if it grew into one. */
static inline size_t rgn__cache_size(const rgn_t *r)
{
    size_t slot = sizeof(struct rgn_cb) + sizeof(struct rgn_link);
    return sizeof *r +
           (r->slots.cap == RGN_FIRST_BLOCK ? RGN_FIRST_BLOCK * slot : 0);
}

/* Keeps r, freed but for its struct and first slot block (a bigger one
 * goes), for the thread's next region; false when it cannot (a tool
 * watches, the cache is full, the thread exits): the caller frees it. */
static inline bool rgn__cache_keep(rgn_t *r)
{
    struct rgn_cache *k = &rgn__cache;
    if (RGN_UNLIKELY(r->slots.cap > RGN_FIRST_BLOCK)) {
        rgn__slots_destroy(&r->slots); /* back to the inline slots */
        rgn__slots_init(&r->slots, r->slots.id, r->inline_cb, r->inline_ln);
    }
    size_t size = rgn__cache_size(r);
    if (RGN_UNLIKELY(size > k->room))
        return rgn__cache_keep_slow(r);
    k->room -= size;
    r->close_outer = k->head;
    k->head = r;
    return true;
}

/* A region from the cache, or NULL; its slot map still has its storage
 * (cap RGN_INLINE_SLOTS or a first block). */
static inline rgn_t *rgn__cache_take(void)
{
    struct rgn_cache *k = &rgn__cache;
    rgn_t *r = k->head;
    if (RGN_LIKELY(r != NULL)) {
        k->head = r->close_outer;
        k->room += rgn__cache_size(r);
    }
    return r;
}

/* ---- region.c ----------------------------------------------------------- */

/* A new open region holding one reference; NULL with errno ENOMEM. */
RGN_HIDDEN rgn_t *rgn__region_create(const struct rgn_site *site);
/* Frees r's memory; every cleanup has run. */
RGN_HIDDEN void rgn__region_free(rgn_t *r);
/* rgn_close or rgn_close_error (how), named call in a use-after-close
 * report. */
RGN_HIDDEN int rgn__close_as(rgn_t *r, rgn_release_type how, const char *call);
/* Drops one reference of a region that sits in no parent. */
RGN_HIDDEN int rgn__drop_ref(rgn_t *r, rgn_release_type how);
/* rgn__drop_ref up to the close: true with r locked and closing when the
 * reference was the last (the caller runs the close), else false with *rc
 * the result. */
RGN_HIDDEN bool rgn__drop_ref_begins_close(rgn_t *r, rgn_release_type how,
                                           int *rc);

/* ---- child.c ------------------------------------------------------------ */

/* rgn__child_cleanup (rgn.h: exported for the inline fast paths) is the
 * cleanup a parent holds for each child region. */
/* Makes c a child of r (rgn_new_child, and registering a child that
 * rgn_unprotect handed back): -EINVAL, nothing run, when c cannot be
 * adopted; else as rgn__register_slot.  call names the public call in a
 * use-after-close report (NULL: rgn_register). */
RGN_HIDDEN int rgn__child_attach(rgn_t *r, rgn_t *c, rgn_key_t *key,
                                 const char *call,
                                 const struct rgn_site *site);
/* True when `to` is c or lies below it: a move would make c own itself.
 * O(depth of to). */
RGN_HIDDEN bool rgn__child_would_own(rgn_t *c, rgn_t *to);
/* Takes c, locked, out of its parent.  False when the parent already
 * took c's slot: whoever took it drops c's reference, not the caller. */
RGN_HIDDEN bool rgn__child_detach(rgn_t *c);
/* rgn__child_detach for an unlocked c. */
RGN_HIDDEN void rgn__detach(rgn_t *c);
/* Tells a child its slot left the parent without closing it. */
RGN_HIDDEN void rgn__child_orphan(rgn_t *child);
/* rgn__child_cleanup for a closing parent's loop: true when the child's
 * close is to run in that loop (c locked and closing). */
RGN_HIDDEN bool rgn__child_begins_close(rgn_t *c, rgn_release_type how,
                                        int *rc);

#endif /* RGN_REGION_H */

/* SPDX-License-Identifier: MIT */
/*
 * internal.h -- private structures shared by the files of lib/.
 *
 * A region's resources live in slots.  Slot i has two halves:
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
 * The first RGN_INLINE_SLOTS slots live inside the region (slot 0 is the
 * head), so a small region costs one allocation; beyond them both arrays
 * grow by realloc (see map.c).  Nothing keeps a slot's address across a
 * call that may grow the arrays: slots are named by index everywhere.
 */
#ifndef RGN_INTERNAL_H
#define RGN_INTERNAL_H

#include <config.h>

#include "rgn.h"
#include "sketch.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define RGN_HIDDEN __attribute__((visibility("hidden")))
#define RGN_LIKELY(x) __builtin_expect(!!(x), 1)
#define RGN_UNLIKELY(x) __builtin_expect(!!(x), 0)

/*
 * RGN_ASSERT(cond): an invariant the comments state, checked where the
 * library is built with -DRGN_DEBUG (the sanitizer, fuzz and retire
 * builds); nothing at all otherwise.  A failure names the invariant and
 * aborts: it is rgn's bug, never the caller's.
 */
#ifdef RGN_DEBUG
RGN_HIDDEN _Noreturn void rgn__assert_failed(const char *what,
                                             const char *file, int line);
#define RGN_ASSERT(cond)                                                  \
    ((cond) ? (void)0 : rgn__assert_failed(#cond, __FILE__, __LINE__))
#else
#define RGN_ASSERT(cond) ((void)0)
#endif

/* Slots inside the region itself, before the arrays first grow. */
#define RGN_INLINE_SLOTS 8u
/* Arena bytes inside the region itself (arena.c).  Every byte here is
 * paid by every region: with 256, closing 60,000 regions of 16 resources
 * cost 38 ns a resource instead of 22 at 64 (and 16 at none) -- more
 * memory to walk at each free.  64 holds a small request's strings. */
#define RGN_ARENA_INLINE 64u
/* Slot indices are 32-bit; the arrays stop growing here. */
#define RGN_MAX_SLOTS (UINT32_MAX - 1u)
/* The audit keeps its records in groups of 8 slots (see audit.c). */
#define RGN_GROUP_SHIFT 3u
#define RGN_GROUP_SLOTS (1u << RGN_GROUP_SHIFT)
#define RGN_GROUP_MASK (RGN_GROUP_SLOTS - 1u)

struct rgn_cb {
    rgn_cleanup_fn fn;
    void *resource;
};

struct rgn_link {
    uint32_t gen;   /* bumped each time the slot's resource leaves */
    uint32_t prev;  /* live list; unused while free                 */
    uint32_t next;  /* live list, or the free stack                 */
};

/* What the audit remembers of one resource (see audit.c). */
struct rgn_arec {
    const struct rgn_site *site; /* NULL: unknown                     */
    const char *label;
    uint64_t born;               /* rgn__now() at registration, 0: unknown */
    uint32_t flags;              /* RGN_AREC_*                          */
};
#define RGN_AREC_EXPECTED 1u     /* rgn_expect_close: not a leak        */
#define RGN_AREC_HELD 2u         /* reported as held once already       */

/* The lifetimes of the resources one site registered (see lifetime.c). */
struct rgn_site_life {
    const struct rgn_site *site;
    bool used;
    struct rgn_sketch life;      /* nanoseconds, one per early release  */
};

/* A region's audit state; exists while it is audited, tracks lifetimes
 * or has a limit. */
struct rgn_audit {
    rgn_audit_mode mode;
    bool lifetimes;              /* early releases feed the sketches    */
    struct rgn_site_life *sites; /* open addressing on the site pointer */
    uint32_t sites_cap, nsites;
    uint32_t last_site;          /* index of the site seen last         */
    size_t limit;                /* 0: none                             */
    size_t next_warn;            /* live count of the next warning      */
    struct rgn_arec **recs;      /* recs[g]: records of slot group g    */
    uint32_t recs_cap;
    rgn_t *region;
    struct rgn_audit *prev, *next; /* the registry of open regions      */
    bool listed;
    bool inherited;              /* made before this process forked:
                                    no reader here touches it           */
    bool ignored;                /* rgn_audit_ignore_open: left out of
                                    open-region and exit reports        */
    uint64_t next_held_check;    /* rgn__now() of the next look for
                                    held resources (audit.c)            */
};

/* The lock a region takes once it is shared or listed (see share.c).
 * word is 0 when free; otherwise the fork epoch of the holder's process
 * (rgn__lock_epoch, a multiple of 4) plus 1 when held, or plus 2 when held
 * and a waiter may be asleep on it. */
typedef struct rgn_lock {
    atomic_uint word;
} rgn_lock_t;

enum rgn_state {
    RGN_OPEN,     /* accepts registrations                              */
    RGN_CLEARING, /* rgn_clear is running the cleanups: as CLOSING, but
                     references that are not the last may be dropped    */
    RGN_CLOSING,  /* last reference gone; cleanups are running          */
    RGN_DRAINED,  /* cleanups done, but an rgn_allocate still holds a
                     reservation: the region is freed when it finishes  */
    RGN_FREED     /* closed for good, kept empty in the audit's
                     quarantine to catch a use after close (audit.c)    */
};

struct rgn {
    /* Hot: touched by every register and release. */
    uint64_t id;             /* process-unique, never 0 (keys carry it)  */
    uint32_t free_head;      /* top of the free stack, 0 when empty       */
    uint32_t used;           /* slots handed out at least once            */
    union {
        struct {
            uint8_t state;   /* enum rgn_state                            */
            bool shared;     /* rgn_share was called: references count    */
            bool audited;    /* audit != NULL                             */
            bool locked;     /* every call takes the lock: shared, or
                                listed where process-wide readers see it
                                (see share.c); never cleared              */
        };
        uint32_t mode;       /* all at once: 0 = the fast path applies    */
    };
    uint32_t cap;            /* slots cb[] and ln[] have room for         */
    struct rgn_cb *cb;       /* inline_cb until the first growth          */
    struct rgn_link *ln;     /* inline_ln until the first growth          */
    char *arena_at;          /* the arena's bump pointer (arena.c)        */
    char *arena_end;         /* the end of its current chunk              */
    struct rgn_chunk *chunks; /* arena chunks in use, newest first      */
    struct rgn_chunk *spare;  /* one kept by rgn_clear for the next round */
    size_t live;
    size_t peak;
    /* Registrations are not counted: their number is always
     * live + released_early + removed + closed. */
    uint64_t released_early;
    struct rgn_audit *audit; /* NULL unless audited or limited        */
    uint64_t removed;        /* unprotected or moved away                 */
    uint64_t closed;         /* cleaned up by the close                   */
    atomic_uint_fast64_t cleanup_errors;

    /* Cold. */
    rgn_lock_t lock;
    /* The biased lock of a listed region that is not shared (share.c). */
    atomic_uint bias_busy;   /* its owner thread is inside a call       */
    atomic_uint bias_claim;  /* a reader holds it, or waits for it      */
    /* The thread inside a call of a listed region nobody shares (its
     * rgn__self tag, 0 when none), and the site of that call if it has
     * one: a second thread that finds another inside is using a region
     * that was never shared (rgn__lock).  Relaxed atomics: a diagnostic
     * that may miss a race, never reports one that did not happen. */
    _Atomic uintptr_t user;
    const struct rgn_site *_Atomic user_site;
    bool two_threads_seen;   /* reported once per region                  */
    uint32_t refs;
    uint32_t pending;        /* rgn_allocate reservations in flight       */
    bool scope;              /* its close is the intended end of all it
                                holds: the audit reports nothing then      */
    uint8_t freed_mode;      /* RGN_FREED: the audit mode it closed with  */
    const struct rgn_site *made_at; /* where rgn_new & co. were called   */
    rgn_failure_fn on_error; /* rgn_on_cleanup_error's hook, or NULL     */
    void *on_error_arg;
    rgn_release_type close_how;
    int close_result;        /* the first non-zero cleanup result so far */
    rgn_t *close_outer;      /* the closing region whose loop closes this
                                one, or NULL (region.c, close_loop)       */
    char *name;              /* rgn_set_name, or NULL                     */
    /* Where this child sits: written under the lock of the parent it
     * sits in (both parents' for a move), read through that lock too
     * (child.c says how a child finds it). */
    rgn_t *_Atomic parent;
    rgn_key_t parent_key;

    struct rgn_cb inline_cb[RGN_INLINE_SLOTS];
    struct rgn_link inline_ln[RGN_INLINE_SLOTS]; /* [0] is the head      */
    /* The arena's first bytes: a small region allocates nothing more. */
    _Alignas(16) char arena_inline[RGN_ARENA_INLINE];
};

/*
 * The fast paths' test of r->mode, made without r's lock: 0 means open,
 * unshared, unaudited and unlisted.  On a shared region another thread
 * may change `state` meanwhile (rgn_clear does, under the lock), so the
 * word is read, and written by rgn_clear, as a relaxed atomic: a plain
 * load on the machines rgn runs on, and no data race.  The answer cannot
 * change under the caller: `shared` is set for good.
 */
static inline uint32_t rgn__mode(const rgn_t *r)
{
    return __atomic_load_n(&r->mode, __ATOMIC_RELAXED);
}

/* Sets r's state, r locked, as an atomic store of its byte: the other
 * bytes of the word (`locked`, read plainly) are not written. */
static inline void rgn__set_state(rgn_t *r, enum rgn_state st)
{
    __atomic_store_n(&r->state, (uint8_t)st, __ATOMIC_RELAXED);
}

/* ---- locking: free for regions never shared or listed ------------------ */

/* The fork epoch, times 4: bumped in a forked child, so that a lock word
 * a thread of the parent left held is known for abandoned (share.c). */
RGN_HIDDEN extern atomic_uint rgn__lock_epoch;
RGN_HIDDEN void rgn__lock_slow(rgn_lock_t *l);
RGN_HIDDEN void rgn__lock_wake(rgn_lock_t *l);
RGN_HIDDEN void rgn__lock_after_fork(void);

/* Takes r's lock, which the caller knows r uses (r->locked). */
static inline void rgn__lock_shared(rgn_t *r)
{
    unsigned expected = 0;
    unsigned held = atomic_load_explicit(&rgn__lock_epoch,
                                         memory_order_relaxed) | 1u;
    if (!atomic_compare_exchange_weak_explicit(&r->lock.word, &expected,
                                               held, memory_order_acquire,
                                               memory_order_relaxed))
        rgn__lock_slow(&r->lock);
}

static inline void rgn__unlock_shared(rgn_t *r)
{
    if ((atomic_exchange_explicit(&r->lock.word, 0, memory_order_release) &
         3u) == 2u)
        rgn__lock_wake(&r->lock);
}

/*
 * A listed region that is not shared is used by one thread, its owner,
 * and read now and then by a process-wide reader.  Its owner takes a
 * biased lock: a store and a load on entry, a store and a load on exit,
 * no atomic read-modify-write; the reader pays for both sides with a
 * membarrier() (share.c).  Where membarrier is missing, or under
 * ThreadSanitizer (which cannot see it), rgn__bias_ok is false and such a
 * region takes its real lock like a shared one.
 */
RGN_HIDDEN extern bool rgn__bias_ok;
RGN_HIDDEN void rgn__bias_enter_slow(rgn_t *r);
RGN_HIDDEN void rgn__bias_wake_reader(rgn_t *r);

static inline void rgn__bias_enter(rgn_t *r)
{
    atomic_store_explicit(&r->bias_busy, 1, memory_order_relaxed);
    /* Only the compiler is kept from reordering: the reader's membarrier
     * supplies the processor's fence on this side. */
    atomic_signal_fence(memory_order_seq_cst);
    if (RGN_UNLIKELY(atomic_load_explicit(&r->bias_claim,
                                          memory_order_relaxed)))
        rgn__bias_enter_slow(r);
    atomic_signal_fence(memory_order_seq_cst);
}

static inline void rgn__bias_exit(rgn_t *r)
{
    atomic_store_explicit(&r->bias_busy, 0, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    if (RGN_UNLIKELY(atomic_load_explicit(&r->bias_claim,
                                          memory_order_relaxed)))
        rgn__bias_wake_reader(r);
}

/* Whether r's own calls take the biased lock rather than the real one. */
static inline bool rgn__biased(const rgn_t *r)
{
    return rgn__bias_ok && !r->shared; /* no read of `shared` without */
}

/*
 * Two threads at once on a region nobody shared corrupt it: the biased
 * lock keeps out readers, not a second owner.  So a listed, unshared
 * region notes which thread is inside a call, and a thread that finds
 * another there reports it (rgn__two_threads, after taking the lock).
 * A region handed from one thread to another between calls is not
 * reported: the first left no mark.  The tag is the address of a
 * thread-local byte; the site is the call's, when it has one
 * (rgn__call_site, set by registrations).
 */
RGN_HIDDEN extern __thread char rgn__self_tag
    __attribute__((tls_model("initial-exec")));
RGN_HIDDEN extern __thread const struct rgn_site *rgn__call_site
    __attribute__((tls_model("initial-exec")));
RGN_HIDDEN void rgn__two_threads(rgn_t *r, const struct rgn_site *other);

/* Marks this thread inside r; returns true when another thread was. */
static inline bool rgn__user_enter(rgn_t *r, const struct rgn_site **other)
{
    uintptr_t self = (uintptr_t)&rgn__self_tag;
    uintptr_t u = atomic_load_explicit(&r->user, memory_order_relaxed);
    bool clash = u != 0 && u != self;
    if (RGN_UNLIKELY(clash))
        *other = atomic_load_explicit(&r->user_site, memory_order_relaxed);
    atomic_store_explicit(&r->user, self, memory_order_relaxed);
    atomic_store_explicit(&r->user_site, rgn__call_site,
                          memory_order_relaxed);
    return clash;
}

static inline bool rgn__unshared(const rgn_t *r)
{
    return !__atomic_load_n(&r->shared, __ATOMIC_RELAXED);
}

static inline void rgn__lock(rgn_t *r)
{
    if (RGN_UNLIKELY(r->locked)) {
        const struct rgn_site *other = NULL;
        bool clash = rgn__unshared(r) && rgn__user_enter(r, &other);
        if (rgn__biased(r))
            rgn__bias_enter(r);
        else
            rgn__lock_shared(r);
        if (RGN_UNLIKELY(clash))
            rgn__two_threads(r, other);
    }
}

static inline void rgn__unlock(rgn_t *r)
{
    if (RGN_UNLIKELY(r->locked)) {
        if (rgn__unshared(r))
            atomic_store_explicit(&r->user, 0, memory_order_relaxed);
        if (rgn__biased(r))
            rgn__bias_exit(r);
        else
            rgn__unlock_shared(r);
    }
}

/* What a process-wide reader (audit.c, under the registry's lock) takes
 * to read a listed region another thread may own. */
RGN_HIDDEN void rgn__reader_lock(rgn_t *r);
RGN_HIDDEN void rgn__reader_unlock(rgn_t *r);

/*
 * Cleanups run by rgn_release may free the very region they were
 * released from (by closing its parent).  Each such run is a frame on a
 * per-thread stack; freeing a region clears it from the frames, so the
 * release knows whether it may still count a failure in the region.
 */
struct rgn_frame {
    rgn_t *r;                 /* NULL once r was freed                */
    struct rgn_frame *up;
};
RGN_HIDDEN extern __thread struct rgn_frame *rgn__frames
    __attribute__((tls_model("initial-exec")));

/* ---- arena.c ------------------------------------------------------------ */

/* rgn_alloc when the bump does not fit, or r needs its lock. */
RGN_HIDDEN void *rgn__arena_alloc_slow(rgn_t *r, size_t size);
/* Frees every chunk of r's arena (the region is being freed). */
RGN_HIDDEN void rgn__arena_free(rgn_t *r);
/* Empties r's arena for reuse, keeping one chunk (rgn_clear). */
RGN_HIDDEN void rgn__arena_reset(rgn_t *r);
static inline void rgn__arena_init(rgn_t *r)
{
    r->arena_at = r->arena_inline;
    r->arena_end = r->arena_inline + RGN_ARENA_INLINE;
    r->chunks = r->spare = NULL;
}

/* ---- region.c ----------------------------------------------------------- */

/* A new open region holding one reference; NULL with errno ENOMEM. */
RGN_HIDDEN rgn_t *rgn__region_create(const struct rgn_site *site);
/* Frees r's memory; every cleanup has run. */
RGN_HIDDEN void rgn__region_free(rgn_t *r);
/* Drops one reference of a region that sits in no parent. */
RGN_HIDDEN int rgn__drop_ref(rgn_t *r, rgn_release_type how);
/* rgn__drop_ref up to the close: true with r locked and closing when the
 * reference was the last (the caller runs the close), else false with *rc
 * the result. */
RGN_HIDDEN bool rgn__drop_ref_begins_close(rgn_t *r, rgn_release_type how,
                                           int *rc);

/* ---- resource.c --------------------------------------------------------- */

/* Registers fn(resource) in r with its origin; on failure runs it at once
 * (RGN_RELEASE_ERROR) and returns the error, as rgn_register does, but
 * without rgn_register's dispatch on children and blocks. */
RGN_HIDDEN int rgn__register_slot(rgn_t *r, rgn_cleanup_fn fn,
                                  void *resource, rgn_key_t *key,
                                  const struct rgn_site *site,
                                  const char *label);

/* ---- child.c ------------------------------------------------------------ */

/* The cleanup a parent holds for each child region. */
RGN_HIDDEN int rgn__child_cleanup(void *child, rgn_release_type how);
/* Makes c a child of r (rgn_new_child, and registering a child that
 * rgn_unprotect handed back): -EINVAL, nothing run, when c cannot be
 * adopted; else as rgn__register_slot. */
RGN_HIDDEN int rgn__child_attach(rgn_t *r, rgn_t *c, rgn_key_t *key,
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

/* ---- audit.c: records and reports (cold, except the inline tests) ---- */

/* Audits a new region if the process default says so; false: no memory. */
RGN_HIDDEN extern atomic_int rgn__audit_defaults;
RGN_HIDDEN bool rgn__audit_new_slow(rgn_t *r);
static inline bool rgn__audit_new(rgn_t *r)
{
    if (RGN_LIKELY(atomic_load_explicit(&rgn__audit_defaults,
                                        memory_order_relaxed) == 0))
        return true;
    return rgn__audit_new_slow(r);
}

/* The audit's clock (clock.c): ticks of an invariant TSC, or
 * nanoseconds of CLOCK_MONOTONIC.  Spans of ticks are converted where they
 * are read; never 0, so 0 can mean "unknown". */
RGN_HIDDEN extern bool rgn__clock_tsc;
RGN_HIDDEN uint64_t rgn__ticks_to_ns(uint64_t ticks);
RGN_HIDDEN uint64_t rgn__ns_to_ticks(uint64_t ns);
/* Nanoseconds per tick now, for converting many spans at once. */
RGN_HIDDEN double rgn__tick_ns(void);
static inline uint64_t rgn__now(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (RGN_LIKELY(rgn__clock_tsc))
        return __builtin_ia32_rdtsc();
#endif
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
/* Whether r's audit state keeps a record per resource: for the audit's
 * reports, or for the birth times lifetimes are measured from. */
static inline bool rgn__audit_records(const struct rgn_audit *a)
{
    return a->mode != RGN_AUDIT_OFF || a->lifetimes;
}

/* Makes sure slot i has a record when r keeps records; false when
 * memory ran out. */
RGN_HIDDEN bool rgn__audit_reserve_slow(rgn_t *r, uint32_t i);
static inline bool rgn__audit_reserve(rgn_t *r, uint32_t i)
{
    const struct rgn_audit *a = r->audit;
    uint32_t g = i >> RGN_GROUP_SHIFT;
    if (!rgn__audit_records(a) ||
        RGN_LIKELY(g < a->recs_cap && a->recs[g] != NULL))
        return true; /* a limit alone keeps no records */
    return rgn__audit_reserve_slow(r, i);
}
/* Carries slot i's record of `from` over to slot j of `to`. */
RGN_HIDDEN void rgn__audit_move(rgn_t *from, uint32_t i, rgn_t *to,
                                uint32_t j);

/* Looks for held resources in r (locked), a few times a second at most:
 * the look is made on r's own calls, so it needs no thread of its own. */
RGN_HIDDEN void rgn__audit_held_check(rgn_t *r, uint64_t now);
static inline void rgn__audit_tick(rgn_t *r, uint64_t now)
{
    if (RGN_UNLIKELY(now >= r->audit->next_held_check))
        rgn__audit_held_check(r, now);
}

/* Makes the limit warning of r (audit.c). */
RGN_HIDDEN void rgn__audit_limit_warning(rgn_t *r);

/*
 * Fills slot i's record for a new registration; checks the limit.  A
 * limit warning is made here, under r's lock, and written by
 * rgn__audit_flush once the caller has let go of every lock.  The slot
 * may have been taken before r kept records (an rgn_allocate in flight
 * while the audit was turned on): its record is made now, or the
 * resource stays of unknown site.
 */
static inline void rgn__audit_note(rgn_t *r, uint32_t i,
                                   const struct rgn_site *site,
                                   const char *label)
{
    struct rgn_audit *a = r->audit;
    if (rgn__audit_records(a) && rgn__audit_reserve(r, i)) {
        uint64_t now = rgn__now();
        a->recs[i >> RGN_GROUP_SHIFT][i & RGN_GROUP_MASK] =
            (struct rgn_arec){site, label, now, 0};
        rgn__audit_tick(r, now);
    }
    if (RGN_UNLIKELY(a->limit && r->live > a->next_warn))
        rgn__audit_limit_warning(r);
}

/* Reports made under locks and written after: a fixed buffer that grows
 * on the heap, lines separated by newlines (see audit.c). */
struct rgn_report {
    char *text;
    size_t len, cap;
    bool cut;               /* memory ran out: lines were lost   */
    char stack[1024];
};
RGN_HIDDEN void rgn__report_init(struct rgn_report *rep);
/* Writes rep to sink (NULL: the installed one) and frees it.  Call it
 * holding no region lock and no registry lock. */
RGN_HIDDEN void rgn__report_print(struct rgn_report *rep,
                                  rgn_audit_sink sink, void *arg);
/* Limit warnings this thread made under a lock, not yet written. */
struct rgn_deferred;
RGN_HIDDEN extern __thread struct rgn_deferred *rgn__deferred
    __attribute__((tls_model("initial-exec")));
RGN_HIDDEN void rgn__audit_flush_slow(void);
/* Writes them; called by every caller of rgn__audit_note and
 * rgn__audit_move once it holds no lock. */
static inline void rgn__audit_flush(void)
{
    if (RGN_UNLIKELY(rgn__deferred != NULL))
        rgn__audit_flush_slow();
}
/* The last reference went, r locked: makes the report of what r still
 * holds (NORMAL closes of audited regions).  True when the program must
 * abort once the report is written. */
RGN_HIDDEN bool rgn__audit_close(rgn_t *r, rgn_release_type how,
                                 struct rgn_report *rep);
/* Calls f(r, arg) for every listed region that keeps records (closing
 * ones included), r locked, until f returns non-zero, then done(arg),
 * all under the registry's lock; returns f's result, or 0.  Neither may
 * call rgn. */
RGN_HIDDEN int rgn__audit_each(int (*f)(rgn_t *r, void *arg),
                               void (*done)(void *arg), void *arg);
/* Adds the counters of r, a named region leaving the registry, to its
 * name's totals (metrics.c); registry locked. */
RGN_HIDDEN void rgn__metrics_retire(rgn_t *r);
/* Frees the audit state of a region being freed; returns the audit
 * mode it had (RGN_AUDIT_OFF when it had none). */
RGN_HIDDEN rgn_audit_mode rgn__audit_free(rgn_t *r);
/* Keeps r, freed but for its struct and name, in the quarantine of
 * closed audited regions (state RGN_FREED), freeing the oldest there. */
RGN_HIDDEN void rgn__audit_bury(rgn_t *r, rgn_audit_mode mode);
/* The result of `call` refused on a region that is not open: rc,
 * reporting a use after close first when r is RGN_FREED (and aborting
 * under RGN_AUDIT=abort).  Called holding no lock. */
RGN_HIDDEN int rgn__closed_use_slow(rgn_t *r, const char *call,
                                    const struct rgn_site *site, int rc);
static inline int rgn__closed_use(rgn_t *r, const char *call,
                                  const struct rgn_site *site, int rc)
{
    /* A buried region's state never changes again. */
    if (RGN_UNLIKELY(__atomic_load_n(&r->state, __ATOMIC_RELAXED) ==
                     RGN_FREED))
        return rgn__closed_use_slow(r, call, site, rc);
    return rc;
}

/* ---- error.c: where a failing call's value came from ----------------------
 *
 * The calls that pass through values of other code (cleanups, acquire
 * functions, system calls) note, each time they fail, the value and its
 * origin; rgn_error_origin and rgn_strerror read it.  Only failure paths
 * write it: success costs nothing.
 */
struct rgn__last_failure {
    int value;
    rgn_origin origin;
};
RGN_HIDDEN extern __thread struct rgn__last_failure rgn__last
    __attribute__((tls_model("initial-exec")));

/* Notes rc (non-zero) as the thread's last failure, from origin. */
static inline int rgn__failed(int rc, rgn_origin origin)
{
    rgn__last.value = rc;
    rgn__last.origin = origin;
    return rc;
}

/* rc from one of rgn's own checks: noted when non-zero. */
static inline int rgn__refused(int rc)
{
    return RGN_UNLIKELY(rc != 0) ? rgn__failed(rc, RGN_FROM_RGN) : 0;
}

/* A cleanup of r returned rc (non-zero): counts it and calls r's hook.
 * r unlocked (its hook cannot change while its cleanups run). */
RGN_HIDDEN void rgn__cleanup_failed(rgn_t *r, int rc, void *resource,
                                    rgn_release_type how);

/* ---- convenience.c and the resources it makes ----------------------------- */

/* The cleanup of an rgn_malloc block, whose resource is the caller's
 * pointer and whose header, just before it, holds its key: registering
 * and moving store the key there (resource.c). */
#define RGN_BLOCK_HEADER 16u
RGN_HIDDEN int rgn__free_block(void *p, rgn_release_type how);
static inline rgn_key_t *rgn__block_key(void *p)
{
    return (rgn_key_t *)((char *)p - RGN_BLOCK_HEADER);
}
RGN_HIDDEN int rgn__resource_realloc(rgn_t *r, rgn_key_t key, void *old,
                                     size_t bytes, void **moved);

/* ---- stats.c ------------------------------------------------------------ */

/* Fills *out with r's counters (lifetimes 0); r locked or unshared. */
RGN_HIDDEN void rgn__counters(const rgn_t *r, rgn_stats *out);

/* ---- lifetime.c --------------------------------------------------------- */

/* Re-reads what new regions need after a default changed (audit.c). */
RGN_HIDDEN void rgn__audit_republish(void);
/* The default for new regions (rgn_lifetimes_set_default). */
RGN_HIDDEN extern atomic_bool rgn__lifetimes_default;
/* Adds a lifetime to site's sketch in a; false when memory ran out. */
RGN_HIDDEN bool rgn__lifetime_add_slow(struct rgn_audit *a,
                                       const struct rgn_site *site,
                                       uint64_t ns);
static inline bool rgn__lifetime_add(struct rgn_audit *a,
                                     const struct rgn_site *site,
                                     uint64_t ns)
{
    /* Releases mostly come from the site the last one came from. */
    if (RGN_LIKELY(a->sites_cap != 0)) {
        struct rgn_site_life *e = &a->sites[a->last_site];
        if (RGN_LIKELY(e->site == site && e->used))
            return rgn__sketch_add(&e->life, ns);
    }
    return rgn__lifetime_add_slow(a, site, ns);
}
/* The sketch of site's lifetimes in a, or NULL when it has none. */
RGN_HIDDEN const struct rgn_sketch *
rgn__lifetime_of(const struct rgn_audit *a, const struct rgn_site *site);
/* Fills the lifetime fields of *out from a (which may be NULL). */
RGN_HIDDEN void rgn__lifetime_stats(const struct rgn_audit *a,
                                    rgn_stats *out);
/* Frees a's sketches. */
RGN_HIDDEN void rgn__lifetime_free(struct rgn_audit *a);

static inline struct rgn_arec *rgn__arec(rgn_t *r, uint32_t i)
{
    return &r->audit->recs[i >> RGN_GROUP_SHIFT][i & RGN_GROUP_MASK];
}

/*
 * Called under r's lock before live slot i is released early: feeds its
 * lifetime to its site's sketch when r tracks lifetimes.  Out of memory,
 * the lifetime goes unrecorded: a release must not fail for the sake of
 * a statistic.
 */
static inline void rgn__audit_release(rgn_t *r, uint32_t i)
{
    struct rgn_audit *a = r->audit;
    uint32_t g = i >> RGN_GROUP_SHIFT;
    if (!a->lifetimes || g >= a->recs_cap || !a->recs[g])
        return;
    const struct rgn_arec *rec = rgn__arec(r, i);
    if (!rec->born)
        return; /* registered before lifetimes were tracked */
    uint64_t now = rgn__now();
    rgn__lifetime_add(a, rec->site, now > rec->born ? now - rec->born : 0);
    rgn__audit_tick(r, now);
}

/* ---- alloc.c ------------------------------------------------------------ */

/* The allocator; it only changes before rgn__alloc_frozen is set. */
RGN_HIDDEN extern rgn_allocator rgn__alloc;
RGN_HIDDEN extern atomic_bool rgn__alloc_frozen;
RGN_HIDDEN void rgn__allocator_freeze_slow(void);

static inline void *rgn__malloc(size_t n)
{
    return rgn__alloc.malloc(n);
}

static inline void *rgn__realloc(void *p, size_t n)
{
    return rgn__alloc.realloc(p, n);
}

static inline void rgn__free(void *p)
{
    if (p)
        rgn__alloc.free(p);
}

/* Called by every region constructor: no allocator change after this. */
static inline void rgn__allocator_freeze(void)
{
    if (RGN_UNLIKELY(!atomic_load_explicit(&rgn__alloc_frozen,
                                           memory_order_acquire)))
        rgn__allocator_freeze_slow();
}

#include "map.h"

#endif /* RGN_INTERNAL_H */

/* SPDX-License-Identifier: MIT */
/*
 * rgn.h -- scoped resource regions for C.
 *
 * A region holds cleanups for resources (memory, descriptors, locks, child
 * regions, anything).  Each registration returns a release key; a resource
 * can be released early by key, and whatever is still live when the region
 * closes is cleaned up exactly once, newest first.  This is the C analogue
 * of Haskell's resourcet.
 *
 * Conventions
 *   - Calls that can fail return int: 0 on success, a negative errno value
 *     on failure.  rgn_strerror() turns such a value into text.
 *   - Constructors return NULL and set errno.
 *   - A cleanup's own return value is passed through unchanged.
 *   - rgn saves errno around every cleanup it runs, so a cleanup cannot
 *     clobber the caller's errno; only rgn's own failures set errno.
 *   - Every exported name starts with rgn_ or RGN_.
 *   - C++: a cleanup, acquire function or rgn_with body that throws is
 *     handled as a thread cancellation is.  A close or clear finishes
 *     first (every other cleanup runs and a closed region is freed), a
 *     release has already forgotten the resource, an allocate registers
 *     nothing and gives its reservation back, rgn_with closes its scope
 *     with RGN_RELEASE_ERROR; then the exception reaches the caller.
 *     A second cleanup throwing meanwhile calls std::terminate, as a
 *     destructor throwing during unwinding does.  (librgn is built with
 *     -fexceptions for this.)
 */
#ifndef RGN_H
#define RGN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(RGN_STATIC_BUILD)
#define RGN_API __attribute__((visibility("default")))
#else
#define RGN_API
#endif

/* A cast and the null pointer in this header's own inline code, written
 * so that a C++ program built with -Wold-style-cast or
 * -Wzero-as-null-pointer-constant gets no warning from it. */
#ifdef __cplusplus
#define RGN_CAST_(type, x) static_cast<type>(x)
#if __cplusplus >= 201103L
#define RGN_NULL_ nullptr
#else
#define RGN_NULL_ 0
#endif
#else
#define RGN_CAST_(type, x) ((type)(x))
#define RGN_NULL_ ((void *)0)
#endif

/* ======================================================================
 * Version
 * ====================================================================== */

/* The version of this header.  rgn_version() gives the library's. */
#define RGN_VERSION_MAJOR 0
#define RGN_VERSION_MINOR 1
#define RGN_VERSION_PATCH 0

/*
 * The version of the library the program runs against, as
 * "MAJOR.MINOR.PATCH"; it may differ from the RGN_VERSION_* macros the
 * program was compiled with.  Never NULL; static storage; any thread.
 */
RGN_API const char *rgn_version(void);

/* ======================================================================
 * Types
 * ====================================================================== */

/* A region.  Opaque: create one with rgn_new() or rgn_new_child().  In
 * C++ its tag is another name, so that namespace rgn (rgn.hpp) can be
 * what C++ programs write; the type is the same incomplete one. */
#ifdef __cplusplus
typedef struct rgn_region_ rgn_t;
#else
typedef struct rgn rgn_t;
#endif

/*
 * A release key: a small value naming one registration in one region.
 * Copy it freely.  A key is never reused in a way that could reach a newer
 * resource: once its resource is released, unprotected or moved away, the
 * key is dead for good, and a key of one region is never live in another.
 * Compare keys with rgn_key_equal(); test for "no key" with rgn_key_is_none().
 */
typedef struct rgn_key {
    uint64_t region; /* the owning region's process-unique id; 0 = none */
    uint32_t slot;   /* slot index inside that region */
    uint32_t gen;    /* generation of that slot when the key was issued */
} rgn_key_t;

/* The zero key: names no resource.  Every call given it returns -ENOENT. */
#ifdef __cplusplus
#define RGN_KEY_NONE (rgn_key_t{0, 0, 0})
#else
#define RGN_KEY_NONE ((rgn_key_t){0, 0, 0})
#endif

/* Non-zero when k is RGN_KEY_NONE. */
static inline int rgn_key_is_none(rgn_key_t k)
{
    return k.region == 0 && k.slot == 0 && k.gen == 0;
}

/* Non-zero when a and b name the same registration. */
static inline int rgn_key_equal(rgn_key_t a, rgn_key_t b)
{
    return a.region == b.region && a.slot == b.slot && a.gen == b.gen;
}

/* Why a cleanup is running. */
typedef enum rgn_release_type {
    RGN_RELEASE_EARLY,  /* rgn_release() ran it before the region closed */
    RGN_RELEASE_NORMAL, /* the region closed normally */
    RGN_RELEASE_ERROR   /* the region closed because of an error, or a
                           registration failed and the resource is being
                           given back at once */
} rgn_release_type;

/*
 * A cleanup.  Runs exactly once for each successful registration, with
 * the resource it was registered with.  Its return value is handed back
 * unchanged by rgn_release() and (the first non-zero one) by rgn_close().
 */
typedef int (*rgn_cleanup_fn)(void *resource, rgn_release_type how);

/*
 * An acquire function for rgn_allocate(): obtains a resource, stores it in
 * *resource_out and returns 0, or returns non-zero and obtains nothing.
 */
typedef int (*rgn_acquire_fn)(void *arg, void **resource_out);

/*
 * Where a registration was made.  Filled in by the rgn_register() and
 * rgn_allocate() macros for the leak audit; programs rarely build one.
 */
struct rgn_site {
    const char *file;
    const char *func;
    int line;
};

/*
 * The call site of the macro's user, as a pointer to static storage.  It
 * is an expression wherever one may appear: in C++ also at namespace
 * scope and in a default member initializer (a lambda holding the static;
 * the function is "" outside any function).  Compilers without GNU C's
 * statement expressions record no site in C.  It records where it is
 * written: as a default argument it names the declaration, not each
 * caller -- use rgn_here (below) for that.
 */
#if defined(__cplusplus) && __cplusplus >= 201103L
#if defined(__clang__)
#if __has_builtin(__builtin_FUNCTION)
#define RGN_FUNC_ __builtin_FUNCTION()
#endif
#elif defined(__GNUC__)
#define RGN_FUNC_ __builtin_FUNCTION()
#endif
#ifndef RGN_FUNC_
#define RGN_FUNC_ __func__
#endif
#define RGN_SITE                                                              \
    ([](const char *rgn_func_) -> const struct rgn_site * {                   \
        static const struct rgn_site rgn_site_here_ = {__FILE__, rgn_func_,   \
                                                       __LINE__};             \
        return &rgn_site_here_;                                               \
    }(RGN_FUNC_))
#elif defined(__GNUC__)
#define RGN_SITE                                                              \
    (__extension__({                                                          \
        static const struct rgn_site rgn_site_here_ = {__FILE__, __func__,    \
                                                       __LINE__};             \
        &rgn_site_here_;                                                      \
    }))
#else
#define RGN_SITE ((const struct rgn_site *)0)
#endif

/*
 * A site made at run time, for wrappers that pass their caller's site on
 * (every *_at call takes one): the site of file, line and func, the same
 * pointer for the same three values every time, valid for the life of
 * the process.  file and func are not copied: they must live as long
 * (string literals, __FILE__, std::source_location's strings).  Returns
 * NULL with errno EINVAL (file or func NULL) or ENOMEM; a NULL site is
 * "unknown", which every *_at call accepts.  Lock-free after the first
 * call for a site, which takes a short internal lock; no cancellation
 * point; a forked child keeps every site.
 */
RGN_API const struct rgn_site *rgn_site_make(const char *file, int line,
                                             const char *func);

/* ======================================================================
 * Errors
 * ====================================================================== */

/*
 * Describes a value returned by an rgn call: 0, a negative errno value, or
 * any other cleanup result.  The text for rgn's own errors says what rgn
 * meant by them (for example -ENOENT: "not live in this region (no such
 * key, or no resource of that cleanup and pointer)"),
 * unless err is the value the calling thread's last failing call passed
 * through from a cleanup, acquire function or system call (see
 * rgn_error_origin): then it is the system's text and where it came from
 * ("No such file or directory (from a cleanup)").  Never returns NULL; the
 * string is static or thread-local and stays valid until the calling
 * thread's next rgn_strerror() call.
 */
RGN_API const char *rgn_strerror(int err);

/*
 * Where a failing call's value came from.  rgn's own refusals (-EINVAL,
 * -ENOENT for a key, -ECANCELED, -ENOMEM...) share the errno range with
 * what cleanups and acquire functions return, so the same -ENOENT may
 * mean "key not live" or "the cleanup's unlink failed".
 */
typedef enum rgn_origin {
    RGN_FROM_RGN = 0, /* rgn refused: the value means what rgn says */
    RGN_FROM_CLEANUP, /* a cleanup's result, passed through */
    RGN_FROM_CALLER,  /* your acquire function's, rgn_with's body's,
                         rgn_audit_visit's visitor's */
    RGN_FROM_SYSTEM   /* a system call's: rgn_open's, rgn_fopen's,
                         rgn_thread_create's, the ready-made resources',
                         rgn_spawn_wait's, rgn_profile_write's,
                         rgn_asprintf's formatting */
} rgn_origin;

/*
 * Where the value came from that the calling thread's last failing rgn
 * call returned (a negative value, or for a call that returns a pointer,
 * the negated errno of its NULL).  Every call sets it whenever it fails,
 * its own refusals included (RGN_FROM_RGN), so a refusal is never taken
 * for a value an earlier call passed through; success leaves it alone,
 * so read it right after the failure.  RGN_FROM_RGN before any failure.
 * Values of other code come only from the calls that run cleanups
 * (rgn_release, rgn_release_value, rgn_close, rgn_close_error,
 * rgn_close_cause, rgn_clear, and rgn_forget_for_exec's before_exec
 * hooks), the caller's functions (rgn_allocate, rgn_with,
 * rgn_audit_visit, rgn_thread_create) and system calls (rgn_open,
 * rgn_fopen, rgn_asprintf, the ready-made resources from rgn_mkstemp to
 * rgn_mutex_lock, rgn_spawn_wait, rgn_profile_write); every other
 * call's errors are rgn's own.  Thread-local; no lock.  After a close or clear
 * whose cleanups failed it says RGN_FROM_CLEANUP; rgn_on_cleanup_error()
 * shows each failure.
 */
RGN_API rgn_origin rgn_error_origin(void);

/*
 * Called once for each cleanup of a region that returns non-zero, with
 * that result, the cleanup's resource and release type.
 */
typedef void (*rgn_failure_fn)(void *arg, int result, void *resource,
                               rgn_release_type how);

/*
 * Makes fn(arg, ...) run after every cleanup of r that fails -- at a
 * release, at a close (each failing cleanup, not only the first, whose
 * result the close returns), at a clear, and when a registration gives
 * its resource back -- in the thread that ran the cleanup, with no rgn
 * lock held, before the next cleanup runs.  A child region's close that
 * failed counts as one failing cleanup of its parent (resource: the
 * child); the child's own cleanups go to the child's hook.  fn NULL
 * removes the hook.  Returns 0, -EINVAL (r NULL) or -ECANCELED (r is
 * closing).  The hook is read without r's lock while cleanups run: set
 * it before sharing r, or from the thread that owns it.
 */
RGN_API int rgn_on_cleanup_error(rgn_t *r, rgn_failure_fn fn, void *arg);

/* ======================================================================
 * Regions
 * ====================================================================== */

/*
 * Creates an empty region holding one reference, the caller's.
 * Returns NULL with errno ENOMEM when memory runs out.  Creating a region
 * and registering a few resources costs one allocation: the first seven
 * resources live inside the region itself (and a region the thread
 * closed before is reused: every 4,096th creation may give some of those
 * back, see rgn_trim).  The region is audited if the process-wide audit
 * default says so (see "Leak audit").
 *
 * rgn_new() is a macro recording where the region was made, for the
 * audit's reports; (rgn_new)() calls the function.
 */
RGN_API rgn_t *rgn_new_at(const struct rgn_site *site);
RGN_API rgn_t *rgn_new(void);
#define rgn_new() rgn_new_at(RGN_SITE)

/*
 * Scopes and owners.  A region made by rgn_new() is an *owner*: a client,
 * a pool, a server, a global -- a region that lives long and whose
 * resources are meant to be released one by one.  What an owner still
 * holds at a normal close is reported by the leak audit.  A *scope* is a
 * region whose close is the intended end of everything in it, as
 * resourcet's runResourceT is: a request, a job, a function's body.  Its
 * close reports nothing.  rgn_with(), RGN_SCOPE, rgn_new_child() and
 * rgn_new_scope() make scopes.  A scope is still audited while it lives:
 * limit warnings, held resources, dumps and the exit report see it.
 *
 * rgn_new_scope() makes a scope as rgn_new() makes an owner; NULL with
 * errno ENOMEM.  rgn_set_scope(r, 1) makes r a scope, rgn_set_scope(r, 0)
 * an owner; returns 0, -EINVAL (r NULL) or -ECANCELED (r is closing).
 * Takes r's lock when r has one.
 */
RGN_API rgn_t *rgn_new_scope_at(const struct rgn_site *site);
RGN_API rgn_t *rgn_new_scope(void);
#define rgn_new_scope() rgn_new_scope_at(RGN_SITE)
RGN_API int rgn_set_scope(rgn_t *r, int scope);

/*
 * Creates a region that is itself a resource of parent, registered as
 * parent's newest resource.  Closing the parent drops the reference this
 * call returns, with the parent's release type, so the child closes with
 * its parent, at its place in the parent's newest-first order; releasing
 * the child's key in the parent closes the child as rgn_close() would
 * (RGN_RELEASE_NORMAL).  The child is a scope.  The reference this call
 * returns is the parent's: you or the parent drops it.  Closing the child
 * yourself takes it out of its parent.  Handing it to a thread with
 * rgn_thread_create() leaves it in its parent, which keeps that reference
 * while the thread holds another: the parent's close (or yours) drops
 * one, the thread's end the other, and whichever comes last runs the
 * child's cleanups -- so a server's close ends its connections, and a
 * connection outlives the close until its thread is done.  rgn_share()
 * takes a child out of its parent (its references are then plain ones).
 * A child that left its parent is a region like any other, closed by its
 * own references.
 * Children nest to any depth: making one is O(1), and a close walks a
 * chain of nested children in a loop, in constant stack.
 * Returns NULL with errno EINVAL (parent is NULL), ECANCELED (parent is
 * closing) or ENOMEM.
 */
RGN_API rgn_t *rgn_new_child_at(rgn_t *parent, const struct rgn_site *site);
RGN_API rgn_t *rgn_new_child(rgn_t *parent);
#define rgn_new_child(parent) rgn_new_child_at((parent), RGN_SITE)

/*
 * The key under which child sits in its parent, for rgn_move() (to give it
 * another parent) or rgn_unprotect() (to take it out and own it).  Returns
 * RGN_KEY_NONE when child is NULL, has no parent, or has left its parent.
 */
RGN_API rgn_key_t rgn_child_key(const rgn_t *child);

/*
 * Drops one reference to r.  When it was the last one, every live cleanup
 * runs exactly once, newest first, with RGN_RELEASE_NORMAL, and r is freed.
 * Every cleanup runs even when earlier ones fail.
 * Returns 0, or the first non-zero value a cleanup returned.  Dropping a
 * reference that is not the last returns 0 at once; so does dropping the
 * last while r is being cleared: the clear closes r when it is done (see
 * rgn_clear).
 * Errors: -EINVAL (r is NULL), -ECANCELED (r is already closing, for
 * example when a cleanup of r closes r again; nothing is dropped).
 * A thread cancelled inside a cleanup of the close still runs the other
 * cleanups and frees r as it unwinds; rgn_close() then never returns.
 */
RGN_API int rgn_close(rgn_t *r);

/*
 * Calls from a cleanup while its region r closes (each is tested):
 *   rgn_release / rgn_unprotect of a resource not yet cleaned up: it is
 *     released or handed back at once, and the close skips it; of one
 *     already cleaned up (its own, say): -ENOENT.
 *   rgn_move out of r: allowed, as rgn_unprotect; into r: -ECANCELED.
 *   rgn_register, rgn_allocate, rgn_new_child, rgn_share,
 *     rgn_thread_create, rgn_audit_set on r: refused with ECANCELED (a
 *     resource given to rgn_register is cleaned up at once).
 *   rgn_close of r: -ECANCELED.  Closing another region: it closes then
 *     and there, inside r's close.
 * Another thread holding a reference may keep calling rgn on r until it
 * drops it; whichever drop is last runs what is left, each cleanup once.
 */

/* As rgn_close(), but a last drop runs the cleanups with RGN_RELEASE_ERROR. */
RGN_API int rgn_close_error(rgn_t *r);

/*
 * Close causes: why an error close happened, for the cleanups it runs, as
 * resourcet's ReleaseException' carries the exception (conduit#461).  A
 * cleanup that runs with RGN_RELEASE_ERROR asks rgn_cause() -- to log it,
 * to roll back rather than commit, to send an error reply.
 */
struct rgn_cause {
    int code;         /* never 0: a negative errno value, a thread
                         function's result, whatever the program said */
    const char *text; /* what happened, or NULL */
};

/*
 * rgn_close_error() with a cause.  When this drop is r's last, every
 * cleanup of the close -- and of the child regions it closes -- runs with
 * RGN_RELEASE_ERROR and finds {code, text} in rgn_cause().  text (may be
 * NULL) is copied with rgn's allocator before the first cleanup runs, so
 * it may live in r itself (rgn_strdup(r, ...)); out of memory, the
 * cleanups see the code alone (text NULL).  A drop that is not the last
 * returns 0 and passes nothing on: a close's release type and cause are
 * those of its last drop, whatever earlier drops said.  (The last drop
 * made while r is being cleared lets the clear close r when it is done,
 * see rgn_clear: r holds nothing by then, so no cleanup sees the cause.)
 * Returns and fails as rgn_close_error(), and with -EINVAL when code is
 * 0 (r is left as it was: nothing is dropped).  Takes r's lock, as rgn_close();
 * cancellation and fork as there: a close cancelled inside a cleanup
 * shows the cause to the cleanups it runs as the thread unwinds.
 */
RGN_API int rgn_close_cause(rgn_t *r, int code, const char *text);

/*
 * The cause of the close running the calling cleanup in this thread, or
 * NULL: outside a close, in a close without one (rgn_close(),
 * rgn_close_error(), rgn_clear()), and in a cleanup run by rgn_release()
 * or given back by a refused registration, even inside a close that has
 * one -- so also for the resource rgn_allocate() cleans up late because
 * its region closed while acquire ran: that close is over.  A close or
 * clear begun inside a cleanup shows its own cause (or none) to its
 * cleanups, and the outer one shows again once it is done;
 * the child regions a close closes show its cause.  rgn_thread_create()
 * and rgn_with() give their error closes causes (see there).  Valid until
 * the cleanup returns: copy what you keep.  Thread-local (a cause is
 * never seen by another thread), no lock, no cancellation point; a
 * forked child's one thread is a copy of the forking one.
 */
RGN_API const struct rgn_cause *rgn_cause(void);

/* Number of live resources in r (0 for NULL). */
RGN_API size_t rgn_live(const rgn_t *r);

/* ======================================================================
 * Sharing across threads
 * ======================================================================
 *
 * The thread contract.  A reference is what rgn_new(), rgn_new_child() and
 * rgn_share() hand out and rgn_close()/rgn_close_error() give back; a
 * thread may call rgn on a region while it holds a reference to it (or
 * while another thread that holds one is known to outlive the call).  Any
 * number of threads holding references may call any rgn function on the
 * same region at the same time: each call is atomic, and registrations are
 * ordered by happens-before, so a close runs a registration made after
 * another (in any thread, through any synchronisation) before it.  The
 * thread that drops the last reference runs every remaining cleanup, in
 * that thread, with its own release type.  Cleanups and acquire functions
 * run outside rgn's locks and may call rgn, on any region.
 *
 * A region that was never shared belongs to one thread at a time, and rgn
 * takes no lock and no atomic operation for it.  From its first
 * rgn_share() or rgn_thread_create() on, each call takes a small lock; a
 * thread that finds it held sleeps (on Linux, on a futex) until it is
 * let go.  An audited region, or one that tracks lifetimes, takes the
 * lock from the moment it is, shared or not: the process-wide readers
 * (rgn_metrics_write, rgn_audit_report_open, the exit report) lock it to
 * read it while its owner thread goes on (where membarrier() fails after
 * start-up, a reader may leave an unshared region out until its owner's
 * next call: rgn(7)).  Sharing a child region takes
 * it out of its parent, so an unshared child of a shared parent stays its
 * owner's alone: close it (or leave it to the parent) while you still
 * hold your reference to the parent -- the parent's last closer, in any
 * thread, closes it otherwise.
 *
 * Locks.  No user code runs under an rgn lock -- no cleanup, acquire
 * function, sink or visitor -- except the allocator (rgn_set_allocator)
 * and a kind's describe (struct rgn_kind), which may be called under a
 * region's lock and must not call rgn.  The
 * one lock order, outermost first: the audit sink's lock, the registry of
 * audited regions, a child region, its parent (rgn(7) says more).
 *
 * Cancellation.  rgn's own calls contain no cancellation point.  A
 * cleanup, acquire function or sink may: a close cancelled inside one of
 * its cleanups still runs all the others (in the cancelled thread, as it
 * unwinds) and frees the region, as resourcet runs cleanups masked; a
 * cleanup cancelled inside rgn_release() was already forgotten by the
 * region, so the rest of it is simply not run, as if called directly; a
 * thread cancelled inside the body of rgn_with() still has the scope
 * closed, with RGN_RELEASE_ERROR, as it unwinds; rgn_allocate() and
 * every audit report disable cancellation while they run, and
 * rgn_thread_create()'s final close too.
 *
 * fork().  The child may use rgn at once, from its one thread.  Regions
 * it inherited are its own copies: it may close them (their cleanups run
 * in the child, on its copies of the resources) or leave them.  A lock
 * that another thread of the parent held at the fork is taken over by the
 * child's first call.  Inherited regions are not reported by the child's
 * exit report or rgn_audit_report_open(); regions the child makes are.
 */

/*
 * Takes one more reference to r, for another thread or owner, and returns
 * r; drop it with rgn_close().  A child region leaves its parent: from now
 * on only its references close it.  Returns NULL with errno ECANCELED (r is
 * closing), EINVAL (r is NULL) or EOVERFLOW (2^32 - 1 references).
 */
RGN_API rgn_t *rgn_share(rgn_t *r);

/*
 * resourcet's resourceForkIO: shares r with a new thread (as
 * pthread_create(t, attr, ...)) that runs fn(r, arg) and then drops its
 * reference: with rgn_close() semantics if fn returned 0, otherwise as
 * rgn_close_cause() with fn's result as the cause's code and the text
 * "thread function returned -5" (say), and with RGN_RELEASE_ERROR if the
 * thread is cancelled, with the cause -ECANCELED, "thread function was
 * cancelled".  The thread's exit value is (void *)(intptr_t) of fn's
 * result, or, if that was 0, of the close's result.  The final close
 * runs with cancellation disabled: a thread cancelled once fn has
 * returned still runs every cleanup and exits with that value.  A child
 * region stays in its parent, which keeps its reference (see
 * rgn_new_child); the thread's drop never touches the parent, so the
 * parent need not be shared.  Returns 0, or
 * -EINVAL (t, r or fn NULL), -ECANCELED (r is closing), -ENOMEM, or
 * pthread_create's error negated; then nothing is shared, a child stays
 * in its parent, and *t names no thread to join.  (The new thread waits
 * until r is shared with it, so that a thread that cannot start changes
 * nothing.)
 */
RGN_API int rgn_thread_create(pthread_t *t, const pthread_attr_t *attr,
                              rgn_t *r, int (*fn)(rgn_t *r, void *arg),
                              void *arg);

/* ======================================================================
 * Resources
 * ====================================================================== */

/*
 * Registers fn(resource, how) to run exactly once, and makes it r's newest
 * resource.  On success stores its key in *key (key may be NULL) and
 * returns 0.
 *
 * On ANY failure the cleanup runs at once with RGN_RELEASE_ERROR (when fn
 * is not NULL), so a resource handed to rgn is never leaked, and *key is
 * set to RGN_KEY_NONE.  Errors: -EINVAL (r or fn is NULL), -ECANCELED (r is
 * closing), -ENOMEM.
 *
 * Registering the cleanup and region that rgn_unprotect() handed back for
 * a child region makes it a child of r again.  If that region cannot be
 * adopted (it sits in a parent, is shared, is closing, or would end up
 * owning r), -EINVAL is returned and nothing runs: its owners keep it.
 *
 * rgn_register is a macro recording the call site for the leak audit;
 * (rgn_register)(...) calls the function, which records no site.
 */
RGN_API int rgn_register_at(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                            rgn_key_t *key, const struct rgn_site *site);
RGN_API int rgn_register(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                         rgn_key_t *key);
#define rgn_register(r, fn, resource, key)                                    \
    rgn_register_at((r), (fn), (resource), (key), RGN_SITE)

/*
 * rgn_register() with a label for the audit's reports, given with the
 * registration itself, so that a limit warning made by this very
 * registration already counts the resource under its label.  label is
 * not copied: it must outlive the resource (a string literal, usually).
 * Returns and fails as rgn_register().
 */
RGN_API int rgn_register_labeled_at(rgn_t *r, rgn_cleanup_fn fn,
                                    void *resource, rgn_key_t *key,
                                    const char *label,
                                    const struct rgn_site *site);
RGN_API int rgn_register_labeled(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                                 rgn_key_t *key, const char *label);
#define rgn_register_labeled(r, fn, resource, key, label)                     \
    rgn_register_labeled_at((r), (fn), (resource), (key), (label), RGN_SITE)

/*
 * rgn_register() for a resource of a known size, so that the audit's
 * reports, dumps, profiles and metrics, and rgn_get_stats(), count its
 * bytes beside its count: a buffer, a cache entry, a mapping.  Bytes are
 * counted where r keeps records (audited, or measuring lifetimes);
 * elsewhere this is rgn_register(), and costs what it costs.  rgn_malloc
 * and its kin give their sizes themselves.  Returns and fails as
 * rgn_register() (fn runs at once on any failure).
 */
RGN_API int rgn_register_sized_at(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                                  rgn_key_t *key, size_t bytes,
                                  const struct rgn_site *site);
RGN_API int rgn_register_sized(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                               rgn_key_t *key, size_t bytes);
#define rgn_register_sized(r, fn, resource, key, bytes)                       \
    rgn_register_sized_at((r), (fn), (resource), (key), (bytes), RGN_SITE)

/*
 * Kinds.  A kind says what a resource is, as PostgreSQL's
 * ResourceOwnerDesc does: its name, its cleanup, how to describe one (for
 * the audit's reports and dumps: "fd 17 -> /var/log/app.log" rather than
 * only the line that registered it) and its priority at close.  Programs
 * make kinds with designated initializers; a kind must outlive the
 * resources registered with it (static storage, usually):
 *
 *   static const struct rgn_kind conn_kind = {
 *       .name = "connection", .cleanup = close_conn,
 *       .describe = describe_conn, .priority = RGN_PRIORITY_EARLY,
 *   };
 *
 * describe(resource, buf, size) writes a short text (at most size bytes,
 * NUL-terminated) and returns its length, or a negative value for none.
 * It runs under the region's lock, when a report or dump is made: it
 * must not call rgn, block, or take locks of its own; a formatting of
 * the resource's fields is what it is for.
 *
 * Priority orders a close (and a clear): resources of a higher priority
 * run first, those of one priority newest first, so that, as in
 * PostgreSQL's phases (before locks, locks, after locks), what must go
 * early -- connections that would otherwise flush into a closed file,
 * lock guards -- can say so, and what must go last (memory others' cleanups
 * still read) too.  Ordinary cleanups and child regions have priority 0
 * and keep their place among the others of 0.  rgn_release() runs one
 * resource at once, whatever its priority.
 *
 * before_exec, when a kind has one, is what a forked child that is about
 * to exec does with such a resource in place of its cleanup, when it
 * calls rgn_forget_for_exec (see "Exec safety" below), as APR's child
 * cleanups are; it runs with no rgn lock held, and may call rgn.
 */
#define RGN_PRIORITY_EARLY 100   /* before ordinary cleanups */
#define RGN_PRIORITY_LATE (-100) /* after them */
struct rgn_kind {
    const char *name;       /* also the label of its resources in reports,
                               unless they were given another */
    rgn_cleanup_fn cleanup; /* as rgn_register's fn; never NULL */
    int (*describe)(void *resource, char *buf, size_t size); /* or NULL */
    int priority; /* 0: as an ordinary cleanup */
    /* Or NULL: what a forked child does with one of these before it
     * execs, in place of the cleanup (rgn_forget_for_exec): close a
     * descriptor that is not close-on-exec, say.  Returns 0 or a
     * negative errno value. */
    int (*before_exec)(void *resource);
};

/*
 * Registers resource as one of kind: kind->cleanup(resource, how) runs
 * exactly once, as with rgn_register().  On any failure kind->cleanup
 * runs at once with RGN_RELEASE_ERROR.  Returns and fails as
 * rgn_register(); -EINVAL also for kind NULL or kind->cleanup NULL (then
 * nothing runs).  A kind of priority 0 and no before_exec in a region
 * that is not audited costs what rgn_register costs.  A region remembers
 * its resources' kinds once it is audited or measures lifetimes, from
 * its first kind of a priority other than 0 or with a before_exec, or
 * from its first rgn_find() (each gives it tracking state: its calls
 * then take the general path, though no lock until it is shared);
 * rgn_move gives the region it moves such a resource into that state
 * too, so the resource keeps its kind there.
 */
RGN_API int rgn_register_kind_at(rgn_t *r, const struct rgn_kind *kind,
                                 void *resource, rgn_key_t *key,
                                 const struct rgn_site *site);
RGN_API int rgn_register_kind(rgn_t *r, const struct rgn_kind *kind,
                              void *resource, rgn_key_t *key);
#define rgn_register_kind(r, kind, resource, key)                             \
    rgn_register_kind_at((r), (kind), (resource), (key), RGN_SITE)

/*
 * rgn_unprotect() that takes back only a resource of kind: the caller
 * says what it expects, as talloc_get_type_abort does.  -EPROTOTYPE when
 * key's resource is of another kind (nothing changes); where r does not
 * remember its kind (r remembers none, or did not yet when it was
 * registered), a resource whose cleanup is kind->cleanup is of kind.
 * Otherwise as rgn_unprotect().
 */
RGN_API int rgn_unprotect_kind(rgn_t *r, rgn_key_t key,
                               const struct rgn_kind *kind, void **resource);

/*
 * The kind key's resource was registered with, or NULL (errno ENOENT:
 * key not live; errno 0: no kind, or r does not remember kinds).  The
 * region's lock, if it has one, is taken.
 */
RGN_API const struct rgn_kind *rgn_kind_of(rgn_t *r, rgn_key_t key);

/*
 * A plain cleanup: an existing free-like function such as free(),
 * regfree() or freeaddrinfo(), which takes the resource and returns
 * nothing.
 */
typedef void (*rgn_plain_fn)(void *resource);

/*
 * rgn_register() for a plain cleanup, with no wrapper to write:
 * rgn_register_plain(r, free, p, &k).  fn(resource) runs exactly once, as
 * a cleanup would, whatever the release type, and counts as returning 0.
 * Returns and fails as rgn_register() (fn runs at once on any failure),
 * plus -ENOSPC, after running fn, when the process has already registered
 * 256 other distinct plain functions.  rgn_unprotect() of such a resource
 * hands back the resource itself and a cleanup that calls fn on it.
 * Costs the register/release pair nothing: the plain function is reached
 * through a trampoline chosen once per function (a lock-free table, no
 * lock taken beyond rgn_register's).  No cancellation point of its own;
 * a forked child inherits the table and may call it at once.
 */
RGN_API int rgn_register_plain_at(rgn_t *r, rgn_plain_fn fn, void *resource,
                                  rgn_key_t *key, const struct rgn_site *site);
RGN_API int rgn_register_plain(rgn_t *r, rgn_plain_fn fn, void *resource,
                               rgn_key_t *key);
#define rgn_register_plain(r, fn, resource, key)                              \
    rgn_register_plain_at((r), (fn), (resource), (key), RGN_SITE)

/* rgn_register_plain() with a label, as rgn_register_labeled() is to
 * rgn_register(); returns and fails as rgn_register_plain(). */
RGN_API int rgn_register_plain_labeled_at(rgn_t *r, rgn_plain_fn fn,
                                          void *resource, rgn_key_t *key,
                                          const char *label,
                                          const struct rgn_site *site);
RGN_API int rgn_register_plain_labeled(rgn_t *r, rgn_plain_fn fn,
                                       void *resource, rgn_key_t *key,
                                       const char *label);
#define rgn_register_plain_labeled(r, fn, resource, key, label)               \
    rgn_register_plain_labeled_at((r), (fn), (resource), (key), (label),      \
                                  RGN_SITE)

/*
 * Acquires a resource and registers it with no window for a leak.  Room is
 * reserved in r first; then acquire(arg, &res) runs (outside any lock, with
 * thread cancellation disabled until the registration is done); once it
 * returns 0 the registration cannot fail.  Stores the resource in
 * *resource and its key in *key (either may be NULL) and returns 0.
 *
 * A non-zero result of acquire is returned as it is and nothing is
 * registered.  -EINVAL (r, acquire or fn is NULL), -ECANCELED (r is
 * closing) and -ENOMEM mean acquire never ran.  If r closes while acquire
 * runs (only a caller without a reference can make that happen), the new
 * resource is cleaned up at once with the close's release type.
 *
 * rgn_allocate is a macro recording the call site, like rgn_register.
 */
RGN_API int rgn_allocate_at(rgn_t *r, rgn_acquire_fn acquire, void *arg,
                            rgn_cleanup_fn fn, void **resource, rgn_key_t *key,
                            const struct rgn_site *site);
RGN_API int rgn_allocate(rgn_t *r, rgn_acquire_fn acquire, void *arg,
                         rgn_cleanup_fn fn, void **resource, rgn_key_t *key);
#define rgn_allocate(r, acquire, arg, fn, resource, key)                      \
    rgn_allocate_at((r), (acquire), (arg), (fn), (resource), (key), RGN_SITE)

/*
 * Runs key's cleanup now with RGN_RELEASE_EARLY and forgets it.  Returns
 * the cleanup's result.  -ENOENT when key is not live in r: already
 * released, unprotected, moved away, RGN_KEY_NONE, or a key of another
 * region; nothing anywhere is touched then, so releasing twice is safe.
 * -EINVAL when r is NULL.  Allowed from a cleanup while r closes: the
 * resource is then cleaned up once, at that moment.
 */
RGN_API int rgn_release(rgn_t *r, rgn_key_t key);

/*
 * Forgets key's resource WITHOUT running its cleanup, and hands back the
 * cleanup and the resource in *fn and *resource (either may be NULL): the
 * caller owns the resource again.  Errors as rgn_release(); on error *fn
 * and *resource are left alone.
 */
RGN_API int rgn_unprotect(rgn_t *r, rgn_key_t key, rgn_cleanup_fn *fn,
                          void **resource);

/*
 * Moves key's resource from `from` to `to`, where it becomes the newest
 * resource, and stores its new key in *new_key (may be NULL).  The move is
 * atomic: the resource is never in neither region nor in both.  Moving
 * within one region makes the resource its newest, under a new key.
 * On failure nothing changes: -EINVAL (a region is NULL, or moving a child
 * region into itself or into one of its own descendants), -ENOENT (key not
 * live in from), -ECANCELED (to is closing), -ENOMEM.  O(1), except that
 * moving a child region walks to's parents (O(depth of to)) to refuse
 * making a region its own descendant.
 */
RGN_API int rgn_move(rgn_t *from, rgn_key_t key, rgn_t *to,
                     rgn_key_t *new_key);

/*
 * Resources by value: the key of a resource from what it is -- the
 * cleanup and resource pointer it was registered with (a resource of a
 * kind: kind->cleanup) -- as devres_find and apr_pool_cleanup_kill do,
 * but in O(1) on average, where they walk a list.  When the same pair
 * was registered more than once, the newest live registration is the
 * one found, and released; ask again for the next.
 *
 * rgn_find() stores the key of r's newest live registration of (fn,
 * resource) in *key (key may be NULL: whether there is one) and returns
 * 0; -ENOENT when there is none (*key is then RGN_KEY_NONE), -EINVAL
 * when r or fn is NULL.  rgn_release_value() releases it as rgn_release()
 * of that key would: runs its cleanup now with RGN_RELEASE_EARLY and
 * returns the cleanup's result; -ENOENT (nothing runs) or -EINVAL as
 * rgn_find().  Neither fails for want of memory.
 *
 * The first call on a region builds its index, a hash table of its live
 * resources by pair (O(live), with rgn's allocator; 16 to 43 bytes a
 * live resource, beside the region's own 28); from then on the
 * region keeps it up to date, so its registrations, releases, moves and
 * arena allocations take their general path (the region gets tracking
 * state, as a kind of a priority other than 0 gives it: still no lock
 * until it is shared).  A region that never asks pays nothing.  Out of
 * memory, the index is dropped, and the next call builds it again or,
 * failing that, walks the region's resources, O(live); so does a call on
 * a closing region that has none.  Both work from a cleanup while r
 * closes or is being cleared, on what it still holds.  The pair is what
 * the region holds: an rgn_malloc block is rgn_free's (its cleanup is
 * rgn's own), and rgn_register_plain's resources are held under the
 * cleanup rgn_unprotect would hand back.
 *
 * Both take r's lock (when it has one) and call the allocator under it;
 * rgn_release_value runs the cleanup with no lock held, as rgn_release
 * does, and is what rgn_release is for cancellation.  No cancellation
 * point of their own; a forked child inherits each region's index.
 */
RGN_API int rgn_find(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                     rgn_key_t *key);
RGN_API int rgn_release_value(rgn_t *r, rgn_cleanup_fn fn, void *resource);

/* ======================================================================
 * Scopes and ready-made resources
 * ======================================================================
 *
 * Each of these is a macro over an *_at function, like rgn_register, so
 * the leak audit sees the caller's file and line; the parenthesised name,
 * (rgn_malloc)(...), calls the function and records no site.
 */

/*
 * resourcet's runResourceT: makes a scope, runs body(r, arg), then
 * closes r -- with RGN_RELEASE_NORMAL if body returned 0, otherwise as
 * rgn_close_cause() with body's result as the cause's code and the text
 * "rgn_with body returned -5" (say).  Returns body's result when
 * non-zero, else the close's.  -EINVAL (body NULL) or -ENOMEM (no region;
 * body not run).  A thread cancelled inside body, or a C++ exception
 * leaving it, still closes r, with RGN_RELEASE_ERROR and the cause
 * -ECANCELED, "rgn_with body was cancelled or threw", as the thread
 * unwinds (cancellation disabled until the close is done, as
 * runResourceT closes its scope on any exception); the unwinding then
 * goes on and rgn_with never returns.
 */
RGN_API int rgn_with_at(int (*body)(rgn_t *r, void *arg), void *arg,
                        const struct rgn_site *site);
RGN_API int rgn_with(int (*body)(rgn_t *r, void *arg), void *arg);
#define rgn_with(body, arg) rgn_with_at((body), (arg), RGN_SITE)

/*
 * RGN_SCOPE(name) declares `rgn_t *name`, a new scope that is closed
 * (rgn_close) when name goes out of scope, however the block is left.
 * name is NULL, with errno ENOMEM, if the region could not be made: check
 * it.  The close's result is lost; use rgn_with or rgn_close when it
 * matters.  Needs GCC or Clang (__attribute__((cleanup))); elsewhere
 * RGN_SCOPE is not defined, so code using it fails to compile rather than
 * leak.
 */
#if defined(__GNUC__)
static inline void rgn_scope_close_(rgn_t **r)
{
    if (*r)
        (void)rgn_close(*r);
}
#define RGN_SCOPE(name)                                                       \
    rgn_t *name __attribute__((cleanup(rgn_scope_close_))) = rgn_new_scope()
#endif

/*
 * Memory from rgn's allocator (rgn_set_allocator), freed when r closes or
 * by rgn_free.  Aligned as malloc's.  NULL with errno ENOMEM, EINVAL (r
 * NULL) or ECANCELED (r closing); nothing is left allocated then.
 * rgn_strdup also fails with EINVAL for a NULL string.
 */
RGN_API void *rgn_malloc_at(rgn_t *r, size_t size,
                            const struct rgn_site *site);
RGN_API void *rgn_calloc_at(rgn_t *r, size_t n, size_t size,
                            const struct rgn_site *site);
RGN_API char *rgn_strdup_at(rgn_t *r, const char *s,
                            const struct rgn_site *site);
RGN_API void *rgn_malloc(rgn_t *r, size_t size);
RGN_API void *rgn_calloc(rgn_t *r, size_t n, size_t size);
RGN_API char *rgn_strdup(rgn_t *r, const char *s);
#define rgn_malloc(r, size) rgn_malloc_at((r), (size), RGN_SITE)
#define rgn_calloc(r, n, size) rgn_calloc_at((r), (n), (size), RGN_SITE)
#define rgn_strdup(r, s) rgn_strdup_at((r), (s), RGN_SITE)

/*
 * Frees p, from rgn_malloc/rgn_calloc/rgn_strdup on r, now: in O(1), its
 * key is stored with the block.  Returns 0 (also for p NULL), -ENOENT if
 * p's block belongs to another region, or -EINVAL (r NULL).  Like free(),
 * p must not have been freed already: its header is read to find its key.
 * rgn_unprotect of a block's key hands back p itself and a cleanup that
 * frees it; registering that pair again makes p a block of that region.
 */
RGN_API int rgn_free(rgn_t *r, void *p);

/* The key of a block from rgn_malloc & co., for rgn_label, rgn_move...
 * It follows the block through rgn_move and rgn_realloc. */
RGN_API rgn_key_t rgn_mem_key(const void *p);

/*
 * Resizes p, a block of rgn_malloc & co. on r, as realloc() does, and
 * returns its new address; its key stays the same, so rgn_free,
 * rgn_mem_key and rgn_label go on working with the new pointer.  p NULL:
 * as rgn_malloc.  NULL with errno ENOMEM (p is left as it was), EINVAL (r
 * NULL) or ENOENT (p is not a live block of r).  Takes r's lock, and
 * calls the allocator under it, as registering does.
 */
RGN_API void *rgn_realloc_at(rgn_t *r, void *p, size_t size,
                             const struct rgn_site *site);
RGN_API void *rgn_realloc(rgn_t *r, void *p, size_t size);
#define rgn_realloc(r, p, size) rgn_realloc_at((r), (p), (size), RGN_SITE)

/* ======================================================================
 * The arena
 * ======================================================================
 *
 * Memory for the region's lifetime, by bump allocation: the first thing C
 * code puts in a scope is memory for one request.  Arena memory is
 * aligned as malloc's, valid until the region closes or is cleared, never
 * freed one by one, and never reported by the audit.  It costs no slot,
 * no key and no header; the first 64 bytes live inside the region, then
 * chunks from rgn's allocator double from 1 KB to 256 KB (an allocation
 * of more than a quarter of the next chunk gets a chunk of its own), and
 * everything is given back after the last cleanup of the close (or
 * clear) has run -- a cleanup may use arena memory.  An unshared,
 * unaudited region takes no lock; other regions take theirs.  For memory
 * freed one block at a time, see rgn_malloc and rgn_free above.
 *
 * Chunks are kept for reuse, within two bounds.  rgn_clear keeps the
 * chunks of the largest size the round used, and the next round starts
 * in one of them: a region cleared each round holds at most what its
 * last round used, and a round no bigger allocates nothing and faults no
 * page in.  Its smaller chunks, and kept ones a round did not reach, go
 * to the cache of the thread that clears; a close gives all of its
 * chunks to the cache of the thread that closes.  That cache keeps at
 * most 4 MB a thread (chunks of their own are never kept), serves the
 * next regions of that thread, and is given back to the allocator when
 * the thread exits or calls rgn_trim.  Every chunk comes from and
 * goes back to rgn's allocator (rgn_set_allocator).  A forked child
 * inherits the forking thread's cache.
 *
 * Memory tools.  A program built with -fsanitize=address, or run under
 * valgrind's memcheck, sees arena memory as it sees malloc's, with the
 * library as installed: rgn finds the tool when it loads (ASan's
 * interface through weak symbols, memcheck through valgrind's client
 * requests), and in that process only every allocation takes a slow
 * path that puts a red zone of at least 16 bytes after it (and before
 * the first allocation of each chunk and of the inline bytes) and tells
 * the tool.  Bytes not handed out -- the inline ones included -- and bytes a
 * clear or close took back are out of bounds: a write one byte past an
 * allocation, or a read of arena memory after rgn_clear or rgn_close, is
 * reported where it happens, as for malloc's memory.  Under memcheck a
 * region's arena is a mempool: new bytes are undefined (an uninitialised
 * read in a reused chunk is reported), and an access in the red zone
 * after or before an allocation is told as one "after a block of size
 * N", with the stack of the rgn_alloc that made it -- except in a
 * region's first bytes, which lie inside its own block and are told as
 * part of that block, made by rgn_new.  ASan tells the access with its
 * own stack, and the memory as part of the chunk (or region) rgn cut it
 * from: ASan has no way to be told of allocations inside a block.
 * Nothing is cached across a close there: a chunk goes back to the
 * allocator, so a stale pointer stays a use after free.  Elsewhere none
 * of this costs anything.
 *
 * RGN_ARENA_FILL.  The environment variable RGN_ARENA_FILL, a byte such
 * as 0xa5 (written as in C: hexadecimal, decimal or octal), fills new
 * arena bytes and the bytes a clear or close takes back with that byte,
 * as talloc's TALLOC_FREE_FILL does, so that a read of uninitialised or
 * stale arena memory shows the pattern, never an earlier value.  The red
 * zone after each allocation holds the pattern's complement, and
 * rgn_clear and the last close check it: an allocation written past its
 * end is reported on a line beginning "rgn: arena:" that names the
 * allocation's size, the bytes that changed, the allocating site (the
 * rgn_alloc and rgn_zalloc macros record it) and the region, through the
 * audit's sink; where the region's audit mode is abort (RGN_AUDIT=abort,
 * or rgn_audit_set) the program then aborts.  Any other value is ignored
 * with one warning.  It is read once, when the library loads, and costs
 * what the tools' slow path costs, plus a record per allocation (which
 * memcheck needs too, to see every allocation of a live region as
 * reachable): rgn_alloc may fail with ENOMEM for it.
 */

/*
 * size bytes of arena memory (size 0 gives a valid, unique pointer).
 * NULL with errno EINVAL (r NULL), ECANCELED (r closing or being
 * cleared) or ENOMEM.  rgn_zalloc zeroes them.  Takes r's lock when r
 * has one, and may call the allocator under it; no cancellation point;
 * a forked child may allocate from the regions it inherited.
 *
 * rgn_alloc and rgn_zalloc are macros recording the call site, for
 * RGN_ARENA_FILL's reports; (rgn_alloc)(r, size) calls the function,
 * which records none.  The site costs the bump nothing.
 */
RGN_API void *rgn_alloc_at(rgn_t *r, size_t size, const struct rgn_site *site);
RGN_API void *rgn_zalloc_at(rgn_t *r, size_t size,
                            const struct rgn_site *site);
RGN_API void *rgn_alloc(rgn_t *r, size_t size);
RGN_API void *rgn_zalloc(rgn_t *r, size_t size);
#define rgn_alloc(r, size) rgn_alloc_at((r), (size), RGN_SITE)
#define rgn_zalloc(r, size) rgn_zalloc_at((r), (size), RGN_SITE)

/*
 * What a thread keeps for reuse.  A thread that closes regions keeps
 * them -- a region's struct and its first slot block -- and the arena
 * chunks they gave back (see above), so that a server that closes
 * thousands of regions together and makes as many again neither
 * allocates nor faults pages in.  Regions are kept within 4 MB a thread,
 * and up to 64 MB for a thread that had to make more than it kept (each
 * region made while its cache was empty lets the cache keep one more);
 * what grew goes back as the thread makes regions: at every 4,096th,
 * once a second at most, half of what the cache held throughout the
 * second, down to 4 MB.  Nothing is kept where
 * ASan or memcheck watch the program, so that a region is given back to
 * the allocator at its close -- memcheck then sees every later use of it,
 * ASan those made by the program's own code, rgn.h's inline calls among
 * them, but not those inside librgn, which ASan does not instrument
 * (turn the audit on for those: it reports every call on a closed
 * region) -- nor of audited regions (their quarantine keeps them).
 * Everything goes back to rgn's allocator when the thread exits; the
 * main thread's, which no thread exit empties when main returns, stays
 * reachable until the process ends, or until it calls rgn_trim().
 *
 * rgn_trim() gives back now what the calling thread keeps, brings its
 * cache of regions back to 4 MB, and returns how many bytes it gave
 * back: 0 when it kept none.  Chunks kept by cleared
 * regions stay with them.  For programs that count their allocator's
 * bytes, as rgn_audit_forget_closed is.  Thread-local: takes no lock; no
 * cancellation point; in a forked child, gives back what the child
 * inherited from the forking thread.
 */
RGN_API size_t rgn_trim(void);

/* Copies of size bytes of src, of at most max bytes of the string s (and
 * a NUL), and of a printf-style string, in r's arena.  NULL with errno as
 * rgn_alloc, or EINVAL (src NULL with size > 0, s or fmt NULL); the
 * formatting ones also with vsnprintf's errno (EILSEQ, EOVERFLOW). */
RGN_API void *rgn_memdup(rgn_t *r, const void *src, size_t size);
RGN_API char *rgn_strndup(rgn_t *r, const char *s, size_t max);
RGN_API char *rgn_asprintf(rgn_t *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
RGN_API char *rgn_vasprintf(rgn_t *r, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 0)))
#endif
    ;

/*
 * Empties r for reuse, as apr_pool_clear does: runs every live cleanup
 * newest first with RGN_RELEASE_NORMAL, each exactly once, then empties
 * the arena, keeping the chunks of the largest size the round used for
 * the next one (see "The arena" above).  r itself stays: its
 * references, parent, name, audit mode, limit and lifetime statistics;
 * its counters (rgn_get_stats) start again, but for peak and
 * cleanup_errors.  Every key issued before is dead afterwards (-ENOENT).
 * The audit reports nothing: the clear is the intended end of what r
 * held.
 * Returns 0 or the first non-zero value a cleanup returned; -EINVAL (r
 * NULL) or -ECANCELED (r closing, or being cleared).
 *
 * While the cleanups run, r is closing for everything but dropping a
 * reference: a registration from another thread or from a cleanup is
 * refused with -ECANCELED (its resource cleaned up at once, as
 * rgn_register promises), and so are rgn_alloc, rgn_share and
 * rgn_new_child; rgn_release and rgn_unprotect of a resource not yet
 * cleaned up work as during a close.  A resource that an rgn_allocate
 * begun before the clear registers meanwhile is cleaned up by the clear.
 * A drop that is not the last lets go at once.  The last drop -- the
 * close of r's parent reaching r, the thread of rgn_thread_create ending,
 * a cleanup of the clear closing r -- is not refused either (it returns
 * 0): the clear finishes, then r closes, in the clearing thread, with
 * that drop's release type, and is freed; rgn_clear then returns the
 * first non-zero result of the clear's cleanups and the close's.  (A
 * parent's close does not wait for that, and its result does not include
 * r's.)  After such a drop r has no reference left, and a further drop
 * is refused with -ECANCELED.  Takes r's lock (when it has one) between
 * cleanups, never across one; a clear cancelled inside a cleanup
 * finishes, and closes r if its last reference went, as the thread
 * unwinds.
 */
RGN_API int rgn_clear(rgn_t *r);

/*
 * open(path, flags | O_CLOEXEC, mode) with the descriptor registered in
 * r; its cleanup closes it, returning -errno if close() fails.  The
 * descriptor is close-on-exec whatever flags say (see "Exec safety"
 * below): to hand it to a program you exec, clear the flag yourself,
 * fcntl(fd, F_SETFD, 0).  Returns the descriptor (key in *key, may be
 * NULL), or open's error negated (nothing registered), or -EINVAL /
 * -ECANCELED / -ENOMEM from the registration -- the descriptor is then
 * closed already.
 */
RGN_API int rgn_open_at(rgn_t *r, const char *path, int flags, mode_t mode,
                        rgn_key_t *key, const struct rgn_site *site);
RGN_API int rgn_open(rgn_t *r, const char *path, int flags, mode_t mode,
                     rgn_key_t *key);
#define rgn_open(r, path, flags, mode, key)                                   \
    rgn_open_at((r), (path), (flags), (mode), (key), RGN_SITE)

/*
 * Registers an open descriptor.  Returns 0, -EBADF (fd < 0, nothing done)
 * or a registration error, after which fd has been closed: either way the
 * caller no longer owns fd.
 */
RGN_API int rgn_adopt_fd_at(rgn_t *r, int fd, rgn_key_t *key,
                            const struct rgn_site *site);
RGN_API int rgn_adopt_fd(rgn_t *r, int fd, rgn_key_t *key);
#define rgn_adopt_fd(r, fd, key) rgn_adopt_fd_at((r), (fd), (key), RGN_SITE)

/*
 * fopen(path, mode) with the stream registered in r; its cleanup runs
 * fclose, returning -errno if that fails (a write error found at the
 * final flush is not lost: it is what rgn_release or rgn_close returns).
 * The stream's descriptor is close-on-exec: rgn adds "e" to mode (to
 * hand it on, fcntl(fileno(f), F_SETFD, 0)).  NULL with fopen's errno
 * (nothing registered), or with the registration's (the stream is then
 * closed already).
 */
RGN_API FILE *rgn_fopen_at(rgn_t *r, const char *path, const char *mode,
                           rgn_key_t *key, const struct rgn_site *site);
RGN_API FILE *rgn_fopen(rgn_t *r, const char *path, const char *mode,
                        rgn_key_t *key);
#define rgn_fopen(r, path, mode, key)                                         \
    rgn_fopen_at((r), (path), (mode), (key), RGN_SITE)

/* Registers an open stream, as rgn_adopt_fd does a descriptor; -EINVAL for
 * f NULL. */
RGN_API int rgn_adopt_file_at(rgn_t *r, FILE *f, rgn_key_t *key,
                              const struct rgn_site *site);
RGN_API int rgn_adopt_file(rgn_t *r, FILE *f, rgn_key_t *key);
#define rgn_adopt_file(r, f, key) rgn_adopt_file_at((r), (f), (key), RGN_SITE)

/* ----------------------------------------------------------------------
 * Exec safety
 * ----------------------------------------------------------------------
 *
 * Descriptors rgn opens are close-on-exec: rgn_open adds O_CLOEXEC to
 * its flags, rgn_fopen "e" to its mode, and the ready-made resources
 * below open theirs so (mkostemp, SOCK_CLOEXEC, O_CLOEXEC), so that a
 * program one thread execs or spawns does not inherit what another
 * thread holds in a region.  A descriptor given to rgn_adopt_fd keeps
 * the flag it has.  To hand one on to a program, clear the flag
 * yourself: fcntl(fd, F_SETFD, 0).
 *
 * rgn_forget_for_exec(r) is for a child process after fork(), before it
 * execs (or _exits): it lets go of what the child inherited in r without
 * running the parent's cleanups -- which would flush and close the
 * parent's streams, remove its files, signal its children -- as APR's
 * apr_pool_cleanup_for_exec runs child cleanups instead.  First each
 * resource of r, and of the regions below r, whose kind has a
 * before_exec (struct rgn_kind) runs it, once, in the order a close
 * would run their cleanups, with no rgn lock held; then every resource
 * is forgotten, none cleaned up, and r and the regions below it are
 * freed, in constant stack however deep they nest, with rgn's own
 * memory in them (their arenas, the blocks of rgn_malloc & co., the
 * records of the ready-made resources below).  r
 * leaves the region it sits in, if it is a child.  It is freed whatever
 * references it has: the parent's threads that held them are not in the
 * child (and any the child took are dead too).  The audit reports
 * nothing: what r holds is the parent's to report (an audited r is kept
 * to catch a use after it, as a closed one is).  While it runs, r and
 * the regions below it are closing: a before_exec's calls on them are
 * refused as during a close.  In the process that made r, it abandons r
 * and all it holds.
 *
 * Returns 0, or the first non-zero value a before_exec returned (the
 * others still ran; r is gone either way); -EINVAL (r NULL) or
 * -ECANCELED (r is closing or being cleared; nothing is done).  As after
 * its last rgn_close, r is gone: do not call it from a cleanup, acquire
 * function or rgn_with body of r or of a region below it, and set an
 * RGN_SCOPE's variable to NULL after it.  Takes r's lock and each lock
 * of the regions below in turn, r's parent's and the registry's, never
 * across a before_exec.  Cancellation is disabled while it runs; a
 * before_exec that throws (C++) ends the call with the rest forgotten
 * and no other before_exec run, then the exception propagates.
 */
RGN_API int rgn_forget_for_exec(rgn_t *r);

/* ----------------------------------------------------------------------
 * More ready-made resources
 * ----------------------------------------------------------------------
 *
 * Each is a kind (struct rgn_kind) whose description names it in the
 * audit's reports ("tmpfile /tmp/x.1234 (fd 5)"), and a macro over an
 * *_at function with a function twin, as above.  As rgn_open's and
 * rgn_malloc's, they are registered with no label, so that a report
 * groups them by their call's site alone; rgn_label() gives one.  On ANY
 * failure nothing is registered and nothing is left acquired: bad
 * arguments are refused (-EINVAL, or NULL with errno EINVAL) before
 * anything is acquired, a failing system call's error is returned
 * negated (rgn_error_origin: RGN_FROM_SYSTEM), and a resource whose
 * registration fails (-ECANCELED, -ENOMEM) is given back at once --
 * closed, unmapped, removed, stopped, unlocked or freed.  Each takes r's
 * lock as rgn_register does, after acquiring, never around it.
 * Cancellation is disabled while one acquires and registers, so that a
 * cancelled thread never loses a resource between the two, and while a
 * cleanup that must finish runs (removing a temporary file or
 * directory, ending a child process).  rgn_unprotect() of one hands back
 * its kind's cleanup and a resource that is, for some, a record of
 * rgn's: registering the pair again gives it to a region as it was (the
 * cleanup frees the record).
 *
 * A forked child that closes an inherited region closes its copies of
 * the descriptors, mappings and libraries, but removes no temporary file
 * or directory of its parent's, and neither signals nor waits for its
 * parent's child processes: those are the process's that made them.
 */

/*
 * Temporary files and directories.  rgn_mkstemp(r, tmpl, flags, &key) is
 * mkstemp(tmpl) -- tmpl ends in "XXXXXX", which are replaced; the file
 * is made O_RDWR, O_EXCL, mode 0600, close-on-exec -- with the
 * descriptor registered in r: its cleanup closes it and removes the
 * file, unless flags has RGN_TMP_KEEP.  A file renamed away meanwhile
 * is no error (unlink's ENOENT is not).  rgn_mkdtemp(r, tmpl, flags,
 * &key) is mkdtemp(tmpl), a directory of mode 0700, removed at close
 * with everything in it (symbolic links inside are removed, never
 * followed), unless RGN_TMP_KEEP.  The path is copied; tmpl holds it too.
 * A cleanup returns 0 or the first failure, negated, of close, unlink or
 * rmdir, and removes what it can past it.
 *
 * rgn_mkstemp returns the descriptor, or -EINVAL (r or tmpl NULL,
 * unknown flags), mkstemp's error negated (EINVAL: tmpl does not end in
 * XXXXXX) or the registration's (the file is then closed and removed,
 * RGN_TMP_KEEP or not).  rgn_mkdtemp returns tmpl, or NULL with errno
 * as those.  Describe: "tmpfile /tmp/x.a1B2c3 (fd 5)", "tmpdir
 * /tmp/d.a1B2c3".
 */
#define RGN_TMP_KEEP 1u /* leave the file or directory there at close */
RGN_API int rgn_mkstemp_at(rgn_t *r, char *tmpl, unsigned flags,
                           rgn_key_t *key, const struct rgn_site *site);
RGN_API int rgn_mkstemp(rgn_t *r, char *tmpl, unsigned flags, rgn_key_t *key);
#define rgn_mkstemp(r, tmpl, flags, key)                                      \
    rgn_mkstemp_at((r), (tmpl), (flags), (key), RGN_SITE)
RGN_API char *rgn_mkdtemp_at(rgn_t *r, char *tmpl, unsigned flags,
                             rgn_key_t *key, const struct rgn_site *site);
RGN_API char *rgn_mkdtemp(rgn_t *r, char *tmpl, unsigned flags,
                          rgn_key_t *key);
#define rgn_mkdtemp(r, tmpl, flags, key)                                      \
    rgn_mkdtemp_at((r), (tmpl), (flags), (key), RGN_SITE)

/*
 * mmap(addr, length, prot, flags, fd, offset) with the mapping
 * registered in r, its length counted as its bytes (as
 * rgn_register_sized's); its cleanup unmaps it (munmap's error,
 * negated).  A mapping of a file keeps no hold on fd: close fd when you
 * like.  Returns the mapping, or NULL -- never MAP_FAILED -- with errno
 * EINVAL (r NULL), mmap's errno, or the registration's (unmapped
 * again).  Describe: "mmap 4096 B at 0x7f0123456000".
 */
RGN_API void *rgn_mmap_at(rgn_t *r, void *addr, size_t length, int prot,
                          int flags, int fd, off_t offset, rgn_key_t *key,
                          const struct rgn_site *site);
RGN_API void *rgn_mmap(rgn_t *r, void *addr, size_t length, int prot,
                       int flags, int fd, off_t offset, rgn_key_t *key);
#define rgn_mmap(r, addr, length, prot, flags, fd, offset, key)               \
    rgn_mmap_at((r), (addr), (length), (prot), (flags), (fd), (offset),       \
                (key), RGN_SITE)

/*
 * Child processes.  rgn_spawn(r, path, argv, envp, actions, attr, flags,
 * &key) is posix_spawn(&pid, path, actions, attr, argv, envp) -- or
 * posix_spawnp, which searches PATH, with RGN_SPAWN_PATH in flags; envp
 * NULL passes the caller's environ -- with the child registered in r.
 * Its cleanup ends it: a child that has exited is reaped; one that still
 * runs gets SIGTERM, is waited for up to RGN_SPAWN_TIMEOUT_MS (5 s),
 * then gets SIGKILL and is waited for until it is gone.  The cleanup
 * returns 0 once the child is reaped, however it ended; it blocks up to
 * the timeout, with cancellation disabled, so a close always reaps its
 * children.  rgn_spawn_stop(r, key, sig, timeout_ms) sets the signal (0:
 * none, SIGKILL after the wait) and the wait (0: SIGKILL at once) of one
 * child.  rgn_spawn_wait(r, key, &status) waits until the child exits by
 * itself, reaps it and forgets it (nothing is signalled), and stores
 * waitpid's status in *status (status may be NULL).
 *
 * Where the kernel has pidfds (Linux 5.3 on), the child is signalled and
 * waited for through one (held close-on-exec), so a child reaped behind
 * rgn's back is never taken for a new process of its pid; elsewhere, do
 * not reap it yourself (waitpid(-1, ...), SIGCHLD ignored).  Describe:
 * "child pid 1234 (sleep)".
 *
 * rgn_spawn returns the child's pid, or -EINVAL (r, path or argv NULL,
 * unknown flags), posix_spawn's error negated (-ENOENT: no such
 * program) or the registration's (the child is then ended as at close).
 * rgn_spawn_stop returns 0, -EINVAL (r NULL, sig no signal number),
 * -ENOENT (key not live in r) or -EPROTOTYPE (key's resource is no child
 * process).  rgn_spawn_wait returns 0, those errors but EINVAL's sig, or
 * waitpid's error negated (the child is forgotten then too); waitpid is
 * a cancellation point: a thread cancelled in it ends the child as the
 * cleanup would, as it unwinds.  rgn_spawn's own calls run with
 * cancellation disabled.  rgn_spawn_stop and rgn_spawn_wait take r's
 * lock, never while they wait.
 */
#define RGN_SPAWN_PATH 1u          /* search PATH, as posix_spawnp does */
#define RGN_SPAWN_TIMEOUT_MS 5000u /* the wait before SIGKILL, at first */
RGN_API pid_t rgn_spawn_at(rgn_t *r, const char *path, char *const argv[],
                           char *const envp[],
                           const posix_spawn_file_actions_t *actions,
                           const posix_spawnattr_t *attr, unsigned flags,
                           rgn_key_t *key, const struct rgn_site *site);
RGN_API pid_t rgn_spawn(rgn_t *r, const char *path, char *const argv[],
                        char *const envp[],
                        const posix_spawn_file_actions_t *actions,
                        const posix_spawnattr_t *attr, unsigned flags,
                        rgn_key_t *key);
#define rgn_spawn(r, path, argv, envp, actions, attr, flags, key)             \
    rgn_spawn_at((r), (path), (argv), (envp), (actions), (attr), (flags),     \
                 (key), RGN_SITE)
RGN_API int rgn_spawn_stop(rgn_t *r, rgn_key_t key, int sig,
                           unsigned timeout_ms);
RGN_API int rgn_spawn_wait(rgn_t *r, rgn_key_t key, int *status);

/*
 * socket(domain, type | SOCK_CLOEXEC, protocol) with the descriptor
 * registered in r; its cleanup closes it.  Returns the descriptor, or
 * -EINVAL (r NULL), socket's error negated, or the registration's
 * (closed again).  Describe: by its peer when connected, else by its own
 * address: "socket fd 7 -> 127.0.0.1:8080", "socket fd 5 on [::]:443",
 * "socket fd 9 -> /run/app.sock".
 */
RGN_API int rgn_socket_at(rgn_t *r, int domain, int type, int protocol,
                          rgn_key_t *key, const struct rgn_site *site);
RGN_API int rgn_socket(rgn_t *r, int domain, int type, int protocol,
                       rgn_key_t *key);
#define rgn_socket(r, domain, type, protocol, key)                            \
    rgn_socket_at((r), (domain), (type), (protocol), (key), RGN_SITE)

/*
 * opendir(path), with a close-on-exec descriptor, registered in r; its
 * cleanup runs closedir (its error, negated).  Returns the stream, or
 * NULL with errno EINVAL (r or path NULL), open's or fdopendir's errno
 * (ENOTDIR...), or the registration's (closed again).  Describe: "dir
 * /etc (fd 3)".
 */
RGN_API DIR *rgn_opendir_at(rgn_t *r, const char *path, rgn_key_t *key,
                            const struct rgn_site *site);
RGN_API DIR *rgn_opendir(rgn_t *r, const char *path, rgn_key_t *key);
#define rgn_opendir(r, path, key) rgn_opendir_at((r), (path), (key), RGN_SITE)

/*
 * dlopen(file, mode) with the handle registered in r; its cleanup runs
 * dlclose (-EINVAL if that fails; dlerror() says why).  file NULL is the
 * program itself.  Returns the handle, or NULL with errno EINVAL (r
 * NULL), ELIBACC when dlopen failed (dlerror() has the loader's
 * message), or the registration's (closed again).  A library's
 * constructors and destructors run inside these calls, with no rgn lock
 * held.  Describe: "dlopen libm.so.6" (the name it was opened by).
 */
RGN_API void *rgn_dlopen_at(rgn_t *r, const char *file, int mode,
                            rgn_key_t *key, const struct rgn_site *site);
RGN_API void *rgn_dlopen(rgn_t *r, const char *file, int mode, rgn_key_t *key);
#define rgn_dlopen(r, file, mode, key)                                        \
    rgn_dlopen_at((r), (file), (mode), (key), RGN_SITE)

/*
 * Lock guards.  rgn_mutex_lock(r, m, &key) locks m (pthread_mutex_lock)
 * and registers its unlock: r's close, or rgn_release(r, key), lets it
 * go.  The guard is an ordinary cleanup, of priority 0, not an early
 * one: what the scope registered after taking the lock is cleaned up
 * first, newest first, with m still held -- as C++ objects made after a
 * std::lock_guard are destroyed before it lets go -- because cleanups
 * that touch what m guards need it.  Give the guard a kind of
 * RGN_PRIORITY_EARLY (rgn_unprotect, then rgn_register_kind) if you want
 * it let go before them.  Close the scope in the thread that locked.
 *
 * Returns 0, -EINVAL (r or m NULL), pthread_mutex_lock's error negated
 * (-EDEADLK, -EINVAL...: m is not locked, nothing is registered), or the
 * registration's (m is unlocked again).  A robust mutex whose owner died
 * gives -EOWNERDEAD: m is locked and registered as on success (*key is
 * set); make its state consistent (pthread_mutex_consistent) before the
 * guard unlocks it.  Blocks until m is free, holding no rgn lock (no
 * cancellation point).  Describe: "mutex 0x5555d0c0 locked".
 */
RGN_API int rgn_mutex_lock_at(rgn_t *r, pthread_mutex_t *m, rgn_key_t *key,
                              const struct rgn_site *site);
RGN_API int rgn_mutex_lock(rgn_t *r, pthread_mutex_t *m, rgn_key_t *key);
#define rgn_mutex_lock(r, m, key) rgn_mutex_lock_at((r), (m), (key), RGN_SITE)

/*
 * getline-style buffers.  rgn_adopt_buffer(r, &p, &key) registers the
 * pointer variable p -- of any object pointer type, holding NULL or
 * memory from malloc -- rather than its value: its cleanup frees *pp
 * with free() and sets it to NULL, whatever it points to by then, so
 * getline(&p, &n, f), realloc and asprintf may replace the buffer as
 * often as they like.  p must outlive r's close: declare it before the
 * RGN_SCOPE, or at a wider scope.  Returns 0, -EINVAL (r or pp NULL) or
 * the registration's (*pp is then freed and NULL already).  Describe:
 * "buffer at 0x7ffc1234", the variable's address (the buffer's own
 * changes as it is replaced).
 *
 *   char *line = NULL;
 *   size_t cap = 0;
 *   if (rgn_adopt_buffer(scope, &line, NULL) == 0)
 *       while (getline(&line, &cap, f) > 0)
 *           ...
 */
RGN_API int rgn_adopt_buffer_at(rgn_t *r, void *pp, rgn_key_t *key,
                                const struct rgn_site *site);
RGN_API int rgn_adopt_buffer(rgn_t *r, void *pp, rgn_key_t *key);
#define rgn_adopt_buffer(r, pp, key)                                          \
    rgn_adopt_buffer_at((r), (pp), (key), RGN_SITE)

/*
 * Scope pointers without a region, as glib's g_autofree and systemd's
 * _cleanup_free_: a variable declared RGN_AUTOFREE is given to free()
 * when it goes out of scope, however the block is left.
 * RGN_TAKE_PTR(p) is p's value, and sets p to NULL, as systemd's
 * TAKE_PTR does: the way to hand the memory on.
 *
 *   RGN_AUTOFREE char *s = strdup(x);
 *   if (!s || fill(s) < 0)
 *       return NULL;          (s is freed, or NULL)
 *   return RGN_TAKE_PTR(s);   (the caller owns it; nothing is freed)
 *
 * Header-only: no call into the library, no region, no lock, any
 * thread.  Initialise the variable where it is declared (NULL at least):
 * an uninitialised one is freed as it is.  Needs GCC or Clang (the
 * cleanup attribute, statement expressions, __typeof__); elsewhere
 * neither is defined, so code using them fails to compile rather than
 * leak.
 */
#if defined(__GNUC__)
static inline void rgn_autofree_(void *pp)
{
    free(*RGN_CAST_(void **, pp));
}
#define RGN_AUTOFREE __attribute__((cleanup(rgn_autofree_)))
#define RGN_TAKE_PTR(p)                                                       \
    (__extension__({                                                          \
        __typeof__(p) *rgn_take_at_ = &(p);                                   \
        __typeof__(p) rgn_take_was_ = *rgn_take_at_;                          \
        *rgn_take_at_ = NULL;                                                 \
        rgn_take_was_;                                                        \
    }))
#endif

/* ======================================================================
 * Leak audit
 * ======================================================================
 *
 * In audit mode each resource remembers where it was registered (file,
 * line, function: the rgn_register/rgn_allocate/rgn_new_child macros
 * record it), when, and an optional label.  Whatever is still live when an
 * audited owner's last reference is dropped with RGN_RELEASE_NORMAL is
 * reported before the cleanups run -- those are resources the program
 * never released itself.  A scope's close reports nothing (see "Scopes
 * and owners" above), and a child region is never a leak of its parent.
 * Resources marked with rgn_expect_close() are not reported; a close
 * with RGN_RELEASE_ERROR reports nothing (the program is already
 * unwinding an error).
 *
 * Reports go to stderr (or the sink a program installs), one line per
 * site and label, with a count and the oldest age:
 *
 *   rgn: leak: client.c:57: fetch(): "connection": 998 live, oldest 2.1s
 *   rgn: leak summary: 998 live resources from 1 site at close of ...
 *
 * Regions that never close are the real danger, so the audit also dumps a
 * live region on demand (rgn_audit_dump, rgn_audit_visit), warns when a
 * region's live count passes a limit (and again at each doubling), and at
 * process exit reports every audited region that was never closed and
 * still holds resources.  These readers lock each region they read, so
 * other threads may go on using theirs meanwhile.
 *
 * The environment variable RGN_AUDIT sets the default for every region:
 * "off" (the default; also "0", "no", "false"), "report" (also "1",
 * "on", "yes", "true") or "abort" (report, then abort() if anything was
 * reported -- at a close, or at exit); any other value is ignored with
 * one warning.  RGN_AUDIT_LIMIT=N (digits only) sets the default
 * live-count limit,
 * RGN_AUDIT_HELD the floor of held-resource reports (below).  Ages and
 * lifetimes come from a clock with microsecond resolution or better (the
 * invariant TSC on x86-64, about 10 ns a read; else CLOCK_MONOTONIC) and
 * are printed with units that fit: 850us, 2.1ms, 3.4s.
 */

typedef enum rgn_audit_mode {
    RGN_AUDIT_OFF = 0,    /* no records, no reports */
    RGN_AUDIT_REPORT = 1, /* report live resources at close and at exit */
    RGN_AUDIT_ABORT = 2   /* report, then abort() if anything was found */
} rgn_audit_mode;

/*
 * Sets the audit mode of regions created from now on, overriding
 * RGN_AUDIT.  Returns 0, or -EINVAL for an unknown mode.
 */
RGN_API int rgn_audit_set_default(rgn_audit_mode mode);

/* The audit mode new regions get: rgn_audit_set_default's, or RGN_AUDIT's. */
RGN_API rgn_audit_mode rgn_audit_default(void);

/*
 * Held resources.  With the audit on, a resource that has been live much
 * longer than its site's resources usually live is reported while the
 * program runs, on a line like
 *
 *   rgn: held: client.c:57: fetch(): "connection": 1 live, oldest 3.1s;
 *   667 released, lifetime p50 40us p99 180us; in region "http-client"
 *
 * (one line).  The rule: live longer than the floor (1 s by default) and
 * than 10 times the p99 lifetime of the resources its site registered and
 * released early -- so a site is judged only once it has 100 such
 * releases -- and a newer resource of its site was released since it was
 * registered: the program moved past it.  So the last value of a
 * replace-and-free site, kept across a pause in the traffic that sets its
 * lifetimes, is not held.  Each resource is found held once; a site's
 * line is written the first time, then each time the number of its
 * resources found held doubles.  A region looks at its oldest resources
 * on its own calls (register, release), at most every 250 ms, so no
 * thread is needed: a region still in use reports a held resource within
 * about a second of its passing the threshold.  Resources marked with
 * rgn_expect_close() (or registered under RGN_LIVES_WITH_OWNER) and child
 * regions are never held.  RGN_AUDIT_HELD sets the floor ("off", seconds
 * such as "0.5", or "250ms"); rgn_audit_set_held(floor_ns) sets it for
 * the process (0: no held reports) and returns 0.
 */
RGN_API int rgn_audit_set_held(uint64_t floor_ns);

/*
 * Growing sites.  A site that is never released -- a worker loop whose
 * jobs each leave a descriptor in a pool region -- is never held, and a
 * region that never closes never reports it.  So with the audit on, a
 * site whose live count in a region keeps growing is reported while the
 * program runs, on a line like
 *
 *   rgn: growing: pool.c:52: run_job(): "log": 1075 live, oldest 1.2s;
 *   growing by 860 a second, from 64 1.1s ago; in region "worker-pool"
 *
 * (one line).  The rule: its live count (not counting resources meant to
 * live with their owner) is at least the growth floor (128 by default),
 * at least twice what it was at the site's last such line (the first
 * time, twice half the floor), rose at each of the region's last two
 * looks, and the site holds a resource older than the held floor (1 s; 1 s also
 * when held reports are off).  So a pool of 16 connections or a listener
 * is never reported, nor a start-up burst that then holds still, nor a
 * spike of short requests; the worker loop is, about a second after it
 * starts, and again each time its count doubles.  Regions look as for
 * held resources (above).  Child regions count: a job's region that is
 * never closed leaks too.  RGN_AUDIT_GROWTH sets the floor ("off" or a
 * number); rgn_audit_set_growth(floor) sets it for the process (0: no
 * growth reports) and returns 0.
 */
RGN_API int rgn_audit_set_growth(size_t floor);

/*
 * Sampled sites, for an audit cheap enough to leave on in production.
 * An unsampled rgn_register or rgn_register_labeled in an audited region
 * nobody shares -- no bytes, no kind, no rgn_audit_intent, no limit, no
 * rgn_find index, no kinds remembered -- is lean: it links its slot
 * without the region's lock and records nothing -- inline, as an
 * unaudited region's registration is (below) -- and so does its
 * release; at N = 64 a pair costs about 1.15 times an unaudited one
 * (README's Performance).  Other unsampled registrations skip the clock
 * and the site's tally but take the lock.  A lean call does not check
 * for two threads at once on the region (every locked call still does),
 * and gives the watchers no look (sampled calls do).
 * With RGN_AUDIT_SAMPLE=N (or rgn_audit_set_sample(N), process-wide,
 * from the next registration on), about one registration in N -- at
 * random gaps -- records its site, its age and its thread, and stands
 * for N resources of its site, its bytes N times; the others record
 * only their bytes.  What a region holds stays exact (rgn_live,
 * rgn_get_stats, bytes); what each site holds is an estimate, count and
 * bytes, shown as "~6400 live, ~625 KiB" in reports, and as such in the
 * growth rule, in profiles (pprof's says so in a comment) and in metrics
 * (beside rgn_audit_sample_rate); what the estimates fall short of goes
 * to site "unknown" there.  No site is given more than its region holds,
 * and a report's summary gives the region's exact count ("... from 1
 * sampled site at close of ...").  Only
 * the sampled resources have lifetimes and can be held, and
 * rgn_audit_since() counts only those, each for the N it stands for and
 * a region's no more than it holds (an estimate too, "~"): run tests
 * with every site recorded.  N = 1, the default, records every one;
 * rgn_audit_set_sample(0) means 1 too (RGN_AUDIT_SAMPLE=0 is refused
 * with a warning, as any value that is not a number from 1 to 1048576).
 * Returns 0, or -EINVAL for N above 1048576 (the rate is left as it
 * was).  No lock; a forked child keeps the rate.
 */
RGN_API int rgn_audit_set_sample(unsigned every);

/*
 * Intent.  A server's listener, its epoll descriptor, a cached value
 * replaced on every request: resources meant to live as long as their
 * owner, which its close is the intended end of.  Registered under the
 * intent RGN_LIVES_WITH_OWNER, a resource is as if marked with
 * rgn_expect_close(): never a leak at its region's close, never held,
 * never growing, counted apart ("expected at close") by dumps.
 *
 * rgn_audit_intent(flags) sets the calling thread's intent for every
 * registration it makes from now on -- rgn_register, rgn_open,
 * rgn_strdup, rgn_new_child, all of them -- and returns the intent it
 * had (0 or RGN_LIVES_WITH_OWNER; unknown bits are ignored).  It costs
 * an untracked region nothing.  Thread-local, no lock; a forked child
 * keeps the forking thread's.
 *
 * RGN_WITH_OWNER { ... } sets it for the block and puts the thread's
 * intent back however the block is left (GCC and Clang only; elsewhere
 * it is not defined, so code using it fails to compile):
 *
 *   RGN_WITH_OWNER {
 *       listen_fd = rgn_open(server, ...);
 *       srv->cache = rgn_strdup(server, value);
 *   }
 */
#define RGN_LIVES_WITH_OWNER 1u
RGN_API unsigned rgn_audit_intent(unsigned flags);
#if defined(__GNUC__)
static inline void rgn_intent_restore_(unsigned *old)
{
    (void)rgn_audit_intent(*old & ~0x80000000u);
}
#define RGN_WITH_OWNER                                                        \
    for (unsigned rgn_intent_old_                                             \
         __attribute__((cleanup(rgn_intent_restore_))) =                      \
             rgn_audit_intent(RGN_LIVES_WITH_OWNER);                          \
         !(rgn_intent_old_ & 0x80000000u); rgn_intent_old_ |= 0x80000000u)
#endif

/*
 * Checkpoints: what did this test, request or job leave behind?
 *
 * rgn_audit_mark() returns a point in the process's order of
 * registrations: a reading of the audit's clock, which every
 * registration in an audited region is stamped with.
 * rgn_audit_mark_named(what) does the same and says what the calling
 * thread runs from now on (a test's name, say; not copied): a report of
 * rgn_audit_since() names it, and so does every abort of RGN_AUDIT=abort
 * in that thread ("rgn: audit: aborting ... while running "what"").
 * rgn_audit_mark() says the thread runs nothing in particular.  Both
 * also write the leaks that closes counted and did not print yet (see
 * rgn_audit_report_open) and make the next close of every site report
 * at once.
 *
 * rgn_audit_since(mark, flags) returns how many resources registered
 * after mark are still live in audited regions (owners and scopes;
 * resources meant to live with their owner, and child regions, are not
 * counted), and reports them to the installed sink, one "rgn: leak:"
 * line per site and label and a summary, unless RGN_SINCE_QUIET is in
 * flags.  RGN_SINCE_THIS_THREAD counts only what the calling thread
 * registered.  RGN_SINCE_CLOSED adds the resources registered after the
 * mark that closes in the calling thread reported as leaks since -- mark
 * must then be the thread's latest.  Resources registered before the
 * mark are never counted, whatever region they are in.  Returns the
 * count, or -EINVAL for an unknown flag.  Takes the registry's lock and
 * each audited region's lock in turn, as rgn_audit_report_open() does,
 * so other threads may go on using their regions; the report is written
 * after every lock is let go; cancellation is disabled meanwhile.  In a
 * forked child (a test runner's, say), regions inherited from the parent
 * count what the child registered in them after its mark.
 *
 * In a test harness: mark at the start of each test, fail the test when
 * rgn_audit_since(mark, RGN_SINCE_CLOSED) is not 0 at its end (README,
 * "Finding leaks in tests", has cmocka, GoogleTest, Unity and TAP).
 */
typedef uint64_t rgn_mark_t;
#define RGN_SINCE_QUIET 1u
#define RGN_SINCE_THIS_THREAD 2u
#define RGN_SINCE_CLOSED 4u
RGN_API rgn_mark_t rgn_audit_mark(void);
RGN_API rgn_mark_t rgn_audit_mark_named(const char *what);
RGN_API long rgn_audit_since(rgn_mark_t mark, unsigned flags);

/*
 * Sets r's audit mode.  Turning it on records resources registered from
 * now on (older ones are reported as "unknown site").  Returns 0, -EINVAL
 * (r NULL or mode unknown), -ECANCELED (r is closing) or -ENOMEM.
 */
RGN_API int rgn_audit_set(rgn_t *r, rgn_audit_mode mode);

/*
 * Gives r a name, copied, for reports and statistics (NULL removes it).
 * Returns 0, -EINVAL (r NULL) or -ENOMEM.
 */
RGN_API int rgn_set_name(rgn_t *r, const char *name);

/* r's name, or NULL.  Valid until the name changes or r closes. */
RGN_API const char *rgn_name(const rgn_t *r);

/*
 * Labels key's resource for the audit's reports.  label is not copied: it
 * must outlive the resource (a string literal is the common case).
 * Returns 0 (also when r is not audited: nothing is recorded), -ENOENT
 * (key not live in r) or -EINVAL (r NULL).
 */
RGN_API int rgn_label(rgn_t *r, rgn_key_t key, const char *label);

/*
 * Marks key's resource as meant to be released by the close: the audit
 * does not report it.  Returns as rgn_label().
 */
RGN_API int rgn_expect_close(rgn_t *r, rgn_key_t key);

/*
 * Warns (to the sink, naming the top sites) when r's live count first
 * passes limit, and again each time it doubles.  0 turns the warning off.
 * Needs the audit on for r to name sites; counts are reported either way.
 * Returns 0, -EINVAL (r NULL), -ECANCELED (r closing) or -ENOMEM.
 */
RGN_API int rgn_audit_limit(rgn_t *r, size_t limit);

/*
 * Where reports go: sink(line, arg) for each line (no newline), called
 * from whichever thread reports.  Each report is made first and written
 * after every region lock is let go, under the sink's own lock, so the
 * lines of two reports never interleave.  The sink may call rgn, even
 * report again or call exit() (the sink's lock lets its own thread back
 * in); it runs with cancellation disabled.  NULL restores the default,
 * stderr.  Process-wide; takes the sink's lock, so it waits for a report
 * being written.
 */
typedef void (*rgn_audit_sink)(const char *line, void *arg);
RGN_API void rgn_audit_set_sink(rgn_audit_sink sink, void *arg);

/* The installed sink and its argument (NULL, NULL: stderr), so a test
 * harness can put back what the program had.  Either pointer may be
 * NULL.  Takes the sink's lock. */
RGN_API void rgn_audit_get_sink(rgn_audit_sink *sink, void **arg);

/* One live resource, as rgn_audit_visit() shows it. */
struct rgn_audit_entry {
    rgn_key_t key;
    const char *file; /* NULL when the site is unknown */
    const char *func;
    int line;
    const char *label; /* NULL when none */
    uint64_t age_ns;   /* 0 when unknown */
    int expected;      /* marked with rgn_expect_close() */
};

/*
 * Calls visit(&entry, arg) for every resource live in r at the call,
 * newest first, until visit returns non-zero; returns that value, or 0.
 * The entries are copied under r's lock and visited after it is let go,
 * so visit may call rgn, on r too.  Works with the audit off too (sites
 * and ages are then unknown).  -EINVAL when r or visit is NULL, -ENOMEM
 * when the copy could not be made (nothing is visited).
 */
RGN_API int rgn_audit_visit(rgn_t *r,
                            int (*visit)(const struct rgn_audit_entry *e,
                                         void *arg),
                            void *arg);

/*
 * Writes r's live resources, grouped by site and label with counts and
 * the oldest age, as "rgn: live:" lines and a summary, to sink (NULL: the
 * installed sink).  The summary counts apart the resources that are no
 * leak: "rgn: live summary: 4 live resources (1 expected at close, 2
 * child regions) from 3 sites in ...".  Returns the number of live
 * resources a close would report: those neither marked with
 * rgn_expect_close() nor child regions (a child is never a leak of its
 * parent); or -EINVAL (r NULL).
 */
RGN_API long rgn_audit_dump(rgn_t *r, rgn_audit_sink sink, void *arg);

/*
 * Reports every audited region that is still open and holds resources not
 * marked with rgn_expect_close(), as the exit report does, to the
 * installed sink.  Returns the number of such resources (child regions
 * are never counted: each is judged by its own contents): 0 means
 * nothing is held.  An open region that holds nothing is not reported.
 */
RGN_API long rgn_audit_report_open(void);

/*
 * Leaves every audited region open now out of later rgn_audit_report_open
 * and exit reports (they are still audited otherwise: their closes, limit
 * warnings and dumps report as before).  For test harnesses: regions a
 * failed test left open are that test's failure, not the next one's.
 * Returns how many regions it marked.  Takes the registry's lock.
 */
RGN_API long rgn_audit_ignore_open(void);

/*
 * Use after close.  A region whose audit mode is report or abort is not
 * given back at its last close: the last 256 such regions are kept, empty
 * (a few hundred bytes each), so that a call reaching one through a stale
 * pointer -- a second rgn_close, a registration, a release, rgn_share,
 * rgn_alloc -- writes a line beginning "rgn: use after close:" naming the
 * call and the region, aborts under abort mode, and otherwise fails as on
 * a closing region (-ECANCELED; -ENOENT for a key).  Older ones, and
 * regions the audit did not watch, are freed: a use after their close is
 * undefined behaviour, as with free().
 *
 * Two threads at once.  With the audit on, a region that was never
 * shared and is used by a second thread while a first is inside one of
 * its calls is reported once, on a line beginning "rgn: two threads:"
 * that names the region and the sites of the calls that have one; abort
 * mode aborts.  Such use corrupts an unshared region: share it with
 * rgn_share() or rgn_thread_create().  A region handed from one thread
 * to another between calls is not reported.
 *
 * rgn_audit_forget_closed() frees the regions kept so and returns how
 * many there were: for programs that count their allocator's bytes.
 * What rgn still holds of its allocator's memory after it, with no
 * region open, is the name of each region whose counters
 * rgn_metrics_write keeps (at most 64 names, see there).  Takes the
 * registry's lock.  A stale pointer is then undefined again.
 */
RGN_API size_t rgn_audit_forget_closed(void);

/* ======================================================================
 * Statistics
 * ======================================================================
 *
 * Counters are kept for every region, at no cost.  Lifetimes -- how long
 * each resource released by rgn_release() had been registered -- are
 * tracked in audit mode, or wherever rgn_lifetimes_set() or
 * rgn_lifetimes_set_default() turns them on, in a relative-error quantile
 * sketch per registration site (REQ, Cormode et al.).  Its memory stays
 * logarithmic in the number of releases whatever their values: a site
 * released 10^8 times holds about a thousand values.  The value reported
 * for quantile q has a true rank within 0.2 * (1 - q) of q, so the high
 * quantiles, where held resources show, are the most exact.  Lifetimes
 * are read from the audit's clock (microseconds or better).  Resources
 * cleaned up by the close, unprotected or moved away end no lifetime.
 */

typedef struct rgn_stats {
    size_t live;              /* resources live now */
    size_t peak;              /* most ever live at once, since the region
                                 was made */
    uint64_t registered;      /* registrations (register, allocate, moves
                                 in, children) since the region was made
                                 or last cleared */
    uint64_t released_early;  /* by rgn_release, since then too */
    uint64_t removed;         /* unprotected or moved away (a child
                                 closed first leaves its parent so, too),
                                 since then too */
    uint64_t cleanup_errors;  /* cleanups run so far that returned
                                 non-zero, since the region was made */
    uint64_t lifetime_ns[4];  /* p50, p90, p99 and max lifetime of
                                 released resources; 0 when lifetimes are
                                 not tracked */
    size_t lifetime_retained; /* items the lifetime sketch holds now */
    uint64_t bytes;           /* bytes of the live resources that carry a
                                 size (rgn_malloc & co., rgn_register_sized),
                                 counted where r keeps records: audited,
                                 or measuring lifetimes; else 0 */
    uint64_t arena_bytes;     /* bytes r's arena holds (its chunks, or
                                 what it used of the region's own 64) */
} rgn_stats;

/*
 * Fills *out with r's counters, read at one instant, and, when r tracks
 * lifetimes, the p50, p90, p99 and maximum lifetime of what it released
 * early, with the number of items its sketches hold.  They are exact:
 * registered == live + released_early + removed, always -- except from a
 * cleanup run by r's own close or clear, where the difference is the
 * number of resources that close or clear has taken so far.  rgn_clear()
 * starts registered, released_early and removed again from 0 (what r
 * holds was cleaned up, and r begins anew); peak, cleanup_errors and the
 * lifetimes go on from r's creation.  live and peak are what rgn_live()
 * sees; bytes and arena_bytes are read at the same instant.  Returns 0,
 * or -EINVAL (r or out NULL).  Costs nothing on the other calls: the
 * counters are kept anyway.
 */
RGN_API int rgn_get_stats(const rgn_t *r, rgn_stats *out);

/*
 * Turns lifetime tracking of r on (on != 0) or off.  Turning it on
 * measures resources registered from then on; turning it off keeps what
 * was measured.  rgn_audit_set() to a reporting mode turns it on.
 * Returns 0, -EINVAL (r NULL), -ECANCELED (r closing) or -ENOMEM.
 */
RGN_API int rgn_lifetimes_set(rgn_t *r, int on);

/* Whether regions created from now on track lifetimes even when not
 * audited (audited ones always start with it on).  Process-wide. */
RGN_API void rgn_lifetimes_set_default(int on);

/*
 * Writes the statistics of every open region that has a name (see
 * rgn_set_name) and is audited or tracks lifetimes to out, in the
 * Prometheus text exposition format 0.0.4, labelled region="<name>":
 * rgn_resources_live and rgn_resources_peak (gauges),
 * rgn_resources_registered_total, rgn_resources_released_total,
 * rgn_resources_removed_total, rgn_cleanup_errors_total (counters) and
 * rgn_resource_lifetime_seconds (a summary: quantiles 0.5, 0.9, 0.99 and
 * 0.999, _sum and _count).  Regions sharing a name are added up into one
 * series.  A closed region's gauges leave its series; its counters (and
 * the summary's _sum and _count) stay in it, as does what rgn_clear()
 * took out of a region's counters (see rgn_get_stats), so they never go
 * down while the process lives (kept for the first 64 names whose
 * regions closed, each under its whole name, copied once from rgn's
 * allocator and kept until the process ends).  Names that are not UTF-8
 * are written with U+FFFD for each invalid byte.  Returns the number of
 * series written (0: none qualifies, nothing written), -EINVAL (out
 * NULL), -ENOMEM, or -EIO when writing to out failed.
 */
RGN_API int rgn_metrics_write(FILE *out);

/* ======================================================================
 * Profiles: what a running program holds, for the tools people use
 * ======================================================================
 *
 * rgn_profile_write(path, format) writes a snapshot of every audited
 * region this process made, by region, site and label, to path (through
 * a temporary file renamed into place):
 *
 *   RGN_PROFILE_PPROF   pprof's profile.proto, gzipped: a sample per
 *                       (region, site, label) with the values resources
 *                       (count) and bytes, in that order; its stack is
 *                       the site (function, file, line) under a frame
 *                       "region NAME", and it carries the string labels
 *                       site ("file:line"), region and label.  Each
 *                       region's arena is a sample of its own ("(arena)",
 *                       bytes only).  No binary is needed to read it:
 *                       `pprof -top profile.pb.gz`, `pprof -diff_base`.
 *   RGN_PROFILE_FOLDED  folded stacks for flame graphs, one line per
 *                       site: "region;file:line func() label count".
 *
 * Regions of one name add up; unnamed ones are named by where they were
 * made.  Returns 0, -EINVAL (path NULL or format unknown), -ENOMEM, or
 * the failing system call's error negated (open, write, rename; then
 * rgn_error_origin() says RGN_FROM_SYSTEM).  Takes the registry's lock
 * and each audited region's in turn, as rgn_audit_report_open() does;
 * writes with every lock let go; cancellation disabled; a forked child
 * writes its own regions.
 *
 * The environment asks a running program from outside, as PostgreSQL's
 * pg_log_backend_memory_contexts and Samba's pool-usage do:
 *   RGN_PROFILE_DIR=dir       where snapshots go, as rgn.<pid>.<n>.pb.gz
 *                             (n from 1); one is written at exit.
 *   RGN_PROFILE_SIGNAL=USR2   each delivery of the signal writes one, soon
 *                             after: `kill -USR2 PID`.  The handler only
 *                             posts a semaphore; a thread of rgn's own,
 *                             started only then, writes the snapshot.
 *   RGN_PROFILE_EVERY=1s      on that interval, a snapshot, and a point of
 *                             the timeline: rgn.<pid>.timeline.tsv
 *                             (seconds, region, site, resources, bytes)
 *                             and rgn.<pid>.trace.json, counter events in
 *                             the Trace Event Format (Perfetto and
 *                             chrome://tracing draw each region's sites
 *                             as a stacked area chart); tools/timeline-plot
 *                             draws the TSV as a PNG.
 * With SIGNAL or EVERY and no DIR, the current directory.  A forked child
 * keeps no such thread: it writes snapshots on neither.
 */
#define RGN_PROFILE_PPROF 1
#define RGN_PROFILE_FOLDED 2
RGN_API int rgn_profile_write(const char *path, int format);

/* ======================================================================
 * Allocator
 * ====================================================================== */

/* Where rgn gets its own memory. */
typedef struct rgn_allocator {
    void *(*malloc)(size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);
} rgn_allocator;

/*
 * Makes every byte rgn allocates for itself come from a (copied; NULL
 * restores libc's).  Process-wide; must be called before the first region
 * is created.  Returns 0, -EBUSY once a region has been created (nothing
 * changes), or -EINVAL if a member of a is NULL.  Any allocation may fail:
 * rgn then returns -ENOMEM (or NULL with errno ENOMEM), leaks nothing and
 * leaves every region as it was -- except that a resource passed to
 * rgn_register() has been cleaned up, as that call promises.
 */
RGN_API int rgn_set_allocator(const rgn_allocator *a);

/*
 * ---- The inline fast paths --------------------------------------------
 *
 * rgn_register, rgn_register_labeled, rgn_register_sized and rgn_alloc
 * are inline here for the case servers spend their time in: an open
 * region nobody shares, audits or lists, with a slot (or arena room) at
 * hand.  That case makes no call at all and keeps every rule of the
 * calls: the key, the newest-first order and the counters rgn_get_stats
 * reads come out as from the library.  So does a lean registration
 * (rgn_register or rgn_register_labeled whose site is not sampled, in an
 * audited region nobody shares: rgn_audit_set_sample), the sampled audit
 * left on.  Every other case -- a NULL argument, a shared, closing or
 * listed region, an audited one that is not lean, a sampled site, a full
 * slot map, a chunk to start -- calls the function, which decides as
 * before.
 * The functions stay, with their addresses: (rgn_register)(...) calls
 * librgn.  (rgn_release is not inline: its cleanup must run inside a
 * frame that saves errno and survives cancellation.  Split in two, the
 * pair cost more instructions, not fewer.  Whole, tried twice: in a loop
 * it saved 16 of 125 instructions, then 10 of 117 (5% of the time); but
 * in a function of its own, as bench's table calls it, 133 became 135,
 * no faster, and every release it gave back to the library paid more
 * (a shared region's pair 312 -> 319, an indexed one's 456 -> 463):
 * GCC and clang both spill the key, passed by value, and so save the
 * registers the cleanup's call needs before the first test.  And it
 * would make the thread's frame stack and errno cache ABI.)
 *
 * So a program compiled with this header reads and writes the first
 * bytes of a region, struct rgn_hot_, directly: that prefix is part of
 * librgn.so.1's ABI, fixed for the soname's life (doc/HACKING says how
 * it is kept).  Nothing in it is for programs to use themselves.  Define
 * RGN_NO_INLINE before including rgn.h to call the library every time.
 * rgn__child_cleanup and rgn__free_block are exported for these paths
 * only: they are the cleanups rgn_unprotect hands back for a child
 * region and an rgn_malloc block, which only the library may register.
 * So is rgn__intent, the calling thread's rgn_audit_intent: a resource
 * meant to live with its owner is never lean.
 */
struct rgn_hot_cb_ {
    rgn_cleanup_fn fn;
    void *resource;
};
struct rgn_hot_ln_ {
    uint32_t gen, prev, next;
};
struct
#if defined(__GNUC__)
    __attribute__((may_alias))
#endif
    rgn_hot_ {
    char *arena_at, *arena_end; /* the arena's bump */
    uint32_t mode;              /* 0: open, unshared, untracked, unlisted */
    uint32_t sample_in;         /* registrations to the next sampled site */
    struct rgn_hot_cb_ *cb;     /* the slot map (lib/map.h) */
    struct rgn_hot_ln_ *ln;
    uint64_t id;
    uint32_t free_head, used, cap;
    size_t live, peak;
    const unsigned *lean_span; /* lean while sample_in - 2 < *lean_span */
};

/* The mode word of an open, tracked and listed region nobody shares
 * (lib/region.h, rgn__mode_listed): where lean calls may apply. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define RGN_MODE_LISTED_ 0x00000101u
#else
#define RGN_MODE_LISTED_ 0x01010000u
#endif

RGN_API int rgn__child_cleanup(void *child, rgn_release_type how);
RGN_API int rgn__free_block(void *p, rgn_release_type how);

#if defined(__GNUC__) && !defined(RGN_NO_INLINE) && !defined(RGN_BUILDING_)
RGN_API extern __thread unsigned rgn__intent
    __attribute__((tls_model("initial-exec")));

/* rgn_link_fast_'s link, once it applies: h is an open region nobody
 * shares, tracks or lists, fn an ordinary cleanup; or, lean, an audited
 * one whose readers on other threads read its counts meanwhile. */
static inline __attribute__((always_inline)) int
rgn_link_at_hand_(struct rgn_hot_ *h, rgn_cleanup_fn fn, void *resource,
                  rgn_key_t *key, int lean)
{
    /*
     * h may alias anything, so a store through cb, ln or key makes the
     * compiler read h's fields again: the two read more than once are
     * read before the first store, and each other where it is used, so
     * that it holds no register meanwhile.  With every field read first,
     * GCC kept three registers of the caller's more (make bench-ir: the
     * plain pair 140 -> 133 instructions; clang 47 -> 43 a registration).
     */
    struct rgn_hot_ln_ *ln = h->ln;
    struct rgn_hot_cb_ *cb = h->cb;
    size_t live;
    uint32_t i = h->free_head, newest = ln[0].next, gen;
    if (__builtin_expect(i != 0, 1)) {
        h->free_head = ln[i].next;
        gen = ln[i].gen + 1; /* odd: live */
    } else if (h->used != h->cap) {
        i = h->used++; /* never used: handed out lazily */
        gen = 1;
    } else {
        return 0;
    }
    cb[i].fn = fn;
    cb[i].resource = resource;
    ln[i].gen = gen;
    ln[i].prev = 0;
    ln[i].next = newest;
    ln[newest].prev = i;
    ln[0].next = i;
    live = h->live + 1;
    if (lean) {
        h->sample_in--;
        __atomic_store_n(&h->live, live, __ATOMIC_RELAXED);
        if (live > h->peak)
            __atomic_store_n(&h->peak, live, __ATOMIC_RELAXED);
    } else {
        h->live = live;
        if (live > h->peak)
            h->peak = live;
    }
    if (key) {
        /* Two 64-bit stores, apart, as the library's: the caller loads
         * the key as two words next, and a load is forwarded only from
         * stores of its own width (lib/resource.h, rgn__key_store).  The
         * empty asm keeps GCC from shifting gen at its load, in a
         * register of the caller's held across the stores above. */
        uint64_t slot_gen;
        __asm__("" : "+r"(gen));
        slot_gen = RGN_CAST_(uint64_t, gen) << 32 | i;
        key->region = h->id;
        __asm__("" : "+m"(key->region));
        __builtin_memcpy(&key->slot, &slot_gen, sizeof slot_gen);
    }
    return 1;
}

/* Links fn and resource as r's newest resource when a slot is at hand
 * (separate from the link, so that a program built with
 * -Wdeclaration-after-statement gets no warning from this header); lean
 * only where lean_ok (a registration with no bytes). */
static inline __attribute__((always_inline)) int
rgn_link_fast_(rgn_t *r, rgn_cleanup_fn fn, void *resource, rgn_key_t *key,
               int lean_ok)
{
    struct rgn_hot_ *h = RGN_CAST_(struct rgn_hot_ *, RGN_CAST_(void *, r));
    unsigned mode;
    if (__builtin_expect(r == RGN_NULL_ || fn == RGN_NULL_, 0) ||
        __builtin_expect(fn == rgn__child_cleanup || fn == rgn__free_block, 0))
        return 0;
    mode = __atomic_load_n(&h->mode, __ATOMIC_RELAXED);
    if (__builtin_expect(mode == 0, 1))
        return rgn_link_at_hand_(h, fn, resource, key, 0);
    /* Lean (lib/audit.h): not sampled, as the library's countdown would
     * find; the region's owner alone writes these fields. */
    if (lean_ok && mode == RGN_MODE_LISTED_ &&
        h->sample_in - 2 < __atomic_load_n(h->lean_span, __ATOMIC_RELAXED) &&
        !(rgn__intent & RGN_LIVES_WITH_OWNER))
        return rgn_link_at_hand_(h, fn, resource, key, 1);
    return 0;
}

static inline __attribute__((always_inline)) int
rgn_register_fast_(rgn_t *r, rgn_cleanup_fn fn, void *resource, rgn_key_t *key,
                   const struct rgn_site *site)
{
    if (__builtin_expect(rgn_link_fast_(r, fn, resource, key, 1), 1))
        return 0;
    return rgn_register_at(r, fn, resource, key, site);
}

static inline __attribute__((always_inline)) int
rgn_register_labeled_fast_(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                           rgn_key_t *key, const char *label,
                           const struct rgn_site *site)
{
    if (__builtin_expect(rgn_link_fast_(r, fn, resource, key, 1), 1))
        return 0;
    return rgn_register_labeled_at(r, fn, resource, key, label, site);
}

static inline __attribute__((always_inline)) int
rgn_register_sized_fast_(rgn_t *r, rgn_cleanup_fn fn, void *resource,
                         rgn_key_t *key, size_t bytes,
                         const struct rgn_site *site)
{
    /* Its bytes count in an audited region: never lean. */
    if (__builtin_expect(rgn_link_fast_(r, fn, resource, key, 0), 1))
        return 0;
    return rgn_register_sized_at(r, fn, resource, key, bytes, site);
}

static inline __attribute__((always_inline)) void *
rgn_alloc_fast_(rgn_t *r, size_t size, const struct rgn_site *site)
{
    struct rgn_hot_ *h = RGN_CAST_(struct rgn_hot_ *, RGN_CAST_(void *, r));
    if (__builtin_expect(r != RGN_NULL_, 1) &&
        __builtin_expect(!__atomic_load_n(&h->mode, __ATOMIC_RELAXED), 1)) {
        size_t n = (size + 15) & ~RGN_CAST_(size_t, 15);
        /* 0 < n <= room; n is 0 for size 0 and when rounding wrapped,
         * which the library sorts out.  Where a memory tool is on the
         * library shows no room, so every allocation reaches it. */
        if (__builtin_expect(
                n - 1 < RGN_CAST_(size_t, h->arena_end - h->arena_at), 1)) {
            void *p = h->arena_at;
            h->arena_at += n;
            return p;
        }
    }
    return rgn_alloc_at(r, size, site);
}

#undef rgn_register
#define rgn_register(r, fn, resource, key)                                    \
    rgn_register_fast_((r), (fn), (resource), (key), RGN_SITE)
#undef rgn_register_labeled
#define rgn_register_labeled(r, fn, resource, key, label)                     \
    rgn_register_labeled_fast_((r), (fn), (resource), (key), (label), RGN_SITE)
#undef rgn_register_sized
#define rgn_register_sized(r, fn, resource, key, bytes)                       \
    rgn_register_sized_fast_((r), (fn), (resource), (key), (bytes), RGN_SITE)
#undef rgn_alloc
#define rgn_alloc(r, size) rgn_alloc_fast_((r), (size), RGN_SITE)
#endif

#ifdef __cplusplus
}

/*
 * C++: rgn_here, a default argument that records each caller's site, so
 * that a wrapper reports its callers rather than itself:
 *
 *   template <class T> T *own(rgn_t *r, T *p, rgn_here here = {})
 *   {
 *       rgn_register_at(r, destroy<T>, p, nullptr, here);
 *       return p;
 *   }
 *
 * Built on std::source_location in C++20, on GCC's and Clang's
 * __builtin_FILE, __builtin_LINE and __builtin_FUNCTION before; through
 * rgn_site_make(), which may fail (out of memory): the site is then
 * unknown, never wrong.  Elsewhere it records no site.
 */
#if __cplusplus >= 201103L
#define RGN_NOEXCEPT_ noexcept
#else
#define RGN_NOEXCEPT_ throw()
#endif
#if __cplusplus >= 202002L && defined(__has_include)
#if __has_include(<version>)
#include <version> /* a library may have the header and not the class */
#endif
#if defined(__cpp_lib_source_location)
#include <source_location>
#define RGN_SOURCE_LOCATION_ 1
#endif
#endif
struct rgn_here {
    const struct rgn_site *site;
#if defined(RGN_SOURCE_LOCATION_)
    rgn_here(std::source_location l = std::source_location::current())
        RGN_NOEXCEPT_
        : site(rgn_site_make(l.file_name(), static_cast<int>(l.line()),
                             l.function_name()))
    {
    }
#elif defined(__GNUC__)
    rgn_here(const char *file = __builtin_FILE(), int line = __builtin_LINE(),
             const char *func = __builtin_FUNCTION()) RGN_NOEXCEPT_
        : site(rgn_site_make(file, line, func))
    {
    }
#else
    rgn_here() RGN_NOEXCEPT_ : site(RGN_NULL_)
    {
    }
#endif
    operator const struct rgn_site *() const RGN_NOEXCEPT_
    {
        return site;
    }
};
#endif

#endif /* RGN_H */

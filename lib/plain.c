/* SPDX-License-Identifier: MIT */
/*
 * plain.c -- registering an existing free-like function, void (*)(void *),
 * as a cleanup without a wrapper (rgn_register_plain).
 *
 * A cleanup slot holds one function and one pointer, and the main path
 * (register, release, close) must not pay a test for a second kind of
 * cleanup.  So each distinct plain function gets one of a fixed set of
 * compiled-in trampolines, int tramp_N(void *, rgn_release_type), that
 * calls plain_fn[N].  The slot then holds an ordinary cleanup, and
 * everything that handles cleanups -- release, move, unprotect (which
 * hands back tramp_N and the caller's own pointer, a pair that still does
 * the right thing when called) -- works unchanged.
 *
 * plain_fn is the only global state: written once per distinct function
 * by compare-and-swap, never cleared, read without a lock.  A forked child
 * inherits it intact.  May call: rgn_register_at, rgn_register_labeled_at.
 *
 * Floor 1, the region core (doc/HACKING, "Floors").
 */
#include "internal.h"

#define PLAIN_MAX 256 /* distinct plain functions per process */

static _Atomic(rgn_plain_fn) plain_fn[PLAIN_MAX];

/* Tables laid out by hand: */
/* clang-format off */
#define TRAMP(h, l)                                                       \
    static int tramp_##h##l(void *resource, rgn_release_type how)         \
    {                                                                     \
        (void)how;                                                        \
        atomic_load_explicit(&plain_fn[0x##h##l], memory_order_acquire)(  \
            resource);                                                    \
        return 0;                                                         \
    }
#define ROW(h)                                                            \
    TRAMP(h, 0) TRAMP(h, 1) TRAMP(h, 2) TRAMP(h, 3) TRAMP(h, 4)           \
    TRAMP(h, 5) TRAMP(h, 6) TRAMP(h, 7) TRAMP(h, 8) TRAMP(h, 9)           \
    TRAMP(h, a) TRAMP(h, b) TRAMP(h, c) TRAMP(h, d) TRAMP(h, e)           \
    TRAMP(h, f)
ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
ROW(8) ROW(9) ROW(a) ROW(b) ROW(c) ROW(d) ROW(e) ROW(f)
#undef ROW
#undef TRAMP

#define NAME(h, l) tramp_##h##l,
#define ROW(h)                                                            \
    NAME(h, 0) NAME(h, 1) NAME(h, 2) NAME(h, 3) NAME(h, 4) NAME(h, 5)     \
    NAME(h, 6) NAME(h, 7) NAME(h, 8) NAME(h, 9) NAME(h, a) NAME(h, b)     \
    NAME(h, c) NAME(h, d) NAME(h, e) NAME(h, f)
static const rgn_cleanup_fn tramp[PLAIN_MAX] = {
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
    ROW(8) ROW(9) ROW(a) ROW(b) ROW(c) ROW(d) ROW(e) ROW(f)
};
#undef ROW
#undef NAME
/* clang-format on */

/* The trampoline that calls fn, claiming one if fn has none yet; NULL
 * when all are taken by other functions.  Open addressing from a hash of
 * the address, so the usual lookup is one load. */
static rgn_cleanup_fn tramp_for(rgn_plain_fn fn)
{
    uintptr_t h = (uintptr_t)fn;
    h = (h >> 4) * UINT64_C(0x9E3779B97F4A7C15) >> 56; /* 0..255 */
    for (unsigned n = 0; n < PLAIN_MAX; n++) {
        unsigned i = (unsigned)(h + n) % PLAIN_MAX;
        rgn_plain_fn seen =
            atomic_load_explicit(&plain_fn[i], memory_order_acquire);
        if (!seen && atomic_compare_exchange_strong_explicit(
                         &plain_fn[i], &seen, fn, memory_order_acq_rel,
                         memory_order_acquire))
            return tramp[i];
        if (seen == fn) /* ours, or another thread claimed it for fn */
            return tramp[i];
    }
    return NULL;
}

/* The trampoline of fn, or 0 with the error after running fn. */
static rgn_cleanup_fn plain(rgn_plain_fn fn, void *resource, rgn_key_t *key,
                            int *rc)
{
    if (key)
        *key = RGN_KEY_NONE;
    if (!fn) {
        *rc = rgn__refused(-EINVAL); /* rgn_register's rule: none to run */
        return NULL;
    }
    rgn_cleanup_fn t = tramp_for(fn);
    if (RGN_UNLIKELY(!t)) {
        fn(resource); /* never leak what was handed over */
        *rc = rgn__refused(-ENOSPC);
    }
    return t;
}

int rgn_register_plain_at(rgn_t *r, rgn_plain_fn fn, void *resource,
                          rgn_key_t *key, const struct rgn_site *site)
{
    int rc;
    rgn_cleanup_fn t = plain(fn, resource, key, &rc);
    return t ? rgn_register_at(r, t, resource, key, site) : rc;
}

int rgn_register_plain_labeled_at(rgn_t *r, rgn_plain_fn fn, void *resource,
                                  rgn_key_t *key, const char *label,
                                  const struct rgn_site *site)
{
    int rc;
    rgn_cleanup_fn t = plain(fn, resource, key, &rc);
    return t ? rgn_register_labeled_at(r, t, resource, key, label, site) : rc;
}

/* ---- the function twins of the macros, which record no site ----------
 *
 * Last in the file: each #undef takes away the macro, so the definition
 * needs no parentheses around its name, and nothing after it could call
 * the twin where it meant the macro.
 */

#undef rgn_register_plain
int rgn_register_plain(rgn_t *r, rgn_plain_fn fn, void *resource,
                       rgn_key_t *key)
{
    return rgn_register_plain_at(r, fn, resource, key, NULL);
}

#undef rgn_register_plain_labeled
int rgn_register_plain_labeled(rgn_t *r, rgn_plain_fn fn, void *resource,
                               rgn_key_t *key, const char *label)
{
    return rgn_register_plain_labeled_at(r, fn, resource, key, label, NULL);
}

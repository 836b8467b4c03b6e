/* SPDX-License-Identifier: MIT */
/*
 * base.h -- what every file of lib/ needs first: the build's config.h,
 * the public header, the C library's basic headers, four macros and
 * rgn__zero.
 * It includes no other header of lib/.
 */
#ifndef RGN_BASE_H
#define RGN_BASE_H

#include <config.h>

/* The library calls its functions, not rgn.h's inline fast paths. */
#define RGN_BUILDING_ 1
#include "rgn.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Private names are hidden from the shared library's exports. */
#define RGN_HIDDEN __attribute__((visibility("hidden")))
#define RGN_LIKELY(x) __builtin_expect(!!(x), 1)
#define RGN_UNLIKELY(x) __builtin_expect(!!(x), 0)

/*
 * RGN_ASSERT(cond): an invariant the comments state, checked where the
 * library is built with -DRGN_DEBUG (the sanitizer, fuzz and retire
 * builds); nothing at all otherwise.  A failure names the invariant and
 * aborts: it is rgn's bug, never the caller's (error.c).
 */
#ifdef RGN_DEBUG
RGN_HIDDEN _Noreturn void rgn__assert_failed(const char *what,
                                             const char *file, int line);
#define RGN_ASSERT(cond)                                                      \
    ((cond) ? (void)0 : rgn__assert_failed(#cond, __FILE__, __LINE__))
#else
#define RGN_ASSERT(cond) ((void)0)
#endif

/*
 * Zeroes n bytes at p, n a constant: as memset does, in pieces of 64
 * bytes at most, which GCC writes as a few vector stores.  A memset of
 * more is a `rep stos` on x86-64, whose start-up cost was 8 ns of an
 * audited region's creation (its 152 bytes of tracking state), a tenth
 * of an audited create+close.  For structs made on hot paths only.
 */
static inline __attribute__((always_inline)) void rgn__zero(void *p, size_t n)
{
    char *c = p;
    for (; n > 64; c += 64, n -= 64) {
        memset(c, 0, 64);
        __asm__("" ::: "memory"); /* kept apart, or GCC joins them */
    }
    memset(c, 0, n);
}

#endif /* RGN_BASE_H */

/* SPDX-License-Identifier: MIT */
/*
 * base.h -- what every file of lib/ needs first: the build's config.h,
 * the public header, the C library's basic headers and four macros.
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

#endif /* RGN_BASE_H */

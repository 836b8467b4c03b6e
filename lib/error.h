/* SPDX-License-Identifier: MIT */
/*
 * error.h -- errors passed through rgn (error.c).
 *
 * The calls that pass through values of other code (cleanups, acquire
 * functions, system calls) note, each time they fail, the value and its
 * origin; rgn_error_origin and rgn_strerror read it.  Only failure paths
 * write it: success costs nothing.  And errno, which every cleanup run
 * preserves, is found here once per thread.
 */
#ifndef RGN_ERROR_H
#define RGN_ERROR_H

#include "base.h"

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

#endif /* RGN_ERROR_H */

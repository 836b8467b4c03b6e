/* SPDX-License-Identifier: MIT */
/*
 * error.h -- errors passed through rgn (error.c).
 *
 * Every public call notes, each time it fails, the value it returns and
 * where it came from: rgn's own refusal (rgn__refused, rgn__refused_null)
 * or a value of other code it passes through (cleanups, acquire
 * functions, system calls: rgn__failed).  rgn_error_origin and
 * rgn_strerror read it, so a refusal is never taken for what an earlier
 * call passed through.  Only failure paths write it: success costs
 * nothing.  And errno, which every cleanup run preserves, is found here
 * once per thread.
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

/* A constructor's refusal: errno e (positive), noted as rgn's own -e;
 * returns NULL. */
static inline void *rgn__refused_null(int e)
{
    errno = e;
    rgn__failed(-e, RGN_FROM_RGN);
    return NULL;
}

/*
 * What a thread's releases keep, in one object, so that a release finds
 * both with one address (and, after its cleanup, with the one register
 * that holds it: make bench-ir's plain pair 144 -> 142 instructions, the
 * audited 596 -> 593).  errno_at is errno's address, found once: &errno
 * is a call into libc on every use, and a release would pay it twice.
 * frames is the thread's stack of release frames (region.h).
 */
struct rgn_frame;
struct rgn_run_state {
    int *errno_at;
    struct rgn_frame *frames;
};
RGN_HIDDEN extern __thread struct rgn_run_state rgn__run_state
    __attribute__((tls_model("initial-exec")));

static inline int *rgn__errno(void)
{
    int *e = rgn__run_state.errno_at;
    if (RGN_UNLIKELY(!e))
        e = rgn__run_state.errno_at = &errno;
    return e;
}

#endif /* RGN_ERROR_H */

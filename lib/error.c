/* SPDX-License-Identifier: MIT */
/*
 * error.c -- rgn_strerror: what rgn means by the errors it returns; and
 * rgn_version, the other call that describes rather than does.  Owns
 * the thread's last failure and its cached errno address (error.h).
 * Calls nothing of rgn's.
 *
 * Floor 0: never sees a region (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

__thread struct rgn_run_state rgn__run_state
    __attribute__((tls_model("initial-exec")));

#define RGN_STR_(x) #x
#define RGN_STR(x) RGN_STR_(x)

const char *rgn_version(void)
{
    return RGN_STR(RGN_VERSION_MAJOR) "." RGN_STR(
        RGN_VERSION_MINOR) "." RGN_STR(RGN_VERSION_PATCH);
}

/* Text for values rgn does not name itself; per thread, so concurrent
 * callers never see each other's text. */
static __thread char other[128];

__thread struct rgn__last_failure rgn__last
    __attribute__((tls_model("initial-exec")));

rgn_origin rgn_error_origin(void)
{
    return rgn__last.origin;
}

/* The system's text for a negative errno value, or NULL. */
static const char *system_text(int err, char *buf, size_t n)
{
    if (!(err < 0 && err > -4096)) /* the range errno values live in */
        return NULL;
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(-err, buf, n);
#else
    if (strerror_r(-err, buf, n) != 0)
        snprintf(buf, n, "errno %d", -err);
    return buf;
#endif
}

/* err as the thread's last failing call passed it through from other
 * code: the system's text, and where it came from. */
static const char *passed_through(int err)
{
    static const char *const from[] = {
        [RGN_FROM_CLEANUP] = "from a cleanup",
        [RGN_FROM_CALLER] = "from your function",
        [RGN_FROM_SYSTEM] = "from the system",
    };
    char buf[64];
    const char *s = system_text(err, buf, sizeof buf);
    if (s)
        snprintf(other, sizeof other, "%s (%s)", s, from[rgn__last.origin]);
    else
        snprintf(other, sizeof other, "result %d (%s)", err,
                 from[rgn__last.origin]);
    return other;
}

const char *rgn_strerror(int err)
{
    if (err != 0 && err == rgn__last.value && rgn__last.origin != RGN_FROM_RGN)
        return passed_through(err);
    switch (err) {
    case 0:
        return "success";
    case -EINVAL:
        return "invalid argument (a NULL region, function or pointer, a "
               "flag or value the call does not take, or a move that would "
               "make a region own itself)";
    case -ENOENT:
        return "not live in this region (no such key, or no resource of "
               "that cleanup and pointer)";
    case -ECANCELED:
        return "region is closing";
    case -ENOMEM:
        return "out of memory";
    case -EBUSY:
        return "allocator already in use: set it before the first region";
    case -EPROTOTYPE:
        return "resource is of another kind";
    }
    char buf[64];
    const char *s = system_text(err, buf, sizeof buf);
    if (s) {
        snprintf(other, sizeof other, "%s", s);
    } else {
        snprintf(other, sizeof other, "cleanup result %d", err);
    }
    return other;
}

#ifdef RGN_DEBUG
#include <stdlib.h>

void rgn__assert_failed(const char *what, const char *file, int line)
{
    fprintf(stderr, "rgn: internal invariant broken: %s (%s:%d)\n", what, file,
            line);
    abort();
}
#endif

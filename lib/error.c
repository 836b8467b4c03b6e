/* SPDX-License-Identifier: MIT */
/*
 * error.c -- rgn_strerror: what rgn means by the errors it returns; and
 * rgn_version, the other call that describes rather than does.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#define RGN_STR_(x) #x
#define RGN_STR(x) RGN_STR_(x)

const char *rgn_version(void)
{
    return RGN_STR(RGN_VERSION_MAJOR) "." RGN_STR(RGN_VERSION_MINOR) "."
        RGN_STR(RGN_VERSION_PATCH);
}

/* Text for values rgn does not name itself; per thread, so concurrent
 * callers never see each other's text. */
static __thread char other[96];

const char *rgn_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case -EINVAL:
        return "invalid argument (a NULL region or function, or a "
               "move that would make a region own itself)";
    case -ENOENT:
        return "key is not live in this region";
    case -ECANCELED:
        return "region is closing";
    case -ENOMEM:
        return "out of memory";
    case -EBUSY:
        return "allocator already in use: set it before the first region";
    }
    if (err < 0 && err > -4096) { /* the range errno values live in */
        char buf[64];
        const char *s = buf;
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
        s = strerror_r(-err, buf, sizeof buf);
#else
        if (strerror_r(-err, buf, sizeof buf) != 0)
            snprintf(buf, sizeof buf, "errno %d", -err);
#endif
        snprintf(other, sizeof other, "%s", s);
    } else {
        snprintf(other, sizeof other, "cleanup result %d", err);
    }
    return other;
}

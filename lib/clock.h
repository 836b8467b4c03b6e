/* SPDX-License-Identifier: MIT */
/*
 * clock.h -- the audit's clock (clock.c): ticks of an invariant TSC, or
 * nanoseconds of CLOCK_MONOTONIC.  Spans of ticks are converted where
 * they are read; a reading is never 0, so 0 can mean "unknown".
 */
#ifndef RGN_CLOCK_H
#define RGN_CLOCK_H

#include "base.h"

#include <time.h>

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

#endif /* RGN_CLOCK_H */

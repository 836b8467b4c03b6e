/* SPDX-License-Identifier: MIT */
/*
 * clock.c -- the audit's clock: cheap to read on every audited register
 * and release, fine enough that a lifetime of 850 us reads as such.
 *
 * On x86-64 with an invariant TSC (constant rate, never stopped; CPUID
 * says so) rgn__now() is the TSC itself, read in about 10 ns on a KVM
 * guest, where a fine clock_gettime costs 25 and the coarse clock has the
 * kernel tick's resolution (4 ms).  Elsewhere it is CLOCK_MONOTONIC in
 * nanoseconds.  Spans of ticks become nanoseconds only where a person or
 * a statistic reads them -- reports, rgn_get_stats, metrics -- by the rate
 * measured once against CLOCK_MONOTONIC over the first millisecond after
 * load: no calibration loop at start.  Calls nothing of rgn's.
 */
#include "internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

bool rgn__clock_tsc;
static uint64_t tsc0, mono0; /* one instant, on both clocks */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((constructor)) static void choose_clock(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    unsigned a, b, c, d;
    if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000007u &&
        __get_cpuid(0x80000007u, &a, &b, &c, &d) && (d & (1u << 8))) {
        mono0 = mono_ns();
        tsc0 = __builtin_ia32_rdtsc();
        rgn__clock_tsc = true;
    }
#endif
}

/*
 * Nanoseconds per tick, measured once, over at least the first
 * millisecond after load (an error of about 1e-4), and kept: every
 * conversion uses the same rate, so that a sum of lifetimes written twice
 * never goes down (Prometheus would read a reset).  The first conversion
 * in a process's first millisecond waits for the rest of it.
 */
static _Atomic uint64_t rate_bits; /* the double's bits; 0: not measured */

static double ns_per_tick(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    uint64_t bits = atomic_load_explicit(&rate_bits, memory_order_relaxed);
    double rate;
    if (bits) {
        memcpy(&rate, &bits, sizeof rate);
        return rate;
    }
    uint64_t m, t;
    do {
        m = mono_ns();
        t = __builtin_ia32_rdtsc();
    } while (m - mono0 < 1000000u);
    rate = (double)(m - mono0) / (double)(t - tsc0);
    memcpy(&bits, &rate, sizeof bits);
    uint64_t none = 0; /* the first measurement wins */
    if (!atomic_compare_exchange_strong(&rate_bits, &none, bits))
        memcpy(&rate, &none, sizeof rate);
    return rate;
#else
    return 1.0;
#endif
}

uint64_t rgn__ticks_to_ns(uint64_t ticks)
{
    if (!rgn__clock_tsc)
        return ticks;
    double ns = (double)ticks * ns_per_tick();
    return ns >= 1.8e19 ? UINT64_MAX : (uint64_t)ns;
}

uint64_t rgn__ns_to_ticks(uint64_t ns)
{
    if (!rgn__clock_tsc)
        return ns;
    double ticks = (double)ns / ns_per_tick();
    return ticks >= 1.8e19 ? UINT64_MAX : (uint64_t)ticks;
}

double rgn__tick_ns(void)
{
    return rgn__clock_tsc ? ns_per_tick() : 1.0;
}

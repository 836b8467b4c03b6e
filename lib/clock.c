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
 * a statistic reads them -- reports, rgn_get_stats, metrics -- by a rate
 * measured against CLOCK_MONOTONIC between load and the first conversion
 * (see ns_per_tick): no calibration loop at start.  Calls nothing of
 * rgn's.
 *
 * Floor 0: never sees a region (doc/HACKING, "Floors").
 */
#include "internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

bool rgn__clock_tsc;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__) && defined(__GNUC__)

/*
 * One instant on both clocks: a TSC reading bracketed by two monotonic
 * ones, placed halfway between them; `width` is how far apart they are,
 * the reading's uncertainty.  A thread descheduled between the readings
 * (by milliseconds) makes a wide bracket instead of a wrong instant, so
 * of several attempts the tightest is kept.
 */
struct pair {
    uint64_t mono, tsc, width;
};
enum {
    PAIR_TRIES = 8
};

/* tests/check_clock.c builds this with a deschedule, as long as it says,
 * between the readings of each pair's first attempt. */
#ifdef RGN_CLOCK_DESCHEDULE_NS
static void deschedule(int attempt)
{
    struct timespec d = {RGN_CLOCK_DESCHEDULE_NS / 1000000000,
                         RGN_CLOCK_DESCHEDULE_NS % 1000000000};
    if (attempt == 0)
        while (nanosleep(&d, &d) != 0)
            ;
}
#else
#define deschedule(attempt) ((void)0)
#endif

static struct pair read_pair(void)
{
    struct pair best = {0, 0, UINT64_MAX};
    for (int i = 0; i < PAIR_TRIES; i++) {
        uint64_t m1 = mono_ns();
        deschedule(i);
        uint64_t t = __builtin_ia32_rdtsc();
        uint64_t m2 = mono_ns();
        if (m2 - m1 < best.width)
            best = (struct pair){m1 + (m2 - m1) / 2, t, m2 - m1};
    }
    return best;
}

static struct pair at_load;

__attribute__((constructor)) static void choose_clock(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000007u &&
        __get_cpuid(0x80000007u, &a, &b, &c, &d) && (d & (1u << 8))) {
        at_load = read_pair();
        rgn__clock_tsc = true;
    }
}

/*
 * Nanoseconds per tick, measured once and kept: every conversion uses the
 * same rate, so that a sum of lifetimes written twice never goes down
 * (Prometheus would read a reset).  The rate is the monotonic span over
 * the TSC span between two pairs, the one taken at load and one taken at
 * the first conversion; its error is at most the sum of their widths over
 * the span.  So the span must be at least a millisecond and a thousand
 * times the widths (an error of 1e-3 at worst; a few tens of nanoseconds
 * of width make it about 1e-4): the first conversion in a process's first
 * millisecond waits for the rest of it.  A pair wider than WIDE_NS could
 * only have come from a deschedule in each of its attempts; the one from
 * load is then taken again, before the rate is first published, and
 * neither the wait nor the retries go on past MAX_WAIT_NS (a machine that
 * slow gets the best rate it measured).
 */
#define MIN_SPAN_NS 1000000u
#define WIDE_NS 100000u
#define MAX_WAIT_NS 200000000u

static _Atomic uint64_t rate_bits; /* the double's bits; 0: not measured */

static double measure(void)
{
    struct pair a = at_load;
    uint64_t began = mono_ns();
    for (;;) {
        bool late = mono_ns() - began > MAX_WAIT_NS;
        if (a.width > WIDE_NS && !late) {
            a = read_pair();
            continue;
        }
        struct pair z = read_pair();
        uint64_t span = z.mono - a.mono;
        uint64_t need = 1000 * (a.width + z.width);
        if (need < MIN_SPAN_NS)
            need = MIN_SPAN_NS;
        if (z.tsc > a.tsc && z.mono > a.mono && (span >= need || late))
            return (double)span / (double)(z.tsc - a.tsc);
        if (late && !(z.tsc > a.tsc && z.mono > a.mono))
            a = z; /* the TSC did not move on: measure from here */
    }
}

static double ns_per_tick(void)
{
    uint64_t bits = atomic_load_explicit(&rate_bits, memory_order_relaxed);
    double rate;
    if (bits) {
        memcpy(&rate, &bits, sizeof rate);
        return rate;
    }
    rate = measure();
    memcpy(&bits, &rate, sizeof bits);
    uint64_t none = 0; /* the first measurement wins */
    if (!atomic_compare_exchange_strong(&rate_bits, &none, bits))
        memcpy(&rate, &none, sizeof rate);
    return rate;
}

#else
static double ns_per_tick(void)
{
    return 1.0;
}
#endif

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

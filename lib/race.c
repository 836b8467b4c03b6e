/* SPDX-License-Identifier: MIT */
/*
 * race.c -- finding valgrind's race detectors, helgrind and DRD, and
 * telling them of rgn's hand-offs (race.h).  Both are found when the
 * library loads, through requests each answers and every other tool
 * leaves at its default: callgrind, memcheck and the rest run rgn as it
 * is, so that make bench-ir counts the paths programs run.  Without
 * <valgrind/helgrind.h> at build time neither is ever found.  Calls
 * nothing of rgn's.
 *
 * Floor 0: never sees a region (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <pthread.h>

#ifdef HAVE_VALGRIND_HELGRIND_H
#include <valgrind/helgrind.h>
#define RGN_VG_RACES 1
/* DRD's request for the calling thread's valgrind id: 0 under any other
 * tool.  Written from valgrind.h, not taken from drd.h, which defines
 * the same ANNOTATE_ macros as helgrind.h; its number is the first of
 * DRD's, fixed since programs built with old headers must keep working
 * (drd.h, VG_USERREQ__DRD_GET_VALGRIND_THREAD_ID). */
static unsigned drd_thread(void)
{
    return (unsigned)VALGRIND_DO_CLIENT_REQUEST_EXPR(
        0, VG_USERREQ_TOOL_BASE('D', 'R'), 0, 0, 0, 0, 0);
}
#endif

bool rgn__race_vg;
struct rgn_race_hooks rgn__race_hooks = {__tsan_acquire, __tsan_release};

#ifdef RGN_VG_RACES
static void vg_acquire(void *addr)
{
    ANNOTATE_HAPPENS_AFTER(addr);
}

static void vg_release(void *addr)
{
    ANNOTATE_HAPPENS_BEFORE(addr);
}
#endif

static pthread_once_t found = PTHREAD_ONCE_INIT;

static void find(void)
{
#ifdef RGN_VG_RACES
    if (RUNNING_ON_VALGRIND) {
        /* helgrind counts the byte addressable, DRD numbers threads
         * from 1; a tool that has neither request answers 0. */
        char probe = 0;
        bool helgrind = VALGRIND_HG_GET_ABITS(&probe, NULL, 1) == 1;
        bool drd = drd_thread() != 0;
        if (helgrind || drd) {
            rgn__race_hooks = (struct rgn_race_hooks){vg_acquire, vg_release};
            __atomic_store_n(&rgn__race_vg, true, __ATOMIC_RELAXED);
        }
    }
#endif
}

bool rgn__race_find(void)
{
    pthread_once(&found, find);
    return __atomic_load_n(&rgn__race_vg, __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void find_at_load(void)
{
    (void)rgn__race_find();
}

void rgn__race_vg_atomic(void *addr, size_t n, bool atomic)
{
#ifdef RGN_VG_RACES
    if (atomic)
        VALGRIND_HG_DISABLE_CHECKING(addr, n);
    else
        VALGRIND_HG_ENABLE_CHECKING(addr, n);
#else
    (void)addr;
    (void)n;
    (void)atomic;
#endif
}

/* SPDX-License-Identifier: MIT */
/*
 * fork.c -- keeping rgn whole across fork().
 *
 * fork() takes the sink, registry and digest locks and the allocator's
 * setting mutex first, in the lock order (audit.c), so the child gets them all free and the registry
 * whole.  In the child, region locks that threads of the parent held are
 * taken over (lock.c), and the regions the parent had are marked
 * inherited: they are the parent's to report, so neither the child's
 * exit report nor rgn_audit_report_open names them.  Regions the child
 * makes itself are reported at its exit as usual.
 *
 * Glue at the top: it calls sink.c, audit.c, report.c and lock.c, and
 * nothing calls it.
 *
 * Floor 2, above the core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <pthread.h>

static void fork_prepare(void)
{
    rgn__sink_enter();
    rgn__registry_lock();
    rgn__digest_hold(true);
    rgn__alloc_fork_prepare();
}

static void fork_parent(void)
{
    rgn__alloc_fork_release();
    rgn__digest_hold(false);
    rgn__registry_unlock();
    rgn__sink_leave();
}

/* The child's one thread is the one that took the locks in
 * fork_prepare: it lets them go, as the parent does. */
static void fork_child(void)
{
    rgn__lock_after_fork();
    rgn__alloc_fork_release();
    rgn__digest_forget();
    rgn__digest_hold(false);
    rgn__registry_forked();
    rgn__report_forked();
    rgn__registry_unlock();
    rgn__sink_leave();
}

__attribute__((constructor)) static void install_fork_handlers(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

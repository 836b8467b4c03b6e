/* SPDX-License-Identifier: MIT */
/*
 * ready.h -- what the ready-made resources of ready.c tell the rest of
 * lib/: which of their cleanups free a record of rgn's, for
 * rgn_forget_for_exec (exec.c), which frees rgn's own memory and runs
 * no cleanup.
 */
#ifndef RGN_READY_H
#define RGN_READY_H

#include "base.h"

/* What stands in for a ready-made resource's cleanup in a forked child
 * forgetting its regions: the record the cleanup would free, freed, and
 * nothing of the parent's touched (its descriptors are close-on-exec;
 * its files, directories and processes are the parent's).  NULL for a
 * cleanup that is not one of ready.c's with a record. */
typedef void rgn_forget_fn(void *resource);
RGN_HIDDEN rgn_forget_fn *rgn__ready_forget(rgn_cleanup_fn fn);

#endif /* RGN_READY_H */

/* SPDX-License-Identifier: MIT */
/*
 * report.h -- what report.c gives the other readers: the digest of leaks
 * at close, which rgn_audit_mark, rgn_audit_since and the fork handlers
 * need too.  The reports themselves are reached through hooks.h and the
 * public calls.
 */
#ifndef RGN_REPORT_H
#define RGN_REPORT_H

#include "base.h"
#include "sink.h"

/* Writes every leak counted at closes and not yet printed to rep; with
 * restart, the next close of each site prints at once again. */
RGN_HIDDEN void rgn__digest_flush(struct rgn_report *rep, bool restart);
/* fork: the digest's lock is held across it (fork.c); the child forgets
 * the parent's counts, which are the parent's to print. */
RGN_HIDDEN void rgn__digest_hold(bool hold);
RGN_HIDDEN void rgn__digest_forget(void);
/* In a forked child: the exit report is the child's own from now on. */
RGN_HIDDEN void rgn__report_forked(void);

#endif /* RGN_REPORT_H */

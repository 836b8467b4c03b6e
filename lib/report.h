/* SPDX-License-Identifier: MIT */
/*
 * report.h -- what report.c gives the other readers: the digest of leaks
 * at close, which rgn_audit_mark, rgn_audit_since and the fork handlers
 * need too; and the functions of the floor above the core that new.c
 * puts in the core's table (above.h).  The reports themselves are
 * reached through that table and the public calls.
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

/* The entries of the core's table of what it asks above (above.h says
 * what each does), which new.c installs. */
RGN_HIDDEN void rgn__two_threads(rgn_t *r, const struct rgn_site *other);
RGN_HIDDEN int rgn__closed_use_slow(rgn_t *r, const char *call,
                                    const struct rgn_site *site, int rc);
RGN_HIDDEN bool rgn__report_close(rgn_t *r, rgn_release_type how,
                                  struct rgn_report *rep);
RGN_HIDDEN void rgn__audit_look(rgn_t *r, uint64_t now);
RGN_HIDDEN void rgn__audit_limit_warning(rgn_t *r);
RGN_HIDDEN void rgn__metrics_retire(rgn_t *r);
RGN_HIDDEN void rgn__report_arm_exit(void);

#endif /* RGN_REPORT_H */

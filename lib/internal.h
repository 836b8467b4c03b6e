/* SPDX-License-Identifier: MIT */
/*
 * internal.h -- every private header of lib/, in dependency order: a file
 * of lib/ includes this, or, to say how little it needs, the headers
 * themselves.  Each compiles on its own; none includes one listed after
 * it.  doc/HACKING has the module map.
 */
#ifndef RGN_INTERNAL_H
#define RGN_INTERNAL_H

#include "base.h"     /* config.h, rgn.h, RGN_HIDDEN, RGN_ASSERT */
#include "error.h"    /* the last failure's origin; errno, found once */
#include "alloc.h"    /* the process-wide allocator */
#include "tools.h"    /* ASan, memcheck, RGN_ARENA_FILL: found at load */
#include "clock.h"    /* the audit's clock */
#include "race.h"     /* ThreadSanitizer, helgrind, DRD: told of hand-offs */
#include "lock.h"     /* the futex lock and the biased lock */
#include "map.h"      /* the slot map */
#include "sketch.h"   /* the quantile sketch */
#include "tally.h"    /* per-site tallies */
#include "sink.h"     /* where reports go, and reports queued */
#include "above.h"    /* what the core asks of the floors above */
#include "region.h"   /* struct rgn, its lock, close, child regions */
#include "cause.h"    /* the causes of error closes */
#include "resource.h" /* registration, keys, blocks, arena, counters */
#include "own.h"      /* rgn's own kinds: child regions, blocks */
#include "audit.h"    /* tracking: records, limits, the registry */
#include "index.h"    /* resources by value */
#include "group.h"    /* the text of reports */
#include "hooks.h"    /* how region calls reach the audit */
#include "report.h"   /* the leak digest */
#include "snapshot.h" /* every audited region by site, for profiles */
#include "ready.h"    /* the ready-made resources' records */

#endif /* RGN_INTERNAL_H */

/* SPDX-License-Identifier: MIT */
/* suites.h -- one Check suite per concept of lib/. */
#ifndef RGN_TEST_SUITES_H
#define RGN_TEST_SUITES_H

#include <check.h>

Suite *map_suite(void);      /* keys, slots, growth: lib/map.c */
Suite *region_suite(void);   /* lifecycle, LIFO, children: lib/region.c,
                                lib/child.c */
Suite *resource_suite(void); /* register..move: lib/resource.c, plain.c */
Suite *share_suite(void);    /* threads, references: lib/share.c */
Suite *threads_suite(void);  /* readers, cancellation, fork, the lock
                                order: lib/lock.c, share.c, report.c */
Suite *audit_suite(void);    /* the leak audit: lib/audit.c, report.c,
                                sink.c, group.c, misuse.c */
Suite *watch_suite(void);    /* held and growing: lib/watch.c */
Suite *profile_suite(void); /* profiles: lib/profile.c, snapshot.c */
Suite *kind_suite(void);    /* kinds, priorities: lib/kind.c */
Suite *cause_suite(void);   /* close causes: lib/cause.c */
Suite *index_suite(void);   /* find and release by value: lib/index.c */
Suite *since_suite(void);    /* checkpoints, intent, sites: lib/since.c,
                                site.c, plain.c */
Suite *stats_suite(void);    /* counters: lib/stats.c */
Suite *lifetime_suite(void); /* lifetimes of releases: lib/tally.c,
                                audit.c */
Suite *metrics_suite(void);  /* Prometheus text: lib/metrics.c */
Suite *convenience_suite(void); /* scopes, memory, fds: lib/convenience.c */
Suite *ready_suite(void);    /* exec safety, ready-made resources:
                                lib/ready.c, lib/exec.c */
Suite *arena_suite(void);    /* arena, clear, realloc: lib/arena.c */
Suite *alloc_suite(void);    /* the allocator: lib/alloc.c */
Suite *error_suite(void);    /* rgn_strerror: lib/error.c */

#endif

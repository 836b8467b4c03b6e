/* SPDX-License-Identifier: MIT */
/* check_rgn.c -- runs every suite; exit status 0 only if all pass. */
#include "helpers.h"
#include "suites.h"

#include <stdlib.h>

int main(void)
{
    return run_suites(map_suite(), region_suite(), resource_suite(),
                      share_suite(), threads_suite(), audit_suite(),
                      watch_suite(), since_suite(), profile_suite(), kind_suite(),
                      cause_suite(), index_suite(),
                      stats_suite(), lifetime_suite(), metrics_suite(),
                      convenience_suite(), ready_suite(), arena_suite(), alloc_suite(),
                      error_suite(), NULL);
}

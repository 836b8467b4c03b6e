/* SPDX-License-Identifier: MIT */
/*
 * metrics.c -- a region's statistics as a Prometheus scrape would see
 * them.
 *
 * A "jobs" region, audited, takes a buffer per request: most requests
 * release theirs at once, one in ten holds it for a while (a partially
 * read response, say).  rgn measures how long each buffer lived; the
 * scrape shows the counters and the lifetime summary, where the held
 * ones stand out in the high quantiles.  Serve the same text from an
 * HTTP handler with rgn_metrics_write(stream).
 */
#include <rgn.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void)
{
    rgn_t *jobs = rgn_new();
    if (!jobs || rgn_set_name(jobs, "jobs") != 0 ||
        rgn_audit_set(jobs, RGN_AUDIT_REPORT) != 0)
        return 1;

    enum { REQUESTS = 200 };
    void *held[REQUESTS / 10];
    int nheld = 0;
    for (int i = 0; i < REQUESTS; i++) {
        void *body = rgn_malloc(jobs, 4096);
        if (!body)
            return 1;
        if (i % 10 == 0)
            held[nheld++] = body; /* read later, or never */
        else
            rgn_free(jobs, body); /* read to the end: released at once */
    }
    sleep_ms(50);
    for (int i = 0; i < nheld / 2; i++)
        rgn_free(jobs, held[i]); /* half of the held ones, late */
    for (int i = nheld / 2; i < nheld; i++)
        rgn_expect_close(jobs, rgn_mem_key(held[i])); /* the rest: close */

    int rc = rgn_metrics_write(stdout);
    rgn_close(jobs);
    return rc == 1 ? 0 : 1;
}

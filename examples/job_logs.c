/* SPDX-License-Identifier: MIT */
/*
 * job_logs.c -- the worker loop whose jobs each left a descriptor behind.
 *
 * A pool of workers shares one region that lives as long as the process
 * and serves jobs in an endless loop.  Each job opens its log in that
 * region and never closes it: nobody releases the descriptors, nothing
 * ever closes the region, so no leak report at a close will ever come,
 * and a held report needs releases to judge a site by.  In production it
 * showed only as a process whose descriptor count grew until open()
 * failed.
 *
 *   RGN_AUDIT=report ./job_logs           told while it runs, no limit set
 *   RGN_AUDIT=report ./job_logs --fixed   silence
 *
 * With the audit on, the site that keeps growing is reported about a
 * second after the pool starts, and again each time its count doubles
 * ("rgn: growing:"), long before anything runs out.  The fix gives every
 * job a region of its own, a child of the pool's, closed when the job
 * ends: its log goes with it.
 */
#include <rgn.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 2
#define JOBS 780 /* the demo's run, about 2.5 s; the real pool ran weeks */
#define JOB_MS 6 /* a job every 6 ms per worker: about 300 a second */

static rgn_t *pool_region; /* lives as long as the process */
static int fixed;
static atomic_int next_job;

static void nap(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* One job: a buffer it frees when done, and a log it opens in r, writes
 * to -- and never closes. */
static int run_job(rgn_t *r, int job)
{
    char *line = rgn_malloc(r, 4096);
    if (!line)
        return -1;
    int fd = rgn_open(r, "/dev/null", O_WRONLY | O_APPEND, 0, NULL); /* LEAK-SITE */
    int rc = -1;
    if (fd >= 0) {
        int n = snprintf(line, 4096, "job %d done\n", job);
        rc = write(fd, line, (size_t)n) == n ? 0 : -1;
    }
    rgn_free(r, line);
    return rc;
}

static int close_connection(void *conn, rgn_release_type how)
{
    (void)how;
    free(conn);
    return 0;
}

static int worker(rgn_t *pool, void *arg)
{
    (void)arg;
    /* Each worker's connection to the job queue: one per worker, given
     * back when the worker stops -- a site that holds still. */
    rgn_key_t conn;
    void *c = malloc(64);
    if (!c || rgn_register_labeled(pool, close_connection, c, &conn,
                                   "queue connection") != 0)
        return -1;
    for (int job; (job = atomic_fetch_add(&next_job, 1)) < JOBS;) {
        if (!fixed) {
            run_job(pool, job); /* the bug: the log goes into the pool */
        } else {
            rgn_t *job_region = rgn_new_child(pool);
            if (job_region) {
                run_job(job_region, job);
                rgn_close(job_region); /* the log goes with the job */
            }
        }
        nap(JOB_MS);
    }
    return rgn_release(pool, conn);
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    pool_region = rgn_new();
    if (!pool_region)
        return 1;
    rgn_set_name(pool_region, "job-pool");
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        if (rgn_thread_create(&t[i], NULL, pool_region, worker, NULL) != 0)
            return 1;
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    printf("job_logs%s: %d jobs; the pool region holds %zu descriptors\n",
           fixed ? " --fixed" : "", JOBS, rgn_live(pool_region));
    fflush(stdout);
    return 0; /* the pool's region lives on until the exit */
}

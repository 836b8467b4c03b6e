/* SPDX-License-Identifier: MIT */
/*
 * worker_pool.c -- the worker pool whose global region grew for ever.
 *
 * A pool of workers shared one global region and served jobs in an
 * endless loop.  Each job registered what it used in that region: a
 * buffer it released when done, and a scratch file it forgot.  The region
 * was never going to close -- the workers never stop -- so every forgotten
 * scratch file stayed open until the process died, and each close and
 * collection walked an ever longer list.
 *
 *   RGN_AUDIT=report ./worker_pool           the leak, and where it is
 *   RGN_AUDIT=report ./worker_pool --fixed   silence
 *
 * Nothing ever closes the global region, so no close reports anything;
 * the audit catches it with the live-count limit while the pool runs, and
 * at process exit with the list of what the region still holds.  The fix
 * gives every job its own region, a child of the global one, closed when
 * the job ends, and says that this close is how the scratch file goes
 * (rgn_expect_close): nothing outlives its job, and nothing is reported.
 */
#include <rgn.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS 4
#define JOBS 2000

static rgn_t *pool_region; /* lives as long as the process */
static int fixed;

/* The job queue: a counter of jobs not yet taken, and of jobs done. */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static int jobs_waiting = JOBS, jobs_done;

static int free_buffer(void *p, rgn_release_type how)
{
    (void)how;
    free(p);
    return 0;
}

static int close_scratch(void *p, rgn_release_type how)
{
    (void)how;
    free(p); /* a real pool would close and unlink a temporary file */
    return 0;
}

/* One job: uses a buffer and a scratch file, both registered in r. */
static int run_job(rgn_t *r, int job)
{
    rgn_key_t buf_key, scratch_key;
    char *buf = malloc(256);
    if (!buf || rgn_register_labeled(r, free_buffer, buf, &buf_key, "buffer") != 0)
        return -1;
    char *scratch = malloc(64);
    if (!scratch)
        return -1;
    if (rgn_register_labeled(r, close_scratch, scratch, &scratch_key, "scratch file") != 0) /* LEAK-SITE */
        return -1;
    if (fixed) {
        /* r is this job's own region: its close is what removes the
         * scratch file, on purpose, so the audit need not mention it. */
        rgn_expect_close(r, scratch_key);
    }
    snprintf(scratch, 64, "/tmp/job-%d", job);
    snprintf(buf, 256, "result of job %d", job);
    /* The job gives its buffer back -- and forgets the scratch file. */
    return rgn_release(r, buf_key);
}

static int take_job(void)
{
    pthread_mutex_lock(&queue_lock);
    while (jobs_waiting == 0) /* the pool idles: it never stops */
        pthread_cond_wait(&queue_cond, &queue_lock);
    int job = jobs_waiting--;
    pthread_mutex_unlock(&queue_lock);
    return job;
}

static void job_done(void)
{
    pthread_mutex_lock(&queue_lock);
    jobs_done++;
    pthread_cond_broadcast(&queue_cond);
    pthread_mutex_unlock(&queue_lock);
}

static int worker(rgn_t *global, void *arg)
{
    (void)arg;
    for (;;) {
        int job = take_job();
        if (!fixed) {
            run_job(global, job); /* the bug: everything in the global region */
        } else {
            rgn_t *job_region = rgn_new_child(global);
            if (job_region) {
                run_job(job_region, job);
                rgn_close(job_region); /* whatever the job forgot goes */
            }
        }
        job_done();
    }
    return 0;
}

int main(int argc, char **argv)
{
    fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    pool_region = rgn_new();
    if (!pool_region)
        return 1;
    rgn_set_name(pool_region, "worker-pool");
    rgn_audit_limit(pool_region, 500); /* a few per worker is normal */

    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        if (rgn_thread_create(&t[i], NULL, pool_region, worker, NULL) != 0)
            return 1;

    /* Wait until every job has been served; the workers then idle on. */
    pthread_mutex_lock(&queue_lock);
    while (jobs_done < JOBS)
        pthread_cond_wait(&queue_cond, &queue_lock);
    pthread_mutex_unlock(&queue_lock);
    printf("worker_pool%s: %d workers served %d jobs; the global region "
           "holds %zu resources\n", fixed ? " --fixed" : "", WORKERS, JOBS,
           rgn_live(pool_region));
    fflush(stdout);
    return 0; /* the workers and their region live on until the exit */
}

/* SPDX-License-Identifier: MIT */
/*
 * bench.h -- the table every implementation is driven through, so that
 * rgn, the in-file baseline and the peers pay the same call overhead.
 */
#ifndef RGN_BENCH_H
#define RGN_BENCH_H

#include <rgn.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- timing, for every benchmark program ------------------------------ */

static inline double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n), which it sorts. */
static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* fn(arg) in a fresh process, so that each round starts from a heap of
 * its own: what it returned, or NAN when the child failed. */
static inline double bench_in_child(double (*fn)(const void *arg),
                                    const void *arg)
{
    int fd[2];
    if (pipe(fd) != 0)
        return NAN;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        double v = fn(arg);
        ssize_t w = write(fd[1], &v, sizeof v);
        _exit(w == (ssize_t)sizeof v ? 0 : 1);
    }
    close(fd[1]);
    double v = NAN;
    if (pid < 0 || read(fd[0], &v, sizeof v) != (ssize_t)sizeof v)
        v = NAN;
    close(fd[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return v;
}

/* Whatever an implementation needs to release one resource again. */
typedef union bench_handle {
    rgn_key_t key;
    uint64_t u;
    void *p;
} bench_handle;

/* Memory for a scope's lifetime: the arena cases. */
struct bench_arena {
    void *(*create)(void);
    void *(*alloc)(void *scope, size_t size);
    void (*close)(void *scope);
    /* Empties the scope for reuse, or NULL when the peer cannot. */
    void (*clear)(void *scope);
};

struct bench_impl {
    const char *name;
    /* Optional: prepares the process (called once, in the child). */
    void (*init)(void);
    void *(*create)(void);
    bench_handle (*add)(void *scope, void *resource);
    void (*release)(void *scope, bench_handle h);
    void (*close)(void *scope);
    /* Another thread's handle on scope (dropped with close), or NULL when
     * the implementation cannot be shared between threads. */
    void *(*share)(void *scope);
    /* Bytes the implementation holds for n live resources, or 0. */
    double (*bytes_per_live)(size_t n);
    /* Why the implementation is not in this build, or NULL. */
    const char *skipped;
    /* The arena cases, or NULL when the implementation has no arena. */
    const struct bench_arena *arena;
};

/* The cleanup every implementation runs: counts, so nothing is elided. */
extern volatile uint64_t bench_cleaned;

extern const struct bench_impl bench_rgn;
extern const struct bench_impl bench_baseline;
extern const struct bench_impl bench_floor;
extern const struct bench_impl bench_mutex;
extern const struct bench_impl bench_rgn_audit;
extern const struct bench_impl bench_rgn_sample;
extern const struct bench_impl bench_talloc;
extern const struct bench_impl bench_apr;
extern const struct bench_impl bench_talloc_pool;

#endif

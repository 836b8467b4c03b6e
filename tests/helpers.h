/* SPDX-License-Identifier: MIT */
/* helpers.h -- probes shared by the Check suites. */
#ifndef RGN_TEST_HELPERS_H
#define RGN_TEST_HELPERS_H

#include <check.h>
#include <rgn.h>
#include <rgn_check.h>

/*
 * A probe is a resource whose cleanup records that it ran: how many times,
 * with which release type, and at which position in the global run log.
 * Its cleanup returns probe->ret.
 */
struct probe {
    int id;
    int ret;
    int runs;
    rgn_release_type how;
};

#define LOG_MAX 4096
extern int run_log[LOG_MAX];   /* probe ids in the order their cleanups ran */
extern int run_count;

void log_reset(void);

/* The main of every Check program here: runs the NULL-terminated suites
 * in one runner and returns the exit status (0 when all passed). */
int run_suites(Suite *first, ...);
/* An allocator (malloc, realloc, free) that fails every allocation once
 * tight_budget allocations have been made; each one made counts it down. */
extern long tight_budget;
extern const rgn_allocator tight_allocator;

/* Sleeps ms milliseconds, signals or not. */
void sleep_ms(unsigned ms);
/* A cleanup that does nothing and succeeds. */
int noop_cleanup(void *resource, rgn_release_type how);
void probe_init(struct probe *p, int id);
int probe_cleanup(void *probe, rgn_release_type how);
/* ck_asserts that the run log is exactly ids[0..n-1]. */
void assert_log(const int *ids, int n);
#define ASSERT_LOG(...)                                                   \
    do {                                                                  \
        const int want_[] = {__VA_ARGS__};                                \
        assert_log(want_, (int)(sizeof want_ / sizeof want_[0]));         \
    } while (0)

/*
 * Runs fn in a fresh child process and returns its exit status (0 = every
 * CHILD_REQUIRE held).  For tests that need a process with no region yet
 * (rgn_set_allocator) or that abort, whatever Check's fork mode is.
 */
int in_child(void (*fn)(void));
#define CHILD_REQUIRE(cond)                                               \
    do {                                                                  \
        if (!(cond))                                                      \
            child_fail(__FILE__, __LINE__, #cond);                        \
    } while (0)
void child_fail(const char *file, int line, const char *what)
    __attribute__((noreturn));

/* Number of lines of text that start with prefix and contain every one of
 * the NULL-terminated further strings. */
int count_lines(const char *text, const char *prefix, ...);

/* What a sink captured (rgn_ck_buf_sink), for tests reading reports. */
struct capture {
    struct rgn_ck_buf b;
    char text[65536];
};
/* Empties c and returns the argument for rgn_ck_buf_sink. */
struct rgn_ck_buf *capturing(struct capture *c);
/* Lines c holds. */
int lines_in(const struct capture *c);

/* A new region with the audit on (RGN_AUDIT_REPORT), named name unless
 * it is NULL.  Inline: the suites built without librgn never link it. */
static inline rgn_t *audited_region(const char *name)
{
    rgn_t *r = rgn_new();
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    if (name)
        ck_assert_int_eq(rgn_set_name(r, name), 0);
    return r;
}

#endif

/* SPDX-License-Identifier: MIT */
#include "helpers.h"

#include <stdarg.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int run_log[LOG_MAX];
int run_count;

long tight_budget;

static void *tight_malloc(size_t n)
{
    return tight_budget-- > 0 ? malloc(n) : NULL;
}

static void *tight_realloc(void *p, size_t n)
{
    return tight_budget-- > 0 ? realloc(p, n) : NULL;
}

const rgn_allocator tight_allocator = {tight_malloc, tight_realloc, free};

void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

void log_reset(void)
{
    run_count = 0;
}

void probe_init(struct probe *p, int id)
{
    p->id = id;
    p->ret = 0;
    p->runs = 0;
    p->how = (rgn_release_type)-1;
}

int probe_cleanup(void *probe, rgn_release_type how)
{
    struct probe *p = probe;
    p->runs++;
    p->how = how;
    if (run_count < LOG_MAX)
        run_log[run_count++] = p->id;
    return p->ret;
}

void assert_log(const int *ids, int n)
{
    char got[512] = "", want[512] = "";
    size_t g = 0, w = 0;
    for (int i = 0; i < run_count && g < sizeof got - 16; i++)
        g += (size_t)snprintf(got + g, sizeof got - g, " %d", run_log[i]);
    for (int i = 0; i < n && w < sizeof want - 16; i++)
        w += (size_t)snprintf(want + w, sizeof want - w, " %d", ids[i]);
    ck_assert_msg(run_count == n, "cleanups ran [%s ], expected [%s ]", got,
                  want);
    for (int i = 0; i < n; i++)
        ck_assert_msg(run_log[i] == ids[i], "cleanups ran [%s ], expected [%s ]",
                      got, want);
}

void child_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: child check failed: %s\n", file, line, what);
    fflush(stderr);
    _exit(99);
}

int in_child(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

int noop_cleanup(void *resource, rgn_release_type how)
{
    (void)resource;
    (void)how;
    return 0;
}

int run_suites(Suite *first, ...)
{
    SRunner *sr = srunner_create(first);
    va_list ap;
    va_start(ap, first);
    for (Suite *s; (s = va_arg(ap, Suite *)) != NULL;)
        srunner_add_suite(sr, s);
    va_end(ap);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Number of lines of text that start with prefix and contain every one of
 * the NULL-terminated further strings. */
int count_lines(const char *text, const char *prefix, ...)
{
    int n = 0;
    for (const char *l = text; *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)len, l);
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            int all = 1;
            va_list ap;
            va_start(ap, prefix);
            for (const char *s; (s = va_arg(ap, const char *));)
                all = all && strstr(line, s) != NULL;
            va_end(ap);
            n += all;
        }
        l += len + (end != NULL);
    }
    return n;
}


/* Empties c and returns the argument for rgn_ck_buf_sink. */
struct rgn_ck_buf *capturing(struct capture *c)
{
    c->b = (struct rgn_ck_buf){c->text, sizeof c->text, 0};
    c->text[0] = '\0';
    return &c->b;
}

int lines_in(const struct capture *c)
{
    int n = 0;
    for (const char *p = c->text; (p = strchr(p, '\n')) != NULL; p++)
        n++;
    return n;
}


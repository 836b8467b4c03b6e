/* SPDX-License-Identifier: MIT */
/*
 * sink.c -- where the audit's text goes: the installed sink (or stderr,
 * a line at a time), its lock, and the report buffers that reports are
 * made in under locks and written from after.  It owns the sink's lock,
 * the outermost of all (audit.c states the order), and calls nothing of
 * rgn's but the allocator; the sink it calls is user code, and runs with
 * no region or registry lock held.
 *
 * Floor 0: never sees a region (doc/HACKING, "Floors").
 */
#include "alloc.h"
#include "sink.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

/* ---- the sink ----------------------------------------------------------- */

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread unsigned sink_depth; /* this thread holds sink_lock */
static rgn_audit_sink sink_fn;
static void *sink_arg;

void rgn__sink_enter(void)
{
    if (sink_depth++ == 0)
        pthread_mutex_lock(&sink_lock);
}

void rgn__sink_leave(void)
{
    if (--sink_depth == 0)
        pthread_mutex_unlock(&sink_lock);
}

void rgn_audit_set_sink(rgn_audit_sink sink, void *arg)
{
    rgn__sink_enter();
    sink_fn = sink;
    sink_arg = arg;
    rgn__sink_leave();
}

void rgn_audit_get_sink(rgn_audit_sink *sink, void **arg)
{
    rgn__sink_enter();
    if (sink)
        *sink = sink_fn;
    if (arg)
        *arg = sink_arg;
    rgn__sink_leave();
}

/* ---- reports: made under locks, written after -------------------------- */

void rgn__report_init(struct rgn_report *rep)
{
    rep->text = rep->stack;
    rep->len = 0;
    rep->cap = sizeof rep->stack;
    rep->cut = false;
}

/* Room for n more bytes; false (and the report marked cut) when memory
 * ran out. */
static bool report_room(struct rgn_report *rep, size_t n)
{
    if (rep->len + n <= rep->cap)
        return true;
    size_t cap = rep->cap;
    while (cap < rep->len + n)
        cap *= 2;
    char *t = rep->text == rep->stack ? rgn__malloc(cap)
                                      : rgn__realloc(rep->text, cap);
    if (!t) {
        rep->cut = true;
        return false;
    }
    if (rep->text == rep->stack)
        memcpy(t, rep->stack, rep->len);
    rep->text = t;
    rep->cap = cap;
    return true;
}

static void report_vline(struct rgn_report *rep, const char *fmt, va_list ap)
{
    char line[512];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    size_t len = n < 0                     ? 0
                 : (size_t)n < sizeof line ? (size_t)n
                                           : sizeof line - 1;
    if (rep->cut || !report_room(rep, len + 1))
        return;
    memcpy(rep->text + rep->len, line, len);
    rep->text[rep->len + len] = '\n';
    rep->len += len + 1;
}

void rgn__report_line(struct rgn_report *rep, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_vline(rep, fmt, ap);
    va_end(ap);
}

void rgn__report_free(struct rgn_report *rep)
{
    if (rep->text != rep->stack)
        rgn__free(rep->text);
    rgn__report_init(rep);
}

static void write_line(rgn_audit_sink fn, void *arg, const char *line)
{
    if (fn) {
        fn(line, arg);
    } else {
        fprintf(stderr, "%s\n", line);
        fflush(stderr);
    }
}

void rgn__report_print(struct rgn_report *rep, rgn_audit_sink sink, void *arg)
{
    if (rep->len == 0 && !rep->cut)
        return;
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    int saved = errno;
    bool installed = sink == NULL;
    if (installed) {
        rgn__sink_enter();
        sink = sink_fn;
        arg = sink_arg;
    }
    char *text = rep->text;
    size_t len = rep->len;
    for (size_t at = 0; at < len;) {
        char *nl = memchr(text + at, '\n', len - at);
        *nl = '\0';
        write_line(sink, arg, text + at);
        at = (size_t)(nl - text) + 1;
    }
    if (rep->cut)
        write_line(sink, arg, "rgn: audit: report cut short: out of memory");
    if (installed)
        rgn__sink_leave();
    rgn__report_free(rep);
    errno = saved;
    pthread_setcancelstate(state, NULL);
}

/* One line to the installed sink, outside any report. */
void rgn__emit(const char *fmt, ...)
{
    struct rgn_report rep;
    rgn__report_init(&rep);
    va_list ap;
    va_start(ap, fmt);
    report_vline(&rep, fmt, ap);
    va_end(ap);
    rgn__report_print(&rep, NULL, NULL);
}

/* ---- reports queued under a lock -------------------------------------- */

struct rgn_deferred {
    struct rgn_deferred *next;
    struct rgn_report rep;
    bool abort_after; /* RGN_AUDIT=abort: abort once it is written */
};

__thread struct rgn_deferred *rgn__deferred
    __attribute__((tls_model("initial-exec")));

struct rgn_report *rgn__defer(bool abort_after)
{
    struct rgn_deferred *d = rgn__malloc(sizeof *d);
    if (!d)
        return NULL;
    rgn__report_init(&d->rep);
    d->abort_after = abort_after;
    d->next = NULL;
    struct rgn_deferred **tail = &rgn__deferred;
    while (*tail)
        tail = &(*tail)->next;
    *tail = d;
    return &d->rep;
}

bool rgn__deferred_write(void)
{
    bool abort_now = false;
    struct rgn_deferred *d;
    while ((d = rgn__deferred) != NULL) {
        rgn__deferred = d->next;
        rgn__report_print(&d->rep, NULL, NULL);
        abort_now |= d->abort_after;
        rgn__free(d);
    }
    return abort_now;
}

/* s between double quotes, with quotes, backslashes and every byte that
 * is not printable ASCII escaped, so that no name or label can forge a
 * line of a report or break a reader of it. */
void rgn__fmt_quoted(char *buf, size_t n, const char *s)
{
    size_t k = 0;
    buf[k++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (k + 6 >= n)
            break;
        if (*p == '"' || *p == '\\') {
            buf[k++] = '\\';
            buf[k++] = (char)*p;
        } else if (*p < 0x20 || *p > 0x7e) {
            k += (size_t)snprintf(buf + k, n - k, "\\x%02x", *p);
        } else {
            buf[k++] = (char)*p;
        }
    }
    buf[k++] = '"';
    buf[k] = '\0';
}

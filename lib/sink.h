/* SPDX-License-Identifier: MIT */
/*
 * sink.h -- where the audit's text goes (sink.c): the installed sink (or
 * stderr), and report buffers that are filled under locks and written
 * after them.  It calls nothing of rgn's but the allocator.
 */
#ifndef RGN_SINK_H
#define RGN_SINK_H

#include "base.h"

#include <stdarg.h>

/* Reports made under locks and written after: a fixed buffer that grows
 * on the heap, lines separated by newlines. */
struct rgn_report {
    char *text;
    size_t len, cap;
    bool cut; /* memory ran out: lines were lost */
    char stack[1024];
};
RGN_HIDDEN void rgn__report_init(struct rgn_report *rep);
/* Appends one line, printf-style (a newline is added). */
RGN_HIDDEN void rgn__report_line(struct rgn_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Frees rep unwritten. */
RGN_HIDDEN void rgn__report_free(struct rgn_report *rep);
/* Writes rep to sink (NULL: the installed one) and frees it.  Call it
 * holding no region lock and no registry lock. */
RGN_HIDDEN void rgn__report_print(struct rgn_report *rep, rgn_audit_sink sink,
                                  void *arg);
/* Writes s to buf as a quoted C string, cut to fit n. */
RGN_HIDDEN void rgn__fmt_quoted(char *buf, size_t n, const char *s);
/* Writes one line to the installed sink at once; holding no lock. */
RGN_HIDDEN void rgn__emit(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Reports this thread made under a lock, not yet written. */
struct rgn_deferred;
RGN_HIDDEN extern __thread struct rgn_deferred *rgn__deferred
    __attribute__((tls_model("initial-exec")));
/* A report to fill now, under a lock, and to write at the thread's next
 * rgn__deferred_write, in the order made; NULL when memory ran out (the
 * report is lost, not what set it off).  abort_after: the program is to
 * abort once it is written. */
RGN_HIDDEN struct rgn_report *rgn__defer(bool abort_after);
/* Writes every report the thread queued, holding no lock; true when one
 * of them asked to abort. */
RGN_HIDDEN bool rgn__deferred_write(void);

/* The sink's lock, outermost of all (audit.c says the order); reentrant
 * in its thread, so a sink that reports again does not deadlock.  Fork
 * takes it (report.c). */
RGN_HIDDEN void rgn__sink_enter(void);
RGN_HIDDEN void rgn__sink_leave(void);

#endif /* RGN_SINK_H */

/* SPDX-License-Identifier: MIT */
/*
 * cause.c -- the causes of error closes: rgn_close_cause, rgn_cause, the
 * frames a close runs in (cause.h says how they stack), and the causes
 * of rgn_thread_create's thread and rgn_with's scope.
 *
 * Floor 1.  Owns this thread's rgn__causes.  May call: the allocator,
 * region.c (rgn_close_error and dropping references); it is called by
 * region.c's close and clear, share.c and convenience.c.
 */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

__thread struct rgn_causes rgn__causes
    __attribute__((tls_model("initial-exec")));

/* text copied with rgn's allocator, or NULL (none, or out of memory). */
static char *copy_text(const char *text)
{
    if (!text)
        return NULL;
    size_t n = strlen(text) + 1;
    char *copy = rgn__malloc(n);
    if (copy)
        memcpy(copy, text, n);
    return copy;
}

bool rgn__cause_wanted_slow(rgn_t *r)
{
    struct rgn_causes *c = &rgn__causes;
    if (c->entering == r) { /* rgn__cause_close's own call */
        c->entering = NULL;
        return false;
    }
    return true;
}

/* A frame is done: also when the thread unwinds from its close, after
 * region.c has finished the close (finish_cancelled_close, a handler
 * pushed after this one, runs before it). */
static void leave(void *arg)
{
    struct rgn_cause_frame *f = arg;
    rgn__causes.top = f->up;
    rgn__causes.entering = NULL;
    rgn__free(f->copy);
}

static void push(struct rgn_cause_frame *f, rgn_t *r)
{
    struct rgn_causes *c = &rgn__causes;
    *f = (struct rgn_cause_frame){
        .r = r, .mark = rgn__run_state.frames, .up = c->top};
    c->top = f;
}

int rgn__cause_close(rgn_t *r, rgn_release_type how,
                     int (*close)(rgn_t *r, rgn_release_type how))
{
    struct rgn_cause_frame *p = rgn__causes.top, f;
    push(&f, r);
    if (p && p->pending && p->r == r) { /* the drop that began this close */
        p->r = NULL;                    /* taken */
        f.has = true;
        f.cause.code = p->cause.code;
        /* Out of memory, the code alone. */
        f.cause.text = f.copy = copy_text(p->cause.text);
    }
    /* Else no cause (f.has false): a close inside a cleanup of one that
     * has a cause, which its cleanups must not see. */
    rgn__causes.entering = r;
    int rc;
    pthread_cleanup_push(leave, &f);
    rc = close(r, how);
    pthread_cleanup_pop(1);
    return rc;
}

int rgn__cause_clear(rgn_t *r, int (*clear)(rgn_t *r))
{
    struct rgn_cause_frame f;
    push(&f, r);
    rgn__causes.entering = r;
    int rc;
    pthread_cleanup_push(leave, &f);
    rc = clear(r);
    pthread_cleanup_pop(1);
    return rc;
}

const struct rgn_cause *rgn_cause(void)
{
    const struct rgn_cause_frame *f = rgn__causes.top;
    /* A cleanup run by rgn_release, or given back by a refused
     * registration, pushed a frame of region.h's since: not the close's.
     * A pending frame is no close's yet. */
    if (!f || !f->has || f->mark != rgn__run_state.frames)
        return NULL;
    return &f->cause;
}

/* ---- the drops that give a cause --------------------------------------- */

/* Drops r's reference with drop(r), code and text pending for the close
 * it may begin; a drop that is not the last leaves the cause untaken,
 * and it goes.  drop is rgn_close_cause's close or rgn__drop_ref's
 * error drop. */
static int drop_pending(rgn_t *r, int code, const char *text,
                        int (*drop)(rgn_t *r))
{
    struct rgn_cause_frame p;
    push(&p, r);
    p.pending = true;
    p.cause = (struct rgn_cause){code, text};
    int rc;
    pthread_cleanup_push(leave, &p);
    rc = drop(r);
    pthread_cleanup_pop(1);
    return rc;
}

static int close_with_cause(rgn_t *r)
{
    return rgn__close_as(r, RGN_RELEASE_ERROR, "rgn_close_cause");
}

int rgn_close_cause(rgn_t *r, int code, const char *text)
{
    if (!r || code == 0)
        return rgn__refused(-EINVAL);
    return drop_pending(r, code, text, close_with_cause);
}

static int drop_error(rgn_t *r)
{
    return rgn__drop_ref(r, RGN_RELEASE_ERROR);
}

int rgn__drop_cause(rgn_t *r, int code, const char *text)
{
    return drop_pending(r, code, text, drop_error);
}

#define RETURNED_MAX 96 /* "<what> returned -2147483648" */

static const char *returned(char *buf, const char *what, int code)
{
    snprintf(buf, RETURNED_MAX, "%s returned %d", what, code);
    return buf;
}

int rgn__drop_failed(rgn_t *r, int code, const char *what)
{
    char buf[RETURNED_MAX];
    return rgn__drop_cause(r, code, returned(buf, what, code));
}

int rgn__close_failed(rgn_t *r, int code, const char *what)
{
    char buf[RETURNED_MAX];
    return rgn_close_cause(r, code, returned(buf, what, code));
}

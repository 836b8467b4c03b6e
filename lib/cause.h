/* SPDX-License-Identifier: MIT */
/*
 * cause.h -- the causes of error closes (cause.c): what a drop passes to
 * the close it may start, the stack of closes running in this thread
 * that rgn_cause() reads, and the hooks region.c, share.c and
 * convenience.c call.
 *
 * A cause belongs to one close, in the thread that runs it.  The drop
 * that gives one (rgn_close_cause, a thread function's failure, rgn_with's
 * body's) pushes it on this thread's stack of closes as a pending frame,
 * for the close that drop may begin; the close takes it, with a copy of
 * its text, into a frame of its own, and every cleanup it runs -- those
 * of the children it closes in its loop too -- reads that frame.
 * A close or clear started inside one of those cleanups pushes a frame of
 * its own (without a cause, unless it was given one), so it never shows
 * the outer one; a cleanup run by rgn_release inside it, or given back by
 * a refused registration, sees none either: rgn_cause() shows a frame
 * only while the top release frame (rgn__run_state.frames, error.h) is
 * what it was when the frame was pushed.  A drop that is not the last
 * passes nothing on; neither does the last drop of a region being
 * cleared, which the clear closes once it has run every cleanup: nothing
 * is left there to see a cause.
 */
#ifndef RGN_CAUSE_H
#define RGN_CAUSE_H

#include "base.h"
#include "region.h"

/* One close (or clear) running in this thread, innermost on top; or
 * the cause a drop gives the close it may begin (`pending`). */
struct rgn_cause_frame {
    rgn_t *r;
    bool pending;           /* a drop's: never shown, taken by r's close */
    bool has;               /* a close's cause: rgn_cause() shows it */
    struct rgn_cause cause; /* a pending text is the dropper's; a close's
                               is `copy`, or NULL */
    char *copy;             /* rgn's copy of the text, freed at the end */
    struct rgn_frame *mark; /* rgn__run_state.frames when the close began */
    struct rgn_cause_frame *up;
};

/* This thread's causes. */
struct rgn_causes {
    struct rgn_cause_frame *top; /* NULL: no cause anywhere */
    rgn_t *entering;             /* the close rgn__cause_close begins */
};
RGN_HIDDEN extern __thread struct rgn_causes rgn__causes
    __attribute__((tls_model("initial-exec")));

/*
 * Whether the close (or clear) of r must run inside a frame of its own:
 * when the drop that began it gave a cause, or to hide an outer close's.
 * One load and a branch in a thread with no cause anywhere: what every
 * close pays.
 */
RGN_HIDDEN bool rgn__cause_wanted_slow(rgn_t *r);
static inline bool rgn__cause_wanted(rgn_t *r)
{
    if (RGN_LIKELY(rgn__causes.top == NULL))
        return false;
    return rgn__cause_wanted_slow(r);
}

/* Runs close(r, how) -- region.c's close_last, r locked and closing --
 * inside r's frame, with the cause the drop gave, if it gave one; the
 * frame goes when the close is done, also when the thread unwinds from
 * it.  The same for rgn_clear(r) (r unlocked), which has no cause. */
RGN_HIDDEN int rgn__cause_close(rgn_t *r, rgn_release_type how,
                                int (*close)(rgn_t *r, rgn_release_type how));
RGN_HIDDEN int rgn__cause_clear(rgn_t *r, int (*clear)(rgn_t *r));

/* rgn__drop_ref(r, RGN_RELEASE_ERROR) with the cause code and text
 * (rgn_thread_create's thread); rgn__drop_failed's text is "<what>
 * returned <code>". */
RGN_HIDDEN int rgn__drop_cause(rgn_t *r, int code, const char *text);
RGN_HIDDEN int rgn__drop_failed(rgn_t *r, int code, const char *what);
/* rgn_close_cause with the text "<what> returned <code>" (rgn_with). */
RGN_HIDDEN int rgn__close_failed(rgn_t *r, int code, const char *what);

#endif /* RGN_CAUSE_H */

/* SPDX-License-Identifier: MIT */
/*
 * own.h -- the kinds of resource rgn registers itself, as descriptors.
 *
 * A slot holds a cleanup and a pointer, nothing more (map.h), and most
 * cleanups are the program's: ordinary ones, and plain functions, whose
 * trampolines (plain.c) are ordinary cleanups too.  Two are rgn's own:
 * a child region (child.c) and an rgn_malloc block (block.c).  What is
 * particular to each -- a close closes a child in its own loop, the
 * reports judge a child at its own close and never as its parent's
 * leak, rgn_register of a handed-back one takes it back as what it was,
 * rgn_unprotect and rgn_move tell it where it now is, a forked child
 * frees a block with its region -- is a field or an operation of its
 * descriptor here, as PostgreSQL's resowner.c gives each kind of
 * resource a ResourceOwnerDesc.  The close, the reports, moves and the
 * exec walk ask rgn__own_of(); no other file compares a cleanup with
 * rgn__child_cleanup or rgn__free_block.  (rgn.h's inline registration
 * makes the same two compares as rgn__own_of, to leave both to
 * rgn_register_at.)
 *
 * The cleanup is the tag: it is all a slot has, and an ordinary one is
 * told from both of rgn's in two compares with addresses the linker
 * fixes.  The table is static and its index a constant where the
 * cleanup is compared, so a test of a field, own->nests say, compiles
 * to the compare alone: the close loop pays what its one test of
 * rgn__child_cleanup did.  A public kind (struct rgn_kind) has a name
 * as these do; a describe for reports could be added to both alike.
 *
 * Floor 1, the region core.  Its operations are child.c's and block.c's.
 */
#ifndef RGN_OWN_H
#define RGN_OWN_H

#include "base.h"
#include "region.h"
#include "resource.h"

/* A kind of resource, as the core treats it. */
struct rgn_own {
    const char *name; /* for reports and asserts */
    /* A region of its own: the close loop closes it in place (no
     * recursion), the reports and checkpoints leave it to its own
     * close, the exec walk goes down into it. */
    bool nests;
    /* rgn_register of this cleanup from outside (a handed-back one
     * registered again), or NULL for an ordinary cleanup.  Returns and
     * fails as rgn_register does, the resource given back on failure. */
    int (*attach)(rgn_t *r, void *resource, rgn_key_t *key,
                  const struct rgn_from *o);
    /* rgn_unprotect handed it to the caller (r locked), or NULL. */
    void (*unprotected)(void *resource);
    /* rgn_move into `to` (both locked): 0, or -EINVAL when it may not
     * go there; NULL for always.  Then, the move done, where it is. */
    int (*may_move)(void *resource, rgn_t *to);
    void (*moved)(void *resource, rgn_t *to, rgn_key_t key);
    /* A forked child forgetting its regions before exec (exec.c): what
     * to do in place of the cleanup; NULL to leave it (or to run its
     * kind's before_exec). */
    void (*forget)(void *resource);
};

enum {
    RGN_OWN_ORDINARY,
    RGN_OWN_CHILD,
    RGN_OWN_BLOCK
};

/* Their operations, in the kinds' own files. */
RGN_HIDDEN int rgn__child_attach_own(rgn_t *r, void *c, rgn_key_t *key,
                                     const struct rgn_from *o);
RGN_HIDDEN void rgn__child_unprotected(void *c);
RGN_HIDDEN int rgn__child_may_move(void *c, rgn_t *to);
RGN_HIDDEN void rgn__child_moved(void *c, rgn_t *to, rgn_key_t key);
RGN_HIDDEN int rgn__block_attach(rgn_t *r, void *p, rgn_key_t *key,
                                 const struct rgn_from *o);
RGN_HIDDEN void rgn__block_moved(void *p, rgn_t *to, rgn_key_t key);
RGN_HIDDEN void rgn__block_forget(void *p);

static const struct rgn_own rgn__owns[] = {
    [RGN_OWN_ORDINARY] = {.name = "resource"},
    [RGN_OWN_CHILD] = {.name = "child region",
                       .nests = true,
                       .attach = rgn__child_attach_own,
                       .unprotected = rgn__child_unprotected,
                       .may_move = rgn__child_may_move,
                       .moved = rgn__child_moved},
    [RGN_OWN_BLOCK] = {.name = "memory block",
                       .attach = rgn__block_attach,
                       .moved = rgn__block_moved,
                       .forget = rgn__block_forget},
};

/* The kind of a slot's cleanup fn; never NULL. */
static inline __attribute__((always_inline)) const struct rgn_own *
rgn__own_of(rgn_cleanup_fn fn)
{
    /* One compare a kind, each to a constant result, so that a test of
     * one field folds to the compares whose kinds have it. */
    if (RGN_UNLIKELY(fn == rgn__child_cleanup))
        return &rgn__owns[RGN_OWN_CHILD];
    if (RGN_UNLIKELY(fn == rgn__free_block))
        return &rgn__owns[RGN_OWN_BLOCK];
    return &rgn__owns[RGN_OWN_ORDINARY];
}

/* Whether fn is one of rgn's own kinds, which rgn_register dispatches. */
static inline bool rgn__own_special(rgn_cleanup_fn fn)
{
    return rgn__own_of(fn)->attach != NULL;
}

#endif /* RGN_OWN_H */

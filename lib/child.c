/* SPDX-License-Identifier: MIT */
/*
 * child.c -- child regions: adopting a region as a child (rgn_new_child,
 * in new.c, makes one and adopts it),
 * taking it out of its parent (its own close, rgn_share), orphaning it
 * (its slot left the parent), the would-own-itself check of a move, and
 * the close a parent's close or release starts.
 *
 * A child sits in its parent as a slot whose cleanup is rgn__child_cleanup
 * and whose resource is the child.  That slot decides who drops the
 * reference it stands for: whoever takes it out of the parent, under the
 * parent's lock -- the child's own close, the parent's close, a release
 * or unprotect of its key -- and nobody else.  So the child's parent and
 * parent_key are guarded by the lock of the parent it sits in (a move
 * holds both parents'), never by the child's own: a child's owner may be
 * another thread than the parent's users.  A thread given the child by
 * rgn_thread_create holds a reference of its own and never touches the
 * parent.
 *
 * The library's lock order is written once, at the top of audit.c (and
 * in doc/HACKING): here it says that a child's lock comes before its
 * parent's.
 *
 * Floor 1.  May call: region.c (dropping references), resource.c
 * (registering the child's slot), the slot map.
 */
#include "internal.h"

bool rgn__child_would_own(rgn_t *c, rgn_t *to)
{
    for (rgn_t *t = to; t; t = atomic_load(&t->parent))
        if (t == c)
            return true;
    return false;
}

int rgn__child_attach(rgn_t *r, rgn_t *c, rgn_key_t *key, const char *call,
                      const struct rgn_site *site)
{
    if (key)
        *key = RGN_KEY_NONE;
    /* Not a region rgn can adopt: it has a parent or other owners, or it
     * would own itself -- a region that holds nothing has no children, so
     * it cannot be above r: a new child skips the walk, and building a
     * chain of n children is O(n), not O(n^2).  Its owners keep it;
     * nothing is run. */
    if (!c || c->shared || atomic_load(&c->parent) || c->state != RGN_OPEN ||
        c == r || (c->slots.live != 0 && rgn__child_would_own(c, r)))
        return -EINVAL;
    /* Nobody else can reach c yet, so its parent is set before its slot
     * exists: whoever takes the slot finds the child knows its parent. */
    atomic_store(&c->parent, r);
    int rc = rgn__register_slot(
        r, rgn__child_cleanup, c, &c->parent_key,
        &(struct rgn_from){site, "child region", 0, NULL, call});
    if (rc)
        return rc; /* rgn__child_cleanup ran: c is gone */
    if (key)
        *key = c->parent_key;
    return 0;
}

/* Locks the parent c sits in and returns it, or NULL when it sits in
 * none.  The caller holds a reference to that parent (the contract of a
 * child's owner), so it stays valid while a move changes c->parent. */
static rgn_t *lock_parent(rgn_t *c)
{
    for (;;) {
        rgn_t *p = atomic_load_explicit(&c->parent, memory_order_acquire);
        if (!p)
            return NULL;
        rgn__lock(p);
        if (atomic_load_explicit(&c->parent, memory_order_relaxed) == p)
            return p;
        rgn__unlock(p); /* moved meanwhile: follow it */
    }
}

bool rgn__child_detach(rgn_t *c)
{
    rgn_t *p = lock_parent(c);
    if (!p)
        return true;
    uint32_t i = rgn__slot_find(&p->slots, c->parent_key);
    /* The rule of a child's slot: the slot its key names in the parent
     * it sits in is the child's, or gone (taken under this lock). */
    RGN_ASSERT(!i || (rgn__cb(&p->slots, i)->fn == rgn__child_cleanup &&
                      rgn__cb(&p->slots, i)->resource == c));
    if (i) {
        if (RGN_UNLIKELY(p->tracking != NULL)) {
            rgn__index_remove(p, i);
            rgn__audit_leave(p, i);
        }
        rgn__slot_unlink(&p->slots, i);
        p->removed++;
        atomic_store_explicit(&c->parent, NULL, memory_order_relaxed);
    }
    rgn__unlock(p);
    return i != 0;
}

void rgn__detach(rgn_t *c)
{
    rgn__lock(c);
    rgn__child_detach(c);
    rgn__unlock(c);
}

void rgn__child_orphan(rgn_t *c)
{
    atomic_store_explicit(&c->parent, NULL, memory_order_relaxed);
}

/* ---- the child region's descriptor's operations (own.h) ----------------- */

int rgn__child_attach_own(rgn_t *r, void *c, rgn_key_t *key,
                          const struct rgn_from *o)
{
    return rgn__refused(rgn__child_attach(r, c, key, o->call, o->site));
}

void rgn__child_unprotected(void *c)
{
    rgn__child_orphan(c);
}

int rgn__child_may_move(void *c, rgn_t *to)
{
    return rgn__child_would_own(c, to) ? -EINVAL : 0;
}

/* A child must know where it sits, so that its own close finds its
 * slot (rgn__child_detach). */
void rgn__child_moved(void *child, rgn_t *to, rgn_key_t key)
{
    rgn_t *c = child;
    c->parent_key = key;
    atomic_store_explicit(&c->parent, to, memory_order_release);
}

/*
 * The parent took the child's slot (closing, or rgn_release of its key):
 * it drops the reference the slot stands for.  Releasing a child's key
 * early is closing the child: its cleanups see RGN_RELEASE_NORMAL, as at
 * rgn_close, and an owner child's audit reports what it still holds --
 * RGN_RELEASE_EARLY describes the child's slot, not its contents.
 */
static rgn_release_type child_how(rgn_release_type how)
{
    return how == RGN_RELEASE_EARLY ? RGN_RELEASE_NORMAL : how;
}

int rgn__child_cleanup(void *child, rgn_release_type how)
{
    rgn_t *c = child;
    rgn__child_orphan(c);
    return rgn__drop_ref(c, child_how(how));
}

bool rgn__child_begins_close(rgn_t *c, rgn_release_type how, int *rc)
{
    rgn__child_orphan(c);
    if (!rgn__drop_ref_begins_close(c, child_how(how), rc))
        return false;
    c->close_result = 0;
    return true;
}

rgn_key_t rgn_child_key(const rgn_t *child)
{
    if (!child)
        return RGN_KEY_NONE;
    rgn_t *p = lock_parent((rgn_t *)child);
    if (!p)
        return RGN_KEY_NONE;
    rgn_key_t k = child->parent_key;
    rgn__unlock(p);
    return k;
}

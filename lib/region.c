/*
 * region.c -- a region's life: creation, child regions, references and the
 * newest-first close.
 */
#include "internal.h"

#include <string.h>

/*
 * Region ids make keys of one region dead in every other, including a
 * region later allocated at the same address.  Each thread takes ids in
 * blocks from one atomic counter, so creating a region costs no atomic
 * operation in the common case.  This is the only global state of the core.
 */
#define RGN_ID_BLOCK 4096u
static atomic_uint_fast64_t next_id_block = 1;
static __thread uint64_t tl_next_id
    __attribute__((tls_model("initial-exec")));
static __thread uint64_t tl_end_id
    __attribute__((tls_model("initial-exec")));

static uint64_t new_id(void)
{
    if (RGN_UNLIKELY(tl_next_id == tl_end_id)) {
        tl_next_id = atomic_fetch_add_explicit(&next_id_block, RGN_ID_BLOCK,
                                               memory_order_relaxed);
        tl_end_id = tl_next_id + RGN_ID_BLOCK;
    }
    return tl_next_id++;
}

static inline __attribute__((always_inline)) rgn_t *
region_create(const struct rgn_site *site)
{
    rgn__allocator_freeze();
    rgn_t *r = rgn__malloc(sizeof *r);
    if (!r) {
        errno = ENOMEM;
        return NULL;
    }
    /* Fields are set one by one rather than by memset: a string store of
     * this size costs more than the stores themselves on some CPUs, and
     * creating a region must stay as cheap as one malloc.  Slots are
     * initialised when first used. */
    r->id = new_id();
    r->free_head = 0;
    r->used = 1; /* slot 0 is the live list's head */
    r->mode = 0; /* open, not shared */
    r->live = r->peak = 0;
    r->released_early = r->removed = r->closed = 0;
    atomic_init(&r->cleanup_errors, 0);
    atomic_init(&r->lock.word, 0);
    r->refs = 1;
    r->pending = 0;
    r->close_how = RGN_RELEASE_NORMAL;
    r->cap = RGN_INLINE_SLOTS;
    r->cb = r->inline_cb;
    r->ln = r->inline_ln;
    r->parent = NULL;
    r->parent_key = RGN_KEY_NONE;
    r->name = NULL;
    r->audit = NULL;
    *rgn__head(r) = (struct rgn_link){0, 0, 0};
    if (RGN_UNLIKELY(!rgn__audit_new(r, site))) {
        rgn__free(r);
        errno = ENOMEM;
        return NULL;
    }
    return r;
}

void rgn__region_free(rgn_t *r)
{
    if (RGN_UNLIKELY(r->audit != NULL))
        rgn__audit_free(r);
    rgn__free(r->name);
    rgn__slots_destroy(r);
    rgn__free(r);
}

rgn_t *rgn_new_at(const struct rgn_site *site)
{
    return region_create(site);
}

rgn_t *(rgn_new)(void)
{
    return region_create(NULL);
}

rgn_t *rgn_new_child_at(rgn_t *parent, const struct rgn_site *site)
{
    (void)site;
    if (!parent) {
        errno = EINVAL;
        return NULL;
    }
    rgn_t *c = region_create(site);
    if (!c)
        return NULL;
    /* Registering a region's cleanup makes it a child (see resource.c);
     * on failure it runs the child's cleanup, which frees it. */
    int rc = rgn_register_at(parent, rgn__child_cleanup, c, &c->parent_key,
                             site);
    if (rc) {
        errno = -rc;
        return NULL;
    }
    return c;
}

rgn_t *(rgn_new_child)(rgn_t *parent)
{
    return rgn_new_child_at(parent, NULL);
}

/*
 * Pops and runs every live cleanup, newest first, each with r unlocked so
 * that it may call rgn on r; returns the first non-zero result.  shared is
 * r->shared, which cannot change while r is closing: inlined with it as a
 * constant, the loop of an unshared region has no locking in it at all.
 */
static inline __attribute__((always_inline)) int
run_cleanups(rgn_t *r, rgn_release_type how, bool shared)
{
    int result = 0;
    struct rgn_cb cb;
    while (rgn__slot_pop(r, &cb)) {
        if (shared)
            rgn__unlock_shared(r);
        int rc = rgn__run_raw(r, cb, how);
        if (RGN_UNLIKELY(rc != 0) && !result)
            result = rc;
        if (shared)
            rgn__lock_shared(r);
    }
    return result;
}

/*
 * Runs every live cleanup newest first, then frees r (unless an
 * rgn_allocate still holds a reservation: it frees r when done).  Called
 * with r locked and closing; returns with it unlocked.  errno is saved
 * once for the whole close rather than around every cleanup.
 */
static int close_last(rgn_t *r, rgn_release_type how)
{
    int result = 0;
    if (rgn__slot_newest(r)) {
        int *err = rgn__errno();
        int saved = *err;
        result = r->shared ? run_cleanups(r, how, true)
                           : run_cleanups(r, how, false);
        *err = saved;
    }
    bool reserved = r->pending != 0;
    if (reserved)
        r->state = RGN_DRAINED;
    rgn__unlock(r);
    if (!reserved)
        rgn__region_free(r);
    return result;
}

/* Drops one reference of an open region; called with r locked. */
static int drop_locked(rgn_t *r, rgn_release_type how)
{
    if (--r->refs) {
        rgn__unlock(r);
        return 0;
    }
    r->state = RGN_CLOSING;
    r->close_how = how;
    if (RGN_UNLIKELY(r->audit != NULL))
        rgn__audit_close(r, how); /* what was never released, first */
    return close_last(r, how);
}

int rgn__drop_ref(rgn_t *r, rgn_release_type how)
{
    rgn__lock(r);
    if (r->state != RGN_OPEN) {
        rgn__unlock(r);
        return -ECANCELED;
    }
    return drop_locked(r, how);
}

/*
 * A child's first explicit close takes it out of its parent, so the parent
 * never drops a reference its owner already dropped.  Called with the
 * child locked, and takes the parent's lock inside it: child before parent
 * is the lock order everywhere.  A parent closing in another thread locks
 * the child only after letting go of its own lock, and cannot free itself
 * before it has, so the parent stays valid here.  If the parent already
 * took the child's slot (it is closing it), the slot is simply gone.
 */
static void detach_locked(rgn_t *c)
{
    rgn_t *p = c->parent;
    c->parent = NULL;
    rgn__lock(p);
    uint32_t i = rgn__slot_find(p, c->parent_key);
    if (i) {
        rgn__slot_unlink(p, i);
        p->removed++;
    }
    rgn__unlock(p);
}

static int close_with(rgn_t *r, rgn_release_type how)
{
    if (!r)
        return -EINVAL;
    rgn__lock(r);
    if (r->state != RGN_OPEN) {
        rgn__unlock(r);
        return -ECANCELED;
    }
    if (RGN_UNLIKELY(r->parent != NULL))
        detach_locked(r);
    return drop_locked(r, how);
}

int rgn_close(rgn_t *r)
{
    return close_with(r, RGN_RELEASE_NORMAL);
}

int rgn_close_error(rgn_t *r)
{
    return close_with(r, RGN_RELEASE_ERROR);
}

void rgn__child_orphan(rgn_t *c)
{
    rgn__lock(c);
    c->parent = NULL;
    rgn__unlock(c);
}

void rgn__detach(rgn_t *c)
{
    rgn__lock(c);
    if (c->parent)
        detach_locked(c);
    rgn__unlock(c);
}

/* The parent took the child's slot (closing, or rgn_release of its key):
 * it drops the reference rgn_new_child returned. */
int rgn__child_cleanup(void *child, rgn_release_type how)
{
    rgn_t *c = child;
    rgn__child_orphan(c);
    return rgn__drop_ref(c, how);
}

rgn_key_t rgn_child_key(const rgn_t *child)
{
    if (!child)
        return RGN_KEY_NONE;
    rgn_t *c = (rgn_t *)child; /* the lock is not part of the value */
    rgn__lock(c);
    rgn_key_t k = c->parent ? c->parent_key : RGN_KEY_NONE;
    rgn__unlock(c);
    return k;
}

size_t rgn_live(const rgn_t *r)
{
    if (!r)
        return 0;
    rgn_t *m = (rgn_t *)r; /* the lock is not part of the value */
    rgn__lock(m);
    size_t n = m->live;
    rgn__unlock(m);
    return n;
}

/* SPDX-License-Identifier: MIT */
/*
 * site.c -- sites made at run time (rgn_site_make): wrappers pass their
 * caller's file, line and function, and get the one site of those three,
 * valid for the life of the process, so that the audit -- which groups
 * and keeps sites by address -- sees one site per call site however often
 * it is made.
 *
 * A table of entries keyed by the addresses of file and func and the
 * line, read without a lock: an entry is published with a release store
 * and never changes or goes away, and a full table is replaced by a
 * bigger copy while the old one stays readable (it is kept, so the
 * memory is at most twice the last table's).  Making a new entry takes a
 * lock word (lock.h, taken over by a forked child if a parent thread
 * held it).  Two entries whose strings are equal at different addresses
 * share their site.  Calls only the allocator and the lock.
 *
 * Floor 0: never sees a region (doc/HACKING, "Floors").
 */
#include "alloc.h"
#include "error.h"
#include "lock.h"

#include <stdlib.h>

struct entry {
    const char *file, *func;
    int line;
    const struct rgn_site *site;
};

struct table {
    size_t cap; /* a power of two */
    struct table *older;
    _Atomic(struct entry *) e[];
};

static _Atomic(struct table *) current;
static size_t used;     /* entries in current, under `lock` */
static rgn_lock_t lock; /* makes entries and tables */

static size_t hash(const char *file, int line, const char *func)
{
    uint64_t h = (uint64_t)(uintptr_t)file * 0x9E3779B97F4A7C15u;
    h ^= (uint64_t)(uintptr_t)func * 0xC2B2AE3D27D4EB4Fu;
    h ^= (uint64_t)(unsigned)line * 0x165667B19E3779F9u;
    return (size_t)(h ^ (h >> 31));
}

static const struct rgn_site *find(const struct table *t, const char *file,
                                   int line, const char *func)
{
    if (!t)
        return NULL;
    for (size_t i = hash(file, line, func) & (t->cap - 1);;
         i = (i + 1) & (t->cap - 1)) {
        struct entry *e = atomic_load_explicit(&t->e[i], memory_order_acquire);
        if (!e)
            return NULL;
        if (e->file == file && e->func == func && e->line == line)
            return e->site;
    }
}

/* A site with the same text at other addresses, under the lock. */
static const struct rgn_site *
find_text(const struct table *t, const char *file, int line, const char *func)
{
    for (size_t i = 0; t && i < t->cap; i++) {
        struct entry *e = atomic_load_explicit(&t->e[i], memory_order_relaxed);
        if (e && e->line == line && strcmp(e->file, file) == 0 &&
            strcmp(e->func, func) == 0)
            return e->site;
    }
    return NULL;
}

static void put(struct table *t, struct entry *e)
{
    size_t i = hash(e->file, e->line, e->func) & (t->cap - 1);
    while (atomic_load_explicit(&t->e[i], memory_order_relaxed))
        i = (i + 1) & (t->cap - 1);
    atomic_store_explicit(&t->e[i], e, memory_order_release);
}

/* A table with room for one more entry (at most half full), under the
 * lock; NULL when memory ran out. */
static struct table *room(void)
{
    struct table *t = atomic_load_explicit(&current, memory_order_relaxed);
    if (t && 2 * (used + 1) <= t->cap)
        return t;
    size_t cap = t ? 2 * t->cap : 64;
    struct table *n = rgn__malloc(sizeof *n + cap * sizeof n->e[0]);
    if (!n)
        return NULL;
    n->cap = cap;
    n->older = t;
    for (size_t i = 0; i < cap; i++)
        atomic_init(&n->e[i], NULL);
    for (size_t i = 0; t && i < t->cap; i++) {
        struct entry *e = atomic_load_explicit(&t->e[i], memory_order_relaxed);
        if (e)
            put(n, e);
    }
    atomic_store_explicit(&current, n, memory_order_release);
    return n;
}

const struct rgn_site *rgn_site_make(const char *file, int line,
                                     const char *func)
{
    if (!file || !func)
        return rgn__refused_null(EINVAL);
    const struct rgn_site *s =
        find(atomic_load_explicit(&current, memory_order_acquire), file, line,
             func);
    if (RGN_LIKELY(s != NULL))
        return s;
    rgn__allocator_freeze(); /* sites are never given back */
    rgn__lock_take(&lock);
    struct table *t = atomic_load_explicit(&current, memory_order_relaxed);
    s = find(t, file, line, func);
    if (!s) {
        struct entry *e = rgn__malloc(sizeof *e);
        struct rgn_site *made = NULL;
        const struct rgn_site *same = find_text(t, file, line, func);
        if (e && !same)
            made = rgn__malloc(sizeof *made);
        struct table *to = e && (same || made) ? room() : NULL;
        if (to) {
            if (made)
                *made = (struct rgn_site){file, func, line};
            *e = (struct entry){file, func, line, same ? same : made};
            put(to, e);
            used++;
            s = e->site;
        } else {
            rgn__free(made);
            rgn__free(e);
            rgn__refused_null(ENOMEM);
        }
    }
    rgn__lock_give(&lock);
    return s;
}

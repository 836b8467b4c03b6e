/* SPDX-License-Identifier: MIT */
/*
 * block.c -- memory blocks a region frees: rgn_malloc, rgn_calloc,
 * rgn_strdup, rgn_realloc, rgn_free and rgn_mem_key.  A block is a
 * resource like any other, whose cleanup (rgn__free_block) the core
 * knows, so that rgn_unprotect hands it back and registering it again
 * finds its header (resource.c).
 *
 * Floor 1.  May call: the allocator, resource.c's registration path,
 * the public calls of the core.
 */
#include "internal.h"

#include <stdlib.h>

/* ---- memory ------------------------------------------------------------- */

/*
 * Each block carries its key in a header just before the caller's bytes,
 * so rgn_free finds it in O(1).  16 bytes keeps the caller's pointer
 * aligned as malloc's is.
 */
struct block {
    rgn_key_t key;
};
_Static_assert(sizeof(struct block) == 16, "header keeps 16-byte alignment");

_Static_assert(sizeof(struct block) == RGN_BLOCK_HEADER, "see resource.h");

/* A block's resource is the caller's pointer, so that rgn_unprotect hands
 * back what rgn_malloc returned, and this cleanup frees it. */
int rgn__free_block(void *p, rgn_release_type how)
{
    (void)how;
    rgn__free((struct block *)p - 1);
    return 0;
}

/* ---- the block's descriptor's operations (own.h) ------------------------ */

/* A block keeps its key in its header, for rgn_free: also when
 * rgn_unprotect handed it back and it is registered again. */
int rgn__block_attach(rgn_t *r, void *p, rgn_key_t *key,
                      const struct rgn_from *o)
{
    return rgn__register_keeping(r, rgn__free_block, p, rgn__block_key(p), key,
                                 o);
}

void rgn__block_moved(void *p, rgn_t *to, rgn_key_t key)
{
    (void)to;
    *rgn__block_key(p) = key; /* rgn_free finds it by its new key */
}

/* rgn's own memory, as the arena is: it goes with its region. */
void rgn__block_forget(void *p)
{
    rgn__free_block(p, RGN_RELEASE_NORMAL);
}

/* Registers block b (whose payload is returned; the key goes in its
 * header); NULL and errno on failure, with the block already freed.  It
 * is what registering a block does (own.h's attach, above), called
 * straight and with the origin by pointer: through rgn__register_kinded
 * and the kinds' table, copying the origin at each step, an
 * rgn_malloc+rgn_free pair took 413 instructions instead of 355 (24 ns
 * instead of 19.5 in a loop). */
static void *adopt_block(rgn_t *r, struct block *b, size_t size,
                         const struct rgn_kind *kind, const char *call,
                         const struct rgn_site *site)
{
    struct rgn_from o = {site, NULL, size, kind, call};
    int rc = rgn__block_attach(r, b + 1, NULL, &o);
    if (rc) {
        errno = -rc;
        return NULL;
    }
    return b + 1;
}

/* Whether a block of size bytes can be asked of r; the refusal noted,
 * errno set, if not. */
static bool block_possible(const rgn_t *r, size_t size)
{
    if (!r)
        rgn__refused_null(EINVAL);
    else if (size > SIZE_MAX - sizeof(struct block))
        rgn__refused_null(ENOMEM);
    return r && size <= SIZE_MAX - sizeof(struct block);
}

/* A block of size bytes in r, of kind (NULL: plain memory), its first
 * bytes from `from` when given, so that a describe sees them at once. */
static void *block_new(rgn_t *r, size_t size, const void *from, size_t n,
                       const struct rgn_kind *kind,
                       const struct rgn_site *site)
{
    if (!block_possible(r, size))
        return NULL;
    rgn__allocator_freeze();
    struct block *b = rgn__malloc(sizeof *b + size);
    if (!b)
        return rgn__refused_null(ENOMEM);
    if (from)
        memcpy(b + 1, from, n);
    return adopt_block(r, b, size, kind, kind ? "rgn_strdup" : "rgn_malloc",
                       site);
}

void *rgn_malloc_at(rgn_t *r, size_t size, const struct rgn_site *site)
{
    return block_new(r, size, NULL, 0, NULL, site);
}

/* A string's text, quoted and cut, is what a leak of it shows. */
static int describe_string(void *p, char *buf, size_t size)
{
    char q[64];
    rgn__fmt_quoted(q, sizeof q, p);
    return snprintf(buf, size, "%s", q);
}

static const struct rgn_kind string_kind = {
    .name = "string", .cleanup = rgn__free_block, .describe = describe_string};

void *rgn_calloc_at(rgn_t *r, size_t n, size_t size,
                    const struct rgn_site *site)
{
    if (size && n > SIZE_MAX / size)
        return rgn__refused_null(ENOMEM);
    void *p = rgn_malloc_at(r, n * size, site);
    if (p)
        memset(p, 0, n * size);
    return p;
}

char *rgn_strdup_at(rgn_t *r, const char *s, const struct rgn_site *site)
{
    if (!s)
        return rgn__refused_null(EINVAL);
    size_t n = strlen(s) + 1;
    return block_new(r, n, s, n, &string_kind, site);
}

int rgn_free(rgn_t *r, void *p)
{
    if (!p)
        return 0;
    if (!r)
        return rgn__refused(-EINVAL);
    const struct block *b = (const struct block *)p - 1;
    return rgn_release(r, b->key);
}

void *rgn_realloc_at(rgn_t *r, void *p, size_t size,
                     const struct rgn_site *site)
{
    if (!p)
        return rgn_malloc_at(r, size, site);
    if (!block_possible(r, size))
        return NULL;
    void *moved;
    int rc = rgn__resource_realloc(r, ((struct block *)p - 1)->key, p,
                                   sizeof(struct block) + size, &moved);
    if (rc)
        return rgn__refused_null(-rc); /* p is as it was */
    return moved;
}

rgn_key_t rgn_mem_key(const void *p)
{
    return p ? ((const struct block *)p - 1)->key : RGN_KEY_NONE;
}

/* ---- the function twins of the macros, which record no site ----------
 *
 * Last in the file: each #undef takes away the macro, so the definition
 * needs no parentheses around its name, and nothing after it could call
 * the twin where it meant the macro.
 */

#undef rgn_realloc
void *rgn_realloc(rgn_t *r, void *p, size_t size)
{
    return rgn_realloc_at(r, p, size, NULL);
}

#undef rgn_malloc
void *rgn_malloc(rgn_t *r, size_t size)
{
    return rgn_malloc_at(r, size, NULL);
}

#undef rgn_calloc
void *rgn_calloc(rgn_t *r, size_t n, size_t size)
{
    return rgn_calloc_at(r, n, size, NULL);
}

#undef rgn_strdup
char *rgn_strdup(rgn_t *r, const char *s)
{
    return rgn_strdup_at(r, s, NULL);
}

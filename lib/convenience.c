/* SPDX-License-Identifier: MIT */
/*
 * convenience.c -- ready-made resources and scopes built on the core:
 * memory, file descriptors, stdio streams, and rgn_with (resourcet's
 * runResourceT).  Nothing here reaches inside a region; each is what a
 * program would write itself with rgn_register, done once, with the
 * failure paths right and the call site passed on to the audit.
 * May call: the public calls, resource.c's registration path, cause.c
 * (the cause of rgn_with's error close).
 */
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- scopes ------------------------------------------------------------- */

/*
 * The body was cancelled, or threw: the scope closes as an error close
 * while the thread unwinds, as resourcet's runResourceT closes its scope
 * on any exception, and the unwinding goes on.  Cancellation stays off
 * meanwhile, as in a close cancelled inside a cleanup (region.c).
 */
static void close_unwound_scope(void *r)
{
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    rgn_close_cause(r, -ECANCELED, "rgn_with body was cancelled or threw");
    pthread_setcancelstate(state, NULL);
}

int rgn_with_at(int (*body)(rgn_t *r, void *arg), void *arg,
                const struct rgn_site *site)
{
    if (!body)
        return rgn__failed(-EINVAL, RGN_FROM_RGN);
    rgn_t *r = rgn_new_scope_at(site);
    if (!r)
        return rgn__failed(-errno, RGN_FROM_RGN);
    /* A few stores where the library is built with -fexceptions
     * (configure adds it), a sigsetjmp elsewhere. */
    int rc;
    pthread_cleanup_push(close_unwound_scope, r);
    rc = body(r, arg);
    pthread_cleanup_pop(0);
    int closed = rc ? rgn__close_failed(r, rc, "rgn_with body") : rgn_close(r);
    /* The close noted its own failure; the body's result comes first. */
    return rc ? rgn__failed(rc, RGN_FROM_CALLER) : closed;
}

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

/* Registers block b (whose payload is returned; rgn_register stores the
 * key in its header); NULL and errno on failure, with the block already
 * freed by rgn_register. */
static void *adopt_block(rgn_t *r, struct block *b, size_t size,
                         const struct rgn_kind *kind,
                         const struct rgn_site *site)
{
    int rc = rgn__register_kinded(r, rgn__free_block, b + 1, NULL, size, kind,
                                  site);
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
    return adopt_block(r, b, size, kind, site);
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

/* ---- file descriptors --------------------------------------------------- */

/* The descriptor travels in the resource pointer: no allocation. */
/* "fd 17 -> /var/log/app.log": what the descriptor is open on, read
 * from /proc when there is one. */
static int describe_fd(void *res, char *buf, size_t size)
{
    int fd = (int)(intptr_t)res;
    char link[48], path[160];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return snprintf(buf, size, "fd %d", fd);
    path[n] = '\0';
    return snprintf(buf, size, "fd %d -> %s", fd, path);
}

static int close_fd(void *res, rgn_release_type how);

static const struct rgn_kind fd_kind = {
    .name = "fd", .cleanup = close_fd, .describe = describe_fd};

static int close_fd(void *res, rgn_release_type how)
{
    (void)how;
    return close((int)(intptr_t)res) == 0 ? 0 : -errno;
}

int rgn_adopt_fd_at(rgn_t *r, int fd, rgn_key_t *key,
                    const struct rgn_site *site)
{
    if (fd < 0) {
        if (key)
            *key = RGN_KEY_NONE;
        return rgn__refused(-EBADF);
    }
    /* On failure rgn_register runs close_fd: the descriptor is closed. */
    return rgn__register_kinded(r, close_fd, (void *)(intptr_t)fd, key, 0,
                                &fd_kind, site);
}

int rgn_open_at(rgn_t *r, const char *path, int flags, mode_t mode,
                rgn_key_t *key, const struct rgn_site *site)
{
    if (key)
        *key = RGN_KEY_NONE;
    if (!r || !path)
        return rgn__failed(-EINVAL, RGN_FROM_RGN);
    int fd = open(path, flags, mode);
    if (fd < 0)
        return rgn__failed(-errno, RGN_FROM_SYSTEM);
    int rc = rgn_adopt_fd_at(r, fd, key, site);
    return rc ? rgn__failed(rc, RGN_FROM_RGN) : fd;
}

/* ---- stdio streams ------------------------------------------------------ */

static int describe_file(void *res, char *buf, size_t size)
{
    char fd[200];
    describe_fd((void *)(intptr_t)fileno(res), fd, sizeof fd);
    return snprintf(buf, size, "FILE* %s", fd);
}

static int close_file(void *res, rgn_release_type how);

static const struct rgn_kind file_kind = {
    .name = "FILE*", .cleanup = close_file, .describe = describe_file};

static int close_file(void *res, rgn_release_type how)
{
    (void)how;
    return fclose(res) == 0 ? 0 : -errno;
}

int rgn_adopt_file_at(rgn_t *r, FILE *f, rgn_key_t *key,
                      const struct rgn_site *site)
{
    if (!f) {
        if (key)
            *key = RGN_KEY_NONE;
        return rgn__refused(-EINVAL);
    }
    return rgn__register_kinded(r, close_file, f, key, 0, &file_kind, site);
}

FILE *rgn_fopen_at(rgn_t *r, const char *path, const char *mode,
                   rgn_key_t *key, const struct rgn_site *site)
{
    if (key)
        *key = RGN_KEY_NONE;
    if (!r || !path || !mode) {
        errno = -rgn__failed(-EINVAL, RGN_FROM_RGN);
        return NULL;
    }
    FILE *f = fopen(path, mode);
    if (!f) {
        rgn__failed(-errno, RGN_FROM_SYSTEM); /* fopen's errno */
        return NULL;
    }
    int rc = rgn_adopt_file_at(r, f, key, site);
    if (rc) {
        errno = -rgn__failed(rc, RGN_FROM_RGN);
        return NULL;
    }
    return f;
}

/* ---- the function twins of the macros, which record no site ----------
 *
 * Last in the file: each #undef takes away the macro, so the definition
 * needs no parentheses around its name, and nothing after it could call
 * the twin where it meant the macro.
 */

#undef rgn_with
int rgn_with(int (*body)(rgn_t *r, void *arg), void *arg)
{
    return rgn_with_at(body, arg, NULL);
}

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

#undef rgn_open
int rgn_open(rgn_t *r, const char *path, int flags, mode_t mode,
             rgn_key_t *key)
{
    return rgn_open_at(r, path, flags, mode, key, NULL);
}

#undef rgn_adopt_fd
int rgn_adopt_fd(rgn_t *r, int fd, rgn_key_t *key)
{
    return rgn_adopt_fd_at(r, fd, key, NULL);
}

#undef rgn_fopen
FILE *rgn_fopen(rgn_t *r, const char *path, const char *mode, rgn_key_t *key)
{
    return rgn_fopen_at(r, path, mode, key, NULL);
}

#undef rgn_adopt_file
int rgn_adopt_file(rgn_t *r, FILE *f, rgn_key_t *key)
{
    return rgn_adopt_file_at(r, f, key, NULL);
}

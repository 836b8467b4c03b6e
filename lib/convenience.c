/* SPDX-License-Identifier: MIT */
/*
 * convenience.c -- ready-made resources and scopes built on the core:
 * file descriptors, stdio streams, and rgn_with (resourcet's
 * runResourceT).  Nothing here reaches inside a region; each is what a
 * program would write itself with rgn_register, done once, with the
 * failure paths right and the call site passed on to the audit.  (Memory
 * blocks, which the core must know, are block.c's.)
 * Floor 2.  May call: the public calls, resource.c's registration path,
 * cause.c (the cause of rgn_with's error close).
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
                                &fd_kind, "rgn_adopt_fd", site);
}

int rgn_open_at(rgn_t *r, const char *path, int flags, mode_t mode,
                rgn_key_t *key, const struct rgn_site *site)
{
    if (key)
        *key = RGN_KEY_NONE;
    if (!r || !path)
        return rgn__failed(-EINVAL, RGN_FROM_RGN);
    /* Close-on-exec always: a program another thread execs meanwhile
     * must not inherit it (rgn.h, "Exec safety"). */
    int fd = open(path, flags | O_CLOEXEC, mode);
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

/*
 * fopen with "e" in mode: the stream's descriptor is opened
 * close-on-exec, as rgn_open's is.  It goes right after the first
 * letter, where every libc looks (glibc reads only the first seven
 * characters).  A mode too long for the copy gets the flag just after
 * the open.
 */
static FILE *fopen_cloexec(const char *path, const char *mode)
{
    char m[32];
    size_t n = strlen(mode);
    if (n == 0 || n + 2 > sizeof m) {
        FILE *f = fopen(path, mode);
        if (f)
            (void)fcntl(fileno(f), F_SETFD, FD_CLOEXEC);
        return f;
    }
    m[0] = mode[0];
    m[1] = 'e';
    memcpy(m + 2, mode + 1, n); /* the rest, and its NUL */
    return fopen(path, m);
}

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
    return rgn__register_kinded(r, close_file, f, key, 0, &file_kind,
                                "rgn_adopt_file", site);
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
    FILE *f = fopen_cloexec(path, mode);
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

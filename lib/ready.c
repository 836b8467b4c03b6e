/* SPDX-License-Identifier: MIT */
/*
 * ready.c -- ready-made resources beyond memory, descriptors and streams
 * (those are convenience.c's): temporary files and directories,
 * mappings, child processes, sockets, directory streams, loaded
 * libraries, mutex guards and getline-style buffers.  Each is a kind
 * (struct rgn_kind) that names and describes what it is, and each call
 * is what a program would write itself with rgn_register_kind: check the
 * arguments, acquire, register -- a failed registration runs the kind's
 * cleanup, which gives the resource back -- so a failing call leaves
 * nothing registered and nothing acquired.  Whatever holds more than a
 * pointer's worth is a record from rgn's allocator, allocated before the
 * resource is acquired (out of memory, nothing was acquired) and freed
 * by the cleanup.  Descriptors are opened close-on-exec.
 *
 * Resources that reach outside the process -- a file's name, a child
 * process -- remember the process that made them: a forked child that
 * closes an inherited region closes its copies of the descriptors, but
 * removes none of its parent's files and signals none of its parent's
 * children.
 *
 * rgn_forget_for_exec frees the records and nothing else
 * (rgn__ready_forget, ready.h).
 *
 * May call: the public calls, resource.c's registration path
 * (rgn__register_kinded), the allocator, and a slot's resource under its
 * region's lock (rgn_spawn_stop sets a child's stop).
 *
 * Floor 2, above the core (doc/HACKING, "Floors").
 */
#include "internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#ifndef ELIBACC
#define ELIBACC ENOENT
#endif

/* ---- what every one of them does ---------------------------------------- */

/* Acquiring and registering are one step for a cancelled thread. */
static int cancel_off(void)
{
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    return state;
}

static void cancel_back(int state)
{
    pthread_setcancelstate(state, NULL);
}

/* A refusal before anything was acquired: nothing registered. */
static int refuse(rgn_key_t *key, int rc)
{
    if (key)
        *key = RGN_KEY_NONE;
    return rgn__refused(rc);
}

static void *refuse_null(rgn_key_t *key, int e)
{
    if (key)
        *key = RGN_KEY_NONE;
    return rgn__refused_null(e);
}

/* A system call failed with errno e; nothing is held. */
static int sys_failed(rgn_key_t *key, int e)
{
    if (key)
        *key = RGN_KEY_NONE;
    return rgn__failed(-e, RGN_FROM_SYSTEM);
}

static void *sys_failed_null(rgn_key_t *key, int e)
{
    sys_failed(key, e);
    errno = e;
    return NULL;
}

/* Registers res as one of kind; on failure the kind's cleanup has run
 * and the registration's error is returned, noted. */
static int adopt(rgn_t *r, const struct rgn_kind *kind, void *res,
                 uint64_t bytes, rgn_key_t *key, const char *call,
                 const struct rgn_site *site)
{
    return rgn__register_kinded(r, kind->cleanup, res, key, bytes, kind, call,
                                site);
}

/* "fd 3 -> /etc": what a descriptor is open on, from /proc. */
static int fd_target(int fd, char *path, size_t size)
{
    char link[48];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, size - 1);
    if (n <= 0)
        return -1;
    path[n] = '\0';
    return 0;
}

/* ---- temporary files and directories ------------------------------------ */

struct tmp {
    int fd; /* -1: a directory */
    unsigned flags;
    pid_t owner; /* the process whose file it is */
    char path[];
};

/* The entries of the directory open at fd (which it takes), removed,
 * directories below with theirs; symbolic links are removed, never
 * followed.  0 or the first failure, negated; it goes on past one. */
static int empty_dir(int fd)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno && !rc)
                rc = -errno;
            break;
        }
        const char *n = e->d_name;
        if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])))
            continue;
        if (unlinkat(dirfd(d), n, 0) == 0 || errno == ENOENT)
            continue;
        if (errno != EISDIR && errno != EPERM) {
            if (!rc)
                rc = -errno;
            continue;
        }
        int sub = openat(dirfd(d), n,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int sub_rc = sub >= 0 ? empty_dir(sub) : -errno;
        if (unlinkat(dirfd(d), n, AT_REMOVEDIR) != 0 && errno != ENOENT &&
            !sub_rc)
            sub_rc = -errno;
        if (!rc)
            rc = sub_rc;
    }
    closedir(d);
    return rc;
}

static int remove_tree(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    int rc = fd >= 0 ? empty_dir(fd) : -errno;
    if (rmdir(path) != 0 && errno != ENOENT && !rc)
        rc = -errno;
    return rc;
}

static int tmp_cleanup(void *res, rgn_release_type how)
{
    (void)how;
    struct tmp *t = res;
    int state = cancel_off(); /* what is begun is finished */
    int rc = 0;
    if (t->fd >= 0 && close(t->fd) != 0)
        rc = -errno;
    if (!(t->flags & RGN_TMP_KEEP) && t->owner == getpid()) {
        int removed = 0;
        if (t->fd < 0)
            removed = remove_tree(t->path);
        else if (unlink(t->path) != 0 && errno != ENOENT)
            removed = -errno;
        if (!rc)
            rc = removed;
    }
    cancel_back(state);
    rgn__free(t);
    return rc;
}

static int describe_tmp(void *res, char *buf, size_t size)
{
    const struct tmp *t = res;
    if (t->fd < 0)
        return snprintf(buf, size, "tmpdir %s", t->path);
    return snprintf(buf, size, "tmpfile %s (fd %d)", t->path, t->fd);
}

static const struct rgn_kind tmpfile_kind = {
    .name = "tmpfile", .cleanup = tmp_cleanup, .describe = describe_tmp};
static const struct rgn_kind tmpdir_kind = {
    .name = "tmpdir", .cleanup = tmp_cleanup, .describe = describe_tmp};

/* The record of a temporary file or directory at tmpl, before it is
 * made; NULL when memory ran out. */
static struct tmp *tmp_new(const char *tmpl, unsigned flags)
{
    size_t n = strlen(tmpl) + 1;
    struct tmp *t = rgn__malloc(sizeof *t + n);
    if (t) {
        t->fd = -1;
        t->flags = flags;
        t->owner = getpid();
        memcpy(t->path, tmpl, n);
    }
    return t;
}

int rgn_mkstemp_at(rgn_t *r, char *tmpl, unsigned flags, rgn_key_t *key,
                   const struct rgn_site *site)
{
    if (!r || !tmpl || (flags & ~RGN_TMP_KEEP))
        return refuse(key, -EINVAL);
    struct tmp *t = tmp_new(tmpl, flags);
    if (!t)
        return refuse(key, -ENOMEM);
    int state = cancel_off();
    int fd = mkostemp(t->path, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        cancel_back(state);
        rgn__free(t);
        return sys_failed(key, e);
    }
    t->fd = fd;
    memcpy(tmpl, t->path, strlen(t->path));
    int rc = adopt(r, &tmpfile_kind, t, 0, key, "rgn_mkstemp", site);
    if (rc && (flags & RGN_TMP_KEEP))
        unlink(tmpl); /* kept or not, the caller never had it */
    cancel_back(state);
    return rc ? rc : fd;
}

char *rgn_mkdtemp_at(rgn_t *r, char *tmpl, unsigned flags, rgn_key_t *key,
                     const struct rgn_site *site)
{
    if (!r || !tmpl || (flags & ~RGN_TMP_KEEP))
        return refuse_null(key, EINVAL);
    struct tmp *t = tmp_new(tmpl, flags);
    if (!t)
        return refuse_null(key, ENOMEM);
    int state = cancel_off();
    if (!mkdtemp(t->path)) {
        int e = errno;
        cancel_back(state);
        rgn__free(t);
        return sys_failed_null(key, e);
    }
    memcpy(tmpl, t->path, strlen(t->path));
    int rc = adopt(r, &tmpdir_kind, t, 0, key, "rgn_mkdtemp", site);
    if (rc && (flags & RGN_TMP_KEEP))
        rmdir(tmpl);
    cancel_back(state);
    if (rc) {
        errno = -rc;
        return NULL;
    }
    return tmpl;
}

/* ---- mappings ------------------------------------------------------------ */

struct mapping {
    void *addr;
    size_t length;
};

static int unmap(void *res, rgn_release_type how)
{
    (void)how;
    struct mapping *m = res;
    int rc = munmap(m->addr, m->length) == 0 ? 0 : -errno;
    rgn__free(m);
    return rc;
}

static int describe_mapping(void *res, char *buf, size_t size)
{
    const struct mapping *m = res;
    return snprintf(buf, size, "mmap %zu B at %p", m->length, m->addr);
}

static const struct rgn_kind mmap_kind = {
    .name = "mmap", .cleanup = unmap, .describe = describe_mapping};

void *rgn_mmap_at(rgn_t *r, void *addr, size_t length, int prot, int flags,
                  int fd, off_t offset, rgn_key_t *key,
                  const struct rgn_site *site)
{
    if (!r)
        return refuse_null(key, EINVAL);
    struct mapping *m = rgn__malloc(sizeof *m);
    if (!m)
        return refuse_null(key, ENOMEM);
    void *p = mmap(addr, length, prot, flags, fd, offset);
    if (p == MAP_FAILED) {
        int e = errno;
        rgn__free(m);
        return sys_failed_null(key, e);
    }
    *m = (struct mapping){p, length};
    int rc = adopt(r, &mmap_kind, m, length, key, "rgn_mmap", site);
    if (rc) {
        errno = -rc;
        return NULL;
    }
    return p;
}

/* ---- child processes ----------------------------------------------------- */

struct child {
    pid_t pid;
    pid_t owner; /* the process whose child it is */
    int pidfd;   /* -1 where the kernel has none */
    int stop_signal;
    unsigned timeout_ms;
    char name[32]; /* the program's name, for describe */
};

#ifndef P_PIDFD
#define P_PIDFD ((idtype_t)3) /* Linux 5.4; glibc 2.36 names it not */
#endif

/* A pidfd for c's child: the process itself, not its pid, which another
 * may have once the child is reaped behind rgn's back.  A kernel (or a
 * valgrind) without the call is asked once: it says so to each one. */
static atomic_bool no_pidfds;

static int pidfd_of(pid_t pid)
{
#if defined(__linux__) && defined(SYS_pidfd_open)
    if (atomic_load_explicit(&no_pidfds, memory_order_relaxed))
        return -1;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0 && errno == ENOSYS)
        atomic_store_explicit(&no_pidfds, true, memory_order_relaxed);
    return fd >= 0 ? fd : -1; /* close-on-exec, as every pidfd is */
#else
    (void)pid;
    return -1;
#endif
}

static void signal_child(const struct child *c, int sig)
{
#if defined(__linux__) && defined(SYS_pidfd_send_signal)
    if (c->pidfd >= 0) {
        (void)syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0);
        return;
    }
#endif
    (void)kill(c->pid, sig);
}

/* waitpid's status of a child waitid saw end (Linux's encoding). */
static int status_of(const siginfo_t *si)
{
    switch (si->si_code) {
    case CLD_EXITED:
        return (si->si_status & 0xff) << 8;
    case CLD_DUMPED:
        return (si->si_status & 0x7f) | 0x80;
    default:
        return si->si_status & 0x7f;
    }
}

/*
 * Reaps c's child if it has ended (or, with hang, once it does): 1 when
 * it is reaped (or was, behind rgn's back: waitpid's ECHILD), its status
 * in *status; 0 when it runs still; a negative errno otherwise.  A
 * cancellation point, with hang.
 */
static int reap(struct child *c, bool hang, int *status)
{
    int flags = hang ? 0 : WNOHANG;
    *status = 0;
    for (;;) {
        if (c->pidfd >= 0) {
            siginfo_t si;
            si.si_pid = 0;
            if (waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED | flags) == 0) {
                if (si.si_pid == 0)
                    return 0;
                *status = status_of(&si);
                return 1;
            }
            if (errno == EINVAL) { /* a kernel without P_PIDFD */
                close(c->pidfd);
                c->pidfd = -1;
                continue;
            }
        } else {
            pid_t got = waitpid(c->pid, status, flags);
            if (got == c->pid)
                return 1;
            if (got == 0)
                return 0;
        }
        if (errno == ECHILD)
            return 1;
        if (errno != EINTR)
            return -errno;
    }
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits up to ms for c's child to end, and reaps it: true when it did. */
static bool reap_within(struct child *c, unsigned ms)
{
    int status;
    uint64_t end = now_ms() + ms;
    unsigned nap_us = 1000;
    for (;;) {
        int got = reap(c, false, &status);
        if (got != 0)
            return got > 0;
        uint64_t t = now_ms();
        if (t >= end)
            return false;
        if (c->pidfd >= 0) {
            /* A pidfd is readable once its process ends. */
            struct pollfd p = {c->pidfd, POLLIN, 0};
            (void)poll(&p, 1, (int)(end - t));
            continue;
        }
        struct timespec nap = {0, (long)nap_us * 1000};
        nanosleep(&nap, NULL);
        if (nap_us < 50000)
            nap_us *= 2;
    }
}

/* Ends c's child as its cleanup does, and lets go of c's pidfd. */
static void end_child(struct child *c)
{
    int status;
    if (c->owner == getpid() && reap(c, false, &status) == 0) {
        bool gone = false;
        if (c->timeout_ms) {
            if (c->stop_signal)
                signal_child(c, c->stop_signal);
            gone = reap_within(c, c->timeout_ms);
        }
        if (!gone) {
            signal_child(c, SIGKILL);
            (void)reap(c, true, &status);
        }
    }
    if (c->pidfd >= 0)
        close(c->pidfd);
}

static int child_cleanup(void *res, rgn_release_type how)
{
    (void)how;
    int state = cancel_off(); /* a close always reaps its children */
    end_child(res);
    cancel_back(state);
    rgn__free(res);
    return 0;
}

static int describe_child(void *res, char *buf, size_t size)
{
    const struct child *c = res;
    return snprintf(buf, size, "child pid %ld (%s)", (long)c->pid, c->name);
}

static const struct rgn_kind child_kind = {.name = "child process",
                                           .cleanup = child_cleanup,
                                           .describe = describe_child};

pid_t rgn_spawn_at(rgn_t *r, const char *path, char *const argv[],
                   char *const envp[],
                   const posix_spawn_file_actions_t *actions,
                   const posix_spawnattr_t *attr, unsigned flags,
                   rgn_key_t *key, const struct rgn_site *site)
{
    if (!r || !path || !argv || (flags & ~RGN_SPAWN_PATH))
        return refuse(key, -EINVAL);
    struct child *c = rgn__malloc(sizeof *c);
    if (!c)
        return refuse(key, -ENOMEM);
    const char *base = strrchr(path, '/');
    snprintf(c->name, sizeof c->name, "%s", base ? base + 1 : path);
    c->owner = getpid();
    c->stop_signal = SIGTERM;
    c->timeout_ms = RGN_SPAWN_TIMEOUT_MS;
    int state = cancel_off();
    pid_t pid;
    int e = (flags & RGN_SPAWN_PATH)
                ? posix_spawnp(&pid, path, actions, attr, argv,
                               envp ? envp : environ)
                : posix_spawn(&pid, path, actions, attr, argv,
                              envp ? envp : environ);
    if (e) {
        cancel_back(state);
        rgn__free(c);
        return sys_failed(key, e);
    }
    c->pid = pid;
    c->pidfd = pidfd_of(pid);
    int rc = adopt(r, &child_kind, c, 0, key, "rgn_spawn", site);
    cancel_back(state);
    return rc ? rc : pid;
}

int rgn_spawn_stop(rgn_t *r, rgn_key_t key, int sig, unsigned timeout_ms)
{
    sigset_t set;
    sigemptyset(&set);
    if (!r || (sig != 0 && sigaddset(&set, sig) != 0))
        return rgn__refused(-EINVAL);
    rgn__lock(r);
    uint32_t i = rgn__slot_find(&r->slots, key);
    int rc = 0;
    if (!i)
        rc = -ENOENT;
    else if (rgn__cb(&r->slots, i)->fn != child_cleanup)
        rc = -EPROTOTYPE;
    else {
        /* The cleanup reads these after taking the slot under this lock. */
        struct child *c = rgn__cb(&r->slots, i)->resource;
        c->stop_signal = sig;
        c->timeout_ms = timeout_ms;
    }
    rgn__unlock(r);
    if (rc == -ENOENT)
        rc = rgn__closed_use(r, "rgn_spawn_stop", NULL, rc);
    return rgn__refused(rc);
}

/* rgn_spawn_wait cancelled in its wait: the child ends as at a close. */
static void end_unwound(void *res)
{
    int state = cancel_off();
    end_child(res);
    cancel_back(state);
    rgn__free(res);
}

int rgn_spawn_wait(rgn_t *r, rgn_key_t key, int *status)
{
    void *res;
    int rc = rgn_unprotect_kind(r, key, &child_kind, &res);
    if (rc)
        return rc; /* noted */
    struct child *c = res;
    int st = 0;
    pthread_cleanup_push(end_unwound, c);
    rc = c->owner == getpid() ? reap(c, true, &st) : -ECHILD;
    pthread_cleanup_pop(0);
    if (c->pidfd >= 0)
        close(c->pidfd);
    rgn__free(c);
    if (rc < 0)
        return rgn__failed(rc, RGN_FROM_SYSTEM);
    if (status)
        *status = st;
    return 0;
}

/* ---- sockets ------------------------------------------------------------- */

static int close_socket(void *res, rgn_release_type how)
{
    (void)how;
    return close((int)(intptr_t)res) == 0 ? 0 : -errno;
}

/* An address as text ("127.0.0.1:8080", "[::1]:443", "/run/x.sock",
 * "@abstract"); false for an unbound one or an unknown family. */
static bool format_addr(const struct sockaddr_storage *ss, socklen_t len,
                        char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)ss;
        if (!in->sin_port && in->sin_addr.s_addr == htonl(INADDR_ANY))
            return false;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(buf, size, "%s:%u", host, (unsigned)ntohs(in->sin_port));
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)ss;
        if (!in6->sin6_port &&
            !memcmp(&in6->sin6_addr, &in6addr_any, sizeof in6addr_any))
            return false;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(buf, size, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
        return true;
    }
    if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const void *)ss;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        if (len <= off)
            return false; /* unnamed */
        size_t n = len - off;
        if (un->sun_path[0] == '\0') /* abstract: not NUL-terminated */
            snprintf(buf, size, "@%.*s", (int)(n - 1), un->sun_path + 1);
        else
            snprintf(buf, size, "%.*s", (int)strnlen(un->sun_path, n),
                     un->sun_path);
        return true;
    }
    return false;
}

static int describe_socket(void *res, char *buf, size_t size)
{
    int fd = (int)(intptr_t)res;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char addr[sizeof ss + 8];
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
        format_addr(&ss, len, addr, sizeof addr))
        return snprintf(buf, size, "socket fd %d -> %s", fd, addr);
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
        format_addr(&ss, len, addr, sizeof addr))
        return snprintf(buf, size, "socket fd %d on %s", fd, addr);
    return snprintf(buf, size, "socket fd %d", fd);
}

static const struct rgn_kind socket_kind = {
    .name = "socket", .cleanup = close_socket, .describe = describe_socket};

int rgn_socket_at(rgn_t *r, int domain, int type, int protocol, rgn_key_t *key,
                  const struct rgn_site *site)
{
    if (!r)
        return refuse(key, -EINVAL);
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return sys_failed(key, errno);
    int rc = adopt(r, &socket_kind, (void *)(intptr_t)fd, 0, key, "rgn_socket",
                   site);
    return rc ? rc : fd;
}

/* ---- directory streams --------------------------------------------------- */

static int close_dir(void *res, rgn_release_type how)
{
    (void)how;
    return closedir(res) == 0 ? 0 : -errno;
}

static int describe_dir(void *res, char *buf, size_t size)
{
    int fd = dirfd(res);
    char path[160];
    if (fd_target(fd, path, sizeof path) != 0)
        return snprintf(buf, size, "dir (fd %d)", fd);
    return snprintf(buf, size, "dir %s (fd %d)", path, fd);
}

static const struct rgn_kind dir_kind = {
    .name = "dir", .cleanup = close_dir, .describe = describe_dir};

DIR *rgn_opendir_at(rgn_t *r, const char *path, rgn_key_t *key,
                    const struct rgn_site *site)
{
    if (!r || !path)
        return refuse_null(key, EINVAL);
    int state = cancel_off();
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        cancel_back(state);
        return sys_failed_null(key, e);
    }
    int rc = adopt(r, &dir_kind, d, 0, key, "rgn_opendir", site);
    cancel_back(state);
    if (rc) {
        errno = -rc;
        return NULL;
    }
    return d;
}

/* ---- loaded libraries ---------------------------------------------------- */

struct library {
    void *handle;
    char name[]; /* what it was opened by */
};

static int close_library(void *res, rgn_release_type how)
{
    (void)how;
    struct library *l = res;
    int rc = dlclose(l->handle) == 0 ? 0 : -EINVAL;
    rgn__free(l);
    return rc;
}

static int describe_library(void *res, char *buf, size_t size)
{
    return snprintf(buf, size, "dlopen %s", ((struct library *)res)->name);
}

static const struct rgn_kind dlopen_kind = {
    .name = "dlopen", .cleanup = close_library, .describe = describe_library};

void *rgn_dlopen_at(rgn_t *r, const char *file, int mode, rgn_key_t *key,
                    const struct rgn_site *site)
{
    if (!r)
        return refuse_null(key, EINVAL);
    const char *name = file ? file : "(the program)";
    size_t n = strlen(name) + 1;
    struct library *l = rgn__malloc(sizeof *l + n);
    if (!l)
        return refuse_null(key, ENOMEM);
    memcpy(l->name, name, n);
    int state = cancel_off(); /* constructors run in there */
    l->handle = dlopen(file, mode);
    if (!l->handle) {
        cancel_back(state);
        rgn__free(l);
        return sys_failed_null(key, ELIBACC);
    }
    void *h = l->handle;
    int rc = adopt(r, &dlopen_kind, l, 0, key, "rgn_dlopen", site);
    cancel_back(state);
    if (rc) {
        errno = -rc;
        return NULL;
    }
    return h;
}

/* ---- lock guards --------------------------------------------------------- */

static int unlock_mutex(void *res, rgn_release_type how)
{
    (void)how;
    return -pthread_mutex_unlock(res);
}

static int describe_mutex(void *res, char *buf, size_t size)
{
    return snprintf(buf, size, "mutex %p locked", res);
}

static const struct rgn_kind mutex_kind = {
    .name = "mutex", .cleanup = unlock_mutex, .describe = describe_mutex};

int rgn_mutex_lock_at(rgn_t *r, pthread_mutex_t *m, rgn_key_t *key,
                      const struct rgn_site *site)
{
    if (!r || !m)
        return refuse(key, -EINVAL);
    int e = pthread_mutex_lock(m);
    if (e && e != EOWNERDEAD)
        return sys_failed(key, e);
    /* A registration that fails unlocks m again (the guard's cleanup). */
    int rc = adopt(r, &mutex_kind, m, 0, key, "rgn_mutex_lock", site);
    if (rc)
        return rc;
    return e ? rgn__failed(-e, RGN_FROM_SYSTEM) : 0;
}

/* ---- getline-style buffers ----------------------------------------------- */

/* The resource is the pointer variable; its value may change any time. */
static int free_buffer(void *res, rgn_release_type how)
{
    (void)how;
    void **pp = res;
    free(*pp);
    *pp = NULL;
    return 0;
}

/* Not the buffer's address: the variable's owner may replace it while a
 * report in another thread describes it. */
static int describe_buffer(void *res, char *buf, size_t size)
{
    return snprintf(buf, size, "buffer at %p", res);
}

static const struct rgn_kind buffer_kind = {
    .name = "buffer", .cleanup = free_buffer, .describe = describe_buffer};

int rgn_adopt_buffer_at(rgn_t *r, void *pp, rgn_key_t *key,
                        const struct rgn_site *site)
{
    if (!r || !pp)
        return refuse(key, -EINVAL);
    return adopt(r, &buffer_kind, pp, 0, key, "rgn_adopt_buffer", site);
}

/* ---- the function twins of the macros, which record no site ----------
 *
 * Last in the file: each #undef takes away the macro, so the definition
 * needs no parentheses around its name, and nothing after it could call
 * the twin where it meant the macro.
 */

#undef rgn_mkstemp
int rgn_mkstemp(rgn_t *r, char *tmpl, unsigned flags, rgn_key_t *key)
{
    return rgn_mkstemp_at(r, tmpl, flags, key, NULL);
}

#undef rgn_mkdtemp
char *rgn_mkdtemp(rgn_t *r, char *tmpl, unsigned flags, rgn_key_t *key)
{
    return rgn_mkdtemp_at(r, tmpl, flags, key, NULL);
}

#undef rgn_mmap
void *rgn_mmap(rgn_t *r, void *addr, size_t length, int prot, int flags,
               int fd, off_t offset, rgn_key_t *key)
{
    return rgn_mmap_at(r, addr, length, prot, flags, fd, offset, key, NULL);
}

#undef rgn_spawn
pid_t rgn_spawn(rgn_t *r, const char *path, char *const argv[],
                char *const envp[], const posix_spawn_file_actions_t *actions,
                const posix_spawnattr_t *attr, unsigned flags, rgn_key_t *key)
{
    return rgn_spawn_at(r, path, argv, envp, actions, attr, flags, key, NULL);
}

/* ---- forgetting in a forked child (exec.c) ------------------------------ */

static void forget_record(void *res)
{
    rgn__free(res);
}

rgn_forget_fn *rgn__ready_forget(rgn_cleanup_fn fn)
{
    /* The kinds whose resource is a record of rgn's. */
    static const struct rgn_kind *const recorded[] = {
        &tmpfile_kind, &tmpdir_kind, &child_kind, &dlopen_kind};
    for (size_t i = 0; i < sizeof recorded / sizeof *recorded; i++)
        if (recorded[i]->cleanup == fn)
            return forget_record;
    return NULL;
}

#undef rgn_socket
int rgn_socket(rgn_t *r, int domain, int type, int protocol, rgn_key_t *key)
{
    return rgn_socket_at(r, domain, type, protocol, key, NULL);
}

#undef rgn_opendir
DIR *rgn_opendir(rgn_t *r, const char *path, rgn_key_t *key)
{
    return rgn_opendir_at(r, path, key, NULL);
}

#undef rgn_dlopen
void *rgn_dlopen(rgn_t *r, const char *file, int mode, rgn_key_t *key)
{
    return rgn_dlopen_at(r, file, mode, key, NULL);
}

#undef rgn_mutex_lock
int rgn_mutex_lock(rgn_t *r, pthread_mutex_t *m, rgn_key_t *key)
{
    return rgn_mutex_lock_at(r, m, key, NULL);
}

#undef rgn_adopt_buffer
int rgn_adopt_buffer(rgn_t *r, void *pp, rgn_key_t *key)
{
    return rgn_adopt_buffer_at(r, pp, key, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * check_ready.c -- exec safety and the ready-made resources of
 * lib/ready.c: a forked child forgets what it inherited
 * (rgn_forget_for_exec, lib/exec.c) after the kinds' before_exec; an
 * exec'd program inherits only what the program handed on; and each
 * ready-made resource -- temporary files and directories, mappings,
 * child processes, sockets, directory streams, libraries, mutex guards,
 * getline buffers, RGN_AUTOFREE -- is given back at close, describes
 * itself, and on every failure registers and keeps nothing.
 */
#define _GNU_SOURCE 1
#include "helpers.h"
#include "suites.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

#define RUN_IN_CHILD(fn) ck_assert_int_eq(in_child(fn), 0)
/* An argument vector's string: posix_spawn takes char *, writes none. */
#define ARG(s) ((char *)(s))

/* ---- rgn_forget_for_exec ---------------------------------------------------- */

/* before_exec hooks note the probe's id; id 99 fails with -EIO. */
static int exec_log[64];
static int exec_n;

static int note_exec(void *res)
{
    struct probe *p = res;
    exec_log[exec_n++] = p->id;
    errno = EBADF; /* rgn keeps the caller's */
    return p->id == 99 ? -EIO : 0;
}

static const struct rgn_kind exec_kind = {
    .name = "exec", .cleanup = probe_cleanup, .before_exec = note_exec};
static const struct rgn_kind exec_early_kind = {.name = "exec-early",
                                                .cleanup = probe_cleanup,
                                                .priority =
                                                    RGN_PRIORITY_EARLY,
                                                .before_exec = note_exec};

static struct probe pa, pb, pc, e1, e2, e3, e4;
static rgn_t *inherited;

static void forget_the_inherited(void)
{
    exec_n = 0;
    CHILD_REQUIRE(rgn_forget_for_exec(inherited) == 0);
    /* Priority first, then newest first, children in their place. */
    CHILD_REQUIRE(exec_n == 4);
    CHILD_REQUIRE(exec_log[0] == e2.id && exec_log[1] == e4.id &&
                  exec_log[2] == e3.id && exec_log[3] == e1.id);
    CHILD_REQUIRE(run_count == 0); /* no cleanup ran */
    CHILD_REQUIRE(pa.runs + pb.runs + pc.runs + e1.runs + e4.runs == 0);
}

START_TEST(a_forked_child_runs_before_exec_and_no_cleanup)
{
    log_reset();
    exec_n = 0;
    struct probe *all[] = {&pa, &pb, &pc, &e1, &e2, &e3, &e4};
    for (int i = 0; i < 7; i++)
        probe_init(all[i], i + 1);
    rgn_t *r = inherited = rgn_new();
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &pa, NULL), 0);
    ck_assert_int_eq(rgn_register_kind(r, &exec_kind, &e1, NULL), 0);
    rgn_t *c = rgn_new_child(r);
    ck_assert_int_eq(rgn_register_kind(c, &exec_kind, &e3, NULL), 0);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &pc, NULL), 0);
    rgn_t *g = rgn_new_child(c);
    ck_assert_int_eq(rgn_register_kind(g, &exec_kind, &e4, NULL), 0);
    ck_assert_int_eq(rgn_register_kind(r, &exec_early_kind, &e2, NULL), 0);
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &pb, NULL), 0);
    RUN_IN_CHILD(forget_the_inherited);
    /* The parent's region is its own: nothing happened to it. */
    ck_assert_int_eq(exec_n, 0);
    ck_assert_int_eq(run_count, 0);
    ck_assert_uint_eq(rgn_live(r), 5);
    ck_assert_int_eq(rgn_close(r), 0);
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(all[i]->runs, 1);
    ck_assert_int_eq(exec_n, 0); /* a close runs no before_exec */
}
END_TEST

static rgn_t *parent_of, *child_of;
static struct probe p1, p2, c1;

static void forget_a_child(void)
{
    CHILD_REQUIRE(rgn_forget_for_exec(child_of) == 0);
    CHILD_REQUIRE(rgn_live(parent_of) == 2);
    CHILD_REQUIRE(rgn_close(parent_of) == 0);
    CHILD_REQUIRE(p1.runs == 1 && p2.runs == 1 && c1.runs == 0);
}

START_TEST(a_forgotten_child_leaves_its_parent)
{
    probe_init(&p1, 1);
    probe_init(&p2, 2);
    probe_init(&c1, 3);
    parent_of = rgn_new();
    ck_assert_int_eq(rgn_register(parent_of, probe_cleanup, &p1, NULL), 0);
    child_of = rgn_new_child(parent_of);
    ck_assert_int_eq(rgn_register(child_of, probe_cleanup, &c1, NULL), 0);
    ck_assert_int_eq(rgn_register(parent_of, probe_cleanup, &p2, NULL), 0);
    RUN_IN_CHILD(forget_a_child);
    ck_assert_int_eq(rgn_close(parent_of), 0);
    ck_assert_int_eq(p1.runs + p2.runs + c1.runs, 3);
}
END_TEST

/* 100,000 nested children, forgotten by a thread with 256 KB of stack:
 * a walk that recursed once per level would overflow it. */
#define DEEP 100000
static struct probe deep_probe, deep_exec;

static void *forget_deep(void *root)
{
    return (void *)(intptr_t)rgn_forget_for_exec(root);
}

START_TEST(a_chain_of_100k_children_is_forgotten_in_constant_stack)
{
    probe_init(&deep_probe, 1);
    probe_init(&deep_exec, 2);
    exec_n = 0;
    rgn_t *root = rgn_new(), *r = root;
    int bad = 0;
    for (int i = 0; i < DEEP && r; i++) {
        bad += rgn_register(r, probe_cleanup, &deep_probe, NULL) != 0;
        r = rgn_new_child(r);
    }
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(rgn_register_kind(r, &exec_kind, &deep_exec, NULL), 0);
    pthread_attr_t a;
    pthread_attr_init(&a);
    ck_assert_int_eq(pthread_attr_setstacksize(&a, 256 * 1024), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, &a, forget_deep, root), 0);
    void *rc;
    ck_assert_int_eq(pthread_join(t, &rc), 0);
    pthread_attr_destroy(&a);
    ck_assert_int_eq((int)(intptr_t)rc, 0);
    ck_assert_int_eq(exec_n, 1);
    ck_assert_int_eq(deep_probe.runs + deep_exec.runs, 0);
}
END_TEST

struct self_forget {
    rgn_t *r;
    int rc;
};

static int forget_from_cleanup(void *arg, rgn_release_type how)
{
    (void)how;
    struct self_forget *f = arg;
    f->rc = rgn_forget_for_exec(f->r);
    return 0;
}

START_TEST(forgetting_null_or_a_closing_region_is_refused)
{
    ck_assert_int_eq(rgn_forget_for_exec(NULL), -EINVAL);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_RGN);
    struct probe p;
    probe_init(&p, 1);
    for (int clear = 0; clear < 2; clear++) {
        struct self_forget f = {rgn_new(), 1};
        p.runs = 0;
        ck_assert_int_eq(rgn_register(f.r, probe_cleanup, &p, NULL), 0);
        ck_assert_int_eq(rgn_register(f.r, forget_from_cleanup, &f, NULL), 0);
        ck_assert_int_eq(clear ? rgn_clear(f.r) : rgn_close(f.r), 0);
        ck_assert_int_eq(f.rc, -ECANCELED);
        ck_assert_int_eq(p.runs, 1); /* the close or clear went on */
        if (clear)
            ck_assert_int_eq(rgn_close(f.r), 0);
    }
}
END_TEST

/* A before_exec that calls rgn on its region finds it closing. */
static struct probe late_probe;
static int late_rc;
static rgn_t *forgetting;

static int register_late(void *res)
{
    (void)res;
    late_rc = rgn_register(forgetting, probe_cleanup, &late_probe, NULL);
    return 0;
}

static const struct rgn_kind calling_kind = {
    .name = "calling", .cleanup = probe_cleanup, .before_exec = register_late};

static struct probe x1, x99, x2, x3;

static void forget_with_failures(void)
{
    exec_n = 0;
    errno = 1234;
    CHILD_REQUIRE(rgn_forget_for_exec(forgetting) == -EIO);
    CHILD_REQUIRE(errno == 1234);
    CHILD_REQUIRE(rgn_error_origin() == RGN_FROM_CLEANUP);
    CHILD_REQUIRE(exec_n == 3); /* the failure stopped none */
    CHILD_REQUIRE(late_rc == -ECANCELED && late_probe.runs == 1);
    CHILD_REQUIRE(x1.runs + x99.runs + x2.runs + x3.runs == 0);
}

START_TEST(before_exec_results_and_calls)
{
    probe_init(&x1, 1);
    probe_init(&x99, 99);
    probe_init(&x2, 2);
    probe_init(&x3, 3);
    probe_init(&late_probe, 4);
    forgetting = rgn_new();
    ck_assert_int_eq(rgn_register_kind(forgetting, &exec_kind, &x1, NULL), 0);
    ck_assert_int_eq(rgn_register_kind(forgetting, &exec_kind, &x99, NULL),
                     0);
    ck_assert_int_eq(rgn_register_kind(forgetting, &calling_kind, &x3, NULL),
                     0);
    ck_assert_int_eq(rgn_register_kind(forgetting, &exec_kind, &x2, NULL), 0);
    RUN_IN_CHILD(forget_with_failures);
    ck_assert_int_eq(rgn_close(forgetting), 0);
    ck_assert_int_eq(x1.runs + x99.runs + x2.runs + x3.runs, 4);
}
END_TEST

/* An audited region the child inherited, shared in the parent: forgotten
 * whatever its references, reported by nobody, and kept to catch a use
 * after it. */
static rgn_t *audited_inherited;
static struct probe leaked;

static void forget_audited(void)
{
    static struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    CHILD_REQUIRE(rgn_forget_for_exec(audited_inherited) == 0);
    CHILD_REQUIRE(rgn_audit_report_open() == 0);
    CHILD_REQUIRE(count_lines(c.text, "rgn: leak", NULL) == 0);
    CHILD_REQUIRE(rgn_close(audited_inherited) == -ECANCELED);
    CHILD_REQUIRE(count_lines(c.text, "rgn: use after close: ", NULL) == 1);
    CHILD_REQUIRE(leaked.runs == 0);
}

START_TEST(an_audited_shared_region_is_forgotten_unreported)
{
    probe_init(&leaked, 1);
    audited_inherited = rgn_new();
    ck_assert_int_eq(rgn_audit_set(audited_inherited, RGN_AUDIT_REPORT), 0);
    ck_assert_int_eq(
        rgn_register(audited_inherited, probe_cleanup, &leaked, NULL), 0);
    ck_assert_ptr_eq(rgn_share(audited_inherited), audited_inherited);
    RUN_IN_CHILD(forget_audited);
    /* The parent's two references: the first drop runs nothing, the
     * last closes the owner, which reports its leak. */
    ck_assert_int_eq(rgn_close(audited_inherited), 0);
    ck_assert_int_eq(leaked.runs, 0);
    static struct capture c;
    rgn_audit_set_sink(rgn_ck_buf_sink, capturing(&c));
    ck_assert_int_eq(rgn_close(audited_inherited), 0);
    rgn_audit_set_sink(NULL, NULL);
    ck_assert_int_eq(leaked.runs, 1);
    ck_assert_int_eq(count_lines(c.text, "rgn: leak: ", NULL), 1);
}
END_TEST

/* A resource with a before_exec keeps its kind when it moves into a
 * region that remembered none (tests/check_kind.c has the priority). */
static rgn_t *moved_to;
static struct probe m1;

static void forget_moved(void)
{
    exec_n = 0;
    CHILD_REQUIRE(rgn_forget_for_exec(moved_to) == 0);
    CHILD_REQUIRE(exec_n == 1 && exec_log[0] == m1.id);
    CHILD_REQUIRE(m1.runs == 0);
}

START_TEST(a_move_keeps_a_before_exec)
{
    probe_init(&m1, 1);
    rgn_t *from = rgn_new();
    moved_to = rgn_new();
    rgn_key_t k, moved;
    ck_assert_int_eq(rgn_register_kind(from, &exec_kind, &m1, &k), 0);
    ck_assert_int_eq(rgn_move(from, k, moved_to, &moved), 0);
    ck_assert_ptr_eq(rgn_kind_of(moved_to, moved), &exec_kind);
    RUN_IN_CHILD(forget_moved);
    ck_assert_int_eq(rgn_close(moved_to), 0);
    ck_assert_int_eq(m1.runs, 1);
    ck_assert_int_eq(rgn_close(from), 0);
}
END_TEST

/* ---- helpers ------------------------------------------------------------- */

/* A scope that keeps records, so that a dump shows what describe says;
 * a scope's close reports nothing. */
static rgn_t *watched(void)
{
    rgn_t *r = rgn_new_scope();
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(rgn_audit_set(r, RGN_AUDIT_REPORT), 0);
    return r;
}

/* r's dump names a resource as want. */
static void assert_described(rgn_t *r, const char *want)
{
    static struct capture c;
    ck_assert_int_ge(rgn_audit_dump(r, rgn_ck_buf_sink, capturing(&c)), 0);
    ck_assert_msg(count_lines(c.text, "rgn: live: ", want, NULL) == 1,
                  "no live line with \"%s\" in:\n%s", want, c.text);
}

static bool cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    ck_assert_int_ge(flags, 0);
    return (flags & FD_CLOEXEC) != 0;
}

static bool fd_closed(int fd)
{
    return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/* The descriptor the next open would get: one that leaked shows. */
static int lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    close(fd);
    return fd;
}

static void tmp_template(char *buf, size_t n, const char *what)
{
    const char *dir = getenv("TMPDIR");
    snprintf(buf, n, "%s/rgn-%s.XXXXXX", dir && *dir ? dir : "/tmp", what);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* valgrind runs glibc's vfork-like clone of posix_spawn as a fork: the
 * parent never hears that the exec failed. */
static bool under_valgrind(void)
{
#ifdef RUNNING_ON_VALGRIND
    return RUNNING_ON_VALGRIND;
#else
    return false;
#endif
}

/* Whether any mapping of the process covers p, from /proc/self/maps
 * (a system call on an unmapped address is an error to valgrind). */
static bool mapped(const void *p)
{
    FILE *f = fopen("/proc/self/maps", "re");
    ck_assert_ptr_nonnull(f);
    uintptr_t a = (uintptr_t)p, lo, hi;
    bool found = false;
    char line[512];
    while (!found && fgets(line, sizeof line, f))
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2)
            found = lo <= a && a < hi;
    fclose(f);
    return found;
}

/* No child process is left unreaped. */
static bool no_children(void)
{
    return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

/* A region closing runs this cleanup, which tries a ready-made call on
 * the closing region: each must be refused and give back what it made. */
struct while_closing {
    rgn_t *r;
    int (*attempt)(struct while_closing *w);
    int rc;
    char path[256];
    pid_t pid;
};

static int attempt_while_closing(void *arg, rgn_release_type how)
{
    (void)how;
    struct while_closing *w = arg;
    w->rc = w->attempt(w);
    return 0;
}

/* Runs w->attempt from a cleanup of a closing region; returns its
 * result. */
static int refused_while_closing(struct while_closing *w)
{
    w->r = rgn_new();
    ck_assert_ptr_nonnull(w->r);
    ck_assert_int_eq(rgn_register(w->r, attempt_while_closing, w, NULL), 0);
    ck_assert_int_eq(rgn_close(w->r), 0);
    return w->rc;
}

/* ---- what an exec inherits ------------------------------------------------ */

/* Runs "test -e /proc/self/fd/FD" in a program rgn_spawn execs: 0 when
 * the descriptor reached it. */
static int seen_by_an_exec(rgn_t *r, int fd)
{
    char script[64];
    snprintf(script, sizeof script, "test -e /proc/self/fd/%d", fd);
    char *argv[] = {ARG("sh"), ARG("-c"), script, NULL};
    rgn_key_t k;
    pid_t pid = rgn_spawn(r, "/bin/sh", argv, NULL, NULL, NULL, 0, &k);
    ck_assert_int_gt(pid, 0);
    int status = -1;
    ck_assert_int_eq(rgn_spawn_wait(r, k, &status), 0);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* A program exec'd meanwhile does not inherit what rgn opened, unless the
 * program cleared the flag to hand it on. */
START_TEST(an_exec_inherits_only_what_the_program_hands_on)
{
    rgn_t *r = rgn_new();
    int kept = rgn_open(r, "/dev/null", O_RDONLY, 0, NULL);
    int passed = rgn_open(r, "/dev/null", O_RDONLY, 0, NULL);
    ck_assert_int_ge(kept, 0);
    ck_assert_int_ge(passed, 0);
    ck_assert_int_eq(fcntl(passed, F_SETFD, 0), 0);
    ck_assert_int_ne(seen_by_an_exec(r, kept), 0);
    ck_assert_int_eq(seen_by_an_exec(r, passed), 0);
    FILE *f = rgn_fopen(r, "/dev/null", "r", NULL);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ne(seen_by_an_exec(r, fileno(f)), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* ---- temporary files and directories --------------------------------------- */

START_TEST(a_temporary_file_is_removed_at_close_unless_kept)
{
    rgn_t *r = watched();
    char t[256], kept[256], moved[300];
    tmp_template(t, sizeof t, "file");
    rgn_key_t k;
    int fd = rgn_mkstemp(r, t, 0, &k);
    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_null(strstr(t, "XXXXXX"));
    struct stat st;
    ck_assert_int_eq(stat(t, &st), 0);
    ck_assert(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
    ck_assert(cloexec(fd));
    ck_assert_int_eq(write(fd, "x", 1), 1);
    char want[400];
    snprintf(want, sizeof want, ": tmpfile %s (fd %d)", t, fd);
    assert_described(r, want);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert(!exists(t) && fd_closed(fd));

    tmp_template(kept, sizeof kept, "kept");
    fd = rgn_mkstemp(r, kept, RGN_TMP_KEEP, NULL);
    ck_assert_int_ge(fd, 0);
    /* Renamed away: not an error, and the new name stays. */
    tmp_template(t, sizeof t, "moved");
    ck_assert_int_ge(rgn_mkstemp(r, t, 0, NULL), 0);
    snprintf(moved, sizeof moved, "%s.moved", t);
    ck_assert_int_eq(rename(t, moved), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert(exists(kept) && fd_closed(fd) && exists(moved));
    unlink(kept);
    unlink(moved);
}
END_TEST

static int mkstemp_closing(struct while_closing *w)
{
    tmp_template(w->path, sizeof w->path, "closing");
    return rgn_mkstemp(w->r, w->path, RGN_TMP_KEEP, NULL);
}

static int mkdtemp_closing(struct while_closing *w)
{
    tmp_template(w->path, sizeof w->path, "closing-dir");
    return rgn_mkdtemp(w->r, w->path, RGN_TMP_KEEP, NULL) ? 0 : -errno;
}

START_TEST(a_temporary_file_that_cannot_be_made_or_kept_leaves_nothing)
{
    rgn_t *r = rgn_new();
    int fd0 = lowest_free_fd();
    char t[256];
    tmp_template(t, sizeof t, "bad");
    rgn_key_t k = {1, 1, 1};
    ck_assert_int_eq(rgn_mkstemp(NULL, t, 0, &k), -EINVAL);
    ck_assert(rgn_key_is_none(k));
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_RGN);
    ck_assert_int_eq(rgn_mkstemp(r, NULL, 0, NULL), -EINVAL);
    ck_assert_int_eq(rgn_mkstemp(r, t, 2, NULL), -EINVAL);
    ck_assert_ptr_null(rgn_mkdtemp(r, t, 2, NULL));
    ck_assert_int_eq(errno, EINVAL);
    char no_x[] = "/tmp/rgn-no-x";
    ck_assert_int_eq(rgn_mkstemp(r, no_x, 0, NULL), -EINVAL);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_SYSTEM);
    char nowhere[] = "/nonexistent/rgn/dir.XXXXXX";
    ck_assert_int_eq(rgn_mkstemp(r, nowhere, 0, NULL), -ENOENT);
    ck_assert_ptr_null(rgn_mkdtemp(r, nowhere, 0, NULL));
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_uint_eq(rgn_live(r), 0);
    /* Refused by a closing region: removed, RGN_TMP_KEEP or not. */
    struct while_closing w = {NULL, mkstemp_closing, 0, "", 0};
    ck_assert_int_eq(refused_while_closing(&w), -ECANCELED);
    ck_assert_ptr_null(strstr(w.path, "XXXXXX"));
    ck_assert(!exists(w.path));
    w.attempt = mkdtemp_closing;
    ck_assert_int_eq(refused_while_closing(&w), -ECANCELED);
    ck_assert(!exists(w.path));
    ck_assert_int_eq(lowest_free_fd(), fd0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

static void make_file(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "data", 4), 4);
    close(fd);
}

static void make_dir(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ck_assert_int_eq(mkdir(p, 0700), 0);
}

static void make_link(const char *dir, const char *name, const char *to)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ck_assert_int_eq(symlink(to, p), 0);
}

START_TEST(a_temporary_directory_goes_with_all_it_holds_never_beyond)
{
    rgn_t *r = watched();
    rgn_t *outside = rgn_new();
    char out[256], out_file[300], t[256], inner[300];
    tmp_template(out, sizeof out, "outside");
    ck_assert_ptr_eq(rgn_mkdtemp(outside, out, 0, NULL), out);
    make_file(out, "precious");
    snprintf(out_file, sizeof out_file, "%s/precious", out);

    tmp_template(t, sizeof t, "dir");
    rgn_key_t k;
    ck_assert_ptr_eq(rgn_mkdtemp(r, t, 0, &k), t);
    struct stat st;
    ck_assert_int_eq(stat(t, &st), 0);
    ck_assert(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
    make_file(t, "a");
    make_dir(t, "sub");
    snprintf(inner, sizeof inner, "%s/sub", t);
    make_file(inner, "b");
    make_dir(inner, "deeper");
    make_link(t, "to-file", out_file);
    make_link(t, "to-dir", out);
    char want[400];
    snprintf(want, sizeof want, ": tmpdir %s", t);
    assert_described(r, want);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert(!exists(t));
    ck_assert(exists(out_file)); /* links removed, not followed */

    tmp_template(t, sizeof t, "kept-dir");
    ck_assert_ptr_eq(rgn_mkdtemp(r, t, RGN_TMP_KEEP, NULL), t);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert(exists(t));
    ck_assert_int_eq(rmdir(t), 0);
    ck_assert_int_eq(rgn_close(outside), 0);
    ck_assert(!exists(out));
}
END_TEST

/* A forked child closing an inherited region removes none of its
 * parent's files. */
static rgn_t *tmp_owner;

static void close_inherited(void)
{
    CHILD_REQUIRE(rgn_close(tmp_owner) == 0);
}

START_TEST(a_forked_child_leaves_its_parent_s_temporary_files)
{
    tmp_owner = rgn_new();
    char f[256], d[256];
    tmp_template(f, sizeof f, "parent-file");
    tmp_template(d, sizeof d, "parent-dir");
    int fd = rgn_mkstemp(tmp_owner, f, 0, NULL);
    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_nonnull(rgn_mkdtemp(tmp_owner, d, 0, NULL));
    make_file(d, "x");
    RUN_IN_CHILD(close_inherited);
    ck_assert(exists(f) && exists(d) && !fd_closed(fd));
    ck_assert_int_eq(rgn_close(tmp_owner), 0);
    ck_assert(!exists(f) && !exists(d));
}
END_TEST

/* ---- mappings --------------------------------------------------------------- */

START_TEST(a_mapping_is_unmapped_at_close_and_counted_in_bytes)
{
    rgn_t *r = watched();
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    rgn_key_t k;
    char *m = rgn_mmap(r, NULL, 2 * pg, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, &k);
    ck_assert_ptr_nonnull(m);
    m[0] = 1;
    m[2 * pg - 1] = 2;
    rgn_stats st;
    ck_assert_int_eq(rgn_get_stats(r, &st), 0);
    ck_assert_uint_eq(st.bytes, 2 * pg);
    char want[128];
    snprintf(want, sizeof want, ": mmap %zu B at %p", 2 * pg, (void *)m);
    assert_described(r, want);
    ck_assert(mapped(m) && mapped(m + 2 * pg - 1));
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert(!mapped(m) && !mapped(m + 2 * pg - 1));

    errno = 0;
    ck_assert_ptr_null(rgn_mmap(NULL, NULL, pg, PROT_READ,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, &k));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert(rgn_key_is_none(k));
    ck_assert_ptr_null(rgn_mmap(r, NULL, 0, PROT_READ,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_SYSTEM);
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* ---- child processes ------------------------------------------------------- */

static char *sleep_argv[] = {ARG("sleep"), ARG("100"), NULL};

/* pid was reaped (by rgn): nobody can wait for it any more. */
static bool reaped(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == -1 && errno == ECHILD;
}

START_TEST(a_child_process_is_ended_and_reaped_at_close)
{
    rgn_t *r = watched();
    rgn_key_t k;
    pid_t pid = rgn_spawn(r, "sleep", sleep_argv, NULL, NULL, NULL,
                          RGN_SPAWN_PATH, &k);
    ck_assert_int_gt(pid, 0);
    char want[64];
    snprintf(want, sizeof want, ": child pid %ld (sleep)", (long)pid);
    assert_described(r, want);
    ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), 0); /* it runs */
    ck_assert_int_eq(rgn_release(r, k), 0);           /* SIGTERM */
    ck_assert(reaped(pid));

    /* One that ignores SIGTERM is killed once the wait is over. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    ck_assert_int_eq(sigaction(SIGTERM, &ign, &old), 0);
    pid = rgn_spawn(r, "/bin/sleep", sleep_argv, NULL, NULL, NULL, 0, &k);
    ck_assert_int_eq(sigaction(SIGTERM, &old, NULL), 0);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(rgn_spawn_stop(r, k, SIGTERM, 20), 0);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert(reaped(pid));

    /* No signal and no wait: SIGKILL at once. */
    pid = rgn_spawn(r, "/bin/sleep", sleep_argv, NULL, NULL, NULL, 0, &k);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(rgn_spawn_stop(r, k, 0, 0), 0);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert(reaped(pid));

    /* Ended already, or reaped behind rgn's back: nothing to signal. */
    char *quick[] = {ARG("sh"), ARG("-c"), ARG("exit 0"), NULL};
    pid = rgn_spawn(r, "/bin/sh", quick, NULL, NULL, NULL, 0, &k);
    ck_assert_int_gt(pid, 0);
    siginfo_t si;
    ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert(reaped(pid));
    pid = rgn_spawn(r, "/bin/sh", quick, NULL, NULL, NULL, 0, &k);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    ck_assert_int_eq(rgn_release(r, k), 0);

    /* Left to the close. */
    pid = rgn_spawn(r, "/bin/sleep", sleep_argv, NULL, NULL, NULL, 0, NULL);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert(reaped(pid) && no_children());
}
END_TEST

START_TEST(spawn_wait_gives_the_status_and_forgets_the_child)
{
    rgn_t *r = rgn_new();
    char *argv[] = {ARG("sh"), ARG("-c"), ARG("exit 3"), NULL};
    char *envp[] = {ARG("RGN_READY=1"), NULL};
    rgn_key_t k;
    pid_t pid = rgn_spawn(r, "/bin/sh", argv, envp, NULL, NULL, 0, &k);
    ck_assert_int_gt(pid, 0);
    int status = 0;
    ck_assert_int_eq(rgn_spawn_wait(r, k, &status), 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    ck_assert_int_eq(rgn_release(r, k), -ENOENT);
    ck_assert_uint_eq(rgn_live(r), 0);
    /* The environment given is the child's. */
    char *check[] = {ARG("sh"), ARG("-c"), ARG("test \"$RGN_READY\" = 1"), NULL};
    pid = rgn_spawn(r, "/bin/sh", check, envp, NULL, NULL, 0, &k);
    ck_assert_int_eq(rgn_spawn_wait(r, k, &status), 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Killed: the signal is in the status. */
    pid = rgn_spawn(r, "/bin/sleep", sleep_argv, NULL, NULL, NULL, 0, &k);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(rgn_spawn_wait(r, k, NULL), 0);
    ck_assert(reaped(pid));
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

static int spawn_closing(struct while_closing *w)
{
    pid_t pid = rgn_spawn(w->r, "/bin/sleep", sleep_argv, NULL, NULL, NULL, 0,
                          NULL);
    return pid < 0 ? pid : 0;
}

START_TEST(bad_spawns_are_refused_and_a_refused_child_is_ended)
{
    rgn_t *r = rgn_new();
    rgn_key_t k = {1, 1, 1};
    ck_assert_int_eq(rgn_spawn(NULL, "/bin/true", sleep_argv, NULL, NULL,
                               NULL, 0, &k),
                     -EINVAL);
    ck_assert(rgn_key_is_none(k));
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_RGN);
    ck_assert_int_eq(
        rgn_spawn(r, NULL, sleep_argv, NULL, NULL, NULL, 0, NULL), -EINVAL);
    ck_assert_int_eq(rgn_spawn(r, "/bin/true", NULL, NULL, NULL, NULL, 0, NULL),
                     -EINVAL);
    ck_assert_int_eq(
        rgn_spawn(r, "/bin/true", sleep_argv, NULL, NULL, NULL, 2, NULL),
        -EINVAL);
    rgn_key_t gone;
    pid_t none = rgn_spawn(r, "/nonexistent/rgn-program", sleep_argv, NULL,
                           NULL, NULL, 0, &gone);
    if (under_valgrind()) { /* a child that could not exec: it ends */
        ck_assert_int_gt(none, 0);
        int status = 0;
        ck_assert_int_eq(rgn_spawn_wait(r, gone, &status), 0);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 127);
    } else {
        ck_assert_int_eq(none, -ENOENT);
        ck_assert_int_eq(rgn_error_origin(), RGN_FROM_SYSTEM);
    }
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert(no_children());

    /* Stop and wait, asked of what is no child process. */
    struct probe p;
    probe_init(&p, 1);
    rgn_key_t pk;
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, &pk), 0);
    ck_assert_int_eq(rgn_spawn_stop(NULL, pk, SIGTERM, 1), -EINVAL);
    ck_assert_int_eq(rgn_spawn_stop(r, pk, -1, 1), -EINVAL);
    ck_assert_int_eq(rgn_spawn_stop(r, pk, 100000, 1), -EINVAL);
    ck_assert_int_eq(rgn_spawn_stop(r, pk, SIGTERM, 1), -EPROTOTYPE);
    ck_assert_int_eq(rgn_spawn_stop(r, RGN_KEY_NONE, SIGTERM, 1), -ENOENT);
    ck_assert_int_eq(rgn_spawn_wait(r, pk, NULL), -EPROTOTYPE);
    ck_assert_int_eq(rgn_spawn_wait(r, RGN_KEY_NONE, NULL), -ENOENT);
    ck_assert_int_eq(rgn_spawn_wait(NULL, pk, NULL), -EINVAL);
    ck_assert_int_eq(p.runs, 0);

    /* Refused by a closing region: the child it started is ended. */
    struct while_closing w = {NULL, spawn_closing, 0, "", 0};
    ck_assert_int_eq(refused_while_closing(&w), -ECANCELED);
    ck_assert(no_children());
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* A forked child that closes an inherited region leaves its parent's
 * child processes alone. */
static rgn_t *spawner;

static void close_spawner(void)
{
    CHILD_REQUIRE(rgn_close(spawner) == 0);
}

START_TEST(a_forked_child_leaves_its_parent_s_children_alone)
{
    spawner = rgn_new();
    pid_t pid =
        rgn_spawn(spawner, "/bin/sleep", sleep_argv, NULL, NULL, NULL, 0, NULL);
    ck_assert_int_gt(pid, 0);
    RUN_IN_CHILD(close_spawner);
    ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), 0); /* still runs */
    ck_assert_int_eq(rgn_close(spawner), 0);
    ck_assert(reaped(pid));
}
END_TEST

/* A thread cancelled while it waits for its child ends the child. */
struct waiter {
    rgn_t *r;
    rgn_key_t k;
};

static void *wait_for_child(void *arg)
{
    struct waiter *w = arg;
    int status;
    rgn_spawn_wait(w->r, w->k, &status);
    return NULL;
}

START_TEST(a_cancelled_spawn_wait_ends_the_child)
{
    struct waiter w = {rgn_new(), RGN_KEY_NONE};
    pid_t pid =
        rgn_spawn(w.r, "/bin/sleep", sleep_argv, NULL, NULL, NULL, 0, &w.k);
    ck_assert_int_gt(pid, 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, wait_for_child, &w), 0);
    ck_assert_int_eq(pthread_cancel(t), 0);
    void *ret;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_ptr_eq(ret, PTHREAD_CANCELED);
    ck_assert(reaped(pid));
    ck_assert_uint_eq(rgn_live(w.r), 0);
    ck_assert_int_eq(rgn_close(w.r), 0);
}
END_TEST

/* ---- sockets ------------------------------------------------------------ */

START_TEST(a_socket_is_closed_at_close_and_names_its_addresses)
{
    rgn_t *r = watched();
    rgn_key_t kl, kc;
    int l = rgn_socket(r, AF_INET, SOCK_STREAM, 0, &kl);
    ck_assert_int_ge(l, 0);
    ck_assert(cloexec(l));
    char want[128];
    snprintf(want, sizeof want, ": socket fd %d", l);
    assert_described(r, want); /* unbound: only the descriptor */
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(l, 1), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
    unsigned port = ntohs(a.sin_port);
    snprintf(want, sizeof want, ": socket fd %d on 127.0.0.1:%u", l, port);
    assert_described(r, want);
    int c = rgn_socket(r, AF_INET, SOCK_STREAM, 0, &kc);
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    snprintf(want, sizeof want, ": socket fd %d -> 127.0.0.1:%u", c, port);
    assert_described(r, want);

    int u = rgn_socket(r, AF_UNIX, SOCK_DGRAM, 0, NULL);
    ck_assert_int_ge(u, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    char name[64];
    int n = snprintf(name, sizeof name, "rgn-ready-%ld", (long)getpid());
    memcpy(un.sun_path + 1, name, (size_t)n);
    ck_assert_int_eq(bind(u, (struct sockaddr *)&un,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                      1 + (size_t)n)),
                     0);
    snprintf(want, sizeof want, ": socket fd %d on @%s", u, name);
    assert_described(r, want);

    ck_assert_int_eq(rgn_release(r, kc), 0);
    ck_assert(fd_closed(c));
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert(fd_closed(l) && fd_closed(u));

    rgn_key_t k = {1, 1, 1};
    r = rgn_new();
    ck_assert_int_eq(rgn_socket(NULL, AF_INET, SOCK_STREAM, 0, &k), -EINVAL);
    ck_assert(rgn_key_is_none(k));
    ck_assert_int_eq(rgn_socket(r, 12345, SOCK_STREAM, 0, NULL),
                     -EAFNOSUPPORT);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_SYSTEM);
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* ---- directory streams ------------------------------------------------------ */

static int opendir_closing(struct while_closing *w)
{
    return rgn_opendir(w->r, "/", NULL) ? 0 : -errno;
}

START_TEST(a_directory_stream_is_closed_at_close)
{
    rgn_t *r = watched();
    int fd0 = lowest_free_fd();
    rgn_key_t k;
    DIR *d = rgn_opendir(r, "/", &k);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(readdir(d));
    int fd = dirfd(d);
    ck_assert(cloexec(fd));
    char want[64];
    snprintf(want, sizeof want, ": dir / (fd %d)", fd);
    assert_described(r, want);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert(fd_closed(fd));

    errno = 0;
    ck_assert_ptr_null(rgn_opendir(NULL, "/", &k));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert(rgn_key_is_none(k));
    ck_assert_ptr_null(rgn_opendir(r, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(rgn_opendir(r, "/nonexistent/rgn", NULL));
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_SYSTEM);
    ck_assert_ptr_null(rgn_opendir(r, "/dev/null", NULL));
    ck_assert_int_eq(errno, ENOTDIR);
    struct while_closing w = {NULL, opendir_closing, 0, "", 0};
    ck_assert_int_eq(refused_while_closing(&w), -ECANCELED);
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(lowest_free_fd(), fd0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* ---- loaded libraries -------------------------------------------------------- */

/* tests/ready_module.c, built as a module beside the tests; NULL where
 * the build makes no shared libraries. */
static const char *module_path(void)
{
    static char path[4096];
    const char *b = getenv("top_builddir");
    snprintf(path, sizeof path, "%s/tests/.libs/ready_module.so",
             b ? b : ".");
    return access(path, R_OK) == 0 ? path : NULL;
}

START_TEST(a_library_is_closed_at_close)
{
    rgn_t *r = watched();
    rgn_key_t k;
    const char *path = module_path();
    if (path) {
        void *h = rgn_dlopen(r, path, RTLD_NOW, &k);
        ck_assert_ptr_nonnull(h);
        int (*answer)(void);
        *(void **)&answer = dlsym(h, "ready_module_answer");
        ck_assert_ptr_nonnull(answer);
        ck_assert_int_eq(answer(), 42);
        char want[4200];
        snprintf(want, sizeof want, ": dlopen %s", path);
        assert_described(r, want);
        ck_assert_int_eq(rgn_release(r, k), 0);
        ck_assert_ptr_null(dlopen(path, RTLD_NOW | RTLD_NOLOAD));
    }
    ck_assert_ptr_nonnull(rgn_dlopen(r, NULL, RTLD_NOW, NULL));
    assert_described(r, ": dlopen (the program)");

    errno = 0;
    ck_assert_ptr_null(rgn_dlopen(NULL, NULL, RTLD_NOW, &k));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert(rgn_key_is_none(k));
    ck_assert_ptr_null(
        rgn_dlopen(r, "/nonexistent/librgn-none.so", RTLD_NOW, NULL));
    ck_assert_int_eq(errno, ELIBACC);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_SYSTEM);
    ck_assert_ptr_nonnull(dlerror());
    ck_assert_uint_eq(rgn_live(r), 1);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* ---- lock guards ------------------------------------------------------------- */

static pthread_mutex_t guarded = PTHREAD_MUTEX_INITIALIZER;
static int held_at_cleanup = -1;

/* Registered after the guard: its cleanup runs while the lock is held. */
static int look_at_the_lock(void *arg, rgn_release_type how)
{
    (void)how;
    held_at_cleanup = pthread_mutex_trylock(arg) == EBUSY;
    return 0;
}

static int lock_closing(struct while_closing *w)
{
    return rgn_mutex_lock(w->r, &guarded, NULL);
}

static void *lock_and_die(void *m)
{
    pthread_mutex_lock(m);
    return NULL; /* the owner dies holding it */
}

START_TEST(a_lock_guard_lets_go_after_what_came_after_it)
{
    rgn_t *r = watched();
    rgn_key_t k;
    ck_assert_int_eq(rgn_mutex_lock(r, &guarded, &k), 0);
    ck_assert_int_eq(pthread_mutex_trylock(&guarded), EBUSY);
    char want[64];
    snprintf(want, sizeof want, ": mutex %p locked", (void *)&guarded);
    assert_described(r, want);
    ck_assert_int_eq(rgn_register(r, look_at_the_lock, &guarded, NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(held_at_cleanup, 1);
    ck_assert_int_eq(pthread_mutex_trylock(&guarded), 0);
    ck_assert_int_eq(pthread_mutex_unlock(&guarded), 0);

    r = rgn_new();
    ck_assert_int_eq(rgn_mutex_lock(r, &guarded, &k), 0);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert_int_eq(pthread_mutex_trylock(&guarded), 0);
    ck_assert_int_eq(pthread_mutex_unlock(&guarded), 0);

    /* Refusals: nothing registered, nothing left locked. */
    k = (rgn_key_t){1, 1, 1};
    ck_assert_int_eq(rgn_mutex_lock(NULL, &guarded, &k), -EINVAL);
    ck_assert(rgn_key_is_none(k));
    ck_assert_int_eq(rgn_mutex_lock(r, NULL, NULL), -EINVAL);
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_t checked;
    pthread_mutex_init(&checked, &a);
    ck_assert_int_eq(rgn_mutex_lock(r, &checked, NULL), 0);
    ck_assert_int_eq(rgn_mutex_lock(r, &checked, NULL), -EDEADLK);
    ck_assert_int_eq(rgn_error_origin(), RGN_FROM_SYSTEM);
    ck_assert_uint_eq(rgn_live(r), 1);
    struct while_closing w = {NULL, lock_closing, 0, "", 0};
    ck_assert_int_eq(refused_while_closing(&w), -ECANCELED);
    ck_assert_int_eq(pthread_mutex_trylock(&guarded), 0);
    ck_assert_int_eq(pthread_mutex_unlock(&guarded), 0);

    /* A robust mutex whose owner died: locked and registered all the
     * same, for the program to make consistent. */
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_NORMAL);
    pthread_mutex_t robust;
    pthread_mutex_init(&robust, &a);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, lock_and_die, &robust), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(rgn_mutex_lock(r, &robust, &k), -EOWNERDEAD);
    ck_assert(!rgn_key_is_none(k));
    ck_assert_int_eq(pthread_mutex_consistent(&robust), 0);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert_int_eq(pthread_mutex_trylock(&robust), 0);
    ck_assert_int_eq(pthread_mutex_unlock(&robust), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(pthread_mutex_trylock(&checked), 0);
    pthread_mutex_unlock(&checked);
    pthread_mutex_destroy(&checked);
    pthread_mutex_destroy(&robust);
    pthread_mutexattr_destroy(&a);
}
END_TEST

/* ---- getline buffers ---------------------------------------------------------- */

static char *closing_buffer;

static int buffer_closing(struct while_closing *w)
{
    closing_buffer = malloc(64);
    return rgn_adopt_buffer(w->r, &closing_buffer, NULL);
}

START_TEST(a_getline_buffer_is_freed_whatever_it_became)
{
    char *line = NULL;
    size_t cap = 0;
    rgn_t *r = watched();
    rgn_key_t k;
    ck_assert_int_eq(rgn_adopt_buffer(r, &line, &k), 0);
    char want[64];
    snprintf(want, sizeof want, ": buffer at %p", (void *)&line);
    assert_described(r, want);
    static char text[4000];
    for (int i = 0; i < 3; i++) /* lines that outgrow the buffer */
        memset(text + (i ? (size_t)(i * i) * 300 : 0), 'a' + i, 300);
    for (size_t i = 0; i + 1 < sizeof text; i++)
        if (!text[i] || i % 700 == 699)
            text[i] = '\n';
    FILE *f = fmemopen(text, strlen(text), "r");
    ck_assert_ptr_nonnull(f);
    int lines = 0;
    while (getline(&line, &cap, f) > 0)
        lines++;
    fclose(f);
    ck_assert_int_gt(lines, 2);
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_ptr_null(line);

    r = rgn_new();
    line = strdup("early");
    ck_assert_int_eq(rgn_adopt_buffer(r, &line, &k), 0);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert_ptr_null(line);
    /* Refused: the caller keeps it; refused by a closing region: freed. */
    line = strdup("kept");
    k = (rgn_key_t){1, 1, 1};
    ck_assert_int_eq(rgn_adopt_buffer(NULL, &line, &k), -EINVAL);
    ck_assert(rgn_key_is_none(k));
    ck_assert_str_eq(line, "kept");
    free(line);
    ck_assert_int_eq(rgn_adopt_buffer(r, NULL, NULL), -EINVAL);
    struct while_closing w = {NULL, buffer_closing, 0, "", 0};
    ck_assert_int_eq(refused_while_closing(&w), -ECANCELED);
    ck_assert_ptr_null(closing_buffer);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* ---- RGN_AUTOFREE ------------------------------------------------------------- */

/* Bytes malloc holds in use, where the allocator says (glibc); 0 where
 * a tool stands in for it. */
static size_t heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    return mallinfo2().uordblks;
#else
    return 0;
#endif
}

static int left_early(int early, size_t *during)
{
    RGN_AUTOFREE char *s = malloc(1 << 16);
    ck_assert_ptr_nonnull(s);
    memset(s, 1, 1 << 16);
    *during = heap_in_use();
    if (early)
        return 1;
    return 2;
}

static char *handed_on(void)
{
    RGN_AUTOFREE char *s = strdup("handed on");
    if (!s)
        return NULL;
    return RGN_TAKE_PTR(s);
}

START_TEST(autofree_frees_at_the_end_of_its_block_and_take_ptr_hands_on)
{
    for (int early = 0; early < 2; early++) {
        size_t before = heap_in_use(), during = 0;
        ck_assert_int_eq(left_early(early, &during), early ? 1 : 2);
        if (during > before) /* the allocator tells: it went back */
            ck_assert_uint_lt(heap_in_use(), during);
    }
    char *s = handed_on();
    ck_assert_str_eq(s, "handed on");
    free(s);
    RGN_AUTOFREE int *v = malloc(sizeof *v);
    ck_assert_ptr_nonnull(v);
    *v = 7;
    int *w = RGN_TAKE_PTR(v);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(*w, 7);
    free(w);
    RGN_AUTOFREE char *none = NULL; /* free(NULL): fine */
    (void)none;
}
END_TEST

Suite *ready_suite(void)
{
    Suite *s = suite_create("ready");
    TCase *t = tcase_create("exec");
    tcase_add_test(t, an_exec_inherits_only_what_the_program_hands_on);
    tcase_add_test(t, a_forked_child_runs_before_exec_and_no_cleanup);
    tcase_add_test(t, a_forgotten_child_leaves_its_parent);
    tcase_add_test(t, forgetting_null_or_a_closing_region_is_refused);
    tcase_add_test(t, before_exec_results_and_calls);
    tcase_add_test(t, an_audited_shared_region_is_forgotten_unreported);
    tcase_add_test(t, a_move_keeps_a_before_exec);
    suite_add_tcase(s, t);

    t = tcase_create("deep");
    tcase_set_timeout(t, 120); /* 100,000 regions under the sanitizers */
    tcase_add_test(t, a_chain_of_100k_children_is_forgotten_in_constant_stack);
    suite_add_tcase(s, t);

    t = tcase_create("files");
    tcase_add_test(t, a_temporary_file_is_removed_at_close_unless_kept);
    tcase_add_test(t,
                   a_temporary_file_that_cannot_be_made_or_kept_leaves_nothing);
    tcase_add_test(t, a_temporary_directory_goes_with_all_it_holds_never_beyond);
    tcase_add_test(t, a_forked_child_leaves_its_parent_s_temporary_files);
    tcase_add_test(t, a_directory_stream_is_closed_at_close);
    tcase_add_test(t, a_getline_buffer_is_freed_whatever_it_became);
    suite_add_tcase(s, t);

    t = tcase_create("processes");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, a_child_process_is_ended_and_reaped_at_close);
    tcase_add_test(t, spawn_wait_gives_the_status_and_forgets_the_child);
    tcase_add_test(t, bad_spawns_are_refused_and_a_refused_child_is_ended);
    tcase_add_test(t, a_forked_child_leaves_its_parent_s_children_alone);
    tcase_add_test(t, a_cancelled_spawn_wait_ends_the_child);
    suite_add_tcase(s, t);

    t = tcase_create("others");
    tcase_add_test(t, a_mapping_is_unmapped_at_close_and_counted_in_bytes);
    tcase_add_test(t, a_socket_is_closed_at_close_and_names_its_addresses);
    tcase_add_test(t, a_library_is_closed_at_close);
    tcase_add_test(t, a_lock_guard_lets_go_after_what_came_after_it);
    tcase_add_test(
        t, autofree_frees_at_the_end_of_its_block_and_take_ptr_hands_on);
    suite_add_tcase(s, t);
    return s;
}


/* SPDX-License-Identifier: MIT */
/* check_convenience.c -- scopes and ready-made resources
 * (lib/convenience.c). */
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* ---- rgn_with and RGN_SCOPE ------------------------------------------------ */

struct body_arg {
    struct probe p;
    int ret;
    rgn_t *seen;
};

static int body(rgn_t *r, void *arg)
{
    struct body_arg *b = arg;
    b->seen = r;
    ck_assert_int_eq(rgn_register(r, probe_cleanup, &b->p, NULL), 0);
    return b->ret;
}

START_TEST(with_closes_normally_after_success)
{
    struct body_arg b = {.ret = 0};
    probe_init(&b.p, 1);
    b.p.ret = 0;
    ck_assert_int_eq(rgn_with(body, &b), 0);
    ck_assert_ptr_nonnull(b.seen);
    ck_assert_int_eq(b.p.runs, 1);
    ck_assert_int_eq(b.p.how, RGN_RELEASE_NORMAL);
}
END_TEST

START_TEST(with_returns_the_close_result_after_success)
{
    struct body_arg b = {.ret = 0};
    probe_init(&b.p, 1);
    b.p.ret = -EIO; /* the cleanup fails */
    ck_assert_int_eq(rgn_with(body, &b), -EIO);
    ck_assert_int_eq(b.p.runs, 1);
}
END_TEST

START_TEST(with_closes_as_error_after_failure)
{
    struct body_arg b = {.ret = 7};
    probe_init(&b.p, 1);
    b.p.ret = -EIO;
    ck_assert_int_eq(rgn_with(body, &b), 7); /* body's result wins */
    ck_assert_int_eq(b.p.runs, 1);
    ck_assert_int_eq(b.p.how, RGN_RELEASE_ERROR);
    ck_assert_int_eq(rgn_with(NULL, NULL), -EINVAL);
}
END_TEST

START_TEST(scope_closes_at_the_end_of_the_block)
{
    struct probe p;
    probe_init(&p, 1);
    for (int i = 0; i < 2; i++) {
        RGN_SCOPE(r);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(rgn_register(r, probe_cleanup, &p, NULL), 0);
        if (i == 0)
            continue; /* leaving early closes too */
        ck_assert_int_eq(p.runs, 1);
    }
    ck_assert_int_eq(p.runs, 2);
    ck_assert_int_eq(p.how, RGN_RELEASE_NORMAL);
}
END_TEST

/* ---- memory ---------------------------------------------------------------- */

START_TEST(memory_is_aligned_usable_and_freed_by_key)
{
    rgn_t *r = rgn_new();
    char *s = rgn_strdup(r, "hello");
    ck_assert_str_eq(s, "hello");
    long double *ld = rgn_malloc(r, sizeof *ld * 4);
    ck_assert_ptr_nonnull(ld);
    ck_assert_uint_eq((uintptr_t)ld % _Alignof(max_align_t), 0);
    ld[3] = 1.5L;
    int *z = rgn_calloc(r, 100, sizeof *z);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(z[i], 0);
    ck_assert_uint_eq(rgn_live(r), 3);

    ck_assert_int_eq(rgn_free(r, s), 0);
    ck_assert_uint_eq(rgn_live(r), 2);
    ck_assert_int_eq(rgn_free(r, NULL), 0);
    ck_assert(rgn_key_equal(rgn_mem_key(NULL), RGN_KEY_NONE));

    /* A block of another region is refused and stays. */
    rgn_t *other = rgn_new();
    ck_assert_int_eq(rgn_free(other, z), -ENOENT);
    ck_assert_int_eq(rgn_free(NULL, z), -EINVAL);
    ck_assert_uint_eq(rgn_live(r), 2);
    /* Its key moves it like any resource. */
    ck_assert_int_eq(rgn_move(r, rgn_mem_key(z), other, NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    z[99] = 1; /* still allocated: other owns it */
    ck_assert_int_eq(rgn_close(other), 0);
}
END_TEST

START_TEST(memory_bad_input)
{
    rgn_t *r = rgn_new();
    errno = 0;
    ck_assert_ptr_null(rgn_malloc(NULL, 8));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(rgn_strdup(r, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(rgn_malloc(r, SIZE_MAX - 4));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_ptr_null(rgn_calloc(r, SIZE_MAX / 2, 4));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* From a cleanup of a closing region, every helper is refused -- and gives
 * back what it made (valgrind and ASan see any leak). */
struct late {
    rgn_t *r;
    void *mem;
    int mem_errno, fd_rc, adopt_rc, file_errno;
    int fd;
};

static int make_things_while_closing(void *arg, rgn_release_type how)
{
    (void)how;
    struct late *l = arg;
    l->mem = rgn_malloc(l->r, 64);
    l->mem_errno = errno;
    l->fd_rc = rgn_open(l->r, "/dev/null", O_RDONLY, 0, NULL);
    l->fd = open("/dev/null", O_RDONLY);
    l->adopt_rc = rgn_adopt_fd(l->r, l->fd, NULL);
    FILE *f = rgn_fopen(l->r, "/dev/null", "r", NULL);
    l->file_errno = f ? 0 : errno;
    return 0;
}

START_TEST(helpers_refused_while_closing_leak_nothing)
{
    struct late l = {rgn_new(), NULL, 0, 0, 0, 0, -1};
    ck_assert_int_eq(rgn_register(l.r, make_things_while_closing, &l, NULL),
                     0);
    ck_assert_int_eq(rgn_close(l.r), 0);
    ck_assert_ptr_null(l.mem);
    ck_assert_int_eq(l.mem_errno, ECANCELED);
    ck_assert_int_eq(l.fd_rc, -ECANCELED);
    ck_assert_int_eq(l.adopt_rc, -ECANCELED);
    ck_assert(!fd_is_open(l.fd)); /* adopted even in failure: closed */
    ck_assert_int_eq(l.file_errno, ECANCELED);
}
END_TEST

/* ---- descriptors and streams ---------------------------------------------- */

static char tmp_path[64];

static void make_tmp(void)
{
    strcpy(tmp_path, "/tmp/rgn-conv-XXXXXX");
    int fd = mkstemp(tmp_path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

START_TEST(open_registers_and_close_closes)
{
    make_tmp();
    rgn_t *r = rgn_new();
    rgn_key_t k;
    int fd = rgn_open(r, tmp_path, O_WRONLY | O_TRUNC, 0, &k);
    ck_assert_int_ge(fd, 0);
    ck_assert(fd_is_open(fd));
    ck_assert_int_eq(write(fd, "x", 1), 1);
    int fd2 = rgn_open(r, tmp_path, O_RDONLY, 0, NULL);
    ck_assert_int_ge(fd2, 0);
    ck_assert_int_eq(rgn_release(r, k), 0);
    ck_assert(!fd_is_open(fd));
    ck_assert(fd_is_open(fd2));
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert(!fd_is_open(fd2));
    unlink(tmp_path);
}
END_TEST

START_TEST(open_failure_registers_nothing)
{
    rgn_t *r = rgn_new();
    rgn_key_t k = {1, 2, 3};
    ck_assert_int_eq(rgn_open(r, "/nonexistent/rgn/file", O_RDONLY, 0, &k),
                     -ENOENT);
    ck_assert(rgn_key_is_none(k));
    ck_assert_int_eq(rgn_open(r, NULL, O_RDONLY, 0, NULL), -EINVAL);
    ck_assert_int_eq(rgn_adopt_fd(r, -1, NULL), -EBADF);
    errno = 0;
    ck_assert_ptr_null(rgn_fopen(r, "/nonexistent/rgn/file", "r", NULL));
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(rgn_adopt_file(r, NULL, NULL), -EINVAL);
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

START_TEST(adopt_fd_reports_a_failing_close)
{
    rgn_t *r = rgn_new();
    int fd = open("/dev/null", O_RDONLY);
    rgn_key_t k;
    ck_assert_int_eq(rgn_adopt_fd(r, fd, &k), 0);
    close(fd); /* someone closed it behind rgn's back */
    ck_assert_int_eq(rgn_release(r, k), -EBADF);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

START_TEST(fopen_flushes_at_close)
{
    make_tmp();
    rgn_t *r = rgn_new();
    FILE *f = rgn_fopen(r, tmp_path, "w", NULL);
    ck_assert_ptr_nonnull(f);
    fputs("written by the close\n", f);
    ck_assert_int_eq(rgn_close(r), 0);
    FILE *in = fopen(tmp_path, "r");
    char line[64] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, in));
    fclose(in);
    ck_assert_str_eq(line, "written by the close\n");
    unlink(tmp_path);
}
END_TEST

START_TEST(fclose_error_is_returned)
{
    /* /dev/full accepts the open and fails the final flush with ENOSPC. */
    if (access("/dev/full", W_OK) != 0)
        return;
    rgn_t *r = rgn_new();
    FILE *f = rgn_fopen(r, "/dev/full", "w", NULL);
    ck_assert_ptr_nonnull(f);
    fputs("no room", f);
    ck_assert_int_eq(rgn_close(r), -ENOSPC);
}
END_TEST

/* Every site-recording macro has a function twin, reached by
 * parenthesising its name: same behaviour, no site. */
static int fd_flags(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    ck_assert_int_ge(flags, 0);
    return flags;
}

/* What rgn opens is close-on-exec, whatever the flags or mode say, so a
 * program another thread execs meanwhile inherits none of it; a
 * program hands one on by clearing the flag. */
START_TEST(open_and_fopen_are_close_on_exec)
{
    rgn_t *r = rgn_new();
    int fd = rgn_open(r, "/dev/null", O_RDONLY, 0, NULL);
    ck_assert_int_ge(fd, 0);
    ck_assert(fd_flags(fd) & FD_CLOEXEC);
    ck_assert_int_eq(fcntl(fd, F_SETFD, 0), 0); /* handed on */
    ck_assert(!(fd_flags(fd) & FD_CLOEXEC));
    static const char *modes[] = {
        "r", "w", "a+", "rb", "re",
        /* glibc reads the first seven characters of a mode only. */
        "r+bbbbbbbb",
        /* Longer than rgn's copy: the flag is set after the open. */
        "rbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        FILE *f = rgn_fopen(r, "/dev/null", modes[i], NULL);
        ck_assert_msg(f != NULL, "mode %s", modes[i]);
        ck_assert_msg(fd_flags(fileno(f)) & FD_CLOEXEC, "mode %s", modes[i]);
    }
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

START_TEST(function_twins_of_the_macros_work)
{
    rgn_t *r = rgn_new();
    char *m = (rgn_malloc)(r, 8);
    char *c = (rgn_calloc)(r, 2, 4);
    char *d = (rgn_strdup)(r, "twin");
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(d, "twin");
    ck_assert_int_eq(c[7], 0);
    rgn_key_t k;
    int fd = (rgn_open)(r, "/dev/null", O_RDONLY, 0, &k);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq((rgn_adopt_fd)(r, dup(fd), NULL), 0);
    FILE *f = (rgn_fopen)(r, "/dev/null", "r", NULL);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq((rgn_adopt_file)(r, fdopen(dup(fd), "r"), NULL), 0);
    ck_assert_uint_eq(rgn_live(r), 7);
    ck_assert_int_eq(rgn_free(r, m), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

Suite *convenience_suite(void)
{
    Suite *s = suite_create("convenience");
    TCase *scope = tcase_create("scopes");
    tcase_add_checked_fixture(scope, log_reset, NULL);
    tcase_add_test(scope, with_closes_normally_after_success);
    tcase_add_test(scope, function_twins_of_the_macros_work);
    tcase_add_test(scope, with_returns_the_close_result_after_success);
    tcase_add_test(scope, with_closes_as_error_after_failure);
    tcase_add_test(scope, scope_closes_at_the_end_of_the_block);
    suite_add_tcase(s, scope);
    TCase *mem = tcase_create("memory");
    tcase_add_checked_fixture(mem, log_reset, NULL);
    tcase_add_test(mem, memory_is_aligned_usable_and_freed_by_key);
    tcase_add_test(mem, memory_bad_input);
    tcase_add_test(mem, helpers_refused_while_closing_leak_nothing);
    suite_add_tcase(s, mem);
    TCase *io = tcase_create("descriptors and streams");
    tcase_add_test(io, open_registers_and_close_closes);
    tcase_add_test(io, open_failure_registers_nothing);
    tcase_add_test(io, adopt_fd_reports_a_failing_close);
    tcase_add_test(io, fopen_flushes_at_close);
    tcase_add_test(io, fclose_error_is_returned);
    tcase_add_test(io, open_and_fopen_are_close_on_exec);
    suite_add_tcase(s, io);
    return s;
}

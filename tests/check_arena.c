/* SPDX-License-Identifier: MIT */
/* check_arena.c -- the arena (lib/arena.c), rgn_clear, and the memory
 * helpers on top: bump allocation, its chunks, its lifetime against the
 * cleanups, reuse by clearing, and rgn_malloc blocks that move and grow. */
#include "helpers.h"
#include "suites.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


/* ---- rgn_alloc ----------------------------------------------------------- */

/* Allocations of every size up to 70 KB: aligned as malloc's, disjoint,
 * and every byte usable until the close -- from the inline bytes, across
 * chunks, and in chunks of their own. */
START_TEST(allocations_are_aligned_disjoint_and_usable)
{
    rgn_t *r = rgn_new();
    enum { N = 400 };
    static unsigned char *p[N];
    static size_t n[N];
    for (int i = 0; i < N; i++) {
        n[i] = (size_t)(i * 37 % 700) + (i % 50 == 0 ? 70000 : 0);
        p[i] = rgn_alloc(r, n[i]);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert_uint_eq((uintptr_t)p[i] % 16, 0);
        memset(p[i], i & 0xff, n[i]);
    }
    for (int i = 0; i < N; i++) {
        size_t j = 0;
        while (j < n[i] && p[i][j] == (unsigned)(i & 0xff))
            j++;
        ck_assert_msg(j == n[i], "allocation %d overwritten at byte %zu",
                      i, j);
    }
    ck_assert_uint_eq(rgn_live(r), 0); /* no slot, no key */
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

START_TEST(zero_bytes_is_a_unique_pointer)
{
    rgn_t *r = rgn_new();
    void *a = rgn_alloc(r, 0), *b = rgn_alloc(r, 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

static int reads_arena_string(void *s, rgn_release_type how)
{
    (void)how;
    return strcmp(s, "still here") == 0 ? 0 : -EIO;
}

/* Cleanups may use arena memory: it is freed after the last of them, at
 * a close and at a clear (AddressSanitizer would see a use after free). */
START_TEST(cleanups_may_use_arena_memory)
{
    rgn_t *r = rgn_new();
    for (int round = 0; round < 2; round++) {
        char *s = rgn_strndup(r, "still here, and more", 10);
        ck_assert_ptr_nonnull(s);
        for (int i = 0; i < 100; i++) /* and chunks besides */
            ck_assert_ptr_nonnull(rgn_alloc(r, 500));
        ck_assert_int_eq(rgn_register(r, reads_arena_string, s, NULL), 0);
        if (round == 0)
            ck_assert_int_eq(rgn_clear(r), 0);
    }
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

static int alloc_while_closing(void *r, rgn_release_type how)
{
    (void)how;
    errno = 0;
    void *p = rgn_alloc(r, 16);
    return p == NULL && errno == ECANCELED ? 0 : -EIO;
}

START_TEST(bad_input_and_closing_regions_are_refused)
{
    errno = 0;
    ck_assert_ptr_null(rgn_alloc(NULL, 8));
    ck_assert_int_eq(errno, EINVAL);
    rgn_t *r = rgn_new();
    errno = 0;
    ck_assert_ptr_null(rgn_alloc(r, SIZE_MAX - 8));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(rgn_memdup(r, NULL, 4));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(rgn_strndup(r, NULL, 4));
    ck_assert_ptr_null(rgn_asprintf(r, NULL));
    ck_assert_ptr_null(rgn_asprintf(NULL, "x"));
    ck_assert_ptr_nonnull(rgn_memdup(r, NULL, 0));
    ck_assert_int_eq(rgn_register(r, alloc_while_closing, r, NULL), 0);
    ck_assert_int_eq(rgn_close(r), 0); /* the cleanup saw ECANCELED */
}
END_TEST

/* ---- the helpers ----------------------------------------------------------- */

static char *formats(rgn_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = rgn_vasprintf(r, fmt, ap);
    va_end(ap);
    return s;
}

START_TEST(copies_and_formatted_strings)
{
    rgn_t *r = rgn_new();
    ck_assert_str_eq(rgn_strndup(r, "request", 3), "req");
    ck_assert_str_eq(rgn_strndup(r, "id", 10), "id");
    const int v[3] = {1, 2, 3};
    const int *d = rgn_memdup(r, v, sizeof v);
    ck_assert_int_eq(memcmp(d, v, sizeof v), 0);
    ck_assert_str_eq(rgn_asprintf(r, "%s #%d", "job", 42), "job #42");
    /* Longer than the helper's stack buffer: formatted twice. */
    char *wide = rgn_asprintf(r, "%0600d|", 5);
    ck_assert_uint_eq(strlen(wide), 601);
    ck_assert_int_eq(wide[599], '5');
    ck_assert_str_eq(formats(r, "%s-%s", "a", "b"), "a-b");
    unsigned char *z = rgn_zalloc(r, 300);
    static const unsigned char zeros[300];
    ck_assert_int_eq(memcmp(z, zeros, sizeof zeros), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* rgn_zalloc zeroes what an earlier round left dirty. */
START_TEST(zalloc_after_clear_is_zero)
{
    rgn_t *r = rgn_new();
    memset(rgn_alloc(r, 200), 0xff, 200);
    memset(rgn_alloc(r, 3000), 0xff, 3000);
    ck_assert_int_eq(rgn_clear(r), 0);
    unsigned char *z = rgn_zalloc(r, 200);
    unsigned char *y = rgn_zalloc(r, 3000);
    static const unsigned char zeros[3000];
    ck_assert_int_eq(memcmp(z, zeros, 200), 0);
    ck_assert_int_eq(memcmp(y, zeros, 3000), 0);
    ck_assert_int_eq(rgn_close(r), 0);
}
END_TEST

/* ---- rgn_clear ------------------------------------------------------------- */

static int fails(void *res, rgn_release_type how)
{
    probe_cleanup(res, how);
    return -EIO;
}

START_TEST(clear_runs_everything_newest_first_and_keeps_the_region)
{
    rgn_t *r = rgn_new();
    ck_assert_int_eq(rgn_set_name(r, "reused"), 0);
    ck_assert_ptr_eq(rgn_share(r), r);
    struct probe p[3];
    rgn_key_t k[3];
    for (int i = 0; i < 3; i++) {
        probe_init(&p[i], i);
        ck_assert_int_eq(rgn_register(r, i == 1 ? fails : probe_cleanup,
                                      &p[i], &k[i]), 0);
    }
    void *first = rgn_alloc(r, 64);
    ck_assert_int_eq(rgn_clear(r), -EIO); /* the first failure */
    ASSERT_LOG(2, 1, 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(p[i].how, RGN_RELEASE_NORMAL);
        ck_assert_int_eq(rgn_release(r, k[i]), -ENOENT); /* dead keys */
    }
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_str_eq(rgn_name(r), "reused");
    ck_assert_ptr_eq(rgn_alloc(r, 64), first); /* the arena starts over */
    /* Reused: new keys work, stale ones still do not, even on the same
     * slots. */
    rgn_key_t again;
    ck_assert_int_eq(rgn_register(r, noop_cleanup, NULL, &again), 0);
    ck_assert(!rgn_key_equal(again, k[0]) && !rgn_key_equal(again, k[2]));
    ck_assert_int_eq(rgn_release(r, k[2]), -ENOENT);
    ck_assert_int_eq(rgn_release(r, again), 0);
    /* The counters started again at the clear (check_stats). */
    rgn_stats st;
    ck_assert_int_eq(rgn_get_stats(r, &st), 0);
    ck_assert_uint_eq(st.registered, 1);
    ck_assert_uint_eq(st.registered,
                      st.live + st.released_early + st.removed);
    ck_assert_int_eq(rgn_close(r), 0); /* both references: still two */
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(rgn_clear(NULL), -EINVAL);
}
END_TEST

struct inside {
    rgn_t *r;
    struct probe late;
    int registered, closed;
};

/* During a clear: a registration is refused and cleaned up at once, a
 * second clear is refused, and dropping a reference that is not the last
 * works. */
static int acts_during_clear(void *arg, rgn_release_type how)
{
    (void)how;
    struct inside *in = arg;
    in->registered = rgn_register(in->r, probe_cleanup, &in->late, NULL);
    in->closed = rgn_close(in->r);
    return rgn_clear(in->r) == -ECANCELED ? 0 : -EIO;
}

START_TEST(clear_refuses_registrations_while_it_runs)
{
    struct inside in;
    in.r = rgn_new();
    probe_init(&in.late, 9);
    ck_assert_ptr_eq(rgn_share(in.r), in.r); /* the cleanup's to drop */
    ck_assert_int_eq(rgn_register(in.r, acts_during_clear, &in, NULL), 0);
    ck_assert_int_eq(rgn_clear(in.r), 0);
    ck_assert_int_eq(in.registered, -ECANCELED);
    ck_assert_int_eq(in.late.runs, 1);
    ck_assert_int_eq(in.late.how, RGN_RELEASE_ERROR);
    ck_assert_int_eq(in.closed, 0);
    ck_assert_int_eq(rgn_close(in.r), 0); /* the last reference */
}
END_TEST

/* Another thread registers while a shared region is cleared over and
 * over: each resource runs exactly once -- by a clear, by the close, or
 * at once when its registration is refused. */
enum { CLEAR_OPS = 20000 };
static atomic_int clear_runs[CLEAR_OPS];

static int count_once(void *res, rgn_release_type how)
{
    (void)how;
    atomic_fetch_add((atomic_int *)res, 1);
    return 0;
}

static void *registers(void *r)
{
    for (int i = 0; i < CLEAR_OPS; i++)
        rgn_register(r, count_once, &clear_runs[i], NULL);
    rgn_close(r);
    return NULL;
}

START_TEST(clear_racing_registrations_runs_each_once)
{
    for (int i = 0; i < CLEAR_OPS; i++)
        atomic_store(&clear_runs[i], 0);
    rgn_t *r = rgn_new();
    ck_assert_ptr_eq(rgn_share(r), r);
    pthread_t t;
    pthread_create(&t, NULL, registers, r);
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(rgn_clear(r), 0);
        ck_assert_ptr_nonnull(rgn_alloc(r, 100));
    }
    pthread_join(t, NULL);
    ck_assert_int_eq(rgn_close(r), 0);
    for (int i = 0; i < CLEAR_OPS; i++)
        ck_assert_int_eq(atomic_load(&clear_runs[i]), 1);
}
END_TEST

/* ---- a clear meets the last drop ---------------------------------------- */

/* What a cleanup of a clear closes. */
struct closer {
    rgn_t *region;
    rgn_release_type how;
    int closed;
};

static int closes_a_region(void *arg, rgn_release_type how)
{
    (void)how;
    struct closer *c = arg;
    c->closed = c->how == RGN_RELEASE_ERROR ? rgn_close_error(c->region)
                                            : rgn_close(c->region);
    return 0;
}

/* The parent closes while its child is being cleared (here from a
 * cleanup of the clear; in tests/check_threads.c from another thread).
 * The parent's close drops the child's last reference: refused, it left
 * the child open, out of its parent, holding a reference nobody had, so
 * the child and all it held from then on were never cleaned up.  The
 * clear now finishes and then closes the child: audited, the child is
 * in the quarantine of closed regions afterwards (it was open). */
START_TEST(clear_of_a_child_whose_parent_closes_meanwhile)
{
    rgn_audit_forget_closed();
    rgn_t *p = rgn_new();
    rgn_t *c = rgn_new_child(p);
    ck_assert_int_eq(rgn_audit_set(c, RGN_AUDIT_REPORT), 0);
    struct probe before, after;
    probe_init(&before, 1);
    probe_init(&after, 2);
    struct closer closer = {p, RGN_RELEASE_NORMAL, 99};
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &before, NULL), 0);
    ck_assert_int_eq(rgn_register(c, closes_a_region, &closer, NULL), 0);
    ck_assert_int_eq(rgn_register(c, probe_cleanup, &after, NULL), 0);
    log_reset();
    ck_assert_int_eq(rgn_clear(c), 0);
    ck_assert_int_eq(closer.closed, 0);
    ASSERT_LOG(2, 1); /* the whole clear, each once */
    ck_assert_int_eq(rgn_audit_forget_closed(), 1); /* c closed, and only c */
}
END_TEST

struct in_flight {
    rgn_t *child;
    struct closer closer;
    struct probe acquired;
};

static int clears_while_acquiring(void *arg, void **res)
{
    struct in_flight *f = arg;
    ck_assert_int_eq(rgn_clear(f->child), 0);
    *res = &f->acquired;
    return 0;
}

/* The close that follows the clear has the release type of the drop it
 * stands for: an rgn_allocate in flight (its acquire clears the child,
 * and the clear's cleanup closes the parent with an error) finds the
 * child closed and cleans up what it acquired with RGN_RELEASE_ERROR.
 * It was registered in the child left open, and never cleaned up. */
START_TEST(close_after_a_clear_has_the_drop_s_release_type)
{
    rgn_t *p = rgn_new();
    struct in_flight f = {rgn_new_child(p), {p, RGN_RELEASE_ERROR, 99}, {0}};
    probe_init(&f.acquired, 1);
    ck_assert_int_eq(rgn_register(f.child, closes_a_region, &f.closer, NULL),
                     0);
    ck_assert_int_eq(rgn_allocate(f.child, clears_while_acquiring, &f,
                                  probe_cleanup, NULL, NULL),
                     -ECANCELED);
    ck_assert_int_eq(f.closer.closed, 0);
    ck_assert_int_eq(f.acquired.runs, 1);
    ck_assert_int_eq(f.acquired.how, RGN_RELEASE_ERROR);
}
END_TEST

static int clears_its_region(rgn_t *c, void *closer)
{
    ck_assert_int_eq(rgn_register(c, closes_a_region, closer, NULL), 0);
    return rgn_clear(c);
}

/* A child handed to a thread stays in its parent; its owner closes it
 * while the thread clears it (from a cleanup of the clear, here).  The
 * close dropped the owner's reference but left the child in its
 * parent, so the thread's last drop freed a child the parent still
 * held, and the parent's close reached it after its close
 * (AddressSanitizer: heap-use-after-free; audited, as here, a use after
 * close that failed the parent's close with -ECANCELED). */
START_TEST(child_closed_by_its_owner_while_its_thread_clears_it)
{
    rgn_t *p = rgn_new();
    rgn_t *c = rgn_new_child(p);
    ck_assert_int_eq(rgn_audit_set(c, RGN_AUDIT_REPORT), 0);
    struct closer closer = {c, RGN_RELEASE_NORMAL, 99};
    pthread_t t;
    ck_assert_int_eq(rgn_thread_create(&t, NULL, c, clears_its_region,
                                       &closer),
                     0);
    void *ret;
    pthread_join(t, &ret);
    ck_assert_ptr_eq(ret, NULL);
    ck_assert_int_eq(closer.closed, 0);
    ck_assert_uint_eq(rgn_live(p), 0); /* the close took it out */
    ck_assert_int_eq(rgn_close(p), 0);
}
END_TEST

/* ---- rgn_malloc blocks: moved and resized ---------------------------------- */

/* The key in a block's header follows the block through a move: rgn_free
 * and rgn_mem_key on the destination work (they got -ENOENT, and the
 * block stayed live until the close). */
START_TEST(freeing_a_block_after_it_moved)
{
    rgn_t *a = rgn_new(), *b = rgn_new();
    char *p = rgn_strdup(a, "moving");
    rgn_key_t k;
    ck_assert_int_eq(rgn_move(a, rgn_mem_key(p), b, &k), 0);
    ck_assert(rgn_key_equal(rgn_mem_key(p), k));
    ck_assert_int_eq(rgn_label(b, rgn_mem_key(p), "moved"), 0);
    ck_assert_int_eq(rgn_free(a, p), -ENOENT);
    ck_assert_int_eq(rgn_free(b, p), 0);
    ck_assert_uint_eq(rgn_live(b), 0);
    /* Within one region too. */
    char *q = rgn_strdup(a, "again");
    ck_assert_int_eq(rgn_move(a, rgn_mem_key(q), a, NULL), 0);
    ck_assert_int_eq(rgn_free(a, q), 0);
    ck_assert_uint_eq(rgn_live(a), 0);
    ck_assert_int_eq(rgn_close(a), 0);
    ck_assert_int_eq(rgn_close(b), 0);
}
END_TEST

/* rgn_unprotect of a block hands back what rgn_malloc returned (it
 * handed back the header, 16 bytes before), with a cleanup that frees
 * it; registered again, rgn_free finds it by its new key. */
START_TEST(unprotected_block_is_the_callers_pointer)
{
    rgn_t *a = rgn_new(), *b = rgn_new();
    char *p = rgn_strdup(a, "mine again");
    rgn_cleanup_fn fn;
    void *res;
    ck_assert_int_eq(rgn_unprotect(a, rgn_mem_key(p), &fn, &res), 0);
    ck_assert_ptr_eq(res, p);
    ck_assert_str_eq(res, "mine again");
    rgn_key_t k;
    ck_assert_int_eq(rgn_register(b, fn, res, &k), 0);
    ck_assert(rgn_key_equal(rgn_mem_key(p), k));
    ck_assert_int_eq(rgn_free(b, p), 0);
    /* The same with a label: rgn_register_labeled took another path,
     * which left the block's header holding its old, dead key. */
    p = rgn_strdup(a, "labelled");
    ck_assert_int_eq(rgn_unprotect(a, rgn_mem_key(p), &fn, &res), 0);
    ck_assert_int_eq(rgn_register_labeled(b, fn, res, &k, "buffer"), 0);
    ck_assert(rgn_key_equal(rgn_mem_key(p), k));
    ck_assert_int_eq(rgn_free(b, p), 0);
    char *q = rgn_strdup(a, "freed by hand");
    ck_assert_int_eq(rgn_unprotect(a, rgn_mem_key(q), &fn, &res), 0);
    ck_assert_int_eq(fn(res, RGN_RELEASE_EARLY), 0); /* frees q */
    ck_assert_uint_eq(rgn_live(a) + rgn_live(b), 0);
    ck_assert_int_eq(rgn_close(a), 0);
    ck_assert_int_eq(rgn_close(b), 0);
}
END_TEST

START_TEST(realloc_keeps_the_key_and_the_bytes)
{
    rgn_t *r = rgn_new(), *other = rgn_new();
    char *p = rgn_strdup(r, "grow me");
    rgn_key_t k = rgn_mem_key(p);
    char *q = rgn_realloc(r, p, 100000);
    ck_assert_ptr_nonnull(q);
    ck_assert_str_eq(q, "grow me");
    ck_assert(rgn_key_equal(rgn_mem_key(q), k));
    memset(q + 8, 'x', 100000 - 8);
    q = rgn_realloc(r, q, 4);
    ck_assert_int_eq(memcmp(q, "grow", 4), 0);
    ck_assert_uint_eq(rgn_live(r), 1);
    errno = 0;
    ck_assert_ptr_null(rgn_realloc(other, q, 10)); /* not other's */
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_ptr_null(rgn_realloc(NULL, q, 10));
    char *n = rgn_realloc(r, NULL, 10); /* as rgn_malloc */
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(rgn_free(r, q), 0);
    ck_assert_int_eq(rgn_free(r, n), 0);
    ck_assert_uint_eq(rgn_live(r), 0);
    ck_assert_int_eq(rgn_close(r), 0);
    ck_assert_int_eq(rgn_close(other), 0);
}
END_TEST

/* ---- RGN_ARENA_FILL --------------------------------------------------------
 *
 * Read when the library loads: the scenarios of tests/arena_misuse.c run
 * in a child process with it set.  (tests/arena_tools.sh runs the same
 * program under ASan and valgrind.)
 */

struct fill_run {
    int status; /* exit status, or 128 + signal */
    char out[8192];
    char err[8192];
};

static void slurp(int fd, char *buf, size_t size)
{
    size_t n = 0;
    ssize_t k;
    lseek(fd, 0, SEEK_SET);
    while (n + 1 < size && (k = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = '\0';
    close(fd);
}

static int temp_file(void)
{
    char name[] = "/tmp/rgn-arena-XXXXXX";
    int fd = mkstemp(name);
    ck_assert_int_ge(fd, 0);
    unlink(name);
    return fd;
}

/* Runs "arena_misuse NAME" with RGN_ARENA_FILL=fill and RGN_AUDIT=audit
 * (NULL: unset). */
static struct fill_run *misuse(const char *name, const char *fill,
                               const char *audit)
{
    static struct fill_run r;
    const char *top = getenv("top_builddir");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/arena_misuse", top ? top : ".");
    int out = temp_file(), err = temp_file();
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(out, 1);
        dup2(err, 2);
        if (fill)
            setenv("RGN_ARENA_FILL", fill, 1);
        else
            unsetenv("RGN_ARENA_FILL");
        if (audit)
            setenv("RGN_AUDIT", audit, 1);
        else
            unsetenv("RGN_AUDIT");
        /* An ASan build's own report of the abort is not wanted here. */
        setenv("ASAN_OPTIONS", "detect_leaks=0:handle_abort=0", 1);
        execl(path, path, name, (char *)NULL);
        fprintf(stderr, "cannot run %s\n", path);
        _exit(96);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status)
                                 : 128 + WTERMSIG(status);
    slurp(out, r.out, sizeof r.out);
    slurp(err, r.err, sizeof r.err);
    ck_assert_msg(r.status != 96 && r.status != 99 && r.status != 2,
                  "arena_misuse %s did not run (%d): %s%s", name, r.status,
                  r.out, r.err);
    return &r;
}

/* Lines of text that begin with prefix. */
static int lines_starting(const char *text, const char *prefix)
{
    int n = 0;
    for (const char *l = text; *l;) {
        n += strncmp(l, prefix, strlen(prefix)) == 0;
        const char *end = strchr(l, '\n');
        if (!end)
            break;
        l = end + 1;
    }
    return n;
}

static int site_line(const struct fill_run *r, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "site %s ", name);
    const char *p = strstr(r->out, key);
    ck_assert_msg(p != NULL, "scenario named no site %s", name);
    return atoi(p + strlen(key));
}

/* A write one byte past a 13-byte allocation, where no tool sees it: the
 * clear finds the sentinel changed and says where the allocation was
 * made and in which region, through the sink; the program goes on. */
START_TEST(fill_reports_a_write_past_the_end_at_clear)
{
    struct fill_run *r = misuse("fill_past_end", "0xa5", NULL);
    ck_assert_int_eq(r->status, 0);
    /* The site's file is as the compiler was given it: any directory. */
    char want[256];
    snprintf(want, sizeof want,
             "arena_misuse.c:%d in fill_past_end() (byte 13 changed), found "
             "by rgn_clear on region \"fill\" (made at ",
             site_line(r, "alloc"));
    ck_assert_int_eq(lines_starting(r->err, "rgn: arena: written past the "
                                            "end of a 13-byte allocation at "),
                     1);
    ck_assert_msg(strstr(r->err, want) != NULL, "got: %s", r->err);
    ck_assert_int_eq(lines_starting(r->err, "rgn: arena:"), 1);
    ck_assert_ptr_nonnull(strstr(r->out, "cleared"));
    /* The same with the audit on. */
    r = misuse("fill_past_end", "165", "report");
    ck_assert_int_eq(r->status, 0);
    ck_assert_int_eq(lines_starting(r->err, "rgn: arena:"), 1);
    ck_assert_ptr_nonnull(strstr(r->err, "in fill_past_end() (byte 13 "));
}
END_TEST

START_TEST(fill_aborts_after_the_report_under_the_abort_mode)
{
    struct fill_run *r = misuse("fill_past_end", "0xa5", "abort");
    ck_assert_int_eq(r->status, 128 + SIGABRT);
    ck_assert_int_eq(lines_starting(r->err, "rgn: arena: written past"), 1);
    ck_assert_ptr_null(strstr(r->out, "cleared"));
}
END_TEST

/* The last close checks too: one line per allocation, with the bytes
 * that changed. */
START_TEST(fill_reports_at_the_close)
{
    struct fill_run *r = misuse("fill_at_close", "0xa5", NULL);
    ck_assert_int_eq(r->status, 0);
    ck_assert_int_eq(lines_starting(r->err, "rgn: arena:"), 2);
    ck_assert_ptr_nonnull(strstr(r->err, "of a 40-byte allocation at "));
    ck_assert_ptr_nonnull(strstr(r->err, "(byte 40 changed), found by the "
                                         "close on region \"fill\""));
    ck_assert_ptr_nonnull(strstr(r->err, "(bytes 301 to 303 changed)"));
    ck_assert_ptr_nonnull(strstr(r->out, "closed"));
}
END_TEST

/* New bytes and bytes a clear took back read as the pattern, never as
 * what was there before. */
START_TEST(fill_fills_new_and_freed_bytes)
{
    struct fill_run *r = misuse("fill_pattern", "0xa5", NULL);
    ck_assert_int_eq(r->status, 0);
    ck_assert_str_eq(r->out, "new 0xa5\ncleared 0xa5\ncleared chunk 0xa5\n");
    ck_assert_str_eq(r->err, "");
    r = misuse("fill_pattern", "0", NULL);
    ck_assert_str_eq(r->out, "new 0\ncleared 0\ncleared chunk 0\n");
}
END_TEST

START_TEST(fill_is_silent_on_a_correct_program)
{
    struct fill_run *r = misuse("fill_clean", "0xa5", "abort");
    ck_assert_int_eq(r->status, 0);
    ck_assert_str_eq(r->err, "");
    ck_assert_str_eq(r->out, "clean\n");
}
END_TEST

START_TEST(fill_ignores_a_bad_value_with_one_warning)
{
    const char *bad[] = {"0x1a5", "a5", "-1", "0xa5 ", "256"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fill_run *r = misuse("fill_past_end", bad[i], NULL);
        ck_assert_int_eq(r->status, 0);
        ck_assert_int_eq(lines_starting(r->err, "rgn: arena: ignoring "
                                                "RGN_ARENA_FILL="),
                         1);
        ck_assert_int_eq(lines_starting(r->err, "rgn: arena:"), 1);
    }
}
END_TEST

Suite *arena_suite(void)
{
    Suite *s = suite_create("arena");
    TCase *t = tcase_create("alloc");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_set_timeout(t, 60); /* valgrind and the sanitizers are slow */
    tcase_add_test(t, allocations_are_aligned_disjoint_and_usable);
    tcase_add_test(t, zero_bytes_is_a_unique_pointer);
    tcase_add_test(t, cleanups_may_use_arena_memory);
    tcase_add_test(t, bad_input_and_closing_regions_are_refused);
    tcase_add_test(t, copies_and_formatted_strings);
    tcase_add_test(t, zalloc_after_clear_is_zero);
    suite_add_tcase(s, t);

    t = tcase_create("clear");
    tcase_add_checked_fixture(t, log_reset, NULL);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, clear_runs_everything_newest_first_and_keeps_the_region);
    tcase_add_test(t, clear_refuses_registrations_while_it_runs);
    tcase_add_test(t, clear_racing_registrations_runs_each_once);
    tcase_add_test(t, clear_of_a_child_whose_parent_closes_meanwhile);
    tcase_add_test(t, close_after_a_clear_has_the_drop_s_release_type);
    tcase_add_test(t, child_closed_by_its_owner_while_its_thread_clears_it);
    suite_add_tcase(s, t);

    t = tcase_create("fill");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, fill_reports_a_write_past_the_end_at_clear);
    tcase_add_test(t, fill_aborts_after_the_report_under_the_abort_mode);
    tcase_add_test(t, fill_reports_at_the_close);
    tcase_add_test(t, fill_fills_new_and_freed_bytes);
    tcase_add_test(t, fill_is_silent_on_a_correct_program);
    tcase_add_test(t, fill_ignores_a_bad_value_with_one_warning);
    suite_add_tcase(s, t);

    t = tcase_create("blocks");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, freeing_a_block_after_it_moved);
    tcase_add_test(t, realloc_keeps_the_key_and_the_bytes);
    tcase_add_test(t, unprotected_block_is_the_callers_pointer);
    suite_add_tcase(s, t);
    return s;
}

/* SPDX-License-Identifier: MIT */
// cplusplus.cc -- rgn.h and rgn_check.h compile as C++ and link, the
// site-recording macros work wherever C++ allows an expression, and a
// cleanup or acquire that throws leaves nothing half-done.
#include <rgn.h>
#include <rgn_check.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

static int failures;
#define EXPECT(cond)                                                      \
    do {                                                                  \
        if (!(cond)) {                                                    \
            std::fprintf(stderr, "%s:%d: expected %s\n", __FILE__,        \
                         __LINE__, #cond);                                \
            failures++;                                                   \
        }                                                                 \
    } while (0)

static int free_it(void *p, rgn_release_type)
{
    std::free(p);
    return 0;
}

// At namespace scope and in a default member initializer: the macros are
// expressions there too (statement expressions are not).
static rgn_t *global_region = rgn_new();

struct session {
    rgn_t *r = rgn_new_scope();
    ~session() { rgn_close(r); }
};

static void basics()
{
    rgn_t *r = rgn_new();
    EXPECT(r != nullptr);
    rgn_key_t k = RGN_KEY_NONE;
    EXPECT(rgn_register(r, free_it, std::malloc(8), &k) == 0);
    EXPECT(!rgn_key_is_none(k) && rgn_live(r) == 1);
    void *m = rgn_malloc(r, 16);
    EXPECT(m && rgn_free(r, m) == 0);
    EXPECT(rgn_register_plain(r, std::free, std::malloc(4), nullptr) == 0);
    EXPECT(rgn_close(r) == 0);
    EXPECT(global_region != nullptr);
    session s;
    EXPECT(s.r != nullptr);
    EXPECT(rgn_register(s.r, free_it, std::malloc(8), nullptr) == 0);
}

static int ran[4];

static int note(void *p, rgn_release_type)
{
    ran[(long)(intptr_t)p]++;
    return 0;
}

static int throws(void *, rgn_release_type)
{
    throw std::runtime_error("cleanup failed");
}

// A cleanup that throws: the close finishes (every other cleanup runs and
// the region is freed, as ASan and valgrind check), then the exception
// reaches the caller, as from a destructor that throws.
static void throwing_cleanup_in_close()
{
    std::memset(ran, 0, sizeof ran);
    rgn_t *r = rgn_new();
    rgn_t *child = rgn_new_child(r);
    EXPECT(rgn_register(r, note, (void *)0, nullptr) == 0);
    EXPECT(rgn_register(child, note, (void *)1, nullptr) == 0);
    EXPECT(rgn_register(child, throws, nullptr, nullptr) == 0);
    EXPECT(rgn_register(r, note, (void *)2, nullptr) == 0);
    bool caught = false;
    try {
        rgn_close(r);
    } catch (const std::runtime_error &) {
        caught = true;
    }
    EXPECT(caught);
    EXPECT(ran[0] == 1 && ran[1] == 1 && ran[2] == 1);
}

// A cleanup that throws from rgn_release: the resource is gone, the
// region intact and usable.
static void throwing_cleanup_in_release()
{
    rgn_t *r = rgn_new();
    rgn_key_t k;
    EXPECT(rgn_register(r, throws, nullptr, &k) == 0);
    bool caught = false;
    try {
        rgn_release(r, k);
    } catch (const std::runtime_error &) {
        caught = true;
    }
    EXPECT(caught);
    EXPECT(rgn_live(r) == 0);
    EXPECT(rgn_release(r, k) == -ENOENT);
    EXPECT(rgn_register(r, free_it, std::malloc(8), nullptr) == 0);
    EXPECT(rgn_close(r) == 0);
}

static int acquire_throws(void *, void **)
{
    throw std::bad_alloc();
}

// An acquire that throws: nothing is registered and the reservation
// ends, so the region closes (it used to wait for it for ever).
static void throwing_acquire()
{
    rgn_t *r = rgn_new();
    bool caught = false;
    try {
        rgn_allocate(r, acquire_throws, nullptr, free_it, nullptr, nullptr);
    } catch (const std::bad_alloc &) {
        caught = true;
    }
    EXPECT(caught);
    EXPECT(rgn_live(r) == 0);
    int state = -1;
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &state);
    EXPECT(state == PTHREAD_CANCEL_ENABLE); // given back
    EXPECT(rgn_close(r) == 0);
}

// A wrapper that takes its caller's site as a default argument: each
// registration is reported at its caller's line, not at the wrapper's.
template <class T> static T *own(rgn_t *r, T *p, rgn_here here = {})
{
    EXPECT(rgn_register_at(r, free_it, p, nullptr, here) == 0);
    return p;
}

struct seen_lines {
    int line[4];
    int n;
};

static int note_line(const struct rgn_audit_entry *e, void *arg)
{
    seen_lines *s = static_cast<seen_lines *>(arg);
    if (s->n < 4 && e->file && std::strstr(e->file, "cplusplus.cc"))
        s->line[s->n++] = e->line;
    return 0;
}

static void sites_of_callers()
{
    rgn_t *r = rgn_new();
    EXPECT(rgn_audit_set(r, RGN_AUDIT_REPORT) == 0);
    int first = __LINE__ + 1;
    own(r, static_cast<char *>(std::malloc(4)));
    int second = __LINE__ + 1;
    own(r, static_cast<char *>(std::malloc(4)));
    seen_lines s = {{0, 0, 0, 0}, 0};
    EXPECT(rgn_audit_visit(r, note_line, &s) == 0);
    EXPECT(s.n == 2 && s.line[0] == second && s.line[1] == first);
    rgn_here here;
    EXPECT(here.site != nullptr && here.site->line == __LINE__ - 1);
    EXPECT(rgn_close_error(r) == 0);
}

static rgn_release_type how_seen;

static int note_how(void *, rgn_release_type how)
{
    how_seen = how;
    ran[3]++;
    return 0;
}

static int body_registers_then_throws(rgn_t *r, void *)
{
    rgn_register(r, note_how, nullptr, nullptr);
    throw std::runtime_error("body failed");
}

// A body that throws: rgn_with closes its scope, as an error close, as
// the exception passes (resourcet's runResourceT closes its scope on any
// exception); it left the scope open, its cleanups never run.
static void throwing_with_body()
{
    std::memset(ran, 0, sizeof ran);
    how_seen = RGN_RELEASE_NORMAL;
    bool caught = false;
    try {
        rgn_with(body_registers_then_throws, nullptr);
    } catch (const std::runtime_error &) {
        caught = true;
    }
    EXPECT(caught);
    EXPECT(ran[3] == 1 && how_seen == RGN_RELEASE_ERROR);
}

// The header-only scope pointers, and a getline buffer, in C++ too.
static char *taken()
{
    RGN_AUTOFREE char *s = static_cast<char *>(std::malloc(8));
    if (!s)
        return nullptr;
    std::strcpy(s, "taken");
    return RGN_TAKE_PTR(s);
}

static void scope_pointers()
{
    char *t = taken();
    EXPECT(t && std::strcmp(t, "taken") == 0);
    std::free(t);
    RGN_AUTOFREE int *v = static_cast<int *>(std::malloc(sizeof *v));
    int *w = RGN_TAKE_PTR(v);
    EXPECT(v == nullptr && w != nullptr);
    std::free(w);
    char *line = static_cast<char *>(std::malloc(16));
    rgn_t *r = rgn_new_scope();
    EXPECT(rgn_adopt_buffer(r, &line, nullptr) == 0);
    EXPECT(rgn_close(r) == 0 && line == nullptr);
}

int main()
{
    basics();
    sites_of_callers();
    throwing_cleanup_in_close();
    throwing_cleanup_in_release();
    throwing_acquire();
    throwing_with_body();
    scope_pointers();
    EXPECT(rgn_close(global_region) == 0);
    return failures ? 1 : 0;
}

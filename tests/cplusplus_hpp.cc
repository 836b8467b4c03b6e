/* SPDX-License-Identifier: MIT */
// cplusplus_hpp.cc -- include/rgn.hpp, every member: regions as RAII
// handles (moves leave nothing behind), scopes that close with
// RGN_RELEASE_ERROR when an exception leaves them, typed registration
// whose failures destroy the object exactly once, keys taken back as
// std::unique_ptr, sites that name this file's lines, and handles shared
// with threads.  Built as C++17 and, where the compiler has it, C++20
// (tests/cplusplus_hpp20): the same checks, rgn_here then built on
// std::source_location.
#include <rgn.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static std::atomic<int> failures;
#define EXPECT(cond)                                                      \
    do {                                                                  \
        if (!(cond)) {                                                    \
            std::fprintf(stderr, "%s:%d: expected %s\n", __FILE__,        \
                         __LINE__, #cond);                                \
            failures++;                                                   \
        }                                                                 \
    } while (0)

// Runs body, which must throw rgn::error with value want; returns
// whether it did.
template <class F> static bool throws_rgn(int want, F body)
{
    try {
        body();
    } catch (const rgn::error &e) {
        if (e.value() != want)
            std::fprintf(stderr, "rgn::error %d (%s), wanted %d\n",
                         e.value(), e.what(), want);
        return e.value() == want;
    }
    return false;
}

// An object that counts its constructions and destructions.
static std::atomic<int> made, destroyed;
struct tracked {
    int value;
    explicit tracked(int v = 0) : value(v)
    {
        made++;
    }
    tracked(const tracked &) = delete;
    ~tracked()
    {
        destroyed++;
    }
};
static int alive()
{
    return made - destroyed;
}
static void reset()
{
    made = 0;
    destroyed = 0;
}

// Takes up to seven arguments, for make.
struct wide {
    int sum;
    explicit wide(int a = 0, int b = 0, int c = 0, int d = 0, int e = 0,
                  int f = 0, int g = 0)
        : sum(a + b + c + d + e + f + g)
    {
        made++;
    }
    ~wide()
    {
        destroyed++;
    }
};

struct throws_in_ctor {
    throws_in_ctor()
    {
        throw std::runtime_error("constructor");
    }
};

// A deleter with state: counts the objects it destroyed.
struct counting_deleter {
    int *count;
    void operator()(tracked *t) const
    {
        ++*count;
        delete t;
    }
};

static int close_tracked(tracked *t)
{
    delete t;
    return 7;
}

// A callable that counts its runs and its live instances, and can be
// told to fail when copied.
static int fn_instances;
struct counted_fn {
    int *runs;
    rgn_release_type *how;
    bool throw_on_copy = false;
    counted_fn(int *r, rgn_release_type *h) : runs(r), how(h)
    {
        fn_instances++;
    }
    counted_fn(const counted_fn &o)
        : runs(o.runs), how(o.how), throw_on_copy(o.throw_on_copy)
    {
        if (throw_on_copy)
            throw std::runtime_error("copy");
        fn_instances++;
    }
    ~counted_fn()
    {
        fn_instances--;
    }
    void operator()(rgn_release_type h)
    {
        ++*runs;
        *how = h;
    }
};

// A C cleanup, for resources registered through rgn.h.
static int bump(void *p, rgn_release_type)
{
    ++*static_cast<int *>(p);
    return 0;
}

// ---- regions and the handle ---------------------------------------------

static void handles()
{
    static_assert(!std::is_copy_constructible_v<rgn::region>);
    static_assert(!std::is_copy_assignable_v<rgn::region>);
    static_assert(std::is_nothrow_move_constructible_v<rgn::region>);
    static_assert(std::is_nothrow_move_assignable_v<rgn::region>);
    static_assert(std::is_nothrow_destructible_v<rgn::region>);
    static_assert(!std::is_move_constructible_v<rgn::scope>);
    static_assert(!std::is_copy_constructible_v<rgn::scope>);

    rgn::region empty;
    EXPECT(!empty && empty.get() == nullptr && empty.live() == 0);
    EXPECT(empty.release() == nullptr);
    EXPECT(empty.close() == -EINVAL && empty.close_error() == -EINVAL);
    EXPECT(throws_rgn(-EINVAL, [&] { empty.share(); }));
    EXPECT(throws_rgn(-EINVAL, [&] { empty.child(); }));

    int runs = 0;
    rgn_release_type how = RGN_RELEASE_EARLY;
    auto owner = rgn::region::owner();
    EXPECT(owner && owner.live() == 0);
    owner.defer([&](rgn_release_type h) {
        runs++;
        how = h;
    });
    EXPECT(owner.live() == 1 && rgn_live(owner.get()) == 1);
    EXPECT(owner.close() == 0 && !owner && runs == 1);
    EXPECT(how == RGN_RELEASE_NORMAL);
    EXPECT(owner.close() == -EINVAL);

    auto s = rgn::region::scope();
    s.defer([&](rgn_release_type h) {
        runs++;
        how = h;
    });
    EXPECT(s.close_error() == 0 && runs == 2 && how == RGN_RELEASE_ERROR);

    // release() hands the reference over; region(rgn_t *) takes one.
    auto r = rgn::region::owner();
    rgn_t *raw = r.release();
    EXPECT(!r && raw != nullptr);
    rgn::region back(raw);
    EXPECT(back.get() == raw);
    EXPECT(back.close() == 0);

    // share: each handle holds a reference; the last to go runs cleanups.
    auto a = rgn::region::owner();
    a.defer([&] { runs++; });
    {
        rgn::region b = a.share();
        EXPECT(b.get() == a.get());
        EXPECT(a.close() == 0 && runs == 2); // not the last reference
        EXPECT(b.live() == 1);
    }
    EXPECT(runs == 3);

    // child: a scope in its parent, closed with it or by its handle.
    auto parent = rgn::region::owner();
    {
        auto c = parent.child();
        EXPECT(parent.live() == 1 && rgn_live(c.get()) == 0);
        c.defer([&] { runs++; });
        EXPECT(!rgn_key_is_none(rgn_child_key(c.get())));
    }
    EXPECT(parent.live() == 0 && runs == 4);
    rgn_t *left = parent.child().release(); // left to its parent
    EXPECT(left != nullptr && parent.live() == 1);
    EXPECT(rgn_register(left, bump, &runs, nullptr) == 0);
    EXPECT(parent.close() == 0 && runs == 5);

    // rgn::scope, alone and as a child.
    auto server = rgn::region::owner();
    {
        rgn::scope job(server);
        EXPECT(server.live() == 1);
        job.defer([&] { runs++; });
        rgn::scope alone;
        alone.defer([&] { runs++; });
    }
    EXPECT(runs == 7 && server.live() == 0);
    EXPECT(server.close() == 0);
}

// Moved-from handles are empty and destroy nothing.
static void moves()
{
    int first = 0, second = 0;
    rgn::region a = rgn::region::owner();
    a.defer([&first] { first++; });
    rgn_t *raw = a.get();
    rgn::region b(std::move(a));
    EXPECT(!a && a.get() == nullptr && b.get() == raw && first == 0);
    EXPECT(a.close() == -EINVAL && a.live() == 0 && first == 0);
    {
        rgn::region c(std::move(b));
        EXPECT(!b && c.live() == 1);
    }
    EXPECT(first == 1);

    rgn::region x = rgn::region::owner();
    x.defer([&first] { first++; });
    rgn::region y = rgn::region::owner();
    y.defer([&second] { second++; });
    rgn_t *yr = y.get();
    x = std::move(y); // closes what x held
    EXPECT(first == 2 && second == 0 && !y && x.get() == yr);
    rgn::region &same = x;
    x = std::move(same);
    EXPECT(x.get() == yr && second == 0);
    y = rgn::region(); // empty into empty: nothing
    EXPECT(!y);
    x = rgn::region();
    EXPECT(!x && second == 1);

    // A vector of handles: moves as it grows, closes each once.
    int n = 0;
    {
        std::vector<rgn::region> v;
        for (int i = 0; i < 20; i++) {
            v.push_back(rgn::region::scope());
            v.back().defer([&n] { n++; });
        }
        EXPECT(n == 0);
    }
    EXPECT(n == 20);
}

// ---- registration ---------------------------------------------------------

static void adopt_and_make()
{
    reset();
    auto r = rgn::region::owner();

    auto a = r.adopt(std::make_unique<tracked>(1));
    EXPECT(a && a->value == 1 && (*a).value == 1 && r.live() == 1);
    EXPECT(alive() == 1);
    static_assert(std::is_same_v<decltype(a), rgn::key<tracked>>);
    static_assert(rgn::detail::owned<tracked,
                                     std::default_delete<tracked>>::in_slot);
    EXPECT(r.release(a) == 0 && alive() == 0 && r.live() == 0);
    EXPECT(r.release(a) == -ENOENT); // twice is safe

    auto arr = r.adopt(std::make_unique<int[]>(16));
    arr.get()[15] = 3;
    static_assert(std::is_same_v<decltype(arr), rgn::key<int[]>>);

    int deleted = 0;
    auto d = r.adopt(std::unique_ptr<tracked, counting_deleter>(
        new tracked(2), counting_deleter{&deleted}));
    static_assert(!rgn::detail::owned<tracked, counting_deleter>::in_slot);
    EXPECT(d->value == 2 && deleted == 0);
    EXPECT(r.release(d) == 0 && deleted == 1 && alive() == 0);

    // A deleter returning int gives the cleanup's result.
    auto f = r.adopt(new tracked(3), close_tracked);
    static_assert(
        std::is_same_v<decltype(f), rgn::key<tracked, int (*)(tracked *)>>);
    EXPECT(r.release(f) == 7 && alive() == 0);

    auto l = r.adopt(new tracked(4), [](tracked *t) { delete t; });
    EXPECT(l->value == 4 && alive() == 1);

    // Nothing to adopt: -EINVAL, nothing registered, d not called.
    size_t live = r.live();
    EXPECT(throws_rgn(-EINVAL, [&] { r.adopt(std::unique_ptr<tracked>()); }));
    EXPECT(throws_rgn(-EINVAL, [&] {
        r.adopt(static_cast<tracked *>(nullptr), counting_deleter{&deleted});
    }));
    EXPECT(r.live() == live && deleted == 1);

    // make: zero to six arguments, make_at any number.
    auto m0 = r.make<tracked>();
    auto m1 = r.make<tracked>(5);
    auto w2 = r.make<wide>(1, 2);
    auto w3 = r.make<wide>(1, 2, 3);
    auto w4 = r.make<wide>(1, 2, 3, 4);
    auto w5 = r.make<wide>(1, 2, 3, 4, 5);
    auto w6 = r.make<wide>(1, 2, 3, 4, 5, 6);
    auto w7 = r.make_at<wide>(rgn_here(), 1, 2, 3, 4, 5, 6, 7);
    EXPECT(m0->value == 0 && m1->value == 5 && w2->sum == 3 &&
           w3->sum == 6 && w4->sum == 10 && w5->sum == 15 && w6->sum == 21 &&
           w7->sum == 28);
    static_assert(std::is_same_v<decltype(w7), rgn::key<wide>>);
    EXPECT(r.live() == live + 8);

    // A constructor that throws: nothing registered.
    live = r.live();
    bool caught = false;
    try {
        r.make<throws_in_ctor>();
    } catch (const std::runtime_error &) {
        caught = true;
    }
    EXPECT(caught && r.live() == live);

    // An empty handle: -EINVAL, the object destroyed at once.
    rgn::region none;
    int before = made, alive_before = alive();
    EXPECT(throws_rgn(-EINVAL, [&] { none.make<tracked>(); }));
    EXPECT(made == before + 1 && alive() == alive_before);

    EXPECT(r.close() == 0 && alive() == 0);
}

static void deferred_actions()
{
    int runs = 0;
    rgn_release_type how = RGN_RELEASE_EARLY;
    auto r = rgn::region::owner();

    // f() and f(how), in the slot (one pointer's worth) or allocated.
    auto small = [&runs] { runs++; };
    static_assert(rgn::detail::deferred<decltype(small)>::in_slot);
    auto k1 = r.defer(small);
    auto big = [&runs, &how](rgn_release_type h) {
        runs++;
        how = h;
    };
    static_assert(!rgn::detail::deferred<decltype(big)>::in_slot);
    auto k2 = r.defer(big);
    EXPECT(r.live() == 2 && runs == 0);
    EXPECT(r.release(k2) == 0 && runs == 1 && how == RGN_RELEASE_EARLY);
    EXPECT(r.release(k1) == 0 && runs == 2);
    EXPECT(r.release(k1) == -ENOENT && runs == 2);

    // A result of type int is the cleanup's: release and close return it.
    auto k3 = r.defer([] { return 5; });
    EXPECT(r.release(k3) == 5);
    r.defer([] { return 9; });
    r.defer([] { return 0; });

    // A callable with state: destroyed once, after its run.
    fn_instances = 0;
    r.defer(counted_fn(&runs, &how));
    EXPECT(fn_instances == 1);
    EXPECT(r.close() == 9 && runs == 3 && how == RGN_RELEASE_NORMAL);
    EXPECT(fn_instances == 0);

    // close_error: cleanups see RGN_RELEASE_ERROR.
    auto e = rgn::region::owner();
    e.defer(counted_fn(&runs, &how));
    EXPECT(e.close_error() == 0 && runs == 4 && how == RGN_RELEASE_ERROR);

    // Storing the callable fails (its copy throws): it runs at once with
    // RGN_RELEASE_ERROR, as a failed registration, and the exception
    // passes through; nothing is registered.
    auto g = rgn::region::owner();
    counted_fn bad(&runs, &how);
    bad.throw_on_copy = true;
    bool caught = false;
    try {
        g.defer(bad);
    } catch (const std::runtime_error &) {
        caught = true;
    }
    EXPECT(caught && runs == 5 && how == RGN_RELEASE_ERROR);
    EXPECT(g.live() == 0 && fn_instances == 1); // only `bad` itself
    EXPECT(g.close() == 0);
}

static void keys()
{
    reset();
    int runs = 0;
    auto r = rgn::region::owner();
    auto other = rgn::region::owner();

    rgn::key<tracked> none;
    rgn::action<int> no_action;
    EXPECT(!none && rgn_key_is_none(none) && none.get() == nullptr);
    EXPECT(!no_action && rgn_key_is_none(no_action.raw()));
    EXPECT(r.release(none) == -ENOENT);

    rgn_key_t ck;
    EXPECT(rgn_register(r.get(), bump, &runs, &ck) == 0);
    EXPECT(r.release(ck) == 0 && runs == 1);

    // unprotect: the std::unique_ptr back, deleter included.
    auto k = r.make<tracked>(8);
    tracked *p = k.get();
    EXPECT(rgn_label(r.get(), k, "tracked") == 0); // converts to rgn_key_t
    std::unique_ptr<tracked> back = r.unprotect(k);
    EXPECT(back.get() == p && r.live() == 0 && alive() == 1);
    EXPECT(throws_rgn(-ENOENT, [&] { r.unprotect(k); }));
    back.reset();
    EXPECT(alive() == 0);

    int deleted = 0;
    auto dk = r.adopt(std::unique_ptr<tracked, counting_deleter>(
        new tracked(1), counting_deleter{&deleted}));
    std::unique_ptr<tracked, counting_deleter> dback = r.unprotect(dk);
    EXPECT(dback && dback.get_deleter().count == &deleted && deleted == 0);
    dback.reset();
    EXPECT(deleted == 1 && alive() == 0);

    auto arr = r.adopt(std::make_unique<int[]>(4));
    std::unique_ptr<int[]> arr_back = r.unprotect(arr);
    EXPECT(arr_back && r.live() == 0);

    // unprotect an action: the callable back, not run.
    auto a = r.defer([&runs] { runs++; });
    auto f = r.unprotect(a);
    EXPECT(runs == 1 && r.live() == 0);
    f();
    EXPECT(runs == 2);
    fn_instances = 0;
    rgn_release_type how = RGN_RELEASE_EARLY;
    auto ca = r.defer(counted_fn(&runs, &how));
    {
        counted_fn fn = r.unprotect(ca);
        EXPECT(fn_instances == 1 && runs == 2);
    }
    EXPECT(fn_instances == 0);
    EXPECT(throws_rgn(-ENOENT, [&] { r.unprotect(ca); }));

    rgn::region empty;
    EXPECT(empty.release(ck) == -EINVAL);
    EXPECT(throws_rgn(-EINVAL, [&] { empty.unprotect(k); }));

    // move: to another region, same object, new key; the old one dead.
    auto m = r.make<tracked>(9);
    auto moved = r.move(m, other);
    EXPECT(moved.get() == m.get() && !rgn_key_equal(moved, m));
    EXPECT(r.live() == 0 && other.live() == 1);
    EXPECT(r.release(m) == -ENOENT);
    auto ma = r.defer([&runs] { runs++; });
    auto moved_a = r.move(ma, other);
    rgn_key_t cm;
    EXPECT(rgn_register(r.get(), bump, &runs, &cm) == 0);
    rgn_key_t moved_c = r.move(cm, other);
    EXPECT(r.live() == 0 && other.live() == 3);
    EXPECT(other.release(moved_c) == 0 && runs == 3);
    EXPECT(other.release(moved_a) == 0 && runs == 4);

    // A move that fails changes nothing.
    EXPECT(throws_rgn(-EINVAL, [&] { other.move(moved, empty); }));
    EXPECT(throws_rgn(-ENOENT, [&] { r.move(m, other); }));
    EXPECT(other.live() == 1 && alive() == 1);
    EXPECT(r.close() == 0 && alive() == 1);
    EXPECT(other.close() == 0 && alive() == 0);
}

// ---- errors ---------------------------------------------------------------

static void errors()
{
    rgn::region none;
    try {
        none.make<tracked>();
        EXPECT(false);
    } catch (const std::system_error &e) {
        const rgn::error *re = dynamic_cast<const rgn::error *>(&e);
        EXPECT(re != nullptr);
        EXPECT(e.code() == std::errc::invalid_argument);
        EXPECT(re && re->value() == -EINVAL && re->origin() == RGN_FROM_RGN);
        std::string what = e.what();
        EXPECT(what.rfind("rgn::region::make: ", 0) == 0);
        EXPECT(what.find(rgn_strerror(-EINVAL)) != std::string::npos);
    }
    // The header's own refusal says what it refused.
    try {
        none.adopt(std::unique_ptr<tracked>());
        EXPECT(false);
    } catch (const rgn::error &e) {
        EXPECT(e.value() == -EINVAL && e.origin() == RGN_FROM_RGN);
        EXPECT(std::string(e.what()) ==
               "rgn::region::adopt: nothing to adopt");
    }
}

// A registration that fails destroys what it was given exactly once
// (rgn runs the cleanup at once), and throws rgn::error.  Here an empty
// handle (-EINVAL) and a closing region (-ECANCELED); failed_allocations
// below, -ENOMEM.
static void failed_registration()
{
    reset();
    int runs = 0, deleted = 0;
    rgn_release_type how = RGN_RELEASE_EARLY;
    rgn::region none;
    EXPECT(throws_rgn(-EINVAL,
                      [&] { none.adopt(std::make_unique<tracked>()); }));
    EXPECT(made == 1 && destroyed == 1);
    EXPECT(throws_rgn(-EINVAL, [&] {
        none.adopt(new tracked(), counting_deleter{&deleted});
    }));
    EXPECT(made == 2 && destroyed == 2 && deleted == 1);
    fn_instances = 0;
    EXPECT(throws_rgn(-EINVAL,
                      [&] { none.defer(counted_fn(&runs, &how)); }));
    EXPECT(runs == 1 && how == RGN_RELEASE_ERROR && fn_instances == 0);
    EXPECT(throws_rgn(-EINVAL, [&] { none.defer([&runs] { runs++; }); }));
    EXPECT(runs == 2);

    // Registering into a region that is closing: from a cleanup of its
    // close, through a handle on the same region.
    reset();
    auto r = rgn::region::owner();
    rgn_t *raw = r.get();
    int refused = 0;
    r.defer([raw, &refused, &runs, &how, &deleted] {
        rgn::region view(raw);
        refused += throws_rgn(-ECANCELED, [&] { view.make<tracked>(1); });
        refused += throws_rgn(-ECANCELED, [&] {
            view.adopt(std::make_unique<tracked>(2));
        });
        refused += throws_rgn(-ECANCELED, [&] {
            view.adopt(new tracked(3), counting_deleter{&deleted});
        });
        refused += throws_rgn(-ECANCELED,
                              [&] { view.defer(counted_fn(&runs, &how)); });
        view.release(); // the close drops this reference, not view
    });
    EXPECT(r.close() == 0);
    EXPECT(refused == 4 && made == 3 && destroyed == 3 && deleted == 2);
    EXPECT(runs == 3 && how == RGN_RELEASE_ERROR && fn_instances == 0);
}

// rgn's allocator runs out: registrations throw rgn::error -ENOMEM, each
// after destroying its object once.  The allocator is set before any
// region exists (main), and fails only while fail_allocations is set.
static std::atomic<bool> fail_allocations;
static void *test_malloc(size_t n)
{
    return fail_allocations ? nullptr : std::malloc(n);
}
static void *test_realloc(void *p, size_t n)
{
    return fail_allocations ? nullptr : std::realloc(p, n);
}
static const rgn_allocator failing = {test_malloc, test_realloc, std::free};

static void failed_allocations()
{
    reset();
    int runs = 0, deleted = 0;
    rgn_release_type how = RGN_RELEASE_EARLY;
    auto r = rgn::region::owner();
    fail_allocations = true;
    int registered = 0, refused = 0;
    for (int i = 0; i < 64 && !refused; i++) {
        try {
            r.make<tracked>(i);
            registered++;
        } catch (const rgn::error &e) {
            refused += e.value() == -ENOMEM;
        }
    }
    EXPECT(refused == 1 && registered >= 1);
    EXPECT(made == registered + 1 && destroyed == 1);
    EXPECT(r.live() == size_t(registered));
    EXPECT(throws_rgn(-ENOMEM,
                      [&] { r.adopt(std::make_unique<tracked>()); }));
    EXPECT(throws_rgn(-ENOMEM, [&] {
        r.adopt(new tracked(), counting_deleter{&deleted});
    }));
    EXPECT(made == registered + 3 && destroyed == 3 && deleted == 1);
    fn_instances = 0;
    EXPECT(throws_rgn(-ENOMEM, [&] { r.defer(counted_fn(&runs, &how)); }));
    EXPECT(throws_rgn(-ENOMEM, [&] { r.defer([&runs] { runs++; }); }));
    EXPECT(runs == 2 && how == RGN_RELEASE_ERROR && fn_instances == 0);
    EXPECT(r.live() == size_t(registered));
    fail_allocations = false;
    EXPECT(r.close() == 0 && alive() == 0);
}

// ---- exceptions and scopes ------------------------------------------------

struct closes_in_destructor {
    rgn_release_type *seen;
    ~closes_in_destructor()
    {
        // Made while an exception unwinds, ended while it still does:
        // this block's own end is a normal one.
        rgn::scope s;
        s.defer([this](rgn_release_type h) { *seen = h; });
    }
};

static void exceptions_close_scopes()
{
    int runs = 0;
    rgn_release_type how = RGN_RELEASE_EARLY;
    auto note = [&](rgn_release_type h) {
        runs++;
        how = h;
    };

    try {
        auto s = rgn::region::scope();
        s.defer(note);
        throw std::runtime_error("leaves the scope");
    } catch (const std::runtime_error &) {
    }
    EXPECT(runs == 1 && how == RGN_RELEASE_ERROR);

    {
        auto s = rgn::region::scope();
        s.defer(note);
    }
    EXPECT(runs == 2 && how == RGN_RELEASE_NORMAL);

    try {
        rgn::scope s;
        s.defer(note);
        throw 1;
    } catch (int) {
    }
    EXPECT(runs == 3 && how == RGN_RELEASE_ERROR);

    // An owner, and a child scope, unwound alike.
    auto parent = rgn::region::owner();
    try {
        auto o = rgn::region::owner();
        o.defer(note);
        rgn::scope job(parent);
        job.defer([&] { runs += 10; });
        throw 2;
    } catch (int) {
    }
    EXPECT(runs == 14 && how == RGN_RELEASE_ERROR && parent.live() == 0);

    // A scope made by a destructor the unwinding runs ends normally.
    how = RGN_RELEASE_EARLY;
    try {
        closes_in_destructor c{&how};
        throw 3;
    } catch (int) {
    }
    EXPECT(how == RGN_RELEASE_NORMAL);

    // A region passed out of the block is not closed by the exception.
    rgn::region kept;
    try {
        auto s = rgn::region::scope();
        s.defer(note);
        kept = std::move(s);
        throw 4;
    } catch (int) {
    }
    EXPECT(runs == 14 && kept.live() == 1);
    EXPECT(kept.close() == 0 && runs == 15 && how == RGN_RELEASE_NORMAL);
    EXPECT(parent.close() == 0);
}

// A cleanup that throws: the close or release finishes, then the
// exception reaches the caller of close() or release(key).  From the
// handle's destructor, which is noexcept, it ends the program.
static void throwing_cleanups()
{
    int runs = 0;
    auto r = rgn::region::owner();
    r.defer([&runs] { runs++; });
    r.defer([] { throw std::runtime_error("cleanup"); });
    r.defer([&runs] { runs++; });
    bool caught = false;
    try {
        r.close();
    } catch (const std::runtime_error &) {
        caught = true;
    }
    EXPECT(caught && runs == 2 && !r);

    auto q = rgn::region::owner();
    auto k = q.defer([] { throw std::runtime_error("release"); });
    caught = false;
    try {
        q.release(k);
    } catch (const std::runtime_error &) {
        caught = true;
    }
    EXPECT(caught && q.live() == 0 && q.release(k) == -ENOENT);
    EXPECT(q.close() == 0);


    // (Under valgrind the child's abort comes with its leak report.)
    std::fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 2); // terminate's message
        {
            rgn::scope s;
            s.defer([] { throw std::runtime_error("at the brace"); });
        }
        _exit(0);
    }
    int status = 0;
    EXPECT(pid > 0 && waitpid(pid, &status, 0) == pid);
    EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

// ---- sites ----------------------------------------------------------------

struct seen_sites {
    std::vector<int> lines; // of this file, newest first
    int in_header = 0;      // entries whose site is rgn.hpp's
};

static int note_site(const struct rgn_audit_entry *e, void *arg)
{
    seen_sites *s = static_cast<seen_sites *>(arg);
    if (e->file && std::strstr(e->file, "cplusplus_hpp.cc"))
        s->lines.push_back(e->line);
    if (e->file && std::strstr(e->file, "rgn.hpp"))
        s->in_header++;
    return 0;
}

static void append_line(const char *line, void *arg)
{
    static_cast<std::string *>(arg)->append(line).append("\n");
}

// A wrapper of the user's own passes its caller's site on.
template <class T>
static rgn::key<T> own(rgn::region &r, T *p, rgn_here here = {})
{
    return r.adopt(std::unique_ptr<T>(p), here);
}

static void sites()
{
    reset();
    int l_owner = __LINE__ + 1;
    auto r = rgn::region::owner();
    EXPECT(rgn_audit_set(r.get(), RGN_AUDIT_REPORT) == 0);
    std::vector<int> want;
    want.push_back(__LINE__ + 1);
    r.adopt(std::make_unique<tracked>(1));
    int deleted = 0;
    want.push_back(__LINE__ + 1);
    r.adopt(new tracked(2), counting_deleter{&deleted});
    want.push_back(__LINE__ + 1);
    r.make<tracked>();
    want.push_back(__LINE__ + 1);
    r.make<wide>(1, 2, 3);
    want.push_back(__LINE__ + 1);
    rgn_here here;
    r.make_at<wide>(here, 1, 2, 3, 4, 5, 6, 7);
    want.push_back(__LINE__ + 1);
    r.defer([] {});
    int runs = 0;
    rgn_release_type how;
    want.push_back(__LINE__ + 1);
    r.defer(counted_fn(&runs, &how));
    want.push_back(__LINE__ + 1);
    auto c = r.child();
    want.push_back(__LINE__ + 1);
    own(r, new tracked(3));

    seen_sites s;
    EXPECT(rgn_audit_visit(r.get(), note_site, &s) == 0);
    std::vector<int> newest_first(want.rbegin(), want.rend());
    EXPECT(s.lines == newest_first);
    EXPECT(s.in_header == 0);
    if (s.lines != newest_first)
        for (int l : s.lines)
            std::fprintf(stderr, "  seen line %d\n", l);

    // The regions' own sites: "region made at <this file>:<line>".
    std::string dump;
    EXPECT(rgn_audit_dump(r.get(), append_line, &dump) >= 0);
    std::string made_at = "cplusplus_hpp.cc:" + std::to_string(l_owner);
    EXPECT(dump.find(made_at) != std::string::npos);
    EXPECT(dump.find("rgn.hpp") == std::string::npos);
    int l_scope = __LINE__ + 1;
    rgn::scope sc;
    EXPECT(rgn_audit_set(sc.get(), RGN_AUDIT_REPORT) == 0);
    sc.defer([] {});
    dump.clear();
    EXPECT(rgn_audit_dump(sc.get(), append_line, &dump) == 1);
    made_at = "cplusplus_hpp.cc:" + std::to_string(l_scope);
    EXPECT(dump.find(made_at) != std::string::npos);

    EXPECT(c.close() == 0);
    EXPECT(r.close_error() == 0 && alive() == 0);
}

// ---- threads ---------------------------------------------------------------

static void threads_share()
{
    reset();
    std::atomic<int> ran{0};
    const int threads = 4, rounds = 300;
    {
        auto r = rgn::region::owner();
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; t++)
            ts.emplace_back([s = r.share(), &ran]() mutable {
                for (int i = 0; i < rounds; i++) {
                    auto k = s.make<tracked>(i);
                    EXPECT(k->value == i);
                    if (i % 2)
                        EXPECT(s.release(k) == 0);
                    s.defer([&ran] { ran++; });
                    rgn::scope job(s);
                    job.make<tracked>(i);
                    job.defer([&ran] { ran++; });
                }
            });
        // Not necessarily the last reference: whichever thread drops the
        // last one runs the cleanups.
        EXPECT(r.close() == 0);
        for (auto &t : ts)
            t.join();
    }
    EXPECT(ran == 2 * threads * rounds);
    EXPECT(made == 2 * threads * rounds && alive() == 0);
}

int main()
{
    // Before any region, and any rgn_here (its sites freeze the choice).
    if (rgn_set_allocator(&failing) != 0) {
        std::fprintf(stderr, "rgn_set_allocator failed\n");
        return 1;
    }
    handles();
    moves();
    adopt_and_make();
    deferred_actions();
    keys();
    errors();
    failed_registration();
    failed_allocations();
    exceptions_close_scopes();
    throwing_cleanups();
    sites();
    threads_share();
#if __cplusplus >= 202002L
    // C++20: sites from std::source_location, and captureless lambdas
    // are deleters kept in the slot.
    auto del = [](tracked *t) { delete t; };
    static_assert(rgn::detail::owned<tracked, decltype(del)>::in_slot);
#if !defined(RGN_SOURCE_LOCATION_)
    EXPECT(!"C++20 without std::source_location");
#endif
#endif
    if (failures)
        std::fprintf(stderr, "%d failures\n", failures.load());
    return failures ? 1 : 0;
}

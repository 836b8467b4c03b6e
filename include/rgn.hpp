/* SPDX-License-Identifier: MIT */
/*
 * rgn.hpp -- rgn for C++17: a region as an RAII handle, typed
 * registration, exceptions for rgn's errors, and call sites that name the
 * caller.  Header-only, over the C interface of rgn.h; link with -lrgn.
 *
 *   #include <rgn.hpp>
 *
 *   void serve(rgn::region &server)
 *   {
 *       rgn::scope job(server);            // a child scope of server
 *       auto conn = job.make<connection>(host, 443);
 *       auto buf = job.adopt(std::make_unique<char[]>(4096));
 *       job.defer([&] { log_done(conn->id()); });
 *       conn->send(buf.get());
 *   }  // every cleanup runs here, newest first; with RGN_RELEASE_ERROR
 *      // when an exception leaves the block
 *
 * Everything C's rgn says holds: a resource handed over is cleaned up
 * exactly once, newest first, however the region ends; registration
 * that fails cleans it up at once.  What this header adds:
 *
 *   - rgn::region owns one reference to an rgn_t: move-only, closed by
 *     its destructor.  rgn::scope is a region pinned to its block.
 *   - The destructor closes with rgn_close_error when an exception
 *     unwinds the scope the handle lives in (std::uncaught_exceptions()
 *     is higher than when the handle was made), with rgn_close
 *     otherwise, as resourcet's runResourceT closes on an exception.
 *   - adopt(), make() and defer() take objects, deleters and callables
 *     and return typed keys; unprotect() gives a std::unique_ptr back.
 *   - Factories and registrations that fail throw rgn::error (a
 *     std::system_error), after rgn has cleaned up what they were given.
 *     release(key) and close() return rgn's int and never throw rgn::error.
 *   - Every call that makes a region or registers takes a trailing
 *     rgn_here (rgn.h), so the leak audit names the line that called it,
 *     not a line of this header.  A wrapper of its own passes its
 *     caller's rgn_here on.
 *
 * Exceptions thrown by cleanups.  A deleter, destructor or deferred
 * callable that throws follows rgn.h's rule: the release or close
 * running it finishes first (a release has forgotten the resource, a
 * close runs every other cleanup and frees the region), then the
 * exception reaches the caller of release(key) or close().  The
 * handle's destructor and move assignment are noexcept, as destructors
 * are, so that handles live in std::thread, std::function and
 * containers: a cleanup that throws there calls std::terminate, as any
 * destructor that throws does.  Call close() first where a cleanup may
 * throw.  Cleanups that cannot fail (the usual delete) see none of this.
 *
 * The namespace is rgn.  C++ cannot have a namespace and a class of one
 * name in the same scope, so in C++ rgn.h names rgn_t's tag struct
 * rgn_region_, not struct rgn as in C: the same incomplete type.
 *
 * Threads.  A handle is used by one thread at a time, as any object; a
 * thread of its own gets a handle from share() (or the C interface's
 * rgn_thread_create).  The region's calls are as thread-safe as rgn.h
 * says: any number of threads holding references may register and
 * release at once, and whichever drop is last runs the cleanups.
 */
#ifndef RGN_HPP
#define RGN_HPP

/* One clear error, not dozens from if constexpr and the _v traits: the
 * rest of the header is left out. */
#if !defined(__cplusplus) || __cplusplus < 201703L
#error "rgn.hpp needs C++17 or later; rgn.h alone serves C and older C++"
#else

#include "rgn.h"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace rgn
{

/* ======================================================================
 * Errors
 * ====================================================================== */

/*
 * An rgn call that failed: value() is the negative errno value rgn
 * returned (-EINVAL, -ECANCELED, -ENOMEM, -ENOENT...), code() the same
 * errno in std::generic_category (so e.code() == std::errc::...
 * compares), origin() what rgn_error_origin() said of it, and what() the
 * C++ call's name and rgn_strerror()'s text, read when it failed:
 * "rgn::region::make: region is closing".  The one refusal of this
 * header's own (adopting an empty pointer) is made with the second
 * constructor: RGN_FROM_RGN, and its own text.
 */
class error : public std::system_error
{
  public:
    error(int value, const char *call)
        : std::system_error(value < 0 ? -value : value,
                            std::generic_category()),
          value_(value), origin_(rgn_error_origin()),
          what_(std::string(call) + ": " + rgn_strerror(value))
    {
    }
    error(int value, const char *call, const char *text)
        : std::system_error(value < 0 ? -value : value,
                            std::generic_category()),
          value_(value), origin_(RGN_FROM_RGN),
          what_(std::string(call) + ": " + text)
    {
    }
    int value() const noexcept
    {
        return value_;
    }
    rgn_origin origin() const noexcept
    {
        return origin_;
    }
    const char *what() const noexcept override
    {
        return what_.c_str();
    }

  private:
    int value_;
    rgn_origin origin_;
    std::string what_;
};

namespace detail
{

/* A constructor's failure: rgn returned NULL and set errno. */
[[noreturn]] inline void throw_errno(const char *call)
{
    int e = errno;
    throw error(e > 0 ? -e : -ENOMEM, call);
}

inline void *to_void(const volatile void *p) noexcept
{
    return const_cast<void *>(p);
}

/* A deleter's or a callable's result as a cleanup's: an int is passed
 * through (release() and close() return it), anything else counts as 0. */
template <class F, class... A> int result_of_call(F &f, A &&...a)
{
    if constexpr (std::is_same_v<std::invoke_result_t<F &, A...>, int>) {
        return f(std::forward<A>(a)...);
    } else {
        f(std::forward<A>(a)...);
        return 0;
    }
}

/*
 * How an object with deleter D is stored in its slot.  A deleter with no
 * state to keep (std::default_delete, and C++20's captureless lambdas) is
 * made again at the cleanup: the slot holds the pointer itself.  Any
 * other (a function pointer, a deleter with state) sits beside the
 * pointer in a holder allocated with new.
 */
template <class T, class D> struct owned {
    static_assert(!std::is_reference_v<D>,
                  "rgn: adopt a std::unique_ptr whose deleter is not a "
                  "reference");
    using pointer = typename std::unique_ptr<T, D>::pointer;
    static_assert(std::is_pointer_v<pointer>,
                  "rgn: the deleter's pointer type must be a plain pointer");
    static constexpr bool in_slot =
        std::is_empty_v<D> && std::is_trivially_default_constructible_v<D> &&
        std::is_trivially_destructible_v<D>;
    struct holder {
        pointer p;
        D d;
    };
    static int cleanup(void *resource, rgn_release_type)
    {
        if constexpr (in_slot) {
            D d{};
            return result_of_call(d, static_cast<pointer>(resource));
        } else {
            /* Freed even when the deleter throws. */
            std::unique_ptr<holder> h(static_cast<holder *>(resource));
            return result_of_call(h->d, h->p);
        }
    }
};

/*
 * How a deferred callable F is stored.  One as small as a pointer that
 * can be copied as bytes (a lambda capturing one reference or pointer,
 * or nothing) lives in the slot; any other is allocated with new.  It
 * takes the release type if it can: f(how), else f().
 */
template <class F> struct deferred {
    static constexpr bool in_slot = std::is_trivially_copyable_v<F> &&
                                    sizeof(F) <= sizeof(void *) &&
                                    alignof(F) <= alignof(void *);
    static_assert(std::is_invocable_v<F &, rgn_release_type> ||
                      std::is_invocable_v<F &>,
                  "rgn: defer takes a callable f() or f(rgn_release_type)");
    template <class H> static int call(H &f, rgn_release_type how)
    {
        if constexpr (std::is_invocable_v<H &, rgn_release_type>)
            return result_of_call(f, how);
        else
            return result_of_call(f);
    }
    static void *store(const F &f) noexcept
    {
        void *slot = nullptr;
        std::memcpy(&slot, std::addressof(f), sizeof(F));
        return slot;
    }
    static int run(void *resource, rgn_release_type how)
    {
        if constexpr (in_slot) {
            alignas(F) unsigned char bytes[sizeof(F)];
            std::memcpy(bytes, &resource, sizeof(F));
            return call(*std::launder(reinterpret_cast<F *>(bytes)), how);
        } else {
            /* Destroyed even when it throws. */
            std::unique_ptr<F> f(static_cast<F *>(resource));
            return call(*f, how);
        }
    }
};

} // namespace detail

/* ======================================================================
 * Keys
 * ====================================================================== */

/*
 * The key of an object a region owns, from adopt() or make(): its rgn_key_t
 * and the object's pointer.  A key owns nothing -- the region does -- and
 * copies freely; once the object is released, unprotected or moved away,
 * or its region has closed, the key is dead (rgn calls given it return
 * -ENOENT) and get() dangles, as a raw pointer would.  Only a region
 * makes live keys, so the type of a key is the type of what it names:
 * unprotect() hands back the std::unique_ptr<T, D> it was made from.
 * It converts to rgn_key_t, for the C calls (rgn_label, rgn_expect_close).
 */
template <class T, class D = std::default_delete<T>> class key
{
  public:
    using pointer = typename std::unique_ptr<T, D>::pointer;
    using element_type = T;
    using deleter_type = D;

    /* A key that names nothing (RGN_KEY_NONE, get() null). */
    key() noexcept = default;

    pointer get() const noexcept
    {
        return p_;
    }
    template <class U = T, std::enable_if_t<!std::is_array_v<U>, int> = 0>
    U &operator*() const noexcept
    {
        return *p_;
    }
    template <class U = T, std::enable_if_t<!std::is_array_v<U>, int> = 0>
    pointer operator->() const noexcept
    {
        return p_;
    }
    rgn_key_t raw() const noexcept
    {
        return k_;
    }
    operator rgn_key_t() const noexcept
    {
        return k_;
    }
    /* False for a key that names nothing; true for one a region made,
     * whether or not it is still live. */
    explicit operator bool() const noexcept
    {
        return !rgn_key_is_none(k_);
    }

  private:
    friend class region;
    key(rgn_key_t k, pointer p) noexcept : k_(k), p_(p)
    {
    }
    rgn_key_t k_ = RGN_KEY_NONE;
    pointer p_ = nullptr;
};

/*
 * The key of a deferred callable, from defer(): as key, but naming a
 * callable of type F; unprotect() hands the callable back, not run.
 */
template <class F> class action
{
  public:
    action() noexcept = default;

    rgn_key_t raw() const noexcept
    {
        return k_;
    }
    operator rgn_key_t() const noexcept
    {
        return k_;
    }
    explicit operator bool() const noexcept
    {
        return !rgn_key_is_none(k_);
    }

  private:
    friend class region;
    explicit action(rgn_key_t k) noexcept : k_(k)
    {
    }
    rgn_key_t k_ = RGN_KEY_NONE;
};

/* ======================================================================
 * Regions
 * ====================================================================== */

/*
 * One reference to a region.  Move-only: a moved-from handle is empty
 * (get() is null) and its destructor does nothing.  The destructor drops
 * the reference: with rgn_close_error when an exception leaving the
 * scope the handle was made in is unwinding it, with rgn_close otherwise
 * -- so the last handle to go runs the cleanups, newest first, as rgn.h
 * says.  Its result is lost: call close() to see it.
 *
 * An empty handle (default-constructed, moved from, closed, released) is
 * a NULL region to every call: registrations throw rgn::error -EINVAL
 * after cleaning up what they were given, close() returns -EINVAL.
 *
 * A handle from child() holds the parent's reference (rgn_new_child):
 * the parent's close closes the child, after which the handle must not
 * be used or destroyed.  Declared after its parent, as a local or a
 * member, it goes first, as it must; child().release() leaves the child
 * to its parent alone.
 */
class region
{
  public:
    /* An empty handle. */
    region() noexcept = default;

    /* Takes over one reference the caller holds (from rgn_new, rgn_share,
     * rgn_new_child...); r may be NULL. */
    explicit region(rgn_t *r) noexcept : r_(r)
    {
    }

    region(const region &) = delete;
    region &operator=(const region &) = delete;

    /* Takes o's reference; o is left empty. */
    region(region &&o) noexcept : r_(std::exchange(o.r_, nullptr))
    {
    }

    /* Drops the reference this handle held, as the destructor does,
     * then takes o's; o is left empty. */
    region &operator=(region &&o) noexcept
    {
        if (this != &o) {
            region old(std::exchange(r_, std::exchange(o.r_, nullptr)));
            old.unwinding_ = unwinding_;
        }
        return *this;
    }

    /* See the class comment.  A cleanup that throws here calls
     * std::terminate (see the top of this file). */
    ~region()
    {
        if (!r_)
            return;
        rgn_t *r = std::exchange(r_, nullptr);
        if (std::uncaught_exceptions() > unwinding_)
            (void)rgn_close_error(r);
        else
            (void)rgn_close(r);
    }

    /* ------------------------------------------------------------------
     * Making regions.  Each records its caller's site (the audit's "region
     * made at" line) and throws rgn::error on failure: -ENOMEM, and for
     * child() -EINVAL (this handle is empty) or -ECANCELED (it is
     * closing).
     * ------------------------------------------------------------------ */

    /* A new owner, as rgn_new(): what it holds at a normal close is a leak
     * to the audit. */
    static region owner(rgn_here here = {})
    {
        rgn_t *r = rgn_new_at(here);
        if (!r)
            detail::throw_errno("rgn::region::owner");
        return region(r);
    }

    /* A new scope, as rgn_new_scope(): its close is the intended end of
     * what it holds. */
    static region scope(rgn_here here = {})
    {
        rgn_t *r = rgn_new_scope_at(here);
        if (!r)
            detail::throw_errno("rgn::region::scope");
        return region(r);
    }

    /* A child scope of this region, as rgn_new_child(): registered as
     * this region's newest resource and closed with it (see the class
     * comment for the reference the handle holds). */
    region child(rgn_here here = {})
    {
        rgn_t *c = rgn_new_child_at(r_, here);
        if (!c)
            detail::throw_errno("rgn::region::child");
        return region(c);
    }

    /* Another handle on the same region, holding a reference of its own
     * (rgn_share): for another thread or owner.  A child region leaves
     * its parent.  Throws rgn::error -EINVAL (empty), -ECANCELED
     * (closing) or -EOVERFLOW. */
    region share()
    {
        rgn_t *s = rgn_share(r_);
        if (!s)
            detail::throw_errno("rgn::region::share");
        return region(s);
    }

    /* ------------------------------------------------------------------
     * The handle.
     * ------------------------------------------------------------------ */

    /* The region, for the C calls; NULL when empty.  The handle keeps its
     * reference. */
    rgn_t *get() const noexcept
    {
        return r_;
    }
    explicit operator bool() const noexcept
    {
        return r_ != nullptr;
    }

    /* Gives up the reference without dropping it and returns the region
     * (NULL when empty); the handle is left empty.  The caller drops it
     * (rgn_close), or, for a child, leaves it to its parent.  (Not
     * release(key), which runs a resource's cleanup.) */
    rgn_t *release() noexcept
    {
        return std::exchange(r_, nullptr);
    }

    /* Drops the reference now, as rgn_close() (rgn_close_error()), and
     * leaves the handle empty.  Returns 0, the first non-zero result of
     * the cleanups a last drop ran, or -EINVAL (already empty); never
     * throws rgn::error.  A cleanup's exception leaves it after the
     * close is done. */
    int close()
    {
        return rgn_close(std::exchange(r_, nullptr));
    }
    int close_error()
    {
        return rgn_close_error(std::exchange(r_, nullptr));
    }

    /* Live resources (rgn_live); 0 when empty. */
    std::size_t live() const noexcept
    {
        return rgn_live(r_);
    }

    /* ------------------------------------------------------------------
     * Registering.  Each takes a trailing rgn_here: leave it out and the
     * audit records the caller's line.  Each returns a key and, on
     * failure, throws rgn::error -EINVAL (empty handle, or nothing to
     * adopt), -ECANCELED (the region is closing) or -ENOMEM, after rgn
     * has run the cleanup at once, with RGN_RELEASE_ERROR, as
     * rgn_register promises: what was handed over is destroyed (a
     * deferred callable run) exactly once, either way.  Allocating a
     * holder can throw std::bad_alloc first (see each).
     * ------------------------------------------------------------------ */

    /*
     * Hands p's object to the region, to be destroyed by p's deleter
     * (delete, for std::default_delete) at its release or the region's
     * close.  Returns its key: the object's pointer and its registration.
     * A deleter with state, or a function pointer, is kept beside the
     * pointer in a holder allocated with new; std::bad_alloc from that
     * leaves the object with p, which destroys it.  A deleter returning
     * int gives the cleanup's result (what release() and close() return).
     * An empty p throws rgn::error -EINVAL, registering nothing.
     */
    template <class T, class D>
    key<T, D> adopt(std::unique_ptr<T, D> p, rgn_here here = {})
    {
        using own = detail::owned<T, D>;
        if (!p)
            throw error(-EINVAL, "rgn::region::adopt", "nothing to adopt");
        void *resource;
        if constexpr (own::in_slot)
            resource = detail::to_void(p.get());
        else
            resource =
                new typename own::holder{p.get(), std::move(p.get_deleter())};
        typename own::pointer ptr = p.release();
        rgn_key_t k;
        int rc = rgn_register_at(r_, &own::cleanup, resource, &k, here);
        if (rc != 0)
            throw error(rc, "rgn::region::adopt");
        return key<T, D>(k, ptr);
    }

    /* adopt(std::unique_ptr<T, D>(p, d)): p destroyed by d(p), which may
     * be a function (fclose) or a lambda.  p NULL throws rgn::error
     * -EINVAL, and d is not called. */
    template <class T, class D> key<T, D> adopt(T *p, D d, rgn_here here = {})
    {
        return adopt(std::unique_ptr<T, D>(p, std::move(d)), here);
    }

    /*
     * Constructs a T with new T(args...) and hands it to the region, as
     * adopt(std::unique_ptr<T>), registered with its size (sizeof(T)) for
     * the audit's byte counts.  Returns its key.  A constructor's
     * exception (std::bad_alloc too) passes through, nothing registered.
     * Takes up to six arguments with the trailing rgn_here; make_at takes
     * the site first and any number.
     */
    template <class T> key<T> make(rgn_here here = {})
    {
        return make_at<T>(here);
    }
    template <class T, class A1> key<T> make(A1 &&a1, rgn_here here = {})
    {
        return make_at<T>(here, std::forward<A1>(a1));
    }
    template <class T, class A1, class A2>
    key<T> make(A1 &&a1, A2 &&a2, rgn_here here = {})
    {
        return make_at<T>(here, std::forward<A1>(a1), std::forward<A2>(a2));
    }
    template <class T, class A1, class A2, class A3>
    key<T> make(A1 &&a1, A2 &&a2, A3 &&a3, rgn_here here = {})
    {
        return make_at<T>(here, std::forward<A1>(a1), std::forward<A2>(a2),
                          std::forward<A3>(a3));
    }
    template <class T, class A1, class A2, class A3, class A4>
    key<T> make(A1 &&a1, A2 &&a2, A3 &&a3, A4 &&a4, rgn_here here = {})
    {
        return make_at<T>(here, std::forward<A1>(a1), std::forward<A2>(a2),
                          std::forward<A3>(a3), std::forward<A4>(a4));
    }
    template <class T, class A1, class A2, class A3, class A4, class A5>
    key<T> make(A1 &&a1, A2 &&a2, A3 &&a3, A4 &&a4, A5 &&a5,
                rgn_here here = {})
    {
        return make_at<T>(here, std::forward<A1>(a1), std::forward<A2>(a2),
                          std::forward<A3>(a3), std::forward<A4>(a4),
                          std::forward<A5>(a5));
    }
    template <class T, class A1, class A2, class A3, class A4, class A5,
              class A6>
    key<T> make(A1 &&a1, A2 &&a2, A3 &&a3, A4 &&a4, A5 &&a5, A6 &&a6,
                rgn_here here = {})
    {
        return make_at<T>(here, std::forward<A1>(a1), std::forward<A2>(a2),
                          std::forward<A3>(a3), std::forward<A4>(a4),
                          std::forward<A5>(a5), std::forward<A6>(a6));
    }
    /* More than six: an error that says so, rather than a site lost. */
    template <class T, class... A> key<T> make(A &&...)
    {
        static_assert(sizeof...(A) == 0,
                      "rgn::region::make takes up to six arguments; use "
                      "make_at<T>(rgn_here(), args...)");
        return {};
    }

    /* make<T>(args...) with the site given first, for wrappers that pass
     * their caller's on and for any number of arguments. */
    template <class T, class... A> key<T> make_at(rgn_here here, A &&...args)
    {
        static_assert(
            !std::is_array_v<T>,
            "rgn: make an array with adopt(std::make_unique<T[]>(n))");
        T *p = new T(std::forward<A>(args)...);
        rgn_key_t k;
        int rc = rgn_register_sized_at(
            r_, &detail::owned<T, std::default_delete<T>>::cleanup,
            detail::to_void(p), &k, sizeof(T), here);
        if (rc != 0)
            throw error(rc, "rgn::region::make");
        return key<T>(k, p);
    }

    /*
     * Registers f to run once at its release or the region's close, as
     * f(how) when it takes the release type, else f(), then to be
     * destroyed; a result of type int is the cleanup's.  Returns its key
     * (release() runs it early, unprotect() takes it back unrun).  f is
     * moved or copied into the region: a callable as small as a pointer
     * and copyable as bytes (a lambda capturing one reference, or none)
     * costs no allocation; any other is allocated with new, and when that
     * throws (std::bad_alloc, or f's copy), f runs at once with
     * RGN_RELEASE_ERROR, as for a failed registration, and the exception
     * passes through.
     */
    template <class F> action<std::decay_t<F>> defer(F &&f, rgn_here here = {})
    {
        using G = std::decay_t<F>;
        using run = detail::deferred<G>;
        void *resource;
        if constexpr (run::in_slot) {
            G g(std::forward<F>(f));
            resource = run::store(g);
        } else {
            try {
                resource = new G(std::forward<F>(f));
            } catch (...) {
                run::call(f, RGN_RELEASE_ERROR);
                throw;
            }
        }
        rgn_key_t k;
        int rc = rgn_register_at(r_, &run::run, resource, &k, here);
        if (rc != 0)
            throw error(rc, "rgn::region::defer");
        return action<G>(k);
    }

    /* ------------------------------------------------------------------
     * Keys.  Each takes a key of this region: a typed key, an action, or
     * an rgn_key_t from the C calls.
     * ------------------------------------------------------------------ */

    /*
     * Runs k's cleanup now (RGN_RELEASE_EARLY) and forgets it, as
     * rgn_release(): returns the cleanup's result (0, or what a deleter
     * or callable returning int returned), or -ENOENT when k is not live
     * here (released already, moved, of another region: releasing twice
     * is safe) and -EINVAL when the handle is empty.  Never throws
     * rgn::error, whatever the cleanup returns: a cleanup's failure is a
     * value to look at, not an exception.  A cleanup's own exception
     * passes through, the resource forgotten.
     */
    int release(rgn_key_t k)
    {
        return rgn_release(r_, k);
    }

    /* Takes k's object back without destroying it (rgn_unprotect) and
     * returns it in the std::unique_ptr it was adopted as, deleter
     * included.  Throws rgn::error -ENOENT (k not live here) or -EINVAL
     * (empty handle); nothing changes then. */
    template <class T, class D>
    std::unique_ptr<T, D> unprotect(const key<T, D> &k)
    {
        using own = detail::owned<T, D>;
        void *resource = nullptr;
        int rc = rgn_unprotect(r_, k.raw(), nullptr, &resource);
        if (rc != 0)
            throw error(rc, "rgn::region::unprotect");
        using pointer = typename own::pointer;
        if constexpr (own::in_slot) {
            return std::unique_ptr<T, D>(static_cast<pointer>(resource));
        } else {
            std::unique_ptr<typename own::holder> h(
                static_cast<typename own::holder *>(resource));
            return std::unique_ptr<T, D>(h->p, std::move(h->d));
        }
    }

    /* Takes a deferred callable back without running it and returns it
     * (the one in the region is destroyed; the one returned runs only if
     * called).  Throws as unprotect(key). */
    template <class F> F unprotect(const action<F> &a)
    {
        using run = detail::deferred<F>;
        void *resource = nullptr;
        int rc = rgn_unprotect(r_, a.raw(), nullptr, &resource);
        if (rc != 0)
            throw error(rc, "rgn::region::unprotect");
        if constexpr (run::in_slot) {
            alignas(F) unsigned char bytes[sizeof(F)];
            std::memcpy(bytes, &resource, sizeof(F));
            return *std::launder(reinterpret_cast<F *>(bytes));
        } else {
            std::unique_ptr<F> f(static_cast<F *>(resource));
            return std::move(*f);
        }
    }

    /* Moves k's resource into `to`, as its newest (rgn_move; atomic), and
     * returns its new key there (the object's pointer is the same); k is
     * dead.  Throws rgn::error -ENOENT (k not live here), -EINVAL (a
     * handle empty, or a child region into itself or its descendant),
     * -ECANCELED (to is closing) or -ENOMEM; nothing changes then. */
    template <class T, class D> key<T, D> move(const key<T, D> &k, region &to)
    {
        return key<T, D>(move(k.raw(), to), k.get());
    }
    template <class F> action<F> move(const action<F> &a, region &to)
    {
        return action<F>(move(a.raw(), to));
    }
    rgn_key_t move(rgn_key_t k, region &to)
    {
        rgn_key_t moved;
        int rc = rgn_move(r_, k, to.r_, &moved);
        if (rc != 0)
            throw error(rc, "rgn::region::move");
        return moved;
    }

  private:
    rgn_t *r_ = nullptr;
    /* Exceptions in flight when the handle was made: more at its end
     * means one is unwinding it. */
    int unwinding_ = std::uncaught_exceptions();
};

/*
 * A region pinned to its block: `rgn::scope s;` makes a scope,
 * `rgn::scope s(parent);` a child scope of parent, and the closing brace
 * ends what it holds -- with RGN_RELEASE_ERROR when an exception leaves
 * the block.  Neither copied nor moved (the block is its life); every
 * member of region is its own.  Throws as region::scope() and
 * region::child().
 */
class scope : public region
{
  public:
    explicit scope(rgn_here here = {}) : region(region::scope(here))
    {
    }
    explicit scope(region &parent, rgn_here here = {})
        : region(parent.child(here))
    {
    }
    scope(const scope &) = delete;
    scope &operator=(const scope &) = delete;
    scope(scope &&) = delete;
    scope &operator=(scope &&) = delete;
};

} // namespace rgn

#endif /* C++17 */
#endif /* RGN_HPP */

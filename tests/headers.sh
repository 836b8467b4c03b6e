#!/bin/sh
# SPDX-License-Identifier: MIT
# Every private header of lib/ compiles on its own, so none leans on the
# includes of the file that includes it (doc/HACKING: each header includes
# what it uses, and internal.h only lists them in dependency order), and
# each is listed in Makefile.am, so that the tarball has it.  And the
# public header, inline paths and scope macros used, gives a program built
# with strict warnings none of its own: C99 and C11, and C++98, 11, 17
# and 20, with rgn.hpp from 17 on (CXX, when there is one).
set -u
src=${top_srcdir:-.}
cc=${CC:-cc}
cxx=${CXX:-c++}
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
fail=0
for h in "$src"/lib/*.h; do
    name=$(basename "$h")
    printf '#include "%s"\n#include "%s"\n' "$name" "$name" > "$dir/t.c"
    if ! $cc -std=gnu11 -fsyntax-only -Wall -Wextra -Werror \
         -I"${top_builddir:-.}" -I"$src/include" -I"$src/lib" "$dir/t.c" \
         2> "$dir/err"; then
        echo "headers: lib/$name does not compile on its own (or twice):" >&2
        sed 's/^/  /' "$dir/err" >&2
        fail=1
    fi
    # A header the sources list goes into the tarball; one they do not
    # is missing from a build of that tarball (make distcheck).
    grep -q "lib/$name" "$src/Makefile.am" || {
        echo "headers: lib/$name is not listed in Makefile.am (make dist leaves it out)" >&2
        fail=1
    }
done

# One program, compiled as C and as C++ (with rgn.hpp from C++17 on).
cat > "$dir/p.c" <<'EOF'
#include <rgn.h>
#include <stdlib.h>

#if defined(__cplusplus) && __cplusplus >= 201103L
#define NO_KEY nullptr
#elif defined(__cplusplus)
#define NO_KEY 0
#else
#define NO_KEY NULL
#endif

int use_rgn(rgn_t *owner);

static int drop(void *p, rgn_release_type how)
{
    (void)how;
    free(p);
    return 0;
}

int use_rgn(rgn_t *owner)
{
    rgn_key_t k;
    void *a = rgn_alloc(owner, 10);
    if (!a)
        return -1;
    if (rgn_register(owner, drop, malloc(1), &k) != 0 ||
        rgn_register_labeled(owner, drop, malloc(1), NO_KEY, "x") != 0 ||
        rgn_register_sized(owner, drop, malloc(8), NO_KEY, 8) != 0)
        return -1;
    {
        RGN_SCOPE(s);
        void *b = rgn_alloc(s, 4);
        (void)b;
    }
    return rgn_release(owner, k);
}

#if defined(__cplusplus) && __cplusplus >= 201703L
#include <rgn.hpp>
int use_hpp();
int use_hpp()
{
    rgn::region r;
    return r.close();
}
#endif
EOF
# strict COMPILER STD FLAGS...: whether p.c compiles without a warning.
strict() {
    c=$1
    std=$2
    shift 2
    if ! $c -std=$std -fsyntax-only -Wall -Wextra -Wpedantic -Wconversion \
         -Wsign-conversion -Werror "$@" -I"$src/include" "$dir/p.c" \
         2> "$dir/err"; then
        echo "headers: include/rgn.h or rgn.hpp warns in a strict -std=$std build:" >&2
        sed 's/^/  /' "$dir/err" >&2
        fail=1
    fi
}
for std in c99 c11; do
    strict "$cc" $std -Wdeclaration-after-statement -Wshadow -Wcast-qual \
        -Wstrict-prototypes -Wmissing-prototypes -Wundef
done
if command -v "${cxx%% *}" >/dev/null 2>&1; then
    for std in c++11 c++17 c++20; do
        strict "$cxx" $std -x c++ -Wold-style-cast \
            -Wzero-as-null-pointer-constant -Wmissing-declarations
    done
    # Before C++11 there is no nullptr to write a null key with.
    strict "$cxx" c++98 -x c++ -Wold-style-cast -Wmissing-declarations
    # rgn.hpp before C++17: one error that says so, and no other.
    printf '#include <rgn.hpp>\n' > "$dir/h.cc"
    $cxx -std=c++14 -fsyntax-only -I"$src/include" "$dir/h.cc" \
        > "$dir/err" 2>&1
    if ! grep -q 'rgn.hpp needs C++17' "$dir/err" ||
       [ "$(grep -c ': error:' "$dir/err")" -ne 1 ]; then
        echo "headers: rgn.hpp under -std=c++14 does not stop at one clear error:" >&2
        sed 's/^/  /' "$dir/err" >&2
        fail=1
    fi
fi
exit $fail

#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/consumers/run.sh -- after `make install' (make installcheck, and
# so make distcheck): a CMake project (find_package(rgn CONFIG), rgn::rgn)
# and a meson project (dependency('rgn'), through pkg-config) build
# tests/consumers/app.c against the installed tree and run it, as a
# user's project would.  Also: the CMake package turns away versions of
# another series, and works from a copy of the installed tree.  Each is
# skipped, saying so, when its tool is missing.
#
# Environment (from Makefile.am's installcheck-local): DESTDIR prefix
# libdir includedir pkgconfigdir cmakedir VERSION CC PKG_CONFIG
# top_srcdir.  Everything is built in a temporary directory: the source
# tree may be read-only (distcheck).
set -u
s="${top_srcdir:-.}/tests/consumers"
root=${DESTDIR:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rgn-consumers.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
export CC

say() { echo "installcheck: $*"; }
bad() {
    echo "installcheck: FAILED: $*" >&2
    fail=1
}
# show FILE: a log, indented, on stderr.
show() { sed 's/^/    /' "$1" >&2; }

# The project DIR, with app.c, copied out of the (read-only) sources.
project() {
    mkdir -p "$tmp/$1" &&
        cp "$s/app.c" "$s/$1"/* "$tmp/$1/" &&
        chmod -R u+w "$tmp/$1"
}

# runs PROGRAM LIBDIR: runs it against the library in LIBDIR and checks,
# where ldd can say, that this is the library it loaded.
runs() {
    prog=$1 dir=$2
    out=$(LD_LIBRARY_PATH="$dir" "$prog" 2>&1) ||
        { bad "$prog failed: $out"; return 1; }
    case $out in
        "consumer: rgn $VERSION: the cleanup ran once, at the close") ;;
        *) bad "$prog printed: $out"; return 1 ;;
    esac
    if command -v ldd >/dev/null 2>&1; then
        got=$(LD_LIBRARY_PATH="$dir" ldd "$prog" 2>/dev/null |
            awk '$1 ~ /^librgn\.so/ { print $3 }')
        if [ -n "$got" ]; then
            got=$(cd "$(dirname "$got")" && pwd -P)
            want=$(cd "$dir" && pwd -P)
            [ "$got" = "$want" ] ||
                { bad "$prog loaded librgn from $got, not $want"; return 1; }
        fi
    fi
    return 0
}

series=$(printf '%s\n' "$VERSION" | sed -n 's/^\([0-9]*\)\.\([0-9]*\).*/\1.\2/p')
major=${series%.*}
minor=${series#*.}

# ---- CMake -----------------------------------------------------------------
# cmake_configure BUILD PREFIX WANT: configures the CMake project in
# tmp/BUILD against the tree at PREFIX, asking for version WANT; its
# output is in tmp/BUILD.log.
cmake_configure() {
    cmake -S "$tmp/cmake" -B "$tmp/$1" -DCMAKE_PREFIX_PATH="$2" \
        -DRGN_WANT="$3" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
        >"$tmp/$1.log" 2>&1
}

# same DIR1 DIR2: the two name one directory.
same() {
    [ -n "$1" ] && [ -d "$1" ] && [ "$(cd "$1" && pwd -P)" = "$(cd "$2" && pwd -P)" ]
}

# cmake_consumer NAME PREFIX CMAKEDIR LIBDIR INCLUDEDIR: builds and runs
# the project against PREFIX; find_package must have found CMAKEDIR, and
# rgn::rgn must point into LIBDIR and INCLUDEDIR.
cmake_consumer() {
    name=$1 pfx=$2 cmdir=$3 ldir=$4 idir=$5
    cmake_configure "$name" "$pfx" "$series" ||
        { bad "cmake: find_package(rgn $series CONFIG) failed ($name):"; show "$tmp/$name.log"; return; }
    found=$(sed -n 's/^rgn_DIR:PATH=//p' "$tmp/$name/CMakeCache.txt")
    same "$found" "$cmdir" ||
        { bad "cmake: rgn_DIR is '$found', not $cmdir"; return; }
    loc=$(sed -n 's/^-- rgn::rgn library: //p' "$tmp/$name.log")
    inc=$(sed -n 's/^-- rgn::rgn headers: //p' "$tmp/$name.log")
    [ -f "$loc" ] && same "$(dirname "$loc")" "$ldir" ||
        { bad "cmake: rgn::rgn's library is '$loc', not in $ldir"; return; }
    same "$inc" "$idir" ||
        { bad "cmake: rgn::rgn's headers are in '$inc', not $idir"; return; }
    cmake --build "$tmp/$name" >"$tmp/$name.build.log" 2>&1 ||
        { bad "cmake: the consumer did not build ($name):"; show "$tmp/$name.build.log"; return; }
    runs "$tmp/$name/consumer" "$ldir" || return
    say "a CMake project (find_package(rgn $series CONFIG), rgn::rgn) builds and runs against $pfx"
}

if ! command -v cmake >/dev/null 2>&1; then
    say "cmake not found: the CMake consumer is skipped (Debian: apt-get install cmake)"
else
    project cmake || exit 1
    cmake_consumer cmake-build "$root$prefix" "$root$cmakedir" "$root$libdir" \
        "$root$includedir"

    # Versions: none asked for is fine; another series is not (0.x: the
    # minor version is the series), and CMake names the file it turned
    # away.
    before=$fail
    cmake_configure cmake-any "$root$prefix" "" ||
        { bad "cmake: find_package(rgn CONFIG) with no version failed:"; show "$tmp/cmake-any.log"; }
    no="$major.$((minor + 1))"
    [ "$major" -eq 0 ] && [ "$minor" -gt 0 ] && no="$no $major.$((minor - 1))"
    [ "$major" -gt 0 ] && no="$no $((major + 1)).0"
    for v in $no; do
        if cmake_configure cmake-no "$root$prefix" "$v"; then
            bad "cmake: find_package(rgn $v) accepted rgn $VERSION"
        elif ! grep -q "version: $VERSION" "$tmp/cmake-no.log"; then
            bad "cmake: find_package(rgn $v) did not consider and refuse rgn $VERSION:"
            show "$tmp/cmake-no.log"
        fi
        rm -rf "$tmp/cmake-no"
    done
    # A range (CMake 3.19 and later) that starts in the series.
    range="$series...<$major.$((minor + 1))"
    cmake_version=$(cmake --version | sed -n 's/^cmake version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
    if [ -n "$cmake_version" ] && [ "${cmake_version% *}" -eq 3 ] &&
       [ "${cmake_version#* }" -lt 19 ]; then
        range=
    fi
    if [ -n "$range" ]; then
        cmake_configure cmake-range "$root$prefix" "$range" ||
            { bad "cmake: find_package(rgn $range) failed:"; show "$tmp/cmake-range.log"; }
    fi
    [ $fail -eq "$before" ] &&
        say "rgnConfigVersion.cmake: rgn $VERSION is found for $series${range:+, $range} and no version, refused for$(printf ' %s' $no)"

    # Relocatable: the installed tree copied elsewhere works there.
    case "$libdir:$includedir:$cmakedir" in
        "$prefix"/*:"$prefix"/*:"$prefix"/*)
            mkdir -p "$tmp/moved" &&
                cp -pR "$root$prefix/." "$tmp/moved/" || exit 1
            cmake_consumer cmake-moved "$tmp/moved" \
                "$tmp/moved${cmakedir#"$prefix"}" "$tmp/moved${libdir#"$prefix"}" \
                "$tmp/moved${includedir#"$prefix"}" ;;
        *)
            say "libdir or includedir outside the prefix: the copied-tree test is skipped" ;;
    esac
fi

# ---- meson -----------------------------------------------------------------
if ! command -v meson >/dev/null 2>&1 || ! command -v ninja >/dev/null 2>&1; then
    say "meson or ninja not found: the meson consumer is skipped (Debian: apt-get install meson ninja-build)"
else
    project meson || exit 1
    if [ -n "$root" ]; then
        PKG_CONFIG_SYSROOT_DIR=$root
        export PKG_CONFIG_SYSROOT_DIR
    fi
    if ! PKG_CONFIG=${PKG_CONFIG:-pkg-config} PKG_CONFIG_PATH="$root$pkgconfigdir" \
        meson setup "$tmp/meson-build" "$tmp/meson" >"$tmp/meson.log" 2>&1; then
        bad "meson: dependency('rgn') failed:"
        show "$tmp/meson.log"
    elif ! meson compile -C "$tmp/meson-build" >"$tmp/meson.build.log" 2>&1; then
        bad "meson: the consumer did not build:"
        show "$tmp/meson.build.log"
    elif runs "$tmp/meson-build/consumer" "$root$libdir"; then
        say "a meson project (dependency('rgn'), pkg-config) builds and runs against $root$prefix"
    fi
fi
exit $fail

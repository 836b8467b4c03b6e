#!/bin/sh
# SPDX-License-Identifier: MIT
# abi/abi.sh check|baseline -- the ABI of the built librgn.so against the
# baseline for its soname, abi/SONAME.abi (make abi-check, make
# abi-baseline; doc/HACKING, "The ABI").
#
#   check     fails when the library is incompatible with its baseline,
#             or has none; added calls are compatible.
#   baseline  writes abi/SONAME.abi from the library; refuses to replace
#             a baseline the library is incompatible with (ABI_FORCE=1
#             overrides), so an incompatible change needs a new soname
#             (RGN_LT_VERSION in configure.ac) and a new baseline file.
#
# The baseline is abidw's XML for the public headers' types only, with no
# paths, source locations, architecture or DT_NEEDED entries, so it does
# not change with the build directory or the line numbers of lib/.  Both
# sides of a comparison are made with the same options.
set -u
mode=${1:-}
src=${top_srcdir:-.}
b=${top_builddir:-.}
lib="$b/lib/.libs/librgn.so"
abidw=${ABIDW:-abidw}
abidiff=${ABIDIFF:-abidiff}
objdump=${OBJDUMP:-objdump}
me="abi-$mode"

die() {
    echo "$me: $*" >&2
    exit 1
}

case $mode in
    check | baseline) ;;
    *) echo "usage: abi/abi.sh check|baseline" >&2; exit 2 ;;
esac
for tool in "$abidw" "$abidiff"; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "$tool not found (Debian: apt-get install abigail-tools)"
done
[ -e "$lib" ] || die "no shared library $lib: run make first (not configured with --disable-shared)"
soname=$($objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
[ -n "$soname" ] || die "cannot read the soname of $lib"
$objdump -h "$lib" | grep -q '\.debug_info' ||
    die "$lib has no debug information, so no types to compare: configure with -g in CFLAGS (the default -g -O2 has it)"

baseline="$src/abi/$soname.abi"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# The DWARF names each source file as the compiler was given it
# (lib/x.c, ../rgn-0.1.0/lib/x.c, /abs/path/lib/x.c): keep lib/x.c.
headers=$(cd "$src/include" && pwd)
"$abidw" --no-corpus-path --no-comp-dir-path --no-show-locs \
    --no-elf-needed --no-architecture --type-id-style hash \
    --headers-dir "$headers" --drop-private-types --drop-undefined-syms \
    --out-file "$tmp/raw.abi" "$lib" >"$tmp/abidw.err" 2>&1 ||
    die "abidw failed on $lib: $(cat "$tmp/abidw.err")"
sed "s|path='\([^']*/\)\{0,1\}\(lib/[^'/]*\)'|path='\2'|" \
    "$tmp/raw.abi" >"$tmp/new.abi"

# compare: $verdict is same, additions or incompatible; abidiff's report
# is in $tmp/report.  abidiff's exit status is a bit mask: 1 error, 2
# usage, 4 an ABI change, 8 an incompatible one (a call or symbol gone,
# the soname changed).  A public type that changed layout (a field added
# to rgn_stats: "type size changed from 704 to 768 (in bits)") is only
# 4, yet breaks every program that allocates the struct, so any change
# but an addition of calls or variables counts as incompatible.
compare() {
    "$abidiff" "$baseline" "$tmp/new.abi" >"$tmp/report" 2>&1
    status=$?
    [ $((status & 3)) -eq 0 ] ||
        die "abidiff failed (exit status $status): $(cat "$tmp/report")"
    if [ "$status" -eq 0 ]; then
        verdict=same
        return
    fi
    "$abidiff" --no-added-syms "$baseline" "$tmp/new.abi" >"$tmp/changes" 2>&1
    status=$?
    [ $((status & 3)) -eq 0 ] ||
        die "abidiff failed (exit status $status): $(cat "$tmp/changes")"
    if [ "$status" -eq 0 ]; then
        verdict=additions
    else
        verdict=incompatible
        cp "$tmp/changes" "$tmp/report"
        [ $((status & 8)) -ne 0 ] && kind="an incompatible change" ||
            kind="a change to the public types or calls"
    fi
}

report() {
    sed 's/^/    /' "$tmp/report" >&2
}

name="abi/$soname.abi"
if [ "$mode" = check ]; then
    [ -f "$baseline" ] ||
        die "no baseline $name for $soname (a new soname?): run make abi-baseline and commit $name"
    compare
    case $verdict in
        same)
            echo "abi-check: $soname matches $name" ;;
        additions)
            sed 's/^/    /' "$tmp/report"
            echo "abi-check: $soname is compatible with $name, with additions (make abi-baseline records them)" ;;
        incompatible)
            report
            echo "abi-check: FAILED: $soname is not compatible with $name: abidiff reports $kind (above)." >&2
            echo "abi-check: programs built against the $soname it records would break.  Undo the change, or bump the soname" >&2
            echo "abi-check: (RGN_LT_VERSION in configure.ac, C:R:A to C+1:0:0) and record a new baseline" >&2
            echo "abi-check: (./configure && make && make abi-baseline), committing both." >&2
            exit 1 ;;
    esac
    exit 0
fi

# baseline
if [ -f "$baseline" ] && [ "${ABI_FORCE:-}" != 1 ]; then
    compare
    case $verdict in
        same)
            echo "abi-baseline: $name is up to date"
            exit 0 ;;
        incompatible)
            report
            echo "abi-baseline: REFUSED: $soname is not compatible with $name (above): an incompatible change needs a new soname (RGN_LT_VERSION in configure.ac) and a new baseline file; ABI_FORCE=1 overwrites $name anyway" >&2
            exit 1 ;;
    esac
fi
mkdir -p "$src/abi" || exit 1
cp "$tmp/new.abi" "$baseline" || die "cannot write $baseline"
n=$(grep -c '<elf-symbol ' "$baseline")
echo "abi-baseline: wrote $name ($n symbols); commit it"

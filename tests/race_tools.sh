#!/bin/sh
# SPDX-License-Identifier: MIT
# valgrind's race detectors against the library of this build tree, as
# users run them against the installed library: tests/tsan_scenario.c,
# built plainly, runs its threads with the audit on under helgrind and
# under DRD, and neither may report anything.  rgn tells them of the
# hand-offs made through its own atomics and names those atomics
# (lib/race.h); without that, helgrind reported millions of races in a
# shared region's locked calls, and DRD as many.  Skipped (77) without
# valgrind, in a build without <valgrind/helgrind.h>, and where the
# library is built with a sanitizer (valgrind cannot run one).
set -u
b="${top_builddir:-.}"
s="${top_srcdir:-.}"
cc=${CC:-cc}
vg=${VALGRIND:-valgrind}
lib="$b/lib/.libs/librgn.so"
if [ ! -e "$lib" ]; then
    echo "race_tools: no shared library built ($lib); skipped"
    exit 77
fi
if ${NM:-nm} -D --undefined-only "$lib" | grep -q '__[aut][sb]san_\|__tsan_func'; then
    echo "race_tools: the library is built with a sanitizer; skipped"
    exit 77
fi
if ! grep -q '^#define HAVE_VALGRIND_HELGRIND_H 1' "$b/config.h" 2>/dev/null; then
    echo "race_tools: built without <valgrind/helgrind.h>; skipped"
    exit 77
fi
if ! command -v "$vg" >/dev/null 2>&1; then
    echo "race_tools: valgrind not found (Debian: apt-get install valgrind); skipped"
    exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

libdir=$(cd "$b/lib/.libs" && pwd)
if ! $cc -g -O1 -I"$s/include" -o "$tmp/scenario" \
    "$s/tests/tsan_scenario.c" -L"$libdir" -lrgn -Wl,-rpath,"$libdir" \
    -pthread; then
    echo "race_tools: the scenario does not build" >&2
    exit 1
fi

fail=0
for tool in helgrind drd; do
    for mode in allocator default; do
        RGN_AUDIT=report LD_LIBRARY_PATH="$libdir" \
            "$vg" --tool=$tool --error-exitcode=66 \
            "$tmp/scenario" "$mode" >"$tmp/out" 2>"$tmp/err"
        status=$?
        if [ "$status" -ne 0 ]; then
            echo "race_tools: $tool, scenario '$mode', exited with $status:" >&2
            head -n 60 "$tmp/err" >&2
            fail=1
        else
            echo "race_tools: $tool, scenario '$mode': no report"
        fi
    done
done
exit $fail

#!/bin/sh
# SPDX-License-Identifier: MIT
# A ThreadSanitizer program against the library of this build tree, as
# users run one against the installed library they did not rebuild:
# tests/tsan_scenario.c, built with -fsanitize=thread, runs its threads
# with the audit on and ThreadSanitizer must report nothing.  rgn tells
# it of the hand-offs made through its own atomics (lib/race.h); without
# that it reported races in rgn__realloc, to_pages, the program's
# allocator and its cleanups.  Skipped (77) where -fsanitize=thread does
# not link or run, and where the library is built with another sanitizer
# (a process has one runtime at most).
set -u
b="${top_builddir:-.}"
s="${top_srcdir:-.}"
cc=${CC:-cc}
lib="$b/lib/.libs/librgn.so"
if [ ! -e "$lib" ]; then
    echo "tsan: no shared library built ($lib); skipped"
    exit 77
fi
if ${NM:-nm} -D --undefined-only "$lib" | grep -q '__[au][sb]san_'; then
    echo "tsan: the library is built with AddressSanitizer or UBSan; skipped"
    exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/probe.c" <<'EOF'
#include <pthread.h>
static void *run(void *arg) { return arg; }
int main(void)
{
    pthread_t t;
    return pthread_create(&t, 0, run, 0) || pthread_join(t, 0);
}
EOF
if ! $cc -fsanitize=thread -o "$tmp/probe" "$tmp/probe.c" -pthread \
    >"$tmp/probe.log" 2>&1 || ! "$tmp/probe" >>"$tmp/probe.log" 2>&1; then
    echo "tsan: -fsanitize=thread does not link or run here; skipped"
    cat "$tmp/probe.log"
    exit 77
fi

libdir=$(cd "$b/lib/.libs" && pwd)
if ! $cc -fsanitize=thread -g -O1 -I"$s/include" -o "$tmp/scenario" \
    "$s/tests/tsan_scenario.c" -L"$libdir" -lrgn -Wl,-rpath,"$libdir" \
    -pthread; then
    echo "tsan: the scenario does not build" >&2
    exit 1
fi

fail=0
for mode in allocator default; do
    RGN_AUDIT=report LD_LIBRARY_PATH="$libdir" \
        TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}halt_on_error=1:exitcode=66" \
        "$tmp/scenario" "$mode" >"$tmp/out" 2>"$tmp/err"
    status=$?
    if [ "$status" -ne 0 ] || grep -q ThreadSanitizer "$tmp/err"; then
        echo "tsan: scenario '$mode' exited with $status:" >&2
        cat "$tmp/err" >&2
        fail=1
    else
        echo "tsan: scenario '$mode': no report"
    fi
done
exit $fail

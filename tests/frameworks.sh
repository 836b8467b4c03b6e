#!/bin/sh
# SPDX-License-Identifier: MIT
# rgn's checkpoints in other test frameworks: the cmocka and GoogleTest
# suites (tests/cmocka_leaks.c, tests/gtest_leaks.cc) each have a test
# that leaks into a long-lived owner and one that does not.  Under the
# audit the leaking test fails alone, and rgn names the line that
# registered what it left (LEAK-SITE); the clean one passes.  A suite
# whose framework was not installed at configure time is skipped, named.
set -u
b="${top_builddir:-.}"
s="${top_srcdir:-.}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0 ran=0

bad() {
    echo "frameworks: $*" >&2
    fail=1
}

# leak_line FILE: the LEAK-SITE line of a source.
leak_line() {
    grep -n 'LEAK-SITE' "$1" | cut -d: -f1
}

# expect FILE WANT...: every WANT is a line fragment FILE holds.
expect() {
    file=$1
    shift
    for want in "$@"; do
        grep -qF -- "$want" "$file" || bad "$(basename "$prog"): no \"$want\" in:
$(cat "$file")"
    done
}

prog="$b/tests/cmocka_leaks"
if [ -x "$prog" ]; then
    ran=$((ran + 1))
    line=$(leak_line "$s/tests/cmocka_leaks.c")
    RGN_AUDIT=report "$prog" >"$tmp/out" 2>&1
    st=$?
    [ "$st" -eq 1 ] || bad "cmocka_leaks exited with $st, not 1 (one failed test)"
    expect "$tmp/out" \
        "cmocka_leaks.c:$line: handle_request(): 1 live," \
        "rgn: leak summary: 1 live resource from 1 site registered since the mark" \
        "[  PASSED  ] 1 test(s)." \
        "[  ERROR   ] leaky_handler" \
        "[       OK ] clean_handler"
    [ "$(grep -c 'rgn: leak:' "$tmp/out")" -eq 1 ] ||
        bad "cmocka_leaks: not one leak line: $(cat "$tmp/out")"
else
    echo "frameworks: cmocka not found at configure time (Debian: libcmocka-dev); its suite skipped"
fi

prog="$b/tests/gtest_leaks"
if [ -x "$prog" ]; then
    ran=$((ran + 1))
    line=$(leak_line "$s/tests/gtest_leaks.cc")
    RGN_AUDIT=report "$prog" >"$tmp/out" 2>&1
    st=$?
    [ "$st" -eq 1 ] || bad "gtest_leaks exited with $st, not 1"
    expect "$tmp/out" \
        "gtest_leaks.cc:$line: handle_request(): 1 live," \
        "registered since the mark of \"Leaky\"" \
        "[  FAILED  ] Handler.Leaky" \
        "[       OK ] Handler.Clean" \
        "1 FAILED TEST"
    [ "$(grep -c 'rgn: leak:' "$tmp/out")" -eq 1 ] ||
        bad "gtest_leaks: not one leak line: $(cat "$tmp/out")"
else
    echo "frameworks: GoogleTest not found at configure time (Debian: libgtest-dev); its suite skipped"
fi

[ "$ran" -gt 0 ] || exit 77
[ "$fail" -eq 0 ] && echo "frameworks: $ran suites, each leaking test failed alone, naming its site"
exit $fail

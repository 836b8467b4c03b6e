#!/bin/sh
# The two production stories under the audit: each leaky example must
# report its own leaking registration (the line marked LEAK-SITE) with the
# number of resources it says it left behind, and abort under
# RGN_AUDIT=abort; each fixed example must say nothing at all.
set -u
b="${top_builddir:-.}"
s="${top_srcdir:-.}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

bad() {
    echo "examples: $*" >&2
    fail=1
}

# run NAME ARGS...: runs examples/NAME with the audit on; stdout and
# stderr land in $tmp/out and $tmp/err, the exit status in $status.
run() {
    name=$1
    shift
    RGN_AUDIT=report "$b/examples/$name" "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
}

story() {
    name=$1 func=$2
    line=$(grep -n 'LEAK-SITE' "$s/examples/$name.c" | cut -d: -f1)
    [ -n "$line" ] || { bad "$name.c has no LEAK-SITE line"; return; }

    run "$name"
    [ "$status" -eq 0 ] || bad "$name exited with $status"
    held=$(sed -n 's/.* \([0-9][0-9]*\) \(connections still registered\|resources\)$/\1/p' "$tmp/out")
    [ -n "$held" ] && [ "$held" -gt 0 ] ||
        bad "$name did not say how much it left behind: $(cat "$tmp/out")"
    grep -q "^rgn: leak: .*$name\.c:$line: $func(): .* $held live, oldest " "$tmp/err" ||
        bad "$name: no 'rgn: leak:' line for $name.c:$line $func() with $held live:
$(cat "$tmp/err")"
    grep -q "^rgn: leak summary: $held live " "$tmp/err" ||
        bad "$name: no summary of $held live resources"
    grep -q "^rgn: limit: .*$name\.c:$line: $func()" "$tmp/err" ||
        bad "$name: the limit warning does not name $name.c:$line"

    RGN_AUDIT=abort "$b/examples/$name" >/dev/null 2>&1
    status=$?
    [ "$status" -gt 128 ] || bad "$name under RGN_AUDIT=abort exited with $status, not a signal"

    run "$name" --fixed
    [ "$status" -eq 0 ] || bad "$name --fixed exited with $status"
    [ ! -s "$tmp/err" ] || bad "$name --fixed is not silent: $(cat "$tmp/err")"
    grep -q ' 0 \(connections still registered\|resources\)$' "$tmp/out" ||
        bad "$name --fixed left something behind: $(cat "$tmp/out")"
    RGN_AUDIT=abort "$b/examples/$name" --fixed >/dev/null 2>&1 ||
        bad "$name --fixed under RGN_AUDIT=abort exited with $?"
}

story partial_read fetch
story worker_pool run_job

# The quick start runs silently under the audit: it leaks nothing.
run quickstart
[ "$status" -eq 0 ] || bad "quickstart exited with $status"
[ ! -s "$tmp/err" ] || bad "quickstart is not silent under the audit: $(cat "$tmp/err")"
exit $fail

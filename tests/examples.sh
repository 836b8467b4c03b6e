#!/bin/sh
# SPDX-License-Identifier: MIT
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

# story NAME FUNC [limit]: NAME's leak report names its LEAK-SITE line
# in FUNC, and nothing else: one leak line and one summary (and, with
# "limit", a limit warning naming the same line).
story() {
    name=$1 func=$2 limit=${3:-}
    line=$(grep -n 'LEAK-SITE' "$s/examples/$name.c" | cut -d: -f1)
    [ -n "$line" ] || { bad "$name.c has no LEAK-SITE line"; return; }

    run "$name"
    [ "$status" -eq 0 ] || bad "$name exited with $status"
    held=$(sed -n 's/.* \([0-9][0-9]*\) \(connections still registered\|resources\)$/\1/p' "$tmp/out")
    [ -n "$held" ] && [ "$held" -gt 0 ] ||
        bad "$name did not say how much it left behind: $(cat "$tmp/out")"
    grep -q "^rgn: leak: .*$name\.c:$line: $func(): .* $held live, \([0-9.]* [KMGTP]*i*B, \)*oldest " "$tmp/err" ||
        bad "$name: no 'rgn: leak:' line for $name.c:$line $func() with $held live:
$(cat "$tmp/err")"
    grep -q "^rgn: leak summary: $held live " "$tmp/err" ||
        bad "$name: no summary of $held live resources"
    leaks=$(grep -c "^rgn: leak: .* live, " "$tmp/err")
    [ "$leaks" -eq 1 ] ||
        bad "$name: $leaks lines of leaking sites, not one: $(cat "$tmp/err")"
    if [ -n "$limit" ]; then
        grep -q "^rgn: limit: .*$name\.c:$line: $func()" "$tmp/err" ||
            bad "$name: the limit warning does not name $name.c:$line"
        # Labelled with the registration: a warning never splits a site.
        grep "^rgn: limit: .*$name\.c:$line: $func(): [0-9]" "$tmp/err" &&
            bad "$name: a limit line lost the site's label"
    fi

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

story partial_read fetch limit
story worker_pool run_job limit
story line_server serve

# The worker loop whose jobs never close their logs, with no limit set:
# told while it runs that the site keeps growing -- before the exit
# report, again only when its count has doubled -- and at exit what the
# pool's region still holds.  Fixed, silent.
line=$(grep -n 'LEAK-SITE' "$s/examples/job_logs.c" | cut -d: -f1)
run job_logs
[ "$status" -eq 0 ] || bad "job_logs exited with $status"
held=$(sed -n 's/.* holds \([0-9][0-9]*\) descriptors$/\1/p' "$tmp/out")
growing=$(grep -c "^rgn: growing: .*job_logs\.c:$line: run_job(): [0-9]* live, oldest .*; growing by .* a second, from .*; in region \"job-pool\"" "$tmp/err")
[ "$growing" -ge 1 ] || bad "job_logs: no 'rgn: growing:' line for job_logs.c:$line:
$(cat "$tmp/err")"
first_growing=$(grep -n "^rgn: growing: " "$tmp/err" | head -n 1 | cut -d: -f1)
first_leak=$(grep -n "^rgn: leak: " "$tmp/err" | head -n 1 | cut -d: -f1)
[ -n "$first_growing" ] && [ -n "$first_leak" ] && [ "$first_growing" -lt "$first_leak" ] ||
    bad "job_logs: the growth was not told before the exit report"
counts=$(sed -n 's/^rgn: growing: [^:]*:[0-9]*: run_job(): \([0-9]*\) live.*/\1/p' "$tmp/err")
prev=0
for n in $counts; do
    [ "$n" -ge $((2 * prev)) ] || bad "job_logs: a growing line at $n after $prev"
    prev=$n
done
[ -n "$held" ] && grep -q "^rgn: leak: .*job_logs\.c:$line: run_job(): $held live, oldest " "$tmp/err" ||
    bad "job_logs: the exit report does not name $held descriptors at job_logs.c:$line"
RGN_AUDIT=abort "$b/examples/job_logs" >/dev/null 2>&1
status=$?
[ "$status" -gt 128 ] || bad "job_logs under RGN_AUDIT=abort exited with $status, not a signal"
run job_logs --fixed
[ "$status" -eq 0 ] || bad "job_logs --fixed exited with $status"
[ ! -s "$tmp/err" ] || bad "job_logs --fixed is not silent: $(cat "$tmp/err")"
grep -q ' holds 0 descriptors$' "$tmp/out" || bad "job_logs --fixed: $(cat "$tmp/out")"

# The HTTP client run long: its connections held past a second, while
# the connections it gave back lived microseconds, are reported as held
# while it runs -- before the close's leak report -- each once.
line=$(grep -n 'LEAK-SITE' "$s/examples/partial_read.c" | cut -d: -f1)
run partial_read --long
[ "$status" -eq 0 ] || bad "partial_read --long exited with $status"
first_held=$(grep -n "^rgn: held: .*partial_read\.c:$line: fetch(): \"connection\": [0-9]* live, oldest .* released, lifetime p50 .*; in region \"http-client\"" "$tmp/err" | head -n 1 | cut -d: -f1)
first_leak=$(grep -n "^rgn: leak: " "$tmp/err" | head -n 1 | cut -d: -f1)
[ -n "$first_held" ] && [ -n "$first_leak" ] && [ "$first_held" -lt "$first_leak" ] ||
    bad "partial_read --long: no 'rgn: held:' line before the leak report:
$(cat "$tmp/err")"
# Each line says how many of the site's connections are held now, and a
# line comes again only when the number found held has doubled.
held_counts=$(sed -n 's/^rgn: held: .*: \([0-9][0-9]*\) live, .*/\1/p' "$tmp/err")
printf '%s\n' $held_counts | awk '$1 > 333 || $1 < 2 * last { bad = 1 } { last = $1; n++ }
    END { exit bad || n > 9 }' ||
    bad "partial_read --long: held lines that do not double, or too many: $held_counts"

# Idiomatic scopes leave everything to their closes: silent and exit 0
# even under RGN_AUDIT=abort.
RGN_AUDIT=abort "$b/examples/scopes" >"$tmp/out" 2>"$tmp/err"
status=$?
[ "$status" -eq 0 ] || bad "scopes under RGN_AUDIT=abort exited with $status"
[ ! -s "$tmp/err" ] && [ ! -s "$tmp/out" ] ||
    bad "scopes is not silent: $(cat "$tmp/out" "$tmp/err")"

# The quick start runs silently under the audit: it leaks nothing.
run quickstart
[ "$status" -eq 0 ] || bad "quickstart exited with $status"
[ ! -s "$tmp/err" ] || bad "quickstart is not silent under the audit: $(cat "$tmp/err")"
# A request loop on one region cleared per request: arena memory and a
# stream per request, silent under RGN_AUDIT=abort, and it says so.
RGN_AUDIT=abort "$b/examples/requests" >"$tmp/out" 2>"$tmp/err"
status=$?
[ "$status" -eq 0 ] || bad "requests under RGN_AUDIT=abort exited with $status"
[ ! -s "$tmp/err" ] || bad "requests is not silent: $(cat "$tmp/err")"
grep -q '^requests: 10000 requests on one cleared region' "$tmp/out" ||
    bad "requests: $(cat "$tmp/out")"
exit $fail

#!/bin/sh
# SPDX-License-Identifier: MIT
# A running program asked from outside what it holds: examples/job_logs,
# whose jobs never close their logs, is sent SIGUSR2 twice, a second
# apart (RGN_PROFILE_SIGNAL); each signal writes a pprof profile that
# protoc decodes against pprof's own profile.proto.  Its top site is the
# leak, and between the two snapshots the leaking site grew while the
# site that holds still (the workers' queue connections) did not.  Run
# on an interval (RGN_PROFILE_EVERY), it writes a timeline in TSV and in
# the Trace Event Format, which tools/timeline-plot.sh draws.
set -u
b="${top_builddir:-.}"
s="${top_srcdir:-.}"
proto_dir=/usr/share/gocode/src/github.com/google/pprof/proto
command -v protoc >/dev/null 2>&1 && [ -f "$proto_dir/profile.proto" ] || {
    echo "profile: protoc or pprof's profile.proto not found (Debian: protobuf-compiler, golang-github-google-pprof-dev); skipped"
    exit 77
}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() {
    echo "profile: $*" >&2
    fail=1
}
decode() { # FILE: the samples of a profile, as pprof-sites.awk prints them
    gunzip -c "$1" | protoc --decode=perftools.profiles.Profile -I "$proto_dir" profile.proto |
        awk -f "$s/tests/pprof-sites.awk"
}
line=$(grep -n 'LEAK-SITE' "$s/examples/job_logs.c" | cut -d: -f1)
leak="examples/job_logs.c:$line"
# A site names the file as the compiler was given it: in a build out of
# the source tree, with the path to it in front (../../examples/...).
is_leak='$1 ~ ("(^|/)" s "$")'
is_leak3='$3 ~ ("(^|/)" s " run_job[(][)]$")'

RGN_AUDIT=report RGN_PROFILE_SIGNAL=USR2 RGN_PROFILE_DIR="$tmp" \
    "$b/examples/job_logs" >"$tmp/out" 2>"$tmp/err" &
pid=$!
sleep 0.8
kill -USR2 "$pid"
sleep 1
kill -USR2 "$pid"
wait "$pid" || bad "job_logs exited with $?"
first="$tmp/rgn.$pid.1.pb.gz" second="$tmp/rgn.$pid.2.pb.gz" last="$tmp/rgn.$pid.3.pb.gz"
for f in "$first" "$second" "$last"; do
    [ -s "$f" ] || bad "no snapshot $(basename "$f"): $(ls "$tmp")"
done
if [ "$fail" -eq 0 ]; then
    decode "$first" >"$tmp/1" && decode "$second" >"$tmp/2" && decode "$last" >"$tmp/3" ||
        bad "protoc cannot decode the profiles"
    top=$(sort -t"$(printf '\t')" -k4,4nr "$tmp/2" | head -n 1 | cut -f1)
    case $top in
        "$leak" | */"$leak") ;;
        *) bad "the top site is $top, not the leak $leak: $(cat "$tmp/2")" ;;
    esac
    n1=$(awk -F'\t' -v s="$leak" "$is_leak"' { print $4 }' "$tmp/1")
    n2=$(awk -F'\t' -v s="$leak" "$is_leak"' { print $4 }' "$tmp/2")
    [ -n "$n1" ] && [ -n "$n2" ] && [ "$n2" -gt "$n1" ] ||
        bad "the leaking site did not grow between the snapshots: $n1 then $n2"
    c1=$(awk -F'\t' '$2 == "queue connection" { print $4 }' "$tmp/1")
    c2=$(awk -F'\t' '$2 == "queue connection" { print $4 }' "$tmp/2")
    [ "$c1" = 2 ] && [ "$c2" = 2 ] ||
        bad "the queue connections changed between the snapshots: $c1 then $c2"
    # Nothing else grows: the queue connections and a job's buffer are
    # at most one a worker at any moment.
    awk -F'\t' -v s="$leak" "!($is_leak)"' && $4 > 2 { bad = 1 } END { exit bad }' "$tmp/1" "$tmp/2" ||
        bad "something else grew: $(cat "$tmp/1" "$tmp/2")"
    held=$(sed -n 's/.* holds \([0-9][0-9]*\) descriptors$/\1/p' "$tmp/out")
    awk -F'\t' -v s="$leak" -v n="$held" "$is_leak"' && $4 == n { ok = 1 } END { exit !ok }' "$tmp/3" ||
        bad "the snapshot at exit does not hold the $held descriptors: $(cat "$tmp/3")"
fi

# On an interval: a timeline, as TSV and as Trace Event counters.
mkdir "$tmp/every"
RGN_AUDIT=report RGN_PROFILE_EVERY=200ms RGN_PROFILE_DIR="$tmp/every" \
    "$b/examples/job_logs" >/dev/null 2>&1 || bad "job_logs (interval) failed"
tsv=$(ls "$tmp"/every/rgn.*.timeline.tsv 2>/dev/null | head -n 1)
trace=$(ls "$tmp"/every/rgn.*.trace.json 2>/dev/null | head -n 1)
if [ -z "$tsv" ] || [ -z "$trace" ]; then
    bad "no timeline: $(ls "$tmp/every")"
else
    [ "$(head -n 1 "$tsv")" = "$(printf 'seconds\tregion\tsite\tresources\tbytes')" ] ||
        bad "the TSV has no header: $(head -n 2 "$tsv")"
    [ "$(grep -c '^seconds' "$tsv")" -eq 1 ] || bad "the TSV has more than one header"
    points=$(awk -F'\t' -v s="$leak" "$is_leak3" "$tsv" | wc -l)
    [ "$points" -ge 5 ] || bad "only $points points for the leak in the timeline"
    awk -F'\t' -v s="$leak" "$is_leak3"' { if ($4 < last) exit 1; last = $4 }' "$tsv" ||
        bad "the leak's band shrank in the timeline"
    [ "$(head -n 1 "$trace")" = "[" ] || bad "the trace is not a JSON array"
    grep -q '^{"name":"job-pool","ph":"C","ts":[0-9]*,"pid":[0-9]*,"tid":0,"args":{.*"\([^"]*/\)*'"$leak"' run_job()":[0-9]*' "$trace" ||
        bad "the trace has no counter event for the leak: $(head -n 3 "$trace")"
    if command -v gnuplot >/dev/null 2>&1; then
        "$s/tools/timeline-plot.sh" "$tsv" "$tmp/t.png" && [ -s "$tmp/t.png" ] ||
            bad "tools/timeline-plot.sh drew nothing"
    fi
fi
[ "$fail" -eq 0 ] && echo "profile: snapshots on a signal and on an interval, decoded; the leak is the site that grew"
exit $fail

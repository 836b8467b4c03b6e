#!/bin/sh
# SPDX-License-Identifier: MIT
# timeline-plot.sh TSV PNG [REGION [resources|bytes]]
#
# Draws a timeline that RGN_PROFILE_EVERY wrote (rgn.<pid>.timeline.tsv:
# seconds, region, site, resources, bytes) as a stacked area chart, one
# band per site, of REGION's live resources (or bytes): the picture of a
# heap profile over time, where a leak is the band that keeps growing.
# REGION defaults to the region with the most resources at the end.
# Needs awk and gnuplot (Debian: gnuplot-nox).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 TSV PNG [REGION [resources|bytes]]" >&2; exit 2; }
tsv=$1 png=$2 region=${3:-} what=${4:-resources}
command -v gnuplot >/dev/null 2>&1 ||
    { echo "timeline-plot: gnuplot not found (Debian: apt-get install gnuplot-nox)" >&2; exit 1; }
col=4
[ "$what" = bytes ] && col=5
dir=$(dirname "$0")
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if [ -z "$region" ]; then
    region=$(awk -F'\t' 'NR > 1 { last = $1; n[$1 "\t" $2] += $4 }
        END { best = -1
              for (k in n) { split(k, p, "\t")
                  if (p[1] == last && n[k] > best) { best = n[k]; r = p[2] } }
              print r }' "$tsv")
fi

# One row per point in time, one column per site, each column the sum of
# itself and those before it (so each band is drawn between two curves).
awk -F'\t' -v region="$region" -v col="$col" -v out="$tmp/data" -v names="$tmp/names" '
    NR == 1 || $2 != region { next }
    !($3 in idx) { idx[$3] = ++nsites; name[nsites] = $3 }
    !($1 in seen) { seen[$1] = 1; times[++nt] = $1 }
    { v[$1, idx[$3]] = $col }
    END {
        for (t = 1; t <= nt; t++) {
            line = times[t]; sum = 0
            for (s = 1; s <= nsites; s++) { sum += v[times[t], s] + 0; line = line "\t" sum }
            print line > out
        }
        for (s = 1; s <= nsites; s++) print name[s] > names
    }' "$tsv"
[ -s "$tmp/data" ] || { echo "timeline-plot: no points for region \"$region\" in $tsv" >&2; exit 1; }
nsites=$(wc -l < "$tmp/names")
gnuplot -e "datafile='$tmp/data'" -e "namesfile='$tmp/names'" \
    -e "outfile='$png'" -e "nsites=$nsites" -e "what='$what'" \
    -e "region='$(printf '%s' "$region" | sed "s/'/''/g")'" \
    "$dir/timeline.gp"

#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/ir.sh -- `make bench-ir`: runs bench/ir under valgrind's callgrind
# once per implementation (rgn, rgn with the audit, rgn with the audit
# sampled, the slot-map floor, the baseline) and prints instructions per operation for each row, with
# the ratios to the floor.  Skips, saying why, without valgrind.
#
# Usage: ir.sh PROGRAM; VALGRIND names valgrind (unset: from PATH; empty:
# configure found none).
set -u
prog=$1
vg=${VALGRIND-valgrind}
if [ -z "$vg" ] || ! command -v "$vg" >/dev/null 2>&1; then
    echo "bench-ir: skipped, valgrind not found" \
        "(Debian: apt-get install valgrind)"
    exit 0
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
for impl in rgn rgn+audit rgn+sample floor baseline; do
    "$vg" --tool=callgrind --combine-dumps=yes --dump-line=no \
        --callgrind-out-file="$tmp/$impl.out" "$prog" "$impl" \
        >"$tmp/$impl.log" 2>&1
    rc=$?
    if [ $rc -eq 77 ]; then
        echo "bench-ir: skipped, $prog was built without" \
            "<valgrind/callgrind.h>"
        exit 0
    elif [ $rc -ne 0 ]; then
        echo "bench-ir: $prog $impl failed under callgrind:" >&2
        cat "$tmp/$impl.log" >&2
        exit 1
    fi
done

# Each dump has a "desc: Trigger: Client Request: index|name|unit|ops"
# line and, after it, "summary: instructions".  rgn+audit's and
# rgn+sample's one row each go in rgn's column.
cd "$tmp" && awk '
    function fig(v) {
        return v == "" ? sprintf(" %9s", "-") : sprintf(" %9.1f", v)
    }
    function ratio(a, b) {
        if (a == "" || b == "" || b == 0)
            return sprintf(" %9s", "-")
        return sprintf(" %8.2fx", a / b)
    }
    FNR == 1 {
        impl = FILENAME
        sub(/\.out$/, "", impl)
        if (impl == "rgn+audit" || impl == "rgn+sample")
            impl = "rgn"
    }
    /^desc: Trigger: Client Request: / {
        split(substr($0, 32), f, "|")
        row = f[1] + 0
        name[row] = f[2]
        unit[row] = f[3]
        ops = f[4] + 0
        if (row + 1 > nrows)
            nrows = row + 1
        next
    }
    /^summary: / && ops > 0 {
        ir[row, impl] = $2 / ops
        ops = 0
    }
    END {
        print "instructions per operation" \
              " (valgrind --tool=callgrind; user space only)\n"
        printf "%-31s %-8s %9s %9s %9s %9s %9s\n", "case", "per", "rgn", \
               "floor", "baseline", "rgn/flr", "base/flr"
        for (r = 0; r < nrows; r++) {
            if (!(r in name))
                continue
            printf "%-31s %-8s%s%s%s%s%s\n", name[r], unit[r], \
                   fig(ir[r, "rgn"]), fig(ir[r, "floor"]), \
                   fig(ir[r, "baseline"]), \
                   ratio(ir[r, "rgn"], ir[r, "floor"]), \
                   ratio(ir[r, "baseline"], ir[r, "floor"])
        }
        print "\n\"audit on\": rgn with the audit and lifetimes on" \
              " (RGN_AUDIT=report); \"audit 1/64\":"
        print "the same, sampled (RGN_AUDIT_SAMPLE=64).  The floor and" \
              " the baseline have no"
        print "audit, so those rows have their plain pair."
        v = ir[0, "rgn"]
        printf "\ntarget: instructions per register+release pair (rgn)" \
               " %.1f <= 110 %s\n", v, v <= 110 ? "met" : "MISSED"
    }
' rgn.out rgn+audit.out rgn+sample.out floor.out baseline.out

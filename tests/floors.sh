#!/bin/sh
# SPDX-License-Identifier: MIT
# lib/ stands on three floors (doc/HACKING, "Floors"): a file calls down
# a floor or along its own, never up.  The rule is checked where it
# matters, at link level: every object's undefined rgn_ names (nm -u)
# are matched to the object that defines them, and a name defined on a
# higher floor than its user fails the check -- unless the pair is one
# of the known up-calls the table lists, which are being taken out and
# to which none may be added.  A source file with no floor, one whose
# opening comment does not name it, or one missing from HACKING's map
# of the files, fails too.
set -u
s="${top_srcdir:-.}"
b="${top_builddir:-.}"
hacking="$s/doc/HACKING"
nm=${NM:-nm}

# The PIC objects of a shared build, else the static ones.
objdir="$b/lib/.libs"
ls "$objdir"/librgn_la-*.o >/dev/null 2>&1 || objdir="$b/lib"
if ! ls "$objdir"/librgn_la-*.o >/dev/null 2>&1; then
    echo "floors: no objects of lib/ built; skipped"
    exit 77
fi

# "    floor N  file file ..." and "    up-call FROM > TO" lines.
table=$(awk '/^    floor [0-9]+ / { for (i = 3; i <= NF; i++) print $i, $2 }' "$hacking")
known=$(awk '/^    up-call [a-z_]+ > [a-z_]+$/ { print $2, $4 }' "$hacking")
if [ -z "$table" ]; then
    echo "floors: no floor table in $hacking" >&2
    exit 1
fi

# Only the objects of the library's current sources: a stale object of
# a file since removed is not the library's.
sources=$(sed -n '/^lib_librgn_la_SOURCES/,/^$/p' "$s/Makefile.am" |
    grep -o 'lib/[a-z_]*\.c' | sed 's|lib/||; s|\.c$||' | sort -u)

fail=0
defs=$(mktemp) && uses=$(mktemp) || exit 1
trap 'rm -f "$defs" "$uses"' EXIT
for m in $sources; do
    o="$objdir/librgn_la-$m.o"
    if [ ! -f "$o" ]; then
        echo "floors: $o is missing" >&2
        fail=1
        continue
    fi
    printf '%s\n' "$table" | grep -q "^$m " || {
        echo "floors: lib/$m.c has no floor in doc/HACKING's table" >&2
        fail=1
    }
    # Its opening comment says which floor it stands on.
    n=$(printf '%s\n' "$table" | awk -v m="$m" '$1 == m { print $2 }')
    [ -z "$n" ] || awk '/\*\// && NR > 1 { exit } { print }' "$s/lib/$m.c" |
        grep -Eqi "floor $n\b" || {
        echo "floors: lib/$m.c's opening comment does not say it stands on floor $n" >&2
        fail=1
    }
    grep -Eq "^lib/$m\.(c|\[ch\]) " "$hacking" || {
        echo "floors: lib/$m.c is not in doc/HACKING's map of the files" >&2
        fail=1
    }
    $nm --defined-only "$o" | awk -v m="$m" '$2 ~ /^[TDBRVWC]$/ && $3 ~ /^rgn_/ { print $3, m }' >>"$defs"
    $nm -u "$o" | awk -v m="$m" '$NF ~ /^rgn_/ { print m, $NF }' >>"$uses"
done

# user user-floor definer definer-floor symbol, for every name used
# across files.
bad=$(awk -v table="$table" -v known="$known" '
    BEGIN {
        n = split(table, t, "\n")
        for (i = 1; i <= n; i++) { split(t[i], f, " "); floor[f[1]] = f[2] }
        n = split(known, k, "\n")
        for (i = 1; i <= n; i++) if (k[i] != "") allowed[k[i]] = 1
    }
    FNR == NR { where[$1] = $2; next }
    ($2 in where) && where[$2] != $1 {
        d = where[$2]
        if ((d in floor) && ($1 in floor) && floor[d] > floor[$1]) {
            pair = $1 " " d
            if (pair in allowed) { seen[pair] = 1; next }
            printf "  lib/%s.c (floor %s) calls %s of lib/%s.c (floor %s)\n",
                $1, floor[$1], $2, d, floor[d]
        }
    }
    END {
        for (p in allowed) if (!(p in seen)) {
            split(p, q, " ")
            printf "  up-call %s > %s is listed but gone: take it off the list\n", q[1], q[2]
        }
    }' "$defs" "$uses" | sort -u)
if [ -n "$bad" ]; then
    echo "floors: calls up a floor (doc/HACKING, \"Floors\"):" >&2
    printf '%s\n' "$bad" >&2
    fail=1
fi
[ $fail -eq 0 ] && echo "floors: $(printf '%s\n' "$sources" | wc -l | tr -d ' ') files, every call goes down or along"
exit $fail

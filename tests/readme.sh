#!/bin/sh
# SPDX-License-Identifier: MIT
# README's sample output stays true: every "    $ COMMAND" block of the
# README is run (from the build tree) and must print exactly the lines
# that follow it, once ages and lifetimes (which differ from run to run)
# and the directories in front of source file names are taken out.
set -u
b="${top_builddir:-.}"
s="${top_srcdir:-.}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

# Growth lines also say how many were live and how fast they grew when a
# look happened to see them, and descriptors their numbers: those vary
# from run to run too.
normalize() {
    sed -E -e 's#[^ ("]*(examples/[a-z_]+\.c)#\1#g' \
        -e '/^rgn: growing: /s/(\): )[0-9]+ live/\1N live/' \
        -e '/^rgn: growing: /s/growing by [0-9.]+ a second, from [0-9]+/growing by N a second, from N/' \
        -e 's/fd [0-9]+ ->/fd N ->/g' \
        -e 's/[0-9]+(\.[0-9]+)?(ns|us|ms|s)([ ;,):]|$)/AGE\3/g' \
        -e 's/[0-9]+[mh][0-9]+[sm]([ ;,)]|$)/AGE\1/g'
}

# Splits README into tmp/cmd.N (the command) and tmp/want.N (its lines).
awk -v dir="$tmp" '
    /^    \$ / { n++; cmd = substr($0, 7); print cmd > (dir "/cmd." n);
                 printf "" > (dir "/want." n); inblock = 1; next }
    inblock && /^    / { print substr($0, 5) >> (dir "/want." n); next }
    { inblock = 0 }
' "$s/README"

blocks=0
for c in "$tmp"/cmd.*; do
    [ -e "$c" ] || continue
    n=${c##*.}
    blocks=$((blocks + 1))
    cmd=$(cat "$c")
    (cd "$b" && eval "$cmd") >"$tmp/got.$n" 2>&1
    normalize <"$tmp/want.$n" >"$tmp/want.norm"
    normalize <"$tmp/got.$n" >"$tmp/got.norm"
    if ! cmp -s "$tmp/want.norm" "$tmp/got.norm"; then
        echo "readme: \"$cmd\" no longer prints what README shows:" >&2
        diff "$tmp/want.norm" "$tmp/got.norm" >&2
        fail=1
    fi
done
[ "$blocks" -gt 0 ] || { echo "readme: no \"    \$ \" blocks in README" >&2; exit 1; }
[ $fail -eq 0 ] && echo "readme: $blocks sample outputs match"
exit $fail

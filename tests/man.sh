#!/bin/sh
# SPDX-License-Identifier: MIT
# The manual: every page formats without a warning (groff -ww, and mandoc's
# lint when installed), every .so link reaches a page, and every symbol the
# library exports has a page of its own name.
set -u
s="${top_srcdir:-.}"
b="${top_builddir:-.}"
dir="$s/doc/man"
fail=0
bad() {
    echo "man: $*" >&2
    fail=1
}

command -v groff >/dev/null 2>&1 || { echo "man: groff not found; skipped"; exit 77; }

pages=0
for f in "$dir"/*.3 "$dir"/*.7; do
    first=$(head -n 1 "$f")
    case $first in
        .so\ man3/*)
            target="$dir/${first#.so man3/}"
            [ -f "$target" ] || bad "$(basename "$f") links to a missing page: $first"
            continue ;;
    esac
    pages=$((pages + 1))
    out=$(groff -man -ww -z "$f" 2>&1)
    [ -z "$out" ] || bad "$(basename "$f"): groff: $out"
    if command -v mandoc >/dev/null 2>&1; then
        out=$(mandoc -T lint -W warning "$f" 2>&1)
        [ -z "$out" ] || bad "$(basename "$f"): mandoc: $out"
    fi
done

lib="$b/lib/.libs/librgn.so"
if [ -e "$lib" ]; then
    # nm prints a versioned symbol as NAME@@RGN_0.1: the page is NAME.3.
    # rgn__ names are not calls but the inline fast paths' own (rgn.h):
    # the pages of the calls they serve say so.
    for sym in $(${NM:-nm} -D --defined-only "$lib" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' | grep '^rgn_' | grep -v '^rgn__'); do
        [ -f "$dir/$sym.3" ] || bad "exported $sym has no page doc/man/$sym.3"
    done
fi
[ $fail -eq 0 ] && echo "man: $pages pages, all clean; every export has a page"
exit $fail

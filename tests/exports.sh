#!/bin/sh
# SPDX-License-Identifier: MIT
# Only rgn_* symbols may leave the shared library, exactly those listed in
# tests/exports.txt: everything else is private and may change at any time.
set -u
lib="${top_builddir:-.}/lib/.libs/librgn.so"
if [ ! -e "$lib" ]; then
    echo "exports: no shared library built ($lib); skipped"
    exit 77
fi
nm=${NM:-nm}
syms=$($nm -D --defined-only "$lib" | awk 'NF >= 3 && $2 ~ /^[TDBRVWiu]$/ { print $3 }')
if [ -z "$syms" ]; then
    echo "exports: $lib exports nothing at all" >&2
    exit 1
fi
bad=$(printf '%s\n' "$syms" | grep -v '^rgn_' || true)
if [ -n "$bad" ]; then
    echo "exports: symbols outside the rgn_ namespace:" >&2
    printf '  %s\n' $bad >&2
    exit 1
fi
# The rule for calls that record their caller's site: rgn_X_at(..., site)
# with a macro rgn_X(...) over it, and a function (rgn_X)(...) too.
for at in $(printf '%s\n' "$syms" | grep '_at$'); do
    printf '%s\n' "$syms" | grep -qx "${at%_at}" || {
        echo "exports: $at has no function twin ${at%_at}" >&2
        exit 1
    }
done

# The exact list: a symbol added or lost is an interface change, made on
# purpose by editing tests/exports.txt (and the man page it needs).
want="${top_srcdir:-.}/tests/exports.txt"
diff=$(printf '%s\n' "$syms" | LC_ALL=C sort | diff -u "$want" - || true)
if [ -n "$diff" ]; then
    echo "exports: the library's symbols differ from tests/exports.txt:" >&2
    printf '%s\n' "$diff" >&2
    exit 1
fi
echo "exports: $(printf '%s\n' "$syms" | wc -l) symbols, all rgn_*"

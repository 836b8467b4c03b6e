#!/bin/sh
# Only rgn_* symbols may leave the shared library: everything else is
# private and may change at any time.
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
for want in rgn_new rgn_close rgn_register_at rgn_release rgn_strerror; do
    printf '%s\n' "$syms" | grep -qx "$want" || {
        echo "exports: $want is not exported" >&2
        exit 1
    }
done
echo "exports: $(printf '%s\n' "$syms" | wc -l) symbols, all rgn_*"

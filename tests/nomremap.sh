#!/bin/sh
# SPDX-License-Identifier: MIT
# lib/map.c keeps a fallback for systems without mremap's MREMAP_MAYMOVE,
# where big slot arrays stay in one heap block.  Linux always has it, so
# this builds lib/ with the fallback forced (-DRGN_NO_MREMAP), links it
# into a small program and runs it past the size where the slot arrays
# would otherwise move to pages of their own (32768 slots): the fallback
# once did not compile at all, and nothing noticed.
set -u
src=${top_srcdir:-.}
cc=${CC:-cc}
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
flags="-std=gnu11 -Wall -Wextra -Werror -fexceptions -pthread
       -DRGN_NO_MREMAP -DRGN_DEBUG -DRGN_STATIC_BUILD
       -I${top_builddir:-.} -I$src/include -I$src/lib"
cat > "$dir/main.c" <<'EOF'
#include <rgn.h>
#include <stdio.h>

enum { N = 40000 };
static int runs;

static int count(void *res, rgn_release_type how)
{
    (void)res;
    (void)how;
    runs++;
    return 0;
}

int main(void)
{
    static rgn_key_t k[N];
    rgn_t *r = rgn_new();
    for (int i = 0; i < N; i++)
        if (!r || rgn_register(r, count, NULL, &k[i]) != 0)
            return 1;
    for (int i = 0; i < N; i += 2)
        if (rgn_release(r, k[i]) != 0)
            return 2;
    if (rgn_live(r) != N / 2 || rgn_close(r) != 0 || runs != N)
        return 3;
    return 0;
}
EOF
fail=0
for c in "$src"/lib/*.c "$dir/main.c"; do
    o="$dir/$(basename "$c" .c).o"
    # shellcheck disable=SC2086
    if ! $cc $flags -c "$c" -o "$o" 2> "$dir/err"; then
        echo "nomremap: $c does not compile with -DRGN_NO_MREMAP:" >&2
        sed 's/^/  /' "$dir/err" >&2
        fail=1
    fi
done
[ $fail -eq 0 ] || exit 1
# shellcheck disable=SC2086
if ! $cc $flags -o "$dir/t" "$dir"/*.o 2> "$dir/err"; then
    echo "nomremap: lib/ with -DRGN_NO_MREMAP does not link:" >&2
    sed 's/^/  /' "$dir/err" >&2
    exit 1
fi
"$dir/t"
rc=$?
if [ $rc -ne 0 ]; then
    echo "nomremap: a region of 40000 resources failed (exit $rc)" >&2
    exit 1
fi
echo "nomremap: lib/ builds and runs without MREMAP_MAYMOVE"

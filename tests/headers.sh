#!/bin/sh
# SPDX-License-Identifier: MIT
# Every private header of lib/ compiles on its own, so none leans on the
# includes of the file that includes it (doc/HACKING: each header includes
# what it uses, and internal.h only lists them in dependency order), and
# each is listed in Makefile.am, so that the tarball has it.
set -u
src=${top_srcdir:-.}
cc=${CC:-cc}
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
fail=0
for h in "$src"/lib/*.h; do
    name=$(basename "$h")
    printf '#include "%s"\n#include "%s"\n' "$name" "$name" > "$dir/t.c"
    if ! $cc -std=gnu11 -fsyntax-only -Wall -Wextra -Werror \
         -I"${top_builddir:-.}" -I"$src/include" -I"$src/lib" "$dir/t.c" \
         2> "$dir/err"; then
        echo "headers: lib/$name does not compile on its own (or twice):" >&2
        sed 's/^/  /' "$dir/err" >&2
        fail=1
    fi
    # A header the sources list goes into the tarball; one they do not
    # is missing from a build of that tarball (make distcheck).
    grep -q "lib/$name" "$src/Makefile.am" || {
        echo "headers: lib/$name is not listed in Makefile.am (make dist leaves it out)" >&2
        fail=1
    }
done
exit $fail

#!/bin/sh
# SPDX-License-Identifier: MIT
# lib/ and include/ follow .clang-format.  Other clang-format versions lay
# the same code out differently, so the check runs with version 14 only
# and is skipped without it.  To fix what it finds:
#     clang-format -i lib/*.[ch] include/*.h include/*.hpp
set -u
src=${top_srcdir:-.}
cf=${CLANG_FORMAT:-}
if [ -z "$cf" ]; then
    cf=clang-format
    command -v clang-format-14 >/dev/null 2>&1 && cf=clang-format-14
fi
if ! command -v "$cf" >/dev/null 2>&1; then
    echo "format: $cf not found; skipped"
    exit 77
fi
version=$("$cf" --version | sed -n 's/.*version \([0-9][0-9]*\)\..*/\1/p')
if [ "$version" != 14 ]; then
    echo "format: clang-format $version is not 14; skipped"
    exit 77
fi
cd "$src" || exit 1
out=$("$cf" --style=file --dry-run lib/*.c lib/*.h include/*.h \
    include/*.hpp 2>&1)
if [ -n "$out" ]; then
    printf '%s\n' "$out" | head -40 >&2
    echo "format: the lines above differ from .clang-format" >&2
    exit 1
fi

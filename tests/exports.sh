#!/bin/sh
# SPDX-License-Identifier: MIT
# Only rgn_* symbols may leave the shared library, exactly those listed in
# tests/exports.txt: everything else is private and may change at any time.
# lib/librgn.map, the version script, lists the same names, and where the
# library was linked with it each symbol carries its node's version.
set -u
lib="${top_builddir:-.}/lib/.libs/librgn.so"
if [ ! -e "$lib" ]; then
    echo "exports: no shared library built ($lib); skipped"
    exit 77
fi
nm=${NM:-nm}
# name@@VERSION when the library has symbol versions; the names alone
# for the checks that follow.
versioned=$($nm -D --defined-only "$lib" | awk 'NF >= 3 && $2 ~ /^[TDBRVWiu]$/ { print $3 }')
syms=$(printf '%s\n' "$versioned" | sed 's/@.*//')
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

# What the library needs at run time: libc and pthreads (with the
# unwinder and the loader that glibc brings along), libdl only where
# configure found dlopen there (glibc before 2.34: DL_LIBS), and a
# sanitizer's runtime in those builds.  Nothing else, ever.
if command -v readelf >/dev/null 2>&1; then
    for n in $(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        case $n in
            libc.so.* | libpthread.so.* | libgcc_s.so.* | ld-linux*.so.* | ld64.so.*) ;;
            libasan.so.* | libubsan.so.* | libtsan.so.* | liblsan.so.*) ;;
            libdl.so.*)
                [ -n "${DL_LIBS:-}" ] || {
                    echo "exports: $lib needs $n, but configure found dlopen in libc" >&2
                    exit 1
                } ;;
            *)
                echo "exports: $lib needs $n: rgn needs libc and pthreads only" >&2
                exit 1 ;;
        esac
    done
fi

# The exact list: a symbol added or lost is an interface change, made on
# purpose by editing tests/exports.txt (and the man page it needs).
want="${top_srcdir:-.}/tests/exports.txt"
diff=$(printf '%s\n' "$syms" | LC_ALL=C sort | diff -u "$want" - || true)
if [ -n "$diff" ]; then
    echo "exports: the library's symbols differ from tests/exports.txt:" >&2
    printf '%s\n' "$diff" >&2
    exit 1
fi

# The version script (lib/librgn.map) lists exactly the same names, each
# once, by name (no wildcard), in the node of the release that added it.
map="${top_srcdir:-.}/lib/librgn.map"
nodes=$(awk '
    { text = text $0 "\n" }
    END {
        gsub(/\/\*([^*]|\*+[^*\/])*\*+\//, " ", text)  # C comments
        gsub(/#[^\n]*/, " ", text)
        gsub(/[{};:]/, " & ", text)
        n = split(text, t, /[ \t\n]+/)
        state = "name"
        for (i = 1; i <= n; i++) {
            w = t[i]
            if (w == "") continue
            if (state == "name") { node = w; state = "open"; continue }
            if (state == "open") { if (w != "{") exit 2; state = "body"; continue }
            if (state == "body") {
                if (w == "}") { state = "tail"; continue }
                if ((w == "global" || w == "local") && t[i + 1] == ":") {
                    scope = w; i++; continue
                }
                if (w == ";") continue
                if (scope == "global") print w, node
                continue
            }
            if (state == "tail") {
                if (w == ";") state = "name"
                continue
            }
        }
        if (state != "name") exit 2
    }' "$map") || {
    echo "exports: cannot read the version nodes of $map" >&2
    exit 1
}
wild=$(printf '%s\n' "$nodes" | awk '$1 ~ /[*?[]/ { print "  " $1 " in " $2 }')
if [ -n "$wild" ]; then
    echo "exports: lib/librgn.map exports by pattern, not by name:" >&2
    printf '%s\n' "$wild" >&2
    exit 1
fi
twice=$(printf '%s\n' "$nodes" | awk '{ print $1 }' | LC_ALL=C sort | uniq -d)
if [ -n "$twice" ]; then
    echo "exports: lib/librgn.map lists these in more than one node:" >&2
    printf '  %s\n' $twice >&2
    exit 1
fi
diff=$(printf '%s\n' "$nodes" | awk '{ print $1 }' | LC_ALL=C sort |
    diff -u "$want" - || true)
if [ -n "$diff" ]; then
    echo "exports: lib/librgn.map and tests/exports.txt list different names:" >&2
    printf '%s\n' "$diff" >&2
    exit 1
fi

# Where the library was linked with the script (configure found a linker
# that takes it; run by hand, when any symbol has a version), every
# exported symbol has the default version of its node: name@@NODE.
uses_script=${RGN_VERSION_SCRIPT:-}
if [ -z "$uses_script" ]; then
    case $versioned in *@*) uses_script=yes ;; *) uses_script=no ;; esac
fi
if [ "$uses_script" = yes ]; then
    bad=$(printf '%s\n' "$nodes" | awk -v got="$versioned" '
        BEGIN { n = split(got, g, "\n"); for (i = 1; i <= n; i++) {
                    s = g[i]; name = s; sub(/@.*/, "", name)
                    ver = s; if (!sub(/^[^@]*@@/, "", ver)) ver = ""
                    have[name] = ver } }
        { if (have[$1] == "")
              print "  " $1 " has no version (lib/librgn.map says " $2 ")"
          else if (have[$1] != $2)
              print "  " $1 "@@" have[$1] ", but lib/librgn.map puts it in " $2 }')
    if [ -n "$bad" ]; then
        echo "exports: symbol versions differ from lib/librgn.map:" >&2
        printf '%s\n' "$bad" >&2
        exit 1
    fi
    echo "exports: $(printf '%s\n' "$syms" | wc -l) symbols, all rgn_*, versioned as lib/librgn.map says"
else
    echo "exports: $(printf '%s\n' "$syms" | wc -l) symbols, all rgn_* (no version script: unversioned)"
fi

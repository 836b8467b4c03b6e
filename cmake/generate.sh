#!/bin/sh
# SPDX-License-Identifier: MIT
# cmake/generate.sh TEMPLATE OUTPUT -- makes rgnConfig.cmake or
# rgnConfigVersion.cmake from its template, for the paths make expands
# now (so `make install prefix=...' gets files for that prefix).
# Environment: prefix libdir includedir cmakedir VERSION SIZEOF_VOID_P
# LA (the built lib/librgn.la, which names the library's files).
set -eu
template=$1
out=$2

# libtool's .la names the files: library_names='librgn.so.0.0.0
# librgn.so.0 librgn.so' (the real file first), dlname the soname;
# a static-only build has only old_library.
dlname= library_names= old_library=
eval "$(sed -n -e '/^dlname=/p' -e '/^library_names=/p' -e '/^old_library=/p' "$LA")"
if [ -n "$library_names" ]; then
    type=SHARED
    file=${library_names%% *}
    soname=$dlname
else
    type=STATIC
    file=$old_library
    soname=
fi
[ -n "$file" ] || { echo "$0: $LA names no library" >&2; exit 1; }

# A directory under the prefix, as the part after it ("/lib",
# "/lib/x86_64-linux-gnu"), or nothing when it is not under it.
squash() { printf '%s\n' "$1" | sed -e 's#//*#/#g' -e 's#\(.\)/$#\1#'; }
p=$(squash "$prefix")
p=${p%/}
under() {
    d=$(squash "$1")
    case $d in
        "$p"/*) printf '%s\n' "${d#"$p"}" ;;
        "$p") printf '\n' ;;
        *) return 1 ;;
    esac
}
up=
if lib_in=$(under "$libdir") && inc_in=$(under "$includedir") &&
   cm_in=$(under "$cmakedir"); then
    # One ".." per component of the cmake directory below the prefix.
    up=$(printf '%s\n' "$cm_in" | awk -F/ '{
        s = ""; for (i = 2; i <= NF; i++) s = s (s == "" ? ".." : "/..");
        print s }')
else
    lib_in= inc_in=
fi

# sed's replacement text takes | (the delimiter here), & and \ literally
# only when escaped.
esc() { printf '%s\n' "$1" | sed 's/[|&\\]/\\&/g'; }
sed -e "s|@RGN_VERSION@|$(esc "$VERSION")|g" \
    -e "s|@RGN_CMAKEDIR@|$(esc "$(squash "$cmakedir")")|g" \
    -e "s|@RGN_LIBDIR@|$(esc "$(squash "$libdir")")|g" \
    -e "s|@RGN_INCLUDEDIR@|$(esc "$(squash "$includedir")")|g" \
    -e "s|@RGN_UP@|$up|g" \
    -e "s|@RGN_LIBDIR_IN_PREFIX@|$(esc "$lib_in")|g" \
    -e "s|@RGN_INCLUDEDIR_IN_PREFIX@|$(esc "$inc_in")|g" \
    -e "s|@RGN_LIBRARY_TYPE@|$type|g" \
    -e "s|@RGN_LIBRARY_FILE@|$(esc "$file")|g" \
    -e "s|@RGN_SONAME@|$(esc "$soname")|g" \
    -e "s|@RGN_SIZEOF_VOID_P@|$SIZEOF_VOID_P|g" \
    "$template" >"$out.tmp"
if grep '@RGN_[A-Z_]*@' "$out.tmp" >&2; then
    echo "$0: $template: unknown substitution (above)" >&2
    rm -f "$out.tmp"
    exit 1
fi
mv -f "$out.tmp" "$out"

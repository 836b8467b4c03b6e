#!/bin/sh
# SPDX-License-Identifier: MIT
# Arena memory under the memory tools (issue 25's misuse table): each
# misuse of tests/arena_misuse.c, built with -fsanitize=address against
# the build tree's plain library, fails with AddressSanitizer's report of
# the access, made in the misuse's own function; run plainly under
# valgrind --error-exitcode=1, it fails with memcheck's.  The clean
# scenarios pass under both, the leak check included.  Where the library
# itself is built with ASan (CI's sanitizer build of the tarball), the
# build's own arena_misuse is the ASan program, and valgrind is not run.
# Skipped (77) when neither tool can run here.
set -u
b="${top_builddir:-.}"
s="${top_srcdir:-.}"
cc=${CC:-cc}
lib="$b/lib/.libs/librgn.so"
prog="$b/tests/arena_misuse"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
ran=

# The table's rows; uninit_reuse is memcheck's alone (ASan does not track
# initialisation).
misuses="past_end into_next past_last chunk_past_end before_first before_chunk
own_chunk clear_inline clear_kept clear_freed after_close after_close_chunk"

[ -e "$lib" ] && [ -x "$prog" ] || {
    echo "arena_tools: no shared library or no $prog; skipped"; exit 77; }
# This build's library, whatever the environment points at.
libdir=$(cd "$b/lib/.libs" && pwd)
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
syms=$(${NM:-nm} -D "$lib" 2>/dev/null)
case $syms in
    *__asan_report*) built=asan ;;
    *__tsan_func_entry*) built=tsan ;; # not the weak annotations of race.h
    *) built=plain ;;
esac

bad() {
    echo "arena_tools: $*" >&2
    fail=1
}

# run NAME LOG CMD...: the status of CMD, its stderr in LOG.
run() {
    log=$1
    shift
    "$@" >"$tmp/out" 2>"$log"
}

# ---- AddressSanitizer ------------------------------------------------------

asan=
case $built in
    asan) asan=$prog ;;
    plain)
        if $cc -g -O1 -fno-omit-frame-pointer -fsanitize=address \
               -I"$s/include" -o "$tmp/asan_misuse" "$s/tests/arena_misuse.c" \
               -L"$libdir" -Wl,-rpath,"$libdir" -lrgn -pthread \
               >"$tmp/cc.log" 2>&1 &&
           ASAN_OPTIONS=detect_leaks=0 "$tmp/asan_misuse" none \
               >/dev/null 2>&1; [ $? -eq 2 ]; then
            asan=$tmp/asan_misuse
        else
            echo "arena_tools: cannot build or run with -fsanitize=address; ASan skipped"
        fi ;;
esac

if [ -n "$asan" ]; then
    ran="$ran ASan"
    opts=detect_leaks=0:abort_on_error=0:halt_on_error=1:exitcode=23
    for m in $misuses; do
        for audit in off report; do
            RGN_AUDIT=$audit ASAN_OPTIONS=$opts run "$tmp/err" "$asan" "$m"
            rc=$?
            if [ $rc -ne 23 ] ||
               ! grep -q 'ERROR: AddressSanitizer' "$tmp/err" ||
               ! grep -Eq '(READ|WRITE) of size 1 ' "$tmp/err" ||
               ! sed -En '/(READ|WRITE) of size/,/^$/p' "$tmp/err" |
                     grep -Eq "#[01] .* in $m .*arena_misuse\.c:[0-9]+"; then
                bad "ASan: $m (RGN_AUDIT=$audit) was not reported as a bad access in $m (exit $rc):"
                sed 's/^/  /' "$tmp/err" | head -n 30 >&2
            fi
        done
    done
    for c in clean clean_audited; do
        for fill in "" 0xa5; do
            RGN_ARENA_FILL=$fill RGN_AUDIT=report \
                ASAN_OPTIONS=${opts#detect_leaks=0:}:detect_leaks=1 \
                run "$tmp/err" "$asan" "$c"
            rc=$?
            if [ $rc -ne 0 ] || grep -q 'AddressSanitizer\|rgn: ' "$tmp/err"; then
                bad "ASan: clean scenario $c (RGN_ARENA_FILL=$fill) failed (exit $rc):"
                sed 's/^/  /' "$tmp/err" | head -n 30 >&2
            fi
        done
    done
fi

# ---- valgrind's memcheck ---------------------------------------------------

vg=${VALGRIND:-valgrind}
# Built without <valgrind/memcheck.h>, the library tells memcheck nothing.
if ! grep -q '^#define HAVE_VALGRIND_MEMCHECK_H 1' "$b/config.h" 2>/dev/null; then
    [ "$built" = plain ] &&
        echo "arena_tools: built without <valgrind/memcheck.h>; memcheck skipped"
    built=$built-novalgrind
fi
if [ "$built" = plain ] && command -v "$vg" >/dev/null 2>&1 &&
   "$vg" -q --error-exitcode=1 "$prog" none >/dev/null 2>&1; [ $? -eq 2 ]; then
    ran="$ran memcheck"
    vgrun() {
        run "$tmp/err" "$vg" -q --error-exitcode=1 --leak-check=full \
            --errors-for-leak-kinds=definite,possible "$prog" "$@"
    }
    for m in $misuses uninit_reuse; do
        case $m in
            uninit_reuse) what='Conditional jump or move depends on uninitialised value' ;;
            *) what='Invalid (read|write) of size 1' ;;
        esac
        vgrun "$m"
        rc=$?
        if [ $rc -ne 1 ] || ! grep -Eq "$what" "$tmp/err" ||
           ! grep -Eq "(at|by) 0x[0-9A-F]+: $m \(arena_misuse\.c:[0-9]+\)" "$tmp/err"; then
            bad "memcheck: $m was not reported as a bad access in $m (exit $rc):"
            sed 's/^/  /' "$tmp/err" | head -n 30 >&2
        fi
    done
    # An overflow of an allocation in a chunk is told as one of that
    # allocation, made where the program made it, as for malloc's.
    vgrun chunk_past_end
    if ! grep -Eq '0 bytes after a block of size 100 (alloc.d|client-defined)' "$tmp/err" ||
       ! sed -n '/bytes after a block/,/^==[0-9]*== *$/p' "$tmp/err" |
             grep -Eq "by 0x[0-9A-F]+: chunk_past_end \(arena_misuse\.c:[0-9]+\)"; then
        bad "memcheck: chunk_past_end's report does not name the allocation:"
        sed 's/^/  /' "$tmp/err" | head -n 30 >&2
    fi
    for c in clean clean_audited; do
        for fill in "" 0xa5; do
            RGN_ARENA_FILL=$fill RGN_AUDIT=report vgrun "$c"
            rc=$?
            if [ $rc -ne 0 ] || [ -s "$tmp/err" ]; then
                bad "memcheck: clean scenario $c (RGN_ARENA_FILL=$fill) failed (exit $rc):"
                sed 's/^/  /' "$tmp/err" | head -n 30 >&2
            fi
        done
    done
elif [ "$built" = plain ]; then
    echo "arena_tools: valgrind cannot run here; memcheck skipped"
fi

if [ -z "$ran" ]; then
    echo "arena_tools: neither ASan nor memcheck can run on this $built build; skipped"
    exit 77
fi
[ $fail -eq 0 ] && echo "arena_tools: every misuse reported, the clean scenarios pass, under$ran"
exit $fail

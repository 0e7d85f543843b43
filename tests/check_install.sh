#!/bin/sh
# check_install.sh - `cmake --install` lays out libofaclient as promised, and
# a program builds and runs against the installed files both ways a user
# would build it: pkg-config and find_package(ofaclient), shared and static;
# the installed Python and Node.js packages load the installed library.
#
# Environment (set by CTest): OFA_BUILD_DIR the configured and built tree,
# CC the compiler, OFA_SANITIZE ON when the tree is built with sanitizers
# (consumers then need the same runtime).
set -eu

: "${OFA_BUILD_DIR:?OFA_BUILD_DIR must name the build tree}"
CC=${CC:-cc}
san=""
if [ "${OFA_SANITIZE:-OFF}" = ON ]; then
    san="-fsanitize=address,undefined"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ofa-check-install.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM HUP
P=$work/prefix

fail() {
    echo "check_install: $*" >&2
    exit 1
}

cmake --install "$OFA_BUILD_DIR" --prefix "$P" >"$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; fail "cmake --install failed"; }

# --- the layout ---
[ -x "$P/bin/ofactl" ] || fail "no bin/ofactl"
[ -f "$P/include/ofaclient.h" ] || fail "no include/ofaclient.h"
# Where bash-completion looks for ofactl's completion.
[ -f "$P/share/bash-completion/completions/ofactl" ] || fail "no bash completion for ofactl"
# Only the public header is installed.
extra=$(find "$P/include" -type f ! -name ofaclient.h)
[ -z "$extra" ] || fail "private headers installed: $extra"

libdir=""
for d in "$P/lib" "$P"/lib/*-linux-gnu*; do
    if [ -e "$d/libofaclient.so" ]; then
        libdir=$d
    fi
done
[ -n "$libdir" ] || fail "no libofaclient.so under $P/lib"
for f in libofaclient.so libofaclient.so.0 libofaclient.a pkgconfig/ofaclient.pc \
    cmake/ofaclient/ofaclientConfig.cmake cmake/ofaclient/ofaclientConfigVersion.cmake; do
    [ -e "$libdir/$f" ] || fail "no $libdir/$f"
done
[ -L "$libdir/libofaclient.so" ] || fail "libofaclient.so is not a symlink"
readelf -d "$libdir/libofaclient.so" | grep -q 'SONAME.*libofaclient\.so\.0' ||
    fail "SONAME is not libofaclient.so.0"

# The shared library exports the API and nothing else.
bad=$(nm -D --defined-only "$libdir/libofaclient.so" | awk '$3 != "" && $3 !~ /^ofa_/ && $3 != "OFACLIENT_0" { print $3 }')
[ -z "$bad" ] || fail "symbols exported beyond the API: $bad"
nm -D --defined-only "$libdir/libofaclient.so" | grep -q ' ofa__' && fail "internal ofa__ symbols exported"
# No libuv or msgpack type in the public header.
grep -Eq 'msgpack|uv_' "$P/include/ofaclient.h" && fail "ofaclient.h mentions msgpack or libuv"

# --- a consumer ---
cat >"$work/prog.c" <<'EOF'
#include <ofaclient.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    ofa_client *c = NULL;
    int rc = ofa_connect("/nonexistent/ofad.sock", &c);

    if (rc != -ENOENT || c != NULL || strcmp(ofa_err_name(rc), "ENOENT") != 0)
        return 1;
    printf("%s\n", ofa_strerror(rc));
    return 0;
}
EOF

export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists ofaclient || fail "pkg-config does not find ofaclient"
cflags=$(pkg-config --cflags ofaclient)
libs=$(pkg-config --libs ofaclient)
# shellcheck disable=SC2086
$CC $san $cflags -o "$work/prog_pc" "$work/prog.c" $libs || fail "pkg-config build failed"
LD_LIBRARY_PATH=$libdir "$work/prog_pc" >/dev/null || fail "pkg-config program failed"
readelf -d "$work/prog_pc" | grep -q 'NEEDED.*libofaclient\.so\.0' || fail "prog_pc does not use the .so"

# Static: the archive and what --static adds (msgpack-c).
slibs=$(pkg-config --static --libs ofaclient | sed 's/-lofaclient\b/-l:libofaclient.a/')
case "$slibs" in *msgpackc*) ;; *) fail "pkg-config --static does not bring msgpack-c: $slibs" ;; esac
# shellcheck disable=SC2086
$CC $san $cflags -o "$work/prog_pc_static" "$work/prog.c" $slibs || fail "static pkg-config build failed"
"$work/prog_pc_static" >/dev/null || fail "static pkg-config program failed"
readelf -d "$work/prog_pc_static" | grep -q libofaclient && fail "prog_pc_static needs the .so"

mkdir "$work/cm"
cat >"$work/cm/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(ofaclient 0.1 REQUIRED)
add_executable(prog prog.c)
target_link_libraries(prog PRIVATE ofaclient::ofaclient)
add_executable(prog_static prog.c)
target_link_libraries(prog_static PRIVATE ofaclient::ofaclient_static)
EOF
cp "$work/prog.c" "$work/cm/"
cmake -S "$work/cm" -B "$work/cm/build" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_C_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" >"$work/cm.log" 2>&1 &&
    cmake --build "$work/cm/build" >>"$work/cm.log" 2>&1 ||
    { cat "$work/cm.log" >&2; fail "find_package build failed"; }
"$work/cm/build/prog" >/dev/null || fail "find_package program failed"
"$work/cm/build/prog_static" >/dev/null || fail "find_package static program failed"
readelf -d "$work/cm/build/prog_static" | grep -q libofaclient && fail "prog_static needs the .so"

# ofactl is written on ofaclient.h alone: it builds against the installed
# header and shared library, with nothing else of ours.
if [ -n "${OFA_SOURCE_DIR:-}" ]; then
    # shellcheck disable=SC2086
    $CC $san -D_GNU_SOURCE $cflags -o "$work/ofactl" "$OFA_SOURCE_DIR/client/ofactl.c" $libs \
        $(pkg-config --cflags --libs jansson ncurses) -lm || fail "ofactl does not build against the install"
    LD_LIBRARY_PATH=$libdir "$work/ofactl" --version >/dev/null || fail "that ofactl does not run"
    readelf -d "$work/ofactl" | grep -q 'NEEDED.*libofaclient\.so\.0' || fail "that ofactl does not use the .so"
fi

# --- the language packages: each loads the installed library, not the
# build tree's (instrumented libraries cannot load into node or python
# without their runtime preloaded: checked in plain builds only) ---
if [ "${OFA_SANITIZE:-OFF}" != ON ]; then
    pyinit=$(find "$P" -path '*/dist-packages/ofa/__init__.py' | head -n 1)
    [ -n "$pyinit" ] || fail "no Python package ofa under $P/lib/python3*/dist-packages"
    if [ -x /usr/bin/python3 ]; then
        env -u OFA_LIBRARY PYTHONPATH="$(dirname "$(dirname "$pyinit")")" /usr/bin/python3 -c '
import sys, ofa
try:
    ofa.connect("/nonexistent/ofad.sock")
    sys.exit("connected?")
except ofa.Error as e:
    assert e.code == "ENOENT", e
maps = open("/proc/self/maps").read()
assert sys.argv[1] + "/libofaclient.so" in maps, "not the installed libofaclient"
' "$libdir" || fail "the installed Python package does not work"
    fi
    if [ -f "$OFA_BUILD_DIR/bindings/node/ofa.node" ]; then
        nodepkg="$libdir/node_modules/ofa"
        for f in package.json index.js index.d.ts ofa.node; do
            [ -e "$nodepkg/$f" ] || fail "no $nodepkg/$f"
        done
        node -e '
const ofa = require(process.argv[1]);
try { ofa.connect("/nonexistent/ofad.sock"); process.exit(2); } catch (e) {
  if (e.code !== "ENOENT") throw e;
}
const maps = require("fs").readFileSync("/proc/self/maps", "utf8");
if (!maps.includes(process.argv[2] + "/libofaclient.so")) throw new Error("not the installed libofaclient");
' "$nodepkg" "$libdir" || fail "the installed Node.js package does not work"
    fi
fi

echo "check_install: ok ($libdir)"

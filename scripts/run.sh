#!/bin/sh
# Installs the packages, builds ofa and runs ofad in the foreground with its
# built-in default arena, on a socket in the user's runtime directory.
# Usage: scripts/run.sh [extra ofad flags...]
set -eu
cd "$(dirname "$0")/.."

scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

sock="${OFAD_SOCKET:-${XDG_RUNTIME_DIR:-/tmp}/ofad.sock}"
echo "ofad: serving on $sock; in another terminal:"
echo "    export OFAD_SOCKET=$sock"
echo "    $(pwd)/build/client/ofactl stats"
exec build/daemon/ofad --socket "$sock" "$@"

#!/bin/sh
# bindings_bench.sh - alloc + free + view from Node.js and from Python
# against C, side by side against one ofad (see bench/README.md).
#
#   bench/bindings_bench.sh [BUILD_DIR] [N] [ROUNDS]
#
# Starts build/daemon/ofad on a scratch socket, then runs ROUNDS rounds (5)
# of bindings_bench (C), bindings_bench.js (Node.js) and bindings_bench.py
# (Python), in turn, N iterations (20000) each; keeps each one's best round
# (noise on a shared machine only adds time) and prints the figures and
# their ratios to C's. A language whose package is not built is left out.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
n=${2:-20000}
rounds=${3:-5}

work=$(mktemp -d "${TMPDIR:-/tmp}/ofa-bbench.XXXXXX")
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM HUP
sock=$work/ofad.sock
"$build/daemon/ofad" --socket "$sock" --arena b,page_size=1M,max=64M 2>"$work/ofad.log" &
pid=$!
# ofad logs "serving" once its socket is listening.
i=0
until grep -q 'serving' "$work/ofad.log"; do
    i=$((i + 1))
    [ "$i" -lt 200 ] || { cat "$work/ofad.log" >&2; exit 1; }
    kill -0 "$pid" || { cat "$work/ofad.log" >&2; exit 1; }
    sleep 0.05
done

langs="c"
[ -f "$build/bindings/node/ofa.node" ] && command -v node >/dev/null && langs="$langs node"
[ -f "$build/bindings/python/ofa/_config.py" ] && [ -x /usr/bin/python3 ] && langs="$langs python"
r=0
while [ "$r" -lt "$rounds" ]; do
    for l in $langs; do
        case $l in
        c) "$build/bench/bindings_bench" "$sock" b "$n" ;;
        node) node "$here/bindings_bench.js" "$build/bindings/node" "$sock" b "$n" ;;
        python) PYTHONPATH="$build/bindings/python" /usr/bin/python3 "$here/bindings_bench.py" "$sock" b "$n" ;;
        esac
    done
    r=$((r + 1))
done >"$work/out"

awk -v n="$n" -v rounds="$rounds" '
{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    l = f["lang"]
    if (!(l in rt) || f["roundtrip_ns"] < rt[l]) rt[l] = f["roundtrip_ns"]
    if (!(l in vw) || f["view_ns"] < vw[l]) vw[l] = f["view_ns"]
    if (!(l in seen)) { order[++k] = l; seen[l] = 1 }
}
END {
    printf "# %d iterations, best of %d rounds; ns per iteration\n", n, rounds
    printf "%-8s %14s %9s %10s %9s\n", "lang", "alloc+view+free", "x C", "view", "x C"
    for (j = 1; j <= k; j++) {
        l = order[j]
        printf "%-8s %14d %9.2f %10d %9.1f\n", l, rt[l], rt[l] / rt["c"], vw[l], vw[l] / vw["c"]
    }
}' "$work/out"

#!/bin/sh
# Runs each libFuzzer target for a bounded time under ASan + UBSan, starting
# from the checked-in corpus (tests/fuzz/corpus/<target>). A finding fails
# the run and leaves its input in build-fuzz/findings/: fix the bug, then add
# the input to the target's corpus so every build replays it from then on.
#   OFA_FUZZ_SECONDS   seconds per target (default 60)
set -eu
cd "$(dirname "$0")/.."

secs="${OFA_FUZZ_SECONDS:-60}"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOFA_FUZZ=ON \
    -DOFA_SANITIZE=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_proto fuzz_session

findings="$PWD/build-fuzz/findings"
mkdir -p "$findings"
status=0
for t in proto session; do
    # New inputs go to a scratch directory: the checked-in corpus only
    # changes by hand (libFuzzer -merge=1 keeps what adds coverage).
    scratch="$(mktemp -d)"
    echo "== fuzz_$t for $secs s"
    if ! build-fuzz/tests/fuzz_$t -max_total_time="$secs" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/$t-" \
        "$scratch" "tests/fuzz/corpus/$t" >"build-fuzz/fuzz_$t.log" 2>&1; then
        status=1
        grep -E 'ERROR|SUMMARY|Test unit written' "build-fuzz/fuzz_$t.log" || tail -20 "build-fuzz/fuzz_$t.log"
        echo "fuzz_$t: FINDING (input in $findings; log build-fuzz/fuzz_$t.log)"
    fi
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "build-fuzz/fuzz_$t.log" || true
    rm -rf "$scratch"
done
exit "$status"

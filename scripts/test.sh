#!/bin/sh
# Installs the packages, builds ofa and runs every test: once in a normal
# build, once under AddressSanitizer + UndefinedBehaviorSanitizer, and checks
# that the tree also builds warning-free with clang, once with every allocator
# invariant checked after each operation, then runs the fuzzers for a while.
set -eu
cd "$(dirname "$0")/.."

scripts/deps.sh
jobs="$(nproc)"

echo "== build and test (gcc, RelWithDebInfo; the soak runs ${OFA_SOAK_SECONDS:-60} s here)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
OFA_SOAK_SECONDS="${OFA_SOAK_SECONDS:-60}" ctest --test-dir build --output-on-failure -j"$jobs"
grep -h '^soak: [0-9]' build/Testing/Temporary/LastTest.log || true

echo "== build and test (gcc, ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DOFA_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== build and test (clang)"
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-clang -j"$jobs"
# The README test builds a tree of its own with the default compiler: once is enough.
ctest --test-dir build-clang --output-on-failure -j"$jobs" -E '^check_readme$'

echo "== build and test (gcc, OFA_DEBUG_FULL: the allocator checks every invariant after each operation)"
cmake -S . -B build-debug -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOFA_DEBUG_FULL=ON >/dev/null
cmake --build build-debug -j"$jobs"
# The tests that drive the allocator (unit, daemon, clients, soak); the codec,
# futex, install, man page and README tests do not reach it.
ctest --test-dir build-debug --output-on-failure -j"$jobs" \
    -E '^(check_readme|check_install|check_man|check_units|check_proto\..*|check_wake\..*|fuzz_proto\.corpus)$'

echo "== fuzz (clang, ASan + UBSan, ${OFA_FUZZ_SECONDS:-60} s per target)"
sh scripts/fuzz.sh

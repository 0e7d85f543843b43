#!/bin/sh
# Installs the packages, builds ofa and runs every test: once in a normal
# build, once under AddressSanitizer + UndefinedBehaviorSanitizer, and checks
# that the tree also builds warning-free with clang.
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

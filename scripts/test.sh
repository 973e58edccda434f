#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, builds Release with -j2 and runs
# every CTest test; then builds core/ and iso8583/ with ASan+UBSan (clang), runs their unit tests
# and each libFuzzer target for a bounded time from the seed corpus in the repo.
#
#   KYTKIN_FUZZ_SECONDS   seconds per fuzz target (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

echo "== Release build and full test suite"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
ctest --test-dir build --output-on-failure -j2

echo "== ASan+UBSan build: core/ and iso8583/ unit tests and fuzz targets"
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKYTKIN_SANITIZE=ON -DKYTKIN_FUZZ=ON
cmake --build build-asan -j2 --target sanitized_tests
ctest --test-dir build-asan --output-on-failure -j2 -L sanitized

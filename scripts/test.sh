#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build
# everything with warnings as errors, and run every test: unit, integration
# (real PostgreSQL, Redis, Memcached, plugins) and end-to-end.
# KEEL_SANITIZE=1 builds with ASan+UBSan in build-asan instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# s3rver and AWS's own SigV4 signer for the S3 tests, and Prism for the
# cloud contract tests (npm).
tests/support/install-npm-tools.sh
BUILD=build
FLAGS=(-DCMAKE_BUILD_TYPE=Release)
if [ "${KEEL_SANITIZE:-0}" = 1 ]; then
  BUILD=build-asan
  FLAGS=(-DCMAKE_BUILD_TYPE=Debug -DKEEL_SANITIZE=ON)
fi
# Every option this script relies on is set here, whatever a previous
# configure (scripts/quickstart.sh turns the tests off in build/) left in
# the cache: a build without tests would make ctest pass testing nothing.
cmake -S . -B "$BUILD" "${FLAGS[@]}" -DCMAKE_CXX_FLAGS=-Werror \
  -DKEEL_BUILD_TESTS=ON -DKEEL_BUILD_BENCH=ON -DKEEL_FUZZ=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
cd "$BUILD"
# --no-tests=error: a run that finds no test fails.
ctest --output-on-failure --no-tests=error --timeout 900 -j2

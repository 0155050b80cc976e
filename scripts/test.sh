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
cmake -S . -B "$BUILD" "${FLAGS[@]}" -DCMAKE_CXX_FLAGS=-Werror >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
cd "$BUILD"
ctest --output-on-failure --timeout 900 -j2

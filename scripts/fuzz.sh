#!/usr/bin/env bash
# scripts/fuzz.sh [--ci] [SECONDS] [TARGET...]
#
# Builds the libFuzzer targets of tests/fuzz with clang++-19, ASan and UBSan
# in build-fuzz/, and runs each for SECONDS (default 300; KEEL_FUZZ_SECONDS
# too), starting from its seed corpus in tests/fuzz/corpus/NAME. TARGET
# names (stack, agent_http, ...) pick some; default all. New inputs that
# reach new code go to build-fuzz/corpus/NAME, never into the repository.
#
# A crash stops that target, is kept as build-fuzz/artifacts/NAME-crash-*,
# and makes the script exit 1. Fix the bug, then copy the input into
# tests/fuzz/corpus/NAME/: from then on `ctest -L fuzz` replays it in every
# build (docs/security.md#fuzzing).
#
# --ci: the slice CI runs after the tests (.ci/run): the targets that do not
# need the whole CLI built with clang (about 6 minutes on 2 cores, against 18
# for all of them), so it fits CI's budget. CI also replays every corpus,
# the CLI's too (ctest -L fuzz); this script without --ci is for searching.
set -euo pipefail
cd "$(dirname "$0")/.."
CI_TARGETS=(plugin_protocol backup_reader agent_config agent_http aws_xml)
ci=0
if [ "${1:-}" = "--ci" ]; then ci=1; shift; fi
SECONDS_EACH=${1:-${KEEL_FUZZ_SECONDS:-300}}
shift || true
CXX_BIN=${KEEL_FUZZ_CXX:-clang++-19}
command -v "$CXX_BIN" >/dev/null ||
  { echo "fuzz: $CXX_BIN not found: apt-get install clang-19 libclang-rt-19-dev (scripts/install-deps.sh --fuzz does)" >&2; exit 1; }

BUILD=build-fuzz
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$BUILD" -DCMAKE_CXX_COMPILER="$CXX_BIN" "${LAUNCHER[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DKEEL_FUZZ=ON -DKEEL_BUILD_TESTS=OFF -DKEEL_BUILD_BENCH=OFF >/dev/null

targets=("$@")
if [ $ci = 1 ] && [ ${#targets[@]} -eq 0 ]; then targets=("${CI_TARGETS[@]}"); fi
if [ ${#targets[@]} -eq 0 ]; then
  for src in tests/fuzz/fuzz_*.cpp; do
    name=$(basename "$src" .cpp)
    targets+=("${name#fuzz_}")
  done
fi
cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

mkdir -p "$BUILD/artifacts"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$BUILD/corpus/$t"
  echo "fuzz: $t for ${SECONDS_EACH}s"
  # -rss_limit_mb: a target that grows past 2 GiB is a finding (an alias
  # bomb, an unbounded line); -timeout: so is one input taking 30 s. The
  # sanitizers make the targets 10-20 times slower than Release: an input at
  # the stack's size limits (an alias expanding to 262,144 values) takes
  # 0.5 s in keel and over 10 s here on a busy 2-core machine.
  if ! "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=30 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" \
       "$BUILD/corpus/$t" "tests/fuzz/corpus/$t" > "$BUILD/artifacts/$t.log" 2>&1; then
    failed+=("$t")
    tail -n 60 "$BUILD/artifacts/$t.log" >&2
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$BUILD/artifacts/$t.log" | sed "s/^/  $t /" || true
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: findings in ${failed[*]}; inputs in $BUILD/artifacts/ (copy each into tests/fuzz/corpus/NAME/ once fixed)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${SECONDS_EACH}s each, no finding"

#!/usr/bin/env bash
# backend_bench.sh: the state backends side by side (docs/backends.md).
#
#   bench/backend_bench.sh [--keel PATH] [--resources N] [--plan-resources M] [--runs R]
#
# Starts its own PostgreSQL 15 on 127.0.0.1 with the server's default
# durability (fsync and synchronous_commit on, as in production; the local
# backend fdatasyncs its intents too), then, R times, alternating which goes
# first:
#   - `keel apply` of N new resources (the foundation benchmark's stack:
#     files of the example plugin, every 10th referencing the one before)
#     with the state in .keel/ and with the state in PostgreSQL;
#   - `keel plan --no-refresh` of M resources already applied, with each.
# Prints every run, the medians, and PostgreSQL's apply as a multiple of
# the local one (target: at most 1.3).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(cd "$HERE/.." && pwd)
KEEL=$SOURCE/build/keel
N=1000
M=10000
RUNS=3
while [[ $# -gt 0 ]]; do
  case $1 in
    --keel) KEEL=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    --resources) N=$2; shift 2 ;;
    --plan-resources) M=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: $0 [--keel PATH] [--resources N] [--plan-resources M] [--runs R]" >&2; exit 2 ;;
  esac
done
[[ -x $KEEL ]] || { echo "no keel at $KEEL (build it, or pass --keel)" >&2; exit 1; }
export KEEL_ALLOWED_NETWORKS=127.0.0.0/8,::1/128
export KEEL_STATE_KEY=backend-bench
unset KEEL_BACKEND KEEL_LOG

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keel-backend-bench.XXXXXX")
PGDIR=$(mktemp -u /tmp/keel-bench-pg.XXXXXX)
cleanup() {
  "$SOURCE/tests/support/stop-postgres.sh" "$PGDIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
"$SOURCE/tests/support/start-postgres.sh" "$PGDIR" durable
PG_URL=$(sed -n 's/^PG_URL=//p' "$PGDIR/postgres.env")

# stack DIR COUNT PROJECT: the foundation benchmark's stack.
stack() {
  mkdir -p "$1"
  {
    printf 'keel: 1\nproject: %s\nproviders:\n  ex: { type: example, root: "%s/files" }\nfiles:\n' "$3" "$1"
    for ((i = 0; i < $2; i++)); do
      if ((i % 10 == 9)); then
        printf '  f%d: { provider: ex, path: f%d, content: "${files.f%d.sha256}" }\n' "$i" "$i" $((i - 1))
      else
        printf '  f%d: { provider: ex, path: f%d, content: "file %d of %s" }\n' "$i" "$i" "$i" "$3"
      fi
    done
  } >"$1/keel.yaml"
}

# timed BACKEND DIR ARGS...: seconds of `keel ARGS` in DIR with the state in BACKEND.
timed() {
  local backend=$1 dir=$2 start end
  shift 2
  start=$(date +%s%N)
  (cd "$dir" && KEEL_BACKEND=$backend "$KEEL" "$@" >"$WORK/last.out" 2>&1) ||
    { tail -20 "$WORK/last.out" >&2; echo "keel $* failed with the $backend backend" >&2; exit 1; }
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.2f", ns / 1e9 }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "backend_bench: $("$KEEL" --version), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "PostgreSQL 15 on 127.0.0.1 (fsync on, synchronous_commit on)"
echo
local_apply=() pg_apply=()
for ((r = 1; r <= RUNS; r++)); do
  stack "$WORK/local-$r" "$N" "bench-local-$r"
  stack "$WORK/pg-$r" "$N" "bench-pg-$r"
  if ((r % 2)); then order=(local pg); else order=(pg local); fi
  for b in "${order[@]}"; do
    if [[ $b == local ]]; then
      t=$(timed local "$WORK/local-$r" apply --auto-approve); local_apply+=("$t")
    else
      t=$(timed "$PG_URL" "$WORK/pg-$r" apply --auto-approve); pg_apply+=("$t")
    fi
    printf 'apply of %d, run %d, %-10s %6s s\n' "$N" "$r" "$b:" "$t"
  done
done

stack "$WORK/plan-local" "$M" bench-plan-local
stack "$WORK/plan-pg" "$M" bench-plan-pg
timed local "$WORK/plan-local" apply --auto-approve >/dev/null
timed "$PG_URL" "$WORK/plan-pg" apply --auto-approve >/dev/null
local_plan=() pg_plan=()
for ((r = 1; r <= RUNS; r++)); do
  t=$(timed local "$WORK/plan-local" plan --no-refresh); local_plan+=("$t")
  t2=$(timed "$PG_URL" "$WORK/plan-pg" plan --no-refresh); pg_plan+=("$t2")
  printf 'no-op plan of %d, run %d: local %6s s, postgres %6s s\n' "$M" "$r" "$t" "$t2"
done

la=$(median "${local_apply[@]}") pa=$(median "${pg_apply[@]}")
lp=$(median "${local_plan[@]}") pp=$(median "${pg_plan[@]}")
echo
printf '%-34s %10s %10s %8s\n' "median of $RUNS" "local s" "postgres s" "ratio"
printf '%-34s %10s %10s %8s\n' "apply of $N" "$la" "$pa" "$(awk -v a="$pa" -v b="$la" 'BEGIN { printf "%.2f", a / b }')"
printf '%-34s %10s %10s %8s\n' "no-op plan of $M (--no-refresh)" "$lp" "$pp" "$(awk -v a="$pp" -v b="$lp" 'BEGIN { printf "%.2f", a / b }')"
awk -v a="$pa" -v b="$la" 'BEGIN { r = a / b; printf "\ntarget: postgres apply <= 1.3 x local: %.2f %s\n", r, (r <= 1.3 ? "PASS" : "MISS") }'

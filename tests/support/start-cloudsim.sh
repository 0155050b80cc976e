#!/usr/bin/env bash
# start-cloudsim.sh DIR CLOUDSIM_BIN
#
# Starts the project's cloud simulator (keel-cloudsim) on a free port of
# 127.0.0.1 and, in front of it, Prism (npm @stoplight/prism-cli) as a
# validating proxy built from DigitalOcean's own OpenAPI document
# (../shared/specs/digitalocean-openapi.yaml beside the repo):
#
#   provider --> prism proxy --errors SPEC --> keel-cloudsim
#
# A request that violates the document never reaches the simulator (Prism
# answers 422/400), and a simulator response that violates it becomes a 500;
# both are logged, and stop-cloudsim.sh fails when the log holds any.
# Prism takes ~10 s and ~300 MB to start, so CTest starts it once per run (a
# fixture, tests/CMakeLists.txt); tenants (one bearer token per test) keep the
# tests apart inside the one simulator.
#
# Writes DIR/cloudsim.env (and prints it):
#   CLOUDSIM_URL   the simulator itself (admin API: /_sim/...)
#   DO_ENDPOINT    where a DigitalOcean client should point: Prism, or the
#                  simulator when the specs are absent
#   DO_CONTRACT    "prism" or "skipped: <why>"
#   PRISM_LOG      Prism's log
# Without ../shared/specs the contract check is skipped (and said so);
# with KEEL_REQUIRE_CONTRACT=1 (CI) that is an error instead.
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$HERE/../.." && pwd)

die() { echo "start-cloudsim.sh: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    if command -v ss >/dev/null 2>&1; then
      [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ] || continue
    fi
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  die "no free port found"
}
# wait_for_line FILE PATTERN PIDFILE SECONDS
wait_for_line() {
  local deadline=$(( $(now_ms) + $4 * 1000 ))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    kill -0 "$(cat "$3")" 2>/dev/null || { cat "$1" >&2; die "$(basename "$3" .pid) exited"; }
    [ "$(now_ms)" -lt "$deadline" ] || { cat "$1" >&2; die "no \"$2\" within $4 s"; }
    sleep 0.1
  done
}

[ $# -ge 2 ] || die "usage: $0 DIR CLOUDSIM_BIN"
mkdir -p -- "$1"
DIR=$(cd -- "$1" && pwd -P)
SIM_BIN=$2
[ -x "$SIM_BIN" ] || die "not executable: $SIM_BIN"
"$HERE/stop-cloudsim.sh" "$DIR" --quiet || true

SPEC=${KEEL_DO_SPEC:-$ROOT/../shared/specs/digitalocean-openapi.yaml}
PRISM=${PRISM_BIN:-${KEEL_NPM_PREFIX:-$HOME/.cache/keel-npm}/node_modules/.bin/prism}
CONTRACT="prism"
if [ ! -f "$SPEC" ]; then
  CONTRACT="skipped: $SPEC is absent"
elif [ ! -x "$PRISM" ]; then
  "$HERE/install-npm-tools.sh" >&2 || die "installing Prism failed"
fi
# start_simulator [PUBLIC_URL]: tests set their own timings per tenant
# through /_sim/config. PUBLIC_URL is what its pagination links name (Prism
# rewrites Host to the simulator's own address).
start_simulator() {
  nohup "$SIM_BIN" --listen 127.0.0.1:0 --provision-seconds 0.3 --rate-limit 5000/min ${1:+--public-url "$1"} \
    > "$DIR/cloudsim.out" 2> "$DIR/cloudsim.log" < /dev/null &
  echo $! > "$DIR/cloudsim.pid"
  wait_for_line "$DIR/cloudsim.out" "listening on" "$DIR/cloudsim.pid" 20
  SIM_URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$DIR/cloudsim.out" | head -n1)
}

if [ "$CONTRACT" = prism ]; then
  t0=$(now_ms)
  for attempt in 1 2 3; do
    PORT=$(pick_free_port)
    ENDPOINT="http://127.0.0.1:$PORT"
    start_simulator "$ENDPOINT"
    nohup "$PRISM" proxy -h 127.0.0.1 -p "$PORT" --errors "$SPEC" "$SIM_URL" \
      > "$DIR/prism.log" 2>&1 < /dev/null &
    echo $! > "$DIR/prism.pid"
    if (wait_for_line "$DIR/prism.log" "Prism is listening" "$DIR/prism.pid" 120); then break; fi
    grep -q EADDRINUSE "$DIR/prism.log" && [ "$attempt" -lt 3 ] || die "Prism did not start"
    "$HERE/stop-cloudsim.sh" "$DIR" --quiet || true
  done
  echo "start-cloudsim.sh: Prism validating proxy on $ENDPOINT in $(( $(now_ms) - t0 )) ms" >&2
elif [ "${KEEL_REQUIRE_CONTRACT:-0}" = 1 ]; then
  die "the contract check is required but $CONTRACT"
else
  start_simulator
  ENDPOINT=$SIM_URL
  echo "start-cloudsim.sh: contract check $CONTRACT; tests talk to the simulator directly" >&2
fi

{
  echo "CLOUDSIM_URL=$SIM_URL"
  echo "DO_ENDPOINT=$ENDPOINT"
  echo "DO_CONTRACT=$CONTRACT"
  echo "PRISM_LOG=$DIR/prism.log"
} > "$DIR/cloudsim.env"
cat "$DIR/cloudsim.env"

#!/usr/bin/env bash
# stop-cloudsim.sh DIR [--quiet]
#
# Stops what start-cloudsim.sh started in DIR (Prism, then the simulator),
# then fails if Prism logged a contract violation during the run: a request
# keel sent, or a response the simulator gave, that DigitalOcean's OpenAPI
# document does not allow. Each violation is printed.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 DIR [--quiet]" >&2; exit 1; }
DIR=$1
QUIET=${2:-}

alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
stop_pidfile() {  # PIDFILE NAME: only a pid whose command line names NAME
  local pid
  [ -s "$1" ] || return 0
  pid=$(head -n1 "$1")
  case "$pid" in ''|*[!0-9]*) rm -f -- "$1"; return 0 ;; esac
  if alive "$pid" && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$2"; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.05; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f -- "$1"
}

stop_pidfile "$DIR/prism.pid" prism
stop_pidfile "$DIR/cloudsim.pid" keel-cloudsim
[ "$QUIET" = --quiet ] && exit 0

# Prism marks what it rejects: a request that breaks the document, and an
# upstream response that does (VIOLATIONS).
PATTERN="VIOLATIONS|UNPROCESSABLE_ENTITY|Violation: "
if [ -f "$DIR/prism.log" ] && grep -E "$PATTERN" "$DIR/prism.log" > "$DIR/violations.txt"; then
  echo "stop-cloudsim.sh: Prism logged $(wc -l < "$DIR/violations.txt") contract violation(s):" >&2
  head -n 50 "$DIR/violations.txt" >&2
  exit 1
fi
echo "stop-cloudsim.sh: stopped; no contract violations logged" >&2

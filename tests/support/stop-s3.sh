#!/usr/bin/env bash
# stop-s3.sh DIR
#
# Stops the s3rver that start-s3.sh started in DIR, by the pid in DIR/s3.pid
# and only if that pid still runs s3rver (a recycled pid is left alone):
# SIGTERM, then SIGKILL after STOP_TIMEOUT seconds (default 10). DIR itself
# (data, log) is left for the caller. Safe to run twice.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 DIR" >&2; exit 1; }
PIDFILE="$1/s3.pid"
TIMEOUT=${STOP_TIMEOUT:-10}

alive() {  # a zombie counts as gone: PID 1 may reap it late
  [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}
wait_gone() {
  local deadline=$(( $(date +%s%3N) + $2 * 1000 ))
  while alive "$1"; do
    [ "$(date +%s%3N)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

[ -s "$PIDFILE" ] || exit 0
pid=$(head -n1 "$PIDFILE")
case "$pid" in ''|*[!0-9]*) rm -f -- "$PIDFILE"; exit 0 ;; esac
if ! alive "$pid" || ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q s3rver; then
  rm -f -- "$PIDFILE"
  exit 0
fi
kill -TERM "$pid" 2>/dev/null
if ! wait_gone "$pid" "$TIMEOUT"; then
  echo "stop-s3.sh: s3rver (pid $pid) ignored SIGTERM for ${TIMEOUT}s; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null
  wait_gone "$pid" 5 || { echo "stop-s3.sh: pid $pid survives" >&2; exit 1; }
fi
rm -f -- "$PIDFILE"
echo "s3rver stopped (pid $pid)" >&2

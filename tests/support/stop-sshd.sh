#!/usr/bin/env bash
# stop-sshd.sh DIR
#
# Stops the sshd that tests/support/start-sshd.sh started in DIR, by the pid
# in DIR/sshd.pid (never by name), after checking that the process still runs
# DIR's sshd_config (guards against a recycled pid): SIGTERM, then SIGKILL
# after STOP_TIMEOUT seconds (default 10). The per-connection sshd processes
# below it (and what they started) go too. Deletes the account start-sshd.sh
# created, if any. DIR itself is left for the caller. Safe to run twice.
set -uo pipefail

die()  { echo "stop-sshd: error: $*" >&2; exit 1; }
info() { echo "stop-sshd: $*" >&2; }
now_ms() { date +%s%3N; }

[ $# -ge 1 ] || die "usage: $0 DIR"
[ -d "$1" ] || { info "$1: no such directory, nothing to stop"; exit 0; }
DIR=$(cd -- "$1" && pwd -P)
TIMEOUT=${STOP_TIMEOUT:-10}
rc=0

# wait_gone PID SECONDS: wait for PID to exit (a zombie counts as gone: with
# no init system here, orphans are reaped late).
wait_gone() {
  local pid=$1 deadline=$(( $(now_ms) + $2 * 1000 ))
  while [ -d "/proc/$pid" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# descendants PID: the pids of all processes below PID, from one ps snapshot.
descendants() {
  ps -e -o pid= -o ppid= | awk -v root="$1" '
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      want[root] = 1
      do { added = 0
           for (i in pids) { p = pids[i]
             if (!(p in want) && (parent[p] in want)) { want[p] = 1; added = 1; print p } }
      } while (added)
    }'
}

stop_listener() {
  local pidf="$DIR/sshd.pid" pid kids
  [ -s "$pidf" ] || return 0
  pid=$(head -n1 "$pidf")
  case "$pid" in ''|*[!0-9]*) rm -f -- "$pidf"; return 0 ;; esac
  if [ ! -d "/proc/$pid" ] || grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then
    rm -f -- "$pidf"; return 0
  fi
  if ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/sshd/sshd_config"; then
    info "pid $pid is not this sshd any more; leaving it alone"
    rm -f -- "$pidf"; return 0
  fi
  # Per-connection sshd processes call setsid(), and commands they ran keep
  # running after the connection drops: end the whole tree, by pid.
  kids=$(descendants "$pid")
  # shellcheck disable=SC2086  # one pid per word
  [ -n "$kids" ] && kill -TERM $kids 2>/dev/null
  kill -TERM "$pid" 2>/dev/null
  if ! wait_gone "$pid" "$TIMEOUT"; then
    info "pid $pid ignored SIGTERM for ${TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    wait_gone "$pid" 5 || { info "pid $pid survives"; rc=1; return; }
  fi
  rm -f -- "$pidf"
  info "sshd stopped (pid $pid)"
}

delete_created_user() {
  [ -s "$DIR/sshd.created-user" ] || return 0
  local user home pids
  user=$(sed -n 1p "$DIR/sshd.created-user"); home=$(sed -n 2p "$DIR/sshd.created-user")
  if id "$user" >/dev/null 2>&1; then
    pids=$(ps -o pid= -u "$user" 2>/dev/null || true)
    # shellcheck disable=SC2086  # one pid per word
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null && sleep 0.2
    userdel "$user" 2>/dev/null || { info "userdel $user failed"; rc=1; }
  fi
  case "$home" in /tmp/keel-sshuser.*) rm -rf -- "$home" ;; esac
  rm -f -- "$DIR/sshd.created-user"
}

stop_listener
delete_created_user
exit $rc

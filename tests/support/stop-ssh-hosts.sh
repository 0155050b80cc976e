#!/usr/bin/env bash
# stop-ssh-hosts.sh DIR
#
# Stops every host that start-ssh-hosts.sh started in DIR: each host's sshd
# and every process started inside its namespace (sessions, what they left
# running under setsid or nohup), found by mount namespace, never by name
# (ssh-host-ctl.sh DIR stop I, for all hosts at once). Then removes the
# network namespaces and veth pairs of --netns hosts. DIR itself (keys, logs,
# each host's opt-keel) is left for the caller. Safe to run twice.
set -uo pipefail

die()  { echo "stop-ssh-hosts: error: $*" >&2; exit 1; }
info() { echo "stop-ssh-hosts: $*" >&2; }

[ $# -ge 1 ] || die "usage: $0 DIR"
[ -d "$1" ] || { info "$1: no such directory, nothing to stop"; exit 0; }
DIR=$(cd -- "$1" && pwd -P)
CTL="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)/ssh-host-ctl.sh"
rc=0

hosts=()
for h in "$DIR"/h[0-9]*; do
  [ -s "$h/host.env" ] && hosts+=("${h##*/h}")
done
[ ${#hosts[@]} -gt 0 ] || { info "no hosts in $DIR"; exit 0; }

pids=()
for i in "${hosts[@]}"; do
  "$CTL" "$DIR" stop "$i" </dev/null >/dev/null 2>"$DIR/h$i/stop.err" &
  pids+=($!)
done
for k in "${!pids[@]}"; do
  if ! wait "${pids[$k]}"; then
    i=${hosts[$k]}
    sed "s/^/  h$i: /" "$DIR/h$i/stop.err" >&2
    rc=1
  fi
done

# Network namespaces go last: deleting one also deletes its veth pair.
for i in "${hosts[@]}"; do
  ns=$(sed -n 's/^HOST_NETNS=//p' "$DIR/h$i/host.env")
  [ -n "$ns" ] || continue
  if [ -e "/run/netns/$ns" ]; then
    ip netns delete "$ns" || { info "ip netns delete $ns failed"; rc=1; }
  fi
done
[ $rc = 0 ] && info "${#hosts[@]} hosts stopped"
exit $rc

#!/usr/bin/env bash
# Hosts with addresses of their own: two sshd hosts in network namespaces
# (tests/support/start-ssh-hosts.sh --netns, 10.213.X.2, each with its own
# 127.0.0.1), so both agents take the default port 7300 (`agent: true`).
# keel health reaches each through its SSH forward; a host that goes down is
# named as unreachable while the other still passes; destroy forgets the
# host that is down (with a warning) and removes the other's agent.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

command -v ip >/dev/null || fail "needs iproute2 (ip netns)"
command -v jq >/dev/null || fail "jq is needed"


step "two hosts in network namespaces"
start_ssh_hosts 2 --netns
read -r ADDR1 ADDR2 <<<"$SSH_HOSTS_ADDRS"
read -r P1 P2 <<<"$SSH_HOSTS_PORTS"
[[ $ADDR1 != 127.0.0.1 && $ADDR1 != "$ADDR2" ]] || fail "the hosts have no addresses of their own: $SSH_HOSTS_ADDRS"

new_stack STACK netns
cd "$STACK"
cat >keel.yaml <<YAML
keel: 1
project: netnstest
servers:
  a: { provider: ssh, host: $ADDR1, port: $P1, user: $SSH_HOSTS_USER, key: $SSH_HOSTS_KEY, known_hosts: $SSH_HOSTS_KNOWN_HOSTS }
  b: { provider: ssh, host: $ADDR2, port: $P2, user: $SSH_HOSTS_USER, key: $SSH_HOSTS_KEY, known_hosts: $SSH_HOSTS_KNOWN_HOSTS }
checks:
  alive: { on: [servers.a, servers.b], exec: "true", interval: 2s }
YAML

step "apply installs an agent on port 7300 of each host"
expect_ok keel apply --auto-approve
keel state show servers.b >"$WORK/show.out" 2>&1
assert_contains "$WORK/show.out" "https://127.0.0.1:7300"

step "keel health reaches both"
wait_until 30 bash -c "cd '$STACK' && '$KEEL' health --json | jq -e '.hosts | length == 2 and all(.status == \"passing\")' >/dev/null" ||
  { keel health >"$WORK/health.out" 2>&1 || true; show "$WORK/health.out"; fail "the agents do not both pass"; }

step "a host that goes down is named; the other still passes"
ssh_host_ctl stop 2
run_rc rc keel health --json
[[ $rc == 3 ]] || { show "$WORK/last.out"; fail "keel health with a host down exited $rc, expected 3 (unknown)"; }
jq -e '.hosts[] | select(.address == "servers.a") | .status == "passing"' "$WORK/last.out" >/dev/null ||
  { show "$WORK/last.out"; fail "servers.a does not pass any more"; }
jq -e '.hosts[] | select(.address == "servers.b") | .reachable == false' "$WORK/last.out" >/dev/null ||
  { show "$WORK/last.out"; fail "servers.b is not reported unreachable"; }

step "refresh keeps the host that is down, and destroy forgets it"
expect_ok keel refresh
expect_ok keel state list
assert_contains "$WORK/last.out" "servers.b"
expect_ok keel destroy --auto-approve
assert_contains "$WORK/last.out" "forgetting it anyway"

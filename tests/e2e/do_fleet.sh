#!/usr/bin/env bash
# Cloud servers join the fleet (DigitalOcean): the simulator makes two
# droplets and hands them private addresses in order (10.110.0.2, .3 for a
# fresh account); the test brings up sshd hosts in network namespaces at
# those addresses (tests/support/start-ssh-hosts.sh --netns-at), and
# `connect: private` reaches the droplets there with strict host keys from
# the hosts' known_hosts. A first apply whose known_hosts lacks the keys
# fails after the droplets are made: the droplets stay (no refusal), and
# the next apply adopts them (no duplicates) and installs the agents; that
# apply is killed once an agent has started, and the one after it must
# still reach the agents (the new token and TLS restart them). Then
# keel exec and keel health across them, a backup through one's agent;
# destroy deletes the droplets.
#
# The simulator's public addresses (documentation ranges) are never
# connected to: every address keel reaches is one of this test's namespaces,
# and a step asks for the public ones to show the network fence refusing
# them at once.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup
command -v ip >/dev/null || fail "needs iproute2 (ip netns)"
command -v jq >/dev/null || fail "jq is needed"
cloudsim_tenant
sim PUT /_sim/config '{"provision_seconds": 0.3}' >/dev/null

NET=10.110.0
step "two sshd hosts in network namespaces at $NET.2 and .3"
start_ssh_hosts 2 --netns-at "$NET.2,$NET.3"

new_stack STACK fleet
cd "$STACK"
: >empty_known_hosts
write_stack() {  # write_stack KNOWN_HOSTS [CONNECT]
  cat >keel.yaml <<YAML
keel: 1
project: e2e-do-fleet
providers:
  do: { type: digitalocean, endpoint: "\${env.DO_ENDPOINT}" }
servers:
  web:
    provider: do
    count: 2
    size: s-1vcpu-1gb
    image: debian-12-x64
    region: fra1
    private_key: $SSH_HOSTS_KEY
    connect: ${2:-private}
    known_hosts: $1
    host_key_check: strict
    agent: true
checks:
  alive: { on: servers.web, exec: "true", interval: 2s }
backups:
  data:
    source: { files: [/opt/keel/data] }
    runs_on: servers.web[0]
    to: file:///opt/keel/backups
YAML
}

step "strict host keys not in known_hosts: the droplets are made, the agents are not"
write_stack ./empty_known_hosts
run_rc rc keel apply --auto-approve
[[ $rc != 0 ]] || { show "$WORK/last.out"; fail "apply passed with no host keys known"; }
assert_contains "$WORK/last.out" "its host key is not in"
assert_contains "$WORK/last.out" "the next apply finishes it"
made=$(sim_count droplets)
[[ $made -ge 1 ]] || fail "the simulator holds no droplet: the failure came before the create"
[[ ! -e $HOSTS/h1/opt-keel/agent ]] || fail "an agent was installed on a host whose key was not known"

step "an apply killed once an agent has started leaves it running with a token and TLS keel never recorded"
write_stack "$SSH_HOSTS_KNOWN_HOSTS"
"$KEEL" apply --auto-approve >"$WORK/killed.out" 2>&1 &
killed=$!
wait_until 300 grep -q "waiting for keel-agent" "$WORK/killed.out" ||
  { kill -9 "$killed" 2>/dev/null || true; show "$WORK/killed.out"; fail "no agent was started"; }
kill -9 "$killed" 2>/dev/null || true
wait "$killed" 2>/dev/null || true

step "with the hosts' known_hosts, the next apply adopts the droplets and (re)starts the agents with new material"
expect_ok keel apply --auto-approve
[[ $(sim_count droplets) == 2 ]] || fail "the re-apply made duplicates: $(sim_count droplets) droplets"
for h in 1 2; do [[ -x $HOSTS/h$h/opt-keel/agent/bin/keel-agent ]] || fail "no keel-agent on host $h"; done
[[ ! -s empty_known_hosts ]] || fail "strict host key checking wrote to known_hosts"
run_rc rc keel plan --detailed-exitcode
[[ $rc == 0 ]] || { show "$WORK/last.out"; fail "a plan after apply is not empty (exit $rc)"; }

step "keel exec and keel health across the droplets"
expect_ok keel exec all -- 'hostname -I'
assert_contains "$WORK/last.out" "$NET.2"
assert_contains "$WORK/last.out" "$NET.3"
wait_until 60 bash -c "cd '$STACK' && '$KEEL' health --json | jq -e '.hosts | length == 2 and all(.status == \"passing\")' >/dev/null" ||
  { keel health >"$WORK/health.out" 2>&1 || true; show "$WORK/health.out"; fail "the agents do not both pass"; }

step "a backup through the first droplet's agent"
mkdir -p "$HOSTS/h1/opt-keel/data" && echo hello >"$HOSTS/h1/opt-keel/data/hello"
expect_ok keel backup run data
keel_json backup list data >"$WORK/list.json" || fail "keel backup list data failed"
[[ $(json_get "$WORK/list.json" 'len(d["backups"])') == 1 ]] || { show "$WORK/list.json"; fail "expected one backup"; }
ls "$HOSTS"/h1/opt-keel/backups/data/*.kdr >/dev/null || fail "no backup data on the first droplet"

step "connect: public (the simulator's documentation-range addresses) is refused by the network fence at once"
write_stack "$SSH_HOSTS_KNOWN_HOSTS" public
started=$SECONDS
run_rc rc keel apply --auto-approve
[[ $rc != 0 ]] || { show "$WORK/last.out"; fail "apply reached the droplets' public addresses"; }
assert_contains "$WORK/last.out" "is outside the networks KEEL_ALLOWED_NETWORKS allows"
# Not taken for a key cloud-init has yet to install (retried for 90 s).
(( SECONDS - started < 60 )) || fail "the fence's refusal was retried for $((SECONDS - started)) s"
write_stack "$SSH_HOSTS_KNOWN_HOSTS"

step "destroy deletes the droplets"
expect_ok keel destroy --auto-approve
[[ $(sim_count droplets) == 0 ]] || fail "the simulator still holds $(sim_count droplets) droplets"

#!/usr/bin/env bash
# The `ssh` provider and keel-agent installed over SSH: two real sshd hosts
# (tests/support/start-ssh-hosts.sh, each with its own /opt/keel) become
# servers with their facts recorded and an agent each (agent: {port}: they
# share 127.0.0.1); keel health reaches the agents through SSH forwards; a
# changed check reaches the agent; an agent killed behind keel's back is
# drift that apply repairs; keel agent status|upgrade|install; a host whose
# key changed is named and refused; neither the agent token nor the user's
# private key ever leaves where it belongs; destroy removes the agents.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

command -v jq >/dev/null || fail "jq is needed"


step "two sshd hosts"
start_ssh_hosts 2
read -r P1 P2 <<<"$SSH_HOSTS_PORTS"
on_host() { # on_host PORT CMD: runs CMD on a test host with OpenSSH's client
  ssh -q -o BatchMode=yes -o UserKnownHostsFile="$SSH_HOSTS_KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
    -i "$SSH_HOSTS_KEY" -p "$1" "$SSH_HOSTS_USER@127.0.0.1" "$2"
}

new_stack STACK agent
cd "$STACK"
A1=$((20000 + RANDOM % 20000)); A2=$((A1 + 1))
write_stack() { # write_stack CHECK_COMMAND
  cat >keel.yaml <<YAML
keel: 1
project: agenttest
servers:
  h1: { provider: ssh, host: 127.0.0.1, port: $P1, user: $SSH_HOSTS_USER, key: $SSH_HOSTS_KEY, known_hosts: $SSH_HOSTS_KNOWN_HOSTS, agent: { port: $A1 } }
  h2: { provider: ssh, host: 127.0.0.1, port: $P2, user: $SSH_HOSTS_USER, key: $SSH_HOSTS_KEY, known_hosts: $SSH_HOSTS_KNOWN_HOSTS, agent: { port: $A2 } }
checks:
  marker: { on: [servers.h1, servers.h2], exec: "$1", interval: 2s }
YAML
}
write_stack "true"

step "apply reaches both hosts, records their facts and installs the agents"
expect_ok keel apply --auto-approve
cp "$WORK/last.out" "$WORK/apply.out"
assert_contains "$WORK/apply.out" "uploading keel-agent"
keel state show servers.h1 >"$WORK/show.out" 2>&1
for fact in os arch cpus memory_mb hostname; do assert_contains "$WORK/show.out" "$fact"; done
on_host "$P1" "test -x /opt/keel/agent/bin/keel-agent && test -x /opt/keel/agent/bin/keel-dr" || fail "no agent binaries on h1"
mode=$(on_host "$P1" "stat -c %a /opt/keel/agent/agent.token /opt/keel/agent/agent-key.pem /opt/keel/agent/agent.yaml" | sort -u)
[[ $mode == 600 ]] || fail "agent secrets on the host are not 0600: $mode"
run_rc rc keel plan --detailed-exitcode
[[ $rc == 0 ]] || { show "$WORK/last.out"; fail "a plan after apply is not empty (exit $rc)"; }

step "keel health reaches both agents through SSH forwards"
wait_until 30 bash -c "cd '$STACK' && '$KEEL' health --json | jq -e '.hosts | length == 2 and all(.status == \"passing\")' >/dev/null" ||
  { keel health >"$WORK/health.out" 2>&1 || true; show "$WORK/health.out"; fail "the agents do not report the check passing"; }

step "a changed check reaches the agents without a reinstall"
write_stack "false"
expect_ok keel apply --auto-approve
assert_not_contains "$WORK/last.out" "uploading keel-agent" "the binaries were uploaded again though they did not change"
wait_until 30 bash -c "cd '$STACK' && '$KEEL' health --json | jq -e '.hosts | all(.status == \"warning\")' >/dev/null" ||
  { keel health >"$WORK/health.out" 2>&1 || true; show "$WORK/health.out"; fail "the changed check did not reach the agents"; }
write_stack "true"
expect_ok keel apply --auto-approve

step "an agent killed behind keel's back is drift, and apply repairs it"
on_host "$P2" 'kill -9 "$(cat /opt/keel/agent/supervisor.pid)" "$(cat /opt/keel/agent/agent.pid)"'
run_rc rc keel plan --detailed-exitcode
[[ $rc == 2 ]] || { show "$WORK/last.out"; fail "a dead agent is not drift (plan exit $rc)"; }
assert_contains "$WORK/last.out" "servers.h2"
expect_ok keel apply --auto-approve
expect_ok keel agent status
assert_contains "$WORK/last.out" "2 hosts: 2 ok"

step "keel agent upgrade and install"
expect_ok keel agent upgrade servers.h1
assert_contains "$WORK/last.out" "this keel's version"
keel agent install --json >"$WORK/install.json" 2>"$WORK/install.err" || { show "$WORK/install.err"; fail "agent install failed"; }
jq -e '.hosts | length == 2 and all(.ok and .running)' "$WORK/install.json" >/dev/null || { show "$WORK/install.json"; fail "agent install --json"; }

step "secrets stay where they belong"
TOKEN=$(on_host "$P1" "cat /opt/keel/agent/agent.token")
[[ ${#TOKEN} -ge 20 ]] || fail "no token on the host"
for f in "$WORK"/*.out "$WORK"/last.out .keel/state.json; do
  assert_not_contains "$f" "$TOKEN" "the agent token is in $f"
done
KEYLINE=$(sed -n 2p "$SSH_HOSTS_KEY")
if on_host "$P1" "grep -rqF -- '$KEYLINE' /opt/keel"; then fail "the user's private key was uploaded"; fi

step "a host whose key changed is named, and the other still works"
ssh_host_ctl rekey 2
expect_rc 1 keel agent status
assert_contains "$WORK/last.out" "servers.h2"
assert_contains "$WORK/last.out" "CHANGED"
assert_contains "$WORK/last.out" "1 ok, 1 failed"
run_rc rc keel health
[[ $rc != 0 ]] || fail "keel health passes with a host that cannot be verified"
ssh_host_ctl stop 2
expect_ok keel state rm servers.h2 --auto-approve

step "destroy removes the agent keel installed"
expect_ok keel destroy --auto-approve
if on_host "$P1" "test -e /opt/keel/agent"; then fail "/opt/keel/agent is still on h1 after destroy"; fi

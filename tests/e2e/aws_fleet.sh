#!/usr/bin/env bash
# Cloud servers join the fleet (AWS): moto makes two instances in a subnet
# and hands them private addresses in order from .4 of the subnet; the test
# brings up sshd hosts in network namespaces at exactly those addresses
# (tests/support/start-ssh-hosts.sh --netns-at), so that `connect: private`
# reaches "the instances" there. keel installs an agent on each over SSH
# (host keys accepted into keel's own .keel/known_hosts), then keel exec,
# keel deploy and keel health run across them, directly and through a
# bastion (`jump`: an sshd on 127.0.0.1, which reaches the namespaces'
# addresses). A keel killed with SIGKILL while a third instance waits for
# SSH leaves it for the next apply, which adopts it (no second instance) and
# installs its agent. Bad settings are refused with the stack's line before
# any instance is made; destroy terminates the instances and drops their
# keys from keel's known_hosts.
#
# moto's public addresses (54.x.x.x) are never connected to: moto gives
# instances one even in a subnet without `public: true`, so every stack here
# says `connect: private`, and every address keel reaches is one of this
# test's namespaces (or the bastion on 127.0.0.1).
set -euo pipefail
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/aws.bash"
e2e_setup
command -v ip >/dev/null || fail "needs iproute2 (ip netns)"
command -v jq >/dev/null || fail "jq is needed"

# The subnet's first three addresses as moto hands them out. The hosts
# first: start_ssh_hosts sets a trap of its own, which would forget moto.
NET=10.231.1
step "three sshd hosts in network namespaces at $NET.4, .5 and .6"
start_ssh_hosts 3 --netns-at "$NET.4,$NET.5,$NET.6"
aws_setup
proxy_config '{"pending_seconds": 1, "not_found_after_create": 1}' >/dev/null
# At exit: the stacks destroyed while moto runs, moto stopped, then the
# hosts, whatever the test's or the teardown's outcome (a failing command in
# a trap would end it under set -e and leave the hosts running).
fleet_cleanup() {
  local rc=$? teardown=0
  set +e
  aws_teardown
  teardown=$?
  [[ $rc != 0 ]] || rc=$teardown
  (exit "$rc")
  ssh_hosts_cleanup
}
trap fleet_cleanup EXIT
ssh_host_ctl stop 3  # the third "instance" is not up yet

new_stack STACK fleet
cd "$STACK"

# The app's health check runs on each host, as its agent: it reads that
# host's own /opt/keel (each namespace host has its own).
cat >check.sh <<'EOF'
#!/bin/sh
d=/opt/keel/apps/web/current
if [ -f "$d/VERSION" ]; then echo "healthy: $(cat "$d/VERSION")"; exit 0; fi
echo "no release yet"
exit 2
EOF
chmod 755 check.sh
for v in v1 v2; do mkdir -p "dist/$v" && echo "$v" >"dist/$v/VERSION" && tar -czf "dist/$v.tar.gz" -C "dist/$v" .; done

write_stack() {  # write_stack COUNT [EXTRA_SERVER_SETTINGS]
  cat >keel.yaml <<YAML
keel: 1
project: e2e-fleet
variables:
  artifact: { default: dist/v1.tar.gz }
providers:
  aws: { type: aws, region: us-east-1 }
networks:
  main: { provider: aws, cidr: 10.231.0.0/16 }
subnets:
  a: { provider: aws, network: "\${networks.main.id}", cidr: $NET.0/24, zone: us-east-1a }
servers:
  web:
    provider: aws
    count: $1
    size: t3.micro
    image: ami-12c6146b
    subnet: "\${subnets.a.id}"
    ssh_key: $SSH_HOSTS_KEY.pub
    user: $SSH_HOSTS_USER
    private_key: $SSH_HOSTS_KEY
    connect: private
    agent: true
${2:-}
checks:
  web-ok: { on: servers.web, exec: [/bin/sh, $STACK/check.sh], interval: 1h }
apps:
  web:
    servers: servers.web
    artifact: \${var.artifact}
    start: "true"
    health: web-ok
    health_timeout: 10s
    rollout: { batch: 1 }
YAML
}
version_on() { cat "$HOSTS/h$1/opt-keel/apps/web/current/VERSION" 2>/dev/null || echo none; }

step "bad settings are refused with their line, before any instance is made"
write_stack 2 "    jump: 'ops@:22'"
expect_refused
assert_contains "$WORK/last.out" "keel.yaml:"
assert_contains "$WORK/last.out" "\`jump\`"
write_stack 2
sed -i "s|private_key: $SSH_HOSTS_KEY|private_key: ./no-such-key|" keel.yaml
expect_refused
assert_contains "$WORK/last.out" "\`private_key\` ./no-such-key"
line=$(grep -n "private_key:" keel.yaml | cut -d: -f1)
assert_contains "$WORK/last.out" "keel.yaml:$line:"
[[ $(live_instances e2e-fleet) == 0 ]] || fail "a refused apply made $(live_instances e2e-fleet) instances"

step "apply: two instances, reached at their private addresses, each with an agent"
write_stack 2
expect_ok keel apply --auto-approve
[[ $(live_instances e2e-fleet) == 2 ]] || fail "moto holds $(live_instances e2e-fleet) instances, expected 2"
addrs=$(awsm ec2 describe-instances --filters Name=tag:keel:project,Values=e2e-fleet \
  --query 'Reservations[].Instances[].PrivateIpAddress' | tr '\t' '\n' | sort | tr '\n' ' ')
[[ $addrs == "$NET.4 $NET.5 " ]] || fail "moto gave the instances $addrs, not $NET.4 and $NET.5"
for i in 0 1; do
  keel state show "servers.web[$i]" --json >"$WORK/show.json" 2>&1 || { show "$WORK/show.json"; fail "state show"; }
  jq -e '.. | objects | select(has("ssh")) | .ssh.host | startswith("10.231.1.")' "$WORK/show.json" >/dev/null ||
    { show "$WORK/show.json"; fail "servers.web[$i] records no ssh map at its private address"; }
done
for h in 1 2; do [[ -x $HOSTS/h$h/opt-keel/agent/bin/keel-agent ]] || fail "no keel-agent on host $h"; done
grep -q "^$NET.4 " .keel/known_hosts && grep -q "^$NET.5 " .keel/known_hosts ||
  { show .keel/known_hosts; fail "the hosts' keys are not in keel's own known_hosts"; }
# Secrets stay sealed: the agent token never appears in state or plan in clear.
token=$(cat "$HOSTS/h1/opt-keel/agent/agent.token")
[[ -n $token ]] || fail "host 1 has no agent token"
! grep -rqF -- "$token" .keel/state.json || fail "the agent token is in state in clear"
run_rc rc keel plan --detailed-exitcode
[[ $rc == 0 ]] || { show "$WORK/last.out"; fail "a plan after apply is not empty (exit $rc)"; }
! grep -qF -- "$token" "$WORK/last.out" || fail "the agent token is in the plan"
# The private key only signs the login: not in state, not on the hosts.
keyline=$(sed -n 2p "$SSH_HOSTS_KEY")
! grep -rqF -- "$keyline" .keel || fail "the private key's contents are under .keel"
! grep -rqF -- "$keyline" "$HOSTS/h1/opt-keel" || fail "the private key was uploaded to a host"

step "keel exec across the instances"
expect_ok keel exec servers.web -- 'hostname -I'
assert_contains "$WORK/last.out" "$NET.4"
assert_contains "$WORK/last.out" "$NET.5"

step "keel deploy over the private addresses, then keel health across them"
expect_ok keel deploy web
assert_contains "$WORK/last.out" "Deployed web release "
[[ $(version_on 1) == v1 && $(version_on 2) == v1 ]] || fail "hosts are on $(version_on 1) $(version_on 2), expected v1 v1"
wait_until 60 bash -c "cd '$STACK' && '$KEEL' health --json | jq -e '.hosts | length == 2 and all(.status == \"passing\")' >/dev/null" ||
  { keel health >"$WORK/health.out" 2>&1 || true; show "$WORK/health.out"; fail "the agents do not both pass"; }
expect_ok keel health
assert_contains "$WORK/last.out" "healthy: v1"
expect_ok keel deploy web --var artifact=dist/v2.tar.gz
[[ $(version_on 1) == v2 && $(version_on 2) == v2 ]] || fail "hosts are on $(version_on 1) $(version_on 2), expected v2 v2"

step "through a bastion: \`jump\` to an sshd on 127.0.0.1, which reaches the private addresses"
mkdir -p "$WORK/bastion"
"$KEEL_SOURCE_DIR/tests/support/start-sshd.sh" "$WORK/bastion" >"$WORK/bastion.log" 2>&1 ||
  { show "$WORK/bastion.log"; fail "start-sshd.sh failed"; }
E2E_BG_PIDS+=("$(cat "$WORK/bastion/sshd.pid")")
BASTION_PORT=$(sed -n 's/^SSH_TEST_PORT=//p' "$WORK/bastion/sshd.env")
cat "$SSH_HOSTS_KEY.pub" >>"$WORK/bastion/sshd/authorized_keys"  # the same key logs into the bastion
logins() { grep -c "Accepted publickey" "$WORK/bastion/sshd.log" || true; }
write_stack 2 "    jump: root@127.0.0.1:$BASTION_PORT"
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "0 added, 2 changed, 0 destroyed"
before=$(logins)
expect_ok keel exec servers.web -- 'hostname -I'
assert_contains "$WORK/last.out" "$NET.4"
assert_contains "$WORK/last.out" "$NET.5"
[[ $(logins) -ge $((before + 2)) ]] || { show "$WORK/bastion/sshd.log"; fail "keel exec did not go through the bastion"; }
grep -q "^\[127.0.0.1\]:$BASTION_PORT " .keel/known_hosts || { show .keel/known_hosts; fail "the bastion's key is not in keel's known_hosts"; }
expect_ok keel health

step "keel killed while a third instance waits for SSH; the next apply adopts it and installs its agent"
write_stack 3
"$KEEL" apply --auto-approve >"$WORK/killed.log" 2>&1 &
pid=$!
wait_until 120 grep -q "waiting for SSH on root@$NET.6" "$WORK/killed.log" ||
  { kill -9 "$pid" 2>/dev/null; show "$WORK/killed.log"; fail "the third instance never waited for SSH"; }
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
[[ $(live_instances e2e-fleet) == 3 ]] || fail "moto holds $(live_instances e2e-fleet) instances, expected 3"
ssh_host_ctl start 3
expect_ok keel apply --auto-approve
[[ $(live_instances e2e-fleet) == 3 ]] || fail "the re-apply made a duplicate: $(live_instances e2e-fleet) instances"
[[ -x $HOSTS/h3/opt-keel/agent/bin/keel-agent ]] || fail "no keel-agent on host 3 after the re-apply"
run_rc rc keel plan --detailed-exitcode
[[ $rc == 0 ]] || { show "$WORK/last.out"; fail "a plan after the re-apply is not empty (exit $rc)"; }
expect_ok keel deploy web --var artifact=dist/v2.tar.gz
[[ $(version_on 3) == v2 ]] || fail "host 3 is on $(version_on 3), expected v2"
wait_until 60 bash -c "cd '$STACK' && '$KEEL' health --json | jq -e '.hosts | length == 3 and all(.status == \"passing\")' >/dev/null" ||
  { keel health >"$WORK/health.out" 2>&1 || true; show "$WORK/health.out"; fail "the three agents do not all pass"; }

step "destroy terminates the instances and forgets their host keys"
expect_ok keel destroy --auto-approve
[[ $(live_instances e2e-fleet) == 0 ]] || fail "moto still holds $(live_instances e2e-fleet) instances"
! grep -q "^$NET\." .keel/known_hosts || { show .keel/known_hosts; fail "keel's known_hosts keeps the deleted servers' keys"; }
assert_proxy_clean

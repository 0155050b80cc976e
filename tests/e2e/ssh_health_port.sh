#!/usr/bin/env bash
# A health port for load balancers on a host reached over SSH: a host in a
# network namespace (its own address) takes `agent: { health_port: 7301 }`.
# From outside, as a load balancer would, http://ADDR:7301/ answers 200
# without a token while the API's port is not reachable there; a failing
# check turns it 503; a new health_port moves it (the agent restarts:
# it keeps its listeners through a reload); removing it closes it.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

command -v ip >/dev/null || fail "needs iproute2 (ip netns)"
command -v curl >/dev/null || fail "curl is needed"
command -v jq >/dev/null || fail "jq is needed"

step "a host in a network namespace"
start_ssh_hosts 1 --netns
read -r ADDR <<<"$SSH_HOSTS_ADDRS"
read -r PORT <<<"$SSH_HOSTS_PORTS"
[[ $ADDR != 127.0.0.1 ]] || fail "the host has no address of its own: $SSH_HOSTS_ADDRS"
BROKEN="$WORK/broken"  # the check fails while this file exists (the host shares this file system)

new_stack STACK hport
cd "$STACK"
write_stack() {  # write_stack AGENT-SETTING
  cat >keel.yaml <<YAML
keel: 1
project: hporttest
servers:
  a: { provider: ssh, host: $ADDR, port: $PORT, user: $SSH_HOSTS_USER, key: $SSH_HOSTS_KEY, known_hosts: $SSH_HOSTS_KNOWN_HOSTS,
       agent: $1 }
checks:
  flag: { on: servers.a, exec: [/bin/sh, -c, "test ! -e '$BROKEN' || exit 2"], interval: 1s }
YAML
}

# status_of PORT: the HTTP status http://ADDR:PORT/ answers from this side
# of the veth pair ("000": no answer).
status_of() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$ADDR:$1/" || true
}
answers() { [[ $(status_of "$1") == "$2" ]]; }
closed() { [[ $(status_of "$1") == 000 ]]; }

step "a health port is refused at its line when it is the API's"
write_stack "{ health_port: 7300 }"
expect_rc 1 keel validate
assert_contains "$WORK/last.out" "keel.yaml:5:30"
assert_contains "$WORK/last.out" "agent.health_port 7300 is the agent API's own port"

step "apply opens the health port on the host's address"
write_stack "{ health_port: 7301 }"
expect_ok keel apply --auto-approve
wait_until 20 answers 7301 200 || fail "http://$ADDR:7301/ answers $(status_of 7301), expected 200"
curl -s --max-time 2 "http://$ADDR:7301/" >"$WORK/body.out" || true
assert_contains "$WORK/body.out" "passing"
closed 7300 || fail "the agent's API answers on $ADDR:7300; it must stay on the host's 127.0.0.1"
curl -s -o /dev/null -w '%{http_code}' --max-time 2 -I "http://$ADDR:7301/healthz" >"$WORK/head.out" || true
assert_contains "$WORK/head.out" "200"

step "a failing check makes it 503"
touch "$BROKEN"
wait_until 15 answers 7301 503 || fail "with the check failing, it answers $(status_of 7301), expected 503"
rm -f "$BROKEN"
wait_until 15 answers 7301 200 || fail "with the check passing again, it answers $(status_of 7301), expected 200"

step "a new health_port is an update in place that moves it"
write_stack "{ health_port: 7302 }"
keel_json plan >"$WORK/plan.json"
jq -e '.changes[] | select(.address == "servers.a") | .action == "update"' "$WORK/plan.json" >/dev/null ||
  { show "$WORK/plan.json"; fail "the plan does not update servers.a in place"; }
expect_ok keel apply --auto-approve
wait_until 20 answers 7302 200 || fail "http://$ADDR:7302/ answers $(status_of 7302), expected 200"
closed 7301 || fail "the old health port 7301 still answers $(status_of 7301)"

step "removing it closes it; the agent stays"
write_stack "true"
expect_ok keel apply --auto-approve
closed 7302 || fail "the health port 7302 still answers $(status_of 7302) after it was removed"
expect_ok keel health

#!/usr/bin/env bash
# Health: local servers run keel-agent with the stack's checks; `keel health`
# asks them all (table, --json, Nagios exit codes); a changed check reaches
# the running agent without a restart; the agent's API is TLS with its own CA
# and a bearer token; a dead agent is drift that apply repairs; destroy stops
# the agents.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

[[ -x $KEEL_BUILD_DIR/keel-agent ]] || fail "keel-agent is not built in $KEEL_BUILD_DIR"
CHECK_TCP=/usr/lib/nagios/plugins/check_tcp
CHECK_DUMMY=/usr/lib/nagios/plugins/check_dummy
[[ -x $CHECK_TCP && -x $CHECK_DUMMY ]] || fail "monitoring-plugins-basic is not installed ($CHECK_TCP)"
command -v python3 >/dev/null || fail "python3 is needed for a port to check"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_web PORT: a plain HTTP server on 127.0.0.1:PORT for the checks to look at.
start_web() {
  mkdir -p "$WORK/www"
  python3 -m http.server --bind 127.0.0.1 --directory "$WORK/www" "$1" >"$WORK/www-$1.log" 2>&1 &
  bg_started
  WEB_PID=$!
  wait_until 10 port_open "$1" || { show "$WORK/www-$1.log"; fail "python3 http.server did not listen on $1"; }
}

# health_is CODE: `keel health` exits CODE (output in $WORK/last.out).
health_is() {
  local rc
  run_rc rc keel health
  [[ $rc == "$1" ]]
}

# agent_pid ADDR_DIR: the pid recorded in a host directory.
agent_pid() { head -n1 "$STACK/.keel/local/servers/$1/agent.pid"; }

WEB_PORT=$(free_port)
start_web "$WEB_PORT"

new_stack STACK health
cd "$STACK"
write_stack() {
  cat >keel.yaml <<YAML
keel: 1
project: e2e-health
servers:
  web:
    count: 2
checks:
  web-tcp:
    on: servers.web
    tcp: "127.0.0.1:$1"
    interval: 1s
  nagios-tcp:
    on: servers.web
    exec: ["$CHECK_TCP", "-H", "127.0.0.1", "-p", "$1"]
    interval: 1s
$2
YAML
}
write_stack "$WEB_PORT" ""

step "validate accepts checks; apply makes two hosts with agents"
expect_ok keel validate
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Apply complete! Resources: 2 added"
expect_ok keel plan --detailed-exitcode  # a second plan is empty

for host in web-0 web-1; do
  dir="$STACK/.keel/local/servers/$host"
  [[ -s $dir/agent.pid ]] || fail "no agent.pid in $dir"
  pid=$(agent_pid "$host")
  pid_alive "$pid" || { show "$dir/agent.log"; fail "the agent of $host (pid $pid) is not running"; }
  grep -qa keel-agent "/proc/$pid/cmdline" || fail "pid $pid of $host is not keel-agent"
  [[ $(stat -c %a "$dir") == 700 ]] || fail "$dir is not 0700"
  for secret in agent.token agent-key.pem agent.yaml secrets.json; do
    [[ $(stat -c %a "$dir/$secret") == 600 ]] || fail "$dir/$secret is not 0600"
  done
done
WEB0_PID=$(agent_pid web-0)
WEB1_PID=$(agent_pid web-1)

step "keel health: every check passing, exit 0"
wait_until 30 health_is 0 || { show "$WORK/last.out"; fail "keel health did not reach exit 0 (all passing)"; }
cp "$WORK/last.out" "$WORK/health-ok.out"
for text in HOST CHECK STATUS AGE OUTPUT "servers.web[0]" "servers.web[1]" web-tcp nagios-tcp passing "Status: PASSING"; do
  assert_contains "$WORK/health-ok.out" "$text"
done
assert_contains "$WORK/health-ok.out" "TCP OK" "the Nagios plugin's own output is not shown"

step "keel health --json"
rc=0
keel_json health >"$WORK/health.json" 2>"$WORK/health.err" || rc=$?
[[ $rc == 0 ]] || { show "$WORK/health.json"; show "$WORK/health.err"; fail "keel health --json exited $rc"; }
python3 -m json.tool "$WORK/health.json" >/dev/null || { show "$WORK/health.json"; fail "keel health --json is not JSON"; }
[[ $(json_get "$WORK/health.json" 'd["status"]') == passing ]] || fail "--json status is not passing"
[[ $(json_get "$WORK/health.json" 'd["exit_code"]') == 0 ]] || fail "--json exit_code is not 0"
[[ $(json_get "$WORK/health.json" 'len(d["hosts"])') == 2 ]] || fail "--json does not list 2 hosts"
[[ $(json_get "$WORK/health.json" 'd["hosts"][0]["address"]') == "servers.web[0]" ]] || fail "hosts are not in address order"
[[ $(json_get "$WORK/health.json" 'all(h["reachable"] for h in d["hosts"])') == True ]] || fail "a host is unreachable"
[[ $(json_get "$WORK/health.json" 'sorted(c["name"] for c in d["hosts"][1]["checks"])') == "['nagios-tcp', 'web-tcp']" ]] ||
  fail "servers.web[1] does not report both checks"
if command -v jq >/dev/null; then
  [[ $(jq -r '.summary.counts.passing' "$WORK/health.json") == 4 ]] || fail "jq: summary.counts.passing is not 4"
fi

step "the agent's API: TLS verified with agent_ca, token required"
keel_json state show 'servers.web[0]' >"$WORK/show.json"
AGENT_URL=$(json_get "$WORK/show.json" 'd["attributes"]["agent_url"]')
json_get "$WORK/show.json" 'd["attributes"]["agent_ca"]' >"$WORK/ca.pem"
[[ $AGENT_URL == https://127.0.0.1:* ]] || fail "agent_url is $AGENT_URL"
[[ $(json_get "$WORK/show.json" 'd["attributes"]["agent_token"]') == "(sensitive)" ]] || fail "agent_token is not masked"
[[ $(json_get "$WORK/show.json" 'd["attributes"]["agent_tls_key"]') == "(sensitive)" ]] || fail "agent_tls_key is not masked"
[[ $(json_get "$WORK/show.json" 'd["attributes"]["agent"]') == True ]] || fail "agent is not true in state"
TOKEN=$(cat "$STACK/.keel/local/servers/web-0/agent.token")
grep -q "$TOKEN" "$STACK/.keel/state.json" && fail "the agent token is in state.json in clear"
curl -sS --fail --cacert "$WORK/ca.pem" "$AGENT_URL/v1/ping" >"$WORK/ping.json" || fail "curl --cacert agent_ca $AGENT_URL/v1/ping failed"
[[ $(json_get "$WORK/ping.json" 'd["status"]') == ok ]] || fail "/v1/ping did not answer status ok"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$WORK/ca.pem" "$AGENT_URL/v1/checks")
[[ $code == 401 ]] || fail "GET /v1/checks without the token answered $code, not 401"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$WORK/ca.pem" -H "Authorization: Bearer wrong" "$AGENT_URL/v1/checks")
[[ $code == 401 ]] || fail "GET /v1/checks with a wrong token answered $code, not 401"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$WORK/ca.pem" -H "Authorization: Bearer $TOKEN" "$AGENT_URL/v1/checks")
[[ $code == 200 ]] || fail "GET /v1/checks with the token answered $code"
rc=0
curl -sS -o /dev/null "$AGENT_URL/v1/ping" 2>/dev/null || rc=$?
[[ $rc == 60 ]] || fail "curl without agent_ca did not fail certificate verification (exit $rc, want 60)"

step "a failing check: exit 2 (critical)"
kill "$WEB_PID"
wait_until 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$WEB_PORT) 2>/dev/null" || fail "the web server did not stop"
wait_until 30 health_is 2 || { show "$WORK/last.out"; fail "keel health did not exit 2 once the port closed"; }
assert_contains "$WORK/last.out" "critical"
assert_contains "$WORK/last.out" "Status: CRITICAL"
rc=0
keel_json health >"$WORK/critical.json" 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "keel health --json exited $rc, not 2"
[[ $(json_get "$WORK/critical.json" 'd["status"]') == critical ]] || fail "--json status is not critical"

step "change a check and add one: the running agents take them, no restart"
WEB_PORT2=$(free_port)
start_web "$WEB_PORT2"
write_stack "$WEB_PORT2" "  dummy:
    on: servers.web
    exec: [\"$CHECK_DUMMY\", \"0\", \"all fine\"]
    interval: 1s"
expect_rc 2 keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "update in place"
assert_contains "$WORK/last.out" "checks"
expect_ok keel apply --auto-approve
expect_ok keel plan --detailed-exitcode
[[ $(agent_pid web-0) == "$WEB0_PID" && $(agent_pid web-1) == "$WEB1_PID" ]] || fail "the agents were restarted to change checks"
pid_alive "$WEB0_PID" && pid_alive "$WEB1_PID" || fail "an agent died on reconfiguration"
wait_until 30 health_is 0 || { show "$WORK/last.out"; fail "keel health did not pass again after the check moved to the new port"; }
assert_contains "$WORK/last.out" "dummy"
assert_contains "$WORK/last.out" "all fine"
grep -q "$WEB_PORT2" "$STACK/.keel/local/servers/web-1/agent.yaml" || fail "agent.yaml of web-1 does not name the new port"

step "an agent killed behind keel's back: drift, unknown, and apply brings it back"
kill -9 "$WEB1_PID"
wait_until 10 bash -c "! ps -o stat= -p $WEB1_PID | grep -qv Z" || fail "agent $WEB1_PID did not die"
expect_rc 3 keel health
assert_contains "$WORK/last.out" "agent unreachable"
expect_rc 2 keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "servers.web[1]"
assert_contains "$WORK/last.out" "agent"
expect_ok keel apply --auto-approve
NEW_PID=$(agent_pid web-1)
[[ $NEW_PID != "$WEB1_PID" ]] && pid_alive "$NEW_PID" || fail "apply did not start the agent of web-1 again"
expect_ok keel plan --detailed-exitcode
wait_until 30 health_is 0 || { show "$WORK/last.out"; fail "keel health did not pass after the agent came back"; }

step "--target limits health to some servers"
expect_ok keel health --target 'servers.web[0]'
assert_contains "$WORK/last.out" "servers.web[0]"
assert_not_contains "$WORK/last.out" "servers.web[1]"

step "destroy stops the agents"
AGENT_PIDS=("$(agent_pid web-0)" "$(agent_pid web-1)")
expect_ok keel destroy --auto-approve
for pid in "${AGENT_PIDS[@]}"; do
  wait_until 10 bash -c "! ps -o stat= -p $pid | grep -qv Z" || fail "agent $pid still runs after destroy"
done
[[ ! -d $STACK/.keel/local/servers/web-0 ]] || fail "the host directory of web-0 is still there"

step "no agents in state: exit 3"
expect_rc 3 keel health
assert_contains "$WORK/last.out" "No servers with an agent"

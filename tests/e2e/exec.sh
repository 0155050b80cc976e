#!/usr/bin/env bash
# keel exec: three real sshd hosts (tests/support/start-ssh-hosts.sh) as
# `ssh` provider servers; a command run on all of them with prefixed lines,
# stderr apart, --group, --json, exit statuses in the summary, --timeout;
# a host that is down and one whose host key changed are reported by name
# while the others still run; bad selectors and a missing command refused.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

command -v jq >/dev/null || fail "jq is needed to read keel exec --json"

STACK=""

step "three sshd hosts"
start_ssh_hosts 3
read -r P1 P2 P3 <<<"$SSH_HOSTS_PORTS"
[[ -n $P1 && -n $P2 && -n $P3 ]] || fail "hosts.env has no three ports: $SSH_HOSTS_PORTS"

new_stack STACK exec
cd "$STACK"
server() { echo "  $1: { provider: ssh, host: 127.0.0.1, port: $2, user: $SSH_HOSTS_USER, key: $SSH_HOSTS_KEY, known_hosts: $SSH_HOSTS_KNOWN_HOSTS, agent: false }"; }
{
  echo "keel: 1"
  echo "project: exectest"
  echo "servers:"
  server h1 "$P1"
  server h2 "$P2"
  server h3 "$P3"
} >keel.yaml

step "apply records the three servers"
expect_ok keel apply --auto-approve
run_rc rc keel plan --detailed-exitcode
[[ $rc == 0 ]] || { show "$WORK/last.out"; soft_fail "a second plan after apply is not empty (exit $rc)"; }

# exec_rc WANT NAME ARGS...: `keel exec ARGS` with stdout in $WORK/NAME.out
# and stderr in $WORK/NAME.err; fails unless it exits WANT.
exec_rc() {
  local want=$1 name=$2 rc=0
  shift 2
  keel exec "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
  if [[ $rc != "$want" ]]; then
    show "$WORK/$name.out"
    show "$WORK/$name.err"
    fail "\`keel exec $*\` exited $rc, expected $want (stdout, stderr above)"
  fi
}

step "keel exec servers -- echo hi: one prefixed line per host, exit 0"
exec_rc 0 hi servers -- echo hi
for h in h1 h2 h3; do assert_contains "$WORK/hi.out" "servers.$h | hi"; done
[[ $(grep -cE '^servers\.h[123] \| hi$' "$WORK/hi.out") == 3 ]] || { show "$WORK/hi.out"; fail "not exactly 3 prefixed lines"; }
assert_contains "$WORK/hi.out" "exit 0: 3 hosts: servers.h1, servers.h2, servers.h3"
assert_contains "$WORK/hi.out" "3 ok, 0 failed, 0 unreachable (3 hosts) in "
[[ ! -s $WORK/hi.err ]] || { show "$WORK/hi.err"; fail "stderr is not empty"; }

step "all, several selectors; words after -- joined, flags there are the command's"
exec_rc 0 all all -- true
assert_contains "$WORK/all.out" "exit 0: 3 hosts"
exec_rc 0 two servers.h3 servers.h1 -- echo a   b --json
grep -qxF "servers.h1 | a b --json" "$WORK/two.out" || { show "$WORK/two.out"; fail "the words after -- were not joined into one command"; }
assert_contains "$WORK/two.out" "exit 0: 2 hosts: servers.h1, servers.h3"
assert_not_contains "$WORK/two.out" "servers.h2"
# shellcheck disable=SC2016  # expanded by the host's shell
exec_rc 0 shell servers.h2 -- 'x=6; echo "$((x * 7))" | tr 4 X'
assert_contains "$WORK/shell.out" "servers.h2 | X2"

step "the host's stderr goes to stderr, prefixed the same way; a last line without newline is printed"
exec_rc 0 streams servers.h1 -- 'echo out; echo err >&2; printf tail'
assert_contains "$WORK/streams.out" "servers.h1 | out"
assert_contains "$WORK/streams.out" "servers.h1 | tail"
assert_contains "$WORK/streams.err" "servers.h1 | err"
assert_not_contains "$WORK/streams.out" "err"

step "a non-zero exit status: exit 1, the status and host in the summary"
exec_rc 1 exit3 servers.h2 -- 'exit 3'
assert_contains "$WORK/exit3.out" "exit 3: 1 host: servers.h2"
assert_contains "$WORK/exit3.out" "0 ok, 1 failed, 0 unreachable (1 host)"
# The host whose sshd port is P2 exits 7 ($SSH_CONNECTION ends in the server's port).
# shellcheck disable=SC2016  # expanded by the host's shell
exec_rc 1 mixed servers -- 'test "$SSH_CONNECTION" != "${SSH_CONNECTION%'" $P2"'}" && exit 7 || exit 0'
assert_contains "$WORK/mixed.out" "exit 0: 2 hosts: servers.h1, servers.h3"
assert_contains "$WORK/mixed.out" "exit 7: 1 host: servers.h2"

step "--json"
rc=0
keel exec servers --json -- 'echo hi; exit 0' >"$WORK/hi.json" 2>"$WORK/hi-json.err" || rc=$?
[[ $rc == 0 ]] || { show "$WORK/hi.json"; show "$WORK/hi-json.err"; fail "keel exec --json exited $rc"; }
jq -e . "$WORK/hi.json" >/dev/null || { show "$WORK/hi.json"; fail "keel exec --json is not one JSON document"; }
jq_is() {
  local got
  got=$(jq -c "$1" "$WORK/$3")
  [[ $got == "$2" ]] || { show "$WORK/$3"; fail "jq '$1' is $got, expected $2"; }
}
jq_is .command '"echo hi; exit 0"' hi.json
jq_is '.hosts | length' 3 hi.json
jq_is '[.hosts[].address]' '["servers.h1","servers.h2","servers.h3"]' hi.json
jq_is '.hosts[0].host' "\"root@127.0.0.1:$P1\"" hi.json
jq_is '[.hosts[].exit_status]' '[0,0,0]' hi.json
jq_is '[.hosts[].output]' '["hi\n","hi\n","hi\n"]' hi.json
jq_is '[.hosts[].error]' '[null,null,null]' hi.json
jq_is '[.hosts[].duration_ms | type]' '["number","number","number"]' hi.json
jq_is '.summary | [.ok, .failed, .unreachable]' '[3,0,0]' hi.json
jq_is .exit_code 0 hi.json
rc=0
keel --json exec servers.h3 -- 'echo out; echo err >&2; exit 4' >"$WORK/fail.json" 2>/dev/null || rc=$?
[[ $rc == 1 ]] || fail "keel --json exec of 'exit 4' exited $rc, expected 1"
jq_is '.hosts[0].exit_status' 4 fail.json
jq_is '.hosts[0].output | split("\n") | sort' '["","err","out"]' fail.json
jq_is '.summary | [.ok, .failed, .unreachable]' '[0,1,0]' fail.json

step "--group: each host's output together under a header"
exec_rc 0 group servers --group --forks 2 -- 'echo one; sleep 0.2; echo two'
for h in h1 h2 h3; do
  grep -A2 -E "^--- servers\.$h \(root@127\.0\.0\.1:[0-9]+\): exit 0 in " "$WORK/group.out" | tr '\n' '|' |
    grep -qE '^[^|]*\|one\|two\|$' || { show "$WORK/group.out"; fail "servers.$h's output is not together under its header"; }
done
assert_not_contains "$WORK/group.out" " | one"
assert_contains "$WORK/group.out" "exit 0: 3 hosts"

step "--timeout: a command that runs too long does not finish, and keel does not wait for it"
start=$SECONDS
exec_rc 1 timeout servers.h1 --timeout 1 -- 'sleep 60'
((SECONDS - start < 30)) || fail "--timeout 1 took $((SECONDS - start))s"
assert_contains "$WORK/timeout.out" "did not finish: 1 host"
assert_contains "$WORK/timeout.out" "  servers.h1: "

step "bad input is refused"
exec_rc 1 nosel servers.nope -- true
assert_contains "$WORK/nosel.err" "servers.nope"
exec_rc 1 nocmd servers
assert_contains "$WORK/nocmd.err" "no command"
exec_rc 1 forks0 servers --forks 0 -- true
assert_contains "$WORK/forks0.err" "--forks"
mkdir -p "$WORK/empty"
(cd "$WORK/empty" && exec_rc 1 nostate all -- true)
assert_contains "$WORK/nostate.err" "no state"

step "a host down and a host with a changed key are reported by name; the other still runs"
ssh_host_ctl stop 1
ssh_host_ctl rekey 3
start=$SECONDS
exec_rc 1 faults servers -- echo hi
((SECONDS - start < 60)) || fail "keel exec with a host down took $((SECONDS - start))s"
assert_contains "$WORK/faults.out" "servers.h2 | hi"
assert_contains "$WORK/faults.out" "exit 0: 1 host: servers.h2"
assert_contains "$WORK/faults.out" "unreachable: 2 hosts"
assert_contains "$WORK/faults.out" "1 ok, 0 failed, 2 unreachable (3 hosts)"
grep -E "^  servers\.h1: .*$P1" "$WORK/faults.out" >/dev/null ||
  { show "$WORK/faults.out"; fail "the host that is down is not named with its address"; }
grep -iE "^  servers\.h3: .*(host key).*(chang|differ|mismatch)|^  servers\.h3: .*(chang|differ|mismatch).*host key" "$WORK/faults.out" >/dev/null ||
  { show "$WORK/faults.out"; fail "the host with a changed key is not reported as such"; }
assert_contains "$WORK/faults.err" "servers.h1 ! unreachable: "
assert_contains "$WORK/faults.err" "servers.h3 ! unreachable: "
rc=0
keel exec servers --json -- echo hi >"$WORK/faults.json" 2>/dev/null || rc=$?
[[ $rc == 1 ]] || { show "$WORK/faults.json"; fail "keel exec --json with hosts down exited $rc, expected 1"; }
jq_is '[.hosts[].exit_status]' '[null,0,null]' faults.json
jq_is '[.hosts[].outcome]' '["unreachable","exited","unreachable"]' faults.json
jq_is '[.hosts[].error | type]' '["string","null","string"]' faults.json
jq_is '.summary | [.ok, .failed, .unreachable]' '[1,0,2]' faults.json

step "the hosts back (started; the new key accepted): every host runs again"
ssh_host_ctl start 1
grep -vF "[127.0.0.1]:$P3 " "$SSH_HOSTS_KNOWN_HOSTS" >"$WORK/known_hosts.new"
echo "[127.0.0.1]:$P3 $(cut -d' ' -f1,2 "$HOSTS/h3/ssh_host_ed25519_key.pub")" >>"$WORK/known_hosts.new"
cat "$WORK/known_hosts.new" >"$SSH_HOSTS_KNOWN_HOSTS"
exec_rc 0 back servers -- echo hi
assert_contains "$WORK/back.out" "3 ok, 0 failed, 0 unreachable (3 hosts)"

step "destroy forgets the servers"
expect_ok keel destroy --auto-approve

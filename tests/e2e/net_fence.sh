#!/usr/bin/env bash
# KEEL_ALLOWED_NETWORKS (docs/security.md#where-keel-connects-the-network-fence):
# an SSH host and a plugin's API endpoint outside the listed networks are
# refused before any connection is opened (a listener on the address counts
# none), the error names the address and the variable, a value that does
# not parse refuses everything and quotes the bad entry. (A name that does
# not resolve is refused too; not tested here: looking one up would ask
# the machine's DNS server.)
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup
command -v python3 >/dev/null || fail "python3 is needed (the listener that counts connections)"

# A TCP listener on 127.0.0.1 that appends a line to $WORK/connections for
# every connection it accepts, for 120 s at most.
: >"$WORK/connections"
python3 - "$WORK/port" "$WORK/connections" <<'PY' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
s.settimeout(0.5)
end = time.time() + 120
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    open(sys.argv[2], "a").write("connection\n")
    c.close()
PY
E2E_BG_PIDS+=($!)
wait_until 10 test -s "$WORK/port" || fail "the listener did not start"
PORT=$(cat "$WORK/port")
ssh-keygen -q -t ed25519 -N '' -f "$WORK/id_test"

# expect_fail CMD...: CMD (output in $WORK/last.out) must exit non-zero.
expect_fail() {
  local rc
  run_rc rc "$@"
  [[ $rc != 0 ]] || { show "$WORK/last.out"; fail "\`$*\` succeeded, expected a failure"; }
}

new_stack STACK fence
cd "$STACK"
cat >keel.yaml <<YAML
keel: 1
project: fence
servers:
  a: { provider: ssh, host: 127.0.0.1, port: $PORT, user: root, key: $WORK/id_test, known_hosts: $WORK/known_hosts }
YAML

step "an SSH host outside the fence is refused, and nothing connects"
expect_fail env KEEL_ALLOWED_NETWORKS=127.0.0.2/32 "$KEEL" apply --auto-approve
assert_contains "$WORK/last.out" "127.0.0.1 is outside the networks KEEL_ALLOWED_NETWORKS allows"
[[ ! -s $WORK/connections ]] || fail "keel connected to an address outside the fence"

step "a fence that does not parse refuses everything and quotes the entry"
expect_fail env KEEL_ALLOWED_NETWORKS="127.0.0.0/8, 10.0.0.0/33" "$KEEL" apply --auto-approve
assert_contains "$WORK/last.out" "'10.0.0.0/33' is not an address or ADDRESS/PREFIX"
[[ ! -s $WORK/connections ]] || fail "keel connected although the fence did not parse"

step "inside the fence, keel does connect"
expect_fail env KEEL_ALLOWED_NETWORKS="127.0.0.0/8" "$KEEL" apply --auto-approve
assert_not_contains "$WORK/last.out" "KEEL_ALLOWED_NETWORKS" "keel refused an address inside the fence"
[[ -s $WORK/connections ]] || fail "keel did not connect to an address inside the fence"
: >"$WORK/connections"

step "a plugin's HTTP request to an endpoint outside the fence is refused before it connects"
new_stack DO_STACK do
cd "$DO_STACK"
cat >keel.yaml <<YAML
keel: 1
project: fence-do
providers:
  do: { type: digitalocean, endpoint: "http://127.0.0.1:$PORT" }
servers:
  web: { provider: do, image: debian-12-x64, region: fra1, size: s-1vcpu-1gb }
YAML
expect_fail env KEEL_ALLOWED_NETWORKS=127.0.0.2/32 DIGITALOCEAN_TOKEN=fence-test-token "$KEEL" apply --auto-approve
assert_contains "$WORK/last.out" "127.0.0.1 is outside the networks KEEL_ALLOWED_NETWORKS allows"
[[ ! -s $WORK/connections ]] || fail "the plugin connected to an address outside the fence"

# Nothing was made: the cleanup's destroy has nothing to reach.
rm -rf "$STACK/.keel" "$DO_STACK/.keel"

#!/usr/bin/env bash
# KEEL_LOG=debug and KEEL_LOG_FILE: every provider call keel makes is logged
# (operation, kind, address, id, duration, outcome) and so is every HTTP
# exchange of the DigitalOcean plugin (method, path, status, time), into a
# file created 0600, and the token appears nowhere in it: not in a header,
# not in a body, not in a setting.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup
cloudsim_tenant
sim PUT /_sim/config '{"provision_seconds": 0.2}' >/dev/null

new_stack STACK stack
cd "$STACK"
cat >keel.yaml <<YAML
keel: 1
project: e2e-do-logging
providers:
  do: { type: digitalocean, endpoint: "\${env.DO_ENDPOINT}" }
servers:
  web: { provider: do, image: debian-12-x64, region: fra1, size: s-1vcpu-1gb }
YAML

LOG="$WORK/logs/keel.log"
mkdir -p "$WORK/logs"
step "apply at KEEL_LOG=debug with KEEL_LOG_FILE"
expect_ok env KEEL_LOG=debug KEEL_LOG_FILE="$LOG" "$KEEL" apply --auto-approve
assert_not_contains "$WORK/last.out" "provider call" "the log went to stderr, not to KEEL_LOG_FILE"
[[ -f $LOG ]] || fail "KEEL_LOG_FILE was not written"
[[ $(stat -c %a "$LOG") == 600 ]] || fail "the log file is mode $(stat -c %a "$LOG"), not 600"
assert_contains "$LOG" "provider call provider=digitalocean op=configure"
assert_contains "$LOG" "op=create kind=servers address=servers.web"
assert_contains "$LOG" "outcome=ok"
assert_contains "$LOG" "duration_ms="
assert_contains "$LOG" "DigitalOcean: HTTP GET /v2/account -> 200"
assert_contains "$LOG" "DigitalOcean: HTTP POST /v2/droplets -> 202"
assert_not_contains "$LOG" "$DIGITALOCEAN_TOKEN" "the token is in the debug log"
assert_not_contains "$LOG" "Bearer" "an Authorization header is in the debug log"

step "a refused read is logged with its outcome, and a second run appends"
lines=$(wc -l <"$LOG")
expect_ok env KEEL_LOG=debug KEEL_LOG_FILE="$LOG" "$KEEL" plan
(( $(wc -l <"$LOG") > lines )) || fail "the second run did not append to the log"
assert_contains "$LOG" "op=read kind=servers"
assert_not_contains "$LOG" "$DIGITALOCEAN_TOKEN" "the token is in the debug log"

step "KEEL_LOG_FILE through a symbolic link is refused, the log stays on stderr"
ln -s "$WORK/logs/elsewhere" "$WORK/logs/link.log"
expect_ok env KEEL_LOG=debug KEEL_LOG_FILE="$WORK/logs/link.log" "$KEEL" plan
assert_contains "$WORK/last.out" "KEEL_LOG_FILE"
assert_contains "$WORK/last.out" "provider call"
[[ ! -e $WORK/logs/elsewhere ]] || fail "keel wrote its log through a symbolic link"

step "at the default level, nothing of this"
expect_ok keel plan
assert_not_contains "$WORK/last.out" "provider call"

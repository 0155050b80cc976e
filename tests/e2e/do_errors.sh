#!/usr/bin/env bash
# DigitalOcean refusing things: an invalid size, region or version is
# reported with the stack's line and the API's own message (and its request
# id), nothing half-made is left behind, and the token never shows: not in
# output, not in debug logs, not in state.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup
cloudsim_tenant
sim PUT /_sim/config '{"provision_seconds": 0.2}' >/dev/null

new_stack STACK stack
cd "$STACK"
write_stack() {  # write_stack DROPLET_SIZE [DB_REGION DB_VERSION]
  cat >keel.yaml <<YAML
keel: 1
project: e2e-do-errors
providers:
  do: { type: digitalocean, endpoint: "\${env.DO_ENDPOINT}" }
servers:
  web:
    provider: do
    image: debian-12-x64
    region: fra1
    size: $1
YAML
  [[ $# == 3 ]] || return 0
  cat >>keel.yaml <<YAML
databases:
  main:
    provider: do
    engine: postgres
    size: db-s-1vcpu-1gb
    region: $2
    version: "$3"
YAML
}

step "an invalid droplet size names the line and the API's message"
write_stack s-99vcpu-1tb
expect_rc 1 env KEEL_LOG=debug "$KEEL" apply --auto-approve
assert_contains "$WORK/last.out" "keel.yaml:10:5"
assert_contains "$WORK/last.out" "invalid size"
assert_contains "$WORK/last.out" "request"
assert_not_contains "$WORK/last.out" "$DIGITALOCEAN_TOKEN" "the token is in keel's output or logs"
[[ $(sim_count droplets) == 0 ]] || fail "a refused droplet exists"
expect_ok keel state list
assert_not_contains "$WORK/last.out" "servers.web" "a refused droplet is in state"

step "an invalid region and version name their lines"
write_stack s-1vcpu-1gb mars1 16
expect_rc 4 keel apply --auto-approve  # the droplet is made, the database refused
assert_contains "$WORK/last.out" "keel.yaml:16:5"
assert_contains "$WORK/last.out" "region"
write_stack s-1vcpu-1gb fra1 4
expect_rc 1 keel apply --auto-approve
assert_contains "$WORK/last.out" "keel.yaml:17:5"
assert_contains "$WORK/last.out" "version"
[[ $(sim_count databases) == 0 ]] || fail "a refused database exists"

step "a valid stack applies; the token is nowhere"
write_stack s-1vcpu-1gb fra1 16
expect_ok env KEEL_LOG=debug "$KEEL" apply --auto-approve
assert_not_contains "$WORK/last.out" "$DIGITALOCEAN_TOKEN" "the token is in keel's output or logs"
if grep -rqF -- "$DIGITALOCEAN_TOKEN" .keel; then fail "the token is in .keel"; fi

step "a refused token is said so, without printing it"
good=$DIGITALOCEAN_TOKEN
DIGITALOCEAN_TOKEN=invalid expect_rc 1 keel plan
assert_contains "$WORK/last.out" "refused the token"
step "no token at all"
expect_rc 1 env -u DIGITALOCEAN_TOKEN "$KEEL" plan
assert_contains "$WORK/last.out" "DIGITALOCEAN_TOKEN"
DIGITALOCEAN_TOKEN=$good

#!/usr/bin/env bash
# DigitalOcean under faults: with 20% of requests failing (429, 500, 503,
# connection resets, and responses lost after the resource was made),
# `keel apply` still converges with no duplicate, plan then has nothing to
# do, and destroy leaves nothing.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup
cloudsim_tenant
sim PUT /_sim/config '{"provision_seconds": 0.3, "fault_rate": 0.2}' >/dev/null

new_stack STACK stack
cd "$STACK"
cat >keel.yaml <<'YAML'
keel: 1
project: e2e-do-faults
providers:
  do: { type: digitalocean, endpoint: "${env.DO_ENDPOINT}" }
servers:
  web: { provider: do, count: 10, size: s-1vcpu-1gb, image: debian-12-x64, region: fra1 }
databases:
  main: { provider: do, engine: postgres, size: db-s-1vcpu-1gb, region: fra1 }
load_balancers:
  edge:
    provider: do
    region: fra1
    droplet_ids: ${servers.web[*].id}
    rules: [{ entry: "http:80", target: "http:8080" }]
firewalls:
  web:
    provider: do
    droplet_ids: ${servers.web[*].id}
    inbound: [{ protocol: tcp, ports: "22", from: [0.0.0.0/0] }]
YAML
faults() { sim PUT /_sim/config "{\"fault_rate\": $1}" >/dev/null; }
# The checks read the API directly, with the faults off.
counts() { echo "$(sim_count droplets) $(sim_count databases) $(sim_count load_balancers) $(sim_count firewalls)"; }
duplicate_names() {
  { sim GET "/v2/droplets?per_page=200" | jq -r '.droplets[].name'
    sim GET "/v2/load_balancers?per_page=200" | jq -r '.load_balancers[].name'
    sim GET "/v2/firewalls?per_page=200" | jq -r '.firewalls[].name'
    sim GET "/v2/databases" | jq -r '.databases[].name'; } | sort | uniq -d
}

step "apply with 20% of requests failing"
expect_ok keel apply --auto-approve
faults 0
[[ $(counts) == "10 1 1 1" ]] || fail "the simulator holds $(counts) (droplets databases lbs firewalls), expected 10 1 1 1"
[[ -z $(duplicate_names) ]] || fail "duplicates: $(duplicate_names)"
injected=$(sim GET /_sim/stats | jq '[.faults[]] | add')
echo "    $injected faults injected"
[[ $injected -gt 0 ]] || fail "no fault was injected"

step "plan (with refresh, faulty again) has nothing to do"
faults 0.2
expect_rc 0 keel plan --detailed-exitcode

step "destroy with 20% of requests failing"
expect_ok keel destroy --auto-approve
faults 0
[[ $(counts) == "0 0 0 0" ]] || fail "after destroy the simulator holds $(counts)"

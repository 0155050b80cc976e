#!/usr/bin/env bash
# Safety on DigitalOcean (issue 13), through the simulator and Prism: the
# README's stack (three droplets, a managed PostgreSQL, a load balancer and
# a firewall over the droplets). Removing the firewall must delete the
# firewall and nothing else: it used to plan deleting all three droplets it
# referred to. The same for the load balancer.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup
cloudsim_tenant
sim PUT /_sim/config '{"provision_seconds": 0.3}' >/dev/null

new_stack STACK stack
cd "$STACK"
cat >keel.yaml <<'YAML'
keel: 1
project: e2e-do-safety
providers:
  do: { type: digitalocean, endpoint: "${env.DO_ENDPOINT}" }
servers:
  web: { provider: do, count: 3, size: s-1vcpu-1gb, image: debian-12-x64, region: fra1 }
databases:
  main: { provider: do, engine: postgres, version: "16", size: db-s-1vcpu-1gb, region: fra1 }
load_balancers:
  edge: { provider: do, region: fra1, droplet_ids: "${servers.web[*].id}",
          rules: [{ entry: "http:80", target: "http:8080" }],
          health_check: { protocol: http, port: 8080, path: /healthz } }
firewalls:
  web: { provider: do, droplet_ids: "${servers.web[*].id}",
         inbound: [{ protocol: tcp, ports: "22", from: [0.0.0.0/0] }] }
YAML
counts() { echo "$(sim_count droplets) $(sim_count databases) $(sim_count load_balancers) $(sim_count firewalls)"; }

step "apply the README's stack"
expect_ok keel apply --auto-approve
[[ $(counts) == "3 1 1 1" ]] || fail "the simulator holds $(counts) (droplets databases lbs firewalls), expected 3 1 1 1"

step "removing the firewall deletes the firewall only"
sed -i '/^firewalls:/,$d' keel.yaml
expect_rc 2 keel plan --detailed-exitcode
cp "$WORK/last.out" "$WORK/fw.plan"
assert_contains "$WORK/fw.plan" "- firewalls.web (delete)"
assert_not_contains "$WORK/fw.plan" "servers.web" "removing the firewall plans a change to the droplets"
assert_contains "$WORK/fw.plan" "Plan: 0 to add, 0 to change, 1 to destroy."
expect_ok keel apply --auto-approve
[[ $(counts) == "3 1 1 0" ]] || fail "after removing the firewall the simulator holds $(counts), expected 3 1 1 0"

step "removing the load balancer deletes the load balancer only"
sed -i '/^load_balancers:/,$d' keel.yaml
keel_json plan >"$WORK/lb.json"
[[ $(jq -r '[.changes[] | select(.action != "no-op") | "\(.action) \(.address)"] | join(",")' "$WORK/lb.json") == "delete load_balancers.edge" ]] ||
  { show "$WORK/lb.json"; fail "removing the load balancer plans more than its delete"; }
expect_ok keel apply --auto-approve
[[ $(counts) == "3 1 0 0" ]] || fail "after removing the load balancer the simulator holds $(counts), expected 3 1 0 0"
expect_ok keel plan --detailed-exitcode

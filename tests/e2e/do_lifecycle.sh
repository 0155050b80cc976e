#!/usr/bin/env bash
# DigitalOcean through the simulator and Prism, as a user runs it: a stack
# with every kind (droplets, a managed database and cache, a load balancer
# and a firewall over the droplets, a volume on one), then a no-op plan, an
# in-place update, a replacement, drift, and destroy.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup
cloudsim_tenant
sim PUT /_sim/config '{"provision_seconds": 0.3}' >/dev/null

new_stack STACK stack
cd "$STACK"
write_stack() {  # write_stack WEB_SIZE CACHE_ENGINE
  cat >keel.yaml <<YAML
keel: 1
project: e2e-do
providers:
  do: { type: digitalocean, endpoint: "\${env.DO_ENDPOINT}" }
servers:
  web: { provider: do, count: 3, size: $1, image: debian-12-x64, region: fra1, tags: [web] }
databases:
  main: { provider: do, engine: postgres, version: "16", size: db-s-1vcpu-1gb, region: fra1 }
caches:
  sessions: { provider: do, engine: $2, size: db-s-1vcpu-1gb, region: fra1 }
load_balancers:
  edge:
    provider: do
    region: fra1
    droplet_ids: \${servers.web[*].id}
    rules: [{ entry: "http:80", target: "http:8080" }]
    health_check: { protocol: http, port: 8080, path: /healthz }
firewalls:
  web:
    provider: do
    droplet_ids: \${servers.web[*].id}
    inbound: [{ protocol: tcp, ports: "22", from: [0.0.0.0/0] }]
volumes:
  data: { provider: do, size: 10, region: fra1, droplet_id: "\${servers.web[0].id}" }
outputs:
  lb_ip: \${load_balancers.edge.ip}
  db_uri: \${databases.main.uri}
YAML
}
counts() { echo "$(sim_count droplets) $(sim_count databases) $(sim_count load_balancers) $(sim_count firewalls) $(sim_count volumes)"; }

step "apply creates every kind"
write_stack s-1vcpu-1gb valkey
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 8 added, 0 changed, 0 destroyed."
[[ $(counts) == "3 2 1 1 1" ]] || fail "the simulator holds $(counts) (droplets databases lbs firewalls volumes), expected 3 2 1 1 1"
expect_ok keel output lb_ip
grep -qE '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' "$WORK/last.out" || { show "$WORK/last.out"; fail "lb_ip is not an address"; }
expect_ok keel output
assert_not_contains "$WORK/last.out" "postgresql://" "a sensitive output is shown in clear"

step "a second plan has nothing to do"
expect_rc 0 keel plan --detailed-exitcode

step "a new size resizes the droplets in place"
write_stack s-2vcpu-2gb valkey
expect_rc 2 keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "Plan: 0 to add, 3 to change, 0 to destroy."
expect_ok keel apply --auto-approve
for id in $(sim GET "/v2/droplets?tag_name=web" | jq -r '.droplets[].id'); do
  [[ $(sim GET "/v2/droplets/$id" | jq -r .droplet.size_slug) == s-2vcpu-2gb ]] || fail "droplet $id was not resized"
done
[[ $(sim_count droplets) == 3 ]] || fail "resizing changed the number of droplets"
expect_rc 0 keel plan --detailed-exitcode

step "a new engine replaces the cache"
old_cache=$(keel state show caches.sessions --json | jq -r .id)
write_stack s-2vcpu-2gb redis
expect_rc 2 keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "caches.sessions (replace)"
expect_ok keel apply --auto-approve
new_cache=$(keel state show caches.sessions --json | jq -r .id)
[[ $new_cache != "$old_cache" ]] || fail "the cache kept its id"
[[ $(sim_count databases) == 2 ]] || fail "the old cache is still there (or the new one missing)"

step "a droplet deleted and a database resized behind keel's back show in plan"
victim=$(keel state show 'servers.web[2]' --json | jq -r .id)
sim DELETE "/_sim/resources/droplets/$victim" >/dev/null
db=$(keel state show databases.main --json | jq -r .id)
sim PATCH "/_sim/resources/databases/$db" '{"size": "db-s-2vcpu-4gb"}' >/dev/null
expect_rc 2 keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "servers.web[2]"
assert_contains "$WORK/last.out" "databases.main"
expect_ok keel apply --auto-approve
[[ $(counts) == "3 2 1 1 1" ]] || fail "after repair the simulator holds $(counts)"
expect_rc 0 keel plan --detailed-exitcode

step "destroy leaves nothing"
expect_ok keel destroy --auto-approve
[[ $(counts) == "0 0 0 0 0" ]] || fail "after destroy the simulator holds $(counts)"

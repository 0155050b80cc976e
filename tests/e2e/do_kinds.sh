#!/usr/bin/env bash
# DigitalOcean, every kind through its whole life, as a user runs it: a stack
# of droplets, a database, a cache, a load balancer and a firewall over the
# droplets, and a volume on one. Each kind is created (a second plan has
# nothing to do), updated in place (the simulator shows the change on the
# same id), replaced through a force-new attribute (a new id, the old one
# gone, its dependents following it: the load balancer's and firewall's
# droplets, the volume's attachment), and destroyed with the rest. The
# firewall, which has no force-new attribute, is replaced with
# `keel apply --replace`.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup
cloudsim_tenant
sim PUT /_sim/config '{"provision_seconds": 0.3}' >/dev/null
T0=$SECONDS

new_stack STACK stack
cd "$STACK"

# What the stack says; each step changes some of it and calls write_stack.
WEB_IMAGE=debian-12-x64 WEB_REGION=fra1 WEB_TAGS="[web]"
DB_SIZE=db-s-1vcpu-1gb DB_NODES=1 DB_VERSION=16
CACHE_SIZE=db-s-1vcpu-1gb CACHE_REGION=fra1
LB_REGION=fra1 LB_EXTRA_RULE="" LB_HEALTH_PATH=/healthz
FW_EXTRA_RULE=""
VOL_SIZE=10 VOL_REGION=fra1 VOL_DESCRIPTION="web data"
write_stack() {
  cat >keel.yaml <<YAML
keel: 1
project: e2e-kinds
providers:
  do: { type: digitalocean, endpoint: "\${env.DO_ENDPOINT}" }
servers:
  web: { provider: do, count: 2, size: s-1vcpu-1gb, image: $WEB_IMAGE, region: $WEB_REGION, tags: $WEB_TAGS }
databases:
  main: { provider: do, engine: postgres, version: "$DB_VERSION", size: $DB_SIZE, nodes: $DB_NODES, region: fra1 }
caches:
  sessions: { provider: do, engine: valkey, size: $CACHE_SIZE, region: $CACHE_REGION }
load_balancers:
  edge:
    provider: do
    region: $LB_REGION
    droplet_ids: \${servers.web[*].id}
    rules:
      - { entry: "http:80", target: "http:8080" }
$LB_EXTRA_RULE
    health_check: { protocol: http, port: 8080, path: $LB_HEALTH_PATH }
firewalls:
  web:
    provider: do
    droplet_ids: \${servers.web[*].id}
    inbound:
      - { protocol: tcp, ports: "22", from: [0.0.0.0/0] }
$FW_EXTRA_RULE
volumes:
  data: { provider: do, size: $VOL_SIZE, region: $VOL_REGION, description: "$VOL_DESCRIPTION", droplet_id: "\${servers.web[0].id}" }
outputs:
  lb_ip: \${load_balancers.edge.ip}
  db_uri: \${databases.main.uri}
YAML
}

counts() { echo "$(sim_count droplets) $(sim_count databases) $(sim_count load_balancers) $(sim_count firewalls) $(sim_count volumes)"; }
expect_counts() {  # expect_counts "D DB LB FW V" WHEN
  [[ $(counts) == "$1" ]] || fail "$2: the simulator holds $(counts) (droplets databases lbs firewalls volumes), expected $1"
}
id_of() { keel state show "$1" --json | jq -r .id; }
# The simulator's view of one resource: sim_get COLLECTION ID JQ
sim_get() { sim GET "/v2/$1/$2" | jq -c "$3"; }
sim_gone() { ! sim GET "/v2/$1/$2" >/dev/null 2>&1; }
web_ids() { for i in 0 1; do id_of "servers.web[$i]"; done | jq -sc 'map(tonumber) | sort'; }
lb_droplets() { sim_get load_balancers "$(id_of load_balancers.edge)" '.load_balancer.droplet_ids | sort'; }
fw_droplets() { sim_get firewalls "$(id_of firewalls.web)" '.firewall.droplet_ids | sort'; }
vol_droplets() { sim_get volumes "$(id_of volumes.data)" '.volume.droplet_ids'; }
# The load balancer, the firewall and the volume point at the droplets state holds.
expect_dependents() {
  local web web0
  web=$(web_ids)
  web0=$(id_of 'servers.web[0]')
  [[ $(lb_droplets) == "$web" ]] || fail "$1: the load balancer balances $(lb_droplets), not the droplets $web"
  [[ $(fw_droplets) == "$web" ]] || fail "$1: the firewall covers $(fw_droplets), not the droplets $web"
  [[ $(vol_droplets) == "[$web0]" ]] || fail "$1: the volume is attached to $(vol_droplets), not to servers.web[0] ($web0)"
}
# plan_update N ADDR...: the plan changes N resources in place, these among them, and replaces nothing.
plan_update() {
  local n=$1
  shift
  expect_rc 2 keel plan --detailed-exitcode
  assert_contains "$WORK/last.out" "Plan: 0 to add, $n to change, 0 to destroy."
  assert_not_contains "$WORK/last.out" "(replace" "an in-place change is planned as a replacement"
  local a
  for a in "$@"; do assert_contains "$WORK/last.out" "~ $a (update in place)"; done
}
# plan_replace ADD CHANGE ADDR...: these are replaced, and ADD/CHANGE/ADD is the plan's count.
plan_replace() {
  local add=$1 change=$2
  shift 2
  expect_rc 2 keel plan --detailed-exitcode
  assert_contains "$WORK/last.out" "Plan: $add to add, $change to change, $add to destroy."
  local a
  for a in "$@"; do assert_contains "$WORK/last.out" "-/+ $a (replace)"; done
}
apply_then_noop() {
  expect_ok keel apply --auto-approve
  expect_rc 0 keel plan --detailed-exitcode
}

step "apply creates every kind; a second plan has nothing to do"
write_stack
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 7 added, 0 changed, 0 destroyed."
expect_counts "2 2 1 1 1" "after create"
expect_dependents "after create"
expect_rc 0 keel plan --detailed-exitcode

step "servers: new tags are set in place"
web0=$(id_of 'servers.web[0]') web1=$(id_of 'servers.web[1]')
WEB_TAGS="[web, blue]"
write_stack
plan_update 2 'servers.web[0]' 'servers.web[1]'
apply_then_noop
for id in "$web0" "$web1"; do
  [[ $(sim_get droplets "$id" '.droplet.tags | index("blue") != null') == true ]] ||
    fail "droplet $id lacks the tag blue: $(sim_get droplets "$id" .droplet.tags)"
done
[[ $(id_of 'servers.web[0]') == "$web0" && $(id_of 'servers.web[1]') == "$web1" ]] || fail "retagging changed a droplet's id"
expect_counts "2 2 1 1 1" "after retagging"

step "databases: a new size and node count resize the cluster in place"
db=$(id_of databases.main)
DB_SIZE=db-s-1vcpu-2gb DB_NODES=2
write_stack
plan_update 1 databases.main
apply_then_noop
[[ $(id_of databases.main) == "$db" ]] || fail "resizing the database changed its id"
[[ $(sim_get databases "$db" '[.database.size, .database.num_nodes, .database.status]') == '["db-s-1vcpu-2gb",2,"online"]' ]] ||
  fail "database $db is $(sim_get databases "$db" '[.database.size, .database.num_nodes, .database.status]'), not 2 x db-s-1vcpu-2gb online"

step "caches: a new size resizes the cache in place"
cache=$(id_of caches.sessions)
CACHE_SIZE="db-s-2vcpu-4gb"
write_stack
plan_update 1 caches.sessions
apply_then_noop
[[ $(id_of caches.sessions) == "$cache" ]] || fail "resizing the cache changed its id"
[[ $(sim_get databases "$cache" .database.size) == '"db-s-2vcpu-4gb"' ]] ||
  fail "cache $cache has size $(sim_get databases "$cache" .database.size), not db-s-2vcpu-4gb"

step "load_balancers: a new rule and health check path are set in place"
lb=$(id_of load_balancers.edge)
LB_EXTRA_RULE='      - { entry: "tcp:2222", target: "tcp:22" }'
LB_HEALTH_PATH=/ready
write_stack
plan_update 1 load_balancers.edge
apply_then_noop
[[ $(id_of load_balancers.edge) == "$lb" ]] || fail "updating the load balancer changed its id"
rules=$(sim_get load_balancers "$lb" '[.load_balancer.forwarding_rules[] | "\(.entry_protocol):\(.entry_port)>\(.target_protocol):\(.target_port)"] | sort')
[[ $rules == '["http:80>http:8080","tcp:2222>tcp:22"]' ]] || fail "load balancer $lb has the rules $rules"
[[ $(sim_get load_balancers "$lb" .load_balancer.health_check.path) == '"/ready"' ]] ||
  fail "load balancer $lb checks $(sim_get load_balancers "$lb" .load_balancer.health_check.path), not /ready"
expect_dependents "after the load balancer's update"

step "firewalls: a new inbound rule is set in place"
fw=$(id_of firewalls.web)
FW_EXTRA_RULE='      - { protocol: tcp, ports: "80", from: [0.0.0.0/0, "::/0"] }'
write_stack
plan_update 1 firewalls.web
apply_then_noop
[[ $(id_of firewalls.web) == "$fw" ]] || fail "updating the firewall changed its id"
inbound=$(sim_get firewalls "$fw" '[.firewall.inbound_rules[] | "\(.protocol):\(.ports)"] | sort')
[[ $inbound == '["tcp:22","tcp:80"]' ]] || fail "firewall $fw has the inbound rules $inbound"
expect_dependents "after the firewall's update"

step "volumes: a larger size grows the volume in place, still attached"
vol=$(id_of volumes.data)
VOL_SIZE=20
write_stack
plan_update 1 volumes.data
apply_then_noop
[[ $(id_of volumes.data) == "$vol" ]] || fail "growing the volume changed its id"
[[ $(sim_get volumes "$vol" .volume.size_gigabytes) == 20 ]] ||
  fail "volume $vol has $(sim_get volumes "$vol" .volume.size_gigabytes) GB, not 20"
expect_dependents "after growing the volume"

step "servers: a new image replaces the droplets; the load balancer, firewall and volume follow"
old_web=$(web_ids)
WEB_IMAGE=ubuntu-24-04-x64
write_stack
plan_replace 2 3 'servers.web[0]' 'servers.web[1]'
for a in load_balancers.edge firewalls.web volumes.data; do assert_contains "$WORK/last.out" "~ $a (update in place)"; done
apply_then_noop
new_web=$(web_ids)
[[ $(jq -n --argjson a "$old_web" --argjson b "$new_web" '$a - $b | length') == 2 ]] ||
  fail "the droplets kept an id: $old_web before, $new_web after"
for id in $(jq -r '.[]' <<<"$old_web"); do sim_gone droplets "$id" || fail "the old droplet $id is still there"; done
for i in 0 1; do
  id=$(id_of "servers.web[$i]")
  [[ $(sim_get droplets "$id" .droplet.image.slug) == '"ubuntu-24-04-x64"' ]] || fail "droplet $id runs $(sim_get droplets "$id" .droplet.image.slug)"
done
expect_counts "2 2 1 1 1" "after replacing the droplets"
expect_dependents "after replacing the droplets"
[[ $(id_of load_balancers.edge) == "$lb" && $(id_of firewalls.web) == "$fw" && $(id_of volumes.data) == "$vol" ]] ||
  fail "a dependent of the droplets was replaced rather than updated"

step "databases: a new version replaces the cluster"
DB_VERSION=17
write_stack
plan_replace 1 0 databases.main
apply_then_noop
new_db=$(id_of databases.main)
[[ $new_db != "$db" ]] || fail "the database kept its id"
sim_gone databases "$db" || fail "the old database $db is still there"
[[ $(sim_get databases "$new_db" '[.database.version, .database.size, .database.num_nodes]') == '["17","db-s-1vcpu-2gb",2]' ]] ||
  fail "database $new_db is $(sim_get databases "$new_db" '[.database.version, .database.size, .database.num_nodes]')"
expect_counts "2 2 1 1 1" "after replacing the database"
expect_ok keel output db_uri
grep -q "$(sim_get databases "$new_db" .database.connection.host | jq -r .)" "$WORK/last.out" ||
  { show "$WORK/last.out"; fail "the db_uri output does not name the new cluster's host"; }

step "caches: a new region replaces the cache"
CACHE_REGION=ams3
write_stack
plan_replace 1 0 caches.sessions
apply_then_noop
new_cache=$(id_of caches.sessions)
[[ $new_cache != "$cache" ]] || fail "the cache kept its id"
sim_gone databases "$cache" || fail "the old cache $cache is still there"
[[ $(sim_get databases "$new_cache" '[.database.region, .database.engine]') == '["ams3","valkey"]' ]] ||
  fail "cache $new_cache is $(sim_get databases "$new_cache" '[.database.region, .database.engine]')"
expect_counts "2 2 1 1 1" "after replacing the cache"

step "volumes: a new description replaces the volume, attached to the same droplet"
VOL_DESCRIPTION="web data, v2"
write_stack
plan_replace 1 0 volumes.data
apply_then_noop
new_vol=$(id_of volumes.data)
[[ $new_vol != "$vol" ]] || fail "the volume kept its id"
sim_gone volumes "$vol" || fail "the old volume $vol is still there"
[[ $(sim_get volumes "$new_vol" '[.volume.description, .volume.size_gigabytes]') == '["web data, v2",20]' ]] ||
  fail "volume $new_vol is $(sim_get volumes "$new_vol" '[.volume.description, .volume.size_gigabytes]')"
expect_counts "2 2 1 1 1" "after replacing the volume"
expect_dependents "after replacing the volume"
web0=$(id_of 'servers.web[0]')
[[ $(sim_get droplets "$web0" .droplet.volume_ids) == "[\"$new_vol\"]" ]] ||
  fail "droplet $web0 lists the volumes $(sim_get droplets "$web0" .droplet.volume_ids), not $new_vol"

step "load_balancers: a new region replaces it (with the droplets and volume it needs there)"
lb=$(id_of load_balancers.edge) vol=$(id_of volumes.data) old_web=$(web_ids)
WEB_REGION=ams3 LB_REGION=ams3 VOL_REGION=ams3
write_stack
plan_replace 4 1 'servers.web[0]' 'servers.web[1]' load_balancers.edge volumes.data
assert_contains "$WORK/last.out" "~ firewalls.web (update in place)"
apply_then_noop
new_lb=$(id_of load_balancers.edge)
[[ $new_lb != "$lb" ]] || fail "the load balancer kept its id"
sim_gone load_balancers "$lb" || fail "the old load balancer $lb is still there"
[[ $(sim_get load_balancers "$new_lb" '[.load_balancer.region.slug, .load_balancer.status, (.load_balancer.forwarding_rules | length), .load_balancer.health_check.path]') == '["ams3","active",2,"/ready"]' ]] ||
  fail "load balancer $new_lb is $(sim_get load_balancers "$new_lb" '[.load_balancer.region.slug, .load_balancer.status, (.load_balancer.forwarding_rules | length), .load_balancer.health_check.path]')"
new_vol=$(id_of volumes.data)
[[ $new_vol != "$vol" ]] || fail "the volume kept its id across regions"
sim_gone volumes "$vol" || fail "the old volume $vol is still there"
[[ $(sim_get volumes "$new_vol" .volume.region.slug) == '"ams3"' ]] || fail "volume $new_vol is in $(sim_get volumes "$new_vol" .volume.region.slug)"
[[ $(jq -n --argjson a "$old_web" --argjson b "$(web_ids)" '$a - $b | length') == 2 ]] || fail "a droplet kept its id across regions"
for id in $(web_ids | jq -r '.[]'); do
  [[ $(sim_get droplets "$id" .droplet.region.slug) == '"ams3"' ]] || fail "droplet $id is in $(sim_get droplets "$id" .droplet.region.slug)"
done
[[ $(id_of firewalls.web) == "$fw" ]] || fail "the firewall was replaced rather than updated"
expect_counts "2 2 1 1 1" "after moving the web tier to ams3"
expect_dependents "after moving the web tier to ams3"
expect_ok keel output lb_ip
[[ $(cat "$WORK/last.out") == $(sim_get load_balancers "$new_lb" .load_balancer.ip | jq -r .) ]] ||
  { show "$WORK/last.out"; fail "lb_ip is not the new load balancer's address"; }

step "firewalls: keel apply --replace replaces the firewall"
fw=$(id_of firewalls.web)
expect_rc 2 keel plan --detailed-exitcode --replace firewalls.web
assert_contains "$WORK/last.out" "Plan: 1 to add, 0 to change, 1 to destroy."
assert_contains "$WORK/last.out" "-/+ firewalls.web (replace, as requested)"
expect_ok keel apply --auto-approve --replace firewalls.web
assert_contains "$WORK/last.out" "Resources: 1 added, 0 changed, 1 destroyed."
expect_rc 0 keel plan --detailed-exitcode
new_fw=$(id_of firewalls.web)
[[ $new_fw != "$fw" ]] || fail "the firewall kept its id"
sim_gone firewalls "$fw" || fail "the old firewall $fw is still there"
inbound=$(sim_get firewalls "$new_fw" '[.firewall.inbound_rules[] | "\(.protocol):\(.ports)"] | sort')
[[ $inbound == '["tcp:22","tcp:80"]' ]] || fail "firewall $new_fw has the inbound rules $inbound"
expect_counts "2 2 1 1 1" "after replacing the firewall"
expect_dependents "after replacing the firewall"

step "destroy leaves nothing"
expect_ok keel destroy --auto-approve
assert_contains "$WORK/last.out" "Resources: 7 destroyed."
expect_counts "0 0 0 0 0" "after destroy"
echo "--- [$E2E_NAME] done in $((SECONDS - T0)) s"

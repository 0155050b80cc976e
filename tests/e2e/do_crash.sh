#!/usr/bin/env bash
# Crash safety against DigitalOcean: keel killed with SIGKILL at random
# moments, 20 times, during an apply of 30 resources (droplets, a database, a
# cache, a load balancer and a firewall over the droplets); then a final apply.
# The simulator must hold exactly the declared resources, none twice, and
# state must match it id for id.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup
cloudsim_tenant
# Slow enough, and few enough at once, that most runs are cut off mid-work:
# a killed keel's plugin stops at once (stdin ends without `shutdown`),
# abandoning what it had in flight, which the next run finds by its tags
# and adopts.
sim PUT /_sim/config '{"provision_seconds": 1.0, "latency_ms": 30}' >/dev/null

KILLS=20
new_stack STACK stack
cd "$STACK"
cat >keel.yaml <<'YAML'
keel: 1
project: e2e-do-crash
providers:
  do: { type: digitalocean, endpoint: "${env.DO_ENDPOINT}" }
servers:
  web: { provider: do, count: 26, size: s-1vcpu-1gb, image: debian-12-x64, region: fra1 }
databases:
  main: { provider: do, engine: postgres, size: db-s-1vcpu-1gb, region: fra1 }
caches:
  sessions: { provider: do, engine: valkey, size: db-s-1vcpu-1gb, region: fra1 }
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
expect_ok keel validate
assert_contains "$WORK/last.out" "30 resources"

killed=0
step "$KILLS applies killed with SIGKILL at random moments"
for run in $(seq 1 $KILLS); do
  if [[ $run == 1 ]]; then ms=$((300 + RANDOM % 700)); else ms=$((100 + RANDOM % 1500)); fi
  apply_killed_after "$ms" "$WORK/run-$run.log" --parallelism 2
  case $KILL_RC in
    137) echo "    run $run: killed after ${ms} ms"; killed=$((killed + 1)) ;;
    0) echo "    run $run: finished before the kill (${ms} ms)" ;;
    *) show "$WORK/run-$run.log"; fail "run $run: keel exited $KILL_RC on its own (output above)" ;;
  esac
done

[[ $killed -ge 10 ]] || fail "only $killed of $KILLS runs were killed mid-work"

step "a final apply converges"
expect_ok keel apply --auto-approve
expect_rc 0 keel plan --detailed-exitcode

step "the simulator holds exactly the 30 resources, none twice, and state matches"
[[ $(sim_count droplets) == 26 ]] || fail "$(sim_count droplets) droplets, expected 26"
[[ $(sim_count databases) == 2 ]] || fail "$(sim_count databases) databases and caches, expected 2"
[[ $(sim_count load_balancers) == 1 ]] || fail "$(sim_count load_balancers) load balancers, expected 1"
[[ $(sim_count firewalls) == 1 ]] || fail "$(sim_count firewalls) firewalls, expected 1"
cloud_ids=$( { sim GET "/v2/droplets?per_page=200" | jq -r '.droplets[].id'
               sim GET /v2/databases | jq -r '.databases[].id'
               sim GET /v2/load_balancers | jq -r '.load_balancers[].id'
               sim GET /v2/firewalls | jq -r '.firewalls[].id'; } | sort)
state_ids=$(jq -r '.resources[] | .id' .keel/state.json | sort)
if [[ $cloud_ids != "$state_ids" ]]; then
  diff <(echo "$cloud_ids") <(echo "$state_ids") | show
  fail "state's ids differ from the simulator's (diff cloud/state above)"
fi
[[ $(jq '.resources | length' .keel/state.json) == 30 ]] || fail "state does not hold 30 resources"

step "destroy leaves nothing"
expect_ok keel destroy --auto-approve
[[ "$(sim_count droplets)$(sim_count databases)$(sim_count load_balancers)$(sim_count firewalls)" == 0000 ]] ||
  fail "destroy left resources behind"

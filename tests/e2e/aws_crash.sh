#!/usr/bin/env bash
# Crash safety against AWS (moto behind the contract proxy), over every kind
# keel-provider-aws has: keel killed with SIGKILL at random moments, 20
# times, during an apply of 30 resources (a network, 2 subnets, a security
# group, 22 instances, 2 volumes attached to them, a load balancer in front
# of the instances, a server group); then a final apply. AWS must hold
# exactly the declared resources and their parts (internet gateway, route
# table, target group, launch template), none twice, counted with boto3
# straight from moto (tests/support/aws/inventory.py), and state's ids must
# be AWS's. Then destroy leaves nothing that carries the project's tag.
#
# The kill moments come from a seeded RNG; the seed is printed, and
# KEEL_CRASH_SEED=N replays a run's moments.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/aws.bash"
e2e_setup
aws_setup
# States pending for 5 s, a little latency and two changes at a time: slow
# enough that most runs are cut off mid-work, fast enough for CI. A killed
# keel's plugin carries on until its next message to keel (a progress line,
# an answer), when the closed pipe ends it (SIGPIPE): creates are cut
# anywhere (a VPC without its gateway, a security group without its rules,
# a load balancer without its listener), and the next run must find them by
# their tags or name, adopt them and complete them. (At 1.5 s, once the
# plugin polled densely, the stack was whole after 7 killed runs and the
# other 13 were no-ops finished before their kill.)
proxy_config '{"pending_seconds": 5, "latency_ms": 20}' >/dev/null

PROJECT=e2e-aws-crash
KILLS=20
SEED=${KEEL_CRASH_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$SEED
echo "    kill moments from seed $SEED (replay: KEEL_CRASH_SEED=$SEED)"

new_stack STACK stack
cd "$STACK"
cat >keel.yaml <<YAML
keel: 1
project: $PROJECT
providers:
  aws: { type: aws, region: us-east-1 }
networks:
  main: { provider: aws, cidr: 10.79.0.0/16 }
subnets:
  a: { provider: aws, network: "\${networks.main.id}", cidr: 10.79.1.0/24, zone: us-east-1a, public: true }
  b: { provider: aws, network: "\${networks.main.id}", cidr: 10.79.2.0/24, zone: us-east-1b, public: true }
firewalls:
  web: { provider: aws, network: "\${networks.main.id}",
         inbound: [{ protocol: tcp, ports: "22", from: [0.0.0.0/0] }, { protocol: tcp, ports: "8080", from: [10.79.0.0/16] }] }
servers:
  web: { provider: aws, count: 22, size: t3.micro, image: ami-12c6146b, subnet: "\${subnets.a.id}",
         firewalls: ["\${firewalls.web.id}"] }
volumes:
  data: { provider: aws, size: 8, zone: us-east-1a, server: "\${servers.web[0].id}" }
  logs: { provider: aws, size: 4, zone: us-east-1a, server: "\${servers.web[1].id}" }
load_balancers:
  edge: { provider: aws, type: application, subnets: ["\${subnets.a.id}", "\${subnets.b.id}"],
          firewalls: ["\${firewalls.web.id}"], targets: "\${servers.web[*].id}",
          rules: [{ entry: "http:80", target: "http:8080" }], health_check: { path: /healthz, port: 8080 } }
server_groups:
  workers: { provider: aws, size: t3.micro, image: ami-12c6146b, subnets: ["\${subnets.a.id}"],
             firewalls: ["\${firewalls.web.id}"], min: 1, max: 2, scale: { cpu: 60 } }
YAML
expect_ok keel validate
assert_contains "$WORK/last.out" "30 resources"

inventory() { python3 -B "$AWS_PROXY_DIR/inventory.py" "http://127.0.0.1:$MOTO_PORT" "$PROJECT"; }

step "$KILLS applies killed with SIGKILL at random moments"
killed=0
# A run gets shorter as less is left to do: once one finishes before its
# kill, later kills come sooner than that run took (at the least 200-450 ms), so
# that the runs stay cut off mid-work on a fast machine as on a slow one.
latest_ms=2200
for run in $(seq 1 $KILLS); do
  # The first run is cut off early (before the network is done); later
  # ones anywhere in a run.
  if [[ $run == 1 ]]; then ms=$((300 + RANDOM % 900)); else ms=$((200 + RANDOM % (latest_ms - 200))); fi
  apply_killed_after "$ms" "$WORK/run-$run.log" --parallelism 2
  case $KILL_RC in
    137) echo "    run $run: killed after ${ms} ms"; killed=$((killed + 1)) ;;
    0) echo "    run $run: finished before the kill (${ms} ms)"; latest_ms=$(( ms > 450 ? ms : 450 )) ;;
    *) show "$WORK/run-$run.log"; fail "run $run: keel exited $KILL_RC on its own (output above)" ;;
  esac
done
[[ $killed -ge 10 ]] || fail "only $killed of $KILLS runs were killed mid-work (seed $SEED)"

step "a final apply converges, and a plan then has nothing to do"
expect_ok keel apply --auto-approve
expect_rc 0 keel plan --detailed-exitcode

step "AWS holds exactly the declared resources and their parts, none twice, wired as declared; state's ids are AWS's"
inventory >"$WORK/inventory.json"
problems=$(jq -r '
  def want: {networks: 1, internet_gateways: 1, route_tables: 1, subnets: 2, firewalls: 1, servers: 22,
             volumes: 2, load_balancers: 1, target_groups: 1, server_groups: 1, launch_templates: 1};
  . as $aws
  | (want | to_entries[] | select(($aws[.key] | length) != .value)
       | "\(.key): \($aws[.key] | length) in AWS, expected \(.value)"),
    ($aws | to_entries[] | select(.key != "group_instances" and .key != "root_volumes" and .key != "wiring")
       | .key as $k | .value | group_by(.address)[] | select(length > 1)
       | "\($k): \(length) carry keel:address \(.[0].address): \([.[].id] | join(" "))"),
    (if ($aws.group_instances | length) > 2 then "the server group runs \($aws.group_instances | length) instances, max 2" else empty end)
' "$WORK/inventory.json")
if [[ -n $problems ]]; then
  echo "$problems" | show
  fail "AWS does not hold exactly the declared resources (seed $SEED; inventory in $WORK/inventory.json)"
fi
for kind in networks subnets firewalls servers volumes load_balancers server_groups; do
  aws_ids=$(jq -r --arg k "$kind" '.[$k][].id' "$WORK/inventory.json" | sort)
  state_ids=$(jq -r --arg k "$kind" '.resources[] | select(.kind == $k) | .id' .keel/state.json | sort)
  if [[ $aws_ids != "$state_ids" ]]; then
    diff <(echo "$aws_ids") <(echo "$state_ids") | show
    fail "$kind: state's ids differ from AWS's (diff aws/state above; seed $SEED)"
  fi
done
[[ $(jq '.resources | length' .keel/state.json) == 30 ]] || fail "state does not hold 30 resources"
# Wired as declared: every server (and only they) behind the load balancer,
# each volume on its server.
id_of() { jq -r --arg a "$1" '.resources[] | select(.address == $a) | .id' .keel/state.json; }
servers=$(jq -c '[.resources[] | select(.kind == "servers") | .id] | sort' .keel/state.json)
[[ $(jq -c '.wiring.targets | to_entries | map(.value)' "$WORK/inventory.json") == "[$servers]" ]] ||
  fail "the target group does not hold exactly the 22 servers: $(jq -c .wiring.targets "$WORK/inventory.json")"
[[ $(jq -cS '.wiring.attachments' "$WORK/inventory.json") == \
   "{\"volumes.data\":[\"$(id_of 'servers.web[0]')\"],\"volumes.logs\":[\"$(id_of 'servers.web[1]')\"]}" ]] ||
  fail "the volumes are not attached as declared: $(jq -c .wiring.attachments "$WORK/inventory.json")"

step "destroy, two changes at a time: the terminations overlap, the subnet and security group wait for them"
subnet=$(jq -r '.resources[] | select(.address == "subnets.a") | .id' .keel/state.json)
group=$(jq -r '.resources[] | select(.address == "firewalls.web") | .id' .keel/state.json)
logged=$(wc -l <"$WORK/aws/proxy.log")
expect_ok keel destroy --auto-approve --parallelism 2
# The proxy logs each request with its arrival time. A server's delete does
# not wait for its instance's shutdown (1.5 s here), so the 22 terminations
# overlap: were each waited out, two at a time, they would span 15 s and
# more. Yet AWS deletes a subnet or security group only once its instances
# are terminated (moto does not check it): keel must wait for that itself.
tail -n +"$((logged + 1))" "$WORK/aws/proxy.log" | python3 -c '
import json, sys
subnet, group, pending = sys.argv[1], sys.argv[2], 1.5
calls = [json.loads(l) for l in sys.stdin if l.startswith("{")]
terminates = [c["t"] for c in calls if c["op"] == "TerminateInstances"]
assert terminates, "destroy terminated no instance"
span = terminates[-1] - terminates[0]
assert span < 4 * pending, f"the terminations spanned {span:.1f} s: they did not overlap"
for c in calls:
    op, p = c["op"], c.get("params") or {}
    if (op, p.get("SubnetId") or p.get("GroupId")) in (("DeleteSubnet", subnet), ("DeleteSecurityGroup", group)):
        early = terminates[-1] + pending - c["t"]
        assert early <= 0, f"{op} was sent {early:.1f} s before the instances in it could be terminated"
print(f"    {len(terminates)} TerminateInstances calls within {span:.1f} s")
' "$subnet" "$group" || fail "destroy's order or overlap is wrong (above)"

step "destroy left nothing carrying the project's tag"
inventory >"$WORK/after-destroy.json"
left=$(jq -r 'del(.wiring) | to_entries[] | select(.value | length > 0) | "\(.key): \([.value[].id] | join(" "))"' \
  "$WORK/after-destroy.json")
[[ -z $left ]] || { echo "$left" | show; fail "destroy left resources behind (above)"; }

step "every request fit AWS's model, and moto never failed"
assert_proxy_clean

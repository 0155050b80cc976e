#!/usr/bin/env bash
# AWS under faults: a fifth of all requests fail (503 before moto, or the
# answer lost after moto acted), AWS throttles past 10 requests a second,
# states are delayed and new instances are NotFound at first. apply must
# converge with exactly the declared resources (none twice: counted with the
# official CLI), and `kill -9` of keel in the middle of applies, again and
# again, must leave nothing twice either.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/aws.bash"
e2e_setup
aws_setup
proxy_config '{"pending_seconds": 1, "not_found_after_create": 1, "rate_limit": 10}' >/dev/null

new_stack STACK stack
cd "$STACK"
write_stack() {  # write_stack SERVERS
  cat >keel.yaml <<YAML
keel: 1
project: e2e-aws-faults
providers:
  aws: { type: aws, region: us-east-1 }
networks:
  main: { provider: aws, cidr: 10.78.0.0/16 }
subnets:
  a: { provider: aws, network: "\${networks.main.id}", cidr: 10.78.1.0/24, zone: us-east-1a, public: true }
  b: { provider: aws, network: "\${networks.main.id}", cidr: 10.78.2.0/24, zone: us-east-1b }
firewalls:
  web: { provider: aws, network: "\${networks.main.id}", inbound: [{ protocol: tcp, ports: "22", from: [0.0.0.0/0] }] }
servers:
  web: { provider: aws, count: $1, size: t3.micro, image: ami-12c6146b, subnet: "\${subnets.a.id}", firewalls: ["\${firewalls.web.id}"] }
YAML
}
count_of() {  # count_of DESCRIBE QUERY: resources of the project, by the official CLI
  awsm ec2 "$1" --filters Name=tag:keel:project,Values=e2e-aws-faults --query "$2" | wc -w
}
check_exact() {  # check_exact SERVERS
  local vpcs subnets sgs igws rtbs n
  vpcs=$(count_of describe-vpcs 'Vpcs[].VpcId')
  subnets=$(count_of describe-subnets 'Subnets[].SubnetId')
  sgs=$(count_of describe-security-groups 'SecurityGroups[].GroupId')
  igws=$(count_of describe-internet-gateways 'InternetGateways[].InternetGatewayId')
  rtbs=$(count_of describe-route-tables 'RouteTables[].RouteTableId')
  n=$(live_instances e2e-aws-faults)
  [[ "$vpcs $subnets $sgs $igws $rtbs $n" == "1 2 1 1 1 $1" ]] ||
    fail "moto holds vpcs subnets sgs igws rtbs instances = $vpcs $subnets $sgs $igws $rtbs $n, expected 1 2 1 1 1 $1"
  # State's ids are AWS's.
  local ids
  ids=$(awsm ec2 describe-instances --filters Name=tag:keel:project,Values=e2e-aws-faults Name=instance-state-name,Values=pending,running \
    --query 'Reservations[].Instances[].InstanceId' | tr '\t' '\n' | sort)
  expect_ok keel state list
  local stated
  stated=$(grep -o 'i-[0-9a-f]*' "$WORK/last.out" | sort) || true
  [[ -z $stated || $stated == "$ids" ]] || fail "state holds instances $stated, AWS $ids"
}

step "20% of requests fail or lose their answer: apply converges, nothing twice"
write_stack 6
proxy_config '{"random": 0.2}' >/dev/null
converged=""
for attempt in 1 2 3 4 5 6; do
  run_rc rc keel apply --auto-approve
  if [[ $rc == 0 ]]; then converged=yes; break; fi
done
[[ -n $converged ]] || { show "$WORK/last.out"; fail "apply did not converge in 6 runs under 20% faults"; }
proxy_config '{"random": 0}' >/dev/null
expect_rc 0 keel plan --detailed-exitcode
check_exact 6
[[ $(proxy_stats | jq -r .faults) -gt 0 ]] || fail "no fault was injected"

step "kill -9 during applies of 30 resources, 20 times, then a final apply: exactly the declared resources"
expect_ok keel destroy --auto-approve
write_stack 26
for i in $(seq 1 20); do
  ( exec "$KEEL" apply --auto-approve >"$WORK/killed-$i.out" 2>&1 ) &
  pid=$!
  sleep "$(python3 -c "import random; print(round(random.uniform(0.5, 3.0), 2))")"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
for attempt in 1 2 3; do
  run_rc rc keel apply --auto-approve
  [[ $rc == 0 ]] && break
done
[[ $rc == 0 ]] || { show "$WORK/last.out"; fail "the final apply failed"; }
expect_rc 0 keel plan --detailed-exitcode
check_exact 26

step "every request fit AWS's model, and moto never failed"
assert_proxy_clean

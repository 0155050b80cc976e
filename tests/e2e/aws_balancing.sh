#!/usr/bin/env bash
# AWS load balancers through moto behind the contract proxy: an application
# load balancer in front of two instances (a target group with its health
# check, a listener, the instances registered), then a no-op plan whose
# refresh costs a few calls, targets, health check and rules changed in
# place, a stranger's target group of keel's name (refused, not taken), a
# target deregistered behind keel's back (drift, restored), a
# replacement (application -> network) whose CreateLoadBalancer answer is
# lost (adopted by name and tags, not made twice), and destroy. The official
# CLI checks what keel made.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/aws.bash"
e2e_setup
aws_setup
proxy_config '{"pending_seconds": 1, "not_found_after_create": 1}' >/dev/null

new_stack STACK stack
cd "$STACK"
write_stack() {  # write_stack SERVERS TYPE RULES HEALTH_PATH
  cat >keel.yaml <<YAML
keel: 1
project: e2e-aws-lb
providers:
  aws: { type: aws, region: us-east-1 }
networks:
  main: { provider: aws, cidr: 10.79.0.0/16 }
subnets:
  a: { provider: aws, network: "\${networks.main.id}", cidr: 10.79.1.0/24, zone: us-east-1a, public: true }
  b: { provider: aws, network: "\${networks.main.id}", cidr: 10.79.2.0/24, zone: us-east-1b, public: true }
firewalls:
  web:
    provider: aws
    network: "\${networks.main.id}"
    inbound: [{ protocol: tcp, ports: "80", from: [0.0.0.0/0] }, { protocol: tcp, ports: "8080", from: [10.79.0.0/16] }]
servers:
  web: { provider: aws, count: $1, size: t3.micro, image: ami-12c6146b, subnet: "\${subnets.a.id}",
         firewalls: ["\${firewalls.web.id}"] }
load_balancers:
  edge: { provider: aws, type: $2, subnets: ["\${subnets.a.id}", "\${subnets.b.id}"],
          firewalls: ["\${firewalls.web.id}"], targets: "\${servers.web[*].id}",
          rules: $3, health_check: { path: $4, port: 8080 } }
outputs:
  dns: \${load_balancers.edge.dns_name}
YAML
}
elb() { awsm elbv2 "$@"; }
lb_arn() { elb describe-load-balancers --query 'LoadBalancers[].LoadBalancerArn'; }
lb_count() { elb describe-load-balancers --query 'LoadBalancers[].LoadBalancerArn' | wc -w; }
tg_count() { elb describe-target-groups --query 'TargetGroups[].TargetGroupArn' | wc -w; }
registered() {  # the instance ids registered in every target group of the load balancer, sorted
  local tg
  for tg in $(elb describe-target-groups --load-balancer-arn "$(lb_arn)" --query 'TargetGroups[].TargetGroupArn'); do
    elb describe-target-health --target-group-arn "$tg" --query 'TargetHealthDescriptions[].Target.Id'
  done | tr '\t' '\n' | sort -u | tr '\n' ' '
}
stack_instances() {
  awsm ec2 describe-instances --filters Name=tag:keel:project,Values=e2e-aws-lb Name=instance-state-name,Values=pending,running \
    --query 'Reservations[].Instances[].InstanceId' | tr '\t' '\n' | sort | tr '\n' ' '
}
HTTP80='[{ entry: "http:80", target: "http:8080" }]'

step "apply creates an application load balancer in front of two instances"
write_stack 2 application "$HTTP80" /healthz
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 7 added, 0 changed, 0 destroyed."
[[ $(lb_count) == 1 ]] || fail "moto holds $(lb_count) load balancers, expected 1"
[[ $(elb describe-load-balancers --query 'LoadBalancers[].[Type,State.Code]') == "application	active" ]] ||
  fail "the load balancer is not an active application one"
[[ $(elb describe-load-balancers --query 'length(LoadBalancers[0].AvailabilityZones)') == 2 ]] || fail "the load balancer is not in two subnets"
tags=$(elb describe-tags --resource-arns "$(lb_arn)" --query 'TagDescriptions[].Tags[].[Key,Value]')
[[ $tags == *"keel:address	load_balancers.edge"* && $tags == *"keel:project	e2e-aws-lb"* ]] || fail "the load balancer lacks keel's tags: $tags"
[[ $(elb describe-target-groups --query 'TargetGroups[].[Protocol,Port,HealthCheckPath,HealthCheckPort]') == "HTTP	8080	/healthz	8080" ]] ||
  fail "the target group is not HTTP 8080 checked at /healthz:8080: $(elb describe-target-groups --query 'TargetGroups[]')"
[[ $(elb describe-listeners --load-balancer-arn "$(lb_arn)" --query 'Listeners[].[Protocol,Port]') == "HTTP	80" ]] ||
  fail "the listener is not HTTP 80"
[[ $(registered) == "$(stack_instances)" ]] || fail "registered targets $(registered), the stack's instances $(stack_instances)"
expect_ok keel output dns
assert_contains "$WORK/last.out" "elb.amazonaws.com"

step "a second plan has nothing to do, and the load balancer's refresh costs a few calls"
before=$(proxy_stats | jq -r .requests)
expect_rc 0 keel plan --detailed-exitcode
calls=$(( $(proxy_stats | jq -r .requests) - before ))
# 5 kinds; EC2 kinds one Describe each, the load balancer four
# (DescribeLoadBalancers, DescribeListeners, DescribeTargetGroups,
# DescribeTargetHealth), and configure's check of the keys.
((calls <= 3 * 4 + 4 + 1)) || fail "a plan with refresh took $calls requests: $(proxy_stats | jq -c .by_op)"
echo "    plan with refresh: $calls requests"

step "a load balancer forgotten by state is imported by its ARN"
arn=$(lb_arn)
expect_ok keel state rm --auto-approve load_balancers.edge
expect_ok keel state import load_balancers.edge "$arn"
expect_rc 0 keel plan --detailed-exitcode
[[ $(lb_count) == 1 ]] || fail "moto holds $(lb_count) load balancers after import, expected 1"

step "a third instance is registered in place, and the health check changes in place"
write_stack 3 application "$HTTP80" /ready
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 1 added, 1 changed, 0 destroyed."
[[ $(registered) == "$(stack_instances)" && $(wc -w <<<"$(registered)") == 3 ]] ||
  fail "registered targets $(registered), the stack's instances $(stack_instances)"
[[ $(elb describe-target-groups --query 'TargetGroups[].HealthCheckPath') == /ready ]] || fail "the health check path is not /ready"
[[ $(lb_count) == 1 ]] || fail "moto holds $(lb_count) load balancers, expected 1"

step "a stranger's target group of the name keel would give is not adopted, and nothing changes"
ours=$(elb describe-target-groups --query 'TargetGroups[0].TargetGroupName')
stranger="${ours%-http8080}-http9090"  # the same name but the target's port
elb create-target-group --name "$stranger" --protocol HTTP --port 9090 \
  --vpc-id "$(elb describe-load-balancers --query 'LoadBalancers[0].VpcId')" >/dev/null
write_stack 3 application '[{ entry: "http:80", target: "http:8080" }, { entry: "http:81", target: "http:9090" }]' /ready
expect_refused
assert_contains "$WORK/last.out" "a target group named $stranger exists without keel's tags"
[[ $(elb describe-listeners --load-balancer-arn "$(lb_arn)" --query 'Listeners[].Port') == 80 ]] ||
  fail "a refused change touched the listeners"
[[ -z $(elb describe-target-health --target-group-arn "$(elb describe-target-groups --names "$stranger" \
  --query 'TargetGroups[0].TargetGroupArn')" --query 'TargetHealthDescriptions[].Target.Id') ]] ||
  fail "keel registered targets in a stranger's target group"
elb delete-target-group --target-group-arn "$(elb describe-target-groups --names "$stranger" \
  --query 'TargetGroups[0].TargetGroupArn')" >/dev/null

step "a rule added and its target changed in place: a second listener and target group"
write_stack 3 application '[{ entry: "http:80", target: "http:8080" }, { entry: "http:81", target: "http:9090" }]' /ready
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 0 added, 1 changed, 0 destroyed."
[[ $(elb describe-listeners --load-balancer-arn "$(lb_arn)" --query 'Listeners[].Port' | tr '\t' '\n' | sort -n | tr '\n' ' ') == "80 81 " ]] ||
  fail "the listeners are not on 80 and 81"
[[ $(tg_count) == 2 ]] || fail "moto holds $(tg_count) target groups, expected 2"
write_stack 3 application "$HTTP80" /ready
expect_ok keel apply --auto-approve
[[ $(tg_count) == 1 ]] || fail "the unused target group outlived its rule: $(tg_count) target groups"
expect_rc 0 keel plan --detailed-exitcode

step "a target deregistered behind keel's back is drift, and apply registers it again"
first=$(awk '{print $1}' <<<"$(stack_instances)")
tg=$(elb describe-target-groups --query 'TargetGroups[0].TargetGroupArn')
elb deregister-targets --target-group-arn "$tg" --targets "Id=$first" >/dev/null
expect_rc 2 keel plan --detailed-exitcode
expect_ok keel apply --auto-approve
[[ $(registered) == "$(stack_instances)" ]] || fail "after apply: registered $(registered), instances $(stack_instances)"

step "a new type replaces the load balancer; its lost CreateLoadBalancer answer is adopted, not made twice"
proxy_fault '{"op":"CreateLoadBalancer","kind":"lose_response"}'
write_stack 3 network '[{ entry: "tcp:80", target: "tcp:8080" }]' /ready
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 1 added, 0 changed, 1 destroyed."
[[ $(lb_count) == 1 ]] || fail "moto holds $(lb_count) load balancers after a lost answer, expected 1"
[[ $(elb describe-load-balancers --query 'LoadBalancers[].Type') == network ]] || fail "the load balancer is not a network one"
[[ $(tg_count) == 1 ]] || fail "moto holds $(tg_count) target groups, expected 1"
[[ $(keel state show load_balancers.edge --json | jq -r '.id // .resource.id') == "$(lb_arn)" ]] || fail "state's id is not AWS's ARN"
[[ $(proxy_stats | jq -r .faults) -gt 0 ]] || fail "no fault was injected"
expect_rc 0 keel plan --detailed-exitcode

step "a bad rule is refused with its place in the stack, and nothing changes"
write_stack 3 network '[{ entry: "tcp:70000", target: "tcp:8080" }]' /ready
expect_refused
assert_contains "$WORK/last.out" "keel.yaml:21:"
assert_contains "$WORK/last.out" 'rules[0].entry` "tcp:70000": the port must be 1 to 65535'
write_stack 3 network '[{ entry: "http:80", target: "tcp:8080" }]' /ready
expect_refused
assert_contains "$WORK/last.out" 'a network load balancer takes tcp, udp, tcp_udp'
[[ $(elb describe-listeners --load-balancer-arn "$(lb_arn)" --query 'Listeners[].[Protocol,Port]') == "TCP	80" ]] ||
  fail "a refused change touched the listener"
write_stack 3 network '[{ entry: "tcp:80", target: "tcp:8080" }]' /ready
expect_rc 0 keel plan --detailed-exitcode

step "20% of requests fail or lose their answer: a replacement converges, nothing twice"
before=$(proxy_stats | jq -r .faults)
converge_under_faults --replace load_balancers.edge
[[ $(lb_count) == 1 && $(tg_count) == 1 ]] || fail "moto holds $(lb_count) load balancers and $(tg_count) target groups, expected 1 and 1"
[[ $(elb describe-listeners --load-balancer-arn "$(lb_arn)" --query 'Listeners[].[Protocol,Port]') == "TCP	80" ]] ||
  fail "the listener is not TCP 80"
[[ $(registered) == "$(stack_instances)" ]] || fail "registered targets $(registered), the stack's instances $(stack_instances)"
(( $(proxy_stats | jq -r .faults) > before )) || fail "no fault was injected"

step "destroy without the parts' ids in state (an older keel's state) looks them up, a target group still in use is retried: all go"
# Destroy takes the target groups' ARNs and the network's gateway and route
# table ids from state; without them it looks them up. --no-refresh: a
# refresh would record the target groups again.
jq '(.resources[] | select(.address == "load_balancers.edge") | .attributes) |= del(.target_groups)
    | (.resources[] | select(.address == "networks.main") | .attributes) |= del(.internet_gateway_id, .route_table_id)' \
  .keel/state.json >"$WORK/state.json"
cat "$WORK/state.json" >.keel/state.json  # in place: the file keeps its mode (0600)
# ELBv2 holding the target group a moment after the load balancer's delete
# (as AWS does while it goes): retried, within the delete's patience.
proxy_fault '{"op":"DeleteTargetGroup","kind":"error","status":400,"code":"ResourceInUse","times":2}'
expect_ok keel destroy --auto-approve --no-refresh
[[ $(lb_count) == 0 ]] || fail "$(lb_count) load balancers outlived destroy"
[[ $(tg_count) == 0 ]] || fail "$(tg_count) target groups outlived destroy"
[[ -z $(awsm ec2 describe-vpcs --filters Name=tag:keel:project,Values=e2e-aws-lb --query 'Vpcs[].VpcId') ]] || fail "the VPC outlived destroy"
[[ -z $(awsm ec2 describe-internet-gateways --filters Name=tag:keel:project,Values=e2e-aws-lb --query 'InternetGateways[].InternetGatewayId') ]] ||
  fail "the internet gateway outlived destroy"
[[ -z $(awsm ec2 describe-route-tables --filters Name=tag:keel:project,Values=e2e-aws-lb --query 'RouteTables[].RouteTableId') ]] ||
  fail "the route table outlived destroy"

step "every request fit AWS's model, and moto never failed"
assert_proxy_clean

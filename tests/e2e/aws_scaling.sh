#!/usr/bin/env bash
# AWS server groups through moto behind the contract proxy: a launch
# template and an Auto Scaling group of 2 to 6 instances tracking 60% CPU;
# then a no-op plan whose refresh costs a few calls, min/max/scale changed in
# place, size changed in place by a new launch template version, max changed
# behind keel's back (drift, restored), a replacement whose
# CreateAutoScalingGroup answer is lost (adopted, not made twice), bad
# bounds refused (by keel validate at their line where the schema states
# them, before anything is sent otherwise), and destroy. The official CLI checks what keel made.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/aws.bash"
e2e_setup
aws_setup
proxy_config '{"pending_seconds": 1, "not_found_after_create": 1}' >/dev/null

new_stack STACK stack
cd "$STACK"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/id_ed25519"
write_stack() {  # write_stack SIZE MIN MAX CPU
  cat >keel.yaml <<YAML
keel: 1
project: e2e-aws-asg
providers:
  aws: { type: aws, region: us-east-1 }
networks:
  main: { provider: aws, cidr: 10.80.0.0/16 }
subnets:
  a: { provider: aws, network: "\${networks.main.id}", cidr: 10.80.1.0/24, zone: us-east-1a }
firewalls:
  workers: { provider: aws, network: "\${networks.main.id}", inbound: [{ protocol: tcp, ports: "22", from: [10.80.0.0/16] }] }
server_groups:
  workers: { provider: aws, size: $1, image: ami-12c6146b, subnets: ["\${subnets.a.id}"], firewalls: ["\${firewalls.workers.id}"],
             ssh_key: "$WORK/id_ed25519.pub", min: $2, max: $3, scale: { cpu: $4 } }
YAML
}
asg() { awsm autoscaling "$@"; }
group() { asg describe-auto-scaling-groups --query "AutoScalingGroups[].$1"; }
group_count() { asg describe-auto-scaling-groups --query 'AutoScalingGroups[].AutoScalingGroupName' | wc -w; }
template_of() {  # the instance type and image of the version the group launches
  local id version
  read -r id version < <(group '[LaunchTemplate.LaunchTemplateId,LaunchTemplate.Version]')
  awsm ec2 describe-launch-template-versions --launch-template-id "$id" --versions "$version" \
    --query 'LaunchTemplateVersions[].[VersionNumber,LaunchTemplateData.InstanceType,LaunchTemplateData.ImageId]'
}
policy() { asg describe-policies --query 'ScalingPolicies[].[PolicyType,TargetTrackingConfiguration.PredefinedMetricSpecification.PredefinedMetricType,TargetTrackingConfiguration.TargetValue]'; }

step "apply creates a launch template and an auto scaling group tracking CPU"
write_stack t3.micro 2 6 60
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 4 added, 0 changed, 0 destroyed."
[[ $(group_count) == 1 ]] || fail "moto holds $(group_count) auto scaling groups, expected 1"
subnet=$(awsm ec2 describe-subnets --filters Name=tag:keel:address,Values=subnets.a --query 'Subnets[].SubnetId')
[[ $(group '[MinSize,MaxSize,VPCZoneIdentifier]') == "2	6	$subnet" ]] || fail "the group is not 2 to 6 in subnet a: $(group '[MinSize,MaxSize,VPCZoneIdentifier]')"
[[ $(template_of) == "1	t3.micro	ami-12c6146b" ]] || fail "the launch template is not t3.micro ami-12c6146b: $(template_of)"
[[ $(policy) == "TargetTrackingScaling	ASGAverageCPUUtilization	60.0" ]] || fail "the policy is not tracking 60% CPU: $(policy)"
tags=$(group 'Tags[].[Key,Value]')
[[ $tags == *"keel:address	server_groups.workers"* && $tags == *"keel:project	e2e-aws-asg"* ]] || fail "the group lacks keel's tags: $tags"
[[ $(group 'length(Instances)') == 2 ]] || fail "the group runs $(group 'length(Instances)') instances, expected 2"

step "a second plan has nothing to do, and the group's refresh costs a few calls"
before=$(proxy_stats | jq -r .requests)
expect_rc 0 keel plan --detailed-exitcode
calls=$(( $(proxy_stats | jq -r .requests) - before ))
# 4 kinds, the group three (DescribeAutoScalingGroups,
# DescribeLaunchTemplateVersions, DescribePolicies), and configure's check.
((calls <= 3 * 4 + 1)) || fail "a plan with refresh took $calls requests: $(proxy_stats | jq -c .by_op)"
echo "    plan with refresh: $calls requests"

step "a group forgotten by state is imported by its name"
name=$(group AutoScalingGroupName)
expect_ok keel state rm --auto-approve server_groups.workers
expect_ok keel state import server_groups.workers "$name"
expect_rc 0 keel plan --detailed-exitcode
[[ $(group_count) == 1 ]] || fail "moto holds $(group_count) auto scaling groups after import, expected 1"

step "min, max and scale change in place"
write_stack t3.micro 3 8 50
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 0 added, 1 changed, 0 destroyed."
[[ $(group '[MinSize,MaxSize]') == "3	8" ]] || fail "the group is not 3 to 8: $(group '[MinSize,MaxSize]')"
[[ $(policy) == "TargetTrackingScaling	ASGAverageCPUUtilization	50.0" ]] || fail "the policy is not tracking 50% CPU: $(policy)"

step "a new size changes in place: a new launch template version"
write_stack t3.small 3 8 50
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 0 added, 1 changed, 0 destroyed."
[[ $(template_of) == "2	t3.small	ami-12c6146b" ]] || fail "the group does not launch version 2 with t3.small: $(template_of)"
[[ $(group_count) == 1 ]] || fail "moto holds $(group_count) auto scaling groups, expected 1"
expect_rc 0 keel plan --detailed-exitcode

step "max changed behind keel's back is drift, and apply restores it"
asg update-auto-scaling-group --auto-scaling-group-name "$(group AutoScalingGroupName)" --max-size 10 >/dev/null
expect_rc 2 keel plan --detailed-exitcode
expect_ok keel apply --auto-approve
[[ $(group MaxSize) == 8 ]] || fail "after apply the group's max is $(group MaxSize), expected 8"

step "a replacement whose CreateAutoScalingGroup answer is lost adopts the group, not a second one"
proxy_fault '{"op":"CreateAutoScalingGroup","kind":"lose_response"}'
expect_ok keel apply --auto-approve --replace server_groups.workers
assert_contains "$WORK/last.out" "Resources: 1 added, 0 changed, 1 destroyed."
[[ $(group_count) == 1 ]] || fail "moto holds $(group_count) auto scaling groups after a lost answer, expected 1"
[[ $(proxy_stats | jq -r .faults) -gt 0 ]] || fail "no fault was injected"
expect_rc 0 keel plan --detailed-exitcode

step "bounds the schema states are refused by keel validate at their line"
write_stack t3.small -1 8 50
run_rc rc keel validate
[[ $rc == 1 ]] || { show "$WORK/last.out"; fail "keel validate of min -1 exited $rc, expected 1"; }
assert_contains "$WORK/last.out" "keel.yaml:13:"
assert_contains "$WORK/last.out" "out of range: from 0 to 10000"
write_stack T3.SMALL 3 8 50
run_rc rc keel validate
[[ $rc == 1 ]] || { show "$WORK/last.out"; fail "keel validate of size T3.SMALL exited $rc, expected 1"; }
assert_contains "$WORK/last.out" "holds a character it may not"

step "bad bounds are refused with their place in the stack, and nothing changes"
write_stack t3.small 5 4 50
expect_refused
assert_contains "$WORK/last.out" "keel.yaml:13:"
assert_contains "$WORK/last.out" '`min` 5 and `max` 4: need 0 <= min <= max'
write_stack t3.small 3 8 0
expect_refused
assert_contains "$WORK/last.out" '`scale.cpu` must be a number above 0'
write_stack t3.small 3 8 150
expect_refused
assert_contains "$WORK/last.out" '`scale.cpu` must be a number above 0 and at most 100'
[[ $(group '[MinSize,MaxSize]') == "3	8" ]] || fail "a refused change touched the group: $(group '[MinSize,MaxSize]')"
write_stack t3.small 3 8 50
expect_rc 0 keel plan --detailed-exitcode

step "20% of requests fail or lose their answer: a replacement converges, nothing twice"
before=$(proxy_stats | jq -r .faults)
converge_under_faults --replace server_groups.workers
[[ $(group_count) == 1 ]] || fail "moto holds $(group_count) auto scaling groups, expected 1"
[[ $(awsm ec2 describe-launch-templates --query 'LaunchTemplates[].LaunchTemplateId' | wc -w) == 1 ]] || fail "more than one launch template"
[[ $(group '[MinSize,MaxSize]') == "3	8" && $(policy) == *"	50.0" ]] || fail "the group is not 3 to 8 tracking 50%"
(( $(proxy_stats | jq -r .faults) > before )) || fail "no fault was injected"

step "destroy removes the group, its instances and the launch template"
expect_ok keel destroy --auto-approve
[[ $(group_count) == 0 ]] || fail "$(group_count) auto scaling groups outlived destroy"
[[ -z $(awsm ec2 describe-launch-templates --query 'LaunchTemplates[].LaunchTemplateId') ]] || fail "the launch template outlived destroy"
[[ $(live_instances e2e-aws-asg) == 0 ]] || fail "$(live_instances e2e-aws-asg) instances outlived destroy"

step "every request fit AWS's model, and moto never failed"
assert_proxy_clean

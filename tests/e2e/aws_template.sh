#!/usr/bin/env bash
# `keel init aws` as a new user takes it: the template, with only the AMI
# given, applies through moto behind the contract proxy (every request
# checked against AWS's service models), plans nothing afterwards, prints
# its outputs and is destroyed. The official CLI checks what it made.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/aws.bash"
e2e_setup
aws_setup
proxy_config '{"pending_seconds": 1}' >/dev/null

new_stack STACK template
cd "$STACK"
rm -f keel.yaml
ssh-keygen -q -t ed25519 -N '' -f "$WORK/id_ed25519"

step "keel init aws, then validate: the AMI is asked for, naming its line"
expect_ok keel init aws
expect_rc 1 keel validate
assert_contains "$WORK/last.out" "keel.yaml:"
assert_contains "$WORK/last.out" "variable \`image\` has no value"
expect_ok keel validate --var image=ami-12c6146b
# As a user would: the AMI (one moto knows) and the key written into the file.
sed -i -e 's|image: { description|image: { default: ami-12c6146b, description|' \
  -e "s|default: ~/.ssh/id_ed25519.pub|default: $WORK/id_ed25519.pub|" keel.yaml
expect_ok keel validate

step "apply makes what the template says"
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 8 added, 0 changed, 0 destroyed."
[[ $(awsm ec2 describe-instances --filters Name=tag:keel:project,Values=my-project Name=instance-state-name,Values=pending,running \
      --query 'length(Reservations[].Instances[])') == 2 ]] || fail "moto does not run the template's 2 instances"
[[ $(awsm elbv2 describe-load-balancers --query 'length(LoadBalancers[])') == 1 ]] || fail "no load balancer"

step "a second plan changes nothing, and the outputs are there"
expect_ok keel plan --detailed-exitcode
expect_ok keel output url
assert_contains "$WORK/last.out" "http://"
assert_proxy_clean

step "destroy removes it all"
expect_ok keel destroy --auto-approve
[[ $(awsm ec2 describe-vpcs --filters Name=tag:keel:project,Values=my-project --query 'length(Vpcs[])') == 0 ]] ||
  fail "the template's VPC is still there"

#!/usr/bin/env bash
# Bad input against AWS (moto validating AMIs and instance types, and
# checking signatures): an unknown instance type, AMI or zone, and a wrong
# secret each give a clear error that names the stack's line and AWS's error
# code and request id, and create nothing. The secret appears nowhere.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/aws.bash"
e2e_setup
aws_setup auth

new_stack STACK stack
cd "$STACK"
write_stack() {  # write_stack SIZE IMAGE ZONE
  cat >keel.yaml <<YAML
keel: 1
project: e2e-aws-errors
providers:
  aws: { type: aws, region: us-east-1 }
networks:
  main: { provider: aws, cidr: 10.79.0.0/16 }
subnets:
  a: { provider: aws, network: "\${networks.main.id}", cidr: 10.79.1.0/24, zone: $3 }
servers:
  web: { provider: aws, size: $1, image: $2, subnet: "\${subnets.a.id}" }
YAML
}
no_instances() { [[ $(live_instances e2e-aws-errors) == 0 ]] || fail "an instance was created"; }

step "an unknown zone: the subnet's line, AWS's code"
write_stack t3.micro ami-12c6146b us-east-1x
expect_refused
assert_contains "$WORK/last.out" "keel.yaml:8:"
assert_contains "$WORK/last.out" "InvalidParameterValue"
no_instances
expect_ok keel destroy --auto-approve

step "an unknown instance type: the server's line, AWS's code and request id"
write_stack t3.gigantic ami-12c6146b us-east-1a
expect_refused
assert_contains "$WORK/last.out" "keel.yaml:10:"
assert_contains "$WORK/last.out" "t3.gigantic"
assert_contains "$WORK/last.out" "request"
no_instances

step "an unknown AMI"
write_stack t3.micro ami-00000000 us-east-1a
expect_refused
assert_contains "$WORK/last.out" "keel.yaml:10:"
assert_contains "$WORK/last.out" "InvalidAMIID"
no_instances

step "a wrong secret: refused before anything is made, the secret nowhere"
good_secret=$AWS_SECRET_ACCESS_KEY
expect_ok keel destroy --auto-approve
AWS_SECRET_ACCESS_KEY=wrong-secret-do-not-print
run_rc rc keel apply --auto-approve
[[ $rc != 0 ]] || fail "apply with a wrong secret succeeded"
assert_contains "$WORK/last.out" "AuthFailure"
assert_not_contains "$WORK/last.out" "wrong-secret-do-not-print" "the secret is in the output"
assert_not_contains "$WORK/last.out" "$good_secret" "the good secret is in the output"
AWS_SECRET_ACCESS_KEY=$good_secret
[[ -z $(awsm ec2 describe-vpcs --filters Name=tag:keel:project,Values=e2e-aws-errors --query 'Vpcs[].VpcId') ]] ||
  fail "a VPC was made with a wrong secret"
if grep -rq "$good_secret" .keel 2>/dev/null; then fail "the secret is in .keel"; fi

step "every other request fit AWS's model, and moto never failed"
# The unknown instance type is refused by AWS's model (an enum) before moto.
assert_proxy_clean 1

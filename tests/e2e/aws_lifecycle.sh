#!/usr/bin/env bash
# AWS through moto behind the contract proxy, as a user runs it: a network
# (VPC, internet gateway, public route table), a public and a private
# subnet, a security group and two instances; then a no-op plan, rules
# edited in place, a size changed in place, drift behind keel's back, a
# replacement, and destroy. The official CLI checks that what keel made is
# what the stack says. AWS's delays are on: 2 s to `running`, and NotFound
# for the first describes after a create.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/aws.bash"
e2e_setup
aws_setup
proxy_config '{"pending_seconds": 2, "not_found_after_create": 2}' >/dev/null

new_stack STACK stack
cd "$STACK"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/id_ed25519"
write_stack() {  # write_stack SIZE IMAGE PORT [VOLUME_GIB]
  cat >keel.yaml <<YAML
keel: 1
project: e2e-aws
providers:
  aws: { type: aws, region: us-east-1 }
networks:
  main: { provider: aws, cidr: 10.77.0.0/16 }
subnets:
  a: { provider: aws, network: "\${networks.main.id}", cidr: 10.77.1.0/24, zone: us-east-1a, public: true }
  b: { provider: aws, network: "\${networks.main.id}", cidr: 10.77.2.0/24, zone: us-east-1b }
firewalls:
  web:
    provider: aws
    network: "\${networks.main.id}"
    inbound: [{ protocol: tcp, ports: "22", from: [0.0.0.0/0] }, { protocol: tcp, ports: "$3", from: [10.77.0.0/16] }]
servers:
  web: { provider: aws, count: 2, size: $1, image: $2, subnet: "\${subnets.a.id}",
         firewalls: ["\${firewalls.web.id}"], ssh_key: "$WORK/id_ed25519.pub", user: admin }
volumes:
  data: { provider: aws, size: ${4:-20}, zone: us-east-1a, server: "\${servers.web[0].id}" }
outputs:
  private: \${servers.web[0].private_ipv4}
YAML
}
keel_state_id() {  # the id state holds for address $1
  keel state show "$1" --json >"$WORK/show.json" 2>&1 || { show "$WORK/show.json"; fail "state show $1 failed"; }
  json_get "$WORK/show.json" 'd.get("id") or d["resource"]["id"]'
}
ports_of() {  # the security group's inbound ports, sorted
  awsm ec2 describe-security-groups --filters Name=tag:keel:address,Values=firewalls.web \
    --query 'SecurityGroups[].IpPermissions[].FromPort' | tr '\t' '\n' | sort -n | tr '\n' ' '
}

step "apply creates every kind"
write_stack t3.micro ami-12c6146b 8080
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 7 added, 0 changed, 0 destroyed."
[[ $(live_instances e2e-aws) == 2 ]] || fail "moto holds $(live_instances e2e-aws) instances, expected 2"
[[ $(awsm ec2 describe-vpcs --filters Name=tag:keel:project,Values=e2e-aws --query 'Vpcs[].CidrBlock') == 10.77.0.0/16 ]] ||
  fail "the VPC is not the stack's"
[[ $(awsm ec2 describe-subnets --filters Name=tag:keel:address,Values=subnets.a --query 'Subnets[].MapPublicIpOnLaunch') == True ]] ||
  fail "subnet a is not public"
[[ $(awsm ec2 describe-subnets --filters Name=tag:keel:address,Values=subnets.b --query 'Subnets[].MapPublicIpOnLaunch') == False ]] ||
  fail "subnet b is public"
routes=$(awsm ec2 describe-route-tables --filters Name=tag:keel:role,Values=public \
  --query 'RouteTables[].[Routes[?DestinationCidrBlock==`0.0.0.0/0`].GatewayId, Associations[].SubnetId]')
[[ $routes == *igw-* && $routes == *$(awsm ec2 describe-subnets --filters Name=tag:keel:address,Values=subnets.a --query 'Subnets[].SubnetId')* ]] ||
  fail "the public route table does not route subnet a through the internet gateway: $routes"
[[ $(ports_of) == "22 8080 " ]] || fail "the security group allows ports $(ports_of), expected 22 8080"
types=$(awsm ec2 describe-instances --filters Name=tag:keel:project,Values=e2e-aws --query 'Reservations[].Instances[].[InstanceType,ImageId,KeyName,State.Name]')
[[ $(grep -c "t3.micro.*ami-12c6146b.*keel-e2e-aws-.*running" <<<"$types") == 2 ]] || fail "the instances are not what the stack says: $types"
expect_ok keel output private
assert_contains "$WORK/last.out" "10.77.1."
web0=$(keel_state_id "servers.web[0]")
[[ $(awsm ec2 describe-volumes --filters Name=tag:keel:address,Values=volumes.data --query 'Volumes[].[Size,Attachments[0].InstanceId]') == "20	$web0" ]] ||
  fail "the volume is not 20 GiB on servers.web[0]"

step "a second plan has nothing to do, and its refresh costs a few calls per kind"
before=$(proxy_stats | jq -r .requests)
expect_rc 0 keel plan --detailed-exitcode
calls=$(( $(proxy_stats | jq -r .requests) - before ))
# 5 kinds, one Describe each, and configure's check of the keys.
((calls <= 3 * 5 + 1)) || fail "a plan with refresh of 7 resources of 5 kinds took $calls requests: $(proxy_stats | jq -c .by_op)"
echo "    plan with refresh: $calls requests"

step "an instance forgotten by state is imported by its id"
id=$(keel_state_id servers.web[1])
expect_ok keel state rm --auto-approve "servers.web[1]"
expect_ok keel state import "servers.web[1]" "$id"
expect_rc 0 keel plan --detailed-exitcode
[[ $(live_instances e2e-aws) == 2 ]] || fail "moto holds $(live_instances e2e-aws) instances after import, expected 2"

step "a rule changes in place, rule by rule"
write_stack t3.micro ami-12c6146b 9090
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 0 added, 1 changed, 0 destroyed."
[[ $(ports_of) == "22 9090 " ]] || fail "the security group allows ports $(ports_of), expected 22 9090"

step "a new size resizes the instances in place (stop, modify, start)"
write_stack t3.small ami-12c6146b 9090
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 0 added, 2 changed, 0 destroyed."
types=$(awsm ec2 describe-instances --filters Name=tag:keel:project,Values=e2e-aws Name=instance-state-name,Values=running \
  --query 'Reservations[].Instances[].InstanceType')
[[ $(tr '\t' '\n' <<<"$types" | grep -c t3.small) == 2 ]] || fail "the instances are $types, expected t3.small"

step "a volume grows in place"
write_stack t3.small ami-12c6146b 9090 30
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Resources: 0 added, 1 changed, 0 destroyed."
[[ $(awsm ec2 describe-volumes --filters Name=tag:keel:address,Values=volumes.data --query 'Volumes[].Size') == 30 ]] ||
  fail "the volume did not grow to 30 GiB"

step "a rule revoked behind keel's back is drift, and apply restores it"
write_stack t3.small ami-12c6146b 9090 30
sg=$(awsm ec2 describe-security-groups --filters Name=tag:keel:address,Values=firewalls.web --query 'SecurityGroups[].GroupId')
awsm ec2 revoke-security-group-ingress --group-id "$sg" --protocol tcp --port 22 --cidr 0.0.0.0/0 >/dev/null
expect_rc 2 keel plan --detailed-exitcode
expect_ok keel apply --auto-approve
[[ $(ports_of) == "22 9090 " ]] || fail "after apply the security group allows ports $(ports_of), expected 22 9090"

step "a new image replaces the instances"
write_stack t3.small ami-03cf127a 9090 30
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "2 added, 1 changed, 2 destroyed."
[[ $(live_instances e2e-aws) == 2 ]] || fail "moto holds $(live_instances e2e-aws) live instances, expected 2"

step "destroy removes everything, the network's parts by the ids state holds"
looked_up() { proxy_stats | jq --arg op "$1" '[.by_op | to_entries[] | select(.key | contains($op)) | .value] | add // 0'; }
gateways=$(looked_up DescribeInternetGateways) tables=$(looked_up DescribeRouteTables)
# The route table still in use when the network's delete comes (a subnet
# that has not let go): looked up then, and let go.
proxy_fault '{"op":"DeleteRouteTable","kind":"error","status":400,"code":"DependencyViolation","times":1}'
expect_ok keel destroy --auto-approve
# The public subnet looks up its own association, the network its table
# once (after the refusal), never its gateway.
(( $(looked_up DescribeInternetGateways) == gateways && $(looked_up DescribeRouteTables) == tables + 2 )) ||
  fail "destroy looked up the network's gateway, or its route table more than once: $(proxy_stats | jq -c .by_op)"
[[ -z $(awsm ec2 describe-route-tables --filters Name=tag:keel:project,Values=e2e-aws --query 'RouteTables[].RouteTableId') ]] ||
  fail "the route table outlived destroy"
[[ $(live_instances e2e-aws) == 0 ]] || fail "$(live_instances e2e-aws) instances outlived destroy"
[[ -z $(awsm ec2 describe-vpcs --filters Name=tag:keel:project,Values=e2e-aws --query 'Vpcs[].VpcId') ]] || fail "the VPC outlived destroy"
[[ -z $(awsm ec2 describe-volumes --filters Name=tag:keel:address,Values=volumes.data --query 'Volumes[].VolumeId') ]] || fail "the volume outlived destroy"
[[ -z $(awsm ec2 describe-internet-gateways --filters Name=tag:keel:project,Values=e2e-aws --query 'InternetGateways[].InternetGatewayId') ]] ||
  fail "the internet gateway outlived destroy"

step "every request fit AWS's model, and moto never failed"
assert_proxy_clean

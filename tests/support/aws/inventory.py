"""What moto holds of one keel project, counted with boto3 (AWS's own SDK).

python3 inventory.py MOTO_URL PROJECT

Prints one JSON object: for each kind of thing keel-provider-aws makes, the
live items carrying keel:project = PROJECT, each as {"id", "address"}
(the keel:address tag); and under "wiring", the instances registered in
each target group and the instance each volume is attached to. Used by the crash test (tests/e2e/aws_crash.sh) to
check "exactly the declared resources, none twice, state ids equal AWS's"
and "nothing left after destroy" against AWS's view, not keel's.

Talks to moto straight (never through the contract proxy, whose faults and
delays are for keel), and only to MOTO_URL: nothing here connects to an
instance's (real, public) address.
"""
import json, sys
import boto3

URL, PROJECT = sys.argv[1], sys.argv[2]
session = boto3.session.Session(aws_access_key_id="AKIAKEELTEST", aws_secret_access_key="keel-test-secret",
                                region_name="us-east-1")
ec2 = session.client("ec2", endpoint_url=URL)
elbv2 = session.client("elbv2", endpoint_url=URL)
autoscaling = session.client("autoscaling", endpoint_url=URL)
MINE = [{"Name": "tag:keel:project", "Values": [PROJECT]}]


def tag(tags, key):
    for t in tags or []:
        if t.get("Key") == key:
            return t.get("Value", "")
    return ""


def item(rid, tags):
    return {"id": rid, "address": tag(tags, "keel:address")}


def pages(client, call, **params):
    if client.can_paginate(call):
        yield from client.get_paginator(call).paginate(**params)
    else:
        yield getattr(client, call)(**params)


def ec2_items(call, list_key, id_key, keep=lambda x: True):
    return [item(x[id_key], x.get("Tags")) for page in pages(ec2, call, Filters=MINE) for x in page[list_key] if keep(x)]


def instances():
    servers, grouped = [], []
    for page in pages(ec2, "describe_instances", Filters=MINE):
        for reservation in page["Reservations"]:
            for i in reservation["Instances"]:
                if i["State"]["Name"] in ("terminated", "shutting-down"):
                    continue
                (grouped if tag(i.get("Tags"), "aws:autoscaling:groupName") else servers).append(item(i["InstanceId"], i.get("Tags")))
    return servers, grouped


def elb_items(call, list_key, arn_key):
    arns = []
    for page in pages(elbv2, call):
        arns += [x[arn_key] for x in page[list_key]]
    out = []
    for start in range(0, len(arns), 20):  # DescribeTags takes 20 ARNs a call
        for d in elbv2.describe_tags(ResourceArns=arns[start:start + 20])["TagDescriptions"]:
            if tag(d.get("Tags"), "keel:project") == PROJECT:
                out.append(item(d["ResourceArn"], d.get("Tags")))
    return out


def groups():
    out = []
    for page in pages(autoscaling, "describe_auto_scaling_groups", Filters=MINE):
        for g in page["AutoScalingGroups"]:
            out.append(item(g["AutoScalingGroupName"], g.get("Tags")))
    return out


def targets(groups):
    """The instances registered in each of keel's target groups."""
    return {g["address"]: sorted(d["Target"]["Id"] for d in
                                 elbv2.describe_target_health(TargetGroupArn=g["id"])["TargetHealthDescriptions"])
            for g in groups}


def attachments():
    """The instance each of keel's volumes is attached to."""
    out = {}
    for page in pages(ec2, "describe_volumes", Filters=MINE):
        for v in page["Volumes"]:
            address = tag(v.get("Tags"), "keel:address")
            if address.startswith("volumes."):
                out[address] = [a["InstanceId"] for a in v.get("Attachments", []) if a["State"] in ("attaching", "attached")]
    return out


servers, group_instances = instances()
target_groups = elb_items("describe_target_groups", "TargetGroups", "TargetGroupArn")
volumes = ec2_items("describe_volumes", "Volumes", "VolumeId", lambda v: v["State"] not in ("deleting", "deleted"))
print(json.dumps({
    "networks": ec2_items("describe_vpcs", "Vpcs", "VpcId"),
    "internet_gateways": ec2_items("describe_internet_gateways", "InternetGateways", "InternetGatewayId"),
    "route_tables": ec2_items("describe_route_tables", "RouteTables", "RouteTableId"),
    "subnets": ec2_items("describe_subnets", "Subnets", "SubnetId"),
    "firewalls": ec2_items("describe_security_groups", "SecurityGroups", "GroupId"),
    "servers": servers,
    "group_instances": group_instances,
    # RunInstances tags an instance's root volume as the instance.
    "volumes": [v for v in volumes if v["address"].startswith("volumes.")],
    "root_volumes": [v for v in volumes if not v["address"].startswith("volumes.")],
    "load_balancers": elb_items("describe_load_balancers", "LoadBalancers", "LoadBalancerArn"),
    "target_groups": target_groups,
    "server_groups": groups(),
    "launch_templates": ec2_items("describe_launch_templates", "LaunchTemplates", "LaunchTemplateId"),
    # How they are wired: target group address -> registered instance ids,
    # volume address -> the instance it is attached to.
    "wiring": {"targets": targets(target_groups), "attachments": attachments()},
}, indent=1))

// firewalls: security groups and their inbound rules.
//
// create  CreateSecurityGroup (tagged; a lost answer is found by its tags),
//         then AuthorizeSecurityGroupIngress with every rule.
// read    the project's security groups (one DescribeSecurityGroups); the
//         rules in the user's spelling when they mean the same.
// update  rule by rule, in place: the permissions (protocol, ports, one
//         source range) that are no longer wanted are revoked, the new ones
//         authorized; the others are left alone (no moment without them).
// delete  waits for the project's instances using it to be terminated,
//         then DeleteSecurityGroup (retried while others still use it).
//
// Rules: {protocol: tcp|udp|icmp|all, ports: "22" | "8000-8100" (tcp and
// udp; absent: all), from: [CIDR, ...]}. Outbound stays AWS's default
// (everything allowed).

#include <set>
#include <tuple>

#include <fmt/format.h>

#include "core/text.h"
#include "plugins/aws/kind.h"

namespace keel::aws {

namespace {

using kit::field_string;
using kit::value_of;

// One permission as AWS holds it: protocol ("tcp", "-1"), port range, source.
struct Permission {
  std::string protocol;
  long long from_port = -1;
  long long to_port = -1;
  std::string cidr;
  auto key() const { return std::tie(protocol, from_port, to_port, cidr); }
  bool operator<(const Permission& o) const { return key() < o.key(); }
  bool operator==(const Permission& o) const { return key() == o.key(); }
};
using Permissions = std::set<Permission>;

Result<std::pair<long long, long long>> port_range(const std::string& ports, const std::string& where) {
  const auto dash = ports.find('-');
  auto first = text::parse_int64(ports.substr(0, dash));
  auto last = dash == std::string::npos ? first : text::parse_int64(ports.substr(dash + 1));
  if (!first || !last || *first < 0 || *last > 65535 || *first > *last)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("{}: `ports` must be a port (\"22\") or a range (\"8000-8100\") within 0-65535, not \"{}\"",
                            where, ports));
  return std::pair{*first, *last};
}

Result<Permissions> wanted_permissions(const json& config) {
  Permissions out;
  const json rules = value_of(config, "inbound");
  if (rules.is_null()) return out;
  if (!rules.is_array()) return fail(ErrorCode::InvalidConfig, "`inbound` must be a list of rules");
  for (size_t i = 0; i < rules.size(); ++i) {
    const std::string where = fmt::format("inbound[{}]", i);
    const json& rule = rules[i];
    if (!rule.is_object()) return fail(ErrorCode::InvalidConfig, fmt::format("{} must be a map", where));
    auto protocol = kit::optional_string(rule, "protocol");
    if (!protocol) return fail(protocol.error().with_context(where));
    std::string proto = protocol->value_or("tcp");
    if (proto != "tcp" && proto != "udp" && proto != "icmp" && proto != "all")
      return fail(ErrorCode::InvalidConfig, fmt::format("{}: `protocol` must be tcp, udp, icmp or all, not \"{}\"", where, proto));
    Permission p;
    p.protocol = proto == "all" ? "-1" : proto;
    auto ports = kit::optional_string(rule, "ports");
    if (!ports) return fail(ports.error().with_context(where));
    if (proto == "tcp" || proto == "udp") {
      auto range = port_range(ports->value_or("0-65535"), where);
      if (!range) return fail(range.error());
      p.from_port = range->first;
      p.to_port = range->second;
    } else if (*ports) {
      return fail(ErrorCode::InvalidConfig, fmt::format("{}: `ports` only go with tcp or udp", where));
    }
    auto from = kit::string_list(rule, "from");
    if (!from) return fail(from.error().with_context(where));
    if (from->empty()) return fail(ErrorCode::InvalidConfig, fmt::format("{}: `from` needs at least one CIDR range", where));
    for (const std::string& cidr : *from) {
      if (cidr.find('/') == std::string::npos)
        return fail(ErrorCode::InvalidConfig, fmt::format("{}: `from` takes CIDR ranges (10.0.0.0/16), not \"{}\"", where, cidr));
      p.cidr = cidr;
      out.insert(p);
    }
  }
  return out;
}

Permissions held_permissions(const json& group) {
  Permissions out;
  for (const json& perm : items(group, "ipPermissions")) {
    Permission p;
    p.protocol = field_string(perm, "ipProtocol");
    p.from_port = text::parse_int64(field_string(perm, "fromPort")).value_or(-1);
    p.to_port = text::parse_int64(field_string(perm, "toPort")).value_or(-1);
    if (p.protocol == "-1" || p.protocol == "icmp") p.from_port = p.to_port = -1;
    for (const json& range : items(perm, "ipRanges")) {
      p.cidr = field_string(range, "cidrIp");
      out.insert(p);
    }
  }
  return out;
}

// Permissions back as rules: one per protocol and ports, its sources sorted.
json rules_of(const Permissions& permissions) {
  std::map<std::tuple<std::string, long long, long long>, json> grouped;
  for (const auto& p : permissions) {
    json& rule = grouped[{p.protocol, p.from_port, p.to_port}];
    if (rule.is_null()) {
      rule = json::object();
      rule["protocol"] = p.protocol == "-1" ? "all" : p.protocol;
      if (p.protocol == "tcp" || p.protocol == "udp")
        rule["ports"] = p.from_port == p.to_port ? std::to_string(p.from_port) : fmt::format("{}-{}", p.from_port, p.to_port);
      rule["from"] = json::array();
    }
    rule["from"].push_back(p.cidr);
  }
  json out = json::array();
  for (auto& [_, rule] : grouped) out.push_back(std::move(rule));
  return out;
}

void add_permissions(Params& params, const std::vector<Permission>& list) {
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string prefix = fmt::format("IpPermissions.{}", i + 1);
    params.emplace_back(prefix + ".IpProtocol", list[i].protocol);
    if (list[i].protocol == "tcp" || list[i].protocol == "udp") {
      params.emplace_back(prefix + ".FromPort", std::to_string(list[i].from_port));
      params.emplace_back(prefix + ".ToPort", std::to_string(list[i].to_port));
    }
    params.emplace_back(prefix + ".IpRanges.1.CidrIp", list[i].cidr);
  }
}

class Firewalls final : public TaggedKind {
 public:
  explicit Firewalls(Context& c) : TaggedKind(c, c.sources.security_groups) {}

  Result<provider::CreateResponse> create(const provider::CreateRequest& request) override {
    auto network = kit::required_string(request.config, "network");
    if (!network) return fail(network.error());
    auto wanted = wanted_permissions(request.config);
    if (!wanted) return fail(wanted.error());
    const std::string name = default_name(request.tags);
    Call call{.service = nullptr, .action = "CreateSecurityGroup",
              .params = {{"GroupName", name}, {"GroupDescription", fmt::format("keel {}", request.tags.address)},
                         {"VpcId", *network}},
              .idempotent = false, .progress = request.progress};
    tag_at_creation(call.params, "security-group", request.tags, name);
    kit::report(request.progress, fmt::format("creating security group {}", name));
    auto lookup = [&]() {
      return find_tagged(c_.api, "DescribeSecurityGroups", "securityGroupInfo", "groupId", request.tags);
    };
    auto sent = c_.api.send_once(call, lookup);
    source_.invalidate();
    std::string id;
    if (!sent) {
      // A retry after a lost answer AWS saw: the group exists by its name.
      auto failure = take_failure();
      if (!failure || failure->code != "InvalidGroup.Duplicate") return fail(sent.error());
      auto found = lookup();
      if (!found) return fail(found.error());
      if (!*found) return fail(sent.error());
      id = (*found)->value("id", "");
    } else {
      id = sent->adopted ? sent->body.value("id", "") : field_string(sent->body, "groupId");
    }
    if (id.empty()) return fail(ErrorCode::Protocol, "EC2 CreateSecurityGroup: the answer holds no groupId");
    // From here the group exists: no error may read as a refusal.
    auto group = wait_listed(id, request.progress);
    if (!group) return fail(kit::after_made("security group", id, group.error()));
    auto edited = edit(id, held_permissions(*group), *wanted, request.progress);
    if (!edited) return fail(kit::after_made("security group", id, edited.error()));
    auto answered = answer<provider::CreateResponse>(id, request.config, request.progress);
    if (!answered) return fail(kit::after_made("security group", id, answered.error()));
    return answered;
  }

  Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) override {
    auto wanted = wanted_permissions(request.config);
    if (!wanted) return fail(wanted.error());
    auto group = current(request.id, request.progress);
    if (!group) return fail(group.error());
    if (!*group) return fail(ErrorCode::NotFound, fmt::format("security group {} is gone", request.id));
    auto edited = edit(request.id, held_permissions(**group), *wanted, request.progress);
    if (!edited) return fail(edited.error());
    auto created = answer<provider::CreateResponse>(request.id, request.config, request.progress);
    if (!created) return fail(created.error());
    return provider::UpdateResponse{std::move(created->attributes)};
  }

  Status remove(const provider::DeleteRequest& request) override {
    kit::report(request.progress, fmt::format("deleting security group {}", request.id));
    const std::string& id = request.id;
    auto unused = wait_instances_gone(c_, fmt::format("the instances using security group {}", id),
                                      [&](const json& i) {
                                        for (const json& g : items(i, "groupSet"))
                                          if (field_string(g, "groupId") == id) return true;
                                        return false;
                                      },
                                      request.progress, request.waiting);
    if (!unused) return fail(unused.error());
    auto gone = send_patiently(c_.api, {.service = nullptr, .action = "DeleteSecurityGroup",
                                        .params = {{"GroupId", request.id}}, .idempotent = true,
                                        .progress = request.progress});
    source_.invalidate();
    return gone;
  }

 protected:
  Result<std::optional<json>> fetch(const std::string& id) override {
    Params params;
    add_filter(params, "group-id", {id});
    return describe_one(c_.api, "DescribeSecurityGroups", params, "securityGroupInfo", "groupId");
  }

  Result<json> attributes(const json& group, const json& known) override {
    json a = json::object();
    a["id"] = group.value("id", "");
    a["network"] = field_string(group, "vpcId");
    a["name"] = field_string(group, "groupName");
    a["arn"] = ec2_arn(c_, group, "security-group/" + group.value("id", ""));
    const Permissions held = held_permissions(group);
    auto known_permissions = wanted_permissions(known);
    // The user's spelling (order, ports "22" or "22-22") when it means what AWS holds.
    a["inbound"] = known_permissions && *known_permissions == held && value_of(known, "inbound").is_array()
                       ? value_of(known, "inbound")
                       : rules_of(held);
    return a;
  }

 private:
  Result<json> wait_listed(const std::string& id, const ProgressFn& progress) {
    kit::Watch watch;
    watch.what = fmt::format("security group {}", id);
    watch.goal = "to be listed";
    watch.id = id;
    watch.source = &source_;
    watch.fetch_one = [this, id]() { return fetch(id); };
    watch.done = [](const json&) -> Result<bool> { return true; };
    watch.missing_polls_allowed = 10;
    return c_.poller.until(watch, progress);
  }

  Status edit(const std::string& id, const Permissions& held, const Permissions& wanted, const ProgressFn& progress) {
    std::vector<Permission> revoke, grant;
    for (const auto& p : held)
      if (!wanted.contains(p)) revoke.push_back(p);
    for (const auto& p : wanted)
      if (!held.contains(p)) grant.push_back(p);
    if (!grant.empty()) {
      Call call{.service = nullptr, .action = "AuthorizeSecurityGroupIngress", .params = {{"GroupId", id}},
                .idempotent = true, .progress = progress};
      add_permissions(call.params, grant);
      kit::report(progress, fmt::format("security group {}: allowing {} more source(s)", id, grant.size()));
      auto done = c_.api.send(call);
      if (!done) {
        auto failure = take_failure();  // a retry of a call AWS ran: already there
        if (!failure || failure->code != "InvalidPermission.Duplicate") return fail(done.error());
      }
    }
    if (!revoke.empty()) {
      Call call{.service = nullptr, .action = "RevokeSecurityGroupIngress", .params = {{"GroupId", id}},
                .idempotent = true, .progress = progress};
      add_permissions(call.params, revoke);
      kit::report(progress, fmt::format("security group {}: revoking {} source(s)", id, revoke.size()));
      auto done = c_.api.send(call);
      if (!done) {
        auto failure = take_failure();
        if (!failure || failure->code != "InvalidPermission.NotFound") return fail(done.error());
      }
    }
    source_.invalidate();
    return {};
  }

  template <typename Response>
  Result<Response> answer(const std::string& id, const json& config, const ProgressFn& progress) {
    auto group = current(id, progress);
    if (!group) return fail(group.error());
    if (!*group) return fail(ErrorCode::NotFound, fmt::format("security group {} is gone", id));
    auto a = attributes(**group, config);
    if (!a) return fail(a.error());
    return Response{id, std::move(*a)};
  }
};

}  // namespace

provider::KindSchema firewalls_schema() {
  using T = AttributeType;
  return {"firewalls",
          "AWS security groups: inbound rules, edited one by one in place.",
          {
              Attr("network", T::String, "The network's id (`${networks.NAME.id}`).").required().force_new(),
              Attr("inbound", T::List,
                   "Rules: {protocol: tcp|udp|icmp|all, ports: \"22\" or \"8000-8100\", from: [CIDR, ...]}. "
                   "Changed in place, rule by rule.")
                  .optional()
                  .default_to(json::array()),
              Attr("id", T::String, "The security group id.").computed(),
              Attr("arn", T::String, "The security group's ARN.").computed(),
              Attr("name", T::String, "The group name: `<project>-<name>`.").computed(),
          }};
}

std::unique_ptr<kit::Kind> make_firewalls(Context& context) { return std::make_unique<Firewalls>(context); }

}  // namespace keel::aws

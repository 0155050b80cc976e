// load_balancers: Elastic Load Balancing v2, application (ALB) or network
// (NLB) load balancers, with a target group per rule target and a listener
// per rule.
//
// id      the load balancer's ARN (every ELBv2 call takes it).
// create  CreateLoadBalancer named from the intent (`<project>-<address>`
//         fitted to ELBv2's 32 characters) and tagged at creation; a lost
//         answer, or one of ours of that name already, is found by that
//         name and checked by its tags, and completed. Waits for
//         `active`, then converges its parts: a target group per distinct
//         rule target (named from the intent and the target, tagged, with
//         the health check), the instances of `targets` registered in each,
//         a listener per rule forwarding to its target group. A load
//         balancer that this create's own CreateLoadBalancer answered has
//         no listeners and no target groups yet, and a target group just
//         made has no targets: those are not described.
// read    every load balancer of the region (one DescribeLoadBalancers:
//         ELBv2 filters by no tag), then the listeners, target groups and
//         registered targets of this one.
// update  subnets (SetSubnets) and firewalls (SetSecurityGroups) in place;
//         rules, targets and health check converge in place (listeners
//         created, modified or deleted; RegisterTargets/DeregisterTargets;
//         ModifyTargetGroup); type is force-new.
// delete  the load balancer (its listeners go with it), then, beside the
//         look that sees it gone, its target groups (as state records
//         them; retried while ELBv2 still holds them).

#include <algorithm>
#include <cctype>
#include <charconv>
#include <future>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "plugins/aws/kind.h"

namespace keel::aws {

namespace {

using kit::field_string;
using kit::value_of;

constexpr size_t kNameLimit = 32;  // ELBv2's names of load balancers and target groups

struct Endpoint {
  std::string protocol;  // lower case: http, tcp, ...
  long long port = 0;
  std::string text() const { return fmt::format("{}:{}", protocol, port); }
  bool operator<(const Endpoint& o) const { return std::tie(protocol, port) < std::tie(o.protocol, o.port); }
  bool operator==(const Endpoint& o) const = default;
};

struct Rule {
  Endpoint entry, target;
};

// The health check as ELBv2 holds it: path ("" for a TCP check) and port
// ("traffic-port" or a number).
struct Health {
  std::string path;
  std::string port = "traffic-port";
  bool operator==(const Health& o) const = default;
};

struct Wanted {
  std::string type;
  std::vector<std::string> subnets, firewalls, targets;
  std::vector<Rule> rules;
  Health health;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += fmt::format("{}{}", out.empty() ? "" : ", ", i);
  return out;
}

std::vector<std::string> protocols_of(const std::string& type) {
  if (type == "network") return {"tcp", "udp", "tcp_udp"};
  return {"http"};  // HTTPS needs a certificate, which keel does not manage yet
}

Result<long long> port_number(const std::string& text, const std::string& what) {
  long long port = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535)
    return fail(ErrorCode::InvalidConfig, fmt::format("`{}` \"{}\": the port must be 1 to 65535", what, text));
  return port;
}

// A number in an answer (XML text), 0 when it is none.
long long number(const std::string& text) {
  long long n = 0;
  std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

// "http:80" -> {http, 80}
Result<Endpoint> endpoint(const json& value, const std::string& what, const std::string& type) {
  if (!value.is_string())
    return fail(ErrorCode::InvalidConfig, fmt::format("`{}` must be a string like \"http:80\"", what));
  const std::string text = value.get<std::string>();
  const auto colon = text.find(':');
  if (colon == std::string::npos)
    return fail(ErrorCode::InvalidConfig, fmt::format("`{}` \"{}\" must be PROTOCOL:PORT, like \"http:80\"", what, text));
  const std::string protocol = lower(text.substr(0, colon));
  const auto allowed = protocols_of(type);
  if (std::find(allowed.begin(), allowed.end(), protocol) == allowed.end())
    return fail(ErrorCode::InvalidConfig, fmt::format("`{}` \"{}\": {} load balancer takes {}", what, text,
                                                      type == "application" ? "an application" : "a network",
                                                      joined(allowed)));
  auto port = port_number(text.substr(colon + 1), what);
  if (!port) return fail(ErrorCode::InvalidConfig, fmt::format("`{}` \"{}\": the port must be 1 to 65535", what, text));
  return Endpoint{protocol, *port};
}

Result<std::vector<Rule>> rules_of(const json& config, const std::string& type) {
  const json& list = value_of(config, "rules");
  if (!list.is_array() || list.empty())
    return fail(ErrorCode::InvalidConfig, "`rules` must list at least one rule, like {entry: \"http:80\", target: \"http:8080\"}");
  std::vector<Rule> rules;
  std::set<long long> entries;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = fmt::format("rules[{}]", i);
    const json& r = list[i];
    if (!r.is_object())
      return fail(ErrorCode::InvalidConfig, fmt::format("`{}` must be a map like {{entry: \"http:80\", target: \"http:8080\"}}", where));
    for (auto it = r.begin(); it != r.end(); ++it)
      if (it.key() != "entry" && it.key() != "target")
        return fail(ErrorCode::InvalidConfig, fmt::format("`{}` has an unknown setting `{}` (entry, target)", where, it.key()));
    auto entry = endpoint(value_of(r, "entry"), where + ".entry", type);
    if (!entry) return fail(entry.error());
    auto target = endpoint(value_of(r, "target"), where + ".target", type);
    if (!target) return fail(target.error());
    if (!entries.insert(entry->port).second)
      return fail(ErrorCode::InvalidConfig, fmt::format("`{}`: port {} has a rule already", where, entry->port));
    rules.push_back({*entry, *target});
  }
  return rules;
}

Result<Health> health_of(const json& config, const std::string& type) {
  Health health{.path = type == "application" ? std::string("/") : std::string(), .port = "traffic-port"};
  const json& h = value_of(config, "health_check");
  if (h.is_null()) return health;
  if (!h.is_object()) return fail(ErrorCode::InvalidConfig, "`health_check` must be a map like {path: /healthz, port: 8080}");
  for (auto it = h.begin(); it != h.end(); ++it)
    if (it.key() != "path" && it.key() != "port")
      return fail(ErrorCode::InvalidConfig, fmt::format("`health_check` has an unknown setting `{}` (path, port)", it.key()));
  auto path = kit::optional_string(h, "path");
  if (!path) return fail(path.error().with_context("health_check"));
  if (*path) {
    if (!(*path)->starts_with("/") || (*path)->size() > 1024)
      return fail(ErrorCode::InvalidConfig, "`health_check.path` must start with / (at most 1024 characters)");
    health.path = **path;
  }
  const json& port = value_of(h, "port");
  if (port.is_number_integer()) {
    auto n = port_number(std::to_string(port.get<long long>()), "health_check.port");
    if (!n) return fail(n.error());
    health.port = std::to_string(*n);
  } else if (port.is_string() && port.get<std::string>() != "traffic-port") {
    auto n = port_number(port.get<std::string>(), "health_check.port");
    if (!n) return fail(n.error());
    health.port = std::to_string(*n);
  } else if (!port.is_null() && !port.is_string()) {
    return fail(ErrorCode::InvalidConfig, "`health_check.port` must be a port number or traffic-port");
  }
  return health;
}

Result<Wanted> wanted_of(const json& config) {
  Wanted w;
  auto type = kit::required_string(config, "type");
  if (!type) return fail(type.error());
  if (*type != "application" && *type != "network")
    return fail(ErrorCode::InvalidConfig, fmt::format("`type` \"{}\" must be application or network", *type));
  w.type = *type;
  for (auto [name, out] : {std::pair{"subnets", &w.subnets}, {"firewalls", &w.firewalls}, {"targets", &w.targets}}) {
    auto list = kit::string_list(config, name);
    if (!list) return fail(list.error());
    *out = sorted_copy(std::move(*list));
  }
  if (w.subnets.empty()) return fail(ErrorCode::InvalidConfig, "`subnets` must list at least one subnet id");
  if (w.type == "application" && w.subnets.size() < 2)
    return fail(ErrorCode::InvalidConfig, "`subnets`: an application load balancer needs subnets in two zones at least");
  auto rules = rules_of(config, w.type);
  if (!rules) return fail(rules.error());
  w.rules = std::move(*rules);
  auto health = health_of(config, w.type);
  if (!health) return fail(health.error());
  w.health = *health;
  return w;
}

// The distinct targets of the rules: one target group each.
std::vector<Endpoint> targets_of(const Wanted& w) {
  std::set<Endpoint> set;
  for (const Rule& r : w.rules) set.insert(r.target);
  return {set.begin(), set.end()};
}

std::string group_name(const provider::ResourceTags& tags, const Endpoint& target) {
  std::string protocol = target.protocol;
  std::replace(protocol.begin(), protocol.end(), '_', '-');
  return fitted_name(tags, fmt::format("-{}{}", protocol, target.port), kNameLimit);
}

Health health_in(const json& group) {
  Health h;
  const std::string protocol = field_string(group, "HealthCheckProtocol");
  if (protocol == "HTTP" || protocol == "HTTPS") h.path = field_string(group, "HealthCheckPath");
  h.port = field_string(group, "HealthCheckPort");
  if (h.port.empty()) h.port = "traffic-port";
  return h;
}

json health_json(const Health& h) {
  json out = json::object();
  if (!h.path.empty()) out["path"] = h.path;
  if (h.port == "traffic-port") out["port"] = h.port;
  else out["port"] = number(h.port);
  return out;
}

void add_health(Params& params, const Health& h, const Endpoint& target) {
  const bool http = !h.path.empty();
  params.emplace_back("HealthCheckProtocol", http ? (target.protocol == "https" ? "HTTPS" : "HTTP") : "TCP");
  params.emplace_back("HealthCheckPort", h.port);
  if (http) params.emplace_back("HealthCheckPath", h.path);
}

class LoadBalancers final : public TaggedKind {
 public:
  explicit LoadBalancers(Context& c) : TaggedKind(c, c.sources.load_balancers) {}

  using GroupArns = std::map<Endpoint, std::string>;  // target group ARN by rule target

  Result<provider::CreateResponse> create(const provider::CreateRequest& request) override {
    auto w = wanted_of(request.config);
    if (!w) return fail(w.error());
    const std::string name = fitted_name(request.tags, "", kNameLimit);
    Call call{.service = &elbv2_service(), .action = "CreateLoadBalancer",
              .params = {{"Name", name}, {"Type", w->type}, {"Scheme", "internet-facing"}},
              .idempotent = false, .progress = request.progress};
    add_members(call.params, "Subnets", w->subnets);
    if (!w->firewalls.empty()) add_members(call.params, "SecurityGroups", w->firewalls);
    add_tags(call.params, keel_tags(request.tags, name));
    // One of ours by this name already (a create whose parts failed with an
    // error that told keel nothing was made): completed, not made twice.
    auto existing = by_name(name, request.tags);
    if (!existing) return fail(existing.error());
    Sent sent_or_found{*existing ? **existing : json(), existing->has_value()};
    if (!*existing) {
      kit::report(request.progress, fmt::format("creating {} load balancer {}", w->type, name));
      auto sent = c_.api.send_once(call, [&]() { return by_name(name, request.tags); });
      source_.invalidate();
      if (!sent) return fail(sent.error());
      sent_or_found = std::move(*sent);
    }
    const Sent* sent = &sent_or_found;
    json lb = sent->adopted ? sent->body : json();
    if (!sent->adopted) {
      auto list = items(result_of(sent->body, "CreateLoadBalancer"), "LoadBalancers");
      if (!list.empty()) lb = list.front();
    }
    const std::string arn = field_string(lb, "LoadBalancerArn");
    if (arn.empty()) return fail(ErrorCode::Protocol, "ELBv2 CreateLoadBalancer: the answer holds no LoadBalancerArn");
    // The target groups need the VPC, not the load balancer: they are made
    // and their targets registered while it provisions.
    const std::string vpc = field_string(lb, "VpcId");
    std::future<Result<GroupArns>> groups;
    if (!vpc.empty())
      groups = std::async(std::launch::async, [&] { return ensure_groups(vpc, *w, request.tags, request.progress); });
    auto active = wait_active(arn, request.progress, request.waiting);
    std::optional<Result<GroupArns>> made_groups;
    if (groups.valid()) made_groups = groups.get();
    if (!active) return fail(active.error());
    if (made_groups && !*made_groups)
      return fail(made_groups->error().with_context(fmt::format("load balancer {}", name)));
    const bool made_here = !sent->adopted;  // neither found by name first nor after a lost answer
    auto parts = converge(arn, field_string(*active, "VpcId"), *w, request.tags, request.progress, made_here,
                          made_groups ? &**made_groups : nullptr);
    if (!parts) return fail(parts.error().with_context(fmt::format("load balancer {}", name)));
    auto a = made_here && made_groups ? attributes_with(*active, request.config, parts_made(*w, **made_groups))
                                      : attributes(*active, request.config);
    if (!a) return fail(a.error());
    return provider::CreateResponse{arn, std::move(*a)};
  }

  Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) override {
    auto w = wanted_of(request.config);
    if (!w) return fail(w.error());
    auto lb = current(request.id, request.progress);
    if (!lb) return fail(lb.error());
    if (!*lb) return fail(ErrorCode::NotFound, fmt::format("load balancer {} is gone", request.id));
    if (subnets_in(**lb) != w->subnets) {
      Call call{.service = &elbv2_service(), .action = "SetSubnets", .params = {{"LoadBalancerArn", request.id}},
                .idempotent = true, .progress = request.progress};
      add_members(call.params, "Subnets", w->subnets);
      auto done = c_.api.send(call);
      if (!done) return fail(done.error());
    }
    if (firewalls_in(**lb) != w->firewalls) {
      Call call{.service = &elbv2_service(), .action = "SetSecurityGroups", .params = {{"LoadBalancerArn", request.id}},
                .idempotent = true, .progress = request.progress};
      add_members(call.params, "SecurityGroups", w->firewalls);
      auto done = c_.api.send(call);
      if (!done) return fail(done.error());
    }
    auto parts = converge(request.id, field_string(**lb, "VpcId"), *w, request.tags, request.progress);
    if (!parts) return fail(parts.error());
    source_.invalidate();
    auto now = current(request.id, request.progress);
    if (!now) return fail(now.error());
    if (!*now) return fail(ErrorCode::NotFound, fmt::format("load balancer {} is gone", request.id));
    auto a = attributes(**now, request.config);
    if (!a) return fail(a.error());
    return provider::UpdateResponse{std::move(*a)};
  }

  Status remove(const provider::DeleteRequest& request) override {
    const std::string& arn = request.id;
    kit::report(request.progress, fmt::format("deleting load balancer {}", arn));
    auto groups = groups_to_delete(arn, request.attributes);
    if (!groups) return fail(groups.error());
    // Its listeners go with it.
    auto done = elb({"DeleteLoadBalancer", {{"LoadBalancerArn", arn}}}, request.progress);
    source_.invalidate();
    if (!done && !not_found(done.error())) return fail(done.error());
    // What waits for this delete (the servers behind it) may start only
    // once the load balancer is gone and its target groups with it: the
    // first look that sees it gone goes at once, beside the target groups'
    // deletes (retried while ELBv2 still holds them), not one after the
    // other.
    std::future<Status> gone;
    if (done) gone = std::async(std::launch::async, [&] { return wait_gone(arn, request.progress, request.waiting); });
    Status groups_gone = delete_groups(*groups, request.progress);
    if (gone.valid())
      if (Status g = gone.get(); !g) return g;
    return groups_gone;
  }

  Result<provider::FindResponse> find(const provider::FindRequest& request) override {
    if (!request.id.empty()) return TaggedKind::find(request);
    auto lb = by_name(fitted_name(request.tags, "", kNameLimit), request.tags);
    if (!lb) return fail(lb.error());
    if (!*lb) return provider::FindResponse{false, "", json::object()};
    auto a = attributes(**lb, request.config);
    if (!a) return fail(a.error());
    return provider::FindResponse{true, (*lb)->value("id", ""), std::move(*a)};
  }

 protected:
  Result<std::optional<json>> fetch(const std::string& arn) override {
    auto found = query_describe(c_.api, elbv2_service(), "DescribeLoadBalancers", {{"LoadBalancerArns.member.1", arn}},
                                "LoadBalancers", "LoadBalancerArn");
    if (!found) {
      if (not_found(found.error())) return std::optional<json>();
      return fail(found.error());
    }
    if (found->empty()) return std::optional<json>();
    return std::optional<json>(found->front());
  }

  Result<json> attributes(const json& lb, const json& known) override {
    const std::string arn = field_string(lb, "LoadBalancerArn");
    // The listeners and the target groups need nothing of each other: read
    // side by side (a refresh's longest chain of requests is this read).
    auto listening = std::async(std::launch::async, [&] { return listeners_of(arn); });
    auto groups = groups_of(arn);
    auto listeners = listening.get();
    if (!listeners) return fail(listeners.error());
    if (!groups) return fail(groups.error());
    std::map<std::string, json> by_arn;
    Parts parts;
    for (const json& g : *groups) {
      by_arn[g.value("id", "")] = g;
      parts.group_arns.push_back(g.value("id", ""));
    }
    for (const json& l : *listeners) {
      const json& g = by_arn[forward_target(l)];
      parts.rules.push_back({{"entry", fmt::format("{}:{}", lower(field_string(l, "Protocol")), field_string(l, "Port"))},
                             {"target", fmt::format("{}:{}", lower(field_string(g, "Protocol")), field_string(g, "Port"))}});
    }
    std::set<std::string> seen;
    for (const json& g : *groups) {
      auto registered = targets_in(g.value("id", ""));
      if (!registered) return fail(registered.error());
      for (const std::string& t : *registered)
        if (seen.insert(t).second) parts.targets.push_back(t);
    }
    parts.health = groups->empty() ? json() : health_json(health_in(groups->front()));
    return attributes_with(lb, known, parts);
  }

 private:
  // What a load balancer's listeners, target groups and targets amount to,
  // as attributes show them.
  struct Parts {
    json group_arns = json::array();
    json rules = json::array();
    json targets = json::array();
    json health;
  };

  // The parts a create just made as `w` says (each call accepted), without
  // describing them again: three requests fewer at the end of the apply's
  // critical path. The next refresh reads them from the cloud.
  static Parts parts_made(const Wanted& w, const GroupArns& groups) {
    Parts parts;
    for (const auto& [target, arn] : groups) parts.group_arns.push_back(arn);
    for (const Rule& r : w.rules) parts.rules.push_back({{"entry", r.entry.text()}, {"target", r.target.text()}});
    for (const std::string& t : w.targets) parts.targets.push_back(t);
    parts.health = groups.empty() ? json() : health_json(w.health);
    return parts;
  }

  Result<json> attributes_with(const json& lb, const json& known, const Parts& parts) {
    const std::string arn = field_string(lb, "LoadBalancerArn");
    json a = json::object();
    a["id"] = arn;
    a["arn"] = arn;
    a["name"] = field_string(lb, "LoadBalancerName");
    a["type"] = field_string(lb, "Type");
    a["dns_name"] = field_string(lb, "DNSName");
    a["status"] = field_string(value_of(lb, "State"), "Code");
    a["network"] = field_string(lb, "VpcId");
    a["subnets"] = kit::prefer_known(value_of(known, "subnets"), subnets_in(lb), [](const json& v) { return kit::sorted(v); });
    a["firewalls"] = kit::prefer_known(value_of(known, "firewalls"), firewalls_in(lb), [](const json& v) { return kit::sorted(v); });
    a["target_groups"] = kit::sorted(parts.group_arns);
    const std::string type = field_string(lb, "Type");
    a["rules"] = kit::prefer_known(value_of(known, "rules"), parts.rules, [&](const json& v) { return canonical_rules(v, type); });
    a["targets"] = kit::prefer_known(value_of(known, "targets"), parts.targets, [](const json& v) { return kit::sorted(v); });
    a["health_check"] = kit::prefer_known(value_of(known, "health_check"), parts.health, [&](const json& v) {
      auto h = health_of(json{{"health_check", v}}, type);
      return h ? health_json(*h) : v;
    });
    return a;
  }

 private:
  struct Op {
    std::string action;
    Params params;
  };

  Result<json> elb(const Op& op, const ProgressFn& progress) {
    return c_.api.send({.service = &elbv2_service(), .action = op.action, .params = op.params, .idempotent = true,
                        .progress = progress});
  }

  static void add_tags(Params& params, const std::vector<std::pair<std::string, std::string>>& tags) {
    for (size_t i = 0; i < tags.size(); ++i) {
      params.emplace_back(fmt::format("Tags.member.{}.Key", i + 1), tags[i].first);
      params.emplace_back(fmt::format("Tags.member.{}.Value", i + 1), tags[i].second);
    }
  }

  static json subnets_in(const json& lb) {
    std::vector<std::string> out;
    for (const json& z : items(lb, "AvailabilityZones")) out.push_back(field_string(z, "SubnetId"));
    return sorted_copy(std::move(out));
  }

  static json firewalls_in(const json& lb) {
    std::vector<std::string> out;
    for (const json& g : items(lb, "SecurityGroups"))
      if (g.is_string()) out.push_back(g.get<std::string>());
    return sorted_copy(std::move(out));
  }

  static std::string forward_target(const json& listener) {
    for (const json& action : items(listener, "DefaultActions"))
      if (field_string(action, "Type") == "forward") return field_string(action, "TargetGroupArn");
    return "";
  }

  static json canonical_rules(const json& rules, const std::string& type) {
    json out = json::array();
    if (!rules.is_array()) return out;
    auto parsed = rules_of(json{{"rules", rules}}, type);
    if (!parsed) return kit::sorted(rules);
    for (const Rule& r : *parsed) out.push_back({{"entry", r.entry.text()}, {"target", r.target.text()}});
    return kit::sorted(out);
  }

  // Whether the ELBv2 resource `arn` carries keel's tags for `tags`: only
  // such a one is adopted by its name, never a stranger's of that name.
  Result<bool> ours(const std::string& arn, const provider::ResourceTags& tags) {
    auto described = elb({"DescribeTags", {{"ResourceArns.member.1", arn}}}, {});
    if (!described) return fail(described.error());
    for (const json& d : items(result_of(*described, "DescribeTags"), "TagDescriptions"))
      if (member_tag(d, kProjectTag) == tags.project && member_tag(d, kAddressTag) == tags.address) return true;
    return false;
  }

  // The one of `found` (what a Describe by `name` answered) that is ours;
  // Conflict when one of that name is someone else's: ELBv2 names are
  // unique in the region, so keel can neither make its own nor take that.
  Result<std::optional<json>> ours_of(const std::vector<json>& found, const std::string& what, const std::string& name,
                                      const provider::ResourceTags& tags) {
    for (const json& item : found) {
      auto mine = ours(item.value("id", ""), tags);
      if (!mine) return fail(mine.error());
      if (*mine) return std::optional<json>(item);
      return fail(ErrorCode::Conflict,
                  fmt::format("a {} named {} exists without keel's tags for {} in project {}: keel takes over "
                              "nothing it did not make; delete or rename that one",
                              what, name, tags.address, tags.project));
    }
    return std::optional<json>();
  }

  // The load balancer named `name` if it is ours (what a lost
  // CreateLoadBalancer made); Conflict when it is someone else's.
  Result<std::optional<json>> by_name(const std::string& name, const provider::ResourceTags& tags) {
    auto found = query_describe(c_.api, elbv2_service(), "DescribeLoadBalancers", {{"Names.member.1", name}},
                                "LoadBalancers", "LoadBalancerArn");
    if (!found) {
      if (not_found(found.error())) return std::optional<json>();
      return fail(found.error());
    }
    return ours_of(*found, "load balancer", name, tags);
  }

  Result<std::vector<json>> listeners_of(const std::string& arn) {
    return query_describe(c_.api, elbv2_service(), "DescribeListeners", {{"LoadBalancerArn", arn}}, "Listeners",
                          "ListenerArn");
  }

  // The target groups its listeners forward to (moto answers
  // TargetGroupNotFound where AWS answers none).
  Result<std::vector<json>> groups_of(const std::string& arn) {
    auto found = query_describe(c_.api, elbv2_service(), "DescribeTargetGroups", {{"LoadBalancerArn", arn}},
                                "TargetGroups", "TargetGroupArn");
    if (!found && not_found(found.error())) return std::vector<json>();
    return found;
  }

  // The target group named `name` if it is ours; Conflict when it is
  // someone else's.
  Result<std::optional<json>> group_named(const std::string& name, const provider::ResourceTags& tags) {
    auto found = query_describe(c_.api, elbv2_service(), "DescribeTargetGroups", {{"Names.member.1", name}},
                                "TargetGroups", "TargetGroupArn");
    if (!found) {
      if (not_found(found.error())) return std::optional<json>();
      return fail(found.error());
    }
    return ours_of(*found, "target group", name, tags);
  }

  Result<std::vector<std::string>> targets_in(const std::string& group) {
    auto described = elb({"DescribeTargetHealth", {{"TargetGroupArn", group}}}, {});
    if (!described) return fail(described.error());
    std::vector<std::string> out;
    for (const json& d : items(result_of(*described, "DescribeTargetHealth"), "TargetHealthDescriptions"))
      out.push_back(field_string(value_of(d, "Target"), "Id"));
    return sorted_copy(std::move(out));
  }

  // The target groups, their targets and health check, and the listeners
  // as `w` says: whatever exists already is kept or edited, what is
  // missing is made, what is no longer wanted goes.
  // The target group of each rule target, made when missing, as `w` says.
  Result<GroupArns> ensure_groups(const std::string& vpc, const Wanted& w, const provider::ResourceTags& tags,
                                  const ProgressFn& progress) {
    GroupArns group_arns;
    for (const Endpoint& target : targets_of(w)) {
      auto group = ensure_group(vpc, target, w, tags, progress);
      if (!group) return fail(group.error());
      group_arns[target] = *group;
    }
    return group_arns;
  }

  // `made_here`: the load balancer was just made by this create, so it has
  // no parts to describe. `groups`: its target groups, already ensured.
  Status converge(const std::string& arn, const std::string& vpc, const Wanted& w, const provider::ResourceTags& tags,
                  const ProgressFn& progress, bool made_here = false, const GroupArns* groups = nullptr) {
    auto before = made_here ? Result<std::vector<json>>(std::vector<json>()) : groups_of(arn);
    if (!before) return fail(before.error());
    GroupArns group_arns;
    if (groups) group_arns = *groups;
    else {
      auto ensured = ensure_groups(vpc, w, tags, progress);
      if (!ensured) return fail(ensured.error());
      group_arns = std::move(*ensured);
    }
    auto listeners = made_here ? Result<std::vector<json>>(std::vector<json>()) : listeners_of(arn);
    if (!listeners) return fail(listeners.error());
    std::map<long long, json> by_port;
    for (const json& l : *listeners) by_port[number(field_string(l, "Port"))] = l;
    for (const Rule& r : w.rules) {
      auto it = by_port.find(r.entry.port);
      Params params{{"Protocol", upper(r.entry.protocol)}, {"Port", std::to_string(r.entry.port)},
                    {"DefaultActions.member.1.Type", "forward"},
                    {"DefaultActions.member.1.TargetGroupArn", group_arns[r.target]}};
      if (it == by_port.end()) {
        params.emplace_back("LoadBalancerArn", arn);
        kit::report(progress, fmt::format("adding listener {} -> {}", r.entry.text(), r.target.text()));
        auto made = c_.api.send_once({.service = &elbv2_service(), .action = "CreateListener", .params = params,
                                      .idempotent = false, .progress = progress},
                                     [&]() -> Result<std::optional<json>> {
                                       auto now = listeners_of(arn);
                                       if (!now) return fail(now.error());
                                       for (const json& l : *now)
                                         if (field_string(l, "Port") == std::to_string(r.entry.port)) return std::optional<json>(l);
                                       return std::optional<json>();
                                     });
        if (!made) return fail(made.error());
        continue;
      }
      const json& l = it->second;
      if (lower(field_string(l, "Protocol")) != r.entry.protocol || forward_target(l) != group_arns[r.target]) {
        params.emplace_back("ListenerArn", l.value("id", ""));
        kit::report(progress, fmt::format("changing listener {} -> {}", r.entry.text(), r.target.text()));
        auto done = elb({"ModifyListener", params}, progress);
        if (!done) return fail(done.error());
      }
      by_port.erase(it);
    }
    for (const auto& [port, l] : by_port) {
      kit::report(progress, fmt::format("removing listener on port {}", port));
      auto done = elb({"DeleteListener", {{"ListenerArn", l.value("id", "")}}}, progress);
      if (!done && !not_found(done.error())) return fail(done.error());
    }
    for (const json& g : *before) {
      const std::string id = g.value("id", "");
      bool kept = false;
      for (const auto& [target, group] : group_arns) kept = kept || group == id;
      if (kept) continue;
      auto done = send_patiently(c_.api, {.service = &elbv2_service(), .action = "DeleteTargetGroup",
                                          .params = {{"TargetGroupArn", id}}, .idempotent = true, .progress = progress});
      if (!done) return fail(done.error());
    }
    source_.invalidate();
    return {};
  }

  // The target group of `target` (made when missing, its health check and
  // targets set as `w` says): its ARN.
  Result<std::string> ensure_group(const std::string& vpc, const Endpoint& target, const Wanted& w,
                                   const provider::ResourceTags& tags, const ProgressFn& progress) {
    const std::string name = group_name(tags, target);
    auto group = group_named(name, tags);
    if (!group) return fail(group.error());
    std::string arn;
    bool made_group = false;
    if (!*group) {
      Call call{.service = &elbv2_service(), .action = "CreateTargetGroup",
                .params = {{"Name", name}, {"Protocol", upper(target.protocol)}, {"Port", std::to_string(target.port)},
                           {"VpcId", vpc}, {"TargetType", "instance"}},
                .idempotent = false, .progress = progress};
      add_health(call.params, w.health, target);
      add_tags(call.params, keel_tags(tags, name));
      kit::report(progress, fmt::format("creating target group {}", name));
      auto sent = c_.api.send_once(call, [&]() { return group_named(name, tags); });
      if (!sent) return fail(sent.error());
      json made = sent->adopted ? sent->body : json();
      if (!sent->adopted) {
        auto list = items(result_of(sent->body, "CreateTargetGroup"), "TargetGroups");
        if (!list.empty()) made = list.front();
      }
      arn = field_string(made, "TargetGroupArn");
      if (arn.empty()) return fail(ErrorCode::Protocol, "ELBv2 CreateTargetGroup: the answer holds no TargetGroupArn");
      made_group = !sent->adopted;
    } else {
      arn = (*group)->value("id", "");
      if (health_in(**group) != w.health) {
        Params params{{"TargetGroupArn", arn}};
        add_health(params, w.health, target);
        auto done = elb({"ModifyTargetGroup", params}, progress);
        if (!done) return fail(done.error());
      }
    }
    // A target group made just now holds no targets yet.
    auto registered = made_group ? Result<std::vector<std::string>>(std::vector<std::string>()) : targets_in(arn);
    if (!registered) return fail(registered.error());
    std::vector<std::string> add, drop;
    std::set_difference(w.targets.begin(), w.targets.end(), registered->begin(), registered->end(), std::back_inserter(add));
    std::set_difference(registered->begin(), registered->end(), w.targets.begin(), w.targets.end(), std::back_inserter(drop));
    for (auto [action, ids] : {std::pair{"RegisterTargets", &add}, {"DeregisterTargets", &drop}}) {
      if (ids->empty()) continue;
      Params params{{"TargetGroupArn", arn}};
      for (size_t i = 0; i < ids->size(); ++i) params.emplace_back(fmt::format("Targets.member.{}.Id", i + 1), (*ids)[i]);
      kit::report(progress, fmt::format("{}: {} in {}", action, joined(*ids), name));
      auto done = elb({action, params}, progress);
      if (!done) return fail(done.error());
    }
    return arn;
  }

  // The target groups a delete takes with the load balancer: as state
  // records them (every create, update and refresh writes them), else, for
  // a state without them, those ELBv2 says it forwards to (none when it is
  // gone already). Read before the delete: once the load balancer is gone
  // ELBv2 no longer tells which groups were its.
  Result<std::set<std::string>> groups_to_delete(const std::string& arn, const json& attributes) {
    std::set<std::string> groups;
    const json& recorded = value_of(attributes, "target_groups");
    if (recorded.is_array()) {
      for (const json& g : recorded)
        if (g.is_string() && !g.get<std::string>().empty()) groups.insert(g.get<std::string>());
      return groups;
    }
    auto attached = groups_of(arn);
    if (!attached) return fail(attached.error());
    for (const json& g : *attached)
      if (!g.value("id", "").empty()) groups.insert(g.value("id", ""));
    return groups;
  }

  // DeleteTargetGroup for each, side by side, each retried while ELBv2
  // still holds it (ResourceInUse: the load balancer is still going).
  Status delete_groups(const std::set<std::string>& groups, const ProgressFn& progress) {
    std::vector<std::future<Status>> deleting;
    for (const std::string& g : groups)
      deleting.push_back(std::async(std::launch::async, [this, g, &progress] {
        return send_patiently(c_.api, {.service = &elbv2_service(), .action = "DeleteTargetGroup",
                                       .params = {{"TargetGroupArn", g}}, .idempotent = true, .progress = progress});
      }));
    std::optional<Error> failed;
    for (auto& f : deleting)
      if (Status done = f.get(); !done && !failed) failed = done.error();
    if (failed) return fail(*failed);
    return {};
  }

  Result<json> wait_active(const std::string& arn, const ProgressFn& progress, const provider::WaitingFn& waiting = {}) {
    kit::Watch watch = watch_of(arn);
    watch.goal = "to become active";
    watch.done = [arn](const json& lb) -> Result<bool> {
      const std::string state = field_string(value_of(lb, "State"), "Code");
      if (state == "failed")
        return fail(ErrorCode::Transient, fmt::format("load balancer {} failed: {}", arn,
                                                      field_string(value_of(lb, "State"), "Reason")));
      return state == "active" || state == "active_impaired";
    };
    watch.missing_polls_allowed = 10;  // NotFound right after the create
    return c_.poller.until(watch, progress, waiting);
  }

  Status wait_gone(const std::string& arn, const ProgressFn& progress, const provider::WaitingFn& waiting = {}) {
    kit::Watch watch = watch_of(arn);
    watch.goal = "to be deleted";
    watch.done = [](const json&) -> Result<bool> { return false; };
    watch.gone_is_done = true;
    watch.look_now = true;      // a delete ELBv2 answered is mostly done at once
    watch.fetch_one = nullptr;  // the snapshot lists the region's every load balancer: missing is gone
    auto gone = c_.poller.until(watch, progress, waiting);
    if (!gone && gone.error().code() != ErrorCode::NotFound) return fail(gone.error());
    return {};
  }

  kit::Watch watch_of(const std::string& arn) {
    kit::Watch watch;
    watch.what = fmt::format("load balancer {}", arn);
    watch.id = arn;
    watch.source = &source_;
    watch.fetch_one = [this, arn]() { return fetch(arn); };
    watch.state = [](const json& lb) { return field_string(value_of(lb, "State"), "Code"); };
    return watch;
  }
};

}  // namespace

provider::KindSchema load_balancers_schema() {
  using T = AttributeType;
  return {"load_balancers",
          "AWS Elastic Load Balancing v2: application (ALB) or network (NLB) load balancers.",
          {
              Attr("type", T::String, "application (HTTP) or network (TCP, UDP).").required().force_new().one_of(
                  {"application", "network"}),
              Attr("subnets", T::List, "Subnet ids (an ALB needs two zones). Changed in place.").required(),
              Attr("firewalls", T::List, "Security group ids. Changed in place.").optional().default_to(json::array()),
              Attr("targets", T::List, "Instance ids to balance (`${servers.web[*].id}`). Changed in place.")
                  .optional()
                  .default_to(json::array()),
              Attr("rules", T::List,
                   "Listeners: {entry: \"http:80\", target: \"http:8080\"}; a target group per distinct target. "
                   "Changed in place.")
                  .required(),
              Attr("health_check", T::Map,
                   "{path, port}: HTTP(S) checks with a path, TCP without; port defaults to the target's. "
                   "Changed in place.")
                  .optional()
                  .computed(),
              Attr("id", T::String, "The load balancer's ARN.").computed(),
              Attr("arn", T::String, "The load balancer's ARN.").computed(),
              Attr("name", T::String, "`<project>-<address>` fitted to 32 characters (keel finds it by this name).")
                  .computed(),
              Attr("dns_name", T::String, "The DNS name to point clients at.").computed(),
              Attr("status", T::String, "provisioning, active, active_impaired or failed.").computed(),
              Attr("network", T::String, "The VPC id.").computed(),
              Attr("target_groups", T::List, "ARNs of its target groups.").computed(),
          }};
}

std::unique_ptr<kit::Kind> make_load_balancers(Context& context) { return std::make_unique<LoadBalancers>(context); }

}  // namespace keel::aws

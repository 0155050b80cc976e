// firewalls: DigitalOcean Cloud Firewalls, a NamedKind (named_kind.h: found
// by name, changed with one PUT of the whole configuration). A firewall's
// `tags` are the droplet tags it applies to, not tags of its own. It has
// settled when its status is `succeeded`.
//
// A rule is `{protocol: tcp, ports: "22", from: ["0.0.0.0/0"]}` (outbound:
// `to`), or the short form `{tcp: 22, from: [...]}`; besides addresses,
// `from_tags`, `from_droplet_ids` and `from_load_balancers` (`to_...`). Ports
// are "22", "8000-9000" or "all". An inbound rule must say where traffic may
// come from; an outbound rule without `to` allows every destination.

#include <charconv>

#include <fmt/format.h>

#include "plugins/digitalocean/attributes.h"
#include "plugins/digitalocean/named_kind.h"
#include "plugins/digitalocean/naming.h"

namespace keel::digitalocean {

namespace {

const json& everywhere() {
  static const json all = json::array({"0.0.0.0/0", "::/0"});
  return all;
}

// Which way a rule points: the names of its settings and of the API's.
struct Direction {
  std::string attribute;  // "inbound"
  std::string peer;       // "from"
  std::string api_rules;  // "inbound_rules"
  std::string api_peers;  // "sources"
  bool inbound;
};

const Direction kInbound{"inbound", "from", "inbound_rules", "sources", true};
const Direction kOutbound{"outbound", "to", "outbound_rules", "destinations", false};

bool valid_port(const std::string& text) {
  long long n = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  return !text.empty() && error == std::errc() && end == text.data() + text.size() && n >= 1 && n <= 65535;
}

// "22", "8000-9000", "all" (or 22) -> the API's "22", "8000-9000", "0".
Result<std::string> ports_of(const json& value, const std::string& where) {
  const std::string hint = fmt::format("`{}` must be a port (\"22\"), a range (\"8000-9000\") or \"all\"", where);
  if (value.is_number_integer()) {
    const std::string text = std::to_string(value.get<long long>());
    if (!valid_port(text)) return fail(ErrorCode::InvalidConfig, hint);
    return text;
  }
  if (!value.is_string()) return fail(ErrorCode::InvalidConfig, hint);
  const std::string text = value.get<std::string>();
  if (text == "all" || text == "0") return std::string("0");
  if (valid_port(text)) return text;
  const auto dash = text.find('-');
  if (dash != std::string::npos && valid_port(text.substr(0, dash)) && valid_port(text.substr(dash + 1)) &&
      std::stoll(text.substr(0, dash)) <= std::stoll(text.substr(dash + 1)))
    return text;
  return fail(ErrorCode::InvalidConfig, fmt::format("{}, not \"{}\"", hint, text));
}

// One of the user's rules as the API's rule.
Result<json> api_rule(const json& rule, const Direction& d, size_t i) {
  const std::string where = fmt::format("{}[{}]", d.attribute, i);
  if (!rule.is_object())
    return fail(ErrorCode::InvalidConfig,
                fmt::format("`{}` must be a map like {{protocol: tcp, ports: \"22\", {}: [\"0.0.0.0/0\"]}}", where, d.peer));
  const std::string peer_tags = d.peer + "_tags", peer_droplets = d.peer + "_droplet_ids",
                    peer_lbs = d.peer + "_load_balancers";
  std::string protocol;
  json ports;
  for (auto it = rule.begin(); it != rule.end(); ++it) {
    const std::string& key = it.key();
    if (key == "tcp" || key == "udp" || key == "icmp") {  // the short form {tcp: 22}
      if (!protocol.empty())
        return fail(ErrorCode::InvalidConfig, fmt::format("`{}` names more than one protocol", where));
      protocol = key;
      ports = *it;
    } else if (key != "protocol" && key != "ports" && key != d.peer && key != peer_tags && key != peer_droplets &&
               key != peer_lbs) {
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("`{}` has an unknown setting `{}` (protocol, ports, {}, {}, {}, {})", where, key, d.peer,
                              peer_tags, peer_droplets, peer_lbs));
    }
  }
  if (rule.contains("protocol")) {
    if (!protocol.empty())
      return fail(ErrorCode::InvalidConfig, fmt::format("`{}`: write `protocol: {}` or `{}: PORTS`, not both", where, protocol, protocol));
    const json& p = rule["protocol"];
    if (!p.is_string() || (p != "tcp" && p != "udp" && p != "icmp"))
      return fail(ErrorCode::InvalidConfig, fmt::format("`{}.protocol` must be tcp, udp or icmp", where));
    protocol = p.get<std::string>();
    ports = value_of(rule, "ports");
  } else if (protocol.empty()) {
    return fail(ErrorCode::InvalidConfig,
                fmt::format("`{}` needs a protocol: `protocol: tcp` with `ports: \"22\"`, or `tcp: 22`", where));
  } else if (rule.contains("ports")) {
    return fail(ErrorCode::InvalidConfig, fmt::format("`{}`: the ports are given with `{}:` already", where, protocol));
  }
  std::string api_ports = "0";
  if (protocol != "icmp") {
    if (ports.is_null())
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("`{}.ports` is required for {} (\"22\", \"8000-9000\" or \"all\")", where, protocol));
    auto p = ports_of(ports, fmt::format("{}.ports", where));
    if (!p) return fail(p.error());
    api_ports = *p;
  }

  json peers = json::object();
  json addresses = value_of(rule, d.peer);
  if (addresses.is_string()) addresses = json::array({addresses});
  auto list = string_list(json{{"x", addresses}}, "x");
  if (!list) return fail(ErrorCode::InvalidConfig, fmt::format("`{}.{}` must be a list of addresses (CIDRs)", where, d.peer));
  if (!list->empty()) peers["addresses"] = *list;
  auto tags = string_list(rule, peer_tags);
  if (!tags) return fail(tags.error().with_context(where));
  if (!tags->empty()) peers["tags"] = *tags;
  auto droplets = id_list(rule, peer_droplets);
  if (!droplets) return fail(droplets.error().with_context(where));
  if (!droplets->empty()) peers["droplet_ids"] = *droplets;
  auto lbs = string_list(rule, peer_lbs);
  if (!lbs) return fail(lbs.error().with_context(where));
  if (!lbs->empty()) peers["load_balancer_uids"] = *lbs;
  if (peers.empty()) {
    if (d.inbound)
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("`{}` must say where traffic may come from: `from: [\"0.0.0.0/0\", \"::/0\"]` for anywhere, "
                              "or from_tags, from_droplet_ids, from_load_balancers",
                              where));
    peers["addresses"] = everywhere();
  }
  return json{{"protocol", protocol}, {"ports", api_ports}, {d.api_peers, peers}};
}

Result<json> api_rules(const json& config, const Direction& d) {
  json rules = value_of(config, d.attribute);
  json out = json::array();
  if (rules.is_null()) return out;
  if (!rules.is_array()) return fail(ErrorCode::InvalidConfig, fmt::format("`{}` must be a list of rules", d.attribute));
  for (size_t i = 0; i < rules.size(); ++i) {
    auto r = api_rule(rules[i], d, i);
    if (!r) return fail(r.error());
    out.push_back(std::move(*r));
  }
  return out;
}

// An API rule in one spelling: for telling drift from spelling.
json normal_rule(const json& r, const Direction& d) {
  const std::string protocol = field_string(r, "protocol");
  const std::string given = field_string(r, "ports");
  const std::string ports = protocol == "icmp" || given.empty() || given == "all" ? std::string("0") : given;
  json peers = json::object();
  const json& p = field(r, d.api_peers);
  for (const char* key : {"addresses", "tags", "load_balancer_uids", "kubernetes_ids"})
    if (field(p, key).is_array() && !field(p, key).empty()) peers[key] = sorted(field(p, key));
  if (field(p, "droplet_ids").is_array() && !field(p, "droplet_ids").empty()) {
    json ids = json::array();
    for (const json& id : field(p, "droplet_ids")) {
      auto n = numeric_id(id, "id");
      ids.push_back(n ? json(*n) : id);
    }
    peers["droplet_ids"] = sorted(ids);
  }
  return json{{"protocol", protocol}, {"ports", ports}, {"peers", peers}};
}

json normal_api_rules(const json& rules, const Direction& d) {
  json out = json::array();
  if (rules.is_array())
    for (const json& r : rules) out.push_back(normal_rule(r, d));
  return sorted(out);
}

// The user's rules in that spelling (unreadable ones stay as they are: they
// then differ from anything the cloud holds).
json normal_keel_rules(const json& rules, const Direction& d) {
  auto api = api_rules(json{{d.attribute, rules}}, d);
  return api ? normal_api_rules(*api, d) : rules;
}

// An API rule as keel writes it (the long form).
json keel_rule(const json& r, const Direction& d) {
  const std::string protocol = field_string(r, "protocol");
  json out = {{"protocol", protocol}};
  if (protocol != "icmp") {
    const std::string ports = field_string(r, "ports");
    out["ports"] = ports.empty() || ports == "0" ? "all" : ports;
  }
  const json& p = field(r, d.api_peers);
  if (field(p, "addresses").is_array() && !field(p, "addresses").empty()) out[d.peer] = field(p, "addresses");
  if (field(p, "tags").is_array() && !field(p, "tags").empty()) out[d.peer + "_tags"] = field(p, "tags");
  if (field(p, "droplet_ids").is_array() && !field(p, "droplet_ids").empty()) out[d.peer + "_droplet_ids"] = field(p, "droplet_ids");
  if (field(p, "load_balancer_uids").is_array() && !field(p, "load_balancer_uids").empty())
    out[d.peer + "_load_balancers"] = field(p, "load_balancer_uids");
  return out;
}

json reported_rules(const json& fw, const json& known, const Direction& d) {
  json cloud = json::array();
  for (const json& r : field(fw, d.api_rules)) cloud.push_back(keel_rule(r, d));
  json known_rules = value_of(known, d.attribute);
  if (!known_rules.is_null() && normal_keel_rules(known_rules, d) == normal_api_rules(field(fw, d.api_rules), d))
    return known_rules;
  return cloud;
}

Result<NamedKind::Body> spec_from(const json& config, const std::string& fallback_name) {
  NamedKind::Body s;
  auto name = optional_string(config, "name");
  if (!name) return fail(name.error());
  s.name = name->value_or(fallback_name);
  if (auto problem = name_problem(s.name, NameRules::Firewall)) return fail(ErrorCode::InvalidConfig, *problem);
  auto inbound = api_rules(config, kInbound);
  if (!inbound) return fail(inbound.error());
  auto outbound = api_rules(config, kOutbound);
  if (!outbound) return fail(outbound.error());
  if (inbound->empty() && outbound->empty())
    return fail(ErrorCode::InvalidConfig, "a firewall needs at least one rule in `inbound` or `outbound`");
  auto droplets = id_list(config, "droplet_ids");
  if (!droplets) return fail(droplets.error());
  auto tags = string_list(config, "tags");
  if (!tags) return fail(tags.error());
  s.body = {{"name", s.name},
            {"inbound_rules", *inbound},
            {"outbound_rules", *outbound},
            {"droplet_ids", *droplets},
            {"tags", *tags}};
  return s;
}

json firewall_attributes(const json& fw, const json& known) {
  json a = json::object();
  a["id"] = id_text(field(fw, "id"));
  const std::string name = field_string(fw, "name");
  a["name"] = name.empty() ? value_of(known, "name") : json(name);
  a["inbound"] = reported_rules(fw, known, kInbound);
  a["outbound"] = reported_rules(fw, known, kOutbound);
  a["droplet_ids"] = prefer_known(value_of(known, "droplet_ids"), canonical_ids(field(fw, "droplet_ids")), canonical_ids);
  json tags = field(fw, "tags").is_array() ? field(fw, "tags") : json::array();
  a["tags"] = prefer_known(value_of(known, "tags"), tags, sorted);
  a["status"] = field_string(fw, "status");
  return a;
}

// Firewalls settle once DigitalOcean applied them to their droplets.
class Firewalls final : public NamedKind {
 public:
  explicit Firewalls(Context& context)
      : NamedKind(context, {"firewall", "/v2/firewalls", "firewall", NameRules::Firewall, &Sources::firewalls,
                            "to be applied", std::chrono::minutes(10)}) {}

 private:
  Result<Body> body_from(const json& config, const std::string& fallback_name) const override {
    return spec_from(config, fallback_name);
  }
  json attributes(const json& fw, const json& known) const override { return firewall_attributes(fw, known); }
  Result<bool> settled(const std::string& id, const json& fw) const override {
    const std::string status = field_string(fw, "status");
    if (status == "failed") return fail(ErrorCode::Transient, fmt::format("DigitalOcean: firewall {} failed to apply", id));
    return status == "succeeded" || status.empty();
  }
};

}  // namespace

provider::KindSchema firewalls_schema() {
  using T = AttributeType;
  return {"firewalls",
          "DigitalOcean Cloud Firewalls.",
          {
              Attr("id", T::String, "The firewall's uuid.").computed(),
              Attr("name", T::String, "Name; default `<project>-<name>[-<index>]` (keel finds it by this name).")
                  .optional()
                  .computed(),
              Attr("inbound", T::List,
                   "Inbound rules: {protocol: tcp|udp|icmp, ports: \"22\"|\"8000-9000\"|\"all\", from: [CIDRs], from_tags, "
                   "from_droplet_ids, from_load_balancers}, or {tcp: 22, from: [...]}.")
                  .optional()
                  .default_to(json::array()),
              Attr("outbound", T::List, "Outbound rules, like inbound with `to` (default: every destination).")
                  .optional()
                  .default_to(json::array()),
              Attr("droplet_ids", T::List, "Droplets the firewall applies to.").optional().default_to(json::array()),
              Attr("tags", T::List, "Droplet tags the firewall applies to.").optional().default_to(json::array()),
              Attr("status", T::String, "waiting, succeeded or failed.").computed(),
          }};
}

std::unique_ptr<Kind> make_firewalls(Context& context) { return std::make_unique<Firewalls>(context); }

}  // namespace keel::digitalocean

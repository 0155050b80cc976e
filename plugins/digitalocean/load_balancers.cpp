// load_balancers: DigitalOcean Load Balancers, a NamedKind (named_kind.h:
// found by name, changed with one PUT of the whole configuration; region
// and vpc are force-new). It has settled when its status is `active`.
//
// Rules are written `{entry: "https:443", target: "http:8080",
// certificate_id: ..., tls_passthrough: ...}` and become DigitalOcean's
// forwarding_rules.

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "plugins/digitalocean/attributes.h"
#include "plugins/digitalocean/named_kind.h"
#include "plugins/digitalocean/naming.h"

namespace keel::digitalocean {

namespace {

const std::vector<std::string> kEntryProtocols = {"http", "https", "http2", "http3", "tcp", "udp"};
const std::vector<std::string> kTargetProtocols = {"http", "https", "http2", "tcp", "udp"};

std::string list_text(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += fmt::format("{}{}", out.empty() ? "" : ", ", i);
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "https:443" -> {"https", 443}
Result<std::pair<std::string, long long>> endpoint(const json& value, const std::string& what,
                                                   const std::vector<std::string>& protocols) {
  const std::string example = what.ends_with("entry") ? "\"https:443\"" : "\"http:8080\"";
  if (!value.is_string())
    return fail(ErrorCode::InvalidConfig, fmt::format("`{}` must be a string like {}", what, example));
  const std::string text = value.get<std::string>();
  const auto colon = text.find(':');
  if (colon == std::string::npos)
    return fail(ErrorCode::InvalidConfig, fmt::format("`{}` \"{}\" must be PROTOCOL:PORT, like {}", what, text, example));
  const std::string protocol = lower(text.substr(0, colon));
  const std::string port_text = text.substr(colon + 1);
  if (std::find(protocols.begin(), protocols.end(), protocol) == protocols.end())
    return fail(ErrorCode::InvalidConfig, fmt::format("`{}` \"{}\": the protocol must be one of: {}", what, text,
                                                      list_text(protocols)));
  long long port = 0;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535)
    return fail(ErrorCode::InvalidConfig, fmt::format("`{}` \"{}\": the port must be 1 to 65535", what, text));
  return std::make_pair(protocol, port);
}

// A rule as DigitalOcean's forwarding rule.
Result<json> forwarding_rule(const json& rule, size_t i) {
  const std::string where = fmt::format("rules[{}]", i);
  if (!rule.is_object())
    return fail(ErrorCode::InvalidConfig,
                fmt::format("`{}` must be a map like {{entry: \"https:443\", target: \"http:8080\"}}", where));
  for (auto it = rule.begin(); it != rule.end(); ++it)
    if (it.key() != "entry" && it.key() != "target" && it.key() != "certificate_id" && it.key() != "tls_passthrough")
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("`{}` has an unknown setting `{}` (entry, target, certificate_id, tls_passthrough)", where, it.key()));
  auto entry = endpoint(value_of(rule, "entry"), where + ".entry", kEntryProtocols);
  if (!entry) return fail(entry.error());
  auto target = endpoint(value_of(rule, "target"), where + ".target", kTargetProtocols);
  if (!target) return fail(target.error());
  json out = {{"entry_protocol", entry->first},
              {"entry_port", entry->second},
              {"target_protocol", target->first},
              {"target_port", target->second}};
  auto certificate = optional_string(rule, "certificate_id");
  if (!certificate) return fail(certificate.error().with_context(where));
  if (*certificate && !(*certificate)->empty()) out["certificate_id"] = **certificate;
  auto passthrough = boolean(rule, "tls_passthrough", false);
  if (!passthrough) return fail(passthrough.error().with_context(where));
  if (*passthrough) out["tls_passthrough"] = true;
  return out;
}

Result<json> forwarding_rules(const json& config) {
  json rules = value_of(config, "rules");
  if (!rules.is_array() || rules.empty())
    return fail(ErrorCode::InvalidConfig,
                "`rules` must list at least one rule, like {entry: \"https:443\", target: \"http:8080\"}");
  json out = json::array();
  for (size_t i = 0; i < rules.size(); ++i) {
    auto r = forwarding_rule(rules[i], i);
    if (!r) return fail(r.error());
    out.push_back(std::move(*r));
  }
  return out;
}

// A DigitalOcean forwarding rule as keel writes it.
json keel_rule(const json& r) {
  json out = {{"entry", fmt::format("{}:{}", field_string(r, "entry_protocol"), field_integer(r, "entry_port").value_or(0))},
              {"target", fmt::format("{}:{}", field_string(r, "target_protocol"), field_integer(r, "target_port").value_or(0))}};
  if (auto cert = field_string(r, "certificate_id"); !cert.empty()) out["certificate_id"] = cert;
  if (field(r, "tls_passthrough") == true) out["tls_passthrough"] = true;
  return out;
}

// Rules in one spelling, order aside: for telling real drift from spelling.
json canonical_rules(const json& keel_rules) {
  json out = json::array();
  if (!keel_rules.is_array()) return out;
  for (size_t i = 0; i < keel_rules.size(); ++i) {
    auto r = forwarding_rule(keel_rules[i], i);
    out.push_back(r ? keel_rule(*r) : keel_rules[i]);
  }
  return sorted(out);
}

const json& health_defaults() {
  static const json d = {{"protocol", "http"},
                         {"port", 80},
                         {"path", "/"},
                         {"check_interval_seconds", 10},
                         {"response_timeout_seconds", 5},
                         {"unhealthy_threshold", 5},
                         {"healthy_threshold", 3}};
  return d;
}

Result<json> health_check(const json& config) {
  json hc = value_of(config, "health_check");
  if (hc.is_null()) return json();
  if (!hc.is_object()) return fail(ErrorCode::InvalidConfig, "`health_check` must be a map (protocol, port, path, ...)");
  json out = json::object();
  for (auto it = hc.begin(); it != hc.end(); ++it) {
    const std::string where = fmt::format("health_check.{}", it.key());
    if (it.key() == "protocol") {
      if (!it->is_string() || (*it != "http" && *it != "https" && *it != "tcp"))
        return fail(ErrorCode::InvalidConfig, fmt::format("`{}` must be http, https or tcp", where));
      out["protocol"] = lower(it->get<std::string>());
    } else if (it.key() == "path") {
      if (!it->is_string()) return fail(ErrorCode::InvalidConfig, fmt::format("`{}` must be a string", where));
      out["path"] = *it;
    } else if (health_defaults().contains(it.key())) {
      if (!it->is_number_integer() || it->get<long long>() < 0)
        return fail(ErrorCode::InvalidConfig, fmt::format("`{}` must be a positive integer", where));
      out[it.key()] = *it;
    } else {
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("`health_check` has an unknown setting `{}` (protocol, port, path, check_interval_seconds, "
                              "response_timeout_seconds, unhealthy_threshold, healthy_threshold)",
                              it.key()));
    }
  }
  return out;
}

json canonical_health(const json& hc) {
  json out = health_defaults();
  if (hc.is_object())
    for (auto it = hc.begin(); it != hc.end(); ++it)
      if (out.contains(it.key()) && !it->is_null()) out[it.key()] = *it;
  if (out["protocol"] == "tcp") out.erase("path");
  return out;
}

json keel_health(const json& hc) {
  json out = json::object();
  if (!hc.is_object()) return out;
  for (auto it = health_defaults().begin(); it != health_defaults().end(); ++it)
    if (hc.contains(it.key()) && !hc[it.key()].is_null()) out[it.key()] = hc[it.key()];
  return out;
}

Result<json> sticky_sessions(const json& config) {
  json s = value_of(config, "sticky_sessions");
  if (s.is_null()) return json();
  if (!s.is_object()) return fail(ErrorCode::InvalidConfig, "`sticky_sessions` must be a map (type, cookie_name, cookie_ttl_seconds)");
  json out = json::object();
  for (auto it = s.begin(); it != s.end(); ++it) {
    if (it.key() == "type") {
      if (*it != "cookies" && *it != "none")
        return fail(ErrorCode::InvalidConfig, "`sticky_sessions.type` must be cookies or none");
      out["type"] = *it;
    } else if (it.key() == "cookie_name") {
      if (!it->is_string()) return fail(ErrorCode::InvalidConfig, "`sticky_sessions.cookie_name` must be a string");
      out["cookie_name"] = *it;
    } else if (it.key() == "cookie_ttl_seconds") {
      if (!it->is_number_integer() || it->get<long long>() < 1)
        return fail(ErrorCode::InvalidConfig, "`sticky_sessions.cookie_ttl_seconds` must be a positive integer");
      out["cookie_ttl_seconds"] = *it;
    } else {
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("`sticky_sessions` has an unknown setting `{}` (type, cookie_name, cookie_ttl_seconds)", it.key()));
    }
  }
  if (!out.contains("type")) out["type"] = out.contains("cookie_name") ? "cookies" : "none";
  if (out["type"] == "cookies" && (!out.contains("cookie_name") || !out.contains("cookie_ttl_seconds")))
    return fail(ErrorCode::InvalidConfig, "`sticky_sessions` of type cookies needs cookie_name and cookie_ttl_seconds");
  return out;
}

json canonical_sticky(const json& s) {
  if (!s.is_object() || field_string(s, "type") != "cookies") return json{{"type", "none"}};
  return json{{"type", "cookies"},
              {"cookie_name", field(s, "cookie_name")},
              {"cookie_ttl_seconds", field(s, "cookie_ttl_seconds")}};
}

// The load balancer as the user configured it, as DigitalOcean's request body.
Result<NamedKind::Body> spec_from(const json& config, const std::string& fallback_name) {
  NamedKind::Body s;
  auto name = optional_string(config, "name");
  if (!name) return fail(name.error());
  s.name = name->value_or(fallback_name);
  if (auto problem = name_problem(s.name, NameRules::LoadBalancer)) return fail(ErrorCode::InvalidConfig, *problem);
  auto region = required_string(config, "region");
  if (!region) return fail(region.error());
  auto rules = forwarding_rules(config);
  if (!rules) return fail(rules.error());
  auto hc = health_check(config);
  if (!hc) return fail(hc.error());
  auto sticky = sticky_sessions(config);
  if (!sticky) return fail(sticky.error());
  auto redirect = boolean(config, "redirect_http_to_https", false);
  if (!redirect) return fail(redirect.error());
  auto size_unit = optional_integer(config, "size_unit");
  if (!size_unit) return fail(size_unit.error());
  if (size_unit->value_or(1) < 1 || size_unit->value_or(1) > 100)
    return fail(ErrorCode::InvalidConfig, fmt::format("`size_unit` must be 1 to 100, not {}", **size_unit));
  auto vpc = optional_string(config, "vpc");
  if (!vpc) return fail(vpc.error());
  auto tag = optional_string(config, "target_tag");
  if (!tag) return fail(tag.error());
  auto droplets = id_list(config, "droplet_ids");
  if (!droplets) return fail(droplets.error());
  if (*tag && !droplets->empty())
    return fail(ErrorCode::InvalidConfig, "`droplet_ids` and `target_tag` exclude each other: choose one");
  if (*tag)
    if (auto problem = tag_problem(**tag); problem && !is_keel_tag(**tag))
      return fail(ErrorCode::InvalidConfig, fmt::format("`target_tag`: {}", *problem));

  s.body = {{"name", s.name},
            {"region", *region},
            {"forwarding_rules", *rules},
            {"redirect_http_to_https", *redirect},
            {"size_unit", size_unit->value_or(1)}};
  if (!hc->is_null()) s.body["health_check"] = *hc;
  if (!sticky->is_null()) s.body["sticky_sessions"] = *sticky;
  if (*vpc) s.body["vpc_uuid"] = **vpc;
  if (*tag) s.body["tag"] = **tag;
  else s.body["droplet_ids"] = *droplets;
  return s;
}

json load_balancer_attributes(const json& lb, const json& known) {
  json a = json::object();
  auto or_known = [&](const std::string& cloud, const char* name) {
    return cloud.empty() ? value_of(known, name) : json(cloud);
  };
  a["id"] = id_text(field(lb, "id"));
  a["name"] = or_known(field_string(lb, "name"), "name");
  a["region"] = or_known(region_slug(lb), "region");
  json rules = json::array();
  for (const json& r : field(lb, "forwarding_rules")) rules.push_back(keel_rule(r));
  a["rules"] = prefer_known(value_of(known, "rules"), rules, canonical_rules);
  if (field(lb, "health_check").is_object())
    a["health_check"] = prefer_known(value_of(known, "health_check"), keel_health(field(lb, "health_check")), canonical_health);
  else
    a["health_check"] = value_of(known, "health_check");
  const json& sticky = field(lb, "sticky_sessions");
  a["sticky_sessions"] =
      sticky.is_object() ? prefer_known(value_of(known, "sticky_sessions"), canonical_sticky(sticky), canonical_sticky)
                         : value_of(known, "sticky_sessions");
  const std::string tag = field_string(lb, "tag");
  if (!tag.empty()) a["target_tag"] = tag;
  // With a target tag, droplet_ids lists the tagged droplets: not keel's to compare.
  if (!tag.empty() || is_set(known, "target_tag")) {
    if (is_set(known, "droplet_ids")) a["droplet_ids"] = value_of(known, "droplet_ids");
  } else {
    json ids = canonical_ids(field(lb, "droplet_ids"));
    json known_ids = value_of(known, "droplet_ids");
    if (known_ids.is_null() && ids.empty()) {
      // not set, none there
    } else {
      a["droplet_ids"] = prefer_known(known_ids, ids, canonical_ids);
    }
  }
  const json& redirect = field(lb, "redirect_http_to_https");
  a["redirect_http_to_https"] = redirect.is_boolean() ? redirect : value_of(known, "redirect_http_to_https");
  auto size_unit = field_integer(lb, "size_unit");
  a["size_unit"] = size_unit ? json(*size_unit) : value_of(known, "size_unit");
  a["vpc"] = or_known(field_string(lb, "vpc_uuid"), "vpc");
  a["ip"] = field_string(lb, "ip");
  a["status"] = field_string(lb, "status");
  for (auto it = a.begin(); it != a.end();) {
    if (it->is_null()) it = a.erase(it);
    else ++it;
  }
  return a;
}

// Load balancers settle once they are active.
class LoadBalancers final : public NamedKind {
 public:
  explicit LoadBalancers(Context& context)
      : NamedKind(context, {"load balancer", "/v2/load_balancers", "load_balancer", NameRules::LoadBalancer,
                            &Sources::load_balancers, "to become active"}) {}

 private:
  Result<Body> body_from(const json& config, const std::string& fallback_name) const override {
    return spec_from(config, fallback_name);
  }
  json attributes(const json& lb, const json& known) const override { return load_balancer_attributes(lb, known); }
  Result<bool> settled(const std::string& id, const json& lb) const override {
    const std::string status = field_string(lb, "status");
    if (status == "errored") return fail(ErrorCode::Transient, fmt::format("DigitalOcean: load balancer {} errored", id));
    return status == "active";
  }
};

}  // namespace

provider::KindSchema load_balancers_schema() {
  using T = AttributeType;
  return {"load_balancers",
          "DigitalOcean Load Balancers.",
          {
              Attr("id", T::String, "The load balancer's uuid.").computed(),
              Attr("name", T::String, "Name; default `<project>-<name>[-<index>]` (keel finds it by this name).")
                  .optional()
                  .computed(),
              Attr("region", T::String, "Region slug, e.g. nyc3.").required().force_new(),
              Attr("rules", T::List,
                   "Forwarding rules: {entry: \"https:443\", target: \"http:8080\", certificate_id?, tls_passthrough?}.")
                  .required(),
              Attr("health_check", T::Map,
                   "{protocol, port, path, check_interval_seconds, response_timeout_seconds, unhealthy_threshold, "
                   "healthy_threshold}; default: DigitalOcean's.")
                  .optional()
                  .computed(),
              Attr("droplet_ids", T::List, "Droplets to balance (ids); exclusive with target_tag.").optional(),
              Attr("target_tag", T::String, "Balance the droplets carrying this tag; exclusive with droplet_ids.").optional(),
              Attr("sticky_sessions", T::Map, "{type: cookies|none, cookie_name, cookie_ttl_seconds}.").optional().computed(),
              Attr("redirect_http_to_https", T::Bool, "Redirect HTTP to HTTPS.").optional().default_to(false),
              Attr("size_unit", T::Integer, "Number of nodes, 1 to 100.").optional().default_to(1),
              Attr("vpc", T::String, "VPC uuid; default: the region's default VPC.").optional().computed().force_new(),
              Attr("ip", T::String, "Public IP address.").computed(),
              Attr("status", T::String, "new, active or errored.").computed(),
          }};
}

std::unique_ptr<Kind> make_load_balancers(Context& context) { return std::make_unique<LoadBalancers>(context); }

}  // namespace keel::digitalocean

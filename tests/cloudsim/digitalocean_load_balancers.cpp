// Load balancers: create (202, "new" without an IP -> "active" with one
// after provisioning), list, get, update (PUT replaces the configuration),
// delete, and adding or removing Droplets. A load balancer targets either
// Droplets by id or every Droplet with a tag, never both; its droplet_ids
// for a tag are worked out whenever it is shown.

#include <algorithm>

#include "core/crypto.h"
#include "tests/cloudsim/digitalocean_catalog.h"
#include "tests/cloudsim/digitalocean_protocol.h"
#include "tests/cloudsim/digitalocean_resources.h"
#include "tests/cloudsim/digitalocean_routes.h"

namespace keel::cloudsim::digitalocean {

namespace {

const std::vector<std::string> kEntryProtocols{"http", "https", "http2", "http3", "tcp", "udp"};
const std::vector<std::string> kTargetProtocols{"http", "https", "http2", "tcp", "udp"};

bool one_of(const std::vector<std::string>& allowed, const Json& value) {
  return value.is_string() && std::find(allowed.begin(), allowed.end(), value.get<std::string>()) != allowed.end();
}

bool valid_port(const Json& value) {
  return value.is_number_integer() && value.get<int64_t>() >= 1 && value.get<int64_t>() <= 65535;
}

Problem check_forwarding_rule(const Json& rule) {
  if (!rule.is_object()) return "Each forwarding rule must be an object.";
  if (!one_of(kEntryProtocols, rule.value("entry_protocol", Json())))
    return "entry_protocol must be one of http, https, http2, http3, tcp, udp.";
  if (!one_of(kTargetProtocols, rule.value("target_protocol", Json())))
    return "target_protocol must be one of http, https, http2, tcp, udp.";
  if (!valid_port(rule.value("entry_port", Json())) || !valid_port(rule.value("target_port", Json())))
    return "entry_port and target_port must be ports from 1 to 65535.";
  const std::string entry = rule["entry_protocol"].get<std::string>();
  const bool tls = entry == "https" || entry == "http2" || entry == "http3";
  if (tls && string_or(rule, "certificate_id", "").empty() && !bool_or(rule, "tls_passthrough", false))
    return "A forwarding rule with entry_protocol " + entry + " needs a certificate_id or tls_passthrough.";
  return std::nullopt;
}

Problem check_forwarding_rules(const Json& body) {
  if (!body.contains("forwarding_rules") || !body["forwarding_rules"].is_array() || body["forwarding_rules"].empty())
    return "forwarding_rules must list at least one rule.";
  for (const auto& rule : body["forwarding_rules"])
    if (auto p = check_forwarding_rule(rule)) return p;
  return std::nullopt;
}

Problem check_targets(Store& store, const Json& body, const std::string& region) {
  const bool by_tag = body.contains("tag") && body["tag"].is_string() && !body["tag"].get<std::string>().empty();
  if (by_tag && body.contains("droplet_ids"))
    return "droplet_ids and tag are mutually exclusive: give one or the other.";
  if (by_tag && !valid_tag(body["tag"].get<std::string>())) return "tag is not a valid tag name.";
  if (body.contains("droplet_ids")) return check_droplets(store, body["droplet_ids"], region);
  return std::nullopt;
}

Problem check_settings(const Json& body) {
  if (body.contains("size_unit") && (!body["size_unit"].is_number_integer() || body["size_unit"].get<int>() < 1 ||
                                     body["size_unit"].get<int>() > 100))
    return "size_unit must be an integer from 1 to 100.";
  if (body.contains("http_idle_timeout_seconds") &&
      (!body["http_idle_timeout_seconds"].is_number_integer() || body["http_idle_timeout_seconds"].get<int>() < 30 ||
       body["http_idle_timeout_seconds"].get<int>() > 600))
    return "http_idle_timeout_seconds must be an integer from 30 to 600.";
  if (body.contains("health_check") && !body["health_check"].is_object()) return "health_check must be an object.";
  for (const char* flag : {"redirect_http_to_https", "enable_proxy_protocol", "enable_backend_keepalive"})
    if (auto p = check_optional_bool(body, flag)) return p;
  return check_optional_string(body, "name");
}

Problem check_request(Store& store, const Json& body) {
  if (!find_region(string_or(body, "region", ""))) return "You specified an invalid region for the load balancer.";
  if (auto p = check_forwarding_rules(body)) return p;
  if (auto p = check_settings(body)) return p;
  return check_targets(store, body, body["region"].get<std::string>());
}

Json health_check(const Json& body) {
  Json check{{"protocol", "http"},        {"port", 80},
             {"path", "/"},               {"check_interval_seconds", 10},
             {"response_timeout_seconds", 5}, {"unhealthy_threshold", 5},
             {"healthy_threshold", 3}};
  if (body.contains("health_check")) check.update(body["health_check"]);
  return check;
}

// The configuration a create or an update sets; identity and status are
// kept apart.
Json configuration(Store& store, const Json& body, const std::string& id) {
  const std::string region = body["region"].get<std::string>();
  const bool by_tag = body.contains("tag") && !string_or(body, "tag", "").empty();
  return Json{
      {"name", string_or(body, "name", "lb-" + id.substr(0, 8))},
      {"size_unit", int_or(body, "size_unit", 1)},
      {"algorithm", string_or(body, "algorithm", "round_robin")},
      {"forwarding_rules", body["forwarding_rules"]},
      {"health_check", health_check(body)},
      {"sticky_sessions", body.value("sticky_sessions", Json{{"type", "none"}})},
      {"redirect_http_to_https", bool_or(body, "redirect_http_to_https", false)},
      {"enable_proxy_protocol", bool_or(body, "enable_proxy_protocol", false)},
      {"enable_backend_keepalive", bool_or(body, "enable_backend_keepalive", false)},
      {"http_idle_timeout_seconds", int_or(body, "http_idle_timeout_seconds", 60)},
      {"vpc_uuid", string_or(body, "vpc_uuid", store.default_vpc(region))},
      {"disable_lets_encrypt_dns_records", bool_or(body, "disable_lets_encrypt_dns_records", false)},
      {"firewall", body.value("firewall", Json{{"deny", Json::array()}, {"allow", Json::array()}})},
      {"network", "EXTERNAL"},
      {"type", "REGIONAL"},
      {"region", region_json(*find_region(region))},
      {"droplet_ids", by_tag ? Json::array() : body.value("droplet_ids", Json::array())},
      {"tag", by_tag ? body["tag"] : Json("")}};
}

// As the API shows it: a tag's Droplets are whichever carry it now.
Json shown(Store& store, const Json& lb) {
  Json out = lb;
  if (!lb["tag"].get<std::string>().empty()) out["droplet_ids"] = droplet_ids_with_tag(store, lb["tag"].get<std::string>());
  return out;
}

Reply create_load_balancer(const Call& call, Store& store) {
  auto body = object_body(call, 422);
  if (!body) return body.error();
  if (auto p = check_request(store, *body)) return unprocessable(*p);
  const std::string id = crypto::uuid_v4();
  Json lb{{"id", id}, {"ip", ""}, {"status", "new"}, {"created_at", iso_time(call.now)}, {"project_id", store.project_id}};
  lb.update(configuration(store, *body, id));
  store.at(after_seconds(call.now, call.provision_seconds), [&store, id](TimePoint) {
    if (Json* l = store.load_balancers.find(id)) {
      (*l)["ip"] = store.next_public_ipv4();
      (*l)["status"] = "active";
    }
  });
  return json_reply(202, {{"load_balancer", shown(store, store.load_balancers.add(id, std::move(lb)))}});
}

Reply list_load_balancers(const Call& call, Store& store) {
  std::vector<Json> items;
  for (const Json* lb : store.load_balancers.list()) items.push_back(shown(store, *lb));
  return json_reply(200, paged(call, "load_balancers", items));
}

Reply get_load_balancer(const Call& call, Store& store) {
  const Json* lb = store.load_balancers.find(call.param("id"));
  if (!lb) return not_found();
  return json_reply(200, {{"load_balancer", shown(store, *lb)}});
}

Reply update_load_balancer(const Call& call, Store& store) {
  Json* lb = store.load_balancers.find(call.param("id"));
  if (!lb) return not_found();
  auto body = object_body(call, 422);
  if (!body) return body.error();
  if (auto p = check_request(store, *body)) return unprocessable(*p);
  if ((*body)["region"] != region_of(*lb)) return unprocessable("The region of a load balancer cannot be changed.");
  lb->update(configuration(store, *body, call.param("id")));
  return json_reply(200, {{"load_balancer", shown(store, *lb)}});
}

Reply delete_load_balancer(const Call& call, Store& store) {
  if (!store.load_balancers.erase(call.param("id"))) return not_found();
  return no_content();
}

// The droplet_ids of a body for POST/DELETE .../droplets, checked. Ids to
// add must be Droplets in the load balancer's region; ids to remove need
// only be ids (the Droplet may be gone already).
std::expected<Json, Reply> member_ids(const Call& call, Store& store, const Json& lb, bool adding) {
  auto body = object_body(call, 422);
  if (!body) return std::unexpected(body.error());
  if (!lb["tag"].get<std::string>().empty())
    return std::unexpected(unprocessable("This load balancer targets a tag: tag the Droplets instead."));
  if (!body->contains("droplet_ids")) return std::unexpected(unprocessable("droplet_ids is required."));
  if (!is_integer_array((*body)["droplet_ids"]))
    return std::unexpected(unprocessable("droplet_ids must be an array of integers."));
  if (adding) {
    if (auto p = check_droplets(store, (*body)["droplet_ids"], region_of(lb))) return std::unexpected(unprocessable(*p));
  }
  return (*body)["droplet_ids"];
}

Reply add_droplets(const Call& call, Store& store) {
  Json* lb = store.load_balancers.find(call.param("id"));
  if (!lb) return not_found();
  auto ids = member_ids(call, store, *lb, true);
  if (!ids) return ids.error();
  Json& members = (*lb)["droplet_ids"];
  for (const auto& id : *ids)
    if (std::find(members.begin(), members.end(), id) == members.end()) members.push_back(id);
  return no_content();
}

Reply remove_droplets(const Call& call, Store& store) {
  Json* lb = store.load_balancers.find(call.param("id"));
  if (!lb) return not_found();
  auto ids = member_ids(call, store, *lb, false);
  if (!ids) return ids.error();
  Json& members = (*lb)["droplet_ids"];
  for (const auto& id : *ids) members.erase(std::remove(members.begin(), members.end(), id), members.end());
  return no_content();
}

}  // namespace

void add_load_balancer_routes(Routes& routes) {
  routes.add("POST", "/v2/load_balancers", create_load_balancer);
  routes.add("GET", "/v2/load_balancers", list_load_balancers);
  routes.add("GET", "/v2/load_balancers/{id}", get_load_balancer);
  routes.add("PUT", "/v2/load_balancers/{id}", update_load_balancer);
  routes.add("DELETE", "/v2/load_balancers/{id}", delete_load_balancer);
  routes.add("POST", "/v2/load_balancers/{id}/droplets", add_droplets);
  routes.add("DELETE", "/v2/load_balancers/{id}/droplets", remove_droplets);
}

}  // namespace keel::cloudsim::digitalocean

// Cloud firewalls: create (202, "waiting" -> "succeeded" after
// provisioning), list, get, update (PUT replaces everything), delete, and
// adding or removing Droplets and tags. Every change makes the firewall
// "waiting" again, with pending_changes for its Droplets, until it settles
// after half the provisioning time. Bad input is a 400, as the document
// declares for these operations.

#include <algorithm>

#include "core/crypto.h"
#include "tests/cloudsim/digitalocean_protocol.h"
#include "tests/cloudsim/digitalocean_resources.h"
#include "tests/cloudsim/digitalocean_routes.h"

namespace keel::cloudsim::digitalocean {

namespace {

// ---- checks ----

Problem check_addresses(const Json& targets) {
  if (!targets.contains("addresses")) return std::nullopt;
  if (!is_string_array(targets["addresses"])) return "addresses must be an array of strings.";
  for (const auto& a : targets["addresses"])
    if (!valid_address(a.get<std::string>())) return "`" + a.get<std::string>() + "` is not a valid address.";
  return std::nullopt;
}

Problem check_load_balancers(Store& store, const Json& targets) {
  if (!targets.contains("load_balancer_uids")) return std::nullopt;
  if (!is_string_array(targets["load_balancer_uids"])) return "load_balancer_uids must be an array of strings.";
  for (const auto& id : targets["load_balancer_uids"])
    if (!store.load_balancers.find(id.get<std::string>()))
      return "Load balancer " + id.get<std::string>() + " could not be found.";
  return std::nullopt;
}

bool names_something(const Json& targets) {
  for (const char* key : {"addresses", "droplet_ids", "load_balancer_uids", "kubernetes_ids", "tags"})
    if (targets.contains(key) && targets[key].is_array() && !targets[key].empty()) return true;
  return false;
}

// sources (inbound) or destinations (outbound) of one rule.
Problem check_targets(Store& store, const Json& targets, const char* key) {
  if (!targets.is_object() || !names_something(targets))
    return std::string(key) + " must name at least one address, Droplet, load balancer, Kubernetes cluster or tag.";
  if (auto p = check_addresses(targets)) return p;
  if (targets.contains("droplet_ids"))
    if (auto p = check_droplets(store, targets["droplet_ids"], "")) return p;
  if (auto p = check_load_balancers(store, targets)) return p;
  if (targets.contains("kubernetes_ids") && !is_string_array(targets["kubernetes_ids"]))
    return "kubernetes_ids must be an array of strings.";
  return check_tags(targets);
}

Problem check_rule(Store& store, const Json& rule, const char* targets_key) {
  if (!rule.is_object()) return "Each rule must be an object.";
  const std::string protocol = string_or(rule, "protocol", "");
  if (protocol != "tcp" && protocol != "udp" && protocol != "icmp") return "protocol must be tcp, udp or icmp.";
  // ICMP has no ports; DigitalOcean shows "0" for it whatever was sent.
  if (protocol != "icmp" && !valid_port_range(string_or(rule, "ports", "")))
    return "ports must be a port (\"22\"), a range (\"8000-9000\") or \"0\" for all ports.";
  if (!rule.contains(targets_key)) return std::string("Each rule needs ") + targets_key + ".";
  return check_targets(store, rule[targets_key], targets_key);
}

Problem check_rules(Store& store, const Json& body, const char* key, const char* targets_key) {
  if (!body.contains(key) || body[key].is_null()) return std::nullopt;
  if (!body[key].is_array()) return std::string(key) + " must be an array.";
  for (const auto& rule : body[key])
    if (auto p = check_rule(store, rule, targets_key)) return p;
  return std::nullopt;
}

Problem check_request(Store& store, const Json& body) {
  const std::string name = string_or(body, "name", "");
  if (!valid_firewall_name(name))
    return "Name `" + name + "` is invalid: use letters, numbers, dots and dashes, starting with a letter or number.";
  if (!body.contains("inbound_rules") && !body.contains("outbound_rules"))
    return "A firewall needs inbound_rules or outbound_rules.";
  if (auto p = check_rules(store, body, "inbound_rules", "sources")) return p;
  if (auto p = check_rules(store, body, "outbound_rules", "destinations")) return p;
  if (body.contains("droplet_ids") && !body["droplet_ids"].is_null())
    if (auto p = check_droplets(store, body["droplet_ids"], "")) return p;
  return check_tags(body);
}

// ---- state ----

Json normalized_rules(const Json& body, const char* key) {
  Json rules = Json::array();
  if (!body.contains(key) || !body[key].is_array()) return rules;
  for (Json rule : body[key]) {
    if (rule["protocol"] == "icmp") rule["ports"] = "0";
    rules.push_back(rule);
  }
  return rules;
}

Json ids_of(const Json& body) {
  return body.contains("droplet_ids") && body["droplet_ids"].is_array() ? body["droplet_ids"] : Json::array();
}

// The Droplets a firewall applies to: by id and by tag.
Json applied_droplets(Store& store, const Json& fw) {
  Json ids = fw["droplet_ids"];
  for (const auto& tag : fw["tags"])
    for (const auto& id : droplet_ids_with_tag(store, tag.get<std::string>()))
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  return ids;
}

// "waiting" with a pending change per Droplet until `seconds` from now.
void start_change(Store& store, Json& fw, TimePoint now, double seconds) {
  Json pending = Json::array();
  for (const auto& id : applied_droplets(store, fw))
    pending.push_back({{"droplet_id", id}, {"removing", false}, {"status", "waiting"}});
  fw["status"] = "waiting";
  fw["pending_changes"] = pending;
  const std::string id = fw["id"].get<std::string>();
  const TimePoint due = after_seconds(now, seconds);
  store.settles_at[id] = due;
  store.at(due, [&store, id](TimePoint at) {
    Json* f = store.firewalls.find(id);
    if (!f || store.settles_at[id] > at) return;  // a later change is still pending
    (*f)["status"] = "succeeded";
    (*f)["pending_changes"] = Json::array();
  });
}

void configure(Store& store, Json& fw, const Json& body) {
  fw["name"] = body["name"];
  fw["inbound_rules"] = normalized_rules(body, "inbound_rules");
  fw["outbound_rules"] = normalized_rules(body, "outbound_rules");
  fw["droplet_ids"] = ids_of(body);
  fw["tags"] = tags_of(body);
  store.remember_tags(fw["tags"]);
}

// ---- handlers ----

Reply create_firewall(const Call& call, Store& store) {
  auto body = object_body(call, 400);
  if (!body) return body.error();
  if (auto p = check_request(store, *body)) return bad_request(*p);
  const std::string id = crypto::uuid_v4();
  Json fw{{"id", id}, {"status", "waiting"}, {"created_at", iso_time(call.now)}, {"pending_changes", Json::array()}};
  configure(store, fw, *body);
  Json& stored = store.firewalls.add(id, std::move(fw));
  start_change(store, stored, call.now, call.provision_seconds);
  return json_reply(202, {{"firewall", stored}});
}

Reply list_firewalls(const Call& call, Store& store) {
  std::vector<Json> items;
  for (const Json* fw : store.firewalls.list()) items.push_back(*fw);
  return json_reply(200, paged(call, "firewalls", items));
}

Reply get_firewall(const Call& call, Store& store) {
  const Json* fw = store.firewalls.find(call.param("id"));
  if (!fw) return not_found();
  return json_reply(200, {{"firewall", *fw}});
}

Reply update_firewall(const Call& call, Store& store) {
  Json* fw = store.firewalls.find(call.param("id"));
  if (!fw) return not_found();
  auto body = object_body(call, 400);
  if (!body) return body.error();
  if (auto p = check_request(store, *body)) return bad_request(*p);
  configure(store, *fw, *body);
  start_change(store, *fw, call.now, call.provision_seconds / 2);
  return json_reply(200, {{"firewall", *fw}});
}

Reply delete_firewall(const Call& call, Store& store) {
  if (!store.firewalls.erase(call.param("id"))) return not_found();
  store.settles_at.erase(call.param("id"));
  return no_content();
}

// Droplets to add must exist; ids to remove need only be ids (the Droplet
// may be gone already).
Problem check_members(Store& store, const Json& body, const std::string& key, bool adding) {
  if (key == "tags") return check_tags(body);
  if (adding) return check_droplets(store, body[key], "");
  if (!is_integer_array(body[key])) return "droplet_ids must be an array of integers.";
  return std::nullopt;
}

// POST/DELETE .../droplets and .../tags: `key` is droplet_ids or tags.
Reply change_members(const Call& call, Store& store, const std::string& key, bool adding) {
  Json* fw = store.firewalls.find(call.param("id"));
  if (!fw) return not_found();
  auto body = object_body(call, 400);
  if (!body) return body.error();
  if (!body->contains(key)) return bad_request(key + " is required.");
  if (auto p = check_members(store, *body, key, adding)) return bad_request(*p);
  const Json& given = (*body)[key];
  if (!given.is_array()) return no_content();  // "tags": null changes nothing
  Json& members = (*fw)[key];
  for (const auto& m : given) {
    members.erase(std::remove(members.begin(), members.end(), m), members.end());
    if (adding) members.push_back(m);
  }
  if (adding && key == "tags") store.remember_tags(given);
  start_change(store, *fw, call.now, call.provision_seconds / 2);
  return no_content();
}

}  // namespace

void add_firewall_routes(Routes& routes) {
  routes.add("POST", "/v2/firewalls", create_firewall);
  routes.add("GET", "/v2/firewalls", list_firewalls);
  routes.add("GET", "/v2/firewalls/{id}", get_firewall);
  routes.add("PUT", "/v2/firewalls/{id}", update_firewall);
  routes.add("DELETE", "/v2/firewalls/{id}", delete_firewall);
  routes.add("POST", "/v2/firewalls/{id}/droplets",
             [](const Call& c, Store& s) { return change_members(c, s, "droplet_ids", true); });
  routes.add("DELETE", "/v2/firewalls/{id}/droplets",
             [](const Call& c, Store& s) { return change_members(c, s, "droplet_ids", false); });
  routes.add("POST", "/v2/firewalls/{id}/tags", [](const Call& c, Store& s) { return change_members(c, s, "tags", true); });
  routes.add("DELETE", "/v2/firewalls/{id}/tags",
             [](const Call& c, Store& s) { return change_members(c, s, "tags", false); });
}

}  // namespace keel::cloudsim::digitalocean

// Droplets: create (one or several names), list, get, delete (by id or by
// tag). A new Droplet is "new" with no addresses; when provisioning ends
// its create action completes and it is "active" with a public and a
// private IPv4 address.

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "tests/cloudsim/digitalocean_catalog.h"
#include "tests/cloudsim/digitalocean_droplets.h"
#include "tests/cloudsim/digitalocean_protocol.h"
#include "tests/cloudsim/digitalocean_resources.h"
#include "tests/cloudsim/digitalocean_routes.h"

namespace keel::cloudsim::digitalocean {

namespace {

constexpr size_t kMaxNames = 10;
constexpr size_t kMaxUserData = 64 * 1024;

struct DropletRequest {
  std::vector<std::string> names;
  const DropletSize* size = nullptr;
  const Image* image = nullptr;
  const Region* region = nullptr;
  Json tags;
  bool backups = false;
  bool ipv6 = false;
  bool monitoring = false;
  std::string vpc_uuid;
  Json volumes;  // ids of volumes to attach at creation
};

std::string invalid_name(const std::string& name) {
  return "Name `" + name + "` is invalid: only valid hostname characters are allowed (a-z, A-Z, 0-9, . and -).";
}

std::expected<std::vector<std::string>, std::string> read_names(const Json& body) {
  if (body.contains("names")) {
    if (!is_string_array(body["names"]) || body["names"].empty() || body["names"].size() > kMaxNames)
      return std::unexpected("names must be an array of 1 to 10 Droplet names.");
    std::vector<std::string> names;
    for (const auto& n : body["names"]) {
      if (!valid_droplet_name(n.get<std::string>())) return std::unexpected(invalid_name(n.get<std::string>()));
      names.push_back(n.get<std::string>());
    }
    return names;
  }
  if (!body.contains("name") || !body["name"].is_string()) return std::unexpected("Name is required.");
  const std::string name = body["name"].get<std::string>();
  if (!valid_droplet_name(name)) return std::unexpected(invalid_name(name));
  return std::vector<std::string>{name};
}

// Volumes named at creation must exist, be in the Droplet's region, and be free.
Problem check_volumes(Store& store, const Json& body, const std::string& region) {
  if (!body.contains("volumes")) return std::nullopt;
  if (!is_string_array(body["volumes"])) return "volumes must be an array of volume ids.";
  for (const auto& id : body["volumes"]) {
    const Json* volume = store.volumes.find(id.get<std::string>());
    if (!volume) return "Volume " + id.get<std::string>() + " could not be found.";
    if (region_of(*volume) != region) return "Volume " + id.get<std::string>() + " is not in " + region + ".";
    if (!(*volume)["droplet_ids"].empty())
      return "Volume " + id.get<std::string>() + " is already attached to a Droplet.";
  }
  return std::nullopt;
}

Problem check_flags(const Json& body) {
  for (const char* flag : {"backups", "ipv6", "monitoring", "private_networking", "with_droplet_agent"})
    if (auto p = check_optional_bool(body, flag)) return p;
  if (auto p = check_optional_string(body, "user_data")) return p;
  if (body.contains("user_data") && body["user_data"].get<std::string>().size() > kMaxUserData)
    return "user_data must be at most 64 KiB.";
  return check_optional_string(body, "vpc_uuid");
}

// Size, image and region: each must be in the catalog.
Problem read_catalog_choices(const Json& body, DropletRequest& r) {
  r.size = body.contains("size") && body["size"].is_string() ? find_droplet_size(body["size"].get<std::string>())
                                                               : nullptr;
  if (!r.size) return "You specified an invalid size for Droplet creation.";
  r.image = body.contains("image") ? find_image(body["image"]) : nullptr;
  if (!r.image) return "You specified an invalid image for Droplet creation.";
  // DigitalOcean picks a region when none is given; the simulator always picks nyc3.
  r.region = find_region(string_or(body, "region", "nyc3"));
  if (!r.region || (body.contains("region") && !body["region"].is_string()))
    return "You specified an invalid region for Droplet creation.";
  return std::nullopt;
}

std::expected<DropletRequest, std::string> read_request(Store& store, const Json& body) {
  DropletRequest r;
  auto names = read_names(body);
  if (!names) return std::unexpected(names.error());
  r.names = std::move(*names);
  if (auto p = read_catalog_choices(body, r)) return std::unexpected(*p);
  if (auto p = check_tags(body)) return std::unexpected(*p);
  if (auto p = check_flags(body)) return std::unexpected(*p);
  if (auto p = check_volumes(store, body, std::string(r.region->slug))) return std::unexpected(*p);
  if (r.names.size() > 1 && body.contains("volumes") && !body["volumes"].empty())
    return std::unexpected("Volumes can only be attached when creating a single Droplet.");
  r.tags = tags_of(body);
  r.backups = bool_or(body, "backups", false);
  r.ipv6 = bool_or(body, "ipv6", false);
  r.monitoring = bool_or(body, "monitoring", false);
  r.vpc_uuid = string_or(body, "vpc_uuid", store.default_vpc(std::string(r.region->slug)));
  r.volumes = body.contains("volumes") ? body["volumes"] : Json::array();
  return r;
}

Json features(const DropletRequest& r) {
  Json out = Json::array({"private_networking"});
  if (r.backups) out.push_back("backups");
  if (r.ipv6) out.push_back("ipv6");
  if (r.monitoring) out.push_back("monitoring");
  return out;
}

Json new_droplet(Store& store, int64_t id, const std::string& name, const DropletRequest& r, TimePoint now) {
  Json droplet{{"id", id},
               {"name", name},
               {"memory", r.size->memory_mb},
               {"vcpus", r.size->vcpus},
               {"disk", r.size->disk_gb},
               {"disk_info", droplet_size_json(*r.size)["disk_info"]},
               {"locked", false},
               {"status", "new"},
               {"kernel", nullptr},
               {"created_at", iso_time(now)},
               {"features", features(r)},
               {"backup_ids", Json::array()},
               {"next_backup_window", r.backups ? next_backup_window(now) : Json(nullptr)},
               {"snapshot_ids", Json::array()},
               {"image", image_json(*r.image)},
               {"volume_ids", Json::array()},
               {"size", droplet_size_json(*r.size)},
               {"size_slug", r.size->slug},
               {"networks", {{"v4", Json::array()}, {"v6", Json::array()}}},
               {"region", region_json(*r.region)},
               {"tags", r.tags},
               {"vpc_uuid", r.vpc_uuid}};
  store.remember_tags(r.tags);
  return droplet;
}

void attach_at_creation(Store& store, Json& droplet, const Json& volume_ids) {
  for (const auto& volume_id : volume_ids) {
    (*store.volumes.find(volume_id.get<std::string>()))["droplet_ids"].push_back(droplet["id"]);
    droplet["volume_ids"].push_back(volume_id);
  }
}

// When provisioning ends: addresses and "active". False when the Droplet
// was deleted in the meantime (the create action then ends "errored").
bool finish_provisioning(Store& store, const std::string& id) {
  Json* droplet = store.droplets.find(id);
  if (!droplet) return false;
  (*droplet)["status"] = "active";
  (*droplet)["networks"] = droplet_networks(store, has_feature(*droplet, "ipv6"), (*droplet)["id"].get<int64_t>());
  return true;
}

Reply create_droplets(const Call& call, Store& store) {
  auto body = object_body(call, 422);
  if (!body) return body.error();
  auto request = read_request(store, *body);
  if (!request) return unprocessable(request.error());

  Json droplets = Json::array();
  Json links = Json::array();
  for (const auto& name : request->names) {
    const int64_t id = Store::next_droplet_id();
    const std::string key = std::to_string(id);
    Json& droplet = store.droplets.add(key, new_droplet(store, id, name, *request, call.now));
    attach_at_creation(store, droplet, request->volumes);
    const Json& action = store.start_action({"create", "droplet", id, std::string(request->region->slug), ""},
                                            call.now, call.provision_seconds,
                                            [&store, key](TimePoint) { return finish_provisioning(store, key); });
    droplets.push_back(droplet);
    links.push_back({{"id", action["id"]},
                     {"rel", "create"},
                     {"href", call.base_url + "/v2/actions/" + action["id"].dump()}});
  }
  if (!body->contains("names")) return json_reply(202, {{"droplet", droplets[0]}, {"links", {{"actions", links}}}});
  return json_reply(202, {{"droplets", droplets}, {"links", {{"actions", links}}}});
}

Reply list_droplets(const Call& call, Store& store) {
  const auto tag = call.query_value("tag_name");
  const auto name = call.query_value("name");
  std::vector<Json> items;
  for (const Json* droplet : store.droplets.list()) {
    if (tag && !has_tag(*droplet, *tag)) continue;
    if (name && (*droplet)["name"] != *name) continue;
    items.push_back(*droplet);
  }
  return json_reply(200, paged(call, "droplets", items));
}

Reply get_droplet(const Call& call, Store& store) {
  const Json* droplet = find_droplet(store, call.param("id"));
  if (!droplet) return not_found();
  return json_reply(200, {{"droplet", *droplet}});
}

Reply delete_droplet(const Call& call, Store& store) {
  if (!find_droplet(store, call.param("id"))) return not_found();
  store.remove_droplet(call.param("id"));
  return no_content();
}

Reply delete_droplets_by_tag(const Call& call, Store& store) {
  const auto tag = call.query_value("tag_name");
  if (!tag || tag->empty()) return unprocessable("tag_name is required to delete Droplets by tag.");
  std::vector<std::string> doomed;
  for (const Json* droplet : store.droplets.list())
    if (has_tag(*droplet, *tag)) doomed.push_back((*droplet)["id"].dump());
  for (const auto& id : doomed) store.remove_droplet(id);
  return no_content();
}

}  // namespace

bool has_feature(const Json& droplet, const std::string& feature) {
  if (!droplet.contains("features")) return false;
  const Json& features = droplet["features"];
  return features.is_array() && std::find(features.begin(), features.end(), Json(feature)) != features.end();
}

Json next_backup_window(TimePoint now) {
  // The next full day, as DigitalOcean announces a window of 23 hours.
  auto day = std::chrono::floor<std::chrono::days>(now) + std::chrono::days(1);
  return Json{{"start", iso_time(day)}, {"end", iso_time(day + std::chrono::hours(23))}};
}

Json droplet_networks(Store& store, bool ipv6, int64_t id) {
  const std::string public_ip = store.next_public_ipv4();
  const std::string gateway = public_ip.substr(0, public_ip.rfind('.')) + ".1";
  Json v4 = Json::array({Json{{"ip_address", public_ip}, {"netmask", "255.255.255.0"}, {"gateway", gateway},
                              {"type", "public"}},
                         Json{{"ip_address", store.next_private_ipv4()}, {"netmask", "255.255.0.0"},
                              {"gateway", "10.110.0.1"}, {"type", "private"}}});
  return Json{{"v4", v4}, {"v6", ipv6 ? droplet_ipv6(id) : Json::array()}};
}

Json droplet_ipv6(int64_t id) {
  // 2001:db8::/32 is the IPv6 documentation prefix.
  char address[48];
  std::snprintf(address, sizeof address, "2001:db8:0:1::%x", static_cast<unsigned>(id & 0xffff));
  return Json::array(
      {Json{{"ip_address", address}, {"netmask", 64}, {"gateway", "2001:db8:0:1::1"}, {"type", "public"}}});
}

void add_droplet_routes(Routes& routes) {
  routes.add("POST", "/v2/droplets", create_droplets);
  routes.add("GET", "/v2/droplets", list_droplets);
  routes.add("DELETE", "/v2/droplets", delete_droplets_by_tag);
  routes.add("GET", "/v2/droplets/{id}", get_droplet);
  routes.add("DELETE", "/v2/droplets/{id}", delete_droplet);
}

}  // namespace keel::cloudsim::digitalocean

// Droplet actions: POST /v2/droplets/{id}/actions and the two GETs under
// it. An accepted action is "in-progress" and the Droplet is locked; after
// half the provisioning time the action completes and its effect applies
// (status off/active, size, name, backups, image...). DigitalOcean refuses
// an action while another is pending, and a resize of a Droplet that is on.

#include <algorithm>
#include <atomic>
#include <functional>
#include <set>

#include "tests/cloudsim/digitalocean_catalog.h"
#include "tests/cloudsim/digitalocean_droplets.h"
#include "tests/cloudsim/digitalocean_protocol.h"
#include "tests/cloudsim/digitalocean_resources.h"
#include "tests/cloudsim/digitalocean_routes.h"

namespace keel::cloudsim::digitalocean {

namespace {

// What an accepted action does to its Droplet when it completes.
using Effect = std::function<void(Json& droplet, TimePoint completed)>;
using Plan = std::expected<Effect, std::string>;

const std::set<std::string>& action_types() {
  static const std::set<std::string> kTypes{
      "enable_backups", "disable_backups", "reboot",  "power_cycle", "shutdown", "power_off",   "power_on",  "restore",
      "password_reset", "resize",          "rebuild", "rename",      "change_kernel", "enable_ipv6", "snapshot"};
  return kTypes;
}

Effect set_status(const char* status) {
  return [status](Json& droplet, TimePoint) { droplet["status"] = status; };
}

Plan plan_resize(const Json& body, const Json& droplet) {
  if (droplet["status"] != "off") return std::unexpected("Droplet is currently on. Please power it off to run this event.");
  const DropletSize* size =
      body.contains("size") && body["size"].is_string() ? find_droplet_size(body["size"].get<std::string>()) : nullptr;
  if (!size) return std::unexpected("You specified an invalid size for Droplet resize.");
  if (auto p = check_optional_bool(body, "disk")) return std::unexpected(*p);
  // A disk never shrinks, so a size with a smaller disk is out of reach.
  if (size->disk_gb < droplet["disk"].get<int>())
    return std::unexpected("This size is not available because it has a smaller disk.");
  const bool grow_disk = bool_or(body, "disk", false);
  return [size, grow_disk](Json& d, TimePoint) {
    d["size"] = droplet_size_json(*size);
    d["size_slug"] = size->slug;
    d["memory"] = size->memory_mb;
    d["vcpus"] = size->vcpus;
    if (grow_disk) {
      d["disk"] = size->disk_gb;
      d["disk_info"] = d["size"]["disk_info"];
    }
  };
}

Plan plan_rename(const Json& body) {
  const std::string name = string_or(body, "name", "");
  if (!valid_droplet_name(name))
    return std::unexpected("Name `" + name + "` is invalid: only valid hostname characters are allowed.");
  return [name](Json& d, TimePoint) { d["name"] = name; };
}

Plan plan_rebuild(const Json& body) {
  const Image* image = body.contains("image") ? find_image(body["image"]) : nullptr;
  if (!image) return std::unexpected("You specified an invalid image for Droplet rebuild.");
  return [image](Json& d, TimePoint) {
    d["image"] = image_json(*image);
    d["status"] = "active";
  };
}

Effect backups(bool enable) {
  return [enable](Json& d, TimePoint completed) {
    Json& features = d["features"];
    features.erase(std::remove(features.begin(), features.end(), Json("backups")), features.end());
    if (enable) features.push_back("backups");
    d["next_backup_window"] = enable ? next_backup_window(completed) : Json(nullptr);
  };
}

Effect take_snapshot() {
  static std::atomic<int64_t> next_snapshot_id{700000001};
  return [](Json& d, TimePoint) { d["snapshot_ids"].push_back(next_snapshot_id++); };
}

Effect enable_ipv6() {
  return [](Json& d, TimePoint) {
    if (!has_feature(d, "ipv6")) d["features"].push_back("ipv6");
    if (d["networks"]["v6"].empty()) d["networks"]["v6"] = droplet_ipv6(d["id"].get<int64_t>());
  };
}

Plan plan(const std::string& type, const Json& body, const Json& droplet) {
  if (type == "power_off" || type == "shutdown") return set_status("off");
  if (type == "power_on" || type == "reboot" || type == "power_cycle") return set_status("active");
  if (type == "resize") return plan_resize(body, droplet);
  if (type == "rename") return plan_rename(body);
  if (type == "rebuild") return plan_rebuild(body);
  if (type == "enable_backups" || type == "disable_backups") return backups(type == "enable_backups");
  if (type == "snapshot") return take_snapshot();
  if (type == "enable_ipv6") return enable_ipv6();
  // password_reset, restore, change_kernel: nothing the API shows changes.
  return [](Json&, TimePoint) {};
}

Reply post_action(const Call& call, Store& store) {
  Json* droplet = find_droplet(store, call.param("id"));
  if (!droplet) return not_found();
  auto body = object_body(call, 422);
  if (!body) return body.error();
  const std::string type = string_or(*body, "type", "");
  if (!action_types().contains(type)) return unprocessable("`" + type + "` is not a valid Droplet action type.");
  if ((*droplet)["status"] == "new" || (*droplet)["locked"] == true)
    return unprocessable("Droplet already has a pending event.");
  auto effect = plan(type, *body, *droplet);
  if (!effect) return unprocessable(effect.error());

  (*droplet)["locked"] = true;
  const std::string key = call.param("id");
  const Json& action = store.start_action(
      {type, "droplet", (*droplet)["id"], region_of(*droplet), ""}, call.now, call.provision_seconds / 2,
      [&store, key, effect = *effect](TimePoint completed) {
        Json* d = store.droplets.find(key);
        if (!d) return false;
        effect(*d, completed);
        (*d)["locked"] = false;
        return true;
      });
  return json_reply(201, {{"action", action}});
}

bool belongs_to(const Action& action, const Json& droplet_id) {
  return action.json["resource_type"] == "droplet" && action.json["resource_id"] == droplet_id;
}

Json droplet_id_json(const std::string& text) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) return nullptr;
  return std::stoll(text);
}

Reply list_actions(const Call& call, Store& store) {
  if (!find_droplet(store, call.param("id"))) return not_found();
  const Json id = droplet_id_json(call.param("id"));
  std::vector<Json> items;
  for (auto it = store.actions.rbegin(); it != store.actions.rend(); ++it)
    if (belongs_to(it->second, id)) items.push_back(it->second.json);
  return json_reply(200, paged(call, "actions", items));
}

Reply get_action(const Call& call, Store& store) {
  const Json id = droplet_id_json(call.param("id"));
  const Json action_id = droplet_id_json(call.param("action_id"));
  if (id.is_null() || action_id.is_null()) return not_found();
  auto it = store.actions.find(action_id.get<int64_t>());
  // The action outlives its Droplet: a client may still poll it.
  if (it == store.actions.end() || !belongs_to(it->second, id)) return not_found();
  return json_reply(200, {{"action", it->second.json}});
}

}  // namespace

void add_droplet_action_routes(Routes& routes) {
  routes.add("POST", "/v2/droplets/{id}/actions", post_action);
  routes.add("GET", "/v2/droplets/{id}/actions", list_actions);
  routes.add("GET", "/v2/droplets/{id}/actions/{action_id}", get_action);
}

}  // namespace keel::cloudsim::digitalocean

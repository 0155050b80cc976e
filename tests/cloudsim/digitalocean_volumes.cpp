// Block storage volumes: create (201, usable at once, as on DigitalOcean),
// list (filters name and region), get, delete (409 while attached), and
// volume actions: attach, detach, resize (grow only). An action is
// "in-progress" for half the provisioning time and takes effect when it
// completes; it is checked again then, and ends "errored" if it no longer
// fits (say, the Droplet was deleted meanwhile).

#include <algorithm>

#include "core/crypto.h"
#include "tests/cloudsim/digitalocean_catalog.h"
#include "tests/cloudsim/digitalocean_protocol.h"
#include "tests/cloudsim/digitalocean_resources.h"
#include "tests/cloudsim/digitalocean_routes.h"

namespace keel::cloudsim::digitalocean {

namespace {

constexpr int64_t kMaxGigabytes = 16384;

// ---- create ----

bool name_taken(Store& store, const std::string& name, const std::string& region) {
  for (const Json* v : store.volumes.list())
    if ((*v)["name"] == name && region_of(*v) == region) return true;
  return false;
}

Problem check_filesystem(const Json& body) {
  const std::string type = string_or(body, "filesystem_type", "");
  if (type != "" && type != "ext4" && type != "xfs") return "filesystem_type must be ext4 or xfs.";
  const size_t max_label = type == "xfs" ? 12 : 16;
  if (string_or(body, "filesystem_label", "").size() > max_label)
    return "filesystem_label is too long for " + (type.empty() ? std::string("the filesystem") : type) + ".";
  return std::nullopt;
}

Problem check_create(const Json& body) {
  const std::string name = string_or(body, "name", "");
  if (!valid_volume_name(name))
    return "Name `" + name + "` is invalid: use lower-case letters, numbers and dashes, starting with a letter.";
  const int64_t size = int_or(body, "size_gigabytes", 0);
  if (size < 1 || size > kMaxGigabytes) return "size_gigabytes must be an integer from 1 to 16384.";
  if (!find_region(string_or(body, "region", ""))) return "You specified an invalid region for the volume.";
  if (auto p = check_optional_string(body, "description")) return p;
  if (auto p = check_filesystem(body)) return p;
  return check_tags(body);
}

Json new_volume(const Json& body, TimePoint now) {
  return Json{{"id", crypto::uuid_v4()},
              {"name", body["name"]},
              {"description", string_or(body, "description", "")},
              {"size_gigabytes", body["size_gigabytes"]},
              {"created_at", iso_time(now)},
              {"droplet_ids", Json::array()},
              {"region", region_json(*find_region(body["region"].get<std::string>()))},
              {"filesystem_type", string_or(body, "filesystem_type", "")},
              {"filesystem_label", string_or(body, "filesystem_label", "")},
              {"tags", tags_of(body)}};
}

Reply create_volume(const Call& call, Store& store) {
  auto body = object_body(call, 400);
  if (!body) return body.error();
  if (auto p = check_create(*body)) return bad_request(*p);
  if (body->contains("snapshot_id")) return not_found();  // the simulator has no snapshots
  const std::string name = (*body)["name"].get<std::string>();
  const std::string region = (*body)["region"].get<std::string>();
  if (name_taken(store, name, region)) return conflict("A volume named " + name + " already exists in " + region + ".");
  Json volume = new_volume(*body, call.now);
  store.remember_tags(volume["tags"]);
  const std::string id = volume["id"].get<std::string>();
  return json_reply(201, {{"volume", store.volumes.add(id, std::move(volume))}});
}

// ---- read, delete ----

Reply list_volumes(const Call& call, Store& store) {
  const auto name = call.query_value("name");
  const auto region = call.query_value("region");
  std::vector<Json> items;
  for (const Json* v : store.volumes.list()) {
    if (name && (*v)["name"] != *name) continue;
    if (region && region_of(*v) != *region) continue;
    items.push_back(*v);
  }
  return json_reply(200, paged(call, "volumes", items));
}

Reply get_volume(const Call& call, Store& store) {
  const Json* v = store.volumes.find(call.param("id"));
  if (!v) return not_found();
  return json_reply(200, {{"volume", *v}});
}

Reply delete_volume(const Call& call, Store& store) {
  const Json* v = store.volumes.find(call.param("id"));
  if (!v) return not_found();
  if (!(*v)["droplet_ids"].empty())
    return conflict("A volume that's attached to a Droplet cannot be deleted. Please detach it first before deleting.");
  store.volumes.erase(call.param("id"));
  return no_content();
}

// ---- actions ----

// The reason an attach, detach or resize cannot happen now; checked when
// the action is asked for and again when it completes.
Problem attach_problem(Store& store, const Json& volume, const Json& droplet_id) {
  const Json* droplet = find_droplet(store, droplet_id);
  if (!droplet) return "Droplet " + droplet_id.dump() + " could not be found.";
  if (region_of(*droplet) != region_of(volume)) return "The volume and the Droplet must be in the same region.";
  if (!volume["droplet_ids"].empty()) return "The volume is already attached to a Droplet.";
  return std::nullopt;
}

Problem detach_problem(const Json& volume, const Json& droplet_id) {
  const Json& attached = volume["droplet_ids"];
  if (std::find(attached.begin(), attached.end(), droplet_id) == attached.end()) return "Attachment not found";
  return std::nullopt;
}

Problem resize_problem(const Json& volume, int64_t size) {
  if (size > kMaxGigabytes) return "size_gigabytes must be at most 16384.";
  if (size <= volume["size_gigabytes"].get<int64_t>()) return "A volume can only grow: size_gigabytes must be larger.";
  return std::nullopt;
}

void link(Store& store, const std::string& volume_id, const Json& droplet_id, bool attach) {
  Json& volume = *store.volumes.find(volume_id);
  Json* droplet = find_droplet(store, droplet_id);
  Json& attached = volume["droplet_ids"];
  attached.erase(std::remove(attached.begin(), attached.end(), droplet_id), attached.end());
  if (attach) attached.push_back(droplet_id);
  if (!droplet) return;
  Json& ids = (*droplet)["volume_ids"];
  ids.erase(std::remove(ids.begin(), ids.end(), Json(volume_id)), ids.end());
  if (attach) ids.push_back(volume_id);
}

// The effect to apply on completion, or the problem right now.
std::expected<std::function<bool(TimePoint)>, std::string> plan(Store& store, const std::string& volume_id,
                                                                 const std::string& type, const Json& body) {
  const Json& volume = *store.volumes.find(volume_id);
  if (type == "attach" || type == "detach") {
    const Json droplet_id = body.value("droplet_id", Json());
    if (!droplet_id.is_number_integer()) return std::unexpected("droplet_id is required.");
    const bool attach = type == "attach";
    if (auto p = attach ? attach_problem(store, volume, droplet_id) : detach_problem(volume, droplet_id))
      return std::unexpected(*p);
    return [&store, volume_id, droplet_id, attach](TimePoint) {
      const Json* v = store.volumes.find(volume_id);
      if (!v || (attach ? attach_problem(store, *v, droplet_id) : detach_problem(*v, droplet_id))) return false;
      link(store, volume_id, droplet_id, attach);
      return true;
    };
  }
  const int64_t size = int_or(body, "size_gigabytes", 0);
  if (auto p = resize_problem(volume, size)) return std::unexpected(*p);
  return [&store, volume_id, size](TimePoint) {
    Json* v = store.volumes.find(volume_id);
    if (!v || resize_problem(*v, size)) return false;
    (*v)["size_gigabytes"] = size;
    return true;
  };
}

Reply post_action(const Call& call, Store& store) {
  const Json* volume = store.volumes.find(call.param("id"));
  if (!volume) return not_found();
  auto body = object_body(call, 422);
  if (!body) return body.error();
  const std::string type = string_or(*body, "type", "");
  if (type != "attach" && type != "detach" && type != "resize")
    return unprocessable("type must be attach, detach or resize.");
  auto effect = plan(store, call.param("id"), type, *body);
  if (!effect) return unprocessable(effect.error());
  const Json& action = store.start_action({type + "_volume", "volume", nullptr, region_of(*volume), call.param("id")},
                                          call.now, call.provision_seconds / 2, std::move(*effect));
  return json_reply(202, {{"action", action}});
}

Reply list_actions(const Call& call, Store& store) {
  if (!store.volumes.find(call.param("id"))) return not_found();
  std::vector<Json> items;
  for (auto it = store.actions.rbegin(); it != store.actions.rend(); ++it)
    if (it->second.volume_id == call.param("id")) items.push_back(it->second.json);
  return json_reply(200, paged(call, "actions", items));
}

Reply get_action(const Call& call, Store& store) {
  const std::string& action_id = call.param("action_id");
  if (action_id.empty() || action_id.size() > 18 || action_id.find_first_not_of("0123456789") != std::string::npos)
    return not_found();
  auto it = store.actions.find(std::stoll(action_id));
  if (it == store.actions.end() || it->second.volume_id != call.param("id")) return not_found();
  return json_reply(200, {{"action", it->second.json}});
}

}  // namespace

void add_volume_routes(Routes& routes) {
  routes.add("POST", "/v2/volumes", create_volume);
  routes.add("GET", "/v2/volumes", list_volumes);
  routes.add("GET", "/v2/volumes/{id}", get_volume);
  routes.add("DELETE", "/v2/volumes/{id}", delete_volume);
  routes.add("POST", "/v2/volumes/{id}/actions", post_action);
  routes.add("GET", "/v2/volumes/{id}/actions", list_actions);
  routes.add("GET", "/v2/volumes/{id}/actions/{action_id}", get_action);
}

}  // namespace keel::cloudsim::digitalocean

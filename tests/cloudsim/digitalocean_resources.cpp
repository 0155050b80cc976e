#include "tests/cloudsim/digitalocean_resources.h"

#include <algorithm>

namespace keel::cloudsim::digitalocean {

Json* find_droplet(Store& store, const std::string& id) {
  if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos) return nullptr;
  return store.droplets.find(id);
}

Json* find_droplet(Store& store, const Json& id) {
  if (!id.is_number_integer()) return nullptr;
  return store.droplets.find(std::to_string(id.get<int64_t>()));
}

std::string region_of(const Json& resource) {
  if (!resource.contains("region")) return "";
  const Json& region = resource["region"];
  if (region.is_string()) return region.get<std::string>();
  if (region.is_object() && region.contains("slug") && region["slug"].is_string())
    return region["slug"].get<std::string>();
  return "";
}

bool has_tag(const Json& resource, const std::string& tag) {
  if (!resource.contains("tags") || !resource["tags"].is_array()) return false;
  const Json& tags = resource["tags"];
  return std::find(tags.begin(), tags.end(), Json(tag)) != tags.end();
}

Problem check_droplets(Store& store, const Json& ids, const std::string& region) {
  if (!is_integer_array(ids)) return "droplet_ids must be an array of integers.";
  for (const auto& id : ids) {
    const Json* droplet = find_droplet(store, id);
    if (!droplet) return "Droplet " + id.dump() + " could not be found.";
    if (!region.empty() && region_of(*droplet) != region)
      return "Droplet " + id.dump() + " is in " + region_of(*droplet) + ", not in " + region + ".";
  }
  return std::nullopt;
}

Json droplet_ids_with_tag(Store& store, const std::string& tag) {
  Json ids = Json::array();
  for (const Json* droplet : store.droplets.list())
    if (has_tag(*droplet, tag)) ids.push_back((*droplet)["id"]);
  return ids;
}

}  // namespace keel::cloudsim::digitalocean

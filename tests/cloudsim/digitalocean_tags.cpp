// Tags: POST /v2/tags, GET /v2/tags, GET and DELETE /v2/tags/{tag}, and
// POST/DELETE /v2/tags/{tag}/resources to tag or untag Droplets and
// volumes. A tag also comes into existence when a resource is created with
// it, as on DigitalOcean. Counts are computed from the resources each time.

#include <algorithm>

#include "tests/cloudsim/digitalocean_protocol.h"
#include "tests/cloudsim/digitalocean_resources.h"
#include "tests/cloudsim/digitalocean_routes.h"

namespace keel::cloudsim::digitalocean {

namespace {

// {count, last_tagged_uri} of one kind of resource.
Json tagged(Collection& collection, const std::string& tag, const std::string& uri_prefix) {
  int64_t count = 0;
  std::string last;
  for (const Json* resource : collection.list()) {
    if (!has_tag(*resource, tag)) continue;
    ++count;
    const Json& id = (*resource)["id"];
    last = uri_prefix + (id.is_string() ? id.get<std::string>() : id.dump());
  }
  Json out{{"count", count}};
  if (!last.empty()) out["last_tagged_uri"] = last;
  return out;
}

Json tag_json(const Call& call, Store& store, const std::string& tag) {
  const std::string base = call.base_url + "/v2/";
  Json droplets = tagged(store.droplets, tag, base + "droplets/");
  Json volumes = tagged(store.volumes, tag, base + "volumes/");
  Json databases = tagged(store.databases, tag, base + "databases/");
  Json resources{{"count", droplets["count"].get<int64_t>() + volumes["count"].get<int64_t>() +
                               databases["count"].get<int64_t>()}};
  for (const Json* kind : {&droplets, &volumes, &databases})
    if (kind->contains("last_tagged_uri")) resources["last_tagged_uri"] = (*kind)["last_tagged_uri"];
  resources["droplets"] = droplets;
  resources["imgages"] = Json{{"count", 0}};  // sic: the document spells it so
  resources["volumes"] = volumes;
  resources["volume_snapshots"] = Json{{"count", 0}};
  resources["databases"] = databases;
  return Json{{"name", tag}, {"resources", resources}};
}

Reply create_tag(const Call& call, Store& store) {
  auto body = object_body(call, 422);
  if (!body) return body.error();
  const std::string name = string_or(*body, "name", "");
  // The document's 400 for this operation has a shape of its own
  // ({error, root_causes}); DigitalOcean's usual 422 body is used instead.
  if (!valid_tag(name))
    return unprocessable("Tag name `" + name +
                         "` is invalid: use letters, numbers, colons, dashes and underscores (at most 255).");
  store.tags.insert(name);
  return json_reply(201, {{"tag", tag_json(call, store, name)}});
}

Reply list_tags(const Call& call, Store& store) {
  std::vector<Json> items;
  for (const auto& tag : store.tags) items.push_back(tag_json(call, store, tag));
  return json_reply(200, paged(call, "tags", items));
}

Reply get_tag(const Call& call, Store& store) {
  if (!store.tags.contains(call.param("tag"))) return not_found();
  return json_reply(200, {{"tag", tag_json(call, store, call.param("tag"))}});
}

void untag(Collection& collection, const Json& tag) {
  for (Json* resource : collection.list()) {
    if (!resource->contains("tags") || !(*resource)["tags"].is_array()) continue;
    Json& tags = (*resource)["tags"];
    tags.erase(std::remove(tags.begin(), tags.end(), tag), tags.end());
  }
}

Reply delete_tag(const Call& call, Store& store) {
  if (store.tags.erase(call.param("tag")) == 0) return not_found();
  const Json tag = call.param("tag");
  for (Collection* c : {&store.droplets, &store.databases, &store.volumes, &store.firewalls}) untag(*c, tag);
  return no_content();
}

// The resources named by {resources: [{resource_id, resource_type}]}:
// Droplets and volumes of this tenant (the simulator has no images or
// snapshots to tag).
std::expected<std::vector<Json*>, Reply> tag_targets(const Call& call, Store& store) {
  auto body = object_body(call, 422);
  if (!body) return std::unexpected(body.error());
  if (!body->contains("resources") || !(*body)["resources"].is_array())
    return std::unexpected(unprocessable("resources must be an array of {resource_id, resource_type}."));
  std::vector<Json*> targets;
  for (const auto& r : (*body)["resources"]) {
    const std::string id = r.is_object() ? string_or(r, "resource_id", "") : "";
    const std::string type = r.is_object() ? string_or(r, "resource_type", "") : "";
    Json* target = type == "droplet" ? find_droplet(store, id) : type == "volume" ? store.volumes.find(id) : nullptr;
    if (!target) return std::unexpected(unprocessable("The " + type + " " + id + " could not be found."));
    targets.push_back(target);
  }
  return targets;
}

// POST (adding) and DELETE .../resources. Tagging needs the tag to exist:
// DigitalOcean answers 404 otherwise, and clients create it then.
Reply tag_resources(const Call& call, Store& store, bool adding) {
  const std::string tag = call.param("tag");
  if (!store.tags.contains(tag)) return not_found();
  auto targets = tag_targets(call, store);
  if (!targets) return targets.error();
  for (Json* target : *targets) {
    Json& tags = (*target)["tags"];
    if (!tags.is_array()) tags = Json::array();
    tags.erase(std::remove(tags.begin(), tags.end(), Json(tag)), tags.end());
    if (adding) tags.push_back(tag);
  }
  return no_content();
}

}  // namespace

void add_tag_routes(Routes& routes) {
  routes.add("POST", "/v2/tags", create_tag);
  routes.add("GET", "/v2/tags", list_tags);
  routes.add("GET", "/v2/tags/{tag}", get_tag);
  routes.add("DELETE", "/v2/tags/{tag}", delete_tag);
  routes.add("POST", "/v2/tags/{tag}/resources", [](const Call& c, Store& s) { return tag_resources(c, s, true); });
  routes.add("DELETE", "/v2/tags/{tag}/resources", [](const Call& c, Store& s) { return tag_resources(c, s, false); });
}

}  // namespace keel::cloudsim::digitalocean

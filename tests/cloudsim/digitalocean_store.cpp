#include "tests/cloudsim/digitalocean_store.h"

#include <algorithm>
#include <atomic>

#include "core/crypto.h"
#include "tests/cloudsim/digitalocean_catalog.h"
#include "tests/cloudsim/digitalocean_protocol.h"

namespace keel::cloudsim::digitalocean {

// ---- Collection ----

Json* Collection::find(const std::string& id) {
  auto it = items_.find(id);
  return it == items_.end() ? nullptr : &it->second;
}

Json& Collection::add(const std::string& id, Json resource) {
  order_.push_back(id);
  return items_[id] = std::move(resource);
}

bool Collection::erase(const std::string& id) {
  if (items_.erase(id) == 0) return false;
  order_.erase(std::find(order_.begin(), order_.end(), id));
  return true;
}

std::vector<Json*> Collection::list() {
  std::vector<Json*> out;
  for (const auto& id : order_) out.push_back(&items_.at(id));
  return out;
}

// ---- Store ----

namespace {

// Ids are global rather than per tenant, so that an id from one test can
// never find another test's resource.
std::atomic<int64_t> g_next_droplet_id{400000001};
std::atomic<int64_t> g_next_action_id{2000000001};

// A uuid-shaped string that is the same for the same token each time: the
// account of a token keeps its identity across /_sim/reset.
std::string stable_uuid(const std::string& seed) {
  std::string h = crypto::sha256_hex(seed);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-4" + h.substr(13, 3) + "-a" + h.substr(17, 3) + "-" +
         h.substr(20, 12);
}

void remove_id(Json& array, const Json& id) {
  if (!array.is_array()) return;
  array.erase(std::remove(array.begin(), array.end(), id), array.end());
}

}  // namespace

Store::Store(const std::string& token)
    : account_uuid(stable_uuid("account:" + token)),
      account_email("sim-" + crypto::sha256_hex(token).substr(0, 8) + "@example.com"),
      project_id(stable_uuid("project:" + token)),
      account_number(static_cast<int>(std::stoul(crypto::sha256_hex(token).substr(0, 6), nullptr, 16))) {}

int64_t Store::next_droplet_id() { return g_next_droplet_id++; }

void Store::settle(TimePoint now) {
  // A change may schedule another (never earlier than itself), so re-check
  // the head each time.
  while (!pending_.empty() && pending_.begin()->first <= now) {
    auto node = pending_.extract(pending_.begin());
    node.mapped()(node.key());
  }
}

void Store::at(TimePoint due, std::function<void(TimePoint)> change) { pending_.emplace(due, std::move(change)); }

const Json& Store::start_action(const ActionStart& start, TimePoint now, double seconds,
                                std::function<bool(TimePoint)> effect) {
  const int64_t id = g_next_action_id++;
  const Region* region = find_region(start.region_slug);
  Json json{{"id", id},
            {"status", "in-progress"},
            {"type", start.type},
            {"started_at", iso_time(now)},
            {"completed_at", nullptr},
            {"resource_id", start.resource_id},
            {"resource_type", start.resource_type},
            {"region", region ? region_json(*region) : Json(nullptr)},
            {"region_slug", start.region_slug}};
  if (!region) json.erase("region");
  actions[id] = Action{std::move(json), start.volume_id};
  at(after_seconds(now, seconds), [this, id, effect = std::move(effect)](TimePoint due) {
    Json& action = actions.at(id).json;
    action["status"] = effect(due) ? "completed" : "errored";
    action["completed_at"] = iso_time(due);
  });
  return actions.at(id).json;
}

void Store::remove_droplet(const std::string& id) {
  Json* droplet = droplets.find(id);
  if (!droplet) return;
  const Json numeric = (*droplet)["id"];
  for (const auto& volume_id : (*droplet)["volume_ids"]) {
    if (Json* volume = volumes.find(volume_id.get<std::string>())) remove_id((*volume)["droplet_ids"], numeric);
  }
  for (Json* lb : load_balancers.list()) remove_id((*lb)["droplet_ids"], numeric);
  for (Json* fw : firewalls.list()) remove_id((*fw)["droplet_ids"], numeric);
  droplets.erase(id);
}

void Store::remember_tags(const Json& list) {
  if (!list.is_array()) return;
  for (const auto& tag : list)
    if (tag.is_string()) tags.insert(tag.get<std::string>());
}

std::string Store::next_public_ipv4() {
  // 203.0.113.0/24, 198.51.100.0/24 and 192.0.2.0/24 are reserved for
  // documentation; .1 is each one's gateway.
  static const char* kNets[] = {"203.0.113.", "198.51.100.", "192.0.2."};
  const int n = public_ips_++;
  return std::string(kNets[(n / 240) % 3]) + std::to_string(10 + n % 240);
}

std::string Store::next_private_ipv4() {
  const int n = private_ips_++;
  return "10.110." + std::to_string((n / 250) % 250) + "." + std::to_string(2 + n % 250);
}

std::string Store::default_vpc(const std::string& region) {
  auto [it, fresh] = vpcs_.try_emplace(region);
  if (fresh) it->second = crypto::uuid_v4();
  return it->second;
}

// ---- admin ----

Json Store::resource_counts() const {
  return Json{{"droplets", droplets.size()},
              {"databases", databases.size()},
              {"load_balancers", load_balancers.size()},
              {"firewalls", firewalls.size()},
              {"volumes", volumes.size()}};
}

Collection* Store::collection(const std::string& name) {
  if (name == "droplets") return &droplets;
  if (name == "databases") return &databases;
  if (name == "load_balancers") return &load_balancers;
  if (name == "firewalls") return &firewalls;
  if (name == "volumes") return &volumes;
  return nullptr;
}

namespace {

std::string unknown_collection(const std::string& name) {
  return "no collection `" + name + "` (known: droplets, databases, load_balancers, firewalls, volumes)";
}

}  // namespace

std::expected<Json, std::string> Store::patch_resource(const std::string& name, const std::string& id,
                                                       const Json& patch) {
  Collection* c = collection(name);
  if (!c) return std::unexpected(unknown_collection(name));
  Json* resource = c->find(id);
  if (!resource) return std::unexpected("no " + name + " with id " + id);
  const Json keep_id = (*resource)["id"];
  resource->merge_patch(patch);
  (*resource)["id"] = keep_id;
  if (name == "droplets") patch_droplet_size(*resource, patch);
  if (patch.contains("tags")) remember_tags((*resource)["tags"]);
  return *resource;
}

// A test that sets size_slug means "someone resized it": the size object,
// memory and vCPUs follow. The disk stays, as after DigitalOcean's default
// CPU-and-RAM resize, so that resizing back down remains possible.
void Store::patch_droplet_size(Json& droplet, const Json& patch) {
  if (!patch.contains("size_slug") || !patch["size_slug"].is_string()) return;
  const DropletSize* size = find_droplet_size(patch["size_slug"].get<std::string>());
  if (!size) return;
  droplet["size"] = droplet_size_json(*size);
  droplet["memory"] = size->memory_mb;
  droplet["vcpus"] = size->vcpus;
}

std::expected<void, std::string> Store::delete_resource(const std::string& name, const std::string& id) {
  Collection* c = collection(name);
  if (!c) return std::unexpected(unknown_collection(name));
  if (!c->find(id)) return std::unexpected("no " + name + " with id " + id);
  if (name == "droplets") {
    remove_droplet(id);
    return {};
  }
  if (name == "volumes") {
    const Json volume_id = id;
    for (Json* droplet : droplets.list()) remove_id((*droplet)["volume_ids"], volume_id);
  }
  c->erase(id);
  return {};
}

}  // namespace keel::cloudsim::digitalocean

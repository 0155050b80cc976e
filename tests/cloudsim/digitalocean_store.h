#pragma once
// The DigitalOcean resources of one tenant, and the time line that moves
// them: a resource is created in its first status ("new", "creating",
// "waiting") with a change scheduled for when provisioning ends; settle()
// applies what has become due. Resources are kept as the JSON the API
// shows, so that handlers return them as they are and the admin API can
// merge-patch them.
//
// Not thread-safe: the simulator holds the tenant's lock around every use.

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/cloudsim/cloud_api.h"

namespace keel::cloudsim::digitalocean {

// Resources of one kind in creation order, found by id (as a string; a
// Droplet's integer id too).
class Collection {
 public:
  Json* find(const std::string& id);
  Json& add(const std::string& id, Json resource);
  bool erase(const std::string& id);
  std::vector<Json*> list();  // creation order
  size_t size() const { return items_.size(); }

 private:
  std::map<std::string, Json> items_;
  std::vector<std::string> order_;
};

struct Action {
  Json json;  // as the API shows it
  // The volume of a volume action: the API's resource_id is an integer and
  // volume ids are uuids, so it cannot live there.
  std::string volume_id;
};

// What start_action() needs to describe a new action.
struct ActionStart {
  std::string type;           // "create", "power_off", "attach_volume", ...
  std::string resource_type;  // "droplet", "volume"
  Json resource_id;           // the Droplet id, or null
  std::string region_slug;
  std::string volume_id;      // for volume actions
};

class Store final : public TenantResources {
 public:
  explicit Store(const std::string& token);

  void settle(TimePoint now) override;
  Json resource_counts() const override;
  std::expected<Json, std::string> patch_resource(const std::string& collection, const std::string& id,
                                                  const Json& patch) override;
  std::expected<void, std::string> delete_resource(const std::string& collection, const std::string& id) override;

  // Runs `change` when the clock reaches `due`, with `due` as its argument
  // (so that completed_at is when it happened, not when someone looked).
  void at(TimePoint due, std::function<void(TimePoint)> change);

  // Records an in-progress action that completes `seconds` after `now`.
  // Then `effect` is applied (given the completion time); it returns false
  // when the action can no longer take effect (its resource is gone, or
  // the state moved on), and the action ends "errored" instead of
  // "completed".
  const Json& start_action(const ActionStart& start, TimePoint now, double seconds,
                           std::function<bool(TimePoint)> effect);

  // Removes a Droplet and what hangs on it: volume attachments, load
  // balancer and firewall memberships.
  void remove_droplet(const std::string& id);
  // Tags spring into existence when used.
  void remember_tags(const Json& tags);

  // Addresses from the documentation ranges (RFC 5737) and 10/8: never
  // anyone's real machine.
  std::string next_public_ipv4();
  std::string next_private_ipv4();
  // The region's default VPC of this account, made on first use.
  std::string default_vpc(const std::string& region);

  static int64_t next_droplet_id();

  Collection droplets, databases, load_balancers, firewalls, volumes;
  std::map<int64_t, Action> actions;  // ids only grow: the newest is last
  std::set<std::string> tags;
  // When the latest change to a resource settles, by resource id: a change
  // scheduled earlier must not declare a resource settled while a later
  // one is still pending.
  std::map<std::string, TimePoint> settles_at;

  const std::string account_uuid;
  const std::string account_email;
  const std::string project_id;
  const int account_number;  // in database host names, like DigitalOcean's do-user-N

 private:
  Collection* collection(const std::string& name);
  void patch_droplet_size(Json& droplet, const Json& patch);

  std::multimap<TimePoint, std::function<void(TimePoint)>> pending_;
  std::map<std::string, std::string> vpcs_;  // region -> uuid
  int public_ips_ = 0;
  int private_ips_ = 0;
};

}  // namespace keel::cloudsim::digitalocean

#pragma once
// How each DigitalOcean resource file adds its routes. Handlers take the
// tenant's Store directly; the cast from TenantResources happens once, here.

#include <functional>

#include "tests/cloudsim/digitalocean_store.h"

namespace keel::cloudsim::digitalocean {

using StoreHandler = std::function<Reply(const Call&, Store&)>;

class Routes {
 public:
  explicit Routes(Router& router) : router_(router) {}
  void add(const char* method, const char* pattern, StoreHandler handler) {
    router_.add(method, pattern, [handler = std::move(handler)](const Call& call, TenantResources& resources) {
      return handler(call, static_cast<Store&>(resources));
    });
  }

 private:
  Router& router_;
};

// One per file, each adding the routes of one resource.
void add_droplet_routes(Routes& routes);         // digitalocean_droplets.cpp
void add_droplet_action_routes(Routes& routes);  // digitalocean_droplet_actions.cpp
void add_action_routes(Routes& routes);          // digitalocean_actions.cpp
void add_database_routes(Routes& routes);        // digitalocean_databases.cpp
void add_load_balancer_routes(Routes& routes);   // digitalocean_load_balancers.cpp
void add_firewall_routes(Routes& routes);        // digitalocean_firewalls.cpp
void add_volume_routes(Routes& routes);          // digitalocean_volumes.cpp
void add_tag_routes(Routes& routes);             // digitalocean_tags.cpp
void add_account_routes(Routes& routes);         // digitalocean_account.cpp: account, regions, sizes

}  // namespace keel::cloudsim::digitalocean

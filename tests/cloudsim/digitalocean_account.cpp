// The read-only parts: GET /v2/account (the token's account, always
// active), GET /v2/regions and GET /v2/sizes (from the catalog).

#include "tests/cloudsim/digitalocean_catalog.h"
#include "tests/cloudsim/digitalocean_protocol.h"
#include "tests/cloudsim/digitalocean_routes.h"

namespace keel::cloudsim::digitalocean {

namespace {

// Generous limits: the simulator does not enforce them, and tests and
// benchmarks create many resources per token.
constexpr int kDropletLimit = 1000;
constexpr int kFloatingIpLimit = 100;

Reply get_account(const Call&, Store& store) {
  return json_reply(200, {{"account",
                           {{"droplet_limit", kDropletLimit},
                            {"floating_ip_limit", kFloatingIpLimit},
                            {"email", store.account_email},
                            {"name", "keel-cloudsim"},
                            {"uuid", store.account_uuid},
                            {"email_verified", true},
                            {"status", "active"},
                            {"status_message", ""},
                            {"team", {{"uuid", store.account_uuid}, {"name", "My Team"}}}}}});
}

Reply list_regions(const Call& call, Store&) {
  std::vector<Json> items;
  for (const auto& region : regions()) items.push_back(region_json(region));
  return json_reply(200, paged(call, "regions", items));
}

Reply list_sizes(const Call& call, Store&) {
  std::vector<Json> items;
  for (const auto& size : droplet_sizes()) items.push_back(droplet_size_json(size));
  return json_reply(200, paged(call, "sizes", items));
}

}  // namespace

void add_account_routes(Routes& routes) {
  routes.add("GET", "/v2/account", get_account);
  routes.add("GET", "/v2/regions", list_regions);
  routes.add("GET", "/v2/sizes", list_sizes);
}

}  // namespace keel::cloudsim::digitalocean

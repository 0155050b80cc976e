// Actions of every kind (Droplet and volume): GET /v2/actions, newest
// first, and GET /v2/actions/{id}, which clients poll until "completed".

#include "tests/cloudsim/digitalocean_protocol.h"
#include "tests/cloudsim/digitalocean_routes.h"

namespace keel::cloudsim::digitalocean {

namespace {

Reply list_actions(const Call& call, Store& store) {
  std::vector<Json> items;
  for (auto it = store.actions.rbegin(); it != store.actions.rend(); ++it) items.push_back(it->second.json);
  return json_reply(200, paged(call, "actions", items));
}

Reply get_action(const Call& call, Store& store) {
  const std::string& id = call.param("id");
  if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos) return not_found();
  auto it = store.actions.find(std::stoll(id));
  if (it == store.actions.end()) return not_found();
  return json_reply(200, {{"action", it->second.json}});
}

}  // namespace

void add_action_routes(Routes& routes) {
  routes.add("GET", "/v2/actions", list_actions);
  routes.add("GET", "/v2/actions/{id}", get_action);
}

}  // namespace keel::cloudsim::digitalocean

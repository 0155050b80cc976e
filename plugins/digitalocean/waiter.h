#pragma once
// Waiting for DigitalOcean: following actions (GET /v2/actions/{id}) until
// they complete, and polling a resource until its status says it is ready
// (droplets and load balancers `active`, databases `online`, firewalls
// `succeeded`); the polling is the kit's (plugins/sdk/poller.h).
//
// Few requests, however many resources wait at once: every wait reads a
// shared SnapshotSource (one list call per round serves every waiter of that
// kind: GET /v2/droplets?tag_name=keel:<project> for droplet statuses,
// GET /v2/actions?per_page=200 -- newest first -- for actions) and only a
// resource missing from the list costs a GET of its own (an action older
// than the first page, a droplet without keel's tag). Each waiter polls
// soon (WaitOptions::first), then less and less often (x1.5 up to
// WaitOptions::max); a waiter takes any snapshot started within half its
// interval of when it wanted one, so waiters fall into step and share rounds.
// Progress goes to the operation's ProgressFn:
// "waiting for droplet 123 to become active (6s)".
//
// Thread-safe.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/provider.h"
#include "plugins/digitalocean/api_client.h"
#include "plugins/digitalocean/snapshots.h"
#include "plugins/sdk/poller.h"

namespace keel::digitalocean {

using kit::WaitOptions;
using kit::Watch;

// The kit's Poller (until(): polling a resource on a shared list) and
// DigitalOcean's actions.
class Waiter : public kit::Poller {
 public:
  Waiter(ApiClient& api, SnapshotSource& actions, WaitOptions options = {});
  // Follows action `id` (about `what`, e.g. "resize droplet 123") until it is
  // completed; `errored` is an error.
  Status action(long long id, const std::string& what, const provider::ProgressFn& progress,
                std::chrono::milliseconds timeout = std::chrono::minutes(30));

 private:
  ApiClient& api_;
  SnapshotSource& actions_;
};

}  // namespace keel::digitalocean

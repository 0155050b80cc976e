#pragma once
// Waiting for DigitalOcean: following actions (GET /v2/actions/{id}) until
// they complete, and polling a resource until its status says it is ready
// (droplets and load balancers `active`, databases `online`, firewalls
// `succeeded`).
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

namespace keel::digitalocean {

struct WaitOptions {
  std::chrono::milliseconds first{500};   // the first poll
  double factor = 1.5;                     // each later interval grows by this
  std::chrono::milliseconds max{5000};     // up to this
};

// What one wait watches.
struct Watch {
  std::string what;  // "droplet 123"
  std::string goal;  // "to become active"
  std::string id;    // the item's id in `source`
  SnapshotSource* source = nullptr;
  // The resource when the snapshot does not hold it (one GET); nullopt when
  // it does not exist.
  std::function<Result<std::optional<nlohmann::json>>()> fetch_one;
  // true: the wait is over; false: keep waiting; an error ends the wait.
  std::function<Result<bool>(const nlohmann::json&)> done;
  // What the progress line shows of the resource ("in-progress"); may be unset.
  std::function<std::string(const nlohmann::json&)> state;
  bool gone_is_done = false;  // waiting for a deletion
  std::chrono::milliseconds timeout{std::chrono::minutes(20)};
};

class Waiter {
 public:
  Waiter(ApiClient& api, SnapshotSource& actions, WaitOptions options = {});

  // Polls until watch.done; answers the resource as last seen (null when
  // gone and gone_is_done).
  Result<nlohmann::json> until(const Watch& watch, const provider::ProgressFn& progress);
  // Follows action `id` (about `what`, e.g. "resize droplet 123") until it is
  // completed; `errored` is an error.
  Status action(long long id, const std::string& what, const provider::ProgressFn& progress,
                std::chrono::milliseconds timeout = std::chrono::minutes(30));

  const WaitOptions& options() const { return options_; }

 private:
  ApiClient& api_;
  SnapshotSource& actions_;
  WaitOptions options_;
};

}  // namespace keel::digitalocean

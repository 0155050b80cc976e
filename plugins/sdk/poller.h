#pragma once
// Waiting for a cloud: polling a resource until its status says it is ready
// (a droplet `active`, an EC2 instance `running`, a load balancer
// `active`), with progress, on the kit's shared list calls.
//
// Few requests, however many resources wait at once: every wait reads a
// shared SnapshotSource (one list call per round serves every waiter of that
// kind) and only a resource missing from the list costs a request of its own
// (Watch::fetch_one). The polls are background requests (rate_budget.h):
// they give way to the creates and deletes waiting for the request budget. Each waiter polls soon (WaitOptions::first), then less
// and less often (x factor up to WaitOptions::max); a waiter takes any
// snapshot started within half its interval of when it wanted one, so
// waiters fall into step and share rounds. Progress goes to the operation's
// ProgressFn: "waiting for droplet 123 to become active (6s)".
//
// Thread-safe.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/provider.h"
#include "plugins/sdk/snapshots.h"

namespace keel::kit {

struct WaitOptions {
  std::chrono::milliseconds first{500};   // the first poll
  double factor = 1.5;                     // each later interval grows by this
  std::chrono::milliseconds max{5000};     // up to this
  // When > 0, instead of `factor`: each interval is this share of the time
  // waited so far, no shorter than `first` and no longer than `max`. A wait
  // then ends at most that share (or `first`) after the state changed,
  // however long it took: polls are dense while a change is likely soon
  // and thin out for the slow ones.
  double share = 0;
};

// What one wait watches.
struct Watch {
  std::string what;  // "droplet 123"
  std::string goal;  // "to become active"
  std::string id;    // the item's id in `source`
  SnapshotSource* source = nullptr;
  // The resource when the snapshot does not hold it (one request); nullopt
  // when it does not exist.
  std::function<Result<std::optional<nlohmann::json>>()> fetch_one;
  // true: the wait is over; false: keep waiting; an error ends the wait.
  std::function<Result<bool>(const nlohmann::json&)> done;
  // What the progress line shows of the resource ("in-progress"); may be unset.
  std::function<std::string(const nlohmann::json&)> state;
  bool gone_is_done = false;  // waiting for a deletion
  // The first look at once instead of after WaitOptions::first: for what
  // is often done already when the wait begins (a load balancer whose
  // delete was answered), where a look costs less than the pause.
  bool look_now = false;
  // Missing right after a create is eventual consistency, not a deletion:
  // so many polls that find nothing, over at least as many seconds, are
  // waited out before "disappeared".
  int missing_polls_allowed = 0;
  std::chrono::milliseconds timeout{std::chrono::minutes(20)};
};

class Poller {
 public:
  explicit Poller(WaitOptions options = {});

  // Polls until watch.done; answers the resource as last seen (null when
  // gone and gone_is_done). `waiting`, when set, hears at once that the
  // operation only waits from now on (core/provider.h WaitingFn): pass the
  // request's where nothing but this wait and a few requests follow.
  Result<nlohmann::json> until(const Watch& watch, const provider::ProgressFn& progress,
                               const provider::WaitingFn& waiting = {}) const;

  // Polls `source` until `done` holds for a snapshot taken after this call
  // began (what many resources must reach at once: "no instance left in
  // subnet X"), paced as until(). `what` ends "waiting for ..." messages.
  Status until_all(SnapshotSource& source, const std::string& what,
                   const std::function<Result<bool>(const Snapshot&)>& done, const provider::ProgressFn& progress,
                   std::chrono::milliseconds timeout = std::chrono::minutes(20),
                   const provider::WaitingFn& waiting = {}) const;

  const WaitOptions& options() const { return options_; }

 private:
  // The interval after `interval`, `waited` into the wait.
  std::chrono::milliseconds next_interval(std::chrono::milliseconds interval, Clock::duration waited) const;

  WaitOptions options_;
};

}  // namespace keel::kit

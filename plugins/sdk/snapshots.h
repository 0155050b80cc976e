#pragma once
// Coalesced list calls: the way a provider written with the kit reads many
// resources with few requests.
//
// A SnapshotSource stands for one list call (all droplets carrying the
// project's tag, all load balancers, the first page of recent actions, ...).
// Callers ask for a snapshot taken no earlier than some moment; whoever asks
// first makes the call, everyone asking meanwhile waits for that same call,
// and later callers whose moment it satisfies reuse its result. So a refresh
// of 200 droplets, or 200 creations waiting for their droplets to become
// active, costs one list call per round instead of one GET per resource.
//
// A write invalidates its kind's source for reads: recent() serves no
// snapshot taken before the write. get() asks for its own moment and is not
// affected (a waiter's moment is after its own write already; other writes
// must not force a list call per waiter).
//
// Thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/provider.h"

namespace keel::kit {

using Clock = std::chrono::steady_clock;

// One list call's result.
struct Snapshot {
  Clock::time_point started;  // when the call was sent: nothing older is in it
  std::vector<nlohmann::json> items;
  std::map<std::string, size_t> by_id;  // the item's "id", as a string

  const nlohmann::json* find(const std::string& id) const;
};

// A resource id as a string: 42 -> "42", "abc" -> "abc".
std::string id_text(const nlohmann::json& id);

class SnapshotSource {
 public:
  using Fetch = std::function<Result<std::vector<nlohmann::json>>(const provider::ProgressFn&)>;

  SnapshotSource(std::string name, Fetch fetch);

  // A snapshot whose call started at or after `not_before`, shared with
  // every concurrent caller. A failed call fails every caller that waited
  // for it.
  Result<std::shared_ptr<const Snapshot>> get(Clock::time_point not_before, const provider::ProgressFn& progress = {});
  // A snapshot at most `max_age` old, and taken after the last invalidate().
  Result<std::shared_ptr<const Snapshot>> recent(std::chrono::milliseconds max_age,
                                                 const provider::ProgressFn& progress = {});
  // Something changed: snapshots taken until now are stale.
  void invalidate();

  const std::string& name() const { return name_; }
  // List calls made so far (tests).
  std::uint64_t fetches() const;

 private:
  const std::string name_;
  const Fetch fetch_;
  mutable std::mutex mutex_;
  std::condition_variable done_;
  std::shared_ptr<const Snapshot> latest_;
  Clock::time_point invalid_before_{};
  bool fetching_ = false;
  Clock::time_point fetch_started_{};
  std::uint64_t rounds_ = 0;
  std::optional<Error> last_error_;
};

}  // namespace keel::kit

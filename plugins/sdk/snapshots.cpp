#include "plugins/sdk/snapshots.h"

#include <algorithm>
#include <utility>

namespace keel::kit {

using nlohmann::json;

std::string id_text(const json& id) {
  if (id.is_string()) return id.get<std::string>();
  if (id.is_number_integer()) return std::to_string(id.get<long long>());
  if (id.is_number_unsigned()) return std::to_string(id.get<unsigned long long>());
  return "";
}

const json* Snapshot::find(const std::string& id) const {
  auto it = by_id.find(id);
  return it == by_id.end() ? nullptr : &items[it->second];
}

SnapshotSource::SnapshotSource(std::string name, Fetch fetch) : name_(std::move(name)), fetch_(std::move(fetch)) {}

Result<std::shared_ptr<const Snapshot>> SnapshotSource::get(Clock::time_point not_before,
                                                            const provider::ProgressFn& progress) {
  std::unique_lock lock(mutex_);
  const Clock::time_point threshold = not_before;
  for (;;) {
    if (latest_ && latest_->started >= threshold) return latest_;
    if (fetching_) {
      // Wait for the call in flight; if it started late enough it is ours.
      const bool ours = fetch_started_ >= threshold;
      const std::uint64_t round = rounds_;
      done_.wait(lock, [&] { return rounds_ != round; });
      if (ours && last_error_) return fail(*last_error_);
      continue;
    }
    fetching_ = true;
    const Clock::time_point started = Clock::now();
    fetch_started_ = started;
    lock.unlock();
    Result<std::vector<json>> items = fetch_(progress);
    std::shared_ptr<Snapshot> snapshot;
    if (items) {
      snapshot = std::make_shared<Snapshot>();
      snapshot->started = started;
      snapshot->items = std::move(*items);
      for (size_t i = 0; i < snapshot->items.size(); ++i) {
        const json& item = snapshot->items[i];
        if (!item.is_object() || !item.contains("id")) continue;
        if (std::string id = id_text(item["id"]); !id.empty()) snapshot->by_id.emplace(id, i);
      }
    }
    lock.lock();
    fetching_ = false;
    ++rounds_;
    if (snapshot) {
      if (!latest_ || latest_->started <= snapshot->started) latest_ = snapshot;
      last_error_.reset();
    } else {
      last_error_ = items.error();
    }
    done_.notify_all();
    if (!snapshot) return fail(items.error());
  }
}

Result<std::shared_ptr<const Snapshot>> SnapshotSource::recent(std::chrono::milliseconds max_age,
                                                               const provider::ProgressFn& progress) {
  Clock::time_point not_before = Clock::now() - max_age;
  {
    std::lock_guard lock(mutex_);
    not_before = std::max(not_before, invalid_before_);
  }
  return get(not_before, progress);
}

void SnapshotSource::invalidate() {
  std::lock_guard lock(mutex_);
  invalid_before_ = Clock::now();
}

std::uint64_t SnapshotSource::fetches() const {
  std::lock_guard lock(mutex_);
  return rounds_;
}

}  // namespace keel::kit

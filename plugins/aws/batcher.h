#pragma once
// Calls that take many ids at once (TerminateInstances), coalesced across
// the operations in flight: a call waits `linger` for others to join (the
// engine starts many deletes at once), and while it is out whoever comes
// joins the next. So the deletes of 50 servers cost a few requests of the
// account's shared budget instead of 50.
//
//   Batcher terminations(100, 10ms, [&](const std::vector<std::string>& ids, const ProgressFn& p) { ... });
//   Status s = terminations.run("i-123", progress);   // the outcome of the call that carried i-123
//
// The send function gets at most `limit` ids and answers for all of them:
// a failure fails every id it carried (it may retry them one by one first).
// Thread-safe.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/provider.h"

namespace keel::aws {

class Batcher {
 public:
  using Send = std::function<Status(const std::vector<std::string>& ids, const provider::ProgressFn& progress)>;

  Batcher(size_t limit, std::chrono::milliseconds linger, Send send);

  Status run(const std::string& id, const provider::ProgressFn& progress);
  // Ids waiting for a call (tests).
  size_t queued() const;

 private:
  struct Batch {
    std::vector<std::string> ids;
    bool done = false;
    std::optional<Error> error;
  };

  const size_t limit_;
  const std::chrono::milliseconds linger_;
  const Send send_;
  mutable std::mutex mutex_;
  std::condition_variable sent_;
  std::deque<std::shared_ptr<Batch>> waiting_;  // not sent yet, oldest first
  bool sending_ = false;
};

}  // namespace keel::aws

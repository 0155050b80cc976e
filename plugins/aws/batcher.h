#pragma once
// Calls that take many ids at once (TerminateInstances), coalesced across
// the operations in flight: a call waits while others keep joining it (the
// engine hands over many deletes one after another, over tens of
// milliseconds as its slots free up): until `quiet` passes with none
// joining, for `most` at the longest; while it is out whoever comes joins
// the next. So the deletes of 50 servers cost one request of the account's
// shared budget, not one per delete nor one per slot.
//
//   Batcher terminations(100, 25ms, 250ms, [&](const std::vector<std::string>& ids, const ProgressFn& p) { ... });
//   Status s = terminations.run("i-123", progress);   // the outcome of the call that carried i-123
//
// The send function gets at most `limit` ids and answers for all of them:
// a failure fails every id it carried (it may retry them one by one first),
// and each of their threads gets the failure's details (take_failure()), as
// if it had sent the call itself. Thread-safe.

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
#include "plugins/aws/api_client.h"

namespace keel::aws {

class Batcher {
 public:
  using Send = std::function<Status(const std::vector<std::string>& ids, const provider::ProgressFn& progress)>;

  using Clock = std::chrono::steady_clock;

  // `quiet`: a call goes once no id joined it for so long; `most`: nor does
  // it wait longer than this in all. 0: at once.
  Batcher(size_t limit, std::chrono::milliseconds quiet, std::chrono::milliseconds most, Send send);
  // A fixed wait: `most` = `quiet`.
  Batcher(size_t limit, std::chrono::milliseconds linger, Send send) : Batcher(limit, linger, linger, std::move(send)) {}

  Status run(const std::string& id, const provider::ProgressFn& progress);
  // Ids waiting for a call (tests).
  size_t queued() const;

 private:
  struct Batch {
    std::vector<std::string> ids;
    bool done = false;
    std::optional<Error> error;
    std::optional<Failure> failure;  // the HTTP status and AWS's message behind `error`
  };

  // With the lock held, while this thread is the one sending: lets the
  // oldest batch fill (quiet_, most_, or full).
  void linger(std::unique_lock<std::mutex>& lock);

  const size_t limit_;
  const std::chrono::milliseconds quiet_, most_;
  const Send send_;
  mutable std::mutex mutex_;
  std::condition_variable sent_;
  std::deque<std::shared_ptr<Batch>> waiting_;  // not sent yet, oldest first
  bool sending_ = false;
  Clock::time_point last_join_{};
};

}  // namespace keel::aws

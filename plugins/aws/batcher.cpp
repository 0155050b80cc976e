#include "plugins/aws/batcher.h"

#include <algorithm>
#include <thread>

namespace keel::aws {

Batcher::Batcher(size_t limit, std::chrono::milliseconds quiet, std::chrono::milliseconds most, Send send)
    : limit_(std::max<size_t>(1, limit)), quiet_(quiet), most_(most), send_(std::move(send)) {}

Status Batcher::run(const std::string& id, const provider::ProgressFn& progress) {
  std::unique_lock lock(mutex_);
  if (waiting_.empty() || waiting_.back()->ids.size() >= limit_) waiting_.push_back(std::make_shared<Batch>());
  std::shared_ptr<Batch> mine = waiting_.back();
  mine->ids.push_back(id);
  last_join_ = Clock::now();
  while (!mine->done) {
    if (sending_) {
      sent_.wait(lock);
      continue;
    }
    // Nobody is sending: this thread sends the oldest batch (its own, or
    // one it will wait behind), with everyone who joined it meanwhile.
    sending_ = true;
    linger(lock);
    std::shared_ptr<Batch> batch = waiting_.front();
    waiting_.pop_front();
    lock.unlock();
    Status status = send_(batch->ids, progress);
    std::optional<Failure> failure = take_failure();
    lock.lock();
    batch->done = true;
    if (!status) {
      batch->error = status.error();
      batch->failure = std::move(failure);
    }
    sending_ = false;
    sent_.notify_all();
  }
  if (!mine->error) return {};
  keep_failure(mine->failure);
  return fail(*mine->error);
}

void Batcher::linger(std::unique_lock<std::mutex>& lock) {
  if (quiet_.count() <= 0) return;
  const Clock::time_point latest = Clock::now() + most_;
  for (;;) {
    // Each id that joined restarts the quiet wait: the last of a burst is
    // not left for the next call (a request later, after this one's answer).
    const Clock::time_point until = std::min(last_join_ + quiet_, latest);
    if (waiting_.front()->ids.size() >= limit_ || Clock::now() >= until) return;
    lock.unlock();
    std::this_thread::sleep_until(until);
    lock.lock();
  }
}

size_t Batcher::queued() const {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& batch : waiting_) n += batch->ids.size();
  return n;
}

}  // namespace keel::aws

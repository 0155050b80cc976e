#include "plugins/aws/batcher.h"

#include <algorithm>
#include <thread>

namespace keel::aws {

Batcher::Batcher(size_t limit, std::chrono::milliseconds linger, Send send)
    : limit_(std::max<size_t>(1, limit)), linger_(linger), send_(std::move(send)) {}

Status Batcher::run(const std::string& id, const provider::ProgressFn& progress) {
  std::unique_lock lock(mutex_);
  if (waiting_.empty() || waiting_.back()->ids.size() >= limit_) waiting_.push_back(std::make_shared<Batch>());
  std::shared_ptr<Batch> mine = waiting_.back();
  mine->ids.push_back(id);
  while (!mine->done) {
    if (sending_) {
      sent_.wait(lock);
      continue;
    }
    // Nobody is sending: this thread sends the oldest batch (its own, or
    // one it will wait behind), with everyone who joined it meanwhile.
    sending_ = true;
    if (linger_.count() > 0) {  // others join meanwhile
      lock.unlock();
      std::this_thread::sleep_for(linger_);
      lock.lock();
    }
    std::shared_ptr<Batch> batch = waiting_.front();
    waiting_.pop_front();
    lock.unlock();
    Status status = send_(batch->ids, progress);
    lock.lock();
    batch->done = true;
    if (!status) batch->error = status.error();
    sending_ = false;
    sent_.notify_all();
  }
  if (mine->error) return fail(*mine->error);
  return {};
}

size_t Batcher::queued() const {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& batch : waiting_) n += batch->ids.size();
  return n;
}

}  // namespace keel::aws

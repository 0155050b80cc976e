#include "agent/scheduler.h"

#include <algorithm>
#include <exception>
#include <functional>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace keel::agent {

namespace {

using checks::CheckStatus;

// Workers kept even when idle, and the most the pool grows to when checks
// hang (each hanging run holds one worker until its timeout).
constexpr size_t kMinWorkers = 2;
constexpr size_t kMaxWorkers = 64;
constexpr auto kIdleWorkerLifetime = std::chrono::seconds(30);

// First runs are spread over this much (or the interval, if shorter), so
// that 50 checks do not all start in the same millisecond.
constexpr auto kStartSpread = std::chrono::milliseconds(500);

}  // namespace

struct CheckScheduler::Entry {
  // spec.to_json() as text: equal definitions are the same check. Text
  // rather than the json tree, which took ~1 KB of heap per check.
  std::string definition;
  CheckSnapshot state;
  Clock::time_point next_due;
  bool removed = false;
  bool rerun = false;  // trigger() during a run: due again when it ends
};

CheckScheduler::CheckScheduler(ChangeListener on_change, Runner runner)
    : on_change_(std::move(on_change)), runner_(runner ? std::move(runner) : Runner(run_check)) {}

CheckScheduler::~CheckScheduler() { stop(); }

void CheckScheduler::start() {
  std::lock_guard lock(mutex_);
  if (scheduler_thread_.joinable()) return;
  stopping_ = false;
  scheduler_thread_ = std::thread([this] { schedule_loop(); });
}

void CheckScheduler::stop() {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  wake_scheduler_.notify_all();
  wake_workers_.notify_all();
  run_finished_.notify_all();
  lock.unlock();
  if (scheduler_thread_.joinable()) scheduler_thread_.join();
  // Workers are detached (the pool shrinks on its own); wait until the last
  // one has left, which is at most the longest check timeout.
  lock.lock();
  workers_gone_.wait(lock, [this] { return workers_ == 0; });
}

CheckScheduler::ReloadSummary CheckScheduler::reload(const std::vector<checks::CheckSpec>& specs) {
  ReloadSummary summary;
  std::lock_guard lock(mutex_);
  std::map<std::string, std::shared_ptr<Entry>> next;
  const auto now = Clock::now();
  for (const auto& spec : specs) {
    std::string definition = spec.to_json().dump();
    auto old = entries_.find(spec.name);
    if (old != entries_.end() && old->second->definition == definition) {
      next[spec.name] = old->second;
      summary.kept.push_back(spec.name);
      continue;
    }
    auto entry = std::make_shared<Entry>();
    entry->definition = std::move(definition);
    entry->state.spec = spec;
    auto spread = std::min<std::chrono::milliseconds>(kStartSpread, spec.interval);
    entry->next_due = now + std::chrono::milliseconds(std::hash<std::string>{}(spec.name) % (spread.count() + 1));
    next[spec.name] = entry;
    if (old != entries_.end()) {
      old->second->removed = true;
      summary.changed.push_back(spec.name);
    } else {
      summary.added.push_back(spec.name);
    }
  }
  for (auto& [name, entry] : entries_) {
    if (next.count(name)) continue;
    entry->removed = true;
    summary.removed.push_back(name);
  }
  entries_ = std::move(next);
  wake_scheduler_.notify_one();
  run_finished_.notify_all();
  return summary;
}

void CheckScheduler::schedule_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = Clock::now();
    auto next = Clock::time_point::max();
    for (auto& [name, entry] : entries_) {
      if (entry->state.running) continue;
      if (entry->next_due <= now) dispatch(entry);
      else next = std::min(next, entry->next_due);
    }
    if (next == Clock::time_point::max()) wake_scheduler_.wait(lock);
    else wake_scheduler_.wait_until(lock, next);
  }
}

void CheckScheduler::dispatch(const std::shared_ptr<Entry>& entry) {
  entry->state.running = true;
  queue_.push_back(entry);
  if (queue_.size() > idle_workers_ && workers_ < kMaxWorkers) {
    ++workers_;
    std::thread([this] { worker_loop(); }).detach();
  }
  wake_workers_.notify_one();
}

void CheckScheduler::worker_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    bool idle_too_long = false;
    while (queue_.empty() && !stopping_ && !idle_too_long) {
      ++idle_workers_;
      idle_too_long = wake_workers_.wait_for(lock, kIdleWorkerLifetime) == std::cv_status::timeout &&
                      queue_.empty() && workers_ > kMinWorkers;
      --idle_workers_;
    }
    if (stopping_ || idle_too_long) break;
    auto entry = queue_.front();
    queue_.pop_front();
    checks::CheckSpec spec = entry->state.spec;
    lock.unlock();

    const auto started = Clock::now();
    CheckRun run;
    run.time = std::chrono::system_clock::now();
    try {
      CheckResult result = runner_(spec);
      run.result = result.status;
      run.output = std::move(result.output);
    } catch (const std::exception& e) {
      run.result = CheckStatus::Unknown;
      run.output = fmt::format("check failed to run: {}", e.what());
    }
    run.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
    finish(entry, std::move(run));
    lock.lock();
  }
  if (--workers_ == 0) workers_gone_.notify_all();
}

void CheckScheduler::finish(const std::shared_ptr<Entry>& entry, CheckRun run) {
  std::unique_lock lock(mutex_);
  CheckSnapshot& s = entry->state;
  s.running = false;
  run_finished_.notify_all();
  if (entry->removed) return;
  const auto now = Clock::now();
  const auto started = now - run.duration;
  entry->next_due = std::max(std::chrono::time_point_cast<Clock::duration>(started + s.spec.interval), now);
  if (std::exchange(entry->rerun, false)) entry->next_due = now;
  wake_scheduler_.notify_one();

  ++s.runs;
  ++s.results_total[run.result];
  s.output = run.output;
  const CheckStatus before = s.status;
  if (run.result == CheckStatus::Passing) {
    ++s.consecutive_successes;
    s.consecutive_failures = 0;
    if (s.consecutive_successes >= std::max(1, s.spec.success_before_passing)) s.status = CheckStatus::Passing;
  } else {
    ++s.consecutive_failures;
    s.consecutive_successes = 0;
    if (s.consecutive_failures >= std::max(1, s.spec.failures_before_critical)) s.status = run.result;
  }
  // A vector of exactly kHistory: a deque's first block alone is 512 bytes
  // more per check, and shifting ten runs is nothing next to a check's run.
  if (s.history.size() >= kHistory) s.history.erase(s.history.begin());
  else s.history.reserve(kHistory);
  s.history.push_back(run);
  s.last_run = std::move(run);
  if (s.status != before && on_change_)
    pending_changes_.push_back(StatusChange{s.spec.name, s.spec.type, before, s.status, s.output, s.last_run->time});
  deliver_changes(lock);
}

// One worker at a time calls the listener, without the lock held (it may
// log or queue a webhook); the others leave their changes to it.
void CheckScheduler::deliver_changes(std::unique_lock<std::mutex>& lock) {
  if (delivering_changes_) return;
  delivering_changes_ = true;
  while (!pending_changes_.empty()) {
    StatusChange change = std::move(pending_changes_.front());
    pending_changes_.pop_front();
    lock.unlock();
    on_change_(change);
    lock.lock();
  }
  delivering_changes_ = false;
}

CheckSnapshot CheckScheduler::to_snapshot(const Entry& entry) const { return entry.state; }

std::vector<CheckSnapshot> CheckScheduler::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<CheckSnapshot> out;
  out.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) out.push_back(to_snapshot(*entry));
  return out;
}

std::optional<CheckSnapshot> CheckScheduler::snapshot(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return to_snapshot(*it->second);
}

checks::CheckStatus CheckScheduler::aggregate() const {
  std::lock_guard lock(mutex_);
  CheckStatus status = CheckStatus::Passing;
  for (const auto& [name, entry] : entries_) status = checks::worst(status, entry->state.status);
  return status;
}

std::optional<CheckSnapshot> CheckScheduler::run_now(const std::string& name, std::chrono::milliseconds slack) {
  std::unique_lock lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  std::shared_ptr<Entry> entry = it->second;
  // A run in flight counts: its result is as fresh as a new one would be.
  const long long wanted = entry->state.runs + 1;
  if (!entry->state.running) {
    entry->next_due = Clock::now();
    wake_scheduler_.notify_one();
  }
  const auto deadline = Clock::now() + entry->state.spec.timeout + slack;
  run_finished_.wait_until(lock, deadline, [&] {
    return entry->state.runs >= wanted || entry->removed || stopping_;
  });
  return to_snapshot(*entry);
}

void CheckScheduler::trigger(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  it->second->next_due = Clock::now();
  // The run in flight may have read the state before what triggered this.
  if (it->second->state.running) it->second->rerun = true;
  wake_scheduler_.notify_one();
}

size_t CheckScheduler::worker_count() const {
  std::lock_guard lock(mutex_);
  return workers_;
}

}  // namespace keel::agent

#pragma once
// The agent's checks over time: when each one runs, what it reported, and
// the status that follows from its thresholds.
//
// - One scheduler thread sleeps until the next check is due (no work when
//   nothing is; no busy loop). Due checks go to a pool of worker threads
//   that grows when every worker is busy (a hanging check never delays the
//   others beyond its own timeout) and shrinks back when idle.
// - A check never overlaps itself: it is due again `interval` after its run
//   started, or when its run ends if that took longer.
// - Status follows Consul's rules: a passing result counts toward
//   `success_before_passing`, any other toward `failures_before_critical`;
//   the status changes only when the count is reached (0 and 1: at once).
//   A check starts `unknown` ("not run yet").
// - reload() keeps the state of every check whose definition did not
//   change; a run in flight of a removed or changed check is discarded.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/checks/check.h"
#include "core/check_spec.h"

namespace keel::agent {

struct CheckRun {
  std::chrono::system_clock::time_point time;  // when it started
  checks::CheckStatus result = checks::CheckStatus::Unknown;
  std::string output;
  std::chrono::microseconds duration{0};
};

// A copy of one check's state, for the API and metrics.
struct CheckSnapshot {
  checks::CheckSpec spec;
  checks::CheckStatus status = checks::CheckStatus::Unknown;
  std::string output = "not run yet";
  std::optional<CheckRun> last_run;
  std::vector<CheckRun> history;  // the last kHistory runs, newest last
  int consecutive_successes = 0, consecutive_failures = 0;
  std::map<checks::CheckStatus, long long> results_total;  // runs by result
  long long runs = 0;
  bool running = false;
};

struct StatusChange {
  std::string check;
  checks::CheckType type = checks::CheckType::Tcp;
  checks::CheckStatus from = checks::CheckStatus::Unknown, to = checks::CheckStatus::Unknown;
  std::string output;
  std::chrono::system_clock::time_point time;
};

class CheckScheduler {
 public:
  using Runner = std::function<CheckResult(const checks::CheckSpec&)>;
  using ChangeListener = std::function<void(const StatusChange&)>;

  static constexpr size_t kHistory = 10;

  // `runner` defaults to run_check; tests pass their own.
  explicit CheckScheduler(ChangeListener on_change, Runner runner = {});
  ~CheckScheduler();  // stops and waits for the workers
  CheckScheduler(const CheckScheduler&) = delete;
  CheckScheduler& operator=(const CheckScheduler&) = delete;

  void start();
  void stop();

  struct ReloadSummary {
    std::vector<std::string> added, changed, removed, kept;
  };
  // Replaces the set of checks (names unique).
  ReloadSummary reload(const std::vector<checks::CheckSpec>& specs);

  std::vector<CheckSnapshot> snapshot() const;  // in name order
  std::optional<CheckSnapshot> snapshot(const std::string& name) const;
  // Worst status of all checks (passing when there are none).
  checks::CheckStatus aggregate() const;

  // Runs the check now (or joins the run in flight) and waits for it, at
  // most its timeout plus `slack`. nullopt when there is no such check.
  std::optional<CheckSnapshot> run_now(const std::string& name,
                                       std::chrono::milliseconds slack = std::chrono::milliseconds(2000));

  // Makes the check due now and returns at once (the agent's dr checks
  // after a job run ends). Nothing happens for an unknown check.
  void trigger(const std::string& name);

  size_t worker_count() const;

 private:
  struct Entry;
  using Clock = std::chrono::steady_clock;

  void schedule_loop();
  void worker_loop();
  void dispatch(const std::shared_ptr<Entry>& entry);  // with mutex_ held
  void finish(const std::shared_ptr<Entry>& entry, CheckRun run);
  void deliver_changes(std::unique_lock<std::mutex>& lock);
  CheckSnapshot to_snapshot(const Entry& entry) const;

  ChangeListener on_change_;
  Runner runner_;

  mutable std::mutex mutex_;
  std::condition_variable wake_scheduler_;
  std::condition_variable wake_workers_;
  std::condition_variable run_finished_;
  std::condition_variable workers_gone_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  std::deque<std::shared_ptr<Entry>> queue_;
  size_t workers_ = 0, idle_workers_ = 0;
  bool stopping_ = false;
  // Changes wait here so that listeners see them in the order they
  // happened, though runs finish on different workers.
  std::deque<StatusChange> pending_changes_;
  bool delivering_changes_ = false;
  std::thread scheduler_thread_;
};

}  // namespace keel::agent

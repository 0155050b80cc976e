#pragma once
// The agent's backup jobs over time: when they run, what they did, and what
// the `dr-NAME` checks and the metrics make of it.
//
// - One scheduler thread sleeps until the next due time (a job's cron
//   schedule, or its next drill); no work when nothing is due.
// - At most one run per job at a time, whatever its kind (backup, restore,
//   drill, prune). A scheduled backup that falls due while a run of its job
//   is in progress is skipped and logged, not queued; a due drill waits for
//   that run to end (skipping would push it a whole `every` away).
// - Drills: `drill.every` after the newest drill; before the first one,
//   `every` after the first successful backup, or after the agent took the
//   job on when successful backups already existed.
// - Each run is a keel-dr process (agent/jobs/worker.h) watched by a thread
//   of its own. Finished runs go to the history (agent/jobs/run_history.h).
// - configure() (a reload) keeps the history and recomputes every next run;
//   a run of a job that was removed goes on to its end. stop() cancels the
//   runs in flight (SIGTERM, then SIGKILL) and waits for them.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/checks/check.h"
#include "agent/jobs/job_config.h"
#include "agent/jobs/run.h"
#include "agent/jobs/run_history.h"
#include "agent/jobs/worker.h"
#include "core/error.h"

namespace keel::agent {

struct JobsSettings {
  std::vector<BackupJob> jobs;
  std::string worker;     // keel-dr's path, or a name on PATH
  std::string key;        // the backup key, base64 (empty without jobs)
};

// What a POST asks for.
struct RunRequest {
  RunKind kind = RunKind::Backup;
  std::optional<std::string> snapshot;  // restore, drill: default newest
  std::optional<std::string> target;    // restore: default the original
};

struct StartAnswer {
  enum class Outcome { Started, UnknownJob, Busy, Stopping, Refused };
  Outcome outcome = Outcome::Started;
  std::optional<Run> run;  // Started: the new run; Busy: the one in progress
  std::string error;       // Refused: why (a restore target it may not have)
};

// One job for GET /v1/jobs (nothing secret in it).
struct JobView {
  std::string name;
  SourceKind source = SourceKind::Files;
  std::string to;                                 // without credentials
  std::string schedule;                           // as written; empty: on demand
  std::optional<Run::TimePoint> next_run, next_drill, last_success;
  std::optional<std::chrono::milliseconds> drill_every;
  std::optional<std::string> running_run;
  std::optional<Run> last_backup, last_drill;
};

// One job's numbers for /metrics.
struct JobMetrics {
  std::string job;
  std::optional<double> backup_last_success;      // Unix seconds, when it finished
  std::optional<long long> backup_raw_bytes, backup_stored_bytes;
  std::optional<double> backup_duration;          // of the newest successful backup
  std::optional<double> drill_last_success;       // Unix seconds
  std::optional<double> restore_duration;         // newest restore, or drill's restore time (RTO)
  std::map<std::pair<RunKind, std::string>, long long> runs_total;  // (kind, succeeded|failed|skipped)
};

class JobScheduler {
 public:
  using TimePoint = Run::TimePoint;
  // When a scheduled backup falls due next, strictly after `after`; the
  // default reads the job's cron schedule. Tests pass a faster one.
  using NextBackup = std::function<std::optional<TimePoint>(const BackupJob& job, TimePoint after)>;
  // Called after every run ends (the agent refreshes the dr check).
  using RunEnded = std::function<void(const Run& run)>;

  static constexpr std::chrono::seconds kListTimeout{60};

  explicit JobScheduler(RunEnded on_end = {}, NextBackup next_backup = {});
  ~JobScheduler();
  JobScheduler(const JobScheduler&) = delete;
  JobScheduler& operator=(const JobScheduler&) = delete;

  // Loads the history from <state_dir>/jobs and starts the scheduler thread.
  Status start(const std::string& state_dir);
  // Cancels the runs in flight and waits for them (and the thread).
  void stop();

  void configure(JobsSettings settings);

  StartAnswer start_run(const std::string& job, const RunRequest& request);
  // Asks keel-dr for the job's backups (newest first) and waits for it.
  Result<nlohmann::json> list_backups(const std::string& job,
                                      std::chrono::milliseconds timeout = kListTimeout);

  std::optional<Run> find_run(const std::string& id) const;
  // Newest first, the running one included; `job` empty: every job.
  std::vector<Run> runs(const std::string& job = {}) const;
  std::vector<JobView> jobs() const;  // in name order
  std::vector<JobMetrics> metrics() const;
  // The job's dr check, from its history (agent/jobs/dr_check.h).
  CheckResult dr_check(const std::string& job) const;

 private:
  struct JobState {
    BackupJob job;
    TimePoint watched_since;
    std::optional<TimePoint> next_backup, next_drill, drill_anchor;
  };
  struct InFlight;

  void schedule_loop();
  void run_due(JobState& state, TimePoint now);                           // with mutex_ held
  std::optional<TimePoint> next_wake() const;                             // with mutex_ held
  Run launch(const JobState& state, const RunRequest& request);           // with mutex_ held
  void execute(std::shared_ptr<InFlight> flight, WorkerCall call);
  void finish(const std::shared_ptr<InFlight>& flight, Result<nlohmann::json> outcome, nlohmann::json partial);
  void refresh_drill(JobState& state, TimePoint now);                     // with mutex_ held
  nlohmann::json request_for(const BackupJob& job, const std::string& op, const std::string& run_id) const;

  RunEnded on_end_;
  NextBackup next_backup_;
  RunHistory history_;
  Cancel stopping_signal_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable runs_gone_;
  std::map<std::string, JobState> jobs_;
  std::map<std::string, std::shared_ptr<InFlight>> in_flight_;  // by job name
  std::map<std::string, std::map<std::pair<RunKind, std::string>, long long>> runs_total_;
  std::string worker_, key_, spool_dir_;
  size_t run_threads_ = 0;
  bool started_ = false, stopping_ = false;
  std::thread thread_;
};

}  // namespace keel::agent

#include "agent/jobs/job_scheduler.h"

#include <algorithm>

#include <fmt/format.h>

#include "agent/jobs/dr_check.h"
#include "core/files.h"
#include "core/log.h"
#include "core/time.h"

namespace keel::agent {

namespace {

using Json = nlohmann::json;
using std::chrono::system_clock;

std::optional<Run::TimePoint> cron_next(const BackupJob& job, Run::TimePoint after) {
  if (!job.schedule) return std::nullopt;
  auto next = cron::next_after(*job.schedule, after);
  if (next == cron::kNever) return std::nullopt;
  return next;
}

// What the worker's result says about the run, by kind.
void take_result(Run& run, const Json& result) {
  run.result = result.is_object() ? result : Json::object();
  if (run.kind == RunKind::Backup && result.contains("manifest") && result["manifest"].is_object()) {
    const Json& manifest = result["manifest"];
    if (manifest.contains("id") && manifest["id"].is_string()) run.snapshot = manifest["id"].get<std::string>();
    run.bytes_read = manifest.value("raw_bytes", run.bytes_read);
    run.bytes_stored = manifest.value("stored_bytes", run.bytes_stored);
  } else if (run.kind == RunKind::Restore || run.kind == RunKind::Drill) {
    if (result.contains("snapshot") && result["snapshot"].is_string())
      run.snapshot = result["snapshot"].get<std::string>();
    run.bytes_read = result.value("raw_bytes", run.bytes_read);
  }
}

std::optional<double> unix_time(const std::optional<Run>& run) {
  if (!run || !run->finished) return std::nullopt;
  return timeutil::unix_seconds(*run->finished);
}

// The restore time of a restore run, or the one a drill measured (its RTO).
double restore_seconds(const Run& run) {
  auto it = run.result.find("rto_seconds");
  if (run.kind == RunKind::Drill && it != run.result.end() && it->is_number()) return it->get<double>();
  return run.duration_seconds();
}

}  // namespace

struct JobScheduler::InFlight {
  Run run;
};

JobScheduler::JobScheduler(RunEnded on_end, NextBackup next_backup)
    : on_end_(std::move(on_end)), next_backup_(next_backup ? std::move(next_backup) : NextBackup(cron_next)) {}

JobScheduler::~JobScheduler() { stop(); }

Status JobScheduler::start(const std::string& state_dir) {
  std::lock_guard lock(mutex_);
  if (started_) return {};
  if (auto st = history_.open(state_dir + "/jobs"); !st) return st;
  spool_dir_ = state_dir + "/spool";
  if (auto st = files::make_dirs(spool_dir_, 0700); !st) return fail(st.error().with_context("spool_dir"));
  // Jobs configured before the history was there: their drills start now.
  const auto now = system_clock::now();
  for (auto& [name, state] : jobs_) refresh_drill(state, now);
  started_ = true;
  thread_ = std::thread([this] { schedule_loop(); });
  return {};
}

void JobScheduler::stop() {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  stopping_signal_.raise();  // every worker's poll() wakes up and ends it
  wake_.notify_all();
  lock.unlock();
  if (thread_.joinable()) thread_.join();
  lock.lock();
  runs_gone_.wait(lock, [this] { return run_threads_ == 0; });
}

void JobScheduler::configure(JobsSettings settings) {
  std::lock_guard lock(mutex_);
  const auto now = system_clock::now();
  std::map<std::string, JobState> next;
  for (auto& job : settings.jobs) {
    auto old = jobs_.find(job.name);
    JobState state = old != jobs_.end() ? std::move(old->second) : JobState{};
    if (old == jobs_.end()) state.watched_since = now;
    state.job = std::move(job);
    state.next_backup = next_backup_(state.job, now);
    if (started_) refresh_drill(state, now);
    next.emplace(state.job.name, std::move(state));
  }
  jobs_ = std::move(next);
  worker_ = std::move(settings.worker);
  key_ = std::move(settings.key);
  wake_.notify_all();
}

void JobScheduler::refresh_drill(JobState& state, TimePoint now) {
  state.next_drill.reset();
  if (!state.job.drill_every) return;
  if (auto last = history_.last(state.job.name, RunKind::Drill)) {
    state.next_drill = last->started + *state.job.drill_every;
    return;
  }
  if (!state.drill_anchor && history_.last(state.job.name, RunKind::Backup, true)) state.drill_anchor = now;
  if (state.drill_anchor) state.next_drill = *state.drill_anchor + *state.job.drill_every;
}

void JobScheduler::schedule_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = system_clock::now();
    for (auto& [name, state] : jobs_) run_due(state, now);
    // A copy: the wait below lets reloads replace jobs_.
    const std::optional<TimePoint> wake = next_wake();
    if (wake) wake_.wait_until(lock, *wake);
    else wake_.wait(lock);
  }
}

void JobScheduler::run_due(JobState& state, TimePoint now) {
  const std::string& name = state.job.name;
  if (state.next_backup && *state.next_backup <= now) {
    state.next_backup = next_backup_(state.job, now);
    auto busy = in_flight_.find(name);
    if (busy != in_flight_.end()) {
      ++runs_total_[name][{RunKind::Backup, "skipped"}];
      logging::event(logging::Level::Warning, "scheduled backup skipped: previous run still running",
                     {{"job", name}, {"running_run", busy->second->run.id},
                      {"running_kind", to_string(busy->second->run.kind)}});
    } else {
      launch(state, RunRequest{});
    }
  }
  // A due drill waits for the job's run in progress; its end wakes us.
  if (state.next_drill && *state.next_drill <= now && !in_flight_.count(name)) {
    RunRequest drill;
    drill.kind = RunKind::Drill;
    launch(state, drill);
    state.next_drill.reset();  // set again when the drill ends
  }
}

std::optional<Run::TimePoint> JobScheduler::next_wake() const {
  std::optional<TimePoint> wake;
  auto consider = [&](const std::optional<TimePoint>& t) {
    if (t && (!wake || *t < *wake)) wake = t;
  };
  for (const auto& [name, state] : jobs_) {
    consider(state.next_backup);
    if (!in_flight_.count(name)) consider(state.next_drill);
  }
  return wake;
}

Json JobScheduler::request_for(const BackupJob& job, const std::string& op, const std::string& run_id) const {
  return Json{{"op", op}, {"run_id", run_id}, {"job", job.definition}, {"key", key_}, {"spool_dir", spool_dir_}};
}

Run JobScheduler::launch(const JobState& state, const RunRequest& request) {
  auto flight = std::make_shared<InFlight>();
  Run& run = flight->run;
  run.started = system_clock::now();
  run.id = new_run_id(run.started);
  run.job = state.job.name;
  run.kind = request.kind;
  in_flight_[run.job] = flight;

  WorkerCall call;
  call.worker = worker_;
  call.request = request_for(state.job, to_string(request.kind), run.id);
  if (request.snapshot) call.request["snapshot"] = *request.snapshot;
  if (request.target) call.request["target"] = *request.target;
  call.job = run.job;
  call.run_id = run.id;
  call.cancel = &stopping_signal_;
  call.on_progress = [this, flight](long long read, long long stored) {
    std::lock_guard lock(mutex_);
    flight->run.bytes_read = read;
    flight->run.bytes_stored = stored;
  };
  logging::event(logging::Level::Info, "job run started",
                 {{"job", run.job}, {"run", run.id}, {"kind", to_string(run.kind)}});
  ++run_threads_;
  std::thread([this, flight, call = std::move(call)]() mutable { execute(flight, std::move(call)); }).detach();
  return run;
}

void JobScheduler::execute(std::shared_ptr<InFlight> flight, WorkerCall call) {
  Json partial;
  auto outcome = run_worker(call, &partial);
  call.on_progress = nullptr;  // it holds `flight`; nothing calls it any more
  finish(flight, std::move(outcome), std::move(partial));
}

void JobScheduler::finish(const std::shared_ptr<InFlight>& flight, Result<Json> outcome, Json partial) {
  Run run;
  {
    std::lock_guard lock(mutex_);
    run = flight->run;
  }
  run.finished = system_clock::now();
  if (outcome) {
    run.status = RunStatus::Succeeded;
    take_result(run, *outcome);
  } else {
    run.status = RunStatus::Failed;
    run.error = outcome.error().message();
    if (partial.is_object()) run.result = std::move(partial);
  }
  if (auto st = history_.record(run); !st)
    logging::event(logging::Level::Error, "job history: a run is not saved",
                   {{"job", run.job}, {"run", run.id}, {"error", st.error().message()}});
  {
    std::lock_guard lock(mutex_);
    auto it = in_flight_.find(run.job);
    if (it != in_flight_.end() && it->second == flight) in_flight_.erase(it);
    ++runs_total_[run.job][{run.kind, to_string(run.status)}];
    if (auto job = jobs_.find(run.job); job != jobs_.end()) {
      JobState& state = job->second;
      if (run.kind == RunKind::Backup && run.succeeded() && !state.drill_anchor) state.drill_anchor = run.finished;
      refresh_drill(state, *run.finished);
    }
    wake_.notify_all();
  }
  logging::event(run.succeeded() ? logging::Level::Info : logging::Level::Warning, "job run finished",
                 {{"job", run.job}, {"run", run.id}, {"kind", to_string(run.kind)},
                  {"status", to_string(run.status)}, {"duration_seconds", run.duration_seconds()},
                  {"error", run.error.value_or("")}});
  if (on_end_) on_end_(run);
  std::lock_guard lock(mutex_);
  if (--run_threads_ == 0) runs_gone_.notify_all();
}

StartAnswer JobScheduler::start_run(const std::string& job, const RunRequest& request) {
  std::lock_guard lock(mutex_);
  StartAnswer answer;
  auto state = jobs_.find(job);
  if (stopping_ || !started_) {
    answer.outcome = StartAnswer::Outcome::Stopping;
  } else if (state == jobs_.end()) {
    answer.outcome = StartAnswer::Outcome::UnknownJob;
  } else if (auto busy = in_flight_.find(job); busy != in_flight_.end()) {
    answer.outcome = StartAnswer::Outcome::Busy;
    answer.run = busy->second->run;
  } else if (auto bad = check_restore_target(state->second.job, request.target.value_or("")); !bad) {
    answer.outcome = StartAnswer::Outcome::Refused;  // before keel-dr sees it (it checks again)
    answer.error = bad.error().message();
  } else {
    answer.run = launch(state->second, request);
  }
  return answer;
}

Result<Json> JobScheduler::list_backups(const std::string& job, std::chrono::milliseconds timeout) {
  WorkerCall call;
  {
    std::lock_guard lock(mutex_);
    auto state = jobs_.find(job);
    if (state == jobs_.end()) return fail(ErrorCode::NotFound, fmt::format("no backup job named `{}`", job));
    if (stopping_) return fail(ErrorCode::Unavailable, "the agent is stopping");
    call.worker = worker_;
    call.run_id = new_run_id(system_clock::now());
    call.request = request_for(state->second.job, "list", call.run_id);
  }
  call.job = job;
  call.timeout = timeout;
  call.cancel = &stopping_signal_;
  auto result = run_worker(call);
  if (!result) return fail(result.error().with_context(fmt::format("listing the backups of `{}`", job)));
  auto backups = result->find("backups");
  if (backups == result->end() || !backups->is_array())
    return fail(ErrorCode::Protocol, "keel-dr answered a list without `backups`");
  return *backups;
}

std::optional<Run> JobScheduler::find_run(const std::string& id) const {
  {
    std::lock_guard lock(mutex_);
    for (const auto& [job, flight] : in_flight_)
      if (flight->run.id == id) return flight->run;
  }
  return history_.find(id);
}

std::vector<Run> JobScheduler::runs(const std::string& job) const {
  std::vector<Run> out;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, flight] : in_flight_)
      if (job.empty() || name == job) out.push_back(flight->run);
  }
  for (auto& run : history_.runs(job)) out.push_back(std::move(run));
  std::stable_sort(out.begin(), out.end(), [](const Run& a, const Run& b) { return a.started > b.started; });
  return out;
}

std::vector<JobView> JobScheduler::jobs() const {
  std::lock_guard lock(mutex_);
  std::vector<JobView> out;
  for (const auto& [name, state] : jobs_) {
    JobView view;
    view.name = name;
    view.source = state.job.source;
    view.to = public_destination(state.job.to);
    view.schedule = state.job.schedule ? state.job.schedule->text : "";
    view.next_run = state.next_backup;
    view.next_drill = state.next_drill;
    view.drill_every = state.job.drill_every;
    if (auto flight = in_flight_.find(name); flight != in_flight_.end()) view.running_run = flight->second->run.id;
    view.last_backup = history_.last(name, RunKind::Backup);
    view.last_drill = history_.last(name, RunKind::Drill);
    if (auto good = history_.last(name, RunKind::Backup, true)) view.last_success = good->finished;
    out.push_back(std::move(view));
  }
  return out;
}

std::vector<JobMetrics> JobScheduler::metrics() const {
  std::lock_guard lock(mutex_);
  std::vector<JobMetrics> out;
  for (const auto& [name, state] : jobs_) {
    JobMetrics m;
    m.job = name;
    if (auto backup = history_.last(name, RunKind::Backup, true)) {
      m.backup_last_success = unix_time(backup);
      m.backup_raw_bytes = backup->bytes_read;
      m.backup_stored_bytes = backup->bytes_stored;
      m.backup_duration = backup->duration_seconds();
    }
    auto drill = history_.last(name, RunKind::Drill, true);
    m.drill_last_success = unix_time(drill);
    auto restore = history_.last(name, RunKind::Restore, true);
    // The newer of the last restore and the last drill (a drill restores too).
    const Run* newest = nullptr;
    for (const auto* r : {restore ? &*restore : nullptr, drill ? &*drill : nullptr})
      if (r && (!newest || r->finished > newest->finished)) newest = r;
    if (newest) m.restore_duration = restore_seconds(*newest);
    for (RunKind kind : kRunKinds)
      for (const char* status : {"succeeded", "failed", "skipped"}) {
        if (std::string_view(status) == "skipped" && kind != RunKind::Backup) continue;
        long long n = 0;
        if (auto job = runs_total_.find(name); job != runs_total_.end())
          if (auto it = job->second.find({kind, status}); it != job->second.end()) n = it->second;
        m.runs_total[{kind, status}] = n;
      }
    out.push_back(std::move(m));
  }
  return out;
}

CheckResult JobScheduler::dr_check(const std::string& job) const {
  std::lock_guard lock(mutex_);
  auto state = jobs_.find(job);
  if (state == jobs_.end()) return {checks::CheckStatus::Unknown, fmt::format("no backup job named `{}`", job)};
  DrFacts facts;
  facts.last_good_backup = history_.last(job, RunKind::Backup, true);
  facts.last_drill = history_.last(job, RunKind::Drill);
  facts.watched_since = state->second.watched_since;
  facts.drill_anchor = state->second.drill_anchor;
  facts.now = system_clock::now();
  return evaluate_dr(state->second.job, facts);
}

}  // namespace keel::agent

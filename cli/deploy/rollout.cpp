#include "cli/deploy/rollout.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "cli/deploy/release.h"
#include "core/check_spec.h"
#include "core/time.h"

namespace keel::deploy {

const char* to_string(Action action) { return action == Action::Deploy ? "deploy" : "rollback"; }

const char* to_string(HostOutcome outcome) {
  switch (outcome) {
    case HostOutcome::Skipped: return "skipped";
    case HostOutcome::Unchanged: return "unchanged";
    case HostOutcome::Switched: return "switched";
    case HostOutcome::Restored: return "restored";
    case HostOutcome::Unknown: return "unknown";
  }
  return "unknown";
}

namespace {

class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() override { return std::chrono::steady_clock::now(); }
  void sleep(std::chrono::milliseconds duration) override { std::this_thread::sleep_for(duration); }
  double unix_now() override {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
};

class NoObserver final : public RolloutObserver {};

// The last `lines` lines of a command's output, for messages.
std::string tail(const std::string& output, size_t lines = 20) {
  size_t end = output.size();
  while (end > 0 && (output[end - 1] == '\n' || output[end - 1] == '\r')) --end;
  size_t start = end, seen = 0;
  while (start > 0) {
    if (output[start - 1] == '\n' && ++seen == lines) break;
    --start;
  }
  return output.substr(start, end - start);
}

// Runs fn(i) for i in [0, n) on at most `limit` threads.
template <typename Fn>
void parallel_for(size_t n, size_t limit, const Fn& fn) {
  if (n == 0) return;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  const size_t threads = std::min(n, std::max<size_t>(limit, 1));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

bool is_transport(const Error& e) {
  return e.code() == ErrorCode::Unavailable || e.code() == ErrorCode::Transient || e.code() == ErrorCode::Timeout;
}

// One host's run: its result plus what the rollout needs to put it back.
struct HostRun {
  HostResult result;
  std::vector<std::string> releases;  // as listed by the preflight
  bool reached_upload = false;        // a release directory may have been made
  bool switch_sent = false;           // `current` may point at `to`
  double switch_time = 0;             // the host's clock at the switch
};

class Rollout {
 public:
  Rollout(const AppSpec& app, const std::vector<std::string>& hosts, Fleet& fleet, const RolloutOptions& options)
      : app_(app), fleet_(fleet), options_(options), layout_{app.path},
        clock_(options.clock ? *options.clock : system_clock()),
        observer_(options.observer ? *options.observer : no_observer_) {
    result_.app = app.name;
    result_.action = options.action;
    result_.release = options.action == Action::Deploy ? options.release : std::string();
    for (const auto& address : hosts) {
      HostRun run;
      run.result.address = address;
      runs_.push_back(std::move(run));
    }
    for (const auto& batch : plan_batches(hosts.size(), app.batch, app.batch_percent)) {
      std::vector<std::string> addresses;
      for (size_t i : batch) addresses.push_back(hosts[i]);
      result_.batches.push_back(std::move(addresses));
    }
    for (size_t b = 0; b < result_.batches.size(); ++b)
      for (const auto& address : result_.batches[b])
        for (auto& run : runs_)
          if (run.result.address == address) run.result.batch = static_cast<int>(b);
  }

  RolloutResult run() {
    if (runs_.empty()) return finish(false, "no hosts to deploy to");
    if (options_.action == Action::Deploy && !options_.artifact) return finish(false, "no artifact");
    observer_.started(result_);
    if (!preflight()) {
      result_.preflight_failed = true;
      std::vector<std::string> failed;
      for (const auto& run : runs_)
        if (run.result.failed) failed.push_back(run.result.address);
      return finish(false, fmt::format("{} of {} hosts cannot be deployed to ({}); nothing was changed",
                                       failed.size(), runs_.size(), fmt::join(failed, ", ")));
    }
    size_t done = 0;
    for (size_t b = 0; b < result_.batches.size(); ++b) {
      std::vector<HostRun*> batch;
      for (auto& run : runs_)
        if (run.result.batch == static_cast<int>(b)) batch.push_back(&run);
      observer_.batch_started(b, result_.batches[b]);
      {
        std::lock_guard lock(culprit_mutex_);
        culprit_.clear();
        stop_ = false;
      }
      parallel_for(batch.size(), batch.size(), [&](size_t i) {
        HostRun& run = *batch[i];
        const auto started = clock_.now();
        run_host(run);
        run.result.seconds = std::chrono::duration<double>(clock_.now() - started).count();
      });
      const bool failed = std::any_of(batch.begin(), batch.end(), [](const HostRun* r) { return r->result.failed; });
      if (!failed) {
        for (auto* run : batch) {
          run->result.outcome = HostOutcome::Switched;
          run->result.current = run->result.to;
        }
        if (options_.action == Action::Deploy) parallel_for(batch.size(), batch.size(), [&](size_t i) { prune(*batch[i]); });
        observer_.batch_finished(b, true);
        done += batch.size();
        continue;
      }
      result_.failed_batch = static_cast<int>(b);
      parallel_for(batch.size(), batch.size(), [&](size_t i) { restore(*batch[i]); });
      observer_.batch_finished(b, false);
      std::vector<std::string> failed_hosts;
      for (auto* run : batch)
        if (run->result.failed) failed_hosts.push_back(run->result.address);
      std::string message = fmt::format("batch {} of {} failed on {}: {}", b + 1, result_.batches.size(),
                                        fmt::join(failed_hosts, ", "), failure_summary(batch));
      message += fmt::format("; its hosts were put back and the rollout stopped");
      if (done > 0)
        message += fmt::format("; {} host{} of earlier batches stay on {}", done, done == 1 ? "" : "s",
                               options_.action == Action::Deploy ? fmt::format("release {}", options_.release)
                                                                 : std::string("the release they were rolled back to"));
      return finish(false, message);
    }
    return finish(true, "");
  }

 private:
  RolloutResult finish(bool ok, const std::string& error) {
    result_.ok = ok;
    result_.error = error;
    result_.hosts.clear();
    for (auto& run : runs_) result_.hosts.push_back(run.result);
    return result_;
  }

  std::string failure_summary(const std::vector<HostRun*>& batch) const {
    for (const auto* run : batch)
      if (run->result.failed) return fmt::format("{} failed: {}", run->result.step, run->result.error);
    return "failed";
  }

  void step(HostRun& run, const std::string& what, const std::string& detail = {}) {
    observer_.host_step(run.result.address, what, detail);
  }

  // The host failed: the others of its batch stop at their next step.
  bool fail(HostRun& run, const std::string& step_name, const std::string& error, const std::string& output = {}) {
    {
      std::lock_guard lock(culprit_mutex_);
      if (culprit_.empty()) culprit_ = run.result.address;
      stop_ = true;
    }
    run.result.failed = true;
    run.result.step = step_name;
    run.result.error = error;
    run.result.output = tail(output);
    step(run, "failed", fmt::format("{}: {}", step_name, error));
    return false;
  }

  bool stopped(HostRun& run) {
    std::string culprit;
    {
      std::lock_guard lock(culprit_mutex_);
      culprit = culprit_;
    }
    run.result.error = fmt::format("stopped: {} of the same batch failed", culprit.empty() ? "another host" : culprit);
    step(run, "stopped", run.result.error);
    return false;
  }

  // Runs a command; a transport error or a non-zero exit fails the step.
  bool command(HostRun& run, HostChannel& channel, const std::string& step_name, const std::string& text,
               std::string* output = nullptr) {
    auto r = channel.run(text);
    if (!r) {
      if (is_transport(r.error())) fleet_.reset(run.result.address);
      return fail(run, step_name, r.error().message());
    }
    if (output) *output = r->output;
    if (r->exit_status != 0)
      return fail(run, step_name, fmt::format("exited with status {}", r->exit_status), r->output);
    return true;
  }

  // ---- preflight ----

  bool preflight() {
    const bool deploy = options_.action == Action::Deploy;
    parallel_for(runs_.size(), options_.preflight_parallelism, [&](size_t i) {
      HostRun& run = runs_[i];
      if (!app_.health.empty() && !fleet_.has_agent(run.result.address)) {
        fail(run, "agent",
             fmt::format("has no keel-agent, and the health gate ({}) asks it: set `agent: true` on the server "
                         "and run `keel apply`",
                         fmt::join(app_.health, ", ")));
        return;
      }
      auto channel = fleet_.open(run.result.address);
      if (!channel) {
        fail(run, "connect", channel.error().message());
        return;
      }
      std::string output;
      if (!command(run, **channel, "inspect", inspect_command(layout_), &output)) return;
      const HostReleases found = parse_inspect(output);
      run.releases = found.releases;
      run.result.from = found.current;
      run.result.current = found.current;
      if (!found.current_target.empty() && found.current.empty()) {
        fail(run, "inspect",
             fmt::format("{} points at {}, which is not a release keel made", layout_.current(), found.current_target),
             "");
        return;
      }
      if (deploy) {
        run.result.to = options_.release;
        if (std::find(found.releases.begin(), found.releases.end(), options_.release) != found.releases.end()) {
          fail(run, "inspect", fmt::format("release {} exists already on the host", options_.release));
          return;
        }
      } else {
        if (found.current.empty()) {
          fail(run, "inspect", fmt::format("has no current release of {} to roll back from", app_.name));
          return;
        }
        run.result.to = release_before(found.releases, found.current);
        if (run.result.to.empty()) {
          fail(run, "inspect", fmt::format("has no release before {} in {}", found.current, layout_.releases()));
          return;
        }
      }
      if (app_.health.empty()) return;
      auto checks = (*channel)->checks();
      if (!checks) {
        if (is_transport(checks.error())) fleet_.reset(run.result.address);
        fail(run, "agent", fmt::format("cannot ask its agent: {}", checks.error().message()));
        return;
      }
      std::vector<std::string> missing;
      for (const auto& name : app_.health)
        if (std::none_of(checks->begin(), checks->end(), [&](const auto& c) { return c.name == name; }))
          missing.push_back(name);
      if (!missing.empty())
        fail(run, "agent",
             fmt::format("its agent does not run {}: run `keel apply` to give it the stack's checks",
                         fmt::join(missing, ", ")));
    });
    return std::none_of(runs_.begin(), runs_.end(), [](const HostRun& r) { return r.result.failed; });
  }

  // ---- one host of a batch ----

  bool run_host(HostRun& run) {
    const bool deploy = options_.action == Action::Deploy;
    auto channel_or = fleet_.open(run.result.address);
    if (!channel_or) return fail(run, "connect", channel_or.error().message());
    HostChannel& channel = **channel_or;
    const std::string& to = run.result.to;
    const HookEnv env{app_.name, to, run.result.from};
    if (deploy) {
      if (stop_) return stopped(run);
      step(run, "upload");
      run.reached_upload = true;
      if (!command(run, channel, "upload", prepare_command(layout_))) return false;
      if (auto s = channel.upload(options_.artifact->file, layout_.upload(to, options_.artifact->gzip)); !s) {
        if (is_transport(s.error())) fleet_.reset(run.result.address);
        return fail(run, "upload", s.error().message());
      }
      if (!command(run, channel, "upload", unpack_command(layout_, to, options_.artifact->gzip))) return false;
      if (!app_.before.empty()) {
        if (stop_) return stopped(run);
        step(run, "before");
        if (!command(run, channel, "before", hook_command(layout_, layout_.release(to), env, app_.before)))
          return false;
      }
    }
    if (stop_) return stopped(run);
    std::string output;
    run.switch_sent = true;
    if (!command(run, channel, "switch", switch_command(layout_, to), &output)) return false;
    run.result.current = to;
    if (auto t = parse_host_time(output)) {
      run.switch_time = *t;
    } else {
      run.switch_time = clock_.unix_now() + 1;
      run.result.warnings.push_back("the host's `date +%s.%N` printed no time: checks are judged by this machine's clock");
    }
    step(run, "switch", fmt::format("current -> releases/{}", to));
    if (!app_.start.empty()) {
      step(run, "start");
      if (!command(run, channel, "start", hook_command(layout_, layout_.release(to), env, app_.start))) return false;
    }
    if (!health_gate(run, channel)) return false;
    if (deploy && !app_.after.empty()) {
      step(run, "after");
      if (!command(run, channel, "after", hook_command(layout_, layout_.release(to), env, app_.after))) return false;
    }
    step(run, "done", to);
    return true;
  }

  enum class Gate { Passed, Failed, Stopped };

  // Runs the app's checks on the host until each passes with a run that
  // started after `switch_time` (the host's clock), or health_timeout is up.
  // `error` says why it failed; `outcomes` holds each check's last answer.
  Gate wait_healthy(HostChannel& channel, double switch_time, bool obey_stop, std::vector<CheckOutcome>& outcomes,
                    std::string& error) {
    const auto deadline = clock_.now() + app_.health_timeout;
    for (const auto& name : app_.health) {
      CheckOutcome outcome;
      outcome.name = name;
      for (;;) {
        if (obey_stop && stop_) {
          outcomes.push_back(outcome);
          return Gate::Stopped;
        }
        auto report = channel.run_check(name);
        if (!report) {
          outcome.status = "unknown";
          outcome.fresh = false;
          outcome.output = report.error().message();
          if (report.error().code() == ErrorCode::NotFound) {
            outcomes.push_back(outcome);
            error = fmt::format("its agent has no check `{}`", name);
            return Gate::Failed;
          }
        } else {
          outcome.status = checks::to_string(report->status);
          outcome.output = report->output;
          outcome.fresh = report->last_run_unix && *report->last_run_unix >= switch_time;
          if (outcome.fresh && report->status == checks::CheckStatus::Passing) {
            outcome.passed = true;
            break;
          }
        }
        const auto now = clock_.now();
        if (now >= deadline) {
          outcomes.push_back(outcome);
          const std::string timeout = timeutil::format_duration(app_.health_timeout);
          if (!outcome.fresh && outcome.status != "unknown")
            error = fmt::format("check `{}` did not run after the switch within {}", name, timeout);
          else
            error = fmt::format("check `{}` is {} after {}", name, outcome.status, timeout);
          return Gate::Failed;
        }
        clock_.sleep(std::min<std::chrono::milliseconds>(
            options_.poll, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                               std::chrono::milliseconds(1)));
      }
      outcomes.push_back(outcome);
    }
    return Gate::Passed;
  }

  bool health_gate(HostRun& run, HostChannel& channel) {
    if (app_.health.empty()) return true;
    std::string error;
    switch (wait_healthy(channel, run.switch_time, true, run.result.checks, error)) {
      case Gate::Passed: break;
      case Gate::Stopped: return stopped(run);
      case Gate::Failed: {
        std::string output;
        for (const auto& c : run.result.checks)
          if (!c.passed) output = c.output;
        return fail(run, "health", error, output);
      }
    }
    for (const auto& c : run.result.checks) step(run, "health", fmt::format("check `{}` passing", c.name));
    return true;
  }

  // ---- after the batch ----

  void prune(HostRun& run) {
    std::vector<std::string> releases = run.releases;
    releases.push_back(run.result.to);
    const auto doomed = releases_to_prune(releases, app_.keep_releases, run.result.to, run.result.from);
    if (doomed.empty()) return;
    auto channel = fleet_.open(run.result.address);
    if (!channel) {
      run.result.warnings.push_back(fmt::format("old releases not pruned: {}", channel.error().message()));
      return;
    }
    auto r = (*channel)->run(remove_releases_command(layout_, doomed));
    if (!r || r->exit_status != 0) {
      run.result.warnings.push_back(fmt::format("old releases not pruned: {}",
                                                r ? tail(r->output, 3) : r.error().message()));
      return;
    }
    run.result.pruned = doomed;
    step(run, "prune", fmt::format("{}", fmt::join(doomed, ", ")));
  }

  // Puts a host of a failed batch back where it was.
  void restore(HostRun& run) {
    const bool deploy = options_.action == Action::Deploy;
    if (!run.switch_sent && !run.reached_upload) {
      run.result.outcome = HostOutcome::Unchanged;
      return;
    }
    auto channel_or = fleet_.open(run.result.address);
    if (!channel_or) {
      run.result.rollback_error = fmt::format("cannot reach it to put it back: {}", channel_or.error().message());
      if (run.switch_sent) {
        run.result.outcome = HostOutcome::Unknown;
        run.result.current = "";
      } else {
        run.result.outcome = HostOutcome::Unchanged;
        run.result.warnings.push_back(fmt::format("release {} may be left in {}", run.result.to, layout_.releases()));
      }
      return;
    }
    HostChannel& channel = **channel_or;
    auto attempt = [&](const std::string& text, std::string* output = nullptr) -> std::string {
      auto r = channel.run(text);
      if (!r) return r.error().message();
      if (output) *output = r->output;
      if (r->exit_status != 0) return fmt::format("exited with status {}: {}", r->exit_status, tail(r->output, 5));
      return {};
    };
    if (run.switch_sent) {
      const std::string& from = run.result.from;
      step(run, "restore", from.empty() ? std::string("no release before: removing current")
                                        : fmt::format("current -> releases/{}", from));
      if (from.empty()) {
        if (auto e = attempt(unlink_current_command(layout_)); !e.empty()) {
          run.result.outcome = HostOutcome::Unknown;
          run.result.rollback_error = fmt::format("removing current: {}", e);
          return;
        }
        run.result.current = "";
      } else {
        std::string printed;
        if (auto e = attempt(switch_command(layout_, from), &printed); !e.empty()) {
          run.result.outcome = HostOutcome::Unknown;
          run.result.rollback_error = fmt::format("switching back to {}: {}", from, e);
          return;
        }
        run.result.current = from;
        if (!app_.start.empty()) {
          const HookEnv env{app_.name, from, run.result.to};
          if (auto e = attempt(hook_command(layout_, layout_.release(from), env, app_.start)); !e.empty())
            run.result.rollback_error = fmt::format("back on {}, but `start` failed: {}", from, e);
        }
        // The release it is back on passed its gate before; make sure it
        // does again (and the agent's status says so).
        if (run.result.rollback_error.empty() && !app_.health.empty()) {
          std::vector<CheckOutcome> outcomes;
          std::string error;
          const double back_at = parse_host_time(printed).value_or(clock_.unix_now() + 1);
          if (wait_healthy(channel, back_at, false, outcomes, error) != Gate::Passed)
            run.result.rollback_error = fmt::format("back on {}, but {}", from, error);
        }
      }
      run.result.outcome = HostOutcome::Restored;
    } else {
      run.result.outcome = HostOutcome::Unchanged;
    }
    // The failed release goes: it is not one to return to.
    if (deploy && run.reached_upload) {
      if (auto e = attempt(remove_releases_command(layout_, {run.result.to})); !e.empty())
        run.result.warnings.push_back(fmt::format("release {} not removed: {}", run.result.to, e));
    }
  }

  const AppSpec& app_;
  Fleet& fleet_;
  const RolloutOptions& options_;
  Layout layout_;
  Clock& clock_;
  NoObserver no_observer_;
  RolloutObserver& observer_;
  RolloutResult result_;
  std::vector<HostRun> runs_;
  // The batch's first failing host; set, the others stop at their next step.
  std::mutex culprit_mutex_;
  std::string culprit_;
  std::atomic<bool> stop_{false};
};

}  // namespace

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

RolloutResult run_rollout(const AppSpec& app, const std::vector<std::string>& hosts, Fleet& fleet,
                          const RolloutOptions& options) {
  return Rollout(app, hosts, fleet, options).run();
}

}  // namespace keel::deploy

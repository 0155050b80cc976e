#pragma once
// The rollout of `keel deploy APP` and `keel deploy APP --rollback`
// (docs/deploy.md), batch by batch over a Fleet:
//
//   preflight  every host: connect, read `current` and the releases, make
//              sure its agent runs the app's health checks. Any problem:
//              nothing is changed anywhere.
//   per batch, its hosts in parallel:
//     deploy:   upload + unpack into releases/ID, `before` in it, switch
//               `current`, `start`, health gate, `after`
//     rollback: switch `current` to the release before it, `start`, health gate
//   a batch in which a host fails: every host of it that was switched goes
//   back to where it was (switch back, `start` again), the rollout stops;
//   earlier batches stay switched.
//   after a good deploy batch: old releases pruned down to keep_releases.
//
// Health gate: each check named by the app, run now by the host's agent
// (POST /v1/checks/NAME/run) until it is passing with a run that started
// after the switch (by the host's clock), until health_timeout.
//
// The rollout never prints: progress goes to a RolloutObserver, the outcome
// is a RolloutResult for the views. Every failure is an outcome, not an
// Error: the result says, host by host, where `current` points.

#include <chrono>
#include <string>
#include <vector>

#include "cli/deploy/fleet.h"

namespace keel::deploy {

// The app with every value resolved (cli/config AppBlock, evaluated).
struct AppSpec {
  std::string name;
  std::string path;  // absolute, on the hosts
  std::string before, after, start;  // empty: none
  std::vector<std::string> health;   // check names
  std::chrono::milliseconds health_timeout{60'000};
  int batch = 1;
  bool batch_percent = false;
  int keep_releases = 5;
};

// The artifact as uploaded: a tarball on this machine.
struct Artifact {
  std::string file;
  bool gzip = true;    // .tar.gz / .tgz, else .tar
  std::string sha256;  // hex
  long long size = 0;  // bytes
};

enum class Action { Deploy, Rollback };
const char* to_string(Action action);  // "deploy" | "rollback"

// Where a host's `current` ended up.
enum class HostOutcome {
  Skipped,    // not reached: a later batch after a failed one, or the preflight failed
  Unchanged,  // `current` never moved (failed or stopped before the switch)
  Switched,   // `current` points at `to` (deploy: the new release)
  Restored,   // switched to `to`, then back to `from` when its batch failed
  Unknown,    // switched and could not be put back: see rollback_error
};
const char* to_string(HostOutcome outcome);  // "skipped", "unchanged", "switched", "restored", "unknown"

struct CheckOutcome {
  std::string name;
  std::string status;  // the agent's, "passing" ...; "unknown" when it could not be asked
  std::string output;  // the last run's output (or why the agent could not be asked)
  bool passed = false;
  bool fresh = false;  // the last answer came from a run after the switch
};

struct HostResult {
  std::string address;
  int batch = -1;       // index into RolloutResult::batches; -1: none
  std::string from;     // the release `current` pointed at before; empty: none
  std::string to;       // the release it was to move to
  std::string current;  // where `current` points at the end, as far as known; empty: none
  HostOutcome outcome = HostOutcome::Skipped;
  bool failed = false;  // this host is why its batch failed (or the preflight)
  std::string step;     // the step that failed: connect, inspect, agent, upload, before, switch, start, health, after
  std::string error;    // what went wrong (also "stopped: ..." for a host stopped by another's failure)
  std::string output;   // the failing command's output, its last lines
  std::vector<CheckOutcome> checks;  // the health gate's last answer per check
  std::string rollback_error;        // putting it back went wrong
  std::vector<std::string> pruned;   // releases deleted after the batch
  std::vector<std::string> warnings;
  double seconds = 0;                // time spent on it in its batch
};

struct RolloutResult {
  std::string app;
  Action action = Action::Deploy;
  std::string release;  // deploy: the new release id
  bool ok = false;
  bool preflight_failed = false;  // nothing was changed anywhere
  std::string error;              // why it failed, one line; empty when ok
  std::vector<std::vector<std::string>> batches;  // host addresses
  int failed_batch = -1;
  std::vector<HostResult> hosts;  // in the order given
};

// Progress as it happens, from the hosts' threads at once: implementations
// serialize what they print.
class RolloutObserver {
 public:
  virtual ~RolloutObserver() = default;
  virtual void started(const RolloutResult& plan) { (void)plan; }
  virtual void batch_started(size_t index, const std::vector<std::string>& hosts) {
    (void)index;
    (void)hosts;
  }
  virtual void host_step(const std::string& address, const std::string& step, const std::string& detail) {
    (void)address;
    (void)step;
    (void)detail;
  }
  virtual void batch_finished(size_t index, bool ok) {
    (void)index;
    (void)ok;
  }
};

// Time for the health gate; injected so that tests do not sleep.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point now() = 0;
  virtual void sleep(std::chrono::milliseconds duration) = 0;
  // Seconds since the epoch here: the switch time when the host does not
  // tell its own.
  virtual double unix_now() = 0;
};
Clock& system_clock();

struct RolloutOptions {
  Action action = Action::Deploy;
  std::string release;                     // deploy: the new release id
  const Artifact* artifact = nullptr;      // deploy
  std::chrono::milliseconds poll{1'000};   // between runs of a check that is not passing yet
  size_t preflight_parallelism = 20;
  Clock* clock = nullptr;                  // null: system_clock()
  RolloutObserver* observer = nullptr;     // null: none
};

// Rolls the app out to `hosts` (addresses, in rollout order).
RolloutResult run_rollout(const AppSpec& app, const std::vector<std::string>& hosts, Fleet& fleet,
                          const RolloutOptions& options);

}  // namespace keel::deploy

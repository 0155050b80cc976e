#pragma once
// Stage 4: apply. Walks the plan's graph with bounded parallelism, starting
// each change the moment the changes it depends on are done, and records
// every resource in the state journal as soon as it changes. On an error no
// new change starts, the ones in flight finish, and state holds all that
// succeeded.
//
// The executor never prints: progress goes to ApplyHooks, which views render.

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "cli/config/configuration.h"
#include "cli/engine/plan.h"
#include "cli/state/journal.h"
#include "core/provider.h"

namespace keel::engine {

// Called from worker threads, concurrently: implementations synchronise.
class ApplyHooks {
 public:
  virtual ~ApplyHooks() = default;
  virtual void on_start(const ResourceChange&) {}
  virtual void on_progress(const ResourceChange&, const std::string& /*message*/) {}
  // Every `still_running_every` while a change runs.
  virtual void on_still_running(const ResourceChange&, std::chrono::seconds /*elapsed*/) {}
  // `error` is empty on success.
  virtual void on_finish(const ResourceChange&, const std::string& /*error*/, std::chrono::milliseconds /*elapsed*/) {}
};

struct ApplyOptions {
  int parallelism = 10;
  std::string project;
  std::chrono::seconds still_running_every{10};
  // Set (from a signal watcher) to stop gracefully: nothing new starts, the
  // changes in flight finish and are recorded. May be null.
  const std::atomic<bool>* interrupted = nullptr;
};

struct ApplyResult {
  int succeeded = 0;   // changes that completed
  int failed = 0;      // changes that returned an error
  int skipped = 0;     // never started (a dependency failed, or the run stopped)
  std::vector<std::string> errors;  // "create files.a: ..." one per failure
  bool interrupted = false;  // stopped by ApplyOptions::interrupted
  bool ok() const { return failed == 0 && skipped == 0 && errors.empty(); }
};

using ProviderMap = std::map<std::string, provider::Provider*>;  // by provider block name

// Applies `plan`, updating `state` in memory and through `journal`.
// `config` is needed to evaluate attributes with the values of resources
// created earlier in the same run (nullptr for a destroy-only plan).
ApplyResult apply_plan(const Plan& plan, const config::Configuration* config, state::State& state,
                       state::StateJournal& journal, const ProviderMap& providers, ApplyHooks& hooks,
                       const ApplyOptions& options);

// Stored outputs after an apply: evaluated against the final state.
Status update_outputs(const config::Configuration& config, state::State& state);

}  // namespace keel::engine

#pragma once
// What most commands share: the stack loaded and validated, the state store
// locked and loaded, and the providers ready. Stays at one address for its
// life (the configuration points into the stack).

#include <functional>
#include <memory>
#include <string>

#include "cli/commands/commands.h"
#include "cli/commands/context.h"
#include "cli/config/configuration.h"
#include "cli/engine/executor.h"
#include "cli/providers/registry.h"
#include "cli/state/store.h"

namespace keel::commands {

class Workspace {
 public:
  // Loads and validates the stack; with `lock_state`, takes the state lock
  // and loads the state. Diagnostics are printed (text or JSON) and turn
  // into an InvalidConfig error.
  // The state must belong to this stack (state/stack_binding.h) unless
  // `check_binding` is false (`keel state rebind`, which records it).
  // `read_only` (keel drift): the state is locked and read but nothing is
  // written, not a crashed run's journal compacted, not a new state key.
  static Result<std::unique_ptr<Workspace>> open(Context& ctx, const GlobalOptions& g, const std::string& command, bool lock_state,
                                                 bool check_binding = true, bool read_only = false);

  config::Stack stack;
  config::Configuration config;
  std::string work_dir;  // <stack dir>/.keel, or .keel/environments/NAME with -e
  // The var files the variables were read from: (name, text), for a saved plan.
  std::vector<std::pair<std::string, std::string>> var_files;
  std::unique_ptr<providers::Registry> registry;
  std::unique_ptr<state::StateStore> store;  // .keel/ or the backend the stack chooses (backend.h)
  state::State state;

  // Configures the providers that own `addresses` in config or state.
  Result<engine::ProviderMap> providers_for(const std::vector<std::string>& addresses);
  // Reads every resource in state (or the targets) back from its provider
  // and updates `state` in memory. Returns one line per drift found.
  // `progress` (done, total) is called with (0, total) first, then after
  // each read, one call at a time, from the reading threads.
  using RefreshProgress = std::function<void(size_t done, size_t total)>;
  Result<std::vector<std::string>> refresh(const std::vector<std::string>& targets, int parallelism,
                                           const RefreshProgress& progress = {});

 private:
  Workspace() = default;
};

// <stack dir>/.keel for the stack `g.file` names.
std::string work_dir_of(const GlobalOptions& g);

// The state last saved (beside the stack, or in the backend --backend,
// KEEL_BACKEND or the stack's `backend:` chooses), read without the state
// lock, for commands that only look or act on hosts (health, exec, deploy,
// agent, backup): they work while an apply runs. No state yet is NotFound,
// naming where and saying `what_to_do`.
Result<state::State> saved_state(const GlobalOptions& g, const std::string& what_to_do);
// The same, with no state yet as nullopt.
Result<std::optional<state::State>> read_saved_state(const GlobalOptions& g);

// Maps an error to its exit code and prints it through ctx's error view
// (stderr; under --json a document on stdout).
int report_error(Context& ctx, const Error& e);
// ctx's error view, made at the first use from --json.
views::ErrorView& error_view(Context& ctx);
std::map<std::string, std::string> parse_vars(const std::vector<std::string>& vars, std::string& bad);

}  // namespace keel::commands

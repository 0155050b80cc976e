#include "cli/state/stack_binding.h"

#include <filesystem>

#include <fmt/format.h>

#include "core/files.h"

namespace keel::state {

namespace {

std::string file_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

std::string shown_environment(const std::string& environment) {
  return environment.empty() ? "no environment (no -e)" : "environment `" + environment + "`";
}

}  // namespace

Status check_binding(const State& state, const std::string& project, const std::string& stack_file,
                     const std::string& environment, const std::string& work_dir) {
  const std::string name = file_name(stack_file);
  // A bound state records its environment (none is one too): another
  // environment's plan against it would replace or delete all of it.
  if (!state.project.empty() && state.environment != environment)
    return fail(ErrorCode::Conflict,
                fmt::format("the state in {} belongs to {} of project `{}`, not to {}: keel refuses to plan one "
                            "environment against another's state. If you moved it there on purpose, run `keel{} "
                            "state rebind` (docs/environments.md#moving-a-stack-into-environments)",
                            work_dir, shown_environment(state.environment), state.project,
                            shown_environment(environment), environment.empty() ? "" : " -e " + environment));
  if (!state.project.empty() && state.project != project)
    return fail(ErrorCode::Conflict,
                fmt::format("the state in {} belongs to project `{}` (stack file {}), but {} declares project `{}`. "
                            "Planning one against the other would delete everything of `{}`, so keel refuses. "
                            "Give each stack its own directory (docs/state.md#one-state-per-stack); if you renamed "
                            "the project on purpose, run `keel -f {} state rebind`",
                            work_dir, state.project, state.stack_file.empty() ? "?" : state.stack_file, stack_file,
                            project, state.project, stack_file));
  if (!state.stack_file.empty() && state.stack_file != name) {
    const std::string recorded = files::dirname(files::absolute(stack_file, ".")) + "/" + state.stack_file;
    if (files::exists(recorded))
      return fail(ErrorCode::Conflict,
                  fmt::format("the state in {} belongs to the stack file {} (project `{}`), and {} is another stack "
                              "file beside it. Two stacks cannot share one state: give each its own directory "
                              "(docs/state.md#one-state-per-stack). If {} replaces {}, remove {} or run "
                              "`keel -f {} state rebind`",
                              work_dir, state.stack_file, state.project.empty() ? project : state.project, name, name,
                              state.stack_file, state.stack_file, stack_file));
  }
  return {};
}

Status check_unbound(const State& state, const std::string& stack_file,
                     const std::function<bool(const std::string&)>& declares) {
  if (!state.project.empty() || state.resources.empty()) return {};
  for (const auto& [address, _] : state.resources)
    if (declares(address.substr(0, address.find('[')))) return {};
  return fail(ErrorCode::Conflict,
              fmt::format("the state holds {} resources and records no project (it was written before keel recorded "
                          "one), and {} declares none of them: it looks like another stack's state, and planning "
                          "against it would delete all of them. If it is this stack's state, run `keel -f {} state "
                          "rebind`",
                          state.resources.size(), stack_file, stack_file));
}

void bind(State& state, const std::string& project, const std::string& stack_file, const std::string& environment) {
  state.project = project;
  state.environment = environment;
  state.stack_file = file_name(stack_file);
}

}  // namespace keel::state

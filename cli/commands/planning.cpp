#include "cli/commands/planning.h"

#include <cstdio>

#include "cli/config/backups.h"

namespace keel::commands {

Result<engine::Plan> make_workspace_plan(Workspace& ws, const PlanRequest& request, bool json) {
  for (const auto& t : request.targets) {
    bool known = ws.config.find(t) || ws.state.find(t) || ws.stack.find_resource(t.substr(0, t.find('.')), t.substr(t.find('.') + 1));
    if (!known) return fail(ErrorCode::InvalidConfig, "--target " + t + ": no such resource in the stack or the state");
  }
  if (request.refresh) {
    auto drift = ws.refresh(request.targets, request.parallelism);
    if (!drift) return fail(drift.error());
    if (!drift->empty()) {
      std::FILE* out = json ? stderr : stdout;
      std::fprintf(out, "Changed outside keel:\n");
      for (const auto& d : *drift) std::fprintf(out, "  %s\n", d.c_str());
      std::fprintf(out, "\n");
    }
  }
  // The servers that run backups get the stack's key, kept in state (made
  // now when there is none; saved with the state by apply).
  if (!request.destroy && config::runs_backups(ws.config))
    config::attach_backup_key(ws.config, state::ensure_backup_key(ws.state));
  engine::PlanOptions options;
  options.destroy = request.destroy;
  options.targets.insert(request.targets.begin(), request.targets.end());
  return engine::make_plan(ws.config, ws.state, options);
}

}  // namespace keel::commands

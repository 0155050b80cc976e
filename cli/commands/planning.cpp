#include "cli/commands/planning.h"

#include <algorithm>
#include <cstdio>

#include "cli/config/backups.h"
#include "cli/engine/moves.h"

namespace keel::commands {

Status check_targets(const Workspace& ws, const std::vector<std::string>& targets) {
  for (const auto& t : targets) {
    bool known = ws.config.find(t) || ws.state.find(t) || ws.stack.find_resource(t.substr(0, t.find('.')), t.substr(t.find('.') + 1));
    if (!known) return fail(ErrorCode::InvalidConfig, "--target " + t + ": no such resource in the stack or the state");
  }
  return {};
}

namespace {

// As Terraform does: replacing what does not exist yet (never created, or
// deleted outside keel and dropped by refresh) is not an error, since the
// plan creates it anyway, which is what replacing would have achieved.
void warn_replace_not_created(const engine::Plan& plan, const std::set<std::string>& replace, std::FILE* warnings) {
  for (const auto& address : replace) {
    bool replaced = std::any_of(plan.changes.begin(), plan.changes.end(), [&](const engine::ResourceChange& c) {
      return c.replace_requested && engine::matches_address(c.address, {address});
    });
    if (!replaced)
      std::fprintf(warnings,
                   "Warning: --replace %s: not in the state (never created, or deleted outside keel), "
                   "so it is planned as a create\n",
                   address.c_str());
  }
}

}  // namespace

Result<engine::Plan> make_workspace_plan(Workspace& ws, const PlanRequest& request, views::PlanView& view,
                                         std::FILE* warnings) {
  if (auto s = check_targets(ws, request.targets); !s) return fail(s.error());
  engine::PlanOptions options;
  options.destroy = request.destroy;
  options.targets.insert(request.targets.begin(), request.targets.end());
  options.replace.insert(request.replace.begin(), request.replace.end());
  // Before refreshing: a mistyped address should not wait for the providers.
  if (auto s = engine::check_replace(ws.config, options); !s) return fail(s.error());
  // The stack's renames first, so that refresh and the plan see the moved
  // resources at their new addresses.
  auto moved = engine::apply_moves(ws.config, ws.state);
  if (!moved) return fail(moved.error());
  if (request.refresh) {
    auto drift = ws.refresh(request.targets, request.parallelism,
                            [&view](size_t done, size_t total) { view.refreshing(done, total); });
    if (!drift) return fail(drift.error());
    view.drift(*drift);
  }
  // The servers that run backups get the stack's key, kept in state (made
  // now when there is none; saved with the state by apply).
  if (!request.destroy && config::runs_backups(ws.config))
    config::attach_backup_key(ws.config, state::ensure_backup_key(ws.state));
  auto plan = engine::make_plan(ws.config, ws.state, options);
  if (!plan) return plan;
  plan->moved = std::move(*moved);
  plan->environment = ws.config.environment;
  warn_replace_not_created(*plan, options.replace, warnings);
  return plan;
}

}  // namespace keel::commands

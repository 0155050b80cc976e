#pragma once
// Planning steps shared by plan, apply and destroy: optional refresh, then
// the plan itself, with drift reported.

#include <string>
#include <vector>

#include "cli/commands/workspace.h"
#include "cli/engine/plan.h"
#include "cli/views/plan_view.h"

namespace keel::commands {

struct PlanRequest {
  std::vector<std::string> targets;
  bool refresh = true;
  bool destroy = false;
  int parallelism = 10;
  std::vector<std::string> replace;
};

// Each --target names something the stack or the state has: a typo is an
// error, never "nothing to do".
Status check_targets(const Workspace& ws, const std::vector<std::string>& targets);

// Refreshes (in memory) when asked, showing progress and drift through
// `view`, and plans. A --replace address not in the state yet is a warning
// on `warnings`: it is created anyway.
Result<engine::Plan> make_workspace_plan(Workspace& ws, const PlanRequest& request, views::PlanView& view,
                                         std::FILE* warnings);

}  // namespace keel::commands

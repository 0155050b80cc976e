#pragma once
// Planning steps shared by plan, apply and destroy: optional refresh, then
// the plan itself, with drift reported.

#include <string>
#include <vector>

#include "cli/commands/workspace.h"
#include "cli/engine/plan.h"

namespace keel::commands {

struct PlanRequest {
  std::vector<std::string> targets;
  bool refresh = true;
  bool destroy = false;
  int parallelism = 10;
  std::vector<std::string> replace;
};

// Refreshes (in memory) when asked, prints drift (to stderr in JSON mode),
// and plans. A --replace address not in the state yet is a warning on
// stderr: it is created anyway.
Result<engine::Plan> make_workspace_plan(Workspace& ws, const PlanRequest& request, bool json);

}  // namespace keel::commands

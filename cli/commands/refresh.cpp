// keel refresh: read every resource back and record what changed outside keel.
#include <cstdio>

#include "cli/commands/workspace.h"

namespace keel::commands {

int run_refresh(const GlobalOptions& g, const RefreshOptions& o) {
  auto ws = Workspace::open(g, "keel refresh", true);
  if (!ws) return report_error(ws.error(), g.json);
  auto drift = (*ws)->refresh(o.targets, o.parallelism);
  if (!drift) return report_error(drift.error(), g.json);
  if (!drift->empty()) {
    if (auto s = (*ws)->store->save((*ws)->state); !s) return report_error(s.error(), g.json);
  }
  if (g.json) {
    std::printf("%s\n", nlohmann::json({{"drift", *drift}, {"serial", (*ws)->state.serial}}).dump().c_str());
  } else if (drift->empty()) {
    std::printf("No drift: every resource in state is as keel left it.\n");
  } else {
    std::printf("Changed outside keel (now recorded in state; `keel plan` shows how to converge):\n");
    for (const auto& d : *drift) std::printf("  %s\n", d.c_str());
  }
  return kExitOk;
}

}  // namespace keel::commands

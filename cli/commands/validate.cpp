// keel validate / keel graph.
#include <cstdio>

#include "cli/commands/workspace.h"

namespace keel::commands {

int run_validate(const GlobalOptions& g) {
  auto ws = Workspace::open(g, "keel validate", false);
  if (!ws) return report_error(ws.error(), g.json);
  size_t n = (*ws)->config.instances.size();
  if (g.json) std::printf("%s\n", nlohmann::json({{"valid", true}, {"resources", n}, {"diagnostics", nlohmann::json::array()}}).dump().c_str());
  else std::printf("The stack is valid: %zu resource%s.\n", n, n == 1 ? "" : "s");
  return kExitOk;
}

int run_graph(const GlobalOptions& g) {
  auto ws = Workspace::open(g, "keel graph", false);
  if (!ws) return report_error(ws.error(), g.json);
  std::printf("%s", (*ws)->config.graph.to_dot().c_str());
  return kExitOk;
}

}  // namespace keel::commands

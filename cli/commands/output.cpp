// keel output [NAME]: values recorded by the last apply. A sensitive output
// is printed only when asked for by name.
#include <cstdio>

#include "cli/commands/workspace.h"
#include "cli/views/render.h"

namespace keel::commands {

int run_output(const GlobalOptions& g, const OutputOptions& o) {
  auto ws = Workspace::open(g, "keel output", true);
  if (!ws) return report_error(ws.error(), g.json);
  const state::State& st = (*ws)->state;
  if (!o.name.empty()) {
    if (!st.outputs.contains(o.name))
      return report_error(Error(ErrorCode::NotFound, "no output `" + o.name + "` in state; run `keel apply` first"), g.json);
    const auto& v = st.outputs.at(o.name);
    if (o.raw && v.is_string()) std::printf("%s", v.get<std::string>().c_str());
    else if (o.raw || !g.json) std::printf("%s\n", v.is_string() && !g.json ? v.get<std::string>().c_str() : v.dump().c_str());
    else std::printf("%s\n", v.dump().c_str());
    return kExitOk;
  }
  if (g.json) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = st.outputs.begin(); it != st.outputs.end(); ++it) {
      bool secret = st.sensitive_outputs.count(it.key()) > 0;
      out[it.key()] = {{"sensitive", secret}, {"value", secret ? nlohmann::json() : it.value()}};
    }
    std::printf("%s\n", out.dump().c_str());
    return kExitOk;
  }
  for (auto it = st.outputs.begin(); it != st.outputs.end(); ++it) {
    bool secret = st.sensitive_outputs.count(it.key()) > 0;
    std::string v = secret ? views::kSensitive : (it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
    std::printf("%s = %s\n", it.key().c_str(), v.c_str());
  }
  return kExitOk;
}

}  // namespace keel::commands

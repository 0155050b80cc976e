// keel output [NAME]: values recorded by the last apply. A sensitive output
// is printed only when asked for by name.
#include <cstdio>

#include "cli/commands/app.h"
#include "cli/commands/workspace.h"
#include "cli/views/render.h"

namespace keel::commands {

int run_output(Context& ctx, const OutputOptions& o) {
  const GlobalOptions& g = ctx.global;
  auto ws = Workspace::open(ctx, g, "keel output", true);
  if (!ws) return report_error(ctx, ws.error());
  const state::State& st = (*ws)->state;
  if (!o.name.empty()) {
    if (!st.outputs.contains(o.name))
      return report_error(ctx, Error(ErrorCode::NotFound, "no output `" + o.name + "` in state; run `keel apply` first"));
    const auto& v = st.outputs.at(o.name);
    if (o.raw && v.is_string()) std::fprintf(ctx.out, "%s", v.get<std::string>().c_str());
    else if (o.raw || !g.json) std::fprintf(ctx.out, "%s\n", v.is_string() && !g.json ? v.get<std::string>().c_str() : v.dump().c_str());
    else std::fprintf(ctx.out, "%s\n", v.dump().c_str());
    return kExitOk;
  }
  if (g.json) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = st.outputs.begin(); it != st.outputs.end(); ++it) {
      bool secret = st.sensitive_outputs.count(it.key()) > 0;
      out[it.key()] = {{"sensitive", secret}, {"value", secret ? nlohmann::json() : it.value()}};
    }
    std::fprintf(ctx.out, "%s\n", out.dump().c_str());
    return kExitOk;
  }
  for (auto it = st.outputs.begin(); it != st.outputs.end(); ++it) {
    bool secret = st.sensitive_outputs.count(it.key()) > 0;
    std::string v = secret ? views::kSensitive : (it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
    std::fprintf(ctx.out, "%s = %s\n", it.key().c_str(), v.c_str());
  }
  return kExitOk;
}

void setup_output(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<OutputOptions>();
  auto* cmd = app.add_subcommand("output", "print outputs of the last apply");
  cmd->add_option("name", o->name, "one output (the only way to see a sensitive one)");
  cmd->add_flag("--raw", o->raw, "print a string output without quotes or newline");
  cmd->footer(help_footer({"keel output", "keel output db_password --raw", "keel output --json"},
                          {{kExitOk, "printed"},
                           {kExitError, "error: no such output, invalid stack"},
                           {kExitLocked, "the state is locked by another keel (the message names it)"}}));
  on_chosen(*cmd, ctx, o, run_output);
}

}  // namespace keel::commands

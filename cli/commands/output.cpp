// keel output [NAME]: values recorded by the last apply. A sensitive output
// is printed only when asked for by name.
#include "cli/commands/app.h"
#include "cli/commands/workspace.h"
#include "cli/views/state_views.h"

namespace keel::commands {

int run_output(Context& ctx, const OutputOptions& o) {
  auto view = views::make_output_view(ctx.global.json, streams_of(ctx));
  auto ws = Workspace::open(ctx, ctx.global, "keel output", true);
  if (!ws) return report_error(ctx, ws.error());
  const state::State& st = (*ws)->state;
  if (o.name.empty()) {
    view->all(st);
    return kExitOk;
  }
  if (!st.outputs.contains(o.name))
    return report_error(ctx, Error(ErrorCode::NotFound, "no output `" + o.name + "` in state; run `keel apply` first"));
  view->one(st.outputs.at(o.name), o.raw);
  return kExitOk;
}

void setup_output(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "output", "print outputs of the last apply", [](CLI::App* cmd, Context& ctx) {
    auto o = std::make_shared<OutputOptions>();
    cmd->add_option("name", o->name, "one output (the only way to see a sensitive one)");
    cmd->add_flag("--raw", o->raw, "print a string output without quotes or newline");
    cmd->footer(help_footer({"keel output", "keel output db_password --raw", "keel output --json"},
                            {{kExitOk, "printed"},
                             {kExitError, "error: no such output, invalid stack"},
                             {kExitLocked, "the state is locked by another keel (the message names it)"}}));
    on_chosen(*cmd, ctx, o, run_output);
  });
}

}  // namespace keel::commands

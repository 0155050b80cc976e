// keel refresh: read every resource back and record what changed outside keel.
#include "cli/commands/app.h"
#include "cli/commands/workspace.h"
#include "cli/views/state_views.h"

namespace keel::commands {

int run_refresh(Context& ctx, const RefreshOptions& o) {
  auto view = views::make_refresh_view(ctx.global.json, streams_of(ctx));
  auto ws = Workspace::open(ctx, ctx.global, "keel refresh", true);
  if (!ws) return report_error(ctx, ws.error());
  auto drift = (*ws)->refresh(o.targets, o.parallelism,
                              [&view](size_t done, size_t total) { view->refreshing(done, total); });
  if (!drift) return report_error(ctx, drift.error());
  if (!drift->empty()) {
    if (auto s = (*ws)->store->save((*ws)->state); !s) return report_error(ctx, s.error());
  }
  view->refreshed(*drift, (*ws)->state.serial);
  return kExitOk;
}

void setup_refresh(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "refresh", "read every resource back and record drift in state", [](CLI::App* cmd, Context& ctx) {
    auto o = std::make_shared<RefreshOptions>();
    add_targets(*cmd, o->targets, "read only ADDR (repeatable; files.a covers files.a[i])");
    cmd->add_option("--parallelism", o->parallelism, "reads in flight at once")->capture_default_str()->check(at_least_one());
    cmd->footer(help_footer({"keel refresh", "keel refresh --target databases.main --json"},
                            {{kExitOk, "refreshed (drift, if any, recorded)"},
                             {kExitError, "error: invalid stack, a provider failed"},
                             {kExitLocked, "the state is locked by another keel (the message names it)"}}));
    on_chosen(*cmd, ctx, o, run_refresh);
  });
}

}  // namespace keel::commands

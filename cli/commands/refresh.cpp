// keel refresh: read every resource back and record what changed outside
// keel. keel drift: the same reads, reported and never recorded, for a
// scheduled job (exit 2 when something changed).
#include <algorithm>
#include <set>

#include "cli/commands/app.h"
#include "cli/commands/planning.h"
#include "cli/commands/workspace.h"
#include "cli/engine/plan.h"
#include "cli/views/state_views.h"

namespace keel::commands {

int run_refresh(Context& ctx, const RefreshOptions& o) {
  auto view = views::make_refresh_view(ctx.global.json, streams_of(ctx));
  auto ws = Workspace::open(ctx, ctx.global, "keel refresh", true);
  if (!ws) return report_error(ctx, ws.error());
  if (auto s = check_targets(**ws, o.targets); !s) return report_error(ctx, s.error());
  auto drift = (*ws)->refresh(o.targets, o.parallelism,
                              [&view](size_t done, size_t total) { view->refreshing(done, total); });
  if (!drift) return report_error(ctx, drift.error());
  if (!drift->empty()) {
    if (auto s = (*ws)->store->save((*ws)->state); !s) return report_error(ctx, s.error());
  }
  view->refreshed(*drift, (*ws)->state.serial);
  return kExitOk;
}

namespace {

// What an interrupted apply left: a create that may or may not have
// happened. Not drift, but not as keel left it either: a scheduled job
// must hear of it.
std::vector<std::string> unfinished_creates(const state::State& state, const std::vector<std::string>& targets) {
  std::vector<std::string> out;
  const std::set<std::string> selectors(targets.begin(), targets.end());
  for (const auto& [address, r] : state.resources) {
    if (r.pending() && (targets.empty() || engine::matches_address(address, selectors)))
      out.push_back(address + ": its create was interrupted (keel was stopped); `keel apply` adopts or makes it");
  }
  return out;
}

}  // namespace

int run_drift(Context& ctx, const RefreshOptions& o) {
  auto view = views::make_refresh_view(ctx.global.json, streams_of(ctx), false);
  // The state lock all the same: reads beside an apply would report its
  // changes in flight as drift. Read-only: not even a crashed run's journal
  // is compacted.
  auto ws = Workspace::open(ctx, ctx.global, "keel drift", true, true, /*read_only=*/true);
  if (!ws) return report_error(ctx, ws.error());
  if (auto s = check_targets(**ws, o.targets); !s) return report_error(ctx, s.error());
  auto drift = (*ws)->refresh(o.targets, o.parallelism,
                              [&view](size_t done, size_t total) { view->refreshing(done, total); });
  if (!drift) return report_error(ctx, drift.error());
  for (auto& line : unfinished_creates((*ws)->state, o.targets)) drift->push_back(std::move(line));
  std::sort(drift->begin(), drift->end());
  view->refreshed(*drift, (*ws)->state.serial);
  return drift->empty() ? kExitOk : kExitChanges;
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
  declare_command(app, ctx, "drift", "read every resource back and report drift, changing nothing (exit 2: drift)",
                  [](CLI::App* cmd, Context& ctx) {
    auto o = std::make_shared<RefreshOptions>();
    add_targets(*cmd, o->targets, "read only ADDR (repeatable; files.a covers files.a[i])");
    cmd->add_option("--parallelism", o->parallelism, "reads in flight at once")->capture_default_str()->check(at_least_one());
    cmd->footer(std::string("What `keel refresh` finds, without recording it: state is not written. For a scheduled\n"
                            "CI job: exit 2 says something was changed or deleted outside keel.") + "\n\n" +
                help_footer({"keel drift", "keel drift --target databases.main --json"},
                            {{kExitOk, "no drift: every resource in state is as keel left it"},
                             {kExitError, "error: invalid stack, a provider failed"},
                             {kExitChanges, "drift: something changed or was deleted outside keel (listed)"},
                             {kExitLocked, "the state is locked by another keel (the message names it)"}}));
    on_chosen(*cmd, ctx, o, run_drift);
  });
}

}  // namespace keel::commands

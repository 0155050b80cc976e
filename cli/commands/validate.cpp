// keel validate / keel graph.
#include "cli/commands/app.h"
#include "cli/commands/workspace.h"
#include "cli/views/state_views.h"

namespace keel::commands {

int run_validate(Context& ctx) {
  auto ws = Workspace::open(ctx, ctx.global, "keel validate", false);
  if (!ws) return report_error(ctx, ws.error());
  views::make_validate_view(ctx.global.json, streams_of(ctx))->valid((*ws)->config.instances.size());
  return kExitOk;
}

int run_graph(Context& ctx) {
  auto ws = Workspace::open(ctx, ctx.global, "keel graph", false);
  if (!ws) return report_error(ctx, ws.error());
  views::make_graph_view(ctx.global.json, streams_of(ctx))->graph((*ws)->config.graph);
  return kExitOk;
}

namespace {

struct NoOptions {};

}  // namespace

void setup_validate(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "validate", "check the stack and report every problem", [](CLI::App* cmd, Context& ctx) {
    cmd->footer(std::string("Every problem at once, each with file:line:column. Asks no provider and needs no state.") + "\n\n" +
                help_footer({"keel validate", "keel validate -f staging.yaml --json"},
                            {{kExitOk, "the stack is valid"}, {kExitError, "the stack is not valid (the problems are listed)"}}));
    on_chosen(*cmd, ctx, std::make_shared<NoOptions>(), [](Context& c, const NoOptions&) { return run_validate(c); });
  });
}

void setup_graph(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "graph", "print the dependency graph (Graphviz DOT, or JSON with --json)", [](CLI::App* cmd, Context& ctx) {
    cmd->footer(help_footer({"keel graph | dot -Tsvg > graph.svg", "keel graph --json"},
                            {{kExitOk, "the graph was printed"}, {kExitError, "the stack is not valid"}}));
    on_chosen(*cmd, ctx, std::make_shared<NoOptions>(), [](Context& c, const NoOptions&) { return run_graph(c); });
  });
}

}  // namespace keel::commands

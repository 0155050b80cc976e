// keel validate / keel graph.
#include "cli/commands/app.h"
#include "cli/commands/workspace.h"

namespace keel::commands {

int run_validate(Context& ctx) {
  auto ws = Workspace::open(ctx, ctx.global, "keel validate", false);
  if (!ws) return report_error(ctx, ws.error());
  size_t n = (*ws)->config.instances.size();
  if (ctx.global.json)
    write(ctx.out, nlohmann::json({{"valid", true}, {"resources", n}, {"diagnostics", nlohmann::json::array()}}).dump() + "\n");
  else
    write(ctx.out, "The stack is valid: " + std::to_string(n) + " resource" + (n == 1 ? "" : "s") + ".\n");
  return kExitOk;
}

int run_graph(Context& ctx) {
  auto ws = Workspace::open(ctx, ctx.global, "keel graph", false);
  if (!ws) return report_error(ctx, ws.error());
  write(ctx.out, (*ws)->config.graph.to_dot());
  return kExitOk;
}

namespace {

struct NoOptions {};

}  // namespace

void setup_validate(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("validate", "check the stack and report every problem");
  cmd->description("Every problem at once, each with file:line:column. Asks no provider and needs no state.");
  cmd->footer(help_footer({"keel validate", "keel validate -f staging.yaml --json"},
                          {{kExitOk, "the stack is valid"}, {kExitError, "the stack is not valid (the problems are listed)"}}));
  on_chosen(*cmd, ctx, std::make_shared<NoOptions>(), [](Context& c, const NoOptions&) { return run_validate(c); });
}

void setup_graph(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("graph", "print the dependency graph (Graphviz DOT)");
  cmd->footer(help_footer({"keel graph | dot -Tsvg > graph.svg"},
                          {{kExitOk, "the graph was printed"}, {kExitError, "the stack is not valid"}}));
  on_chosen(*cmd, ctx, std::make_shared<NoOptions>(), [](Context& c, const NoOptions&) { return run_graph(c); });
}

}  // namespace keel::commands

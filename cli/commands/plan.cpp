// keel plan: what apply would do.
#include "cli/commands/app.h"
#include "cli/commands/plan_file.h"
#include "cli/commands/planning.h"
#include "core/crypto.h"
#include "core/files.h"

namespace keel::commands {

namespace {

Status save_plan(const std::string& path, const Workspace& ws, const GlobalOptions& g, const PlanOptions& o,
                 const engine::Plan& plan) {
  auto stack_text = files::read_file(g.file);
  if (!stack_text) return fail(stack_text.error());
  PlanFile f;
  f.plan = plan;
  f.stack_file = files::absolute(g.file, ".");
  f.stack_sha256 = crypto::sha256_hex(*stack_text);
  f.project = ws.stack.project;
  f.targets = o.targets;
  f.replace = o.replace;
  f.refresh = o.refresh;
  f.destroy = o.destroy;
  f.vars = g.vars;  // may be secrets: sealed with the plan
  f.var_files = ws.var_files;
  f.environment = g.environment;
  return write_plan_file(path, f, ws.store->key());
}

}  // namespace

int run_plan(Context& ctx, const PlanOptions& o) {
  const GlobalOptions& g = ctx.global;
  auto format = views::plan_format(o.format, g.json);
  if (!format) return report_error(ctx, Error(ErrorCode::InvalidConfig, "--format " + o.format + ": use human, json or markdown"));
  auto view = views::make_plan_view(*format, streams_of(ctx));
  auto ws = Workspace::open(ctx, g, "keel plan", true);
  if (!ws) return report_error(ctx, ws.error());
  PlanRequest request{o.targets, o.refresh, o.destroy, o.parallelism, o.replace};
  auto planned = make_workspace_plan(**ws, request, *view, ctx.err);
  if (!planned) return report_error(ctx, planned.error());
  if (!o.out.empty()) {
    if (auto s = save_plan(o.out, **ws, g, o, *planned); !s) return report_error(ctx, s.error());
  }
  view->plan(*planned);
  if (!o.out.empty()) view->saved(o.out);
  if (o.detailed_exitcode && planned->has_changes()) return kExitChanges;
  return kExitOk;
}

void setup_plan(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "plan", "show what apply would change", [](CLI::App* cmd, Context& ctx) {
    auto o = std::make_shared<PlanOptions>();
    add_targets(*cmd, o->targets, "plan only ADDR and what it depends on (repeatable; files.a covers files.a[i])");
    auto* destroy = cmd->add_flag("--destroy", o->destroy, "plan destroying everything (or the --target ones)");
    cmd->add_option("--replace", o->replace, "replace ADDR even if unchanged; servers.web covers every servers.web[i] (repeatable)")
        ->type_name("ADDR")
        ->excludes(destroy);
    cmd->add_option("--out", o->out, "save the plan (sealed with the state key) for `keel apply FILE` and `keel show FILE`")
        ->type_name("FILE");
    cmd->add_option("--format", o->format, "human (default), json (as --json) or markdown (a review comment)")
        ->check(CLI::IsMember({"human", "json", "markdown"}));
    cmd->add_flag("--detailed-exitcode", o->detailed_exitcode, "exit 2 when there are changes");
    cmd->add_flag("--refresh,!--no-refresh", o->refresh, "read resources back first (default on)");
    cmd->add_option("--parallelism", o->parallelism, "provider reads in flight at once")->capture_default_str()->check(at_least_one());
    cmd->footer(std::string("Refreshes what state holds (unless --no-refresh), then shows what `keel apply` would create, change,\n"
        "replace and delete. Changes nothing.") + "\n\n" +
                help_footer({"keel plan",
                             "keel plan --out release.plan        # then: keel apply release.plan",
                             "keel plan --format markdown > plan.md  # for a merge-request comment",
                             "keel plan --target servers.web --detailed-exitcode"},
                            {{kExitOk, "success: no changes (or changes, without --detailed-exitcode)"},
                             {kExitError, "error: invalid stack or flags, a provider failed"},
                             {kExitChanges, "--detailed-exitcode: the plan has changes"},
                             {kExitLocked, "the state is locked by another keel (the message names it)"}}));
    on_chosen(*cmd, ctx, o, run_plan);
  });
}

}  // namespace keel::commands

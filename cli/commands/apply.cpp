// keel apply [PLAN_FILE] and keel destroy.
#include <cstdio>
#include <iostream>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands/app.h"
#include "cli/commands/interrupt_watch.h"
#include "cli/commands/plan_file.h"
#include "cli/commands/planning.h"
#include "cli/views/render.h"
#include "core/crypto.h"
#include "core/files.h"

namespace keel::commands {

namespace {

// Apply of a saved plan: only if the state and the stack are exactly as they
// were, and planning again gives the same actions.
Status check_saved_plan(const Workspace& ws, const PlanFile& file, const engine::Plan& again, const std::string& path) {
  const engine::Plan& saved = file.plan;
  // A state that did not exist yet at plan time gets its lineage when first
  // saved, so only serial 0 on both sides stands for "still empty".
  bool both_new = saved.serial == 0 && ws.state.serial == 0 && ws.state.resources.empty();
  if (!both_new && saved.lineage != ws.state.lineage)
    return fail(ErrorCode::Conflict, path + " was made for another state (lineage differs)");
  if (saved.serial != ws.state.serial)
    return fail(ErrorCode::Conflict, "the state has changed since " + path + " was made (serial " +
                                         std::to_string(saved.serial) + ", now " + std::to_string(ws.state.serial) +
                                         "); run `keel plan` again");
  auto text = files::read_file(file.stack_file);
  if (!text || crypto::sha256_hex(*text) != file.stack_sha256)
    return fail(ErrorCode::Conflict, "the stack file has changed since " + path + " was made; run `keel plan` again");
  // The same actions with the same values: a value the plan showed (a
  // reference to something changed outside keel since) must be the value
  // applied, even when no action changed.
  auto same_values = [](const engine::ResourceChange& a, const engine::ResourceChange& b) {
    if (a.attributes.size() != b.attributes.size()) return false;
    for (size_t i = 0; i < a.attributes.size(); ++i) {
      const auto& x = a.attributes[i];
      const auto& y = b.attributes[i];
      if (x.name != y.name || x.before != y.before || x.after != y.after || x.after_unknown != y.after_unknown ||
          x.after_partial != y.after_partial)
        return false;
    }
    return true;
  };
  const std::string again_hint = "; run `keel plan` again";
  if (again.changes.size() != saved.changes.size())
    return fail(ErrorCode::Conflict, "the infrastructure has changed since " + path + " was made" + again_hint);
  for (size_t i = 0; i < saved.changes.size(); ++i) {
    const auto& was = saved.changes[i];
    const auto& now = again.changes[i];
    if (was.address != now.address || was.action != now.action)
      return fail(ErrorCode::Conflict, "the infrastructure has changed since " + path + " was made" + again_hint);
    if (!same_values(was, now))
      return fail(ErrorCode::Conflict, "the infrastructure has changed since " + path + " was made: " + now.address +
                                           " would get other values than the plan shows" + again_hint);
  }
  return {};
}

int execute(Context& ctx, Workspace& ws, const engine::Plan& plan, const ApplyOptions& o, InterruptWatch& watch) {
  std::vector<std::string> touched;
  for (const auto& c : plan.changes)
    if (c.action != engine::Action::NoOp) touched.push_back(c.address);
  auto providers = ws.providers_for(touched);
  if (!providers) return report_error(ctx, providers.error());
  const auto view = views::make_apply_view(ctx.global.json, ctx.out, ctx.err);
  engine::ApplyOptions options;
  options.parallelism = o.parallelism;
  options.project = ws.config.provider_project();
  options.interrupted = &watch.interrupted();
  watch.graceful([err = ctx.err] {
    std::fprintf(err, "\nInterrupt received: the changes in flight finish and are saved; nothing new starts. "
                         "Press Ctrl-C again to stop at once.\n");
  });
  engine::ApplyResult result;
  // The renames of `moved:` are saved before anything else: a journal of
  // changes at the new addresses must never be replayed onto a state.json
  // that still holds the old ones.
  if (!plan.moved.empty() && !touched.empty())
    if (auto s = ws.store->save(ws.state); !s) return report_error(ctx, s.error().with_context("save the moves"));
  if (!touched.empty()) {
    if (auto s = ws.store->begin(ws.state); !s) return report_error(ctx, s.error());
    result = engine::apply_plan(plan, &ws.config, ws.state, *ws.store, *providers, *view, options);
  }
  if (o.targets.empty() && !o.destroy) {
    if (auto s = engine::update_outputs(ws.config, ws.state); !s) result.errors.push_back(s.error().message());
  } else if (o.destroy && o.targets.empty()) {
    ws.state.outputs = nlohmann::json::object();
    ws.state.sensitive_outputs.clear();
  }
  if (auto s = ws.store->save(ws.state); !s) {
    // What changed is in the journal (the next run replays it), and it did
    // change: exit 4, not 1, so that a pipeline knows something was applied.
    report_error(ctx, s.error().with_context("save state"));
    return result.succeeded > 0 ? kExitPartiallyApplied : kExitError;
  }
  view->summary(result, plan, o.destroy, ws.state);
  if (result.interrupted && result.failed == 0) return kExitInterrupted;
  if (result.ok()) return kExitOk;
  return result.succeeded > 0 ? kExitPartiallyApplied : kExitError;
}

}  // namespace

// The saved plan's request replaces the flags: what was planned is what is
// applied. Refused with -f naming another stack file.
Result<PlanFile> load_saved_plan(Context& ctx, GlobalOptions& g, ApplyOptions& o) {
  // As Terraform: a saved plan already holds its replacements, targets and
  // variables; a flag that would be ignored is refused instead.
  for (const auto& [given, flag] : {std::pair{!o.replace.empty(), "--replace"}, std::pair{!o.targets.empty(), "--target"},
                                    std::pair{!g.vars.empty(), "--var"}, std::pair{!g.var_files.empty(), "--var-file"}})
    if (given)
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("{} cannot be used with a saved plan, which holds its own; pass it to `keel plan --out` "
                              "instead",
                              flag));
  auto header = read_plan_file_header(o.plan_file);
  if (!header) return header;
  // -f names the stack where it is now: another checkout of the same stack
  // (a CI job applying the plan a previous job made elsewhere) is the same
  // stack when its text is the plan's, byte for byte.
  std::string stack_file = header->stack_file;
  if (ctx.global.file_given && files::absolute(g.file, ".") != header->stack_file) {
    auto text = files::read_file(g.file);
    if (!text || crypto::sha256_hex(*text) != header->stack_sha256)
      return fail(ErrorCode::Conflict,
                  fmt::format("{} was made for the stack file {}, and {} is not the same text; apply it without -f, "
                              "or plan {} again",
                              o.plan_file, header->stack_file, g.file, g.file));
    stack_file = files::absolute(g.file, ".");
  }
  auto key = plan_key(stack_file, header->environment);
  if (!key) return fail(key.error().with_context(o.plan_file));
  auto file = read_plan_file(o.plan_file, *key);
  if (!file) return file;
  file->stack_file = stack_file;
  o.targets = file->targets;
  o.replace = file->replace;
  o.refresh = file->refresh;
  o.destroy = file->destroy;
  // The environment is the plan's: another one's state is not what it was
  // planned against.
  if (!g.environment.empty() && g.environment != file->environment)
    return fail(ErrorCode::Conflict,
                fmt::format("{} was made for {}, and this run is for environment `{}` (-e or KEEL_ENV); apply it "
                            "without -e, or plan environment `{}`",
                            o.plan_file,
                            file->environment.empty() ? "no environment" : "environment `" + file->environment + "`",
                            g.environment, g.environment));
  g.file = file->stack_file;
  g.vars = file->vars;
  g.var_files.clear();
  g.saved_var_files = file->var_files;
  g.environment = file->environment;
  return file;
}

int run_apply(Context& ctx, const ApplyOptions& given_options) {
  InterruptWatch watch;  // before any thread starts (interrupt_watch.h)
  GlobalOptions g = ctx.global;
  ApplyOptions o = given_options;
  std::optional<PlanFile> saved;
  if (!o.plan_file.empty()) {
    auto file = load_saved_plan(ctx, g, o);
    if (!file) return report_error(ctx, file.error());
    saved = std::move(*file);
  }
  auto ws = Workspace::open(ctx, g, o.destroy ? "keel destroy" : "keel apply", true);
  if (!ws) return report_error(ctx, ws.error());
  if (saved && saved->project != (*ws)->stack.project)
    return report_error(ctx, Error(ErrorCode::Conflict,
                                   fmt::format("{} was made for project `{}`, and {} now declares project `{}`; run "
                                               "`keel plan` again",
                                               o.plan_file, saved->project, g.file, (*ws)->stack.project)));
  // The plan step shows progress and drift as `keel plan` does; under
  // --json the events below are the document, so the plan is not printed.
  auto view = views::make_plan_view(ctx.global.json ? views::PlanFormat::Json : views::PlanFormat::Human, streams_of(ctx));
  PlanRequest request{o.targets, o.refresh, o.destroy, o.parallelism, o.replace};
  auto plan = make_workspace_plan(**ws, request, *view, ctx.err);
  if (!plan) return report_error(ctx, plan.error());
  if (saved) {
    if (auto s = check_saved_plan(**ws, *saved, *plan, o.plan_file); !s) return report_error(ctx, s.error());
  } else {
    view->proposed(*plan);
    if (plan->has_changes() && !o.auto_approve) {
      if (!ctx.in_is_tty)
        return report_error(ctx, Error(ErrorCode::InvalidConfig, "not on a terminal, so nobody can approve: pass --auto-approve, or apply a saved plan"));
      // Under --json the plan is not shown (stdout is the events' stream):
      // nobody can see what they would approve (Terraform refuses too).
      if (ctx.global.json)
        return report_error(ctx, Error(ErrorCode::InvalidConfig,
                                       "--json shows no plan to approve: pass --auto-approve, or apply a saved plan "
                                       "(keel plan --out FILE; keel show FILE; keel apply FILE --json)"));
      if (!confirm(ctx, o.destroy ? "Do you really want to destroy all these resources?"
                                  : "Do you want to perform these actions?")) {
        write(ctx.dialogue(), "Cancelled; nothing was changed.\n");
        return kExitError;
      }
    }
  }
  return execute(ctx, **ws, *plan, o, watch);
}

namespace {

const ExitCodeHelp kApplyExitCodes = {
    {kExitOk, "success: everything planned was applied (or there was nothing to do)"},
    {kExitError, "error: invalid stack or flags, refused plan file or approval, nothing applied"},
    {kExitLocked, "the state is locked by another keel (the message names it)"},
    {kExitPartiallyApplied, "partially applied: some changes were made, then one failed"},
    {kExitInterrupted, "interrupted (Ctrl-C, SIGTERM): the changes in flight finished and were saved"}};

void add_apply_flags(CLI::App& cmd, ApplyOptions& o) {
  cmd.add_flag("--auto-approve", o.auto_approve, "do not ask for confirmation");
  cmd.add_flag("--refresh,!--no-refresh", o.refresh, "read resources back first (default on)");
  cmd.add_option("--parallelism", o.parallelism, "changes in flight at once")->capture_default_str()->check(at_least_one());
}

}  // namespace

void setup_apply(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "apply", "make the infrastructure match the stack", [](CLI::App* cmd, Context& ctx) {
    auto o = std::make_shared<ApplyOptions>();
    cmd->add_option("plan_file", o->plan_file, "a plan saved by `keel plan --out`")->type_name("PLAN_FILE");
    add_targets(*cmd, o->targets, "apply only ADDR and what it depends on (repeatable; files.a covers files.a[i])");
    cmd->add_option("--replace", o->replace, "replace ADDR even if unchanged; servers.web covers every servers.web[i] (repeatable)")
        ->type_name("ADDR");
    add_apply_flags(*cmd, *o);
    cmd->footer(std::string("Plans, shows the plan and asks (on a terminal; elsewhere --auto-approve or a saved plan), then applies.\n"
        "With PLAN_FILE, applies exactly that saved plan, and refuses it if the state, the stack or the\n"
        "infrastructure changed since.") + "\n\n" +
                help_footer({"keel apply", "keel apply --auto-approve --target servers.web", "keel apply release.plan"},
                            kApplyExitCodes));
    on_chosen(*cmd, ctx, o, run_apply);
  });
}

void setup_destroy(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "destroy", "delete everything in state, dependents first", [](CLI::App* cmd, Context& ctx) {
    auto o = std::make_shared<ApplyOptions>();
    o->destroy = true;
    add_targets(*cmd, o->targets,
                "destroy only ADDR and what depends on it (repeatable; files.a covers files.a[i])");
    add_apply_flags(*cmd, *o);
    cmd->footer(help_footer({"keel destroy", "keel destroy --target files.tmp --auto-approve"}, kApplyExitCodes));
    on_chosen(*cmd, ctx, o, run_apply);
  });
}

}  // namespace keel::commands

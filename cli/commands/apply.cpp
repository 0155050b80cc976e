// keel apply [PLAN_FILE] and keel destroy.
#include <cstdio>
#include <iostream>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands/interrupt_watch.h"
#include "cli/commands/planning.h"
#include "cli/views/render.h"
#include "core/crypto.h"
#include "core/files.h"

namespace keel::commands {

namespace {

struct SavedPlan {
  nlohmann::json doc;
  std::vector<std::string> vars;
};

Result<nlohmann::json> read_plan_doc(const std::string& path) {
  auto text = files::read_file(path);
  if (!text) return fail(text.error());
  try {
    auto doc = nlohmann::json::parse(*text);
    if (doc.value("format_version", 0) != 1 || !doc.contains("plan"))
      return fail(ErrorCode::InvalidConfig, path + " is not a keel plan file");
    return doc;
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::InvalidConfig, path + " is not a keel plan file: " + e.what());
  }
}

// Apply of a saved plan: only if the state and the stack are exactly as they
// were, and planning again gives the same actions.
Status check_saved_plan(const Workspace& ws, const nlohmann::json& doc, const engine::Plan& again,
                        const std::string& path) {
  const auto& saved = doc.at("plan");
  // A state that did not exist yet at plan time gets its lineage when first
  // saved, so only serial 0 on both sides stands for "still empty".
  bool both_new = saved.value("serial", -1L) == 0 && ws.state.serial == 0 && ws.state.resources.empty();
  if (!both_new && saved.value("lineage", "") != ws.state.lineage)
    return fail(ErrorCode::Conflict, path + " was made for another state (lineage differs)");
  if (saved.value("serial", -1L) != ws.state.serial)
    return fail(ErrorCode::Conflict, "the state has changed since " + path + " was made (serial " +
                                         std::to_string(saved.value("serial", -1L)) + ", now " +
                                         std::to_string(ws.state.serial) + "); run `keel plan` again");
  auto text = files::read_file(doc.at("stack").value("file", ""));
  if (!text || crypto::sha256_hex(*text) != doc.at("stack").value("sha256", ""))
    return fail(ErrorCode::Conflict, "the stack file has changed since " + path + " was made; run `keel plan` again");
  auto now = views::plan_to_json(again);
  auto actions = [](const nlohmann::json& p) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& c : p.at("changes")) out.emplace_back(c.value("address", ""), c.value("action", ""));
    return out;
  };
  if (actions(now) != actions(saved))
    return fail(ErrorCode::Conflict, "the infrastructure has changed since " + path + " was made; run `keel plan` again");
  return {};
}

// The --var values a saved plan was made with, sealed with the state key.
Result<std::vector<std::string>> saved_vars(const nlohmann::json& doc, const std::string& stack_file,
                                            const std::string& path) {
  auto key = state::load_or_create_key(files::dirname(stack_file) + "/.keel/state.key");
  if (!key) return fail(key.error());
  auto raw = crypto::base64_decode(doc.value("sealed_vars", ""));
  if (!raw) return fail(raw.error().with_context(path));
  auto vars = crypto::open(*key, *raw, "plan");
  if (!vars) return fail(ErrorCode::Conflict, path + ": cannot read its variables with this state key");
  return nlohmann::json::parse(*vars).get<std::vector<std::string>>();
}

void print_summary(const engine::ApplyResult& r, const engine::Plan& plan, bool json, bool destroy,
                   const state::State& state) {
  auto n = plan.counts();
  if (json) {
    nlohmann::json event = {{"type", "summary"}, {"ok", r.ok()}, {"succeeded", r.succeeded}, {"failed", r.failed},
                            {"skipped", r.skipped}, {"errors", r.errors}, {"interrupted", r.interrupted},
                            {"serial", state.serial},
                            {"planned", {{"add", n.add}, {"change", n.change}, {"destroy", n.destroy}}}};
    std::printf("%s\n", event.dump().c_str());
    return;
  }
  if (r.interrupted && r.failed == 0) {
    std::printf("\nInterrupted: %d finished, %d not started; state saved.\n", r.succeeded, r.skipped);
    return;
  }
  if (!r.ok()) {
    std::printf("\n%s failed: %d done, %d failed, %d not started.\n", destroy ? "Destroy" : "Apply", r.succeeded,
                r.failed, r.skipped);
    for (const auto& e : r.errors) std::fprintf(stderr, "Error: %s\n", e.c_str());
    return;
  }
  if (destroy) std::printf("\nDestroy complete! Resources: %d destroyed.\n", n.destroy);
  else std::printf("\nApply complete! Resources: %d added, %d changed, %d destroyed.\n", n.add, n.change, n.destroy);
  bool any = false;
  for (auto it = state.outputs.begin(); it != state.outputs.end(); ++it) {
    if (!any) std::printf("\nOutputs:\n\n");
    any = true;
    bool secret = state.sensitive_outputs.count(it.key()) > 0;
    std::string v = secret ? std::string(views::kSensitive) + "  (keel output " + it.key() + ")"
                           : (it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
    std::printf("  %s = %s\n", it.key().c_str(), v.c_str());
  }
}

int execute(Workspace& ws, const engine::Plan& plan, const GlobalOptions& g, const ApplyOptions& o,
            InterruptWatch& watch) {
  std::vector<std::string> touched;
  for (const auto& c : plan.changes)
    if (c.action != engine::Action::NoOp) touched.push_back(c.address);
  auto providers = ws.providers_for(touched);
  if (!providers) return report_error(providers.error(), g.json);
  views::ApplyView view(g.json);
  engine::ApplyOptions options;
  options.parallelism = o.parallelism;
  options.project = ws.stack.project;
  options.interrupted = &watch.interrupted();
  watch.graceful([] {
    std::fprintf(stderr, "\nInterrupt received: the changes in flight finish and are saved; nothing new starts. "
                         "Press Ctrl-C again to stop at once.\n");
  });
  engine::ApplyResult result;
  // The renames of `moved:` are saved before anything else: a journal of
  // changes at the new addresses must never be replayed onto a state.json
  // that still holds the old ones.
  if (!plan.moved.empty() && !touched.empty())
    if (auto s = ws.store->save(ws.state); !s) return report_error(s.error().with_context("save the moves"), g.json);
  if (!touched.empty()) {
    if (auto s = ws.store->begin(ws.state); !s) return report_error(s.error(), g.json);
    result = engine::apply_plan(plan, &ws.config, ws.state, *ws.store, *providers, view, options);
  }
  if (o.targets.empty() && !o.destroy) {
    if (auto s = engine::update_outputs(ws.config, ws.state); !s) result.errors.push_back(s.error().message());
  } else if (o.destroy && o.targets.empty()) {
    ws.state.outputs = nlohmann::json::object();
    ws.state.sensitive_outputs.clear();
  }
  if (auto s = ws.store->save(ws.state); !s) return report_error(s.error().with_context("save state"), g.json);
  print_summary(result, plan, g.json, o.destroy, ws.state);
  if (result.interrupted && result.failed == 0) return kExitInterrupted;
  if (result.ok()) return kExitOk;
  return result.succeeded > 0 ? kExitPartiallyApplied : kExitError;
}

}  // namespace

int run_apply(const GlobalOptions& given, const ApplyOptions& given_options) {
  InterruptWatch watch;  // before any thread starts (interrupt_watch.h)
  GlobalOptions g = given;
  ApplyOptions o = given_options;
  std::optional<nlohmann::json> saved;
  if (!o.plan_file.empty()) {
    // As Terraform: a saved plan already holds its replacements.
    if (!o.replace.empty())
      return report_error(Error(ErrorCode::InvalidConfig,
                                "--replace cannot be used with a saved plan; pass it to `keel plan --out` instead"),
                          g.json);
    auto doc = read_plan_doc(o.plan_file);
    if (!doc) return report_error(doc.error(), g.json);
    saved = *doc;
    const std::string planned_for = doc->at("stack").value("file", "");
    if (g.file_given && files::absolute(g.file, ".") != planned_for)
      return report_error(Error(ErrorCode::Conflict, fmt::format("{} was made for the stack file {}, not {}; apply it "
                                                                 "without -f, or plan {} again",
                                                                 o.plan_file, planned_for, g.file, g.file)),
                          g.json);
    o.targets = doc->value("targets", std::vector<std::string>{});
    o.replace = doc->value("replace", std::vector<std::string>{});
    o.refresh = doc->value("refresh", true);
    o.destroy = doc->value("destroy", false);
    g.file = doc->at("stack").value("file", g.file);
  }
  if (saved) {
    auto vars = saved_vars(*saved, g.file, o.plan_file);
    if (!vars) return report_error(vars.error(), g.json);
    g.vars = std::move(*vars);
  }
  auto ws = Workspace::open(g, o.destroy ? "keel destroy" : "keel apply", true);
  if (!ws) return report_error(ws.error(), g.json);
  if (saved) {
    const std::string project = saved->at("stack").value("project", (*ws)->stack.project);
    if (project != (*ws)->stack.project)
      return report_error(Error(ErrorCode::Conflict,
                                fmt::format("{} was made for project `{}`, and {} now declares project `{}`; run "
                                            "`keel plan` again",
                                            o.plan_file, project, g.file, (*ws)->stack.project)),
                          g.json);
  }
  PlanRequest request{o.targets, o.refresh, o.destroy, o.parallelism, o.replace};
  auto plan = make_workspace_plan(**ws, request, g.json);
  if (!plan) return report_error(plan.error(), g.json);
  if (saved) {
    if (auto s = check_saved_plan(**ws, *saved, *plan, o.plan_file); !s) return report_error(s.error(), g.json);
  } else {
    if (!g.json) std::printf("%s", views::render_plan(*plan).c_str());
    if (plan->has_changes() && !o.auto_approve) {
      if (!isatty(STDIN_FILENO))
        return report_error(Error(ErrorCode::InvalidConfig, "not on a terminal, so nobody can approve: pass --auto-approve, or apply a saved plan"), g.json);
      if (!confirm(o.destroy ? "Do you really want to destroy all these resources?"
                             : "Do you want to perform these actions?")) {
        std::printf("Cancelled; nothing was changed.\n");
        return kExitError;
      }
    }
  }
  return execute(**ws, *plan, g, o, watch);
}

}  // namespace keel::commands

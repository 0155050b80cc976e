// keel plan: what apply would do.
#include <cstdio>

#include "cli/commands/planning.h"
#include "cli/views/render.h"
#include "core/crypto.h"
#include "core/files.h"

namespace keel::commands {

namespace {

Status write_plan_file(const std::string& path, const Workspace& ws, const GlobalOptions& g, const PlanOptions& o,
                       const engine::Plan& plan) {
  auto stack_text = files::read_file(g.file);
  if (!stack_text) return fail(stack_text.error());
  // --var values may be secrets: sealed with the state key, like state.
  nlohmann::json vars = g.vars;
  nlohmann::json doc = {
      {"format_version", 1},
      {"plan", views::plan_to_json(plan)},
      {"stack", {{"file", files::absolute(g.file, ".")}, {"sha256", crypto::sha256_hex(*stack_text)},
                 {"project", ws.stack.project}}},
      {"targets", o.targets},
      {"replace", o.replace},
      {"refresh", o.refresh},
      {"destroy", o.destroy},
      {"sealed_vars", crypto::base64_encode(crypto::seal(ws.store->key(), vars.dump(), "plan"))},
  };
  return files::write_atomic(path, doc.dump(2) + "\n", 0600);
}

}  // namespace

int run_plan(const GlobalOptions& g, const PlanOptions& o) {
  auto ws = Workspace::open(g, "keel plan", true);
  if (!ws) return report_error(ws.error(), g.json);
  PlanRequest request{o.targets, o.refresh, o.destroy, o.parallelism, o.replace};
  auto planned = make_workspace_plan(**ws, request, g.json);
  if (!planned) return report_error(planned.error(), g.json);
  if (!o.out.empty()) {
    if (auto s = write_plan_file(o.out, **ws, g, o, *planned); !s) return report_error(s.error(), g.json);
  }
  if (g.json) {
    std::printf("%s\n", views::plan_to_json(*planned).dump().c_str());
  } else {
    std::printf("%s", views::render_plan(*planned).c_str());
    if (!o.out.empty()) std::printf("\nSaved the plan to %s. Run `keel apply %s` to apply exactly it.\n", o.out.c_str(), o.out.c_str());
  }
  if (o.detailed_exitcode && planned->has_changes()) return kExitChanges;
  return kExitOk;
}

}  // namespace keel::commands

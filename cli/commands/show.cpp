// keel show PLANFILE: a saved plan, as `keel plan` printed it (or its
// --json document, or the markdown summary). Reads only the plan file and
// the state key beside its stack: no provider is asked, nothing is locked.
#include "cli/commands/app.h"
#include "cli/commands/plan_file.h"
#include "cli/commands/workspace.h"
#include "cli/views/plan_view.h"

namespace keel::commands {

int run_show(Context& ctx, const ShowOptions& o) {
  auto format = views::plan_format(o.format, ctx.global.json);
  if (!format) return report_error(ctx, Error(ErrorCode::InvalidConfig, "--format " + o.format + ": use human, json or markdown"));
  auto header = read_plan_file_header(o.plan_file);
  if (!header) return report_error(ctx, header.error());
  auto key = plan_key(header->stack_file, header->environment);
  if (!key) return report_error(ctx, key.error().with_context("show " + o.plan_file));
  auto file = read_plan_file(o.plan_file, *key);
  if (!file) return report_error(ctx, file.error());
  views::make_plan_view(*format, streams_of(ctx))->plan(file->plan);
  return kExitOk;
}

void setup_show(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "show", "print a plan saved by `keel plan --out`, as plan printed it", [](CLI::App* cmd, Context& ctx) {
    auto o = std::make_shared<ShowOptions>();
    cmd->add_option("plan_file", o->plan_file, "the saved plan")->required()->type_name("PLANFILE");
    cmd->add_option("--format", o->format, "human (default), json (as --json) or markdown (a review comment)")
        ->check(CLI::IsMember({"human", "json", "markdown"}));
    cmd->footer(help_footer({"keel show release.plan", "keel show release.plan --json",
                             "keel show release.plan --format markdown > comment.md"},
                            {{kExitOk, "the plan was printed"},
                             {kExitError, "not a plan file, an older plan format, or no state key to open it"}}));
    on_chosen(*cmd, ctx, o, run_show);
  });
}

}  // namespace keel::commands

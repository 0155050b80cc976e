// keel deploy APP [--rollback]: rolls an app of the stack's `apps:` out to
// its servers over SSH, batch by batch, gated on their agents' checks
// (docs/deploy.md). The rollout itself is cli/deploy; this file finds the
// app, its hosts (from the state, read without the state lock) and its
// artifact, holds the app's deploy lock, and shows and records the outcome.
#include <chrono>
#include <set>

#include <fmt/format.h>

#include "cli/commands/app.h"
#include "cli/commands/workspace.h"
#include "cli/config/apps.h"
#include "cli/deploy/artifact.h"
#include "cli/deploy/history.h"
#include "cli/deploy/release.h"
#include "cli/deploy/rollout.h"
#include "cli/deploy/ssh_fleet.h"
#include "cli/ssh/hosts.h"
#include "cli/views/deploy_view.h"
#include "core/files.h"
#include "core/http_client.h"

namespace keel::commands {

namespace {

// The app's string values with their "${var.x}" / "${env.X}" resolved.
Result<deploy::AppSpec> resolve_app(const config::Configuration& config, const config::AppBlock& app) {
  config::EvalContext ctx;
  ctx.variables = &config.variables;
  ctx.stack_dir = config.stack->dir;
  auto text = [&](const std::string& key, const std::string& raw) -> Result<std::string> {
    if (raw.empty()) return raw;
    auto v = config::evaluate(raw, ctx);
    if (!v) return fail(v.error().with_context(fmt::format("app `{}`: `{}`", app.name, key)));
    if (v->unknown) return fail(ErrorCode::InvalidConfig, fmt::format("app `{}`: `{}` is not known", app.name, key));
    return config::to_text(v->value);
  };
  deploy::AppSpec spec;
  spec.name = app.name;
  auto path = text("path", app.path);
  auto before = text("before", app.before);
  auto after = text("after", app.after);
  auto start = text("start", app.start);
  for (auto* r : {&path, &before, &after, &start})
    if (!*r) return fail(r->error());
  spec.path = *path;
  spec.before = *before;
  spec.after = *after;
  spec.start = *start;
  while (spec.path.size() > 1 && spec.path.back() == '/') spec.path.pop_back();
  if (spec.path.empty() || spec.path.front() != '/' || spec.path == "/")
    return fail(ErrorCode::InvalidConfig,
                fmt::format("app `{}`: `path` must be an absolute directory other than /, got `{}`", app.name, spec.path));
  for (const auto& [name, _] : app.health) spec.health.push_back(name);
  spec.health_timeout = std::chrono::milliseconds(app.health_timeout_ms);
  spec.batch = app.batch;
  spec.batch_percent = app.batch_percent;
  spec.keep_releases = app.keep_releases;
  return spec;
}

Result<std::string> artifact_path(const config::Configuration& config, const config::AppBlock& app) {
  config::EvalContext ctx;
  ctx.variables = &config.variables;
  ctx.stack_dir = config.stack->dir;
  auto v = config::evaluate(app.artifact, ctx);
  if (!v) return fail(v.error().with_context(fmt::format("app `{}`: `artifact`", app.name)));
  return files::absolute(config::to_text(v->value), config.stack->dir);
}

// The app's hosts, as the state records them. Every server the app names
// must be applied and reachable over SSH.
Result<std::vector<ssh::Host>> app_hosts(const config::Configuration& config, const config::AppBlock& app,
                                         const state::State& state) {
  std::vector<std::string> selectors;
  for (const auto& [text, _] : app.servers) selectors.push_back(text);
  std::set<std::string> wanted;  // instance addresses the stack gives the app
  for (const auto& inst : config.instances) {
    if (inst.block->kind != "servers") continue;
    for (const auto& s : selectors)
      if (inst.address == s || inst.block->address() == s) wanted.insert(inst.address);
  }
  std::vector<std::string> missing;
  for (const auto& address : wanted) {
    const auto* r = state.find(address);
    if (!r || r->pending()) missing.push_back(address);
  }
  if (!missing.empty())
    return fail(ErrorCode::InvalidConfig, fmt::format("app `{}` runs on {}, which {} not in the state: run `keel apply` first",
                                                      app.name, fmt::join(missing, ", "),
                                                      missing.size() == 1 ? "is" : "are"));
  std::vector<std::string> skipped;
  auto hosts = ssh::select_hosts(state, selectors, &skipped);
  if (!hosts) return fail(hosts.error().with_context(fmt::format("app `{}`", app.name)));
  if (!skipped.empty())
    return fail(ErrorCode::InvalidConfig,
                fmt::format("app `{}`: {} cannot be reached over SSH (their provider records no `ssh`); keel deploys "
                            "to servers of the `ssh` provider",
                            app.name, fmt::join(skipped, ", ")));
  // Only the instances the stack still gives the app (the state may hold
  // more of a server whose count went down, until the next apply).
  std::vector<ssh::Host> out;
  for (auto& h : *hosts)
    if (wanted.count(h.address)) out.push_back(std::move(h));
  if (out.empty()) return fail(ErrorCode::InvalidConfig, fmt::format("app `{}` has no servers to deploy to", app.name));
  return out;
}

// Deletes a packed directory artifact when the command ends.
struct RemoveOnExit {
  std::string path;
  ~RemoveOnExit() {
    if (!path.empty()) (void)files::remove_all(path);
  }
};

}  // namespace

int run_deploy(Context& ctx, const DeployOptions& o) {
  const GlobalOptions& g = ctx.global;
  const std::string command = fmt::format("keel deploy {}{}", o.app, o.rollback ? " --rollback" : "");
  auto ws = Workspace::open(ctx, g, command, false);
  if (!ws) return report_error(ctx, ws.error());
  config::Configuration& config = (*ws)->config;
  const config::AppBlock* app = config::find_app((*ws)->stack, o.app);
  if (!app) {
    std::vector<std::string> names;
    for (const auto& a : (*ws)->stack.apps) names.push_back(a.name);
    std::string hint = did_you_mean(o.app, names);
    if (hint.empty())
      hint = names.empty() ? std::string("the stack has no `apps:`")
                           : fmt::format("the stack's apps: {}", fmt::join(names, ", "));
    return report_error(ctx, Error(ErrorCode::InvalidConfig, fmt::format("no app `{}` in {}; {}", o.app, g.file, hint)));
  }
  auto spec = resolve_app(config, *app);
  if (!spec) return report_error(ctx, spec.error());

  const std::string& work_dir = (*ws)->work_dir;
  auto saved = saved_state(g, "run `keel apply` to create the servers first");
  if (!saved) return report_error(ctx, saved.error());
  auto hosts = app_hosts(config, *app, *saved);
  if (!hosts) return report_error(ctx, hosts.error());

  if (auto s = files::make_dirs(work_dir, 0755); !s) return report_error(ctx, s.error());
  auto lock = files::FileLock::acquire(deploy::lock_path(work_dir, app->name), command);
  if (!lock)
    return report_error(ctx, lock.error().with_context(fmt::format("another rollout of `{}` is running", app->name)));

  const auto started = std::chrono::system_clock::now();
  deploy::RolloutOptions options;
  options.action = o.rollback ? deploy::Action::Rollback : deploy::Action::Deploy;
  deploy::Artifact artifact;
  RemoveOnExit packed;
  if (!o.rollback) {
    auto path = artifact_path(config, *app);
    if (!path) return report_error(ctx, path.error());
    auto prepared = deploy::prepare_artifact(*path, work_dir + "/tmp", packed.path);
    if (!prepared) return report_error(ctx, prepared.error().with_context(fmt::format("app `{}`", app->name)));
    artifact = std::move(*prepared);
    options.artifact = &artifact;
    options.release = deploy::release_id(started, artifact.sha256);
  }

  std::vector<std::string> addresses;
  for (const auto& h : *hosts) addresses.push_back(h.address);
  http::CurlHttpClient transport;
  agents::ClientOptions agent_options;
  // A check run is answered when the check finishes: up to its timeout.
  agent_options.timeout = std::chrono::milliseconds(60'000);
  agent_options.attempts = 2;
  deploy::SshFleet fleet(std::move(*hosts), transport, agent_options);
  const auto view = views::make_deploy_view(g.json, streams_of(ctx), artifact.size);
  options.observer = view->observer();

  const deploy::RolloutResult result = deploy::run_rollout(*spec, addresses, fleet, options);
  const auto finished = std::chrono::system_clock::now();
  std::string not_recorded;
  if (auto s = deploy::record_rollout(work_dir, result, started, finished); !s) not_recorded = s.error().message();
  view->finished(result, not_recorded, deploy::history_path(work_dir, app->name));
  return result.ok ? kExitOk : kExitError;
}

void setup_deploy(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "deploy", "roll an app of the stack's `apps:` out to its servers, batch by batch", [](CLI::App* cmd, Context& ctx) {
    auto o = std::make_shared<DeployOptions>();
    cmd->add_option("app", o->app, "the app, as named under `apps:`")->required();
    cmd->add_flag("--rollback", o->rollback, "return every host to the release before its current one");
    cmd->footer(std::string("Each batch is gated on the hosts' agents' checks; a failed batch is put back and the rollout stops.") + "\n\n" +
                help_footer({"keel deploy web", "keel deploy web --rollback", "keel deploy web --json"},
                            {{kExitOk, "every host is on the new release (--rollback: the one before)"},
                             {kExitError, "the rollout failed (and was put back), or an error before it started"},
                             {kExitLocked, "another rollout of the app holds its deploy lock"}}));
    on_chosen(*cmd, ctx, o, run_deploy);
  });
}

}  // namespace keel::commands

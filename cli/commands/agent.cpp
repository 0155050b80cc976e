// keel agent install|upgrade|status [SELECTOR...]: keel-agent on servers
// reached over SSH, as the state records them (cli/providers/ssh/remote_agent.h).
//
//   install  writes the binaries (when they differ), config, token and TLS
//            files the state holds, (re)starts the agent and waits for it
//   upgrade  only the binaries: uploaded when they differ from this keel's,
//            then a restart and a wait
//   status   installed? running (answers through the tunnel)? this keel's
//            binaries? under systemd or the supervisor?
//
// The state is only read: token and TLS material are made by `keel apply`,
// so a server without them is told to run it.
#include <atomic>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "cli/commands/app.h"
#include "cli/commands/workspace.h"
#include "cli/providers/ssh/remote_agent.h"
#include "cli/ssh/hosts.h"
#include "cli/views/agent_view.h"

namespace keel::commands {

namespace {

using nlohmann::json;
namespace agent = providers::ssh_host;

using HostResult = views::AgentHostResult;

std::string string_of(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

HostResult act_on(const std::string& verb, const ssh::Host& host) {
  HostResult r;
  r.address = host.address;
  r.host = host.target.describe();
  auto settings = agent::agent_settings(host.attributes.value("agent", json(true)));
  if (!settings) {
    r.error = settings.error().message();
    return r;
  }
  const agent::AgentMaterial material{string_of(host.attributes, "agent_token"), string_of(host.attributes, "agent_ca"),
                                      string_of(host.attributes, "agent_cert"),
                                      string_of(host.attributes, "agent_tls_key")};
  if (verb != "status" && !material.complete()) {
    r.error = "the state holds no keel-agent token and certificate for it: set `agent: true` and run keel apply";
    return r;
  }
  auto session = ssh::Session::connect(host.target);
  if (!session) {
    r.error = session.error().message();
    return r;
  }
  if (verb == "status") {
    r.status = agent::status(**session, *settings, material);
    r.ok = r.status.running;
    r.error = r.status.installed ? r.status.error : "not installed";
    return r;
  }
  Status done = verb == "install"
                    ? agent::install(**session, *settings, material,
                                     {host.attributes.value("checks", json()), host.attributes.value("backups", json()),
                                      string_of(host.attributes, "backup_key")},
                                     nullptr, /*restart=*/true)
                    : agent::upgrade(**session, *settings, material, nullptr);
  r.ok = done.has_value();
  if (!done) r.error = done.error().message();
  r.status = agent::status(**session, *settings, material);
  return r;
}

}  // namespace

int run_agent(Context& ctx, const AgentOptions& o) {
  const GlobalOptions& g = ctx.global;
  if (o.verb != "install" && o.verb != "upgrade" && o.verb != "status")
    return report_error(ctx, Error(ErrorCode::InvalidConfig, "keel agent: use install, upgrade or status"));
  auto saved = saved_state(g, "run keel apply first");
  if (!saved) return report_error(ctx, saved.error());
  auto hosts = ssh::select_hosts(*saved, o.selectors);
  if (!hosts) return report_error(ctx, hosts.error());
  if (hosts->empty())
    return report_error(ctx, Error(ErrorCode::InvalidConfig, "no selected server is reached over SSH (provider: ssh)"));

  std::vector<HostResult> results(hosts->size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < hosts->size(); i = next++) results[i] = act_on(o.verb, (*hosts)[i]);
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < std::min<int>(std::max(1, o.forks), static_cast<int>(hosts->size())); ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();

  views::make_agent_view(g.json, streams_of(ctx))->results(o.verb, results);
  for (const auto& r : results)
    if (!r.ok) return kExitError;
  return kExitOk;
}

void setup_agent(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "agent", "install, upgrade or look at keel-agent on servers reached over SSH", [](CLI::App* agent, Context& ctx) {
    const ExitCodeHelp codes = {{kExitOk, "every selected host is done (status: every agent answers)"},
                                {kExitError, "a host failed, or bad flags"}};
    agent->footer(help_footer({"keel agent install", "keel agent status servers.web", "keel agent upgrade all --forks 5"},
                              codes));
    const std::vector<std::pair<const char*, const char*>> verbs = {
        {"install", "install or reinstall the agent, then wait for it"},
        {"upgrade", "put this keel's agent binaries in place and restart it"},
        {"status", "is it installed, running, this keel's version?"}};
    for (const auto& [verb, what] : verbs) {
      auto o = std::make_shared<AgentOptions>();
      o->verb = verb;
      auto* sub = agent->add_subcommand(verb, what);
      sub->add_option("selector", o->selectors, "servers.web, servers.web[0], servers or all (default: all)");
      sub->add_option("--forks", o->forks, "hosts at once")->capture_default_str()->check(at_least_one());
      sub->footer(help_footer({std::string("keel agent ") + verb, std::string("keel agent ") + verb + " servers.web --json"},
                              codes));
      on_chosen(*sub, ctx, o, run_agent);
    }
  });
}

}  // namespace keel::commands

// keel exec SELECTOR... -- COMMAND [--forks N] [--group] [--timeout SECONDS]:
// COMMAND (the words after `--`, joined with spaces as ssh joins them) run
// with /bin/sh on every selected host over SSH, at most --forks hosts at a
// time; host lines as they arrive (or each host's output together with
// --group), then a summary of exit statuses. Exit 0 when every host ran it
// and it exited 0, else 1.
//
// Like keel health, it reads the last saved state (.keel/state.json)
// without taking the state lock, so it works while an apply runs, and does
// not need the stack to be valid: the hosts and how to reach them are the
// `ssh` maps the ssh provider recorded (cli/ssh/hosts.h).
#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "cli/agents/health.h"
#include "cli/commands/commands.h"
#include "cli/commands/app.h"
#include "cli/commands/workspace.h"
#include "cli/fleet/exec.h"
#include "cli/ssh/hosts.h"
#include "cli/views/exec_view.h"

namespace keel::commands {

namespace {

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

}  // namespace

int run_exec(Context& ctx, const ExecOptions& o) {
  const GlobalOptions& g = ctx.global;
  if (o.selectors.empty())
    return report_error(ctx, Error(ErrorCode::InvalidConfig,
                              "keel exec: name the hosts: keel exec SELECTOR... -- COMMAND "
                              "(servers.web, servers.web[0], servers or all)"));
  const std::string command = join_words(o.command);
  if (command.find_first_not_of(" \t") == std::string::npos)
    return report_error(ctx, Error(ErrorCode::InvalidConfig,
                              "keel exec: no command: give it after `--`: keel exec SELECTOR... -- COMMAND"));
  if (o.timeout < 0)
    return report_error(ctx, Error(ErrorCode::InvalidConfig, "--timeout takes a number of seconds (0: none)"));

  auto saved = saved_state(g, "no servers yet (run keel apply first)");
  if (!saved) return report_error(ctx, saved.error());
  std::vector<std::string> skipped;
  auto hosts = ssh::select_hosts(*saved, o.selectors, &skipped);
  if (!hosts) return report_error(ctx, hosts.error());
  std::sort(skipped.begin(), skipped.end(), agents::address_less);
  if (hosts->empty())
    return report_error(ctx, Error(ErrorCode::InvalidConfig,
                              fmt::format("none of the selected servers can be reached over SSH (no `ssh` in "
                                          "their state): {}",
                                          views::compact_addresses(skipped))));
  std::size_t width = 0;
  for (const auto& h : *hosts) width = std::max(width, h.address.size());
  const auto view = views::make_exec_view(g.json, o.group ? views::ExecLayout::Grouped : views::ExecLayout::Streamed,
                                          streams_of(ctx), width);
  view->skipped(skipped);

  fleet::ExecOptions options;
  options.command = command;
  options.forks = o.forks;
  options.timeout = std::chrono::seconds(o.timeout);
  options.collect_output = view->collects_output();
  fleet::ExecHooks hooks;
  hooks.on_line = [&view](const ssh::Host& host, ssh::Stream stream, std::string_view line) {
    view->line(host.address, stream, line);
  };
  hooks.on_finish = [&view](const fleet::HostRun& run) { view->host_finished(run); };

  ssh::Connections connections;
  fleet::SshRunner runner(connections);
  const auto started = std::chrono::steady_clock::now();
  const auto runs = fleet::run_on_hosts(*hosts, options, runner, hooks);
  const auto total =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  const int code = fleet::summarize(runs).all_ok() ? kExitOk : kExitError;
  view->finished(command, runs, skipped, total, code);
  return code;
}

void setup_exec(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "exec", "run a command over SSH on servers: exec SELECTOR... -- COMMAND", [](CLI::App* cmd, Context& ctx) {
    auto o = std::make_shared<ExecOptions>();
    cmd->add_option("selector", o->selectors, "servers.web, servers.web[0], servers or all (several may be given)")
        ->required();
    cmd->add_option("--forks", o->forks, "hosts at once")->capture_default_str()->check(at_least_one());
    cmd->add_flag("--group", o->group, "print each host's output together when it ends");
    cmd->add_option("--timeout", o->timeout, "seconds for each host's command (default: none)")->type_name("SECONDS");
    cmd->footer(help_footer({"keel exec servers.web -- uptime", "keel exec all --group -- df -h /",
                             "keel exec servers.web[0] --timeout 30 --json -- systemctl is-active nginx"},
                            {{kExitOk, "every host ran the command and it exited 0"},
                             {kExitError, "a host's command failed or it could not be reached; or bad flags"}}));
    on_chosen(*cmd, ctx, o, [](Context& c, ExecOptions options) {
      options.command = c.after_dashdash;  // the words after `--` (app.cpp)
      return run_exec(c, options);
    });
  });
}

}  // namespace keel::commands

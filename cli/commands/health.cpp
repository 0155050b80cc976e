// keel health [--watch [SECONDS]] [--target ADDR]...: every agent in the
// state asked for its checks at once; a table (or --json), and the Nagios
// exit code of the worst status, so that monitoring can run it as a plugin.
//
// It reads the last saved state (.keel/state.json) without taking the state
// lock: health works while an apply runs, and a `--watch` never makes an
// apply fail on the lock. Nor does it need the stack to be valid.
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "cli/agents/health.h"
#include "cli/commands/app.h"
#include "cli/commands/workspace.h"
#include "cli/state/file_store.h"
#include "cli/views/health_view.h"
#include "core/http_client.h"

namespace keel::commands {

namespace {

using Clock = std::chrono::system_clock;

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

views::HealthTableStyle table_style(const Context& ctx) {
  views::HealthTableStyle style;
  winsize ws{};
  if (ctx.out_is_tty && ::ioctl(::fileno(ctx.out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    style.width = ws.ws_col;
  } else if (auto columns = ctx.env("COLUMNS")) {
    const int n = std::atoi(columns->c_str());
    if (n > 0) style.width = static_cast<std::size_t>(n);
  }
  style.color = ctx.out_color;
  return style;
}

struct Round {
  std::vector<agents::HostHealth> hosts;
  agents::HealthSummary summary;
  Clock::time_point when;
};

Round ask(const std::vector<agents::Target>& targets, http::HttpClient& transport) {
  Round r;
  r.hosts = agents::poll(targets, transport);
  r.summary = agents::summarize(r.hosts);
  r.when = Clock::now();
  return r;
}

// Sleeps `seconds`, waking early when interrupted. False when interrupted.
bool pause(int seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (g_interrupted) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return !g_interrupted;
}

int error_exit(Context& ctx, const Error& e) {
  report_error(ctx, e);
  return kHealthUnknown;
}

}  // namespace

int run_health(Context& ctx, const HealthOptions& o) {
  const GlobalOptions& g = ctx.global;
  if (o.interval < 1)
    return error_exit(ctx, Error(ErrorCode::InvalidConfig, "--watch takes a number of seconds, at least 1"));
  auto loaded = read_saved_state(g);
  if (!loaded) return error_exit(ctx, loaded.error());
  std::vector<agents::Target> targets;
  if (*loaded) targets = agents::agent_targets(**loaded, o.targets);

  http::CurlHttpClient transport;
  const auto view = views::make_health_view(g.json, streams_of(ctx), table_style(ctx),
                                            {o.watch, o.interval, ctx.out_is_tty});
  if (!o.watch) {
    Round round = ask(targets, transport);
    view->round(round.hosts, round.summary, round.when);
    return round.summary.exit_code;
  }

  g_interrupted = 0;
  struct sigaction action {}, old_int {}, old_term {};
  action.sa_handler = on_interrupt;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &old_int);
  ::sigaction(SIGTERM, &action, &old_term);
  int code = kHealthUnknown;
  for (bool first = true;; first = false) {
    if (!first) {
      // Servers come and go with applies: look at the state again (keeping
      // the last good list if it cannot be read at the moment).
      auto again = read_saved_state(g);
      if (again && *again) targets = agents::agent_targets(**again, o.targets);
      else if (again) targets.clear();
    }
    Round round = ask(targets, transport);
    if (g_interrupted) break;
    view->round(round.hosts, round.summary, round.when);
    code = round.summary.exit_code;
    if (!pause(o.interval)) break;
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  return code;
}

void setup_health(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "health", "ask every server's agent for its checks (Nagios exit codes)", [](CLI::App* cmd, Context& ctx) {
    auto o = std::make_shared<HealthOptions>();
    add_targets(*cmd, o->targets, "ask only the servers ADDR names (repeatable; servers.web covers servers.web[i])");
    auto* watch = cmd->add_option("--watch", o->interval, "redraw every SECONDS (default 2) until interrupted")
                      ->expected(0, 1)
                      ->default_str("2")
                      ->type_name("SECONDS");
    cmd->footer(std::string("Reads the last saved state (no lock, no valid stack needed) and asks the agent of every server in it.") + "\n\n" +
                help_footer({"keel health", "keel health --watch 5", "keel health --target servers.web --json"},
                            {{kHealthPassing, "every check passing"},
                             {kHealthWarning, "the worst check is warning"},
                             {kHealthCritical, "a check is critical"},
                             {kHealthUnknown, "unknown: a check is unknown, an agent is unreachable, no agents in state, "
                                              "or an error (bad flags too)"}},
                            "Nagios plugin codes, so monitoring can run it: worst wins, by severity\n"
                            "passing < warning < unknown < critical.\n"));
    // --watch without SECONDS: counted, before on_chosen copies the options.
    cmd->parse_complete_callback([o, watch] { o->watch = watch->count() > 0; });
    on_chosen(*cmd, ctx, o, run_health, kHealthUnknown);
  });
}

}  // namespace keel::commands

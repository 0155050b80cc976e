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
#include <ctime>
#include <thread>

#include <fmt/format.h>

#include "cli/agents/health.h"
#include "cli/commands/workspace.h"
#include "cli/state/file_store.h"
#include "cli/views/health_view.h"
#include "core/http_client.h"

namespace keel::commands {

const char* health_exit_code_help() {
  return "Exit codes (keel health, as Nagios plugins):\n"
         "  0  every check passing\n"
         "  1  the worst check is warning\n"
         "  2  a check is critical\n"
         "  3  unknown: a check is unknown, an agent is unreachable, no agents in state, or an error\n"
         "Worst wins, by severity passing < warning < unknown < critical.\n";
}

namespace {

using Clock = std::chrono::system_clock;

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

views::HealthTableStyle table_style() {
  views::HealthTableStyle style;
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  winsize ws{};
  if (tty && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    style.width = ws.ws_col;
  } else if (const char* columns = std::getenv("COLUMNS")) {
    const int n = std::atoi(columns);
    if (n > 0) style.width = static_cast<std::size_t>(n);
  }
  const char* term = std::getenv("TERM");
  style.color = tty && !std::getenv("NO_COLOR") && !(term && std::string(term) == "dumb");
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

void print(const Round& round, bool json, bool watch, int interval) {
  if (json) {
    const auto doc = views::health_to_json(round.hosts, round.summary, round.when);
    // One document; under --watch one per line (JSON lines).
    std::printf("%s\n", (watch ? doc.dump() : doc.dump(2)).c_str());
    std::fflush(stdout);
    return;
  }
  const auto style = table_style();
  std::string text = views::render_health(round.hosts, round.summary, round.when, style);
  if (watch && ::isatty(STDOUT_FILENO) == 1) {
    std::fputs("\033[H\033[2J", stdout);  // home, clear: redraw in place
    const std::time_t t = Clock::to_time_t(round.when);
    std::tm local{};
    char stamp[32] = "";
    if (::localtime_r(&t, &local)) std::strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
    std::printf("keel health, every %ds (Ctrl-C to stop)   %s\n\n", interval, stamp);
  }
  std::fputs(text.c_str(), stdout);
  if (watch && ::isatty(STDOUT_FILENO) != 1) std::fputs("\n", stdout);
  std::fflush(stdout);
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

int error_exit(const Error& e, bool json) {
  report_error(e, json);
  return kHealthUnknown;
}

}  // namespace

int run_health(const GlobalOptions& g, const HealthOptions& o) {
  if (o.interval < 1)
    return error_exit(Error(ErrorCode::InvalidConfig, "--watch takes a number of seconds, at least 1"), g.json);
  auto loaded = state::read_saved_state(work_dir_of(g));
  if (!loaded) return error_exit(loaded.error(), g.json);
  std::vector<agents::Target> targets;
  if (*loaded) targets = agents::agent_targets(**loaded, o.targets);

  http::CurlHttpClient transport;
  if (!o.watch) {
    Round round = ask(targets, transport);
    print(round, g.json, false, o.interval);
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
      auto again = state::read_saved_state(work_dir_of(g));
      if (again && *again) targets = agents::agent_targets(**again, o.targets);
      else if (again) targets.clear();
    }
    Round round = ask(targets, transport);
    if (g_interrupted) break;
    print(round, g.json, true, o.interval);
    code = round.summary.exit_code;
    if (!pause(o.interval)) break;
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  return code;
}

}  // namespace keel::commands

// keel-agent: the on-host daemon. Runs health checks, serves the API and
// metrics, and takes new configs on SIGHUP or PUT /v1/config.
//
//   keel-agent --config agent.yaml [--log-format text|json] [--log-level info]
//   keel-agent --check-config agent.yaml
#include <signal.h>

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/memory.h"
#include "core/log.h"
#include "core/process.h"

namespace {

using namespace keel;

int check_config(const std::string& path) {
  auto load = agent::load_agent_config(path);
  for (const auto& d : load.diagnostics.items()) std::fprintf(stderr, "%s\n", d.describe().c_str());
  if (load.diagnostics.has_errors()) return 1;
  std::printf("%s: ok (%zu checks, %zu backups)\n", path.c_str(), load.config.checks.size(), load.config.backups.size());
  return 0;
}

// Signals are taken synchronously by the main thread (sigwait), so that no
// handler runs inside a check or the API. They are blocked before any thread
// starts; children get an empty mask back (core/process).
sigset_t control_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

int run(const std::string& path) {
  auto load = agent::load_agent_config(path);
  if (load.diagnostics.has_errors()) {
    for (const auto& d : load.diagnostics.items()) std::fprintf(stderr, "%s\n", d.describe().c_str());
    return 1;
  }
  sigset_t signals = control_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  process::ignore_sigpipe();

  agent::Agent daemon(path, std::move(load.config));
  if (auto st = daemon.start(); !st) {
    logging::event(logging::Level::Error, "agent cannot start", {{"error", st.error().message()}});
    return 1;
  }
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      auto answer = daemon.reload_from_file();
      if (!answer)
        logging::event(logging::Level::Error, "config refused; the running one is kept",
                       {{"file", path}, {"error", answer.error().message()}});
      continue;
    }
    logging::event(logging::Level::Info, "agent stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    daemon.stop();
    return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
  agent::tune_allocator();
  CLI::App app{"keel-agent: health checks, disaster-recovery jobs and an HTTP API on every host"};
  std::string config, check, log_format = "text", log_level = "info";
  bool version = false;
  app.add_option("--config,-c", config, "The agent config file (YAML)");
  app.add_option("--check-config", check, "Validate a config file and exit");
  app.add_option("--log-format", log_format, "text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", log_level, "debug, info, warning or error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
  app.add_flag("--version", version, "Print the version");
  CLI11_PARSE(app, argc, argv);

  if (version) {
    std::printf("keel-agent %s\n", KEEL_VERSION);
    return 0;
  }
  logging::setup(*logging::format_from_string(log_format), *logging::level_from_string(log_level));
  if (!check.empty()) return check_config(check);
  if (config.empty()) {
    std::fprintf(stderr, "keel-agent: --config FILE is required (or --check-config FILE)\n");
    return 2;
  }
  return run(config);
}

// keel-cloudsim: a stateful simulator of cloud REST APIs (DigitalOcean v2)
// for keel's provider tests and benchmarks. See tests/cloudsim/README.md.
//
//   keel-cloudsim --listen 127.0.0.1:PORT [--provision-seconds N] [--latency-ms N]
//                 [--rate-limit N/min] [--fault-rate R] [--seed S] [--public-url URL]
//                 [--log-level L]
//
// Prints exactly one line, "keel-cloudsim listening on http://127.0.0.1:PORT",
// on stdout once it accepts connections; logs go to stderr. SIGTERM or
// SIGINT stops it. Exit codes: 0 stopped by a signal, 2 bad arguments,
// 1 could not listen.

#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>

#include "core/log.h"
#include "tests/cloudsim/digitalocean.h"
#include "tests/cloudsim/simulator.h"

namespace {

using namespace keel;
using namespace keel::cloudsim;

struct Options {
  std::string listen = "127.0.0.1:0";
  double provision_seconds = 2.0;
  int latency_ms = 0;
  std::string rate_limit = "250/min";
  double fault_rate = 0.0;
  std::optional<uint64_t> seed;
  std::string log_level = "info";
  std::string public_url;
};

// "127.0.0.1:PORT" -> PORT. This project only ever binds loopback, so any
// other address is refused rather than silently exposed.
std::optional<int> loopback_port(const std::string& listen) {
  static const std::string kHost = "127.0.0.1:";
  if (listen.rfind(kHost, 0) != 0) return std::nullopt;
  std::string port = listen.substr(kHost.size());
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  int value = std::stoi(port);
  if (value > 65535) return std::nullopt;
  return value;
}

// "250/min" or "250" -> 250; 0 means unlimited.
std::optional<int> per_minute(std::string text) {
  if (text.size() > 4 && text.ends_with("/min")) text.resize(text.size() - 4);
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoi(text);
}

// Blocks SIGTERM and SIGINT in every thread (the server's pool inherits the
// mask) and waits for them in one thread that stops the server, since
// stop() is not async-signal-safe.
void stop_on_signal(httplib::Server& server) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread([&server, signals] {
    int received = 0;
    sigwait(&signals, &received);
    logging::event(logging::Level::Info, "stopping", {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
    server.stop();
  }).detach();
}

int run(const Options& options, int port, int rate_limit) {
  SimulatorOptions sim;
  sim.defaults.provision_seconds = options.provision_seconds;
  sim.defaults.latency_ms = options.latency_ms;
  sim.defaults.rate_limit_per_minute = rate_limit;
  sim.defaults.fault_rate = options.fault_rate;
  sim.seed = options.seed ? *options.seed : std::random_device{}();
  sim.public_url = options.public_url;
  while (sim.public_url.ends_with('/')) sim.public_url.pop_back();
  std::vector<std::unique_ptr<CloudApi>> clouds;
  clouds.push_back(std::make_unique<DigitalOcean>());
  Simulator simulator(sim, std::move(clouds));

  httplib::Server server;
  // Clients keep many requests in flight, and latency is a sleep in the
  // handler thread: a small pool would serialise them.
  server.new_task_queue = [] { return new httplib::ThreadPool(64); };
  server.set_keep_alive_max_count(1000);
  // cpp-httplib sets SO_REUSEPORT by default, which lets a second simulator
  // bind a port that a first one still serves, the kernel then splitting
  // connections between them. SO_REUSEADDR alone still allows a quick
  // restart on a port in TIME_WAIT, but fails when the port is taken.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  simulator.install(server);
  stop_on_signal(server);

  int bound = port == 0 ? server.bind_to_any_port("127.0.0.1") : (server.bind_to_port("127.0.0.1", port) ? port : -1);
  if (bound < 0) {
    logging::event(logging::Level::Error, "cannot listen", {{"address", options.listen}});
    return 1;
  }
  logging::event(logging::Level::Info, "started",
                 {{"port", bound}, {"seed", sim.seed}, {"provision_seconds", options.provision_seconds},
                  {"latency_ms", options.latency_ms}, {"rate_limit_per_minute", rate_limit},
                  {"fault_rate", options.fault_rate}});
  std::cout << "keel-cloudsim listening on http://127.0.0.1:" << bound << std::endl;
  server.listen_after_bind();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"keel-cloudsim: a stateful simulator of DigitalOcean's API v2 for tests"};
  Options options;
  app.add_option("--listen", options.listen, "127.0.0.1:PORT (PORT 0 picks a free port)")->capture_default_str();
  app.add_option("--provision-seconds", options.provision_seconds, "time until a new resource is ready")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--latency-ms", options.latency_ms, "delay before each API answer")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  app.add_option("--rate-limit", options.rate_limit, "requests per token per sliding minute, N/min (0: unlimited)")
      ->capture_default_str();
  app.add_option("--fault-rate", options.fault_rate, "probability of an injected fault per request")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--seed", options.seed, "seed of the fault dice (default: random, logged)");
  app.add_option("--public-url", options.public_url,
                 "base of the URLs in links, e.g. a proxy's http://127.0.0.1:PORT (default: from the Host header)");
  app.add_option("--log-level", options.log_level, "debug | info | warning | error (debug logs every request)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto level = logging::level_from_string(options.log_level);
  auto port = loopback_port(options.listen);
  auto rate_limit = per_minute(options.rate_limit);
  if (!level || !port || !rate_limit) {
    std::cerr << "keel-cloudsim: "
              << (!level ? "--log-level must be debug, info, warning or error"
                         : !port ? "--listen must be 127.0.0.1:PORT (only loopback is allowed)"
                                 : "--rate-limit must be N/min, e.g. 250/min")
              << "\n";
    return 2;
  }
  logging::setup(logging::Format::Text, *level);
  try {
    return run(options, *port, *rate_limit);
  } catch (const std::exception& e) {
    logging::event(logging::Level::Error, "failed", {{"error", e.what()}});
    return 1;
  }
}

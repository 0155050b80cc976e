// keel-agent against Prometheus' own exporters on this machine, side by side:
//
//   1. idle resident memory with 50 checks configured, next to
//      prometheus-node-exporter's idle resident memory
//      (target: under 8 MB, and below node_exporter's);
//   2. CPU seconds per 1,000 HTTP checks of a local target, next to
//      prometheus-blackbox-exporter probing the same target at the same rate
//      (target: at most a fifth of blackbox_exporter's);
//   3. p50/p99 latency of /metrics and /v1/health at 200 requests/s with wrk
//      (target: p99 under 5 ms);
//   4. resident memory growth after a soak at that load
//      (target: at most 1 MB after 10 minutes).
//
// Needs the Debian packages prometheus-node-exporter,
// prometheus-blackbox-exporter and wrk (scripts/install-deps.sh --bench).
//
//   agent_bench [--agent PATH] [--soak-seconds 600] [--cpu-seconds 30]
//               [--idle-only] [--idle-runs N] [--baseline PATH]
//
// The agent is the build's keel-agent by default (next to this program's
// directory). Everything listens on 127.0.0.1 only. `--baseline` measures a
// second keel-agent (another build) for the idle figure, alternating with
// the first, so that both see the same machine.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>

#include "core/files.h"
#include "core/http_client.h"
#include "core/process.h"
#include "core/tls.h"

using namespace keel;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "agent_bench: %s\n", message.c_str());
  std::exit(1);
}

// The value of `key` (in kB) in a /proc file of `key: value kB` lines, in MB.
double proc_mb(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string word;
  while (in >> word) {
    if (word == key) {
      double kb = 0;
      in >> kb;
      return kb / 1024.0;
    }
    in.ignore(1 << 16, '\n');
  }
  return -1;
}

double rss_mb(long pid) { return proc_mb(fmt::format("/proc/{}/status", pid), "VmRSS:"); }

// Where an agent's resident memory is: its own anonymous pages (heap, thread
// stacks, malloc arenas, relocated library data) and the file pages mapped
// (the binary's and the shared libraries' code and read-only data, which
// other processes share); Pss charges shared pages by how many map them.
struct Residency {
  double rss = -1, anon = -1, file = -1, pss = -1, threads = -1;
};

Residency residency(long pid) {
  const std::string status = fmt::format("/proc/{}/status", pid);
  Residency r;
  r.rss = proc_mb(status, "VmRSS:");
  r.anon = proc_mb(status, "RssAnon:");
  r.file = proc_mb(status, "RssFile:");
  r.threads = proc_mb(status, "Threads:") * 1024.0;
  r.pss = proc_mb(fmt::format("/proc/{}/smaps_rollup", pid), "Pss:");
  return r;
}

double cpu_seconds(long pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int index = 3; fields >> field && index <= 15; ++index) {
    if (index == 14) utime = std::stoll(field);
    if (index == 15) stime = std::stoll(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

void wait_for_port(int port, const std::string& what) {
  for (int i = 0; i < 200; ++i) {
    if (process::port_open(port)) return;
    std::this_thread::sleep_for(50ms);
  }
  die(what + " did not start listening on port " + std::to_string(port));
}

int free_port() {
  auto port = process::free_local_port();
  if (!port) die(port.error().message());
  return *port;
}

process::Child start(std::vector<std::string> argv) {
  auto child = process::Child::start({.argv = std::move(argv), .env = {}});
  if (!child) die(child.error().message());
  return std::move(*child);
}

// The HTTP target every check and probe hits: a small cpp-httplib server
// inside this program (its CPU is not measured).
class Target {
 public:
  Target() {
    server_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
    port = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    wait_for_port(port, "the target");
  }
  ~Target() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return fmt::format("http://127.0.0.1:{}/healthz", port); }
  int port = 0;

 private:
  httplib::Server server_;
  std::thread thread_;
};

// One keel-agent with TLS and a token in a scratch directory.
class Agent {
 public:
  Agent(const std::string& binary, const std::string& dir, const std::string& checks_yaml) : dir_(dir) {
    auto certs = tls::generate_local_certificates();
    if (!certs) die(certs.error().message());
    ca = certs->ca_cert_pem;
    token = "bench-token-0123456789abcdef";
    write(dir + "/agent.crt", certs->server_cert_pem, 0644);
    write(dir + "/agent.key", certs->server_key_pem, 0600);
    write(dir + "/token", token, 0600);
    port = free_port();
    write(dir + "/agent.yaml",
          fmt::format("listen: 127.0.0.1:{}\ntoken_file: token\ntls: {{ cert: agent.crt, key: agent.key }}\n"
                      "checks:\n{}",
                      port, checks_yaml),
          0600);
    child_.emplace(start({"/bin/sh", "-c",
                          fmt::format("exec '{}' --config '{}/agent.yaml' --log-level warning 2>>'{}/agent.log'",
                                      binary, dir, dir)}));
    wait_for_port(port, "keel-agent");
  }
  ~Agent() {
    child_->kill(SIGTERM);
    child_->wait();
  }
  long pid() const { return child_->pid(); }  // exec'd by sh: the agent itself
  std::string url(const std::string& path) const { return fmt::format("https://127.0.0.1:{}{}", port, path); }

  std::string ca, token;
  int port = 0;

 private:
  static void write(const std::string& path, const std::string& text, unsigned mode) {
    if (auto st = files::write_atomic(path, text, mode); !st) die(st.error().message());
  }
  std::string dir_;
  std::optional<process::Child> child_;
};

std::string fifty_checks(const Target& target) {
  std::string yaml;
  for (int i = 0; i < 20; ++i) yaml += fmt::format("  http-{}: {{ http: \"{}\", interval: 10s }}\n", i, target.url());
  for (int i = 0; i < 15; ++i) yaml += fmt::format("  tcp-{}: {{ tcp: \"127.0.0.1:{}\", interval: 10s }}\n", i, target.port);
  for (int i = 0; i < 5; ++i) yaml += fmt::format("  disk-{}: {{ disk: /, interval: 30s }}\n", i);
  for (int i = 0; i < 4; ++i) yaml += fmt::format("  memory-{}: {{ memory: true, interval: 30s }}\n", i);
  for (int i = 0; i < 3; ++i) yaml += fmt::format("  load-{}: {{ load: true, interval: 30s }}\n", i);
  for (int i = 0; i < 2; ++i) yaml += fmt::format("  process-{}: {{ process: init, min: 0, interval: 30s }}\n", i);
  yaml += "  exec-0: { exec: [/bin/true], interval: 30s }\n";
  return yaml;
}

struct Figure {
  std::string name, value, target;
  bool met = false;
};

std::vector<Figure> g_figures;

void report(std::string name, std::string value, std::string target, bool met) {
  std::printf("  %-44s %-44s %s\n", name.c_str(), value.c_str(), met ? "met" : "MISS");
  std::fflush(stdout);
  g_figures.push_back({std::move(name), std::move(value), std::move(target), met});
}

Residency median(std::vector<Residency> runs) {
  auto middle = [&](double Residency::*field) {
    std::vector<double> values;
    for (const auto& r : runs) values.push_back(r.*field);
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
  };
  return {middle(&Residency::rss), middle(&Residency::anon), middle(&Residency::file), middle(&Residency::pss),
          middle(&Residency::threads)};
}

std::string describe(const Residency& r) {
  return fmt::format("{:.1f} MB: anon {:.1f}, file {:.1f}, Pss {:.1f}, {:.0f} threads", r.rss, r.anon, r.file, r.pss,
                     r.threads);
}

// The agent (and the baseline, if any) with 50 checks, 15 s after start:
// every check has run at least once and the agent is idle. With a baseline
// the two binaries take turns, so that both see the same machine.
void idle_memory(const std::string& agent_binary, const std::string& baseline_binary, int runs,
                 const std::string& dir, const Target& target) {
  std::printf("\n1. idle resident memory (50 checks, TLS; median of %d)\n", runs);
  std::vector<Residency> agent_runs, baseline_runs;
  for (int run = 0; run < runs; ++run) {
    for (const std::string* binary : {&agent_binary, &baseline_binary}) {
      if (binary->empty()) continue;
      Agent agent(*binary, fmt::format("{}/idle", dir), fifty_checks(target));
      std::this_thread::sleep_for(15s);
      Residency r = residency(agent.pid());
      (binary == &agent_binary ? agent_runs : baseline_runs).push_back(r);
      std::printf("  run %d %-9s %s\n", run + 1, binary == &agent_binary ? "agent" : "baseline", describe(r).c_str());
    }
  }
  double node_rss = 0;
  {
    int port = free_port();
    auto node = start({"prometheus-node-exporter", fmt::format("--web.listen-address=127.0.0.1:{}", port)});
    wait_for_port(port, "prometheus-node-exporter");
    std::this_thread::sleep_for(15s);
    node_rss = rss_mb(node.pid());
    node.kill(SIGTERM);
    node.wait();
  }
  const Residency agent = median(agent_runs);
  std::printf("  keel-agent  %s\n", describe(agent).c_str());
  if (!baseline_runs.empty()) {
    const Residency baseline = median(baseline_runs);
    std::printf("  baseline    %s (%s)\n", describe(baseline).c_str(), baseline_binary.c_str());
    std::printf("  difference  %+.0f kB (anon %+.0f kB, file %+.0f kB)\n", (agent.rss - baseline.rss) * 1024,
                (agent.anon - baseline.anon) * 1024, (agent.file - baseline.file) * 1024);
  }
  report("keel-agent, 50 checks (MB)", fmt::format("{:.1f} (node_exporter idle: {:.1f})", agent.rss, node_rss),
         "< 8 and < node_exporter", agent.rss > 0 && agent.rss < 8 && agent.rss < node_rss);
}

// Drives blackbox_exporter's /probe at `rate` per second for `seconds`.
int drive_probes(int port, const std::string& target_url, int rate, int seconds) {
  http::CurlHttpClient client;
  http::Request request;
  request.url = fmt::format("http://127.0.0.1:{}/probe?module=http_2xx&target={}", port, target_url);
  request.timeout = 5s;
  const auto period = std::chrono::microseconds(1'000'000 / rate);
  auto next = std::chrono::steady_clock::now();
  int ok = 0;
  for (int i = 0; i < rate * seconds; ++i) {
    auto r = client.send(request);
    if (r && r->status == 200 && r->body.find("probe_success 1") != std::string::npos) ++ok;
    next += period;
    std::this_thread::sleep_until(next);
  }
  return ok;
}

void http_check_cpu(const std::string& agent_binary, const std::string& dir, const Target& target, int seconds) {
  std::printf("\n2. CPU per 1,000 HTTP checks at 200 checks/s for %d s\n", seconds);
  const int rate = 200;
  double agent_per_1000 = 0, blackbox_per_1000 = 0;
  {
    std::string yaml;
    for (int i = 0; i < 20; ++i) yaml += fmt::format("  http-{}: {{ http: \"{}\", interval: 100ms }}\n", i, target.url());
    Agent agent(agent_binary, dir + "/cpu", yaml);
    std::this_thread::sleep_for(2s);  // past start-up
    http::CurlHttpClient client;
    auto runs = [&] {
      http::Request r;
      r.url = agent.url("/metrics");
      r.ca_pem = agent.ca;
      r.bearer_token = agent.token;
      auto response = client.send(r);
      if (!response) die(response.error().message());
      long long total = 0;
      std::istringstream lines(response->body);
      for (std::string line; std::getline(lines, line);)
        if (line.rfind("keel_check_runs_total{", 0) == 0) total += std::stoll(line.substr(line.rfind(' ') + 1));
      return total;
    };
    const long long runs_before = runs();
    const double cpu_before = cpu_seconds(agent.pid());
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    const double cpu = cpu_seconds(agent.pid()) - cpu_before;
    const long long checks = runs() - runs_before;
    agent_per_1000 = checks > 0 ? cpu * 1000.0 / static_cast<double>(checks) : -1;
    std::printf("  keel-agent: %lld checks, %.2f CPU s\n", checks, cpu);
  }
  {
    int port = free_port();
    std::string config = dir + "/blackbox.yml";
    if (auto st = files::write_atomic(config,
                                      "modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n"
                                      "    http:\n      preferred_ip_protocol: ip4\n");
        !st)
      die(st.error().message());
    auto blackbox = start({"prometheus-blackbox-exporter", "--config.file=" + config,
                           fmt::format("--web.listen-address=127.0.0.1:{}", port)});
    wait_for_port(port, "prometheus-blackbox-exporter");
    drive_probes(port, target.url(), rate, 2);  // past start-up
    const double cpu_before = cpu_seconds(blackbox.pid());
    int probes = drive_probes(port, target.url(), rate, seconds);
    const double cpu = cpu_seconds(blackbox.pid()) - cpu_before;
    blackbox_per_1000 = probes > 0 ? cpu * 1000.0 / probes : -1;
    std::printf("  blackbox_exporter: %d successful probes, %.2f CPU s\n", probes, cpu);
    blackbox.kill(SIGTERM);
    blackbox.wait();
  }
  double ratio = blackbox_per_1000 > 0 ? agent_per_1000 / blackbox_per_1000 : -1;
  report("CPU s per 1,000 HTTP checks",
         fmt::format("{:.3f} (blackbox: {:.3f}; ratio {:.2f})", agent_per_1000, blackbox_per_1000, ratio),
         "ratio <= 0.20", ratio >= 0 && ratio <= 0.20);
}

// A wrk script that paces every connection so that all of them together
// send `rate` requests per second (Debian's wrk has no -R), sends the token,
// and prints the percentiles in microseconds.
std::string wrk_script(const std::string& token, int rate, int connections) {
  return fmt::format(R"(wrk.headers["Authorization"] = "Bearer {}"
function delay() return {} end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d\n", latency:percentile(50), latency:percentile(99),
                         summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read))
end
)",
                     token, 1000 * connections / rate);
}

struct WrkResult {
  double p50_ms = -1, p99_ms = -1;
  long long requests = 0, errors = 0;
};

WrkResult run_wrk(const Agent& agent, const std::string& path, const std::string& script, int seconds) {
  process::Options wrk;
  wrk.argv = {"wrk", "-t1", "-c2", fmt::format("-d{}s", seconds), "-s", script, agent.url(path)};
  wrk.timeout = std::chrono::seconds(seconds + 60);
  auto out = process::run(wrk);
  if (!out) die(out.error().message());
  WrkResult r;
  auto at = out->output.find("RESULT ");
  if (at == std::string::npos) die("wrk printed no result: " + out->output);
  std::istringstream fields(out->output.substr(at + 7));
  long long p50 = 0, p99 = 0;
  fields >> p50 >> p99 >> r.requests >> r.errors;
  r.p50_ms = static_cast<double>(p50) / 1000.0;
  r.p99_ms = static_cast<double>(p99) / 1000.0;
  return r;
}

void api_latency_and_soak(const std::string& agent_binary, const std::string& dir, const Target& target,
                          int soak_seconds) {
  std::printf("\n3. API latency at 200 requests/s (wrk, 2 connections, TLS)\n");
  Agent agent(agent_binary, dir + "/api", fifty_checks(target));
  std::this_thread::sleep_for(3s);
  const std::string script = dir + "/pace.lua";
  if (auto st = files::write_atomic(script, wrk_script(agent.token, 200, 2), 0600); !st) die(st.error().message());
  for (const char* path : {"/metrics", "/v1/health"}) {
    WrkResult r = run_wrk(agent, path, script, 30);
    report(fmt::format("{} p50 / p99 (ms)", path),
           fmt::format("{:.2f} / {:.2f} ({:.0f} req/s, {} errors)", r.p50_ms, r.p99_ms, r.requests / 30.0, r.errors),
           "p99 < 5", r.p99_ms >= 0 && r.p99_ms < 5 && r.errors == 0);
  }

  std::printf("\n4. resident memory over a %d s soak at 200 requests/s on /metrics and /v1/health\n", soak_seconds);
  const double before = rss_mb(agent.pid());
  const std::string health_script = dir + "/pace-health.lua";
  if (auto st = files::write_atomic(health_script, wrk_script(agent.token, 100, 2), 0600); !st) die(st.error().message());
  const std::string metrics_script = dir + "/pace-metrics.lua";
  if (auto st = files::write_atomic(metrics_script, wrk_script(agent.token, 100, 2), 0600); !st) die(st.error().message());
  std::thread health([&] { run_wrk(agent, "/v1/health", health_script, soak_seconds); });
  WrkResult r = run_wrk(agent, "/metrics", metrics_script, soak_seconds);
  health.join();
  const double after = rss_mb(agent.pid());
  report("RSS growth over the soak (MB)",
         fmt::format("{:+.2f} ({:.1f} -> {:.1f}; {} /metrics requests)", after - before, before, after, r.requests),
         "<= 1", after - before <= 1.0);
}

std::string default_agent_binary(const char* argv0) {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) self = argv0;
  for (fs::path candidate : {self.parent_path() / "keel-agent", self.parent_path().parent_path() / "keel-agent"})
    if (fs::exists(candidate)) return candidate.string();
  return "keel-agent";
}

}  // namespace

int main(int argc, char** argv) {
  std::string agent_binary = default_agent_binary(argv[0]);
  std::string baseline_binary;
  int soak_seconds = 600, cpu_seconds_window = 30, idle_runs = 1;
  bool idle_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--agent" && i + 1 < argc) agent_binary = argv[++i];
    else if (arg == "--baseline" && i + 1 < argc) baseline_binary = argv[++i];
    else if (arg == "--idle-runs" && i + 1 < argc) idle_runs = std::max(1, std::stoi(argv[++i]));
    else if (arg == "--idle-only") idle_only = true;
    else if (arg == "--soak-seconds" && i + 1 < argc) soak_seconds = std::stoi(argv[++i]);
    else if (arg == "--cpu-seconds" && i + 1 < argc) cpu_seconds_window = std::stoi(argv[++i]);
    else
      die("usage: agent_bench [--agent PATH] [--soak-seconds N] [--cpu-seconds N] [--idle-only] [--idle-runs N] "
          "[--baseline PATH]");
  }
  for (const char* tool : {"prometheus-node-exporter", "prometheus-blackbox-exporter", "wrk"})
    if (process::which(tool).empty() && (!idle_only || tool == std::string("prometheus-node-exporter")))
      die(fmt::format("{} is not installed: run scripts/install-deps.sh --bench (Debian packages "
                      "prometheus-node-exporter prometheus-blackbox-exporter wrk)", tool));
  process::ignore_sigpipe();

  std::string dir = fs::temp_directory_path() / fmt::format("keel-agent-bench.{}", ::getpid());
  for (const char* sub : {"idle", "cpu", "api"})
    if (auto st = files::make_dirs(dir + "/" + sub, 0700); !st) die(st.error().message());

  std::printf("keel-agent benchmark: %s, %ld CPUs\n", agent_binary.c_str(), ::sysconf(_SC_NPROCESSORS_ONLN));
  Target target;
  idle_memory(agent_binary, baseline_binary, idle_runs, dir, target);
  if (!idle_only) {
    http_check_cpu(agent_binary, dir, target, cpu_seconds_window);
    api_latency_and_soak(agent_binary, dir, target, soak_seconds);
  }

  std::printf("\nsummary\n");
  int missed = 0;
  for (const auto& f : g_figures) {
    std::printf("  %-44s %-44s target %-22s %s\n", f.name.c_str(), f.value.c_str(), f.target.c_str(),
                f.met ? "met" : "MISS");
    missed += !f.met;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  std::printf("%d of %zu targets missed\n", missed, g_figures.size());
  return 0;
}

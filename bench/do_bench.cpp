// do_bench: `keel apply`, `plan` (with refresh) and `destroy` of a large
// DigitalOcean stack against keel-cloudsim with DigitalOcean's own limits,
// and how close each comes to its lower bound.
//
//   build/bench/do_bench [--droplets 200] [--databases 10] [--load-balancers 10]
//                        [--firewalls 10] [--provision-seconds 2] [--latency-ms 100]
//                        [--rate-limit 250] [--parallelism 10] [--keel PATH]
//                        [--cloudsim PATH] [--dir DIR] [--keep]
//
// The stack: droplets in 10 groups (web0..web9); load balancer i targets
// group i and firewall i applies to it (both through `${servers.webI[*].id}`),
// so they wait for their droplets; the databases stand alone. The dependency
// chain is therefore two provisioning times deep.
//
// Lower bound of a command = max(chain, requests / rate limit):
//   chain     provisioning time x the depth of the dependency graph (apply;
//             destroy and plan have no provisioning wait, so 0)
//   requests  the API requests keel made (the simulator counts them), at the
//             rate limit's pace
// The ratio is wall time / bound; the target is <= 1.15 for apply and
// destroy. The plan figure to watch is its request count: it should read
// the stack with list calls, not one GET per resource.
//
// keel and keel-cloudsim are found beside this program's directory
// (build/keel for build/bench/do_bench) unless given.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/files.h"
#include "core/http_client.h"
#include "core/process.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  int droplets = 200, databases = 10, load_balancers = 10, firewalls = 10;
  double provision_seconds = 2;
  int latency_ms = 100, rate_limit = 250, parallelism = 10;
  std::string keel, cloudsim, dir;
  bool keep = false;
};

constexpr int kGroups = 10;
const char* kToken = "do-bench-token";

std::string beside_build(const std::string& name) {
  fs::path self = fs::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path() / name).string();
}

std::string stack_yaml(const Options& o) {
  std::string y = "keel: 1\nproject: do-bench\nproviders:\n  do: { type: digitalocean, endpoint: \"${env.DO_ENDPOINT}\" }\nservers:\n";
  for (int g = 0; g < kGroups; ++g) {
    int n = o.droplets / kGroups + (g < o.droplets % kGroups ? 1 : 0);
    y += "  web" + std::to_string(g) + ": { provider: do, count: " + std::to_string(n) +
         ", size: s-1vcpu-1gb, image: debian-12-x64, region: fra1 }\n";
  }
  if (o.databases) y += "databases:\n";
  for (int i = 0; i < o.databases; ++i)
    y += "  db" + std::to_string(i) + ": { provider: do, engine: postgres, size: db-s-1vcpu-1gb, region: fra1 }\n";
  if (o.load_balancers) y += "load_balancers:\n";
  for (int i = 0; i < o.load_balancers; ++i)
    y += "  lb" + std::to_string(i) + ": { provider: do, region: fra1, droplet_ids: \"${servers.web" +
         std::to_string(i % kGroups) + "[*].id}\", rules: [{ entry: \"http:80\", target: \"http:8080\" }] }\n";
  if (o.firewalls) y += "firewalls:\n";
  for (int i = 0; i < o.firewalls; ++i)
    y += "  fw" + std::to_string(i) + ": { provider: do, droplet_ids: \"${servers.web" + std::to_string(i % kGroups) +
         "[*].id}\", inbound: [{ protocol: tcp, ports: \"22\", from: [0.0.0.0/0] }] }\n";
  return y;
}

// The simulator, started on a free port; stopped when this goes away.
class Simulator {
 public:
  Simulator(const Options& o) {
    auto port = keel::process::free_local_port();
    if (!port) throw std::runtime_error(port.error().message());
    url_ = "http://127.0.0.1:" + std::to_string(*port);
    auto child = keel::process::Child::start(
        {{o.cloudsim, "--listen", "127.0.0.1:" + std::to_string(*port), "--provision-seconds",
          std::to_string(o.provision_seconds), "--latency-ms", std::to_string(o.latency_ms), "--rate-limit",
          std::to_string(o.rate_limit) + "/min"},
         {},
         true});
    if (!child) throw std::runtime_error("keel-cloudsim: " + child.error().message());
    child_.emplace(std::move(*child));
    for (int i = 0; i < 200 && !keel::process::port_open(*port); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!keel::process::port_open(*port)) throw std::runtime_error("keel-cloudsim did not start");
  }
  const std::string& url() const { return url_; }

  json admin(const std::string& method, const std::string& path) {
    keel::http::Request r;
    r.method = method;
    r.url = url_ + path;
    r.bearer_token = kToken;
    auto response = keel::http::send_checked(http_, r);
    if (!response) throw std::runtime_error(response.error().message());
    return response->body.empty() ? json() : json::parse(response->body);
  }

 private:
  std::string url_;
  std::optional<keel::process::Child> child_;
  keel::http::CurlHttpClient http_;
};

struct Run {
  double seconds = 0;
  long requests = 0, rate_limited = 0;
};

Run timed_keel(const Options& o, Simulator& sim, std::vector<std::string> args) {
  sim.admin("POST", "/_sim/stats/reset");
  keel::process::Options p;
  p.argv = {o.keel};
  p.argv.insert(p.argv.end(), args.begin(), args.end());
  p.cwd = o.dir;
  p.env = {{"DO_ENDPOINT", sim.url()}, {"DIGITALOCEAN_TOKEN", kToken}};
  auto start = Clock::now();
  auto out = keel::process::run(p);
  Run run;
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!out || out->exit_code != 0) {
    std::fprintf(stderr, "keel %s failed:\n%s\n", args[0].c_str(), out ? out->output.c_str() : out.error().message().c_str());
    std::exit(1);
  }
  json stats = sim.admin("GET", "/_sim/stats");
  run.requests = stats.value("requests", 0L);
  run.rate_limited = stats.value("rate_limited", 0L);
  return run;
}

void report(const char* what, const Run& r, double chain_seconds, const Options& o, bool targeted) {
  double by_rate = r.requests * 60.0 / o.rate_limit;
  double bound = std::max(chain_seconds, by_rate);
  std::printf("  %-22s %8.1f %9ld %6ld %9.1f %9.1f %7.2f  %s\n", what, r.seconds, r.requests, r.rate_limited, chain_seconds,
              by_rate, bound > 0 ? r.seconds / bound : 0.0,
              !targeted ? "" : (r.seconds <= 1.15 * bound ? "met (<= 1.15)" : "MISS (<= 1.15)"));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"keel against DigitalOcean's limits, in keel-cloudsim"};
  app.add_option("--droplets", o.droplets);
  app.add_option("--databases", o.databases);
  app.add_option("--load-balancers", o.load_balancers);
  app.add_option("--firewalls", o.firewalls);
  app.add_option("--provision-seconds", o.provision_seconds);
  app.add_option("--latency-ms", o.latency_ms);
  app.add_option("--rate-limit", o.rate_limit, "requests per minute");
  app.add_option("--parallelism", o.parallelism);
  app.add_option("--keel", o.keel);
  app.add_option("--cloudsim", o.cloudsim);
  app.add_option("--dir", o.dir);
  app.add_flag("--keep", o.keep);
  CLI11_PARSE(app, argc, argv);
  if (o.keel.empty()) o.keel = beside_build("keel");
  if (o.cloudsim.empty()) o.cloudsim = beside_build("keel-cloudsim");
  if (o.dir.empty()) {
    char pattern[] = "/tmp/keel-do-bench.XXXXXX";
    o.dir = ::mkdtemp(pattern);
  }
  if (auto s = keel::files::write_atomic(o.dir + "/keel.yaml", stack_yaml(o)); !s) {
    std::fprintf(stderr, "%s\n", s.error().message().c_str());
    return 1;
  }
  Simulator sim(o);
  const int resources = o.droplets + o.databases + o.load_balancers + o.firewalls;
  std::printf("do_bench: %d resources (%d droplets, %d databases, %d load balancers, %d firewalls)\n", resources,
              o.droplets, o.databases, o.load_balancers, o.firewalls);
  std::printf("keel-cloudsim: %.1f s provisioning, %d ms latency, %d requests/minute; keel --parallelism %d\n\n",
              o.provision_seconds, o.latency_ms, o.rate_limit, o.parallelism);
  std::printf("  %-22s %8s %9s %6s %9s %9s %7s\n", "command", "wall s", "requests", "429s", "chain s", "rate s",
              "ratio");
  const std::string par = std::to_string(o.parallelism);
  const double chain = (o.load_balancers || o.firewalls ? 2 : 1) * o.provision_seconds;
  Run apply = timed_keel(o, sim, {"apply", "--auto-approve", "--parallelism", par});
  report("apply", apply, chain, o, true);
  Run plan = timed_keel(o, sim, {"plan", "--parallelism", par});
  report("plan (refresh)", plan, 0, o, false);
  Run destroy = timed_keel(o, sim, {"destroy", "--auto-approve", "--parallelism", par});
  report("destroy", destroy, 0, o, true);
  std::printf("\nplan read %d resources with %ld requests (%.2f per resource)\n", resources, plan.requests,
              double(plan.requests) / resources);
  if (!o.keep) (void)keel::files::remove_all(o.dir);
  return 0;
}

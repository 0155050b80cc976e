// aws_bench: `keel apply`, `plan` (with refresh) and `destroy` of an AWS
// stack against moto behind the contract proxy with AWS's behaviour turned
// on (states pending for --pending-seconds, --latency-ms per request, at
// most --rate-limit requests a second), and how close each comes to its
// lower bound.
//
//   build/bench/aws_bench [--servers 50] [--pending-seconds 2] [--latency-ms 100]
//                         [--rate-limit 20] [--parallelism 10] [--keel PATH]
//                         [--proxy tests/support/aws/proxy.py] [--dir DIR] [--keep]
//                         [--proxy-log FILE]
//
// The stack: a network, two subnets, a security group, --servers instances
// in the first subnet, an application load balancer in front of them and a
// server group (launch template, Auto Scaling group of 2 to 6, CPU
// tracking). The dependency chain is network -> subnet -> servers -> load
// balancer: three waits of --pending-seconds (the proxy delays EC2 states
// only; moto's load balancers are active at once).
//
// Lower bound of a command = max(chain, requests / rate limit); the ratio is
// wall time / bound, target <= 1.15 for apply and destroy. Two chains are
// printed (bench/README.md says why): the old one counts the waits only
// (3 x pending for apply, 1 x pending for destroy), which no keel can
// reach; the true one adds what each step on the chain must send in a row
// at --latency-ms each and the servers' RunInstances burst at the rate
// limit (true_chain()). For plan, the figure to watch is requests per kind
// (target <= 3).
//
// moto (python3 -m moto.server) and the proxy run on free local ports; keel
// is found beside this program's directory unless given. Run it from the
// source directory (for the proxy's default path).

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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
  int servers = 50;
  double pending_seconds = 2;
  int latency_ms = 100, rate_limit = 20, parallelism = 10;
  std::string keel, proxy = "tests/support/aws/proxy.py", dir, proxy_log = "/dev/null";
  bool keep = false;
};

constexpr int kKinds = 6;  // networks, subnets, firewalls, servers, load_balancers, server_groups

std::string beside_build(const std::string& name) {
  fs::path self = fs::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path() / name).string();
}

std::string stack_yaml(const Options& o) {
  return "keel: 1\nproject: aws-bench\nproviders:\n  aws: { type: aws, region: us-east-1, requests_per_second: " +
         std::to_string(o.rate_limit) +
         " }\n"
         "networks:\n  main: { provider: aws, cidr: 10.90.0.0/16 }\n"
         "subnets:\n"
         "  a: { provider: aws, network: \"${networks.main.id}\", cidr: 10.90.1.0/24, zone: us-east-1a, public: true }\n"
         "  b: { provider: aws, network: \"${networks.main.id}\", cidr: 10.90.2.0/24, zone: us-east-1b, public: true }\n"
         "firewalls:\n  web: { provider: aws, network: \"${networks.main.id}\", inbound: [{ protocol: tcp, ports: \"22\", "
         "from: [0.0.0.0/0] }] }\n"
         "servers:\n  web: { provider: aws, count: " +
         std::to_string(o.servers) +
         ", size: t3.micro, image: ami-12c6146b, subnet: \"${subnets.a.id}\", firewalls: [\"${firewalls.web.id}\"] }\n"
         "load_balancers:\n  edge: { provider: aws, type: application, subnets: [\"${subnets.a.id}\", \"${subnets.b.id}\"], "
         "firewalls: [\"${firewalls.web.id}\"], targets: \"${servers.web[*].id}\", rules: [{ entry: \"http:80\", target: "
         "\"http:8080\" }], health_check: { path: /healthz, port: 8080 } }\n"
         "server_groups:\n  workers: { provider: aws, size: t3.micro, image: ami-12c6146b, subnets: [\"${subnets.a.id}\"], "
         "min: 2, max: 6, scale: { cpu: 60 } }\n";
}

keel::process::Child start(std::vector<std::string> argv, const std::string& what, int port) {
  auto child = keel::process::Child::start({std::move(argv), {}, true});
  if (!child) throw std::runtime_error(what + ": " + child.error().message());
  for (int i = 0; i < 600 && !keel::process::port_open(port); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!keel::process::port_open(port)) throw std::runtime_error(what + " did not start");
  return std::move(*child);
}

// moto behind the contract proxy, on free ports; stopped when this goes away.
class Aws {
 public:
  explicit Aws(const Options& o) {
    auto moto_port = keel::process::free_local_port(), proxy_port = keel::process::free_local_port();
    if (!moto_port || !proxy_port) throw std::runtime_error("no free port");
    moto_.emplace(start({"env", "MOTO_ENABLE_AMI_VALIDATION=true", "python3", "-m", "moto.server", "-H", "127.0.0.1", "-p",
                         std::to_string(*moto_port)},
                        "moto", *moto_port));
    warm_up("http://127.0.0.1:" + std::to_string(*moto_port));
    url_ = "http://127.0.0.1:" + std::to_string(*proxy_port);
    proxy_.emplace(start({"python3", "-B", o.proxy, std::to_string(*proxy_port), "http://127.0.0.1:" + std::to_string(*moto_port),
                          o.proxy_log},
                         "the contract proxy", *proxy_port));
    admin("/__proxy/config", json{{"pending_seconds", o.pending_seconds}, {"latency_ms", o.latency_ms},
                                  {"rate_limit", o.rate_limit}});
  }
  const std::string& url() const { return url_; }

  // moto loads a service's backend on its first call (EC2's AMIs and
  // instance types take seconds; ELBv2 and Auto Scaling about 0.1 s, the
  // first of them on the apply's critical path): not AWS's behaviour, so
  // out of the figures. Straight to moto, which routes by the credential
  // scope and checks no signature; what it answers does not matter.
  void warm_up(const std::string& moto) {
    const std::pair<const char*, const char*> calls[] = {
        {"ec2", "Action=DescribeAvailabilityZones&Version=2016-11-15"},
        {"elasticloadbalancing", "Action=DescribeLoadBalancers&Version=2015-12-01"},
        {"autoscaling", "Action=DescribeAutoScalingGroups&Version=2011-01-01"}};
    for (const auto& [service, body] : calls) {
      keel::http::Request r;
      r.method = "POST";
      r.url = moto + "/";
      r.body = body;
      r.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                   {"Authorization", std::string("AWS4-HMAC-SHA256 Credential=AKIABENCH/20260101/us-east-1/") + service +
                                         "/aws4_request, SignedHeaders=host, Signature=0"}};
      r.timeout = std::chrono::seconds(60);
      if (auto response = keel::http::send_checked(http_, r); !response)
        throw std::runtime_error(std::string("warming moto's ") + service + " up: " + response.error().message());
    }
  }

  json admin(const std::string& path, const json& body = nullptr) {
    keel::http::Request r;
    r.method = body.is_null() ? "GET" : "POST";
    r.url = url_ + path;
    if (!body.is_null()) r.body = body.dump();
    auto response = keel::http::send_checked(http_, r);
    if (!response) throw std::runtime_error(response.error().message());
    return response->body.empty() ? json() : json::parse(response->body);
  }

 private:
  std::string url_;
  std::optional<keel::process::Child> moto_, proxy_;
  keel::http::CurlHttpClient http_;
};

struct Run {
  double seconds = 0;
  long requests = 0;
  json by_op;
};

Run timed_keel(const Options& o, Aws& aws, std::vector<std::string> args) {
  json before = aws.admin("/__proxy/stats");
  keel::process::Options p;
  p.argv = {o.keel};
  p.argv.insert(p.argv.end(), args.begin(), args.end());
  p.cwd = o.dir;
  p.env = {{"AWS_ENDPOINT_URL", aws.url()}, {"AWS_ACCESS_KEY_ID", "AKIABENCH"}, {"AWS_SECRET_ACCESS_KEY", "bench"},
           {"AWS_CONFIG_FILE", "/dev/null"}, {"AWS_SHARED_CREDENTIALS_FILE", "/dev/null"}};
  auto start = Clock::now();
  auto out = keel::process::run(p);
  Run run;
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!out || out->exit_code != 0) {
    std::fprintf(stderr, "keel %s failed:\n%s\n", args[0].c_str(), out ? out->output.c_str() : out.error().message().c_str());
    std::exit(1);
  }
  json after = aws.admin("/__proxy/stats");
  run.requests = after.value("requests", 0L) - before.value("requests", 0L);
  run.by_op = json::object();
  for (auto& [op, n] : after["by_op"].items()) {
    long was = before["by_op"].value(op, 0L);
    if (n.get<long>() > was) run.by_op[op] = n.get<long>() - was;
  }
  return run;
}

// The shortest a command can take along its dependency chain: every step
// waits for the one before, sends its requests that depend on each other
// one after the other (each a round trip of --latency-ms), and waits for
// its resource's state (--pending-seconds for EC2's VPCs, subnets and
// instances, seen by one more Describe). Requests that need nothing of
// each other are counted once (side by side); checks that an ideal keel
// could skip (lookups before a create) are not counted at all.
struct Chain {
  double seconds = 0;
  std::string steps;  // "network 2.4 + subnet 2.3 + ..."
};

Chain true_chain(const Options& o, bool destroy) {
  const double L = o.latency_ms / 1000.0, P = o.pending_seconds;
  // The servers' RunInstances (or nothing to wait for) at the rate limit:
  // the last one starts (N - 1) / rate after the first.
  const double burst = o.servers > 0 ? (o.servers - 1) / double(o.rate_limit) : 0;
  // The provider's configure checks the credentials (one call) before
  // anything else.
  std::vector<std::pair<const char*, double>> steps{{"configure", L}};
  if (!destroy) {
    // CreateVpc, wait, Describe; then AttachInternetGateway beside
    // CreateRouteTable (the gateway is made during the wait), CreateRoute.
    steps.emplace_back("network", 4 * L + P);
    // CreateSubnet, wait, Describe; ModifySubnetAttribute beside
    // AssociateRouteTable.
    steps.emplace_back("subnet", 3 * L + P);
    // RunInstances at the rate limit, the last one's answer, its wait and
    // the Describe that sees it running.
    steps.emplace_back("servers", burst + 2 * L + P);
    // CreateLoadBalancer and the Describe that sees it active (beside
    // CreateTargetGroup and RegisterTargets), CreateListener.
    steps.emplace_back("load balancer", 3 * L);
  } else {
    // destroy refreshes state first: one Describe per kind side by side,
    // but a load balancer's parts need it found first (its listeners and
    // target groups, then each group's targets): three in a row. And all of
    // them before any delete, at the rate limit: a Describe per kind (6),
    // the load balancer's listeners, target groups and targets (3), the
    // server group's launch template version and policies (2) are 11
    // requests that no keel can do without (nothing else tells drift), so
    // the last one starts 10 / rate after the first. (The chain counted
    // only the 3 in a row before, which 20 requests a second cannot reach.)
    constexpr int kRefreshRequests = 11;
    steps.emplace_back("refresh", std::max(3 * L, (kRefreshRequests - 1) / double(o.rate_limit) + L));
    // DeleteLoadBalancer and the Describe that sees it gone.
    steps.emplace_back("load balancer", 2 * L);
    // One TerminateInstances for all, the wait, the Describe that sees
    // them terminated.
    steps.emplace_back("servers", 2 * L + P);
    // DeleteSubnet beside DeleteSecurityGroup.
    steps.emplace_back("subnet", L);
    // DetachInternetGateway beside DisassociateRouteTable, their deletes,
    // DeleteVpc.
    steps.emplace_back("network", 3 * L);
  }
  Chain chain;
  for (const auto& [name, seconds] : steps) {
    chain.seconds += seconds;
    char part[64];
    std::snprintf(part, sizeof part, "%s%s %.2f", chain.steps.empty() ? "" : " + ", name, seconds);
    chain.steps += part;
  }
  return chain;
}

// One row: wall time, requests, and the ratio to the old bound (waits
// only) and to the true one (true_chain), each max'ed with requests/rate.
void report(const char* what, const Run& r, double old_chain, double true_chain, const Options& o, bool targeted) {
  double by_rate = double(r.requests) / o.rate_limit;
  double old_bound = std::max(old_chain, by_rate), true_bound = std::max(true_chain, by_rate);
  std::printf("  %-16s %8.1f %9ld %9.1f %9.1f %9.1f %9.2f %9.2f  %s\n", what, r.seconds, r.requests, old_chain,
              true_chain, by_rate, old_bound > 0 ? r.seconds / old_bound : 0.0,
              true_bound > 0 ? r.seconds / true_bound : 0.0,
              !targeted ? "" : (r.seconds <= 1.15 * true_bound ? "met (true <= 1.15)" : "MISS (true <= 1.15)"));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"keel against AWS's limits, in moto behind the contract proxy"};
  app.add_option("--servers", o.servers);
  app.add_option("--pending-seconds", o.pending_seconds);
  app.add_option("--latency-ms", o.latency_ms);
  app.add_option("--rate-limit", o.rate_limit, "requests per second");
  app.add_option("--parallelism", o.parallelism);
  app.add_option("--keel", o.keel);
  app.add_option("--proxy", o.proxy);
  app.add_option("--dir", o.dir);
  app.add_flag("--keep", o.keep);
  app.add_option("--proxy-log", o.proxy_log, "the proxy's log: a JSON line per request, with its time (for profiling)");
  CLI11_PARSE(app, argc, argv);
  if (o.keel.empty()) o.keel = beside_build("keel");
  o.proxy = fs::absolute(o.proxy).string();
  if (o.dir.empty()) {
    char pattern[] = "/tmp/keel-aws-bench.XXXXXX";
    o.dir = ::mkdtemp(pattern);
  }
  if (auto s = keel::files::write_atomic(o.dir + "/keel.yaml", stack_yaml(o)); !s) {
    std::fprintf(stderr, "%s\n", s.error().message().c_str());
    return 1;
  }
  Aws aws(o);
  const int resources = o.servers + 6;
  std::printf("aws_bench: %d resources (a network, 2 subnets, a security group, %d servers, a load balancer, a server group)\n",
              resources, o.servers);
  std::printf("moto + proxy: %.1f s pending, %d ms latency, %d requests/s; keel --parallelism %d\n\n", o.pending_seconds,
              o.latency_ms, o.rate_limit, o.parallelism);
  std::printf("  %-16s %8s %9s %9s %9s %9s %9s %9s\n", "command", "wall s", "requests", "old ch s", "true ch s",
              "rate s", "old ratio", "ratio");
  const std::string par = std::to_string(o.parallelism);
  const Chain apply_chain = true_chain(o, false), destroy_chain = true_chain(o, true);
  Run apply = timed_keel(o, aws, {"apply", "--auto-approve", "--parallelism", par});
  report("apply", apply, 3 * o.pending_seconds, apply_chain.seconds, o, true);
  Run plan = timed_keel(o, aws, {"plan", "--parallelism", par});
  report("plan (refresh)", plan, 0, 0, o, false);
  // Destroy waits for the instances to terminate (shutting-down), then the rest.
  Run destroy = timed_keel(o, aws, {"destroy", "--auto-approve", "--parallelism", par});
  report("destroy", destroy, o.pending_seconds, destroy_chain.seconds, o, true);
  std::printf("\ntrue chain of apply:   %s = %.2f s\n", apply_chain.steps.c_str(), apply_chain.seconds);
  std::printf("true chain of destroy: %s = %.2f s\n", destroy_chain.steps.c_str(), destroy_chain.seconds);
  std::printf("\nplan read %d resources of %d kinds with %ld requests (%.2f per kind): %s\n", resources, kKinds,
              plan.requests, double(plan.requests) / kKinds, plan.by_op.dump().c_str());
  std::printf("apply requests: %s\n", apply.by_op.dump().c_str());
  std::printf("destroy requests: %s\n", destroy.by_op.dump().c_str());
  if (!o.keep) (void)keel::files::remove_all(o.dir);
  return 0;
}

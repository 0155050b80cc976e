// cli/fleet/exec (keel exec's fan-out) against a fake HostRunner: the
// --forks bound, results in host order whatever order hosts finish in,
// unreachable hosts that do not stop the others, output split into lines
// per stream; and cli/views/exec_view (summary, --json, address ranges).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "cli/fleet/exec.h"
#include "cli/views/exec_view.h"

using namespace keel;
using namespace std::chrono_literals;

namespace {

ssh::Host make_host(const std::string& address, int port = 22) {
  ssh::Host h;
  h.address = address;
  h.target.host = "127.0.0.1";
  h.target.port = port;
  h.target.user = "root";
  return h;
}

std::vector<ssh::Host> make_hosts(const std::string& name, int count) {
  std::vector<ssh::Host> hosts;
  for (int i = 0; i < count; ++i) hosts.push_back(make_host(fmt::format("servers.{}[{}]", name, i), 2200 + i));
  return hosts;
}

// What the fake does for one host.
struct Script {
  std::optional<Error> connect_error;
  std::vector<std::pair<ssh::Stream, std::string>> chunks;
  Result<int> result = 0;
};

class FakeRunner : public fleet::HostRunner {
 public:
  std::map<std::string, Script> scripts;  // by address; none: exit 0, no output
  // When set, each run() waits (up to 10 s) until `hold_until_in_flight`
  // hosts are in flight at once, or every host has started: proves that the
  // bound is reached, not only respected.
  int hold_until_in_flight = 0;
  int total_hosts = 0;

  Status connect(const ssh::Host& host) override {
    {
      std::lock_guard lock(mu_);
      started_order_.push_back(host.address);
      ++started_;
      max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
      cv_.notify_all();
    }
    const auto it = scripts.find(host.address);
    if (it != scripts.end() && it->second.connect_error) {
      leave();
      return fail(*it->second.connect_error);
    }
    return {};
  }

  Result<int> run(const ssh::Host& host, const std::string& command, const ssh::OutputFn& on_output,
                  std::chrono::milliseconds timeout) override {
    {
      std::lock_guard lock(mu_);
      commands_.push_back(command);
      timeouts_.push_back(timeout);
    }
    if (hold_until_in_flight > 0) {
      std::unique_lock lock(mu_);
      const bool reached = cv_.wait_for(lock, 10s, [&] {
        return in_flight_ >= hold_until_in_flight || started_ >= total_hosts;
      });
      if (!reached) timed_out_ = true;
    }
    Result<int> result = 0;
    if (const auto it = scripts.find(host.address); it != scripts.end()) {
      for (const auto& [stream, data] : it->second.chunks) on_output(stream, data);
      result = it->second.result;
    }
    leave();
    return result;
  }

  int max_in_flight() {
    std::lock_guard lock(mu_);
    return max_in_flight_;
  }
  bool timed_out() {
    std::lock_guard lock(mu_);
    return timed_out_;
  }
  std::vector<std::string> started_order() {
    std::lock_guard lock(mu_);
    return started_order_;
  }
  std::vector<std::string> commands() {
    std::lock_guard lock(mu_);
    return commands_;
  }
  std::vector<std::chrono::milliseconds> timeouts() {
    std::lock_guard lock(mu_);
    return timeouts_;
  }

 private:
  void leave() {
    std::lock_guard lock(mu_);
    --in_flight_;
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0, max_in_flight_ = 0, started_ = 0;
  bool timed_out_ = false;
  std::vector<std::string> started_order_, commands_;
  std::vector<std::chrono::milliseconds> timeouts_;
};

fleet::ExecOptions options_with(int forks) {
  fleet::ExecOptions o;
  o.command = "uptime";
  o.forks = forks;
  return o;
}

}  // namespace

TEST_CASE("exec works on at most --forks hosts at once, and reaches the bound", "[unit][exec]") {
  for (int forks : {1, 3, 8}) {
    CAPTURE(forks);
    const auto hosts = make_hosts("web", 10);
    FakeRunner runner;
    runner.hold_until_in_flight = forks;
    runner.total_hosts = static_cast<int>(hosts.size());
    std::atomic<bool> in_hook{false};
    std::atomic<bool> overlapped{false};
    std::atomic<int> finished{0};
    fleet::ExecHooks hooks;
    hooks.on_finish = [&](const fleet::HostRun&) {
      if (in_hook.exchange(true)) overlapped = true;
      ++finished;
      in_hook = false;
    };
    const auto runs = fleet::run_on_hosts(hosts, options_with(forks), runner, hooks);
    REQUIRE_FALSE(runner.timed_out());
    CHECK(runner.max_in_flight() == forks);
    CHECK_FALSE(overlapped);
    CHECK(finished == 10);
    REQUIRE(runs.size() == 10);
    for (std::size_t i = 0; i < runs.size(); ++i) {
      CHECK(runs[i].address == hosts[i].address);
      CHECK(runs[i].ok());
    }
    // Hosts are started in the order given.
    const auto order = runner.started_order();
    if (forks == 1) {
      std::vector<std::string> want;
      for (const auto& h : hosts) want.push_back(h.address);
      CHECK(order == want);
    }
    CHECK(runner.commands() == std::vector<std::string>(10, "uptime"));
  }
}

TEST_CASE("exec: more forks than hosts, no hosts, and the timeout passed on", "[unit][exec]") {
  FakeRunner runner;
  auto opts = options_with(50);
  opts.timeout = 7s;
  const auto runs = fleet::run_on_hosts(make_hosts("db", 2), opts, runner);
  REQUIRE(runs.size() == 2);
  CHECK(runner.max_in_flight() <= 2);
  CHECK(runner.timeouts() == std::vector<std::chrono::milliseconds>(2, 7000ms));
  CHECK(fleet::run_on_hosts({}, opts, runner).empty());
}

TEST_CASE("exec: a host down, refusing the key or with a changed key does not stop the others", "[unit][exec]") {
  auto hosts = make_hosts("web", 6);
  FakeRunner runner;
  runner.scripts["servers.web[1]"].connect_error =
      Error(ErrorCode::Unavailable, "connect root@127.0.0.1:2201: Connection refused");
  runner.scripts["servers.web[2]"].connect_error =
      Error(ErrorCode::Conflict, "root@127.0.0.1:2202: the host key has changed");
  runner.scripts["servers.web[3]"].result = 3;
  runner.scripts["servers.web[4]"].result = fail(ErrorCode::Timeout, "root@127.0.0.1:2204: timed out after 5s");
  runner.scripts["servers.web[5]"].connect_error =
      Error(ErrorCode::PermissionDenied, "root@127.0.0.1:2205: the key was refused");
  std::vector<std::string> finished;
  fleet::ExecHooks hooks;
  hooks.on_finish = [&](const fleet::HostRun& r) { finished.push_back(r.address); };
  const auto runs = fleet::run_on_hosts(hosts, options_with(2), runner, hooks);
  REQUIRE(runs.size() == 6);
  CHECK(finished.size() == 6);

  CHECK(runs[0].outcome == fleet::Outcome::Exited);
  CHECK(runs[0].exit_status == 0);
  CHECK_FALSE(runs[0].error);
  CHECK(runs[0].host == hosts[0].target.describe());

  CHECK(runs[1].outcome == fleet::Outcome::Unreachable);
  CHECK_FALSE(runs[1].exit_status);
  REQUIRE(runs[1].error);
  CHECK(runs[1].error->code() == ErrorCode::Unavailable);

  CHECK(runs[2].outcome == fleet::Outcome::Unreachable);
  CHECK(runs[2].error->message().find("host key has changed") != std::string::npos);

  CHECK(runs[3].outcome == fleet::Outcome::Exited);
  CHECK(runs[3].exit_status == 3);
  CHECK_FALSE(runs[3].ok());

  CHECK(runs[4].outcome == fleet::Outcome::Failed);
  CHECK_FALSE(runs[4].exit_status);
  CHECK(runs[4].error->code() == ErrorCode::Timeout);

  CHECK(runs[5].outcome == fleet::Outcome::Unreachable);

  const auto s = fleet::summarize(runs);
  CHECK(s.ok == 1);
  CHECK(s.failed == 2);
  CHECK(s.unreachable == 3);
  CHECK_FALSE(s.all_ok());

  SECTION("the summary names every host and reason") {
    const auto text = views::render_exec_summary(runs, 1500ms);
    CHECK(text.find("exit 0: 1 host: servers.web[0]\n") != std::string::npos);
    CHECK(text.find("exit 3: 1 host: servers.web[3]\n") != std::string::npos);
    CHECK(text.find("did not finish: 1 host\n  servers.web[4]: root@127.0.0.1:2204: timed out after 5s\n") !=
          std::string::npos);
    CHECK(text.find("unreachable: 3 hosts\n") != std::string::npos);
    CHECK(text.find("  servers.web[1]: connect root@127.0.0.1:2201: Connection refused\n") != std::string::npos);
    CHECK(text.find("  servers.web[2]: root@127.0.0.1:2202: the host key has changed\n") != std::string::npos);
    CHECK(text.find("1 ok, 2 failed, 3 unreachable (6 hosts) in 1.5s\n") != std::string::npos);
    // Exit statuses in order: 0 before 3.
    CHECK(text.find("exit 0:") < text.find("exit 3:"));
  }

  SECTION("--json") {
    const auto doc = views::exec_to_json("uptime", runs, {"servers.local"}, 1500ms, 1);
    CHECK(doc["command"] == "uptime");
    CHECK(doc["exit_code"] == 1);
    CHECK(doc["duration_ms"] == 1500);
    CHECK(doc["skipped"] == nlohmann::json::array({"servers.local"}));
    CHECK(doc["summary"] == nlohmann::json({{"hosts", 6}, {"ok", 1}, {"failed", 2}, {"unreachable", 3}}));
    REQUIRE(doc["hosts"].size() == 6);
    const auto& h0 = doc["hosts"][0];
    for (const char* key : {"address", "host", "outcome", "exit_status", "output", "error", "duration_ms"})
      CHECK(h0.contains(key));
    CHECK(h0["exit_status"] == 0);
    CHECK(h0["error"].is_null());
    CHECK(h0["outcome"] == "exited");
    const auto& h1 = doc["hosts"][1];
    CHECK(h1["exit_status"].is_null());
    CHECK(h1["outcome"] == "unreachable");
    CHECK(h1["error_kind"] == "unavailable");
    CHECK(h1["error"] == "connect root@127.0.0.1:2201: Connection refused");
    CHECK(doc["hosts"][4]["outcome"] == "failed");
  }

  SECTION("problem lines and group headers") {
    CHECK(views::exec_problem_line(runs[0], 14).empty());
    CHECK(views::exec_problem_line(runs[1], 16) ==
          "servers.web[1]   ! unreachable: connect root@127.0.0.1:2201: Connection refused\n");
    const auto header = views::render_exec_group(runs[3]);
    CHECK(header.rfind("--- servers.web[3] (root@127.0.0.1:2203): exit 3 in ", 0) == 0);
  }
}

TEST_CASE("exec splits each stream into whole lines as output arrives", "[unit][exec]") {
  const auto hosts = make_hosts("web", 1);
  FakeRunner runner;
  runner.scripts["servers.web[0]"].chunks = {
      {ssh::Stream::Stdout, "hel"},     {ssh::Stream::Stderr, "e1\ne"},
      {ssh::Stream::Stdout, "lo\nwor"}, {ssh::Stream::Stdout, "ld\r\n\nlast"},
      {ssh::Stream::Stderr, "2"},
  };
  std::vector<std::pair<ssh::Stream, std::string>> lines;
  fleet::ExecHooks hooks;
  hooks.on_line = [&](const ssh::Host& h, ssh::Stream stream, std::string_view line) {
    CHECK(h.address == "servers.web[0]");
    lines.emplace_back(stream, std::string(line));
  };
  auto opts = options_with(4);
  const auto runs = fleet::run_on_hosts(hosts, opts, runner, hooks);
  const std::vector<std::pair<ssh::Stream, std::string>> want = {
      {ssh::Stream::Stderr, "e1"}, {ssh::Stream::Stdout, "hello"}, {ssh::Stream::Stdout, "world"},
      {ssh::Stream::Stdout, ""},   {ssh::Stream::Stdout, "last"},  {ssh::Stream::Stderr, "e2"},
  };
  CHECK(lines == want);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].output == "hele1\nelo\nworld\r\n\nlast2");

  SECTION("output is not kept unless asked") {
    opts.collect_output = false;
    lines.clear();
    const auto again = fleet::run_on_hosts(hosts, opts, runner, hooks);
    CHECK(again[0].output.empty());
    CHECK(lines == want);
  }
}

TEST_CASE("exec view: address ranges and aligned lines", "[unit][exec]") {
  using views::compact_addresses;
  CHECK(compact_addresses({}) == "");
  CHECK(compact_addresses({"servers.db"}) == "servers.db");
  CHECK(compact_addresses({"servers.web[0]", "servers.web[1]", "servers.web[2]", "servers.web[5]", "servers.db",
                           "servers.web[7]"}) == "servers.web[0-2,5], servers.db, servers.web[7]");
  CHECK(compact_addresses({"servers.a[9]", "servers.a[10]", "servers.b[0]"}) == "servers.a[9-10], servers.b[0]");
  CHECK(compact_addresses({"servers.x[]", "servers.y[a]"}) == "servers.x[], servers.y[a]");
  CHECK(views::exec_line("servers.h1", 12, "hi") == "servers.h1   | hi\n");
  CHECK(views::exec_line("servers.web[10]", 4, "") == "servers.web[10] | \n");
}

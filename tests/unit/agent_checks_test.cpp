// The agent's check runners without any service: system checks against this
// machine, tcp against a listener the test opens, exec checks with small
// shell scripts, and fake peers (in-process sockets) that answer badly or not
// at all, for the network checks' error paths.

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "agent/checks/check.h"
#include "core/files.h"
#include "core/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/eventually.h"

namespace {

using keel::testing::TempDir;
using keel::testing::eventually;

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using keel::agent::CheckResult;
using keel::agent::kMaxCheckOutput;
using keel::checks::CheckSpec;
using keel::checks::CheckStatus;
using Clock = std::chrono::steady_clock;

CheckSpec spec_of(keel::checks::CheckParams params, std::chrono::milliseconds timeout = 5s) {
  CheckSpec spec;
  spec.name = "test";
  spec.timeout = timeout;
  spec.params = std::move(params);
  return spec;
}

CheckResult run(keel::checks::CheckParams params, std::chrono::milliseconds timeout = 5s) {
  return keel::agent::run_check(spec_of(std::move(params), timeout));
}

CheckResult sh(const std::string& script, std::chrono::milliseconds timeout = 5s) {
  return run(keel::checks::ExecCheck{{"/bin/sh", "-c", script}}, timeout);
}

keel::checks::HttpCheck http_to(const std::string& url) {
  keel::checks::HttpCheck check;
  check.url = url;
  return check;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Live (not zombie) processes whose process group is `pgid`.
std::vector<long> live_members(long pgid) {
  std::vector<long> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = file_text(fmt::format("/proc/{}/stat", name));
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size()) continue;
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (std::sscanf(stat.c_str() + paren + 2, "%c %ld %ld", &state, &ppid, &pgrp) != 3) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') found.push_back(std::stol(name));
  }
  return found;
}

// A TCP listener on 127.0.0.1 that accepts but never answers.
struct Listener {
  int fd = -1;
  int port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
  }
  ~Listener() { ::close(fd); }
};

// A peer that accepts connections and, after the first bytes arrive, sends
// `reply` (nothing when empty) and then keeps the connection open until the
// end of the test (or closes it, when asked).
class FakePeer {
 public:
  explicit FakePeer(std::string reply, bool close_after_reply = false)
      : reply_(std::move(reply)), close_after_(close_after_reply) {
    thread_ = std::thread([this] { serve(); });
  }
  ~FakePeer() {
    stop_ = true;
    thread_.join();
    for (int fd : clients_) ::close(fd);
  }
  int port() const { return listener_.port; }

 private:
  void serve() {
    while (!stop_) {
      pollfd pfd{listener_.fd, POLLIN, 0};
      if (::poll(&pfd, 1, 20) <= 0) continue;
      int client = ::accept4(listener_.fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      pollfd in{client, POLLIN, 0};
      char buf[4096];
      if (::poll(&in, 1, 2000) > 0) (void)!::recv(client, buf, sizeof buf, 0);
      if (!reply_.empty()) (void)!::send(client, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      if (close_after_) ::close(client);
      else clients_.push_back(client);
    }
  }

  Listener listener_;
  std::string reply_;
  bool close_after_;
  std::atomic<bool> stop_{false};
  std::vector<int> clients_;
  std::thread thread_;
};

}  // namespace

// ---- truncate_output ------------------------------------------------------------

TEST_CASE("truncate_output keeps short text and marks a cut", "[unit][agent][checks]") {
  CHECK(keel::agent::truncate_output("short") == "short");
  const std::string exact(kMaxCheckOutput, 'x');
  CHECK(keel::agent::truncate_output(exact) == exact);
  const std::string cut = keel::agent::truncate_output(std::string(kMaxCheckOutput + 1, 'x'));
  CHECK(cut.size() <= kMaxCheckOutput);
  CHECK(contains(cut, "(truncated)"));
}

TEST_CASE("truncate_output never splits a UTF-8 character", "[unit][agent][checks]") {
  std::string text;
  while (text.size() < 100) text += "\xC3\xA9";  // é, two bytes each
  for (size_t limit = 20; limit < 30; ++limit) {
    std::string cut = keel::agent::truncate_output(text, limit);
    CHECK(cut.size() <= limit);
    size_t marker = cut.find('\n');
    REQUIRE(marker != std::string::npos);
    CHECK(marker % 2 == 0);  // whole characters before the marker
  }
}

// ---- system checks ----------------------------------------------------------------

TEST_CASE("disk check on / follows its thresholds", "[unit][agent][checks]") {
  auto passing = run(keel::checks::DiskCheck{"/", -1, -1});
  CHECK(passing.status == CheckStatus::Passing);
  CHECK(contains(passing.output, "% free ("));
  CHECK(contains(passing.output, " on /"));
  CHECK(contains(passing.output, "iB of "));
  CHECK(run(keel::checks::DiskCheck{"/", 101, -1}).status == CheckStatus::Warning);
  CHECK(run(keel::checks::DiskCheck{"/", 101, 101}).status == CheckStatus::Critical);
  auto missing = run(keel::checks::DiskCheck{"/no/such/keel/path", 20, 10});
  CHECK(missing.status == CheckStatus::Unknown);
  CHECK(contains(missing.output, "No such file or directory"));
}

TEST_CASE("memory check reads MemAvailable", "[unit][agent][checks]") {
  auto passing = run(keel::checks::MemoryCheck{-1, -1});
  CHECK(passing.status == CheckStatus::Passing);
  CHECK(contains(passing.output, "% available ("));
  CHECK(run(keel::checks::MemoryCheck{101, -1}).status == CheckStatus::Warning);
  CHECK(run(keel::checks::MemoryCheck{101, 101}).status == CheckStatus::Critical);
}

TEST_CASE("load check compares the 1-minute load, per CPU or not", "[unit][agent][checks]") {
  auto per_cpu = run(keel::checks::LoadCheck{1e9, 1e9, true});
  CHECK(per_cpu.status == CheckStatus::Passing);
  CHECK(contains(per_cpu.output, "per CPU"));
  auto total = run(keel::checks::LoadCheck{1e9, 1e9, false});
  CHECK(total.status == CheckStatus::Passing);
  CHECK(total.output.rfind("load ", 0) == 0);
  CHECK_FALSE(contains(total.output, "per CPU"));
  // Any load is at or above 0.
  CHECK(run(keel::checks::LoadCheck{0, 1e9, true}).status == CheckStatus::Warning);
  CHECK(run(keel::checks::LoadCheck{0, 0, false}).status == CheckStatus::Critical);
}

TEST_CASE("process check counts by comm and by argv[0]", "[unit][agent][checks]") {
  // This test program itself, by its comm (at most 15 characters).
  std::string comm = file_text("/proc/self/comm");
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  auto self = run(keel::checks::ProcessCheck{comm, 1, -1});
  CHECK(self.status == CheckStatus::Passing);
  CHECK(contains(self.output, fmt::format("named {}", comm)));
  CHECK(run(keel::checks::ProcessCheck{comm, 1, 0}).status == CheckStatus::Warning);

  auto none = run(keel::checks::ProcessCheck{"keel-no-such-process", 1, -1});
  CHECK(none.status == CheckStatus::Critical);
  CHECK(contains(none.output, "0 processes named keel-no-such-process (at least 1 expected)"));
  CHECK(run(keel::checks::ProcessCheck{"keel-no-such-process", 0, -1}).status == CheckStatus::Passing);

  // A process whose argv[0] differs from its comm ("sleep"), and is longer
  // than a comm can be.
  const std::string name = "keel-argv0-test-name";
  auto child = keel::process::Child::start({{"bash", "-c", fmt::format("exec -a {} sleep 30", name)}, {}});
  REQUIRE(child);
  CHECK(eventually([&] { return run(keel::checks::ProcessCheck{name, 1, -1}).status == CheckStatus::Passing; }));
  auto exact = run(keel::checks::ProcessCheck{name, 1, 1});
  CHECK(exact.status == CheckStatus::Passing);
  CHECK(contains(exact.output, fmt::format("1 process named {}", name)));
}

// ---- tcp --------------------------------------------------------------------------

TEST_CASE("tcp check connects to a listener and fails on a closed port", "[unit][agent][checks]") {
  Listener listener;
  auto open = run(keel::checks::TcpCheck{"127.0.0.1", listener.port});
  CHECK(open.status == CheckStatus::Passing);
  CHECK(contains(open.output, fmt::format("connected to 127.0.0.1:{} in ", listener.port)));

  auto by_name = run(keel::checks::TcpCheck{"localhost", listener.port});
  CHECK(by_name.status == CheckStatus::Passing);

  auto port = keel::process::free_local_port();
  REQUIRE(port);
  auto closed = run(keel::checks::TcpCheck{"127.0.0.1", *port});
  CHECK(closed.status == CheckStatus::Critical);
  CHECK(contains(closed.output, "Connection refused"));

  CHECK(run(keel::checks::TcpCheck{"127.0.0.1", 0}).status == CheckStatus::Critical);
  auto unknown_name = run(keel::checks::TcpCheck{"keel-no-such-host.invalid", 80}, 3s);
  CHECK(unknown_name.status == CheckStatus::Critical);
}

// ---- exec ---------------------------------------------------------------------------

TEST_CASE("exec check maps exit codes the Nagios way", "[unit][agent][checks]") {
  auto ok = sh("echo 'OK - all fine'; exit 0");
  CHECK(ok.status == CheckStatus::Passing);
  CHECK(ok.output == "OK - all fine");
  CHECK(sh("echo warn; exit 1").status == CheckStatus::Warning);
  CHECK(sh("echo crit >&2; exit 2").status == CheckStatus::Critical);
  CHECK(sh("echo crit >&2; exit 2").output == "crit");
  CHECK(sh("exit 3").status == CheckStatus::Unknown);
  auto other = sh("exit 42");
  CHECK(other.status == CheckStatus::Unknown);
  CHECK(other.output == "exit status 42");  // a silent plugin still says how it ended
  // stdin is /dev/null: a plugin that reads it does not wait.
  CHECK(sh("cat; echo read").output == "read");
}

TEST_CASE("exec check keeps the first 4 KiB of a 10 MB output and returns promptly", "[unit][agent][checks]") {
  auto start = Clock::now();
  auto big = sh("head -c 10000000 /dev/zero | tr '\\000' x; exit 1", 20s);
  CHECK(Clock::now() - start < 10s);
  CHECK(big.status == CheckStatus::Warning);
  CHECK(big.output.size() <= kMaxCheckOutput);
  CHECK(big.output.size() > kMaxCheckOutput - 100);
  CHECK(big.output.rfind("xxxx", 0) == 0);
  CHECK(contains(big.output, "(truncated)"));
}

TEST_CASE("exec check kills the whole group at the timeout", "[unit][agent][checks]") {
  TempDir dir;
  const std::string pid_file = dir.path + "/pid";
  auto start = Clock::now();
  auto result = sh(fmt::format("echo $$ > {}; echo started; sleep 60 & sleep 60", pid_file), 1s);
  auto took = Clock::now() - start;
  CHECK(took < 2s);
  CHECK(took >= 1s);
  CHECK(result.status == CheckStatus::Critical);
  CHECK(result.output.rfind("timed out after 1s", 0) == 0);
  CHECK(contains(result.output, "started"));
  const long pgid = std::atol(file_text(pid_file).c_str());
  REQUIRE(pgid > 0);
  CHECK(eventually([&] { return live_members(pgid).empty(); }, 5s));
}

TEST_CASE("exec check kills what a plugin leaves behind in its group", "[unit][agent][checks]") {
  TempDir dir;
  const std::string pid_file = dir.path + "/pid";
  auto start = Clock::now();
  // The background sleep also holds the output pipe open.
  auto result = sh(fmt::format("echo $$ > {}; sleep 60 & echo done", pid_file), 10s);
  CHECK(Clock::now() - start < 2s);
  CHECK(result.status == CheckStatus::Passing);
  CHECK(result.output == "done");
  const long pgid = std::atol(file_text(pid_file).c_str());
  REQUIRE(pgid > 0);
  CHECK(eventually([&] { return live_members(pgid).empty(); }, 5s));
}

TEST_CASE("exec check reports a crash and a missing binary as unknown", "[unit][agent][checks]") {
  auto crashed = sh("echo before; kill -SEGV $$");
  CHECK(crashed.status == CheckStatus::Unknown);
  CHECK(contains(crashed.output, "killed by signal 11 (Segmentation fault)"));
  CHECK(contains(crashed.output, "before"));

  auto missing = run(keel::checks::ExecCheck{{"/nonexistent/keel-check-plugin"}});
  CHECK(missing.status == CheckStatus::Unknown);
  CHECK(contains(missing.output, "cannot run /nonexistent/keel-check-plugin: No such file or directory"));
  auto not_on_path = run(keel::checks::ExecCheck{{"keel-no-such-plugin"}});
  CHECK(not_on_path.status == CheckStatus::Unknown);
  CHECK(contains(not_on_path.output, "keel-no-such-plugin"));
  CHECK(run(keel::checks::ExecCheck{}).status == CheckStatus::Unknown);
}

TEST_CASE("process::run max_output keeps the first bytes and drains the rest", "[unit][agent][checks]") {
  keel::process::Options options;
  options.argv = {"sh", "-c", "echo first; head -c 3000000 /dev/zero; echo; echo last"};
  options.max_output = 6;
  auto outcome = keel::process::run(options);
  REQUIRE(outcome);
  CHECK(outcome->exit_code == 0);
  CHECK(outcome->output == "first\n");
  CHECK(outcome->output_truncated);

  options.max_output = 0;  // the default is unchanged: the last MiB
  outcome = keel::process::run(options);
  REQUIRE(outcome);
  CHECK(outcome->output.size() == (1u << 20));
  CHECK(outcome->output.substr(outcome->output.size() - 5) == "last\n");
  CHECK_FALSE(outcome->output_truncated);
}

// ---- bad peers ------------------------------------------------------------------------

TEST_CASE("redis check against peers that answer badly or not at all", "[unit][agent][checks]") {
  SECTION("garbage") {
    FakePeer peer("hello there\r\n");
    auto result = run(keel::checks::RedisCheck{"127.0.0.1", peer.port(), "", "", ""}, 2s);
    CHECK(result.status == CheckStatus::Critical);
    CHECK(contains(result.output, "not RESP"));
  }
  SECTION("silence: bounded by the timeout") {
    FakePeer peer("");
    auto start = Clock::now();
    auto result = run(keel::checks::RedisCheck{"127.0.0.1", peer.port(), "", "", ""}, 500ms);
    CHECK(Clock::now() - start < 1500ms);
    CHECK(result.status == CheckStatus::Critical);
    CHECK(contains(result.output, "timed out"));
  }
  SECTION("hang-up") {
    FakePeer peer("+PONG\r\n", true);
    auto result = run(keel::checks::RedisCheck{"127.0.0.1", peer.port(), "", "", ""}, 2s);
    CHECK(result.status == CheckStatus::Critical);
    CHECK(contains(result.output, "closed the connection"));
  }
  SECTION("a replica, as `slave`") {
    FakePeer peer("+PONG\r\n*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n:42\r\n");
    auto any = run(keel::checks::RedisCheck{"127.0.0.1", peer.port(), "", "", ""}, 2s);
    CHECK(any.status == CheckStatus::Passing);
    CHECK(contains(any.output, "PONG, role slave in "));
    CHECK(run(keel::checks::RedisCheck{"127.0.0.1", peer.port(), "", "", "replica"}, 2s).status ==
          CheckStatus::Passing);
    auto wrong = run(keel::checks::RedisCheck{"127.0.0.1", peer.port(), "", "", "master"}, 2s);
    CHECK(wrong.status == CheckStatus::Critical);
    CHECK(contains(wrong.output, "(expected master)"));
  }
  SECTION("a huge bulk length") {
    FakePeer peer("+PONG\r\n$99999999999\r\n");
    CHECK(run(keel::checks::RedisCheck{"127.0.0.1", peer.port(), "", "", ""}, 2s).status == CheckStatus::Critical);
  }
}

TEST_CASE("http check against peers that answer badly or not at all", "[unit][agent][checks]") {
  SECTION("a minimal valid response") {
    FakePeer peer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", true);
    auto result = run(http_to(fmt::format("http://127.0.0.1:{}/", peer.port())), 2s);
    CHECK(result.status == CheckStatus::Passing);
    CHECK(result.output.rfind("HTTP 200 OK in ", 0) == 0);
  }
  SECTION("429 warns, unless a status list is given") {
    FakePeer peer("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", true);
    auto check = http_to(fmt::format("http://127.0.0.1:{}/", peer.port()));
    auto throttled = run(check, 2s);
    CHECK(throttled.status == CheckStatus::Warning);
    CHECK(contains(throttled.output, "HTTP 429 Too Many Requests in "));
    check.expect_status = {200};
    auto listed = run(check, 2s);
    CHECK(listed.status == CheckStatus::Critical);
    CHECK(contains(listed.output, "(expected 200)"));
  }
  SECTION("garbage") {
    FakePeer peer("garbage\r\n\r\n", true);
    auto result = run(http_to(fmt::format("http://127.0.0.1:{}/", peer.port())), 2s);
    CHECK(result.status == CheckStatus::Critical);
  }
  SECTION("silence: bounded by the timeout") {
    FakePeer peer("");
    auto start = Clock::now();
    auto result = run(http_to(fmt::format("http://127.0.0.1:{}/", peer.port())), 500ms);
    CHECK(Clock::now() - start < 1500ms);
    CHECK(result.status == CheckStatus::Critical);
    CHECK(contains(result.output, "timed out"));
  }
  SECTION("a closed port") {
    auto port = keel::process::free_local_port();
    REQUIRE(port);
    auto result = run(http_to(fmt::format("http://127.0.0.1:{}/", *port)), 2s);
    CHECK(result.status == CheckStatus::Critical);
  }
  SECTION("not http") {
    auto result = run(http_to("file:///etc/passwd"), 2s);
    CHECK(result.status == CheckStatus::Critical);
  }
}

TEST_CASE("http and graphql expectations against hostile answers", "[unit][agent][checks]") {
  SECTION("JSON nested 30000 deep is refused, not parsed") {
    const std::string body = std::string(30000, '[') + std::string(30000, ']');
    FakePeer peer(fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", body.size(), body),
                  true);
    auto check = http_to(fmt::format("http://127.0.0.1:{}/", peer.port()));
    check.expect_json = {{"$[0]", 1}};
    auto result = run(check, 2s);
    CHECK(result.status == CheckStatus::Critical);
    CHECK(contains(result.output, "nests deeper than 64 levels"));
    keel::checks::GraphqlCheck graphql;
    graphql.url = check.url;
    graphql.query = "{ status }";
    CHECK(contains(run(graphql, 2s).output, "nests deeper than 64 levels"));
  }
  SECTION("terminal escapes and long values in the output are defused and cut") {
    const std::string body = R"({"data": null, "errors": [{"message": "\u001b[2J)" + std::string(5000, 'x') + R"("}]})";
    // Server: one of the headers whose value the output may show.
    FakePeer peer(fmt::format("HTTP/1.1 200 OK\r\nServer: \x1b[31m{}\r\nX-Token: secret\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                              std::string(6000, 'v'), body.size(), body),
                  true);
    auto check = http_to(fmt::format("http://127.0.0.1:{}/", peer.port()));
    check.expect_headers = {{"Server", "^w"}, {"X-Token", "^w"}};
    auto header = run(check, 2s);
    INFO(header.output);
    CHECK(header.status == CheckStatus::Critical);
    CHECK(contains(header.output, "header Server \"\\e[31mvvv"));
    CHECK(contains(header.output, "header X-Token (its value is not shown)"));
    CHECK_FALSE(contains(header.output, "secret"));
    CHECK(header.output.find('\x1b') == std::string::npos);
    CHECK(header.output.size() < 300);
    keel::checks::GraphqlCheck graphql;
    graphql.url = check.url;
    graphql.query = "{ status }";
    auto errors = run(graphql, 2s);
    INFO(errors.output);
    CHECK(errors.status == CheckStatus::Critical);
    CHECK(contains(errors.output, "GraphQL error: \"\\e[2Jxxx"));
    CHECK(errors.output.find('\x1b') == std::string::npos);
    CHECK(errors.output.size() < 400);
  }
}

TEST_CASE("postgres check against peers that answer badly or not at all", "[unit][agent][checks]") {
  SECTION("garbage") {
    FakePeer peer("garbage");
    auto result = run(keel::checks::PostgresCheck{
        fmt::format("host=127.0.0.1 port={} dbname=x user=x password=s3cret-value", peer.port()), "SELECT 1"}, 2s);
    CHECK(result.status == CheckStatus::Critical);
    CHECK_FALSE(contains(result.output, "s3cret-value"));
    CHECK(result.output.find('\n') == std::string::npos);
  }
  SECTION("silence: bounded by the timeout") {
    FakePeer peer("");
    auto start = Clock::now();
    auto result = run(keel::checks::PostgresCheck{
        fmt::format("host=127.0.0.1 port={} dbname=x user=x sslmode=disable", peer.port()), "SELECT 1"}, 500ms);
    CHECK(Clock::now() - start < 1500ms);
    CHECK(result.status == CheckStatus::Critical);
    CHECK(contains(result.output, "timed out"));
  }
  SECTION("an invalid conninfo") {
    auto result = run(keel::checks::PostgresCheck{"host=127.0.0.1 nonsense_key=1", "SELECT 1"}, 2s);
    CHECK(result.status == CheckStatus::Critical);
    CHECK(contains(result.output, "nonsense_key"));
  }
}

// ---- concurrency ------------------------------------------------------------------------

TEST_CASE("checks run concurrently from several threads", "[unit][agent][checks]") {
  FakePeer peer("");  // accepts every connection (a bare listener's backlog would fill up)
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 5; ++round) {
        const std::string text = fmt::format("thread {} round {}", i, round);
        auto exec = sh(fmt::format("echo '{}'; exit 1", text));
        if (exec.status != CheckStatus::Warning || exec.output != text) ++wrong;
        if (run(keel::checks::TcpCheck{"127.0.0.1", peer.port()}).status != CheckStatus::Passing) ++wrong;
        if (run(keel::checks::DiskCheck{"/", -1, -1}).status != CheckStatus::Passing) ++wrong;
        if (run(keel::checks::ProcessCheck{"keel-no-such-process", 0, -1}).status != CheckStatus::Passing) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
}

// keel-agent as a real process: its API over TLS with the bearer token,
// checks against targets this test serves, reloads through PUT /v1/config
// and SIGHUP, /metrics through promtool, logs, and the webhook.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "agent/config.h"

#include "core/files.h"
#include "core/http_client.h"
#include "core/process.h"
#include "core/tls.h"
#include "tests/support/temp_dir.h"
#include "tests/support/eventually.h"

using namespace keel;
using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using keel::testing::TempDir;
using keel::testing::eventually;

std::string build_dir() {
  const char* dir = std::getenv("KEEL_BUILD_DIR");
  if (!dir) FAIL("KEEL_BUILD_DIR is not set (ctest sets it)");
  return dir;
}

process::Options command(std::vector<std::string> argv) {
  process::Options options;
  options.argv = std::move(argv);
  return options;
}

// An HTTP target whose /healthz answers with `status` (changeable), and
// which records POSTs to /hook (for the webhook).
class Target {
 public:
  Target() {
    server_.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      res.status = status;
      res.set_content("all good", "text/plain");
    });
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      hooks_.push_back(req.body);
      res.status = 204;
    });
    port = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    eventually([this] { return server_.is_running(); });
  }
  ~Target() {
    server_.stop();
    thread_.join();
  }
  std::vector<std::string> hooks() {
    std::lock_guard lock(mutex_);
    return hooks_;
  }
  std::atomic<int> status{200};
  int port = 0;

 private:
  httplib::Server server_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> hooks_;
};

// One keel-agent with TLS and a token, in its own directory.
class AgentUnderTest {
 public:
  AgentUnderTest(const TempDir& dir, const std::string& checks_yaml, const std::string& extra = "", bool tls = true)
      : tls_(tls), dir_(dir) {
    auto certs = tls::generate_local_certificates();
    REQUIRE(certs);
    ca = certs->ca_cert_pem;
    REQUIRE(files::write_atomic(dir / "agent.crt", certs->server_cert_pem, 0644));
    REQUIRE(files::write_atomic(dir / "agent.key", certs->server_key_pem, 0600));
    REQUIRE(files::write_atomic(dir / "ca.crt", ca, 0644));
    token = "tok-" + std::to_string(::getpid()) + "-0123456789abcdef";
    REQUIRE(files::write_atomic(dir / "token", token + "\n", 0600));
    auto port_or = process::free_local_port();
    REQUIRE(port_or);
    port = *port_or;
    config_path = dir / "agent.yaml";
    REQUIRE(files::write_atomic(config_path, config_text(checks_yaml) + extra, 0600));
    start();
  }
  ~AgentUnderTest() { stop(); }

  std::string config_text(const std::string& checks_yaml) const {
    return "listen: 127.0.0.1:" + std::to_string(port) + "\ntoken_file: token\n" +
           (tls_ ? "tls: { cert: agent.crt, key: agent.key }\n" : "") + "checks:\n" + checks_yaml;
  }

  void start() {
    std::string command = "exec '" + build_dir() + "/keel-agent' --config '" + config_path +
                          "' --log-format json 2>>'" + (dir_ / "agent.log") + "'";
    auto child = process::Child::start({.argv = {"/bin/sh", "-c", command}, .env = {}});
    REQUIRE(child);
    child_.emplace(std::move(*child));
    REQUIRE(eventually([&] {
      auto r = call("GET", "/v1/ping", "", false);
      return r && r->status == 200;
    }));
  }

  void stop() {
    if (!child_) return;
    child_->kill(SIGTERM);
    child_->wait();
    child_.reset();
  }

  void signal(int sig) { child_->kill(sig); }

  Result<http::Response> call(const std::string& method, const std::string& path, const std::string& body = "",
                              bool with_token = true) {
    http::Request request;
    request.method = method;
    request.url = (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port) + path;
    request.ca_pem = ca;
    request.body = body;
    request.timeout = 10s;
    if (with_token) request.bearer_token = token;
    return client_.send(request);
  }

  json get_json(const std::string& path) {
    auto r = call("GET", path);
    REQUIRE(r);
    return json::parse(r->body);
  }

  std::string log() const { return files::read_file(dir_ / "agent.log").value_or(""); }

  // The agent's resident memory, from /proc (kB).
  long rss_kb() const {
    std::ifstream status("/proc/" + std::to_string(child_->pid()) + "/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
  }

  // The agent's threads, from /proc.
  long threads() const {
    const auto tasks = std::filesystem::directory_iterator("/proc/" + std::to_string(child_->pid()) + "/task");
    return std::distance(std::filesystem::begin(tasks), std::filesystem::end(tasks));
  }

  std::string ca, token, config_path;
  int port = 0;

 private:
  bool tls_;
  const TempDir& dir_;
  std::optional<process::Child> child_;
  http::CurlHttpClient client_;
};

std::string check_status(AgentUnderTest& agent, const std::string& name) {
  return agent.get_json("/v1/checks/" + name)["status"];
}

}  // namespace

TEST_CASE("agent: the API wants the token, answers JSON, and survives bad requests", "[agent]") {
  TempDir dir;
  Target target;
  AgentUnderTest agent(dir, "  web: { http: \"http://127.0.0.1:" + std::to_string(target.port) +
                                "/healthz\", interval: 200ms }\n");

  auto no_token = agent.call("GET", "/v1/health", "", false);
  REQUIRE(no_token);
  CHECK(no_token->status == 401);
  CHECK(json::parse(no_token->body)["error"].get<std::string>().find("Authorization") != std::string::npos);

  http::Request wrong;
  wrong.url = "https://127.0.0.1:" + std::to_string(agent.port) + "/v1/checks";
  wrong.ca_pem = agent.ca;
  wrong.bearer_token = "not-the-token-0123456789";
  http::CurlHttpClient client;
  auto bad = client.send(wrong);
  REQUIRE(bad);
  CHECK(bad->status == 401);

  auto missing = agent.call("GET", "/v1/checks/nope");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(json::parse(missing->body)["error"] == "no check named `nope`");
  auto no_route = agent.call("GET", "/v2/whatever");
  REQUIRE(no_route);
  CHECK(no_route->status == 404);
  CHECK(json::parse(no_route->body).contains("error"));

  auto broken = agent.call("PUT", "/v1/config", "checks: [unclosed");
  REQUIRE(broken);
  CHECK(broken->status == 400);
  CHECK(json::parse(broken->body)["error"].get<std::string>().find("request body:") != std::string::npos);

  auto huge = agent.call("PUT", "/v1/config", std::string(2 << 20, 'x'));
  REQUIRE(huge);
  CHECK(huge->status == 413);

  // Still alive and well after all that.
  REQUIRE(eventually([&] { return check_status(agent, "web") == "passing"; }));
  auto health = agent.call("GET", "/v1/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(json::parse(health->body)["status"] == "passing");

  // The token never reaches the log.
  agent.stop();
  CHECK(agent.log().find(agent.token) == std::string::npos);
  CHECK(agent.log().find("api error") != std::string::npos);
}

TEST_CASE("agent: health follows the worst check, as Consul's HTTP codes", "[agent]") {
  TempDir dir;
  Target target;
  std::string checks = "  web: { http: \"http://127.0.0.1:" + std::to_string(target.port) +
                       "/healthz\", interval: 1h }\n"
                       "  warn: { exec: [/bin/sh, -c, \"echo disk almost full; exit 1\"], interval: 1h }\n";
  AgentUnderTest agent(dir, checks);
  REQUIRE(eventually([&] { return check_status(agent, "warn") == "warning" && check_status(agent, "web") == "passing"; }));
  auto health = agent.call("GET", "/v1/health");
  CHECK(health->status == 429);
  CHECK(json::parse(health->body)["counts"]["warning"] == 1);
  CHECK(agent.get_json("/v1/checks/warn")["output"] == "disk almost full");

  target.status = 500;
  auto run = agent.call("POST", "/v1/checks/web/run");
  REQUIRE(run);
  CHECK(json::parse(run->body)["status"] == "critical");
  CHECK(agent.call("GET", "/v1/health")->status == 503);
  auto history = agent.get_json("/v1/checks/web")["history"];
  REQUIRE(history.size() == 2);
  CHECK(history[0]["status"] == "passing");
  CHECK(history[1]["status"] == "critical");

  // The status change reached the log as one line.
  agent.stop();
  bool seen = false;
  std::istringstream lines(agent.log());
  for (std::string line; std::getline(lines, line);) {
    auto j = json::parse(line, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());  // every line is JSON with --log-format json
    if (j["msg"] == "check status changed" && j["check"] == "web" && j["to"] == "critical") seen = true;
  }
  CHECK(seen);
}

TEST_CASE("agent: a hanging check is killed at its timeout and blocks nothing", "[agent]") {
  TempDir dir;
  AgentUnderTest agent(dir, "  hang: { exec: [/bin/sh, -c, \"sleep 60 & sleep 60\"], interval: 1h, timeout: 1s }\n"
                            "  ok: { exec: [/bin/true], interval: 200ms }\n");
  auto started = std::chrono::steady_clock::now();
  auto health = agent.call("GET", "/v1/health");
  REQUIRE(health);
  CHECK(std::chrono::steady_clock::now() - started < 1s);
  REQUIRE(eventually([&] { return agent.get_json("/v1/checks/ok")["runs"].get<int>() >= 3; }));
  REQUIRE(eventually([&] { return check_status(agent, "hang") == "critical"; }));
  CHECK(agent.get_json("/v1/checks/hang")["output"].get<std::string>().find("timed out") != std::string::npos);
}

TEST_CASE("agent: API handler threads start with requests and as many as run at once", "[agent]") {
  {
    // Nothing asked but /v1/ping (the express lane): main, the check and
    // job schedulers, the gate and the express worker; no idle handlers.
    TempDir dir;
    AgentUnderTest quiet(dir, "  {}\n");
    CHECK(quiet.threads() <= 5);
  }
  // Ten runs of one-second checks at once: eight handler threads answer
  // them in two rounds, not ten one after another.
  TempDir dir;
  std::string checks;
  for (int i = 0; i < 10; ++i)
    checks += fmt::format("  slow-{}: {{ exec: [/bin/sleep, \"1\"], interval: 1h, timeout: 5s }}\n", i);
  AgentUnderTest agent(dir, checks);
  REQUIRE(eventually([&] {
    for (const auto& check : agent.get_json("/v1/checks")["checks"])
      if (check["runs"].get<int>() < 1) return false;
    return true;
  }));
  std::vector<std::thread> clients;
  std::vector<long> statuses(10, 0);
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i)
    clients.emplace_back([&, i] {
      http::CurlHttpClient client;
      http::Request request;
      request.method = "POST";
      request.url = fmt::format("https://127.0.0.1:{}/v1/checks/slow-{}/run", agent.port, i);
      request.ca_pem = agent.ca;
      request.bearer_token = agent.token;
      request.timeout = 20s;
      if (auto r = client.send(request)) statuses[i] = r->status;
    });
  for (auto& client : clients) client.join();
  const auto elapsed = std::chrono::steady_clock::now() - started;
  for (long status : statuses) CHECK(status == 200);
  CHECK(elapsed < 6s);
}

TEST_CASE("agent: PUT /v1/config and SIGHUP reload, keeping unchanged checks", "[agent]") {
  TempDir dir;
  AgentUnderTest agent(dir, "  a: { exec: [/bin/true], interval: 1h }\n  b: { exec: [/bin/true], interval: 1h }\n");
  REQUIRE(eventually([&] { return agent.get_json("/v1/checks/a")["runs"] == 1; }));
  agent.call("POST", "/v1/checks/a/run");
  CHECK(agent.get_json("/v1/checks/a")["runs"] == 2);

  // JSON body, as keel sends it: a is unchanged, b changes, c is new.
  json body = {{"listen", "127.0.0.1:" + std::to_string(agent.port)},
               {"token_file", "token"},
               {"tls", {{"cert", "agent.crt"}, {"key", "agent.key"}}},
               {"checks",
                {{"a", {{"exec", {"/bin/true"}}, {"interval", "1h"}}},
                 {"b", {{"exec", {"/bin/sh", "-c", "exit 2"}}, {"interval", "1h"}}},
                 {"c", {{"tcp", "127.0.0.1:1"}, {"interval", "1h"}}}}}};
  auto put = agent.call("PUT", "/v1/config", body.dump());
  REQUIRE(put);
  INFO(put->body);
  REQUIRE(put->status == 200);
  auto answer = json::parse(put->body);
  CHECK(answer["added"] == json::array({"c"}));
  CHECK(answer["changed"] == json::array({"b"}));
  CHECK(answer["restart_required"] == false);
  CHECK(agent.get_json("/v1/checks/a")["runs"] == 2);  // kept
  REQUIRE(eventually([&] { return check_status(agent, "b") == "critical"; }));
  CHECK(json::parse(files::read_file(agent.config_path).value()) == body);  // written for the next start

  // A broken file on SIGHUP is refused; the running config stays.
  REQUIRE(files::write_atomic(agent.config_path, agent.config_text("  a: { exec: [/bin/true], intervall: 1h }\n"), 0600));
  agent.signal(SIGHUP);
  REQUIRE(eventually([&] { return agent.log().find("config refused") != std::string::npos; }));
  CHECK(agent.get_json("/v1/checks")["checks"].size() == 3);
  // A good one is applied.
  REQUIRE(files::write_atomic(agent.config_path, agent.config_text("  a: { exec: [/bin/true], interval: 1h }\n"), 0600));
  agent.signal(SIGHUP);
  REQUIRE(eventually([&] { return agent.get_json("/v1/checks")["checks"].size() == 1; }));
  CHECK(agent.get_json("/v1/checks/a")["runs"] == 2);
}

TEST_CASE("agent: /metrics passes promtool", "[agent]") {
  TempDir dir;
  AgentUnderTest agent(dir, "  a: { exec: [/bin/true], interval: 200ms }\n  \"we-b\": { tcp: \"127.0.0.1:1\" }\n");
  REQUIRE(eventually([&] { return check_status(agent, "a") == "passing"; }));
  auto metrics = agent.call("GET", "/metrics");
  REQUIRE(metrics);
  REQUIRE(metrics->status == 200);
  CHECK(metrics->body.find("keel_check_status{check=\"a\",type=\"exec\"} 0") != std::string::npos);
  CHECK(metrics->body.find("process_resident_memory_bytes ") != std::string::npos);
  if (process::which("promtool").empty()) {
    WARN("promtool is not installed (Debian package prometheus): format not checked");
    return;
  }
  REQUIRE(files::write_atomic(dir / "metrics.txt", metrics->body));
  auto promtool = process::run(command({"/bin/sh", "-c", "promtool check metrics < '" + (dir / "metrics.txt") + "'"}));
  REQUIRE(promtool);
  INFO(promtool->output);
  CHECK(promtool->exit_code == 0);
}

TEST_CASE("agent: TLS verifies with the generated CA only", "[agent]") {
  TempDir dir;
  AgentUnderTest agent(dir, "  a: { exec: [/bin/true] }\n");
  if (process::which("curl").empty()) {
    WARN("curl is not installed");
    return;
  }
  std::string url = "https://127.0.0.1:" + std::to_string(agent.port) + "/v1/ping";
  auto good = process::run(command({"curl", "-sS", "--fail", "--cacert", dir / "ca.crt", url}));
  REQUIRE(good);
  INFO(good->output);
  CHECK(good->exit_code == 0);
  CHECK(good->output.find("\"status\":\"ok\"") != std::string::npos);
  auto untrusted = process::run(command({"curl", "-sS", "--fail", url}));
  REQUIRE(untrusted);
  CHECK(untrusted->exit_code != 0);
}

TEST_CASE("agent: the webhook receives status changes", "[agent]") {
  TempDir dir;
  Target target;
  AgentUnderTest agent(dir, "  a: { exec: [/bin/sh, -c, \"exit 2\"], interval: 1h }\n",
                       "webhook: { url: \"http://127.0.0.1:" + std::to_string(target.port) + "/hook\" }\n");
  REQUIRE(eventually([&] { return !target.hooks().empty(); }));
  auto event = json::parse(target.hooks().front());
  CHECK(event["event"] == "check_status_changed");
  CHECK(event["check"] == "a");
  CHECK(event["to"] == "critical");
}

TEST_CASE("agent: --check-config reports file:line:column", "[agent]") {
  TempDir dir;
  REQUIRE(files::write_atomic(dir / "bad.yaml", "token_file: t\nchecks:\n  x: { tcp: nowhere }\n"));
  auto out = process::run(command({build_dir() + "/keel-agent", "--check-config", dir / "bad.yaml"}));
  REQUIRE(out);
  CHECK(out->exit_code == 1);
  CHECK(out->output.find("bad.yaml:3:13: error: `address` must look like host:port") != std::string::npos);
  REQUIRE(files::write_atomic(dir / "good.yaml", "token_file: t\nchecks:\n  x: { tcp: \"127.0.0.1:5\" }\n"));
  out = process::run(command({build_dir() + "/keel-agent", "--check-config", dir / "good.yaml"}));
  REQUIRE(out);
  CHECK(out->exit_code == 0);
}

// ---- attacks on the API (issue 14): clients without the token, slow ones,
// big ones, and racing config pushes. ------------------------------------------

namespace {

// A TCP connection to the agent that sends raw bytes, for what a well-behaved
// client library would never send.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // False once the agent has closed (or reset) the connection.
  bool send(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // What arrives until the agent closes, or `limit` passes.
  std::string read_all(std::chrono::milliseconds limit = 10s) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return out;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return out;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }

  // Whether the agent has closed the connection (without waiting).
  bool closed() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    char buf[4096];
    return ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT) <= 0;
  }

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

std::string status_line(const std::string& answer) { return answer.substr(0, answer.find("\r\n")); }

// The time a health request takes, which must answer 200.
std::chrono::milliseconds timed_health(AgentUnderTest& agent) {
  auto started = std::chrono::steady_clock::now();
  auto health = agent.call("GET", "/v1/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
}

}  // namespace

TEST_CASE("agent attack: 50 clients trickling heads do not stop health, and their deadline closes them", "[agent][attack]") {
  TempDir dir;
  AgentUnderTest agent(dir, "  ok: { exec: [/bin/true], interval: 1h }\n", "", false);
  REQUIRE(eventually([&] { return check_status(agent, "ok") == "passing"; }));
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 50; ++i) {
    slow.push_back(std::make_unique<RawClient>(agent.port));
    REQUIRE(slow.back()->send("GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
  }
  // Every slow client goes on trickling a byte every 200 ms, while a
  // legitimate client asks for health, again and again.
  const auto started = std::chrono::steady_clock::now();
  std::chrono::milliseconds worst{0};
  int open = 50;
  while (open > 0 && std::chrono::steady_clock::now() - started < 40s) {
    open = 0;
    for (auto& c : slow)
      if (c && c->send("a")) ++open;
    worst = std::max(worst, timed_health(agent));
    std::this_thread::sleep_for(200ms);
  }
  INFO("the slowest health answer took " << worst.count() << " ms");
  // Before, 8 of them held every API thread and health never answered.
  CHECK(worst < 5s);
  // The whole head has a deadline (10 s), however steadily it trickles:
  // none is open after at most 40 s.
  CHECK(open == 0);
  auto metrics = agent.call("GET", "/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("keel_agent_api_connections_dropped_total{reason=\"deadline\"} 50") != std::string::npos);
}

TEST_CASE("agent attack: 50 stalled TLS handshakes and a flood of connections do not stop health", "[agent][attack]") {
  TempDir dir;
  AgentUnderTest agent(dir, "  ok: { exec: [/bin/true], interval: 1h }\n");
  REQUIRE(eventually([&] { return check_status(agent, "ok") == "passing"; }));
  std::vector<std::unique_ptr<RawClient>> stalled;
  for (int i = 0; i < 50; ++i) {
    stalled.push_back(std::make_unique<RawClient>(agent.port));
    if (i % 2) REQUIRE(stalled.back()->send(std::string("\x16\x03\x01\x02\x00\x01", 6)));  // a ClientHello's start
  }
  CHECK(timed_health(agent) < 5s);
  // Past the per-peer cap (64 from one address), the oldest go first: the
  // newest, quick client is answered.
  for (int i = 0; i < 200; ++i) stalled.push_back(std::make_unique<RawClient>(agent.port));
  CHECK(timed_health(agent) < 5s);
  REQUIRE(eventually([&] { return stalled.front()->closed(); }));
}

TEST_CASE("agent attack: header floods get 431 and leave no memory behind", "[agent][attack]") {
  TempDir dir;
  AgentUnderTest agent(dir, "  ok: { exec: [/bin/true], interval: 1h }\n", "", false);
  REQUIRE(eventually([&] { return check_status(agent, "ok") == "passing"; }));
  const long before = agent.rss_kb();

  std::string many = "GET /v1/health HTTP/1.1\r\n";
  for (int i = 0; i < 10'000; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
  RawClient count(agent.port);
  count.send(many + "\r\n");
  CHECK(status_line(count.read_all()) == "HTTP/1.1 431 Request Header Fields Too Large");

  // 30 MB of headers: the agent answers and stops reading after 16 KiB.
  RawClient flood(agent.port);
  std::string chunk;
  for (int i = 0; i < 1000; ++i) chunk += "X-Filler-" + std::to_string(i) + ": " + std::string(20, 'z') + "\r\n";
  size_t sent = 0;
  flood.send("GET /v1/health HTTP/1.1\r\n");
  while (sent < 30'000'000 && flood.send(chunk)) sent += chunk.size();
  CHECK(sent < 30'000'000);  // the agent closed the connection long before
  const long after = agent.rss_kb();
  INFO("RSS " << before << " kB before, " << after << " kB after");
  CHECK(after - before < 8 * 1024);
  CHECK(timed_health(agent) < 5s);
}

TEST_CASE("agent attack: a 100 MB body without the token gets 401 unread, chunked bodies get 413", "[agent][attack]") {
  TempDir dir;
  AgentUnderTest agent(dir, "  ok: { exec: [/bin/true], interval: 1h }\n", "", false);
  const long before = agent.rss_kb();

  RawClient big(agent.port);
  REQUIRE(big.send("PUT /v1/config HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"));
  // The answer comes before any body byte is sent.
  std::string answer = big.read_all(10s);
  CHECK(status_line(answer) == "HTTP/1.1 401 Unauthorized");
  size_t sent = 0;
  const std::string mb(1 << 20, 'x');
  while (sent < 100'000'000 && big.send(mb)) sent += mb.size();
  INFO("sent " << sent << " bytes before the agent closed");
  CHECK(sent < 20'000'000);
  CHECK(agent.rss_kb() - before < 8 * 1024);

  // With the token, 2 MiB sent chunked: 413, whatever the framing.
  RawClient chunked(agent.port);
  REQUIRE(chunked.send("PUT /v1/config HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + agent.token +
                       "\r\nTransfer-Encoding: chunked\r\n\r\n"));
  for (int i = 0; i < 32; ++i)
    if (!chunked.send("10000\r\n" + std::string(0x10000, 'x') + "\r\n")) break;
  CHECK(status_line(chunked.read_all()) == "HTTP/1.1 413 Content Too Large");
  CHECK(agent.rss_kb() - before < 8 * 1024);

  // A chunked config under the limit is taken like any other.
  const std::string body = agent.config_text("  ok: { exec: [/bin/true], interval: 1h }\n  b: { exec: [/bin/true] }\n");
  RawClient good(agent.port);
  REQUIRE(good.send("PUT /v1/config HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: bearer " + agent.token +
                    "\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", body.size(), body)));
  answer = good.read_all();
  INFO(answer);
  CHECK(status_line(answer) == "HTTP/1.1 200 OK");
  CHECK(answer.find("\"added\":[\"b\"]") != std::string::npos);
}

TEST_CASE("agent attack: `bearer` in lower case is the same scheme", "[agent][attack]") {
  TempDir dir;
  AgentUnderTest agent(dir, "  ok: { exec: [/bin/true], interval: 1h }\n", "", false);
  for (const std::string scheme : {"bearer", "BEARER", "Bearer"}) {
    RawClient c(agent.port);
    REQUIRE(c.send("GET /v1/checks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: " + scheme + " " +
                   agent.token + "\r\n\r\n"));
    CHECK(status_line(c.read_all()) == "HTTP/1.1 200 OK");
  }
  RawClient basic(agent.port);
  REQUIRE(basic.send("GET /v1/checks HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + agent.token + "\r\n\r\n"));
  CHECK(status_line(basic.read_all()) == "HTTP/1.1 401 Unauthorized");
}

TEST_CASE("agent attack: concurrent PUT /v1/config leave the file and the running config alike", "[agent][attack]") {
  TempDir dir;
  AgentUnderTest agent(dir, "  first: { exec: [/bin/true], interval: 1h }\n");
  std::vector<std::thread> threads;
  std::atomic<int> applied{0};
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      http::CurlHttpClient client;
      for (int i = 0; i < 5; ++i) {
        std::string name = fmt::format("c{}x{}", t, i);
        http::Request request;
        request.method = "PUT";
        request.url = "https://127.0.0.1:" + std::to_string(agent.port) + "/v1/config";
        request.ca_pem = agent.ca;
        request.bearer_token = agent.token;
        request.timeout = 30s;
        request.body = agent.config_text("  " + name + ": { exec: [/bin/true], interval: 1h }\n");
        auto r = client.send(request);
        if (r && r->status == 200) ++applied;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(applied == 30);
  auto running = agent.get_json("/v1/checks")["checks"];
  REQUIRE(running.size() == 1);
  // The agent restarted from its file runs what it ran before.
  const std::string name = running[0]["name"];
  CHECK(files::read_file(agent.config_path).value().find("  " + name + ":") != std::string::npos);
}

TEST_CASE("agent: remote_config false refuses PUT /v1/config, exec_allowed bounds what exec checks run", "[agent][attack]") {
  TempDir dir;
  SECTION("remote_config: false") {
    AgentUnderTest agent(dir, "  ok: { exec: [/bin/true], interval: 1h }\n", "remote_config: false\n");
    auto put = agent.call("PUT", "/v1/config", agent.config_text("  evil: { exec: [/bin/sh, -c, id] }\n"));
    REQUIRE(put);
    CHECK(put->status == 403);
    CHECK(json::parse(put->body)["error"].get<std::string>().find("remote_config: false") != std::string::npos);
    CHECK(agent.get_json("/v1/checks")["checks"].size() == 1);
    CHECK(files::read_file(agent.config_path).value().find("evil") == std::string::npos);
  }
  SECTION("exec_allowed") {
    AgentUnderTest agent(dir, "  ok: { exec: [/bin/true], interval: 1h }\n", "exec_allowed: [/bin/true]\n");
    auto evil = agent.call("PUT", "/v1/config", agent.config_text("  evil: { exec: [/bin/sh, -c, id] }\n"));
    REQUIRE(evil);
    CHECK(evil->status == 403);
    CHECK(json::parse(evil->body)["error"].get<std::string>().find("`/bin/sh`, which `exec_allowed` does not list") !=
          std::string::npos);
    auto widen = agent.call("PUT", "/v1/config",
                            agent.config_text("  evil: { exec: [/bin/sh, -c, id] }\n") + "exec_allowed: [/bin/true, /bin/sh]\n");
    REQUIRE(widen);
    CHECK(widen->status == 403);
    // An allowed one is applied, and the file keeps the host's list for the
    // next start.
    auto good = agent.call("PUT", "/v1/config", agent.config_text("  again: { exec: [/bin/true], interval: 1h }\n"));
    REQUIRE(good);
    CHECK(good->status == 200);
    auto reread = agent::parse_agent_config(files::read_file(agent.config_path).value(), agent.config_path);
    REQUIRE_FALSE(reread.diagnostics.has_errors());
    REQUIRE(reread.config.exec_allowed);
    CHECK(*reread.config.exec_allowed == std::vector<std::string>{"/bin/true"});
    agent.stop();
    agent.start();
    CHECK(agent.get_json("/v1/checks")["checks"][0]["name"] == "again");
  }
}

TEST_CASE("agent: health_listen answers load balancers' probes with the status code alone, without the token",
          "[agent][attack]") {
  TempDir dir;
  Target target;
  auto health_port = process::free_local_port();
  REQUIRE(health_port);
  const std::string health_listen = "127.0.0.1:" + std::to_string(*health_port);
  std::string checks = "  web: { http: \"http://127.0.0.1:" + std::to_string(target.port) + "/healthz\", interval: 1h }\n";
  AgentUnderTest agent(dir, checks, "health_listen: " + health_listen + "\n");
  REQUIRE(eventually([&] { return check_status(agent, "web") == "passing"; }));

  http::CurlHttpClient client;
  auto probe = [&](const std::string& method, const std::string& path, const std::string& body = "") {
    http::Request request;
    request.method = method;
    request.url = "http://" + health_listen + path;
    request.body = body;
    request.timeout = 10s;
    auto response = client.send(request);
    REQUIRE(response);
    return *response;
  };
  auto passing = probe("GET", "/");
  CHECK(passing.status == 200);
  CHECK(passing.body == "passing\n");
  CHECK(probe("GET", "/healthz").status == 200);  // any path: the load balancer's setting
  CHECK(probe("HEAD", "/").status == 200);

  target.status = 500;
  REQUIRE(agent.call("POST", "/v1/checks/web/run"));
  auto critical = probe("GET", "/any");
  CHECK(critical.status == 503);
  // The status word and nothing else: no check names, outputs, host name.
  CHECK(critical.body == "critical\n");

  // Nothing else is served there, token or not.
  CHECK(probe("POST", "/v1/config", "listen: 0.0.0.0:1").status == 405);
  CHECK(probe("PUT", "/v1/config", "x").status == 405);
  auto with_token = [&] {
    http::Request request;
    request.url = "http://" + health_listen + "/v1/checks";
    request.bearer_token = agent.token;
    request.timeout = 10s;
    return client.send(request);
  }();
  REQUIRE(with_token);
  CHECK(with_token->body == "critical\n");

  // A host-only setting: PUT /v1/config can neither open, move nor close it.
  for (const std::string& change : {std::string("health_listen: 0.0.0.0:1\n"), std::string("health_listen: false\n")}) {
    auto put = agent.call("PUT", "/v1/config", agent.config_text(checks) + change);
    REQUIRE(put);
    CHECK(put->status == 403);
  }
  auto kept = agent.call("PUT", "/v1/config", agent.config_text(checks));
  REQUIRE(kept);
  CHECK(kept->status == 200);
  CHECK(json::parse(kept->body)["restart_required"] == false);
  auto reread = agent::parse_agent_config(files::read_file(agent.config_path).value(), agent.config_path);
  REQUIRE(reread.config.health_listen);
  CHECK(agent::format_host_port(*reread.config.health_listen) == health_listen);
  CHECK(probe("GET", "/").status == 503);
}

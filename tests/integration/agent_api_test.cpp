// keel-agent as a real process: its API over TLS with the bearer token,
// checks against targets this test serves, reloads through PUT /v1/config
// and SIGHUP, /metrics through promtool, logs, and the webhook.

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

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
  AgentUnderTest(const TempDir& dir, const std::string& checks_yaml, const std::string& extra = "") : dir_(dir) {
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
    return "listen: 127.0.0.1:" + std::to_string(port) +
           "\ntoken_file: token\ntls: { cert: agent.crt, key: agent.key }\nchecks:\n" + checks_yaml;
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
    request.url = "https://127.0.0.1:" + std::to_string(port) + path;
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

  std::string ca, token, config_path;
  int port = 0;

 private:
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
  if (huge) CHECK(huge->status == 413);  // httplib may also just close the connection

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

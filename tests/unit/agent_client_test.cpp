// cli/agents (the agent API client and health across hosts) and
// cli/views/health_view against a fake agent: a cpp-httplib HTTPS server on
// 127.0.0.1 that speaks keel-agent's /v1 contract.
#include <httplib.h>
#include <openssl/pem.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/agents/client.h"
#include "cli/agents/health.h"
#include "cli/views/health_view.h"
#include "core/process.h"
#include "core/time.h"
#include "core/tls.h"

using namespace keel;
using namespace std::chrono_literals;
using nlohmann::json;
using checks::CheckStatus;

namespace {

constexpr const char* kToken = "agent-token-123";

// A fake keel-agent: TLS with its own CA, bearer token on everything but
// ping, checks as given.
class FakeAgent {
 public:
  explicit FakeAgent(json checks) : checks_(std::move(checks)) {
    auto certs = tls::generate_local_certificates();
    REQUIRE(certs);
    certs_ = *certs;
    BIO* cert_bio = BIO_new_mem_buf(certs_.server_cert_pem.data(), static_cast<int>(certs_.server_cert_pem.size()));
    BIO* key_bio = BIO_new_mem_buf(certs_.server_key_pem.data(), static_cast<int>(certs_.server_key_pem.size()));
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    server_ = std::make_unique<httplib::SSLServer>(cert, key);
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cert_bio);
    BIO_free(key_bio);

    auto authorized = [](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") == fmt::format("Bearer {}", kToken)) return true;
      res.status = 401;
      res.set_content(R"({"error":"missing or wrong bearer token"})", "application/json");
      return false;
    };
    server_->Get("/v1/ping", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok","version":"0.1.0"})", "application/json");
    });
    server_->Get("/v1/checks", [this, authorized](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      std::lock_guard lock(mu_);
      res.set_content(json{{"checks", checks_}}.dump(), "application/json");
    });
    server_->Get("/v1/health", [this, authorized](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      res.status = 503;
      res.set_content(R"({"status":"critical","counts":{"passing":1,"critical":1},"hostname":"box"})",
                      "application/json");
    });
    server_->Put("/v1/config", [this, authorized](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      auto body = json::parse(req.body, nullptr, false);
      if (!body.is_object() || !body.contains("checks")) {
        res.status = 400;
        res.set_content(R"({"error":"config: checks missing"})", "application/json");
        return;
      }
      std::lock_guard lock(mu_);
      pushed_ = body;
      res.set_content(R"({"applied":true,"changed":["web"],"restart_required":false})", "application/json");
    });
    server_->set_keep_alive_max_count(1);  // else stop() waits for the client's idle connection
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!server_->is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
  }
  ~FakeAgent() {
    server_->stop();
    thread_.join();
  }

  agents::Endpoint endpoint(const std::string& token = kToken) const {
    return {fmt::format("https://127.0.0.1:{}", port_), certs_.ca_cert_pem, token};
  }
  json pushed() {
    std::lock_guard lock(mu_);
    return pushed_;
  }

 private:
  json checks_;
  tls::LocalCertificates certs_;
  std::unique_ptr<httplib::Server> server_;
  std::mutex mu_;
  json pushed_;
  int port_ = 0;
  std::thread thread_;
};

json check(const std::string& name, const std::string& status, double last_run_unix, const std::string& output) {
  return {{"name", name},           {"type", "tcp"},       {"status", status},
          {"output", output},       {"last_run", "2026-01-01T00:00:00.000Z"},
          {"last_run_unix", last_run_unix}, {"duration_ms", 3}, {"interval", "10s"},
          {"history", json::array({{{"time", "2026-01-01T00:00:00.000Z"}, {"status", status}, {"output", output}, {"duration_ms", 3}}})}};
}

double now_unix() { return timeutil::unix_seconds(std::chrono::system_clock::now()); }

}  // namespace

TEST_CASE("agent client: ping, checks, health and config over verified TLS", "[unit][agents]") {
  FakeAgent agent(json::array({check("web", "passing", now_unix() - 3, "connected"),
                               check("db", "critical", now_unix() - 10, "refused")}));
  http::CurlHttpClient curl;
  agents::AgentClient client(curl, agent.endpoint());

  CHECK(client.ping());

  auto checks = client.checks();
  if (!checks) FAIL(checks.error().message());
  REQUIRE(checks->size() == 2);
  CHECK((*checks)[0].name == "web");
  CHECK((*checks)[0].status == CheckStatus::Passing);
  CHECK((*checks)[0].output == "connected");
  CHECK((*checks)[0].duration_ms == 3);
  CHECK((*checks)[0].interval == "10s");
  REQUIRE((*checks)[0].last_run_unix);
  REQUIRE((*checks)[0].history.size() == 1);
  CHECK((*checks)[1].status == CheckStatus::Critical);

  auto health = client.health();  // a 503 is an answer here
  if (!health) FAIL(health.error().message());
  CHECK(health->status == CheckStatus::Critical);
  CHECK(health->hostname == "box");
  CHECK(health->counts["passing"] == 1);

  auto pushed = client.put_config({{"listen", "127.0.0.1:1"}, {"checks", json::object()}});
  if (!pushed) FAIL(pushed.error().message());
  CHECK(pushed->applied);
  CHECK(pushed->changed == std::vector<std::string>{"web"});
  CHECK_FALSE(pushed->restart_required);
  CHECK(agent.pushed()["listen"] == "127.0.0.1:1");

  auto refused = client.put_config({{"listen", "x"}});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == ErrorCode::InvalidConfig);
  CHECK(refused.error().message().find("config: checks missing") != std::string::npos);
}

TEST_CASE("agent client: a wrong token is PermissionDenied and never shown", "[unit][agents]") {
  FakeAgent agent(json::array());
  http::CurlHttpClient curl;
  agents::AgentClient client(curl, agent.endpoint("wrong-token-xyz"));
  CHECK(client.ping());  // ping needs no token
  auto checks = client.checks();
  REQUIRE_FALSE(checks);
  CHECK(checks.error().code() == ErrorCode::PermissionDenied);
  CHECK(checks.error().message().find("HTTP 401") != std::string::npos);
  CHECK(checks.error().message().find("wrong-token-xyz") == std::string::npos);
}

TEST_CASE("agent client: endpoint from a server's attributes", "[unit][agents]") {
  json attrs = {{"agent_url", "https://127.0.0.1:7001/"}, {"agent_ca", "CA"}, {"agent_token", "T"}};
  auto e = agents::endpoint_from_attributes(attrs);
  REQUIRE(e);
  CHECK(e->url == "https://127.0.0.1:7001");
  CHECK(e->ca_pem == "CA");
  CHECK(e->token == "T");
  CHECK_FALSE(agents::endpoint_from_attributes(json{{"host", "127.0.0.1"}}));
  CHECK_FALSE(agents::endpoint_from_attributes(json{{"agent_url", nullptr}}));
}

TEST_CASE("health: every agent at once, unreachable ones unknown, worst wins", "[unit][agents]") {
  FakeAgent a(json::array({check("web", "passing", now_unix() - 3, "ok")}));
  FakeAgent b(json::array({check("disk", "warning", now_unix() - 65, "12% free"),
                           check("app", "passing", now_unix() - 1, "HTTP 200")}));
  auto dead_port = process::free_local_port();
  REQUIRE(dead_port);

  state::State st;
  auto server = [&](const std::string& address, const agents::Endpoint& e) {
    state::ResourceState r;
    r.address = address;
    r.kind = "servers";
    r.id = "/x/" + address;
    r.attributes = {{"agent_url", e.url}, {"agent_ca", e.ca_pem}, {"agent_token", e.token}, {"agent", true}};
    st.resources[address] = r;
  };
  server("servers.web[10]", a.endpoint());
  server("servers.web[2]", b.endpoint());
  state::ResourceState db;
  db.address = "databases.main";
  db.kind = "databases";
  db.id = "/x/db";
  st.resources[db.address] = db;

  auto targets = agents::agent_targets(st);
  REQUIRE(targets.size() == 2);
  CHECK(targets[0].address == "servers.web[2]");  // by index, not by text
  CHECK(targets[1].address == "servers.web[10]");
  CHECK(agents::agent_targets(st, {"servers.web"}).size() == 2);
  CHECK(agents::agent_targets(st, {"servers.web[2]"}).size() == 1);
  CHECK(agents::agent_targets(st, {"servers.db"}).empty());

  http::CurlHttpClient curl;
  auto hosts = agents::poll(targets, curl);
  REQUIRE(hosts.size() == 2);
  CHECK(hosts[0].reachable);
  CHECK(hosts[0].status == CheckStatus::Warning);
  CHECK(hosts[0].checks[0].name == "app");  // by name
  auto summary = agents::summarize(hosts);
  CHECK(summary.status == CheckStatus::Warning);
  CHECK(summary.exit_code == 1);
  CHECK(summary.checks == 3);
  CHECK(summary.counts[CheckStatus::Passing] == 2);

  // An agent that does not answer: unknown, exit 3, with the reason.
  server("servers.web[3]", {fmt::format("https://127.0.0.1:{}", *dead_port), "", kToken});
  agents::PollOptions quick;
  quick.client.timeout = 1s;
  quick.client.attempts = 1;
  hosts = agents::poll(agents::agent_targets(st), curl, quick);
  REQUIRE(hosts.size() == 3);
  CHECK_FALSE(hosts[1].reachable);
  CHECK(hosts[1].status == CheckStatus::Unknown);
  CHECK_FALSE(hosts[1].error.empty());
  summary = agents::summarize(hosts);
  CHECK(summary.status == CheckStatus::Unknown);
  CHECK(summary.exit_code == 3);
  CHECK(summary.unreachable == 1);

  // The table and the document.
  const auto now = std::chrono::system_clock::now();
  const std::string table = views::render_health(hosts, summary, now, {.width = 100, .color = false});
  INFO(table);
  CHECK(table.rfind("HOST", 0) == 0);
  CHECK(table.find("servers.web[2]   app") != std::string::npos);
  CHECK(table.find("warning") != std::string::npos);
  CHECK(table.find("1m") != std::string::npos);  // the disk check ran 65 s ago
  CHECK(table.find("agent unreachable:") != std::string::npos);
  CHECK(table.find("Status: UNKNOWN — 3 hosts (1 unreachable), 3 checks: 2 passing, 1 warning") != std::string::npos);
  for (size_t start = 0, end; (end = table.find('\n', start)) != std::string::npos; start = end + 1)
    CHECK(end - start <= 100 + 2);  // the ellipsis is three bytes, one column

  json doc = views::health_to_json(hosts, summary, now);
  CHECK(doc["format_version"] == 1);
  CHECK(doc["status"] == "unknown");
  CHECK(doc["exit_code"] == 3);
  CHECK(doc["summary"]["hosts"] == 3);
  CHECK(doc["summary"]["unreachable"] == 1);
  CHECK(doc["summary"]["counts"]["warning"] == 1);
  REQUIRE(doc["hosts"].size() == 3);
  CHECK(doc["hosts"][0]["address"] == "servers.web[2]");
  CHECK(doc["hosts"][0]["reachable"] == true);
  CHECK_FALSE(doc["hosts"][0].contains("error"));
  CHECK(doc["hosts"][0]["checks"][1]["name"] == "disk");
  CHECK(doc["hosts"][0]["checks"][1]["age_seconds"].get<long>() >= 65);
  CHECK(doc["hosts"][1]["reachable"] == false);
  CHECK(doc["hosts"][1]["status"] == "unknown");
  CHECK(doc["hosts"][1]["error"].is_string());
  CHECK(doc.dump().find(kToken) == std::string::npos);
}

TEST_CASE("health: no hosts is unknown, and statuses order by severity", "[unit][agents]") {
  auto none = agents::summarize({});
  CHECK(none.status == CheckStatus::Unknown);
  CHECK(none.exit_code == 3);
  CHECK(views::render_health({}, none, std::chrono::system_clock::now()).find("No servers with an agent") == 0);

  agents::HostHealth critical{"servers.a", "https://x", true, CheckStatus::Critical, "", {}};
  agents::HostHealth unreachable{"servers.b", "https://y", false, CheckStatus::Unknown, "refused", {}};
  agents::HostHealth empty{"servers.c", "https://z", true, CheckStatus::Passing, "", {}};
  CHECK(agents::summarize({critical, unreachable}).exit_code == 2);  // critical outranks unknown
  CHECK(agents::summarize({empty}).exit_code == 0);                  // no checks: passing
  CHECK(agents::summarize({empty, unreachable}).exit_code == 3);
}

TEST_CASE("health view: ages, and output cut to one harmless line", "[unit][agents]") {
  CHECK(views::format_age(0s) == "0s");
  CHECK(views::format_age(59s) == "59s");
  CHECK(views::format_age(61s) == "1m");
  CHECK(views::format_age(7200s) == "2h");
  CHECK(views::format_age(std::chrono::seconds(3 * 86400 + 5)) == "3d");
  CHECK(views::format_age(-5s) == "0s");
  CHECK(views::output_line("first\nsecond", 80) == "first");
  CHECK(views::output_line("a\033[31mred\ttab\r", 80) == "a [31mred tab");
  CHECK(views::output_line("abcdefghij", 5) == "abcd…");
  CHECK(views::output_line("äöüäöü", 4) == "äöü…");
  CHECK(agents::address_less("servers.web[2]", "servers.web[10]"));
  CHECK_FALSE(agents::address_less("servers.web[10]", "servers.web[2]"));
  CHECK(agents::address_less("servers.api", "servers.web"));
  CHECK(agents::address_less("servers.web", "servers.web[0]"));
}

// The agent's parts without a network: config parsing, the scheduler's
// status rules and timing, metrics text, log lines, webhook retries.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "agent/config.h"
#include "agent/metrics.h"
#include "agent/scheduler.h"
#include "agent/webhook.h"
#include "core/files.h"
#include "core/log.h"
#include "tests/support/eventually.h"

using namespace keel;
using namespace keel::agent;
using checks::CheckStatus;
using namespace std::chrono_literals;

namespace {

using keel::testing::eventually;

checks::CheckSpec spec(const std::string& name, std::chrono::milliseconds interval = 100ms) {
  auto parsed = checks::check_from_json(name, {{"tcp", "127.0.0.1:9"}, {"interval", "100ms"}});
  REQUIRE(parsed);
  parsed->interval = interval;
  return *parsed;
}

// Waits (bounded) until `done` holds.
}  // namespace

TEST_CASE("agent config: a full config parses", "[agent][config]") {
  auto load = parse_agent_config(R"(listen: 127.0.0.1:7311
token_file: agent.token
tls: { cert: agent.crt, key: agent.key }
checks:
  web: { http: "http://127.0.0.1:8080/healthz", status: [200, 204], interval: 5s }
  db: { tcp: "127.0.0.1:5432", timeout: 1s }
  root: { disk: { path: /, warning: 15 } }
webhook: { url: "http://127.0.0.1:9/hook", attempts: 3 }
)",
                                 "agent.yaml", "/etc/keel");
  INFO(load.diagnostics.describe());
  REQUIRE_FALSE(load.diagnostics.has_errors());
  const auto& c = load.config;
  CHECK(c.listen_port == 7311);
  CHECK(c.token_file == "/etc/keel/agent.token");
  REQUIRE(c.tls);
  CHECK(c.tls->cert_file == "/etc/keel/agent.crt");
  CHECK(c.state_dir == "/etc/keel");
  REQUIRE(c.checks.size() == 3);
  CHECK(c.checks[0].interval == 5s);
  CHECK(c.checks[1].timeout == 1s);
  CHECK(std::get<checks::DiskCheck>(c.checks[2].params).warning == 15);
  REQUIRE(c.webhook);
  CHECK(c.webhook->attempts == 3);
}

TEST_CASE("agent config: problems are reported with line and column", "[agent][config]") {
  auto load = parse_agent_config(R"(listen: 127.0.0.1
token_fil: x
checks:
  web: { http: "http://x", intervall: 5s }
  two: { tcp: "127.0.0.1:1", exec: [true] }
  none: { timeout: 1s }
)",
                                 "agent.yaml", "/tmp");
  std::string text = load.diagnostics.describe();
  INFO(text);
  CHECK(text.find("agent.yaml:1:9: error: `listen` must be host:port") != std::string::npos);
  CHECK(text.find("agent.yaml:2:1: error: unknown key `token_fil`") != std::string::npos);
  CHECK(text.find("did you mean `token_file`") != std::string::npos);
  CHECK(text.find("agent.yaml:4:28: error: unknown key `intervall` in check `web`") != std::string::npos);
  CHECK(text.find("did you mean `interval`") != std::string::npos);
  CHECK(text.find("has two types") != std::string::npos);
  CHECK(text.find("check `none` has no type") != std::string::npos);
  CHECK(text.find("missing `token_file`") != std::string::npos);
}

TEST_CASE("agent config: the token file must be private and non-trivial", "[agent][config]") {
  auto dir = std::filesystem::temp_directory_path() / ("keel-agent-token-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "token").string();
  REQUIRE(files::write_atomic(path, "0123456789abcdef0123\n", 0644));
  auto open = read_token(path);
  REQUIRE_FALSE(open);
  CHECK(open.error().message().find("readable by others") != std::string::npos);
  ::chmod(path.c_str(), 0600);
  auto token = read_token(path);
  REQUIRE(token);
  CHECK(*token == "0123456789abcdef0123");
  REQUIRE(files::write_atomic(path, "short", 0600));
  CHECK_FALSE(read_token(path));
  std::filesystem::remove_all(dir);
}

TEST_CASE("scheduler: thresholds as Consul has them", "[agent][scheduler]") {
  std::atomic<int> calls{0};
  std::vector<CheckStatus> script = {CheckStatus::Passing, CheckStatus::Passing, CheckStatus::Critical,
                                     CheckStatus::Critical, CheckStatus::Passing};
  std::vector<StatusChange> changes;
  std::mutex changes_mutex;
  CheckScheduler scheduler(
      [&](const StatusChange& c) {
        std::lock_guard lock(changes_mutex);
        changes.push_back(c);
      },
      [&](const checks::CheckSpec&) {
        int n = calls++;
        return CheckResult{script[std::min<size_t>(n, script.size() - 1)], "run " + std::to_string(n)};
      });
  auto s = spec("t", 1h);  // runs only when asked
  s.success_before_passing = 2;
  s.failures_before_critical = 2;
  scheduler.reload({s});
  scheduler.start();

  auto after = [&] { return scheduler.run_now("t")->status; };
  CHECK(scheduler.snapshot("t")->status == CheckStatus::Unknown);
  // The first run happens on its own (spread start); then each run_now is one run.
  REQUIRE(eventually([&] { return scheduler.snapshot("t")->runs == 1; }));
  CHECK(scheduler.snapshot("t")->status == CheckStatus::Unknown);  // 1 of 2 successes
  CHECK(after() == CheckStatus::Passing);                         // 2 of 2
  CHECK(after() == CheckStatus::Passing);                         // 1 of 2 failures
  CHECK(after() == CheckStatus::Critical);                        // 2 of 2
  CHECK(after() == CheckStatus::Critical);                        // 1 of 2 successes
  auto snap = scheduler.snapshot("t");
  CHECK(snap->output == "run 4");
  CHECK(snap->history.size() == 5);
  CHECK(snap->results_total[CheckStatus::Critical] == 2);
  scheduler.stop();
  std::lock_guard lock(changes_mutex);
  REQUIRE(changes.size() == 2);
  CHECK(changes[0].from == CheckStatus::Unknown);
  CHECK(changes[0].to == CheckStatus::Passing);
  CHECK(changes[1].to == CheckStatus::Critical);
}

TEST_CASE("scheduler: a hanging check does not hold the others back", "[agent][scheduler]") {
  std::atomic<int> fast_runs{0};
  std::atomic<bool> release{false};
  CheckScheduler scheduler({}, [&](const checks::CheckSpec& s) {
    if (s.name.rfind("hang", 0) == 0) {
      while (!release) std::this_thread::sleep_for(5ms);
      return CheckResult{CheckStatus::Critical, "timed out"};
    }
    ++fast_runs;
    return CheckResult{CheckStatus::Passing, "ok"};
  });
  scheduler.reload({spec("hang1"), spec("hang2"), spec("hang3"), spec("fast", 100ms)});
  scheduler.start();
  CHECK(eventually([&] { return fast_runs >= 5; }));
  CHECK(scheduler.worker_count() >= 4);
  release = true;
  scheduler.stop();
}

TEST_CASE("scheduler: reload keeps unchanged checks and drops removed ones", "[agent][scheduler]") {
  CheckScheduler scheduler({}, [](const checks::CheckSpec&) { return CheckResult{CheckStatus::Passing, "ok"}; });
  scheduler.reload({spec("a", 1h), spec("b", 1h)});
  scheduler.start();
  REQUIRE(eventually([&] { return scheduler.snapshot("a")->runs == 1 && scheduler.snapshot("b")->runs == 1; }));

  auto b2 = spec("b", 1h);
  b2.timeout = 2s;
  auto summary = scheduler.reload({spec("a", 1h), b2, spec("c", 1h)});
  CHECK(summary.kept == std::vector<std::string>{"a"});
  CHECK(summary.changed == std::vector<std::string>{"b"});
  CHECK(summary.added == std::vector<std::string>{"c"});
  CHECK(scheduler.snapshot("a")->runs == 1);
  CHECK(scheduler.snapshot("a")->status == CheckStatus::Passing);
  CHECK(scheduler.snapshot("b")->runs <= 1);

  summary = scheduler.reload({spec("a", 1h)});
  CHECK(summary.removed == std::vector<std::string>{"b", "c"});
  CHECK_FALSE(scheduler.snapshot("b"));
  CHECK_FALSE(scheduler.run_now("b"));
  CHECK(scheduler.aggregate() == CheckStatus::Passing);
  scheduler.stop();
}

TEST_CASE("scheduler: the aggregate is the worst status", "[agent][scheduler]") {
  CheckScheduler scheduler({}, [](const checks::CheckSpec& s) {
    return CheckResult{s.name == "warn" ? CheckStatus::Warning : CheckStatus::Passing, ""};
  });
  CHECK(scheduler.aggregate() == CheckStatus::Passing);  // no checks
  scheduler.reload({spec("ok", 1h), spec("warn", 1h)});
  scheduler.start();
  REQUIRE(eventually([&] { return scheduler.aggregate() == CheckStatus::Warning; }));
  scheduler.stop();
  CHECK(checks::worst(CheckStatus::Warning, CheckStatus::Unknown) == CheckStatus::Unknown);
  CHECK(checks::worst(CheckStatus::Critical, CheckStatus::Unknown) == CheckStatus::Critical);
}

TEST_CASE("metrics: every family has help and type; label values are escaped", "[agent][metrics]") {
  CheckSnapshot c;
  c.spec = spec("we\"b\\x\ny");
  c.status = CheckStatus::Critical;
  c.results_total[CheckStatus::Critical] = 3;
  AgentCounters counters;
  std::string text = render_metrics({c}, CheckStatus::Critical, counters, read_process_stats());
  CHECK(text.find("keel_check_status{check=\"we\\\"b\\\\x\\ny\",type=\"tcp\"} 2\n") != std::string::npos);
  CHECK(text.find("keel_check_runs_total{check=\"we\\\"b\\\\x\\ny\",type=\"tcp\",result=\"critical\"} 3\n") !=
        std::string::npos);
  CHECK(text.find("# TYPE process_resident_memory_bytes gauge") != std::string::npos);
  CHECK(text.find("keel_agent_health_status 2\n") != std::string::npos);
  CHECK(read_process_stats().resident_bytes > 0);
}

TEST_CASE("logs: text and JSON lines", "[agent][log]") {
  nlohmann::ordered_json fields = {{"check", "web"}, {"output", "HTTP 500 \"oops\""}};
  CHECK(logging::format_line(logging::Format::Text, logging::Level::Warning, "check status changed", fields) ==
        R"(warning check status changed check=web output="HTTP 500 \"oops\"")");
  auto json = nlohmann::json::parse(
      logging::format_line(logging::Format::Json, logging::Level::Info, "config applied", {{"added", 2}}));
  CHECK(json["level"] == "info");
  CHECK(json["msg"] == "config applied");
  CHECK(json["added"] == 2);
}

TEST_CASE("webhook: retries with backoff until delivered", "[agent][webhook]") {
  AgentCounters counters;
  std::atomic<int> attempts{0};
  std::string last_body;
  std::mutex body_mutex;
  Webhook hook(counters, "host-1", [&](const WebhookConfig&, const std::string& body) -> Status {
    std::lock_guard lock(body_mutex);
    last_body = body;
    if (++attempts < 2) return fail(ErrorCode::Transient, "HTTP 503");
    return {};
  });
  hook.configure(WebhookConfig{.url = "http://127.0.0.1:9/", .timeout = 1s, .attempts = 3});
  hook.notify(StatusChange{"web", checks::CheckType::Http, CheckStatus::Passing, CheckStatus::Critical, "HTTP 500",
                           std::chrono::system_clock::now()});
  REQUIRE(eventually([&] { return counters.webhook_delivered == 1; }));
  CHECK(attempts == 2);
  std::lock_guard lock(body_mutex);
  auto body = nlohmann::json::parse(last_body);
  CHECK(body["event"] == "check_status_changed");
  CHECK(body["hostname"] == "host-1");
  CHECK(body["from"] == "passing");
  CHECK(body["to"] == "critical");
  CHECK(Webhook::backoff(1) == 500ms);
  CHECK(Webhook::backoff(3) == 2000ms);
  CHECK(Webhook::backoff(20) == 30000ms);
}

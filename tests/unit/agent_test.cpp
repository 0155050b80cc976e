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
  // Not a token: a big file, a directory.
  REQUIRE(files::write_atomic(path, std::string(10'000, 'a'), 0600));
  CHECK(read_token(path).error().message().find("at most 4096 bytes") != std::string::npos);
  ::chmod(dir.c_str(), 0700);
  CHECK_FALSE(read_token(dir.string()));
  std::filesystem::remove_all(dir);
}

TEST_CASE("agent config: listen is parsed by hand, whatever its length", "[agent][config]") {
  auto listen = [](const std::string& value) {
    return parse_agent_config("token_file: t\nlisten: \"" + value + "\"\n", "agent.yaml", "/etc/keel");
  };
  auto v6 = listen("[::1]:7301");
  REQUIRE_FALSE(v6.diagnostics.has_errors());
  CHECK(v6.config.listen_host == "::1");
  CHECK(v6.config.listen_port == 7301);
  CHECK_FALSE(listen("127.0.0.1:0").diagnostics.has_errors());  // any free port
  for (const std::string& bad : {std::string("127.0.0.1"), std::string("127.0.0.1:65536"), std::string(":80"),
                                 std::string("::1:80"), std::string("[::1]:"), std::string("a:-1"),
                                 // A plain scalar of 100,000 characters: a diagnostic, not a stack overflow
                                 // in std::regex (issue 14).
                                 std::string(100'000, 'a'), "a:" + std::string(100'000, '1')}) {
    auto load = listen(bad);
    INFO(bad.substr(0, 40));
    CHECK(load.diagnostics.describe().find("`listen` must be host:port") != std::string::npos);
  }
  // A long host name is the binding's business (it fails with a clear error).
  CHECK(listen(std::string(100'000, 'a') + ":1").config.listen_host.size() == 100'000);
}

TEST_CASE("agent config: text that is not UTF-8 is refused with its line", "[agent][config]") {
  // Found by fuzz_agent_config: yaml-cpp wrote such bytes back changed.
  auto load = parse_agent_config("token_file: t\nchecks:\n  web: { http: \"http://127.0.0.1/\xff\" }\n", "agent.yaml");
  CHECK(load.diagnostics.describe().find("agent.yaml:3:1: error: the config is not valid UTF-8") != std::string::npos);
}

TEST_CASE("agent config: a malformed duration is a diagnostic, not an exception", "[agent][config]") {
  // Found by fuzz_agent_config: "8s." made std::stod throw on ".".
  for (const std::string timeout : {"8s.", ".", ".s", "1..5s", "999999999999d"}) {
    auto load = parse_agent_config("token_file: t\nwebhook: { url: \"http://127.0.0.1:9/\", timeout: \"" + timeout +
                                       "\" }\n",
                                   "agent.yaml", "/etc/keel");
    INFO(timeout);
    CHECK(load.diagnostics.describe().find("is not a duration") != std::string::npos);
  }
}

TEST_CASE("agent config: remote_config and exec_allowed, the host's own settings", "[agent][config]") {
  auto load = parse_agent_config(R"(token_file: t
remote_config: false
checks:
  tcp: { exec: [/usr/lib/nagios/plugins/check_tcp, -H, 127.0.0.1], interval: 5s }
  shell: { exec: [/bin/sh, -c, "id"] }
  relative: { exec: [check_tcp] }
exec_allowed: [/usr/lib/nagios/plugins/check_tcp, check_http]
)",
                                 "agent.yaml", "/etc/keel");
  std::string text = load.diagnostics.describe();
  INFO(text);
  CHECK_FALSE(load.config.remote_config);
  REQUIRE(load.config.exec_allowed);
  CHECK(load.config.exec_allowed->size() == 1);
  CHECK(text.find("agent.yaml:5:10: error: exec check `shell` runs `/bin/sh`, which `exec_allowed` does not list") !=
        std::string::npos);
  CHECK(text.find("exec check `relative` runs `check_tcp`") != std::string::npos);  // by path, never through PATH
  CHECK(text.find("agent.yaml:7:51: error: each `exec_allowed` entry must be an absolute path") != std::string::npos);
  CHECK(text.find("`tcp`") == std::string::npos);

  auto none = parse_agent_config("token_file: t\nexec_allowed: []\nchecks: { x: { exec: [/bin/true] } }\n", "a.yaml");
  CHECK(none.diagnostics.describe().find("exec check `x` runs `/bin/true`") != std::string::npos);
  auto bad = parse_agent_config("token_file: t\nremote_config: maybe\nexec_allowed: /bin/true\n", "a.yaml");
  CHECK(bad.diagnostics.describe().find("`remote_config` must be true or false") != std::string::npos);
  CHECK(bad.diagnostics.describe().find("`exec_allowed` must be a list") != std::string::npos);
}

TEST_CASE("agent config: a PUT body cannot change the host's settings, and the file keeps them", "[agent][config]") {
  auto host = parse_agent_config("token_file: t\ndr_worker: /usr/lib/keel/keel-dr\nexec_allowed: [/bin/true]\n",
                                 "agent.yaml", "/etc/keel");
  REQUIRE_FALSE(host.diagnostics.has_errors());
  auto body = [](const std::string& text) { return parse_agent_config(text, "request body", "/etc/keel"); };
  CHECK_FALSE(host_only_change(body("token_file: t\n"), host.config));
  CHECK_FALSE(host_only_change(body("token_file: t\nexec_allowed: [/bin/true]\n"), host.config));
  CHECK_FALSE(host_only_change(body("token_file: t\ndr_worker: /usr/lib/keel/keel-dr\n"), host.config));
  auto widened = host_only_change(body("token_file: t\nexec_allowed: [/bin/true, /bin/sh]\n"), host.config);
  REQUIRE(widened);
  CHECK(widened->find("`exec_allowed` can only be changed in the agent's own file") != std::string::npos);
  CHECK(host_only_change(body("token_file: t\ndr_worker: /bin/sh\n"), host.config));
  CHECK(host_only_change(body("token_file: t\nremote_config: false\n"), host.config));

  // What PUT writes over the file: the body, plus the host's settings.
  const std::string json_body = R"({"token_file": "t", "checks": {"a": {"exec": ["/bin/true"], "interval": "1h"}}})";
  auto written = with_host_settings(json_body, host.config);
  REQUIRE(written);
  auto reread = parse_agent_config(*written, "agent.yaml", "/etc/keel");
  INFO(*written);
  REQUIRE_FALSE(reread.diagnostics.has_errors());
  CHECK(reread.config.exec_allowed == host.config.exec_allowed);
  CHECK(reread.config.dr_worker == "/usr/lib/keel/keel-dr");
  REQUIRE(reread.config.checks.size() == 1);
  CHECK(reread.config.checks[0].to_json() == body(json_body).config.checks[0].to_json());
  // Without host settings the body is written as it came.
  auto plain = parse_agent_config("token_file: t\n", "agent.yaml", "/etc/keel");
  CHECK(with_host_settings(json_body, plain.config).value() == json_body);
}

TEST_CASE("agent config: health_listen is off by default, host:port when set, and the host's own", "[agent][config]") {
  auto load = [](const std::string& text) { return parse_agent_config("token_file: t\n" + text, "agent.yaml", "/etc/keel"); };
  CHECK_FALSE(load("").config.health_listen);
  CHECK_FALSE(load("health_listen: false\n").config.health_listen);
  auto any = load("health_listen: 0.0.0.0:7301\n");
  REQUIRE_FALSE(any.diagnostics.has_errors());
  REQUIRE(any.config.health_listen);
  CHECK(any.config.health_listen->first == "0.0.0.0");
  CHECK(any.config.health_listen->second == 7301);
  auto v6 = load("health_listen: \"[::]:7301\"\n");
  REQUIRE(v6.config.health_listen);
  CHECK(format_host_port(*v6.config.health_listen) == "[::]:7301");
  for (const std::string& bad : {std::string("7301"), std::string("0.0.0.0"), std::string("[::]:x"), std::string(100'000, 'a')}) {
    INFO(bad.substr(0, 40));
    auto wrong = load("health_listen: \"" + bad + "\"\n");
    CHECK(wrong.diagnostics.describe().find("`health_listen` must be host:port") != std::string::npos);
  }
  CHECK(load("helth_listen: 0.0.0.0:1\n").diagnostics.describe().find("did you mean `health_listen`") != std::string::npos);
  // Restart-only, and PUT cannot open, move or close it.
  CHECK_FALSE(any.config.same_listener(load("").config));
  auto body = [](const std::string& text) { return parse_agent_config(text, "request body", "/etc/keel"); };
  CHECK(host_only_change(body("token_file: t\nhealth_listen: 0.0.0.0:7301\n"), load("").config));
  CHECK(host_only_change(body("token_file: t\nhealth_listen: 0.0.0.0:1\n"), any.config));
  CHECK_FALSE(host_only_change(body("token_file: t\n"), any.config));
  auto written = with_host_settings("token_file: t\n", any.config);
  REQUIRE(written);
  CHECK(parse_agent_config(*written, "agent.yaml", "/etc/keel").config.health_listen == any.config.health_listen);
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

TEST_CASE("metrics: every family has help and type, then label values are escaped", "[agent][metrics]") {
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

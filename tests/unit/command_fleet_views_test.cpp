// The views of the commands that act on hosts (health, exec, backup,
// deploy, agent) and of errors, as pure functions of hand-made results:
// each human view and each JSON view, written to the harness's memory
// streams, and where each line goes (stdout or stderr).
#include <catch2/catch.hpp>

#include <chrono>

#include <nlohmann/json.hpp>

#include "cli/views/agent_view.h"
#include "cli/views/backup_view.h"
#include "cli/views/deploy_view.h"
#include "cli/views/error_view.h"
#include "cli/views/exec_view.h"
#include "cli/views/health_view.h"
#include "cli/views/render.h"
#include "tests/unit/command_harness.h"

using namespace keel;
using keel::testing::CommandRun;
using nlohmann::json;

namespace {

using Clock = std::chrono::system_clock;

// 2026-11-27T18:14:00Z, and a check that ran 5 s before.
Clock::time_point now() { return Clock::from_time_t(1795803240); }

std::vector<agents::HostHealth> two_hosts() {
  agents::HostHealth web;
  web.address = "servers.web[0]";
  web.agent_url = "https://127.0.0.1:9100";
  web.reachable = true;
  web.status = checks::CheckStatus::Warning;
  agents::CheckReport c;
  c.name = "disk";
  c.type = "disk";
  c.status = checks::CheckStatus::Warning;
  c.output = "91% used\nsecond line";
  c.last_run = "2026-11-27T18:13:55Z";
  c.last_run_unix = 1795803235;
  c.duration_ms = 3;
  c.interval = "30s";
  web.checks.push_back(c);
  agents::HostHealth db;
  db.address = "servers.db";
  db.agent_url = "https://127.0.0.1:9101";
  db.error = "GET https://127.0.0.1:9101/v1/checks: Connection refused";
  return {web, db};
}

}  // namespace

TEST_CASE("health view: the table and the Nagios summary for people", "[command][views]") {
  CommandRun r;
  const auto hosts = two_hosts();
  views::make_health_view(false, commands::streams_of(r.ctx), {})->round(hosts, agents::summarize(hosts), now());
  const std::string out = r.out();
  CHECK_THAT(out, Catch::StartsWith("HOST"));
  CHECK_THAT(out, Catch::Contains("servers.web[0]  disk   warning   5s   91% used\n"));
  CHECK_THAT(out, Catch::Contains("agent unreachable: Connection refused"));
  CHECK_THAT(out, Catch::Contains("Status: UNKNOWN — 2 hosts (1 unreachable), 1 check: 0 passing, 1 warning"));
  CHECK(out.find("second line") == std::string::npos);
  CHECK(out.find("\033[") == std::string::npos);  // no colour unless the style asks
  CHECK(r.err().empty());
}

TEST_CASE("health view: --watch redraws a terminal in place and parts rounds in a log", "[command][views]") {
  const auto hosts = two_hosts();
  {
    CommandRun r;
    views::make_health_view(false, commands::streams_of(r.ctx), {}, {true, 5, true})
        ->round(hosts, agents::summarize(hosts), now());
    CHECK_THAT(r.out(), Catch::StartsWith("\033[H\033[2Jkeel health, every 5s (Ctrl-C to stop)"));
  }
  CommandRun r;
  auto view = views::make_health_view(false, commands::streams_of(r.ctx), {}, {true, 5, false});
  view->round(hosts, agents::summarize(hosts), now());
  view->round(hosts, agents::summarize(hosts), now());
  const std::string out = r.out();
  CHECK(out.find('\033') == std::string::npos);
  CHECK(out.find("1 warning\n\nHOST") != std::string::npos);
}

TEST_CASE("health view: one JSON document and JSON lines under --watch", "[command][views]") {
  const auto hosts = two_hosts();
  {
    CommandRun r;
    views::make_health_view(true, commands::streams_of(r.ctx), {})->round(hosts, agents::summarize(hosts), now());
    const auto doc = json::parse(r.out());
    CHECK(doc["format_version"] == 1);
    CHECK(doc["status"] == "unknown");
    CHECK(doc["exit_code"] == 3);
    CHECK(doc["checked_at"] == "2026-11-27T18:14:00.000Z");
    CHECK(doc["summary"]["hosts"] == 2);
    CHECK(doc["summary"]["unreachable"] == 1);
    CHECK(doc["hosts"][0]["address"] == "servers.web[0]");
    CHECK(doc["hosts"][0]["checks"][0]["age_seconds"] == 5);
    CHECK(doc["hosts"][0]["checks"][0]["output"] == "91% used\nsecond line");
    CHECK(doc["hosts"][1]["reachable"] == false);
    CHECK(doc["hosts"][1]["error"] == "GET https://127.0.0.1:9101/v1/checks: Connection refused");
    CHECK(r.err().empty());
  }
  CommandRun r;
  auto view = views::make_health_view(true, commands::streams_of(r.ctx), {}, {true, 2, true});
  view->round(hosts, agents::summarize(hosts), now());
  view->round(hosts, agents::summarize(hosts), now());
  const std::string out = r.out();
  CHECK(out.find('\033') == std::string::npos);  // never redrawn: a document per line
  const auto first_end = out.find('\n');
  REQUIRE(first_end != std::string::npos);
  CHECK(json::parse(out.substr(0, first_end))["status"] == "unknown");
  CHECK(json::parse(out.substr(first_end + 1))["status"] == "unknown");
}

namespace {

std::vector<fleet::HostRun> three_runs() {
  fleet::HostRun a;
  a.address = "servers.web[0]";
  a.host = "root@127.0.0.1:2201";
  a.outcome = fleet::Outcome::Exited;
  a.exit_status = 0;
  a.output = "hello\n";
  a.duration = std::chrono::milliseconds(200);
  fleet::HostRun b = a;
  b.address = "servers.web[1]";
  b.host = "root@127.0.0.1:2202";
  b.exit_status = 3;
  b.output = "bad \xff byte";
  fleet::HostRun c;
  c.address = "servers.db";
  c.host = "root@127.0.0.1:2222";
  c.outcome = fleet::Outcome::Unreachable;
  c.error = Error(ErrorCode::Unavailable, "connect root@127.0.0.1:2222: Connection refused");
  return {a, b, c};
}

}  // namespace

TEST_CASE("exec view: streamed lines behind their hosts and problems on stderr and the summary", "[command][views]") {
  CommandRun r;
  const auto runs = three_runs();
  auto view = views::make_exec_view(false, views::ExecLayout::Streamed, commands::streams_of(r.ctx), 14);
  CHECK_FALSE(view->collects_output());
  view->skipped({"servers.cache[0]", "servers.cache[1]"});
  view->line("servers.db", ssh::Stream::Stdout, "up");
  view->line("servers.web[0]", ssh::Stream::Stderr, "warn");
  for (const auto& run : runs) view->host_finished(run);
  view->finished("uptime", runs, {"servers.cache[0]", "servers.cache[1]"}, std::chrono::milliseconds(400), 1);
  const std::string out = r.out(), err = r.err();
  CHECK_THAT(out, Catch::StartsWith("servers.db     | up\n"));
  CHECK_THAT(out, Catch::Contains("exit 0: 1 host: servers.web[0]\nexit 3: 1 host: servers.web[1]\n"));
  CHECK_THAT(out, Catch::Contains("1 ok, 1 failed, 1 unreachable (3 hosts) in 0.4s"));
  CHECK_THAT(err, Catch::Contains("keel: skipped, not reachable over SSH (no `ssh` in their state): servers.cache[0-1]\n"));
  CHECK_THAT(err, Catch::Contains("servers.web[0] | warn\n"));
  CHECK_THAT(err, Catch::Contains("servers.db     ! unreachable: connect root@127.0.0.1:2222: Connection refused\n"));
}

TEST_CASE("exec view: --group prints each host's output together when it ends", "[command][views]") {
  CommandRun r;
  const auto runs = three_runs();
  auto view = views::make_exec_view(false, views::ExecLayout::Grouped, commands::streams_of(r.ctx), 14);
  CHECK(view->collects_output());
  view->line("servers.web[0]", ssh::Stream::Stdout, "not printed: the group holds it");
  view->host_finished(runs[0]);
  view->host_finished(runs[2]);
  CHECK(r.out() == "--- servers.web[0] (root@127.0.0.1:2201): exit 0 in 0.2s\nhello\n"
                   "--- servers.db (root@127.0.0.1:2222): unreachable: connect root@127.0.0.1:2222: Connection refused\n");
  CHECK(r.err().empty());
}

TEST_CASE("exec view: the JSON document alone on stdout and invalid UTF-8 replaced", "[command][views]") {
  CommandRun r;
  const auto runs = three_runs();
  auto view = views::make_exec_view(true, views::ExecLayout::Grouped, commands::streams_of(r.ctx), 14);
  CHECK(view->collects_output());
  view->skipped({"servers.cache[0]"});
  view->line("servers.web[0]", ssh::Stream::Stdout, "hello");
  for (const auto& run : runs) view->host_finished(run);
  view->finished("uptime", runs, {"servers.cache[0]"}, std::chrono::milliseconds(400), 1);
  CHECK(r.err().empty());
  const auto doc = json::parse(r.out());
  CHECK(doc["format_version"] == 1);
  CHECK(doc["command"] == "uptime");
  CHECK(doc["exit_code"] == 1);
  CHECK(doc["duration_ms"] == 400);
  CHECK(doc["skipped"] == json::array({"servers.cache[0]"}));
  CHECK(doc["hosts"].size() == 3);
  CHECK(doc["hosts"][0]["output"] == "hello\n");
  CHECK(doc["hosts"][1]["exit_status"] == 3);
  CHECK(doc["hosts"][1]["output"] == "bad \xef\xbf\xbd byte");
  CHECK(doc["hosts"][2]["outcome"] == "unreachable");
  CHECK(doc["hosts"][2]["error_kind"] == "unavailable");
  CHECK(doc["summary"] == json({{"hosts", 3}, {"ok", 1}, {"failed", 1}, {"unreachable", 1}}));
}

namespace {

agents::JobRun backup_run(const std::string& status) {
  agents::JobRun run;
  run.id = "r-1";
  run.job = "nightly";
  run.kind = "backup";
  run.status = status;
  run.duration_seconds = 4.3;
  run.bytes_read = 1024 * 1024;
  run.bytes_stored = 2048;
  run.snapshot = status == "succeeded" ? "20261127T181355Z-3f2a" : "";
  run.error = status == "failed" ? "pg_dump: connection refused" : "";
  run.raw = {{"id", run.id}, {"job", run.job}, {"kind", run.kind}, {"status", status}, {"error", run.error}};
  return run;
}

}  // namespace

TEST_CASE("backup view: started on stderr and the summary on stdout or the failure on stderr", "[command][views]") {
  {
    CommandRun r;
    auto view = views::make_backup_view(false, commands::streams_of(r.ctx));
    view->started(backup_run("running"), "servers.db");
    view->finished(backup_run("succeeded"));
    CHECK(r.err() == "Started backup r-1 of `nightly` on servers.db\n");
    CHECK_THAT(r.out(), Catch::StartsWith("Backup nightly succeeded in 4.3s"));
  }
  CommandRun r;
  auto view = views::make_backup_view(false, commands::streams_of(r.ctx));
  view->finished(backup_run("failed"));
  CHECK(r.out().empty());
  CHECK(r.err() == "Error: Backup nightly failed after 4.3s: pg_dump: connection refused\n");
}

TEST_CASE("backup view: under --json the run's document alone on stdout and a failure named on stderr", "[command][views]") {
  CommandRun r;
  auto view = views::make_backup_view(true, commands::streams_of(r.ctx));
  view->started(backup_run("running"), "servers.db");
  view->finished(backup_run("failed"));
  const auto doc = json::parse(r.out());
  CHECK(doc == backup_run("failed").raw);
  CHECK(r.err() == "Error: Backup nightly failed after 4.3s: pg_dump: connection refused\n");
}

TEST_CASE("backup view: list as a table or a document and the key with its warning", "[command][views]") {
  const json manifests = json::array(
      {{{"id", "20261127T181355Z-3f2a"}, {"job", "nightly"}, {"source", "postgres"}, {"started", "2026-11-27T18:13:55Z"},
        {"finished", "2026-11-27T18:13:59Z"}, {"raw_bytes", 432331571}, {"stored_bytes", 39950745},
        {"sha256", "5e3b1c0d9a7f00112233"}}});
  {
    CommandRun r;
    auto view = views::make_backup_view(false, commands::streams_of(r.ctx));
    view->backups("nightly", "servers.db", manifests, now());
    CHECK_THAT(r.out(), Catch::StartsWith("ID"));
    CHECK_THAT(r.out(), Catch::Contains("20261127T181355Z-3f2a"));
    view->backups("nightly", "servers.db", json::array(), now());
    CHECK_THAT(r.out(), Catch::EndsWith("No backups yet.\n"));
  }
  {
    CommandRun r;
    views::make_backup_view(true, commands::streams_of(r.ctx))->backups("nightly", "servers.db", manifests, now());
    CHECK(json::parse(r.out()) == json({{"job", "nightly"}, {"server", "servers.db"}, {"backups", manifests}}));
  }
  for (bool as_json : {false, true}) {
    CommandRun r;
    views::make_backup_view(as_json, commands::streams_of(r.ctx))->key("a2V5");
    CHECK(r.out() == (as_json ? "{\"backup_key\":\"a2V5\"}\n" : "a2V5\n"));
    CHECK_THAT(r.err(), Catch::StartsWith("Warning: keep this key safe"));
  }
}

namespace {

deploy::RolloutResult rollout(bool ok) {
  deploy::RolloutResult result;
  result.app = "api";
  result.release = "20261128T041500Z-ab12cd";
  result.ok = ok;
  result.batches = {{"servers.web[0]"}, {"servers.web[1]"}};
  deploy::HostResult a;
  a.address = "servers.web[0]";
  a.batch = 0;
  a.from = "20261101T000000Z-000000";
  a.to = result.release;
  a.current = ok ? result.release : a.from;
  a.outcome = ok ? deploy::HostOutcome::Switched : deploy::HostOutcome::Unchanged;
  if (!ok) {
    a.failed = true;
    a.step = "before";
    a.error = "exit 1";
    a.output = "migration failed";
    result.error = "servers.web[0]: `before` failed: exit 1";
    result.failed_batch = 0;
  }
  deploy::HostResult b = a;
  b.address = "servers.web[1]";
  b.batch = 1;
  b.failed = false;
  b.output.clear();
  if (!ok) {
    b.outcome = deploy::HostOutcome::Skipped;
    b.error.clear();
  }
  result.hosts = {a, b};
  return result;
}

}  // namespace

TEST_CASE("deploy view: progress and the table and the closing line for people", "[command][views]") {
  CommandRun r;
  auto view = views::make_deploy_view(false, commands::streams_of(r.ctx), 12'400'000);
  REQUIRE(view->observer());
  view->observer()->started(rollout(true));
  view->observer()->batch_started(0, {"servers.web[0]"});
  view->observer()->host_step("servers.web[0]", "upload", "");
  view->observer()->batch_finished(0, true);
  view->finished(rollout(true), "", ".keel/deploys/api.jsonl");
  const std::string out = r.out();
  CHECK_THAT(out, Catch::StartsWith("Deploying api release 20261128T041500Z-ab12cd (12.4 MB) to 2 hosts in 2 batches of 1\n"
                                    "batch 1/2: servers.web[0]\n"));
  CHECK_THAT(out, Catch::Contains("servers.web[0]  upload   12.4 MB\n"));
  CHECK_THAT(out, Catch::Contains("HOST            OUTCOME   RELEASE"));
  CHECK_THAT(out, Catch::EndsWith("\nDeployed api release 20261128T041500Z-ab12cd to 2 hosts.\n"));
  CHECK(r.err().empty());
}

TEST_CASE("deploy view: a failure and an unrecorded rollout are named on stderr", "[command][views]") {
  CommandRun r;
  views::make_deploy_view(false, commands::streams_of(r.ctx), 0)
      ->finished(rollout(false), "disk full", ".keel/deploys/api.jsonl");
  CHECK_THAT(r.out(), Catch::Contains("servers.web[0]: output of `before`:\n    | migration failed\n"));
  CHECK(r.out().find("Deployed") == std::string::npos);
  CHECK(r.err() == "Warning: the rollout was not recorded in .keel/deploys/api.jsonl: disk full\n"
                   "Error: deploy of api failed: servers.web[0]: `before` failed: exit 1\n");
}

TEST_CASE("deploy view: under --json no progress and one document with the warnings", "[command][views]") {
  CommandRun r;
  auto view = views::make_deploy_view(true, commands::streams_of(r.ctx), 100);
  CHECK(view->observer() == nullptr);
  view->finished(rollout(false), "disk full", ".keel/deploys/api.jsonl");
  CHECK(r.err().empty());
  const auto doc = json::parse(r.out());
  CHECK(doc["app"] == "api");
  CHECK(doc["action"] == "deploy");
  CHECK(doc["outcome"] == "failed");
  CHECK(doc["failed_batch"] == 1);
  CHECK(doc["hosts"][0]["step"] == "before");
  CHECK(doc["hosts"][0]["batch"] == 1);
  CHECK(doc["hosts"][1]["outcome"] == "skipped");
  CHECK(doc["warnings"] == json::array({"not recorded: disk full"}));
}

namespace {

std::vector<views::AgentHostResult> agent_results() {
  views::AgentHostResult a;
  a.address = "servers.web[0]";
  a.host = "root@127.0.0.1:2201";
  a.ok = true;
  a.status.installed = true;
  a.status.running = true;
  a.status.current = true;
  a.status.service = "systemd";
  views::AgentHostResult b;
  b.address = "servers.web[1]";
  b.host = "root@127.0.0.1:2202";
  b.error = "connect root@127.0.0.1:2202: Connection refused";
  return {a, b};
}

}  // namespace

TEST_CASE("agent view: a line per host and the counts or one document", "[command][views]") {
  {
    CommandRun r;
    views::make_agent_view(false, commands::streams_of(r.ctx))->results("status", agent_results());
    CHECK(r.out() == "servers.web[0]  ok    running (systemd), this keel's version\n"
                     "servers.web[1]  FAIL  connect root@127.0.0.1:2202: Connection refused\n"
                     "\n2 hosts: 1 ok, 1 failed\n");
    CHECK(r.err().empty());
  }
  CommandRun r;
  views::make_agent_view(true, commands::streams_of(r.ctx))->results("status", agent_results());
  const auto doc = json::parse(r.out());
  CHECK(doc["action"] == "status");
  CHECK(doc["summary"] == json({{"ok", 1}, {"failed", 1}}));
  CHECK(doc["hosts"][0] == json({{"address", "servers.web[0]"}, {"host", "root@127.0.0.1:2201"}, {"ok", true},
                                 {"installed", true}, {"running", true}, {"current", true}, {"service", "systemd"},
                                 {"error", nullptr}}));
  CHECK(doc["hosts"][1]["service"].is_null());
  CHECK(doc["hosts"][1]["error"] == "connect root@127.0.0.1:2202: Connection refused");
}

TEST_CASE("error view: text on stderr or one document with an invalid stack's diagnostics", "[command][views]") {
  Diagnostics diags;
  diags.error({"keel.yaml", 3, 5}, "unknown key `sise`", "did you mean `size`?");
  {
    CommandRun r;
    auto view = views::make_error_view(false, commands::streams_of(r.ctx));
    view->invalid_stack(diags);
    view->error(Error(ErrorCode::InvalidConfig, "the stack keel.yaml is not valid"));
    CHECK(r.out().empty());
    CHECK_THAT(r.err(), Catch::Contains("keel.yaml:3:5"));
    CHECK_THAT(r.err(), Catch::EndsWith("Error: the stack keel.yaml is not valid\n"));
  }
  CommandRun r;
  auto view = views::make_error_view(true, commands::streams_of(r.ctx));
  view->warnings(diags);
  view->invalid_stack(diags);
  view->error(Error(ErrorCode::InvalidConfig, "the stack keel.yaml is not valid"));
  view->error(Error(ErrorCode::Locked, "locked by keel apply"));
  CHECK(r.err().empty());
  const std::string out = r.out();
  const auto first_end = out.find('\n');
  const auto first = json::parse(out.substr(0, first_end));
  CHECK(first["valid"] == false);
  CHECK(first["diagnostics"][0]["line"] == 3);
  CHECK(first["error"] == json({{"kind", "invalid_config"}, {"message", "the stack keel.yaml is not valid"}}));
  // The diagnostics go with the one error that follows them, not with later ones.
  const auto second = json::parse(out.substr(first_end + 1));
  CHECK_FALSE(second.contains("diagnostics"));
  CHECK(second["error"]["kind"] == "locked");
}

TEST_CASE("views: an agent's escape sequences are shown and not obeyed and bad UTF-8 keeps JSON whole", "[command][views]") {
  auto hosts = two_hosts();
  // A hostile agent: an OSC 8 link and a colour in the check's name, the
  // one-byte CSI (U+009B) and a bidi override in its output, bytes that are
  // not UTF-8.
  hosts[0].checks[0].name = "disk\033]8;;http://x/\033\\click\033[31m";
  hosts[0].checks[0].output = "\xc2\x9b" "2J \xe2\x80\xae evil \xff";
  {
    CommandRun r;
    views::make_health_view(false, commands::streams_of(r.ctx), {})->round(hosts, agents::summarize(hosts), now());
    const std::string out = r.out();
    INFO(out);
    CHECK(out.find('\033') == std::string::npos);
    CHECK(out.find("\xc2\x9b") == std::string::npos);
    CHECK(out.find("\xe2\x80\xae") == std::string::npos);
    CHECK_THAT(out, Catch::Contains("disk\\e]8;;http://x/\\e\\click\\e[31m"));
  }
  CommandRun r;
  views::make_health_view(true, commands::streams_of(r.ctx), {})->round(hosts, agents::summarize(hosts), now());
  INFO(r.out());
  const json doc = json::parse(r.out());  // one document, whatever the bytes
  CHECK(doc["hosts"][0]["checks"][0]["name"].get<std::string>().find("click") != std::string::npos);
  CHECK(r.out().find("\xe2\x80\xae") == std::string::npos);  // ASCII only: \u202e
}

TEST_CASE("views: json_document replaces bad UTF-8 and escapes everything past ASCII", "[command][views]") {
  CHECK(views::json_document(json("a\xff\xe2\x80\xae")) == "\"a\\ufffd\\u202e\"");
  CHECK(views::render_value(json("\xc2\x9b" "x")) == "\"\\u009bx\"");
  CHECK(views::shown_text("id\033[2J") == "id\\e[2J");
}

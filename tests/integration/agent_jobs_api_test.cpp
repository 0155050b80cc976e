// keel-agent as a real process running backup jobs through a fake keel-dr (a
// shell script that speaks the worker protocol): the job routes, 409 while a
// run is in progress, the run history across a restart, the dr check, and
// the job metrics through promtool.

#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/files.h"
#include "core/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/eventually.h"

using namespace keel;
using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using keel::testing::TempDir;
using keel::testing::eventually;

const char* const kKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const char* const kPassword = "pg-password-never-logged";

std::string agent_bin() {
  const char* bin = std::getenv("KEEL_AGENT_BIN");
  if (!bin) FAIL("KEEL_AGENT_BIN is not set (ctest sets it)");
  return bin;
}

// The fake worker: a backup takes a second; every request is kept in
// DIR/requests/ for the test to read.
std::string fake_worker(const TempDir& dir) {
  std::string script = fmt::format(R"SH(#!/bin/sh
dir='{0}'
req=$(cat)
op=$(printf '%s' "$req" | sed -n 's/.*"op":"\([a-z]*\)".*/\1/p')
run=$(printf '%s' "$req" | sed -n 's/.*"run_id":"\([^"]*\)".*/\1/p')
mkdir -p "$dir/requests"
printf '%s\n' "$req" > "$dir/requests/$op-$run.json"
echo "fake keel-dr: $op" >&2
case "$op" in
  backup)
    sleep 1
    echo '{{"event":"progress","bytes_read":512,"bytes_stored":128}}'
    echo '{{"event":"result","result":{{"manifest":{{"id":"snap-1","job":"db","source":"files","started":"2026-01-01T00:00:00Z","finished":"2026-01-01T00:00:01Z","raw_bytes":2048,"stored_bytes":512,"sha256":"ab","key_id":"k","keel_version":"0.1.0"}},"retention":{{"kept":["snap-1"],"removed":[]}}}}}}'
    ;;
  restore) echo '{{"event":"result","result":{{"snapshot":"snap-1","target":"app_restored"}}}}' ;;
  drill) echo '{{"event":"result","result":{{"snapshot":"snap-1","verified":true,"verify_output":"1","rto_seconds":0.5,"rpo_seconds":3}}}}' ;;
  prune) echo '{{"event":"result","result":{{"kept":["snap-1"],"removed":[]}}}}' ;;
  list) echo '{{"event":"result","result":{{"backups":[{{"id":"snap-1","job":"db"}}]}}}}' ;;
esac
)SH",
                                   dir.path);
  REQUIRE(files::write_atomic(dir / "fake-keel-dr", script, 0755));
  return dir / "fake-keel-dr";
}

class JobsAgent {
 public:
  explicit JobsAgent(const TempDir& dir) : dir_(dir) {
    token = fmt::format("tok-{}-0123456789abcdef", ::getpid());
    REQUIRE(files::write_atomic(dir / "token", token + "\n", 0600));
    REQUIRE(files::write_atomic(dir / "backup.key", std::string(kKey) + "\n", 0600));
    auto port_or = process::free_local_port();
    REQUIRE(port_or);
    port = *port_or;
    const std::string config = fmt::format(R"(listen: 127.0.0.1:{}
token_file: token
backup_key_file: backup.key
dr_worker: {}
checks:
  ok: {{ exec: [/bin/true], interval: 1h }}
backups:
  db:
    source: {{ postgres: {{ user: app, password: "{}", database: app }} }}
    to: file://{}
    rpo: 1h
    drill: {{ verify: "SELECT 1" }}
)",
                                           port, fake_worker(dir), kPassword, dir / "backups");
    REQUIRE(files::write_atomic(dir / "agent.yaml", config, 0600));
    start();
  }
  ~JobsAgent() { stop(); }

  void start() {
    std::string command = fmt::format("exec '{}' --config '{}' 2>>'{}'", agent_bin(), dir_ / "agent.yaml",
                                      dir_ / "agent.log");
    process::Child::Spec spec;
    spec.argv = {"/bin/sh", "-c", command};
    auto child = process::Child::start(spec);
    REQUIRE(child);
    child_.emplace(std::move(*child));
    REQUIRE(eventually([&] {
      auto r = client().Get("/v1/ping");
      return r && r->status == 200;
    }));
  }

  void stop() {
    if (!child_) return;
    child_->kill(SIGTERM);
    child_->wait();
    child_.reset();
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", port);
    c.set_bearer_token_auth(token);
    c.set_read_timeout(70, 0);
    return c;
  }

  std::pair<int, json> get(const std::string& path) {
    auto r = client().Get(path);
    REQUIRE(r);
    return {r->status, r->body.empty() ? json() : json::parse(r->body)};
  }

  std::pair<int, json> post(const std::string& path, const std::string& body = "") {
    auto r = client().Post(path, body, "application/json");
    REQUIRE(r);
    return {r->status, json::parse(r->body)};
  }

  json wait_run(const std::string& id) {
    json run;
    REQUIRE(eventually([&] {
      run = get("/v1/runs/" + id).second["run"];
      return run["status"] != "running";
    }));
    return run;
  }

  std::string log() const { return files::read_file(dir_ / "agent.log").value_or(""); }

  std::string token;
  int port = 0;

 private:
  const TempDir& dir_;
  std::optional<process::Child> child_;
};

}  // namespace

TEST_CASE("agent jobs: runs through the API, one at a time, kept across a restart", "[agent][jobs]") {
  TempDir dir;
  JobsAgent agent(dir);

  auto [status, started] = agent.post("/v1/jobs/db/run");
  REQUIRE(status == 202);
  const std::string id = started["run"]["id"];
  CHECK(started["run"]["status"] == "running");
  CHECK(started["run"]["kind"] == "backup");
  CHECK(started["run"]["finished"].is_null());

  auto [busy_status, busy] = agent.post("/v1/jobs/db/drill");
  CHECK(busy_status == 409);
  CHECK(busy["run_id"] == id);
  CHECK(busy["error"].get<std::string>().find("in progress") != std::string::npos);
  CHECK(agent.post("/v1/jobs/nope/run").first == 404);
  CHECK(agent.get("/v1/jobs").second["jobs"][0]["running_run"] == id);

  json run = agent.wait_run(id);
  CHECK(run["status"] == "succeeded");
  CHECK(run["snapshot"] == "snap-1");
  CHECK(run["bytes_read"] == 2048);
  CHECK(run["bytes_stored"] == 512);
  CHECK(run["result"]["retention"]["kept"] == json{"snap-1"});
  CHECK(run["duration_seconds"].get<double>() >= 0.9);

  json job = agent.get("/v1/jobs").second["jobs"][0];
  CHECK(job["name"] == "db");
  CHECK(job["source"] == "postgres");
  CHECK(job["schedule"].is_null());
  CHECK(job["next_run"].is_null());
  CHECK(job["running_run"].is_null());
  CHECK(job["last_backup"]["id"] == id);
  CHECK(job["last_success"] == run["finished"]);
  CHECK(job.dump().find(kPassword) == std::string::npos);

  // A restore names its snapshot and target; a bad body is refused.
  CHECK(agent.post("/v1/jobs/db/restore", R"({"snapshot": 3})").first == 400);
  auto [restore_status, restore] = agent.post("/v1/jobs/db/restore", R"({"snapshot": "snap-1", "to": "app_restored"})");
  REQUIRE(restore_status == 202);
  const std::string restore_id = restore["run"]["id"];
  CHECK(agent.wait_run(restore_id)["status"] == "succeeded");
  auto request = json::parse(files::read_file(dir / ("requests/restore-" + restore_id + ".json")).value());
  CHECK(request["snapshot"] == "snap-1");
  CHECK(request["target"] == "app_restored");
  CHECK(request["key"] == kKey);
  CHECK(request["job"]["source"]["postgres"]["password"] == kPassword);

  auto [list_status, list] = agent.get("/v1/backups/db");
  CHECK(list_status == 200);
  CHECK(list["job"] == "db");
  CHECK(list["backups"][0]["id"] == "snap-1");
  CHECK(agent.get("/v1/backups/nope").first == 404);
  CHECK(agent.get("/v1/runs/no-such-run").first == 404);

  // The dr check: a fresh backup, no drill yet (drills here are on demand).
  REQUIRE(eventually([&] { return agent.get("/v1/checks/dr-db").second["status"] == "passing"; }));
  json check = agent.get("/v1/checks/dr-db").second;
  CHECK(check["type"] == "dr");
  CHECK(check["output"].get<std::string>().find("newest backup") != std::string::npos);
  auto [health_status, health] = agent.get("/v1/health");
  CHECK(health_status == 200);
  CHECK(health["counts"]["passing"] == 2);

  auto metrics = agent.client().Get("/metrics");
  REQUIRE(metrics);
  const std::string& text = metrics->body;
  CHECK(text.find("keel_backup_last_success_timestamp_seconds{job=\"db\"} ") != std::string::npos);
  CHECK(text.find("keel_backup_bytes{job=\"db\",kind=\"raw\"} 2048\n") != std::string::npos);
  CHECK(text.find("keel_restore_duration_seconds{job=\"db\"} ") != std::string::npos);
  CHECK(text.find("keel_job_runs_total{job=\"db\",kind=\"backup\",status=\"succeeded\"} 1\n") != std::string::npos);
  CHECK(text.find("keel_check_status{check=\"dr-db\",type=\"dr\"} 0\n") != std::string::npos);
  if (process::which("promtool").empty()) {
    WARN("promtool is not installed (Debian package prometheus): format not checked");
  } else {
    REQUIRE(files::write_atomic(dir / "metrics.txt", text));
    process::Options promtool;
    promtool.argv = {"/bin/sh", "-c", "promtool check metrics < '" + (dir / "metrics.txt") + "'"};
    auto checked = process::run(promtool);
    REQUIRE(checked);
    INFO(checked->output);
    CHECK(checked->exit_code == 0);
  }

  // A restart keeps the history.
  agent.stop();
  agent.start();
  auto [runs_status, runs] = agent.get("/v1/runs?job=db");
  CHECK(runs_status == 200);
  REQUIRE(runs["runs"].size() == 2);
  CHECK(runs["runs"][0]["id"] == restore_id);  // newest first
  CHECK(runs["runs"][1]["id"] == id);
  CHECK(agent.get("/v1/runs/" + id).second["run"]["status"] == "succeeded");
  CHECK(agent.get("/v1/jobs").second["jobs"][0]["last_backup"]["id"] == id);

  agent.stop();
  const std::string log = agent.log();
  CHECK(log.find("fake keel-dr: backup") != std::string::npos);  // the worker's stderr, forwarded
  CHECK(log.find(kKey) == std::string::npos);
  CHECK(log.find(kPassword) == std::string::npos);
}

// The agent's backup jobs without databases: config parsing and its
// diagnostics, the keel-dr protocol and the scheduler against fake workers
// (shell scripts), the run history file, the dr check's verdicts, metrics.
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "agent/config.h"
#include "core/time.h"
#include "agent/jobs/dr_check.h"
#include "agent/jobs/job_scheduler.h"
#include "agent/jobs/run_history.h"
#include "agent/jobs/worker.h"
#include "agent/metrics.h"
#include "core/files.h"
#include "core/log.h"
#include "core/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/eventually.h"

using namespace keel;
using namespace keel::agent;
using checks::CheckStatus;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using keel::testing::TempDir;
using keel::testing::eventually;

const char* const kKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";  // 32 bytes, base64

// A fake keel-dr: keeps each request in DIR/requests/, logs to stderr, and
// answers every op the way the real one does. A backup takes BACKUP_SLEEP
// seconds; a drill fails when DIR/fail-drill exists.
std::string write_fake_worker(const TempDir& dir, const std::string& backup_sleep = "0") {
  const std::string script = fmt::format(R"SH(#!/bin/sh
dir='{0}'
req=$(cat)
op=$(printf '%s' "$req" | sed -n 's/.*"op":"\([a-z]*\)".*/\1/p')
run=$(printf '%s' "$req" | sed -n 's/.*"run_id":"\([^"]*\)".*/\1/p')
mkdir -p "$dir/requests"
printf '%s\n' "$req" > "$dir/requests/$run.json"
echo "fake keel-dr: $op $run" >&2
case "$op" in
  backup)
    sleep {1}
    echo '{{"event":"progress","bytes_read":100,"bytes_stored":40}}'
    echo '{{"event":"result","result":{{"manifest":{{"id":"snap-'"$run"'","job":"db","source":"postgres","started":"2026-01-01T00:00:00Z","finished":"2026-01-01T00:00:01Z","raw_bytes":1000,"stored_bytes":400,"sha256":"ab","key_id":"k1","keel_version":"0.1.0"}},"retention":{{"kept":[],"removed":[]}}}}}}'
    ;;
  drill)
    if [ -e "$dir/fail-drill" ]; then
      echo '{{"event":"error","error":"verify query failed: relation users does not exist","code":"Corrupt"}}'
      exit 1
    fi
    echo '{{"event":"result","result":{{"snapshot":"snap-1","verified":true,"verify_output":"42","rto_seconds":2.5,"rpo_seconds":60}}}}'
    ;;
  restore) echo '{{"event":"result","result":{{"snapshot":"snap-1","target":"app_restored"}}}}' ;;
  prune) echo '{{"event":"result","result":{{"kept":["snap-1"],"removed":[]}}}}' ;;
  list) echo '{{"event":"result","result":{{"backups":[{{"id":"snap-2"}},{{"id":"snap-1"}}]}}}}' ;;
esac
)SH",
                                         dir.path, backup_sleep);
  const std::string path = dir / "fake-keel-dr";
  REQUIRE(files::write_atomic(path, script, 0755));
  return path;
}

std::string write_script(const TempDir& dir, const std::string& name, const std::string& body) {
  const std::string path = dir / name;
  REQUIRE(files::write_atomic(path, "#!/bin/sh\n" + body, 0755));
  return path;
}

BackupJob test_job(const std::string& name) {
  BackupJob job;
  job.name = name;
  job.source = SourceKind::Postgres;
  job.to = "file:///var/backups/keel";
  job.definition = {{"name", name}, {"source", {{"postgres", {{"database", "app"}}}}}, {"to", job.to}};
  return job;
}

Run finished_run(const std::string& job, RunKind kind, RunStatus status, Run::TimePoint started,
                 std::chrono::milliseconds took = 1s) {
  Run run;
  run.started = started;
  run.id = new_run_id(started);
  run.job = job;
  run.kind = kind;
  run.status = status;
  run.finished = started + took;
  if (status == RunStatus::Failed) run.error = "boom";
  return run;
}

// Captures what the process writes to stderr (the logs) while alive.
class StderrCapture {
 public:
  explicit StderrCapture(std::string path) : path_(std::move(path)) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    return files::read_file(path_).value_or("");
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::string path_;
  int saved_ = -1;
};

}  // namespace

// ---- config ----------------------------------------------------------------

TEST_CASE("jobs config: a full backups section parses", "[agent][jobs][config]") {
  auto load = parse_agent_config(R"(token_file: agent.token
backup_key_file: backup.key
dr_worker: bin/keel-dr
checks:
  web: { tcp: "127.0.0.1:80" }
backups:
  app-db:
    source: { postgres: { host: 10.0.0.5, user: app, password: "s3cret-pg", database: app } }
    schedule: "0 3 * * *"
    to: s3://bucket/prefix
    s3: { endpoint: "http://127.0.0.1:9000", region: us-east-1, path_style: true, access_key_id: AK, secret_access_key: "s3cret-s3" }
    retention: { keep_last: 3, keep_daily: 7 }
    rpo: 24h
    drill: { every: 7d, verify: "SELECT count(*) FROM users" }
  cache:
    source: { redis: { port: 6380 } }
    to: sftp://backup@10.0.0.9:2222/srv/backups
    sftp: { key: id_ed25519, known_hosts: known_hosts }
  etc:
    source: { files: [/etc/keel, data] }
    to: file:///var/backups/keel
    drill:
)",
                                 "agent.yaml", "/etc/keel");
  INFO(load.diagnostics.describe());
  REQUIRE_FALSE(load.diagnostics.has_errors());
  const auto& c = load.config;
  CHECK(c.backup_key_file == "/etc/keel/backup.key");
  CHECK(c.dr_worker == "/etc/keel/bin/keel-dr");
  REQUIRE(c.backups.size() == 3);

  const BackupJob& db = c.backups[0];
  CHECK(db.name == "app-db");
  CHECK(db.source == SourceKind::Postgres);
  REQUIRE(db.schedule);
  CHECK(db.schedule->text == "0 3 * * *");
  CHECK(db.rpo == std::chrono::hours(24));
  CHECK(db.drill);
  CHECK(db.drill_every == std::chrono::hours(24 * 7));
  const json& d = db.definition;
  CHECK(d["name"] == "app-db");
  CHECK(d["source"]["postgres"]["host"] == "10.0.0.5");
  CHECK(d["source"]["postgres"]["port"] == 5432);  // the default is filled in for the worker
  CHECK(d["source"]["postgres"]["password"] == "s3cret-pg");
  CHECK(d["s3"]["path_style"] == true);
  CHECK(d["retention"] == json{{"keep_last", 3}, {"keep_daily", 7}});
  CHECK(d["drill"]["every"] == "7d");
  CHECK(d["drill"]["verify"] == "SELECT count(*) FROM users");

  const BackupJob& cache = c.backups[1];
  CHECK(cache.source == SourceKind::Redis);
  CHECK_FALSE(cache.schedule);
  CHECK_FALSE(cache.rpo);
  CHECK_FALSE(cache.drill);
  CHECK(cache.definition["source"]["redis"] == json{{"host", "127.0.0.1"}, {"port", 6380}});
  CHECK(cache.definition["sftp"]["key"] == "/etc/keel/id_ed25519");

  const BackupJob& etc = c.backups[2];
  CHECK(etc.definition["source"]["files"] == json{"/etc/keel", "/etc/keel/data"});
  CHECK(etc.drill);                 // `drill:` alone: on demand
  CHECK_FALSE(etc.drill_every);
}

TEST_CASE("jobs config: problems are reported with line, column and hints, never with secrets",
          "[agent][jobs][config]") {
  auto load = parse_agent_config(R"(token_file: agent.token
checks:
  dr-db: { tcp: "127.0.0.1:5432" }
backups:
  db:
    source: { postgres: { user: app, database: app, password: "hunter2-secret" }, redis: {} }
    schedul: "0 3 * * *"
    to: "ftp://user:hunter3-secret@host/x"
  two:
    source: { files: [/srv] }
    schedule: "0 25 * * *"
    to: file:///backups
    s3: { region: eu }
    retention: { keep_last: 0, keep_dayly: 2 }
    rpo: soon
    drill: { every: 0s }
  "bad name!":
    source: { files: [/srv] }
    to: file:///backups
)",
                                 "agent.yaml", "/etc/keel");
  const std::string text = load.diagnostics.describe();
  INFO(text);
  CHECK(load.diagnostics.has_errors());
  CHECK(load.config.backups.empty());  // a job with any problem is left out
  CHECK(text.find("agent.yaml:6:83: error: `backups.db.source` has two sources, `postgres` and `redis`") !=
        std::string::npos);
  CHECK(text.find("agent.yaml:7:5: error: unknown key `schedul` in backup `db`; did you mean `schedule`?") !=
        std::string::npos);
  CHECK(text.find("`backups.db.to` must be a file://, s3:// or sftp:// URL") != std::string::npos);
  CHECK(text.find("agent.yaml:11:15: error: `backups.two.schedule`: cron field `hour`") != std::string::npos);
  CHECK(text.find("`s3` applies to an s3:// destination") != std::string::npos);
  CHECK(text.find("unknown key `keep_dayly` in `backups.two.retention`; did you mean `keep_daily`?") !=
        std::string::npos);
  CHECK(text.find("`backups.two.rpo`: `soon` is not a duration") != std::string::npos);
  CHECK(text.find("`backups.two.drill.every` must be longer than zero") != std::string::npos);
  CHECK(text.find("backup name `bad name!` must hold only letters") != std::string::npos);
  CHECK(text.find("`backups` needs `backup_key_file`") != std::string::npos);
  CHECK(text.find("check `dr-db` has the name of backup `db`'s built-in check") == std::string::npos);  // db was dropped
  CHECK(text.find("hunter2-secret") == std::string::npos);
  CHECK(text.find("hunter3-secret") == std::string::npos);
}

TEST_CASE("jobs config: a check may not take a job's dr check name", "[agent][jobs][config]") {
  auto load = parse_agent_config(R"(token_file: agent.token
backup_key_file: backup.key
checks:
  dr-db: { tcp: "127.0.0.1:5432" }
backups:
  db: { source: { files: [/srv] }, to: "file:///backups", retention: { keep_last: 0 } }
  db2: { source: { files: [/srv] }, to: "file:///backups" }
)",
                                 "agent.yaml", "/etc/keel");
  const std::string text = load.diagnostics.describe();
  INFO(text);
  CHECK(text.find("`backups.db.retention` keeps no backup") != std::string::npos);
  auto ok = parse_agent_config(R"(token_file: agent.token
backup_key_file: backup.key
checks:
  dr-db: { tcp: "127.0.0.1:5432" }
backups:
  db: { source: { files: [/srv] }, to: "file:///backups" }
)",
                               "agent.yaml", "/etc/keel");
  CHECK(ok.diagnostics.describe().find("check `dr-db` has the name of backup `db`'s built-in check") !=
        std::string::npos);
}

TEST_CASE("jobs config: the backup key file must be private and hold 32 bytes", "[agent][jobs][config]") {
  TempDir dir;
  REQUIRE(files::write_atomic(dir / "good.key", std::string(kKey) + "\n", 0600));
  auto good = read_backup_key(dir / "good.key");
  REQUIRE(good);
  CHECK(*good == kKey);

  REQUIRE(files::write_atomic(dir / "open.key", kKey, 0644));
  auto open = read_backup_key(dir / "open.key");
  REQUIRE_FALSE(open);
  CHECK(open.error().message().find("chmod 600") != std::string::npos);

  REQUIRE(files::write_atomic(dir / "short.key", "not-a-key-at-all", 0600));
  auto bad = read_backup_key(dir / "short.key");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message().find("44 characters") != std::string::npos);
  CHECK(bad.error().message().find("not-a-key-at-all") == std::string::npos);
}

TEST_CASE("jobs config: destinations lose their password for display", "[agent][jobs][config]") {
  CHECK(public_destination("sftp://backup:pw@host:22/dir") == "sftp://backup@host:22/dir");
  CHECK(public_destination("sftp://backup@host:22/dir") == "sftp://backup@host:22/dir");
  CHECK(public_destination("s3://bucket/prefix") == "s3://bucket/prefix");
  CHECK(public_destination("file:///var/backups/a@b:c") == "file:///var/backups/a@b:c");
}

// ---- runs and history ------------------------------------------------------

TEST_CASE("jobs history: runs survive a reopen, a torn last line is dropped", "[agent][jobs][history]") {
  TempDir dir;
  const auto t0 = std::chrono::system_clock::now() - 1h;
  Run backup = finished_run("db", RunKind::Backup, RunStatus::Succeeded, t0);
  backup.snapshot = "snap-1";
  backup.result = {{"manifest", {{"id", "snap-1"}}}};
  Run drill = finished_run("db", RunKind::Drill, RunStatus::Failed, t0 + 10min);
  {
    RunHistory history;
    REQUIRE(history.open(dir / "jobs"));
    REQUIRE(history.record(backup));
    REQUIRE(history.record(drill));
  }
  // A crash in the middle of the next append.
  {
    auto file = files::AppendFile::open(dir / "jobs/runs.jsonl");
    REQUIRE(file);
    REQUIRE(file->append(R"({"id":"20260101T000000000Z-abcdef","job":"db","kind":"backup","sta)"));
  }
  RunHistory history;
  REQUIRE(history.open(dir / "jobs"));
  auto runs = history.runs("db");
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].id == drill.id);  // newest first
  CHECK(runs[0].status == RunStatus::Failed);
  CHECK(runs[0].error == "boom");
  CHECK(runs[1].snapshot == "snap-1");
  CHECK(runs[1].result["manifest"]["id"] == "snap-1");
  CHECK(history.last("db", RunKind::Backup, true)->id == backup.id);
  CHECK(history.find(drill.id));
  CHECK_FALSE(history.find("20260101T000000000Z-abcdef"));
  // The file was rewritten: the next line starts on a line of its own.
  auto text = files::read_file(dir / "jobs/runs.jsonl");
  REQUIRE(text);
  CHECK(text->back() == '\n');
  Run prune = finished_run("db", RunKind::Prune, RunStatus::Succeeded, t0 + 20min);
  REQUIRE(history.record(prune));
  RunHistory again;
  REQUIRE(again.open(dir / "jobs"));
  CHECK(again.runs().size() == 3);
  CHECK(again.file_lines() == 3);
}

TEST_CASE("jobs history: memory keeps the last runs per kind and the last success, then the file is compacted",
          "[agent][jobs][history]") {
  TempDir dir;
  RunHistory history(/*compact_lines=*/80);
  REQUIRE(history.open(dir.path));
  const auto t0 = std::chrono::system_clock::now() - 24h;
  Run good = finished_run("db", RunKind::Backup, RunStatus::Succeeded, t0);
  Run drill = finished_run("db", RunKind::Drill, RunStatus::Succeeded, t0 + 1s);
  REQUIRE(history.record(good));
  REQUIRE(history.record(drill));
  for (int i = 0; i < 100; ++i)
    REQUIRE(history.record(finished_run("db", RunKind::Backup, RunStatus::Failed, t0 + std::chrono::minutes(i + 1))));
  CHECK(history.last("db", RunKind::Backup, true)->id == good.id);
  CHECK(history.last("db", RunKind::Drill)->id == drill.id);
  CHECK(history.runs("db").size() == RunHistory::kPerKind + 2);
  CHECK(history.file_lines() <= 80);
  RunHistory reloaded;
  REQUIRE(reloaded.open(dir.path));
  CHECK(reloaded.last("db", RunKind::Backup, true)->id == good.id);
  CHECK(reloaded.last("db", RunKind::Drill)->id == drill.id);
  CHECK(reloaded.last("db", RunKind::Backup)->status == RunStatus::Failed);
}

TEST_CASE("jobs runs: ids sort by start and times round-trip", "[agent][jobs][history]") {
  const auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795803235123));
  const std::string a = new_run_id(t), b = new_run_id(t + 1ms);
  CHECK(a.rfind("20261127T181355123Z-", 0) == 0);
  CHECK(a < b);
  auto parsed = keel::timeutil::parse_rfc3339("2026-11-27T18:13:55.123Z");
  REQUIRE(parsed);
  CHECK(*parsed == t);
  CHECK_FALSE(keel::timeutil::parse_rfc3339("2026-11-27 18:13:55"));  // no zone
  Run run = finished_run("db", RunKind::Restore, RunStatus::Succeeded, t, 1500ms);
  json j = to_json(run);
  CHECK(j["duration_seconds"] == 1.5);
  CHECK(j["finished"] == "2026-11-27T18:13:56.623Z");
  auto back = run_from_json(j);
  REQUIRE(back);
  CHECK(back->finished == run.finished);
  CHECK(back->kind == RunKind::Restore);
}

// ---- the worker protocol ---------------------------------------------------

TEST_CASE("jobs worker: results, errors and deaths", "[agent][jobs][worker]") {
  TempDir dir;
  WorkerCall call;
  call.job = "db";
  call.run_id = "r1";
  call.request = {{"op", "backup"}, {"run_id", "r1"}, {"key", kKey}};
  long long progress = 0;
  call.on_progress = [&](long long read, long long) { progress = read; };

  call.worker = write_fake_worker(dir);
  auto ok = run_worker(call);
  REQUIRE(ok);
  CHECK((*ok)["manifest"]["raw_bytes"] == 1000);
  CHECK(progress == 100);
  // The request arrived whole on stdin.
  auto request = files::read_file(dir / "requests/r1.json");
  REQUIRE(request);
  CHECK(json::parse(*request)["key"] == kKey);

  call.worker = write_script(dir, "error.sh", R"(cat >/dev/null
echo '{"event":"error","error":"no backup named x","code":"not_found","result":{"rto_seconds":1.5}}'
exit 1
)");
  json partial;
  auto error = run_worker(call, &partial);
  REQUIRE_FALSE(error);
  CHECK(error.error().code() == ErrorCode::NotFound);
  CHECK(error.error().message() == "no backup named x");
  CHECK(partial["rto_seconds"] == 1.5);  // what the worker did before it failed

  call.worker = write_script(dir, "dies.sh", R"(cat >/dev/null
echo 'pg_dump: connection refused' >&2
echo 'giving up' >&2
exit 3
)");
  auto died = run_worker(call);
  REQUIRE_FALSE(died);
  CHECK(died.error().message() ==
        "keel-dr exited with exit status 3 without a result: pg_dump: connection refused | giving up");

  call.worker = dir / "no-such-worker";
  auto missing = run_worker(call);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message().find("keel-dr: cannot run") != std::string::npos);
}

TEST_CASE("jobs worker: keel-dr's log lines keep their level and stay out of a failure's tail",
          "[agent][jobs][worker]") {
  TempDir dir;
  WorkerCall call;
  call.job = "db";
  call.run_id = "r1";
  call.request = {{"op", "backup"}, {"run_id", "r1"}, {"key", kKey}};
  call.worker = write_script(dir, "logs.sh", R"(cat >/dev/null
echo '2026-12-07T21:00:00.000Z info s3: uploading part 1' >&2
echo '2026-12-07T21:00:01.000Z warning s3: the unfinished upload stays' >&2
echo 'pg_dump: connection refused' >&2
exit 3
)");
  logging::Capture log(logging::Level::Info);
  auto died = run_worker(call);
  REQUIRE_FALSE(died);
  CHECK(died.error().message() ==
        "keel-dr exited with exit status 3 without a result: 2026-12-07T21:00:01.000Z warning s3: the unfinished "
        "upload stays | pg_dump: connection refused");
  const std::string text = log.text();
  CHECK(text.find("info keel-dr job=db run=r1 line=\"2026-12-07T21:00:00.000Z info s3: uploading part 1\"") !=
        std::string::npos);
  CHECK(text.find("warning keel-dr job=db run=r1 line=\"2026-12-07T21:00:01.000Z warning s3:") != std::string::npos);
  CHECK(text.find("info keel-dr job=db run=r1 line=\"pg_dump: connection refused\"") != std::string::npos);
}

TEST_CASE("jobs worker: a timeout or a cancel ends the worker's whole process group", "[agent][jobs][worker]") {
  TempDir dir;
  WorkerCall call;
  call.job = "db";
  call.run_id = "r2";
  call.request = {{"op", "list"}};
  // The grandchild would keep the pipes open forever if it survived.
  call.worker = write_script(dir, "hang.sh", fmt::format("cat >/dev/null\nsleep 30 &\necho $! > '{}'\nwait\n",
                                                         dir / "grandchild.pid"));
  call.timeout = 300ms;
  auto started = std::chrono::steady_clock::now();
  auto timed_out = run_worker(call);
  REQUIRE_FALSE(timed_out);
  CHECK(timed_out.error().code() == ErrorCode::Timeout);
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  auto pid = files::read_file(dir / "grandchild.pid");
  REQUIRE(pid);
  CHECK(eventually([&] { return !process::process_alive(std::stol(*pid)); }, 2s));

  Cancel cancel;
  call.timeout = 0ms;
  call.cancel = &cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancel.raise();
  });
  started = std::chrono::steady_clock::now();
  auto cancelled = run_worker(call);
  canceller.join();
  REQUIRE_FALSE(cancelled);
  CHECK(cancelled.error().message() == "cancelled: the agent is stopping");
  CHECK(std::chrono::steady_clock::now() - started < 5s);
}

// ---- the scheduler ---------------------------------------------------------

TEST_CASE("jobs scheduler: scheduled backups never overlap, then a due one is skipped and logged",
          "[agent][jobs][scheduler]") {
  TempDir dir;
  logging::setup(logging::Format::Text, logging::Level::Info);
  StderrCapture logs(dir / "log.txt");
  BackupJob job = test_job("db");
  job.schedule = cron::parse("* * * * *").value();
  // Due every 100 ms while a backup takes 350 ms.
  JobScheduler jobs({}, [](const BackupJob&, Run::TimePoint after) { return std::optional(after + 100ms); });
  REQUIRE(jobs.start(dir.path));
  jobs.configure({{job}, write_fake_worker(dir, "0.35"), kKey});
  REQUIRE(eventually([&] {
    int done = 0;
    for (const auto& run : jobs.runs("db")) done += run.status == RunStatus::Succeeded;
    return done >= 3;
  }));
  jobs.stop();
  auto runs = jobs.runs("db");
  std::reverse(runs.begin(), runs.end());  // oldest first
  for (size_t i = 1; i < runs.size(); ++i) {
    INFO(runs[i].id);
    REQUIRE(runs[i - 1].finished);
    CHECK(runs[i].started >= *runs[i - 1].finished);
  }
  auto metrics = jobs.metrics();
  REQUIRE(metrics.size() == 1);
  CHECK(metrics[0].runs_total[{RunKind::Backup, "skipped"}] > 0);
  CHECK(metrics[0].backup_raw_bytes == 1000);
  const std::string log = logs.text();
  CHECK(log.find("scheduled backup skipped: previous run still running job=db") != std::string::npos);
  CHECK(log.find("keel-dr job=db") != std::string::npos);  // the worker's stderr, tagged
  CHECK(log.find(kKey) == std::string::npos);
}

TEST_CASE("jobs scheduler: one run per job, drills every `every`, history kept across a restart",
          "[agent][jobs][scheduler]") {
  TempDir dir;
  BackupJob job = test_job("db");
  job.drill = true;
  job.drill_every = 300ms;
  job.definition["drill"] = {{"every", "300ms"}};
  const std::string worker = write_fake_worker(dir, "0.3");
  std::atomic<int> ended{0};
  {
    JobScheduler jobs([&](const Run&) { ++ended; });
    REQUIRE(jobs.start(dir.path));
    jobs.configure({{job}, worker, kKey});
    CHECK(jobs.jobs()[0].next_drill == std::nullopt);  // no backup yet: no drill either

    auto first = jobs.start_run("db", RunRequest{});
    REQUIRE(first.outcome == StartAnswer::Outcome::Started);
    RunRequest prune;
    prune.kind = RunKind::Prune;
    auto busy = jobs.start_run("db", prune);
    CHECK(busy.outcome == StartAnswer::Outcome::Busy);
    CHECK(busy.run->id == first.run->id);
    CHECK(jobs.start_run("nope", prune).outcome == StartAnswer::Outcome::UnknownJob);
    CHECK(jobs.jobs()[0].running_run == first.run->id);

    // After the backup: a drill 300 ms later, and again 300 ms after that.
    REQUIRE(eventually([&] {
      int drills = 0;
      for (const auto& run : jobs.runs("db")) drills += run.kind == RunKind::Drill && run.succeeded();
      return drills >= 2;
    }));
    auto view = jobs.jobs()[0];
    REQUIRE(view.last_drill);
    CHECK(view.last_drill->snapshot == "snap-1");
    REQUIRE(view.last_backup);
    CHECK(view.last_backup->snapshot == "snap-" + first.run->id);
    CHECK(view.last_success == view.last_backup->finished);
    auto m = jobs.metrics()[0];
    CHECK(m.restore_duration == 2.5);  // the drill's RTO
    CHECK(m.drill_last_success);
    // The worker got the job's definition, the key and the spool directory.
    auto request = json::parse(files::read_file(dir / ("requests/" + first.run->id + ".json")).value());
    CHECK(request["op"] == "backup");
    CHECK(request["job"]["name"] == "db");
    CHECK(request["key"] == kKey);
    CHECK(request["spool_dir"] == dir / "spool");
    jobs.configure({{}, worker, ""});  // the job is removed: no more drills
  }
  CHECK(ended >= 3);

  JobScheduler restarted;
  REQUIRE(restarted.start(dir.path));
  restarted.configure({{job}, worker, kKey});
  auto runs = restarted.runs("db");
  CHECK(runs.size() >= 3);
  CHECK(restarted.jobs()[0].last_success);
  // Backups exist per history and drills too: the next drill follows the last one.
  CHECK(restarted.jobs()[0].next_drill);
  restarted.stop();
}

TEST_CASE("jobs scheduler: stop ends a run in flight, which is kept as failed", "[agent][jobs][scheduler]") {
  TempDir dir;
  BackupJob job = test_job("db");
  std::string id;
  {
    JobScheduler jobs;
    REQUIRE(jobs.start(dir.path));
    jobs.configure({{job}, write_fake_worker(dir, "30"), kKey});
    auto started = jobs.start_run("db", RunRequest{});
    REQUIRE(started.run);
    id = started.run->id;
    std::this_thread::sleep_for(200ms);
    auto t = std::chrono::steady_clock::now();
    jobs.stop();
    CHECK(std::chrono::steady_clock::now() - t < 6s);
    CHECK(jobs.start_run("db", RunRequest{}).outcome == StartAnswer::Outcome::Stopping);
  }
  RunHistory history;
  REQUIRE(history.open(dir / "jobs"));
  auto run = history.find(id);
  REQUIRE(run);
  CHECK(run->status == RunStatus::Failed);
  CHECK(run->error == "cancelled: the agent is stopping");
}

TEST_CASE("jobs scheduler: backups are listed through the worker", "[agent][jobs][scheduler]") {
  TempDir dir;
  JobScheduler jobs;
  REQUIRE(jobs.start(dir.path));
  jobs.configure({{test_job("db")}, write_fake_worker(dir), kKey});
  auto list = jobs.list_backups("db");
  REQUIRE(list);
  CHECK(list->size() == 2);
  CHECK((*list)[0]["id"] == "snap-2");
  auto missing = jobs.list_backups("nope");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code() == ErrorCode::NotFound);
}

// ---- the dr check ----------------------------------------------------------

TEST_CASE("dr check: backup age against the rpo", "[agent][jobs][dr]") {
  const auto now = std::chrono::system_clock::now();
  BackupJob job = test_job("db");
  DrFacts facts;
  facts.now = now;
  facts.watched_since = now - 1h;

  auto none = evaluate_dr(job, facts);
  CHECK(none.status == CheckStatus::Passing);
  CHECK(none.output == "no rpo and no drill configured; no successful backup yet");

  job.rpo = 24h;
  CHECK(evaluate_dr(job, facts).status == CheckStatus::Passing);  // watched for 1h only
  facts.watched_since = now - 30h;
  CHECK(evaluate_dr(job, facts).status == CheckStatus::Warning);

  facts.last_good_backup = finished_run("db", RunKind::Backup, RunStatus::Succeeded, now - 3h);
  auto fresh = evaluate_dr(job, facts);
  CHECK(fresh.status == CheckStatus::Passing);
  CHECK(fresh.output == "newest backup 3h old (rpo 1d)");
  facts.last_good_backup = finished_run("db", RunKind::Backup, RunStatus::Succeeded, now - 25h);
  auto old = evaluate_dr(job, facts);
  CHECK(old.status == CheckStatus::Warning);
  CHECK(old.output == "newest backup 1d1h old (rpo 1d): past the rpo");
  facts.last_good_backup = finished_run("db", RunKind::Backup, RunStatus::Succeeded, now - 49h);
  auto ancient = evaluate_dr(job, facts);
  CHECK(ancient.status == CheckStatus::Critical);
  CHECK(ancient.output == "newest backup 2d1h old (rpo 1d): past twice the rpo");
}

TEST_CASE("dr check: drills that failed or are overdue warn", "[agent][jobs][dr]") {
  const auto now = std::chrono::system_clock::now();
  BackupJob job = test_job("db");
  job.rpo = 24h;
  job.drill = true;
  job.drill_every = std::chrono::hours(24 * 7);
  job.definition["drill"] = {{"every", "7d"}, {"verify", "SELECT 1"}};
  DrFacts facts;
  facts.now = now;
  facts.watched_since = now - 1h;
  facts.last_good_backup = finished_run("db", RunKind::Backup, RunStatus::Succeeded, now - 1h);

  auto first = evaluate_dr(job, facts);
  CHECK(first.status == CheckStatus::Passing);
  CHECK(first.output == "newest backup 1h old (rpo 1d); no drill yet (every 7d)");
  facts.drill_anchor = now - std::chrono::hours(24 * 15);
  CHECK(evaluate_dr(job, facts).status == CheckStatus::Warning);  // the first drill never came

  facts.last_drill = finished_run("db", RunKind::Drill, RunStatus::Succeeded, now - 48h);
  facts.last_drill->result = {{"verified", true}};
  auto good = evaluate_dr(job, facts);
  CHECK(good.status == CheckStatus::Passing);
  CHECK(good.output == "newest backup 1h old (rpo 1d); last drill 2d ago succeeded (every 7d)");

  facts.last_drill->result = {{"verified", false}};
  CHECK(evaluate_dr(job, facts).status == CheckStatus::Warning);

  facts.last_drill = finished_run("db", RunKind::Drill, RunStatus::Failed, now - 2h);
  auto failed = evaluate_dr(job, facts);
  CHECK(failed.status == CheckStatus::Warning);
  CHECK(failed.output == "newest backup 1h old (rpo 1d); last drill failed 2h ago: boom");

  facts.last_drill = finished_run("db", RunKind::Drill, RunStatus::Succeeded, now - std::chrono::hours(24 * 15));
  auto overdue = evaluate_dr(job, facts);
  CHECK(overdue.status == CheckStatus::Warning);
  CHECK(overdue.output.find("overdue (every 7d)") != std::string::npos);

  // Drill trouble never goes past warning; an old backup still does.
  facts.last_good_backup = finished_run("db", RunKind::Backup, RunStatus::Succeeded, now - 72h);
  CHECK(evaluate_dr(job, facts).status == CheckStatus::Critical);
}

// ---- metrics ---------------------------------------------------------------

TEST_CASE("jobs metrics: the job families, and promtool accepts them", "[agent][jobs][metrics]") {
  JobMetrics m;
  m.job = "app-db";
  m.backup_last_success = 1795803235.5;
  m.backup_raw_bytes = 1000;
  m.backup_stored_bytes = 400;
  m.backup_duration = 12.5;
  m.restore_duration = 2.5;
  m.runs_total[{RunKind::Backup, "succeeded"}] = 3;
  m.runs_total[{RunKind::Backup, "skipped"}] = 1;
  JobMetrics empty;
  empty.job = "cache";
  AgentCounters counters;
  const std::string text = render_metrics({}, CheckStatus::Passing, counters, ProcessStats{}, {m, empty});
  CHECK(text.find("keel_backup_last_success_timestamp_seconds{job=\"app-db\"} 1795803235.5\n") != std::string::npos);
  CHECK(text.find("keel_backup_bytes{job=\"app-db\",kind=\"raw\"} 1000\n") != std::string::npos);
  CHECK(text.find("keel_backup_bytes{job=\"app-db\",kind=\"stored\"} 400\n") != std::string::npos);
  CHECK(text.find("keel_backup_duration_seconds{job=\"app-db\"} 12.5\n") != std::string::npos);
  CHECK(text.find("# TYPE keel_drill_last_success_timestamp_seconds gauge\n") != std::string::npos);
  CHECK(text.find("keel_restore_duration_seconds{job=\"app-db\"} 2.5\n") != std::string::npos);
  CHECK(text.find("keel_job_runs_total{job=\"app-db\",kind=\"backup\",status=\"skipped\"} 1\n") != std::string::npos);
  CHECK(text.find("job=\"cache\"") == std::string::npos);  // nothing known about it yet
  // No jobs: the page is as it was.
  CHECK(render_metrics({}, CheckStatus::Passing, counters, ProcessStats{}).find("keel_backup") == std::string::npos);

  if (process::which("promtool").empty()) {
    WARN("promtool is not installed (Debian package prometheus): format not checked");
    return;
  }
  TempDir dir;
  REQUIRE(files::write_atomic(dir / "metrics.txt", text));
  process::Options options;
  options.argv = {"/bin/sh", "-c", "promtool check metrics < '" + (dir / "metrics.txt") + "'"};
  auto promtool = process::run(options);
  REQUIRE(promtool);
  INFO(promtool->output);
  CHECK(promtool->exit_code == 0);
}

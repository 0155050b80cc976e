// The agent's side of backup jobs that keel-dr relies on: destination URLs
// and job names checked by hand (no std::regex on input: long values used to
// be able to overflow the stack), and restore targets refused before a run
// starts.

#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include "agent/jobs/job_config.h"
#include "agent/jobs/job_scheduler.h"
#include "core/diagnostics.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace keel;
using namespace keel::agent;

// Parses one job `j` going to `to`; the diagnostics' text ("" when fine).
std::string problems_with(const std::string& name, const std::string& to) {
  YAML::Node backups;
  backups[name]["source"]["files"].push_back("/srv");
  backups[name]["to"] = to;
  Diagnostics diags;
  auto jobs = parse_backup_jobs(backups, "agent.yaml", "/etc/keel", diags);
  CHECK(jobs.size() == (diags.has_errors() ? 0u : 1u));
  return diags.has_errors() ? diags.describe() : "";
}

BackupJob job_of(const std::string& kind, nlohmann::json params) {
  BackupJob job;
  job.name = "j";
  job.source = kind == "postgres" ? SourceKind::Postgres : kind == "redis" ? SourceKind::Redis : SourceKind::Files;
  job.to = "file:///tmp/x";
  job.definition = {{"name", "j"}, {"source", {{kind, std::move(params)}}}, {"to", job.to}};
  return job;
}

}  // namespace

TEST_CASE("job config: destination URLs are checked by hand, as the regexes did", "[dr][config]") {
  for (const char* good : {"file:///var/backups", "s3://bucket", "s3://bucket/a/b", "sftp://host", "sftp://u@host:22/dir",
                           "sftp://host:2222", "sftp://u@h/d/e"}) {
    INFO(good);
    CHECK(problems_with("j", good).empty());
  }
  for (const char* bad : {"file://host/x", "file:/x", "s3://", "s3://b@x/y", "s3://b:1/y", "sftp://", "sftp://u@@h/d",
                          "sftp://h:/d", "sftp://h:123456/d", "sftp://h:x/d", "sftp://a@b@h/d", "sftp://h\n/d",
                          "ftp://h/d"}) {
    INFO(bad);
    CHECK_FALSE(problems_with("j", bad).empty());
  }
}

TEST_CASE("job config: very long names and URLs are refused or accepted, never a crash", "[dr][config]") {
  CHECK_FALSE(problems_with(std::string(100'000, 'a'), "file:///x").empty());
  CHECK(problems_with("j", "s3://" + std::string(100'000, 'b') + "/p").empty());
  CHECK_FALSE(problems_with("j", "sftp://" + std::string(100'000, '@')).empty());
  CHECK(problems_with("j", "file:///" + std::string(200'000, 'x')).empty());
}

TEST_CASE("job config: a job name is never `.` or `..` (it is a folder of the destination)", "[dr][config]") {
  CHECK(valid_job_name("main-nightly.v2"));
  CHECK_FALSE(valid_job_name("."));
  CHECK_FALSE(valid_job_name(".."));
  CHECK_FALSE(valid_job_name("a/b"));
  CHECK_FALSE(valid_job_name(""));
  CHECK_FALSE(valid_job_name(std::string(62, 'a')));
  CHECK_FALSE(problems_with("..", "file:///x").empty());
}

TEST_CASE("job config: restore targets are checked against the job's source", "[dr][config][security]") {
  auto pg = job_of("postgres", {{"host", "10.0.0.5"}, {"port", 5432}, {"database", "app"}});
  CHECK(check_restore_target(pg, ""));
  CHECK(check_restore_target(pg, "app_copy"));
  CHECK_FALSE(check_restore_target(pg, "host=elsewhere dbname=app"));
  auto redis = job_of("redis", {{"host", "10.0.0.5"}, {"port", 6379}});
  CHECK(check_restore_target(redis, "10.0.0.5:6380"));
  CHECK_FALSE(check_restore_target(redis, "10.0.0.6:6379"));
  auto files = job_of("files", nlohmann::json::array({"/srv"}));
  CHECK(check_restore_target(files, "/restore"));
  CHECK_FALSE(check_restore_target(files, "restore"));
}

TEST_CASE("the agent refuses a restore to a connection string before it starts a run", "[dr][config][security]") {
  testing::TempDir dir;
  JobScheduler jobs;
  REQUIRE(jobs.start(dir.path));
  jobs.configure({{job_of("postgres", {{"host", "127.0.0.1"}, {"port", 5432}, {"database", "app"}})},
                  "/nonexistent/keel-dr",
                  "UOjr19zM9dLZWy8xzDVg9j57BK8jlGw2+GFPwqBo+s4="});
  RunRequest request;
  request.kind = RunKind::Restore;
  request.target = "host=127.0.0.2 dbname=app";
  auto answer = jobs.start_run("j", request);
  CHECK(answer.outcome == StartAnswer::Outcome::Refused);
  CHECK_THAT(answer.error, Catch::Contains("not a plain database name"));
  CHECK_FALSE(answer.run);
  CHECK(jobs.runs("j").empty());
  jobs.stop();
}

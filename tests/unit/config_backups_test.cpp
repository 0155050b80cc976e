// The stack's `backups:` section: loading (every error at its line and
// column), validation (source, runs_on and its default, S3 keys from the
// environment, graph edges), planning (sensitive `backups` and `backup_key`
// on the server that runs the job), the state's `secrets`, and how a run
// looks while it goes on and when it ends.
#include <catch2/catch.hpp>

#include "cli/agents/client.h"
#include "cli/config/backups.h"
#include "cli/config/configuration.h"
#include "cli/engine/plan.h"
#include "cli/providers/registry.h"
#include "cli/state/state_codec.h"
#include "cli/views/backup_view.h"
#include "cli/views/render.h"
#include "core/crypto.h"
#include "core/time.h"

using namespace keel;

namespace {

using Env = std::map<std::string, std::string>;

struct Validated {
  config::LoadResult loaded;
  config::ValidateResult result;
  std::string text() const { return loaded.diagnostics.describe() + result.diagnostics.describe(); }
  bool ok() const { return !loaded.diagnostics.has_errors() && !result.diagnostics.has_errors(); }
  nlohmann::json backups_of(const std::string& address) const {
    const auto* inst = result.config.find(address);
    REQUIRE(inst != nullptr);
    return inst->section_attributes.value("backups", nlohmann::json());
  }
};

// Loads and validates against the real `local` provider's schema (nothing
// is started: only its schema is read).
std::unique_ptr<Validated> check(const std::string& yaml, const Env& env = {}) {
  static providers::Registry registry({});
  auto v = std::make_unique<Validated>();
  v->loaded = config::load_stack_text(yaml, "keel.yaml", "/tmp");
  config::ValidateOptions options;
  options.env = [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  if (!v->loaded.diagnostics.has_errors()) v->result = config::validate(v->loaded.stack, registry.schema_source(), options);
  v->result.config.stack = &v->loaded.stack;
  return v;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const char* kHead = R"(keel: 1
project: demo
databases:
  main: { engine: postgres }
caches:
  sessions: { engine: redis }
  hits: { engine: memcached }
servers:
  ops: {}
)";

std::string stack(const std::string& backups) { return std::string(kHead) + "backups:\n" + backups; }

}  // namespace

TEST_CASE("backups: a database job goes to the only local server, in the agent's shape", "[config][backups]") {
  auto v = check(stack(R"(  main:
    source: databases.main
    schedule: "0 3 * * *"
    to: file:///var/backups/keel
    retention: { keep_last: 3, keep_daily: 7 }
    rpo: 24h
    drill: { every: 7d, verify: "SELECT count(*) FROM users" }
)"));
  INFO(v->text());
  REQUIRE(v->ok());
  auto job = v->backups_of("servers.ops").at("main");
  CHECK(job.at("source").at("postgres").at("host") == "${databases.main.host}");
  CHECK(job.at("source").at("postgres").at("password") == "${databases.main.password}");
  CHECK(job.at("source").at("postgres").at("database") == "${databases.main.database}");
  CHECK(job.at("to") == "file:///var/backups/keel");
  CHECK(job.at("schedule") == "0 3 * * *");
  CHECK(job.at("retention") == nlohmann::json({{"keep_last", 3}, {"keep_daily", 7}}));
  CHECK(job.at("rpo") == "24h");
  CHECK(job.at("drill").at("every") == "7d");
  CHECK_FALSE(job.contains("runs_on"));
  // The source is an edge: the database is made before the server that reads it.
  CHECK(v->result.config.graph.dependencies("servers.ops").count("databases.main") == 1);
}

TEST_CASE("backups: redis and files sources, explicit runs_on with an index", "[config][backups]") {
  auto v = check(R"(keel: 1
project: demo
caches:
  sessions: { engine: redis }
servers:
  web: { count: 2 }
backups:
  cache: { source: caches.sessions, runs_on: "servers.web[1]", to: "s3://acme-backups/cache", s3: { access_key_id: A, secret_access_key: S, path_style: true } }
  etc: { source: { files: [/etc/app, /var/lib/app] }, runs_on: "servers.web[0]", to: "sftp://backup@127.0.0.1:2222/srv/keel" }
)");
  INFO(v->text());
  REQUIRE(v->ok());
  auto cache = v->backups_of("servers.web[1]").at("cache");
  CHECK(cache.at("source").at("redis").at("port") == "${caches.sessions.port}");
  CHECK_FALSE(cache.at("source").at("redis").contains("user"));
  CHECK(cache.at("s3").at("path_style") == true);
  CHECK(cache.at("s3").at("access_key_id") == "A");
  auto etc = v->backups_of("servers.web[0]").at("etc");
  CHECK(etc.at("source") == nlohmann::json({{"files", {"/etc/app", "/var/lib/app"}}}));
  CHECK(v->backups_of("servers.web[0]").size() == 1);
}

TEST_CASE("backups: S3 keys default to keel's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", "[config][backups]") {
  const std::string yaml = stack("  main: { source: databases.main, to: s3://acme-backups/main, s3: { endpoint: \"http://127.0.0.1:9000\" } }\n");
  SECTION("set: references to the environment, resolved at apply") {
    auto v = check(yaml, {{"AWS_ACCESS_KEY_ID", "AKIA"}, {"AWS_SECRET_ACCESS_KEY", "shh"}});
    INFO(v->text());
    REQUIRE(v->ok());
    auto s3 = v->backups_of("servers.ops").at("main").at("s3");
    CHECK(s3.at("access_key_id") == "${env.AWS_ACCESS_KEY_ID}");
    CHECK(s3.at("secret_access_key") == "${env.AWS_SECRET_ACCESS_KEY}");
    CHECK(s3.at("endpoint") == "http://127.0.0.1:9000");
  }
  SECTION("unset: an error at `to`") {
    auto v = check(yaml);
    CHECK(has(v->text(), "keel.yaml:11:39: error: backup `main` goes to S3 without keys"));
  }
}

TEST_CASE("backups: every structural error names its line and column", "[config][backups]") {
  struct Case {
    std::string body, expected;
  };
  const std::vector<Case> cases = {
      {"  main: { source: databases.main, to: file:///b, shedule: \"0 3 * * *\" }\n",
       "keel.yaml:11:50: error: backup `main`: unknown key `shedule`; did you mean `schedule`?"},
      {"  main: { source: servers.ops, to: file:///b }\n",
       "keel.yaml:11:19: error: backup `main`: `source: servers.ops`: a backup reads a database, a cache or files"},
      {"  main: { source: database.main, to: file:///b }\n", "did you mean `databases`?"},
      {"  main: { source: { file: [/x] }, to: file:///b }\n", "unknown key `file` in `source`; did you mean `files`?"},
      {"  main: { source: { files: [relative/x] }, to: file:///b }\n",
       "keel.yaml:11:29: error: backup `main`: `files`: `relative/x` is not an absolute path"},
      {"  main: { source: databases.main, to: ftp://host/x }\n",
       "keel.yaml:11:39: error: backup `main`: `to`: unsupported destination `ftp://`"},
      {"  main: { source: databases.main, to: file://relative }\n", "file:// takes an absolute directory"},
      {"  main: { source: databases.main, to: s3://A/x }\n", "is not a bucket name"},
      {"  main: { source: databases.main, to: sftp://host/x }\n", "sftp:// needs a user, a host and a directory"},
      {"  main: { source: databases.main, to: file:///b, s3: { region: x } }\n",
       "keel.yaml:11:50: error: backup `main`: `s3:` is for `to: s3://...`, and this job goes to file://"},
      {"  main: { source: databases.main, to: s3://bkt/x, s3: { access_key_id: A } }\n",
       "`s3` needs both `access_key_id` and `secret_access_key`, or neither"},
      {"  main: { source: databases.main, to: s3://bkt/x, s3: { endpoint: \"ftp://x\" } }\n",
       "`s3.endpoint`: `ftp://x` is not an http:// or https:// URL"},
      {"  main: { source: databases.main, to: file:///b, schedule: \"0 3 * *\" }\n",
       "keel.yaml:11:60: error: backup `main`: `schedule`:"},
      {"  main: { source: databases.main, to: file:///b, schedule: \"0 25 * * *\" }\n", "out of range"},
      {"  main: { source: databases.main, to: file:///b, retention: { keep_last: -1 } }\n",
       "keel.yaml:11:74: error: backup `main`: `retention.keep_last` must be a whole number, 0 or more"},
      {"  main: { source: databases.main, to: file:///b, retention: { keep_last: 0, keep_daily: 0 } }\n",
       "`retention` keeps nothing: every count is 0"},
      {"  main: { source: databases.main, to: file:///b, retention: { keep_lats: 1 } }\n",
       "unknown key `keep_lats` in `retention`; did you mean `keep_last`?"},
      {"  main: { source: databases.main, to: file:///b, rpo: soon }\n", "keel.yaml:11:55: error: backup `main`: `rpo`:"},
      {"  main: { source: databases.main, to: file:///b, drill: { every: 0s } }\n", "`drill.every` must be longer than 0"},
      {"  main: { source: databases.main, to: file:///b, drill: { verfy: x } }\n", "did you mean `verify`?"},
      {"  main: { source: databases.main, to: file:///b, sftp: { key: id_rsa } }\n", "`sftp:` is for `to: sftp://...`"},
      {"  main: { to: file:///b }\n", "keel.yaml:11:3: error: backup `main`: has no `source:`"},
      {"  main: { source: databases.main }\n", "keel.yaml:11:3: error: backup `main`: has no `to:`"},
      {"  main: databases.main\n", "backup `main`: must be a map with `source:` and `to:`"},
      {"  \"bad/name\": { source: databases.main, to: file:///b }\n", "backup name `bad/name` must hold only"},
  };
  for (const auto& c : cases) {
    auto v = check(stack(c.body));
    INFO(c.body);
    INFO(v->text());
    CHECK_FALSE(v->ok());
    CHECK(has(v->text(), c.expected));
  }
}

TEST_CASE("backups: source and runs_on are checked against the stack", "[config][backups]") {
  struct Case {
    std::string body, expected;
  };
  const std::vector<Case> cases = {
      {"  main: { source: databases.mian, to: file:///b }\n",
       "keel.yaml:11:19: error: backup `main`: `source`: the stack declares no `databases.mian`; did you mean "
       "`databases.main`?"},
      {"  main: { source: caches.hits, to: file:///b }\n",
       "backup `main`: caches.hits runs memcached, and keel backs up redis caches only; memcached keeps nothing"},
      {"  main: { source: databases.main, runs_on: databases.main, to: file:///b }\n",
       "keel.yaml:11:44: error: backup `main`: `runs_on`: `databases.main` is not one of the stack's servers"},
      {"  main: { source: databases.main, runs_on: servers.opz, to: file:///b }\n",
       "the stack declares no `servers.opz`; did you mean `servers.ops`?"},
      {"  main: { source: databases.main, runs_on: \"servers.ops[0]\", to: file:///b }\n",
       "`servers.ops` has no `count`, so it takes no [index]"},
  };
  for (const auto& c : cases) {
    auto v = check(stack(c.body));
    INFO(v->text());
    CHECK(has(v->text(), c.expected));
  }
}

TEST_CASE("backups: runs_on defaults to the only local server with an agent", "[config][backups]") {
  const std::string job = "backups:\n  main: { source: databases.main, to: file:///b }\n";
  const std::string head = "keel: 1\nproject: demo\ndatabases:\n  main: {}\n";
  SECTION("two servers: an error naming them") {
    auto v = check(head + "servers:\n  a: {}\n  b: {}\n" + job);
    CHECK(has(v->text(), "keel.yaml:9:3: error: backup `main` has no `runs_on`, and the stack has 2 local servers with "
                         "an agent; name the server whose agent runs it: `runs_on: \"servers.a\"` (one of: servers.a, "
                         "servers.b)"));
  }
  SECTION("a server without an agent does not count") {
    auto v = check(head + "servers:\n  a: {}\n  b: { agent: false }\n" + job);
    INFO(v->text());
    REQUIRE(v->ok());
    CHECK(v->backups_of("servers.a").contains("main"));
    CHECK(v->backups_of("servers.b").is_null());
  }
  SECTION("no server: an error saying to declare one") {
    auto v = check(head + job);
    CHECK(has(v->text(), "has no `runs_on`, and the stack has 0 local servers with an agent; the job runs in a "
                         "server's keel-agent"));
  }
  SECTION("a counted server needs an index") {
    auto v = check(head + "servers:\n  web: { count: 2 }\nbackups:\n  main: { source: databases.main, runs_on: "
                          "servers.web, to: file:///b }\n");
    CHECK(has(v->text(), "`servers.web` has `count`: name one instance, like `\"servers.web[0]\"`"));
  }
}

TEST_CASE("backups: servers cannot set backups or backup_key themselves", "[config][backups]") {
  auto v = check("keel: 1\nproject: demo\nservers:\n  ops: { backups: {}, backup_key: x }\n");
  CHECK(has(v->text(), "`backups` cannot be set inside servers.ops; declare them in the top-level `backups:` section"));
  CHECK(has(v->text(), "`backup_key` cannot be set inside servers.ops; keel makes the stack's backup key itself"));
}

TEST_CASE("backups: a job's references are edges, then referring to its own server is refused", "[config][backups]") {
  auto v = check(R"(keel: 1
project: demo
databases:
  main: {}
servers:
  ops: {}
backups:
  main: { source: databases.main, to: "file:///b/${servers.ops.dir}" }
)");
  CHECK(has(v->text(), "keel.yaml:8:39: error: backup `main` runs on servers.ops and refers to it"));
}

TEST_CASE("backups: the plan shows the jobs and the key as sensitive updates of their server", "[config][backups]") {
  auto v = check(stack("  main: { source: databases.main, to: file:///b }\n"));
  REQUIRE(v->ok());
  REQUIRE(config::runs_backups(v->result.config));
  state::State st;
  const std::string key = state::ensure_backup_key(st);
  config::attach_backup_key(v->result.config, key);
  auto plan = engine::make_plan(v->result.config, st, {});
  REQUIRE(plan);
  const engine::ResourceChange* ops = nullptr;
  for (const auto& c : plan->changes)
    if (c.address == "servers.ops") ops = &c;
  REQUIRE(ops != nullptr);
  std::map<std::string, const engine::AttributeChange*> attrs;
  for (const auto& a : ops->attributes) attrs[a.name] = &a;
  REQUIRE(attrs.count("backups"));
  REQUIRE(attrs.count("backup_key"));
  CHECK(attrs["backups"]->sensitive);
  CHECK(attrs["backups"]->after_unknown);  // the database's port is known after apply
  CHECK(attrs["backup_key"]->sensitive);
  CHECK(attrs["backup_key"]->after == key);
  CHECK_FALSE(has(views::render_plan(*plan), key));
  CHECK_FALSE(has(views::plan_to_json(*plan).dump(), key));
  CHECK(config::runs_backups(v->result.config));
}

TEST_CASE("state: the stack's secrets are sealed, and old states load", "[state][backups]") {
  const crypto::Key key = crypto::random_key();
  state::State st;
  st.lineage = "l";
  const std::string backup_key = state::ensure_backup_key(st);
  CHECK(backup_key.size() == 44);
  CHECK(state::ensure_backup_key(st) == backup_key);  // made once
  auto encoded = state::encode_state(st, key);
  CHECK(encoded.contains("sealed_secrets"));
  CHECK_FALSE(has(encoded.dump(), backup_key));
  auto decoded = state::decode_state(encoded, key);
  REQUIRE(decoded);
  CHECK(decoded->secrets.at("backup_key") == backup_key);
  CHECK_FALSE(state::decode_state(encoded, crypto::random_key()));  // another key cannot open it

  // A state written before secrets existed.
  nlohmann::json old = {{"version", 1}, {"lineage", "l"}, {"serial", 3}, {"resources", nlohmann::json::array()},
                        {"outputs", nlohmann::json::object()}};
  auto loaded = state::decode_state(old, key);
  REQUIRE(loaded);
  CHECK(loaded->secrets.empty());
  CHECK_FALSE(state::encode_state(*loaded, key).contains("sealed_secrets"));
}

TEST_CASE("state: a key already handed to a server is kept", "[state][backups]") {
  state::State st;
  state::ResourceState server;
  server.address = "servers.ops";
  server.kind = "servers";
  server.id = "/x";
  server.attributes["backup_key"] = "given-before-a-crash";
  st.resources[server.address] = server;
  CHECK(state::find_backup_key(st) == "given-before-a-crash");
  CHECK(state::ensure_backup_key(st) == "given-before-a-crash");
  CHECK(st.secrets.at("backup_key") == "given-before-a-crash");
}

TEST_CASE("backup views: progress line, summaries and sizes", "[views][backups]") {
  CHECK(views::format_bytes(0) == "0 B");
  CHECK(views::format_bytes(1023) == "1023 B");
  CHECK(views::format_bytes(1536) == "1.5 KiB");
  CHECK(views::format_bytes(432331571) == "412.3 MiB");
  CHECK(views::format_seconds(4.33) == "4.3s");
  CHECK(views::format_seconds(192) == "3m12s");
  CHECK(views::format_seconds(7500) == "2h05m");

  auto run = agents::job_run_from_json({{"id", "r1"},
                                        {"job", "main"},
                                        {"kind", "backup"},
                                        {"status", "running"},
                                        {"started", "2026-11-27T18:13:55Z"},
                                        {"finished", nullptr},
                                        {"bytes_read", 432331571},
                                        {"bytes_stored", 39950745},
                                        {"snapshot", nullptr},
                                        {"error", nullptr}});
  REQUIRE(run);
  CHECK(run->running());
  CHECK(views::progress_line(*run, 4.3) == " 412.3 MiB read  38.1 MiB stored  95.9 MiB/s  4.3s");
  CHECK(views::progress_line(*run, 0) == " 412.3 MiB read  38.1 MiB stored  0 B/s  0.0s");

  run->status = "succeeded";
  run->snapshot = "s1";
  run->duration_seconds = 4.3;
  CHECK(views::run_summary(*run) == "Backup main succeeded in 4.3s: snapshot s1, 412.3 MiB read, 38.1 MiB stored");

  run->kind = "drill";
  run->result = {{"rto_seconds", 2.5}, {"rpo_seconds", 190}, {"verify_output", "1000\n"}, {"verified", true}};
  CHECK(views::run_passed(*run));
  CHECK(views::run_summary(*run) ==
        "Drill main succeeded in 4.3s: snapshot s1 restored and verified: RTO 2.5s, RPO 3m10s, verify: 1000");
  run->result["verified"] = false;
  CHECK_FALSE(views::run_passed(*run));

  run->kind = "prune";
  run->result = {{"kept", {"a", "b"}}, {"removed", {"c"}}};
  CHECK(views::run_summary(*run) == "Prune main succeeded in 4.3s: kept 2, removed 1");

  run->kind = "restore";
  run->status = "failed";
  run->error = "sha256 mismatch";
  CHECK(views::run_summary(*run) == "Restore main failed after 4.3s: sha256 mismatch");

  CHECK_FALSE(agents::job_run_from_json({{"id", "x"}, {"status", "exploded"}}));
  CHECK_FALSE(agents::job_run_from_json({{"status", "running"}}));
}

TEST_CASE("backup views: the list of backups", "[views][backups]") {
  auto t = timeutil::parse_rfc3339("2026-11-27T18:13:55Z");
  REQUIRE(t);
  nlohmann::json manifests = {{{"id", "20261127T181355Z-3f2a"},
                               {"finished", "2026-11-27T18:13:55Z"},
                               {"raw_bytes", 432331571},
                               {"stored_bytes", 39950745},
                               {"sha256", "5e3b1c0d9a7f00112233445566778899"}}};
  auto text = views::render_backups(manifests, *t + std::chrono::minutes(3));
  CHECK(has(text, "ID                     TIME                  AGE  SIZE (raw/stored)     SHA256\n"));
  CHECK(has(text, "20261127T181355Z-3f2a  2026-11-27 18:13:55Z  3m   412.3 MiB / 38.1 MiB  5e3b1c0d9a7f\n"));
  CHECK(views::render_backups(nlohmann::json::array(), *t) == "No backups yet.\n");
}

TEST_CASE("backups: destinations and schedules", "[config][backups]") {
  CHECK(config::destination_scheme("file:///var/backups").value() == "file");
  CHECK(config::destination_scheme("s3://acme-backups").value() == "s3");
  CHECK(config::destination_scheme("s3://acme-backups/a/b").value() == "s3");
  CHECK(config::destination_scheme("sftp://u@h/dir").value() == "sftp");
  CHECK(config::destination_scheme("sftp://u@127.0.0.1:2222/srv/keel").value() == "sftp");
  CHECK_FALSE(config::destination_scheme("sftp://u@h:99999/d"));
  CHECK_FALSE(config::destination_scheme("/var/backups"));
  CHECK(config::schedule_problem("0 3 * * *").empty());
  CHECK(config::schedule_problem("@daily").empty());
  CHECK(config::schedule_problem("TZ=UTC 30 2 * * 1-5").empty());
  CHECK_FALSE(config::schedule_problem("0 3 * *").empty());
  CHECK(config::valid_backup_name("main-nightly.v2"));
  CHECK_FALSE(config::valid_backup_name("a/b"));
}

TEST_CASE("backups: a list or map reference is refused where a job takes one value", "[config][backups]") {
  auto v = check(R"(keel: 1
project: demo
variables:
  dirs: { default: [a, b] }
databases:
  main: {}
servers:
  ops: {}
  web: { count: 2 }
backups:
  main: { source: databases.main, to: "${var.dirs}", runs_on: servers.ops }
  files: { source: { files: ["/srv/${var.dirs}"] }, to: "file:///b", runs_on: servers.ops }
)");
  std::string text = v->text();
  INFO(text);
  CHECK(has(text, "keel.yaml:11:39: error: backup `main`: `${var.dirs}` is a list; `to` takes one value"));
  CHECK(has(text, "keel.yaml:12:30: error: backup `files`: `${var.dirs}` is a list: it can only be a whole value"));
}

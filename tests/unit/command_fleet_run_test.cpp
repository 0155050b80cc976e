// The commands that act on hosts (health, exec, backup, restore, drill,
// deploy, agent) in-process through the harness: every flag parsed through
// make_app, and runs that need no real host: no state, servers that cannot
// be reached over SSH, an agent on a 127.0.0.1 port nothing listens on.
// Each ends in a clear error (text on stderr, or the error document on
// stdout under --json) and the command's own exit code.
#include <catch2/catch.hpp>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "cli/state/file_store.h"
#include "core/files.h"
#include "tests/support/closed_port.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/command_harness.h"

using namespace keel;
using namespace keel::commands;
using keel::testing::CommandRun;
using nlohmann::json;

namespace {

// A directory with a keel.yaml (never read by these commands unless a test
// writes one) and, when asked, a saved state of hand-made servers.
struct Fleet {
  keel::testing::TempDir dir{"command-fleet"};
  std::string file = dir / "keel.yaml";

  // servers.db: an agent at `agent_url`, the backup job `nightly`, no `ssh`.
  void save_state(const std::string& agent_url) {
    state::FileStateStore store(dir / ".keel");
    REQUIRE(store.lock("test"));
    state::State st;
    state::ResourceState db;
    db.address = "servers.db";
    db.kind = "servers";
    db.provider = "hosts";
    db.provider_type = "ssh";
    db.id = "db-1";
    db.attributes = {{"agent_url", agent_url},
                     {"backups", {{"nightly", {{"source", {{"postgres", {{"host", "127.0.0.1"}, {"port", 5432},
                                                                        {"database", "app"}}}}}}}}},
                     {"backup_key", "a2V5LWZvci10ZXN0cw=="}};
    st.resources[db.address] = db;
    REQUIRE(store.save(st));
  }
  int keel(CommandRun& r, std::vector<std::string> args) {
    args.insert(args.begin(), {"-f", file});
    return r.keel(args);
  }
};

}  // namespace

TEST_CASE("command fleet parse: health --watch with and without SECONDS and --json", "[command]") {
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"health", "--watch", "--json"}));
    CHECK(r.options<HealthOptions>().watch);
    CHECK(r.options<HealthOptions>().interval == 2);
    CHECK(r.ctx.global.json);
  }
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"health", "--watch", "7", "--target", "servers.a", "--target", "servers.b[1]"}));
    CHECK(r.options<HealthOptions>().watch);
    CHECK(r.options<HealthOptions>().interval == 7);
    CHECK(r.options<HealthOptions>().targets == std::vector<std::string>{"servers.a", "servers.b[1]"});
  }
  CommandRun r;
  REQUIRE_FALSE(r.parse({"health"}));
  CHECK_FALSE(r.options<HealthOptions>().watch);
  CHECK(r.options<HealthOptions>().targets.empty());
}

TEST_CASE("command fleet parse: the defaults of exec and deploy and agent and restore", "[command]") {
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"exec", "all", "--", "uptime"}));
    auto o = r.options<ExecOptions>();
    CHECK(o.forks == 20);
    CHECK_FALSE(o.group);
    CHECK(o.timeout == 0);
    CHECK(r.ctx.after_dashdash == std::vector<std::string>{"uptime"});
  }
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"deploy", "web", "--json"}));
    CHECK_FALSE(r.options<DeployOptions>().rollback);
    CHECK(r.ctx.global.json);
  }
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"agent", "status"}));
    CHECK(r.options<AgentOptions>().selectors.empty());
    CHECK(r.options<AgentOptions>().forks == 20);
  }
  CommandRun r;
  REQUIRE_FALSE(r.parse({"restore", "nightly"}));
  auto o = r.options<BackupOptions>();
  CHECK(o.snapshot.empty());
  CHECK(o.to.empty());
  CHECK_FALSE(o.auto_approve);
}

TEST_CASE("command fleet parse: bad flags exit with each command's usage code", "[command]") {
  struct Case {
    std::vector<std::string> args;
    int code;
  };
  for (const auto& c : std::vector<Case>{{{"health", "--watch", "soon"}, kHealthUnknown},
                                         {{"backup", "run"}, kBackupUsage},
                                         {{"restore", "nightly", "--snapshot"}, kBackupUsage},
                                         {{"drill"}, kBackupUsage},
                                         {{"exec", "--forks", "x", "all"}, kExitError},
                                         {{"deploy"}, kExitError},
                                         {{"agent", "status", "--forks"}, kExitError}}) {
    CommandRun r;
    INFO(c.args.front());
    CHECK(r.parse(c.args) == c.code);
    CHECK_FALSE(r.err().empty());
  }
}

TEST_CASE("command fleet run: health with no state has nothing to check and exits unknown", "[command]") {
  Fleet f;
  {
    CommandRun r;
    CHECK(f.keel(r, {"health"}) == kHealthUnknown);
    CHECK_THAT(r.out(), Catch::StartsWith("No servers with an agent in state"));
    CHECK(r.err().empty());
  }
  CommandRun r;
  CHECK(f.keel(r, {"health", "--json"}) == kHealthUnknown);
  const auto doc = json::parse(r.out());
  CHECK(doc["status"] == "unknown");
  CHECK(doc["hosts"] == json::array());
}

TEST_CASE("command fleet run: health with an agent nobody answers for is unknown and says why", "[command]") {
  Fleet f;
  f.save_state("https://127.0.0.1:" + std::to_string(keel::testing::closed_port()));
  {
    CommandRun r;
    CHECK(f.keel(r, {"health"}) == kHealthUnknown);
    CHECK_THAT(r.out(), Catch::Contains("servers.db"));
    CHECK_THAT(r.out(), Catch::Contains("agent unreachable"));
    CHECK_THAT(r.out(), Catch::Contains("Status: UNKNOWN — 1 host (1 unreachable)"));
  }
  {
    CommandRun r;
    CHECK(f.keel(r, {"health", "--json"}) == kHealthUnknown);
    const auto doc = json::parse(r.out());
    CHECK(doc["hosts"][0]["address"] == "servers.db");
    CHECK(doc["hosts"][0]["reachable"] == false);
    CHECK_FALSE(doc["hosts"][0]["error"].get<std::string>().empty());
  }
  CommandRun r;  // a --target that names no server: nothing asked
  CHECK(f.keel(r, {"health", "--target", "servers.web"}) == kHealthUnknown);
  CHECK_THAT(r.out(), Catch::StartsWith("No servers with an agent in state"));
}

TEST_CASE("command fleet run: health --watch 0 is an error with the Nagios unknown code", "[command]") {
  Fleet f;
  CommandRun r;
  CHECK(f.keel(r, {"health", "--watch", "0", "--json"}) == kHealthUnknown);
  const auto doc = json::parse(r.out());
  CHECK(doc["error"]["kind"] == "invalid_config");
  CHECK_THAT(doc["error"]["message"].get<std::string>(), Catch::Contains("--watch takes a number of seconds"));
}

TEST_CASE("command fleet run: exec refuses no command and no state and servers without ssh", "[command]") {
  Fleet f;
  {
    CommandRun r;
    CHECK(f.keel(r, {"exec", "all"}) == kExitError);
    CHECK_THAT(r.err(), Catch::Contains("keel exec: no command"));
  }
  {
    CommandRun r;
    CHECK(f.keel(r, {"exec", "all", "--forks", "0", "--", "uptime"}) == kExitError);
    CHECK_THAT(r.err(), Catch::Contains("--forks: want a whole number of at least 1, not 0"));
  }
  {
    CommandRun r;
    CHECK(f.keel(r, {"exec", "all", "--", "uptime"}) == kExitError);
    CHECK_THAT(r.err(), Catch::Contains("no state in"));
    CHECK(r.out().empty());
  }
  f.save_state("https://127.0.0.1:1");
  {
    CommandRun r;
    CHECK(f.keel(r, {"exec", "servers.db", "--", "uptime"}) == kExitError);
    CHECK(r.err() == "Error: none of the selected servers can be reached over SSH (no `ssh` in their state): servers.db\n");
  }
  CommandRun r;
  CHECK(f.keel(r, {"exec", "servers.db", "--json", "--", "uptime"}) == kExitError);
  CHECK(r.err().empty());
  CHECK(json::parse(r.out())["error"]["kind"] == "invalid_config");
}

TEST_CASE("command fleet run: backup without a state or a job is a usage error", "[command]") {
  Fleet f;
  {
    CommandRun r;
    CHECK(f.keel(r, {"backup", "list", "nightly"}) == kBackupUsage);
    CHECK_THAT(r.err(), Catch::Contains("no state in"));
  }
  {
    CommandRun r;
    CHECK(f.keel(r, {"backup", "key", "export", "--json"}) == kBackupUsage);
    CHECK(json::parse(r.out())["error"]["kind"] == "not_found");
  }
  f.save_state("https://127.0.0.1:1");
  CommandRun r;
  CHECK(f.keel(r, {"drill", "nightli"}) == kBackupUsage);
  CHECK_THAT(r.err(), Catch::Contains("no backup job `nightli`; the jobs are: nightly"));
}

TEST_CASE("command fleet run: backup with an agent nobody answers for fails with exit 1", "[command]") {
  Fleet f;
  f.save_state("https://127.0.0.1:" + std::to_string(keel::testing::closed_port()));
  {
    CommandRun r;
    CHECK(f.keel(r, {"backup", "list", "nightly"}) == kBackupFailed);
    CHECK_THAT(r.err(), Catch::Contains("backups of `nightly` on servers.db"));
    CHECK(r.out().empty());
  }
  CommandRun r;
  CHECK(f.keel(r, {"backup", "run", "nightly", "--json"}) == kBackupFailed);
  const auto doc = json::parse(r.out());
  CHECK_THAT(doc["error"]["message"].get<std::string>(), Catch::Contains("run of `nightly` on servers.db"));
  CHECK(r.err().empty());  // no "Started" line: nothing started
}

TEST_CASE("command fleet run: backup key export prints the key of the state", "[command]") {
  Fleet f;
  f.save_state("https://127.0.0.1:1");
  {
    CommandRun r;
    CHECK(f.keel(r, {"backup", "key", "export"}) == kBackupOk);
    CHECK(r.out() == "a2V5LWZvci10ZXN0cw==\n");
    CHECK_THAT(r.err(), Catch::StartsWith("Warning: keep this key safe"));
  }
  CommandRun r;
  CHECK(f.keel(r, {"backup", "key", "export", "--json"}) == kBackupOk);
  CHECK(json::parse(r.out()) == json({{"backup_key", "a2V5LWZvci10ZXN0cw=="}}));
}

TEST_CASE("command fleet run: restore of a files job without --to is refused before anyone is asked", "[command]") {
  Fleet f;
  state::FileStateStore store(f.dir / ".keel");
  REQUIRE(store.lock("test"));
  state::State st;
  state::ResourceState web;
  web.address = "servers.web";
  web.kind = "servers";
  web.provider = "hosts";
  web.provider_type = "ssh";
  web.id = "web-1";
  web.attributes = {{"agent_url", "https://127.0.0.1:1"},
                    {"backups", {{"site", {{"source", {{"files", json::array({"/srv/site"})}}}}}}}};
  st.resources[web.address] = web;
  REQUIRE(store.save(st));
  CommandRun r;
  CHECK(f.keel(r, {"restore", "site", "--auto-approve"}) == kBackupUsage);
  CHECK_THAT(r.err(), Catch::Contains("give --to DIR"));
}

TEST_CASE("command fleet run: agent status with no state or no server reached over SSH", "[command]") {
  Fleet f;
  {
    CommandRun r;
    CHECK(f.keel(r, {"agent", "status"}) == kExitError);
    CHECK_THAT(r.err(), Catch::Contains("no state in"));
  }
  f.save_state("https://127.0.0.1:1");
  CommandRun r;
  CHECK(f.keel(r, {"agent", "install", "--json"}) == kExitError);
  const auto doc = json::parse(r.out());
  CHECK(doc["error"]["message"] == "no selected server is reached over SSH (provider: ssh)");
}

TEST_CASE("command fleet run: deploy of an app the stack does not have names the stack's apps", "[command]") {
  Fleet f;
  const char* build = std::getenv("KEEL_BUILD_DIR");
  if (!build) FAIL("KEEL_BUILD_DIR is not set: run the unit tests through ctest");
  ::setenv("KEEL_PLUGIN_PATH", build, 1);
  REQUIRE(files::write_atomic(f.file,
                              "keel: 1\n"
                              "project: fleet-test\n"
                              "providers:\n"
                              "  ex: { type: example, root: \"" + f.dir.path + "/out\" }\n"
                              "files:\n"
                              "  a: { provider: ex, path: a.txt, content: hi }\n",
                              0644));
  {
    CommandRun r;
    CHECK(f.keel(r, {"deploy", "web"}) == kExitError);
    CHECK(r.err() == "Error: no app `web` in " + f.file + "; the stack has no `apps:`\n");
  }
  CommandRun r;
  CHECK(f.keel(r, {"deploy", "web", "--rollback", "--json"}) == kExitError);
  CHECK(json::parse(r.out())["error"]["kind"] == "invalid_config");
  CHECK(r.err().empty());
}

TEST_CASE("command fleet run: an invalid stack under --json is one document with its diagnostics", "[command]") {
  Fleet f;
  REQUIRE(files::write_atomic(f.file, "keel: 1\nproject: fleet-test\nfiles:\n  a: { sise: 1 }\n", 0644));
  {
    CommandRun r;
    CHECK(f.keel(r, {"deploy", "web", "--json"}) == kExitError);
    const auto doc = json::parse(r.out());
    CHECK(doc["valid"] == false);
    CHECK_FALSE(doc["diagnostics"].empty());
    CHECK(doc["error"]["kind"] == "invalid_config");
  }
  CommandRun r;
  CHECK(f.keel(r, {"deploy", "web"}) == kExitError);
  CHECK(r.out().empty());
  CHECK_THAT(r.err(), Catch::Contains("keel.yaml:4"));
  CHECK_THAT(r.err(), Catch::EndsWith("is not valid\n"));
}

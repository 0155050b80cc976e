// Someone who holds the backup destination (but not the backup key) edits,
// copies, renames and replays objects: restores and drills still use only
// what the key sealed for that job, that id and that time, decide "newest"
// from authenticated data, and refuse a mismatch before touching the
// target. Files backups to a file:// destination: real tar, no services.

#include <catch2/catch.hpp>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "agent/dr/operations.h"
#include "core/files.h"
#include "tests/support/dr_v1_fixture.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace keel;
using Json = nlohmann::json;
using keel::testing::TempDir;

struct Setup {
  TempDir dir{"dr-replay"};
  std::string data = dir / "data";
  std::string store = dir / "store";
  crypto::Key key = crypto::random_key();
  dr::RunContext context;
  dr::Job job;

  Setup() {
    REQUIRE(files::make_dirs(data));
    REQUIRE(files::make_dirs(dir / "spool"));
    context.key = key;
    context.spool_dir = dir / "spool";
    job = job_named("docs");
  }
  dr::Job job_named(const std::string& name) const {
    dr::Job j;
    j.name = name;
    j.source = dr::FilesSource{{data}};
    j.destination.url = "file://" + store;
    return j;
  }
  // A backup of data/version.txt holding `version`; its id.
  std::string backup(const std::string& version, const dr::Job& which) {
    REQUIRE(files::write_atomic(data + "/version.txt", version, 0600));
    auto made = dr::run_backup(which, context);
    INFO((made ? "" : made.error().message()));
    REQUIRE(made);
    return (*made)["manifest"]["id"];
  }
  std::string backup(const std::string& version) { return backup(version, job); }
  std::string path(const std::string& job_name, const std::string& id, const char* suffix) const {
    return store + "/" + job_name + "/" + id + suffix;
  }
  Json manifest(const std::string& id) const { return Json::parse(*files::read_file(path(job.name, id, ".manifest.json"))); }
  void put(const std::string& file, const std::string& bytes) const {
    REQUIRE(files::make_dirs(std::filesystem::path(file).parent_path()));
    REQUIRE(files::write_atomic(file, bytes, 0600));
  }
  // What a restore into a new directory brings back.
  Result<std::string> restored_version(const std::string& snapshot = "") {
    std::string target = dir / ("restore-" + crypto::hex_encode(crypto::random_bytes(4)));
    auto done = dr::run_restore(job, context, snapshot, target);
    if (!done) {
      CHECK_FALSE(std::filesystem::exists(target));  // refused before the target was touched
      return fail(done.error());
    }
    return *files::read_file(target + data + "/version.txt");
  }
};

// A newer-looking id than any real backup.
const std::string kFutureId = "20991231T235959Z-abcdef";

}  // namespace

TEST_CASE("an old backup copied under a newer name is not taken as the newest", "[dr][replay][security]") {
  Setup s;
  std::string old_id = s.backup("v1");
  std::string new_id = s.backup("v2");

  SECTION("copied as it is") {
    s.put(s.path("docs", kFutureId, ".kdr"), *files::read_file(s.path("docs", old_id, ".kdr")));
    s.put(s.path("docs", kFutureId, ".manifest.json"), *files::read_file(s.path("docs", old_id, ".manifest.json")));
  }
  SECTION("with its manifest edited to the new id and times") {
    Json m = s.manifest(old_id);
    m["id"] = kFutureId;
    m["started"] = "2099-12-31T23:59:59.000Z";
    m["finished"] = "2099-12-31T23:59:59.500Z";
    s.put(s.path("docs", kFutureId, ".kdr"), *files::read_file(s.path("docs", old_id, ".kdr")));
    s.put(s.path("docs", kFutureId, ".manifest.json"), m.dump());
  }
  SECTION("downgraded to a format 1 manifest, which has no MAC") {
    Json m = s.manifest(old_id);
    m["id"] = kFutureId;
    m["format"] = "keel-dr/1 zstd aes-256-gcm";
    m["started"] = "2099-12-31T23:59:59.000Z";
    m.erase("mac");
    s.put(s.path("docs", kFutureId, ".kdr"), *files::read_file(s.path("docs", old_id, ".kdr")));
    s.put(s.path("docs", kFutureId, ".manifest.json"), m.dump());
    // Named by id it is still refused: the data says it is another backup.
    auto named = s.restored_version(kFutureId);
    REQUIRE_FALSE(named);
    CHECK(named.error().code() == ErrorCode::Corrupt);
    CHECK_THAT(named.error().message(), Catch::Contains("sealed as backup " + old_id));
  }
  CHECK(s.restored_version().value_or("") == "v2");
  auto listed = dr::list_backups(s.job, s.context);
  REQUIRE(listed);
  CHECK((*listed)["backups"][0]["id"] == new_id);

  // The drill restores the newest authenticated backup, and its RPO is that
  // backup's real age, not the replayed copy's claimed one.
  Json result;
  auto drill = dr::run_drill(s.job, s.context, "", &result);
  INFO((drill ? "" : drill.error().message()));
  REQUIRE(drill);
  CHECK((*drill)["snapshot"] == new_id);
  CHECK((*drill)["rpo_seconds"].get<double>() >= 0);
  CHECK((*drill)["backup_finished"] == s.manifest(new_id)["finished"]);
}

TEST_CASE("a manifest edited to look fresh is refused, then the drill's RPO comes from authenticated time",
          "[dr][replay][security]") {
  Setup s;
  std::string id = s.backup("v1");
  Json m = s.manifest(id);
  m["finished"] = "2099-12-31T23:59:59.000Z";  // "RPO 0 s"
  s.put(s.path("docs", id, ".manifest.json"), m.dump());
  Json result;
  auto drill = dr::run_drill(s.job, s.context, "", &result);
  REQUIRE_FALSE(drill);
  CHECK_THAT(drill.error().message(), Catch::Contains("fails its authentication"));
  CHECK_FALSE(s.restored_version());
  auto listed = dr::list_backups(s.job, s.context);
  REQUIRE(listed);
  CHECK((*listed)["backups"].empty());
  REQUIRE((*listed)["refused"].size() == 1);
  CHECK((*listed)["refused"][0]["object"] == "docs/" + id + ".manifest.json");
}

TEST_CASE("data swapped under a genuine manifest is refused before the target is touched",
          "[dr][replay][security]") {
  Setup s;
  std::string old_id = s.backup("v1");
  std::string new_id = s.backup("v2");
  s.put(s.path("docs", new_id, ".kdr"), *files::read_file(s.path("docs", old_id, ".kdr")));
  auto restored = s.restored_version();
  REQUIRE_FALSE(restored);
  CHECK(restored.error().code() == ErrorCode::Corrupt);
  CHECK_THAT(restored.error().message(), Catch::Contains("sealed as backup " + old_id));
}

TEST_CASE("another job's backup copied into this job's folder is refused", "[dr][replay][security]") {
  Setup s;
  auto other = s.job_named("secrets");
  std::string theirs = s.backup("their data", other);
  std::string ours = s.backup("our data");
  Json m = Json::parse(*files::read_file(s.path("secrets", theirs, ".manifest.json")));
  s.put(s.path("docs", theirs, ".kdr"), *files::read_file(s.path("secrets", theirs, ".kdr")));
  s.put(s.path("docs", theirs, ".manifest.json"), m.dump());
  CHECK(s.restored_version().value_or("") == "our data");
  auto named = s.restored_version(theirs);
  REQUIRE_FALSE(named);
  CHECK_THAT(named.error().message(), Catch::Contains("belongs to job secrets"));
  (void)ours;
}

TEST_CASE("forged manifests count for nothing in retention and are not removed by it", "[dr][replay][retention]") {
  Setup s;
  s.job.retention.keep_last = 2;
  std::string a = s.backup("a");
  // Three forged "newer" backups would push the real ones out if counted.
  for (const char* id : {"20991231T235957Z-000001", "20991231T235958Z-000002", "20991231T235959Z-000003"}) {
    Json m = s.manifest(a);
    m["id"] = id;
    m["started"] = "2099-12-31T23:59:59.000Z";
    s.put(s.path("docs", id, ".manifest.json"), m.dump());
    s.put(s.path("docs", id, ".kdr"), "junk");
  }
  std::string b = s.backup("b");
  auto pruned = dr::run_prune(s.job, s.context);
  REQUIRE(pruned);
  CHECK((*pruned)["kept"] == Json::array({b, a}));
  CHECK((*pruned)["removed"].empty());
  CHECK((*pruned)["ignored"].size() == 3);
  CHECK(std::filesystem::exists(s.path("docs", "20991231T235959Z-000003", ".manifest.json")));
}

TEST_CASE("backups of format 1 still restore when named, and never count as the newest",
          "[dr][replay][compat]") {
  Setup s;
  s.context.key = *crypto::key_from_text(testing::dr_v1::kKey);
  s.job = s.job_named("legacy");
  s.put(s.path("legacy", testing::dr_v1::kId, ".kdr"), testing::dr_v1::data());
  s.put(s.path("legacy", testing::dr_v1::kId, ".manifest.json"), testing::dr_v1::kManifest);

  auto unnamed = dr::run_restore(s.job, s.context, "", s.dir / "r0");
  REQUIRE_FALSE(unnamed);
  CHECK_THAT(unnamed.error().message(), Catch::Contains("--snapshot " + std::string(testing::dr_v1::kId)));
  Json result;
  CHECK_FALSE(dr::run_drill(s.job, s.context, "", &result));

  auto named = dr::run_restore(s.job, s.context, testing::dr_v1::kId, s.dir / "r1");
  INFO((named ? "" : named.error().message()));
  REQUIRE(named);
  CHECK((*named)["authenticated"] == false);
  CHECK(files::read_file(s.dir / "r1/tmp/keel-dr-v1-fixture/data/hello.txt").value_or("") ==
        "written by keel-dr format 1\n");

  // A new backup is authenticated and becomes the newest; the old one is
  // listed after it, unauthenticated.
  std::string fresh = s.backup("new");
  auto listed = dr::list_backups(s.job, s.context);
  REQUIRE(listed);
  REQUIRE((*listed)["backups"].size() == 2);
  CHECK((*listed)["backups"][0]["id"] == fresh);
  CHECK((*listed)["backups"][0]["authenticated"] == true);
  CHECK((*listed)["backups"][1]["authenticated"] == false);
  CHECK(s.restored_version().value_or("") == "new");
}

TEST_CASE("bad requests to keel-dr's operations are errors, not crashes", "[dr][replay]") {
  Setup s;
  s.backup("v1");
  CHECK_FALSE(dr::run_restore(s.job, s.context, "../../etc", s.dir / "r"));
  CHECK_FALSE(dr::run_restore(s.job, s.context, "", "relative"));
  auto job_json = Json{{"name", "../x"}, {"source", {{"files", {"/tmp"}}}}, {"to", "file:///tmp/x"}};
  CHECK_FALSE(dr::job_from_json(job_json));
  job_json["name"] = "ok";
  job_json["s3"] = {{"path_style", "yes"}};
  CHECK(dr::job_from_json(job_json));
  CHECK_FALSE(dr::job_from_json(Json::array()));
  auto pg = Json{{"name", "db"}, {"source", {{"postgres", {{"database", "host=evil dbname=x"}}}}}, {"to", "file:///x"}};
  CHECK_FALSE(dr::job_from_json(pg));
}

TEST_CASE("the clean-up before a backup removes only keel's own orphaned data objects", "[dr][replay]") {
  Setup s;
  s.put(s.store + "/docs/notes.kdr", "someone's file");
  s.put(s.store + "/docs/sub/20261127T030000Z-1a2b3c.kdr", "not at keel's place");
  s.put(s.path("docs", "20261127T030000Z-1a2b3c", ".kdr"), "orphaned data of a killed run");
  s.backup("v1");
  CHECK(std::filesystem::exists(s.store + "/docs/notes.kdr"));
  CHECK(std::filesystem::exists(s.store + "/docs/sub/20261127T030000Z-1a2b3c.kdr"));
  CHECK_FALSE(std::filesystem::exists(s.path("docs", "20261127T030000Z-1a2b3c", ".kdr")));
}

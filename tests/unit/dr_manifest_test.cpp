// Manifests: what parse_manifest() accepts, what the MAC binds, and the
// restore targets keel-dr and the agent accept.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "agent/dr/manifest.h"
#include "agent/dr/restore_target.h"
#include "agent/dr/sealed_stream.h"
#include "tests/support/dr_v1_fixture.h"

namespace {

using namespace keel;
using namespace keel::dr;
using Json = nlohmann::json;

Manifest sealed_manifest(const crypto::Key& key) {
  Manifest m;
  m.id = "20261127T030000Z-1a2b3c";
  m.job = "main";
  m.source = "postgres";
  m.started = "2026-11-27T03:00:00.000Z";
  m.finished = "2026-11-27T03:01:00.000Z";
  m.raw_bytes = 1000;
  m.stored_bytes = 300;
  m.sha256 = std::string(64, 'a');
  m.key_id = key_id(key);
  m.keel_version = "0.1.0";
  seal_manifest(m, key);
  return m;
}

Result<Manifest> reparsed(const Json& j) { return parse_manifest(j.dump()); }

}  // namespace

TEST_CASE("a sealed manifest parses back and authenticates", "[dr][manifest]") {
  auto key = crypto::random_key();
  auto m = sealed_manifest(key);
  auto back = reparsed(to_json(m));
  REQUIRE(back);
  CHECK(back->format == 2);
  CHECK(back->mac == m.mac);
  CHECK(authenticate_manifest(*back, key, "main", m.id));
}

TEST_CASE("every authenticated field of a manifest is bound by its MAC", "[dr][manifest][security]") {
  auto key = crypto::random_key();
  Json good = to_json(sealed_manifest(key));
  const Json edits = {{"job", "other"},
                      {"source", "files"},
                      {"started", "2026-11-28T03:00:00.000Z"},
                      {"finished", "2026-12-01T03:01:00.000Z"},
                      {"raw_bytes", 1001},
                      {"stored_bytes", 301},
                      {"sha256", std::string(64, 'b')}};
  for (const auto& [field, value] : edits.items()) {
    INFO(field);
    Json edited = good;
    edited[field] = value;
    auto m = reparsed(edited);
    REQUIRE(m);
    auto ok = authenticate_manifest(*m, key, m->job, m->id);
    REQUIRE_FALSE(ok);
    CHECK(ok.error().code() == ErrorCode::Corrupt);
  }
  // The id: renamed to a newer one (its object renamed too) fails the MAC;
  // left alone under a newer object name, it is a replayed copy.
  Json renamed = good;
  renamed["id"] = "20261130T030000Z-ffffff";
  CHECK_FALSE(authenticate_manifest(*reparsed(renamed), key, "main", "20261130T030000Z-ffffff"));
  auto copy = authenticate_manifest(*reparsed(good), key, "main", "20261130T030000Z-ffffff");
  REQUIRE_FALSE(copy);
  CHECK_THAT(copy.error().message(), Catch::Contains("replayed"));
  // Another job's genuine backup copied into this job's folder.
  auto moved = authenticate_manifest(*reparsed(good), key, "billing", "20261127T030000Z-1a2b3c");
  REQUIRE_FALSE(moved);
  CHECK_THAT(moved.error().message(), Catch::Contains("belongs to job main"));
  // Another key, and a key id edited to match it.
  auto other = crypto::random_key();
  CHECK_THAT(authenticate_manifest(*reparsed(good), other, "main", "20261127T030000Z-1a2b3c").error().message(),
             Catch::Contains("sealed with key"));
  Json rekeyed = good;
  rekeyed["key_id"] = key_id(other);
  CHECK_FALSE(authenticate_manifest(*reparsed(rekeyed), other, "main", "20261127T030000Z-1a2b3c"));
  // Downgraded to format 1: parses, but is never authenticated.
  Json downgraded = good;
  downgraded["format"] = std::string(kFormatV1);
  auto legacy = reparsed(downgraded);
  REQUIRE(legacy);
  CHECK(legacy->format == 1);
  CHECK_FALSE(authenticate_manifest(*legacy, key, "main", "20261127T030000Z-1a2b3c"));
}

TEST_CASE("malformed manifests are refused with the field named, never a crash", "[dr][manifest]") {
  auto key = crypto::random_key();
  Json good = to_json(sealed_manifest(key));
  const std::vector<std::pair<std::string, Json>> cases = {
      {"id", 20261127},                       // the numeric id that used to abort keel-dr
      {"id", "../../etc/passwd"},
      {"id", "20261127T030000Z-1a2b3c/x"},
      {"job", "a/b"},
      {"job", Json::array()},
      {"source", "mysql"},
      {"started", "yesterday"},
      {"started", "2026-11-27T04:00:00+01:00"},  // format 2 times are canonical UTC
      {"raw_bytes", -1},
      {"raw_bytes", 1.5},
      {"stored_bytes", "300"},
      {"sha256", "xyz"},
      {"key_id", nullptr},
      {"mac", "00"},
      {"format", "keel-dr/3"},
  };
  for (const auto& [field, value] : cases) {
    INFO(field << " = " << value.dump());
    Json edited = good;
    edited[field] = value;
    auto m = reparsed(edited);
    REQUIRE_FALSE(m);
    CHECK(m.error().code() == ErrorCode::Corrupt);
    CHECK_THAT(m.error().message(), Catch::Contains("`" + field + "`") || Catch::Contains("format"));
  }
  const std::vector<std::string> texts = {"", "[]", "null", "{", std::string(100'000, '['),
                                         std::string(70'000, ' ') + "{}", std::string(60'000, '[')};
  for (const auto& text : texts) CHECK_FALSE(parse_manifest(text));
  Json missing = good;
  missing.erase("sha256");
  CHECK_FALSE(reparsed(missing));
}

TEST_CASE("a format 1 manifest as keel wrote it still parses, unauthenticated", "[dr][manifest]") {
  auto m = parse_manifest(testing::dr_v1::kManifest);
  REQUIRE(m);
  CHECK(m->format == 1);
  CHECK(m->id == testing::dr_v1::kId);
  CHECK(m->mac.empty());
  CHECK_FALSE(authenticate_manifest(*m, *crypto::key_from_text(testing::dr_v1::kKey), "legacy", m->id));
}

TEST_CASE("backup ids have one shape", "[dr][manifest]") {
  CHECK(valid_backup_id("20261127T030000Z-1a2b3c"));
  CHECK(valid_backup_id(new_backup_id(std::chrono::system_clock::now())));
  for (const char* bad : {"", "20261127T030000Z-1a2b3", "20261127T030000Z-1A2B3C", "2026112xT030000Z-1a2b3c",
                          "20261127T030000Z_1a2b3c", "../20261127T030000", "20261127T030000Z-1a2b3c\n"})
    CHECK_FALSE(valid_backup_id(bad));
}

TEST_CASE("a restore target means no more than it says", "[dr][restore][security]") {
  // PostgreSQL: a plain database name, never a libpq connection string.
  CHECK(check_restore_target("postgres", "", ""));
  CHECK(check_restore_target("postgres", "", "main_copy"));
  CHECK(check_restore_target("postgres", "", "app-2.restored"));
  const std::vector<std::string> bad_names = {"host=elsewhere", "host=elsewhere dbname=app", "dbname=app",
                                              "postgresql://h/db", "postgres://h/db", "a b", "1db", "app'; DROP",
                                              "x\ny", std::string(64, 'a')};
  for (const auto& bad : bad_names) {
    INFO(bad);
    auto ok = check_restore_target("postgres", "", bad);
    REQUIRE_FALSE(ok);
    CHECK(ok.error().code() == ErrorCode::InvalidConfig);
    CHECK_THAT(ok.error().message(), Catch::Contains("restore target"));
  }
  // Redis: a port of the job's own host.
  CHECK(check_restore_target("redis", "127.0.0.1", "127.0.0.1:6380"));
  CHECK(check_restore_target("redis", "127.0.0.1", "localhost:6380"));
  CHECK(check_restore_target("redis", "10.0.0.5", "6380"));
  CHECK(check_restore_target("redis", "10.0.0.5", "10.0.0.5:6380"));
  CHECK_FALSE(check_restore_target("redis", "10.0.0.5", "evil.example:6379"));
  CHECK_FALSE(check_restore_target("redis", "127.0.0.1", "127.0.0.1:99999"));
  CHECK_FALSE(check_restore_target("redis", "127.0.0.1", "127.0.0.1:"));
  // Files: an absolute directory.
  CHECK(check_restore_target("files", "", "/srv/restore"));
  CHECK_FALSE(check_restore_target("files", "", "relative/dir"));
  CHECK_FALSE(check_restore_target("files", "", "/srv/\x1b[2Jdir"));
}

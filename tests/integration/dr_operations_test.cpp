// Backup, restore, drill and prune end to end through keel-dr's library:
// real PostgreSQL and Redis started through the local provider, files in a
// temp dir, a file:// destination. And keel-dr as a process: killed in the
// middle of a backup, it leaves nothing listed.

#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>
#include <fmt/format.h>

#include "agent/dr/operations.h"
#include "cli/providers/local/local_provider.h"
#include "core/files.h"
#include "core/process.h"
#include "tests/support/services.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using namespace keel;
using Json = nlohmann::json;
using keel::testing::TempDir;

struct LocalServices {
  TempDir dir{"dr-it"};
  std::unique_ptr<provider::Provider> provider = providers::local::make_local_provider();
  std::vector<std::pair<std::string, std::string>> created;  // kind, id
  LocalServices() { REQUIRE(provider->configure({Json::object(), dir.path + "/.keel", "test", ""})); }
  ~LocalServices() {
    for (auto& [kind, id] : created) (void)provider->remove({kind, id, Json::object(), nullptr});
  }
  provider::Attributes create(const std::string& kind, const std::string& name, Json config) {
    auto made = provider->create({kind, {"test", kind + "." + name}, std::move(config), nullptr});
    if (!made) FAIL("create " << name << ": " << made.error().message());
    created.emplace_back(kind, made->id);
    return made->attributes;
  }
};

std::string sql(const provider::Attributes& db, const std::string& query) {
  process::Options o;
  o.argv = {"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", db["uri"].get<std::string>()};
  o.stdin_data = query;
  auto out = process::run(o);
  REQUIRE(out);
  INFO(out->output);
  REQUIRE(out->exit_code == 0);
  std::string text = out->output;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::string redis(const provider::Attributes& cache, std::vector<std::string> args) {
  process::Options o;
  o.argv = {"redis-cli", "--no-auth-warning", "-p", std::to_string(cache["port"].get<int>())};
  for (auto& a : args) o.argv.push_back(a);
  o.env["REDISCLI_AUTH"] = cache["password"].get<std::string>();
  auto out = process::run(o);
  REQUIRE(out);
  std::string text = out->output;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

dr::RunContext context_in(const std::string& dir, const crypto::Key& key) {
  dr::RunContext c;
  c.key = key;
  c.spool_dir = dir + "/spool";
  REQUIRE(files::make_dirs(c.spool_dir, 0700));
  return c;
}

dr::Job job_named(const std::string& name, dr::Source source, const std::string& store) {
  dr::Job job;
  job.name = name;
  job.source = std::move(source);
  job.destination.url = "file://" + store;
  return job;
}

std::string id_of(const Result<Json>& backup) {
  REQUIRE(backup);
  return (*backup)["manifest"]["id"];
}

}  // namespace

TEST_CASE("postgres: back up, drop the table, restore, count the rows, then drills pass and fail",
          "[integration][dr][postgres]") {
  LocalServices services;
  auto db = services.create("databases", "main", {{"engine", "postgres"}, {"running", true}});
  sql(db, "CREATE TABLE users (id int primary key, name text); "
          "INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 5000) g;");
  dr::PostgresSource source;
  source.port = db["port"];
  source.user = db["user"];
  source.password = db["password"];
  source.database = db["database"];
  auto key = crypto::random_key();
  auto context = context_in(services.dir.path, key);
  auto job = job_named("main", source, services.dir.path + "/store");

  auto backup = dr::run_backup(job, context);
  INFO((backup ? "" : backup.error().message()));
  std::string id = id_of(backup);
  CHECK((*backup)["manifest"]["raw_bytes"].get<long>() > 0);

  sql(db, "DROP TABLE users;");
  auto restored = dr::run_restore(job, context, "", "");
  INFO((restored ? "" : restored.error().message()));
  REQUIRE(restored);
  CHECK((*restored)["snapshot"] == id);
  CHECK(sql(db, "SELECT count(*) FROM users") == "5000");

  SECTION("into a new database, leaving the original alone") {
    auto copy = dr::run_restore(job, context, id, "main_copy");
    REQUIRE(copy);
    // Never a connection string: that would send the password elsewhere.
    auto elsewhere = dr::run_restore(job, context, id, "host=127.0.0.2 dbname=main_copy");
    REQUIRE_FALSE(elsewhere);
    CHECK(elsewhere.error().code() == ErrorCode::InvalidConfig);
    CHECK(sql(db, "SELECT count(*) FROM users") == "5000");
    auto uri = db["uri"].get<std::string>();
    db["uri"] = uri.substr(0, uri.rfind('/')) + "/main_copy";
    CHECK(sql(db, "SELECT count(*) FROM users") == "5000");
  }
  SECTION("a drill restores into a scratch database and runs verify") {
    job.verify = "SELECT count(*) FROM users";
    Json result;
    auto drill = dr::run_drill(job, context, "", &result);
    INFO((drill ? "" : drill.error().message()));
    REQUIRE(drill);
    CHECK((*drill)["verified"] == true);
    CHECK((*drill)["verify_output"].get<std::string>().starts_with("5000"));
    CHECK((*drill)["rto_seconds"].get<double>() > 0);
    CHECK(sql(db, "SELECT count(*) FROM pg_database WHERE datname LIKE 'keel_drill%'") == "0");

    job.verify = "SELECT count(*) FROM users WHERE id > 1000000";  // 0 rows: the restore is not good
    auto failed = dr::run_drill(job, context, "", &result);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().message().find("verify failed") != std::string::npos);
    CHECK(result["verified"] == false);
    job.verify = "SELECT * FROM no_such_table";
    CHECK_FALSE(dr::run_drill(job, context, "", &result));
    CHECK(sql(db, "SELECT count(*) FROM pg_database WHERE datname LIKE 'keel_drill%'") == "0");
  }
  SECTION("a flipped byte is refused and the database is left as it was") {
    std::string data = services.dir.path + "/store/main/" + id + ".kdr";
    auto bytes = files::read_file(data);
    REQUIRE(bytes);
    (*bytes)[bytes->size() / 2] ^= 0x20;
    REQUIRE(files::write_atomic(data, *bytes, 0600));
    sql(db, "DELETE FROM users WHERE id > 10;");
    auto refused = dr::run_restore(job, context, "", "");
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code() == ErrorCode::Corrupt);
    CHECK(sql(db, "SELECT count(*) FROM users") == "10");
  }
  SECTION("the wrong key is refused") {
    auto other = context_in(services.dir.path, crypto::random_key());
    auto refused = dr::run_restore(job, other, "", "");
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message().find("sealed with key") != std::string::npos);
  }
}

// The same PostgreSQL round trip to S3 (s3rver) and over SFTP (sshd), where
// restore first copies the backup to the spool and checks it there.
TEST_CASE("postgres to S3 and over SFTP: back up, drop, restore, then a flipped byte is refused",
          "[integration][dr][postgres][s3][sftp]") {
  LocalServices services;
  auto db = services.create("databases", "main", {{"engine", "postgres"}, {"running", true}});
  sql(db, "CREATE TABLE orders (id int primary key); INSERT INTO orders SELECT generate_series(1, 2000);");
  dr::PostgresSource source;
  source.port = db["port"];
  source.user = db["user"];
  source.password = db["password"];
  source.database = db["database"];
  auto context = context_in(services.dir.path, crypto::random_key());
  std::string prefix = "ops-" + crypto::hex_encode(crypto::random_bytes(4));

  std::vector<dr::Job> jobs;
  if (const auto* s3 = keel::testing::s3rver()) {
    auto job = job_named("main", source, "");
    job.destination.url = fmt::format("s3://{}/{}", s3->env("S3_BUCKET"), prefix);
    job.destination.s3.endpoint = s3->env("S3_ENDPOINT");
    job.destination.s3.region = s3->env("S3_REGION");
    job.destination.s3.path_style = true;
    job.destination.s3.access_key_id = s3->env("S3_ACCESS_KEY_ID");
    job.destination.s3.secret_access_key = s3->env("S3_SECRET_ACCESS_KEY");
    jobs.push_back(job);
  }
  std::string sftp_dir = services.dir.path + "/sftp-store";
  if (const auto* ssh = keel::testing::sshd()) {
    auto job = job_named("main", source, "");
    job.destination.url = fmt::format("sftp://{}@127.0.0.1:{}{}", ssh->env("SSH_TEST_USER"), ssh->env("SSH_TEST_PORT"), sftp_dir);
    job.destination.sftp.key_file = ssh->env("SSH_TEST_KEY");
    job.destination.sftp.known_hosts_file = ssh->env("SSH_TEST_KNOWN_HOSTS");
    jobs.push_back(job);
  }
  for (const auto& job : jobs) {
    INFO(job.destination.url);
    auto backup = dr::run_backup(job, context);
    INFO((backup ? "" : backup.error().message()));
    id_of(backup);
    sql(db, "DROP TABLE orders;");
    auto restored = dr::run_restore(job, context, "", "");
    INFO((restored ? "" : restored.error().message()));
    REQUIRE(restored);
    CHECK(sql(db, "SELECT count(*) FROM orders") == "2000");
    auto listed = dr::list_backups(job, context);
    REQUIRE(listed);
    CHECK((*listed)["backups"].size() == 1);
  }
  // A flipped byte over SFTP (the files are on this machine) is refused.
  if (jobs.size() == 2) {
    auto listed = dr::list_backups(jobs[1], context);
    REQUIRE(listed);
    std::string data = sftp_dir + "/main/" + (*listed)["backups"][0]["id"].get<std::string>() + ".kdr";
    auto bytes = files::read_file(data);
    REQUIRE(bytes);
    (*bytes)[40] ^= 0x01;
    REQUIRE(files::write_atomic(data, *bytes, 0600));
    auto refused = dr::run_restore(jobs[1], context, "", "");
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code() == ErrorCode::Corrupt);
    CHECK(std::filesystem::is_empty(context.spool_dir));  // the spooled copy is gone
  }
}

TEST_CASE("redis: back up, flush, restore, keys and TTLs are back", "[integration][dr][redis]") {
  LocalServices services;
  auto cache = services.create("caches", "sessions", {{"engine", "redis"}, {"running", true}});
  for (int i = 0; i < 300; ++i) redis(cache, {"SET", fmt::format("session:{}", i), fmt::format("value {}", i)});
  redis(cache, {"SET", "expiring", "x", "EX", "3600"});
  redis(cache, {"SELECT", "0"});
  dr::RedisSource source;
  source.port = cache["port"];
  source.password = cache["password"];
  auto context = context_in(services.dir.path, crypto::random_key());
  auto job = job_named("sessions", source, services.dir.path + "/store");

  auto backup = dr::run_backup(job, context);
  INFO((backup ? "" : backup.error().message()));
  id_of(backup);
  redis(cache, {"FLUSHALL"});
  CHECK(redis(cache, {"DBSIZE"}) == "0");
  auto restored = dr::run_restore(job, context, "", "");
  INFO((restored ? "" : restored.error().message()));
  REQUIRE(restored);
  CHECK(redis(cache, {"DBSIZE"}) == "301");
  CHECK(redis(cache, {"GET", "session:42"}) == "value 42");
  int ttl = std::stoi(redis(cache, {"TTL", "expiring"}));
  CHECK(ttl > 3000);

  job.verify = "EXISTS session:1";
  Json result;
  auto drill = dr::run_drill(job, context, "", &result);
  INFO((drill ? "" : drill.error().message()));
  REQUIRE(drill);
  CHECK((*drill)["verified"] == true);
  job.verify = "EXISTS no-such-key";
  CHECK_FALSE(dr::run_drill(job, context, "", &result));
}

TEST_CASE("files: back up, restore into a directory, retention prunes", "[integration][dr][files]") {
  TempDir dir{"dr-files"};
  std::string data = dir.path + "/data";
  REQUIRE(files::make_dirs(data + "/sub"));
  REQUIRE(files::write_atomic(data + "/a.txt", "alpha", 0640));
  REQUIRE(files::write_atomic(data + "/sub/b.txt", "beta", 0600));
  dr::FilesSource source;
  source.paths = {data};
  auto context = context_in(dir.path, crypto::random_key());
  auto job = job_named("docs", source, dir.path + "/store");
  job.retention.keep_last = 2;

  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto backup = dr::run_backup(job, context);
    INFO((backup ? "" : backup.error().message()));
    ids.push_back(id_of(backup));
    std::this_thread::sleep_for(1100ms);  // distinct ids and times
  }
  auto listed = dr::list_backups(job, context);
  REQUIRE(listed);
  REQUIRE((*listed)["backups"].size() == 2);
  CHECK((*listed)["backups"][0]["id"] == ids[2]);
  CHECK((*listed)["backups"][1]["id"] == ids[1]);

  auto restored = dr::run_restore(job, context, ids[1], dir.path + "/restored");
  INFO((restored ? "" : restored.error().message()));
  REQUIRE(restored);
  CHECK(files::read_file(dir.path + "/restored" + data + "/sub/b.txt").value_or("") == "beta");
  // Over a target where someone planted a symlink on the way: refused, and
  // nothing is written where it points.
  std::string outside = dir.path + "/outside", hostile = dir.path + "/hostile";
  REQUIRE(files::make_dirs(outside));
  REQUIRE(files::make_dirs(hostile));
  std::string first = data.substr(1, data.find('/', 1) - 1);  // "tmp"
  std::filesystem::create_directory_symlink(outside, hostile + "/" + first);
  auto through = dr::run_restore(job, context, ids[1], hostile);
  REQUIRE_FALSE(through);
  CHECK_THAT(through.error().message(), Catch::Contains("symlink"));
  CHECK(std::filesystem::is_empty(outside));
  CHECK_FALSE(dr::run_restore(job, context, ids[0], dir.path + "/x"));  // pruned
  CHECK_FALSE(dr::run_restore(job, context, "", ""));                   // files need a target

  job.verify = "test -s ./" + data.substr(1) + "/a.txt";
  Json result;
  auto drill = dr::run_drill(job, context, "", &result);
  INFO((drill ? "" : drill.error().message()));
  CHECK(drill);
  job.verify = "false";
  CHECK_FALSE(dr::run_drill(job, context, "", &result));
}

TEST_CASE("keel-dr killed in the middle of a backup leaves nothing listed", "[integration][dr][crash]") {
  const char* build = std::getenv("KEEL_BUILD_DIR");
  REQUIRE(build != nullptr);
  TempDir dir{"dr-crash"};
  // 200 MB of random data: long enough to be killed in the middle.
  process::Options make;
  REQUIRE(files::make_dirs(dir.path + "/data"));
  make.argv = {"sh", "-c", "head -c 200000000 /dev/urandom > " + dir.path + "/data/big"};
  REQUIRE(process::run(make));
  auto key = crypto::key_to_text(crypto::random_key());
  Json job = {{"name", "big"}, {"source", {{"files", {dir.path + "/data"}}}}, {"to", "file://" + dir.path + "/store"}};
  Json request = {{"op", "backup"}, {"job", job}, {"key", key}, {"spool_dir", dir.path}};

  process::Child::Spec spec;
  spec.argv = {std::string(build) + "/keel-dr"};
  auto child = process::Child::start(spec);
  REQUIRE(child);
  std::string body = request.dump();
  REQUIRE(::write(child->stdin_fd(), body.data(), body.size()) == static_cast<ssize_t>(body.size()));
  child->close_stdin();
  // Wait for the first progress line, then kill it.
  char buf[256];
  REQUIRE(::read(child->stdout_fd(), buf, sizeof buf) > 0);
  std::this_thread::sleep_for(100ms);
  child->kill(SIGKILL);
  child->wait();

  dr::Job parsed = *dr::job_from_json(job);
  auto context = context_in(dir.path, *crypto::key_from_text(key));
  auto listed = dr::list_backups(parsed, context);
  REQUIRE(listed);
  CHECK((*listed)["backups"].empty());
  // The next backup cleans up what the killed one left.
  REQUIRE(files::remove_all(dir.path + "/data/big"));
  REQUIRE(dr::run_backup(parsed, context));
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path + "/store/big"))
    names.push_back(entry.path().filename());
  CHECK(names.size() == 2);  // one .kdr, one .manifest.json, no partial
}

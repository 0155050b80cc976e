// The built-in local provider against real servers: PostgreSQL, Redis and
// Memcached started through the provider in a temporary work directory, and
// talked to with their own clients (psql, redis-cli, a raw socket).
//
// Every test removes what it started through an RAII guard, so that a failed
// assertion leaves no server behind.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "cli/providers/local/local_provider.h"
#include "core/files.h"
#include "core/process.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using keel::ErrorCode;
using keel::provider::Attributes;
using keel::provider::Provider;
using Json = nlohmann::json;

// A temporary directory, removed with everything in it. Mode 0700 (what
// mkdtemp gives) keeps the postgres account out, which sends clusters to
// /var/lib/keel-local when running as root; 0755 keeps them in the tree.
struct TempDir {
  std::string path;
  explicit TempDir(mode_t mode) {
    char pattern[] = "/tmp/keel-local-test.XXXXXX";
    const char* made = ::mkdtemp(pattern);
    REQUIRE(made != nullptr);
    path = made;
    ::chmod(path.c_str(), mode);
  }
  ~TempDir() { (void)keel::files::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

struct Stack {
  TempDir dir;
  std::unique_ptr<Provider> provider = keel::providers::local::make_local_provider();

  explicit Stack(mode_t mode = 0700) : dir(mode) {
    auto st = provider->configure({Json::object(), work_dir(), "test", ""});
    REQUIRE(st);
  }
  std::string work_dir() const { return dir.path + "/.keel"; }
  std::string id_of(const std::string& kind, const std::string& name) const {
    return work_dir() + "/local/" + kind + "/" + name;
  }
};

// Removes a resource at the end of the test, pass or fail. The id is known
// before create (it is the resource's directory), so that even a create that
// fails half-way is cleaned up.
struct Cleanup {
  Provider& provider;
  std::string kind, id;
  ~Cleanup() {
    auto st = provider.remove({kind, id, Json::object(), nullptr});
    if (!st) std::fprintf(stderr, "cleanup of %s failed: %s\n", id.c_str(), st.error().message().c_str());
  }
};

keel::provider::CreateResponse create(Stack& stack, const std::string& kind, const std::string& address,
                                      Json config) {
  auto created = stack.provider->create({kind, {"test", address}, std::move(config), nullptr});
  if (!created) FAIL("create " << address << ": " << created.error().message());
  return *created;
}

Attributes read(Stack& stack, const std::string& kind, const std::string& id) {
  auto got = stack.provider->read({kind, id, Json::object(), nullptr});
  if (!got) FAIL("read " << id << ": " << got.error().message());
  REQUIRE(got->found);
  return got->attributes;
}

Attributes update(Stack& stack, const std::string& kind, const std::string& id, const Attributes& prior,
                  Json config) {
  auto updated = stack.provider->update({kind, id, {"test", ""}, prior, std::move(config), nullptr});
  if (!updated) FAIL("update " << id << ": " << updated.error().message());
  return updated->attributes;
}

keel::process::Outcome run(std::vector<std::string> argv, std::map<std::string, std::string> env = {}) {
  keel::process::Options options;
  options.argv = std::move(argv);
  options.env = std::move(env);
  options.cwd = "/";
  options.timeout = 60s;
  auto outcome = keel::process::run(options);
  if (!outcome) FAIL(outcome.error().message());
  return *outcome;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Pids of the processes whose argv holds `secret` (none must).
std::vector<std::string> processes_with_in_argv(const std::string& secret) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (file_text("/proc/" + name + "/cmdline").find(secret) != std::string::npos) found.push_back(name);
  }
  return found;
}

// Files under `root` (other than `allowed`) that contain `secret`.
std::vector<std::string> files_containing(const std::string& root, const std::string& secret,
                                          const std::string& allowed) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(root, ec)) {
    if (!entry.is_regular_file() || entry.path().filename() == allowed) continue;
    if (file_text(entry.path().string()).find(secret) != std::string::npos) found.push_back(entry.path());
  }
  return found;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

bool wait_port_closed(int port) {
  for (int i = 0; i < 100 && keel::process::port_open(port); ++i) std::this_thread::sleep_for(50ms);
  return !keel::process::port_open(port);
}

// --- PostgreSQL helpers ---

std::string pg_bin(const Attributes& db, const std::string& program) {
  return "/usr/lib/postgresql/" + db["version"].get<std::string>() + "/bin/" + program;
}

// The uri without its password: the password travels in PGPASSWORD.
std::string uri_without_password(const Attributes& db) {
  std::string uri = db["uri"];
  const std::string secret = ":" + db["password"].get<std::string>() + "@";
  return uri.replace(uri.find(secret), secret.size(), "@");
}

keel::process::Outcome psql(const Attributes& db, const std::string& password, const std::string& sql) {
  return run({pg_bin(db, "psql"), "-X", "-w", "-tA", uri_without_password(db), "-c", sql},
             {{"PGPASSWORD", password}, {"PGCONNECT_TIMEOUT", "10"}});
}

void require_select_1(const Attributes& db) {
  auto out = psql(db, db["password"], "select 1");
  INFO(out.output);
  REQUIRE(out.exit_code == 0);
  REQUIRE(trimmed(out.output) == "1");
}

// Stops the cluster behind the provider's back, as its owner would.
void pg_ctl_stop(const Attributes& db) {
  keel::process::Options options;
  options.argv = {pg_bin(db, "pg_ctl"), "-D", db["data_dir"], "-m", "fast", "-w", "stop"};
  options.cwd = "/";
  options.timeout = 60s;
  if (keel::process::running_as_root()) options.run_as = *keel::process::lookup_user("postgres");
  auto outcome = keel::process::run(options);
  REQUIRE(outcome);
  INFO(outcome->output);
  REQUIRE(outcome->exit_code == 0);
}

std::optional<long> postmaster_pid(const Attributes& db) {
  const std::string text = file_text(db["data_dir"].get<std::string>() + "/postmaster.pid");
  if (text.empty()) return std::nullopt;
  return std::stol(text);
}

// --- Redis and Memcached helpers ---

keel::process::Outcome redis_ping(const Attributes& cache, const std::string& password) {
  return run({"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(cache["port"].get<int>()), "ping"},
             {{"REDISCLI_AUTH", password}});
}

// Sends "version\r\n" to a memcached and returns the reply ("" on failure).
std::string memcached_version(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, "version\r\n", 9, 0) == 9) {
    char buffer[256];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) reply.assign(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return reply;
}

const Json kPostgres = {{"engine", "postgres"}, {"user", "keel"}, {"running", true}};

}  // namespace

TEST_CASE("local provider: schema", "[integration][local]") {
  auto provider = keel::providers::local::make_local_provider();
  const auto& schema = provider->schema();
  CHECK(schema.name == "local");
  const auto* databases = schema.find_kind("databases");
  const auto* caches = schema.find_kind("caches");
  REQUIRE(databases);
  REQUIRE(caches);
  REQUIRE(schema.find_kind("servers"));
  CHECK(databases->find("password")->sensitive);
  CHECK(databases->find("uri")->sensitive);
  CHECK(databases->find("version")->force_new);
  CHECK(databases->find("user")->default_value == "keel");
  CHECK((databases->find("port")->optional && databases->find("port")->computed));
  CHECK_FALSE(databases->find("port")->force_new);
  CHECK(databases->find("running")->default_value == true);
  CHECK(caches->find("engine")->required);
  CHECK(caches->find("engine")->one_of == std::vector<std::string>{"redis", "memcached"});
}

TEST_CASE("local provider: postgres lifecycle", "[integration][local][postgres]") {
  Stack stack;  // 0700: as root, the cluster goes to /var/lib/keel-local
  const std::string id = stack.id_of("databases", "main");
  Cleanup cleanup{*stack.provider, "databases", id};

  auto created = create(stack, "databases", "databases.main", kPostgres);
  Attributes db = created.attributes;
  INFO(db.dump());
  REQUIRE(created.id == id);
  CHECK(db["host"] == "127.0.0.1");
  CHECK(db["user"] == "keel");
  CHECK(db["database"] == "main");
  CHECK(db["running"] == true);
  const std::string password = db["password"];
  CHECK(password.size() == 24);
  const int port = db["port"];
  CHECK(db["uri"] == "postgresql://keel:" + password + "@127.0.0.1:" + std::to_string(port) + "/main");
  if (keel::process::running_as_root())
    CHECK(db["data_dir"].get<std::string>().rfind("/var/lib/keel-local/", 0) == 0);

  require_select_1(db);
  auto wrong = psql(db, "not-the-password", "select 1");
  CHECK(wrong.exit_code != 0);
  CHECK(wrong.output.find("password authentication failed") != std::string::npos);

  // The password stays out of argv and files.
  CHECK(processes_with_in_argv(password).empty());
  CHECK(files_containing(id, password, "secrets.json").empty());
  const std::string base = fs::path(db["data_dir"].get<std::string>()).parent_path();
  CHECK(files_containing(base, password, "").empty());
  CHECK(mode_of(id + "/secrets.json") == 0600);

  // Read shows the truth, so a server stopped behind keel's back is drift;
  // update brings it back.
  CHECK(read(stack, "databases", id)["running"] == true);
  pg_ctl_stop(db);
  auto drifted = read(stack, "databases", id);
  CHECK(drifted["running"] == false);
  CHECK(drifted["port"] == port);
  auto restarted = update(stack, "databases", id, drifted, kPostgres);
  CHECK(restarted["running"] == true);
  require_select_1(restarted);

  // A port change restarts it on the new port; running=false stops it.
  auto free_port = keel::process::free_local_port();
  REQUIRE(free_port);
  Json config = kPostgres;
  config["port"] = *free_port;
  auto moved = update(stack, "databases", id, restarted, config);
  CHECK(moved["port"] == *free_port);
  CHECK(moved["running"] == true);
  CHECK(moved["uri"] != db["uri"]);
  require_select_1(moved);
  CHECK(wait_port_closed(port));
  config["running"] = false;
  auto stopped = update(stack, "databases", id, moved, config);
  CHECK(stopped["running"] == false);
  CHECK(wait_port_closed(*free_port));
  CHECK(read(stack, "databases", id)["running"] == false);

  // Remove deletes its files (also those outside the tree); gone stays gone.
  config["running"] = true;
  REQUIRE(update(stack, "databases", id, stopped, config)["running"] == true);
  REQUIRE(stack.provider->remove({"databases", id, stopped, nullptr}));
  CHECK_FALSE(fs::exists(id));
  CHECK_FALSE(fs::exists(db["data_dir"].get<std::string>()));
  CHECK(wait_port_closed(*free_port));
  auto gone = stack.provider->read({"databases", id, db, nullptr});
  REQUIRE(gone);
  CHECK_FALSE(gone->found);
  CHECK(stack.provider->remove({"databases", id, db, nullptr}));  // already gone is fine
}

TEST_CASE("local provider: postgres adoption and crash leftovers", "[integration][local][postgres]") {
  Stack stack(0755);  // reachable by the postgres account: data stays in the tree
  const std::string id = stack.id_of("databases", "db-2");
  Cleanup cleanup{*stack.provider, "databases", id};
  auto created = create(stack, "databases", "databases.db[2]", Json::object());
  Attributes db = created.attributes;
  INFO(db.dump());
  REQUIRE(created.id == id);
  CHECK(db["database"] == "db_2");
  CHECK(db["data_dir"].get<std::string>().rfind(id + "/", 0) == 0);
  require_select_1(db);

  SECTION("find by tags adopts it with the same attributes, restarting it if needed") {
    keel::provider::FindRequest by_tags{
        "databases", {"test", "databases.db[2]"}, "", Json::object(), nullptr};
    auto found = stack.provider->find(by_tags);
    REQUIRE(found);
    REQUIRE(found->found);
    CHECK(found->id == id);
    CHECK(found->attributes == db);

    pg_ctl_stop(db);
    auto adopted = stack.provider->find(by_tags);
    REQUIRE(adopted);
    REQUIRE(adopted->found);
    CHECK(adopted->attributes["running"] == true);
    require_select_1(adopted->attributes);

    auto by_id = stack.provider->find({"databases", {}, id, Json::object(), nullptr});
    REQUIRE(by_id);
    CHECK(by_id->found);
    auto other =
        stack.provider->find({"databases", {"test", "databases.other"}, "", Json::object(), nullptr});
    REQUIRE(other);
    CHECK_FALSE(other->found);
    auto other_project =
        stack.provider->find({"databases", {"elsewhere", "databases.db[2]"}, "", {}, nullptr});
    REQUIRE(other_project);
    CHECK_FALSE(other_project->found);

    // A complete resource that state does not know of is never wiped by create.
    auto again = stack.provider->create({"databases", {"test", "databases.db[2]"}, Json::object(), nullptr});
    REQUIRE_FALSE(again);
    CHECK(again.error().code() == ErrorCode::Conflict);
  }

  SECTION("create wipes the leftover of a crashed create, running server included") {
    auto old_pid = postmaster_pid(db);
    REQUIRE(old_pid);
    fs::remove(id + "/meta.json");  // as if keel died before its last step
    auto recreated = create(stack, "databases", "databases.db[2]", Json::object());
    CHECK_FALSE(keel::process::process_alive(*old_pid, "postgres"));
    CHECK(recreated.attributes["password"] != db["password"]);
    require_select_1(recreated.attributes);
  }

  SECTION("create wipes a half-made directory") {
    const std::string half = stack.id_of("databases", "half");
    Cleanup cleanup_half{*stack.provider, "databases", half};
    REQUIRE(keel::files::make_dirs(half + "/pg/data"));
    REQUIRE(keel::files::write_atomic(half + "/junk", "left by a crash"));
    auto made = create(stack, "databases", "databases.half", Json::object());
    CHECK_FALSE(fs::exists(half + "/junk"));
    require_select_1(made.attributes);
  }
}

TEST_CASE("local provider: a missing PostgreSQL version names its package", "[integration][local]") {
  Stack stack;
  auto created = stack.provider->create({"databases", {"test", "databases.v"}, {{"version", "99"}}, nullptr});
  REQUIRE_FALSE(created);
  CHECK(created.error().code() == ErrorCode::Unavailable);
  CHECK_THAT(created.error().message(), Catch::Contains("apt-get install postgresql-99"));
  CHECK_FALSE(fs::exists(stack.id_of("databases", "v")));

  auto bad_engine = stack.provider->create({"caches", {"test", "caches.c"}, {{"engine", "mongo"}}, nullptr});
  REQUIRE_FALSE(bad_engine);
  CHECK(bad_engine.error().code() == ErrorCode::InvalidConfig);
}

TEST_CASE("local provider: redis", "[integration][local][redis]") {
  Stack stack;
  const std::string id = stack.id_of("caches", "sessions");
  Cleanup cleanup{*stack.provider, "caches", id};
  const Json config = {{"engine", "redis"}, {"running", true}};
  Attributes cache = create(stack, "caches", "caches.sessions", config).attributes;
  INFO(cache.dump());
  const std::string password = cache["password"];
  const int port = cache["port"];
  CHECK(password.size() == 24);
  CHECK(cache["uri"] == "redis://default:" + password + "@127.0.0.1:" + std::to_string(port) + "/0");
  CHECK(cache["running"] == true);

  CHECK(trimmed(redis_ping(cache, password).output) == "PONG");
  CHECK(redis_ping(cache, "wrong").output.find("PONG") == std::string::npos);
  CHECK(processes_with_in_argv(password).empty());
  CHECK(mode_of(id + "/redis.conf") == 0600);
  CHECK(mode_of(id + "/secrets.json") == 0600);
  CHECK(read(stack, "caches", id)["running"] == true);

  auto free_port = keel::process::free_local_port();
  REQUIRE(free_port);
  Json moved_config = config;
  moved_config["port"] = *free_port;
  auto moved = update(stack, "caches", id, cache, moved_config);
  CHECK(moved["port"] == *free_port);
  CHECK(trimmed(redis_ping(moved, password).output) == "PONG");
  CHECK(wait_port_closed(port));

  moved_config["running"] = false;
  auto stopped = update(stack, "caches", id, moved, moved_config);
  CHECK(stopped["running"] == false);
  CHECK(read(stack, "caches", id)["running"] == false);
  moved_config["running"] = true;
  CHECK(update(stack, "caches", id, stopped, moved_config)["running"] == true);

  REQUIRE(stack.provider->remove({"caches", id, moved, nullptr}));
  CHECK_FALSE(fs::exists(id));
  CHECK(wait_port_closed(*free_port));
}

// Holds a listening socket on 127.0.0.1:port (0: any free one).
struct Listener {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int port = 0;
  explicit Listener(int wanted = 0) {
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(wanted));
    socklen_t len = sizeof addr;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
  }
  ~Listener() { ::close(fd); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
};

TEST_CASE("local provider: a taken port is refused when set, moved from when picked",
          "[integration][local][redis]") {
  Stack stack;
  SECTION("a port the user set") {
    Listener taken;
    Cleanup cleanup{*stack.provider, "caches", stack.id_of("caches", "busy")};
    auto created = stack.provider->create(
        {"caches", {"test", "caches.busy"}, {{"engine", "redis"}, {"port", taken.port}}, nullptr});
    REQUIRE_FALSE(created);
    CHECK(created.error().code() == ErrorCode::Conflict);
    CHECK_THAT(created.error().message(), Catch::Contains("leave port unset"));
  }
  SECTION("a port keel picked moves when taken while the server was stopped") {
    const std::string id = stack.id_of("caches", "mover");
    Cleanup cleanup{*stack.provider, "caches", id};
    const Json config = {{"engine", "redis"}, {"running", false}};
    Attributes stopped = create(stack, "caches", "caches.mover", config).attributes;
    CHECK(stopped["running"] == false);
    Listener taken(stopped["port"].get<int>());
    Json start = config;
    start["running"] = true;
    auto started = update(stack, "caches", id, stopped, start);
    CHECK(started["running"] == true);
    CHECK(started["port"] != stopped["port"]);
    CHECK(trimmed(redis_ping(started, started["password"]).output) == "PONG");
    CHECK(read(stack, "caches", id)["port"] == started["port"]);
  }
}

TEST_CASE("local provider: memcached", "[integration][local][memcached]") {
  Stack stack;
  const std::string id = stack.id_of("caches", "fragments");
  Cleanup cleanup{*stack.provider, "caches", id};
  const Json config = {{"engine", "memcached"}, {"running", true}};
  Attributes cache = create(stack, "caches", "caches.fragments", config).attributes;
  INFO(cache.dump());
  const int port = cache["port"];
  CHECK(cache["uri"] == "memcached://127.0.0.1:" + std::to_string(port));
  CHECK(cache["running"] == true);
  CHECK_THAT(memcached_version(port), Catch::StartsWith("VERSION "));

  Json stop_config = config;
  stop_config["running"] = false;
  CHECK(update(stack, "caches", id, cache, stop_config)["running"] == false);
  CHECK(wait_port_closed(port));
  CHECK(read(stack, "caches", id)["running"] == false);
  CHECK(update(stack, "caches", id, cache, config)["running"] == true);
  CHECK_THAT(memcached_version(port), Catch::StartsWith("VERSION "));

  REQUIRE(stack.provider->remove({"caches", id, cache, nullptr}));
  CHECK_FALSE(fs::exists(id));
  CHECK(wait_port_closed(port));
}

TEST_CASE("local provider: several resources created at once", "[integration][local]") {
  Stack stack;
  struct Job {
    std::string kind, address, name;
    Json config;
    keel::Result<keel::provider::CreateResponse> result = keel::fail(ErrorCode::Internal, "not run");
  };
  std::vector<Job> jobs = {{"databases", "databases.a", "a", Json::object()},
                           {"databases", "databases.b", "b", Json::object()},
                           {"caches", "caches.r", "r", {{"engine", "redis"}}},
                           {"caches", "caches.m", "m", {{"engine", "memcached"}}}};
  std::vector<std::unique_ptr<Cleanup>> cleanups;
  for (const auto& job : jobs)
    cleanups.emplace_back(new Cleanup{*stack.provider, job.kind, stack.id_of(job.kind, job.name)});

  // Catch2 assertions are not thread-safe: the threads only record results.
  std::vector<std::thread> threads;
  for (auto& job : jobs) {
    threads.emplace_back([&stack, &job] {
      job.result = stack.provider->create({job.kind, {"test", job.address}, job.config, nullptr});
    });
  }
  for (auto& thread : threads) thread.join();

  std::set<int> ports;
  for (const auto& job : jobs) {
    INFO(job.address);
    if (!job.result) FAIL(job.result.error().message());
    CHECK(job.result->attributes["running"] == true);
    ports.insert(job.result->attributes["port"].get<int>());
  }
  CHECK(ports.size() == jobs.size());
  require_select_1(jobs[0].result->attributes);
  require_select_1(jobs[1].result->attributes);
}

TEST_CASE("local provider: servers are host directories", "[integration][local]") {
  Stack stack;
  const std::string id = stack.id_of("servers", "web-0");
  Cleanup cleanup{*stack.provider, "servers", id};
  auto created = create(stack, "servers", "servers.web[0]", Json::object());
  INFO(created.attributes.dump());
  CHECK(created.id == id);
  CHECK(fs::exists(id + "/facts.json"));
  CHECK(created.attributes["host"] == "127.0.0.1");
  CHECK_FALSE(created.attributes["os"].get<std::string>().empty());
  CHECK_FALSE(created.attributes["arch"].get<std::string>().empty());
  CHECK(created.attributes["cpus"].get<int>() > 0);
  CHECK(created.attributes["memory_mb"].get<long>() > 0);
  CHECK(created.attributes["dir"] == id);
  CHECK(read(stack, "servers", id) == created.attributes);

  auto found = stack.provider->find({"servers", {"test", "servers.web[0]"}, "", Json::object(), nullptr});
  REQUIRE(found);
  CHECK(found->found);
  REQUIRE(stack.provider->remove({"servers", id, created.attributes, nullptr}));
  CHECK_FALSE(fs::exists(id));
  auto gone = stack.provider->read({"servers", id, Json::object(), nullptr});
  REQUIRE(gone);
  CHECK_FALSE(gone->found);
}

// --- what the provider's children and its database users can do (issue 14) ------

namespace {

// Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old) ::setenv(name.c_str(), old->c_str(), 1);
    else ::unsetenv(name.c_str());
  }
};

// Files and directories under `root` that group or others may write.
std::vector<std::string> writable_by_others(const std::string& root) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(root, ec)) {
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) == 0 && !S_ISLNK(st.st_mode) && (st.st_mode & 022))
      found.push_back(entry.path().string());
  }
  return found;
}

}  // namespace

TEST_CASE("local provider: the stack's user is not the superuser", "[integration][local][postgres]") {
  // Issue 14, item 1: the application's credentials were the cluster's
  // superuser, which can read /proc/<postmaster>/environ from SQL.
  Stack stack(0755);
  const std::string id = stack.id_of("databases", "app");
  Cleanup cleanup{*stack.provider, "databases", id};
  Attributes db = create(stack, "databases", "databases.app", kPostgres).attributes;
  INFO(db.dump());
  const std::string password = db["password"];

  auto roles = psql(db, password, "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user");
  INFO(roles.output);
  CHECK(trimmed(roles.output) == "f|t|f");
  auto owner = psql(db, password, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()");
  CHECK(trimmed(owner.output) == "keel");
  CHECK(psql(db, password, "CREATE TABLE t (x int); INSERT INTO t VALUES (1); SELECT count(*) FROM t").exit_code == 0);

  auto environ_read = psql(db, password, "SELECT pg_read_file('/proc/self/environ')");
  CHECK(environ_read.exit_code != 0);
  CHECK_THAT(environ_read.output, Catch::Contains("permission denied"));
  auto program = psql(db, password, "COPY (SELECT 1) TO PROGRAM 'true'");
  CHECK(program.exit_code != 0);
  auto become = psql(db, password, "SET ROLE postgres");
  CHECK(become.exit_code != 0);

  // The superuser is keel's `postgres`, its password in secrets.json only.
  const std::string secrets = file_text(id + "/secrets.json");
  const std::string superuser_password = Json::parse(secrets)["superuser_password"];
  CHECK(superuser_password.size() == 24);
  CHECK(db.dump().find(superuser_password) == std::string::npos);
  CHECK(processes_with_in_argv(superuser_password).empty());
  auto as_superuser = run({pg_bin(db, "psql"), "-X", "-w", "-tA",
                           "postgresql://postgres@127.0.0.1:" + std::to_string(db["port"].get<int>()) + "/postgres",
                           "-c", "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"},
                          {{"PGPASSWORD", superuser_password}, {"PGCONNECT_TIMEOUT", "10"}});
  INFO(as_superuser.output);
  CHECK(trimmed(as_superuser.output) == "t");
  CHECK(files_containing(id, superuser_password, "secrets.json").empty());

  SECTION("the superuser's name is refused for the stack's user") {
    Json config = kPostgres;
    config["user"] = "postgres";
    auto refused = stack.provider->create({"databases", {"test", "databases.bad"}, config, nullptr});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code() == ErrorCode::InvalidConfig);
    CHECK_THAT(refused.error().message(), Catch::Contains("superuser"));
    CHECK_FALSE(fs::exists(stack.id_of("databases", "bad")));
  }
}

TEST_CASE("local provider: the postmaster's environment holds none of keel's secrets",
          "[integration][local][postgres][redis]") {
  ScopedEnv key("KEEL_STATE_KEY", "keel-state-key-sentinel-4711");
  ScopedEnv token("FAKE_CLOUD_TOKEN", "cloud-token-sentinel-4712");
  Stack stack(0755);
  const std::string db_id = stack.id_of("databases", "env");
  const std::string cache_id = stack.id_of("caches", "env");
  Cleanup db_cleanup{*stack.provider, "databases", db_id};
  Cleanup cache_cleanup{*stack.provider, "caches", cache_id};
  Attributes db = create(stack, "databases", "databases.env", kPostgres).attributes;
  create(stack, "caches", "caches.env", {{"engine", "redis"}});

  // What the server's account sees: the postmaster's environment as its
  // children inherit it (the postmaster rewrites its own /proc/PID/environ
  // for its process title), read the way a superuser would.
  const std::string superuser_password = Json::parse(file_text(db_id + "/secrets.json"))["superuser_password"];
  auto env = run({pg_bin(db, "psql"), "-X", "-w", "-tA",
                  "postgresql://postgres@127.0.0.1:" + std::to_string(db["port"].get<int>()) + "/postgres", "-c",
                  "CREATE TEMP TABLE e (line text); COPY e FROM PROGRAM 'env'; SELECT line FROM e"},
                 {{"PGPASSWORD", superuser_password}, {"PGCONNECT_TIMEOUT", "10"}});
  INFO(env.output);
  REQUIRE(env.exit_code == 0);
  CHECK(env.output.find("PATH=") != std::string::npos);
  CHECK(env.output.find("keel-state-key-sentinel-4711") == std::string::npos);
  CHECK(env.output.find("cloud-token-sentinel-4712") == std::string::npos);

  auto redis_pid = keel::files::read_file(cache_id + "/redis.pid");
  REQUIRE(redis_pid);
  auto environ_text = keel::files::read_file("/proc/" + trimmed(*redis_pid) + "/environ");
  REQUIRE(environ_text);
  CHECK(environ_text->find("keel-state-key-sentinel-4711") == std::string::npos);
  CHECK(environ_text->find("cloud-token-sentinel-4712") == std::string::npos);
}

TEST_CASE("local provider: redis creates no file others can write, whatever the umask",
          "[integration][local][redis]") {
  Stack stack;
  const std::string id = stack.id_of("caches", "umask");
  Cleanup cleanup{*stack.provider, "caches", id};
  const mode_t old = ::umask(0);
  auto created = stack.provider->create({"caches", {"test", "caches.umask"}, {{"engine", "redis"}}, nullptr});
  ::umask(old);
  REQUIRE(created);
  REQUIRE(fs::exists(id + "/redis.log"));
  CHECK(writable_by_others(stack.work_dir()).empty());
}

TEST_CASE("local provider: a linked .keel/local is refused", "[integration][local][redis]") {
  // A repository can commit `.keel/local` as a link: creating, writing and
  // removing through it would reach wherever it points.
  Stack stack;
  TempDir elsewhere(0700);
  REQUIRE(keel::files::make_dirs(stack.work_dir(), 0755));
  REQUIRE(::symlink(elsewhere.path.c_str(), (stack.work_dir() + "/local").c_str()) == 0);
  auto created = stack.provider->create({"caches", {"test", "caches.linked"}, {{"engine", "redis"}}, nullptr});
  REQUIRE_FALSE(created);
  CHECK(created.error().code() == ErrorCode::PermissionDenied);
  CHECK_THAT(created.error().message(), Catch::Contains("local is a symbolic link"));
  CHECK(fs::is_empty(elsewhere.path));

  // Nor does delete remove through it.
  REQUIRE(keel::files::make_dirs(elsewhere.path + "/caches/linked", 0755));
  auto removed = stack.provider->remove({"caches", stack.id_of("caches", "linked"), Json::object(), nullptr});
  REQUIRE_FALSE(removed);
  CHECK(fs::exists(elsewhere.path + "/caches/linked"));
}

TEST_CASE("local provider: a cluster recorded before keel had its own superuser keeps working",
          "[integration][local][postgres]") {
  // Clusters made by older keels have no `superuser` fact (their stack user
  // is the superuser): stop, start and read must not need one.
  Stack stack(0755);
  const std::string id = stack.id_of("databases", "old");
  Cleanup cleanup{*stack.provider, "databases", id};
  Attributes db = create(stack, "databases", "databases.old", kPostgres).attributes;
  Json meta = Json::parse(file_text(id + "/meta.json"));
  Json secrets = Json::parse(file_text(id + "/secrets.json"));
  REQUIRE(meta.erase("superuser") == 1);
  REQUIRE(secrets.erase("superuser_password") == 1);
  REQUIRE(keel::files::write_atomic(id + "/meta.json", meta.dump(2), 0644));
  REQUIRE(keel::files::write_atomic(id + "/secrets.json", secrets.dump(2), 0600));

  Json config = kPostgres;
  config["running"] = false;
  auto stopped = update(stack, "databases", id, db, config);
  CHECK(stopped["running"] == false);
  config["running"] = true;
  auto started = update(stack, "databases", id, stopped, config);
  CHECK(started["running"] == true);
  CHECK(started["password"] == db["password"]);
  require_select_1(started);
}

// The out-of-process provider end to end: keel's PluginProvider driving the
// real keel-provider-example binary (and a few fake plugins written as shell
// scripts) over the JSON-RPC protocol of docs/plugin-protocol.md.

#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "cli/providers/plugin/plugin_provider.h"
#include "core/crypto.h"
#include "core/files.h"
#include "tests/support/provider_conformance.h"
#include "tests/support/temp_dir.h"

using namespace keel;
using namespace keel::provider;
using keel::providers::PluginProvider;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using keel::testing::TempDir;

const std::string kPluginName = "keel-provider-example";

std::string example_path() {
  const char* dir = std::getenv("KEEL_BUILD_DIR");
  if (!dir) FAIL("KEEL_BUILD_DIR is not set (ctest sets it)");
  return std::string(dir) + "/" + kPluginName;
}

std::unique_ptr<PluginProvider> start_example(std::map<std::string, std::string> env = {}) {
  auto plugin = PluginProvider::start(example_path(), kPluginName, std::move(env));
  if (!plugin) FAIL("start: " << plugin.error().message());
  return std::move(*plugin);
}

void configure(PluginProvider& p, const TempDir& root) {
  auto st = p.configure(ConfigureRequest{json{{"root", root.path}}, root.path, "acme"});
  REQUIRE(st);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string write_script(const TempDir& dir, const std::string& name, const std::string& body) {
  const std::string path = dir / name;
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  ::chmod(path.c_str(), 0755);
  return path;
}

CreateRequest create_request(const std::string& address, json config) {
  return CreateRequest{"files", ResourceTags{"acme", address}, std::move(config), nullptr};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("plugin handshake gives the example schema", "[integration][plugin]") {
  auto p = start_example();
  CHECK(p->plugin_name() == kPluginName);
  CHECK(p->pid() > 0);
  const ProviderSchema& s = p->schema();
  CHECK(s.name == "example");
  REQUIRE(s.config.size() == 1);
  CHECK(s.config[0].name == "root");
  const KindSchema* files = s.find_kind("files");
  REQUIRE(files);
  REQUIRE(files->find("path"));
  CHECK(files->find("path")->required);
  CHECK(files->find("path")->force_new);
  CHECK(files->find("mode")->default_value == "0644");
  CHECK(files->find("content")->default_value == "");
  CHECK(files->find("sensitive_content")->sensitive);
  CHECK(files->find("sha256")->computed);
  CHECK(files->find("size")->type == AttributeType::Integer);
}

TEST_CASE("plugin creates, reads, updates, finds and deletes a file", "[integration][plugin]") {
  TempDir dir;
  auto p = start_example();
  configure(*p, dir);

  std::vector<std::string> progress;
  CreateRequest req = create_request("files.a", json{{"path", "sub/a.txt"}, {"content", "hello"}, {"mode", "0600"}});
  req.progress = [&](const std::string& m) { progress.push_back(m); };
  auto created = p->create(req);
  REQUIRE(created);
  const std::string abs = dir / "sub/a.txt";
  CHECK(created->id == abs);
  CHECK(slurp(abs) == "hello");
  CHECK(created->attributes["path"] == "sub/a.txt");
  CHECK(created->attributes["sha256"] == crypto::sha256_hex("hello"));
  CHECK(created->attributes["size"] == 5);
  CHECK(created->attributes["mode"] == "0600");
  REQUIRE(progress.size() == 1);
  CHECK(progress[0] == "writing " + abs);
  const json tags = json::parse(slurp(dir / "sub/.a.txt.keel-tags"));
  CHECK(tags == json{{"project", "acme"}, {"address", "files.a"}});

  SECTION("read sees drift on disk") {
    std::ofstream(abs) << "changed";
    auto read = p->read(ReadRequest{"files", abs, created->attributes, nullptr});
    REQUIRE(read);
    CHECK(read->found);
    CHECK(read->attributes["content"] == "changed");
    CHECK(read->attributes["sha256"] == crypto::sha256_hex("changed"));
  }
  SECTION("update rewrites in place") {
    UpdateRequest up{"files", abs, {"acme", "files.a"}, created->attributes,
                     json{{"path", "sub/a.txt"}, {"content", "bye"}, {"mode", "0640"}}, nullptr};
    auto updated = p->update(up);
    REQUIRE(updated);
    CHECK(slurp(abs) == "bye");
    CHECK(updated->attributes["mode"] == "0640");
    CHECK(updated->attributes["size"] == 3);
  }
  SECTION("find by tags adopts only our own file") {
    auto found = p->find(FindRequest{"files", {"acme", "files.a"}, "", json{{"path", "sub/a.txt"}}, nullptr});
    REQUIRE(found);
    CHECK(found->found);
    CHECK(found->id == abs);
    CHECK(found->attributes["content"] == "hello");
    auto other = p->find(FindRequest{"files", {"acme", "files.b"}, "", json{{"path", "sub/a.txt"}}, nullptr});
    REQUIRE(other);
    CHECK_FALSE(other->found);
  }
  SECTION("find by id imports") {
    auto found = p->find(FindRequest{"files", {}, abs, json::object(), nullptr});
    REQUIRE(found);
    CHECK(found->found);
    CHECK(found->id == abs);
    CHECK(found->attributes["path"] == "sub/a.txt");  // relative to the root, as usually written
    CHECK(found->attributes["content"] == "hello");
    auto spelled = p->find(FindRequest{"files", {}, abs, json{{"path", abs}}, nullptr});
    REQUIRE(spelled);
    CHECK(spelled->attributes["path"] == abs);  // the configured spelling wins
    auto missing = p->find(FindRequest{"files", {}, dir / "nope", json::object(), nullptr});
    REQUIRE(missing);
    CHECK_FALSE(missing->found);
  }
  SECTION("delete removes file and sidecar, and a second delete is fine") {
    REQUIRE(p->remove(DeleteRequest{"files", abs, created->attributes, nullptr}));
    CHECK_FALSE(files::exists(abs));
    CHECK_FALSE(files::exists(dir / "sub/.a.txt.keel-tags"));
    auto read = p->read(ReadRequest{"files", abs, created->attributes, nullptr});
    REQUIRE(read);
    CHECK_FALSE(read->found);
    CHECK(p->remove(DeleteRequest{"files", abs, created->attributes, nullptr}));
  }
}

TEST_CASE("plugin errors keep their code and message", "[integration][plugin]") {
  TempDir dir;
  auto p = start_example();
  configure(*p, dir);
  auto bad = p->create(create_request("files.bad", json{{"path", "x"}, {"mode", "777"}}));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code() == ErrorCode::InvalidConfig);
  CHECK_THAT(bad.error().message(), Catch::Contains(kPluginName) && Catch::Contains("four octal digits"));
  // The plugin is still fine afterwards.
  CHECK(p->create(create_request("files.ok", json{{"path", "x"}})));
}

TEST_CASE("plugin serves many requests at once", "[integration][plugin]") {
  TempDir dir;
  auto p = start_example();
  configure(*p, dir);
  constexpr int kCount = 20;  // each sleeps 200 ms in the plugin: 4 s if serialised
  std::atomic<int> ok{0};
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kCount; ++i) {
    threads.emplace_back([&, i] {
      // Appends, not "f" + to_string(i): g++ 12 -O2 warns falsely (-Wrestrict) on the latter.
      std::string name = "f";
      name += std::to_string(i);
      std::string address = "files.";
      address += name;
      auto r = p->create(create_request(address, json{{"path", name}, {"content", std::to_string(i)},
                                                      {"delay", "200ms"}}));
      if (r && r->id == dir / name) {
        ++ok;
      } else {
        std::lock_guard lock(errors_mutex);
        errors.push_back(r ? "wrong id " + r->id : r.error().message());
      }
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = seconds_since(start);
  INFO("errors: " << (errors.empty() ? "" : errors[0]));
  CHECK(ok == kCount);
  CHECK(elapsed < 2.5);
  CHECK(slurp(dir / "f7") == "7");
}

TEST_CASE("a plugin crash fails the call in flight and every later one", "[integration][plugin]") {
  TempDir dir;
  auto p = start_example({{"KEEL_PLUGIN_TEST_CRASH_ON", "create"}});
  configure(*p, dir);
  const std::string pid = std::to_string(p->pid());

  auto created = p->create(create_request("files.a", json{{"path", "a"}}));
  REQUIRE_FALSE(created);
  CHECK(created.error().code() == ErrorCode::Unavailable);
  CHECK(created.error().message() == "provider plugin keel-provider-example (pid " + pid +
                                         ") exited unexpectedly (killed by signal 9) during create files.a");

  const auto start = std::chrono::steady_clock::now();
  auto read = p->read(ReadRequest{"files", dir / "a", json::object(), nullptr});
  REQUIRE_FALSE(read);
  CHECK(read.error().code() == ErrorCode::Unavailable);
  CHECK_THAT(read.error().message(), Catch::Contains("keel-provider-example") && Catch::Contains("killed by signal 9"));
  CHECK_FALSE(p->configure(ConfigureRequest{}));
  CHECK(seconds_since(start) < 1.0);
}

TEST_CASE("a plugin of another protocol version is refused", "[integration][plugin]") {
  auto p = PluginProvider::start(example_path(), kPluginName, {{"KEEL_PLUGIN_TEST_PROTOCOL_VERSION", "99"}});
  REQUIRE_FALSE(p);
  CHECK(p.error().code() == ErrorCode::Protocol);
  CHECK(p.error().message() == "provider plugin keel-provider-example speaks protocol version 99, keel speaks 1");
}

TEST_CASE("broken plugins fail start with a clear error", "[integration][plugin]") {
  TempDir dir;
  SECTION("missing executable") {
    auto p = PluginProvider::start(dir / "keel-provider-nope", "");
    REQUIRE_FALSE(p);
    CHECK_THAT(p.error().message(), Catch::Contains("keel-provider-nope"));
  }
  SECTION("exits at once") {
    auto p = PluginProvider::start(write_script(dir, "keel-provider-quits", "exit 3"), "");
    REQUIRE_FALSE(p);
    CHECK(p.error().code() == ErrorCode::Unavailable);
    CHECK_THAT(p.error().message(), Catch::Contains("provider plugin keel-provider-quits") &&
                                        Catch::Contains("exited unexpectedly (exit status 3)") &&
                                        Catch::Contains("handshake"));
  }
  SECTION("prints something that is not JSON-RPC") {
    auto p = PluginProvider::start(write_script(dir, "keel-provider-chatty", "echo hello there\ncat >/dev/null"), "");
    REQUIRE_FALSE(p);
    CHECK(p.error().code() == ErrorCode::Protocol);
    CHECK_THAT(p.error().message(), Catch::Contains("provider plugin keel-provider-chatty") &&
                                        Catch::Contains("not JSON-RPC") && Catch::Contains("hello there"));
  }
  SECTION("never answers the handshake") {
    const auto start = std::chrono::steady_clock::now();
    auto p = PluginProvider::start(write_script(dir, "keel-provider-mute", "exec sleep 60"), "");
    REQUIRE_FALSE(p);
    CHECK(p.error().code() == ErrorCode::Timeout);
    CHECK_THAT(p.error().message(), Catch::Contains("keel-provider-mute") && Catch::Contains("handshake"));
    CHECK(seconds_since(start) < 14.0);
  }
}

TEST_CASE("find_plugin looks in the given dirs, KEEL_PLUGIN_PATH, then PATH", "[integration][plugin]") {
  TempDir a, b, c;
  write_script(b, "keel-provider-demo", "exit 0");
  write_script(c, "keel-provider-demo", "exit 0");
  write_script(c, "keel-provider-other", "exit 0");
  std::ofstream(a / "keel-provider-demo") << "not executable";

  const char* old_plugin_path = std::getenv("KEEL_PLUGIN_PATH");
  const std::string saved = old_plugin_path ? old_plugin_path : "";
  ::setenv("KEEL_PLUGIN_PATH", ("/nonexistent:" + c.path).c_str(), 1);

  CHECK(providers::find_plugin("demo", {a.path, b.path}) == b / "keel-provider-demo");
  CHECK(providers::find_plugin("demo", {a.path}) == c / "keel-provider-demo");
  CHECK(providers::find_plugin("other", {}) == c / "keel-provider-other");
  CHECK(providers::find_plugin("absent-everywhere", {a.path}).empty());
  CHECK(providers::find_plugin("../demo", {b.path}).empty());

  if (old_plugin_path) ::setenv("KEEL_PLUGIN_PATH", saved.c_str(), 1);
  else ::unsetenv("KEEL_PLUGIN_PATH");
}

TEST_CASE("the example plugin passes the provider conformance suite", "[integration][plugin]") {
  TempDir root("conformance");
  auto p = start_example();
  configure(*p, root);
  testing::check_conformance(*p, {"files", json{{"path", "conformance.txt"}, {"content", "one"}, {"mode", "0644"}},
                                  json{{"content", "two"}}, {"sha256", "size"}});
}

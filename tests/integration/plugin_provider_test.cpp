// The out-of-process provider end to end: keel's PluginProvider driving the
// real keel-provider-example binary (and a few fake plugins written as shell
// scripts) over the JSON-RPC protocol of docs/plugin-protocol.md.

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "cli/providers/plugin/plugin_provider.h"
#include "core/crypto.h"
#include "core/files.h"
#include "core/process.h"
#include "tests/support/provider_conformance.h"
#include "tests/support/temp_dir.h"

using namespace keel;
using namespace keel::provider;
using keel::providers::PluginProvider;
using keel::providers::PluginTimeouts;
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
  auto st = p.configure(ConfigureRequest{json{{"root", root.path}}, root.path, "acme", ""});
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
  REQUIRE(s.config.size() == 2);
  CHECK(s.config[0].name == "root");
  CHECK(s.config[1].name == "timeout");  // keel's own, added to every plugin's
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

// --- a plugin that misbehaves (issue 14, item 11) -------------------------------
//
// Fake plugins as shell scripts: they answer the handshake (request 1) with
// a minimal schema, then do what the test needs with the next request.

namespace {

const std::string kHandshake =
    R"(read -r line; echo '{"jsonrpc":"2.0","id":1,"result":{"protocol_version":1,"schema":{"name":"fake","version":"0","config":[],"kinds":[{"kind":"files","description":"","attributes":[]}]}}}')";

std::unique_ptr<PluginProvider> start_fake(const TempDir& dir, const std::string& name, const std::string& body,
                                           PluginTimeouts timeouts = {}) {
  auto p = PluginProvider::start(write_script(dir, name, kHandshake + "\n" + body), "", {}, timeouts);
  if (!p) FAIL("start " << name << ": " << p.error().message());
  return std::move(*p);
}

Status configure_fake(PluginProvider& p, json config = json::object()) {
  return p.configure(ConfigureRequest{std::move(config), "/nonexistent/.keel", "acme", ""});
}

// The pids a script wrote to `file`, one a line.
std::vector<long> pids_in(const std::string& file) {
  std::vector<long> pids;
  std::ifstream in(file);
  long pid;
  while (in >> pid) pids.push_back(pid);
  return pids;
}

bool gone_within(long pid, double seconds) {
  const auto start = std::chrono::steady_clock::now();
  while (process::process_alive(pid)) {
    if (seconds_since(start) > seconds) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace

TEST_CASE("a 200k-deep answer is a protocol error, not a crash", "[integration][plugin]") {
  TempDir dir;
  auto p = start_fake(dir, "keel-provider-deep",
                      "read -r line; printf '{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":'; "
                      "head -c 200000 /dev/zero | tr '\\0' '['; echo; cat >/dev/null");
  auto st = configure_fake(*p);
  REQUIRE_FALSE(st);
  CHECK(st.error().code() == ErrorCode::Protocol);
  CHECK_THAT(st.error().message(), Catch::Contains("keel-provider-deep") &&
                                       Catch::Contains("nested deeper than 100 levels") &&
                                       Catch::Contains("configure"));
  CHECK(st.error().message().size() < 1000);
}

TEST_CASE("an endless line is a protocol error, read within a bounded buffer", "[integration][plugin]") {
  TempDir dir;
  const auto start = std::chrono::steady_clock::now();
  auto p = start_fake(dir, "keel-provider-endless",
                      "read -r line; echo $$ > '" + dir / "pids" + "'; yes | tr -d '\\n'");
  auto st = configure_fake(*p);
  REQUIRE_FALSE(st);
  CHECK(st.error().code() == ErrorCode::Protocol);
  CHECK_THAT(st.error().message(), Catch::Contains("longer than the protocol's limit of 16777216 bytes"));
  CHECK(seconds_since(start) < 30.0);
  // The plugin is ended, the endless writer in its group with it.
  for (long pid : pids_in(dir / "pids")) CHECK(gone_within(pid, 10.0));
}

TEST_CASE("an answer to a request never sent is a protocol error at once", "[integration][plugin]") {
  TempDir dir;
  const auto start = std::chrono::steady_clock::now();
  auto p = start_fake(dir, "keel-provider-wrongid",
                      "read -r line; echo '{\"jsonrpc\":\"2.0\",\"id\":99,\"result\":{}}'; cat >/dev/null");
  auto st = configure_fake(*p);
  REQUIRE_FALSE(st);
  CHECK(st.error().code() == ErrorCode::Protocol);
  CHECK_THAT(st.error().message(), Catch::Contains("answered request 99, which is not waiting for an answer"));
  CHECK(seconds_since(start) < 10.0);
  CHECK_FALSE(p->create(create_request("files.a", json::object())));  // and nothing after
}

TEST_CASE("a silent configure times out, and the plugin's whole group is killed", "[integration][plugin]") {
  TempDir dir;
  PluginTimeouts timeouts;
  timeouts.configure = std::chrono::seconds(1);
  auto p = start_fake(dir, "keel-provider-silent",
                      "read -r line; sleep 600 & echo $$ $! > '" + dir / "pids" + "'; wait", timeouts);
  const auto start = std::chrono::steady_clock::now();
  auto st = configure_fake(*p);
  REQUIRE_FALSE(st);
  CHECK(st.error().code() == ErrorCode::Timeout);
  CHECK_THAT(st.error().message(), Catch::Contains("keel-provider-silent") &&
                                       Catch::Contains("did not answer configure within 1s") &&
                                       Catch::Contains("killed"));
  CHECK(seconds_since(start) < 10.0);
  auto pids = pids_in(dir / "pids");
  CHECK(pids.size() == 2);
  for (long pid : pids) CHECK(gone_within(pid, 10.0));
}

TEST_CASE("a plugin that exits while its child holds its stdout fails the call at once", "[integration][plugin]") {
  TempDir dir;
  auto p = start_fake(dir, "keel-provider-orphan",
                      "read -r line; sleep 600 & echo $! > '" + dir / "pids" + "'; exit 4");
  const auto start = std::chrono::steady_clock::now();
  auto st = configure_fake(*p);
  REQUIRE_FALSE(st);
  CHECK(st.error().code() == ErrorCode::Unavailable);
  CHECK_THAT(st.error().message(), Catch::Contains("exited unexpectedly (exit status 4)") &&
                                       Catch::Contains("during configure"));
  CHECK(seconds_since(start) < 10.0);  // not the 60 s of configure's deadline, nor for ever
  for (long pid : pids_in(dir / "pids")) CHECK(gone_within(pid, 10.0));
}

TEST_CASE("an operation past its deadline fails naming it, and the plugin is killed", "[integration][plugin]") {
  TempDir dir;
  PluginTimeouts timeouts;
  timeouts.operation = std::chrono::seconds(1);
  auto p = PluginProvider::start(example_path(), kPluginName, {}, timeouts);
  REQUIRE(p);
  configure(**p, dir);
  const auto start = std::chrono::steady_clock::now();
  auto slow = (*p)->create(create_request("files.slow", json{{"path", "slow"}, {"delay", "20s"}}));
  REQUIRE_FALSE(slow);
  CHECK(slow.error().code() == ErrorCode::Timeout);
  CHECK_THAT(slow.error().message(), Catch::Contains("did not answer create files.slow within 1s; keel killed it"));
  CHECK(seconds_since(start) < 10.0);
  CHECK(gone_within((*p)->pid(), 10.0));
  auto later = (*p)->read(ReadRequest{"files", dir / "slow", json::object(), nullptr});
  REQUIRE_FALSE(later);
  CHECK(later.error().code() == ErrorCode::Timeout);
  CHECK_THAT(later.error().message(), Catch::Contains("was killed after create files.slow took longer than 1s"));
}

TEST_CASE("the provider block's timeout is keel's: in the schema, never sent to the plugin",
          "[integration][plugin]") {
  TempDir dir;
  auto example = start_example();
  const auto& config = example->schema().config;
  auto timeout = std::find_if(config.begin(), config.end(), [](const auto& a) { return a.name == "timeout"; });
  REQUIRE(timeout != config.end());
  CHECK(timeout->optional);
  CHECK_THAT(timeout->description, Catch::Contains("keel's own setting"));

  SECTION("it sets the limit of every operation") {
    REQUIRE(example->configure(ConfigureRequest{json{{"root", dir.path}, {"timeout", "1s"}}, dir.path, "acme", ""}));
    CHECK(example->timeouts().operation == std::chrono::seconds(1));
    CHECK(example->timeouts().read == std::chrono::seconds(1));
    auto slow = example->create(create_request("files.slow", json{{"path", "slow"}, {"delay", "20s"}}));
    REQUIRE_FALSE(slow);
    CHECK(slow.error().code() == ErrorCode::Timeout);
  }
  SECTION("a value that is no duration is refused before anything is sent") {
    auto st = example->configure(ConfigureRequest{json{{"root", dir.path}, {"timeout", "soon"}}, dir.path, "acme", ""});
    REQUIRE_FALSE(st);
    CHECK(st.error().code() == ErrorCode::InvalidConfig);
    CHECK_THAT(st.error().message(), Catch::Contains("`timeout`") && Catch::Contains("\"soon\""));
  }
  SECTION("the plugin never sees it") {
    auto fake = start_fake(dir, "keel-provider-records",
                           "read -r line; echo \"$line\" > '" + dir / "configure" + "'; "
                           "echo '{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}'; cat >/dev/null");
    REQUIRE(configure_fake(*fake, json{{"timeout", "45m"}, {"other", 1}}));
    const std::string sent = slurp(dir / "configure");
    CHECK_THAT(sent, Catch::Contains("\"other\":1"));
    CHECK(sent.find("timeout") == std::string::npos);
    CHECK(fake->timeouts().operation == std::chrono::minutes(45));
  }
}

TEST_CASE("KEEL_PLUGIN_TIMEOUT sets the default limit", "[integration][plugin]") {
  const char* old = std::getenv("KEEL_PLUGIN_TIMEOUT");
  const std::string saved = old ? old : "";
  ::setenv("KEEL_PLUGIN_TIMEOUT", "2m", 1);
  auto p = PluginProvider::start(example_path(), kPluginName);
  ::setenv("KEEL_PLUGIN_TIMEOUT", "never", 1);
  auto bad = PluginProvider::start(example_path(), kPluginName);
  if (old) ::setenv("KEEL_PLUGIN_TIMEOUT", saved.c_str(), 1);
  else ::unsetenv("KEEL_PLUGIN_TIMEOUT");
  REQUIRE(p);
  CHECK((*p)->timeouts().operation == std::chrono::minutes(2));
  CHECK((*p)->timeouts().read == std::chrono::minutes(2));
  CHECK((*p)->timeouts().handshake == std::chrono::seconds(10));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code() == ErrorCode::InvalidConfig);
  CHECK_THAT(bad.error().message(), Catch::Contains("KEEL_PLUGIN_TIMEOUT"));
}

TEST_CASE("a plugin gets keel's environment without KEEL_STATE_KEY", "[integration][plugin]") {
  TempDir dir;
  const char* old = std::getenv("KEEL_STATE_KEY");
  const std::string saved = old ? old : "";
  ::setenv("KEEL_STATE_KEY", "the-state-key-stays-with-keel", 1);
  ::setenv("KEEL_TEST_CLOUD_TOKEN", "a-cloud-token-the-plugin-needs", 1);
  auto p = PluginProvider::start(write_script(dir, "keel-provider-env", "env > '" + dir / "env" + "'\n" + kHandshake +
                                                                             "\ncat >/dev/null"),
                                 "");
  if (old) ::setenv("KEEL_STATE_KEY", saved.c_str(), 1);
  else ::unsetenv("KEEL_STATE_KEY");
  ::unsetenv("KEEL_TEST_CLOUD_TOKEN");
  REQUIRE(p);
  const std::string env = slurp(dir / "env");
  CHECK_THAT(env, Catch::Contains("a-cloud-token-the-plugin-needs"));
  CHECK(env.find("the-state-key-stays-with-keel") == std::string::npos);
}

TEST_CASE("find_plugin skips relative entries of the search path", "[integration][plugin]") {
  TempDir dir;
  REQUIRE(files::make_dirs(dir / "bin", 0755));
  write_script(dir, "bin/keel-provider-planted", "exit 0");
  char cwd[4096];
  REQUIRE(::getcwd(cwd, sizeof cwd));
  REQUIRE(::chdir(dir.path.c_str()) == 0);
  const char* old_plugin_path = std::getenv("KEEL_PLUGIN_PATH");
  const std::string saved = old_plugin_path ? old_plugin_path : "";
  ::setenv("KEEL_PLUGIN_PATH", "bin:./bin", 1);
  const std::string found = providers::find_plugin("planted", {"bin"});
  if (old_plugin_path) ::setenv("KEEL_PLUGIN_PATH", saved.c_str(), 1);
  else ::unsetenv("KEEL_PLUGIN_PATH");
  REQUIRE(::chdir(cwd) == 0);
  CHECK(found.empty());
}

TEST_CASE("the SDK answers an overlong or too deep request with an error and keeps serving",
          "[integration][plugin]") {
  process::Child::Spec spec;
  spec.argv = {example_path()};
  auto child = process::Child::start(spec);
  REQUIRE(child);
  const std::string deep = std::string(200000, '[') + "\n";
  const std::string overlong = "\"" + std::string((16 << 20) + 10, 'x') + "\"\n";
  const std::string handshake = R"({"jsonrpc":"2.0","id":1,"method":"handshake","params":{"protocol_version":1}})" "\n";
  std::thread writer([&] {
    for (const std::string* text : {&deep, &overlong, &handshake}) {
      size_t done = 0;
      while (done < text->size()) {
        ssize_t n = ::write(child->stdin_fd(), text->data() + done, text->size() - done);
        if (n <= 0) return;
        done += static_cast<size_t>(n);
      }
    }
  });
  std::string out;
  char buf[4096];
  while (std::count(out.begin(), out.end(), '\n') < 3) {
    ssize_t n = ::read(child->stdout_fd(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  writer.join();
  child->close_stdin();
  child->wait();
  std::vector<json> answers;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) answers.push_back(json::parse(line));
  REQUIRE(answers.size() == 3);
  CHECK_THAT(answers[0]["error"]["message"].get<std::string>(), Catch::Contains("nested deeper than 100 levels"));
  CHECK_THAT(answers[1]["error"]["message"].get<std::string>(), Catch::Contains("longer than the protocol's limit"));
  CHECK(answers[2]["id"] == 1);
  CHECK(answers[2]["result"]["protocol_version"] == 1);
}

TEST_CASE("the SDK stops at once when keel is gone (stdin ends without shutdown), abandoning what is in flight",
          "[integration][plugin]") {
  TempDir root;
  process::Child::Spec spec;
  spec.argv = {example_path()};
  auto child = process::Child::start(spec);
  REQUIRE(child);
  const std::string requests =
      R"({"jsonrpc":"2.0","id":1,"method":"handshake","params":{"protocol_version":1}})" "\n"
      R"({"jsonrpc":"2.0","id":2,"method":"configure","params":{"config":{"root":")" + root.path +
      R"("},"work_dir":")" + root.path + R"(","project":"acme"}})" "\n"
      R"({"jsonrpc":"2.0","id":3,"method":"create","params":{"kind":"files","tags":{"project":"acme","address":"files.slow"},"config":{"path":"slow","content":"x","delay":"60s"}}})" "\n";
  REQUIRE(::write(child->stdin_fd(), requests.data(), requests.size()) == static_cast<ssize_t>(requests.size()));
  // Until the create is in flight: the configure answer came.
  std::string out;
  char buf[4096];
  while (out.find(R"("id":2)") == std::string::npos) {
    ssize_t n = ::read(child->stdout_fd(), buf, sizeof buf);
    REQUIRE(n > 0);
    out.append(buf, static_cast<size_t>(n));
  }
  const auto start = std::chrono::steady_clock::now();
  child->close_stdin();  // what a killed keel leaves
  child->wait();
  // Not the 60 s of the create's delay: it was abandoned.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
  CHECK_FALSE(std::filesystem::exists(root.path + "/slow"));
}


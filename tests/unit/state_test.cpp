#include <catch2/catch.hpp>

#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/state/file_store.h"
#include "core/files.h"

using namespace keel;

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/keel-state-test.XXXXXX";
  return mkdtemp(tmpl);
}

state::ResourceState resource(const std::string& address, const std::string& secret) {
  state::ResourceState r;
  r.address = address;
  r.kind = "files";
  r.provider = "local";
  r.provider_type = "local";
  r.id = "id-" + address;
  r.attributes = {{"path", "/tmp/x"}, {"password", secret}};
  r.sensitive = {"password"};
  return r;
}

}  // namespace

TEST_CASE("state survives a crash between journal and compaction", "[unit][state]") {
  std::string dir = temp_dir();
  {
    state::FileStateStore store(dir);
    REQUIRE(store.lock("test"));
    auto s = store.load();
    REQUIRE(s);
    REQUIRE(store.begin(*s));
    REQUIRE(store.record_put(resource("files.a", "hunter2")));
    REQUIRE(store.record_intent([] { auto r = resource("files.b", "x"); r.id.clear(); return r; }()));
    // no save(): the process "dies" here
  }
  state::FileStateStore again(dir);
  REQUIRE(again.lock("test"));
  auto s = again.load();
  REQUIRE(s);
  CHECK(s->serial == 1);
  REQUIRE(s->find("files.a"));
  CHECK(s->find("files.a")->attributes.at("password") == "hunter2");
  REQUIRE(s->find("files.b"));
  CHECK(s->find("files.b")->pending());
  CHECK_FALSE(files::exists(dir + "/state.journal"));
  // The secret is nowhere on disk in clear.
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    auto text = files::read_file(entry.path().string());
    if (text) CHECK(text->find("hunter2") == std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a torn last journal line is dropped, not fatal", "[unit][state]") {
  std::string dir = temp_dir();
  {
    state::FileStateStore store(dir);
    REQUIRE(store.lock("test"));
    auto s = store.load();
    REQUIRE(store.begin(*s));
    REQUIRE(store.record_put(resource("files.a", "p")));
  }
  {
    auto f = files::AppendFile::open(dir + "/state.journal");
    REQUIRE(f);
    REQUIRE(f->append("{\"op\":\"put\",\"resou"));
  }
  state::FileStateStore again(dir);
  REQUIRE(again.lock("test"));
  auto s = again.load();
  REQUIRE(s);
  CHECK(s->resources.size() == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a corrupt state file is refused and kept", "[unit][state]") {
  std::string dir = temp_dir();
  {
    state::FileStateStore store(dir);
    REQUIRE(store.lock("test"));
    auto s = store.load();
    s->resources["files.a"] = resource("files.a", "p");
    REQUIRE(store.save(*s));
    REQUIRE(store.save(*s));  // now a backup exists
  }
  auto text = files::read_file(dir + "/state.json");
  REQUIRE(files::write_atomic(dir + "/state.json", text->substr(0, text->size() / 2)));
  state::FileStateStore again(dir);
  REQUIRE(again.lock("test"));
  auto s = again.load();
  REQUIRE_FALSE(s);
  CHECK(s.error().code() == ErrorCode::Corrupt);
  CHECK(s.error().message().find("state.json.backup") != std::string::npos);
  CHECK(files::read_file(dir + "/state.json")->size() == text->size() / 2);  // untouched
  std::filesystem::remove_all(dir);
}

TEST_CASE("the state lock names its holder and dies with it", "[unit][state]") {
  std::string dir = temp_dir();
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t child = fork();
  if (child == 0) {
    state::FileStateStore store(dir);
    if (!store.lock("keel apply")) _exit(1);
    char c = 1;
    (void)!write(ready[1], &c, 1);
    pause();
    _exit(0);
  }
  char c;
  REQUIRE(read(ready[0], &c, 1) == 1);
  state::FileStateStore other(dir);
  auto locked = other.lock("keel plan");
  REQUIRE_FALSE(locked);
  CHECK(locked.error().code() == ErrorCode::Locked);
  CHECK(locked.error().message().find("pid " + std::to_string(child)) != std::string::npos);
  CHECK(locked.error().message().find("keel apply") != std::string::npos);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  CHECK(other.lock("keel plan"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a wrong state key cannot read sensitive values", "[unit][state]") {
  std::string dir = temp_dir();
  {
    state::FileStateStore store(dir);
    REQUIRE(store.lock("test"));
    auto s = store.load();
    s->resources["files.a"] = resource("files.a", "p");
    REQUIRE(store.save(*s));
  }
  REQUIRE(files::write_atomic(dir + "/state.key", crypto::key_to_text(crypto::random_key()) + "\n", 0600));
  state::FileStateStore again(dir);
  REQUIRE(again.lock("test"));
  auto s = again.load();
  REQUIRE_FALSE(s);
  CHECK(s.error().message().find("wrong state key") != std::string::npos);
  std::filesystem::remove_all(dir);
}

#include <catch2/catch.hpp>

#include <filesystem>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "cli/state/file_store.h"
#include "core/files.h"
#include "tests/support/temp_dir.h"

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
  REQUIRE(files::write_atomic(dir + "/state.json", text->substr(0, text->size() / 2), 0600));
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

// --- refusing damage and planted files (issue 14) -------------------------------

namespace {

// A .keel directory with one saved state (two saves: a backup exists).
std::string saved_twice() {
  std::string dir = temp_dir();
  state::FileStateStore store(dir);
  REQUIRE(store.lock("test"));
  auto s = store.load();
  REQUIRE(s);
  s->resources["files.a"] = resource("files.a", "p");
  REQUIRE(store.save(*s));
  REQUIRE(store.save(*s));
  return dir;
}

std::set<std::string> names_in(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

}  // namespace

TEST_CASE("a missing state.json beside its backup is refused, never an empty state", "[unit][state]") {
  // Issue 14, item 8: keel silently started from an empty state and planned
  // to create everything again.
  std::string dir = saved_twice();
  REQUIRE(::unlink((dir + "/state.json").c_str()) == 0);
  const auto before = names_in(dir);
  state::FileStateStore again(dir);
  REQUIRE(again.lock("test"));
  auto s = again.load();
  REQUIRE_FALSE(s);
  CHECK(s.error().code() == ErrorCode::Corrupt);
  CHECK_THAT(s.error().message(), Catch::Contains("state.json is missing") &&
                                      Catch::Contains("cp " + dir + "/state.json.backup " + dir + "/state.json"));
  CHECK(names_in(dir) == before);  // nothing written, nothing removed

  auto saved = state::read_saved_state(dir);  // health, exec, deploy: the same
  REQUIRE_FALSE(saved);
  CHECK_THAT(saved.error().message(), Catch::Contains("state.json.backup"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a missing state.key is reported as missing and never replaced", "[unit][state]") {
  std::string dir = saved_twice();
  REQUIRE(::unlink((dir + "/state.key").c_str()) == 0);
  state::FileStateStore again(dir);
  auto locked = again.lock("test");
  REQUIRE_FALSE(locked);
  CHECK(locked.error().code() == ErrorCode::NotFound);
  CHECK_THAT(locked.error().message(), Catch::Contains("state.key is missing") && Catch::Contains("KEEL_STATE_KEY"));
  CHECK(locked.error().message().find("wrong") == std::string::npos);
  CHECK_FALSE(files::exists(dir + "/state.key"));  // no new key left behind
  auto saved = state::read_saved_state(dir);
  REQUIRE_FALSE(saved);
  CHECK_FALSE(files::exists(dir + "/state.key"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("state.key and state.json that others may read are refused", "[unit][state]") {
  std::string dir = saved_twice();
  const std::string file = GENERATE(std::string("state.key"), std::string("state.json"));
  REQUIRE(::chmod((dir + "/" + file).c_str(), 0644) == 0);
  state::FileStateStore again(dir);
  Status opened = again.lock("test");
  if (opened) {
    auto loaded = again.load();
    if (!loaded) opened = fail(loaded.error());
  }
  REQUIRE_FALSE(opened);
  CHECK(opened.error().code() == ErrorCode::PermissionDenied);
  CHECK_THAT(opened.error().message(), Catch::Contains(file + " has mode 0644") && Catch::Contains("chmod 0600"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("files under .keel are never followed when they are links", "[unit][state]") {
  std::string dir = saved_twice();
  keel::testing::TempDir outside;
  const std::string target = outside / "precious";
  REQUIRE(files::write_atomic(target, "untouched\n", 0600));

  SECTION("state.lock") {
    REQUIRE(::unlink((dir + "/state.lock").c_str()) == 0);
    REQUIRE(::symlink(target.c_str(), (dir + "/state.lock").c_str()) == 0);
    state::FileStateStore store(dir);
    auto locked = store.lock("keel plan");
    REQUIRE_FALSE(locked);
    CHECK_THAT(locked.error().message(), Catch::Contains("state.lock is a symbolic link"));
  }
  SECTION("state.json, even to a file full of JSON") {
    REQUIRE(files::write_atomic(target, *files::read_file(dir + "/state.json"), 0600));
    REQUIRE(::unlink((dir + "/state.json").c_str()) == 0);
    REQUIRE(::symlink(target.c_str(), (dir + "/state.json").c_str()) == 0);
    state::FileStateStore store(dir);
    REQUIRE(store.lock("keel plan"));
    auto s = store.load();
    REQUIRE_FALSE(s);
    CHECK_THAT(s.error().message(), Catch::Contains("state.json is a symbolic link"));
  }
  SECTION("state.journal to /dev/zero: refused at once, not read for ever") {
    REQUIRE(::symlink("/dev/zero", (dir + "/state.journal").c_str()) == 0);
    state::FileStateStore store(dir);
    REQUIRE(store.lock("keel plan"));
    auto s = store.load();
    REQUIRE_FALSE(s);
    CHECK_THAT(s.error().message(), Catch::Contains("state.journal is a symbolic link"));
  }
  SECTION("the .keel directory itself") {
    const std::string linked = outside / "linked-keel";
    REQUIRE(::symlink(dir.c_str(), linked.c_str()) == 0);
    state::FileStateStore store(linked);
    auto locked = store.lock("keel plan");
    REQUIRE_FALSE(locked);
    CHECK_THAT(locked.error().message(), Catch::Contains("is a symbolic link") && Catch::Contains("real directory"));
    CHECK_FALSE(state::read_saved_state(linked));
  }
  SECTION("a .keel others can write into") {
    REQUIRE(::chmod(dir.c_str(), 0777) == 0);
    state::FileStateStore store(dir);
    auto locked = store.lock("keel plan");
    REQUIRE_FALSE(locked);
    CHECK_THAT(locked.error().message(), Catch::Contains("chmod go-w"));
  }
  CHECK(files::read_file(target).value().size() > 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a journal written on top of another serial is refused", "[unit][state]") {
  std::string dir = saved_twice();  // serial 2
  {
    auto f = files::AppendFile::open(dir + "/state.journal");
    REQUIRE(f);
    auto text = files::read_file(dir + "/state.json");
    auto lineage = nlohmann::json::parse(*text)["lineage"].get<std::string>();
    REQUIRE(f->append(nlohmann::json({{"op", "begin"}, {"lineage", lineage}, {"base_serial", 5}}).dump() + "\n"));
    REQUIRE(f->append(R"({"op":"remove","address":"files.a"})" "\n"));
  }
  state::FileStateStore store(dir);
  REQUIRE(store.lock("test"));
  auto s = store.load();
  REQUIRE_FALSE(s);
  CHECK(s.error().code() == ErrorCode::Corrupt);
  CHECK_THAT(s.error().message(), Catch::Contains("serial 5") && Catch::Contains("serial 2"));
  CHECK(files::exists(dir + "/state.journal"));  // kept for the user to decide
  std::filesystem::remove_all(dir);
}

TEST_CASE("damaged journal lines are errors naming the line, never a crash", "[unit][state]") {
  state::State base;
  base.lineage = "L";
  auto key = crypto::random_key();
  const std::string begin = R"({"op":"begin","lineage":"L","base_serial":0})" "\n";
  for (const std::string line : {"[1,2]", "5", R"({"op":7})", R"({"op":"put"})", R"({"op":"put","resource":[]})",
                                 R"({"op":"put","resource":{"address":1}})", R"({"op":"remove","address":{}})",
                                 R"({"op":"begin","lineage":"L","base_serial":"0"})", R"({"op":"whatever"})",
                                 R"({"op":"put","resource":{"address":"a","kind":"k","provider":"p","attributes":[1]}})"}) {
    INFO(line);
    state::State s = base;
    auto replayed = state::replay_journal_text(begin + line + "\n", "j", key, s);
    REQUIRE_FALSE(replayed);
    CHECK(replayed.error().code() == ErrorCode::Corrupt);
    CHECK_THAT(replayed.error().message(), Catch::Contains("j line 2"));
  }
  state::State s = base;
  auto no_begin = state::replay_journal_text(R"({"op":"remove","address":"a"})" "\n", "j", key, s);
  REQUIRE_FALSE(no_begin);
  CHECK_THAT(no_begin.error().message(), Catch::Contains("before the begin line"));
}

TEST_CASE("a damaged state.json is a Corrupt error, whatever is in it", "[unit][state]") {
  auto key = crypto::random_key();
  for (const std::string text : {"", "[]", "{}", R"({"version":1e300,"lineage":"l","serial":1,"resources":[]})",
                                 R"({"version":1,"lineage":"l","serial":-1,"resources":[]})",
                                 R"({"version":1,"lineage":"l","serial":1,"resources":[],"outputs":[]})",
                                 R"({"version":1,"lineage":"l","serial":1,"resources":"x"})",
                                 R"({"version":99,"lineage":"l","serial":1,"resources":[]})"}) {
    INFO(text);
    auto s = state::parse_state_text(text, "state.json", key);
    REQUIRE_FALSE(s);
    CHECK(s.error().code() == ErrorCode::Corrupt);
  }
}

TEST_CASE("the local history records each save with its command and what changed", "[unit][state]") {
  std::string dir = temp_dir();
  state::FileStateStore store(dir);
  REQUIRE(store.lock("keel apply"));
  auto s = store.load();
  REQUIRE(s);
  CHECK(store.history(10).error().code() == ErrorCode::NotFound);  // nothing saved yet
  s->resources["files.a"] = resource("files.a", "x");
  s->resources["files.b"] = resource("files.b", "y");
  REQUIRE(store.save(*s));
  s->resources.erase("files.a");
  REQUIRE(store.save(*s));
  auto h = store.history(10);
  REQUIRE(h);
  REQUIRE(h->size() == 2);
  CHECK((*h)[0].serial == 2);  // newest first
  CHECK((*h)[0].summary == "+0 -1, 1 resource");
  CHECK((*h)[1].summary == "+2 -0, 2 resources");
  CHECK((*h)[1].command == "keel apply");
  CHECK(store.history(1)->size() == 1);
  // The two newest serials can be read back; older ones are not kept here.
  auto first = store.load_serial(1);
  REQUIRE(first);
  CHECK(first->resources.size() == 2);
  CHECK(store.load_serial(7).error().code() == ErrorCode::NotFound);
  std::filesystem::remove_all(dir);
}

TEST_CASE("history lines that are not entries are skipped and a torn last one dropped", "[unit][state]") {
  const std::string text = state::history_line({1, "t1", "u@h", "keel apply", "+1 -0, 1 resource"}) +
                           "not json\n{\"serial\": \"x\"}\n[1,2]\n" +
                           state::history_line({2, "t2", "u@h", "keel destroy", "+0 -1, 0 resources"}) +
                           "{\"serial\": 3, \"sav";
  auto h = state::parse_history(text, 10);
  REQUIRE(h.size() == 2);
  CHECK(h[0].serial == 2);
  CHECK(h[0].command == "keel destroy");
  CHECK(h[1].serial == 1);
}

TEST_CASE("a retired local state is never loaded as the state and a save here revives it", "[unit][state]") {
  std::string dir = temp_dir();
  {
    state::FileStateStore store(dir);
    REQUIRE(store.lock("test"));
    auto s = store.load();
    REQUIRE(s);
    s->resources["files.a"] = resource("files.a", "x");
    REQUIRE(store.save(*s));
    REQUIRE(store.save(*s));
    CHECK_FALSE(*store.is_retired());
    REQUIRE(store.retire());
    CHECK(*store.is_retired());
  }
  CHECK_FALSE(files::exists(dir + "/state.json"));
  CHECK(files::exists(dir + "/state.json.migrated"));
  CHECK(files::exists(dir + "/state.json.backup.migrated"));
  // Commands that only read say so rather than "no state".
  auto read = state::read_saved_state(dir);
  REQUIRE_FALSE(read);
  CHECK(read.error().message().find("migrated") != std::string::npos);
  state::FileStateStore store(dir);
  REQUIRE(store.lock("test"));
  auto s = store.load();
  REQUIRE(s);
  CHECK(s->resources.empty());
  CHECK(*store.is_retired());
  // A migration back saves here: the mark goes.
  s->resources["files.a"] = resource("files.a", "x");
  REQUIRE(store.save(*s));
  CHECK_FALSE(*store.is_retired());
  CHECK_FALSE(files::exists(dir + "/state.json.migrated"));
  std::filesystem::remove_all(dir);
}

#include <catch2/catch.hpp>

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "core/files.h"
#include "tests/support/temp_dir.h"

using namespace keel;

namespace {

using keel::testing::TempDir;

// A fresh directory under $TMPDIR, removed with everything in it.
unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  REQUIRE(d != nullptr);
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

}  // namespace

TEST_CASE("write_atomic writes the content with the requested mode", "[unit][files]") {
  TempDir dir;
  std::string path = dir / "state.json";
  REQUIRE(files::write_atomic(path, "{\"serial\":1}\n", 0600));
  CHECK(files::read_file(path).value() == "{\"serial\":1}\n");
  CHECK(mode_of(path) == 0600);

  REQUIRE(files::write_atomic(path, std::string("\0bin", 4), 0640));
  CHECK(files::read_file(path).value() == std::string("\0bin", 4));
  CHECK(mode_of(path) == 0640);
  // No temporary file is left beside it.
  CHECK(entries(dir.path) == std::vector<std::string>{"state.json"});
}

TEST_CASE("write_atomic into a missing directory fails and leaves nothing", "[unit][files]") {
  TempDir dir;
  auto st = files::write_atomic(dir / "missing/state.json", "x");
  REQUIRE_FALSE(st);
  CHECK(st.error().code() == ErrorCode::NotFound);
  CHECK(st.error().message().find("missing") != std::string::npos);
  CHECK(entries(dir.path).empty());
}

TEST_CASE("read_file reports a missing file as NotFound with the path", "[unit][files]") {
  TempDir dir;
  auto content = files::read_file(dir / "nope");
  REQUIRE_FALSE(content);
  CHECK(content.error().code() == ErrorCode::NotFound);
  CHECK(content.error().message().find(dir / "nope") != std::string::npos);
  CHECK_FALSE(files::exists(dir / "nope"));
  CHECK(files::exists(dir.path));
}

TEST_CASE("make_dirs works like mkdir -p and remove_all removes trees", "[unit][files]") {
  TempDir dir;
  std::string deep = dir / "a/b/c";
  REQUIRE(files::make_dirs(deep, 0700));
  REQUIRE(files::make_dirs(deep + "/", 0700));  // already there: fine
  CHECK(mode_of(deep) == 0700);
  REQUIRE(files::write_atomic(deep + "/f", "x"));

  REQUIRE(files::write_atomic(dir / "file", "x"));
  CHECK_FALSE(files::make_dirs(dir / "file/sub"));

  REQUIRE(files::remove_all(dir / "a"));
  CHECK_FALSE(files::exists(dir / "a"));
  CHECK(files::remove_all(dir / "a"));  // missing is fine
}

TEST_CASE("AppendFile appends and syncs", "[unit][files]") {
  TempDir dir;
  std::string path = dir / "journal";
  {
    auto file = files::AppendFile::open(path);
    REQUIRE(file);
    REQUIRE(file->append("one\n"));
    REQUIRE(file->sync());
    CHECK(file->path() == path);
  }
  auto again = files::AppendFile::open(path);
  REQUIRE(again);
  files::AppendFile moved = std::move(*again);
  REQUIRE(moved.append("two\n"));
  REQUIRE(moved.sync());
  CHECK(files::read_file(path).value() == "one\ntwo\n");
  CHECK(mode_of(path) == 0600);
}

TEST_CASE("FileLock refuses a second holder and names the first", "[unit][files]") {
  TempDir dir;
  std::string path = dir / "state.lock";
  {
    auto first = files::FileLock::acquire(path, "keel apply");
    REQUIRE(first);
    CHECK(files::read_file(path).value().find("\"keel apply\"") != std::string::npos);

    // flock belongs to the open file description: a second open in this
    // process is a different holder.
    auto second = files::FileLock::acquire(path, "keel plan");
    REQUIRE_FALSE(second);
    CHECK(second.error().code() == ErrorCode::Locked);
    const std::string& msg = second.error().message();
    CHECK_THAT(msg, Catch::Contains("pid " + std::to_string(::getpid())));
    CHECK_THAT(msg, Catch::Contains("(keel apply)"));
    CHECK_THAT(msg, Catch::Contains("released when that process exits"));
    // The refused attempt must not have wiped the holder's record.
    CHECK(files::read_file(path).value().find("keel apply") != std::string::npos);
  }
  CHECK(files::read_file(path).value().empty());  // released and emptied
  auto third = files::FileLock::acquire(path, "keel plan");
  CHECK(third);
}

TEST_CASE("FileLock held by a process killed with SIGKILL is free afterwards", "[unit][files]") {
  TempDir dir;
  std::string path = dir / "state.lock";
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto lock = files::FileLock::acquire(path, "keel apply");
    char ok = lock ? '1' : '0';
    (void)!::write(ready[1], &ok, 1);
    for (;;) ::pause();  // hold it until killed
  }
  ::close(ready[1]);
  char ok = 0;
  REQUIRE(::read(ready[0], &ok, 1) == 1);
  ::close(ready[0]);
  REQUIRE(ok == '1');

  auto refused = files::FileLock::acquire(path, "keel plan");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == ErrorCode::Locked);
  CHECK_THAT(refused.error().message(), Catch::Contains("pid " + std::to_string(pid)));

  REQUIRE(::kill(pid, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  auto taken = files::FileLock::acquire(path, "keel plan");
  REQUIRE(taken);
  CHECK(files::read_file(path).value().find("keel plan") != std::string::npos);
}

TEST_CASE("path helpers", "[unit][files]") {
  SECTION("dirname behaves like dirname(1)") {
    CHECK(files::dirname("a/b") == "a");
    CHECK(files::dirname("a/b/") == "a");
    CHECK(files::dirname("a") == ".");
    CHECK(files::dirname("/a") == "/");
    CHECK(files::dirname("/") == "/");
    CHECK(files::dirname("/x//y") == "/x");
    CHECK(files::dirname("") == ".");
  }
  SECTION("absolute resolves against the base and normalises") {
    CHECK(files::absolute("b/../c.yaml", "/srv/stack") == "/srv/stack/c.yaml");
    CHECK(files::absolute("/etc/keel/./x", "/srv") == "/etc/keel/x");
    CHECK(files::absolute("./keel.yaml", "/srv/") == "/srv/keel.yaml");
  }
  SECTION("expand_home replaces a leading ~/ only") {
    const char* home = std::getenv("HOME");
    if (home && *home) {
      CHECK(files::expand_home("~/.keel") == std::string(home) + "/.keel");
      CHECK(files::expand_home("~") == home);
    }
    CHECK(files::expand_home("/a/~/b") == "/a/~/b");
    CHECK(files::expand_home("~other/x") == "~other/x");
  }
}

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

// --- files under a directory someone else may have prepared (issue 14) --------

TEST_CASE("FileLock refuses a lock path that is a symbolic link and leaves its target alone", "[unit][files]") {
  // Issue 14, item 4: a repository could commit `.keel/state.lock -> ~/.bashrc`,
  // and taking the lock truncated the target.
  TempDir dir;
  const std::string target = dir / "precious";
  REQUIRE(files::write_atomic(target, "do not truncate me\n", 0644));
  REQUIRE(::symlink(target.c_str(), (dir / "state.lock").c_str()) == 0);
  auto lock = files::FileLock::acquire(dir / "state.lock", "keel plan");
  REQUIRE_FALSE(lock);
  CHECK(lock.error().code() == ErrorCode::PermissionDenied);
  CHECK_THAT(lock.error().message(), Catch::Contains("state.lock is a symbolic link"));
  CHECK(files::read_file(target).value() == "do not truncate me\n");

  SECTION("a hard link to another file is refused too") {
    REQUIRE(::unlink((dir / "state.lock").c_str()) == 0);
    REQUIRE(::link(target.c_str(), (dir / "state.lock").c_str()) == 0);
    auto linked = files::FileLock::acquire(dir / "state.lock", "keel plan");
    REQUIRE_FALSE(linked);
    CHECK_THAT(linked.error().message(), Catch::Contains("hard links"));
    CHECK(files::read_file(target).value() == "do not truncate me\n");
  }
  SECTION("and so is a FIFO, at once") {
    REQUIRE(::unlink((dir / "state.lock").c_str()) == 0);
    REQUIRE(::mkfifo((dir / "state.lock").c_str(), 0600) == 0);
    auto fifo = files::FileLock::acquire(dir / "state.lock", "keel plan");
    REQUIRE_FALSE(fifo);
    CHECK_THAT(fifo.error().message(), Catch::Contains("not a regular file"));
  }
}

TEST_CASE("AppendFile refuses a symbolic link and keeps its mode whatever the umask", "[unit][files]") {
  TempDir dir;
  const std::string target = dir / "elsewhere";
  REQUIRE(files::write_atomic(target, "x", 0644));
  REQUIRE(::symlink(target.c_str(), (dir / "state.journal").c_str()) == 0);
  auto linked = files::AppendFile::open(dir / "state.journal");
  REQUIRE_FALSE(linked);
  CHECK_THAT(linked.error().message(), Catch::Contains("symbolic link"));
  CHECK(files::read_file(target).value() == "x");

  const mode_t old = ::umask(0);
  auto fresh = files::AppendFile::open(dir / "journal", 0600);
  ::umask(old);
  REQUIRE(fresh);
  CHECK(mode_of(dir / "journal") == 0600);
}

TEST_CASE("read_regular_file reads regular files only, within a size and a mode", "[unit][files]") {
  TempDir dir;
  REQUIRE(files::write_atomic(dir / "state.json", "{}", 0600));
  CHECK(files::read_regular_file(dir / "state.json", 100, 077).value() == "{}");

  SECTION("a symbolic link is refused, not followed") {
    REQUIRE(::symlink("/etc/hostname", (dir / "link").c_str()) == 0);
    auto read = files::read_regular_file(dir / "link", 1 << 20);
    REQUIRE_FALSE(read);
    CHECK(read.error().code() == ErrorCode::PermissionDenied);
    CHECK_THAT(read.error().message(), Catch::Contains("is a symbolic link"));
  }
  SECTION("a device or a FIFO is refused at once") {
    REQUIRE(::symlink("/dev/zero", (dir / "zero").c_str()) == 0);
    CHECK_FALSE(files::read_regular_file(dir / "zero", 1 << 20));
    REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
    auto fifo = files::read_regular_file(dir / "fifo", 1 << 20);  // would block for ever if opened blocking
    REQUIRE_FALSE(fifo);
    CHECK_THAT(fifo.error().message(), Catch::Contains("not a regular file"));
  }
  SECTION("a file over the limit is refused") {
    REQUIRE(files::write_atomic(dir / "big", std::string(101, 'x'), 0600));
    auto big = files::read_regular_file(dir / "big", 100);
    REQUIRE_FALSE(big);
    CHECK_THAT(big.error().message(), Catch::Contains("more than the 100"));
  }
  SECTION("a forbidden mode is refused with the chmod that fixes it") {
    REQUIRE(files::write_atomic(dir / "state.key", "k", 0644));
    auto key = files::read_regular_file(dir / "state.key", 100, 077);
    REQUIRE_FALSE(key);
    CHECK(key.error().code() == ErrorCode::PermissionDenied);
    CHECK_THAT(key.error().message(), Catch::Contains("mode 0644") && Catch::Contains("chmod 0600"));
  }
}

TEST_CASE("write_atomic replaces a symbolic link instead of writing through it", "[unit][files]") {
  TempDir dir;
  const std::string target = dir / "target";
  REQUIRE(files::write_atomic(target, "keep", 0644));
  REQUIRE(::symlink(target.c_str(), (dir / "state.json").c_str()) == 0);
  REQUIRE(files::write_atomic(dir / "state.json", "new", 0600));
  CHECK(files::read_file(target).value() == "keep");
  CHECK(files::read_regular_file(dir / "state.json", 10).value() == "new");
}

TEST_CASE("check_private_dir refuses links, other users' and writable directories", "[unit][files]") {
  TempDir dir;
  const std::string keel = dir / ".keel";
  REQUIRE(files::make_dirs(keel, 0755));
  CHECK(files::check_private_dir(keel));

  SECTION("a link, even to a good directory") {
    REQUIRE(::symlink(keel.c_str(), (dir / "linked").c_str()) == 0);
    auto st = files::check_private_dir(dir / "linked");
    REQUIRE_FALSE(st);
    CHECK_THAT(st.error().message(), Catch::Contains("is a symbolic link") && Catch::Contains("mount --bind"));
  }
  SECTION("writable by others") {
    REQUIRE(::chmod(keel.c_str(), 0777) == 0);
    auto st = files::check_private_dir(keel);
    REQUIRE_FALSE(st);
    CHECK_THAT(st.error().message(), Catch::Contains("mode 0777") && Catch::Contains("chmod go-w"));
  }
  SECTION("another user's") {
    if (::geteuid() != 0) return;  // only root can give a directory away
    REQUIRE(::chown(keel.c_str(), 65534, 65534) == 0);
    auto st = files::check_private_dir(keel);
    REQUIRE_FALSE(st);
    CHECK_THAT(st.error().message(), Catch::Contains("belongs to uid 65534"));
  }
}

TEST_CASE("make_dirs_inside and check_dirs_inside refuse a link below the root", "[unit][files]") {
  TempDir dir, elsewhere;
  const std::string root = dir / ".keel";
  REQUIRE(files::make_dirs_inside(dir.path, root + "/local/databases/main", 0755));
  CHECK(files::check_dirs_inside(root, root + "/local/databases/main"));
  CHECK(files::check_dirs_inside(root, root + "/local/caches/missing"));  // missing is fine

  REQUIRE(files::remove_all(root + "/local"));
  REQUIRE(::symlink(elsewhere.path.c_str(), (root + "/local").c_str()) == 0);
  auto made = files::make_dirs_inside(root, root + "/local/databases/main", 0755);
  REQUIRE_FALSE(made);
  CHECK_THAT(made.error().message(), Catch::Contains("local is a symbolic link"));
  CHECK(entries(elsewhere.path).empty());  // nothing was made through the link
  CHECK_FALSE(files::check_dirs_inside(root, root + "/local/databases/main"));
}

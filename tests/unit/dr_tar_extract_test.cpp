// Restoring files backups: real archives made by GNU tar, written into
// target directories that hold hostile symlinks. Nothing may be written
// outside the target, whatever the target or the archive holds.

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "agent/dr/tar_extract.h"
#include "core/files.h"
#include "core/process.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace keel;
using keel::testing::TempDir;
namespace fs = std::filesystem;

void sh(const std::string& script) {
  process::Options o;
  o.argv = {"sh", "-ec", script};
  auto out = process::run(o);
  REQUIRE(out);
  INFO(out->output);
  REQUIRE(out->exit_code == 0);
}

// `tar --create` of `members` under `dir`, as the files source runs it.
std::string archive_of(const std::string& dir, const std::string& members) {
  std::string file = dir + ".tar";
  sh("tar --create --file='" + file + "' --directory='" + dir + "' --sparse " + members);
  auto bytes = files::read_file(file);
  REQUIRE(bytes);
  return *bytes;
}

Status extract(const std::string& target, const std::string& archive, std::size_t piece = 7000) {
  auto extractor = dr::TarExtractor::start(target);
  if (!extractor) return fail(extractor.error());
  for (std::size_t at = 0; at < archive.size(); at += piece)
    if (auto ok = (*extractor)->write(std::string_view(archive).substr(at, piece)); !ok) {
      (void)(*extractor)->finish();
      return ok;
    }
  return (*extractor)->finish();
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string read(const std::string& path) { return files::read_file(path).value_or("<missing>"); }

}  // namespace

TEST_CASE("a restore recreates files, directories, modes, symlinks, hard links, sparse files and fifos",
          "[dr][restore]") {
  TempDir dir{"dr-tar"};
  std::string src = dir / "src";
  sh("mkdir -p '" + src + "/srv/app/sub' && cd '" + src + "/srv/app' && printf alpha > a.txt && chmod 640 a.txt && "
     "printf beta > sub/b.txt && chmod 700 sub && ln -s sub/b.txt link && ln a.txt hard && "
     "truncate -s 50M sparse && printf end >> sparse && mkfifo pipe && touch -d '2020-01-02 03:04:05' a.txt");
  std::string archive = archive_of(src, "./srv/app");
  std::string target = dir / "restored";
  auto ok = extract(target, archive);
  INFO((ok ? "" : ok.error().message()));
  REQUIRE(ok);
  std::string app = target + "/srv/app";
  CHECK(read(app + "/a.txt") == "alpha");
  CHECK(read(app + "/sub/b.txt") == "beta");
  CHECK(fs::read_symlink(app + "/link") == "sub/b.txt");
  CHECK(fs::hard_link_count(app + "/a.txt") == 2);
  CHECK(fs::file_size(app + "/sparse") == 50 * 1024 * 1024 + 3);
  struct stat st {};
  REQUIRE(::stat((app + "/sparse").c_str(), &st) == 0);
  CHECK(st.st_blocks * 512 < 1024 * 1024);  // holes stayed holes
  REQUIRE(::stat((app + "/a.txt").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  struct stat orig {};
  REQUIRE(::stat((src + "/srv/app/a.txt").c_str(), &orig) == 0);
  CHECK(st.st_mtime == orig.st_mtime);
  REQUIRE(::stat((app + "/sub").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  CHECK(fs::is_fifo(app + "/pipe"));
}

TEST_CASE("a symlink planted in the target is never followed", "[dr][restore][security]") {
  TempDir dir{"dr-tar"};
  std::string src = dir / "src", outside = dir / "outside", target = dir / "target";
  sh("mkdir -p '" + src + "/srv/app/data' '" + outside + "' '" + target + "' && printf secret > '" + src +
     "/srv/app/data/x' && printf original > '" + outside + "/victim'");
  std::string archive = archive_of(src, "./srv/app");

  SECTION("in a directory part of a name: the restore stops, naming it") {
    sh("ln -s '" + outside + "' '" + target + "/srv'");
    auto ok = extract(target, archive);
    REQUIRE_FALSE(ok);
    CHECK_THAT(ok.error().message(), Catch::Contains(target + "/srv") && Catch::Contains("symlink"));
    CHECK_FALSE(exists(outside + "/app"));
  }
  SECTION("deeper down, below real directories") {
    sh("mkdir -p '" + target + "/srv/app' && ln -s '" + outside + "' '" + target + "/srv/app/data'");
    // The archive has a directory entry for srv/app/data: the symlink is
    // replaced by a directory (as tar does), and nothing goes outside.
    auto ok = extract(target, archive);
    INFO((ok ? "" : ok.error().message()));
    REQUIRE(ok);
    CHECK(fs::is_directory(fs::symlink_status(target + "/srv/app/data")));
    CHECK(read(target + "/srv/app/data/x") == "secret");
    CHECK_FALSE(exists(outside + "/x"));
  }
  SECTION("at a file's own name: the symlink is replaced, its target untouched") {
    sh("mkdir -p '" + target + "/srv/app/data' && ln -s '" + outside + "/victim' '" + target + "/srv/app/data/x'");
    auto ok = extract(target, archive);
    INFO((ok ? "" : ok.error().message()));
    REQUIRE(ok);
    CHECK(read(outside + "/victim") == "original");
    CHECK_FALSE(fs::is_symlink(target + "/srv/app/data/x"));
    CHECK(read(target + "/srv/app/data/x") == "secret");
  }
  CHECK(read(outside + "/victim") == "original");
}

TEST_CASE("a symlink the archive itself creates is not followed by later entries", "[dr][restore][security]") {
  TempDir dir{"dr-tar"};
  std::string src = dir / "src", outside = dir / "outside", target = dir / "target";
  // The backed-up tree has a symlink `a` to a directory outside it, and the
  // backup lists both `a` and `a/x`: tar stores the symlink, then a/x as a
  // regular file under it.
  sh("mkdir -p '" + src + "' '" + outside + "' && printf payload > '" + outside + "/x' && ln -s '" + outside +
     "' '" + src + "/a'");
  std::string archive = archive_of(src, "./a ./a/x");
  sh("rm -f '" + outside + "/x'");
  auto ok = extract(target, archive);
  REQUIRE_FALSE(ok);
  CHECK_THAT(ok.error().message(), Catch::Contains(target + "/a") && Catch::Contains("symlink"));
  CHECK_FALSE(exists(outside + "/x"));
  CHECK(fs::is_symlink(target + "/a"));
}

TEST_CASE("existing directories keep their owner and mode, then a directory in a file's place is an error",
          "[dr][restore]") {
  TempDir dir{"dr-tar"};
  std::string src = dir / "src", target = dir / "target";
  sh("mkdir -p '" + src + "/d' && chmod 700 '" + src + "/d' && printf one > '" + src + "/d/f' && mkdir -p '" +
     target + "/d' && chmod 755 '" + target + "/d'");
  REQUIRE(extract(target, archive_of(src, "./d")));
  struct stat st {};
  REQUIRE(::stat((target + "/d").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  CHECK(read(target + "/d/f") == "one");

  sh("rm '" + target + "/d/f' && mkdir '" + target + "/d/f'");
  auto ok = extract(target, archive_of(src, "./d"));
  REQUIRE_FALSE(ok);
  CHECK_THAT(ok.error().message(), Catch::Contains("is a directory"));
}

TEST_CASE("garbage instead of an archive is an error, not a crash or a hang", "[dr][restore]") {
  TempDir dir{"dr-tar"};
  auto ok = extract(dir / "target", std::string(100'000, 'x'));
  CHECK_FALSE(ok);
  // The writer is never blocked by an extraction that stopped early: at an
  // error, or at the archive's end marker with more bytes behind it.
  (void)extract(dir / "target2", std::string(1024, '\0') + std::string(5'000'000, 'y'));
  (void)extract(dir / "target3", std::string(600, 'z') + std::string(5'000'000, 'y'));
  SUCCEED("no hang");
}

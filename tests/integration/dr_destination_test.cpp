// Backup destinations against the contract in agent/dr/destination.h: one
// conformance suite, run against a local directory, a real OpenSSH server
// (SFTP) and s3rver (S3), plus the SFTP destination's own refusals (host keys,
// client keys, an unreachable server).
//
// The servers are started once per test process from tests/support (as root;
// skipped with a message otherwise) and stopped at exit. Every run of the
// suite gets a fresh, empty destination (its own directory or key prefix), so
// sections never see each other's objects.

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "agent/dr/destination.h"
#include "core/crypto.h"
#include "core/files.h"
#include "core/process.h"
#include "tests/support/services.h"
#include "tests/support/temp_dir.h"

using namespace keel;
using namespace keel::dr;
namespace fs = std::filesystem;

namespace {

using keel::testing::TempDir;

using keel::testing::s3rver;
using keel::testing::sshd;
using keel::testing::Service;
using keel::testing::run;
using keel::testing::support_script;

// ---------------------------------------------------------------------------
// Temp dirs, scripts, servers

// The error message of a failed result, for INFO; empty on success.
template <typename R>
std::string why(const R& result) {
  return result ? std::string() : result.error().message();
}

// ---------------------------------------------------------------------------
// Destinations under test

struct Subject {
  std::unique_ptr<Destination> dest;
  // Every regular file the destination holds, partial ones included, relative
  // to its root and sorted; empty function where the storage cannot be seen
  // from here (S3).
  std::function<std::vector<std::string>()> raw_files;
};
using Factory = std::function<Subject()>;

std::vector<std::string> files_below(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file()) out.push_back(fs::relative(it->path(), root).generic_string());
  std::sort(out.begin(), out.end());
  return out;
}

// A fresh directory name below `base` for each subject.
std::string fresh_dir(const std::string& base) {
  return fmt::format("{}/{}", base, crypto::hex_encode(crypto::random_bytes(4)));
}

SftpSettings sftp_settings(const Service& sshd) {
  SftpSettings settings;
  settings.key_file = sshd.env("SSH_TEST_KEY");
  settings.known_hosts_file = sshd.env("SSH_TEST_KNOWN_HOSTS");
  settings.port = std::stoi(sshd.env("SSH_TEST_PORT"));
  return settings;
}

Result<std::unique_ptr<Destination>> open_sftp(const Service& sshd, const std::string& dir,
                                               const SftpSettings& settings) {
  return open_sftp_destination(sshd.env("SSH_TEST_USER"), sshd.env("SSH_TEST_HOST"), dir, settings);
}

// ---------------------------------------------------------------------------
// Helpers on destinations

// Deterministic bytes, different for each seed.
std::string pattern(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  std::uint32_t x = 2463534242u ^ seed;
  for (auto& c : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return out;
}

// Writes `data` in pieces of the given sizes (cycled), without committing.
std::unique_ptr<ObjectWriter> start_object(Destination& dest, const std::string& name, std::string_view data,
                                           std::vector<std::size_t> pieces = {1 << 20}) {
  auto w = dest.create(name);
  REQUIRE(w.has_value());
  for (std::size_t i = 0; !data.empty(); ++i) {
    std::size_t n = std::min(data.size(), pieces[i % pieces.size()]);
    auto written = (*w)->write(data.substr(0, n));
    INFO(name << ": " << why(written));
    REQUIRE(written);
    data.remove_prefix(n);
  }
  return std::move(*w);
}

void put(Destination& dest, const std::string& name, std::string_view data,
         std::vector<std::size_t> pieces = {1 << 20}) {
  auto w = start_object(dest, name, data, std::move(pieces));
  auto committed = w->commit();
  INFO(name << ": " << why(committed));
  REQUIRE(committed);
}

std::string get(Destination& dest, const std::string& name, std::size_t buffer_size = 100003) {
  auto r = dest.open(name);
  INFO(name << ": " << why(r));
  REQUIRE(r.has_value());
  std::string out, buffer(buffer_size, '\0');
  for (;;) {
    auto n = (*r)->read(buffer.data(), buffer.size());
    INFO(name << ": " << why(n));
    REQUIRE(n.has_value());
    if (*n == 0) return out;
    out.append(buffer.data(), *n);
  }
}

std::vector<std::string> names(Destination& dest, const std::string& prefix) {
  auto listed = dest.list(prefix);
  INFO(dest.describe() << ": " << why(listed));
  REQUIRE(listed.has_value());
  std::vector<std::string> out;
  for (const auto& object : *listed) out.push_back(object.name);
  return out;
}

// Writers of a process that died: never aborted, never destroyed before the
// test process ends (held here rather than leaked, so that leak checkers stay
// quiet; their destructors run at exit, long after the checks).
std::vector<std::unique_ptr<ObjectWriter>>& abandoned_writers() {
  static std::vector<std::unique_ptr<ObjectWriter>> writers;
  return writers;
}

bool has_partial(const std::vector<std::string>& files, const std::string& prefix) {
  return std::any_of(files.begin(), files.end(), [&](const std::string& f) {
    return f.starts_with(prefix) && f.find(".partial-") != std::string::npos;
  });
}

// ---------------------------------------------------------------------------
// The conformance suite

void conformance(const Factory& make) {
  Subject subject = make();
  Destination& dest = *subject.dest;
  INFO("destination " << dest.describe());

  SECTION("an object reads back as written: 1 byte, 0 bytes, 20 MiB in odd-sized writes") {
    put(dest, "one", "x");
    put(dest, "empty", "");
    std::string big = pattern(20u << 20, 1);
    put(dest, "big", big, {1, 4093, 65537, 333333, 7, 1048573});
    CHECK(get(dest, "one") == "x");
    CHECK(get(dest, "empty").empty());
    CHECK(crypto::sha256_hex(get(dest, "big")) == crypto::sha256_hex(big));
    auto listed = dest.list("");
    REQUIRE(listed.has_value());
    REQUIRE(listed->size() == 3);
    CHECK((*listed)[0].name == "big");
    CHECK((*listed)[0].size == big.size());
    CHECK((*listed)[1].name == "empty");
    CHECK((*listed)[1].size == 0);
    CHECK((*listed)[2].name == "one");
    CHECK((*listed)[2].size == 1);
  }

  SECTION("names with subdirectories are listed with '/' relative to the root") {
    put(dest, "main-nightly/2026/11/27T030000Z.data", "d");
    put(dest, "main-nightly/2026/11/27T030000Z.manifest", "m");
    put(dest, "other/x", "o");
    CHECK(names(dest, "") == std::vector<std::string>{"main-nightly/2026/11/27T030000Z.data",
                                                      "main-nightly/2026/11/27T030000Z.manifest", "other/x"});
    CHECK(get(dest, "main-nightly/2026/11/27T030000Z.manifest") == "m");
  }

  SECTION("a writer that is aborted, destroyed or never committed leaves nothing listed") {
    auto aborted = start_object(dest, "job/aborted", pattern(100000, 2));
    aborted->abort();
    aborted->abort();  // twice is fine
    start_object(dest, "job/destroyed", pattern(100000, 3)).reset();
    auto pending = start_object(dest, "job/pending", "not yet");
    CHECK(names(dest, "").empty());
    CHECK(dest.open("job/pending").error().code() == ErrorCode::NotFound);
    pending.reset();
    CHECK(names(dest, "").empty());
    if (subject.raw_files) CHECK(subject.raw_files().empty());
  }

  SECTION("list returns the names that start with the prefix, sorted") {
    for (const char* name : {"b/2", "a/10", "ab", "a/2", "c", "a/1", "a/sub/1"}) put(dest, name, name);
    CHECK(names(dest, "a/") == std::vector<std::string>{"a/1", "a/10", "a/2", "a/sub/1"});
    CHECK(names(dest, "a") == std::vector<std::string>{"a/1", "a/10", "a/2", "a/sub/1", "ab"});
    CHECK(names(dest, "a/1") == std::vector<std::string>{"a/1", "a/10"});
    CHECK(names(dest, "") == std::vector<std::string>{"a/1", "a/10", "a/2", "a/sub/1", "ab", "b/2", "c"});
    CHECK(names(dest, "zzz/").empty());
    CHECK(names(dest, "a/nothing/here/").empty());
  }

  SECTION("opening a missing object is NotFound") {
    put(dest, "present", "p");
    auto missing = dest.open("absent");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code() == ErrorCode::NotFound);
    CHECK_THAT(missing.error().message(), Catch::Contains("absent"));
    auto deep = dest.open("no/such/dir/object");
    REQUIRE_FALSE(deep.has_value());
    CHECK(deep.error().code() == ErrorCode::NotFound);
  }

  SECTION("remove deletes an object; removing a missing one is fine") {
    put(dest, "x/keep", "k");
    put(dest, "x/drop", "d");
    REQUIRE(dest.remove("x/drop"));
    CHECK(names(dest, "") == std::vector<std::string>{"x/keep"});
    CHECK(dest.open("x/drop").error().code() == ErrorCode::NotFound);
    CHECK(dest.remove("x/drop"));
    CHECK(dest.remove("never/was"));
  }

  SECTION("invalid names are refused") {
    for (const char* name : {"", "/abs", "../up", "a/../b", "a//b", "a/./b", "x.partial-1234"}) {
      INFO("name `" << name << "`");
      auto w = dest.create(name);
      REQUIRE_FALSE(w.has_value());
      CHECK(w.error().code() == ErrorCode::InvalidConfig);
    }
  }

  SECTION("cleanup_leftovers removes what interrupted writers left under the prefix only") {
    put(dest, "a/committed", "c");
    abandoned_writers().push_back(start_object(dest, "a/interrupted", pattern(300000, 4)));
    abandoned_writers().push_back(start_object(dest, "b/interrupted", pattern(1000, 5)));
    CHECK(names(dest, "") == std::vector<std::string>{"a/committed"});
    if (subject.raw_files) {
      CHECK(has_partial(subject.raw_files(), "a/"));
      CHECK(has_partial(subject.raw_files(), "b/"));
    }
    REQUIRE(dest.cleanup_leftovers("a/"));
    if (subject.raw_files) {
      CHECK_FALSE(has_partial(subject.raw_files(), "a/"));
      CHECK(has_partial(subject.raw_files(), "b/"));
    }
    REQUIRE(dest.cleanup_leftovers(""));
    if (subject.raw_files) CHECK(subject.raw_files() == std::vector<std::string>{"a/committed"});
    CHECK(names(dest, "") == std::vector<std::string>{"a/committed"});
    CHECK(get(dest, "a/committed") == "c");
  }

  SECTION("committing over an existing name replaces it atomically") {
    std::string old_data = pattern(500000, 6), new_data = pattern(300001, 7);
    put(dest, "job/latest", old_data);
    auto w = start_object(dest, "job/latest", new_data, {65536});
    // Until commit, readers see the old object, whole, and only it.
    CHECK(names(dest, "") == std::vector<std::string>{"job/latest"});
    CHECK(get(dest, "job/latest") == old_data);
    REQUIRE(w->commit());
    CHECK(get(dest, "job/latest") == new_data);
    auto listed = dest.list("job/");
    REQUIRE(listed.has_value());
    REQUIRE(listed->size() == 1);
    CHECK((*listed)[0].size == new_data.size());
    if (subject.raw_files) CHECK(subject.raw_files() == std::vector<std::string>{"job/latest"});
  }
}

}  // namespace

// ---------------------------------------------------------------------------

TEST_CASE("dr destination conformance: file", "[integration][dr][destination][file]") {
  TempDir root;
  conformance([&] {
    std::string dir = fresh_dir(root.path);
    auto dest = open_file_destination(dir);
    REQUIRE(dest.has_value());
    return Subject{std::move(*dest), [dir] { return files_below(dir); }};
  });
}

TEST_CASE("file destination: symlinks planted in it are never followed", "[integration][dr][destination][file]") {
  TempDir root;
  std::string dir = root.path + "/store", outside = root.path + "/outside";
  REQUIRE(files::make_dirs(dir));
  REQUIRE(files::make_dirs(outside));
  REQUIRE(files::write_atomic(outside + "/secret", "secret", 0600));
  auto dest = open_file_destination(dir);
  REQUIRE(dest.has_value());

  // A job's folder pointing elsewhere: nothing is written, read or removed there.
  fs::create_directory_symlink(outside, dir + "/job");
  auto w = (*dest)->create("job/x.kdr");
  REQUIRE_FALSE(w);
  CHECK(w.error().code() == ErrorCode::Corrupt);
  CHECK_THAT(w.error().message(), Catch::Contains("symlink"));
  CHECK_FALSE((*dest)->open("job/secret"));
  CHECK_FALSE((*dest)->remove("job/secret"));
  CHECK(fs::exists(outside + "/secret"));
  auto listed = (*dest)->list("job/");
  REQUIRE(listed);
  CHECK(listed->empty());

  // An object that is a symlink (to a file outside), or a fifo: refused
  // at once, never read through or waited on.
  REQUIRE(files::make_dirs(dir + "/other"));
  fs::create_symlink(outside + "/secret", dir + "/other/a.manifest.json");
  auto r = (*dest)->open("other/a.manifest.json");
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == ErrorCode::Corrupt);
  REQUIRE(::mkfifo((dir + "/other/b.manifest.json").c_str(), 0600) == 0);
  auto fifo = (*dest)->open("other/b.manifest.json");
  REQUIRE_FALSE(fifo);
  CHECK(fifo.error().code() == ErrorCode::Corrupt);
  listed = (*dest)->list("other/");
  REQUIRE(listed);
  CHECK(listed->empty());

  // A symlink at an object's final name is replaced by the commit.
  fs::create_symlink(outside + "/secret", dir + "/other/c.kdr");
  auto c = (*dest)->create("other/c.kdr");
  REQUIRE(c);
  REQUIRE((*c)->write("new"));
  REQUIRE((*c)->commit());
  CHECK(files::read_file(outside + "/secret").value_or("") == "secret");
  CHECK_FALSE(fs::is_symlink(dir + "/other/c.kdr"));
}

TEST_CASE("dr destination conformance: sftp", "[integration][dr][destination][sftp]") {
  const Service* server = sshd();
  if (!server) return;
  TempDir root;  // served by the local sshd: the test can look at the files directly
  conformance([&] {
    std::string dir = fresh_dir(root.path);
    auto dest = open_sftp(*server, dir, sftp_settings(*server));
    INFO(why(dest));
    REQUIRE(dest.has_value());
    return Subject{std::move(*dest), [dir] { return files_below(dir); }};
  });
}

TEST_CASE("dr destination conformance: s3", "[integration][dr][destination][s3]") {
  const Service* server = s3rver();
  if (!server) return;
  conformance([&] {
    S3Settings settings;
    settings.endpoint = server->env("S3_ENDPOINT");
    settings.region = server->env("S3_REGION");
    settings.path_style = true;
    settings.access_key_id = server->env("S3_ACCESS_KEY_ID");
    settings.secret_access_key = server->env("S3_SECRET_ACCESS_KEY");
    std::string prefix = fmt::format("conformance/{}", crypto::hex_encode(crypto::random_bytes(4)));
    auto dest = open_s3_destination(server->env("S3_BUCKET"), prefix, settings);
    INFO(why(dest));
    REQUIRE(dest.has_value());
    return Subject{std::move(*dest), nullptr};
  });
}

// ---------------------------------------------------------------------------
// SFTP only

namespace {

std::string ssh_keygen(const TempDir& dir, const std::string& name) {
  std::string path = dir / name;
  auto made = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "keel-test-other", "-f", path});
  INFO(why(made));
  REQUIRE(made.has_value());
  return path;
}

std::string first_two_fields(const std::string& path) {
  std::ifstream in(path);
  std::string type, key;
  in >> type >> key;
  return type + " " + key;
}

Error open_sftp_error(const Service& server, const SftpSettings& settings) {
  TempDir root;
  auto dest = open_sftp(server, root / "d", settings);
  REQUIRE_FALSE(dest.has_value());
  return dest.error();
}

}  // namespace

TEST_CASE("sftp destination: refuses a host key that is not in known_hosts", "[integration][dr][sftp]") {
  const Service* server = sshd();
  if (!server) return;
  TempDir keys;
  SftpSettings settings = sftp_settings(*server);
  std::string port = server->env("SSH_TEST_PORT");

  SECTION("a known_hosts file without the host") {
    settings.known_hosts_file = keys / "known_hosts";
    std::string other = ssh_keygen(keys, "other_host_key");
    std::ofstream(settings.known_hosts_file) << "[127.0.0.2]:" << port << " " << first_two_fields(other + ".pub")
                                             << "\n";
  }
  SECTION("no known_hosts file at all") { settings.known_hosts_file = keys / "missing_known_hosts"; }

  Error error = open_sftp_error(*server, settings);
  CHECK_THAT(error.message(),
             Catch::Contains(fmt::format("host key of 127.0.0.1:{} is not in {}", port, settings.known_hosts_file)));
  CHECK_THAT(error.message(), Catch::Contains("SHA256:"));
}

TEST_CASE("sftp destination: refuses a changed host key and says so", "[integration][dr][sftp]") {
  const Service* server = sshd();
  if (!server) return;
  TempDir keys;
  std::string other = ssh_keygen(keys, "impostor_host_key");
  SftpSettings settings = sftp_settings(*server);
  settings.known_hosts_file = keys / "known_hosts";
  std::ofstream(settings.known_hosts_file) << "[127.0.0.1]:" << server->env("SSH_TEST_PORT") << " "
                                           << first_two_fields(other + ".pub") << "\n";

  Error error = open_sftp_error(*server, settings);
  CHECK(error.code() == ErrorCode::PermissionDenied);
  CHECK_THAT(error.message(), Catch::Contains("CHANGED"));
  CHECK_THAT(error.message(), Catch::Contains("man-in-the-middle"));
  CHECK_THAT(error.message(), Catch::Contains(settings.known_hosts_file));
}

TEST_CASE("sftp destination: refuses a client key the server does not know", "[integration][dr][sftp]") {
  const Service* server = sshd();
  if (!server) return;
  TempDir keys;
  SftpSettings settings = sftp_settings(*server);
  settings.key_file = ssh_keygen(keys, "id_wrong");

  Error error = open_sftp_error(*server, settings);
  CHECK(error.code() == ErrorCode::PermissionDenied);
  CHECK_THAT(error.message(), Catch::Contains("denied"));
  CHECK_THAT(error.message(), Catch::Contains(server->env("SSH_TEST_USER") + "@127.0.0.1:" + server->env("SSH_TEST_PORT")));

  settings.key_file = keys / "id_missing";
  Error missing = open_sftp_error(*server, settings);
  CHECK(missing.code() == ErrorCode::InvalidConfig);
  CHECK_THAT(missing.message(), Catch::Contains(settings.key_file));
}

TEST_CASE("sftp destination: an unreachable server is Unavailable", "[integration][dr][sftp]") {
  auto port = process::free_local_port();
  REQUIRE(port.has_value());
  SftpSettings settings;
  settings.port = *port;
  settings.known_hosts_file = "/dev/null";
  auto dest = open_sftp_destination("backup", "127.0.0.1", "/srv/backups", settings);
  REQUIRE_FALSE(dest.has_value());
  CHECK(dest.error().code() == ErrorCode::Unavailable);
  CHECK_THAT(dest.error().message(), Catch::Contains(fmt::format("backup@127.0.0.1:{}", *port)));
}

TEST_CASE("sftp destination: URL, file modes, and writers that outlive the destination", "[integration][dr][sftp]") {
  const Service* server = sshd();
  if (!server) return;
  TempDir root;
  std::string dir = root / "backups";
  DestinationSpec spec;
  spec.url = fmt::format("sftp://{}@127.0.0.1:{}{}/", server->env("SSH_TEST_USER"), server->env("SSH_TEST_PORT"), dir);
  spec.sftp = sftp_settings(*server);
  spec.sftp.port = 22;  // the URL's port wins
  auto dest = open_destination(spec);
  INFO(why(dest));
  REQUIRE(dest.has_value());
  CHECK((*dest)->describe() ==
        fmt::format("sftp://{}@127.0.0.1:{}{}", server->env("SSH_TEST_USER"), server->env("SSH_TEST_PORT"), dir));

  auto w = start_object(**dest, "job/x.data", "secret bytes");
  auto pending_partial = files_below(dir);
  REQUIRE(pending_partial.size() == 1);
  struct stat st {};
  REQUIRE(::stat((dir + "/" + pending_partial[0]).c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);

  dest->reset();  // the writer keeps the SSH session it needs
  REQUIRE(w->write(" and more"));
  REQUIRE(w->commit());
  REQUIRE(::stat((dir + "/job/x.data").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  auto content = files::read_file(dir + "/job/x.data");
  REQUIRE(content.has_value());
  CHECK(*content == "secret bytes and more");
}

namespace {

// The pids whose parent is `parent`, from /proc.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::ifstream status(entry.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (!line.starts_with("PPid:")) continue;
      if (std::stol(line.substr(5)) == parent) out.push_back(static_cast<pid_t>(std::stol(entry.path().filename())));
      break;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("sftp destination: a dropped connection fails fast with a Transient error", "[integration][dr][sftp]") {
  const Service* server = sshd();
  if (!server) return;
  TempDir root;
  auto dest = open_sftp(*server, root / "d", sftp_settings(*server));
  INFO(why(dest));
  REQUIRE(dest.has_value());
  auto w = start_object(**dest, "job/x.data", "some bytes");

  // Our sshd serves each connection in a child of its listener: ending those
  // children (processes this test started) cuts every session to it.
  std::ifstream pid_file(server->dir() + "/sshd.pid");
  long listener = 0;
  REQUIRE(pid_file >> listener);
  REQUIRE(process::process_alive(listener, "sshd"));
  for (pid_t child : children_of(static_cast<pid_t>(listener))) ::kill(child, SIGKILL);

  auto started = std::chrono::steady_clock::now();
  auto written = w->write(pattern(1 << 20, 8));
  auto committed = written ? w->commit() : Status{};
  Status failed = written ? committed : written;
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error().code() == ErrorCode::Transient);
  CHECK_THAT(failed.error().message(),
             Catch::Contains(server->env("SSH_TEST_USER") + "@127.0.0.1:" + server->env("SSH_TEST_PORT")));
  CHECK_THAT(failed.error().message(), Catch::Contains("job/x.data"));
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
  auto listed = (*dest)->list("");
  REQUIRE_FALSE(listed.has_value());
  CHECK(listed.error().code() == ErrorCode::Transient);
}

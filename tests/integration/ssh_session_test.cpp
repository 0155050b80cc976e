// keel::ssh::Session against a real OpenSSH server (the shared sshd from
// tests/support/start-sshd.sh, on 127.0.0.1, as root): host-key policies and
// their errors, key and ssh-agent authentication, commands with streamed
// output, stdin and timeouts, SFTP uploads, port forwarding, a jump host, and
// connection reuse through ssh::Connections.
//
// The sshd runs on this machine, so files it writes can be checked here
// directly, and a listener started by the test on 127.0.0.1 is what "the
// host's 127.0.0.1" means for a forward.

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "cli/ssh/hosts.h"
#include "cli/ssh/session.h"
#include "core/files.h"
#include "core/process.h"
#include "tests/support/eventually.h"
#include "tests/support/services.h"
#include "tests/support/temp_dir.h"

using namespace keel;
using namespace std::chrono_literals;

namespace {

using keel::testing::Service;
using keel::testing::sshd;
using keel::testing::TempDir;

template <typename R>
std::string why(const R& result) {
  return result ? std::string() : result.error().message();
}

// The shared sshd as a Target that verifies its key strictly.
ssh::Target target_of(const Service& server) {
  ssh::Target target;
  target.host = server.env("SSH_TEST_HOST");
  target.port = std::stoi(server.env("SSH_TEST_PORT"));
  target.user = server.env("SSH_TEST_USER");
  target.key_file = server.env("SSH_TEST_KEY");
  target.known_hosts = server.env("SSH_TEST_KNOWN_HOSTS");
  target.timeout = 10s;
  return target;
}

std::unique_ptr<ssh::Session> connect(const ssh::Target& target) {
  auto session = ssh::Session::connect(target);
  INFO(why(session));
  REQUIRE(session.has_value());
  return std::move(*session);
}

Error connect_error(const ssh::Target& target) {
  auto session = ssh::Session::connect(target);
  REQUIRE_FALSE(session.has_value());
  return session.error();
}

std::string read_all(const std::string& path) {
  auto content = files::read_file(path);
  INFO(why(content));
  REQUIRE(content.has_value());
  return *content;
}

// A fresh ed25519 key pair in `dir`; returns the private key's path.
std::string ssh_keygen(const TempDir& dir, const std::string& name) {
  std::string path = dir / name;
  auto made = keel::testing::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path});
  INFO(why(made));
  REQUIRE(made.has_value());
  return path;
}

// "ssh-ed25519 AAAA..." from a .pub file (its comment dropped).
std::string key_of(const std::string& pub_file) {
  std::string line = read_all(pub_file);
  auto first = line.find(' ');
  auto second = line.find_first_of(" \n", first + 1);
  return line.substr(0, second);
}

std::string host_pattern(const Service& server) {
  return "[" + server.env("SSH_TEST_HOST") + "]:" + server.env("SSH_TEST_PORT");
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string random_bytes(size_t size) {
  std::mt19937_64 rng(42);
  std::string out(size, '\0');
  for (size_t i = 0; i < size; i += 8) {
    uint64_t word = rng();
    for (size_t j = 0; j < 8 && i + j < size; ++j) out[i + j] = static_cast<char>(word >> (8 * j));
  }
  return out;
}

// A TCP echo server on 127.0.0.1 (port 0), serving any number of connections
// one after another until destroyed: what an agent on the host's loopback
// stands for in the forward tests.
class EchoServer {
 public:
  EchoServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int connections() const { return connections_; }

 private:
  // Polls with a short timeout so that the destructor's stop flag is seen.
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int conn = ::accept(fd_, nullptr, nullptr);
      if (conn < 0) continue;
      ++connections_;
      char buf[16384];
      while (!stop_) {
        pollfd c{conn, POLLIN, 0};
        if (::poll(&c, 1, 50) <= 0) continue;
        ssize_t n = ::read(conn, buf, sizeof buf);
        if (n <= 0) break;
        if (!write_all(conn, std::string_view(buf, static_cast<size_t>(n)))) break;
      }
      ::close(conn);
    }
  }
  static bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// Connects to 127.0.0.1:port, sends `data`, reads back as many bytes (or
// until EOF or 10 s pass).
std::string echo_through(int port, const std::string& data) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  std::string sent(data), got;
  size_t offset = 0;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  // Writes and reads interleaved: a large message would otherwise fill both
  // directions' buffers and stall.
  while (got.size() < data.size() && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, static_cast<short>(POLLIN | (offset < sent.size() ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if ((p.revents & POLLOUT) && offset < sent.size()) {
      ssize_t n = ::send(fd, sent.data() + offset, std::min<size_t>(sent.size() - offset, 65536), MSG_NOSIGNAL);
      if (n > 0) offset += static_cast<size_t>(n);
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[65536];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return got;
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

// ---------------------------------------------------------------------------
// Host keys

TEST_CASE("ssh session: strict host-key check against a known_hosts file", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  ssh::Target target = target_of(*server);
  REQUIRE(target.host_key_policy == ssh::HostKeyPolicy::Strict);  // the default

  auto session = connect(target);
  CHECK_THAT(session->target().describe(),
             Catch::Contains(target.user + "@" + target.host + ":" + std::to_string(target.port)));
  auto result = session->run("echo hello");
  INFO(why(result));
  REQUIRE(result.has_value());
  CHECK(result->exit_status == 0);
  CHECK(result->output == "hello\n");
}

TEST_CASE("ssh session: an unknown host key under strict is NotFound, naming the file", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  TempDir dir("ssh-session");
  ssh::Target target = target_of(*server);
  target.known_hosts = dir / "known_hosts";

  SECTION("an empty known_hosts file") { std::ofstream(target.known_hosts) << ""; }
  SECTION("a file that lists other hosts only") {
    std::ofstream(target.known_hosts) << "[127.0.0.2]:" << target.port << " "
                                      << key_of(server->env("SSH_TEST_HOST_KEY_PUB")) << "\n";
  }
  SECTION("no file at all") {}

  Error error = connect_error(target);
  CHECK(error.code() == ErrorCode::NotFound);
  CHECK_THAT(error.message(), Catch::Contains(target.known_hosts));
  CHECK_THAT(error.message(), Catch::Contains("127.0.0.1"));
  // Strict never writes the file.
  if (files::exists(target.known_hosts))
    CHECK_THAT(read_all(target.known_hosts), !Catch::Contains(host_pattern(*server)));
}

TEST_CASE("ssh session: accept-new records an unknown host's key, then strict accepts it", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  TempDir dir("ssh-session");
  ssh::Target target = target_of(*server);
  target.known_hosts = dir / "known_hosts";  // does not exist yet
  target.host_key_policy = ssh::HostKeyPolicy::AcceptNew;

  connect(target);
  std::string recorded = read_all(target.known_hosts);
  CHECK_THAT(recorded, Catch::Contains(host_pattern(*server)));
  // The key itself (type and base64), whatever else the line holds.
  std::string key = key_of(server->env("SSH_TEST_HOST_KEY_PUB"));
  CHECK_THAT(recorded, Catch::Contains(key.substr(key.find(' ') + 1)));

  target.host_key_policy = ssh::HostKeyPolicy::Strict;
  auto again = ssh::Session::connect(target);
  INFO(why(again));
  CHECK(again.has_value());
  // Nothing added twice.
  target.host_key_policy = ssh::HostKeyPolicy::AcceptNew;
  connect(target);
  CHECK(read_all(target.known_hosts) == recorded);
}

TEST_CASE("ssh session: a changed host key is a Conflict that says so", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  TempDir dir("ssh-session");
  std::string other = ssh_keygen(dir, "impostor_host_key");
  ssh::Target target = target_of(*server);
  target.known_hosts = dir / "known_hosts";
  std::ofstream(target.known_hosts) << host_pattern(*server) << " " << key_of(other + ".pub") << "\n";
  std::string before = read_all(target.known_hosts);

  SECTION("strict") { target.host_key_policy = ssh::HostKeyPolicy::Strict; }
  SECTION("accept-new does not accept a changed key either") { target.host_key_policy = ssh::HostKeyPolicy::AcceptNew; }

  Error error = connect_error(target);
  CHECK(error.code() == ErrorCode::Conflict);
  CHECK_THAT(error.message(), Catch::Contains("changed", Catch::CaseSensitive::No));
  CHECK_THAT(error.message(), Catch::Contains(target.known_hosts));
  CHECK(read_all(target.known_hosts) == before);
}

TEST_CASE("ssh session: policy names", "[integration][ssh]") {
  CHECK(std::string(ssh::to_string(ssh::HostKeyPolicy::Strict)) == "strict");
  CHECK(std::string(ssh::to_string(ssh::HostKeyPolicy::AcceptNew)) == "accept-new");
  CHECK(ssh::host_key_policy_from_string("accept-new") == ssh::HostKeyPolicy::AcceptNew);
  CHECK(ssh::host_key_policy_from_string("strict") == ssh::HostKeyPolicy::Strict);
  CHECK_FALSE(ssh::host_key_policy_from_string("yes").has_value());
}

// ---------------------------------------------------------------------------
// Authentication and reachability

TEST_CASE("ssh session: a key the server refuses is PermissionDenied", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  TempDir dir("ssh-session");
  ssh::Target target = target_of(*server);
  target.key_file = ssh_keygen(dir, "id_unknown");

  Error error = connect_error(target);
  CHECK(error.code() == ErrorCode::PermissionDenied);
  CHECK_THAT(error.message(), Catch::Contains(target.user + "@127.0.0.1:" + std::to_string(target.port)));
}

TEST_CASE("ssh session: a missing key file is NotFound", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  TempDir dir("ssh-session");
  ssh::Target target = target_of(*server);
  target.key_file = dir / "no_such_key";

  Error error = connect_error(target);
  INFO(error.message());
  CHECK(error.code() == ErrorCode::NotFound);
  CHECK_THAT(error.message(), Catch::Contains(target.key_file));
}

TEST_CASE("ssh session: a closed port is Unavailable", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  ssh::Target target = target_of(*server);
  auto port = process::free_local_port();
  REQUIRE(port.has_value());
  target.port = *port;
  target.timeout = 5s;

  auto start = std::chrono::steady_clock::now();
  Error error = connect_error(target);
  CHECK(error.code() == ErrorCode::Unavailable);
  CHECK_THAT(error.message(), Catch::Contains("127.0.0.1:" + std::to_string(*port)));
  CHECK(std::chrono::steady_clock::now() - start < 5s);  // refused at once, not timed out
}

TEST_CASE("ssh session: authenticates with the keys ssh-agent offers", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  if (process::which("ssh-agent").empty() || process::which("ssh-add").empty()) {
    WARN("skipped: ssh-agent/ssh-add not installed (apt-get install openssh-client)");
    return;
  }
  TempDir dir("ssh-agent");
  std::string sock = dir / "agent.sock";
  // -D: in the foreground, so that the Child owns it and kills it at the end.
  auto agent = process::Child::start({{"ssh-agent", "-D", "-a", sock}, {}, true});
  INFO(why(agent));
  REQUIRE(agent.has_value());
  REQUIRE(keel::testing::eventually([&] { return files::exists(sock); }, 10s));
  ScopedEnv env("SSH_AUTH_SOCK", sock);

  ssh::Target target = target_of(*server);
  target.key_file.clear();

  SECTION("the test key in the agent") {
    keel::process::Options add;
    add.argv = {"ssh-add", server->env("SSH_TEST_KEY")};
    add.env = {{"SSH_AUTH_SOCK", sock}};
    add.timeout = 30s;
    auto added = process::run_checked(add);
    INFO(why(added));
    REQUIRE(added.has_value());

    auto session = connect(target);
    auto result = session->run("echo agent");
    INFO(why(result));
    REQUIRE(result.has_value());
    CHECK(result->output == "agent\n");
  }
  SECTION("an agent without keys (and no key file) is PermissionDenied") {
    Error error = connect_error(target);
    CHECK(error.code() == ErrorCode::PermissionDenied);
  }
  agent->kill(SIGTERM);
  (void)agent->wait();
}

// ---------------------------------------------------------------------------
// Commands

TEST_CASE("ssh session: exec streams stdout and stderr and returns the exit status", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  auto session = connect(target_of(*server));

  std::string out, err;
  int stdout_chunks = 0;
  auto collect = [&](ssh::Stream stream, std::string_view data) {
    if (stream == ssh::Stream::Stdout) {
      out += data;
      ++stdout_chunks;
    } else {
      err += data;
    }
  };

  SECTION("both streams and a non-zero status, which is a result, not an error") {
    auto status = session->exec("echo out; echo err >&2; exit 3", collect);
    INFO(why(status));
    REQUIRE(status.has_value());
    CHECK(*status == 3);
    CHECK(out == "out\n");
    CHECK(err == "err\n");
  }
  SECTION("output arrives as it is written, before the command ends") {
    // The second line is written only once the first has reached us: a
    // marker file the callback creates lets the command go on.
    TempDir dir("ssh-session");
    std::string marker = dir / "seen";
    std::string command = "echo first; i=0; while [ ! -e " + ssh::shell_quote(marker) +
                          " ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; echo second";
    auto status = session->exec(command, [&](ssh::Stream stream, std::string_view data) {
      collect(stream, data);
      if (out.find("first") != std::string::npos && !files::exists(marker)) std::ofstream(marker) << "";
    });
    INFO(why(status));
    REQUIRE(status.has_value());
    CHECK(*status == 0);
    CHECK(out == "first\nsecond\n");
    CHECK(stdout_chunks >= 2);
  }
  SECTION("a large output (4 MB) arrives whole") {
    auto status = session->exec("head -c 4000000 /dev/zero", collect);
    INFO(why(status));
    REQUIRE(status.has_value());
    CHECK(*status == 0);
    CHECK(out.size() == 4000000);
  }
  SECTION("stdin, then EOF") {
    std::string input = "hello\nworld\n";
    auto status = session->exec("cat", collect, input);
    INFO(why(status));
    REQUIRE(status.has_value());
    CHECK(*status == 0);
    CHECK(out == input);
  }
  SECTION("a large stdin (2 MB) through cat") {
    std::string input = random_bytes(2'000'000);
    auto status = session->exec("cat", collect, input);
    INFO(why(status));
    REQUIRE(status.has_value());
    CHECK(out.size() == input.size());
    CHECK(out == input);
  }
  SECTION("a command killed by a signal") {
    auto status = session->exec("kill -KILL $$", collect);
    INFO(why(status));
    REQUIRE(status.has_value());
    CHECK(*status == 255);
  }
  SECTION("a command that does not exist") {
    auto status = session->exec("no-such-command-keel-test", collect);
    INFO(why(status));
    REQUIRE(status.has_value());
    CHECK(*status == 127);
    CHECK_THAT(err, Catch::Contains("not found"));
  }
}

TEST_CASE("ssh session: run() collects stdout and stderr together", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  auto session = connect(target_of(*server));

  auto result = session->run("echo one; echo two >&2; printf %s \"$(cat)\"; exit 4", "three");
  INFO(why(result));
  REQUIRE(result.has_value());
  CHECK(result->exit_status == 4);
  CHECK_THAT(result->output, Catch::Contains("one\n"));
  CHECK_THAT(result->output, Catch::Contains("two\n"));
  // The streams are separate channels: only the order within each is kept.
  CHECK_THAT(result->output, Catch::Contains("three"));

  // Many commands on one session, one after another.
  for (int i = 0; i < 20; ++i) {
    auto r = session->run("echo " + std::to_string(i));
    REQUIRE(r.has_value());
    CHECK(r->output == std::to_string(i) + "\n");
  }
}

TEST_CASE("ssh session: a command that outlives its timeout is a Timeout", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  auto session = connect(target_of(*server));

  auto start = std::chrono::steady_clock::now();
  auto status = session->exec("sleep 30", [](ssh::Stream, std::string_view) {}, {}, 500ms);
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(status.has_value());
  CHECK(status.error().code() == ErrorCode::Timeout);
  CHECK(took >= 400ms);
  CHECK(took < 10s);

  // run() takes the same timeout.
  auto result = session->run("sleep 30", {}, 300ms);
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code() == ErrorCode::Timeout);

  // A command that ends in time is not affected by the limit.
  auto quick = session->run("echo quick", {}, 10000ms);
  INFO(why(quick));
  REQUIRE(quick.has_value());
  CHECK(quick->output == "quick\n");
}

TEST_CASE("ssh session: shell_quote survives /bin/sh", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  auto session = connect(target_of(*server));
  for (std::string text : {"plain", "it's", "a b  c", "$HOME `id` \"q\" \\ ;|&", "", "line\nbreak", "'''"}) {
    auto result = session->run("printf %s " + ssh::shell_quote(text));
    INFO(text);
    REQUIRE(result.has_value());
    CHECK(result->output == text);
  }
}

// ---------------------------------------------------------------------------
// Files

TEST_CASE("ssh session: write_file writes atomically with the mode asked for", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  TempDir dir("ssh-files");  // local sshd: the remote path is this path
  auto session = connect(target_of(*server));
  std::string path = dir / "token";

  auto written = session->write_file(path, "secret\n", 0600);
  INFO(why(written));
  REQUIRE(written.has_value());
  CHECK(read_all(path) == "secret\n");
  CHECK(mode_of(path) == 0600);

  // Over an existing file, with another mode; nothing left beside it.
  written = session->write_file(path, "#!/bin/sh\necho hi\n", 0755);
  INFO(why(written));
  REQUIRE(written.has_value());
  CHECK(read_all(path) == "#!/bin/sh\necho hi\n");
  CHECK(mode_of(path) == 0755);
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) names.push_back(entry.path().filename());
  CHECK(names == std::vector<std::string>{"token"});

  // Empty content is a file too.
  REQUIRE(session->write_file(dir / "empty", "", 0644).has_value());
  CHECK(read_all(dir / "empty").empty());

  // The directory must exist.
  auto missing = session->write_file(dir / "no-such-dir/file", "x", 0644);
  CHECK_FALSE(missing.has_value());
}

TEST_CASE("ssh session: upload streams a large file byte for byte with its mode", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  TempDir local("ssh-upload-src");
  TempDir remote("ssh-upload-dst");
  auto session = connect(target_of(*server));

  std::string content = random_bytes(5 * 1024 * 1024 + 7);  // not a multiple of any buffer size
  std::string source = local / "artifact.bin";
  REQUIRE(files::write_atomic(source, content, 0644).has_value());

  std::string dest = remote / "artifact.bin";
  auto start = std::chrono::steady_clock::now();
  auto uploaded = session->upload(source, dest, 0640);
  auto took = std::chrono::steady_clock::now() - start;
  INFO(why(uploaded));
  REQUIRE(uploaded.has_value());
  CHECK(mode_of(dest) == 0640);
  std::string copy = read_all(dest);
  CHECK(copy.size() == content.size());
  CHECK(copy == content);
  // Loopback: 5 MB well under the per-read timeout, whatever the window.
  CHECK(took < 10s);

  SECTION("an executable") {
    REQUIRE(session->upload(source, remote / "tool", 0755).has_value());
    CHECK(mode_of(remote / "tool") == 0755);
  }
  SECTION("a local file that does not exist is NotFound") {
    auto missing = session->upload(local / "no-such-file", remote / "x", 0644);
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code() == ErrorCode::NotFound);
    CHECK_FALSE(files::exists(remote / "x"));
  }
}

// ---------------------------------------------------------------------------
// Port forwarding

TEST_CASE("ssh session: forward reaches a listener on the host's 127.0.0.1", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  EchoServer echo;
  auto session = connect(target_of(*server));

  auto forward = session->forward("127.0.0.1", echo.port());
  INFO(why(forward));
  REQUIRE(forward.has_value());
  int local_port = (*forward)->local_port();
  CHECK(local_port > 0);
  CHECK(local_port != echo.port());
  CHECK((*forward)->local_url("https") == "https://127.0.0.1:" + std::to_string(local_port));

  CHECK(echo_through(local_port, "ping\n") == "ping\n");
  // Another connection through the same forward, with more data than one
  // channel window.
  std::string big = random_bytes(3 * 1024 * 1024);
  CHECK(echo_through(local_port, big) == big);
  CHECK(echo.connections() == 2);

  // Commands on the session still work while the forward is open.
  auto result = session->run("echo beside");
  INFO(why(result));
  REQUIRE(result.has_value());
  CHECK(result->output == "beside\n");

  // Closed when destroyed.
  forward->reset();
  CHECK(keel::testing::eventually([&] { return !process::port_open(local_port); }, 5s));
}

TEST_CASE("ssh session: forward to a port nothing listens on fails per connection", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  auto port = process::free_local_port();
  REQUIRE(port.has_value());
  auto session = connect(target_of(*server));

  // Whether forward() itself checks the far end is up to the implementation;
  // a connection through it must not echo anything.
  auto forward = session->forward("127.0.0.1", *port);
  if (!forward) return;
  CHECK(echo_through((*forward)->local_port(), "x").empty());
  // The session survives.
  auto result = session->run("true");
  REQUIRE(result.has_value());
  CHECK(result->exit_status == 0);
}

// ---------------------------------------------------------------------------
// Jump host, destinations, connection reuse

TEST_CASE("ssh session: a jump host (the same sshd, reaching itself)", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  ssh::Target target = target_of(*server);
  target.jump = std::make_shared<const ssh::Target>(target_of(*server));

  auto session = connect(target);
  CHECK_THAT(session->target().describe(), Catch::Contains(" via "));
  auto result = session->run("echo through");
  INFO(why(result));
  REQUIRE(result.has_value());
  CHECK(result->output == "through\n");

  TempDir dir("ssh-jump");
  REQUIRE(session->write_file(dir / "f", "via jump", 0600).has_value());
  CHECK(read_all(dir / "f") == "via jump");

  SECTION("a jump host whose key is unknown fails on the jump host") {
    TempDir keys("ssh-jump");
    auto jump = std::make_shared<ssh::Target>(target_of(*server));
    jump->known_hosts = keys / "empty_known_hosts";
    std::ofstream(jump->known_hosts) << "";
    target.jump = jump;
    Error error = connect_error(target);
    CHECK(error.code() == ErrorCode::NotFound);
    CHECK_THAT(error.message(), Catch::Contains(jump->known_hosts));
  }
  SECTION("a jump host that is down is Unavailable") {
    auto port = process::free_local_port();
    REQUIRE(port.has_value());
    auto jump = std::make_shared<ssh::Target>(target_of(*server));
    jump->port = *port;
    target.jump = jump;
    CHECK(connect_error(target).code() == ErrorCode::Unavailable);
  }
}

TEST_CASE("ssh session: parse_destination", "[integration][ssh]") {
  ssh::Target base;
  base.key_file = "/keys/id";
  base.known_hosts = "/keys/known_hosts";

  auto full = ssh::parse_destination("deploy@bastion.example:2222", base);
  INFO(why(full));
  REQUIRE(full.has_value());
  CHECK(full->user == "deploy");
  CHECK(full->host == "bastion.example");
  CHECK(full->port == 2222);
  CHECK(full->key_file == "/keys/id");
  CHECK(full->known_hosts == "/keys/known_hosts");

  auto host_port = ssh::parse_destination("10.0.0.1:2200", base);
  REQUIRE(host_port.has_value());
  CHECK(host_port->host == "10.0.0.1");
  CHECK(host_port->port == 2200);

  auto user_host = ssh::parse_destination("ops@gw", base);
  REQUIRE(user_host.has_value());
  CHECK(user_host->user == "ops");
  CHECK(user_host->host == "gw");
  CHECK(user_host->port == 22);

  auto bare = ssh::parse_destination("gw", base);
  REQUIRE(bare.has_value());
  CHECK(bare->host == "gw");
  CHECK(bare->port == 22);

  CHECK_FALSE(ssh::parse_destination("gw:notaport", base).has_value());
  CHECK_FALSE(ssh::parse_destination("gw:70000", base).has_value());
  CHECK_FALSE(ssh::parse_destination("", base).has_value());
}

TEST_CASE("ssh connections: one session per host for a run", "[integration][ssh]") {
  const Service* server = sshd();
  if (!server) return;
  ssh::Connections connections;
  ssh::Host web0{"servers.web[0]", target_of(*server), nlohmann::json::object()};
  ssh::Host web1{"servers.web[1]", target_of(*server), nlohmann::json::object()};

  auto first = connections.get(web0);
  INFO(why(first));
  REQUIRE(first.has_value());
  auto second = connections.get(web0);
  REQUIRE(second.has_value());
  CHECK(*first == *second);

  auto other = connections.get(web1);
  REQUIRE(other.has_value());
  CHECK(*other != *first);

  auto result = (*second)->run("echo reused");
  REQUIRE(result.has_value());
  CHECK(result->output == "reused\n");

  SECTION("many threads asking at once get one session") {
    ssh::Host web2{"servers.web[2]", target_of(*server), nlohmann::json::object()};
    std::vector<ssh::Session*> got(6, nullptr);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < got.size(); ++i)
      threads.emplace_back([&, i] {
        auto s = connections.get(web2);
        if (s) got[i] = *s;
      });
    for (auto& t : threads) t.join();
    std::set<ssh::Session*> distinct(got.begin(), got.end());
    CHECK(distinct.size() == 1);
    CHECK(*distinct.begin() != nullptr);
  }
  SECTION("drop() connects again on the next get()") {
    connections.drop("servers.web[0]");
    auto again = connections.get(web0);
    INFO(why(again));
    REQUIRE(again.has_value());
    auto r = (*again)->run("echo new");
    REQUIRE(r.has_value());
    CHECK(r->output == "new\n");
  }
  SECTION("a host that cannot be reached is an error, for that host only") {
    ssh::Host down{"servers.down[0]", target_of(*server), nlohmann::json::object()};
    auto port = process::free_local_port();
    REQUIRE(port.has_value());
    down.target.port = *port;
    auto failed = connections.get(down);
    REQUIRE_FALSE(failed.has_value());
    CHECK(failed.error().code() == ErrorCode::Unavailable);
    auto still = connections.get(web0);
    REQUIRE(still.has_value());
    CHECK(*still == *first);
  }
}

// ---------------------------------------------------------------------------
// The multi-host test fixture (tests/support/start-ssh-hosts.sh), through
// Session: what the fleet tests build on.

namespace {

// N hosts from start-ssh-hosts.sh, stopped when destroyed.
class TestHosts {
 public:
  explicit TestHosts(int count) {
    auto started = keel::testing::run({keel::testing::support_script("start-ssh-hosts.sh"), dir_.path, std::to_string(count)});
    INFO(why(started));
    REQUIRE(started.has_value());
    running_ = true;
    env_ = keel::testing::read_env_file(dir_ / "hosts.env");
  }
  ~TestHosts() {
    if (running_) (void)keel::testing::run({keel::testing::support_script("stop-ssh-hosts.sh"), dir_.path});
  }
  TestHosts(const TestHosts&) = delete;
  TestHosts& operator=(const TestHosts&) = delete;

  // A value of hosts.env without the quotes around lists.
  std::string env(const std::string& key) const {
    auto it = env_.find(key);
    if (it == env_.end()) return "";
    std::string v = it->second;
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  // Host i (1-based) as a strict Target.
  ssh::Target target(int i) const {
    std::istringstream ports(env("SSH_HOSTS_PORTS")), addrs(env("SSH_HOSTS_ADDRS"));
    std::string port, addr;
    for (int k = 0; k < i; ++k) {
      ports >> port;
      addrs >> addr;
    }
    ssh::Target t;
    t.host = addr;
    t.port = std::stoi(port);
    t.user = env("SSH_HOSTS_USER");
    t.key_file = env("SSH_HOSTS_KEY");
    t.known_hosts = env("SSH_HOSTS_KNOWN_HOSTS");
    t.timeout = 10s;
    return t;
  }
  void ctl(const std::string& command, int i) const {
    auto done = keel::testing::run({keel::testing::support_script("ssh-host-ctl.sh"), dir_.path, command, std::to_string(i)});
    INFO(why(done));
    REQUIRE(done.has_value());
  }
  // Where host i's /opt/keel is on this machine.
  std::string opt_keel(int i) const { return dir_ / ("h" + std::to_string(i) + "/opt-keel"); }

 private:
  TempDir dir_{"ssh-hosts"};
  std::map<std::string, std::string> env_;
  bool running_ = false;
};

}  // namespace

TEST_CASE("ssh hosts: each host has its own /opt/keel, goes down, comes back, changes its key",
          "[integration][ssh][hosts]") {
  if (!process::running_as_root()) {
    WARN("skipped: start-ssh-hosts.sh needs root (namespaces, sshd)");
    return;
  }
  TestHosts hosts(2);
  CHECK(hosts.env("SSH_HOSTS_COUNT") == "2");
  auto h1 = connect(hosts.target(1));
  auto h2 = connect(hosts.target(2));

  // Separate /opt/keel, visible from here under the host's directory.
  REQUIRE(h1->write_file("/opt/keel/marker", "h1", 0600).has_value());
  auto seen = h2->run("test -e /opt/keel/marker");
  REQUIRE(seen.has_value());
  CHECK(seen->exit_status == 1);
  CHECK(read_all(hosts.opt_keel(1) + "/marker") == "h1");
  CHECK_FALSE(files::exists("/opt/keel/marker"));  // not on the real file system

  // A process left running under setsid dies with its host.
  auto bg = h1->run("setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!");
  REQUIRE(bg.has_value());
  long pid = std::stol(bg->output);
  // The background job may not have exec'd sleep yet when `echo` answers.
  CHECK(keel::testing::eventually([&] { return process::process_alive(pid, "sleep"); }, 5s));
  h1.reset();
  hosts.ctl("stop", 1);
  CHECK(keel::testing::eventually([&] { return !process::process_alive(pid, "sleep"); }, 5s));
  CHECK(connect_error(hosts.target(1)).code() == ErrorCode::Unavailable);
  // The other host is not affected.
  auto still = h2->run("echo up");
  REQUIRE(still.has_value());
  CHECK(still->output == "up\n");

  // Back, same key, same files.
  hosts.ctl("start", 1);
  h1 = connect(hosts.target(1));
  auto kept = h1->run("cat /opt/keel/marker");
  REQUIRE(kept.has_value());
  CHECK(kept->output == "h1");

  // A new host key: known_hosts still has the old one.
  h2.reset();
  hosts.ctl("rekey", 2);
  Error error = connect_error(hosts.target(2));
  CHECK(error.code() == ErrorCode::Conflict);
  CHECK_THAT(error.message(), Catch::Contains("changed", Catch::CaseSensitive::No));
}

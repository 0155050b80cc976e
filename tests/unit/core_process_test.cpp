#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <thread>

#include "core/process.h"
#include "tests/support/eventually.h"

using namespace keel;
using namespace std::chrono_literals;
namespace process = keel::process;

namespace {

using keel::testing::eventually;

process::Options sh(const std::string& script) {
  process::Options options;
  options.argv = {"sh", "-c", script};
  return options;
}

// Waits for a condition with a deadline instead of a fixed sleep.
// Reads from fd until `want` bytes arrived or EOF.
std::string read_n(int fd, size_t want) {
  std::string out;
  char buf[256];
  while (out.size() < want) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

TEST_CASE("run captures output and the exit status", "[unit][process]") {
  auto outcome = process::run(sh("echo hi; exit 3"));
  REQUIRE(outcome);
  CHECK(outcome->exit_code == 3);
  CHECK(outcome->signal == 0);
  CHECK_FALSE(outcome->timed_out);
  CHECK(outcome->output == "hi\n");
  CHECK(outcome->describe() == "exit status 3");
}

TEST_CASE("run merges stderr into the output", "[unit][process]") {
  auto outcome = process::run(sh("echo out; echo err >&2"));
  REQUIRE(outcome);
  CHECK(outcome->exit_code == 0);
  CHECK(outcome->output == "out\nerr\n");
}

TEST_CASE("run passes env and cwd, and can discard output", "[unit][process]") {
  auto options = sh("echo \"$KEEL_TEST_VALUE\"; pwd -P");
  options.env["KEEL_TEST_VALUE"] = "forty two";
  options.cwd = "/";
  auto outcome = process::run(options);
  REQUIRE(outcome);
  CHECK(outcome->output == "forty two\n/\n");

  options.capture_output = false;
  outcome = process::run(options);
  REQUIRE(outcome);
  CHECK(outcome->exit_code == 0);
  CHECK(outcome->output.empty());
}

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

}  // namespace

TEST_CASE("children get a minimal environment: keel's secrets stay with keel", "[unit][process]") {
  // Issue 14, item 1: initdb/pg_ctl, and so the postmaster, inherited
  // KEEL_STATE_KEY, cloud tokens and the sources of sensitive variables.
  ScopedEnv key("KEEL_STATE_KEY", "state-key-never-in-a-child");
  ScopedEnv token("DIGITALOCEAN_TOKEN", "cloud-token-never-in-a-child");
  ScopedEnv locale("LC_TIME", "C.UTF-8");
  auto options = sh("env");
  options.env["PGPASSWORD"] = "given-explicitly";
  auto outcome = process::run(options);
  REQUIRE(outcome);
  const std::string& env = outcome->output;
  CHECK(env.find("state-key-never-in-a-child") == std::string::npos);
  CHECK(env.find("cloud-token-never-in-a-child") == std::string::npos);
  CHECK(env.find("PATH=") != std::string::npos);
  CHECK(env.find("LC_TIME=C.UTF-8") != std::string::npos);
  CHECK(env.find("PGPASSWORD=given-explicitly") != std::string::npos);

  SECTION("a Child, too") {
    process::Child::Spec spec;
    spec.argv = {"env"};
    auto child = process::Child::start(spec);
    REQUIRE(child);
    child->close_stdin();
    const std::string out = read_n(child->stdout_fd(), 1 << 20);
    child->wait();
    CHECK(out.find("cloud-token-never-in-a-child") == std::string::npos);
    CHECK(out.find("state-key-never-in-a-child") == std::string::npos);
    CHECK(out.find("PATH=") != std::string::npos);
  }
  SECTION("plugins get the rest of keel's environment, but never KEEL_STATE_KEY") {
    options.environment = process::Environment::InheritExceptKeel;
    auto inherited = process::run(options);
    REQUIRE(inherited);
    CHECK(inherited->output.find("cloud-token-never-in-a-child") != std::string::npos);
    CHECK(inherited->output.find("state-key-never-in-a-child") == std::string::npos);
  }
}

TEST_CASE("children create no file writable by others, whatever keel's umask", "[unit][process]") {
  char dir_template[] = "/tmp/keel-umask.XXXXXX";
  REQUIRE(::mkdtemp(dir_template));
  const std::string dir = dir_template;
  const mode_t old = ::umask(0);
  // `touch` creates with 0666 and trusts the umask, as redis does with its log.
  auto outcome = process::run(sh("touch '" + dir + "/f' && stat -c %a '" + dir + "/f'"));
  ::umask(old);
  REQUIRE(outcome);
  CHECK(outcome->output == "644\n");
  (void)process::run(sh("rm -rf '" + dir + "'"));
}

TEST_CASE("a missing binary is an Unavailable error", "[unit][process]") {
  process::Options options;
  options.argv = {"keel-no-such-binary-xyz", "--help"};
  auto outcome = process::run(options);
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().code() == ErrorCode::Unavailable);
  CHECK(outcome.error().message() == "cannot run keel-no-such-binary-xyz: No such file or directory");

  options.argv = {"/nonexistent/keel-tool"};
  outcome = process::run(options);
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().code() == ErrorCode::Unavailable);

  options.argv = {"sh", "-c", "true"};
  options.cwd = "/nonexistent-dir-for-keel";
  outcome = process::run(options);
  REQUIRE_FALSE(outcome);
  CHECK_THAT(outcome.error().message(), Catch::Contains("chdir /nonexistent-dir-for-keel"));
}

TEST_CASE("a timeout kills the whole process group", "[unit][process]") {
  // The background sleep shares the group and keeps the output pipe open: it
  // must die too, or run() would wait for it.
  auto options = sh("sleep 100 & echo $!; sleep 100");
  options.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  auto outcome = process::run(options);
  auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(outcome);
  CHECK(outcome->timed_out);
  CHECK(outcome->signal == SIGKILL);
  CHECK(outcome->describe() == "timed out after 0.3s");
  CHECK(elapsed < 30s);

  long background = std::atol(outcome->output.c_str());
  REQUIRE(background > 0);
  CHECK(eventually([&] { return !process::process_alive(background, "sleep"); }));
}

TEST_CASE("a daemon that keeps the output pipe does not hold run() up", "[unit][process]") {
  // setsid puts the sleep outside our process group, as a daemonising server
  // would be; run() returns shortly after sh itself exits.
  auto start = std::chrono::steady_clock::now();
  auto outcome = process::run(sh("setsid sleep 100 & echo $!"));
  auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(outcome);
  CHECK(outcome->exit_code == 0);
  CHECK(elapsed < 50s);
  long daemon = std::atol(outcome->output.c_str());
  REQUIRE(daemon > 0);
  if (process::process_alive(daemon, "sleep")) ::kill(static_cast<pid_t>(daemon), SIGKILL);
}

TEST_CASE("stdin_data reaches the child, even beyond a pipe buffer", "[unit][process]") {
  process::Options options;
  options.argv = {"cat"};
  options.stdin_data = "hello\n";
  auto outcome = process::run(options);
  REQUIRE(outcome);
  CHECK(outcome->output == "hello\n");

  // Larger than the 64 KiB pipe buffers both ways: needs poll, not sequencing.
  std::string big;
  for (int i = 0; big.size() < 300000; ++i) big += std::to_string(i) + "\n";
  options.stdin_data = big;
  outcome = process::run(options);
  REQUIRE(outcome);
  CHECK(outcome->exit_code == 0);
  CHECK(outcome->output == big);
}

TEST_CASE("a child that ignores its input does not break run()", "[unit][process]") {
  auto options = sh("exit 0");
  options.stdin_data = std::string(1 << 20, 'x');  // EPIPE, not SIGPIPE
  auto outcome = process::run(options);
  REQUIRE(outcome);
  CHECK(outcome->exit_code == 0);
}

TEST_CASE("captured output keeps the last MiB", "[unit][process]") {
  auto outcome = process::run(sh("head -c 3000000 /dev/zero; echo; echo the-end"));
  REQUIRE(outcome);
  CHECK(outcome->output.size() == (1u << 20));
  CHECK(outcome->output.substr(outcome->output.size() - 8) == "the-end\n");
}

TEST_CASE("a signal death is reported", "[unit][process]") {
  auto outcome = process::run(sh("kill -9 $$"));
  REQUIRE(outcome);
  CHECK(outcome->exit_code == -1);
  CHECK(outcome->signal == SIGKILL);
  CHECK(outcome->describe() == "killed by signal 9");
}

TEST_CASE("run_checked turns failure into an error with the last lines", "[unit][process]") {
  auto ok = process::run_checked(sh("echo fine"));
  REQUIRE(ok);
  CHECK(ok->output == "fine\n");

  auto failed = process::run_checked(
      sh("i=1; while [ $i -le 30 ]; do echo line$i; i=$((i+1)); done; exit 4"));
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code() == ErrorCode::Internal);
  const std::string& msg = failed.error().message();
  CHECK_THAT(msg, Catch::StartsWith("sh: exit status 4: line11\n"));
  CHECK_THAT(msg, Catch::EndsWith("line30"));
  CHECK_THAT(msg, !Catch::Contains("line10"));

  auto slow = sh("sleep 100");
  slow.timeout = 100ms;
  auto timed_out = process::run_checked(slow);
  REQUIRE_FALSE(timed_out);
  CHECK(timed_out.error().code() == ErrorCode::Timeout);
  CHECK(timed_out.error().message() == "sh: timed out after 0.1s");
}

TEST_CASE("run_as switches user, or refuses without root", "[unit][process]") {
  auto options = sh("id -u; echo $HOME $USER");
  options.cwd = "/";
  if (process::running_as_root()) {
    auto nobody = process::lookup_user("nobody");
    REQUIRE(nobody);
    options.run_as = *nobody;
    auto outcome = process::run(options);
    REQUIRE(outcome);
    CHECK(outcome->output ==
          std::to_string(nobody->uid) + "\n" + nobody->home + " " + nobody->name + "\n");
  } else {
    auto root = process::lookup_user("root");
    REQUIRE(root);
    options.run_as = *root;
    auto outcome = process::run(options);
    REQUIRE_FALSE(outcome);
    CHECK(outcome.error().code() == ErrorCode::PermissionDenied);
  }
}

TEST_CASE("lookup_user and which", "[unit][process]") {
  auto root = process::lookup_user("root");
  REQUIRE(root);
  CHECK(root->uid == 0);
  CHECK(root->name == "root");
  auto missing = process::lookup_user("keel-no-such-user");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code() == ErrorCode::NotFound);

  CHECK_FALSE(process::which("sh").empty());
  CHECK(process::which("/bin/sh") == "/bin/sh");
  CHECK(process::which("keel-no-such-binary-xyz").empty());
  CHECK(process::which("/nonexistent/sh").empty());
}

TEST_CASE("Child talks over pipes and reports its exit", "[unit][process]") {
  auto child = process::Child::start({{"cat"}, {}});
  REQUIRE(child);
  CHECK(process::process_alive(child->pid(), "cat"));
  REQUIRE(::write(child->stdin_fd(), "ping\n", 5) == 5);
  CHECK(read_n(child->stdout_fd(), 5) == "ping\n");
  child->close_stdin();
  auto outcome = child->wait();
  CHECK(outcome.exit_code == 0);
  CHECK(outcome.describe() == "exit status 0");
}

TEST_CASE("Child stderr is separate and env reaches the child", "[unit][process]") {
  auto child = process::Child::start(
      {{"sh", "-c", "echo \"$KEEL_PLUGIN_X\" >&2; exit 5"}, {{"KEEL_PLUGIN_X", "log line"}}});
  REQUIRE(child);
  CHECK(read_n(child->stderr_fd(), 9) == "log line\n");
  CHECK(read_n(child->stdout_fd(), 1).empty());  // EOF
  CHECK(child->wait().exit_code == 5);
}

TEST_CASE("writing to a dead child's stdin fails with EPIPE instead of killing us",
          "[unit][process]") {
  auto child = process::Child::start({{"sh", "-c", "exit 0"}, {}});
  REQUIRE(child);
  child->wait();
  errno = 0;
  CHECK(::write(child->stdin_fd(), "x", 1) == -1);
  CHECK(errno == EPIPE);
}

TEST_CASE("Child destructor kills and reaps a running child", "[unit][process]") {
  long pid = 0;
  {
    auto child = process::Child::start({{"sleep", "100"}, {}});
    REQUIRE(child);
    pid = child->pid();
    // Until the child has called exec, its command line is still ours.
    CHECK(testing::eventually([&] { return process::process_alive(pid, "sleep"); }));
    CHECK_FALSE(process::process_alive(pid, "keel-not-this-one"));
    process::Child moved = std::move(*child);
    CHECK(moved.pid() == pid);
  }
  CHECK_FALSE(process::process_alive(pid));  // reaped: no zombie left

  auto missing = process::Child::start({{"keel-no-such-plugin"}, {}});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code() == ErrorCode::Unavailable);
}

TEST_CASE("Child::kill delivers a signal", "[unit][process]") {
  auto child = process::Child::start({{"sleep", "100"}, {}});
  REQUIRE(child);
  child->kill(SIGTERM);
  auto outcome = child->wait();
  CHECK(outcome.signal == SIGTERM);
  CHECK(outcome.describe() == "killed by signal 15");
}

TEST_CASE("process_alive", "[unit][process]") {
  CHECK(process::process_alive(::getpid()));
  CHECK_FALSE(process::process_alive(::getpid(), "keel-no-such-name-xyz"));
  CHECK_FALSE(process::process_alive(0));
  CHECK_FALSE(process::process_alive(-1));
}

TEST_CASE("free_local_port and port_open", "[unit][process]") {
  auto port = process::free_local_port();
  REQUIRE(port);
  CHECK(*port > 0);
  CHECK(*port < 65536);

  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(*port));
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  CHECK(process::port_open(*port));
  ::close(fd);
  CHECK_FALSE(process::port_open(*port));
}

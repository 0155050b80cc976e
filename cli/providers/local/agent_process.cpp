#include "cli/providers/local/agent_process.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include "core/log.h"

#include "cli/agents/client.h"
#include "cli/providers/local/common.h"
#include "core/files.h"
#include "core/http_client.h"
#include "core/process.h"

namespace keel::providers::local::agent {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kProgram = "keel-agent";
constexpr auto kStopTimeout = 5s;

std::string errno_text(int err) { return std::strerror(err); }

bool is_executable(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

// --- detached spawn ---------------------------------------------------------------

// What the forked processes report to keel through a CLOEXEC pipe: the
// daemon's pid (from the intermediate child), then nothing if exec worked
// (the pipe closes) or the errno of a failed step.
struct Report {
  long pid = 0;
  int err = 0;
  int stage = 0;  // 0 fork, 1 chdir, 2 exec
};

void write_report(int fd, const Report& report) {
  ssize_t n;
  do {
    n = ::write(fd, &report, sizeof report);
  } while (n < 0 && errno == EINTR);
}

bool read_report(int fd, Report& report) {
  ssize_t n;
  do {
    n = ::read(fd, &report, sizeof report);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof report);
}

// The daemon's side, between fork and exec: async-signal-safe calls only.
[[noreturn]] void exec_daemon(const char* path, char* const* argv, char* const* envp, const char* cwd, int stdin_fd,
                              int log_fd, int report_fd, int max_fd) {
  if (::chdir(cwd) != 0) {
    write_report(report_fd, {0, errno, 1});
    ::_exit(127);
  }
  ::dup2(stdin_fd, 0);
  ::dup2(log_fd, 1);
  ::dup2(log_fd, 2);
  ::umask(::umask(0) | 022);  // as process::run gives every child
  // keel ignores SIGPIPE and may block signals in threads: the daemon starts
  // with the defaults.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // No descriptor of keel's (the state lock above all) may live on in the
  // daemon: mark them all close-on-exec.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  ::execve(path, argv, envp);
  write_report(report_fd, {0, errno, 2});
  ::_exit(127);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Forks twice so that the daemon is nobody's child but init's, in a session
// of its own (no terminal, no signals from the shell's Ctrl-C).
Result<long> spawn_detached(const std::string& binary, const std::vector<std::string>& args,
                            const std::string& cwd, const std::string& log_path) {
  // The agent's environment is the minimal one (core/process.h): state keys,
  // cloud tokens and the stack's secrets stay with keel. Like a service
  // manager's environment.
  std::vector<std::string> env_strings;
  for (const auto& [name, value] : process::child_environment(process::Environment::Minimal))
    env_strings.push_back(fmt::format("{}={}", name, value));
  std::vector<char*> argv, envp;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const long open_max = ::sysconf(_SC_OPEN_MAX);
  const int max_fd = static_cast<int>(std::clamp<long>(open_max, 256, 65536));

  Fd null_fd{::open("/dev/null", O_RDONLY | O_CLOEXEC)};
  if (null_fd.fd < 0) return fail(ErrorCode::Internal, fmt::format("open /dev/null: {}", errno_text(errno)));
  // The log is never a link: keel would append the agent's output to
  // whatever it points to.
  auto log = files::AppendFile::open(log_path, 0600);
  if (!log) return fail(log.error());
  Fd log_fd{::fcntl(log->fd(), F_DUPFD_CLOEXEC, 0)};
  if (log_fd.fd < 0) return fail(ErrorCode::Internal, fmt::format("dup {}: {}", log_path, errno_text(errno)));
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return fail(ErrorCode::Internal, fmt::format("pipe: {}", errno_text(errno)));
  Fd report_read{pipe_fds[0]}, report_write{pipe_fds[1]};

  const pid_t child = ::fork();
  if (child < 0) return fail(ErrorCode::Internal, fmt::format("fork: {}", errno_text(errno)));
  if (child == 0) {
    ::setsid();
    const pid_t daemon = ::fork();
    if (daemon < 0) {
      write_report(report_write.fd, {0, errno, 0});
      ::_exit(1);
    }
    if (daemon > 0) {
      write_report(report_write.fd, {static_cast<long>(daemon), 0, 0});
      ::_exit(0);
    }
    exec_daemon(binary.c_str(), argv.data(), envp.data(), cwd.c_str(), null_fd.fd, log_fd.fd, report_write.fd,
                max_fd);
  }
  ::close(report_write.fd);
  report_write.fd = -1;
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  Report first;
  if (!read_report(report_read.fd, first) || first.pid <= 0)
    return fail(ErrorCode::Internal, fmt::format("cannot start {}: fork: {}", binary, errno_text(first.err)));
  Report second;
  if (read_report(report_read.fd, second)) {
    const char* step = second.stage == 1 ? "chdir" : "exec";
    return fail(second.err == ENOENT && second.stage == 2 ? ErrorCode::Unavailable : ErrorCode::Internal,
                fmt::format("cannot start {}: {}: {}", binary, step, errno_text(second.err)));
  }
  return first.pid;
}

// --- helpers ------------------------------------------------------------------

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string log_tail(const Paths& paths, std::size_t offset) {
  std::string tail = last_lines(read_from(paths.log, offset), 15);
  return tail.empty() ? "agent.log is empty" : fmt::format("{} says:\n{}", paths.log, tail);
}

}  // namespace

Paths paths_in(const std::string& dir) {
  return Paths{dir,
               join(dir, "agent.yaml"),
               join(dir, "agent.token"),
               join(dir, "agent-key.pem"),
               join(dir, "agent-cert.pem"),
               join(dir, "ca.pem"),
               join(dir, "agent-state"),
               join(dir, "agent.pid"),
               join(dir, "agent.log"),
               join(dir, "backup.key")};
}

Result<std::string> find_binary() {
  if (const char* env = std::getenv("KEEL_AGENT_BIN"); env && *env) {
    if (is_executable(env)) return std::string(env);
    return fail(ErrorCode::Unavailable, fmt::format("KEEL_AGENT_BIN={} is not an executable file", env));
  }
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::string beside = (self.parent_path() / kProgram).string();
    if (is_executable(beside)) return beside;
  }
  if (std::string on_path = process::which(kProgram); !on_path.empty()) return on_path;
  return fail(ErrorCode::Unavailable,
              "local servers run keel-agent, which was not found: not in KEEL_AGENT_BIN, not beside keel, not on "
              "PATH (build it with `cmake --build BUILD --target keel-agent`, or set `agent: false` on the server)");
}

nlohmann::json render_config(const Paths& paths, int port, const nlohmann::json& checks,
                             const nlohmann::json& backups) {
  nlohmann::json config{{"listen", fmt::format("127.0.0.1:{}", port)},
                        {"token_file", paths.token},
                        {"tls", {{"cert", paths.cert}, {"key", paths.key}}},
                        {"state_dir", paths.state_dir},
                        {"checks", nlohmann::json::object()}};
  // The definitions as the agent wants them: without the stack's `on:`.
  if (checks.is_object())
    for (auto it = checks.begin(); it != checks.end(); ++it) {
      nlohmann::json definition = it.value();
      if (definition.is_object()) definition.erase("on");
      config["checks"][it.key()] = std::move(definition);
    }
  // Only hosts that run jobs name a key file: the agent requires it then.
  if (backups.is_object() && !backups.empty()) {
    config["backup_key_file"] = paths.backup_key;
    config["backups"] = backups;
  }
  return config;
}

Status write_config(const Paths& paths, const nlohmann::json& config) {
  std::string text =
      "# keel-agent config, written by keel's local provider (keel apply). JSON is YAML too.\n"
      "# Changes made here are replaced at the next apply: edit the stack's `checks:` and `backups:` instead.\n";
  text += config.dump(2);
  text += '\n';
  return files::write_atomic(paths.config, text, 0600);
}

std::optional<long> live_pid(const Paths& paths) {
  auto pid = read_pid_file(paths.pid);
  if (pid && process::process_alive(*pid, paths.config)) return pid;
  return std::nullopt;
}

bool running(const Paths& paths, int port) { return live_pid(paths).has_value() && port > 0 && process::port_open(port); }

Status stop(const Paths& paths) {
  std::vector<long> pids = processes_matching(paths.config);
  if (auto pid = live_pid(paths); pid && std::find(pids.begin(), pids.end(), *pid) == pids.end()) pids.push_back(*pid);
  for (long pid : pids) {
    logging::debug(fmt::runtime("local: stopping keel-agent {} of {}"), pid, paths.dir);
    if (auto st = stop_process(pid, paths.config, SIGTERM, kStopTimeout); !st)
      return fail(st.error().with_context("stop keel-agent"));
  }
  if (files::exists(paths.pid)) (void)files::remove_all(paths.pid);
  return {};
}

Result<long> start(const StartRequest& request) {
  const Paths& paths = request.paths;
  if (process::port_open(request.port))
    return fail(ErrorCode::Conflict, fmt::format("port {} on 127.0.0.1 is in use", request.port));
  // A pid file left by a killed agent would pass for the new one.
  if (auto st = files::remove_all(paths.pid); !st) return fail(st.error());
  const std::size_t log_start = file_size(paths.log);
  auto pid = spawn_detached(request.binary, {request.binary, "--config", paths.config}, paths.dir, paths.log);
  if (!pid) return fail(pid.error());
  if (auto st = files::write_atomic(paths.pid, fmt::format("{}\n", *pid), 0644); !st) {
    (void)stop_process(*pid, paths.config, SIGKILL, kStopTimeout);
    return fail(st.error());
  }

  http::CurlHttpClient curl;
  agents::AgentClient client(curl, {fmt::format("https://127.0.0.1:{}", request.port), request.ca_pem, ""},
                             {.timeout = 1s, .attempts = 1, .reuse_connections = false});
  std::string last_error;
  auto ready = [&]() -> Result<bool> {
    if (!process::process_alive(*pid, paths.config)) {
      const std::string log = lower(read_from(paths.log, log_start));
      const bool port_taken = log.find("in use") != std::string::npos || process::port_open(request.port);
      return fail(port_taken ? ErrorCode::Conflict : ErrorCode::Unavailable,
                  fmt::format("keel-agent exited at start{}; {}",
                              port_taken ? fmt::format(" (port {} is taken)", request.port) : "",
                              log_tail(paths, log_start)));
    }
    auto pinged = client.ping();
    if (pinged) return true;
    last_error = pinged.error().message();
    // Refused means "not listening yet"; anything else after a connection
    // (a bad certificate, a foreign server) will not get better.
    if (pinged.error().code() == ErrorCode::Protocol && process::port_open(request.port)) {
      return fail(ErrorCode::Protocol, fmt::format("keel-agent on port {} does not answer as expected: {}",
                                                   request.port, last_error));
    }
    return false;
  };
  auto waited = wait_for(request.timeout, ready, fmt::format("keel-agent to answer on 127.0.0.1:{}", request.port));
  if (!waited) {
    (void)stop_process(*pid, paths.config, SIGTERM, kStopTimeout);
    (void)files::remove_all(paths.pid);
    Error e = waited.error();
    if (e.code() == ErrorCode::Timeout)
      e = Error(ErrorCode::Timeout, fmt::format("{} (last: {}); {}", e.message(), last_error, log_tail(paths, log_start)));
    return fail(std::move(e));
  }
  return *pid;
}

}  // namespace keel::providers::local::agent

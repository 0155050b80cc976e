#include "core/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <system_error>

#include "core/files.h"

extern char** environ;

namespace keel::process {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kMaxOutput = 1 << 20;  // captured output keeps the last 1 MiB
// After the direct child exits, how long to keep reading output that a
// background grandchild (a daemon that kept our pipe) may still write.
constexpr milliseconds kDrainGrace{500};

std::string errno_text(int err) { return std::generic_category().message(err); }

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

struct Pipe {
  int read = -1, write = -1;
};

// Both ends CLOEXEC: a child spawned concurrently by another thread must not
// inherit them (it would hold our pipes open and hide EOF).
Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail(ErrorCode::Internal, "pipe: " + errno_text(errno));
  return Pipe{fds[0], fds[1]};
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

bool is_executable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string which_in(const std::string& name, const std::string& path_var) {
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) return is_executable(name) ? name : std::string();
  std::stringstream dirs(path_var);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (is_executable(candidate)) return candidate;
  }
  return {};
}

// Everything the child needs, prepared before fork(): between fork and exec in
// a multi-threaded program only async-signal-safe calls are allowed (no
// malloc, no getpwnam, no initgroups).
struct ExecPlan {
  std::string name;  // argv[0] as given, for messages
  std::string path;  // the resolved binary
  std::vector<std::string> argv, env;
  std::string cwd;
  bool new_group = false;
  bool switch_user = false;
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// Where the child failed before exec, sent to the parent over a CLOEXEC pipe:
// a successful exec closes it, so reading zero bytes means "running".
enum class Stage : int { Exec, Chdir, Groups, Setgid, Setuid, Setup };
struct ExecFailure {
  Stage stage;
  int err;
};

// What Environment::Minimal keeps of keel's environment: enough for a tool
// to find its programs, its home, its language and its time zone.
bool minimal_variable(std::string_view name) {
  static constexpr std::string_view kKept[] = {"PATH",   "HOME",         "USER",         "LOGNAME",
                                               "LANG",   "LANGUAGE",     "TZ",           "TMPDIR",
                                               "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
                                               "KEEL_ALLOWED_NETWORKS"};
  if (name.starts_with("LC_")) return true;
  return std::find(std::begin(kKept), std::end(kKept), name) != std::end(kKept);
}

// Names added by keep_from_children (the variable a stack's backend URL
// reads, for one).
std::mutex g_hidden_mu;
std::set<std::string, std::less<>> g_hidden;

// keel's own secrets, never handed to any child: the state key, and the
// state backend's URL and password (PGPASSWORD), and what
// keep_from_children added.
bool keel_secret(std::string_view name) {
  if (name == "KEEL_STATE_KEY" || name == "KEEL_BACKEND" || name == "PGPASSWORD") return true;
  std::lock_guard lock(g_hidden_mu);
  return g_hidden.find(name) != g_hidden.end();
}

std::vector<std::string> env_strings(const std::map<std::string, std::string>& vars) {
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (const auto& [k, v] : vars) out.push_back(k + "=" + v);
  return out;
}

Status plan_user(ExecPlan& plan, const UserIds& user) {
  if (user.uid == ::geteuid() && user.gid == ::getegid()) return {};  // already them
  if (!running_as_root()) {
    return fail(ErrorCode::PermissionDenied,
                "cannot run " + plan.name + " as " + user.name + ": switching users needs root");
  }
  plan.switch_user = true;
  plan.user = user.name;
  plan.uid = user.uid;
  plan.gid = user.gid;
  plan.groups = {user.gid};
  if (!user.name.empty()) {  // the supplementary groups, as initgroups would set them
    int n = 64;
    std::vector<gid_t> groups(static_cast<size_t>(n));
    while (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &n) < 0) {
      groups.resize(static_cast<size_t>(n) * 2);
      n = static_cast<int>(groups.size());
    }
    groups.resize(static_cast<size_t>(n));
    plan.groups = std::move(groups);
  }
  return {};
}

Result<ExecPlan> make_plan(const std::vector<std::string>& argv, Environment base,
                           std::map<std::string, std::string> env, const std::string& cwd,
                           const std::optional<UserIds>& run_as, bool new_group) {
  if (argv.empty() || argv[0].empty()) return fail(ErrorCode::Internal, "run: empty argv");
  ExecPlan plan;
  plan.name = argv[0];
  plan.argv = argv;
  plan.cwd = cwd;
  plan.new_group = new_group;
  if (run_as) {
    if (auto st = plan_user(plan, *run_as); !st) return fail(st.error());
    // Set before the caller's env so that an explicit HOME still wins.
    env.try_emplace("HOME", run_as->home);
    env.try_emplace("USER", run_as->name);
    env.try_emplace("LOGNAME", run_as->name);
  }
  auto vars = child_environment(base, env);
  plan.path = which_in(argv[0], vars["PATH"]);
  plan.env = env_strings(vars);
  if (plan.path.empty()) {
    // Mirror what exec would say, without forking for nothing.
    int err = argv[0].find('/') != std::string::npos && ::access(argv[0].c_str(), F_OK) == 0 ? EACCES : ENOENT;
    return fail(err == ENOENT ? ErrorCode::Unavailable : ErrorCode::PermissionDenied,
                "cannot run " + argv[0] + ": " + errno_text(err));
  }
  return plan;
}

[[noreturn]] void child_fail(int report_fd, Stage stage, int err) {
  ExecFailure failure{stage, err};
  (void)!::write(report_fd, &failure, sizeof failure);
  ::_exit(127);
}

// Runs in the forked child: async-signal-safe calls only.
[[noreturn]] void exec_child(const ExecPlan& plan, char* const* argv, char* const* envp,
                             const int (&stdio)[3], int report_fd) {
  if (plan.new_group) ::setpgid(0, 0);
  // Move the three sources above 2 first, so that dup2 cannot clobber one
  // with another and always clears CLOEXEC on the target.
  int high[3];
  for (int i = 0; i < 3; ++i) {
    high[i] = ::fcntl(stdio[i], F_DUPFD_CLOEXEC, 3);
    if (high[i] < 0) child_fail(report_fd, Stage::Setup, errno);
  }
  for (int i = 0; i < 3; ++i) {
    if (::dup2(high[i], i) < 0) child_fail(report_fd, Stage::Setup, errno);
  }
  // Whatever keel's umask, nothing a child creates is writable by others
  // (redis opens its log 0666, trusting the umask).
  ::umask(::umask(0) | 022);
  // keel ignores SIGPIPE; SIG_IGN survives exec, so give children the default.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Descriptors opened elsewhere without CLOEXEC (a lock file, a socket) must
  // not leak into a long-lived child; older kernels lack this: best effort.
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  if (plan.switch_user) {
    if (::setgroups(plan.groups.size(), plan.groups.data()) != 0) child_fail(report_fd, Stage::Groups, errno);
    if (::setgid(plan.gid) != 0) child_fail(report_fd, Stage::Setgid, errno);
    if (::setuid(plan.uid) != 0) child_fail(report_fd, Stage::Setuid, errno);
  }
  // After switching user, so that the directory is checked with its rights.
  if (!plan.cwd.empty() && ::chdir(plan.cwd.c_str()) != 0) child_fail(report_fd, Stage::Chdir, errno);
  ::execve(plan.path.c_str(), argv, envp);
  child_fail(report_fd, Stage::Exec, errno);
}

Error exec_error(const ExecPlan& plan, ExecFailure failure) {
  std::string what = "cannot run " + plan.name;
  if (plan.switch_user) what += " as " + plan.user;
  switch (failure.stage) {
    case Stage::Exec: break;
    case Stage::Chdir: what += ": chdir " + plan.cwd; break;
    case Stage::Groups: what += ": setgroups"; break;
    case Stage::Setgid: what += ": setgid"; break;
    case Stage::Setuid: what += ": setuid"; break;
    case Stage::Setup: what += ": redirecting stdio"; break;
  }
  ErrorCode code = ErrorCode::Internal;
  if (failure.err == EACCES || failure.err == EPERM) {
    code = ErrorCode::PermissionDenied;
  } else if (failure.stage == Stage::Exec) {
    code = ErrorCode::Unavailable;
  } else if (failure.stage == Stage::Chdir && failure.err == ENOENT) {
    code = ErrorCode::NotFound;
  }
  return Error(code, what + ": " + errno_text(failure.err));
}

pid_t wait_for(pid_t pid, int* status) {
  pid_t r;
  do {
    r = ::waitpid(pid, status, 0);
  } while (r < 0 && errno == EINTR);
  return r;
}

// Forks and execs; returns once the child runs the new program (or failed to).
// The caller still owns (and closes) the three stdio descriptors.
Result<pid_t> spawn(const ExecPlan& plan, const int (&stdio)[3]) {
  std::vector<char*> argv, envp;
  for (const auto& a : plan.argv) argv.push_back(const_cast<char*>(a.c_str()));
  for (const auto& e : plan.env) envp.push_back(const_cast<char*>(e.c_str()));
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  auto report = make_pipe();
  if (!report) return fail(report.error());
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(report->read);
    ::close(report->write);
    return fail(ErrorCode::Internal, "cannot run " + plan.name + ": fork: " + errno_text(err));
  }
  if (pid == 0) exec_child(plan, argv.data(), envp.data(), stdio, report->write);
  ::close(report->write);
  // Also from the parent, so that a timeout arriving before the child's own
  // setpgid still finds the group (EACCES once it has exec'd: harmless).
  if (plan.new_group) ::setpgid(pid, pid);
  ExecFailure failure{};
  ssize_t n;
  do {
    n = ::read(report->read, &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  ::close(report->read);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    int status = 0;
    wait_for(pid, &status);
    return fail(exec_error(plan, failure));
  }
  return pid;
}

Outcome outcome_from_status(int status) {
  Outcome out;
  if (WIFEXITED(status)) {
    out.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out.signal = WTERMSIG(status);
  }
  return out;
}

// The state of one run(): the child, the ends of its pipes, what is left to
// write and what was read.
struct Pump {
  pid_t pid = -1;
  int pidfd = -1;  // readable when the child exits; -1: fall back to ticking
  int out_fd = -1, in_fd = -1;
  std::string_view pending;
  std::string output;
  size_t keep_first = 0;  // Options::max_output
  bool truncated = false;
  bool group = false;            // the child leads its own process group
  bool kill_group_on_exit = false;
  bool exited = false;  // the child has exited (a zombie until reaped)
  bool reaped = false;  // ... and `status` holds its wait status
  int status = 0;
  bool timed_out = false;
};

void keep_output(Pump& p, const char* data, size_t n) {
  if (p.keep_first > 0) {
    size_t room = p.keep_first - std::min(p.keep_first, p.output.size());
    p.output.append(data, std::min(n, room));
    if (n > room) p.truncated = true;
    return;
  }
  p.output.append(data, n);
  // Trim in big steps so that a chatty child costs amortised O(1).
  if (p.output.size() > 2 * kMaxOutput) p.output.erase(0, p.output.size() - kMaxOutput);
}

// Reads what the pipe holds, at most `rounds` buffers so that a writer as
// fast as we are cannot keep us here past a deadline.
void read_output(Pump& p, int rounds = 16) {
  char buf[65536];
  for (int i = 0; i < rounds;) {
    ssize_t n = ::read(p.out_fd, buf, sizeof buf);
    if (n > 0) {
      keep_output(p, buf, static_cast<size_t>(n));
      ++i;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close_fd(p.out_fd);  // EOF, or an error that will not go away
    return;
  }
}

void write_input(Pump& p) {
  while (!p.pending.empty()) {
    ssize_t n = ::write(p.in_fd, p.pending.data(), p.pending.size());
    if (n > 0) {
      p.pending.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    p.pending = {};  // EPIPE: the child does not read its input; not our error
  }
  close_fd(p.in_fd);  // EOF tells the child the input is complete
}

void try_reap(Pump& p) {
  if (p.exited) return;
  if (p.kill_group_on_exit) {
    // Notice the exit but leave the zombie: while it exists its pid (the
    // group id) cannot be reused, so the final kill(-pid) hits only our group.
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(p.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == p.pid) {
      p.exited = true;
      close_fd(p.pidfd);
    }
    return;
  }
  if (::waitpid(p.pid, &p.status, WNOHANG) == p.pid) {
    p.exited = p.reaped = true;
    close_fd(p.pidfd);
  }
}

// How long output may still arrive after the child exited: a grace for
// background children that inherited the pipe; when they are to be killed
// anyway, never past the timeout.
Clock::time_point drain_deadline(const Pump& p, Clock::time_point now, Clock::time_point deadline) {
  auto until = now + kDrainGrace;
  if (p.kill_group_on_exit && !p.timed_out) until = std::min(until, std::max(deadline, now));
  return until;
}

int poll_wait_ms(const Pump& p, Clock::time_point now, Clock::time_point next) {
  if (!p.exited && p.pidfd < 0) next = std::min(next, now + milliseconds(50));
  if (next == Clock::time_point::max()) return -1;
  auto ms = std::chrono::ceil<milliseconds>(next - now).count();
  return static_cast<int>(std::clamp<long long>(ms, 0, 1 << 30));
}

void poll_once(Pump& p, int wait_ms) {
  pollfd fds[3];
  nfds_t n = 0;
  if (p.out_fd >= 0) fds[n++] = {p.out_fd, POLLIN, 0};
  if (p.in_fd >= 0) fds[n++] = {p.in_fd, POLLOUT, 0};
  if (p.pidfd >= 0) fds[n++] = {p.pidfd, POLLIN, 0};
  if (::poll(fds, n, wait_ms) <= 0) return;  // timeout or EINTR: the loop re-checks
  for (nfds_t i = 0; i < n; ++i) {
    if (fds[i].revents == 0) continue;
    if (fds[i].fd == p.out_fd) read_output(p);
    else if (fds[i].fd == p.in_fd) write_input(p);
  }
}

void pump(Pump& p, milliseconds timeout) {
  const auto deadline = timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
  auto drain_until = Clock::time_point::max();
  for (;;) {
    try_reap(p);
    auto now = Clock::now();
    if (p.exited) {
      if (p.out_fd < 0) break;
      if (drain_until == Clock::time_point::max()) drain_until = drain_deadline(p, now, deadline);
      if (now >= drain_until) {
        read_output(p);  // what is already in the pipe
        break;
      }
    }
    if (!p.exited && !p.timed_out && now >= deadline) {
      // The whole group, so that `sh -c 'a & b'` leaves nothing behind.
      if (p.group) ::kill(-p.pid, SIGKILL);
      ::kill(p.pid, SIGKILL);
      p.timed_out = true;
      close_fd(p.in_fd);
    }
    auto next = std::min(p.timed_out ? Clock::time_point::max() : deadline, drain_until);
    poll_once(p, poll_wait_ms(p, now, next));
  }
  if (p.kill_group_on_exit && p.group) ::kill(-p.pid, SIGKILL);  // the leader's zombie still holds the id
  if (!p.reaped) wait_for(p.pid, &p.status);
}

// Child-side stdio for run(): a pipe for input if there is any (else
// /dev/null, never the terminal), one pipe for stdout and stderr together.
struct RunFds {
  int child[3] = {-1, -1, -1};
  int parent_in = -1, parent_out = -1;
  ~RunFds() {
    for (int& fd : child) close_fd(fd);
    close_fd(parent_in);
    close_fd(parent_out);
  }
};

Status open_run_fds(const Options& options, RunFds& fds) {
  if (!options.stdin_data.empty()) {
    auto in = make_pipe();
    if (!in) return fail(in.error());
    fds.child[0] = in->read;
    fds.parent_in = in->write;
    set_nonblocking(fds.parent_in);
  } else {
    fds.child[0] = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  if (options.capture_output) {
    auto out = make_pipe();
    if (!out) return fail(out.error());
    fds.parent_out = out->read;
    fds.child[1] = out->write;
    set_nonblocking(fds.parent_out);
  } else {
    fds.child[1] = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  }
  fds.child[2] = ::dup(fds.child[1]);
  for (int fd : fds.child) {
    if (fd < 0) return fail(ErrorCode::Internal, "open /dev/null: " + errno_text(errno));
  }
  return {};
}

std::string last_lines(std::string_view text, size_t count) {
  size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string_view::npos) return {};
  text = text.substr(0, end + 1);
  size_t pos = text.size();
  for (size_t i = 0; i < count; ++i) {
    pos = text.rfind('\n', pos == 0 ? 0 : pos - 1);
    if (pos == std::string_view::npos) return std::string(text);
    if (pos == 0) break;
  }
  return std::string(text.substr(pos + 1));
}

std::string seconds_text(milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gs", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

}  // namespace

void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction old {};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO)) {
      struct sigaction ign {};
      ign.sa_handler = SIG_IGN;
      ::sigaction(SIGPIPE, &ign, nullptr);
    }
  });
}

Result<UserIds> lookup_user(const std::string& name) {
  long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(static_cast<size_t>(hint > 0 ? hint : 16384));
  passwd pw{};
  passwd* found = nullptr;
  int rc;
  while ((rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0) return fail(ErrorCode::Internal, "look up user " + name + ": " + errno_text(rc));
  if (!found) return fail(ErrorCode::NotFound, "no such user: " + name);
  return UserIds{found->pw_uid, found->pw_gid, found->pw_name, found->pw_dir};
}

bool running_as_root() { return ::geteuid() == 0; }

std::map<std::string, std::string> child_environment(Environment base,
                                                     const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = kv.substr(0, eq);
    if (keel_secret(name)) continue;
    if (base == Environment::Minimal && !minimal_variable(name)) continue;
    vars.emplace(name, kv.substr(eq + 1));
  }
  for (const auto& [k, v] : extra) vars[k] = v;
  if (vars["PATH"].empty()) vars["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  return vars;
}

void keep_from_children(const std::string& name) {
  std::lock_guard lock(g_hidden_mu);
  g_hidden.insert(name);
}

std::string Outcome::describe() const {
  if (timed_out) return timeout.count() > 0 ? "timed out after " + seconds_text(timeout) : "timed out";
  if (signal != 0) return "killed by signal " + std::to_string(signal);
  return "exit status " + std::to_string(exit_code);
}

Result<Outcome> run(const Options& options) {
  ignore_sigpipe();
  auto plan = make_plan(options.argv, options.environment, options.env, options.cwd, options.run_as,
                        options.new_process_group);
  if (!plan) return fail(plan.error());
  RunFds fds;
  if (auto st = open_run_fds(options, fds); !st) return fail(st.error());
  auto pid = spawn(*plan, fds.child);
  if (!pid) return fail(pid.error());
  for (int& fd : fds.child) close_fd(fd);  // else we would never see EOF

  Pump p;
  p.pid = *pid;
  p.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0));
  p.in_fd = std::exchange(fds.parent_in, -1);
  p.out_fd = std::exchange(fds.parent_out, -1);
  p.pending = options.stdin_data;
  p.keep_first = options.max_output;
  p.group = options.new_process_group;
  p.kill_group_on_exit = options.kill_group_on_exit && options.new_process_group;
  pump(p, options.timeout);
  close_fd(p.pidfd);
  close_fd(p.in_fd);
  close_fd(p.out_fd);

  Outcome out = outcome_from_status(p.status);
  out.timed_out = p.timed_out;
  if (p.timed_out) out.timeout = options.timeout;
  if (p.keep_first == 0 && p.output.size() > kMaxOutput) p.output.erase(0, p.output.size() - kMaxOutput);
  out.output = std::move(p.output);
  out.output_truncated = p.truncated;
  return out;
}

Result<Outcome> run_checked(const Options& options) {
  auto outcome = run(options);
  if (!outcome || (outcome->exit_code == 0 && !outcome->timed_out)) return outcome;
  std::string message = options.argv[0] + ": " + outcome->describe();
  std::string tail = last_lines(outcome->output, 20);
  if (!tail.empty()) message += ": " + tail;
  return fail(outcome->timed_out ? ErrorCode::Timeout : ErrorCode::Internal, message);
}

std::string which(const std::string& name) {
  const char* path = std::getenv("PATH");
  return which_in(name, path ? path : "/usr/local/bin:/usr/bin:/bin");
}

// --- Child --------------------------------------------------------------------

Result<Child> Child::start(const Spec& spec) {
  ignore_sigpipe();
  auto plan = make_plan(spec.argv, spec.environment, spec.env, "", std::nullopt, spec.new_process_group);
  if (!plan) return fail(plan.error());
  Pipe pipes[3];
  auto close_all = [&] {
    for (Pipe& p : pipes) {
      close_fd(p.read);
      close_fd(p.write);
    }
  };
  for (Pipe& p : pipes) {
    auto made = make_pipe();
    if (!made) {
      close_all();
      return fail(made.error());
    }
    p = *made;
  }
  const int stdio[3] = {pipes[0].read, pipes[1].write, pipes[2].write};
  auto pid = spawn(*plan, stdio);
  close_fd(pipes[0].read);
  close_fd(pipes[1].write);
  close_fd(pipes[2].write);
  if (!pid) {
    close_all();
    return fail(pid.error());
  }
  Child child;
  child.pid_ = *pid;
  child.stdin_fd_ = pipes[0].write;
  child.stdout_fd_ = pipes[1].read;
  child.stderr_fd_ = pipes[2].read;
  child.group_ = spec.new_process_group;
  return child;
}

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      stdin_fd_(std::exchange(other.stdin_fd_, -1)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      stderr_fd_(std::exchange(other.stderr_fd_, -1)),
      reaped_(std::exchange(other.reaped_, true)),
      group_(other.group_),
      wait_status_(other.wait_status_) {}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    Child old(std::move(*this));  // its destructor ends the previous child
    pid_ = std::exchange(other.pid_, -1);
    stdin_fd_ = std::exchange(other.stdin_fd_, -1);
    stdout_fd_ = std::exchange(other.stdout_fd_, -1);
    stderr_fd_ = std::exchange(other.stderr_fd_, -1);
    reaped_ = std::exchange(other.reaped_, true);
    group_ = other.group_;
    wait_status_ = other.wait_status_;
  }
  return *this;
}

Child::~Child() {
  close_fd(stdin_fd_);
  close_fd(stdout_fd_);
  close_fd(stderr_fd_);
  if (pid_ <= 0 || reaped_) return;
  pid_t pid = static_cast<pid_t>(pid_);
  if (::waitpid(pid, &wait_status_, WNOHANG) == pid) return;
  ::kill(group_ ? -pid : pid, SIGKILL);
  wait_for(pid, &wait_status_);
}

void Child::close_stdin() { close_fd(stdin_fd_); }

Outcome Child::wait() {
  if (!reaped_ && pid_ > 0) {
    if (wait_for(static_cast<pid_t>(pid_), &wait_status_) == static_cast<pid_t>(pid_)) reaped_ = true;
  }
  if (!reaped_) return Outcome{};
  return outcome_from_status(wait_status_);
}

void Child::kill(int signal) {
  // Once reaped, the pid may belong to someone else.
  if (pid_ > 0 && !reaped_) ::kill(group_ ? -static_cast<pid_t>(pid_) : static_cast<pid_t>(pid_), signal);
}

// --- processes and ports --------------------------------------------------------

bool process_alive(long pid, const std::string& name_part) {
  if (pid <= 0) return false;
  // EPERM: it exists but belongs to another user.
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  std::string proc = "/proc/" + std::to_string(pid);
  // read_file, not an istreambuf_iterator: reading /proc of a process that
  // exits meanwhile fails with ESRCH, which libstdc++'s filebuf throws.
  auto stat_text = files::read_file(proc + "/stat");
  if (!stat_text) return false;  // it just went away
  const std::string& stat = *stat_text;
  // "pid (comm) S ...": comm may hold spaces and parentheses, so find the last ')'.
  size_t paren = stat.rfind(')');
  if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') return false;
  if (name_part.empty()) return true;
  auto cmdline_text = files::read_file(proc + "/cmdline");
  if (!cmdline_text) return false;
  std::string cmdline = std::move(*cmdline_text);
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  return cmdline.find(name_part) != std::string::npos;
}

Result<int> free_local_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(ErrorCode::Internal, "socket: " + errno_text(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // the kernel picks a free one
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    return fail(ErrorCode::Unavailable, "find a free port on 127.0.0.1: " + errno_text(err));
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

bool port_open(int port, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (!open && errno == EINPROGRESS) {
    pollfd pfd{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    open = ::poll(&pfd, 1, static_cast<int>(timeout.count())) == 1 &&
           ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
  }
  ::close(fd);
  return open;
}

}  // namespace keel::process

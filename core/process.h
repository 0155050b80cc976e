#pragma once
// Spawning child processes: argv only (never a shell), environment and
// working directory given explicitly, optional switch to another user (for
// servers that refuse root, like PostgreSQL), output captured or inherited.
//
// A child gets a minimal environment unless the caller asks for more: keel's
// own holds secrets (KEEL_STATE_KEY, cloud tokens, the sources of the
// stack's sensitive variables) that a server would keep for its whole life
// in /proc/PID/environ. Children also start with a umask that lets no file
// they create be written by group or others.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace keel::process {

struct UserIds {
  unsigned uid = 0, gid = 0;
  std::string name, home;
};
// Looks a system user up by name (getpwnam).
Result<UserIds> lookup_user(const std::string& name);
bool running_as_root();

// Which of keel's own environment variables a child sees (Options::env and
// Spec::env are added on top).
enum class Environment {
  // PATH, HOME, USER, LOGNAME, LANG, LANGUAGE, LC_*, TZ, TMPDIR and the
  // sanitizers' *SAN_OPTIONS: what a tool needs to run, as a service
  // manager gives it. The default.
  Minimal,
  // Everything but keel's own secrets (KEEL_STATE_KEY, KEEL_BACKEND,
  // PGPASSWORD, keep_from_children's): for provider plugins, which find
  // cloud credentials in the environment as the vendors' own tools do.
  InheritExceptKeel,
};

// The environment a child started with `base` and `extra` gets, as NAME ->
// value (extra wins). PATH is always set (a default when keel has none).
// Never hands the environment variable `name` to a child (as KEEL_STATE_KEY,
// KEEL_BACKEND and PGPASSWORD never are): for a variable that holds a
// secret of keel's own, such as the one a stack's backend URL is read from.
void keep_from_children(const std::string& name);

std::map<std::string, std::string> child_environment(Environment base,
                                                     const std::map<std::string, std::string>& extra = {});

struct Options {
  std::vector<std::string> argv;            // argv[0] is searched on PATH
  std::map<std::string, std::string> env;   // added to (or replacing) the base environment
  Environment environment = Environment::Minimal;
  std::string cwd;                          // empty: inherit
  std::optional<UserIds> run_as;            // setgid/setuid before exec (root only)
  std::string stdin_data;                   // written to the child's stdin, then closed
  bool capture_output = true;               // else stdout/stderr go to /dev/null
  std::chrono::milliseconds timeout{0};     // 0: none; at the deadline the whole process group is killed
  bool new_process_group = true;
  // Health checks: keep the FIRST max_output bytes (instead of the last
  // 1 MiB) and read and drop the rest, so that a child printing megabytes
  // never blocks on a full pipe. 0: the default (last 1 MiB).
  size_t max_output = 0;
  // Once the direct child has exited, SIGKILL whatever is left of its process
  // group (a plugin's forgotten background child), after waiting a short
  // grace for their output, never past the timeout. Needs new_process_group.
  bool kill_group_on_exit = false;
};

struct Outcome {
  int exit_code = -1;    // -1 when killed by a signal
  int signal = 0;        // the signal that ended it, 0 if none
  bool timed_out = false;
  std::string output;    // stdout and stderr interleaved (capture_output)
  std::chrono::milliseconds timeout{0};  // the limit that was hit, when timed_out
  bool output_truncated = false;  // max_output was reached and the rest dropped
  std::string describe() const;  // "exit status 1", "killed by signal 9", "timed out"
};

// Runs to completion. A failure to start (missing binary) is an error; a
// non-zero exit is not (look at Outcome).
Result<Outcome> run(const Options& options);

// Runs and turns a non-zero exit into an error whose message holds the
// command name and the last lines of its output.
Result<Outcome> run_checked(const Options& options);

// Finds an executable on PATH (or checks an absolute path). Empty if none.
std::string which(const std::string& name);

// A long-lived child with pipes to its stdin and stdout (and stderr), used for
// provider plugins and the agent's keel-dr workers.
class Child {
 public:
  struct Spec {
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;  // added to the base environment
    // The child leads a new process group, and kill() and the destructor
    // signal the whole group (a worker's pg_dump dies with it).
    bool new_process_group = false;
    Environment environment = Environment::Minimal;
  };
  static Result<Child> start(const Spec& spec);
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();  // closes pipes, kills (SIGKILL) and reaps if still running

  int stdin_fd() const { return stdin_fd_; }
  int stdout_fd() const { return stdout_fd_; }
  int stderr_fd() const { return stderr_fd_; }
  long pid() const { return pid_; }
  bool leads_group() const { return group_; }
  void close_stdin();
  // Waits for exit; returns the Outcome (without output).
  Outcome wait();
  void kill(int signal);

 private:
  Child() = default;
  long pid_ = -1;
  int stdin_fd_ = -1, stdout_fd_ = -1, stderr_fd_ = -1;
  bool reaped_ = false;
  bool group_ = false;   // leads its own process group
  int wait_status_ = 0;  // from waitpid, once reaped_
};

// Sets SIGPIPE to SIG_IGN (once, and only if it still has the default
// action), so that writing to a pipe whose reader died fails with EPIPE
// instead of killing keel. run() and Child::start() call it; children get
// the default action back before exec.
void ignore_sigpipe();

// Is there a live process with this pid whose /proc/PID/cmdline contains
// `name_part`? (Guards against pid reuse before signalling.)
bool process_alive(long pid, const std::string& name_part = "");

// A TCP port on 127.0.0.1 that was free a moment ago.
Result<int> free_local_port();
// Does something accept TCP connections on 127.0.0.1:port?
bool port_open(int port, std::chrono::milliseconds timeout = std::chrono::milliseconds(200));

}  // namespace keel::process

#pragma once
// cli/fleet: work spread over many hosts at once. This file: one command run
// on every selected host (`keel exec`), with a bound on how many hosts are
// worked on at the same time.
//
// Pure logic: the hosts are reached through a HostRunner (SshRunner in
// production, a fake in tests), and what happens is reported through
// ExecHooks; nothing here prints. Depends on cli/ssh for the Host and the
// output callback types only.
//
// Threads: run_on_hosts() starts min(forks, hosts) worker threads; each
// takes the next host in address order and does all of that host's work
// (connect, run) on its own thread, so a runner may keep one session per
// host. Hooks are called from the workers, one call at a time (under one
// lock), so a hook may print without locking and lines of different hosts
// never interleave within a line.
//
// A host that cannot be reached (down, key refused, host key changed) is a
// result like any other; it never stops the other hosts.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/ssh/hosts.h"
#include "cli/ssh/session.h"
#include "core/error.h"

namespace keel::fleet {

// How a host's run ended.
enum class Outcome {
  Exited,       // the command ran and exited: exit_status holds its status
  Failed,       // connected, but the command did not finish (timeout, connection lost)
  Unreachable,  // could not connect or authenticate: the command never ran
};
const char* to_string(Outcome outcome);  // "exited" | "failed" | "unreachable"

struct HostRun {
  std::string address;              // "servers.web[0]"
  std::string host;                 // "user@host:port", as the transport describes it
  Outcome outcome = Outcome::Unreachable;
  std::optional<int> exit_status;   // set when outcome is Exited
  std::optional<Error> error;       // set when it is not
  std::string output;               // stdout and stderr as they interleaved (with ExecOptions::collect_output)
  std::chrono::milliseconds duration{0};  // connect + run

  bool ok() const { return outcome == Outcome::Exited && exit_status == 0; }
};

// Reaches hosts and runs commands on them. Both methods are called from the
// host's worker thread, connect() first; different hosts' calls run
// concurrently.
class HostRunner {
 public:
  virtual ~HostRunner() = default;
  // Makes sure the host can be reached (connects, verifies, authenticates).
  // An error here makes the host Unreachable.
  virtual Status connect(const ssh::Host& host) = 0;
  // Runs `command` (zero `timeout`: none), passing its output on as it
  // arrives; returns its exit status. An error here makes the host Failed.
  virtual Result<int> run(const ssh::Host& host, const std::string& command, const ssh::OutputFn& on_output,
                          std::chrono::milliseconds timeout) = 0;
};

// What happens, as it happens. Every hook is optional.
struct ExecHooks {
  std::function<void(const ssh::Host& host)> on_start;
  // One whole line of a host's stdout or stderr, without its "\n" (nor a
  // "\r" before it). Each stream is split on its own; a last line without
  // "\n" comes when the command has ended.
  std::function<void(const ssh::Host& host, ssh::Stream stream, std::string_view line)> on_line;
  std::function<void(const HostRun& run)> on_finish;
};

struct ExecOptions {
  std::string command;                      // run with /bin/sh on each host
  int forks = 20;                           // hosts worked on at once (at least 1)
  std::chrono::milliseconds timeout{0};     // each host's command; zero: none
  bool collect_output = true;               // keep each host's output in HostRun::output
};

// Runs `options.command` on every host, at most `options.forks` at a time,
// hosts started in the order given. Returns one HostRun per host, in the
// order given (whatever order they finished in).
std::vector<HostRun> run_on_hosts(const std::vector<ssh::Host>& hosts, const ExecOptions& options,
                                  HostRunner& runner, const ExecHooks& hooks = {});

// Counts of a finished run.
struct ExecSummary {
  int ok = 0;           // exited 0
  int failed = 0;       // exited non-zero, or did not finish
  int unreachable = 0;  // never ran
  bool all_ok() const { return failed == 0 && unreachable == 0; }
};
ExecSummary summarize(const std::vector<HostRun>& runs);

// The production runner: one Session per host from `connections`, a host's
// session dropped after any error so that a later use connects afresh.
class SshRunner : public HostRunner {
 public:
  explicit SshRunner(ssh::Connections& connections) : connections_(connections) {}
  Status connect(const ssh::Host& host) override;
  Result<int> run(const ssh::Host& host, const std::string& command, const ssh::OutputFn& on_output,
                  std::chrono::milliseconds timeout) override;

 private:
  ssh::Connections& connections_;
};

}  // namespace keel::fleet

#pragma once
// The commands, as plain functions: cli/main.cpp maps flags onto these
// option structs and the returned code onto the process exit code. Tests
// call them in-process. Each returns an exit code from exit_codes.h.

#include <map>
#include <string>
#include <vector>

namespace keel::commands {

// One table for every command, stable from keel 0.1 on (docs/cli.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,
  kExitChanges = 2,            // plan --detailed-exitcode: there are changes
  kExitLocked = 3,             // the state is locked by another keel
  kExitPartiallyApplied = 4,   // apply/destroy changed some resources, then failed
  kExitInterrupted = 130,      // apply/destroy stopped by Ctrl-C (SIGINT) or SIGTERM; state saved
};

struct GlobalOptions {
  std::string file = "keel.yaml";
  bool file_given = false;  // -f was on the command line (not the default)
  std::vector<std::string> vars;  // "name=value"
  bool json = false;
};

struct PlanOptions {
  std::vector<std::string> targets;
  std::vector<std::string> replace;  // replace these even when unchanged
  std::string out;          // write the plan here
  bool detailed_exitcode = false;
  bool refresh = true;
  bool destroy = false;
  int parallelism = 10;
};
int run_plan(const GlobalOptions& g, const PlanOptions& o);

struct ApplyOptions {
  std::vector<std::string> targets;
  std::vector<std::string> replace;  // replace these even when unchanged (never with destroy)
  std::string plan_file;    // apply a saved plan
  bool auto_approve = false;
  bool refresh = true;
  bool destroy = false;     // `keel destroy`
  int parallelism = 10;
};
int run_apply(const GlobalOptions& g, const ApplyOptions& o);

struct RefreshOptions {
  std::vector<std::string> targets;
  int parallelism = 10;
};
int run_refresh(const GlobalOptions& g, const RefreshOptions& o);

int run_validate(const GlobalOptions& g);
int run_schema(const GlobalOptions& g);
int run_graph(const GlobalOptions& g);

struct OutputOptions {
  std::string name;
  bool raw = false;
};
int run_output(const GlobalOptions& g, const OutputOptions& o);

struct StateOptions {
  std::string verb;       // list, show, rm, mv, import, rebind
  std::vector<std::string> args;
  bool auto_approve = false;  // rm: do not ask before forgetting resources that still exist
};
int run_state(const GlobalOptions& g, const StateOptions& o);

// keel health [--watch [SECONDS]] [--target ADDR]...: asks every agent in
// the state for its checks. Its exit codes are Nagios's (HealthExit), not
// the table above, so that monitoring can run it as a plugin.
enum HealthExit : int {
  kHealthPassing = 0,
  kHealthWarning = 1,
  kHealthCritical = 2,
  kHealthUnknown = 3,  // an unknown check, an unreachable agent, no agents, or keel's own error
};
struct HealthOptions {
  std::vector<std::string> targets;  // only these servers (servers.web covers servers.web[i])
  bool watch = false;
  int interval = 2;                  // --watch SECONDS between rounds
};
int run_health(const GlobalOptions& g, const HealthOptions& o);

// keel backup run|list|prune NAME, keel backup key export, keel restore
// NAME [--snapshot ID] [--to TARGET], keel drill NAME: the agent of the
// job's server (found in the state) asked to act; runs are followed to
// their end. Exit codes of their own (BackupExit).
enum BackupExit : int {
  kBackupOk = 0,      // the run succeeded (a drill: verified too)
  kBackupFailed = 1,  // the run failed, or the agent could not be asked
  kBackupUsage = 2,   // bad flags, no state, unknown job
};
struct BackupOptions {
  std::string action;    // run, list, prune, restore, drill, key-export
  std::string job;
  std::string snapshot;  // restore: this backup (default: the newest)
  std::string to;        // restore: another target (default: the original)
  bool auto_approve = false;  // restore: do not ask before overwriting the target
};
int run_backup(const GlobalOptions& g, const BackupOptions& o);

// keel exec SELECTOR... -- COMMAND: COMMAND run over SSH on every selected
// host, --forks at a time. Exit 0 when every host ran it and it exited 0,
// else 1 (a non-zero status, a host that could not be reached).
struct ExecOptions {
  std::vector<std::string> selectors;  // servers.web, servers.web[0], servers or all
  std::vector<std::string> command;    // the words after `--`, joined with spaces (as ssh does)
  int forks = 20;                      // hosts at once
  bool group = false;                  // each host's output together when it ends
  int timeout = 0;                     // seconds for each host's command; 0: none
};
int run_exec(const GlobalOptions& g, const ExecOptions& o);

// keel deploy APP [--rollback]: the app of the stack's `apps:` rolled out
// over SSH batch by batch, gated on the hosts' agents' checks; a failed
// batch is put back and the rollout stops (docs/deploy.md). Exit 0 when
// every host is on the new release (or, --rollback, the one before), 1
// when the rollout failed, 3 when another rollout of the app holds its lock.
struct DeployOptions {
  std::string app;
  bool rollback = false;  // every host back to the release before its current one
};
int run_deploy(const GlobalOptions& g, const DeployOptions& o);

// keel agent install|upgrade|status [SELECTOR...]: keel-agent on servers
// reached over SSH (provider: ssh), from what the state records. Exit 0
// when every host is done (status: every agent answers), else 1.
struct AgentOptions {
  std::string verb;                    // install, upgrade, status
  std::vector<std::string> selectors;  // none: every server reached over SSH
  int forks = 20;                      // hosts at once
};
int run_agent(const GlobalOptions& g, const AgentOptions& o);

// Asks `question` on the terminal ("Only 'yes' will be accepted"); false
// when the answer is anything else, or when stdin is not a terminal.
bool confirm(const std::string& question);

// The exit-code table as printed in `keel --help`.
const char* exit_code_help();
// keel health's own table.
const char* health_exit_code_help();
// keel backup's, restore's and drill's.
const char* backup_exit_code_help();

}  // namespace keel::commands

#pragma once
// The commands, as plain functions of a Context (context.h) and their
// options: each command's file declares its flags (setup_NAME, app.h) and
// runs it (run_NAME); tests call both in-process
// (tests/unit/command_*_test.cpp). Each returns its exit code.

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace keel::commands {

struct Context;

// One table for every command, stable from keel 0.1 on (docs/cli.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,
  kExitChanges = 2,            // plan --detailed-exitcode: there are changes; drift: there is drift
  kExitLocked = 3,             // the state is locked by another keel
  kExitPartiallyApplied = 4,   // apply/destroy changed some resources, then failed
  kExitInterrupted = 130,      // apply/destroy stopped by Ctrl-C (SIGINT) or SIGTERM; state saved
};

struct GlobalOptions {
  std::string file = "keel.yaml";
  bool file_given = false;  // -f was on the command line (not the default)
  std::vector<std::string> vars;  // "name=value"
  std::vector<std::string> var_files;  // --var-file, in the order given
  // A saved plan's var files as they were when it was made: (name, text),
  // read instead of var_files.
  std::vector<std::pair<std::string, std::string>> saved_var_files;
  std::string environment;  // -e / KEEL_ENV: its own state in .keel/environments/NAME (docs/environments.md)
  bool json = false;
  bool no_color = false;
  std::string backend;  // --backend: `local` or a PostgreSQL URL (cli/commands/backend.h)
  std::string lock_timeout;  // --lock-timeout: how long to wait for the state lock ("" or "0": not at all)
};

struct PlanOptions {
  std::vector<std::string> targets;
  std::vector<std::string> replace;  // replace these even when unchanged
  std::string out;          // write the plan here
  std::string format;       // human (default), json (as --json) or markdown
  bool detailed_exitcode = false;
  bool refresh = true;
  bool destroy = false;
  int parallelism = 10;
};
int run_plan(Context& ctx, const PlanOptions& o);

struct ApplyOptions {
  std::vector<std::string> targets;
  std::vector<std::string> replace;  // replace these even when unchanged (never with destroy)
  std::string plan_file;    // apply a saved plan
  bool auto_approve = false;
  bool refresh = true;
  bool destroy = false;     // `keel destroy`
  int parallelism = 10;
};
int run_apply(Context& ctx, const ApplyOptions& o);

struct RefreshOptions {
  std::vector<std::string> targets;
  int parallelism = 10;
};
int run_refresh(Context& ctx, const RefreshOptions& o);
int run_drift(Context& ctx, const RefreshOptions& o);

int run_validate(Context& ctx);
int run_schema(Context& ctx);
int run_graph(Context& ctx);

// keel show PLANFILE [--format human|json|markdown]: a saved plan, as
// `keel plan` printed it.
struct ShowOptions {
  std::string plan_file;
  std::string format;  // as PlanOptions::format
};
int run_show(Context& ctx, const ShowOptions& o);

struct OutputOptions {
  std::string name;
  bool raw = false;
};
int run_output(Context& ctx, const OutputOptions& o);

struct StateOptions {
  std::string verb;       // list, show, rm, mv, import, rebind, history, migrate, pull, push
  std::vector<std::string> args;
  bool auto_approve = false;  // rm: do not ask before forgetting resources that still exist
  long serial = 0;            // list, show: a saved state of the history (0: the newest)
  size_t limit = 20;          // history: how many
  std::string from, to;       // migrate: local, backend, or a PostgreSQL URL
  bool force = false;         // push: over another lineage or a newer serial
};
int run_state(Context& ctx, const StateOptions& o);
// keel state migrate --from WHERE --to WHERE (state_migrate.cpp).
int run_state_migrate(Context& ctx, const std::string& from, const std::string& to);

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
int run_health(Context& ctx, const HealthOptions& o);

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
  std::string action;    // run, list, prune, restore, drill, key-export, key-import
  std::string job;
  std::string snapshot;  // restore: this backup (default: the newest)
  std::string to;        // restore: another target (default: the original)
  bool auto_approve = false;  // restore: do not ask before overwriting the target
  std::string key_file;       // key-import: the exported key's file, or - for stdin
  bool force = false;         // key-import: replace another key the state holds
};
int run_backup(Context& ctx, const BackupOptions& o);

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
int run_exec(Context& ctx, const ExecOptions& o);

// keel deploy APP [--rollback]: the app of the stack's `apps:` rolled out
// over SSH batch by batch, gated on the hosts' agents' checks; a failed
// batch is put back and the rollout stops (docs/deploy.md). Exit 0 when
// every host is on the new release (or, --rollback, the one before), 1
// when the rollout failed, 3 when another rollout of the app holds its lock.
struct DeployOptions {
  std::string app;
  bool rollback = false;  // every host back to the release before its current one
};
int run_deploy(Context& ctx, const DeployOptions& o);

// keel agent install|upgrade|status [SELECTOR...]: keel-agent on servers
// reached over SSH (provider: ssh), from what the state records. Exit 0
// when every host is done (status: every agent answers), else 1.
struct AgentOptions {
  std::string verb;                    // install, upgrade, status
  std::vector<std::string> selectors;  // none: every server reached over SSH
  int forks = 20;                      // hosts at once
};
int run_agent(Context& ctx, const AgentOptions& o);

// Asks `question` on the terminal ("Only 'yes' will be accepted"); false
// when the answer is anything else, or when stdin is not a terminal.
bool confirm(Context& ctx, const std::string& question);

}  // namespace keel::commands

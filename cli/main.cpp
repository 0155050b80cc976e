// keel: builds the command line and maps every command's result onto the
// process exit code (the one table, printed by --help and in docs/cli.md).
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "cli/commands/commands.h"
#include "cli/commands/completion.h"
#include "cli/commands/init.h"
#include "core/log.h"

namespace keel::commands {

const char* exit_code_help() {
  return "Exit codes (every command):\n"
         "  0  success (plan: no changes, or changes without --detailed-exitcode)\n"
         "  1  error (invalid stack, provider failure, nothing applied)\n"
         "  2  plan --detailed-exitcode: the plan has changes\n"
         "  3  the state (deploy: the app's deploy lock) is locked by another keel (the message names it)\n"
         "  4  apply/destroy partially applied: some changes were made, then one failed\n"
         "  130  apply/destroy interrupted (Ctrl-C, SIGTERM): the changes in flight finished and were saved\n"
         "keel health exits as a Nagios plugin instead (0 ok, 1 warning, 2 critical, 3 unknown).\n";
}

}  // namespace keel::commands

namespace {

using namespace keel::commands;

// KEEL_LOG and KEEL_LOG_FILE (core/log.h); a bad one is said, not fatal.
void setup_logging() {
  if (auto s = keel::logging::setup_from_env("keel"); !s) std::fprintf(stderr, "Warning: %s\n", s.error().message().c_str());
}

void add_targets(CLI::App* cmd, std::vector<std::string>& targets) {
  cmd->add_option("--target", targets, "limit to ADDR and what it depends on (repeatable)");
}

// Not on destroy, which deletes everything it touches anyway.
CLI::Option* add_replace(CLI::App* cmd, std::vector<std::string>& replace) {
  return cmd->add_option("--replace", replace,
                         "replace ADDR even if unchanged; servers.web covers every servers.web[i] (repeatable)");
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a dead plugin's pipe is an error to report, not a reason to die
  CLI::App app{"keel: plans and applies infrastructure from a YAML stack"};
  app.footer(exit_code_help());
  app.set_version_flag("--version", "keel " KEEL_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global flags work after the command too: `keel plan --json`

  GlobalOptions g;
  auto* file_opt = app.add_option("-f,--file", g.file, "the stack file")->capture_default_str();
  app.add_option("--var", g.vars, "set a variable: NAME=VALUE (repeatable)");
  app.add_flag("--json", g.json, "machine-readable output (docs/json-output.md)");

  PlanOptions plan;
  auto* plan_cmd = app.add_subcommand("plan", "show what apply would change");
  add_targets(plan_cmd, plan.targets);
  plan_cmd->add_option("--out", plan.out, "save the plan for `keel apply FILE`");
  plan_cmd->add_flag("--detailed-exitcode", plan.detailed_exitcode, "exit 2 when there are changes");
  plan_cmd->add_flag("--refresh,!--no-refresh", plan.refresh, "read resources back first (default on)");
  auto* plan_destroy = plan_cmd->add_flag("--destroy", plan.destroy, "plan destroying everything");
  add_replace(plan_cmd, plan.replace)->excludes(plan_destroy);
  plan_cmd->add_option("--parallelism", plan.parallelism, "concurrent provider calls")->capture_default_str();

  ApplyOptions apply;
  auto* apply_cmd = app.add_subcommand("apply", "make the infrastructure match the stack");
  apply_cmd->add_option("plan_file", apply.plan_file, "a plan saved by `keel plan --out`");
  add_targets(apply_cmd, apply.targets);
  add_replace(apply_cmd, apply.replace);
  apply_cmd->add_flag("--auto-approve", apply.auto_approve, "do not ask for confirmation");
  apply_cmd->add_flag("--refresh,!--no-refresh", apply.refresh, "read resources back first (default on)");
  apply_cmd->add_option("--parallelism", apply.parallelism, "changes in flight at once")->capture_default_str();

  ApplyOptions destroy;
  destroy.destroy = true;
  auto* destroy_cmd = app.add_subcommand("destroy", "delete everything in state, dependents first");
  add_targets(destroy_cmd, destroy.targets);
  destroy_cmd->add_flag("--auto-approve", destroy.auto_approve, "do not ask for confirmation");
  destroy_cmd->add_flag("--refresh,!--no-refresh", destroy.refresh, "read resources back first (default on)");
  destroy_cmd->add_option("--parallelism", destroy.parallelism, "changes in flight at once")->capture_default_str();

  RefreshOptions refresh;
  auto* refresh_cmd = app.add_subcommand("refresh", "read every resource back and record drift in state");
  add_targets(refresh_cmd, refresh.targets);
  refresh_cmd->add_option("--parallelism", refresh.parallelism, "reads in flight at once")->capture_default_str();

  auto* validate_cmd = app.add_subcommand("validate", "check the stack and report every problem");
  auto* schema_cmd = app.add_subcommand("schema", "print a JSON Schema of the stack format");
  auto* graph_cmd = app.add_subcommand("graph", "print the dependency graph (Graphviz DOT)");

  OutputOptions output;
  auto* output_cmd = app.add_subcommand("output", "print outputs of the last apply");
  output_cmd->add_option("name", output.name, "one output (the only way to see a sensitive one)");
  output_cmd->add_flag("--raw", output.raw, "print a string output without quotes or newline");

  StateOptions state;
  auto* state_cmd = app.add_subcommand("state", "inspect and edit state: list | show ADDR | rm ADDR... | mv FROM TO | import ADDR ID | rebind");
  state_cmd->add_option("verb", state.verb, "list, show, rm, mv or import")->required();
  state_cmd->add_option("args", state.args, "addresses (and an id for import)");
  state_cmd->add_flag("--auto-approve", state.auto_approve, "rm: do not ask before forgetting what still exists");

  HealthOptions health;
  auto* health_cmd = app.add_subcommand("health", "ask every server's agent for its checks (Nagios exit codes)");
  add_targets(health_cmd, health.targets);
  auto* watch_opt = health_cmd->add_option("--watch", health.interval, "redraw every SECONDS (default 2) until interrupted")
                        ->expected(0, 1)
                        ->default_str("2");

  BackupOptions backup;
  auto* backup_cmd = app.add_subcommand("backup", "run, list and prune a backup job; export the backup key");
  backup_cmd->require_subcommand(1);
  auto job_command = [&backup](CLI::App* parent, const char* name, const char* what) {
    auto* cmd = parent->add_subcommand(name, what);
    cmd->add_option("name", backup.job, "the job, as named under `backups:`")->required();
    return cmd;
  };
  auto* backup_run = job_command(backup_cmd, "run", "back up now and follow the run");
  auto* backup_list = job_command(backup_cmd, "list", "the job's backups, newest first");
  auto* backup_prune = job_command(backup_cmd, "prune", "apply the job's retention now");
  auto* backup_key = backup_cmd->add_subcommand("key", "the stack's backup encryption key");
  backup_key->require_subcommand(1);
  auto* backup_key_export = backup_key->add_subcommand("export", "print the key (base64) for safekeeping");
  auto* restore_cmd = job_command(&app, "restore", "restore a backup of the job and follow the run");
  restore_cmd->add_option("--snapshot", backup.snapshot, "the backup to restore (default: the newest)");
  restore_cmd->add_option("--to", backup.to,
                          "another target: a database name, a cache's host:port, a directory (files: required)");
  restore_cmd->add_flag("--auto-approve", backup.auto_approve, "do not ask before overwriting the target");
  auto* drill_cmd = job_command(&app, "drill", "restore the newest backup into a scratch target and verify it");

  ExecOptions exec;
  auto* exec_cmd = app.add_subcommand("exec", "run a command over SSH on servers: exec SELECTOR... -- COMMAND");
  exec_cmd->add_option("selector", exec.selectors, "servers.web, servers.web[0], servers or all (several may be given)")
      ->required();
  exec_cmd->add_option("--forks", exec.forks, "hosts at once")->capture_default_str();
  exec_cmd->add_flag("--group", exec.group, "print each host's output together when it ends");
  exec_cmd->add_option("--timeout", exec.timeout, "seconds for each host's command (default: none)");

  DeployOptions deploy;
  auto* deploy_cmd = app.add_subcommand("deploy", "roll an app of the stack's `apps:` out to its servers, batch by batch");
  deploy_cmd->add_option("app", deploy.app, "the app, as named under `apps:`")->required();
  deploy_cmd->add_flag("--rollback", deploy.rollback, "return every host to the release before its current one");

  AgentOptions agent;
  auto* agent_cmd = app.add_subcommand("agent", "install, upgrade or look at keel-agent on servers reached over SSH");
  agent_cmd->require_subcommand(1);
  for (const char* verb : {"install", "upgrade", "status"}) {
    auto* sub = agent_cmd->add_subcommand(verb, verb == std::string("install")   ? "install or reinstall the agent, then wait for it"
                                                : verb == std::string("upgrade") ? "put this keel's agent binaries in place and restart it"
                                                                                 : "is it installed, running, this keel's version?");
    sub->add_option("selector", agent.selectors, "servers.web, servers.web[0], servers or all (default: all)");
    sub->add_option("--forks", agent.forks, "hosts at once")->capture_default_str();
    sub->callback([&agent, verb] { agent.verb = verb; });
  }

  for (auto* sub : app.get_subcommands({})) sub->footer(exit_code_help());
  health_cmd->footer(health_exit_code_help());
  for (auto* sub : {backup_cmd, backup_run, backup_list, backup_prune, backup_key, backup_key_export, restore_cmd, drill_cmd})
    sub->footer(backup_exit_code_help());
  add_init_command(app);
  add_completion_commands(app);  // last: it walks every command above
  auto backup_parsed = [&] { return backup_cmd->parsed() || restore_cmd->parsed() || drill_cmd->parsed(); };

  try {
    // keel exec SELECTOR... -- COMMAND: the words after the first `--` are
    // the remote command, never keel's flags or selectors.
    int keel_argc = argc;
    for (int i = 1; i < argc; ++i) {
      if (std::string_view(argv[i]) != "--") continue;
      for (int j = 1; j < i; ++j) {
        if (std::string_view(argv[j]) != "exec") continue;
        exec.command.assign(argv + i + 1, argv + argc);
        keel_argc = i;
        break;
      }
      break;
    }
    app.parse(keel_argc, argv);
  } catch (const CLI::ParseError& e) {
    if (app.exit(e) == 0) return kExitOk;
    if (backup_parsed()) return kBackupUsage;
    return health_cmd->parsed() ? static_cast<int>(kHealthUnknown) : static_cast<int>(kExitError);  // a Nagios plugin's error is unknown
  }
  setup_logging();
  g.file_given = file_opt->count() > 0;

  try {
    if (plan_cmd->parsed()) return run_plan(g, plan);
    if (apply_cmd->parsed()) return run_apply(g, apply);
    if (destroy_cmd->parsed()) return run_apply(g, destroy);
    if (refresh_cmd->parsed()) return run_refresh(g, refresh);
    if (validate_cmd->parsed()) return run_validate(g);
    if (schema_cmd->parsed()) return run_schema(g);
    if (graph_cmd->parsed()) return run_graph(g);
    if (output_cmd->parsed()) return run_output(g, output);
    if (state_cmd->parsed()) return run_state(g, state);
    if (deploy_cmd->parsed()) return run_deploy(g, deploy);
    if (exec_cmd->parsed()) return run_exec(g, exec);
    if (agent_cmd->parsed()) return run_agent(g, agent);
    if (health_cmd->parsed()) {
      health.watch = watch_opt->count() > 0;
      return run_health(g, health);
    }
    if (backup_parsed()) {
      backup.action = backup_run->parsed()          ? "run"
                      : backup_list->parsed()       ? "list"
                      : backup_prune->parsed()      ? "prune"
                      : backup_key_export->parsed() ? "key-export"
                      : restore_cmd->parsed()       ? "restore"
                                                    : "drill";
      return run_backup(g, backup);
    }
  } catch (const std::exception& e) {
    // Last resort: a library exception that escaped its boundary is a bug.
    std::fprintf(stderr, "Error: internal: %s\n", e.what());
    if (health_cmd->parsed()) return kHealthUnknown;
    if (backup_parsed()) return kBackupFailed;
  }
  return kExitError;
}

// keel backup run|list|prune NAME, keel backup key export|import, keel restore NAME,
// keel drill NAME: a job's agent asked to act, found through the state (the
// server whose `backups` holds the job), as `keel health` finds agents.
//
// Runs are asynchronous in the agent: the POST answers with the run started,
// and the run is followed (GET /v1/runs/ID every 250 ms) to its end, with a
// progress line on a terminal's stderr. Like health, these commands read the
// last saved state without the lock and do not need the stack to be valid.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "agent/dr/restore_target.h"
#include "cli/agents/client.h"
#include "cli/agents/tunnel.h"
#include "cli/commands/app.h"
#include "cli/commands/workspace.h"
#include "cli/ssh/hosts.h"
#include "cli/state/file_store.h"
#include "cli/views/backup_view.h"
#include "core/diagnostics.h"
#include "core/files.h"
#include "core/http_client.h"
#include "core/text.h"

namespace keel::commands {

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kPollInterval = 250ms;
constexpr int kPollFailuresAllowed = 3;  // consecutive failed polls before giving up on the agent

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

// Installs the Ctrl-C handler for the life of a follow, restoring the old one.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted = 0;
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    ::sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &old_int_);
    ::sigaction(SIGTERM, &action, &old_term_);
  }
  ~InterruptGuard() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

int usage_error(Context& ctx, const Error& e) {
  report_error(ctx, e);
  return kBackupUsage;
}

int run_error(Context& ctx, const Error& e) {
  report_error(ctx, e);
  // The agent not knowing a job the state names: the stack and the agent
  // are out of step, which `keel apply` fixes.
  return e.code() == ErrorCode::NotFound ? kBackupUsage : kBackupFailed;
}

// A job and the agent of the server that runs it.
struct JobHost {
  std::string job;
  std::string server;  // "servers.db"
  json definition;     // the job as the server's agent has it (source, to, ...)
  json attributes;     // the server's, for its `ssh` map
};

// The job's agent made reachable: directly (local servers), or through an
// SSH port forward when the server is reached over SSH (`ssh` hosts, cloud
// servers), whose agents listen on their own 127.0.0.1.
struct JobAgent {
  std::unique_ptr<ssh::Session> session;  // declared first: outlives the forward
  agents::ReachableAgent agent;
};

Result<JobAgent> reach(const JobHost& host) {
  JobAgent out;
  auto target = ssh::target_from_attributes(host.attributes);
  if (!target) return fail(target.error().with_context(host.server));
  if (*target) {
    auto session = ssh::Session::connect(**target);
    if (!session) return fail(session.error().with_context(host.server));
    out.session = std::move(*session);
  }
  auto agent = agents::reach_agent(host.attributes, out.session.get());
  if (!agent) return fail(agent.error().with_context(host.server));
  out.agent = std::move(*agent);
  return out;
}

// Job name -> the server whose `backups` hold it.
std::map<std::string, const state::ResourceState*> jobs_in(const state::State& s) {
  std::map<std::string, const state::ResourceState*> jobs;
  for (const auto& [address, r] : s.resources) {
    auto backups = r.attributes.find("backups");
    if (r.kind != "servers" || backups == r.attributes.end() || !backups->is_object()) continue;
    for (auto it = backups->begin(); it != backups->end(); ++it) jobs.emplace(it.key(), &r);
  }
  return jobs;
}

Result<JobHost> find_job(const state::State& s, const std::string& name) {
  const auto jobs = jobs_in(s);
  auto it = jobs.find(name);
  if (it == jobs.end()) {
    if (jobs.empty())
      return fail(ErrorCode::NotFound, "the state holds no backup jobs: declare them under `backups:` and `keel apply`");
    std::vector<std::string> names;
    for (const auto& [job, _] : jobs) names.push_back(job);
    std::string hint = did_you_mean(name, names);
    return fail(ErrorCode::NotFound, fmt::format("no backup job `{}`; the jobs are: {}{}", name, fmt::join(names, ", "),
                                                 hint.empty() ? "" : fmt::format(" ({})", hint)));
  }
  if (!agents::endpoint_from_attributes(it->second->attributes))
    return fail(ErrorCode::Unavailable,
                fmt::format("{} runs backup `{}` but the state names no agent for it (agent_url)", it->second->address,
                            name));
  return JobHost{name, it->second->address, it->second->attributes.at("backups").at(name),
                 it->second->attributes};
}

// One line on stderr, redrawn in place.
void draw(std::FILE* err, const std::string& line) {
  std::fprintf(err, "\r%s\033[K", line.c_str());
  std::fflush(err);
}

// Polls the run until it ends. A few failed polls in a row are borne (an
// agent busy at the moment); more end the follow with the last error.
Result<agents::JobRun> follow(agents::AgentClient& client, agents::JobRun run, std::FILE* progress) {
  const auto started = std::chrono::steady_clock::now();
  int failures = 0;
  while (run.running()) {
    if (progress) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      draw(progress, views::progress_line(run, elapsed));
    }
    std::this_thread::sleep_for(kPollInterval);
    if (g_interrupted) break;
    auto next = client.run(run.id);
    if (next) {
      run = std::move(*next);
      failures = 0;
    } else if (++failures >= kPollFailuresAllowed) {
      if (progress) draw(progress, "");
      return fail(next.error().with_context(fmt::format("following run {} of `{}`", run.id, run.job)));
    }
  }
  if (progress) draw(progress, "");
  return run;
}

agents::ClientOptions client_options() {
  agents::ClientOptions options;
  options.timeout = 10s;
  options.attempts = 2;
  return options;
}

// Starts ACTION of the job and follows the run to its end.
int start_and_follow(Context& ctx, views::BackupView& view, const JobHost& host, const std::string& action,
                     const json& body) {
  auto reached = reach(host);
  if (!reached) return run_error(ctx, reached.error().with_context(fmt::format("{} of `{}`", action, host.job)));
  http::CurlHttpClient transport;
  agents::AgentClient client(transport, reached->agent.endpoint, client_options());
  auto started = client.start_run(host.job, action, body);
  if (!started) return run_error(ctx, started.error().with_context(fmt::format("{} of `{}` on {}", action, host.job, host.server)));
  std::FILE* progress = ctx.err_is_tty ? ctx.err : nullptr;
  view.started(*started, host.server);
  InterruptGuard guard;
  auto finished = follow(client, std::move(*started), progress);
  if (!finished) return run_error(ctx, finished.error());
  if (finished->running()) {  // interrupted
    std::fprintf(ctx.err, "Interrupted: run %s goes on in the agent of %s.\n", finished->id.c_str(), host.server.c_str());
    return 130;
  }
  view.finished(*finished);
  return views::run_passed(*finished) ? kBackupOk : kBackupFailed;
}

int list_backups(Context& ctx, views::BackupView& view, const JobHost& host) {
  auto reached = reach(host);
  if (!reached) return run_error(ctx, reached.error().with_context(fmt::format("backups of `{}`", host.job)));
  http::CurlHttpClient transport;
  agents::AgentClient client(transport, reached->agent.endpoint, client_options());
  auto answer = client.backups(host.job);
  if (!answer) return run_error(ctx, answer.error().with_context(fmt::format("backups of `{}` on {}", host.job, host.server)));
  view.backups(host.job, host.server, (*answer)["backups"], std::chrono::system_clock::now());
  return kBackupOk;
}

int export_key(Context& ctx, views::BackupView& view) {
  const GlobalOptions& g = ctx.global;
  auto s = saved_state(g, "`keel apply` a stack with `backups:` first");
  if (!s) return usage_error(ctx, s.error());
  const std::string key = state::find_backup_key(*s);
  if (key.empty())
    return usage_error(ctx, Error(ErrorCode::NotFound, "this stack has no backup key yet: keel makes it at the first "
                                                  "`keel apply` of a stack with `backups:`"));
  view.key(key);
  return kBackupOk;
}

// A key's text from standard input: a few lines at most.
Result<std::string> key_from_stdin() {
  std::string text(4097, '\0');
  const size_t n = std::fread(text.data(), 1, text.size(), stdin);
  if (n > 4096) return fail(ErrorCode::InvalidConfig, "standard input holds more than a key");
  text.resize(n);
  return text;
}

// The exported key back into the state, after the state was lost: the next
// apply hands it to the agents, and the backups made with it can be
// restored again. Another key the state holds is replaced only with
// --force: the backups made with that one need it.
int import_key(Context& ctx, const BackupOptions& o) {
  auto text = o.key_file == "-" ? key_from_stdin() : files::read_regular_file(o.key_file, 4096);
  if (!text) return usage_error(ctx, text.error().with_context("backup key import " + o.key_file));
  auto key = crypto::key_from_text(*text);
  if (!key)
    return usage_error(ctx, Error(ErrorCode::InvalidConfig,
                                  fmt::format("{} does not hold a backup key (44 characters of base64, as `keel "
                                              "backup key export` prints it)",
                                              o.key_file)));
  const std::string imported = crypto::key_to_text(*key);
  auto ws = Workspace::open(ctx, ctx.global, "keel backup key import", true);
  if (!ws) return usage_error(ctx, ws.error());
  state::State& state = (*ws)->state;
  const std::string held = state::find_backup_key(state);
  if (held == imported) {
    write(ctx.out, "The state already holds this backup key.\n");
    return kBackupOk;
  }
  if (!held.empty() && !o.force)
    return usage_error(ctx, Error(ErrorCode::Conflict,
                                  "the state holds another backup key, which sealed the backups made since it was "
                                  "made: export it first (`keel backup key export > current.key`), then import with "
                                  "--force; nothing was changed"));
  state.secrets[state::kBackupKeySecret] = imported;
  if (auto s = (*ws)->store->save(state); !s) return usage_error(ctx, s.error());
  write(ctx.out, "Imported the backup key. The next `keel apply` hands it to the servers that run backups.\n");
  return kBackupOk;
}

// What a restore writes into, in words: the job's source, or the --to target.
std::string restore_target(const JobHost& host, const std::string& to) {
  const json source = host.definition.value("source", json::object());
  auto at = [](const json& s) { return fmt::format("{}:{}", s.value("host", "?"), s.value("port", json(0)).dump()); };
  if (source.contains("postgres")) {
    const json& pg = source["postgres"];
    return to.empty() ? fmt::format("the PostgreSQL database `{}` at {}", pg.value("database", "?"), at(pg))
                      : fmt::format("the PostgreSQL database `{}` at {} (created if missing)", to, at(pg));
  }
  if (source.contains("redis")) {
    if (to.empty()) return fmt::format("the Redis server at {}", at(source["redis"]));
    // A bare port is on the job's own host (agent/dr/restore_target.h).
    return to.find(':') == std::string::npos
               ? fmt::format("the Redis server at {}:{}", source["redis"].value("host", "?"), to)
               : "the Redis server at " + to;
  }
  if (source.contains("files")) return "the directory " + to;
  return to.empty() ? "the job's source" : to;
}

// A --to that the agent would refuse is refused here, before anyone is
// asked to approve it (the same rule: agent/dr/restore_target.h).
Status check_target(const JobHost& host, const std::string& to) {
  const json source = host.definition.value("source", json::object());
  for (const char* type : {"postgres", "redis", "files"})
    if (source.contains(type)) {
      // A files source is a list of paths; the others are objects with a host.
      const json& s = source[type];
      if (std::string_view(type) == "files" && to.empty())
        return fail(ErrorCode::InvalidConfig,
                    "a files backup is restored into a directory, never over the live files: give --to DIR "
                    "(an absolute path)");
      return dr::check_restore_target(type, s.is_object() ? s.value("host", "") : "", to);
    }
  return {};
}

// keel restore overwrites what is there: it says what, and a person says
// yes; without a terminal, --auto-approve says it.
Status approve_restore(Context& ctx, const JobHost& host, const BackupOptions& o) {
  if (o.auto_approve) return {};
  std::string backup = o.snapshot.empty() ? "the newest backup" : "backup " + o.snapshot;
  http::CurlHttpClient transport;
  auto reached = reach(host);  // the question goes on without the backup's date
  if (auto listed = reached ? agents::AgentClient(transport, reached->agent.endpoint, client_options()).backups(host.job)
                            : Result<json>(fail(reached.error()))) {
    const json& all = (*listed)["backups"];
    for (const auto& m : all)
      if (o.snapshot.empty() ? &m == &all.front() : m.value("id", "") == o.snapshot)
        backup = fmt::format("backup {} (taken {})", m.value("id", "?"), m.value("finished", m.value("started", "?")));
  }
  const std::string target = restore_target(host, o.to);
  if (!ctx.in_is_tty)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("keel restore {} would overwrite {} with {}; not on a terminal, so nobody can approve: "
                            "pass --auto-approve",
                            host.job, target, backup));
  // What the agent says of its backups is shown, not obeyed (text::printable).
  write(ctx.dialogue(), fmt::format("keel restore {} (on {}):\n  from  {}\n  into  {}\n  Whatever is there now is replaced.\n",
                                    host.job, host.server, text::printable(backup), target));
  if (!confirm(ctx, "Do you want to restore?")) return fail(ErrorCode::InvalidConfig, "cancelled; nothing was restored");
  return {};
}

}  // namespace

int run_backup(Context& ctx, const BackupOptions& o) {
  const GlobalOptions& g = ctx.global;
  const auto view = views::make_backup_view(g.json, streams_of(ctx));
  if (o.action == "key-export") return export_key(ctx, *view);
  if (o.action == "key-import") return import_key(ctx, o);
  auto s = saved_state(g, "`keel apply` a stack with `backups:` first");
  if (!s) return usage_error(ctx, s.error());
  auto host = find_job(*s, o.job);
  if (!host) return usage_error(ctx, host.error());
  if (o.action == "list") return list_backups(ctx, *view, *host);
  json body = json::object();
  if (o.action == "restore") {
    if (auto checked = check_target(*host, o.to); !checked) return usage_error(ctx, checked.error());
    // Not approved is a refusal like apply's (exit 1), not a usage error.
    if (auto approved = approve_restore(ctx, *host, o); !approved) {
      report_error(ctx, approved.error());
      return kBackupFailed;
    }
    if (!o.snapshot.empty()) body["snapshot"] = o.snapshot;
    if (!o.to.empty()) body["to"] = o.to;
  }
  return start_and_follow(ctx, *view, *host, o.action, body);
}

namespace {

const ExitCodeHelp kBackupExitCodes = {
    {kBackupOk, "the run succeeded (a drill: its verification passed too)"},
    {kBackupFailed, "the run failed (its error is printed), the agent could not be asked, or a restore was not "
                    "approved (answered no, or no terminal and no --auto-approve)"},
    {kBackupUsage, "usage or configuration error: bad flags, a --to that is not a target of the job's kind, no state, "
                   "unknown job"},
    {130, "interrupted: the run goes on in the agent"}};

// Fills in a leaf command of the backup family: `action` with the job NAME
// (or none).
void fill_backup_command(CLI::App* cmd, Context& ctx, const char* action, const std::vector<std::string>& examples,
                         std::shared_ptr<BackupOptions> o = nullptr) {
  if (!o) o = std::make_shared<BackupOptions>();
  o->action = action;
  if (std::string(action).starts_with("key-")) {
    if (std::string(action) == "key-import") {
      cmd->add_option("file", o->key_file, "the exported key's file, or - for stdin")->required()->type_name("FILE");
      cmd->add_flag("--force", o->force, "replace another key the state holds (export that one first)");
    }
  } else {
    cmd->add_option("name", o->job, "the job, as named under `backups:`")->required();
  }
  cmd->footer(help_footer(examples, kBackupExitCodes));
  on_chosen(*cmd, ctx, o, run_backup, kBackupUsage);
}

// A leaf under `backup` (filled in with it).
void backup_command(CLI::App& parent, Context& ctx, const char* name, const char* what, const char* action,
                    const std::vector<std::string>& examples) {
  fill_backup_command(parent.add_subcommand(name, what), ctx, action, examples);
}

}  // namespace

void setup_backup(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "backup", "run, list and prune a backup job; export the backup key", [](CLI::App* backup,
                                                                                                       Context& ctx) {
    set_usage_exit(*backup, ctx, kBackupUsage);
    backup->footer(help_footer({"keel backup run nightly", "keel backup list nightly", "keel backup key export"},
                               kBackupExitCodes));
    backup_command(*backup, ctx, "run", "back up now and follow the run", "run", {"keel backup run nightly"});
    backup_command(*backup, ctx, "list", "the job's backups, newest first", "list", {"keel backup list nightly --json"});
    backup_command(*backup, ctx, "prune", "apply the job's retention now", "prune", {"keel backup prune nightly"});
    auto* key = backup->add_subcommand("key", "the stack's backup encryption key");
    set_usage_exit(*key, ctx, kBackupUsage);
    key->footer(help_footer({"keel backup key export > backup.key", "keel backup key import backup.key"},
                            kBackupExitCodes));
    backup_command(*key, ctx, "export", "print the key (base64) for safekeeping", "key-export",
                   {"keel backup key export > backup.key"});
    backup_command(*key, ctx, "import", "put an exported key back into the state (after losing .keel/)", "key-import",
                   {"keel backup key import backup.key", "keel backup key import - < backup.key"});
  });

  declare_command(app, ctx, "restore", "restore a backup of the job and follow the run", [](CLI::App* cmd, Context& ctx) {
    auto restore = std::make_shared<BackupOptions>();
    fill_backup_command(cmd, ctx, "restore",
                        {"keel restore nightly", "keel restore nightly --snapshot 20260101T020000Z --to scratch_db",
                         "keel restore nightly --auto-approve"},
                        restore);
    cmd->add_option("--snapshot", restore->snapshot, "the backup to restore (default: the newest)")->type_name("ID");
    cmd->add_option("--to", restore->to, "another target: a database name, a cache's host:port, a directory (files: required)")
        ->type_name("TARGET");
    cmd->add_flag("--auto-approve", restore->auto_approve, "do not ask before overwriting the target");
  });
  declare_command(app, ctx, "drill", "restore the newest backup into a scratch target and verify it",
                  [](CLI::App* cmd, Context& ctx) { fill_backup_command(cmd, ctx, "drill", {"keel drill nightly"}); });
}

}  // namespace keel::commands

// keel backup run|list|prune NAME, keel backup key export, keel restore NAME,
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
#include "cli/commands/workspace.h"
#include "cli/state/file_store.h"
#include "cli/views/backup_view.h"
#include "core/diagnostics.h"
#include "core/files.h"
#include "core/http_client.h"

namespace keel::commands {

const char* backup_exit_code_help() {
  return "Exit codes (keel backup, restore, drill):\n"
         "  0    the run succeeded (a drill: its verification passed too)\n"
         "  1    the run failed (its error is printed), the agent could not be asked, or a restore\n"
         "       was not approved (cancelled, or no terminal and no --auto-approve)\n"
         "  2    usage or configuration error: bad flags, no state, unknown job\n"
         "  130  interrupted: the run goes on in the agent\n";
}

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

int usage_error(const Error& e, bool json) {
  report_error(e, json);
  return kBackupUsage;
}

int run_error(const Error& e, bool json) {
  report_error(e, json);
  // The agent not knowing a job the state names: the stack and the agent
  // are out of step, which `keel apply` fixes.
  return e.code() == ErrorCode::NotFound ? kBackupUsage : kBackupFailed;
}

// A job and the agent of the server that runs it.
struct JobHost {
  std::string job;
  std::string server;  // "servers.db"
  agents::Endpoint endpoint;
  json definition;     // the job as the server's agent has it (source, to, ...)
};

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
  auto endpoint = agents::endpoint_from_attributes(it->second->attributes);
  if (!endpoint)
    return fail(ErrorCode::Unavailable,
                fmt::format("{} runs backup `{}` but the state names no agent for it (agent_url)", it->second->address,
                            name));
  return JobHost{name, it->second->address, *endpoint, it->second->attributes.at("backups").at(name)};
}

// One line on stderr, redrawn in place.
void draw(const std::string& line) {
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
  std::fflush(stderr);
}

// Polls the run until it ends. A few failed polls in a row are borne (an
// agent busy at the moment); more end the follow with the last error.
Result<agents::JobRun> follow(agents::AgentClient& client, agents::JobRun run, bool progress) {
  const auto started = std::chrono::steady_clock::now();
  int failures = 0;
  while (run.running()) {
    if (progress) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      draw(views::progress_line(run, elapsed));
    }
    std::this_thread::sleep_for(kPollInterval);
    if (g_interrupted) break;
    auto next = client.run(run.id);
    if (next) {
      run = std::move(*next);
      failures = 0;
    } else if (++failures >= kPollFailuresAllowed) {
      if (progress) draw("");
      return fail(next.error().with_context(fmt::format("following run {} of `{}`", run.id, run.job)));
    }
  }
  if (progress) draw("");
  return run;
}

int report_run(const agents::JobRun& run, bool json) {
  const bool passed = views::run_passed(run);
  if (json) {
    std::printf("%s\n", run.raw.dump(2).c_str());
    if (!passed) std::fprintf(stderr, "Error: %s\n", views::run_summary(run).c_str());
  } else if (passed) {
    std::printf("%s\n", views::run_summary(run).c_str());
  } else {
    std::fprintf(stderr, "Error: %s\n", views::run_summary(run).c_str());
  }
  return passed ? kBackupOk : kBackupFailed;
}

agents::ClientOptions client_options() {
  agents::ClientOptions options;
  options.timeout = 10s;
  options.attempts = 2;
  return options;
}

// Starts ACTION of the job and follows the run to its end.
int start_and_follow(const GlobalOptions& g, const JobHost& host, const std::string& action, const json& body) {
  http::CurlHttpClient transport;
  agents::AgentClient client(transport, host.endpoint, client_options());
  auto started = client.start_run(host.job, action, body);
  if (!started) return run_error(started.error().with_context(fmt::format("{} of `{}` on {}", action, host.job, host.server)), g.json);
  const bool progress = ::isatty(STDERR_FILENO) == 1;
  if (!g.json) std::fprintf(stderr, "Started %s %s of `%s` on %s\n", started->kind.c_str(), started->id.c_str(),
                            host.job.c_str(), host.server.c_str());
  InterruptGuard guard;
  auto finished = follow(client, std::move(*started), progress);
  if (!finished) return run_error(finished.error(), g.json);
  if (finished->running()) {  // interrupted
    std::fprintf(stderr, "Interrupted: run %s goes on in the agent of %s.\n", finished->id.c_str(), host.server.c_str());
    return 130;
  }
  return report_run(*finished, g.json);
}

int list_backups(const GlobalOptions& g, const JobHost& host) {
  http::CurlHttpClient transport;
  agents::AgentClient client(transport, host.endpoint, client_options());
  auto answer = client.backups(host.job);
  if (!answer) return run_error(answer.error().with_context(fmt::format("backups of `{}` on {}", host.job, host.server)), g.json);
  const json& manifests = (*answer)["backups"];
  if (g.json) {
    std::printf("%s\n", json({{"job", host.job}, {"server", host.server}, {"backups", manifests}}).dump(2).c_str());
    return kBackupOk;
  }
  std::fputs(views::render_backups(manifests, std::chrono::system_clock::now()).c_str(), stdout);
  return kBackupOk;
}

int export_key(const GlobalOptions& g) {
  auto s = saved_state(g, "`keel apply` a stack with `backups:` first");
  if (!s) return usage_error(s.error(), g.json);
  const std::string key = state::find_backup_key(*s);
  if (key.empty())
    return usage_error(Error(ErrorCode::NotFound, "this stack has no backup key yet: keel makes it at the first "
                                                  "`keel apply` of a stack with `backups:`"),
                       g.json);
  std::fprintf(stderr,
               "Warning: keep this key safe, and apart from the backups. Without it nobody, keel included, can "
               "read or restore them.\n");
  if (g.json) std::printf("%s\n", json({{"backup_key", key}}).dump().c_str());
  else std::printf("%s\n", key.c_str());
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
  if (source.contains("files")) return to.empty() ? "the job's files, in place" : "the directory " + to;
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
      return dr::check_restore_target(type, s.is_object() ? s.value("host", "") : "", to);
    }
  return {};
}

// keel restore overwrites what is there: it says what, and a person says
// yes; without a terminal, --auto-approve says it.
Status approve_restore(const JobHost& host, const BackupOptions& o) {
  if (o.auto_approve) return {};
  std::string backup = o.snapshot.empty() ? "the newest backup" : "backup " + o.snapshot;
  http::CurlHttpClient transport;
  agents::AgentClient client(transport, host.endpoint, client_options());
  if (auto listed = client.backups(host.job)) {
    const json& all = (*listed)["backups"];
    for (const auto& m : all)
      if (o.snapshot.empty() ? &m == &all.front() : m.value("id", "") == o.snapshot)
        backup = fmt::format("backup {} (taken {})", m.value("id", "?"), m.value("finished", m.value("started", "?")));
  }
  const std::string target = restore_target(host, o.to);
  if (!::isatty(STDIN_FILENO))
    return fail(ErrorCode::InvalidConfig,
                fmt::format("keel restore {} would overwrite {} with {}; not on a terminal, so nobody can approve: "
                            "pass --auto-approve",
                            host.job, target, backup));
  std::printf("keel restore %s (on %s):\n  from  %s\n  into  %s\n  Whatever is there now is replaced.\n",
              host.job.c_str(), host.server.c_str(), backup.c_str(), target.c_str());
  if (!confirm("Do you want to restore?")) return fail(ErrorCode::InvalidConfig, "cancelled; nothing was restored");
  return {};
}

}  // namespace

int run_backup(const GlobalOptions& g, const BackupOptions& o) {
  if (o.action == "key-export") return export_key(g);
  auto s = saved_state(g, "`keel apply` a stack with `backups:` first");
  if (!s) return usage_error(s.error(), g.json);
  auto host = find_job(*s, o.job);
  if (!host) return usage_error(host.error(), g.json);
  if (o.action == "list") return list_backups(g, *host);
  json body = json::object();
  if (o.action == "restore") {
    if (auto checked = check_target(*host, o.to); !checked) return usage_error(checked.error(), g.json);
    // Not approved is a refusal like apply's (exit 1), not a usage error.
    if (auto approved = approve_restore(*host, o); !approved) {
      report_error(approved.error(), g.json);
      return kBackupFailed;
    }
    if (!o.snapshot.empty()) body["snapshot"] = o.snapshot;
    if (!o.to.empty()) body["to"] = o.to;
  }
  return start_and_follow(g, *host, o.action, body);
}

}  // namespace keel::commands

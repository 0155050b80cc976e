#pragma once
// The CLI's side of keel-agent's /v1 API (docs/agent.md): ping, health,
// checks, pushing a config, and disaster-recovery jobs (starting runs,
// following them, listing backups), over HTTPS verified against the agent's
// own CA, with its bearer token.
//
// Used by the local provider (waiting for a new agent, reconfiguring a
// running one) and by `keel health`. Owns no thread and no global state; an
// AgentClient may be used from one thread at a time, and many AgentClients
// may share one HttpClient.
//
// Errors: the HTTP client's (Unavailable: no connection; Timeout;
// Transient), PermissionDenied for a refused token (401), InvalidConfig for
// a config the agent refused (4xx, with its message), NotFound for an
// unknown job or run, Conflict for a job that is already running, Protocol
// for an answer that is not the documented JSON.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/check_spec.h"
#include "core/error.h"
#include "core/http_client.h"

namespace keel::agents {

// Where an agent listens and how to reach it.
struct Endpoint {
  std::string url;     // "https://127.0.0.1:7001", no trailing slash
  std::string ca_pem;  // the CA its certificate must chain to
  std::string token;   // bearer token
};

// The endpoint named by a server's attributes (agent_url, agent_ca,
// agent_token); nullopt when they name none (no agent_url).
std::optional<Endpoint> endpoint_from_attributes(const nlohmann::json& attributes);

struct HistoryEntry {
  std::string time;  // RFC 3339
  checks::CheckStatus status = checks::CheckStatus::Unknown;
  std::string output;
  long long duration_ms = 0;
};

// One check as the agent reports it.
struct CheckReport {
  std::string name;
  std::string type;
  checks::CheckStatus status = checks::CheckStatus::Unknown;
  std::string output;
  std::string last_run;                 // RFC 3339; empty when it has not run yet
  std::optional<double> last_run_unix;  // seconds since the epoch
  long long duration_ms = 0;
  nlohmann::json interval;              // as the agent gives it ("10s")
  std::vector<HistoryEntry> history;
};

struct HealthReport {
  checks::CheckStatus status = checks::CheckStatus::Unknown;
  std::map<std::string, int> counts;  // status name -> number of checks
  std::string hostname;
};

struct ConfigResult {
  bool applied = false;
  std::vector<std::string> added, changed, removed;  // check names; the others keep their state
  bool restart_required = false;     // e.g. listen or tls changed
};

// One run of a backup job (RUN in docs/agent.md): a backup, restore, drill
// or prune, started by the API or the schedule.
struct JobRun {
  std::string id, job;
  std::string kind;                // backup | restore | drill | prune
  std::string status;              // running | succeeded | failed
  std::string started, finished;   // RFC 3339; finished is empty while running
  double duration_seconds = 0;
  long long bytes_read = 0, bytes_stored = 0;
  std::string snapshot;            // the backup made or restored; empty: none
  std::string error;               // why it failed; empty: none
  nlohmann::json result = nlohmann::json::object();  // kind-specific (drill: rto_seconds, ...)
  nlohmann::json raw = nlohmann::json::object();     // the whole object as the agent sent it

  bool running() const { return status == "running"; }
  bool succeeded() const { return status == "succeeded"; }
};

// Parses RUN (exposed for tests).
Result<JobRun> job_run_from_json(const nlohmann::json& j);

struct ClientOptions {
  std::chrono::milliseconds timeout{5'000};  // per attempt
  int attempts = 3;                          // for transport errors and 5xx
  bool reuse_connections = true;             // false: one connection per call
};

class AgentClient {
 public:
  AgentClient(http::HttpClient& transport, Endpoint endpoint, ClientOptions options = {});

  // GET /v1/ping (no token): the agent answers.
  Status ping();
  // GET /v1/health: 200 passing, 429 warning, 503 critical/unknown are all
  // answers here, never retried.
  Result<HealthReport> health();
  // GET /v1/checks.
  Result<std::vector<CheckReport>> checks();
  // POST /v1/checks/NAME/run: the agent runs the check now (or joins the
  // run in flight), waits for it and answers the check. The request may
  // take as long as the check's timeout: give the client a timeout to match.
  // NotFound for a check the agent does not run.
  Result<CheckReport> run_check(const std::string& name);
  // PUT /v1/config with the whole config document.
  Result<ConfigResult> put_config(const nlohmann::json& config);

  // POST /v1/jobs/JOB/ACTION (run, drill, prune, restore) with `body`: the
  // run it started (202). NotFound for an unknown job; Conflict when a run of
  // the job is in progress (the message names that run).
  Result<JobRun> start_run(const std::string& job, const std::string& action,
                           const nlohmann::json& body = nlohmann::json::object());
  // GET /v1/runs/ID.
  Result<JobRun> run(const std::string& id);
  // GET /v1/backups/JOB: {"job", "backups": [MANIFEST, ...]}, newest first.
  Result<nlohmann::json> backups(const std::string& job);

  const Endpoint& endpoint() const { return endpoint_; }

 private:
  http::Request request(const std::string& method, const std::string& path) const;
  Result<nlohmann::json> json_body(const http::Request& request, const http::Response& response) const;

  http::HttpClient& transport_;
  Endpoint endpoint_;
  ClientOptions options_;
};

// Parses one element of GET /v1/checks (exposed for tests).
Result<CheckReport> check_report_from_json(const nlohmann::json& j);

}  // namespace keel::agents

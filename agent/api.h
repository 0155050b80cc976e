#pragma once
// The agent's HTTP API, on the agent's own server (agent/httpd: limits,
// deadlines and caps against clients without the token); HTTPS when the
// config has `tls`.
//
//   GET  /v1/ping                 no token needed: {"status":"ok","version":...}
//   GET  /v1/health               aggregate; HTTP 200 passing, 429 warning, 503 critical/unknown
//   GET  /v1/checks               every check with its last output and history
//   GET  /v1/checks/NAME          one check
//   POST /v1/checks/NAME/run      runs it now and answers with the result
//   PUT  /v1/config               replaces the config (body: YAML or JSON)
//   GET  /v1/jobs                 the backup jobs, their next and last runs
//   POST /v1/jobs/NAME/run|drill|prune|restore   starts a run: 202 {"run": RUN}; 409 while one is in progress
//   GET  /v1/runs/ID, GET /v1/runs?job=NAME      runs (newest first)
//   GET  /v1/backups/NAME         the job's backups, as keel-dr lists them
//   GET  /metrics                 Prometheus text format
//
// Every route but /v1/ping wants `Authorization: Bearer TOKEN` (the scheme
// in any case, the token compared in constant time; 401 otherwise), checked
// on the head, before any byte of the body is read. Every error is JSON
// {"error": "..."} and is logged (without the token). Bodies over 1 MiB get
// 413, heads over 16 KiB or with over 100 fields 431 (agent/httpd).

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/config.h"
#include "agent/httpd/message.h"
#include "agent/jobs/job_scheduler.h"
#include "agent/metrics.h"
#include "agent/scheduler.h"
#include "core/error.h"

namespace keel::agent::httpd {
class Server;
}

namespace keel::agent {

struct ApiContext {
  CheckScheduler* scheduler = nullptr;
  AgentCounters* counters = nullptr;
  // The current token (it may change on reload).
  std::function<std::string()> token;
  // Applies a new config document; the JSON answer of PUT /v1/config.
  // InvalidConfig errors answer 400, PermissionDenied 403.
  std::function<Result<nlohmann::json>(const std::string& body)> put_config;
  std::string hostname;
  JobScheduler* jobs = nullptr;
};

inline constexpr size_t kMaxRequestBody = 1 << 20;

class ApiServer {
 public:
  explicit ApiServer(ApiContext context);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds host:port (port 0: any free one) and serves on its threads. Fails
  // with a clear error when the port is taken or the TLS files are bad.
  Status start(const std::string& host, int port, const std::optional<TlsConfig>& tls);
  void stop();
  int port() const;

  // What the server calls for each request; public so that the fuzz target
  // (tests/fuzz/fuzz_agent_http.cpp) drives them without sockets.
  //
  // The head's check, before the body is read: 401 without the token.
  std::optional<httpd::Response> admit(const httpd::Request& head) const;
  // The answer to a complete request.
  httpd::Response handle(const httpd::Request& request) const;
  // Health and ping take the express lane.
  static bool express(const httpd::Request& request);
  // Counts and logs error answers.
  void log(const httpd::Request& request, const httpd::Response& response) const;

 private:
  // At most kErrorLinesPerSecond "api error" lines a second, so that a flood
  // of refused requests does not flood the log (each is still counted in
  // keel_agent_api_errors_total); the next line says how many were left out.
  struct LogBudget {
    std::mutex mutex;
    std::chrono::steady_clock::time_point window;
    int lines = 0;
    long long left_out = 0;
  };

  ApiContext context_;
  std::unique_ptr<httpd::Server> server_;
  mutable LogBudget log_budget_;
};

// 200 passing, 429 warning, 503 otherwise: what Consul's agent endpoints
// answer, so that load balancers can use /v1/health (and the health
// listener, agent/health_listener.h) directly.
int health_http_status(checks::CheckStatus status);
// The worst status of the checks; passing when there are none.
checks::CheckStatus aggregate_status(const std::vector<CheckSnapshot>& checks);

// The JSON form of a check for the API and webhook (no secrets: the
// definition itself is not included).
nlohmann::json check_to_json(const CheckSnapshot& check, bool with_history);
// A job for GET /v1/jobs (no credentials: `to` without a password, no
// definition).
nlohmann::json job_to_json(const JobView& job);

}  // namespace keel::agent

#pragma once
// The agent's HTTP API (cpp-httplib; HTTPS when the config has `tls`).
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
// Every route but /v1/ping wants `Authorization: Bearer TOKEN` (compared in
// constant time; 401 otherwise). Every error is JSON {"error": "..."} and is
// logged (without the token). Bodies over 1 MiB get 413.

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/config.h"
#include "agent/jobs/job_scheduler.h"
#include "agent/metrics.h"
#include "agent/scheduler.h"
#include "core/error.h"

namespace httplib {
class Server;
}

namespace keel::agent {

struct ApiContext {
  CheckScheduler* scheduler = nullptr;
  AgentCounters* counters = nullptr;
  // The current token (it may change on reload).
  std::function<std::string()> token;
  // Applies a new config document; the JSON answer of PUT /v1/config.
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

  // Binds host:port (port 0: any free one) and serves on a thread. Fails
  // with a clear error when the port is taken or the TLS files are bad.
  Status start(const std::string& host, int port, const std::optional<TlsConfig>& tls);
  void stop();
  int port() const { return port_; }

 private:
  void add_routes();
  void add_job_routes();

  ApiContext context_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// The JSON form of a check for the API and webhook (no secrets: the
// definition itself is not included).
nlohmann::json check_to_json(const CheckSnapshot& check, bool with_history);
// A job for GET /v1/jobs (no credentials: `to` without a password, no
// definition).
nlohmann::json job_to_json(const JobView& job);

}  // namespace keel::agent

#pragma once
// The running agent: its config, checks, backup jobs, API and webhook, and
// how a new config is taken in (SIGHUP re-reads the file; PUT /v1/config sends one).
// A config that fails validation is refused whole and the running one kept.

#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/api.h"
#include "agent/config.h"
#include "agent/health_listener.h"
#include "agent/jobs/job_scheduler.h"
#include "agent/metrics.h"
#include "agent/scheduler.h"
#include "agent/webhook.h"
#include "core/error.h"

namespace keel::agent {

class Agent {
 public:
  Agent(std::string config_path, AgentConfig config);
  ~Agent();

  // Reads the token, starts the checks, binds the API. Fails (and starts
  // nothing) when the token or the listening socket is not usable.
  Status start();
  void stop();

  // SIGHUP: re-reads the config file.
  Result<nlohmann::json> reload_from_file();
  // PUT /v1/config: validates `text`, writes it over the config file (so a
  // restart keeps it), then applies it. The answer: {"applied": true,
  // "added": [...], "changed": [...], "removed": [...], "restart_required": bool}.
  // PermissionDenied when the file says `remote_config: false`, when `text`
  // changes a host-only setting, or when it has an exec check that
  // `exec_allowed` does not list; InvalidConfig when it does not validate.
  Result<nlohmann::json> apply_config_text(const std::string& text);

  int port() const { return api_.port(); }
  // The health listener's port; 0 when it is off.
  int health_port() const { return health_.port(); }

 private:
  Result<nlohmann::json> apply(AgentConfig next);
  CheckResult run_any_check(const checks::CheckSpec& spec);
  void on_status_change(const StatusChange& change);
  std::string current_token() const;
  AgentConfig running_config() const;
  Result<nlohmann::json> refuse_config(Error error);

  std::string config_path_;
  std::string hostname_;
  AgentCounters counters_;

  // Taken for a whole reload (validate, write the file, apply), so that two
  // PUT /v1/config at once cannot leave the file with one config and the
  // agent running the other. Never taken by the API's token check.
  std::mutex reload_mutex_;
  mutable std::mutex mutex_;  // guards config_
  AgentConfig config_;
  // Apart from mutex_: the API's gate thread checks the token of every
  // request and must not wait for a reload in progress.
  mutable std::mutex token_mutex_;
  std::string token_;

  Webhook webhook_;
  JobScheduler jobs_;          // before scheduler_: the dr checks read it
  CheckScheduler scheduler_;
  ApiServer api_;
  HealthListener health_;  // started only with `health_listen`
};

}  // namespace keel::agent

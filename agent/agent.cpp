#include "agent/agent.h"

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/files.h"
#include "core/log.h"

namespace keel::agent {

namespace {

std::string local_hostname() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

nlohmann::json names(const std::vector<std::string>& list) { return nlohmann::json(list); }

// Often enough to notice an rpo passing within a minute; a run's end
// triggers it too.
constexpr auto kDrCheckInterval = std::chrono::seconds(60);

// The file's checks plus one `dr-NAME` per backup job.
std::vector<checks::CheckSpec> all_checks(const AgentConfig& config) {
  std::vector<checks::CheckSpec> specs = config.checks;
  for (const auto& job : config.backups) {
    checks::CheckSpec spec;
    spec.name = dr_check_name(job.name);
    spec.type = checks::CheckType::Dr;
    spec.interval = kDrCheckInterval;
    spec.timeout = std::chrono::seconds(5);
    spec.params = checks::DrCheck{job.name};
    specs.push_back(std::move(spec));
  }
  return specs;
}

// The backup key, read only when there are jobs to use it.
Result<std::string> backup_key(const AgentConfig& config) {
  if (config.backups.empty()) return std::string();
  return read_backup_key(config.backup_key_file);
}

JobsSettings jobs_settings(const AgentConfig& config, std::string key) {
  JobsSettings settings;
  settings.jobs = config.backups;
  settings.worker = config.dr_worker.empty() ? default_dr_worker() : config.dr_worker;
  settings.key = std::move(key);
  return settings;
}

}  // namespace

Agent::Agent(std::string config_path, AgentConfig config)
    : config_path_(std::move(config_path)),
      hostname_(local_hostname()),
      config_(std::move(config)),
      webhook_(counters_, hostname_),
      jobs_([this](const Run& run) { scheduler_.trigger(dr_check_name(run.job)); }),
      scheduler_([this](const StatusChange& change) { on_status_change(change); },
                 [this](const checks::CheckSpec& spec) { return run_any_check(spec); }),
      api_(ApiContext{.scheduler = &scheduler_,
                      .counters = &counters_,
                      .token = [this] { return current_token(); },
                      .put_config = [this](const std::string& body) { return apply_config_text(body); },
                      .hostname = hostname_,
                      .jobs = &jobs_}),
      health_(scheduler_) {}

Agent::~Agent() { stop(); }

Status Agent::start() {
  auto token = read_token(config_.token_file);
  if (!token) return fail(token.error());
  auto key = backup_key(config_);
  if (!key) return fail(key.error());
  if (auto st = files::make_dirs(config_.state_dir, 0700); !st) return fail(st.error().with_context("state_dir"));
  {
    std::lock_guard lock(token_mutex_);
    token_ = *token;
  }
  if (auto st = jobs_.start(config_.state_dir); !st) return st;
  jobs_.configure(jobs_settings(config_, std::move(*key)));
  webhook_.configure(config_.webhook);
  scheduler_.reload(all_checks(config_));
  scheduler_.start();
  if (auto st = api_.start(config_.listen_host, config_.listen_port, config_.tls); !st) {
    scheduler_.stop();
    jobs_.stop();
    return st;
  }
  if (config_.health_listen) {
    if (auto st = health_.start(config_.health_listen->first, config_.health_listen->second); !st) {
      stop();
      return st;
    }
  }
  nlohmann::ordered_json fields = {{"version", KEEL_VERSION},
                                   {"listen", format_host_port({config_.listen_host, api_.port()})},
                                   {"tls", config_.tls.has_value()},
                                   {"checks", config_.checks.size()},
                                   {"backups", config_.backups.size()}};
  if (config_.health_listen) fields["health_listen"] = format_host_port({config_.health_listen->first, health_.port()});
  logging::event(logging::Level::Info, "agent started", fields);
  return {};
}

void Agent::stop() {
  // Jobs first: that also cancels a GET /v1/backups in flight, which the
  // API's stop would otherwise wait for.
  jobs_.stop();
  health_.stop();
  api_.stop();
  scheduler_.stop();
  webhook_.stop();
}

std::string Agent::current_token() const {
  std::lock_guard lock(token_mutex_);
  return token_;
}

Result<nlohmann::json> Agent::reload_from_file() {
  std::lock_guard reload(reload_mutex_);
  auto load = load_agent_config(config_path_);
  if (load.diagnostics.has_errors()) {
    ++counters_.reloads_failed;
    return fail(ErrorCode::InvalidConfig, load.diagnostics.describe());
  }
  return apply(std::move(load.config));
}

Result<nlohmann::json> Agent::apply_config_text(const std::string& text) {
  std::lock_guard reload(reload_mutex_);
  const AgentConfig host = running_config();
  if (!host.remote_config)
    return refuse_config(Error(ErrorCode::PermissionDenied,
                               "remote config changes are turned off on this agent (`remote_config: false` in its "
                               "file): edit the file on the host, then send SIGHUP"));
  // Relative paths in the body are relative to the config file, as they
  // would be once it is written there.
  auto load = parse_agent_config(text, "request body", files::dirname(config_path_));
  if (load.diagnostics.has_errors()) return refuse_config(Error(ErrorCode::InvalidConfig, load.diagnostics.describe()));
  if (auto change = host_only_change(load, host)) return refuse_config(Error(ErrorCode::PermissionDenied, *change));
  load.config.file = config_path_;
  load.config.remote_config = host.remote_config;
  load.config.exec_allowed = host.exec_allowed;
  load.config.dr_worker = host.dr_worker;
  load.config.health_listen = host.health_listen;
  if (auto problems = exec_checks_not_allowed(load.config); !problems.empty())
    return refuse_config(Error(ErrorCode::PermissionDenied, fmt::format("{}", fmt::join(problems, "; "))));
  auto file_text = with_host_settings(text, host);
  if (!file_text) return refuse_config(file_text.error());
  // Validate the token before the file is replaced: a refused config must
  // leave both the running agent and its file as they were.
  if (auto token = read_token(load.config.token_file); !token)
    return refuse_config(Error(ErrorCode::InvalidConfig, token.error().message()));
  if (auto key = backup_key(load.config); !key) return refuse_config(Error(ErrorCode::InvalidConfig, key.error().message()));
  if (auto st = files::write_atomic(config_path_, *file_text, 0600); !st)
    return refuse_config(st.error().with_context("writing the config file"));
  return apply(std::move(load.config));
}

AgentConfig Agent::running_config() const {
  std::lock_guard lock(mutex_);
  return config_;
}

Result<nlohmann::json> Agent::refuse_config(Error error) {
  ++counters_.reloads_failed;
  return fail(std::move(error));
}

Result<nlohmann::json> Agent::apply(AgentConfig next) {
  std::lock_guard lock(mutex_);
  auto token = read_token(next.token_file);
  if (!token) {
    ++counters_.reloads_failed;
    return fail(ErrorCode::InvalidConfig, token.error().message());
  }
  auto key = backup_key(next);
  if (!key) {
    ++counters_.reloads_failed;
    return fail(ErrorCode::InvalidConfig, key.error().message());
  }
  if (auto st = files::make_dirs(next.state_dir, 0700); !st) {
    ++counters_.reloads_failed;
    return fail(st.error().with_context("state_dir"));
  }
  const bool restart_required = !config_.same_listener(next);
  jobs_.configure(jobs_settings(next, std::move(*key)));
  auto summary = scheduler_.reload(all_checks(next));
  webhook_.configure(next.webhook);
  {
    std::lock_guard token_lock(token_mutex_);
    token_ = *token;
  }
  // The listeners keep their settings until a restart.
  next.listen_host = config_.listen_host;
  next.listen_port = config_.listen_port;
  next.tls = config_.tls;
  next.health_listen = config_.health_listen;
  config_ = std::move(next);
  ++counters_.reloads_ok;
  logging::event(logging::Level::Info, "config applied",
                 {{"added", summary.added.size()}, {"changed", summary.changed.size()},
                  {"removed", summary.removed.size()}, {"kept", summary.kept.size()},
                  {"restart_required", restart_required}});
  return nlohmann::json{{"applied", true},
                        {"added", names(summary.added)},
                        {"changed", names(summary.changed)},
                        {"removed", names(summary.removed)},
                        {"restart_required", restart_required}};
}

CheckResult Agent::run_any_check(const checks::CheckSpec& spec) {
  if (const auto* dr = std::get_if<checks::DrCheck>(&spec.params)) return jobs_.dr_check(dr->job);
  return run_check(spec);
}

void Agent::on_status_change(const StatusChange& change) {
  auto level = change.to == checks::CheckStatus::Passing ? logging::Level::Info : logging::Level::Warning;
  logging::event(level, "check status changed",
                 {{"check", change.check}, {"type", checks::to_string(change.type)},
                  {"from", checks::to_string(change.from)}, {"to", checks::to_string(change.to)},
                  {"output", truncate_output(change.output, 512)}});
  webhook_.notify(change);
}

}  // namespace keel::agent

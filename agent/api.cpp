#include "agent/api.h"

#include <httplib.h>

#include <chrono>

#include <fmt/format.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/time.h"

namespace keel::agent {

namespace {

using checks::CheckStatus;
using Json = nlohmann::json;

// Threads serving connections. Keep-alive connections hold one each, so this
// bounds concurrent clients; the rest wait in the queue.
constexpr size_t kApiThreads = 8;
constexpr size_t kHistoryOutputLimit = 512;

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n", "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, Json{{"error", message}});
}

// 200 passing, 429 warning, 503 otherwise: what Consul's agent endpoints
// answer, so that load balancers can use /v1/health directly.
int health_http_status(CheckStatus status) {
  switch (status) {
    case CheckStatus::Passing: return 200;
    case CheckStatus::Warning: return 429;
    default: return 503;
  }
}

Json run_to_json(const CheckRun& run, size_t output_limit) {
  return {{"time", timeutil::rfc3339(run.time)},
          {"status", checks::to_string(run.result)},
          {"output", truncate_output(run.output, output_limit)},
          {"duration_ms", run.duration.count() / 1000.0}};
}

int error_http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::NotFound: return 404;
    case ErrorCode::InvalidConfig: return 400;
    case ErrorCode::Conflict: return 409;
    case ErrorCode::Timeout: return 504;
    case ErrorCode::Unavailable:
    case ErrorCode::Transient: return 503;
    default: return 500;
  }
}

// The body of POST /v1/jobs/NAME/ACTION: nothing, except for a restore,
// which may name a snapshot and a target: {"snapshot": "ID", "to": "TARGET"}.
Result<RunRequest> run_request(const std::string& action, const std::string& body) {
  RunRequest request;
  request.kind = action == "run" ? RunKind::Backup : *run_kind_from_string(action);
  if (request.kind != RunKind::Restore || body.empty()) return request;
  auto json = Json::parse(body, nullptr, false);
  if (!json.is_object()) return fail(ErrorCode::InvalidConfig, R"(the body must be a JSON object: {"snapshot"?: "ID", "to"?: "TARGET"})");
  for (const auto& [key, value] : json.items()) {
    if ((key != "snapshot" && key != "to") || !value.is_string() || value.get<std::string>().empty())
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("unknown or empty `{}` in the body; it takes \"snapshot\" and \"to\" (strings)", key));
    (key == "snapshot" ? request.snapshot : request.target) = value.get<std::string>();
  }
  return request;
}

void answer_start(httplib::Response& res, const std::string& job, const StartAnswer& answer) {
  using Outcome = StartAnswer::Outcome;
  switch (answer.outcome) {
    case Outcome::Started: return send_json(res, 202, {{"run", to_json(*answer.run)}});
    case Outcome::UnknownJob: return send_error(res, 404, fmt::format("no backup job named `{}`", job));
    case Outcome::Busy:
      return send_json(res, 409, {{"error", fmt::format("job `{}` has a {} run in progress", job,
                                                        to_string(answer.run->kind))},
                                  {"run_id", answer.run->id}});
    case Outcome::Stopping: return send_error(res, 503, "the agent is stopping");
    case Outcome::Refused: return send_error(res, 400, answer.error);
  }
}

bool authorized(const httplib::Request& req, const std::string& token) {
  const std::string header = req.get_header_value("Authorization");
  static const std::string prefix = "Bearer ";
  if (token.empty() || header.size() <= prefix.size() || header.compare(0, prefix.size(), prefix) != 0) return false;
  return crypto::constant_time_equal(std::string_view(header).substr(prefix.size()), token);
}

}  // namespace

Json check_to_json(const CheckSnapshot& c, bool with_history) {
  Json j = {{"name", c.spec.name},
            {"type", checks::to_string(c.spec.type)},
            {"status", checks::to_string(c.status)},
            {"output", c.output},
            {"interval", timeutil::format_duration(c.spec.interval)},
            {"timeout", timeutil::format_duration(c.spec.timeout)},
            {"last_run", nullptr},
            {"last_run_unix", nullptr},
            {"duration_ms", nullptr},
            {"consecutive_successes", c.consecutive_successes},
            {"consecutive_failures", c.consecutive_failures},
            {"runs", c.runs},
            {"running", c.running}};
  if (c.last_run) {
    j["last_run"] = timeutil::rfc3339(c.last_run->time);
    j["last_run_unix"] = timeutil::unix_seconds(c.last_run->time);
    j["duration_ms"] = c.last_run->duration.count() / 1000.0;
  }
  if (with_history) {
    j["history"] = Json::array();
    for (const auto& run : c.history) j["history"].push_back(run_to_json(run, kHistoryOutputLimit));
  }
  return j;
}

Json job_to_json(const JobView& j) {
  auto time_or_null = [](const std::optional<Run::TimePoint>& t) { return t ? Json(timeutil::rfc3339(*t)) : Json(nullptr); };
  auto run_or_null = [](const std::optional<Run>& r) { return r ? to_json(*r) : Json(nullptr); };
  return {{"name", j.name},
          {"source", to_string(j.source)},
          {"to", j.to},
          {"schedule", j.schedule.empty() ? Json(nullptr) : Json(j.schedule)},
          {"next_run", time_or_null(j.next_run)},
          {"drill_every", j.drill_every ? Json(timeutil::format_duration(*j.drill_every)) : Json(nullptr)},
          {"next_drill", time_or_null(j.next_drill)},
          {"running_run", j.running_run ? Json(*j.running_run) : Json(nullptr)},
          {"last_backup", run_or_null(j.last_backup)},
          {"last_drill", run_or_null(j.last_drill)},
          {"last_success", time_or_null(j.last_success)}};
}

ApiServer::ApiServer(ApiContext context) : context_(std::move(context)) {}

ApiServer::~ApiServer() { stop(); }

Status ApiServer::start(const std::string& host, int port, const std::optional<TlsConfig>& tls) {
  if (tls) {
    server_ = std::make_unique<httplib::SSLServer>(tls->cert_file.c_str(), tls->key_file.c_str());
    if (!server_->is_valid())
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("TLS: cannot load the certificate {} and key {} (PEM files, matching each other)",
                              tls->cert_file, tls->key_file));
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  server_->new_task_queue = [] { return new httplib::ThreadPool(kApiThreads); };
  // Without TCP_NODELAY a TLS response written in pieces waits for the
  // client's delayed ACK: 40 ms per request instead of under one.
  server_->set_tcp_nodelay(true);
  server_->set_payload_max_length(kMaxRequestBody);
  server_->set_read_timeout(std::chrono::seconds(5));
  server_->set_write_timeout(std::chrono::seconds(5));
  // stop() waits for idle keep-alive connections: keep that short.
  server_->set_keep_alive_timeout(2);
  add_routes();

  int bound = 0;
  if (port == 0) {
    bound = server_->bind_to_any_port(host);
  } else if (server_->bind_to_port(host, port)) {
    bound = port;
  }
  if (bound <= 0)
    return fail(ErrorCode::Unavailable, fmt::format("cannot listen on {}:{}: the address is in use or not local", host, port));
  port_ = bound;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return {};
}

void ApiServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void ApiServer::add_routes() {
  auto& s = *server_;
  const ApiContext& ctx = context_;

  s.set_pre_routing_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/v1/ping") return httplib::Server::HandlerResponse::Unhandled;
    if (authorized(req, ctx.token())) return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer realm=\"keel-agent\"");
    send_error(res, 401, req.has_header("Authorization") ? "the bearer token is wrong"
                                                         : "missing `Authorization: Bearer TOKEN`");
    return httplib::Server::HandlerResponse::Handled;
  });

  // Errors raised by httplib itself (404, 413, 400) arrive without a body.
  s.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    switch (res.status) {
      case 404: message = fmt::format("no route {} {}", req.method, req.path); break;
      case 413: message = fmt::format("request body over {} bytes", kMaxRequestBody); break;
      default: message = fmt::format("HTTP {}", res.status); break;
    }
    send_error(res, res.status, message);
    return httplib::Server::HandlerResponse::Handled;
  }));

  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, 500, what);
  });

  s.set_logger([&ctx](const httplib::Request& req, const httplib::Response& res) {
    // 429 and 503 from /v1/health are answers about the checks, not errors.
    if (res.status < 400 || (req.path == "/v1/health" && (res.status == 429 || res.status == 503))) return;
    ++ctx.counters->api_errors;
    std::string message;
    auto body = Json::parse(res.body, nullptr, false);
    if (body.is_object() && body.contains("error") && body["error"].is_string()) message = body["error"];
    logging::event(res.status >= 500 ? logging::Level::Error : logging::Level::Warning, "api error",
                   {{"method", req.method}, {"path", req.path}, {"status", res.status},
                    {"remote", req.remote_addr}, {"error", message}});
  });

  s.Get("/v1/ping", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"status", "ok"}, {"version", KEEL_VERSION}});
  });

  s.Get("/v1/health", [&ctx](const httplib::Request&, httplib::Response& res) {
    auto checks = ctx.scheduler->snapshot();
    CheckStatus status = CheckStatus::Passing;
    Json counts = {{"passing", 0}, {"warning", 0}, {"critical", 0}, {"unknown", 0}};
    Json list = Json::array();
    for (const auto& c : checks) {
      status = checks::worst(status, c.status);
      counts[checks::to_string(c.status)] = counts[checks::to_string(c.status)].get<int>() + 1;
      list.push_back({{"name", c.spec.name}, {"status", checks::to_string(c.status)}, {"output", c.output}});
    }
    send_json(res, health_http_status(status),
              {{"status", checks::to_string(status)}, {"counts", counts}, {"hostname", ctx.hostname}, {"checks", list}});
  });

  s.Get("/v1/checks", [&ctx](const httplib::Request&, httplib::Response& res) {
    Json list = Json::array();
    for (const auto& c : ctx.scheduler->snapshot()) list.push_back(check_to_json(c, true));
    send_json(res, 200, {{"checks", list}});
  });

  s.Get(R"(/v1/checks/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto check = ctx.scheduler->snapshot(req.matches[1].str());
    if (!check) return send_error(res, 404, fmt::format("no check named `{}`", req.matches[1].str()));
    send_json(res, 200, check_to_json(*check, true));
  });

  s.Post(R"(/v1/checks/([^/]+)/run)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto check = ctx.scheduler->run_now(req.matches[1].str());
    if (!check) return send_error(res, 404, fmt::format("no check named `{}`", req.matches[1].str()));
    send_json(res, 200, check_to_json(*check, true));
  });

  s.Put("/v1/config", [&ctx](const httplib::Request& req, httplib::Response& res) {
    if (req.body.empty()) return send_error(res, 400, "empty body: send the whole agent config (YAML or JSON)");
    auto answer = ctx.put_config(req.body);
    if (!answer)
      return send_error(res, answer.error().code() == ErrorCode::InvalidConfig ? 400 : 500, answer.error().message());
    send_json(res, 200, *answer);
  });

  s.Get("/metrics", [&ctx](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_metrics(ctx.scheduler->snapshot(), ctx.scheduler->aggregate(), *ctx.counters,
                                   read_process_stats(), ctx.jobs ? ctx.jobs->metrics() : std::vector<JobMetrics>{}),
                    "text/plain; version=0.0.4; charset=utf-8");
  });

  if (ctx.jobs) add_job_routes();
}

void ApiServer::add_job_routes() {
  auto& s = *server_;
  JobScheduler& jobs = *context_.jobs;

  s.Get("/v1/jobs", [&jobs](const httplib::Request&, httplib::Response& res) {
    Json list = Json::array();
    for (const auto& job : jobs.jobs()) list.push_back(job_to_json(job));
    send_json(res, 200, {{"jobs", list}});
  });

  s.Post(R"(/v1/jobs/([^/]+)/(run|drill|prune|restore))", [&jobs](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1].str();
    auto request = run_request(req.matches[2].str(), req.body);
    if (!request) return send_error(res, 400, request.error().message());
    answer_start(res, name, jobs.start_run(name, *request));
  });

  s.Get(R"(/v1/runs/([^/]+))", [&jobs](const httplib::Request& req, httplib::Response& res) {
    auto run = jobs.find_run(req.matches[1].str());
    if (!run) return send_error(res, 404, fmt::format("no run with id `{}`", req.matches[1].str()));
    send_json(res, 200, {{"run", to_json(*run)}});
  });

  s.Get("/v1/runs", [&jobs](const httplib::Request& req, httplib::Response& res) {
    Json list = Json::array();
    for (const auto& run : jobs.runs(req.get_param_value("job"))) list.push_back(to_json(run));
    send_json(res, 200, {{"runs", list}});
  });

  s.Get(R"(/v1/backups/([^/]+))", [&jobs](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1].str();
    auto backups = jobs.list_backups(name);
    if (!backups) return send_error(res, error_http_status(backups.error().code()), backups.error().message());
    send_json(res, 200, {{"job", name}, {"backups", *backups}});
  });
}

}  // namespace keel::agent

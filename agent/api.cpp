#include "agent/api.h"

#include <chrono>

#include <fmt/format.h>

#include "agent/httpd/server.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/time.h"

namespace keel::agent {

namespace {

using checks::CheckStatus;
using httpd::Request;
using httpd::Response;
using Json = nlohmann::json;

// The most threads running handlers (besides the express one for health);
// they start as requests need them (agent/httpd/server.h). A handler
// may wait: for a check run (POST /v1/checks/NAME/run) or a listing of
// backups (up to 60 s).
constexpr size_t kApiWorkers = 8;
constexpr size_t kHistoryOutputLimit = 512;
// What of a request's path a log line shows (the path is the client's).
constexpr size_t kLoggedPathLimit = 200;
constexpr int kErrorLinesPerSecond = 20;

Response json_response(int status, const Json& body) {
  Response res;
  res.status = status;
  res.content_type = "application/json";
  res.body = body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  return res;
}

Response error(int status, const std::string& message) { return httpd::error_response(status, message); }

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
    case ErrorCode::PermissionDenied: return 403;
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

Response answer_start(const std::string& job, const StartAnswer& answer) {
  using Outcome = StartAnswer::Outcome;
  switch (answer.outcome) {
    case Outcome::Started: return json_response(202, {{"run", to_json(*answer.run)}});
    case Outcome::UnknownJob: return error(404, fmt::format("no backup job named `{}`", job));
    case Outcome::Busy:
      return json_response(409, {{"error", fmt::format("job `{}` has a {} run in progress", job, to_string(answer.run->kind))},
                                 {"run_id", answer.run->id}});
    case Outcome::Stopping: break;
    case Outcome::Refused: return error(400, answer.error);
  }
  return error(503, "the agent is stopping");
}

// `Authorization: Bearer TOKEN`. The scheme is case-insensitive (RFC 7235:
// `bearer` and `BEARER` are the same), one or more spaces follow it, and
// the token is compared in constant time.
bool authorized(std::string_view header, const std::string& token) {
  constexpr std::string_view scheme = "Bearer";
  if (token.empty() || header.size() <= scheme.size() || !httpd::iequals(header.substr(0, scheme.size()), scheme) ||
      header[scheme.size()] != ' ')
    return false;
  std::string_view credentials = header.substr(scheme.size());
  while (!credentials.empty() && credentials.front() == ' ') credentials.remove_prefix(1);
  return crypto::constant_time_equal(credentials, token);
}

// The path's segments, percent-decoded: /v1/checks/web%2D1 is {v1, checks,
// web-1}. nullopt for a bad escape.
std::optional<std::vector<std::string>> path_segments(std::string_view path) {
  std::vector<std::string> segments;
  if (path.empty() || path.front() != '/') return std::nullopt;
  path.remove_prefix(1);
  for (;;) {
    size_t slash = path.find('/');
    auto segment = httpd::percent_decode(path.substr(0, slash), false);
    if (!segment) return std::nullopt;
    segments.push_back(std::move(*segment));
    if (slash == std::string_view::npos) return segments;
    path.remove_prefix(slash + 1);
  }
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

namespace {

// One route: a method and the path's segments, "*" matching any one; the
// handler gets what the stars matched.
using Args = std::vector<std::string>;
struct Route {
  std::string_view method;
  std::vector<std::string_view> pattern;
  Response (*handler)(const ApiContext& ctx, const Request& req, const Args& args);
  bool needs_jobs = false;
};

Response health(const ApiContext& ctx, const Request&, const Args&) {
  auto checks = ctx.scheduler->snapshot();
  const CheckStatus status = aggregate_status(checks);
  Json counts = {{"passing", 0}, {"warning", 0}, {"critical", 0}, {"unknown", 0}};
  Json list = Json::array();
  for (const auto& c : checks) {
    counts[checks::to_string(c.status)] = counts[checks::to_string(c.status)].get<int>() + 1;
    list.push_back({{"name", c.spec.name}, {"status", checks::to_string(c.status)}, {"output", c.output}});
  }
  return json_response(health_http_status(status),
                       {{"status", checks::to_string(status)}, {"counts", counts}, {"hostname", ctx.hostname}, {"checks", list}});
}

Response put_config(const ApiContext& ctx, const Request& req, const Args&) {
  if (req.body.empty()) return error(400, "empty body: send the whole agent config (YAML or JSON)");
  auto answer = ctx.put_config(req.body);
  if (!answer) {
    int status = error_http_status(answer.error().code());
    return error(status == 400 || status == 403 ? status : 500, answer.error().message());
  }
  return json_response(200, *answer);
}

Response job_action(const ApiContext& ctx, const Request& req, const Args& args) {
  const std::string& name = args[0];
  const std::string& action = args[1];
  if (action != "run" && action != "drill" && action != "prune" && action != "restore")
    return error(404, fmt::format("no route {} {}", req.method, req.path));
  auto request = run_request(action, req.body);
  if (!request) return error(400, request.error().message());
  return answer_start(name, ctx.jobs->start_run(name, *request));
}

const std::vector<Route>& routes() {
  static const std::vector<Route> table = {
      {"GET", {"v1", "ping"}, [](const ApiContext&, const Request&, const Args&) {
         return json_response(200, {{"status", "ok"}, {"version", KEEL_VERSION}});
       }},
      {"GET", {"v1", "health"}, health},
      {"GET", {"v1", "checks"}, [](const ApiContext& ctx, const Request&, const Args&) {
         Json list = Json::array();
         for (const auto& c : ctx.scheduler->snapshot()) list.push_back(check_to_json(c, true));
         return json_response(200, {{"checks", list}});
       }},
      {"GET", {"v1", "checks", "*"}, [](const ApiContext& ctx, const Request&, const Args& args) {
         auto check = ctx.scheduler->snapshot(args[0]);
         if (!check) return error(404, fmt::format("no check named `{}`", args[0]));
         return json_response(200, check_to_json(*check, true));
       }},
      {"POST", {"v1", "checks", "*", "run"}, [](const ApiContext& ctx, const Request&, const Args& args) {
         auto check = ctx.scheduler->run_now(args[0]);
         if (!check) return error(404, fmt::format("no check named `{}`", args[0]));
         return json_response(200, check_to_json(*check, true));
       }},
      {"PUT", {"v1", "config"}, put_config},
      {"GET", {"metrics"}, [](const ApiContext& ctx, const Request&, const Args&) {
         Response res;
         res.content_type = "text/plain; version=0.0.4; charset=utf-8";
         res.body = render_metrics(ctx.scheduler->snapshot(), ctx.scheduler->aggregate(), *ctx.counters,
                                   read_process_stats(), ctx.jobs ? ctx.jobs->metrics() : std::vector<JobMetrics>{});
         return res;
       }},
      {"GET", {"v1", "jobs"}, [](const ApiContext& ctx, const Request&, const Args&) {
         Json list = Json::array();
         for (const auto& job : ctx.jobs->jobs()) list.push_back(job_to_json(job));
         return json_response(200, {{"jobs", list}});
       }, true},
      {"POST", {"v1", "jobs", "*", "*"}, job_action, true},
      {"GET", {"v1", "runs", "*"}, [](const ApiContext& ctx, const Request&, const Args& args) {
         auto run = ctx.jobs->find_run(args[0]);
         if (!run) return error(404, fmt::format("no run with id `{}`", args[0]));
         return json_response(200, {{"run", to_json(*run)}});
       }, true},
      {"GET", {"v1", "runs"}, [](const ApiContext& ctx, const Request& req, const Args&) {
         Json list = Json::array();
         for (const auto& run : ctx.jobs->runs(req.query_param("job").value_or(""))) list.push_back(to_json(run));
         return json_response(200, {{"runs", list}});
       }, true},
      {"GET", {"v1", "backups", "*"}, [](const ApiContext& ctx, const Request&, const Args& args) {
         auto backups = ctx.jobs->list_backups(args[0]);
         if (!backups) return error(error_http_status(backups.error().code()), backups.error().message());
         return json_response(200, {{"job", args[0]}, {"backups", *backups}});
       }, true},
  };
  return table;
}

// What the stars of `pattern` matched in `segments`, or nullopt.
std::optional<Args> match(const std::vector<std::string_view>& pattern, const std::vector<std::string>& segments) {
  if (pattern.size() != segments.size()) return std::nullopt;
  Args args;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == "*") {
      if (segments[i].empty()) return std::nullopt;
      args.push_back(segments[i]);
    } else if (pattern[i] != segments[i]) {
      return std::nullopt;
    }
  }
  return args;
}

}  // namespace

ApiServer::ApiServer(ApiContext context) : context_(std::move(context)) {}

ApiServer::~ApiServer() { stop(); }

int ApiServer::port() const { return server_ ? server_->port() : 0; }

int health_http_status(CheckStatus status) {
  switch (status) {
    case CheckStatus::Passing: return 200;
    case CheckStatus::Warning: return 429;
    default: return 503;
  }
}

CheckStatus aggregate_status(const std::vector<CheckSnapshot>& checks) {
  CheckStatus status = CheckStatus::Passing;
  for (const auto& c : checks) status = checks::worst(status, c.status);
  return status;
}

Status ApiServer::start(const std::string& host, int port, const std::optional<TlsConfig>& tls) {
  httpd::ServerOptions options;
  options.host = host;
  options.port = port;
  if (tls) {
    options.tls_cert_file = tls->cert_file;
    options.tls_key_file = tls->key_file;
  }
  options.limits.max_body = kMaxRequestBody;
  options.workers = kApiWorkers;
  httpd::ServerHooks hooks;
  hooks.admit = [this](const Request& head) { return admit(head); };
  hooks.handle = [this](const Request& req) { return handle(req); };
  hooks.express = [](const Request& req) { return express(req); };
  hooks.log = [this](const Request& req, const Response& res) { log(req, res); };
  hooks.dropped = [this](httpd::DropReason reason) {
    ++(reason == httpd::DropReason::Deadline ? context_.counters->api_dropped_deadline
                                             : context_.counters->api_dropped_evicted);
  };
  server_ = std::make_unique<httpd::Server>(std::move(options), std::move(hooks));
  if (auto st = server_->start(); !st) {
    server_.reset();
    return st;
  }
  return {};
}

void ApiServer::stop() {
  if (server_) server_->stop();
}

std::optional<Response> ApiServer::admit(const Request& head) const {
  if (head.path == "/v1/ping") return std::nullopt;
  if (authorized(head.header("Authorization"), context_.token())) return std::nullopt;
  Response res = error(401, head.has_header("Authorization") ? "the bearer token is wrong"
                                                            : "missing `Authorization: Bearer TOKEN`");
  res.headers.push_back({"WWW-Authenticate", "Bearer realm=\"keel-agent\""});
  return res;
}

bool ApiServer::express(const Request& request) {
  return (request.method == "GET" || request.method == "HEAD") &&
         (request.path == "/v1/health" || request.path == "/v1/ping");
}

Response ApiServer::handle(const Request& req) const {
  // The server admitted the head already; checked again so that no path
  // reaches a handler without the token.
  if (auto refusal = admit(req)) return *refusal;
  auto segments = path_segments(req.path);
  if (!segments) return error(400, "bad percent-escape in the path");
  const std::string_view method = req.method == "HEAD" ? std::string_view("GET") : std::string_view(req.method);
  std::string allowed;
  for (const auto& route : routes()) {
    if (route.needs_jobs && !context_.jobs) continue;
    auto args = match(route.pattern, *segments);
    if (!args) continue;
    if (route.method == method) return route.handler(context_, req, *args);
    allowed += allowed.empty() ? std::string(route.method) : ", " + std::string(route.method);
  }
  if (allowed.empty()) return error(404, fmt::format("no route {} {}", req.method, req.path));
  Response res = error(405, fmt::format("{} is not allowed on {} (allowed: {})", req.method, req.path, allowed));
  res.headers.push_back({"Allow", allowed});
  return res;
}

void ApiServer::log(const Request& req, const Response& res) const {
  // 429 and 503 from /v1/health are answers about the checks, not errors.
  if (res.status < 400 || (req.path == "/v1/health" && (res.status == 429 || res.status == 503))) return;
  ++context_.counters->api_errors;
  long long left_out = 0;
  {
    std::lock_guard lock(log_budget_.mutex);
    auto now = std::chrono::steady_clock::now();
    if (now - log_budget_.window >= std::chrono::seconds(1)) {
      log_budget_.window = now;
      log_budget_.lines = 0;
    }
    if (++log_budget_.lines > kErrorLinesPerSecond) {
      ++log_budget_.left_out;
      return;
    }
    std::swap(left_out, log_budget_.left_out);
  }
  std::string message;
  auto body = Json::parse(res.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_string()) message = body["error"];
  std::string path = req.path.size() > kLoggedPathLimit ? req.path.substr(0, kLoggedPathLimit) + "..." : req.path;
  nlohmann::ordered_json fields = {{"method", req.method}, {"path", path}, {"status", res.status},
                                   {"remote", req.remote_addr}, {"error", message}};
  if (left_out > 0) fields["not_logged_before"] = left_out;
  logging::event(res.status >= 500 ? logging::Level::Error : logging::Level::Warning, "api error", fields);
}

}  // namespace keel::agent

#include "cli/agents/client.h"

#include <cctype>

#include <fmt/format.h>

namespace keel::agents {

namespace {

using nlohmann::json;

std::string string_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

long long integer_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? static_cast<long long>(it->get<double>()) : 0;
}

checks::CheckStatus status_field(const json& j, const char* key) {
  return checks::status_from_string(string_field(j, key)).value_or(checks::CheckStatus::Unknown);
}

std::unexpected<Error> protocol_error(const std::string& url, const std::string& what) {
  return fail(ErrorCode::Protocol, fmt::format("agent {}: {}", url, what));
}

// A job name or run id as one URL path segment: unreserved characters kept,
// everything else percent-encoded.
std::string path_segment(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

}  // namespace

std::optional<Endpoint> endpoint_from_attributes(const json& attributes) {
  if (!attributes.is_object()) return std::nullopt;
  Endpoint e{string_field(attributes, "agent_url"), string_field(attributes, "agent_ca"),
             string_field(attributes, "agent_token")};
  if (e.url.empty()) return std::nullopt;
  while (!e.url.empty() && e.url.back() == '/') e.url.pop_back();
  return e;
}

Result<CheckReport> check_report_from_json(const json& j) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string())
    return fail(ErrorCode::Protocol, "a check without a name");
  CheckReport c;
  c.name = j["name"].get<std::string>();
  c.type = string_field(j, "type");
  c.status = status_field(j, "status");
  c.output = string_field(j, "output");
  c.last_run = string_field(j, "last_run");
  if (auto it = j.find("last_run_unix"); it != j.end() && it->is_number()) c.last_run_unix = it->get<double>();
  c.duration_ms = integer_field(j, "duration_ms");
  if (auto it = j.find("interval"); it != j.end()) c.interval = *it;
  if (auto it = j.find("history"); it != j.end() && it->is_array()) {
    for (const auto& h : *it) {
      if (!h.is_object()) continue;
      c.history.push_back({string_field(h, "time"), status_field(h, "status"), string_field(h, "output"),
                           integer_field(h, "duration_ms")});
    }
  }
  return c;
}

AgentClient::AgentClient(http::HttpClient& transport, Endpoint endpoint, ClientOptions options)
    : transport_(transport), endpoint_(std::move(endpoint)), options_(options) {}

http::Request AgentClient::request(const std::string& method, const std::string& path) const {
  http::Request r;
  r.method = method;
  r.url = endpoint_.url + path;
  r.ca_pem = endpoint_.ca_pem;
  r.bearer_token = endpoint_.token;
  r.timeout = options_.timeout;
  r.connect_timeout = std::min(options_.timeout, std::chrono::milliseconds(3'000));
  r.max_response_bytes = 16u << 20;
  r.reuse_connection = options_.reuse_connections;
  return r;
}

Result<json> AgentClient::json_body(const http::Request& request, const http::Response& response) const {
  json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object())
    return protocol_error(endpoint_.url, fmt::format("{} answered HTTP {} without a JSON object", request.url,
                                                     response.status));
  return body;
}

Status AgentClient::ping() {
  http::RetryingHttpClient client(transport_, {.attempts = options_.attempts});
  http::Request r = request("GET", "/v1/ping");
  r.bearer_token.clear();  // ping is open; the token has no business there
  auto response = http::send_checked(client, r);
  if (!response) return fail(response.error());
  auto body = json_body(r, *response);
  if (!body) return fail(body.error());
  if (string_field(*body, "status") != "ok")
    return protocol_error(endpoint_.url, "GET /v1/ping did not answer {\"status\": \"ok\"}");
  return {};
}

Result<HealthReport> AgentClient::health() {
  // 429 and 503 carry the answer, so only transport errors are retried.
  http::RetryingHttpClient client(transport_,
                                  {.attempts = options_.attempts, .retry_status = [](long s) { return s >= 500 && s != 503; }});
  http::Request r = request("GET", "/v1/health");
  auto response = client.send(r);
  if (!response) return fail(response.error());
  if (response->status != 200 && response->status != 429 && response->status != 503)
    return fail(http::status_error(r, *response));
  auto body = json_body(r, *response);
  if (!body) return fail(body.error());
  HealthReport h;
  h.status = status_field(*body, "status");
  h.hostname = string_field(*body, "hostname");
  if (auto it = body->find("counts"); it != body->end() && it->is_object())
    for (auto c = it->begin(); c != it->end(); ++c)
      if (c.value().is_number_integer()) h.counts[c.key()] = c.value().get<int>();
  return h;
}

Result<std::vector<CheckReport>> AgentClient::checks() {
  http::RetryingHttpClient client(transport_, {.attempts = options_.attempts});
  http::Request r = request("GET", "/v1/checks");
  auto response = http::send_checked(client, r);
  if (!response) return fail(response.error());
  auto body = json_body(r, *response);
  if (!body) return fail(body.error());
  auto list = body->find("checks");
  if (list == body->end() || !list->is_array())
    return protocol_error(endpoint_.url, "GET /v1/checks answered without a \"checks\" list");
  std::vector<CheckReport> out;
  for (const auto& item : *list) {
    auto c = check_report_from_json(item);
    if (!c) return protocol_error(endpoint_.url, fmt::format("GET /v1/checks: {}", c.error().message()));
    out.push_back(std::move(*c));
  }
  return out;
}

Result<CheckReport> AgentClient::run_check(const std::string& name) {
  // Retried only where the agent cannot have acted on it; a run it did
  // start is joined by the next request anyway.
  http::RetryPolicy policy;
  policy.attempts = options_.attempts;
  http::RetryingHttpClient client(transport_, policy);
  http::Request r = request("POST", fmt::format("/v1/checks/{}/run", path_segment(name)));
  auto response = client.send(r);
  if (!response) return fail(response.error());
  if (response->status == 404)
    return fail(ErrorCode::NotFound, fmt::format("agent {}: no check named `{}`", endpoint_.url, name));
  if (!response->ok()) return fail(http::status_error(r, *response));
  auto body = json_body(r, *response);
  if (!body) return fail(body.error());
  auto check = check_report_from_json(*body);
  if (!check) return protocol_error(endpoint_.url, fmt::format("POST {}: {}", r.url, check.error().message()));
  return check;
}

Result<ConfigResult> AgentClient::put_config(const json& config) {
  http::RetryPolicy policy;
  policy.attempts = options_.attempts;
  http::RetryingHttpClient client(transport_, policy);
  http::Request r = request("PUT", "/v1/config");
  r.body = config.dump();
  auto response = client.send(r);
  if (!response) return fail(response.error());
  if (!response->ok()) {
    Error e = http::status_error(r, *response);
    // The agent refusing the document is a problem with the checks.
    if (response->status >= 400 && response->status < 500 && response->status != 401 && response->status != 403 &&
        response->status != 404 && response->status != 429)
      return fail(ErrorCode::InvalidConfig, e.message());
    return fail(std::move(e));
  }
  auto body = json_body(r, *response);
  if (!body) return fail(body.error());
  ConfigResult result;
  result.applied = body->value("applied", false);
  result.restart_required = body->value("restart_required", false);
  auto names = [&body](const char* key, std::vector<std::string>& out) {
    if (auto it = body->find(key); it != body->end() && it->is_array())
      for (const auto& name : *it)
        if (name.is_string()) out.push_back(name.get<std::string>());
  };
  names("added", result.added);
  names("changed", result.changed);
  names("removed", result.removed);
  if (!result.applied) return protocol_error(endpoint_.url, "PUT /v1/config answered without \"applied\": true");
  return result;
}

Result<JobRun> job_run_from_json(const json& j) {
  if (!j.is_object() || string_field(j, "id").empty()) return fail(ErrorCode::Protocol, "a run without an id");
  JobRun r;
  r.id = string_field(j, "id");
  r.job = string_field(j, "job");
  r.kind = string_field(j, "kind");
  r.status = string_field(j, "status");
  if (r.status != "running" && r.status != "succeeded" && r.status != "failed")
    return fail(ErrorCode::Protocol, fmt::format("run {} has status `{}`", r.id, r.status));
  r.started = string_field(j, "started");
  r.finished = string_field(j, "finished");
  if (auto it = j.find("duration_seconds"); it != j.end() && it->is_number()) r.duration_seconds = it->get<double>();
  r.bytes_read = integer_field(j, "bytes_read");
  r.bytes_stored = integer_field(j, "bytes_stored");
  r.snapshot = string_field(j, "snapshot");
  r.error = string_field(j, "error");
  if (auto it = j.find("result"); it != j.end() && it->is_object()) r.result = *it;
  r.raw = j;
  return r;
}

Result<JobRun> AgentClient::start_run(const std::string& job, const std::string& action, const json& body) {
  // POST is retried only where the agent cannot have acted on it (no
  // connection, 429, 503): a run is never started twice.
  http::RetryingHttpClient client(transport_, {.attempts = options_.attempts});
  http::Request r = request("POST", fmt::format("/v1/jobs/{}/{}", path_segment(job), path_segment(action)));
  r.body = body.dump();
  auto response = client.send(r);
  if (!response) return fail(response.error());
  if (!response->ok()) {
    Error e = http::status_error(r, *response);
    json answer = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (response->status == 409 && answer.is_object() && !string_field(answer, "run_id").empty())
      return fail(ErrorCode::Conflict, fmt::format("{} (run {}; follow it or wait for it to finish)", e.message(),
                                                   string_field(answer, "run_id")));
    return fail(std::move(e));
  }
  auto answer = json_body(r, *response);
  if (!answer) return fail(answer.error());
  auto run = job_run_from_json(answer->value("run", json()));
  if (!run) return protocol_error(endpoint_.url, fmt::format("POST {}: {}", r.url, run.error().message()));
  return run;
}

Result<JobRun> AgentClient::run(const std::string& id) {
  http::RetryingHttpClient client(transport_, {.attempts = options_.attempts});
  http::Request r = request("GET", fmt::format("/v1/runs/{}", path_segment(id)));
  auto response = http::send_checked(client, r);
  if (!response) return fail(response.error());
  auto answer = json_body(r, *response);
  if (!answer) return fail(answer.error());
  auto run = job_run_from_json(answer->value("run", json()));
  if (!run) return protocol_error(endpoint_.url, fmt::format("GET {}: {}", r.url, run.error().message()));
  return run;
}

Result<json> AgentClient::backups(const std::string& job) {
  http::RetryingHttpClient client(transport_, {.attempts = options_.attempts});
  http::Request r = request("GET", fmt::format("/v1/backups/{}", path_segment(job)));
  auto response = http::send_checked(client, r);
  if (!response) return fail(response.error());
  auto answer = json_body(r, *response);
  if (!answer) return fail(answer.error());
  if (!answer->contains("backups") || !(*answer)["backups"].is_array())
    return protocol_error(endpoint_.url, fmt::format("GET {} answered without a \"backups\" list", r.url));
  return answer;
}

}  // namespace keel::agents

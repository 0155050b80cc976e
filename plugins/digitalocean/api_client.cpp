#include "plugins/digitalocean/api_client.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>
#include "core/log.h"

namespace keel::digitalocean {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

thread_local std::optional<Failure> t_failure;

ErrorCode code_for_status(long status) {
  if (status == 400 || status == 422) return ErrorCode::InvalidConfig;
  if (status == 401 || status == 403) return ErrorCode::PermissionDenied;
  if (status == 404 || status == 410) return ErrorCode::NotFound;
  if (status == 409 || status == 412) return ErrorCode::Conflict;
  if (status == 429 || status >= 500) return ErrorCode::Transient;
  return ErrorCode::Protocol;
}

// Exponential with "equal jitter": half fixed, half random, so that many
// threads retrying at once spread out.
milliseconds backoff(const ApiOptions& options, int failures) {
  const double initial = static_cast<double>(options.initial_backoff.count());
  const double cap = static_cast<double>(options.max_backoff.count());
  const double base = std::min(cap, initial * static_cast<double>(1LL << std::clamp(failures - 1, 0, 30)));
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::uniform_real_distribution<double> half(0.0, base / 2);
  return milliseconds(static_cast<long long>(base / 2 + half(random)));
}

std::string seconds_text(milliseconds d) { return fmt::format("{:.1f}s", static_cast<double>(d.count()) / 1000.0); }

std::string one_line(std::string text, size_t limit = 300) {
  if (text.size() > limit) text = text.substr(0, limit) + "...";
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

// "request.body.name" from Prism's ["request", "body", "name"].
std::string location_text(const json& location) {
  std::string out;
  if (!location.is_array()) return out;
  for (const auto& part : location) {
    if (!out.empty()) out += '.';
    out += part.is_string() ? part.get<std::string>() : part.dump();
  }
  return out;
}

// Prism's validation messages: the problem's `validation` array or the
// sl-violations header, both [{location, message, ...}].
std::vector<std::string> violation_messages(const json& list) {
  std::vector<std::string> out;
  if (!list.is_array()) return out;
  for (const auto& v : list) {
    if (!v.is_object() || !v.contains("message") || !v["message"].is_string()) continue;
    std::string where = location_text(v.value("location", json()));
    std::string text = v["message"].get<std::string>();
    std::string line = where.empty() ? text : fmt::format("{} {}", where, text);
    if (std::find(out.begin(), out.end(), line) == out.end()) out.push_back(std::move(line));
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += separator;
    out += p;
  }
  return out;
}

std::string string_field(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Error make_response_error(const Call& call, const http::Response& response, const std::string& suffix) {
  const long status = response.status;
  json body = json::parse(response.body, nullptr, false);
  if (body.is_discarded()) body = json();
  std::string message = cloud_message(response);
  if (message.empty()) message = response.body.empty() ? "no message" : one_line(response.body);
  std::string detail = fmt::format("HTTP {}", status);
  if (body.is_object()) {
    if (auto id = string_field(body, "id"); !id.empty()) detail += fmt::format(" {}", id);
    if (auto rid = string_field(body, "request_id"); !rid.empty()) detail += fmt::format(", request {}", rid);
  }
  std::string text = fmt::format("{} {}: DigitalOcean: {} ({})", call.method, path_only(call.path), message, detail);
  // A contract proxy (Prism) in mock mode answers the spec's example error
  // and puts what was wrong with the request in this header.
  json violations = json::parse(response.header("sl-violations"), nullptr, false);
  if (auto list = violation_messages(violations); !list.empty() && message.find(list.front()) == std::string::npos)
    text += fmt::format("; contract violations: {}", join(list, "; "));
  text += suffix;
  t_failure = Failure{static_cast<int>(status), message, text};
  return Error(code_for_status(status), text);
}

}  // namespace

std::optional<Failure> take_failure() {
  std::optional<Failure> f = std::move(t_failure);
  t_failure.reset();
  return f;
}

RateBudget::RateBudget(milliseconds max_wait, Clock clock)
    : kit::RateBudget(Pace{.service = "DigitalOcean",
                           .throttled = "DigitalOcean asked to slow down (429)",
                           .remaining_header = "ratelimit-remaining",
                           .reset_header = "ratelimit-reset",
                           .per_second = 0},
                      max_wait, std::move(clock)) {}

// --- ApiClient ---------------------------------------------------------------------------

ApiClient::ApiClient(http::HttpClient& http, ApiOptions options)
    : http_(http), options_(std::move(options)), budget_(options_.max_budget_wait) {
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/') options_.endpoint.pop_back();
  options_.attempts = std::max(1, options_.attempts);
  options_.rate_limited_attempts = std::max(1, options_.rate_limited_attempts);
}

void ApiClient::sleep(milliseconds d) const {
  if (options_.sleep) options_.sleep(d);
  else std::this_thread::sleep_for(d);
}

long long ApiClient::requests_sent() const {
  std::lock_guard lock(count_mutex_);
  return sent_;
}

Result<json> ApiClient::send(const Call& call) {
  auto sent = run(call, nullptr);
  if (!sent) return fail(sent.error());
  return std::move(sent->body);
}

Result<json> ApiClient::get(const std::string& path, const ProgressFn& progress) {
  Call call;
  call.path = path;
  call.progress = progress;
  return send(call);
}

Result<Sent> ApiClient::send_once(const Call& call, const Lookup& lookup) { return run(call, lookup ? &lookup : nullptr); }

// KEEL_LOG=debug: one line per HTTP exchange, with the method, the path
// (no query), the status, the time and DigitalOcean's request id (what its
// support asks for). Never a header of the request (the token is in one)
// nor a body (they carry passwords and keys).
static void log_http(const std::string& what, const Result<http::Response>& result, milliseconds took) {
  if (!logging::enabled(logging::Level::Debug)) return;
  if (!result) {
    logging::debug("DigitalOcean: HTTP {} -> {} in {} ms", what, result.error().message(), took.count());
    return;
  }
  const std::string rid = result->header("x-request-id");
  logging::debug("DigitalOcean: HTTP {} -> {} in {} ms{}", what, result->status, took.count(),
                rid.empty() ? "" : " request_id=" + one_line(rid, 80));
}

Result<Sent> ApiClient::run(const Call& call, const Lookup* lookup) {
  http::Request request;
  request.method = call.method;
  request.url = options_.endpoint + call.path;
  request.bearer_token = options_.token;
  request.timeout = options_.timeout;
  if (!call.body.is_null()) {
    request.body = call.body.dump();
    request.headers.emplace_back("Content-Type", "application/json");
  }
  const std::string what = fmt::format("{} {}", call.method, path_only(call.path));
  const bool repeatable = call.repeatable || request.idempotent();
  const int max_attempts = call.attempts > 0 ? call.attempts : options_.attempts;
  int failures = 0;
  int limited = 0;
  bool ambiguous = false;   // the last attempt may have been carried out
  std::string last_problem;

  for (;;) {
    if (ambiguous) {
      if (!lookup)
        return fail(ErrorCode::Transient,
                    fmt::format("{}: {}; not sent again because DigitalOcean may have carried it out", what,
                                last_problem));
      auto found = (*lookup)();
      if (!found) return fail(found.error().with_context(fmt::format("{}: looking for the result of a lost response", what)));
      if (*found) {
        logging::info("DigitalOcean: {}: the response was lost ({}), but it was carried out: adopting the result",
                     what, last_problem);
        return Sent{std::move(**found), true};
      }
      logging::info("DigitalOcean: {}: the response was lost ({}) and nothing was made: sending it again", what,
                   last_problem);
      ambiguous = false;
    }

    const RateBudget::Ticket ticket = budget_.acquire(call.progress);
    {
      std::lock_guard lock(count_mutex_);
      ++sent_;
    }
    const auto sent_at = steady_clock::now();
    Result<http::Response> result = http_.send(request);
    budget_.release(ticket, result ? &*result : nullptr);
    log_http(what, result, std::chrono::duration_cast<milliseconds>(steady_clock::now() - sent_at));

    milliseconds delay{0};
    if (!result) {
      const ErrorCode code = result.error().code();
      // Unavailable: no connection was made, nothing was sent.
      const bool nothing_sent = code == ErrorCode::Unavailable;
      if (!nothing_sent && code != ErrorCode::Transient && code != ErrorCode::Timeout) return fail(result.error());
      ++failures;
      last_problem = result.error().message();
      if (failures >= max_attempts)
        return fail(ErrorCode::Transient, fmt::format("{} (gave up after {} attempts)", last_problem, failures));
      if (!nothing_sent && !repeatable) ambiguous = true;
      delay = backoff(options_, failures);
    } else {
      const long status = result->status;
      if (status >= 200 && status < 300) {
        if (result->body.find_first_not_of(" \t\r\n") == std::string::npos) return Sent{json(), false};
        json body = json::parse(result->body, nullptr, false);
        if (body.is_discarded())
          return fail(ErrorCode::Protocol, fmt::format("{}: HTTP {} with a body that is not JSON: {}", what, status,
                                                       one_line(result->body, 120)));
        return Sent{std::move(body), false};
      }
      if (status == 429) {
        // Nothing was done: safe to resend anything, once the wait is over.
        ++limited;
        if (limited >= options_.rate_limited_attempts)
          return fail(make_response_error(call, *result, fmt::format(" (gave up after {} rate-limited attempts)", limited)));
        milliseconds asked = http::requested_delay(*result);
        delay = asked.count() >= 0 ? std::min(asked, options_.max_budget_wait) : backoff(options_, limited);
        // ratelimit-reset counts whole seconds: never less than one.
        delay = std::max(delay, milliseconds(1000));
        logging::info("DigitalOcean: {}: HTTP 429, every request waits {}", what, seconds_text(delay));
        budget_.pause_until(system_clock::now() + delay);
        continue;  // acquire() waits
      }
      if (status < 500) return fail(make_response_error(call, *result, ""));
      ++failures;
      last_problem = fmt::format("HTTP {}", status);
      if (failures >= max_attempts)
        return fail(make_response_error(call, *result, fmt::format(" (gave up after {} attempts)", failures)));
      if (!repeatable) ambiguous = true;
      delay = backoff(options_, failures);
    }
    logging::info("DigitalOcean: {}: {}; attempt {} of {} in {}", what, last_problem, failures + 1, max_attempts,
                 seconds_text(delay));
    sleep(delay);
  }
}

Result<std::vector<json>> ApiClient::list(const std::string& path, const std::string& key, const ProgressFn& progress) {
  std::vector<json> items;
  const std::string base = path_only(path);
  std::string current = with_per_page(path);
  std::set<std::string> seen{current};
  for (;;) {
    Call call;
    call.path = current;
    call.progress = progress;
    auto body = send(call);
    if (!body) return fail(body.error());
    if (!body->is_object())
      return fail(ErrorCode::Protocol, fmt::format("GET {}: the response is not a JSON object", base));
    auto it = body->find(key);
    if (it != body->end() && it->is_array()) {
      for (auto& item : *it) items.push_back(std::move(item));
    } else if (it != body->end() && !it->is_null()) {
      return fail(ErrorCode::Protocol, fmt::format("GET {}: `{}` is not a list", base, key));
    }
    auto next = next_page_query(*body);
    if (!next) return items;
    std::string next_path = with_per_page(fmt::format("{}?{}", base, *next));
    if (!seen.insert(next_path).second) return items;  // a link back to a page already read
    current = std::move(next_path);
  }
}

// --- helpers -----------------------------------------------------------------------------

std::string cloud_message(const http::Response& response) {
  json body = json::parse(response.body, nullptr, false);
  if (!body.is_object()) return "";
  // DigitalOcean: {"id": "not_found", "message": "...", "request_id": "..."}
  if (auto m = string_field(body, "message"); !m.empty()) return m;
  // problem+json (a contract proxy): {type, title, status, detail, validation: [...]}
  std::vector<std::string> parts;
  if (auto title = string_field(body, "title"); !title.empty()) parts.push_back(title);
  if (auto detail = string_field(body, "detail"); !detail.empty() && (parts.empty() || detail != parts.front()))
    parts.push_back(detail);
  if (auto list = violation_messages(body.value("validation", json())); !list.empty()) parts.push_back(join(list, "; "));
  if (!parts.empty()) return join(parts, ": ");
  // {"error": {"code": ..., "message": ...}} or {"error": "..."}
  if (auto e = body.find("error"); e != body.end()) {
    if (e->is_string()) return e->get<std::string>();
    if (e->is_object()) return string_field(*e, "message");
  }
  return "";
}

Error response_error(const Call& call, const http::Response& response) {
  return make_response_error(call, response, "");
}

std::string query_escape(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::optional<std::string> next_page_query(const json& body) {
  if (!body.is_object()) return std::nullopt;
  auto links = body.find("links");
  if (links == body.end() || !links->is_object()) return std::nullopt;
  auto pages = links->find("pages");
  if (pages == links->end() || !pages->is_object()) return std::nullopt;
  auto next = pages->find("next");
  if (next == pages->end() || !next->is_string()) return std::nullopt;
  const std::string url = next->get<std::string>();
  const auto q = url.find('?');
  if (q == std::string::npos) return std::nullopt;
  std::string query = url.substr(q + 1);
  if (auto hash = query.find('#'); hash != std::string::npos) query.resize(hash);
  if (query.empty()) return std::nullopt;
  return query;
}

std::string with_per_page(const std::string& path) {
  const auto q = path.find('?');
  if (q != std::string::npos) {
    const std::string query = fmt::format("&{}", path.substr(q + 1));
    if (query.find("&per_page=") != std::string::npos) return path;
    return path + "&per_page=200";
  }
  return path + "?per_page=200";
}

std::string path_only(const std::string& path) { return path.substr(0, path.find('?')); }

}  // namespace keel::digitalocean

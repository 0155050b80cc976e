#include "core/http_client.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include "core/log.h"

namespace keel::http {

namespace {

using std::chrono::milliseconds;
// Own copies of core/curl_easy's lower() and trim(): curl_easy.o needs
// libcurl, and this file is linked into binaries that must not load it.
std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

// An HTTP date (RFC 9110 5.6.7): IMF-fixdate, or the obsolete RFC 850 and
// asctime forms, which recipients must accept too. -1 when it is none.
// strptime's %a and %b are English in the C locale, which keel never leaves.
time_t parse_http_date(const std::string& text) {
  for (const char* format : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
    std::tm tm{};
    const char* end = ::strptime(text.c_str(), format, &tm);
    if (end && *end == '\0') return ::timegm(&tm);
  }
  return -1;
}

std::string describe(const Request& request) { return fmt::format("{} {}", request.method, redact_url(request.url)); }

// The HTTP reason is not kept by curl; enough for messages.
const char* reason(long status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

// --- retry timing ------------------------------------------------------------

bool default_retry_status(long status) { return status == 429 || (status >= 500 && status != 501 && status != 505); }

milliseconds backoff(const RetryPolicy& policy, int retry) {
  // Exponential, capped, with "equal jitter": half fixed, half random, so
  // that many clients retrying at once spread out but never retry at once.
  const double base = std::min<double>(static_cast<double>(policy.max_backoff.count()),
                                       static_cast<double>(policy.initial_backoff.count()) *
                                           static_cast<double>(1LL << std::min(retry - 1, 30)));
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::uniform_real_distribution<double> half(0.0, base / 2);
  return milliseconds(static_cast<long long>(base / 2 + half(random)));
}

std::optional<long long> parse_integer(std::string_view text) {
  text = trim(text);
  long long value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The server's own message from a JSON error body: {"error": "..."},
// {"error": {"message": "..."}} or {"message": "..."}.
std::string server_message(const std::string& body) {
  auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_object()) {
    auto error = json.find("error");
    if (error != json.end() && error->is_string()) return error->get<std::string>();
    if (error != json.end() && error->is_object() && error->contains("message") && (*error)["message"].is_string())
      return (*error)["message"].get<std::string>();
    auto message = json.find("message");
    if (message != json.end() && message->is_string()) return message->get<std::string>();
  }
  // Not JSON: the start of the body, on one line.
  std::string text(trim(body.substr(0, 300)));
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

}  // namespace

// --- Request / Response --------------------------------------------------------

bool Request::idempotent() const {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" || method == "OPTIONS";
}

std::string Response::header(std::string_view name) const {
  const std::string key = lower(name);
  for (const auto& [k, v] : headers)
    if (k == key) return v;
  return "";
}

std::string redact_url(std::string_view url) {
  std::string_view rest = url;
  std::string out;
  if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    out.append(rest.substr(0, scheme + 3));
    rest.remove_prefix(scheme + 3);
  }
  const auto authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  std::string_view authority = rest.substr(0, authority_end);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  out.append(authority);
  rest.remove_prefix(authority_end);
  rest = rest.substr(0, std::min(rest.find_first_of("?#"), rest.size()));
  out.append(rest);
  return out;
}

// --- RetryingHttpClient ----------------------------------------------------------

RetryingHttpClient::RetryingHttpClient(HttpClient& inner, RetryPolicy policy)
    : inner_(inner), policy_(std::move(policy)) {
  if (!policy_.retry_status) policy_.retry_status = default_retry_status;
  if (!policy_.sleep) policy_.sleep = [](milliseconds d) { std::this_thread::sleep_for(d); };
  policy_.attempts = std::max(1, policy_.attempts);
}

Result<Response> RetryingHttpClient::send(const Request& request) {
  const bool idempotent = request.idempotent();
  for (int attempt = 1;; ++attempt) {
    Result<Response> result = inner_.send(request);
    if (attempt >= policy_.attempts) return result;
    milliseconds delay = backoff(policy_, attempt);
    std::string why;
    if (result) {
      const long status = result->status;
      if (!policy_.retry_status(status)) return result;
      // A non-idempotent request may have been acted on, unless the server
      // said it was not (429 Too Many Requests, 503 Service Unavailable).
      if (!idempotent && status != 429 && status != 503) return result;
      const milliseconds asked = requested_delay(*result);
      if (asked.count() >= 0) {
        if (asked > policy_.max_retry_after) return result;
        delay = asked;
      }
      why = fmt::format("HTTP {}", status);
    } else {
      const ErrorCode code = result.error().code();
      const bool retryable = code == ErrorCode::Unavailable ||
                             (idempotent && (code == ErrorCode::Transient || code == ErrorCode::Timeout));
      if (!retryable) return result;
      why = result.error().message();
    }
    logging::debug(fmt::runtime("http: {}: {}; attempt {} of {} in {} ms"), describe(request), why, attempt + 1,
                  policy_.attempts, delay.count());
    policy_.sleep(delay);
  }
}

// --- helpers ---------------------------------------------------------------------

milliseconds requested_delay(const Response& response, std::chrono::system_clock::time_point now) {
  const auto now_seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::string retry_after = std::string(trim(response.header("retry-after")));
  if (!retry_after.empty()) {
    if (auto seconds = parse_integer(retry_after)) return milliseconds(std::max(0LL, *seconds) * 1000);
    const time_t when = parse_http_date(retry_after);
    if (when >= 0) return milliseconds(std::max<long long>(0, static_cast<long long>(when) - now_seconds) * 1000);
  }
  if (response.status == 429) {
    for (const char* name : {"ratelimit-reset", "x-ratelimit-reset"}) {
      auto value = parse_integer(response.header(name));
      if (!value) continue;
      // Big numbers are a Unix time (DigitalOcean, Hetzner), small ones seconds.
      const long long seconds = *value > 1'000'000'000LL ? *value - now_seconds : *value;
      return milliseconds(std::max(0LL, seconds) * 1000);
    }
  }
  return milliseconds(-1);
}

Error status_error(const Request& request, const Response& response) {
  const long s = response.status;
  ErrorCode code = ErrorCode::Protocol;
  if (s == 400 || s == 422) code = ErrorCode::InvalidConfig;
  else if (s == 401 || s == 403) code = ErrorCode::PermissionDenied;
  else if (s == 404 || s == 410) code = ErrorCode::NotFound;
  else if (s == 409 || s == 412) code = ErrorCode::Conflict;
  else if (s == 408 || s == 504) code = ErrorCode::Timeout;
  else if (s == 429 || s >= 500) code = ErrorCode::Transient;
  std::string message = fmt::format("{}: HTTP {}", describe(request), s);
  if (const char* text = reason(s); *text) message += fmt::format(" {}", text);
  if (std::string detail = server_message(response.body); !detail.empty()) {
    message += ": ";
    message += detail;
  }
  return Error(code, std::move(message));
}

Result<Response> send_checked(HttpClient& client, const Request& request) {
  auto response = client.send(request);
  if (!response) return response;
  if (!response->ok()) return fail(status_error(request, *response));
  return response;
}

}  // namespace keel::http

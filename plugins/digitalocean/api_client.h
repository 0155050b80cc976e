#pragma once
// The DigitalOcean API as keel-provider-digitalocean uses it: one ApiClient
// per token, shared by every operation in flight.
//
//   ApiClient api(curl, {.endpoint = "https://api.digitalocean.com", .token = t});
//   auto body = api.send({.method = "GET", .path = "/v2/account"});
//   auto droplets = api.list("/v2/droplets?tag_name=keel:acme", "droplets");
//
// What it owns (callers never retry on their own):
// - Bearer auth and JSON bodies; the token never appears in a message or a
//   log line (http::CurlHttpClient does not log headers, and errors name only
//   the method and the path).
// - One request budget (RateBudget) for every call in flight, polling
//   included: the ratelimit-remaining / ratelimit-reset headers of every
//   response, minus the requests sent since, decide whether a request may go
//   now or must wait for the window to move. A 429 stops every thread until
//   its retry-after (or ratelimit-reset) has passed.
// - Retries: 429 always; 5xx and transport failures with exponential backoff
//   and jitter, up to ApiOptions::attempts. A call that is not idempotent
//   (a POST that creates something or starts an action) is resent only when
//   the server cannot have acted on it (429, connection refused); after an
//   ambiguous failure (5xx, reset, timeout: the "lost response") it asks the
//   call's Lookup whether the first attempt took effect and adopts what that
//   finds instead of creating a duplicate.
// - Errors: DigitalOcean's {id, message, request_id} (or a contract proxy's
//   problem+json) become keel Errors such as
//   "POST /v2/droplets: DigitalOcean: You specified an invalid size for
//   Droplet creation. (HTTP 422 unprocessable_entity, request 3f2e...)", with
//   the code keel decides on: 400/422 InvalidConfig, 401/403
//   PermissionDenied, 404 NotFound, 409/412 Conflict, 429/5xx/transport
//   Transient. The status and the cloud's message of the last failure on the
//   calling thread are kept for keel::plugin::set_error_details (see
//   take_failure()).
// - Pagination: per_page=200, following links.pages.next, whose query (page
//   number and all) is sent to the configured endpoint, never to the host in
//   the link (a proxy may sit in between).
//
// Thread-safe: every method may be called from many threads at once.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/http_client.h"
#include "core/provider.h"
#include "plugins/sdk/rate_budget.h"

namespace keel::digitalocean {

using nlohmann::json;
using provider::ProgressFn;

struct ApiOptions {
  std::string endpoint = "https://api.digitalocean.com";  // no trailing slash
  std::string token;
  int attempts = 8;                // per call, counting 5xx and transport failures
  int rate_limited_attempts = 30;  // per call, counting 429s
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{10'000};
  std::chrono::milliseconds timeout{30'000};  // one exchange
  // The longest a request waits for the budget in one go, counted from the
  // last probe if that is later (a reset far in the future is a clock skew);
  // afterwards one request probes the API.
  std::chrono::milliseconds max_budget_wait{3'600'000};
  // How to sleep between attempts; unset: std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// One API call.
struct Call {
  std::string method = "GET";
  std::string path;  // "/v2/droplets/42", with its query string if any
  json body;         // null: no body
  // A non-idempotent call (POST) is resent after an ambiguous failure only
  // through send_once()'s lookup; set this for POSTs whose repetition is
  // harmless (tagging, creating a tag).
  bool repeatable = false;
  int attempts = 0;     // 0: ApiOptions::attempts
  ProgressFn progress;  // hears about waits for the rate limit
};

// A call sent by send_once(): the response body, or what the lookup found
// after a lost response (`adopted`).
struct Sent {
  json body;
  bool adopted = false;
};

// Whether the resource (or action) an ambiguous POST was about exists now:
// its JSON, or nullopt to send the POST again.
using Lookup = std::function<Result<std::optional<json>>()>;

// What the API said about the last failed call on this thread.
struct Failure {
  std::optional<int> status;
  std::string cloud_message;
  std::string message;  // the Error's message as the client built it
};
// The Failure recorded by the calling thread's last failed call, cleared.
std::optional<Failure> take_failure();

// The request budget of one token: the kit's (plugins/sdk/rate_budget.h)
// reading DigitalOcean's ratelimit-remaining and ratelimit-reset headers.
class RateBudget : public kit::RateBudget {
 public:
  explicit RateBudget(std::chrono::milliseconds max_wait = std::chrono::hours(1), Clock clock = {});
};

class ApiClient {
 public:
  ApiClient(http::HttpClient& http, ApiOptions options);

  // Sends with retries; a 2xx answers its parsed body (null when empty).
  Result<json> send(const Call& call);
  Result<json> get(const std::string& path, const ProgressFn& progress = {});
  // A POST that is not repeatable: after an ambiguous failure, `lookup`
  // says whether to adopt what exists instead of sending it again. Without
  // a lookup such a failure is returned (Transient) as it is.
  Result<Sent> send_once(const Call& call, const Lookup& lookup);
  // Every item under `key` of every page of a paginated list.
  Result<std::vector<json>> list(const std::string& path, const std::string& key, const ProgressFn& progress = {});

  RateBudget& budget() { return budget_; }
  const ApiOptions& options() const { return options_; }
  // Requests sent so far (every attempt counts), for tests and logs.
  long long requests_sent() const;

 private:
  Result<Sent> run(const Call& call, const Lookup* lookup);
  void sleep(std::chrono::milliseconds d) const;

  http::HttpClient& http_;
  ApiOptions options_;
  RateBudget budget_;
  mutable std::mutex count_mutex_;
  long long sent_ = 0;
};

// --- helpers (public for tests) ------------------------------------------------------

// The keel Error for a non-2xx response; records the Failure for
// take_failure(). Reads DigitalOcean's {id, message, request_id},
// problem+json {title, detail, validation[]} and Prism's sl-violations header.
Error response_error(const Call& call, const http::Response& response);
// The human part of an error body (DigitalOcean's message, or a problem's
// title, detail and validation messages); "" when there is none.
std::string cloud_message(const http::Response& response);
// Percent-encodes a query parameter value.
std::string query_escape(std::string_view value);
// The query string (after '?') of links.pages.next, or nullopt at the end.
std::optional<std::string> next_page_query(const json& body);
// `path` with "per_page=200" added unless it has a per_page already.
std::string with_per_page(const std::string& path);
// "/v2/droplets?tag_name=x" -> "/v2/droplets"
std::string path_only(const std::string& path);

}  // namespace keel::digitalocean

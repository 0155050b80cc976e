#pragma once
// HTTP client for every call keel makes: the agent API, cloud APIs, object
// storage. Two layers, each an HttpClient:
//
//   CurlHttpClient       one exchange through libcurl: TLS verification always
//                        on, timeouts, connection reuse (one easy handle per
//                        thread, kept between calls)
//   RetryingHttpClient   a decorator: retries transport failures, 429 and 5xx
//                        with exponential backoff and jitter, honouring
//                        Retry-After (and RateLimit-Reset on a 429)
//
//   http::CurlHttpClient curl;
//   http::RetryingHttpClient client(curl, {.attempts = 3});
//   auto response = client.send({.url = "https://127.0.0.1:7001/v1/checks",
//                                .ca_pem = ca, .bearer_token = token});
//
// Contract:
// - Any HTTP status is a Response, not an error (a 404 has a body to read);
//   status_error() turns one into an Error when the caller wants that.
// - An error means there is no response: ErrorCode::Unavailable when no
//   connection was made (refused, unresolvable, connect timed out: nothing
//   was sent), Timeout when the exchange started and did not finish in time,
//   Transient for other transport failures (reset, empty reply), Protocol for
//   TLS verification failures and oversized responses, InvalidConfig for a
//   bad URL.
// - Messages name the method and the URL without user:password@ or query
//   string. The bearer token and every header are never logged and never put
//   into a message.
// - Thread-safe: one client serves many threads at once.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace keel::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "GET";
  std::string url;
  Headers headers;  // a body without a Content-Type header is sent as application/json
  std::string body;
  std::chrono::milliseconds timeout{30'000};          // the whole exchange, per attempt
  std::chrono::milliseconds connect_timeout{10'000};  // of that, for connecting (and TLS)
  // The CAs to verify the server with: PEM text in memory, or a file; when
  // either is set, the system's CAs are not used. Neither: the system's.
  std::string ca_pem;
  std::string ca_file;
  std::string bearer_token;  // sent as "Authorization: Bearer TOKEN"
  std::size_t max_response_bytes = 64u << 20;
  // Keep the connection open for the thread's next call. Off: it is closed
  // after the exchange (a server about to be stopped, whose shutdown would
  // wait for idle keep-alive connections).
  bool reuse_connection = true;

  // GET, HEAD, PUT, DELETE, OPTIONS: safe to send twice. Anything else goes
  // out on a fresh connection, never a reused one: libcurl would silently
  // resend it if the reused connection died before answering.
  bool idempotent() const;
};

struct Response {
  long status = 0;
  Headers headers;  // names lower-cased, in the order received
  std::string body;

  // The first value of header `name` (any case), "" when absent.
  std::string header(std::string_view name) const;
  bool ok() const { return status >= 200 && status < 300; }
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  virtual Result<Response> send(const Request& request) = 0;
};

// One attempt per send, through libcurl. Stateless apart from the per-thread
// handle that keeps connections open for the next call on that thread.
// Defined in core/curl_http.cpp (linked with libcurl) or, in keel, in
// core/http_lazy.cpp, which loads that code from keel-net.so on the first
// send: a missing module is then that send's error.
class CurlHttpClient final : public HttpClient {
 public:
  CurlHttpClient();  // runs curl_global_init once per process
  Result<Response> send(const Request& request) override;
};

struct RetryPolicy {
  int attempts = 4;  // in all, the first one included; 1 means no retries
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{8'000};
  // A server that asks for a longer wait (Retry-After) gets its answer back
  // to the caller instead.
  std::chrono::milliseconds max_retry_after{60'000};
  // Which statuses are retried; unset: 429 and 5xx except 501 and 505.
  std::function<bool(long status)> retry_status = nullptr;
  // How to wait; unset: std::this_thread::sleep_for. Tests record instead.
  std::function<void(std::chrono::milliseconds)> sleep = nullptr;
};

// Retries what is worth retrying. A request that is not idempotent (POST,
// PATCH) is retried only when the server cannot have acted on it: no
// connection (Unavailable), 429, or 503. Once attempts run out, the last
// outcome is returned as it is: a Response with the status, or the error.
class RetryingHttpClient final : public HttpClient {
 public:
  explicit RetryingHttpClient(HttpClient& inner, RetryPolicy policy = {});
  Result<Response> send(const Request& request) override;

 private:
  HttpClient& inner_;
  RetryPolicy policy_;
};

// The delay a response asks for: Retry-After (seconds or an HTTP date), or on
// a 429 RateLimit-Reset / X-RateLimit-Reset (seconds, or a Unix time). -1
// when it asks for nothing.
std::chrono::milliseconds requested_delay(const Response& response,
                                          std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The URL without "user:password@" and without the query string (which may
// carry signatures): safe for messages and logs.
std::string redact_url(std::string_view url);

// A non-2xx response as an Error: "GET https://host/v2/x: HTTP 404: not
// found", with the server's own message when its JSON body has one (error,
// error.message or message). Codes: 400/422 InvalidConfig, 401/403
// PermissionDenied, 404/410 NotFound, 409/412 Conflict, 408/504 Timeout,
// 429/5xx Transient, anything else Protocol.
Error status_error(const Request& request, const Response& response);

// send(), then status_error() for anything but 2xx.
Result<Response> send_checked(HttpClient& client, const Request& request);

}  // namespace keel::http

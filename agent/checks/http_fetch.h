#pragma once
// One HTTP exchange for the checks that speak HTTP (http, graphql): to the
// check's URL, with its method, headers and TLS options, through the
// per-thread kept-alive clients of http_fetch.cpp, bounded as a whole by the
// check's deadline. Internal to agent/checks; the checks judge the answer.

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/checks/check.h"

namespace keel::agent::detail {

inline constexpr size_t kMaxBody = 64 * 1024;  // more is not read: the transfer is stopped

struct HttpExchange {
  explicit HttpExchange(const checks::HttpCheck& target) : check(target) {}
  const checks::HttpCheck& check;          // url, method, request headers, TLS options
  std::string body;                        // the request's body; none when empty
  std::string content_type;                // of that body
  bool keep_body = false;                  // keep the answer's body (its first kMaxBody bytes)
  std::vector<std::string> want_headers;   // answer headers to hand back
};

struct HttpAnswer {
  std::optional<CheckResult> failure;  // set when no HTTP answer came (connect, TLS, deadline)
  int status = 0;
  std::string reason;                  // the reason phrase, printable, at most 63 bytes
  // Of want_headers, those the answer had (names as asked); the values of a
  // repeated header joined with ", ", as RFC 9110 combines them.
  std::map<std::string, std::string> headers;
  std::string body;                    // when kept
  bool body_cut = false;               // more than kMaxBody came, and reading stopped there
  long long ms = 0;
  // https: the server certificate's expiry, from the last handshake.
  bool cert_known = false, cert_expired = false;
  int cert_days = 0;                   // whole days left; negative once expired
};

HttpAnswer fetch_http(const HttpExchange& exchange, std::chrono::milliseconds timeout);

// "HTTP 200 OK in 3 ms".
std::string status_text(const HttpAnswer& answer);
// Worsens `result` for a certificate that expired (critical) or expires in
// fewer than `days_warning` days (warning), saying so in its output.
void judge_certificate(const HttpAnswer& answer, int days_warning, CheckResult& result);
// `text` cut after `limit` bytes, marked with "...".
std::string shortened(std::string_view text, size_t limit = 60);

}  // namespace keel::agent::detail

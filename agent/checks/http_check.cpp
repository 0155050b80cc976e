// The http(s) check, with Consul's rules: without `status`, any 2xx passes,
// 429 warns and anything else fails; with `status`, a listed code passes and
// anything else fails. Then what the check expects of the answer, each
// failure critical and named in the output:
// - `body_contains`: text in the first 64 KiB of the body;
// - `expect_headers`: an RE2 pattern found in a header's value (a partial
//   match, as grep and Nagios's check_http do); a missing header fails;
// - `expect_json`: values at paths of the body parsed as JSON
//   (core/json_expect.h).
// https also reports how soon the server's certificate expires. The
// exchange itself is http_fetch.h's.

#include <re2/re2.h>

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

#include "agent/checks/check.h"
#include "agent/checks/http_fetch.h"
#include "core/text.h"

namespace keel::agent {
namespace {

using checks::CheckStatus;

CheckStatus status_rule(const checks::HttpCheck& check, long code) {
  if (!check.expect_status.empty()) {
    bool listed = std::find(check.expect_status.begin(), check.expect_status.end(), code) != check.expect_status.end();
    return listed ? CheckStatus::Passing : CheckStatus::Critical;
  }
  if (code >= 200 && code <= 299) return CheckStatus::Passing;
  if (code == 429) return CheckStatus::Warning;
  return CheckStatus::Critical;
}

// Headers whose values the output may show when they miss their pattern:
// those that describe the content and its caching. Any other may carry a
// credential (Set-Cookie, X-Auth-Token, a Location with a token in its
// query), so it is named, never shown.
bool shown_header(std::string_view name) {
  for (std::string_view shown : {"content-type", "content-encoding", "content-length", "content-language",
                                 "cache-control", "expires", "etag", "last-modified", "vary", "age", "pragma",
                                 "strict-transport-security", "x-content-type-options", "x-frame-options",
                                 "referrer-policy", "access-control-allow-origin", "server"})
    if (name.size() == shown.size() &&
        std::equal(name.begin(), name.end(), shown.begin(), [](char a, char b) { return (a | 0x20) == b; }))
      return true;
  return false;
}

// What the expected headers miss, one phrase each.
std::vector<std::string> unmet_headers(const checks::HttpCheck& check, const detail::HttpAnswer& answer) {
  std::vector<std::string> unmet;
  for (const auto& [name, pattern] : check.expect_headers) {
    auto found = answer.headers.find(name);
    if (found == answer.headers.end()) {
      unmet.push_back(fmt::format("no {} header", name));
      continue;
    }
    const RE2 re(pattern, RE2::Quiet);
    if (!re.ok()) {  // the parser refuses these; a spec built by hand may hold one
      unmet.push_back(fmt::format("the pattern of {} is invalid: {}", name, re.error()));
      continue;
    }
    if (RE2::PartialMatch(found->second, re)) continue;
    const std::string value = !shown_header(name) ? std::string("(its value is not shown)")
                                                   : fmt::format("\"{}\"", text::printable(detail::shortened(found->second)));
    unmet.push_back(fmt::format("header {} {} does not match \"{}\"", name, value, detail::shortened(pattern)));
  }
  return unmet;
}

// What the body's JSON misses: a body that is not JSON misses it all.
std::vector<std::string> unmet_json(const checks::HttpCheck& check, const detail::HttpAnswer& answer) {
  if (check.expect_json.empty()) return {};
  auto document = checks::parse_json_body(answer.body, answer.body_cut, detail::kMaxBody);
  if (!document) return {document.error().message()};
  return checks::unmet_expectations(*document, check.expect_json);
}

CheckResult judge(const checks::HttpCheck& check, const detail::HttpAnswer& answer) {
  CheckResult result;
  result.status = status_rule(check, answer.status);
  result.output = detail::status_text(answer);
  if (result.status != CheckStatus::Passing && !check.expect_status.empty()) {
    result.output += fmt::format(" (expected {})", fmt::join(check.expect_status, ", "));
  }
  std::vector<std::string> unmet;
  if (!check.body_contains.empty() && answer.body.find(check.body_contains) == std::string::npos) {
    unmet.push_back(fmt::format("body does not contain \"{}\"{}", detail::shortened(check.body_contains),
                                answer.body_cut ? " (in its first 64 KiB)" : ""));
  }
  for (auto& phrase : unmet_headers(check, answer)) unmet.push_back(std::move(phrase));
  for (auto& phrase : unmet_json(check, answer)) unmet.push_back(std::move(phrase));
  if (!unmet.empty()) {
    result.status = checks::worst(result.status, CheckStatus::Critical);
    result.output += fmt::format("; {}", fmt::join(unmet, "; "));
  }
  detail::judge_certificate(answer, check.cert_days_warning, result);
  return result;
}

}  // namespace

CheckResult run_http_check(const checks::HttpCheck& check, std::chrono::milliseconds timeout) {
  detail::HttpExchange exchange(check);
  exchange.keep_body = !check.body_contains.empty() || !check.expect_json.empty();
  for (const auto& [name, pattern] : check.expect_headers) exchange.want_headers.push_back(name);
  auto answer = detail::fetch_http(exchange, timeout);
  if (answer.failure) return *answer.failure;
  return judge(check, answer);
}

}  // namespace keel::agent

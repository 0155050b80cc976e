// The graphql check: POSTs {"query": ..., "variables": ...} as
// application/json to the check's URL (http_fetch.h, with an http check's
// timeout, TLS and request-header options) and passes when the answer is
// HTTP 200, a JSON body with `data` and no non-empty `errors` (the GraphQL
// spec's "response" section), and `expect` holds of it (paths from the
// answer's root: `$.data.status`). Any failure is critical; its output
// shows the first GraphQL error's message, cut short.

#include <string>

#include <fmt/format.h>

#include "agent/checks/check.h"
#include "agent/checks/http_fetch.h"
#include "core/text.h"

namespace keel::agent {
namespace {

using checks::CheckStatus;
using Json = nlohmann::json;

constexpr size_t kMaxErrorMessage = 200;

checks::HttpCheck transport_of(const checks::GraphqlCheck& check) {
  checks::HttpCheck http;
  http.url = check.url;
  http.method = "POST";
  http.headers = check.headers;
  if (!http.headers.count("Accept")) http.headers["Accept"] = "application/json";
  http.cert_days_warning = check.cert_days_warning;
  http.tls_verify = check.tls_verify;
  http.ca_file = check.ca_file;
  return http;
}

std::string request_body(const checks::GraphqlCheck& check) {
  Json body = {{"query", check.query}};
  if (!check.variables.empty()) body["variables"] = check.variables;
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The first error's message, printable and short; or what the first error is.
std::string first_error(const Json& errors) {
  const Json& first = errors.front();
  if (first.is_object() && first.contains("message") && first["message"].is_string())
    return fmt::format("\"{}\"", text::printable(detail::shortened(first["message"].get_ref<const std::string&>(),
                                                                   kMaxErrorMessage)));
  return checks::describe_json(first);
}

bool has_errors(const Json& document) {
  if (!document.is_object() || !document.contains("errors")) return false;
  const Json& errors = document["errors"];
  return !errors.is_null() && !(errors.is_array() && errors.empty());
}

// "GraphQL error: "..."" for a document with errors; empty without.
std::string errors_phrase(const Json& document) {
  if (!has_errors(document)) return {};
  const Json& errors = document["errors"];
  if (!errors.is_array()) return fmt::format("`errors` is {}, not a list", checks::describe_json(errors));
  return fmt::format("GraphQL error{}: {}", errors.size() == 1 ? "" : fmt::format(" (1 of {})", errors.size()),
                     first_error(errors));
}

// A 200 answer's document against the GraphQL rules and the expectations.
std::vector<std::string> unmet(const checks::GraphqlCheck& check, const Json& document) {
  if (auto errors = errors_phrase(document); !errors.empty()) return {errors};
  if (!document.is_object() || !document.contains("data") || document["data"].is_null())
    return {"the answer has no `data`"};
  return checks::unmet_expectations(document, check.expect);
}

CheckResult judge(const checks::GraphqlCheck& check, const detail::HttpAnswer& answer) {
  CheckResult result{CheckStatus::Passing, detail::status_text(answer)};
  std::vector<std::string> problems;
  auto document = checks::parse_json_body(answer.body, answer.body_cut, detail::kMaxBody);
  if (answer.status != 200) {
    problems.push_back("expected HTTP 200");
    // A server answers a query it cannot run with 400 and its errors: show them.
    if (document)
      if (auto errors = errors_phrase(*document); !errors.empty()) problems.push_back(errors);
  } else if (!document) {
    problems.push_back(document.error().message());
  } else {
    problems = unmet(check, *document);
  }
  if (!problems.empty()) {
    result.status = CheckStatus::Critical;
    result.output += fmt::format("; {}", fmt::join(problems, "; "));
  }
  detail::judge_certificate(answer, check.cert_days_warning, result);
  return result;
}

}  // namespace

CheckResult run_graphql_check(const checks::GraphqlCheck& check, std::chrono::milliseconds timeout) {
  const checks::HttpCheck http = transport_of(check);
  detail::HttpExchange exchange(http);
  exchange.body = request_body(check);
  exchange.content_type = "application/json";
  exchange.keep_body = true;
  auto answer = detail::fetch_http(exchange, timeout);
  if (answer.failure) return *answer.failure;
  return judge(check, answer);
}

}  // namespace keel::agent

#include "plugins/aws/api_client.h"

#include <pugixml.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

#include <fmt/format.h>
#include "core/log.h"

#include "core/crypto.h"

namespace keel::aws {

namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

thread_local std::optional<Failure> t_failure;

// The share of the account's budget keel paces itself to. AWS counts
// requests as they arrive, and they arrive with a few milliseconds of
// jitter: paced at exactly the limit, one that arrives early makes 21 in a
// second and is throttled, which stops every request for a backoff. 5%
// under it, 20 requests in a row have 50 ms of slack at 20 a second.
constexpr double kPaceShare = 0.95;

// How many may start at once after a quiet moment, at most that many in any
// kPaceBurst / (kPaceShare x the limit) seconds: the same 95% over time and
// the same 50 ms of slack as an even pace (no more than the limit in any
// 1.05 s), but requests that need nothing of each other (a delete's two or
// three calls, the deletes that became ready together) go side by side
// instead of 52 ms apart. Not more: the proxy that stands in for AWS in the
// tests stamps a burst of ten over up to 0.2 s (its work for each request
// holds one lock), and a burst of 20 (the whole second's) made its window
// count 21 now and then, which is throttled.
constexpr int kPaceBurst = 4;

// The largest burst up to kPaceBurst that keeps any second to the limit:
// b starts in any b / (0.95 x limit) seconds make at most
// b x ceil(0.95 x limit / b) in a second (20 for a limit of 20 and 4; a
// limit of 5 takes 1, an even pace).
int pace_burst(double requests_per_second) {
  for (int b = kPaceBurst; b > 1; --b)
    if (b * std::ceil(kPaceShare * requests_per_second / b) <= requests_per_second) return b;
  return 1;
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

std::string one_line(std::string text, size_t limit = 300) {
  if (text.size() > limit) text = text.substr(0, limit) + "...";
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

// Whether `action` makes something from its parameters: a NotFound it
// meets is about an input (an AMI, a subnet the stack names), not the
// resource itself.
bool makes(const std::string& action) {
  for (const char* verb : {"Create", "Run", "Import", "Associate", "Attach", "Authorize"})
    if (action.starts_with(verb)) return true;
  return false;
}

ErrorCode code_for(const std::string& action, long status, const std::string& code) {
  if (is_throttling(code) || status >= 500 || status == 429) return ErrorCode::Transient;
  if (code.ends_with(".NotFound") || code.ends_with("NotFound") || status == 404)
    return makes(action) ? ErrorCode::InvalidConfig : ErrorCode::NotFound;
  if (code == "AuthFailure" || code == "UnauthorizedOperation" || code == "InvalidClientTokenId" ||
      code == "SignatureDoesNotMatch" || code == "AccessDenied" || status == 401 || status == 403)
    return ErrorCode::PermissionDenied;
  if (code.ends_with(".Duplicate") || code == "IdempotentParameterMismatch" || code == "DependencyViolation" ||
      code == "IncorrectState" || code.starts_with("IncorrectInstanceState"))
    return ErrorCode::Conflict;
  return ErrorCode::InvalidConfig;
}

Error response_error(const Call& call, const Service& service, const http::Response& response) {
  AwsError e = parse_error(response.body);
  std::string message = e.message.empty() ? (response.body.empty() ? "no message" : one_line(response.body)) : e.message;
  std::string detail = fmt::format("HTTP {}", response.status);
  if (!e.request_id.empty()) detail += fmt::format(", request {}", e.request_id);
  std::string text = e.code.empty() ? fmt::format("{} {}: {} ({})", service.label, call.action, message, detail)
                                    : fmt::format("{} {}: {}: {} ({})", service.label, call.action, e.code, message, detail);
  t_failure = Failure{static_cast<int>(response.status), e.code, message, text};
  return Error(code_for(call.action, response.status, e.code), text);
}

// An element with element children named only item or member is a list.
bool is_list(const pugi::xml_node& node) {
  bool any = false;
  for (const auto& child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    const std::string_view name = child.name();
    if (name != "item" && name != "member") return false;
    any = true;
  }
  return any;
}

json node_to_json(const pugi::xml_node& node, int depth) {
  if (depth > 64) return json();  // deeper than any AWS answer: cut, never recurse without end
  bool has_elements = false;
  for (const auto& child : node.children())
    if (child.type() == pugi::node_element) has_elements = true;
  if (!has_elements) return std::string(node.text().get());
  if (is_list(node)) {
    json out = json::array();
    for (const auto& child : node.children())
      if (child.type() == pugi::node_element) out.push_back(node_to_json(child, depth + 1));
    return out;
  }
  json out = json::object();
  for (const auto& child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    out[child.name()] = node_to_json(child, depth + 1);
  }
  return out;
}

std::string form_body(const Call& call, const Service& service) {
  sigv4::Query query{{"Action", call.action}, {"Version", service.version}};
  query.insert(query.end(), call.params.begin(), call.params.end());
  return sigv4::canonical_query(std::move(query));
}

}  // namespace

const Service& ec2_service() {
  static const Service service{"ec2", "2016-11-15", "EC2"};
  return service;
}

const Service& elbv2_service() {
  static const Service service{"elasticloadbalancing", "2015-12-01", "ELBv2"};
  return service;
}

const Service& autoscaling_service() {
  static const Service service{"autoscaling", "2011-01-01", "Auto Scaling"};
  return service;
}

std::optional<Failure> take_failure() {
  std::optional<Failure> f = std::move(t_failure);
  t_failure.reset();
  return f;
}

void keep_failure(std::optional<Failure> failure) { t_failure = std::move(failure); }

bool is_throttling(const std::string& code) {
  return code == "RequestLimitExceeded" || code == "Throttling" || code == "ThrottlingException" ||
         code == "SlowDown" || code == "TooManyRequestsException" || code == "RequestThrottled";
}

Result<json> xml_to_json(std::string_view xml) {
  pugi::xml_document doc;
  auto parsed = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default);
  if (!parsed) return fail(ErrorCode::Protocol, fmt::format("the answer is not XML: {}", parsed.description()));
  pugi::xml_node root = doc.document_element();
  if (!root) return fail(ErrorCode::Protocol, "the answer is empty");
  return node_to_json(root, 0);
}

AwsError parse_error(std::string_view xml) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return {};
  AwsError out;
  // EC2: Response/Errors/Error, RequestID; the others: ErrorResponse/Error, RequestId.
  pugi::xml_node root = doc.document_element();
  pugi::xml_node error = root.child("Errors").child("Error");
  if (!error) error = root.child("Error");
  if (!error && std::string_view(root.name()) == "Error") error = root;
  out.code = error.child("Code").text().get();
  out.message = error.child("Message").text().get();
  out.request_id = root.child("RequestID").text().get();
  if (out.request_id.empty()) out.request_id = root.child("RequestId").text().get();
  return out;
}

std::vector<json> items(const json& j, const std::string& key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return {};
  return std::vector<json>(it->begin(), it->end());
}

std::string tag_value(const json& resource, const std::string& key) {
  for (const json& tag : items(resource, "tagSet"))
    if (tag.is_object() && tag.value("key", "") == key) return tag.value("value", "");
  return "";
}

void add_filter(Params& params, const std::string& name, const std::vector<std::string>& values) {
  int n = 1;
  while (std::any_of(params.begin(), params.end(), [&](const auto& p) { return p.first == fmt::format("Filter.{}.Name", n); }))
    ++n;
  params.emplace_back(fmt::format("Filter.{}.Name", n), name);
  for (size_t i = 0; i < values.size(); ++i) params.emplace_back(fmt::format("Filter.{}.Value.{}", n, i + 1), values[i]);
}

// --- ApiClient -------------------------------------------------------------------------

ApiClient::ApiClient(http::HttpClient& http, ApiOptions options)
    : http_(http),
      options_(std::move(options)),
      budget_(kit::RateBudget::Pace{.service = "AWS",
                                    .throttled = "AWS throttled a request",
                                    .remaining_header = "",
                                    .reset_header = "",
                                    .per_second = options_.requests_per_second * kPaceShare,
                                    .burst = pace_burst(options_.requests_per_second)}) {
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/') options_.endpoint.pop_back();
  options_.attempts = std::max(1, options_.attempts);
}

void ApiClient::sleep(milliseconds d) const {
  if (options_.sleep) options_.sleep(d);
  else std::this_thread::sleep_for(d);
}

long long ApiClient::requests_sent() const {
  std::lock_guard lock(count_mutex_);
  return sent_;
}

std::string ApiClient::endpoint_of(const Service& service) const {
  if (!options_.endpoint.empty()) return options_.endpoint;
  return fmt::format("https://{}.{}.amazonaws.com", service.name, options_.region);
}

Result<http::Response> ApiClient::exchange(const Call& call, const Service& service) {
  const std::string endpoint = endpoint_of(service);
  const auto scheme_end = endpoint.find("://");
  std::string host = scheme_end == std::string::npos ? endpoint : endpoint.substr(scheme_end + 3);
  host = host.substr(0, host.find('/'));
  const std::string body = form_body(call, service);

  const sigv4::Request to_sign{
      .method = "POST",
      .canonical_uri = "/",
      .canonical_query = "",
      .headers = {{"host", host}, {"content-type", "application/x-www-form-urlencoded; charset=utf-8"}},
      .payload_hash = crypto::sha256_hex(body)};
  auto signature = sigv4::sign(to_sign, options_.credentials, {options_.region, service.name},
                               sigv4::amz_date(system_clock::now()));
  http::Request request;
  request.method = "POST";
  request.url = endpoint + "/";
  request.body = body;
  request.timeout = options_.timeout;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  for (auto& header : signature) request.headers.push_back(std::move(header));
  {
    std::lock_guard lock(count_mutex_);
    ++sent_;
  }
  const auto ticket = budget_.acquire(call.progress);
  auto response = http_.send(request);
  budget_.release(ticket, response ? &*response : nullptr);
  return response;
}

Result<json> ApiClient::send(const Call& call) {
  auto sent = run(call, nullptr);
  if (!sent) return fail(sent.error());
  return std::move(sent->body);
}

Result<Sent> ApiClient::send_once(const Call& call, const Lookup& lookup) { return run(call, &lookup); }

Result<Sent> ApiClient::run(const Call& call, const Lookup* lookup) {
  const Service& service = call.service ? *call.service : ec2_service();
  const std::string what = fmt::format("{} {}", service.label, call.action);
  int failures = 0;
  for (;;) {
    auto response = exchange(call, service);
    bool ambiguous = false;  // the call may have taken effect
    std::optional<Error> error;
    if (!response) {
      ambiguous = response.error().code() != ErrorCode::Unavailable;  // Unavailable: nothing was sent
      error = Error(response.error().code() == ErrorCode::Timeout ? ErrorCode::Timeout : ErrorCode::Transient,
                    fmt::format("{}: {}", what, response.error().message()));
    } else if (response->ok()) {
      auto body = xml_to_json(response->body);
      if (!body) return fail(body.error().with_context(what));
      return Sent{std::move(*body), false};
    } else {
      Error e = response_error(call, service, *response);
      const AwsError parsed = parse_error(response->body);
      const bool throttled = is_throttling(parsed.code) || response->status == 429;
      if (!throttled && response->status < 500) return fail(e);
      // Throttled: the call was refused, not run. A 5xx may have run it.
      ambiguous = !throttled;
      if (throttled) {
        const milliseconds pause = backoff(options_, failures + 1);
        logging::info("AWS: {} throttled ({}): every request waits {} ms", what, parsed.code, pause.count());
        budget_.pause_until(system_clock::now() + pause);
      }
      error = std::move(e);
    }
    ++failures;
    if (failures >= options_.attempts) return fail(*error);
    if (ambiguous && !call.idempotent) {
      if (!lookup || !*lookup) return fail(*error);
      auto found = (*lookup)();
      if (!found) return fail(found.error().with_context(fmt::format("{} after a lost response", what)));
      if (*found) {
        logging::info("AWS: {}: the answer was lost, but the call took effect: adopting what it made", what);
        return Sent{std::move(**found), true};
      }
    }
    const milliseconds delay = backoff(options_, failures);
    if (call.progress) call.progress(fmt::format("{} failed ({}): retrying in {} ms", what, error->message(), delay.count()));
    sleep(delay);
  }
}

}  // namespace keel::aws

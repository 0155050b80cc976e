#pragma once
// AWS's Query APIs (EC2; the same protocol serves Elastic Load Balancing and
// Auto Scaling) as keel-provider-aws uses them: one ApiClient per account
// and region, shared by every operation in flight.
//
//   ApiClient api(curl, options);
//   auto vpcs = api.send({.action = "DescribeVpcs", .params = {{"Filter.1.Name", "tag:keel:project"}, ...}});
//
// What it owns (callers never retry on their own):
// - SigV4 (core/sigv4.h) with the credentials of configure(); the secret
//   never reaches a message or a log line (errors name the action only).
// - One request budget (kit::RateBudget, Pace::per_second and burst) for
//   every call in flight, polling included; a throttling answer
//   (RequestLimitExceeded, Throttling, HTTP 429/503 SlowDown) stops every
//   thread for a backoff.
// - Retries: throttling, 5xx and transport failures, with exponential
//   backoff and jitter, up to ApiOptions::attempts. A call that is not
//   idempotent and carries no ClientToken is resent after an ambiguous
//   failure (5xx, reset, timeout: a lost response) only when its Lookup
//   finds that the first attempt did nothing; what the Lookup finds is
//   adopted instead. A call with a ClientToken is simply resent: AWS answers
//   the first call's result.
// - Errors: AWS's <Code>, <Message> and request id become keel Errors like
//   "EC2 RunInstances: InvalidAMIID.NotFound: The image id '[ami-1]' does
//   not exist (HTTP 400, request 5f1c...)"; *.NotFound is NotFound (but
//   InvalidConfig from a call that makes something: the missing thing is
//   one of its inputs), AuthFailure and friends PermissionDenied, other 4xx InvalidConfig,
//   throttling and 5xx Transient. The last failure of the calling thread is
//   kept for plugin::set_error_details (take_failure()).
// - Answers: the XML body as JSON (xml_to_json): elements become members,
//   lists of <item>/<member> become arrays, text becomes strings.
//
// Thread-safe.

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/http_client.h"
#include "core/provider.h"
#include "core/sigv4.h"
#include "plugins/sdk/rate_budget.h"

namespace keel::aws {

using nlohmann::json;
using provider::ProgressFn;

// An AWS service as the Query protocol reaches it.
struct Service {
  std::string name;     // signing name and endpoint prefix: "ec2"
  std::string version;  // the API version: "2016-11-15"
  std::string label;    // in messages: "EC2"
};
const Service& ec2_service();
const Service& elbv2_service();        // Elastic Load Balancing v2 (ALB, NLB)
const Service& autoscaling_service();  // EC2 Auto Scaling

using Params = std::vector<std::pair<std::string, std::string>>;

struct ApiOptions {
  std::string endpoint;  // scheme://host[:port]; empty: https://SERVICE.REGION.amazonaws.com
  std::string region = "us-east-1";
  sigv4::Credentials credentials;
  int attempts = 8;  // per call, counting throttling, 5xx and transport failures
  std::chrono::milliseconds initial_backoff{300};
  std::chrono::milliseconds max_backoff{10'000};
  std::chrono::milliseconds timeout{30'000};  // one exchange
  double requests_per_second = 20;            // the account's budget, shared by everything in flight
  // How to sleep between attempts; unset: std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
};

struct Call {
  const Service* service = nullptr;  // null: EC2
  std::string action;                // "RunInstances"
  Params params;
  // Describe*, and anything whose repetition is harmless (a ClientToken
  // among the params, deleting, tagging): resent after any failure.
  bool idempotent = false;
  ProgressFn progress;
};

// A call's answer, or what the lookup found after a lost response.
struct Sent {
  json body;
  bool adopted = false;
};
// Whether what an ambiguous call was to make exists now (nullopt: send again).
using Lookup = std::function<Result<std::optional<json>>()>;

struct Failure {
  std::optional<int> status;
  std::string code;        // AWS's error code
  std::string cloud_message;
  std::string message;     // the Error's message as the client built it
};
std::optional<Failure> take_failure();
// Makes `failure` this thread's, for a call another thread sent on its
// behalf (a batch).
void keep_failure(std::optional<Failure> failure);

class ApiClient {
 public:
  ApiClient(http::HttpClient& http, ApiOptions options);

  // Sends with retries (a non-idempotent call without lookup is sent once
  // after an ambiguous failure: the failure is returned).
  Result<json> send(const Call& call);
  Result<Sent> send_once(const Call& call, const Lookup& lookup);

  kit::RateBudget& budget() { return budget_; }
  const ApiOptions& options() const { return options_; }
  long long requests_sent() const;

 private:
  Result<Sent> run(const Call& call, const Lookup* lookup);
  Result<http::Response> exchange(const Call& call, const Service& service);
  std::string endpoint_of(const Service& service) const;
  void sleep(std::chrono::milliseconds d) const;

  http::HttpClient& http_;
  ApiOptions options_;
  kit::RateBudget budget_;
  mutable std::mutex count_mutex_;
  long long sent_ = 0;
};

// --- helpers (public for tests and fuzzing) ------------------------------------------

// An AWS XML answer as JSON; Protocol error for what is not XML.
Result<json> xml_to_json(std::string_view xml);
// AWS's error of a non-2xx answer: code, message, request id (empty when
// the body is none).
struct AwsError {
  std::string code;
  std::string message;
  std::string request_id;
};
AwsError parse_error(std::string_view xml);
bool is_throttling(const std::string& code);
// The items of a list member: [] when absent or empty.
std::vector<json> items(const json& j, const std::string& key);
// A tag's value in a tagSet, "" when absent.
std::string tag_value(const json& resource, const std::string& key);
// params += Filter.N.Name=name, Filter.N.Value.1=value.
void add_filter(Params& params, const std::string& name, const std::vector<std::string>& values);

}  // namespace keel::aws

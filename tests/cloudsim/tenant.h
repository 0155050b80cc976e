#pragma once
// A tenant is everything the simulator keeps for one bearer token: its
// settings, its rate-limit window, its request counters, its clock and its
// resources in each simulated cloud. DigitalOcean's limits are per token,
// so many tests can share one simulator, each with a token of its own.
//
// Two locks: one for the bookkeeping (config, counters, window), taken
// briefly for every request; one for the resources, held while a handler
// runs. Reading the stats never waits behind a slow handler.

#include <array>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/cloudsim/cloud_api.h"
#include "tests/cloudsim/rate_limiter.h"

namespace keel::cloudsim {

enum class Fault { None, TooManyRequests, ServerError, ServiceUnavailable, Reset, LostResponse };

// "429", "500", "503", "reset", "lost_response": the names the admin API uses.
const char* fault_name(Fault fault);
inline constexpr std::array kFaults{Fault::TooManyRequests, Fault::ServerError, Fault::ServiceUnavailable,
                                    Fault::Reset, Fault::LostResponse};

struct TenantConfig {
  double provision_seconds = 2.0;
  int latency_ms = 0;
  int rate_limit_per_minute = 250;  // 0: unlimited
  double fault_rate = 0.0;          // probability that a request gets a fault
  // Lists give at most this many per page whatever per_page asks (1..200):
  // a test makes a client page through a few resources.
  int max_per_page = 200;
  std::map<std::string, double> fault_weights{
      {"429", 1}, {"500", 1}, {"503", 1}, {"reset", 1}, {"lost_response", 1}};
  std::set<std::string> fault_methods{"DELETE", "GET", "PATCH", "POST", "PUT"};

  Json to_json() const;
  // This config with the members present in `patch` applied; a message
  // naming the bad member otherwise (nothing is applied then).
  std::expected<TenantConfig, std::string> merged(const Json& patch) const;
};

// What happens to one API request, decided when it arrives.
struct Admission {
  bool rate_limited = false;  // over the limit: answer 429 and do nothing
  Fault fault = Fault::None;
  RateLimiter::Verdict limits;  // for the ratelimit-* headers
  int latency_ms = 0;
  double provision_seconds = 0;
  int max_per_page = 200;
};

class Tenant {
 public:
  Tenant(std::string token, const TenantConfig& defaults, uint64_t seed,
         std::vector<std::unique_ptr<TenantResources>> resources);

  const std::string& token() const { return token_; }

  // Counts a request for `route` ("GET /v2/droplets/{id}"), applies the
  // rate limit (a request counts when it arrives, before any latency) and
  // rolls for a fault.
  Admission admit(const std::string& route, const std::string& method);

  TenantConfig config() const;
  std::expected<TenantConfig, std::string> update_config(const Json& patch);

  // Counters only; the caller adds "resources".
  Json stats() const;
  void reset_counters();
  // Forgets the counters, the rate-limit window and the clock offset, and
  // takes fresh resources; the config stays.
  void reset(std::vector<std::unique_ptr<TenantResources>> resources);

  Clock& clock() { return clock_; }

  // The resources of the cloud at `index` (in the simulator's list), with
  // the resource lock held by the caller through resources_mutex().
  std::mutex& resources_mutex() { return resources_mutex_; }
  TenantResources& resources(size_t index) { return *resources_.at(index); }
  size_t cloud_count() const { return resources_.size(); }

 private:
  Fault roll_fault(const std::string& method);

  const std::string token_;
  Clock clock_;

  mutable std::mutex meta_mutex_;
  TenantConfig config_;
  RateLimiter limiter_;
  std::mt19937_64 rng_;
  uint64_t requests_ = 0;
  uint64_t rate_limited_ = 0;
  std::map<std::string, uint64_t> by_route_;
  std::map<std::string, uint64_t> faults_;

  std::mutex resources_mutex_;
  std::vector<std::unique_ptr<TenantResources>> resources_;
};

}  // namespace keel::cloudsim

#include "tests/cloudsim/tenant.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include <fmt/format.h>

namespace keel::cloudsim {

const char* fault_name(Fault fault) {
  switch (fault) {
    case Fault::None: return "none";
    case Fault::TooManyRequests: return "429";
    case Fault::ServerError: return "500";
    case Fault::ServiceUnavailable: return "503";
    case Fault::Reset: return "reset";
    case Fault::LostResponse: return "lost_response";
  }
  return "none";
}

// ---- config ----

Json TenantConfig::to_json() const {
  Json faults = Json::object();
  for (Fault f : kFaults) faults[fault_name(f)] = fault_weights.at(fault_name(f));
  return Json{{"provision_seconds", provision_seconds},
              {"latency_ms", latency_ms},
              {"rate_limit_per_minute", rate_limit_per_minute},
              {"fault_rate", fault_rate},
              {"max_per_page", max_per_page},
              {"faults", faults},
              {"fault_methods", fault_methods}};
}

namespace {

using Problem = std::unexpected<std::string>;

bool known_fault(const std::string& name) {
  return std::any_of(kFaults.begin(), kFaults.end(), [&](Fault f) { return name == fault_name(f); });
}

// `faults` replaces the weights wholesale: kinds left out get weight 0, so
// {"reset": 1} means "only resets".
std::expected<std::map<std::string, double>, std::string> parse_weights(const Json& value) {
  if (!value.is_object()) return Problem("faults must be an object of weights by kind");
  std::map<std::string, double> weights;
  for (Fault f : kFaults) weights[fault_name(f)] = 0;
  for (const auto& [kind, weight] : value.items()) {
    if (!known_fault(kind))
      return Problem("faults: unknown kind `" + kind + "` (known: 429, 500, 503, reset, lost_response)");
    if (!weight.is_number() || weight.get<double>() < 0) return Problem("faults." + kind + " must be a number >= 0");
    weights[kind] = weight.get<double>();
  }
  return weights;
}

std::expected<std::set<std::string>, std::string> parse_methods(const Json& value) {
  static const std::set<std::string> kMethods{"DELETE", "GET", "PATCH", "POST", "PUT"};
  if (!value.is_array()) return Problem("fault_methods must be an array of HTTP methods");
  std::set<std::string> methods;
  for (const auto& m : value) {
    if (!m.is_string()) return Problem("fault_methods must be an array of HTTP methods");
    std::string upper = m.get<std::string>();
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    if (!kMethods.contains(upper)) return Problem("fault_methods: unknown method `" + m.get<std::string>() + "`");
    methods.insert(upper);
  }
  return methods;
}

std::expected<double, std::string> number_in(const Json& value, const std::string& name, double lo, double hi) {
  if (!value.is_number() || value.get<double>() < lo || value.get<double>() > hi)
    return Problem(fmt::format("{} must be a number from {} to {}", name, lo, hi));
  return value.get<double>();
}

std::expected<int, std::string> integer_in(const Json& value, const std::string& name, int lo, int hi) {
  if (!value.is_number_integer() || value.get<int64_t>() < lo || value.get<int64_t>() > hi)
    return Problem(name + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  return value.get<int>();
}

}  // namespace

std::expected<TenantConfig, std::string> TenantConfig::merged(const Json& patch) const {
  if (!patch.is_object()) return Problem("the config must be a JSON object");
  TenantConfig next = *this;
  for (const auto& [key, value] : patch.items()) {
    if (key == "provision_seconds") {
      auto v = number_in(value, key, 0, 86400);
      if (!v) return Problem(v.error());
      next.provision_seconds = *v;
    } else if (key == "latency_ms") {
      auto v = integer_in(value, key, 0, 60000);
      if (!v) return Problem(v.error());
      next.latency_ms = *v;
    } else if (key == "rate_limit_per_minute") {
      auto v = integer_in(value, key, 0, 1'000'000);
      if (!v) return Problem(v.error());
      next.rate_limit_per_minute = *v;
    } else if (key == "max_per_page") {
      auto v = integer_in(value, key, 1, 200);
      if (!v) return Problem(v.error());
      next.max_per_page = *v;
    } else if (key == "fault_rate") {
      auto v = number_in(value, key, 0, 1);
      if (!v) return Problem(v.error());
      next.fault_rate = *v;
    } else if (key == "faults") {
      auto v = parse_weights(value);
      if (!v) return Problem(v.error());
      next.fault_weights = std::move(*v);
    } else if (key == "fault_methods") {
      auto v = parse_methods(value);
      if (!v) return Problem(v.error());
      next.fault_methods = std::move(*v);
    } else {
      return Problem("unknown setting `" + key +
                     "` (known: provision_seconds, latency_ms, rate_limit_per_minute, fault_rate, faults, "
                     "fault_methods, max_per_page)");
    }
  }
  return next;
}

// ---- tenant ----

Tenant::Tenant(std::string token, const TenantConfig& defaults, uint64_t seed,
               std::vector<std::unique_ptr<TenantResources>> resources)
    : token_(std::move(token)),
      config_(defaults),
      limiter_(defaults.rate_limit_per_minute),
      // Each tenant rolls its own dice: a test's faults do not depend on
      // how much traffic other tests send.
      rng_(seed ^ std::hash<std::string>{}(token_)),
      resources_(std::move(resources)) {}

Fault Tenant::roll_fault(const std::string& method) {
  if (config_.fault_rate <= 0 || !config_.fault_methods.contains(method)) return Fault::None;
  if (std::uniform_real_distribution<double>(0, 1)(rng_) >= config_.fault_rate) return Fault::None;
  double total = 0;
  for (Fault f : kFaults) total += config_.fault_weights[fault_name(f)];
  if (total <= 0) return Fault::None;
  double pick = std::uniform_real_distribution<double>(0, total)(rng_);
  for (Fault f : kFaults) {
    pick -= config_.fault_weights[fault_name(f)];
    if (pick < 0) return f;
  }
  return Fault::LostResponse;  // rounding at the very top of the range
}

Admission Tenant::admit(const std::string& route, const std::string& method) {
  Admission a;
  const TimePoint now = clock_.now();
  std::lock_guard lock(meta_mutex_);
  ++requests_;
  ++by_route_[route];
  a.latency_ms = config_.latency_ms;
  a.provision_seconds = config_.provision_seconds;
  a.max_per_page = config_.max_per_page;
  a.limits = limiter_.peek(now);
  if (!a.limits.allowed) {
    // A rejected request does not take a slot: DigitalOcean counts only
    // what it served.
    a.rate_limited = true;
    ++rate_limited_;
    return a;
  }
  a.fault = roll_fault(method);
  if (a.fault != Fault::None) ++faults_[fault_name(a.fault)];
  if (a.fault == Fault::TooManyRequests) {
    a.limits.retry_after_seconds = 1;  // an injected 429 is a burst, not a full window
    return a;
  }
  a.limits = limiter_.take(now);
  return a;
}

TenantConfig Tenant::config() const {
  std::lock_guard lock(meta_mutex_);
  return config_;
}

std::expected<TenantConfig, std::string> Tenant::update_config(const Json& patch) {
  std::lock_guard lock(meta_mutex_);
  auto next = config_.merged(patch);
  if (!next) return next;
  config_ = *next;
  limiter_.set_limit(config_.rate_limit_per_minute);
  return config_;
}

Json Tenant::stats() const {
  std::lock_guard lock(meta_mutex_);
  Json faults = Json::object();
  for (Fault f : kFaults) {
    auto it = faults_.find(fault_name(f));
    faults[fault_name(f)] = it == faults_.end() ? 0 : it->second;
  }
  return Json{{"requests", requests_}, {"by_route", by_route_}, {"rate_limited", rate_limited_}, {"faults", faults}};
}

void Tenant::reset_counters() {
  std::lock_guard lock(meta_mutex_);
  requests_ = 0;
  rate_limited_ = 0;
  by_route_.clear();
  faults_.clear();
}

void Tenant::reset(std::vector<std::unique_ptr<TenantResources>> resources) {
  {
    std::lock_guard lock(resources_mutex_);
    resources_ = std::move(resources);
  }
  reset_counters();
  std::lock_guard lock(meta_mutex_);
  limiter_.clear();
  clock_.reset();
}

}  // namespace keel::cloudsim

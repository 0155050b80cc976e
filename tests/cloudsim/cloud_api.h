#pragma once
// One simulated cloud (DigitalOcean today; Hetzner is meant to slot in
// beside it) as the generic simulator sees it.
//
// The simulator owns everything that is not the cloud's business: tenants,
// rate limits, latency, faults, stats, the admin API. A CloudApi supplies
// the routes under its path prefix, the shape of its error bodies, and a
// fresh TenantResources for each tenant.
//
// Threading: the simulator holds the tenant's resource lock around every
// call into a TenantResources and around every route handler, so neither
// needs locks of its own. A CloudApi itself is immutable after
// construction and shared by all threads.

#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "tests/cloudsim/router.h"

namespace keel::cloudsim {

enum class ErrorKind {
  Unauthorized,        // 401: no or bad token
  NotFound,            // 404: no such route
  TooManyRequests,     // 429: rate limit, real or injected
  ServerError,         // 500: injected
  ServiceUnavailable,  // 503: injected
};

// The resources of one tenant in one cloud.
class TenantResources {
 public:
  virtual ~TenantResources() = default;

  // Applies what has become due by `now` (provisioning done, actions
  // completed). Called before any handler or admin access, so that state
  // moves with the clock without a background thread.
  virtual void settle(TimePoint now) = 0;

  // {"droplets": 2, "volumes": 0, ...} for GET /_sim/stats.
  virtual Json resource_counts() const = 0;

  // JSON merge patch (RFC 7386) into a stored resource, for tests that
  // change something behind the client's back. Returns the resource after
  // the patch, or a message saying what was not found.
  virtual std::expected<Json, std::string> patch_resource(const std::string& collection,
                                                          const std::string& id, const Json& patch) = 0;
  // Deletes a resource without going through the API (no action, no checks).
  virtual std::expected<void, std::string> delete_resource(const std::string& collection,
                                                           const std::string& id) = 0;
};

class CloudApi {
 public:
  virtual ~CloudApi() = default;

  // Requests whose path starts with this ("/v2/") belong to this cloud.
  virtual std::string_view path_prefix() const = 0;
  virtual const Router& router() const = 0;
  virtual std::unique_ptr<TenantResources> new_tenant(const std::string& token) const = 0;
  // The cloud's own error body for the errors the simulator makes itself.
  virtual Reply error(ErrorKind kind) const = 0;
};

}  // namespace keel::cloudsim

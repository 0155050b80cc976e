#pragma once
// The generic part of keel-cloudsim: it puts the simulated clouds on a
// cpp-httplib server and wraps every API request in what real clouds do to
// a client besides answering: a per-token rate limit, latency, injected
// faults (429, 5xx, a reset connection, a response lost after the work was
// done), and it counts requests. The admin API under /_sim/ lets a test
// tune all that per tenant, read the counters, and change resources behind
// the client's back (simulator_admin.cpp).
//
// Knows nothing of any one cloud: each comes in as a CloudApi.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <httplib.h>

#include "tests/cloudsim/cloud_api.h"
#include "tests/cloudsim/tenant.h"

namespace keel::cloudsim {

struct SimulatorOptions {
  TenantConfig defaults;  // for tenants seen for the first time
  uint64_t seed = 0;      // fault dice; each tenant mixes in its token
  // Base of the absolute URLs in responses (pagination links, action
  // hrefs). Empty: "http://" + the request's Host header. A proxy in front
  // (Prism) rewrites Host to the simulator's address, so links would
  // bypass it unless its URL is given here.
  std::string public_url;
};

class Simulator {
 public:
  Simulator(SimulatorOptions options, std::vector<std::unique_ptr<CloudApi>> clouds);

  // Adds the clouds' routes and /_sim/ to `server`.
  void install(httplib::Server& server);

 private:
  void serve(size_t cloud, const httplib::Request& req, httplib::Response& res);
  Reply answer(size_t cloud, Tenant& tenant, const Route* route, Call& call, const Admission& admission);
  Reply run_handler(size_t cloud, Tenant& tenant, const Route& route, Call& call);

  // Admin API (simulator_admin.cpp).
  void install_admin(httplib::Server& server);
  Tenant* admin_tenant(const httplib::Request& req, httplib::Response& res);
  void admin_get_config(const httplib::Request& req, httplib::Response& res);
  void admin_put_config(const httplib::Request& req, httplib::Response& res);
  void admin_stats(const httplib::Request& req, httplib::Response& res);
  void admin_reset_stats(const httplib::Request& req, httplib::Response& res);
  void admin_patch_resource(const httplib::Request& req, httplib::Response& res);
  void admin_delete_resource(const httplib::Request& req, httplib::Response& res);
  void admin_reset(const httplib::Request& req, httplib::Response& res);
  void admin_advance_clock(const httplib::Request& req, httplib::Response& res);

  // The tenant of `token`, made with the default config on first sight.
  Tenant& tenant(const std::string& token);
  std::vector<std::unique_ptr<TenantResources>> fresh_resources(const std::string& token) const;

  SimulatorOptions options_;
  std::vector<std::unique_ptr<CloudApi>> clouds_;
  std::mutex tenants_mutex_;
  std::map<std::string, std::unique_ptr<Tenant>> tenants_;  // never erased: references stay valid
};

}  // namespace keel::cloudsim

#pragma once
// The cloud simulator the provider tests talk to (tests/cloudsim), started
// once per CTest run by the `cloudsim` fixture (tests/support/start-cloudsim.sh)
// behind Prism, DigitalOcean's contract as a validating proxy.
//
// Each test takes its own Tenant: a fresh bearer token, which the simulator
// keeps apart (its own resources, rate-limit budget, timings and faults), so
// tests running at once do not see each other.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "core/crypto.h"
#include "core/http_client.h"
#include "tests/support/services.h"

namespace keel::testing {

struct CloudSim {
  std::string sim_url;      // the simulator itself, for its admin API
  std::string do_endpoint;  // where a DigitalOcean client points: Prism (or the simulator)
  std::string contract;     // "prism" or "skipped: ..."
};

// The fixture's endpoints; FAILs when the fixture did not run.
inline const CloudSim& cloudsim() {
  static const CloudSim sim = [] {
    const char* path = std::getenv("KEEL_CLOUDSIM_ENV");
    if (!path) FAIL("KEEL_CLOUDSIM_ENV is not set: run through ctest, which starts the cloudsim fixture");
    auto env = read_env_file(path);
    if (env["CLOUDSIM_URL"].empty()) FAIL("no simulator in " << path << ": did fixture.cloudsim.start pass?");
    return CloudSim{env["CLOUDSIM_URL"], env["DO_ENDPOINT"], env["DO_CONTRACT"]};
  }();
  if (sim.contract != "prism") WARN("contract check " << sim.contract);
  return sim;
}

// One test's account in the simulator.
class Tenant {
 public:
  explicit Tenant(nlohmann::json config = nlohmann::json::object())
      : token_("test-" + crypto::random_alnum(24)) {
    if (!config.empty()) configure(config);
  }
  const std::string& token() const { return token_; }
  const std::string& endpoint() const { return cloudsim().do_endpoint; }

  // PUT /_sim/config: provision_seconds, latency_ms, rate_limit_per_minute,
  // fault_rate, faults, fault_methods.
  nlohmann::json configure(const nlohmann::json& config) { return admin("PUT", "/_sim/config", config); }
  nlohmann::json stats() { return admin("GET", "/_sim/stats"); }
  // Changes or deletes a resource behind the provider's back.
  void patch(const std::string& collection, const std::string& id, const nlohmann::json& fields) {
    admin("PATCH", "/_sim/resources/" + collection + "/" + id, fields);
  }
  void forget(const std::string& collection, const std::string& id) {
    admin("DELETE", "/_sim/resources/" + collection + "/" + id);
  }
  // A DigitalOcean API call straight to the simulator (not through Prism).
  nlohmann::json api(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr) {
    return admin(method, path, body);
  }

  nlohmann::json admin(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr) {
    http::Request request;
    request.method = method;
    request.url = cloudsim().sim_url + path;
    request.bearer_token = token_;
    if (!body.is_null()) request.body = body.dump();
    auto response = http::send_checked(client_, request);
    if (!response) FAIL(method << " " << path << ": " << response.error().message());
    if (response->body.empty()) return nullptr;
    return nlohmann::json::parse(response->body);
  }

 private:
  std::string token_;
  http::CurlHttpClient client_;
};

}  // namespace keel::testing

// keel-provider-digitalocean against keel-cloudsim, through Prism validating
// every request and response against DigitalOcean's OpenAPI document: the
// conformance suite for every kind, then what the API makes hard (rate
// limits, faults, lost responses, pagination, errors).

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "cli/providers/plugin/plugin_provider.h"
#include "tests/support/cloudsim.h"
#include "tests/support/eventually.h"
#include "tests/support/provider_conformance.h"

using namespace keel;
using namespace keel::provider;
using keel::providers::PluginProvider;
using keel::testing::Tenant;
using nlohmann::json;

namespace {

std::unique_ptr<PluginProvider> start_do(const Tenant& tenant, const std::string& project = "conformance") {
  const char* dir = std::getenv("KEEL_BUILD_DIR");
  if (!dir) FAIL("KEEL_BUILD_DIR is not set (ctest sets it)");
  auto plugin = PluginProvider::start(std::string(dir) + "/keel-provider-digitalocean", "");
  if (!plugin) FAIL("start: " << plugin.error().message());
  auto configured = (*plugin)->configure({json{{"token", tenant.token()}, {"endpoint", tenant.endpoint()}}, "", project, ""});
  if (!configured) FAIL("configure: " << configured.error().message());
  return std::move(*plugin);
}

json droplet_config(const std::string& size = "s-1vcpu-1gb") {
  return json{{"region", "fra1"}, {"size", size}, {"image", "debian-12-x64"}};
}

// Droplets the simulator holds for the tenant, by keel's project tag.
size_t droplet_count(Tenant& tenant) { return tenant.stats()["resources"]["droplets"].get<size_t>(); }

}  // namespace

TEST_CASE("digitalocean: servers pass the conformance suite", "[cloud][digitalocean]") {
  Tenant tenant(json{{"provision_seconds", 0.3}});
  auto p = start_do(tenant);
  testing::check_conformance(*p, {"servers", droplet_config(), {{"size", "s-2vcpu-2gb"}}, {"id", "ipv4", "private_ipv4", "status"}});
}

TEST_CASE("digitalocean: databases pass the conformance suite", "[cloud][digitalocean]") {
  Tenant tenant(json{{"provision_seconds", 0.3}});
  auto p = start_do(tenant);
  testing::check_conformance(*p, {"databases",
                                  {{"engine", "postgres"}, {"version", "16"}, {"size", "db-s-1vcpu-1gb"}, {"region", "fra1"}, {"nodes", 1}},
                                  {{"size", "db-s-1vcpu-2gb"}, {"nodes", 2}},
                                  {"host", "port", "user", "database", "password", "uri", "private_host", "status"}});
}

TEST_CASE("digitalocean: caches pass the conformance suite", "[cloud][digitalocean]") {
  Tenant tenant(json{{"provision_seconds", 0.3}});
  auto p = start_do(tenant);
  testing::check_conformance(*p, {"caches", {{"engine", "valkey"}, {"size", "db-s-1vcpu-1gb"}, {"region", "fra1"}},
                                  {{"size", "db-s-1vcpu-2gb"}},
                                  {"host", "port", "password", "uri", "status"}});
}

TEST_CASE("digitalocean: load balancers, firewalls and volumes pass the conformance suite", "[cloud][digitalocean]") {
  Tenant tenant(json{{"provision_seconds", 0.3}});
  auto p = start_do(tenant);
  auto web = p->create({"servers", {"conformance", "servers.web"}, droplet_config(), nullptr});
  REQUIRE(web);
  const std::string droplet = web->id;

  testing::check_conformance(*p, {"load_balancers",
                                  {{"region", "fra1"},
                                   {"rules", json::array({{{"entry", "http:80"}, {"target", "http:8080"}}})},
                                   {"droplet_ids", json::array({droplet})}},
                                  {{"rules", json::array({{{"entry", "http:80"}, {"target", "http:9090"}}})}},
                                  {"ip", "status"}});
  testing::check_conformance(*p, {"firewalls",
                                  {{"inbound", json::array({{{"protocol", "tcp"}, {"ports", "22"}, {"from", {"0.0.0.0/0"}}}})},
                                   {"droplet_ids", json::array({droplet})}},
                                  {{"inbound", json::array({{{"protocol", "tcp"}, {"ports", "443"}, {"from", {"0.0.0.0/0"}}}})}},
                                  {"status"}});
  testing::check_conformance(*p, {"volumes", {{"size", 10}, {"region", "fra1"}, {"filesystem", "ext4"}},
                                  {{"size", 20}, {"droplet_id", droplet}}, {"id"}});
  REQUIRE(p->remove({"servers", droplet, web->attributes, nullptr}));
}

TEST_CASE("digitalocean: a refused value carries the API's message and request id", "[cloud][digitalocean]") {
  Tenant tenant;
  auto p = start_do(tenant);
  auto created = p->create({"servers", {"conformance", "servers.bad"}, droplet_config("s-99vcpu-1tb"), nullptr});
  REQUIRE_FALSE(created);
  INFO(created.error().message());
  CHECK(created.error().code() == ErrorCode::InvalidConfig);
  CHECK(created.error().message().find("size") != std::string::npos);
  CHECK(created.error().message().find("request") != std::string::npos);
  CHECK(created.error().message().find(tenant.token()) == std::string::npos);
  CHECK(droplet_count(tenant) == 0);
}

TEST_CASE("digitalocean: a bad token is refused at configure, without showing it", "[cloud][digitalocean]") {
  const char* dir = std::getenv("KEEL_BUILD_DIR");
  auto plugin = PluginProvider::start(std::string(dir) + "/keel-provider-digitalocean", "");
  REQUIRE(plugin);
  auto configured = (*plugin)->configure({json{{"token", "invalid"}, {"endpoint", testing::cloudsim().do_endpoint}}, "", "x", ""});
  REQUIRE_FALSE(configured);
  CHECK(configured.error().code() == ErrorCode::PermissionDenied);
}

TEST_CASE("digitalocean: 20% of requests failing still creates each droplet once", "[cloud][digitalocean]") {
  Tenant tenant(json{{"provision_seconds", 0.3}, {"fault_rate", 0.2}});
  auto p = start_do(tenant, "faults");
  auto injected = [&tenant] {
    int n = 0;
    const json faults = tenant.stats()["faults"];  // items() of a temporary would dangle
    for (auto& [kind, count] : faults.items()) n += count.get<int>();
    return n;
  };
  // A round of 12 creates sends a few dozen requests; the dice may spare
  // them all, which would test nothing, so another round follows then.
  std::atomic<int> failures = 0;
  size_t created = 0;
  for (int round = 0; round < 5 && (round == 0 || injected() == 0); ++round) {
    std::vector<std::thread> threads;
    for (size_t i = created; i < created + 12; ++i)
      threads.emplace_back([&, i] {
        auto made = p->create({"servers", {"faults", "servers.web[" + std::to_string(i) + "]"}, droplet_config(), nullptr});
        if (!made) {
          WARN(made.error().message());
          ++failures;
        }
      });
    for (auto& t : threads) t.join();
    created += 12;
  }
  CHECK(failures == 0);
  INFO(tenant.stats()["faults"].dump());
  CHECK(injected() > 0);
  tenant.configure({{"fault_rate", 0}});
  CHECK(droplet_count(tenant) == created);
}

TEST_CASE("digitalocean: a create whose response is lost is adopted, not repeated", "[cloud][digitalocean]") {
  Tenant tenant(json{{"provision_seconds", 0.2}, {"fault_rate", 1.0}, {"faults", {{"lost_response", 1}}}, {"fault_methods", {"POST"}}});
  auto p = start_do(tenant, "lost");
  // Every POST is carried out and its answer lost; the second attempt
  // must find the first droplet instead of creating another.
  std::thread heal([&] {
    testing::eventually([&] { return droplet_count(tenant) >= 1; }, std::chrono::seconds(20));
    tenant.configure({{"fault_rate", 0}});
  });
  auto created = p->create({"servers", {"lost", "servers.web"}, droplet_config(), nullptr});
  heal.join();
  REQUIRE(created);
  CHECK(droplet_count(tenant) == 1);
}

TEST_CASE("digitalocean: the request budget is shared and never runs into 429", "[cloud][digitalocean]") {
  // 60 requests a minute; 8 droplets created and waited on at once need
  // more than that in a window if each polled on its own.
  Tenant tenant(json{{"provision_seconds", 1.0}, {"rate_limit_per_minute", 60}});
  auto p = start_do(tenant, "budget");
  std::vector<std::thread> threads;
  std::atomic<int> failures = 0;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      if (!p->create({"servers", {"budget", "servers.web[" + std::to_string(i) + "]"}, droplet_config(), nullptr})) ++failures;
    });
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  json stats = tenant.stats();
  INFO(stats.dump());
  CHECK(stats["rate_limited"].get<int>() == 0);
  CHECK(stats["resources"]["droplets"].get<int>() == 8);
}

TEST_CASE("digitalocean: reads during a refresh use paged list calls, and see what changed behind keel's back",
          "[cloud][digitalocean]") {
  // 10 per page: 25 droplets take three pages, which the provider follows.
  Tenant tenant(json{{"provision_seconds", 0.1}, {"max_per_page", 10}});
  auto p = start_do(tenant, "refresh");
  std::vector<CreateResponse> droplets;
  for (int i = 0; i < 25; ++i) {
    auto c = p->create({"servers", {"refresh", "servers.web[" + std::to_string(i) + "]"}, droplet_config(), nullptr});
    REQUIRE(c);
    droplets.push_back(*c);
  }
  tenant.forget("droplets", droplets[3].id);
  tenant.patch("droplets", droplets[4].id, {{"size_slug", "s-2vcpu-2gb"}});
  tenant.admin("POST", "/_sim/stats/reset");
  // The next keel run reads with a plugin process of its own.
  p = start_do(tenant, "refresh");

  std::vector<std::thread> threads;
  std::vector<ReadResponse> reads(droplets.size());
  for (size_t i = 0; i < droplets.size(); ++i)
    threads.emplace_back([&, i] {
      auto r = p->read({"servers", droplets[i].id, droplets[i].attributes, nullptr});
      if (r) reads[i] = *r;
    });
  for (auto& t : threads) t.join();
  CHECK_FALSE(reads[3].found);
  CHECK(reads[4].found);
  CHECK(reads[4].attributes["size"] == "s-2vcpu-2gb");
  CHECK(reads[5].attributes["size"] == "s-1vcpu-1gb");
  json stats = tenant.stats();
  INFO(stats.dump());
  // One or two lists of three pages, and one GET for the droplet missing
  // from them; not 25 GETs.
  CHECK(stats["by_route"]["GET /v2/droplets"].get<int>() >= 3);
  CHECK(stats["requests"].get<int>() <= 7);
}

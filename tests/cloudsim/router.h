#pragma once
// Routes of a simulated cloud API, written as templates
// ("/v2/droplets/{id}") rather than regexes: the stats count requests per
// template, and handlers read their path parameters by name.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/cloudsim/clock.h"

namespace keel::cloudsim {

// Ordered, so that responses list fields in the order they were built,
// as DigitalOcean's documentation shows them.
using Json = nlohmann::ordered_json;
// The same type as httplib::Params, without pulling httplib into every file.
using Query = std::multimap<std::string, std::string>;

// One request, as a route handler sees it.
struct Call {
  std::string method;
  std::string path;
  std::map<std::string, std::string> params;  // {id} in the template -> "123"
  Query query;
  std::string body;
  // "http://HOST" from the Host header: links must point back at whatever
  // address the client used (the simulator directly, or Prism in front).
  std::string base_url;
  TimePoint now;                   // the tenant's clock when the request arrived
  double provision_seconds = 2.0;  // the tenant's setting at that moment
  int max_per_page = 200;          // lists never give more per page (DigitalOcean: 200)

  // The first value of a query parameter; nullopt when absent.
  std::optional<std::string> query_value(const std::string& name) const {
    auto it = query.find(name);
    if (it == query.end()) return std::nullopt;
    return it->second;
  }
  const std::string& param(const std::string& name) const { return params.at(name); }
};

struct Reply {
  int status = 200;
  std::optional<Json> body;  // nullopt: an empty body (204)
};

class TenantResources;
using Handler = std::function<Reply(const Call&, TenantResources&)>;

struct Route {
  std::string method;
  std::string pattern;                // "/v2/droplets/{id}"
  std::vector<std::string> segments;  // "v2", "droplets", "{id}"
  Handler handler;
};

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);

  // The route for METHOD PATH with its parameters filled in; nullptr when
  // none matches. A literal segment beats a parameter, so
  // "/v2/droplets/actions" would win over "/v2/droplets/{id}".
  const Route* find(std::string_view method, std::string_view path,
                    std::map<std::string, std::string>& params) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace keel::cloudsim

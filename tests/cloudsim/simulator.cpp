#include "tests/cloudsim/simulator.h"

#include <exception>
#include <thread>
#include <utility>

#include "core/log.h"
#include "tests/cloudsim/http_util.h"

namespace keel::cloudsim {

using logging::Level;

Simulator::Simulator(SimulatorOptions options, std::vector<std::unique_ptr<CloudApi>> clouds)
    : options_(std::move(options)), clouds_(std::move(clouds)) {}

void Simulator::install(httplib::Server& server) {
  install_admin(server);
  for (size_t i = 0; i < clouds_.size(); ++i) {
    std::string pattern = std::string(clouds_[i]->path_prefix()) + ".*";
    auto handler = [this, i](const httplib::Request& req, httplib::Response& res) { serve(i, req, res); };
    server.Get(pattern, handler);
    server.Post(pattern, with_optional_body(handler));
    server.Put(pattern, with_optional_body(handler));
    server.Patch(pattern, with_optional_body(handler));
    server.Delete(pattern, handler);
  }
}

std::vector<std::unique_ptr<TenantResources>> Simulator::fresh_resources(const std::string& token) const {
  std::vector<std::unique_ptr<TenantResources>> out;
  for (const auto& cloud : clouds_) out.push_back(cloud->new_tenant(token));
  return out;
}

Tenant& Simulator::tenant(const std::string& token) {
  std::lock_guard lock(tenants_mutex_);
  auto it = tenants_.find(token);
  if (it == tenants_.end()) {
    auto t = std::make_unique<Tenant>(token, options_.defaults, options_.seed, fresh_resources(token));
    it = tenants_.emplace(token, std::move(t)).first;
    logging::event(Level::Info, "new tenant", {{"tenant", token_label(token)}});
  }
  return *it->second;
}

namespace {

Call make_call(const httplib::Request& req, const std::string& public_url) {
  Call call;
  call.method = req.method;
  call.path = req.path;
  call.query = Query(req.params.begin(), req.params.end());
  call.body = req.body;
  call.base_url = public_url.empty() ? base_url(req) : public_url;
  return call;
}

}  // namespace

// One API request: authenticate, count, rate-limit, maybe fault, wait the
// latency, answer.
void Simulator::serve(size_t cloud, const httplib::Request& req, httplib::Response& res) {
  const CloudApi& api = *clouds_[cloud];
  auto token = bearer_token(req);
  // "invalid" is refused so that tests can exercise a bad token.
  if (!token || *token == "invalid") return write_reply(res, api.error(ErrorKind::Unauthorized));

  Tenant& t = tenant(*token);
  Call call = make_call(req, options_.public_url);
  const Route* route = api.router().find(req.method, req.path, call.params);
  Admission admission = t.admit(req.method + " " + (route ? route->pattern : "(unknown route)"), req.method);
  call.provision_seconds = admission.provision_seconds;
  call.max_per_page = admission.max_per_page;
  if (admission.latency_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(admission.latency_ms));

  Reply reply = answer(cloud, t, route, call, admission);
  logging::event(Level::Debug, "request",
                 {{"tenant", token_label(*token)}, {"method", req.method}, {"path", req.path},
                  {"status", reply.status}, {"fault", fault_name(admission.fault)}});
  if (admission.fault == Fault::Reset || admission.fault == Fault::LostResponse) return break_connection(req, res);
  write_reply(res, reply);
  write_rate_limit_headers(res, admission.limits);
}

Reply Simulator::answer(size_t cloud, Tenant& tenant, const Route* route, Call& call, const Admission& admission) {
  const CloudApi& api = *clouds_[cloud];
  if (admission.rate_limited) return api.error(ErrorKind::TooManyRequests);
  switch (admission.fault) {
    case Fault::TooManyRequests: return api.error(ErrorKind::TooManyRequests);
    case Fault::ServerError: return api.error(ErrorKind::ServerError);
    case Fault::ServiceUnavailable: return api.error(ErrorKind::ServiceUnavailable);
    case Fault::Reset: return Reply{};  // nothing is done, and nothing is sent
    case Fault::None:
    case Fault::LostResponse: break;  // the work is done; only the answer is lost
  }
  if (!route) return api.error(ErrorKind::NotFound);
  return run_handler(cloud, tenant, *route, call);
}

Reply Simulator::run_handler(size_t cloud, Tenant& tenant, const Route& route, Call& call) {
  std::lock_guard lock(tenant.resources_mutex());
  // Read the clock under the lock, so that handlers of one tenant see time
  // move forward in the order they run.
  call.now = tenant.clock().now();
  TenantResources& resources = tenant.resources(cloud);
  try {
    resources.settle(call.now);
    return route.handler(call, resources);
  } catch (const std::exception& e) {
    // A bug in the simulator: answer like a cloud's internal error, and say
    // so loudly in the log.
    logging::event(Level::Error, "handler failed", {{"route", route.pattern}, {"error", e.what()}});
    return clouds_[cloud]->error(ErrorKind::ServerError);
  }
}

}  // namespace keel::cloudsim

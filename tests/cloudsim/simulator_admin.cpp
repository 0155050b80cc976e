// The admin API under /_sim/: not part of any cloud's API. The bearer token
// selects the tenant, as for the API itself. Never rate-limited, never
// faulted, never counted. Errors are {"error": "..."}.

#include <cmath>

#include "core/log.h"
#include "tests/cloudsim/http_util.h"
#include "tests/cloudsim/simulator.h"

namespace keel::cloudsim {

namespace {

void admin_error(httplib::Response& res, int status, const std::string& message) {
  write_reply(res, Reply{status, Json{{"error", message}}});
}

// The request body as a JSON object, or an error already written to `res`.
std::optional<Json> object_body(const httplib::Request& req, httplib::Response& res) {
  Json body = Json::parse(req.body.empty() ? std::string("{}") : req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    admin_error(res, 400, "the body must be a JSON object");
    return std::nullopt;
  }
  return body;
}

}  // namespace

void Simulator::install_admin(httplib::Server& server) {
  auto bind = [this](void (Simulator::*method)(const httplib::Request&, httplib::Response&)) {
    return [this, method](const httplib::Request& req, httplib::Response& res) { (this->*method)(req, res); };
  };
  server.Get("/_sim/config", bind(&Simulator::admin_get_config));
  server.Put("/_sim/config", with_optional_body(bind(&Simulator::admin_put_config)));
  server.Get("/_sim/stats", bind(&Simulator::admin_stats));
  server.Post("/_sim/stats/reset", with_optional_body(bind(&Simulator::admin_reset_stats)));
  server.Patch(R"(/_sim/resources/([^/]+)/([^/]+))", with_optional_body(bind(&Simulator::admin_patch_resource)));
  server.Delete(R"(/_sim/resources/([^/]+)/([^/]+))", bind(&Simulator::admin_delete_resource));
  server.Post("/_sim/reset", with_optional_body(bind(&Simulator::admin_reset)));
  server.Post("/_sim/clock/advance", with_optional_body(bind(&Simulator::admin_advance_clock)));
}

Tenant* Simulator::admin_tenant(const httplib::Request& req, httplib::Response& res) {
  auto token = bearer_token(req);
  if (!token) {
    admin_error(res, 401, "send the tenant's token as Authorization: Bearer TOKEN");
    return nullptr;
  }
  return &tenant(*token);
}

void Simulator::admin_get_config(const httplib::Request& req, httplib::Response& res) {
  Tenant* t = admin_tenant(req, res);
  if (!t) return;
  write_reply(res, Reply{200, t->config().to_json()});
}

void Simulator::admin_put_config(const httplib::Request& req, httplib::Response& res) {
  Tenant* t = admin_tenant(req, res);
  if (!t) return;
  auto body = object_body(req, res);
  if (!body) return;
  auto config = t->update_config(*body);
  if (!config) return admin_error(res, 400, config.error());
  logging::event(logging::Level::Info, "tenant config", {{"tenant", token_label(t->token())}, {"config", *body}});
  write_reply(res, Reply{200, config->to_json()});
}

void Simulator::admin_stats(const httplib::Request& req, httplib::Response& res) {
  Tenant* t = admin_tenant(req, res);
  if (!t) return;
  Json stats = t->stats();
  Json resources = Json::object();
  {
    std::lock_guard lock(t->resources_mutex());
    for (size_t i = 0; i < t->cloud_count(); ++i) {
      t->resources(i).settle(t->clock().now());
      resources.update(t->resources(i).resource_counts());
    }
  }
  stats["resources"] = resources;
  write_reply(res, Reply{200, stats});
}

void Simulator::admin_reset_stats(const httplib::Request& req, httplib::Response& res) {
  Tenant* t = admin_tenant(req, res);
  if (!t) return;
  t->reset_counters();
  write_reply(res, Reply{204, std::nullopt});
}

// Tries each cloud in turn: the collection names tell them apart.
void Simulator::admin_patch_resource(const httplib::Request& req, httplib::Response& res) {
  Tenant* t = admin_tenant(req, res);
  if (!t) return;
  Json patch = Json::parse(req.body, nullptr, false);
  if (patch.is_discarded() || !patch.is_object()) return admin_error(res, 400, "the body must be a JSON object");
  std::string problem = "no clouds";
  std::lock_guard lock(t->resources_mutex());
  for (size_t i = 0; i < t->cloud_count(); ++i) {
    t->resources(i).settle(t->clock().now());
    auto patched = t->resources(i).patch_resource(req.matches[1], req.matches[2], patch);
    if (patched) return write_reply(res, Reply{200, *patched});
    problem = patched.error();
  }
  admin_error(res, 404, problem);
}

void Simulator::admin_delete_resource(const httplib::Request& req, httplib::Response& res) {
  Tenant* t = admin_tenant(req, res);
  if (!t) return;
  std::string problem = "no clouds";
  std::lock_guard lock(t->resources_mutex());
  for (size_t i = 0; i < t->cloud_count(); ++i) {
    t->resources(i).settle(t->clock().now());
    auto deleted = t->resources(i).delete_resource(req.matches[1], req.matches[2]);
    if (deleted) return write_reply(res, Reply{204, std::nullopt});
    problem = deleted.error();
  }
  admin_error(res, 404, problem);
}

void Simulator::admin_reset(const httplib::Request& req, httplib::Response& res) {
  Tenant* t = admin_tenant(req, res);
  if (!t) return;
  t->reset(fresh_resources(t->token()));
  write_reply(res, Reply{204, std::nullopt});
}

// {"seconds": N}: moves the tenant's clock forward, so that provisioning
// completes and the rate-limit window slides without waiting.
void Simulator::admin_advance_clock(const httplib::Request& req, httplib::Response& res) {
  Tenant* t = admin_tenant(req, res);
  if (!t) return;
  auto body = object_body(req, res);
  if (!body) return;
  const Json& seconds = (*body)["seconds"];
  if (!seconds.is_number() || seconds.get<double>() < 0)
    return admin_error(res, 400, "seconds must be a number >= 0 (the clock only moves forward)");
  t->clock().advance(std::chrono::milliseconds(std::llround(seconds.get<double>() * 1000)));
  write_reply(res, Reply{200, Json{{"offset_seconds", static_cast<double>(t->clock().offset().count()) / 1000}}});
}

}  // namespace keel::cloudsim

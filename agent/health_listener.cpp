#include "agent/health_listener.h"

#include "agent/api.h"
#include "agent/httpd/server.h"

namespace keel::agent {

namespace {

httpd::Response plain(int status, std::string body) {
  return {.status = status, .content_type = "text/plain; charset=utf-8", .body = std::move(body) + "\n", .headers = {}};
}

bool probe_method(const httpd::Request& request) { return request.method == "GET" || request.method == "HEAD"; }

}  // namespace

HealthListener::HealthListener(const CheckScheduler& scheduler) : scheduler_(scheduler) {}

HealthListener::~HealthListener() { stop(); }

httpd::Response HealthListener::answer(const httpd::Request& request) const {
  if (!probe_method(request)) {
    auto res = plain(405, "method not allowed");
    res.headers.push_back({"Allow", "GET, HEAD"});
    return res;
  }
  const checks::CheckStatus status = aggregate_status(scheduler_.snapshot());
  return plain(health_http_status(status), checks::to_string(status));
}

Status HealthListener::start(const std::string& host, int port) {
  httpd::ServerOptions options;
  options.host = host;
  options.port = port;
  options.limits.max_body = 0;  // a probe has none; anything else is refused unread
  options.limits.max_head = 4 * 1024;
  options.limits.max_headers = 32;
  options.workers = 1;
  options.max_connections = 64;
  options.max_connections_per_peer = 16;
  options.max_queued = 16;
  httpd::ServerHooks hooks;
  hooks.admit = [this](const httpd::Request& head) -> std::optional<httpd::Response> {
    if (probe_method(head)) return std::nullopt;
    return answer(head);
  };
  hooks.handle = [this](const httpd::Request& request) { return answer(request); };
  hooks.express = [](const httpd::Request&) { return true; };
  hooks.log = [](const httpd::Request&, const httpd::Response&) {};  // probes every few seconds: not worth a line
  hooks.dropped = [](httpd::DropReason) {};
  server_ = std::make_unique<httpd::Server>(std::move(options), std::move(hooks));
  if (auto st = server_->start(); !st) {
    server_.reset();
    return fail(st.error().with_context("health_listen"));
  }
  return {};
}

void HealthListener::stop() {
  if (server_) server_->stop();
}

int HealthListener::port() const { return server_ ? server_->port() : 0; }

}  // namespace keel::agent

#include "tests/cloudsim/digitalocean.h"

#include "tests/cloudsim/digitalocean_protocol.h"
#include "tests/cloudsim/digitalocean_routes.h"

namespace keel::cloudsim {

DigitalOcean::DigitalOcean() {
  digitalocean::Routes routes(router_);
  digitalocean::add_droplet_routes(routes);
  digitalocean::add_droplet_action_routes(routes);
  digitalocean::add_action_routes(routes);
  digitalocean::add_database_routes(routes);
  digitalocean::add_load_balancer_routes(routes);
  digitalocean::add_firewall_routes(routes);
  digitalocean::add_volume_routes(routes);
  digitalocean::add_tag_routes(routes);
  digitalocean::add_account_routes(routes);
}

std::unique_ptr<TenantResources> DigitalOcean::new_tenant(const std::string& token) const {
  return std::make_unique<digitalocean::Store>(token);
}

Reply DigitalOcean::error(ErrorKind kind) const {
  using digitalocean::error_reply;
  switch (kind) {
    case ErrorKind::Unauthorized: return error_reply(401, "unauthorized", "Unable to authenticate you.");
    case ErrorKind::NotFound: return digitalocean::not_found();
    case ErrorKind::TooManyRequests: return error_reply(429, "too_many_requests", "API rate limit exceeded.");
    case ErrorKind::ServerError: return error_reply(500, "server_error", "Server Error");
    case ErrorKind::ServiceUnavailable: return error_reply(503, "server_error", "Server Error");
  }
  return error_reply(500, "server_error", "Server Error");
}

}  // namespace keel::cloudsim

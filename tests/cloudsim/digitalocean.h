#pragma once
// The simulated DigitalOcean API v2: droplets and their actions, actions,
// databases, load balancers, firewalls, volumes and their actions, tags,
// regions, sizes, account. The handlers live in one file per resource
// (digitalocean_droplets.cpp, ...); this class only puts them together.

#include "tests/cloudsim/cloud_api.h"

namespace keel::cloudsim {

class DigitalOcean final : public CloudApi {
 public:
  DigitalOcean();

  std::string_view path_prefix() const override { return "/v2/"; }
  const Router& router() const override { return router_; }
  std::unique_ptr<TenantResources> new_tenant(const std::string& token) const override;
  Reply error(ErrorKind kind) const override;

 private:
  Router router_;
};

}  // namespace keel::cloudsim

#pragma once
// Pieces of a Droplet that its creation and its actions both build.

#include <string>

#include "tests/cloudsim/digitalocean_store.h"

namespace keel::cloudsim::digitalocean {

bool has_feature(const Json& droplet, const std::string& feature);
// {start, end} of the next backup window after `now`.
Json next_backup_window(TimePoint now);
// networks: {v4: [public, private], v6: [public] when ipv6}, with fresh addresses.
Json droplet_networks(Store& store, bool ipv6, int64_t id);
// networks.v6 of a Droplet with IPv6 enabled.
Json droplet_ipv6(int64_t id);

}  // namespace keel::cloudsim::digitalocean

#pragma once
// Look-ups across DigitalOcean resources that more than one resource file
// needs: load balancers, firewalls and volumes all point at Droplets.

#include <optional>
#include <string>

#include "tests/cloudsim/digitalocean_store.h"
#include "tests/cloudsim/digitalocean_validation.h"

namespace keel::cloudsim::digitalocean {

// A Droplet by its id as the path carries it ("123"), or as JSON (123);
// nullptr when there is none (or the text is not a number).
Json* find_droplet(Store& store, const std::string& id);
Json* find_droplet(Store& store, const Json& id);

// The region slug of a resource whose region is an object (Droplets,
// volumes, load balancers) or a string (databases).
std::string region_of(const Json& resource);
bool has_tag(const Json& resource, const std::string& tag);

// Every id in `ids` (an array of integers) is a Droplet of this tenant, in
// `region` unless that is empty. The problem names the first that is not.
Problem check_droplets(Store& store, const Json& ids, const std::string& region);

// The ids of the Droplets that carry `tag`, in creation order.
Json droplet_ids_with_tag(Store& store, const std::string& tag);

}  // namespace keel::cloudsim::digitalocean

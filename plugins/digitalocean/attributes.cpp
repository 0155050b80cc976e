#include "plugins/digitalocean/attributes.h"

namespace keel::digitalocean {

std::string region_slug(const json& j) {
  const json& r = field(j, "region");
  if (r.is_string()) return r.get<std::string>();
  return field_string(r, "slug");
}

}  // namespace keel::digitalocean

#pragma once
// The small, fixed catalog the DigitalOcean simulator offers: regions,
// Droplet sizes, images, database sizes and engines. Anything outside it
// is "invalid" the way DigitalOcean says so (422), which lets tests check
// that keel reports a bad slug well.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/cloudsim/router.h"

namespace keel::cloudsim::digitalocean {

struct Region {
  std::string_view slug;
  std::string_view name;
};

struct DropletSize {
  std::string_view slug;
  int memory_mb;
  int vcpus;
  int disk_gb;
  double transfer_tb;
  double price_monthly;
};

struct Image {
  int64_t id;
  std::string_view slug;
  std::string_view name;
  std::string_view distribution;
  int min_disk_size;
  double size_gigabytes;
};

struct Engine {
  std::string_view name;  // pg, mysql, mongodb, redis, valkey
  std::vector<std::string_view> versions;  // oldest first; the last is the default
  int port;
  std::string_view scheme;    // of the connection URI
  std::string_view user;      // the admin user DigitalOcean creates
  std::string_view database;  // the default database ("" where there is none)
};

const std::vector<Region>& regions();
const std::vector<DropletSize>& droplet_sizes();
const std::vector<std::string_view>& database_sizes();

const Region* find_region(std::string_view slug);
const DropletSize* find_droplet_size(std::string_view slug);
// By slug (a string) or by id (an integer), as POST /v2/droplets accepts both.
const Image* find_image(const Json& slug_or_id);
const Engine* find_engine(std::string_view name);
bool is_database_size(std::string_view slug);
// "16" -> "16.6": DigitalOcean reports the patch level as semantic_version.
std::string semantic_version(const Engine& engine, std::string_view version);

// The objects as the API embeds them (droplet.region, droplet.size, ...).
Json region_json(const Region& region);
Json droplet_size_json(const DropletSize& size);
Json image_json(const Image& image);

}  // namespace keel::cloudsim::digitalocean

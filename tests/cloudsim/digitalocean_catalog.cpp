#include "tests/cloudsim/digitalocean_catalog.h"

#include <algorithm>
#include <cmath>

namespace keel::cloudsim::digitalocean {

const std::vector<Region>& regions() {
  static const std::vector<Region> kRegions{
      {"nyc1", "New York 1"}, {"nyc3", "New York 3"}, {"sfo3", "San Francisco 3"}, {"ams3", "Amsterdam 3"},
      {"fra1", "Frankfurt 1"}, {"lon1", "London 1"},  {"sgp1", "Singapore 1"},     {"tor1", "Toronto 1"},
      {"blr1", "Bangalore 1"}, {"syd1", "Sydney 1"},
  };
  return kRegions;
}

const std::vector<DropletSize>& droplet_sizes() {
  // Memory, vCPUs, disk, transfer and price as DigitalOcean lists its Basic
  // plans.
  static const std::vector<DropletSize> kSizes{
      {"s-1vcpu-512mb-10gb", 512, 1, 10, 0.5, 4},  {"s-1vcpu-1gb", 1024, 1, 25, 1, 6},
      {"s-1vcpu-2gb", 2048, 1, 50, 2, 12},         {"s-2vcpu-2gb", 2048, 2, 60, 3, 18},
      {"s-2vcpu-4gb", 4096, 2, 80, 4, 24},         {"s-4vcpu-8gb", 8192, 4, 160, 5, 48},
      {"s-8vcpu-16gb", 16384, 8, 320, 6, 96},
  };
  return kSizes;
}

const std::vector<std::string_view>& database_sizes() {
  static const std::vector<std::string_view> kSizes{"db-s-1vcpu-1gb", "db-s-1vcpu-2gb", "db-s-2vcpu-4gb",
                                                    "db-s-4vcpu-8gb"};
  return kSizes;
}

namespace {

const std::vector<Image>& images() {
  static const std::vector<Image> kImages{
      {161000101, "debian-12-x64", "12 x64", "Debian", 7, 0.98},
      {161000102, "debian-11-x64", "11 x64", "Debian", 7, 0.93},
      {161000103, "ubuntu-22-04-x64", "22.04 (LTS) x64", "Ubuntu", 7, 2.36},
      {161000104, "ubuntu-24-04-x64", "24.04 (LTS) x64", "Ubuntu", 7, 2.74},
  };
  return kImages;
}

const std::vector<Engine>& engines() {
  static const std::vector<Engine> kEngines{
      {"pg", {"13", "14", "15", "16", "17"}, 25060, "postgresql", "doadmin", "defaultdb"},
      {"mysql", {"8"}, 25060, "mysql", "doadmin", "defaultdb"},
      {"mongodb", {"6", "7"}, 27017, "mongodb+srv", "doadmin", "admin"},
      {"redis", {"7"}, 25061, "rediss", "default", ""},
      {"valkey", {"8"}, 25061, "rediss", "default", ""},
  };
  return kEngines;
}

template <typename T>
const T* find_slug(const std::vector<T>& items, std::string_view slug) {
  auto it = std::find_if(items.begin(), items.end(), [&](const T& item) { return item.slug == slug; });
  return it == items.end() ? nullptr : &*it;
}

std::vector<std::string> region_slugs() {
  std::vector<std::string> out;
  for (const auto& r : regions()) out.emplace_back(r.slug);
  return out;
}

}  // namespace

const Region* find_region(std::string_view slug) { return find_slug(regions(), slug); }
const DropletSize* find_droplet_size(std::string_view slug) { return find_slug(droplet_sizes(), slug); }

const Image* find_image(const Json& slug_or_id) {
  if (slug_or_id.is_string()) return find_slug(images(), slug_or_id.get<std::string>());
  if (!slug_or_id.is_number_integer()) return nullptr;
  int64_t id = slug_or_id.get<int64_t>();
  auto it = std::find_if(images().begin(), images().end(), [&](const Image& i) { return i.id == id; });
  return it == images().end() ? nullptr : &*it;
}

const Engine* find_engine(std::string_view name) {
  auto it = std::find_if(engines().begin(), engines().end(), [&](const Engine& e) { return e.name == name; });
  return it == engines().end() ? nullptr : &*it;
}

bool is_database_size(std::string_view slug) {
  return std::find(database_sizes().begin(), database_sizes().end(), slug) != database_sizes().end();
}

std::string semantic_version(const Engine& engine, std::string_view version) {
  static const std::vector<std::pair<std::string_view, std::string_view>> kPatch{
      {"pg13", "13.18"},    {"pg14", "14.15"},      {"pg15", "15.10"},      {"pg16", "16.6"},
      {"pg17", "17.2"},     {"mysql8", "8.0.35"},   {"mongodb6", "6.0.19"}, {"mongodb7", "7.0.15"},
      {"redis7", "7.2.4"},  {"valkey8", "8.0.1"},
  };
  std::string key = std::string(engine.name) + std::string(version);
  for (const auto& [k, v] : kPatch)
    if (k == key) return std::string(v);
  return std::string(version) + ".0";
}

Json region_json(const Region& region) {
  std::vector<std::string> sizes;
  for (const auto& s : droplet_sizes()) sizes.emplace_back(s.slug);
  return Json{{"name", region.name},
              {"slug", region.slug},
              {"features", Json::array({"private_networking", "backups", "ipv6", "metadata", "install_agent",
                                        "storage", "image_transfer"})},
              {"available", true},
              {"sizes", sizes}};
}

Json droplet_size_json(const DropletSize& size) {
  // DigitalOcean bills by the hour up to 672 hours a month.
  double hourly = std::round(size.price_monthly / 672.0 * 1e5) / 1e5;
  return Json{{"slug", size.slug},
              {"memory", size.memory_mb},
              {"vcpus", size.vcpus},
              {"disk", size.disk_gb},
              {"transfer", size.transfer_tb},
              {"price_monthly", size.price_monthly},
              {"price_hourly", hourly},
              {"regions", region_slugs()},
              {"available", true},
              {"description", "Basic"},
              {"disk_info", Json::array({Json{{"type", "local"}, {"size", {{"amount", size.disk_gb}, {"unit", "gib"}}}}})}};
}

Json image_json(const Image& image) {
  return Json{{"id", image.id},
              {"name", image.name},
              {"distribution", image.distribution},
              {"slug", image.slug},
              {"public", true},
              {"regions", region_slugs()},
              {"created_at", "2024-06-01T00:00:00Z"},
              {"type", "base"},
              {"min_disk_size", image.min_disk_size},
              {"size_gigabytes", image.size_gigabytes},
              {"description", std::string(image.distribution) + " " + std::string(image.name)},
              {"tags", Json::array()},
              {"status", "available"}};
}

}  // namespace keel::cloudsim::digitalocean

#include "agent/dr/catalog.h"

#include <algorithm>

#include <fmt/format.h>

namespace keel::dr {
namespace {

using nlohmann::json;

// The manifest's text; Corrupt when it is larger than any manifest.
Result<std::string> read_small(Destination& dest, const std::string& name) {
  auto reader = dest.open(name);
  if (!reader) return fail(reader.error());
  std::string out;
  char buf[8192];
  for (;;) {
    auto n = (*reader)->read(buf, sizeof buf);
    if (!n) return fail(n.error());
    if (*n == 0) return out;
    out.append(buf, *n);
    if (out.size() > kMaxManifestSize)
      return fail(ErrorCode::Corrupt, fmt::format("larger than {} bytes: not a manifest", kMaxManifestSize));
  }
}

bool newer(const Manifest& a, const Manifest& b) {
  if (a.started_at != b.started_at) return a.started_at > b.started_at;
  return a.id > b.id;
}

// Reads and judges one manifest object: the catalog's list it goes to.
Status judge(Destination& dest, const std::string& job, const crypto::Key& key, const std::string& object,
             Catalog& catalog) {
  const std::string prefix = job + "/";
  std::string id = object.substr(prefix.size(), object.size() - prefix.size() - kManifestSuffix.size());
  auto refuse = [&](const std::string& error) {
    catalog.refused.push_back({object, error});
    return Status{};
  };
  if (!valid_backup_id(id)) return refuse("not a backup's manifest name (JOB/ID.manifest.json)");
  auto text = read_small(dest, object);
  if (!text) {
    if (text.error().code() == ErrorCode::NotFound) return {};  // removed meanwhile
    if (text.error().code() == ErrorCode::Corrupt) return refuse(text.error().message());
    return fail(text.error().with_context(object));
  }
  auto manifest = parse_manifest(*text);
  if (!manifest) return refuse(manifest.error().message());
  if (manifest->format == 1) {
    if (manifest->id != id || manifest->job != job)
      return refuse(fmt::format("format 1 manifest of backup {} of job {} under another name", manifest->id, manifest->job));
    catalog.legacy.push_back(std::move(*manifest));
    return {};
  }
  if (auto ok = authenticate_manifest(*manifest, key, job, id); !ok) return refuse(ok.error().message());
  catalog.authenticated.push_back(std::move(*manifest));
  return {};
}

}  // namespace

std::string data_name(const std::string& job, const std::string& id) { return fmt::format("{}/{}{}", job, id, kDataSuffix); }
std::string manifest_name(const std::string& job, const std::string& id) {
  return fmt::format("{}/{}{}", job, id, kManifestSuffix);
}

Result<Catalog> read_catalog(Destination& dest, const std::string& job, const crypto::Key& key) {
  auto objects = dest.list(job + "/");
  if (!objects) return fail(objects.error());
  Catalog catalog;
  for (const auto& object : *objects) {
    if (!object.name.ends_with(kManifestSuffix) || object.name.size() <= job.size() + 1 + kManifestSuffix.size())
      continue;
    if (auto ok = judge(dest, job, key, object.name, catalog); !ok) return fail(ok.error());
  }
  std::sort(catalog.authenticated.begin(), catalog.authenticated.end(), newer);
  std::sort(catalog.legacy.begin(), catalog.legacy.end(), newer);
  return catalog;
}

Result<Manifest> choose_backup(const Catalog& catalog, const std::string& job, const std::string& snapshot,
                               Purpose purpose, const std::string& where) {
  if (snapshot.empty()) {
    if (!catalog.authenticated.empty()) return catalog.authenticated.front();
    if (!catalog.legacy.empty())
      return fail(ErrorCode::NotFound,
                  fmt::format("job {} has only backups of format 1 in {} (written before backups were authenticated): "
                              "{}",
                              job, where,
                              purpose == Purpose::Drill
                                  ? "a drill needs an authenticated backup; run a backup first"
                                  : fmt::format("name one to restore it anyway (--snapshot {})", catalog.legacy.front().id)));
    if (!catalog.refused.empty())
      return fail(ErrorCode::Corrupt, fmt::format("job {} has no backup keel can trust in {}: {}: {}", job, where,
                                                  catalog.refused.front().object, catalog.refused.front().error));
    return fail(ErrorCode::NotFound, fmt::format("job {} has no backups in {}", job, where));
  }
  for (const auto& m : catalog.authenticated)
    if (m.id == snapshot) return m;
  for (const auto& m : catalog.legacy) {
    if (m.id != snapshot) continue;
    if (purpose == Purpose::Drill)
      return fail(ErrorCode::Corrupt, fmt::format("backup {} is of format 1 (not authenticated): a drill needs an "
                                                  "authenticated backup",
                                                  snapshot));
    return m;
  }
  for (const auto& r : catalog.refused)
    if (r.object == manifest_name(job, snapshot))
      return fail(ErrorCode::Corrupt, fmt::format("backup {} is refused: {}", snapshot, r.error));
  std::string newest = !catalog.authenticated.empty() ? catalog.authenticated.front().id : "none";
  return fail(ErrorCode::NotFound, fmt::format("job {} has no backup {} (newest: {})", job, snapshot, newest));
}

json catalog_to_json(const Catalog& catalog) {
  json backups = json::array(), refused = json::array();
  for (const auto* list : {&catalog.authenticated, &catalog.legacy})
    for (const auto& m : *list) {
      json entry = to_json(m);
      entry["authenticated"] = m.format == 2;
      backups.push_back(std::move(entry));
    }
  for (const auto& r : catalog.refused) refused.push_back({{"object", r.object}, {"error", r.error}});
  return json{{"backups", backups}, {"refused", refused}};
}

}  // namespace keel::dr

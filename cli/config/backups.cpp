// What the engine needs of `backups:` beyond loading: the agent's `source`
// of a resource, the stack's key on the servers that run jobs, and the JSON
// Schema of an entry.
#include "cli/config/backups.h"

#include <algorithm>

#include <fmt/format.h>

namespace keel::config {

nlohmann::json resource_source(const std::string& engine, const std::string& address,
                               const provider::KindSchema& schema) {
  // The agent's names are the local provider's attribute names.
  static const std::vector<std::string> postgres = {"host", "port", "user", "password", "database"};
  static const std::vector<std::string> redis = {"host", "port", "password"};
  const auto& keys = engine == "postgres" ? postgres : redis;
  nlohmann::json settings = nlohmann::json::object();
  for (const auto& key : keys)
    if (schema.find(key)) settings[key] = fmt::format("${{{}.{}}}", address, key);
  return {{engine, settings}};
}

bool runs_backups(const Configuration& config) {
  return std::any_of(config.instances.begin(), config.instances.end(), [](const Instance& i) {
    return i.section_attributes.contains(kBackupsAttribute);
  });
}

void attach_backup_key(Configuration& config, const std::string& key_text) {
  for (auto& instance : config.instances)
    if (instance.section_attributes.contains(kBackupsAttribute))
      instance.section_attributes[kBackupKeyAttribute] = key_text;
}

nlohmann::json backup_json_schema() {
  using nlohmann::json;
  const json text = {{"type", "string"}};
  const json count = {{"anyOf", json::array({{{"type", "integer"}, {"minimum", 0}}, text})}};
  auto options = [](json properties) {
    return json{{"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", false}};
  };
  json files = options({{"files", {{"type", "array"}, {"items", text}, {"minItems", 1}}}});
  files["required"] = {"files"};
  json job = options({
      {"source", {{"description", "databases.NAME, caches.NAME or { files: [paths] }"},
                  {"anyOf", json::array({text, files})}}},
      {"runs_on", {{"type", "string"}, {"description", "the server whose agent runs it: servers.NAME or servers.NAME[i]"}}},
      {"schedule", {{"type", "string"}, {"description", "cron: 5 fields or @daily; optional TZ=Zone prefix"}}},
      {"to", {{"type", "string"}, {"description", "file:///dir, s3://bucket/prefix or sftp://user@host[:port]/dir"}}},
      {"s3", options({{"endpoint", text},
                      {"region", text},
                      {"path_style", {{"anyOf", json::array({{{"type", "boolean"}}, text})}}},
                      {"access_key_id", text},
                      {"secret_access_key", text}})},
      {"sftp", options({{"key", text}, {"known_hosts", text}})},
      {"retention", options({{"keep_last", count},
                             {"keep_hourly", count},
                             {"keep_daily", count},
                             {"keep_weekly", count},
                             {"keep_monthly", count}})},
      {"rpo", {{"type", "string"}, {"description", "the newest backup may be this old, like 24h"}}},
      {"drill", options({{"every", text}, {"verify", text}})},
  });
  job["required"] = {"source", "to"};
  job["description"] = "a backup job, run by the agent of its `runs_on` server";
  return job;
}

}  // namespace keel::config

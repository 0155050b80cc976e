#include "cli/deploy/history.h"

#include <fmt/format.h>

#include "core/files.h"
#include "core/time.h"

namespace keel::deploy {

std::string lock_path(const std::string& work_dir, const std::string& app) {
  return fmt::format("{}/deploy-{}.lock", work_dir, app);
}

std::string history_path(const std::string& work_dir, const std::string& app) {
  return fmt::format("{}/deploys/{}.json", work_dir, app);
}

nlohmann::json add_to_history(nlohmann::json record, const RolloutResult& result,
                              std::chrono::system_clock::time_point started,
                              std::chrono::system_clock::time_point finished) {
  using nlohmann::json;
  if (!record.is_object()) record = json::object();
  record["app"] = result.app;
  if (!record.contains("hosts") || !record["hosts"].is_object()) record["hosts"] = json::object();
  if (!record.contains("history") || !record["history"].is_array()) record["history"] = json::array();
  const std::string when = timeutil::rfc3339(finished);
  json hosts = json::object();
  for (const auto& host : result.hosts) {
    hosts[host.address] = to_string(host.outcome);
    if (host.outcome == HostOutcome::Skipped && host.from.empty()) continue;  // never looked at
    json release = host.current.empty() ? json() : json(host.current);
    if (host.outcome == HostOutcome::Unknown) release = nullptr;
    record["hosts"][host.address] = {{"release", release}, {"time", when}};
  }
  json entry = {{"action", to_string(result.action)},
                {"started", timeutil::rfc3339(started)},
                {"finished", when},
                {"outcome", result.ok ? "deployed" : "failed"},
                {"hosts", hosts}};
  if (!result.release.empty()) entry["release"] = result.release;
  if (!result.error.empty()) entry["error"] = result.error;
  auto& history = record["history"];
  history.push_back(std::move(entry));
  while (history.size() > kHistoryLimit) history.erase(history.begin());
  return record;
}

Status record_rollout(const std::string& work_dir, const RolloutResult& result,
                      std::chrono::system_clock::time_point started, std::chrono::system_clock::time_point finished) {
  const std::string path = history_path(work_dir, result.app);
  nlohmann::json record;
  // Through no link under .keel: keel would write where the link points.
  if (auto s = files::check_private_dir(work_dir); !s) return fail(s.error());
  if (auto s = files::make_dirs_inside(work_dir, files::dirname(path), 0755); !s) return fail(s.error());
  if (files::exists_no_follow(path)) {
    auto text = files::read_regular_file(path, size_t{16} << 20);
    if (!text) return fail(text.error());
    record = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded()) record = nullptr;  // started over rather than blocking every deploy
  }
  record = add_to_history(std::move(record), result, started, finished);
  return files::write_atomic(path, record.dump(2) + "\n", 0644);
}

}  // namespace keel::deploy

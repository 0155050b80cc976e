#pragma once
// One run of a backup job (a backup, restore, drill or prune done by a
// keel-dr worker), in memory, in the API and in the history file:
//
//   {"id": "20261127T030000123Z-4f1a2b", "job": "app-db", "kind": "backup",
//    "status": "running|succeeded|failed", "started": RFC3339, "finished": RFC3339 or null,
//    "duration_seconds": 12.3, "bytes_read": N, "bytes_stored": M,
//    "snapshot": ID or null, "error": "..." or null, "result": {...the worker's result...}}
//
// Ids start with the start time (UTC, milliseconds) and end with random
// hex: unique, safe in a URL, and sorting them sorts runs by start.

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace keel::agent {

enum class RunKind { Backup, Restore, Drill, Prune };
enum class RunStatus { Running, Succeeded, Failed };

const char* to_string(RunKind kind);      // "backup", "restore", "drill", "prune"
const char* to_string(RunStatus status);  // "running", "succeeded", "failed"
std::optional<RunKind> run_kind_from_string(std::string_view text);
inline constexpr RunKind kRunKinds[] = {RunKind::Backup, RunKind::Restore, RunKind::Drill, RunKind::Prune};

struct Run {
  using TimePoint = std::chrono::system_clock::time_point;

  std::string id, job;
  RunKind kind = RunKind::Backup;
  RunStatus status = RunStatus::Running;
  TimePoint started;
  std::optional<TimePoint> finished;
  long long bytes_read = 0, bytes_stored = 0;
  std::optional<std::string> snapshot;
  std::optional<std::string> error;
  nlohmann::json result = nlohmann::json::object();

  bool succeeded() const { return status == RunStatus::Succeeded; }
  // Start to finish; while running, start to `now`.
  double duration_seconds(TimePoint now = std::chrono::system_clock::now()) const;
};

nlohmann::json to_json(const Run& run);
Result<Run> run_from_json(const nlohmann::json& json);

std::string new_run_id(Run::TimePoint started);

}  // namespace keel::agent

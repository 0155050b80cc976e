#include "agent/jobs/run.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

#include <fmt/format.h>

#include "core/crypto.h"
#include "core/time.h"

namespace keel::agent {

namespace {

using Json = nlohmann::json;

Json optional_string(const std::optional<std::string>& value) { return value ? Json(*value) : Json(nullptr); }

std::optional<std::string> string_or_null(const Json& json, const char* key) {
  auto it = json.find(key);
  if (it == json.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

const char* to_string(RunKind kind) {
  switch (kind) {
    case RunKind::Backup: return "backup";
    case RunKind::Restore: return "restore";
    case RunKind::Drill: return "drill";
    case RunKind::Prune: return "prune";
  }
  return "?";
}

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::Running: return "running";
    case RunStatus::Succeeded: return "succeeded";
    case RunStatus::Failed: return "failed";
  }
  return "?";
}

std::optional<RunKind> run_kind_from_string(std::string_view text) {
  for (RunKind kind : kRunKinds)
    if (text == to_string(kind)) return kind;
  return std::nullopt;
}

double Run::duration_seconds(TimePoint now) const {
  return std::max(0.0, std::chrono::duration<double>(finished.value_or(now) - started).count());
}

Json to_json(const Run& run) {
  // Milliseconds, as the times are written.
  const double duration = std::round(run.duration_seconds() * 1000) / 1000;
  return Json{{"id", run.id},
              {"job", run.job},
              {"kind", to_string(run.kind)},
              {"status", to_string(run.status)},
              {"started", timeutil::rfc3339(run.started)},
              {"finished", run.finished ? Json(timeutil::rfc3339(*run.finished)) : Json(nullptr)},
              {"duration_seconds", duration},
              {"bytes_read", run.bytes_read},
              {"bytes_stored", run.bytes_stored},
              {"snapshot", optional_string(run.snapshot)},
              {"error", optional_string(run.error)},
              {"result", run.result}};
}

Result<Run> run_from_json(const Json& json) {
  if (!json.is_object()) return fail(ErrorCode::Corrupt, "a run must be a JSON object");
  Run run;
  auto id = string_or_null(json, "id");
  auto job = string_or_null(json, "job");
  auto kind = run_kind_from_string(string_or_null(json, "kind").value_or(""));
  auto status = string_or_null(json, "status").value_or("");
  if (!id || id->empty() || !job || !kind) return fail(ErrorCode::Corrupt, "a run needs `id`, `job` and `kind`");
  run.id = *id;
  run.job = *job;
  run.kind = *kind;
  if (status == "succeeded") run.status = RunStatus::Succeeded;
  else if (status == "failed") run.status = RunStatus::Failed;
  else return fail(ErrorCode::Corrupt, fmt::format("run {}: `status` must be succeeded or failed", run.id));
  auto started = timeutil::parse_rfc3339(string_or_null(json, "started").value_or(""));
  auto finished = timeutil::parse_rfc3339(string_or_null(json, "finished").value_or(""));
  if (!started || !finished) return fail(ErrorCode::Corrupt, fmt::format("run {}: bad `started` or `finished`", run.id));
  run.started = *started;
  run.finished = *finished;
  run.bytes_read = json.value("bytes_read", 0LL);
  run.bytes_stored = json.value("bytes_stored", 0LL);
  run.snapshot = string_or_null(json, "snapshot");
  run.error = string_or_null(json, "error");
  if (auto it = json.find("result"); it != json.end() && it->is_object()) run.result = *it;
  return run;
}

std::string new_run_id(Run::TimePoint started) {
  std::string stamp = timeutil::rfc3339(started);  // 2026-11-27T18:13:55.123Z
  stamp.erase(std::remove_if(stamp.begin(), stamp.end(), [](char c) { return c == '-' || c == ':' || c == '.'; }),
              stamp.end());
  return fmt::format("{}-{}", stamp, crypto::hex_encode(crypto::random_bytes(3)));
}


}  // namespace keel::agent

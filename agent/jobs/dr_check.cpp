#include "agent/jobs/dr_check.h"

#include <fmt/format.h>

#include "core/time.h"

namespace keel::agent {

namespace {

using checks::CheckStatus;
using std::chrono::milliseconds;

constexpr size_t kErrorInOutput = 200;

milliseconds since(Run::TimePoint then, Run::TimePoint now) {
  return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(now - then));
}

struct Verdict {
  CheckStatus status = CheckStatus::Passing;
  std::string text;
};

Verdict judge_backups(const BackupJob& job, const DrFacts& f) {
  const auto& good = f.last_good_backup;
  const milliseconds age = since(good ? good->started : f.watched_since, f.now);
  std::string text = good ? fmt::format("newest backup {} old", age_text(age)) : "no successful backup yet";
  if (!job.rpo) return {CheckStatus::Passing, text};
  CheckStatus status = CheckStatus::Passing;
  if (age > 2 * *job.rpo) status = CheckStatus::Critical;
  else if (age > *job.rpo) status = CheckStatus::Warning;
  if (good) text += fmt::format(" (rpo {})", timeutil::format_duration(*job.rpo));
  else text += fmt::format(" (watched for {}, rpo {})", age_text(age), timeutil::format_duration(*job.rpo));
  if (status == CheckStatus::Critical) text += ": past twice the rpo";
  else if (status == CheckStatus::Warning) text += ": past the rpo";
  return {status, text};
}

bool verify_failed(const BackupJob& job, const Run& drill) {
  const bool has_query = job.definition.contains("drill") && job.definition["drill"].contains("verify");
  auto it = drill.result.find("verified");
  return has_query && it != drill.result.end() && it->is_boolean() && !it->get<bool>();
}

Verdict judge_drills(const BackupJob& job, const DrFacts& f) {
  const auto& drill = f.last_drill;
  if (drill && !drill->succeeded())
    return {CheckStatus::Warning,
            fmt::format("last drill failed {} ago: {}", age_text(since(drill->started, f.now)),
                        truncate_output(drill->error.value_or("no error given"), kErrorInOutput))};
  if (drill && verify_failed(job, *drill))
    return {CheckStatus::Warning,
            fmt::format("last drill {} ago restored but did not verify", age_text(since(drill->started, f.now)))};
  std::optional<Run::TimePoint> clock = drill ? std::optional(drill->started) : f.drill_anchor;
  std::string text = drill ? fmt::format("last drill {} ago succeeded", age_text(since(drill->started, f.now)))
                           : "no drill yet";
  if (!job.drill_every) return {CheckStatus::Passing, text};
  const auto every = *job.drill_every;
  if (clock && since(*clock, f.now) > 2 * every)
    return {CheckStatus::Warning, fmt::format("{}: overdue (every {})", text, timeutil::format_duration(every))};
  return {CheckStatus::Passing, fmt::format("{} (every {})", text, timeutil::format_duration(every))};
}

}  // namespace

std::string age_text(milliseconds age) {
  if (age < std::chrono::minutes(1)) return timeutil::format_duration(std::chrono::duration_cast<std::chrono::seconds>(age));
  return timeutil::format_duration(std::chrono::duration_cast<std::chrono::minutes>(age));
}

CheckResult evaluate_dr(const BackupJob& job, const DrFacts& facts) {
  Verdict backups = judge_backups(job, facts);
  if (!job.rpo && !job.drill)
    return {CheckStatus::Passing, fmt::format("no rpo and no drill configured; {}", backups.text)};
  if (!job.drill) return {backups.status, backups.text};
  Verdict drills = judge_drills(job, facts);
  return {checks::worst(backups.status, drills.status), fmt::format("{}; {}", backups.text, drills.text)};
}

}  // namespace keel::agent

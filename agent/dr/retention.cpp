#include "agent/dr/retention.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include <date/date.h>
#include <date/iso_week.h>
#include <date/tz.h>
#include <fmt/format.h>

#include "core/cron.h"

namespace keel::dr {

namespace {

// The calendar fields of a snapshot's time in the chosen zone.
struct LocalTime {
  int year = 0;
  unsigned month = 0, day = 0, hour = 0;
  int iso_year = 0;
  unsigned iso_week = 0;
};

LocalTime local_fields(const date::time_zone& zone, std::chrono::system_clock::time_point when) {
  auto local = zone.to_local(std::chrono::floor<std::chrono::seconds>(when));
  auto day = std::chrono::floor<date::days>(local);
  date::year_month_day ymd{day};
  iso_week::year_weeknum_weekday week{day};
  LocalTime out;
  out.year = static_cast<int>(ymd.year());
  out.month = static_cast<unsigned>(ymd.month());
  out.day = static_cast<unsigned>(ymd.day());
  out.hour = static_cast<unsigned>(std::chrono::floor<std::chrono::hours>(local - day).count());
  out.iso_year = static_cast<int>(week.year());
  out.iso_week = static_cast<unsigned>(week.weeknum());
  return out;
}

// Bucket numbers exactly as restic forms them (YYYYMMDDHH, YYYYWW, ...);
// keep-last puts every snapshot in a bucket of its own (its position).
using Bucket = std::int64_t;
using BucketOf = Bucket (*)(const LocalTime&, size_t position);

Bucket each_snapshot(const LocalTime&, size_t position) { return static_cast<Bucket>(position); }
Bucket hour_of(const LocalTime& t, size_t) { return Bucket{t.year} * 1000000 + t.month * 10000 + t.day * 100 + t.hour; }
Bucket day_of(const LocalTime& t, size_t) { return Bucket{t.year} * 10000 + t.month * 100 + t.day; }
Bucket week_of(const LocalTime& t, size_t) { return Bucket{t.iso_year} * 100 + t.iso_week; }
Bucket month_of(const LocalTime& t, size_t) { return Bucket{t.year} * 100 + t.month; }
Bucket year_of(const LocalTime& t, size_t) { return t.year; }

// One --keep-* rule while the snapshots are walked.
struct Rule {
  int count;  // left to keep; -1 unlimited
  BucketOf bucket_of;
  std::string_view reason;
  std::string_view option;  // for error messages
  Bucket last_kept = -1;
};

std::array<Rule, 6> rules_of(const RetentionPolicy& policy) {
  return {{
      {policy.keep_last, each_snapshot, "last snapshot", "keep_last"},
      {policy.keep_hourly, hour_of, "hourly snapshot", "keep_hourly"},
      {policy.keep_daily, day_of, "daily snapshot", "keep_daily"},
      {policy.keep_weekly, week_of, "weekly snapshot", "keep_weekly"},
      {policy.keep_monthly, month_of, "monthly snapshot", "keep_monthly"},
      {policy.keep_yearly, year_of, "yearly snapshot", "keep_yearly"},
  }};
}

void sort_newest_first(std::vector<SnapshotRef>& snapshots) {
  std::stable_sort(snapshots.begin(), snapshots.end(),
                   [](const SnapshotRef& a, const SnapshotRef& b) { return a.time > b.time; });
}

// Applies every rule to the snapshot at `position` (newest first) and
// records why it is kept.
void decide(RetentionDecision& decision, const LocalTime& when, size_t position, bool is_oldest, bool keep_oldest,
            std::array<Rule, 6>& rules) {
  for (Rule& rule : rules) {
    if (rule.count == 0) continue;  // off, or used up
    Bucket bucket = rule.bucket_of(when, position);
    bool new_bucket = bucket != rule.last_kept;
    if (!new_bucket && !(keep_oldest && is_oldest)) continue;
    decision.keep = true;
    decision.reasons.push_back(new_bucket ? std::string(rule.reason) : fmt::format("oldest {}", rule.reason));
    rule.last_kept = bucket;
    if (rule.count > 0) --rule.count;
  }
}

}  // namespace

bool RetentionPolicy::empty() const {
  return keep_last == 0 && keep_hourly == 0 && keep_daily == 0 && keep_weekly == 0 && keep_monthly == 0 &&
         keep_yearly == 0;
}

Status RetentionPolicy::validate() const {
  for (const Rule& rule : rules_of(*this))
    if (rule.count < kUnlimited)
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("retention `{}`: {} is not a count; use a number >= 0, or -1 for unlimited",
                              rule.option, rule.count));
  return {};
}

Result<std::vector<RetentionDecision>> apply_retention(std::vector<SnapshotRef> snapshots,
                                                       const RetentionPolicy& policy, const std::string& time_zone) {
  if (auto valid = policy.validate(); !valid) return std::unexpected(valid.error());
  auto zone = cron::find_time_zone(time_zone);
  if (!zone) return std::unexpected(zone.error().with_context("retention"));
  sort_newest_first(snapshots);

  std::vector<RetentionDecision> decisions;
  decisions.reserve(snapshots.size());
  auto rules = rules_of(policy);
  for (size_t position = 0; position < snapshots.size(); ++position) {
    RetentionDecision decision;
    decision.snapshot = std::move(snapshots[position]);
    if (policy.empty()) {
      decision.keep = true;
      decision.reasons.push_back("policy is empty");
    } else {
      bool is_oldest = position + 1 == snapshots.size();
      decide(decision, local_fields(**zone, decision.snapshot.time), position, is_oldest, policy.keep_oldest, rules);
    }
    decisions.push_back(std::move(decision));
  }
  return decisions;
}

}  // namespace keel::dr

#include <catch2/catch.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <date/date.h>

#include "agent/dr/retention.h"

using namespace keel;
using dr::RetentionPolicy;
using Strings = std::vector<std::string>;

namespace {

// "2024-05-01 10:20:30" or "2014-08-13 10:20:30.100" (UTC) -> time_point.
std::chrono::system_clock::time_point utc(const std::string& text) {
  int year = 0, hour = 0, minute = 0, second = 0, millis = 0;
  unsigned month = 0, day = 0;
  int fields = std::sscanf(text.c_str(), "%d-%u-%u %d:%d:%d.%d", &year, &month, &day, &hour, &minute, &second, &millis);
  REQUIRE(fields >= 6);
  return date::sys_days{date::year{year} / month / day} + std::chrono::hours{hour} + std::chrono::minutes{minute} +
         std::chrono::seconds{second} + std::chrono::milliseconds{millis};
}

// Snapshots whose ids are their UTC times, so that results read as times.
std::vector<dr::SnapshotRef> snapshots_at(const Strings& times) {
  std::vector<dr::SnapshotRef> out;
  for (const auto& time : times) out.push_back({time, utc(time)});
  return out;
}

std::vector<dr::RetentionDecision> decide(const Strings& times, const RetentionPolicy& policy,
                                          const std::string& zone = "UTC") {
  auto decisions = dr::apply_retention(snapshots_at(times), policy, zone);
  if (!decisions) FAIL(decisions.error().message());
  REQUIRE(decisions->size() == times.size());
  return *decisions;
}

Strings kept(const std::vector<dr::RetentionDecision>& decisions) {
  Strings out;
  for (const auto& d : decisions)
    if (d.keep) out.push_back(d.snapshot.id);
  return out;
}

Strings kept(const Strings& times, const RetentionPolicy& policy, const std::string& zone = "UTC") {
  return kept(decide(times, policy, zone));
}

// id -> reasons, for the kept snapshots.
std::map<std::string, Strings> reasons(const std::vector<dr::RetentionDecision>& decisions) {
  std::map<std::string, Strings> out;
  for (const auto& d : decisions)
    if (d.keep) out[d.snapshot.id] = d.reasons;
  return out;
}

RetentionPolicy restic_0_14(RetentionPolicy policy) {
  policy.keep_oldest = false;
  return policy;
}

// The snapshot times of restic's TestApplyPolicy
// (internal/restic/snapshot_policy_test.go), in restic's (unsorted) order,
// fractional seconds included; tags dropped (tag rules are not ours).
const Strings kResticTestTimes = {
    "2014-09-01 10:20:30", "2014-09-02 10:20:30", "2014-09-05 10:20:30", "2014-09-06 10:20:30",
    "2014-09-08 10:20:30", "2014-09-09 10:20:30", "2014-09-10 10:20:30", "2014-09-11 10:20:30",
    "2014-09-20 10:20:30", "2014-09-22 10:20:30", "2014-08-08 10:20:30", "2014-08-10 10:20:30",
    "2014-08-12 10:20:30", "2014-08-13 10:20:30", "2014-08-13 10:20:30.100", "2014-08-15 10:20:30",
    "2014-08-18 10:20:30", "2014-08-20 10:20:30", "2014-08-21 10:20:30", "2014-08-22 10:20:30",
    "2014-10-01 10:20:30", "2014-10-02 10:20:30", "2014-10-05 10:20:30", "2014-10-06 10:20:30",
    "2014-10-08 10:20:30", "2014-10-09 10:20:30", "2014-10-10 10:20:30", "2014-10-11 10:20:30",
    "2014-10-20 10:20:30", "2014-10-22 10:20:30", "2014-11-08 10:20:30", "2014-11-10 10:20:30",
    "2014-11-12 10:20:30", "2014-11-13 10:20:30", "2014-11-13 10:20:30.100", "2014-11-15 10:20:30",
    "2014-11-18 10:20:30", "2014-11-20 10:20:30", "2014-11-21 10:20:30", "2014-11-22 10:20:30",
    "2015-09-01 10:20:30", "2015-09-02 10:20:30", "2015-09-05 10:20:30", "2015-09-06 10:20:30",
    "2015-09-08 10:20:30", "2015-09-09 10:20:30", "2015-09-10 10:20:30", "2015-09-11 10:20:30",
    "2015-09-20 10:20:30", "2015-09-22 10:20:30", "2015-08-08 10:20:30", "2015-08-10 10:20:30",
    "2015-08-12 10:20:30", "2015-08-13 10:20:30", "2015-08-13 10:20:30.100", "2015-08-15 10:20:30",
    "2015-08-18 10:20:30", "2015-08-20 10:20:30", "2015-08-21 10:20:30", "2015-08-22 10:20:30",
    "2015-10-01 10:20:30", "2015-10-02 10:20:30", "2015-10-05 10:20:30", "2015-10-06 10:20:30",
    "2015-10-08 10:20:30", "2015-10-09 10:20:30", "2015-10-10 10:20:30", "2015-10-11 10:20:30",
    "2015-10-20 10:20:30", "2015-10-22 10:20:30", "2015-11-08 10:20:30", "2015-11-10 10:20:30",
    "2015-11-12 10:20:30", "2015-11-13 10:20:30", "2015-11-13 10:20:30.100", "2015-11-15 10:20:30",
    "2015-11-18 10:20:30", "2015-11-20 10:20:30", "2015-11-21 10:20:30", "2015-11-22 10:20:30",
    "2016-01-01 01:02:03", "2016-01-01 01:03:03", "2016-01-01 07:08:03", "2016-01-03 07:02:03",
    "2016-01-04 10:23:03", "2016-01-04 11:23:03", "2016-01-04 12:23:03", "2016-01-04 12:24:03",
    "2016-01-04 12:28:03", "2016-01-04 12:30:03", "2016-01-04 16:23:03", "2016-01-05 09:02:03",
    "2016-01-06 08:02:03", "2016-01-07 10:02:03", "2016-01-08 20:02:03", "2016-01-09 21:02:03",
    "2016-01-12 21:02:03", "2016-01-12 21:08:03", "2016-01-18 12:02:03",
};

}  // namespace

TEST_CASE("retention reproduces restic's golden files (restic <= 0.15 semantics)", "[retention]") {
  SECTION("policy_keep_snapshots_9: --keep-last 5 --keep-daily 5") {
    RetentionPolicy policy;
    policy.keep_last = 5;
    policy.keep_daily = 5;
    auto decisions = decide(kResticTestTimes, restic_0_14(policy));
    CHECK(kept(decisions) == Strings{"2016-01-18 12:02:03", "2016-01-12 21:08:03", "2016-01-12 21:02:03",
                                     "2016-01-09 21:02:03", "2016-01-08 20:02:03", "2016-01-07 10:02:03"});
    auto why = reasons(decisions);
    CHECK(why["2016-01-18 12:02:03"] == Strings{"last snapshot", "daily snapshot"});
    CHECK(why["2016-01-12 21:02:03"] == Strings{"last snapshot"});
    CHECK(why["2016-01-08 20:02:03"] == Strings{"last snapshot", "daily snapshot"});
    CHECK(why["2016-01-07 10:02:03"] == Strings{"daily snapshot"});
  }
  SECTION("policy_keep_snapshots_13: --keep-daily 3 --keep-weekly 4 (ISO weeks across the year end)") {
    RetentionPolicy policy;
    policy.keep_daily = 3;
    policy.keep_weekly = 4;
    auto decisions = decide(kResticTestTimes, restic_0_14(policy));
    CHECK(kept(decisions) ==
          Strings{"2016-01-18 12:02:03", "2016-01-12 21:08:03", "2016-01-09 21:02:03", "2016-01-03 07:02:03"});
    auto why = reasons(decisions);
    CHECK(why["2016-01-09 21:02:03"] == Strings{"daily snapshot", "weekly snapshot"});
    // Sunday 2016-01-03 is in ISO week 2015-W53, a week of its own.
    CHECK(why["2016-01-03 07:02:03"] == Strings{"weekly snapshot"});
  }
  SECTION("policy_keep_snapshots_16: --keep-yearly 10") {
    RetentionPolicy policy;
    policy.keep_yearly = 10;
    CHECK(kept(kResticTestTimes, restic_0_14(policy)) ==
          Strings{"2016-01-18 12:02:03", "2015-11-22 10:20:30", "2014-11-22 10:20:30"});
  }
  SECTION("policy_keep_snapshots_17: --keep-daily 7 --keep-weekly 2 --keep-monthly 3 --keep-yearly 10") {
    RetentionPolicy policy;
    policy.keep_daily = 7;
    policy.keep_weekly = 2;
    policy.keep_monthly = 3;
    policy.keep_yearly = 10;
    auto decisions = decide(kResticTestTimes, restic_0_14(policy));
    CHECK(kept(decisions) == Strings{"2016-01-18 12:02:03", "2016-01-12 21:08:03", "2016-01-09 21:02:03",
                                     "2016-01-08 20:02:03", "2016-01-07 10:02:03", "2016-01-06 08:02:03",
                                     "2016-01-05 09:02:03", "2015-11-22 10:20:30", "2015-10-22 10:20:30",
                                     "2014-11-22 10:20:30"});
    auto why = reasons(decisions);
    CHECK(why["2016-01-18 12:02:03"] ==
          Strings{"daily snapshot", "weekly snapshot", "monthly snapshot", "yearly snapshot"});
    CHECK(why["2016-01-12 21:08:03"] == Strings{"daily snapshot", "weekly snapshot"});
    CHECK(why["2015-11-22 10:20:30"] == Strings{"monthly snapshot", "yearly snapshot"});
    CHECK(why["2015-10-22 10:20:30"] == Strings{"monthly snapshot"});
    CHECK(why["2014-11-22 10:20:30"] == Strings{"yearly snapshot"});
  }
}

TEST_CASE("retention keeps the oldest snapshot while a rule has count left (restic >= 0.16)", "[retention]") {
  RetentionPolicy yearly;
  yearly.keep_yearly = 10;
  auto decisions = decide(kResticTestTimes, yearly);
  CHECK(kept(decisions) ==
        Strings{"2016-01-18 12:02:03", "2015-11-22 10:20:30", "2014-11-22 10:20:30", "2014-08-08 10:20:30"});
  CHECK(reasons(decisions)["2014-08-08 10:20:30"] == Strings{"oldest yearly snapshot"});

  RetentionPolicy combined;
  combined.keep_daily = 7;
  combined.keep_weekly = 2;
  combined.keep_monthly = 3;
  combined.keep_yearly = 10;
  auto combined_kept = kept(kResticTestTimes, combined);
  REQUIRE(combined_kept.size() == 11);
  CHECK(combined_kept.back() == "2014-08-08 10:20:30");

  // Counts used up before the oldest: nothing extra.
  RetentionPolicy used_up;
  used_up.keep_daily = 3;
  used_up.keep_weekly = 4;
  CHECK(kept(kResticTestTimes, used_up).size() == 4);

  // The oldest is kept with a plain reason when it opens a new bucket anyway.
  RetentionPolicy daily;
  daily.keep_daily = 10;
  auto young = decide({"2024-05-03 10:00:00", "2024-05-02 10:00:00", "2024-05-01 10:00:00"}, daily);
  CHECK(reasons(young)["2024-05-01 10:00:00"] == Strings{"daily snapshot"});
}

TEST_CASE("retention matches restic's documented example", "[retention]") {
  // doc/060_forget.rst: one backup every Sunday for 12 weeks, --keep-daily 4
  // keeps the last four.
  const Strings sundays = {"2019-09-01 11:00:00", "2019-09-08 11:00:00", "2019-09-15 11:00:00", "2019-09-22 11:00:00",
                           "2019-09-29 11:00:00", "2019-10-06 11:00:00", "2019-10-13 11:00:00", "2019-10-20 11:00:00",
                           "2019-10-27 11:00:00", "2019-11-03 11:00:00", "2019-11-10 11:00:00", "2019-11-17 11:00:00"};
  RetentionPolicy policy;
  policy.keep_daily = 4;
  auto decisions = decide(sundays, policy);
  CHECK(kept(decisions) ==
        Strings{"2019-11-17 11:00:00", "2019-11-10 11:00:00", "2019-11-03 11:00:00", "2019-10-27 11:00:00"});
  for (const auto& d : decisions) {
    if (d.keep) CHECK(d.reasons == Strings{"daily snapshot"});
    if (!d.keep) CHECK(d.reasons.empty());
  }
  // Newest first, all of them.
  CHECK(decisions.front().snapshot.id == "2019-11-17 11:00:00");
  CHECK(decisions.back().snapshot.id == "2019-09-01 11:00:00");
}

TEST_CASE("retention: each rule alone", "[retention]") {
  SECTION("keep_last keeps the n newest, whatever their times") {
    RetentionPolicy policy;
    policy.keep_last = 3;
    CHECK(kept({"2024-01-01 00:00:00", "2024-01-01 00:00:01", "2024-01-01 00:00:02", "2024-01-01 00:00:03"},
               restic_0_14(policy)) == Strings{"2024-01-01 00:00:03", "2024-01-01 00:00:02", "2024-01-01 00:00:01"});
  }
  SECTION("keep_hourly keeps the newest of each hour") {
    RetentionPolicy policy;
    policy.keep_hourly = 3;
    const Strings times = {"2024-05-01 10:05:00", "2024-05-01 10:55:00", "2024-05-01 11:00:00",
                           "2024-05-01 11:59:59", "2024-05-01 13:30:00", "2024-05-02 13:10:00"};
    CHECK(kept(times, restic_0_14(policy)) ==
          Strings{"2024-05-02 13:10:00", "2024-05-01 13:30:00", "2024-05-01 11:59:59"});
  }
  SECTION("keep_daily counts days that have snapshots, not calendar days") {
    RetentionPolicy policy;
    policy.keep_daily = 2;
    CHECK(kept({"2024-05-01 23:59:59", "2024-05-01 08:00:00", "2024-04-20 12:00:00", "2024-04-20 13:00:00"},
               restic_0_14(policy)) == Strings{"2024-05-01 23:59:59", "2024-04-20 13:00:00"});
  }
  SECTION("keep_weekly uses ISO weeks, Monday to Sunday, ISO years") {
    RetentionPolicy policy;
    policy.keep_weekly = 3;
    // Thu 2020-12-31 and Sun 2021-01-03 are both in 2020-W53; Mon 2021-01-04 starts 2021-W01.
    const Strings times = {"2020-12-27 12:00:00", "2020-12-31 12:00:00", "2021-01-03 12:00:00",
                           "2021-01-04 00:00:00", "2021-01-10 23:59:00"};
    CHECK(kept(times, restic_0_14(policy)) ==
          Strings{"2021-01-10 23:59:00", "2021-01-03 12:00:00", "2020-12-27 12:00:00"});
  }
  SECTION("keep_monthly keeps the newest of each month") {
    RetentionPolicy policy;
    policy.keep_monthly = 2;
    CHECK(kept({"2024-01-31 23:00:00", "2024-02-01 00:00:00", "2024-02-29 12:00:00", "2024-03-01 00:00:00"},
               restic_0_14(policy)) == Strings{"2024-03-01 00:00:00", "2024-02-29 12:00:00"});
  }
  SECTION("keep_yearly keeps the newest of each year") {
    RetentionPolicy policy;
    policy.keep_yearly = 2;
    CHECK(kept({"2022-06-01 00:00:00", "2023-12-31 23:59:59", "2023-01-01 00:00:00", "2024-01-01 00:00:00"},
               restic_0_14(policy)) == Strings{"2024-01-01 00:00:00", "2023-12-31 23:59:59"});
  }
}

TEST_CASE("retention: rules combine, and a snapshot kept by several uses a count of each", "[retention]") {
  // Daily snapshots for 40 days; --keep-daily 7 --keep-weekly 4 --keep-monthly 2.
  Strings times;
  for (int day = 0; day < 40; ++day)
    times.push_back(date::format("%F 03:00:00", date::sys_days{date::year{2024} / 1 / 1} + date::days{day}));
  RetentionPolicy policy;
  policy.keep_daily = 7;
  policy.keep_weekly = 4;
  policy.keep_monthly = 2;
  auto decisions = decide(times, restic_0_14(policy));
  // Feb 3..9 daily (Fri 9th back to Sat 3rd); weekly: Fri Feb 9 (W06, also
  // daily), Sun Feb 4 (W05, also daily), Sun Jan 28 (W04), Sun Jan 21 (W03);
  // monthly: Feb 9 and Jan 31.
  CHECK(kept(decisions) == Strings{"2024-02-09 03:00:00", "2024-02-08 03:00:00", "2024-02-07 03:00:00",
                                   "2024-02-06 03:00:00", "2024-02-05 03:00:00", "2024-02-04 03:00:00",
                                   "2024-02-03 03:00:00", "2024-01-31 03:00:00", "2024-01-28 03:00:00",
                                   "2024-01-21 03:00:00"});
  auto why = reasons(decisions);
  CHECK(why["2024-02-09 03:00:00"] == Strings{"daily snapshot", "weekly snapshot", "monthly snapshot"});
  CHECK(why["2024-02-04 03:00:00"] == Strings{"daily snapshot", "weekly snapshot"});
  CHECK(why["2024-01-31 03:00:00"] == Strings{"monthly snapshot"});
  CHECK(why["2024-01-28 03:00:00"] == Strings{"weekly snapshot"});
}

TEST_CASE("retention: -1 is unlimited", "[retention]") {
  const Strings times = {"2024-05-03 18:00:00", "2024-05-03 09:00:00", "2024-05-02 09:00:00",
                         "2024-05-01 20:00:00", "2024-05-01 08:00:00"};
  RetentionPolicy daily;
  daily.keep_daily = dr::kUnlimited;
  CHECK(kept(times, restic_0_14(daily)) ==
        Strings{"2024-05-03 18:00:00", "2024-05-02 09:00:00", "2024-05-01 20:00:00"});
  // An unlimited rule always has count left, so it keeps the oldest too.
  auto decisions = decide(times, daily);
  CHECK(kept(decisions) ==
        Strings{"2024-05-03 18:00:00", "2024-05-02 09:00:00", "2024-05-01 20:00:00", "2024-05-01 08:00:00"});
  CHECK(reasons(decisions)["2024-05-01 08:00:00"] == Strings{"oldest daily snapshot"});

  RetentionPolicy last;
  last.keep_last = dr::kUnlimited;
  CHECK(kept(times, last).size() == times.size());
}

TEST_CASE("retention: an empty policy keeps everything", "[retention]") {
  RetentionPolicy policy;
  CHECK(policy.empty());
  auto decisions = decide({"2024-05-01 00:00:00", "2024-05-02 00:00:00"}, policy);
  for (const auto& d : decisions) {
    CHECK(d.keep);
    CHECK(d.reasons == Strings{"policy is empty"});
  }
  policy.keep_yearly = 1;
  CHECK_FALSE(policy.empty());
  auto none = dr::apply_retention({}, policy, "UTC");
  REQUIRE(none);
  CHECK(none->empty());
}

TEST_CASE("retention: invalid counts and zones are errors", "[retention]") {
  RetentionPolicy policy;
  policy.keep_weekly = -2;
  auto result = dr::apply_retention(snapshots_at({"2024-05-01 00:00:00"}), policy, "UTC");
  REQUIRE_FALSE(result);
  CHECK(result.error().code() == ErrorCode::InvalidConfig);
  CHECK(result.error().message() == "retention `keep_weekly`: -2 is not a count; use a number >= 0, or -1 for unlimited");

  RetentionPolicy daily;
  daily.keep_daily = 1;
  auto zone = dr::apply_retention(snapshots_at({"2024-05-01 00:00:00"}), daily, "Nowhere/Atlantis");
  REQUIRE_FALSE(zone);
  CHECK(zone.error().message().find("`Nowhere/Atlantis`") != std::string::npos);
}

TEST_CASE("retention: buckets follow the time zone", "[retention]") {
  // 03:00 UTC on Jan 2 is still Jan 1 in New York.
  const Strings times = {"2024-01-02 03:00:00", "2024-01-01 23:00:00", "2023-12-31 12:00:00"};
  RetentionPolicy policy;
  policy.keep_daily = 2;
  policy.keep_oldest = false;
  CHECK(kept(times, policy, "UTC") == Strings{"2024-01-02 03:00:00", "2024-01-01 23:00:00"});
  CHECK(kept(times, policy, "America/New_York") == Strings{"2024-01-02 03:00:00", "2023-12-31 12:00:00"});
  // Hours in a zone with a half-hour offset.
  RetentionPolicy hourly;
  hourly.keep_hourly = 5;
  hourly.keep_oldest = false;
  CHECK(kept({"2024-01-01 10:20:00", "2024-01-01 10:40:00"}, hourly, "UTC") == Strings{"2024-01-01 10:40:00"});
  CHECK(kept({"2024-01-01 10:20:00", "2024-01-01 10:40:00"}, hourly, "Asia/Kolkata") ==
        Strings{"2024-01-01 10:40:00", "2024-01-01 10:20:00"});
}

TEST_CASE("retention: equal times keep their input order, ids are kept", "[retention]") {
  std::vector<dr::SnapshotRef> snapshots = {{"b", utc("2024-05-01 00:00:00")},
                                            {"a", utc("2024-05-01 00:00:00")},
                                            {"c", utc("2024-05-02 00:00:00")}};
  RetentionPolicy policy;
  policy.keep_last = 2;
  auto decisions = dr::apply_retention(snapshots, policy, "UTC");
  REQUIRE(decisions);
  REQUIRE(decisions->size() == 3);
  CHECK((*decisions)[0].snapshot.id == "c");
  CHECK((*decisions)[1].snapshot.id == "b");
  CHECK((*decisions)[2].snapshot.id == "a");
  CHECK((*decisions)[1].keep);
  // keep_oldest: keep_last had no count left at "a".
  CHECK_FALSE((*decisions)[2].keep);
}

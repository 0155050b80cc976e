#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include <date/date.h>
#include <date/tz.h>

#include "core/cron.h"

using namespace keel;
using std::chrono::system_clock;

namespace {

cron::Schedule parse_ok(const std::string& text) {
  auto schedule = cron::parse(text);
  INFO(text);
  if (!schedule) FAIL(schedule.error().message());
  return *schedule;
}

std::string parse_error(const std::string& text) {
  auto schedule = cron::parse(text);
  INFO(text);
  REQUIRE_FALSE(schedule);
  CHECK(schedule.error().code() == ErrorCode::InvalidConfig);
  return schedule.error().message();
}

// "2024-03-31 01:00" or "2024-03-31 01:00:30" (UTC) -> time_point.
system_clock::time_point utc(const std::string& text) {
  int year = 0, hour = 0, minute = 0, second = 0;
  unsigned month = 0, day = 0;
  int fields = std::sscanf(text.c_str(), "%d-%u-%u %d:%d:%d", &year, &month, &day, &hour, &minute, &second);
  REQUIRE(fields >= 5);
  return date::sys_days{date::year{year} / month / day} + std::chrono::hours{hour} + std::chrono::minutes{minute} +
         std::chrono::seconds{second};
}

std::string utc_text(system_clock::time_point when) {
  if (when == cron::kNever) return "never";
  return date::format("%F %R", std::chrono::floor<std::chrono::minutes>(when));
}

// The local wall-clock time with the zone abbreviation: "2024-03-31 03:00 CEST".
std::string local_text(system_clock::time_point when, const std::string& zone) {
  return date::format("%F %R %Z", date::make_zoned(zone, std::chrono::floor<std::chrono::minutes>(when)));
}

// The next `count` firings after `from`, as UTC text.
std::vector<std::string> firings(const cron::Schedule& schedule, const std::string& from, int count) {
  std::vector<std::string> out;
  auto when = utc(from);
  for (int i = 0; i < count; ++i) {
    when = cron::next_after(schedule, when);
    out.push_back(utc_text(when));
    if (when == cron::kNever) break;
  }
  return out;
}

std::vector<std::string> local_firings(const cron::Schedule& schedule, const std::string& from, int count,
                                       const std::string& zone) {
  std::vector<std::string> out;
  auto when = utc(from);
  for (int i = 0; i < count; ++i) {
    when = cron::next_after(schedule, when);
    out.push_back(local_text(when, zone));
  }
  return out;
}

template <size_t N>
std::vector<int> bits(const std::bitset<N>& set) {
  std::vector<int> out;
  for (size_t i = 0; i < N; ++i)
    if (set[i]) out.push_back(static_cast<int>(i));
  return out;
}

// Sets TZ for the scope of a test and restores it.
struct ScopedTz {
  std::optional<std::string> saved;
  explicit ScopedTz(const char* value) {
    if (const char* old = std::getenv("TZ")) saved = old;
    ::setenv("TZ", value, 1);
  }
  ~ScopedTz() {
    if (saved)
      ::setenv("TZ", saved->c_str(), 1);
    else
      ::unsetenv("TZ");
  }
};

}  // namespace

TEST_CASE("cron parse errors name the field and the value", "[cron]") {
  CHECK(parse_error("TZ=UTC 0 25 * * *") == "cron field `hour`: 25 is out of range 0-23");
  CHECK(parse_error("60 * * * *") == "cron field `minute`: 60 is out of range 0-59");
  CHECK(parse_error("0 0 0 * *") == "cron field `day-of-month`: 0 is out of range 1-31");
  CHECK(parse_error("0 0 32 * *") == "cron field `day-of-month`: 32 is out of range 1-31");
  CHECK(parse_error("0 0 * 13 *") == "cron field `month`: 13 is out of range 1-12");
  CHECK(parse_error("0 0 * 0 *") == "cron field `month`: 0 is out of range 1-12");
  CHECK(parse_error("0 0 * * 8") == "cron field `day-of-week`: 8 is out of range 0-7");
  CHECK(parse_error("0 0 * * 99999") == "cron field `day-of-week`: 99999 is out of range 0-7");
  CHECK(parse_error("0 0 * foo *") == "cron field `month`: `foo` is not a number or a name (jan..dec)");
  CHECK(parse_error("0 0 * * funday") == "cron field `day-of-week`: `funday` is not a number or a name (sun..sat)");
  CHECK(parse_error("x 0 * * *") == "cron field `minute`: `x` is not a number");
  CHECK(parse_error("0 jan * * *") == "cron field `hour`: `jan` is not a number");
  CHECK(parse_error("*/0 * * * *") == "cron field `minute`: step 0 in `*/0` must be at least 1");
  CHECK(parse_error("*/x * * * *") == "cron field `minute`: step `x` in `*/x` is not a number");
  CHECK(parse_error("0 */ * * *") == "cron field `hour`: step `` in `*/` is not a number");
  CHECK(parse_error("5/15 * * * *") == "cron field `minute`: `5/15` needs a range before the step: write `5-59/15`");
  CHECK(parse_error("30-10 * * * *") == "cron field `minute`: range `30-10` runs backwards");
  CHECK(parse_error("0 0 * * fri-mon") == "cron field `day-of-week`: range `fri-mon` runs backwards");
  CHECK(parse_error("1,,2 * * * *") == "cron field `minute`: empty element in the list");
  CHECK(parse_error("1, * * * *") == "cron field `minute`: empty element in the list");
  CHECK(parse_error("-5 * * * *") == "cron field `minute`: `-5` is missing a value");
  CHECK(parse_error("0 1- * * *") == "cron field `hour`: `1-` is missing a value");
  CHECK(parse_error("0 0 1-2-3 * *") == "cron field `day-of-month`: `2-3` is not a number");
}

TEST_CASE("cron parse errors for the shape of the schedule", "[cron]") {
  CHECK(parse_error("* * * *").find("expected 5 fields") != std::string::npos);
  CHECK(parse_error("* * * *").find("found 4 fields") != std::string::npos);
  CHECK(parse_error("* * * * * /bin/true").find("found 6 fields") != std::string::npos);
  CHECK(parse_error("").find("found 0 fields") != std::string::npos);
  CHECK(parse_error("@reboot").find("unknown macro `@reboot`") != std::string::npos);
  CHECK(parse_error("@daily 5").find("unknown macro") != std::string::npos);
  CHECK(parse_error("TZ= 0 0 * * *").find("TZ= names no time zone") != std::string::npos);
  CHECK(parse_error("TZ=Mars/Base 0 0 * * *") ==
        "cron time zone `Mars/Base` is not in the time zone database (/usr/share/zoneinfo)");
  CHECK(parse_error("CRON_TZ=Europe/Berlinn @daily").find("`Europe/Berlinn`") != std::string::npos);
}

TEST_CASE("cron impossible dates are refused at parse time", "[cron]") {
  CHECK(parse_error("0 0 30 2 *") ==
        "cron schedule `0 0 30 2 *`: never fires: no month in the `month` field (2) has a day from the "
        "`day-of-month` field (30)");
  CHECK(parse_error("TZ=UTC   0 0 31 apr,jun *") ==
        "cron schedule `0 0 31 apr,jun *`: never fires: no month in the `month` field (apr,jun) has a day from the "
        "`day-of-month` field (31)");
  CHECK(parse_error("0 0 31 4,6,9,11 *").find("never fires") != std::string::npos);
  CHECK(parse_error("0 0 30,31 feb *").find("never fires") != std::string::npos);
  // `*/2` in day-of-week still counts as a star (Vixie's DOW_STAR): AND rule.
  CHECK(parse_error("0 0 31 2 */2").find("never fires") != std::string::npos);
  // Possible: March has a 31st; February has a 29th in leap years; with the
  // OR rule the Mondays alone make the schedule fire.
  parse_ok("0 0 31 2,3 *");
  parse_ok("0 0 29 2 *");
  parse_ok("0 0 30 2 1");
}

TEST_CASE("cron parses every syntax form", "[cron]") {
  SECTION("star, single values, lists, ranges, steps") {
    auto s = parse_ok("TZ=UTC 0,15,30-32 */6 1-30/10 * 1-5");
    CHECK(bits(s.minutes) == std::vector<int>{0, 15, 30, 31, 32});
    CHECK(bits(s.hours) == std::vector<int>{0, 6, 12, 18});
    CHECK(bits(s.days_of_month) == std::vector<int>{1, 11, 21});
    CHECK(bits(s.months) == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
    CHECK(bits(s.days_of_week) == std::vector<int>{1, 2, 3, 4, 5});
    CHECK(s.wildcard_time);  // the hour field starts with `*`
    CHECK_FALSE(s.day_of_month_star);
    CHECK(s.day_of_week_star == false);
  }
  SECTION("steps larger than the range and over a star") {
    auto s = parse_ok("*/90 */25 */40 */5 */3");
    CHECK(bits(s.minutes) == std::vector<int>{0});
    CHECK(bits(s.hours) == std::vector<int>{0});
    CHECK(bits(s.days_of_month) == std::vector<int>{1});
    CHECK(bits(s.months) == std::vector<int>{1, 6, 11});
    CHECK(bits(s.days_of_week) == std::vector<int>{0, 3, 6});  // 0,3,6 (7 would be Sunday again)
    CHECK(s.wildcard_time);
    CHECK(s.day_of_month_star);
    CHECK(s.day_of_week_star);
  }
  SECTION("month and day names, any case, also in ranges and lists") {
    auto s = parse_ok("0 0 * JAN,mar-May,Dec Mon-wed,FRI");
    CHECK(bits(s.months) == std::vector<int>{1, 3, 4, 5, 12});
    CHECK(bits(s.days_of_week) == std::vector<int>{1, 2, 3, 5});
    CHECK(bits(parse_ok("0 0 * jan-dec/3 sun-sat/2").months) == std::vector<int>{1, 4, 7, 10});
  }
  SECTION("day-of-week 7 is Sunday, like 0") {
    CHECK(bits(parse_ok("0 0 * * 7").days_of_week) == std::vector<int>{0});
    CHECK(bits(parse_ok("0 0 * * 5-7").days_of_week) == std::vector<int>{0, 5, 6});
    CHECK(bits(parse_ok("0 0 * * 0-7").days_of_week) == std::vector<int>{0, 1, 2, 3, 4, 5, 6});
  }
  SECTION("blanks: tabs, several spaces, leading and trailing") {
    auto s = parse_ok("  5\t4   *  * *  ");
    CHECK(bits(s.minutes) == std::vector<int>{5});
    CHECK(bits(s.hours) == std::vector<int>{4});
  }
  SECTION("macros expand as cronie sets its bits") {
    auto yearly = parse_ok("@yearly");
    CHECK(bits(yearly.minutes) == std::vector<int>{0});
    CHECK(bits(yearly.hours) == std::vector<int>{0});
    CHECK(bits(yearly.days_of_month) == std::vector<int>{1});
    CHECK(bits(yearly.months) == std::vector<int>{1});
    CHECK(bits(parse_ok("@annually").months) == std::vector<int>{1});
    auto monthly = parse_ok("@monthly");
    CHECK(bits(monthly.days_of_month) == std::vector<int>{1});
    CHECK(monthly.months.count() == 12);
    auto weekly = parse_ok("@weekly");
    CHECK(bits(weekly.days_of_week) == std::vector<int>{0});
    CHECK(weekly.day_of_month_star);
    auto daily = parse_ok("@daily");
    CHECK(bits(daily.hours) == std::vector<int>{0});
    CHECK_FALSE(daily.wildcard_time);
    CHECK(bits(parse_ok("@midnight").hours) == std::vector<int>{0});
    auto hourly = parse_ok("@hourly");
    CHECK(hourly.hours.count() == 24);
    CHECK(hourly.wildcard_time);
    CHECK(bits(parse_ok("@DAILY").hours) == std::vector<int>{0});
  }
  SECTION("time zone prefixes") {
    auto berlin = parse_ok("TZ=Europe/Berlin 0 3 * * *");
    CHECK(berlin.time_zone == "Europe/Berlin");
    CHECK(berlin.text == "TZ=Europe/Berlin 0 3 * * *");
    REQUIRE(berlin.zone != nullptr);
    CHECK(parse_ok("CRON_TZ=America/New_York @daily").time_zone == "America/New_York");
    auto local = parse_ok("0 3 * * *");
    CHECK(local.time_zone.empty());
    CHECK(local.zone != nullptr);
  }
}

TEST_CASE("cron next_after is strictly after, at minute resolution", "[cron]") {
  auto every_quarter = parse_ok("TZ=UTC */15 * * * *");
  CHECK(utc_text(cron::next_after(every_quarter, utc("2024-05-01 10:07:30"))) == "2024-05-01 10:15");
  CHECK(utc_text(cron::next_after(every_quarter, utc("2024-05-01 10:15:00"))) == "2024-05-01 10:30");
  CHECK(utc_text(cron::next_after(every_quarter, utc("2024-05-01 10:14:59"))) == "2024-05-01 10:15");
  CHECK(utc_text(cron::next_after(every_quarter, utc("2024-05-01 23:50"))) == "2024-05-02 00:00");
  auto every_minute = parse_ok("TZ=UTC * * * * *");
  CHECK(utc_text(cron::next_after(every_minute, utc("2024-05-01 10:07:00"))) == "2024-05-01 10:08");
  // Sub-second times are truncated, not rounded up past the next minute.
  CHECK(utc_text(cron::next_after(every_minute, utc("2024-05-01 10:07:00") + std::chrono::milliseconds(999))) ==
        "2024-05-01 10:08");
}

TEST_CASE("cron next_after across month and year ends", "[cron]") {
  CHECK(firings(parse_ok("TZ=UTC 0 0 1 * *"), "2024-11-15 12:00", 3) ==
        std::vector<std::string>{"2024-12-01 00:00", "2025-01-01 00:00", "2025-02-01 00:00"});
  CHECK(firings(parse_ok("TZ=UTC 59 23 31 12 *"), "2024-12-31 23:59", 2) ==
        std::vector<std::string>{"2025-12-31 23:59", "2026-12-31 23:59"});
  // The 31st only exists in seven months.
  CHECK(firings(parse_ok("TZ=UTC 0 6 31 * *"), "2024-01-31 06:00", 4) ==
        std::vector<std::string>{"2024-03-31 06:00", "2024-05-31 06:00", "2024-07-31 06:00", "2024-08-31 06:00"});
  CHECK(firings(parse_ok("TZ=UTC 30 4 * jan,jul mon"), "2024-01-29 05:00", 3) ==
        std::vector<std::string>{"2024-07-01 04:30", "2024-07-08 04:30", "2024-07-15 04:30"});
  CHECK(firings(parse_ok("TZ=UTC @yearly"), "2023-06-01 00:00", 2) ==
        std::vector<std::string>{"2024-01-01 00:00", "2025-01-01 00:00"});
  CHECK(firings(parse_ok("TZ=UTC @weekly"), "2024-05-01 00:00", 2) ==  // Wednesday
        std::vector<std::string>{"2024-05-05 00:00", "2024-05-12 00:00"});
  CHECK(firings(parse_ok("TZ=UTC @hourly"), "2024-12-31 22:30", 2) ==
        std::vector<std::string>{"2024-12-31 23:00", "2025-01-01 00:00"});
  CHECK(firings(parse_ok("TZ=UTC 0 9-17/4 * * mon-fri"), "2024-05-03 14:00", 4) ==  // Friday afternoon
        std::vector<std::string>{"2024-05-03 17:00", "2024-05-06 09:00", "2024-05-06 13:00", "2024-05-06 17:00"});
}

TEST_CASE("cron day-of-month and day-of-week: the Vixie OR rule", "[cron]") {
  // Both restricted: the 1st, the 15th and every Friday.
  CHECK(firings(parse_ok("TZ=UTC 0 0 1,15 * 5"), "2023-12-31 12:00", 6) ==
        std::vector<std::string>{"2024-01-01 00:00", "2024-01-05 00:00", "2024-01-12 00:00", "2024-01-15 00:00",
                                 "2024-01-19 00:00", "2024-01-26 00:00"});
  // "Friday the 13th" in cron means every 13th and every Friday.
  CHECK(firings(parse_ok("TZ=UTC 0 0 13 * fri"), "2024-09-01 00:00", 3) ==
        std::vector<std::string>{"2024-09-06 00:00", "2024-09-13 00:00", "2024-09-20 00:00"});
  // A star in either field (even `*/2`) makes it AND: odd days that are Fridays.
  CHECK(firings(parse_ok("TZ=UTC 0 0 */2 * 5"), "2024-01-01 00:00", 3) ==
        std::vector<std::string>{"2024-01-05 00:00", "2024-01-19 00:00", "2024-02-09 00:00"});
  CHECK(firings(parse_ok("TZ=UTC 0 0 * * 5"), "2024-01-01 00:00", 2) ==
        std::vector<std::string>{"2024-01-05 00:00", "2024-01-12 00:00"});
  CHECK(firings(parse_ok("TZ=UTC 0 0 13 * */1"), "2024-01-01 00:00", 2) ==
        std::vector<std::string>{"2024-01-13 00:00", "2024-02-13 00:00"});
  // Sunday as 7.
  CHECK(firings(parse_ok("TZ=UTC 0 12 * * 7"), "2024-05-01 00:00", 1) == std::vector<std::string>{"2024-05-05 12:00"});
}

TEST_CASE("cron leap years", "[cron]") {
  auto leap_day = parse_ok("TZ=UTC 0 12 29 2 *");
  CHECK(firings(leap_day, "2024-03-01 00:00", 2) == std::vector<std::string>{"2028-02-29 12:00", "2032-02-29 12:00"});
  // 2100 is not a leap year.
  CHECK(firings(leap_day, "2096-03-01 00:00", 1) == std::vector<std::string>{"2104-02-29 12:00"});
  // 2000 was.
  CHECK(firings(leap_day, "1997-01-01 00:00", 1) == std::vector<std::string>{"2000-02-29 12:00"});
  // Feb 29 that is a Sunday (AND rule through `*/7` = 0,7): 28 years apart.
  auto sunday_leap_day = parse_ok("TZ=UTC 0 0 29 2 */7");
  CHECK(firings(sunday_leap_day, "2024-01-01 00:00", 2) ==
        std::vector<std::string>{"2032-02-29 00:00", "2060-02-29 00:00"});
  CHECK(date::weekday{date::sys_days{date::year{2060} / 2 / 29}} == date::Sunday);
  // Across 2100 the gap is 40 years.
  CHECK(firings(sunday_leap_day, "2089-01-01 00:00", 1) == std::vector<std::string>{"2128-02-29 00:00"});
  // Last day of February, leap or not, with the OR rule off: 28th or 29th.
  CHECK(firings(parse_ok("TZ=UTC 0 0 28,29 2 *"), "2023-01-01 00:00", 3) ==
        std::vector<std::string>{"2023-02-28 00:00", "2024-02-28 00:00", "2024-02-29 00:00"});
}

TEST_CASE("cron next_after is fast and terminates for rare schedules", "[cron]") {
  // Feb 29 on a Sunday: up to 40 years apart.
  auto rare = parse_ok("TZ=Europe/Berlin 59 23 29 2 */7");
  CHECK(local_firings(rare, "2000-01-01 00:00", 3, "Europe/Berlin") ==
        std::vector<std::string>{"2004-02-29 23:59 CET", "2032-02-29 23:59 CET", "2060-02-29 23:59 CET"});
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) CHECK(cron::next_after(rare, utc("2089-01-01 00:00")) != cron::kNever);
  auto elapsed = std::chrono::steady_clock::now() - started;
  // 1000 searches of 39 years each: well under a millisecond each.
  CHECK(elapsed < std::chrono::seconds(2));
}

TEST_CASE("cron next_after returns kNever past the end of system_clock", "[cron]") {
  auto yearly = parse_ok("TZ=UTC @yearly");
  CHECK(cron::next_after(yearly, utc("2262-01-02 00:00")) == cron::kNever);
  CHECK(cron::next_after(yearly, cron::kNever) == cron::kNever);
  CHECK(utc_text(cron::next_after(yearly, utc("2261-06-01 00:00"))) == "2262-01-01 00:00");
}

TEST_CASE("cron in a named time zone", "[cron]") {
  auto berlin = parse_ok("TZ=Europe/Berlin 0 3 * * *");
  CHECK(utc_text(cron::next_after(berlin, utc("2024-01-10 00:00"))) == "2024-01-10 02:00");  // CET
  CHECK(utc_text(cron::next_after(berlin, utc("2024-07-10 00:00"))) == "2024-07-10 01:00");  // CEST
  auto new_york = parse_ok("CRON_TZ=America/New_York 0 3 * * *");
  CHECK(utc_text(cron::next_after(new_york, utc("2024-01-10 00:00"))) == "2024-01-10 08:00");  // EST
  CHECK(utc_text(cron::next_after(new_york, utc("2024-07-10 00:00"))) == "2024-07-10 07:00");  // EDT
  // The local date decides the day: Monday 00:30 in Berlin is Sunday 23:30 UTC.
  CHECK(utc_text(cron::next_after(parse_ok("TZ=Europe/Berlin 30 0 * * mon"), utc("2024-01-01 00:00"))) ==
        "2024-01-07 23:30");
}

TEST_CASE("cron spring forward: fixed times in the gap fire right after the jump", "[cron]") {
  const std::string zone = "Europe/Berlin";  // 2024-03-31 02:00 CET -> 03:00 CEST (01:00 UTC)
  auto fixed = parse_ok("TZ=Europe/Berlin 30 2 * * *");
  CHECK(local_firings(fixed, "2024-03-30 12:00", 3, zone) ==
        std::vector<std::string>{"2024-03-31 03:00 CEST", "2024-04-01 02:30 CEST", "2024-04-02 02:30 CEST"});
  // Several skipped times and one right after the jump: one firing.
  auto several = parse_ok("TZ=Europe/Berlin 0,30 2,3 * * *");
  CHECK(local_firings(several, "2024-03-30 23:00", 3, zone) ==
        std::vector<std::string>{"2024-03-31 03:00 CEST", "2024-03-31 03:30 CEST", "2024-04-01 02:00 CEST"});
  // Just after the jump the catch-up is in the past.
  CHECK(local_text(cron::next_after(fixed, utc("2024-03-31 01:00:30")), zone) == "2024-04-01 02:30 CEST");
  // Exactly at the jump's instant counts as "after" the minute before it.
  CHECK(local_text(cron::next_after(fixed, utc("2024-03-31 00:59")), zone) == "2024-03-31 03:00 CEST");

  const std::string ny = "America/New_York";  // 2024-03-10 02:00 EST -> 03:00 EDT (07:00 UTC)
  auto ny_fixed = parse_ok("TZ=America/New_York 15 2 * * *");
  CHECK(local_firings(ny_fixed, "2024-03-09 12:00", 2, ny) ==
        std::vector<std::string>{"2024-03-10 03:00 EDT", "2024-03-11 02:15 EDT"});
}

TEST_CASE("cron spring forward: wildcard schedules skip the missing hour", "[cron]") {
  const std::string zone = "Europe/Berlin";
  auto every_half_hour = parse_ok("TZ=Europe/Berlin */30 * * * *");
  CHECK(local_firings(every_half_hour, "2024-03-31 00:15", 3, zone) ==
        std::vector<std::string>{"2024-03-31 01:30 CET", "2024-03-31 03:00 CEST", "2024-03-31 03:30 CEST"});
  auto hourly_at_half = parse_ok("TZ=Europe/Berlin 30 * * * *");
  CHECK(local_firings(hourly_at_half, "2024-03-31 00:00", 2, zone) ==
        std::vector<std::string>{"2024-03-31 01:30 CET", "2024-03-31 03:30 CEST"});
  // A wildcard-hour schedule that only matches in the gap waits a day.
  auto only_in_gap = parse_ok("TZ=Europe/Berlin 30 */2 * * *");
  CHECK(local_firings(only_in_gap, "2024-03-31 00:00", 2, zone) ==
        std::vector<std::string>{"2024-03-31 04:30 CEST", "2024-03-31 06:30 CEST"});
}

TEST_CASE("cron fall back: fixed times fire once, at the first occurrence", "[cron]") {
  const std::string zone = "Europe/Berlin";  // 2024-10-27 03:00 CEST -> 02:00 CET (01:00 UTC)
  auto fixed = parse_ok("TZ=Europe/Berlin 30 2 * * *");
  CHECK(local_firings(fixed, "2024-10-26 12:00", 2, zone) ==
        std::vector<std::string>{"2024-10-27 02:30 CEST", "2024-10-28 02:30 CET"});
  // From inside the repeated hour, before the second 02:30: still not again.
  CHECK(local_text(cron::next_after(fixed, utc("2024-10-27 01:10")), zone) == "2024-10-28 02:30 CET");
  // From inside the first pass, before 02:30 CEST: that first occurrence.
  CHECK(local_text(cron::next_after(fixed, utc("2024-10-27 00:10")), zone) == "2024-10-27 02:30 CEST");

  const std::string ny = "America/New_York";  // 2024-11-03 02:00 EDT -> 01:00 EST (06:00 UTC)
  auto ny_fixed = parse_ok("CRON_TZ=America/New_York 30 1 * * *");
  CHECK(local_firings(ny_fixed, "2024-11-02 12:00", 2, ny) ==
        std::vector<std::string>{"2024-11-03 01:30 EDT", "2024-11-04 01:30 EST"});
  CHECK(local_text(cron::next_after(ny_fixed, utc("2024-11-03 06:10")), ny) == "2024-11-04 01:30 EST");
}

TEST_CASE("cron fall back: wildcard schedules run in both passes", "[cron]") {
  const std::string zone = "Europe/Berlin";
  auto every_half_hour = parse_ok("TZ=Europe/Berlin */30 * * * *");
  CHECK(local_firings(every_half_hour, "2024-10-27 00:15", 4, zone) ==
        std::vector<std::string>{"2024-10-27 02:30 CEST", "2024-10-27 02:00 CET", "2024-10-27 02:30 CET",
                                 "2024-10-27 03:00 CET"});
  auto hourly_at_quarter = parse_ok("TZ=Europe/Berlin 15 * * * *");
  CHECK(local_firings(hourly_at_quarter, "2024-10-26 23:30", 3, zone) ==
        std::vector<std::string>{"2024-10-27 02:15 CEST", "2024-10-27 02:15 CET", "2024-10-27 03:15 CET"});

  // A later local time of the first pass comes before an earlier local time
  // of the second pass.
  const std::string ny = "America/New_York";
  auto every_five_at_one = parse_ok("TZ=America/New_York */5 1 * * *");
  CHECK(local_firings(every_five_at_one, "2024-11-03 05:50", 3, ny) ==
        std::vector<std::string>{"2024-11-03 01:55 EDT", "2024-11-03 01:00 EST", "2024-11-03 01:05 EST"});
}

TEST_CASE("cron clock jumps of 3 hours or more are corrections, not DST", "[cron]") {
  // Samoa skipped 2011-12-30 entirely (UTC-10 -> UTC+14). cronie does not
  // catch up on a jump that big: the noon of the 30th never fires.
  const std::string zone = "Pacific/Apia";
  auto noon = parse_ok("TZ=Pacific/Apia 0 12 * * *");
  auto from = date::make_zoned(zone, date::local_days{date::year{2011} / 12 / 29} + std::chrono::hours{13});
  auto next = cron::next_after(noon, from.get_sys_time());
  CHECK(local_text(next, zone).substr(0, 16) == "2011-12-31 12:00");
}

TEST_CASE("cron without TZ= follows the host's local zone, TZ first", "[cron]") {
  {
    ScopedTz tz("America/New_York");
    auto local = parse_ok("0 3 * * *");
    CHECK(local.time_zone.empty());
    CHECK(utc_text(cron::next_after(local, utc("2024-01-10 00:00"))) == "2024-01-10 08:00");
    auto zone = cron::find_time_zone("");
    REQUIRE(zone);
    CHECK(std::string((*zone)->name()) == "America/New_York");
  }
  {
    ScopedTz tz(":Europe/Berlin");
    auto zone = cron::find_time_zone("");
    REQUIRE(zone);
    CHECK(std::string((*zone)->name()) == "Europe/Berlin");
  }
  {
    ScopedTz tz("/usr/share/zoneinfo/Asia/Tokyo");
    auto zone = cron::find_time_zone("");
    REQUIRE(zone);
    CHECK(std::string((*zone)->name()) == "Asia/Tokyo");
  }
  auto unknown = cron::find_time_zone("Nowhere/Atlantis");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code() == ErrorCode::InvalidConfig);
}

#pragma once
// Cron schedules for backup jobs, read as Vixie cron / cronie read the time
// part of a crontab line.
//
// Syntax
//   "minute hour day-of-month month day-of-week", fields separated by blanks:
//     minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or jan..dec,
//     day-of-week 0-7 or sun..sat (0 and 7 are both Sunday); names are
//     case-insensitive and may be used in ranges and lists (as cronie allows).
//   Each field is a list "a,b,..." of `*`, `N`, `N-M` (N <= M), `*/S` or
//   `N-M/S` (S >= 1). As in cronie, `N/S` is an error (write `N-59/S`), and
//   so are out-of-range values, backwards ranges and a zero step.
//   Macros: @hourly @daily @midnight @weekly @monthly @yearly @annually
//   (@reboot has no meaning for a schedule and is refused).
//   An optional leading `TZ=Area/City ` or `CRON_TZ=Area/City ` names the time
//   zone (looked up in the system tzdata, /usr/share/zoneinfo; nothing is ever
//   downloaded); without it the schedule follows the host's local time zone
//   (the TZ environment variable if it names a zone, else /etc/localtime,
//   else UTC), resolved once, at parse time.
//
// Day matching (the Vixie rule): a day matches when its month matches and
//   - if the day-of-month or the day-of-week field starts with `*` (also
//     `*/2`), both fields must match;
//   - otherwise EITHER may match: "0 0 1,15 * 5" runs on the 1st, the 15th
//     and every Friday.
//
// Impossible dates: parse() refuses a schedule whose days can never exist,
// e.g. "0 0 30 2 *" or "0 0 31 4,6,9,11 *" (InvalidConfig). Every schedule
// that parses fires at least once in any 400 years (Feb 29 on a given
// weekday is the rarest case); next_after() returns kNever only if it finds
// nothing in 500 years, which cannot happen for a parsed schedule except in
// pathological zones, or past the year 2262 (the end of system_clock).
//
// Daylight saving time follows cronie's documented behaviour (cron(8),
// "Daylight Saving Time and other time changes"), applied in the schedule's
// own time zone:
//   - "Fixed" schedules (neither the minute nor the hour field starts with
//     `*`, e.g. "30 2 * * *", @daily):
//       * a local time skipped by a spring-forward jump fires once, right
//         after the jump (02:30 on the switch day fires at 03:00 new time);
//       * a local time repeated by a fall-back fires once, at its first
//         occurrence.
//   - "Wildcard" schedules (minute or hour field starts with `*`, e.g.
//     "*/15 * * * *", "30 * * * *", @hourly) follow the wall clock: skipped
//     local times never happen, repeated local times fire at both
//     occurrences.
//   - As in cronie, only changes smaller than 3 hours are treated this way;
//     a bigger jump (e.g. Samoa skipping a day in 2011) behaves like a
//     wildcard schedule: skipped times do not fire, repeated ones fire twice.
// Limitation: date/tz reads the explicit transitions of the TZif files and
// not their POSIX footer, so zones are taken to keep their last listed
// offset after 2037.
//
// Resolution is one minute: next_after(t) is the first firing strictly
// after t. next_after() skips by fields (month, day, hour, minute), never
// minute by minute, and costs microseconds even for rare schedules.

#include <bitset>
#include <chrono>
#include <string>
#include <string_view>

#include "core/error.h"

namespace date {
class time_zone;
}

namespace keel::cron {

struct Schedule {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;  // bits 1..31
  std::bitset<13> months;         // bits 1..12
  std::bitset<7> days_of_week;    // 0 = Sunday (7 folded into 0)
  // The day-of-month / day-of-week field starts with `*` (Vixie's DOM_STAR,
  // DOW_STAR): then a day must match both fields, else either.
  bool day_of_month_star = false;
  bool day_of_week_star = false;
  // The minute or hour field starts with `*` (Vixie's MIN_STAR, HR_STAR): the
  // schedule follows the wall clock through DST changes (see above).
  bool wildcard_time = false;

  std::string text;       // as given, e.g. "TZ=Europe/Berlin 0 3 * * *"
  std::string time_zone;  // as given after TZ=, e.g. "Europe/Berlin"; empty: the host's local zone
  const date::time_zone* zone = nullptr;  // the resolved zone, never null after parse(); owned by date/tz
};

// The "never fires" sentinel of next_after().
inline constexpr std::chrono::system_clock::time_point kNever = std::chrono::system_clock::time_point::max();

// Parses a schedule. Errors are InvalidConfig and name the field and value:
//   "cron field `hour`: 25 is out of range 0-23"
//   "cron schedule `0 0 30 2 *`: never fires: no month in the `month` field (2) has a day from the
//    `day-of-month` field (30)"
//   "cron time zone `Mars/Base` is not in the time zone database (/usr/share/zoneinfo)"
Result<Schedule> parse(std::string_view text);

// The first time strictly after `t` at which the schedule fires (minute
// resolution; see the DST rules above), or kNever.
std::chrono::system_clock::time_point next_after(const Schedule& schedule, std::chrono::system_clock::time_point t);

// Finds a time zone in the system's tzdata. An empty name is the host's
// local zone (TZ, else /etc/localtime, else UTC). Unknown names are
// InvalidConfig. The pointer stays valid for the life of the process.
Result<const date::time_zone*> find_time_zone(std::string_view name);

}  // namespace keel::cron

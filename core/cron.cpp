#include "core/cron.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include <date/date.h>
#include <date/tz.h>
#include <fmt/format.h>

namespace keel::cron {

namespace {

using std::chrono::seconds;
using Mask = std::uint64_t;  // one bit per value, up to 63

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kDayNames = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct FieldSpec {
  std::string_view name;  // as it appears in messages: "day-of-month"
  int low, high;
  const std::string_view* names = nullptr;  // names[i] stands for name_base + i
  int name_count = 0;
  int name_base = 0;  // the value of names[0]
};

constexpr FieldSpec kMinute{"minute", 0, 59};
constexpr FieldSpec kHour{"hour", 0, 23};
constexpr FieldSpec kDayOfMonth{"day-of-month", 1, 31};
constexpr FieldSpec kMonth{"month", 1, 12, kMonthNames.data(), 12, 1};
constexpr FieldSpec kDayOfWeek{"day-of-week", 0, 7, kDayNames.data(), 7, 0};

// Changes of the UTC offset smaller than this are DST-like and get cronie's
// special handling; bigger ones are treated as clock corrections.
constexpr seconds kSmallChange = std::chrono::hours(3);
// How far next_after() looks: every parsed schedule fires within 400 years.
constexpr date::days kSearchHorizon{500 * 366};

std::unexpected<Error> field_error(const FieldSpec& field, const std::string& problem) {
  return fail(ErrorCode::InvalidConfig, fmt::format("cron field `{}`: {}", field.name, problem));
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// One value of a field: a number or (month, day-of-week) a name.
Result<int> parse_value(const FieldSpec& field, std::string_view text) {
  if (all_digits(text)) {
    if (text.size() > 4) return field_error(field, fmt::format("{} is out of range {}-{}", text, field.low, field.high));
    int value = std::atoi(std::string(text).c_str());
    if (value < field.low || value > field.high)
      return field_error(field, fmt::format("{} is out of range {}-{}", value, field.low, field.high));
    return value;
  }
  std::string name = lower(text);
  for (int i = 0; i < field.name_count; ++i)
    if (field.names[i] == name) return field.name_base + i;
  if (field.name_count == 0) return field_error(field, fmt::format("`{}` is not a number", text));
  return field_error(field, fmt::format("`{}` is not a number or a name ({}..{})", text, field.names[0],
                                        field.names[field.name_count - 1]));
}

Result<int> parse_step(const FieldSpec& field, std::string_view element, std::string_view text) {
  if (!all_digits(text) || text.size() > 4)
    return field_error(field, fmt::format("step `{}` in `{}` is not a number", text, element));
  int step = std::atoi(std::string(text).c_str());
  if (step == 0) return field_error(field, fmt::format("step 0 in `{}` must be at least 1", element));
  return step;
}

// One element of a list: `*`, `N`, `N-M`, `*/S`, `N-M/S`.
Result<Mask> parse_element(const FieldSpec& field, std::string_view element) {
  if (element.empty()) return field_error(field, "empty element in the list");
  if (element.starts_with('-') || element.ends_with('-') || element.find("-/") != std::string_view::npos)
    return field_error(field, fmt::format("`{}` is missing a value", element));
  std::string_view base = element, step_text;
  bool has_step = false;
  if (auto slash = element.find('/'); slash != std::string_view::npos) {
    base = element.substr(0, slash);
    step_text = element.substr(slash + 1);
    has_step = true;
  }
  int first = field.low, last = field.high;
  if (base != "*") {
    auto dash = base.find('-');
    auto first_value = parse_value(field, base.substr(0, dash));
    if (!first_value) return std::unexpected(first_value.error());
    first = last = *first_value;
    if (dash != std::string_view::npos) {
      auto last_value = parse_value(field, base.substr(dash + 1));
      if (!last_value) return std::unexpected(last_value.error());
      last = *last_value;
      if (first > last) return field_error(field, fmt::format("range `{}` runs backwards", base));
    } else if (has_step) {
      // Vixie cron and cronie refuse "5/15"; say what they would accept.
      return field_error(field, fmt::format("`{}` needs a range before the step: write `{}-{}/{}`", element, base,
                                            field.high, step_text));
    }
  }
  int step = 1;
  if (has_step) {
    auto parsed = parse_step(field, element, step_text);
    if (!parsed) return std::unexpected(parsed.error());
    step = *parsed;
  }
  Mask mask = 0;
  for (int value = first; value <= last; value += step) mask |= Mask{1} << value;
  return mask;
}

// A whole field: a comma-separated list of elements.
Result<Mask> parse_field(const FieldSpec& field, std::string_view text) {
  Mask mask = 0;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    auto element = parse_element(field, text.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (!element) return element;
    mask |= *element;
    if (comma == std::string_view::npos) return mask;
    start = comma + 1;
  }
}

std::vector<std::string_view> split_blanks(std::string_view text) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

// The five-field form of a macro, as cronie sets its bits.
std::optional<std::string_view> expand_macro(std::string_view macro) {
  std::string name = lower(macro);
  if (name == "@yearly" || name == "@annually") return "0 0 1 1 *";
  if (name == "@monthly") return "0 0 1 * *";
  if (name == "@weekly") return "0 0 * * 0";
  if (name == "@daily" || name == "@midnight") return "0 0 * * *";
  if (name == "@hourly") return "0 * * * *";
  return std::nullopt;
}

template <size_t N>
std::bitset<N> to_bitset(Mask mask) {
  return std::bitset<N>(mask & ((Mask{1} << N) - 1));
}

constexpr unsigned kMaxDaysInMonth[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

// With the AND rule a day must exist in one of the months; with the OR rule
// the day-of-week alone always finds days.
bool can_fire(const Schedule& schedule) {
  if (!schedule.day_of_month_star && !schedule.day_of_week_star) return true;
  for (unsigned month = 1; month <= 12; ++month) {
    if (!schedule.months[month]) continue;
    for (unsigned day = 1; day <= kMaxDaysInMonth[month]; ++day)
      if (schedule.days_of_month[day]) return true;
  }
  return false;
}

Status parse_fields(std::string_view fields_text, Schedule& schedule) {
  auto fields = split_blanks(fields_text);
  if (fields.size() != 5)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("cron schedule `{}`: expected 5 fields (minute hour day-of-month month day-of-week) or "
                            "a macro like @daily, found {} field{}",
                            fields_text, fields.size(), fields.size() == 1 ? "" : "s"));
  const FieldSpec* specs[5] = {&kMinute, &kHour, &kDayOfMonth, &kMonth, &kDayOfWeek};
  Mask masks[5] = {};
  for (int i = 0; i < 5; ++i) {
    auto mask = parse_field(*specs[i], fields[i]);
    if (!mask) return std::unexpected(mask.error());
    masks[i] = *mask;
  }
  if (masks[4] & (Mask{1} << 7)) masks[4] = (masks[4] | 1) & ~(Mask{1} << 7);  // 7 is Sunday too
  schedule.minutes = to_bitset<60>(masks[0]);
  schedule.hours = to_bitset<24>(masks[1]);
  schedule.days_of_month = to_bitset<32>(masks[2]);
  schedule.months = to_bitset<13>(masks[3]);
  schedule.days_of_week = to_bitset<7>(masks[4]);
  schedule.wildcard_time = fields[0].starts_with('*') || fields[1].starts_with('*');
  schedule.day_of_month_star = fields[2].starts_with('*');
  schedule.day_of_week_star = fields[4].starts_with('*');
  if (!can_fire(schedule))
    return fail(ErrorCode::InvalidConfig,
                fmt::format("cron schedule `{}`: never fires: no month in the `month` field ({}) has a day from "
                            "the `day-of-month` field ({})",
                            fields_text, fields[3], fields[2]));
  return {};
}

// "TZ=Europe/Berlin 0 3 * * *" -> zone name and the rest.
struct ZonePrefix {
  std::optional<std::string_view> zone;
  std::string_view rest;
};
ZonePrefix split_zone_prefix(std::string_view text) {
  for (std::string_view prefix : {"TZ=", "CRON_TZ="}) {
    if (!text.starts_with(prefix)) continue;
    size_t end = text.find_first_of(" \t", prefix.size());
    std::string_view zone = text.substr(prefix.size(), end == std::string_view::npos ? end : end - prefix.size());
    return {zone, end == std::string_view::npos ? std::string_view{} : text.substr(end)};
  }
  return {std::nullopt, text};
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

const date::time_zone* try_locate(std::string_view name) {
  try {
    return date::locate_zone(std::string(name));
  } catch (const std::exception&) {
    return nullptr;
  }
}

// The process's local zone as libc sees it: TZ first (":Europe/Berlin" and
// absolute paths into the zoneinfo tree included), then /etc/localtime.
const date::time_zone* local_zone() {
  if (const char* tz = std::getenv("TZ"); tz && *tz) {
    std::string_view name = tz;
    if (name.starts_with(':')) name.remove_prefix(1);
    for (std::string_view root : {"/usr/share/zoneinfo/", "/usr/lib/zoneinfo/"})
      if (name.starts_with(root)) name.remove_prefix(root.size());
    if (auto* zone = try_locate(name)) return zone;
  }
  try {
    return date::current_zone();
  } catch (const std::exception&) {
    return try_locate("UTC");  // what glibc falls back to without /etc/localtime
  }
}

// ---- next_after -----------------------------------------------------------

int next_set_bit(const auto& bits, int from) {
  for (int i = from; i < static_cast<int>(bits.size()); ++i)
    if (bits[static_cast<size_t>(i)]) return i;
  return -1;
}

bool day_matches(const Schedule& schedule, date::local_days day) {
  date::year_month_day ymd{day};
  bool dom = schedule.days_of_month[static_cast<unsigned>(ymd.day())];
  bool dow = schedule.days_of_week[date::weekday{day}.c_encoding()];
  if (schedule.day_of_month_star || schedule.day_of_week_star) return dom && dow;
  return dom || dow;
}

date::local_days first_of_next_month(date::local_days day) {
  date::year_month_day ymd{day};
  date::year_month next = ymd.year() / ymd.month() + date::months{1};
  return date::local_days{next / 1};
}

// The first local minute in [from, until) that matches the fields, found by
// skipping whole months, days and hours that cannot match.
std::optional<date::local_seconds> find_match(const Schedule& schedule, date::local_seconds from,
                                              date::local_seconds until) {
  auto minute = std::chrono::ceil<std::chrono::minutes>(from);
  while (minute < until) {
    auto day = std::chrono::floor<date::days>(minute);
    date::year_month_day ymd{day};
    if (!schedule.months[static_cast<unsigned>(ymd.month())]) {
      minute = first_of_next_month(day);
      continue;
    }
    if (!day_matches(schedule, day)) {
      minute = day + date::days{1};
      continue;
    }
    auto since_midnight = (minute - day).count();
    int hour = static_cast<int>(since_midnight / 60), min = static_cast<int>(since_midnight % 60);
    int next_hour = next_set_bit(schedule.hours, hour);
    if (next_hour < 0) {
      minute = day + date::days{1};
      continue;
    }
    if (next_hour != hour) {
      minute = day + std::chrono::hours{next_hour};
      continue;
    }
    int next_minute = next_set_bit(schedule.minutes, min);
    if (next_minute < 0) {
      minute = day + std::chrono::hours{hour + 1};
      continue;
    }
    minute = day + std::chrono::hours{hour} + std::chrono::minutes{next_minute};
    if (minute < until) return minute;
  }
  return std::nullopt;
}

date::local_seconds to_local(date::sys_seconds when, seconds offset) {
  return date::local_seconds{when.time_since_epoch() + offset};
}
date::sys_seconds to_sys(date::local_seconds when, seconds offset) {
  return date::sys_seconds{when.time_since_epoch() - offset};
}

// Walks the zone's intervals of constant UTC offset from `from` on; within
// one interval local time maps one to one onto UTC.
std::optional<date::sys_seconds> first_firing(const Schedule& schedule, date::sys_seconds from,
                                              date::sys_seconds limit) {
  const date::time_zone& zone = *schedule.zone;
  const bool fixed = !schedule.wildcard_time;
  date::sys_seconds now = from;
  while (now < limit) {
    date::sys_info info = zone.get_info(now);
    date::sys_info before = zone.get_info(info.begin - seconds{1});
    seconds change = info.offset - before.offset;  // > 0: clocks jumped forward at info.begin
    bool dst_like = change != seconds{0} && std::chrono::abs(change) < kSmallChange;
    // cronie runs fixed-time jobs of the skipped local times right after the jump.
    if (fixed && dst_like && change > seconds{0} && now == info.begin &&
        find_match(schedule, to_local(info.begin, before.offset), to_local(info.begin, info.offset)))
      return now;
    date::local_seconds search_from = to_local(now, info.offset);
    // Local times repeated after a fall-back already fired at their first occurrence.
    if (fixed && dst_like && change < seconds{0})
      search_from = std::max(search_from, to_local(info.begin, before.offset));
    date::sys_seconds end = std::min(info.end, limit);
    if (auto match = find_match(schedule, search_from, to_local(end, info.offset)))
      return to_sys(*match, info.offset);
    now = end;
  }
  return std::nullopt;
}

}  // namespace

Result<const date::time_zone*> find_time_zone(std::string_view name) {
  if (name.empty()) {
    if (auto* zone = local_zone()) return zone;
    return fail(ErrorCode::Unavailable, "cannot determine the local time zone: no tzdata in /usr/share/zoneinfo");
  }
  if (auto* zone = try_locate(name)) return zone;
  return fail(ErrorCode::InvalidConfig,
              fmt::format("cron time zone `{}` is not in the time zone database (/usr/share/zoneinfo)", name));
}

Result<Schedule> parse(std::string_view text) {
  Schedule schedule;
  schedule.text = std::string(text);
  auto [zone_name, rest] = split_zone_prefix(trim(text));
  if (zone_name && zone_name->empty())
    return fail(ErrorCode::InvalidConfig, fmt::format("cron schedule `{}`: TZ= names no time zone", text));
  rest = trim(rest);
  std::string_view fields = rest;
  if (rest.starts_with('@')) {
    auto expanded = expand_macro(rest);
    if (!expanded)
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("cron schedule `{}`: unknown macro `{}`; use @hourly, @daily, @midnight, @weekly, "
                              "@monthly, @yearly or @annually",
                              text, rest));
    fields = *expanded;
  }
  if (auto parsed = parse_fields(fields, schedule); !parsed) return std::unexpected(parsed.error());
  auto zone = find_time_zone(zone_name.value_or(std::string_view{}));
  if (!zone) return std::unexpected(zone.error());
  schedule.zone = *zone;
  schedule.time_zone = std::string(zone_name.value_or(std::string_view{}));
  return schedule;
}

std::chrono::system_clock::time_point next_after(const Schedule& schedule, std::chrono::system_clock::time_point t) {
  if (!schedule.zone) return kNever;
  const auto last_representable = std::chrono::floor<seconds>(kNever);
  if (t >= last_representable) return kNever;
  date::sys_seconds from = std::chrono::floor<seconds>(t) + seconds{1};
  date::sys_seconds limit = from + kSearchHorizon;
  auto firing = first_firing(schedule, from, limit);
  if (!firing || *firing > last_representable) return kNever;
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(*firing);
}

}  // namespace keel::cron

#include "core/time.h"

#include <cstdio>

#include <date/date.h>

#include <cctype>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

namespace keel::timeutil {

namespace {

struct Unit {
  std::string_view suffix;
  long long ms;
};
// Longest suffix first so that "ms" is not read as "m".
constexpr Unit kUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};

std::unexpected<Error> bad_duration(std::string_view text) {
  return fail(ErrorCode::InvalidConfig,
              fmt::format("`{}` is not a duration; write it like 500ms, 10s, 5m, 2h or 7d", text));
}

}  // namespace

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return bad_duration(text);
  bool all_digits = true;
  for (char c : text) all_digits = all_digits && std::isdigit(static_cast<unsigned char>(c));
  if (all_digits) {
    if (text.size() > 12) return bad_duration(text);
    return std::chrono::seconds(std::stoll(std::string(text)));
  }
  long long total = 0;
  size_t i = 0;
  long long last_unit = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (start == i || i - start > 12) return bad_duration(text);
    // std::stod throws on "." (no digit), and would read "1..5" as 1.
    const std::string_view number_text = text.substr(start, i - start);
    if (number_text.find_first_of("0123456789") == std::string_view::npos ||
        number_text.find('.') != number_text.rfind('.'))
      return bad_duration(text);
    double number = std::stod(std::string(number_text));
    const Unit* unit = nullptr;
    for (const auto& u : kUnits)
      if (text.substr(i, u.suffix.size()) == u.suffix) {
        unit = &u;
        break;
      }
    if (!unit) return bad_duration(text);
    if (last_unit && unit->ms >= last_unit) return bad_duration(text);
    last_unit = unit->ms;
    i += unit->suffix.size();
    // 100 years at most: 999999999999d would overflow the milliseconds.
    constexpr double kMaxMs = 100.0 * 365 * 24 * 3600 * 1000;
    const double ms = number * static_cast<double>(unit->ms);
    if (ms > kMaxMs || static_cast<double>(total) + ms > kMaxMs) return bad_duration(text);
    total += std::llround(ms);
  }
  return std::chrono::milliseconds(total);
}

std::string format_duration(std::chrono::milliseconds duration) {
  long long ms = duration.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  for (auto it = std::rbegin(kUnits); it != std::rend(kUnits); ++it) {
    if (ms >= it->ms) {
      out += fmt::format("{}{}", ms / it->ms, it->suffix);
      ms %= it->ms;
    }
  }
  return out;
}

double unix_seconds(std::chrono::system_clock::time_point when) {
  return std::chrono::duration<double>(when.time_since_epoch()).count();
}

std::string rfc3339(std::chrono::system_clock::time_point when) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

Result<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
  auto invalid = [&] {
    return fail(ErrorCode::InvalidConfig, fmt::format("`{}` is not an RFC 3339 time (2026-11-27T18:13:55Z)", text));
  };
  // date::parse would do this, but g++ 12 warns (-Wmaybe-uninitialized)
  // inside it at -O2; the format is fixed enough for sscanf.
  std::string input(text);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, consumed = 0;
  double sec = 0;
  if (std::sscanf(input.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%lf%n", &y, &mo, &d, &h, &mi, &sec, &consumed) != 6)
    return invalid();
  std::string_view zone = std::string_view(input).substr(static_cast<size_t>(consumed));
  int offset_minutes = 0;
  if (zone == "Z" || zone == "z") {
    offset_minutes = 0;
  } else {
    int oh = 0, om = 0, n = 0;
    char sign = 0;
    if (std::sscanf(std::string(zone).c_str(), "%c%2d:%2d%n", &sign, &oh, &om, &n) != 3 ||
        static_cast<size_t>(n) != zone.size() || (sign != '+' && sign != '-'))
      return invalid();
    offset_minutes = (sign == '-' ? -1 : 1) * (oh * 60 + om);
  }
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(mo)}, date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec < 0 || sec >= 61) return invalid();
  auto when = date::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi - offset_minutes} +
              std::chrono::round<std::chrono::microseconds>(std::chrono::duration<double>(sec));
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(when);
}

}  // namespace keel::timeutil

#include "core/time.h"

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
    double number = std::stod(std::string(text.substr(start, i - start)));
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
    total += std::llround(number * static_cast<double>(unit->ms));
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

}  // namespace keel::timeutil

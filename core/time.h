#pragma once
// Durations as people write them in stack and agent files: "500ms", "10s",
// "5m", "2h", "7d", or a bare number of seconds.

#include <chrono>
#include <string>
#include <string_view>

#include "core/error.h"

namespace keel::timeutil {

// "1m30s" is accepted too (units in descending order). Fails with
// InvalidConfig and a message that shows the accepted forms.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);
// An exact form with whole units: 1500ms -> "1s500ms", 90000ms -> "1m30s".
std::string format_duration(std::chrono::milliseconds duration);

// Seconds since the Unix epoch, as a double (for JSON and metrics).
double unix_seconds(std::chrono::system_clock::time_point when);
// RFC 3339 UTC with milliseconds: "2026-11-27T18:13:55.123Z".
std::string rfc3339(std::chrono::system_clock::time_point when);
// Reads what rfc3339() writes, and any RFC 3339 time with an offset
// ("2026-11-27T19:13:55+01:00", fractions optional). InvalidConfig otherwise.
Result<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

}  // namespace keel::timeutil

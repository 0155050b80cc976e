#pragma once
// Structured logs: one line per event, a message plus fields, written
// through spdlog to stderr either for people ("text") or as JSON lines
// ("json", for log shippers). Secrets must never be passed as fields.
//
//   logging::event(Level::Info, "check state changed",
//                  {{"check", "web"}, {"from", "passing"}, {"to", "critical"}});
// text: 2026-11-27T18:13:55.123Z info check state changed check=web from=passing to=critical
// json: {"time":"2026-11-27T18:13:55.123Z","level":"info","msg":"check state changed","check":"web",...}

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace keel::logging {

enum class Format { Text, Json };
enum class Level { Debug, Info, Warning, Error };

std::optional<Format> format_from_string(std::string_view text);  // "text" | "json"
std::optional<Level> level_from_string(std::string_view text);    // "debug" | "info" | "warning" | "error"

// Installs the process-wide logger. Safe to call again (replaces it).
void setup(Format format, Level level);

// keel's own log (the CLI), as the environment asks: KEEL_LOG sets the
// level (debug, info, warn, error; default warn), KEEL_LOG_FILE=PATH sends
// the lines there instead of stderr: appended, the file created 0600 (a
// debug log names every resource), never through a symbolic link. A level
// or file that cannot be used is an error naming the variable; the log then
// stays on stderr at warn.
Status setup_from_env(const char* program);

// Fields keep the order they are given in.
void event(Level level, std::string_view message, const nlohmann::ordered_json& fields = nlohmann::ordered_json::object());

// The line `event` would write, without the time (for tests).
std::string format_line(Format format, Level level, std::string_view message, const nlohmann::ordered_json& fields);

}  // namespace keel::logging

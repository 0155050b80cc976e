#pragma once
// Structured logs: one line per event, a message plus fields, written
// through spdlog to stderr either for people ("text") or as JSON lines
// ("json", for log shippers). Secrets must never be passed as fields.
//
//   logging::event(Level::Info, "check state changed",
//                  {{"check", "web"}, {"from", "passing"}, {"to", "critical"}});
// text: 2026-11-27T18:13:55.123Z info check state changed check=web from=passing to=critical
// json: {"time":"2026-11-27T18:13:55.123Z","level":"info","msg":"check state changed","check":"web",...}
//
// A line without fields, formatted as fmt::format does:
//   logging::warn("s3: {}: cannot list the unfinished uploads", bucket);
//
// Everything logs through this file: spdlog is compiled into core/log.cpp
// alone (its headers cost seconds of compile time in every file that
// includes them, and its shared library a third of keel's symbol lookups at
// startup). Until setup() or setup_from_env(), lines go to stderr at info,
// never to stdout (keel-dr's and the plugins' stdout is a protocol).

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace keel::logging {

enum class Format { Text, Json };
enum class Level { Debug, Info, Warning, Error };

std::optional<Format> format_from_string(std::string_view text);  // "text" | "json"
std::optional<Level> level_from_string(std::string_view text);    // "debug" | "info" | "warning" | "error"

// Installs the process-wide logger. Safe to call again (replaces it).
void setup(Format format, Level level);
// No lines at all (KEEL_LOG=off).
void setup_silent();

// keel's own log (the CLI), as the environment asks: KEEL_LOG sets the
// level (debug, info, warn, error; default warn), KEEL_LOG_FILE=PATH sends
// the lines there instead of stderr: appended, the file created 0600 (a
// debug log names every resource), never through a symbolic link. A level
// or file that cannot be used is an error naming the variable; the log then
// stays on stderr at warn.
Status setup_from_env(const char* program);

// Fields keep the order they are given in.
void event(Level level, std::string_view message, const nlohmann::ordered_json& fields = nlohmann::ordered_json::object());

// Whether a line at `level` would be written (to skip building a costly one).
bool enabled(Level level);

// A line without fields at `level`, formatted only when it will be written.
template <typename... Args>
void formatted(Level level, fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(level)) event(level, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
  formatted(Level::Debug, format, std::forward<Args>(args)...);
}
template <typename... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  formatted(Level::Info, format, std::forward<Args>(args)...);
}
template <typename... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  formatted(Level::Warning, format, std::forward<Args>(args)...);
}
template <typename... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
  formatted(Level::Error, format, std::forward<Args>(args)...);
}

// The line `event` would write, without the time (for tests).
std::string format_line(Format format, Level level, std::string_view message, const nlohmann::ordered_json& fields);

// A log to write through. A module (a shared object keel loads,
// core/module_loader.h) has its own copy of this file, whose lines would
// miss keel's logger, KEEL_LOG and KEEL_LOG_FILE: keel points it at its own
// log when it loads it (ModuleHeader::write_log_to).
struct Target {
  bool (*enabled)(Level level);
  void (*event)(Level level, std::string_view message, const nlohmann::ordered_json& fields);
};
// This binary's log.
Target this_log();
// From now on, this binary's lines go to `target` (filtered by its level).
void write_log_to(const Target& target);

// Tests: the lines at `level` and above (as format_line makes them, one per
// line) are kept instead of written while a Capture lives; the log before
// it comes back after.
class Capture {
 public:
  explicit Capture(Level level = Level::Debug);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  std::string text() const;

 private:
  struct State;
  State* state_;
};

}  // namespace keel::logging

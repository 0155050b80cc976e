#include "core/log.h"

#include <atomic>
#include <chrono>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "core/time.h"

namespace keel::logging {

namespace {

std::atomic<Format> g_format{Format::Text};

const char* level_name(Level level) {
  switch (level) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warning: return "warning";
    case Level::Error: return "error";
  }
  return "info";
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::Debug: return spdlog::level::debug;
    case Level::Info: return spdlog::level::info;
    case Level::Warning: return spdlog::level::warn;
    case Level::Error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// Text values are written bare when they are one plain word, else quoted as
// JSON strings so that a value can never forge another field.
std::string text_value(const nlohmann::ordered_json& value) {
  if (!value.is_string()) return value.dump();
  const auto& s = value.get_ref<const std::string&>();
  bool plain = !s.empty();
  for (unsigned char c : s) plain = plain && c > ' ' && c != '"' && c != '=' && c < 0x7f;
  return plain ? s : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::optional<Format> format_from_string(std::string_view text) {
  if (text == "text") return Format::Text;
  if (text == "json") return Format::Json;
  return std::nullopt;
}

std::optional<Level> level_from_string(std::string_view text) {
  for (auto level : {Level::Debug, Level::Info, Level::Warning, Level::Error})
    if (text == level_name(level)) return level;
  if (text == "warn") return Level::Warning;
  return std::nullopt;
}

void setup(Format format, Level level) {
  g_format = format;
  auto logger = std::make_shared<spdlog::logger>("keel", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  // The time is part of the line we format (JSON needs it as a field).
  logger->set_pattern("%v");
  logger->set_level(to_spdlog(level));
  logger->flush_on(spdlog::level::debug);
  spdlog::set_default_logger(logger);
}

std::string format_line(Format format, Level level, std::string_view message, const nlohmann::ordered_json& fields) {
  if (format == Format::Json) {
    nlohmann::ordered_json line = nlohmann::ordered_json::object();
    line["level"] = level_name(level);
    line["msg"] = message;
    if (fields.is_object())
      for (const auto& [key, value] : fields.items()) line[key] = value;
    return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }
  std::string line = fmt::format("{} {}", level_name(level), message);
  if (fields.is_object())
    for (const auto& [key, value] : fields.items()) line += fmt::format(" {}={}", key, text_value(value));
  return line;
}

void event(Level level, std::string_view message, const nlohmann::ordered_json& fields) {
  auto logger = spdlog::default_logger_raw();
  if (!logger->should_log(to_spdlog(level))) return;
  const std::string now = timeutil::rfc3339(std::chrono::system_clock::now());
  std::string line = format_line(g_format, level, message, fields);
  if (g_format == Format::Json)
    line = fmt::format("{{\"time\":\"{}\",{}", now, line.substr(1));  // time first, for readers
  else
    line = fmt::format("{} {}", now, line);
  logger->log(to_spdlog(level), line);
}

}  // namespace keel::logging

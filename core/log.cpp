#include "core/log.h"

#include <atomic>
#include <chrono>

#include <cstdlib>
#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "core/files.h"
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

// Lines to an AppendFile (0600, no symbolic link), flushed as written: a
// log is read most after a crash.
class AppendFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit AppendFileSink(files::AppendFile file) : file_(std::move(file)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    (void)file_.append({line.data(), line.size()});  // nowhere to report a failing log
  }
  void flush_() override {}

 private:
  files::AppendFile file_;
};

}  // namespace

Status setup_from_env(const char* program) {
  std::shared_ptr<spdlog::sinks::sink> sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  std::optional<Error> problem;
  spdlog::level::level_enum level = spdlog::level::warn;
  if (const char* text = std::getenv("KEEL_LOG"); text && *text) {
    if (auto parsed = level_from_string(text)) level = to_spdlog(*parsed);
    else if (std::string_view(text) == "off") level = spdlog::level::off;
    else problem = Error(ErrorCode::InvalidConfig, fmt::format("KEEL_LOG={}: not a level (debug, info, warn, error)", text));
  }
  if (const char* path = std::getenv("KEEL_LOG_FILE"); path && *path) {
    auto file = files::AppendFile::open(path, 0600);
    if (file) sink = std::make_shared<AppendFileSink>(std::move(*file));
    else problem = file.error().with_context("KEEL_LOG_FILE");
  }
  auto logger = std::make_shared<spdlog::logger>(program, std::move(sink));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  logger->set_level(level);
  logger->flush_on(spdlog::level::debug);
  spdlog::set_default_logger(logger);
  if (problem) return fail(*problem);
  return {};
}

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

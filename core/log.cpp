#include "core/log.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "core/files.h"
#include "core/time.h"

namespace keel::logging {

namespace {

// Where lines go: a logger and the format of its lines, published together
// through one pointer. Replaced by setup (and tests) and never freed: another
// thread may still be writing through the one it read, up to exit.
struct Installed {
  std::shared_ptr<spdlog::logger> logger;
  Format format;
};
std::mutex g_install_mutex;
std::atomic<const Installed*> g_installed{nullptr};
// Every one made, so that a leak checker sees them reachable.
std::vector<std::unique_ptr<Installed>>* g_all_installed = new std::vector<std::unique_ptr<Installed>>;

// Set when this binary is a module writing through keel's log.
Target g_target{};
std::atomic<bool> g_has_target{false};

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

// Publishes `logger`; the caller holds g_install_mutex.
const Installed* install_locked(std::shared_ptr<spdlog::logger> logger, Format format) {
  // The time is part of the line event() formats (JSON needs it as a field).
  logger->set_pattern("%v");
  logger->flush_on(spdlog::level::debug);
  g_all_installed->push_back(std::make_unique<Installed>(Installed{std::move(logger), format}));
  const Installed* installed = g_all_installed->back().get();
  g_installed.store(installed, std::memory_order_release);
  return installed;
}

void install(std::shared_ptr<spdlog::logger> logger, Format format) {
  std::lock_guard lock(g_install_mutex);
  install_locked(std::move(logger), format);
}

// What lines go to now: before any setup, stderr at info.
const Installed& current() {
  if (const Installed* installed = g_installed.load(std::memory_order_acquire)) return *installed;
  std::lock_guard lock(g_install_mutex);
  if (const Installed* installed = g_installed.load(std::memory_order_acquire)) return *installed;
  auto logger = std::make_shared<spdlog::logger>("keel", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(spdlog::level::info);
  return *install_locked(std::move(logger), Format::Text);
}

bool local_enabled(Level level) { return current().logger->should_log(to_spdlog(level)); }

void local_event(Level level, std::string_view message, const nlohmann::ordered_json& fields) {
  const Installed& to = current();
  if (!to.logger->should_log(to_spdlog(level))) return;
  const std::string now = timeutil::rfc3339(std::chrono::system_clock::now());
  std::string line = format_line(to.format, level, message, fields);
  if (to.format == Format::Json)
    line = fmt::format("{{\"time\":\"{}\",{}", now, line.substr(1));  // time first, for readers
  else
    line = fmt::format("{} {}", now, line);
  to.logger->log(to_spdlog(level), line);
}

// Keeps lines in a string (Capture).
class StringSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    text_.append(msg.payload.data(), msg.payload.size());
    text_ += '\n';
  }
  void flush_() override {}

 private:
  std::string text_;
};

}  // namespace

Status setup_from_env(const char* program) {
  std::shared_ptr<spdlog::sinks::sink> sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  std::vector<std::string> problems;  // each said, not only the last
  spdlog::level::level_enum level = spdlog::level::warn;
  if (const char* text = std::getenv("KEEL_LOG"); text && *text) {
    if (auto parsed = level_from_string(text)) level = to_spdlog(*parsed);
    else if (std::string_view(text) == "off") level = spdlog::level::off;
    else problems.push_back(fmt::format("KEEL_LOG={}: not a level (debug, info, warn, error, off)", text));
  }
  if (const char* path = std::getenv("KEEL_LOG_FILE"); path && *path) {
    auto file = files::AppendFile::open(path, 0600);
    if (file) sink = std::make_shared<AppendFileSink>(std::move(*file));
    else problems.push_back(file.error().with_context("KEEL_LOG_FILE").message());
  }
  auto logger = std::make_shared<spdlog::logger>(program, std::move(sink));
  logger->set_level(level);
  install(std::move(logger), Format::Text);
  if (!problems.empty()) return fail(ErrorCode::InvalidConfig, fmt::format("{}", fmt::join(problems, "; ")));
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
  auto logger = std::make_shared<spdlog::logger>("keel", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(to_spdlog(level));
  install(std::move(logger), format);
}

void setup_silent() {
  auto logger = std::make_shared<spdlog::logger>("keel", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(spdlog::level::off);
  install(std::move(logger), Format::Text);
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
  if (g_has_target.load(std::memory_order_acquire)) return g_target.event(level, message, fields);
  local_event(level, message, fields);
}

bool enabled(Level level) {
  if (g_has_target.load(std::memory_order_acquire)) return g_target.enabled(level);
  return local_enabled(level);
}

Target this_log() { return {&enabled, &event}; }

void write_log_to(const Target& target) {
  // Its own functions: this binary would call itself for ever.
  if (target.event == &event) return;
  g_target = target;
  g_has_target.store(true, std::memory_order_release);
}

struct Capture::State {
  std::shared_ptr<StringSink> sink = std::make_shared<StringSink>();
  const Installed* previous = nullptr;
};

Capture::Capture(Level level) : state_(new State) {
  state_->previous = &current();
  auto logger = std::make_shared<spdlog::logger>("test", state_->sink);
  logger->set_level(to_spdlog(level));
  install(std::move(logger), Format::Text);
}

Capture::~Capture() {
  {
    std::lock_guard lock(g_install_mutex);
    g_installed.store(state_->previous, std::memory_order_release);
  }
  delete state_;
}

std::string Capture::text() const {
  // Without the time event() puts first: what format_line makes.
  std::string out;
  const std::string all = state_->sink->text();
  for (size_t start = 0; start < all.size();) {
    size_t end = all.find('\n', start);
    if (end == std::string::npos) end = all.size();
    std::string_view line(all.data() + start, end - start);
    if (auto space = line.find(' '); space != std::string_view::npos) line.remove_prefix(space + 1);
    out.append(line);
    out += '\n';
    start = end + 1;
  }
  return out;
}

}  // namespace keel::logging

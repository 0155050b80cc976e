#include "cli/providers/local/redis.h"

#include <signal.h>

#include <charconv>

#include <fmt/format.h>

#include "core/crypto.h"
#include "core/files.h"

namespace keel::providers::local {

namespace {

using namespace std::chrono_literals;

constexpr const char* kNeeds = "local caches need Redis";
constexpr const char* kProgram = "redis-server";
constexpr std::size_t kPasswordLength = 24;

std::string config_path(const std::string& dir) { return join(dir, "redis.conf"); }
std::string pid_path(const std::string& dir) { return join(dir, "redis.pid"); }
std::string log_path(const std::string& dir) { return join(dir, "redis.log"); }

// A double-quoted value for redis.conf (its parser understands \" and \\).
std::string quoted(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string config_text(const Instance& instance) {
  const std::string& dir = instance.dir;
  return fmt::format(
      "# Written by keel's local provider. It holds the password: keep it 0600.\n"
      "bind 127.0.0.1\n"
      "port {}\n"
      "protected-mode yes\n"
      "save \"\"\n"
      "appendonly no\n"
      "dir {}\n"
      "daemonize yes\n"
      "pidfile {}\n"
      "logfile {}\n"
      "requirepass {}\n",
      instance.port(), quoted(join(dir, "data")), quoted(pid_path(dir)), quoted(log_path(dir)),
      quoted(instance.secrets.value("password", "")));
}

// Redis logs "... pid=1234, just started" first thing: the daemon's pid,
// known before it writes its pid file (which it does only once listening).
std::optional<long> started_pid(const std::string& log) {
  const auto at = log.find("pid=");
  if (at == std::string::npos) return std::nullopt;
  long pid = 0;
  const char* begin = log.data() + at + 4;
  auto [end, error] = std::from_chars(begin, log.data() + log.size(), pid);
  if (error != std::errc() || end == begin) return std::nullopt;
  return pid;
}

std::optional<long> live_pid(const std::string& dir) {
  auto pid = read_pid_file(pid_path(dir));
  if (pid && process::process_alive(*pid, kProgram)) return pid;
  return std::nullopt;
}

// One poll of a starting redis: true once it listens; Conflict when the port
// was taken; another error when it died.
Result<bool> check_start(const std::string& dir, int port, std::size_t log_start) {
  if (live_pid(dir) && process::port_open(port)) return true;
  const std::string log = read_from(log_path(dir), log_start);
  if (log.find("Address already in use") != std::string::npos)
    return fail(ErrorCode::Conflict, fmt::format("port {} on 127.0.0.1 is in use", port));
  auto pid = started_pid(log);
  if (pid && !process::process_alive(*pid, kProgram))
    return fail(ErrorCode::Unavailable, "redis-server exited at start: " + last_lines(log, 10));
  return false;
}

class RedisServer final : public Server {
 public:
  Status plan(const provider::CreateRequest&, Instance& instance) const override {
    if (auto binary = find_binary(kProgram, kNeeds, "redis-server"); !binary) return fail(binary.error());
    instance.facts["engine"] = "redis";
    instance.facts["host"] = "127.0.0.1";
    return {};
  }

  Status init(Instance& instance) const override {
    instance.secrets["password"] = crypto::random_alnum(kPasswordLength);
    return files::make_dirs_inside(instance.dir, join(instance.dir, "data"), 0700);
  }

  Status start(const Instance& instance) const override {
    auto binary = find_binary(kProgram, kNeeds, "redis-server");
    if (!binary) return fail(binary.error());
    const std::string& dir = instance.dir;
    if (auto st = files::write_atomic(config_path(dir), config_text(instance), 0600); !st) return st;
    // A pid file left by a killed redis would pass for the new one.
    if (auto st = files::remove_all(pid_path(dir)); !st) return st;
    const std::size_t log_start = file_size(log_path(dir));
    // The password is in the config file, never in argv.
    auto outcome = process::run_checked(command({*binary, config_path(dir)}, std::nullopt, 30s));
    if (!outcome) return fail(outcome.error());
    const int port = instance.port();
    return wait_for(
        30s, [&] { return check_start(dir, port, log_start); },
        fmt::format("redis-server on 127.0.0.1:{}", port));
  }

  Status stop(const std::string& dir) const override {
    auto pid = live_pid(dir);
    return pid ? stop_process(*pid, kProgram, SIGTERM, 30s) : Status();
  }

  bool running(const Instance& instance) const override {
    return live_pid(instance.dir).has_value() && process::port_open(instance.port());
  }

  provider::Attributes attributes(const Instance& instance) const override {
    const std::string password = instance.secrets.value("password", "");
    provider::Attributes a = Json::object();
    a["engine"] = "redis";
    a["port"] = instance.port();
    a["host"] = "127.0.0.1";
    a["password"] = password;
    // redis-cli 7 refuses an empty user name, so the URI names "default".
    a["uri"] = fmt::format("redis://default:{}@127.0.0.1:{}/0", password, instance.port());
    return a;
  }
};

}  // namespace

std::unique_ptr<Server> make_redis_server() { return std::make_unique<RedisServer>(); }

}  // namespace keel::providers::local

#include "cli/providers/local/memcached.h"

#include <signal.h>

#include <fmt/format.h>

#include "core/files.h"

namespace keel::providers::local {

namespace {

using namespace std::chrono_literals;

constexpr const char* kNeeds = "local caches need Memcached";
constexpr const char* kProgram = "memcached";
// memcached refuses to run as root without -u; `nobody` owns nothing.
constexpr const char* kRootAccount = "nobody";

// memcached writes its pid file after dropping to `nobody`, so the file lives
// in a directory that account owns. When `nobody` cannot reach the project
// (under /root, mode 700), the file is never written; the path, which is
// unique to the resource, still marks the daemon's command line.
std::string run_dir(const std::string& dir) { return join(dir, "run"); }
std::string pid_path(const std::string& dir) { return join(run_dir(dir), "memcached.pid"); }

Result<std::optional<process::UserIds>> server_account() {
  if (!process::running_as_root()) return std::optional<process::UserIds>();
  auto user = process::lookup_user(kRootAccount);
  if (!user) return fail(user.error().with_context("memcached runs as nobody when keel runs as root"));
  return std::optional<process::UserIds>(*user);
}

// The daemon's pid: from its pid file, else from its command line.
std::optional<long> daemon_pid(const std::string& dir) {
  if (auto pid = read_pid_file(pid_path(dir)); pid && process::process_alive(*pid, kProgram)) return pid;
  for (long pid : processes_matching(pid_path(dir))) {
    if (process::process_alive(pid, kProgram)) return pid;
  }
  return std::nullopt;
}

// One poll of a starting memcached: true once it listens. Daemonized, it
// logs nothing, so a daemon that vanished without listening is judged by
// whether someone else holds the port.
Result<bool> check_start(const std::string& dir, int port) {
  if (auto pid = daemon_pid(dir)) return listens_on(*pid, port);
  if (process::port_open(port))
    return fail(ErrorCode::Conflict, fmt::format("port {} on 127.0.0.1 is in use", port));
  return fail(ErrorCode::Unavailable,
              fmt::format("memcached exited at start; run it in the foreground to see why: "
                          "memcached -l 127.0.0.1 -p {} -U 0 -vv",
                          port));
}

class MemcachedServer final : public Server {
 public:
  Status plan(const provider::CreateRequest&, Instance& instance) const override {
    if (auto binary = find_binary(kProgram, kNeeds, "memcached"); !binary) return fail(binary.error());
    if (auto account = server_account(); !account) return fail(account.error());
    instance.facts["engine"] = "memcached";
    instance.facts["host"] = "127.0.0.1";
    return {};
  }

  Status init(Instance& instance) const override {
    auto account = server_account();
    if (!account) return fail(account.error());
    if (auto st = files::make_dirs_inside(instance.dir, run_dir(instance.dir), 0700); !st) return st;
    return *account ? chown_to(run_dir(instance.dir), **account) : Status();
  }

  Status start(const Instance& instance) const override {
    auto binary = find_binary(kProgram, kNeeds, "memcached");
    if (!binary) return fail(binary.error());
    auto account = server_account();
    if (!account) return fail(account.error());
    const std::string& dir = instance.dir;
    // A pid file left by a killed memcached would pass for the new one.
    if (auto st = files::remove_all(pid_path(dir)); !st) return st;
    const int port = instance.port();
    std::vector<std::string> argv = {*binary, "-l", "127.0.0.1", "-p", std::to_string(port),
                                     "-U",    "0",  "-d",        "-P", pid_path(dir)};
    if (*account) argv.insert(argv.end(), {"-u", (*account)->name});
    auto outcome = process::run_checked(command(argv, std::nullopt, 30s));
    if (!outcome) return fail(outcome.error());
    return wait_for(
        15s, [&] { return check_start(dir, port); }, fmt::format("memcached on 127.0.0.1:{}", port));
  }

  Status stop(const std::string& dir) const override {
    auto pid = daemon_pid(dir);
    return pid ? stop_process(*pid, kProgram, SIGTERM, 30s) : Status();
  }

  bool running(const Instance& instance) const override {
    return daemon_pid(instance.dir).has_value() && process::port_open(instance.port());
  }

  provider::Attributes attributes(const Instance& instance) const override {
    provider::Attributes a = Json::object();
    a["engine"] = "memcached";
    a["port"] = instance.port();
    a["host"] = "127.0.0.1";
    a["password"] = nullptr;  // memcached has none
    a["uri"] = fmt::format("memcached://127.0.0.1:{}", instance.port());
    return a;
  }
};

}  // namespace

std::unique_ptr<Server> make_memcached_server() { return std::make_unique<MemcachedServer>(); }

}  // namespace keel::providers::local

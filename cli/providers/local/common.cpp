#include "cli/providers/local/common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include "core/log.h"

#include "core/files.h"
#include "core/json_lines.h"

namespace keel::providers::local {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr const char* kMetaFile = "meta.json";
constexpr const char* kSecretsFile = "secrets.json";
constexpr int kPortTries = 50;
// Records, pid files and log tails are small: a bound on what is read, so
// that nothing under .keel (a link to /dev/zero, a huge file) makes keel
// read without end.
constexpr std::size_t kMaxRecordBytes = 1 << 20;
constexpr std::size_t kMaxPidFileBytes = 4096;
constexpr std::size_t kMaxLogTail = 256 * 1024;

std::optional<Json> read_json_object(const std::string& path) {
  auto text = files::read_regular_file(path, kMaxRecordBytes);
  if (!text || jsonl::json_depth(*text, jsonl::kMaxDepth) > jsonl::kMaxDepth) return std::nullopt;
  Json value = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) return std::nullopt;
  return value;
}

bool is_string_field(const Json& object, const char* key) {
  return object.contains(key) && object[key].is_string();
}

bool is_zombie(long pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // gone
  // The state follows the command name in parentheses, which may hold spaces.
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] == 'Z';
}

}  // namespace

Result<int> PortPool::take() const {
  for (int i = 0; i < kPortTries; ++i) {
    auto port = process::free_local_port();
    if (!port) return port;
    std::lock_guard lock(mutex_);
    if (taken_.insert(*port).second) return *port;
  }
  return fail(ErrorCode::Unavailable, "no free TCP port on 127.0.0.1");
}

int Instance::port() const {
  auto it = facts.find("port");
  return it != facts.end() && it->is_number_integer() ? it->get<int>() : 0;
}

// --- names and places ---

Result<std::string> resource_name(const std::string& address, char index_separator) {
  // The kind prefix ends at the last dot before any index.
  const std::string head = address.substr(0, address.find('['));
  const auto dot = head.rfind('.');
  const std::string name = dot == std::string::npos ? address : address.substr(dot + 1);
  std::string out;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')
      out += c;
    else if (c == '[')
      out += index_separator;
    else if (c != ']')
      out += '_';
  }
  if (out.empty() || out.front() == '-')
    return fail(ErrorCode::InvalidConfig, fmt::format("cannot derive a name from address '{}'", address));
  return out;
}

Result<std::string> resource_dir(const Context& context, const std::string& kind,
                                 const std::string& address) {
  auto name = resource_name(address, '-');
  if (!name) return fail(name.error());
  const std::string dir = join(join(join(context.work_dir, "local"), kind), *name);
  if (auto st = check_resource_dir(context, dir); !st) return fail(st.error());
  return dir;
}

Status check_resource_dir(const Context& context, const std::string& dir) {
  if (files::exists_no_follow(context.work_dir)) {
    if (auto st = files::check_private_dir(context.work_dir); !st) return st;
  }
  return files::check_dirs_inside(context.work_dir, dir);
}

std::string join(const std::string& dir, const std::string& name) { return (fs::path(dir) / name).string(); }

// --- records ---

std::optional<Instance> load_instance(const std::string& dir) {
  auto meta = read_json_object(join(dir, kMetaFile));
  auto secrets = read_json_object(join(dir, kSecretsFile));
  if (!meta || !secrets) return std::nullopt;
  for (const char* key : {"project", "address", "kind"})
    if (!is_string_field(*meta, key)) return std::nullopt;
  Instance instance;
  instance.dir = dir;
  instance.kind = (*meta)["kind"].get<std::string>();
  instance.tags = {(*meta)["project"].get<std::string>(), (*meta)["address"].get<std::string>()};
  for (const char* key : {"project", "address", "kind"}) meta->erase(key);
  instance.facts = std::move(*meta);
  instance.secrets = std::move(*secrets);
  return instance;
}

Status save_instance(const Instance& instance) {
  // Secrets first: a complete meta.json promises that secrets.json is there.
  if (auto st = files::write_atomic(join(instance.dir, kSecretsFile), instance.secrets.dump(2) + "\n", 0600);
      !st)
    return st;
  Json meta = instance.facts;
  meta["project"] = instance.tags.project;
  meta["address"] = instance.tags.address;
  meta["kind"] = instance.kind;
  return files::write_atomic(join(instance.dir, kMetaFile), meta.dump(2) + "\n", 0644);
}

Status clear_for_create(const std::string& dir, const std::string& kind, const provider::ResourceTags& tags,
                        const std::function<void(const std::string& dir)>& stop_leftovers) {
  if (!files::exists(dir)) return {};
  if (auto existing = load_instance(dir)) {
    // A complete resource is never wiped by create: it may hold data.
    if (existing->tags.project == tags.project && existing->tags.address == tags.address &&
        existing->kind == kind)
      return fail(ErrorCode::Conflict, fmt::format("{} already exists in {} (not in state); adopt it with "
                                                   "`keel state import {} {}` or delete that directory",
                                                   tags.address, dir, tags.address, dir));
    return fail(ErrorCode::Conflict, fmt::format("{} is taken by {} of project '{}'", dir,
                                                 existing->tags.address, existing->tags.project));
  }
  logging::debug(fmt::runtime("local: wiping the leftover of an interrupted create in {}"), dir);
  stop_leftovers(dir);
  // A process we could not see (already exiting) may still delete files
  // under us: a vanished entry is not a failure, so try again.
  Status removed = files::remove_all(dir);
  for (int attempt = 0; !removed && files::exists(dir) && attempt < 5; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    removed = files::remove_all(dir);
  }
  if (!files::exists(dir)) return {};
  return removed;
}

Status check_removable(const Context& context, const std::string& kind, const std::string& dir) {
  const fs::path path = fs::path(dir).lexically_normal();
  const fs::path home = (fs::path(context.work_dir) / "local" / kind).lexically_normal();
  // Under our tree, and reached through no link: remove_all would follow a
  // linked .keel/local into someone else's files.
  if (path.is_absolute() && path.parent_path() == home) return check_resource_dir(context, path.string());
  auto instance = load_instance(dir);
  if (instance && instance->kind == kind) return {};
  return fail(ErrorCode::InvalidConfig,
              fmt::format("refusing to delete {}: it is not a local {} resource directory", dir, kind));
}

std::optional<Instance> find_instance(const Context& context, const provider::FindRequest& request) {
  if (!request.id.empty()) {
    auto instance = load_instance(request.id);
    if (!instance || instance->kind != request.kind) return std::nullopt;
    return instance;
  }
  auto dir = resource_dir(context, request.kind, request.tags.address);
  if (!dir) return std::nullopt;
  auto instance = load_instance(*dir);
  const std::string project = request.tags.project.empty() ? context.project : request.tags.project;
  if (!instance || instance->kind != request.kind || instance->tags.project != project ||
      instance->tags.address != request.tags.address)
    return std::nullopt;
  return instance;
}

// --- settings ---

Result<std::string> string_setting(const Json& config, const std::string& key, const std::string& fallback) {
  if (!config.is_object() || !config.contains(key) || config[key].is_null()) return fallback;
  if (!config[key].is_string()) return fail(ErrorCode::InvalidConfig, key + " must be a string");
  return config[key].get<std::string>();
}

Result<bool> bool_setting(const Json& config, const std::string& key, bool fallback) {
  if (!config.is_object() || !config.contains(key) || config[key].is_null()) return fallback;
  if (!config[key].is_boolean()) return fail(ErrorCode::InvalidConfig, key + " must be true or false");
  return config[key].get<bool>();
}

Result<std::optional<int>> port_setting(const Json& config) {
  if (!config.is_object() || !config.contains("port") || config["port"].is_null())
    return std::optional<int>();
  const Json& value = config["port"];
  if (!value.is_number_integer() || value.get<long long>() < 1 || value.get<long long>() > 65535)
    return fail(ErrorCode::InvalidConfig, "port must be an integer from 1 to 65535");
  return std::optional<int>(value.get<int>());
}

// --- processes ---

std::string missing_package_message(const std::string& needed_by, const std::string& what,
                                    const std::string& package) {
  return fmt::format("{}: {} not found; install the Debian package {} (apt-get install {})", needed_by, what,
                     package, package);
}

Result<std::string> find_binary(const std::string& program, const std::string& needed_by,
                                const std::string& package) {
  std::string path = process::which(program);
  if (path.empty()) return fail(ErrorCode::Unavailable, missing_package_message(needed_by, program, package));
  return path;
}

process::Options command(std::vector<std::string> argv, const std::optional<process::UserIds>& account,
                         std::chrono::milliseconds timeout) {
  process::Options options;
  options.argv = std::move(argv);
  options.cwd = "/";
  options.timeout = timeout;
  if (account) {
    options.run_as = *account;
    options.env["HOME"] = account->home.empty() ? "/" : account->home;
    options.env["USER"] = account->name;
    options.env["LOGNAME"] = account->name;
  }
  return options;
}

Status chown_to(const std::string& path, const process::UserIds& account) {
  // lchown: a link planted where keel expects its own file must not hand
  // the link's target to the account.
  if (::lchown(path.c_str(), account.uid, account.gid) != 0)
    return fail(ErrorCode::PermissionDenied,
                fmt::format("chown {} to {}: {}", path, account.name, std::strerror(errno)));
  return {};
}

std::optional<long> read_pid_file(const std::string& path) {
  auto text = files::read_regular_file(path, kMaxPidFileBytes);
  if (!text) return std::nullopt;
  long pid = 0;
  const char* begin = text->data();
  while (begin < text->data() + text->size() && std::isspace(static_cast<unsigned char>(*begin))) ++begin;
  auto [end, error] = std::from_chars(begin, text->data() + text->size(), pid);
  if (error != std::errc() || end == begin || pid <= 0) return std::nullopt;
  return pid;
}

std::vector<long> processes_matching(const std::string& part) {
  std::vector<long> pids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    long pid = 0;
    auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (error != std::errc() || end != name.data() + name.size()) continue;
    // A process that exits while we read fails the read (ESRCH); an
    // istreambuf_iterator would throw it out of libstdc++'s filebuf.
    auto cmdline = files::read_file((entry.path() / "cmdline").string());
    if (cmdline && cmdline->find(part) != std::string::npos && !is_zombie(pid)) pids.push_back(pid);
  }
  return pids;
}

namespace {

// Processes working inside `path`: by their current directory. PostgreSQL's
// bootstrap backends, started by initdb, name no directory in their argv but
// chdir into the data directory.
std::vector<long> processes_inside(const std::string& path) {
  std::vector<long> pids;
  std::error_code ec;
  std::string prefix = path.back() == '/' ? path : path + "/";
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    long pid = 0;
    auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (error != std::errc() || end != name.data() + name.size()) continue;
    std::error_code link_ec;
    std::string cwd = fs::read_symlink(entry.path() / "cwd", link_ec).string() + "/";
    if (!link_ec && cwd.rfind(prefix, 0) == 0) pids.push_back(pid);
  }
  return pids;
}

}  // namespace

void kill_processes_using(const std::vector<std::string>& paths) {
  std::set<long> pids;
  for (const auto& path : paths) {
    for (long pid : processes_matching(path)) pids.insert(pid);
    for (long pid : processes_inside(path)) pids.insert(pid);
  }
  pids.erase(static_cast<long>(getpid()));
  for (long pid : pids) {
    logging::debug(fmt::runtime("local: killing leftover process {}"), pid);
    kill(static_cast<pid_t>(pid), SIGKILL);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (long pid : pids)
    while (process::process_alive(pid) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

bool listens_on(long pid, int port) {
  // /proc/net/tcp: "sl local_address rem_address st ... inode", with the
  // address as hex "0100007F:1F90" and st 0A meaning LISTEN.
  std::set<std::string> inodes;
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  const std::string port_suffix = fmt::format(":{:04X}", port);
  while (std::getline(tcp, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    if (state == "0A" && local.size() > port_suffix.size() && local.ends_with(port_suffix))
      inodes.insert("socket:[" + inode + "]");
  }
  std::error_code ec;
  for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    auto target = fs::read_symlink(fd.path(), ec);
    if (!ec && inodes.count(target.string())) return true;
  }
  return false;
}

Status stop_process(long pid, const std::string& name, int signal, std::chrono::milliseconds timeout) {
  // A daemon we did not start ourselves is reaped by init late, so a zombie
  // counts as gone.
  auto gone = [&]() -> Result<bool> { return !process::process_alive(pid, name) || is_zombie(pid); };
  if (*gone()) return {};
  if (::kill(static_cast<pid_t>(pid), signal) != 0 && errno != ESRCH)
    return fail(ErrorCode::PermissionDenied,
                fmt::format("signal {} ({}): {}", name, pid, std::strerror(errno)));
  if (wait_for(timeout, gone, name + " to stop")) return {};
  logging::debug(fmt::runtime("local: {} ({}) ignored signal {}; killing it"), name, pid, signal);
  ::kill(static_cast<pid_t>(pid), SIGKILL);
  return wait_for(5s, gone, name + " to die");
}

Status wait_for(std::chrono::milliseconds timeout, const std::function<Result<bool>()>& ready,
                const std::string& what) {
  const auto start = std::chrono::steady_clock::now();
  auto pause = 5ms;
  while (true) {
    auto done = ready();
    if (!done) return fail(done.error());
    if (*done) return {};
    if (std::chrono::steady_clock::now() - start >= timeout)
      return fail(ErrorCode::Timeout,
                  fmt::format("gave up waiting for {} after {} s", what,
                              std::chrono::duration_cast<std::chrono::seconds>(timeout).count()));
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::milliseconds>(pause * 2, 100ms);
  }
}

// --- logs ---

std::size_t file_size(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::size_t>(size);
}

std::string read_from(const std::string& path, std::size_t offset) {
  // Only the end matters (for an error message), and a log can be large:
  // at most the last kMaxLogTail bytes, from a regular file only.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return "";
  struct stat st {};
  std::string text;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<std::size_t>(st.st_size) > offset) {
    const std::size_t size = static_cast<std::size_t>(st.st_size);
    const std::size_t from = std::max(offset, size > kMaxLogTail ? size - kMaxLogTail : 0);
    text.resize(size - from);
    ssize_t n = ::pread(fd, text.data(), text.size(), static_cast<off_t>(from));
    text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  }
  ::close(fd);
  return text;
}

std::string last_lines(const std::string& text, std::size_t n) {
  std::size_t end = text.size();
  while (end > 0 && text[end - 1] == '\n') --end;
  std::size_t begin = end;
  for (std::size_t lines = 0; begin > 0; --begin) {
    if (text[begin - 1] == '\n' && ++lines == n) break;
  }
  return text.substr(begin, end - begin);
}

}  // namespace keel::providers::local

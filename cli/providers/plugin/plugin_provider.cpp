#include "cli/providers/plugin/plugin_provider.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/process.h"
#include "core/provider_json.h"

namespace keel::providers {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr auto kHandshakeTimeout = 10s;
constexpr auto kExitGrace = 2s;  // after shutdown, or after stdout closed
// After a failed write the reader learns within moments how the plugin ended;
// this bounds the wait for a plugin that closed stdin but lives on.
constexpr auto kAfterWriteFailure = 5s;
// Requests count from 1; the destructor's `shutdown` uses 0.
constexpr int64_t kShutdownId = 0;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string excerpt(const std::string& line) {
  return line.size() <= 200 ? line : line.substr(0, 200) + "...";
}

// Splits a pipe into lines. Stops at end of stream, or when `wake_fd` turns
// readable and nothing is left to read (the owner shutting down while a
// grandchild still holds the pipe open).
class LineReader {
 public:
  LineReader(int fd, int wake_fd) : fd_(fd), wake_fd_(wake_fd) {}

  std::optional<std::string> next() {
    for (;;) {
      if (size_t nl = buffer_.find('\n', scanned_); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        scanned_ = 0;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
      scanned_ = buffer_.size();
      if (done_) {
        if (buffer_.empty()) return std::nullopt;
        scanned_ = 0;
        return std::exchange(buffer_, {});  // a last line without '\n'
      }
      fill();
    }
  }

 private:
  void fill() {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno != EINTR) done_ = true;
      return;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char chunk[65536];
      ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        done_ = true;
      }
      return;
    }
    if (fds[1].revents) done_ = true;
  }

  int fd_, wake_fd_;
  std::string buffer_;
  size_t scanned_ = 0;  // bytes of buffer_ known to hold no '\n'
  bool done_ = false;
};

// Has the child exited? Peeks without reaping (WNOWAIT), so that Child::wait
// stays the one place that reaps it and never races a kill on a reused pid.
bool has_exited(long pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return errno == ECHILD;
  return info.si_pid == static_cast<pid_t>(pid);
}

}  // namespace

// --- Connection ---------------------------------------------------------------

// A JSON-RPC client over the plugin's pipes. Requests from any thread; one
// reader thread completes them (and relays progress); one thread forwards
// the plugin's stderr to the debug log.
class PluginProvider::Connection {
 public:
  Connection(process::Child child, std::string name);
  ~Connection();

  // Sends a request and waits for its answer: the whole response message
  // ({"result": ...} or {"error": ...}). Transport failures are errors.
  Result<json> call(const std::string& method, json params, provider::ProgressFn progress,
                    const std::string& what, std::optional<std::chrono::milliseconds> timeout = {});
  // Ends a plugin that does not answer (SIGKILL).
  void kill_now();

  const std::string& name() const { return name_; }
  long pid() const { return pid_; }

 private:
  struct Pending {
    std::promise<Result<json>> promise;
    provider::ProgressFn progress;
    std::string what;  // "create files.a", for error messages
  };

  Status send(const json& message);
  void send_shutdown();
  void forget(int64_t id);
  void read_stdout();
  void read_stderr();
  void on_line(const std::string& line);
  void on_progress(const json& params);
  void on_response(const json& message, const std::string& line);
  void on_stdout_closed();
  process::Outcome await_exit();
  void fail_all(ErrorCode code, const std::string& reason);
  std::string who() const { return fmt::format("provider plugin {} (pid {})", name_, pid_); }

  process::Child child_;
  const std::string name_;
  const long pid_;
  int wake_[2] = {-1, -1};  // written once by the destructor to stop the threads

  std::mutex write_mutex_;  // one message at a time on the plugin's stdin
  std::mutex mutex_;        // guards everything below, and kill vs reap
  std::condition_variable exited_cv_;
  std::map<int64_t, Pending> pending_;
  int64_t next_id_ = 1;
  std::optional<Error> broken_;  // why the plugin can take no more requests
  bool exited_ = false;          // reaped
  bool stopping_ = false;        // we asked it to stop: its exit is expected

  std::thread stdout_thread_, stderr_thread_;
};

PluginProvider::Connection::Connection(process::Child child, std::string name)
    : child_(std::move(child)), name_(std::move(name)), pid_(child_.pid()) {
  if (::pipe2(wake_, O_CLOEXEC) != 0) wake_[0] = wake_[1] = -1;
  stdout_thread_ = std::thread([this] { read_stdout(); });
  stderr_thread_ = std::thread([this] { read_stderr(); });
}

PluginProvider::Connection::~Connection() {
  bool exited;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    exited = exited_;
  }
  if (!exited) send_shutdown();
  {
    std::lock_guard lock(write_mutex_);
    child_.close_stdin();  // EOF also tells the plugin to stop
  }
  {
    std::unique_lock lock(mutex_);
    if (!exited_cv_.wait_for(lock, kExitGrace, [this] { return exited_; })) child_.kill(SIGKILL);
  }
  if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
  stdout_thread_.join();
  stderr_thread_.join();
  for (int fd : wake_)
    if (fd >= 0) ::close(fd);
}

Result<json> PluginProvider::Connection::call(const std::string& method, json params,
                                               provider::ProgressFn progress, const std::string& what,
                                               std::optional<std::chrono::milliseconds> timeout) {
  std::future<Result<json>> answer;
  int64_t id;
  {
    std::lock_guard lock(mutex_);
    if (broken_) return fail(broken_->code(), broken_->message() + "; cannot " + what);
    id = next_id_++;
    Pending& p = pending_[id];
    p.progress = std::move(progress);
    p.what = what;
    answer = p.promise.get_future();
  }
  json message{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
  if (auto sent = send(message); !sent) {
    // Most likely the plugin just died: the reader will say how, if we wait.
    if (answer.wait_for(kAfterWriteFailure) != std::future_status::ready) {
      forget(id);
      return fail(ErrorCode::Unavailable, fmt::format("cannot send {} to {}: {}", what, who(), sent.error().message()));
    }
  } else if (timeout && answer.wait_for(*timeout) != std::future_status::ready) {
    forget(id);
    return fail(ErrorCode::Timeout, fmt::format("{} did not answer {} within {} s", who(), what,
                                                std::chrono::duration_cast<std::chrono::seconds>(*timeout).count()));
  }
  return answer.get();
}

void PluginProvider::Connection::kill_now() {
  std::lock_guard lock(mutex_);
  if (!exited_) child_.kill(SIGKILL);
}

Status PluginProvider::Connection::send(const json& message) {
  const std::string line = dump(message) + "\n";
  std::lock_guard lock(write_mutex_);
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(child_.stdin_fd(), line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    // SIGPIPE is ignored (process::Child::start sees to it): a dead plugin is EPIPE here.
    if (n < 0) return fail(ErrorCode::Unavailable, std::string("write: ") + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return {};
}

// Best effort and never blocking: a plugin that stopped reading its stdin
// must not hang keel's exit; the kill after the grace period ends it anyway.
void PluginProvider::Connection::send_shutdown() {
  const std::string line = dump(json{{"jsonrpc", "2.0"}, {"id", kShutdownId}, {"method", "shutdown"}}) + "\n";
  std::lock_guard lock(write_mutex_);
  const int fd = child_.stdin_fd();
  if (fd < 0) return;
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  (void)!::write(fd, line.data(), line.size());
}

void PluginProvider::Connection::forget(int64_t id) {
  std::lock_guard lock(mutex_);
  pending_.erase(id);
}

void PluginProvider::Connection::read_stderr() {
  LineReader reader(child_.stderr_fd(), wake_[0]);
  while (auto line = reader.next()) spdlog::debug("{}: {}", name_, *line);
}

void PluginProvider::Connection::read_stdout() {
  LineReader reader(child_.stdout_fd(), wake_[0]);
  while (auto line = reader.next()) {
    if (!line->empty()) on_line(*line);
  }
  on_stdout_closed();
}

void PluginProvider::Connection::on_line(const std::string& line) {
  {
    std::lock_guard lock(mutex_);
    if (broken_) return;  // keep draining so the plugin never blocks on a full pipe
  }
  json message = json::parse(line, nullptr, false);
  if (message.is_discarded() || !message.is_object() || message.value("jsonrpc", json()) != "2.0") {
    fail_all(ErrorCode::Protocol, fmt::format("{} sent a line that is not JSON-RPC 2.0: {}", who(), excerpt(line)));
    return;
  }
  auto method = message.find("method");
  if (method == message.end()) return on_response(message, line);
  if (*method == "progress") return on_progress(message.value("params", json()));
  spdlog::debug("{}: ignoring notification {}", name_, dump(*method));  // newer plugin, older keel
}

void PluginProvider::Connection::on_progress(const json& params) {
  if (!params.is_object() || !params.value("id", json()).is_number_integer()) return;
  provider::ProgressFn progress;
  {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(params["id"].get<int64_t>());
    if (it == pending_.end() || !it->second.progress) return;
    progress = it->second.progress;
  }
  const json text = params.value("message", json());
  try {
    progress(text.is_string() ? text.get<std::string>() : dump(text));
  } catch (const std::exception& e) {
    spdlog::warn("{}: progress handler failed: {}", name_, e.what());
  }
}

void PluginProvider::Connection::on_response(const json& message, const std::string& line) {
  const json id = message.value("id", json());
  if (!id.is_number_integer()) {
    // An answer to no request of ours (e.g. "parse error" with id null): the
    // stream can no longer be trusted.
    fail_all(ErrorCode::Protocol, fmt::format("{} answered no request: {}", who(), excerpt(line)));
    return;
  }
  std::optional<Pending> pending;
  {
    std::lock_guard lock(mutex_);
    if (id.get<int64_t>() == kShutdownId) return;  // nobody waits for that answer
    auto it = pending_.find(id.get<int64_t>());
    if (it == pending_.end()) {
      spdlog::warn("{}: answer to unknown request {} ignored", name_, dump(id));
      return;
    }
    pending.emplace(std::move(it->second));
    pending_.erase(it);
  }
  if (message.contains("result") == message.contains("error")) {
    pending->promise.set_value(fail(ErrorCode::Protocol, fmt::format("{} answered {} with neither a result nor an error: {}",
                                                                     who(), pending->what, excerpt(line))));
    return;
  }
  pending->promise.set_value(message);
}

void PluginProvider::Connection::on_stdout_closed() {
  const process::Outcome outcome = await_exit();
  bool expected;
  {
    std::lock_guard lock(mutex_);
    expected = stopping_;
  }
  if (expected) {
    spdlog::debug("{}: {}", who(), outcome.describe());
    fail_all(ErrorCode::Unavailable, fmt::format("{} was stopped", who()));
    return;
  }
  const std::string reason = fmt::format("{} exited unexpectedly ({})", who(), outcome.describe());
  spdlog::warn("{}", reason);
  fail_all(ErrorCode::Unavailable, reason);
}

// Its stdout closed: the plugin is ending (or ended). Waits for that, kills it
// if it lingers, then reaps it for the exit status.
process::Outcome PluginProvider::Connection::await_exit() {
  const auto deadline = std::chrono::steady_clock::now() + kExitGrace;
  bool killed = false;
  while (!has_exited(pid_)) {
    if (!killed && std::chrono::steady_clock::now() >= deadline) {
      std::lock_guard lock(mutex_);
      child_.kill(SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(5ms);
  }
  std::lock_guard lock(mutex_);
  process::Outcome outcome = child_.wait();  // a zombie by now: returns at once
  exited_ = true;
  exited_cv_.notify_all();
  return outcome;
}

// Fails every pending request with `reason` ("... during create files.a"),
// and every later one (the first reason wins: it is the root cause).
void PluginProvider::Connection::fail_all(ErrorCode code, const std::string& reason) {
  std::map<int64_t, Pending> failed;
  {
    std::lock_guard lock(mutex_);
    if (!broken_) broken_ = Error(code, reason);
    failed.swap(pending_);
  }
  if (code == ErrorCode::Protocol) spdlog::error("{}", reason);
  for (auto& [id, p] : failed) p.promise.set_value(fail(code, reason + " during " + p.what));
}

// --- PluginProvider --------------------------------------------------------------

namespace {

using Connection = PluginProvider::Connection;

// The `result` of a call, or the plugin's error with the plugin named.
Result<json> call_result(Connection& c, const std::string& method, json params, provider::ProgressFn progress,
                         const std::string& what) {
  auto reply = c.call(method, std::move(params), std::move(progress), what);
  if (!reply) return fail(reply.error());
  if (auto e = reply->find("error"); e != reply->end()) return fail(provider::error_from_json(*e).with_context(c.name()));
  return reply->at("result");
}

template <typename T>
Result<T> decode(Connection& c, const Result<json>& result, Result<T> (*parse)(const json&)) {
  if (!result) return fail(result.error());
  auto decoded = parse(*result);
  if (!decoded) return fail(decoded.error().with_context(fmt::format("provider plugin {} answered badly", c.name())));
  return decoded;
}

Status as_status(const Result<json>& result) {
  if (!result) return fail(result.error());
  return {};
}

std::string version_error(const std::string& name, int theirs) {
  return fmt::format("provider plugin {} speaks protocol version {}, keel speaks {}", name, theirs,
                     provider::kProtocolVersion);
}

std::string base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

PluginProvider::PluginProvider(std::unique_ptr<Connection> connection) : connection_(std::move(connection)) {}

PluginProvider::~PluginProvider() = default;

Result<std::unique_ptr<PluginProvider>> PluginProvider::start(const std::string& executable_path,
                                                              const std::string& plugin_name,
                                                              std::map<std::string, std::string> extra_env) {
  const std::string name = plugin_name.empty() ? base_name(executable_path) : plugin_name;
  // In a process group of its own: a Ctrl-C at the terminal reaches keel,
  // which lets the operations in flight finish, and not the plugin running them.
  auto child = process::Child::start({{executable_path}, std::move(extra_env), /*new_process_group=*/true});
  if (!child) return fail(child.error().with_context("start provider plugin " + name));
  std::unique_ptr<PluginProvider> plugin(new PluginProvider(std::make_unique<Connection>(std::move(*child), name)));
  if (auto shaken = plugin->handshake(); !shaken) {
    // A plugin that never answered will not heed `shutdown` either.
    if (shaken.error().code() == ErrorCode::Timeout) plugin->connection_->kill_now();
    return fail(shaken.error());
  }
  return plugin;
}

Status PluginProvider::handshake() {
  Connection& c = *connection_;
  json params{{"protocol_version", provider::kProtocolVersion}, {"keel_version", KEEL_VERSION}};
  auto reply = c.call("handshake", std::move(params), nullptr, "handshake", kHandshakeTimeout);
  if (!reply) return fail(reply.error());
  if (auto e = reply->find("error"); e != reply->end()) {
    // A plugin of another version refuses and says which one it speaks.
    const json data = e->is_object() ? e->value("data", json()) : json();
    const json theirs = data.is_object() ? data.value("protocol_version", json()) : json();
    if (theirs.is_number_integer() && theirs.get<int>() != provider::kProtocolVersion)
      return fail(ErrorCode::Protocol, version_error(c.name(), theirs.get<int>()));
    return fail(provider::error_from_json(*e).with_context(fmt::format("provider plugin {} handshake", c.name())));
  }
  const json& result = reply->at("result");
  const json version = result.is_object() ? result.value("protocol_version", json()) : json();
  if (!version.is_number_integer())
    return fail(ErrorCode::Protocol, fmt::format("provider plugin {} handshake: no protocol_version", c.name()));
  if (version.get<int>() != provider::kProtocolVersion)
    return fail(ErrorCode::Protocol, version_error(c.name(), version.get<int>()));
  auto schema = provider::provider_schema_from_json(result.value("schema", json()));
  if (!schema) return fail(schema.error().with_context(fmt::format("provider plugin {} handshake", c.name())));
  schema_ = std::move(*schema);
  return {};
}

const std::string& PluginProvider::plugin_name() const { return connection_->name(); }
long PluginProvider::pid() const { return connection_->pid(); }

Status PluginProvider::configure(const provider::ConfigureRequest& request) {
  return as_status(call_result(*connection_, "configure", provider::to_json(request), nullptr, "configure"));
}

Result<provider::CreateResponse> PluginProvider::create(const provider::CreateRequest& request) {
  const std::string what = "create " + (request.tags.address.empty() ? request.kind : request.tags.address);
  return decode(*connection_, call_result(*connection_, "create", provider::to_json(request), request.progress, what),
                provider::create_response_from_json);
}

Result<provider::ReadResponse> PluginProvider::read(const provider::ReadRequest& request) {
  const std::string what = "read " + request.kind + " " + request.id;
  return decode(*connection_, call_result(*connection_, "read", provider::to_json(request), request.progress, what),
                provider::read_response_from_json);
}

Result<provider::UpdateResponse> PluginProvider::update(const provider::UpdateRequest& request) {
  const std::string what = "update " + (request.tags.address.empty() ? request.kind + " " + request.id : request.tags.address);
  return decode(*connection_, call_result(*connection_, "update", provider::to_json(request), request.progress, what),
                provider::update_response_from_json);
}

Status PluginProvider::remove(const provider::DeleteRequest& request) {
  const std::string what = "delete " + request.kind + " " + request.id;
  return as_status(call_result(*connection_, "delete", provider::to_json(request), request.progress, what));
}

Result<provider::FindResponse> PluginProvider::find(const provider::FindRequest& request) {
  const std::string what =
      request.id.empty() ? "find " + request.tags.address : "find " + request.kind + " " + request.id;
  return decode(*connection_, call_result(*connection_, "find", provider::to_json(request), request.progress, what),
                provider::find_response_from_json);
}

// --- find_plugin ------------------------------------------------------------------

namespace {

void append_path_list(std::vector<std::string>& dirs, const char* list) {
  if (!list) return;
  std::string rest = list;
  size_t start = 0;
  while (start <= rest.size()) {
    size_t colon = rest.find(':', start);
    if (colon == std::string::npos) colon = rest.size();
    // An empty entry means "the current directory" to a shell; never here.
    if (colon > start) dirs.push_back(rest.substr(start, colon - start));
    start = colon + 1;
  }
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::string find_plugin(const std::string& type, const std::vector<std::string>& search_dirs) {
  if (type.empty() || type.find('/') != std::string::npos) return {};
  const std::string name = "keel-provider-" + type;
  std::vector<std::string> dirs = search_dirs;
  append_path_list(dirs, std::getenv("KEEL_PLUGIN_PATH"));
  append_path_list(dirs, std::getenv("PATH"));
  for (const auto& dir : dirs) {
    if (dir.empty()) continue;
    const std::string path = dir.back() == '/' ? dir + name : dir + "/" + name;
    if (is_executable_file(path)) return path;
  }
  return {};
}

}  // namespace keel::providers

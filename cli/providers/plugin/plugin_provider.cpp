#include "cli/providers/plugin/plugin_provider.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include "core/log.h"

#include "cli/providers/plugin/messages.h"
#include "core/json_lines.h"
#include "core/process.h"
#include "core/provider_json.h"
#include "core/text.h"
#include "core/time.h"

namespace keel::providers {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kExitGrace = 2s;  // after shutdown, or after stdout closed
// After the plugin exited, how long its stdout may stay open (a child it
// left behind holds it) while keel reads what is left.
constexpr auto kDrainGrace = 1s;
// After a failed write the reader learns within moments how the plugin ended;
// this bounds the wait for a plugin that closed stdin but lives on.
constexpr auto kAfterWriteFailure = 5s;
// Requests count from 1; the destructor's `shutdown` uses 0.
constexpr int64_t kShutdownId = 0;
// The plugin's stderr is its log: lines past this are cut.
constexpr size_t kMaxLogLine = 64 * 1024;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Has the child exited? Peeks without reaping (WNOWAIT), so that Child::wait
// stays the one place that reaps it and never races a kill on a reused pid.
bool has_exited(long pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return errno == ECHILD;
  return info.si_pid == static_cast<pid_t>(pid);
}

int ms_until(Clock::time_point deadline) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(ms, 0, 1 << 30));
}

std::string duration_text(std::chrono::milliseconds d) { return timeutil::format_duration(d); }

}  // namespace

// --- Connection ---------------------------------------------------------------

// A JSON-RPC client over the plugin's pipes. Requests from any thread; one
// reader thread completes them (and relays progress) and watches the
// plugin's exit; one thread forwards the plugin's stderr to the debug log.
class PluginProvider::Connection {
 public:
  Connection(process::Child child, std::string name);
  ~Connection();

  // Sends a request and waits for its answer: the whole response ({"result":
  // ...} or {"error": ...}). Transport failures are errors; a request not
  // answered within `timeout` kills the plugin (Timeout).
  Result<json> call(const std::string& method, json params, provider::ProgressFn progress,
                    provider::WaitingFn waiting, const std::string& what, std::chrono::milliseconds timeout);

  const std::string& name() const { return name_; }
  long pid() const { return pid_; }

 private:
  struct Pending {
    std::promise<Result<json>> promise;
    provider::ProgressFn progress;
    provider::WaitingFn waiting;
    std::string what;  // "create files.a", for error messages
  };

  Status send(const std::string& line, Clock::time_point deadline);
  void send_shutdown();
  void abandon(int64_t id);
  void expire(int64_t id, const std::string& what, std::chrono::milliseconds limit);
  void read_stdout();
  void read_stderr();
  void on_line(const jsonl::LineSplitter::Line& line);
  void on_progress(const plugin::Incoming& message);
  void on_response(plugin::Incoming message);
  void on_stdout_closed();
  process::Outcome await_exit();
  void kill_group();
  void break_off(ErrorCode code, const std::string& reason);
  void fail_all(ErrorCode code, const std::string& reason);
  std::string who() const { return fmt::format("provider plugin {} (pid {})", name_, pid_); }

  process::Child child_;
  const std::string name_;
  const long pid_;
  int pidfd_ = -1;          // readable once the plugin exits; -1: polled instead
  int wake_[2] = {-1, -1};  // written once by the destructor to stop the threads

  std::timed_mutex write_mutex_;  // one message at a time on the plugin's stdin
  std::mutex mutex_;              // guards everything below, and kill vs reap
  std::condition_variable exited_cv_;
  std::map<int64_t, Pending> pending_;
  std::set<int64_t> abandoned_;  // given up on (a failed send): a late answer is fine
  int64_t next_id_ = 1;
  std::optional<Error> broken_;  // why the plugin can take no more requests
  bool exited_ = false;          // reaped
  bool stopping_ = false;        // we asked it to stop: its exit is expected

  std::thread stdout_thread_, stderr_thread_;
};

PluginProvider::Connection::Connection(process::Child child, std::string name)
    : child_(std::move(child)), name_(std::move(name)), pid_(child_.pid()) {
  if (::pipe2(wake_, O_CLOEXEC) != 0) wake_[0] = wake_[1] = -1;
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid_), 0));
  // Writes wait with a deadline (poll) instead of blocking for ever on a
  // plugin that stopped reading.
  const int in = child_.stdin_fd();
  ::fcntl(in, F_SETFL, ::fcntl(in, F_GETFL) | O_NONBLOCK);
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
  if (pidfd_ >= 0) ::close(pidfd_);
}

Result<json> PluginProvider::Connection::call(const std::string& method, json params,
                                               provider::ProgressFn progress, provider::WaitingFn waiting,
                                               const std::string& what, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::future<Result<json>> answer;
  int64_t id;
  {
    std::lock_guard lock(mutex_);
    if (broken_) return fail(broken_->code(), broken_->message() + "; cannot " + what);
    id = next_id_++;
    Pending& p = pending_[id];
    p.progress = std::move(progress);
    p.waiting = std::move(waiting);
    p.what = what;
    answer = p.promise.get_future();
  }
  json message{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
  if (auto sent = send(dump(message) + "\n", deadline); !sent) {
    if (sent.error().code() == ErrorCode::Timeout) {
      expire(id, what, timeout);
      return answer.get();
    }
    // Most likely the plugin just died: the reader will say how, if we wait.
    if (answer.wait_for(kAfterWriteFailure) != std::future_status::ready) {
      abandon(id);
      return fail(ErrorCode::Unavailable, fmt::format("cannot send {} to {}: {}", what, who(), sent.error().message()));
    }
  } else if (answer.wait_until(deadline) != std::future_status::ready) {
    expire(id, what, timeout);
  }
  return answer.get();
}

// Writes one whole message before `deadline`. A plugin that stops reading
// its stdin fills the pipe: then the write waits, but not past the deadline.
Status PluginProvider::Connection::send(const std::string& line, Clock::time_point deadline) {
  std::unique_lock lock(write_mutex_, std::defer_lock);
  if (!lock.try_lock_until(deadline)) return fail(ErrorCode::Timeout, "another request is still being written");
  const int fd = child_.stdin_fd();
  if (fd < 0) return fail(ErrorCode::Unavailable, "its input is closed");
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n >= 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    // SIGPIPE is ignored (process::Child::start sees to it): a dead plugin is EPIPE here.
    if (errno != EAGAIN) return fail(ErrorCode::Unavailable, std::string("write: ") + std::strerror(errno));
    pollfd out{fd, POLLOUT, 0};
    if (Clock::now() >= deadline) return fail(ErrorCode::Timeout, "it does not read its input");
    (void)::poll(&out, 1, ms_until(deadline));
  }
  return {};
}

// Best effort and never blocking: a plugin that stopped reading its stdin
// must not hang keel's exit; the kill after the grace period ends it anyway.
void PluginProvider::Connection::send_shutdown() {
  const std::string line = dump(json{{"jsonrpc", "2.0"}, {"id", kShutdownId}, {"method", "shutdown"}}) + "\n";
  std::unique_lock lock(write_mutex_, std::defer_lock);
  if (!lock.try_lock_for(100ms)) return;  // a write is stuck; the kill will do
  const int fd = child_.stdin_fd();
  if (fd >= 0) (void)!::write(fd, line.data(), line.size());
}

void PluginProvider::Connection::abandon(int64_t id) {
  std::lock_guard lock(mutex_);
  pending_.erase(id);
  abandoned_.insert(id);
}

// Request `id` is past its deadline. The protocol has no way to cancel one
// request, and a plugin that does not answer one may answer none: it is
// killed, this request fails naming itself, and the others fail naming it.
void PluginProvider::Connection::expire(int64_t id, const std::string& what, std::chrono::milliseconds limit) {
  const std::string reason =
      fmt::format("{} did not answer {} within {}; keel killed it", who(), what, duration_text(limit));
  std::optional<Pending> mine;
  {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;  // answered (or failed) just in time
    mine.emplace(std::move(it->second));
    pending_.erase(it);
    // Before the kill: the plugin's death that follows is not the cause.
    if (!broken_)
      broken_ = Error(ErrorCode::Timeout, fmt::format("{} was killed after {} took longer than {}", who(), what,
                                                      duration_text(limit)));
  }
  logging::warn("{}", reason);
  kill_group();
  mine->promise.set_value(fail(ErrorCode::Timeout, reason));
  fail_all(ErrorCode::Timeout, reason);
}

void PluginProvider::Connection::kill_group() {
  std::lock_guard lock(mutex_);
  if (!exited_) child_.kill(SIGKILL);  // the group: the plugin leads its own
}

void PluginProvider::Connection::read_stderr() {
  jsonl::LineSplitter lines(kMaxLogLine);
  auto log = [&] {
    while (auto line = lines.next())
      logging::debug("{}: {}{}", name_, text::printable(line->text), line->overlong ? " ... (line cut: longer than 64 KiB)" : "");
  };
  char chunk[65536];
  for (;;) {
    pollfd fds[2] = {{child_.stderr_fd(), POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) {
      ssize_t n = ::read(child_.stderr_fd(), chunk, sizeof chunk);
      if (n > 0) {
        lines.feed({chunk, static_cast<size_t>(n)});
        log();
        continue;
      }
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      break;
    }
    if (fds[1].revents) break;
  }
  lines.finish();
  log();
}

// Reads messages until the plugin's stdout ends, the owner wakes us, or the
// plugin has exited and its stdout stayed open for kDrainGrace (a child it
// left behind holds it: without this, pending calls would wait for ever).
void PluginProvider::Connection::read_stdout() {
  jsonl::LineSplitter lines(jsonl::kMaxLineBytes);
  auto deliver = [&] {
    while (auto line = lines.next())
      if (!line->text.empty() || line->overlong) on_line(*line);
  };
  std::optional<Clock::time_point> drain_until;
  char chunk[65536];
  for (;;) {
    int wait_ms = drain_until ? ms_until(*drain_until) : (pidfd_ < 0 ? 100 : -1);
    if (drain_until && wait_ms == 0) break;
    // The pidfd stays readable once the plugin exited: watched until then only.
    pollfd fds[3] = {{child_.stdout_fd(), POLLIN, 0}, {wake_[0], POLLIN, 0}, {drain_until ? -1 : pidfd_, POLLIN, 0}};
    int ready = ::poll(fds, 3, wait_ms);
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0 && fds[0].revents) {
      ssize_t n = ::read(child_.stdout_fd(), chunk, sizeof chunk);
      if (n > 0) {
        lines.feed({chunk, static_cast<size_t>(n)});
        deliver();
        continue;
      }
      if (n == 0 || (errno != EINTR && errno != EAGAIN)) break;
      continue;
    }
    if (ready > 0 && fds[1].revents) break;
    const bool exited = pidfd_ >= 0 ? (ready > 0 && fds[2].revents) : has_exited(pid_);
    if (exited && !drain_until) drain_until = Clock::now() + kDrainGrace;
  }
  lines.finish();
  deliver();
  on_stdout_closed();
}

void PluginProvider::Connection::on_line(const jsonl::LineSplitter::Line& line) {
  {
    std::lock_guard lock(mutex_);
    if (broken_) return;  // keep draining so the plugin never blocks on a full pipe
  }
  auto message = plugin::read_incoming(line);
  if (!message) return break_off(ErrorCode::Protocol, who() + " " + message.error().message());
  switch (message->kind) {
    case plugin::Incoming::Kind::Response: return on_response(std::move(*message));
    case plugin::Incoming::Kind::Progress: return on_progress(*message);
    case plugin::Incoming::Kind::Notification:
      logging::debug("{}: ignoring notification {}", name_, message->method);  // newer plugin, older keel
      return;
  }
}

void PluginProvider::Connection::on_progress(const plugin::Incoming& message) {
  provider::ProgressFn progress;
  provider::WaitingFn waiting;
  {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(message.id);
    if (it == pending_.end()) return;
    progress = it->second.progress;
    if (message.waiting) waiting = it->second.waiting;
  }
  try {
    if (waiting) waiting();
    if (progress && !message.progress.empty()) progress(message.progress);
  } catch (const std::exception& e) {
    logging::warn("{}: progress handler failed: {}", name_, e.what());
  }
}

void PluginProvider::Connection::on_response(plugin::Incoming message) {
  std::optional<Pending> pending;
  {
    std::lock_guard lock(mutex_);
    if (message.id == kShutdownId) return;  // nobody waits for that answer
    auto it = pending_.find(message.id);
    if (it == pending_.end()) {
      if (abandoned_.count(message.id)) return;
    } else {
      pending.emplace(std::move(it->second));
      pending_.erase(it);
    }
  }
  if (!pending) {
    // An answer to a request never sent, or sent and answered already: the
    // answers can no longer be matched to the questions.
    return break_off(ErrorCode::Protocol,
                     fmt::format("{} answered request {}, which is not waiting for an answer", who(), message.id));
  }
  if (message.malformed) {
    pending->promise.set_value(
        fail(ErrorCode::Protocol, fmt::format("{} {} (for {})", who(), *message.malformed, pending->what)));
    return;
  }
  json reply = json::object();
  if (message.error) reply["error"] = std::move(*message.error);
  else reply["result"] = std::move(message.result);
  pending->promise.set_value(std::move(reply));
}

void PluginProvider::Connection::on_stdout_closed() {
  const process::Outcome outcome = await_exit();
  bool expected;
  {
    std::lock_guard lock(mutex_);
    expected = stopping_ || broken_;  // we stopped it, or killed it for a reason already given
  }
  if (expected) {
    logging::debug("{}: {}", who(), outcome.describe());
    fail_all(ErrorCode::Unavailable, fmt::format("{} was stopped", who()));
    return;
  }
  const std::string reason = fmt::format("{} exited unexpectedly ({})", who(), outcome.describe());
  logging::warn("{}", reason);
  fail_all(ErrorCode::Unavailable, reason);
}

// Its stdout closed (or it exited and a child of its holds stdout): the
// plugin is ending. Waits for that, kills it if it lingers, ends what it
// left in its process group, then reaps it for the exit status.
process::Outcome PluginProvider::Connection::await_exit() {
  const auto deadline = Clock::now() + kExitGrace;
  bool killed = false;
  while (!has_exited(pid_)) {
    if (!killed && Clock::now() >= deadline) {
      kill_group();
      killed = true;
    }
    std::this_thread::sleep_for(5ms);
  }
  std::lock_guard lock(mutex_);
  // Still a zombie, so its group id cannot have been reused: this reaches
  // only what the plugin left behind.
  child_.kill(SIGKILL);
  process::Outcome outcome = child_.wait();  // a zombie by now: returns at once
  exited_ = true;
  exited_cv_.notify_all();
  return outcome;
}

// A broken protocol: no later answer can be trusted. Every call fails, and
// the plugin is ended rather than left to write into a pipe nobody uses.
void PluginProvider::Connection::break_off(ErrorCode code, const std::string& reason) {
  fail_all(code, reason);
  kill_group();
}

// Fails every pending request with `reason` ("... during create files.a"),
// and every later one (the first reason wins: it is the root cause).
void PluginProvider::Connection::fail_all(ErrorCode code, const std::string& reason) {
  std::map<int64_t, Pending> failed;
  Error cause(code, reason);
  {
    std::lock_guard lock(mutex_);
    if (!broken_) {
      broken_ = cause;
      if (code == ErrorCode::Protocol) logging::error("{}", reason);
    }
    cause = *broken_;
    failed.swap(pending_);
  }
  for (auto& [id, p] : failed) p.promise.set_value(fail(cause.code(), cause.message() + " during " + p.what));
}

// --- PluginProvider --------------------------------------------------------------

namespace {

using Connection = PluginProvider::Connection;

// The `result` of a call, or the plugin's error with the plugin named.
Result<json> call_result(Connection& c, const std::string& method, json params, provider::ProgressFn progress,
                         const std::string& what, std::chrono::milliseconds timeout, provider::WaitingFn waiting = {}) {
  auto reply = c.call(method, std::move(params), std::move(progress), std::move(waiting), what, timeout);
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

// A per-operation limit as the stack or the environment spells it.
Result<std::chrono::milliseconds> parse_limit(const json& value, const std::string& where) {
  std::string text;
  if (value.is_string()) text = value.get<std::string>();
  else if (value.is_number_integer()) text = std::to_string(value.get<long long>());
  auto parsed = timeutil::parse_duration(text);
  if (text.empty() || !parsed || parsed->count() <= 0)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("{}: {} is not a duration such as \"45m\" or \"2h\"", where, dump(value)));
  return *parsed;
}

provider::AttributeSchema timeout_attribute() {
  provider::AttributeSchema a;
  a.name = kTimeoutSetting;
  a.type = provider::AttributeType::String;
  a.description =
      "keel's own setting, not sent to the plugin: how long one create, read, update, delete or find may take "
      "before keel kills the plugin (\"45m\", \"2h\"; default 30m, and 5m for read; KEEL_PLUGIN_TIMEOUT sets it "
      "for every plugin).";
  a.optional = true;
  return a;
}

}  // namespace

PluginProvider::PluginProvider(std::unique_ptr<Connection> connection, PluginTimeouts timeouts)
    : connection_(std::move(connection)), timeouts_(timeouts) {}

PluginProvider::~PluginProvider() = default;

Result<std::unique_ptr<PluginProvider>> PluginProvider::start(const std::string& executable_path,
                                                              const std::string& plugin_name,
                                                              std::map<std::string, std::string> extra_env,
                                                              PluginTimeouts timeouts) {
  const std::string name = plugin_name.empty() ? base_name(executable_path) : plugin_name;
  if (const char* env = std::getenv(kTimeoutEnv); env && *env) {
    auto limit = parse_limit(json(env), kTimeoutEnv);
    if (!limit) return fail(limit.error());
    timeouts.read = timeouts.operation = *limit;
  }
  process::Child::Spec spec;
  spec.argv = {executable_path};
  spec.env = std::move(extra_env);
  spec.environment = process::Environment::InheritExceptKeel;
  // Its own process group: a kill reaches whatever it started, and a Ctrl-C
  // at the terminal reaches keel (which lets the operations in flight
  // finish) and not the plugin running them.
  spec.new_process_group = true;
  auto child = process::Child::start(spec);
  if (!child) return fail(child.error().with_context("start provider plugin " + name));
  std::unique_ptr<PluginProvider> plugin(
      new PluginProvider(std::make_unique<Connection>(std::move(*child), name), timeouts));
  if (auto shaken = plugin->handshake(); !shaken) return fail(shaken.error());
  return plugin;
}

Status PluginProvider::handshake() {
  Connection& c = *connection_;
  json params{{"protocol_version", provider::kProtocolVersion}, {"keel_version", KEEL_VERSION}};
  auto reply = c.call("handshake", std::move(params), nullptr, nullptr, "the handshake", timeouts_.handshake);
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
  owns_timeout_setting_ = std::none_of(schema_.config.begin(), schema_.config.end(),
                                       [](const auto& a) { return a.name == kTimeoutSetting; });
  if (owns_timeout_setting_) schema_.config.push_back(timeout_attribute());
  return {};
}

const std::string& PluginProvider::plugin_name() const { return connection_->name(); }
long PluginProvider::pid() const { return connection_->pid(); }

Status PluginProvider::configure(const provider::ConfigureRequest& request) {
  provider::ConfigureRequest forwarded = request;
  if (owns_timeout_setting_ && forwarded.config.is_object()) {
    if (auto it = forwarded.config.find(kTimeoutSetting); it != forwarded.config.end()) {
      if (!it->is_null()) {
        auto limit = parse_limit(*it, fmt::format("`{}` of provider plugin {}", kTimeoutSetting, plugin_name()));
        if (!limit) return fail(limit.error());
        timeouts_.read = timeouts_.operation = *limit;
      }
      forwarded.config.erase(it);
    }
  }
  return as_status(call_result(*connection_, "configure", provider::to_json(forwarded), nullptr, "configure",
                               timeouts_.configure));
}

Result<provider::CreateResponse> PluginProvider::create(const provider::CreateRequest& request) {
  const std::string what = "create " + (request.tags.address.empty() ? request.kind : request.tags.address);
  return decode(*connection_,
                call_result(*connection_, "create", provider::to_json(request), request.progress, what,
                            timeouts_.operation, request.waiting),
                provider::create_response_from_json);
}

Result<provider::ReadResponse> PluginProvider::read(const provider::ReadRequest& request) {
  const std::string what = "read " + request.kind + " " + text::printable(request.id);
  return decode(*connection_,
                call_result(*connection_, "read", provider::to_json(request), request.progress, what, timeouts_.read),
                provider::read_response_from_json);
}

Result<provider::UpdateResponse> PluginProvider::update(const provider::UpdateRequest& request) {
  const std::string what =
      "update " + (request.tags.address.empty() ? request.kind + " " + text::printable(request.id) : request.tags.address);
  return decode(*connection_,
                call_result(*connection_, "update", provider::to_json(request), request.progress, what,
                            timeouts_.operation, request.waiting),
                provider::update_response_from_json);
}

Status PluginProvider::remove(const provider::DeleteRequest& request) {
  const std::string what = "delete " + request.kind + " " + text::printable(request.id);
  return as_status(call_result(*connection_, "delete", provider::to_json(request), request.progress, what,
                               timeouts_.operation, request.waiting));
}

Result<provider::FindResponse> PluginProvider::find(const provider::FindRequest& request) {
  const std::string what =
      request.id.empty() ? "find " + request.tags.address : "find " + request.kind + " " + text::printable(request.id);
  return decode(*connection_,
                call_result(*connection_, "find", provider::to_json(request), request.progress, what,
                            timeouts_.operation),
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
    // An empty or relative entry means (a place under) the current
    // directory, which may be a repository's checkout: never here.
    if (colon > start && rest[start] == '/') dirs.push_back(rest.substr(start, colon - start));
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
    if (dir.empty() || dir.front() != '/') continue;
    const std::string path = dir.back() == '/' ? dir + name : dir + "/" + name;
    if (is_executable_file(path)) return path;
  }
  return {};
}

}  // namespace keel::providers

#include "plugins/sdk/sdk.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include <nlohmann/json.hpp>
#include "core/log.h"

#include "core/json_lines.h"
#include "core/provider_json.h"

namespace keel::plugin {
namespace {

using nlohmann::json;
using provider::ErrorDetails;

thread_local std::optional<ErrorDetails> t_error_details;

ErrorDetails take_error_details() {
  ErrorDetails d = t_error_details.value_or(ErrorDetails{});
  t_error_details.reset();
  return d;
}

struct TestHooks {
  std::optional<int> protocol_version;  // KEEL_PLUGIN_TEST_PROTOCOL_VERSION
  std::string crash_on;                 // KEEL_PLUGIN_TEST_CRASH_ON
};

TestHooks read_test_hooks() {
  TestHooks hooks;
  if (const char* v = std::getenv("KEEL_PLUGIN_TEST_PROTOCOL_VERSION"); v && *v) {
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (end && *end == '\0') hooks.protocol_version = static_cast<int>(n);
  }
  if (const char* v = std::getenv("KEEL_PLUGIN_TEST_CRASH_ON")) hooks.crash_on = v;
  return hooks;
}

// Keeps the real stdout for the protocol on a private descriptor and points
// fd 1 at stderr, so a stray printf (ours or a library's) lands in the log
// instead of corrupting the JSON stream.
int take_protocol_stdout() {
  std::cout.flush();
  std::fflush(stdout);
  int fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return STDOUT_FILENO;
  dup2(STDERR_FILENO, STDOUT_FILENO);
  return fd;
}

void restore_stdout(int fd) {
  if (fd == STDOUT_FILENO) return;
  std::cout.flush();
  std::fflush(stdout);
  dup2(fd, STDOUT_FILENO);
  close(fd);
}

json response(const json& id, json result) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json error_response(const json& id, json error) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}};
}

json error_response(const json& id, ErrorCode code, const std::string& message, int rpc_code) {
  return error_response(id, provider::error_to_json(Error(code, message), rpc_code));
}

// State shared by the read loop and the operation threads. Held through a
// shared_ptr by every thread, so it outlives the last one to finish.
struct Session {
  Session(provider::Provider& p, int fd) : provider(p), out_fd(fd) {}

  provider::Provider& provider;
  const int out_fd;
  std::mutex write_mutex;
  std::mutex flight_mutex;
  std::condition_variable idle;
  int in_flight = 0;

  // One line per message, written whole under the mutex so that concurrent
  // responses never interleave.
  void send(const json& message) {
    std::string line = message.dump(-1, ' ', false, json::error_handler_t::replace);
    line += '\n';
    std::lock_guard lock(write_mutex);
    size_t done = 0;
    while (done < line.size()) {
      ssize_t n = ::write(out_fd, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // keel is gone; nothing left to tell it
      done += static_cast<size_t>(n);
    }
  }

  provider::ProgressFn progress_for(const json& id) {
    if (id.is_null()) return nullptr;
    return [this, id](const std::string& message) {
      send(json{{"jsonrpc", "2.0"}, {"method", "progress"}, {"params", {{"id", id}, {"message", message}}}});
    };
  }

  // One `progress` notification with "waiting": true, however often the
  // operation says so.
  provider::WaitingFn waiting_for(const json& id) {
    if (id.is_null()) return nullptr;
    auto told = std::make_shared<std::atomic<bool>>(false);
    return [this, id, told] {
      if (told->exchange(true)) return;
      send(json{{"jsonrpc", "2.0"}, {"method", "progress"}, {"params", {{"id", id}, {"waiting", true}}}});
    };
  }

  void begin() {
    std::lock_guard lock(flight_mutex);
    ++in_flight;
  }
  void end() {
    std::lock_guard lock(flight_mutex);
    --in_flight;
    idle.notify_all();
  }
  void wait_idle() {
    std::unique_lock lock(flight_mutex);
    idle.wait(lock, [this] { return in_flight == 0; });
  }
};

// --- operations ----------------------------------------------------------------

json bad_params(const json& id, const Error& error) {
  return error_response(id, provider::error_to_json(error, provider::kRpcInvalidParams));
}

json answer(const json& id, const Status& status) {
  if (status) return response(id, json::object());
  return error_response(id, provider::error_to_json(status.error(), provider::kRpcOperationFailed,
                                                    take_error_details()));
}

template <typename T>
json answer(const json& id, const Result<T>& result) {
  if (result) return response(id, provider::to_json(*result));
  return error_response(id, provider::error_to_json(result.error(), provider::kRpcOperationFailed,
                                                    take_error_details()));
}

json on_configure(Session& s, const json& id, const json& params) {
  auto req = provider::configure_request_from_json(params);
  if (!req) return bad_params(id, req.error());
  return answer(id, s.provider.configure(*req));
}

json on_create(Session& s, const json& id, const json& params) {
  auto req = provider::create_request_from_json(params);
  if (!req) return bad_params(id, req.error());
  req->progress = s.progress_for(id);
  req->waiting = s.waiting_for(id);
  return answer(id, s.provider.create(*req));
}

json on_read(Session& s, const json& id, const json& params) {
  auto req = provider::read_request_from_json(params);
  if (!req) return bad_params(id, req.error());
  req->progress = s.progress_for(id);
  return answer(id, s.provider.read(*req));
}

json on_update(Session& s, const json& id, const json& params) {
  auto req = provider::update_request_from_json(params);
  if (!req) return bad_params(id, req.error());
  req->progress = s.progress_for(id);
  req->waiting = s.waiting_for(id);
  return answer(id, s.provider.update(*req));
}

json on_delete(Session& s, const json& id, const json& params) {
  auto req = provider::delete_request_from_json(params);
  if (!req) return bad_params(id, req.error());
  req->progress = s.progress_for(id);
  req->waiting = s.waiting_for(id);
  return answer(id, s.provider.remove(*req));
}

json on_find(Session& s, const json& id, const json& params) {
  auto req = provider::find_request_from_json(params);
  if (!req) return bad_params(id, req.error());
  req->progress = s.progress_for(id);
  return answer(id, s.provider.find(*req));
}

using Handler = json (*)(Session&, const json&, const json&);

Handler find_operation(const std::string& method) {
  static const std::map<std::string, Handler> operations = {
      {"create", on_create}, {"read", on_read},     {"update", on_update},
      {"delete", on_delete}, {"find", on_find},
  };
  auto it = operations.find(method);
  return it == operations.end() ? nullptr : it->second;
}

// Runs one operation to its end and answers it (unless it was a
// notification). Provider exceptions stop here: they are bugs, reported as
// `internal` errors, and must not take the other requests down.
void run_operation(const std::shared_ptr<Session>& s, Handler handler, const json& id, const json& params) {
  json reply;
  try {
    reply = handler(*s, id, params);
  } catch (const std::exception& e) {
    reply = error_response(id, ErrorCode::Internal, std::string("provider threw: ") + e.what(),
                           provider::kRpcOperationFailed);
  } catch (...) {
    reply = error_response(id, ErrorCode::Internal, "provider threw an unknown exception",
                           provider::kRpcOperationFailed);
  }
  if (!id.is_null()) s->send(reply);
}

void start_operation(const std::shared_ptr<Session>& s, Handler handler, const json& id, json params) {
  s->begin();
  try {
    std::thread([s, handler, id, params = std::move(params)] {
      run_operation(s, handler, id, params);
      s->end();
    }).detach();
  } catch (const std::system_error& e) {
    s->end();
    if (!id.is_null())
      s->send(error_response(id, ErrorCode::Transient, std::string("cannot start a thread: ") + e.what(),
                             provider::kRpcOperationFailed));
  }
}

// --- the read loop ---------------------------------------------------------------

json on_handshake(Session& s, const json& id, const json& params, int my_version) {
  const json theirs = params.is_object() ? params.value("protocol_version", json()) : json();
  if (!theirs.is_number_integer() || theirs.get<int>() != my_version) {
    json error = provider::error_to_json(
        Error(ErrorCode::Protocol, "plugin speaks protocol version " + std::to_string(my_version) +
                                       ", keel speaks " + theirs.dump()));
    error["data"]["protocol_version"] = my_version;  // keel names it in its own message
    return error_response(id, std::move(error));
  }
  return response(id, json{{"protocol_version", my_version}, {"schema", provider::to_json(s.provider.schema())}});
}

struct LoopState {
  std::shared_ptr<Session> session;
  TestHooks hooks;
  bool stop = false;  // `shutdown` was asked for
  json shutdown_id;  // answered once the operations in flight are done
};

void handle_line(LoopState& st, const jsonl::LineSplitter::Line& line) {
  Session& s = *st.session;
  if (line.overlong) {
    s.send(error_response(nullptr, ErrorCode::Protocol,
                          "a request longer than the protocol's limit of " + std::to_string(jsonl::kMaxLineBytes) +
                              " bytes: " + jsonl::excerpt(line.text),
                          provider::kRpcInvalidRequest));
    return;
  }
  // Bounded nesting: copying or printing a value recurses once per level.
  auto parsed = jsonl::parse_message(line.text);
  if (!parsed) {
    s.send(error_response(nullptr, ErrorCode::Protocol, parsed.error().message(), provider::kRpcParseError));
    return;
  }
  json msg = std::move(*parsed);
  const json id = msg.is_object() ? msg.value("id", json()) : json();
  if (!msg.is_object() || msg.value("jsonrpc", json()) != "2.0" || !msg.value("method", json()).is_string()) {
    s.send(error_response(id, ErrorCode::Protocol, "not a JSON-RPC 2.0 request", provider::kRpcInvalidRequest));
    return;
  }
  const std::string method = msg["method"].get<std::string>();
  json params = msg.value("params", json::object());
  if (!st.hooks.crash_on.empty() && method == st.hooks.crash_on) std::raise(SIGKILL);

  if (method == "handshake") {
    if (!id.is_null())
      s.send(on_handshake(s, id, params, st.hooks.protocol_version.value_or(provider::kProtocolVersion)));
  } else if (method == "configure") {
    // Served inline, before the next line is read: configure comes before
    // every other operation, even if a client pipelines requests behind it.
    run_operation(st.session, on_configure, id, params);
  } else if (method == "shutdown") {
    st.stop = true;
    st.shutdown_id = id;
  } else if (Handler h = find_operation(method)) {
    start_operation(st.session, h, id, std::move(params));
  } else if (!id.is_null()) {
    s.send(error_response(id, ErrorCode::Protocol, "unknown method \"" + method + "\"",
                          provider::kRpcMethodNotFound));
  }
}

}  // namespace

void set_error_details(std::optional<int> http_status, std::optional<std::string> cloud_message) {
  t_error_details = ErrorDetails{http_status, std::move(cloud_message)};
}

int serve(provider::Provider& provider) {
  const int out_fd = take_protocol_stdout();
  // The plugin's log is its stderr, which keel relays to its own log at
  // debug: KEEL_LOG=debug (inherited) makes the plugin say more too.
  if (const char* text = std::getenv("KEEL_LOG"); text && *text) {
    if (std::string_view(text) == "off") logging::setup_silent();
    else if (auto level = logging::level_from_string(text)) logging::setup(logging::Format::Text, *level);
  }
  LoopState st;
  st.session = std::make_shared<Session>(provider, out_fd);
  st.hooks = read_test_hooks();
  // Read with a bounded line length: std::getline would grow without end
  // on a line that never ends.
  jsonl::LineSplitter lines;
  auto handle_ready = [&] {
    while (!st.stop) {
      auto line = lines.next();
      if (!line) break;
      if (!line->text.empty() || line->overlong) handle_line(st, *line);
    }
  };
  char chunk[65536];
  while (!st.stop) {
    ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      lines.finish();
      handle_ready();
      break;
    }
    lines.feed({chunk, static_cast<size_t>(n)});
    handle_ready();
  }
  if (!st.stop) {
    // The end of stdin without `shutdown`: keel is gone (killed). The
    // answers in flight have no reader, and finishing their work would only
    // race the next keel run, which adopts by keel's tags what they made:
    // stop now (docs/plugin-protocol.md#shutdown).
    logging::warn("keel closed the connection without `shutdown`: stopping now, abandoning the requests in flight");
    std::fflush(stderr);
    std::_Exit(0);
  }
  st.session->wait_idle();
  if (!st.shutdown_id.is_null()) st.session->send(response(st.shutdown_id, json::object()));
  restore_stdout(out_fd);
  return 0;
}

}  // namespace keel::plugin

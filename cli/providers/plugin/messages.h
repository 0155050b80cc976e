#pragma once
// What keel reads from a provider plugin's stdout: one line, one message,
// checked against docs/plugin-protocol.md before anything acts on it. Apart
// from the connection (plugin_provider.cpp) so that it can be fuzzed
// (tests/fuzz/fuzz_plugin_protocol.cpp) without a process.
//
// Depends on core/ only.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_lines.h"

namespace keel::providers::plugin {

struct Incoming {
  enum class Kind {
    Response,      // answers request `id`
    Progress,      // a progress notification about request `id`
    Notification,  // any other notification (or a malformed progress): ignored
  };
  Kind kind = Kind::Notification;
  int64_t id = 0;
  // Response: the `result`, or the `error` object; `malformed` says why the
  // response is unusable (neither or both), which fails that one request.
  nlohmann::json result;
  std::optional<nlohmann::json> error;
  std::optional<std::string> malformed;
  std::string progress;  // Progress: the message ("" when it carries none)
  bool waiting = false;  // Progress: the operation only waits from now on
  std::string method;    // Notification: its method, for the log
};

// Reads one line of the plugin's stdout. A Protocol error when the stream
// can no longer be trusted: a line past the length limit, JSON nested past
// the depth limit, not JSON-RPC 2.0 at all, or a response without an
// integer id. The message reads after the plugin's name: "sent a line that
// is not JSON-RPC 2.0: hello there".
Result<Incoming> read_incoming(const jsonl::LineSplitter::Line& line, size_t max_depth = jsonl::kMaxDepth);

}  // namespace keel::providers::plugin

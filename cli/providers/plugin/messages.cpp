#include "cli/providers/plugin/messages.h"

#include "core/text.h"

namespace keel::providers::plugin {

namespace {

using nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Incoming progress_of(const json& message) {
  Incoming in;
  const json params = message.value("params", json());
  if (!params.is_object() || !params.value("id", json()).is_number_integer()) {
    in.method = "progress (malformed)";
    return in;  // a Notification: ignored
  }
  in.kind = Incoming::Kind::Progress;
  in.id = params["id"].get<int64_t>();
  // Only `true` counts: an older plugin sends no such field.
  in.waiting = params.value("waiting", json()) == true;
  const json text = params.value("message", json());
  // Shown on keel's terminal: the plugin's escape sequences are not. A
  // waiting notice may come without a message.
  if (!(in.waiting && text.is_null()))
    in.progress = text::printable(text.is_string() ? text.get<std::string>() : dump(text));
  return in;
}

}  // namespace

Result<Incoming> read_incoming(const jsonl::LineSplitter::Line& line, size_t max_depth) {
  if (line.overlong) {
    return fail(ErrorCode::Protocol, "sent a line longer than the protocol's limit of " +
                                         std::to_string(jsonl::kMaxLineBytes) + " bytes: " + jsonl::excerpt(line.text));
  }
  auto parsed = jsonl::parse_message(line.text, max_depth);
  if (!parsed && jsonl::json_depth(line.text, max_depth) > max_depth) {
    return fail(ErrorCode::Protocol, "sent " + parsed.error().message());
  }
  if (!parsed || !parsed->is_object() || parsed->value("jsonrpc", json()) != "2.0") {
    return fail(ErrorCode::Protocol, "sent a line that is not JSON-RPC 2.0: " + jsonl::excerpt(line.text));
  }
  const json& message = *parsed;
  if (auto method = message.find("method"); method != message.end()) {
    if (*method == "progress") return progress_of(message);
    Incoming in;
    in.method = method->is_string() ? method->get<std::string>() : dump(*method);
    return in;
  }
  const json id = message.value("id", json());
  if (!id.is_number_integer()) {
    // An answer to no request of ours (e.g. "parse error" with id null): the
    // stream can no longer be trusted.
    return fail(ErrorCode::Protocol, "answered no request: " + jsonl::excerpt(line.text));
  }
  Incoming in;
  in.kind = Incoming::Kind::Response;
  in.id = id.get<int64_t>();
  const auto result = message.find("result");
  const auto error = message.find("error");
  if (result == message.end() && error == message.end()) {
    in.malformed = "answered with neither a result nor an error: " + jsonl::excerpt(line.text);
  } else if (result != message.end() && error != message.end()) {
    in.malformed = "answered with both a result and an error: " + jsonl::excerpt(line.text);
  } else if (error != message.end()) {
    in.error = *error;
  } else {
    in.result = *result;
  }
  return in;
}

}  // namespace keel::providers::plugin

// Fuzz target: what keel reads from a provider plugin's stdout (the plugin
// client's message reader, docs/plugin-protocol.md): the bytes are split
// into lines as the connection splits them (in chunks of varying size, with
// a small line limit so that the overlong path is reached), each line is
// read as a message, and each result is decoded as an operation's answer
// and as a handshake's. The first byte picks the chunk size (its low six
// bits) and the operation (its top two). Any input must end in messages or
// Protocol errors: no crash, no hang, bounded memory.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cli/providers/plugin/messages.h"
#include "core/json_lines.h"
#include "core/provider_json.h"

namespace {

// One decoder per input: the decoders throw internally on bad shapes, and
// exceptions are slow under the sanitizers.
void decode(const nlohmann::json& result, unsigned operation) {
  using namespace keel::provider;
  switch (operation) {
    case 0: (void)create_response_from_json(result); break;
    case 1: (void)read_response_from_json(result); break;
    case 2: (void)update_response_from_json(result); break;
    default: (void)find_response_from_json(result); break;
  }
  if (result.is_object() && result.contains("schema")) (void)provider_schema_from_json(result["schema"]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const unsigned first = input.empty() ? 0 : static_cast<unsigned char>(input[0]);
  const size_t chunk = 1 + first % 64;  // how the pipe delivers the bytes
  const unsigned operation = first / 64;
  if (!input.empty()) input.remove_prefix(1);
  keel::jsonl::LineSplitter lines(4096);
  auto handle = [&] {
    while (auto line = lines.next()) {
      auto message = keel::providers::plugin::read_incoming(*line);
      if (!message) continue;
      if (message->error) (void)keel::provider::error_from_json(*message->error).message();
      if (message->kind == keel::providers::plugin::Incoming::Kind::Response) decode(message->result, operation);
    }
  };
  while (!input.empty()) {
    const size_t n = std::min(chunk, input.size());
    lines.feed(input.substr(0, n));
    input.remove_prefix(n);
    handle();
  }
  lines.finish();
  handle();
  return 0;
}

// Fuzz target: what keel reads from a provider plugin's stdout (the plugin
// client's message reader, docs/plugin-protocol.md): the bytes are split
// into lines as the connection splits them (in chunks of varying size, with
// a small line limit so that the overlong path is reached), each line is
// read as a message, and every result is decoded as each operation and the
// handshake would decode it. Any input must end in messages or Protocol
// errors: no crash, no hang, bounded memory.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cli/providers/plugin/messages.h"
#include "core/json_lines.h"
#include "core/provider_json.h"

namespace {

void decode_everything(const nlohmann::json& result) {
  using namespace keel::provider;
  (void)create_response_from_json(result);
  (void)read_response_from_json(result);
  (void)update_response_from_json(result);
  (void)find_response_from_json(result);
  if (result.is_object()) (void)provider_schema_from_json(result.value("schema", nlohmann::json()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte picks the chunk size the pipe delivers in.
  const size_t chunk = input.empty() ? 1 : 1 + static_cast<unsigned char>(input[0]) % 64;
  if (!input.empty()) input.remove_prefix(1);
  keel::jsonl::LineSplitter lines(4096);
  auto handle = [&] {
    while (auto line = lines.next()) {
      auto message = keel::providers::plugin::read_incoming(*line);
      if (!message) continue;
      if (message->error) (void)keel::provider::error_from_json(*message->error).message();
      if (message->kind == keel::providers::plugin::Incoming::Kind::Response) decode_everything(message->result);
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

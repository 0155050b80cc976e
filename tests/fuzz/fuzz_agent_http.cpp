// Fuzz target: the agent's HTTP request handling, from the bytes of a
// connection to the answers: agent/httpd's request reader (cut into pieces
// at places the input chooses, as a network would), the API's token check
// on the head, its router and handlers (PUT /v1/config parses the body; no
// file is written), and the answers' bytes. Any input must end in answers
// and a closed or idle connection: no crash, no hang, and never more
// buffered than the limits allow.
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/api.h"
#include "agent/httpd/request_reader.h"
#include "core/log.h"

namespace {

using namespace keel;
using namespace keel::agent;

// A token for the seeds to carry (tests/fuzz/corpus/agent_http).
const std::string kToken = "fuzz-token-0123456789";

ApiServer& api() {
  static AgentCounters counters;
  static CheckScheduler scheduler{[](const StatusChange&) {}};
  static ApiServer server{ApiContext{
      .scheduler = &scheduler,
      .counters = &counters,
      .token = [] { return kToken; },
      .put_config = [](const std::string& body) -> Result<nlohmann::json> {
        auto load = parse_agent_config(body, "request body", "/nonexistent");
        if (load.diagnostics.has_errors()) return fail(ErrorCode::InvalidConfig, load.diagnostics.describe());
        return nlohmann::json{{"applied", true}};
      },
      .hostname = "fuzz",
      .jobs = nullptr}};
  return server;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = (logging::setup(logging::Format::Text, logging::Level::Error), true);
  (void)quiet;
  if (size == 0) return 0;
  // The first byte says how the rest arrives: in pieces of 1 to 256 bytes.
  const size_t piece = static_cast<size_t>(data[0]) + 1;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  httpd::Limits limits;
  limits.max_body = kMaxRequestBody;
  httpd::RequestReader reader(limits);
  std::string buffer;
  std::string wire;  // what the agent would send back
  for (;;) {
    auto event = reader.feed(buffer);
    // The reader never leaves more in the buffer than a head and one read.
    if (buffer.size() > limits.max_head + piece + 2 || reader.request().body.size() > limits.max_body) __builtin_trap();
    if (event == httpd::RequestReader::Event::NeedMore) {
      if (input.empty()) return 0;
      size_t n = std::min(piece, input.size());
      buffer.append(input.substr(0, n));
      input.remove_prefix(n);
      continue;
    }
    reader.request().remote_addr = "127.0.0.1";
    if (event == httpd::RequestReader::Event::HeadReady) {
      if (auto refusal = api().admit(reader.request())) {
        wire += httpd::serialize(*refusal, false, false);
        return 0;
      }
      continue;
    }
    if (event == httpd::RequestReader::Event::Failed) {
      auto refusal = httpd::error_response(reader.refusal().status, reader.refusal().message);
      api().log(reader.request(), refusal);
      wire += httpd::serialize(refusal, false, false);
      return 0;
    }
    // A complete request: its answer, then the next one on the connection.
    auto response = api().handle(reader.request());
    api().log(reader.request(), response);
    const bool keep_alive = reader.keep_alive();
    wire += httpd::serialize(response, reader.request().method == "HEAD", keep_alive);
    if (!keep_alive) return 0;
    reader.reset();
  }
}

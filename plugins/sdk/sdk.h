#pragma once
// The plugin SDK: turns a keel::provider::Provider into a `keel-provider-NAME`
// executable that speaks the protocol of docs/plugin-protocol.md.
//
//   int main() {
//     MyProvider provider;
//     return keel::plugin::serve(provider);
//   }
//
// serve() owns stdin and stdout for the protocol. Anything else the plugin (or
// a library it uses) prints to stdout is redirected to stderr, which keel
// forwards to its debug log — so stray output cannot corrupt the protocol.
//
// Threading: every operation (create, read, update, delete, find) runs on
// its own thread, so the Provider must be safe for concurrent calls, as
// core/provider.h already requires. `configure` runs before the next request
// is even read, so no operation can overtake it. A ProgressFn given to an operation
// sends a `progress` notification for that request; call it only while the
// operation runs. So does the WaitingFn of create, update and delete (once,
// with "waiting": true), which the kit's Poller calls when it is handed one.
//
// Exceptions thrown by the provider are caught and answered as `internal`
// errors; the plugin keeps serving.
//
// Test hooks (environment variables read once by serve(); for keel's own
// tests, never set them in production):
//   KEEL_PLUGIN_TEST_PROTOCOL_VERSION=N  the handshake claims protocol version
//       N instead of keel::provider::kProtocolVersion (simulates a plugin that
//       speaks another version: keel refuses it).
//   KEEL_PLUGIN_TEST_CRASH_ON=METHOD     the plugin kills itself with SIGKILL
//       the moment it receives a request for METHOD (simulates a crash in the
//       middle of a call).

#include <optional>
#include <string>

#include "core/provider.h"

namespace keel::plugin {

// Serves requests from stdin until a `shutdown` request or the end of stdin,
// lets the operations in flight finish, and returns the exit code (0).
int serve(provider::Provider& provider);

// Adds the cloud's own details (HTTP status, the API's error message) to the
// error that the calling operation is about to return. Call it from the
// operation's thread, just before returning the error; it applies to that
// one error only.
void set_error_details(std::optional<int> http_status, std::optional<std::string> cloud_message);

}  // namespace keel::plugin

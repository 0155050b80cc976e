#pragma once
// The out-of-process provider: a `keel-provider-NAME` executable spoken to
// over JSON-RPC 2.0 on its stdin/stdout (docs/plugin-protocol.md), behind the
// same Provider interface as the built-in providers.
//
// Threading: every method may be called from many threads at once; each call
// is one request in flight, answered in whatever order the plugin finishes.
// The calling thread blocks until its answer arrives or its deadline passes
// (PluginTimeouts; the plugin reports progress meanwhile). configure() must
// come before the operations, alone, as the engine calls it. A request's
// ProgressFn runs on the connection's reader thread, before the call
// returns: keep it short and do not call the provider from it.
//
// Failure: if the plugin dies or closes its stdout, every pending and every
// later call fails with ErrorCode::Unavailable, naming the plugin, its pid
// and how it ended. A message that breaks the protocol (not JSON-RPC, a line
// over 16 MiB, JSON nested over 100 levels, an answer to no pending request)
// fails them with ErrorCode::Protocol; a request past its deadline fails them
// with ErrorCode::Timeout naming that request. In both cases the plugin is
// killed with its whole process group (it runs in one of its own), as it is
// when it exits leaving a child that holds its stdout. Errors the plugin
// reports keep their ErrorCode (kind).
//
// The plugin's environment is keel's, without KEEL_STATE_KEY (cloud tools
// find their credentials there); secrets of the stack travel on stdin.
//
// Depends on core/ only.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/provider.h"

namespace keel::providers {

// How long keel waits for each answer before it kills the plugin.
struct PluginTimeouts {
  std::chrono::milliseconds handshake = std::chrono::seconds(10);
  std::chrono::milliseconds configure = std::chrono::seconds(60);
  std::chrono::milliseconds read = std::chrono::minutes(5);
  std::chrono::milliseconds operation = std::chrono::minutes(30);  // create, update, delete, find
};

// keel's own setting in every plugin's `providers:` block: the limit for one
// create, read, update, delete or find ("45m", "2h"). It is added to the
// plugin's config schema and never sent to the plugin. KEEL_PLUGIN_TIMEOUT
// sets the same for every plugin; the block wins.
inline constexpr const char* kTimeoutSetting = "timeout";
inline constexpr const char* kTimeoutEnv = "KEEL_PLUGIN_TIMEOUT";

class PluginProvider : public provider::Provider {
 public:
  // Spawns the plugin (`extra_env` added to its environment; tests use it
  // for the SDK's test hooks), then does the handshake: protocol version
  // check and schema, answered within timeouts.handshake or an error.
  // `plugin_name` is how messages and the plugin's forwarded log lines name
  // it, conventionally the executable's file name ("keel-provider-example");
  // empty means that name. $KEEL_PLUGIN_TIMEOUT, when set, replaces
  // timeouts.read and timeouts.operation (a bad value is an error here).
  static Result<std::unique_ptr<PluginProvider>> start(const std::string& executable_path,
                                                       const std::string& plugin_name,
                                                       std::map<std::string, std::string> extra_env = {},
                                                       PluginTimeouts timeouts = {});
  // Sends `shutdown`, closes the plugin's stdin, waits up to 2 s for it to
  // exit, then kills it (and what it left running in its process group).
  // Call only once no call is in flight.
  ~PluginProvider() override;
  PluginProvider(const PluginProvider&) = delete;
  PluginProvider& operator=(const PluginProvider&) = delete;

  const provider::ProviderSchema& schema() const override { return schema_; }
  // Takes keel's `timeout` out of the config (unless the plugin declares a
  // setting of that name itself) and sends the rest.
  Status configure(const provider::ConfigureRequest& request) override;
  Result<provider::CreateResponse> create(const provider::CreateRequest& request) override;
  Result<provider::ReadResponse> read(const provider::ReadRequest& request) override;
  Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) override;
  Status remove(const provider::DeleteRequest& request) override;
  Result<provider::FindResponse> find(const provider::FindRequest& request) override;

  const std::string& plugin_name() const;
  long pid() const;
  const PluginTimeouts& timeouts() const { return timeouts_; }

  class Connection;  // the JSON-RPC client over the child's pipes (in the .cpp)

 private:
  PluginProvider(std::unique_ptr<Connection> connection, PluginTimeouts timeouts);
  Status handshake();

  std::unique_ptr<Connection> connection_;
  provider::ProviderSchema schema_;
  PluginTimeouts timeouts_;
  bool owns_timeout_setting_ = false;  // the plugin declares no `timeout` of its own
};

// The path of the executable `keel-provider-<type>`, looked up in
// `search_dirs`, then in $KEEL_PLUGIN_PATH (colon-separated), then in $PATH;
// empty if there is none (or `type` is not a plain name). Relative and
// empty entries are skipped: they would name the current directory, which
// may be a repository that brings its own executables.
std::string find_plugin(const std::string& type, const std::vector<std::string>& search_dirs);

}  // namespace keel::providers

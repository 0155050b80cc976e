#pragma once
// The out-of-process provider: a `keel-provider-NAME` executable spoken to
// over JSON-RPC 2.0 on its stdin/stdout (docs/plugin-protocol.md), behind the
// same Provider interface as the built-in providers.
//
// Threading: every method may be called from many threads at once; each call
// is one request in flight, answered in whatever order the plugin finishes.
// The calling thread blocks until its answer arrives (no timeout: cloud
// operations can take long, and the plugin reports progress meanwhile).
// A request's ProgressFn runs on the connection's reader thread, before the
// call returns: keep it short and do not call the provider from it.
//
// Failure: if the plugin dies or closes its stdout, every pending and every
// later call fails with ErrorCode::Unavailable, naming the plugin, its pid
// and how it ended. A line on its stdout that is not JSON-RPC fails them with
// ErrorCode::Protocol. Errors the plugin reports keep their ErrorCode (kind).
//
// Depends on core/ only.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/provider.h"

namespace keel::providers {

class PluginProvider : public provider::Provider {
 public:
  // Spawns the plugin (`extra_env` added to keel's environment; tests use it
  // for the SDK's test hooks), then does the handshake: protocol version
  // check and schema, answered within 10 s or an error. `plugin_name` is how
  // messages and the plugin's forwarded log lines name it, conventionally the
  // executable's file name ("keel-provider-example"); empty means that name.
  static Result<std::unique_ptr<PluginProvider>> start(const std::string& executable_path,
                                                       const std::string& plugin_name,
                                                       std::map<std::string, std::string> extra_env = {});
  // Sends `shutdown`, closes the plugin's stdin, waits up to 2 s for it to
  // exit, then kills it. Call only once no call is in flight.
  ~PluginProvider() override;
  PluginProvider(const PluginProvider&) = delete;
  PluginProvider& operator=(const PluginProvider&) = delete;

  const provider::ProviderSchema& schema() const override { return schema_; }
  Status configure(const provider::ConfigureRequest& request) override;
  Result<provider::CreateResponse> create(const provider::CreateRequest& request) override;
  Result<provider::ReadResponse> read(const provider::ReadRequest& request) override;
  Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) override;
  Status remove(const provider::DeleteRequest& request) override;
  Result<provider::FindResponse> find(const provider::FindRequest& request) override;

  const std::string& plugin_name() const;
  long pid() const;

  class Connection;  // the JSON-RPC client over the child's pipes (in the .cpp)

 private:
  explicit PluginProvider(std::unique_ptr<Connection> connection);
  Status handshake();

  std::unique_ptr<Connection> connection_;
  provider::ProviderSchema schema_;
};

// The path of the executable `keel-provider-<type>`, looked up in
// `search_dirs`, then in $KEEL_PLUGIN_PATH (colon-separated), then in $PATH;
// empty if there is none (or `type` is not a plain name).
std::string find_plugin(const std::string& type, const std::vector<std::string>& search_dirs);

}  // namespace keel::providers

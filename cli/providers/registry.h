#pragma once
// Provider instances for one run: the built-in `local` provider and
// out-of-process plugins (`keel-provider-TYPE`), started on first use, one per
// provider block, and configured once the stack has validated.
//
// Registration of built-ins is this explicit list, not static initialisers.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/config/configuration.h"
#include "cli/engine/executor.h"
#include "core/provider.h"

namespace keel::providers {

class Registry {
 public:
  // `plugin_dirs`: where to look for keel-provider-* first (then
  // $KEEL_PLUGIN_PATH, then PATH).
  explicit Registry(std::vector<std::string> plugin_dirs);
  ~Registry();

  // The schema of a provider type, starting it if needed (validation).
  Result<const provider::ProviderSchema*> schema(const std::string& type);
  config::SchemaSource schema_source();

  // Configures the providers that `blocks` name (block name -> type; the
  // type matters for blocks that are gone from the stack but still own
  // resources in state), with the stack's settings evaluated, and returns
  // them by block name. A provider configured already with the same
  // settings in the last minute is not configured again (destroy and apply
  // configure after their refresh): no second check of the keys, and the
  // plugin keeps what the refresh read.
  Result<engine::ProviderMap> configure(const config::Configuration& config,
                                        const std::map<std::string, std::string>& blocks, const std::string& work_dir);

 private:
  Result<std::unique_ptr<provider::Provider>> start(const std::string& type);
  Result<std::unique_ptr<provider::Provider>> start_unlogged(const std::string& type);
  Result<provider::Provider*> for_block(const std::string& block, const std::string& type);

  std::vector<std::string> plugin_dirs_;
  std::map<std::string, std::unique_ptr<provider::Provider>> by_block_;
  std::map<std::string, std::unique_ptr<provider::Provider>> unclaimed_;  // by type, started for their schema
  struct Configured {
    std::string settings;  // the request it was configured with, as JSON
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, Configured> configured_;  // by block
};

// Directories searched for plugins by default: the one holding the running
// keel binary, then ../lib/keel/plugins from it (an installed keel). Never a directory of the stack's: a repository must not be
// able to bring executables that `keel validate` runs.
std::vector<std::string> default_plugin_dirs(const std::string& work_dir);

}  // namespace keel::providers

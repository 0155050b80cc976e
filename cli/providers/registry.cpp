#include "cli/providers/registry.h"

#include <chrono>
#include <unistd.h>

#include "core/log.h"

#include "cli/providers/local/local_provider.h"
#include "cli/providers/logging_provider.h"
#include "cli/providers/ssh/cloud_servers.h"
#include "cli/providers/ssh/ssh_provider.h"
#include "cli/providers/plugin/plugin_provider.h"
#include "core/files.h"

namespace keel::providers {

std::vector<std::string> default_plugin_dirs(const std::string&) {
  std::vector<std::string> dirs;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    const std::string bin = files::dirname(std::string(self, static_cast<size_t>(n)));
    dirs.push_back(bin);
    // Installed (cmake --install, the Debian package): PREFIX/bin/keel finds
    // PREFIX/lib/keel/plugins/keel-provider-NAME.
    dirs.push_back(bin + "/../lib/keel/plugins");
  }
  // Not the stack's .keel/plugins: `keel validate` on a pull request would
  // run whatever executable the pull request commits there.
  return dirs;
}

Registry::Registry(std::vector<std::string> plugin_dirs) : plugin_dirs_(std::move(plugin_dirs)) {}
Registry::~Registry() = default;

Result<std::unique_ptr<provider::Provider>> Registry::start(const std::string& type) {
  auto started = start_unlogged(type);
  if (!started) return started;
  return make_logging_provider(std::move(*started));  // KEEL_LOG=debug: every call
}

Result<std::unique_ptr<provider::Provider>> Registry::start_unlogged(const std::string& type) {
  if (type == "local") return local::make_local_provider();
  if (type == "ssh") return ssh_host::make_ssh_provider();
  std::string path = find_plugin(type, plugin_dirs_);
  if (path.empty())
    return fail(ErrorCode::Unavailable, "no provider `" + type + "`: keel-provider-" + type +
                                            " is not beside keel, in lib/keel/plugins, on KEEL_PLUGIN_PATH or on PATH");
  logging::debug("provider {}: starting {}", type, path);
  auto plugin = PluginProvider::start(path, "");
  if (!plugin) return fail(plugin.error());
  // Servers a cloud makes are reached over SSH like `ssh` hosts (agent, exec, deploy).
  return ssh_host::make_cloud_servers_provider(std::unique_ptr<provider::Provider>(std::move(*plugin)));
}

Result<const provider::ProviderSchema*> Registry::schema(const std::string& type) {
  for (const auto& [_, p] : by_block_)
    if (p->schema().name == type) return &p->schema();
  if (auto it = unclaimed_.find(type); it != unclaimed_.end()) return &it->second->schema();
  auto p = start(type);
  if (!p) return fail(p.error());
  const provider::ProviderSchema* s = &(*p)->schema();
  unclaimed_[type] = std::move(*p);
  return s;
}

config::SchemaSource Registry::schema_source() {
  return [this](const std::string& type) { return schema(type); };
}

Result<provider::Provider*> Registry::for_block(const std::string& block, const std::string& type) {
  if (auto it = by_block_.find(block); it != by_block_.end()) return it->second.get();
  std::unique_ptr<provider::Provider> p;
  if (auto it = unclaimed_.find(type); it != unclaimed_.end()) {
    p = std::move(it->second);
    unclaimed_.erase(it);
  } else {
    auto started = start(type);
    if (!started) return fail(started.error());
    p = std::move(*started);
  }
  provider::Provider* raw = p.get();
  by_block_[block] = std::move(p);
  return raw;
}

Result<engine::ProviderMap> Registry::configure(const config::Configuration& config,
                                                const std::map<std::string, std::string>& blocks,
                                                const std::string& work_dir) {
  engine::ProviderMap out;
  for (const auto& [name, state_type] : blocks) {
    const config::ProviderBlock* block = config.stack->find_provider(name);
    std::string type = block ? block->type : state_type;
    auto p = for_block(name, type);
    if (!p) return fail(p.error().with_context("provider " + name));
    provider::ConfigureRequest request;
    request.work_dir = work_dir;
    request.stack_dir = config.stack->dir;
    request.project = config.provider_project();
    request.config = nlohmann::json::object();
    if (block) {
      config::EvalContext ctx;
      ctx.variables = &config.variables;
      ctx.stack_dir = config.stack->dir;
      auto v = config::evaluate(block->config, ctx);
      if (!v) return fail(v.error().with_context("provider " + name));
      request.config = v->value;
    }
    const std::string settings =
        nlohmann::json{{"type", type}, {"work_dir", request.work_dir}, {"stack_dir", request.stack_dir},
                       {"project", request.project}, {"config", request.config}}
            .dump();
    // A minute at most: credentials that expire (STS, SSO) and were renewed
    // while apply's question waited are read again.
    const auto now = std::chrono::steady_clock::now();
    if (auto it = configured_.find(name);
        it == configured_.end() || it->second.settings != settings || now - it->second.at > std::chrono::minutes(1)) {
      configured_.erase(name);
      if (auto s = (*p)->configure(request); !s) return fail(s.error().with_context("configure provider " + name));
      configured_[name] = {settings, now};
    }
    out[name] = *p;
  }
  return out;
}

}  // namespace keel::providers

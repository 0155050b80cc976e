#pragma once
// The stack's `apps:` section (docs/deploy.md, docs/stack.md#apps):
// applications that `keel deploy NAME` rolls out to servers over SSH.
//
//   apps:
//     api:
//       servers: servers.web              # or a list: [servers.web, "servers.db[0]"]
//       artifact: ./dist/api.tar.gz       # .tar.gz, .tgz, .tar, or a directory
//       path: /opt/keel/apps/api          # the default
//       before: ./bin/migrate             # in the new release, before the switch
//       start: systemctl restart api      # after the switch
//       after: ./bin/warm-cache           # after a healthy start
//       health: web-http                  # checks from `checks:` on those servers
//       health_timeout: 60s
//       rollout: { batch: 2 }             # or "25%"
//       keep_releases: 5
//
// Loading (every key and value alone, each error at its line and column)
// is here; the validator (validate.cpp) checks `servers` against the
// stack's servers and `health` against `checks:`.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cli/config/stack.h"
#include "core/diagnostics.h"

namespace YAML {
class Node;
}

namespace keel::config {

// Loads the section into stack.apps, reporting every problem.
void load_apps(const YAML::Node& node, const std::string& file, Stack& stack, Diagnostics& diags);

// App names: letters, digits, '_', '-', '.', starting with a letter or a
// digit (at most 64): they name a lock file and a directory on the hosts.
bool valid_app_name(std::string_view name);

// The app's root on the host when the stack gives no `path`.
std::string default_app_path(const std::string& name);

// `rollout.batch` as written: a whole number of hosts (>= 1) or "N%"
// (1-100). Nullopt when it is neither.
struct BatchSize {
  int value = 1;
  bool percent = false;
};
std::optional<BatchSize> parse_batch(const nlohmann::json& value);

const AppBlock* find_app(const Stack& stack, const std::string& name);

// One entry of `apps:` as JSON Schema, for `keel schema`.
nlohmann::json app_json_schema();

}  // namespace keel::config

#pragma once
// The built-in `ssh` provider: `servers` that already exist, reached over
// SSH (docs/providers/ssh.md). No `providers:` block is needed:
//   servers: { db1: { provider: ssh, host: 10.0.0.5, user: deploy, key: ~/.ssh/id_ed25519 } }

#include <memory>

#include "core/provider.h"

namespace keel::providers::ssh_host {

std::unique_ptr<keel::provider::Provider> make_ssh_provider();

}  // namespace keel::providers::ssh_host

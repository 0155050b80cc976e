#pragma once
// Local `caches` with engine redis: a redis-server per resource, daemonized,
// bound to 127.0.0.1, no persistence, its password (requirepass) set in a
// 0600 configuration file in the resource directory, never in argv.

#include <memory>

#include "cli/providers/local/common.h"

namespace keel::providers::local {

std::unique_ptr<Server> make_redis_server();

}  // namespace keel::providers::local

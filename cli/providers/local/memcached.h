#pragma once
// Local `caches` with engine memcached: a memcached per resource, daemonized,
// bound to 127.0.0.1 (TCP only), running as `nobody` when keel runs as root.
// Memcached has no password, so the `uri` is not secret, but it stays a
// sensitive attribute to keep the caches schema one.

#include <memory>

#include "cli/providers/local/common.h"

namespace keel::providers::local {

std::unique_ptr<Server> make_memcached_server();

}  // namespace keel::providers::local

#pragma once
// The built-in `local` provider, keel's embedded default: it makes real things
// on this machine, with no cloud account.
//
//   databases  a PostgreSQL cluster (initdb + pg_ctl) on a free 127.0.0.1 port
//   caches     a redis-server or memcached process on a free 127.0.0.1 port
//   servers    a host directory running its own keel-agent (TLS, token, checks)
//
// Everything lives under the stack's .keel/local/<kind>/<name>/ (the id of the
// resource). Where a server program is missing, operations fail with
// ErrorCode::Unavailable naming the Debian package to install. Safe for
// concurrent calls on different resources, as core/provider.h requires.

#include <memory>

#include "core/provider.h"

namespace keel::providers::local {

std::unique_ptr<keel::provider::Provider> make_local_provider();

}  // namespace keel::providers::local

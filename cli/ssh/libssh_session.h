#pragma once
// The Session of cli/ssh/session.h over libssh. Only what links libssh
// calls this directly: the unit tests, and keel-ssh.so, the module that
// keel loads on the first connection (cli/ssh/connect_lazy.cpp).

#include <memory>

#include "cli/ssh/session.h"
#include "core/error.h"

namespace keel::ssh {

// Connects, verifies the host key and authenticates (Session::connect).
Result<std::unique_ptr<Session>> connect_with_libssh(const Target& target);

}  // namespace keel::ssh

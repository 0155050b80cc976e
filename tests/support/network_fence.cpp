// Every C++ test program runs inside the network fence (core/net_fence.h):
// keel, its plugins and the agents the tests start (they inherit the
// environment) may connect to this machine's loopback and to the block
// tests/support/start-ssh-hosts.sh takes its namespace hosts from, nothing
// else. Set before main, so before the fence is first read; a value the
// caller set wins. (CTest's ENVIRONMENT would do, but catch_discover_tests
// passes a single variable through it.)

#include <cstdlib>

#include "core/net_fence.h"

namespace {
const bool kFenced = [] {
  return ::setenv(keel::net_fence::kVariable, "127.0.0.0/8,::1/128,10.213.0.0/16", /*overwrite=*/0) == 0;
}();
}  // namespace

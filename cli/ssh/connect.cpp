// Session::connect with libssh linked in (cli/ssh/session.h): for the
// binaries other than keel (the tests). keel uses cli/ssh/connect_lazy.cpp.

#include "cli/ssh/libssh_session.h"

namespace keel::ssh {

Result<std::unique_ptr<Session>> Session::connect(const Target& target) { return connect_with_libssh(target); }

}  // namespace keel::ssh

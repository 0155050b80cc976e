// Session::connect for keel itself: libssh is in keel-ssh.so, loaded on
// the first connection (core/module_loader.h), so that the commands that
// reach no host never load it. A missing module is that connection's error.

#include "cli/ssh/ssh_module.h"

namespace keel::ssh {

Result<std::unique_ptr<Session>> Session::connect(const Target& target) {
  auto table = modules::load(kSshModuleFile, kSshModuleEntry, sizeof(SshModule));
  if (!table) return fail(table.error().with_context(target.describe()));
  return static_cast<const SshModule*>(*table)->connect(target);
}

}  // namespace keel::ssh

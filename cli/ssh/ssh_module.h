#pragma once
// keel-ssh.so, the module that carries libssh for keel (core/module_loader.h):
// its table, shared by the module (cli/ssh/ssh_module.cpp) and keel's side
// (cli/ssh/connect_lazy.cpp).

#include <memory>

#include "cli/ssh/session.h"
#include "core/error.h"
#include "core/module_loader.h"

namespace keel::ssh {

struct SshModule {
  modules::ModuleHeader header;
  Result<std::unique_ptr<Session>> (*connect)(const Target& target);
};

inline constexpr const char* kSshModuleFile = "keel-ssh.so";
inline constexpr const char* kSshModuleEntry = "keel_ssh_module";

}  // namespace keel::ssh

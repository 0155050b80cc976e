// The entry of keel-ssh.so (cli/ssh/ssh_module.h): sessions over libssh.

#include "cli/ssh/ssh_module.h"

#include "cli/ssh/libssh_session.h"

namespace {

const keel::ssh::SshModule kTable{keel::modules::header_for(sizeof(keel::ssh::SshModule)),
                                  &keel::ssh::connect_with_libssh};

}  // namespace

extern "C" __attribute__((visibility("default"))) const void* keel_ssh_module() { return &kTable; }

#pragma once
// What keel (cli/ssh) and keel-dr (its SFTP destination) share about the
// host keys SSH servers offer. Apart from core itself: only programs that
// link libssh use it (keel-agent does not).

#include <string>

#include <libssh/libssh.h>

namespace keel::ssh_keys {

// "ssh-ed25519 SHA256:..." of the key `session`'s server offered, for the
// messages that ask a person to check it out of band.
std::string server_key_fingerprint(ssh_session session);

}  // namespace keel::ssh_keys

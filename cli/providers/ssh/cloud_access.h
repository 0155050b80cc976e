#pragma once
// How keel reaches a server a cloud made, from the settings of its stack
// block and the addresses the cloud reported (cli/providers/ssh/
// cloud_servers.h; docs/providers/ssh.md#cloud-servers). Pure parsing and
// checking: no connection, no plugin, so that it is tested and fuzzed
// alone (tests/fuzz/fuzz_ssh_settings.cpp).

#include <string>

#include <nlohmann/json.hpp>

#include "cli/ssh/session.h"
#include "core/error.h"

namespace keel::providers::ssh_host {

// Where relative paths of the stack are, and keel's own known_hosts file.
struct CloudPaths {
  std::string stack_dir;
  std::string known_hosts;  // .keel/known_hosts
};

// How keel reaches one cloud server, from its attributes.
struct CloudAccess {
  std::string user = "root";
  int port = 22;
  std::string key_file;     // empty: ssh-agent, then ~/.ssh/id_*
  std::string known_hosts;  // keel's own unless the stack names one
  ssh::HostKeyPolicy host_key_policy = ssh::HostKeyPolicy::AcceptNew;
  bool private_address = false;  // connect: private
  std::string jump;              // as written; parsed by cloud_target
};

// Reads and checks the settings: InvalidConfig naming the attribute (a
// `private_key` that is not a readable file, a malformed `jump`, an unknown
// `connect` or `host_key_check`).
Result<CloudAccess> cloud_access(const nlohmann::json& attributes, const CloudPaths& paths);

// The Target for a server whose attributes hold `ipv4` / `private_ipv4`.
// InvalidConfig when the address `connect` asks for is missing, empty or
// not a literal IPv4/IPv6 address (inet_pton; the message shows it escaped).
Result<ssh::Target> cloud_target(const CloudAccess& access, const nlohmann::json& attributes);

}  // namespace keel::providers::ssh_host

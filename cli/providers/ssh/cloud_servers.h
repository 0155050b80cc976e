#pragma once
// Cloud servers join the fleet: a decorator around a plugin provider
// (keel-provider-aws, keel-provider-digitalocean, ...) that makes the servers
// the plugin creates reachable over SSH as `provider: ssh` hosts are, so that
// `agent: true`, keel exec, keel deploy, keel health and backups work on
// them (docs/providers/aws.md, "Reaching the servers").
//
// The plugin makes the machine and reports its addresses (`ipv4`,
// `private_ipv4`); keel, here, records the `ssh` map (cli/ssh/hosts.h) and
// installs keel-agent over SSH (remote_agent.h). Plugins stay simple and
// never see the private key, the agent's token or its TLS key: the settings
// below are taken out of what the plugin is sent.
//
// A kind joins when it is `servers` with computed `ipv4` and `private_ipv4`
// and none of the names below of its own but `user` (joins_fleet; a kind
// that has one keeps it and does not join). It gains:
//   user            login user, default root (kept as the plugin's own when
//                   it has one, as AWS does)
//   private_key     the private key file (the public one is ssh_key/ssh_keys)
//   ssh_port        default 22
//   connect         public (default) | private: which address keel uses
//   jump            [user@]host[:port], like ssh -J (e.g. a bastion)
//   known_hosts     default: keel's own, .keel/known_hosts
//   host_key_check  accept-new (default) | strict; a changed key is refused
//   agent           false (default), true or {port, dir, health_port}
//   checks, backups, backup_key   filled from the stack's sections
// and the computed `ssh`, `agent_url`, `agent_port`, `agent_ca`,
// `agent_cert`, and sensitive `agent_token`, `agent_tls_key`.
//
// A block that sets none of agent (true), private_key, connect, jump,
// ssh_port, checks, backups uses no SSH: a server the cloud gave no usable
// address (only a literal IPv4/IPv6 one is) then simply has no `ssh` map.
// When one is set, the address is checked before the plugin's update.
//
// Crash safety: the settings are checked before the plugin is asked to
// create anything (a refusal makes nothing). Once the plugin has made the
// server, every failure (SSH not up, the install failing) is reported as
// Unavailable, never as a refusal, so the engine keeps the intent; the next
// apply finds the server by its tags (find answers `agent: false` for an
// agent that is wanted), and the update that follows installs the agent.
// Installing is idempotent (remote_agent.h).
//
// Threading: as the provider it wraps; its own members are set in the
// constructor and configure() and only read afterwards.

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/providers/ssh/cloud_access.h"
#include "core/error.h"
#include "core/provider.h"

namespace keel::providers::ssh_host {

// Whether a kind gets the attributes above.
bool joins_fleet(const provider::KindSchema& kind);

// The names this decorator adds to `kind` (settable and computed), which
// the plugin is never sent.
std::vector<std::string> fleet_attribute_names(const provider::KindSchema& plugin_kind);

std::unique_ptr<provider::Provider> make_cloud_servers_provider(std::unique_ptr<provider::Provider> inner);

}  // namespace keel::providers::ssh_host

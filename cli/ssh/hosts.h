#pragma once
// The hosts keel reaches over SSH, as the state records them, and one
// connection per host for a run.
//
// A server is reachable over SSH when its attributes hold `ssh`, a map that
// the `ssh` provider fills (DESIGN §9; docs/providers/ssh.md):
//   {"host": "10.0.0.5", "port": 22, "user": "deploy",
//    "key": "/home/me/.ssh/id_ed25519" | null, "known_hosts": FILE | null,
//    "host_key_check": "strict" | "accept-new", "jump": "user@bastion:22" | null}
//
// Selectors (keel exec, keel agent, keel deploy) are addresses: `servers.web`
// covers servers.web[0], servers.web[1], ...; `servers` or `all` covers every
// server; several may be given.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/ssh/session.h"
#include "cli/state/state.h"
#include "core/error.h"

namespace keel::ssh {

// The Target in a server's attributes; nullopt when it has no `ssh` map;
// InvalidConfig when the map is malformed.
Result<std::optional<Target>> target_from_attributes(const nlohmann::json& attributes);
// The `ssh` map for a Target (what the provider records).
nlohmann::json target_to_json(const Target& target);

struct Host {
  std::string address;  // "servers.web[0]"
  Target target;
  nlohmann::json attributes;  // the state's, for agent_url etc.
};

// Servers in the state matching `selectors` (none: every server) that can be
// reached over SSH, in address order (web[2] before web[10]). InvalidConfig
// when a selector matches no server at all, naming it; servers that match
// but have no `ssh` map are skipped with their addresses in `skipped`.
Result<std::vector<Host>> select_hosts(const state::State& state, const std::vector<std::string>& selectors,
                                       std::vector<std::string>* skipped = nullptr);

// One Session per host for the length of a run, connected on first use.
// get() is safe from many threads; each Session must still be used by one
// thread at a time (callers work on a host from one thread).
class Connections {
 public:
  Result<Session*> get(const Host& host);
  // Drops a host's session (after a transport error) so the next get()
  // connects again.
  void drop(const std::string& address);

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<std::mutex>> connecting_;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
};

}  // namespace keel::ssh

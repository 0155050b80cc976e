#pragma once
// Health across hosts: every agent in the state asked at once, and the
// verdict by the Nagios rule. `keel health` renders what this returns
// (cli/views/health_view.h); it never prints.
//
// Severity, worst wins: passing < warning < unknown < critical. A host's
// status is the worst of its checks (passing when it has none); an agent
// that cannot be reached makes its host unknown. The overall status is the
// worst host's, and its exit code the Nagios one: 0 passing, 1 warning,
// 2 critical, 3 unknown.

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "cli/agents/client.h"
#include "cli/state/state.h"
#include "core/check_spec.h"
#include "core/http_client.h"

namespace keel::agents {

// A server in the state that runs an agent.
struct Target {
  std::string address;  // "servers.web[0]"
  Endpoint endpoint;    // as the state records it (for an SSH host: as the host sees it)
  nlohmann::json attributes;  // the server's, to reach it over SSH (cli/agents/tunnel.h)
};

// Servers (kind `servers`) whose attributes name an agent (agent_url), in
// address order (servers.web[2] before servers.web[10]). One whose agent is
// stopped (`agent: false`) is still asked, and shows as unreachable. With
// `filters`, only addresses equal to one or indexed under one (servers.web
// covers servers.web[0]).
std::vector<Target> agent_targets(const state::State& state, const std::vector<std::string>& filters = {});

struct HostHealth {
  std::string address;
  std::string agent_url;
  bool reachable = false;
  checks::CheckStatus status = checks::CheckStatus::Unknown;
  std::string error;                // why it was not reachable
  std::vector<CheckReport> checks;  // by name
};

struct HealthSummary {
  checks::CheckStatus status = checks::CheckStatus::Unknown;
  int exit_code = 3;
  int hosts = 0, unreachable = 0, checks = 0;
  std::map<checks::CheckStatus, int> counts;  // every status present, 0 included
};

struct PollOptions {
  ClientOptions client{.timeout = std::chrono::milliseconds(4'000), .attempts = 2};
  int max_parallel = 32;
};

// Asks every target's agent for its checks, all at once (up to
// max_parallel threads), through an SSH forward for servers reached over
// SSH. Never fails: an agent that does not answer (or a host that cannot be
// reached) is an unreachable host with the reason.
std::vector<HostHealth> poll(const std::vector<Target>& targets, http::HttpClient& transport,
                             const PollOptions& options = {});

// The verdict. No hosts at all is unknown (exit 3): nothing was checked.
HealthSummary summarize(const std::vector<HostHealth>& hosts);

// "servers.web[2]" sorts before "servers.web[10]".
bool address_less(const std::string& a, const std::string& b);

}  // namespace keel::agents

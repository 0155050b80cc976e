#pragma once
// The `agent:` setting of servers keel reaches over SSH (`provider: ssh`
// hosts and cloud servers that join the fleet, docs/providers/ssh.md):
//
//   agent: true | false
//   agent: { port: 7300, dir: /opt/keel/agent, enabled: true, health_port: 7301 }
//
// Pure parsing and checking, shared by the stack's validation (which
// reports a problem at the line of the key in error) and by the providers
// (which refuse it again at apply).

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace keel::config {

inline constexpr int kDefaultAgentPort = 7300;
inline constexpr const char* kDefaultAgentDir = "/opt/keel/agent";

struct AgentSetting {
  bool enabled = true;
  int port = kDefaultAgentPort;        // the API, on the host's 127.0.0.1
  std::string dir = kDefaultAgentDir;  // where it lives on the host
  // The plain-HTTP health port for load balancers' probes (the agent's
  // `health_listen`, on every address of the host); 0: none.
  int health_port = 0;
};

// What is wrong with a setting: the key in error ("health_port"; empty for
// the value as a whole) and a message that names it.
struct AgentSettingProblem {
  std::string key;
  std::string message;
};

// Parses `value` (null: the default, enabled) into `out`; the first
// problem when there is one.
std::optional<AgentSettingProblem> parse_agent_setting(const nlohmann::json& value, AgentSetting& out);

// What the agent's config says for the health port: "0.0.0.0:PORT".
std::string health_listen_of(const AgentSetting& setting);

}  // namespace keel::config

#pragma once
// Reaching a keel-agent that listens on its host's 127.0.0.1 from here:
// through an SSH port forward when the server is reached over SSH (its
// attributes hold `ssh`, cli/ssh/hosts.h), directly otherwise (local
// servers, whose agents listen on this machine).
//
// The agent's certificate names 127.0.0.1, which is also the forward's
// local end, so TLS verification against the agent's CA is unchanged.

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/agents/client.h"
#include "cli/ssh/session.h"
#include "core/error.h"

namespace keel::agents {

// An endpoint to use now, and the forward that keeps it open (null for a
// direct one). Destroying it closes the forward.
struct ReachableAgent {
  Endpoint endpoint;
  std::unique_ptr<ssh::Forward> forward;
};

// The agent named by a server's attributes (agent_url, agent_ca,
// agent_token), made reachable: `session` is the host's SSH session when the
// server has an `ssh` map (connected by the caller, e.g. from
// ssh::Connections), null otherwise. NotFound when the attributes name no
// agent.
Result<ReachableAgent> reach_agent(const nlohmann::json& attributes, ssh::Session* session);

}  // namespace keel::agents

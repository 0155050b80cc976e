#pragma once
// The Fleet of a real rollout: hosts from the state reached over SSH (one
// libssh session per host for the run, ssh::Connections), their agents
// through an SSH port forward (agents::reach_agent) with the agent client.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cli/agents/client.h"
#include "cli/deploy/fleet.h"
#include "cli/ssh/hosts.h"
#include "core/http_client.h"

namespace keel::deploy {

class SshFleet final : public Fleet {
 public:
  // `transport` outlives the fleet; `agent_options` for the agent clients
  // (a check run waits for the check: give it the time the check may take).
  SshFleet(std::vector<ssh::Host> hosts, http::HttpClient& transport, agents::ClientOptions agent_options);
  ~SshFleet() override;

  bool has_agent(const std::string& address) const override;
  Result<HostChannel*> open(const std::string& address) override;
  void reset(const std::string& address) override;

 private:
  class Channel;

  http::HttpClient& transport_;
  agents::ClientOptions agent_options_;
  std::map<std::string, ssh::Host> hosts_;
  ssh::Connections connections_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Channel>> channels_;
};

}  // namespace keel::deploy

#pragma once
// What a rollout needs from the hosts it deploys to: run a shell command,
// upload a file, and ask the host's keel-agent to run a check now.
//
// Callers: the rollout (rollout.h), one thread per host of a batch. A
// HostChannel is used by one thread at a time; Fleet::open() and reset()
// may be called from many threads at once.
//
// Implementations: SshFleet (ssh_fleet.h) over libssh sessions and SSH
// port forwards to the agents; a fake in the unit tests.
//
// Errors: those of the transport (ssh/session.h: Unavailable, Timeout,
// Transient, PermissionDenied, Conflict for a changed host key) and of the
// agent client (agents/client.h: NotFound for an unknown check). A command
// that runs and exits non-zero is a result, not an error.

#include <string>
#include <vector>

#include "cli/agents/client.h"
#include "cli/ssh/session.h"
#include "core/error.h"

namespace keel::deploy {

class HostChannel {
 public:
  virtual ~HostChannel() = default;
  // Runs `command` with /bin/sh on the host; stdout and stderr together.
  virtual Result<ssh::CommandResult> run(const std::string& command) = 0;
  // Uploads a local file to `remote_path` (its directory exists), 0600.
  virtual Status upload(const std::string& local_path, const std::string& remote_path) = 0;
  // The agent's checks (GET /v1/checks).
  virtual Result<std::vector<agents::CheckReport>> checks() = 0;
  // Runs a check now and waits for it (POST /v1/checks/NAME/run).
  virtual Result<agents::CheckReport> run_check(const std::string& name) = 0;
};

class Fleet {
 public:
  virtual ~Fleet() = default;
  // Whether the state names an agent for the host (agent_url): known
  // without connecting.
  virtual bool has_agent(const std::string& address) const = 0;
  // The host's channel, connecting on first use; stays valid until reset().
  virtual Result<HostChannel*> open(const std::string& address) = 0;
  // Drops the host's connections after a transport error, so that the next
  // open() connects again.
  virtual void reset(const std::string& address) = 0;
};

}  // namespace keel::deploy

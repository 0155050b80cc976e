#pragma once
// The keel-agent that runs from a local server's host directory: where its
// files are, its config, and starting and stopping it as a detached daemon
// that outlives keel.
//
// Files in the host directory (HOST_DIR = WORK_DIR/local/servers/NAME):
//   agent.yaml       the agent's config (0600: check definitions may hold
//                    passwords); JSON text, which YAML reads
//   agent.token      the bearer token (0600)
//   agent-key.pem    the TLS private key (0600)
//   agent-cert.pem   the TLS certificate for 127.0.0.1 / localhost
//   ca.pem           the CA that signed it: what clients trust
//   backup.key       the stack's backup key, base64 (0600), when the host
//                    runs backup jobs
//   agent-state/     the agent's state_dir
//   agent.pid        the daemon's pid, written by keel when it starts it
//   agent.log        the agent's stdout and stderr, appended
//
// A running agent is recognised by its pid and by its command line naming
// HOST_DIR/agent.yaml, so a recycled pid is never mistaken for it.
// Functions are safe to call from several threads on different directories.

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace keel::providers::local::agent {

struct Paths {
  std::string dir, config, token, key, cert, ca, state_dir, pid, log, backup_key;
};
Paths paths_in(const std::string& dir);

// The keel-agent to run: $KEEL_AGENT_BIN, else keel-agent beside the running
// executable, else on PATH; an Unavailable error saying so when none.
Result<std::string> find_binary();

// The agent's config document: listen on 127.0.0.1:port with TLS, the
// token file, the state directory, `checks` (null: none; the stack's form,
// whose `on:` is dropped here), and `backups`
// (null or empty: none; else with `backup_key_file` naming paths.backup_key,
// which the caller writes).
nlohmann::json render_config(const Paths& paths, int port, const nlohmann::json& checks,
                             const nlohmann::json& backups = nullptr);
// Writes it to paths.config (atomically, 0600).
Status write_config(const Paths& paths, const nlohmann::json& config);

struct StartRequest {
  std::string binary;
  Paths paths;
  int port = 0;
  std::string ca_pem;
  std::chrono::milliseconds timeout{10'000};  // for GET /v1/ping to answer
};

// Starts keel-agent detached (its own session, stdin /dev/null, output
// appended to agent.log, a minimal environment), writes agent.pid, and
// returns its pid once GET /v1/ping answers over TLS verified with ca_pem.
// On failure nothing is left running and the error holds the end of
// agent.log; ErrorCode::Conflict means another process has the port (the
// caller may try another).
Result<long> start(const StartRequest& request);

// The pid of the agent running from `paths.dir`, if it is alive.
std::optional<long> live_pid(const Paths& paths);
// Alive, and something accepts connections on its port.
bool running(const Paths& paths, int port);

// Stops every agent running from the directory: SIGTERM, then SIGKILL after
// 5 s. Not running is fine; works without any record (a crashed create).
Status stop(const Paths& paths);

}  // namespace keel::providers::local::agent

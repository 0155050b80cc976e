#pragma once
// keel-agent on a host reached over SSH: install, upgrade, reconfigure,
// stop and ask about it. Used by the `ssh` provider (keel apply) and by
// `keel agent install|upgrade|status`.
//
// On the host, under DIR (default /opt/keel/agent, 0700):
//   bin/keel-agent, bin/keel-dr   this keel's own binaries (same arch only)
//   agent.yaml (0600)             the config: listen 127.0.0.1:PORT, TLS, checks, jobs,
//                                 and health_listen 0.0.0.0:N with `health_port`
//   agent.token, agent-key.pem, backup.key (0600), agent-cert.pem, ca.pem
//   agent-state/                  the agent's state_dir
//   agent.log                     its output
// and a service: a systemd unit (/etc/systemd/system/keel-agent.service,
// from templates/agent/) where systemd runs, else DIR/supervise.sh started
// detached (setsid), which restarts the agent and writes supervisor.pid and
// agent.pid. The agent listens on the host's 127.0.0.1 only; keel reaches
// it through an SSH port forward (cli/agents/tunnel.h). Its health port
// (`agent: {health_port: N}`), for load balancers' probes, is the one thing
// it serves on the host's other addresses: status codes, no token
// (agent/health_listener.h).
//
// Private keys of the user are never uploaded; the agent's token and TLS key
// are, as 0600 files, and never appear in a command line.

#include <string>

#include <nlohmann/json.hpp>

#include "cli/config/agent_setting.h"
#include "cli/ssh/session.h"
#include "core/error.h"
#include "core/provider.h"

namespace keel::providers::ssh_host {

inline constexpr int kDefaultAgentPort = config::kDefaultAgentPort;
inline constexpr const char* kDefaultAgentDir = config::kDefaultAgentDir;

// The stack's `agent:` setting (cli/config/agent_setting.h): true/false, or
// {port, dir, enabled, health_port}. InvalidConfig naming the key in error.
using AgentSettings = config::AgentSetting;
Result<AgentSettings> agent_settings(const nlohmann::json& value);

// What the agent needs that keel generates once and keeps in state.
struct AgentMaterial {
  std::string token, ca_pem, cert_pem, key_pem;
  bool complete() const { return !token.empty() && !ca_pem.empty() && !cert_pem.empty() && !key_pem.empty(); }
};
// A fresh token and a CA + certificate for 127.0.0.1.
Result<AgentMaterial> generate_material();

struct AgentJobs {
  nlohmann::json checks;  // name -> definition as the stack has it (render_config drops `on:`), or null
  nlohmann::json backups;  // name -> the agent's job definition, or null
  std::string backup_key;  // base64; needed when there are backups
};

// Uploads the binaries when they differ from this keel's (sha256), writes
// the files, installs the service, (re)starts the agent and waits until it
// answers through a tunnel. With `restart` false, a running agent whose
// binaries, port and health port did not change gets SIGHUP (reloads its
// config, keeps its schedule) instead of a restart: the agent keeps its
// listeners until it restarts.
Status install(ssh::Session& session, const AgentSettings& settings, const AgentMaterial& material,
               const AgentJobs& jobs, const provider::ProgressFn& progress, bool restart = false);

// Only the binaries: uploaded when they differ, then a restart and a wait.
// NotFound when no agent is installed in settings.dir.
Status upgrade(ssh::Session& session, const AgentSettings& settings, const AgentMaterial& material,
               const provider::ProgressFn& progress);

struct AgentStatus {
  bool installed = false;
  bool running = false;        // answers /v1/ping through the tunnel
  bool current = false;        // its binaries are this keel's
  std::string service;         // "systemd" | "supervisor" | ""
  std::string error;           // why it does not answer
};
AgentStatus status(ssh::Session& session, const AgentSettings& settings, const AgentMaterial& material);

// ---- the agent as a server's attributes record it ----
// Shared by the `ssh` provider and cloud servers (cloud_servers.h):
//   agent          the stack's setting (AgentSettings)
//   agent_url, agent_port                      where it listens on the host
//   agent_ca, agent_cert                       its TLS (public)
//   agent_token, agent_tls_key                 sensitive: sealed in state

// The material an install recorded in `attrs` (empty fields when none).
AgentMaterial material_of(const nlohmann::json& attrs);

// Brings the agent on the host to what `attrs["agent"]` says (absent:
// `enabled_by_default`), given what `prior` recorded (null: nothing yet):
// stops or moves a prior agent, installs or reconfigures the wanted one
// (the material of `prior` is kept; new material is made when it has none,
// and then a running agent is restarted, never only reloaded: it would keep
// its old token and certificate),
// and records the endpoint and material in `attrs`. Idempotent: running it
// again after a crash rewrites the same files.
Status converge_agent(ssh::Session& session, const nlohmann::json& prior, nlohmann::json& attrs,
                      const provider::ProgressFn& progress, bool enabled_by_default);

// Records where the agent listens (`settings` null: no agent running) and
// its material in `attrs`.
void set_endpoint(nlohmann::json& attrs, const AgentSettings* settings, const AgentMaterial& material);

// Stops the agent and removes DIR and the unit. Nothing installed is fine.
Status uninstall(ssh::Session& session, const AgentSettings& settings);
// Stops it (the files stay).
Status stop(ssh::Session& session, const AgentSettings& settings);

}  // namespace keel::providers::ssh_host

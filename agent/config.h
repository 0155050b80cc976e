#pragma once
// The agent's config file (YAML; JSON is YAML too, so the CLI may render it
// as JSON):
//
//   listen: 127.0.0.1:7300            # host:port; default 127.0.0.1:7300
//   health_listen: 0.0.0.0:7301       # optional: status codes only, no token (agent/health_listener.h)
//   token_file: /etc/keel/agent.token # the bearer token; required
//   tls: { cert: agent.crt, key: agent.key }   # optional; PEM files
//   state_dir: /var/lib/keel-agent    # default: the config file's directory
//   checks:                           # core/check_spec.h, without `on:`
//     web: { http: "http://127.0.0.1:8080/healthz", interval: 10s }
//   webhook: { url: "https://hooks.example/keel", timeout: 5s, attempts: 5 }
//   backup_key_file: backup.key       # with backups: the key, base64, mode 0600
//   dr_worker: /usr/lib/keel/keel-dr  # default: keel-dr beside keel-agent, else PATH
//   backups:                          # agent/jobs/job_config.h
//     app-db: { source: { postgres: {...} }, to: "file:///var/backups/keel", schedule: "0 3 * * *" }
//   remote_config: true               # false: PUT /v1/config answers 403
//   exec_allowed: [/usr/lib/nagios/plugins/check_tcp]   # the only commands exec checks may run
//
// Relative paths are relative to the config file's directory.
//
// The host's own settings (kHostOnlyKeys: remote_config, exec_allowed,
// dr_worker, health_listen) say what the agent lets the token holder run and
// what it shows without a token; PUT /v1/config cannot change them
// (agent/agent.cpp).

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/jobs/job_config.h"
#include "core/check_spec.h"
#include "core/diagnostics.h"
#include "core/error.h"

namespace keel::agent {

struct TlsConfig {
  std::string cert_file, key_file;
};

struct WebhookConfig {
  std::string url;
  std::chrono::milliseconds timeout{5000};
  int attempts = 5;  // with exponential backoff between them
};

struct AgentConfig {
  std::string file;  // where it was read from (empty for PUT bodies)
  std::string listen_host = "127.0.0.1";
  int listen_port = 7300;
  // A second listener for load balancers' probes (agent/health_listener.h):
  // host and port, unset when off (the default).
  std::optional<std::pair<std::string, int>> health_listen;
  std::string token_file;
  std::optional<TlsConfig> tls;
  std::string state_dir;
  std::vector<checks::CheckSpec> checks;  // in file order, names unique
  std::optional<WebhookConfig> webhook;
  std::string backup_key_file;            // required when `backups` is not empty
  std::string dr_worker;                  // empty: the default (default_dr_worker())
  std::vector<BackupJob> backups;         // in file order, names unique
  bool remote_config = true;              // false: PUT /v1/config is refused (403)
  // When set, the only commands (argv[0], absolute paths) an exec check may
  // run; an empty list allows none.
  std::optional<std::vector<std::string>> exec_allowed;

  // Settings that only take effect at a restart (the listening sockets).
  bool same_listener(const AgentConfig& other) const;
};

struct ConfigLoad {
  AgentConfig config;
  Diagnostics diagnostics;
  std::set<std::string> keys;  // the top-level keys the text sets
};

// Settings only the agent's own file sets: what programs the agent runs for
// whoever holds the token. A PUT /v1/config body may leave them out or
// repeat them unchanged.
inline const std::vector<std::string> kHostOnlyKeys = {"remote_config", "exec_allowed", "dr_worker", "health_listen"};

// "host:port", "[v6]:port": how `listen` and `health_listen` are written.
std::string format_host_port(const std::pair<std::string, int>& listen);

// What a PUT /v1/config body (`body`) would change of the host-only
// settings of the running config (`host`), as an error message; nullopt
// when it leaves them out or repeats them unchanged.
std::optional<std::string> host_only_change(const ConfigLoad& body, const AgentConfig& host);

// The config text a PUT /v1/config writes over the file: `text` with the
// host-only settings of `host` set in it (re-emitted as YAML), or `text`
// itself when `host` has only their defaults.
Result<std::string> with_host_settings(const std::string& text, const AgentConfig& host);

// The exec checks of `config` whose command `exec_allowed` does not list,
// one message each (none when exec_allowed is not set).
std::vector<std::string> exec_checks_not_allowed(const AgentConfig& config);

// Parses config text; `file` names it in diagnostics and anchors relative
// paths (its directory; `base_dir` overrides that when given).
ConfigLoad parse_agent_config(const std::string& text, const std::string& file, const std::string& base_dir = {});
ConfigLoad load_agent_config(const std::string& path);

// Reads and trims the token file; refuses an empty one or one readable by
// others (it is a password).
Result<std::string> read_token(const std::string& path);

// keel-dr in the directory of the running executable when it is there
// (installed side by side), else "keel-dr" to be found on PATH.
std::string default_dr_worker();

}  // namespace keel::agent

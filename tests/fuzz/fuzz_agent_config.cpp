// Fuzz target: the agent's config parser, on what PUT /v1/config and
// SIGHUP feed it (a body from whoever holds the token, a file on the host).
// Any input must end in a config and diagnostics: no crash, no hang,
// bounded memory. And a body that parses must still parse, to the same
// checks, once the host's own settings are written into it (what PUT
// /v1/config writes over the file).
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto load = keel::agent::parse_agent_config(text, "agent.yaml", "/nonexistent");
  (void)load.diagnostics.describe();
  (void)keel::agent::exec_checks_not_allowed(load.config);
  if (load.diagnostics.has_errors()) return 0;

  // Host settings that cannot make the body's checks invalid (an
  // exec_allowed list could, rightly).
  keel::agent::AgentConfig host;
  host.remote_config = false;
  host.dr_worker = "/usr/lib/keel/keel-dr";
  (void)keel::agent::host_only_change(load, host);
  auto written = keel::agent::with_host_settings(text, host);
  if (!written) __builtin_trap();
  auto reread = keel::agent::parse_agent_config(*written, "agent.yaml", "/nonexistent");
  if (reread.diagnostics.has_errors() || reread.config.remote_config || reread.config.dr_worker != host.dr_worker ||
      reread.config.checks.size() != load.config.checks.size())
    __builtin_trap();
  for (size_t i = 0; i < load.config.checks.size(); ++i)
    if (reread.config.checks[i].to_json() != load.config.checks[i].to_json()) __builtin_trap();
  return 0;
}

#pragma once
// How `keel agent install|upgrade|status` looks: a line per host and the
// counts, or one JSON document (docs/json-output.md), chosen once from
// --json.
//
//   servers.web[0]  ok    running (systemd), this keel's version
//   servers.web[1]  FAIL  connect root@127.0.0.1:2222: Connection refused
//
//   2 hosts: 1 ok, 1 failed

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/providers/ssh/remote_agent.h"
#include "cli/views/plan_view.h"

namespace keel::views {

// What one host's agent came to.
struct AgentHostResult {
  std::string address;  // servers.web[0]
  std::string host;     // root@10.0.0.5:22
  bool ok = false;      // done (status: the agent answers)
  providers::ssh_host::AgentStatus status;
  std::string error;    // why not ok
};

std::string render_agent_results(const std::vector<AgentHostResult>& results);
// {"action", "hosts": [{"address", "host", "ok", "installed", "running",
// "current", "service", "error"}], "summary": {"ok", "failed"}}
nlohmann::json agent_results_to_json(const std::string& verb, const std::vector<AgentHostResult>& results);

class AgentView {
 public:
  virtual ~AgentView() = default;
  virtual void results(const std::string& verb, const std::vector<AgentHostResult>& results) = 0;
};
std::unique_ptr<AgentView> make_agent_view(bool json, const Streams& streams);

}  // namespace keel::views

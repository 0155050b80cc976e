#pragma once
// How `keel health` looks: a table for people, a stable JSON document for
// machines (docs/json-output.md).
//
//   HOST            CHECK    STATUS    AGE  OUTPUT
//   servers.web[0]  web-tcp  passing   3s   connected to 127.0.0.1:8000 in 0 ms
//   servers.web[1]  -        unknown   -    agent unreachable: GET https://...
//
//   Status: UNKNOWN — 2 hosts (1 unreachable), 1 check: 1 passing

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/agents/health.h"
#include "cli/views/plan_view.h"

namespace keel::views {

struct HealthTableStyle {
  std::size_t width = 120;  // the terminal's columns: OUTPUT is cut to fit
  bool color = false;       // ANSI colours for the statuses
};

std::string render_health(const std::vector<agents::HostHealth>& hosts, const agents::HealthSummary& summary,
                          std::chrono::system_clock::time_point now, const HealthTableStyle& style = {});

nlohmann::json health_to_json(const std::vector<agents::HostHealth>& hosts, const agents::HealthSummary& summary,
                              std::chrono::system_clock::time_point now);

// keel health --watch: rounds until interrupted.
struct HealthWatch {
  bool on = false;
  int interval = 2;     // seconds between rounds, named in the redrawn header
  bool redraw = false;  // stdout is a terminal: clear it and redraw in place
};

// One round of answers, as `keel health` shows it: the table (or, under
// --watch, the table redrawn or followed by a blank line), or the JSON
// document (under --watch, one per line: JSON lines). Chosen once from
// --json, so the command never branches on the format.
class HealthView {
 public:
  virtual ~HealthView() = default;
  virtual void round(const std::vector<agents::HostHealth>& hosts, const agents::HealthSummary& summary,
                     std::chrono::system_clock::time_point when) = 0;
};
std::unique_ptr<HealthView> make_health_view(bool json, const Streams& streams, const HealthTableStyle& style,
                                             const HealthWatch& watch = {});

// Time since a check ran, in its largest unit: "3s", "4m", "2h", "6d".
std::string format_age(std::chrono::seconds age);

// The first line of a check's output, with control characters (escape
// sequences from a plugin) made harmless, cut to `max` characters with "…".
std::string output_line(const std::string& output, std::size_t max);

}  // namespace keel::views

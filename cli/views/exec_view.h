#pragma once
// How `keel exec` looks (docs/cli.md#exec): host lines as they arrive, or
// each host's output under a header; a summary of exit codes; the JSON
// document for machines (docs/json-output.md).
//
//   servers.web[0] | hello
//   servers.web[1] | hello
//
//   exit 0: 2 hosts: servers.web[0-1]
//   unreachable: 1 host
//     servers.db: connect root@127.0.0.1:2222: Connection refused
//   2 ok, 0 failed, 1 unreachable (3 hosts) in 0.4s

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/fleet/exec.h"

namespace keel::views {

// "ADDRESS | line\n", the address padded to `width` so that the bars line up.
std::string exec_line(const std::string& address, std::size_t width, std::string_view line);

// A line of keel's own about a host that did not exit (streamed mode, to
// stderr): "ADDRESS ! unreachable: REASON\n". Empty for a host that exited.
std::string exec_problem_line(const fleet::HostRun& run, std::size_t width);

// --group: a header line, then the host's output as it interleaved, ending
// with a newline:
//   --- servers.web[0] (root@10.0.0.5:22): exit 0 in 0.2s
//   --- servers.web[1] (root@10.0.0.6:22): unreachable: connect ...: Connection refused
std::string render_exec_group(const fleet::HostRun& run);

// The summary: hosts per exit status, then those whose command did not
// finish and those that could not be reached (each with its reason), then
// the totals and the time the whole run took.
std::string render_exec_summary(const std::vector<fleet::HostRun>& runs, std::chrono::milliseconds total);

// The --json document: {"format_version", "command", "exit_code",
// "duration_ms", "hosts": [...], "skipped": [...], "summary": {...}}.
nlohmann::json exec_to_json(const std::string& command, const std::vector<fleet::HostRun>& runs,
                            const std::vector<std::string>& skipped, std::chrono::milliseconds total,
                            int exit_code);

// Addresses in a short form: "servers.web[0-2,5], servers.db" for
// servers.web[0], [1], [2], [5] and servers.db (order kept; consecutive
// addresses of one group merged).
std::string compact_addresses(const std::vector<std::string>& addresses);

}  // namespace keel::views

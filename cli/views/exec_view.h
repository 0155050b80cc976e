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
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/fleet/exec.h"
#include "cli/views/plan_view.h"

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

// How `keel exec` shows a run, chosen once from --json and --group:
//   streamed  each line as it arrives, behind its host (stdout lines on
//             stdout, stderr lines on stderr); a host that did not exit,
//             on stderr at once; the summary at the end
//   group     each host's output together when it ends; the summary
//   json      nothing while it runs; the document at the end
// Selected hosts that cannot be reached over SSH are named on stderr, or in
// the document's "skipped".
class ExecView {
 public:
  virtual ~ExecView() = default;
  // Whether the run must keep each host's output (HostRun::output).
  virtual bool collects_output() const = 0;
  virtual void skipped(const std::vector<std::string>& addresses) = 0;
  // From the hosts' threads, as fleet::ExecHooks's on_line and on_finish.
  virtual void line(const std::string& address, ssh::Stream stream, std::string_view text) = 0;
  virtual void host_finished(const fleet::HostRun& run) = 0;
  virtual void finished(const std::string& command, const std::vector<fleet::HostRun>& runs,
                        const std::vector<std::string>& skipped, std::chrono::milliseconds total, int exit_code) = 0;
};
enum class ExecLayout { Streamed, Grouped };
// `width`: the longest address among the hosts, to line the bars up.
std::unique_ptr<ExecView> make_exec_view(bool json, ExecLayout layout, const Streams& streams, std::size_t width);

// Addresses in a short form: "servers.web[0-2,5], servers.db" for
// servers.web[0], [1], [2], [5] and servers.db (order kept; consecutive
// addresses of one group merged).
std::string compact_addresses(const std::vector<std::string>& addresses);

}  // namespace keel::views

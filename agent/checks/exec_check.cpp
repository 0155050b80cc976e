// The exec check: a Nagios-style plugin run without a shell. The exit code
// is the status (0 passing, 1 warning, 2 critical, other unknown); the
// plugin's own text is the output.
//
// process::run does the spawning: a new process group, stdin /dev/null,
// stdout and stderr in one pipe. Here it keeps the first kMaxCheckOutput
// bytes and drains the rest, kills the whole group at the deadline, and also
// kills what a plugin left behind in its group once it has exited.

#include <string.h>

#include <fmt/format.h>

#include "agent/checks/check.h"
#include "core/process.h"

namespace keel::agent {
namespace {

using checks::CheckStatus;

// Trailing blank lines go; a cut output keeps every byte so that
// truncate_output (in run_check) sees that it is too long and marks the cut.
std::string trimmed(std::string text, bool truncated = false) {
  if (truncated) return text;
  size_t end = text.find_last_not_of(" \t\r\n");
  text.erase(end == std::string::npos ? 0 : end + 1);
  return text;
}

// "Segmentation fault"; sigdescr_np is the thread-safe strsignal.
std::string signal_text(int sig) {
  const char* text = ::sigdescr_np(sig);
  return text ? fmt::format("killed by signal {} ({})", sig, text) : fmt::format("killed by signal {}", sig);
}

// Why it ended first, then what the plugin had said until then.
std::string with_output(const std::string& what, const process::Outcome& outcome) {
  std::string text = trimmed(outcome.output, outcome.output_truncated);
  if (text.empty()) return what;
  return fmt::format("{}\n{}", what, text);
}

}  // namespace

CheckResult run_exec_check(const checks::ExecCheck& check, std::chrono::milliseconds timeout) {
  if (check.argv.empty() || check.argv[0].empty()) return {CheckStatus::Unknown, "no command given"};
  process::Options options;
  options.argv = check.argv;
  options.timeout = timeout;
  options.new_process_group = true;
  options.kill_group_on_exit = true;
  // One byte more than is kept, so that truncate_output (in run_check) sees
  // and marks the cut.
  options.max_output = kMaxCheckOutput + 1;
  auto outcome = process::run(options);
  if (!outcome) return {CheckStatus::Unknown, outcome.error().message()};  // "cannot run x: No such file ..."
  if (outcome->timed_out) return {CheckStatus::Critical, with_output(outcome->describe(), *outcome)};
  if (outcome->signal != 0) return {CheckStatus::Unknown, with_output(signal_text(outcome->signal), *outcome)};
  std::string text = trimmed(std::move(outcome->output), outcome->output_truncated);
  if (text.empty()) text = outcome->describe();  // a silent plugin: say at least how it ended
  return {checks::status_from_exit_code(outcome->exit_code), std::move(text)};
}

}  // namespace keel::agent

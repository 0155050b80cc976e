#pragma once
// Running one health check once. The scheduler (agent/scheduler.h) decides
// when; these functions only look and report.
//
// Contract for every check type:
// - returns within spec.timeout (plus a few milliseconds): every connect,
//   read and child process is bounded by that deadline; an exec check's
//   whole process group is killed at it;
// - never throws, never crashes the agent on any input or peer behaviour;
// - output is one short human line or a few (what was seen, e.g. "HTTP 200
//   in 3 ms" or the plugin's own text), at most kMaxCheckOutput bytes;
// - safe to call from several threads at once for different checks.

#include <cstddef>
#include <string>

#include "core/check_spec.h"

namespace keel::agent {

inline constexpr size_t kMaxCheckOutput = 4096;  // as Consul truncates check output

struct CheckResult {
  checks::CheckStatus status = checks::CheckStatus::Unknown;
  std::string output;
};

CheckResult run_check(const checks::CheckSpec& spec);

// Cuts text to kMaxCheckOutput bytes (on a UTF-8 boundary), marking the cut.
std::string truncate_output(std::string text, size_t limit = kMaxCheckOutput);

}  // namespace keel::agent

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

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

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

// One function per family (agent/checks/<family>_check.cpp); run_check
// dispatches to them, catches what they might throw and truncates their
// output. `timeout` bounds the whole run.
CheckResult run_http_check(const checks::HttpCheck& check, std::chrono::milliseconds timeout);
CheckResult run_graphql_check(const checks::GraphqlCheck& check, std::chrono::milliseconds timeout);
CheckResult run_tcp_check(const checks::TcpCheck& check, std::chrono::milliseconds timeout);
CheckResult run_exec_check(const checks::ExecCheck& check, std::chrono::milliseconds timeout);
CheckResult run_postgres_check(const checks::PostgresCheck& check, std::chrono::milliseconds timeout);
CheckResult run_redis_check(const checks::RedisCheck& check, std::chrono::milliseconds timeout);
// The system checks only read the kernel's numbers: they need no timeout.
CheckResult run_disk_check(const checks::DiskCheck& check);
CheckResult run_memory_check(const checks::MemoryCheck& check);
CheckResult run_load_check(const checks::LoadCheck& check);
CheckResult run_process_check(const checks::ProcessCheck& check);

namespace detail {

// An owned file descriptor, closed when it goes out of scope.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// For the tcp and redis checks: a connected, non-blocking TCP socket to
// host:port by `deadline`. Numeric addresses are used as they are; a name is
// resolved on a helper thread so that a slow resolver cannot hold the check
// past its deadline. Errors read like "127.0.0.1:1: Connection refused"
// (code Timeout when the deadline passed).
Result<UniqueFd> connect_tcp(const std::string& host, int port, std::chrono::steady_clock::time_point deadline);

// "host:port", with brackets around an IPv6 address.
std::string host_port(const std::string& host, int port);

// Milliseconds from `start` to now, for "in 3 ms".
long long elapsed_ms(std::chrono::steady_clock::time_point start);

}  // namespace detail

}  // namespace keel::agent

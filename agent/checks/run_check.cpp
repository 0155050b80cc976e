// run_check: picks the family's function for a spec. It measures nothing
// (the scheduler times runs); it only makes the contract of check.h hold for
// every family: no exception escapes, output is bounded.

#include <exception>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

#include "agent/checks/check.h"

namespace keel::agent {
namespace {

using std::chrono::milliseconds;

// A zero or negative timeout would make every check fail at once; the
// parser never produces one, but a spec can be built by hand.
milliseconds effective_timeout(const checks::CheckSpec& spec) {
  return spec.timeout.count() > 0 ? spec.timeout : milliseconds(10'000);
}

CheckResult dispatch(const checks::CheckSpec& spec) {
  const milliseconds timeout = effective_timeout(spec);
  return std::visit(
      [&](const auto& params) -> CheckResult {
        using T = std::decay_t<decltype(params)>;
        if constexpr (std::is_same_v<T, checks::HttpCheck>) return run_http_check(params, timeout);
        else if constexpr (std::is_same_v<T, checks::TcpCheck>) return run_tcp_check(params, timeout);
        else if constexpr (std::is_same_v<T, checks::ExecCheck>) return run_exec_check(params, timeout);
        else if constexpr (std::is_same_v<T, checks::PostgresCheck>) return run_postgres_check(params, timeout);
        else if constexpr (std::is_same_v<T, checks::RedisCheck>) return run_redis_check(params, timeout);
        else if constexpr (std::is_same_v<T, checks::DiskCheck>) return run_disk_check(params);
        else if constexpr (std::is_same_v<T, checks::MemoryCheck>) return run_memory_check(params);
        else if constexpr (std::is_same_v<T, checks::LoadCheck>) return run_load_check(params);
        else if constexpr (std::is_same_v<T, checks::ProcessCheck>) return run_process_check(params);
        else if constexpr (std::is_same_v<T, checks::GraphqlCheck>) return run_graphql_check(params, timeout);
        // The agent answers dr checks from its job history before they get
        // here (agent/jobs/dr_check.h); a bare run_check cannot.
        else if constexpr (std::is_same_v<T, checks::DrCheck>)
          return CheckResult{checks::CheckStatus::Unknown, "dr checks are computed by the agent's job scheduler"};
        else static_assert(!sizeof(T), "a check type without a runner");
      },
      spec.params);
}

}  // namespace

CheckResult run_check(const checks::CheckSpec& spec) {
  CheckResult result;
  // The runners report failures as results; what can still throw here is
  // std::bad_alloc and the like, which must not take the agent down.
  try {
    result = dispatch(spec);
  } catch (const std::exception& e) {
    result = {checks::CheckStatus::Unknown, fmt::format("internal error: {}", e.what())};
  } catch (...) {
    result = {checks::CheckStatus::Unknown, "internal error"};
  }
  result.output = truncate_output(std::move(result.output));
  return result;
}

}  // namespace keel::agent

// The postgres check: connect and run one query through core/pg_client.h
// (every wait bounded by the check's deadline, libpq loaded on first use, so
// an agent without postgres checks never maps it). The conninfo (which may
// hold a password) never appears in the output; libpq's own messages do not
// repeat it either. Without libpq installed the check is unknown.

#include <fmt/format.h>

#include "agent/checks/check.h"
#include "core/pg_client.h"

namespace keel::agent {
namespace {

using checks::CheckStatus;
using Clock = std::chrono::steady_clock;

// "SELECT 1 -> 1 (1 row)", "UPDATE t SET ... -> UPDATE 3".
std::string describe(const std::string& query, const pg::QueryResult& result, long long ms) {
  const std::string shown = pg::one_line(query, 60);
  if (!result.has_rows) return fmt::format("{} -> {} in {} ms", shown, pg::one_line(result.command_status, 60), ms);
  const size_t rows = result.rows.size();
  const std::string_view row_word = rows == 1 ? "row" : "rows";
  if (rows == 0 || result.rows[0].empty()) return fmt::format("{} -> ({} {}) in {} ms", shown, rows, row_word, ms);
  const auto& first = result.rows[0][0];
  const std::string value = first ? pg::one_line(*first, 60) : "NULL";
  return fmt::format("{} -> {} ({} {}) in {} ms", shown, value, rows, row_word, ms);
}

}  // namespace

CheckResult run_postgres_check(const checks::PostgresCheck& check, std::chrono::milliseconds timeout) {
  if (!pg::available()) return {CheckStatus::Unknown, "libpq is not installed (Debian package libpq5)"};
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  auto conn = pg::Connection::open(check.conninfo, "keel-agent", deadline);
  if (!conn) return {CheckStatus::Critical, conn.error().message()};
  const std::string query = check.query.empty() ? "SELECT 1" : check.query;
  auto result = conn->run(query, deadline);
  if (!result) return {CheckStatus::Critical, result.error().message()};
  return {CheckStatus::Passing, describe(query, *result, detail::elapsed_ms(start))};
}

}  // namespace keel::agent

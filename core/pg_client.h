#pragma once
// A PostgreSQL client with a deadline on every wait: libpq's asynchronous
// API, each wait a poll() bounded by the caller's deadline. Used by the
// agent's postgres check and by keel's PostgreSQL state backend.
//
// libpq is loaded with dlopen on first use, not linked: with it come some
// twenty shared libraries (Kerberos, LDAP, GnuTLS, ...) and about 3 MB of
// resident memory that a keel or an agent that never talks to PostgreSQL
// should not pay for at startup. Without libpq installed, open() says which
// Debian package to install.
//
// The conninfo (which may hold a password) never appears in an error:
// libpq's own messages do not repeat it, and ours name no part of it.
//
// Limit: libpq resolves a host name inside PQconnectPoll, synchronously; a
// numeric host (or hostaddr=) keeps connecting bounded.
//
// Errors: Unavailable (libpq missing, the server unreachable or gone),
// Timeout (the deadline passed; a query still running is cancelled),
// PermissionDenied (authentication, privileges: SQLSTATE classes 28, 42501),
// Conflict (integrity and serialization: classes 23, 40), InvalidConfig
// (anything else the server refuses), each with the server's message.
//
// Threading: a Connection is used by one thread at a time.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

struct pg_conn;

namespace keel::pg {

using Clock = std::chrono::steady_clock;

// Whether libpq could be loaded (loads it on the first call).
bool available();

// libpq's messages span lines ("connection to server ... failed: FATAL:
// password ...\n"): one line, single spaces, at most `limit` bytes.
std::string one_line(std::string_view text, size_t limit = 300);

// The settings a conninfo (key=value pairs or a postgresql:// URI) holds,
// as libpq reads it: "host", "port", "dbname", "user", "password", ...
// (only those it sets). InvalidConfig when it is not one; the message never
// repeats any of it.
Result<std::map<std::string, std::string>> parse_conninfo(const std::string& conninfo);

// What a statement answered. Values are text (libpq's text format); a NULL
// is nullopt.
struct QueryResult {
  bool has_rows = false;       // a SELECT (or RETURNING), even with 0 rows
  std::string command_status;  // "INSERT 0 1", "SELECT 3"
  std::vector<std::vector<std::optional<std::string>>> rows;

  // The first row's first column, "" when there is none or it is NULL.
  std::string first_value() const;
};

class Connection {
 public:
  // Connects with `conninfo` (key=value or a postgresql:// URI) by the
  // deadline. `application_name` applies unless the conninfo sets one.
  static Result<Connection> open(const std::string& conninfo, const std::string& application_name,
                                 Clock::time_point deadline);

  // One statement or several (the simple protocol; of several, the first
  // error or else the last result counts). No parameters: for fixed SQL.
  Result<QueryResult> run(const std::string& sql, Clock::time_point deadline);
  // One statement with $1, $2, ... bound to `params` (sent apart from the
  // SQL: nothing in a value is ever read as SQL).
  Result<QueryResult> run(const std::string& sql, const std::vector<std::optional<std::string>>& params,
                          Clock::time_point deadline);

  // Whether the connection is still up as far as libpq knows (a server that
  // went away is only noticed by the next statement).
  bool ok() const;

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  ~Connection();

 private:
  struct Closer {
    void operator()(pg_conn* conn) const;
  };
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  Result<QueryResult> collect(Clock::time_point deadline);

  std::unique_ptr<pg_conn, Closer> conn_;
};

}  // namespace keel::pg

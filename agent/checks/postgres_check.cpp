// The postgres check: connect and run one query with libpq's asynchronous
// API, every wait a poll() bounded by the check's deadline. The conninfo
// (which may hold a password) never appears in the output; libpq's own
// messages do not repeat it either.
//
// libpq is loaded with dlopen the first time a postgres check runs, not
// linked: with it come some twenty shared libraries (Kerberos, LDAP, GnuTLS,
// ...) and about 3 MB of resident memory that an agent without postgres
// checks should not pay for. Without libpq installed the check is unknown.
//
// Limit: libpq resolves a host name inside PQconnectPoll, synchronously; a
// numeric host (or hostaddr=) keeps the whole check bounded.

#include <dlfcn.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <libpq-fe.h>

#include "agent/checks/check.h"

namespace keel::agent {
namespace {

using checks::CheckStatus;
using Clock = std::chrono::steady_clock;

// ---- libpq, loaded on first use --------------------------------------------------

#define KEEL_LIBPQ_FUNCTIONS \
  X(PQcancel) \
  X(PQclear) \
  X(PQcmdStatus) \
  X(PQconnectPoll) \
  X(PQconnectStartParams) \
  X(PQconsumeInput) \
  X(PQerrorMessage) \
  X(PQfinish) \
  X(PQflush) \
  X(PQfreeCancel) \
  X(PQgetCancel) \
  X(PQgetResult) \
  X(PQgetisnull) \
  X(PQgetvalue) \
  X(PQisBusy) \
  X(PQnfields) \
  X(PQntuples) \
  X(PQresStatus) \
  X(PQresultErrorMessage) \
  X(PQresultStatus) \
  X(PQsendQuery) \
  X(PQsetnonblocking) \
  X(PQsocket) \
  X(PQstatus)

struct LibPq {
#define X(name) decltype(&::name) name = nullptr;
  KEEL_LIBPQ_FUNCTIONS
#undef X
  bool loaded = false;
};

LibPq load_libpq() {
  LibPq lib;
  // RTLD_LOCAL: its symbols (and those of its dependencies) stay out of the
  // agent's namespace. The handle is never closed.
  void* handle = ::dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
  if (!handle) return lib;
#define X(name)                                                         \
  lib.name = reinterpret_cast<decltype(&::name)>(::dlsym(handle, #name)); \
  if (!lib.name) return lib;
  KEEL_LIBPQ_FUNCTIONS
#undef X
  lib.loaded = true;
  return lib;
}

// Loaded once, by whichever thread comes first (a function-local static is
// initialised thread-safely).
const LibPq& libpq() {
  static const LibPq lib = load_libpq();
  return lib;
}

struct ConnDeleter {
  void operator()(PGconn* conn) const { libpq().PQfinish(conn); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;

struct ResultDeleter {
  void operator()(PGresult* result) const { libpq().PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

// libpq's messages span lines ("connection to server ... failed: FATAL:  password ...\n"):
// one line, single spaces, bounded.
std::string one_line(std::string_view text, size_t limit = 300) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
    if (out.size() >= limit) {
      out += "...";
      break;
    }
  }
  return out;
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

enum class Wait { Ready, Timeout, Error };

Wait wait_socket(PGconn* conn, short events, Clock::time_point deadline) {
  int fd = libpq().PQsocket(conn);
  if (fd < 0) return Wait::Error;
  for (;;) {
    pollfd pfd{fd, events, 0};
    int ready = ::poll(&pfd, 1, remaining_ms(deadline));
    if (ready > 0) return Wait::Ready;
    if (ready == 0) return Wait::Timeout;
    if (errno != EINTR) return Wait::Error;
  }
}

std::string conn_error(PGconn* conn) {
  std::string text = one_line(libpq().PQerrorMessage(conn));
  return text.empty() ? "connection failed" : text;
}

// Connects by the deadline; the error is libpq's message (or a timeout).
Result<Conn> connect(const std::string& conninfo, Clock::time_point deadline) {
  // expand_dbname: the "dbname" value is the user's whole conninfo (key=value
  // or URI); our application name applies only if theirs sets none.
  const char* keys[] = {"dbname", "fallback_application_name", nullptr};
  const char* values[] = {conninfo.c_str(), "keel-agent", nullptr};
  Conn conn(libpq().PQconnectStartParams(keys, values, 1));
  if (!conn) return fail(ErrorCode::Internal, "out of memory");
  if (libpq().PQstatus(conn.get()) == CONNECTION_BAD) return fail(ErrorCode::Unavailable, conn_error(conn.get()));
  PostgresPollingStatusType polling = PGRES_POLLING_WRITING;
  for (;;) {
    if (polling == PGRES_POLLING_OK) return conn;
    if (polling == PGRES_POLLING_FAILED) return fail(ErrorCode::Unavailable, conn_error(conn.get()));
    Wait waited = wait_socket(conn.get(), polling == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
    if (waited == Wait::Timeout) return fail(ErrorCode::Timeout, "timed out connecting");
    if (waited == Wait::Error) return fail(ErrorCode::Unavailable, conn_error(conn.get()));
    polling = libpq().PQconnectPoll(conn.get());
  }
}

// PQcancel opens a new connection and blocks while doing so; on a thread of
// its own it cannot hold the check past its deadline.
void cancel_in_background(PGconn* conn) {
  PGcancel* cancel = libpq().PQgetCancel(conn);
  if (!cancel) return;
  try {
    std::thread([cancel] {
      char err[256];
      libpq().PQcancel(cancel, err, sizeof err);
      libpq().PQfreeCancel(cancel);
    }).detach();
  } catch (const std::system_error&) {
    libpq().PQfreeCancel(cancel);  // no thread to spare: the server ends the query when we hang up
  }
}

// Sends the query and collects its last result by the deadline.
Result<PgResult> run_query(PGconn* conn, const std::string& query, Clock::time_point deadline) {
  if (libpq().PQsetnonblocking(conn, 1) != 0 || !libpq().PQsendQuery(conn, query.c_str())) {
    return fail(ErrorCode::Unavailable, conn_error(conn));
  }
  for (;;) {  // flush what libpq could not send at once
    int flushed = libpq().PQflush(conn);
    if (flushed == 0) break;
    if (flushed < 0) return fail(ErrorCode::Unavailable, conn_error(conn));
    Wait waited = wait_socket(conn, POLLOUT | POLLIN, deadline);
    if (waited == Wait::Timeout) return fail(ErrorCode::Timeout, "timed out sending the query");
    if (waited == Wait::Error) return fail(ErrorCode::Unavailable, conn_error(conn));
    if (!libpq().PQconsumeInput(conn)) return fail(ErrorCode::Unavailable, conn_error(conn));
  }
  PgResult last;
  for (;;) {
    while (!libpq().PQisBusy(conn)) {
      PGresult* next = libpq().PQgetResult(conn);
      if (!next) {
        if (!last) return fail(ErrorCode::Protocol, "no result");
        return last;
      }
      // Of several statements, the first error or else the last result counts.
      if (!last || libpq().PQresultStatus(last.get()) != PGRES_FATAL_ERROR) last.reset(next);
      else libpq().PQclear(next);
    }
    Wait waited = wait_socket(conn, POLLIN, deadline);
    if (waited == Wait::Timeout) {
      cancel_in_background(conn);
      return fail(ErrorCode::Timeout, "timed out waiting for the query");
    }
    if (waited == Wait::Error || !libpq().PQconsumeInput(conn)) return fail(ErrorCode::Unavailable, conn_error(conn));
  }
}

// "SELECT 1 -> 1 (1 row)", "UPDATE t SET ... -> UPDATE 3".
std::string describe(const std::string& query, PGresult* result, long long ms) {
  const std::string shown = one_line(query, 60);
  if (libpq().PQresultStatus(result) != PGRES_TUPLES_OK) {
    return fmt::format("{} -> {} in {} ms", shown, one_line(libpq().PQcmdStatus(result), 60), ms);
  }
  const int rows = libpq().PQntuples(result);
  const std::string_view row_word = rows == 1 ? "row" : "rows";
  if (rows == 0 || libpq().PQnfields(result) == 0) return fmt::format("{} -> ({} {}) in {} ms", shown, rows, row_word, ms);
  const std::string value = libpq().PQgetisnull(result, 0, 0) ? "NULL" : one_line(libpq().PQgetvalue(result, 0, 0), 60);
  return fmt::format("{} -> {} ({} {}) in {} ms", shown, value, rows, row_word, ms);
}

}  // namespace

CheckResult run_postgres_check(const checks::PostgresCheck& check, std::chrono::milliseconds timeout) {
  if (!libpq().loaded) return {CheckStatus::Unknown, "libpq is not installed (Debian package libpq5)"};
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  auto conn = connect(check.conninfo, deadline);
  if (!conn) return {CheckStatus::Critical, conn.error().message()};
  const std::string query = check.query.empty() ? "SELECT 1" : check.query;
  auto result = run_query(conn->get(), query, deadline);
  if (!result) return {CheckStatus::Critical, result.error().message()};
  switch (libpq().PQresultStatus(result->get())) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
      return {CheckStatus::Passing, describe(query, result->get(), detail::elapsed_ms(start))};
    default: {
      std::string why = one_line(libpq().PQresultErrorMessage(result->get()));
      return {CheckStatus::Critical, why.empty() ? std::string(libpq().PQresStatus(libpq().PQresultStatus(result->get()))) : why};
    }
  }
}

}  // namespace keel::agent

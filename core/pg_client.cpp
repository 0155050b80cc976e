#include "core/pg_client.h"

#include <dlfcn.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <thread>

#include <libpq-fe.h>

namespace keel::pg {

namespace {

// ---- libpq, loaded on first use --------------------------------------------------

#define KEEL_LIBPQ_FUNCTIONS \
  X(PQcancel)                \
  X(PQclear)                 \
  X(PQcmdStatus)             \
  X(PQconninfoFree)          \
  X(PQconninfoParse)         \
  X(PQconnectPoll)           \
  X(PQconnectStartParams)    \
  X(PQconsumeInput)          \
  X(PQerrorMessage)          \
  X(PQfinish)                \
  X(PQflush)                 \
  X(PQfreemem)               \
  X(PQfreeCancel)            \
  X(PQgetCancel)             \
  X(PQgetResult)             \
  X(PQgetisnull)             \
  X(PQgetlength)             \
  X(PQgetvalue)              \
  X(PQisBusy)                \
  X(PQnfields)               \
  X(PQntuples)               \
  X(PQresStatus)             \
  X(PQresultErrorField)      \
  X(PQresultErrorMessage)    \
  X(PQresultStatus)          \
  X(PQsendQuery)             \
  X(PQsendQueryParams)       \
  X(PQsetnonblocking)        \
  X(PQsocket)                \
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
  // process's namespace. The handle is never closed.
  void* handle = ::dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
  if (!handle) return lib;
#define X(name)                                                           \
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

struct ResultDeleter {
  void operator()(PGresult* result) const { libpq().PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

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
  return text.empty() ? "the connection failed" : text;
}

Error unavailable(PGconn* conn) { return Error(ErrorCode::Unavailable, conn_error(conn)); }

// PQcancel opens a new connection and blocks while doing so; on a thread of
// its own it cannot hold the caller past its deadline.
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

// What the server's refusal means to a caller, by SQLSTATE class.
ErrorCode code_of_sqlstate(std::string_view state) {
  if (state.starts_with("28") || state == "42501") return ErrorCode::PermissionDenied;
  if (state.starts_with("23") || state.starts_with("40")) return ErrorCode::Conflict;
  if (state.starts_with("08") || state.starts_with("57") || state.starts_with("53")) return ErrorCode::Unavailable;
  return ErrorCode::InvalidConfig;
}

Result<QueryResult> to_query_result(PGresult* result) {
  const ExecStatusType status = libpq().PQresultStatus(result);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && status != PGRES_EMPTY_QUERY) {
    std::string why = one_line(libpq().PQresultErrorMessage(result));
    if (why.empty()) why = libpq().PQresStatus(status);
    const char* state = libpq().PQresultErrorField(result, PG_DIAG_SQLSTATE);
    return fail(code_of_sqlstate(state ? state : ""), why);
  }
  QueryResult out;
  out.has_rows = status == PGRES_TUPLES_OK;
  out.command_status = libpq().PQcmdStatus(result);
  const int rows = libpq().PQntuples(result), columns = libpq().PQnfields(result);
  out.rows.reserve(static_cast<size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    auto& row = out.rows.emplace_back();
    row.reserve(static_cast<size_t>(columns));
    for (int c = 0; c < columns; ++c) {
      if (libpq().PQgetisnull(result, r, c)) row.emplace_back(std::nullopt);
      else row.emplace_back(std::string(libpq().PQgetvalue(result, r, c), static_cast<size_t>(libpq().PQgetlength(result, r, c))));
    }
  }
  return out;
}

}  // namespace

bool available() { return libpq().loaded; }

std::string one_line(std::string_view text, size_t limit) {
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

Result<std::map<std::string, std::string>> parse_conninfo(const std::string& conninfo) {
  if (!available()) return fail(ErrorCode::Unavailable, "libpq is not installed (Debian package libpq5)");
  char* message = nullptr;
  PQconninfoOption* options = libpq().PQconninfoParse(conninfo.c_str(), &message);
  if (!options) {
    // libpq's message quotes the text it could not read, which may be a
    // password: it is not repeated.
    if (message) libpq().PQfreemem(message);
    return fail(ErrorCode::InvalidConfig,
                "not a PostgreSQL connection string (a postgresql:// URI or key=value pairs; libpq's reason is not "
                "shown, as it quotes the string)");
  }
  std::map<std::string, std::string> out;
  for (const PQconninfoOption* o = options; o->keyword; ++o)
    if (o->val) out[o->keyword] = o->val;
  libpq().PQconninfoFree(options);
  return out;
}

std::string QueryResult::first_value() const {
  if (rows.empty() || rows[0].empty() || !rows[0][0]) return "";
  return *rows[0][0];
}

void Connection::Closer::operator()(pg_conn* conn) const { libpq().PQfinish(conn); }

Connection::~Connection() = default;

Result<Connection> Connection::open(const std::string& conninfo, const std::string& application_name,
                                    Clock::time_point deadline) {
  if (!available()) return fail(ErrorCode::Unavailable, "libpq is not installed (Debian package libpq5)");
  // expand_dbname: the "dbname" value is the user's whole conninfo (key=value
  // or URI); our application name applies only if theirs sets none.
  const char* keys[] = {"dbname", "fallback_application_name", nullptr};
  const char* values[] = {conninfo.c_str(), application_name.c_str(), nullptr};
  Connection conn(libpq().PQconnectStartParams(keys, values, 1));
  if (!conn.conn_) return fail(ErrorCode::Internal, "out of memory");
  PGconn* c = conn.conn_.get();
  if (libpq().PQstatus(c) == CONNECTION_BAD) return fail(unavailable(c));
  PostgresPollingStatusType polling = PGRES_POLLING_WRITING;
  for (;;) {
    if (polling == PGRES_POLLING_OK) break;
    if (polling == PGRES_POLLING_FAILED) {
      std::string why = conn_error(c);
      // libpq says "password authentication failed" for a wrong password.
      const bool refused = why.find("authentication failed") != std::string::npos ||
                           why.find("no password supplied") != std::string::npos;
      return fail(refused ? ErrorCode::PermissionDenied : ErrorCode::Unavailable, why);
    }
    Wait waited = wait_socket(c, polling == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
    if (waited == Wait::Timeout) return fail(ErrorCode::Timeout, "timed out connecting");
    if (waited == Wait::Error) return fail(unavailable(c));
    polling = libpq().PQconnectPoll(c);
  }
  if (libpq().PQsetnonblocking(c, 1) != 0) return fail(unavailable(c));
  return conn;
}

bool Connection::ok() const { return conn_ && libpq().PQstatus(conn_.get()) == CONNECTION_OK; }

Result<QueryResult> Connection::run(const std::string& sql, Clock::time_point deadline) {
  if (!conn_) return fail(ErrorCode::Internal, "the connection is closed");
  if (!libpq().PQsendQuery(conn_.get(), sql.c_str())) return fail(unavailable(conn_.get()));
  return collect(deadline);
}

Result<QueryResult> Connection::run(const std::string& sql, const std::vector<std::optional<std::string>>& params,
                                    Clock::time_point deadline) {
  if (!conn_) return fail(ErrorCode::Internal, "the connection is closed");
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const auto& p : params) {
    values.push_back(p ? p->c_str() : nullptr);
    lengths.push_back(p ? static_cast<int>(p->size()) : 0);
    formats.push_back(0);  // text; a value holding NUL would be cut there, so keel sends none
  }
  if (!libpq().PQsendQueryParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                                 lengths.data(), formats.data(), 0))
    return fail(unavailable(conn_.get()));
  return collect(deadline);
}

// Flushes what libpq could not send at once, then collects the results by
// the deadline.
Result<QueryResult> Connection::collect(Clock::time_point deadline) {
  PGconn* conn = conn_.get();
  for (;;) {
    int flushed = libpq().PQflush(conn);
    if (flushed == 0) break;
    if (flushed < 0) return fail(unavailable(conn));
    Wait waited = wait_socket(conn, POLLOUT | POLLIN, deadline);
    if (waited == Wait::Timeout) return fail(ErrorCode::Timeout, "timed out sending the statement");
    if (waited == Wait::Error) return fail(unavailable(conn));
    if (!libpq().PQconsumeInput(conn)) return fail(unavailable(conn));
  }
  PgResult last;
  for (;;) {
    while (!libpq().PQisBusy(conn)) {
      PGresult* next = libpq().PQgetResult(conn);
      if (!next) {
        if (!last) return fail(ErrorCode::Protocol, "no result");
        return to_query_result(last.get());
      }
      // Of several statements, the first error or else the last result counts.
      if (!last || libpq().PQresultStatus(last.get()) != PGRES_FATAL_ERROR) last.reset(next);
      else libpq().PQclear(next);
    }
    Wait waited = wait_socket(conn, POLLIN, deadline);
    if (waited == Wait::Timeout) {
      cancel_in_background(conn);
      // The connection is left mid-statement: nothing more can be sent on it.
      conn_.reset();
      return fail(ErrorCode::Timeout, "timed out waiting for the statement");
    }
    if (waited == Wait::Error || !libpq().PQconsumeInput(conn)) return fail(unavailable(conn));
  }
}

}  // namespace keel::pg

#include "cli/state/pg_store.h"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/state/file_store.h"
#include "cli/state/state_codec.h"
#include "core/files.h"
#include "core/net_fence.h"

namespace keel::state {

namespace {

// The layout this keel writes; a database with a newer one is refused (an
// older keel must not write what it does not understand).
constexpr int kSchemaVersion = 1;

// Creating the schema takes this transaction-level advisory lock, so that
// two keels starting on an empty database do not race.
constexpr const char* kSchemaLockId = "7310021";

// Each key's lock: a session-level advisory lock on a 64-bit hash of it.
constexpr const char* kLockHash = "hashtextextended('keel state ' || $1, 0)";

const char* const kCreateSchema = R"sql(
BEGIN;
SELECT pg_advisory_xact_lock(7310021);
CREATE SCHEMA IF NOT EXISTS keel;
CREATE TABLE IF NOT EXISTS keel.schema_version (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS keel.states (
  state_key text NOT NULL,
  serial bigint NOT NULL,
  lineage text NOT NULL,
  saved_at timestamptz NOT NULL DEFAULT now(),
  saved_by text NOT NULL,
  command text NOT NULL,
  summary text NOT NULL,
  key_check text NOT NULL,
  body text NOT NULL,
  PRIMARY KEY (state_key, serial));
CREATE TABLE IF NOT EXISTS keel.journal (
  state_key text NOT NULL,
  seq bigserial NOT NULL,
  line text NOT NULL,
  PRIMARY KEY (state_key, seq));
CREATE TABLE IF NOT EXISTS keel.locks (
  state_key text PRIMARY KEY,
  holder text NOT NULL);
CREATE TABLE IF NOT EXISTS keel.retired (
  state_key text PRIMARY KEY,
  serial bigint NOT NULL,
  retired_at timestamptz NOT NULL DEFAULT now());
INSERT INTO keel.schema_version (version)
  SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM keel.schema_version);
COMMIT;
)sql";

pg::Clock::time_point statement_deadline() { return pg::Clock::now() + PostgresStateStore::kStatementTimeout; }

}  // namespace

namespace {

// libpq's lists ("host=a,b port=5432,5433").
std::vector<std::string> comma_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    out.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

bool all_digits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Whether libpq read `parsed` as meant (see check_conninfo).
bool reads_as_meant(const std::map<std::string, std::string>& parsed) {
  auto get = [&parsed](const char* key) {
    auto it = parsed.find(key);
    return it == parsed.end() ? std::string() : it->second;
  };
  for (const char* key : {"host", "hostaddr"}) {
    for (const auto& part : comma_list(get(key))) {
      if (part.starts_with('/')) continue;  // a Unix socket's directory
      if (part.find_first_of("@/") != std::string::npos) return false;
    }
  }
  for (const auto& part : comma_list(get("port")))
    if (!part.empty() && !all_digits(part)) return false;
  return get("dbname").find_first_of("@") == std::string::npos;
}

}  // namespace

Status check_conninfo(const std::string& conninfo) {
  auto parsed = pg::parse_conninfo(conninfo);
  if (!parsed) return fail(parsed.error());
  if (!reads_as_meant(*parsed))
    return fail(ErrorCode::InvalidConfig,
                "the PostgreSQL URL does not read as one (not shown: it may hold a password): percent-encode `@`, "
                "`/` and `:` in the user name and password (%40, %2F, %3A)");
  return {};
}

std::string describe_conninfo(const std::string& conninfo) {
  auto parsed = pg::parse_conninfo(conninfo);
  if (!parsed || !reads_as_meant(*parsed)) return "PostgreSQL (address not shown)";
  auto get = [&parsed](const char* key, const std::string& fallback) {
    auto it = parsed->find(key);
    return it != parsed->end() && !it->second.empty() ? it->second : fallback;
  };
  return fmt::format("PostgreSQL {}:{}/{}", get("host", get("hostaddr", "localhost")), get("port", "5432"),
                     get("dbname", get("user", "")));
}

PostgresStateStore::PostgresStateStore(PostgresBackend backend, std::string work_dir)
    : backend_(std::move(backend)), work_dir_(std::move(work_dir)) {}

// The row that named this holder goes with the lock (best effort, briefly:
// the lock itself is released by the session's end whatever happens here).
PostgresStateStore::~PostgresStateStore() {
  if (!holds_lock_ || !conn_ || !conn_->ok()) return;
  (void)conn_->run({"DELETE FROM keel.locks WHERE state_key = $1"}, {backend_.state_key},
                   pg::Clock::now() + std::chrono::seconds(2));
}

std::string PostgresStateStore::where() const {
  return fmt::format("{}, state `{}`", describe_conninfo(backend_.conninfo), backend_.state_key);
}

Result<pg::QueryResult> PostgresStateStore::run(const std::string& sql,
                                                const std::vector<std::optional<std::string>>& params) {
  if (!conn_) return fail(ErrorCode::Internal, "the state backend is not connected");
  auto r = conn_->run(sql, params, statement_deadline());
  if (!r) return fail(r.error().with_context(where()));
  return r;
}

// KEEL_ALLOWED_NETWORKS (core/net_fence.h) holds for the state backend
// too: every host libpq may connect to must be inside it. That is the
// conninfo's host and hostaddr, or where they are unset, PGHOST and
// PGHOSTADDR (libpq reads them then); a service (service=, PGSERVICE) names
// hosts in a file, which keel does not read, so it is refused while the
// fence is up. A Unix socket's directory is not a network. Limit, as for
// SSH: libpq resolves a name again when it connects.
Status PostgresStateStore::check_fence() const {
  if (!net_fence::active()) return {};
  auto parsed = pg::parse_conninfo(backend_.conninfo);
  if (!parsed) return fail(parsed.error());
  auto setting = [&parsed](const char* key, const char* env) {
    auto it = parsed->find(key);
    if (it != parsed->end() && !it->second.empty()) return it->second;
    const char* value = std::getenv(env);
    return std::string(value ? value : "");
  };
  if (!setting("service", "PGSERVICE").empty())
    return fail(ErrorCode::InvalidConfig,
                "a PostgreSQL service names its hosts in a file keel does not check, and KEEL_ALLOWED_NETWORKS is "
                "set: name the host in the URL instead");
  for (const auto& [key, env] : {std::pair{"hostaddr", "PGHOSTADDR"}, std::pair{"host", "PGHOST"}}) {
    for (const auto& host : comma_list(setting(key, env))) {
      if (host.empty() || host.starts_with('/')) continue;
      if (auto s = net_fence::allow_host(host, "the state backend"); !s) return s;
    }
  }
  return {};
}

Status PostgresStateStore::connect() {
  if (auto s = check_conninfo(backend_.conninfo); !s) return s;
  if (auto s = check_fence(); !s) return fail(s.error().with_context(where()));
  auto deadline = pg::Clock::now() + kConnectTimeout;
  auto conn = pg::Connection::open(backend_.conninfo, "keel", deadline);
  if (!conn) {
    Error e = conn.error().with_context("connect to the state backend, " + where());
    if (e.message().find("no password supplied") != std::string::npos)
      e = Error(e.code(), e.message() + " (PGPASSWORD, ~/.pgpass, or the password in KEEL_BACKEND's URL)");
    return fail(e);
  }
  conn_.emplace(std::move(*conn));
  // The server ends a statement that runs past our own deadline too, so
  // that a cancelled one does not hold rows locked; and it probes a silent
  // keel (a laptop closed, a network cut) within about a minute, so that
  // the lock of a keel that can no longer write is released: a killed keel's
  // connection closes at once, a lost one only times out (keepalives when
  // the line is idle, tcp_user_timeout when the server has data unacknowledged).
  auto set = conn_->run(fmt::format("SET statement_timeout = {}; SET idle_in_transaction_session_timeout = {}; "
                                    "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; "
                                    "SET tcp_keepalives_count = 3; SET tcp_user_timeout = 60000",
                                    kStatementTimeout.count() * 1000, kStatementTimeout.count() * 1000),
                        statement_deadline());
  if (!set) return fail(set.error().with_context(where()));
  return {};
}

Result<long> PostgresStateStore::schema_version() {
  // Checked before it is read: a statement naming a missing table fails
  // when parsed, whatever guards it.
  auto exists = run("SELECT to_regclass('keel.schema_version') IS NOT NULL", {});
  if (!exists) return fail(exists.error());
  if (exists->first_value() != "t") return -1L;
  auto version = run("SELECT coalesce(max(version), -1) FROM keel.schema_version", {});
  if (!version) return fail(version.error());
  return std::strtol(version->first_value().c_str(), nullptr, 10);
}

Status PostgresStateStore::ensure_schema() {
  auto found = schema_version();
  if (!found) return fail(found.error());
  if (*found > kSchemaVersion)
    return fail(ErrorCode::Conflict,
                fmt::format("{}: the tables in schema `keel` are version {}, newer than this keel's ({}): "
                            "upgrade keel",
                            where(), *found, kSchemaVersion));
  if (*found == kSchemaVersion) return {};
  auto created = conn_->run(kCreateSchema, statement_deadline());
  if (!created) {
    (void)conn_->run("ROLLBACK", statement_deadline());
    return fail(created.error().with_context(where() + ": create the schema `keel`"));
  }
  return {};
}

std::string PostgresStateStore::key_check(const std::string& lineage) const {
  const std::string mac =
      crypto::hmac_sha256(std::string_view(reinterpret_cast<const char*>(key_->data()), key_->size()),
                          "keel state key check " + lineage);
  return crypto::hex_encode(mac);
}

Status PostgresStateStore::check_key(const std::string& lineage, const std::optional<std::string>& stored) const {
  if (!stored || *stored == key_check(lineage)) return {};
  return fail(ErrorCode::PermissionDenied,
              fmt::format("{} was written with another state key than this one (KEEL_STATE_KEY or {}/state.key): "
                          "set KEEL_STATE_KEY to the key the team uses for it",
                          where(), work_dir_));
}

// The key is KEEL_STATE_KEY or .keel/state.key; keel never makes one for a
// state in a database: a CI job's .keel/ is thrown away with its workspace,
// and whatever it sealed with a key made there could never be read again.
Status PostgresStateStore::load_key() {
  const std::string key_file = work_dir_ + "/state.key";
  const char* env = std::getenv("KEEL_STATE_KEY");
  if ((!env || !*env) && !files::exists_no_follow(key_file)) {
    auto exists = run("SELECT EXISTS (SELECT 1 FROM keel.states WHERE state_key = $1)", {backend_.state_key});
    if (exists && exists->first_value() == "t")
      return fail(ErrorCode::NotFound,
                  fmt::format("{} holds a state sealed with a key this keel does not have: set KEEL_STATE_KEY to "
                              "the key it was written with (the text of the .keel/state.key it came from, or the "
                              "team's passphrase)",
                              where()));
    return fail(ErrorCode::NotFound,
                fmt::format("{} needs the state key every user of it shares: set KEEL_STATE_KEY (64 hex digits, the "
                            "base64 that .keel/state.key holds, or a passphrase; e.g. `openssl rand -hex 32` once, "
                            "kept in your secret store), or put it in {} (mode 0600)",
                            where(), key_file));
  }
  if (files::exists_no_follow(work_dir_)) {
    if (auto s = files::check_private_dir(work_dir_); !s) return s;
  }
  auto key = load_or_create_key(key_file, "the state in " + where());
  if (!key) return fail(key.error());
  key_ = *key;
  return {};
}

Status PostgresStateStore::lock(const std::string& command) {
  command_ = command;
  if (!conn_ || !conn_->ok()) {  // a retry (--lock-timeout) keeps its connection
    if (auto s = connect(); !s) return s;
    if (auto s = ensure_schema(); !s) return s;
  }
  auto taken = run(fmt::format("SELECT pg_try_advisory_lock({})", kLockHash), {backend_.state_key});
  if (!taken) return fail(taken.error());
  if (taken->first_value() != "t") {
    auto holder = run("SELECT holder FROM keel.locks WHERE state_key = $1", {backend_.state_key});
    std::optional<files::LockHolder> who;
    if (holder) who = files::parse_holder(holder->first_value());
    return fail(ErrorCode::Locked,
                fmt::format("{} is locked by {}; it is released when that keel exits or its connection ends (its "
                            "session: pg_stat_activity where application_name = 'keel')",
                            where(), who ? who->describe() : "another keel"));
  }
  std::string holder = files::holder_json(files::current_holder(command));
  if (!holder.empty() && holder.back() == '\n') holder.pop_back();
  auto recorded = run("INSERT INTO keel.locks (state_key, holder) VALUES ($1, $2) "
                      "ON CONFLICT (state_key) DO UPDATE SET holder = EXCLUDED.holder",
                      {backend_.state_key, holder});
  if (!recorded) return fail(recorded.error());
  holds_lock_ = true;
  return load_key();
}

Result<State> PostgresStateStore::parse_row(const std::string& body) const {
  return parse_state_text(body, where(), *key_);
}

Result<State> PostgresStateStore::load(bool compact) {
  auto newest = run("SELECT body, key_check, lineage FROM keel.states WHERE state_key = $1 ORDER BY serial DESC "
                    "LIMIT 1",
                    {backend_.state_key});
  if (!newest) return fail(newest.error());
  State state;
  if (newest->rows.empty()) {
    state.lineage = crypto::uuid_v4();
  } else {
    // Before the sealed values are opened: a wrong key is that, not damage.
    const auto& row = newest->rows[0];
    if (auto s = check_key(row.at(2).value_or(""), row.at(1)); !s) return fail(s.error());
    auto parsed = parse_row(newest->first_value());
    if (!parsed) return parsed;
    state = std::move(*parsed);
  }
  // The summary of the save that follows a replay counts what the replay
  // brings back.
  loaded_.clear();
  for (const auto& [address, r] : state.resources) loaded_.insert(address);
  auto journal = run("SELECT line FROM keel.journal WHERE state_key = $1 ORDER BY seq", {backend_.state_key});
  if (!journal) return fail(journal.error());
  std::string text;
  for (const auto& row : journal->rows)
    if (!row.empty() && row[0]) text += *row[0] + "\n";
  auto replayed = replay_journal_text(text, where() + " (journal)", *key_, state);
  if (!replayed) return fail(replayed.error());
  if (compact && !journal->rows.empty()) {
    // A journal already covered by the newest state (a crash between the
    // save's two steps cannot happen here: they are one transaction) or one
    // replayed now: saved whole, the journal dropped.
    if (*replayed) {
      if (auto s = save(state); !s) return fail(s.error());
    } else if (auto d = run("DELETE FROM keel.journal WHERE state_key = $1", {backend_.state_key}); !d) {
      return fail(d.error());
    }
  }
  return state;
}

namespace {

// `lines` as a PostgreSQL text array literal: each element quoted, with
// its backslashes and double quotes escaped (JSON holds both).
std::string text_array(const std::vector<std::string>& lines) {
  std::string out = "{";
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : lines[i]) {
      if (c == '\\' || c == '"') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

}  // namespace

// Group commit, as the local journal's fdatasync: a caller whose line is
// not yet written either waits for the batch in flight or, when none is,
// writes every line queued so far in one INSERT (one commit for the
// batch). Each caller returns once its own line is committed.
//
// Durability as in .keel/: a batch holding an intent (or the begin) waits
// for the server's WAL flush; one of puts and removes only for the
// commit (synchronous_commit off for that transaction: the server has it,
// so a killed keel loses nothing, and the next flush takes it to disk;
// after a crash of the database's machine before that, the intent recorded
// earlier makes the next run adopt the resource, and an update or delete
// is planned again).
Status PostgresStateStore::append(const std::string& line, bool durable) {
  std::unique_lock lock(mu_);
  if (journal_failure_) return fail(*journal_failure_);
  queued_.push_back(line);
  queued_durable_ = queued_durable_ || durable;
  const unsigned long mine = ++enqueued_;
  while (written_ < mine) {
    if (journal_failure_) return fail(*journal_failure_);
    if (writing_) {
      written_cv_.wait(lock);
      continue;
    }
    writing_ = true;
    std::vector<std::string> batch = std::move(queued_);
    queued_.clear();
    const bool batch_durable = queued_durable_;
    queued_durable_ = false;
    const unsigned long covering = enqueued_;
    lock.unlock();
    Result<pg::QueryResult> r = fail(ErrorCode::Internal, "the batch was not written");
    try {
      // set_config(..., true) holds for this statement's own transaction,
      // whose commit then does not wait for the flush.
      r = run(batch_durable ? "INSERT INTO keel.journal (state_key, line) "
                              "SELECT $1, line FROM unnest($2::text[]) WITH ORDINALITY AS t(line, n) ORDER BY n"
                            : "WITH async AS (SELECT set_config('synchronous_commit', 'off', true)) "
                              "INSERT INTO keel.journal (state_key, line) "
                              "SELECT $1, line FROM async, unnest($2::text[]) WITH ORDINALITY AS t(line, n) ORDER BY n",
              {backend_.state_key, text_array(batch)});
    } catch (const std::exception& e) {  // out of memory: the waiters must still wake
      r = fail(ErrorCode::Internal, std::string("record the change: ") + e.what());
    }
    lock.lock();
    writing_ = false;
    // A failed batch fails every caller in it, and every later one: the
    // connection is gone or the server refused, and a record is never
    // skipped while later ones go on.
    if (r) {
      written_ = covering;
    } else {
      journal_failure_ = r.error().with_context("record the change");
      // Lines queued meanwhile will never be written: their callers return
      // the failure, and save() must not wait for them.
      queued_.clear();
      queued_durable_ = false;
    }
    written_cv_.notify_all();
  }
  return {};
}

Status PostgresStateStore::begin(const State& base) {
  base_serial_ = base.serial;
  nlohmann::json e = {{"op", "begin"}, {"lineage", base.lineage}, {"base_serial", base.serial}};
  return append(e.dump(), /*durable=*/true);
}

Status PostgresStateStore::record_intent(const ResourceState& r) {
  nlohmann::json e = {{"op", "intent"}, {"resource", encode_resource(r, *key_)}};
  return append(e.dump(), /*durable=*/true);
}

Status PostgresStateStore::record_put(const ResourceState& r) {
  nlohmann::json e = {{"op", "put"}, {"resource", encode_resource(r, *key_)}};
  return append(e.dump(), /*durable=*/false);
}

Status PostgresStateStore::record_remove(const std::string& address) {
  nlohmann::json e = {{"op", "remove"}, {"address", address}};
  return append(e.dump(), /*durable=*/false);
}

Status PostgresStateStore::save(State& state) {
  std::unique_lock lock(mu_);
  // Never beside a batch in flight (one statement at a time on the
  // connection), and never before every queued line is written or failed.
  // Bounded all the same: a batch in flight ends by its statement's deadline.
  if (!written_cv_.wait_for(lock, 2 * kStatementTimeout,
                            [this] { return journal_failure_ || (!writing_ && queued_.empty()); }))
    return fail(ErrorCode::Timeout, "save the state: the journal's last batch did not end");
  if (journal_failure_) return fail(*journal_failure_);
  const long serial = state.serial + 1;
  state.serial = serial;  // the body holds the new serial
  const std::string body = encode_state(state, *key_).dump();
  state.serial = serial - 1;  // until the commit says so
  const std::string summary = change_summary(loaded_, state);
  const std::string who = files::current_holder(command_).user_at_host();
  auto in_transaction = [&]() -> Status {
    if (auto r = run("BEGIN", {}); !r) return fail(r.error());
    auto inserted = run("INSERT INTO keel.states (state_key, serial, lineage, saved_by, command, summary, key_check, body) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        {backend_.state_key, std::to_string(serial), state.lineage, who, command_, summary,
                         key_check(state.lineage), body});
    if (!inserted) return fail(inserted.error());
    if (auto r = run("DELETE FROM keel.journal WHERE state_key = $1", {backend_.state_key}); !r) return fail(r.error());
    if (auto r = run("DELETE FROM keel.retired WHERE state_key = $1", {backend_.state_key}); !r) return fail(r.error());
    if (auto r = run("DELETE FROM keel.states WHERE state_key = $1 AND serial <= $2",
                     {backend_.state_key, std::to_string(serial - kHistoryKept)});
        !r)
      return fail(r.error());
    if (auto r = run("COMMIT", {}); !r) return fail(r.error());
    return {};
  };
  if (auto s = in_transaction(); !s) {
    if (conn_ && conn_->ok()) (void)conn_->run("ROLLBACK", statement_deadline());
    return fail(s.error().with_context("save the state"));
  }
  state.serial = serial;
  loaded_.clear();
  for (const auto& [address, r] : state.resources) loaded_.insert(address);
  return {};
}

Result<std::vector<HistoryEntry>> PostgresStateStore::history(size_t limit) {
  auto rows = run("SELECT serial, to_char(saved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), saved_by, "
                  "command, summary FROM keel.states WHERE state_key = $1 ORDER BY serial DESC LIMIT $2",
                  {backend_.state_key, std::to_string(limit)});
  if (!rows) return fail(rows.error());
  std::vector<HistoryEntry> out;
  for (const auto& row : rows->rows) {
    if (row.size() != 5) continue;
    auto text = [&row](size_t i) { return row[i] ? *row[i] : std::string(); };
    out.push_back({std::strtol(text(0).c_str(), nullptr, 10), text(1), text(2), text(3), text(4)});
  }
  return out;
}

Result<State> PostgresStateStore::load_serial(long serial) {
  auto row = run("SELECT body, key_check, lineage FROM keel.states WHERE state_key = $1 AND serial = $2",
                 {backend_.state_key, std::to_string(serial)});
  if (!row) return fail(row.error());
  if (row->rows.empty())
    return fail(ErrorCode::NotFound,
                fmt::format("{} holds no serial {} (`keel state history` lists the serials it keeps: the last {}, "
                            "from the first save there; a migration brings the newest state, not its history)",
                            where(), serial, kHistoryKept));
  if (auto s = check_key(row->rows[0].at(2).value_or(""), row->rows[0].at(1)); !s) return fail(s.error());
  return parse_row(row->first_value());
}

Status PostgresStateStore::retire() {
  auto r = run("INSERT INTO keel.retired (state_key, serial) "
               "SELECT $1, coalesce(max(serial), 0) FROM keel.states WHERE state_key = $1 "
               "ON CONFLICT (state_key) DO UPDATE SET serial = EXCLUDED.serial, retired_at = now()",
               {backend_.state_key});
  if (!r) return fail(r.error().with_context("mark the state migrated"));
  return {};
}

Status PostgresStateStore::unretire() {
  auto r = run("DELETE FROM keel.retired WHERE state_key = $1", {backend_.state_key});
  if (!r) return fail(r.error());
  return {};
}

Result<bool> PostgresStateStore::is_retired() {
  auto r = run("SELECT EXISTS (SELECT 1 FROM keel.retired WHERE state_key = $1)", {backend_.state_key});
  if (!r) return fail(r.error());
  return r->first_value() == "t";
}

Result<std::optional<State>> PostgresStateStore::read_saved() {
  if (auto s = connect(); !s) return fail(s.error());
  auto version = schema_version();
  if (!version) return fail(version.error());
  if (*version < 0) return std::optional<State>();
  if (*version > kSchemaVersion)
    return fail(ErrorCode::Conflict, fmt::format("{}: the tables in schema `keel` are version {}, newer than this "
                                                 "keel's ({}): upgrade keel",
                                                 where(), *version, kSchemaVersion));
  auto newest = run("SELECT body, key_check, lineage FROM keel.states WHERE state_key = $1 ORDER BY serial DESC "
                    "LIMIT 1",
                    {backend_.state_key});
  if (!newest) return fail(newest.error());
  if (newest->rows.empty()) return std::optional<State>();
  auto retired = is_retired();
  if (!retired) return fail(retired.error());
  if (*retired) return fail(retired_error(where()));
  // A state exists: a missing key is an error, never a new key.
  auto key = load_or_create_key(work_dir_ + "/state.key", "the state in " + where());
  if (!key) return fail(key.error());
  key_ = *key;
  if (auto s = check_key(newest->rows[0].at(2).value_or(""), newest->rows[0].at(1)); !s) return fail(s.error());
  auto parsed = parse_row(newest->first_value());
  if (!parsed) return fail(parsed.error());
  return std::optional<State>(std::move(*parsed));
}

}  // namespace keel::state

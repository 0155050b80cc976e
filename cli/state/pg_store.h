#pragma once
// State in PostgreSQL (`backend: { postgres: URL }`), for teams and CI: many
// stacks (and environments) in one database, each under its state key, in
// the schema `keel`, created on first use:
//   keel.schema_version  the layout's version (refused when newer than this keel's)
//   keel.states          every saved state: key, serial, lineage, when, who,
//                        which command, a summary, and the state itself as
//                        state.json holds it (sensitive values sealed with the
//                        state key, which is never sent: KEEL_STATE_KEY or
//                        .keel/state.key), and an HMAC of the lineage under
//                        the key, so that a wrong key is refused even when
//                        nothing is sealed yet; the last 100 serials are kept
//   keel.journal         the changes since the last save, one row each,
//                        committed before the call returns (an intent before
//                        its create is sent), replayed by the next run
//   keel.locks           who holds each key's lock, for the message of the
//                        next one who tries
//   keel.retired         keys whose state `keel state migrate` copied elsewhere
//
// The lock is a session-level advisory lock on the key: PostgreSQL releases
// it when keel's connection ends, whether keel exits, is killed, or loses
// the connection (then keel's next record fails and the run stops: nothing
// is sent to a provider without its intent committed). A save is one
// transaction: the new state row and the journal's deletion together.
//
// Every statement has a deadline (kStatementTimeout) and connecting has one
// (kConnectTimeout): a server that stops answering is an error, not a hang.
// The URL may hold a password: it is never printed (where() names host,
// port, database and key only).

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli/state/store.h"
#include "core/pg_client.h"

namespace keel::state {

struct PostgresBackend {
  std::string conninfo;   // a postgresql:// URI or key=value pairs
  std::string state_key;  // the stack's name in the tables (default: its project)
};

// "PostgreSQL db.example.com:5432/keel" for messages: the parts of a
// conninfo that are not secret (no user, no password, no options), or
// "PostgreSQL (address not shown)" when check_conninfo refuses it.
std::string describe_conninfo(const std::string& conninfo);

// Refuses a conninfo libpq reads differently from what was meant: a URI
// whose password holds an unencoded `@`, `/` or `:` puts part of it in the
// host, the port or the database name, where messages would show it
// (InvalidConfig saying to percent-encode them; the text is not repeated).
Status check_conninfo(const std::string& conninfo);

class PostgresStateStore : public StateStore {
 public:
  // `work_dir`: the stack's .keel, where the state key may be (keel never
  // makes one for a state in a database: KEEL_STATE_KEY or that file).
  PostgresStateStore(PostgresBackend backend, std::string work_dir);
  ~PostgresStateStore() override;

  Status lock(const std::string& command) override;
  Result<State> load(bool compact = true) override;
  Status begin(const State& base) override;
  Status record_intent(const ResourceState& r) override;
  Status record_put(const ResourceState& r) override;
  Status record_remove(const std::string& address) override;
  Status save(State& state) override;
  const crypto::Key& key() const override { return *key_; }
  std::string where() const override;
  Result<std::vector<HistoryEntry>> history(size_t limit) override;
  Result<State> load_serial(long serial) override;
  Status retire() override;
  Status unretire() override;
  Result<bool> is_retired() override;

  // Reads the newest saved state without the lock (keel health, exec,
  // deploy: they work while an apply runs). nullopt: none yet.
  Result<std::optional<State>> read_saved();

  static constexpr std::chrono::seconds kConnectTimeout{15};
  static constexpr std::chrono::seconds kStatementTimeout{60};
  static constexpr long kHistoryKept = 100;

 private:
  Status connect();
  Status check_fence() const;
  // The layout's version in the database (-1: none yet).
  Result<long> schema_version();
  Status ensure_schema();
  std::string key_check(const std::string& lineage) const;
  Status check_key(const std::string& lineage, const std::optional<std::string>& stored) const;
  Status load_key();
  Result<pg::QueryResult> run(const std::string& sql, const std::vector<std::optional<std::string>>& params);
  Status append(const std::string& line, bool durable);
  Result<State> parse_row(const std::string& body) const;

  PostgresBackend backend_;
  std::string work_dir_;
  std::string command_;
  std::optional<pg::Connection> conn_;
  std::optional<crypto::Key> key_;
  long base_serial_ = 0;
  bool holds_lock_ = false;
  std::set<std::string> loaded_;  // the addresses load() returned, for the summary

  // The journal's group commit (append): lines queued, numbered; one
  // writer at a time sends every queued line in one INSERT.
  std::mutex mu_;
  std::condition_variable written_cv_;
  std::vector<std::string> queued_;
  bool queued_durable_ = false;  // an intent or a begin is among them
  unsigned long enqueued_ = 0, written_ = 0;
  bool writing_ = false;
  std::optional<Error> journal_failure_;
};

}  // namespace keel::state

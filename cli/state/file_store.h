#pragma once
// State on the local disk, in the stack's .keel directory:
//   state.json          the last complete state (written temp+fsync+rename)
//   state.json.backup   the one before it
//   state.journal       changes since state.json, one JSON line each, written
//                       before the call returns (so a killed keel loses
//                       nothing); intents are also fdatasync'ed before it
//                       returns (group commit: one fdatasync covers every line
//                       appended meanwhile)
//   state.lock          flock'ed by the running keel, naming it
//   state.key           the AES-256-GCM key, 0600, unless KEEL_STATE_KEY is set
//   state.history       a JSON line per save (serial, time, who, command,
//                       summary) for `keel state history`; only
//                       informational, so appended without fsync
//
// The directory must be a real one of keel's user that nobody else can
// write (files::check_private_dir), and every file in it is opened without
// following links, is at most 256 MiB, and must be 0600 (or 0644 for the
// lock): a repository's .keel can hold anything.
//
// Apply appends to the journal after each resource instead of rewriting
// state.json, so a run of N resources costs O(N) bytes written, and compacts
// the journal into state.json once at the end. A run killed at any moment
// leaves state.json plus a journal whose complete lines are replayed by the
// next run (a torn last line is dropped: it was never acknowledged).

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "cli/state/state.h"
#include "cli/state/store.h"
#include "core/crypto.h"
#include "core/files.h"

namespace keel::state {

// The state key: KEEL_STATE_KEY (64 hex digits, base64 of 32 bytes, or a
// passphrase) or `key_file`, created with 0600 and a random key on first
// use, that is only while its directory holds no state (state.json, its
// backup or a journal): a state whose key is missing is a NotFound error
// saying so, never a new key. A key file that group or others may read is
// refused (PermissionDenied, with the chmod).
// `state_needing_key` names a state that exists (a file, a remote table):
// then a missing key is that error, never a new key. Without it, the files
// of a state beside `key_file` count.
Result<crypto::Key> load_or_create_key(const std::string& key_file,
                                       const std::optional<std::string>& state_needing_key = std::nullopt);

// The state as last saved in `dir` (a .keel directory), read without the
// lock, for commands that only look (health, backup): they work while an
// apply runs and never make it fail on the lock. No state yet: nullopt. A
// state without its key is an error naming KEEL_STATE_KEY, never a new key.
Result<std::optional<State>> read_saved_state(const std::string& dir);

// The directory of a stack's local state and data: .keel beside the stack
// file (an absolute path), or .keel/environments/NAME for environment NAME
// (a valid name: config::is_environment_name).
std::string work_dir_for(const std::string& stack_file, const std::string& environment);

// The loader's pure parts, apart so that they can be fuzzed
// (tests/fuzz/fuzz_state.cpp); `path` names the file in errors, and every
// problem with the text is a Corrupt error, never an exception.
//   parse_state_text: the text of state.json.
//   replay_journal_text: the journal's complete lines on top of `state`;
//     true when something was replayed. A journal that continues another
//     serial than the state's is refused (it belongs to another state.json).
Result<State> parse_state_text(std::string_view text, const std::string& path, const crypto::Key& key);
// The largest state keel reads.
inline constexpr size_t kMaxStateBytes = size_t{256} << 20;
Result<bool> replay_journal_text(std::string_view text, const std::string& path, const crypto::Key& key,
                                 State& state);

// Whether `dir` holds a state's files (state.json, its backup, a journal,
// or a state migrated away): then its key must exist, never be made.
bool holds_local_state(const std::string& dir);

// The refusal when state.json is missing and state.json.backup is not.
Error missing_state_error(const std::string& dir);

class FileStateStore : public StateStore {
 public:
  explicit FileStateStore(std::string dir);  // the .keel directory
  ~FileStateStore() override;

  Status lock(const std::string& command) override;
  // Reads state.json (a fresh State if none) and replays a journal left by a
  // crashed run. A corrupt file is refused, never overwritten, and the
  // error names the backup.
  Result<State> load(bool compact = true) override;
  Status begin(const State& base) override;
  // record_intent is on disk (fdatasync) when it returns: a create is only
  // sent after that. record_put/record_remove are written at once, which
  // survives the process being killed, and reach the disk with the next
  // sync; after a power loss before it, the intent recorded earlier makes
  // the next run adopt the resource, and an update or delete is planned
  // again (both are idempotent).
  Status record_intent(const ResourceState& r) override;
  Status record_put(const ResourceState& r) override;
  Status record_remove(const std::string& address) override;
  // Writes `state` as the new state.json with serial+1 (state.serial is
  // updated), keeps the previous as the backup, and drops the journal.
  Status save(State& state) override;

  const crypto::Key& key() const override { return *key_; }
  std::string where() const override { return dir_; }
  // From state.history (NotFound when no save has written it yet).
  Result<std::vector<HistoryEntry>> history(size_t limit) override;
  // state.json or state.json.backup, whichever holds `serial`.
  Result<State> load_serial(long serial) override;
  // state.json (and its backup) become state.json.migrated
  // (.backup.migrated): kept for a look, never loaded.
  Status retire() override;
  Status unretire() override;
  Result<bool> is_retired() override;
  // The mark retire() leaves, dropped when a state is migrated back here.
  std::string migrated_path() const { return dir_ + "/state.json.migrated"; }
  std::string state_path() const { return dir_ + "/state.json"; }
  std::string journal_path() const { return dir_ + "/state.journal"; }
  std::string backup_path() const { return dir_ + "/state.json.backup"; }
  std::string history_path() const { return dir_ + "/state.history"; }

 private:
  Status append(const std::string& line);
  Status append_durable(const std::string& line);
  Result<State> read_state_file();
  Status replay_journal(State& state, bool& replayed);

  void append_history(const State& saved);

  std::string dir_;
  std::string command_;                  // what holds the lock, for the history
  std::set<std::string> loaded_;         // the addresses load() returned, for the summary
  std::optional<files::FileLock> lock_;
  std::optional<crypto::Key> key_;

  // Group commit: appends are numbered; a caller waits until a sync covers
  // its number, and at most one thread runs fdatasync at a time.
  std::mutex mu_;
  std::condition_variable synced_cv_;
  std::unique_ptr<files::AppendFile> journal_;
  unsigned long appended_ = 0, synced_ = 0;
  bool syncing_ = false;
};

}  // namespace keel::state

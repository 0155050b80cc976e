#pragma once
// Where a stack's state is kept, behind one interface: the local files
// beside the stack (file_store.h, the default) or a table in PostgreSQL
// (pg_store.h, `backend: { postgres: ... }`). Both give the same
// guarantees: one keel at a time holds the lock, released when it exits,
// however it exits; every change is recorded before the call returns (an
// intent durably, before the create is sent), so a killed keel loses
// nothing and the next run replays what it recorded; a save replaces the
// state whole or not at all.

#include <optional>
#include <set>
#include <string_view>
#include <string>
#include <vector>

#include "cli/state/journal.h"
#include "cli/state/state.h"
#include "core/crypto.h"
#include "core/error.h"

namespace keel::state {

// One saved state in a backend's history.
struct HistoryEntry {
  long serial = 0;
  std::string saved_at;  // RFC 3339, UTC
  std::string saved_by;  // user@host
  std::string command;   // "apply", "destroy", "state mv", ...
  std::string summary;   // "+2 ~1 -0, 14 resources"
};

class StateStore : public StateJournal {
 public:
  // Takes the lock for the lifetime of the store (or fails with Locked,
  // naming the holder), and the state key. Every other method needs it.
  virtual Status lock(const std::string& command) = 0;
  // The state (a fresh one, with a new lineage, if none), with what a
  // crashed run recorded replayed on top; saved at once unless `compact` is
  // false (for what only looks, as keel drift: then nothing is written).
  virtual Result<State> load(bool compact = true) = 0;
  // Starts recording changes on top of `base` (its lineage and serial).
  virtual Status begin(const State& base) = 0;
  // Saves `state` whole as serial+1 (state.serial is updated) and drops the
  // records since `begin`.
  virtual Status save(State& state) = 0;
  virtual const crypto::Key& key() const = 0;
  // For messages: ".keel in /srv/app", "PostgreSQL db.example.com:5432/keel, state shop".
  virtual std::string where() const = 0;
  // The saved states, newest first, at most `limit`. A backend that keeps
  // none says so (NotFound).
  virtual Result<std::vector<HistoryEntry>> history(size_t limit) = 0;
  // One saved state by its serial (NotFound when it is not kept).
  virtual Result<State> load_serial(long serial) = 0;
  // After `keel state migrate` copied the state elsewhere: marks it moved,
  // so that a run that still chooses this backend refuses (is_retired)
  // instead of working on a copy that no longer is the state. The next save
  // here (a migration back) clears the mark.
  virtual Status retire() = 0;
  virtual Result<bool> is_retired() = 0;
  // Clears the mark without a save (a migration back that found this
  // place already holding the same serial).
  virtual Status unretire() = 0;
};

// The refusal for a run whose backend was migrated away from.
Error retired_error(const std::string& where);

// "+2 -1, 14 resources": what `after` added to and removed from the
// addresses `before` held.
std::string change_summary(const std::set<std::string>& before, const State& after);

// A history entry as one JSON line (with its '\n'), and such lines back,
// newest first, at most `limit` (a line that is not an entry is skipped:
// the history only informs).
std::string history_line(const HistoryEntry& e);
std::vector<HistoryEntry> parse_history(std::string_view text, size_t limit);

}  // namespace keel::state

#pragma once
// Finished runs of the backup jobs, kept across agent restarts.
//
// - Each finished run is appended as one JSON line to <dir>/runs.jsonl and
//   made durable (fdatasync) before record() returns. Runs still going at a
//   crash are never written: only finished ones are.
// - A torn last line (a crash in the middle of an append) is dropped at
//   load, and the file rewritten without it so that the next append starts
//   on a line of its own. A bad line elsewhere is skipped and logged.
// - Memory keeps the last kPerKind runs of each job and kind (so that a
//   weekly drill is not pushed out by hourly backups), plus the newest
//   successful run of each job and kind however old (the dr check and the
//   metrics need it).
// - The file is compacted (rewritten atomically with what memory keeps)
//   when it holds more than kCompactLines lines (a few hundred KiB).
//
// Thread-safe.

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/jobs/run.h"
#include "core/error.h"
#include "core/files.h"

namespace keel::agent {

class RunHistory {
 public:
  static constexpr size_t kPerKind = 50;
  static constexpr size_t kCompactLines = 2000;

  explicit RunHistory(size_t compact_lines = kCompactLines) : compact_lines_(compact_lines) {}

  // Loads <dir>/runs.jsonl (creating `dir`, mode 0700) and opens it for
  // appends. Fails when the directory or file cannot be used.
  Status open(const std::string& dir);
  bool is_open() const;

  // Keeps a finished run in memory and appends it to the file. An error
  // (disk full...) leaves the run in memory.
  Status record(const Run& run);

  std::optional<Run> find(const std::string& id) const;
  // Newest first (by start); `job` empty: every job.
  std::vector<Run> runs(const std::string& job = {}) const;
  // The newest finished run of the kind; with `succeeded`, the newest
  // successful one.
  std::optional<Run> last(const std::string& job, RunKind kind, bool succeeded = false) const;
  // Lines in the file (for tests of compaction).
  size_t file_lines() const;

 private:
  struct Shelf {
    std::vector<Run> recent;  // oldest first, at most kPerKind
    std::optional<Run> last_success;
  };
  using Key = std::pair<std::string, RunKind>;

  void keep(const Run& run);                          // with mutex_ held
  std::vector<Run> kept_runs() const;                 // with mutex_ held, oldest first
  Status compact();                                   // with mutex_ held

  const size_t compact_lines_;
  mutable std::mutex mutex_;
  std::string path_;
  std::optional<files::AppendFile> file_;
  size_t file_lines_ = 0;
  std::map<Key, Shelf> shelves_;
};

}  // namespace keel::agent

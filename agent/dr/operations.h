#pragma once
// The jobs keel-dr runs for the agent: backup, restore, drill, prune and
// list. Each works on one job's folder in its destination:
//
//   JOB/ID.kdr             the sealed stream (sealed_stream.h)
//   JOB/ID.manifest.json   written after the data is committed: a backup
//                          exists (is listed, restored, pruned) only once
//                          its manifest does
//
// IDs are the backup's UTC start time plus a random suffix
// ("20261127T030000Z-1a2b3c"). Which manifests are trusted, and which
// backup is the newest, is catalog.h's business: restores and drills use
// authenticated backups, and check the data against its manifest before
// anything reaches the target.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/dr/destination.h"
#include "agent/dr/retention.h"
#include "agent/dr/sources.h"
#include "core/crypto.h"
#include "core/error.h"

namespace keel::dr {

struct Job {
  std::string name;
  Source source;
  DestinationSpec destination;
  RetentionPolicy retention;
  std::string verify;  // the drill's check; empty: the restore alone must succeed
};

// The job as the agent's config has it (see docs/agent.md).
Result<Job> job_from_json(const nlohmann::json& json);

struct Progress {
  std::string phase;  // "backup", "verify", "restore"
  std::uint64_t bytes_read = 0;    // from the source, or stored bytes read back
  std::uint64_t bytes_stored = 0;  // to the destination, or restored into the target
};

struct RunContext {
  crypto::Key key;
  std::string spool_dir;  // temporary files: remote backups copied for restore, Redis snapshots
  std::function<void(const Progress&)> progress;  // called often: throttle in the callee
};

// Each returns the result document of docs/agent.md's worker protocol.
Result<nlohmann::json> run_backup(const Job& job, const RunContext& context);
Result<nlohmann::json> run_restore(const Job& job, const RunContext& context, const std::string& snapshot,
                                   const std::string& target);
// A failed verify is an error (code Corrupt) whose `result` is still
// worth reporting: it is stored in *result as well.
Result<nlohmann::json> run_drill(const Job& job, const RunContext& context, const std::string& snapshot,
                                 nlohmann::json* result);
Result<nlohmann::json> run_prune(const Job& job, const RunContext& context);
Result<nlohmann::json> list_backups(const Job& job, const RunContext& context);

}  // namespace keel::dr

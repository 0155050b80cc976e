#pragma once
// Which backups of a job exist, and which of them keel-dr may trust: the
// job's manifests read from its destination and sorted into
//
//   authenticated  format 2, MAC verified with the backup key, for this
//                  job, under their own id (manifest.h); newest first by
//                  their authenticated start time
//   legacy         format 1 (written before manifests were authenticated);
//                  newest first by the time they claim
//   refused        anything else found where a manifest should be (edited,
//                  renamed, copied from another job, not JSON, ...), with
//                  the reason
//
// An attacker who holds the destination can delete backups, and can add
// objects, but cannot make an object of theirs count as authenticated:
// "newest" is always the newest authenticated backup, restores and drills
// use authenticated backups unless a legacy one is named by id (restore
// only), and retention never counts or removes a refused manifest.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/dr/destination.h"
#include "agent/dr/manifest.h"
#include "core/crypto.h"
#include "core/error.h"

namespace keel::dr {

struct RefusedManifest {
  std::string object;  // its name in the destination
  std::string error;
};

struct Catalog {
  std::vector<Manifest> authenticated;
  std::vector<Manifest> legacy;
  std::vector<RefusedManifest> refused;
};

inline constexpr std::string_view kDataSuffix = ".kdr";
inline constexpr std::string_view kManifestSuffix = ".manifest.json";
std::string data_name(const std::string& job, const std::string& id);      // "JOB/ID.kdr"
std::string manifest_name(const std::string& job, const std::string& id);  // "JOB/ID.manifest.json"

// Fails only when the destination cannot be read; what it holds that is
// not a trustworthy manifest goes to `refused`.
Result<Catalog> read_catalog(Destination& dest, const std::string& job, const crypto::Key& key);

enum class Purpose { Restore, Drill };

// The backup a restore or drill uses: `snapshot` by id, or the newest
// authenticated one. A legacy backup only for a restore that names it;
// a refused one never (Corrupt, with the reason). NotFound when there is
// nothing to use, saying why.
Result<Manifest> choose_backup(const Catalog& catalog, const std::string& job, const std::string& snapshot,
                               Purpose purpose, const std::string& where);

// {"backups": [...], "refused": [...]} for `list`: authenticated then
// legacy backups, newest first, each with "authenticated": true|false.
nlohmann::json catalog_to_json(const Catalog& catalog);

}  // namespace keel::dr

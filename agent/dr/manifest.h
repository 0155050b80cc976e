#pragma once
// A backup's manifest: the small JSON object written beside the data once
// the data is committed (operations.h), and what keel-dr trusts about a
// backup before it reads a byte of the data.
//
// Whoever holds the destination can edit, copy, rename and replay objects,
// so a format-2 manifest carries a MAC: HMAC-SHA256 under the stack's
// backup key over every field that matters (format, job, id, source, the
// two times, the sizes, the data's SHA-256 and the key id). A manifest is
// trusted only when the MAC verifies, its job is the job asked for and its
// id is the one in its object's name; "newest" is decided among those, by
// their authenticated `started`. The data's own header binds the same job,
// id and start time (sealed_stream.h), and the SHA-256 binds the rest.
//
// Format 1 manifests (written before format 2) have no MAC: they are read,
// listed as unauthenticated, and restored only when named by id
// (docs/backups.md).
//
// parse_manifest() reads text from the destination: anything at all may
// come in, and every field is checked for type and shape (it is a fuzz
// target: tests/fuzz/fuzz_backup_reader.cpp).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/crypto.h"
#include "core/error.h"

namespace keel::dr {

inline constexpr std::string_view kFormatV1 = "keel-dr/1 zstd aes-256-gcm";
inline constexpr std::string_view kFormatV2 = "keel-dr/2 zstd aes-256-gcm";
inline constexpr std::size_t kMaxManifestSize = 64u << 10;

struct Manifest {
  int format = 2;  // 1 or 2, from the `format` field
  std::string id, job, source;
  std::string started, finished;  // RFC 3339, as written
  std::chrono::system_clock::time_point started_at, finished_at;
  std::uint64_t raw_bytes = 0, stored_bytes = 0;
  std::string sha256;        // hex, of the stored data object
  std::string key_id;        // 16 hex digits
  std::string keel_version;  // informational, not authenticated
  std::string mac;           // hex; empty in format 1
};

// "20261127T030000Z-1a2b3c": the UTC start time and 6 hex digits.
bool valid_backup_id(std::string_view id);
std::string new_backup_id(std::chrono::system_clock::time_point started);

// Reads a manifest's text. Corrupt, naming the field, for anything that is
// not a well-formed manifest of format 1 or 2 (a MAC is not checked here).
Result<Manifest> parse_manifest(std::string_view text);

// The manifest as stored and listed (format 1 ones as they were read).
nlohmann::json to_json(const Manifest& manifest);

// Sets manifest.mac (format 2).
void seal_manifest(Manifest& manifest, const crypto::Key& key);

// Checks that a format-2 manifest was sealed with `key` for `job`, and
// that its id is `id_in_name` (from its object's name). Corrupt otherwise,
// saying which.
Status authenticate_manifest(const Manifest& manifest, const crypto::Key& key, std::string_view job,
                             std::string_view id_in_name);

}  // namespace keel::dr

#pragma once
// The format of a stored backup: the source's bytes compressed with zstd,
// then cut into chunks each sealed with AES-256-GCM, so that a reader can
// check every byte before it trusts any, with memory bounded by one chunk.
//
//   header  "KEELDR02" | key id (8) | salt (16) | chunk size (u32 BE)
//           | binding length (u16 BE) | binding
//   binding job, id, started, source: each a length (u8) and its bytes
//   chunk   length (u32 BE) | flags (u8, 1 = final) | ciphertext | tag (16)
//
// - Each backup gets its own data key, HMAC-SHA256(stack key, "keel-dr-v2"
//   | salt), so the 96-bit nonces (the chunk's index) never repeat under one
//   key however many backups a stack key seals.
// - The additional data of each chunk is the header, the chunk's index and
//   its flags: chunks cannot be reordered, moved between backups, or cut off
//   (the last chunk must say it is final, and nothing may follow it), and
//   the binding (which job, which backup id, when) cannot be changed: a
//   backup replayed under another name or job says what it really is.
// - The key id (the first 8 bytes of SHA-256("keel-dr-key-id" | key)) says
//   which key sealed a backup without revealing it: a wrong key is refused
//   before any decryption is tried.
// - Format 1 ("KEELDR01", what keel wrote before format 2: no binding,
//   data key from "keel-dr-v1") is still read; its header says nothing about
//   the job, id or time, so callers treat it as unauthenticated
//   (operations.h).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agent/dr/destination.h"
#include "core/crypto.h"
#include "core/error.h"

namespace keel::dr {

inline constexpr std::size_t kChunkSize = 1u << 20;  // plaintext (compressed) bytes per chunk

// 16 hex digits naming `key` (see above).
std::string key_id(const crypto::Key& key);

// What a format-2 stream is sealed for. Each field is at most 255 bytes.
struct StreamBinding {
  std::string job;      // the job's name
  std::string id;       // the backup id
  std::string started;  // RFC 3339, as in the manifest
  std::string source;   // "postgres", "redis", "files"
  bool operator==(const StreamBinding&) const = default;
};

struct StreamTotals {
  std::uint64_t raw_bytes = 0;     // what the source produced
  std::uint64_t stored_bytes = 0;  // what went to the destination
  std::string sha256;              // hex, of the stored bytes
  int format = 2;                  // of a stream read: 1 or 2
  std::optional<StreamBinding> binding;  // of a format-2 stream read
};

// Compresses, seals and writes to `out` as bytes are given; finish() writes
// the final chunk. Nothing is committed: the caller commits `out`.
// Always writes format 2.
class SealingWriter {
 public:
  SealingWriter(ObjectWriter& out, const crypto::Key& key, const StreamBinding& binding, int zstd_level = 3);
  ~SealingWriter();
  SealingWriter(const SealingWriter&) = delete;
  SealingWriter& operator=(const SealingWriter&) = delete;

  Status write(std::string_view raw);
  Result<StreamTotals> finish();
  const StreamTotals& totals() const { return totals_; }

 private:
  struct State;
  Status seal_chunk(bool final);
  Status store(std::string_view bytes);

  ObjectWriter& out_;
  std::unique_ptr<State> state_;
  StreamTotals totals_;
};

struct UnsealOptions {
  // Receives the source's bytes as they are recovered; null: decompress
  // nothing (checking tags and the hash only).
  std::function<Status(std::string_view raw)> sink;
  // Receives every stored byte as it is read (to spool a remote backup).
  std::function<Status(std::string_view stored)> copy;
  // Called now and then with the stored bytes read so far.
  std::function<void(std::uint64_t stored_bytes)> progress;
};

// Reads a sealed backup from `in`, checking the header, the key id and every
// tag. Corrupt errors for a bad tag, a truncated or over-long stream, a
// malformed header, or a wrong key (then the message names both key ids).
// The caller compares the returned binding with what it expects.
Result<StreamTotals> unseal(ObjectReader& in, const crypto::Key& key, const UnsealOptions& options);

}  // namespace keel::dr

#pragma once
// Cryptography through OpenSSL: hashes, randomness, AES-256-GCM, encodings.
// keel loads libcrypto only when it first calls one of these
// (core/crypto_lazy.cpp); see ready().

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace keel::crypto {

inline constexpr size_t kKeySize = 32;  // AES-256

// Whether the functions below can run: always where libcrypto is linked;
// in keel, whether keel-crypto.so loads (the error names where it was
// looked for). Those that return no error stop keel when it does not, so
// call this first where an error can still be reported (the state key,
// files::write_atomic).
Status ready();
using Key = std::array<unsigned char, kKeySize>;

std::string sha256_hex(std::string_view data);
// Raw 32-byte digest.
std::string sha256_raw(std::string_view data);
// The sha256 of a file, hex, read in chunks. NotFound when it cannot be
// opened.
Result<std::string> sha256_file_hex(const std::string& path);
// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256(std::string_view key, std::string_view data);

// Cryptographically secure random bytes (RAND_bytes).
std::string random_bytes(size_t n);
// A random string of [A-Za-z0-9], for passwords and tokens: safe in URIs.
std::string random_alnum(size_t n);
// RFC 4122 version 4 UUID, lower-case.
std::string uuid_v4();

std::string hex_encode(std::string_view data);
Result<std::string> hex_decode(std::string_view hex);
std::string base64_encode(std::string_view data);
Result<std::string> base64_decode(std::string_view b64);

// AES-256-GCM with a random 96-bit nonce. The output is
// nonce(12) | ciphertext | tag(16); `aad` is authenticated, not stored.
std::string seal(const Key& key, std::string_view plaintext, std::string_view aad = {});
// Fails with ErrorCode::Corrupt when the tag does not verify (wrong key,
// flipped bit, truncation).
Result<std::string> open(const Key& key, std::string_view sealed, std::string_view aad = {});

// Key from KEEL_STATE_KEY-style text: 64 hex digits or 44 base64 characters
// are taken as the raw key; anything else is a passphrase stretched with
// PBKDF2-HMAC-SHA256 (a fixed, documented salt: the key must be the same on
// every machine that reads the state).
Result<Key> key_from_text(std::string_view text);
std::string key_to_text(const Key& key);  // base64
Key random_key();

// Constant-time comparison for tokens.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace keel::crypto
